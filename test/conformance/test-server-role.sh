#!/bin/sh
# Conformance of wsev as a WebSocket server: wsconform.py's fuzzing client
# (the cases of Autobahn's sections 1-7, 9, 10, 12 and 13, and 0.1:
# unmasked client frames) against samples/echo-server --max-payload 0
# (which accepts permessage-deflate), over ws:// (every case) and wss:// (a
# certificate made now; every section, section 6.5-6.23, 9, 12 and 13 cut
# down: TLS changes the transport, not the frame rules). Sections 12 and 13
# send DEFLATE_COUNT messages per case, not Autobahn's 1000
# (WSEV_CONFORMANCE_FULL=1), and only DEFLATE_SUBSET in a sanitizer build;
# see common.sh.
#
# Every case must be OK (INFORMATIONAL for 7.1.6 and 7.13.x, which Autobahn
# always reports so); the server must report nothing on stderr and exit 0
# on SIGTERM. Run by "make check" with top_srcdir and top_builddir
# exported. Prints one "ok"/"FAIL" line per case and check, then
# "N passed, M failed". See common.sh for the environment.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/conformance/common.sh
. "$top_srcdir/test/conformance/common.sh"

need_built "$WSEV_ECHO_SERVER"
conf_init
make_cert cert

TLS_CASES=0,1,2,3.4,4.1.5,5.5,5.19,5.20,6.2,6.3,6.4,7.1,7.3,7.5,7.9,9.1,9.2,9.3.1,9.4.1,9.5.1,9.6.1,9.7.1,9.8.1,10,$DEFLATE_TLS

# shellcheck disable=SC2086
if start_server echo-server "$WSEV_ECHO_SERVER" \
    --port 0 --max-payload 0; then
	run_suite wsev-server client "$server_url" --cases "0,1,2,3,4,5,6,7,9,10,$(deflate_cases)"
	stop_server echo-server clean
fi

# shellcheck disable=SC2086
if start_server echo-server-tls "$WSEV_ECHO_SERVER" \
    --port 0 --max-payload 0 --tls "$tmp/cert.pem" "$tmp/cert.key"; then
	run_suite wsev-server-tls client "$server_url" --cafile "$tmp/cert.pem" \
	    --cases "$TLS_CASES"
	stop_server echo-server-tls clean
fi

finish
