#!/bin/sh
# wsev_connect through proxies (client-probe --proxy): real ones from
# Debian (tinyproxy for HTTP CONNECT, microsocks for SOCKS5, each with and
# without authentication) and test/proxy/fake-proxy.py (an https:// proxy,
# and hostile proxies whose every malformed answer must fail cleanly),
# over ws:// and wss:// to wsev's echo-server, libsoup's server
# (test/interop-client/soup-server) and Python websockets
# (test/interop-client/py-server.py); the environment (proxy_from_env and
# no_proxy); wsev_connect_cancel at each step.
#
# Environment: test/interop-client/common.sh's and test/lib.sh's.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
# shellcheck source=test/interop-client/common.sh
. "$top_srcdir/test/interop-client/common.sh"

need_cmd tinyproxy microsocks
need_python websockets.legacy.server
need_built "$WSEV_CLIENT_PROBE" "$WSEV_ECHO_SERVER" "$WSEV_CAT"
kit_init proxy
probe_timeout=20

# probe NAME ARGS...: client-probe ARGS; leaves $tmp/NAME.out, .err, $rc.
probe() {
	_n=$1
	shift
	rc=0
	# shellcheck disable=SC2086
	timeout $((probe_timeout + 10)) $WSEV_TEST_WRAPPER "$WSEV_CLIENT_PROBE" \
	    --timeout "$probe_timeout" "$@" >"$tmp/$_n.out" 2>"$tmp/$_n.err" || rc=$?
}

# through NAME ARGS...: connects, every echo matches, the close is 1000.
through() {
	probe "$@"
	if [ "$rc" -eq 0 ] && has_line "$tmp/$1.out" '^closed code=1000 ' &&
	    ! grep -q 'BAD' "$tmp/$1.out"; then
		pass "$1"
	else
		fail "$1" "$(describe "$1")"
	fi
}

# refused NAME DOMAIN CODE REGEX ARGS...: the connect fails with DOMAIN,
# CODE and a message matching REGEX, and nothing else happens.
refused() {
	_rn=$1
	_rd=$2
	_rc=$3
	_rre=$4
	shift 4
	probe "$_rn" "$@"
	if [ "$rc" -eq 1 ] &&
	    has_line "$tmp/$_rn.out" "^connect-error domain=$_rd code=$_rc\$" &&
	    has_line "$tmp/$_rn.out" "^message: .*$_rre" &&
	    [ "$(wc -l <"$tmp/$_rn.out")" -eq 2 ]; then
		pass "$_rn"
	else
		fail "$_rn" "want domain=$_rd code=$_rc /$_rre/: $(describe "$_rn")"
	fi
}

# ---------------------------------------------------------------- the servers
make_cert good "DNS:localhost,IP:127.0.0.1"
make_cert other "DNS:other.example"
make_cert proxy "DNS:localhost"	# by name only: https://127.0.0.1 fails
cat "$tmp/good.pem" "$tmp/proxy.pem" "$tmp/other.pem" >"$tmp/ca.pem"
logdir=$tmp/logs
mkdir "$logdir"

start_server echo "$WSEV_ECHO_SERVER" --port 0 || finish
echo_port=$server_port
echo_pid=$server_pid
start_server echo-tls "$WSEV_ECHO_SERVER" --port 0 --tls "$tmp/good.pem" \
    "$tmp/good.key" || finish
echo_tls_port=$server_port
echo_tls_pid=$server_pid
start_peer python "$python" "$ic_dir/py-server.py" --log-dir "$logdir" \
    --tls tls "$tmp/good.pem" "$tmp/good.key" \
    --tls tls-other "$tmp/other.pem" "$tmp/other.key" || finish
py_pid=$peer_pid
py_port=$(peer_port plain)
py_tls_port=$(peer_port tls)
py_other_port=$(peer_port tls-other)
soup=${SOUP_SERVER:-$top_builddir/test/interop-client/soup-server}
soup_pid=
if [ -x "$soup" ]; then
	start_listener soup "$soup" || finish
	soup_pid=$server_pid
	soup_port=$server_port
else
	echo "# no $soup (libsoup 3 not found by configure): no libsoup server"
