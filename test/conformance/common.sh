# shellcheck shell=sh disable=SC2034
# (The variables set here are read by the scripts that source this file.)
# What the conformance tests (test-server-role.sh, test-client-role.sh,
# test-validate-*.sh) have of their own, over the test kit (test/lib.sh):
# wsconform.py's runs and which cases each build runs. POSIX sh, sourced,
# not run; the sourcing script sets "set -eu" first.
#
# Environment:
#   top_srcdir, top_builddir   set by automake's TESTS_ENVIRONMENT
#   WSEV_ECHO_SERVER           default $top_builddir/samples/echo-server
#   WSEV_CAT                   default $top_builddir/samples/wsev-cat
#   WSEV_TEST_WRAPPER          a command to run the wsev programs under
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
# Results: one "ok ..."/"FAIL ..." line per case and per check.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"
: "${WSEV_ECHO_SERVER:=$top_builddir/samples/echo-server}"
: "${WSEV_CAT:=$top_builddir/samples/wsev-cat}"
: "${WSEV_CONFORMANCE_SCALE:=1}"
: "${WSEV_CONFORMANCE_REPORTS:=}"
: "${WSEV_CONFORMANCE_FULL:=}"

conf_dir=$top_srcdir/test/conformance

# Bounds, in seconds.
KIT_STOP_TIMEOUT=20
RUN_TIMEOUT=${RUN_TIMEOUT:-600}		# one run of wsconform.py
if [ -n "$WSEV_CONFORMANCE_FULL" ]; then
	# 216 cases of 1000 messages per run of sections 12 and 13.
	RUN_TIMEOUT=${WSEV_CONFORMANCE_RUN_TIMEOUT:-7200}
	KIT_LIFETIME=14400
fi

# Sections 12 and 13 (permessage-deflate): messages per case. Autobahn
# sends 1000 (WSEV_CONFORMANCE_FULL=1); make check sends DEFLATE_COUNT to
# wsev (the waits shrink in proportion) and VALIDATE_COUNT to the
# validation peers, which check the tool, not a library.
DEFLATE_COUNT=${WSEV_CONFORMANCE_DEFLATE_COUNT:-20}
VALIDATE_COUNT=5
deflate_n=$DEFLATE_COUNT	# what run_suite passes; the validation scripts lower it
# One case per subsection, rows spread over sizes and fragmentations:
# what a sanitizer build (or a run under WSEV_TEST_WRAPPER) runs of
# sections 12 and 13.
DEFLATE_SUBSET=12.1.11,12.2.5,12.3.15,12.4.1,12.5.18,13.1.10,13.2.11,13.3.6,13.4.16,13.5.14,13.6.3,13.7.17
# What wss:// runs of them: TLS changes the transport, not the extension.
DEFLATE_TLS=12.1.1,12.2.11,12.5.18,13.5.15,13.7.17

# conf_init: the kit's set-up, and the interpreter of the tool.
conf_init() {
	[ -x "$python" ] || skip "$python not found"
	kit_init conformance
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
	_t0=$(date +%s)
	# --limit9: a section 9 case waits 30 s at most for its echo, not
	# Autobahn's 100 or 1000 (the largest takes about 2 s under ASan).
	run_counted "$_name" "$RUN_TIMEOUT" "$python" -B "$conf_dir/wsconform.py" "$@" \
	    --label "$_name" --report-dir "$_rep" --limit9 30 \
	    --deflate-count "$(deflate_count "$deflate_n")" \
	    --time-scale "$WSEV_CONFORMANCE_SCALE"
	_nf=$counted_fail
	echo "# $_name: $counted_ok passed, $_nf failed in $(($(date +%s) - _t0)) s"
	if [ "$_nf" -ne 0 ] && [ -z "$WSEV_CONFORMANCE_REPORTS" ] && [ -d "$_rep" ]; then
		_keep=$top_builddir/test/conformance/reports
		mkdir -p "$_keep"
		rm -rf "${_keep:?}/$_name"
		cp -R "$_rep" "$_keep/$_name"
		echo "# $_name: the JSON reports are kept in $_keep/$_name"
	fi
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

# deflate_cases: the cases of sections 12 and 13 that a role script runs
# over ws://: all 216, or DEFLATE_SUBSET in a sanitizer build or under a
# wrapper (valgrind), unless WSEV_CONFORMANCE_FULL=1.
deflate_cases() {
	if [ -z "$WSEV_CONFORMANCE_FULL" ] && { sanitizer_build || [ -n "$WSEV_TEST_WRAPPER" ]; }; then
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
