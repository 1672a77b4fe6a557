#!/usr/bin/python3
"""Resuming a chat-server room after its log is gone.

    resume-check.py save --url URL --state FILE
    resume-check.py resume --url URL --state FILE --expect ok|lost

save: joins, says one line, waits until it is in the room, and writes the
log's epoch and the line's ID to FILE. resume: reconnects with
?since=ID&epoch=E from FILE, as the page does after a drop, and checks
what the server answers before "live": with --expect lost, the notice
{"type":"lost","text":"history lost from here"}; with --expect ok, no
such notice. Prints "ok"/"FAIL" lines.
"""
import argparse
import asyncio
import json
import sys

import websockets


async def until(ws, types, seen):
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 10))
        seen.append(m)
        if m["type"] in types:
            return m


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("save", "resume"))
    ap.add_argument("--url", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--expect", choices=("ok", "lost"), default="ok")
    args = ap.parse_args()
    seen = []
    if args.what == "save":
        async with websockets.connect(args.url) as ws:
            hello = await until(ws, ("hello",), seen)
            await until(ws, ("live",), seen)
            await ws.send("/name saver")
            await ws.send("/say resume-check-1 a line to resume after")
            while True:
                m = await until(ws, ("say",), seen)
                if m.get("mid") == "resume-check-1":
                    break
        with open(args.state, "w") as f:
            json.dump({"epoch": hello["epoch"], "id": m["id"]}, f)
        print("ok saved epoch %s id %s" % (hello["epoch"], m["id"]))
        return 0
    with open(args.state) as f:
        st = json.load(f)
    url = "%s?since=%s&epoch=%s" % (args.url, st["id"], st["epoch"])
    async with websockets.connect(url) as ws:
        await until(ws, ("live",), seen)
    types = [m["type"] for m in seen]
    lost = [m for m in seen if m["type"] == "lost"]
    if args.expect == "lost":
        good = len(lost) == 1 and lost[0].get("text") == \
            "history lost from here" and types.index("lost") < \
            types.index("live")
    else:
        good = not lost
    print("%s resume after %s of epoch %s: %s%s" % (
        "ok" if good else "FAIL", st["id"], st["epoch"],
        "told the history is lost" if lost else "no loss",
        "" if good else ": got " + ",".join(types)))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
