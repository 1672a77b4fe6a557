#!/bin/sh
# Build client-probe outside automake, for running these tests by hand:
#
#   test/interop-client/build-probe.sh BUILDDIR
#
# compiles test/interop-client/client-probe.c against BUILDDIR/.libs/libwsev.a
# (with the build's sanitizer flags, if it has any) into
# BUILDDIR/test/interop-client/client-probe, where the tests look for it.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
b=${1:?usage: build-probe.sh BUILDDIR}
case $b in /*) ;; *) b=$top/$b ;; esac
san=$(sed -n 's/^SANITIZER_FLAGS = *//p' "$b/Makefile")
warn=$(sed -n 's/^WARN_CFLAGS = *//p' "$b/Makefile")
mkdir -p "$b/test/interop-client"
# shellcheck disable=SC2086
${CC:-cc} -g -O1 $warn $san -I"$top/include" \
    -o "$b/test/interop-client/client-probe" \
    "$top/test/interop-client/client-probe.c" "$b/.libs/libwsev.a" \
    $(pkg-config --cflags --libs libevent libevent_openssl openssl)
echo "$b/test/interop-client/client-probe"
