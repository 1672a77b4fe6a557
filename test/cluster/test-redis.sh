#!/bin/sh
# samples/chat-server over Redis behind nginx, as it runs in production:
# redis-server (appendonly), two chat-server processes (--redis; one of
# them with --threads 2) and nginx in front of them, configured with the
# checked-in samples/nginx-chat.conf, all started here on free ports.
# Python clients (chat-clients.py, which resume as the chat page does)
# connect through nginx and check, each time, that every line said is
# received by every client exactly once, in one order, or refused to its
# sender (never both, never neither):
#   order           8 clients, 2,000 lines
#   backend-killed  a backend killed with SIGKILL in the middle of a burst:
#                   its clients reconnect through nginx to the other one
#                   with their last ID
# In these two, 2 of the 8 clients are the real chat page in headless
# Chromium (pages.test.js; without Chromium or playwright-core, Python
# clients instead), the backend killed is the one of the first page, and
# that page must show the reconnect and no line twice.
#   redis-stalled   Redis stopped (SIGSTOP) for 7 s in the middle of a
#                   burst: the servers keep serving, drop the link, make
#                   it again
#   redis-restart   Redis killed in the middle of a burst (lines refused
#                   while it is down) and started again on its data: the
#                   backends resume from their last IDs; then a burst with
#                   nothing refused
#   redis-flushed   the stream gone (FLUSHALL): a client resuming after
#                   an ID of the old log is told "history lost from here"
#   bad-key         the stream's key holds a string: Redis answers every
#                   XREAD with an error; the room is offline, lines are
#                   refused, no server crashes; the key deleted, lines flow
# Every chat-server must exit 0 on SIGTERM with nothing on stderr.
# Prints "ok"/"FAIL" lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/cluster/common.sh
. "$top_srcdir/test/cluster/common.sh"

need_redis
need_nginx
cluster_init redis
start_redis redis || finish
rurl=redis://127.0.0.1:$redis_port

start_chat chat-a --redis "$rurl" --threads 2 || finish
a_pid=$chat_pid
a_port=$chat_port
a_name=chat-a
start_chat chat-b --redis "$rurl" || finish
b_pid=$chat_pid
b_port=$chat_port
b_name=chat-b
start_cluster_nginx nginx "$a_port" "$b_port" || finish
url=ws://127.0.0.1:$nginx_port1/ws

start_pages pages-order
# shellcheck disable=SC2086
run_counted order 300 "$python" "$clients" --url "$url" $mix_args \
    --expect-nodes 2 --timeout 120
end_pages

# A backend dies in the middle of a burst: the first page's, if any.
start_pages pages-killed --expect-reconnect
# shellcheck disable=SC2086
run_held backend-killed 300 "$tmp/killed.ready" "$python" "$clients" \
    --url "$url" $mix_args --pace 0.002 \
    --ready-file "$tmp/killed.ready" --ready-at 800 --expect-reconnects \
    --timeout 120
victim=a
if [ -s "$tmp/pages-killed/page1.node" ] &&
    [ "$(cut -d. -f1 "$tmp/pages-killed/page1.node")" = "$(pgrep -P "$b_pid")" ]; then
	victim=b
fi
echo "# killing chat-$victim"
if [ "$victim" = a ]; then
	bg_kill "$a_pid"
	end_held
	start_chat chat-a2 --redis "$rurl" --threads 2 --port "$a_port" || finish
	a_pid=$chat_pid
	a_name=chat-a2
else
	bg_kill "$b_pid"
	end_held
	start_chat chat-b2 --redis "$rurl" --port "$b_port" || finish
	b_pid=$chat_pid
	b_name=chat-b2
fi
end_pages

# Redis stops answering in the middle of a burst (SIGSTOP), for longer
# than chat-redis.c waits (5 s): the servers keep serving (the page
# loads), drop the link and make it again once Redis answers.
run_held redis-stalled 300 "$tmp/stalled.ready" "$python" "$clients" \
    --url "$url" --clients 8 --messages 1000 --pace 0.002 \
    --ready-file "$tmp/stalled.ready" --ready-at 300 --timeout 120
redis_child=$(pgrep -P "$redis_pid" || echo "$redis_pid")
kill -STOP "$redis_child"
sleep 1
if "$python" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).status)' \
    "http://127.0.0.1:$nginx_port1/" >"$tmp/page.status" 2>&1 &&
    [ "$(cat "$tmp/page.status")" = 200 ]; then
	pass "redis-stalled-page-served"
else
	fail "redis-stalled-page-served" "GET / while Redis is stalled: $(oneline "$tmp/page.status")"
fi
sleep 6
kill -CONT "$redis_child"
end_held

# Redis dies in the middle of a burst and comes back on its data.
run_held redis-restart 300 "$tmp/redis.ready" "$python" "$clients" \
    --url "$url" --clients 8 --messages 2000 --pace 0.002 \
    --ready-file "$tmp/redis.ready" --ready-at 600 --expect-notices \
    --timeout 120
stop_redis redis KILL
sleep 1
start_redis redis || finish
end_held
run_counted after-restart 300 "$python" "$clients" --url "$url" \
    --clients 4 --messages 400 --expect-no-refusals --timeout 120

# A bad reply: the room's key is not a stream any more. The servers do not
# crash: the room is offline and every line is refused; once the key is
# gone, they come back by themselves and lines flow again.
redis_cli redis DEL chat >/dev/null
redis_cli redis SET chat not-a-stream >/dev/null
run_counted bad-key 120 "$python" "$clients" --url "$url" --clients 4 \
    --messages 40 --expect-offline --timeout 60
redis_cli redis DEL chat >/dev/null
run_counted bad-key-gone 120 "$python" "$clients" --url "$url" \
    --clients 4 --messages 400 --wait-online --expect-no-refusals \
    --timeout 60

# The log is lost: a client resuming after one of its IDs is told so.
run_counted resume-before 60 "$python" "$top_srcdir/test/cluster/resume-check.py" \
    save --url "$url" --state "$tmp/resume.json"
run_counted resume-kept 60 "$python" "$top_srcdir/test/cluster/resume-check.py" \
    resume --url "$url" --state "$tmp/resume.json" --expect ok
redis_cli redis FLUSHALL >/dev/null
run_counted resume-flushed 60 "$python" "$top_srcdir/test/cluster/resume-check.py" \
    resume --url "$url" --state "$tmp/resume.json" --expect lost
# ... and the room goes on in its new log.
run_counted after-flush 120 "$python" "$clients" --url "$url" --clients 4 \
    --messages 400 --wait-online --expect-no-refusals --timeout 60

stop_nginx nginx
stop_chat "$b_name" "$b_pid"
stop_chat "$a_name" "$a_pid"
stop_redis redis
finish
