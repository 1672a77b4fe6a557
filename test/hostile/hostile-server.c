/*
 * hostile-server: a wsev server for the hostile-peer tests (test-*.sh in
 * this directory), which attack it with peers that do not read, flood it
 * with pings, trickle their handshakes, open ten thousand sockets or send
 * frames no one should send, and then check what the server saw here.
 *
 *   hostile-server [--tls CERT KEY] [--guard-ms N] [--http-timeout S]
 *                  [--max-out N] [--max-payload N] [--max-message N]
 *                  [--close-timeout-ms N] [--sample-ms N] [--push-cap N]
 *                  [--sndbuf N]
 *
 * Listens on 127.0.0.1, on a port the system picks, and prints
 * "listening on ws://127.0.0.1:PORT/" (wss:// with --tls) as its first line.
 *
 *   --guard-ms N       wsev_guard_new() with an N ms request deadline
 *                      (0: no guard; the default)
 *   --http-timeout S   evhttp_set_timeout(S) (default 10)
 *   --max-out N        wsev_connection_set_max_outgoing_buffer(N) on every
 *                      WebSocket (default: the library's)
 *   --max-payload N, --max-message N   the incoming limits (default: the
 *                      library's)
 *   --close-timeout-ms N   wsev_connection_set_close_timeout
 *   --sample-ms N      every N ms, note the largest buffered amount of all
 *                      WebSockets (for pongs, which no send reports)
 *   --push-cap N       the most bytes one "cmd:push" sends (default 1 GiB):
 *                      bounds a test if the library never refuses
 *   --sndbuf N         SO_SNDBUF on every WebSocket's socket: the kernel
 *                      takes little, so what a peer does not read stays in
 *                      wsev's output (which writes at once on plain sockets)
 *
 * The WebSocket route "/" echoes every message with its type, except text
 * messages that start with "cmd:":
 *
 *   cmd:push:SIZE[:COUNT]  send binary messages of SIZE bytes, a few per
 *                          loop turn, until COUNT are sent, the push cap is
 *                          reached, or a send fails (counted as
 *                          "send_refused")
 *   cmd:set:NAME:VALUE     max-out, max-payload or max-message of this
 *                          connection; replies "set:NAME:VALUE"
 *
 * Plain HTTP:
 *
 *   GET /stats             "NAME VALUE" lines: live (open WebSockets),
 *                          opened, rss_kb (VmRSS), max_out, max_buffered
 *                          (the largest buffered amount seen after a send
 *                          or by the sampler), send_refused, messages,
 *                          message_bytes, largest_message, drains,
 *                          "close.CODE N" per close code seen in "closed",
 *                          "error.DOMAIN.CODE N" per error reported
 *   GET /stats?trim=1      the same, after malloc_trim(0) (glibc): the
 *                          free pages inside the heap given back, so that
 *                          rss_kb is what is held, not what was once the
 *                          peak (test-churn compares these)
 *   GET /broadcast?msg=TEXT          send TEXT to every open WebSocket
 *   GET /broadcast?size=N&count=K    K binary messages of N bytes to each
 *                          Both reply "sent S refused R" (sends that
 *                          returned 0 and -1).
 *   GET /health            "ok"
 *
 * Errors the library reports go to stderr as "error domain=D code=N:
 * MESSAGE". SIGTERM or SIGINT ends the loop and everything is freed before
 * the exit, so that valgrind and LeakSanitizer see no leak (the server
 * plumbing is test/tt-server.c's).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <wsev/wsev.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "tt-server.h"

#define MAX_CLOSE_CODE 4999
#define MAX_ERROR_KINDS 64
/* Messages one push tick sends before it lets the loop run. */
#define PUSH_BURST 8
/* The largest message /broadcast?size= makes, and the most per call. */
#define BROADCAST_MAX_SIZE (16u * 1024 * 1024)
#define BROADCAST_MAX_COUNT 1024

