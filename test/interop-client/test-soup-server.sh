#!/bin/sh
# Client interop test: wsev-cat (the wsev client) against a libsoup 3
# WebSocket server (test/interop-client/soup-server), over ws:// and wss://
# (a self-signed certificate made at test time, trusted with --cafile):
# text and binary echoes of 0 bytes to 1 MiB, the client's payload limit,
# closes started by either side, subprotocol negotiation (and refusal),
# extra request headers and Origin. Run by "make check" with top_srcdir and
# top_builddir exported; exit 77 (SKIP) when libsoup 3 or the server is
# missing.
#
# Environment:
#   SOUP_SERVER  the server (default $top_builddir/test/interop-client/soup-server)
#   WSEV_CAT     the client under test (default $top_builddir/samples/wsev-cat);
#                point it at a sanitizer build to check the client's memory
#   CAT_TIMEOUT  the bound of one wsev-cat run, in seconds (default 30)
#
# Prints "ok NAME" or "FAIL NAME: WHY" per check and "N passed, M failed";
# exits 0 only if nothing failed.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
server=${SOUP_SERVER:-$top_builddir/test/interop-client/soup-server}
wsev_cat=${WSEV_CAT:-$top_builddir/samples/wsev-cat}
pkg_config=${PKG_CONFIG:-pkg-config}
LC_ALL=C	# lengths in bytes, byte-wise comparisons
export LC_ALL

CAT_TIMEOUT=${CAT_TIMEOUT:-30}	# one wsev-cat run
SERVER_START_TIMEOUT=20		# the server printing its URL
SERVER_LIFETIME=300		# the longest a server may live
LOG_WAIT=10			# a server log line to appear

if ! command -v "$pkg_config" >/dev/null 2>&1; then
	echo "SKIP: $pkg_config not found, cannot look for libsoup-3.0"
	exit 77
fi
if ! "$pkg_config" --exists libsoup-3.0; then
	echo "SKIP: libsoup-3.0 not found by $pkg_config (apt-get install libsoup-3.0-dev)"
	exit 77
fi
if ! test -x "$server"; then
	echo "SKIP: $server not built (configure found no libsoup-3.0?)"
	exit 77
fi
for tool in timeout openssl cmp mkfifo; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: no $tool command"
		exit 77
	fi
done

passed=0
failed=0
pids=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsev-soup-server.XXXXXX")

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	exec 9>&-
	for _p in $pids; do
		kill -TERM "$_p" 2>/dev/null || :
	done
	for _p in $pids; do
		wait "$_p" 2>/dev/null || :
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# printf, not echo: dash's echo would turn a "\r" in a message into CR.
pass() {
	printf 'ok %s\n' "$1"
	passed=$((passed + 1))
}

