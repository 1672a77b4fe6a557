/*
 * Fuzz target: a wsev_connection (lib/connection.c, lib/deflate.c) fed
 * arbitrary bytes by its peer over a bufferevent_pair, in either role, with
 * or without permessage-deflate, chunked receiving and streaming sends.
 *
 * Input: six bytes of settings, then the bytes the peer writes.
 *   byte 0  bit 0     role: 0 server (the peer must mask), 1 client
 *           bit 1     pair with deferred callbacks (1) or synchronous (0)
 *           bits 2-3  limits: 0 defaults; 1 payload 64, message 200;
 *                     2 none; 3 payload 1000, outgoing buffer 100
 *           bits 4-6  where to free the connection: 0 nowhere (the end of
 *                     the input), in "message" (or "message_chunk"),
 *                     "closing", "closed", "error", "pong", "drain",
 *                     7 outside any callback after the first piece
 *           bit 7     echo every message and answer every pong with a ping
 *   byte 1  bits 0-3  piece size (0: everything at once)
 *           bit 4     the peer ends its stream (EOF) after the input
 *           bit 5     call wsev_connection_close() after the input
 *           bit 6     send a text, a binary and a ping before the input
 *           bit 7     call wsev_connection_close() inside "message"
 *   byte 2            which close code and reason those calls use
 *   byte 3  bit 0     permessage-deflate negotiated (bytes 4 and 5)
 *           bits 1-2  chunked receiving: 0 off, chunk size 4, 7 or 64;
 *                     the echo then goes out as one fragment per chunk
 *           bit 3     before the input: a fragmented text (a code point
 *                     cut between pieces, a ping between them, refused
 *                     sends in the middle) and an evbuffer binary
 *           bit 4     a binary message streamed during the input: a
 *                     fragment before it, one after each piece, the final
 *                     one after it
 *           bit 5     echo with wsev_connection_send_buffer()
 *           bit 6     echo as two fragments
 *           bit 7     the messages sent before the input are large
 *                     (5000 bytes of repetitive text and binary)
 *   byte 4  bits 0-2  server_max_window_bits 15 - n
 *           bits 3-5  client_max_window_bits 15 - n
 *           bit 6     server_no_context_takeover
 *           bit 7     client_no_context_takeover
 *   byte 5  bits 0-3  zlib level: 0 default, n: n - 1 (mod 10)
 *           bits 4-7  memLevel: 0 default (8), n: 1 + (n - 1) mod 9
 *
 * Invariants checked: no crash, no leak, nothing left in the event_base;
 * the state never goes back, "closed" at most once and nothing after it;
 * every error is in the WebSocket domain with a code wsev may fail with
 * (1007 for a corrupt deflate stream, 1009 for a message that inflates past
 * the limits), and a protocol error (1002, 1007, 1009) or a peer's EOF ends
 * in CLOSED within the bounded loop; the close code is one RFC 6455 allows;
 * close() accepts exactly the codes and reasons its contract names, and
 * every send exactly what its contract accepts.
 *
 * What arrives is checked against this file's own reading of the input
 * (scan_input(), zlib with a 15-bit window for compressed messages and the
 * peer's context takeover rule): every message (or the chunks of one, put
 * together) is the one the peer sent, in order; text is UTF-8 (the
 * reference judge of fuzz.h), NUL-terminated; within the message limit,
 * and a compressed one within the payload limit too (the decompressed-size
 * rule of wsev.h); a message whose deflate data is corrupt or too big is
 * never delivered. Chunks arrive in order, each at most the
 * chunk size, text chunks UTF-8 on their own, exactly one last=1 per
 * message, and no message the peer did not send; no "message" while
 * chunking, no chunk without it.
 *
 * What wsev writes is decoded here (not with lib/frame.c): masked exactly
 * when wsev is the client, no RSV2/RSV3, RSV1 exactly on the first frame
 * of each data message when this side compresses (deflate negotiated and
 * its window at least 9 bits), fragments only from send_fragment(), in a
 * valid sequence, control frames whole, no reserved opcode, minimal
 * lengths, no frame after a close frame; data messages, inflated with
 * zlib (this side's window, a fresh stream per message when this side has
 * no context takeover), are exactly the messages sent, in order; a close
 * frame with no body or a code allowed on the wire (never 1005, 1006,
 * 1015) and a UTF-8 reason, and its code the one this side chose: its
 * own, the failure's, or the peer's echoed.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "fuzz.h"
#include "wsev/wsev.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <zlib.h>

const char wsev_fuzz_target_name[] = "connection";

enum { FREE_NONE, FREE_MESSAGE, FREE_CLOSING, FREE_CLOSED, FREE_ERROR,
	FREE_PONG, FREE_DRAIN, FREE_OUTSIDE };

/* A FIFO of bytes: what was sent and not yet seen on the wire, what the
 * peer sent and wsev has not delivered yet. */
struct bytes {
	uint8_t *p;
	size_t head, len, cap;	/* data is p[head .. len) */
};

/* A data message: one wsev sent (len grows while it is streamed), or one
 * the peer sent as this file reads the input. */
enum { MSG_KNOWN, MSG_UNKNOWN, MSG_BAD };
struct msg {
	int type;		/* WSEV_DATA_TEXT or _BINARY */
	int done;		/* sent: the final piece went */
	int streamed;		/* sent: with send_fragment() */
	int compressed;		/* received: RSV1 on its first frame */
	size_t zbytes;		/* received: its compressed bytes */
	unsigned finals;	/* received: its final deflate blocks */
	int status;		/* received: MSG_* */
	size_t len;
};

struct msgs {
	struct msg *m;
	size_t head, n, cap;
};

struct fz {
	struct event_base *base;
	struct bufferevent *peer;	/* the fuzzer's end of the pair */
	struct wsev_connection *conn;	/* NULL once freed */
	enum wsev_connection_type role;
	unsigned free_in;
	int echo, close_in_message;
	unsigned code_sel;
	uint64_t max_message, max_payload;
	struct wsev_extensions ext;
	int out_bits, out_reset;	/* this side's compressor, as negotiated */
	int in_reset;			/* the peer resets per message */
	int in_max_bits;		/* the peer's window */
	int in_stopped;			/* scan_input() stopped early */
	size_t chunk;			/* chunk size; 0: whole messages */
	int echo_buffer, echo_fragments;

