/*
 * The connection's issue-8 features through the public API:
 * permessage-deflate (RFC 7692), keepalive, streaming sends
 * (wsev_connection_send_fragment), wsev_connection_send_buffer and chunked
 * receiving, in both roles, over bufferevent_pair (deferred callbacks),
 * loopback TCP (the plain-socket fast path) and TLS.
 *
 * The peer is a second wsev connection, or a "raw" bufferevent that writes
 * hand-made frames and compresses and decompresses them with zlib itself
 * (raw deflate), so that the wire format is checked byte for byte.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev/wsev.h"
#include "tt.h"
#include "tt-ev.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/ssl.h>

#include <zlib.h>

#define MIB (1024 * 1024)

/* ------------------------------------------------------------------ */
/* One wsev end, as its callbacks saw it */

enum transport { T_PAIR, T_TCP, T_TLS };
static const char *const tr_names[] = { "pair", "tcp", "tls" };

struct end {
	struct wsev_connection *conn;
	int messages, closing, closed, errors, pongs;
	enum wsev_data_type type;
	uint8_t *last;			/* the last message, whole */
	size_t last_len;
	struct wsev_error err;		/* the first error */
	unsigned short code_at_closed;
	long rss_at_error;		/* bytes resident at the first error */
	/* Chunked receiving. */
	struct evbuffer *acc;		/* pieces of the message in progress */
	size_t chunk_max;		/* the chunk size set: no piece above */
	int pieces, lasts, too_big, bad_utf8, after_error, empty_pieces;
	int free_in_chunk;		/* free the connection at this piece */
	int unchunk_at;			/* chunk size 0 at this piece */
};

static long
rss_now(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &res) != 2)
		res = 0;
	fclose(f);
	return res * sysconf(_SC_PAGESIZE);
}

/* A UTF-8 check of the test's own (RFC 3629), independent of lib/utf8.c. */
static int
utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp;

	while (i < n) {
		uint8_t b = s[i];

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xC2 && b <= 0xDF)
			need = 1, cp = b & 0x1F;
		else if (b >= 0xE0 && b <= 0xEF)
			need = 2, cp = b & 0x0F;
		else if (b >= 0xF0 && b <= 0xF4)
			need = 3, cp = b & 0x07;
		else
			return 0;
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return 0;
		i += need + 1;
	}
	return 1;
}

static void
end_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct end *e = arg;

	(void)c;
	e->messages++;
	e->type = type;
	free(e->last);
	e->last = malloc(len + 1);
	memcpy(e->last, data, len + 1);
	e->last_len = len;
}

static void
end_chunk(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, int last, void *arg)
{
	struct end *e = arg;

	e->pieces++;
	if (e->errors)
		e->after_error++;
	if (len > e->chunk_max)
		e->too_big++;
	if (len == 0)
		e->empty_pieces++;
	if (type == WSEV_DATA_TEXT && !utf8_ok(data, len))
		e->bad_utf8++;
	CHECK(((const char *)data)[len] == '\0');
	evbuffer_add(e->acc, data, len);
	if (last) {
		size_t n = evbuffer_get_length(e->acc);

		e->lasts++;
		e->type = type;
		free(e->last);
		e->last = malloc(n + 1);
		evbuffer_remove(e->acc, e->last, n);
		e->last[n] = 0;
		e->last_len = n;
	}
	if (e->unchunk_at && e->pieces == e->unchunk_at)
		CHECK_INT(wsev_connection_set_chunk_size(c, 0), ==, 0);
	if (e->free_in_chunk && e->pieces == e->free_in_chunk) {
		wsev_connection_free(c);
		e->conn = NULL;
	}
}

static void
end_closing(struct wsev_connection *c, void *arg)
{
	(void)c;
	((struct end *)arg)->closing++;
}

static void
end_closed(struct wsev_connection *c, void *arg)
{
	struct end *e = arg;

	e->closed++;
	e->code_at_closed = wsev_connection_get_close_code(c);
}

static void
end_error(struct wsev_connection *c, const struct wsev_error *err, void *arg)
{
	struct end *e = arg;

	(void)c;
	if (e->errors++ == 0) {
		e->err = *err;
		e->rss_at_error = rss_now();
	}
}

static void
end_pong(struct wsev_connection *c, const void *data, size_t len, void *arg)
{
	(void)c;
	(void)data;
	(void)len;
	((struct end *)arg)->pongs++;
}

static const struct wsev_callbacks end_cbs = {
	.message = end_message, .closing = end_closing, .closed = end_closed,
	.error = end_error, .pong = end_pong, .message_chunk = end_chunk
};

/* ------------------------------------------------------------------ */
/* Fixture: a (wsev) and b (raw, or wsev of the other role) */

struct fx {
	struct event_base *base;
	struct tt_watch watch;
	enum transport tr;
	enum wsev_connection_type role;	/* a's */
	struct bufferevent *a, *b;
	struct end ea, eb;
	int raw;			/* b is the raw peer */
	int raw_mask;			/* the raw peer masks (a is a server) */
	int raw_pongs;			/* the raw peer answers pings */
	int raw_eof;
	size_t raw_total;		/* bytes the raw peer received */
	struct evbuffer *raw_in;
	struct tt_frame *f;		/* frames the raw peer decoded */
	size_t nf, capf;
	SSL_CTX *sctx, *cctx;
};

#define RUN_UNTIL(fx, cond, secs) TT_RUN_UNTIL(&(fx)->watch, cond, secs)

/* Let what is ready run: a few loop passes (short pauses over sockets). */
static void
run_idle(struct fx *fx)
{
	int i;

	for (i = 0; i < 8; i++) {
		if (fx->tr != T_PAIR) {
			struct timeval tv = { 0, 2000 };

			event_base_loopexit(fx->base, &tv);
			event_base_dispatch(fx->base);
		} else {
			event_base_loop(fx->base, EVLOOP_NONBLOCK);
		}
	}
}

static const uint8_t key[4] = { 0x3C, 0xA1, 0x5E, 0x96 };

/* One frame from the raw peer, masked when it plays the client. */
static void
put_frame(struct fx *fx, struct evbuffer *out, int fin, int rsv, int op,
    const void *data, size_t len)
{
	tt_put_frame(out, fin, rsv, op, fx->raw_mask ? key : NULL, data, len);
}

static void
raw_send(struct fx *fx, struct evbuffer *out)
{
	bufferevent_write_buffer(fx->b, out);
}

/* The raw peer's decoder (tt-ev.c, not the library's). 1: a frame was
 * taken. */
static int
raw_next(struct fx *fx, struct tt_frame *f)
{
	return tt_take_frame(fx->raw_in, f);
}

static void
raw_read(struct bufferevent *bev, void *arg)
{
	struct fx *fx = arg;
	struct evbuffer *in = bufferevent_get_input(bev), *out;
	struct tt_frame f;

	fx->raw_total += evbuffer_get_length(in);
	evbuffer_add_buffer(fx->raw_in, in);
	while (raw_next(fx, &f)) {
		if (fx->nf == fx->capf) {
			fx->capf = fx->capf ? 2 * fx->capf : 16;
			fx->f = realloc(fx->f, fx->capf * sizeof(*fx->f));
		}
		fx->f[fx->nf++] = f;
		if (f.op == 9 && fx->raw_pongs) {
			out = evbuffer_new();
			put_frame(fx, out, 1, 0, 10, f.data, f.len);
			raw_send(fx, out);
			evbuffer_free(out);
		}
	}
}

static void
raw_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		((struct fx *)arg)->raw_eof = 1;
}

static struct wsev_connection *
end_open(struct end *e, struct bufferevent *bev, enum wsev_connection_type t,
    const struct wsev_extensions *ext)
{
	e->acc = evbuffer_new();
	e->chunk_max = (size_t)-1;
	e->conn = wsev_connection_new_with_extensions(bev, NULL, t, NULL, NULL,
	    ext);
	if (e->conn)
		wsev_connection_set_callbacks(e->conn, &end_cbs, e);
	return e->conn;
}

/*
 * a: wsev of type role with ext; b: the raw peer (raw) or wsev of the
 * other type with the same ext. For TLS, a is the TLS server end when it is
 * the WebSocket server.
 */
static int
fx_setup(struct fx *fx, enum transport tr, enum wsev_connection_type role,
    int raw, const struct wsev_extensions *ext)
{
	struct bufferevent *pair[2];
	evutil_socket_t fds[2];
	int srv = role == WSEV_CONNECTION_SERVER;

	memset(fx, 0, sizeof(*fx));
	fx->tr = tr;
	fx->role = role;
	fx->raw = raw;
	fx->raw_mask = srv;
	fx->base = event_base_new();
	tt_watch_init(&fx->watch, fx->base);
	fx->raw_in = evbuffer_new();
	if (tr == T_PAIR) {
		if (bufferevent_pair_new(fx->base, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS, pair) < 0)
			return -1;
		fx->a = pair[0];
		fx->b = pair[1];
	} else if (tr == T_TCP) {
		if (tt_tcp_pair(fds) < 0)
			return -1;
		fx->a = bufferevent_socket_new(fx->base, fds[0],
		    BEV_OPT_CLOSE_ON_FREE);
		fx->b = bufferevent_socket_new(fx->base, fds[1],
		    BEV_OPT_CLOSE_ON_FREE);
	} else {
		if (tt_tls_make(&fx->sctx, &fx->cctx, NULL, 0) < 0 ||
		    tt_tcp_pair(fds) < 0)
			return -1;
		fx->a = bufferevent_openssl_socket_new(fx->base, fds[0],
		    SSL_new(srv ? fx->sctx : fx->cctx), srv ?
		    BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE);
		fx->b = bufferevent_openssl_socket_new(fx->base, fds[1],
		    SSL_new(srv ? fx->cctx : fx->sctx), srv ?
		    BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE);
	}
	if (!fx->a || !fx->b || !end_open(&fx->ea, fx->a, role, ext))
		return -1;
	if (!raw) {
		if (!end_open(&fx->eb, fx->b, srv ? WSEV_CONNECTION_CLIENT :
		    WSEV_CONNECTION_SERVER, ext))
			return -1;
	} else {
		bufferevent_setcb(fx->b, raw_read, NULL, raw_event, fx);
		bufferevent_enable(fx->b, EV_READ | EV_WRITE);
	}
	if (tr == T_TLS)	/* let the TLS handshake finish */
		run_idle(fx);
	return 0;
}

static void
end_free(struct end *e)
{
	wsev_connection_free(e->conn);
	free(e->last);
	if (e->acc)
		evbuffer_free(e->acc);
}

static void
fx_teardown(struct fx *fx)
{
	end_free(&fx->ea);
	end_free(&fx->eb);
	if (fx->raw && fx->b)
		bufferevent_free(fx->b);
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	tt_watch_free(&fx->watch);
	evbuffer_free(fx->raw_in);
	event_base_free(fx->base);
	SSL_CTX_free(fx->sctx);
	SSL_CTX_free(fx->cctx);
	while (fx->nf > 0)
		free(fx->f[--fx->nf].data);
	free(fx->f);
}

/* The i-th frame the raw peer decoded, or NULL. */
static const struct tt_frame *
frame_at(const struct fx *fx, size_t i)
{
	return i < fx->nf ? &fx->f[i] : NULL;
}

typedef void (*case_fn)(struct fx *fx);

#define TR_PAIR (1 << T_PAIR)
#define TR_TCP (1 << T_TCP)
#define TR_TLS (1 << T_TLS)
#define TR_ALL (TR_PAIR | TR_TCP | TR_TLS)

/* Run fn in both roles over the transports in the mask. */
static void
each(case_fn fn, int transports, int raw, const struct wsev_extensions *ext)
{
	static const enum wsev_connection_type roles[2] = {
	    WSEV_CONNECTION_SERVER, WSEV_CONNECTION_CLIENT };
	int t, r, before;
	struct fx fx;

	for (t = T_PAIR; t <= T_TLS; t++) {
		if (!(transports & (1 << t)))
			continue;
		for (r = 0; r < 2; r++) {
			before = tt_failed_checks;
			if (fx_setup(&fx, (enum transport)t, roles[r], raw,
			    ext) < 0) {
				CHECK(!"fixture setup");
			} else {
				fn(&fx);
			}
			fx_teardown(&fx);
			if (tt_failed_checks != before)
				printf("  ... as %s over %s\n", r == 0 ?
				    "server" : "client", tr_names[t]);
		}
	}
}

