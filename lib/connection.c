/*
 * The WebSocket connection on a bufferevent: RFC 6455 §5-§7 after the
 * handshake.
 *
 * Reentrancy. Every entry from libevent (read, write, event, timer) and every
 * public call runs between enter() and leave(). Callbacks may free the
 * connection: wsev_connection_free() then only sets free_requested, every
 * loop checks it after each callback and stops, and the outermost leave()
 * releases the memory. A bufferevent callback that arrives while we are
 * already inside (a bufferevent_pair without deferred callbacks runs its
 * partner's and our own callbacks synchronously from inside a write) is not
 * run in place: it activates the "kick" event, which services the
 * connection from the loop.
 *
 * Output. Frames are written whole. The bufferevent's output holds at most
 * about OUT_WINDOW bytes of data frames; the rest wait, whole, in our own
 * pending buffer and move over as the transport drains. A pong is written
 * straight into the transport, so it overtakes every pending data frame
 * (RFC 6455 §5.5.2: "as soon as practical") without ever touching bytes
 * the transport may have committed (libevent freezes the front of a socket
 * bufferevent's output, and a TLS write retry must resend the same bytes).
 *
 * Plain sockets: the fast path. TLS, filter and pair bufferevents do their
 * own I/O; a plain socket bufferevent would cost us twice on every message.
 * libevent 2.1 reads a socket at most 4096 bytes per read() (EVBUFFER_MAX_READ
 * in its buffer.c, which bufferevent_set_max_single_read() cannot lift), one
 * read per loop turn: a 1 MiB message takes 256 turns. And a write into the
 * output only arms EV_WRITE (an epoll_ctl), the bytes leave a turn later, and
 * the drained output disarms it again (another epoll_ctl). So for a plain
 * socket, with the bufferevent still its owner and every byte still passing
 * through its buffers:
 * - Reading: once the bufferevent's own read came back full, we read on
 *   from the socket ourselves in 64 KiB steps into reserved space of its
 *   input buffer, and the payload of a large frame straight into the
 *   message buffer (no copy through the input). Bounded per callback so that
 *   one busy peer does not starve the others.
 * - Writing: EV_WRITE stays disabled while the output is empty. Frames are
 *   queued into the output as usual, and when wsev hands control back (at
 *   the end of a callback batch, or on return from a send made outside any
 *   callback) the output is written at once with one writev(): all the
 *   echoes of one read leave in one syscall. Only bytes the socket does not
 *   take arm EV_WRITE, and the bufferevent writes them as it always does.
 * The input and output buffers are unfrozen and frozen again around our own
 * reads and writes exactly as the bufferevent does around its own. While
 * libevent rate-limits the bufferevent (its own limit or its group's, which
 * we could not charge), it does all the reading and writing (rate_limited(),
 * asked before each of ours).
 *
 * Filters. A filter (and an OpenSSL filter) hands its bytes down to the
 * bufferevent under it at once: its own output looks empty while the
 * socket's holds everything. So "the output" is the whole chain's
 * (out_len()): the window, the outgoing limit, drain and the waits before
 * closing; and since the filter reports no drain of the bottom's output,
 * we watch that evbuffer ourselves (on_low_out()). The socket under a
 * filter is never shut down or written around it while bytes are queued.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"
#include "deflate.h"
#include "frame.h"
#include "utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define DEFAULT_MAX_PAYLOAD 131072
#define DEFAULT_CLOSE_TIMEOUT_SEC 5
/* Mask keys are drawn from the CSPRNG this many bytes at a time. */
#define KEY_POOL 32

/* Data the transport may hold before frames wait in our pending queue. */
#define OUT_WINDOW 65536

/* On the fast path, a server's frames from this size up are written from
 * the caller's memory even inside a callback batch (see send_direct()). */
#define DIRECT_SEND_MIN 16384

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
#if defined(__GNUC__)
#define SPARE_SLOT 1
static __thread uint8_t *spare_buf;
static __thread size_t spare_cap;
static __thread long live_conns;
#else
#define SPARE_SLOT 0	/* no thread-local storage: no sharing */
#endif

/* The fast path's reads: what one read() asks for, and how much one
 * callback reads at most before it lets other connections run. A read that
 * comes back with EVBUFFER_MAX_READ (4096) bytes may have left more. */
#define FAST_READ_STEP 65536
#define FAST_READ_BUDGET (1024 * 1024)
#define BEV_READ_CAP 4096

/* The first byte of a frame header: FIN, RSV1 (permessage-deflate's
 * "compressed" bit, RFC 7692 §6), the opcode. */
#define B0_FIN 0x80
#define B0_RSV1 0x40
#define FINAL(op) (B0_FIN | (op))

/* Payload bytes are unmasked into a buffer of this size on the stack on
 * their way into zlib. */
#define UNMASK_STEP 4096
/* A compressed message's buffer grows by at least this much per inflate. */
#define INFLATE_STEP 16384

/* The lengths of the frames in the pending buffer, oldest first. */
struct outq {
	uint64_t *v;
	size_t head, count, cap;
};

struct wsev_connection {
	struct bufferevent *bev;
	struct event_base *base;
	struct wsev_callbacks cbs;
	void *arg;

	struct evhttp_uri *uri;
	char *origin;
	char *protocol;
	enum wsev_connection_type type;
	enum wsev_state state;
	unsigned short close_code;
	char *close_data;
	uint64_t max_payload;
	uint64_t max_message;
	size_t max_out;		/* 0: no limit on what we buffer */
	struct timeval close_timeout;

	wsev_release_fn_ release;	/* NULL: we free the bufferevent */
	void *release_arg;
	struct event *timer;	/* close timeout, made on first use */
	struct event *kick;	/* deferred service, made on first use */
	int depth;
	unsigned free_requested : 1;
	unsigned sent_close : 1;	/* our close frame is queued */
	unsigned recv_close : 1;	/* the peer's close frame arrived */
	unsigned failed : 1;		/* we failed the connection */
	unsigned transport_error : 1;
	unsigned eof_seen : 1;		/* EOF while our close was queued */
	unsigned lingering : 1;		/* half-closed after a failure */
	unsigned drain_armed : 1;
	unsigned read_paused : 1;	/* output over max_out: not reading */
	unsigned direct : 1;		/* a plain socket: the fast path */
	unsigned write_armed : 1;	/* direct: EV_WRITE enabled for a backlog */
	unsigned chain : 1;		/* a filter: bufferevents under bev */
	unsigned shut_due : 1;		/* lingering: SHUT_WR once drained */
	short pending_events;		/* BEV_EVENT_* not yet handled */
	int pending_errno;

	/* Receiving: the frame in progress and the message it belongs to. */
	unsigned in_frame : 1;
	unsigned msg_opcode : 4;	/* 0: no message in progress */
	struct wsev_frame_header fh;
	uint64_t remaining;
	size_t mask_off;
	struct wsev_utf8 utf8;
	uint8_t *msg;
	size_t msg_len, msg_cap;

	uint64_t msg_total;		/* bytes of the message so far */
	size_t msg_chunk;		/* this message's chunk size; 0: whole */
	unsigned msg_deflated : 1;	/* this message is compressed */
	unsigned msg_zdata : 1;		/* ... and some of its bytes came */
	size_t chunk_size;		/* for the next messages */

	/* Sending a message in pieces: its opcode, and its text so far. */
	unsigned out_opcode : 4;	/* 0: no message in progress */
	unsigned out_deflated : 1;
	struct wsev_utf8 out_utf8;

	/* permessage-deflate, when negotiated. */
	struct wsev_extensions ext;
	struct wsev_pmd *pmd;

	/* Keepalive: a ping every ka_interval s; its pong due within
	 * ka_pong_timeout s. */
	unsigned ka_interval, ka_pong_timeout;
	struct event *ka_timer;
	struct event *ka_pong_timer;
	uint32_t ka_sent;		/* the last keepalive ping's number */
	uint32_t ka_awaited;		/* the ping whose pong is awaited */
	unsigned ka_waiting : 1;

