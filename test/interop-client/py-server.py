#!/usr/bin/python3
"""Peer servers for wsev's client interop test (test-python-server.sh).

One process, several listeners on 127.0.0.1, each on a port the kernel
picks; their ports are printed as "LABEL PORT" lines, then "ready":

  plain        websockets 10.4 asyncio server (Debian's python3-websockets)
  LABEL        the same over TLS, for each --tls LABEL CERT KEY; the SNI
               name of each TLS handshake goes to --log-dir/sni-LABEL.log
  raw          a plain asyncio TCP server answering canned HTTP

The websockets listeners route on the request path:

  /echo         send every message back with its type
  /close/CODE   close at once with CODE and the reason "bye"
  /ping         ping the client ("are you there"), wait for its pong
                (5 s), send the text "pong ok", then echo
  /blob/N       send one binary message of N random bytes, then close 1000
  /drive        send a fixed list of messages (text and binary, 0 to
                1 MiB, UTF-8, U+0000), expect each back (wsev-cat --echo),
                then close 1000 "drive done"

and accept the subprotocols "chat" and "superchat", choosing the first
the client offers (the client's preference; websockets' default breaks
the tie at random). The raw listener's paths are listed in RAW below.

Every connection with "?id=ID" in its URL writes --log-dir/ID.log, one
fact per line, ending with "done" when the connection is over:

  path PATH
  header NAME: VALUE       each request header, as received
  subprotocol NAME|-
  extensions VALUE|-       the Sec-WebSocket-Extensions of the response
  recv text|binary LENGTH SHA256
  sent binary LENGTH SHA256     (/blob)
  drive ok COUNT | drive FAIL WHY
  pong ok|timeout
  close_code N             the code of the client's close frame (1006: none)
  close_reason TEXT
  client_close CODE masked|unmasked|none   (raw listener)
  done

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""

import argparse
import asyncio
import base64
import hashlib
import os
import signal
import socket
import ssl
import struct
import sys
import urllib.parse

import websockets
import websockets.exceptions

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOLS = ["chat", "superchat"]

log_dir = "."


class Log:
    """The log of one connection: a no-op without an id."""

    def __init__(self, path):
        query = urllib.parse.urlsplit(path).query
        ids = urllib.parse.parse_qs(query).get("id")
        self.f = None
        if ids:
            name = os.path.basename(ids[0])
            self.f = open(os.path.join(log_dir, name + ".log"), "a",
                          encoding="utf-8", errors="backslashreplace")

    def __call__(self, line):
        if self.f:
            self.f.write(line + "\n")
            self.f.flush()

    def close(self):
        self("done")
        if self.f:
            self.f.close()
            self.f = None


def record(data):
    if isinstance(data, str):
        raw = data.encode("utf-8")
        return "recv text %d %s" % (len(raw), hashlib.sha256(raw).hexdigest())
    return "recv binary %d %s" % (len(data), hashlib.sha256(data).hexdigest())


def drive_messages():
    return [
        "", "a", "x" * 125, "y" * 126, "z" * 127, "w" * 65535, "v" * 65536,
        "u" * 65537, ("0123456789abcdef" * 65536), "h\u00e9llo \u20ac \U0001F600",
        "a\u0000b", b"", bytes(range(256)), os.urandom(125), os.urandom(126),
        os.urandom(65536), os.urandom(1 << 20),
    ]


async def drive(ws, log):
    msgs = drive_messages()
    for i, m in enumerate(msgs):
        await ws.send(m)
        try:
            back = await asyncio.wait_for(ws.recv(), 10)
        except asyncio.TimeoutError:
            log("drive FAIL message %d (%d bytes): no echo in 10 s" % (i, len(m)))
            return
        if type(back) is not type(m) or back != m:
            log("drive FAIL message %d: sent %s of %d, got %s of %d" % (
                i, type(m).__name__, len(m), type(back).__name__, len(back)))
            return
    log("drive ok %d" % len(msgs))
    await ws.close(1000, "drive done")


def select_subprotocol(client, server):
    for p in client:
        if p in server:
            return p
    return None


async def ws_handler(ws, path=None):
    path = ws.path
    log = Log(path)
    try:
        log("path " + path)
        for k, v in ws.request_headers.raw_items():
            log("header %s: %s" % (k, v))
        log("subprotocol " + (ws.subprotocol or "-"))
        ext = ws.response_headers.get("Sec-WebSocket-Extensions")
        log("extensions " + (ext or "-"))
        route = urllib.parse.urlsplit(path).path
        try:
            if route.startswith("/close/"):
                code = int(route[len("/close/"):])
                await ws.close(code, "bye")
            elif route.startswith("/blob/"):
                blob = os.urandom(int(route[len("/blob/"):]))
                await ws.send(blob)
                log("sent binary %d %s" % (len(blob),
                                           hashlib.sha256(blob).hexdigest()))
                await ws.close(1000)
            elif route == "/drive":
                await drive(ws, log)
            else:
                if route == "/ping":
                    waiter = await ws.ping(b"are you there")
                    try:
                        await asyncio.wait_for(waiter, 5)
                        log("pong ok")
                        await ws.send("pong ok")
                    except asyncio.TimeoutError:
                        log("pong timeout")
                async for msg in ws:
                    log(record(msg))
                    await ws.send(msg)
        except websockets.exceptions.ConnectionClosed:
            pass
        await ws.wait_closed()
        log("close_code %d" % ws.close_code)
        log("close_reason " + (ws.close_reason or ""))
    finally:
        log.close()


# ---------------------------------------------------------------- raw

def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(opcode, payload, fin=True, rsv=0, mask=None):
    """A frame as a server sends it: unmasked unless MASK is given."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        head += mask
    return head + payload