/* zlib's default level; a level of 0 would store, not compress. */
static const struct wsev_extensions pmd = { .deflate = 1, .level = -1,
    .mem_level = 8 };

/* each() without extensions, then with permessage-deflate. */
static void
each_deflate_or_not(case_fn fn, int transports, int raw)
{
	int before = tt_failed_checks;

	each(fn, transports, raw, NULL);
	if (tt_failed_checks != before)
		printf("  ... without permessage-deflate\n");
	before = tt_failed_checks;
	each(fn, transports, raw, &pmd);
	if (tt_failed_checks != before)
		printf("  ... with permessage-deflate\n");
}

static void
fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Compressible text: words from a small list, pseudo-randomly. */
static void
fill_words(uint8_t *p, size_t n, uint32_t seed)
{
	static const char *const w[] = { "alpha ", "beta ", "gamma ",
	    "delta ", "epsilon ", "zeta ", "eta ", "theta " };
	size_t i = 0, k;
	const char *s;

	while (i < n) {
		seed = seed * 1103515245u + 12345u;
		s = w[(seed >> 16) & 7];
		for (k = 0; s[k] && i < n; k++)
			p[i++] = (uint8_t)s[k];
	}
}

/* ------------------------------------------------------------------ */
/* The raw peer's zlib: raw deflate (RFC 7692 §7.2.1) */

static int
zdef_init(z_stream *z, int bits)
{
	memset(z, 0, sizeof(*z));
	return deflateInit2(z, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) ==
	    Z_OK ? 0 : -1;
}

static int
zinf_init(z_stream *z, int bits)
{
	memset(z, 0, sizeof(*z));
	return inflateInit2(z, -bits) == Z_OK ? 0 : -1;
}

/* Compress a message (or a part, flush ending it on a byte boundary);
 * strip: remove the trailing 00 00 ff ff. */
static void
zdef_msg(z_stream *z, const void *in, size_t n, int strip,
    struct evbuffer *out)
{
	size_t cap = deflateBound(z, (uLong)n) + 64, have;
	uint8_t *buf = malloc(cap);

	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)n;
	z->next_out = buf;
	z->avail_out = (uInt)cap;
	CHECK_INT(deflate(z, Z_SYNC_FLUSH), ==, Z_OK);
	CHECK_INT(z->avail_in, ==, 0);
	have = cap - z->avail_out;
	if (strip) {
		CHECK(have >= 4 && memcmp(buf + have - 4, "\0\0\xff\xff", 4) == 0);
		have -= 4;
	}
	evbuffer_add(out, buf, have);
	free(buf);
}

/* Inflate a message's payload (the tail appended); 0 or -1. */
static int
zinf_msg(z_stream *z, const void *in, size_t n, struct evbuffer *out)
{
	static const uint8_t tail[4] = { 0, 0, 0xff, 0xff };
	uint8_t buf[65536];
	int part, r;

	for (part = 0; part < 2; part++) {
		z->next_in = (Bytef *)(uintptr_t)(part ? tail : in);
		z->avail_in = (uInt)(part ? 4 : n);
		do {
			z->next_out = buf;
			z->avail_out = sizeof(buf);
			r = inflate(z, Z_SYNC_FLUSH);
			if (r != Z_OK && r != Z_BUF_ERROR)
				return -1;
			evbuffer_add(out, buf, sizeof(buf) - z->avail_out);
		} while (z->avail_out == 0 || z->avail_in > 0);
	}
	return 0;
}

/* Inflate with a fresh stream; the result (NUL-terminated, malloc) or
 * NULL. */
static uint8_t *
zinf_fresh(const void *in, size_t n, int bits, size_t *outlen)
{
	z_stream z;
	struct evbuffer *out = evbuffer_new();
	uint8_t *r = NULL;

	if (zinf_init(&z, bits) == 0 && zinf_msg(&z, in, n, out) == 0) {
		*outlen = evbuffer_get_length(out);
		r = malloc(*outlen + 1);
		evbuffer_remove(out, r, *outlen);
		r[*outlen] = 0;
	}
	inflateEnd(&z);
	evbuffer_free(out);
	return r;
}

/* Compress a message with the raw peer's stream zd and put it as one
 * frame, RSV1 set; returns the compressed size. */
static size_t
put_deflated(struct fx *fx, struct evbuffer *ev, z_stream *zd, int op,
    const void *data, size_t len)
{
	struct evbuffer *c = evbuffer_new();
	size_t n;

	zdef_msg(zd, data, len, 1, c);
	n = evbuffer_get_length(c);
	put_frame(fx, ev, 1, 4, op, evbuffer_pullup(c, -1), n);
	evbuffer_free(c);
	return n;
}

/* Whether buf holds exactly the n bytes at p. */
static int
buf_is(struct evbuffer *buf, const void *p, size_t n)
{
	return evbuffer_get_length(buf) == n &&
	    (n == 0 || memcmp(evbuffer_pullup(buf, -1), p, n) == 0);
}

/* Drop the raw peer's end (it answers a close frame by hanging up). */
static void
raw_hangup(struct fx *fx)
{
	if (!fx->b)
		return;
	bufferevent_flush(fx->b, EV_WRITE, BEV_FINISHED);
	bufferevent_free(fx->b);
	fx->b = NULL;
}

/* The index of the first frame of opcode op from i on, or fx->nf. */
static size_t
find_op(const struct fx *fx, size_t i, int op)
{
	while (i < fx->nf && fx->f[i].op != op)
		i++;
	return i;
}

static unsigned
close_code(const struct tt_frame *f)
{
	return f && f->len >= 2 ? (unsigned)f->data[0] << 8 | f->data[1] : 0;
}

/* The connection failed with code: error, close frame, "closed". */
static void
check_failed(struct fx *fx, int code)
{
	size_t i;

	RUN_UNTIL(fx, (i = find_op(fx, 0, 8)) < fx->nf, 3);
	CHECK_INT(fx->ea.errors, ==, 1);
	CHECK_INT(fx->ea.err.domain, ==, WSEV_DOMAIN_WEBSOCKET);
	CHECK_INT(fx->ea.err.code, ==, code);
	CHECK_INT(close_code(frame_at(fx, find_op(fx, 0, 8))), ==, code);
	raw_hangup(fx);
	RUN_UNTIL(fx, fx->ea.closed, 3);
	CHECK_INT(fx->ea.closed, ==, 1);
	CHECK_INT(fx->ea.code_at_closed, ==, code);
	CHECK_INT(fx->ea.closing, ==, 0);
}

/* ------------------------------------------------------------------ */
/* permessage-deflate */

/* wsev to wsev: every kind of message, both directions. */
/* The empty message goes first: one after another message is
 * deflate_empty_after_message's case. */
static void
case_roundtrip(struct fx *fx)
{
	static const struct { enum wsev_data_type t; size_t n; int random; }
	    m[] = { { WSEV_DATA_TEXT, 0, 0 }, { WSEV_DATA_BINARY, 1, 1 },
	    { WSEV_DATA_TEXT, 1, 0 }, { WSEV_DATA_TEXT, 300, 0 }, { WSEV_DATA_BINARY, MIB, 0 },
	    { WSEV_DATA_BINARY, MIB, 1 }, { WSEV_DATA_TEXT, MIB, 0 } };
	uint8_t *buf = malloc(MIB);
	struct end *from, *to;
	size_t i;
	int dir;

	for (dir = 0; dir < 2; dir++) {
		from = dir ? &fx->eb : &fx->ea;
		to = dir ? &fx->ea : &fx->eb;
		wsev_connection_set_max_incoming_payload_size(to->conn, 0);
		for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
			int before = to->messages;

			if (m[i].random)
				fill_random(buf, m[i].n, (uint32_t)i);
			else
				fill_words(buf, m[i].n, (uint32_t)i);
			CHECK_INT(wsev_connection_send_message(from->conn,
			    m[i].t, buf, m[i].n), ==, 0);
			RUN_UNTIL(fx, to->messages > before || to->errors, 5);
			if (to->messages != before + 1)
				printf("  message %zu: %zu bytes\n", i, m[i].n);
			REQUIRE(to->messages == before + 1);
			CHECK_INT(to->type, ==, m[i].t);
			CHECK_INT(to->last_len, ==, m[i].n);
			CHECK(memcmp(to->last, buf, m[i].n) == 0);
		}
	}
	CHECK_INT(fx->ea.errors + fx->eb.errors, ==, 0);
	free(buf);
}

static void
test_deflate_roundtrip(void)
{
	each(case_roundtrip, TR_ALL, 0, &pmd);
}

/* What wsev sends, decoded by the raw peer's own inflater. */
static void
case_wire(struct fx *fx)
{
	uint8_t *big = malloc(MIB), *out;
	const struct tt_frame *f;
	struct evbuffer *ev = evbuffer_new(), *dec = evbuffer_new();
	z_stream zi;
	size_t i, n;

	fill_random(big, MIB, 7);
	REQUIRE(zinf_init(&zi, 15) == 0);
	CHECK_INT(wsev_connection_send_text(fx->ea.conn,
	    "Hello, Hello, Hello, Hello"), ==, 0);
	CHECK_INT(wsev_connection_send_binary(fx->ea.conn, big, MIB), ==, 0);
	CHECK_INT(wsev_connection_send_ping(fx->ea.conn, "pi", 2), ==, 0);
	put_frame(fx, ev, 1, 0, 9, "pong me", 7);
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->nf >= 4, 5);
	CHECK_INT(wsev_connection_close(fx->ea.conn, 1000, "bye"), ==, 0);
	RUN_UNTIL(fx, fx->nf >= 5, 3);
	REQUIRE(fx->nf == 5);
	for (i = 0; i < 2; i++) {
		f = frame_at(fx, i);
		CHECK(f->fin && f->rsv == 4 && f->op == (i ? 2 : 1));
		CHECK_INT(f->masked, ==, fx->role == WSEV_CONNECTION_CLIENT);
		/* §7.2.1: the flush's 00 00 ff ff is not on the wire. */
		CHECK(f->len < 4 || memcmp(f->data + f->len - 4,
		    "\0\0\xff\xff", 4) != 0);
		evbuffer_drain(dec, evbuffer_get_length(dec));
		CHECK_INT(zinf_msg(&zi, f->data, f->len, dec), ==, 0);
		n = evbuffer_get_length(dec);
		out = evbuffer_pullup(dec, -1);
		if (i == 0) {
			CHECK(f->len < 26);	/* compressed indeed */
			CHECK(n == 26 && memcmp(out,
			    "Hello, Hello, Hello, Hello", 26) == 0);
		} else {
			CHECK(n == MIB && memcmp(out, big, MIB) == 0);
		}
	}
	/* Control frames: never compressed (§6.1). */
	for (i = 2; i < 5; i++) {
		f = frame_at(fx, i);
		CHECK_INT(f->rsv, ==, 0);
		if (f->op == 9)
			CHECK(f->len == 2 && memcmp(f->data, "pi", 2) == 0);
		else if (f->op == 10)
			CHECK(f->len == 7 && memcmp(f->data, "pong me", 7) == 0);
		else
			CHECK(f->op == 8 && f->len == 5 &&
			    memcmp(f->data, "\x03\xe8" "bye", 5) == 0);
	}
	CHECK_INT(find_op(fx, 0, 10), <, 5);
	inflateEnd(&zi);
	evbuffer_free(ev);
	evbuffer_free(dec);
	free(big);
}

static void
test_deflate_wire(void)
{
	each(case_wire, TR_ALL, 1, &pmd);
}

/* What a peer may send: compressed (whole or fragmented, with context
 * takeover) and uncompressed messages. */