fi
start_peer fake "$python" "$top_srcdir/test/proxy/fake-proxy.py" \
    --log-dir "$logdir" --tls "$tmp/proxy.pem" "$tmp/proxy.key" \
    --auth 'alice:pa ss@w:rd' || finish
fake_pid=$peer_pid
fake() {
	sed -n "s/^$1 \\([0-9][0-9]*\\)\$/\\1/p" "$tmp/fake.out"
}

start_tinyproxy tiny || finish
tiny_pid=$proxy_pid
tiny=http://127.0.0.1:$proxy_port
start_tinyproxy tiny-auth alice s3cret || finish
tiny_auth_pid=$proxy_pid
tiny_auth_port=$proxy_port
start_microsocks socks || finish
socks_pid=$proxy_pid
socks_port=$proxy_port
start_microsocks socks-auth alice s3cret || finish
socks_auth_pid=$proxy_pid
socks_auth_port=$proxy_port

ws_echo=ws://127.0.0.1:$echo_port/
wss_echo=wss://localhost:$echo_tls_port/
ws_py=ws://127.0.0.1:$py_port/echo
wss_py=wss://127.0.0.1:$py_tls_port/echo

# ---------------------------------------------------------------- HTTP CONNECT: tinyproxy
through tiny-ws-echo --proxy "$tiny" "$ws_echo"
through tiny-wss-echo --cafile "$tmp/ca.pem" --proxy "$tiny" "$wss_echo"
through tiny-ws-python --proxy "$tiny" "$ws_py"
through tiny-wss-python --cafile "$tmp/ca.pem" --proxy "$tiny" "$wss_py"
[ -z "$soup_pid" ] || through tiny-ws-soup --proxy "$tiny" \
    "ws://127.0.0.1:$soup_port/echo"
# The proxy's name through evdns, the server's at the proxy.
through tiny-evdns --evdns --proxy "http://localhost:${tiny##*:}" \
    "ws://localhost:$py_port/echo"
# auth_cases NAME SCHEME PORT NONE-CODE NONE-RE WRONG-CODE WRONG-RE: a
# proxy that wants alice:s3cret, given it (percent-coded: s3cr%65t), none,
# and a wrong one.
auth_cases() {
	through "$1-auth" --proxy "$2://alice:s3cr%65t@127.0.0.1:$3" "$ws_echo"
	through "$1-auth-wss" --cafile "$tmp/ca.pem" \
	    --proxy "$2://alice:s3cret@127.0.0.1:$3" "$wss_py"
	refused "$1-auth-none" 5 "$4" "$5" --proxy "$2://127.0.0.1:$3" "$ws_echo"
	refused "$1-auth-wrong" 5 "$6" "$7" \
	    --proxy "$2://alice:wrong@127.0.0.1:$3" "$ws_echo"
}
# tinyproxy answers a wrong password with 401 (squid with 407): the
# status the proxy gave is the one reported.
auth_cases tiny http "$tiny_auth_port" 407 \
    'CONNECT refused: 407 .*proxy authentication required' \
    401 'CONNECT refused: 401'
# The server is not there: the proxy says so.
refused tiny-no-server 5 '50[0-9]' 'CONNECT refused: 50' --proxy "$tiny" \
    "ws://127.0.0.1:$(free_port)/"

# ---------------------------------------------------------------- SOCKS5: microsocks
socks=socks5://127.0.0.1:$socks_port
through socks-ws-echo --proxy "$socks" "$ws_echo"
through socks-wss-echo --cafile "$tmp/ca.pem" --proxy "$socks" "$wss_echo"
through socks-wss-python --cafile "$tmp/ca.pem" --proxy "$socks" "$wss_py"
[ -z "$soup_pid" ] || through socks-ws-soup --proxy "$socks" \
    "ws://127.0.0.1:$soup_port/echo"
# socks5: the name resolved here (getaddrinfo, then evdns); socks5h: by
# the proxy.
through socks5-name --proxy "$socks" "ws://localhost:$py_port/echo"
through socks5-name-evdns --evdns --proxy "$socks" \
    "ws://localhost:$py_port/echo"
through socks5h-name --proxy "socks5h://localhost:$socks_port" \
    "wss://localhost:$py_tls_port/echo" --cafile "$tmp/ca.pem"
