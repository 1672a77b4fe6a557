/*
 * echo-raw-ev: a TCP echo server on plain libevent events, no bufferevent
 * and no WebSocket: the benchmark's ceiling for what a libevent server can
 * do per CPU second.
 *
 *   echo-raw-ev --port N [--broadcast]
 *
 * Listens on 127.0.0.1:N, single-threaded. Each connection has one event.
 * Bytes are read into one shared 256 KiB buffer and sent straight back;
 * what the socket does not take is kept in a per-connection buffer, and
 * the connection stops reading until that has drained (then the buffer is
 * freed). With --broadcast what is read is sent to every connection, the
 * sender included; a connection with bytes waiting gets the new ones
 * appended behind them. No TLS: --tls is refused. SIGTERM or SIGINT ends
 * the loop; everything is freed and the exit status is 0.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "bench-main.h"

struct conn {
	struct conn *next, *prev;
	struct event *ev;	/* EV_READ, or EV_WRITE while out is not empty */
	evutil_socket_t fd;
	char *out;		/* bytes the socket did not take yet */
	size_t off, len, cap;	/* out[off..len) is still to send */
};

static struct conn *conns;	/* a doubly linked list of every connection */
static struct bench_server srv = { .name = "echo-raw-ev" };	/* no TLS */
static char buf[256 * 1024];	/* shared by every read */

static void on_io(evutil_socket_t fd, short what, void *arg);

static void
conn_free(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	event_free(c->ev);
	evutil_closesocket(c->fd);
	free(c->out);
	free(c);
}

/* Wait for @p what (EV_READ or EV_WRITE) on the connection from now on. */
static int
conn_wait(struct conn *c, short what)
{
	if (event_del(c->ev) != 0 ||
	    event_assign(c->ev, srv.base, c->fd, what | EV_PERSIST, on_io,
	    c) != 0)
		return -1;
	return event_add(c->ev, NULL);
}

/* Send what the socket takes now; -1 if the connection is broken. */
static ev_ssize_t
send_some(struct conn *c, const char *data, size_t len)
{
	ev_ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

	if (n >= 0)
		return n;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ?
	    0 : -1;
}

/*
 * Send @p data after anything already waiting; keep the rest and switch to
 * waiting for EV_WRITE. -1 if the connection is broken (not freed here).
 */
static int
conn_send(struct conn *c, const char *data, size_t len)
{
	ev_ssize_t n = 0;
	size_t cap;
	char *p;

	if (c->len == 0 && (n = send_some(c, data, len)) < 0)
		return -1;
	if ((size_t)n == len)
		return 0;
	data += n;
	len -= (size_t)n;
	if (c->len + len > c->cap) {
		cap = c->cap ? c->cap : 64 * 1024;
		while (cap < c->len + len)
			cap *= 2;
		if (!(p = realloc(c->out, cap)))
			return -1;
		c->out = p;
		c->cap = cap;
	}
	memcpy(c->out + c->len, data, len);
	if (c->len == 0 && conn_wait(c, EV_WRITE) != 0)
		return -1;
	c->len += len;
	return 0;
}

static void
on_readable(struct conn *c)
{
	struct conn *to, *next;
	ev_ssize_t n;
	int failed = 0;

	n = recv(c->fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	if (!srv.opts.broadcast) {
		if (conn_send(c, buf, (size_t)n) != 0)
			conn_free(c);
		return;
	}
	for (to = conns; to; to = next) {
		next = to->next;
		if (conn_send(to, buf, (size_t)n) != 0) {
			if (to == c)
				failed = 1;
			else
				conn_free(to);
		}
	}
	if (failed)
		conn_free(c);
}

static void
on_writable(struct conn *c)
{
	ev_ssize_t n = send_some(c, c->out + c->off, c->len - c->off);

	if (n < 0) {
		conn_free(c);
		return;
	}
	c->off += (size_t)n;
	if (c->off < c->len)
		return;
	/* Drained: give the memory back and read again. */
	free(c->out);
	c->out = NULL;
	c->off = c->len = c->cap = 0;
	if (conn_wait(c, EV_READ) != 0)
		conn_free(c);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	if (what & EV_READ)
		on_readable(arg);
	else if (what & EV_WRITE)
		on_writable(arg);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct conn *c;
	int one = 1;

	(void)lev;
	(void)sa;
	(void)salen;
	(void)arg;
	/* evconnlistener made the socket non-blocking. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    !(c = calloc(1, sizeof(*c)))) {
		evutil_closesocket(fd);
		return;
	}
	c->fd = fd;
	c->ev = event_new(srv.base, fd, EV_READ | EV_PERSIST, on_io, c);
	if (!c->ev || event_add(c->ev, NULL) != 0) {
		if (c->ev)
			event_free(c->ev);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
}

int
main(int argc, char **argv)
{
	struct evconnlistener *lev;
	int status;

	if ((status = bench_server_init(&srv, argc, argv)) != 0)
		return status;
	lev = bench_server_listen(&srv, on_accept, NULL);
	status = lev ? bench_server_run(&srv) : 1;
	while (conns)
		conn_free(conns);
	if (lev)
		evconnlistener_free(lev);
	bench_server_free(&srv);
	return status;
}
