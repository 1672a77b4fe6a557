"""Churn against hostile-server for test/hostile/test-churn.sh: for SECONDS,
CONCURRENCY clients at once connect and end in every way there is, then
the server must be back where it started.

Usage: python3 churn.py --port PORT --server-pid PID [--seconds S]
           [--concurrency C] [--seed N] [--rss-slack-kib K]
           [--settle S]

Kinds of clients, drawn at random (half are good):
  good       handshake, 1 to 12 messages (text and binary, 0 bytes to
             100 KiB, some fragmented, some pings between), every echo
             checked byte for byte, every pong; close 1000 answered 1000
  abort      an echo, then a reset (SO_LINGER 0)
  vanish     an echo, then the socket closed, no close frame
  half-close a message, then shutdown(SHUT_WR): EOF from the server
  burst      a small receive window, 1 MiB of messages, never read;
             the server must drop it (its --max-out)
  malformed  a frame with RSV2 set, an unknown opcode or no mask:
             close 1002 expected
  len-2^63   a frame header announcing 2^63 bytes: close 1002 expected
  stalled    half a handshake, then nothing: the server's request
             deadline (--guard-ms) must drop it

Afterwards, within --settle seconds, the server's /stats "live" must be
0 and its descriptor count (/proc/PID/fd) back to where it was before
the first client. Its RSS (VmRSS from /stats?trim=1, after
malloc_trim) is taken before the first client, after a warm-up round (a
sixth of the run, at most 10 s, then the same settling: the allocator and
libevent's tables have grown to the run's peak of concurrent connections)
and at the end; the end may exceed the warm-up figure by at most
--rss-slack-kib (0: only reported). Prints "ok NAME" or "FAIL NAME: WHY" per check,
"info: ..." lines with the figures, "N passed, M failed" last; exit 0
only if nothing failed.

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""
import argparse
import asyncio
import base64
import hashlib
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=wrong-import-position
from peers import (GUID, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING,  # noqa: E402
                   OP_PONG, OP_TEXT, frame)
KINDS = ("good", "abort", "vanish", "half-close", "burst", "malformed",
         "len-2^63", "stalled")
# Half good; the faults share the other half.
WEIGHTS = (14, 2, 2, 2, 2, 2, 2, 2)
WAIT = 10           # seconds: the longest any one read may take
# What the server must do to each fault (what fault() notes).
EXPECTED = {"abort": {"echoed"}, "vanish": {"echoed"},
            "half-close": {"dropped"}, "stalled": {"dropped"},
            "malformed": {"close 1002"}, "len-2^63": {"close 1002"}}
TEXT_CHARS = "abc xyz 0123 é ß € 🙂 \u2028 Ж"


class Failed(Exception):
    """A good client saw something wrong."""


class Stats:
    def __init__(self):
        self.started = dict.fromkeys(KINDS, 0)
        self.echoes = 0
        self.pongs = 0
        self.good_done = 0
        self.good_failed = 0
        self.first_error = None
        self.fault_answers = {}     # kind -> {what the server did: count}

    def answer(self, kind, what):
        d = self.fault_answers.setdefault(kind, {})
        d[what] = d.get(what, 0) + 1


class Client:
    def __init__(self, reader, writer):
        self.r = reader
        self.w = writer

    @classmethod
    async def open(cls, port, rcvbuf=None, handshake=True):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect(), so that the window is small from the start.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.sock_connect(sock, ("127.0.0.1", port)), WAIT)
            r, w = await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise
        c = cls(r, w)
        if handshake:
            await c.handshake()
        return c

    async def handshake(self):
        key = base64.b64encode(os.urandom(16))
        self.w.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: " + key + b"\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = await asyncio.wait_for(self.r.readuntil(b"\r\n\r\n"), WAIT)
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        if not head.startswith(b"HTTP/1.1 101 ") or \
                b"\r\nsec-websocket-accept: " + accept.lower() + b"\r\n" \
                not in head.lower():
            raise Failed(f"handshake answered {head[:60]!r}")

    def send(self, data):
        self.w.write(data)

    async def frame(self):
        """(fin, opcode, payload) of the next frame; the server's frames
        are unmasked and short of 2^63."""
        h = await asyncio.wait_for(self.r.readexactly(2), WAIT)
        if h[1] & 0x80:
            raise Failed("a masked frame from the server")
        n = h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", await asyncio.wait_for(
                self.r.readexactly(2), WAIT))[0]
        elif n == 127:
            n = struct.unpack("!Q", await asyncio.wait_for(
                self.r.readexactly(8), WAIT))[0]
        data = await asyncio.wait_for(self.r.readexactly(n), WAIT)
        return bool(h[0] & 0x80), h[0] & 0x0F, data

    async def close_code(self):
        """The code of the server's close frame (data frames before it are
        skipped), or None at EOF."""
        try:
            while True:
                _, op, data = await self.frame()
                if op == OP_CLOSE:
                    return struct.unpack("!H", data[:2])[0] \
                        if len(data) >= 2 else 1005
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def eof(self):
        """True once the server ended the TCP connection (within WAIT)."""
        deadline = time.monotonic() + WAIT
        try:
            while time.monotonic() < deadline:
                if not await asyncio.wait_for(self.r.read(65536), WAIT):
                    return True
        except ConnectionError:
            return True
        except asyncio.TimeoutError:
            pass
        return False

    def abort(self):
        sock = self.w.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except (AttributeError, OSError):
            pass    # the transport already lost it: the server reset it
        self.w.close()

    def end(self):
        self.w.close()


def random_message(rng):
    if rng.random() < 0.5:
        n = rng.choice((0, 1, 7, 125, 126, 300))
        if rng.random() < 0.5:
            n = rng.randrange(0, 2000)
        text = "".join(rng.choice(TEXT_CHARS) for _ in range(n // 2))
        return OP_TEXT, text.encode()
    n = rng.choice((0, 1, 125, 126, 65535, 65536,
                    rng.randrange(0, 4096), rng.randrange(0, 100 * 1024)))
    return OP_BINARY, rng.randbytes(n)


async def expect_echo(c, st, op, data, ping=None):
    """The echo of (op, data), and the pong of ping if one was sent;
    fragments of the echo put together."""
    got, first, pong = b"", None, ping is None
    while True:
        fin, fop, payload = await c.frame()
        if fop == OP_PONG:
            if ping is None or payload != ping or pong:
                raise Failed(f"an unexpected pong {payload[:20]!r}")
            pong = True
            st.pongs += 1
            continue
        if fop == OP_CLOSE:
            raise Failed(f"closed by the server: {payload[:40]!r}")
        if first is None:
            first = fop
        got += payload
        if fin:
            break
    if first != op or got != data:
        raise Failed(f"echo of {len(data)} bytes (opcode {op}) came back as "
                     f"{len(got)} bytes (opcode {first}), "
                     f"{'equal' if got == data else 'different'}")
    if not pong:
        fin, fop, payload = await c.frame()
        if fop != OP_PONG or payload != ping:
            raise Failed("no pong")
        st.pongs += 1
    st.echoes += 1


async def good(port, st, rng):
    c = await Client.open(port)
    try:
        for _ in range(rng.randrange(1, 13)):
            op, data = random_message(rng)
            ping = None
            if len(data) > 16 and rng.random() < 0.2:
                # Fragmented, a ping between the fragments (RFC 6455 §5.4).
                cut = rng.randrange(1, len(data))
                ping = rng.randbytes(rng.randrange(0, 126))
                if op == OP_TEXT:
                    # Cut between code points: each fragment need not be
                    # valid UTF-8 (§8.1), but keep it simple to debug.
                    while cut < len(data) and data[cut] & 0xC0 == 0x80:
                        cut += 1
                c.send(frame(op, data[:cut], fin=False) +
                       frame(OP_PING, ping) +
                       frame(OP_CONT, data[cut:]))
            else:
                c.send(frame(op, data))
            await expect_echo(c, st, op, data, ping)
        c.send(frame(OP_CLOSE, struct.pack("!H", 1000)))
        code = await c.close_code()
        if code != 1000:
            raise Failed(f"close answered {code}")
        if not await c.eof():
            raise Failed("no EOF after the close")
    finally:
        c.end()
    st.good_done += 1


async def fault(kind, port, st, rng):
    if kind == "stalled":
        c = await Client.open(port, handshake=False)
        c.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        st.answer(kind, "dropped" if await c.eof() else "kept")
        c.end()
        return
    if kind == "burst":
        c = await Client.open(port, rcvbuf=4096)
        msg = frame(OP_BINARY, rng.randbytes(16384))
        try:
            for _ in range(64):
                c.send(msg)
                await asyncio.wait_for(c.w.drain(), 3)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        # Never read; the server must give up on its own, and does so
        # before this wait ends (it resets, or its FIN is behind 1 MiB).
        await asyncio.sleep(rng.uniform(1, 3))
        c.abort()
        return
    c = await Client.open(port)
    if kind in ("abort", "vanish"):
        c.send(frame(OP_TEXT, b"x" * rng.randrange(0, 200)))
        _, op, _ = await c.frame()
        st.answer(kind, "echoed" if op == OP_TEXT else f"opcode {op}")
        c.abort() if kind == "abort" else c.end()
        return
    if kind == "half-close":
        c.send(frame(OP_BINARY, rng.randbytes(rng.randrange(0, 200))))
        c.w.write_eof()
        st.answer(kind, "dropped" if await c.eof() else "kept")
        c.end()
        return
    if kind == "malformed":
        rsv2 = bytearray(frame(OP_TEXT, b"rsv2"))
        rsv2[0] |= 0x20
        c.send(rng.choice((bytes(rsv2), frame(0x3, b"opcode 3"),
                           frame(OP_BINARY, b"no mask", mask=False))))
    else:   # len-2^63: RFC 6455 §5.2, the most significant bit must be 0
        c.send(struct.pack("!BBQ", 0x80 | OP_BINARY, 0x80 | 127, 1 << 63) +
               os.urandom(4) + b"x" * 64)
    code = await c.close_code()
    eof = await c.eof()
    st.answer(kind, f"close {code}" + ("" if eof else ", no EOF"))
    c.end()


async def worker(port, st, rng, deadline):
    while time.monotonic() < deadline:
        kind = rng.choices(KINDS, WEIGHTS)[0]
        st.started[kind] += 1
        try:
            if kind == "good":
                await good(port, st, rng)
            else:
                await fault(kind, port, st, rng)
        except (Failed, OSError, EOFError, asyncio.TimeoutError,
                asyncio.IncompleteReadError) as e:
            if kind == "good":
                st.good_failed += 1
                if st.first_error is None:
                    st.first_error = repr(e)
            else:
                st.answer(kind, repr(e)[:60])


async def http_get(port, path):
    r, w = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port), WAIT)
    try:
        w.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Connection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(r.read(), WAIT)
    finally:
        w.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(f"GET {path}: {head[:40]!r}")
    d = {}
    for line in body.decode().splitlines():
        k, _, v = line.partition(" ")
        if v.isdigit():
            d[k] = int(v)
    return d


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Report:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, cond, name, why, info=None):
        if cond:
            self.passed += 1
            print(f"ok {name}" + (f" ({info})" if info else ""), flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {why}", flush=True)


def info(text):
    print(f"info: {text}", flush=True)


async def churn(args, st, seconds, seed):
    """CONCURRENCY workers for SECONDS; every client's wait is bounded
    (WAIT per read, a burst's sleep), and so is this."""
    deadline = time.monotonic() + seconds
    tasks = [asyncio.create_task(worker(args.port, st,
                                        random.Random(seed + i), deadline))
             for i in range(args.concurrency)]
    await asyncio.wait_for(asyncio.gather(*tasks), seconds + 6 * WAIT + 30)


async def settle(args, fd0):
    """/stats (after malloc_trim) and the descriptor count once nothing is
    live and the descriptors are back to fd0, or --settle seconds passed;
    and how long it took."""
    t1 = time.monotonic()
    while True:
        st = await http_get(args.port, "/stats?trim=1")
        fd = fd_count(args.server_pid)
        if (st["live"] == 0 and fd == fd0) or \
                time.monotonic() - t1 > args.settle:
            return st, fd, time.monotonic() - t1
        await asyncio.sleep(0.2)


async def run(args, rep):
    st = Stats()
    fd0 = fd_count(args.server_pid)
    s0 = await http_get(args.port, "/stats?trim=1")
    t0 = time.monotonic()
    warm = min(10.0, args.seconds / 6)
    await churn(args, st, warm, args.seed)
    s_warm, fd_warm, _ = await settle(args, fd0)
    info(f"after {time.monotonic() - t0:.1f} s of warm-up: "
         f"{s_warm['opened'] - s0['opened']} WebSockets, "
         f"{s_warm['live']} live, {fd_warm} descriptors, "
         f"RSS {s_warm['rss_kb']} KiB")
    await churn(args, st, args.seconds - warm, args.seed + args.concurrency)
    ran = time.monotonic() - t0
    s1, fd1, settled = await settle(args, fd0)

    served = s1["opened"] - s0["opened"]
    faults = sum(v for k, v in st.started.items() if k != "good")
    info(f"{sum(st.started.values())} clients in {ran:.1f} s with "
         f"{args.concurrency} at a time; the server took {served} "
         f"WebSockets")
    info(f"good clients: {st.started['good']} ({st.good_done} ended "
         f"well), {st.echoes} echoes checked, {st.pongs} pongs; server "
         f"messages {s1['messages'] - s0['messages']}")
    info(f"faults injected: {faults}: " + ", ".join(
        f"{k} {st.started[k]}" for k in KINDS if k != "good"))
    for k in KINDS:
        if k in st.fault_answers:
            info(f"  {k}: " + ", ".join(
                f"{w} {n}" for w, n in sorted(st.fault_answers[k].items())))
    info("server closes: " + " ".join(
        f"{k}={s1[k] - s0.get(k, 0)}" for k in sorted(s1)
        if k.startswith("close.")))
    info(f"descriptors: {fd0} before, {fd1} after ({settled:.1f} s to "
         f"settle)")
    growth = s1["rss_kb"] - s_warm["rss_kb"]
    info(f"RSS: {s0['rss_kb']} KiB before, {s_warm['rss_kb']} KiB after "
         f"the warm-up, {s1['rss_kb']} KiB after ({growth:+d} KiB since "
         f"the warm-up)")

    rep.check(st.good_failed == 0 and st.good_done == st.started["good"],
              "churn-good-clients",
              f"{st.good_failed} of {st.started['good']} good clients "
              f"failed; first: {st.first_error}",
              f"{st.good_done} clients, {st.echoes} echoes")
    rep.check(st.good_done > 0 and faults > 0 and
              all(st.started.values()), "churn-every-kind",
              f"a kind never ran: {st.started}")
    wrong = {k: v for k, v in st.fault_answers.items()
             if set(v) - EXPECTED.get(k, set())}
    rep.check(not wrong, "churn-faults-answered",
              f"unexpected answers: {wrong}")
    rep.check(s1["live"] == 0, "churn-live-0",
              f"{s1['live']} WebSockets live {args.settle} s after the end")
    rep.check(fd1 == fd0, "churn-fds-back",
              f"{fd1} descriptors, {fd0} before (after {args.settle} s)",
              f"{fd0}")
    if args.rss_slack_kib > 0:
        bound = args.rss_slack_kib
        rep.check(growth <= bound, "churn-rss",
                  f"RSS grew {growth} KiB after the warm-up, bound "
                  f"{bound} KiB", f"{growth:+d} KiB <= {bound} KiB")
    else:
        rep.check(True, "churn-rss", "", f"{growth:+d} KiB, reported only")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rss-slack-kib", type=int, default=0)
    ap.add_argument("--settle", type=float, default=30)
    args = ap.parse_args()
    rep = Report()
    info(f"seed {args.seed}")
    try:
        asyncio.run(run(args, rep))
    except (OSError, asyncio.TimeoutError, KeyError) as e:
        rep.check(False, "churn-run", repr(e))
    print(f"{rep.passed} passed, {rep.failed} failed", flush=True)
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
