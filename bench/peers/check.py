#!/usr/bin/python3
"""Functional check of a benchmark echo server on 127.0.0.1.

    check.py PORT [--broadcast] [--big]

Checks that a text message comes back as the same text, a 1 MiB binary
message as the same bytes, and 16 messages sent back to back all come back
in order; that no extension (compression) was negotiated, though the client
offers permessage-deflate. With --broadcast, also that a message sent by one
of two clients reaches both. With --big, also a 60 MiB binary message (the
servers accept up to 64 MiB). Prints one line per check; exit status 0 if
all passed, 1 if not.

Uses Python websockets 10 (Debian python3-websockets) and asyncio.

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""
import asyncio
import os
import sys

import websockets

TIMEOUT = 10  # seconds, for each connect and each message awaited


async def connect(port):
    # compression=None would not offer permessage-deflate; offering it
    # checks that the server declines.
    ws = await asyncio.wait_for(
        websockets.connect("ws://127.0.0.1:%d/" % port, max_size=None,
                           ping_interval=None), TIMEOUT)
    if ws.extensions:
        await ws.close()
        raise AssertionError("server negotiated extensions: %r"
                             % [e.name for e in ws.extensions])
    return ws


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


def same(got, want, what):
    if type(got) is not type(want):
        raise AssertionError("%s: came back as %s, sent as %s"
                             % (what, type(got).__name__,
                                type(want).__name__))
    if got != want:
        raise AssertionError("%s: came back different (%d bytes, sent %d)"
                             % (what, len(got), len(want)))


async def check_text(port):
    ws = await connect(port)
    try:
        msg = "h\u00e9llo, w\u00f6rld \u2713 " * 10
        await ws.send(msg)
        same(await recv(ws), msg, "text")
    finally:
        await ws.close()


async def check_binary(port, size):
    ws = await connect(port)
    try:
        msg = os.urandom(size)
        await ws.send(msg)
        same(await recv(ws), msg, "binary of %d bytes" % size)
    finally:
        await ws.close()


async def check_pipelined(port):
    ws = await connect(port)
    try:
        sent = []
        for i in range(16):
            # Alternate text and binary, of growing sizes.
            if i % 2:
                sent.append(os.urandom(1000 * i))
            else:
                sent.append("message %d " % i + "x" * (100 * i))
        for msg in sent:
            await ws.send(msg)
        for i, msg in enumerate(sent):
            same(await recv(ws), msg, "message %d of 16" % i)
    finally:
        await ws.close()


async def recv_skipping(ws, skip):
    """Next message that is not in skip."""
    while True:
        msg = await recv(ws)
        if msg not in skip:
            return msg


async def check_broadcast(port):
    a = await connect(port)
    b = None
    try:
        # A client knows it is in the room when it hears itself.
        await a.send("sync a")
        same(await recv(a), "sync a", "broadcast: a's own message")
        b = await connect(port)
        await b.send("sync b")
        same(await recv(b), "sync b", "broadcast: b's own message")
        same(await recv(a), "sync b", "broadcast: b's message at a")
        msg = "from a to all"
        await a.send(msg)
        same(await recv(a), msg, "broadcast: a's text at a")
        same(await recv(b), msg, "broadcast: a's text at b")
        data = os.urandom(65536)
        await b.send(data)
        same(await recv(a), data, "broadcast: b's binary at a")
        same(await recv(b), data, "broadcast: b's binary at b")
    finally:
        await a.close()
        if b:
            await b.close()


async def main(argv):
    args = argv[1:]
    try:
        port = int(args.pop(0))
    except (IndexError, ValueError):
        print("usage: check.py PORT [--broadcast] [--big]", file=sys.stderr)
        return 2
    broadcast = "--broadcast" in args
    big = "--big" in args
    if any(a not in ("--broadcast", "--big") for a in args):
        print("usage: check.py PORT [--broadcast] [--big]", file=sys.stderr)
        return 2

    checks = [
        ("text", check_text(port)),
        ("binary 1 MiB", check_binary(port, 1 << 20)),
        ("16 back to back", check_pipelined(port)),
    ]
    if big:
        checks.append(("binary 60 MiB", check_binary(port, 60 << 20)))
    if broadcast:
        checks.append(("broadcast to 2 clients", check_broadcast(port)))
    failed = 0
    for name, coro in checks:
        try:
            await coro
            print("ok   %s" % name)
        except Exception as e:  # any failure is the server's
            failed += 1
            print("FAIL %s: %s" % (name, str(e) or type(e).__name__))
    print("%d passed, %d failed" % (len(checks) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
