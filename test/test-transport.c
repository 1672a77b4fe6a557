/*
 * The connection over transports other than a bare pair: filter
 * bufferevents over real sockets (a pass-through filter, a filter that
 * transforms every byte, an OpenSSL filter), rate-limited plain sockets
 * (the fast path must honour libevent's rate limits), and limits lowered
 * in the middle of a message.
 *
 * Every socket is a loopback TCP pair; the kernel buffers are made small
 * and the peer does not read until the server has queued, so that bytes
 * really wait in the bufferevents.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev/wsev.h"
#include "tt.h"
#include "tt-ev.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/ssl.h>

#define MIB (1024 * 1024)

/* ------------------------------------------------------------------ */
/* What a wsev end saw */

struct side {
	struct wsev_connection *conn;
	int messages, closed, errors, last_chunks;
	unsigned short err_code, close_code;
	size_t got;		/* bytes of messages and chunks */
	size_t msg_len;		/* the last message's length */
	uint64_t lower_to;	/* on a pong: max incoming message size */
};

static void
s_message(struct wsev_connection *c, enum wsev_data_type t, const void *d,
    size_t n, void *arg)
{
	struct side *s = arg;

	(void)c;
	(void)t;
	(void)d;
	s->messages++;
	s->msg_len = n;
	s->got += n;
}

static void
s_chunk(struct wsev_connection *c, enum wsev_data_type t, const void *d,
    size_t n, int last, void *arg)
{
	struct side *s = arg;

	(void)c;
	(void)t;
	(void)d;
	s->got += n;
	s->last_chunks += last != 0;
}

static void
s_closed(struct wsev_connection *c, void *arg)
{
	struct side *s = arg;

	s->closed++;
	s->close_code = wsev_connection_get_close_code(c);
}

static void
s_error(struct wsev_connection *c, const struct wsev_error *e, void *arg)
{
	struct side *s = arg;

	(void)c;
	if (s->errors++ == 0)
		s->err_code = (unsigned short)e->code;
}

static void
s_pong(struct wsev_connection *c, const void *d, size_t n, void *arg)
{
	struct side *s = arg;

	(void)d;
	(void)n;
	if (s->lower_to)
		wsev_connection_set_max_incoming_message_size(c, s->lower_to);
}

static const struct wsev_callbacks side_cbs = {
	.message = s_message, .closed = s_closed, .error = s_error,
	.pong = s_pong, .message_chunk = s_chunk
};

/* ------------------------------------------------------------------ */
/* Filters */

/* Both: every byte on. With a key (arg), each byte XORed with it on its
 * way, in both directions: the peer needs the same filter. */
static enum bufferevent_filter_result
filter_fn(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	const uint8_t *key = arg;
	struct evbuffer_iovec v;
	size_t n, k, i;
	uint8_t *p;

	(void)limit;
	(void)mode;
	if (evbuffer_get_length(src) == 0)
		return BEV_NEED_MORE;
	if (!key) {
		evbuffer_remove_buffer(src, dst, evbuffer_get_length(src));
		return BEV_OK;
	}
	while ((n = evbuffer_get_length(src)) > 0) {
		k = n < 65536 ? n : 65536;
		if (evbuffer_reserve_space(dst, (ev_ssize_t)k, &v, 1) != 1 ||
		    v.iov_len < k)
			return BEV_ERROR;
		p = v.iov_base;
		if (evbuffer_remove(src, p, k) != (ev_ssize_t)k)
			return BEV_ERROR;
		for (i = 0; i < k; i++)
			p[i] ^= *key;
		v.iov_len = k;
		evbuffer_commit_space(dst, &v, 1);
	}
	return BEV_OK;
}

static uint8_t xor_key = 0x5A;

enum ftype { FT_PASS, FT_XOR, FT_SSL };
static const char *const ftype_names[] = { "pass-through filter",
    "XOR filter", "OpenSSL filter" };

/* ------------------------------------------------------------------ */
/* Fixture: wsev server on a filter over a socket; a raw client peer */

struct ffx {
	struct event_base *base;
	struct tt_watch watch;
	SSL_CTX *sctx, *cctx;
	struct bufferevent *srv;	/* the filter wsev runs on */
	struct bufferevent *peer;	/* the raw peer's bufferevent */
	struct side s;
	struct evbuffer *in;		/* what the peer received */
	int reading, eof;
};

