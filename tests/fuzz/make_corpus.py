#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: corpus/http/, corpus/websocket/
and corpus/websocket_deflate/.

Usage: tests/fuzz/make_corpus.py   (rewrites the directories; deterministic)

http/ seeds are whole client byte streams on a fresh connection; websocket/
seeds are the bytes a client sends after a valid upgrade (frames only).
"""
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

UPGRADE_HEADERS = (
    b"Host: localhost:9000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)


def get(target, headers=b"Host: localhost:9000\r\n", method=b"GET", version=b"HTTP/1.1", body=b""):
    return method + b" " + target + b" " + version + b"\r\n" + headers + b"\r\n" + body


def upgrade(target, extra=b""):
    return get(target, UPGRADE_HEADERS + extra)


def frame(opcode, payload=b"", fin=True, mask=b"\x37\xfa\x21\x3d", rsv=0, length=None, form=None):
    """One client frame. mask=None sends it unmasked; length/form forge the length field."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask is not None else 0
    if form is None:
        form = 7 if n < 126 else 16 if n < 0x10000 else 64
    if form == 7:
        head += bytes([bit | n])
    elif form == 16:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
ZERO = b"\0\0\0\0"  # a zero mask key leaves the payload readable


def close(code, reason=b""):
    return frame(CLOSE, struct.pack(">H", code) + reason)


HTTP = {
    "get_root": get(b"/"),
    "get_root_query": get(b"/?room=lobby"),
    "get_healthz": get(b"/healthz"),
    "get_metrics": get(b"/metrics"),
    "get_api_info": get(b"/api/info"),
    "get_app_js": get(b"/app.js"),
    "get_not_found": get(b"/nope"),
    "head_root": get(b"/", method=b"HEAD"),
    "http10_healthz": get(b"/healthz", headers=b"", version=b"HTTP/1.0"),
    "keep_alive_pipelined": get(b"/healthz") + get(b"/api/info") + get(b"/metrics", b"Connection: close\r\n"),
    "post_healthz_body": get(b"/healthz", b"Host: x\r\nContent-Length: 5\r\n", method=b"POST", body=b"hello"),
    "post_chunked": get(
        b"/healthz", b"Host: x\r\nTransfer-Encoding: chunked\r\n", method=b"POST", body=b"5\r\nhello\r\n0\r\n\r\n"
    ),
    "delete_metrics": get(b"/metrics", method=b"DELETE"),
    "expect_continue": get(b"/", b"Host: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n", method=b"PUT", body=b"abc"),
    # HTTP/1.0 gets no 100 Continue (a finding of the fuzzer).
    "expect_continue_http10": get(b"/", b"Host: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n", method=b"PUT",
                                  version=b"HTTP/1.0", body=b"abc"),
    "upgrade_default_room": upgrade(b"/"),
    "upgrade_room_abc": upgrade(b"/rooms/abc"),
    "upgrade_room_query": upgrade(b"/rooms/a.b_c-1?x=y"),
    "upgrade_bad_room_name": upgrade(b"/rooms/bad%20name!"),
    "upgrade_room_too_long": upgrade(b"/rooms/" + b"r" * 65),
    "upgrade_empty_room": upgrade(b"/rooms/"),
    "upgrade_not_a_room": upgrade(b"/metrics"),
    "upgrade_with_origin": upgrade(b"/rooms/abc", b"Origin: http://localhost:9000\r\n"),
    "upgrade_then_frame": upgrade(b"/rooms/abc") + frame(TEXT, b"early", mask=ZERO),
    "upgrade_version_8": get(b"/", UPGRADE_HEADERS.replace(b"Version: 13", b"Version: 8")),
    "upgrade_no_key": get(b"/", UPGRADE_HEADERS.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"")),
    "upgrade_post": get(b"/", UPGRADE_HEADERS, method=b"POST"),
    "header_too_large": get(b"/", b"Host: x\r\nX-Big: " + b"a" * 9000 + b"\r\n"),
    "body_too_large": get(b"/", b"Host: x\r\nContent-Length: 100000\r\n", method=b"POST", body=b"x" * 64),
    "chunk_size_huge": get(b"/", b"Host: x\r\nTransfer-Encoding: chunked\r\n", method=b"POST", body=b"ffffffffffffffff\r\n"),
    "bad_garbage": b"GARBAGE\r\n\r\n",
    "bad_no_colon": b"GET / HTTP/1.1\r\nHost localhost\r\n\r\n",
    "bad_version": b"GET / HTTP/7.3\r\nHost: x\r\n\r\n",
    "bad_lf_only": b"GET /healthz HTTP/1.1\nHost: x\n\n",
    "bad_nul_in_target": b"GET /he\0althz HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad_obs_fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "bad_two_content_lengths": b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "partial_request": b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
    "absolute_target": b"GET http://localhost:9000/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
}

