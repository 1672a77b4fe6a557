#!/usr/bin/python3
"""Proxies for test-proxy.sh: one working HTTP CONNECT proxy (plain or TLS,
with or without Basic authentication) and hostile ones, each on its own
port of 127.0.0.1 picked by the kernel, printed as "MODE PORT" lines, then
"ready". Python standard library only.

  connect        a working CONNECT proxy (the tunnel relays both ways)
  connect-tls    the same behind TLS (--tls CERT KEY): an https:// proxy
  connect-auth   a working proxy that wants "Proxy-Authorization: Basic"
                 for --auth USER:PASS, else 407
  garbage        answers CONNECT with bytes that are not HTTP
  endless        an answer whose header never ends (bytes until closed)
  big            a 200 whose head is 17 KiB long
  status-502     "502 Bad Gateway"
  status-407     "407 Proxy Authentication Required"
  close-mid      half a status line, then closes
  hang           reads the request, never answers
  socks-version  a SOCKS5 greeting answered with version 4
  socks-rep-N    a SOCKS5 proxy (no auth) whose CONNECT reply code is N,
                 for N in 1..8
  socks-close    a SOCKS5 proxy that closes in the middle of its CONNECT reply

Every request head read by a CONNECT mode is appended to
--log-dir/MODE.log, one line per request (its first line), so the test
can check what was sent (CONNECT host:port, never GET ws://...).
Runs until SIGTERM, then exits 0.
"""
import argparse
import base64
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time

MODES = ["connect", "connect-tls", "connect-auth", "garbage", "endless", "big",
         "status-502", "status-407", "close-mid", "hang", "socks-version",
         "socks-close"] + ["socks-rep-%d" % n for n in range(1, 9)]
LIMIT = 60  # seconds any connection may live


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > 65536:
            return None
        data += chunk
    return data


def log(args, mode, line):
    with open(os.path.join(args.log_dir, mode + ".log"), "a") as f:
        f.write(line + "\n")


def relay(a, b):
    socks = [a, b]
    while True:
        r, _, _ = select.select(socks, [], [], LIMIT)
        if not r:
            return
        for s in r:
            try:
                data = s.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not data:
                return
            (b if s is a else a).sendall(data)


def tunnel(conn, head):
    target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
    host, _, port = target.rpartition(":")
    try:
        up = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
    except OSError:
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
        return
    up.settimeout(None)
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    try:
        relay(conn, up)
    finally:
        up.close()


def http_mode(args, mode, conn):
    head = read_head(conn)
    if head is None:
        return
    log(args, mode, head.split(b"\r\n", 1)[0].decode("latin-1"))
    auth = None
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"proxy-authorization:"):
            auth = line.split(b":", 1)[1].strip()
            log(args, mode, "auth " + auth.decode("latin-1"))
    if not head.startswith(b"CONNECT "):
        conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        return
    if mode == "connect-auth":
        if auth != b"Basic " + base64.b64encode(args.auth.encode()):
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"Proxy-Authenticate: Basic realm=\"t\"\r\n\r\n")
            return
    if mode.startswith("connect"):
        tunnel(conn, head)
    elif mode == "garbage":
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    elif mode == "endless":
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        for _ in range(64):
            conn.sendall(b"a" * 1024)
    elif mode == "big":
        conn.sendall(b"HTTP/1.1 200 OK\r\n" +
                     b"".join(b"X-Big-%d: %s\r\n" % (i, b"b" * 1000)
                              for i in range(17)) + b"\r\n")
    elif mode == "status-502":
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
    elif mode == "status-407":
        conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                     b"Proxy-Authenticate: Basic realm=\"t\"\r\n\r\n")
    elif mode == "close-mid":
        conn.sendall(b"HTTP/1.1 200 Con")
    elif mode == "hang":
        conn.recv(1)  # until the client gives up


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def socks_mode(args, mode, conn):
    ver, n = recv_exact(conn, 2)
    recv_exact(conn, n)
    if mode == "socks-version":
        conn.sendall(b"\x04\x00")
        return
    conn.sendall(b"\x05\x00")
    hdr = recv_exact(conn, 4)
    atyp = hdr[3]
    if atyp == 1:
        recv_exact(conn, 4)
    elif atyp == 4:
        recv_exact(conn, 16)
    else:
        recv_exact(conn, recv_exact(conn, 1)[0])
    recv_exact(conn, 2)
    if mode == "socks-close":
        conn.sendall(b"\x05\x00")  # half a reply
        return
    rep = int(mode.rsplit("-", 1)[1])
    conn.sendall(bytes([5, rep, 0, 1, 0, 0, 0, 0, 0, 0]))


def serve(args, mode, lsock, ctx):
    def one(conn):
        conn.settimeout(LIMIT)
        try:
            if ctx is not None:
                conn = ctx.wrap_socket(conn, server_side=True)
            if mode.startswith("socks"):
                socks_mode(args, mode, conn)
            else:
                http_mode(args, mode, conn)
        except (OSError, EOFError, ssl.SSLError, ValueError, IndexError):
            pass
        finally:
            conn.close()

    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=one, args=(conn,), daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--auth", default="user:pass")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
    for mode in MODES:
        if mode == "connect-tls" and ctx is None:
            continue
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(64)
        threading.Thread(target=serve, daemon=True,
                         args=(args, mode, lsock,
                               ctx if mode == "connect-tls" else None)).start()
        print(mode, lsock.getsockname()[1])
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
