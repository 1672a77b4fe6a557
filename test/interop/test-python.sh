#!/bin/sh
# Interop test: wsev's test/interop/peer-server against Python websockets'
# asyncio client (python-client.py), through the real HTTP handshake, over
# ws:// and wss:// (a certificate made at test time). Run by "make check"
# with top_srcdir and top_builddir exported; exit 77 (SKIP) when the peer is
# missing.
#
# The interpreter is /usr/bin/python3 on purpose: the peer is Debian's
# python3-websockets (10.4), installed for the system Python only.
#
# Runs, each against a fresh server:
#   python-plain, python-tls,       the main suite; the server runs with
#   python-tls12 (TLS 1.2 at most)  --max-payload 0 --protocol chat
#                                   --protocol superchat and must report
#                                   no error
#   python-defaults-plain/-tls      default limits (1009), dropped clients
#   python-shutdown-plain/-tls      SIGTERM with an idle WebSocket open
#                                   (1001 "going away", no error)
#   python-shutdown-busy-plain/-tls SIGTERM with the output to the client
#                                   stuck (dropped: 1006 and an error)
#   python-deflate-*                permessage-deflate (plain; default
#                                   also over TLS): the default, declined
#                                   by either side, and the parameters
#                                   offered by websockets or imposed by
#                                   peer-server's --deflate-* flags
#   python-keepalive                --keepalive 1: the pongs counted
#   python-pong-timeout             --keepalive 1 --pong-timeout 1 and a
#                                   peer that never answers: 1008
#   python-chunked                  --chunk-size 1000, 1 MiB messages
# and checks each server's exit status (0; valgrind's --error-exitcode
# with WSEV_TEST_WRAPPER). Prints "ok"/"FAIL" lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/interop/common.sh
. "$top_srcdir/test/interop/common.sh"

need_python websockets.legacy.client
interop_init
client=$interop_dir/python-client.py

# run_shutdown SUITE MODE: a client holds a WebSocket open (idle for
# "shutdown", with the server's output stuck for "shutdown-busy") and
# creates a file when ready; the server then gets SIGTERM. Uses $tls, $ca.
run_shutdown() {
	sname=python-$1-$2
	# A stuck output needs no limit on it: with the default one the
	# server would end the connection with 1008 before the SIGTERM.
	extra=
	[ "$1" = shutdown-busy ] && extra="--max-outgoing 0"
	# shellcheck disable=SC2086
	start_server "$sname" "$PEER_SERVER" $tls $extra || return 0
	# shellcheck disable=SC2086
	run_held "$sname" 90 "$tmp/$sname.ready" "$python" "$client" \
	    --suite "$1" --ready-file "$tmp/$sname.ready" --url "$server_url" \
	    --server-log "$server_out" --label "$sname" $ca
	stop_server "$sname"
	end_held
	# wsev.h: "going away" is no error; a drop is one, with code 1006.
	if [ "$1" = shutdown ]; then
		check_server_stderr "$sname"
	elif grep -q '^error domain=1 code=1006: ' "$server_err"; then
		pass "$sname-error-1006"
	else
		fail "$sname-error-1006" "the server reported no 1006 error: $(head -n 5 "$server_err")"
	fi
}

for mode in plain tls tls12; do
	tls_mode "$mode" --tls12

	# shellcheck disable=SC2086
	if start_server "python-$mode" "$PEER_SERVER" $tls --max-payload 0 \
	    --protocol chat --protocol superchat; then
		# shellcheck disable=SC2086
		run_counted "python-$mode" 300 "$python" "$client" --url "$server_url" \
		    --server-log "$server_out" --label "python-$mode" $ca
		stop_server "python-$mode"
		check_server_stderr "python-$mode"
	fi
	# TLS 1.2 changes the records and the close, not these: main suite only.
	[ "$mode" = tls12 ] && continue

	# shellcheck disable=SC2086
	if start_server "python-defaults-$mode" "$PEER_SERVER" $tls; then
		# shellcheck disable=SC2086
		run_counted "python-defaults-$mode" 300 "$python" "$client" \
		    --suite defaults --url "$server_url" \
		    --server-log "$server_out" --label "python-defaults-$mode" $ca
		stop_server "python-defaults-$mode"
	fi

	run_shutdown shutdown "$mode"
	run_shutdown shutdown-busy "$mode"