	enum wsev_state state;		/* last seen: never goes back */
	int closed, errors, protocol_error, in_close_call;
	int expect_close;		/* the code our close frame must carry,
					   -1 for no body; 0: not known yet */

	/* What wsev was given to send, and the streamed message's state. */
	struct bytes sent;
	struct msgs out;
	int out_type;			/* streamed message in progress */
	struct ref_utf8 out_u8;		/* its text so far */

	/* What wsev wrote, decoded. */
	struct evbuffer *wire;
	int wire_closed;		/* a close frame went by */
	int wire_close_code;		/* its code, -1 for an empty body */
	int wire_op;			/* data message in progress, 0: none */
	int wire_compressed;
	size_t wire_len;		/* its (inflated) bytes so far */
	z_stream wz;
	int wz_ready;

	/* What the peer sent, as scan_input() reads it, and what arrived. */
	struct bytes expect;
	struct msgs in;
	size_t rx_len;			/* chunked: the message so far */
	int rx_type;
};


static void
bytes_add(struct bytes *b, const void *d, size_t n)
{
	uint8_t *np;
	size_t need;

	if (b->head > 0 && b->head == b->len)
		b->head = b->len = 0;
	if (b->head > 4096 && b->head > b->cap / 2) {
		memmove(b->p, b->p + b->head, b->len - b->head);
		b->len -= b->head;
		b->head = 0;
	}
	need = b->len + n;
	if (need > b->cap) {
		b->cap = need < 256 ? 256 : need * 2;
		np = realloc(b->p, b->cap);
		FUZZ_CHECK(np != NULL);
		b->p = np;
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

/* Take n bytes from the front; they must be d. */
static void
bytes_take(struct bytes *b, const void *d, size_t n)
{
	FUZZ_CHECK(b->len - b->head >= n);
	FUZZ_CHECK(n == 0 || memcmp(b->p + b->head, d, n) == 0);
	b->head += n;
}

static void
bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static struct msg *
msgs_push(struct msgs *q)
{
	struct msg *nm;

	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 16;
		nm = realloc(q->m, q->cap * sizeof(*nm));
		FUZZ_CHECK(nm != NULL);
		q->m = nm;
	}
	memset(&q->m[q->n], 0, sizeof(*q->m));
	return &q->m[q->n++];
}

/* The oldest message not yet seen, or NULL. */
static struct msg *
msgs_front(struct msgs *q)
{
	return q->head < q->n ? &q->m[q->head] : NULL;
}

static int
code_receivable(unsigned code)
{
	/* RFC 6455 §7.4.1-2: defined, registered, or the applications'. */
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	    (code >= 3000 && code <= 4999);
}

/* What wsev_connection_close() documents it accepts from this side. */
static int
code_sendable(enum wsev_connection_type role, unsigned code)
{
	if (code == 1010)
		return role == WSEV_CONNECTION_CLIENT;
	if (code == 1011)
		return role == WSEV_CONNECTION_SERVER;
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
	    (code >= 3000 && code <= 4999);
}

static void
see_state(struct fz *f)
{
	enum wsev_state s;

	if (!f->conn)
		return;
	s = wsev_connection_get_state(f->conn);
	FUZZ_CHECK(s == WSEV_STATE_OPEN || s == WSEV_STATE_CLOSING ||
	    s == WSEV_STATE_CLOSED);
	FUZZ_CHECK(s >= f->state);
	FUZZ_CHECK((s == WSEV_STATE_CLOSED) == (f->closed > 0));
	/* The transport goes with CLOSED, not before. */
	FUZZ_CHECK((wsev_connection_get_bufferevent(f->conn) == NULL) ==
	    (s == WSEV_STATE_CLOSED));
	f->state = s;
}

/* Every callback: the connection is ours, alive, and not closed yet. */
static void
enter_cb(struct fz *f, struct wsev_connection *c)
{
	FUZZ_CHECK(c != NULL && c == f->conn);
	FUZZ_CHECK(f->closed == 0);
}

/*
 * The close frame this side must send: code, or -1 for one with no body.
 * The first reason wins (our close, a failure, the peer's close echoed).
 * On a synchronous pair the frame may already have been decoded.
 */
static void
expect_close(struct fz *f, int code)
{
	if (f->expect_close)
		return;
	f->expect_close = code;
	if (f->wire_closed)
		FUZZ_CHECK(f->wire_close_code == code);
}

static void
free_conn(struct fz *f)
{
	wsev_connection_free(f->conn);
	f->conn = NULL;
}

static const struct {
	unsigned short code;
	const char *reason;
} closes[16] = {
	{ 1000, "bye" }, { 1001, NULL }, { 1003, "" }, { 0, NULL },
	{ 1005, NULL }, { 1010, "ext" }, { 1011, "oops" }, { 3000, "app" },
	{ 4999, "\xc3\xa9t\xc3\xa9" }, { 1006, NULL }, { 1015, NULL },
	{ 999, NULL }, { 1012, NULL }, { 5000, NULL }, { 1005, "no" },
	{ 1000, "\xed\xa0\x80" }	/* a surrogate: not UTF-8 */
};

/* Call close() and check its verdict against its contract. */
static void
try_close(struct fz *f, unsigned sel)
{
	unsigned short code = closes[sel & 15].code;
	const char *reason = closes[sel & 15].reason;
	size_t rlen = reason ? strlen(reason) : 0;
	int open = wsev_connection_get_state(f->conn) == WSEV_STATE_OPEN;
	int want, rv;

	/* The first reason found, in the order the header lists them. */
	if (!open)
		want = WSEV_ERR_NOT_OPEN;
	else if (code == 0 || code == 1005)
		want = rlen == 0 ? 0 : WSEV_ERR_INVALID_ARGUMENT;
	else if (!code_sendable(f->role, code) || rlen > 123)
		want = WSEV_ERR_INVALID_ARGUMENT;
	else if (!ref_utf8_valid(reason ? reason : "", rlen))
		want = WSEV_ERR_BAD_UTF8;
	else
		want = 0;
	f->in_close_call++;
	rv = wsev_connection_close(f->conn, code, reason);
	f->in_close_call--;
	FUZZ_CHECK(rv == want);
	if (rv == 0)
		expect_close(f, code == 0 || code == 1005 ? -1 : (int)code);
}

/* ------------------------------------------------------------------ */
/* Sending, against the contracts; what is taken is recorded first (a
 * synchronous pair decodes it during the call). */

enum { SEND_MESSAGE, SEND_BUFFER };

/* A send refused with rv (< 0): the code the model expects (want, its
 * first cause), or, for a send the model would take (want 0), a full
 * outgoing buffer that failed the connection (1008), or memory. */
static void
check_refusal(struct fz *f, int rv, int want)
{
	if (want != 0)
		FUZZ_CHECK(rv == want);
	else
		FUZZ_CHECK((rv == WSEV_ERR_BUFFER_FULL &&
		    wsev_connection_get_state(f->conn) != WSEV_STATE_OPEN) ||
		    rv == WSEV_ERR_NOMEM);
}

static void
send_whole(struct fz *f, int how, enum wsev_data_type type, const void *data,
    size_t len)
{
	struct evbuffer *buf;
	size_t i;
	struct msg *m;
	int ok, rv, want;

	/* The first cause, in wsev.h's order; 0: it must be taken (unless
	 * the outgoing buffer is full or memory runs out). */
	if (wsev_connection_get_state(f->conn) != WSEV_STATE_OPEN)
		want = WSEV_ERR_NOT_OPEN;
	else if (f->out_type)
		want = WSEV_ERR_BUSY;
	else if (type == WSEV_DATA_TEXT && !ref_utf8_valid(data, len))
		want = WSEV_ERR_BAD_UTF8;
	else
		want = 0;
	ok = want == 0;
	m = msgs_push(&f->out);
	m->type = type;
	m->done = 1;
	m->len = len;
	bytes_add(&f->sent, data, len);
	if (how == SEND_BUFFER) {
		/* Several chains: one per 7 bytes, at most 4, then the rest. */
		buf = evbuffer_new();
		FUZZ_CHECK(buf != NULL);
		for (i = 0; i < len && i < 28; i += 7)
			FUZZ_CHECK(evbuffer_add(buf, (const char *)data + i,
			    len - i < 7 ? len - i : 7) == 0);
		if (i < len)
			FUZZ_CHECK(evbuffer_add(buf, (const char *)data + i,
			    len - i) == 0);
		rv = wsev_connection_send_buffer(f->conn, type, buf);
		FUZZ_CHECK(evbuffer_get_length(buf) == (rv == 0 ? 0 : len));
		evbuffer_free(buf);
	} else {
		rv = wsev_connection_send_message(f->conn, type, data, len);
	}
	if (rv == 0) {
		FUZZ_CHECK(ok);
		return;
	}
	check_refusal(f, rv, want);
	f->sent.len -= len;
	f->out.n--;
}

static void
send_piece(struct fz *f, enum wsev_data_type type, const void *data,
    size_t len, int final)
{
	struct ref_utf8 u = f->out_u8;
	size_t i;
	struct msg *m;
	int ok, rv, want, first = !f->out_type, bad = 0;

	if (type == WSEV_DATA_TEXT) {
		if (first)
			memset(&u, 0, sizeof(u));
		for (i = 0; i < len && !bad; i++)
			bad = ref_utf8_byte(&u, ((const uint8_t *)data)[i]) < 0;
		bad = bad || (final && u.len != 0);
	}
	if (wsev_connection_get_state(f->conn) != WSEV_STATE_OPEN)
		want = WSEV_ERR_NOT_OPEN;
	else if (!first && f->out_type != (int)type)
		want = WSEV_ERR_BUSY;
	else if (bad)
		want = WSEV_ERR_BAD_UTF8;
	else
		want = 0;
	ok = want == 0;
	if (first) {
		m = msgs_push(&f->out);
		m->type = type;
		m->streamed = 1;
	}
	m = &f->out.m[f->out.n - 1];
	m->len += len;
	m->done = final;
	bytes_add(&f->sent, data, len);
	rv = wsev_connection_send_fragment(f->conn, type, data, len, final);
	if (rv == 0) {
		FUZZ_CHECK(ok);
		f->out_type = final ? 0 : (int)type;
		f->out_u8 = u;
		return;
	}
	check_refusal(f, rv, want);
	f->sent.len -= len;
	if (first) {
		f->out.n--;
	} else {
		m->len -= len;
		m->done = 0;
	}
}

/* Echo what arrived, as the settings say. */
static void
echo(struct fz *f, enum wsev_data_type type, const void *data, size_t len)
{
	if (f->echo_fragments) {
		send_piece(f, type, data, len / 2, 0);
		if (f->conn)
			send_piece(f, type, (const char *)data + len / 2,
			    len - len / 2, 1);
	} else {
		send_whole(f, f->echo_buffer ? SEND_BUFFER : SEND_MESSAGE, type,
		    data, len);
	}
}

/* ------------------------------------------------------------------ */
/* Receiving */

/* The limits a delivered message must be within: the message limit, and
 * for a compressed one the payload limit too (wsev.h: the limits count
 * decompressed bytes). */
static void
check_limits(struct fz *f, const struct msg *m, size_t len)
{
	if (f->max_message)
		FUZZ_CHECK(len <= f->max_message);
	if (m && m->compressed && f->max_payload && !f->chunk)
		FUZZ_CHECK(len <= f->max_payload);
}

/* Bytes of the peer's next message arrived (delivered whole, or a chunk):
 * they must be what it sent. */
static void
received(struct fz *f, enum wsev_data_type type, const void *data,
    size_t len, size_t so_far, int last)
{
	struct msg *m = msgs_front(&f->in);

	if (m) {
		FUZZ_CHECK(m->type == (int)type);
		/* Corrupt or past the limits: never delivered. */
		FUZZ_CHECK(!last || m->status != MSG_BAD);
		if (m->status == MSG_KNOWN) {
			FUZZ_CHECK(so_far + len <= m->len);
			bytes_take(&f->expect, data, len);
			if (last)
				FUZZ_CHECK(so_far + len == m->len);
		}
	}
	/* No message the peer did not send: past the last one read, only
	 * when the reading stopped early (a compressed message it could not
	 * read whole). */
	if (!m)
		FUZZ_CHECK(f->in_stopped);
	check_limits(f, m, so_far + len);
	if (last && m) {
		f->in.head++;
		if (m->status != MSG_KNOWN)
			f->in.head = f->in.n;	/* the reading stopped there */
	}
}

/* "message" or "message_chunk": what every piece of data must be. */
static void
data_enter(struct fz *f, struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len)
{
	enter_cb(f, c);
	see_state(f);
	/* Messages still arrive after our close frame (RFC 6455 §7.1.2). */
	FUZZ_CHECK(f->state != WSEV_STATE_CLOSED);
	FUZZ_CHECK(type == WSEV_DATA_TEXT || type == WSEV_DATA_BINARY);
	FUZZ_CHECK(data != NULL && ((const char *)data)[len] == '\0');
	if (type == WSEV_DATA_TEXT)
		FUZZ_CHECK(ref_utf8_valid(data, len));
}

/* And what the settings do at the end of either. */
static void
data_leave(struct fz *f)
{
	if (f->close_in_message && f->conn)
		try_close(f, f->code_sel);
	see_state(f);
	if (f->free_in == FREE_MESSAGE && f->conn)
		free_conn(f);
}

static void
on_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct fz *f = arg;

	data_enter(f, c, type, data, len);
	FUZZ_CHECK(f->chunk == 0);
	received(f, type, data, len, 0, 1);
	if (f->echo)
		echo(f, type, data, len);
	data_leave(f);
}

