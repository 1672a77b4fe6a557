/*
 * The send path: the frame writer, the output queue, and the send API.
 *
 * Output. Frames are written whole. The bufferevent's output holds at most
 * about OUT_WINDOW bytes of data frames; the rest wait, whole, in our own
 * pending buffer and move over as the transport drains. A pong is written
 * straight into the transport, so it overtakes every pending data frame
 * (RFC 6455 §5.5.2: "as soon as practical") without ever touching bytes
 * the transport may have committed (libevent freezes the front of a socket
 * bufferevent's output, and a TLS write retry must resend the same bytes).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <openssl/rand.h>

const uint8_t wsev_conn_empty_payload_[1];

/* ------------------------------------------------------------------ */
/* Output */

static int
next_key(struct wsev_connection *c, uint8_t key[4])
{
	/* RFC 6455 §5.3: a fresh, unpredictable key for every frame. */
	if (!c->keys && !(c->keys = malloc(KEY_POOL)))
		return RAND_bytes(key, 4) == 1 ? 0 : -1;
	if (c->keypos == 0 || c->keypos >= KEY_POOL) {
		if (RAND_bytes(c->keys, KEY_POOL) != 1)
			return -1;
		c->keypos = 0;
	}
	memcpy(key, c->keys + c->keypos, 4);
	c->keypos += 4;
	return 0;
}

/*
 * Append one whole frame to dst: header and payload are written into one
 * reserved extent and committed together, so the frame goes in whole or not
 * at all; a client's payload is masked while it is copied.
 */
static int
write_frame(struct wsev_connection *c, struct evbuffer *dst, unsigned b0,
    const void *data, size_t len, size_t *framelen)
{
	struct evbuffer_iovec v;
	uint8_t key[4];
	const uint8_t *kp = NULL;
	uint8_t *p;
	size_t hlen;

	if (c->type == WSEV_CONNECTION_CLIENT) {
		if (next_key(c, key) < 0)
			return -1;
		kp = key;
	}
	hlen = wsev_frame_header_size_(len, kp != NULL);
	if (len > SIZE_MAX - hlen)
		return -1;
	if (evbuffer_reserve_space(dst, (ev_ssize_t)(hlen + len), &v, 1) != 1 ||
	    v.iov_len < hlen + len)
		return -1;
	p = v.iov_base;
	wsev_frame_write_header_(p, b0, len, kp);
	if (kp)
		wsev_mask_copy_(p + hlen, data, len, key, 0);
	else if (len)
		memcpy(p + hlen, data, len);
	v.iov_len = hlen + len;
	if (evbuffer_commit_space(dst, &v, 1) != 0)
		return -1;
	*framelen = hlen + len;
	return 0;
}

static int
oq_push(struct outq *q, uint64_t len)
{
	uint64_t *nv;
	size_t ncap;

	if (q->head + q->count == q->cap) {
		if (q->head > 0) {
			memmove(q->v, q->v + q->head, q->count * sizeof(*q->v));
			q->head = 0;
		} else {
			ncap = q->cap ? q->cap * 2 : 8;
			nv = realloc(q->v, ncap * sizeof(*nv));
			if (!nv)
				return -1;
			q->v = nv;
			q->cap = ncap;
		}
	}
	q->v[q->head + q->count++] = len;
	return 0;
}

/*
 * Hand whole frames from the pending queue to the transport until it holds
 * OUT_WINDOW bytes. Called when the transport's output drains.
 */
static void
refill_output(struct wsev_connection *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct outq *q = &c->oq;
	size_t outlen = wsev_conn_out_len_(c);
	uint64_t n = 0;

	/* At least one frame; more while they fit the window. */
	while (q->count > 0 && (n == 0 || outlen + n + q->v[q->head] <=
	    OUT_WINDOW)) {
		n += q->v[q->head++];
		q->count--;
	}
	if (n > 0)
		evbuffer_remove_buffer(c->pending, out, (size_t)n);
	if (q->count == 0) {
		/* The backlog is gone: an idle connection holds no queue. */
		q->head = 0;
		free(q->v);
		q->v = NULL;
		q->cap = 0;
		evbuffer_free(c->pending);
		c->pending = NULL;
	}
}

/*
 * Queue a frame behind everything already queued. While the transport holds
 * less than OUT_WINDOW bytes the frame goes straight into it; beyond that it
 * waits in our pending buffer, where a pong can still overtake it.
 */
