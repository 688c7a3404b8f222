#!/usr/bin/python3
"""permessage-deflate with a real third-party client: python3-websockets,
which offers the extension by default, against a real chatd.

    tests/integration/python_client_test.py path/to/chatd

Starts chatd on a free loopback port, connects two compressing clients and
one that does not offer compression, and checks what each negotiated and
that every message (text and binary, small and large, a fragmented one)
reaches all three intact. Exit status 0 on success.
"""

import asyncio
import re
import subprocess
import sys

import websockets


async def main(binary):
    chatd = subprocess.Popen([binary, "--port", "0", "--bind", "127.0.0.1", "--threads", "1", "--compression", "on"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        for _ in range(200):
            line = chatd.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            raise SystemExit("chatd did not start")
        uri = f"ws://127.0.0.1:{port}/rooms/py"
        a = await websockets.connect(uri)
        b = await websockets.connect(uri)
        plain = await websockets.connect(uri, compression=None)
        for ws in (a, b):
            names = [type(e).__name__ for e in ws.extensions]
            assert names == ["PerMessageDeflate"], names
            ext = ws.extensions[0]
            # chatd asks for server_no_context_takeover: every message on its own.
            assert ext.remote_no_context_takeover, vars(ext)
        assert plain.extensions == [], plain.extensions

        async def expect_everywhere(message):
            for ws in (a, b, plain):
                got = await asyncio.wait_for(ws.recv(), 10)
                assert got == message, (len(got), len(message))

        messages = ['{"text":"hi"}', "x" * 63, "é" * 5000,
                    '{"user":"alice","text":"hello everyone"}' * 400, bytes(range(256)) * 100, b"\x00" * 60_000]
        for i, message in enumerate(messages):
            await (a, b, plain)[i % 3].send(message)
            await expect_everywhere(message)
        # A fragmented message (compressed as one, sent in frames).
        parts = ["part %d " % i * 50 for i in range(5)]
        await a.send(iter(parts))
        await expect_everywhere("".join(parts))
        for ws in (a, b, plain):
            await ws.close()
        print("python-websockets compression: ok")
    finally:
        chatd.terminate()
        try:
            chatd.wait(10)
        except subprocess.TimeoutExpired:
            chatd.kill()


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
