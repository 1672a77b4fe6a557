#!/bin/sh
# Client interop test: wsev-cat and client-probe (wsev_connect) against a
# Python websockets 10.4 asyncio server (py-server.py), over ws:// and
# wss:// (certificates made at test time), plus raw HTTP servers that answer
# the handshake wrongly and TLS servers with certificates that must not
# verify. Run by "make check" with top_srcdir and top_builddir exported;
# exit 77 (SKIP) when the peer is missing.
#
# The interpreter is /usr/bin/python3 on purpose: the peer is Debian's
# python3-websockets (10.4), installed for the system Python only.
#
# What runs (names are "py-..."):
#   py-plain-*, py-tls-*    the shared suite (suite.sh): text of 0..1 MiB,
#                           the default payload limit (1009), binary both
#                           ways, --echo, closes from either side (1000,
#                           1001, 4001), automatic pong, subprotocols,
#                           extra headers and Origin, and client-probe
#                           (wsev_connect) for what wsev-cat does not show
#   py-tls-*                certificates: untrusted, wrong IP, wrong name,
#                           --insecure, TLS to plain and plain to TLS
#   py-raw-*                raw TCP servers: bad handshakes (status, accept
#                           key, Upgrade/Connection, subprotocol,
#                           extension, head too long, not HTTP, hang-up,
#                           silence), frames behind the 101, fragments,
#                           UTF-8, protocol violations (1002/1007), masking,
#                           the TCP end around the close handshake
#   py-localhost-v6-first-* a name whose first address refuses (needs a
#                           private mount namespace: root; else not run)
#   py-cancel-*             wsev_connect_cancel at each stage
#   py-stdin-left-blocking  wsev-cat leaves its stdin as it found it
#
# Environment: see common.sh (WSEV_CAT, WSEV_CLIENT_PROBE, ...).
# Prints "ok"/"FAIL" lines and "N passed, M failed".
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=common.sh
. "$top_srcdir/test/interop-client/common.sh"
# shellcheck source=suite.sh
. "$top_srcdir/test/interop-client/suite.sh"

need_python websockets.legacy.server
need_cmd sha256sum
ic_init
make_cert good "DNS:localhost,IP:127.0.0.1"
make_cert dnsonly "DNS:localhost"
make_cert other "DNS:other.example"
logdir=$tmp/logs
mkdir "$logdir"

start_peer python "$python" "$ic_dir/py-server.py" --log-dir "$logdir" \
    --tls tls "$tmp/good.pem" "$tmp/good.key" \
    --tls tls-dnsonly "$tmp/dnsonly.pem" "$tmp/dnsonly.key" \
    --tls tls-other "$tmp/other.pem" "$tmp/other.key" \
    --tls tls-sni "$tmp/good.pem" "$tmp/good.key" ||
	finish
plain_port=$(peer_port plain)
tls_port=$(peer_port tls)
dnsonly_port=$(peer_port tls-dnsonly)
other_port=$(peer_port tls-other)
sni_port=$(peer_port tls-sni)
raw_port=$(peer_port raw)

suite_inputs

suite py-plain "ws://127.0.0.1:$plain_port"
suite py-tls "wss://127.0.0.1:$tls_port" --cafile "$tmp/good.pem"
# websockets' server accepts permessage-deflate by default.
deflate_suite py-plain "ws://127.0.0.1:$plain_port"
# The certificate names localhost too.
n=py-tls-localhost
run_cat_echo "$n" "$tmp/small.txt" "$(wc -c <"$tmp/small.txt")" \
    --cafile "$tmp/good.pem" "wss://localhost:$tls_port/echo?id=$n"
if expect_clean "$n"; then
	if cmp -s "$tmp/small.txt" "$tmp/$n.out"; then pass "$n"; else fail "$n" "the echo differs"; fi
fi

# ---------------------------------------------------------------- URLs and headers
# The request target goes out as written (percent-encoding, query); the
# scheme is case-insensitive (RFC 3986 §3.1).
n=py-url-target
run_cat "$n" "$tmp/empty" "ws://127.0.0.1:$plain_port/echo/%7Eu%20v?id=$n&q=a%2Fb"
expect_clean "$n" && expect_log "$n" "$n" "path /echo/%7Eu%20v?id=$n&q=a%2Fb" &&
    pass "$n"
