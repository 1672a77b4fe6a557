#!/bin/sh
# "No global state": every library source is compiled on its own and its
# objects are searched for writable variables (.data, .bss) that are not
# thread-local. Twice: as built (GCC's __thread lends each thread its
# buffers), and with WSEV_NO_THREAD_LOCAL, the build of a compiler without
# thread-local storage, where those buffers must belong to each connection
# instead of becoming process-wide. The one process-wide state wsev has,
# by design, is wsev_connect's default TLS context and its lock.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"
: "${CC:=cc}"
: "${PYTHON3:=python3}"
kit_init no-globals
cflags=$(pkg-config --cflags libevent libevent_openssl openssl zlib 2>/dev/null)
allowed="client.c:default_ctx client.c:default_ctx_lock"

check() {	# check NAME [CPPFLAGS...]
	name=$1
	shift
	found=""
	for src in "$top_srcdir"/lib/*.c; do
		obj="$tmp/$(basename "$src" .c).o"
		# shellcheck disable=SC2086
		if ! $CC -c -O1 -DWSEV_BUILDING "$@" -I"$top_srcdir/include" \
		    -I"$top_srcdir/lib" $cflags -o "$obj" "$src" \
		    2>"$tmp/cc.log"; then
			cat "$tmp/cc.log"
			found="$found $(basename "$src"):(does not compile)"
			continue
		fi
		for v in $("$PYTHON3" - "$obj" <<'PY'
import subprocess, sys, re
obj = sys.argv[1]
secs = {}
for l in subprocess.run(["readelf", "-SW", obj], capture_output=True,
                        text=True).stdout.splitlines():
    m = re.match(r"\s*\[\s*(\d+)\]\s+(\S+)", l)
    if m:
        secs[m.group(1)] = m.group(2)
for l in subprocess.run(["readelf", "-sW", obj], capture_output=True,
                        text=True).stdout.splitlines():
    f = l.split()
    if len(f) >= 8 and f[3] == "OBJECT":
        sec = secs.get(f[6], "")
        if sec.startswith((".data", ".bss")) and not \
                sec.startswith((".data.rel.ro",)):
            print(f[7])
PY
); do
			case " $allowed " in
			*" $(basename "$src"):$v "*) ;;
			*) found="$found $(basename "$src"):$v" ;;
			esac
		done
	done
	if [ -n "$found" ]; then
		fail "$name" "writable global state:$found"
	else
		pass "$name: no writable global state but wsev_connect's TLS context"
	fi
}

check "as built"
check "without thread-local storage" -DWSEV_NO_THREAD_LOCAL
finish
