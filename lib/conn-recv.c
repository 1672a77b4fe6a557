/*
 * The receive path: frame headers and their limits, payload into the
 * message buffer (unmasked, validated, inflated), message and chunk
 * delivery, control frames. RFC 6455 §5, RFC 7692 §7.2.2.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

/*
 * Message buffers. A connection holds a reassembly buffer only while a
 * message is arriving. Once the message is delivered the buffer goes to
 * the thread's spare slot (one buffer per thread, the largest seen, up to
 * SPARE_MAX), and the next message on that thread, on any connection,
 * takes it. So an idle connection holds no buffer, and a stream of large
 * messages does not allocate for every one (past glibc's mmap threshold,
 * every such allocation also faults its pages in afresh). The connections
 * of one event_base run on its thread; the slot is per thread so that
 * bases on different threads never share it, and it is freed with the
 * thread's last connection.
 */
#define SPARE_MAX (16 * 1024 * 1024)
#if WSEV_THREAD_LOCAL
#define SPARE_SLOT 1
static __thread uint8_t *spare_buf;
static __thread size_t spare_cap;
static __thread long live_conns;
#else
#define SPARE_SLOT 0	/* no thread-local storage: no sharing */
#endif

/* Payload bytes are unmasked into a buffer of this size on the stack on
 * their way into zlib. */
#define UNMASK_STEP 4096
/* A compressed message's buffer grows by at least this much per inflate. */
#define INFLATE_STEP 16384
static int inflate_in(struct wsev_connection *c, const uint8_t *p, size_t n);
static uint64_t inflate_limit(const struct wsev_connection *c);

/* ------------------------------------------------------------------ */
/* Input */

static int
handle_control_frame(struct wsev_connection *c, unsigned opcode, uint8_t *p,
    size_t len)
{
	switch (opcode) {
	case WSEV_OP_PING:
		/* §5.5.3: no pong once our close frame is queued. */
		if (!c->sent_close &&
		    wsev_conn_queue_urgent_(c, WSEV_OP_PONG, p, len) < 0)
			return wsev_conn_fail_(c, wsev_conn_internal_error_code_(c),
			    "out of memory queueing a pong");
		return 1;
	case WSEV_OP_PONG:
		wsev_conn_keepalive_pong_(c, p, len);
		p[len] = '\0';
		if (!c->free_requested && c->cbs.pong)
			c->cbs.pong(c, p, len, c->arg);
		return c->free_requested ? -1 : 1;
	default:
		return wsev_conn_handle_close_(c, p, len);
	}
}

/* How far a compressed frame may exceed what it inflates to: deflate's
 * stored blocks cost 5 bytes per 64 KiB, plus a block header or two. */
static uint64_t
deflate_slack(uint64_t n)
{
	return (n >> 10) + 64;
}

/* a + b, or UINT64_MAX if that does not fit. */
static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Parse the next frame header; a control frame is handled whole here.
 * Returns 1 on progress, 0 if more input is needed, -1 to stop. */
