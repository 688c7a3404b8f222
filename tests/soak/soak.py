#!/usr/bin/python3
"""Bounded soak test of one chatd process: churn for N minutes, then check
that memory stayed flat and that no descriptor leaked.

    soak.py --minutes 10 --chatd build/release/app/chatd --out-dir build/soak
    soak.py --self-test      # the pass/fail judgement on synthetic series

Everything runs on loopback in one asyncio loop (python3-websockets from
Debian plus raw sockets for the clients that must misbehave at the byte
level). tests/soak/README.md says what the churn is and why the margins are
what they are.
"""

import argparse
import asyncio
import base64
import collections
import csv
import ctypes
import datetime
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatusCode

MiB = 1024 * 1024
HOST = "127.0.0.1"

# chatd's flags for the soak: small queues and a short idle timeout so that
# slow-consumer and idle closes happen many times a minute; a rate limit that
# the ordinary chatter never reaches but a flood does; no handshake limit, so
# that churn is never refused for arriving in a burst.
IDLE_TIMEOUT_S = 10
CHATD_FLAGS = [
    "--bind", HOST, "--port", "0", "--threads", "2",
    "--max-queue-bytes", "256KiB", "--max-message-bytes", "64KiB",
    "--max-messages-per-second", "2000", "--idle-timeout", f"{IDLE_TIMEOUT_S}s",
    "--max-handshakes-per-second", "0", "--node-id", "soak",
    # Room history is bounded memory that fills for --history-ttl: a short
    # TTL and a small bytes bound make it plateau within the warm-up, and
    # make every bound (size, age, bytes) evict all the time under churn.
    "--history-ttl", "20s", "--history-max-bytes", "4MiB",
]  # fmt: skip
HTTP_TIMEOUT_S = 30  # chatd's fixed limit for a plain HTTP request
# Frames of the rate flood, all in one write: far over the 2000/s bucket for
# a release build. (A sanitized chatd reads them so slowly that the bucket
# refills: the flood is not a check for ASan/TSan builds.)
FLOOD = 5000

SAMPLE_EVERY_S = 5.0
SOCKET_BUDGET = 800  # client sockets open at once, far below `ulimit -n`

# The pass criteria (README: "Pass criteria").
WARMUP_FRACTION, WARMUP_MAX_S = 0.2, 120.0
RSS_REL_MARGIN = 0.02  # the last third's peak may exceed the first third's by 2 %
RSS_ABS_MARGIN = 2 * MiB  # ... plus 2 MiB


# ---------------------------------------------------------------- judgement


def warmup_seconds(run_s):
    return min(WARMUP_FRACTION * run_s, WARMUP_MAX_S)


