# shellcheck shell=sh disable=SC2034
# (The variables set here are read by the scripts that source this file.)
#
# The test kit: what every shell test of wsev needs, written once. POSIX sh,
# sourced, not run; the test sets "set -eu" and top_srcdir first:
#
#   : "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
#   . "$top_srcdir/test/lib.sh"
#   kit_init mytest                  # $tmp, removed on exit; children killed
#   start_server srv "$top_builddir/test/interop/peer-server" --max-payload 0
#   run_counted srv-client 60 "$python" client.py --url "$server_url"
#   stop_server srv clean            # exit 0, nothing on stderr
#   finish                           # "N passed, M failed"; exit 0 iff M = 0
#
# test/README shows more. A test folder's own common.sh (if any) keeps only
# what is its own (its scenarios, its peers' quirks).
#
# Results: pass NAME prints "ok NAME", fail NAME WHY "FAIL NAME: WHY";
# "# ..." lines are comments (figures, versions). finish prints the line
# "N passed, M failed" that tools/test adds up.
#
# Environment:
#   top_srcdir, top_builddir  set by automake's TESTS_ENVIRONMENT
#   WSEV_TEST_WRAPPER         a command to run wsev's own programs under
#                             (start_server does), e.g. "valgrind -q
#                             --leak-check=full --error-exitcode=99"
#   WSEV_NODE_MODULES         a node_modules directory searched first
#   NGINX                     the nginx binary (default: on the PATH, then
#                             /usr/sbin/nginx)
#   REDIS_SERVER              redis-server (default: on the PATH)
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

: "${top_srcdir:=.}"
: "${top_builddir:=.}"
: "${WSEV_TEST_WRAPPER:=}"

# Debian's interpreter on purpose: the Python peers are its
# python3-websockets, installed for the system Python only.
python=/usr/bin/python3
passed=0
failed=0
tmp=
kit_pids=

# Bounds, in seconds. A test may lower or raise them after sourcing.
KIT_START_TIMEOUT=30	# a background process printing its ready line
KIT_STOP_TIMEOUT=60	# exiting after SIGTERM (valgrind's leak check)
KIT_LIFETIME=1800	# the longest a background process may live
KIT_RUN_TIMEOUT=300	# one run_counted

# ---------------------------------------------------------------- results

# printf, not echo: dash's echo would turn a "\r" in a message into CR.
pass() {
	printf 'ok %s\n' "$1"
	passed=$((passed + 1))
}

