/*
 * The WebSocket connection's core: its life (new, free), reentrancy, and
 * the bufferevent callbacks that drive the other rooms (conn.h lists them).
 *
 * Reentrancy. Every entry from libevent (read, write, event, timer) and every
 * public call runs between wsev_conn_enter_() and wsev_conn_leave_().
 * Callbacks may free the connection: wsev_connection_free() then only sets
 * free_requested, every loop checks it after each callback and stops, and
 * the outermost leave releases the memory. A bufferevent callback that
 * arrives while we are already inside (a bufferevent_pair without deferred
 * callbacks runs its partner's and our own callbacks synchronously from
 * inside a write) is not run in place: it activates the "kick" event, which
 * services the connection from the loop.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include <openssl/err.h>

static void service(struct wsev_connection *c);

/* ------------------------------------------------------------------ */
/* Reentrancy */

/* Free the connection's memory, letting the transport go first (freed or
 * given back). Only from the outermost leave or an idle free: no callback
 * runs from here. */
static void
conn_free_memory(struct wsev_connection *c)
{
	/* Nothing below may reach user code, and nothing may free c twice. */
	c->free_requested = 1;
	c->depth++;
	if (c->bev) {
		/* A pair's partner learns of the end as a socket's peer would. */
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
		bufferevent_flush(c->bev, EV_WRITE, BEV_FINISHED);
		/* Someone may hold a reference on it (wsev_guard, the
		 * application): freed or not, nobody reads into it or writes
		 * from it again. */
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		wsev_conn_transport_release_(c, c->bev);
	}
	if (c->timer)
		event_free(c->timer);
	if (c->kick)
		event_free(c->kick);
	if (c->ka) {
		if (c->ka->timer)
			event_free(c->ka->timer);
		if (c->ka->pong_timer)
			event_free(c->ka->pong_timer);
		free(c->ka);
	}
	wsev_pmd_free_(c->pmd);
	if (c->uri)
		evhttp_uri_free(c->uri);
	free(c->strings);
	free(c->keys);
	free(c->close_data);
	wsev_conn_release_msg_(c);
	wsev_conn_thread_unref_();
	free(c->oq.v);
	if (c->pending)
		evbuffer_free(c->pending);
	free(c);
}

void
wsev_conn_enter_(struct wsev_connection *c)
{
	c->depth++;
}

/* Returns -1 if the connection was destroyed: the caller must return. */
int
wsev_conn_leave_(struct wsev_connection *c)
{
	if (--c->depth == 0 && c->free_requested) {
		conn_free_memory(c);
		return -1;
	}
	return 0;
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct wsev_connection *c = arg;

	(void)fd;
	(void)what;
	wsev_conn_enter_(c);
	service(c);
	wsev_conn_leave_(c);
}

void
wsev_conn_kick_(struct wsev_connection *c)
{
	if (!c->kick) {
		c->kick = event_new(c->base, -1, 0, on_kick, c);
		if (!c->kick)
			return;	/* the next bufferevent callback services us */
	}
	event_active(c->kick, EV_TIMEOUT, 1);
}

/* ------------------------------------------------------------------ */
/* Callbacks to the user */

void
wsev_conn_emit_error_(struct wsev_connection *c, enum wsev_error_domain domain,
    int code, const char *msg)
{
	struct wsev_error err;

	if (c->free_requested || !c->cbs.error)
		return;
	wsev_error_set_(&err, domain, code, "%s", msg);
	c->cbs.error(c, &err, c->arg);
}

void
wsev_conn_emit_closing_(struct wsev_connection *c)
{
	if (!c->free_requested && c->cbs.closing)
		c->cbs.closing(c, c->arg);
}

/* ------------------------------------------------------------------ */
/* Events */

