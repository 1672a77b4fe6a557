#!/bin/sh
# Client interop test: wsev-cat and client-probe (wsev_connect) against the
# WebSocketServer of Node's ws package (node-server.js), over ws:// and
# wss:// (a certificate made at test time), with compression off, left at
# ws's default (declined), and on offer (perMessageDeflate: true: wsev's
# offer accepted, see deflate_suite in suite.sh). Run by "make check" with top_srcdir and
# top_builddir exported; exit 77 (SKIP) when node or ws (8 or later) is
# missing.
#
# ws is looked up in $WSEV_NODE_MODULES, then test/interop-client/node/
# node_modules of the source and the build tree (installed there with
# "npm install --prefix test/interop-client/node ws"), then Node's own
# paths.
#
# Environment: see common.sh (WSEV_CAT, WSEV_CLIENT_PROBE, ...).
# Prints "ok"/"FAIL" lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=common.sh
. "$top_srcdir/test/interop-client/common.sh"
# shellcheck source=suite.sh
. "$top_srcdir/test/interop-client/suite.sh"

need_node_ws interop-client
need_cmd sha256sum
ic_init
make_cert good "DNS:localhost,IP:127.0.0.1"
logdir=$tmp/logs
mkdir "$logdir"
suite_inputs

start_peer node node "$ic_dir/node-server.js" --log-dir "$logdir" \
    --cert "$tmp/good.pem" --key "$tmp/good.key" || finish

suite node-plain "ws://127.0.0.1:$(peer_port plain)"
suite node-tls "wss://127.0.0.1:$(peer_port tls)" --cafile "$tmp/good.pem"

# Compression: wsev offers permessage-deflate. ws 8's default server
# declines it (nothing negotiated, messages uncompressed), the "deflate"
# server (perMessageDeflate: true) accepts it.
for srv in default deflate; do
	base="ws://127.0.0.1:$(peer_port "$srv")"
	suite "node-$srv" "$base"
	for n in node-$srv-text-sizes node-$srv-echo-mode node-$srv-headers; do
		if [ "$srv" = default ]; then
			expect_log "$n-declined" "$n" "extensions -" \
			    "negotiated -" || continue
			what=declined
		else
			expect_log "$n-deflate" "$n" \
			    "negotiated permessage-deflate" || continue
			what=deflate
		fi
		if grep -qi '^header Sec-WebSocket-Extensions: permessage-deflate' "$logdir/$n.log"; then
			pass "$n-$what"
		else
			fail "$n-$what" "wsev offered no permessage-deflate"
		fi
	done
done
deflate_suite node-deflate "ws://127.0.0.1:$(peer_port deflate)"

stop_peer node
finish
