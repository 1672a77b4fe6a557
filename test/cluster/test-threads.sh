#!/bin/sh
# samples/chat-server --threads 2: one room over two threads (each its own
# event_base, evhttp and SO_REUSEPORT listener) joined by the in-process
# log. 1,000 Python clients spread over both threads (the test checks
# that they were), 50 of them send 400 lines between them: every client
# gets every line exactly once and all in the same order, the one order of
# the room. Then a client that reconnects with ?since= gets what it missed
# (chat-clients.py, as the page does). The server must exit 0 on SIGTERM
# with nothing on stderr: under ThreadSanitizer (tools/test runs this test
# in a --enable-sanitizers=thread build too) a data race is a report there.
#
# CHAT_CLIENTS lowers the number of clients for a quick run by hand.
# Prints "ok"/"FAIL" lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/cluster/common.sh
. "$top_srcdir/test/cluster/common.sh"

n=${CHAT_CLIENTS:-1000}
raise_fd_limit $((n * 2 + 200))
cluster_init threads
start_chat chat --threads 2 || finish
url=ws://127.0.0.1:$chat_port/ws

run_counted threads 600 "$python" "$clients" --url "$url" --clients "$n" \
    --senders 50 --messages 400 --expect-nodes 2 --timeout 300
# Some clients drop and come back in the middle of a burst: they resume.
run_counted threads-resume 600 "$python" "$clients" --url "$url" \
    --clients 20 --messages 400 --drop-every 50 --expect-reconnects \
    --timeout 300
stop_chat chat
finish
