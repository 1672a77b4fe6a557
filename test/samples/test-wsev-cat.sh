#!/bin/sh
# wsev-cat, the command-line tool: its usage (--help, --version, exit 2),
# the man page, the client against Python websockets (the pipe rule with a
# slow echo, --binary and --chunk byte-exact, --count, --show-close and the
# exit statuses, --reconnect across server restarts) and the server
# (--listen: Python and wsev-cat clients, one at a time, --broadcast,
# --tls, SIGTERM's 1001).
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"

CAT=$top_builddir/samples/wsev-cat
PEER=$top_srcdir/test/samples/cat-peer.py
LC_ALL=C
export LC_ALL
KIT_STOP_TIMEOUT=10

need_built "$CAT"
need_python websockets.server
kit_init wsev-cat

# cat_run NAME ARGS... < INPUT: wsev-cat under timeout (20 s); NAME.out,
# NAME.err, $rc.
cat_run() {
	_n=$1
	shift
	rc=0
	# shellcheck disable=SC2086
	timeout 20 $WSEV_TEST_WRAPPER "$CAT" "$@" >"$tmp/$_n.out" \
	    2>"$tmp/$_n.err" 7>&- 8>&- || rc=$?
}

# cat_pipe NAME INPUT ARGS...: the same with INPUT through a pipe (not a
# regular file: what the pipe rule is about).
cat_pipe() {
	_n=$1
	_in=$2
	shift 2
	rc=0
	# shellcheck disable=SC2086,SC2002 # a pipe on purpose
	cat "$_in" | timeout 20 $WSEV_TEST_WRAPPER "$CAT" "$@" \
	    >"$tmp/$_n.out" 2>"$tmp/$_n.err" 7>&- 8>&- || rc=$?
}

why() {
	printf 'exit %s, stderr: %s, stdout: %s' "$rc" "$(oneline "$tmp/$1.err")" \
	    "$(oneline "$tmp/$1.out" 200)"
}

# expect NAME RC [ERR-REGEX]: the last run exited RC; with ERR-REGEX its
# stderr is that one line, without it stderr is empty.
expect() {
	if [ "$rc" -ne "$2" ]; then
		fail "$1" "expected exit $2; $(why "$1")"
	elif [ -z "${3:-}" ] && [ -s "$tmp/$1.err" ]; then
		fail "$1" "expected nothing on stderr; $(why "$1")"
	elif [ -n "${3:-}" ] && { [ "$(wc -l <"$tmp/$1.err")" -ne 1 ] ||
	    ! grep -Eq -- "$3" "$tmp/$1.err"; }; then
		fail "$1" "expected one stderr line /$3/; $(why "$1")"
	else
		return 0
	fi
	return 1
}

# cat_bg NAME ARGS...: wsev-cat in the background, its stdin the FIFO
# $tmp/NAME.in held open by this shell on descriptor 8 (hold_close ends
# it). Sets cat_pid.
cat_bg() {
	_n=$1
	shift
	rm -f "$tmp/$_n.in"
	mkfifo "$tmp/$_n.in"
	# shellcheck disable=SC2086
	timeout --foreground 60 $WSEV_TEST_WRAPPER "$CAT" "$@" \
	    <"$tmp/$_n.in" >"$tmp/$_n.out" 2>"$tmp/$_n.err" 7>&- 8>&- &
	cat_pid=$!
	kit_track "$cat_pid"
	exec 8>"$tmp/$_n.in"
}

hold_close() {
	exec 8>&-
}

# cat_listen NAME ARGS...: cat_bg with --listen 127.0.0.1:0 ARGS, until
# stderr says where it listens: $cat_url. "ok NAME-start" or FAIL and 1.
cat_listen() {
	_n=$1
	shift
	cat_bg "$_n" --listen "${CAT_PORT:-127.0.0.1:0}" "$@"
	if wait_until 20 has_line "$tmp/$_n.err" '^wsev-cat: listening on '; then
		cat_url=$(sed -n 's/^wsev-cat: listening on //p' "$tmp/$_n.err")
		pass "$_n-start"
		return 0
	fi
	fail "$_n-start" "no listening line: $(oneline "$tmp/$_n.err")"
	return 1
}

