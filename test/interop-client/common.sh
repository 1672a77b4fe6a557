# shellcheck shell=sh disable=SC2034
# (The variables set here are read by the scripts that source this file.)
#
# What the client interop tests (test-python-server.sh,
# test-node-server.sh, test-nginx.sh, test-soup-server.sh) have of their
# own, over the test kit (test/lib.sh): wsev-cat and client-probe runs,
# and what they are expected to print. POSIX sh, sourced, not run; the
# sourcing script sets "set -eu" first.
#
# Environment (and test/lib.sh's; WSEV_TEST_WRAPPER runs the clients):
#   WSEV_CAT            the client under test (default:
#                       $top_builddir/samples/wsev-cat)
#   WSEV_CLIENT_PROBE   the API-level client (default:
#                       $top_builddir/test/interop-client/client-probe)
#   WSEV_ECHO_SERVER    wsev's echo server, for test-nginx.sh (default:
#                       $top_builddir/samples/echo-server)
#   CAT_TIMEOUT         the bound of one wsev-cat run, in seconds (30)
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"
: "${WSEV_CAT:=$top_builddir/samples/wsev-cat}"
: "${WSEV_CLIENT_PROBE:=$top_builddir/test/interop-client/client-probe}"
: "${WSEV_ECHO_SERVER:=$top_builddir/samples/echo-server}"

ic_dir=$top_srcdir/test/interop-client
logdir=
CAT_TIMEOUT=${CAT_TIMEOUT:-30}
KIT_STOP_TIMEOUT=10
LC_ALL=C	# lengths in bytes, byte-wise comparisons
export LC_ALL

# ic_init: the kit's set-up, with the clients built.
ic_init() {
	need_built "$WSEV_CAT" "$WSEV_CLIENT_PROBE"
	kit_init ic
}

# one_line FILE: FILE has exactly one line, which starts with PREFIX ($2).
one_line() {
	[ "$(wc -l <"$1")" -eq 1 ] && head -n 1 "$1" | grep -q "^$2"
}

# describe NAME: what the last run left behind, for a FAIL line.
describe() {
	printf 'exit %s, stderr: %s, stdout (%s bytes): %s' "$rc" \
	    "$(oneline "$tmp/$1.err" 600)" "$(wc -c <"$tmp/$1.out")" \
	    "$(oneline "$tmp/$1.out" 200)"
}

# run_cat NAME INPUT ARGS...: wsev-cat ARGS with INPUT (a file) on stdin,
# under timeout. Leaves $tmp/NAME.out, $tmp/NAME.err and $rc.
run_cat() {
	_name=$1
	_in=$2
	shift 2
	rc=0
	# shellcheck disable=SC2086
	timeout "$CAT_TIMEOUT" $WSEV_TEST_WRAPPER "$WSEV_CAT" "$@" \
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
	timeout "$CAT_TIMEOUT" $WSEV_TEST_WRAPPER "$WSEV_CAT" "$@" \
	    <"$tmp/$_name.fifo" >"$tmp/$_name.out" 2>"$tmp/$_name.err" &
	_cpid=$!
	exec 9>"$tmp/$_name.fifo"
	wait "$_cpid" || rc=$?
	exec 9>&-
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
	timeout "$CAT_TIMEOUT" $WSEV_TEST_WRAPPER "$WSEV_CAT" "$@" \
	    <"$tmp/$_name.fifo" >"$tmp/$_name.out" 2>"$tmp/$_name.err" &
	_cpid=$!
	exec 9>"$tmp/$_name.fifo"
	# CAT_ECHO_DELAY: seconds the connection stays idle first.
	sleep "${CAT_ECHO_DELAY:-0}"
	timeout "$CAT_TIMEOUT" cat "$_in" >&9 2>/dev/null || :
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
	timeout "$CAT_TIMEOUT" $WSEV_TEST_WRAPPER "$WSEV_CLIENT_PROBE" "$@" \
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
		fail "$1" "expected exit 1; $(describe "$1")"
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

# start_peer NAME COMMAND...: a peer server whose stdout lists "LABEL
# PORT" lines and then "ready". Sets peer_pid and peer_out.
start_peer() {
	_pname=$1
	shift
	peer_out=$tmp/$_pname.out
	bg_start "$_pname" '^ready$' "$@" || return 1
	peer_pid=$bg_pid
}

# peer_port LABEL: the port the peer printed for LABEL.
peer_port() {
	sed -n "s/^$1 \\([0-9][0-9]*\\)\$/\\1/p" "$peer_out"
}

# stop_peer NAME: it must exit 0 and have written nothing on stderr (an
# exception in a handler shows there).
stop_peer() {
	bg_stop "$1" "$peer_pid" clean
}

# server_log ID: the log a peer server wrote for the connection ?id=ID,
# once it says "done" (within 10 s). Returns 1 if it never does.
server_log() {
	wait_until 10 grep -qxF "done" "$logdir/$1.log"
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
