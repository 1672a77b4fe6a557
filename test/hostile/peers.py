"""Hostile WebSocket peers for test/hostile/test-*.sh, on raw sockets.

Usage: python3 peers.py SCENARIO --port PORT [--ca CERT.pem] [options]

Each scenario attacks a running hostile-server (hostile-server.c), checks
what the attacked server reports through GET /stats, and prints "ok NAME"
or "FAIL NAME: WHY" per check, "info: ..." lines with the figures, and
"N passed, M failed" last. Exit status 0 only if nothing failed.

Scenarios:
  never-reads        a peer that asks for an endless push and never reads
  never-reads-bcast  a peer that never reads while /broadcast fills it
  ping-flood         a peer that sends pings without reading its pongs
  slowloris          handshakes trickled a byte a second, idle sockets
  frames             impossible lengths, 1-byte frames, a close inside a
                     fragmented message, a reset in the middle of a frame
  tls-vanish         TLS peers that go away without close_notify

Every wait is bounded; nothing here runs longer than a few minutes even
against a server that never answers.

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""
import argparse
import base64
import errno
import hashlib
import os
import selectors
import socket
import ssl
import struct
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
KIB = 1024
MIB = 1024 * 1024


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name, info=None):
        self.passed += 1
        print(f"ok {name}" + (f" ({info})" if info else ""), flush=True)

    def fail(self, name, why):
        self.failed += 1
        print(f"FAIL {name}: {why}", flush=True)

    def check(self, cond, name, why, info=None):
        if cond:
            self.ok(name, info)
        else:
            self.fail(name, why)
        return cond

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


def info(text):
    print(f"info: {text}", flush=True)


# ------------------------------------------------------------------ server

class Server:
    """Where the hostile-server listens, and its plain HTTP side."""

    def __init__(self, port, ca=None):
        self.port = port
        self.ctx = None
        if ca:
            self.ctx = ssl.create_default_context(cafile=ca)

    def tcp(self, timeout=10, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect(), so that the window is small from the start.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", self.port))
        return s

    def wrap(self, s):
        if self.ctx:
            return self.ctx.wrap_socket(s, server_hostname="localhost")
        return s

    def get(self, path, timeout=20):
        """GET path; returns (status, body). Raises OSError on failure."""
        s = self.wrap(self.tcp(timeout))
        try:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Connection: close\r\n\r\n".encode())
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(data) < 1 * MIB:
                try:
                    chunk = s.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        parts = head.split(b" ", 2)
        if len(parts) < 2:
            raise OSError(f"no HTTP answer to GET {path}: {data[:80]!r}")
        return int(parts[1]), body.decode("utf-8", "replace")

    def stats(self):
        status, body = self.get("/stats")
        if status != 200:
            raise OSError(f"GET /stats: {status}")
        d = {}
        for line in body.splitlines():
            k, _, v = line.partition(" ")
            if v.strip().lstrip("-").isdigit():
                d[k] = int(v)
        return d

    def wait_stats(self, cond, timeout):
        """Poll /stats until cond(stats) or the timeout; the last stats."""
        deadline = time.monotonic() + timeout
        st = self.stats()
        while not cond(st) and time.monotonic() < deadline:
            time.sleep(0.05)
            st = self.stats()
        return st


def errors_total(st):
    return sum(v for k, v in st.items() if k.startswith("error."))


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def summary(st, prefix):
    return " ".join(f"{k}={v}" for k, v in sorted(st.items())
                    if k.startswith(prefix))


# ------------------------------------------------------------------ frames

def mask_bytes(data, key):
    if not data or key == b"\0\0\0\0":
        return bytes(data)
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^
            int.from_bytes(k, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, mask=True, length=None, key=None):
    """One frame; length= lies about the payload length in the header."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    if key is None:
        key = os.urandom(4)
    return hdr + key + mask_bytes(payload, key)


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Closed(Exception):
    """The transport ended (EOF, reset, or a TLS error)."""