static void
case_peer_sends(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new(), *c = evbuffer_new();
	uint8_t words[3000], *p, *big = malloc(MIB);
	size_t n, third;
	z_stream zd;

	REQUIRE(zdef_init(&zd, 15) == 0);
	wsev_connection_set_max_incoming_payload_size(fx->ea.conn, 0);
	/* One compressed frame. */
	put_deflated(fx, ev, &zd, 1, "hello", 5);
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.messages == 1, 3);
	CHECK(fx->ea.messages == 1 && fx->ea.last_len == 5 &&
	    memcmp(fx->ea.last, "hello", 5) == 0);
	/* A compressed message in three frames: RSV1 on the first only. */
	fill_words(words, sizeof(words), 3);
	zdef_msg(&zd, words, sizeof(words), 1, c);
	n = evbuffer_get_length(c);
	p = evbuffer_pullup(c, -1);
	third = n / 3;
	put_frame(fx, ev, 0, 4, 1, p, third);
	put_frame(fx, ev, 0, 0, 0, p + third, third);
	put_frame(fx, ev, 1, 0, 0, p + 2 * third, n - 2 * third);
	/* An uncompressed message between compressed ones (§6: any
	 * message may go uncompressed). */
	put_frame(fx, ev, 1, 0, 2, "plain", 5);
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.messages == 3, 3);
	REQUIRE(fx->ea.messages == 3);
	CHECK(fx->ea.type == WSEV_DATA_BINARY && fx->ea.last_len == 5 &&
	    memcmp(fx->ea.last, "plain", 5) == 0);
	/* The same text again: with context takeover a few bytes only, which
	 * only the kept window resolves. */
	CHECK(put_deflated(fx, ev, &zd, 1, words, sizeof(words)) < 100);
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.messages == 4, 3);
	CHECK(fx->ea.messages == 4 && fx->ea.last_len == sizeof(words) &&
	    memcmp(fx->ea.last, words, sizeof(words)) == 0);
	/* 1 MiB compressible, in one frame. */
	fill_words(big, MIB, 9);
	put_deflated(fx, ev, &zd, 2, big, MIB);
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.messages == 5, 5);
	CHECK(fx->ea.messages == 5 && fx->ea.last_len == MIB &&
	    memcmp(fx->ea.last, big, MIB) == 0);
	CHECK_INT(fx->ea.errors, ==, 0);
	deflateEnd(&zd);
	evbuffer_free(ev);
	evbuffer_free(c);
	free(big);
}

static void
test_deflate_peer_sends(void)
{
	each(case_peer_sends, TR_ALL, 1, &pmd);
}

/* Receiving rules of RFC 7692: each fails the connection. */
struct pmd_violation {
	const char *name;
	int deflate;		/* negotiated */
	int code;
};

static const struct pmd_violation pmd_violations[] = {
	{ "rsv1-continuation", 1, 1002 },
	{ "rsv1-ping", 1, 1002 },
	{ "rsv1-close", 1, 1002 },
	{ "rsv1-without-deflate", 0, 1002 },
	{ "corrupt", 1, 1007 },
	{ "bad-utf8", 1, 1007 },
	{ "utf8-cut-at-end", 1, 1007 },
	{ NULL, 0, 0 }
};
static const struct pmd_violation *cur_violation;

static void
case_violation(struct fx *fx)
{
	const char *name = cur_violation->name;
	struct evbuffer *ev = evbuffer_new(), *c = evbuffer_new();
	z_stream zd;

	REQUIRE(zdef_init(&zd, 15) == 0);
	if (!strcmp(name, "rsv1-continuation")) {
		zdef_msg(&zd, "abcdef", 6, 1, c);
		put_frame(fx, ev, 0, 4, 1, evbuffer_pullup(c, 2), 2);
		put_frame(fx, ev, 1, 4, 0, evbuffer_pullup(c, -1) + 2,
		    evbuffer_get_length(c) - 2);
	} else if (!strcmp(name, "rsv1-ping")) {
		put_frame(fx, ev, 1, 4, 9, "x", 1);
	} else if (!strcmp(name, "rsv1-close")) {
		put_frame(fx, ev, 1, 4, 8, "\x03\xe8", 2);
	} else if (!strcmp(name, "rsv1-without-deflate")) {
		put_deflated(fx, ev, &zd, 1, "abcdef", 6);
	} else if (!strcmp(name, "corrupt")) {
		/* BTYPE 11: a reserved block type. */
		put_frame(fx, ev, 1, 4, 2, "\xff\xff\xff\xff\xff", 5);
	} else if (!strcmp(name, "bad-utf8")) {
		put_deflated(fx, ev, &zd, 1, "ok \xff\xfe ok", 8);
	} else {
		put_deflated(fx, ev, &zd, 1, "ok \xe2\x82", 5);
	}
	raw_send(fx, ev);
	check_failed(fx, cur_violation->code);
	CHECK_INT(fx->ea.messages, ==, 0);
	deflateEnd(&zd);
	evbuffer_free(ev);
	evbuffer_free(c);
}

static void
test_deflate_violations(void)
{
	const struct pmd_violation *v;
	int before;

	for (v = pmd_violations; v->name; v++) {
		before = tt_failed_checks;
		cur_violation = v;
		each(case_violation, TR_PAIR | TR_TCP, 1, v->deflate ? &pmd :
		    NULL);
		if (tt_failed_checks != before)
			printf("  ... in %s\n", v->name);
	}
}

/* 100 MiB of zeros, raw deflate at level 9: about 100 KB. */
static uint8_t *bomb;
static size_t bomb_len;

static void
make_bomb(void)
{
	static uint8_t zeros[65536];
	size_t cap = 256 * 1024, done = 0;
	z_stream z;
	int i;

	if (bomb)
		return;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return;
	bomb = malloc(cap);
	z.next_out = bomb;
	z.avail_out = (uInt)cap;
	for (i = 0; i < 1600; i++) {	/* 1600 x 64 KiB = 100 MiB */
		z.next_in = zeros;
		z.avail_in = sizeof(zeros);
		deflate(&z, i == 1599 ? Z_SYNC_FLUSH : Z_NO_FLUSH);
		done += sizeof(zeros) - z.avail_in;
	}
	bomb_len = cap - z.avail_out - 4;	/* the tail stripped */
	deflateEnd(&z);
	if (done != 100u * MIB || z.avail_out == 0) {
		free(bomb);
		bomb = NULL;
	}
}

static int bomb_frames;		/* 0: one frame; else frames of 1 KiB */
static int bomb_by_message;	/* the message limit, not the payload one */

static void
case_bomb(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new();
	long rss0 = rss_now();
	size_t off, k;

	REQUIRE(bomb != NULL);
	if (bomb_by_message) {
		wsev_connection_set_max_incoming_payload_size(fx->ea.conn, 0);
		wsev_connection_set_max_incoming_message_size(fx->ea.conn, MIB);
	}
	if (!bomb_frames) {
		put_frame(fx, ev, 1, 4, 2, bomb, bomb_len);
	} else {
		for (off = 0; off < bomb_len; off += k) {
			k = bomb_len - off < 1024 ? bomb_len - off : 1024;
			put_frame(fx, ev, off + k == bomb_len, off ? 0 : 4,
			    off ? 0 : 2, bomb + off, k);
		}
	}
	raw_send(fx, ev);
	check_failed(fx, 1009);
	/* Stopped after about the limit, not after 100 MiB. */
	CHECK(fx->ea.rss_at_error > 0);
	CHECK_INT(fx->ea.rss_at_error - rss0, <, 16 * MIB);
	CHECK_INT(fx->ea.messages, ==, 0);
	evbuffer_free(ev);
}

static void
test_deflate_bomb(void)
{
	make_bomb();
	REQUIRE(bomb != NULL);
	CHECK_INT(bomb_len, <, 131072);	/* one frame passes the header check */
	for (bomb_frames = 0; bomb_frames < 2; bomb_frames++)
		for (bomb_by_message = 0; bomb_by_message < 2; bomb_by_message++)
			each(case_bomb, TR_PAIR | TR_TCP, 1, &pmd);
	free(bomb);
	bomb = NULL;
}

/*
 * Context takeover: the same message twice is much smaller the second time.
 * Without it (this side's no_context_takeover) both are the same size and
 * each inflates with a fresh inflater. The peer's no_context_takeover must
 * not change how this side compresses.
 */
static void
check_takeover(enum transport tr, enum wsev_connection_type role, int own,
    int peers)
{
	struct wsev_extensions ext = pmd;
	int srv = role == WSEV_CONNECTION_SERVER;
	uint8_t msg[2000], *out;
	size_t n, i;
	struct fx fx;
	z_stream zi;
	struct evbuffer *dec = evbuffer_new();

	ext.server_no_context_takeover = srv ? own : peers;
	ext.client_no_context_takeover = srv ? peers : own;
	fill_words(msg, sizeof(msg), 11);
	if (fx_setup(&fx, tr, role, 1, &ext) < 0) {
		CHECK(!"fixture setup");
		goto out;
	}
	for (i = 0; i < 3; i++)
		CHECK_INT(wsev_connection_send_binary(fx.ea.conn, msg,
		    sizeof(msg)), ==, 0);
	RUN_UNTIL(&fx, fx.nf >= 3, 3);
	if (fx.nf != 3) {
		CHECK_INT(fx.nf, ==, 3);
		goto out;
	}
	if (own) {
		CHECK_INT(fx.f[1].len, ==, fx.f[0].len);
		CHECK_INT(fx.f[2].len, ==, fx.f[0].len);
		for (i = 0; i < 3; i++) {
			out = zinf_fresh(fx.f[i].data, fx.f[i].len, 15, &n);
			CHECK(out && n == sizeof(msg) &&
			    memcmp(out, msg, n) == 0);
			free(out);
		}
	} else {
		CHECK_INT(fx.f[1].len * 4, <, fx.f[0].len);
		CHECK(zinf_init(&zi, 15) == 0);
		for (i = 0; i < 3; i++) {
			evbuffer_drain(dec, evbuffer_get_length(dec));
			CHECK(zinf_msg(&zi, fx.f[i].data, fx.f[i].len, dec) == 0);
			CHECK(buf_is(dec, msg, sizeof(msg)));
		}
		inflateEnd(&zi);
		/* The second needs the first's window. */
		out = zinf_fresh(fx.f[1].data, fx.f[1].len, 15, &n);
		CHECK(!out || n != sizeof(msg) || memcmp(out, msg, n) != 0);
		free(out);
	}
out:
	fx_teardown(&fx);
	evbuffer_free(dec);
}

static void
test_deflate_context_takeover(void)
{
	int t, r, v, before;
	static const enum wsev_connection_type roles[2] = {
	    WSEV_CONNECTION_SERVER, WSEV_CONNECTION_CLIENT };

	for (t = T_PAIR; t <= T_TCP; t++)
		for (r = 0; r < 2; r++)
			for (v = 0; v < 3; v++) {
				before = tt_failed_checks;
				/* takeover; own none; only the peer's none */
				check_takeover((enum transport)t, roles[r],
				    v == 1, v == 2);
				if (tt_failed_checks != before)
					printf("  ... %s over %s, variant %d\n",
					    r ? "client" : "server",
					    tr_names[t], v);
			}
}

/* A peer that resets its compressor for every message: each message a
 * fresh stream, accepted. */
static void
case_peer_no_takeover(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new();
	z_stream zd;
	int i;

	for (i = 0; i < 3; i++) {
		REQUIRE(zdef_init(&zd, 15) == 0);
		put_deflated(fx, ev, &zd, 1, "again and again", 15);
		deflateEnd(&zd);
	}
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.messages == 3, 3);
	CHECK_INT(fx->ea.messages, ==, 3);
	CHECK_STR((char *)fx->ea.last, "again and again");
	CHECK_INT(fx->ea.errors, ==, 0);
	evbuffer_free(ev);
}

static void
test_deflate_peer_no_takeover(void)
{
	struct wsev_extensions nct = pmd;

	nct.server_no_context_takeover = 1;
	nct.client_no_context_takeover = 1;

	each(case_peer_no_takeover, TR_PAIR | TR_TCP, 1, &nct);
}

/*
 * Window bits. A message of 1000 random bytes three times over: with a
 * 32 KiB window the repeats cost almost nothing; with 512 bytes they cannot
 * be reached, and the raw peer inflates with a 9-bit window.
 */
