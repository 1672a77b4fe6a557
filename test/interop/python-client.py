#!/usr/bin/python3
"""Interop test: Python websockets (asyncio client) against wsev's
test/interop/peer-server, through the real HTTP handshake.

    /usr/bin/python3 python-client.py --url ws://127.0.0.1:PORT/ \
        --server-log FILE [--cafile CERT [--tls12]] [--label NAME]
        [--suite main|defaults|shutdown|shutdown-busy --ready-file F]
        [--only CASE]...

FILE is the server's standard output: every connection that ends there
prints "closed code=N data=REASON", and the scenarios check those lines in
order. --cafile is the certificate the client trusts for wss:// (and for the
https:// health checks); --tls12 caps the TLS version at 1.2.

Suites:
  main      the server runs with --max-payload 0 --protocol chat
            --protocol superchat
  defaults  the server runs with the default limits (131072-byte frames);
            also connections that end without a close frame
  deflate   permessage-deflate with the offer --offer (none, default, or a
            list: cnct,snct,smwb=N,cmwb=N) against a server run with
            --max-payload 0 and the deflate flags of the caller's choice;
            --expect-ext is what both ends must report (cmd:extensions
            form); every size class, fragments both ways, send_buffer
  keepalive     the server runs with --keepalive 1 (and --max-payload 0)
  pong-timeout  the server runs with --keepalive 1 --pong-timeout 1
  chunked   the server runs with --chunk-size 1000 --max-payload 0
  shutdown  opens a WebSocket, creates READY-FILE, and expects the server
            (sent SIGTERM by the caller) to end it with a close frame 1001
  shutdown-busy  the same with the server's output to the client stuck:
            the server drops it (1006)

Prints "ok LABEL: NAME" or "FAIL LABEL: NAME: WHY" per scenario, then one
line "N passed, M failed"; exits 0 only if nothing failed. Every wait is
bounded (see the *_TIMEOUT constants).

Peer: Debian's python3-websockets 10.4 (websockets.connect), for the
system interpreter /usr/bin/python3.

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""

import argparse
import asyncio
import os
import random
import ssl
import sys
import time
import urllib.error
import urllib.request

from websockets.exceptions import ConnectionClosed, InvalidStatusCode
from websockets.extensions.permessage_deflate import \
    ClientPerMessageDeflateFactory

try:
    # The asyncio client of websockets 10 (websockets.connect there); later
    # versions keep it here under the same API.
    from websockets.legacy.client import connect as ws_connect
except ImportError:  # pragma: no cover
    from websockets import connect as ws_connect

CASE_TIMEOUT = 30.0       # one scenario, everything included
CLOSE_TIMEOUT = 4.0       # websockets' own wait for the closing handshake
SERVER_LINE_TIMEOUT = 5.0  # for a "closed ..." line to show up in the log
HTTP_TIMEOUT = 5.0
# RFC 6455 §7.1.1: the server closes TCP right after the closing handshake;
# wsev's close timeout is 5 s, so a close that only ends through it is late.
PROMPT = 2.0


class Fail(Exception):
    """A scenario failed; the message says why."""


def short(value, limit=80):
    """A printable abbreviation of a message for a failure report."""
    r = repr(value)
    if len(r) <= limit:
        return r
    return "%s...(%d %s)" % (r[:limit], len(value),
                             "chars" if isinstance(value, str) else "bytes")


def first_difference(a, b):
    """Where two sequences first differ, for the failure report."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def expect_equal(what, got, want):
    if type(got) is not type(want):
        raise Fail("%s: got a %s %s, expected a %s %s" % (
            what, type(got).__name__, short(got), type(want).__name__,
            short(want)))
    if got != want:
        if isinstance(want, (bytes, str)) and len(want) > 40:
            raise Fail("%s: got %d %s, expected %d; first difference at %d"
                       % (what, len(got), "chars" if isinstance(want, str)
                          else "bytes", len(want),
                          first_difference(got, want)))
        raise Fail("%s: got %s, expected %s" % (what, short(got),
                                                short(want)))


class ServerLog:
    """The "closed ..." lines of the server's standard output, consumed in
    order: each scenario that ends a connection expects the next one."""

    def __init__(self, path):
        self.path = path
        self.used = 0

    def closed_lines(self):
        with open(self.path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n") for line in f
                    if line.startswith("closed ")]

    async def expect(self, code, data):
        await self.expect_within(code, data, SERVER_LINE_TIMEOUT)

    async def expect_within(self, code, data, timeout):
        want = "closed code=%d data=%s" % (code, data)
        deadline = time.monotonic() + timeout
        while True:
            lines = self.closed_lines()
            if len(lines) > self.used:
                got = lines[self.used]
                self.used += 1
                if got != want:
                    raise Fail("server printed %r, expected %r" % (got, want))
                return
            if time.monotonic() > deadline:
                raise Fail("server printed no %r within %.0f s" % (
                    want, timeout))
            await asyncio.sleep(0.02)

    async def expect_set(self, wanted):
        """The next len(wanted) lines are these, in any order (connections
        that close concurrently)."""
        deadline = time.monotonic() + SERVER_LINE_TIMEOUT
        while True:
            lines = self.closed_lines()
            if len(lines) >= self.used + len(wanted):
                got = lines[self.used:self.used + len(wanted)]
                self.used += len(wanted)
                if sorted(got) != sorted(wanted):
                    raise Fail("server printed %r, expected %r in any order"
                               % (got, wanted))
                return
            if time.monotonic() > deadline:
                raise Fail("server printed %d of %d closed lines within %.0f s"
                           % (len(lines) - self.used, len(wanted),
                              SERVER_LINE_TIMEOUT))
            await asyncio.sleep(0.02)

    async def expect_nothing_new(self, settle=0.3):
        await asyncio.sleep(settle)
        lines = self.closed_lines()
        if len(lines) > self.used:
            extra = lines[self.used:]
            self.used = len(lines)
            raise Fail("server printed unexpected lines: %r" % (extra,))


