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

# start_cluster_nginx NAME PORT...: nginx on a free port with the
# checked-in samples/nginx-chat.conf, in front of the chat-servers on
# 127.0.0.1:PORT...; sets nginx_port1 (and what start_nginx_file sets).
start_cluster_nginx() {
	_cn=$1
	shift
	_cu=
	for _cp in "$@"; do
		_cu="$_cu		server 127.0.0.1:$_cp;\n"
	done
	# Below the ephemeral ports (free_port): no client connection of
	# another test can take it meanwhile.
	_cport=$(free_port)
	mkdir -p "$tmp/$_cn"
	sed -e "s|@PREFIX@|$tmp/$_cn|g" -e "s|@PORT@|$_cport|g" \
	    -e "s|^@UPSTREAMS@\$|$_cu|" \
	    "$top_srcdir/samples/nginx-chat.conf" >"$tmp/$_cn.conf"
	start_nginx_file "$_cn" "$tmp/$_cn.conf" "$_cport"
}

# start_pages NAME [ARGS...]: two of a scenario's 8 clients are chat pages
# in headless Chromium (pages.test.js ARGS, in the background, through
# nginx at nginx_port1, meeting chat-clients.py in $tmp/NAME) when
# find_chromium found what they need; else all 8 are Python clients.
# Sets mix_args, the chat-clients.py arguments for the other clients and
# 2,000 lines in all; end_pages counts the pages' own lines.
start_pages() {
	_pn=$1
	shift
	pages_pid=
	if ! find_chromium; then
		echo "# SKIP the Chromium pages of $_pn: $why_not"
		mix_args="--clients 8 --messages 2000"
		return 0
	fi
	mkdir -p "$tmp/$_pn"
	mix_args="--clients 6 --messages 1500 --pages-dir $tmp/$_pn --pages 2 --page-lines 250"
	timeout 180 node "$top_srcdir/test/cluster/pages.test.js" \
	    --url "http://127.0.0.1:$nginx_port1/" --dir "$tmp/$_pn" \
	    --pages 2 --lines 250 "$@" >"$tmp/$_pn.log" 2>&1 &
	pages_pid=$!
	pages_name=$_pn
	kit_track "$pages_pid"
}

end_pages() {
	[ -n "$pages_pid" ] || return 0
	_krc=0
	wait "$pages_pid" || _krc=$?
	kit_untrack "$pages_pid"
	count_lines "$pages_name" "$tmp/$pages_name.log" "$_krc"
}