static int
queue_frame(struct wsev_connection *c, unsigned b0, const void *data,
    size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t n;
	int r;

	if (c->oq.count == 0 && wsev_conn_out_len_(c) < OUT_WINDOW) {
		r = WSEV_CONN_IO(c)->send_now(c, b0, data, len);
		if (r < 0) {
			/* Part of a frame is on the wire and the rest
			 * cannot follow: the stream is lost. End the
			 * transport from the loop, as an error. */
			c->pending_events |= BEV_EVENT_ERROR |
			    BEV_EVENT_WRITING;
			c->pending_errno = ENOMEM;
			wsev_conn_kick_(c);
			return -1;
		}
		if (r > 0 && write_frame(c, out, b0, data, len, &n) < 0)
			return -1;
	} else {
		/* The length is recorded first, so a failed write only has to
		 * take it back: the frame goes in whole or not at all. */
		n = wsev_frame_header_size_(len,
		    c->type == WSEV_CONNECTION_CLIENT) + len;
		if ((!c->pending && !(c->pending = evbuffer_new())) ||
		    oq_push(&c->oq, n) < 0)
			return -1;
		if (write_frame(c, c->pending, b0, data, len, &n) < 0) {
			c->oq.count--;
			return -1;
		}
	}
	c->drain_armed = 1;
	return 0;
}

/*
 * Queue a control frame ahead of every data frame still pending (RFC 6455
 * §5.5.2: a pong "as soon as practical"). Frames already handed to the
 * transport stay first: their bytes may be committed (a partial write, a
 * TLS record awaiting retry) and are never reordered.
 */
int
wsev_conn_queue_urgent_(struct wsev_connection *c, unsigned opcode,
    const void *data, size_t len)
{
	size_t n;

	if (write_frame(c, bufferevent_get_output(c->bev), WSEV_B0_FINAL(opcode), data,
	    len, &n) < 0)
		return -1;
	c->drain_armed = 1;
	return 0;
}

int
wsev_conn_queue_close_(struct wsev_connection *c, unsigned short code,
    const char *reason, size_t rlen)
{
	uint8_t body[WSEV_CONTROL_MAX_PAYLOAD];
	size_t n = wsev_frame_close_body_(body, code, reason, rlen);

	/* The write callback may not come (the bytes can leave at once):
	 * look at the output again from the loop. */
	wsev_conn_kick_(c);
	return queue_frame(c, WSEV_B0_FINAL(WSEV_OP_CLOSE), body, n);
}

size_t
wsev_conn_buffered_(const struct wsev_connection *c)
{
	size_t n = c->pending ? evbuffer_get_length(c->pending) : 0;

	return c->bev ? n + wsev_conn_out_len_(c) : n;
}

/* Hand pending frames to the transport (and, where the I/O backend
 * writes itself, to the socket) while there is room. */
void
wsev_conn_move_output_(struct wsev_connection *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	WSEV_CONN_IO(c)->resume(c);
	for (;;) {
		if (c->oq.count > 0 && wsev_conn_out_len_(c) < OUT_WINDOW)
			refill_output(c);
		/* Each turn moves at least one frame, or stops. */
		if (!WSEV_CONN_IO(c)->flush(c) || c->oq.count == 0 ||
		    evbuffer_get_length(out) >= OUT_WINDOW)
			break;
	}
}

void
wsev_conn_check_output_(struct wsev_connection *c)
{
	wsev_conn_move_output_(c);
	/* Drained means the whole chain: under a filter, the socket's
	 * bufferevent too. */
	if (wsev_conn_out_len_(c) > 0 || c->oq.count > 0)
		return;
	if (c->drain_armed) {
		c->drain_armed = 0;
		if (c->state == WSEV_STATE_OPEN && c->cbs.drain &&
		    !c->free_requested) {
			c->cbs.drain(c, c->arg);
			if (c->free_requested || c->state != WSEV_STATE_OPEN)
				return;
		}
	}
	/* §7.1.1: the server closes TCP first once both close frames have
	 * passed; a client waits for it (bounded by the close timeout). After
	 * a failure either side closes once its close frame is out. */
	if (c->state == WSEV_STATE_CLOSING && c->sent_close &&
	    (c->failed || c->eof_seen ||
	    (c->recv_close && c->type == WSEV_CONNECTION_SERVER))) {
		/* Lingering ends with the peer's EOF or the timer; under a
		 * filter the half-close waited for the chain to drain. */
		if (c->lingering && !c->eof_seen) {
			if (c->shut_due) {
				c->shut_due = 0;
				shutdown(bufferevent_getfd(wsev_conn_bottom_(c->bev)),
				    SHUT_WR);
			}
			return;
		}
		if (c->failed && !c->eof_seen && !c->lingering &&
		    wsev_conn_linger_(c) == 0)
			return;
		wsev_conn_end_(c);
	}
}

