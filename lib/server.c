/*
 * Taking a connection over from evhttp (libevent 2.1).
 *
 * libevent 2.1 has no public hand-over: the evhttp_connection owns its
 * bufferevent, frees it in evhttp_connection_free(), and keeps the request
 * in its queue until the response is done. The design, path by path:
 *
 * - Answer. The 101 goes out through evhttp_send_reply(), so evhttp formats
 *   it (status line, our headers, Date). evhttp_send_reply() only queues
 *   the bytes and points the bufferevent's callbacks at evhttp's write-done
 *   handler; we take the callbacks over before returning to the loop, so
 *   that handler never runs, evhttp never completes the request, and it
 *   never starts reading a next request on the socket. The request stays
 *   queued on the evhttp_connection (and valid) until that is freed.
 *
 * - Timeouts. evhttp put its read and write timeouts on the bufferevent;
 *   they are cleared. Slow handshakes are still dropped by evhttp's own
 *   timeout (evhttp_set_timeout) before we ever see them.
 *
 * - Bytes behind the handshake. evhttp consumed only the request's bytes;
 *   anything the client sent after them is in the bufferevent's input and
 *   wsev_connection_new() processes it from the loop.
 *
 * - Closing the WebSocket. The connection is given an owner hook: instead of
 *   freeing the bufferevent it frees the whole evhttp_connection (which
 *   frees the bufferevent, the queued request, and unlinks the connection
 *   from the server), after close_notify on TLS.
 *
 * - evhttp_free() first. It frees every evhttp_connection; each one's close
 *   callback tells us before its bufferevent goes. A close frame 1001 is
 *   written straight to the socket when nothing else is queued, and the
 *   WebSocket ends without touching the bufferevent again. The close
 *   callback is cleared whenever we free the evhttp_connection ourselves,
 *   so it never fires for a connection that is already gone.
 *
 * - The request callback must do all this before it returns: evhttp 2.1
 *   calls event_errx() (and exits) if bytes arrive on a connection whose
 *   request is neither answered nor taken over.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

struct wsev_handler {
	struct evhttp *http;
	char *path;
	char *origin;
	char **protocols;	/* NULL-terminated copy, or NULL */
	wsev_server_cb cb;
	void *arg;
	struct wsev_connection_options opts;
	struct timeval close_timeout;	/* opts.close_timeout points here */
};

static void
release_evcon(struct bufferevent *bev, void *arg)
{
	struct evhttp_connection *evcon = arg;

	(void)bev;
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	evhttp_connection_free(evcon);
}

static void
on_evcon_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	wsev_connection_lose_transport_(arg,
	    "the HTTP server closed the connection");
}

/* ws:// or wss://, the Host, the request URI. NULL if it does not parse. */
static char *
connection_uri(struct evhttp_request *req, struct bufferevent *bev)
{
	const char *host = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Host");
	const char *path = evhttp_request_get_uri(req);
	struct evbuffer *b = evbuffer_new();
	struct evhttp_uri *u = NULL;
	const char *p;
	char *s = NULL;

	if (!b)
		return NULL;
	if (evbuffer_add_printf(b, "%s://%s%s",
	    bufferevent_openssl_get_ssl(bev) ? "wss" : "ws",
	    host ? host : "localhost", path && *path == '/' ? path : "/") >= 0 &&
	    evbuffer_add(b, "", 1) == 0 &&
	    (p = (const char *)evbuffer_pullup(b, -1)) != NULL)
		s = wsev_strdup_(p);
	evbuffer_free(b);
	if (s && !(u = evhttp_uri_parse(s))) {
		free(s);
		return NULL;
	}
	if (s)
		evhttp_uri_free(u);
	return s;
}

/* The upgrade, negotiating permessage-deflate as @p opts says when given
 * (NULL: no extension, and the connection's own defaults). */
static struct wsev_connection *
upgrade(struct evhttp_request *req, const char *origin,
    const char *const *protocols, const struct wsev_connection_options *opts,
    struct wsev_error *err)
{
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	struct wsev_connection *conn;
	struct wsev_extensions ext;
	const char *chosen = NULL;
	char *uri;