static void
check_window(enum transport tr, enum wsev_connection_type role, int own_bits,
    int peer_bits)
{
	struct wsev_extensions ext = pmd;
	int srv = role == WSEV_CONNECTION_SERVER;
	uint8_t msg[3000], *out;
	size_t n;
	struct fx fx;

	ext.server_max_window_bits = srv ? own_bits : peer_bits;
	ext.client_max_window_bits = srv ? peer_bits : own_bits;
	fill_random(msg, 1000, 5);
	memcpy(msg + 1000, msg, 1000);
	memcpy(msg + 2000, msg, 1000);
	if (fx_setup(&fx, tr, role, 1, &ext) < 0) {
		CHECK(!"fixture setup");
		goto out;
	}
	CHECK_INT(wsev_connection_send_binary(fx.ea.conn, msg, sizeof(msg)),
	    ==, 0);
	RUN_UNTIL(&fx, fx.nf >= 1, 3);
	if (fx.nf != 1) {
		CHECK_INT(fx.nf, ==, 1);
		goto out;
	}
	if (own_bits == 8) {
		/* zlib cannot make an 8-bit window: sent uncompressed. */
		CHECK_INT(fx.f[0].rsv, ==, 0);
		CHECK(fx.f[0].len == sizeof(msg) &&
		    memcmp(fx.f[0].data, msg, sizeof(msg)) == 0);
	} else if (own_bits == 9) {
		CHECK_INT(fx.f[0].rsv, ==, 4);
		CHECK_INT(fx.f[0].len, >, 2500);
		out = zinf_fresh(fx.f[0].data, fx.f[0].len, 9, &n);
		CHECK(out && n == sizeof(msg) && memcmp(out, msg, n) == 0);
		free(out);
	} else {
		CHECK_INT(fx.f[0].rsv, ==, 4);
		CHECK_INT(fx.f[0].len, <, 1500);
		out = zinf_fresh(fx.f[0].data, fx.f[0].len, 15, &n);
		CHECK(out && n == sizeof(msg) && memcmp(out, msg, n) == 0);
		free(out);
	}
	/* The limit on the peer's window does not stop this side from
	 * inflating: the peer (zlib) compresses with 9 bits for 8. */
	if (peer_bits) {
		struct evbuffer *ev = evbuffer_new();
		z_stream zd;

		CHECK(zdef_init(&zd, peer_bits < 9 ? 9 : peer_bits) == 0);
		put_deflated(&fx, ev, &zd, 2, msg, sizeof(msg));
		raw_send(&fx, ev);
		RUN_UNTIL(&fx, fx.ea.messages == 1, 3);
		CHECK(fx.ea.messages == 1 && fx.ea.last_len == sizeof(msg) &&
		    memcmp(fx.ea.last, msg, sizeof(msg)) == 0);
		deflateEnd(&zd);
		evbuffer_free(ev);
	}
	CHECK_INT(fx.ea.errors, ==, 0);
out:
	fx_teardown(&fx);
}

static void
test_deflate_window_bits(void)
{
	static const int v[][2] = { { 9, 0 }, { 8, 0 }, { 0, 9 }, { 0, 8 },
	    { 9, 9 }, { 15, 8 } };
	int t, r, i, before;

	for (t = T_PAIR; t <= T_TCP; t++)
		for (r = 0; r < 2; r++)
			for (i = 0; i < 6; i++) {
				before = tt_failed_checks;
				check_window((enum transport)t, r ?
				    WSEV_CONNECTION_CLIENT :
				    WSEV_CONNECTION_SERVER, v[i][0], v[i][1]);
				if (tt_failed_checks != before)
					printf("  ... %s over %s, own %d peer %d\n",
					    r ? "client" : "server",
					    tr_names[t], v[i][0], v[i][1]);
			}
}

static void
test_deflate_get_extensions(void)
{
	struct wsev_extensions ext = { 1, 1, 0, 10, 12, 3, 7 };
	const struct wsev_extensions *got;
	struct fx fx;

	REQUIRE(fx_setup(&fx, T_PAIR, WSEV_CONNECTION_SERVER, 0, &ext) == 0);
	got = wsev_connection_get_extensions(fx.ea.conn);
	REQUIRE(got != NULL);
	CHECK(got != &ext);	/* copied */
	CHECK_INT(got->deflate, ==, 1);
	CHECK_INT(got->server_no_context_takeover, ==, 1);
	CHECK_INT(got->client_no_context_takeover, ==, 0);
	CHECK_INT(got->server_max_window_bits, ==, 10);
	CHECK_INT(got->client_max_window_bits, ==, 12);
	CHECK_INT(got->level, ==, 3);
	CHECK_INT(got->mem_level, ==, 7);
	got = wsev_connection_get_extensions(fx.eb.conn);
	CHECK(got && got->server_max_window_bits == 10 &&
	    got->client_max_window_bits == 12);
	fx_teardown(&fx);
	/* Without extensions: all 0. */
	REQUIRE(fx_setup(&fx, T_PAIR, WSEV_CONNECTION_CLIENT, 1, NULL) == 0);
	got = wsev_connection_get_extensions(fx.ea.conn);
	REQUIRE(got != NULL);
	CHECK(got->deflate == 0 && got->server_no_context_takeover == 0 &&
	    got->client_no_context_takeover == 0 &&
	    got->server_max_window_bits == 0 &&
	    got->client_max_window_bits == 0 && got->level == 0 &&
	    got->mem_level == 0);
	fx_teardown(&fx);
}

/*
 * An empty message after another one, with context takeover: the
 * compressed empty message must still be a deflate block (RFC 7692
 * §7.2.3.6: 0x00), or the receiver's inflater, fed the 00 00 ff ff the
 * sender removed, is left inside a stored block header and the next
 * message fails.
 */
static void
case_empty_after(struct fx *fx)
{
	static const char *const m[] = { "abc", "", "xyz", "", "", "end" };
	z_stream zi;
	struct evbuffer *dec = evbuffer_new();
	size_t i;

	for (i = 0; i < 6; i++)
		CHECK_INT(wsev_connection_send_text(fx->ea.conn, m[i]), ==, 0);
	if (fx->raw) {
		RUN_UNTIL(fx, fx->nf >= 6, 3);
		REQUIRE(fx->nf == 6);
		REQUIRE(zinf_init(&zi, 15) == 0);
		for (i = 0; i < 6; i++) {
			evbuffer_drain(dec, evbuffer_get_length(dec));
			CHECK_INT(fx->f[i].rsv, ==, 4);
			if (zinf_msg(&zi, fx->f[i].data, fx->f[i].len, dec) < 0 ||
			    !buf_is(dec, m[i], strlen(m[i]))) {
				printf("  message %zu (\"%s\") does not inflate"
				    " (payload %zu bytes)\n", i, m[i],
				    fx->f[i].len);
				CHECK(!"inflates");
				break;
			}
		}
		inflateEnd(&zi);
	} else {
		RUN_UNTIL(fx, fx->eb.messages == 6 || fx->eb.errors, 3);
		if (fx->eb.errors)
			printf("  error %d \"%s\" after %d messages\n",
			    fx->eb.err.code, fx->eb.err.message,
			    fx->eb.messages);
		CHECK_INT(fx->eb.errors, ==, 0);
		CHECK_INT(fx->eb.messages, ==, 6);
		CHECK_STR((char *)fx->eb.last, "end");
	}
	evbuffer_free(dec);
}

/* The same with an empty final fragment after a fragment with data. */
static void
case_empty_final_fragment(struct fx *fx)
{
	CHECK_INT(wsev_connection_send_fragment(fx->ea.conn, WSEV_DATA_TEXT,
	    "abc", 3, 0), ==, 0);
	CHECK_INT(wsev_connection_send_fragment(fx->ea.conn, WSEV_DATA_TEXT,
	    NULL, 0, 1), ==, 0);
	CHECK_INT(wsev_connection_send_text(fx->ea.conn, "end"), ==, 0);
	RUN_UNTIL(fx, fx->eb.messages == 2 || fx->eb.errors, 3);
	if (fx->eb.errors)
		printf("  error %d \"%s\" after %d messages\n",
		    fx->eb.err.code, fx->eb.err.message, fx->eb.messages);
	CHECK_INT(fx->eb.errors, ==, 0);
	CHECK_INT(fx->eb.messages, ==, 2);
	CHECK_STR((char *)fx->eb.last, "end");
}

static void
test_deflate_empty_after_message(void)
{
	each(case_empty_after, TR_PAIR, 1, &pmd);
	each(case_empty_after, TR_PAIR | TR_TCP, 0, &pmd);
	each(case_empty_final_fragment, TR_PAIR, 0, &pmd);
}

/*
 * RFC 7692 §7.2.3.3: a message may end its data with a BFINAL block
 * (followed by an empty stored block's header byte, 0x00); its example is
 * "Hello" as f3 48 cd c9 c9 07 00 00. The peer then starts a new stream
 * for its next message.
 */
static void
case_bfinal(struct fx *fx)
{
	static const uint8_t rfc[8] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07,
	    0x00, 0x00 };
	struct evbuffer *ev = evbuffer_new();
	z_stream zd;

	put_frame(fx, ev, 1, 4, 1, rfc, sizeof(rfc));
	REQUIRE(zdef_init(&zd, 15) == 0);
	put_deflated(fx, ev, &zd, 1, "World", 5);
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.messages == 2 || fx->ea.errors, 3);
	if (fx->ea.errors)
		printf("  error %d \"%s\" after %d messages\n",
		    fx->ea.err.code, fx->ea.err.message, fx->ea.messages);
	CHECK_INT(fx->ea.errors, ==, 0);
	CHECK_INT(fx->ea.messages, ==, 2);
	CHECK_STR((char *)fx->ea.last, "World");
	deflateEnd(&zd);
	evbuffer_free(ev);
}

static void
test_deflate_bfinal(void)
{
	each(case_bfinal, TR_PAIR, 1, &pmd);
}

/*
 * What real encoders send must never be refused by the bound on final
 * blocks (lib/deflate.c), up to the size limits: zlib's sync flush with the
 * tail removed (Python websockets, Node ws, Chromium), every fragment
 * flushed with its tail kept (Node ws streaming, many 1-byte and empty
 * fragments), and RFC 7692 §7.2.3.3's final blocks, one per message or one
 * per fragment; empty, 1 byte, text, random (stored blocks), and 1 MiB of
 * zeros (about 1 KB compressed) at a 1 MiB limit.
 */

/* A fresh stream ended by a final block (Z_FINISH); end: then the 0x00 of
 * §7.2.3.3's example, which the appended tail makes an empty stored
 * block. */
static void
zdef_final(const void *in, size_t n, int end, struct evbuffer *out)
{
	size_t cap = compressBound((uLong)n) + 64;
	uint8_t *buf = malloc(cap);
	z_stream z;

	REQUIRE(zdef_init(&z, 15) == 0);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	CHECK_INT(deflate(&z, Z_FINISH), ==, Z_STREAM_END);
	evbuffer_add(out, buf, cap - z.avail_out);
	if (end)
		evbuffer_add(out, "", 1);
	deflateEnd(&z);
	free(buf);
}

/* zdef_msg() as Python websockets and Node ws do it: a flush with no new
 * input makes nothing (zlib's Z_BUF_ERROR), sent as it is; strip: the tail
 * removed when there is one. */
static void
zdef_like_peers(z_stream *z, const void *in, size_t n, int strip,
    struct evbuffer *out)
{
	size_t cap = deflateBound(z, (uLong)n) + 64, have;
	uint8_t *buf = malloc(cap);
	int r;

	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)n;
	z->next_out = buf;
	z->avail_out = (uInt)cap;
	r = deflate(z, Z_SYNC_FLUSH);
	CHECK(r == Z_OK || (r == Z_BUF_ERROR && n == 0));
	CHECK_INT(z->avail_in, ==, 0);
	have = cap - z->avail_out;
	if (strip && have >= 4 && memcmp(buf + have - 4, "\0\0\xff\xff", 4) == 0)
		have -= 4;
	evbuffer_add(out, buf, have);
	free(buf);
}

enum shape {
	SH_SYNC,		/* one frame, sync flush, tail removed */
	SH_SYNC_FRAGS,		/* fragments of frag bytes, each flushed */
	SH_FINAL,		/* one frame, a final block */
	SH_FINAL_FRAGS,		/* fragments of frag bytes, a final block each */
	SH_COUNT
};

/* The raw peer's context takeover (a's peer's, negotiated). */
static int real_takeover;

/* Send m (n bytes) shaped so, with the raw peer's stream zd; 1 if it
 * arrived whole. */
