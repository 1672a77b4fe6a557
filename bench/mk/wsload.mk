# wsload: WebSocket / raw TCP load generator (see wsload.c); libc + OpenSSL.
# Included by bench/Makefile, which runs in bench/ and sets OUT, CC, CFLAGS.
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

WSLOAD_PKG_CONFIG := $(or $(PKG_CONFIG),pkg-config)
WSLOAD_CFLAGS := $(shell $(WSLOAD_PKG_CONFIG) --cflags openssl 2>/dev/null)
WSLOAD_LIBS := $(shell $(WSLOAD_PKG_CONFIG) --libs openssl 2>/dev/null || \
    echo -lssl -lcrypto)

PROGRAMS += $(OUT)/wsload

$(OUT)/wsload: wsload.c mk/wsload.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WSLOAD_CFLAGS) -o $@ wsload.c $(WSLOAD_LIBS)
