#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (test/fuzz/corpus/TARGET/).

Run from anywhere: python3 test/fuzz/make-seeds.py. The seeds are
committed; this script says what each one is and remakes them after a
change of input format. It only adds or overwrites its own files.

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""
import base64
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = b"\x01\x02\x03\x04"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(op, payload=b"", fin=True, rsv=0, mask=None, lenform=None):
    """One frame; lenform forces 7, 16 or 64 (a non-minimal length)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    form = lenform or (7 if n <= 125 else 16 if n <= 0xFFFF else 64)
    mbit = 0x80 if mask else 0
    if form == 7:
        h = bytes([b0, mbit | n])
    elif form == 16:
        h = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask:
        h += mask
        payload = bytes(c ^ mask[i & 3] for i, c in enumerate(payload))
    return h + payload


def close_body(code, reason=b""):
    return struct.pack(">H", code) + reason


# ---------------------------------------------------------------- frame
# byte 0: rsv_allowed | key offset << 3 | cut << 5; then header bytes.
def frame_seeds():
    k = KEY
    seeds = {
        "text-short": frame(1, b"Hello"),
        "text-short-masked": frame(1, b"Hello", mask=k),
        "binary-16bit": frame(2, bytes(200))[:4],
        "binary-16bit-masked": frame(2, bytes(200), mask=k)[:8],
        "binary-64bit": frame(2, bytes(70000))[:10],
        "binary-64bit-masked": frame(2, bytes(70000), mask=k)[:14],
        "continuation": frame(0, b"lo"),
        "text-first-fragment": frame(1, b"Hel", fin=False),
        "close-1000": frame(8, close_body(1000, b"bye"), mask=k),
        "close-empty": frame(8),
        "ping": frame(9, b"ping", mask=k),
        "pong": frame(10, b"pong"),
        "bad-rsv1": frame(1, b"x", rsv=4),
        "bad-opcode-3": frame(3, b"x"),
        "bad-opcode-11": frame(11, b"x"),
        "bad-fragmented-ping": frame(9, b"x", fin=False),
        "bad-control-126": frame(9, bytes(126))[:4],
        "bad-nonminimal-16": frame(1, b"abc", lenform=16),
        "bad-nonminimal-64": frame(2, bytes(300), lenform=64)[:10],
        "bad-64bit-top-bit": bytes([0x82, 0x7F, 0x80]) + bytes(7),
        "partial-1-byte": b"\x81",
        "partial-16bit": b"\x82\xfe\x01",
    }
    for name, data in seeds.items():
        write("frame", name, b"\x00" + data)
    # RSV allowed, a key offset, a cut for the masking checks.
    write("frame", "rsv-allowed", b"\x07" + frame(1, b"x", rsv=5))
    write("frame", "mask-offset-cut", bytes([3 << 3 | 5 << 5]) +
          frame(2, b"0123456789abcdefghij", mask=k))


# ---------------------------------------------------------------- utf8
# byte 0: cuts | zeroed-state 8 | NULL-empty 16; then cut lengths; text.
def utf8_seeds():
    texts = {
        "ascii": b"Hello, world! 0123456789 the quick brown fox",
        "two-byte": "caf\u00e9 na\u00efve \u00ff\u07ff".encode(),
        "three-byte": "\u0800 \u20ac \ud7ff \ue000 \uffff".encode(),
        "four-byte": "\U00010000 \U0001f600 \U0010ffff".encode(),
        "mixed": "a\u00e9\u20ac\U0001f600z".encode() * 3,
        "bad-overlong-2": b"ab\xc0\x80",
        "bad-overlong-c1": b"\xc1\xbf",
        "bad-overlong-3": b"\xe0\x80\x80",
        "bad-overlong-4": b"\xf0\x80\x80\x80",
        "bad-surrogate-high": b"\xed\xa0\x80",
        "bad-surrogate-low": b"\xed\xbf\xbf",
        "bad-above-max": b"\xf4\x90\x80\x80",
        "bad-f5": b"\xf5\x80\x80\x80",
        "bad-ff": b"abc\xff",
        "bad-lone-continuation": b"\x80",
        "bad-missing-continuation": b"\xc3(",
        "truncated-3": b"\xe2\x82",
        "truncated-4": b"\xf0\x9f\x98",
        "long-ascii-then-bad": b"a" * 40 + b"\xe9",
        "nul": b"a\x00b",
    }
    for name, t in texts.items():
        write("utf8", name, b"\x00" + t)
    # Cut inside code points: pieces of 1, 2, 3 and 0 bytes, then the rest.
    cut = "\U0001f600\u20ac\u00e9".encode()
    write("utf8", "cut-inside", bytes([4, 1, 2, 3, 0]) + cut)
    write("utf8", "cut-empty-null", bytes([16 | 3, 0, 5, 0]) + cut)
    write("utf8", "cut-zeroed", bytes([8 | 2, 1, 1]) + cut)
    write("utf8", "cut-bad-second", bytes([2, 1, 1]) + b"\xe0\x9f\x80")


# ---------------------------------------------------------------- connection
# byte 0: role 1 | defer 2 | limits << 2 | free_in << 4 | echo 128
# byte 1: piece & 15 | eof 16 | close 32 | send first 64 | close in msg 128
# byte 2: close code selector
# byte 3: deflate 1 | chunk size << 1 | fragments+evbuffer before 8 |
#         stream during 16 | echo by buffer 32 | echo by fragments 64 |
#         large sends 128
# byte 4: server window 15 - (n & 7) | client window 15 - (n >> 3 & 7) << 3 |
#         server_no_context_takeover 64 | client_no_context_takeover 128
# byte 5: zlib level (n & 15: 0 default, else n - 1) | memLevel << 4
SERVER, CLIENT, DEFER = 0, 1, 2
DEFLATE, CHUNK4, CHUNK7, CHUNK64 = 1, 1 << 1, 2 << 1, 3 << 1
BEFORE, STREAM, ECHO_BUF, ECHO_FRAG, LARGE = 8, 16, 32, 64, 128
SNCT, CNCT = 64, 128


def conn(name, role, frames, b0=0, b1=0, b2=0, b3=0, b4=0, b5=0):
    write("connection", name, bytes([role | b0, b1, b2, b3, b4, b5]) + frames)


def window(server=15, client=15):
    """Byte 4's window bits."""
    return (15 - server) | (15 - client) << 3