def offer_kw(offer):
    """websockets.connect() arguments for a permessage-deflate offer."""
    if offer == "none":
        return {"compression": None}
    if offer == "default":
        return {"compression": "deflate"}
    kw = {}
    for item in offer.split(","):
        name, _, value = item.partition("=")
        key = {"cnct": "client_no_context_takeover",
               "snct": "server_no_context_takeover",
               "smwb": "server_max_window_bits",
               "cmwb": "client_max_window_bits"}[name]
        kw[key] = int(value) if value else True
    return {"compression": None,
            "extensions": [ClientPerMessageDeflateFactory(**kw)]}


class Client:
    def __init__(self, args):
        self.url = args.url
        self.secure = args.url.startswith("wss:")
        self.log = ServerLog(args.server_log)
        self.ctx = None
        self.tls12 = args.tls12
        if self.secure:
            # Verifies the chain and the name (IP:127.0.0.1 in the SAN).
            self.ctx = ssl.create_default_context(cafile=args.cafile)
            if args.tls12:
                self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.expect_ext = args.expect_ext
        self.deflate_kw = offer_kw(args.offer)
        host = args.url.split("://", 1)[1].split("/", 1)[0]
        self.health_url = "%s://%s/health" % (
            "https" if self.secure else "http", host)

    def connect(self, url=None, **kw):
        kw.setdefault("compression", None)
        kw.setdefault("ping_interval", None)
        kw.setdefault("close_timeout", CLOSE_TIMEOUT)
        kw.setdefault("max_size", 4 << 20)
        kw.setdefault("open_timeout", 10)
        if self.secure:
            kw["ssl"] = self.ctx
        return ws_connect(url or self.url, **kw)

    async def recv(self, ws, what="reply"):
        try:
            return await asyncio.wait_for(ws.recv(), 10)
        except asyncio.TimeoutError:
            raise Fail("no %s within 10 s" % what) from None
        except ConnectionClosed as e:
            raise Fail("connection closed while waiting for the %s: code %s "
                       "reason %r" % (what, e.code, e.reason)) from None

    async def command(self, ws, cmd):
        await ws.send("cmd:" + cmd)
        return await self.recv(ws, "answer to cmd:" + cmd)

    async def close_normally(self, ws, code=1000, reason=""):
        """Client-initiated close; checks both ends and the timing."""
        t0 = time.monotonic()
        await ws.close(code, reason)
        elapsed = time.monotonic() - t0
        expect_equal("close code seen by the client", ws.close_code, code)
        expect_equal("close reason seen by the client", ws.close_reason,
                     reason)
        if elapsed > PROMPT:
            raise Fail("closing handshake took %.1f s (the server should "
                       "close TCP at once)" % elapsed)
        await self.log.expect(code, reason)

    def health(self):
        try:
            with urllib.request.urlopen(self.health_url, context=self.ctx,
                                        timeout=HTTP_TIMEOUT) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    async def expect_health(self, when):
        loop = asyncio.get_running_loop()
        status, body = await asyncio.wait_for(
            loop.run_in_executor(None, self.health), HTTP_TIMEOUT + 1)
        if status != 200 or body != b"ok\n":
            raise Fail("GET /health %s: status %s body %r" % (when, status,
                                                               body))


def text_of(n, seed):
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
    return "".join(rnd.choice(alphabet) for _ in range(n))


def utf8_text(nbytes, seed):
    """Text of exactly nbytes UTF-8 bytes mixing 1- to 4-byte sequences, so
    that sequences straddle every read and frame boundary."""
    rnd = random.Random(seed)
    pieces = ["a", "é", "€", "日", "🎉", "ß", "ж", "\u2028", "𝄞"]
    out, size = [], 0
    while size < nbytes:
        ch = rnd.choice(pieces)
        n = len(ch.encode())
        if size + n > nbytes:
            ch, n = "z", 1
        out.append(ch)
        size += n
    return "".join(out)


SIZES = [0, 125, 126, 65535, 65536, 1 << 20]


# ---------------------------------------------------------------- scenarios

def echo_case(kind, size):
    async def case(c):
        if kind == "text":
            msg = text_of(size, size)
        else:
            msg = random.Random(size).randbytes(size)
        async with c.connect() as ws:
            await ws.send(msg)
            expect_equal("echo", await c.recv(ws, "echo"), msg)
            await c.close_normally(ws)
    return case


