# The other libraries' echo servers of bench/peers/, built from their Debian
# packages (bench/deps installs them): libsoup 3, libwebsockets, wslay and
# WebSocket++ on standalone Asio. Node's and Python's run from source.
# Included by bench/Makefile, which runs in bench/ and sets OUT, CC, CXX,
# CFLAGS, CXXFLAGS and PKG_CONFIG.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

PEERS_PKG_CONFIG := $(or $(PKG_CONFIG),pkg-config)

# wslay and WebSocket++ ship no pkg-config file: -lwslay, and headers only.
# Their headers and Asio's are under /usr/include, so a warning in them does
# not fail -Werror.
SOUP_FLAGS = $(shell $(PEERS_PKG_CONFIG) --cflags --libs libsoup-3.0)
LWS_FLAGS = $(shell $(PEERS_PKG_CONFIG) --cflags --libs libwebsockets)
WSLAY_FLAGS = $(shell $(PEERS_PKG_CONFIG) --cflags --libs libcrypto) -lwslay
WSPP_FLAGS = -DASIO_STANDALONE -pthread

# The C peers parse their command line with the servers' bench-opts.c.
PEERS_OPTS = servers/bench-opts.c servers/bench-opts.h

PROGRAMS += $(OUT)/echo-soup $(OUT)/echo-lws $(OUT)/echo-wslay \
    $(OUT)/echo-wspp

$(OUT)/echo-soup: peers/echo-soup.c $(PEERS_OPTS) | $(OUT)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) $(LDFLAGS) \
	    $(SOUP_FLAGS)

$(OUT)/echo-lws: peers/echo-lws.c $(PEERS_OPTS) | $(OUT)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) $(LDFLAGS) \
	    $(LWS_FLAGS)

$(OUT)/echo-wslay: peers/echo-wslay.c $(PEERS_OPTS) | $(OUT)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) $(LDFLAGS) \
	    $(WSLAY_FLAGS)

$(OUT)/echo-wspp: peers/echo-wspp.cpp | $(OUT)
	$(CXX) $(CPPFLAGS) $(WSPP_FLAGS) $(CXXFLAGS) -o $@ $< $(LDFLAGS)
