# connect-rate: wsev_connect() calls per second to a local echo server
# (see connect-rate.c; connect-rate.sh runs it against out/echo-wsev).
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

PROGRAMS += $(OUT)/connect-rate

$(OUT)/connect-rate: connect-rate.c $(WSEV_LIBS) ../include/wsev/wsev.h | $(OUT)
	$(CC) $(CPPFLAGS) $(WSEV_CFLAGS) $(EVENT_CFLAGS) $(CFLAGS) -o $@ $< \
	    $(LDFLAGS) $(WSEV_LIBS) $(EVENT_LIBS) $(ZLIB_LIBS) -lpthread