def deflated(messages, wbits=15, reset=False, level=6, finish=False):
    """Each message compressed as RFC 7692 §7.2.1 says: raw deflate, a sync
    flush, its 00 00 ff ff removed; one stream unless reset (no context
    takeover); finish: end the stream with a final block instead."""
    import zlib
    out, c = [], None
    for m in messages:
        if c is None or reset:
            c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
        if finish:
            data = c.compress(m) + c.flush(zlib.Z_FINISH)
            c = None
        else:
            data = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
            assert data.endswith(b"\x00\x00\xff\xff")
            data = data[:-4]
        out.append(data)
    return out


def connection_seeds():
    for role, rname in ((SERVER, "server"), (CLIENT, "client")):
        m = KEY if role == SERVER else None

        def f(op, payload=b"", **kw):
            return frame(op, payload, mask=m, **kw)

        conn(rname + "-text", role, f(1, b"Hello"), DEFER)
        conn(rname + "-binary-16bit", role, f(2, bytes(range(256)) * 2))
        conn(rname + "-binary-64bit-nolimit", role,
             frame(2, bytes(70000), mask=m)[:14 if m else 10] + bytes(64),
             DEFER | 2 << 2, 16)
        conn(rname + "-fragmented-ping-between", role,
             f(1, b"Hel", fin=False) + f(9, b"p") + f(0, b"l", fin=False) +
             f(0, b"o"), DEFER)
        conn(rname + "-utf8-split-fragments", role,
             f(1, b"\xf0\x9f", fin=False) + f(0, b"\x98\x80"), 0, 1)
        conn(rname + "-ping-pong", role, f(9, b"hi") + f(10, b"yo"), DEFER,
             0x40)
        conn(rname + "-close-1000", role,
             f(1, b"a") + f(8, close_body(1000, b"bye")), DEFER)
        conn(rname + "-close-empty", role, f(8), 0, 16)
        conn(rname + "-close-4000", role, f(8, close_body(4000, b"app")), DEFER)
        conn(rname + "-bad-close-1-byte", role, f(8, b"\x03"), DEFER)
        conn(rname + "-bad-close-1005", role, f(8, close_body(1005)), DEFER)
        conn(rname + "-bad-close-reason", role,
             f(8, close_body(1000, b"\xff")), DEFER)
        conn(rname + "-bad-utf8", role, f(1, b"ok\xed\xa0\x80"), DEFER)
        conn(rname + "-bad-utf8-end", role, f(1, b"ok\xe2\x82"), DEFER)
        conn(rname + "-bad-rsv", role, f(1, b"x", rsv=2), DEFER)
        conn(rname + "-bad-opcode", role, f(5, b"x"), DEFER)
        conn(rname + "-bad-continuation", role, f(0, b"x"), DEFER)
        conn(rname + "-bad-new-message-in-fragmented", role,
             f(1, b"a", fin=False) + f(2, b"b"), DEFER)
        conn(rname + "-bad-big-control", role,
             frame(9, bytes(126), mask=m, lenform=16), DEFER)
        conn(rname + "-too-big-limit-64", role, f(2, bytes(65)), DEFER | 1 << 2)
        conn(rname + "-message-limit-200", role,
             f(2, bytes(60), fin=False) + f(0, bytes(60), fin=False) +
             f(0, bytes(60), fin=False) + f(0, bytes(60)), DEFER | 1 << 2)
        conn(rname + "-echo-small-outgoing-limit", role,
             f(2, bytes(90)) + f(2, bytes(90)), 0x80 | 3 << 2)
        wrong = None if m else KEY   # the wrong masking for this role
        conn(rname + "-bad-masking", role, frame(1, b"x", mask=wrong), DEFER)
        # Frees inside each callback (and outside), pieces of 1 and 3 bytes.
        traffic = (f(1, b"one") + f(9, b"p") + f(10, b"q") + f(2, b"two") +
                   f(8, close_body(1001)))
        for where, wname in ((1, "message"), (2, "closing"), (3, "closed"),
                             (4, "error"), (5, "pong"), (6, "drain"),
                             (7, "outside")):
            conn("%s-free-in-%s" % (rname, wname), role,
                 traffic if where != 4 else f(1, b"\xff"),
                 DEFER | where << 4 | (0x80 if where == 6 else 0), 1 | 0x40)
            conn("%s-free-in-%s-sync" % (rname, wname), role,
                 traffic if where != 4 else f(8, b"\x03"),
                 where << 4 | (0x80 if where == 6 else 0), 3 | 0x10)
        conn(rname + "-close-in-message", role, f(1, b"a") + f(1, b"b") +
             f(8, close_body(1000)), DEFER, 0x80, 0)
        conn(rname + "-close-after-input-3000", role, f(1, b"a"), DEFER,
             0x20, 7 << 4)
        conn(rname + "-close-refused-1006", role, f(1, b"a"), DEFER,
             0x20 | 0x10, 9 << 4)
        conn(rname + "-eof-mid-frame", role, f(2, bytes(50))[:20], DEFER, 0x10)
        deflate_seeds(rname, role, f)
        chunk_seeds(rname, role, f)
        stream_seeds(rname, role, f)


