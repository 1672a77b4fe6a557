/*
 * echo-wsev: the wsev echo server of the benchmark, written the way a user
 * writes one: an evhttp server, wsev_server_add_handler() on "/", every
 * message sent back with its type.
 *
 *   echo-wsev --port N [--tls CERT KEY] [--broadcast]
 *
 * Listens on 127.0.0.1:N, single-threaded. With --broadcast every message
 * received on any connection is sent to every open connection, the sender
 * included. SIGTERM or SIGINT ends the loop; everything is freed and the
 * exit status is 0.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <wsev/wsev.h>

#include <stdio.h>
#include <stdlib.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>

#include "bench-main.h"

/*
 * The load generator keeps up to 16 MiB in flight on a connection (16
 * messages of 1 MiB): the defaults (128 KiB frames, 4 MiB of output) would
 * cut such a client off with 1009 or 1008. 64 MiB leaves room for either.
 */
#define MAX_PAYLOAD (64u * 1024 * 1024)
#define MAX_OUTGOING (64u * 1024 * 1024)

/* A connection of the broadcast room. */
struct member {
	struct member *next, *prev;
	struct wsev_connection *conn;
};

static struct member *room;	/* a doubly linked list */
static struct bench_server srv = {
	.name = "echo-wsev", .flags = BENCH_OPTS_TLS
};

static void
on_echo(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	(void)arg;
	/* A refused send has already failed the connection ("closed"
	 * follows): nothing more to do with it here. */
	(void)wsev_connection_send_message(conn, type, data, len);
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	(void)arg;
	wsev_connection_free(conn);
}

static void
on_relay(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct member *m;

	(void)conn;
	(void)arg;
	/* Sending never runs a callback, so the room cannot change under
	 * the walk; a member that is no longer OPEN refuses the send. */
	for (m = room; m; m = m->next)
		(void)wsev_connection_send_message(m->conn, type, data, len);
}

static void
on_member_closed(struct wsev_connection *conn, void *arg)
{
	struct member *m = arg;

	if (m->prev)
		m->prev->next = m->next;
	else
		room = m->next;
	if (m->next)
		m->next->prev = m->prev;
	free(m);
	wsev_connection_free(conn);
}

static void
on_websocket(struct wsev_connection *conn, struct evhttp_request *req,
    void *arg)
{
	static const struct wsev_callbacks echo_cbs = {
		.message = on_echo,
		.closed = on_closed,
	};
	static const struct wsev_callbacks relay_cbs = {
		.message = on_relay,
		.closed = on_member_closed,
	};
	const struct bench_opts *opts = arg;
	struct member *m;

	(void)req;
	/* No TCP_NODELAY here: wsev sets it itself on every connection it
	 * takes over from evhttp. */
	wsev_connection_set_max_incoming_payload_size(conn, MAX_PAYLOAD);
	wsev_connection_set_max_outgoing_buffer(conn, MAX_OUTGOING);
	if (!opts->broadcast) {
		wsev_connection_set_callbacks(conn, &echo_cbs, NULL);
		return;
	}
	if (!(m = calloc(1, sizeof(*m)))) {
		wsev_connection_free(conn);
		return;
	}
	m->conn = conn;
	m->next = room;
	if (room)
		room->prev = m;
	room = m;
	wsev_connection_set_callbacks(conn, &relay_cbs, m);
}

/* evhttp's hook for making the bufferevent of each accepted connection:
 * with --tls, an OpenSSL one that runs the server's side of the handshake.
 * evhttp sets the socket afterwards. */
static struct bufferevent *
make_tls_bev(struct event_base *base, void *arg)
{
	SSL_CTX *ctx = arg;
	struct bufferevent *bev;
	SSL *ssl = SSL_new(ctx);

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		SSL_free(ssl);
	return bev;
}

int
main(int argc, char **argv)
{
	struct evconnlistener *lev;
	struct evhttp *http = NULL;
	struct wsev_handler *route = NULL;
	int status;

	if ((status = bench_server_init(&srv, argc, argv)) != 0)
		return status;
	status = 1;
	if (!(http = evhttp_new(srv.base))) {
		fprintf(stderr, "echo-wsev: cannot create the server\n");
		goto out;
	}
	if (srv.ssl_ctx)
		evhttp_set_bevcb(http, make_tls_bev, srv.ssl_ctx);
	route = wsev_server_add_handler(http, "/", NULL, NULL, on_websocket,
	    &srv.opts);
	if (!route) {
		fprintf(stderr, "echo-wsev: out of memory\n");
		goto out;
	}
	/* bench-main's listener for its backlog (evhttp_bind_socket's is
	 * 128): wsload opens connections 256 at a time, as the peers allow.
	 * evhttp frees it. */
	if (!(lev = bench_server_listen(&srv, NULL, NULL)))
		goto out;
	if (!evhttp_bind_listener(http, lev)) {
		evconnlistener_free(lev);
		fprintf(stderr, "echo-wsev: cannot listen on 127.0.0.1:%d\n",
		    srv.opts.port);
		goto out;
	}
	status = bench_server_run(&srv);
out:
	wsev_server_remove_handler(route);	/* 1001 to every WebSocket */
	if (http)
		evhttp_free(http);
	bench_server_free(&srv);
	return status;
}
