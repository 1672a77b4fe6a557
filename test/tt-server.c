/*
 * The plumbing the wsev test servers share; see tt-server.h.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "tt-server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>

#include <openssl/err.h>

static struct bufferevent *
make_tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		SSL_free(ssl);
	return bev;
}

int
tt_server_init(struct tt_server *s, const char *name, const char *cert,
    const char *key)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	signal(SIGPIPE, SIG_IGN);
	s->base = event_base_new();
	s->http = s->base ? evhttp_new(s->base) : NULL;
	if (!s->http) {
		fprintf(stderr, "%s: cannot create the server\n", name);
		tt_server_free(s);
		return -1;
	}
	if (cert) {
		s->ctx = SSL_CTX_new(TLS_server_method());
		if (!s->ctx ||
		    SSL_CTX_use_certificate_chain_file(s->ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(s->ctx, key,
		    SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "%s: cannot load %s and %s: %s\n", name,
			    cert, key, ERR_reason_error_string(ERR_get_error()));
			tt_server_free(s);
			return -1;
		}
		evhttp_set_bevcb(s->http, make_tls_bev, s->ctx);
	}
	return 0;
}

int
tt_server_listen(struct tt_server *s)
{
	struct sockaddr_in sin;
	ev_socklen_t slen = sizeof(sin);

	s->sock = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	if (!s->sock || getsockname(evhttp_bound_socket_get_fd(s->sock),
	    (struct sockaddr *)&sin, &slen) != 0)
		return -1;
	s->port = ntohs(sin.sin_port);
	return 0;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

int
tt_server_run(struct tt_server *s)
{
	s->sigint = evsignal_new(s->base, SIGINT, on_signal, s->base);
	s->sigterm = evsignal_new(s->base, SIGTERM, on_signal, s->base);
	if (!s->sigint || !s->sigterm || evsignal_add(s->sigint, NULL) != 0 ||
	    evsignal_add(s->sigterm, NULL) != 0) {
		fprintf(stderr, "%s: cannot catch signals\n", s->name);
		return 1;
	}
	printf("listening on %s://127.0.0.1:%d/\n", s->ctx ? "wss" : "ws",
	    s->port);
	fflush(stdout);
	if (event_base_dispatch(s->base) < 0) {
		fprintf(stderr, "%s: the event loop failed\n", s->name);
		return 1;
	}
	return 0;
}

void
tt_server_free(struct tt_server *s)
{
	if (s->sigint)
		event_free(s->sigint);
	if (s->sigterm)
		event_free(s->sigterm);
	if (s->http)
		evhttp_free(s->http);	/* after the routes, which end theirs */
	wsev_guard_free(s->guard);	/* after evhttp_free, before the base */
	if (s->base)
		event_base_free(s->base);
	SSL_CTX_free(s->ctx);
	memset(s, 0, sizeof(*s));
}

void
tt_server_reply_text(struct evhttp_request *req, struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

void
tt_server_health_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	(void)arg;
	if (!body) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(body, "ok\n");
	tt_server_reply_text(req, body);
}

void
tt_server_error_cb(struct wsev_connection *conn, const struct wsev_error *err,
    void *arg)
{
	(void)conn;
	(void)arg;
	fprintf(stderr, "error domain=%d code=%d: %s\n", (int)err->domain,
	    err->code, err->message);
}