static void
on_message_chunk(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, int last, void *arg)
{
	struct fz *f = arg;
	size_t so_far = f->rx_len;

	data_enter(f, c, type, data, len);
	FUZZ_CHECK(f->chunk > 0);
	FUZZ_CHECK(last == 0 || last == 1);
	FUZZ_CHECK(len <= f->chunk);
	/* One message at a time: its type does not change. */
	if (so_far > 0 || f->rx_type)
		FUZZ_CHECK((int)type == f->rx_type);
	received(f, type, data, len, so_far, last);
	f->rx_len = last ? 0 : so_far + len;
	f->rx_type = last ? 0 : (int)type;
	/* The streaming echo: a fragment per chunk. */
	if (f->echo)
		send_piece(f, type, data, len, last);
	data_leave(f);
}

static void
on_closing(struct wsev_connection *c, void *arg)
{
	struct fz *f = arg;
	unsigned short code;

	enter_cb(f, c);
	see_state(f);
	FUZZ_CHECK(f->state == WSEV_STATE_CLOSING);
	FUZZ_CHECK(wsev_connection_send_text(c, "late") == WSEV_ERR_NOT_OPEN);
	FUZZ_CHECK(wsev_connection_send_fragment(c, WSEV_DATA_BINARY, "l", 1,
	    1) == WSEV_ERR_NOT_OPEN);
	FUZZ_CHECK(wsev_connection_close(c, 1000, NULL) == WSEV_ERR_NOT_OPEN);
	if (!f->in_close_call) {
		/* The peer's close frame: ours echoes its code (RFC 6455
		 * §5.5.1), 1000 for one that had none. */
		code = wsev_connection_get_close_code(c);
		FUZZ_CHECK(code == 1005 || code_receivable(code));
		FUZZ_CHECK(wsev_connection_get_close_data(c) != NULL);
		expect_close(f, code == 1005 ? 1000 : code);
	}
	if (f->free_in == FREE_CLOSING)
		free_conn(f);
}

