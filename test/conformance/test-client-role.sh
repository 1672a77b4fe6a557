#!/bin/sh
# Conformance of wsev as a WebSocket client: wsconform.py's fuzzing server
# against samples/wsev-cat --echo --max-payload 0, started once per case on
# the case's URL (ws://127.0.0.1:PORT/case/ID). The cases: Autobahn's
# sections 1-7, 9 and 10, and wsev's section 0 for clients: masked server
# frames (0.1) and invalid opening handshake responses (0.2: wrong accept
# key, 200, unrequested subprotocol or extension, no Upgrade, no
# Connection, Upgrade: h2c, no accept key) that wsev-cat must refuse
# without sending a frame, exiting non-zero. Sections 12 and 13
# (permessage-deflate) run apart, with --deflate-client-no-context-takeover
# (wsev-cat then offers client_no_context_takeover too, which 13.2 and
# 13.5-13.7 need), DEFLATE_COUNT messages per case and only DEFLATE_SUBSET
# in a sanitizer build (see common.sh); two short runs check the default
# offer (13.2 UNIMPLEMENTED: no client_no_context_takeover) and
# --no-deflate (UNIMPLEMENTED). Then the same over wss:// (a certificate
# made now; the sections cut down as in test-server-role.sh).
#
# Every case must be OK (INFORMATIONAL for 7.1.6 and 7.13.x); wsev-cat must
# exit within 5 s of every connection's end and never print a sanitizer
# report. Run by "make check" with top_srcdir and top_builddir exported.
# Prints one "ok"/"FAIL" line per case, then "N passed, M failed". See
# common.sh for the environment.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/conformance/common.sh
. "$top_srcdir/test/conformance/common.sh"

need_built "$WSEV_CAT"
conf_init
make_cert cert

TLS_CASES=0,1.1,1.2.8,2.10,2.11,3.4,5.19,6.2.3,6.4.3,6.4.4,7.1,7.3,7.9.1,9.1.6,9.2.6,9.3.1,9.5.1,10

# The command line is split by wsconform.py (shlex): quote the paths.
cat_cmd="$WSEV_TEST_WRAPPER '$WSEV_CAT' --echo --max-payload 0"
nct=--deflate-client-no-context-takeover

run_suite wsev-client server --exec "$cat_cmd {url}" --exclude 12,13
run_suite wsev-client-deflate server --exec "$cat_cmd $nct {url}" \
    --cases "$(deflate_cases)"
run_suite wsev-client-default-offer server --exec "$cat_cmd {url}" \
    --cases 12.1.1,13.2.1,13.7.1 --expect 13.2.1=UNIMPLEMENTED
run_suite wsev-client-no-deflate server --exec "$cat_cmd --no-deflate {url}" \
    --cases 12.1.1,13.1.1 --expect 12,13=UNIMPLEMENTED
run_suite wsev-client-tls server --tls "$tmp/cert.pem" "$tmp/cert.key" \
    --exec "$cat_cmd --cafile '$tmp/cert.pem' {url}" --cases "$TLS_CASES"
run_suite wsev-client-tls-deflate server --tls "$tmp/cert.pem" "$tmp/cert.key" \
    --exec "$cat_cmd $nct --cafile '$tmp/cert.pem' {url}" --cases "$DEFLATE_TLS"

finish