fail() {
	printf 'FAIL %s: %s\n' "$1" "$2"
	failed=$((failed + 1))
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

if ! test -x "$wsev_cat"; then
	fail setup "$wsev_cat is not built"
	finish
fi

# ---------------------------------------------------------------- helpers

# oneline FILE [BYTES]: the start of FILE on one line, for a FAIL message
# (a newline shown as "|", a carriage return as "\r").
oneline() {
	head -c "${2:-400}" "$1" 2>/dev/null |
	    awk '{ gsub(/\r/, "\\r"); printf "%s|", $0 }'
}

# describe NAME: what the last wsev-cat run left behind.
describe() {
	printf 'exit %s, stderr: %s, stdout (%s bytes): %s' "$rc" \
	    "$(oneline "$tmp/$1.err" 600)" "$(wc -c <"$tmp/$1.out")" \
	    "$(oneline "$tmp/$1.out" 200)"
}

# start_server NAME ARGS...: soup-server ARGS on a port it picks, under
# timeout; waits for its "listening on" line. Sets srv_pid, srv_log and
# srv_url; returns 1 after a FAIL line if it never listened.
start_server() {
	_s=$1
	shift
	srv_log=$tmp/$_s.log
	: >"$srv_log"
	timeout "$SERVER_LIFETIME" "$server" "$@" >"$srv_log" \
	    2>"$tmp/$_s.stderr" &
	srv_pid=$!
	pids="$pids $srv_pid"
	_w=0
	while :; do
		srv_url=$(sed -n 's#^listening on \(wss*://127\.0\.0\.1:[0-9][0-9]*\)/$#\1#p' \
		    "$srv_log")
		[ -n "$srv_url" ] && break
		if ! kill -0 "$srv_pid" 2>/dev/null; then
			fail "$_s-start" "the server exited: $(oneline "$tmp/$_s.stderr" 600)"
			return 1
		fi
		if [ "$_w" -ge $((SERVER_START_TIMEOUT * 10)) ]; then
			fail "$_s-start" "no \"listening on\" line within $SERVER_START_TIMEOUT s"
			return 1
		fi
		sleep 0.1
		_w=$((_w + 1))
	done
	srv_port=${srv_url##*:}
	pass "$_s-start"
}

# stop_server NAME PID: SIGTERM; it must exit 0 within 10 s, having
# written nothing on stderr (GLib criticals and warnings go there).
stop_server() {
	kill -TERM "$2" 2>/dev/null || :
	_w=0
	while kill -0 "$2" 2>/dev/null && [ "$_w" -lt 100 ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	_rc=0
	wait "$2" || _rc=$?
	if [ "$_rc" -ne 0 ]; then
		fail "$1-exit" "exit status $_rc: $(oneline "$tmp/$1.stderr" 600)"
	elif [ -s "$tmp/$1.stderr" ]; then
		fail "$1-exit" "it wrote on stderr: $(oneline "$tmp/$1.stderr" 1500)"
	else
		pass "$1-exit"
	fi
}

# mark NAME: wait until every connection the server opened is closed (a
# FAIL line if one is still open after LOG_WAIT s), then remember how far
# its log is, so that the checks of NAME read only what NAME's connection
# made the server print.
mark() {
	_w=0
	while [ "$(grep -c '^open ' "$srv_log")" -gt \
	    "$(grep -c '^closed ' "$srv_log")" ]; do
		if [ "$_w" -ge $((LOG_WAIT * 10)) ]; then
			fail "$1-before" "a connection before this one is still open on the server"
			break
		fi
		sleep 0.1
		_w=$((_w + 1))
	done
	srv_mark=$(wc -l <"$srv_log")
}

# since: the server log after the mark.
since() {
	tail -n +$((srv_mark + 1)) "$srv_log"
}

# expect_closed NAME LINE [ALLOWED]: the server's connection ended with
# LINE ("closed code=... data=...") and no "error" signal, except those
# matching the extended regular expression ALLOWED.
expect_closed() {
	if ! wait_closed_line; then
		fail "$1" "the server never printed a \"closed\" line: $(since | tr '\n' '|' | head -c 600)"
		return 1
	fi
	_got=$(since | grep '^closed ' | head -n 1)
	if [ "$_got" != "$2" ]; then
		fail "$1" "the server printed \"$_got\", not \"$2\""
		return 1
	fi
	since | grep '^error ' | grep -Ev -- "${3:-^\$}" >"$tmp/$1.srv-errors" || :
	if [ -s "$tmp/$1.srv-errors" ]; then
		fail "$1" "the server saw an error: $(head -n 3 "$tmp/$1.srv-errors" | tr '\n' '|')"
		return 1
	fi
	return 0
}

# wait_closed_line: wait for any "closed " line after the mark.
wait_closed_line() {
	_w=0
	while ! since | grep -q '^closed '; do
		[ "$_w" -ge $((LOG_WAIT * 10)) ] && return 1
		sleep 0.1
		_w=$((_w + 1))
	done
	return 0
}

# is_running PID: a child that has neither exited nor is waiting to be
# reaped (kill -0 succeeds on a zombie).
is_running() {
	kill -0 "$1" 2>/dev/null || return 1
	if [ -r "/proc/$1/stat" ]; then
		_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	else
		_st=$(ps -o stat= -p "$1" 2>/dev/null || :)
	fi
	case $_st in Z*) return 1 ;; esac
	return 0
}

# run_file NAME INPUT ARGS...: wsev-cat ARGS with the regular file INPUT
# on stdin (read whole before the connection opens; the close follows the
# messages at once). Leaves $tmp/NAME.out, $tmp/NAME.err and $rc.
run_file() {
	_n=$1
	_in=$2
	shift 2
	mark "$_n"
	rc=0
	timeout "$CAT_TIMEOUT" "$wsev_cat" "$@" <"$_in" >"$tmp/$_n.out" \
	    2>"$tmp/$_n.err" || rc=$?
}

# run_fifo NAME INPUT BYTES ARGS...: wsev-cat ARGS fed INPUT through a FIFO
# that stays open until wsev-cat has printed BYTES bytes, or exited, or
# CAT_TIMEOUT passed; then the end of input, where wsev-cat closes with
# 1000. BYTES larger than any output keeps the input open until wsev-cat
# exits: only the server can end the connection then. Leaves the same as
# run_file.
#
# The wait matters: libsoup queues its answer to a close frame ahead of
# messages not yet written, so a close right behind many messages may
# legitimately cut their echoes short.
run_fifo() {
	_n=$1
	_in=$2
	_want=$3
	shift 3
	mark "$_n"
	rm -f "$tmp/$_n.fifo"
	mkfifo "$tmp/$_n.fifo"
	rc=0
	timeout "$CAT_TIMEOUT" "$wsev_cat" "$@" <"$tmp/$_n.fifo" \
	    >"$tmp/$_n.out" 2>"$tmp/$_n.err" &
	_cpid=$!
	exec 9>"$tmp/$_n.fifo"
	# CAT_ECHO_DELAY: seconds the connection stays idle first.
	sleep "${CAT_ECHO_DELAY:-0}"
	timeout "$CAT_TIMEOUT" cat "$_in" >&9 2>/dev/null || :
	_w=0
	while is_running "$_cpid" &&
	    [ "$(wc -c <"$tmp/$_n.out")" -lt "$_want" ] &&
	    [ "$_w" -lt $((CAT_TIMEOUT * 10)) ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	exec 9>&-
	wait "$_cpid" || rc=$?
}

# expect_clean NAME: the last run exited 0 and wrote nothing on stderr.
expect_clean() {
	if [ "$rc" -ne 0 ] || [ -s "$tmp/$1.err" ]; then
		fail "$1" "expected exit 0 and no stderr; $(describe "$1")"
		return 1
	fi
	return 0
}

# expect_same NAME FILE: wsev-cat printed exactly FILE.
expect_same() {
	if ! cmp -s "$2" "$tmp/$1.out"; then
		fail "$1" "the output differs from what was sent ($(wc -c <"$2") bytes): $(cmp "$2" "$tmp/$1.out" 2>&1 | head -n 1); $(describe "$1")"
		return 1
	fi
	return 0
}

# expect_refusal NAME REGEX: the last run exited 1 (not a timeout, not a
# signal) with one stderr line "wsev-cat: ..." matching the extended
# regular expression REGEX, and printed nothing.
expect_refusal() {
	if [ "$rc" -ne 1 ]; then
		fail "$1" "expected exit 1; $(describe "$1")"
	elif [ "$(wc -l <"$tmp/$1.err")" -ne 1 ] ||
	    ! grep -q '^wsev-cat: ' "$tmp/$1.err"; then
		fail "$1" "expected one \"wsev-cat: ...\" line on stderr; $(describe "$1")"
	elif ! grep -Eq -- "$2" "$tmp/$1.err"; then
		fail "$1" "the reason does not match /$2/: $(oneline "$tmp/$1.err")"
	elif [ -s "$tmp/$1.out" ]; then
		fail "$1" "it printed something: $(oneline "$tmp/$1.out")"
	else
		return 0
	fi
	return 1
}

# expect_messages NAME EXPECTED: the server's "message" lines since the
# mark are the lines of the file EXPECTED, in order.
expect_messages() {
	since | grep '^message ' >"$tmp/$1.msgs" || :
	if ! cmp -s "$2" "$tmp/$1.msgs"; then
		fail "$1" "the server received $(tr '\n' '|' <"$tmp/$1.msgs" | head -c 300), not $(tr '\n' '|' <"$2" | head -c 300)"
		return 1
	fi
	return 0
}

# text_lines FILE LENGTH...: one ASCII line per LENGTH of that many bytes
# (a pattern shifted from line to line), then a line of UTF-8 with 2-, 3-
# and 4-byte sequences.
text_lines() {
	_f=$1
	shift
	awk -v lens="$*" 'BEGIN {
		pat = "abcdefghijklmnopqrstuvwxyz0123456789-_ABCDEFGHIJKLMNOPQRSTUVWXYZ!"
		n = split(lens, L, " ")
		for (i = 1; i <= n; i++) {
			s = substr(pat, (i % 60) + 1) pat
			while (length(s) < L[i])
				s = s s
			print substr(s, 1, L[i])
		}
	}' >"$_f"
	printf 'h\303\251llo \342\202\254 \360\237\230\200 \344\270\255\346\226\207 \316\251\n' >>"$_f"
}

# text_messages FILE: the server lines the lines of FILE make.
text_messages() {
	awk '{ print "message text " length($0) }' "$1"
}

# ---------------------------------------------------------------- inputs
text_lines "$tmp/lines.txt" 0 1 125 126 65535 65536 1048576
text_messages "$tmp/lines.txt" >"$tmp/lines.msgs"
text_lines "$tmp/at-limit.txt" 131072
text_lines "$tmp/over-limit.txt" 131073
text_lines "$tmp/small.txt"		# the UTF-8 line alone
: >"$tmp/empty"
binary_sizes="0 1 125 126 65535 65536 1048583"
for size in $binary_sizes; do
	head -c "$size" /dev/urandom >"$tmp/bin-$size"
done
printf 'cmd:close:4001:bye\n' >"$tmp/close4001.txt"
printf 'before\ncmd:close:1000:done\n' >"$tmp/close1000.txt"
printf 'before\n' >"$tmp/close1000.want"
printf 'cmd:protocol\ncmd:header:Sec-WebSocket-Protocol\n' >"$tmp/protocol.txt"

if ! timeout 60 openssl req -x509 -newkey rsa:2048 -nodes \
    -keyout "$tmp/cert.key" -out "$tmp/cert.pem" -days 2 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    >"$tmp/openssl.log" 2>&1; then
	fail make-cert "openssl req failed: $(oneline "$tmp/openssl.log" 600)"
	finish
fi

# ---------------------------------------------------------------- the suite
# suite PREFIX ARGS...: every case against the server just started (srv_url,
# srv_log); ARGS (--cafile for wss://) go to every wsev-cat run.
suite() {
	p=$1
	shift

	# Text lines of 0 bytes to 1 MiB and UTF-8, echoed byte-exact; the
	# input ends once every echo is back: a close with 1000.
	n=$p-text-echo
	run_fifo "$n" "$tmp/lines.txt" "$(wc -c <"$tmp/lines.txt")" "$@" \
	    --max-payload 0 "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/lines.txt" &&
	    expect_messages "$n" "$tmp/lines.msgs" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"

	# One line from a regular file and from a pipe: the close goes right
	# behind the message, and the echo that crosses it still arrives.
	n=$p-text-file
	run_file "$n" "$tmp/small.txt" "$@" "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/small.txt" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"
	n=$p-text-pipe
	mark "$n"
	rc=0
	# shellcheck disable=SC2002 # a pipe on purpose: stdin can be polled
	cat "$tmp/small.txt" | timeout "$CAT_TIMEOUT" "$wsev_cat" "$@" \
	    "$srv_url/$n" >"$tmp/$n.out" 2>"$tmp/$n.err" || rc=$?
	expect_clean "$n" && expect_same "$n" "$tmp/small.txt" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"

	# Binary: all of the input, one message, NULs and all.
	for size in $binary_sizes; do
		n=$p-binary-$size
		run_file "$n" "$tmp/bin-$size" "$@" --binary --max-payload 0 \
		    "$srv_url/$n"
		echo "message binary $size" >"$tmp/$n.want-msgs"
		expect_clean "$n" && expect_same "$n" "$tmp/bin-$size" &&
		    expect_messages "$n" "$tmp/$n.want-msgs" &&
		    expect_closed "$n" "closed code=1000 data=(null)" &&
		    pass "$n"
	done

	# The client's default limit, 131072 bytes as in libsoup: a message of
	# exactly that size is echoed, one byte more fails the connection with
	# 1009 at the frame header, and the server is sent that code with the
	# reason wsev-cat reports.
	n=$p-limit-at
	run_fifo "$n" "$tmp/at-limit.txt" "$(wc -c <"$tmp/at-limit.txt")" "$@" \
	    "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/at-limit.txt" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"
	n=$p-limit-over
	run_fifo "$n" "$tmp/over-limit.txt" 999999999 "$@" "$srv_url/$n"
	if expect_refusal "$n" '^wsev-cat: closed with code 1009: .'; then
		# The client closes TCP once its close frame is out, without
		# reading the rest of the frame (RFC 6455 §7.1.7): the server,
		# still writing, gets a reset or EPIPE, and now and then (seen
		# over ws:// and wss://, 1 run in 300 in a loop over TLS)
		# libsoup handles that write error first and drops the
		# connection without reading the close frame.
		reset='^error g-io-error-quark [0-9]+: Error sending data: (Connection reset by peer|Broken pipe)$'
		if wait_closed_line &&
		    since | grep -qx 'closed code=0 data=(null)' &&
		    since | grep -Eq -- "$reset" &&
		    ! since | grep '^error ' | grep -Evq -- "$reset"; then
			echo "# $n: the reset overtook the close frame at the server"
			pass "$n"
		else
			expect_closed "$n" "closed code=1009 data=$(sed 's/^wsev-cat: closed with code 1009: //' "$tmp/$n.err")" \
			    "$reset" && pass "$n"
		fi
	fi

	# The client closes at the end of input: 1000, no reason.
	n=$p-client-close
	run_fifo "$n" "$tmp/empty" 0 "$@" "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/empty" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"

	# The server closes, the input stays open: 4001 is an error for
	# wsev-cat, which echoes the code and reason (RFC 6455 §5.5.1).
	n=$p-server-close-4001
	run_fifo "$n" "$tmp/close4001.txt" 999999999 "$@" "$srv_url/$n"
	if expect_refusal "$n" '^wsev-cat: closed with code 4001: bye$'; then
		expect_closed "$n" "closed code=4001 data=bye" && pass "$n"
	fi
	# ... and 1000 a normal end, after the message before it.
	n=$p-server-close-1000
	run_fifo "$n" "$tmp/close1000.txt" 999999999 "$@" "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/close1000.want" &&
	    expect_closed "$n" "closed code=1000 data=done" && pass "$n"

	# Extra headers and Origin reach the server as sent (once each);
	# Host carries the port, the version is 13.
	n=$p-headers
	printf 'cmd:header:Authorization\ncmd:header:Origin\ncmd:header:X-Wsev-Test\ncmd:header:Host\ncmd:header:Sec-WebSocket-Version\n' \
	    >"$tmp/$n.in"
	printf 'header:Bearer t0k3n\nheader:http://origin.example\nheader:one two\nheader:127.0.0.1:%s\nheader:13\n' \
	    "$srv_port" >"$tmp/$n.want"
	run_fifo "$n" "$tmp/$n.in" "$(wc -c <"$tmp/$n.want")" "$@" \
	    --header 'Authorization: Bearer t0k3n' \
	    --header 'X-Wsev-Test: one two' \
	    --origin http://origin.example "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/$n.want" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"
	# No --origin, no Origin header.
	n=$p-no-origin
	printf 'cmd:header:Origin\n' >"$tmp/$n.in"
	printf 'header:(none)\n' >"$tmp/$n.want"
	run_fifo "$n" "$tmp/$n.in" "$(wc -c <"$tmp/$n.want")" "$@" "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/$n.want" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"

	# A server without subprotocols selects none, whatever is offered.
	n=$p-protocol-unasked
	printf 'protocol:(none)\nheader:chat\n' >"$tmp/$n.want"
	run_fifo "$n" "$tmp/protocol.txt" "$(wc -c <"$tmp/$n.want")" "$@" \
	    --protocol chat "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/$n.want" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"
	return 0
}

# protocol_suite PREFIX ARGS...: against a server started with
# --protocol chat --protocol superchat.
protocol_suite() {
	p=$1
	shift

	# libsoup picks the first of its own list that the client offered.
	n=$p-protocol-both
	printf 'protocol:chat\nheader:superchat, chat\n' >"$tmp/$n.want"
	run_fifo "$n" "$tmp/protocol.txt" "$(wc -c <"$tmp/$n.want")" "$@" \
	    --protocol superchat --protocol chat "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/$n.want" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"

	n=$p-protocol-one
	printf 'protocol:superchat\nheader:superchat\n' >"$tmp/$n.want"
	run_fifo "$n" "$tmp/protocol.txt" "$(wc -c <"$tmp/$n.want")" "$@" \
	    --protocol superchat "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/$n.want" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"

	# Offering none is fine with libsoup: no header, no protocol.
	n=$p-protocol-none
	printf 'protocol:(none)\nheader:(none)\n' >"$tmp/$n.want"
	run_fifo "$n" "$tmp/protocol.txt" "$(wc -c <"$tmp/$n.want")" "$@" \
	    "$srv_url/$n"
	expect_clean "$n" && expect_same "$n" "$tmp/$n.want" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"

	# Offering only one the server does not speak: libsoup answers 400,
	# wsev-cat gives up with a handshake error, no connection is made.
	n=$p-protocol-refused
	run_file "$n" "$tmp/small.txt" "$@" --protocol other "$srv_url/$n"
	if expect_refusal "$n" '[Hh]andshake'; then
		sleep 0.2
		if since | grep -q '^open '; then
			fail "$n" "the server opened a connection: $(since | tr '\n' '|' | head -c 300)"
		else
			pass "$n"
		fi
	fi
	return 0
}

# deflate_suite PREFIX: permessage-deflate, which libsoup's server
# accepts by default: each wsev-cat offer answered as libsoup's "extensions"
# line shows it, --no-deflate negotiating nothing, the 0 to 1 MiB text
# lines echoed byte-exact through compression both ways, keepalive pings
# answered within --pong-timeout.
deflate_suite() {
	p=$1
	for v in default:permessage-deflate \
	    no-deflate:none \
	    client-no-context-takeover:client_no_context_takeover \
	    server-no-context-takeover:server_no_context_takeover \
	    server-max-window-bits-10:server_max_window_bits=10 \
	    client-max-window-bits-9:client_max_window_bits=9; do
		n=$p-deflate-${v%%:*}
		want=${v#*:}
		case ${v%%:*} in
		default) flags= ;;
		no-deflate) flags=--no-deflate ;;
		*-bits-*)
			flags="--deflate-${v%%:*}"
			flags="${flags%-*} ${flags##*-}" ;;
		*) flags="--deflate-${v%%:*}" ;;
		esac
		# shellcheck disable=SC2086
		run_fifo "$n" "$tmp/lines.txt" "$(wc -c <"$tmp/lines.txt")" \
		    $flags --max-payload 0 "$srv_url/$n"
		expect_clean "$n" && expect_same "$n" "$tmp/lines.txt" &&
		    expect_messages "$n" "$tmp/lines.msgs" &&
		    expect_closed "$n" "closed code=1000 data=(null)" || continue
		ext=$(since | sed -n 's/^extensions //p' | head -n 1)
		if [ "$want" = none ]; then
			[ "$ext" = "(none)" ] && pass "$n" ||
			    fail "$n" "libsoup negotiated \"$ext\""
			continue
		fi
		case "$ext;" in
		"permessage-deflate;"*) ;;
		*) fail "$n" "libsoup negotiated \"$ext\""; continue ;;
		esac
		case "$want" in
		permessage-deflate) pass "$n" ;;
		*)
			case "$ext;" in
			*"; $want;"*) pass "$n" ;;
			*) fail "$n" "libsoup answered \"$ext\", without $want" ;;
			esac ;;
		esac
	done
	n=$p-deflate-keepalive
	CAT_ECHO_DELAY=3
	run_fifo "$n" "$tmp/small.txt" "$(wc -c <"$tmp/small.txt")" \
	    --keepalive 1 --pong-timeout 2 "$srv_url/$n"
	CAT_ECHO_DELAY=0
	expect_clean "$n" && expect_same "$n" "$tmp/small.txt" &&
	    expect_closed "$n" "closed code=1000 data=(null)" && pass "$n"
}