async def case_utf8_small(c):
    msg = "héllo wörld — 日本語 🎉 \U0001F600 Ω ∑ \u00a0 ñ"
    async with c.connect() as ws:
        await ws.send(msg)
        expect_equal("echo", await c.recv(ws, "echo"), msg)
        await c.close_normally(ws)


async def case_utf8_large(c):
    msg = utf8_text(300001, 7)
    async with c.connect() as ws:
        await ws.send(msg)
        expect_equal("echo", await c.recv(ws, "echo"), msg)
        await c.close_normally(ws)


async def case_fragmented(c):
    """A message sent in fragments comes back whole, with its type."""
    parts_t = ["frag-one ", "", "frag-two é ", "🎉" * 1000]
    parts_b = [b"\x00\x01", b"", os.urandom(70000), b"\xff"]
    async with c.connect() as ws:
        await ws.send(parts_t)
        expect_equal("text echo", await c.recv(ws, "echo"), "".join(parts_t))
        await ws.send(parts_b)
        expect_equal("binary echo", await c.recv(ws, "echo"),
                     b"".join(parts_b))
        await c.close_normally(ws)


async def case_pipelined(c):
    """Many messages sent without waiting come back all, in order."""
    msgs = []
    for i in range(300):
        if i % 3 == 0:
            msgs.append(os.urandom(random.randrange(0, 20000)))
        else:
            msgs.append("%d:" % i + text_of(random.randrange(0, 20000), i))
    async with c.connect() as ws:
        async def sender():
            for m in msgs:
                await ws.send(m)
        send_task = asyncio.ensure_future(sender())
        for i, m in enumerate(msgs):
            expect_equal("message %d" % i, await c.recv(ws, "echo %d" % i), m)
        await send_task
        await c.close_normally(ws)


async def case_close_client_1000(c):
    async with c.connect() as ws:
        await c.close_normally(ws, 1000, "")


async def case_close_client_4001(c):
    async with c.connect() as ws:
        await ws.send("before close")
        expect_equal("echo", await c.recv(ws, "echo"), "before close")
        await c.close_normally(ws, 4001, "bye")


async def case_close_client_long_reason(c):
    reason = "é" * 61 + "x"     # 123 bytes: the most a close frame holds
    async with c.connect() as ws:
        await c.close_normally(ws, 4999, reason)


def server_close_case(code, reason, want_code, want_reason, server_data):
    """cmd:close:CODE:REASON; the client sees (want_code, want_reason) and
    echoes it; the server reports its own close as server_data."""
    async def case(c):
        async with c.connect() as ws:
            t0 = time.monotonic()
            await ws.send("cmd:close:%d:%s" % (code, reason))
            try:
                extra = await asyncio.wait_for(ws.recv(), 10)
                raise Fail("got a message instead of the close: %s"
                           % short(extra))
            except ConnectionClosed:
                pass
            except asyncio.TimeoutError:
                raise Fail("no close within 10 s") from None
            await asyncio.wait_for(ws.wait_closed(), 10)
            elapsed = time.monotonic() - t0
            expect_equal("close code seen by the client", ws.close_code,
                         want_code)
            expect_equal("close reason seen by the client", ws.close_reason,
                         want_reason)
            if elapsed > PROMPT:
                raise Fail("server-initiated close took %.1f s to end "
                           "(the server should close TCP once the client "
                           "echoed)" % elapsed)
        await c.log.expect(want_code, server_data)
    return case


async def case_close_refused_code(c):
    """The server may not send 1006: wsev refuses and the connection lives."""
    async with c.connect() as ws:
        expect_equal("answer", await c.command(ws, "close:1006:x"),
                     "close-refused:1006")
        await ws.send("still open")
        expect_equal("echo", await c.recv(ws, "echo"), "still open")
        await c.close_normally(ws)


async def case_close_refused_1010(c):
    """1010 is the client's code (RFC 6455 §7.4.1): a server may not send it."""
    async with c.connect() as ws:
        expect_equal("answer", await c.command(ws, "close:1010:x"),
                     "close-refused:1010")
        await c.close_normally(ws)


async def case_close_refused_long(c):
    """A reason of 124 bytes does not fit a close frame: refused, not cut."""
    async with c.connect() as ws:
        expect_equal("answer", await c.command(ws, "close:4000:" + "y" * 124),
                     "close-refused:4000")
        await ws.send("still open")
        expect_equal("echo", await c.recv(ws, "echo"), "still open")
        await c.close_normally(ws)


async def case_subprotocol_server_order(c):
    async with c.connect(subprotocols=["superchat", "chat"]) as ws:
        expect_equal("client's subprotocol", ws.subprotocol, "chat")
        expect_equal("server's protocol", await c.command(ws, "protocol"),
                     "protocol:chat")
        await c.close_normally(ws)


async def case_subprotocol_single(c):
    async with c.connect(subprotocols=["superchat"]) as ws:
        expect_equal("client's subprotocol", ws.subprotocol, "superchat")
        expect_equal("server's protocol", await c.command(ws, "protocol"),
                     "protocol:superchat")
        await c.close_normally(ws)


