#!/usr/bin/python3
"""A small raw-socket WebSocket echo endpoint whose flaws can be switched on
one at a time, to show that wsconform.py catches them (test-validate.sh).

  broken-peer.py server [--port N] [--flaw F]...
  broken-peer.py client BASE-URL [--flaw F]...

As a server it prints "listening on ws://127.0.0.1:PORT/" and echoes every
message; as a client it is driven like Autobahn's clients (BASE/getCaseCount,
then BASE/runCase?case=N). With no flaw it is a correct, if simple, endpoint:
it validates UTF-8 frame by frame (so a message cut inside one frame is
caught at the end of that frame), answers pings, and checks close frames.

It speaks permessage-deflate (RFC 7692): as a server it accepts the first
offer, granting what it asks of the server and asking nothing of the
client; as a client it offers "permessage-deflate; client_no_context_takeover;
client_max_window_bits". It compresses every echo (zlib, the agreed window
and context takeover) and sends an echo of 8192 octets or more in two
frames, RSV1 on the first.

Flaws:
  no-utf8        never validates UTF-8 (text messages, close reasons)
  lax-close      takes any close payload (1 octet, over 125, invalid codes,
                 any reason) and echoes it verbatim in its reply
  no-mask-check  takes frames masked the wrong way for the role
  lax-handshake  (client) takes any response to its handshake as a 101
  fixed-mask     (client) masks every frame with the same key
  no-deflate     (not a flaw) never negotiates permessage-deflate
  rsv1-continuation  sets RSV1 on the continuation frames of its
                 compressed echoes too
  keep-context   keeps its compressor's context across messages after
                 agreeing to no_context_takeover
  corrupt-deflate  sends its second compressed echo with an invalid
                 deflate block type

Standard library only. Copyright (c) 2026 the wsev developers.
BSD-3-Clause, see COPYING.
"""

import argparse
import base64
import codecs
import hashlib
import os
import signal
import socket
import struct
import sys
import urllib.parse
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
FLAWS = ("no-utf8", "lax-close", "no-mask-check", "lax-handshake", "fixed-mask",
         "no-deflate", "rsv1-continuation", "keep-context", "corrupt-deflate")
OFFER = "permessage-deflate; client_no_context_takeover; client_max_window_bits"
TAIL = b"\x00\x00\xff\xff"
SPLIT = 8192                # echoes of this many octets or more: two frames
FIXED_KEY = b"\x37\xfa\x21\x3d"


class Closed(Exception):
    pass


def pmd_params(header):
    """{param: value or True} of the first permessage-deflate in an
    extension header; None if there is none; ValueError when it is not
    simple (the parameter grammar of RFC 7692 only, no quoting)."""
    for ext in (header or "").split(","):
        parts = [p.strip() for p in ext.split(";")]
        if parts[0].lower() != "permessage-deflate":
            continue
        d = {}
        for p in parts[1:]:
            k, eq, v = p.partition("=")
            k = k.strip().lower()
            if k in d or k not in ("server_no_context_takeover", "client_no_context_takeover",
                                   "server_max_window_bits", "client_max_window_bits"):
                raise ValueError(p)
            d[k] = int(v) if eq else True
        return d
    return None


