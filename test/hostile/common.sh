# shellcheck shell=sh disable=SC2034
# (The variables set here are read by the scripts that source this file.)
#
# Shared pieces of the hostile-peer tests (test/hostile/test-*.sh); POSIX
# sh, sourced, not run. The sourcing script sets "set -eu" first.
#
# Environment:
#   top_srcdir, top_builddir  set by automake's TESTS_ENVIRONMENT
#   HOSTILE_SERVER            the server binary (default:
#                             $top_builddir/test/hostile/hostile-server)
#   HOSTILE_LOAD              the load client (default:
#                             $top_builddir/test/hostile/hostile-load)
#   HOSTILE_WRAPPER           a command to run the server under, e.g.
#                             "valgrind -q --leak-check=full --error-exitcode=99"
#                             (memory figures are then only reported)
#
# Results: every check prints "ok NAME" or "FAIL NAME: WHY"; figures are
# "info: ..." lines; hostile_finish prints "N passed, M failed" and exits
# 0 only if M is 0.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
: "${HOSTILE_SERVER:=$top_builddir/test/hostile/hostile-server}"
: "${HOSTILE_LOAD:=$top_builddir/test/hostile/hostile-load}"
: "${HOSTILE_WRAPPER:=}"

hostile_dir=$top_srcdir/test/hostile
python=/usr/bin/python3
peers=$hostile_dir/peers.py
passed=0
failed=0
tmp=
server_pid=
server_out=
server_err=
server_port=
server_url=

# Bounds, in seconds.
SERVER_START_TIMEOUT=30		# valgrind starts slowly
SERVER_STOP_TIMEOUT=60		# valgrind's leak check on a big heap
PEER_TIMEOUT=300

# ASan keeps freed memory in a quarantine (256 MiB by default), which
# would show in the server's RSS as growth: keep it small, so that RSS says
# what the server holds. Leak checking is not affected.
ASAN_OPTIONS="quarantine_size_mb=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export ASAN_OPTIONS

hostile_cleanup() {
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null || :
		wait "$server_pid" 2>/dev/null || :
		server_pid=
	fi
	# Peers started in the background by the test itself.
	for p in $hostile_children; do
		kill -KILL "$p" 2>/dev/null || :
		wait "$p" 2>/dev/null || :
	done
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}
hostile_children=