static void
report_transport_failure(struct wsev_connection *c, short what, int sys_errno)
{
	unsigned long e = wsev_tls_error_(c->bev);
	char buf[256];

	c->transport_error = 1;
	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		wsev_conn_emit_error_(c, WSEV_DOMAIN_TLS, (int)ERR_GET_REASON(e), buf);
	} else if (what & BEV_EVENT_TIMEOUT) {
		wsev_conn_emit_error_(c, WSEV_DOMAIN_ERRNO, ETIMEDOUT,
		    (what & BEV_EVENT_READING) ? "read timed out" :
		    "write timed out");
	} else if (sys_errno) {
		wsev_conn_emit_error_(c, WSEV_DOMAIN_ERRNO, sys_errno,
		    evutil_socket_error_to_string(sys_errno));
	} else {
		wsev_conn_emit_error_(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
		    "connection lost without a close frame");
	}
}

static void
handle_bev_events(struct wsev_connection *c, short what, int sys_errno)
{
	int done = c->failed || (c->sent_close && c->recv_close);

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	if (done && !(what & BEV_EVENT_ERROR) &&
	    (wsev_conn_out_len_(c) > 0 || c->oq.count > 0)) {
		/* A half-closed peer still reads: let our close frame out
		 * first (bounded by the close timer). */
		c->eof_seen = 1;
		bufferevent_disable(c->bev, EV_READ);
		wsev_conn_arm_close_timer_(c);
		return;
	}
	if (done) {
		/* The peer closing TCP (even with a reset) after the
		 * handshake is the end we wait for. */
		if (what & BEV_EVENT_ERROR)
			c->transport_error = 1;
	} else if (what & BEV_EVENT_EOF) {
		wsev_conn_emit_error_(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
		    "connection closed without a close frame");
	} else {
		report_transport_failure(c, what, sys_errno);
	}
	wsev_conn_end_(c);
}

/* One turn of the connection: parse input, move output, handle events.
 * Called between wsev_conn_enter_() and wsev_conn_leave_(). */
static void
service(struct wsev_connection *c)
{
	short what;
	int full;

	if (c->state == WSEV_STATE_CLOSED || c->free_requested || !c->bev)
		return;
	/* Measured before parsing, which only leaves a partial header. */
	full = evbuffer_get_length(bufferevent_get_input(c->bev)) >=
	    BEV_READ_CAP;
	wsev_conn_process_input_(c);
	if (full && c->bev && c->state != WSEV_STATE_CLOSED)
		WSEV_CONN_IO(c)->read_on(c);
	if (c->state == WSEV_STATE_CLOSED || c->free_requested)
		return;
	/* Whatever the input made us send leaves now, in one write. */
	wsev_conn_move_output_(c);
	if (c->pending_events) {
		what = c->pending_events;
		c->pending_events = 0;
		handle_bev_events(c, what, c->pending_errno);
		return;
	}
	wsev_conn_check_output_(c);
	/* Resume reading; on the fast path the output may leave at once,
	 * so parsing may pause and resume again here. Each turn consumes
	 * input, so this ends. */
	while (c->read_paused && c->bev && c->state != WSEV_STATE_CLOSED &&
	    !c->free_requested && wsev_conn_buffered_(c) <= c->max_out / 2) {
		c->read_paused = 0;
		if (!c->eof_seen)
			bufferevent_enable(c->bev, EV_READ);
		wsev_conn_process_input_(c);
		if (c->state != WSEV_STATE_CLOSED && !c->free_requested &&
		    c->bev)
			wsev_conn_move_output_(c);
	}
}

static void
on_bev_io(struct bufferevent *bev, void *arg)
{
	struct wsev_connection *c = arg;

	(void)bev;
	if (c->depth > 0) {
		wsev_conn_kick_(c);
		return;
	}
	wsev_conn_enter_(c);
	service(c);
	wsev_conn_leave_(c);
}

static void
on_bev_event(struct bufferevent *bev, short what, void *arg)
{
	struct wsev_connection *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		c->pending_events |= what;
		c->pending_errno = EVUTIL_SOCKET_ERROR();
	}
	on_bev_io(bev, arg);
}

