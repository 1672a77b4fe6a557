#!/usr/bin/python3
"""Clients of samples/chat-server that check the room's one order.

    chat-clients.py --url ws://HOST:PORT/ws [--url ...] --clients N
                    [--senders S] --messages M [--ready-file F --ready-at K]
                    [--expect-nodes K] [--expect-reconnects] [--timeout T]
                    [--pages-dir D --pages P --page-lines L]

N clients connect (spread over the --url list, round robin), S of them
(default N) join and send M lines between them ("/say MID TEXT", a unique
MID each). Every client behaves as the chat page does: it keeps the last ID
it got, and when its connection drops it reconnects with
?since=ID&epoch=E, then, once the server says "live", sends again the lines
of its own it has not seen in the room yet (the room adds a MID once).
--ready-file F is created once K lines (--ready-at) have been sent, for the
test to do its harm (kill a server, restart Redis) in the middle of the
burst.

--pages-dir D: P chat pages in headless Chromium (pages.test.js, started
by the test beside this program) are clients too, L lines each, and the
checks below are made on the N clients and the P pages as one set. The
two meet in D (pages.test.js describes the files): the Python clients
start sending once every page joined, and the last ID waited for is the
last of both; the pages' room lines are read from their pageN.json.

At the end (every line either seen in the room by its sender or refused to
it, and every client as far as the last ID), it checks and prints "ok" or
"FAIL" lines:
  - every client got every line exactly once;
  - every client got them in the same order, with increasing IDs;
  - each line was either in the room (on every client) or refused to its
    sender, never both, never neither;
  - (--expect-nodes K) the clients were served by K nodes (the "node" of
    "hello": threads, processes) or more;
  - (--expect-reconnects) some clients reconnected and resumed.
"""
import argparse
import asyncio
import json
import os
import random
import sys
import time

import websockets


def parse_id(s):
    a, b = s.split("-")
    return (int(a), int(b))


class Page:
    """A chat page's part, as pages.test.js wrote it in pageN.json: the
    attributes of Client that the checks read."""

    def __init__(self, index, path):
        with open(path) as f:
            p = json.load(f)
        self.index = index
        self.name = p["name"]
        self.texts = p["sent"]
        self.entries = [(e[0], e[1], e[2], e[3], e[4], 0) for e in p["entries"]]
        self.refused = {"page:" + t: "refused" for t in p["refused"]}
        self.sent = ["page:" + t for t in self.texts]
        self.nodes = {p["node"]}
        self.reconnects = sum(1 for c in p["closes"] if c != 1000)
        self.lost = 0


