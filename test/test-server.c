/*
 * WebSocket routes inside an evhttp server (lib/server.c): the take-over
 * from evhttp on every path. Clients here do the HTTP handshake by hand on
 * a bufferevent (plain or TLS), then wrap it as a wsev client connection.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev/wsev.h"
#include "tt.h"
#include "tt-ev.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include <openssl/ssl.h>

#define MAX_CLIENTS 128
#define MAX_STREAMS 8

struct world;

/* A streamed HTTP answer (the guard's tests): chunks on a timer. */
struct stream {
	struct world *w;
	struct evhttp_request *req;
	struct event *timer;
	int sent, total;	/* chunks sent, chunks to send */
	int closecb_calls;	/* the app's close callback */
	int sent_after_close;	/* chunks the app tried after it */
};

struct client {
	struct world *w;
	struct bufferevent *bev;
	struct wsev_connection *conn;
	int upgraded, refused, messages, closed, errors;
	int eof;		/* the raw socket saw EOF or an error */
	int reset;		/* ... an error (a reset, writing) */
	unsigned short close_code;
	char last[64];
};

struct world {
	struct event_base *base;
	struct evhttp *http;
	struct wsev_handler *route;
	int port;
	int tls;
	int guard_ms;		/* > 0: a wsev_guard with this deadline */
	struct wsev_guard *guard;
	int free_on_open;	/* the route frees each connection at once */
	int changelist;		/* epoll with EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST */
	int remove_in_cb;	/* the route removes itself in its callback */
	int hold_bev;		/* the app keeps a bufferevent reference */
	struct bufferevent *held;
	int held_fd;
	struct event *stop_http;	/* /up activates it before upgrading */
	struct stream streams[MAX_STREAMS];
	int nstreams;
	SSL_CTX *sctx, *cctx;
	int server_open, server_closed, server_errors;
	unsigned short server_last_code;
	struct wsev_connection *server_conns[MAX_CLIENTS];
	int nserver;
	struct client clients[MAX_CLIENTS];
	struct tt_watch watch;
};

#define RUN_UNTIL(w, cond, secs) TT_RUN_UNTIL(&(w)->watch, cond, secs)

/* ------------------------------------------------------------------ */
/* Server side: an echo route and a plain HTTP route */

static void
srv_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct world *w = arg;

	if (w->hold_bev && !w->held) {
		w->held = wsev_connection_get_bufferevent(c);
		bufferevent_incref(w->held);
		w->held_fd = bufferevent_getfd(w->held);
	}
	if (type == WSEV_DATA_TEXT)
		wsev_connection_send_text(c, data);
	else
		wsev_connection_send_binary(c, data, len);
}

static void
srv_error(struct wsev_connection *c, const struct wsev_error *err, void *arg)
{
	struct world *w = arg;

	(void)c;
	(void)err;
	w->server_errors++;
}

static void
srv_closed(struct wsev_connection *c, void *arg)
{
	struct world *w = arg;
	int i;

	w->server_closed++;
	w->server_last_code = wsev_connection_get_close_code(c);
	for (i = 0; i < w->nserver; i++)
		if (w->server_conns[i] == c)
			w->server_conns[i] = NULL;
	wsev_connection_free(c);
}

static void
srv_ws(struct wsev_connection *c, struct evhttp_request *req, void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = srv_message, .closed = srv_closed, .error = srv_error
	};
	struct world *w = arg;

	CHECK(evhttp_request_get_connection(req) != NULL);
	w->server_open++;
	if (w->remove_in_cb) {
		wsev_server_remove_handler(w->route);
		w->route = NULL;
	}
	if (w->free_on_open) {
		wsev_connection_free(c);
		return;
	}
	if (w->nserver < MAX_CLIENTS)
		w->server_conns[w->nserver++] = c;
	wsev_connection_set_callbacks(c, &cbs, w);
}

