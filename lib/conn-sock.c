/*
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
 * we could not charge), it does all the reading and writing
 * (sock_rate_limited(), asked before each of ours).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "conn.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

/* The fast path's reads: what one read() asks for, and how much one
 * callback reads at most before it lets other connections run. A read that
 * comes back with EVBUFFER_MAX_READ (4096) bytes may have left more. */
#define FAST_READ_STEP 65536
#define FAST_READ_BUDGET (1024 * 1024)

/* A server's frames from this size up are written from the caller's
 * memory even inside a callback batch (see sock_send_now()). */
#define DIRECT_SEND_MIN 16384

static int sock_flush(struct wsev_connection *c);

/*
 * Whether libevent rate-limits the bufferevent now: a limit of its own or
 * a group's, set before or after the connection was made. The fast path
 * then leaves the reading and writing to the bufferevent, which charges
 * the buckets (a group cannot be charged from outside, nor even seen:
 * bufferevent_get_max_to_read/write() are bounded by the largest single
 * read/write, lifted here for the look). A few calls, no syscall.
 */
static int
sock_rate_limited(struct bufferevent *bev)
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
 * A large frame of a server goes to the socket straight from the caller's
 * memory, header and payload in one writev(), once what was queued before
 * it has left: no copy, and no output buffer to allocate (and fault in)
 * for it. So does any frame sent from outside this connection's callbacks
 * (depth 1: the send's own enter), which would be written at once anyway:
 * a broadcast then costs one writev() per peer and no buffer. What the
 * socket does not take is copied into the output and left to the
 * bufferevent. Returns as wsev_conn_io_::send_now.
 */
static int
sock_send_now(struct wsev_connection *c, unsigned b0, const void *data,
    size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t hdr[WSEV_FRAME_MAX_HEADER];
	struct iovec iov[2];
	size_t hlen, done;
	ev_ssize_t n;

	if (c->type != WSEV_CONNECTION_SERVER || c->write_armed ||
	    (len < DIRECT_SEND_MIN && c->depth != 1))
		return 1;
	sock_flush(c);
	if (c->write_armed || evbuffer_get_length(out) > 0 ||
	    sock_rate_limited(c->bev))
		return 1;
	hlen = wsev_frame_write_header_(hdr, b0, len, NULL);
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

/* Whether the fast path may read now: the connection still parses input. */
static int
sock_reading(const struct wsev_connection *c)
{
	return c->bev && !c->free_requested && c->state != WSEV_STATE_CLOSED &&
	    !c->failed && !c->recv_close && !c->read_paused && !c->eof_seen &&
	    !c->lingering && !c->pending_events;
}

/* The end of the socket's input, as the bufferevent would report it. */
static void
sock_read_ended(struct wsev_connection *c, ev_ssize_t n)
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
sock_read_on(struct wsev_connection *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	size_t budget = FAST_READ_BUDGET, want, left;
	ev_ssize_t n;
	int nv, i;

	if (sock_rate_limited(c->bev))
		return;		/* the bufferevent reads, within the limit */
	while (budget > 0 && sock_reading(c)) {
		if (c->in_frame && evbuffer_get_length(in) == 0 &&
		    c->remaining >= BEV_READ_CAP && !c->msg_deflated &&
		    !c->msg_chunk) {
			want = c->remaining < budget ? (size_t)c->remaining :
			    budget;
			if (wsev_conn_reserve_msg_(c, want) < 0) {
				wsev_conn_fail_(c, WSEV_CLOSE_TOO_BIG,
				    "out of memory for the message");
				return;
			}
			n = read(fd, c->msg + c->msg_len, want);
			if (n <= 0) {
				sock_read_ended(c, n);
				return;
			}
			if (wsev_conn_payload_in_(c, c->msg + c->msg_len,
			    c->msg + c->msg_len, (size_t)n) < 0)
				return;
			c->remaining -= (size_t)n;
			if (c->remaining == 0 && wsev_conn_frame_done_(c) < 0)
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
				sock_read_ended(c, n);
				return;
			}
			wsev_conn_process_input_(c);
		}
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if ((size_t)n < want)
			return;
	}
}

/*
 * The fast path's writes (see the top of the file): the output goes to the
 * socket now, in one writev(). What the socket does not take arms EV_WRITE,
 * and the bufferevent writes it when it can; a hard error is left for the
 * bufferevent to meet and report as it always does.
 */
static int
sock_flush(struct wsev_connection *c)
{
	struct evbuffer *out;

	if (!c->bev || c->write_armed)
		return 0;
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0)
		return 1;
	if (sock_rate_limited(c->bev)) {
		/* The bufferevent writes it, within the limit. */
		c->write_armed = 1;
		bufferevent_enable(c->bev, EV_WRITE);
		return 0;
	}
	/* The bufferevent keeps its output's front frozen between its own
	 * writes; so do we. */
	evbuffer_unfreeze(out, 1);
	evbuffer_write(out, bufferevent_getfd(c->bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0) {
		c->write_armed = 1;
		bufferevent_enable(c->bev, EV_WRITE);
		return 0;
	}
	return 1;
}

/* The backlog the bufferevent was writing is gone: back to writing at
 * once. */
static void
sock_resume(struct wsev_connection *c)
{
	if (c->write_armed &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		c->write_armed = 0;
		bufferevent_disable(c->bev, EV_WRITE);
	}
}

static int
sock_writes_now(const struct wsev_connection *c)
{
	return !c->write_armed;
}

/* EV_WRITE is enabled only for a backlog: bytes queued before us (an
 * evhttp 101) are one. */
static int
sock_start(struct wsev_connection *c)
{
	c->write_armed = evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    0;
	if (c->write_armed)
		return bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_disable(c->bev, EV_WRITE) < 0)
		return -1;
	return bufferevent_enable(c->bev, EV_READ);
}

const struct wsev_conn_io_ wsev_conn_io_sock_ = {
	sock_start, sock_read_on, sock_send_now, sock_resume, sock_flush,
	sock_writes_now
};

/*
 * A socket bufferevent, with nothing between it and the socket (no TLS, no
 * filter, not a pair): the fast path reads and writes its socket, except
 * while a rate limit is in force (sock_rate_limited(), asked
 * at every read and write).
 */
int
wsev_conn_sock_usable_(struct bufferevent *bev)
{
	return bufferevent_getfd(bev) >= 0 &&
	    bufferevent_get_underlying(bev) == NULL &&
	    bufferevent_openssl_get_ssl(bev) == NULL;
}