fail() {
	printf 'FAIL %s: %s\n' "$1" "$2"
	failed=$((failed + 1))
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

# oneline FILE [BYTES]: the start of FILE (400 bytes, or BYTES) on one
# line, for a FAIL line's WHY: a newline shown as "|", a carriage return
# as "\r".
oneline() {
	head -c "${2:-400}" "$1" 2>/dev/null |
	    awk '{ gsub(/\r/, "\\r"); printf "%s|", $0 }'
}

# skip WHY: the test cannot run here (automake's SKIP, 77).
skip() {
	echo "SKIP: $*"
	exit 77
}

# hard_error WHY: the test is broken, not failed (automake's ERROR, 99).
hard_error() {
	echo "ERROR: $*"
	echo "0 passed, 1 failed"
	exit 99
}

# ---------------------------------------------------------------- set-up

# kit_init NAME: a private temporary directory $tmp (wsev-NAME.XXXXXX),
# removed on exit, and every background process of the kit stopped then,
# also on SIGINT and SIGTERM. SKIP without timeout(1), which bounds
# everything.
kit_init() {
	command -v timeout >/dev/null 2>&1 || skip "no timeout(1) to bound the test"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsev-$1.XXXXXX")
	trap 'kit_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# shellcheck disable=SC2317 # run by the EXIT trap
kit_cleanup() {
	for _k in $kit_pids; do
		kill -TERM "$_k" 2>/dev/null || :
	done
	_kw=0
	while [ "$_kw" -lt 50 ] && kit_any_running; do
		sleep 0.1
		_kw=$((_kw + 1))
	done
	for _k in $kit_pids; do
		kill -KILL "$_k" 2>/dev/null || :
		wait "$_k" 2>/dev/null || :
	done
	kit_pids=
	[ -z "$tmp" ] || rm -rf "$tmp"
}

kit_any_running() {
	for _k in $kit_pids; do
		is_running "$_k" && return 0
	done
	return 1
}

# kit_track PID / kit_untrack PID: a background process kit_cleanup stops.
kit_track() {
	kit_pids="$kit_pids $1"
}

kit_untrack() {
	_kl=
	for _k in $kit_pids; do
		[ "$_k" = "$1" ] || _kl="$_kl $_k"
	done
	kit_pids=$_kl
}

# need_built PROGRAM...: an ERROR (99) when one of wsev's programs is not
# built: make check builds them, so that is a broken tree, not a SKIP.
need_built() {
	for _k in "$@"; do
		[ -x "$_k" ] || hard_error "$_k is not built"
	done
}

# need_cmd COMMAND... : SKIP unless every COMMAND is on the PATH.
need_cmd() {
	for _k in "$@"; do
		command -v "$_k" >/dev/null 2>&1 || skip "no $_k command"
	done
}

# need_python MODULE: SKIP unless $python imports MODULE (a websockets
# module: prints the versions as a comment).
need_python() {
	[ -x "$python" ] || skip "$python not found (the peers are Debian's python3-websockets)"
	if ! _kwhy=$("$python" -c "import $1, websockets; print(websockets.__version__)" 2>&1); then
		echo "SKIP: $python cannot import $1 (apt-get install python3-websockets):"
		printf '%s\n' "$_kwhy" | tail -n 1
		exit 77
	fi
	echo "# python $("$python" -c 'import sys; print(sys.version.split()[0])'), websockets $_kwhy"
}

# need_node_ws DIR: NODE_PATH set (and exported) for Node's ws, 8 or
# later, from $WSEV_NODE_MODULES then test/DIR/node/node_modules of the
# source and build trees (tools/deps installs it there); SKIP without it.
need_node_ws() {
	command -v node >/dev/null 2>&1 || skip "no node (Debian: apt-get install nodejs npm)"
	NODE_PATH=${WSEV_NODE_MODULES:+$WSEV_NODE_MODULES:}$top_srcdir/test/$1/node/node_modules:$top_builddir/test/$1/node/node_modules${NODE_PATH:+:$NODE_PATH}
	export NODE_PATH
	if ! _kver=$(node -e 'process.stdout.write(require("ws/package.json").version)' 2>&1); then
		echo "SKIP: node cannot load the ws package (tools/deps installs it):"
		printf '%s\n' "$_kver" | grep -m 1 'Cannot find module' ||
		    printf '%s\n' "$_kver" | head -n 1
		exit 77
	fi
	case $_kver in
	[0-7].*) skip "ws $_kver is too old: the peers need ws 8 or later" ;;
	esac
	echo "# node $(node --version), ws $_kver"
}

# find_chromium: Debian's Chromium ($CHROMIUM, default /usr/bin/chromium),
# node and playwright-core (from $WSEV_NODE_MODULES, then
# test/browser/node/node_modules of the source and build trees; tools/deps
# installs it there): 0, and CHROMIUM and WSEV_NODE_MODULES set and
# exported; else 1 and why_not says what is missing (the caller SKIPs,
# or runs without the pages).
find_chromium() {
	: "${CHROMIUM:=/usr/bin/chromium}"
	why_not=
	if [ ! -x "$CHROMIUM" ]; then
		why_not="no $CHROMIUM (Debian: apt-get install chromium)"
		return 1
	fi
	if ! command -v node >/dev/null 2>&1; then
		why_not="no node command"
		return 1
	fi
	for _k in ${WSEV_NODE_MODULES:+"$WSEV_NODE_MODULES"} \
	    "$top_srcdir/test/browser/node/node_modules" \
	    "$top_builddir/test/browser/node/node_modules"; do
		if [ -f "$_k/playwright-core/package.json" ]; then
			WSEV_NODE_MODULES=$_k
			export CHROMIUM WSEV_NODE_MODULES
			return 0
		fi
	done
	why_not="no playwright-core (npm install --prefix $top_srcdir/test/browser/node playwright-core)"
	return 1
}

# make_cert NAME [SAN [rsa|ec]]: a self-signed certificate made now,
# CN=localhost, for SAN (default DNS:localhost,IP:127.0.0.1), in
# $tmp/NAME.pem with its key in $tmp/NAME.key. SKIP without openssl; a
# failing openssl ends the test (FAIL).
make_cert() {
	need_cmd openssl
	case ${3:-rsa} in
	ec) set -- "$1" "${2:-}" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 ;;
	*) set -- "$1" "${2:-}" -newkey rsa:2048 ;;
	esac
	_kname=$1
	_ksan=${2:-DNS:localhost,IP:127.0.0.1}
	shift 2
	if ! timeout 60 openssl req -x509 "$@" -nodes \
	    -keyout "$tmp/$_kname.key" -out "$tmp/$_kname.pem" -days 2 \
	    -subj "/CN=localhost" -addext "subjectAltName=$_ksan" \
	    >"$tmp/openssl-$_kname.log" 2>&1; then
		fail "make-cert-$_kname" "openssl req failed: $(tail -n 3 "$tmp/openssl-$_kname.log")"
		finish
	fi
}

