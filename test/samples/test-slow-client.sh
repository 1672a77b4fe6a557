#!/bin/sh
# chat-server with a client that never reads: the others are not slowed,
# the server's memory stays bounded, the slow one is disconnected (1008).
set -eu
py=/usr/bin/python3
if ! "$py" -c 'import websockets' 2>/dev/null; then
	echo "python3-websockets is not installed: skipped"
	exit 77
fi
exec timeout 120 "$py" "$top_srcdir/test/samples/slow-client.py" \
    "$top_builddir/samples/chat-server"
