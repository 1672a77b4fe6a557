#!/bin/sh
# chat-server with a client that never reads: the others are not slowed,
# the server's memory stays bounded, the slow one is disconnected (1008);
# with one thread, then with two (each thread holds its own clients to
# the policy).
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"

need_python websockets
need_built "$top_builddir/samples/chat-server"
kit_init slow-client
run_counted one-thread 120 "$python" "$top_srcdir/test/samples/slow-client.py" \
    "$top_builddir/samples/chat-server"
run_counted two-threads 120 "$python" "$top_srcdir/test/samples/slow-client.py" \
    "$top_builddir/samples/chat-server" --threads 2
finish