static int
read_header(struct wsev_connection *c, struct evbuffer *in)
{
	uint8_t hb[WSEV_FRAME_MAX_HEADER], pl[WSEV_CONTROL_MAX_PAYLOAD + 1];
	struct wsev_frame_header h;
	size_t avail = evbuffer_get_length(in);
	const char *why = NULL;
	uint64_t lim;
	ev_ssize_t n;
	int r;

	if (avail < 2)
		return 0;
	n = evbuffer_copyout(in, hb, avail < sizeof(hb) ? avail : sizeof(hb));
	if (n < 2)
		return 0;
	r = wsev_frame_parse_header_(hb, (size_t)n, c->pmd ? 4 : 0, &h, &why);
	if (r == 0)
		return 0;
	if (r < 0)
		return wsev_conn_fail_(c, WSEV_CLOSE_PROTOCOL_ERROR, why);
	/* §5.1: clients mask every frame, servers none. */
	if (c->type == WSEV_CONNECTION_SERVER && !h.masked)
		return wsev_conn_fail_(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    "unmasked frame from a client");
	if (c->type == WSEV_CONNECTION_CLIENT && h.masked)
		return wsev_conn_fail_(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    "masked frame from a server");

	/* RFC 7692 §6: RSV1 marks a compressed message, on its first frame
	 * only; control frames are never compressed (§6.1). */
	if ((h.rsv & 4) && (WSEV_OP_IS_CONTROL(h.opcode) ||
	    h.opcode == WSEV_OP_CONTINUATION))
		return wsev_conn_fail_(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    WSEV_OP_IS_CONTROL(h.opcode) ?
		    "compressed bit (RSV1) on a control frame" :
		    "compressed bit (RSV1) on a continuation frame");

	if (WSEV_OP_IS_CONTROL(h.opcode)) {
		/* At most 139 bytes: wait until the whole frame is here. */
		if (avail < h.hlen + h.len)
			return 0;
		evbuffer_drain(in, h.hlen);
		if (evbuffer_remove(in, pl, (size_t)h.len) != (ev_ssize_t)h.len)
			return wsev_conn_fail_(c, wsev_conn_internal_error_code_(c), "input lost");
		if (h.masked)
			wsev_mask_copy_(pl, pl, (size_t)h.len, h.key, 0);
		return handle_control_frame(c, h.opcode, pl, (size_t)h.len);
	}

	/* §5.4: continuations only inside a message, data frames only
	 * outside one. */
	if (h.opcode == WSEV_OP_CONTINUATION && !c->msg_opcode)
		return wsev_conn_fail_(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    "continuation frame with no message in progress");
	if (h.opcode != WSEV_OP_CONTINUATION && c->msg_opcode)
		return wsev_conn_fail_(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    "new data frame inside a fragmented message");
	if (h.opcode != WSEV_OP_CONTINUATION) {
		c->msg_len = 0;
		c->msg_total = 0;
		c->msg_deflated = (h.rsv & 4) != 0;
		c->msg_zdata = 0;
	}
	/* The limits are enforced on the header, before any payload is
	 * buffered: a peer cannot make us hold what we will refuse. A
	 * compressed frame is checked again as it inflates (inflate_in()). */
	if (c->max_payload && h.len > add_sat(c->max_payload, c->msg_deflated ?
	    deflate_slack(c->max_payload) : 0))
		return wsev_conn_fail_(c, WSEV_CLOSE_TOO_BIG,
		    "frame payload larger than the maximum");
	/* A limit lowered inside a message applies here, at the next
	 * header: the message so far may already be over it (the
	 * subtraction below must not wrap). A compressed message counts
	 * what it inflated to so far; its frames are checked as they
	 * inflate. */
	lim = c->msg_deflated ? inflate_limit(c) : c->max_message;
	if (lim && (c->msg_total > lim ||
	    (!c->msg_deflated && h.len > lim - c->msg_total)))
		return wsev_conn_fail_(c, WSEV_CLOSE_TOO_BIG,
		    "message larger than the maximum");
	if (h.len > SIZE_MAX - 1 - c->msg_total)
		return wsev_conn_fail_(c, WSEV_CLOSE_TOO_BIG,
		    "message larger than this machine can hold");

	evbuffer_drain(in, h.hlen);
	if (h.opcode != WSEV_OP_CONTINUATION) {
		c->msg_opcode = h.opcode & 0xF;
		c->msg_chunk = c->chunk_size;
		wsev_utf8_init_(&c->utf8);
	}
	c->fh = h;
	c->in_frame = 1;
	c->remaining = h.len;
	c->mask_off = 0;
	return 1;
}

/* A connection is made on this thread: the spare slot lives while the
 * thread has connections. */
void
wsev_conn_thread_ref_(void)
{
#if SPARE_SLOT
	live_conns++;
#endif
}

/* A connection of this thread is freed: with the last one go the spare
 * buffer and the thread's deflate buffer. */
void
wsev_conn_thread_unref_(void)
{
#if SPARE_SLOT
	if (--live_conns <= 0) {
		live_conns = 0;
		free(spare_buf);
		spare_buf = NULL;
		spare_cap = 0;
		wsev_pmd_thread_done_();
	}
#endif
}

int
wsev_conn_reserve_msg_(struct wsev_connection *c, size_t extra)
{
	size_t need = c->msg_len + extra + 1, ncap;
	uint8_t *nb;

	if (need <= c->msg_cap)
		return 0;
#if SPARE_SLOT
	if (spare_buf && spare_cap >= need) {
		if (c->msg_len)
			memcpy(spare_buf, c->msg, c->msg_len);
		free(c->msg);
		c->msg = spare_buf;
		c->msg_cap = spare_cap;
		spare_buf = NULL;
		spare_cap = 0;
		return 0;
	}
#endif
	ncap = c->msg_cap ? c->msg_cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	nb = realloc(c->msg, ncap);
	if (!nb)
		return -1;
	c->msg = nb;
	c->msg_cap = ncap;
	return 0;
}