/* wsev_server_upgrade() on an evhttp route of the application's own. */
static void
srv_up(struct evhttp_request *req, void *arg)
{
	struct world *w = arg;
	struct wsev_connection *c;

	if (w->stop_http)	/* runs right after this callback */
		event_active(w->stop_http, EV_TIMEOUT, 1);
	c = wsev_server_upgrade(req, NULL, NULL, NULL);
	if (!c)
		return;
	/* The request is the caller's until its callback returns. */
	CHECK_STR(evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Host"), "localhost");
	srv_ws(c, req, w);
}

static void
srv_health(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	(void)arg;
	evbuffer_add_printf(b, "ok");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* /stream: 10 chunks 200 ms apart, then the end (the guard's deadline
 * falls in the middle). /forever: a chunk every 100 ms for 10 s, with a
 * close callback on the connection that stops it. /longpoll: the answer
 * is held 1.5 s, then sent whole. */
static void
stream_tick(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;
	struct timeval tv = { 0, st->total == 10 ? 200000 : 100000 };
	struct evbuffer *b;

	(void)fd;
	(void)what;
	if (st->closecb_calls) {
		st->sent_after_close++;
		return;
	}
	if (st->total == 0) {	/* the long poll */
		b = evbuffer_new();
		evbuffer_add_printf(b, "late answer");
		evhttp_send_reply(st->req, 200, "OK", b);
		evbuffer_free(b);
		st->req = NULL;
		return;
	}
	if (st->sent == st->total) {
		evhttp_send_reply_end(st->req);
		st->req = NULL;
		return;
	}
	b = evbuffer_new();
	evbuffer_add_printf(b, "chunk-%d;", st->sent++);
	evhttp_send_reply_chunk(st->req, b);
	evbuffer_free(b);
	evtimer_add(st->timer, &tv);
}

static void
stream_closecb(struct evhttp_connection *evcon, void *arg)
{
	struct stream *st = arg;

	(void)evcon;
	if (st->closecb_calls++ == 0 && st->req) {
		/* The request was taken off the dropped connection: ending
		 * the reply frees it. */
		evtimer_del(st->timer);
		evhttp_send_reply_end(st->req);
		st->req = NULL;
	}
}

static struct stream *
stream_new(struct world *w, struct evhttp_request *req, int total)
{
	struct stream *st;

	if (w->nstreams == MAX_STREAMS) {
		evhttp_send_error(req, 503, NULL);
		return NULL;
	}
	st = &w->streams[w->nstreams++];
	st->w = w;
	st->req = req;
	st->total = total;
	st->timer = evtimer_new(w->base, stream_tick, st);
	return st;
}

static void
srv_stream(struct evhttp_request *req, void *arg)
{
	struct stream *st = stream_new(arg, req, 10);

	if (!st)
		return;
	evhttp_send_reply_start(req, 200, "OK");
	stream_tick(-1, 0, st);
}

static void
srv_forever(struct evhttp_request *req, void *arg)
{
	struct stream *st = stream_new(arg, req, 100);

	if (!st)
		return;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    stream_closecb, st);
	evhttp_send_reply_start(req, 200, "OK");
	stream_tick(-1, 0, st);
}

static void
srv_longpoll(struct evhttp_request *req, void *arg)
{
	struct stream *st = stream_new(arg, req, 0);
	struct timeval tv = { 1, 500000 };

	if (st)
		evtimer_add(st->timer, &tv);
}

static struct bufferevent *
tls_bevcb(struct event_base *base, void *arg)
{
	struct world *w = arg;

	return bufferevent_openssl_socket_new(base, -1, SSL_new(w->sctx),
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static int
world_start_http(struct world *w)
{
	struct evhttp_bound_socket *b;

	w->http = evhttp_new(w->base);
	if (w->guard_ms > 0) {
		struct timeval tv = { w->guard_ms / 1000,
		    (w->guard_ms % 1000) * 1000 };

		w->guard = wsev_guard_new(w->http, &tv,
		    w->tls ? w->sctx : NULL);
		if (!w->guard)
			return -1;
	} else if (w->tls) {
		evhttp_set_bevcb(w->http, tls_bevcb, w);
	}
	evhttp_set_timeout(w->http, 1);	/* stalled handshakes */
	w->route = wsev_server_add_handler(w->http, "/ws", NULL, NULL, srv_ws, w);
	evhttp_set_cb(w->http, "/health", srv_health, w);
	evhttp_set_cb(w->http, "/up", srv_up, w);
	evhttp_set_cb(w->http, "/stream", srv_stream, w);
	evhttp_set_cb(w->http, "/forever", srv_forever, w);
	evhttp_set_cb(w->http, "/longpoll", srv_longpoll, w);
	b = evhttp_bind_socket_with_handle(w->http, "127.0.0.1", 0);
	if (!w->route || !b)
		return -1;
	w->port = tt_bound_port(evhttp_bound_socket_get_fd(b));
	return 0;
}

static int
world_start_with(struct world *w, int tls, int guard_ms, int changelist)
{
	memset(w, 0, sizeof(*w));
	w->tls = tls;
	w->guard_ms = guard_ms;
	if (changelist) {
		struct event_config *cfg = event_config_new();

		event_config_require_features(cfg, 0);
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		w->changelist = 1;
		w->base = event_base_new_with_config(cfg);
		event_config_free(cfg);
	} else {
		w->base = event_base_new();
	}
	tt_watch_init(&w->watch, w->base);
	if (tls && tt_tls_make(&w->sctx, &w->cctx, NULL, 0) < 0)
		return -1;
	return world_start_http(w);
}

static int
world_start_guarded(struct world *w, int tls, int guard_ms)
{
	return world_start_with(w, tls, guard_ms, 0);
}

static int
world_start(struct world *w, int tls)
{
	return world_start_guarded(w, tls, 0);
}

static void
world_stop_http(struct world *w)
{
	if (!w->http)
		return;
	wsev_server_remove_handler(w->route);
	evhttp_free(w->http);
	w->http = NULL;
	wsev_guard_free(w->guard);
	w->guard = NULL;
}

static void
world_stop(struct world *w)
{
	int i;

	for (i = 0; i < MAX_CLIENTS; i++) {
		wsev_connection_free(w->clients[i].conn);
		if (w->clients[i].bev)
			bufferevent_free(w->clients[i].bev);
	}
	world_stop_http(w);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	for (i = 0; i < w->nstreams; i++)
		event_free(w->streams[i].timer);
	if (w->stop_http)
		event_free(w->stop_http);
	tt_watch_free(&w->watch);
	event_base_free(w->base);
	SSL_CTX_free(w->sctx);
	SSL_CTX_free(w->cctx);
}

/* ------------------------------------------------------------------ */
/* Client side: a hand-made handshake, then wsev */

static void
cl_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct client *cl = arg;

	(void)c;
	(void)type;
	cl->messages++;
	snprintf(cl->last, sizeof(cl->last), "%.*s", (int)(len < 60 ? len : 60),
	    (const char *)data);
}

static void
cl_error(struct wsev_connection *c, const struct wsev_error *err, void *arg)
{
	struct client *cl = arg;

	(void)c;
	(void)err;
	cl->errors++;
}

static void
cl_closed(struct wsev_connection *c, void *arg)
{
	struct client *cl = arg;

	cl->closed++;
	cl->close_code = wsev_connection_get_close_code(c);
}

static void
cl_read(struct bufferevent *bev, void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = cl_message, .closed = cl_closed, .error = cl_error
	};
	struct client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);

	if (end.pos < 0)
		return;
	if (strncmp((char *)evbuffer_pullup(in, 12), "HTTP/1.1 101", 12) != 0) {
		cl->refused = 1;
		return;
	}
	/* The bytes after the headers stay: the connection processes them. */
	evbuffer_drain(in, (size_t)end.pos + 4);
	cl->bev = NULL;
	cl->conn = wsev_connection_new(bev, NULL, WSEV_CONNECTION_CLIENT, NULL,
	    NULL);
	if (!cl->conn) {
		cl->bev = bev;
		return;
	}
	wsev_connection_set_max_incoming_payload_size(cl->conn, 0);
	wsev_connection_set_callbacks(cl->conn, &cbs, cl);
	cl->upgraded = 1;
}