/* 0 if c may send now, else why not. */
static int
send_refused(const struct wsev_connection *c)
{
	if (!c)
		return WSEV_ERR_INVALID_ARGUMENT;
	if (c->state != WSEV_STATE_OPEN || c->free_requested)
		return WSEV_ERR_NOT_OPEN;
	return 0;
}

/* Whether a frame of n more bytes would take what we buffer past the
 * limit. A frame sent while nothing is buffered always goes, whatever its
 * size. */
static int
over_limit(const struct wsev_connection *c, size_t n)
{
	size_t have = wsev_conn_buffered_(c);

	return c->max_out && have > 0 && (have >= c->max_out ||
	    n > c->max_out - have);
}

/* Past the outgoing limit the peer is not reading: RFC 6455 §7.4.1's 1008
 * ends the connection, and the send is refused. */
static int
refuse_full(struct wsev_connection *c)
{
	wsev_conn_fail_(c, WSEV_CLOSE_POLICY_VIOLATION,
	    "outgoing buffer full: the peer is not reading");
	return WSEV_ERR_BUFFER_FULL;
}

/*
 * Queue one frame of a message: compressed first when @p deflate (then
 * RSV1 marks the first frame, @p end the message's end). A compressor whose
 * output is lost is out of step with the peer's decompressor for good, so
 * any failure after compressing fails the connection.
 */
static int
send_one_frame(struct wsev_connection *c, unsigned b0, const struct iovec *v,
    int nv, int deflate, int end)
{
	const uint8_t *p = v[0].iov_base;
	size_t n = v[0].iov_len, hl;

	if (deflate && wsev_pmd_compress_(c->pmd, v, nv, end, &p, &n) < 0) {
		wsev_conn_fail_(c, wsev_conn_internal_error_code_(c),
		    "out of memory compressing a message");
		return WSEV_ERR_NOMEM;
	}
	hl = wsev_frame_header_size_(n, c->type == WSEV_CONNECTION_CLIENT);
	if (over_limit(c, n > SIZE_MAX - hl ? SIZE_MAX : n + hl))
		return refuse_full(c);
	if (queue_frame(c, b0, p, n) < 0) {
		if (deflate)
			wsev_conn_fail_(c, wsev_conn_internal_error_code_(c),
			    "out of memory queueing a compressed message");
		return WSEV_ERR_NOMEM;
	}
	return 0;
}

/* After a send: outside our own callbacks (which write when they end),
 * the fast path writes now; a drain callback is then due from the loop. */
static void
sent_now(struct wsev_connection *c)
{
	if (c->depth == 1 && c->bev && WSEV_CONN_IO(c)->writes_now(c)) {
		wsev_conn_move_output_(c);
		if (c->cbs.drain && wsev_conn_buffered_(c) == 0)
			wsev_conn_kick_(c);
	}
}

/* Whether this connection compresses its data messages. */
static int
compressing(const struct wsev_connection *c)
{
	return c->pmd && wsev_pmd_compresses_(c->pmd);
}

static int
send_message(struct wsev_connection *c, unsigned opcode, const void *data,
    size_t len)
{
	struct iovec v;
	int rv, control = WSEV_OP_IS_CONTROL(opcode);

	/* The refusals in the order wsev.h gives (enum wsev_result). */
	if ((rv = send_refused(c)) != 0)
		return rv;
	if (!data && len)
		return WSEV_ERR_INVALID_ARGUMENT;
	if (c->out_opcode && !control)
		return WSEV_ERR_BUSY;
	if (opcode == WSEV_OP_TEXT && len && !wsev_utf8_valid_(data, len))
		return WSEV_ERR_BAD_UTF8;
	v.iov_base = (void *)(uintptr_t)(data ? data : wsev_conn_empty_payload_);
	v.iov_len = len;
	wsev_conn_enter_(c);
	rv = send_one_frame(c, WSEV_B0_FINAL(opcode) | (!control && compressing(c) ?
	    WSEV_B0_RSV1 : 0), &v, 1, !control && compressing(c), 1);
	if (rv == 0)
		sent_now(c);
	wsev_conn_leave_(c);
	return rv;
}

