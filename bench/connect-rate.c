/*
 * connect-rate: how many wsev_connect() calls a second reach OPEN, one
 * after another, against an echo server on this machine (ws:// or wss://).
 *
 *   connect-rate --port P [--tls] [--host 127.0.0.1] [--count N]
 *   connect-rate --port P [--tls] [--host 127.0.0.1] --idle N
 *
 * Each connection is opened with wsev_connect() and no options (for wss://
 * the default SSL_CTX: the system CA store, verification on; point
 * SSL_CERT_FILE at the server's certificate), freed as soon as it is OPEN,
 * and the next one started. Prints one line: connects, seconds, connects
 * per second. Exit status 1 on the first failed connect.
 *
 * --idle N: the client's memory per idle connection. 200 connections are
 * opened and kept (libraries allocate on first use: the default SSL_CTX,
 * tables), then N more, 50 handshakes at a time, all kept OPEN; the growth
 * of this process's resident set divided by N is printed
 * ("bytes_per_conn=..."), as wsload --idle measures a server.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "wsev/wsev.h"

struct run {
	struct event_base *base;
	char url[128];
	long count, done, started;
	int failed;
	struct wsev_connection **kept;	/* --idle: every connection, kept */
	long nkept;
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
	if (r->kept)
		r->kept[r->nkept++] = conn;
	else
		wsev_connection_free(conn);
	if (++r->done == r->count)
		event_base_loopbreak(r->base);
	else if (r->started < r->count)
		start(r);
}

static void
start(struct run *r)
{
	r->started++;
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

/* This process's resident set, bytes. */
static long
rss(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * sysconf(_SC_PAGESIZE);
}

/* Open until r->count are OPEN, @p parallel handshakes at a time. */
static int
open_kept(struct run *r, long count, int parallel)
{
	int i;

	r->count = count;
	r->done = r->started = 0;
	for (i = 0; i < parallel && r->started < count && !r->failed; i++)
		start(r);
	if (!r->failed)
		event_base_dispatch(r->base);
	return r->failed ? -1 : 0;
}

static int
run_idle(struct run *r, long n)
{
	long before, after, i;
	int rc = 1;

	if (!(r->kept = calloc((size_t)n + 200, sizeof(*r->kept))))
		return 1;
	if (open_kept(r, 200, 50) == 0) {
		before = rss();
		if (open_kept(r, n, 50) == 0) {
			after = rss();
			printf("%s: conns=%ld rss_before_kb=%ld rss_after_kb=%ld "
			    "bytes_per_conn=%.0f\n", strncmp(r->url, "wss", 3) ?
			    "ws" : "wss", n, before / 1024, after / 1024,
			    (double)(after - before) / (double)n);
			rc = 0;
		}
	}
	for (i = 0; i < r->nkept; i++)
		wsev_connection_free(r->kept[i]);
	free(r->kept);
	return rc;
}

int
main(int argc, char **argv)
{
	struct run r;
	const char *host = "127.0.0.1";
	int i, port = 0, tls = 0, rc;
	long idle = 0;
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
		else if (!strcmp(argv[i], "--idle") && i + 1 < argc)
			idle = atol(argv[++i]);
		else if (!strcmp(argv[i], "--tls"))
			tls = 1;
		else
			port = 0;
	}
	if (port <= 0 || r.count <= 0) {
		fprintf(stderr, "usage: connect-rate --port P [--tls] "
		    "[--host 127.0.0.1] [--count N | --idle N]\n");
		return 2;
	}
	snprintf(r.url, sizeof(r.url), "%s://%s:%d/", tls ? "wss" : "ws", host,
	    port);
	r.base = event_base_new();
	if (!r.base)
		return 1;
	if (idle > 0) {
		rc = run_idle(&r, idle);
		event_base_free(r.base);
		return rc;
	}
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
