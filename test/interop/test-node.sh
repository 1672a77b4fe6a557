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

if ! command -v node >/dev/null 2>&1; then
	echo "SKIP: no node (Debian: apt-get install nodejs npm)"
	exit 77
fi
NODE_PATH=${WSEV_NODE_MODULES:+$WSEV_NODE_MODULES:}$top_srcdir/test/interop/node/node_modules:$top_builddir/test/interop/node/node_modules${NODE_PATH:+:$NODE_PATH}
export NODE_PATH
if ! ver=$(node -e 'process.stdout.write(require("ws/package.json").version)' 2>&1); then
	echo "SKIP: node cannot load the ws package (npm install --prefix $top_srcdir/test/interop/node ws):"
	printf '%s\n' "$ver" | grep -m 1 'Error' || printf '%s\n' "$ver" | tail -n 1
	exit 77
fi
case $ver in
[0-7].*)
	echo "SKIP: ws $ver is too old: node-client.js needs ws 8 or later"
	exit 77
	;;
esac
echo "# node $(node --version), ws $ver"

interop_init
make_cert
client=$interop_dir/node-client.js

for mode in plain tls tls12; do
	tls=
	ca=
	case $mode in
	tls)
		tls="--tls $tmp/cert.pem $tmp/key.pem"
		ca="--cafile $tmp/cert.pem"
		;;
	tls12)
		tls="--tls $tmp/cert.pem $tmp/key.pem"
		ca="--cafile $tmp/cert.pem --tls-max TLSv1.2"
		;;
	esac
	# shellcheck disable=SC2086
	if start_server "node-$mode" $tls --max-payload 0 \
	    --protocol chat --protocol superchat; then
		# shellcheck disable=SC2086
		run_client "node-$mode" node "$client" --url "$server_url" \
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
	start_server "node-$suite" --max-payload 0 $flags || continue
	run_client "node-$suite" node "$client" --suite "$suite" \
	    --url "$server_url" --server-log "$server_out" --label "node-$suite"
	stop_server "node-$suite"
	if [ "$suite" != pong-timeout ]; then
		check_server_stderr "node-$suite"
	elif grep -q '^error domain=1 code=1008: keepalive pong timed out$' \
	    "$server_err"; then
		pass node-pong-timeout-error
	else
		fail node-pong-timeout-error "no 1008 error: $(head -n 5 "$server_err")"
	fi
done

interop_finish