static unsigned
data_opcode(enum wsev_data_type type)
{
	return type == WSEV_DATA_TEXT ? WSEV_OP_TEXT :
	    type == WSEV_DATA_BINARY ? WSEV_OP_BINARY : 0;
}

int
wsev_connection_send_fragment(struct wsev_connection *c,
    enum wsev_data_type type, const void *data, size_t len, int final)
{
	unsigned opcode = data_opcode(type), b0;
	struct wsev_utf8 u;
	struct iovec v;
	int first, deflate, rv;

	if ((rv = send_refused(c)) != 0)
		return rv;
	if (!opcode || (!data && len))
		return WSEV_ERR_INVALID_ARGUMENT;
	if (c->out_opcode && c->out_opcode != opcode)
		return WSEV_ERR_BUSY;
	first = !c->out_opcode;
	u = c->out_utf8;
	if (opcode == WSEV_OP_TEXT) {
		if (first)
			wsev_utf8_init_(&u);
		if (wsev_utf8_feed_(&u, data, len) < 0 ||
		    (final && !wsev_utf8_complete_(&u)))
			return WSEV_ERR_BAD_UTF8;
	}
	deflate = first ? compressing(c) : c->out_deflated;
	b0 = (final ? WSEV_B0_FIN : 0) | (first ? opcode : WSEV_OP_CONTINUATION) |
	    (first && deflate ? WSEV_B0_RSV1 : 0);
	v.iov_base = (void *)(uintptr_t)(data ? data : wsev_conn_empty_payload_);
	v.iov_len = len;
	wsev_conn_enter_(c);
	rv = send_one_frame(c, b0, &v, 1, deflate, final);
	if (rv == 0) {
		c->out_utf8 = u;
		c->out_opcode = final ? 0 : opcode;
		c->out_deflated = deflate;
		sent_now(c);
	}
	wsev_conn_leave_(c);
	return rv;
}

/*
 * A whole evbuffer as one frame, moved (not copied) behind what is queued:
 * the header is put in front of its data, and its chains join the output or
 * the pending queue. A server's frames are not masked, so nothing has to
 * touch the bytes.
 */
static int
queue_buffer(struct wsev_connection *c, unsigned b0, struct evbuffer *buf)
{
	struct evbuffer *out = bufferevent_get_output(c->bev), *dst = out;
	uint8_t hdr[WSEV_FRAME_MAX_HEADER];
	size_t len = evbuffer_get_length(buf), hlen;

	hlen = wsev_frame_write_header_(hdr, b0, len, NULL);
	if (len > SIZE_MAX - hlen || evbuffer_prepend(buf, hdr, hlen) < 0)
		return -1;
	if (c->oq.count > 0 || evbuffer_get_length(out) >= OUT_WINDOW) {
		if ((!c->pending && !(c->pending = evbuffer_new())) ||
		    oq_push(&c->oq, hlen + len) < 0) {
			evbuffer_drain(buf, hlen);
			return -1;
		}
		dst = c->pending;
	}
	if (evbuffer_add_buffer(dst, buf) < 0) {
		if (dst != out)
			c->oq.count--;
		evbuffer_drain(buf, hlen);
		return -1;
	}
	c->drain_armed = 1;
	return 0;
}

/* The chains of buf as iovecs, in *v (a malloc()ed array when more than
 * fit in the caller's). Returns their number, or -1. */
static int
buffer_iovecs(struct evbuffer *buf, struct iovec *local, int nlocal,
    struct iovec **v)
{
	struct evbuffer_iovec *ev;
	int n = evbuffer_peek(buf, -1, NULL, NULL, 0), i;

	if (n <= 0) {
		*v = local;
		return 0;
	}
	ev = calloc((size_t)n, sizeof(*ev));
	*v = n <= nlocal ? local : calloc((size_t)n, sizeof(**v));
	if (!ev || !*v) {
		free(ev);
		if (*v != local)
			free(*v);
		return -1;
	}
	n = evbuffer_peek(buf, -1, NULL, ev, n);
	for (i = 0; i < n; i++) {
		(*v)[i].iov_base = ev[i].iov_base;
		(*v)[i].iov_len = ev[i].iov_len;
	}
	free(ev);
	return n;
}

int
wsev_connection_send_buffer(struct wsev_connection *c,
    enum wsev_data_type type, struct evbuffer *buf)
{
	unsigned opcode = data_opcode(type);
	struct iovec local[8], *v = local, one;
	struct wsev_utf8 u;
	size_t len, hl;
	int nv, i, rv;

