# The echo servers of bench/servers/: wsev's own, and two raw TCP echoes on
# libevent (bufferevents; plain events) as yardsticks.
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

PROGRAMS += $(OUT)/echo-wsev $(OUT)/echo-raw-bev $(OUT)/echo-raw-ev

$(OUT)/echo-wsev: servers/echo-wsev.c $(WSEV_LIBS) ../include/wsev/wsev.h | $(OUT)
	$(CC) $(CPPFLAGS) $(WSEV_CFLAGS) $(EVENT_CFLAGS) $(CFLAGS) -o $@ $< \
	    $(LDFLAGS) $(WSEV_LIBS) $(EVENT_LIBS) $(ZLIB_LIBS)

$(OUT)/echo-raw-bev: servers/echo-raw-bev.c | $(OUT)
	$(CC) $(CPPFLAGS) $(EVENT_CFLAGS) $(CFLAGS) -o $@ $< \
	    $(LDFLAGS) $(EVENT_LIBS)

$(OUT)/echo-raw-ev: servers/echo-raw-ev.c | $(OUT)
	$(CC) $(CPPFLAGS) $(EVENT_CFLAGS) $(CFLAGS) -o $@ $< \
	    $(LDFLAGS) $(EVENT_LIBS)
