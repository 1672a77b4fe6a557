#!/usr/bin/python3
"""Peers for test-wsev-cat.sh (Debian's python3-websockets 10.4).

  cat-peer.py server
      A server on 127.0.0.1 at a port the kernel picks; prints
      "listening on ws://127.0.0.1:PORT/". Routes:
        /echo         every message back at once, with its type
        /slow         every message back 300 ms later (in order)
        /close/CODE   the text "hi", then a close with CODE and "bye"
        /flood        the texts m1 .. m100, then waits for the client
        /sink         reads, never answers
  cat-peer.py client URL [--send TEXT]... [--recv N] [--close]
      Connects, sends each TEXT, prints each of N messages received as
      "recv TEXT" (binary: "recv binary LENGTH"), then closes (--close)
      or waits for the server's close, and prints "close CODE REASON"
      (the server's). Exits 0; 1 on an error (printed).

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""

import argparse
import asyncio
import signal
import sys

import websockets


async def serve(ws, path):
    if path.startswith("/close/"):
        await ws.send("hi")
        await ws.close(int(path.split("/")[2]), "bye")
    elif path == "/flood":
        for i in range(1, 101):
            await ws.send("m%d" % i)
        await ws.wait_closed()
    elif path == "/sink":
        async for _ in ws:
            pass
    else:
        delay = 0.3 if path == "/slow" else 0
        async for msg in ws:
            if delay:
                await asyncio.sleep(delay)
            await ws.send(msg)


async def server():
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(serve, "127.0.0.1", 0, max_size=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        print("listening on ws://127.0.0.1:%d/" % port, flush=True)
        await stop


async def client(url, send, recv, close):
    async with websockets.connect(url, max_size=None, ssl=None) as ws:
        for text in send:
            await ws.send(text)
        for _ in range(recv):
            try:
                msg = await ws.recv()
            except websockets.exceptions.ConnectionClosed:
                break
            if isinstance(msg, bytes):
                print("recv binary %d" % len(msg), flush=True)
            else:
                print("recv %s" % msg, flush=True)
        if close:
            await ws.close()
        try:
            await asyncio.wait_for(ws.wait_closed(), 20)
        except asyncio.TimeoutError:
            print("no close within 20 s", flush=True)
            return 1
        print("close %s %s" % (ws.close_code, ws.close_reason), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["server", "client"])
    ap.add_argument("url", nargs="?")
    ap.add_argument("--send", action="append", default=[])
    ap.add_argument("--recv", type=int, default=0)
    ap.add_argument("--close", action="store_true")
    a = ap.parse_args()
    if a.mode == "server":
        asyncio.run(server())
        return 0
    try:
        return asyncio.run(client(a.url, a.send, a.recv, a.close))
    except Exception as e:  # the test prints what went wrong
        print("error %s: %s" % (type(e).__name__, e), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
