/*
 * echo-wslay: the wslay echo server of the benchmark. wslay is a frame
 * codec with an event layer and no I/O nor handshake of its own, so this is
 * what a wslay user writes around it: an epoll loop over non-blocking
 * sockets, a minimal HTTP Upgrade handshake (RFC 6455 §4.2), and wslay's
 * callbacks reading and writing the socket. Every message is queued back
 * with its opcode from on_msg_recv_callback.
 *
 *   echo-wslay --port N [--broadcast]
 *
 * Listens on 127.0.0.1:N, single-threaded. With --broadcast every message
 * received on any connection is queued on every open connection, the sender
 * included. SIGTERM or SIGINT ends the loop; everything is freed and the
 * exit status is 0.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#define _GNU_SOURCE	/* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <wslay/wslay.h>

#include "../servers/bench-opts.h"

/* The load generator sends messages of up to 16 MiB; wslay's default is
 * 2 GiB, which no benchmark peer should hold. */
#define MAX_PAYLOAD (64u * 1024 * 1024)
#define MAX_REQUEST 8192	/* the handshake request, headers included */

struct conn {
	int fd;
	wslay_event_context_ptr ctx;	/* NULL until the handshake is done */
	/* The request; after the handshake, the bytes that followed it,
	 * which wslay reads before the socket's. */
	char req[MAX_REQUEST];
	size_t req_len, req_off;
	char reply[256];		/* the 101, until it has left */
	size_t reply_len, reply_off;
	uint32_t events;		/* what epoll watches */
	int dead;			/* to be closed after this round */
	int dirty;			/* on the dirty list */
	struct conn *next_dirty;
	struct conn *next, *prev;	/* every connection */
};

static struct bench_opts opts;	/* --port N [--broadcast] */
static int epfd = -1;
static struct conn *conns;
static struct conn *dirty;	/* to look at once the events are handled */

/* Tags of the two fds that are not connections. */
static char listener_tag, signal_tag;

static void
mark(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		c->next_dirty = dirty;
		dirty = c;
	}
}

static void
conn_free(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->fd);	/* leaves the epoll set too */
	if (c->ctx)
		wslay_event_context_free(c->ctx);
	free(c);
}