/* The message buffer goes to the thread's spare slot, or is freed. */
void
wsev_conn_release_msg_(struct wsev_connection *c)
{
	if (!c->msg)
		return;
#if SPARE_SLOT
	if (c->msg_cap <= SPARE_MAX && c->msg_cap > spare_cap) {
		free(spare_buf);
		spare_buf = c->msg;
		spare_cap = c->msg_cap;
	} else {
		free(c->msg);
	}
#else
	free(c->msg);
#endif
	c->msg = NULL;
	c->msg_cap = 0;
}

/*
 * Hand the gathered piece of a chunked message to "message_chunk": all of
 * it at the end (last), else up to the last whole code point of a text
 * (the cut one's first bytes stay for the next piece).
 */
static int
emit_chunk(struct wsev_connection *c, int last)
{
	enum wsev_data_type type = c->msg_opcode == WSEV_OP_TEXT ?
	    WSEV_DATA_TEXT : WSEV_DATA_BINARY;
	size_t n = c->msg_len, keep = 0, k;
	uint8_t saved;

	if (!last && type == WSEV_DATA_TEXT && !wsev_utf8_complete_(&c->utf8)) {
		/* The bytes so far are a valid prefix: the cut code point
		 * starts at the last byte that is not a continuation. */
		for (k = 1; k <= 3 && k <= n; k++)
			if ((c->msg[n - k] & 0xC0) != 0x80)
				break;
		keep = k <= n ? k : n;
	}
	n -= keep;
	if (n == 0 && !last)
		return 1;
	/* NUL-terminated as "message" data is; the byte is put back. */
	saved = c->msg[n];
	c->msg[n] = '\0';
	if (!c->free_requested && c->cbs.message_chunk)
		c->cbs.message_chunk(c, type, c->msg, n, last, c->arg);
	/* The callback may have freed, failed or ended the connection (a
	 * send over the outgoing limit, a server shutting down): then not
	 * another byte of the frame is parsed. */
	if (c->free_requested || c->failed || c->state == WSEV_STATE_CLOSED ||
	    !c->bev)
		return -1;
	c->msg[n] = saved;
	if (keep)
		memmove(c->msg, c->msg + n, keep);
	c->msg_len = keep;
	return 1;
}

static int
deliver(struct wsev_connection *c)
{
	enum wsev_data_type type = c->msg_opcode == WSEV_OP_TEXT ?
	    WSEV_DATA_TEXT : WSEV_DATA_BINARY;
	const void *data = wsev_conn_empty_payload_;

	if (c->msg_deflated && c->msg_zdata) {
		/* §7.2.2: the message's stream ends with the 4 bytes its
		 * sender removed. (A compressed message of no bytes at
		 * all, not what §7.2.3.6 says to send, is taken as empty
		 * rather than left to open a block in the stream.) */
		if (inflate_in(c, wsev_deflate_tail_, 4) < 0)
			return -1;
		wsev_pmd_inflate_end_(c->pmd);
	}
	/* §8.1: a text message ending inside a code point is not UTF-8. */
	if (type == WSEV_DATA_TEXT && !wsev_utf8_complete_(&c->utf8))
		return wsev_conn_fail_(c, WSEV_CLOSE_BAD_DATA,
		    "text message ends inside a UTF-8 sequence");
	if (c->msg_chunk) {
		if (wsev_conn_reserve_msg_(c, 0) < 0)
			return wsev_conn_fail_(c, wsev_conn_internal_error_code_(c),
			    "out of memory for the message");
		if (emit_chunk(c, 1) < 0)
			return -1;
		c->msg_opcode = 0;
		c->msg_len = 0;
		wsev_conn_release_msg_(c);
		return 1;
	}
	c->msg_opcode = 0;
	if (c->msg) {
		c->msg[c->msg_len] = '\0';
		data = c->msg;
	}
	if (!c->free_requested && c->cbs.message)
		c->cbs.message(c, type, data, c->msg_len, c->arg);
	c->msg_len = 0;
	wsev_conn_release_msg_(c);
	return c->free_requested ? -1 : 1;
}