static void
cl_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *cl = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		cl->refused = 1;
		cl->eof = 1;
		cl->reset |= !!(what & BEV_EVENT_ERROR);
	}
}

#define HANDSHAKE(path) "GET " path " HTTP/1.1\r\nHost: localhost\r\n" \
	"Upgrade: websocket\r\nConnection: Upgrade\r\n" \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
	"Sec-WebSocket-Version: 13\r\n\r\n"

/* Connect client i and write the request (and any extra bytes). */
static struct client *
client_start(struct world *w, int i, const char *request, const void *extra,
    size_t extra_len)
{
	struct client *cl = &w->clients[i];
	struct sockaddr_in sin;
	struct evbuffer *all = evbuffer_new();

	memset(cl, 0, sizeof(*cl));
	cl->w = w;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)w->port);
	if (w->tls)
		cl->bev = bufferevent_openssl_socket_new(w->base, -1,
		    SSL_new(w->cctx), BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE);
	else
		cl->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(cl->bev, cl_read, NULL, cl_event, cl);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	bufferevent_socket_connect(cl->bev, (struct sockaddr *)&sin, sizeof(sin));
	/* One write: request and extra bytes arrive together. */
	evbuffer_add(all, request, strlen(request));
	if (extra_len)
		evbuffer_add(all, extra, extra_len);
	bufferevent_write_buffer(cl->bev, all);
	evbuffer_free(all);
	return cl;
}

