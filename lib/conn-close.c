/*
 * Closing: the close handshake (RFC 6455 §5.5.1, §7), failing the
 * connection (§7.1.7), lingering after a failure, the close timeout, the
 * going-away frame of a server shutting down, and the one exit path.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "conn.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>

/* ------------------------------------------------------------------ */
/* Closing */

static void
on_close_timeout(evutil_socket_t fd, short what, void *arg);

void
wsev_conn_arm_close_timer_(struct wsev_connection *c)
{
	if (!c->timer) {
		c->timer = evtimer_new(c->base, on_close_timeout, c);
		if (!c->timer)
			return;
	}
	if (!evtimer_pending(c->timer, NULL)) {
		struct timeval tv;

		wsev_conn_close_timeout_(c, &tv);
		evtimer_add(c->timer, &tv);
	}
}

static int
set_close_data(struct wsev_connection *c, const void *data, size_t len)
{
	char *s = malloc(len + 1);

	if (!s)
		return -1;
	if (len)
		memcpy(s, data, len);
	s[len] = '\0';
	free(c->close_data);
	c->close_data = s;
	return 0;
}

/* The one exit path: CLOSED, transport gone, "closed" emitted once. */
void
wsev_conn_end_(struct wsev_connection *c)
{
	if (c->state == WSEV_STATE_CLOSED)
		return;
	c->state = WSEV_STATE_CLOSED;
	if (c->timer)
		evtimer_del(c->timer);
	if (c->ka && c->ka->timer)
		evtimer_del(c->ka->timer);
	if (c->ka && c->ka->pong_timer)
		evtimer_del(c->ka->pong_timer);
	if (c->close_code == 0)
		c->close_code = WSEV_CLOSE_ABNORMAL;
	wsev_conn_transport_close_(c);
	if (!c->free_requested && c->cbs.closed)
		c->cbs.closed(c, c->arg);
}

/*
 * RFC 6455 §7.1.7 "Fail the WebSocket Connection": send a close frame with
 * the code (behind what is already queued: messages answered before the
 * bad frame still go out), report the error, stop reading frames, and close
 * the transport once the close frame is out. Returns -1 for the callers'
 * convenience.
 */
int
wsev_conn_fail_(struct wsev_connection *c, unsigned short code, const char *why)
{
	if (c->failed || c->state == WSEV_STATE_CLOSED)
		return -1;
	c->failed = 1;
	c->state = WSEV_STATE_CLOSING;
	if (c->close_code == 0) {
		c->close_code = code;
		set_close_data(c, why, strlen(why));
	}
	if (!c->sent_close) {
		c->sent_close = 1;
		wsev_conn_queue_close_(c, code, why, strlen(why));
	}
	wsev_conn_arm_close_timer_(c);
	wsev_conn_emit_error_(c, WSEV_DOMAIN_WEBSOCKET, code, why);
	return -1;
}

static void
on_close_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct wsev_connection *c = arg;

	(void)fd;
	(void)what;
	wsev_conn_enter_(c);
	if (c->state != WSEV_STATE_CLOSED) {
		if (!c->failed && !(c->sent_close && c->recv_close))
			wsev_conn_emit_error_(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
			    "close handshake timed out");
		wsev_conn_end_(c);
	}
	wsev_conn_leave_(c);
}

/* Our own trouble (memory): 1011 is the server's code; a client that
 * cannot go on is "going away" (RFC 6455 §7.4.1). */
unsigned short
wsev_conn_internal_error_code_(const struct wsev_connection *c)
{
	return c->type == WSEV_CONNECTION_SERVER ? WSEV_CLOSE_SERVER_ERROR :
	    WSEV_CLOSE_GOING_AWAY;
}

/* RFC 6455 §7.4: the codes a close frame may carry. */
static int
close_code_receivable(unsigned code)
{
	return (code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1014) ||
	    (code >= 3000 && code <= 4999);
}