n=py-url-uppercase-scheme
run_cat "$n" "$tmp/empty" "WS://127.0.0.1:$plain_port/echo?id=$n"
expect_clean "$n" && expect_log "$n" "$n" "close_code 1000" && pass "$n"
n=py-url-uppercase-scheme-tls
run_cat "$n" "$tmp/empty" --cafile "$tmp/good.pem" "WSS://127.0.0.1:$tls_port/echo?id=$n"
expect_clean "$n" && expect_log "$n" "$n" "close_code 1000" && pass "$n"
# Refused before any connection, with one line.
while read -r what url pattern; do
	n=py-url-$what
	run_cat "$n" "$tmp/empty" "$url"
	expect_refusal "$n" "$pattern"
done <<EOF
http http://127.0.0.1:$plain_port/echo not.a.ws
fragment ws://127.0.0.1:$plain_port/echo#frag not.a.ws
userinfo ws://user:pw@127.0.0.1:$plain_port/echo not.a.ws
nohost ws:///echo not.a.ws
EOF
# A header line with CR LF in it is refused, not sent.
n=py-header-crlf
run_cat "$n" "$tmp/empty" --header "$(printf 'X-A: 1\r\nX-Evil: 2')" \
    "ws://127.0.0.1:$plain_port/echo?id=$n"
expect_refusal "$n" 'bad header'
if [ -e "$logdir/$n.log" ]; then
	fail "$n-not-sent" "the request reached the server"
else
	pass "$n-not-sent"
fi
# A Sec-WebSocket-Key of the user's is replaced by a fresh one: the
# server sees one key, and the handshake holds.
n=py-header-own-key
run_cat "$n" "$tmp/empty" --header 'Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==' \
    "ws://127.0.0.1:$plain_port/echo?id=$n"
if expect_clean "$n" && expect_log "$n" "$n" "close_code 1000"; then
	if [ "$(grep -ci '^header Sec-WebSocket-Key:' "$logdir/$n.log")" -ne 1 ] ||
	    grep -q '^header Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==$' "$logdir/$n.log"; then
		fail "$n" "keys sent: $(grep -i '^header Sec-WebSocket-Key' "$logdir/$n.log" | tr '\n' '|')"
	else
		pass "$n"
	fi
fi

# SNI (RFC 6066 §3): the host name for a name, nothing for an IP literal.
n=py-tls-sni-name
run_cat "$n" "$tmp/empty" --cafile "$tmp/good.pem" "wss://localhost:$sni_port/echo?id=$n"
if expect_clean "$n" && expect_log "$n" "$n" "close_code 1000"; then
	if [ "$(tail -n 1 "$logdir/sni-tls-sni.log")" = "sni localhost" ]; then
		pass "$n"
	else
		fail "$n" "the server saw: $(tail -n 1 "$logdir/sni-tls-sni.log")"
	fi
fi
n=py-tls-sni-ip
run_cat "$n" "$tmp/empty" --cafile "$tmp/good.pem" "wss://127.0.0.1:$sni_port/echo?id=$n"
if expect_clean "$n" && expect_log "$n" "$n" "close_code 1000"; then
	if [ "$(wc -l <"$logdir/sni-tls-sni.log")" -eq 2 ] &&
	    [ "$(tail -n 1 "$logdir/sni-tls-sni.log")" = "sni -" ]; then
		pass "$n"
	else
		fail "$n" "the server saw: $(tr '\n' '|' <"$logdir/sni-tls-sni.log")"
	fi
fi

# ---------------------------------------------------------------- TLS refusals
# Not trusted: the system store does not hold the test certificate.
n=py-tls-untrusted
run_cat "$n" "$tmp/empty" "wss://127.0.0.1:$tls_port/echo"
expect_refusal "$n" 'certificate verification failed'
n=py-tls-untrusted-probe
run_probe "$n" "wss://127.0.0.1:$tls_port/echo"
expect_probe_error "$n" "connect-error domain=3 code=[0-9]*"
# Trusted, but for DNS:localhost only: wss://127.0.0.1 must not accept it.
n=py-tls-wrong-host
run_cat "$n" "$tmp/empty" --cafile "$tmp/dnsonly.pem" \
    "wss://127.0.0.1:$dnsonly_port/echo"