/* A plain HTTP GET /health; returns 1 if it answered 200 "ok". */
static int
health(struct world *w)
{
	struct client *cl = client_start(w, MAX_CLIENTS - 1,
	    "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL, 0);
	struct evbuffer *in;
	int ok;

	RUN_UNTIL(w, cl->refused, 3);	/* until the server closes */
	in = bufferevent_get_input(cl->bev);
	/* Over TLS only the status line is checked: evhttp 2.1 frees a
	 * "Connection: close" TLS connection before its body record is out
	 * (the client sees the headers, then a dirty close); plain HTTP on
	 * evhttp, not the WebSocket path. */
	ok = evbuffer_get_length(in) > 12 &&
	    !strncmp((char *)evbuffer_pullup(in, -1), "HTTP/1.1 200", 12) &&
	    (w->tls || evbuffer_search(in, "\r\n\r\nok", 6, NULL).pos >= 0);
	if (!ok)
		printf("  health: %zu bytes: %.*s\n", evbuffer_get_length(in),
		    (int)evbuffer_get_length(in), (char *)evbuffer_pullup(in, -1));
	bufferevent_free(cl->bev);
	cl->bev = NULL;
	return ok;
}

/* ------------------------------------------------------------------ */

static void
echo_and_close(struct world *w)
{
	struct client *cl;

	CHECK(health(w));
	cl = client_start(w, 0, HANDSHAKE("/ws"), NULL, 0);
	RUN_UNTIL(w, cl->upgraded || cl->refused, 3);
	REQUIRE(cl->upgraded);
	CHECK_INT(w->server_open, ==, 1);
	CHECK(health(w));	/* HTTP still answers while a WebSocket is open */
	CHECK_INT(wsev_connection_send_text(cl->conn, "hello"), ==, 0);
	RUN_UNTIL(w, cl->messages == 1, 3);
	CHECK_STR(cl->last, "hello");
	CHECK_INT(wsev_connection_close(cl->conn, 1000, "bye"), ==, 0);
	RUN_UNTIL(w, cl->closed && w->server_closed, 3);
	CHECK_INT(cl->close_code, ==, 1000);
	CHECK_INT(w->server_last_code, ==, 1000);
	CHECK_INT(cl->errors + w->server_errors, ==, 0);
	CHECK(health(w));	/* and after */
}

static void
test_echo_and_close(void)
{
	struct world w;

	REQUIRE(world_start(&w, 0) == 0);
	echo_and_close(&w);
	world_stop(&w);
}

static void
test_tls(void)
{
	struct world w;

	REQUIRE(world_start(&w, 1) == 0);
	echo_and_close(&w);
	world_stop(&w);
}

/* A masked text frame "early" written in the same packet as the request. */
static void
test_bytes_behind_handshake(void)
{
	static const uint8_t frame[] = { 0x81, 0x85, 1, 2, 3, 4,
		'e' ^ 1, 'a' ^ 2, 'r' ^ 3, 'l' ^ 4, 'y' ^ 1 };
	struct world w;
	struct client *cl;

	REQUIRE(world_start(&w, 0) == 0);
	cl = client_start(&w, 0, HANDSHAKE("/ws"), frame, sizeof(frame));
	RUN_UNTIL(&w, cl->messages == 1 || cl->refused, 3);
	CHECK_INT(cl->messages, ==, 1);
	CHECK_STR(cl->last, "early");
	world_stop(&w);
}

static void
test_server_closes(void)
{
	struct world w;
	struct client *cl;

	REQUIRE(world_start(&w, 0) == 0);
	cl = client_start(&w, 0, HANDSHAKE("/ws"), NULL, 0);
	RUN_UNTIL(&w, cl->upgraded && w.nserver == 1, 3);
	REQUIRE(w.server_conns[0] != NULL);
	CHECK_INT(wsev_connection_close(w.server_conns[0], 1001, "restart"), ==, 0);
	RUN_UNTIL(&w, cl->closed && w.server_closed, 3);
	CHECK_INT(cl->close_code, ==, 1001);
	CHECK_INT(w.server_last_code, ==, 1001);
	CHECK_INT(cl->errors, ==, 0);
	world_stop(&w);
}

/* Upgrade and close, 1000 times (20 at a time); HTTP answers after. */
static void
test_cycles(void)
{
	struct world w;
	int round, i, upgraded = 0, closed = 0;

	REQUIRE(world_start(&w, 0) == 0);
	for (round = 0; round < 50; round++) {
		for (i = 0; i < 20; i++)
			client_start(&w, i, HANDSHAKE("/ws"), NULL, 0);
		RUN_UNTIL(&w, w.server_open == (round + 1) * 20, 5);
		for (i = 0; i < 20; i++) {
			struct client *cl = &w.clients[i];
			RUN_UNTIL(&w, cl->upgraded || cl->refused, 3);
			if (cl->upgraded) {
				upgraded++;
				wsev_connection_close(cl->conn, 1000, NULL);
			}
		}
		RUN_UNTIL(&w, w.server_closed == (round + 1) * 20, 5);
		for (i = 0; i < 20; i++) {
			struct client *cl = &w.clients[i];
			RUN_UNTIL(&w, cl->closed, 3);
			closed += cl->closed && cl->close_code == 1000;
			wsev_connection_free(cl->conn);
			cl->conn = NULL;
		}
		w.nserver = 0;
	}
	CHECK_INT(upgraded, ==, 1000);
	CHECK_INT(closed, ==, 1000);
	CHECK_INT(w.server_closed, ==, 1000);
	CHECK_INT(w.server_errors, ==, 0);
	CHECK(health(&w));
	world_stop(&w);
}

/* evhttp_free with 100 WebSockets open: each is told 1001 "going away",
 * ends with "closed" (no error), nothing leaks, and a new server on the
 * base answers. */
static void
test_evhttp_free_with_open_websockets(void)
{
	struct world w;
	int i, upgraded = 0, client_closed = 0;

	REQUIRE(world_start(&w, 0) == 0);
	for (i = 0; i < 100; i++)
		client_start(&w, i, HANDSHAKE("/ws"), NULL, 0);
	RUN_UNTIL(&w, w.server_open == 100, 5);
	for (i = 0; i < 100; i++) {
		RUN_UNTIL(&w, w.clients[i].upgraded || w.clients[i].refused, 3);
		upgraded += w.clients[i].upgraded;
	}
	CHECK_INT(upgraded, ==, 100);
	world_stop_http(&w);
	CHECK_INT(w.server_closed, ==, 100);
	CHECK_INT(w.server_errors, ==, 0);
	CHECK_INT(w.server_last_code, ==, 1001);
	for (i = 0; i < 100; i++) {
		RUN_UNTIL(&w, w.clients[i].closed, 3);
		client_closed += w.clients[i].closed &&
		    w.clients[i].close_code == 1001;
	}
	CHECK_INT(client_closed, ==, 100);
	REQUIRE(world_start_http(&w) == 0);
	CHECK(health(&w));
	world_stop(&w);
}

/* A handshake trickled and never finished is dropped by evhttp's timeout
 * (1 s here); the server keeps answering. */
static void
test_stalled_handshake(void)
{
	struct world w;
	struct client *cl;

	REQUIRE(world_start(&w, 0) == 0);
	cl = client_start(&w, 0, "GET /ws HTTP/1.1\r\nHost: loc", NULL, 0);
	RUN_UNTIL(&w, cl->refused, 4);
	CHECK(cl->refused);
	CHECK_INT(w.server_open, ==, 0);
	CHECK(health(&w));
	world_stop(&w);
}

/* A refused handshake on the route: 400, and the server closes. */
static void
test_refused(void)
{
	struct world w;
	struct client *cl;

	REQUIRE(world_start(&w, 0) == 0);
	cl = client_start(&w, 0, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0);
	RUN_UNTIL(&w, cl->refused, 3);
	CHECK(cl->refused);
	CHECK(!cl->upgraded);
	CHECK_INT(w.server_open, ==, 0);
	CHECK(health(&w));
	world_stop(&w);
}

/* The same over TLS: the close frame goes out as a TLS record, then
 * close_notify. */
static void
test_evhttp_free_tls(void)
{
	struct world w;
	int i, client_closed = 0;

	REQUIRE(world_start(&w, 1) == 0);
	for (i = 0; i < 10; i++)
		client_start(&w, i, HANDSHAKE("/ws"), NULL, 0);
	RUN_UNTIL(&w, w.server_open == 10, 5);
	for (i = 0; i < 10; i++)
		RUN_UNTIL(&w, w.clients[i].upgraded || w.clients[i].refused, 3);
	world_stop_http(&w);
	CHECK_INT(w.server_closed, ==, 10);
	CHECK_INT(w.server_last_code, ==, 1001);
	for (i = 0; i < 10; i++) {
		RUN_UNTIL(&w, w.clients[i].closed, 3);
		client_closed += w.clients[i].closed &&
		    w.clients[i].close_code == 1001;
	}
	CHECK_INT(client_closed, ==, 10);
	world_stop(&w);
}

/* ------------------------------------------------------------------ */
/* Letting go of evhttp (the top of lib/server.c) */

/* The process's open descriptors. */
static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own */
}

/* Clients first..first+n-1 with @p request, each upgraded and echoed
 * once; returns how many were. */
static int
open_echoed(struct world *w, const char *request, int first, int n)
{
	int i, ok = 0;

	for (i = first; i < first + n; i++)
		client_start(w, i, request, NULL, 0);
	for (i = first; i < first + n; i++) {
		RUN_UNTIL(w, w->clients[i].upgraded || w->clients[i].refused, 3);
		if (w->clients[i].upgraded)
			wsev_connection_send_text(w->clients[i].conn, "one");
	}
	for (i = first; i < first + n; i++) {
		RUN_UNTIL(w, w->clients[i].messages == 1 ||
		    w->clients[i].closed, 3);
		ok += w->clients[i].messages == 1;
	}
	return ok;
}

