#!/bin/sh
# Client interop test: wsev-cat and client-probe through Debian's nginx, a
# reverse proxy in front of samples/echo-server (ws:// and wss://, nginx
# terminating TLS with a certificate made at test time). nginx runs in the
# foreground as the test's child, with a configuration, logs, pid file and
# temporary directories of its own in a temporary directory, on loopback
# ports chosen at run time. Run by "make check" with top_srcdir and
# top_builddir exported; exit 77 (SKIP) when nginx is missing.
#
# Environment: see common.sh (WSEV_CAT, WSEV_CLIENT_PROBE,
# WSEV_ECHO_SERVER, ...); NGINX, the nginx binary (default: nginx on the
# PATH, then /usr/sbin/nginx).
# Prints "ok"/"FAIL" lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=common.sh
. "$top_srcdir/test/interop-client/common.sh"
# shellcheck source=suite.sh
. "$top_srcdir/test/interop-client/suite.sh"

need_nginx
ic_init
need_built "$WSEV_ECHO_SERVER"
make_cert good "DNS:localhost,IP:127.0.0.1"
suite_inputs

start_server echo-server "$WSEV_ECHO_SERVER" --max-payload 0 \
    --protocol superchat || finish
echo_port=$server_port

# nginx_http: the inside of nginx's http block: ws:// on nginx_port1,
# wss:// on nginx_port2, wss:// with TLS 1.2 only on nginx_port3.
nginx_http() {
	cat <<EOF
	server {
		listen 127.0.0.1:$nginx_port1;
		listen 127.0.0.1:$nginx_port2 ssl;
		server_name localhost;
		ssl_certificate $tmp/good.pem;
		ssl_certificate_key $tmp/good.key;

		location /ws {
			proxy_pass http://127.0.0.1:$echo_port/;
			proxy_http_version 1.1;
			proxy_set_header Upgrade \$http_upgrade;
			proxy_set_header Connection "upgrade";
			proxy_set_header Host \$host;
		}
		# Nothing listens on port 1: nginx answers 502.
		location /down {
			proxy_pass http://127.0.0.1:1/;
			proxy_http_version 1.1;
			proxy_set_header Upgrade \$http_upgrade;
			proxy_set_header Connection "upgrade";
		}
		location / {
			return 404;
		}
	}
	# TLS 1.2 only: the client must not depend on TLS 1.3.
	server {
		listen 127.0.0.1:$nginx_port3 ssl;
		server_name localhost;
		ssl_protocols TLSv1.2;
		ssl_certificate $tmp/good.pem;
		ssl_certificate_key $tmp/good.key;

		location /ws {
			proxy_pass http://127.0.0.1:$echo_port/;
			proxy_http_version 1.1;
			proxy_set_header Upgrade \$http_upgrade;
			proxy_set_header Connection "upgrade";
		}
	}
EOF
}
start_nginx nginx nginx_http 3 || finish
echo "# $("$NGINX" -v 2>&1)"
port=$nginx_port1
tls_port=$nginx_port2
tls12_port=$nginx_port3

ws="ws://127.0.0.1:$port"
wss="wss://127.0.0.1:$tls_port"

for mode in plain tls tls12; do
	case $mode in
	plain) base=$ws; set -- ;;
	tls) base=$wss; set -- --cafile "$tmp/good.pem" ;;
	tls12) base="wss://127.0.0.1:$tls12_port"; set -- --cafile "$tmp/good.pem" ;;
	esac

	# Text of every size through the proxy, echoed byte-exact; a clean
	# close (exit 0, nothing on stderr).
	n=nginx-$mode-text-sizes
	run_cat_echo "$n" "$tmp/lines.txt" "$(wc -c <"$tmp/lines.txt")" \
	    --max-payload 0 "$@" "$base/ws"
	if expect_clean "$n"; then
		if cmp -s "$tmp/lines.txt" "$tmp/$n.out"; then
			pass "$n"
		else
			fail "$n" "the echo differs: $(cmp "$tmp/lines.txt" "$tmp/$n.out" 2>&1 | head -n 1)"
		fi
	fi

	# Binary: echo-server answers the message before the close that
	# follows it, so the echo always comes back.
	n=nginx-$mode-binary
	run_cat "$n" "$tmp/blob.bin" --binary --max-payload 0 "$@" "$base/ws"
	if expect_clean "$n"; then
		if cmp -s "$tmp/blob.bin" "$tmp/$n.out"; then
			pass "$n"
		else
			fail "$n" "the echo differs ($(wc -c <"$tmp/$n.out") of 300000 bytes)"
		fi
	fi

	# Default limit: a 131073-byte echo is refused with 1009.
	n=nginx-$mode-default-limit-1009
	run_cat_echo "$n" "$tmp/over.txt" 131074 "$@" "$base/ws"
	expect_refusal "$n" 'closed with code 1009'

	# The API: subprotocol, U+0000 in text, ping/pong, the close echo.
	n=nginx-$mode-probe
	run_probe "$n" --protocol superchat "$@" "$base/ws"
	expect_clean "$n" && expect_probe_lines "$n" \
	    "connected protocol=superchat origin=- uri=$base/ws" \
	    "echo text 16 ok" "echo binary 8 ok" "echo nul-text 5 ok" \
	    "echo empty-binary 0 ok" "pong ok" \
	    "closed code=1000 reason=probe done" && pass "$n"

	[ "$mode" = tls12 ] && continue
	# nginx's own answers: not WebSocket, one line, no hang.
	n=nginx-$mode-404
	run_cat "$n" "$tmp/empty" "$@" "$base/nothing"
	expect_refusal "$n" 'status 404'
	n=nginx-$mode-502
	run_cat "$n" "$tmp/empty" "$@" "$base/down"
	expect_refusal "$n" 'status 502'
done

# The proxy's certificate is checked like any other.
n=nginx-tls-untrusted
run_cat "$n" "$tmp/empty" "$wss/ws"
expect_refusal "$n" 'certificate verification failed'

# ---------------------------------------------------------------- shutdown
stop_nginx nginx
stop_server echo-server clean
finish
