#!/bin/sh
# Interop test: libsoup 3 (test/interop/soup-client) against wsev servers,
# over ws:// and wss://: samples/echo-server for the echo, keepalive-ping and
# subprotocol scenarios, test/interop/peer-server (when built) for a close
# the server starts. Run by "make check" with top_srcdir and top_builddir
# exported; exit 77 (SKIP) when libsoup 3 or the client is missing.
#
# SOUP_CLIENT, ECHO_SERVER and PEER_SERVER override the programs' paths.
# Prints "ok NAME" or "FAIL NAME" (with the client's output) per check and
# ends with "N passed, M failed"; exits 0 only if nothing failed.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"

client=${SOUP_CLIENT:-$top_builddir/test/interop/soup-client}
echo_server=${ECHO_SERVER:-$top_builddir/samples/echo-server}
peer_server=${PEER_SERVER:-$top_builddir/test/interop/peer-server}
pkg_config=${PKG_CONFIG:-pkg-config}

need_cmd "$pkg_config"
"$pkg_config" --exists libsoup-3.0 ||
    skip "libsoup-3.0 not found by $pkg_config (apt-get install libsoup-3.0-dev)"
[ -x "$client" ] || skip "$client not built (configure found no libsoup-3.0?)"
need_built "$echo_server"
kit_init soup
KIT_STOP_TIMEOUT=5

# fail_show NAME FILE...: a failure, explained by what FILE... hold.
fail_show() {
	_n=$1
	_why=
	shift
	for _f in "$@"; do
		_why="$_why$(oneline "$_f" 1500)"
	done
	fail "$_n" "$_why"
}

# run_client ARGS...: run soup-client, its output in $tmp/client.out;
# sets $rc.
# Every process is bounded: the client has its own 10 s watchdog, this is
# the backstop for a client that hangs before its loop runs.
run_client() {
	rc=0
	timeout 30 "$client" "$@" >"$tmp/client.out" 2>&1 || rc=$?
}

# expect_ok NAME ARGS...: the client must exit 0.
expect_ok() {
	name=$1
	shift
	run_client "$@"
	if [ "$rc" -eq 0 ]; then
		pass "$name"
	else
		fail_show "$name" "$tmp/client.out"
	fi
}

# expect_protocol NAME WANT ARGS...: exit 0 and "protocol: WANT".
expect_protocol() {
	name=$1
	want=$2
	shift 2
	run_client "$@"
	if [ "$rc" -eq 0 ] && grep -qxF "protocol: $want" "$tmp/client.out"; then
		pass "$name"
	else
		fail_show "$name" "$tmp/client.out"
	fi
}

# expect_extensions NAME WSEV SOUP ARGS...: exit 0, peer-server's
# cmd:extensions answered WSEV, libsoup printed "soup extension: SOUP" (or,
# with SOUP empty, no extension).
expect_extensions() {
	name=$1
	want_wsev=$2
	want_soup=$3
	shift 3
	run_client "$@"
	if [ "$rc" -ne 0 ] || ! grep -qxF "wsev extensions:$want_wsev" "$tmp/client.out"; then
		fail_show "$name" "$tmp/client.out"
	elif [ -n "$want_soup" ] && ! grep -qxF "soup extension: $want_soup" "$tmp/client.out"; then
		fail_show "$name" "$tmp/client.out"
	elif [ -z "$want_soup" ] && grep -q "^soup extension: " "$tmp/client.out"; then
		fail_show "$name" "$tmp/client.out"
	else
		pass "$name"
	fi
}

