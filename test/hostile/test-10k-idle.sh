#!/bin/sh
# Hostile peers: 10,000 concurrent idle WebSockets on one server (the C
# load client hostile-load, plain libevent). They stay idle past the
# server's request deadline (wsev_guard_new, 2 s) and idle timeout
# (evhttp_set_timeout, 2 s), which must not touch WebSockets; then every
# one of them must receive a final broadcast and answer it, and close with
# 1000. The server's memory per connection (RSS growth / N) is printed,
# and must be under 64 KiB in the plain build; under a sanitizer or
# WSEV_TEST_WRAPPER it is only reported. Run by "make check" with top_srcdir
# and top_builddir exported.
#
# Needs 10,000 descriptors in each of the two processes: the limit is
# raised to 30,000 (CI runs as root); SKIP (77) if it cannot be. The
# number can be lowered with HOSTILE_CONNECTIONS (for a quick run by
# hand). The server is stopped with SIGTERM and must exit 0
# (LeakSanitizer in the sanitizer build). Prints "ok"/"FAIL" lines and
# "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/hostile/common.sh
. "$top_srcdir/test/hostile/common.sh"

n=${HOSTILE_CONNECTIONS:-10000}
raise_fd_limit 30000 $((n + 1000))
hostile_init
need_built "$HOSTILE_LOAD"
bound=0
if memory_checked; then
	bound=65536
fi
if start_server load "$HOSTILE_SERVER" --guard-ms 2000 --http-timeout 2; then
	run_counted load 300 "$HOSTILE_LOAD" --port "$server_port" -n "$n" \
	    --concurrency 200 --idle-ms 3000 --timeout 120 \
	    --max-bytes-per-conn "$bound"
	stop_server load
fi
finish