static void
on_closed(struct wsev_connection *c, void *arg)
{
	struct fz *f = arg;
	unsigned short code;

	enter_cb(f, c);
	f->closed++;
	see_state(f);
	FUZZ_CHECK(f->state == WSEV_STATE_CLOSED);
	code = wsev_connection_get_close_code(c);
	FUZZ_CHECK(code == 1005 || code == 1006 || code_receivable(code));
	if (f->free_in == FREE_CLOSED)
		free_conn(f);
}

static void
on_error(struct wsev_connection *c, const struct wsev_error *err, void *arg)
{
	struct fz *f = arg;
	const char *p;

	enter_cb(f, c);
	see_state(f);
	f->errors++;
	FUZZ_CHECK(err->domain == WSEV_DOMAIN_WEBSOCKET);
	FUZZ_CHECK(err->code == 1001 || err->code == 1002 || err->code == 1006 ||
	    err->code == 1007 || err->code == 1008 || err->code == 1009 ||
	    err->code == 1011);
	FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
	for (p = err->message; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7F);
	/* A deflate stream that this file reads whole (a 15-bit window, as
	 * the peer's) is no reason to fail. */
	if (err->code == 1007 && f->in_max_bits == 15 &&
	    strstr(err->message, "deflate") && msgs_front(&f->in))
		FUZZ_CHECK(msgs_front(&f->in)->status != MSG_KNOWN);
	if (err->code != 1006) {
		/* wsev failed the connection: its close frame carries the code,
		 * unless one of ours went first. */
		expect_close(f, err->code);
		if (err->code == 1002 || err->code == 1007 || err->code == 1009)
			f->protocol_error = 1;
	}
	if (f->free_in == FREE_ERROR)
		free_conn(f);
}

static void
on_pong(struct wsev_connection *c, const void *data, size_t len, void *arg)
{
	struct fz *f = arg;

	enter_cb(f, c);
	see_state(f);
	FUZZ_CHECK(data != NULL && len <= 125 && ((const char *)data)[len] == '\0');
	if (f->echo && f->state == WSEV_STATE_OPEN)
		FUZZ_CHECK(wsev_connection_send_ping(c, data, len) == 0 ||
		    wsev_connection_get_state(c) != WSEV_STATE_OPEN);
	if (f->free_in == FREE_PONG)
		free_conn(f);
}

static void
on_drain(struct wsev_connection *c, void *arg)
{
	struct fz *f = arg;

	enter_cb(f, c);
	see_state(f);
	FUZZ_CHECK(wsev_connection_get_buffered_amount(c) == 0);
	if (f->free_in == FREE_DRAIN)
		free_conn(f);
}