int
wsev_conn_handle_close_(struct wsev_connection *c, const uint8_t *p, size_t len)
{
	unsigned code = WSEV_CLOSE_NO_STATUS;

	if (len == 1)
		return wsev_conn_fail_(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    "close frame with a 1-byte body");
	if (len >= 2) {
		code = (unsigned)p[0] << 8 | p[1];
		if (!close_code_receivable(code))
			return wsev_conn_fail_(c, WSEV_CLOSE_PROTOCOL_ERROR,
			    "close frame with an invalid code");
		if (!wsev_utf8_valid_(p + 2, len - 2))
			return wsev_conn_fail_(c, WSEV_CLOSE_PROTOCOL_ERROR,
			    "close reason is not UTF-8");
	}
	c->recv_close = 1;
	if (c->close_code == 0) {
		c->close_code = (unsigned short)code;
		set_close_data(c, len > 2 ? p + 2 : p, len > 2 ? len - 2 : 0);
	}
	if (!c->sent_close) {
		/* §5.5.1: answer with a close frame echoing the code (1000
		 * for an empty one); §7.1.3: the closing handshake started. */
		c->state = WSEV_STATE_CLOSING;
		c->sent_close = 1;
		if (code == WSEV_CLOSE_NO_STATUS)
			wsev_conn_queue_close_(c, WSEV_CLOSE_NORMAL, NULL, 0);
		else
			wsev_conn_queue_close_(c, (unsigned short)code,
			    (const char *)p + 2, len - 2);
		wsev_conn_arm_close_timer_(c);
		wsev_conn_emit_closing_(c);
	}
	return c->free_requested ? -1 : 1;
}

/*
 * After a failure the peer is usually still sending (the rest of a frame we
 * refused). Closing a socket with unread input makes the kernel send a
 * reset, and the peer may lose our close frame with it. So half-close
 * (close_notify on TLS, then a FIN), drop what still arrives, and close on
 * the peer's EOF or after at most LINGER_MS (RFC 6455 §7.1.1).
 */
#define LINGER_MS 1000

int
wsev_conn_linger_(struct wsev_connection *c)
{
	evutil_socket_t fd = bufferevent_getfd(wsev_conn_bottom_(c->bev));
	struct timeval tv = { LINGER_MS / 1000, (LINGER_MS % 1000) * 1000 };
	struct timeval close_tv;

	if (fd < 0 || !c->timer)
		return -1;	/* pairs and filters over them: close now */
	wsev_conn_tls_shutdown_(c->bev);
	/* The socket is shut only under its own bufferevent with nothing
	 * queued. A filter passes getfd() through to the socket under it:
	 * what it has queued (the close_notify just made, say) would be
	 * overtaken; the shutdown then waits for the chain to drain. */
	if (c->low_cb || wsev_conn_out_len_(c) > 0)
		c->shut_due = 1;
	else if (shutdown(fd, SHUT_WR) < 0)
		return -1;
	c->lingering = 1;
	wsev_conn_close_timeout_(c, &close_tv);
	if (evutil_timercmp(&close_tv, &tv, <))
		tv = close_tv;
	evtimer_del(c->timer);
	evtimer_add(c->timer, &tv);
	bufferevent_enable(c->bev, EV_READ);
	return 0;
}

/* The frame, then close_notify, on the TLS under the transport. */
static ev_ssize_t
tls_write(SSL *ssl, const void *f, size_t n)
{
	int w;

	ERR_set_mark();	/* the application's own errors stay queued */
	w = SSL_write(ssl, f, (int)n);
	ERR_pop_to_mark();
	wsev_conn_tls_shutdown_with_(ssl);
	return w;
}

/*
 * The owner frees the transport under us (a server shutting down). If
 * nothing else is queued, a close frame 1001 written straight to the
 * socket tells the peer why (RFC 6455 §7.4.1) instead of a bare drop; the
 * bufferevent's own output would be discarded with it. Best effort.
 */
