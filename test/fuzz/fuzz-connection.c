/*
 * Fuzz target: a wsev_connection (lib/connection.c) fed arbitrary bytes by
 * its peer over a bufferevent_pair, in either role.
 *
 * Input: three bytes of settings, then the bytes the peer writes.
 *   byte 0  bit 0     role: 0 server (the peer must mask), 1 client
 *           bit 1     pair with deferred callbacks (1) or synchronous (0)
 *           bits 2-3  limits: 0 defaults; 1 payload 64, message 200;
 *                     2 none; 3 payload 1000, outgoing buffer 100
 *           bits 4-6  where to free the connection: 0 nowhere (the end of
 *                     the input), in "message", "closing", "closed",
 *                     "error", "pong", "drain", 7 outside any callback
 *                     after the first piece
 *           bit 7     echo every message and answer every pong with a ping
 *   byte 1  bits 0-3  piece size (0: everything at once)
 *           bit 4     the peer ends its stream (EOF) after the input
 *           bit 5     call wsev_connection_close() after the input
 *           bit 6     send a text, a binary and a ping before the input
 *           bit 7     call wsev_connection_close() inside "message"
 *   byte 2            which close code and reason those calls use
 *
 * Invariants checked: no crash, no leak, nothing left in the event_base;
 * the state never goes back, "closed" at most once and nothing after it;
 * every error is in the WebSocket domain with a code wsev may fail with,
 * and a protocol error (1002, 1007, 1009) or a peer's EOF ends in CLOSED
 * within the bounded loop; the close code is one RFC 6455 allows; a text
 * message is UTF-8 (the reference judge of fuzz.h), NUL-terminated, and
 * within the message limit; close() accepts exactly the codes and reasons
 * its contract names. What wsev writes is decoded here (not with
 * lib/frame.c): masked exactly when wsev is the client, no RSV bit, no
 * fragment, no reserved opcode, minimal lengths, no frame after a close
 * frame, text that is UTF-8, a close frame with no body or a code allowed
 * on the wire (never 1005, 1006, 1015) and a UTF-8 reason, and its code the
 * one this side chose: its own, the failure's, or the peer's echoed.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "fuzz.h"
#include "wsev/wsev.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

const char wsev_fuzz_target_name[] = "connection";

enum { FREE_NONE, FREE_MESSAGE, FREE_CLOSING, FREE_CLOSED, FREE_ERROR,
	FREE_PONG, FREE_DRAIN, FREE_OUTSIDE };

struct fz {
	struct event_base *base;
	struct bufferevent *peer;	/* the fuzzer's end of the pair */
	struct wsev_connection *conn;	/* NULL once freed */
	enum wsev_connection_type role;
	unsigned free_in;
	int echo, close_in_message;
	unsigned code_sel;
	uint64_t max_message;

	enum wsev_state state;		/* last seen: never goes back */
	int closed, errors, protocol_error, in_close_call;
	int expect_close;		/* the code our close frame must carry,
					   -1 for no body; 0: not known yet */

	/* What wsev wrote, decoded. */
	struct evbuffer *wire;
	int wire_closed;		/* a close frame went by */
	int wire_close_code;		/* its code, -1 for an empty body */
};

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
	int ok, rv;

	if (code == 0 || code == 1005)
		ok = rlen == 0;
	else
		ok = code_sendable(f->role, code) && rlen <= 123 &&
		    ref_utf8_valid(reason ? reason : "", rlen);
	f->in_close_call++;
	rv = wsev_connection_close(f->conn, code, reason);
	f->in_close_call--;
	FUZZ_CHECK(rv == ((open && ok) ? 0 : -1));
	if (rv == 0)
		expect_close(f, code == 0 || code == 1005 ? -1 : (int)code);
}

static void
on_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct fz *f = arg;

	enter_cb(f, c);
	see_state(f);
	/* Messages still arrive after our close frame (RFC 6455 §7.1.2). */
	FUZZ_CHECK(f->state != WSEV_STATE_CLOSED);
	FUZZ_CHECK(type == WSEV_DATA_TEXT || type == WSEV_DATA_BINARY);
	FUZZ_CHECK(data != NULL && ((const char *)data)[len] == '\0');
	if (type == WSEV_DATA_TEXT)
		FUZZ_CHECK(ref_utf8_valid(data, len));
	if (f->max_message)
		FUZZ_CHECK(len <= f->max_message);
	if (f->echo)
		FUZZ_CHECK(wsev_connection_send_message(c, type, data, len) == 0 ||
		    wsev_connection_get_state(c) != WSEV_STATE_OPEN);
	if (f->close_in_message)
		try_close(f, f->code_sel);
	see_state(f);
	if (f->free_in == FREE_MESSAGE)
		free_conn(f);
}