/* Payload bytes go into the message at dst, from src (which may be dst):
 * unmasked while copied, and text validated as it comes (§8.1: fail as soon
 * as the bytes cannot be UTF-8, not at the end of the message). */
int
wsev_conn_payload_in_(struct wsev_connection *c, uint8_t *dst,
    const uint8_t *src, size_t n)
{
	if (c->fh.masked)
		c->mask_off = wsev_mask_copy_(dst, src, n, c->fh.key,
		    c->mask_off);
	else if (dst != src)
		memcpy(dst, src, n);
	if (c->msg_opcode == WSEV_OP_TEXT &&
	    wsev_utf8_feed_(&c->utf8, dst, n) < 0)
		return wsev_conn_fail_(c, WSEV_CLOSE_BAD_DATA, "text message is not UTF-8");
	c->msg_len += n;
	c->msg_total += n;
	return 0;
}

/* The most a compressed message may inflate to: the limits count
 * decompressed bytes (0: none). */
static uint64_t
inflate_limit(const struct wsev_connection *c)
{
	/* Chunked, the message is never held whole: only its own limit. */
	if (!c->msg_chunk && c->max_payload && (!c->max_message ||
	    c->max_payload < c->max_message))
		return c->max_payload;
	return c->max_message;
}

/*
 * Inflate unmasked payload bytes of a compressed message into the message
 * (or the chunk) buffer. The output is capped one byte past the limit, so
 * a "deflate bomb" is stopped after at most that much work and memory.
 */
static int
inflate_in(struct wsev_connection *c, const uint8_t *p, size_t n)
{
	uint64_t lim = inflate_limit(c), left;
	size_t cap, used, made;
	int r;

	for (;;) {
		if (c->msg_chunk) {
			if (c->msg_len >= c->msg_chunk && emit_chunk(c, 0) < 0)
				return -1;
			if (wsev_conn_reserve_msg_(c, c->msg_chunk - c->msg_len) < 0)
				return wsev_conn_fail_(c, wsev_conn_internal_error_code_(c),
				    "out of memory for the message");
			cap = c->msg_chunk - c->msg_len;
		} else {
			if (wsev_conn_reserve_msg_(c, INFLATE_STEP) < 0)
				return wsev_conn_fail_(c, WSEV_CLOSE_TOO_BIG,
				    "out of memory for the message");
			cap = c->msg_cap - 1 - c->msg_len;
		}
		if (lim) {
			/* The limit may have been lowered under what came. */
			left = c->msg_total < lim ?
			    add_sat(lim - c->msg_total, 1) : 1;
			if (cap > left)
				cap = (size_t)left;
		}
		r = wsev_pmd_inflate_(c->pmd, p, n, c->msg + c->msg_len, cap,
		    &used, &made);
		if (r == WSEV_PMD_ERR_NOMEM)
			return wsev_conn_fail_(c, wsev_conn_internal_error_code_(c),
			    "out of memory for decompression");
		if (r == WSEV_PMD_ERR_FINALS)
			return wsev_conn_fail_(c, WSEV_CLOSE_TOO_BIG, "compressed message "
			    "has too many final blocks for its size");
		if (r < 0)
			return wsev_conn_fail_(c, WSEV_CLOSE_BAD_DATA,
			    "compressed message is not a valid deflate stream");
		if (c->msg_opcode == WSEV_OP_TEXT && wsev_utf8_feed_(&c->utf8,
		    c->msg + c->msg_len, made) < 0)
			return wsev_conn_fail_(c, WSEV_CLOSE_BAD_DATA,
			    "text message is not UTF-8");
		c->msg_len += made;
		c->msg_total += made;
		if (lim && c->msg_total > lim)
			return wsev_conn_fail_(c, WSEV_CLOSE_TOO_BIG,
			    "message decompresses to more than the maximum");
		p += used;
		n -= used;
		/* Done once the input is used up and the output was not
		 * filled (zlib has nothing more to give). */
		if (n == 0 && made < cap)
			return 0;
		if (used == 0 && made == 0)
			return wsev_conn_fail_(c, WSEV_CLOSE_BAD_DATA,
			    "compressed message is not a valid deflate stream");
	}
}

