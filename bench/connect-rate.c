/*
 * connect-rate: how many wsev_connect() calls a second reach OPEN, one
 * after another, against an echo server on this machine (ws:// or wss://).
 *
 *   connect-rate --port P [--tls] [--host 127.0.0.1] [--count N]
 *
 * Each connection is opened with wsev_connect() and no options (for wss://
 * the default SSL_CTX: the system CA store, verification on; point
 * SSL_CERT_FILE at the server's certificate), freed as soon as it is OPEN,
 * and the next one started. Prints one line: connects, seconds, connects
 * per second. Exit status 1 on the first failed connect.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "wsev/wsev.h"

struct run {
	struct event_base *base;
	char url[128];
	long count, done;
	int failed;
};

static void start(struct run *r);

static void
on_connected(struct wsev_connection *conn, const struct wsev_error *err,
    void *arg)
{
	struct run *r = arg;

	if (!conn) {
		fprintf(stderr, "connect-rate: %s: %s\n", r->url, err->message);
		r->failed = 1;
		event_base_loopbreak(r->base);
		return;
	}
	wsev_connection_free(conn);
	if (++r->done == r->count)
		event_base_loopbreak(r->base);
	else
		start(r);
}

static void
start(struct run *r)
{
	if (!wsev_connect(r->base, NULL, r->url, NULL, on_connected, r)) {
		fprintf(stderr, "connect-rate: cannot start %s\n", r->url);
		r->failed = 1;
		event_base_loopbreak(r->base);
	}
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct run r;
	const char *host = "127.0.0.1";
	int i, port = 0, tls = 0;
	double t0, t;

	memset(&r, 0, sizeof(r));
	r.count = 200;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--host") && i + 1 < argc)
			host = argv[++i];
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			r.count = atol(argv[++i]);
		else if (!strcmp(argv[i], "--tls"))
			tls = 1;
		else
			port = 0;
	}
	if (port <= 0 || r.count <= 0) {
		fprintf(stderr, "usage: connect-rate --port P [--tls] "
		    "[--host 127.0.0.1] [--count N]\n");
		return 2;
	}
	snprintf(r.url, sizeof(r.url), "%s://%s:%d/", tls ? "wss" : "ws", host,
	    port);
	r.base = event_base_new();
	if (!r.base)
		return 1;
	t0 = now();
	start(&r);
	if (!r.failed)
		event_base_dispatch(r.base);
	t = now() - t0;
	event_base_free(r.base);
	if (r.failed)
		return 1;
	printf("%s: %ld connects in %.3f s: %.1f connects/s\n",
	    tls ? "wss" : "ws", r.done, t, (double)r.done / t);
	return 0;
}