async def case_subprotocol_none_offered(c):
    async with c.connect() as ws:
        if ws.subprotocol is not None:
            raise Fail("client's subprotocol is %r, expected None"
                       % ws.subprotocol)
        if "Sec-WebSocket-Protocol" in ws.response_headers:
            raise Fail("server answered Sec-WebSocket-Protocol: %r to no "
                       "offer" % ws.response_headers["Sec-WebSocket-Protocol"])
        expect_equal("server's protocol", await c.command(ws, "protocol"),
                     "protocol:(none)")
        await c.close_normally(ws)


async def case_subprotocol_case_sensitive(c):
    """Subprotocol names match case-sensitively (wsev.h)."""
    try:
        async with c.connect(subprotocols=["CHAT"]) as ws:
            raise Fail("handshake accepted (subprotocol %r)" % ws.subprotocol)
    except InvalidStatusCode as e:
        expect_equal("status", e.status_code, 400)
    await c.log.expect_nothing_new()


async def case_unknown_path(c):
    """A WebSocket handshake on a path with no route: evhttp's 404."""
    try:
        async with c.connect(url=c.url + "no-such-route"):
            raise Fail("handshake accepted on an unknown path")
    except InvalidStatusCode as e:
        expect_equal("status", e.status_code, 404)
    await c.log.expect_nothing_new()


async def case_query_string(c):
    """The route "/" also serves "/?query" (evhttp routes by path)."""
    async with c.connect(url=c.url + "?token=abc&x=%20") as ws:
        await ws.send("with query")
        expect_equal("echo", await c.recv(ws, "echo"), "with query")
        await c.close_normally(ws)


async def case_close_server_while_client_sends(c):
    """The client keeps sending while the server's close is on its way:
    the close still completes, promptly, with the server's code."""
    async with c.connect() as ws:
        t0 = time.monotonic()
        await ws.send("cmd:close:4002:busy")
        try:
            for i in range(200):
                await ws.send(os.urandom(1000))
        except ConnectionClosed:
            pass
        try:
            while True:
                extra = await asyncio.wait_for(ws.recv(), 10)
                # Echoes of messages the server read before it closed may
                # not come: it may not send after its close frame.
                raise Fail("got a message after cmd:close: %s" % short(extra))
        except ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            raise Fail("no close within 10 s") from None
        await asyncio.wait_for(ws.wait_closed(), 10)
        expect_equal("close code seen by the client", ws.close_code, 4002)
        expect_equal("close reason seen by the client", ws.close_reason,
                     "busy")
        if time.monotonic() - t0 > PROMPT:
            raise Fail("close took %.1f s" % (time.monotonic() - t0))
    await c.log.expect(4002, "busy")


async def case_text_with_nul(c):
    """U+0000 is valid UTF-8 text; its echo must come back whole."""
    async with c.connect() as ws:
        await ws.send("a\x00b")
        expect_equal("echo", await c.recv(ws, "echo"), "a\x00b")
        await c.close_normally(ws)


async def case_concurrent(c):
    """20 connections at once, each echoing messages of its own."""
    async def one(i):
        async with c.connect() as ws:
            for j in range(10):
                m = os.urandom(997 * i + j) if j % 2 else text_of(313 * i + j, j)
                await ws.send(m)
                expect_equal("conn %d message %d" % (i, j),
                             await c.recv(ws, "echo"), m)
            await ws.close(4000 + i, "conn %d" % i)
            expect_equal("close code seen by conn %d" % i, ws.close_code,
                         4000 + i)
    await asyncio.gather(*[one(i) for i in range(20)])
    await c.log.expect_set(["closed code=%d data=conn %d" % (4000 + i, i)
                            for i in range(20)])


async def case_userinfo(c):
    """Credentials in the URI become "Authorization: Basic" (websockets
    does it), and the server sees them."""
    url = c.url.replace("://", "://user:pass@", 1)
    async with c.connect(url=url) as ws:
        expect_equal("Authorization",
                     await c.command(ws, "header:Authorization"),
                     "header:Basic dXNlcjpwYXNz")
        await c.close_normally(ws)


async def case_subprotocol_refused(c):
    try:
        async with c.connect(subprotocols=["other"]) as ws:
            raise Fail("handshake accepted (subprotocol %r)" % ws.subprotocol)
    except InvalidStatusCode as e:
        expect_equal("status", e.status_code, 400)
    await c.log.expect_nothing_new()


async def case_extra_headers(c):
    headers = {
        "Authorization": "Bearer x",
        "Cookie": "session=abc; theme=dark",
    }
    async with c.connect(extra_headers=headers) as ws:
        expect_equal("Authorization",
                     await c.command(ws, "header:Authorization"),
                     "header:Bearer x")
        expect_equal("cookie (any case)", await c.command(ws, "header:cookie"),
                     "header:session=abc; theme=dark")
        expect_equal("absent header", await c.command(ws, "header:X-Absent"),
                     "header:(none)")
        await c.close_normally(ws)


async def case_tls_version(c):
    """The transport is what the mode says: no TLS for ws://, TLS 1.3 for
    wss:// (both ends support it), TLS 1.2 with --tls12."""
    async with c.connect() as ws:
        sslobj = ws.transport.get_extra_info("ssl_object")
        got = sslobj.version() if sslobj else None
        want = None if not c.secure else "TLSv1.2" if c.tls12 else "TLSv1.3"
        if got != want:
            raise Fail("transport is %s, expected %s" % (got, want))
        await c.close_normally(ws)