# sanitizer_build: the build was configured with --enable-sanitizers.
sanitizer_build() {
	[ -f "$top_builddir/Makefile" ] &&
	    [ -n "$(sed -n 's/^SANITIZER_FLAGS = *//p' "$top_builddir/Makefile")" ]
}

# instrumented PROGRAM: PROGRAM runs under WSEV_TEST_WRAPPER or a
# sanitizer, whose own memory shows in its RSS (memory bounds are then
# only reported).
instrumented() {
	[ -n "$WSEV_TEST_WRAPPER" ] || grep -q __asan_init "$1" 2>/dev/null
}

# raise_fd_limit WANT [NEED]: the descriptor limit of this shell and its
# children raised to WANT, or at least to NEED (default WANT) if the hard
# limit is lower; SKIP if even NEED cannot be had. (ulimit -n and -H are
# not POSIX, but dash, bash and busybox sh have them.)
# shellcheck disable=SC3045
raise_fd_limit() {
	_kneed=${2:-$1}
	_kcur=$(ulimit -n)
	[ "$_kcur" = unlimited ] && return 0
	[ "$_kcur" -ge "$1" ] && return 0
	ulimit -n "$1" 2>/dev/null && return 0
	_khard=$(ulimit -H -n)
	if [ "$_khard" = unlimited ] || [ "$_khard" -ge "$_kneed" ]; then
		[ "$_khard" = unlimited ] && _khard=$1
		[ "$_khard" -gt "$1" ] && _khard=$1
		ulimit -n "$_khard" 2>/dev/null && return 0
	fi
	skip "cannot raise the descriptor limit from $_kcur to $_kneed" \
	    "(hard limit $(ulimit -H -n); run as root or raise it)"
}

# ---------------------------------------------------------------- processes

# is_running PID: neither exited nor waiting to be reaped (kill -0
# succeeds on a zombie). Linux's /proc; elsewhere ps.
is_running() {
	kill -0 "$1" 2>/dev/null || return 1
	if [ -r "/proc/$1/stat" ]; then
		_kst=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	else
		_kst=$(ps -o stat= -p "$1" 2>/dev/null || :)
	fi
	case $_kst in Z*) return 1 ;; esac
	return 0
}