static ssize_t
recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	(void)flags;
	if (c->req_off < c->req_len) {
		n = (ssize_t)(c->req_len - c->req_off);
		if ((size_t)n > len)
			n = (ssize_t)len;
		memcpy(buf, c->req + c->req_off, (size_t)n);
		c->req_off += (size_t)n;
		return n;
	}
	do
		n = recv(c->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t
send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct conn *c = arg;
	int sflags = MSG_NOSIGNAL;
	ssize_t n;

	/* The header comes on its own, the payload right after. */
	if (flags & WSLAY_MSG_MORE)
		sflags |= MSG_MORE;
	do
		n = send(c->fd, data, len, sflags);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static void
on_msg_recv(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct wslay_event_msg msg;
	struct conn *c = user, *o;

	/* wslay answers pings and closes itself. */
	if (wslay_is_ctrl_frame(arg->opcode))
		return;
	msg.opcode = arg->opcode;
	msg.msg = arg->msg;
	msg.msg_length = arg->msg_length;
	if (!opts.broadcast) {
		/* WSLAY_ERR_NO_MORE_MSG once a close is queued: nothing to
		 * send then. Out of memory: give up the connection. */
		if (wslay_event_queue_msg(ctx, &msg) == WSLAY_ERR_NOMEM)
			c->dead = 1;
		return;
	}
	for (o = conns; o; o = o->next) {
		if (!o->ctx || o->dead)
			continue;
		if (wslay_event_queue_msg(o->ctx, &msg) == WSLAY_ERR_NOMEM)
			o->dead = 1;
		mark(o);
	}
}

static const struct wslay_event_callbacks callbacks = {
	.recv_callback = recv_cb,
	.send_callback = send_cb,
	/* genmask_callback: only clients mask (RFC 6455 §5.1). */
	.on_msg_recv_callback = on_msg_recv,
};

/* The value of header @p name in the request's header lines, or NULL. */
static const char *
header(char *lines, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	char *p, *end;

	for (p = lines; (end = strstr(p, "\r\n")) && end != p; p = end + 2) {
		if ((size_t)(end - p) <= nlen || p[nlen] != ':' ||
		    strncasecmp(p, name, nlen) != 0)
			continue;
		p += nlen + 1;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*len = (size_t)(end - p);
		return p;
	}
	return NULL;
}

/*
 * RFC 6455 §4.2.2: answers a complete request with 101 and the accept key,
 * or with 400. Subprotocols and extensions asked for are not taken up.
 */
static void
handshake(struct conn *c, size_t head_len)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
	    "Connection: close\r\nContent-Length: 0\r\n\r\n";
	unsigned char digest[SHA_DIGEST_LENGTH], accept[32];
	char keyguid[128], *lines;
	const char *key, *v;
	size_t klen, vlen;

	c->req[head_len - 2] = '\0';	/* keep the last header's CRLF */
	lines = strstr(c->req, "\r\n");
	if (strncmp(c->req, "GET ", 4) != 0 || !lines ||
	    !(key = header(lines + 2, "Sec-WebSocket-Key", &klen)) ||
	    klen != 24 ||
	    !(v = header(lines + 2, "Upgrade", &vlen)) ||
	    vlen != 9 || strncasecmp(v, "websocket", 9) != 0 ||
	    !(v = header(lines + 2, "Sec-WebSocket-Version", &vlen)) ||
	    vlen != 2 || strncmp(v, "13", 2) != 0) {
		/* Best effort: the connection ends either way. */
		(void)send(c->fd, bad, sizeof(bad) - 1, MSG_NOSIGNAL);
		c->dead = 1;
		return;
	}
	memcpy(keyguid, key, klen);
	memcpy(keyguid + klen, guid, sizeof(guid) - 1);
	SHA1((unsigned char *)keyguid, klen + sizeof(guid) - 1, digest);
	EVP_EncodeBlock(accept, digest, sizeof(digest));
	c->reply_len = (size_t)snprintf(c->reply, sizeof(c->reply),
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	if (wslay_event_context_server_init(&c->ctx, &callbacks, c) != 0) {
		c->ctx = NULL;
		c->dead = 1;
		return;
	}
	wslay_event_config_set_max_recv_msg_length(c->ctx, MAX_PAYLOAD);
	/* A client may send frames right behind its request. */
	c->req_off = head_len;
	if (wslay_event_recv(c->ctx) != 0)
		c->dead = 1;
}

static void
on_readable(struct conn *c)
{
	char *end;
	ssize_t n;

	if (c->ctx) {
		if (wslay_event_recv(c->ctx) != 0)
			c->dead = 1;
		return;
	}
	for (;;) {
		n = recv(c->fd, c->req + c->req_len,
		    sizeof(c->req) - 1 - c->req_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			c->dead = 1;
			return;
		}
		c->req_len += (size_t)n;
		c->req[c->req_len] = '\0';
		if ((end = strstr(c->req, "\r\n\r\n"))) {
			handshake(c, (size_t)(end + 4 - c->req));
			return;
		}
		if (c->req_len == sizeof(c->req) - 1) {
			c->dead = 1;	/* headers too long */
			return;
		}
	}
}

/* After a round of events: write what can go, close what is done, and
 * watch for what the connection waits for now. */
static void
update(struct conn *c)
{
	struct epoll_event ev;
	int want_read, want_write;
	ssize_t n;

	if (c->dead)
		goto close;
	while (c->reply_off < c->reply_len) {
		n = send(c->fd, c->reply + c->reply_off,
		    c->reply_len - c->reply_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			goto close;
		c->reply_off += (size_t)n;
	}
	if (c->ctx && c->reply_off == c->reply_len &&
	    wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0)
		goto close;
	want_read = !c->ctx || wslay_event_want_read(c->ctx);
	want_write = c->reply_off < c->reply_len ||
	    (c->ctx && wslay_event_want_write(c->ctx));
	if (!want_read && !want_write)
		goto close;	/* the closing handshake is over */
	ev.events = (want_read ? EPOLLIN : 0) | (want_write ? EPOLLOUT : 0);
	if (ev.events != c->events) {
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
			goto close;
		c->events = ev.events;
	}
	return;
close:
	conn_free(c);
}

static void
on_accept(int lfd)
{
	struct epoll_event ev;
	struct conn *c;
	int fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		/* Small messages go out at once, not after Nagle's timer. */
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one)) != 0 || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->events = ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
	}
	/* EAGAIN: all taken. Anything else (EMFILE, ...): the next round
	 * tries again. */
}

int
main(int argc, char **argv)
{
	struct epoll_event ev, events[64];
	struct sockaddr_in sin;
	struct conn *c;
	sigset_t mask;
	int lfd = -1, sfd = -1, one = 1, i, n, stop = 0, status;

	status = bench_opts_parse(&opts, "echo-wslay", 0, argc, argv);
	if (status != 0)
		return status;
	status = 1;	/* until the loop ends */

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		perror("echo-wslay: signalfd");
		goto out;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)opts.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(lfd, SOMAXCONN) != 0) {
		fprintf(stderr, "echo-wslay: cannot listen on 127.0.0.1:%d: "
		    "%s\n", opts.port, strerror(errno));
		goto out;
	}
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("echo-wslay: epoll_create1");
		goto out;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &listener_tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) != 0) {
		perror("echo-wslay: epoll_ctl");
		goto out;
	}
	ev.data.ptr = &signal_tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) != 0) {
		perror("echo-wslay: epoll_ctl");
		goto out;
	}

	while (!stop) {
		n = epoll_wait(epfd, events, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("echo-wslay: epoll_wait");
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (events[i].data.ptr == &listener_tag) {
				on_accept(lfd);
				continue;
			}
			if (events[i].data.ptr == &signal_tag) {
				stop = 1;
				continue;
			}
			c = events[i].data.ptr;
			/* An error or hang-up shows in the next read or
			 * write. */
			if (!c->dead && (events[i].events &
			    (EPOLLIN | EPOLLHUP | EPOLLERR)))
				on_readable(c);
			mark(c);	/* EPOLLOUT: update() writes */
		}
		/* Connections are freed only here, so no event of this
		 * round can point to a freed one. */
		while ((c = dirty)) {
			dirty = c->next_dirty;
			c->dirty = 0;
			update(c);
		}
	}
	status = 0;
out:
	while (conns)
		conn_free(conns);
	if (epfd >= 0)
		close(epfd);
	if (lfd >= 0)
		close(lfd);
	if (sfd >= 0)
		close(sfd);
	return status;
}