async def case_handshake_response(c):
    """The 101 carries what RFC 6455 §4.2.2 asks and no body framing
    (RFC 7230 §3.3.2: no Content-Length in a 1xx)."""
    async with c.connect() as ws:
        h = ws.response_headers
        for name in ("Content-Length", "Transfer-Encoding",
                     "Sec-WebSocket-Extensions"):
            if name in h:
                raise Fail("101 response has %s: %r" % (name, h[name]))
        await c.close_normally(ws)


async def case_compression_negotiated(c):
    """websockets offers permessage-deflate by default and wsev's route
    accepts it: both ends say so, and a compressible message crosses the
    wire in far fewer bytes than its size."""
    async with c.connect(compression="deflate") as ws:
        await expect_deflate(c, ws, DEFAULT_EXT)
        await c.close_normally(ws)


# ---------------------------------------------------------------- deflate

UNIT = "fragment \u2713 \u00e9 "   # peer-server's cmd:fragments unit, 16 bytes
DEFAULT_EXT = ("permessage-deflate server_no_context_takeover=0 "
               "client_no_context_takeover=0 server_max_window_bits=15 "
               "client_max_window_bits=15")


def count_bytes(ws):
    """Counts the bytes websockets gets from the transport from now on."""
    box = [0]
    orig = ws.data_received

    def counting(data):
        box[0] += len(data)
        orig(data)
    ws.data_received = counting
    return box


def ext_string(ws):
    """What websockets negotiated, in peer-server's cmd:extensions form."""
    if not ws.extensions:
        return "(none)"
    if len(ws.extensions) != 1 or ws.extensions[0].name != "permessage-deflate":
        return "unexpected %r" % (ws.extensions,)
    e = ws.extensions[0]
    # The client's view: remote is the server.
    return ("permessage-deflate server_no_context_takeover=%d "
            "client_no_context_takeover=%d server_max_window_bits=%d "
            "client_max_window_bits=%d" % (
                e.remote_no_context_takeover, e.local_no_context_takeover,
                e.remote_max_window_bits, e.local_max_window_bits))


async def expect_deflate(c, ws, want):
    """Both ends negotiated WANT (peer-server's cmd:extensions form, or
    "(none)"); a compressible 1 MiB message comes back in under a tenth of
    its size on the wire with compression, in more than its size without."""
    expect_equal("websockets' extensions", ext_string(ws), want)
    expect_equal("wsev's extensions", await c.command(ws, "extensions"),
                 "extensions:" + want)
    msg = "compressible " * 80660   # 1 MiB and a bit
    box = count_bytes(ws)
    await ws.send(msg)
    expect_equal("echo", await c.recv(ws, "echo"), msg)
    wire = box[0]
    if want == "(none)":
        if wire < len(msg):
            raise Fail("%d bytes on the wire for %d uncompressed" % (
                wire, len(msg)))
    elif wire * 10 > len(msg):
        raise Fail("%d bytes on the wire for a compressible %d-byte "
                   "message: wsev did not compress" % (wire, len(msg)))


DEFLATE_SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


async def case_deflate_sizes(c, sizes=DEFLATE_SIZES):
    """Every size class, compressible text, random binary and multibyte
    UTF-8, round-trips on one compressed connection (context kept, or
    not, across all of them)."""
    async with c.connect(**c.deflate_kw) as ws:
        for size in sizes:
            for msg in ("ab" * size)[:size], random.Random(size).randbytes(
                    size), utf8_text(size, size):
                await ws.send(msg)
                expect_equal("echo of %d %s" % (size, type(msg).__name__),
                             await c.recv(ws, "echo"), msg)
        await c.close_normally(ws)


async def case_deflate_peer_fragments(c):
    """websockets' fragmented messages (an async iterator), compressed as
    one stream, come back whole."""
    async def parts(items):
        for item in items:
            yield item
    t = ["frag é ", "", "🎉" * 30000, UNIT * 5000, "end"]
    b = [os.urandom(1000), b"", b"\x00" * 100000, os.urandom(65536)]
    async with c.connect(**c.deflate_kw) as ws:
        await ws.send(parts(t))
        expect_equal("text echo", await c.recv(ws, "echo"), "".join(t))
        await ws.send(parts(b))
        expect_equal("binary echo", await c.recv(ws, "echo"), b"".join(b))
        await c.close_normally(ws)


async def case_deflate_wsev_fragments(c):
    """wsev_connection_send_fragment (pieces cut inside code points, pings
    in between) and send_buffer, compressed: websockets gets them whole."""
    async with c.connect(**c.deflate_kw) as ws:
        for n, units in ((1, 0), (1, 1), (3, 1), (2, 8), (7, 70000),
                         (64, 4096)):
            await ws.send("cmd:fragments:%d:%d" % (n, units))
            expect_equal("cmd:fragments:%d:%d" % (n, units),
                         await c.recv(ws, "fragmented message"), UNIT * units)
        for units in (0, 1, 70000):
            await ws.send("cmd:buffer:%d" % units)
            expect_equal("cmd:buffer:%d" % units,
                         await c.recv(ws, "send_buffer message"),
                         UNIT * units)
        # The connection still works after the streamed messages.
        await ws.send("after")
        expect_equal("echo", await c.recv(ws, "echo"), "after")
        await c.close_normally(ws)