expect_refusal "$n" 'certificate verification failed'
n=py-tls-wrong-host-probe
run_probe "$n" --cafile "$tmp/dnsonly.pem" "wss://127.0.0.1:$dnsonly_port/echo"
expect_probe_error "$n" "connect-error domain=3 code=[0-9]*"
# ... and the same certificate is fine for the name it carries.
n=py-tls-right-host
run_cat "$n" "$tmp/empty" --cafile "$tmp/dnsonly.pem" \
    "wss://localhost:$dnsonly_port/echo?id=$n"
expect_clean "$n" && expect_log "$n" "$n" "close_code 1000" && pass "$n"
# Trusted, but for DNS:other.example only: wss://localhost must not
# accept it (the host-name check, beside the IP check above).
n=py-tls-wrong-name
run_cat "$n" "$tmp/empty" --cafile "$tmp/other.pem" \
    "wss://localhost:$other_port/echo"
expect_refusal "$n" 'certificate verification failed'
n=py-tls-wrong-name-probe
run_probe "$n" --cafile "$tmp/other.pem" "wss://localhost:$other_port/echo"
expect_probe_error "$n" "connect-error domain=3 code=[0-9]*"
# --insecure: no verification at all.
n=py-tls-insecure
run_cat "$n" "$tmp/empty" --insecure "wss://127.0.0.1:$dnsonly_port/echo?id=$n"
expect_clean "$n" && expect_log "$n" "$n" "close_code 1000" && pass "$n"
# TLS to a plain server, plain to a TLS server: one line, no hang.
n=py-tls-to-plain
run_cat "$n" "$tmp/empty" --cafile "$tmp/good.pem" "wss://127.0.0.1:$plain_port/echo"
expect_refusal "$n" '.'
n=py-plain-to-tls
run_cat "$n" "$tmp/empty" "ws://127.0.0.1:$tls_port/echo"
expect_refusal "$n" '.'

# ---------------------------------------------------------------- bad handshakes
raw="ws://127.0.0.1:$raw_port"
# NAME ARGS PATTERN DOMAIN CODE: wsev-cat's reason and wsev_connect's
# error (WSEV_DOMAIN_WEBSOCKET=1; FAILED 0, NOT_WEBSOCKET 1,
# BAD_HANDSHAKE 2, as wsev.h documents for each case).
# OFFER is the subprotocols wsev offers, comma-separated, or "-" for none.
while read -r path offer pattern domain code; do
	opts=
	for p in $(echo "$offer" | tr ',' ' '); do
		[ "$p" = - ] || opts="$opts --protocol $p"
	done
	n=py-raw$(echo "$path" | tr '/' '-')${opts:+-offered-$(echo "$offer" | tr ',' '-')}
	# shellcheck disable=SC2086
	run_cat "$n" "$tmp/empty" $opts "$raw$path?id=$n"
	expect_refusal "$n" "$pattern"
	n=$n-probe
	# shellcheck disable=SC2086
	run_probe "$n" $opts "$raw$path"
	expect_probe_error "$n" "connect-error domain=$domain code=$code"
done <<EOF
/status200 - status.200 1 1
/status400 - rejected 1 2
/status404 - status.404 1 1
/badaccept - accept.key 1 2
/noaccept - accept.key 1 2
/badupgrade - status.101 1 1
/noconnection - status.101 1 1
/badproto - subprotocol 1 2
/badproto chat subprotocol 1 2
/badext - extension 1 2
/garbage - HTTP 1 1
/hangup - closed.the.connection 1 0
/redirect - status.302 1 1
/hugehead - too.long 1 2
/pick/chat - subprotocol 1 2
/pick/Chat chat subprotocol 1 2
/pick/superchat chat subprotocol 1 2
/picktwo chat,superchat subprotocol 1 2
EOF