refused socks5-unknown-name 4 '-?[0-9]+' 'cannot resolve no-such-host.invalid' \
    --proxy "$socks" "ws://no-such-host.invalid/"
refused socks-refused 5 1005 'connection refused \(reply 5\)' \
    --proxy "socks5h://127.0.0.1:$socks_port" "ws://127.0.0.1:$(free_port)/"
auth_cases socks socks5 "$socks_auth_port" 4 'SOCKS5 proxy accepts none' \
    5 'username/password refused'
auth_cases socks5h socks5h "$socks_auth_port" 4 'SOCKS5 proxy accepts none' \
    5 'username/password refused'

# ---------------------------------------------------------------- https:// proxy: two TLS layers
https_proxy_url=https://localhost:$(fake connect-tls)
through https-wss-python --cafile "$tmp/ca.pem" --proxy "$https_proxy_url" "$wss_py"
through https-ws-echo --cafile "$tmp/ca.pem" --proxy "$https_proxy_url" "$ws_echo"
[ -z "$soup_pid" ] || through https-ws-soup --cafile "$tmp/ca.pem" \
    --proxy "$https_proxy_url" "ws://127.0.0.1:$soup_port/echo"
# The SNI the server saw is its own name (the proxy's is localhost too:
# a name of the server's own, 127.0.0.1, is sent as none).
: >"$logdir/sni-tls.log"
through https-wss-python-name --cafile "$tmp/ca.pem" \
    --proxy "$https_proxy_url" "wss://localhost:$py_tls_port/echo"
: >"$logdir/sni-tls.log"
through https-wss-python-ip --cafile "$tmp/ca.pem" --proxy "$https_proxy_url" \
    "$wss_py"
if [ "$(cat "$logdir/sni-tls.log")" = "sni -" ]; then
	pass https-server-sni
else
	fail https-server-sni "the server saw $(oneline "$logdir/sni-tls.log")"
fi
# Each layer checks its own certificate and name.
refused https-proxy-untrusted 3 '[0-9]+' 'TLS to the proxy localhost:[0-9]+: certificate verification failed' \
    --cafile "$tmp/good.pem" --proxy "$https_proxy_url" "$wss_py"
refused https-proxy-wrong-name 3 '[0-9]+' 'TLS to the proxy 127\.0\.0\.1:[0-9]+: certificate verification failed' \
    --cafile "$tmp/ca.pem" --proxy "https://127.0.0.1:$(fake connect-tls)" "$ws_echo"
refused https-server-wrong-name 3 '[0-9]+' 'TLS to the server: certificate verification failed' \
    --cafile "$tmp/ca.pem" --proxy "$https_proxy_url" \
    "wss://127.0.0.1:$py_other_port/echo"
refused https-server-untrusted 3 '[0-9]+' 'TLS to the server: certificate verification failed' \
    --cafile "$tmp/proxy.pem" --proxy "$https_proxy_url" "$wss_py"
# What went to the proxy: CONNECT host:port, never GET ws://.
if grep -v '^auth ' "$logdir/connect-tls.log" | grep -qv '^CONNECT [^ ]*:[0-9]* HTTP/1\.1$'; then
	fail https-connect-only "$(oneline "$logdir/connect-tls.log")"
else
	pass https-connect-only
fi

# Basic credentials with the characters a URL must escape.
through fake-auth --proxy "http://alice:pa%20ss%40w%3Ard@127.0.0.1:$(fake connect-auth)" \
    "$ws_echo"
refused fake-auth-wrong 5 407 '407 Proxy Authentication Required' \
    --proxy "http://alice:pass@127.0.0.1:$(fake connect-auth)" "$ws_echo"

# ---------------------------------------------------------------- hostile proxies
# Each answer fails cleanly and at once (the probe's timeout is 20 s).
hostile() {
	refused "hostile-$1" "$2" "$3" "$4" --proxy "$5://127.0.0.1:$(fake "$1")" \
	    "$ws_echo"
}
hostile garbage 5 2 'not HTTP' http
hostile endless 5 2 'over 16 KiB' http
hostile big 5 2 'over 16 KiB' http
hostile status-502 5 502 'CONNECT refused: 502 Bad Gateway$' http
hostile status-407 5 407 'proxy authentication required' http
hostile close-mid 5 3 'closed the connection' http
hostile socks-version 5 2 'malformed SOCKS5' socks5
hostile socks-close 5 3 'closed the connection' socks5
for n in 1 2 3 4 5 6 7 8; do
	hostile "socks-rep-$n" 5 $((1000 + n)) "failed: .* \\(reply $n\\)" socks5h