static int
send_shaped(struct fx *fx, z_stream *zd, enum shape sh, size_t frag,
    int op, const uint8_t *m, size_t n)
{
	struct evbuffer *ev = evbuffer_new(), *c = evbuffer_new();
	int want = fx->ea.messages + 1, first = 1, last;
	size_t off = 0, k;

	if (sh == SH_SYNC) {
		zdef_like_peers(zd, m, n, 1, c);
		put_frame(fx, ev, 1, 4, op, evbuffer_pullup(c, -1),
		    evbuffer_get_length(c));
	} else if (sh == SH_FINAL) {
		zdef_final(m, n, 1, c);
		put_frame(fx, ev, 1, 4, op, evbuffer_pullup(c, -1),
		    evbuffer_get_length(c));
	} else {
		do {
			k = n - off < frag ? n - off : frag;
			last = off + k == n;
			evbuffer_drain(c, evbuffer_get_length(c));
			if (sh == SH_SYNC_FRAGS)
				zdef_like_peers(zd, m + off, k, last, c);
			else
				zdef_final(m + off, k, last, c);
			put_frame(fx, ev, last, first ? 4 : 0, first ? op : 0,
			    evbuffer_pullup(c, -1), evbuffer_get_length(c));
			first = 0;
			off += k;
		} while (off < n);
	}
	if (!real_takeover)
		CHECK_INT(deflateReset(zd), ==, Z_OK);
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.messages == want || fx->ea.errors, 5);
	evbuffer_free(ev);
	evbuffer_free(c);
	if (fx->ea.errors)
		printf("  shape %d (fragments of %zu) of %zu bytes: error %d"
		    " \"%s\"\n", (int)sh, frag, n, fx->ea.err.code,
		    fx->ea.err.message);
	return fx->ea.messages == want && fx->ea.last_len == n &&
	    (n == 0 || memcmp(fx->ea.last, m, n) == 0);
}

static void
case_real_encoders(struct fx *fx)
{
	static const size_t sizes[] = { 0, 1, 4, 28, 300, 65536, MIB };
	static const size_t frags[] = { 1, 7, 32768 };
	uint8_t *m = malloc(MIB);
	z_stream zd;
	size_t s, f, n;
	int sh, kind, ok;

	REQUIRE(zdef_init(&zd, 15) == 0);
	/* The limit is the largest message: 1 MiB decompressed. */
	wsev_connection_set_max_incoming_payload_size(fx->ea.conn, MIB);
	for (sh = 0; sh < SH_COUNT && !fx->ea.errors; sh++) {
		for (s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
			for (kind = 0; kind < 3; kind++) {
				n = sizes[s];
				if (kind == 0)
					memset(m, 0, n);
				else if (kind == 1)
					fill_words(m, n, (uint32_t)s);
				else
					fill_random(m, n, (uint32_t)s);
				for (f = 0; f < 3; f++) {
					if ((sh == SH_SYNC || sh == SH_FINAL) &&
					    f > 0)
						break;
					/* A final block per fragment: up to
					 * the bound's floor of 4 when small
					 * (exactly 4 at 4 and 28 bytes), one
					 * per 32 KiB beyond. Fragments of 1
					 * or 7 bytes: small messages only. */
					if (sh == SH_FINAL_FRAGS && (f == 0 ?
					    n > 4 : f == 1 ? n > 28 : 0))
						continue;
					if (sh == SH_SYNC_FRAGS && f < 2 &&
					    n > 300)
						continue;
					ok = send_shaped(fx, &zd, (enum shape)sh,
					    frags[f], kind == 1 ? 1 : 2, m, n);
					if (!ok)
						printf("  shape %d, kind %d, "
						    "%zu bytes, fragments of "
						    "%zu: not received\n", sh,
						    kind, n, frags[f]);
					CHECK(ok);
				}
			}
		}
	}
	CHECK_INT(fx->ea.errors, ==, 0);
	deflateEnd(&zd);
	free(m);
}

static void
test_deflate_real_encoders(void)
{
	static const struct wsev_extensions no_takeover = { .deflate = 1,
	    .level = -1, .mem_level = 8, .client_no_context_takeover = 1,
	    .server_no_context_takeover = 1 };

	real_takeover = 1;
	each(case_real_encoders, TR_PAIR | TR_TCP, 1, &pmd);
	real_takeover = 0;
	each(case_real_encoders, TR_PAIR, 1, &no_takeover);
}

/*
 * A message of nothing but empty final blocks (03 00: BFINAL, fixed
 * Huffman, end of block) inflates to nothing, so no size limit trips, yet
 * each one makes the receiver start its inflater over with its window kept
 * (§7.2.3.3). It fails with 1009 after a bounded number of them: after the
 * first frame of 4000, before the rest of the message is even sent (or,
 * one frame, before it is delivered). The window is full first (a 40 KB
 * message), so each start over would copy 32 KiB out and back.
 */
#define EMPTY_FINALS 4000

static int finals_one_frame;

static void
case_final_blocks(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new();
	uint8_t *b = malloc(2 * EMPTY_FINALS), *w = malloc(40000);
	z_stream zd;
	size_t i;

	for (i = 0; i < EMPTY_FINALS; i++) {
		b[2 * i] = 0x03;
		b[2 * i + 1] = 0x00;
	}
	fill_words(w, 40000, 9);
	REQUIRE(zdef_init(&zd, 15) == 0);
	put_deflated(fx, ev, &zd, 2, w, 40000);
	put_frame(fx, ev, finals_one_frame, 4, 2, b, 2 * EMPTY_FINALS);
	raw_send(fx, ev);
	RUN_UNTIL(fx, find_op(fx, 0, 8) < fx->nf || fx->ea.errors ||
	    fx->ea.messages == 2, 3);
	CHECK_INT(fx->ea.messages, ==, 1);	/* the 40 KB one only */
	if (find_op(fx, 0, 8) == fx->nf && !finals_one_frame) {
		/* Not failed: the rest of the message. */
		put_frame(fx, ev, 1, 0, 0, b, 2 * EMPTY_FINALS);
		raw_send(fx, ev);
		RUN_UNTIL(fx, fx->ea.messages == 2 || fx->ea.errors, 3);
	}
	if (fx->ea.messages == 2)
		printf("  %d final blocks delivered as a message of %zu bytes\n",
		    EMPTY_FINALS * (finals_one_frame ? 1 : 2), fx->ea.last_len);
	check_failed(fx, 1009);
	CHECK_INT(fx->ea.messages, ==, 1);
	deflateEnd(&zd);
	evbuffer_free(ev);
	free(b);
	free(w);
}

static void
test_deflate_final_blocks(void)
{
	for (finals_one_frame = 0; finals_one_frame < 2; finals_one_frame++)
		each(case_final_blocks, TR_PAIR | TR_TCP, 1, &pmd);
}

/* ------------------------------------------------------------------ */
/* Keepalive */

static int
keepalive_payload_ok(const struct tt_frame *f)
{
	size_t i;

	if (f->len != 23 || memcmp(f->data, "wsev-keepalive ", 15) != 0)
		return 0;
	for (i = 15; i < 23; i++)
		if (!isxdigit(f->data[i]))
			return 0;
	return 1;
}

static size_t
count_op(const struct fx *fx, int op)
{
	size_t i, n = 0;

	for (i = 0; i < fx->nf; i++)
		n += fx->f[i].op == op;
	return n;
}

/* Pings every second, answered: the connection stays OPEN; interval 0
 * stops them. */
static void
check_keepalive(enum transport tr, enum wsev_connection_type role)
{
	struct fx fx;
	size_t i, n;

	REQUIRE(fx_setup(&fx, tr, role, 1, NULL) == 0);
	fx.raw_pongs = 1;
	wsev_connection_set_keepalive_pong_timeout(fx.ea.conn, 1);
	wsev_connection_set_keepalive_interval(fx.ea.conn, 1);
	CHECK_INT(wsev_connection_get_keepalive_interval(fx.ea.conn), ==, 1);
	CHECK_INT(wsev_connection_get_keepalive_pong_timeout(fx.ea.conn), ==, 1);
	RUN_UNTIL(&fx, count_op(&fx, 9) >= 3, 5);
	CHECK_INT(count_op(&fx, 9), >=, 3);
	for (i = 0; i < fx.nf; i++) {
		CHECK_INT(fx.f[i].op, ==, 9);
		CHECK(keepalive_payload_ok(&fx.f[i]));
		CHECK_INT(fx.f[i].masked, ==, role == WSEV_CONNECTION_CLIENT);
		if (i > 0)	/* a new number each time */
			CHECK(memcmp(fx.f[i].data, fx.f[i - 1].data, 23) != 0);
	}
	CHECK_INT(fx.ea.pongs, >=, 2);
	CHECK_INT(wsev_connection_get_state(fx.ea.conn), ==, WSEV_STATE_OPEN);
	CHECK_INT(fx.ea.errors, ==, 0);
	/* Off: no ping in the next 1.5 intervals. */
	wsev_connection_set_keepalive_interval(fx.ea.conn, 0);
	CHECK_INT(wsev_connection_get_keepalive_interval(fx.ea.conn), ==, 0);
	n = fx.nf;
	{
		struct timeval tv = { 1, 500000 };

		event_base_loopexit(fx.base, &tv);
		event_base_dispatch(fx.base);
	}
	CHECK_INT(fx.nf, ==, n);
	CHECK_INT(wsev_connection_get_state(fx.ea.conn), ==, WSEV_STATE_OPEN);
	fx_teardown(&fx);
}

static void
test_keepalive_pings(void)
{
	check_keepalive(T_TCP, WSEV_CONNECTION_CLIENT);
}

/* A peer that does not answer: 1008 "keepalive pong timed out", then
 * "closed". */
static void
check_pong_timeout(enum transport tr, enum wsev_connection_type role)
{
	struct fx fx;
	size_t i;

	REQUIRE(fx_setup(&fx, tr, role, 1, NULL) == 0);
	wsev_connection_set_keepalive_interval(fx.ea.conn, 1);
	wsev_connection_set_keepalive_pong_timeout(fx.ea.conn, 1);
	RUN_UNTIL(&fx, fx.ea.errors > 0, 4);
	CHECK_INT(count_op(&fx, 9), >=, 1);
	CHECK_INT(fx.ea.errors, ==, 1);
	CHECK_INT(fx.ea.err.domain, ==, WSEV_DOMAIN_WEBSOCKET);
	CHECK_INT(fx.ea.err.code, ==, 1008);
	CHECK_STR(fx.ea.err.message, "keepalive pong timed out");
	CHECK_INT(wsev_connection_get_close_code(fx.ea.conn), ==, 1008);
	RUN_UNTIL(&fx, (i = find_op(&fx, 0, 8)) < fx.nf, 2);
	CHECK_INT(close_code(frame_at(&fx, find_op(&fx, 0, 8))), ==, 1008);
	/* "closed" follows, within the close timeout, even from a peer that
	 * neither answers nor hangs up. */
	{
		struct timeval ct = { 1, 0 };

		wsev_connection_set_close_timeout(fx.ea.conn, &ct);
	}
	RUN_UNTIL(&fx, fx.ea.closed, 7);
	CHECK_INT(fx.ea.closed, ==, 1);
	CHECK_INT(fx.ea.code_at_closed, ==, 1008);
	fx_teardown(&fx);
}

static void
test_keepalive_pong_timeout(void)
{
	check_pong_timeout(T_PAIR, WSEV_CONNECTION_SERVER);
}

static void
test_set_options(void)
{
	struct wsev_connection_options o;
	struct timeval ct = { 2, 250000 }, got;
	struct fx fx;

	REQUIRE(fx_setup(&fx, T_PAIR, WSEV_CONNECTION_SERVER, 1, NULL) == 0);
	wsev_connection_options_init(&o);
	CHECK_INT(o.max_incoming_payload_size, ==, 131072);
	CHECK_INT(o.max_incoming_message_size, ==, 0);
	CHECK_INT(o.max_outgoing_buffer, ==, WSEV_DEFAULT_MAX_OUTGOING_BUFFER);
	CHECK_INT(o.keepalive_interval, ==, 0);
	CHECK_INT(o.deflate.enabled, ==, 1);
	o.max_incoming_payload_size = 1000;
	o.max_incoming_message_size = 5000;
	o.max_outgoing_buffer = 12345;
	o.close_timeout = &ct;
	o.keepalive_interval = 7;
	o.keepalive_pong_timeout = 3;
	wsev_connection_set_options(fx.ea.conn, &o);
	ct.tv_sec = 99;		/* copied, not kept */
	CHECK_INT(wsev_connection_get_max_incoming_payload_size(fx.ea.conn),
	    ==, 1000);
	CHECK_INT(wsev_connection_get_max_incoming_message_size(fx.ea.conn),
	    ==, 5000);
	CHECK_INT(wsev_connection_get_max_outgoing_buffer(fx.ea.conn), ==,
	    12345);
	wsev_connection_get_close_timeout(fx.ea.conn, &got);
	CHECK(got.tv_sec == 2 && got.tv_usec == 250000);
	CHECK_INT(wsev_connection_get_keepalive_interval(fx.ea.conn), ==, 7);
	CHECK_INT(wsev_connection_get_keepalive_pong_timeout(fx.ea.conn), ==, 3);
	/* The limits apply: a 1001-byte frame is refused. */
	{
		struct evbuffer *ev = evbuffer_new();
		uint8_t b[1001];

		memset(b, 'x', sizeof(b));
		put_frame(&fx, ev, 1, 0, 2, b, sizeof(b));
		raw_send(&fx, ev);
		evbuffer_free(ev);
		check_failed(&fx, 1009);
	}
	/* The defaults again; NULL close timeout: 5 s. */
	wsev_connection_options_init(&o);
	wsev_connection_set_options(fx.ea.conn, &o);
	wsev_connection_get_close_timeout(fx.ea.conn, &got);
	CHECK(got.tv_sec == 5 && got.tv_usec == 0);
	CHECK_INT(wsev_connection_get_keepalive_interval(fx.ea.conn), ==, 0);
	CHECK_INT(wsev_connection_get_max_incoming_message_size(fx.ea.conn),
	    ==, 0);
	fx_teardown(&fx);
}

