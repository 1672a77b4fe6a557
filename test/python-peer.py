#!/usr/bin/python3
"""Interop test: wsev (through test/raw-peer) against Python websockets.

    /usr/bin/python3 test/python-peer.py PATH-TO-raw-peer

There is no HTTP handshake: both sides start in state OPEN on a plain TCP
connection. The independent peer is the sans-I/O
websockets.connection.Connection (websockets 10.4), which parses and checks
every frame raw-peer sends (masking, opcodes, close codes); deliberately
malformed input is written on the socket as raw bytes.

Every scenario runs in both roles:
  py-client  Python is the client (masks), raw-peer --role server;
  py-server  Python is the server (does not mask), raw-peer --role client.

The scenarios: echo of text and binary messages from 0 bytes to 1 MiB;
fragmented messages with a ping between fragments; closes started by either
side, with the TCP close coming from the server; pings from raw-peer and
pongs to it; protocol violations (each must make raw-peer fail the
connection with the right close code, report the error, and never emit
"closing"); a peer that drops TCP; and, beyond that list, Autobahn-style
edge cases: frames trickled byte by byte, pipelined frames, pings, closes
and violations arriving behind megabytes of pending output, every invalid
close code Autobahn tests, and a close handshake that is never answered.

Prints "ok NAME" or "FAIL NAME: WHY" per scenario, then one line
"N passed, M failed"; exits 0 only if nothing failed. Every wait is bounded:
no socket or child read waits longer than TIMEOUT seconds.
"""

import collections
import os
import random
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time

from websockets.connection import SEND_EOF, Connection, Side, State
from websockets.frames import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,
                               OP_TEXT, Close)

TIMEOUT = 10.0
# How long a server waits, before closing TCP, to see whether the client
# wrongly closed first.
CLIENT_CLOSE_GRACE = 0.3
# RFC 6455 §7.1.1 and Autobahn: the TCP close follows the closing handshake
# (or a failure) promptly, not at the end of a close timeout (wsev: 5 s).
PROMPT = 2.0


class Fail(Exception):
    """A scenario failed; the message says why."""


# ---------------------------------------------------------------- raw-peer

