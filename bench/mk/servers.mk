# The echo servers of bench/servers/: wsev's own, and two raw TCP echoes on
# libevent (bufferevents; plain events) as yardsticks. Each is its echo
# logic in one file plus the main they share (bench-main.c, the libevent
# set-up; bench-opts.c, the command line).
#
# Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.

PROGRAMS += $(OUT)/echo-wsev $(OUT)/echo-raw-bev $(OUT)/echo-raw-ev

BENCH_MAIN = servers/bench-main.c servers/bench-main.h \
    servers/bench-opts.c servers/bench-opts.h

# $(filter %.c,$^): the server's file and bench-main's.
$(OUT)/echo-wsev: servers/echo-wsev.c $(BENCH_MAIN) $(WSEV_LIBS) \
    ../include/wsev/wsev.h | $(OUT)
	$(CC) $(CPPFLAGS) $(WSEV_CFLAGS) $(EVENT_CFLAGS) $(CFLAGS) -o $@ \
	    $(filter %.c,$^) $(LDFLAGS) $(WSEV_LIBS) $(EVENT_LIBS) $(ZLIB_LIBS)

$(OUT)/echo-raw-bev: servers/echo-raw-bev.c $(BENCH_MAIN) | $(OUT)
	$(CC) $(CPPFLAGS) $(EVENT_CFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) \
	    $(LDFLAGS) $(EVENT_LIBS)

$(OUT)/echo-raw-ev: servers/echo-raw-ev.c $(BENCH_MAIN) | $(OUT)
	$(CC) $(CPPFLAGS) $(EVENT_CFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) \
	    $(LDFLAGS) $(EVENT_LIBS)