# A server that never answers: the --timeout bounds the attempt.
n=py-raw-silent
start=$(date +%s)
run_cat "$n" "$tmp/empty" --timeout 2 "$raw/silent"
took=$(($(date +%s) - start))
expect_refusal "$n" 'timed out'
if [ "$took" -gt 8 ]; then
	fail "$n-bounded" "took $took s with --timeout 2"
else
	pass "$n-bounded"
fi
n=py-raw-silent-probe
run_probe "$n" --timeout 3 "$raw/silent"
expect_probe_error "$n" "connect-error domain=2 code=110"

# TLS: a server that accepts TCP and never answers the ClientHello.
n=py-raw-tls-silent
start=$(date +%s)
run_cat "$n" "$tmp/empty" --timeout 2 --cafile "$tmp/good.pem" \
    "wss://127.0.0.1:$raw_port/silent"
took=$(($(date +%s) - start))
expect_refusal "$n" 'timed out'
if [ "$took" -gt 8 ]; then
	fail "$n-bounded" "took $took s with --timeout 2"
else
	pass "$n-bounded"
fi

# The server picks one of several offers, and the 101 brings frames.
n=py-raw-pick-second
run_cat_open "$n" --protocol chat --protocol superchat "$raw/pick/superchat?id=$n"
if expect_clean "$n"; then
	if [ "$(cat "$tmp/$n.out")" = "picked superchat" ]; then
		pass "$n"
	else
		fail "$n" "printed $(head -c 100 "$tmp/$n.out" | tr '\n' '|')"
	fi
fi

# Frames right behind the 101 (same write, or a byte at a time) reach the
# connection; the server's close is echoed with its code, masked; a
# fragmented message is reassembled around a ping, which gets its pong.
bigfrag_sha=$(awk 'BEGIN { s = "i"; while (length(s) < 1022 * 1024) s = s s;
	b = "b"; while (length(b) < 1024) b = b b;
	g = "g"; while (length(g) < 1024) g = g g;
	print substr(b, 1, 1024) substr(s, 1, 1022 * 1024) substr(g, 1, 1024) }' |
    sha256sum | cut -d' ' -f1)
between=$(printf between | sha256sum | cut -d' ' -f1)
while read -r path want; do
	n=py-raw$(echo "$path" | tr '/' '-')
	run_cat_open "$n" "$raw$path?id=$n"
	expect_clean "$n" || continue
	if [ "$path" = /bigfrag ]; then
		if [ "$(sha "$tmp/$n.out")" != "$bigfrag_sha" ]; then
			fail "$n" "the 1 MiB message differs ($(wc -c <"$tmp/$n.out") bytes)"
			continue
		fi
	elif [ "$(cat "$tmp/$n.out")" != "$want" ]; then
		fail "$n" "printed $(head -c 100 "$tmp/$n.out" | tr '\n' '|'), not $want"
		continue
	fi
	expect_log "$n" "$n" "client_close 1000 masked" || continue
	if [ "$path" = /fragments ] &&
	    ! grep -q "^client_frame 10 masked [0-9a-f]\{8\} 7 $between\$" "$logdir/$n.log"; then
		fail "$n" "no pong \"between\" before the close: $(grep '^client' "$logdir/$n.log" | tr '\n' '|')"
		continue
	fi
	nframes=1
	[ "$path" = /fragments ] && nframes=2
	if [ "$(grep -c '^client_frame' "$logdir/$n.log")" -ne "$nframes" ]; then
		fail "$n" "unexpected client frames: $(grep '^client' "$logdir/$n.log" | tr '\n' '|')"
		continue
	fi
	pass "$n"
done <<EOF
/frames hello
/slow slow hello
/mixedcase hello
/fragments fragmented
/bigfrag -
EOF

# Protocol violations by the server: the client fails the connection with
# the right code (RFC 6455 §5.2, §5.5, §7.4.1, §8.1), sends it masked, and
# wsev-cat says so.
while read -r path code; do
	n=py-raw$(echo "$path" | tr '/' '-')
	run_cat_open "$n" "$raw$path?id=$n"
	expect_refusal "$n" "closed with code $code"
	expect_log "$n-sent" "$n" "client_close $code masked" && pass "$n-sent"
