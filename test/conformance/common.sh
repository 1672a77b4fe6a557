# shellcheck shell=sh disable=SC2034
# (The variables set here are read by the scripts that source this file.)
# Shared pieces of the conformance tests (test-server-role.sh,
# test-client-role.sh, test-validate-*.sh): POSIX sh, sourced, not run; the
# sourcing script sets "set -eu" first.
#
# Environment:
#   top_srcdir, top_builddir   set by automake's TESTS_ENVIRONMENT
#   WSEV_ECHO_SERVER           default $top_builddir/samples/echo-server
#   WSEV_CAT                   default $top_builddir/samples/wsev-cat
#   WSEV_CONFORMANCE_WRAPPER   a command to run the wsev programs under
#                              (valgrind -q --error-exitcode=99 ...)
#   WSEV_CONFORMANCE_SCALE     multiplies the fuzzer's own waits and case
#                              deadlines (default 1; 10 under valgrind)
#   WSEV_CONFORMANCE_REPORTS   keep every JSON report in this directory
#                              (default: reports are kept, in
#                              $top_builddir/test/conformance/reports/NAME,
#                              only for a run with a FAIL line)
#   WSEV_CONFORMANCE_FULL=1    the validation peers run all of section 9
#                              too, and every script sends Autobahn's 1000
#                              messages per case of sections 12 and 13
#                              (by default: DEFLATE_COUNT, VALIDATE_COUNT)
#   WSEV_CONFORMANCE_DEFLATE_COUNT  messages per case of sections 12 and 13
#                              sent to wsev (default 20)
#   WSEV_CONFORMANCE_VALIDATE=1  the validation scripts run in a sanitizer
#                              build too (they SKIP there by default)
#
# Results: one "ok ..."/"FAIL ..." line per case and per check; conf_finish
# prints "N passed, M failed" and exits 0 only if M is 0.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
: "${WSEV_ECHO_SERVER:=$top_builddir/samples/echo-server}"
: "${WSEV_CAT:=$top_builddir/samples/wsev-cat}"
: "${WSEV_CONFORMANCE_WRAPPER:=}"
: "${WSEV_CONFORMANCE_SCALE:=1}"
: "${WSEV_CONFORMANCE_REPORTS:=}"
: "${WSEV_CONFORMANCE_FULL:=}"

conf_dir=$top_srcdir/test/conformance
# Debian's interpreter on purpose: the validation peer is its
# python3-websockets. -B: no __pycache__ in the source tree.
python=/usr/bin/python3
passed=0
failed=0
tmp=
conf_pids=
peer_pid=
peer_url=

# Bounds, in seconds.
PEER_START_TIMEOUT=20
PEER_LIFETIME=900
RUN_TIMEOUT=${RUN_TIMEOUT:-600}		# one run of wsconform.py
if [ -n "$WSEV_CONFORMANCE_FULL" ]; then
	# 216 cases of 1000 messages per run of sections 12 and 13.
	RUN_TIMEOUT=${WSEV_CONFORMANCE_RUN_TIMEOUT:-7200}
	PEER_LIFETIME=14400
fi

# Sections 12 and 13 (permessage-deflate): messages per case. Autobahn
# sends 1000 (WSEV_CONFORMANCE_FULL=1); make check sends DEFLATE_COUNT to
# wsev (the waits shrink in proportion) and VALIDATE_COUNT to the
# validation peers, which check the tool, not a library.
DEFLATE_COUNT=${WSEV_CONFORMANCE_DEFLATE_COUNT:-20}
VALIDATE_COUNT=5
deflate_n=$DEFLATE_COUNT	# what run_suite passes; the validation scripts lower it
# One case per subsection, rows spread over sizes and fragmentations:
# what a sanitizer build (or a run under WSEV_CONFORMANCE_WRAPPER) runs of
# sections 12 and 13.
DEFLATE_SUBSET=12.1.11,12.2.5,12.3.15,12.4.1,12.5.18,13.1.10,13.2.11,13.3.6,13.4.16,13.5.14,13.6.3,13.7.17
# What wss:// runs of them: TLS changes the transport, not the extension.
DEFLATE_TLS=12.1.1,12.2.11,12.5.18,13.5.15,13.7.17

conf_cleanup() {
	for _p in $conf_pids; do
		kill -TERM "$_p" 2>/dev/null || :
	done
	for _p in $conf_pids; do
		wait "$_p" 2>/dev/null || :
	done
	conf_pids=
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}