def close_frame(code=None, reason=b""):
    return frame(8, b"" if code is None else struct.pack("!H", code) + reason)


def response_101(key, extra=""):
    return ("HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept_for(key), extra)
            ).encode()


# path -> what the raw listener does. The refusals answer the handshake
# wrongly; the others answer it right and then send SCRIPT's frames (in
# the same write as the 101) and read the client's frames, logging each.
RAW = {
    "/status200": "HTTP/1.1 200 OK, a body, then EOF",
    "/status400": "HTTP/1.1 400 Bad Request",
    "/status404": "HTTP/1.1 404 Not Found",
    "/redirect": "HTTP/1.1 302 Found with a Location",
    "/badaccept": "101 with the accept key of another key",
    "/noaccept": "101 without Sec-WebSocket-Accept",
    "/badupgrade": "101 with Upgrade: h2c",
    "/noconnection": "101 without Connection: Upgrade",
    "/badproto": "101 selecting subprotocol 'superchat'",
    "/badext": "101 with Sec-WebSocket-Extensions: x-unrequested (not offered)",
    "/hugehead": "101 with 20 KiB of headers",
    "/garbage": "not HTTP at all",
    "/hangup": "EOF without an answer",
    "/silent": "no answer (for 30 s)",
    "/pick/NAME": "101 selecting NAME, text 'picked NAME', close 1000",
    "/picktwo": "101 with 'Sec-WebSocket-Protocol: chat, superchat'",
    "/frames": "text 'hello' + close 1000 'done'",
    "/slow": "text 'slow hello' + close 1000, a byte at a time (101 too)",
    "/mixedcase": "as /frames, the 101 with 'upgrade: WebSocket', "
                  "'connection: keep-alive, Upgrade'",
    "/fragments": "text 'frag' 'men' 'ted' in 3 frames, a ping between, close",
    "/bigfrag": "a 1 MiB text message in 1024 frames of 1 KiB, close 1000",
    "/nostatus": "a close frame with no body",
    "/badutf8": "text frame that is not UTF-8 (client must fail with 1007)",
    "/masked": "a masked text frame (client must fail with 1002)",
    "/rsv": "a text frame with RSV1 set (1002)",
    "/badopcode": "a frame of opcode 3 (1002)",
    "/bigping": "a ping of 126 bytes (1002)",
    "/badclosecode": "a close frame with code 1005 (1002)",
    "/maskcheck": "nothing: read and log the client's frames until its close",
    "/noclose": "nothing: read the client's frames, never answer its close",
    "/lingering": "answer the client's close, keep TCP open for 30 s",
    "/closefin": "close 1000 and EOF at once, reading nothing",
    "/closereset": "close 1000, then a TCP reset",
    "/abort": "text 'bye', then EOF with no close frame",
    "/closelinger": "close 4001 'bye', read the client's answer, keep TCP "
                    "open for 3 s",
    "/splitutf8": "'h\\u00e9llo' and '\\U0001F600!' with their UTF-8 "
                  "sequences split across fragments, close 1000",
    "/truncutf8": "text ending inside a UTF-8 sequence (1007)",
    "/overlong": "text with an overlong encoding of '/' (1007)",
    "/surrogate": "text with an encoded surrogate U+D800 (1007)",
    "/beyond": "text with U+110000 (1007)",
    "/dataafterclose": "close 1000, then text 'after' (to be ignored)",
    "/ping125": "an unsolicited pong, a ping of 125 bytes, close 1000",
    "/closenewline": "close 4001 with the reason 'two\\nlines'",
}