done <<EOF
/badutf8 1007
/truncutf8 1007
/overlong 1007
/surrogate 1007
/beyond 1007
/masked 1002
/rsv 1002
/badopcode 1002
/bigping 1002
/badclosecode 1002
EOF

# UTF-8 sequences split across fragments are valid (the check is
# incremental, RFC 6455 §8.1); data after the server's close frame is
# ignored; a 125-byte ping gets its pong with the same bytes, an
# unsolicited pong gets nothing.
n=py-raw-splitutf8
run_cat_open "$n" "$raw/splitutf8?id=$n"
printf 'h\303\251llo\n\360\237\230\200!\n' >"$tmp/$n.want"
if expect_clean "$n"; then
	if ! cmp -s "$tmp/$n.want" "$tmp/$n.out"; then
		fail "$n" "printed $(od -An -c "$tmp/$n.out" | tr -s ' \n' ' ' | head -c 200)"
	else
		expect_log "$n" "$n" "client_close 1000 masked" && pass "$n"
	fi
fi
n=py-raw-dataafterclose
run_cat_open "$n" "$raw/dataafterclose?id=$n"
if expect_clean "$n"; then
	if [ -s "$tmp/$n.out" ]; then
		fail "$n" "printed a message that came after the close frame: $(head -c 100 "$tmp/$n.out")"
	else
		expect_log "$n" "$n" "client_close 1000 masked" && pass "$n"
	fi
fi
n=py-raw-ping125
run_cat_open "$n" "$raw/ping125?id=$n"
p125=$(awk 'BEGIN { for (i = 0; i < 125; i++) printf "%c", i }' | sha256sum | cut -d' ' -f1)
if expect_clean "$n" && expect_log "$n" "$n" "client_close 1000 masked"; then
	if ! grep -q "^client_frame 10 masked [0-9a-f]\{8\} 125 $p125\$" "$logdir/$n.log"; then
		fail "$n" "no pong with the ping's 125 bytes: $(grep '^client' "$logdir/$n.log" | tr '\n' '|')"
	elif [ "$(grep -c '^client_frame' "$logdir/$n.log")" -ne 2 ]; then
		fail "$n" "expected a pong and a close: $(grep '^client' "$logdir/$n.log" | tr '\n' '|')"
	else
		pass "$n"
	fi
fi

# A close reason is the server's text: wsev-cat's reason stays one line
# even when the server's has a line break in it.
n=py-raw-closenewline
run_cat_open "$n" "$raw/closenewline?id=$n"
expect_refusal "$n" 'closed with code 4001'
expect_log "$n-answer" "$n" "client_close 4001 masked" && pass "$n-answer"

# A close frame with no code: wsev reports 1005 (not 1000), answers 1000.
n=py-raw-nostatus
run_cat_open "$n" "$raw/nostatus?id=$n"
expect_refusal "$n" 'closed with code 1005'
expect_log "$n-answer" "$n" "client_close 1000 masked" && pass "$n-answer"

# Every client frame is masked, each with a fresh key (RFC 6455 §5.3).
n=py-raw-maskcheck
run_cat "$n" "$tmp/small.txt" "$raw/maskcheck?id=$n"
if expect_clean "$n" && expect_log "$n" "$n" "client_close 1000 masked"; then
	grep '^client_frame 1 ' "$logdir/$n.log" >"$tmp/$n.frames" || :
	while IFS= read -r line; do
		printf '%s' "$line" | sha256sum | cut -d' ' -f1
	done <"$tmp/small.txt" >"$tmp/$n.want"
	keys=$(grep '^client_frame' "$logdir/$n.log" | cut -d' ' -f4)
	if [ "$(wc -l <"$tmp/$n.frames")" -ne "$(wc -l <"$tmp/small.txt")" ]; then
		fail "$n" "$(wc -l <"$tmp/$n.frames") text frames for $(wc -l <"$tmp/small.txt") lines"
	elif grep -v '^client_frame 1 masked ' "$tmp/$n.frames" >/dev/null; then
		fail "$n" "an unmasked frame: $(tr '\n' '|' <"$tmp/$n.frames")"
	elif ! cut -d' ' -f6 "$tmp/$n.frames" | cmp -s - "$tmp/$n.want"; then
		fail "$n" "the unmasked payloads differ from the lines sent"
	elif [ "$(echo "$keys" | sort -u | wc -l)" -ne "$(echo "$keys" | wc -l)" ] ||
	    echo "$keys" | grep -qx 00000000; then
		fail "$n" "masking keys repeat or are zero: $(echo "$keys" | tr '\n' ' ')"
	else
		pass "$n"
	fi
