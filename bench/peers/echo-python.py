#!/usr/bin/python3
"""echo-python: the Python echo server of the benchmark, on websockets 10
(Debian python3-websockets) and asyncio, written the way a websockets user
writes one.

    echo-python.py --port N [--broadcast]

Listens on 127.0.0.1:N, single-threaded (one asyncio loop). With
--broadcast every message received on any connection is sent to every open
connection, the sender included. SIGTERM or SIGINT ends the process.

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""
import asyncio
import signal
import sys

import websockets

# The load generator sends messages of up to 16 MiB.
MAX_SIZE = 64 * 1024 * 1024

clients = set()


# A client that goes without a closing handshake (the load generator at
# the end of a run) raises ConnectionClosed: not an error of the server's,
# and websockets would log it with a traceback.

async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except websockets.ConnectionClosed:
        pass


async def relay(ws):
    clients.add(ws)
    try:
        async for msg in ws:
            websockets.broadcast(clients, msg)
    except websockets.ConnectionClosed:
        pass
    finally:
        clients.discard(ws)


async def main(port, broadcast):
    # No compression and no keepalive pings, as in the other servers; the
    # system's largest backlog, as they have (the load generator opens up
    # to 256 connections at once; asyncio's default is 100).
    async with websockets.serve(relay if broadcast else echo, "127.0.0.1",
                                port, max_size=MAX_SIZE, compression=None,
                                ping_interval=None, backlog=4096):
        await asyncio.Future()


def usage():
    print("usage: echo-python.py --port N [--broadcast]", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    port, broadcast = -1, False
    args = sys.argv[1:]
    while args:
        arg = args.pop(0)
        if arg == "--port" and args and args[0].isdigit():
            port = int(args.pop(0))
        elif arg == "--broadcast":
            broadcast = True
        else:
            usage()
    if not 0 <= port <= 65535:
        usage()
    # Die from the signal at once rather than unwind with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        asyncio.run(main(port, broadcast))
    except OSError as e:
        print("echo-python: cannot listen on 127.0.0.1:%d: %s"
              % (port, e.strerror or e), file=sys.stderr)
        sys.exit(1)