/*
 * wsev_server_upgrade()'s connections are evhttp's no more once the loop
 * has let go: evhttp_free() leaves them working (they echo, and close
 * with 1000 as usual); evhttp answers HTTP before that. Over TLS the
 * session goes on on the new descriptor; with the guard, whose
 * bufferevents close their descriptor on free, and without, where evhttp
 * closes it.
 */
static void
let_go_outlives_evhttp(int tls, int guard_ms)
{
	struct world w;
	int i, echoed = 0, closed = 0;

	REQUIRE(world_start_guarded(&w, tls, guard_ms) == 0);
	CHECK_INT(open_echoed(&w, HANDSHAKE("/up"), 0, 5), ==, 5);
	CHECK(health(&w));
	world_stop_http(&w);
	CHECK_INT(w.server_closed, ==, 0);
	for (i = 0; i < 5; i++)
		wsev_connection_send_text(w.clients[i].conn, "two");
	for (i = 0; i < 5; i++) {
		RUN_UNTIL(&w, w.clients[i].messages == 2, 3);
		echoed += w.clients[i].messages == 2 &&
		    !strcmp(w.clients[i].last, "two");
		wsev_connection_close(w.clients[i].conn, 1000, NULL);
	}
	CHECK_INT(echoed, ==, 5);
	RUN_UNTIL(&w, w.server_closed == 5, 3);
	for (i = 0; i < 5; i++) {
		RUN_UNTIL(&w, w.clients[i].closed, 3);
		closed += w.clients[i].close_code == 1000;
	}
	CHECK_INT(closed, ==, 5);
	CHECK_INT(w.server_last_code, ==, 1000);
	CHECK_INT(w.server_errors, ==, 0);
	world_stop(&w);
}

static void
test_let_go_plain(void)
{
	let_go_outlives_evhttp(0, 0);
}

static void
test_let_go_tls(void)
{
	let_go_outlives_evhttp(1, 0);
}

static void
test_let_go_guarded(void)
{
	let_go_outlives_evhttp(0, 30000);
}

static void
test_let_go_guarded_tls(void)
{
	let_go_outlives_evhttp(1, 30000);
}

static void
stop_http_now(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	world_stop_http(arg);
}

/* evhttp_free() between wsev_server_upgrade()'s callback and the loop's
 * letting go: evhttp still has the connection, and ends it. Its 101 is
 * still queued, so no close frame can follow: the transport drops (1006,
 * an error), the client sees the socket close, nothing leaks. */
static void
test_let_go_evhttp_free_first(void)
{
	struct world w;
	struct client *cl;

	REQUIRE(world_start(&w, 0) == 0);
	w.stop_http = event_new(w.base, -1, 0, stop_http_now, &w);
	cl = client_start(&w, 0, HANDSHAKE("/up"), NULL, 0);
	RUN_UNTIL(&w, w.server_closed == 1, 3);
	CHECK_INT(w.server_open, ==, 1);
	CHECK_INT(w.server_last_code, ==, 1006);
	CHECK_INT(w.server_errors, ==, 1);
	RUN_UNTIL(&w, cl->eof, 3);
	CHECK(cl->eof && !cl->upgraded);
	world_stop(&w);
}

/*
 * Descriptors: every connection's socket is closed exactly once, and the
 * stand-in put under evhttp's old number too, on every owner: evhttp's
 * own bufferevent (evhttp closes the stand-in), a bevcb's with
 * BEV_OPT_CLOSE_ON_FREE (we do), routes and wsev_server_upgrade(), the
 * client closing or the route removed.
 */
static void
let_go_descriptors(int tls)
{
	struct world w;
	int before, round, i, closed = 0;

	REQUIRE(world_start(&w, tls) == 0);
	CHECK(health(&w));	/* evhttp's and OpenSSL's first allocations */
	before = open_fds();	/* until evhttp has closed health's socket */
	RUN_UNTIL(&w, open_fds() < before, 1);
	before = open_fds();
	for (round = 0; round < 4; round++) {
		CHECK_INT(open_echoed(&w, round % 2 ? HANDSHAKE("/up") :
		    HANDSHAKE("/ws"), 0, 10), ==, 10);
		for (i = 0; i < 10; i++)
			wsev_connection_close(w.clients[i].conn, 1000, NULL);
		for (i = 0; i < 10; i++) {
			RUN_UNTIL(&w, w.clients[i].closed, 3);
			closed += w.clients[i].close_code == 1000;
			wsev_connection_free(w.clients[i].conn);
			w.clients[i].conn = NULL;
		}
		RUN_UNTIL(&w, w.server_closed == 10 * (round + 1), 3);
	}
	CHECK_INT(closed, ==, 40);
	RUN_UNTIL(&w, open_fds() == before, 3);
	CHECK_INT(open_fds(), ==, before);
	/* The route removed with WebSockets open: 1001, descriptors back. */
	CHECK_INT(open_echoed(&w, HANDSHAKE("/ws"), 0, 10), ==, 10);
	wsev_server_remove_handler(w.route);
	w.route = NULL;
	CHECK_INT(w.server_closed, ==, 50);
	CHECK_INT(w.server_last_code, ==, 1001);
	for (i = 0, closed = 0; i < 10; i++) {
		RUN_UNTIL(&w, w.clients[i].closed, 3);
		closed += w.clients[i].close_code == 1001;
		wsev_connection_free(w.clients[i].conn);
		w.clients[i].conn = NULL;
	}
	CHECK_INT(closed, ==, 10);
	RUN_UNTIL(&w, open_fds() == before, 3);
	CHECK_INT(open_fds(), ==, before);
	world_stop(&w);
}

static void
test_let_go_descriptors(void)
{
	let_go_descriptors(0);
}

static void
test_let_go_descriptors_tls(void)
{
	let_go_descriptors(1);
}

/* A taken TLS socket is closed exactly once, also when its bufferevent
 * (BEV_OPT_CLOSE_ON_FREE) outlives the connection: OpenSSL's BIO must not
 * close the number again once it is someone else's. */