# wait_until SECONDS COMMAND...: COMMAND tried every 0.1 s until it
# succeeds (0) or SECONDS have passed (1).
wait_until() {
	_klim=$(($1 * 10))
	shift
	_kw=0
	until "$@"; do
		[ "$_kw" -ge "$_klim" ] && return 1
		sleep 0.1
		_kw=$((_kw + 1))
	done
	return 0
}

# has_line FILE REGEX: FILE has a line matching the extended REGEX.
has_line() {
	grep -Eq -- "$2" "$1" 2>/dev/null
}

# bg_start NAME REGEX COMMAND...: COMMAND in the background (bounded by
# KIT_LIFETIME), its output in $tmp/NAME.out and $tmp/NAME.err, until its
# output has a line matching REGEX (KIT_START_TIMEOUT). Sets bg_pid;
# "ok NAME-start", or "FAIL NAME-start" and 1 if it exits or stays silent.
# (timeout --foreground: the SIGTERM of bg_stop reaches COMMAND once, not
# once more through the process group.)
bg_start() {
	_kn=$1
	_kre=$2
	shift 2
	: >"$tmp/$_kn.out"
	timeout --foreground "$KIT_LIFETIME" "$@" >"$tmp/$_kn.out" 2>"$tmp/$_kn.err" &
	bg_pid=$!
	kit_track "$bg_pid"
	_kw=0
	until has_line "$tmp/$_kn.out" "$_kre"; do
		if ! is_running "$bg_pid"; then
			_krc=0
			wait "$bg_pid" || _krc=$?
			kit_untrack "$bg_pid"
			fail "$_kn-start" "exited ($_krc): $(tail -n 5 "$tmp/$_kn.err")"
			return 1
		fi
		if [ "$_kw" -ge $((KIT_START_TIMEOUT * 10)) ]; then
			kill -KILL "$bg_pid" 2>/dev/null || :
			wait "$bg_pid" 2>/dev/null || :
			kit_untrack "$bg_pid"
			fail "$_kn-start" "no line /$_kre/ within $KIT_START_TIMEOUT s: $(tail -n 5 "$tmp/$_kn.err")"
			return 1
		fi
		sleep 0.1
		_kw=$((_kw + 1))
	done
	pass "$_kn-start"
}

# bg_stop NAME PID [clean]: SIGTERM; PID must exit 0 within
# KIT_STOP_TIMEOUT (where LeakSanitizer and valgrind's --error-exitcode
# speak); with "clean", $tmp/NAME.err must be empty too (a sanitizer
# report, a GLib critical, a Python traceback). "ok NAME-exit" or FAIL.
bg_stop() {
	kill -TERM "$2" 2>/dev/null || :
	if ! wait_until "$KIT_STOP_TIMEOUT" kit_exited "$2"; then
		kill -KILL "$2" 2>/dev/null || :
		wait "$2" 2>/dev/null || :
		kit_untrack "$2"
		fail "$1-exit" "still running $KIT_STOP_TIMEOUT s after SIGTERM"
		return 0
	fi
	_krc=0
	wait "$2" || _krc=$?
	kit_untrack "$2"
	if [ "$_krc" -ne 0 ]; then
		fail "$1-exit" "exit status $_krc; its stderr ends with: $(tail -n 20 "$tmp/$1.err")"
	elif [ "${3:-}" = clean ] && [ -s "$tmp/$1.err" ]; then
		fail "$1-exit" "it wrote on stderr: $(head -c 2000 "$tmp/$1.err")"
	else
		pass "$1-exit"
	fi
}

# bg_kill PID: SIGKILL to what bg_start runs under PID (timeout(1)'s child:
# a crash of the program itself, not of timeout), then reaped.
bg_kill() {
	_kc=$(pgrep -P "$1" 2>/dev/null || :)
	kill -KILL ${_kc:-$1} 2>/dev/null || :
	wait "$1" 2>/dev/null || :
	kit_untrack "$1"
}

kit_exited() {
	! is_running "$1"
}