# run_mode MODE: every scenario over one transport; $tls_args holds the
# servers' --tls arguments and $ca_args the client's --ca, or nothing.
run_mode() {
	mode=$1

	# shellcheck disable=SC2086
	if start_server "$mode-echo-server" "$echo_server" --max-payload 0 $tls_args; then
		# shellcheck disable=SC2086
		expect_ok "$mode echo" $ca_args "$server_url" echo
		# libsoup with its extension manager offers permessage-deflate:
		# whatever wsev answers, the echo must stay byte-exact.
		# shellcheck disable=SC2086
		expect_ok "$mode echo, permessage-deflate offered" $ca_args --deflate "$server_url" echo
		# shellcheck disable=SC2086
		expect_ok "$mode ping" $ca_args "$server_url" ping
		if [ "$mode" = tls ]; then
			# The client really verifies: a CA that did not sign the
			# server's certificate is refused.
			run_client --ca "$tmp/other.pem" "$server_url" protocol
			if [ "$rc" -eq 1 ] && grep -q "TLS certificate refused" "$tmp/client.out"; then
				pass "tls client refuses a certificate from another CA"
			else
				fail_show "tls client refuses a certificate from another CA" "$tmp/client.out"
			fi
		fi
		stop_server "$mode-echo-server"
	fi

	# shellcheck disable=SC2086
	if start_server "$mode-echo-server-protocols" "$echo_server" --max-payload 0 \
	    --protocol chat --protocol superchat $tls_args; then
		# The server picks the first of its own list the client
		# offered, as libsoup's server does.
		# shellcheck disable=SC2086
		expect_protocol "$mode protocol chat -> chat" chat \
		    $ca_args --protocol chat "$server_url" protocol
		# shellcheck disable=SC2086
		expect_protocol "$mode protocol superchat -> superchat" superchat \
		    $ca_args --protocol superchat "$server_url" protocol
		# shellcheck disable=SC2086
		expect_protocol "$mode protocol superchat,chat -> chat" chat \
		    $ca_args --protocol superchat --protocol chat "$server_url" protocol
		# shellcheck disable=SC2086
		expect_protocol "$mode protocol other,superchat -> superchat" superchat \
		    $ca_args --protocol other --protocol superchat "$server_url" protocol
		# shellcheck disable=SC2086
		expect_protocol "$mode protocol none offered -> none" "(none)" \
		    $ca_args "$server_url" protocol
		# shellcheck disable=SC2086
		run_client $ca_args --protocol other "$server_url" protocol
		if [ "$rc" -eq 1 ] && grep -q "connect failed: .*(HTTP status 400)" "$tmp/client.out"; then
			pass "$mode protocol other -> refused with 400"
		else
			fail_show "$mode protocol other -> refused with 400" "$tmp/client.out"
		fi
		stop_server "$mode-echo-server-protocols"
	fi

	if ! test -x "$peer_server"; then
		echo "skip server-close (no peer-server)"
		return 0
	fi
	# shellcheck disable=SC2086
	if start_server "$mode-peer-server" "$peer_server" $tls_args; then
		# shellcheck disable=SC2086
		run_client $ca_args "$server_url" server-close
		if [ "$rc" -ne 0 ]; then
			fail_show "$mode server-close" "$tmp/client.out" "$tmp/$mode-peer-server.err"
		elif ! wait_until 2 grep -qxF "closed code=4002 data=server-bye" \
		    "$tmp/$mode-peer-server.out"; then
			# libsoup echoes the code and the reason (RFC 6455
			# §5.5.1); the server must report what came back.
			fail_show "$mode server-close (server side: closed code=4002 data=server-bye)" \
			    "$tmp/$mode-peer-server.out" "$tmp/$mode-peer-server.err"
		else
			pass "$mode server-close"
		fi
		stop_server "$mode-peer-server"
	fi

	# permessage-deflate (libsoup offers it with its extension manager,
	# --deflate): negotiated by both ends, size classes echoed, wsev's
	# send_fragment and send_buffer messages whole, keepalive pongs.
	ext15="permessage-deflate server_no_context_takeover=0 client_no_context_takeover=0 server_max_window_bits=15 client_max_window_bits=15"
	# shellcheck disable=SC2086
	if start_server "$mode-deflate" "$peer_server" --max-payload 0 \
	    --keepalive 1 $tls_args; then
		# shellcheck disable=SC2086
		expect_extensions "$mode deflate negotiated" "$ext15" \
		    "permessage-deflate; client_max_window_bits=15" \
		    $ca_args --deflate "$server_url" extensions
		# shellcheck disable=SC2086
		expect_extensions "$mode deflate not offered" "(none)" "" \
		    $ca_args "$server_url" extensions
		# shellcheck disable=SC2086
		expect_ok "$mode deflate echo" $ca_args --deflate "$server_url" echo
		# shellcheck disable=SC2086
		expect_ok "$mode deflate wsev fragments and send_buffer" \
		    $ca_args --deflate "$server_url" streams
		# shellcheck disable=SC2086
		expect_ok "$mode keepalive pongs counted by wsev" \
		    $ca_args --deflate "$server_url" pongs
		stop_server "$mode-deflate"
	fi
	[ "$mode" = plain ] || return 0
	if start_server "$mode-no-deflate" "$peer_server" --no-deflate; then
		expect_extensions "$mode deflate declined by wsev" "(none)" "" \
		    --deflate "$server_url" extensions
		stop_server "$mode-no-deflate"
	fi
	if start_server "$mode-deflate-params" "$peer_server" --max-payload 0 \
	    --deflate-server-no-context-takeover \
	    --deflate-client-no-context-takeover \
	    --deflate-server-max-window-bits 10 \
	    --deflate-client-max-window-bits 9; then
		expect_extensions "$mode deflate parameters imposed by wsev" \
		    "permessage-deflate server_no_context_takeover=1 client_no_context_takeover=1 server_max_window_bits=10 client_max_window_bits=9" \
		    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9" \
		    --deflate "$server_url" extensions
		expect_ok "$mode deflate parameters echo" --deflate "$server_url" echo
		stop_server "$mode-deflate-params"
	fi
	if start_server "$mode-chunked" "$peer_server" --max-payload 0 \
	    --chunk-size 1000; then
		expect_ok "$mode deflate echo, wsev receiving in chunks" \
		    --deflate "$server_url" echo
		stop_server "$mode-chunked"
	fi
}

tls_args=
ca_args=
run_mode plain

# Self-signed, so the certificate is its own CA; a second one from another
# key proves the client's verification is not a formality.
make_cert cert
make_cert other
tls_args="--tls $tmp/cert.pem $tmp/cert.key"
ca_args="--ca $tmp/cert.pem"
run_mode tls

finish
