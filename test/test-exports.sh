#!/bin/sh
# Only wsev_ symbols leave the shared library (-fvisibility=hidden plus
# WSEV_EXPORT), and every function of the public header is exported.
set -eu
lib="$top_builddir/.libs/libwsev.so"
if [ ! -f "$lib" ]; then
	echo "no shared library at $lib"
	exit 1
fi
exported=$(${NM:-nm} -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort)
bad=$(printf '%s\n' "$exported" | grep -v '^wsev_' | grep -v '^_init$' | grep -v '^_fini$' || true)
passed=0
failed=0
if [ -n "$bad" ]; then
	echo "FAIL exports: symbols outside the wsev_ namespace:"
	printf '  %s\n' $bad
	failed=$((failed + 1))
else
	echo "ok exports: $(printf '%s\n' "$exported" | grep -c '^wsev_') wsev_ symbols, nothing else"
	passed=$((passed + 1))
fi
# Internal helpers (the trailing-underscore names) stay hidden.
internal=$(printf '%s\n' "$exported" | grep '_$' || true)
if [ -n "$internal" ]; then
	echo "FAIL internal symbols exported: $internal"
	failed=$((failed + 1))
else
	echo "ok internal helpers hidden"
	passed=$((passed + 1))
fi
# Every function declared with WSEV_EXPORT in the header is there.
missing=""
for f in $(sed -n 's/^WSEV_EXPORT .*[ *]\(wsev_[a-z_]*\)(.*/\1/p' "$top_srcdir/include/wsev/wsev.h" | sort -u); do
	printf '%s\n' "$exported" | grep -qx "$f" || missing="$missing $f"
done
if [ -n "$missing" ]; then
	echo "FAIL declared but not exported:$missing"
	failed=$((failed + 1))
else
	echo "ok every declared function exported"
	passed=$((passed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