/* ------------------------------------------------------------------ */
/* Streaming sends */

static int
frame_is(const struct tt_frame *f, int fin, int rsv, int op, const char *data,
    size_t len)
{
	return f && f->fin == fin && f->rsv == rsv && f->op == op &&
	    f->len == len && memcmp(f->data, data, len) == 0;
}

static void
case_fragments(struct fx *fx)
{
	struct wsev_connection *c = fx->ea.conn;
	struct evbuffer *buf = evbuffer_new();

	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "ab", 2, 0),
	    ==, 0);
	CHECK_INT(wsev_connection_send_ping(c, "p", 1), ==, 0);
	/* "é" cut between two fragments. */
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "c\xc3", 2,
	    0), ==, 0);
	/* Refused: another type, whole messages, bad UTF-8, a final piece
	 * inside a code point. */
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_BINARY, "x", 1, 1),
	    ==, WSEV_ERR_BUSY);
	CHECK_INT(wsev_connection_send_text(c, "no"), ==, WSEV_ERR_BUSY);
	CHECK_INT(wsev_connection_send_binary(c, "no", 2), ==, WSEV_ERR_BUSY);
	CHECK_INT(wsev_connection_send_message(c, WSEV_DATA_TEXT, "no", 2), ==,
	    WSEV_ERR_BUSY);
	evbuffer_add(buf, "no", 2);
	CHECK_INT(wsev_connection_send_buffer(c, WSEV_DATA_BINARY, buf), ==,
	    WSEV_ERR_BUSY);
	CHECK_INT(evbuffer_get_length(buf), ==, 2);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "\xff", 1,
	    0), ==, WSEV_ERR_BAD_UTF8);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "\xa9\xe2\x82",
	    3, 1), ==, WSEV_ERR_BAD_UTF8);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "\xc3", 1, 0),
	    ==, WSEV_ERR_BAD_UTF8);	/* C3 C3: not UTF-8 */
	/* The message goes on where the refused pieces left it. */
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "\xa9", 1, 0),
	    ==, 0);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, NULL, 0, 0),
	    ==, 0);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "\xe2\x82\xac",
	    3, 1), ==, 0);
	/* Whole messages work again, then a binary one in pieces. */
	CHECK_INT(wsev_connection_send_text(c, "whole"), ==, 0);
	CHECK_INT(wsev_connection_send_buffer(c, WSEV_DATA_BINARY, buf), ==, 0);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_BINARY, "\x00\xff",
	    2, 0), ==, 0);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "t", 1, 1),
	    ==, WSEV_ERR_BUSY);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_BINARY, "\x01", 1,
	    1), ==, 0);
	/* A single final fragment is a whole message. */
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "one", 3, 1),
	    ==, 0);
	CHECK_INT(wsev_connection_send_message(c, WSEV_DATA_BINARY, "b", 1), ==,
	    0);
	RUN_UNTIL(fx, fx->nf >= 12, 3);
	REQUIRE(fx->nf == 12);
	CHECK(frame_is(&fx->f[0], 0, 0, 1, "ab", 2));
	CHECK(frame_is(&fx->f[1], 1, 0, 9, "p", 1));
	CHECK(frame_is(&fx->f[2], 0, 0, 0, "c\xc3", 2));
	CHECK(frame_is(&fx->f[3], 0, 0, 0, "\xa9", 1));
	CHECK(frame_is(&fx->f[4], 0, 0, 0, "", 0));
	CHECK(frame_is(&fx->f[5], 1, 0, 0, "\xe2\x82\xac", 3));
	CHECK(frame_is(&fx->f[6], 1, 0, 1, "whole", 5));
	CHECK(frame_is(&fx->f[7], 1, 0, 2, "no", 2));
	CHECK(frame_is(&fx->f[8], 0, 0, 2, "\x00\xff", 2));
	CHECK(frame_is(&fx->f[9], 1, 0, 0, "\x01", 1));
	CHECK(frame_is(&fx->f[10], 1, 0, 1, "one", 3));
	CHECK(frame_is(&fx->f[11], 1, 0, 2, "b", 1));
	CHECK_INT(fx->ea.errors, ==, 0);
	evbuffer_free(buf);
}

static void
test_fragment_wire(void)
{
	each(case_fragments, TR_ALL, 1, NULL);
}

/* wsev to wsev: the pieces arrive as one message. */
static void
case_fragments_wsev(struct fx *fx)
{
	uint8_t *big = malloc(MIB);
	size_t off;
	int i;

	fill_words(big, MIB, 2);
	wsev_connection_set_max_incoming_payload_size(fx->eb.conn, 0);
	for (i = 0, off = 0; off < MIB; i++, off += 65536)
		CHECK_INT(wsev_connection_send_fragment(fx->ea.conn,
		    WSEV_DATA_TEXT, big + off, 65536, off + 65536 == MIB), ==, 0);
	RUN_UNTIL(fx, fx->eb.messages == 1 || fx->eb.errors, 5);
	CHECK_INT(fx->eb.messages, ==, 1);
	CHECK(fx->eb.type == WSEV_DATA_TEXT && fx->eb.last_len == MIB &&
	    memcmp(fx->eb.last, big, MIB) == 0);
	free(big);
}

static void
test_fragment_wsev(void)
{
	each_deflate_or_not(case_fragments_wsev, TR_ALL, 0);
}

/* A close in the middle of a message: the message stays unfinished. */
static void
case_fragment_close(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new();

	CHECK_INT(wsev_connection_send_fragment(fx->ea.conn, WSEV_DATA_BINARY,
	    "part", 4, 0), ==, 0);
	CHECK_INT(wsev_connection_close(fx->ea.conn, 1001, "away"), ==, 0);
	CHECK_INT(fx->ea.closing, ==, 1);
	CHECK_INT(wsev_connection_send_fragment(fx->ea.conn, WSEV_DATA_BINARY,
	    "more", 4, 1), ==, WSEV_ERR_NOT_OPEN);
	RUN_UNTIL(fx, fx->nf >= 2, 3);
	REQUIRE(fx->nf == 2);
	CHECK(frame_is(&fx->f[0], 0, 0, 2, "part", 4));
	CHECK_INT(fx->f[1].op, ==, 8);
	CHECK_INT(close_code(&fx->f[1]), ==, 1001);
	put_frame(fx, ev, 1, 0, 8, "\x03\xe9", 2);
	raw_send(fx, ev);
	if (fx->role == WSEV_CONNECTION_CLIENT) {
		/* The client waits for the server to close TCP first. */
		run_idle(fx);
		CHECK_INT(fx->ea.closed, ==, 0);
		raw_hangup(fx);
	}
	RUN_UNTIL(fx, fx->ea.closed, 3);
	CHECK_INT(fx->ea.closed, ==, 1);
	CHECK_INT(fx->ea.errors, ==, 0);
	CHECK_INT(fx->ea.code_at_closed, ==, 1001);
	evbuffer_free(ev);
}

static void
test_fragment_close(void)
{
	each(case_fragment_close, TR_PAIR | TR_TCP, 1, NULL);
}

/* With deflate: one compressed message, RSV1 on the first frame only. */
static void
case_fragment_deflate(struct fx *fx)
{
	struct wsev_connection *c = fx->ea.conn;
	struct evbuffer *all = evbuffer_new(), *dec = evbuffer_new();
	z_stream zi;
	size_t i;

	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "hello ", 6,
	    0), ==, 0);
	CHECK_INT(wsev_connection_send_ping(c, NULL, 0), ==, 0);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "w\xc3", 2,
	    0), ==, 0);
	CHECK_INT(wsev_connection_send_fragment(c, WSEV_DATA_TEXT, "\xb6rld", 4,
	    1), ==, 0);
	CHECK_INT(wsev_connection_send_text(c, "hello w\xc3\xb6rld"), ==, 0);
	RUN_UNTIL(fx, fx->nf >= 5, 3);
	REQUIRE(fx->nf == 5);
	CHECK(fx->f[0].op == 1 && fx->f[0].rsv == 4 && !fx->f[0].fin);
	CHECK(frame_is(&fx->f[1], 1, 0, 9, "", 0));
	CHECK(fx->f[2].op == 0 && fx->f[2].rsv == 0 && !fx->f[2].fin);
	CHECK(fx->f[3].op == 0 && fx->f[3].rsv == 0 && fx->f[3].fin);
	CHECK(fx->f[4].op == 1 && fx->f[4].rsv == 4 && fx->f[4].fin);
	for (i = 0; i < 4; i++)
		if (i != 1)
			evbuffer_add(all, fx->f[i].data, fx->f[i].len);
	REQUIRE(zinf_init(&zi, 15) == 0);
	CHECK_INT(zinf_msg(&zi, evbuffer_pullup(all, -1),
	    evbuffer_get_length(all), dec), ==, 0);
	CHECK(buf_is(dec, "hello w\xc3\xb6rld", 12));
	/* The stream goes on into the next message. */
	evbuffer_drain(dec, evbuffer_get_length(dec));
	CHECK_INT(zinf_msg(&zi, fx->f[4].data, fx->f[4].len, dec), ==, 0);
	CHECK(buf_is(dec, "hello w\xc3\xb6rld", 12));
	inflateEnd(&zi);
	evbuffer_free(all);
	evbuffer_free(dec);
}

static void
test_fragment_deflate(void)
{
	each(case_fragment_deflate, TR_ALL, 1, &pmd);
}

/* ------------------------------------------------------------------ */
/* send_buffer */

static struct fx *ref_fx;
static size_t ref_frame_len;	/* header + payload of the frame */
static int ref_cleanups, ref_early;

/* Bytes that have reached the raw peer: decoded, in its input, or in its
 * socket. */
static size_t
raw_arrived(struct fx *fx)
{
	int n = 0, q = 0;
	evutil_socket_t fd;

	if (!fx->b)
		return fx->raw_total;
	fd = bufferevent_getfd(fx->b);
	if (fd >= 0 && ioctl(fd, FIONREAD, &n) < 0)
		n = 0;
	/* Handed to the kernel, not yet across: written all the same. */
	fd = bufferevent_getfd(fx->a);
	if (fd >= 0 && ioctl(fd, TIOCOUTQ, &q) < 0)
		q = 0;
	return fx->raw_total + evbuffer_get_length(bufferevent_get_input(fx->b)) +
	    (size_t)n + (size_t)q;
}

static void
ref_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	(void)arg;
	ref_cleanups++;
	/* Released before its bytes were written: wsev copied them, or let
	 * them go too early. */
	if (ref_frame_len && raw_arrived(ref_fx) < ref_frame_len)
		ref_early++;
}

/* Whether some chain of buf starts at p. */
static int
has_chain_at(struct evbuffer *buf, const void *p)
{
	struct evbuffer_iovec v[64];
	int n = evbuffer_peek(buf, -1, NULL, v, 64), i;

	for (i = 0; i < n && i < 64; i++)
		if (v[i].iov_base == p)
			return 1;
	return 0;
}

static uint8_t ref_data[300000];