static void
peer_read(struct bufferevent *bev, void *arg)
{
	struct ffx *f = arg;

	evbuffer_add_buffer(f->in, bufferevent_get_input(bev));
}

static void
peer_event(struct bufferevent *bev, short what, void *arg)
{
	struct ffx *f = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		f->eof = 1;
}

static void
small_buffers(evutil_socket_t snd, evutil_socket_t rcv)
{
	int sz = 32768;

	setsockopt(snd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(rcv, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static int
peer_sees_pong(struct ffx *f)
{
	struct tt_frame fr;

	if (!tt_take_frame(f->in, &fr))
		return 0;
	free(fr.data);
	return fr.op == 0xA;
}

static void peer_put(struct ffx *f, int fin, int op, int masked,
    const void *data, size_t len);

static int
ffx_setup(struct ffx *f, enum ftype t)
{
	evutil_socket_t fds[2];
	struct bufferevent *sock;
	int pong = 0;

	memset(f, 0, sizeof(*f));
	f->base = event_base_new();
	tt_watch_init(&f->watch, f->base);
	f->in = evbuffer_new();
	if (tt_tcp_pair(fds) < 0)
		return -1;
	small_buffers(fds[0], fds[1]);
	sock = bufferevent_socket_new(f->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	if (!sock)
		return -1;
	if (t == FT_SSL) {
		if (tt_tls_make(&f->sctx, &f->cctx, NULL, 0) < 0)
			return -1;
		f->srv = bufferevent_openssl_filter_new(f->base, sock,
		    SSL_new(f->sctx), BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE);
		f->peer = bufferevent_openssl_socket_new(f->base, fds[1],
		    SSL_new(f->cctx), BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE);
	} else {
		f->srv = bufferevent_filter_new(sock, filter_fn, filter_fn,
		    BEV_OPT_CLOSE_ON_FREE, NULL, t == FT_XOR ? &xor_key : NULL);
		f->peer = bufferevent_socket_new(f->base, fds[1],
		    BEV_OPT_CLOSE_ON_FREE);
		if (f->peer && t == FT_XOR)
			f->peer = bufferevent_filter_new(f->peer, filter_fn,
			    filter_fn, BEV_OPT_CLOSE_ON_FREE, NULL, &xor_key);
	}
	if (!f->srv || !f->peer)
		return -1;
	f->s.conn = wsev_connection_new(f->srv, NULL, WSEV_CONNECTION_SERVER,
	    NULL, NULL);
	if (!f->s.conn)
		return -1;
	wsev_connection_set_callbacks(f->s.conn, &side_cbs, &f->s);
	bufferevent_setcb(f->peer, peer_read, NULL, peer_event, f);
	bufferevent_enable(f->peer, EV_READ | EV_WRITE);
	/* One ping and its pong: the transport (and TLS) is up. Then the
	 * peer stops reading. */
	peer_put(f, 1, 0x9, 1, "up", 2);
	TT_RUN_UNTIL(&f->watch, (pong = peer_sees_pong(f)) || f->eof, 5);
	if (!pong)
		return -1;
	bufferevent_disable(f->peer, EV_READ);
	return 0;
}

static void
ffx_teardown(struct ffx *f)
{
	wsev_connection_free(f->s.conn);
	if (f->peer)
		bufferevent_free(f->peer);
	evbuffer_free(f->in);
	tt_watch_free(&f->watch);
	event_base_free(f->base);
	if (f->sctx)
		SSL_CTX_free(f->sctx);
	if (f->cctx)
		SSL_CTX_free(f->cctx);
}

static void
peer_put(struct ffx *f, int fin, int op, int masked, const void *data,
    size_t len)
{
	static const uint8_t key[4] = { 1, 2, 3, 4 };
	struct evbuffer *b = evbuffer_new();

	tt_put_frame(b, fin, 0, op, masked ? key : NULL, data, len);
	bufferevent_write_buffer(f->peer, b);
	evbuffer_free(b);
}

static void
spin(struct event_base *base, int n)
{
	while (n-- > 0)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* The peer reads now, until the server's end of the stream. Then the
 * frames it got: *big the length of the first data frame, the close
 * frame's code (0: none came). */
static unsigned
peer_drain(struct ffx *f, size_t *big)
{
	struct tt_frame fr;
	unsigned code = 0;

	bufferevent_enable(f->peer, EV_READ);
	TT_RUN_UNTIL(&f->watch, f->eof, 10);
	*big = 0;
	while (tt_take_frame(f->in, &fr)) {
		if (fr.op == 0x2 && *big == 0)
			*big = fr.len;
		if (fr.op == 0x8 && code == 0)
			code = fr.len >= 2 ? (unsigned)(fr.data[0] << 8 |
			    fr.data[1]) : 1005;
		free(fr.data);
	}
	return code;
}

/* 1(a): the outgoing limit counts what waits underneath the filter. */
static void
case_filter_limit(enum ftype t)
{
	struct ffx f;
	uint8_t *m = calloc(1, MIB);
	int i, sent = 0;
	size_t first = 0;

	printf("  [%s]\n", ftype_names[t]);
	REQUIRE(m && ffx_setup(&f, t) == 0);
	for (i = 0; i < 64; i++) {
		if (wsev_connection_send_binary(f.s.conn, m, MIB) < 0)
			break;
		sent++;
		spin(f.base, 3);
		if (i == 0)
			first = wsev_connection_get_buffered_amount(f.s.conn);
	}
	/* Most of the first MiB cannot have left: the peer does not read
	 * and the kernel buffers are small. */
	CHECK_INT(first, >, MIB / 2);
	CHECK_INT(sent, <, 64);
	CHECK_INT(f.s.err_code, ==, WSEV_CLOSE_POLICY_VIOLATION);
	ffx_teardown(&f);
	free(m);
}

static void
test_filter_limit(void)
{
	case_filter_limit(FT_PASS);
	case_filter_limit(FT_XOR);
	case_filter_limit(FT_SSL);
}

/* 1(b): the peer's orderly close: our reply leaves after the data queued
 * underneath the filter, and only then the transport closes. */
static void
case_filter_close(enum ftype t)
{
	struct ffx f;
	uint8_t *m = calloc(1, MIB);
	uint8_t body[2] = { 0x03, 0xE8 };	/* 1000 */
	size_t big;
	unsigned code;

	printf("  [%s]\n", ftype_names[t]);
	REQUIRE(m && ffx_setup(&f, t) == 0);
	CHECK_INT(wsev_connection_send_binary(f.s.conn, m, MIB), ==, 0);
	spin(f.base, 3);
	peer_put(&f, 1, 0x8, 1, body, 2);
	TT_RUN_UNTIL(&f.watch, wsev_connection_get_state(f.s.conn) !=
	    WSEV_STATE_OPEN, 5);
	spin(f.base, 3);
	code = peer_drain(&f, &big);
	CHECK_INT(big, ==, MIB);
	CHECK_INT(code, ==, 1000);
	TT_RUN_UNTIL(&f.watch, f.s.closed, 5);
	CHECK_INT(f.s.close_code, ==, 1000);
	CHECK_INT(f.s.errors, ==, 0);
	ffx_teardown(&f);
	free(m);
}

static void
test_filter_close(void)
{
	case_filter_close(FT_PASS);
	case_filter_close(FT_XOR);
	case_filter_close(FT_SSL);
}

/* 1(b, c): a failure: the close frame (and the data before it) leaves
 * through the filter before the half-close. */
static void
case_filter_fail(enum ftype t)
{
	struct ffx f;
	uint8_t *m = calloc(1, MIB);
	size_t big;
	unsigned code;

	printf("  [%s]\n", ftype_names[t]);
	REQUIRE(m && ffx_setup(&f, t) == 0);
	CHECK_INT(wsev_connection_send_binary(f.s.conn, m, MIB), ==, 0);
	spin(f.base, 3);
	peer_put(&f, 1, 0x1, 0, "x", 1);	/* unmasked: 1002 */
	TT_RUN_UNTIL(&f.watch, f.s.errors > 0, 5);
	CHECK_INT(f.s.err_code, ==, WSEV_CLOSE_PROTOCOL_ERROR);
	spin(f.base, 3);
	code = peer_drain(&f, &big);
	CHECK_INT(big, ==, MIB);
	CHECK_INT(code, ==, WSEV_CLOSE_PROTOCOL_ERROR);
	TT_RUN_UNTIL(&f.watch, f.s.closed, 5);
	CHECK_INT(f.s.closed, ==, 1);
	ffx_teardown(&f);
	free(m);
}

static void
test_filter_fail(void)
{
	case_filter_fail(FT_PASS);
	case_filter_fail(FT_XOR);
	case_filter_fail(FT_SSL);
}

/* 1(c): a server shutting down (its route removed) over a filter made by
 * evhttp_set_bevcb. Its close frame 1001 goes through the filter (a raw
 * write to the socket under it would skip the transformation), and never
 * around bytes the filter has queued (it would land inside a message). */

static struct bufferevent *
filter_bevcb(struct event_base *base, void *arg)
{
	struct bufferevent *s = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE);

	return s ? bufferevent_filter_new(s, filter_fn, filter_fn,
	    BEV_OPT_CLOSE_ON_FREE, NULL, arg) : NULL;
}

static void
ga_ws(struct wsev_connection *c, struct evhttp_request *req, void *arg)
{
	struct side *s = arg;

	(void)req;
	s->conn = c;
	wsev_connection_set_callbacks(c, &side_cbs, s);
}

static void
case_going_away(enum ftype t, int queued)
{
	static const char req[] = "GET /ws HTTP/1.1\r\nHost: localhost\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	struct ffx f;
	struct evhttp *http;
	struct evhttp_bound_socket *bs;
	struct wsev_handler *route;
	struct sockaddr_in sin;
	struct evbuffer_ptr p;
	struct tt_frame fr;
	uint8_t *m = calloc(1, MIB), hb[10];
	evutil_socket_t fd;
	size_t n, i, bad = 0;
	unsigned code = 0;
	int sz = 32768;

	printf("  [%s, %s]\n", ftype_names[t], queued ? "a message queued" :
	    "nothing queued");
	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	tt_watch_init(&f.watch, f.base);
	f.in = evbuffer_new();
	http = evhttp_new(f.base);
	evhttp_set_bevcb(http, filter_bevcb, t == FT_XOR ? &xor_key : NULL);
	route = wsev_server_add_handler(http, "/ws", NULL, NULL, ga_ws, &f.s);
	bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	REQUIRE(m && route && bs);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)tt_bound_port(
	    evhttp_bound_socket_get_fd(bs)));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	REQUIRE(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	evutil_make_socket_nonblocking(fd);
	f.peer = bufferevent_socket_new(f.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (t == FT_XOR)
		f.peer = bufferevent_filter_new(f.peer, filter_fn, filter_fn,
		    BEV_OPT_CLOSE_ON_FREE, NULL, &xor_key);
	bufferevent_setcb(f.peer, peer_read, NULL, peer_event, &f);
	bufferevent_enable(f.peer, EV_READ | EV_WRITE);
	bufferevent_write(f.peer, req, sizeof(req) - 1);
	TT_RUN_UNTIL(&f.watch, f.s.conn && evbuffer_search(f.in, "\r\n\r\n",
	    4, NULL).pos >= 0, 5);
	REQUIRE(f.s.conn);
	p = evbuffer_search(f.in, "\r\n\r\n", 4, NULL);
	REQUIRE(p.pos >= 0);
	evbuffer_drain(f.in, (size_t)p.pos + 4);	/* the 101 */
	if (queued) {
		bufferevent_disable(f.peer, EV_READ);
		fd = bufferevent_getfd(wsev_connection_get_bufferevent(
		    f.s.conn));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		CHECK_INT(wsev_connection_send_binary(f.s.conn, m, MIB), ==, 0);
		spin(f.base, 3);
	}
	wsev_server_remove_handler(route);
	evhttp_free(http);
	bufferevent_enable(f.peer, EV_READ);
	TT_RUN_UNTIL(&f.watch, f.eof, 10);
	if (queued) {
		/* The message's header, then its payload of zeros, cut where
		 * the transport ended: not a byte of anything else in it. */
		n = evbuffer_get_length(f.in);
		REQUIRE(evbuffer_remove(f.in, hb, sizeof(hb)) == sizeof(hb));
		CHECK_INT(hb[0], ==, 0x82);
		n -= sizeof(hb);
		for (i = 0; i < n && i < MIB; i++) {
			uint8_t b;

			evbuffer_remove(f.in, &b, 1);
			bad += b != 0;
		}
		CHECK_INT(bad, ==, 0);
	}
	while (tt_take_frame(f.in, &fr)) {
		if (fr.op == 0x8 && code == 0 && fr.len >= 2)
			code = (unsigned)(fr.data[0] << 8 | fr.data[1]);
		free(fr.data);
	}
	if (!queued)
		CHECK_INT(code, ==, 1001);
	CHECK_INT(evbuffer_get_length(f.in), ==, 0);
	ffx_teardown(&f);
	free(m);
}

static void
test_filter_going_away(void)
{
	case_going_away(FT_PASS, 0);
	case_going_away(FT_XOR, 0);
	case_going_away(FT_PASS, 1);
	case_going_away(FT_XOR, 1);
}

/* ------------------------------------------------------------------ */
/* 2: rate limits on the plain-socket fast path */

enum rl { RL_GROUP_BEFORE, RL_GROUP_AFTER, RL_BEV_AFTER };
static const char *const rl_names[] = { "group set before",
    "group set after", "per-bufferevent limit set after" };

static void
on_second(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* A server on loopback TCP limited to 4 KiB/s; 200 KB cross in the
 * direction given (to_server: the client sends). After one second of loop
 * time some of it has arrived, and not much more than the limit allows. */
static void
case_rate(enum rl how, int to_server)
{
	struct event_base *base = event_base_new();
	struct tt_watch w;
	struct ev_token_bucket_cfg *cfg;
	struct bufferevent_rate_limit_group *g = NULL;
	struct bufferevent *sb, *cb;
	struct side s, c, *rx;
	evutil_socket_t fds[2];
	struct timeval one = { 1, 0 };
	size_t len = 200000;
	uint8_t *m = calloc(1, len);
	struct event *tick;
	int done = 0;

	printf("  [%s, %s]\n", rl_names[how], to_server ? "reading" :
	    "writing");
	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	tt_watch_init(&w, base);
	cfg = ev_token_bucket_cfg_new(4096, 4096, 4096, 4096, NULL);
	REQUIRE(m && cfg && tt_tcp_pair(fds) == 0);
	sb = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	cb = bufferevent_socket_new(base, fds[1], BEV_OPT_CLOSE_ON_FREE);
	if (how != RL_BEV_AFTER)
		g = bufferevent_rate_limit_group_new(base, cfg);
	if (how == RL_GROUP_BEFORE)
		bufferevent_add_to_rate_limit_group(sb, g);
	s.conn = wsev_connection_new(sb, NULL, WSEV_CONNECTION_SERVER, NULL,
	    NULL);
	c.conn = wsev_connection_new(cb, NULL, WSEV_CONNECTION_CLIENT, NULL,
	    NULL);
	REQUIRE(s.conn && c.conn);
	wsev_connection_set_callbacks(s.conn, &side_cbs, &s);
	wsev_connection_set_callbacks(c.conn, &side_cbs, &c);
	rx = to_server ? &s : &c;
	wsev_connection_set_chunk_size(rx->conn, 1024);
	wsev_connection_set_max_incoming_payload_size(rx->conn, MIB);
	if (how == RL_GROUP_AFTER)
		bufferevent_add_to_rate_limit_group(sb, g);
	else if (how == RL_BEV_AFTER)
		bufferevent_set_rate_limit(sb, cfg);
	CHECK_INT(wsev_connection_send_binary(to_server ? c.conn : s.conn, m,
	    len), ==, 0);
	tick = evtimer_new(base, on_second, &done);
	evtimer_add(tick, &one);
	TT_RUN_UNTIL(&w, done, 5);
	/* The limit lets 4-8 KiB through in that second (the bucket starts
	 * full); 64 KiB would take 16 s. */
	CHECK_INT(rx->got, >, 0);
	CHECK_INT(rx->got, <=, 65536);
	CHECK_INT(rx->last_chunks, ==, 0);
	CHECK_INT(s.errors + c.errors, ==, 0);
	event_free(tick);
	/* libevent finalizes a freed bufferevent later, from the loop: it
	 * leaves its group and its limit now. */
	if (g)
		bufferevent_remove_from_rate_limit_group(sb);
	else
		bufferevent_set_rate_limit(sb, NULL);
	wsev_connection_free(s.conn);
	wsev_connection_free(c.conn);
	if (g)
		bufferevent_rate_limit_group_free(g);
	ev_token_bucket_cfg_free(cfg);
	tt_watch_free(&w);
	event_base_free(base);
	free(m);
}

static void
test_rate_limit_read(void)
{
	case_rate(RL_GROUP_BEFORE, 1);
	case_rate(RL_GROUP_AFTER, 1);
	case_rate(RL_BEV_AFTER, 1);
}

static void
test_rate_limit_write(void)
{
	case_rate(RL_GROUP_BEFORE, 0);
	case_rate(RL_GROUP_AFTER, 0);
	case_rate(RL_BEV_AFTER, 0);
}

/* ------------------------------------------------------------------ */
/* 3: a message limit lowered in the middle of a message */

/* A raw client sends 3,000 bytes of a message, a pong (on which the
 * server lowers its message limit to 2,000) and a continuation of
 * `more` bytes: the message is over the limit at the continuation's
 * header. */
static void
case_lowered(size_t chunk, size_t more)
{
	static const uint8_t key[4] = { 9, 8, 7, 6 };
	struct event_base *base = event_base_new();
	struct tt_watch w;
	struct bufferevent *sb, *cb;
	struct evbuffer *out = evbuffer_new();
	struct side s;
	evutil_socket_t fds[2];
	uint8_t *m = calloc(1, 3000 + more);

	printf("  [chunk size %zu, %zu more bytes]\n", chunk, more);
	memset(&s, 0, sizeof(s));
	tt_watch_init(&w, base);
	REQUIRE(m && tt_tcp_pair(fds) == 0);
	sb = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	cb = bufferevent_socket_new(base, fds[1], BEV_OPT_CLOSE_ON_FREE);
	s.conn = wsev_connection_new(sb, NULL, WSEV_CONNECTION_SERVER, NULL,
	    NULL);
	REQUIRE(s.conn && cb);
	wsev_connection_set_callbacks(s.conn, &side_cbs, &s);
	wsev_connection_set_chunk_size(s.conn, chunk);
	s.lower_to = 2000;
	tt_put_frame(out, 0, 0, 0x2, key, m, 3000);
	tt_put_frame(out, 1, 0, 0xA, key, "p", 1);
	tt_put_frame(out, 1, 0, 0x0, key, m, more);
	bufferevent_write_buffer(cb, out);
	bufferevent_enable(cb, EV_READ | EV_WRITE);
	TT_RUN_UNTIL(&w, s.errors > 0 || s.messages > 0 || s.last_chunks > 0,
	    5);
	CHECK_INT(s.messages, ==, 0);
	CHECK_INT(s.last_chunks, ==, 0);
	CHECK_INT(s.err_code, ==, WSEV_CLOSE_TOO_BIG);
	wsev_connection_free(s.conn);
	bufferevent_free(cb);
	evbuffer_free(out);
	tt_watch_free(&w);
	event_base_free(base);
	free(m);
}

static void
test_limit_lowered(void)
{
	case_lowered(0, 60000);
	case_lowered(1024, 60000);
	case_lowered(0, 0);	/* already over: even no more bytes fail */
}

static const struct tt_case cases[] = {
	{ "transport/filter-outgoing-limit", test_filter_limit },
	{ "transport/filter-close", test_filter_close },
	{ "transport/filter-fail", test_filter_fail },
	{ "transport/filter-going-away", test_filter_going_away },
	{ "transport/rate-limit-read", test_rate_limit_read },
	{ "transport/rate-limit-write", test_rate_limit_write },
	{ "transport/limit-lowered-mid-message", test_limit_lowered },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return tt_run(cases, argc > 1 ? argv[1] : NULL);
}
