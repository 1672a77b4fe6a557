# Shared pieces of the client interop tests (test-python-server.sh,
# test-node-server.sh, test-nginx.sh): wsev-cat and client-probe against
# real servers. POSIX sh, sourced, not run; the sourcing script sets
# "set -eu" first.
#
# Environment:
#   top_srcdir, top_builddir  set by automake's TESTS_ENVIRONMENT
#   WSEV_CAT            the client under test (default:
#                       $top_builddir/samples/wsev-cat)
#   WSEV_CLIENT_PROBE   the API-level client (default:
#                       $top_builddir/test/interop-client/client-probe)
#   WSEV_ECHO_SERVER    wsev's echo server, for test-nginx.sh (default:
#                       $top_builddir/samples/echo-server)
#   WSEV_CLIENT_WRAPPER a command to run the clients under (valgrind ...)
#
# Results: every check prints "ok NAME" or "FAIL NAME: WHY"; ic_finish
# prints "N passed, M failed" and exits 0 only if M is 0.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
: "${WSEV_CAT:=$top_builddir/samples/wsev-cat}"
: "${WSEV_CLIENT_PROBE:=$top_builddir/test/interop-client/client-probe}"
: "${WSEV_ECHO_SERVER:=$top_builddir/samples/echo-server}"
: "${WSEV_CLIENT_WRAPPER:=}"

ic_dir=$top_srcdir/test/interop-client
logdir=
passed=0
failed=0
tmp=
ic_pids=

# Bounds, in seconds.
CAT_TIMEOUT=${CAT_TIMEOUT:-30}		# one wsev-cat or client-probe run
PEER_START_TIMEOUT=20			# a peer server printing its ports
PEER_LIFETIME=900			# the longest a peer server may live

ic_cleanup() {
	for _p in $ic_pids; do
		kill -TERM "$_p" 2>/dev/null || :
	done
	for _p in $ic_pids; do
		wait "$_p" 2>/dev/null || :
	done
	ic_pids=
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}

# ic_init: checks the clients are built; a private temporary directory,
# removed on exit.
ic_init() {
	if ! command -v timeout >/dev/null 2>&1; then
		echo "SKIP: no timeout(1) to bound the test"
		exit 77
	fi
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsev-ic.XXXXXX")
	trap 'ic_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	for _b in "$WSEV_CAT" "$WSEV_CLIENT_PROBE"; do
		if [ ! -x "$_b" ]; then
			echo "FAIL setup: $_b is not built"
			echo "0 passed, 1 failed"
			exit 1
		fi
	done
}

