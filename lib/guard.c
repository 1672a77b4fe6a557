/*
 * The request deadline of an evhttp server (slowloris).
 *
 * evhttp 2.1 only has an idle timeout: a client sending its request a byte
 * a second keeps its socket, and a thousand such clients keep a thousand.
 * The guard gives each accepted connection a deadline measured from the
 * accept, and closes it if evhttp is still reading a request then.
 *
 * evhttp 2.1 tells nobody but the application when it accepts or frees a
 * connection (the close callback of an evhttp_connection is the
 * application's: the guard never sets it). The guard works from the one
 * hook it has, evhttp_set_bevcb(): it makes the bufferevent, and everything
 * it knows it learns from that bufferevent.
 *
 * - Who has it. evhttp sets its callbacks, with the evhttp_connection as
 *   their argument, before the accept returns; a WebSocket take-over
 *   (server.c) replaces them with wsev's; bufferevent_free() clears them.
 *
 * - Reading or answering. evhttp reads a request with its read callback
 *   set and EV_READ enabled. When the request is read it disables EV_READ
 *   before calling the application, and while it writes a response it
 *   clears its read callback (it enables EV_READ then, but only to see the
 *   client go). So "a read callback and EV_READ" is evhttp waiting for
 *   request bytes: the first request, its body, or a next one on a
 *   keep-alive connection. A request read and not answered yet, or being
 *   answered (a chunked stream, a long poll), is not.
 *
 * - Accept. The guard takes a reference on the bufferevent, so that it can
 *   always look at it, watches its two buffers, and arms the deadline.
 *
 * - Looks. The guard looks at the bufferevent when its output starts or
 *   empties (a response or a 101 queued, a response written) and when
 *   input arrives for a bufferevent evhttp no longer has. Freed (evhttp
 *   closed the connection after an answer, a WebSocket route freed its
 *   connection) or a WebSocket's: the guard lets go at once, in the loop
 *   turn of the change, disabling a freed one first so that nothing reads
 *   into it. A connection evhttp drops on its own (the client gone, its
 *   idle timeout) changes neither buffer: a sweep of the list once a
 *   second finds it freed, so its descriptor closes within a second (the
 *   client has already been sent the FIN).
 *
 * - Deadline. If evhttp is reading a request, the request is late: the
 *   guard reports a timeout on the bufferevent, and evhttp drops the
 *   connection as it does on its own timeouts. A request being answered
 *   is left alone, and the guard goes on looking, at each further output
 *   change and every timeout: when evhttp turns to reading a next request
 *   after the deadline, or a byte arrives for it, the connection is
 *   closed then, before evhttp reads that byte.
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
	struct evbuffer_cb_entry *in_watch, *out_watch;
	struct event *deadline;		/* then every timeout after it */
	struct event *look;		/* a look soon, from a buffer's callback */
	int expired;
	struct guarded *prev, *next;
};

struct wsev_guard {
	struct evhttp *http;
	struct timeval timeout;
	SSL_CTX *ssl_ctx;
	struct guarded *list;
	struct event *sweep;	/* while the list is not empty */
};

/* How often the guard looks for connections evhttp freed on its own. */
#define SWEEP_MS 1000

enum owner { OWNER_NONE, OWNER_EVHTTP, OWNER_WEBSOCKET };

/* Who has the bufferevent now. */
static enum owner
owner(struct bufferevent *bev, bufferevent_data_cb *readcb)
{
	bufferevent_data_cb wcb;
	bufferevent_event_cb ecb;
	void *cbarg;

	bufferevent_getcb(bev, readcb, &wcb, &ecb, &cbarg);
	if (!ecb)
		return OWNER_NONE;	/* bufferevent_free() cleared them */
	if (wsev_connection_owns_cb_(ecb))
		return OWNER_WEBSOCKET;
	return OWNER_EVHTTP;
}

/* evhttp is waiting for request bytes (see the top of this file). */
static int
evhttp_reading(struct bufferevent *bev)
{
	bufferevent_data_cb rcb;

	return owner(bev, &rcb) == OWNER_EVHTTP && rcb &&
	    (bufferevent_get_enabled(bev) & EV_READ);
}

static void
release(struct guarded *c)
{
	struct wsev_guard *g = c->g;
	bufferevent_data_cb rcb;

	if (c->prev)
		c->prev->next = c->next;
	else
		g->list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (!g->list && g->sweep)
		evtimer_del(g->sweep);
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_watch);
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_watch);
	event_free(c->deadline);
	event_free(c->look);
	/* Freed by its owner, kept by our reference alone: reading into it,
	 * or writing a response nobody will complete, is for nobody. */
	if (owner(c->bev, &rcb) == OWNER_NONE)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_decref(c->bev);
	free(c);
}