static void
let_go_tls_fd_once(const char *path)
{
	struct world w;
	struct client *cl;
	int p[2];

	REQUIRE(world_start(&w, 1) == 0);
	w.hold_bev = 1;
	cl = client_start(&w, 0, path, NULL, 0);
	RUN_UNTIL(&w, cl->upgraded || cl->refused, 3);
	REQUIRE(cl->upgraded);
	wsev_connection_send_text(cl->conn, "one");
	RUN_UNTIL(&w, cl->messages == 1, 3);
	REQUIRE(w.held != NULL);
	wsev_connection_close(cl->conn, 1000, NULL);
	RUN_UNTIL(&w, w.server_closed == 1, 3);
	/* The socket is closed: its number is anybody's now. */
	REQUIRE(pipe(p) == 0);
	REQUIRE(dup2(p[0], w.held_fd) == w.held_fd);
	bufferevent_decref(w.held);
	event_base_loop(w.base, EVLOOP_NONBLOCK);
	CHECK(fcntl(w.held_fd, F_GETFD) >= 0);	/* still our pipe? */
	close(w.held_fd);
	close(p[0]);
	close(p[1]);
	world_stop(&w);
}

/* A route that removes itself in its own callback: the handler goes once
 * the callback has returned (not under it), and the new connection, one
 * of the route's, is ended like the others: its 101 is still queued, so
 * the transport drops (1006) rather than carry a 1001 behind it. */
static void
test_route_removed_in_callback(void)
{
	struct world w;
	struct client *cl;

	REQUIRE(world_start(&w, 0) == 0);
	w.remove_in_cb = 1;
	cl = client_start(&w, 0, HANDSHAKE("/ws"), NULL, 0);
	RUN_UNTIL(&w, cl->closed || cl->eof, 3);
	CHECK(cl->closed || cl->eof);
	CHECK_INT(w.server_open, ==, 1);
	CHECK_INT(w.server_closed, ==, 1);
	CHECK(w.server_last_code == 1001 || w.server_last_code == 1006);
	world_stop(&w);
}

static void
test_let_go_tls_fd_once_route(void)
{
	let_go_tls_fd_once(HANDSHAKE("/ws"));
}

static void
test_let_go_tls_fd_once_up(void)
{
	let_go_tls_fd_once(HANDSHAKE("/up"));
}

/* epoll with a changelist: evhttp keeps the connections (see lib/server.c),
 * which work as before and end with 1001 at evhttp_free(). */
static void
test_let_go_changelist(void)
{
	struct world w;
	int i, closed = 0;

	REQUIRE(world_start_with(&w, 0, 0, 1) == 0);
	if (strcmp(event_base_get_method(w.base), "epoll (with changelist)")) {
		printf("  (no epoll here: %s)\n", event_base_get_method(w.base));
		world_stop(&w);
		return;
	}
	CHECK_INT(open_echoed(&w, HANDSHAKE("/ws"), 0, 3) +
	    open_echoed(&w, HANDSHAKE("/up"), 3, 3), ==, 6);
	world_stop_http(&w);	/* the route's leave them to evhttp_free() */
	CHECK_INT(w.server_closed, ==, 6);
	CHECK_INT(w.server_last_code, ==, 1001);
	for (i = 0; i < 6; i++) {
		RUN_UNTIL(&w, w.clients[i].closed, 3);
		closed += w.clients[i].close_code == 1001;
	}
	CHECK_INT(closed, ==, 6);
	world_stop(&w);
}

/* ------------------------------------------------------------------ */
/* The request deadline (wsev_guard) */

struct trickle {
	struct client *cl;
	struct event *ev;
	const char *text;
	size_t sent;
};

static void
trickle_one(evutil_socket_t fd, short what, void *arg)
{
	struct trickle *t = arg;
	struct timeval tv = { 0, 200000 };

	(void)fd;
	(void)what;
	if (t->cl->refused || !t->cl->bev || !t->text[t->sent])
		return;
	bufferevent_write(t->cl->bev, t->text + t->sent++, 1);
	evtimer_add(t->ev, &tv);
}

/*
 * A request trickled a byte every 200 ms never trips evhttp's idle
 * timeout (1 s); with a guard the connection is closed at its deadline,
 * long before the request would be complete. Returns the bytes sent
 * before the server closed, or -1 if it was still open after `secs`.
 */
static int
trickle_run(struct world *w, int secs)
{
	struct trickle t;
	struct timeval now = { 0, 0 };
	int sent;

	memset(&t, 0, sizeof(t));
	t.text = HANDSHAKE("/ws");	/* 150 bytes: 30 s at this pace */
	t.cl = client_start(w, 0, "", NULL, 0);
	t.ev = evtimer_new(w->base, trickle_one, &t);
	evtimer_add(t.ev, &now);
	RUN_UNTIL(w, t.cl->refused, secs);
	sent = t.cl->refused ? (int)t.sent : -1;
	event_free(t.ev);
	return sent;
}

static void
guard_trickle(int tls)
{
	struct world w;
	int sent;

	/* Without a guard the trickle outlives evhttp's idle timeout... */
	REQUIRE(world_start(&w, tls) == 0);
	CHECK_INT(trickle_run(&w, 3), ==, -1);
	CHECK(health(&w));
	world_stop(&w);
	/* ... with one it is dropped at the deadline, and the server goes
	 * on answering. */
	REQUIRE(world_start_guarded(&w, tls, 1000) == 0);
	sent = trickle_run(&w, 6);
	CHECK(sent > 0);
	CHECK(sent < 100);
	CHECK_INT(w.server_open, ==, 0);
	CHECK(health(&w));
	world_stop(&w);
}

static void
test_guard_trickle(void)
{
	guard_trickle(0);
}

static void
test_guard_trickle_tls(void)
{
	guard_trickle(1);
}