class Deflate:
    """One connection's permessage-deflate, from the agreed parameters."""

    def __init__(self, params, is_server, flaws):
        me, peer = ("server", "client") if is_server else ("client", "server")
        self.own_nct = params.get(me + "_no_context_takeover") is True
        self.own_bits = params.get(me + "_max_window_bits", 15)
        self.peer_nct = params.get(peer + "_no_context_takeover") is True
        self.peer_bits = params.get(peer + "_max_window_bits", 15)
        self.flaws = flaws
        self.comp = None
        self.decomp = None
        self.sent = 0

    def compress(self, data):
        if self.comp is None or (self.own_nct and "keep-context" not in self.flaws):
            self.comp = zlib.compressobj(6, zlib.DEFLATED, -max(9, self.own_bits))
        out = (self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH))[:-4]
        self.sent += 1
        if self.sent == 2 and "corrupt-deflate" in self.flaws:
            out = bytes((out[0] | 0x06,)) + out[1:]     # BTYPE 11: reserved
        return out

    def decompress(self, data):
        if self.decomp is None or self.peer_nct:
            self.decomp = zlib.decompressobj(-self.peer_bits)
        return self.decomp.decompress(data + TAIL)


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def mask(data, key):
    if not data:
        return b""
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def code_ok(code):
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class Peer:
    def __init__(self, sock, is_server, flaws, leftover=b"", deflate=None):
        self.sock = sock
        self.is_server = is_server
        self.flaws = flaws
        self.buf = bytearray(leftover)
        self.deflate = deflate
        self.sock.settimeout(10)

    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise Closed()
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_frame(self):
        b0, b1 = self.recv_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.recv_exact(8))[0]
        key = self.recv_exact(4) if b1 & 0x80 else None
        payload = self.recv_exact(n)
        if key:
            payload = mask(payload, key)
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, key is not None, payload

    def send_message(self, opcode, payload):
        """An echo: compressed when permessage-deflate is on, in two frames
        from SPLIT octets."""
        if self.deflate is None:
            return self.send_frame(opcode, payload)
        n = len(payload)
        payload = self.deflate.compress(payload)
        if n < SPLIT or len(payload) < 2:
            return self.send_frame(opcode, payload, rsv=4)
        half = len(payload) // 2
        self.send_frame(opcode, payload[:half], fin=False, rsv=4)
        self.send_frame(0, payload[half:],
                        rsv=4 if "rsv1-continuation" in self.flaws else 0)

    def send_frame(self, opcode, payload, fin=True, rsv=0):
        b0 = (0x80 if fin else 0) | rsv << 4 | opcode
        key = None if self.is_server else (
            FIXED_KEY if "fixed-mask" in self.flaws else os.urandom(4))
        n = len(payload)
        m = 0 if key is None else 0x80
        if n < 126:
            head = bytes((b0, m | n))
        elif n < 65536:
            head = struct.pack("!BBH", b0, m | 126, n)
        else:
            head = struct.pack("!BBQ", b0, m | 127, n)
        if key:
            head += key
            payload = mask(payload, key)
        self.sock.sendall(head + payload)

    def finish(self):
        """After the closing handshake a server closes TCP, a client waits
        for the server to."""
        try:
            if self.is_server:
                self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(2)
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.sock.close()

    def fail(self, code, got_close=False):
        """Close with CODE, then wait for the peer's close (ignoring the
        rest) unless it came already, and end."""
        try:
            self.send_frame(8, struct.pack("!H", code))
            self.sock.settimeout(2)
            while not got_close:
                fin, rsv, op, masked, payload = self.read_frame()
                if op == 8:
                    break
        except (Closed, OSError):
            pass
        self.finish()

    def run(self):
        try:
            self.loop()
        except (Closed, OSError):
            self.sock.close()

    def loop(self):
        msg_op = None
        parts = []
        dec = None
        compressed = False
        while True:
            fin, rsv, op, masked, payload = self.read_frame()
            if masked != self.is_server and "no-mask-check" not in self.flaws:
                return self.fail(1002)
            if op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
                return self.fail(1002)
            if rsv and (rsv != 4 or self.deflate is None or op not in (1, 2)):
                return self.fail(1002)
            if op >= 8:
                lax = op == 8 and "lax-close" in self.flaws
                if not fin or (len(payload) > 125 and not lax):
                    return self.fail(1002, op == 8)
                if op == 9:
                    self.send_frame(10, payload)
                elif op == 8:
                    return self.on_close(payload)
                continue
            if op == 0:
                if msg_op is None:
                    return self.fail(1002)
            else:
                if msg_op is not None:
                    return self.fail(1002)
                msg_op = op
                parts = []
                dec = codecs.getincrementaldecoder("utf-8")()
                compressed = bool(rsv)
            if compressed:
                # Checked (and inflated) whole, at the message's end.
                parts.append(payload)
                if not fin:
                    continue
                try:
                    payload = self.deflate.decompress(b"".join(parts))
                except zlib.error:
                    return self.fail(1007)
                parts = []
            parts.append(payload)
            if msg_op == 1 and "no-utf8" not in self.flaws:
                try:
                    dec.decode(payload, final=fin)
                except UnicodeDecodeError:
                    return self.fail(1007)
            if fin:
                self.send_message(msg_op, b"".join(parts))
                msg_op = None

    def on_close(self, payload):
        if "lax-close" in self.flaws:
            reply = payload
        else:
            reply = payload[:2]
            if len(payload) == 1:
                return self.fail(1002, True)
            if len(payload) >= 2:
                code = struct.unpack("!H", payload[:2])[0]
                if not code_ok(code):
                    return self.fail(1002, True)
                if "no-utf8" not in self.flaws:
                    try:
                        payload[2:].decode("utf-8")
                    except UnicodeDecodeError:
                        return self.fail(1007, True)
        try:
            self.send_frame(8, reply)
        except OSError:
            pass
        self.finish()


