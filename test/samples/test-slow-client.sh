#!/bin/sh
# chat-server with a client that never reads: the others are not slowed,
# the server's memory stays bounded, the slow one is disconnected (1008).
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"

need_python websockets
need_built "$top_builddir/samples/chat-server"
exec timeout 120 "$python" "$top_srcdir/test/samples/slow-client.py" \
    "$top_builddir/samples/chat-server"