done
# A proxy that never answers: the connect timeout covers it.
probe_timeout=4
refused hostile-hang 2 110 'proxy 127\.0\.0\.1:[0-9]+: connection and handshake timed out' \
    --proxy "http://127.0.0.1:$(fake hang)" "$ws_echo"
probe_timeout=20
# The proxy is not there, or its name is unknown.
refused proxy-refused 2 111 "proxy 127\\.0\\.0\\.1:[0-9]+: Connection refused" \
    --proxy "http://127.0.0.1:$(free_port)" "$ws_echo"
refused proxy-unknown 4 '-?[0-9]+' 'cannot resolve proxy no-such-proxy\.invalid' \
    --proxy "http://no-such-proxy.invalid:3128" "$ws_echo"
# A proxy URL wsev cannot use: wsev_connect() returns NULL at once.
probe proxy-bad-url --proxy "ftp://u:secret@127.0.0.1:1" "$ws_echo"
if [ "$rc" -eq 1 ] && [ "$(cat "$tmp/proxy-bad-url.out")" = "connect-refused domain=5 code=1" ] &&
    grep -q 'bad proxy URL' "$tmp/proxy-bad-url.err" &&
    ! grep -q secret "$tmp/proxy-bad-url.err"; then
	pass proxy-bad-url
else
	fail proxy-bad-url "$(describe proxy-bad-url)"
fi

# ---------------------------------------------------------------- cancel at each step
cancelled() {
	_cn=$1
	shift
	probe "$_cn" "$@"
	if [ "$rc" -eq 0 ] && [ "$(cat "$tmp/$_cn.out")" = cancelled ]; then
		pass "$_cn"
	else
		fail "$_cn" "$(describe "$_cn")"
	fi
}
cancelled cancel-at-once --cancel-after 0 --proxy "$tiny" "$ws_echo"
cancelled cancel-connect-reply --cancel-after 300 \
    --proxy "http://127.0.0.1:$(fake hang)" "$ws_echo"
cancelled cancel-tls-proxy --cancel-after 0 --cafile "$tmp/ca.pem" \
    --proxy "$https_proxy_url" "$wss_py"
cancelled cancel-socks-evdns --cancel-after 0 --evdns \
    --proxy "socks5://localhost:$socks_port" "ws://localhost:$py_port/echo"

# ---------------------------------------------------------------- the environment
# proxy_from_env: the fake's working proxy counts its CONNECTs.
env_proxy=http://127.0.0.1:$(fake connect)
connects() {
	grep -c '^CONNECT ' "$logdir/connect.log" 2>/dev/null || :
}
# env_case NAME WANT(proxy|direct) URL VAR=VALUE...
env_case() {
	_en=$1
	_ew=$2
	_eu=$3
	shift 3
	_before=$(connects)
	rc=0
	# shellcheck disable=SC2086
	env -u http_proxy -u https_proxy -u HTTPS_PROXY -u HTTP_PROXY \
	    -u all_proxy -u ALL_PROXY -u no_proxy -u NO_PROXY -u ws_proxy \
	    -u wss_proxy -u WS_PROXY -u WSS_PROXY "$@" \
	    timeout $((probe_timeout + 10)) $WSEV_TEST_WRAPPER \
	    "$WSEV_CLIENT_PROBE" --timeout "$probe_timeout" --cafile "$tmp/ca.pem" --proxy-from-env "$_eu" \
	    >"$tmp/$_en.out" 2>"$tmp/$_en.err" || rc=$?
	_after=$(connects)
	if [ "$rc" -ne 0 ]; then
		fail "$_en" "$(describe "$_en")"
	elif [ "$_ew" = proxy ] && [ "$_after" -eq $((_before + 1)) ]; then
		pass "$_en"
	elif [ "$_ew" = direct ] && [ "$_after" -eq "$_before" ]; then
		pass "$_en"
	else
		fail "$_en" "want $_ew: CONNECTs $_before -> $_after"
	fi
}
env_case env-ws-proxy proxy "$ws_echo" "ws_proxy=$env_proxy"
env_case env-http-proxy proxy "$ws_echo" "http_proxy=$env_proxy"
env_case env-HTTP_PROXY-ignored direct "$ws_echo" "HTTP_PROXY=$env_proxy"
env_case env-wss-proxy proxy "$wss_py" "wss_proxy=$env_proxy"
env_case env-https-proxy proxy "$wss_py" "HTTPS_PROXY=$env_proxy"
env_case env-https-not-for-ws direct "$ws_echo" "https_proxy=$env_proxy"
env_case env-all-proxy proxy "$wss_echo" "ALL_PROXY=$env_proxy"
env_case env-no-proxy-ip direct "$ws_echo" "all_proxy=$env_proxy" \
    "no_proxy=example.com,127.0.0.1"
