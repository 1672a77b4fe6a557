"""chat-server and a client that never reads.

Bob joins and then stops reading. Alice sends 3000 messages of 1 KiB, each
broadcast to both. Alice must get every one of her messages back while Bob
does not read (one slow reader does not slow the room), the server must
not hold more than a bounded backlog for Bob (its resident memory stays
under a limit), and once Bob reads again he finds the server closed him
with 1008. Usage: python3 slow-client.py PATH-TO-chat-server [ARGS...]
(ARGS go to the server: --threads 2 holds each thread to the policy).
"""
import asyncio
import os
import re
import subprocess
import sys

import websockets

N = 20000
GROWTH_LIMIT_KB = 8 * 1024  # Bob alone would be sent 20 MiB


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


async def main(server_path, args):
    passed = failed = 0
    # In a sanitizer build ASan keeps freed memory in a quarantine: keep it
    # small so that resident memory says what the server holds.
    env = dict(os.environ, ASAN_OPTIONS="quarantine_size_mb=1:" +
               os.environ.get("ASAN_OPTIONS", ""))
    proc = subprocess.Popen([server_path, "--port", "0"] + args,
                            stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r":(\d+)/", line).group(1))
        url = f"ws://127.0.0.1:{port}/ws"
        # Bob: a small receive buffer, joins, then never reads.
        # Bob declines permessage-deflate: the room's messages compress
        # so well that his backlog would never reach the server's limit.
        # Alice keeps it (the default), so the broadcast mixes both.
        bob = await websockets.connect(url, max_queue=1, read_limit=2 ** 12,
                                       compression=None)
        await bob.send("/name Bob")
        alice = await websockets.connect(url)
        await alice.send("/name Alice")
        text = "x" * 1024
        got = 0
        await asyncio.sleep(0.2)
        base = rss_kb(proc.pid)
        peak = base

        async def own_messages(k):
            """Read until k more of Alice's own messages came back."""
            nonlocal got
            want = got + k
            while got < want:
                m = await alice.recv()
                if '"type":"say"' in m and '"name":"Alice"' in m:
                    got += 1

        # Alice keeps up: 100 at a time, reading her echoes in between, so
        # only Bob is slow.
        try:
            for i in range(0, N, 100):
                for _ in range(100):
                    await alice.send(text)
                await asyncio.wait_for(own_messages(100), 10)
                peak = max(peak, rss_kb(proc.pid))
        except (asyncio.TimeoutError, websockets.ConnectionClosed) as e:
            print(f"  alice stopped at {got}: {e!r}")
        peak = max(peak, rss_kb(proc.pid))
        if got == N:
            passed += 1
            print(f"ok alice got all {N} messages while bob did not read")
        else:
            failed += 1
            print(f"FAIL alice got {got} of {N} messages")
        if base > 0 and peak - base < GROWTH_LIMIT_KB:
            passed += 1
            print(f"ok server memory stayed bounded (RSS {base} KiB, "
                  f"peak {peak} KiB)")
        else:
            failed += 1
            print(f"FAIL server RSS grew from {base} to {peak} KiB")
        # Bob reads now: the server closed him for being slow.
        code = None
        try:
            async def drain():
                async for _ in bob:
                    pass
            await asyncio.wait_for(drain(), 15)
        except websockets.ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            pass
        code = bob.close_code
        if code in (1008, 1006):
            passed += 1
            print(f"ok the slow reader was disconnected (close code {code})")
        else:
            failed += 1
            print(f"FAIL the slow reader is still connected (close code {code})")
        await alice.close()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2:])))
