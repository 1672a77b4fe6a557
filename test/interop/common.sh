# shellcheck shell=sh disable=SC2034
# (The variables set here are read by the scripts that source this file.)
#
# What the interop tests (test-python.sh, test-node.sh) have of their own,
# over the test kit (test/lib.sh): peer-server, and the clients run
# against it. POSIX sh, sourced, not run; the sourcing script sets
# "set -eu" first.
#
# Environment (and test/lib.sh's):
#   PEER_SERVER  the server (default $top_builddir/test/interop/peer-server)
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"
: "${PEER_SERVER:=$top_builddir/test/interop/peer-server}"

interop_dir=$top_srcdir/test/interop
KIT_STOP_TIMEOUT=20

# interop_init: the kit's set-up, a certificate ($tmp/cert.pem, .key).
interop_init() {
	need_built "$PEER_SERVER"
	kit_init interop
	make_cert cert
}

# tls_mode MODE TLS12-FLAG...: $tls, the server's flags, and $ca, the
# client's, for MODE: plain (none), tls, or tls12 (the client's
# TLS12-FLAG... added: TLS 1.2 at most).
tls_mode() {
	tls=
	ca=
	case $1 in
	plain) return 0 ;;
	tls12) shift; ca=" $*" ;;
	esac
	tls="--tls $tmp/cert.pem $tmp/cert.key"
	ca="--cafile $tmp/cert.pem$ca"
}

# check_server_stderr NAME: the server reported no error (every scenario
# of the main suites ends in an orderly way).
check_server_stderr() {
	if [ -s "$server_err" ]; then
		fail "$1-stderr-clean" "the server wrote: $(head -n 10 "$server_err")"
	else
		pass "$1-stderr-clean"
	fi
}

# check_pong_timeout NAME: the server failed the connection with 1008
# and this error (wsev.h).
check_pong_timeout() {
	if grep -q '^error domain=1 code=1008: keepalive pong timed out$' \
	    "$server_err"; then
		pass "$1-error"
	else
		fail "$1-error" "no 1008 error: $(head -n 5 "$server_err")"
	fi
}
