/*
 * Taking a connection over from evhttp (libevent 2.1), and letting go of
 * evhttp once it is ours.
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
 *   never starts reading a next request on the socket.
 *
 * - Timeouts. evhttp put its read and write timeouts on the bufferevent;
 *   they are cleared. Slow handshakes are still dropped by evhttp's own
 *   timeout (evhttp_set_timeout) before we ever see them.
 *
 * - Bytes behind the handshake. evhttp consumed only the request's bytes;
 *   anything the client sent after them is in the bufferevent's input and
 *   wsev_connection_new() processes it from the loop.
 *
 * - Letting go (let_go()). Kept, the evhttp_connection and its request
 *   would cost an idle WebSocket about 1.1 KiB for its whole life. Freeing
 *   them keeps the bufferevent (our reference) but evhttp_connection_free()
 *   then calls shutdown(SHUT_WR) on the descriptor it accepted, and closes
 *   it unless the bufferevent was made with BEV_OPT_CLOSE_ON_FREE. So the
 *   socket moves first: it is duplicated to a descriptor of ours, the
 *   bufferevent is pointed at that one (its events leave the old one while
 *   it is still the socket, so epoll forgets them), and a fresh unconnected
 *   socket is dup2()ed over the old number. evhttp's shutdown and close then
 *   hit that stand-in. Whether evhttp closed it is told by its inode (no
 *   other descriptor can have it while we hold it open), never by the
 *   number, which another thread may have been given again meanwhile.
 *   An OpenSSL bufferevent is pointed at the new descriptor by hand (its
 *   two events re-assigned, the SSL's BIO replaced): in 2.1
 *   bufferevent_setfd() on it would restart the TLS handshake.
 *
 *   When is it done? A route (wsev_server_add_handler) lets go right after
 *   its callback returns, the request's last use. wsev_server_upgrade()'s
 *   caller may read the request until its own evhttp callback returns, so
 *   there it happens from the loop, right after that callback.
 *
 *   When it cannot be done the connection stays evhttp's, as below: a
 *   descriptor could not be had (EMFILE), libevent could not add the
 *   events again (out of memory: they are pointed back), or the backend
 *   applies changes only at its next poll, after the dup2(): epoll with a
 *   changelist (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) would keep reporting
 *   the socket under the old number, kqueue could cancel a new socket's
 *   events on it. Only epoll, poll and select let go.
 *
 * - A route removed in its own callback (wsev_server_remove_handler()
 *   from the callback, or from a "closed" callback it causes) is freed
 *   once the callback has returned, and the new connection is ended with
 *   the others.
 *
 * - Closing the WebSocket. The connection is given an owner hook: a
 *   socket we took frees the bufferevent (pointed at no descriptor first,
 *   so that freeing it closes nothing whatever its options) and closes our
 *   descriptor; one evhttp still has is ended by freeing the whole
 *   evhttp_connection, after close_notify on TLS.
 *
 * - The server shutting down. A route keeps a list of the WebSockets it
 *   took; wsev_server_remove_handler() writes each a close frame 1001
 *   "going away" straight to its socket when nothing else is queued, and
 *   ends it. Connections evhttp still holds end at evhttp_free(): it frees
 *   every evhttp_connection, and each one's close callback tells us before
 *   its bufferevent goes (the same 1001). The close callback is cleared
 *   whenever we free the evhttp_connection ourselves, so it never fires
 *   for a connection that is already gone.
 *
 * - The request callback must do all this before it returns: evhttp 2.1
 *   calls event_errx() (and exits) if bytes arrive on a connection whose
 *   request is neither answered nor taken over.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <openssl/ssl.h>

struct wsev_handler {
	struct evhttp *http;
	char *path;
	char *origin;
	char **protocols;	/* NULL-terminated copy, or NULL */
	wsev_server_cb cb;
	void *arg;
	struct wsev_connection_options opts;
	struct timeval close_timeout;	/* opts.close_timeout points here */
	struct wsev_connection *conns;	/* the WebSockets we took */
	int in_cb;			/* its callback is running */
	int removed;			/* wsev_server_remove_handler() ran */
};

