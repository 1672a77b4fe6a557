#!/bin/sh
# Validation of wsconform.py itself against a third-party implementation:
# Node's ws (8 or later) as an echo server (peers/node-echo-server.js,
# tested by the fuzzing client) and as an echo client
# (peers/node-echo-client.js, driven like Autobahn's clients by the fuzzing
# server). It must get exactly the verdicts Autobahn gives it: OK,
# INFORMATIONAL for 7.1.6 and 7.13.x, and the NON-STRICT cases listed with
# their reasons in expect/ws.txt. Section 9 is cut down and sections 12 and
# 13 (permessage-deflate, which both peers negotiate) send VALIDATE_COUNT
# messages per case unless WSEV_CONFORMANCE_FULL=1.
#
# ws is looked up in $WSEV_NODE_MODULES, then test/interop/node/node_modules
# (tools/deps installs it there), then Node's own paths; exit 77 (SKIP)
# without node or ws. Run by "make check" with top_srcdir and top_builddir
# exported. Prints one "ok"/"FAIL" line per case, then "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/conformance/common.sh
. "$top_srcdir/test/conformance/common.sh"

validation_build
conf_init
need_node_ws interop
cases=$(validation_cases)
deflate_n=$VALIDATE_COUNT
expect=$conf_dir/expect/ws.txt

if start_listener ws-server node "$conf_dir/peers/node-echo-server.js"; then
	run_suite ws-server client "$server_url" --cases "$cases" --expect-file "$expect"
	stop_server ws-server
fi

run_suite ws-client server --cases "$cases" --expect-file "$expect" \
    --driver "node '$conf_dir/peers/node-echo-client.js' {base}"

finish