class WS:
    """A WebSocket client made by hand: the handshake, then raw frames."""

    def __init__(self, srv, rcvbuf=None, timeout=10):
        self.srv = srv
        raw = srv.tcp(timeout, rcvbuf)
        self.sock = srv.wrap(raw)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: " + key + b"\r\n"
                          b"Sec-WebSocket-Version: 13\r\n\r\n")
        self.buf = bytearray()
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 64 * KIB:
                raise OSError("handshake answer too long")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("the server closed during the handshake")
            self.buf += chunk
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 101"):
            raise OSError(f"handshake refused: {lines[0]!r}")
        want = base64.b64encode(hashlib.sha1(key + GUID).digest())
        accept = [ln.split(b":", 1)[1].strip() for ln in lines[1:]
                  if ln.lower().startswith(b"sec-websocket-accept:")]
        if accept != [want]:
            raise OSError(f"bad Sec-WebSocket-Accept {accept!r}")

    def send(self, data):
        self.sock.sendall(data)

    def send_text(self, text):
        self.send(frame(OP_TEXT, text.encode()))

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(max(65536, min(n - len(self.buf),
                                                      4 * MIB)))
            except socket.timeout:
                raise TimeoutError("no frame in time") from None
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as e:
                raise Closed(repr(e)) from None
            if not chunk:
                raise Closed("EOF")
            self.buf += chunk

    def recv_frame(self, timeout=10):
        """(fin, opcode, payload) of the next frame from the server."""
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        hlen = 2
        if n == 126:
            self._fill(4, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            hlen = 4
        elif n == 127:
            self._fill(10, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            hlen = 10
        if b1 & 0x80:
            raise OSError("masked frame from the server")
        self._fill(hlen + n, deadline)
        payload = bytes(self.buf[hlen:hlen + n])
        del self.buf[:hlen + n]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_message(self, timeout=10):
        """(opcode, payload) of the next data message or close frame."""
        deadline = time.monotonic() + timeout
        parts, op = [], None
        while True:
            fin, opcode, payload = self.recv_frame(
                max(0.01, deadline - time.monotonic()))
            if opcode == OP_CLOSE:
                return OP_CLOSE, payload
            if opcode in (OP_PING, OP_PONG):
                continue
            if op is None:
                op = opcode
            parts.append(payload)
            if fin:
                return op, b"".join(parts)

    def expect_close(self, timeout=10):
        """The close code the server sent (None if the transport ended
        first), skipping any data before it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                op, payload = self.recv_message(
                    max(0.01, deadline - time.monotonic()))
            except (Closed, TimeoutError):
                return None
            if op == OP_CLOSE:
                return struct.unpack("!H", payload[:2])[0] \
                    if len(payload) >= 2 else 1005
        return None

    def wait_eof(self, timeout=10):
        """Read and drop until the server ends the transport. True if it
        did within the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                return False
            except (OSError, ssl.SSLError):
                return True
        return False

    def echo(self, text, timeout=10):
        """Send text and wait for its echo. True if it came."""
        try:
            self.send_text(text)
            op, payload = self.recv_message(timeout)
        except (OSError, TimeoutError, Closed):
            return False
        return op == OP_TEXT and payload == text.encode()

    def close(self, code=1000, timeout=10):
        """An orderly close; the code echoed by the server or None."""
        try:
            self.send(frame(OP_CLOSE, close_payload(code)))
            got = self.expect_close(timeout)
            self.wait_eof(timeout)
        except OSError:
            got = None
        self.sock.close()
        return got

    def reset(self):
        """Go away with a TCP reset (SO_LINGER 0), no close frame, no
        close_notify."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
        self.sock.close()

    def vanish(self):
        """Go away with a FIN but no close frame and no close_notify.
        SSLSocket.shutdown() drops the TLS layer without a word."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def check_rss(rep, args, name, growth):
    """The server's RSS growth against --rss-bound-kib (0: only report it,
    for a server under valgrind)."""
    bound = args.rss_bound_kib
    if bound <= 0:
        rep.ok(name, f"grew {growth} KiB, reported only")
    else:
        rep.check(growth < bound, name,
                  f"RSS grew by {growth} KiB (bound {bound} KiB)",
                  f"grew {growth} KiB < {bound} KiB")


def check_live(rep, srv, name, want, timeout=15):
    st = srv.wait_stats(lambda s: s.get("live") == want, timeout)
    rep.check(st.get("live") == want, name,
              f"{st.get('live')} WebSockets live, not {want}")
    return st


# ------------------------------------------------------------- never-reads

def never_reads(srv, rep, args):
    """A peer asks for an endless push and never reads. The server holds
    at most the max outgoing buffer for it, refuses a send, fails it with
    1008, and another client is answered all along."""
    other = WS(srv)
    rep.check(other.echo("before"), "never-reads-other-echo-before",
              "no echo")
    st0 = srv.stats()
    max_out = st0["max_out"]
    info(f"max outgoing buffer {max_out} bytes, server RSS "
         f"{st0['rss_kb']} KiB before")
    slow = WS(srv, rcvbuf=4096)
    slow.send_text(f"cmd:push:{args.push_size}")
    peak = st0["rss_kb"]
    answered = asked = 0
    st = st0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        asked += 1
        if other.echo(f"meanwhile-{asked}", 10):
            answered += 1
        st = srv.stats()
        peak = max(peak, st["rss_kb"])
        if st.get("close.1008", 0) > st0.get("close.1008", 0):
            break
        time.sleep(0.05)
    info(f"server RSS peak {peak} KiB, growth {peak - st0['rss_kb']} KiB; "
         f"largest buffered amount {st['max_buffered']} bytes; "
         f"{delta(st0, st, 'message_bytes')} bytes of messages")
    rep.check(delta(st0, st, "send_refused") == 1, "never-reads-send-refused",
              f"send_refused went from {st0['send_refused']} to "
              f"{st['send_refused']}")
    rep.check(delta(st0, st, "error.1.1008") == 1, "never-reads-error-1008",
              f"errors: {summary(st, 'error.')}")
    rep.check(delta(st0, st, "close.1008") == 1, "never-reads-closed-1008",
              f"closes: {summary(st, 'close.')}")
    rep.check(st["max_buffered"] <= max_out, "never-reads-buffer-bounded",
              f"{st['max_buffered']} bytes buffered > {max_out}")
    check_rss(rep, args, "never-reads-rss-bounded", peak - st0["rss_kb"])
    rep.check(answered == asked, "never-reads-other-answered",
              f"{answered} of {asked} echoes came back",
              f"{answered} echoes")
    # The slow peer reads now: what the kernel held, then the end.
    rep.check(slow.wait_eof(30), "never-reads-disconnected",
              "the server did not close the never-reading peer")
    slow.sock.close()
    rep.check(other.echo("after"), "never-reads-other-echo-after", "no echo")
    rep.check(other.close() == 1000, "never-reads-other-close",
              "no close frame 1000")
    check_live(rep, srv, "never-reads-live-0", 0)


def reader_thread(ws, counter, stop):
    """Count the binary messages ws receives until stop is set."""
    while not stop.is_set():
        try:
            op, _ = ws.recv_message(0.5)
        except TimeoutError:
            continue
        except (Closed, OSError):
            return
        if op == OP_BINARY:
            counter[0] += 1
        elif op == OP_CLOSE:
            return


def never_reads_bcast(srv, rep, args):
    """Broadcasts to two readers and one peer that never reads: only the
    latter is refused (1008); the readers get every message."""
    readers = [WS(srv), WS(srv)]
    slow = WS(srv, rcvbuf=4096)
    st0 = srv.wait_stats(lambda s: s["live"] == 3, 10)
    counts = [[0], [0]]
    stop = threading.Event()
    threads = [threading.Thread(target=reader_thread, args=(r, c, stop),
                                daemon=True)
               for r, c in zip(readers, counts)]
    for t in threads:
        t.start()
    # Each call queues 256 KiB for each peer (a quarter of the 1 MiB limit
    # of test-never-reads.sh, so that readers who keep up are never near
    # it): the slow one is full after a few calls; 256 calls would be 64
    # times the limit.
    size, count = 65536, 4
    sent = refused = calls = 0
    peak = st0["rss_kb"]
    try:
        while calls < 256 and refused == 0:
            status, body = srv.get(f"/broadcast?size={size}&count={count}")
            calls += 1
            w = body.split()
            if status != 200 or len(w) != 4:
                rep.fail("never-reads-bcast-answer", f"{status} {body!r}")
                break
            sent += int(w[1])
            refused += int(w[3])
            peak = max(peak, srv.stats()["rss_kb"])
            # Let the readers keep up, as a well-behaved client does.
            deadline = time.monotonic() + 20
            while (min(c[0] for c in counts) < calls * count and
                   time.monotonic() < deadline):
                time.sleep(0.01)
        deadline = time.monotonic() + 20
        while (min(c[0] for c in counts) < calls * count and
               time.monotonic() < deadline):
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    st = srv.wait_stats(lambda s: s.get("close.1008", 0) >
                        st0.get("close.1008", 0), 20)
    info(f"{calls} broadcasts of {count} x {size} bytes: {sent} sends "
         f"taken, {refused} refused; RSS growth {peak - st0['rss_kb']} KiB")
    rep.check(refused == 1, "never-reads-bcast-refused-once",
              f"{refused} sends refused in {calls} broadcasts")
    rep.check(all(c[0] == calls * count for c in counts),
              "never-reads-bcast-readers-got-all",
              f"readers got {[c[0] for c in counts]} of {calls * count}")
    rep.check(delta(st0, st, "close.1008") == 1 and
              delta(st0, st, "error.1.1008") == 1,
              "never-reads-bcast-1008",
              f"closes: {summary(st, 'close.')} errors: "
              f"{summary(st, 'error.')}")
    rep.check(st["max_buffered"] <= st["max_out"],
              "never-reads-bcast-buffer-bounded",
              f"{st['max_buffered']} > {st['max_out']}")
    check_rss(rep, args, "never-reads-bcast-rss-bounded",
              peak - st0["rss_kb"])
    rep.check(delta(st0, st, "drains") >= 2, "never-reads-bcast-drain",
              f"drain fired {delta(st0, st, 'drains')} times")
    rep.check(slow.wait_eof(30), "never-reads-bcast-disconnected",
              "the never-reading peer was not closed")
    slow.sock.close()
    for i, r in enumerate(readers):
        rep.check(r.echo("still-here") and r.close() == 1000,
                  f"never-reads-bcast-reader{i}-fine",
                  "no echo or no close")
    check_live(rep, srv, "never-reads-bcast-live-0", 0)


def hold(srv, rep, args):
    """Hold an idle WebSocket and one whose output is stuck (2 MiB pushed
    to a peer that does not read) while the server is stopped: then the
    idle one gets a close frame 1001 and the stuck one is dropped. Writes
    args.ready_file once both are in place; the caller then sends the
    server SIGTERM."""
    idle = WS(srv)
    stuck = WS(srv, rcvbuf=4096)
    stuck.send_text("cmd:push:65536:32")
    st = srv.wait_stats(lambda s: s["live"] == 2 and
                        s["message_bytes"] >= 17 and
                        s["max_buffered"] > 0, 10)
    rep.check(st["live"] == 2 and st["max_buffered"] > 0, "hold-ready",
              f"live {st['live']}, buffered {st['max_buffered']}")
    with open(args.ready_file, "w") as f:
        f.write("ready\n")
    code = idle.expect_close(args.timeout)
    rep.check(code == 1001, "hold-idle-going-away",
              f"the idle WebSocket got {code}, not 1001")
    rep.check(idle.wait_eof(10), "hold-idle-closed", "no EOF after 1001")
    idle.sock.close()
    got = 0
    ended = False
    deadline = time.monotonic() + args.timeout
    stuck.sock.settimeout(1)
    while time.monotonic() < deadline:
        try:
            chunk = stuck.sock.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            ended = True
            break
        if not chunk:
            ended = True
            break
        got += len(chunk)
    stuck.sock.close()
    info(f"the stuck WebSocket read {got} bytes, then the end")
    rep.check(ended, "hold-stuck-dropped", "the stuck WebSocket stayed open")


# ------------------------------------------------------------------ ping flood

PING_PAYLOAD = 125
PING_FRAME = 2 + 4 + PING_PAYLOAD


def pings(seq, n):
    """n masked pings numbered from seq, with a zero mask key (legal on the
    wire, and the server cannot tell)."""
    pad = b"f" * (PING_PAYLOAD - 8)
    hdr = bytes([0x80 | OP_PING, 0x80 | PING_PAYLOAD, 0, 0, 0, 0])
    return b"".join(hdr + struct.pack("!Q", seq + i) + pad for i in range(n))


def ping_flood(srv, rep, args):
    """Pings from a peer that does not read: past the max outgoing buffer
    the server stops reading, TCP pushes back, the server's memory stays
    bounded; once the peer reads it gets every pong, in order."""
    other = WS(srv)
    rep.check(other.echo("before"), "ping-flood-other-echo-before", "no echo")
    st0 = srv.stats()
    max_out = st0["max_out"]
    flooder = WS(srv, rcvbuf=4096)
    s = flooder.sock
    s.setblocking(False)
    limit = args.max_pings
    sent_bytes = 0
    pending = b""
    next_seq = 0
    peak = st0["rss_kb"]
    stalled = False
    answered = asked = 0
    last_progress = last_poll = time.monotonic()
    deadline = last_progress + args.timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        if not pending and next_seq < limit:
            n = min(512, limit - next_seq)
            pending = pings(next_seq, n)
            next_seq += n
        if not pending:
            break
        try:
            n = s.send(pending)
        except BlockingIOError:
            n = 0
        if n:
            pending = pending[n:]
            sent_bytes += n
            last_progress = now
        elif now - last_progress > args.stall:
            stalled = True
            break
        else:
            sel = selectors.DefaultSelector()
            sel.register(s, selectors.EVENT_WRITE)
            sel.select(0.05)
            sel.close()
        if now - last_poll > 0.25:
            last_poll = now
            asked += 1
            answered += other.echo(f"meanwhile-{asked}", 10)
            peak = max(peak, srv.stats()["rss_kb"])
    st = srv.stats()
    peak = max(peak, st["rss_kb"])
    total = (sent_bytes + PING_FRAME - 1) // PING_FRAME
    info(f"{total} pings ({sent_bytes} bytes) written before the writes "
         f"stalled; server RSS growth {peak - st0['rss_kb']} KiB; largest "
         f"buffered amount {st['max_buffered']} bytes (max {max_out})")
    rep.check(stalled, "ping-flood-pushed-back",
              f"the server read all {total} pings without pushing back")
    rep.check(st["max_buffered"] <= max_out + 2 + PING_PAYLOAD,
              "ping-flood-buffer-bounded",
              f"{st['max_buffered']} bytes buffered, max {max_out} "
              f"+ one pong")
    check_rss(rep, args, "ping-flood-rss-bounded", peak - st0["rss_kb"])
    rep.check(answered == asked, "ping-flood-other-answered",
              f"{answered} of {asked} echoes came back", f"{answered} echoes")

    # Now read: every pong in order, then the echo of a message sent
    # behind the pings.
    tail = pending[:(-sent_bytes) % PING_FRAME] + \
        frame(OP_TEXT, b"after-flood")
    pongs = 0
    in_order = True
    echoed = False
    ended = None
    buf = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and not (echoed and pongs >= total):
        for _, ev in sel.select(0.5):
            if ev & selectors.EVENT_WRITE and tail:
                try:
                    tail = tail[s.send(tail):]
                except BlockingIOError:
                    pass
                if not tail:
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    chunk = s.recv(1 << 20)
                except BlockingIOError:
                    continue
                except OSError as e:
                    ended = repr(e)
                    break
                if not chunk:
                    ended = "EOF"
                    break
                buf += chunk
        if ended:
            break
        # Parse whole frames.
        off = 0
        while len(buf) - off >= 2:
            n = buf[off + 1] & 0x7F
            h = 2 + (2 if n == 126 else 8 if n == 127 else 0)
            if len(buf) - off < h:
                break
            if n == 126:
                n = struct.unpack_from("!H", buf, off + 2)[0]
            elif n == 127:
                n = struct.unpack_from("!Q", buf, off + 2)[0]
            if len(buf) - off < h + n:
                break
            op = buf[off] & 0x0F
            payload = bytes(buf[off + h:off + h + n])
            off += h + n
            if op == OP_PONG:
                if struct.unpack("!Q", payload[:8])[0] != pongs:
                    in_order = False
                pongs += 1
            elif op == OP_TEXT and payload == b"after-flood":
                echoed = True
            elif op == OP_CLOSE:
                ended = "close frame " + repr(payload[:2])
        del buf[:off]
        if ended:
            break
    sel.close()
    info(f"after reading: {pongs} pongs of {total}, echo "
         f"{'received' if echoed else 'missing'}"
         + (f", ended: {ended}" if ended else ""))
    rep.check(pongs == total and in_order, "ping-flood-all-pongs",
              f"{pongs} pongs for {total} pings, in order: {in_order}")
    rep.check(echoed, "ping-flood-still-works",
              f"no echo after the flood ({ended or 'timeout'})")
    s.setblocking(True)
    flooder.sock = s
    rep.check(flooder.close() == 1000, "ping-flood-close",
              "no close frame 1000")
    rep.check(other.close() == 1000, "ping-flood-other-close",
              "no close frame 1000")
    st = srv.stats()
    rep.check(st["max_buffered"] <= max_out + 2 + PING_PAYLOAD,
              "ping-flood-buffer-bounded-after",
              f"{st['max_buffered']} bytes buffered while reading resumed")
    check_live(rep, srv, "ping-flood-live-0", 0)


# ------------------------------------------------------------------ slowloris

HANDSHAKE = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             b"Sec-WebSocket-Version: 13\r\n"
             b"X-Padding: " + b"s" * 400 + b"\r\n\r\n")


class Loris:
    """One slow socket: it trickles a byte a second, or stays silent."""

    def __init__(self, sock, trickle, payload):
        self.sock = sock
        self.trickle = trickle
        self.payload = payload
        self.pos = 0
        self.opened = time.monotonic()
        self.closed = None
        self.how = None


def tls_client_hello(ctx):
    """The bytes of a TLS ClientHello, to trickle."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def open_lorises(srv, n, trickle_every, deadline):
    """n sockets, every trickle_every-th one trickling, connected a batch
    at a time. TLS: tricklers send their ClientHello a byte at a time."""
    out = []
    payload = HANDSHAKE
    if srv.ctx:
        payload = tls_client_hello(srv.ctx)
    while len(out) < n and time.monotonic() < deadline:
        batch = []
        for _ in range(min(100, n - len(out) - len(batch))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", srv.port))
            batch.append(s)
        sel = selectors.DefaultSelector()
        for s in batch:
            sel.register(s, selectors.EVENT_WRITE)
        waiting = set(batch)
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(1):
                sel.unregister(key.fileobj)
                waiting.discard(key.fileobj)
        sel.close()
        for s in batch:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0 or \
                    s in waiting:
                raise OSError("a slow socket did not connect")
            out.append(Loris(s, len(out) % trickle_every == 0, payload))
    return out


def slowloris(srv, rep, args):
    """args.n sockets at once, half trickling a handshake a byte a second,
    half silent: the server drops every one of them by its timeout, and
    answers a WebSocket client and a plain GET meanwhile."""
    p = "slowloris-tls" if srv.ctx else "slowloris"
    st0 = srv.stats()
    t0 = time.monotonic()
    bound = args.drop_bound
    lorises = open_lorises(srv, args.n, 2, t0 + 60)
    opened = time.monotonic()
    rep.check(len(lorises) == args.n, f"{p}-opened",
              f"only {len(lorises)} of {args.n} sockets connected",
              f"{args.n} sockets in {opened - t0:.1f} s")
    sel = selectors.DefaultSelector()
    for lo in lorises:
        sel.register(lo.sock, selectors.EVENT_READ, lo)
    open_count = len(lorises)
    ws = quiet = None
    ws_ok = get_ok = None
    open_at_probe = None
    last_tick = 0.0
    deadline = opened + bound + 5
    while open_count and time.monotonic() < deadline:
        now = time.monotonic()
        if now - last_tick >= 1.0:
            last_tick = now
            for lo in lorises:
                if lo.closed is None and lo.trickle and \
                        lo.pos < len(lo.payload):
                    try:
                        lo.sock.send(lo.payload[lo.pos:lo.pos + 1])
                        lo.pos += 1
                    except OSError:
                        pass
        if ws_ok is None and now - opened >= 0.5:
            # While they hang: a WebSocket echoes, a GET is answered.
            open_at_probe = open_count
            try:
                ws = WS(srv)
                ws_ok = ws.echo("through-the-crowd")
                # Sends nothing after its handshake until the deadline
                # has passed.
                quiet = WS(srv)
                ws_at = time.monotonic()
            except (OSError, TimeoutError) as e:
                ws_ok = False
                info(f"WebSocket client failed: {e!r}")
            try:
                get_ok = srv.get("/health", 10)[0] == 200
            except OSError as e:
                get_ok = False
                info(f"GET /health failed: {e!r}")
        for key, _ in sel.select(0.1):
            lo = key.data
            try:
                data = lo.sock.recv(4096)
            except OSError as e:
                data = b""
                lo.how = e.__class__.__name__
            if data:
                lo.how = "answered"
                continue  # an error page; the close comes next
            lo.closed = time.monotonic()
            lo.how = lo.how or "EOF"
            sel.unregister(lo.sock)
            lo.sock.close()
            open_count -= 1
    sel.close()
    for lo in lorises:
        if lo.closed is None:
            lo.sock.close()
    drops = sorted(lo.closed - lo.opened for lo in lorises
                   if lo.closed is not None)
    trickled = [lo.closed - lo.opened for lo in lorises
                if lo.closed is not None and lo.trickle]
    idle = [lo.closed - lo.opened for lo in lorises
            if lo.closed is not None and not lo.trickle]
    if drops:
        info(f"dropped {len(drops)} of {len(lorises)}: after "
             f"{drops[0]:.2f} s at the earliest, median "
             f"{drops[len(drops) // 2]:.2f} s, {drops[-1]:.2f} s at the "
             f"latest (tricklers: {max(trickled, default=0):.2f} s, idle: "
             f"{max(idle, default=0):.2f} s at the latest); "
             f"{open_at_probe} still open when the clients were served; "
             f"ended by " + ", ".join(
                 f"{h}: {sum(1 for lo in lorises if lo.how == h)}"
                 for h in sorted({lo.how for lo in lorises if lo.how})))
    rep.check(open_count == 0, f"{p}-all-dropped",
              f"{open_count} of {len(lorises)} sockets still open "
              f"{bound + 5} s after they connected")
    rep.check(bool(drops) and drops[-1] <= bound, f"{p}-dropped-in-time",
              f"the last one took {drops[-1] if drops else -1:.1f} s "
              f"(bound {bound} s)")
    rep.check(all(lo.pos < len(lo.payload) for lo in lorises if lo.trickle),
              f"{p}-never-finished",
              "a trickled handshake was complete: the test is too slow")
    rep.check(bool(ws_ok), f"{p}-websocket-echo",
              "a normal WebSocket client got no echo among them")
    rep.check(bool(get_ok), f"{p}-http-get",
              "GET /health was not answered among them")
    # The WebSockets are older than the request deadline: the guard
    # leaves WebSockets alone, whether they spoke since the hand-over or
    # not.
    if ws and quiet:
        time.sleep(max(0, ws_at + args.guard + 0.5 - time.monotonic()))
        rep.check(ws.echo("after-the-deadline") and
                  quiet.echo("after-the-deadline"), f"{p}-websocket-survives",
                  "a WebSocket did not outlive the request deadline")
        rep.check(ws.close() == 1000 and quiet.close() == 1000,
                  f"{p}-websocket-close", "no close frame 1000")
    st = srv.stats()
    rep.check(delta(st0, st, "opened") == (2 if quiet else 1 if ws else 0),
              f"{p}-no-loris-upgraded",
              f"{delta(st0, st, 'opened')} WebSockets opened")
    try:
        rep.check(srv.get("/health")[0] == 200, f"{p}-http-after",
                  "not answered after")
    except OSError as e:
        rep.fail(f"{p}-http-after", repr(e))
    check_live(rep, srv, f"{p}-live-0", 0)


def idle_only(srv, rep, args):
    """Silent sockets on a server with only evhttp_set_timeout: dropped."""
    t0 = time.monotonic()
    lorises = open_lorises(srv, args.n, 1 << 30, t0 + 60)
    for lo in lorises:
        lo.trickle = False
    sel = selectors.DefaultSelector()
    for lo in lorises:
        sel.register(lo.sock, selectors.EVENT_READ, lo)
    left = len(lorises)
    deadline = time.monotonic() + args.drop_bound + 5
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            lo = key.data
            try:
                if lo.sock.recv(4096):
                    continue
            except OSError:
                pass
            lo.closed = time.monotonic()
            sel.unregister(lo.sock)
            lo.sock.close()
            left -= 1
    sel.close()
    for lo in lorises:
        if lo.closed is None:
            lo.sock.close()
    last = max((lo.closed - lo.opened for lo in lorises if lo.closed),
               default=-1)
    info(f"{len(lorises) - left} idle sockets dropped by the idle timeout, "
         f"the last after {last:.2f} s")
    rep.check(left == 0 and last <= args.drop_bound, "idle-dropped",
              f"{left} still open, last drop {last:.1f} s")
    try:
        rep.check(srv.get("/health")[0] == 200, "idle-http-after",
                  "not answered")
    except OSError as e:
        rep.fail("idle-http-after", repr(e))


# ------------------------------------------------------------------ frames

def bad_length(srv, rep, name, length, want):
    st0 = srv.stats()
    ws = WS(srv)
    hdr = struct.pack("!BBQ", 0x80 | OP_BINARY, 0x80 | 127, length)
    ws.send(hdr + os.urandom(4) + b"x" * 64)
    code = ws.expect_close(10)
    rep.check(code == want, f"{name}-close-{want}",
              f"the server answered {code}")
    rep.check(ws.wait_eof(10), f"{name}-closed", "the transport stayed open")
    ws.sock.close()
    st = srv.wait_stats(lambda s: s["live"] == 0, 10)
    rep.check(delta(st0, st, f"error.1.{want}") == 1 and
              delta(st0, st, f"close.{want}") == 1 and st["live"] == 0,
              f"{name}-server-saw-{want}",
              f"errors: {summary(st, 'error.')} closes: "
              f"{summary(st, 'close.')} live {st['live']}")


def one_byte_frames(n, pattern):
    """n bytes of pattern as a binary message in n 1-byte frames, masked
    with zero keys."""
    buf = bytearray(7 * n)
    buf[1::7] = b"\x81" * n
    buf[6::7] = pattern
    buf[0] = OP_BINARY                  # no FIN: first fragment
    buf[7 * (n - 1)] = 0x80 | OP_CONT   # FIN: last fragment
    return buf


def sender(sock, data, stop, result):
    """Write data in 1 MiB slices until done, stop, or an error."""
    view = memoryview(data)
    off = 0
    try:
        while off < len(view) and not stop.is_set():
            sock.sendall(view[off:off + MIB])
            off += MIB
        result.append("done")
    except OSError as e:
        result.append(repr(e))


def trickled_message(srv, rep, args, limit, want_echo):
    name = "trickle-16m-" + ("echo" if want_echo else "1009")
    n = 16 * MIB
    pattern = (bytes(range(251)) * (n // 251 + 1))[:n]
    st0 = srv.stats()
    ws = WS(srv, timeout=30)
    ws.send_text(f"cmd:set:max-message:{limit}")
    op, payload = ws.recv_message(10)
    if payload != f"set:max-message:{limit}".encode():
        rep.fail(name, f"cmd:set answered {payload!r}")
        return
    data = one_byte_frames(n, pattern)
    stop = threading.Event()
    result = []
    t = threading.Thread(target=sender, args=(ws.sock, data, stop, result),
                         daemon=True)
    t0 = time.monotonic()
    t.start()
    try:
        op, payload = ws.recv_message(args.timeout)
    except (TimeoutError, Closed, OSError) as e:
        op, payload = None, repr(e).encode()
    stop.set()
    took = time.monotonic() - t0
    if want_echo:
        t.join(30)
        info(f"16 MiB in 1-byte frames echoed in {took:.1f} s")
        rep.check(op == OP_BINARY and payload == pattern, name,
                  f"got opcode {op} with {len(payload)} bytes, "
                  f"intact: {payload == pattern}")
        rep.check(ws.close() == 1000, name + "-close", "no close 1000")
        st = srv.wait_stats(lambda s: s["live"] == 0, 10)
        rep.check(st.get("largest_message", 0) >= n and
                  delta(st0, st, "close.1000") == 1,
                  name + "-server-saw-it",
                  f"largest message {st.get('largest_message')}, closes "
                  f"{summary(st, 'close.')}")
    else:
        code = struct.unpack("!H", payload[:2])[0] \
            if op == OP_CLOSE and len(payload) >= 2 else None
        rep.check(code == 1009, name,
                  f"the server answered {op} {payload[:40]!r}")
        ws.wait_eof(10)
        ws.sock.close()
        t.join(30)
        st = srv.wait_stats(lambda s: s["live"] == 0, 10)
        rep.check(delta(st0, st, "error.1.1009") == 1 and
                  delta(st0, st, "close.1009") == 1 and
                  delta(st0, st, "messages") == 1,
                  name + "-server-saw-1009",
                  f"errors {summary(st, 'error.')} closes "
                  f"{summary(st, 'close.')} messages "
                  f"{delta(st0, st, 'messages')} (the cmd only)")
    rep.check(srv.stats()["live"] == 0, name + "-live-0", "a WebSocket left")


def close_mid_message(srv, rep):
    """A close frame between the fragments of a message (legal: control
    frames may be interleaved): answered with the close, and the message
    never delivered, not even with a last fragment behind the close."""
    st0 = srv.stats()
    ws = WS(srv)
    ws.send(frame(OP_TEXT, b"hel", fin=False) +
            frame(OP_CONT, b"lo ", fin=False) +
            frame(OP_CLOSE, close_payload(1000, b"bye")) +
            frame(OP_CONT, b"world", fin=True))
    try:
        op, payload = ws.recv_message(10)
    except (TimeoutError, Closed) as e:
        op, payload = None, repr(e).encode()
    rep.check(op == OP_CLOSE and payload == close_payload(1000, b"bye"),
              "close-mid-message-echoed", f"got {op} {payload!r}")
    rep.check(ws.wait_eof(10), "close-mid-message-closed",
              "the transport stayed open")
    ws.sock.close()
    st = srv.wait_stats(lambda s: s["live"] == 0, 10)
    rep.check(delta(st0, st, "messages") == 0, "close-mid-message-no-message",
              f"{delta(st0, st, 'messages')} messages delivered")
    rep.check(delta(st0, st, "close.1000") == 1 and
              errors_total(st) == errors_total(st0) and st["live"] == 0,
              "close-mid-message-server-saw-1000",
              f"closes {summary(st, 'close.')} errors "
              f"{summary(st, 'error.')} live {st['live']}")


def reset_mid_frame(srv, rep, tag):
    """A peer announces 1000 bytes, sends 100 and resets: the server
    reports an error, closes with 1006, frees it; others are fine."""
    other = WS(srv)
    st0 = srv.wait_stats(lambda s: s["live"] == 1, 10)
    ws = WS(srv)
    key = os.urandom(4)
    ws.send(frame(OP_BINARY, b"r" * 1000, key=key)[:2 + 2 + 4 + 100])
    srv.wait_stats(lambda s: s["live"] == 2, 10)
    ws.reset()
    st = srv.wait_stats(lambda s: s["live"] == 1, 10)
    errs = errors_total(st) - errors_total(st0)
    rep.check(delta(st0, st, "close.1006") == 1 and st["live"] == 1,
              f"reset-mid-frame-{tag}-server-saw-1006",
              f"closes {summary(st, 'close.')} live {st['live']}")
    # A reset is a system error, over TLS as over TCP: ECONNRESET in
    # WSEV_DOMAIN_ERRNO (2), reported once.
    rep.check(delta(st0, st, f"error.2.{errno.ECONNRESET}") == 1 and
              errs == 1, f"reset-mid-frame-{tag}-error-econnreset",
              f"errors {summary(st, 'error.')} (+{errs}), not one "
              f"error.2.{errno.ECONNRESET}")
    rep.check(other.echo("unaffected") and other.close() == 1000,
              f"reset-mid-frame-{tag}-other-fine", "no echo or close")
    check_live(rep, srv, f"reset-mid-frame-{tag}-live-0", 0)


def frames(srv, rep, args):
    bad_length(srv, rep, "len-2^63", 1 << 63, 1002)
    bad_length(srv, rep, "len-2^64-1", (1 << 64) - 1, 1002)
    bad_length(srv, rep, "len-2^63-1", (1 << 63) - 1, 1009)
    bad_length(srv, rep, "len-2^32", 1 << 32, 1009)
    close_mid_message(srv, rep)
    reset_mid_frame(srv, rep, "plain")
    trickled_message(srv, rep, args, 17 * MIB, True)
    trickled_message(srv, rep, args, 1 * MIB, False)


def tls_vanish(srv, rep, args):
    """TLS peers that go away with a bare FIN (no close_notify), idle and
    in the middle of a frame, and one that resets mid-frame."""
    for how in ("idle", "mid-frame"):
        other = WS(srv)
        st0 = srv.wait_stats(lambda s: s["live"] == 1, 10)
        ws = WS(srv)
        rep.check(ws.echo("hi"), f"tls-vanish-{how}-echo", "no echo")
        if how == "mid-frame":
            ws.send(frame(OP_BINARY, b"v" * 1000)[:2 + 2 + 4 + 100])
            time.sleep(0.2)  # the partial frame first, then the FIN
        ws.vanish()
        st = srv.wait_stats(lambda s: s["live"] == 1, 15)
        errs = errors_total(st) - errors_total(st0)
        rep.check(delta(st0, st, "close.1006") == 1 and st["live"] == 1,
                  f"tls-vanish-{how}-server-saw-1006",
                  f"closes {summary(st, 'close.')} live {st['live']}")
        # A FIN without close_notify: OpenSSL's "unexpected eof while
        # reading" (WSEV_DOMAIN_TLS, SSL_R_UNEXPECTED_EOF_WHILE_READING
        # 294), or wsev's "closed without a close frame" (1006); once.
        rep.check(errs == 1 and (delta(st0, st, "error.3.294") == 1 or
                                 delta(st0, st, "error.1.1006") == 1),
                  f"tls-vanish-{how}-error",
                  f"errors {summary(st, 'error.')} (+{errs})",
                  "errors " + summary(st, "error."))
        rep.check(other.echo("unaffected") and other.close() == 1000,
                  f"tls-vanish-{how}-other-fine", "no echo or close")
        check_live(rep, srv, f"tls-vanish-{how}-live-0", 0)
    reset_mid_frame(srv, rep, "tls")


# ------------------------------------------------------------------ main

SCENARIOS = {
    "never-reads": never_reads,
    "never-reads-bcast": never_reads_bcast,
    "ping-flood": ping_flood,
    "hold": hold,
    "slowloris": slowloris,
    "idle": idle_only,
    "frames": frames,
    "tls-vanish": tls_vanish,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", help="the server's certificate: use TLS")
    ap.add_argument("--timeout", type=float, default=60,
                    help="bound of each long wait, in seconds")
    ap.add_argument("--rss-bound-kib", type=int, default=16 * 1024,
                    help="the most the server's RSS may grow (0: report)")
    ap.add_argument("--ready-file", help="hold: created once ready")
    ap.add_argument("--push-size", type=int, default=65536)
    ap.add_argument("--max-pings", type=int, default=200000)
    ap.add_argument("--stall", type=float, default=2.0,
                    help="seconds without progress that count as pushed back")
    ap.add_argument("-n", type=int, default=1000,
                    help="slow sockets for slowloris/idle")
    ap.add_argument("--guard", type=float, default=2,
                    help="the server's request deadline (--guard-ms)")
    ap.add_argument("--drop-bound", type=float, default=20,
                    help="seconds within which slow sockets must be dropped")
    args = ap.parse_args()
    rep = Report()
    srv = Server(args.port, args.ca)
    try:
        SCENARIOS[args.scenario](srv, rep, args)
    except (OSError, TimeoutError, Closed, KeyError) as e:
        rep.fail(f"{args.scenario}-aborted", repr(e))
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