class RawPeer:
    """The raw-peer child process and the lines it prints."""

    def __init__(self, exe, role, args):
        self.argv = [exe, "--role", role] + list(args)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE)
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def output(self):
        with self.cond:
            return list(self.lines)

    def wait_line(self, pred, what, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if pred(line):
                        return line
                if self.eof:
                    raise Fail("raw-peer exited (status %s) without printing "
                               "%s; output %r" % (self.proc.poll(), what,
                                                  self.lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail("raw-peer printed no %s within %g s; output %r"
                               % (what, timeout, self.lines))
                self.cond.wait(left)

    def wait_exit(self, timeout=TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fail("raw-peer did not exit within %g s; output %r"
                       % (timeout, self.output()))
        self.thread.join(TIMEOUT)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        # The reader sees EOF once the child is gone; closing the pipe
        # under it would break its read.
        self.thread.join(TIMEOUT)
        if not self.thread.is_alive():
            self.proc.stdout.close()


def check_peer_exit(peer, patterns):
    """raw-peer must exit 0 having printed exactly lines matching patterns
    (regular expressions, whole line), PORT aside."""
    rc = peer.wait_exit(PROMPT)
    lines = [l for l in peer.output() if not l.startswith("PORT ")]
    if rc != 0:
        raise Fail("raw-peer exit status %d (3 is its watchdog), output %r"
                   % (rc, lines))
    ok = len(lines) == len(patterns) and all(
        re.fullmatch(p, l) for p, l in zip(patterns, lines))
    if not ok:
        raise Fail("raw-peer printed %r, expected lines matching %r"
                   % (lines, patterns))


# ---------------------------------------------------------------- the socket

class Session:
    """A websockets sans-I/O Connection on a blocking socket with timeouts."""

    def __init__(self, sock, side):
        self.sock = sock
        self.side = side
        self.conn = Connection(side, state=State.OPEN, max_size=None)
        self.pending = collections.deque()
        self.controls = []		# ping/pong frames seen by recv_message
        self.eof_received = False	# the peer closed its side of TCP
        self.reset = False		# ... with a reset
        self.eof_sent = False
        self.write_error = None
        # When set, a server sending EOF first checks that the client has
        # not closed TCP before us (RFC 6455 §7.1.1: the server closes first).
        self.watch_client_close = False
        self.client_closed_first = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- output

    def flush(self):
        for data in self.conn.data_to_send():
            if data == SEND_EOF:
                self._send_eof()
            elif self.write_error is None:
                try:
                    self.sock.settimeout(TIMEOUT)
                    self.sock.sendall(data)
                except OSError as exc:
                    self.write_error = exc

    def _send_eof(self):
        if self.watch_client_close and not self.eof_received:
            r, _, _ = select.select([self.sock], [], [], CLIENT_CLOSE_GRACE)
            if r:
                try:
                    if self.sock.recv(1, socket.MSG_PEEK) == b"":
                        self.client_closed_first = True
                except ConnectionResetError:
                    self.client_closed_first = True
        self.eof_sent = True
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if self.write_error is None:
                self.write_error = exc

    def send_raw(self, data):
        self.sock.settimeout(TIMEOUT)
        self.sock.sendall(data)

    def send(self, method, *args, **kwargs):
        getattr(self.conn, method)(*args, **kwargs)
        self.flush()

    # -- input

    def _feed(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 18)
        except socket.timeout:
            raise Fail("timed out after %.3g s waiting for the peer"
                       % timeout)
        except ConnectionResetError:
            self.reset = True
            data = b""
        if data:
            self.conn.receive_data(data)
        else:
            self.eof_received = True
            self.conn.receive_eof()
        self.flush()
        exc = self.conn.parser_exc
        if exc is not None and not isinstance(exc, EOFError):
            raise Fail("websockets rejected raw-peer's data: %s: %s"
                       % (type(exc).__name__, exc))
        self.pending.extend(self.conn.events_received())

    def recv_frame(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.pending:
            if self.eof_received:
                raise Fail("raw-peer closed the TCP connection%s while a "
                           "frame was expected"
                           % (" (reset)" if self.reset else ""))
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("timed out after %g s waiting for a frame"
                           % timeout)
            self._feed(left)
        return self.pending.popleft()

    def recv_message(self):
        """The next data message, reassembled: (opcode, bytes). Ping and
        pong frames met on the way go to self.controls."""
        frames = []
        while True:
            f = self.recv_frame()
            if f.opcode in (OP_PING, OP_PONG):
                self.controls.append(f)
                continue
            if f.opcode == OP_CLOSE:
                raise Fail("close frame (%s) where a message was expected"
                           % describe_close(f.data))
            if not frames and f.opcode == OP_CONT:
                raise Fail("continuation frame with no message")
            if frames and f.opcode != OP_CONT:
                raise Fail("new data frame inside a fragmented message")
            frames.append(f)
            if f.fin:
                break
        data = b"".join(f.data for f in frames)
        if frames[0].opcode == OP_TEXT:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Fail("text message from raw-peer is not UTF-8: %s" % exc)
        return frames[0].opcode, data

    def expect_close(self):
        """The next frame must be a close frame; returns its Close."""
        f = self.recv_frame()
        if f.opcode != OP_CLOSE:
            raise Fail("expected a close frame, got %s" % short_frame(f))
        return Close.parse(f.data)

    def expect_eof(self, timeout=TIMEOUT):
        """raw-peer must close the TCP connection (data after our close
        handshake is ignored, as websockets ignores it)."""
        deadline = time.monotonic() + timeout
        while not self.eof_received:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("raw-peer did not close the TCP connection within "
                           "%g s" % timeout)
            try:
                self._feed(left)
            except Fail as exc:
                if "timed out" in str(exc):
                    raise Fail("raw-peer did not close the TCP connection "
                               "within %g s" % timeout)
                raise


def describe_close(data):
    try:
        return str(Close.parse(data))
    except Exception as exc:  # a close frame websockets itself refuses
        return "unparsable %r (%s)" % (data, exc)


def short_frame(f):
    data = f.data if len(f.data) <= 40 else f.data[:40] + b"..."
    return "%s frame fin=%d %d bytes %r" % (f.opcode.name, f.fin, len(f.data),
                                            data)


# ---------------------------------------------------------------- raw frames

def raw_frame(byte0, payload, mask):
    """One frame with the given first byte (FIN, RSV, opcode), shortest
    length encoding, masked with a random key if mask."""
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", byte0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", byte0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", byte0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


# ---------------------------------------------------------------- setup

def open_pair(exe, role, args, rcvbuf=None):
    """Start raw-peer in the opposite role and connect to it. rcvbuf: a
    small receive buffer for Python's socket, so that what Python does not
    read piles up in raw-peer's output instead of the kernel's buffers."""
    if role == "py-client":
        peer = RawPeer(exe, "server", args)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            line = peer.wait_line(lambda l: l.startswith("PORT "), "PORT line")
            port = int(line.split()[1])
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(TIMEOUT)
            sock.connect(("127.0.0.1", port))
        except BaseException:
            sock.close()
            peer.kill()
            raise
        return peer, Session(sock, Side.CLIENT)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf:	# inherited by the accepted socket
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        lsock.settimeout(TIMEOUT)
        port = lsock.getsockname()[1]
        peer = RawPeer(exe, "client", ["--port", str(port)] + list(args))
        try:
            sock, _ = lsock.accept()
        except socket.timeout:
            peer.kill()
            raise Fail("raw-peer client did not connect within %g s; output "
                       "%r" % (TIMEOUT, peer.output()))
        except BaseException:
            peer.kill()
            raise
    finally:
        lsock.close()
    return peer, Session(sock, Side.SERVER)


def masks(role):
    """Whether Python's frames must be masked in this role."""
    return role == "py-client"


# ---------------------------------------------------------------- helpers

def make_text(n):
    """n bytes of UTF-8 with 2-, 3- and 4-byte sequences, no NUL, not a
    raw-peer command."""
    unit = "aé€😀".encode("utf-8")	# 1 + 2 + 3 + 4 bytes
    reps = n // len(unit)
    return unit * reps + b"x" * (n - reps * len(unit))


def make_binary(n):
    return random.Random(n).randbytes(n)


def compare(what, got_op, got, want_op, want):
    if got_op != want_op:
        raise Fail("%s: echo came back as %s, sent as %s"
                   % (what, got_op.name, want_op.name))
    if got != want:
        i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                 min(len(got), len(want)))
        raise Fail("%s: echo differs: %d bytes back for %d sent, first "
                   "difference at offset %d" % (what, len(got), len(want), i))


def echo(sess, op, payload, what):
    sess.send("send_text" if op == OP_TEXT else "send_binary", payload)
    got_op, got = sess.recv_message()
    compare(what, got_op, got, op, payload)


def python_closes(sess, peer, role, code=1000, reason="bye"):
    """Python starts the closing handshake; the server must close TCP
    first; raw-peer reports the code and reason it received."""
    sess.watch_client_close = role == "py-server"
    sess.send("send_close", code, reason)
    c = sess.expect_close()
    if c.code != code:
        raise Fail("close echo carries %s, expected code %d" % (c, code))
    finish_handshake(sess, role)
    check_peer_exit(peer, ["CLOSING",
                           re.escape("CLOSED code=%d data=%s" % (code, reason))])


def finish_handshake(sess, role):
    """After both close frames: the TCP close must come from the server."""
    if role == "py-client":
        # We are the client: raw-peer (server) closes TCP, then we do.
        if sess.eof_sent:
            raise Fail("websockets closed TCP before raw-peer (server)")
        sess.expect_eof(PROMPT)
    else:
        # We are the server: websockets half-closed TCP on the close frame;
        # raw-peer (client) must not have closed before that, and must
        # close once it has seen our EOF.
        if not sess.eof_sent:
            raise Fail("websockets (server) did not close TCP after the "
                       "closing handshake")
        if sess.client_closed_first:
            raise Fail("raw-peer (client) closed TCP before the server")
        sess.expect_eof(PROMPT)
    if sess.conn.state is not State.CLOSED:
        raise Fail("websockets ended in state %s" % sess.conn.state.name)
    if sess.reset or sess.write_error:
        raise Fail("orderly close ended with a reset or write error (%r)"
                   % (sess.write_error,))


# ---------------------------------------------------------------- scenarios

ECHO_SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]


def sc_echo(sess, peer, role):
    for n in ECHO_SIZES:
        echo(sess, OP_TEXT, make_text(n), "text of %d bytes" % n)
        echo(sess, OP_BINARY, make_binary(n), "binary of %d bytes" % n)
    python_closes(sess, peer, role, 1000, "bye")


def sc_fragmented(sess, peer, role):
    text = "frågment — 日本語 and 😀 cut inside code points".encode("utf-8")
    cut1 = text.index("日".encode("utf-8")) + 1	# inside a 3-byte sequence
    cut2 = text.index("😀".encode("utf-8")) + 2	# inside a 4-byte sequence
    sess.send("send_text", text[:cut1], fin=False)
    sess.send("send_ping", b"frag-ping")
    sess.send("send_continuation", text[cut1:cut2], fin=False)
    sess.send("send_continuation", text[cut2:], fin=True)
    op, got = sess.recv_message()
    pongs = [f for f in sess.controls if f.opcode == OP_PONG]
    if not pongs:
        # The ping was read before the message ended: its pong must not
        # wait behind the echo. See whether it comes at all.
        try:
            f = sess.recv_frame(2.0)
            late = "; it came after the echo: %s" % short_frame(f)
        except Fail:
            late = "; none came at all"
        raise Fail("no pong before the echo of the fragmented message" + late)
    if [f.data for f in sess.controls] != [b"frag-ping"]:
        raise Fail("control frames %r, expected one pong 'frag-ping'"
                   % [short_frame(f) for f in sess.controls])
    compare("fragmented text", op, got, OP_TEXT, text)
    python_closes(sess, peer, role, 1000, "bye")


def sc_peer_close(sess, peer, role):
    sess.watch_client_close = role == "py-server"
    sess.send("send_text", b"cmd:close:4001:going")
    c = sess.expect_close()
    if (c.code, c.reason) != (4001, "going"):
        raise Fail("raw-peer's close frame carries %s, expected 4001 going"
                   % c)
    # websockets answered it with the same code (and, as the server,
    # half-closed TCP).
    finish_handshake(sess, role)
    check_peer_exit(peer, ["CLOSING", re.escape("CLOSED code=4001 data=going")])


def sc_peer_ping(sess, peer, role):
    sess.send("send_text", b"cmd:ping:abc")
    op, got = sess.recv_message()
    if [(f.opcode, f.data) for f in sess.controls] != [(OP_PING, b"abc")]:
        raise Fail("expected one ping 'abc' from raw-peer, got %r"
                   % [short_frame(f) for f in sess.controls])
    compare("reply to websockets' pong", op, got, OP_TEXT, b"pong:abc")
    # An unsolicited pong reaches the callback too.
    sess.controls = []
    sess.send("send_pong", b"unsolicited")
    op, got = sess.recv_message()
    compare("reply to an unsolicited pong", op, got, OP_TEXT,
            b"pong:unsolicited")
    if sess.controls:
        raise Fail("unexpected control frames %r"
                   % [short_frame(f) for f in sess.controls])
    python_closes(sess, peer, role, 1000, "bye")


def violation(raw, code, pre=None):
    """A scenario sending the bytes raw(role) that raw-peer must refuse with
    close code `code` (an int, or a tuple of acceptable codes)."""
    codes = code if isinstance(code, tuple) else (code,)

    def run(sess, peer, role):
        if pre:
            pre(sess, role)
        sess.send_raw(raw(role))
        try:
            c = sess.expect_close()
        except Fail as exc:
            raise Fail("%s; raw-peer output %r" % (exc, peer.output()))
        if c.code not in codes:
            raise Fail("raw-peer closed with %s, expected %s; output %r"
                       % (c, " or ".join(map(str, codes)), peer.output()))
        # Failing the connection closes it (RFC 6455 §7.1.7), promptly.
        sess.expect_eof(PROMPT)
        check_peer_exit(peer, ["ERROR domain=1 code=%d .*" % c.code,
                               "CLOSED code=%d data=.*" % c.code])
    return run


INVALID_UTF8 = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")


def echo_100(sess, role):
    echo(sess, OP_BINARY, make_binary(100), "binary of 100 bytes (the limit)")
    # The limit is per frame: a 300-byte message in frames of 100 passes.
    data = make_binary(300)
    sess.send("send_binary", data[:100], fin=False)
    sess.send("send_continuation", data[100:200], fin=False)
    sess.send("send_continuation", data[200:], fin=True)
    op, got = sess.recv_message()
    compare("300-byte message in 100-byte frames", op, got, OP_BINARY, data)


def partial_frame(byte0, payload, keep, mask):
    """The header of a frame for payload and only its first keep bytes."""
    f = raw_frame(byte0, payload, mask)
    return f[:len(f) - len(payload) + keep]


def sc_fragmented_empty(sess, peer, role):
    """Empty fragments are legal; the message is their concatenation."""
    sess.send("send_binary", b"", fin=False)
    sess.send("send_continuation", b"abc", fin=False)
    sess.send("send_continuation", b"", fin=True)
    op, got = sess.recv_message()
    compare("binary message in fragments '', 'abc', ''", op, got, OP_BINARY,
            b"abc")
    sess.send("send_text", b"", fin=False)
    sess.send("send_continuation", b"", fin=True)
    op, got = sess.recv_message()
    compare("text message in two empty fragments", op, got, OP_TEXT, b"")
    python_closes(sess, peer, role, 1000, "bye")


def sc_pipelined(sess, peer, role):
    """Many frames in one write: every one is echoed, in order."""
    msgs = [("m%03d " % i).encode() + make_text(i * 7) for i in range(100)]
    wire = b"".join(raw_frame(0x81, m, masks(role)) for m in msgs)
    sess.send_raw(wire)
    for i, m in enumerate(msgs):
        op, got = sess.recv_message()
        compare("pipelined message %d" % i, op, got, OP_TEXT, m)
    python_closes(sess, peer, role, 1000, "bye")


def sc_byte_by_byte(sess, peer, role):
    """Frames that arrive one byte per TCP segment: headers (16- and 64-bit
    lengths, mask keys) and payloads cut everywhere."""
    sess.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def trickle(data, step=1):
        for i in range(0, len(data), step):
            sess.send_raw(data[i:i + step])
            time.sleep(0.002)

    text = make_text(200)
    trickle(raw_frame(0x81, text, masks(role)))
    op, got = sess.recv_message()
    compare("text of 200 bytes sent byte by byte", op, got, OP_TEXT, text)
    trickle(raw_frame(0x89, b"split-ping", masks(role)))
    f = sess.recv_frame()
    if (f.opcode, f.data) != (OP_PONG, b"split-ping"):
        raise Fail("expected pong 'split-ping', got %s" % short_frame(f))
    data = make_binary(70000)
    frame = raw_frame(0x82, data, masks(role))
    hlen = len(frame) - len(data)
    trickle(frame[:hlen + 3])
    trickle(frame[hlen + 3:], 9999)
    op, got = sess.recv_message()
    compare("binary of 70000 bytes, header byte by byte", op, got, OP_BINARY,
            data)
    python_closes(sess, peer, role, 1000, "bye")


def backlog_count():
    """How many 1 MB messages make a backlog that the kernel's buffers
    cannot absorb: the largest socket send buffer, plus 4 MB."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 << 20
    return max(8, -(-wmem_max // 1000000) + 4)


BACKLOG = [make_binary(1000000 + i) for i in range(backlog_count())]


def send_backlog(sess):
    """Megabytes of messages that Python does not read yet: their echoes
    pile up in raw-peer's output (Python's receive buffer is small). These
    scenarios run raw-peer with --max-outgoing 0: the default 4 MiB limit
    would end the connection with 1008 (tested in test-connection)."""
    for m in BACKLOG:
        sess.send("send_binary", m)


def read_backlog(sess):
    """The 8 echoes, intact and in order; returns [(index of the echo that
    followed, control frame)]."""
    seen = []
    for i, m in enumerate(BACKLOG):
        op, got = sess.recv_message()
        compare("echo %d of %d (1 MB each)" % (i, len(BACKLOG)), op, got,
                OP_BINARY, m)
        seen.extend((i, f) for f in sess.controls)
        sess.controls = []
    return seen


def sc_pong_under_backlog(sess, peer, role):
    """Pings while raw-peer's output holds megabytes of echoes: the pongs
    come between whole frames, in order, and ahead of the echoes not yet
    started (RFC 6455 §5.5.2: "as soon as practical")."""
    sess.watch_client_close = role == "py-server"
    send_backlog(sess)
    for i in range(5):
        sess.send("send_ping", b"p%d" % i)
    # raw-peer prints CLOSING when it reads this, so by then it has read
    # every ping, while Python has read nothing: at least 4 MB of echoes
    # were still waiting (the kernel holds less), the last one unstarted.
    sess.send("send_text", b"cmd:close:4000:done")
    peer.wait_line(lambda l: l == "CLOSING", "CLOSING")
    seen = read_backlog(sess)
    while True:
        f = sess.recv_frame()
        if f.opcode == OP_CLOSE:
            break
        if f.opcode != OP_PONG:
            raise Fail("expected pongs then a close frame, got %s"
                       % short_frame(f))
        seen.append((len(BACKLOG), f))
    c = Close.parse(f.data)
    if (c.code, c.reason) != (4000, "done"):
        raise Fail("raw-peer's close frame carries %s, expected 4000 done"
                   % c)
    pongs = [f.data for _, f in seen]
    if pongs != [b"p%d" % i for i in range(5)]:
        raise Fail("pongs %r, expected p0..p4 in order" % pongs)
    if seen[-1][0] >= len(BACKLOG) - 1:
        raise Fail("the pongs waited behind megabytes of echoes: the last "
                   "one came after echo %d of %d" % (seen[-1][0], len(BACKLOG)))
    finish_handshake(sess, role)
    check_peer_exit(peer, ["CLOSING", re.escape("CLOSED code=4000 data=done")])


sc_pong_under_backlog.rcvbuf = 65536


def sc_close_under_backlog(sess, peer, role):
    """A close frame behind 8 MB of pending echoes: every echo goes out
    before the close answer, and TCP closes only after it."""
    send_backlog(sess)
    sess.watch_client_close = role == "py-server"
    sess.send("send_close", 1000, "bye")
    if read_backlog(sess):
        raise Fail("unexpected control frames among the echoes")
    c = sess.expect_close()
    if c.code != 1000:
        raise Fail("close answer carries %s, expected 1000" % c)
    finish_handshake(sess, role)
    check_peer_exit(peer, ["CLOSING", re.escape("CLOSED code=1000 data=bye")])


sc_close_under_backlog.rcvbuf = 65536


def sc_fail_under_backlog(sess, peer, role):
    """A protocol error behind 8 MB of pending echoes: the echoes answered
    before the bad frame still go out, then the close frame with 1002."""
    send_backlog(sess)
    sess.send_raw(raw_frame(0x83, b"x", masks(role)))
    if read_backlog(sess):
        raise Fail("unexpected control frames among the echoes")
    c = sess.expect_close()
    if c.code != 1002:
        raise Fail("close frame carries %s, expected 1002" % c)
    sess.expect_eof(PROMPT)
    check_peer_exit(peer, ["ERROR domain=1 code=1002 .*",
                           "CLOSED code=1002 data=.*"])


sc_fail_under_backlog.rcvbuf = 65536


def sc_close_variant(code, reason, want_code, want_data):
    """Python closes with (code, reason) (code None: an empty close frame);
    raw-peer answers with a close frame whose code is in want_code and
    reports CLOSED code=want_data[0] data=want_data[1]."""
    def run(sess, peer, role):
        sess.watch_client_close = role == "py-server"
        if code is None:
            sess.send("send_close")
        else:
            sess.send("send_close", code, reason)
        c = sess.expect_close()
        if c.code not in want_code:
            raise Fail("close answer carries %s, expected code %s"
                       % (c, " or ".join(map(str, want_code))))
        finish_handshake(sess, role)
        check_peer_exit(peer, ["CLOSING", re.escape(
            "CLOSED code=%d data=%s" % want_data)])
    return run


def sc_close_timeout(sess, peer, role):
    """raw-peer starts a close that websockets never answers, neither with a
    close frame nor by closing TCP: raw-peer gives up after its close
    timeout (5 s by default), closes TCP and reports 1006."""
    sess.send("send_text", b"cmd:close:4001:going")
    # Keep the close frame away from websockets, which would answer it:
    # read raw bytes, a close frame (at most 2 + 125 bytes unmasked), then
    # nothing until raw-peer closes TCP.
    buf = b""
    sess.sock.settimeout(TIMEOUT)
    while len(buf) < 2 or \
            len(buf) < 2 + (4 if buf[1] & 0x80 else 0) + (buf[1] & 0x7F):
        try:
            data = sess.sock.recv(4096)
        except socket.timeout:
            raise Fail("no close frame within %g s" % TIMEOUT)
        if not data:
            raise Fail("raw-peer closed TCP before its close frame: %r" % buf)
        buf += data
    masked = bool(buf[1] & 0x80)
    body = buf[6:] if masked else buf[2:]
    if masked:
        body = bytes(b ^ buf[2 + (i & 3)] for i, b in enumerate(body))
    if buf[0] != 0x88 or masked != (role == "py-server") or \
            body != struct.pack("!H", 4001) + b"going":
        raise Fail("expected a close frame 4001 going, masked=%s; got %r"
                   % (role == "py-server", buf))
    start = time.monotonic()
    deadline = start + 5 + PROMPT + 1
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail("raw-peer did not close TCP %g s after an unanswered "
                       "close frame" % (deadline - start))
        sess.sock.settimeout(left)
        try:
            data = sess.sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            data = b""
        if not data:
            break
        raise Fail("raw-peer sent %r after its close frame" % data[:40])
    waited = time.monotonic() - start
    if waited < 4:
        raise Fail("raw-peer closed TCP %.1f s after its close frame, before "
                   "its 5 s close timeout" % waited)
    rc = peer.wait_exit(PROMPT)
    lines = [l for l in peer.output() if not l.startswith("PORT ")]
    if rc != 0 or not lines or lines[0] != "CLOSING" or \
            not re.fullmatch(r"CLOSED code=1006 data=.*", lines[-1]) or \
            any(not l.startswith("ERROR ") for l in lines[1:-1]):
        raise Fail("raw-peer exit status %d, output %r; expected CLOSING, "
                   "ERROR lines, then CLOSED code=1006" % (rc, lines))


def sc_close_then_eof(sess, peer, role):
    """Python sends its close frame and at once half-closes TCP: raw-peer
    still answers with its close frame and reports an orderly 1000."""
    sess.send("send_close", 1000, "bye")
    sess.sock.shutdown(socket.SHUT_WR)
    c = sess.expect_close()
    if c.code != 1000:
        raise Fail("close answer carries %s, expected 1000" % c)
    sess.expect_eof(PROMPT)
    check_peer_exit(peer, ["CLOSING", re.escape("CLOSED code=1000 data=bye")])


def sc_data_after_close(sess, peer, role):
    """A message behind the close frame, in the same write: ignored."""
    sess.watch_client_close = role == "py-server"
    sess.conn.send_close(1000, "bye")
    wire = b"".join(sess.conn.data_to_send())
    sess.send_raw(wire + raw_frame(0x81, b"after the close", masks(role)))
    c = sess.expect_close()
    if c.code != 1000:
        raise Fail("close answer carries %s, expected 1000" % c)
    finish_handshake(sess, role)
    check_peer_exit(peer, ["CLOSING", re.escape("CLOSED code=1000 data=bye")])


def sc_drop(how):
    def run(sess, peer, role):
        echo(sess, OP_TEXT, b"before the drop", "text before the drop")
        if how == "mid-frame":
            # Half a frame, then the end.
            sess.send_raw(raw_frame(0x82, b"0123456789", masks(role))[:7])
        if how == "reset":
            sess.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        sess.sock.close()
        # Whatever errors it reports, it must end with 1006 and no close data,
        # without ever starting an orderly close.
        rc = peer.wait_exit(PROMPT)
        lines = [l for l in peer.output() if not l.startswith("PORT ")]
        if rc != 0 or not lines or lines[-1] != "CLOSED code=1006 data=(null)" \
                or any(not l.startswith("ERROR ") for l in lines[:-1]):
            raise Fail("raw-peer exit status %d, output %r; expected ERROR "
                       "lines then 'CLOSED code=1006 data=(null)'"
                       % (rc, lines))
        if how != "reset" and not any(
                l.startswith("ERROR domain=1 code=1006 ") for l in lines):
            raise Fail("no 'ERROR domain=1 code=1006' line for an EOF "
                       "without a close frame: %r" % lines)
    return run


LONG_REASON = ("é" * 61 + "x").encode("utf-8")	# 123 bytes, the most

SCENARIOS = [
    # name, function, raw-peer arguments
    ("echo", sc_echo, ["--max-payload", "0"]),
    ("fragmented", sc_fragmented, []),
    ("peer-close", sc_peer_close, []),
    ("peer-ping", sc_peer_ping, []),
    ("bad-opcode-3", violation(
        lambda r: raw_frame(0x83, b"x", masks(r)), 1002), []),
    ("bad-rsv1", violation(
        lambda r: raw_frame(0xC1, b"hello", masks(r)), 1002), []),
    ("bad-utf8", violation(
        lambda r: raw_frame(0x81, INVALID_UTF8, masks(r)), 1007), []),
    ("bad-ping-126", violation(
        lambda r: raw_frame(0x89, b"p" * 126, masks(r)), 1002), []),
    ("bad-continuation", violation(
        lambda r: raw_frame(0x80, b"orphan", masks(r)), 1002), []),
    ("bad-masking", violation(
        lambda r: raw_frame(0x81, b"wrong mask", not masks(r)), 1002), []),
    ("too-big-101", violation(
        lambda r: raw_frame(0x82, make_binary(101), masks(r)), 1009,
        pre=echo_100), ["--max-payload", "100"]),
    ("bad-close-999", violation(
        lambda r: raw_frame(0x88, struct.pack("!H", 999), masks(r)), 1002), []),
    ("drop", sc_drop("eof"), []),
    ("drop-mid-frame", sc_drop("mid-frame"), []),
    ("drop-reset", sc_drop("reset"), []),
    # Beyond the list above: more of RFC 6455 and Autobahn's quick reference.
    ("fragmented-empty", sc_fragmented_empty, []),
    ("pipelined", sc_pipelined, []),
    ("byte-by-byte", sc_byte_by_byte, []),
    ("pong-under-backlog", sc_pong_under_backlog,
     ["--max-payload", "0", "--max-outgoing", "0"]),
    ("close-under-backlog", sc_close_under_backlog,
     ["--max-payload", "0", "--max-outgoing", "0"]),
    ("fail-under-backlog", sc_fail_under_backlog,
     ["--max-payload", "0", "--max-outgoing", "0"]),
    ("close-empty", sc_close_variant(None, "", (1000, 1005), (1005, "")), []),
    ("close-4999-long-reason", sc_close_variant(
        4999, LONG_REASON.decode(), (4999,), (4999, LONG_REASON.decode())),
     []),
    ("close-then-eof", sc_close_then_eof, []),
    ("close-timeout", sc_close_timeout, []),
    ("data-after-close", sc_data_after_close, []),
    ("bad-opcode-11", violation(
        lambda r: raw_frame(0x8B, b"", masks(r)), 1002), []),
    ("bad-fragmented-ping", violation(
        lambda r: raw_frame(0x09, b"frag", masks(r)), 1002), []),
    ("bad-nested-data", violation(
        lambda r: raw_frame(0x01, b"first", masks(r)) +
        raw_frame(0x81, b"second", masks(r)), 1002), []),
    ("bad-utf8-fail-fast", violation(
        lambda r: partial_frame(0x81, INVALID_UTF8 + b"a" * 980, 20, masks(r)),
        1007), []),
    ("bad-utf8-across-fragments", violation(
        lambda r: raw_frame(0x01, b"abc\xed", masks(r)) +
        raw_frame(0x80, b"\xa0\x80", masks(r)), 1007), []),
    ("bad-utf8-truncated", violation(
        lambda r: raw_frame(0x81, b"abc\xe2\x82", masks(r)), 1007), []),
    ("bad-close-1-byte", violation(
        lambda r: raw_frame(0x88, b"\x03", masks(r)), 1002), []),
    ("bad-close-reason-utf8", violation(
        lambda r: raw_frame(0x88, struct.pack("!H", 1000) + b"\xff", masks(r)),
        (1002, 1007)), []),
] + [
    ("bad-close-%d" % code, violation(
        (lambda code: lambda r: raw_frame(
            0x88, struct.pack("!H", code), masks(r)))(code), 1002), [])
    for code in (0, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000)
]


def run_one(exe, name, fn, args, role):
    peer = sess = None
    try:
        peer, sess = open_pair(exe, role, args, getattr(fn, "rcvbuf", None))
        fn(sess, peer, role)
    except Fail as exc:
        why = str(exc)
        if peer and "raw-peer output" not in why and "output [" not in why:
            why += "; raw-peer output %r" % peer.output()
        return why
    except Exception as exc:
        out = peer.output() if peer else []
        return "unexpected %s: %s; raw-peer output %r" % (
            type(exc).__name__, exc, out)
    finally:
        if sess:
            sess.close()
        if peer:
            peer.kill()
    return None


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s PATH-TO-raw-peer\n" % argv[0])
        return 2
    exe = argv[1]
    passed = failed = 0
    if not os.access(exe, os.X_OK):
        print("FAIL setup: %s is not an executable" % exe)
        print("0 passed, 1 failed")
        return 1
    only = os.environ.get("PYTHON_PEER_ONLY")	# a regex, for debugging
    for role in ("py-client", "py-server"):
        for name, fn, args in SCENARIOS:
            full = "%s/%s" % (name, role)
            if only and not re.search(only, full):
                continue
            why = run_one(exe, name, fn, args, role)
            if why is None:
                passed += 1
                print("ok %s" % full, flush=True)
            else:
                failed += 1
                print("FAIL %s: %s" % (full, why), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