# conf_init: checks the tools; a private temporary directory, removed on
# exit, and every child killed.
conf_init() {
	if ! command -v timeout >/dev/null 2>&1; then
		echo "SKIP: no timeout(1) to bound the test"
		exit 77
	fi
	if [ ! -x "$python" ]; then
		echo "SKIP: $python not found"
		exit 77
	fi
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsev-conformance.XXXXXX")
	trap 'conf_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

pass() {
	echo "ok $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}

conf_finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

# need_built FILE...: a hard error (99) when a wsev program is not built.
need_built() {
	for _b in "$@"; do
		if [ ! -x "$_b" ]; then
			echo "ERROR: $_b is not built"
			echo "0 passed, 1 failed"
			exit 99
		fi
	done
}

# make_cert: a self-signed ECDSA certificate for localhost and 127.0.0.1,
# made now, in $tmp/cert.pem and $tmp/key.pem. SKIP (77) without openssl.
make_cert() {
	if ! command -v openssl >/dev/null 2>&1; then
		echo "SKIP: no openssl command to make the test certificate"
		exit 77
	fi
	if ! timeout 60 openssl req -x509 -newkey ec \
	    -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
	    -subj "/CN=localhost" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	    >"$tmp/openssl.log" 2>&1; then
		fail "make-cert" "openssl req failed: $(tail -n 3 "$tmp/openssl.log")"
		conf_finish
	fi
}

# is_running PID: neither exited nor waiting to be reaped.
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

# start_peer NAME COMMAND...: a server that prints "listening on URL" as
# its first line (wsev's echo-server, the validation peers), under
# timeout(1). Sets peer_pid and peer_url; returns 1 after a FAIL line.
start_peer() {
	_name=$1
	shift
	: >"$tmp/$_name.out"
	# --foreground: SIGTERM reaches the server once, not once more
	# through the process group.
	timeout --foreground "$PEER_LIFETIME" "$@" >"$tmp/$_name.out" 2>"$tmp/$_name.err" &
	peer_pid=$!
	conf_pids="$conf_pids $peer_pid"
	_w=0
	while ! grep -q '^listening on ' "$tmp/$_name.out"; do
		if ! is_running "$peer_pid"; then
			_rc=0
			wait "$peer_pid" || _rc=$?
			fail "$_name-start" "the server exited ($_rc): $(tail -n 5 "$tmp/$_name.err")"
			return 1
		fi
		if [ "$_w" -ge $((PEER_START_TIMEOUT * 10)) ]; then
			fail "$_name-start" "no \"listening on\" line within $PEER_START_TIMEOUT s"
			return 1
		fi
		sleep 0.1
		_w=$((_w + 1))
	done
	peer_url=$(sed -n '1s/^listening on //p' "$tmp/$_name.out")
	pass "$_name-start"
}

# stop_peer NAME [clean]: SIGTERM (timeout(1) passes it on); the server
# must exit 0 within 20 s. With "clean", its stderr must be empty too
# (wsev's echo-server reports nothing in an orderly run; a sanitizer
# report lands there).
stop_peer() {
	kill -TERM "$peer_pid" 2>/dev/null || :
	_w=0
	while is_running "$peer_pid" && [ "$_w" -lt 200 ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	_rc=0
	wait "$peer_pid" || _rc=$?
	if [ "$_rc" -ne 0 ]; then
		fail "$1-exit" "the server exited with $_rc: $(tail -n 20 "$tmp/$1.err")"
	elif [ "${2:-}" = clean ] && [ -s "$tmp/$1.err" ]; then
		fail "$1-exit" "the server wrote on stderr: $(head -c 2000 "$tmp/$1.err")"
	else
		pass "$1-exit"
	fi
}

# run_suite NAME ARGS...: wsconform.py ARGS --label NAME under timeout;
# its per-case lines are passed on and counted, its summary shown. A run
# that exits non-zero without a FAIL line (a crash, the timeout) is a
# failure too. Reports: see WSEV_CONFORMANCE_REPORTS.
run_suite() {
	_name=$1
	shift
	_rep=$tmp/reports/$_name
	if [ -n "$WSEV_CONFORMANCE_REPORTS" ]; then
		_rep=$WSEV_CONFORMANCE_REPORTS/$_name
	fi
	_log=$tmp/$_name.log
	_t0=$(date +%s)
	_rc=0
	# --limit9: a section 9 case waits 30 s at most for its echo, not
	# Autobahn's 100 or 1000 (the largest takes about 2 s under ASan).
	timeout "$RUN_TIMEOUT" "$python" -B "$conf_dir/wsconform.py" "$@" \
	    --label "$_name" --report-dir "$_rep" --limit9 30 \
	    --deflate-count "$(deflate_count "$deflate_n")" \
	    --time-scale "$WSEV_CONFORMANCE_SCALE" >"$_log" 2>&1 || _rc=$?
	grep -v '^[0-9]* passed, [0-9]* failed$' "$_log" || :
	_np=$(grep -c '^ok ' "$_log" || :)
	_nf=$(grep -c '^FAIL ' "$_log" || :)
	passed=$((passed + _np))
	failed=$((failed + _nf))
	echo "# $_name: $_np passed, $_nf failed in $(($(date +%s) - _t0)) s"
	if [ "$_rc" -eq 124 ]; then
		fail "$_name-run" "did not finish within $RUN_TIMEOUT s"
	elif [ "$_rc" -ne 0 ] && [ "$_nf" -eq 0 ]; then
		fail "$_name-run" "exit status $_rc with no FAIL line: $(tail -n 5 "$_log")"
	elif [ "$_np" -eq 0 ] && [ "$_nf" -eq 0 ]; then
		fail "$_name-run" "ran no case"
	fi
	if [ "$_nf" -ne 0 ] && [ -z "$WSEV_CONFORMANCE_REPORTS" ] && [ -d "$_rep" ]; then
		_keep=$top_builddir/test/conformance/reports
		mkdir -p "$_keep"
		rm -rf "${_keep:?}/$_name"
		cp -R "$_rep" "$_keep/$_name"
		echo "# $_name: the JSON reports are kept in $_keep/$_name"
	fi
}

# node_ws DIR: NODE_PATH for Node's ws (8 or later) from test/DIR/node;
# SKIP (77) without node or ws.
node_ws() {
	if ! command -v node >/dev/null 2>&1; then
		echo "SKIP: no node (Debian: apt-get install nodejs npm)"
		exit 77
	fi
	NODE_PATH=${WSEV_NODE_MODULES:+$WSEV_NODE_MODULES:}$top_srcdir/test/$1/node/node_modules:$top_builddir/test/$1/node/node_modules${NODE_PATH:+:$NODE_PATH}
	export NODE_PATH
	if ! _ver=$(node -e 'process.stdout.write(require("ws/package.json").version)' 2>&1); then
		echo "SKIP: node cannot load the ws package (tools/deps installs it):"
		printf '%s\n' "$_ver" | grep -m 1 'Cannot find module' ||
		    printf '%s\n' "$_ver" | head -n 1
		exit 77
	fi
	case $_ver in
	[0-7].*)
		echo "SKIP: ws $_ver is too old: the peers need ws 8 or later"
		exit 77
		;;
	esac
	echo "# node $(node --version), ws $_ver"
}

# python_websockets: SKIP (77) unless Debian's python3-websockets imports.
python_websockets() {
	if ! _why=$("$python" -c 'import websockets; print(websockets.__version__)' 2>&1); then
		echo "SKIP: $python cannot import websockets (apt-get install python3-websockets):"
		printf '%s\n' "$_why" | tail -n 1
		exit 77
	fi
	echo "# python $("$python" -c 'import sys; print(sys.version.split()[0])'), websockets $_why"
}

# The cases the validation peers run: all, with section 9 cut down to its
# extremes (16 MiB messages, 65536 fragments, 64-octet chops, 1000 round
# trips) unless WSEV_CONFORMANCE_FULL=1; sections 12 and 13 whole, with
# VALIDATE_COUNT messages per case (deflate_n). The peers are not
# wsev: they check wsconform.py, not the library.
validation_cases() {
	if [ -n "$WSEV_CONFORMANCE_FULL" ]; then
		echo "*"
	else
		echo "0,1,2,3,4,5,6,7,10,12,13,9.1.6,9.2.6,9.3.1,9.4.1,9.5.1,9.6.1,9.7.1,9.8.6"
	fi
}

# deflate_count N: --deflate-count's value: N, or Autobahn's 1000 with
# WSEV_CONFORMANCE_FULL=1.
deflate_count() {
	if [ -n "$WSEV_CONFORMANCE_FULL" ]; then
		echo 1000
	else
		echo "$1"
	fi
}

# sanitizer_build: true in a build configured with --enable-sanitizers
# (SANITIZER_FLAGS set in the build's Makefile).
sanitizer_build() {
	[ -f "$top_builddir/Makefile" ] &&
	    [ -n "$(sed -n 's/^SANITIZER_FLAGS = *//p' "$top_builddir/Makefile")" ]
}

# deflate_cases: the cases of sections 12 and 13 that a role script runs
# over ws://: all 216, or DEFLATE_SUBSET in a sanitizer build or under a
# wrapper (valgrind), unless WSEV_CONFORMANCE_FULL=1.
deflate_cases() {
	if [ -z "$WSEV_CONFORMANCE_FULL" ] && { sanitizer_build || [ -n "$WSEV_CONFORMANCE_WRAPPER" ]; }; then
		echo "$DEFLATE_SUBSET"
	else
		echo "12,13"
	fi
}

# validation_build: the validation scripts check wsconform.py against
# peers that are not wsev, so one build is enough: in a sanitizer build
# they SKIP, unless WSEV_CONFORMANCE_VALIDATE=1.
validation_build() {
	if [ -z "${WSEV_CONFORMANCE_VALIDATE:-}" ] && sanitizer_build; then
		echo "SKIP: sanitizer build: the validation peers are not wsev, the plain build runs them (WSEV_CONFORMANCE_VALIDATE=1 runs them here too)"
		exit 77
	fi
}
