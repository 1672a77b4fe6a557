# The cases that every peer server of the client interop tests runs
# (test-python-server.sh, test-node-server.sh): sourced after common.sh.
# The peer implements the routes and the per-connection logs described in
# py-server.py (/echo, /close/CODE, /ping, /blob/N, /drive).
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

sha() {
	sha256sum <"$1" | cut -d' ' -f1
}

# suite_inputs: the files the suite sends, in $tmp.
suite_inputs() {
	# The line lengths of the text suite: the 7-bit, 16-bit and 64-bit length
	# encodings on both sides of each boundary, up to 1 MiB.
	gen_lines "$tmp/lines.txt" 0 1 2 124 125 126 127 65535 65536 65537 1048576
	gen_lines "$tmp/small.txt" 0 5 125
	awk '{ print length($0) }' "$tmp/lines.txt" >"$tmp/lines.len"
	gen_binary "$tmp/blob.bin" 300000
	printf 'h\000\001\377\200x' >"$tmp/nul.bin"
	: >"$tmp/empty"
	: >"$tmp/empty.bin"
	awk 'BEGIN { s = "q"; while (length(s) < 131072) s = s s; print substr(s, 1, 131072) }' >"$tmp/max.txt"
	awk 'BEGIN { s = "q"; while (length(s) < 131073) s = s s; print substr(s, 1, 131073) }' >"$tmp/over.txt"
}

