/*
 * The request deadline of an evhttp server (slowloris).
 *
 * evhttp 2.1 only has an idle timeout: a client sending its request a byte
 * a second keeps its socket, and a thousand such clients keep a thousand.
 * The guard gives each accepted connection a deadline measured from the
 * accept, and closes it if evhttp is still reading a request then.
 *
 * evhttp 2.1 tells nobody when it accepts or frees a connection, so the
 * guard works from the one hook it has, evhttp_set_bevcb(), and from what
 * evhttp does with the bufferevent it is given:
 *
 * - Accept. The guard makes the bufferevent, takes a reference on it (so
 *   that it can always look at it), and arms a zero timer.
 *
 * - Adopt. One loop turn later evhttp has set the bufferevent's callbacks,
 *   with the evhttp_connection as their argument: the guard sets the
 *   connection's close callback, which tells it when evhttp frees the
 *   connection (the answered request, the client gone, evhttp_free()). It
 *   then lets go of everything at once, so the socket closes at once.
 *
 * - Deadline. If evhttp still has the bufferevent and is reading from it,
 *   the request is late: the guard reports a timeout on the bufferevent,
 *   and evhttp drops the connection as it does on its own timeouts. A
 *   request already read, being answered, is left alone.
 *
 * - Take-over. A WebSocket hand-over (server.c) replaces the close
 *   callback. The guard sees it at the first byte after the hand-over (its
 *   callback on the input buffer finds wsev's callbacks on the bufferevent)
 *   or at the deadline, and lets go then. Until then its reference keeps
 *   the bufferevent, and the socket, alive; a WebSocket that ends before
 *   its peer sent a byte after the handshake keeps its descriptor open
 *   until the deadline at most.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/ssl.h>

struct guarded {
	struct wsev_guard *g;
	struct bufferevent *bev;	/* referenced while we live */
	struct evhttp_connection *evcon;	/* once adopted */
	struct evbuffer_cb_entry *watch;
	struct event *timer;
	struct guarded *prev, *next;
};

struct wsev_guard {
	struct evhttp *http;
	struct timeval timeout;
	SSL_CTX *ssl_ctx;
	struct guarded *list;
};

static void
release(struct guarded *c)
{
	struct wsev_guard *g = c->g;

	if (c->prev)
		c->prev->next = c->next;
	else
		g->list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->watch)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
	event_free(c->timer);
	bufferevent_decref(c->bev);
	free(c);
}

/* evhttp frees the connection: the request was answered, or is dropped. */
static void
on_evcon_close(struct evhttp_connection *evcon, void *arg)
{
	struct guarded *c = arg;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	release(c);
}

/* Who has the bufferevent now: 0 freed, 1 evhttp, 2 a WebSocket. */
static int
owner(struct guarded *c, void **cbarg)
{
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;

	bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, cbarg);
	if (!ecb)
		return 0;
	if (wsev_connection_owns_cb_(ecb))
		return 2;
	return 1;
}

/* Bytes came in: once they are a WebSocket's, the guard is done. */
static void
on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct guarded *c = arg;
	void *cbarg;

	(void)buf;
	if (info->n_added > 0 && c->evcon && owner(c, &cbarg) == 2) {
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
		c->watch = NULL;
		/* Not from inside the buffer's own callback run. */
		event_del(c->timer);
		event_active(c->timer, EV_TIMEOUT, 1);
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct guarded *c = arg;
	void *cbarg = NULL;
	int who = owner(c, &cbarg);

	(void)fd;
	(void)what;
	if (!c->evcon) {
		/* Adopt: evhttp's callbacks carry its connection. */
		if (who != 1) {
			release(c);
			return;
		}
		c->evcon = cbarg;
		evhttp_connection_set_closecb(c->evcon, on_evcon_close, c);
		evtimer_add(c->timer, &c->g->timeout);
		return;
	}
	if (who == 1 && c->watch &&
	    (bufferevent_get_enabled(c->bev) & EV_READ)) {
		/* Still reading a request: evhttp drops the connection as on
		 * its own timeouts. Our reference keeps the bufferevent for
		 * release() below. */
		evhttp_connection_set_closecb(c->evcon, NULL, NULL);
		bufferevent_trigger_event(c->bev,
		    BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
		release(c);
		return;
	}
	/* Answered, being answered, or a WebSocket: not ours to time. */
	if (who == 1)
		evhttp_connection_set_closecb(c->evcon, NULL, NULL);
	release(c);
}

static struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
	struct wsev_guard *g = arg;
	struct bufferevent *bev;
	struct guarded *c;
	struct timeval now = { 0, 0 };

	if (g->ssl_ctx) {
		SSL *ssl = SSL_new(g->ssl_ctx);

		if (!ssl)
			return NULL;
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			SSL_free(ssl);
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!bev)
		return NULL;
	/* Out of memory for the guard: the connection goes unguarded. */
	if (!(c = calloc(1, sizeof(*c))))
		return bev;
	if (!(c->timer = evtimer_new(base, on_timer, c))) {
		free(c);
		return bev;
	}
	c->watch = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
	c->g = g;
	c->bev = bev;
	bufferevent_incref(bev);
	c->next = g->list;
	if (g->list)
		g->list->prev = c;
	g->list = c;
	evtimer_add(c->timer, &now);
	return bev;
}

struct wsev_guard *
wsev_guard_new(struct evhttp *http, const struct timeval *timeout,
    struct ssl_ctx_st *ssl_ctx)
{
	struct wsev_guard *g;

	if (!http || !timeout || timeout->tv_sec < 0 || timeout->tv_usec < 0 ||
	    (timeout->tv_sec == 0 && timeout->tv_usec == 0))
		return NULL;
	if (!(g = calloc(1, sizeof(*g))))
		return NULL;
	g->http = http;
	g->timeout = *timeout;
	g->ssl_ctx = ssl_ctx;
	evhttp_set_bevcb(http, make_bev, g);
	return g;
}

void
wsev_guard_free(struct wsev_guard *g)
{
	if (!g)
		return;
	while (g->list)
		release(g->list);
	free(g);
}
