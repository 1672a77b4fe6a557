#!/bin/sh
# Hostile peers: frames no one should send, and peers that vanish.
#
#   frames (ws://)   64-bit lengths of 2^63 and 2^64-1 (top bit set: 1002),
#                    2^63-1 and 2^32 (legal, past the payload limit: 1009);
#                    a close frame between the fragments of a message
#                    (the close is echoed, no message is delivered); a
#                    reset (SO_LINGER 0) in the middle of a frame (1006 and
#                    one error, the other client unaffected); 16 MiB in
#                    1-byte frames, echoed intact with a 17 MiB message
#                    limit, refused with 1009 under a 1 MiB one
#   tls-vanish (wss://)  peers that go away without close_notify, idle and
#                    in the middle of a frame, and one that resets: 1006,
#                    one error each, the connection freed
#
# Every case checks the close code and errors the server saw (GET /stats)
# and that its count of live WebSockets returns to 0. Each server is then
# stopped with SIGTERM and must exit 0 (LeakSanitizer in the sanitizer
# build; valgrind's --error-exitcode with WSEV_TEST_WRAPPER). Run by "make
# check" with top_srcdir and top_builddir exported. Prints "ok"/"FAIL"
# lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/hostile/common.sh
. "$top_srcdir/test/hostile/common.sh"

hostile_init
make_cert cert
run_scenario frames -- frames --timeout 240
run_scenario tls-vanish --tls "$tmp/cert.pem" "$tmp/cert.key" -- \
    tls-vanish --ca "$tmp/cert.pem"
finish