# cat_wait NAME PID: PID's exit status in $rc (60 s at most).
cat_wait() {
	rc=0
	wait_until 60 kit_exited "$2" || kill -KILL "$2" 2>/dev/null || :
	wait "$2" || rc=$?
	kit_untrack "$2"
}

# ---------------------------------------------------------------- usage
cat_run help --help </dev/null
expect help 0 && has_line "$tmp/help.out" '^usage: wsev-cat' &&
    has_line "$tmp/help.out" -- '--listen' && pass help
cat_run version --version </dev/null
expect version 0 && has_line "$tmp/version.out" '^wsev-cat \(wsev\) [0-9]+\.[0-9]+' &&
    pass version
i=0
for args in "--bogus ws://127.0.0.1:1/" "" "--count x ws://127.0.0.1:1/" \
    "--chunk 0 ws://127.0.0.1:1/" "--listen 0 ws://127.0.0.1:1/" \
    "ws://127.0.0.1:1/ ws://127.0.0.1:2/" "--protocol" "--tls a.pem ws://h/" \
    "--listen abc" "--broadcast ws://127.0.0.1:1/"; do
	i=$((i + 1))
	# shellcheck disable=SC2086
	cat_run usage-$i $args </dev/null
	if [ "$rc" -ne 2 ] || ! head -n 1 "$tmp/usage-$i.err" | grep -q '^wsev-cat: ' ||
	    [ -s "$tmp/usage-$i.out" ]; then
		fail "usage-$i" "wsev-cat $args: expected exit 2 and the reason on stderr; $(why usage-$i)"
	else
		pass "usage-$i"
	fi
done

# The man page: groff -ww warns about nothing.
if command -v groff >/dev/null 2>&1; then
	if groff -man -Tutf8 -ww "$top_srcdir/samples/wsev-cat.1" \
	    >"$tmp/man.txt" 2>"$tmp/man.err" && [ ! -s "$tmp/man.err" ] &&
	    grep -q 'normal close' "$tmp/man.txt"; then
		pass man-page
	else
		fail man-page "groff: $(oneline "$tmp/man.err")"
	fi
else
	echo "# no groff: the man page is not checked"
fi

# ---------------------------------------------------------------- client
start_listener peer "$python" "$PEER" server || finish
peer_url=$server_url

# The pipe rule: the server echoes 300 ms late; every echo is printed
# before the close, the close is 1000 (exit 0, nothing on stderr).
printf 'l1\nl2\nl3\nl4\nl5\n' >"$tmp/five.txt"
cat_pipe pipe-rule "$tmp/five.txt" "${peer_url}slow"
expect pipe-rule 0 && if cmp -s "$tmp/five.txt" "$tmp/pipe-rule.out"; then
	pass pipe-rule
else
	fail pipe-rule "not every echo printed: $(oneline "$tmp/pipe-rule.out")"
fi
# --linger bounds the wait: a server that never answers is closed after
# it, with 1000 all the same.
cat_pipe linger "$tmp/five.txt" --linger 0.3 "${peer_url}sink"
expect linger 0 && [ ! -s "$tmp/linger.out" ] && pass linger

# Binary, byte-exact: one message from stdin, from a file, and chunks.
head -c 300000 /dev/urandom >"$tmp/blob.bin"
cat_run binary-stdin --binary - --max-payload 0 "${peer_url}echo" <"$tmp/blob.bin"
expect binary-stdin 0 && cmp -s "$tmp/blob.bin" "$tmp/binary-stdin.out" &&
    pass binary-stdin
cat_run binary-file --max-payload 0 --binary "$tmp/blob.bin" "${peer_url}echo" </dev/null
expect binary-file 0 && cmp -s "$tmp/blob.bin" "$tmp/binary-file.out" &&
    pass binary-file
cat_pipe chunk "$tmp/blob.bin" --chunk 7000 "${peer_url}echo"
expect chunk 0 && cmp -s "$tmp/blob.bin" "$tmp/chunk.out" && pass chunk
# ... 43 messages of 7000 bytes (the last 6000): --count 43 prints them
# all and exits 0, --count 5 the first five.
cat_run chunk-count --chunk 7000 --count 43 --linger 10 "${peer_url}echo" <"$tmp/blob.bin"
expect chunk-count 0 && cmp -s "$tmp/blob.bin" "$tmp/chunk-count.out" &&
    pass chunk-count

