/*
 * echo-server: a WebSocket echo server on an evhttp server, for users to
 * copy from and for conformance tools to run against.
 *
 *   echo-server [--port N] [--tls CERT KEY] [--max-payload BYTES]
 *               [--protocol NAME]... [--no-deflate] [--keepalive SECONDS]
 *               [--pong-timeout SECONDS]
 *
 * Serves ws:// (or wss:// with --tls) on 127.0.0.1; every message is sent
 * back with its type, a close is answered by echoing it. Port 0 (the
 * default) picks a free port; the real one is printed as
 * "listening on ws://127.0.0.1:PORT/". A plain HTTP "GET /health" answers
 * "ok" beside the WebSocket route on "/". permessage-deflate is accepted
 * unless --no-deflate; --keepalive pings every client, and --pong-timeout
 * drops one whose pong does not come.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <wsev/wsev.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_PROTOCOLS 16

static void
on_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	(void)arg;
	/* With its length: a text message may hold U+0000. */
	wsev_connection_send_message(conn, type, data, len);
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	(void)arg;
	wsev_connection_free(conn);
}

static void
on_websocket(struct wsev_connection *conn, struct evhttp_request *req,
    void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message,
		.closed = on_closed,
	};

	(void)req;
	(void)arg;
	/* The limits, keepalive and compression came with the route's
	 * options (wsev_handler_set_options() in main()). */
	wsev_connection_set_callbacks(conn, &cbs, NULL);
}

static void
on_health(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	(void)arg;
	evbuffer_add_printf(body, "ok\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int
usage(void)
{
	fprintf(stderr, "usage: echo-server [--port N] [--tls CERT KEY] "
	    "[--max-payload BYTES] [--protocol NAME]...\n"
	    "                   [--no-deflate] [--keepalive SECONDS] "
	    "[--pong-timeout SECONDS]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *protocols[MAX_PROTOCOLS + 1] = { NULL };
	const char *cert = NULL, *key = NULL;
	struct evhttp_bound_socket *sock;
	struct wsev_handler *route;
	struct wsev_connection_options opts;
	struct event_base *base;
	struct event *sigint, *sigterm;
	struct evhttp *http;
	struct wsev_guard *guard;
	const struct timeval request_timeout = { 10, 0 };
	SSL_CTX *ctx = NULL;
	int port = 0, nproto = 0, i;

	wsev_connection_options_init(&opts);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else if (!strcmp(argv[i], "--max-payload") && i + 1 < argc)
			opts.max_incoming_payload_size = strtoull(argv[++i],
			    NULL, 10);
		else if (!strcmp(argv[i], "--no-deflate"))
			opts.deflate.enabled = 0;
		else if (!strcmp(argv[i], "--keepalive") && i + 1 < argc)
			opts.keepalive_interval = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--pong-timeout") && i + 1 < argc)
			opts.keepalive_pong_timeout = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--protocol") && i + 1 < argc &&
		    nproto < MAX_PROTOCOLS)
			protocols[nproto++] = argv[++i];
		else
			return usage();
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	http = base ? evhttp_new(base) : NULL;
	if (!http) {
		fprintf(stderr, "echo-server: cannot create the server\n");
		return 1;
	}
	if (cert) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "echo-server: cannot load %s and %s: %s\n",
			    cert, key, ERR_reason_error_string(ERR_get_error()));
			return 1;
		}
	}
	/* Handshakes that go silent are dropped after 10 s. */
	evhttp_set_timeout(http, 10);
	/* evhttp's timeout only drops silent peers; the guard also drops
	 * those that trickle their request a byte at a time, 10 s after the
	 * accept. It makes the server's connections (TLS ones with ctx). */
	guard = wsev_guard_new(http, &request_timeout, ctx);
	if (!guard) {
		fprintf(stderr, "echo-server: out of memory\n");
		return 1;
	}
	/* evhttp takes headers of any size by default: a peer could grow
	 * the server's memory before the timeout. 16 KiB is plenty. */
	evhttp_set_max_headers_size(http, 16384);
	route = wsev_server_add_handler(http, "/", NULL,
	    nproto ? protocols : NULL, on_websocket, NULL);
	evhttp_set_cb(http, "/health", on_health, NULL);
	sock = evhttp_bind_socket_with_handle(http, "127.0.0.1",
	    (ev_uint16_t)port);
	if (route)
		wsev_handler_set_options(route, &opts);
	if (!route || !sock) {
		fprintf(stderr, "echo-server: cannot listen on 127.0.0.1:%d\n",
		    port);
		return 1;
	}
	{
		struct sockaddr_storage ss;
		ev_socklen_t len = sizeof(ss);
		evutil_socket_t fd = evhttp_bound_socket_get_fd(sock);

		getsockname(fd, (struct sockaddr *)&ss, &len);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	printf("listening on %s://127.0.0.1:%d/\n", cert ? "wss" : "ws", port);
	fflush(stdout);

	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	event_base_dispatch(base);

	event_free(sigint);
	event_free(sigterm);
	wsev_server_remove_handler(route);	/* 1001 to every WebSocket */
	evhttp_free(http);
	wsev_guard_free(guard);	/* after evhttp_free, before the base */
	event_base_free(base);
	SSL_CTX_free(ctx);
	return 0;
}
