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

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

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
	const int *broadcast = arg;
	struct member *m;

	(void)req;
	/* No TCP_NODELAY here: wsev sets it itself on every connection it
	 * takes over from evhttp. */
	wsev_connection_set_max_incoming_payload_size(conn, MAX_PAYLOAD);
	wsev_connection_set_max_outgoing_buffer(conn, MAX_OUTGOING);
	if (!*broadcast) {
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

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: echo-wsev --port N [--tls CERT KEY] [--broadcast]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	struct event_base *base = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	struct evconnlistener *lev;
	struct sockaddr_in sin;
	struct evhttp *http = NULL;
	struct wsev_handler *route = NULL;
	SSL_CTX *ctx = NULL;
	static int broadcast;
	int port = -1, i, status = 1;
	char *end;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = (int)strtol(argv[++i], &end, 10);
			if (*end || port < 0 || port > 65535)
				return usage();
		} else if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else if (!strcmp(argv[i], "--broadcast")) {
			broadcast = 1;
		} else {
			return usage();
		}
	}
	if (port < 0)
		return usage();
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("echo-wsev: signal");
		return 1;
	}
	if (cert) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (!ctx ||
		    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "echo-wsev: cannot load %s and %s: %s\n",
			    cert, key, ERR_reason_error_string(ERR_get_error()));
			goto out;
		}
	}
	if (!(base = event_base_new()) || !(http = evhttp_new(base))) {
		fprintf(stderr, "echo-wsev: cannot create the server\n");
		goto out;
	}
	if (ctx)
		evhttp_set_bevcb(http, make_tls_bev, ctx);
	route = wsev_server_add_handler(http, "/", NULL, NULL, on_websocket,
	    &broadcast);
	if (!route) {
		fprintf(stderr, "echo-wsev: out of memory\n");
		goto out;
	}
	/* A listener of our own for the backlog (evhttp_bind_socket's is
	 * 128): wsev opens connections 256 at a time, as the peers allow. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)port);
	lev = evconnlistener_new_bind(base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (!lev || !evhttp_bind_listener(http, lev)) {
		if (lev)
			evconnlistener_free(lev);
		fprintf(stderr, "echo-wsev: cannot listen on 127.0.0.1:%d\n",
		    port);
		goto out;
	}
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sigterm, NULL) != 0) {
		fprintf(stderr, "echo-wsev: cannot watch signals\n");
		goto out;
	}
	if (event_base_dispatch(base) < 0) {
		fprintf(stderr, "echo-wsev: event loop failed\n");
		goto out;
	}
	status = 0;
out:
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	wsev_server_remove_handler(route);
	if (http)
		evhttp_free(http);	/* ends the WebSockets still open */
	if (base)
		event_base_free(base);
	SSL_CTX_free(ctx);
	return status;
}