/* A server without deflate moves the chains: no copy. */
static void
case_buffer_zero_copy(struct fx *fx)
{
	struct evbuffer *buf = evbuffer_new();
	size_t n = sizeof(ref_data);
	int moved;

	fill_random(ref_data, n, 21);
	ref_fx = fx;
	ref_frame_len = 10 + n;
	ref_cleanups = ref_early = 0;
	memcpy(ref_data, "head", 4);
	evbuffer_add(buf, ref_data, 4);
	evbuffer_add_reference(buf, ref_data + 4, n - 8, ref_cleanup, NULL);
	evbuffer_add(buf, ref_data + n - 4, 4);
	CHECK_INT(wsev_connection_send_buffer(fx->ea.conn, WSEV_DATA_BINARY,
	    buf), ==, 0);
	CHECK_INT(evbuffer_get_length(buf), ==, 0);
	if (fx->tr == T_PAIR) {
		/* The very chain is in wsev's output or the partner's input. */
		moved = has_chain_at(bufferevent_get_output(fx->a),
		    ref_data + 4) || has_chain_at(bufferevent_get_input(fx->b),
		    ref_data + 4);
		CHECK(moved);
		CHECK_INT(ref_cleanups, ==, 0);
	}
	RUN_UNTIL(fx, fx->nf >= 1 && ref_cleanups, 5);
	REQUIRE(fx->nf == 1);
	CHECK(fx->f[0].fin && fx->f[0].op == 2 && fx->f[0].rsv == 0);
	CHECK(fx->f[0].len == n && memcmp(fx->f[0].data, ref_data, n) == 0);
	CHECK_INT(ref_cleanups, ==, 1);
	CHECK_INT(ref_early, ==, 0);
	ref_frame_len = 0;	/* no more checks from the teardown */
	evbuffer_free(buf);
}

static void
test_buffer_zero_copy(void)
{
	int t;

	for (t = T_PAIR; t <= T_TCP; t++) {
		struct fx fx;
		int before = tt_failed_checks;

		if (fx_setup(&fx, (enum transport)t, WSEV_CONNECTION_SERVER, 1,
		    NULL) == 0)
			case_buffer_zero_copy(&fx);
		else
			CHECK(!"fixture setup");
		fx_teardown(&fx);
		if (tt_failed_checks != before)
			printf("  ... over %s\n", tr_names[t]);
	}
}

/*
 * The same behind a backlog (TCP, a peer that does not read yet): the
 * frame waits in wsev's queue with its chain still referenced, a ping
 * overtakes nothing that was queued before it, and the chain is released
 * only once written.
 */
static void
test_buffer_zero_copy_backlog(void)
{
	struct evbuffer *buf = evbuffer_new();
	size_t n = sizeof(ref_data), i, first = 3 * MIB;
	uint8_t *big = malloc(first);
	struct fx fx;

	int small = 32768;

	REQUIRE(fx_setup(&fx, T_TCP, WSEV_CONNECTION_SERVER, 1, NULL) == 0);
	/* Small kernel buffers: 3 MiB cannot all leave at once. */
	setsockopt(bufferevent_getfd(fx.b), SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small));
	setsockopt(bufferevent_getfd(fx.a), SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small));
	bufferevent_disable(fx.b, EV_READ);
	fill_random(big, first, 41);
	fill_random(ref_data, n, 42);
	ref_fx = &fx;
	ref_frame_len = 10 + first + 10 + n;
	ref_cleanups = ref_early = 0;
	CHECK_INT(wsev_connection_send_binary(fx.ea.conn, big, first), ==, 0);
	evbuffer_add_reference(buf, ref_data, n, ref_cleanup, NULL);
	CHECK_INT(wsev_connection_send_buffer(fx.ea.conn, WSEV_DATA_BINARY,
	    buf), ==, 0);
	CHECK_INT(evbuffer_get_length(buf), ==, 0);
	CHECK_INT(wsev_connection_send_ping(fx.ea.conn, "after", 5), ==, 0);
	run_idle(&fx);
	CHECK_INT(ref_cleanups, ==, 0);
	CHECK_INT(wsev_connection_get_buffered_amount(fx.ea.conn), >, 0);
	bufferevent_enable(fx.b, EV_READ);
	RUN_UNTIL(&fx, fx.nf >= 3, 5);
	REQUIRE(fx.nf == 3);
	CHECK(fx.f[0].op == 2 && fx.f[0].len == first &&
	    memcmp(fx.f[0].data, big, first) == 0);
	CHECK(fx.f[1].op == 2 && fx.f[1].len == n &&
	    memcmp(fx.f[1].data, ref_data, n) == 0);
	CHECK(frame_is(&fx.f[2], 1, 0, 9, "after", 5));
	RUN_UNTIL(&fx, ref_cleanups, 2);
	CHECK_INT(ref_cleanups, ==, 1);
	CHECK_INT(ref_early, ==, 0);
	for (i = 0; i < 3; i++)
		CHECK_INT(fx.f[i].rsv, ==, 0);
	ref_frame_len = 0;
	fx_teardown(&fx);
	evbuffer_free(buf);
	free(big);
}

/* Every role and path delivers intact; bad text is refused untouched. */
static void
case_buffer_paths(struct fx *fx)
{
	struct evbuffer *buf = evbuffer_new(), *dec = evbuffer_new();
	static const char txt[] = "caf\xc3\xa9 \xf0\x9f\x98\x80 chains";
	int compressed = wsev_connection_get_extensions(fx->ea.conn)->deflate;
	z_stream zi;
	size_t i;

	ref_fx = fx;
	ref_frame_len = 0;
	ref_cleanups = ref_early = 0;
	/* Invalid text, and text cut inside a code point: refused,
	 * unchanged. */
	evbuffer_add(buf, "ok\xc3", 3);
	CHECK_INT(wsev_connection_send_buffer(fx->ea.conn, WSEV_DATA_TEXT,
	    buf), ==, WSEV_ERR_BAD_UTF8);
	CHECK(evbuffer_get_length(buf) == 3 &&
	    memcmp(evbuffer_pullup(buf, -1), "ok\xc3", 3) == 0);
	evbuffer_add(buf, "\xff", 1);
	CHECK_INT(wsev_connection_send_buffer(fx->ea.conn, WSEV_DATA_TEXT,
	    buf), ==, WSEV_ERR_BAD_UTF8);
	CHECK_INT(evbuffer_get_length(buf), ==, 4);
	CHECK_INT(wsev_connection_send_buffer(fx->ea.conn,
	    (enum wsev_data_type)7, buf), ==, WSEV_ERR_INVALID_ARGUMENT);
	CHECK_INT(wsev_connection_send_buffer(fx->ea.conn, WSEV_DATA_TEXT,
	    NULL), ==, WSEV_ERR_INVALID_ARGUMENT);
	evbuffer_drain(buf, 4);
	/* Text whose code points straddle the chains. */
	evbuffer_add(buf, txt, 4);
	evbuffer_add_reference(buf, txt + 4, 3, ref_cleanup, NULL);
	evbuffer_add(buf, txt + 7, sizeof(txt) - 1 - 7);
	CHECK_INT(wsev_connection_send_buffer(fx->ea.conn, WSEV_DATA_TEXT,
	    buf), ==, 0);
	CHECK_INT(evbuffer_get_length(buf), ==, 0);
	/* Empty. */
	CHECK_INT(wsev_connection_send_buffer(fx->ea.conn, WSEV_DATA_BINARY,
	    buf), ==, 0);
	RUN_UNTIL(fx, fx->nf >= 2, 3);
	REQUIRE(fx->nf == 2);
	CHECK_INT(ref_cleanups, ==, 1);
	REQUIRE(zinf_init(&zi, 15) == 0);
	for (i = 0; i < 2; i++) {
		const struct tt_frame *f = &fx->f[i];

		CHECK(f->fin && f->op == (i ? 2 : 1));
		CHECK_INT(f->rsv, ==, compressed ? 4 : 0);
		CHECK_INT(f->masked, ==, fx->role == WSEV_CONNECTION_CLIENT);
		evbuffer_drain(dec, evbuffer_get_length(dec));
		if (compressed)
			CHECK_INT(zinf_msg(&zi, f->data, f->len, dec), ==, 0);
		else
			evbuffer_add(dec, f->data, f->len);
		CHECK(buf_is(dec, txt, i ? 0 : sizeof(txt) - 1));
	}
	inflateEnd(&zi);
	evbuffer_free(buf);
	evbuffer_free(dec);
}

static void
test_buffer_paths(void)
{
	each_deflate_or_not(case_buffer_paths, TR_ALL, 1);
}

/* 4 MiB in several chains over TCP, to a wsev peer. */
static void
case_buffer_large(struct fx *fx)
{
	size_t n = 4 * MIB, off;
	uint8_t *big = malloc(n);
	struct evbuffer *buf = evbuffer_new();
	int i;

	fill_random(big, n, 33);
	fill_words(big + MIB, MIB, 4);
	ref_fx = fx;
	ref_frame_len = 0;
	ref_cleanups = 0;
	for (i = 0, off = 0; off < n; i++, off += MIB) {
		if (i & 1)
			evbuffer_add_reference(buf, big + off, MIB, ref_cleanup,
			    NULL);
		else
			evbuffer_add(buf, big + off, MIB);
	}
	wsev_connection_set_max_incoming_payload_size(fx->eb.conn, 0);
	CHECK_INT(wsev_connection_send_buffer(fx->ea.conn, WSEV_DATA_BINARY,
	    buf), ==, 0);
	CHECK_INT(evbuffer_get_length(buf), ==, 0);
	RUN_UNTIL(fx, fx->eb.messages == 1 || fx->eb.errors, 10);
	CHECK_INT(fx->eb.messages, ==, 1);
	CHECK(fx->eb.last_len == n && memcmp(fx->eb.last, big, n) == 0);
	RUN_UNTIL(fx, ref_cleanups == 2, 2);
	CHECK_INT(ref_cleanups, ==, 2);
	free(big);
	evbuffer_free(buf);
}

static void
test_buffer_large(void)
{
	each_deflate_or_not(case_buffer_large, TR_TCP, 0);
}

/* ------------------------------------------------------------------ */
/* Chunked receiving */

/* Text of n bytes with 4-, 3- and 2-byte code points at shifting places. */
static void
fill_utf8(uint8_t *p, size_t n, unsigned shift)
{
	static const char *const s[] = { "\xf0\x9f\x98\x80", "a", "\xe2\x82\xac",
	    "bc", "\xc3\xa9", "\xf0\x90\x8d\x88", "xyz" };
	size_t i = 0, k, len;
	unsigned j = shift;

	while (i < n) {
		const char *w = s[j++ % 7];

		len = strlen(w);
		if (i + len > n)
			w = "z", len = 1;
		for (k = 0; k < len; k++)
			p[i++] = (uint8_t)w[k];
	}
}

static void
set_chunks(struct end *e, size_t n)
{
	CHECK_INT(wsev_connection_set_chunk_size(e->conn, n), ==, 0);
	CHECK_INT(wsev_connection_get_chunk_size(e->conn), ==, n);
	e->chunk_max = n;
}

/* wsev to wsev: whole messages of every kind arrive in pieces. */
static void
case_chunk_messages(struct fx *fx)
{
	static const struct { enum wsev_data_type t; size_t n; } m[] = {
	    { WSEV_DATA_TEXT, 0 }, { WSEV_DATA_BINARY, MIB },
	    { WSEV_DATA_BINARY, 0 }, { WSEV_DATA_TEXT, 100003 },
	    { WSEV_DATA_BINARY, 1000 }, { WSEV_DATA_TEXT, 3 },
	    { WSEV_DATA_TEXT, 999 } };
	uint8_t *buf = malloc(MIB);
	struct end *to = &fx->eb;
	size_t i;
	int pieces, lasts_skipped = 0;

	set_chunks(to, 1000);
	wsev_connection_set_max_incoming_payload_size(to->conn, 0);
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		/* Compressed, an empty message after another one is
		 * deflate_empty_after_message's case: only the first. */
		if (m[i].n == 0 && i > 0 &&
		    wsev_connection_get_extensions(to->conn)->deflate) {
			lasts_skipped++;
			continue;
		}
		if (m[i].t == WSEV_DATA_TEXT)
			fill_utf8(buf, m[i].n, (unsigned)i);
		else
			fill_random(buf, m[i].n, (uint32_t)i);
		pieces = to->pieces;
		CHECK_INT(wsev_connection_send_message(fx->ea.conn, m[i].t, buf,
		    m[i].n), ==, 0);
		RUN_UNTIL(fx, to->lasts == (int)i + 1 - lasts_skipped ||
		    to->errors, 5);
		if (to->lasts != (int)i + 1 - lasts_skipped)
			printf("  message %zu: %zu bytes\n", i, m[i].n);
		REQUIRE(to->lasts == (int)i + 1 - lasts_skipped);
		CHECK_INT(to->type, ==, m[i].t);
		CHECK_INT(to->last_len, ==, m[i].n);
		CHECK(memcmp(to->last, buf, m[i].n) == 0);
		/* Whole pieces where possible: the empty message is one. */
		if (m[i].n == 0)
			CHECK_INT(to->pieces - pieces, ==, 1);
		else if (m[i].t == WSEV_DATA_BINARY)
			CHECK_INT(to->pieces - pieces, >=, (m[i].n + 999) / 1000);
	}
	CHECK_INT(to->too_big, ==, 0);
	CHECK_INT(to->bad_utf8, ==, 0);
	CHECK_INT(to->messages, ==, 0);	/* never "message" */
	CHECK_INT(to->errors + fx->ea.errors, ==, 0);
	free(buf);
}