def read_head(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk or len(buf) > 65536:
            raise Closed()
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, rest


def serve(args, flaws):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(16)
    print("listening on ws://127.0.0.1:%d/" % ls.getsockname()[1], flush=True)
    while True:
        conn, _ = ls.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(10)
        try:
            start, headers, rest = read_head(conn)
            key = headers.get("sec-websocket-key")
            if not start.startswith("GET ") or not key or \
                    "websocket" not in headers.get("upgrade", "").lower():
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                conn.close()
                continue
            deflate, ext = None, ""
            offer = None if "no-deflate" in flaws else pmd_params(
                headers.get("sec-websocket-extensions"))
            if offer is not None:
                # Grant what the offer asks of the server; ask nothing.
                params = {k: v for k, v in offer.items() if k.startswith("server_")}
                deflate = Deflate(params, True, flaws)
                ext = "Sec-WebSocket-Extensions: %s\r\n" % "; ".join(
                    ["permessage-deflate"] + [k if v is True else "%s=%d" % (k, v)
                                              for k, v in params.items()])
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n"
                          % (accept_for(key), ext)).encode())
        except (Closed, OSError, ValueError):
            conn.close()
            continue
        Peer(conn, True, flaws, rest, deflate).run()


def connect(url, flaws):
    """The opening handshake; a Peer, or None when the response is refused."""
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    path = u.path + ("?" + u.query if u.query else "")
    offer = "" if "no-deflate" in flaws else "Sec-WebSocket-Extensions: %s\r\n" % OFFER
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n%s\r\n"
                  % (path, u.hostname, u.port or 80, key, offer)).encode())
    start, headers, rest = read_head(sock)
    ext = headers.get("sec-websocket-extensions")
    try:
        params = pmd_params(ext) if offer else None
    except ValueError:
        params = None
    if "lax-handshake" not in flaws:
        good = (start.split(" ")[1:2] == ["101"]
                and headers.get("upgrade", "").lower() == "websocket"
                and "upgrade" in headers.get("connection", "").lower()
                and headers.get("sec-websocket-accept") == accept_for(key)
                and (ext is None or (params is not None and "," not in ext))
                and "sec-websocket-protocol" not in headers)
        if not good:
            sock.close()
            return None
    deflate = Deflate(params, False, flaws) if params is not None else None
    return Peer(sock, False, flaws, rest, deflate)


def drive(args, flaws):
    base = args.url
    p = connect(base + "getCaseCount", ())
    fin, rsv, op, masked, payload = p.read_frame()
    count = int(payload)
    p.run()
    for n in range(1, count + 1):
        try:
            p = connect("%srunCase?case=%d&agent=broken-peer" % (base, n), flaws)
        except (Closed, OSError):
            continue
        if p is not None:
            p.run()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("server", "client"))
    ap.add_argument("url", nargs="?")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--flaw", action="append", default=[], choices=FLAWS)
    args = ap.parse_args()
    flaws = set(args.flaw)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    if args.mode == "server":
        serve(args, flaws)
    else:
        drive(args, flaws)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