/* A wsev_server_upgrade() connection until the loop lets go of evhttp. */
struct pending {
	struct evhttp_connection *evcon;
	struct wsev_connection *conn;
	struct event *ev;
};

/* ---- the socket's move (see the top of this file) ---- */

/* One of a bufferevent's two events, re-assigned to @p fd as it was. */
static void
move_event(struct event *ev, const struct timeval *tv, evutil_socket_t fd)
{
	struct event_base *base;
	event_callback_fn cb;
	void *arg;
	short what;
	int pending = event_pending(ev, EV_READ | EV_WRITE, NULL);

	event_get_assignment(ev, &base, NULL, &what, &cb, &arg);
	event_del(ev);
	event_assign(ev, base, fd, what, cb, arg);
	if (pending && fd >= 0)
		event_add(ev, evutil_timerisset(tv) ? tv : NULL);
}

/* The bufferevent at the bottom of filters (bev itself if none). */
static struct bufferevent *
bottom(struct bufferevent *bev)
{
	struct bufferevent *u;

	while ((u = bufferevent_get_underlying(bev)) != NULL)
		bev = u;
	return bev;
}

/* Which of a socket bufferevent's two events are pending. */
static int
pending_events(struct bufferevent *b)
{
	return event_pending(&b->ev_read, EV_READ, NULL) |
	    event_pending(&b->ev_write, EV_WRITE, NULL);
}

/*
 * Point a socket's bufferevent, plain or OpenSSL (or the one at the
 * bottom of filters), at @p fd (-1: none). -1 if its events could not be
 * added again as they were (out of memory in libevent's map): it is then
 * pointed back at @p old, whose slot libevent already has.
 */
static int
repoint(struct bufferevent *bev, evutil_socket_t fd, evutil_socket_t old)
{
	struct bufferevent *b = bottom(bev);
	SSL *ssl = bufferevent_openssl_get_ssl(b);
	int was = pending_events(b), r = 0;
	BIO *bio;

	bufferevent_lock(b);
	if (!ssl) {
		r = bufferevent_setfd(b, fd);
	} else if (!(bio = SSL_get_rbio(ssl)) || bio != SSL_get_wbio(ssl) ||
	    BIO_method_type(bio) != BIO_TYPE_SOCKET) {
		r = -1;
	} else {
		/* The SSL's own socket BIO moves (a new one would count its
		 * bytes from 0, which libevent's rate limits read, and could
		 * fail): at -1 it no longer names the descriptor, which
		 * freeing the bufferevent would close a second time. */
		BIO_set_fd(bio, (int)fd, BIO_NOCLOSE);
		move_event(&b->ev_read, &b->timeout_read, fd);
		move_event(&b->ev_write, &b->timeout_write, fd);
	}
	/* An event pending before and not after: libevent could not add
	 * it (one pending only now, a write event on an empty output, is
	 * harmless). */
	if (fd >= 0 && (r != 0 || (was & ~pending_events(b)) != 0)) {
		if (old != fd)
			repoint(bev, old, old);
		r = -1;
	}
	bufferevent_unlock(b);
	return r;
}

static int
dup2_retrying(int from, int to)
{
	int i;

	for (i = 0; i < 100; i++) {	/* EBUSY: Linux, racing an open() */
		if (dup2(from, to) >= 0)
			return 0;
		if (errno != EINTR && errno != EBUSY)
			break;
	}
	return -1;
}

/* Whether the base's backend removes a descriptor's events when asked,
 * not at its next poll: epoll without a changelist, poll, select. */
static int
backend_applies_at_once(struct event_base *base)
{
	const char *m = event_base_get_method(base);

	return !strcmp(m, "epoll") || !strcmp(m, "poll") ||
	    !strcmp(m, "select");
}

/*
 * Free @p evcon and keep its socket: 0 if the connection's bufferevent is
 * now on a descriptor of ours, -1 if nothing changed (evhttp keeps it).
 */