class Client:
    def __init__(self, index, url, sender, args):
        self.index = index
        self.url = url
        self.sender = sender
        self.args = args
        self.name = "c%d" % index
        self.entries = []       # (id, type, name, text, mid) in order
        self.last = None        # the last ID, as a string
        self.epoch = None
        self.nodes = set()
        self.pending = {}       # mid -> text, not seen in the room yet
        self.refused = {}       # mid -> why
        self.sent = []          # every mid this client sent
        self.lost = 0           # "history lost" notices
        self.online = False     # the room's log can be reached
        self.notices = []       # "offline" and "online", as they came
        self.reconnects = 0
        self.ws = None
        self.live = asyncio.Event()
        self.errors = []

    def url_now(self):
        if self.last is None:
            return self.url
        return "%s?since=%s&epoch=%s" % (self.url, self.last, self.epoch)

    async def run(self, stop):
        delay = 0.1
        while not stop.is_set():
            try:
                async with websockets.connect(self.url_now(), max_size=None,
                                              close_timeout=2,
                                              ping_interval=None) as ws:
                    self.ws = ws
                    delay = 0.1
                    if self.sender:
                        await ws.send("/name " + self.name)
                    async for raw in ws:
                        await self.receive(json.loads(raw))
            except (OSError, websockets.exceptions.WebSocketException,
                    asyncio.TimeoutError):
                pass
            self.ws = None
            self.live.clear()
            if stop.is_set():
                break
            self.reconnects += 1
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)

    async def receive(self, m):
        t = m["type"]
        if t == "hello":
            self.online = m["online"]
            self.epoch = m["epoch"]
            self.nodes.add(m.get("node", "?"))
        elif t == "lost":
            self.lost += 1
            self.last = None
        elif t == "offline":
            self.online = False
            self.notices.append(t)
        elif t in ("live", "online"):
            if t == "online":
                self.online = True
                self.notices.append(t)
            if t == "live":
                self.live.set()
            for mid, text in list(self.pending.items()):
                await self.say(mid, text)
        elif t == "refused":
            if m["mid"] in self.pending:
                del self.pending[m["mid"]]
                self.refused[m["mid"]] = m["why"]
        elif t in ("join", "leave", "say"):
            if self.last is not None and \
                    parse_id(m["id"]) <= parse_id(self.last):
                return          # had it (the page does the same)
            self.last = m["id"]
            mid = m.get("mid", "")
            self.entries.append((m["id"], t, m["name"], m["text"], mid,
                                 self.lost))
            if mid in self.pending:
                del self.pending[mid]

    async def say(self, mid, text):
        ws = self.ws
        if ws is None or not self.live.is_set():
            return              # sent again after the next "live"
        try:
            await ws.send("/say %s %s" % (mid, text))
        except websockets.exceptions.WebSocketException:
            pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", action="append", required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--senders", type=int)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--ready-file")
    ap.add_argument("--ready-at", type=int, default=0)
    ap.add_argument("--expect-nodes", type=int, default=0)
    ap.add_argument("--expect-reconnects", action="store_true")
    ap.add_argument("--expect-no-refusals", action="store_true")
    ap.add_argument("--wait-online", action="store_true",
                    help="send only once every client's room is online")
    ap.add_argument("--expect-notices", action="store_true",
                    help="every client is told the room went offline, "
                    "then online again")
    ap.add_argument("--expect-offline", action="store_true",
                    help="the room is offline: every line is refused")
    ap.add_argument("--drop-every", type=int, default=0,
                    help="every K lines sent, a client's connection is cut")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--pace", type=float, default=0.0005,
                    help="seconds between two lines of one sender")
    ap.add_argument("--pages-dir", help="where pages.test.js meets us")
    ap.add_argument("--pages", type=int, default=0)
    ap.add_argument("--page-lines", type=int, default=0)
    args = ap.parse_args()
    senders = args.senders if args.senders is not None else args.clients
    clients = [Client(i, args.url[i % len(args.url)], i < senders, args)
               for i in range(args.clients)]
    # Line ids unique to this run: the room adds an id once, ever.
    run = "%08x" % random.getrandbits(32)
    stop = asyncio.Event()
    deadline = time.monotonic() + args.timeout
    tasks = [asyncio.ensure_future(c.run(stop)) for c in clients]

    async def wait_for(what, cond):
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError(what)
            await asyncio.sleep(0.05)

    ok = True
    pages = []
    page_top = (0, 0)

    def page_file(name):
        return os.path.join(args.pages_dir, name)

    def put(name, text):
        with open(page_file(name) + ".tmp", "w") as f:
            f.write(text + "\n")
        os.rename(page_file(name) + ".tmp", page_file(name))

    def check(name, good, why=""):
        nonlocal ok
        if good:
            print("ok " + name)
        else:
            ok = False
            print("FAIL %s: %s" % (name, why))

    try:
        await wait_for("every client live",
                       lambda: all(c.live.is_set() for c in clients))
        if args.wait_online:
            await wait_for("every client's room online",
                           lambda: all(c.online for c in clients))
        # Senders joined: their join entries reached every client
        # (unless the room is offline: joins are refused too).
        await wait_for("every join seen", lambda: args.expect_offline or all(
            sum(1 for e in c.entries if e[1] == "join") >= senders
            for c in clients))
        if args.pages:
            await wait_for("every page joined", lambda: all(
                os.path.exists(page_file("page%d.node" % (i + 1)))
                for i in range(args.pages)))
            put("go", run)
        count = 0
        ready = False
        per = [clients[i] for i in range(senders)]
        for k in range(args.messages):
            c = per[k % senders]
            mid = "%s-%s-m%d" % (run, c.name, k)
            text = "line %d from %s" % (k, c.name)
            c.pending[mid] = text
            c.sent.append(mid)
            await c.say(mid, text)
            count += 1
            if args.drop_every and count % args.drop_every == 0:
                victim = random.choice(clients)
                if victim.ws is not None:
                    victim.ws.transport.abort()     # no close frame: 1006
            if args.ready_file and not ready and count >= args.ready_at:
                with open(args.ready_file, "w") as f:
                    f.write("%d\n" % count)
                ready = True
            if args.pace:
                await asyncio.sleep(args.pace)
        if args.ready_file and not ready:
            with open(args.ready_file, "w") as f:
                f.write("%d\n" % count)
        await wait_for("every line seen by its sender or refused",
                       lambda: all(not c.pending for c in clients))
        if args.pages:
            await wait_for("every page line in the room or refused",
                           lambda: os.path.exists(page_file("sent")))
            with open(page_file("sent")) as f:
                page_top = parse_id(f.read().strip())

        def top(c):
            return max((parse_id(e[0]) for e in c.entries), default=(0, 0))
        await wait_for("every client as far as the last ID", lambda: len(
            {top(c) for c in clients}) == 1 and all(c.live.is_set()
                                                    for c in clients)
            and top(clients[0]) >= page_top)
        if args.pages:
            put("done", "%d-%d" % top(clients[0]))
            await wait_for("every page's room (pageN.json)", lambda: all(
                os.path.exists(page_file("page%d.json" % (i + 1)))
                for i in range(args.pages)))
            pages = [Page(len(clients) + i, page_file("page%d.json" % (i + 1)))
                     for i in range(args.pages)]
    except TimeoutError as e:
        for c in clients:
            if c.pending:
                print("# %s: %d pending, live %s, connected %s, %d "
                      "reconnects, last %s" % (c.name, len(c.pending),
                                              c.live.is_set(),
                                              c.ws is not None,
                                              c.reconnects, c.last))
        check("finished", False, "%s not within %g s; pending %d, live %d/%d"
              % (e, args.timeout, sum(len(c.pending) for c in clients),
                 sum(c.live.is_set() for c in clients), len(clients)))
    stop.set()
    for c in clients:
        if c.ws is not None:
            await c.ws.close()
    await asyncio.wait(tasks, timeout=10)

    # This run's lines (a join also brings the room's last 50), each by
    # its key: the mid of a Python client's line, the text of a page's
    # (unique to the run too; the page chose its mid).
    page_of = {t: p.name for p in pages for t in p.texts}

    def key(e):
        if e[4].startswith(run + "-"):
            return e[4]
        return "page:" + e[3] if e[3] in page_of else None
    clients = clients + pages
    says = {}
    for c in clients:
        says[c.index] = [e for e in c.entries
                         if e[1] == "say" and key(e) is not None]
    refused = {mid for c in clients for mid in c.refused}
    sent = [mid for c in clients for mid in c.sent]
    in_room = set()
    dups = []
    for c in clients:
        mids = [key(e) for e in says[c.index]]
        in_room |= set(mids)
        if len(mids) != len(set(mids)):
            dups.append(c.name)
    first = clients[0]
    ref_order = [e[0] for e in says[first.index]]
    lengths = sorted({len(v) for v in says.values()})
    print("# %d clients (%d pages), %d senders, %d lines sent, %d in the "
          "room, %d refused, %d reconnects, %d 'lost' notices, nodes %s"
          % (len(clients), len(pages), senders + len(pages), len(sent),
             len(in_room), len(refused),
             sum(c.reconnects for c in clients),
             sum(c.lost for c in clients),
             ",".join(sorted({n for c in clients for n in c.nodes}))))
    check("no client got a line twice", not dups, "twice on " + ",".join(dups[:5]))
    if args.pages:
        check("%d pages, %d lines each" % (args.pages, args.page_lines),
              len(pages) == args.pages and all(
                  len(p.texts) == args.page_lines for p in pages),
              "pages %s" % [(p.name, len(p.texts)) for p in pages])
    missing = [c.name for c in clients
               if {key(e) for e in says[c.index]} != in_room]
    check("every client got every line of the room", not missing,
          "%d clients miss lines (lengths %s)" % (len(missing), lengths))
    diff = [c.name for c in clients
            if [e[0] for e in says[c.index]] != ref_order]
    check("the same order on every client", not diff,
          "%d clients differ from %s" % (len(diff), first.name))
    # (After a "history lost" notice IDs may start over: in each stretch.)
    bad_ids = [c.name for c in clients if any(
        parse_id(a[0]) >= parse_id(b[0]) and b[5] == a[5]
        for a, b in zip(c.entries, c.entries[1:]))]
    check("IDs increase on every client", not bad_ids, ",".join(bad_ids[:5]))
    both = refused & in_room
    neither = set(sent) - refused - in_room
    check("each line in the room or refused to its sender, never both",
          not both, "%d both, e.g. %s" % (len(both), sorted(both)[:3]))
    check("each line in the room or refused to its sender, never neither",
          not neither, "%d neither, e.g. %s" % (len(neither),
                                                sorted(neither)[:3]))
    texts_ok = all(page_of[e[3]] == e[2] if e[3] in page_of else
                   e[3] == "line %s from %s" % (e[4].rsplit("-m", 1)[1], e[2])
                   for v in says.values() for e in v)
    check("every line arrived as it was sent", texts_ok)
    if args.expect_nodes:
        nodes = {n for c in clients for n in c.nodes}
        check("served by %d nodes or more" % args.expect_nodes,
              len(nodes) >= args.expect_nodes, "nodes %s" % sorted(nodes))
    if args.expect_notices:
        told = [c for c in clients
                if "offline" in c.notices and c.notices[-1] == "online"]
        check("every client told offline, then online", len(told) ==
              len(clients), "%d of %d; e.g. %s" % (
                  len(told), len(clients), clients[0].notices))
    if args.expect_offline:
        check("every line refused while the room is offline",
              len(refused) == len(sent) and not in_room,
              "%d refused, %d in the room of %d" % (len(refused),
                                                   len(in_room), len(sent)))
    if args.expect_no_refusals:
        check("no line refused", not refused,
              "%d refused, e.g. %s" % (len(refused), sorted(refused)[:3]))
    if args.expect_reconnects:
        check("clients reconnected and resumed",
              sum(c.reconnects for c in clients) > 0, "no reconnect")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
