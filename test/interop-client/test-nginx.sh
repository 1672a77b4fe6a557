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
LC_ALL=C
export LC_ALL

if [ -z "${NGINX:-}" ]; then
	NGINX=$(command -v nginx 2>/dev/null || :)
	[ -n "$NGINX" ] || NGINX=/usr/sbin/nginx
fi
if [ ! -x "$NGINX" ]; then
	echo "SKIP: no nginx (Debian: apt-get install nginx)"
	exit 77
fi
echo "# $("$NGINX" -v 2>&1)"

ic_init
if [ ! -x "$WSEV_ECHO_SERVER" ]; then
	fail setup "$WSEV_ECHO_SERVER is not built"
	ic_finish
fi
make_cert good "DNS:localhost,IP:127.0.0.1"
suite_inputs

# ---------------------------------------------------------------- echo-server
# timeout --foreground: one SIGTERM for the server, not a second one
# through the process group (see start_peer in common.sh).
timeout --foreground "$PEER_LIFETIME" "$WSEV_ECHO_SERVER" --max-payload 0 \
    --protocol superchat >"$tmp/echo.out" 2>"$tmp/echo.err" &
echo_pid=$!
ic_pids="$ic_pids $echo_pid"
w=0
while ! grep -q '^listening on ws://127\.0\.0\.1:[0-9]*/$' "$tmp/echo.out"; do
	if ! is_running "$echo_pid" || [ "$w" -ge $((PEER_START_TIMEOUT * 10)) ]; then
		fail echo-server-start "no \"listening on\" line: $(head -c 300 "$tmp/echo.err")"
		ic_finish
	fi
	sleep 0.1
	w=$((w + 1))
done
echo_port=$(sed -n 's|^listening on ws://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$tmp/echo.out")
pass echo-server-start

# ---------------------------------------------------------------- nginx
ng=$tmp/nginx
mkdir "$ng"

# listening PORT: something listens on 127.0.0.1:PORT (Linux's /proc).
listening() {
	hex=$(printf '%04X' "$1")
	grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A " /proc/net/tcp
}

random_port() {
	echo $((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
}

# Pick two free ports at random; nginx failing to bind one means another
# try (5 at most).
nginx_pid=
tries=0
while [ -z "$nginx_pid" ] && [ "$tries" -lt 5 ]; do
	tries=$((tries + 1))
	port=$(random_port)
	tls_port=$(random_port)
	tls12_port=$(random_port)
	[ "$port" != "$tls_port" ] && [ "$port" != "$tls12_port" ] &&
	    [ "$tls_port" != "$tls12_port" ] || continue
	if [ -r /proc/net/tcp ] && { listening "$port" ||
	    listening "$tls_port" || listening "$tls12_port"; }; then
		continue
	fi
	cat >"$ng/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $ng/nginx.pid;
error_log $ng/error.log info;
events {
	worker_connections 64;
}
http {
	access_log $ng/access.log;
	client_body_temp_path $ng/client_body;
	proxy_temp_path $ng/proxy;
	fastcgi_temp_path $ng/fastcgi;
	uwsgi_temp_path $ng/uwsgi;
	scgi_temp_path $ng/scgi;

	server {
		listen 127.0.0.1:$port;
		listen 127.0.0.1:$tls_port ssl;
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
		listen 127.0.0.1:$tls12_port ssl;
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
}
EOF
	: >"$ng/error.log"
	timeout --foreground "$PEER_LIFETIME" "$NGINX" -p "$ng" -c "$ng/nginx.conf" \
	    -e "$ng/error.log" >"$ng/stdout" 2>"$ng/stderr" &
	pid=$!
	w=0
	while is_running "$pid"; do
		if [ -r /proc/net/tcp ]; then
			listening "$port" && listening "$tls_port" &&
			    listening "$tls12_port" && break
		elif [ "$w" -ge 10 ]; then
			break
		fi
		if [ "$w" -ge $((PEER_START_TIMEOUT * 10)) ]; then
			kill -TERM "$pid" 2>/dev/null || :
			break
		fi
		sleep 0.1
		w=$((w + 1))
	done
	if is_running "$pid"; then
		nginx_pid=$pid
		ic_pids="$ic_pids $pid"
	else
		wait "$pid" 2>/dev/null || :
		grep -q 'Address already in use' "$ng/error.log" "$ng/stderr" || break
	fi
done
if [ -z "$nginx_pid" ]; then
	fail nginx-start "nginx did not come up: $(cat "$ng/stderr" "$ng/error.log" | head -c 600)"
	ic_finish
fi
pass nginx-start

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
kill -TERM "$nginx_pid" 2>/dev/null || :
wait "$nginx_pid" 2>/dev/null || :
if grep -E '\[(alert|crit|emerg)\]' "$ng/error.log" >"$tmp/nginx-bad" 2>&1; then
	fail nginx-log "nginx reported: $(head -c 600 "$tmp/nginx-bad")"
else
	pass nginx-log
fi
kill -TERM "$echo_pid" 2>/dev/null || :
erc=0
wait "$echo_pid" || erc=$?
if [ "$erc" -ne 0 ] || [ -s "$tmp/echo.err" ]; then
	fail echo-server-exit "exit $erc, stderr: $(head -c 600 "$tmp/echo.err")"
else
	pass echo-server-exit
fi
ic_pids=
ic_finish