fi

# Keepalive against a peer that never answers pings (the maskcheck
# listener only reads): wsev-cat --pong-timeout 1 ends it with 1008, which
# the peer receives in a masked close frame.
n=py-raw-pong-timeout
run_cat_open "$n" --keepalive 1 --pong-timeout 1 "$raw/maskcheck?id=$n"
expect_refusal "$n" 'closed with code 1008: keepalive pong timed out$'
expect_log "$n-peer" "$n" "client_close 1008 masked" && pass "$n-peer"

# Ends of the TCP stream around the close handshake:
#  - the server never answers our close: the close timeout (5 s) ends it;
#  - the server answers but keeps TCP open: the client closes it after
#    the timeout, and that close is normal;
#  - the server closes TCP (FIN or reset) right behind its close frame:
#    still a normal close for the client;
#  - the server goes away without a close frame: an error.
n=py-raw-noclose
start=$(date +%s)
run_cat "$n" "$tmp/empty" "$raw/noclose?id=$n"
took=$(($(date +%s) - start))
expect_refusal "$n" 'timed out'
if [ "$took" -gt 9 ]; then
	fail "$n-bounded" "took $took s (close timeout 5 s)"
else
	pass "$n-bounded"
fi
n=py-raw-lingering
start=$(date +%s)
run_cat "$n" "$tmp/empty" "$raw/lingering?id=$n"
took=$(($(date +%s) - start))
expect_clean "$n" && expect_log "$n" "$n" "client_close 1000 masked" \
    "client_eof" && pass "$n"
if [ "$took" -gt 9 ]; then
	fail "$n-bounded" "took $took s (close timeout 5 s)"
else
	pass "$n-bounded"
fi
for path in /closefin /closereset; do
	n=py-raw$(echo "$path" | tr '/' '-')
	run_cat_open "$n" "$raw$path?id=$n"
	expect_clean "$n" && pass "$n"
done
n=py-raw-abort
run_cat_open "$n" "$raw/abort?id=$n"
expect_refusal "$n" 'without a close frame'
if [ "$(cat "$tmp/$n.out")" != bye ]; then
	fail "$n-message" "the message before the end was not printed: $(head -c 100 "$tmp/$n.out")"
else
	pass "$n-message"
fi

# A line typed while the server's close is under way (it sent 4001 and
# keeps TCP open for 3 s) cannot be sent: wsev-cat must still end with its
# one-line reason, not a second line blaming the line's UTF-8.
n=py-raw-closelinger-late-line
rm -f "$tmp/$n.fifo"
mkfifo "$tmp/$n.fifo"
rc=0
# shellcheck disable=SC2086
timeout "$CAT_TIMEOUT" $WSEV_TEST_WRAPPER "$WSEV_CAT" \
    "$raw/closelinger?id=$n" <"$tmp/$n.fifo" >"$tmp/$n.out" 2>"$tmp/$n.err" &
cpid=$!
exec 9>"$tmp/$n.fifo"
if wait_until 10 grep -qxF "client_close 4001 masked" "$logdir/$n.log"; then
	printf 'a late line\n' >&9 2>/dev/null || :
	sleep 0.2
fi
exec 9>&-
wait "$cpid" || rc=$?
expect_refusal "$n" 'closed with code 4001: bye$'