WEBSOCKET = {
    "text_masked": frame(TEXT, b"hello"),
    "text_zero_mask": frame(TEXT, b'{"nick":"a","text":"hi"}', mask=ZERO),
    "text_utf8": frame(TEXT, "h\u00e9llo \u20ac \U0001f600".encode()),
    "text_empty": frame(TEXT, b""),
    "binary_masked": frame(BINARY, bytes(range(16))),
    "three_messages": frame(TEXT, b"a") + frame(BINARY, b"\x00\xff") + frame(TEXT, b"c", mask=ZERO),
    "fragmented_text": frame(TEXT, b"Hel", fin=False) + frame(CONT, b"lo"),
    "fragmented_ping_between": frame(TEXT, b"Hel", fin=False) + frame(PING, b"p") + frame(CONT, b"lo"),
    "fragmented_utf8_split": frame(TEXT, "\u20ac".encode()[:1], fin=False) + frame(CONT, "\u20ac".encode()[1:]),
    "ping": frame(PING, b"p"),
    "pong_unsolicited": frame(PONG, b"q"),
    "close_1000": close(1000, b"bye"),
    "close_empty": frame(CLOSE, b""),
    "close_4000": close(4000, b"app"),
    "close_bad_code_1005": close(1005),
    "close_bad_code_999": close(999),
    "close_one_byte": frame(CLOSE, b"\x03"),
    "close_bad_utf8_reason": close(1000, b"\xff\xfe"),
    "text_then_close": frame(TEXT, b"last") + close(1000),
    "len16": frame(BINARY, b"m" * 200),
    "len16_non_minimal": frame(TEXT, b"short", form=16),
    "len64_oversized": frame(BINARY, b"", length=1 << 40),
    "len64_top_bit": frame(BINARY, b"", length=1 << 63),
    "too_big_fragments": frame(BINARY, b"f" * 600, fin=False) + frame(CONT, b"g" * 600),
    "unmasked_text": frame(TEXT, b"hello", mask=None),
    "bad_opcode_3": frame(0x3, b"x"),
    "bad_opcode_b": frame(0xB, b"x"),
    "rsv1_set": frame(TEXT, b"x", rsv=4),
    "invalid_utf8": frame(TEXT, b"\xc3\x28"),
    "continuation_first": frame(CONT, b"x"),
    "text_inside_fragments": frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),
    "ping_fragmented": frame(PING, b"p", fin=False),
    "ping_too_long": frame(PING, b"p" * 126),
    "partial_header": frame(TEXT, b"hello")[:3],
    "many_small": b"".join(frame(TEXT, bytes([0x61 + i % 26]), mask=ZERO) for i in range(40)),
}


def deflated(data):
    """Raw deflate with a sync flush, the 00 00 ff ff tail left off (RFC 7692 7.2.1)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


CHAT = b'{"user":"alice","text":"hello everyone, hello everyone"}' * 4
# websocket_deflate/ seeds: the first byte picks the offer (see fuzz_websocket.cpp).
WEBSOCKET_DEFLATE = {
    "browser_offer_compressed_text": b"\0" + frame(TEXT, deflated(CHAT), rsv=4),
    "browser_offer_plain_text": b"\0" + frame(TEXT, CHAT),
    "window8_compressed_binary": b"\1" + frame(BINARY, deflated(bytes(range(256)) * 2), rsv=4),
    "window9_two_messages": b"\2" + frame(TEXT, deflated(CHAT), rsv=4) + frame(TEXT, deflated(CHAT[:80]), rsv=4),
    "compressed_fragments": b"\0" + frame(TEXT, deflated(CHAT)[:20], fin=False, rsv=4)
    + frame(PING, b"p") + frame(CONT, deflated(CHAT)[20:]),
    "rsv1_on_continuation": b"\0" + frame(TEXT, deflated(CHAT)[:20], fin=False, rsv=4)
    + frame(CONT, deflated(CHAT)[20:], rsv=4),
    "rsv1_on_ping": b"\0" + frame(PING, b"p", rsv=4),
    "inflates_too_big": b"\0" + frame(TEXT, deflated(b"a" * 5000), rsv=4),
    "not_deflate_data": b"\0" + frame(TEXT, b"\xff\xff\xff\xff", rsv=4),
    "compressed_bad_utf8": b"\0" + frame(TEXT, deflated(b"ok \xc3\x28 no"), rsv=4),
    "empty_compressed": b"\0" + frame(TEXT, b"\x00", rsv=4),
    "close_after_compressed": b"\0" + frame(TEXT, deflated(CHAT), rsv=4) + close(1000),
}


def write(name, seeds):
    out = os.path.join(HERE, "corpus", name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for seed, data in sorted(seeds.items()):
        with open(os.path.join(out, seed), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("http", HTTP)
    write("websocket", WEBSOCKET)
    write("websocket_deflate", WEBSOCKET_DEFLATE)