static void
test_chunk_messages(void)
{
	each_deflate_or_not(case_chunk_messages, TR_PAIR | TR_TCP, 0);
}

/* From the raw peer: a message of many small frames, plain and
 * compressed, and text cut everywhere. */
static void
case_chunk_frames(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new(), *c = evbuffer_new();
	uint8_t txt[2100], *big = malloc(200000), *p;
	size_t off, k, n;
	z_stream zd;
	int chunk;

	fill_utf8(txt, sizeof(txt), 1);
	for (chunk = 4; chunk <= 16; chunk += 3) {
		int lasts = fx->ea.lasts;

		set_chunks(&fx->ea, (size_t)chunk);
		for (off = 0; off < sizeof(txt); off += 7)
			put_frame(fx, ev, off + 7 >= sizeof(txt), 0, off ? 0 : 1,
			    txt + off, sizeof(txt) - off < 7 ? sizeof(txt) - off :
			    7);
		raw_send(fx, ev);
		RUN_UNTIL(fx, fx->ea.lasts > lasts || fx->ea.errors, 3);
		REQUIRE(fx->ea.lasts == lasts + 1);
		CHECK(fx->ea.last_len == sizeof(txt) &&
		    memcmp(fx->ea.last, txt, sizeof(txt)) == 0);
	}
	/* 200 KB compressed, in frames of 1000 bytes: past the default
	 * 131072-byte payload limit, which received in chunks only counts
	 * each frame on the wire. */
	set_chunks(&fx->ea, 4096);
	fill_words(big, 200000, 8);
	REQUIRE(zdef_init(&zd, 15) == 0);
	zdef_msg(&zd, big, 200000, 1, c);
	n = evbuffer_get_length(c);
	p = evbuffer_pullup(c, -1);
	for (off = 0; off < n; off += k) {
		k = n - off < 1000 ? n - off : 1000;
		put_frame(fx, ev, off + k == n, off ? 0 : 4, off ? 0 : 1, p + off,
		    k);
	}
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.lasts == 6 || fx->ea.errors, 3);
	CHECK_INT(fx->ea.lasts, ==, 6);
	CHECK(fx->ea.last_len == 200000 && memcmp(fx->ea.last, big, 200000) == 0);
	CHECK_INT(fx->ea.pieces, >=, 6 + 200000 / 4096);
	CHECK_INT(fx->ea.too_big, ==, 0);
	CHECK_INT(fx->ea.bad_utf8, ==, 0);
	CHECK_INT(fx->ea.messages, ==, 0);
	CHECK_INT(fx->ea.errors, ==, 0);
	/* Whole again, with limits as large as they go: the limit
	 * arithmetic must not wrap (it once made every compressed message a
	 * 1007). */
	set_chunks(&fx->ea, 0);
	wsev_connection_set_max_incoming_payload_size(fx->ea.conn, UINT64_MAX);
	wsev_connection_set_max_incoming_message_size(fx->ea.conn, UINT64_MAX);
	evbuffer_drain(c, evbuffer_get_length(c));
	zdef_msg(&zd, big, 200000, 1, c);
	put_frame(fx, ev, 1, 4, 1, evbuffer_pullup(c, -1),
	    evbuffer_get_length(c));
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.messages == 1 || fx->ea.errors, 3);
	CHECK_INT(fx->ea.messages, ==, 1);
	CHECK(fx->ea.last_len == 200000 && memcmp(fx->ea.last, big, 200000) == 0);
	CHECK_INT(fx->ea.errors, ==, 0);
	deflateEnd(&zd);
	evbuffer_free(ev);
	evbuffer_free(c);
	free(big);
}

static void
test_chunk_frames(void)
{
	each(case_chunk_frames, TR_PAIR | TR_TCP, 1, &pmd);
}

/* One whole message from the raw peer: compressed (a fresh stream) when
 * a's connection negotiated permessage-deflate, else plain. */
static void
put_message(struct fx *fx, struct evbuffer *ev, int op, const void *data,
    size_t len)
{
	z_stream zd;

	if (!wsev_connection_get_extensions(fx->ea.conn)->deflate) {
		put_frame(fx, ev, 1, 0, op, data, len);
		return;
	}
	CHECK(zdef_init(&zd, 15) == 0);
	put_deflated(fx, ev, &zd, op, data, len);
	deflateEnd(&zd);
}

/* Bad text across a chunk edge: 1007, nothing after the last good piece. */
static void
case_chunk_bad_utf8(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new();

	set_chunks(&fx->ea, 4);
	put_message(fx, ev, 1, "aaa\xf0\x9f\x98\x41zzzz", 11);
	raw_send(fx, ev);
	check_failed(fx, 1007);
	CHECK_INT(fx->ea.lasts, ==, 0);
	CHECK_INT(fx->ea.after_error, ==, 0);
	CHECK_INT(fx->ea.bad_utf8, ==, 0);
	CHECK_INT(evbuffer_get_length(fx->ea.acc), <=, 3);
	evbuffer_free(ev);
}

static void
test_chunk_bad_utf8(void)
{
	each_deflate_or_not(case_chunk_bad_utf8, TR_PAIR | TR_TCP, 1);
}

/* The whole-message limit holds while chunking. */
static void
case_chunk_limit(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new();
	uint8_t b[300];
	int i;

	memset(b, 'q', sizeof(b));
	set_chunks(&fx->ea, 100);
	wsev_connection_set_max_incoming_message_size(fx->ea.conn, 1000);
	for (i = 0; i < 5; i++)
		put_frame(fx, ev, i == 4, 0, i ? 0 : 2, b, sizeof(b));
	raw_send(fx, ev);
	check_failed(fx, 1009);
	CHECK_INT(fx->ea.lasts, ==, 0);
	CHECK_INT(evbuffer_get_length(fx->ea.acc), <=, 1000);
	evbuffer_free(ev);
}

static void
test_chunk_limit(void)
{
	each(case_chunk_limit, TR_PAIR | TR_TCP, 1, NULL);
}

/* A new chunk size applies from the next message on: turned off at the
 * first piece, the message goes on in pieces; the next comes whole. */
static void
case_chunk_switch(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new();
	uint8_t b[1000];

	fill_words(b, sizeof(b), 12);
	set_chunks(&fx->ea, 100);
	fx->ea.unchunk_at = 1;
	put_message(fx, ev, 2, b, sizeof(b));
	put_message(fx, ev, 1, b, 500);
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.messages == 1 || fx->ea.errors, 3);
	/* 10 pieces of 100; compressed, an empty last one may follow (the
	 * inflater is asked for more once a piece is full). */
	CHECK(fx->ea.pieces == 10 || (fx->ea.pieces == 11 &&
	    fx->ea.empty_pieces == 1));
	CHECK_INT(fx->ea.lasts, ==, 1);
	CHECK_INT(fx->ea.messages, ==, 1);
	CHECK(fx->ea.type == WSEV_DATA_TEXT && fx->ea.last_len == 500 &&
	    memcmp(fx->ea.last, b, 500) == 0);
	CHECK_INT(fx->ea.errors, ==, 0);
	evbuffer_free(ev);
}

static void
test_chunk_switch(void)
{
	each_deflate_or_not(case_chunk_switch, TR_PAIR | TR_TCP, 1);
}

static void
test_chunk_size_rules(void)
{
	struct fx fx;
	size_t n;

	REQUIRE(fx_setup(&fx, T_PAIR, WSEV_CONNECTION_SERVER, 1, NULL) == 0);
	CHECK_INT(wsev_connection_get_chunk_size(fx.ea.conn), ==, 0);
	for (n = 1; n < 4; n++) {
		CHECK_INT(wsev_connection_set_chunk_size(fx.ea.conn, n), ==, -1);
		CHECK_INT(wsev_connection_get_chunk_size(fx.ea.conn), ==, 0);
	}
	CHECK_INT(wsev_connection_set_chunk_size(fx.ea.conn, 4), ==, 0);
	CHECK_INT(wsev_connection_set_chunk_size(fx.ea.conn, 3), ==, -1);
	CHECK_INT(wsev_connection_get_chunk_size(fx.ea.conn), ==, 4);
	CHECK_INT(wsev_connection_set_chunk_size(fx.ea.conn, 0), ==, 0);
	CHECK_INT(wsev_connection_get_chunk_size(fx.ea.conn), ==, 0);
	fx_teardown(&fx);
}

/* Freeing the connection from inside "message_chunk": no further piece,
 * no other callback, and the rest of the input is not touched. */
static int chunk_free_at;

static void
case_chunk_free(struct fx *fx)
{
	struct evbuffer *ev = evbuffer_new();
	uint8_t b[1000];

	fill_words(b, sizeof(b), 6);
	set_chunks(&fx->ea, 100);
	fx->ea.free_in_chunk = chunk_free_at;
	/* Freed at a middle piece, or at the last piece of the message. */
	put_message(fx, ev, 1, b, chunk_free_at == 1 ? 50 : sizeof(b));
	put_frame(fx, ev, 1, 0, 1, "next", 4);
	raw_send(fx, ev);
	RUN_UNTIL(fx, fx->ea.conn == NULL, 3);
	REQUIRE(fx->ea.conn == NULL);
	run_idle(fx);
	CHECK_INT(fx->ea.pieces, ==, chunk_free_at);
	CHECK_INT(fx->ea.lasts, ==, chunk_free_at == 1);
	CHECK_INT(fx->ea.closed + fx->ea.errors + fx->ea.messages, ==, 0);
	RUN_UNTIL(fx, fx->raw_eof, 3);
	CHECK(fx->raw_eof);
	evbuffer_free(ev);
}

static void
test_chunk_free_in_callback(void)
{
	for (chunk_free_at = 1; chunk_free_at <= 2; chunk_free_at++)
		each_deflate_or_not(case_chunk_free, TR_PAIR | TR_TCP, 1);
}

/* ------------------------------------------------------------------ */

static const struct tt_case cases[] = {
	{ "deflate_bomb", test_deflate_bomb },	/* first: RSS still low */
	{ "deflate_roundtrip", test_deflate_roundtrip },
	{ "deflate_wire", test_deflate_wire },
	{ "deflate_peer_sends", test_deflate_peer_sends },
	{ "deflate_violations", test_deflate_violations },
	{ "deflate_context_takeover", test_deflate_context_takeover },
	{ "deflate_peer_no_takeover", test_deflate_peer_no_takeover },
	{ "deflate_window_bits", test_deflate_window_bits },
	{ "deflate_get_extensions", test_deflate_get_extensions },
	{ "deflate_empty_after_message", test_deflate_empty_after_message },
	{ "deflate_bfinal", test_deflate_bfinal },
	{ "deflate_real_encoders", test_deflate_real_encoders },
	{ "deflate_final_blocks", test_deflate_final_blocks },
	{ "keepalive_pings", test_keepalive_pings },
	{ "keepalive_pong_timeout", test_keepalive_pong_timeout },
	{ "set_options", test_set_options },
	{ "fragment_wire", test_fragment_wire },
	{ "fragment_wsev", test_fragment_wsev },
	{ "fragment_close", test_fragment_close },
	{ "fragment_deflate", test_fragment_deflate },
	{ "buffer_zero_copy", test_buffer_zero_copy },
	{ "buffer_zero_copy_backlog", test_buffer_zero_copy_backlog },
	{ "buffer_paths", test_buffer_paths },
	{ "buffer_large", test_buffer_large },
	{ "chunk_messages", test_chunk_messages },
	{ "chunk_frames", test_chunk_frames },
	{ "chunk_bad_utf8", test_chunk_bad_utf8 },
	{ "chunk_limit", test_chunk_limit },
	{ "chunk_switch", test_chunk_switch },
	{ "chunk_size_rules", test_chunk_size_rules },
	{ "chunk_free_in_callback", test_chunk_free_in_callback },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return tt_run(cases, argc > 1 ? argv[1] : NULL);
}
