# shellcheck shell=sh disable=SC2034
# (The variables set here are read by the scripts that source this file.)
#
# Shared pieces of the interop tests (test-python.sh, test-node.sh); POSIX sh,
# sourced, not run. The sourcing script sets "set -eu" first.
#
# Environment:
#   top_srcdir, top_builddir  set by automake's TESTS_ENVIRONMENT
#   PEER_SERVER               the server binary (default:
#                             $top_builddir/test/interop/peer-server)
#   PEER_WRAPPER              a command to run the server under, e.g.
#                             "valgrind -q --leak-check=full --error-exitcode=99"
#
# Results: every check prints "ok NAME" or "FAIL NAME: WHY"; interop_finish
# prints "N passed, M failed" and exits 0 only if M is 0.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
: "${PEER_SERVER:=$top_builddir/test/interop/peer-server}"
: "${PEER_WRAPPER:=}"

interop_dir=$top_srcdir/test/interop
passed=0
failed=0
tmp=
server_pid=
server_out=
server_err=
server_port=
server_url=

# Bounds, in seconds.
SERVER_START_TIMEOUT=20		# valgrind starts slowly
SERVER_STOP_TIMEOUT=20
CLIENT_TIMEOUT=300

interop_cleanup() {
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null || :
		wait "$server_pid" 2>/dev/null || :
		server_pid=
	fi
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}

# interop_init: a private temporary directory, removed on exit.
interop_init() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsev-interop.XXXXXX")
	trap 'interop_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ ! -x "$PEER_SERVER" ]; then
		# A hard error for automake (99), not a test that failed.
		echo "ERROR: $PEER_SERVER is not built"
		echo "0 passed, 1 failed"
		exit 99
	fi
	if ! command -v timeout >/dev/null 2>&1; then
		echo "SKIP: no timeout(1) to bound the test"
		exit 77
	fi
}

pass() {
	echo "ok $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}

# interop_finish: the summary line and the exit status.
interop_finish() {
	echo "$passed passed, $failed failed"
	if [ "$failed" -eq 0 ]; then
		exit 0
	fi
	exit 1
}

# make_cert: a self-signed certificate for localhost and 127.0.0.1, made now,
# in $tmp/cert.pem and $tmp/key.pem. SKIP (77) without the openssl command.
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
		interop_finish
	fi
}

# is_zombie PID: the child exited and waits to be reaped (kill -0 still
# succeeds on it). Linux's /proc; elsewhere ps.
is_zombie() {
	if [ -r "/proc/$1/stat" ]; then
		st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	else
		st=$(ps -o stat= -p "$1" 2>/dev/null || :)
	fi
	case $st in Z*) return 0 ;; esac
	return 1
}

# start_server NAME ARGS...: run the peer server, wait for its first line
# and read the port from it. Sets server_pid, server_out, server_err,
# server_port and server_url. Returns 1 (after a FAIL line) if it does not
# come up.
start_server() {
	name=$1
	shift
	server_out=$tmp/$name.out
	server_err=$tmp/$name.err
	: >"$server_out"
	# shellcheck disable=SC2086
	$PEER_WRAPPER "$PEER_SERVER" "$@" >"$server_out" 2>"$server_err" &
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

# stop_server NAME: SIGTERM, then the exit status must be 0 (valgrind's
# --error-exitcode shows here) within SERVER_STOP_TIMEOUT.
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

# check_server_stderr NAME: the server reported no error (every scenario of
# the main suites ends in an orderly way).
check_server_stderr() {
	if [ -s "$server_err" ]; then
		fail "$1-stderr-clean" "the server wrote: $(head -n 10 "$server_err")"
	else
		pass "$1-stderr-clean"
	fi
}

# run_client NAME COMMAND...: run a client under timeout; count its "ok" and
# "FAIL" lines (it prints them itself). A client that exits non-zero
# without any FAIL line (a crash, the timeout) is a failure too.
run_client() {
	name=$1
	shift
	log=$tmp/$name.client
	rc=0
	timeout "$CLIENT_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
	grep -v '^[0-9]* passed, [0-9]* failed$' "$log" || :
	np=$(grep -c '^ok ' "$log" || :)
	nf=$(grep -c '^FAIL ' "$log" || :)
	passed=$((passed + np))
	failed=$((failed + nf))
	if [ "$rc" -eq 124 ]; then
		fail "$name-client" "did not finish within $CLIENT_TIMEOUT s"
	elif [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
		fail "$name-client" "exit status $rc with no FAIL line"
	elif [ "$rc" -eq 0 ] && [ "$nf" -ne 0 ]; then
		fail "$name-client" "exit status 0 despite $nf FAIL lines"
	elif [ "$np" -eq 0 ] && [ "$nf" -eq 0 ]; then
		fail "$name-client" "ran no scenario"
	fi
}