pass() {
	echo "ok $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}

ic_finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

# make_cert NAME SAN: a self-signed certificate made now, CN=localhost, in
# $tmp/NAME.pem and $tmp/NAME.key. SKIP (77) without the openssl command.
make_cert() {
	if ! command -v openssl >/dev/null 2>&1; then
		echo "SKIP: no openssl command to make the test certificates"
		exit 77
	fi
	if ! timeout 60 openssl req -x509 -newkey rsa:2048 -nodes \
	    -keyout "$tmp/$1.key" -out "$tmp/$1.pem" -days 2 \
	    -subj "/CN=localhost" -addext "subjectAltName=$2" \
	    >"$tmp/openssl-$1.log" 2>&1; then
		fail "make-cert-$1" "openssl req failed: $(tail -n 3 "$tmp/openssl-$1.log")"
		ic_finish
	fi
}

# one_line FILE: FILE has exactly one line, which starts with PREFIX ($2).
one_line() {
	[ "$(wc -l <"$1")" -eq 1 ] && head -n 1 "$1" | grep -q "^$2"
}

# describe NAME: what a run left behind, for a FAIL line.
describe() {
	printf 'exit %s, stderr: %s' "$rc" \
	    "$(head -c 600 "$tmp/$1.err" | tr '\n' '|')"
}

# run_cat NAME INPUT ARGS...: wsev-cat ARGS with INPUT (a file) on stdin,
# under timeout. Leaves $tmp/NAME.out, $tmp/NAME.err and $rc.
run_cat() {
	_name=$1
	_in=$2
	shift 2
	rc=0
	# shellcheck disable=SC2086
	timeout "$CAT_TIMEOUT" $WSEV_CLIENT_WRAPPER "$WSEV_CAT" "$@" \
	    <"$_in" >"$tmp/$_name.out" 2>"$tmp/$_name.err" || rc=$?
}

# run_cat_open NAME ARGS...: wsev-cat whose stdin stays open (a FIFO that
# this shell holds for writing) until wsev-cat exits: only the server can
# end the connection. Leaves the same as run_cat.
run_cat_open() {
	_name=$1
	shift
	rm -f "$tmp/$_name.fifo"
	mkfifo "$tmp/$_name.fifo"
	rc=0
	# shellcheck disable=SC2086
	timeout "$CAT_TIMEOUT" $WSEV_CLIENT_WRAPPER "$WSEV_CAT" "$@" \
	    <"$tmp/$_name.fifo" >"$tmp/$_name.out" 2>"$tmp/$_name.err" &
	_cpid=$!
	exec 9>"$tmp/$_name.fifo"
	wait "$_cpid" || rc=$?
	exec 9>&-
}

# is_running PID: a child that has neither exited nor is waiting to be
# reaped (kill -0 succeeds on a zombie). Linux's /proc; elsewhere ps.
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

# run_cat_echo NAME INPUT BYTES ARGS...: wsev-cat ARGS fed INPUT through a
# FIFO that stays open until wsev-cat has printed BYTES bytes (or exited,
# or CAT_TIMEOUT passed); then the end of input, where wsev-cat closes
# with 1000. An echo server must see the close after the echoes, not race
# them (a server that got the close stops sending, RFC 6455 §5.5.1).
# Leaves the same as run_cat.
run_cat_echo() {
	_name=$1
	_in=$2
	_want=$3
	shift 3
	rm -f "$tmp/$_name.fifo"
	mkfifo "$tmp/$_name.fifo"
	rc=0
	# shellcheck disable=SC2086
	timeout "$CAT_TIMEOUT" $WSEV_CLIENT_WRAPPER "$WSEV_CAT" "$@" \
	    <"$tmp/$_name.fifo" >"$tmp/$_name.out" 2>"$tmp/$_name.err" &
	_cpid=$!
	exec 9>"$tmp/$_name.fifo"
	# CAT_ECHO_DELAY: seconds the connection stays idle first.
	sleep "${CAT_ECHO_DELAY:-0}"
	cat "$_in" >&9 2>/dev/null || :
	_w=0
	while is_running "$_cpid" && [ "$(wc -c <"$tmp/$_name.out")" -lt "$_want" ] &&
	    [ "$_w" -lt $((CAT_TIMEOUT * 10)) ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	exec 9>&-
	wait "$_cpid" || rc=$?
}

# run_probe NAME ARGS...: client-probe under timeout, stdout and stderr
# to $tmp/NAME.out / .err; $rc.
run_probe() {
	_name=$1
	shift
	rc=0
	# shellcheck disable=SC2086
	timeout "$CAT_TIMEOUT" $WSEV_CLIENT_WRAPPER "$WSEV_CLIENT_PROBE" "$@" \
	    </dev/null >"$tmp/$_name.out" 2>"$tmp/$_name.err" || rc=$?
}

# expect_clean NAME: the last run exited 0 and printed nothing on stderr.
# Returns 1 (after a FAIL line) otherwise.
expect_clean() {
	if [ "$rc" -ne 0 ] || [ -s "$tmp/$1.err" ]; then
		fail "$1" "expected exit 0 and no stderr; $(describe "$1")"
		return 1
	fi
	return 0
}

# expect_refusal NAME PATTERN: the last wsev-cat run exited 1 (not a
# timeout, not a signal) with exactly one stderr line "wsev-cat: ..."
# matching the extended regular expression PATTERN.
expect_refusal() {
	if [ "$rc" -ne 1 ]; then
		fail "$1" "expected exit 1; $(describe "$1")"
	elif ! one_line "$tmp/$1.err" 'wsev-cat: '; then
		fail "$1" "expected one \"wsev-cat: ...\" line on stderr; $(describe "$1")"
	elif ! grep -Eq -- "$2" "$tmp/$1.err"; then
		fail "$1" "the reason does not match /$2/: $(head -n 1 "$tmp/$1.err")"
	else
		pass "$1"
	fi
}

# expect_probe_lines NAME LINE...: the last client-probe run printed every LINE
# (whole lines, in any order).
expect_probe_lines() {
	_n=$1
	shift
	for _l in "$@"; do
		if ! grep -qxF -- "$_l" "$tmp/$_n.out"; then
			fail "$_n" "client-probe did not print \"$_l\"; it printed: $(tr '\n' '|' <"$tmp/$_n.out"); $(describe "$_n")"
			return 1
		fi
	done
	return 0
}

# expect_probe_error NAME REGEX: the last client-probe run exited 1 and
# printed a whole line matching the basic regular expression REGEX.
expect_probe_error() {
	if [ "$rc" -ne 1 ]; then
		fail "$1" "expected exit 1; $(describe "$1"), stdout: $(tr '\n' '|' <"$tmp/$1.out")"
	elif ! grep -qx -- "$2" "$tmp/$1.out"; then
		fail "$1" "no line /$2/; it printed: $(tr '\n' '|' <"$tmp/$1.out")"
	else
		pass "$1"
	fi
}

# gen_lines FILE LENGTH...: one line per LENGTH of that many bytes (ASCII,
# a pattern that shifts from line to line), then a line of UTF-8 with 2-,
# 3- and 4-byte sequences.
gen_lines() {
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
	printf 'h\303\251llo \342\202\254 \360\237\230\200 \344\270\255\346\226\207\n' >>"$_f"
}

# gen_binary FILE BYTES: BYTES of random data, NULs and all.
gen_binary() {
	head -c "$2" /dev/urandom >"$1"
}

# wait_for_file_line FILE LINE [SECONDS]: wait until FILE holds LINE.
wait_for_file_line() {
	_w=0
	_lim=$((${3:-10} * 10))
	while ! grep -qxF -- "$2" "$1" 2>/dev/null; do
		[ "$_w" -ge "$_lim" ] && return 1
		sleep 0.1
		_w=$((_w + 1))
	done
	return 0
}

# start_peer NAME COMMAND...: run a peer server (under timeout) whose
# stdout lists "LABEL PORT" lines and then "ready"; waits for "ready".
# Sets peer_pid and peer_out; returns 1 after a FAIL line otherwise.
# --foreground: timeout passes a SIGTERM on to its child only, not to its
# process group as well; a second SIGTERM would reach a peer that has
# already put back the default action on its way out (exit 143).
start_peer() {
	_pname=$1
	shift
	peer_out=$tmp/$_pname.ports
	: >"$peer_out"
	timeout --foreground "$PEER_LIFETIME" "$@" >"$peer_out" 2>"$tmp/$_pname.stderr" &
	peer_pid=$!
	ic_pids="$ic_pids $peer_pid"
	_w=0
	while ! grep -qx ready "$peer_out"; do
		if ! kill -0 "$peer_pid" 2>/dev/null; then
			fail "$_pname-start" "the peer exited: $(tail -n 5 "$tmp/$_pname.stderr")"
			return 1
		fi
		if [ "$_w" -ge $((PEER_START_TIMEOUT * 10)) ]; then
			fail "$_pname-start" "no \"ready\" within $PEER_START_TIMEOUT s: $(tail -n 5 "$tmp/$_pname.stderr")"
			return 1
		fi
		sleep 0.1
		_w=$((_w + 1))
	done
	pass "$_pname-start"
}

# peer_port LABEL: the port the peer printed for LABEL.
peer_port() {
	sed -n "s/^$1 \\([0-9][0-9]*\\)\$/\\1/p" "$peer_out"
}

# stop_peer NAME: SIGTERM; the peer must exit 0 within 10 s and have
# written nothing on stderr (an exception in a handler shows there).
stop_peer() {
	kill -TERM "$peer_pid" 2>/dev/null || :
	_w=0
	while kill -0 "$peer_pid" 2>/dev/null && [ "$_w" -lt 100 ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	_prc=0
	wait "$peer_pid" || _prc=$?
	if [ "$_prc" -ne 0 ]; then
		fail "$1-exit" "the peer exited with $_prc: $(tail -n 10 "$tmp/$1.stderr")"
	elif [ -s "$tmp/$1.stderr" ]; then
		fail "$1-exit" "the peer wrote on stderr: $(head -c 1500 "$tmp/$1.stderr")"
	else
		pass "$1-exit"
	fi
}

# server_log ID: the log a peer server wrote for the connection ?id=ID,
# once it says "done" (within 10 s). Returns 1 if it never does.
server_log() {
	wait_for_file_line "$logdir/$1.log" "done" 10
}

# expect_log NAME ID LINE...: the peer's log for ID holds every LINE.
expect_log() {
	_n=$1
	_id=$2
	shift 2
	if ! server_log "$_id"; then
		fail "$_n" "the server never finished connection $_id: $(tr '\n' '|' <"$logdir/$_id.log" 2>/dev/null | head -c 600)"
		return 1
	fi
	for _l in "$@"; do
		if ! grep -qxF -- "$_l" "$logdir/$_id.log"; then
			fail "$_n" "the server log lacks \"$_l\": $(tr '\n' '|' <"$logdir/$_id.log" | head -c 900)"
			return 1
		fi
	done
	return 0
}
