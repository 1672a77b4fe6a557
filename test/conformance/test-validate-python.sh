#!/bin/sh
# Validation of wsconform.py itself against a third-party implementation:
# Python websockets (Debian's python3-websockets 10.4) as an echo server
# (peers/py-echo-server.py, tested by the fuzzing client) and as an echo
# client (peers/py-echo-client.py, driven like Autobahn's clients by the
# fuzzing server). It must get exactly the verdicts Autobahn gives it: OK,
# INFORMATIONAL for 7.1.6 and 7.13.x, and the NON-STRICT cases listed with
# their reasons in expect/websockets.txt. Section 9 is cut down and sections
# 12 and 13 (permessage-deflate, which both peers negotiate) send
# VALIDATE_COUNT messages per case unless WSEV_CONFORMANCE_FULL=1. Exit 77
# (SKIP) without websockets.
#
# Run by "make check" with top_srcdir and top_builddir exported. Prints one
# "ok"/"FAIL" line per case, then "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/conformance/common.sh
. "$top_srcdir/test/conformance/common.sh"

validation_build
conf_init
need_python websockets
cases=$(validation_cases)
deflate_n=$VALIDATE_COUNT
expect=$conf_dir/expect/websockets.txt

if start_listener websockets-server "$python" -B "$conf_dir/peers/py-echo-server.py"; then
	run_suite websockets-server client "$server_url" --cases "$cases" \
	    --expect-file "$expect"
	stop_server websockets-server
fi

run_suite websockets-client server --cases "$cases" --expect-file "$expect" \
    --driver "'$python' -B '$conf_dir/peers/py-echo-client.py' {base}"

finish
