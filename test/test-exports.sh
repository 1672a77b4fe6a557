#!/bin/sh
# Only wsev_ symbols leave the shared library (-fvisibility=hidden plus
# WSEV_EXPORT), and every function of the public header is exported.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=test/lib.sh
. "$top_srcdir/test/lib.sh"

lib="$top_builddir/.libs/libwsev.so"
[ -f "$lib" ] || hard_error "no shared library at $lib"
exported=$(${NM:-nm} -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort)
bad=$(printf '%s\n' "$exported" | grep -v '^wsev_' | grep -v '^_init$' | grep -v '^_fini$' || true)
if [ -n "$bad" ]; then
	fail exports "symbols outside the wsev_ namespace: $(echo $bad)"
else
	pass "exports: $(printf '%s\n' "$exported" | grep -c '^wsev_') wsev_ symbols, nothing else"
fi
# Internal helpers (the trailing-underscore names) stay hidden.
internal=$(printf '%s\n' "$exported" | grep '_$' || true)
if [ -n "$internal" ]; then
	fail "internal helpers hidden" "exported: $(echo $internal)"
else
	pass "internal helpers hidden"
fi
# Every function declared with WSEV_EXPORT in the header is there.
missing=""
for f in $(sed -n 's/^WSEV_EXPORT .*[ *]\(wsev_[a-z_]*\)(.*/\1/p' "$top_srcdir/include/wsev/wsev.h" | sort -u); do
	printf '%s\n' "$exported" | grep -qx "$f" || missing="$missing $f"
done
if [ -n "$missing" ]; then
	fail "every declared function exported" "missing:$missing"
else
	pass "every declared function exported"
fi
finish