# ---------------------------------------------------------------- plain
if start_server plain; then
	pid_plain=$srv_pid
	suite plain
	# A header line holding CR LF is refused before anything is sent
	# (no header injection), with a reason on one line: wsev.h promises
	# a one-line wsev_error message, wsev-cat a one-line reason.
	n=plain-header-crlf
	run_file "$n" "$tmp/small.txt" --header "$(printf 'X-A: 1\r\nX-B: 2')" \
	    "$srv_url/$n"
	if expect_refusal "$n" 'header'; then
		sleep 0.2
		if since | grep -q '^open '; then
			fail "$n" "the server opened a connection: $(since | tr '\n' '|' | head -c 300)"
		else
			pass "$n"
		fi
	fi
	deflate_suite plain
	stop_server plain "$pid_plain"
fi
# A libsoup server without permessage-deflate: wsev's offer is declined.
if start_server plain-no-deflate --no-deflate; then
	pid=$srv_pid
	n=plain-server-declines-deflate
	run_fifo "$n" "$tmp/small.txt" "$(wc -c <"$tmp/small.txt")" \
	    "$srv_url/$n"
	if expect_clean "$n" && expect_same "$n" "$tmp/small.txt" &&
	    expect_closed "$n" "closed code=1000 data=(null)"; then
		if since | grep -qx 'extensions (none)'; then
			pass "$n"
		else
			fail "$n" "libsoup negotiated $(since | grep '^extensions')"
		fi
	fi
	stop_server plain-no-deflate "$pid"
fi
if start_server plain-proto --protocol chat --protocol superchat; then
	pid=$srv_pid
	protocol_suite plain
	stop_server plain-proto "$pid"
fi

# ---------------------------------------------------------------- TLS
if start_server tls --tls "$tmp/cert.pem" "$tmp/cert.key"; then
	pid=$srv_pid
	case $srv_url in
	wss://*) pass tls-url ;;
	*) fail tls-url "the TLS server listens on $srv_url" ;;
	esac
	suite tls --cafile "$tmp/cert.pem"
	# Without --cafile the system store does not trust the certificate.
	n=tls-untrusted
	run_file "$n" "$tmp/small.txt" "$srv_url/$n"
	expect_refusal "$n" '[Cc]ertificate|[Vv]erif' && pass "$n"
	stop_server tls "$pid"
fi
if start_server tls-proto --tls "$tmp/cert.pem" "$tmp/cert.key" \
    --protocol chat --protocol superchat; then
	pid=$srv_pid
	protocol_suite tls --cafile "$tmp/cert.pem"
	stop_server tls-proto "$pid"
fi

finish
