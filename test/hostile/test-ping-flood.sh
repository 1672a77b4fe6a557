#!/bin/sh
# Hostile peers: a ping flood from a client that does not read its pongs.
# Past the max outgoing buffer (1 MiB here) wsev stops reading that peer,
# so TCP flow control stalls the peer's writes and the server's memory
# stays bounded (the buffered amount never goes more than one pong past
# the limit; RSS growth under 16 MiB, where 200,000 unanswered pings would
# queue 25 MiB of pongs). Once the peer reads it gets every pong, in
# order, and the echo of a message it sent behind the pings; another
# client is answered throughout. Run by "make check" with top_srcdir and
# top_builddir exported.
#
# The server is stopped with SIGTERM and must exit 0 (LeakSanitizer in the
# sanitizer build; valgrind's --error-exitcode with WSEV_TEST_WRAPPER).
# Prints "ok"/"FAIL" lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/hostile/common.sh
. "$top_srcdir/test/hostile/common.sh"

hostile_init
run_scenario ping-flood --max-out 1048576 --sample-ms 5 -- \
    ping-flood --max-pings 200000 --rss-bound-kib "$(rss_bound 16384)"
finish