SCRIPTS = {
    "/frames": [frame(1, b"hello"), close_frame(1000, b"done")],
    "/mixedcase": [frame(1, b"hello"), close_frame(1000, b"done")],
    "/fragments": [frame(1, b"frag", fin=False), frame(9, b"between"),
                   frame(0, b"men", fin=False), frame(0, b"ted"),
                   close_frame(1000)],
    "/bigfrag": [frame(1, b"b" * 1024, fin=False)] +
                [frame(0, b"i" * 1024, fin=False)] * 1022 +
                [frame(0, b"g" * 1024), close_frame(1000)],
    "/nostatus": [close_frame()],
    "/badutf8": [frame(1, b"ok \xff\xfe")],
    "/masked": [frame(1, b"masked", mask=b"\x01\x02\x03\x04")],
    "/rsv": [frame(1, b"rsv", rsv=0x40)],
    "/badopcode": [frame(3, b"?")],
    "/bigping": [frame(9, b"p" * 126)],
    "/badclosecode": [close_frame(1005)],
    "/maskcheck": [],
    "/noclose": [],
    "/lingering": [],
    "/closefin": [close_frame(1000)],
    "/closereset": [close_frame(1000)],
    "/abort": [frame(1, b"bye")],
    "/closelinger": [close_frame(4001, b"bye")],
    "/splitutf8": [frame(1, b"h\xc3", fin=False), frame(0, b"\xa9llo"),
                   frame(1, b"\xf0\x9f", fin=False), frame(0, b"\x98", fin=False),
                   frame(0, b"\x80!"), close_frame(1000)],
    "/truncutf8": [frame(1, b"ok \xe2\x82")],
    "/overlong": [frame(1, b"a\xc0\xafb")],
    "/surrogate": [frame(1, b"a\xed\xa0\x80b")],
    "/beyond": [frame(1, b"a\xf4\x90\x80\x80b")],
    "/dataafterclose": [close_frame(1000), frame(1, b"after")],
    "/ping125": [frame(10, b"unsolicited"), frame(9, bytes(range(125))),
                 close_frame(1000)],
    "/closenewline": [close_frame(4001, b"two\nlines")],
}


async def read_frame(reader):
    """One frame from the client: (fin, rsv, opcode, masked, key, payload)."""
    b = await reader.readexactly(2)
    masked = bool(b[1] & 0x80)
    n = b[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    key = await reader.readexactly(4) if masked else b"\0\0\0\0"
    payload = bytearray(await reader.readexactly(n))
    for i in range(n):
        payload[i] ^= key[i % 4]
    return b[0] & 0x80, b[0] & 0x70, b[0] & 0x0F, masked, key, bytes(payload)


async def read_client(reader, writer, log, answer_close=True, timeout=10):
    """Log the client's frames until its close frame (answered with the
    same code unless told not to) or the end of the stream:
        client_frame OPCODE masked|unmasked KEYHEX LENGTH SHA256
        client_close CODE masked|unmasked | client_close none
    """
    while True:
        try:
            fin, rsv, op, masked, key, payload = await asyncio.wait_for(
                read_frame(reader), timeout)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError,
                ConnectionError):
            log("client_close none")
            return
        m = "masked" if masked else "unmasked"
        log("client_frame %d %s %s %d %s%s" % (
            op, m, key.hex(), len(payload), hashlib.sha256(payload).hexdigest(),
            "" if fin and not rsv else " fin=%d rsv=%d" % (bool(fin), rsv)))
        if op == 8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            log("client_close %d %s" % (code, m))
            if answer_close:
                writer.write(frame(8, payload[:2]))
                await writer.drain()
            return