# hostile_init: checks what every test needs, and a private temporary
# directory removed on exit.
hostile_init() {
	if [ ! -x "$HOSTILE_SERVER" ]; then
		# A hard error for automake (99), not a test that failed.
		echo "ERROR: $HOSTILE_SERVER is not built"
		echo "0 passed, 1 failed"
		exit 99
	fi
	if ! command -v timeout >/dev/null 2>&1; then
		echo "SKIP: no timeout(1) to bound the test"
		exit 77
	fi
	if [ ! -x "$python" ]; then
		echo "SKIP: $python not found (the peers are Python 3)"
		exit 77
	fi
	if [ ! -r /proc/self/status ]; then
		echo "SKIP: no /proc/self/status: the server cannot report its RSS"
		exit 77
	fi
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsev-hostile.XXXXXX")
	trap 'hostile_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# memory_checked: 0 (true) when the server's memory figures mean what
# they say: not under a wrapper (valgrind) nor a sanitizer.
memory_checked() {
	[ -z "$HOSTILE_WRAPPER" ] || return 1
	if grep -q __asan_init "$HOSTILE_SERVER" 2>/dev/null; then
		return 1
	fi
	return 0
}

# rss_bound KIB: KIB, or 0 ("only report the growth") under
# HOSTILE_WRAPPER, whose own memory shows in the server's RSS. The
# sanitizer build keeps the bound: the quarantine is small (see above).
rss_bound() {
	if [ -n "$HOSTILE_WRAPPER" ]; then
		echo 0
	else
		echo "$1"
	fi
}

# raise_fd_limit WANT [NEED]: raise the descriptor limit of this shell and
# its children to WANT, or at least to NEED (default WANT) if the hard
# limit is lower; SKIP (77) if even NEED cannot be had. ulimit -n and -H
# are not POSIX, but dash, bash and busybox sh have them.
# shellcheck disable=SC3045
raise_fd_limit() {
	need=${2:-$1}
	cur=$(ulimit -n)
	[ "$cur" = unlimited ] && return 0
	[ "$cur" -ge "$1" ] && return 0
	ulimit -n "$1" 2>/dev/null && return 0
	hard=$(ulimit -H -n)
	if [ "$hard" = unlimited ] || [ "$hard" -ge "$need" ]; then
		[ "$hard" = unlimited ] && hard=$1
		[ "$hard" -gt "$1" ] && hard=$1
		ulimit -n "$hard" 2>/dev/null && return 0
	fi
	echo "SKIP: cannot raise the descriptor limit from $cur to $need" \
	    "(hard limit $(ulimit -H -n); run as root or raise it)"
	exit 77
}

pass() {
	echo "ok $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}

hostile_finish() {
	echo "$passed passed, $failed failed"
	if [ "$failed" -eq 0 ]; then
		exit 0
	fi
	exit 1
}

# make_cert: a self-signed certificate for localhost and 127.0.0.1 in
# $tmp/cert.pem and $tmp/key.pem. SKIP (77) without the openssl command.
make_cert() {
	if ! command -v openssl >/dev/null 2>&1; then
		echo "SKIP: no openssl command to make the test certificate"
		exit 77
	fi
	if ! timeout 60 openssl req -x509 -newkey rsa:2048 -nodes \
	    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
	    -subj "/CN=localhost" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	    >"$tmp/openssl.log" 2>&1; then
		fail "make-cert" "openssl req failed: $(tail -n 3 "$tmp/openssl.log")"
		hostile_finish
	fi
}

# is_zombie PID: the child exited and waits to be reaped.
is_zombie() {
	if [ -r "/proc/$1/stat" ]; then
		st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	else
		st=$(ps -o stat= -p "$1" 2>/dev/null || :)
	fi
	case $st in Z*) return 0 ;; esac
	return 1
}

# start_server NAME ARGS...: run the server, wait for its "listening on"
# line and read the port from it. Sets server_pid, server_out, server_err,
# server_port and server_url. Returns 1 (after a FAIL line) if it does not
# come up.
start_server() {
	name=$1
	shift
	server_out=$tmp/$name.out
	server_err=$tmp/$name.err
	: >"$server_out"
	# shellcheck disable=SC2086
	$HOSTILE_WRAPPER "$HOSTILE_SERVER" "$@" >"$server_out" 2>"$server_err" &
	server_pid=$!
	waited=0
	while [ "$(wc -l <"$server_out")" -lt 1 ]; do
		if ! kill -0 "$server_pid" 2>/dev/null || is_zombie "$server_pid"; then
			rc=0
			wait "$server_pid" || rc=$?
			server_pid=
			fail "$name-start" "the server exited ($rc): $(tail -n 5 "$server_err")"
			return 1
		fi
		if [ "$waited" -ge $((SERVER_START_TIMEOUT * 10)) ]; then
			fail "$name-start" "no \"listening on\" line within ${SERVER_START_TIMEOUT} s"
			kill -KILL "$server_pid" 2>/dev/null || :
			wait "$server_pid" 2>/dev/null || :
			server_pid=
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	line=$(head -n 1 "$server_out")
	server_port=$(printf '%s\n' "$line" |
	    sed -n 's|^listening on wss\{0,1\}://127\.0\.0\.1:\([0-9][0-9]*\)/$|\1|p')
	if [ -z "$server_port" ]; then
		fail "$name-start" "unexpected first line: $line"
		kill -KILL "$server_pid" 2>/dev/null || :
		wait "$server_pid" 2>/dev/null || :
		server_pid=
		return 1
	fi
	server_url=${line#listening on }
	pass "$name-start"
}

# stop_server NAME: SIGTERM, then the exit status must be 0 within
# SERVER_STOP_TIMEOUT. The server frees everything first, so this is
# where LeakSanitizer (or valgrind's --error-exitcode) speaks.
stop_server() {
	name=$1
	[ -n "$server_pid" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || :
	waited=0
	while kill -0 "$server_pid" 2>/dev/null; do
		is_zombie "$server_pid" && break
		if [ "$waited" -ge $((SERVER_STOP_TIMEOUT * 10)) ]; then
			kill -KILL "$server_pid" 2>/dev/null || :
			break
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	rc=0
	wait "$server_pid" || rc=$?
	server_pid=
	if [ "$waited" -ge $((SERVER_STOP_TIMEOUT * 10)) ]; then
		fail "$name-exit" "still running ${SERVER_STOP_TIMEOUT} s after SIGTERM"
	elif [ "$rc" -ne 0 ]; then
		fail "$name-exit" "exit status $rc; its stderr ends with: $(tail -n 20 "$server_err")"
	else
		pass "$name-exit"
	fi
}

# run_peer NAME COMMAND...: run a peer under timeout; count its "ok" and
# "FAIL" lines (it prints them itself, and its figures as "info:" lines).
# A peer that exits non-zero without any FAIL line (a crash, the timeout)
# is a failure too.
run_peer() {
	name=$1
	shift
	log=$tmp/$name.peer
	rc=0
	timeout "$PEER_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
	grep -v '^[0-9]* passed, [0-9]* failed$' "$log" || :
	np=$(grep -c '^ok ' "$log" || :)
	nf=$(grep -c '^FAIL ' "$log" || :)
	passed=$((passed + np))
	failed=$((failed + nf))
	if [ "$rc" -eq 124 ]; then
		fail "$name-peer" "did not finish within $PEER_TIMEOUT s"
	elif [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
		fail "$name-peer" "exit status $rc with no FAIL line"
	elif [ "$rc" -eq 0 ] && [ "$nf" -ne 0 ]; then
		fail "$name-peer" "exit status 0 despite $nf FAIL lines"
	elif [ "$np" -eq 0 ] && [ "$nf" -eq 0 ]; then
		fail "$name-peer" "ran no check"
	fi
}

# run_scenario NAME SERVER-ARGS -- PEER-ARGS: a fresh server, one
# peers.py scenario against it, the server stopped and its exit checked.
run_scenario() {
	sname=$1
	shift
	sargs=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		sargs="$sargs $1"
		shift
	done
	[ $# -gt 0 ] && shift
	# shellcheck disable=SC2086
	start_server "$sname" $sargs || return 0
	run_peer "$sname" "$python" "$peers" "$@" --port "$server_port"
	stop_server "$sname"
}

# run_held NAME SERVER-ARGS -- PEER-ARGS: a fresh server, a peers.py
# scenario that holds connections open ("hold") in the background; once
# it has created its ready file the server is stopped, with them open,
# and must still exit 0; then the peer's own checks are counted.
run_held() {
	sname=$1
	shift
	sargs=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		sargs="$sargs $1"
		shift
	done
	[ $# -gt 0 ] && shift
	# shellcheck disable=SC2086
	start_server "$sname" $sargs || return 0
	ready=$tmp/$sname.ready
	log=$tmp/$sname.peer
	timeout "$PEER_TIMEOUT" "$python" "$peers" "$@" --port "$server_port" \
	    --ready-file "$ready" >"$log" 2>&1 &
	peer_pid=$!
	hostile_children="$hostile_children $peer_pid"
	waited=0
	while [ ! -s "$ready" ] && kill -0 "$peer_pid" 2>/dev/null &&
	    ! is_zombie "$peer_pid" && [ "$waited" -lt 600 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	stop_server "$sname"
	rc=0
	wait "$peer_pid" || rc=$?
	grep -v '^[0-9]* passed, [0-9]* failed$' "$log" || :
	np=$(grep -c '^ok ' "$log" || :)
	nf=$(grep -c '^FAIL ' "$log" || :)
	passed=$((passed + np))
	failed=$((failed + nf))
	if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
		fail "$sname-peer" "exit status $rc with no FAIL line: $(tail -n 5 "$log")"
	fi
}