# suite PREFIX BASEURL OPTIONS...: the cases every peer server runs, over
# ws:// and wss://, named PREFIX-CASE. BASEURL is ws[s]://127.0.0.1:PORT;
# OPTIONS go to both wsev-cat and client-probe (--cafile ...). The peer
# serves the routes and writes the logs that py-server.py describes.
suite() {
	m=$1
	base=$2
	shift 2

	# Text of every size, echoed byte-exact; the server got each line.
	n=$m-text-sizes
	run_cat_echo "$n" "$tmp/lines.txt" "$(wc -c <"$tmp/lines.txt")" \
	    --max-payload 0 "$@" "$base/echo?id=$n"
	if expect_clean "$n"; then
		if ! cmp -s "$tmp/lines.txt" "$tmp/$n.out"; then
			fail "$n" "the echo differs: $(cmp "$tmp/lines.txt" "$tmp/$n.out" 2>&1 | head -n 1), $(wc -c <"$tmp/$n.out") of $(wc -c <"$tmp/lines.txt") bytes"
		elif server_log "$n" && grep '^recv text ' "$logdir/$n.log" |
		    cut -d' ' -f3 | cmp -s - "$tmp/lines.len"; then
			pass "$n"
		else
			fail "$n" "the server received lengths $(grep '^recv' "$logdir/$n.log" | cut -d' ' -f3 | tr '\n' ' ')"
		fi
	fi
	# The end of input closes with 1000 (RFC 6455 §7.4.1), no reason.
	expect_log "$m-client-close-1000" "$n" "close_code 1000" \
	    "close_reason " && pass "$m-client-close-1000"

	# Past the default limit (131072 per frame) the client fails with
	# 1009 and says so; at the limit it does not.
	n=$m-default-limit-ok
	run_cat_echo "$n" "$tmp/max.txt" 131073 "$@" "$base/echo?id=$n"
	if expect_clean "$n"; then
		if cmp -s "$tmp/max.txt" "$tmp/$n.out"; then
			pass "$n"
		else
			fail "$n" "the 131072-byte echo differs"
		fi
	fi
	n=$m-default-limit-1009
	run_cat_echo "$n" "$tmp/over.txt" 131074 "$@" "$base/echo?id=$n"
	expect_refusal "$n" 'closed with code 1009'
	expect_log "$n-server" "$n" "close_code 1009" && pass "$n-server"

	# Binary, client to server: the server got the bytes (sha-256).
	# wsev-cat sends its one binary message at the end of input and
	# closes right behind it, so the echo may or may not make it back
	# before the server sees the close: either is right, but an echo
	# that comes must be the bytes sent.
	for b in blob nul empty; do
		n=$m-binary-send-$b
		run_cat "$n" "$tmp/$b.bin" --binary --max-payload 0 "$@" \
		    "$base/echo?id=$n"
		if expect_clean "$n" && expect_log "$n" "$n" \
		    "recv binary $(wc -c <"$tmp/$b.bin") $(sha "$tmp/$b.bin")" \
		    "close_code 1000"; then
			if [ -s "$tmp/$n.out" ] && ! cmp -s "$tmp/$b.bin" "$tmp/$n.out"; then
				fail "$n" "an echo came back different"
			else
				pass "$n"
			fi
		fi
	done

	# Binary, server to client: 1 MiB printed byte-exact, then the
	# server's 1000 ends wsev-cat with 0.
	n=$m-binary-receive
	run_cat_open "$n" --binary --max-payload 0 "$@" "$base/blob/1048576?id=$n"
	if expect_clean "$n" && expect_log "$n" "$n" \
	    "sent binary 1048576 $(sha "$tmp/$n.out")" "close_code 1000"; then
		pass "$n"
	fi

	# --echo: every message the server sends comes back, type and bytes.
	n=$m-echo-mode
	run_cat_open "$n" --echo --max-payload 0 "$@" "$base/drive?id=$n"
	if expect_clean "$n"; then
		if [ -s "$tmp/$n.out" ]; then
			fail "$n" "--echo printed something"
		elif expect_log "$n" "$n" "drive ok 17" "close_code 1000"; then
			pass "$n"
		fi
	fi

	# Server-initiated closes: 4001 is an error for wsev-cat, 1000 and
	# 1001 are not; the client echoes the code (§5.5.1).
	for code in 4001 1000 1001; do
		n=$m-server-close-$code
		run_cat_open "$n" "$@" "$base/close/$code?id=$n"
		if [ "$code" = 4001 ]; then
			expect_refusal "$n" 'closed with code 4001: bye$'
		else
			expect_clean "$n" && pass "$n"
		fi
		expect_log "$n-echoed" "$n" "close_code $code" && pass "$n-echoed"
	done

	# The server pings first: the pong is automatic.
	n=$m-auto-pong
	run_cat_echo "$n" "$tmp/small.txt" $((8 + $(wc -c <"$tmp/small.txt"))) \
	    "$@" "$base/ping?id=$n"
	if expect_clean "$n"; then
		{ echo "pong ok"; cat "$tmp/small.txt"; } >"$tmp/$n.want"
		if ! cmp -s "$tmp/$n.want" "$tmp/$n.out"; then
			fail "$n" "unexpected output: $(head -c 200 "$tmp/$n.out" | tr '\n' '|')"
		else
			expect_log "$n" "$n" "pong ok" && pass "$n"
		fi
	fi

	# Subprotocols: the server supports chat and superchat and takes the
	# client's first; wsev-cat offers superchat, then chat.
	n=$m-subprotocol
	run_cat_echo "$n" "$tmp/small.txt" "$(wc -c <"$tmp/small.txt")" \
	    --protocol superchat --protocol chat "$@" "$base/echo?id=$n"
	expect_clean "$n" && expect_log "$n" "$n" \
	    "header Sec-WebSocket-Protocol: superchat, chat" \
	    "subprotocol superchat" && pass "$n"
	n=$m-subprotocol-none
	run_cat "$n" "$tmp/empty" "$@" "$base/echo?id=$n"
	if expect_clean "$n" && expect_log "$n" "$n" "subprotocol -"; then
		if grep -qi '^header Sec-WebSocket-Protocol' "$logdir/$n.log"; then
			fail "$n" "a Sec-WebSocket-Protocol header was sent without --protocol"
		else
			pass "$n"
		fi
	fi

	# Extra headers and Origin reach the server as given; a Host of the
	# user's replaces wsev's.
	n=$m-headers
	run_cat "$n" "$tmp/empty" --header 'Authorization: Bearer x' \
	    --header 'Cookie: session=abc; theme=dark' \
	    --origin 'https://app.example' "$@" "$base/echo?id=$n"
	expect_clean "$n" && expect_log "$n" "$n" \
	    "header Authorization: Bearer x" \
	    "header Cookie: session=abc; theme=dark" \
	    "header Origin: https://app.example" && pass "$n"
	n=$m-host-header
	run_cat "$n" "$tmp/empty" --header 'Host: ws.example:8443' "$@" \
	    "$base/echo?id=$n"
	if expect_clean "$n" && expect_log "$n" "$n" "header Host: ws.example:8443"; then
		if [ "$(grep -ci '^header Host:' "$logdir/$n.log")" -ne 1 ]; then
			fail "$n" "more than one Host header"
		else
			pass "$n"
		fi
	fi

	# The API behind wsev-cat: protocol, origin and URI of the new
	# connection; text with U+0000; ping/pong; the close echo.
	for offer in "superchat chat:superchat" "chat:chat" "nope:-" "none:-"; do
		want=${offer#*:}
		pargs=
		for p in ${offer%%:*}; do
			[ "$p" = none ] || pargs="$pargs --protocol $p"
		done
		n=$m-probe-offer-$(echo "${offer%%:*}" | tr ' ' '-')
		url="$base/echo?id=$n"
		# shellcheck disable=SC2086
		run_probe "$n" $pargs --origin https://app.example "$@" "$url"
		if expect_clean "$n" && expect_probe_lines "$n" \
		    "connected protocol=$want origin=https://app.example uri=$url" \
		    "echo nul-text 5 ok" "pong ok" \
		    "closed code=1000 reason=probe done" &&
		    expect_log "$n" "$n" "subprotocol $want" \
		    "recv text 5 $(printf 'a\000b\000c' | sha256sum | cut -d' ' -f1)" \
		    "close_code 1000" "close_reason probe done"; then
			pass "$n"
		fi
	done
}

# deflate_suite PREFIX BASEURL OPTIONS...: permessage-deflate against a
# peer that accepts it (wsev-cat offers it by default): negotiated by both
# ends and used (the peer reads far fewer bytes than the 1.2 MB of text),
# each parameter wsev-cat can ask for answered, --no-deflate negotiating
# nothing, the peer's fragmented compressed message received whole, and
# keepalive pings answered (--pong-timeout would end it with 1008).
deflate_suite() {
	m=$1
	base=$2
	shift 2
	total=$(wc -c <"$tmp/lines.txt")
	for variant in default no-deflate client-no-context-takeover \
	    server-no-context-takeover server-max-window-bits-10 \
	    client-max-window-bits-9; do
		n=$m-deflate-$variant
		case $variant in
		default) flags= want= ;;
		no-deflate) flags=--no-deflate want= ;;
		client-no-context-takeover)
			flags=--deflate-client-no-context-takeover
			want=client_no_context_takeover ;;
		server-no-context-takeover)
			flags=--deflate-server-no-context-takeover
			want=server_no_context_takeover ;;
		server-max-window-bits-10)
			flags="--deflate-server-max-window-bits 10"
			want=server_max_window_bits=10 ;;
		client-max-window-bits-9)
			flags="--deflate-client-max-window-bits 9"
			want=client_max_window_bits=9 ;;
		esac
		# shellcheck disable=SC2086
		run_cat_echo "$n" "$tmp/lines.txt" "$total" --max-payload 0 \
		    $flags "$@" "$base/echo?id=$n"
		expect_clean "$n" || continue
		if ! cmp -s "$tmp/lines.txt" "$tmp/$n.out"; then
			fail "$n" "the echo differs: $(cmp "$tmp/lines.txt" "$tmp/$n.out" 2>&1 | head -n 1)"
			continue
		fi
		server_log "$n" || { fail "$n" "the server never finished"; continue; }
		ext=$(sed -n 's/^extensions //p' "$logdir/$n.log")
		neg=$(sed -n 's/^negotiated //p' "$logdir/$n.log")
		wire=$(sed -n 's/^wire_in //p' "$logdir/$n.log")
		if [ "$variant" = no-deflate ]; then
			if [ "$ext" != - ] || [ "$neg" != - ] ||
			    grep -qi '^header Sec-WebSocket-Extensions' "$logdir/$n.log"; then
				fail "$n" "extensions offered or negotiated: $ext / $neg"
			elif [ -z "$wire" ] || [ "$wire" -lt "$total" ]; then
				fail "$n" "$wire bytes on the wire for $total uncompressed"
			else
				pass "$n"
			fi
			continue
		fi
		case "; $ext;" in
		"; permessage-deflate;"*) ;;
		*) fail "$n" "the server answered extensions \"$ext\""; continue ;;
		esac
		if [ "$neg" != permessage-deflate ]; then
			fail "$n" "the server negotiated \"$neg\""
		elif [ -n "$want" ] && ! grep -qi "^header Sec-WebSocket-Extensions: .*; $want\(;\|\$\)" "$logdir/$n.log"; then
			fail "$n" "wsev-cat did not offer $want: $(grep -i '^header Sec-WebSocket-Extensions' "$logdir/$n.log")"
		elif [ -n "$want" ] && [ "$want" != client_max_window_bits=9 ] &&
		    ! printf '%s\n' "$ext" | grep -q "; $want\(;\|\$\)"; then
			# A server may leave client_max_window_bits out (RFC 7692
			# §7.1.2.2: the client then uses the value it offered).
			fail "$n" "the server did not accept $want: \"$ext\""
		elif [ -z "$wire" ] || [ $((wire * 10)) -gt "$total" ]; then
			fail "$n" "$wire bytes on the wire for $total bytes of compressible text: wsev did not compress"
		else
			pass "$n"
		fi
	done

	# The peer's compressed fragmented text (1.2 MB, multibyte UTF-8).
	n=$m-deflate-peer-fragments
	run_cat_open "$n" --max-payload 0 "$@" "$base/fragments?id=$n"
	if expect_clean "$n" && server_log "$n"; then
		got="sent text $(head -c -1 "$tmp/$n.out" | wc -c) $(head -c -1 "$tmp/$n.out" | sha256sum | cut -d' ' -f1)"
		if ! grep -qxF "$got" "$logdir/$n.log"; then
			fail "$n" "received \"$got\", the server $(grep '^sent' "$logdir/$n.log")"
		elif ! grep -qx 'negotiated permessage-deflate' "$logdir/$n.log"; then
			fail "$n" "no permessage-deflate: $(grep '^extensions' "$logdir/$n.log")"
		else
			pass "$n"
		fi
	fi

	# Keepalive: pings every second while the connection is idle for 3 s,
	# each answered in time (else --pong-timeout 2 ends it with 1008);
	# then the echo, and a clean end.
	n=$m-deflate-keepalive
	# (Not "VAR=3 run_cat_echo": dash keeps such a variable afterwards.)
	CAT_ECHO_DELAY=3
	run_cat_echo "$n" "$tmp/small.txt" "$(wc -c <"$tmp/small.txt")" \
	    --keepalive 1 --pong-timeout 2 "$@" "$base/echo?id=$n"
	CAT_ECHO_DELAY=0
	if expect_clean "$n" && expect_log "$n" "$n" "close_code 1000"; then
		if cmp -s "$tmp/small.txt" "$tmp/$n.out"; then
			pass "$n"
		else
			fail "$n" "the echo differs after the keepalive"
		fi
	fi
}
