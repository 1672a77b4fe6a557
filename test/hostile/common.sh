# shellcheck shell=sh disable=SC2034
# (The variables set here are read by the scripts that source this file.)
#
# What the hostile-peer tests (test/hostile/test-*.sh) have of their own,
# over the test kit (test/lib.sh): hostile-server and the scenarios of
# peers.py run against it. POSIX sh, sourced, not run; the sourcing script
# sets "set -eu" first.
#
# Environment (and test/lib.sh's):
#   HOSTILE_SERVER  the server (default $top_builddir/test/hostile/hostile-server)
#   HOSTILE_LOAD    the load client (default $top_builddir/test/hostile/hostile-load)
# Under WSEV_TEST_WRAPPER (valgrind) the memory bounds are only reported.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"
: "${HOSTILE_SERVER:=$top_builddir/test/hostile/hostile-server}"
: "${HOSTILE_LOAD:=$top_builddir/test/hostile/hostile-load}"

peers=$top_srcdir/test/hostile/peers.py

# ASan keeps freed memory in a quarantine (256 MiB by default), which
# would show in the server's RSS as growth: keep it small, so that RSS says
# what the server holds. Leak checking is not affected.
ASAN_OPTIONS="quarantine_size_mb=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export ASAN_OPTIONS

# hostile_init: the kit's set-up, and what every hostile test needs.
hostile_init() {
	need_built "$HOSTILE_SERVER"
	[ -x "$python" ] || skip "$python not found (the peers are Python 3)"
	[ -r /proc/self/status ] ||
	    skip "no /proc/self/status: the server cannot report its RSS"
	kit_init hostile
}

# memory_checked: the server's memory figures mean what they say (no
# wrapper, no sanitizer).
memory_checked() {
	! instrumented "$HOSTILE_SERVER"
}

# rss_bound KIB: KIB, or 0 ("only report the growth") under
# WSEV_TEST_WRAPPER, whose own memory shows in the server's RSS. The
# sanitizer build keeps the bound: the quarantine is small (see above).
rss_bound() {
	if [ -n "$WSEV_TEST_WRAPPER" ]; then
		echo 0
	else
		echo "$1"
	fi
}

# scenario_args SERVER-ARGS -- PEER-ARGS: splits the two at "--" into
# $sargs (server) and leaves "$@" for the peer: call it as
# "scenario_args "$@"; shift $nshift".
scenario_args() {
	sargs=
	nshift=0
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		sargs="$sargs $1"
		shift
		nshift=$((nshift + 1))
	done
	[ $# -gt 0 ] && nshift=$((nshift + 1))
}

# run_scenario NAME SERVER-ARGS -- PEER-ARGS: a fresh server, one
# peers.py scenario against it, the server stopped and its exit checked.
run_scenario() {
	sname=$1
	shift
	scenario_args "$@"
	shift "$nshift"
	# shellcheck disable=SC2086
	start_server "$sname" "$HOSTILE_SERVER" $sargs || return 0
	run_counted "$sname" 300 "$python" "$peers" "$@" --port "$server_port"
	stop_server "$sname"
}

# run_held_scenario NAME SERVER-ARGS -- PEER-ARGS: a fresh server, a
# peers.py scenario that holds connections open ("hold"); once it has
# created its ready file the server is stopped, with them open, and must
# still exit 0; then the peer's own checks are counted.
run_held_scenario() {
	sname=$1
	shift
	scenario_args "$@"
	shift "$nshift"
	# shellcheck disable=SC2086
	start_server "$sname" "$HOSTILE_SERVER" $sargs || return 0
	run_held "$sname" 300 "$tmp/$sname.ready" "$python" "$peers" "$@" \
	    --port "$server_port" --ready-file "$tmp/$sname.ready"
	stop_server "$sname"
	end_held
}
