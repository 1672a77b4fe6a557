#!/usr/bin/python3
"""Echo client of Python websockets (Debian's python3-websockets 10.4), a
validation peer of wsconform.py's fuzzing server, driven like Autobahn's
clients:

  py-echo-client.py BASE-URL [AGENT]

asks BASE/getCaseCount, then runs BASE/runCase?case=N&agent=AGENT for every
case, sending every message back with its type; a connection that fails
(the handshake cases) just moves on to the next case. No message size
limit, no pings. It offers permessage-deflate as websockets does by
default, plus client_no_context_takeover (as wsev-cat does for sections 12
and 13), so that the fuzzer can agree to every section 13 parameter set.

Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
"""

import asyncio
import sys
import urllib.parse

import websockets
import websockets.exceptions
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

# compression=None with an explicit factory: websockets' default offer
# (client_max_window_bits, memLevel 5) plus client_no_context_takeover.
DEFLATE = ClientPerMessageDeflateFactory(client_no_context_takeover=True,
                                         compress_settings={"memLevel": 5})
OPTS = dict(max_size=None, max_queue=None, compression=None, extensions=[DEFLATE],
            ping_interval=None, open_timeout=10, close_timeout=5)


async def run_case(url):
    try:
        async with websockets.connect(url, **OPTS) as ws:
            async for msg in ws:
                await ws.send(msg)
    except (websockets.exceptions.WebSocketException, OSError, asyncio.TimeoutError):
        pass


async def main():
    base = sys.argv[1]
    agent = sys.argv[2] if len(sys.argv) > 2 else "websockets"
    async with websockets.connect(base + "getCaseCount", **OPTS) as ws:
        count = int(await ws.recv())
    for n in range(1, count + 1):
        await asyncio.wait_for(run_case("%srunCase?case=%d&agent=%s" % (
            base, n, urllib.parse.quote(agent))), 600)
    try:
        async with websockets.connect(base + "updateReports?agent=" + agent, **OPTS) as ws:
            await ws.wait_closed()
    except (websockets.exceptions.WebSocketException, OSError):
        pass


asyncio.run(main())