void
wsev_connection_hold_(struct wsev_connection *c)
{
	wsev_conn_enter_(c);
}

void
wsev_connection_unhold_(struct wsev_connection *c)
{
	wsev_conn_leave_(c);
}

int
wsev_connection_owns_cb_(void (*cb)(struct bufferevent *, short, void *))
{
	return cb == on_bev_event;
}

/* ------------------------------------------------------------------ */
/* Public API */

/* A string into the block at *at, or NULL for NULL. */
static const char *
put_string(char **at, const char *s)
{
	char *p = *at;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	memcpy(p, s, n);
	*at = p + n;
	return p;
}

/* The URI (checked now, parsed again when asked for), the origin and the
 * protocol, in one allocation: an idle connection carries them for life. */
static int
keep_strings(struct wsev_connection *c, const char *uri, const char *origin,
    const char *protocol)
{
	struct evhttp_uri *u;
	size_t n = 0;
	char *at;

	if (uri) {
		if (!(u = evhttp_uri_parse(uri)))
			return -1;
		evhttp_uri_free(u);
		n += strlen(uri) + 1;
	}
	n += origin ? strlen(origin) + 1 : 0;
	n += protocol ? strlen(protocol) + 1 : 0;
	if (n == 0)
		return 0;
	if (!(c->strings = at = malloc(n)))
		return -1;
	c->has_uri = put_string(&at, uri) != NULL;
	c->origin = put_string(&at, origin);
	c->protocol = put_string(&at, protocol);
	return 0;
}

/* SSL_free_buffers() could free a buffer still in use before OpenSSL
 * 3.0.14, 3.1.6, 3.2.2 and 3.3.1 (CVE-2024-4741). */
static int
free_buffers_safe(void)
{
	unsigned long v = OpenSSL_version_num() >> 4;	/* 0xMNN00PP */

	switch (v >> 16) {
	case 0x300:
		return (v & 0xff) >= 14;
	case 0x301:
		return (v & 0xff) >= 6;
	case 0x302:
		return (v & 0xff) >= 2;
	case 0x303:
		return (v & 0xff) >= 1;
	default:
		return (v >> 16) > 0x303;
	}
}

static struct wsev_connection *
new_connection(struct bufferevent *bev, const char *uri,
    enum wsev_connection_type type, const char *origin, const char *protocol,
    const struct wsev_extensions *ext)
{
	struct wsev_connection *c;
	int failed = 0;
	SSL *ssl;

	if (!bev || (type != WSEV_CONNECTION_CLIENT &&
	    type != WSEV_CONNECTION_SERVER))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	wsev_conn_thread_ref_();	/* conn_free_memory() counts it down */
	c->base = bufferevent_get_base(bev);
	c->type = type;
	c->state = WSEV_STATE_OPEN;
	c->max_payload = DEFAULT_MAX_PAYLOAD;
	c->max_out = WSEV_DEFAULT_MAX_OUTGOING_BUFFER;
	c->close_timeout_ms = DEFAULT_CLOSE_TIMEOUT_SEC * 1000;
	if (keep_strings(c, uri, origin, protocol) < 0)
		failed = 1;
	if (ext && ext->deflate) {
		c->ext = *ext;
		c->ext.deflate = 1;
		if (!(c->pmd = wsev_pmd_new_(&c->ext,
		    type == WSEV_CONNECTION_SERVER)))
			failed = 1;
	}
	if (failed) {
		conn_free_memory(c);
		return NULL;
	}
	/* Enabling a pair may deliver bytes synchronously: hold the depth so
	 * nothing is serviced from inside new(). */
	c->depth = 1;
	c->bev = bev;
	bufferevent_setcb(bev, on_bev_io, on_bev_io, on_bev_event, c);
	/* OpenSSL's record buffers (about 34 KiB) go back between records
	 * rather than staying with an idle connection; the ones the
	 * handshake left go now (unless they hold bytes not yet read). */
	if ((ssl = wsev_conn_find_ssl_(bev)) != NULL) {
		SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
		if (free_buffers_safe())
			SSL_free_buffers(ssl);
	}
	c->sock_io = wsev_conn_sock_usable_(bev) != 0;
	if (bufferevent_get_underlying(bev) != NULL) {
		c->low_out = bufferevent_get_output(wsev_conn_bottom_(bev));
		if (!(c->low_cb = evbuffer_add_cb(c->low_out,
		    wsev_conn_bottom_drained_, c)))
			failed = 1;
	}
	if (WSEV_CONN_IO(c)->start(c) < 0)
		failed = 1;
	/* Bytes already received are processed from the loop, once the
	 * caller has had the chance to set the callbacks. */
	if (!failed && evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		wsev_conn_kick_(c);
		if (!c->kick)
			failed = 1;
	}
	c->depth = 0;
	if (failed) {
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		wsev_conn_unwatch_bottom_(c);
		c->bev = NULL;	/* the caller keeps it */
		conn_free_memory(c);
		return NULL;
	}
	return c;
}

