/*
 * peer-server: a scriptable wsev server for the interop tests, which drive
 * it from real peers (Python websockets, Node's ws).
 *
 *   peer-server [--tls CERT KEY] [--max-payload N] [--max-outgoing N]
 *               [--protocol NAME]...
 *
 * Listens on 127.0.0.1, on a port the system picks, and prints
 * "listening on ws://127.0.0.1:PORT/" (wss:// with --tls) as its first line.
 * The WebSocket route "/" echoes every message with its type, except text
 * messages that start with "cmd:":
 *
 *   cmd:close:CODE:REASON  wsev_connection_close(CODE, REASON); if wsev
 *                          refuses, the reply is "close-refused:CODE"
 *   cmd:protocol           replies "protocol:NAME" or "protocol:(none)"
 *   cmd:header:NAME        replies "header:VALUE" or "header:(none)", the
 *                          value of that header in the handshake request
 *
 * When a connection closes it prints "closed code=N data=REASON" (REASON is
 * "(null)" without a close frame) and frees it. Errors the library reports
 * go to stderr as "error domain=D code=N: MESSAGE". A plain HTTP
 * "GET /health" answers 200 "ok". SIGTERM or SIGINT ends the loop, and
 * everything is freed before the exit, so that valgrind and the sanitizers
 * see no leak.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <wsev/wsev.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_PROTOCOLS 16

static uint64_t max_payload;
static int max_payload_set;
static uint64_t max_outgoing;
static int max_outgoing_set;

/* One WebSocket. The handshake request stays valid while conn lives. */
struct peer {
	struct wsev_connection *conn;
	/* The handshake's headers, copied: the request's own are cleared
	 * when the route's callback returns. */
	struct evkeyvalq headers;
};

static void
reply(struct wsev_connection *conn, const char *prefix, const char *value)
{
	size_t n = strlen(prefix) + strlen(value) + 1;
	char *s = malloc(n);

	if (!s) {
		fprintf(stderr, "peer-server: out of memory\n");
		return;
	}
	snprintf(s, n, "%s%s", prefix, value);
	if (wsev_connection_send_text(conn, s) < 0 &&
	    wsev_connection_get_state(conn) == WSEV_STATE_OPEN)
		fprintf(stderr, "peer-server: cannot send \"%s\"\n", s);
	free(s);
}

/* "cmd:close:CODE:REASON"; REASON may be empty, and so may ":REASON". */
static void
command_close(struct wsev_connection *conn, const char *args)
{
	const char *reason = strchr(args, ':');
	char *end;
	unsigned long code = strtoul(args, &end, 10);

	if (end == args || (*end != ':' && *end != '\0') || code > 65535) {
		reply(conn, "close-refused:", args);
		return;
	}
	if (wsev_connection_close(conn, (unsigned short)code,
	    reason ? reason + 1 : NULL) < 0) {
		char buf[16];

		snprintf(buf, sizeof(buf), "%lu", code);
		reply(conn, "close-refused:", buf);
	}
}

static void
command(struct peer *p, const char *cmd)
{
	const char *v;

	if (!strncmp(cmd, "close:", 6)) {
		command_close(p->conn, cmd + 6);
	} else if (!strcmp(cmd, "protocol")) {
		v = wsev_connection_get_protocol(p->conn);
		reply(p->conn, "protocol:", v ? v : "(none)");
	} else if (!strncmp(cmd, "header:", 7)) {
		v = evhttp_find_header(&p->headers, cmd + 7);
		reply(p->conn, "header:", v ? v : "(none)");
	} else {
		reply(p->conn, "unknown-command:", cmd);
	}
}

static void
on_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	int rv;

	if (type == WSEV_DATA_TEXT && len >= 4 && !memcmp(data, "cmd:", 4)) {
		command(arg, (const char *)data + 4);
		return;
	}
	/* With the length: a text message may hold U+0000. */
	rv = wsev_connection_send_message(conn, type, data, len);
	/* Messages that arrive after our close frame cannot be answered. */
	if (rv < 0 && wsev_connection_get_state(conn) == WSEV_STATE_OPEN)
		fprintf(stderr, "peer-server: cannot echo a %s message of %zu "
		    "bytes\n", type == WSEV_DATA_TEXT ? "text" : "binary", len);
}