env_case env-no-proxy-range direct "$ws_echo" "all_proxy=$env_proxy" \
    "NO_PROXY=127.0.0.0/8"
env_case env-no-proxy-star direct "$ws_echo" "all_proxy=$env_proxy" "no_proxy=*"
env_case env-no-proxy-suffix direct "$wss_echo" "all_proxy=$env_proxy" \
    "no_proxy=.localhost"
env_case env-no-proxy-other-port proxy "$ws_echo" "all_proxy=$env_proxy" \
    "no_proxy=127.0.0.1:$(free_port)"
env_case env-no-proxy-this-port direct "$ws_echo" "all_proxy=$env_proxy" \
    "no_proxy=127.0.0.1:$echo_port"
env_case env-none direct "$ws_echo"

# wsev-cat: --proxy, the environment (it sets proxy_from_env), --no-proxy.
# cat_case NAME WANT(proxy|direct) VAR=VALUE... -- ARGS...
cat_case() {
	_cn=$1
	_cw=$2
	shift 2
	_cenv=""
	while [ "$1" != -- ]; do
		_cenv="$_cenv $1"
		shift
	done
	shift
	_before=$(connects)
	rc=0
	# shellcheck disable=SC2086
	echo "through $_cn" | env -u http_proxy -u https_proxy -u all_proxy \
	    -u ALL_PROXY -u no_proxy -u NO_PROXY -u ws_proxy -u wss_proxy $_cenv \
	    timeout $((probe_timeout + 10)) $WSEV_TEST_WRAPPER "$WSEV_CAT" \
	    --timeout "$probe_timeout" "$@" >"$tmp/$_cn.out" 2>"$tmp/$_cn.err" ||
	    rc=$?
	_after=$(connects)
	if [ "$rc" -ne 0 ] || [ "$(cat "$tmp/$_cn.out")" != "through $_cn" ]; then
		fail "$_cn" "exit $rc: $(oneline "$tmp/$_cn.out") $(oneline "$tmp/$_cn.err")"
	elif [ "$_cw" = proxy ] && [ "$_after" -eq $((_before + 1)) ]; then
		pass "$_cn"
	elif [ "$_cw" = direct ] && [ "$_after" -eq "$_before" ]; then
		pass "$_cn"
	else
		fail "$_cn" "want $_cw: CONNECTs $_before -> $_after"
	fi
}
cat_case cat-proxy-option proxy -- --proxy "$env_proxy" "$ws_echo"
cat_case cat-proxy-env proxy "http_proxy=$env_proxy" -- "$ws_echo"
cat_case cat-no-proxy direct "http_proxy=$env_proxy" -- --no-proxy "$ws_echo"
cat_case cat-proxy-socks5h direct -- \
    --proxy "socks5h://localhost:$socks_port" "ws://localhost:$echo_port/"

# ---------------------------------------------------------------- the end
stop_proxy tiny "$tiny_pid"
stop_proxy tiny-auth "$tiny_auth_pid"
stop_proxy socks "$socks_pid"
stop_proxy socks-auth "$socks_auth_pid"
bg_stop fake "$fake_pid"
bg_stop python "$py_pid"
[ -z "$soup_pid" ] || bg_stop soup "$soup_pid"
bg_stop echo "$echo_pid" clean
bg_stop echo-tls "$echo_tls_pid" clean
finish