def refusal(route, key):
    """The canned answer of a refusing route, or None."""
    if route == "/status200":
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 3\r\nConnection: close\r\n\r\nok\n")
    if route == "/status400":
        return (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n")
    if route == "/redirect":
        return (b"HTTP/1.1 302 Found\r\nLocation: /frames\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    if route == "/badaccept":
        return response_101("dGhlIHNhbXBsZSBub25jZQ==")
    if route == "/noaccept":
        return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n")
    if route == "/badupgrade":
        return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                % accept_for(key)).encode()
    if route == "/noconnection":
        return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Sec-WebSocket-Accept: %s\r\n\r\n" % accept_for(key)).encode()
    if route == "/badproto":
        return response_101(key, "Sec-WebSocket-Protocol: superchat\r\n")
    if route == "/picktwo":
        return response_101(key, "Sec-WebSocket-Protocol: chat, superchat\r\n")
    if route == "/badext":
        return response_101(key, "Sec-WebSocket-Extensions: x-unrequested\r\n")
    if route == "/hugehead":
        return response_101(key, "".join("X-Filler-%d: %s\r\n" % (i, "f" * 100)
                                         for i in range(200)))
    if route == "/garbage":
        return b"SSH-2.0-OpenSSH_9.2\r\nnot http\r\n\r\n"
    if route == "/hangup":
        return b""
    if route not in SCRIPTS and route != "/slow" and not route.startswith("/pick/"):
        return (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n")
    return None


async def raw_handler(reader, writer):
    log = None
    try:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, ConnectionError):
            return
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
        log = Log(target)
        log("path " + target)
        key = ""
        for line in lines[1:]:
            if not line:
                continue
            log("header " + line)
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        route = urllib.parse.urlsplit(target).path
        if route == "/silent":
            try:
                await asyncio.wait_for(reader.read(), 30)
            except asyncio.TimeoutError:
                pass
            return
        out = refusal(route, key)
        if out is not None:
            if out:
                writer.write(out)
                await writer.drain()
            # Give the client a moment to read before the EOF.
            await asyncio.sleep(0.05)
            return
        if route == "/slow":
            out = response_101(key) + frame(1, b"slow hello") + close_frame(1000)
            for i in range(len(out)):
                writer.write(out[i:i + 1])
                await writer.drain()
                await asyncio.sleep(0.002)
            await read_client(reader, writer, log, answer_close=False)
            return
        if route.startswith("/pick/"):
            name = route[len("/pick/"):]
            writer.write(response_101(key, "Sec-WebSocket-Protocol: %s\r\n" % name)
                         + frame(1, b"picked " + name.encode())
                         + close_frame(1000))
            await writer.drain()
            await read_client(reader, writer, log, answer_close=False)
            return
        if route == "/mixedcase":
            out = ("HTTP/1.1 101 Switching Protocols\r\n"
                   "upgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
                   "sec-websocket-accept: %s\r\n\r\n" % accept_for(key)).encode()
        else:
            out = response_101(key)
        writer.write(out + b"".join(SCRIPTS[route]))
        await writer.drain()
        if route == "/closefin":
            return
        if route == "/closereset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        if route == "/abort":
            await asyncio.sleep(0.05)
            return
        # Our close frame went first on the routes that end with one:
        # the client's is the answer, not to be answered.
        ends_closed = bool(SCRIPTS[route]) and SCRIPTS[route][-1][0] == 0x88
        if route == "/noclose":
            await read_client(reader, writer, log, answer_close=False)
            try:
                await asyncio.wait_for(reader.read(), 30)
            except asyncio.TimeoutError:
                pass
            log("client_eof")
            return
        await read_client(reader, writer, log, answer_close=not ends_closed)
        if route in ("/lingering", "/closelinger"):
            try:
                await asyncio.wait_for(reader.read(),
                                       30 if route == "/lingering" else 3)
            except asyncio.TimeoutError:
                pass
            log("client_eof")
    finally:
        try:
            writer.close()
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass
        if log:
            log.close()


# ---------------------------------------------------------------- main

def tls_context(label, cert, key):
    """A server context; the SNI name of each handshake is appended to
    LOG_DIR/sni-LABEL.log ("sni NAME", or "sni -" without one)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def on_sni(sslobj, name, c):
        with open(os.path.join(log_dir, "sni-%s.log" % label), "a") as f:
            f.write("sni %s\n" % (name or "-"))
        return None

    ctx.sni_callback = on_sni
    return ctx


async def main(args):
    stop = asyncio.get_running_loop().create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(
            s, lambda: stop.done() or stop.set_result(None))

    common = dict(subprotocols=SUBPROTOCOLS,
                  select_subprotocol=select_subprotocol,
                  max_size=1 << 24, ping_interval=None)
    servers = []
    listeners = [("plain", None)]
    for label, cert, key in args.tls or []:
        listeners.append((label, tls_context(label, cert, key)))
    for label, ctx in listeners:
        srv = await websockets.serve(ws_handler, "127.0.0.1", 0, ssl=ctx,
                                     **common)
        servers.append(srv)
        print(label, srv.sockets[0].getsockname()[1])
    raw = await asyncio.start_server(raw_handler, "127.0.0.1", 0)
    print("raw", raw.sockets[0].getsockname()[1])
    print("ready", flush=True)

    await stop
    raw.close()
    await raw.wait_closed()
    for srv in servers:
        srv.close()
        await srv.wait_closed()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--tls", nargs=3, action="append",
                    metavar=("LABEL", "CERT", "KEY"))
    a = ap.parse_args()
    log_dir = a.log_dir
    asyncio.run(main(a))
    sys.exit(0)