static const struct wsev_callbacks fz_cbs = {
	.message = on_message, .closing = on_closing, .closed = on_closed,
	.error = on_error, .pong = on_pong, .drain = on_drain,
	.message_chunk = on_message_chunk
};

/* ------------------------------------------------------------------ */
/* The peer's input, read independently of wsev */

/* The most a compressed message of the input is inflated to here. */
#define SCAN_INFLATE_MAX (4u << 20)

/*
 * Inflate a piece of a compressed message of the input into f->expect.
 * Returns 0, or -1 once the stream is corrupt, has more final blocks than
 * wsev takes, or passes SCAN_INFLATE_MAX.
 */
static int
scan_inflate(struct fz *f, z_stream *z, struct msg *m, const uint8_t *p,
    size_t n, size_t cap)
{
	uint8_t out[4096];
	size_t made;
	int r;

	z->next_in = (Bytef *)(uintptr_t)p;
	z->avail_in = (uInt)n;
	for (;;) {
		z->next_out = out;
		z->avail_out = sizeof(out);
		r = inflate(z, Z_SYNC_FLUSH);
		made = sizeof(out) - z->avail_out;
		bytes_add(&f->expect, out, made);
		m->len += made;
		if (r == Z_DATA_ERROR) {
			m->status = MSG_BAD;
			return -1;
		}
		if (r == Z_STREAM_END) {
			/* RFC 7692 §7.2.3.3: a final block ends zlib's
			 * stream, not the message's: the rest (a 0x00 block
			 * header, the appended tail, later messages) is read
			 * on with the same window. wsev takes 4 of them in a
			 * message, and one more per window (its inflater's)
			 * of output so far; past that it must refuse the
			 * message (1009, lib/deflate.c). */
			uint8_t dict[32768];
			uInt dlen = 0;
			int bits = f->in_max_bits;

			if (bits < 9 || bits > 15)
				bits = bits == 8 ? 9 : 15;
			if (++m->finals > 4 + (m->len >> bits)) {
				m->status = MSG_BAD;
				return -1;
			}

			FUZZ_CHECK(inflateGetDictionary(z, dict, &dlen) == Z_OK);
			FUZZ_CHECK(inflateReset(z) == Z_OK);
			if (dlen)
				FUZZ_CHECK(inflateSetDictionary(z, dict, dlen) ==
				    Z_OK);
			if (z->avail_in == 0)
				return 0;
			continue;
		}
		if (r != Z_OK && r != Z_BUF_ERROR) {
			m->status = MSG_UNKNOWN;
			return -1;
		}
		if (cap && m->len > cap) {
			/* Past the limits: wsev must refuse it (1009). */
			m->status = MSG_BAD;
			return -1;
		}
		if (m->len > SCAN_INFLATE_MAX) {
			m->status = MSG_UNKNOWN;
			return -1;
		}
		if (z->avail_out > 0 && (z->avail_in == 0 || r == Z_BUF_ERROR))
			return 0;
	}
}

/*
 * Read the peer's bytes as frames, the way RFC 6455 and RFC 7692 define
 * them, up to the first thing wsev must refuse or cannot have yet: the
 * data messages wsev may deliver, in order, with their content. Messages
 * past a corrupt, oversized or BFINAL-ended compressed one are not listed.
 */
static void
scan_input(struct fz *f, const uint8_t *d, size_t n)
{
	uint8_t *pl = NULL;
	size_t pos = 0, hlen, i;
	uint64_t len;
	unsigned op, fin, rsv;
	int in_msg = 0, z_ready = 0, stop = 0, partial;
	struct msg *m = NULL;
	z_stream z;
	size_t cap = 0;

	/* A compressed message inflates to at most the payload limit (and
	 * the message limit); received in chunks, to the message limit only
	 * (see wsev_connection_new_with_extensions()). */
	if (f->ext.deflate)
		cap = !f->chunk && f->max_payload && (!f->max_message ||
		    f->max_payload < f->max_message) ? f->max_payload :
		    f->max_message;
	while (!stop && n - pos >= 2) {
		fin = d[pos] & 0x80;
		rsv = (d[pos] >> 4) & 7;
		op = d[pos] & 0x0F;
		len = d[pos + 1] & 0x7F;
		hlen = 2;
		if (len == 126) {
			if (n - pos < 4)
				break;
			len = (uint64_t)d[pos + 2] << 8 | d[pos + 3];
			hlen = 4;
		} else if (len == 127) {
			if (n - pos < 10)
				break;
			for (len = 0, i = 2; i < 10; i++)
				len = len << 8 | d[pos + i];
			hlen = 10;
		}
		if (d[pos + 1] & 0x80)
			hlen += 4;
		if (n - pos < hlen)
			break;
		/* The input may end inside a frame: wsev takes its payload
		 * as it comes (a chunk may hold part of it). */
		partial = n - pos - hlen < len;
		if (partial)
			len = n - pos - hlen;
		if (op >= 8) {
			if (partial)
				break;
			/* A close frame ends the messages; pings and pongs
			 * go between them. */
			if (op == 8)
				break;
			pos += hlen + (size_t)len;
			continue;
		}
		if ((op == 0) != in_msg || (op != 0 && op != 1 && op != 2))
			break;
		if (rsv & 3 || ((rsv & 4) && (!f->ext.deflate || op == 0)))
			break;
		pl = malloc(len ? (size_t)len : 1);
		FUZZ_CHECK(pl != NULL);
		memcpy(pl, d + pos + hlen, (size_t)len);
		if (d[pos + 1] & 0x80)
			for (i = 0; i < len; i++)
				pl[i] ^= d[pos + hlen - 4 + (i & 3)];
		if (op != 0) {
			m = msgs_push(&f->in);
			m->type = op == 1 ? WSEV_DATA_TEXT : WSEV_DATA_BINARY;
			m->compressed = (rsv & 4) != 0;
			in_msg = 1;
		}
		if (!m->compressed) {
			bytes_add(&f->expect, pl, (size_t)len);
			m->len += (size_t)len;
		} else {
			if (!z_ready) {
				memset(&z, 0, sizeof(z));
				FUZZ_CHECK(inflateInit2(&z, -15) == Z_OK);
				z_ready = 1;
			}
			m->zbytes += (size_t)len;
			/* A compressed message of no bytes at all is empty
			 * and leaves the stream alone (as wsev reads it). */
			if (scan_inflate(f, &z, m, pl, (size_t)len, cap) < 0)
				stop = 1;
			else if (fin && !partial && m->zbytes &&
			    scan_inflate(f, &z, m,
			    (const uint8_t *)"\0\0\xff\xff", 4, cap) < 0)
				stop = 1;
			else if (fin && !partial && m->zbytes && f->in_reset)
				FUZZ_CHECK(inflateReset(&z) == Z_OK);
		}
		free(pl);
		pos += hlen + (size_t)len;
		if (partial)
			break;
		if (fin)
			in_msg = 0;
	}
	f->in_stopped = stop;
	if (z_ready)
		inflateEnd(&z);
}