/* The request is late: evhttp drops the connection as on its own
 * timeouts (and frees it: our reference keeps the bufferevent). */
static void
cut(struct guarded *c)
{
	bufferevent_trigger_event(c->bev,
	    BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
}

/* Returns 1 if the guard let go of the connection. */
static int
look(struct guarded *c)
{
	bufferevent_data_cb rcb;

	if (owner(c->bev, &rcb) != OWNER_EVHTTP) {
		release(c);
		return 1;
	}
	if (c->expired && evhttp_reading(c->bev)) {
		cut(c);
		release(c);
		return 1;
	}
	return 0;
}

static void
on_look(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	look(arg);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct guarded *c = arg;

	(void)fd;
	(void)what;
	c->expired = 1;
	if (!look(c))	/* being answered: look again later */
		evtimer_add(c->deadline, &c->g->timeout);
}

/* Bytes came in. */
static void
on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct guarded *c = arg;
	bufferevent_data_cb rcb;

	(void)buf;
	if (info->n_added == 0)
		return;
	if (owner(c->bev, &rcb) != OWNER_EVHTTP) {
		/* Not from inside the buffer's own callback run. */
		event_active(c->look, EV_TIMEOUT, 1);
		return;
	}
	/* A late request's byte: evhttp reads it right after us. */
	if (c->expired && evhttp_reading(c->bev)) {
		cut(c);
		event_active(c->look, EV_TIMEOUT, 1);
	}
}

/* A response (or a 101) starts, or the output is written: the bufferevent
 * may have changed hands, or evhttp turned to reading again. */
static void
on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct guarded *c = arg;

	if ((info->n_added > 0 && info->orig_size == 0) ||
	    (info->n_deleted > 0 && evbuffer_get_length(buf) == 0))
		event_active(c->look, EV_TIMEOUT, 1);
}

/*
 * evhttp frees a connection on its own (the client gone, its idle
 * timeout) without touching either buffer, and tells only the
 * application. Our reference then holds the descriptor: a sweep of the
 * list lets go of every bufferevent whose callbacks bufferevent_free()
 * cleared, so a departed client's descriptor closes within SWEEP_MS
 * rather than at its deadline. O(connections) a second, without a
 * syscall.
 */
static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct wsev_guard *g = arg;
	struct guarded *c, *next;
	bufferevent_data_cb rcb;

	(void)fd;
	(void)what;
	for (c = g->list; c; c = next) {
		next = c->next;
		if (owner(c->bev, &rcb) != OWNER_EVHTTP)
			release(c);
	}
}

static void
arm_sweep(struct wsev_guard *g, struct event_base *base)
{
	struct timeval tv = { SWEEP_MS / 1000, (SWEEP_MS % 1000) * 1000 };

	if (!g->sweep &&
	    !(g->sweep = event_new(base, -1, EV_PERSIST, on_sweep, g)))
		return;	/* the deadlines still let go, later */
	if (!evtimer_pending(g->sweep, NULL))
		evtimer_add(g->sweep, &tv);
}

static struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
	struct wsev_guard *g = arg;
	struct bufferevent *bev;
	struct guarded *c;

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
	c->deadline = evtimer_new(base, on_deadline, c);
	c->look = event_new(base, -1, 0, on_look, c);
	if (c->deadline && c->look)
		c->in_watch = evbuffer_add_cb(bufferevent_get_input(bev),
		    on_input, c);
	if (c->in_watch)
		c->out_watch = evbuffer_add_cb(bufferevent_get_output(bev),
		    on_output, c);
	if (!c->out_watch) {
		if (c->in_watch)
			evbuffer_remove_cb_entry(bufferevent_get_input(bev),
			    c->in_watch);
		if (c->look)
			event_free(c->look);
		if (c->deadline)
			event_free(c->deadline);
		free(c);
		return bev;
	}
	c->g = g;
	c->bev = bev;
	bufferevent_incref(bev);
	c->next = g->list;
	if (g->list)
		g->list->prev = c;
	g->list = c;
	evtimer_add(c->deadline, &g->timeout);
	arm_sweep(g, base);
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
	if (g->sweep)
		event_free(g->sweep);
	free(g);
}
