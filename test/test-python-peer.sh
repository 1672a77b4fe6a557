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

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"

need_python websockets.connection
exec "$python" "$top_srcdir/test/python-peer.py" "$top_builddir/test/raw-peer"