struct peer {
	struct wsev_connection *conn;
	struct event *push;		/* made on the first cmd:push */
	size_t push_size;
	uint64_t push_left;		/* messages still to send */
	uint64_t push_bytes;		/* sent by this push so far */
	unsigned char *push_buf;
	struct peer *prev, *next;
};

struct error_kind {
	int domain, code;
	unsigned long count;
};

/* The options. */
static struct {
	int max_out_set, max_payload_set, max_message_set, close_timeout_set;
	size_t max_out;
	uint64_t max_payload, max_message;
	struct timeval close_timeout;
	uint64_t push_cap;
	int sndbuf;		/* 0: the system's */
} opt = { .push_cap = 1024u * 1024 * 1024 };

static struct tt_server srv;

/* What the server saw. */
static struct {
	struct peer *peers;
	unsigned long live, opened, send_refused, messages, drains;
	uint64_t message_bytes, largest_message;
	size_t max_buffered;
	unsigned long close_codes[MAX_CLOSE_CODE + 1];
	unsigned long close_other;
	struct error_kind errors[MAX_ERROR_KINDS];
	int nerrors;
	unsigned long errors_other;
} st;

static void
note_buffered(struct wsev_connection *conn)
{
	size_t n = wsev_connection_get_buffered_amount(conn);

	if (n > st.max_buffered)
		st.max_buffered = n;
}

/* A send's result: a refusal counts, a success may raise max_buffered. */
static int
sent(struct wsev_connection *conn, int rv)
{
	if (rv < 0)
		st.send_refused++;
	else
		note_buffered(conn);
	return rv;
}

static void
reply_text(struct wsev_connection *conn, const char *s)
{
	sent(conn, wsev_connection_send_text(conn, s));
}

static void
push_tick(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	const struct timeval next = { 0, 1000 };
	int i;

	(void)fd;
	(void)what;
	for (i = 0; i < PUSH_BURST && p->push_left > 0; i++) {
		if (p->push_bytes >= opt.push_cap) {
			fprintf(stderr, "hostile-server: push cap of %llu bytes "
			    "reached without a refusal\n",
			    (unsigned long long)opt.push_cap);
			p->push_left = 0;
			break;
		}
		if (wsev_connection_get_state(p->conn) != WSEV_STATE_OPEN ||
		    sent(p->conn, wsev_connection_send_binary(p->conn,
		    p->push_buf, p->push_size)) < 0) {
			p->push_left = 0;
			break;
		}
		p->push_left--;
		p->push_bytes += p->push_size;
	}
	if (p->push_left > 0)
		evtimer_add(p->push, &next);
}

/* "cmd:push:SIZE[:COUNT]" */
static void
command_push(struct peer *p, const char *args)
{
	const struct timeval now = { 0, 0 };
	unsigned long long size, count = UINT64_MAX;
	char *end;

	size = strtoull(args, &end, 10);
	if (*end == ':')
		count = strtoull(end + 1, &end, 10);
	if (*end || size == 0 || size > BROADCAST_MAX_SIZE) {
		reply_text(p->conn, "push-refused");
		return;
	}
	if (!p->push && !(p->push = evtimer_new(srv.base, push_tick, p))) {
		reply_text(p->conn, "push-refused");
		return;
	}
	free(p->push_buf);
	if (!(p->push_buf = malloc(size))) {
		reply_text(p->conn, "push-refused");
		return;
	}
	memset(p->push_buf, 'p', size);
	p->push_size = size;
	p->push_left = count;
	p->push_bytes = 0;
	evtimer_add(p->push, &now);
}

/* "cmd:set:NAME:VALUE" */
static void
command_set(struct peer *p, const char *args)
{
	const char *v = strchr(args, ':');
	unsigned long long n;
	char *end, buf[128];

	if (!v || (n = strtoull(v + 1, &end, 10), *end) || end == v + 1) {
		reply_text(p->conn, "set-refused");
		return;
	}
	if (!strncmp(args, "max-out:", 8))
		wsev_connection_set_max_outgoing_buffer(p->conn, (size_t)n);
	else if (!strncmp(args, "max-payload:", 12))
		wsev_connection_set_max_incoming_payload_size(p->conn, n);
	else if (!strncmp(args, "max-message:", 12))
		wsev_connection_set_max_incoming_message_size(p->conn, n);
	else {
		reply_text(p->conn, "set-refused");
		return;
	}
	snprintf(buf, sizeof(buf), "set:%s", args);
	reply_text(p->conn, buf);
}

