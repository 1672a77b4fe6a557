#!/bin/sh
# Build the libFuzzer targets with clang and run each for a bounded time.
#
#   test/fuzz/run.sh [TARGET...]      (default: frame utf8 connection handshake proxy)
#
# Environment:
#   WSEV_FUZZ_SECONDS  seconds per target (default 60)
#   WSEV_FUZZ_BUILD    build directory (default build-libfuzzer/ at the top)
#   WSEV_FUZZ_JOBS     parallel libFuzzer jobs per target (default 1)
#   CC                 a clang with libFuzzer (default clang)
#
# Every target is compiled from its source and the library sources it
# tests (internal symbols are hidden in the shared library) with
# -fsanitize=fuzzer,address,undefined. New inputs go to
# $WSEV_FUZZ_BUILD/corpus/TARGET/ (kept between runs); the committed seeds
# (test/fuzz/corpus/TARGET/) and regression inputs (test/fuzz/regress/TARGET/)
# are read, never written. A crash is left as
# $WSEV_FUZZ_BUILD/artifacts/TARGET-crash-*: reproduce it with
#   $WSEV_FUZZ_BUILD/fuzz-TARGET FILE
# and add it under test/fuzz/regress/TARGET/ once the bug is fixed.
#
# Prints one "ok TARGET" or "FAIL TARGET" line per target and ends with
# "N passed, M failed". Exits 77 (skipped) when the compiler has no
# libFuzzer runtime (Debian 12: apt-get install libclang-rt-14-dev).
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
src=$top/test/fuzz
seconds=${WSEV_FUZZ_SECONDS:-60}
build=${WSEV_FUZZ_BUILD:-$top/build-libfuzzer}
jobs=${WSEV_FUZZ_JOBS:-1}
cc=${CC:-clang}
targets=${*:-frame utf8 connection handshake proxy}

mkdir -p "$build/artifacts" || exit 1

# The libFuzzer runtime, or skip.
probe=$build/probe.c
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
	> "$probe"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$build/probe" "$probe" \
    > "$build/probe.log" 2>&1; then
	echo "SKIP: $cc cannot link -fsanitize=fuzzer (see $build/probe.log);"
	echo "      on Debian 12 the runtime is in libclang-rt-14-dev"
	exit 77
fi

if ! pkg-config --exists libevent libevent_openssl openssl; then
	echo "SKIP: pkg-config finds no libevent, libevent_openssl or openssl"
	exit 77
fi
libs=$(pkg-config --libs libevent libevent_openssl openssl zlib)
cflags=$(pkg-config --cflags libevent libevent_openssl openssl)

sources() {
	case $1 in
	frame) echo "lib/frame.c" ;;
	utf8) echo "lib/utf8.c" ;;
	connection) echo "lib/connection.c lib/conn-transport.c lib/conn-recv.c lib/conn-send.c lib/conn-close.c lib/conn-sock.c lib/conn-keepalive.c lib/conn-props.c lib/deflate.c lib/error.c lib/tls.c lib/util.c lib/frame.c lib/utf8.c" ;;
	handshake) echo "lib/handshake.c lib/error.c lib/util.c" ;;
	proxy) echo "lib/proxy.c lib/error.c" ;;
	*) return 1 ;;
	esac
}

passed=0
failed=0
for t in $targets; do
	if ! libsrc=$(sources "$t"); then
		echo "FAIL $t: no such target"
		failed=$((failed + 1))
		continue
	fi
	bin=$build/fuzz-$t
	log=$build/$t.log
	files="$src/fuzz-$t.c"
	for f in $libsrc; do
		files="$files $top/$f"
	done
	# shellcheck disable=SC2086
	if ! "$cc" -g -O1 -fno-omit-frame-pointer \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
	    -Wmissing-prototypes -Werror \
	    -I"$top/include" -I"$top/lib" -I"$src" $cflags \
	    -o "$bin" $files $libs > "$build/$t.build.log" 2>&1; then
		cat "$build/$t.build.log"
		echo "FAIL $t: build"
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$build/corpus/$t"
	dirs="$build/corpus/$t $src/corpus/$t"
	[ -d "$src/regress/$t" ] && dirs="$dirs $src/regress/$t"
	opts=
	[ -f "$src/$t.dict" ] && opts="-dict=$src/$t.dict"
	[ "$jobs" -gt 1 ] && opts="$opts -jobs=$jobs -workers=$jobs"
	# shellcheck disable=SC2086
	(cd "$build" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
	    "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
	    -max_len=8192 -print_final_stats=1 \
	    -artifact_prefix="$build/artifacts/$t-" $opts $dirs) \
	    > "$log" 2>&1
	rc=$?
	[ "$jobs" -gt 1 ] && cat "$build"/fuzz-[0-9]*.log >> "$log" 2>/dev/null
	# The last status line: "#N DONE cov: C ft: F corp: K/S ... exec/s: E"
	stat=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" |
	    tail -n 1)
	runs=$(printf '%s' "$stat" | sed -n 's/^#\([0-9]*\).*/\1/p')
	cov=$(printf '%s' "$stat" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s' "$stat" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(printf '%s' "$stat" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
	eps=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -n 1)
	rss=$(sed -n 's/^stat::peak_rss_mb:[[:space:]]*//p' "$log" | tail -n 1)
	info="${runs:-?} runs in ${seconds} s, ${eps:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, rss ${rss:-?} MB"
	if [ "$rc" -eq 0 ] && ! grep -q -E '^==[0-9]+==ERROR|^SUMMARY: |deadly signal|FUZZ_CHECK' "$log"; then
		echo "ok $t: $info"
		passed=$((passed + 1))
	else
		grep -E 'FUZZ_CHECK|^==[0-9]+==ERROR|^SUMMARY|Test unit written to|runtime error' "$log" | head -n 20
		echo "FAIL $t: exit $rc, $info (log: $log)"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
