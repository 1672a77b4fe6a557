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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

/* As the peers: wsload opens connections 256 at a time. */
#define BACKLOG 4096

struct conn {
	struct conn *next, *prev;
	struct event *ev;	/* EV_READ, or EV_WRITE while out is not empty */
	evutil_socket_t fd;
	char *out;		/* bytes the socket did not take yet */
	size_t off, len, cap;	/* out[off..len) is still to send */
};

static struct conn *conns;	/* a doubly linked list of every connection */
static struct event_base *base;
static int broadcast;
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
	    event_assign(c->ev, base, c->fd, what | EV_PERSIST, on_io, c) != 0)
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
	if (!broadcast) {
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
	if (!(c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_io, c)) ||
	    event_add(c->ev, NULL) != 0) {
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

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

static int
usage(void)
{
	fprintf(stderr, "usage: echo-raw-ev --port N [--broadcast]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct event *sigint = NULL, *sigterm = NULL;
	struct evconnlistener *lev = NULL;
	struct sockaddr_in sin;
	int port = -1, i, status = 1;
	char *end;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = (int)strtol(argv[++i], &end, 10);
			if (*end || port < 0 || port > 65535)
				return usage();
		} else if (!strcmp(argv[i], "--broadcast")) {
			broadcast = 1;
		} else {
			return usage();
		}
	}
	if (port < 0)
		return usage();
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("echo-raw-ev: signal");
		return 1;
	}
	if (!(base = event_base_new())) {
		fprintf(stderr, "echo-raw-ev: cannot create the event base\n");
		return 1;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)port);
	lev = evconnlistener_new_bind(base, on_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, BACKLOG,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (!lev) {
		fprintf(stderr, "echo-raw-ev: cannot listen on 127.0.0.1:%d\n",
		    port);
		goto out;
	}
	sigint = evsignal_new(base, SIGINT, on_signal, NULL);
	sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sigterm, NULL) != 0) {
		fprintf(stderr, "echo-raw-ev: cannot watch signals\n");
		goto out;
	}
	if (event_base_dispatch(base) < 0) {
		fprintf(stderr, "echo-raw-ev: event loop failed\n");
		goto out;
	}
	status = 0;
out:
	while (conns)
		conn_free(conns);
	if (lev)
		evconnlistener_free(lev);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	event_base_free(base);
	return status;
}
