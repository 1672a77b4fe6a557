/*
 * wsev-cat's server (--listen [ADDR:]PORT): an evhttp server with one
 * WebSocket route on "/", for quick tests without writing a server.
 * One client at a time: a second one, while the first is there, is
 * closed at once with 1008 ("busy"); the input goes to the client
 * connected, and is not read while there is none. --broadcast takes every
 * client and sends the input to all; --echo takes every client too and
 * sends each its own messages back. At the end of the input each client
 * gets the pipe rule (its echoes, --linger at most) and 1000, and
 * wsev-cat exits once they are gone; SIGINT or SIGTERM closes the open
 * clients with 1001 and exits 0. --tls CERT KEY serves wss://.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "cat.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct peer {
	struct server *srv;
	struct wsev_connection *conn;
	struct event *linger;	/* after the input: echoes still due */
	unsigned long sent, back;
	unsigned id;
	struct peer *next;
};

struct server {
	struct cat *cat;
	struct peer *peers;
	unsigned npeers, next_id;
	struct evbuffer *msg;
	int ending;		/* input done, --count reached or a signal */
	int failed;		/* memory ran out: exit 1 */
	struct event *deadline;	/* the last wait for the clients' closes */
};

static void
peer_close(struct peer *p, unsigned short code, const char *why)
{
	if (wsev_connection_get_state(p->conn) == WSEV_STATE_OPEN)
		wsev_connection_close(p->conn, code, why);
}

/* The server ends: every client is closed with @p code; the loop stops
 * when the last has gone (or after 5 s: a client that never answers). */
static void
server_end(struct server *srv, unsigned short code, const char *why)
{
	static const struct timeval wait = { 5, 0 };
	struct peer *p;

	srv->ending = 1;
	cat_input_pause(srv->cat, 1);
	for (p = srv->peers; p; p = p->next)
		peer_close(p, code, why);
	if (!srv->peers)
		event_base_loopexit(srv->cat->base, NULL);
	else
		evtimer_add(srv->deadline, &wait);
}

/* The pipe rule for one client, once the input is all sent. */
static void
peer_check_done(struct peer *p)
{
	struct cat *c = p->srv->cat;

	if (c->echo_mode || !cat_input_finished(c))
		return;
	if (p->back >= p->sent || !timerisset(&c->linger))
		peer_close(p, WSEV_CLOSE_NORMAL, NULL);
	else if (!evtimer_pending(p->linger, NULL))
		evtimer_add(p->linger, &c->linger);
}

/* The input out to the client (or, --broadcast, every client) while
 * they keep up; none connected: the input waits in the pipe. */
static void
server_pump(void *arg)
{
	struct server *srv = arg;
	struct cat *c = srv->cat;
	struct peer *p;
	int rc, full = 0;

	if (srv->ending)
		return;
	if (!srv->peers) {
		cat_input_pause(c, 1);
		return;
	}
	for (;;) {
		for (p = srv->peers; p; p = p->next)
			if (wsev_connection_get_buffered_amount(p->conn) >=
			    CAT_HIGH_WATER)
				full = 1;
		if (full || (rc = cat_input_take(c, srv->msg)) == 0)
			break;
		if (rc < 0) {
			snprintf(c->reason, sizeof(c->reason), "out of memory");
			srv->failed = 1;
			server_end(srv, WSEV_CLOSE_GOING_AWAY, NULL);
			return;
		}
		for (p = srv->peers; p; p = p->next)
			if (cat_send(c, p->conn, srv->msg) == 0)
				p->sent++;
	}
	cat_input_pause(c, full);
	if (cat_input_finished(c)) {
		/* Nobody new: the input they would get has ended. */
		srv->ending = 1;
		for (p = srv->peers; p; p = p->next)
			peer_check_done(p);
	}
}

static void
on_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct peer *p = arg;

	if (p->srv->cat->echo_mode) {
		wsev_connection_send_message(conn, type, data, len);
		return;
	}
	p->back++;
	if (cat_print(p->srv->cat, type, data, len))
		server_end(p->srv, WSEV_CLOSE_NORMAL, NULL);
	else
		peer_check_done(p);
}

static void
on_drain(struct wsev_connection *conn, void *arg)
{
	struct peer *p = arg;

	(void)conn;
	server_pump(p->srv);
}