static void
on_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct peer *p = arg;

	st.messages++;
	st.message_bytes += len;
	if (len > st.largest_message)
		st.largest_message = len;
	if (type == WSEV_DATA_TEXT && len >= 4 && !memcmp(data, "cmd:", 4)) {
		if (!strncmp((const char *)data + 4, "push:", 5))
			command_push(p, (const char *)data + 9);
		else if (!strncmp((const char *)data + 4, "set:", 4))
			command_set(p, (const char *)data + 8);
		else
			reply_text(conn, "unknown-command");
		return;
	}
	sent(conn, wsev_connection_send_message(conn, type, data, len));
}

static void
on_error(struct wsev_connection *conn, const struct wsev_error *err,
    void *arg)
{
	int i;

	tt_server_error_cb(conn, err, arg);
	for (i = 0; i < st.nerrors; i++)
		if (st.errors[i].domain == (int)err->domain &&
		    st.errors[i].code == err->code)
			break;
	if (i == st.nerrors) {
		if (i == MAX_ERROR_KINDS) {
			st.errors_other++;
			return;
		}
		st.errors[i].domain = (int)err->domain;
		st.errors[i].code = err->code;
		st.nerrors++;
	}
	st.errors[i].count++;
}

static void
on_drain(struct wsev_connection *conn, void *arg)
{
	(void)conn;
	(void)arg;
	st.drains++;
}

static void
peer_free(struct peer *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		st.peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	if (p->push)
		event_free(p->push);
	free(p->push_buf);
	wsev_connection_free(p->conn);
	free(p);
	st.live--;
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	unsigned code = wsev_connection_get_close_code(conn);

	if (code <= MAX_CLOSE_CODE)
		st.close_codes[code]++;
	else
		st.close_other++;
	peer_free(arg);
}

static void
on_websocket(struct wsev_connection *conn, struct evhttp_request *req,
    void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message,
		.closed = on_closed,
		.error = on_error,
		.drain = on_drain,
	};
	struct peer *p = calloc(1, sizeof(*p));

	(void)req;
	(void)arg;
	if (!p) {
		fprintf(stderr, "hostile-server: out of memory\n");
		wsev_connection_free(conn);
		return;
	}
	p->conn = conn;
	p->next = st.peers;
	if (st.peers)
		st.peers->prev = p;
	st.peers = p;
	st.live++;
	st.opened++;
	if (opt.max_out_set)
		wsev_connection_set_max_outgoing_buffer(conn, opt.max_out);
	if (opt.max_payload_set)
		wsev_connection_set_max_incoming_payload_size(conn,
		    opt.max_payload);
	if (opt.max_message_set)
		wsev_connection_set_max_incoming_message_size(conn,
		    opt.max_message);
	if (opt.close_timeout_set)
		wsev_connection_set_close_timeout(conn, &opt.close_timeout);
	if (opt.sndbuf > 0) {
		int fd = bufferevent_getfd(wsev_connection_get_bufferevent(conn));

		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt.sndbuf,
			    sizeof(opt.sndbuf));
	}
	wsev_connection_set_callbacks(conn, &cbs, p);
}