	struct evbuffer *pending;	/* whole frames not yet handed over */
	/* A filter's bytes wait in the output of the bufferevent at the
	 * bottom of its chain, whose draining the filter does not report:
	 * we watch that buffer ourselves. */
	struct evbuffer *low_out;
	struct evbuffer_cb_entry *low_cb;
	struct outq oq;
	uint8_t keys[KEY_POOL];
	unsigned keypos;
};

static const uint8_t empty_payload[1];

static void service(struct wsev_connection *c);
static void move_output(struct wsev_connection *c);
static int inflate_in(struct wsev_connection *c, const uint8_t *p, size_t n);
static void release_msg(struct wsev_connection *c);
static void flush_direct(struct wsev_connection *c);
static uint64_t inflate_limit(const struct wsev_connection *c);

/* ------------------------------------------------------------------ */
/* Reentrancy */

/* The bottom of a bufferevent's chain of filters (itself if none). */
static struct bufferevent *
lowest(struct bufferevent *bev)
{
	struct bufferevent *u;

	while ((u = bufferevent_get_underlying(bev)) != NULL)
		bev = u;
	return bev;
}

static void
unwatch_low(struct wsev_connection *c)
{
	if (c->low_cb) {
		evbuffer_remove_cb_entry(c->low_out, c->low_cb);
		c->low_cb = NULL;
		c->low_out = NULL;
	}
}

static void
release_bev(struct wsev_connection *c, struct bufferevent *bev)
{
	wsev_release_fn_ release = c->release;
	struct bufferevent *b, *u;

	unwatch_low(c);
	/* The end of the stream goes down the chain: a filter passes a
	 * flush on to its underlying bufferevent, an OpenSSL filter does
	 * not (a pair at the bottom then never tells its partner). */
	for (b = bev; (u = bufferevent_get_underlying(b)) != NULL; b = u)
		if (bufferevent_openssl_get_ssl(b))
			bufferevent_flush(u, EV_WRITE, BEV_FINISHED);
	c->release = NULL;
	if (release)
		release(bev, c->release_arg);
	else
		bufferevent_free(bev);
}

static void
destroy(struct wsev_connection *c)
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
		release_bev(c, c->bev);
	}
	if (c->timer)
		event_free(c->timer);
	if (c->kick)
		event_free(c->kick);
	if (c->ka_timer)
		event_free(c->ka_timer);
	if (c->ka_pong_timer)
		event_free(c->ka_pong_timer);
	wsev_pmd_free_(c->pmd);
	if (c->uri)
		evhttp_uri_free(c->uri);
	free(c->origin);
	free(c->protocol);
	free(c->close_data);
	release_msg(c);
#if SPARE_SLOT
	if (--live_conns <= 0) {
		live_conns = 0;
		free(spare_buf);
		spare_buf = NULL;
		spare_cap = 0;
		wsev_pmd_thread_done_();
	}
#endif
	free(c->oq.v);
	if (c->pending)
		evbuffer_free(c->pending);
	free(c);
}

static void
enter(struct wsev_connection *c)
{
	c->depth++;
}