def judge_rss(samples, run_s):
    """samples: [(t seconds since churn began, rss bytes)] taken during the
    churn. Compares the peak of the last third after warm-up with the peak of
    the first third: allocators keep freed memory, so plateaus are compared,
    never start against end."""
    warm = warmup_seconds(run_s)
    third = (run_s - warm) / 3
    first = [r for t, r in samples if warm <= t < warm + third]
    last = [r for t, r in samples if run_s - third <= t <= run_s + 1e-9]
    if len(first) < 2 or len(last) < 2:
        return False, f"too few samples after warm-up (first third {len(first)}, last third {len(last)})", {}
    limit = max(first) * (1 + RSS_REL_MARGIN) + RSS_ABS_MARGIN
    figures = {
        "warmup_s": warm,
        "first_max": max(first),
        "last_max": max(last),
        "first_median": sorted(first)[len(first) // 2],
        "last_median": sorted(last)[len(last) // 2],
        "limit": limit,
    }
    ok = max(last) <= limit
    detail = (
        f"RSS peak in last third {max(last) / MiB:.1f} MiB "
        f"{'<=' if ok else '>'} limit {limit / MiB:.1f} MiB "
        f"(first-third peak {max(first) / MiB:.1f} MiB + {RSS_REL_MARGIN:.0%} + {RSS_ABS_MARGIN / MiB:.0f} MiB; "
        f"warm-up {warm:.0f} s)"
    )
    return ok, detail, figures


def slope_mib_per_min(samples, start_t):
    """Least-squares trend of RSS after start_t, for information."""
    pts = [(t, r) for t, r in samples if t >= start_t]
    if len(pts) < 3:
        return 0.0
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mr = sum(r for _, r in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    if var == 0:
        return 0.0
    return sum((t - mt) * (r - mr) for t, r in pts) / var * 60 / MiB


def judge_fds(before, after):
    ok = after == before
    return ok, f"open descriptors {before} before any client, {after} once all were gone"


def self_test():
    """The judgement must fail on leaks and pass on allocator plateaus."""
    rng = random.Random(7)
    run_s = 600.0
    ts = [i * SAMPLE_EVERY_S for i in range(int(run_s / SAMPLE_EVERY_S) + 1)]

    def series(f):
        return [(t, int(f(t) + rng.uniform(-0.8, 0.8) * MiB)) for t in ts]

    base = 30 * MiB
    cases = [
        # (name, samples, expect pass)
        ("flat", series(lambda t: base), True),
        ("grows during warm-up, then a plateau", series(lambda t: base + min(t, 100) / 100 * 12 * MiB), True),
        ("one spike in the first third", series(lambda t: base + (8 * MiB if 200 <= t < 210 else 0)), True),
        ("sawtooth of the population", series(lambda t: base + (t % 60) / 60 * 2 * MiB), True),
        ("leak 1 MiB/min", series(lambda t: base + t / 60 * MiB), False),
        ("leak 0.6 MiB/min after warm-up", series(lambda t: base + max(0, t - 120) / 60 * 0.6 * MiB), False),
        ("step of 4 MiB in the last third", series(lambda t: base + (4 * MiB if t > 500 else 0)), False),
        # Below what the margins resolve (README: what it can and cannot see).
        ("leak 0.2 MiB/min", series(lambda t: base + t / 600 * 2 * MiB), True),
        ("too short", series(lambda t: base)[:4], False),
    ]
    wrong = 0
    print("soak self-test: the judgement on synthetic series (600 s, 5 s samples)")
    for name, samples, expect in cases:
        run = run_s if name != "too short" else 45.0
        ok, detail, _ = judge_rss(samples, run)
        mark = "ok " if ok == expect else "WRONG"
        wrong += ok != expect
        print(f"  {mark} rss {name:<40} -> {'pass' if ok else 'fail'} ({detail})")
    for before, after, expect in [(18, 18, True), (18, 21, False), (18, 17, False)]:
        ok, detail = judge_fds(before, after)
        mark = "ok " if ok == expect else "WRONG"
        wrong += ok != expect
        print(f"  {mark} fds {before} -> {after:<33} -> {'pass' if ok else 'fail'} ({detail})")
    print(f"soak self-test: {'PASS' if not wrong else 'FAIL'} ({wrong} misjudged)")
    return 0 if not wrong else 1


# ---------------------------------------------------------------- chatd process


def die_with_parent():
    """In the child before exec: SIGKILL if the soak itself is killed."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return {
        "rss_kb": int(fields["VmRSS"].split()[0]),
        "rss_anon_kb": int(fields.get("RssAnon", "0 kB").split()[0]),
        "threads": int(fields["Threads"]),
    }


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def fd_targets(pid):
    targets = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except FileNotFoundError:
            pass
    return targets


def fd_kinds(targets):
    kinds = collections.Counter()
    for target in targets:
        kinds[re.sub(r"\[\d+\]$", "", target)] += 1
    return dict(sorted(kinds.items()))


def parse_metrics(text):
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            values[name] = float(value)
        except ValueError:
            pass
    return values


async def http_request(port, raw, timeout=10.0):
    """Sends raw bytes, reads to EOF; returns (status or None, body bytes)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    try:
        writer.write(raw)
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(m.group(1)) if m else None), data.partition(b"\r\n\r\n")[2]


async def http_get(port, path, timeout=10.0):
    return await http_request(port, f"GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode(), timeout)


async def scrape(port):
    status, body = await http_get(port, "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    return parse_metrics(body.decode())


# ---------------------------------------------------------------- raw WebSocket client


def upgrade_request(path):
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def ws_frame(opcode, payload, mask=True):
    n = len(payload)
    head = bytes([0x80 | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes((key * (n // 4 + 1))[:n], "little")).to_bytes(
        n, "little"
    )
    return head + key + masked


class HandshakeStatus(Exception):
    def __init__(self, status):
        super().__init__(f"HTTP {status}")
        self.status = status


class RawWs:
    """A WebSocket client on a plain non-blocking socket that reads only when
    told to: what a client that stops reading, or never pongs, looks like."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, port, path, rcvbuf=None, timeout=15.0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        client = cls(sock)
        try:
            await asyncio.wait_for(client.loop.sock_connect(sock, (HOST, port)), timeout)
            await client.loop.sock_sendall(sock, upgrade_request(path))
            status = await asyncio.wait_for(client._read_head(), timeout)
        except BaseException:
            sock.close()
            raise
        if status != 101:
            client.close()
            raise HandshakeStatus(status)
        return client

    async def _fill(self):
        data = await self.loop.sock_recv(self.sock, 65536)
        if not data:
            raise EOFError
        self.buf += data

    async def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            await self._fill()
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        m = re.match(rb"HTTP/1\.1 (\d{3})", head)
        return int(m.group(1)) if m else None

    async def _need(self, n):
        while len(self.buf) < n:
            await self._fill()

    async def read_frame(self):
        await self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, at = b1 & 0x7F, 2
        if n == 126:
            await self._need(4)
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            await self._need(10)
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        await self._need(at + n)
        payload = bytes(self.buf[at : at + n])
        del self.buf[: at + n]
        return b0 & 0x0F, payload

    async def send(self, data):
        await self.loop.sock_sendall(self.sock, data)

    async def read_until_close(self, timeout):
        """Reads everything until the server ends the connection. Returns a
        dict: data frames, pings, close code (None without a close frame),
        how it ended: 'close', 'eof', 'reset' or 'timeout'."""
        out = {"frames": 0, "pings": 0, "code": None, "end": "timeout"}

        async def run():
            while True:
                opcode, payload = await self.read_frame()
                if opcode == 0x8:
                    out["code"] = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    out["end"] = "close"
                    try:
                        await self.send(ws_frame(0x8, payload[:2]))
                    except OSError:
                        pass
                    return
                if opcode == 0x9:
                    out["pings"] += 1
                elif opcode in (0x1, 0x2, 0x0):
                    out["frames"] += 1

        try:
            await asyncio.wait_for(run(), timeout)
        except EOFError:
            out["end"] = "eof"
        except (ConnectionResetError, BrokenPipeError):
            out["end"] = "reset"
        except asyncio.TimeoutError:
            out["end"] = "timeout"
        return out

    def close(self, rst=False):
        if rst:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.sock.close()


# ---------------------------------------------------------------- the churn

LARGEST = 60 * 1024  # the largest message of the ordinary churn (chatd's limit: 64 KiB)
BLOB = os.urandom(70 * 1024)
TEXT = "".join(random.choice("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,") for _ in range(4096))


def payload(tag, small=False):
    """Varied sizes: mostly chat lines, some binary, rarely up to 60 KiB."""
    r = random.random()
    if small:
        size = random.randint(0, 120)
    elif r < 0.005:
        size = random.randint(16 * 1024, LARGEST)
    elif r < 0.05:
        size = random.randint(2000, 8000)
    else:
        size = random.randint(0, 1000)
    if random.random() < 0.3 or size > len(TEXT):
        off = random.randint(0, len(BLOB) - size)
        return tag.encode() + BLOB[off : off + size]
    off = random.randint(0, len(TEXT) - size)
    return tag + TEXT[off : off + size]


def reset(transport):
    """Drops an asyncio connection with a TCP RST (abort() alone sends FIN)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


def close_code(exc):
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:
        return rcvd.code
    return getattr(exc, "code", None)


class Soak:
    def __init__(self, args):
        self.args = args
        self.run_s = args.minutes * 60
        self.port = None
        self.proc = None
        self.stop = asyncio.Event()
        self.tasks = set()
        self.sockets = 0
        self.max_sockets = 0
        self.skipped = 0
        self.ids = 0
        self.sent = 0
        self.received = 0
        self.outcomes = collections.defaultdict(collections.Counter)  # scenario -> result -> n
        self.unexpected = collections.Counter()
        self.examples = []
        self.samples = []  # dicts
        self.t0 = None
        self.failed_early = None

    # --- bookkeeping

    def spawn(self, coro):
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task):
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.bad("task", f"{type(task.exception()).__name__}: {task.exception()}")

    def new_id(self):
        self.ids += 1
        return self.ids

    def room_ok(self):
        return self.sockets < SOCKET_BUDGET

    def take(self, n=1):
        self.sockets += n
        self.max_sockets = max(self.max_sockets, self.sockets)

    def give(self, n=1):
        self.sockets -= n

    def ok(self, scenario, result):
        self.outcomes[scenario][result] += 1

    def bad(self, scenario, what):
        self.outcomes[scenario]["UNEXPECTED"] += 1
        self.unexpected[scenario] += 1
        if len(self.examples) < 30:
            self.examples.append(f"{self.elapsed():6.1f}s {scenario}: {what}")

    def elapsed(self):
        return time.monotonic() - self.t0 if self.t0 else 0.0

    async def pause(self, seconds):
        """Sleeps, or returns early (True) once the run is stopping."""
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
            return True
        except asyncio.TimeoutError:
            return self.stop.is_set()

    def connect(self, path, **kw):
        return websockets.connect(
            f"ws://{HOST}:{self.port}{path}",
            compression=None,
            ping_interval=None,
            open_timeout=20,
            close_timeout=5,
            max_size=1 * MiB,
            max_queue=256,
            **kw,
        )

    # --- steady population: one per slot, always connected, chatting

    async def steady(self, slot):
        room = f"/rooms/steady-{slot % self.args.rooms}"
        while not self.stop.is_set():
            self.take()
            try:
                ws = await self.connect(room)
                try:
                    reader = asyncio.create_task(self.drain(ws))
                    cid, seq = self.new_id(), 0
                    # One message of the largest size the run uses, at a
                    # random moment in the warm-up: chatd keeps a session's
                    # read buffer at its largest message (README), so
                    # long-lived sessions reach their final size before the
                    # plateau is measured.
                    big_at = self.t0 + random.uniform(0, 0.8 * warmup_seconds(self.run_s))
                    while not await self.pause(random.uniform(0.3, 1.5)):
                        seq += 1
                        if big_at is not None and time.monotonic() >= big_at:
                            big_at = None
                            await ws.send(f"{cid}:{seq}:".encode() + BLOB[:LARGEST])
                        else:
                            await ws.send(payload(f"{cid}:{seq}:"))
                        self.sent += 1
                    await ws.close(1000, "soak done")
                    self.ok("steady", "closed 1000")
                finally:
                    reader.cancel()
            except ConnectionClosed as e:
                # A server close of a client that reads everything: only a
                # load generator too slow to read could cause it.
                self.bad("steady", f"closed by chatd with {close_code(e)}")
            except (OSError, InvalidStatusCode, asyncio.TimeoutError) as e:
                self.bad("steady", f"{type(e).__name__}: {e}")
            finally:
                self.give()
            if not self.stop.is_set():
                await self.pause(1.0)

    async def drain(self, ws, own=None):
        """Reads every message; with own=(prefix, seen set) records echoes."""
        try:
            async for message in ws:
                self.received += 1
                if own is not None:
                    head = message[:24] if isinstance(message, str) else message[:24].decode("latin-1")
                    if head.startswith(own[0]):
                        own[1].add(int(head[len(own[0]) :].split(":", 1)[0]))
        except ConnectionClosed:
            pass

    # --- waves: join, chat, check own echoes, leave one of three ways

    async def wave(self, number):
        size = self.args.wave
        for k in range(size):
            if not self.room_ok():
                self.skipped += 1
                continue
            if random.random() < 0.25:
                room = f"/rooms/eph-{number}-{k % 4}"  # new rooms, born and gone
            else:
                room = f"/rooms/steady-{random.randrange(self.args.rooms)}"
            self.spawn(self.wave_client(room))

    async def wave_client(self, room):
        self.take()
        try:
            ws = await self.connect(room)
        except (OSError, InvalidStatusCode, asyncio.TimeoutError) as e:
            self.give()
            self.bad("wave", f"connect: {type(e).__name__}: {e}")
            return
        cid = self.new_id()
        prefix, seen = f"{cid}:", set()
        reader = asyncio.create_task(self.drain(ws, (prefix, seen)))
        try:
            burst = random.randint(100, 200) if random.random() < 0.05 else random.randint(1, 10)
            small = burst > 10
            for seq in range(1, burst + 1):
                await ws.send(payload(f"{cid}:{seq}:", small=small))
                self.sent += 1
            deadline = time.monotonic() + 15
            while burst not in seen and time.monotonic() < deadline and not reader.done():
                await asyncio.sleep(0.05)
            if burst not in seen:
                if not self.stop.is_set():
                    self.bad("wave", f"own message {burst} of {burst} not echoed within 15 s (got {len(seen)})")
            else:
                self.ok("wave", "echo ok")
            await self.pause(random.uniform(0.2, 4.0))
            how = random.choices(["close", "fin", "rst"], [6, 2, 2])[0]
            if how == "close":
                await ws.close(1000, "bye")
            else:
                if how == "rst":
                    reset(ws.transport)
                else:
                    ws.transport.close()  # FIN without a close frame
                await asyncio.wait_for(ws.wait_closed(), 10)
            self.ok("wave leave", how)
        except ConnectionClosed as e:
            self.bad("wave", f"closed by chatd with {close_code(e)}")
        except asyncio.TimeoutError:
            self.bad("wave", "timed out")
        finally:
            reader.cancel()
            ws.transport.abort()
            self.give()

    # --- slow readers: one at a time, against a sender pushing 32 KiB frames

    async def slow_reader(self, number):
        room = f"/rooms/slow-{number}"
        self.take(2)
        slow = sender = None
        try:
            slow = await RawWs.open(self.port, room, rcvbuf=4096)
            sender = await self.connect(room)
            before = (await scrape(self.port)).get("chat_slow_consumer_closes_total", 0)
            frame = BLOB[: 32 * 1024]
            sent = 0
            closed = False
            while sent < 800 and not self.stop.is_set():
                for _ in range(16):
                    await sender.send(frame)
                for _ in range(16):
                    await asyncio.wait_for(sender.recv(), 20)  # the sender keeps up with its own echoes
                sent += 16
                self.sent += 16
                if sent % 64 == 0:
                    now = (await scrape(self.port)).get("chat_slow_consumer_closes_total", 0)
                    if now > before:
                        closed = True
                        break
            if self.stop.is_set():
                return
            result = await slow.read_until_close(20)
            if not closed:
                self.bad("slow reader", f"counter did not move after {sent} x 32 KiB; reader saw {result}")
            elif result["end"] == "close" and result["code"] == 1008:
                self.ok("slow reader", "close 1008")
            elif result["end"] in ("eof", "reset") and result["frames"] < sent:
                # The close frame could not get past the full socket buffer
                # before chatd's 2 s close deadline: socket closed under it.
                self.ok("slow reader", f"socket closed without close frame ({result['end']})")
            else:
                self.bad("slow reader", f"expected 1008, got {result} after {sent} sent")
            await sender.close(1000)
        except ConnectionClosed as e:
            self.bad("slow reader", f"sender closed by chatd with {close_code(e)}")
        except (OSError, EOFError, HandshakeStatus, InvalidStatusCode, asyncio.TimeoutError, RuntimeError) as e:
            self.bad("slow reader", f"{type(e).__name__}: {e}")
        finally:
            if slow:
                slow.close()
            if sender:
                sender.transport.abort()
            self.give(2)

    # --- silent clients: never pong, idle timeout must close them

    async def idle_client(self, number):
        self.take()
        client = None
        try:
            client = await RawWs.open(self.port, f"/rooms/idle-{number}")
            if await self.pause(IDLE_TIMEOUT_S + 5):
                return
            result = await client.read_until_close(3)
            if result["end"] in ("close", "eof", "reset"):
                self.ok("idle", f"closed ({result['end']}, {result['pings']} ping)")
            else:
                self.bad("idle", f"still open {IDLE_TIMEOUT_S + 8} s after going silent: {result}")
        except (OSError, EOFError, HandshakeStatus, asyncio.TimeoutError) as e:
            self.bad("idle", f"{type(e).__name__}: {e}")
        finally:
            if client:
                client.close()
            self.give()

    # --- bad input and plain HTTP

    async def misc(self):
        kinds = [
            ("metrics", 3), ("healthz keep-alive", 2), ("bad room", 2), ("malformed http", 2),
            ("not found / method", 1), ("oversize", 1), ("protocol error", 1), ("rate flood", 0.5),
            ("abandoned handshake", 2), ("silent tcp", 0.3),
        ]  # fmt: skip
        kind = random.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        self.take()
        try:
            await getattr(self, "misc_" + kind.split()[0].replace("/", ""))(kind)
        except (OSError, EOFError, asyncio.TimeoutError, HandshakeStatus, InvalidStatusCode) as e:
            self.bad(kind, f"{type(e).__name__}: {e}")
        finally:
            self.give()

    async def misc_metrics(self, kind):
        status, body = await http_get(self.port, random.choice(["/metrics", "/healthz", "/api/info"]))
        self.ok(kind, f"{status}") if status == 200 else self.bad(kind, f"status {status}")

    async def misc_healthz(self, kind):
        reader, writer = await asyncio.open_connection(HOST, self.port)
        try:
            for _ in range(random.randint(1, 3)):
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: soak\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                await asyncio.wait_for(reader.readexactly(3), 10)
                if not head.startswith(b"HTTP/1.1 200"):
                    self.bad(kind, head[:40])
                    return
            self.ok(kind, "200, then gone")
        finally:
            reset(writer.transport) if random.random() < 0.5 else writer.close()

    async def misc_bad(self, kind):
        path = random.choice(["/rooms/bad!name", "/rooms/" + "x" * 65, "/rooms/sp%20ace", "/rooms/", "/rooms/a/b"])
        try:
            client = await RawWs.open(self.port, path)
            client.close()
            self.bad(kind, f"{path}: upgraded")
        except HandshakeStatus as e:
            self.ok(kind, "400") if e.status == 400 else self.bad(kind, f"{path}: {e.status}")

    async def misc_malformed(self, kind):
        raw = random.choice(
            [
                b"NOT A REQUEST\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost soak\r\n\r\n",
                b"GET /metrics HTTP/9.9\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n",
            ]
        )
        status, _ = await http_request(self.port, raw)
        self.ok(kind, "400") if status == 400 else self.bad(kind, f"{raw[:20]!r}: status {status}")

    async def misc_not(self, kind):
        if random.random() < 0.5:
            status, _ = await http_get(self.port, "/no/such/page")
            want = 404
        else:
            status, _ = await http_request(self.port, b"DELETE /metrics HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
            want = 405
        self.ok(kind, str(status)) if status == want else self.bad(kind, f"status {status}, wanted {want}")

    async def misc_oversize(self, kind):
        ws = await self.connect(f"/rooms/big-{self.new_id()}")
        try:
            data = BLOB[: 64 * 1024 + random.randint(1, 4096)]
            await ws.send(data if random.random() < 0.5 else data.hex()[: len(data)])
            await asyncio.wait_for(ws.recv(), 10)
            self.bad(kind, "message over the limit was echoed")
        except ConnectionClosed as e:
            code = close_code(e)
            self.ok(kind, "1009") if code == 1009 else self.bad(kind, f"close {code}")
        finally:
            ws.transport.abort()

    async def misc_protocol(self, kind):
        client = await RawWs.open(self.port, f"/rooms/proto-{self.new_id()}")
        try:
            await client.send(ws_frame(0x1, b"unmasked from a client", mask=False))
            result = await client.read_until_close(10)
            if result["code"] == 1002:
                self.ok(kind, "1002")
            else:
                self.bad(kind, f"wanted close 1002, got {result}")
        finally:
            client.close()

    async def misc_rate(self, kind):
        client = await RawWs.open(self.port, f"/rooms/flood-{self.new_id()}")
        try:
            frames = b"".join(ws_frame(0x1, b"f%d" % i) for i in range(FLOOD))
            await client.send(frames)
            result = await client.read_until_close(15)
            if result["code"] == 1008 and result["frames"] < FLOOD:
                self.ok(kind, "1008")
            else:
                self.bad(kind, f"wanted close 1008 before {FLOOD} echoes, got {result}")
        finally:
            client.close()

    async def misc_abandoned(self, kind):
        reader, writer = await asyncio.open_connection(HOST, self.port)
        request = upgrade_request(f"/rooms/steady-{random.randrange(self.args.rooms)}")
        writer.write(request[: random.randint(0, len(request) - 1)])
        await asyncio.sleep(random.uniform(0, 0.5))
        if random.random() < 0.5:
            reset(writer.transport)
            self.ok(kind, "reset")
        else:
            writer.close()
            self.ok(kind, "hung up")

    async def misc_silent(self, kind):
        reader, writer = await asyncio.open_connection(HOST, self.port)
        try:
            t = time.monotonic()
            data = await asyncio.wait_for(reader.read(), HTTP_TIMEOUT_S + 10)
            waited = time.monotonic() - t
            if data or waited < HTTP_TIMEOUT_S - 1:
                self.bad(kind, f"after {waited:.1f} s got {data[:40]!r}")
            else:
                self.ok(kind, "closed by chatd after the HTTP timeout")
        except asyncio.TimeoutError:
            if not self.stop.is_set():
                self.bad(kind, f"still open after {HTTP_TIMEOUT_S + 10} s")
        finally:
            writer.transport.abort()

    # --- schedulers

    async def every(self, period, make, jitter=0.3):
        n = 0
        while not await self.pause(period * random.uniform(1 - jitter, 1 + jitter)):
            n += 1
            if self.room_ok():
                self.spawn(make(n))
            else:
                self.skipped += 1

    async def serial(self, pause_s, make):
        n = 0
        while not await self.pause(pause_s):
            n += 1
            await make(n)

    # --- sampling

    async def sample(self, phase):
        pid = self.proc.pid
        if self.proc.poll() is not None:
            raise RuntimeError(f"chatd exited with status {self.proc.returncode}")
        status = proc_status(pid)
        fds = len(fd_targets(pid))
        cpu = proc_cpu_seconds(pid)
        me = os.times()
        metrics = await scrape(self.port)
        row = {
            "t_s": round(self.elapsed(), 1),
            "phase": phase,
            "rss_kb": status["rss_kb"],
            "rss_anon_kb": status["rss_anon_kb"],
            "fds": fds,
            "threads": status["threads"],
            "connections": int(metrics.get("chat_connections", -1)),
            "rooms": int(metrics.get("chat_rooms", -1)),
            "chatd_cpu_s": round(cpu, 2),
            "driver_cpu_s": round(me.user + me.system, 2),
            "client_sockets": self.sockets,
            "received": int(metrics.get("chat_messages_received_total", 0)),
            "delivered": int(metrics.get("chat_messages_delivered_total", 0)),
            "accepted": int(metrics.get("chat_connections_accepted_total", 0)),
        }
        for reason in ("client", "idle_timeout", "slow_consumer", "too_big", "protocol_error", "rate_limit", "shutdown"):
            row[f"closed_{reason}"] = int(metrics.get(f'chat_connections_closed_total{{reason="{reason}"}}', 0))
        for reason in ("bad_room", "handshake_failed", "handshake_rate", "max_connections", "origin"):
            row[f"refused_{reason}"] = int(metrics.get(f'chat_connections_refused_total{{reason="{reason}"}}', 0))
        for code in ("200", "400", "404", "405"):
            row[f"http_{code}"] = int(metrics.get(f'chat_http_responses_total{{code="{code}"}}', 0))
        row["dropped_slow"] = int(metrics.get('chat_messages_dropped_total{reason="slow_consumer"}', 0))
        row["dropped_closing"] = int(metrics.get('chat_messages_dropped_total{reason="closing"}', 0))
        row["accept_failures"] = int(metrics.get("chat_accept_failures_total", 0))
        self.samples.append(row)
        return row

    async def sampler(self):
        next_at = self.t0
        while not self.stop.is_set():
            next_at += SAMPLE_EVERY_S
            if await self.pause(max(0.0, next_at - time.monotonic())):
                break
            try:
                row = await self.sample("churn")
            except Exception as e:  # chatd gone or not answering: the run is over
                self.failed_early = f"sampling at {self.elapsed():.0f} s: {e}"
                self.stop.set()
                break
            self.print_row_if_due(row)

    # --- table

    def table_header(self):
        print(f"{'time':>7} {'RSS MB':>7} {'fds':>5} {'thr':>4} {'conns':>6} {'rooms':>6} {'chatd cpu':>9} {'driver cpu':>10} {'deliv/s':>8}")

    def table_row(self, row, prev, label=None):
        dt = row["t_s"] - prev["t_s"] if prev else 0
        rate = lambda key: (row[key] - prev[key]) / dt if dt > 0 else 0.0
        t = label or f"{int(row['t_s'] // 60)}:{int(row['t_s'] % 60):02d}"
        print(
            f"{t:>7} {row['rss_kb'] / 1024:7.1f} {row['fds']:5d} {row['threads']:4d} {row['connections']:6d} "
            f"{row['rooms']:6d} {rate('chatd_cpu_s') * 100:8.0f}% {rate('driver_cpu_s') * 100:9.0f}% {rate('delivered'):8.0f}",
            flush=True,
        )

    def print_row_if_due(self, row):
        interval = 60 if self.run_s >= 300 else 20
        if row["t_s"] + 1e-6 >= self.last_printed["t_s"] + interval - SAMPLE_EVERY_S / 2:
            self.table_row(row, self.last_printed)
            self.last_printed = row

    # --- the run

    async def wait_metric(self, name, want, timeout):
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = (await scrape(self.port)).get(name)
            if value == want:
                return value
            await asyncio.sleep(0.5)
        return value

    async def wait_fds(self, want, timeout):
        deadline = time.monotonic() + timeout
        n = len(fd_targets(self.proc.pid))
        while n != want and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            n = len(fd_targets(self.proc.pid))
        return n

    async def start_chatd(self):
        os.makedirs(self.args.out_dir, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.csv_path = os.path.join(self.args.out_dir, f"soak-{stamp}.csv")
        self.log_path = os.path.join(self.args.out_dir, f"chatd-{stamp}.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
        self.log = open(self.log_path, "wb")
        argv = [self.args.chatd] + CHATD_FLAGS
        print(f"soak: {' '.join(argv)}")
        self.proc = subprocess.Popen(
            argv,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.port is None:
            with open(self.log_path, "rb") as f:
                m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise RuntimeError(f"chatd exited with status {self.proc.returncode} before listening")
            else:
                await asyncio.sleep(0.05)
        if self.port is None:
            raise RuntimeError("chatd did not log 'listening on' within 15 s")
        # Descriptors before any client: wait until chatd has opened all of its own.
        last, stable_since = None, time.monotonic()
        while time.monotonic() - stable_since < 1.0:
            now = sorted(fd_targets(self.proc.pid))
            if now != last:
                last, stable_since = now, time.monotonic()
            await asyncio.sleep(0.1)
        self.fds_before = last
        self.threads_before = proc_status(self.proc.pid)["threads"]
        print(f"soak: chatd pid {self.proc.pid} on port {self.port}; log {self.log_path}")

    async def churn(self):
        args = self.args
        self.t0 = time.monotonic()
        first = await self.sample("start")
        self.first_row = first
        self.last_printed = first
        print(
            f"soak: {self.run_s / 60:g} min of churn: {args.steady} steady clients in {args.rooms} rooms, "
            f"a wave of {args.wave} every {args.wave_every} s, slow readers, idle clients, bad input; "
            f"samples every {SAMPLE_EVERY_S:g} s"
        )
        self.table_header()
        self.table_row(first, None)
        workers = [asyncio.create_task(self.sampler())]
        for slot in range(args.steady):
            workers.append(asyncio.create_task(self.steady(slot)))
            if slot % 20 == 19:
                await asyncio.sleep(0.1)
        workers.append(asyncio.create_task(self.every(args.wave_every, self.wave, jitter=0.2)))
        workers.append(asyncio.create_task(self.every(4.0, self.idle_client)))
        workers.append(asyncio.create_task(self.every(0.5, lambda n: self.misc())))
        workers.append(asyncio.create_task(self.serial(3.0, self.slow_reader)))
        await self.pause(self.run_s - self.elapsed())
        self.churn_end = self.elapsed()
        self.stop.set()
        # Everyone leaves: steady clients close 1000, the rest hang up.
        done, pending = await asyncio.wait(workers + list(self.tasks), timeout=60)
        for task in pending:
            task.cancel()
        if pending:
            self.bad("shutdown", f"{len(pending)} client tasks still running 60 s after the end; cancelled")
            await asyncio.wait(pending, timeout=10)

    async def finish(self):
        """After the churn: all gone, descriptors back, still serving, clean exit."""
        results = []
        conns = await self.wait_metric("chat_connections", 0, 30)
        results.append((conns == 0, f"chat_connections {conns:g} once every client had left (waited up to 30 s)"))
        rooms = await self.wait_metric("chat_rooms", 0, 10)
        results.append((rooms == 0, f"chat_rooms {rooms:g} once every client had left"))
        fds_after_n = await self.wait_fds(len(self.fds_before), 20)
        fds_after = sorted(fd_targets(self.proc.pid))
        ok, detail = judge_fds(len(self.fds_before), fds_after_n)
        if not ok:
            detail += f"; before {fd_kinds(self.fds_before)}, after {fd_kinds(fds_after)}"
        results.append((ok, detail))
        self.fds_after = fds_after_n
        end = await self.sample("end")  # the scrape opens one descriptor of its own
        end["fds"] = fds_after_n
        threads_ok = end["threads"] == self.threads_before
        results.append((threads_ok, f"threads {self.threads_before} before, {end['threads']} at the end"))
        status, body = await http_get(self.port, "/healthz")
        results.append((status == 200, f"/healthz answers {status} {body.strip().decode(errors='replace')!r} at the end"))
        try:
            async with self.connect("/rooms/final") as ws:
                await ws.send("still chatting after the soak")
                echo = await asyncio.wait_for(ws.recv(), 10)
            fresh = echo == "still chatting after the soak"
            results.append((fresh, "a fresh client sends and gets its message back" if fresh else f"fresh client got {echo!r}"))
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            results.append((False, f"fresh client failed: {type(e).__name__}: {e}"))
        return results, end

    def stop_chatd(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
            return code == 0, f"chatd exits {code} on SIGTERM"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return False, "chatd did not exit within 15 s of SIGTERM (killed)"

    def write_csv(self):
        with open(self.csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.samples[0].keys()))
            writer.writeheader()
            writer.writerows(self.samples)

    async def run(self):
        await self.start_chatd()
        criteria, results, end = [], [], None
        try:
            await self.churn()
            if self.failed_early:
                criteria.append((False, f"chatd stopped answering: {self.failed_early}"))
            else:
                results, end = await self.finish()
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            criteria.append((False, f"run aborted: {type(e).__name__}: {e}"))
        finally:
            if self.args.hold and self.proc.poll() is None:
                print(f"soak: holding chatd (pid {self.proc.pid}) for {self.args.hold:g} s before stopping it", flush=True)
                time.sleep(self.args.hold)
            if self.proc.poll() is None:
                exit_ok, exit_detail = self.stop_chatd()
            else:
                exit_ok, exit_detail = False, f"chatd had already exited with status {self.proc.returncode}"
            self.log.close()
        if self.samples:
            self.write_csv()
        return self.report(criteria, results, end, (exit_ok, exit_detail))

    def report(self, criteria, results, end, exit_result):
        churn = [r for r in self.samples if r["phase"] in ("start", "churn")]
        if end is not None:
            self.table_row(end, churn[-1] if churn else None, label="end")
        rss = [(r["t_s"], r["rss_kb"] * 1024) for r in churn]
        ok, detail, fig = judge_rss(rss, self.run_s)
        criteria.insert(0, (ok, detail))
        criteria += results
        criteria.append(exit_result)
        unexpected = sum(self.unexpected.values())
        criteria.append((unexpected == 0, f"unexpected client outcomes: {unexpected}"))

        print()
        print("soak: client outcomes (scenario: result x count)")
        for scenario in sorted(self.outcomes):
            parts = ", ".join(f"{k} x{v}" for k, v in sorted(self.outcomes[scenario].items()))
            print(f"  {scenario:<22} {parts}")
        for line in self.examples:
            print(f"  ! {line}")
        print(f"  client sockets open at once: max {self.max_sockets} (budget {SOCKET_BUDGET}); spawns skipped: {self.skipped}")
        last = end or (self.samples[-1] if self.samples else None)
        if last:
            closes = ", ".join(
                f"{k[len('closed_'):]} {last[k]}" for k in last if k.startswith("closed_") and last[k]
            )
            refused = ", ".join(f"{k[len('refused_'):]} {last[k]}" for k in last if k.startswith("refused_") and last[k])
            http = ", ".join(f"{k[len('http_'):]}: {last[k]}" for k in last if k.startswith("http_") and last[k])
            print(
                f"soak: chatd counted {last['accepted']} WebSocket connections accepted; "
                f"{last['received']} messages received, {last['delivered']} delivered; "
                f"dropped slow_consumer {last['dropped_slow']}, closing {last['dropped_closing']}; "
                f"accept failures {last['accept_failures']}"
            )
            print(f"soak: closes by reason: {closes}; refused: {refused}; HTTP responses {http}")
            if churn:
                dt = churn[-1]["t_s"] - churn[0]["t_s"]
                if dt > 0:
                    print(
                        f"soak: average CPU over the churn: chatd "
                        f"{(churn[-1]['chatd_cpu_s'] - churn[0]['chatd_cpu_s']) / dt:.0%} of a core, load generator "
                        f"{(churn[-1]['driver_cpu_s'] - churn[0]['driver_cpu_s']) / dt:.0%}"
                    )
        if fig:
            warm = fig["warmup_s"]
            print(
                f"soak: RSS {churn[0]['rss_kb'] / 1024:.1f} MiB at the start, plateau after warm-up: first third "
                f"max {fig['first_max'] / MiB:.1f} / median {fig['first_median'] / MiB:.1f} MiB, last third max "
                f"{fig['last_max'] / MiB:.1f} / median {fig['last_median'] / MiB:.1f} MiB, "
                f"{(end['rss_kb'] / 1024) if end else float('nan'):.1f} MiB once all clients were gone; "
                f"trend after warm-up {slope_mib_per_min(rss, warm):+.2f} MiB/min (information only)"
            )
        print(f"soak: samples in {self.csv_path}, chatd log in {self.log_path}")
        print()
        print("soak: pass criteria")
        for ok, detail in criteria:
            print(f"  [{'PASS' if ok else 'FAIL'}] {detail}")
        passed = all(ok for ok, _ in criteria)
        summary = (
            f"RSS first-third max {fig['first_max'] / MiB:.1f} MiB, last-third max {fig['last_max'] / MiB:.1f} MiB; "
            if fig
            else ""
        )
        summary += f"fds {len(self.fds_before)} -> {getattr(self, 'fds_after', '?')}"
        failed = [d for ok, d in criteria if not ok]
        if passed:
            print(f"soak: PASS ({self.run_s / 60:g} min; {summary})")
        else:
            print(f"soak: FAIL ({len(failed)} of {len(criteria)} criteria failed: {failed[0]})")
        return 0 if passed else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="check the judgement on synthetic series and exit")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chatd", default="build/release/app/chatd")
    parser.add_argument("--out-dir", default="build/soak")
    parser.add_argument("--steady", type=int, default=240, help="clients connected all the time")
    parser.add_argument("--rooms", type=int, default=8, help="rooms of the steady clients")
    parser.add_argument("--wave", type=int, default=30, help="clients per wave")
    parser.add_argument("--wave-every", type=float, default=1.5, help="seconds between waves")
    parser.add_argument("--hold", type=float, default=0, help="seconds to keep chatd up after the checks, to inspect it")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    random.seed()
    return asyncio.run(Soak(args).run())


if __name__ == "__main__":
    sys.exit(main())