/* A WebSocket outlives the deadline; the close is as without a guard. */
static void
guard_websocket(int tls)
{
	struct world w;
	struct client *cl, *quiet;
	int i;

	REQUIRE(world_start_guarded(&w, tls, 1000) == 0);
	cl = client_start(&w, 0, HANDSHAKE("/ws"), NULL, 0);
	quiet = client_start(&w, 1, HANDSHAKE("/ws"), NULL, 0);
	RUN_UNTIL(&w, cl->upgraded || cl->refused, 3);
	RUN_UNTIL(&w, quiet->upgraded || quiet->refused, 3);
	REQUIRE(cl->upgraded && quiet->upgraded);
	CHECK_INT(wsev_connection_send_text(cl->conn, "before"), ==, 0);
	RUN_UNTIL(&w, cl->messages == 1, 3);
	/* Past the deadline (and evhttp's 1 s idle timeout, cleared by the
	 * take-over): both still open. */
	for (i = 0; i < 25; i++) {
		struct timeval tv = { 0, 100000 };

		event_base_loopexit(w.base, &tv);
		event_base_dispatch(w.base);
	}
	CHECK_INT(cl->closed + quiet->closed, ==, 0);
	CHECK_INT(wsev_connection_send_text(cl->conn, "after"), ==, 0);
	RUN_UNTIL(&w, cl->messages == 2, 3);
	CHECK_STR(cl->last, "after");
	CHECK_INT(wsev_connection_close(cl->conn, 1000, "bye"), ==, 0);
	RUN_UNTIL(&w, cl->closed && w.server_closed == 1, 3);
	CHECK_INT(cl->close_code, ==, 1000);
	CHECK_INT(w.server_last_code, ==, 1000);
	/* The one that never sent a frame: the server ends it, and the
	 * client sees the server's TCP close after the exchange. */
	REQUIRE(w.server_conns[1] != NULL);
	CHECK_INT(wsev_connection_close(w.server_conns[1], 1000, NULL), ==, 0);
	RUN_UNTIL(&w, quiet->closed, 3);
	CHECK_INT(quiet->close_code, ==, 1000);
	CHECK_INT(quiet->errors + cl->errors + w.server_errors, ==, 0);
	CHECK(health(&w));
	world_stop(&w);
}

static void
test_guard_websocket(void)
{
	guard_websocket(0);
}

static void
test_guard_websocket_tls(void)
{
	guard_websocket(1);
}

/* Many connections, each fate once: answered, idle, trickling, upgraded;
 * then evhttp_free with the guard still holding some. */
static void
test_guard_mixed(void)
{
	struct world w;
	int i, upgraded = 0;

	REQUIRE(world_start_guarded(&w, 0, 500) == 0);
	for (i = 0; i < 20; i++)
		client_start(&w, i, i % 2 ? HANDSHAKE("/ws") :
		    "GET /ws HTTP/1.1\r\nHost: x", NULL, 0);
	for (i = 0; i < 20; i++)
		RUN_UNTIL(&w, w.clients[i].upgraded || w.clients[i].refused, 4);
	for (i = 0; i < 20; i++) {
		upgraded += w.clients[i].upgraded;
		CHECK(w.clients[i].upgraded == (i % 2));
		CHECK(w.clients[i].refused == !(i % 2));
	}
	CHECK_INT(upgraded, ==, 10);
	CHECK(health(&w));
	world_stop(&w);	/* evhttp_free, then the guard */
}

/* How many times s occurs in what client i has received. */
static int
received(struct client *cl, const char *s)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);
	struct evbuffer_ptr p = evbuffer_search(in, s, strlen(s), NULL);
	int n = 0;

	while (p.pos >= 0) {
		n++;
		evbuffer_ptr_set(in, &p, 1, EVBUFFER_PTR_ADD);
		p = evbuffer_search(in, s, strlen(s), &p);
	}
	return n;
}

/*
 * Answers still being sent at the deadline are not the guard's: a chunked
 * reply whose chunks span the deadline, and a long poll answered after it,
 * both reach the client whole.
 */
static void
test_guard_answers(void)
{
	struct world w;
	struct client *chunked, *poll;
	int i;

	REQUIRE(world_start_guarded(&w, 0, 1000) == 0);
	chunked = client_start(&w, 0, "GET /stream HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n", NULL, 0);
	poll = client_start(&w, 1, "GET /longpoll HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n", NULL, 0);
	RUN_UNTIL(&w, chunked->eof && poll->eof, 6);
	CHECK(chunked->eof && poll->eof);
	CHECK_INT(received(chunked, "HTTP/1.1 200"), ==, 1);
	CHECK_INT(received(chunked, "chunk-"), ==, 10);
	for (i = 0; i < 10; i++) {
		char want[16];

		snprintf(want, sizeof(want), "chunk-%d;", i);
		CHECK_INT(received(chunked, want), ==, 1);
	}
	CHECK_INT(received(chunked, "\r\n0\r\n\r\n"), ==, 1);
	CHECK_INT(received(poll, "HTTP/1.1 200"), ==, 1);
	CHECK_INT(received(poll, "\r\n\r\nlate answer"), ==, 1);
	CHECK(health(&w));
	world_stop(&w);
}


/*
 * Keep-alive clients that go after their answer: evhttp frees each
 * connection at the client's EOF, and the guard, which holds a reference
 * on the bufferevent, must let go of it long before its deadline (30 s
 * here), or every departed client keeps a descriptor until then.
 */
static void
test_guard_departed(void)
{
	struct world w;
	int i, base_fds, n = 10;

	REQUIRE(world_start_guarded(&w, 0, 30000) == 0);
	base_fds = open_fds();
	REQUIRE(base_fds > 0);
	for (i = 0; i < n; i++)
		client_start(&w, i, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
		    NULL, 0);
	for (i = 0; i < n; i++)
		RUN_UNTIL(&w, received(&w.clients[i], "\r\n\r\nok") == 1, 3);
	for (i = 0; i < n; i++) {
		CHECK_INT(received(&w.clients[i], "\r\n\r\nok"), ==, 1);
		CHECK(!w.clients[i].eof);	/* kept alive */
		bufferevent_free(w.clients[i].bev);
		w.clients[i].bev = NULL;
	}
	RUN_UNTIL(&w, open_fds() <= base_fds, 4);
	CHECK_INT(open_fds(), <=, base_fds);
	CHECK(health(&w));
	world_stop(&w);
}

