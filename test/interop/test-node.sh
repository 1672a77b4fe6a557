#!/bin/sh
# Interop test: wsev's test/interop/peer-server against the client of Node's
# ws package (node-client.js), through the real HTTP handshake, over ws://
# and wss:// (a certificate made at test time, trusted with ca:). Run by
# "make check" with top_srcdir and top_builddir exported; exit 77 (SKIP)
# when node or ws (version 8 or later) is missing.
#
# ws is looked up in $WSEV_NODE_MODULES, then test/interop/node/node_modules
# of the source and the build tree (tools/deps installs it there with
# npm install --prefix test/interop/node), then Node's own paths.
#
# Modes: plain (ws://), tls (wss://), tls12 (wss://, TLS 1.2 at most).
# Each mode runs against a fresh server (--max-payload 0 --protocol chat
# --protocol superchat) that must report no error and exit 0 on SIGTERM.
# The main suite includes permessage-deflate (negotiated, not offered, the
# four parameters, size classes, fragments both ways). Then, plain only,
# fresh servers with --keepalive 1 (node-keepalive), --keepalive 1
# --pong-timeout 1 against ws with autoPong: false (node-pong-timeout) and
# --chunk-size 1000 (node-chunked).
# Prints "ok"/"FAIL" lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/interop/common.sh
. "$top_srcdir/test/interop/common.sh"

need_node_ws interop
interop_init
client=$interop_dir/node-client.js

for mode in plain tls tls12; do
	tls_mode "$mode" --tls-max TLSv1.2
	# shellcheck disable=SC2086
	if start_server "node-$mode" "$PEER_SERVER" $tls --max-payload 0 \
	    --protocol chat --protocol superchat; then
		# shellcheck disable=SC2086
		run_counted "node-$mode" 300 node "$client" --url "$server_url" \
		    --server-log "$server_out" --label "node-$mode" $ca
		stop_server "node-$mode"
		check_server_stderr "node-$mode"
	fi
done

for suite in keepalive pong-timeout chunked; do
	case $suite in
	keepalive) flags="--keepalive 1" ;;
	pong-timeout) flags="--keepalive 1 --pong-timeout 1" ;;
	chunked) flags="--chunk-size 1000" ;;
	esac
	# shellcheck disable=SC2086
	start_server "node-$suite" "$PEER_SERVER" --max-payload 0 $flags || continue
	run_counted "node-$suite" 300 node "$client" --suite "$suite" \
	    --url "$server_url" --server-log "$server_out" --label "node-$suite"
	stop_server "node-$suite"
	if [ "$suite" != pong-timeout ]; then
		check_server_stderr "node-$suite"
	else
		check_pong_timeout node-pong-timeout
	fi
done

finish