# --count N: exit 0 after N messages, the input still open.
cat_bg count --count 5 "${peer_url}flood"
cat_wait count "$cat_pid"
hold_close
printf 'm1\nm2\nm3\nm4\nm5\n' >"$tmp/m5.txt"
expect count 0 && if cmp -s "$tmp/m5.txt" "$tmp/count.out"; then
	pass count
else
	fail count "printed: $(oneline "$tmp/count.out")"
fi

# Exit statuses and --show-close: 4001 is an error (exit 1, the code and
# reason once), 1000 and 1001 are not (shown with --show-close only).
cat_run close-4001 --show-close "${peer_url}close/4001" </dev/null
expect close-4001 1 '^wsev-cat: closed with code 4001: bye$' && pass close-4001
cat_run close-1000 --show-close "${peer_url}close/1000" </dev/null
expect close-1000 0 '^wsev-cat: closed with code 1000: bye$' && pass close-1000
cat_run close-1001 "${peer_url}close/1001" </dev/null
expect close-1001 0 && pass close-1001
cat_run refused "ws://127.0.0.1:$(free_port)/" </dev/null
expect refused 1 '^wsev-cat: .*[Rr]efused' && pass refused
cat_run not-ws "http://127.0.0.1:1/" </dev/null
expect not-ws 1 '^wsev-cat: ' && pass not-ws

# --reconnect: the server (wsev-cat --listen --echo on a fixed port) is
# killed (SIGKILL: a cut), then stopped (SIGTERM: 1001), and started again
# each time; the lines written while it was away arrive.
port=$(free_port)
CAT_PORT=127.0.0.1:$port cat_listen rc-srv1 --echo || finish
srv_pid=$cat_pid
cat_bg rc-client --reconnect "ws://127.0.0.1:$port/"
client_pid=$cat_pid
exec 7>"$tmp/rc-client.in"	# cat_listen below reuses 8
hold_close
# shellcheck disable=SC2317 # run by wait_until
line_printed() {
	grep -qx "$1" "$tmp/rc-client.out"
}
echo r1 >&7
if wait_until 10 line_printed r1; then pass reconnect-first; else fail reconnect-first "r1 not echoed"; fi
# restart NAME SERVER N LINE: once the client said "reconnecting" N times,
# LINE is written and the server started again (as SERVER) on the same
# port; LINE must come back.
restart() {
	wait_until 10 reconnects_said "$3" || :
	echo "$4" >&7
	CAT_PORT=127.0.0.1:$port cat_listen "$2" --echo || finish
	hold_close
	srv_pid=$cat_pid
	if wait_until 15 line_printed "$4"; then pass "$1"; else
		fail "$1" "$4 not echoed: $(oneline "$tmp/rc-client.err")"; fi
}
# shellcheck disable=SC2317 # run by wait_until
reconnects_said() {
	[ "$(grep -c 'reconnecting in' "$tmp/rc-client.err")" -ge "$1" ]
}
bg_kill "$srv_pid"
restart reconnect-after-kill rc-srv2 1 r2
bg_stop rc-srv2 "$srv_pid"
restart reconnect-after-stop rc-srv3 2 r3
exec 7>&-
cat_wait rc-client "$client_pid"
if [ "$rc" -eq 0 ] && [ "$(grep -c '^wsev-cat: reconnected$' "$tmp/rc-client.err")" -eq 2 ] &&
    [ "$(tr '\n' ' ' <"$tmp/rc-client.out")" = "r1 r2 r3 " ]; then
	pass reconnect-exit
else
	fail reconnect-exit "$(why rc-client)"
fi
bg_stop rc-srv3 "$srv_pid"

stop_server peer clean

# ---------------------------------------------------------------- server
# An echo server: a Python client, and wsev-cat as a client.
cat_listen echo --echo --max-payload 0 || finish
hold_close
echo_url=$cat_url
echo_pid=$cat_pid
timeout 20 "$python" "$PEER" client "$echo_url" --send one --send two --recv 2 \
    --close >"$tmp/py-echo.out" 2>&1 7>&- 8>&- || :
printf 'recv one\nrecv two\nclose 1000 \n' >"$tmp/py-echo.want"
if cmp -s "$tmp/py-echo.want" "$tmp/py-echo.out"; then pass listen-python; else
	fail listen-python "the client printed: $(oneline "$tmp/py-echo.out")"; fi