static void
on_error(struct wsev_connection *conn, const struct wsev_error *err,
    void *arg)
{
	struct peer *p = arg;

	(void)conn;
	cat_say("client %u: %s", p->id, err->message);
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	struct peer *p = arg, **pp;
	struct server *srv = p->srv;
	struct cat *c = srv->cat;

	/* A client's odd close is its business: said, not an exit status. */
	if (cat_close_status(c, conn) && !c->output_failed)
		cat_say("client %u: %s", p->id, c->reason);
	for (pp = &srv->peers; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	srv->npeers--;
	event_free(p->linger);
	wsev_connection_free(conn);
	free(p);
	if (srv->ending && !srv->peers)
		event_base_loopexit(c->base, NULL);
}

static void
on_linger(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_close(arg, WSEV_CLOSE_NORMAL, NULL);
}

static void
on_busy_closed(struct wsev_connection *conn, void *arg)
{
	(void)arg;
	wsev_connection_free(conn);
}

static void
on_client(struct wsev_connection *conn, struct evhttp_request *req,
    void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message, .error = on_error, .closed = on_closed,
		.drain = on_drain
	};
	static const struct wsev_callbacks busy_cbs = {
		.closed = on_busy_closed
	};
	struct server *srv = arg;
	struct peer *p = NULL;
	char *host = NULL;
	ev_uint16_t port = 0;
	int busy = srv->npeers > 0 && !srv->cat->broadcast &&
	    !srv->cat->echo_mode;

	evhttp_connection_get_peer(evhttp_request_get_connection(req), &host,
	    &port);
	if (srv->ending || busy || !(p = calloc(1, sizeof(*p))) ||
	    !(p->linger = evtimer_new(srv->cat->base, on_linger, p))) {
		free(p);
		wsev_connection_set_callbacks(conn, &busy_cbs, NULL);
		/* 1008: wsev sends no 1013 (try again later), as libsoup. */
		if (wsev_connection_close(conn,
		    busy ? WSEV_CLOSE_POLICY_VIOLATION : WSEV_CLOSE_GOING_AWAY,
		    busy ? "busy: one client at a time" :
		    srv->ending ? "the input has ended" : "out of memory") != 0)
			wsev_connection_free(conn);
		return;
	}
	p->srv = srv;
	p->conn = conn;
	p->id = ++srv->next_id;
	p->next = srv->peers;
	srv->peers = p;
	srv->npeers++;
	cat_say("client %u connected from %s port %u", p->id,
	    host ? host : "?", port);
	wsev_connection_set_callbacks(conn, &cbs, p);
	if (!srv->cat->echo_mode) {
		cat_input_pause(srv->cat, 0);
		server_pump(srv);
	}
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	server_end(arg, WSEV_CLOSE_GOING_AWAY, "server shutting down");
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	event_base_loopexit(srv->cat->base, NULL);
}

/* "[ADDR:]PORT" ("[::1]:9000" for IPv6) into @p addr and @p port. */
static int
parse_listen(const char *s, char *addr, size_t size, ev_uint16_t *port)
{
	const char *colon = strrchr(s, ':'), *p = colon ? colon + 1 : s;
	size_t n = colon ? (size_t)(colon - s) : 0;
	char *end;
	long v;

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n >= size)
		return -1;
	if (colon)
		memcpy(addr, s, n);
	else
		n = (size_t)snprintf(addr, size, "127.0.0.1");
	addr[n] = '\0';
	v = strtol(p, &end, 10);
	if (*p < '0' || *p > '9' || *end || v > 65535 || !*addr)
		return -1;
	*port = (ev_uint16_t)v;
	return 0;
}

int
cat_server_run(struct cat *c)
{
	static const struct timeval request_timeout = { 10, 0 };
	struct server srv;
	struct evhttp *http = NULL;
	struct evhttp_bound_socket *sock = NULL;
	struct wsev_handler *route = NULL;
	struct wsev_guard *guard = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	SSL_CTX *ctx = NULL;
	char addr[128];
	ev_uint16_t port;

	memset(&srv, 0, sizeof(srv));
	srv.cat = c;
	c->on_input = server_pump;
	c->input_arg = &srv;
	c->status = 1;
	if (parse_listen(c->listen, addr, sizeof(addr), &port) < 0) {
		snprintf(c->reason, sizeof(c->reason),
		    "--listen %s: not [ADDR:]PORT", c->listen);
		return 2;	/* bad usage */
	}
	cat_input_pause(c, 1);	/* until a client comes */
	if (c->cert) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1) {
			snprintf(c->reason, sizeof(c->reason),
			    "cannot load %s and %s: %s", c->cert, c->key,
			    ERR_reason_error_string(ERR_get_error()));
			goto out;
		}
	}
	srv.msg = evbuffer_new();
	srv.deadline = evtimer_new(c->base, on_deadline, &srv);
	sigint = evsignal_new(c->base, SIGINT, on_signal, &srv);
	sigterm = evsignal_new(c->base, SIGTERM, on_signal, &srv);
	http = evhttp_new(c->base);
	/* The guard makes the server's connections (TLS ones with ctx) and
	 * drops clients that take over 10 s to send their handshake. */
	guard = http ? wsev_guard_new(http, &request_timeout, ctx) : NULL;
	route = guard ? wsev_server_add_handler(http, "/", NULL,
	    c->connect.protocols, on_client, &srv) : NULL;
	if (!srv.msg || !srv.deadline || !sigint || !sigterm || !route) {
		snprintf(c->reason, sizeof(c->reason), "out of memory");
		goto out;
	}
	wsev_handler_set_options(route, &c->conn);
	evhttp_set_timeout(http, 10);
	evhttp_set_max_headers_size(http, 16384);
	sock = evhttp_bind_socket_with_handle(http, addr, port);
	if (!sock) {
		snprintf(c->reason, sizeof(c->reason), "cannot listen on %s:%u",
		    addr, port);
		goto out;
	}
	{
		struct sockaddr_storage ss;
		ev_socklen_t len = sizeof(ss);

		if (getsockname(evhttp_bound_socket_get_fd(sock),
		    (struct sockaddr *)&ss, &len) == 0)
			port = ntohs(ss.ss_family == AF_INET6 ?
			    ((struct sockaddr_in6 *)&ss)->sin6_port :
			    ((struct sockaddr_in *)&ss)->sin_port);
	}
	cat_say("listening on %s://%s%s%s:%u/", ctx ? "wss" : "ws",
	    strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "",
	    port);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	event_base_dispatch(c->base);
	c->status = c->output_failed || srv.failed;
out:
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	wsev_server_remove_handler(route);
	if (http)
		evhttp_free(http);	/* ends what is still open */
	wsev_guard_free(guard);
	while (srv.peers) {
		struct peer *p = srv.peers;

		srv.peers = p->next;
		event_free(p->linger);
		wsev_connection_free(p->conn);
		free(p);
	}
	if (srv.deadline)
		event_free(srv.deadline);
	if (srv.msg)
		evbuffer_free(srv.msg);
	SSL_CTX_free(ctx);
	return c->status;
}