int
wsev_conn_write_going_away_(struct wsev_connection *c, const char *reason)
{
	uint8_t f[WSEV_FRAME_MAX_HEADER + WSEV_CONTROL_MAX_PAYLOAD];
	uint8_t body[WSEV_CONTROL_MAX_PAYLOAD];
	size_t rlen = strlen(reason), n, blen;
	struct bufferevent *low;
	struct evbuffer *out;
	evutil_socket_t fd;
	SSL *ssl;
	ev_ssize_t w;

	if (c->state != WSEV_STATE_OPEN || c->type != WSEV_CONNECTION_SERVER ||
	    c->oq.count > 0 || wsev_conn_out_len_(c) > 0)
		return -1;
	/* A server's frame: unmasked, so written here whole, header first. */
	blen = wsev_frame_close_body_(body, WSEV_CLOSE_GOING_AWAY, reason,
	    rlen);
	rlen = blen - 2;
	n = wsev_frame_write_header_(f, WSEV_B0_FINAL(WSEV_OP_CLOSE), blen,
	    NULL);
	memcpy(f + n, body, blen);
	n += blen;
	if (c->low_cb) {
		/* A filter: the frame goes through it (and its TLS) like any
		 * other, down to a plain socket's bufferevent, whose output is
		 * written now; the transport is freed once we return. The
		 * socket under a filter is never written around it. */
		low = wsev_conn_bottom_(c->bev);
		if (!wsev_conn_sock_usable_(low))
			return -1;
		if ((ssl = wsev_conn_find_ssl_(c->bev)) != NULL) {
			w = tls_write(ssl, f, n);
		} else {
			w = evbuffer_add(bufferevent_get_output(c->bev), f,
			    n) == 0 ? (ev_ssize_t)n : -1;
			bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
		}
		out = bufferevent_get_output(low);
		evbuffer_unfreeze(out, 1);
		evbuffer_write(out, bufferevent_getfd(low));
		evbuffer_freeze(out, 1);
		if (wsev_conn_out_len_(c) > 0)
			return -1;
	} else if ((ssl = wsev_conn_find_ssl_(c->bev)) != NULL) {
		w = tls_write(ssl, f, n);
	} else if ((fd = bufferevent_getfd(c->bev)) >= 0) {
#ifdef MSG_NOSIGNAL
		w = send(fd, (const char *)f, n, MSG_NOSIGNAL | MSG_DONTWAIT);
#else
		w = send(fd, (const char *)f, n, 0);
#endif
	} else {
		return -1;
	}
	if (w != (ev_ssize_t)n)
		return -1;
	c->sent_close = 1;
	c->close_code = WSEV_CLOSE_GOING_AWAY;
	set_close_data(c, reason, rlen);
	return 0;
}

/* RFC 6455 §7.4: what this side may put on the wire. */
static int
close_code_sendable(const struct wsev_connection *c, unsigned code)
{
	if (code == WSEV_CLOSE_NO_EXTENSION)
		return c->type == WSEV_CONNECTION_CLIENT;
	if (code == WSEV_CLOSE_SERVER_ERROR)
		return c->type == WSEV_CONNECTION_SERVER;
	return (code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1011) ||
	    (code >= 3000 && code <= 4999);
}

int
wsev_connection_close(struct wsev_connection *c, unsigned short code,
    const char *data)
{
	size_t rlen = data ? strlen(data) : 0;

	if (!c)
		return WSEV_ERR_INVALID_ARGUMENT;
	if (c->state != WSEV_STATE_OPEN || c->free_requested)
		return WSEV_ERR_NOT_OPEN;
	if (code == 0 || code == WSEV_CLOSE_NO_STATUS) {
		if (rlen)
			return WSEV_ERR_INVALID_ARGUMENT;
	} else if (!close_code_sendable(c, code) ||
	    rlen > WSEV_CONTROL_MAX_PAYLOAD - 2) {
		return WSEV_ERR_INVALID_ARGUMENT;
	} else if (!wsev_utf8_valid_(data ? data : "", rlen)) {
		return WSEV_ERR_BAD_UTF8;
	}
	wsev_conn_enter_(c);
	c->state = WSEV_STATE_CLOSING;
	c->sent_close = 1;
	if (wsev_conn_queue_close_(c, code, data, rlen) < 0) {
		/* Out of memory: no frame to wait for, end it now. */
		wsev_conn_emit_error_(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
		    "out of memory queueing the close frame");
		wsev_conn_end_(c);
	} else {
		wsev_conn_arm_close_timer_(c);
		wsev_conn_emit_closing_(c);
	}
	wsev_conn_leave_(c);
	return 0;
}