cat_pipe listen-cat "$tmp/five.txt" "$echo_url"
expect listen-cat 0 && cmp -s "$tmp/five.txt" "$tmp/listen-cat.out" && pass listen-cat
cat_run listen-binary --max-payload 0 --binary - "$echo_url" <"$tmp/blob.bin"
expect listen-binary 0 && cmp -s "$tmp/blob.bin" "$tmp/listen-binary.out" &&
    pass listen-binary

# SIGTERM closes an open client with 1001 and exits 0.
timeout 20 "$python" "$PEER" client "$echo_url" --recv 1 >"$tmp/py-term.out" 2>&1 7>&- 8>&- &
py_pid=$!
wait_until 10 has_line "$tmp/echo.err" 'client 4 connected' || :
bg_stop echo "$echo_pid"
wait "$py_pid" || :
if has_line "$tmp/py-term.out" '^close 1001 '; then pass listen-sigterm-1001; else
	fail listen-sigterm-1001 "the client printed: $(oneline "$tmp/py-term.out")"; fi

# One client at a time: the input goes to the first; a second is closed
# with 1008 (busy); the client's messages are printed; the end of input closes
# with 1000 and wsev-cat exits 0.
cat_listen one --linger 0.5 || finish
one_pid=$cat_pid
timeout 20 "$python" "$PEER" client "$cat_url" --send from-client --recv 2 \
    >"$tmp/py-one.out" 2>&1 7>&- 8>&- &
py_pid=$!
wait_until 10 has_line "$tmp/one.err" 'client 1 connected' || :
exec 7>&8	# the server's input, while cat_bg takes 8
cat_bg busy "$cat_url"
cat_wait busy "$cat_pid"
hold_close
expect busy 1 '^wsev-cat: closed with code 1008: busy' && pass listen-one-busy
printf 's1\ns2\n' >&7
exec 7>&-
wait "$py_pid" || :
cat_wait one "$one_pid"
printf 'recv s1\nrecv s2\nclose 1000 \n' >"$tmp/py-one.want"
if cmp -s "$tmp/py-one.want" "$tmp/py-one.out"; then pass listen-one-client; else
	fail listen-one-client "the client printed: $(oneline "$tmp/py-one.out")"; fi
if [ "$rc" -eq 0 ] && [ "$(cat "$tmp/one.out")" = from-client ]; then
	pass listen-one-exit
else
	fail listen-one-exit "$(why one)"
fi

# --broadcast: two clients get every line.
cat_listen bc --broadcast --linger 0.2 || finish
bc_pid=$cat_pid
for k in 1 2; do
	timeout 20 "$python" "$PEER" client "$cat_url" --recv 3 >"$tmp/py-bc$k.out" 2>&1 7>&- 8>&- &
	eval "bc$k=\$!"
	wait_until 10 has_line "$tmp/bc.err" "client $k connected" || :
done
printf 'b1\nb2\nb3\n' >&8
hold_close
# shellcheck disable=SC2154
wait "$bc1" || :
# shellcheck disable=SC2154
wait "$bc2" || :
cat_wait bc "$bc_pid"
printf 'recv b1\nrecv b2\nrecv b3\nclose 1000 \n' >"$tmp/py-bc.want"
if cmp -s "$tmp/py-bc.want" "$tmp/py-bc1.out" && cmp -s "$tmp/py-bc.want" "$tmp/py-bc2.out" &&
    [ "$rc" -eq 0 ]; then
	pass listen-broadcast
else
	fail listen-broadcast "exit $rc; the clients printed: $(oneline "$tmp/py-bc1.out") / $(oneline "$tmp/py-bc2.out")"
fi

# --tls: wss:// to wsev-cat as a client, the certificate checked.
make_cert srv
cat_listen tls --echo --tls "$tmp/srv.pem" "$tmp/srv.key" || finish
hold_close
tls_pid=$cat_pid
case $cat_url in wss://*) pass listen-tls-url ;; *) fail listen-tls-url "$cat_url" ;; esac
cat_pipe listen-tls "$tmp/five.txt" --cafile "$tmp/srv.pem" "$cat_url"
expect listen-tls 0 && cmp -s "$tmp/five.txt" "$tmp/listen-tls.out" && pass listen-tls
bg_stop tls "$tls_pid"

finish