/* Returns -1 if the connection was destroyed: the caller must return. */
static int
leave(struct wsev_connection *c)
{
	if (--c->depth == 0 && c->free_requested) {
		destroy(c);
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
	enter(c);
	service(c);
	leave(c);
}

static void
schedule_kick(struct wsev_connection *c)
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

static void
emit_error(struct wsev_connection *c, enum wsev_error_domain domain, int code,
    const char *msg)
{
	struct wsev_error err;

	if (c->free_requested || !c->cbs.error)
		return;
	wsev_error_set_(&err, domain, code, "%s", msg);
	c->cbs.error(c, &err, c->arg);
}

static void
emit_closing(struct wsev_connection *c)
{
	if (!c->free_requested && c->cbs.closing)
		c->cbs.closing(c, c->arg);
}

/* ------------------------------------------------------------------ */
/* Output */

static int
next_key(struct wsev_connection *c, uint8_t key[4])
{
	/* RFC 6455 §5.3: a fresh, unpredictable key for every frame. */
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
	wsev_frame_write_header_(p, b0 >> 7, (b0 >> 4) & 7, b0 & 0xF, len, kp);
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
 * The bytes the transport holds for the peer: its output, and under a
 * filter the output of every bufferevent below it (a filter hands its
 * bytes down at once, so its own output looks empty while the socket's
 * holds them all).
 */
static size_t
out_len(const struct wsev_connection *c)
{
	struct bufferevent *b = c->bev;
	size_t n = evbuffer_get_length(bufferevent_get_output(b));

	if (c->chain)
		while ((b = bufferevent_get_underlying(b)) != NULL)
			n += evbuffer_get_length(bufferevent_get_output(b));
	return n;
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
	size_t outlen = out_len(c);
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
 * Whether libevent rate-limits the bufferevent now: a limit of its own or
 * a group's, set before or after the connection was made. The fast path
 * then leaves the reading and writing to the bufferevent, which charges
 * the buckets (a group cannot be charged from outside, nor even seen:
 * bufferevent_get_max_to_read/write() are bounded by the largest single
 * read/write, lifted here for the look). A few calls, no syscall.
 */
static int
rate_limited(struct bufferevent *bev)
{
	ev_ssize_t r = bufferevent_get_max_single_read(bev);
	ev_ssize_t w = bufferevent_get_max_single_write(bev);
	int lim;

	bufferevent_set_max_single_read(bev, EV_SSIZE_MAX);
	bufferevent_set_max_single_write(bev, EV_SSIZE_MAX);
	lim = bufferevent_get_max_to_read(bev) < EV_SSIZE_MAX ||
	    bufferevent_get_max_to_write(bev) < EV_SSIZE_MAX;
	bufferevent_set_max_single_read(bev, (size_t)r);
	bufferevent_set_max_single_write(bev, (size_t)w);
	return lim;
}

/*
 * A large frame of a server on the fast path goes to the socket straight
 * from the caller's memory, header and payload in one writev(), once what
 * was queued before it has left: no copy, and no output buffer to allocate
 * (and fault in) for it. What the socket does not take is copied into the
 * output and left to the bufferevent. Returns 0 if the frame was taken, 1
 * if it must be queued as usual (nothing of it was written), -1 if the
 * output could not take the rest of a frame already begun on the wire.
 */
static int
send_direct(struct wsev_connection *c, unsigned b0, const void *data,
    size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t hdr[WSEV_FRAME_MAX_HEADER];
	struct iovec iov[2];
	size_t hlen, done;
	ev_ssize_t n;

	flush_direct(c);
	if (c->write_armed || evbuffer_get_length(out) > 0 ||
	    rate_limited(c->bev))
		return 1;
	hlen = wsev_frame_write_header_(hdr, b0 >> 7, (b0 >> 4) & 7, b0 & 0xF,
	    len, NULL);
	iov[0].iov_base = hdr;
	iov[0].iov_len = hlen;
	iov[1].iov_base = (void *)(uintptr_t)data;
	iov[1].iov_len = len;
	n = writev(bufferevent_getfd(c->bev), iov, 2);
	if (n <= 0)
		return 1;	/* a hard error is the bufferevent's to report */
	done = (size_t)n;
	if (done == hlen + len)
		return 0;
	if ((done < hlen && evbuffer_add(out, hdr + done, hlen - done) < 0) ||
	    evbuffer_add(out, (const uint8_t *)data +
	    (done > hlen ? done - hlen : 0), len - (done > hlen ?
	    done - hlen : 0)) < 0)
		return -1;
	c->write_armed = 1;
	bufferevent_enable(c->bev, EV_WRITE);
	return 0;
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

	if (c->oq.count == 0 && out_len(c) < OUT_WINDOW) {
		r = 1;
		/* Large frames; and any frame sent from outside this
		 * connection's callbacks (depth 1: the send's own enter),
		 * which would be written at once anyway: a broadcast then
		 * costs one writev() per peer and no buffer. */
		if (c->direct && c->type == WSEV_CONNECTION_SERVER &&
		    !c->write_armed && (len >= DIRECT_SEND_MIN ||
		    c->depth == 1))
			r = send_direct(c, b0, data, len);
		if (r < 0) {
			/* Part of a frame is on the wire and the rest
			 * cannot follow: the stream is lost. End the
			 * transport from the loop, as an error. */
			c->pending_events |= BEV_EVENT_ERROR |
			    BEV_EVENT_WRITING;
			c->pending_errno = ENOMEM;
			schedule_kick(c);
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
static int
queue_urgent(struct wsev_connection *c, unsigned opcode, const void *data,
    size_t len)
{
	size_t n;

	if (write_frame(c, bufferevent_get_output(c->bev), FINAL(opcode), data,
	    len, &n) < 0)
		return -1;
	c->drain_armed = 1;
	return 0;
}

static int
queue_close(struct wsev_connection *c, unsigned short code, const char *reason,
    size_t rlen)
{
	uint8_t body[WSEV_CONTROL_MAX_PAYLOAD];
	size_t n = 0;

	/* RFC 6455 §5.5.1: an empty body, or a 2-byte code and a reason. */
	if (code != 0 && code != WSEV_CLOSE_NO_STATUS) {
		body[0] = (uint8_t)(code >> 8);
		body[1] = (uint8_t)code;
		if (rlen > sizeof(body) - 2)
			rlen = sizeof(body) - 2;
		if (rlen)
			memcpy(body + 2, reason, rlen);
		n = 2 + rlen;
	}
	/* The write callback may not come (the bytes can leave at once):
	 * look at the output again from the loop. */
	schedule_kick(c);
	return queue_frame(c, FINAL(WSEV_OP_CLOSE), body, n);
}

/* ------------------------------------------------------------------ */
/* Closing */

static void
on_timeout(evutil_socket_t fd, short what, void *arg);

static void
arm_close_timer(struct wsev_connection *c)
{
	if (!c->timer) {
		c->timer = evtimer_new(c->base, on_timeout, c);
		if (!c->timer)
			return;
	}
	if (!evtimer_pending(c->timer, NULL))
		evtimer_add(c->timer, &c->close_timeout);
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

static SSL *
find_ssl(struct bufferevent *bev)
{
	for (; bev; bev = bufferevent_get_underlying(bev)) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		if (ssl)
			return ssl;
	}
	return NULL;
}

/* Close the transport: close_notify on TLS, EOF to a pair's partner. */
static void
close_transport(struct wsev_connection *c)
{
	struct bufferevent *bev = c->bev;
	SSL *ssl;

	if (!bev)
		return;
	c->bev = NULL;
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	ssl = find_ssl(bev);
	if (ssl && !c->transport_error && !c->lingering) {
		ERR_set_mark();	/* the application's own errors stay queued */
		SSL_shutdown(ssl);
		ERR_pop_to_mark();
	}
	bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
	release_bev(c, bev);
}

/* The one exit path: CLOSED, transport gone, "closed" emitted once. */
static void
finish(struct wsev_connection *c)
{
	if (c->state == WSEV_STATE_CLOSED)
		return;
	c->state = WSEV_STATE_CLOSED;
	if (c->timer)
		evtimer_del(c->timer);
	if (c->ka_timer)
		evtimer_del(c->ka_timer);
	if (c->ka_pong_timer)
		evtimer_del(c->ka_pong_timer);
	if (c->close_code == 0)
		c->close_code = WSEV_CLOSE_ABNORMAL;
	close_transport(c);
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
static int
fail(struct wsev_connection *c, unsigned short code, const char *why)
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
		queue_close(c, code, why, strlen(why));
	}
	arm_close_timer(c);
	emit_error(c, WSEV_DOMAIN_WEBSOCKET, code, why);
	return -1;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct wsev_connection *c = arg;

	(void)fd;
	(void)what;
	enter(c);
	if (c->state != WSEV_STATE_CLOSED) {
		if (!c->failed && !(c->sent_close && c->recv_close))
			emit_error(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
			    "close handshake timed out");
		finish(c);
	}
	leave(c);
}

/* Our own trouble (memory): 1011 is the server's code; a client that
 * cannot go on is "going away" (RFC 6455 §7.4.1). */
static unsigned short
internal_error_code(const struct wsev_connection *c)
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

static int
handle_close(struct wsev_connection *c, const uint8_t *p, size_t len)
{
	unsigned code = WSEV_CLOSE_NO_STATUS;

	if (len == 1)
		return fail(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    "close frame with a 1-byte body");
	if (len >= 2) {
		code = (unsigned)p[0] << 8 | p[1];
		if (!close_code_receivable(code))
			return fail(c, WSEV_CLOSE_PROTOCOL_ERROR,
			    "close frame with an invalid code");
		if (!wsev_utf8_valid_(p + 2, len - 2))
			return fail(c, WSEV_CLOSE_PROTOCOL_ERROR,
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
			queue_close(c, WSEV_CLOSE_NORMAL, NULL, 0);
		else
			queue_close(c, (unsigned short)code,
			    (const char *)p + 2, len - 2);
		arm_close_timer(c);
		emit_closing(c);
	}
	return c->free_requested ? -1 : 1;
}

/* ------------------------------------------------------------------ */
/* Keepalive */

/* A keepalive ping's payload: "wsev-keepalive " and its number, 8 hex
 * digits; its pong comes back with the same bytes (§5.5.3). */
#define KA_PREFIX "wsev-keepalive "
#define KA_PREFIX_LEN (sizeof(KA_PREFIX) - 1)
#define KA_LEN (KA_PREFIX_LEN + 8)

static void
ka_payload(uint32_t n, char out[KA_LEN])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	memcpy(out, KA_PREFIX, KA_PREFIX_LEN);
	for (i = 0; i < 8; i++)
		out[KA_PREFIX_LEN + i] = hex[(n >> (28 - 4 * i)) & 0xF];
}

static void
keepalive_pong(struct wsev_connection *c, const uint8_t *p, size_t len)
{
	uint32_t n = 0;
	size_t i;
	int d;

	if (!c->ka_waiting || len != KA_LEN || memcmp(p, KA_PREFIX,
	    KA_PREFIX_LEN) != 0)
		return;
	for (i = KA_PREFIX_LEN; i < KA_LEN; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else
			return;
		n = n << 4 | (uint32_t)d;
	}
	/* The awaited ping's pong, or a later one's: the peer is alive. */
	if (n - c->ka_awaited > c->ka_sent - c->ka_awaited)
		return;
	c->ka_waiting = 0;
	evtimer_del(c->ka_pong_timer);
}

static void
on_pong_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct wsev_connection *c = arg;

	(void)fd;
	(void)what;
	enter(c);
	if (c->state == WSEV_STATE_OPEN && c->ka_waiting) {
		c->ka_waiting = 0;
		fail(c, WSEV_CLOSE_POLICY_VIOLATION,
		    "keepalive pong timed out");
		if (!c->free_requested && c->bev)
			move_output(c);
	}
	leave(c);
}

static void
on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct wsev_connection *c = arg;
	char payload[KA_LEN];
	struct timeval tv = { 0, 0 };
	unsigned armed;
	int r;

	(void)fd;
	(void)what;
	if (c->state != WSEV_STATE_OPEN || !c->bev || c->sent_close)
		return;
	enter(c);
	ka_payload(++c->ka_sent, payload);
	/* Ahead of queued data: the ping asks whether the peer is there,
	 * not how long our backlog takes. The application sent nothing:
	 * no "drain" is owed for it. */
	armed = c->drain_armed;
	r = queue_urgent(c, WSEV_OP_PING, payload, KA_LEN);
	c->drain_armed = armed;
	if (r < 0) {
		fail(c, internal_error_code(c),
		    "out of memory queueing a keepalive ping");
	} else if (c->ka_pong_timeout && !c->ka_waiting) {
		if (!c->ka_pong_timer)
			c->ka_pong_timer = evtimer_new(c->base,
			    on_pong_timeout, c);
		if (c->ka_pong_timer) {
			c->ka_waiting = 1;
			c->ka_awaited = c->ka_sent;
			tv.tv_sec = c->ka_pong_timeout;
			evtimer_add(c->ka_pong_timer, &tv);
		}
	}
	if (!c->free_requested && c->bev)
		move_output(c);
	leave(c);
}

static void
keepalive_arm(struct wsev_connection *c)
{
	struct timeval tv = { 0, 0 };

	if (c->ka_interval == 0 || c->state != WSEV_STATE_OPEN) {
		if (c->ka_timer)
			evtimer_del(c->ka_timer);
		return;
	}
	if (!c->ka_timer) {
		c->ka_timer = event_new(c->base, -1, EV_PERSIST, on_keepalive,
		    c);
		if (!c->ka_timer)
			return;
	}
	tv.tv_sec = c->ka_interval;
	evtimer_add(c->ka_timer, &tv);
}

/* ------------------------------------------------------------------ */
/* Input */

static int
handle_control(struct wsev_connection *c, unsigned opcode, uint8_t *p,
    size_t len)
{
	switch (opcode) {
	case WSEV_OP_PING:
		/* §5.5.3: no pong once our close frame is queued. */
		if (!c->sent_close &&
		    queue_urgent(c, WSEV_OP_PONG, p, len) < 0)
			return fail(c, internal_error_code(c),
			    "out of memory queueing a pong");
		return 1;
	case WSEV_OP_PONG:
		keepalive_pong(c, p, len);
		p[len] = '\0';
		if (!c->free_requested && c->cbs.pong)
			c->cbs.pong(c, p, len, c->arg);
		return c->free_requested ? -1 : 1;
	default:
		return handle_close(c, p, len);
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
		return fail(c, WSEV_CLOSE_PROTOCOL_ERROR, why);
	/* §5.1: clients mask every frame, servers none. */
	if (c->type == WSEV_CONNECTION_SERVER && !h.masked)
		return fail(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    "unmasked frame from a client");
	if (c->type == WSEV_CONNECTION_CLIENT && h.masked)
		return fail(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    "masked frame from a server");

	/* RFC 7692 §6: RSV1 marks a compressed message, on its first frame
	 * only; control frames are never compressed (§6.1). */
	if ((h.rsv & 4) && (WSEV_OP_IS_CONTROL(h.opcode) ||
	    h.opcode == WSEV_OP_CONTINUATION))
		return fail(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    WSEV_OP_IS_CONTROL(h.opcode) ?
		    "compressed bit (RSV1) on a control frame" :
		    "compressed bit (RSV1) on a continuation frame");

	if (WSEV_OP_IS_CONTROL(h.opcode)) {
		/* At most 139 bytes: wait until the whole frame is here. */
		if (avail < h.hlen + h.len)
			return 0;
		evbuffer_drain(in, h.hlen);
		if (evbuffer_remove(in, pl, (size_t)h.len) != (ev_ssize_t)h.len)
			return fail(c, internal_error_code(c), "input lost");
		if (h.masked)
			wsev_mask_copy_(pl, pl, (size_t)h.len, h.key, 0);
		return handle_control(c, h.opcode, pl, (size_t)h.len);
	}

	/* §5.4: continuations only inside a message, data frames only
	 * outside one. */
	if (h.opcode == WSEV_OP_CONTINUATION && !c->msg_opcode)
		return fail(c, WSEV_CLOSE_PROTOCOL_ERROR,
		    "continuation frame with no message in progress");
	if (h.opcode != WSEV_OP_CONTINUATION && c->msg_opcode)
		return fail(c, WSEV_CLOSE_PROTOCOL_ERROR,
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
		return fail(c, WSEV_CLOSE_TOO_BIG,
		    "frame payload larger than the maximum");
	/* A limit lowered inside a message applies here, at the next
	 * header: the message so far may already be over it (the
	 * subtraction below must not wrap). A compressed message counts
	 * what it inflated to so far; its frames are checked as they
	 * inflate. */
	if (c->msg_deflated ? (lim = inflate_limit(c)) != 0 &&
	    c->msg_total > lim : c->max_message &&
	    (c->msg_total > c->max_message ||
	    h.len > c->max_message - c->msg_total))
		return fail(c, WSEV_CLOSE_TOO_BIG,
		    "message larger than the maximum");
	if (h.len > SIZE_MAX - 1 - c->msg_total)
		return fail(c, WSEV_CLOSE_TOO_BIG,
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

static int
reserve_msg(struct wsev_connection *c, size_t extra)
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
static void
release_msg(struct wsev_connection *c)
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
	const void *data = empty_payload;

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
		return fail(c, WSEV_CLOSE_BAD_DATA,
		    "text message ends inside a UTF-8 sequence");
	if (c->msg_chunk) {
		if (reserve_msg(c, 0) < 0)
			return fail(c, internal_error_code(c),
			    "out of memory for the message");
		if (emit_chunk(c, 1) < 0)
			return -1;
		c->msg_opcode = 0;
		c->msg_len = 0;
		release_msg(c);
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
	release_msg(c);
	return c->free_requested ? -1 : 1;
}

/* Payload bytes go into the message at dst, from src (which may be dst):
 * unmasked while copied, and text validated as it comes (§8.1: fail as soon
 * as the bytes cannot be UTF-8, not at the end of the message). */
static int
payload_in(struct wsev_connection *c, uint8_t *dst, const uint8_t *src,
    size_t n)
{
	if (c->fh.masked)
		c->mask_off = wsev_mask_copy_(dst, src, n, c->fh.key,
		    c->mask_off);
	else if (dst != src)
		memcpy(dst, src, n);
	if (c->msg_opcode == WSEV_OP_TEXT &&
	    wsev_utf8_feed_(&c->utf8, dst, n) < 0)
		return fail(c, WSEV_CLOSE_BAD_DATA, "text message is not UTF-8");
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
			if (reserve_msg(c, c->msg_chunk - c->msg_len) < 0)
				return fail(c, internal_error_code(c),
				    "out of memory for the message");
			cap = c->msg_chunk - c->msg_len;
		} else {
			if (reserve_msg(c, INFLATE_STEP) < 0)
				return fail(c, WSEV_CLOSE_TOO_BIG,
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
			return fail(c, internal_error_code(c),
			    "out of memory for decompression");
		if (r == WSEV_PMD_ERR_FINALS)
			return fail(c, WSEV_CLOSE_TOO_BIG, "compressed message "
			    "has too many final blocks for its size");
		if (r < 0)
			return fail(c, WSEV_CLOSE_BAD_DATA,
			    "compressed message is not a valid deflate stream");
		if (c->msg_opcode == WSEV_OP_TEXT && wsev_utf8_feed_(&c->utf8,
		    c->msg + c->msg_len, made) < 0)
			return fail(c, WSEV_CLOSE_BAD_DATA,
			    "text message is not UTF-8");
		c->msg_len += made;
		c->msg_total += made;
		if (lim && c->msg_total > lim)
			return fail(c, WSEV_CLOSE_TOO_BIG,
			    "message decompresses to more than the maximum");
		p += used;
		n -= used;
		/* Done once the input is used up and the output was not
		 * filled (zlib has nothing more to give). */
		if (n == 0 && made < cap)
			return 0;
		if (used == 0 && made == 0)
			return fail(c, WSEV_CLOSE_BAD_DATA,
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
			if (reserve_msg(c, c->msg_chunk - c->msg_len) < 0)
				return fail(c, internal_error_code(c),
				    "out of memory for the message");
			k = c->msg_chunk - c->msg_len;
			if (k > n)
				k = n;
			if (payload_in(c, c->msg + c->msg_len, src, k) < 0)
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
static int
frame_done(struct wsev_connection *c)
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
		if (!slow && reserve_msg(c, want) < 0)
			return fail(c, WSEV_CLOSE_TOO_BIG,
			    "out of memory for the message");
		nv = evbuffer_peek(in, (ev_ssize_t)want, NULL, v, 8);
		if (nv > 8)
			nv = 8;
		got = 0;
		for (i = 0; i < nv && got < want; i++) {
			take = v[i].iov_len < want - got ? v[i].iov_len :
			    want - got;
			r = slow ? payload_in_slow(c, v[i].iov_base, take) :
			    payload_in(c, c->msg + c->msg_len, v[i].iov_base,
			    take);
			if (r < 0)
				return -1;
			got += take;
		}
		evbuffer_drain(in, got);
		c->remaining -= got;
	}
	return frame_done(c);
}

static size_t
buffered(const struct wsev_connection *c)
{
	size_t n = c->pending ? evbuffer_get_length(c->pending) : 0;

	return c->bev ? n + out_len(c) : n;
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
	if (!c->max_out || buffered(c) < c->max_out)
		return 0;
	if (!c->read_paused) {
		c->read_paused = 1;
		bufferevent_disable(c->bev, EV_READ);
	}
	return 1;
}

static void
process_input(struct wsev_connection *c)
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

/* Whether the fast path may read now: the connection still parses input. */
static int
reading(const struct wsev_connection *c)
{
	return c->bev && !c->free_requested && c->state != WSEV_STATE_CLOSED &&
	    !c->failed && !c->recv_close && !c->read_paused && !c->eof_seen &&
	    !c->lingering && !c->pending_events;
}

/* The end of the socket's input, as the bufferevent would report it. */
static void
read_ended(struct wsev_connection *c, ev_ssize_t n)
{
	int err = errno;

	if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
		return;
	bufferevent_disable(c->bev, EV_READ);
	c->pending_events |= BEV_EVENT_READING |
	    (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
	c->pending_errno = n == 0 ? 0 : err;
}

/*
 * The fast path's reads (see the top of the file), after the bufferevent's
 * own read came back full. The payload of a frame in progress goes straight
 * into the message buffer; anything else into the bufferevent's input,
 * parsed as usual. Stops at a short read (the socket is empty), at the
 * budget, or when parsing stops.
 */
static void
read_more(struct wsev_connection *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	size_t budget = FAST_READ_BUDGET, want, left;
	ev_ssize_t n;
	int nv, i;

	if (rate_limited(c->bev))
		return;		/* the bufferevent reads, within the limit */
	while (budget > 0 && reading(c)) {
		if (c->in_frame && evbuffer_get_length(in) == 0 &&
		    c->remaining >= BEV_READ_CAP && !c->msg_deflated &&
		    !c->msg_chunk) {
			want = c->remaining < budget ? (size_t)c->remaining :
			    budget;
			if (reserve_msg(c, want) < 0) {
				fail(c, WSEV_CLOSE_TOO_BIG,
				    "out of memory for the message");
				return;
			}
			n = read(fd, c->msg + c->msg_len, want);
			if (n <= 0) {
				read_ended(c, n);
				return;
			}
			if (payload_in(c, c->msg + c->msg_len,
			    c->msg + c->msg_len, (size_t)n) < 0)
				return;
			c->remaining -= (size_t)n;
			if (c->remaining == 0 && frame_done(c) < 0)
				return;
		} else {
			/* The bufferevent keeps its input's end frozen
			 * between its own reads; so do we. */
			evbuffer_unfreeze(in, 0);
			nv = evbuffer_reserve_space(in, FAST_READ_STEP, v, 2);
			if (nv <= 0) {
				evbuffer_freeze(in, 0);
				return;
			}
			want = 0;
			for (i = 0; i < nv; i++) {
				iov[i].iov_base = v[i].iov_base;
				iov[i].iov_len = v[i].iov_len;
				want += v[i].iov_len;
			}
			n = readv(fd, iov, nv);
			left = n > 0 ? (size_t)n : 0;
			for (i = 0; i < nv; i++) {
				if (v[i].iov_len > left)
					v[i].iov_len = left;
				left -= v[i].iov_len;
			}
			if (nv == 2 && v[1].iov_len == 0)
				nv = 1;
			evbuffer_commit_space(in, v, n > 0 ? nv : 0);
			evbuffer_freeze(in, 0);
			if (n <= 0) {
				read_ended(c, n);
				return;
			}
			process_input(c);
		}
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if ((size_t)n < want)
			return;
	}
}

/* ------------------------------------------------------------------ */
/* Events */

static void
transport_failed(struct wsev_connection *c, short what, int sys_errno)
{
	unsigned long e = wsev_tls_error_(c->bev);
	char buf[256];

	c->transport_error = 1;
	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		emit_error(c, WSEV_DOMAIN_TLS, (int)ERR_GET_REASON(e), buf);
	} else if (what & BEV_EVENT_TIMEOUT) {
		emit_error(c, WSEV_DOMAIN_ERRNO, ETIMEDOUT,
		    (what & BEV_EVENT_READING) ? "read timed out" :
		    "write timed out");
	} else if (sys_errno) {
		emit_error(c, WSEV_DOMAIN_ERRNO, sys_errno,
		    evutil_socket_error_to_string(sys_errno));
	} else {
		emit_error(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
		    "connection lost without a close frame");
	}
}

static void
handle_events(struct wsev_connection *c, short what, int sys_errno)
{
	int done = c->failed || (c->sent_close && c->recv_close);

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	if (done && !(what & BEV_EVENT_ERROR) &&
	    (out_len(c) > 0 || c->oq.count > 0)) {
		/* A half-closed peer still reads: let our close frame out
		 * first (bounded by the close timer). */
		c->eof_seen = 1;
		bufferevent_disable(c->bev, EV_READ);
		arm_close_timer(c);
		return;
	}
	if (done) {
		/* The peer closing TCP (even with a reset) after the
		 * handshake is the end we wait for. */
		if (what & BEV_EVENT_ERROR)
			c->transport_error = 1;
	} else if (what & BEV_EVENT_EOF) {
		emit_error(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
		    "connection closed without a close frame");
	} else {
		transport_failed(c, what, sys_errno);
	}
	finish(c);
}

/*
 * After a failure the peer is usually still sending (the rest of a frame we
 * refused). Closing a socket with unread input makes the kernel send a
 * reset, and the peer may lose our close frame with it. So half-close
 * (close_notify on TLS, then a FIN), drop what still arrives, and close on
 * the peer's EOF or after at most LINGER_MS (RFC 6455 §7.1.1).
 */
#define LINGER_MS 1000

static int
linger(struct wsev_connection *c)
{
	evutil_socket_t fd = bufferevent_getfd(lowest(c->bev));
	struct timeval tv = { LINGER_MS / 1000, (LINGER_MS % 1000) * 1000 };
	SSL *ssl;

	if (fd < 0 || !c->timer)
		return -1;	/* pairs and filters over them: close now */
	if ((ssl = find_ssl(c->bev)) != NULL) {
		ERR_set_mark();	/* the application's own errors stay queued */
		SSL_shutdown(ssl);
		ERR_pop_to_mark();
	}
	/* The socket is shut only under its own bufferevent with nothing
	 * queued. A filter passes getfd() through to the socket under it:
	 * what it has queued (the close_notify just made, say) would be
	 * overtaken; the shutdown then waits for the chain to drain. */
	if (c->chain || out_len(c) > 0)
		c->shut_due = 1;
	else if (shutdown(fd, SHUT_WR) < 0)
		return -1;
	c->lingering = 1;
	if (evutil_timercmp(&c->close_timeout, &tv, <))
		tv = c->close_timeout;
	evtimer_del(c->timer);
	evtimer_add(c->timer, &tv);
	bufferevent_enable(c->bev, EV_READ);
	return 0;
}

/*
 * The fast path's writes (see the top of the file): the output goes to the
 * socket now, in one writev(). What the socket does not take arms EV_WRITE,
 * and the bufferevent writes it when it can; a hard error is left for the
 * bufferevent to meet and report as it always does.
 */
static void
flush_direct(struct wsev_connection *c)
{
	struct evbuffer *out;

	if (!c->direct || !c->bev || c->write_armed)
		return;
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0)
		return;
	if (rate_limited(c->bev)) {
		/* The bufferevent writes it, within the limit. */
		c->write_armed = 1;
		bufferevent_enable(c->bev, EV_WRITE);
		return;
	}
	/* The bufferevent keeps its output's front frozen between its own
	 * writes; so do we. */
	evbuffer_unfreeze(out, 1);
	evbuffer_write(out, bufferevent_getfd(c->bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0) {
		c->write_armed = 1;
		bufferevent_enable(c->bev, EV_WRITE);
	}
}

/* Hand pending frames to the transport (and, on the fast path, to the
 * socket) while there is room. */
static void
move_output(struct wsev_connection *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (c->write_armed && evbuffer_get_length(out) == 0) {
		/* The backlog is gone: back to writing at once. */
		c->write_armed = 0;
		bufferevent_disable(c->bev, EV_WRITE);
	}
	for (;;) {
		if (c->oq.count > 0 && out_len(c) < OUT_WINDOW)
			refill_output(c);
		flush_direct(c);
		/* Each turn moves at least one frame, or stops. */
		if (!c->direct || c->write_armed || c->oq.count == 0 ||
		    evbuffer_get_length(out) >= OUT_WINDOW)
			break;
	}
}

static void
check_output(struct wsev_connection *c)
{
	move_output(c);
	/* Drained means the whole chain: under a filter, the socket's
	 * bufferevent too. */
	if (out_len(c) > 0 || c->oq.count > 0)
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
				shutdown(bufferevent_getfd(lowest(c->bev)),
				    SHUT_WR);
			}
			return;
		}
		if (c->failed && !c->eof_seen && !c->lingering &&
		    linger(c) == 0)
			return;
		finish(c);
	}
}

/* Called between enter() and leave(). */
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
	process_input(c);
	if (c->direct && full && c->bev && c->state != WSEV_STATE_CLOSED)
		read_more(c);
	if (c->state == WSEV_STATE_CLOSED || c->free_requested)
		return;
	/* Whatever the input made us send leaves now, in one write. */
	move_output(c);
	if (c->pending_events) {
		what = c->pending_events;
		c->pending_events = 0;
		handle_events(c, what, c->pending_errno);
		return;
	}
	check_output(c);
	/* Resume reading; on the fast path the output may leave at once,
	 * so parsing may pause and resume again here. Each turn consumes
	 * input, so this ends. */
	while (c->read_paused && c->bev && c->state != WSEV_STATE_CLOSED &&
	    !c->free_requested && buffered(c) <= c->max_out / 2) {
		c->read_paused = 0;
		if (!c->eof_seen)
			bufferevent_enable(c->bev, EV_READ);
		process_input(c);
		if (c->state != WSEV_STATE_CLOSED && !c->free_requested &&
		    c->bev)
			move_output(c);
	}
}

static void
on_io(struct bufferevent *bev, void *arg)
{
	struct wsev_connection *c = arg;

	(void)bev;
	if (c->depth > 0) {
		schedule_kick(c);
		return;
	}
	enter(c);
	service(c);
	leave(c);
}

/* The bottom of a filter's chain lost bytes to the socket: once it is
 * empty (or below the window while frames wait), look at the output
 * again from the loop (the filter's own write callback does not come). */
static void
on_low_out(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct wsev_connection *c = arg;
	size_t n;

	if (info->n_deleted == 0 || !c->bev)
		return;
	n = evbuffer_get_length(buf);
	if (n == 0 || (c->oq.count > 0 && n < OUT_WINDOW))
		schedule_kick(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct wsev_connection *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		c->pending_events |= what;
		c->pending_errno = EVUTIL_SOCKET_ERROR();
	}
	on_io(bev, arg);
}

void
wsev_connection_hold_(struct wsev_connection *c)
{
	enter(c);
}

void
wsev_connection_unhold_(struct wsev_connection *c)
{
	leave(c);
}

int
wsev_connection_owns_cb_(void (*cb)(struct bufferevent *, short, void *))
{
	return cb == on_event;
}

/* ------------------------------------------------------------------ */
/* Public API */

static char *
dup_or_null(const char *s, int *failed)
{
	char *d;

	if (!s)
		return NULL;
	d = wsev_strdup_(s);
	if (!d)
		*failed = 1;
	return d;
}

/*
 * A socket bufferevent, with nothing between it and the socket (no TLS, no
 * filter, not a pair): the fast path reads and writes its socket, except
 * while a rate limit is in force (rate_limited(), asked at every read and
 * write).
 */
static int
plain_socket(struct bufferevent *bev)
{
	return bufferevent_getfd(bev) >= 0 &&
	    bufferevent_get_underlying(bev) == NULL &&
	    bufferevent_openssl_get_ssl(bev) == NULL;
}

static struct wsev_connection *
new_connection(struct bufferevent *bev, const char *uri,
    enum wsev_connection_type type, const char *origin, const char *protocol,
    const struct wsev_extensions *ext)
{
	struct wsev_connection *c;
	int failed = 0;

	if (!bev || (type != WSEV_CONNECTION_CLIENT &&
	    type != WSEV_CONNECTION_SERVER))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
#if SPARE_SLOT
	live_conns++;	/* destroy() counts it down */
#endif
	c->base = bufferevent_get_base(bev);
	c->type = type;
	c->state = WSEV_STATE_OPEN;
	c->max_payload = DEFAULT_MAX_PAYLOAD;
	c->max_out = WSEV_DEFAULT_MAX_OUTGOING_BUFFER;
	c->close_timeout.tv_sec = DEFAULT_CLOSE_TIMEOUT_SEC;
	c->origin = dup_or_null(origin, &failed);
	c->protocol = dup_or_null(protocol, &failed);
	if (uri && !(c->uri = evhttp_uri_parse(uri)))
		failed = 1;
	if (ext && ext->deflate) {
		c->ext = *ext;
		c->ext.deflate = 1;
		if (!(c->pmd = wsev_pmd_new_(&c->ext,
		    type == WSEV_CONNECTION_SERVER)))
			failed = 1;
	}
	if (failed) {
		destroy(c);
		return NULL;
	}
	/* Enabling a pair may deliver bytes synchronously: hold the depth so
	 * nothing is serviced from inside new(). */
	c->depth = 1;
	c->bev = bev;
	bufferevent_setcb(bev, on_io, on_io, on_event, c);
	c->direct = plain_socket(bev);
	c->chain = bufferevent_get_underlying(bev) != NULL;
	if (c->chain) {
		c->low_out = bufferevent_get_output(lowest(bev));
		if (!(c->low_cb = evbuffer_add_cb(c->low_out, on_low_out, c)))
			failed = 1;
	}
	/* The fast path enables EV_WRITE only for a backlog: bytes queued
	 * before us (an evhttp 101) are one. */
	c->write_armed = c->direct &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0;
	if (c->direct && !c->write_armed) {
		if (bufferevent_disable(bev, EV_WRITE) < 0 ||
		    bufferevent_enable(bev, EV_READ) < 0)
			failed = 1;
	} else if (bufferevent_enable(bev, EV_READ | EV_WRITE) < 0) {
		failed = 1;
	}
	/* Bytes already received are processed from the loop, once the
	 * caller has had the chance to set the callbacks. */
	if (!failed && evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		schedule_kick(c);
		if (!c->kick)
			failed = 1;
	}
	c->depth = 0;
	if (failed) {
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		unwatch_low(c);
		c->bev = NULL;	/* the caller keeps it */
		destroy(c);
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

const struct wsev_extensions *
wsev_connection_get_extensions(const struct wsev_connection *c)
{
	return &c->ext;
}

void
wsev_connection_set_owner_(struct wsev_connection *c,
    wsev_release_fn_ release, void *arg)
{
	c->release = release;
	c->release_arg = arg;
}

/*
 * The owner frees the transport under us (a server shutting down). If
 * nothing else is queued, a close frame 1001 written straight to the
 * socket tells the peer why (RFC 6455 §7.4.1) instead of a bare drop; the
 * bufferevent's own output would be discarded with it. Best effort.
 */
static int
write_going_away(struct wsev_connection *c, const char *reason)
{
	uint8_t f[4 + WSEV_CONTROL_MAX_PAYLOAD];
	size_t rlen = strlen(reason), n;
	struct bufferevent *low;
	struct evbuffer *out;
	evutil_socket_t fd;
	SSL *ssl;
	ev_ssize_t w;

	if (c->state != WSEV_STATE_OPEN || c->type != WSEV_CONNECTION_SERVER ||
	    c->oq.count > 0 || out_len(c) > 0)
		return -1;
	if (rlen > WSEV_CONTROL_MAX_PAYLOAD - 2)
		rlen = WSEV_CONTROL_MAX_PAYLOAD - 2;
	f[0] = 0x80 | WSEV_OP_CLOSE;
	f[1] = (uint8_t)(2 + rlen);
	f[2] = WSEV_CLOSE_GOING_AWAY >> 8;
	f[3] = WSEV_CLOSE_GOING_AWAY & 0xFF;
	memcpy(f + 4, reason, rlen);
	n = 4 + rlen;
	if (c->chain) {
		/* A filter: the frame goes through it (and its TLS) like any
		 * other, down to a plain socket's bufferevent, whose output is
		 * written now; the transport is freed once we return. The
		 * socket under a filter is never written around it. */
		low = lowest(c->bev);
		if (!plain_socket(low))
			return -1;
		if ((ssl = find_ssl(c->bev)) != NULL) {
			ERR_set_mark();	/* the application's errors stay */
			w = SSL_write(ssl, f, (int)n);
			SSL_shutdown(ssl);
			ERR_pop_to_mark();
		} else {
			w = evbuffer_add(bufferevent_get_output(c->bev), f,
			    n) == 0 ? (ev_ssize_t)n : -1;
			bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
		}
		out = bufferevent_get_output(low);
		evbuffer_unfreeze(out, 1);
		evbuffer_write(out, bufferevent_getfd(low));
		evbuffer_freeze(out, 1);
		if (out_len(c) > 0)
			return -1;
	} else if ((ssl = find_ssl(c->bev)) != NULL) {
		ERR_set_mark();	/* the application's own errors stay queued */
		w = SSL_write(ssl, f, (int)n);
		SSL_shutdown(ssl);
		ERR_pop_to_mark();
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

void
wsev_connection_lose_transport_(struct wsev_connection *c, const char *why)
{
	if (!c->bev)
		return;
	enter(c);
	/* Still valid here; the owner frees it once we return. */
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	if (write_going_away(c, "server shutting down") == 0)
		c->failed = 1;	/* a unilateral end: no error, code 1001 */
	unwatch_low(c);
	c->bev = NULL;
	c->release = NULL;
	if (c->state != WSEV_STATE_CLOSED) {
		if (!c->failed && !(c->sent_close && c->recv_close)) {
			c->transport_error = 1;
			emit_error(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
			    why);
		}
		finish(c);
	}
	leave(c);
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
	destroy(c);
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

struct bufferevent *
wsev_connection_get_bufferevent(const struct wsev_connection *c)
{
	return c->bev;
}

enum wsev_connection_type
wsev_connection_get_connection_type(const struct wsev_connection *c)
{
	return c->type;
}

const struct evhttp_uri *
wsev_connection_get_uri(const struct wsev_connection *c)
{
	return c->uri;
}

const char *
wsev_connection_get_origin(const struct wsev_connection *c)
{
	return c->origin;
}

const char *
wsev_connection_get_protocol(const struct wsev_connection *c)
{
	return c->protocol;
}

enum wsev_state
wsev_connection_get_state(const struct wsev_connection *c)
{
	return c->state;
}

unsigned short
wsev_connection_get_close_code(const struct wsev_connection *c)
{
	return c->close_code;
}

const char *
wsev_connection_get_close_data(const struct wsev_connection *c)
{
	return c->close_data;
}

size_t
wsev_connection_get_buffered_amount(const struct wsev_connection *c)
{
	return buffered(c);
}

size_t
wsev_connection_get_max_outgoing_buffer(const struct wsev_connection *c)
{
	return c->max_out;
}

void
wsev_connection_set_max_outgoing_buffer(struct wsev_connection *c,
    size_t max_size)
{
	c->max_out = max_size;
	/* A raised limit may let a paused reader go on: look again. */
	if (c->read_paused && c->bev)
		schedule_kick(c);
}

uint64_t
wsev_connection_get_max_incoming_payload_size(const struct wsev_connection *c)
{
	return c->max_payload;
}

void
wsev_connection_set_max_incoming_payload_size(struct wsev_connection *c,
    uint64_t max_size)
{
	c->max_payload = max_size;
}

uint64_t
wsev_connection_get_max_incoming_message_size(const struct wsev_connection *c)
{
	return c->max_message;
}

void
wsev_connection_set_max_incoming_message_size(struct wsev_connection *c,
    uint64_t max_size)
{
	c->max_message = max_size;
}

void
wsev_connection_set_close_timeout(struct wsev_connection *c,
    const struct timeval *tv)
{
	if (tv) {
		c->close_timeout = *tv;
	} else {
		c->close_timeout.tv_sec = DEFAULT_CLOSE_TIMEOUT_SEC;
		c->close_timeout.tv_usec = 0;
	}
}

void
wsev_connection_get_close_timeout(const struct wsev_connection *c,
    struct timeval *tv)
{
	*tv = c->close_timeout;
}

void
wsev_connection_set_keepalive_interval(struct wsev_connection *c,
    unsigned seconds)
{
	c->ka_interval = seconds;
	if (!seconds && c->ka_waiting) {
		/* No keepalive, so no pong to wait for either. */
		c->ka_waiting = 0;
		evtimer_del(c->ka_pong_timer);
	}
	keepalive_arm(c);
}

unsigned
wsev_connection_get_keepalive_interval(const struct wsev_connection *c)
{
	return c->ka_interval;
}

void
wsev_connection_set_keepalive_pong_timeout(struct wsev_connection *c,
    unsigned seconds)
{
	c->ka_pong_timeout = seconds;
	if (!seconds && c->ka_waiting) {
		c->ka_waiting = 0;
		evtimer_del(c->ka_pong_timer);
	}
}

unsigned
wsev_connection_get_keepalive_pong_timeout(const struct wsev_connection *c)
{
	return c->ka_pong_timeout;
}

void
wsev_connection_options_init(struct wsev_connection_options *o)
{
	memset(o, 0, sizeof(*o));
	o->max_incoming_payload_size = DEFAULT_MAX_PAYLOAD;
	o->max_outgoing_buffer = WSEV_DEFAULT_MAX_OUTGOING_BUFFER;
	o->deflate.enabled = 1;
	o->deflate.level = -1;
	o->deflate.mem_level = 8;
}

void
wsev_connection_set_options(struct wsev_connection *c,
    const struct wsev_connection_options *o)
{
	if (!o)
		return;
	wsev_connection_set_max_incoming_payload_size(c,
	    o->max_incoming_payload_size);
	wsev_connection_set_max_incoming_message_size(c,
	    o->max_incoming_message_size);
	wsev_connection_set_max_outgoing_buffer(c, o->max_outgoing_buffer);
	wsev_connection_set_close_timeout(c, o->close_timeout);
	wsev_connection_set_keepalive_pong_timeout(c, o->keepalive_pong_timeout);
	wsev_connection_set_keepalive_interval(c, o->keepalive_interval);
}

int
wsev_connection_set_chunk_size(struct wsev_connection *c, size_t chunk_size)
{
	if (chunk_size > 0 && chunk_size < 4)
		return -1;
	c->chunk_size = chunk_size;
	return 0;
}

size_t
wsev_connection_get_chunk_size(const struct wsev_connection *c)
{
	return c->chunk_size;
}

static int
sendable(const struct wsev_connection *c)
{
	return c && c->state == WSEV_STATE_OPEN && !c->free_requested;
}

/* Whether a frame of n more bytes would take what we buffer past the
 * limit. A frame sent while nothing is buffered always goes, whatever its
 * size. */
static int
over_limit(const struct wsev_connection *c, size_t n)
{
	size_t have = buffered(c);

	return c->max_out && have > 0 && (have >= c->max_out ||
	    n > c->max_out - have);
}

/*
 * Queue one frame of a message: compressed first when @p deflate (then
 * RSV1 marks the first frame, @p end the message's end). A compressor whose
 * output is lost is out of step with the peer's decompressor for good, so
 * any failure after compressing fails the connection.
 */
static int
send_frame(struct wsev_connection *c, unsigned b0, const struct iovec *v,
    int nv, int deflate, int end)
{
	const uint8_t *p = v[0].iov_base;
	size_t n = v[0].iov_len, hl;

	if (deflate && wsev_pmd_compress_(c->pmd, v, nv, end, &p, &n) < 0)
		return fail(c, internal_error_code(c),
		    "out of memory compressing a message");
	hl = wsev_frame_header_size_(n, c->type == WSEV_CONNECTION_CLIENT);
	if (over_limit(c, n > SIZE_MAX - hl ? SIZE_MAX : n + hl))
		return fail(c, WSEV_CLOSE_POLICY_VIOLATION,
		    "outgoing buffer full: the peer is not reading");
	if (queue_frame(c, b0, p, n) < 0)
		return deflate ? fail(c, internal_error_code(c),
		    "out of memory queueing a compressed message") : -1;
	return 0;
}

/* After a send: outside our own callbacks (which write when they end),
 * the fast path writes now; a drain callback is then due from the loop. */
static void
sent_now(struct wsev_connection *c)
{
	if (c->depth == 1 && c->direct && !c->write_armed && c->bev) {
		move_output(c);
		if (c->cbs.drain && buffered(c) == 0)
			schedule_kick(c);
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

	if (!sendable(c) || (!data && len) || (c->out_opcode && !control))
		return -1;
	v.iov_base = (void *)(uintptr_t)(data ? data : empty_payload);
	v.iov_len = len;
	enter(c);
	rv = send_frame(c, FINAL(opcode) | (!control && compressing(c) ?
	    B0_RSV1 : 0), &v, 1, !control && compressing(c), 1);
	if (rv == 0)
		sent_now(c);
	leave(c);
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

	if (!sendable(c) || !opcode || (!data && len) ||
	    (c->out_opcode && c->out_opcode != opcode))
		return -1;
	first = !c->out_opcode;
	u = c->out_utf8;
	if (opcode == WSEV_OP_TEXT) {
		if (first)
			wsev_utf8_init_(&u);
		if (wsev_utf8_feed_(&u, data, len) < 0 ||
		    (final && !wsev_utf8_complete_(&u)))
			return -1;
	}
	deflate = first ? compressing(c) : c->out_deflated;
	b0 = (final ? B0_FIN : 0) | (first ? opcode : WSEV_OP_CONTINUATION) |
	    (first && deflate ? B0_RSV1 : 0);
	v.iov_base = (void *)(uintptr_t)(data ? data : empty_payload);
	v.iov_len = len;
	enter(c);
	rv = send_frame(c, b0, &v, 1, deflate, final);
	if (rv == 0) {
		c->out_utf8 = u;
		c->out_opcode = final ? 0 : opcode;
		c->out_deflated = deflate;
		sent_now(c);
	}
	leave(c);
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

	hlen = wsev_frame_write_header_(hdr, b0 >> 7, (b0 >> 4) & 7, b0 & 0xF,
	    len, NULL);
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

	if (!sendable(c) || !opcode || !buf || c->out_opcode)
		return -1;
	len = evbuffer_get_length(buf);
	/* The chains are looked at only to check text or to compress. */
	nv = opcode == WSEV_OP_TEXT || compressing(c) ?
	    buffer_iovecs(buf, local, 8, &v) : 0;
	if (nv < 0)
		return -1;
	if (opcode == WSEV_OP_TEXT) {
		wsev_utf8_init_(&u);
		for (i = 0; i < nv; i++)
			if (wsev_utf8_feed_(&u, v[i].iov_base,
			    v[i].iov_len) < 0)
				break;
		if (i < nv || !wsev_utf8_complete_(&u)) {
			if (v != local)
				free(v);
			return -1;
		}
	}
	enter(c);
	if (compressing(c)) {
		/* zlib reads the chains in place. */
		one.iov_base = (void *)(uintptr_t)empty_payload;
		one.iov_len = 0;
		rv = send_frame(c, FINAL(opcode) | B0_RSV1, nv ? v : &one,
		    nv ? nv : 1, 1, 1);
	} else if (c->type == WSEV_CONNECTION_SERVER) {
		hl = wsev_frame_header_size_(len, 0);
		if (over_limit(c, len > SIZE_MAX - hl ? SIZE_MAX : len + hl))
			rv = fail(c, WSEV_CLOSE_POLICY_VIOLATION,
			    "outgoing buffer full: the peer is not reading");
		else
			rv = queue_buffer(c, FINAL(opcode), buf);
	} else {
		/* A client masks while copying, from one piece. */
		one.iov_base = len ? evbuffer_pullup(buf, -1) :
		    (void *)(uintptr_t)empty_payload;
		one.iov_len = len;
		rv = !one.iov_base ? -1 : send_frame(c, FINAL(opcode), &one, 1,
		    0, 1);
	}
	if (v != local)
		free(v);
	if (rv == 0) {
		/* Moved chains are gone already; copied ones go now. */
		evbuffer_drain(buf, evbuffer_get_length(buf));
		sent_now(c);
	}
	leave(c);
	return rv;
}

int
wsev_connection_send_text(struct wsev_connection *c, const char *text)
{
	size_t len;

	if (!text)
		return -1;
	len = strlen(text);
	if (!wsev_utf8_valid_(text, len))
		return -1;
	return send_message(c, WSEV_OP_TEXT, text, len);
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
	if (type == WSEV_DATA_BINARY)
		return send_message(c, WSEV_OP_BINARY, data, length);
	if (type != WSEV_DATA_TEXT || (!data && length) ||
	    (length && !wsev_utf8_valid_(data, length)))
		return -1;
	return send_message(c, WSEV_OP_TEXT, data, length);
}

int
wsev_connection_send_ping(struct wsev_connection *c, const void *data,
    size_t len)
{
	if (len > WSEV_CONTROL_MAX_PAYLOAD)
		return -1;
	return send_message(c, WSEV_OP_PING, data, len);
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

	if (!c || c->state != WSEV_STATE_OPEN || c->free_requested)
		return -1;
	if (code == 0 || code == WSEV_CLOSE_NO_STATUS) {
		if (rlen)
			return -1;
	} else if (!close_code_sendable(c, code) ||
	    rlen > WSEV_CONTROL_MAX_PAYLOAD - 2 ||
	    !wsev_utf8_valid_(data ? data : "", rlen)) {
		return -1;
	}
	enter(c);
	c->state = WSEV_STATE_CLOSING;
	c->sent_close = 1;
	if (queue_close(c, code, data, rlen) < 0) {
		/* Out of memory: no frame to wait for, end it now. */
		emit_error(c, WSEV_DOMAIN_WEBSOCKET, WSEV_CLOSE_ABNORMAL,
		    "out of memory queueing the close frame");
		finish(c);
	} else {
		arm_close_timer(c);
		emit_closing(c);
	}
	leave(c);
	return 0;
}