/* VmRSS in KiB, or -1. */
static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static void
on_stats(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	struct peer *p;
	size_t max_out = opt.max_out_set ? opt.max_out :
	    WSEV_DEFAULT_MAX_OUTGOING_BUFFER;
	int i;

	(void)arg;
	if (!b) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
#ifdef __GLIBC__
	{
		const char *q = evhttp_uri_get_query(
		    evhttp_request_get_evhttp_uri(req));

		if (q && strstr(q, "trim=1"))
			malloc_trim(0);
	}
#endif
	/* The limit the connections really have, if there is one. */
	if (st.peers)
		max_out = wsev_connection_get_max_outgoing_buffer(
		    st.peers->conn);
	for (p = st.peers; p; p = p->next)
		note_buffered(p->conn);
	evbuffer_add_printf(b, "live %lu\nopened %lu\nrss_kb %ld\n"
	    "max_out %zu\nmax_buffered %zu\nsend_refused %lu\nmessages %lu\n"
	    "message_bytes %llu\nlargest_message %llu\ndrains %lu\n",
	    st.live, st.opened, rss_kb(), max_out, st.max_buffered,
	    st.send_refused, st.messages,
	    (unsigned long long)st.message_bytes,
	    (unsigned long long)st.largest_message, st.drains);
	for (i = 0; i <= MAX_CLOSE_CODE; i++)
		if (st.close_codes[i])
			evbuffer_add_printf(b, "close.%d %lu\n", i,
			    st.close_codes[i]);
	if (st.close_other)
		evbuffer_add_printf(b, "close.other %lu\n", st.close_other);
	for (i = 0; i < st.nerrors; i++)
		evbuffer_add_printf(b, "error.%d.%d %lu\n", st.errors[i].domain,
		    st.errors[i].code, st.errors[i].count);
	if (st.errors_other)
		evbuffer_add_printf(b, "error.other %lu\n", st.errors_other);
	tt_server_reply_text(req, b);
}

static void
on_broadcast(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq q;
	struct evbuffer *b;
	struct peer *p, *next;
	const char *msg, *v;
	unsigned char *data = NULL;
	unsigned long ok = 0, refused = 0, size = 0, count = 1, i;

	(void)arg;
	if (evhttp_parse_query_str(evhttp_uri_get_query(
	    evhttp_request_get_evhttp_uri(req)) ?
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)) : "",
	    &q) != 0) {
		evhttp_send_error(req, 400, "bad query");
		return;
	}
	msg = evhttp_find_header(&q, "msg");
	if ((v = evhttp_find_header(&q, "size")) != NULL)
		size = strtoul(v, NULL, 10);
	if ((v = evhttp_find_header(&q, "count")) != NULL)
		count = strtoul(v, NULL, 10);
	if ((!msg && (size == 0 || size > BROADCAST_MAX_SIZE)) ||
	    count == 0 || count > BROADCAST_MAX_COUNT ||
	    (!msg && !(data = malloc(size))) || !(b = evbuffer_new())) {
		evhttp_clear_headers(&q);
		free(data);
		evhttp_send_error(req, 400, "bad broadcast");
		return;
	}
	if (data)
		memset(data, 'b', size);
	/* A refused send fails that connection; "closed" comes later, from
	 * the loop, so the list stays as it is while we walk it. */
	for (p = st.peers; p; p = next) {
		next = p->next;
		for (i = 0; i < count; i++) {
			if (wsev_connection_get_state(p->conn) !=
			    WSEV_STATE_OPEN)
				break;
			if (sent(p->conn, msg ?
			    wsev_connection_send_text(p->conn, msg) :
			    wsev_connection_send_binary(p->conn, data,
			    size)) < 0) {
				refused++;
				break;
			}
			ok++;
		}
	}
	evhttp_clear_headers(&q);
	free(data);
	evbuffer_add_printf(b, "sent %lu refused %lu\n", ok, refused);
	tt_server_reply_text(req, b);
}

static void
on_sample(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p;

	(void)fd;
	(void)what;
	(void)arg;
	for (p = st.peers; p; p = p->next)
		note_buffered(p->conn);
}

static int
usage(void)
{
	fprintf(stderr, "usage: hostile-server [--tls CERT KEY] "
	    "[--guard-ms N] [--http-timeout S] [--max-out N]\n"
	    "       [--max-payload N] [--max-message N] "
	    "[--close-timeout-ms N] [--sample-ms N] [--push-cap N] [--sndbuf N]\n");
	return 2;
}

