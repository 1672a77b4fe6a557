/*
 * The transport: the bufferevent under the connection, its chain of
 * filters, its output, and letting it go (closed, or given back to its
 * owner).
 *
 * Filters. A filter (and an OpenSSL filter) hands its bytes down to the
 * bufferevent under it at once: its own output looks empty while the
 * socket's holds everything. So "the output" is the whole chain's
 * (wsev_conn_out_len_()): the window, the outgoing limit, drain and the
 * waits before closing; and since the filter reports no drain of the
 * bottom's output, we watch that evbuffer ourselves
 * (wsev_conn_bottom_drained_()). The socket under a filter is never shut
 * down or written around it while bytes are queued.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "conn.h"

#include <event2/bufferevent_ssl.h>

#include <openssl/err.h>

/* The bottom of a bufferevent's chain of filters (itself if none). */
struct bufferevent *
wsev_conn_bottom_(struct bufferevent *bev)
{
	struct bufferevent *u;

	while ((u = bufferevent_get_underlying(bev)) != NULL)
		bev = u;
	return bev;
}

void
wsev_conn_unwatch_bottom_(struct wsev_connection *c)
{
	if (c->low_cb) {
		evbuffer_remove_cb_entry(c->low_out, c->low_cb);
		c->low_cb = NULL;
		c->low_out = NULL;
	}
}

void
wsev_conn_transport_release_(struct wsev_connection *c, struct bufferevent *bev)
{
	wsev_release_fn_ release = c->release;
	struct bufferevent *b, *u;

	wsev_conn_unwatch_bottom_(c);
	/* The end of the stream goes down the chain: a filter passes a
	 * flush on to its underlying bufferevent, an OpenSSL filter does
	 * not (a pair at the bottom then never tells its partner). */
	for (b = bev; (u = bufferevent_get_underlying(b)) != NULL; b = u)
		if (bufferevent_openssl_get_ssl(b))
			bufferevent_flush(u, EV_WRITE, BEV_FINISHED);
	c->release = NULL;
	if (release)
		release(c, bev, c->release_arg);
	else
		bufferevent_free(bev);
}

/*
 * The bytes the transport holds for the peer: its output, and under a
 * filter the output of every bufferevent below it (a filter hands its
 * bytes down at once, so its own output looks empty while the socket's
 * holds them all).
 */
size_t
wsev_conn_out_len_(const struct wsev_connection *c)
{
	struct bufferevent *b = c->bev;
	size_t n = evbuffer_get_length(bufferevent_get_output(b));

	if (c->low_cb)	/* a filter */
		while ((b = bufferevent_get_underlying(b)) != NULL)
			n += evbuffer_get_length(bufferevent_get_output(b));
	return n;
}

SSL *
wsev_conn_find_ssl_(struct bufferevent *bev)
{
	for (; bev; bev = bufferevent_get_underlying(bev)) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		if (ssl)
			return ssl;
	}
	return NULL;
}

/*
 * TLS's close_notify (RFC 8446 §6.1), the one place wsev shuts TLS down.
 * The alert is queued in the transport's output; errors it raises are
 * nobody's, and the application's own stay queued.
 */
void
wsev_conn_tls_shutdown_with_(SSL *ssl)
{
	ERR_set_mark();
	SSL_shutdown(ssl);
	ERR_pop_to_mark();
}

/* close_notify on the bufferevent's TLS, if it has one anywhere in its
 * chain. */
void
wsev_conn_tls_shutdown_(struct bufferevent *bev)
{
	SSL *ssl = wsev_conn_find_ssl_(bev);

	if (ssl)
		wsev_conn_tls_shutdown_with_(ssl);
}

/* Close the transport: close_notify on TLS, EOF to a pair's partner. */
void
wsev_conn_transport_close_(struct wsev_connection *c)
{
	struct bufferevent *bev = c->bev;

	if (!bev)
		return;
	c->bev = NULL;
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	if (!c->transport_error && !c->lingering)
		wsev_conn_tls_shutdown_(bev);
	bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
	wsev_conn_transport_release_(c, bev);
}

/* The bottom of a filter's chain lost bytes to the socket: once it is
 * empty (or below the window while frames wait), look at the output
 * again from the loop (the filter's own write callback does not come). */
void
wsev_conn_bottom_drained_(struct evbuffer *buf,
    const struct evbuffer_cb_info *info, void *arg)
{
	struct wsev_connection *c = arg;
	size_t n;

	if (info->n_deleted == 0 || !c->bev)
		return;
	n = evbuffer_get_length(buf);
	if (n == 0 || (c->oq.count > 0 && n < OUT_WINDOW))
		wsev_conn_kick_(c);
}

/* ------------------------------------------------------------------ */
/* The bufferevent's own I/O: TLS, filters, pairs (wsev_conn_io_). */

static int
bev_start(struct wsev_connection *c)
{
	return bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
bev_read_on(struct wsev_connection *c)
{
	(void)c;	/* the bufferevent reads on by itself */
}

static int
bev_send_now(struct wsev_connection *c, unsigned b0, const void *data,
    size_t len)
{
	(void)c;
	(void)b0;
	(void)data;
	(void)len;
	return 1;	/* every frame is queued */
}

static void
bev_resume(struct wsev_connection *c)
{
	(void)c;
}

static int
bev_flush(struct wsev_connection *c)
{
	(void)c;
	return 0;	/* the bufferevent writes when it can */
}

static int
bev_writes_now(const struct wsev_connection *c)
{
	(void)c;
	return 0;
}

const struct wsev_conn_io_ wsev_conn_io_bev_ = {
	bev_start, bev_read_on, bev_send_now, bev_resume, bev_flush,
	bev_writes_now
};