def deflate_seeds(rname, role, f):
    """permessage-deflate: real compressed frames made with zlib."""
    text = "h\u00e9llo, w\u00f6rld \U0001f600 ".encode() * 4
    one, two = deflated([text, text + b"again"])
    conn(rname + "-deflate-text", role, f(1, one, rsv=4), DEFER, 0, 0,
         DEFLATE)
    # Context takeover: the second message refers back to the first.
    conn(rname + "-deflate-takeover-echo", role,
         f(1, one, rsv=4) + f(2, two, rsv=4), DEFER | 0x80, 0, 0, DEFLATE)
    # The peer resets per message; this side too (its echo checked).
    peer_nct = CNCT if role == SERVER else SNCT
    own_nct = SNCT if role == SERVER else CNCT
    a, b = deflated([text, text], reset=True)
    conn(rname + "-deflate-no-context-takeover", role,
         f(1, a, rsv=4) + f(1, b, rsv=4), DEFER | 0x80, 0, 0, DEFLATE,
         peer_nct | own_nct)
    # The peer claims to reset, but its second message refers back: 1007.
    conn(rname + "-deflate-bad-takeover", role,
         f(1, one, rsv=4) + f(1, two, rsv=4), DEFER, 0, 0, DEFLATE, peer_nct)
    # A compressed message in three frames, a ping between, 1-byte pieces.
    c = deflated([bytes(range(256)) * 3])[0]
    k = len(c) // 3
    conn(rname + "-deflate-fragmented", role,
         f(2, c[:k], fin=False, rsv=4) + f(9, b"p") +
         f(0, c[k:2 * k], fin=False) + f(0, c[2 * k:]), 0x80, 1, 0,
         DEFLATE | ECHO_FRAG)
    # Small windows both ways, level 9, memLevel 1; a window of 8 bits:
    # wsev sends uncompressed.
    small = deflated([text * 3, text], wbits=9)
    conn(rname + "-deflate-window-9", role,
         f(1, small[0], rsv=4) + f(1, small[1], rsv=4), DEFER | 0x80, 0, 0,
         DEFLATE, window(9, 9), 10 | 1 << 4)
    conn(rname + "-deflate-window-8", role,
         f(1, small[0], rsv=4) + f(1, b"plain"), DEFER | 0x80, 0, 0,
         DEFLATE, window(8, 8))
    # A reference farther back than a 9-bit window (zlib reads it all the
    # same when it lies in the output of the same call).
    far = deflated([bytes(range(256)) * 2 + b"x" * 300 + bytes(range(256))])
    conn(rname + "-deflate-far-reference", role, f(2, far[0], rsv=4), DEFER,
         0, 0, DEFLATE, window(9, 9))
    # An uncompressed message on a deflate connection, an empty
    # compressed one, level 0 and 1 echoes.
    empty = deflated([b""])[0]
    conn(rname + "-deflate-empty-and-plain", role,
         f(1, empty, rsv=4) + f(1, b"plain") + f(2, b"", rsv=4),
         DEFER | 0x80, 0, 0, DEFLATE | ECHO_BUF, 0, 1 | 9 << 4)
    # Bombs: 200 KB of zeros (past the default 128 KiB), 1000 (past
    # the limits of 64 / 200), with no limit.
    bomb = deflated([bytes(200000)], level=9)[0]
    conn(rname + "-deflate-bomb", role, f(2, bomb, rsv=4), DEFER, 0, 0,
         DEFLATE)
    small_bomb = deflated([bytes(1000)], level=9)[0]
    conn(rname + "-deflate-bomb-limit-64", role, f(2, small_bomb, rsv=4),
         DEFER | 1 << 2, 0, 0, DEFLATE)
    conn(rname + "-deflate-bomb-nolimit", role, f(2, bomb, rsv=4),
         2 << 2, 0x10, 0, DEFLATE)
    # Corrupt streams: a reserved block type, a bad stored length, a
    # truncated one followed by a valid message.
    conn(rname + "-deflate-corrupt", role, f(1, b"\xff\xff\xff\xff", rsv=4),
         DEFER, 0, 0, DEFLATE)
    conn(rname + "-deflate-corrupt-stored", role,
         f(2, b"\x00\x05\x00\x00\x00hello", rsv=4), 0, 0, 0, DEFLATE)
    conn(rname + "-deflate-truncated", role,
         f(1, one[:len(one) // 2], rsv=4) + f(1, one, rsv=4), DEFER, 0, 0,
         DEFLATE)
    conn(rname + "-deflate-bad-utf8", role,
         f(1, deflated([b"ok\xed\xa0\x80"])[0], rsv=4), DEFER, 0, 0, DEFLATE)
    # A final block (BFINAL) ends the peer's stream; the next message
    # starts a new one (lib/deflate.c says so; wsev fails it with 1007:
    # the 4 bytes appended to the first message open a stored block in the
    # fresh stream).
    fin = deflated([text, b"after"], finish=True)
    conn(rname + "-deflate-bfinal", role,
         f(1, fin[0], rsv=4) + f(1, fin[1], rsv=4), DEFER, 0, 0, DEFLATE)
    # RSV1 where it is not allowed: a continuation, a control frame,
    # and without deflate.
    conn(rname + "-deflate-bad-rsv1-continuation", role,
         f(1, one, fin=False, rsv=4) + f(0, b"", rsv=4), DEFER, 0, 0, DEFLATE)
    conn(rname + "-deflate-bad-rsv1-ping", role, f(9, b"p", rsv=4), DEFER, 0,
         0, DEFLATE)
    conn(rname + "-bad-rsv1-no-deflate", role, f(1, one, rsv=4), DEFER)
    # Chunked and compressed, freed in the chunk callback.
    conn(rname + "-deflate-chunked-free", role,
         f(2, deflated([bytes(range(100))])[0], rsv=4), DEFER | 1 << 4, 0, 0,
         DEFLATE | CHUNK7)


def chunk_seeds(rname, role, f):
    """Chunked receiving: code points cut by chunk edges, an echo of each
    chunk as a fragment, a bad byte in a later chunk."""
    text = "\u00e9\u20ac\U0001f600abc".encode() * 5
    conn(rname + "-chunked-text", role,
         f(1, text[:7], fin=False) + f(0, text[7:]), DEFER | 0x80, 0, 0,
         CHUNK4)
    conn(rname + "-chunked-binary-limit", role,
         f(2, bytes(60), fin=False) + f(0, bytes(60), fin=False) +
         f(0, bytes(100)), DEFER | 1 << 2, 0, 0, CHUNK64)
    conn(rname + "-chunked-bad-utf8", role, f(1, text[:20] + b"\xc0\x80"),
         0x80, 3, 0, CHUNK7)
    conn(rname + "-chunked-empty", role, f(1, b"") + f(2, b"", fin=False) +
         f(0, b""), DEFER | 0x80, 0, 0, CHUNK4)
    conn(rname + "-chunked-deflate-echo", role,
         f(1, deflated([text])[0], rsv=4), 0x80, 5, 0, DEFLATE | CHUNK64)


def stream_seeds(rname, role, f):
    """Streaming sends: fragments and evbuffers before the input, a message
    streamed during it, echoes as buffers and fragments."""
    traffic = f(1, b"one") + f(9, b"p") + f(2, b"two") + f(1, b"three")
    conn(rname + "-send-fragments-before", role, traffic, DEFER, 0x40, 0,
         BEFORE)
    conn(rname + "-send-fragments-before-deflate", role, traffic, 0, 0x40,
         0, BEFORE | DEFLATE | LARGE)
    conn(rname + "-stream-during-input", role, traffic, DEFER | 0x80, 2, 0,
         STREAM)
    conn(rname + "-stream-during-input-deflate", role, traffic, 0x80, 3, 0,
         STREAM | DEFLATE, SNCT | CNCT)
    conn(rname + "-echo-buffer", role, traffic, DEFER | 0x80, 0, 0, ECHO_BUF)
    conn(rname + "-echo-fragments-deflate", role, traffic, DEFER | 0x80, 0,
         0, ECHO_FRAG | DEFLATE, window(12, 10), 4 | 3 << 4)
    conn(rname + "-large-sends-small-buffer", role, traffic, 0x80 | 3 << 2,
         0, 0, LARGE | DEFLATE)
    conn(rname + "-large-sends-close-during-stream", role, traffic, DEFER,
         0x20, 0, LARGE | STREAM)


# ---------------------------------------------------------------- handshake
# byte 0: server protocols & 3 | origin 4 | round trip 8 | prepare 16 |
# permessage-deflate options << 5 (0 none, 1 defaults, 2 strict, 3 from the
# request's X-Fuzz-Deflate header); then the request head, a blank line,
# the response head.
DEFAULTS, STRICT, FROM_HEADER = 1 << 5, 2 << 5, 3 << 5
def accept_of(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def http(lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response(key, extra=(), status="101 Switching Protocols"):
    return http(["HTTP/1.1 " + status, "Upgrade: websocket",
                 "Connection: Upgrade",
                 "Sec-WebSocket-Accept: " + accept_of(key)] + list(extra))


def handshake_seeds():
    rfc_key = "dGhlIHNhbXBsZSBub25jZQ=="
    reqs = {
        # RFC 6455 §1.3
        "rfc6455": [
            "GET /chat HTTP/1.1", "Host: server.example.com",
            "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: " + rfc_key,
            "Origin: http://example.com",
            "Sec-WebSocket-Protocol: chat, superchat",
            "Sec-WebSocket-Version: 13"],
        "chromium": [
            "GET /ws HTTP/1.1", "Host: localhost:8080",
            "Connection: Upgrade", "Pragma: no-cache",
            "Cache-Control: no-cache",
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Upgrade: websocket", "Origin: http://localhost:8080",
            "Sec-WebSocket-Version: 13",
            "Accept-Encoding: gzip, deflate, br",
            "Accept-Language: en-US,en;q=0.9",
            "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
            "Sec-WebSocket-Extensions: permessage-deflate; "
            "client_max_window_bits"],
        "firefox": [
            "GET /chat HTTP/1.1", "Host: example.com",
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) "
            "Gecko/20100101 Firefox/121.0",
            "Accept: */*", "Accept-Language: en-US,en;q=0.5",
            "Accept-Encoding: gzip, deflate, br",
            "Sec-WebSocket-Version: 13", "Origin: http://example.com",
            "Sec-WebSocket-Protocol: superchat",
            "Sec-WebSocket-Extensions: permessage-deflate",
            "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEC==",
            "Connection: keep-alive, Upgrade", "Sec-Fetch-Dest: empty",
            "Sec-Fetch-Mode: websocket", "Sec-Fetch-Site: same-origin",
            "Pragma: no-cache", "Cache-Control: no-cache",
            "Upgrade: websocket"],
        "curl": [
            "GET /echo HTTP/1.1", "Host: 127.0.0.1:9001",
            "User-Agent: curl/8.5.0", "Accept: */*",
            "Upgrade: websocket", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhpcyBpcyBjdXJsIGtleQ==",
            "Connection: Upgrade"],
        "python-websockets": [
            "GET / HTTP/1.1", "Host: localhost:8765",
            "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: 3i1jT0fBpHo0kFtw2b3ZKw==",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Extensions: permessage-deflate; "
            "client_max_window_bits",
            "User-Agent: Python/3.11 websockets/12.0"],
        "node-ws": [
            "GET /chat HTTP/1.1", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: lZ3PpPSZ1F8fY9GHAr3PGA==",
            "Connection: Upgrade", "Upgrade: websocket",
            "Sec-WebSocket-Protocol: chat",
            "Sec-WebSocket-Extensions: permessage-deflate; "
            "client_max_window_bits", "Host: localhost:3000"],
        "repeated-headers": [
            "GET / HTTP/1.1", "Host: a", "Host: b",
            "Upgrade: websocket", "Connection: keep-alive",
            "Connection: upgrade", "Sec-WebSocket-Key: bogus",
            "Sec-WebSocket-Key: " + rfc_key, "Sec-WebSocket-Version: 8",
            "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: a, b",
            "Sec-WebSocket-Protocol: chat"],
        "bad-http10": ["GET / HTTP/1.0", "Host: a", "Upgrade: websocket",
                       "Connection: Upgrade", "Sec-WebSocket-Key: " + rfc_key,
                       "Sec-WebSocket-Version: 13"],
        "bad-post": ["POST / HTTP/1.1", "Host: a", "Upgrade: websocket",
                     "Connection: Upgrade", "Sec-WebSocket-Key: " + rfc_key,
                     "Sec-WebSocket-Version: 13"],
        "bad-upgrade-list": ["GET / HTTP/1.1", "Host: a",
                             "Upgrade: websocket, h2c", "Connection: Upgrade",
                             "Sec-WebSocket-Key: " + rfc_key,
                             "Sec-WebSocket-Version: 13"],
        "bad-version": ["GET / HTTP/1.1", "Host: a", "Upgrade: websocket",
                        "Connection: Upgrade", "Sec-WebSocket-Key: " + rfc_key,
                        "Sec-WebSocket-Version: 8"],
        "bad-key-short": ["GET / HTTP/1.1", "Host: a", "Upgrade: websocket",
                          "Connection: Upgrade", "Sec-WebSocket-Key: abc=",
                          "Sec-WebSocket-Version: 13"],
        "bad-key-chars": ["GET / HTTP/1.1", "Host: a", "Upgrade: websocket",
                          "Connection: Upgrade",
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!=",
                          "Sec-WebSocket-Version: 13"],
        "bad-no-host": ["GET / HTTP/1.1", "Upgrade: websocket",
                        "Connection: Upgrade", "Sec-WebSocket-Key: " + rfc_key,
                        "Sec-WebSocket-Version: 13"],
        "bad-empty-protocol": ["GET / HTTP/1.1", "Host: a",
                               "Upgrade: websocket", "Connection: Upgrade",
                               "Sec-WebSocket-Key: " + rfc_key,
                               "Sec-WebSocket-Version: 13",
                               "Sec-WebSocket-Protocol: , ,"],
        "bad-folded-line": ["GET / HTTP/1.1", "Host: a", "Upgrade: websocket",
                            " continued", "Connection:Upgrade",
                            "Sec-WebSocket-Key:\t" + rfc_key,
                            "Sec-WebSocket-Version: 13 "],
    }
    keys = {"rfc6455": rfc_key}
    for name, lines in reqs.items():
        key = next((l.split(": ", 1)[1] for l in lines
                    if l.startswith("Sec-WebSocket-Key: ")), rfc_key)
        good = response(key, ["Sec-WebSocket-Protocol: chat"]
                        if name in ("rfc6455", "node-ws") else [])
        # Each with the answer a server would give, round trip on, the
        # server's protocol list and origin varied.
        flags = {"rfc6455": 1 | 4 | 8, "chromium": 8, "firefox": 2 | 8 | 16,
                 "curl": 8 | 16, "python-websockets": 3 | 8,
                 "node-ws": 1 | 8 | 16, "repeated-headers": 1}.get(name, 8)
        write("handshake", name, bytes([flags]) + http(lines) + good)
        keys[name] = key
    k = rfc_key
    base = http(reqs["rfc6455"])
    bad_responses = {
        "resp-400": http(["HTTP/1.1 400 Bad Request", "Connection: close"]),
        "resp-200": http(["HTTP/1.1 200 OK"]),
        "resp-no-upgrade": http(["HTTP/1.1 101 Switching Protocols",
                                 "Connection: Upgrade",
                                 "Sec-WebSocket-Accept: " + accept_of(k)]),
        "resp-wrong-accept": response("AQIDBAUGBwgJCgsMDQ4PEA=="),
        "resp-extension": response(k, ["Sec-WebSocket-Extensions: "
                                       "permessage-deflate"]),
        "resp-unoffered-protocol": response(k, ["Sec-WebSocket-Protocol: "
                                                "mqtt"]),
        "resp-two-protocols": response(k, ["Sec-WebSocket-Protocol: chat",
                                           "Sec-WebSocket-Protocol: superchat"]),
        "resp-connection-list": http(["HTTP/1.1 101 Switching Protocols",
                                      "upgrade: WebSocket",
                                      "Connection: keep-alive, upgrade",
                                      "Sec-WebSocket-Accept: " + accept_of(k)]),
    }
    for name, resp in bad_responses.items():
        write("handshake", name, bytes([1 | 16]) + base + resp)
    # LF-only line ends, and a bare CR.
    write("handshake", "lf-only", b"\x08" + base.replace(b"\r\n", b"\n"))
    write("handshake", "cr-only", b"\x08" + base.replace(b"\r\n", b"\r"))
    handshake_deflate_seeds(reqs, k)


def handshake_deflate_seeds(reqs, k):
    """permessage-deflate (RFC 7692): offers, answers, option sets."""
    plain = [l for l in reqs["curl"]]
    key = "dGhpcyBpcyBjdXJsIGtleQ=="
    pmd = "Sec-WebSocket-Extensions: permessage-deflate"

    def offer(*ext, opts=None):
        return plain + ["Sec-WebSocket-Extensions: " + e for e in ext] + \
            (["X-Fuzz-Deflate: " + opts] if opts else [])

    def answer(*ext):
        return response(key, ["Sec-WebSocket-Extensions: " + e for e in ext])

    a137 = ("permessage-deflate; client_no_context_takeover; "
            "client_max_window_bits; server_no_context_takeover; "
            "server_max_window_bits=9, permessage-deflate; "
            "client_no_context_takeover; client_max_window_bits; "
            "server_no_context_takeover, permessage-deflate")
    seeds = {
        # Each browser's offer with the defaults, answered as wsev does.
        "deflate-chromium": (DEFAULTS | 8, reqs["chromium"], None),
        "deflate-firefox": (DEFAULTS | 8 | 16 | 2, reqs["firefox"], None),
        "deflate-python-websockets": (STRICT | 8, reqs["python-websockets"],
                                      None),
        "deflate-node-ws": (DEFAULTS | 8 | 16 | 1, reqs["node-ws"], None),
        # Autobahn 13.7: three offers, the first wins.
        "deflate-autobahn-13.7": (DEFAULTS | 8, offer(a137), answer(
            "permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover; server_max_window_bits=9; "
            "client_max_window_bits=15")),
        "deflate-two-lines": (STRICT | 8 | 16, offer(
            "x-webkit-deflate-frame", "permessage-deflate; "
            "client_max_window_bits; server_max_window_bits=\"12\""),
            answer("permessage-deflate; server_no_context_takeover; "
                   "client_no_context_takeover; server_max_window_bits=11; "
                   "client_max_window_bits=10")),
        "deflate-quoted-comma": (DEFAULTS | 8, offer(
            "foo; bar=\"a, permessage-deflate; bogus\""),
            answer("permessage-deflate; client_max_window_bits=\"1\\1\"")),
        "deflate-options-header": (FROM_HEADER | 8 | 16, offer(
            "permessage-deflate; client_max_window_bits=12; "
            "server_max_window_bits=13",
            opts="1 3 5 1 0 10 16"), answer(
            "permessage-deflate; server_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=12")),
        "deflate-options-off": (FROM_HEADER | 8, offer(
            "permessage-deflate; foo", opts="0 0 0 0 0 0 0"),
            answer("permessage-deflate")),
        # Refused offers and answers.
        "deflate-bad-offer": (DEFAULTS | 8, offer(
            "permessage-deflate, permessage-deflate; "
            "server_max_window_bits"), answer("permessage-deflate")),
        "deflate-bad-window": (DEFAULTS | 16, offer(
            "permessage-deflate; client_max_window_bits=16"),
            answer("permessage-deflate; client_max_window_bits")),
        "deflate-twice": (DEFAULTS | 16, offer("permessage-deflate"),
                          answer("permessage-deflate",
                                 "permessage-deflate")),
        "deflate-above-asked": (STRICT | 16, offer("permessage-deflate"),
                                answer("permessage-deflate; "
                                       "server_no_context_takeover; "
                                       "server_max_window_bits=12")),
        "deflate-not-confirmed": (STRICT | 16, offer("permessage-deflate"),
                                  answer("permessage-deflate; "
                                         "server_max_window_bits=11")),
        "deflate-unknown-param": (DEFAULTS | 8, offer(
            "permessage-deflate; foo=1"), answer("permessage-deflate; foo")),
        "deflate-repeated-param": (STRICT | 16, offer(
            "permessage-deflate; client_max_window_bits; "
            "client_max_window_bits=9"), answer(
            "permessage-deflate; server_no_context_takeover; "
            "server_no_context_takeover; server_max_window_bits=9")),
        "deflate-flag-value": (DEFAULTS, offer(
            "permessage-deflate; client_no_context_takeover=\"\""),
            answer("permessage-deflate; server_no_context_takeover=1")),
        "deflate-other-answer": (DEFAULTS | 16, offer("permessage-deflate"),
                                 answer("x-webkit-deflate-frame")),
        # The strict client's own promise and window, left unsaid.
        "deflate-promise": (STRICT | 16, offer("permessage-deflate"),
                            answer("permessage-deflate; "
                                   "server_no_context_takeover; "
                                   "server_max_window_bits=11")),
        "deflate-window-7": (DEFAULTS | 16, offer(
            "permessage-deflate; server_max_window_bits=7"),
            answer("permessage-deflate; client_max_window_bits=7")),
        "deflate-empty-params": (DEFAULTS | 8 | 16, offer(
            "permessage-deflate;; client_max_window_bits;"),
            answer("permessage-deflate; ;client_max_window_bits=15;")),
        "deflate-quote-tail": (DEFAULTS | 16, offer(
            "permessage-deflate; server_max_window_bits=\"10\"0"),
            answer("permessage-deflate; server_max_window_bits=\"10\"0")),
        "deflate-unterminated": (DEFAULTS | 16, offer(
            "permessage-deflate; server_max_window_bits=\"10"),
            answer("permessage-deflate; server_max_window_bits=\"10",
                   "x-foo")),
    }
    for name, (flags, req, resp) in seeds.items():
        if resp is None:
            rk = next(l.split(": ", 1)[1] for l in req
                      if l.startswith("Sec-WebSocket-Key: "))
            resp = response(rk, ["Sec-WebSocket-Extensions: "
                                 "permessage-deflate; "
                                 "client_max_window_bits=15"])
        write("handshake", name, bytes([flags]) + http(req) + resp)


def proxy_seeds():
    """fuzz-proxy.c: byte 0 picks the parser (0 CONNECT answer, 1-3 SOCKS5
    method, auth and CONNECT replies, 4 URL NUL no_proxy NUL host)."""
    seeds = {
        "connect-200": b"\x00HTTP/1.1 200 Connection established\r\n"
                       b"Via: 1.1 proxy\r\n\r\n\x81\x02hi",
        "connect-407": b"\x00HTTP/1.0 407 Proxy Authentication Required\r\n"
                       b"Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
        "connect-lf": b"\x00HTTP/1.1 200\n\n",
        "connect-garbage": b"\x00SSH-2.0-OpenSSH_9.2\r\n",
        "connect-partial": b"\x00HTTP/1.1 200 Con",
        "socks-method": b"\x01\x05\x02",
        "socks-method-v4": b"\x01\x04\x00",
        "socks-auth": b"\x02\x01\x00",
        "socks-reply-v4": b"\x03\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50",
        "socks-reply-v6": b"\x03\x05\x00\x00\x04" + bytes(16) + b"\x01\xbb",
        "socks-reply-name": b"\x03\x05\x05\x00\x03\x04host\x00\x50",
        "socks-reply-noaddr": b"\x03\x05\x04\x00\x00",
        "url-http": b"\x04http://al%69ce:p%40ss@proxy.example:3128/\x00"
                    b".example.com, 10.0.0.0/8,[::1]:443\x00www.example.com",
        "url-socks": b"\x04socks5h://[::1]:1080\x00*\x00h",
        "url-bad": b"\x04ftp://h:99999\x00127.0.0.1:443\x00127.0.0.1",
    }
    for name, data in seeds.items():
        write("proxy", name, data)


if __name__ == "__main__":
    frame_seeds()
    utf8_seeds()
    connection_seeds()
    handshake_seeds()
    proxy_seeds()
