#!/usr/bin/python3
"""Echo server of Python websockets (Debian's python3-websockets 10.4), a
validation peer of wsconform.py: every message goes back with its type.
Prints "listening on ws://127.0.0.1:PORT/" and serves until SIGTERM.
No message size limit (section 9 sends 16 MiB), no pings; permessage-deflate
as websockets accepts it by default (sections 12 and 13).

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""

import asyncio
import signal
import sys

import websockets
import websockets.exceptions


async def echo(ws, path=None):
    try:
        async for msg in ws:
            await ws.send(msg)
    except websockets.exceptions.ConnectionClosed:
        pass


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def on_signal():
        # A second SIGTERM (timeout(1) sends one to the process group too)
        # must not kill the interpreter while it shuts down.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if not stop.done():
            stop.set_result(None)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    # compression: websockets' default, permessage-deflate (sections 12, 13).
    async with websockets.serve(echo, "127.0.0.1", port, max_size=None, max_queue=None,
                                ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print("listening on ws://127.0.0.1:%d/" % port, flush=True)
        await stop


asyncio.run(main())