/* ------------------------------------------------------------------ */
/* What wsev writes */

/* Bytes of the data message on the wire (inflated when compressed): the
 * next bytes sent, of the next message sent. */
static void
wire_data(struct fz *f, const uint8_t *p, size_t n)
{
	struct msg *m = msgs_front(&f->out);

	FUZZ_CHECK(m != NULL && m->type == f->wire_op);
	FUZZ_CHECK(f->wire_len + n <= m->len);
	bytes_take(&f->sent, p, n);
	f->wire_len += n;
}

static void
wire_inflate(struct fz *f, const uint8_t *p, size_t n)
{
	uint8_t out[4096];
	int r;

	if (!f->wz_ready) {
		memset(&f->wz, 0, sizeof(f->wz));
		FUZZ_CHECK(inflateInit2(&f->wz, -f->out_bits) == Z_OK);
		f->wz_ready = 1;
	}
	/* No input, no call: inflate() would leave "between blocks". */
	if (n == 0)
		return;
	f->wz.next_in = (Bytef *)(uintptr_t)p;
	f->wz.avail_in = (uInt)n;
	for (;;) {
		f->wz.next_out = out;
		f->wz.avail_out = sizeof(out);
		/* Z_BLOCK: data_type then tells whether the stream is
		 * between blocks (wire_message_end()). */
		r = inflate(&f->wz, Z_BLOCK);
		/* Within this side's window, no final block (RFC 7692
		 * §7.2.1: a sync flush), and with no context takeover no
		 * reference to an earlier message. */
		FUZZ_CHECK(r == Z_OK || r == Z_BUF_ERROR);
		wire_data(f, out, sizeof(out) - f->wz.avail_out);
		if (f->wz.avail_out > 0 && (f->wz.avail_in == 0 ||
		    r == Z_BUF_ERROR))
			break;
	}
}

/* The end of a data message on the wire: the whole message sent. */
static void
wire_message_end(struct fz *f, size_t last_len)
{
	struct msg *m = msgs_front(&f->out);

	if (f->wire_compressed) {
		/* RFC 7692 §7.2.2: the receiver appends the 4 bytes; after
		 * them the stream is between two blocks again. */
		/* A message's last frame is never empty (RFC 7692
		 * §7.2.3.6: an empty one is the byte 0x00). */
		FUZZ_CHECK(last_len > 0);
		wire_inflate(f, (const uint8_t *)"\0\0\xff\xff", 4);
		FUZZ_CHECK(f->wz.avail_in == 0);
		FUZZ_CHECK(f->wz.data_type & 128);
		if (f->out_reset)
			FUZZ_CHECK(inflateReset(&f->wz) == Z_OK);
	}
	FUZZ_CHECK(m != NULL && m->done && m->len == f->wire_len);
	f->out.head++;
	f->wire_op = 0;
	f->wire_len = 0;
}

/* Decode what wsev wrote, frame by frame, with this file's own decoder. */
static void
decode_wire(struct fz *f)
{
	uint8_t *p, *pl, key[4];
	size_t avail, hlen, i;
	uint64_t len;
	unsigned op, code, fin, rsv1;

	for (;;) {
		avail = evbuffer_get_length(f->wire);
		if (avail < 2)
			return;
		p = evbuffer_pullup(f->wire, -1);
		FUZZ_CHECK(!f->wire_closed);	/* nothing after a close */
		FUZZ_CHECK((p[0] & 0x30) == 0);	/* no RSV2, RSV3 */
		fin = p[0] & 0x80;
		rsv1 = p[0] & 0x40;
		op = p[0] & 0x0F;
		FUZZ_CHECK(op <= 2 || op == 8 || op == 9 || op == 10);
		FUZZ_CHECK(!!(p[1] & 0x80) == (f->role == WSEV_CONNECTION_CLIENT));
		len = p[1] & 0x7F;
		hlen = 2;
		if (len == 126) {
			if (avail < 4)
				return;
			len = (uint64_t)p[2] << 8 | p[3];
			FUZZ_CHECK(len >= 126);
			hlen = 4;
		} else if (len == 127) {
			if (avail < 10)
				return;
			for (len = 0, i = 2; i < 10; i++)
				len = len << 8 | p[i];
			FUZZ_CHECK(len > 0xFFFF && len <= INT64_MAX);
			hlen = 10;
		}
		if (p[1] & 0x80) {
			if (avail < hlen + 4)
				return;
			memcpy(key, p + hlen, 4);
			hlen += 4;
		}
		if (avail - hlen < len)
			return;
		pl = p + hlen;
		if (p[1] & 0x80)
			for (i = 0; i < len; i++)
				pl[i] ^= key[i & 3];
		if (op >= 8) {
			FUZZ_CHECK(len <= 125 && fin && !rsv1);
		} else if (op != 0) {
			/* A new message: none in progress; RFC 7692 §6: RSV1 on
			 * its first frame exactly when this side compresses. */
			FUZZ_CHECK(f->wire_op == 0);
			FUZZ_CHECK(!!rsv1 == (f->ext.deflate && f->out_bits >= 9));
			f->wire_op = op == 1 ? WSEV_DATA_TEXT : WSEV_DATA_BINARY;
			f->wire_compressed = !!rsv1;
			f->wire_len = 0;
		} else {
			FUZZ_CHECK(f->wire_op != 0 && !rsv1);
		}
		if (op <= 2) {
			/* Only streamed messages come in fragments. */
			if (!fin)
				FUZZ_CHECK(msgs_front(&f->out) != NULL &&
				    msgs_front(&f->out)->streamed);
			if (f->wire_compressed)
				wire_inflate(f, pl, (size_t)len);
			else
				wire_data(f, pl, (size_t)len);
			if (fin)
				wire_message_end(f, (size_t)len);
		}
		if (op == 8) {
			FUZZ_CHECK(len != 1);
			f->wire_closed = 1;
			f->wire_close_code = -1;
			if (len >= 2) {
				code = (unsigned)pl[0] << 8 | pl[1];
				FUZZ_CHECK(code_receivable(code));
				FUZZ_CHECK(ref_utf8_valid(pl + 2, (size_t)len - 2));
				f->wire_close_code = (int)code;
			}
			if (f->expect_close)
				FUZZ_CHECK(f->wire_close_code == f->expect_close);
		}
		evbuffer_drain(f->wire, hlen + (size_t)len);
	}
}

