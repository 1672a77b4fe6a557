#!/bin/sh
# wsev_connect() rate, ws:// and wss://, against out/echo-wsev on loopback.
#
#   bench/connect-rate.sh [--count N] [--rounds R]
#
# Run from the top of the tree after `sh tools/build build-bench` and
# `make -C bench`; OUT (default bench/out) names where the programs are.
# The server gets a fresh self-signed P-256 certificate for 127.0.0.1 and
# localhost; the client trusts it through SSL_CERT_FILE, a copy of the
# system's CA bundle with it appended (so that loading the CA store costs
# what it costs for real), and wss:// uses wsev's default SSL_CTX with
# verification on. Server pinned to CPU 0,
# client to CPU 1 when taskset exists. Prints one line per run.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu
count=300
rounds=3
while [ $# -gt 0 ]; do
	case $1 in
	--count) count=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	*) echo "usage: $0 [--count N] [--rounds R]" >&2; exit 2 ;;
	esac
done
out=${OUT:-bench/out}
tmp=$(mktemp -d)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || :; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
bundle=/etc/ssl/certs/ca-certificates.crt
[ -r "$bundle" ] || bundle=/dev/null
cat "$bundle" "$tmp/cert.pem" > "$tmp/trust.pem"
pin0= pin1=
if command -v taskset >/dev/null 2>&1; then
	pin0="taskset -c 0"
	pin1="taskset -c 1"
fi
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
	i=0
	while ! python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 50 ] || { echo "server on $1 did not start" >&2; exit 1; }
		sleep 0.1
	done
}
pws=$(free_port)
$pin0 "$out/echo-wsev" --port "$pws" >/dev/null 2>&1 &
pids="$pids $!"
pwss=$(free_port)
$pin0 "$out/echo-wsev" --port "$pwss" --tls "$tmp/cert.pem" "$tmp/key.pem" >/dev/null 2>&1 &
pids="$pids $!"
wait_port "$pws"
wait_port "$pwss"
r=1
while [ $r -le "$rounds" ]; do
	$pin1 "$out/connect-rate" --port "$pws" --count "$count"
	SSL_CERT_FILE=$tmp/trust.pem $pin1 "$out/connect-rate" --port "$pwss" \
	    --tls --count "$count"
	r=$((r + 1))
done