static int
number(const char *s, unsigned long long *n)
{
	char *end;

	errno = 0;
	*n = strtoull(s, &end, 10);
	return (end == s || *end || errno || *s == '-') ? -1 : 0;
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	struct wsev_handler *route;
	struct event *sampler = NULL;
	struct timeval tv;
	unsigned long long n, guard_ms = 0, http_timeout = 10, sample_ms = 0;
	int i, rc = 0;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
			continue;
		}
		if (i + 1 >= argc || number(argv[++i], &n) < 0)
			return usage();
		if (!strcmp(o, "--guard-ms")) {
			guard_ms = n;
		} else if (!strcmp(o, "--http-timeout") && n > 0) {
			http_timeout = n;
		} else if (!strcmp(o, "--max-out")) {
			opt.max_out = (size_t)n;
			opt.max_out_set = 1;
		} else if (!strcmp(o, "--max-payload")) {
			opt.max_payload = n;
			opt.max_payload_set = 1;
		} else if (!strcmp(o, "--max-message")) {
			opt.max_message = n;
			opt.max_message_set = 1;
		} else if (!strcmp(o, "--close-timeout-ms") && n > 0) {
			opt.close_timeout.tv_sec = (long)(n / 1000);
			opt.close_timeout.tv_usec = (long)(n % 1000) * 1000;
			opt.close_timeout_set = 1;
		} else if (!strcmp(o, "--sample-ms")) {
			sample_ms = n;
		} else if (!strcmp(o, "--push-cap") && n > 0) {
			opt.push_cap = n;
		} else if (!strcmp(o, "--sndbuf") && n > 0 && n <= 1 << 30) {
			opt.sndbuf = (int)n;
		} else {
			return usage();
		}
	}
	if (tt_server_init(&srv, "hostile-server", cert, key) < 0)
		return 1;
	if (guard_ms) {
		tv.tv_sec = (long)(guard_ms / 1000);
		tv.tv_usec = (long)(guard_ms % 1000) * 1000;
		if (!(srv.guard = wsev_guard_new(srv.http, &tv, srv.ctx))) {
			fprintf(stderr, "hostile-server: cannot make the guard\n");
			return 1;
		}
	}
	evhttp_set_timeout(srv.http, (int)http_timeout);
	evhttp_set_max_headers_size(srv.http, 16384);
	evhttp_set_max_body_size(srv.http, 16384);
	route = wsev_server_add_handler(srv.http, "/", NULL, NULL,
	    on_websocket, NULL);
	if (evhttp_set_cb(srv.http, "/stats", on_stats, NULL) != 0 ||
	    evhttp_set_cb(srv.http, "/broadcast", on_broadcast, NULL) != 0 ||
	    evhttp_set_cb(srv.http, "/health", tt_server_health_cb, NULL) != 0)
		route = NULL;
	if (!route || tt_server_listen(&srv) < 0) {
		fprintf(stderr, "hostile-server: cannot listen on 127.0.0.1\n");
		return 1;
	}
	/* evhttp listens with a backlog of 128: a burst of connections
	 * would wait for SYN retries. */
	if (listen(evhttp_bound_socket_get_fd(srv.sock), 4096) != 0)
		fprintf(stderr, "hostile-server: listen: %s\n", strerror(errno));
	if (sample_ms) {
		tv.tv_sec = (long)(sample_ms / 1000);
		tv.tv_usec = (long)(sample_ms % 1000) * 1000;
		sampler = event_new(srv.base, -1, EV_PERSIST, on_sample, NULL);
		if (!sampler || event_add(sampler, &tv) != 0) {
			fprintf(stderr, "hostile-server: cannot set up the "
			    "loop\n");
			rc = 1;
		}
	}
	if (rc == 0)
		rc = tt_server_run(&srv);

	if (sampler)
		event_free(sampler);
	wsev_server_remove_handler(route);
	tt_server_free(&srv);
	/* Every WebSocket is gone: "closed" freed each one. */
	if (st.live != 0) {
		fprintf(stderr, "hostile-server: %lu WebSockets left after "
		    "the route was removed\n", st.live);
		rc = 1;
	}
	return rc;
}
