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

: "${top_srcdir:=$(dirname "$0")/../..}"
: "${top_builddir:=.}"

client=${SOUP_CLIENT:-$top_builddir/test/interop/soup-client}
echo_server=${ECHO_SERVER:-$top_builddir/samples/echo-server}
peer_server=${PEER_SERVER:-$top_builddir/test/interop/peer-server}
pkg_config=${PKG_CONFIG:-pkg-config}

if ! command -v "$pkg_config" >/dev/null 2>&1; then
	echo "SKIP: $pkg_config not found, cannot look for libsoup-3.0"
	exit 77
fi
if ! "$pkg_config" --exists libsoup-3.0; then
	echo "SKIP: libsoup-3.0 not found by $pkg_config (apt-get install libsoup-3.0-dev)"
	exit 77
fi
if ! test -x "$client"; then
	echo "SKIP: $client not built (configure found no libsoup-3.0?)"
	exit 77
fi
if ! test -x "$echo_server"; then
	echo "ERROR: $echo_server not built"
	exit 99
fi

# Every process is bounded: the client has its own 10 s watchdog, this is
# the backstop for a client that hangs before its loop runs.
if command -v timeout >/dev/null 2>&1; then
	bounded="timeout 30"
else
	bounded=
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsev-soup.XXXXXX")
servers=""
cleanup() {
	for p in $servers; do
		kill "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

passed=0
failed=0

pass() {
	passed=$((passed + 1))
	echo "ok $1"
}

fail() {	# fail NAME [FILE...]: count a failure, show what explains it
	name=$1
	shift
	failed=$((failed + 1))
	echo "FAIL $name"
	for f in "$@"; do
		[ -s "$f" ] && sed 's/^/    /' "$f"
	done
	return 0
}

# start_server TAG PROGRAM ARGS...: start a server on a port the system
# picks; sets $pid and $url, or returns 1 after reporting a failure.
start_server() {
	tag=$1
	shift
	"$@" >"$tmp/$tag.out" 2>"$tmp/$tag.err" &
	pid=$!
	servers="$servers $pid"
	url=
	i=0
	while [ $i -lt 50 ]; do
		url=$(sed -n '1s/^listening on \(wss*:\/\/127\.0\.0\.1:[0-9][0-9]*\/\)$/\1/p' "$tmp/$tag.out")
		[ -n "$url" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	fail "$tag starts and prints its URL" "$tmp/$tag.out" "$tmp/$tag.err"
	return 1
}

# stop_server TAG: SIGTERM, then the server must exit 0 within 5 s (it
# frees everything on the way out, sanitizer builds check that).
stop_server() {
	tag=$1
	kill -TERM "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		fail "$tag exits on SIGTERM within 5 s" "$tmp/$tag.err"
		return 0
	fi
	status=0
	wait "$pid" || status=$?
	if [ "$status" -eq 0 ]; then
		pass "$tag exits cleanly"
	else
		echo "exit status $status" >"$tmp/status"
		fail "$tag exits cleanly" "$tmp/status" "$tmp/$tag.err"
	fi
}

# run_client ARGS...: run soup-client, its output in $tmp/client.out;
# sets $rc.
run_client() {
	rc=0
	$bounded "$client" "$@" >"$tmp/client.out" 2>&1 || rc=$?
}

# expect_ok NAME ARGS...: the client must exit 0.
expect_ok() {
	name=$1
	shift
	run_client "$@"
	if [ "$rc" -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "$tmp/client.out"
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
		fail "$name" "$tmp/client.out"
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
		fail "$name" "$tmp/client.out"
	elif [ -n "$want_soup" ] && ! grep -qxF "soup extension: $want_soup" "$tmp/client.out"; then
		fail "$name" "$tmp/client.out"
	elif [ -z "$want_soup" ] && grep -q "^soup extension: " "$tmp/client.out"; then
		fail "$name" "$tmp/client.out"
	else
		pass "$name"
	fi
}

# wait_for FILE LINE: up to 2 s for the server to log LINE.
wait_for() {
	i=0
	while [ $i -lt 20 ]; do
		grep -qxF "$2" "$1" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# run_mode MODE: every scenario over one transport; $tls_args holds the
# servers' --tls arguments and $ca_args the client's --ca, or nothing.
run_mode() {
	mode=$1

	# shellcheck disable=SC2086
	if start_server "$mode-echo-server" "$echo_server" --max-payload 0 $tls_args; then
		# shellcheck disable=SC2086
		expect_ok "$mode echo" $ca_args "$url" echo
		# libsoup with its extension manager offers permessage-deflate:
		# whatever wsev answers, the echo must stay byte-exact.
		# shellcheck disable=SC2086
		expect_ok "$mode echo, permessage-deflate offered" $ca_args --deflate "$url" echo
		# shellcheck disable=SC2086
		expect_ok "$mode ping" $ca_args "$url" ping
		if [ "$mode" = tls ]; then
			# The client really verifies: a CA that did not sign the
			# server's certificate is refused.
			run_client --ca "$tmp/other.pem" "$url" protocol
			if [ "$rc" -eq 1 ] && grep -q "TLS certificate refused" "$tmp/client.out"; then
				pass "tls client refuses a certificate from another CA"
			else
				fail "tls client refuses a certificate from another CA" "$tmp/client.out"
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
		    $ca_args --protocol chat "$url" protocol
		# shellcheck disable=SC2086
		expect_protocol "$mode protocol superchat -> superchat" superchat \
		    $ca_args --protocol superchat "$url" protocol
		# shellcheck disable=SC2086
		expect_protocol "$mode protocol superchat,chat -> chat" chat \
		    $ca_args --protocol superchat --protocol chat "$url" protocol
		# shellcheck disable=SC2086
		expect_protocol "$mode protocol other,superchat -> superchat" superchat \
		    $ca_args --protocol other --protocol superchat "$url" protocol
		# shellcheck disable=SC2086
		expect_protocol "$mode protocol none offered -> none" "(none)" \
		    $ca_args "$url" protocol
		# shellcheck disable=SC2086
		run_client $ca_args --protocol other "$url" protocol
		if [ "$rc" -eq 1 ] && grep -q "connect failed: .*(HTTP status 400)" "$tmp/client.out"; then
			pass "$mode protocol other -> refused with 400"
		else
			fail "$mode protocol other -> refused with 400" "$tmp/client.out"
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
		run_client $ca_args "$url" server-close
		if [ "$rc" -ne 0 ]; then
			fail "$mode server-close" "$tmp/client.out" "$tmp/$mode-peer-server.err"
		elif ! wait_for "$tmp/$mode-peer-server.out" "closed code=4002 data=server-bye"; then
			# libsoup echoes the code and the reason (RFC 6455
			# §5.5.1); the server must report what came back.
			fail "$mode server-close (server side: closed code=4002 data=server-bye)" \
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
		    $ca_args --deflate "$url" extensions
		# shellcheck disable=SC2086
		expect_extensions "$mode deflate not offered" "(none)" "" \
		    $ca_args "$url" extensions
		# shellcheck disable=SC2086
		expect_ok "$mode deflate echo" $ca_args --deflate "$url" echo
		# shellcheck disable=SC2086
		expect_ok "$mode deflate wsev fragments and send_buffer" \
		    $ca_args --deflate "$url" streams
		# shellcheck disable=SC2086
		expect_ok "$mode keepalive pongs counted by wsev" \
		    $ca_args --deflate "$url" pongs
		stop_server "$mode-deflate"
	fi
	[ "$mode" = plain ] || return 0
	if start_server "$mode-no-deflate" "$peer_server" --no-deflate; then
		expect_extensions "$mode deflate declined by wsev" "(none)" "" \
		    --deflate "$url" extensions
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
		    --deflate "$url" extensions
		expect_ok "$mode deflate parameters echo" --deflate "$url" echo
		stop_server "$mode-deflate-params"
	fi
	if start_server "$mode-chunked" "$peer_server" --max-payload 0 \
	    --chunk-size 1000; then
		expect_ok "$mode deflate echo, wsev receiving in chunks" \
		    --deflate "$url" echo
		stop_server "$mode-chunked"
	fi
}

tls_args=
ca_args=
run_mode plain

if ! command -v openssl >/dev/null 2>&1; then
	echo "skip tls (no openssl command)"
else
	# Self-signed, so the certificate is its own CA; a second one from
	# another key proves the client's verification is not a formality.
	for name in cert other; do
		if ! openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		    -subj /CN=localhost \
		    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		    -keyout "$tmp/$name-key.pem" -out "$tmp/$name.pem" \
		    >"$tmp/openssl.log" 2>&1; then
			fail "openssl makes a self-signed certificate" "$tmp/openssl.log"
		fi
	done
	if [ -s "$tmp/cert.pem" ] && [ -s "$tmp/other.pem" ]; then
		tls_args="--tls $tmp/cert.pem $tmp/cert-key.pem"
		ca_args="--ca $tmp/cert.pem"
		run_mode tls
	fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
