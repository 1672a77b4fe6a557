#!/bin/sh
# Browser test of samples/chat-server: chat.test.js drives Debian's Chromium
# with playwright-core (never a downloaded browser) through the chat page,
# over ws:// and over wss:// with a certificate made at test time. Run by
# "make check" with top_srcdir and top_builddir exported; exit 77 (SKIP)
# when Chromium, node or playwright-core is missing.
#
# playwright-core is looked up in $WSEV_NODE_MODULES, then
# test/browser/node/node_modules of the source and the build tree
# (npm install --prefix test/browser/node playwright-core).
# CHROMIUM overrides /usr/bin/chromium (apt-get install chromium).
# The page's WebSocket also meets test/interop/peer-server (PEER_SERVER
# overrides it; without it those checks are not run): permessage-deflate
# negotiated with Chromium and used for every kind of message, and
# declined by peer-server --no-deflate.
# The screenshot of the page is left in $top_builddir/test/browser/chat.png.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"
find_chromium || skip "$why_not"
need_cmd timeout
CHAT_SERVER=$top_builddir/samples/chat-server
need_built "$CHAT_SERVER"
OUT_DIR=$top_builddir/test/browser
: "${PEER_SERVER:=$top_builddir/test/interop/peer-server}"
export CHAT_SERVER OUT_DIR PEER_SERVER
mkdir -p "$OUT_DIR"

exec timeout 120 node "$top_srcdir/test/browser/chat.test.js"