struct wsev_connection *
wsev_connection_new(struct bufferevent *bev, const char *uri,
    enum wsev_connection_type type, const char *origin, const char *protocol)
{
	return new_connection(bev, uri, type, origin, protocol, NULL);
}

struct wsev_connection *
wsev_connection_new_with_extensions(struct bufferevent *bev, const char *uri,
    enum wsev_connection_type type, const char *origin, const char *protocol,
    const struct wsev_extensions *ext)
{
	return new_connection(bev, uri, type, origin, protocol, ext);
}

void
wsev_connection_set_owner_(struct wsev_connection *c,
    wsev_release_fn_ release, void *arg)
{
	c->release = release;
	c->release_arg = arg;
}

void
wsev_connection_list_add_(struct wsev_connection **head,
    struct wsev_connection *c)
{
	c->list_prev = NULL;
	c->list_next = *head;
	if (*head)
		(*head)->list_prev = c;
	*head = c;
}

void
wsev_connection_list_remove_(struct wsev_connection **head,
    struct wsev_connection *c)
{
	if (c->list_prev)
		c->list_prev->list_next = c->list_next;
	else if (*head == c)
		*head = c->list_next;
	if (c->list_next)
		c->list_next->list_prev = c->list_prev;
	c->list_prev = c->list_next = NULL;
}

void
wsev_connection_lose_transport_(struct wsev_connection *c, const char *why)
{
	if (!c->bev)
		return;
	wsev_conn_enter_(c);
	/* Still valid here; the owner frees it once we return. */
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	if (wsev_conn_write_going_away_(c, "server shutting down") == 0)
		c->failed = 1;	/* a unilateral end: no error, code 1001 */
	wsev_conn_unwatch_bottom_(c);
	c->bev = NULL;
	c->release = NULL;
	if (c->state != WSEV_STATE_CLOSED) {
		if (!c->failed && !(c->sent_close && c->recv_close)) {
			c->transport_error = 1;
			wsev_conn_emit_error_(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
			    why);
		}
		wsev_conn_end_(c);
	}
	wsev_conn_leave_(c);
}

void
wsev_connection_free(struct wsev_connection *c)
{
	if (!c || c->free_requested)
		return;
	if (c->depth > 0) {
		c->free_requested = 1;
		return;
	}
	conn_free_memory(c);
}

void
wsev_connection_set_callbacks_sized(struct wsev_connection *c,
    const struct wsev_callbacks *cbs, size_t cbs_size, void *arg)
{
	memset(&c->cbs, 0, sizeof(c->cbs));
	if (cbs)
		memcpy(&c->cbs, cbs,
		    cbs_size < sizeof(c->cbs) ? cbs_size : sizeof(c->cbs));
	c->arg = arg;
}