/*
 * The connection's close callback is the application's: one that stops
 * its stream from it is told exactly once when the client goes, before
 * the guard's deadline or after it, and no chunk is tried after.
 */
static void
test_guard_app_closecb(void)
{
	struct world w;
	struct client *early, *late;
	int i;

	REQUIRE(world_start_guarded(&w, 0, 1000) == 0);
	early = client_start(&w, 0, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n",
	    NULL, 0);
	RUN_UNTIL(&w, early->eof || received(early, "chunk-") >= 2, 3);
	REQUIRE(w.nstreams == 1);
	bufferevent_free(early->bev);	/* the client goes mid-stream */
	early->bev = NULL;
	late = client_start(&w, 1, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n",
	    NULL, 0);
	/* 100 ms a chunk: 15 of them outlast the 1 s deadline. */
	RUN_UNTIL(&w, late->eof || received(late, "chunk-") >= 15, 4);
	CHECK(!late->eof);
	CHECK_INT(received(late, "chunk-"), >=, 15);
	REQUIRE(w.nstreams == 2);
	bufferevent_free(late->bev);
	late->bev = NULL;
	RUN_UNTIL(&w, w.streams[0].closecb_calls && w.streams[1].closecb_calls,
	    3);
	/* Some more ticks: a stream not told would try its next chunk. */
	for (i = 0; i < 3; i++) {
		struct timeval tv = { 0, 100000 };

		event_base_loopexit(w.base, &tv);
		event_base_dispatch(w.base);
	}
	CHECK_INT(w.streams[0].closecb_calls, ==, 1);
	CHECK_INT(w.streams[1].closecb_calls, ==, 1);
	CHECK_INT(w.streams[0].sent_after_close + w.streams[1].sent_after_close,
	    ==, 0);
	CHECK(w.streams[0].req == NULL && w.streams[1].req == NULL);
	CHECK(health(&w));
	world_stop(&w);
}

/*
 * A route that frees the WebSocket in its open callback, behind a guard
 * whose deadline is far away: the socket closes at once. The peer keeps
 * sending after its handshake (32 MiB, more than the two kernel buffers
 * hold); the server must not go on taking them (the guard's reference on
 * the freed bufferevent kept it reading until the deadline): the client
 * sees its writes fail (a reset), with most of its bytes never taken.
 */
static void
test_guard_freed_on_open(void)
{
	struct world w;
	struct client *cl;
	struct evbuffer *out;
	struct timeval tv;
	size_t mib = 32u << 20;
	char *junk;

	REQUIRE(world_start_guarded(&w, 0, 30000) == 0);
	w.free_on_open = 1;
	junk = malloc(mib);
	REQUIRE(junk != NULL);
	memset(junk, 0x82, mib);	/* not even frames: never read */
	/* Connected a while before it writes: the server has settled the
	 * new connection (the guard too) when the request comes. */
	cl = client_start(&w, 0, "", NULL, 0);
	tv.tv_sec = 0;
	tv.tv_usec = 200000;
	event_base_loopexit(w.base, &tv);
	event_base_dispatch(w.base);
	REQUIRE(!cl->eof);
	bufferevent_write(cl->bev, HANDSHAKE("/ws"), strlen(HANDSHAKE("/ws")));
	bufferevent_write(cl->bev, junk, mib);
	free(junk);
	out = bufferevent_get_output(cl->bev);
	RUN_UNTIL(&w, cl->reset || evbuffer_get_length(out) == 0, 10);
	CHECK_INT(w.server_open, ==, 1);
	CHECK(cl->reset);
	CHECK_INT(evbuffer_get_length(out), >, 0);
	CHECK(health(&w));
	world_stop(&w);
}

static const struct tt_case cases[] = {
	{ "server/echo-and-close", test_echo_and_close },
	{ "server/tls", test_tls },
	{ "server/bytes-behind-handshake", test_bytes_behind_handshake },
	{ "server/server-closes", test_server_closes },
	{ "server/refused", test_refused },
	{ "server/stalled-handshake", test_stalled_handshake },
	{ "server/1000-cycles", test_cycles },
	{ "server/evhttp-free-with-100-open", test_evhttp_free_with_open_websockets },
	{ "server/evhttp-free-tls", test_evhttp_free_tls },
	{ "server/let-go-plain", test_let_go_plain },
	{ "server/let-go-tls", test_let_go_tls },
	{ "server/let-go-guarded", test_let_go_guarded },
	{ "server/let-go-guarded-tls", test_let_go_guarded_tls },
	{ "server/let-go-evhttp-free-first", test_let_go_evhttp_free_first },
	{ "server/let-go-descriptors", test_let_go_descriptors },
	{ "server/let-go-descriptors-tls", test_let_go_descriptors_tls },
	{ "server/let-go-changelist", test_let_go_changelist },
	{ "server/route-removed-in-callback", test_route_removed_in_callback },
	{ "server/let-go-tls-fd-once-route", test_let_go_tls_fd_once_route },
	{ "server/let-go-tls-fd-once-up", test_let_go_tls_fd_once_up },
	{ "server/guard-trickle", test_guard_trickle },
	{ "server/guard-trickle-tls", test_guard_trickle_tls },
	{ "server/guard-websocket", test_guard_websocket },
	{ "server/guard-websocket-tls", test_guard_websocket_tls },
	{ "server/guard-mixed", test_guard_mixed },
	{ "server/guard-answers", test_guard_answers },
	{ "server/guard-app-closecb", test_guard_app_closecb },
	{ "server/guard-departed", test_guard_departed },
	{ "server/guard-freed-on-open", test_guard_freed_on_open },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return tt_run(cases, argc > 1 ? argv[1] : NULL);
}