	if ((rv = send_refused(c)) != 0)
		return rv;
	if (!opcode || !buf)
		return WSEV_ERR_INVALID_ARGUMENT;
	if (c->out_opcode)
		return WSEV_ERR_BUSY;
	len = evbuffer_get_length(buf);
	/* The chains are looked at only to check text or to compress. */
	nv = opcode == WSEV_OP_TEXT || compressing(c) ?
	    buffer_iovecs(buf, local, 8, &v) : 0;
	if (nv < 0)
		return WSEV_ERR_NOMEM;
	if (opcode == WSEV_OP_TEXT) {
		wsev_utf8_init_(&u);
		for (i = 0; i < nv; i++)
			if (wsev_utf8_feed_(&u, v[i].iov_base,
			    v[i].iov_len) < 0)
				break;
		if (i < nv || !wsev_utf8_complete_(&u)) {
			if (v != local)
				free(v);
			return WSEV_ERR_BAD_UTF8;
		}
	}
	wsev_conn_enter_(c);
	if (compressing(c)) {
		/* zlib reads the chains in place. */
		one.iov_base = (void *)(uintptr_t)wsev_conn_empty_payload_;
		one.iov_len = 0;
		rv = send_one_frame(c, WSEV_B0_FINAL(opcode) | WSEV_B0_RSV1, nv ? v : &one,
		    nv ? nv : 1, 1, 1);
	} else if (c->type == WSEV_CONNECTION_SERVER) {
		hl = wsev_frame_header_size_(len, 0);
		if (over_limit(c, len > SIZE_MAX - hl ? SIZE_MAX : len + hl))
			rv = refuse_full(c);
		else if (queue_buffer(c, WSEV_B0_FINAL(opcode), buf) < 0)
			rv = WSEV_ERR_NOMEM;
		else
			rv = 0;
	} else {
		/* A client masks while copying, from one piece. */
		one.iov_base = len ? evbuffer_pullup(buf, -1) :
		    (void *)(uintptr_t)wsev_conn_empty_payload_;
		one.iov_len = len;
		rv = !one.iov_base ? WSEV_ERR_NOMEM : send_one_frame(c,
		    WSEV_B0_FINAL(opcode), &one, 1, 0, 1);
	}
	if (v != local)
		free(v);
	if (rv == 0) {
		/* Moved chains are gone already; copied ones go now. */
		evbuffer_drain(buf, evbuffer_get_length(buf));
		sent_now(c);
	}
	wsev_conn_leave_(c);
	return rv;
}

int
wsev_connection_send_text(struct wsev_connection *c, const char *text)
{
	int rv;

	if ((rv = send_refused(c)) != 0)
		return rv;
	if (!text)
		return WSEV_ERR_INVALID_ARGUMENT;
	return send_message(c, WSEV_OP_TEXT, text, strlen(text));
}

int
wsev_connection_send_binary(struct wsev_connection *c, const void *data,
    size_t length)
{
	return send_message(c, WSEV_OP_BINARY, data, length);
}

int
wsev_connection_send_message(struct wsev_connection *c,
    enum wsev_data_type type, const void *data, size_t length)
{
	unsigned opcode = data_opcode(type);
	int rv;

	if ((rv = send_refused(c)) != 0)
		return rv;
	if (!opcode)
		return WSEV_ERR_INVALID_ARGUMENT;
	return send_message(c, opcode, data, length);
}

int
wsev_connection_send_ping(struct wsev_connection *c, const void *data,
    size_t len)
{
	int rv;

	if ((rv = send_refused(c)) != 0)
		return rv;
	if (len > WSEV_CONTROL_MAX_PAYLOAD)
		return WSEV_ERR_INVALID_ARGUMENT;
	return send_message(c, WSEV_OP_PING, data, len);
}

const char *
wsev_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
	case WSEV_ERR_INVALID_ARGUMENT:
		return "invalid argument";
	case WSEV_ERR_NOT_OPEN:
		return "the connection is not open";
	case WSEV_ERR_BAD_UTF8:
		return "text is not valid UTF-8";
	case WSEV_ERR_BUFFER_FULL:
		return "outgoing buffer full: the peer is not reading";
	case WSEV_ERR_NOMEM:
		return "out of memory";
	case WSEV_ERR_BUSY:
		return "a message sent in pieces is in progress";
	default:
		return "unknown error";
	}
}