static void
peer_read(struct bufferevent *bev, void *arg)
{
	struct fz *f = arg;

	evbuffer_add_buffer(f->wire, bufferevent_get_input(bev));
	decode_wire(f);
}

static void
peer_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
}

/* Run what is ready; with wait, also let timers (the 1 ms close timeout)
 * fire. Bounded either way. */
static void
run(struct fz *f, int wait)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (event_base_get_num_events(f->base, EVENT_BASE_COUNT_ACTIVE))
			event_base_loop(f->base, EVLOOP_NONBLOCK);
		else if (wait &&
		    event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED))
			event_base_loop(f->base, EVLOOP_ONCE);
		else
			break;
		see_state(f);
	}
}

static struct event_base *
get_base(void)
{
	/* One base for the whole run: creating one per input would cost
	 * more than the input. Each input must leave it empty. */
	static struct event_base *base;

	if (!base) {
		base = event_base_new();
		FUZZ_CHECK(base != NULL);
	}
	return base;
}

/* permessage-deflate as bytes 4 and 5 say; the parameters as a handshake
 * would have negotiated them. */
static void
negotiate(struct fz *f, unsigned b4, unsigned b5)
{
	int server = f->role == WSEV_CONNECTION_SERVER;

	f->ext.deflate = 1;
	f->ext.server_max_window_bits = 15 - (int)(b4 & 7);
	f->ext.client_max_window_bits = 15 - (int)((b4 >> 3) & 7);
	f->ext.server_no_context_takeover = !!(b4 & 0x40);
	f->ext.client_no_context_takeover = !!(b4 & 0x80);
	f->ext.level = (b5 & 15) ? (int)((b5 & 15) - 1) % 10 : -1;
	f->ext.mem_level = (b5 >> 4) ? (int)((b5 >> 4) - 1) % 9 + 1 : 8;
	f->out_bits = server ? f->ext.server_max_window_bits :
	    f->ext.client_max_window_bits;
	f->out_reset = server ? f->ext.server_no_context_takeover :
	    f->ext.client_no_context_takeover;
	f->in_reset = server ? f->ext.client_no_context_takeover :
	    f->ext.server_no_context_takeover;
	f->in_max_bits = server ? f->ext.client_max_window_bits :
	    f->ext.server_max_window_bits;
}

