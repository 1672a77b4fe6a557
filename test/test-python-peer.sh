#!/bin/sh
# Interop test: wsev (test/raw-peer) against Python websockets, framing only
# (no HTTP handshake). Run by "make check" with top_srcdir and top_builddir
# exported; exit 77 (SKIP) when the peer library is missing.
#
# The interpreter is /usr/bin/python3 on purpose, not $PYTHON3: the peer is
# Debian's python3-websockets (10.4), installed for the system Python only.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(dirname "$0")/..}"
: "${top_builddir:=.}"

python=/usr/bin/python3
peer="$top_builddir/test/raw-peer"

if ! test -x "$python"; then
	echo "SKIP: $python not found (the peer is Debian's python3-websockets)"
	exit 77
fi
if ! why=$("$python" -c 'import websockets.connection, websockets.frames' 2>&1); then
	echo "SKIP: $python cannot import websockets (apt-get install python3-websockets):"
	printf '%s\n' "$why" | tail -n 1
	exit 77
fi

exec "$python" "$top_srcdir/test/python-peer.py" "$peer"