done

# run_deflate NAME OFFER EXPECT SERVER-FLAGS...: the deflate suite against
# a fresh server (plain) run with --max-payload 0 and SERVER-FLAGS.
run_deflate() {
	dname=python-deflate-$1
	offer=$2
	expect=$3
	shift 3
	start_server "$dname" "$PEER_SERVER" --max-payload 0 "$@" || return 0
	run_counted "$dname" 300 "$python" "$client" --suite deflate \
	    --offer "$offer" --expect-ext "$expect" --url "$server_url" \
	    --server-log "$server_out" --label "$dname"
	stop_server "$dname"
	check_server_stderr "$dname"
}

# The extensions in cmd:extensions' form: ext SNCT CNCT SMWB CMWB.
ext() {
	echo "permessage-deflate server_no_context_takeover=$1 client_no_context_takeover=$2 server_max_window_bits=$3 client_max_window_bits=$4"
}
run_deflate default default "$(ext 0 0 15 15)"
run_deflate declined-by-client none "(none)"
run_deflate declined-by-server default "(none)" --no-deflate
run_deflate client-no-context-takeover cnct "$(ext 0 1 15 15)"
run_deflate server-no-context-takeover snct "$(ext 1 0 15 15)"
run_deflate server-max-window-bits-10 smwb=10 "$(ext 0 0 10 15)"
run_deflate client-max-window-bits-9 cmwb=9 "$(ext 0 0 15 9)"
run_deflate all-four cnct,snct,smwb=10,cmwb=9 "$(ext 1 1 10 9)"
run_deflate server-imposes-server-no-context-takeover default \
    "$(ext 1 0 15 15)" --deflate-server-no-context-takeover
run_deflate server-imposes-client-no-context-takeover default \
    "$(ext 0 1 15 15)" --deflate-client-no-context-takeover
run_deflate server-imposes-server-max-window-bits-10 default \
    "$(ext 0 0 10 15)" --deflate-server-max-window-bits 10
run_deflate server-imposes-client-max-window-bits-9 default \
    "$(ext 0 0 15 9)" --deflate-client-max-window-bits 9
if start_server python-deflate-tls "$PEER_SERVER" --max-payload 0 \
    --tls "$tmp/cert.pem" "$tmp/cert.key"; then
	run_counted python-deflate-tls 300 "$python" "$client" --suite deflate \
	    --url "$server_url" --server-log "$server_out" \
	    --label python-deflate-tls --cafile "$tmp/cert.pem"
	stop_server python-deflate-tls
	check_server_stderr python-deflate-tls
fi

if start_server python-keepalive "$PEER_SERVER" --max-payload 0 --keepalive 1; then
	run_counted python-keepalive 300 "$python" "$client" --suite keepalive \
	    --url "$server_url" --server-log "$server_out" \
	    --label python-keepalive
	stop_server python-keepalive
	check_server_stderr python-keepalive
fi

if start_server python-pong-timeout "$PEER_SERVER" --keepalive 1 --pong-timeout 1; then
	run_counted python-pong-timeout 300 "$python" "$client" \
	    --suite pong-timeout --url "$server_url" \
	    --server-log "$server_out" --label python-pong-timeout
	stop_server python-pong-timeout
	check_pong_timeout python-pong-timeout
fi

if start_server python-chunked "$PEER_SERVER" --max-payload 0 --chunk-size 1000; then
	run_counted python-chunked 300 "$python" "$client" --suite chunked \
	    --url "$server_url" --server-log "$server_out" \
	    --label python-chunked
	stop_server python-chunked
	check_server_stderr python-chunked
fi

finish