static void
on_closing(struct wsev_connection *c, void *arg)
{
	struct fz *f = arg;
	unsigned short code;

	enter_cb(f, c);
	see_state(f);
	FUZZ_CHECK(f->state == WSEV_STATE_CLOSING);
	FUZZ_CHECK(wsev_connection_send_text(c, "late") == -1);
	FUZZ_CHECK(wsev_connection_close(c, 1000, NULL) == -1);
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
	.error = on_error, .pong = on_pong, .drain = on_drain
};

/* Decode what wsev wrote, frame by frame, with this file's own decoder. */
static void
decode_wire(struct fz *f)
{
	uint8_t *p, *pl, key[4];
	size_t avail, hlen, i;
	uint64_t len;
	unsigned op, code;

	for (;;) {
		avail = evbuffer_get_length(f->wire);
		if (avail < 2)
			return;
		p = evbuffer_pullup(f->wire, -1);
		FUZZ_CHECK(!f->wire_closed);	/* nothing after a close */
		FUZZ_CHECK((p[0] & 0x70) == 0);	/* no RSV bit */
		FUZZ_CHECK(p[0] & 0x80);	/* wsev never fragments */
		op = p[0] & 0x0F;
		FUZZ_CHECK(op == 1 || op == 2 || op == 8 || op == 9 || op == 10);
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
		if (op >= 8)
			FUZZ_CHECK(len <= 125);
		if (op == 1)
			FUZZ_CHECK(ref_utf8_valid(pl, (size_t)len));
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[16] = { 0, 1, 2, 3, 5, 7, 11, 13, 31, 64,
	    100, 127, 128, 129, 1000, 4096 };
	static const struct timeval close_timeout = { 0, 1000 };
	struct bufferevent *pair[2];
	struct fz f;
	unsigned b0, b1;
	size_t piece, off;

	if (size < 3)
		return 0;
	b0 = data[0];
	b1 = data[1];
	memset(&f, 0, sizeof(f));
	f.base = get_base();
	f.role = (b0 & 1) ? WSEV_CONNECTION_CLIENT : WSEV_CONNECTION_SERVER;
	f.free_in = (b0 >> 4) & 7;
	f.echo = !!(b0 & 0x80);
	f.close_in_message = !!(b1 & 0x80);
	f.code_sel = data[2];
	f.state = WSEV_STATE_OPEN;
	f.wire = evbuffer_new();
	FUZZ_CHECK(f.wire != NULL);
	FUZZ_CHECK(bufferevent_pair_new(f.base, BEV_OPT_CLOSE_ON_FREE |
	    ((b0 & 2) ? BEV_OPT_DEFER_CALLBACKS : 0), pair) == 0);
	f.peer = pair[1];
	bufferevent_setcb(f.peer, peer_read, NULL, peer_event, &f);
	bufferevent_enable(f.peer, EV_READ | EV_WRITE);

	f.conn = wsev_connection_new(pair[0], "ws://example.com/chat?x=1",
	    f.role, "http://example.com", "chat");
	FUZZ_CHECK(f.conn != NULL);
	wsev_connection_set_callbacks(f.conn, &fz_cbs, &f);
	wsev_connection_set_close_timeout(f.conn, &close_timeout);
	switch ((b0 >> 2) & 3) {
	case 1:
		wsev_connection_set_max_incoming_payload_size(f.conn, 64);
		wsev_connection_set_max_incoming_message_size(f.conn, 200);
		f.max_message = 200;
		break;
	case 2:
		wsev_connection_set_max_incoming_payload_size(f.conn, 0);
		wsev_connection_set_max_incoming_message_size(f.conn, 0);
		break;
	case 3:
		wsev_connection_set_max_incoming_payload_size(f.conn, 1000);
		wsev_connection_set_max_outgoing_buffer(f.conn, 100);
		break;
	}
	if (b1 & 0x40) {
		FUZZ_CHECK(wsev_connection_send_text(f.conn, "h\xc3\xa9llo") == 0);
		FUZZ_CHECK(wsev_connection_send_binary(f.conn, "\0\1\2", 3) == 0);
		FUZZ_CHECK(wsev_connection_send_ping(f.conn, "p", 1) == 0);
		FUZZ_CHECK(wsev_connection_send_text(f.conn, "\xff") == -1);
	}

	/* The peer's bytes, in pieces, the loop run after each. */
	data += 3;
	size -= 3;
	piece = pieces[b1 & 15];
	if (piece == 0)
		piece = size ? size : 1;
	for (off = 0; off < size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;

		FUZZ_CHECK(bufferevent_write(f.peer, data + off, n) == 0);
		run(&f, 0);
		if (f.free_in == FREE_OUTSIDE && f.conn)
			free_conn(&f);
	}
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
		FUZZ_CHECK(wsev_connection_send_text(f.conn, "x") == -1);
		FUZZ_CHECK(wsev_connection_send_ping(f.conn, NULL, 0) == -1);
		FUZZ_CHECK(wsev_connection_close(f.conn, 1000, NULL) == -1);
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
	return 0;
}