/* Messages before the input: whole, streamed, from an evbuffer. */
static void
send_before(struct fz *f, unsigned b1, unsigned b3)
{
	static uint8_t big[5000];
	size_t i;

	if (b1 & 0x40) {
		send_whole(f, SEND_MESSAGE, WSEV_DATA_TEXT, "h\xc3\xa9llo", 6);
		send_whole(f, SEND_MESSAGE, WSEV_DATA_BINARY, "\0\1\2", 3);
		FUZZ_CHECK(wsev_connection_send_ping(f->conn, "p", 1) == 0);
		send_whole(f, SEND_MESSAGE, WSEV_DATA_TEXT, "\xff", 1);
	}
	if (b3 & 0x80) {
		for (i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)("the quick brown fox "[i % 20] ^
			    (i % 997 == 0));
		send_whole(f, SEND_MESSAGE, WSEV_DATA_TEXT, big, sizeof(big));
		send_whole(f, SEND_BUFFER, WSEV_DATA_BINARY, big, sizeof(big));
	}
	if (b3 & 0x08) {
		/* é cut between two pieces, a ping and refusals between. */
		send_piece(f, WSEV_DATA_TEXT, "caf\xc3", 4, 0);
		FUZZ_CHECK(wsev_connection_send_ping(f->conn, "q", 1) == 0);
		send_whole(f, SEND_MESSAGE, WSEV_DATA_TEXT, "no", 2);
		send_whole(f, SEND_BUFFER, WSEV_DATA_BINARY, "no", 2);
		send_piece(f, WSEV_DATA_BINARY, "no", 2, 0);
		send_piece(f, WSEV_DATA_TEXT, "\xff", 1, 0);
		send_piece(f, WSEV_DATA_TEXT, "\xa9 caf\xc3\xa9 ", 8, 0);
		send_piece(f, WSEV_DATA_TEXT, "\xe2\x82", 2, 1);
		send_piece(f, WSEV_DATA_TEXT, "", 0, 1);
		send_whole(f, SEND_BUFFER, WSEV_DATA_BINARY,
		    "an evbuffer of several chains, 40 bytes", 40);
		send_whole(f, SEND_BUFFER, WSEV_DATA_TEXT, "", 0);
	}
	if (b3 & 0x10)
		send_piece(f, WSEV_DATA_BINARY, "s0", 2, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[16] = { 0, 1, 2, 3, 5, 7, 11, 13, 31, 64,
	    100, 127, 128, 129, 1000, 4096 };
	static const size_t chunks[4] = { 0, 4, 7, 64 };
	static const struct timeval close_timeout = { 0, 1000 };
	struct bufferevent *pair[2];
	struct fz f;
	unsigned b0, b1, b3;
	size_t piece, off;

	if (size < 6)
		return 0;
	b0 = data[0];
	b1 = data[1];
	b3 = data[3];
	memset(&f, 0, sizeof(f));
	f.base = get_base();
	f.role = (b0 & 1) ? WSEV_CONNECTION_CLIENT : WSEV_CONNECTION_SERVER;
	f.free_in = (b0 >> 4) & 7;
	f.echo = !!(b0 & 0x80);
	f.close_in_message = !!(b1 & 0x80);
	f.code_sel = data[2];
	f.echo_buffer = !!(b3 & 0x20);
	f.echo_fragments = !!(b3 & 0x40);
	f.chunk = chunks[(b3 >> 1) & 3];
	f.max_payload = 131072;
	if (b3 & 1)
		negotiate(&f, data[4], data[5]);
	f.state = WSEV_STATE_OPEN;
	f.wire = evbuffer_new();
	FUZZ_CHECK(f.wire != NULL);
	FUZZ_CHECK(bufferevent_pair_new(f.base, BEV_OPT_CLOSE_ON_FREE |
	    ((b0 & 2) ? BEV_OPT_DEFER_CALLBACKS : 0), pair) == 0);
	f.peer = pair[1];
	bufferevent_setcb(f.peer, peer_read, NULL, peer_event, &f);
	bufferevent_enable(f.peer, EV_READ | EV_WRITE);

	f.conn = wsev_connection_new_with_extensions(pair[0],
	    "ws://example.com/chat?x=1", f.role, "http://example.com", "chat",
	    (b3 & 1) ? &f.ext : NULL);
	FUZZ_CHECK(f.conn != NULL);
	FUZZ_CHECK(wsev_connection_get_extensions(f.conn)->deflate ==
	    f.ext.deflate);
	wsev_connection_set_callbacks(f.conn, &fz_cbs, &f);
	wsev_connection_set_close_timeout(f.conn, &close_timeout);
	FUZZ_CHECK(wsev_connection_set_chunk_size(f.conn, 3) ==
	    WSEV_ERR_INVALID_ARGUMENT);
	FUZZ_CHECK(wsev_connection_set_chunk_size(f.conn, f.chunk) == 0);
	FUZZ_CHECK(wsev_connection_get_chunk_size(f.conn) == f.chunk);
	switch ((b0 >> 2) & 3) {
	case 1:
		wsev_connection_set_max_incoming_payload_size(f.conn, 64);
		wsev_connection_set_max_incoming_message_size(f.conn, 200);
		f.max_payload = 64;
		f.max_message = 200;
		break;
	case 2:
		wsev_connection_set_max_incoming_payload_size(f.conn, 0);
		wsev_connection_set_max_incoming_message_size(f.conn, 0);
		f.max_payload = 0;
		break;
	case 3:
		wsev_connection_set_max_incoming_payload_size(f.conn, 1000);
		wsev_connection_set_max_outgoing_buffer(f.conn, 100);
		f.max_payload = 1000;
		break;
	}
	data += 6;
	size -= 6;
	scan_input(&f, data, size);
	send_before(&f, b1, b3);

	/* The peer's bytes, in pieces, the loop run after each. */
	piece = pieces[b1 & 15];
	if (piece == 0)
		piece = size ? size : 1;
	for (off = 0; off < size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;

		FUZZ_CHECK(bufferevent_write(f.peer, data + off, n) == 0);
		run(&f, 0);
		if (f.free_in == FREE_OUTSIDE && f.conn)
			free_conn(&f);
		/* The streamed message goes on between the pieces. */
		if ((b3 & 0x10) && f.conn && f.out_type == WSEV_DATA_BINARY)
			send_piece(&f, WSEV_DATA_BINARY, data + off,
			    n < 16 ? n : 16, 0);
	}
	if ((b3 & 0x10) && f.conn && f.out_type == WSEV_DATA_BINARY)
		send_piece(&f, WSEV_DATA_BINARY, "end", 3, 1);
	if (f.conn && (b1 & 0x20) && f.state != WSEV_STATE_CLOSED)
		try_close(&f, f.code_sel >> 4);
	if (b1 & 0x10) {
		/* The peer's end of the stream, as a socket's FIN. */
		bufferevent_flush(f.peer, EV_WRITE, BEV_FINISHED);
	}
	run(&f, 1);

	/* RFC 6455 §7.1.7: a failed connection is closed; so is one whose
	 * peer is gone. The loop above had the time: on a pair the close
	 * frame leaves at once, and the close timeout is 1 ms. */
	if (f.conn && (f.protocol_error || (b1 & 0x10)))
		FUZZ_CHECK(f.state == WSEV_STATE_CLOSED);
	if (f.conn && f.state == WSEV_STATE_CLOSED) {
		FUZZ_CHECK(f.closed == 1);
		FUZZ_CHECK(wsev_connection_get_bufferevent(f.conn) == NULL);
		FUZZ_CHECK(wsev_connection_send_text(f.conn, "x") ==
		    WSEV_ERR_NOT_OPEN);
		FUZZ_CHECK(wsev_connection_send_ping(f.conn, NULL, 0) ==
		    WSEV_ERR_NOT_OPEN);
		FUZZ_CHECK(wsev_connection_send_fragment(f.conn,
		    WSEV_DATA_TEXT, "x", 1, 1) == WSEV_ERR_NOT_OPEN);
		FUZZ_CHECK(wsev_connection_close(f.conn, 1000, NULL) ==
		    WSEV_ERR_NOT_OPEN);
	}
	FUZZ_CHECK(f.closed <= 1);

	/* Everything goes; bufferevents are released from the loop. */
	if (f.conn)
		free_conn(&f);
	bufferevent_free(f.peer);
	evbuffer_free(f.wire);
	run(&f, 0);
	FUZZ_CHECK(event_base_get_num_events(f.base, EVENT_BASE_COUNT_ACTIVE |
	    EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_VIRTUAL) == 0);
	if (f.wz_ready)
		inflateEnd(&f.wz);
	bytes_free(&f.sent);
	bytes_free(&f.expect);
	free(f.out.m);
	free(f.in.m);
	return 0;
}