	if (!req || !(evcon = evhttp_request_get_connection(req)) ||
	    !(bev = evhttp_connection_get_bufferevent(evcon))) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
		    "the request has no connection");
		return NULL;
	}
	if (!wsev_server_process_handshake_(req, origin, protocols,
	    opts ? &opts->deflate : NULL, &chosen, &ext, err))
		return NULL;
	uri = connection_uri(req, bev);
	wsev_set_nodelay_(bev);
	evhttp_send_reply(req, 101, "Switching Protocols", NULL);
	/* From here on the socket is ours (see the top of this file). */
	conn = wsev_connection_new_with_extensions(bev, uri,
	    WSEV_CONNECTION_SERVER,
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Origin"),
	    chosen, &ext);
	free(uri);
	if (!conn) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
		    "out of memory");
		evhttp_connection_free(evcon);
		return NULL;
	}
	bufferevent_set_timeouts(bev, NULL, NULL);
	wsev_connection_set_owner_(conn, release_evcon, evcon);
	evhttp_connection_set_closecb(evcon, on_evcon_close, conn);
	wsev_connection_set_options(conn, opts);
	return conn;
}

struct wsev_connection *
wsev_server_upgrade(struct evhttp_request *req, const char *origin,
    const char *const *protocols, struct wsev_error *err)
{
	return upgrade(req, origin, protocols, NULL, err);
}

struct wsev_connection *
wsev_server_upgrade_with_options(struct evhttp_request *req,
    const char *origin, const char *const *protocols,
    const struct wsev_connection_options *opts, struct wsev_error *err)
{
	struct wsev_connection_options defaults;

	if (!opts) {
		wsev_connection_options_init(&defaults);
		opts = &defaults;
	}
	return upgrade(req, origin, protocols, opts, err);
}

static void
on_route(struct evhttp_request *req, void *arg)
{
	struct wsev_handler *h = arg;
	struct wsev_connection *conn;

	conn = upgrade(req, h->origin, (const char *const *)h->protocols,
	    &h->opts, NULL);
	if (!conn)
		return;
	/* Held, so that a connection freed by the callback (which frees the
	 * request with it) goes only after we are done with the request. */
	wsev_connection_hold_(conn);
	h->cb(conn, req, h->arg);
	/* The headers are the request's bulk, about 1 KiB even from a terse
	 * client, and nobody reads them again: an idle WebSocket should not
	 * carry them for its lifetime. Unless the connection already ended
	 * in the callback (out of memory closing it): then its transport,
	 * the evhttp connection and the request with it, is gone. */
	if (wsev_connection_get_bufferevent(conn)) {
		evhttp_clear_headers(evhttp_request_get_input_headers(req));
		evhttp_clear_headers(evhttp_request_get_output_headers(req));
	}
	wsev_connection_unhold_(conn);
}

static void
handler_free(struct wsev_handler *h)
{
	size_t i;

	if (h->protocols) {
		for (i = 0; h->protocols[i]; i++)
			free(h->protocols[i]);
		free(h->protocols);
	}
	free(h->origin);
	free(h->path);
	free(h);
}

struct wsev_handler *
wsev_server_add_handler(struct evhttp *http, const char *path,
    const char *origin, const char *const *protocols, wsev_server_cb cb,
    void *arg)
{
	struct wsev_handler *h;
	size_t n = 0, i;
	int failed = 0;

	if (!http || !path || !cb || !(h = calloc(1, sizeof(*h))))
		return NULL;
	h->http = http;
	h->cb = cb;
	h->arg = arg;
	wsev_connection_options_init(&h->opts);
	if (!(h->path = wsev_strdup_(path)))
		failed = 1;
	if (origin && !(h->origin = wsev_strdup_(origin)))
		failed = 1;
	if (protocols) {
		while (protocols[n])
			n++;
		if (!(h->protocols = calloc(n + 1, sizeof(char *))))
			failed = 1;
		for (i = 0; !failed && i < n; i++)
			if (!(h->protocols[i] = wsev_strdup_(protocols[i])))
				failed = 1;
	}
	if (failed || evhttp_set_cb(http, path, on_route, h) != 0) {
		handler_free(h);
		return NULL;
	}
	return h;
}

void
wsev_handler_set_options(struct wsev_handler *h,
    const struct wsev_connection_options *opts)
{
	if (!opts) {
		wsev_connection_options_init(&h->opts);
		return;
	}
	h->opts = *opts;
	if (opts->close_timeout) {
		h->close_timeout = *opts->close_timeout;
		h->opts.close_timeout = &h->close_timeout;
	}
}

void
wsev_server_remove_handler(struct wsev_handler *h)
{
	if (!h)
		return;
	evhttp_del_cb(h->http, h->path);
	handler_free(h);
}