async def case_deflate_negotiated(c):
    async with c.connect(**c.deflate_kw) as ws:
        await expect_deflate(c, ws, c.expect_ext)
        await c.close_normally(ws)


async def case_keepalive(c):
    """peer-server --keepalive 1: websockets answers the pings; wsev counts
    the pongs and the connection stays OPEN (no timing asserted: wait up to
    10 s for two pongs)."""
    async with c.connect(**c.deflate_kw) as ws:
        deadline = time.monotonic() + 10
        while True:
            got = await c.command(ws, "pongs")
            if not got.startswith("pongs:"):
                raise Fail("cmd:pongs answered %r" % got)
            if int(got[6:]) >= 2:
                break
            if time.monotonic() > deadline:
                raise Fail("%s within 10 s of --keepalive 1" % got)
            await asyncio.sleep(0.5)
        msg = "still open " * 1000
        await ws.send(msg)
        expect_equal("echo after the pongs", await c.recv(ws, "echo"), msg)
        await c.close_normally(ws)


async def case_pong_timeout(c):
    """A raw peer that never answers pings: peer-server --keepalive 1
    --pong-timeout 1 closes it with 1008 (websockets always answers, so the
    handshake and frames are done by hand)."""
    host, port = c.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port),
                                                   ssl=c.ctx)
    try:
        writer.write((
            "GET / HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: "
            "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "\r\n" % (host, port)).encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if not head.startswith(b"HTTP/1.1 101"):
            raise Fail("handshake answered %r" % head[:40])
        pings = 0
        while True:
            h = await asyncio.wait_for(reader.readexactly(2), 15)
            n = h[1] & 0x7f
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            body = await reader.readexactly(n)
            if h[0] == 0x89:
                pings += 1
                continue
            if h[0] != 0x88:
                raise Fail("unexpected frame %#x" % h[0])
            code = int.from_bytes(body[:2], "big")
            expect_equal("close code", code, 1008)
            break
        if pings < 1:
            raise Fail("closed with 1008 before any ping")
        # Echo the close (masked with a zero key), as a client must.
        writer.write(bytes([0x88, 0x82, 0, 0, 0, 0]) + body[:2])
        await writer.drain()
    finally:
        writer.close()
    lines = c.log.closed_lines()
    deadline = time.monotonic() + SERVER_LINE_TIMEOUT
    while len(lines) <= c.log.used and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        lines = c.log.closed_lines()
    if len(lines) <= c.log.used:
        raise Fail("the server printed no closed line")
    got = lines[c.log.used]
    c.log.used += 1
    if not got.startswith("closed code=1008 "):
        raise Fail("server printed %r, expected code 1008" % got)


async def case_chunked(c):
    """peer-server --chunk-size 1000: a 1 MiB text (multibyte UTF-8) and a
    1 MiB binary message, compressed, arrive in pieces of at most 1000
    bytes and come back whole."""
    async with c.connect(**c.deflate_kw) as ws:
        for msg in utf8_text(1 << 20, 11), random.Random(3).randbytes(1 << 20):
            await ws.send(msg)
            expect_equal("echo", await c.recv(ws, "echo"), msg)
            got = await c.command(ws, "chunks")
            m = got.split(":")
            if len(m) != 3 or int(m[1]) < (1 << 20) // 1000 or \
                    int(m[2]) > 1000 or int(m[2]) == 0:
                raise Fail("cmd:chunks answered %r for 1 MiB in pieces of "
                           "1000" % got)
        await c.close_normally(ws)


async def case_ping(c):
    async with c.connect() as ws:
        for data in (b"ping-data", b"", bytes(range(125))):
            waiter = await ws.ping(data)
            try:
                await asyncio.wait_for(waiter, 5)
            except asyncio.TimeoutError:
                raise Fail("no pong for a ping of %d bytes" % len(data)) \
                    from None
        # A ping behind a big message: its pong comes, and so does the echo.
        big = os.urandom(1 << 20)
        await ws.send(big)
        waiter = await ws.ping(b"behind")
        got = await c.recv(ws, "echo")
        try:
            await asyncio.wait_for(waiter, 5)
        except asyncio.TimeoutError:
            raise Fail("no pong for the ping behind a 1 MiB message") from None
        expect_equal("echo", got, big)
        await c.close_normally(ws)


async def case_health(c):
    await c.expect_health("before any WebSocket")
    async with c.connect() as ws:
        await ws.send("x")
        expect_equal("echo", await c.recv(ws, "echo"), "x")
        await c.expect_health("while a WebSocket is open")
        await ws.send("y")
        expect_equal("echo after /health", await c.recv(ws, "echo"), "y")
        await c.close_normally(ws)
    await c.expect_health("after the WebSocket closed")


async def case_limit_accepts_max(c):
    msg = os.urandom(131072)
    async with c.connect() as ws:
        await ws.send(msg)
        expect_equal("echo", await c.recv(ws, "echo"), msg)
        await c.close_normally(ws)


async def case_limit_refuses_more(c):
    async with c.connect() as ws:
        await ws.send(os.urandom(131073))
        try:
            extra = await asyncio.wait_for(ws.recv(), 10)
            raise Fail("got a message instead of a close: %s" % short(extra))
        except ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            raise Fail("no close within 10 s") from None
        await asyncio.wait_for(ws.wait_closed(), 10)
        expect_equal("close code seen by the client", ws.close_code, 1009)
    await c.log.expect(1009, "frame payload larger than the maximum")


async def case_client_abort(c):
    """The client drops TCP without a close frame: the server reports 1006
    and no close data, once."""
    ws = await c.connect()
    try:
        await ws.send("x")
        expect_equal("echo", await c.recv(ws, "echo"), "x")
    finally:
        ws.transport.abort()
        await asyncio.wait_for(ws.wait_closed(), 5)
    await c.log.expect(1006, "(null)")


async def case_client_abort_mid_message(c):
    """The client drops TCP in the middle of a large message."""
    ws = await c.connect()
    try:
        # Enough that the transport cannot have written it all at once.
        task = asyncio.ensure_future(ws.send(os.urandom(100000)))
        await asyncio.sleep(0)
    finally:
        ws.transport.abort()
        await asyncio.wait_for(ws.wait_closed(), 5)
    try:
        await task
    except ConnectionClosed:
        pass
    await c.log.expect(1006, "(null)")


async def case_close_timeout(c):
    """A client that never reads the server's close frame: wsev ends the
    connection after its close timeout (5 s by default), with 1006 and an
    error, and not much later."""
    ws = await c.connect()
    try:
        ws.transport.pause_reading()
        t0 = time.monotonic()
        await ws.send("cmd:close:4002:x")
        await c.log.expect_within(1006, "(null)", 10)
        elapsed = time.monotonic() - t0
        if not 4.5 <= elapsed <= 8:
            raise Fail("the server gave up after %.1f s, expected about 5 s"
                       % elapsed)
    finally:
        ws.transport.abort()
        await asyncio.wait_for(ws.wait_closed(), 5)


async def case_shutdown(c, ready_file):
    """The server is stopped (evhttp_free) while this WebSocket is open and
    idle: wsev.h says the peer is sent a close frame 1001 "going away", and
    the server reports close code 1001 (no error). Both ends must agree on
    the reason."""
    async with c.connect() as ws:
        await ws.send("x")
        expect_equal("echo", await c.recv(ws, "echo"), "x")
        with open(ready_file, "w") as f:
            f.write("open\n")
        try:
            extra = await asyncio.wait_for(ws.recv(), 25)
            raise Fail("got a message instead of the end: %s" % short(extra))
        except ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            raise Fail("still open 25 s after the server was told to stop") \
                from None
        expect_equal("close code seen by the client", ws.close_code, 1001)
        if not ws.close_reason:
            raise Fail("the 1001 close frame carries no reason")
    await c.log.expect(1001, ws.close_reason)


async def case_shutdown_busy(c, ready_file):
    """The server is stopped while its output to this WebSocket is stuck
    (the client does not read): wsev.h says the transport just drops, close
    code 1006. The client then reads what had been sent and sees no close
    frame."""
    ws = await c.connect(max_queue=None)
    try:
        ws.transport.pause_reading()
        # 512 echoes of 64 KiB (under the default frame limit): far more
        # than the kernel's socket buffers hold, so wsev's queue is not
        # empty; each send returns once the server has read most of it.
        for i in range(512):
            await asyncio.wait_for(ws.send(bytes([i % 256]) * 65536), 10)
        with open(ready_file, "w") as f:
            f.write("busy\n")
        await c.log.expect_within(1006, "(null)", 25)
        ws.transport.resume_reading()
        n = 0
        try:
            while True:
                m = await asyncio.wait_for(ws.recv(), 10)
                expect_equal("echo %d" % n, m, bytes([n % 256]) * 65536)
                n += 1
        except ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            raise Fail("still open after the server stopped") from None
        if n >= 512:
            raise Fail("all 512 echoes arrived: the output was not stuck")
        expect_equal("close code seen by the client", ws.close_code, 1006)
    finally:
        ws.transport.abort()
        await asyncio.wait_for(ws.wait_closed(), 5)


def main_suite():
    cases = []
    for kind in ("text", "binary"):
        for size in SIZES:
            cases.append(("echo-%s-%d" % (kind, size), echo_case(kind, size)))
    cases += [
        ("echo-utf8", case_utf8_small),
        ("echo-utf8-300KB", case_utf8_large),
        ("echo-text-with-U+0000", case_text_with_nul),
        ("echo-fragmented", case_fragmented),
        ("echo-pipelined-300", case_pipelined),
        ("handshake-101-headers", case_handshake_response),
        ("transport-tls-version", case_tls_version),
        ("close-client-1000", case_close_client_1000),
        ("close-client-4001-bye", case_close_client_4001),
        ("close-client-123-byte-reason", case_close_client_long_reason),
        ("close-server-4002", server_close_case(
            4002, "server-bye", 4002, "server-bye", "server-bye")),
        ("close-server-1000-empty", server_close_case(
            1000, "", 1000, "", "")),
        ("close-server-123-byte-reason", server_close_case(
            4000, "ü" * 61 + "x", 4000, "ü" * 61 + "x", "ü" * 61 + "x")),
        ("close-server-1011", server_close_case(
            1011, "oops", 1011, "oops", "oops")),
        ("close-server-while-client-sends",
         case_close_server_while_client_sends),
        ("close-server-refuses-1006", case_close_refused_code),
        ("close-server-refuses-1010", case_close_refused_1010),
        ("close-server-refuses-124-byte-reason", case_close_refused_long),
        ("subprotocol-server-order", case_subprotocol_server_order),
        ("subprotocol-single", case_subprotocol_single),
        ("subprotocol-none-offered", case_subprotocol_none_offered),
        ("subprotocol-refused-400", case_subprotocol_refused),
        ("subprotocol-case-sensitive", case_subprotocol_case_sensitive),
        ("unknown-path-404", case_unknown_path),
        ("query-string", case_query_string),
        ("extra-headers", case_extra_headers),
        ("userinfo-basic-auth", case_userinfo),
        ("concurrent-20", case_concurrent),
        ("permessage-deflate-negotiated", case_compression_negotiated),
        ("ping-pong", case_ping),
        ("health-around-websocket", case_health),
    ]
    return cases


def defaults_suite():
    return [
        ("limit-131072-accepted", case_limit_accepts_max),
        ("limit-131073-refused-1009", case_limit_refuses_more),
        ("client-abort", case_client_abort),
        ("client-abort-mid-message", case_client_abort_mid_message),
        ("close-timeout-unresponsive-client", case_close_timeout),
    ]


def deflate_suite():
    return [
        ("deflate-negotiated", case_deflate_negotiated),
        ("deflate-size-classes", case_deflate_sizes),
        ("deflate-peer-fragments", case_deflate_peer_fragments),
        ("deflate-wsev-fragments-and-buffer", case_deflate_wsev_fragments),
    ]


def shutdown_suite(args):
    async def case(c):
        await case_shutdown(c, args.ready_file)
    return [("server-shutdown-idle-websocket-1001", case)]


def shutdown_busy_suite(args):
    async def case(c):
        await case_shutdown_busy(c, args.ready_file)
    return [("server-shutdown-busy-websocket-1006", case)]


async def run(args):
    c = Client(args)
    # Lines from before this run (none with a fresh server) are not ours.
    c.log.used = len(c.log.closed_lines())
    if args.suite == "main":
        cases = main_suite()
    elif args.suite == "defaults":
        cases = defaults_suite()
    elif args.suite == "deflate":
        cases = deflate_suite()
    elif args.suite == "keepalive":
        cases = [("keepalive-pongs", case_keepalive)]
    elif args.suite == "pong-timeout":
        cases = [("pong-timeout-1008", case_pong_timeout)]
    elif args.suite == "chunked":
        cases = [("chunked-receive-1MiB", case_chunked)]
    elif args.suite == "shutdown":
        cases = shutdown_suite(args)
    else:
        cases = shutdown_busy_suite(args)
    passed = failed = 0
    for name, case in cases:
        if args.only and name not in args.only:
            continue
        try:
            await asyncio.wait_for(case(c), CASE_TIMEOUT)
        except Fail as e:
            print("FAIL %s: %s: %s" % (args.label, name, e), flush=True)
            failed += 1
        except asyncio.TimeoutError:
            print("FAIL %s: %s: did not finish within %.0f s" % (
                args.label, name, CASE_TIMEOUT), flush=True)
            failed += 1
        except Exception as e:  # any other exception is a failure too
            print("FAIL %s: %s: %s: %s" % (args.label, name,
                                           type(e).__name__, e), flush=True)
            failed += 1
        else:
            print("ok %s: %s" % (args.label, name), flush=True)
            passed += 1
            continue
        # Start the next scenario afresh: skip the server lines this one did
        # not consume (its connections were closed by "async with").
        await asyncio.sleep(0.5)
        c.log.used = len(c.log.closed_lines())
    try:
        await c.log.expect_nothing_new()
    except Fail as e:
        print("FAIL %s: no-stray-closes: %s" % (args.label, e), flush=True)
        failed += 1
    else:
        print("ok %s: no-stray-closes" % args.label, flush=True)
        passed += 1
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--server-log", required=True)
    p.add_argument("--cafile")
    p.add_argument("--tls12", action="store_true",
                   help="offer TLS 1.2 at most")
    p.add_argument("--label", default="python")
    p.add_argument("--suite", choices=("main", "defaults", "deflate",
                                       "keepalive", "pong-timeout", "chunked",
                                       "shutdown", "shutdown-busy"),
                   default="main")
    p.add_argument("--ready-file")
    p.add_argument("--offer", default="default",
                   help="deflate suites: none, default, or a comma list of "
                   "cnct, snct, smwb=N, cmwb=N")
    p.add_argument("--expect-ext", default=DEFAULT_EXT,
                   help="deflate suite: cmd:extensions' answer expected")
    p.add_argument("--only", action="append")
    args = p.parse_args()
    if args.url.startswith("wss:") and not args.cafile:
        p.error("--cafile is required for wss://")
    if args.suite.startswith("shutdown") and not args.ready_file:
        p.error("--ready-file is required for the shutdown suite")
    random.seed(6455)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
