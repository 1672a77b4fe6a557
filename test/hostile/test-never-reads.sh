#!/bin/sh
# Hostile peers: a client that never reads while the server keeps sending
# to it (a push it asked for; broadcasts to everyone). The server holds at
# most its max outgoing buffer for it (the buffered amount never exceeds
# the limit, RSS growth is bounded), the send past the limit returns -1
# and the connection fails with 1008; the other clients are answered all
# along and get every broadcast. Run by "make check" with top_srcdir and
# top_builddir exported.
#
#   never-reads         the default limit (4 MiB): "cmd:push" of 64 KiB
#                       messages (capped at 256 MiB in total should the
#                       limit not work)
#   never-reads-bcast   a 1 MiB limit: GET /broadcast of 256 KiB at a time
#                       to two readers and the never-reading peer
#   shutdown-held       SIGTERM while an idle WebSocket and one with 2 MiB
#                       stuck in its output are open, with a request
#                       deadline (wsev_guard_new): the idle one gets a
#                       close frame 1001, the stuck one is dropped
#
# Each server is stopped with SIGTERM and must exit 0 (LeakSanitizer in
# the sanitizer build; valgrind's --error-exitcode with WSEV_TEST_WRAPPER).
# Prints "ok"/"FAIL" lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/hostile/common.sh
. "$top_srcdir/test/hostile/common.sh"

hostile_init
# RSS growth allowed: four times the limit. Without the limit the push
# would add 256 MiB, a broadcast series 64 MiB.
run_scenario never-reads --close-timeout-ms 1000 --push-cap 268435456 -- \
    never-reads --rss-bound-kib "$(rss_bound 16384)"
run_scenario never-reads-bcast --close-timeout-ms 1000 --max-out 1048576 -- \
    never-reads-bcast --rss-bound-kib "$(rss_bound 8192)"
# SIGTERM with an idle WebSocket and a stuck one still open: the server
# ends both (1001 for the idle one) and frees everything, the guard too,
# which still holds the idle one's bufferevent (no byte since the
# hand-over, its 5 s deadline not reached).
run_held_scenario shutdown-held --guard-ms 5000 --sndbuf 65536 -- hold
finish