static int
let_go(struct wsev_connection *conn, struct evhttp_connection *evcon)
{
	struct bufferevent *bev = wsev_connection_get_bufferevent(conn);
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	struct stat st, st_stand_in;
	evutil_socket_t fd, mine;
	int stand_in;
	void *cbarg;

	if (!bev || (fd = bufferevent_getfd(bev)) < 0 ||
	    !backend_applies_at_once(bufferevent_get_base(bev)))
		return -1;
	if ((mine = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return -1;
	if ((stand_in = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    fstat(stand_in, &st_stand_in) != 0 ||
	    repoint(bev, mine, fd) != 0) {
		if (stand_in >= 0)
			close(stand_in);
		close(mine);
		return -1;
	}
	if (dup2_retrying(stand_in, fd) != 0) {
		repoint(bev, fd, fd);
		close(stand_in);
		close(mine);
		return -1;
	}
	/* evhttp's bufferevent_free() drops its reference and our
	 * callbacks; ours keeps the bufferevent. */
	bufferevent_incref(bev);
	bufferevent_getcb(bev, &rcb, &wcb, &ecb, &cbarg);
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	evhttp_connection_free(evcon);
	bufferevent_setcb(bev, rcb, wcb, ecb, cbarg);
	if (fstat(fd, &st) == 0 && st.st_dev == st_stand_in.st_dev &&
	    st.st_ino == st_stand_in.st_ino)
		close(fd);	/* evhttp left its descriptor open */
	close(stand_in);
	return 0;
}

/* Free a bufferevent we took, and its descriptor, exactly once. */
static void
free_taken(struct bufferevent *bev)
{
	evutil_socket_t fd = bufferevent_getfd(bev);

	repoint(bev, -1, -1);
	bufferevent_free(bev);
	if (fd >= 0)
		close(fd);
}

/* ---- owners: evhttp, a route, the application ---- */

static void
release_evcon(struct wsev_connection *conn, struct bufferevent *bev,
    void *arg)
{
	struct evhttp_connection *evcon = arg;

	(void)conn;
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

/* A route's connection, or (h NULL) wsev_server_upgrade()'s. */
static void
release_taken(struct wsev_connection *conn, struct bufferevent *bev,
    void *arg)
{
	struct wsev_handler *h = arg;

	if (h)
		wsev_connection_list_remove_(&h->conns, conn);
	free_taken(bev);
}

static void
pending_free(struct pending *p)
{
	event_free(p->ev);
	free(p);
}

static void
release_pending(struct wsev_connection *conn, struct bufferevent *bev,
    void *arg)
{
	struct pending *p = arg;

	release_evcon(conn, bev, p->evcon);
	pending_free(p);
}

static void
on_pending_close(struct evhttp_connection *evcon, void *arg)
{
	struct pending *p = arg;
	struct wsev_connection *conn = p->conn;

	pending_free(p);
	on_evcon_close(evcon, conn);
}

/* Let go of evhttp; @p h is the route or NULL. */
static void
take(struct wsev_connection *conn, struct evhttp_connection *evcon,
    struct wsev_handler *h)
{
	if (let_go(conn, evcon) != 0) {
		wsev_connection_set_owner_(conn, release_evcon, evcon);
		evhttp_connection_set_closecb(evcon, on_evcon_close, conn);
		return;
	}
	wsev_connection_set_owner_(conn, release_taken, h);
	if (h)
		wsev_connection_list_add_(&h->conns, conn);
}

static void
on_pending(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct wsev_connection *conn = p->conn;
	struct evhttp_connection *evcon = p->evcon;

	(void)fd;
	(void)what;
	wsev_connection_set_owner_(conn, release_evcon, evcon);
	evhttp_connection_set_closecb(evcon, on_evcon_close, conn);
	pending_free(p);
	take(conn, evcon, NULL);
}

/* ws:// or wss://, the Host, the request URI (wsev_connection_new checks
 * that it parses); NULL if memory runs out. */
static char *
connection_uri(struct evhttp_request *req, struct bufferevent *bev)
{
	const char *host = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Host");
	const char *path = evhttp_request_get_uri(req);
	const char *scheme = bufferevent_openssl_get_ssl(bev) ? "wss" : "ws";
	char *s;
	int n;

	if (!host)
		host = "localhost";
	if (!path || *path != '/')
		path = "/";
	n = snprintf(NULL, 0, "%s://%s%s", scheme, host, path);
	if (n < 0 || !(s = malloc((size_t)n + 1)))
		return NULL;
	snprintf(s, (size_t)n + 1, "%s://%s%s", scheme, host, path);
	return s;
}

/* The upgrade, negotiating permessage-deflate as @p opts says when given
 * (NULL: no extension, and the connection's own defaults). The connection
 * is evhttp's until take(). */
static struct wsev_connection *
upgrade(struct evhttp_request *req, const char *origin,
    const char *const *protocols, const struct wsev_connection_options *opts,
    struct wsev_error *err)
{
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	struct wsev_connection *conn;
	struct wsev_extensions ext;
	const char *chosen = NULL, *origin_hdr;
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
	origin_hdr = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Origin");
	conn = wsev_connection_new_with_extensions(bev, uri,
	    WSEV_CONNECTION_SERVER, origin_hdr, chosen, &ext);
	/* A Host that does not make a URI: the connection has none. */
	if (!conn && uri)
		conn = wsev_connection_new_with_extensions(bev, NULL,
		    WSEV_CONNECTION_SERVER, origin_hdr, chosen, &ext);
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

/* wsev_server_upgrade(): evhttp is let go of from the loop, once the
 * caller's request callback has returned. */
static struct wsev_connection *
upgrade_deferred(struct evhttp_request *req, const char *origin,
    const char *const *protocols, const struct wsev_connection_options *opts,
    struct wsev_error *err)
{
	struct wsev_connection *conn;
	struct pending *p;

	conn = upgrade(req, origin, protocols, opts, err);
	if (!conn)
		return NULL;
	/* Out of memory here: it stays evhttp's, which works as well. */
	if (!(p = calloc(1, sizeof(*p))))
		return conn;
	p->conn = conn;
	p->evcon = evhttp_request_get_connection(req);
	if (!(p->ev = event_new(bufferevent_get_base(
	    wsev_connection_get_bufferevent(conn)), -1, 0, on_pending, p))) {
		free(p);
		return conn;
	}
	wsev_connection_set_owner_(conn, release_pending, p);
	evhttp_connection_set_closecb(p->evcon, on_pending_close, p);
	event_active(p->ev, EV_TIMEOUT, 1);
	return conn;
}

struct wsev_connection *
wsev_server_upgrade(struct evhttp_request *req, const char *origin,
    const char *const *protocols, struct wsev_error *err)
{
	return upgrade_deferred(req, origin, protocols, NULL, err);
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
	return upgrade_deferred(req, origin, protocols, opts, err);
}

static void end_all(struct wsev_handler *h);
static void handler_free(struct wsev_handler *h);

static void
on_route(struct evhttp_request *req, void *arg)
{
	struct wsev_handler *h = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct wsev_connection *conn;

	conn = upgrade(req, h->origin, (const char *const *)h->protocols,
	    &h->opts, NULL);
	if (!conn)
		return;
	/* Held, so that a connection freed by the callback (which frees the
	 * request with it) goes only after we are done with the request. */
	wsev_connection_hold_(conn);
	h->in_cb++;
	h->cb(conn, req, h->arg);
	h->in_cb--;
	/* The request's last use: evhttp goes, unless the connection already
	 * ended in the callback (then its transport, the evhttp connection
	 * and the request with it, is gone). */
	if (wsev_connection_get_bufferevent(conn))
		take(conn, evcon, h);
	/* The callback removed the route: this connection is one of its
	 * WebSockets too, and the handler goes now. */
	if (h->removed && h->in_cb == 0) {
		end_all(h);
		handler_free(h);
	}
	wsev_connection_unhold_(conn);
}

/* Ends every WebSocket the route took (see the top of this file). */
static void
end_all(struct wsev_handler *h)
{
	struct wsev_connection *conn;
	struct bufferevent *bev;

	while ((conn = h->conns) != NULL) {
		wsev_connection_list_remove_(&h->conns, conn);
		bev = wsev_connection_get_bufferevent(conn);
		wsev_connection_lose_transport_(conn,
		    "the server removed the route");
		free_taken(bev);
	}
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
	if (!h || h->removed)	/* again, from a "closed" callback */
		return;
	h->removed = 1;
	evhttp_del_cb(h->http, h->path);
	end_all(h);
	if (h->in_cb == 0)	/* else on_route frees it */
		handler_free(h);
}