# wsev_connect() without a dns_base resolves with getaddrinfo; a name with
# several addresses must not stop at the first that refuses (the evdns
# path of wsev-cat does not). Here localhost is ::1 first, then 127.0.0.1,
# where the server is, as on a stock Debian host: in a private mount
# namespace whose /etc/hosts says so (root only; otherwise not run).
printf '::1 localhost\n127.0.0.1 localhost\n' >"$tmp/hosts-v6-first"
# shellcheck disable=SC2016
if command -v unshare >/dev/null 2>&1 &&
    unshare --mount sh -c 'mount --bind "$1" /etc/hosts' sh "$tmp/hosts-v6-first" \
    >/dev/null 2>&1; then
	in_ns() {
		# shellcheck disable=SC2016
		unshare --mount sh -c 'mount --bind "$0" /etc/hosts && shift && exec "$@"' \
		    "$tmp/hosts-v6-first" x "$@"
	}
	n=py-localhost-v6-first-cat
	rc=0
	# shellcheck disable=SC2086
	in_ns timeout "$CAT_TIMEOUT" $WSEV_TEST_WRAPPER "$WSEV_CAT" \
	    "ws://localhost:$plain_port/echo?id=$n" <"$tmp/empty" \
	    >"$tmp/$n.out" 2>"$tmp/$n.err" || rc=$?
	expect_clean "$n" && expect_log "$n" "$n" "close_code 1000" && pass "$n"
	n=py-localhost-v6-first-probe
	rc=0
	# shellcheck disable=SC2086
	in_ns timeout "$CAT_TIMEOUT" $WSEV_TEST_WRAPPER "$WSEV_CLIENT_PROBE" \
	    "ws://localhost:$plain_port/echo?id=$n" </dev/null \
	    >"$tmp/$n.out" 2>"$tmp/$n.err" || rc=$?
	expect_clean "$n" && expect_log "$n" "$n" "close_code 1000" && pass "$n"
else
	echo "# py-localhost-v6-first not run: no private mount namespace (needs root and unshare)"
fi

# wsev_connect_cancel() at the TCP/HTTP stage, the TLS stage and for a
# name: everything freed (the sanitizer build shows leaks), no callback.
for ms in 0 50; do
	for u in "ws://127.0.0.1:$raw_port/silent" "wss://127.0.0.1:$raw_port/silent" \
	    "ws://localhost:$raw_port/silent"; do
		case $u in
		*localhost*) n=py-cancel-$ms-name ;;
		*) n=py-cancel-$ms-${u%%:*} ;;
		esac
		run_probe "$n" --cancel-after "$ms" "$u"
		if expect_clean "$n" && expect_probe_lines "$n" cancelled; then
			if [ "$(wc -l <"$tmp/$n.out")" -ne 1 ]; then
				fail "$n" "printed $(tr '\n' '|' <"$tmp/$n.out")"
			else
				pass "$n"
			fi
		fi
	done
done

# wsev-cat reads its stdin without blocking; the file description is
# shared with whatever reads the same stdin next (a shell script, the
# terminal), which must find it blocking again once wsev-cat has exited.
n=py-stdin-left-blocking
rm -f "$tmp/$n.fifo"
mkfifo "$tmp/$n.fifo"
rc=0
{
	# shellcheck disable=SC2086
	timeout "$CAT_TIMEOUT" $WSEV_TEST_WRAPPER "$WSEV_CAT" \
	    "ws://127.0.0.1:$plain_port/close/1000?id=$n" >"$tmp/$n.out" \
	    2>"$tmp/$n.err" || rc=$?
	"$python" -c 'import fcntl, os
print("nonblocking" if fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK else "blocking")' \
	    >"$tmp/$n.flags" 2>&1 || :
} <"$tmp/$n.fifo" &
cpid=$!
exec 9>"$tmp/$n.fifo"
wait "$cpid" || :
exec 9>&-
if expect_clean "$n"; then
	if [ "$(cat "$tmp/$n.flags")" = blocking ]; then
		pass "$n"
	else
		fail "$n" "after wsev-cat exited its stdin was left $(cat "$tmp/$n.flags") (O_NONBLOCK on the shared file description)"
	fi
fi

stop_peer python
finish