/*
 * The slow way in, for a compressed or a chunked message: bytes of the
 * current frame's payload from src, masked as on the wire.
 */
static int
payload_in_slow(struct wsev_connection *c, const uint8_t *src, size_t n)
{
	uint8_t tmp[UNMASK_STEP];
	const uint8_t *p;
	size_t k;

	while (n > 0) {
		if (!c->msg_deflated) {
			/* Chunked: unmasked straight into the chunk. */
			if (c->msg_len >= c->msg_chunk && emit_chunk(c, 0) < 0)
				return -1;
			if (wsev_conn_reserve_msg_(c, c->msg_chunk - c->msg_len) < 0)
				return wsev_conn_fail_(c, wsev_conn_internal_error_code_(c),
				    "out of memory for the message");
			k = c->msg_chunk - c->msg_len;
			if (k > n)
				k = n;
			if (wsev_conn_payload_in_(c, c->msg + c->msg_len, src, k) < 0)
				return -1;
		} else {
			k = n < sizeof(tmp) ? n : sizeof(tmp);
			p = src;
			c->msg_zdata = 1;
			if (c->fh.masked) {
				c->mask_off = wsev_mask_copy_(tmp, src, k,
				    c->fh.key, c->mask_off);
				p = tmp;
			}
			if (inflate_in(c, p, k) < 0)
				return -1;
		}
		src += k;
		n -= k;
	}
	return 0;
}

/* The current frame's payload is complete. */
int
wsev_conn_frame_done_(struct wsev_connection *c)
{
	c->in_frame = 0;
	if (c->fh.fin)
		return deliver(c);
	/* A chunked message's data is not held back waiting for the
	 * peer's next frame. */
	if (c->msg_chunk && c->msg_len > 0)
		return emit_chunk(c, 0);
	return 1;
}

/* Move what has arrived of the current frame's payload into the message. */
static int
read_payload(struct wsev_connection *c, struct evbuffer *in)
{
	struct evbuffer_iovec v[8];
	size_t avail, want, got, take;
	int slow = c->msg_deflated || c->msg_chunk;
	int nv, i, r;

	while (c->remaining > 0) {
		avail = evbuffer_get_length(in);
		if (avail == 0)
			return 0;
		want = c->remaining < avail ? (size_t)c->remaining : avail;
		if (!slow && wsev_conn_reserve_msg_(c, want) < 0)
			return wsev_conn_fail_(c, WSEV_CLOSE_TOO_BIG,
			    "out of memory for the message");
		nv = evbuffer_peek(in, (ev_ssize_t)want, NULL, v, 8);
		if (nv > 8)
			nv = 8;
		got = 0;
		for (i = 0; i < nv && got < want; i++) {
			take = v[i].iov_len < want - got ? v[i].iov_len :
			    want - got;
			r = slow ? payload_in_slow(c, v[i].iov_base, take) :
			    wsev_conn_payload_in_(c, c->msg + c->msg_len, v[i].iov_base,
			    take);
			if (r < 0)
				return -1;
			got += take;
		}
		evbuffer_drain(in, got);
		c->remaining -= got;
	}
	return wsev_conn_frame_done_(c);
}

/*
 * Backpressure. While we hold max_out bytes for the peer we stop reading
 * it: every ping it sends would add a pong, every message an echo, and a
 * peer that does not read must not grow our memory by writing. Its bytes
 * wait in the kernel, and TCP flow control stops it. Reading resumes once
 * the output is down to half the limit.
 */
static int
pause_reading(struct wsev_connection *c)
{
	if (!c->max_out || wsev_conn_buffered_(c) < c->max_out)
		return 0;
	if (!c->read_paused) {
		c->read_paused = 1;
		bufferevent_disable(c->bev, EV_READ);
	}
	return 1;
}

void
wsev_conn_process_input_(struct wsev_connection *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	int r;

	while (!c->free_requested && c->state != WSEV_STATE_CLOSED &&
	    !c->failed && !c->recv_close) {
		if (pause_reading(c))
			break;
		r = c->in_frame ? read_payload(c, in) : read_header(c, in);
		if (r <= 0)
			break;
	}
	/* §5.5.1: nothing after a close frame counts; after a failure
	 * nothing is parsed at all. */
	if (c->state != WSEV_STATE_CLOSED && (c->failed || c->recv_close))
		evbuffer_drain(in, evbuffer_get_length(in));
}
