#!/bin/sh
# Validation of wsconform.py itself: a deliberately broken peer must fail
# exactly the cases its flaw breaks, and nothing else. peers/broken-peer.py
# is a small raw-socket echo endpoint (server, or client driven like
# Autobahn's clients) with flaws switched on one at a time:
#
#   no flaw        both roles, all but section 9: OK (6.4.3 and 6.4.4
#                  NON-STRICT: it validates UTF-8 per complete frame;
#                  sections 12 and 13 included)
#   no-utf8        both roles, sections 1, 6, 7: FAILED exactly the
#                  invalid-UTF-8 cases (tag @utf8-invalid: 6.3.x, 6.4.x,
#                  the 69 invalid ones of 6.5-6.23, 7.5.1); 1.x, the valid
#                  6.x and the rest of 7.x stay OK
#   lax-close      server, sections 1, 2, 7: FAILED exactly 7.3.2, 7.3.6,
#                  7.5.1, 7.9.x (bad close frames echoed back) and 7.13.x
#                  (codes 5000 and 65535 echoed: invalid on the wire)
#   no-mask-check  both roles, sections 0.1, 1, 2: FAILED exactly 0.1.x
#   lax-handshake  client, sections 0, 1: FAILED exactly 0.2.x (the 8
#                  invalid handshake responses); 0.1.x and 1.x stay OK
#   fixed-mask     client, sections 1, 2, 5: FAILED exactly the cases
#                  where it sends 3 frames or more, all with one mask key
#                  (2.10, 2.11: 10 pongs; 5.6-5.8, 5.19, 5.20: pongs and
#                  the message); with 2 frames a repeat could be chance
#
# Sections 12 and 13 (permessage-deflate; VALIDATE_COUNT messages per
# case): with no flaw, all 216 OK in both roles (in the runs above); then,
# both roles:
#   no-deflate     (legal) 1.1 OK, the 12/13 cases UNIMPLEMENTED
#   rsv1-continuation  12.1, 13.3: FAILED exactly rows 6-18, whose
#                  messages (8192 octets or more) it echoes in two frames
#   keep-context   13 (rows 1, 5, 10, 11, 18): FAILED exactly 13.2, 13.5,
#                  13.6, 13.7, where it agreed to no context takeover
#                  (13.7: its first offer); 13.1, 13.3, 13.4 stay OK
#   corrupt-deflate  1.1 OK, every 12/13 case FAILED (its second echo
#                  does not inflate)
#
# Each expectation is exact: a flawed case judged OK is a FAIL line too.
# Run by "make check" with top_srcdir and top_builddir exported. Prints one
# "ok"/"FAIL" line per case, then "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/conformance/common.sh
. "$top_srcdir/test/conformance/common.sh"

validation_build
conf_init
peer=$conf_dir/peers/broken-peer.py
deflate_n=$VALIDATE_COUNT

# server FLAW CASES EXPECT...: the broken peer as a server.
server() {
	_flaw=$1
	_cases=$2
	shift 2
	_fl=
	[ "$_flaw" = none ] || _fl="--flaw $_flaw"
	# shellcheck disable=SC2086
	if start_listener "broken-server-$_flaw" "$python" -B "$peer" server $_fl; then
		run_suite "broken-server-$_flaw" client "$server_url" --cases "$_cases" "$@"
		stop_server "broken-server-$_flaw"
	fi
}

# client FLAW CASES EXPECT...: the broken peer as a client (driver).
client() {
	_flaw=$1
	_cases=$2
	shift 2
	_fl=
	[ "$_flaw" = none ] || _fl="--flaw $_flaw"
	run_suite "broken-client-$_flaw" server --cases "$_cases" "$@" \
	    --driver "'$python' -B '$peer' client {base} $_fl"
}

server none "*" --exclude 9 --expect-file "$conf_dir/expect/raw-peer.txt"
client none "*" --exclude 9 --expect-file "$conf_dir/expect/raw-peer.txt"
server no-utf8 1,6,7 --expect "@utf8-invalid=FAILED"
client no-utf8 1,6,7 --expect "@utf8-invalid=FAILED"
server lax-close 1,2,7 --expect "7.3.2,7.3.6,7.5.1,7.9,7.13=FAILED"
server no-mask-check 0.1,1,2 --expect "0.1=FAILED"
client no-mask-check 0.1,1,2 --expect "0.1=FAILED"
client lax-handshake 0,1 --expect "0.2=FAILED"
client fixed-mask 1,2,5 --expect "2.10,2.11,5.6,5.7,5.8,5.19,5.20=FAILED"

few=1.1,12.1.1,12.2.11,12.5.18,13.2.1,13.7.17
rows="12.1.[6-9],12.1.1[0-8],13.3.[6-9],13.3.1[0-8]=FAILED"
rows13="13.*.1,13.*.5,13.*.10,13.*.11,13.*.18"	# whole, fragmented; 16 to 128 Ki
for role in server client; do
	$role no-deflate "$few" --expect "12,13=UNIMPLEMENTED"
	$role rsv1-continuation 12.1,13.3 --expect "$rows"
	$role keep-context "$rows13" --expect "13.2,13.5,13.6,13.7=FAILED"
	$role corrupt-deflate "$few" --expect "12,13=FAILED"
done

finish