static void
on_error(struct wsev_connection *conn, const struct wsev_error *err,
    void *arg)
{
	(void)conn;
	(void)arg;
	fprintf(stderr, "error domain=%d code=%d: %s\n", (int)err->domain,
	    err->code, err->message);
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	const char *data = wsev_connection_get_close_data(conn);

	printf("closed code=%u data=%s\n",
	    (unsigned)wsev_connection_get_close_code(conn),
	    data ? data : "(null)");
	fflush(stdout);
	wsev_connection_free(conn);
	evhttp_clear_headers(&((struct peer *)arg)->headers);
	free(arg);
}

static void
on_websocket(struct wsev_connection *conn, struct evhttp_request *req,
    void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message,
		.closed = on_closed,
		.error = on_error,
	};
	struct peer *p = calloc(1, sizeof(*p));
	struct evkeyval *kv;

	(void)arg;
	if (!p) {
		fprintf(stderr, "peer-server: out of memory\n");
		wsev_connection_free(conn);
		return;
	}
	p->conn = conn;
	TAILQ_INIT(&p->headers);
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next) {
		if (evhttp_add_header(&p->headers, kv->key, kv->value) < 0) {
			fprintf(stderr, "peer-server: out of memory\n");
			evhttp_clear_headers(&p->headers);
			free(p);
			wsev_connection_free(conn);
			return;
		}
	}
	if (max_payload_set)
		wsev_connection_set_max_incoming_payload_size(conn,
		    max_payload);
	if (max_outgoing_set)
		wsev_connection_set_max_outgoing_buffer(conn,
		    (size_t)max_outgoing);
	wsev_connection_set_callbacks(conn, &cbs, p);
}

static void
on_health(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	(void)arg;
	if (!body) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(body, "ok\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

static struct bufferevent *
make_tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
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
	fprintf(stderr, "usage: peer-server [--tls CERT KEY] "
	    "[--max-payload N] [--max-outgoing N] [--protocol NAME]...\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *protocols[MAX_PROTOCOLS + 1] = { NULL };
	const char *cert = NULL, *key = NULL;
	struct evhttp_bound_socket *sock;
	struct wsev_handler *route;
	struct event_base *base;
	struct event *sigint, *sigterm;
	struct evhttp *http;
	struct sockaddr_in sin;
	ev_socklen_t slen = sizeof(sin);
	SSL_CTX *ctx = NULL;
	int nproto = 0, i, rc = 0;
	char *end;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else if (!strcmp(argv[i], "--max-payload") && i + 1 < argc) {
			max_payload = strtoull(argv[++i], &end, 10);
			if (*end || end == argv[i])
				return usage();
			max_payload_set = 1;
		} else if (!strcmp(argv[i], "--max-outgoing") && i + 1 < argc) {
			max_outgoing = strtoull(argv[++i], &end, 10);
			if (*end || end == argv[i])
				return usage();
			max_outgoing_set = 1;
		} else if (!strcmp(argv[i], "--protocol") && i + 1 < argc &&
		    nproto < MAX_PROTOCOLS) {
			protocols[nproto++] = argv[++i];
		} else {
			return usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	http = base ? evhttp_new(base) : NULL;
	if (!http) {
		fprintf(stderr, "peer-server: cannot create the server\n");
		return 1;
	}
	if (cert) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "peer-server: cannot load %s and %s: %s\n",
			    cert, key, ERR_reason_error_string(ERR_get_error()));
			return 1;
		}
		evhttp_set_bevcb(http, make_tls_bev, ctx);
	}
	evhttp_set_timeout(http, 10);
	route = wsev_server_add_handler(http, "/", NULL,
	    nproto ? protocols : NULL, on_websocket, NULL);
	if (evhttp_set_cb(http, "/health", on_health, NULL) != 0)
		route = NULL;
	sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (!route || !sock || getsockname(evhttp_bound_socket_get_fd(sock),
	    (struct sockaddr *)&sin, &slen) != 0) {
		fprintf(stderr, "peer-server: cannot listen on 127.0.0.1\n");
		return 1;
	}
	printf("listening on %s://127.0.0.1:%d/\n", cert ? "wss" : "ws",
	    ntohs(sin.sin_port));
	fflush(stdout);

	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sigterm, NULL) != 0) {
		fprintf(stderr, "peer-server: cannot catch signals\n");
		rc = 1;
	} else if (event_base_dispatch(base) < 0) {
		fprintf(stderr, "peer-server: the event loop failed\n");
		rc = 1;
	}

	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	wsev_server_remove_handler(route);
	evhttp_free(http);	/* ends the WebSockets still open */
	event_base_free(base);
	SSL_CTX_free(ctx);
	return rc;
}
