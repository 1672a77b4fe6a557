#!/bin/sh
# Hostile peers: slowloris. A thousand sockets at once, half of them
# trickling a WebSocket handshake a byte a second (never finished), half
# silent, against a server with a 2 s request deadline (wsev_guard_new)
# and a 3 s idle timeout (evhttp_set_timeout). Every one of them must be
# closed by the server (within a generous 20 s of its connect: the figures
# printed tell how long it really took), while a normal WebSocket client
# connects and echoes among them and a plain GET is answered; the
# WebSocket outlives the deadline (the guard leaves WebSockets alone).
#
#   slowloris       ws://, 1000 sockets, the guard
#   slowloris-tls   wss://, 200 sockets, the guard; tricklers send their
#                   TLS ClientHello a byte a second
#   idle            ws://, 200 silent sockets, no guard: evhttp's idle
#                   timeout (2 s) alone drops them
#
# Each server is stopped with SIGTERM and must exit 0 (LeakSanitizer in
# the sanitizer build; valgrind's --error-exitcode with WSEV_TEST_WRAPPER).
# Run by "make check" with top_srcdir and top_builddir exported. Needs
# 1200 descriptors (SKIP if the limit cannot be raised). Prints "ok"/"FAIL"
# lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=test/hostile/common.sh
. "$top_srcdir/test/hostile/common.sh"

raise_fd_limit 1200
hostile_init
make_cert cert
run_scenario slowloris --guard-ms 2000 --http-timeout 3 -- \
    slowloris -n 1000 --drop-bound 20
run_scenario slowloris-tls --tls "$tmp/cert.pem" "$tmp/cert.key" \
    --guard-ms 2000 --http-timeout 3 -- \
    slowloris -n 200 --drop-bound 20 --ca "$tmp/cert.pem"
run_scenario idle --http-timeout 2 -- idle -n 200 --drop-bound 20
finish
