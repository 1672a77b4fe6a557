# shellcheck shell=sh disable=SC2034
# (The variables set here are read by the scripts that source this file.)
#
# What the cluster tests (test/cluster/test-*.sh) have of their own, over
# the test kit (test/lib.sh): samples/chat-server processes and the clients
# that check the room's order (chat-clients.py). POSIX sh, sourced, not
# run; the sourcing script sets "set -eu" first.
#
# Environment (and test/lib.sh's):
#   CHAT_SERVER  the server (default $top_builddir/samples/chat-server)
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"
: "${CHAT_SERVER:=$top_builddir/samples/chat-server}"

clients=$top_srcdir/test/cluster/chat-clients.py

# cluster_init NAME: the kit's set-up, with the server and the Python
# clients there.
cluster_init() {
	need_built "$CHAT_SERVER"
	need_python websockets.legacy.client
	kit_init "cluster-$1"
}

# start_chat NAME ARGS...: a chat-server (under WSEV_TEST_WRAPPER) on a
# port of its choosing unless ARGS say --port. Sets chat_pid and
# chat_port; "FAIL NAME-start" and 1 if it does not come up.
start_chat() {
	_cn=$1
	shift
	# shellcheck disable=SC2086
	bg_start "$_cn" '^chat room ready: ' $WSEV_TEST_WRAPPER \
	    "$CHAT_SERVER" --port 0 "$@" || return 1
	chat_pid=$bg_pid
	chat_port=$(sed -n 's|^chat room ready: open https\{0,1\}://127\.0\.0\.1:\([0-9]*\)/ .*|\1|p' \
	    "$tmp/$_cn.out")
}

# stop_chat NAME [PID]: SIGTERM; exit 0 and nothing on stderr (a
# sanitizer's report).
stop_chat() {
	bg_stop "$1" "${2:-$chat_pid}" clean
}