# start_listener NAME COMMAND...: a server whose first line is "listening
# on ws[s]://HOST:PORT/" (wsev's test servers and samples, the Python and
# Node peers). Sets server_pid, server_url, server_port, server_out and
# server_err; "FAIL NAME-start" and 1 if it does not come up.
# start_server NAME COMMAND...: the same for one of wsev's own programs,
# run under WSEV_TEST_WRAPPER.
start_listener() {
	_ks=$1
	shift
	server_out=$tmp/$_ks.out
	server_err=$tmp/$_ks.err
	server_pid=
	bg_start "$_ks" '^listening on wss?://' "$@" || return 1
	server_pid=$bg_pid
	_kline=$(grep -m 1 '^listening on ' "$server_out")
	server_url=${_kline#listening on }
	server_port=$(printf '%s\n' "$server_url" | sed -n 's|^wss\{0,1\}://[^/]*:\([0-9][0-9]*\)/.*$|\1|p')
}

start_server() {
	_ks=$1
	shift
	# shellcheck disable=SC2086
	start_listener "$_ks" $WSEV_TEST_WRAPPER "$@"
}

# stop_server NAME [clean]: bg_stop of the last start_server or
# start_listener.
stop_server() {
	[ -n "$server_pid" ] || return 0
	bg_stop "$1" "$server_pid" "${2:-}"
	server_pid=
}

# count_lines NAME LOG RC: shows LOG (a program that prints its own "ok"
# and "FAIL" lines, and figures as comments) and counts its lines. A
# program that exits non-zero without a FAIL line (a crash, timeout's
# 124), or 0 despite one, or runs no check at all, is one failure more.
# Sets counted_ok and counted_fail (LOG's own lines).
count_lines() {
	grep -v '^[0-9]* passed, [0-9]* failed$' "$2" || :
	counted_ok=$(grep -c '^ok ' "$2" || :)
	counted_fail=$(grep -c '^FAIL ' "$2" || :)
	passed=$((passed + counted_ok))
	failed=$((failed + counted_fail))
	if [ "$3" -eq 124 ]; then
		fail "$1-run" "did not finish in time"
	elif [ "$3" -ne 0 ] && [ "$counted_fail" -eq 0 ]; then
		fail "$1-run" "exit status $3 with no FAIL line: $(tail -n 5 "$2")"
	elif [ "$3" -eq 0 ] && [ "$counted_fail" -ne 0 ]; then
		fail "$1-run" "exit status 0 despite $counted_fail FAIL lines"
	elif [ "$counted_ok" -eq 0 ] && [ "$counted_fail" -eq 0 ]; then
		fail "$1-run" "ran no check"
	fi
}

# run_counted NAME SECONDS COMMAND...: COMMAND under timeout, its output
# in $tmp/NAME.log, then count_lines.
run_counted() {
	_kn=$1
	_klim=$2
	shift 2
	_krc=0
	timeout "$_klim" "$@" >"$tmp/$_kn.log" 2>&1 || _krc=$?
	count_lines "$_kn" "$tmp/$_kn.log" "$_krc"
}

# run_held NAME SECONDS READY-FILE COMMAND...: COMMAND (which creates
# READY-FILE once it holds what it should) in the background; returns when
# READY-FILE is there, or COMMAND ended, or SECONDS passed. Then the test
# does what it tests (stops a server, say), and end_held NAME counts
# COMMAND's lines.
run_held() {
	held_name=$1
	_klim=$2
	_kready=$3
	shift 3
	timeout "$_klim" "$@" >"$tmp/$held_name.log" 2>&1 &
	held_pid=$!
	kit_track "$held_pid"
	wait_until "$_klim" kit_ready "$_kready" "$held_pid" || :
}

kit_ready() {
	[ -s "$1" ] || ! is_running "$2"
}

end_held() {
	_krc=0
	wait "$held_pid" || _krc=$?
	kit_untrack "$held_pid"
	count_lines "$held_name" "$tmp/$held_name.log" "$_krc"
}

# ---------------------------------------------------------------- ports

# listening PORT: something listens on 127.0.0.1:PORT (Linux's /proc).
listening() {
	_khex=$(printf '%04X' "$1")
	grep -q "^ *[0-9]*: 0100007F:$_khex 00000000:0000 0A " /proc/net/tcp
}

# free_port: a port nothing listens on now, below the kernel's range of
# ephemeral ports (ip_local_port_range; 10000 up to it): the ports
# clients are given come from that range, so one of those cannot take
# it between this choice and the bind. For programs that cannot pick
# their own (port 0) and print it.
free_port() {
	_klo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$_klo" -gt 11000 ] 2>/dev/null || _klo=32768
	while :; do
		_kp=$((10000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (_klo - 10000)))
		listening "$_kp" || break
	done
	echo "$_kp"
}

# ---------------------------------------------------------------- components

# need_nginx: $NGINX set, or SKIP.
need_nginx() {
	if [ -z "${NGINX:-}" ]; then
		NGINX=$(command -v nginx 2>/dev/null || :)
		[ -n "$NGINX" ] || NGINX=/usr/sbin/nginx
	fi
	[ -x "$NGINX" ] || skip "no nginx (Debian: apt-get install nginx)"
}

# start_nginx NAME WRITER [NPORTS]: Debian's nginx in the foreground as this test's
# child, in $tmp/NAME (configuration, logs, pid file, temporary
# directories of its own). WRITER is a shell function that prints the
# inside of the http { } block; it reads the ports nginx_port1,
# nginx_port2 and nginx_port3 (free, distinct, chosen anew at each of up
# to 5 tries) and $nginx_dir. Waits until nginx listens on the first
# NPORTS of them (default 1).
# Sets nginx_pid; "ok NAME-start" or "FAIL NAME-start" and 1.
# stop_nginx NAME: SIGTERM, and no alert in its log.
start_nginx() {
	need_nginx
	nginx_dir=$tmp/$1
	mkdir -p "$nginx_dir"
	nginx_pid=
	_kt=0
	while [ -z "$nginx_pid" ] && [ "$_kt" -lt 5 ]; do
		_kt=$((_kt + 1))
		nginx_port1=$(free_port)
		nginx_port2=$(free_port)
		nginx_port3=$(free_port)
		if [ "$nginx_port1" = "$nginx_port2" ] ||
		    [ "$nginx_port1" = "$nginx_port3" ] ||
		    [ "$nginx_port2" = "$nginx_port3" ]; then
			continue
		fi
		kit_nginx_conf "$2" >"$nginx_dir/nginx.conf"
		: >"$nginx_dir/error.log"
		timeout --foreground "$KIT_LIFETIME" "$NGINX" -p "$nginx_dir" \
		    -c "$nginx_dir/nginx.conf" -e "$nginx_dir/error.log" \
		    >"$nginx_dir/stdout" 2>"$nginx_dir/stderr" &
		_kpid=$!
		if wait_until "$KIT_START_TIMEOUT" kit_nginx_up "$_kpid" "${3:-1}" &&
		    is_running "$_kpid"; then
			nginx_pid=$_kpid
			kit_track "$nginx_pid"
		else
			kill -TERM "$_kpid" 2>/dev/null || :
			wait "$_kpid" 2>/dev/null || :
			grep -q 'Address already in use' "$nginx_dir/error.log" \
			    "$nginx_dir/stderr" || break
		fi
	done
	if [ -z "$nginx_pid" ]; then
		fail "$1-start" "nginx did not come up: $(cat "$nginx_dir/stderr" "$nginx_dir/error.log" | head -c 600)"
		return 1
	fi
	pass "$1-start"
}

kit_nginx_conf() {
	cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log info;
events {
	worker_connections 1024;
}
http {
	access_log $nginx_dir/access.log;
	client_body_temp_path $nginx_dir/client_body;
	proxy_temp_path $nginx_dir/proxy;
	fastcgi_temp_path $nginx_dir/fastcgi;
	uwsgi_temp_path $nginx_dir/uwsgi;
	scgi_temp_path $nginx_dir/scgi;
EOF
	"$1"
	echo "}"
}

# kit_nginx_up PID N: nginx exited (an error to read), or listens on its
# first N ports.
kit_nginx_up() {
	is_running "$1" || return 0
	listening "$nginx_port1" || return 1
	[ "$2" -lt 2 ] || listening "$nginx_port2" || return 1
	[ "$2" -lt 3 ] || listening "$nginx_port3" || return 1
	return 0
}

# start_nginx_file NAME CONF PORT: nginx with the configuration file CONF
# (its paths in $tmp/NAME, which is made), in the foreground, until it
# listens on 127.0.0.1:PORT. Sets nginx_pid and nginx_dir; "ok
# NAME-start" or "FAIL NAME-start" and 1.
start_nginx_file() {
	need_nginx
	nginx_dir=$tmp/$1
	nginx_port1=$3
	mkdir -p "$nginx_dir"
	timeout --foreground "$KIT_LIFETIME" "$NGINX" -p "$nginx_dir" -c "$2" \
	    >"$nginx_dir/stdout" 2>"$nginx_dir/stderr" &
	nginx_pid=$!
	kit_track "$nginx_pid"
	if wait_until "$KIT_START_TIMEOUT" kit_nginx_up "$nginx_pid" 1 &&
	    is_running "$nginx_pid"; then
		pass "$1-start"
		return 0
	fi
	fail "$1-start" "nginx did not come up: $(cat "$nginx_dir/stderr" "$nginx_dir/error.log" 2>/dev/null | head -c 600)"
	return 1
}

stop_nginx() {
	kill -TERM "$nginx_pid" 2>/dev/null || :
	wait "$nginx_pid" 2>/dev/null || :
	kit_untrack "$nginx_pid"
	if grep -E '\[(alert|crit|emerg)\]' "$nginx_dir/error.log" >"$tmp/$1.bad" 2>&1; then
		fail "$1-log" "nginx reported: $(head -c 600 "$tmp/$1.bad")"
	else
		pass "$1-log"
	fi
}

# need_redis: $REDIS_SERVER set, or SKIP.
need_redis() {
	: "${REDIS_SERVER:=$(command -v redis-server 2>/dev/null || :)}"
	[ -n "$REDIS_SERVER" ] && [ -x "$REDIS_SERVER" ] ||
	    skip "no redis-server (Debian: apt-get install redis-server)"
}

# start_redis NAME: redis-server in the foreground as this test's child,
# its data in $tmp/NAME (appendonly, fsync at every write: what it
# answered is on disk), on a free port of 127.0.0.1, once it is ready to
# accept connections. Started again with the same NAME, it comes back on
# the same port with the same data. Sets redis_pid, redis_port.
# stop_redis NAME [KILL]: SIGTERM and exit 0, or SIGKILL (a crash).
start_redis() {
	need_redis
	mkdir -p "$tmp/$1"
	# A port is chosen once; the same again on a restart.
	[ -f "$tmp/$1/port" ] || free_port >"$tmp/$1/port"
	_kp=$(cat "$tmp/$1/port")
	bg_start "$1" 'Ready to accept connections' "$REDIS_SERVER" \
	    --port "$_kp" --bind 127.0.0.1 --dir "$tmp/$1" --save '' \
	    --appendonly yes --appendfsync always --daemonize no || return 1
	redis_pid=$bg_pid
	redis_port=$_kp
}

stop_redis() {
	if [ "${2:-}" = KILL ]; then
		bg_kill "$redis_pid"
	else
		bg_stop "$1" "$redis_pid"
	fi
}

# redis_cli NAME ARGS...: one command to the redis-server NAME (FLUSHALL,
# XLEN ...), its answer on stdout.
redis_cli() {
	_kn=$1
	shift
	timeout 10 redis-cli -p "$(cat "$tmp/$_kn/port")" "$@"
}

# ---------------------------------------------------------------- proxies

# start_on_port NAME PORT COMMAND...: COMMAND (a daemon that cannot print
# its port: it is given PORT) in the foreground as this test's child, its
# output in $tmp/NAME.out and $tmp/NAME.err, until it listens on
# 127.0.0.1:PORT (KIT_START_TIMEOUT). Sets bg_pid; 0, or 1 if it exited
# (the caller may try another port) or never listened (then killed).
start_on_port() {
	_kn=$1
	_kp=$2
	shift 2
	timeout --foreground "$KIT_LIFETIME" "$@" >"$tmp/$_kn.out" 2>"$tmp/$_kn.err" &
	bg_pid=$!
	kit_track "$bg_pid"
	if wait_until "$KIT_START_TIMEOUT" kit_port_up "$bg_pid" "$_kp" &&
	    is_running "$bg_pid"; then
		return 0
	fi
	kill -KILL "$bg_pid" 2>/dev/null || :
	wait "$bg_pid" 2>/dev/null || :
	kit_untrack "$bg_pid"
	return 1
}

kit_port_up() {
	! is_running "$1" || listening "$2"
}

# start_tinyproxy NAME [USER PASS]: Debian's tinyproxy (an HTTP CONNECT
# proxy) in the foreground on a free port of 127.0.0.1, its configuration
# in $tmp/NAME.conf; with USER and PASS it wants Basic
# Proxy-Authorization (and answers a wrong one with 401, not 407). Sets
# proxy_pid, proxy_port; "ok NAME-start" or "FAIL NAME-start" and 1.
# start_microsocks NAME [USER PASS]: the same for microsocks (SOCKS5; with
# USER and PASS, RFC 1929 username/password).
# stop_proxy NAME PID: SIGTERM, and it must exit within KIT_STOP_TIMEOUT.
start_tinyproxy() {
	need_cmd tinyproxy
	_kpn=$1
	_kt=0
	while [ "$_kt" -lt 5 ]; do
		_kt=$((_kt + 1))
		proxy_port=$(free_port)
		{
			echo "Port $proxy_port"
			echo "Listen 127.0.0.1"
			echo "Timeout 60"
			echo "MaxClients 100"
			echo "LogLevel Info"
			echo "PidFile \"$tmp/$_kpn.pid\""
			[ $# -lt 3 ] || echo "BasicAuth $2 $3"
		} >"$tmp/$_kpn.conf"
		if start_on_port "$_kpn" "$proxy_port" tinyproxy -d -c "$tmp/$_kpn.conf"; then
			proxy_pid=$bg_pid
			pass "$_kpn-start"
			return 0
		fi
	done
	fail "$_kpn-start" "tinyproxy did not come up: $(tail -n 3 "$tmp/$_kpn.err" "$tmp/$_kpn.out" | head -c 600)"
	return 1
}

start_microsocks() {
	need_cmd microsocks
	_kpn=$1
	shift
	_kt=0
	while [ "$_kt" -lt 5 ]; do
		_kt=$((_kt + 1))
		proxy_port=$(free_port)
		if start_on_port "$_kpn" "$proxy_port" microsocks -i 127.0.0.1 \
		    -p "$proxy_port" ${1:+-u "$1"} ${2:+-P "$2"}; then
			proxy_pid=$bg_pid
			pass "$_kpn-start"
			return 0
		fi
	done
	fail "$_kpn-start" "microsocks did not come up: $(tail -n 3 "$tmp/$_kpn.err" | head -c 600)"
	return 1
}

stop_proxy() {
	kill -TERM "$2" 2>/dev/null || :
	if wait_until "$KIT_STOP_TIMEOUT" kit_exited "$2"; then
		wait "$2" 2>/dev/null || :
		kit_untrack "$2"
		pass "$1-exit"
	else
		bg_kill "$2"
		fail "$1-exit" "still running $KIT_STOP_TIMEOUT s after SIGTERM"
	fi
}
