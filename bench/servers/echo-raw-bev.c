/*
 * echo-raw-bev: a TCP echo server on libevent bufferevents, no WebSocket.
 * What any protocol on bufferevents costs at least: the benchmark's
 * yardstick for wsev's framing overhead.
 *
 *   echo-raw-bev --port N [--tls CERT KEY] [--broadcast]
 *
 * Listens on 127.0.0.1:N, single-threaded. Every byte read is queued back
 * to its sender; with --broadcast it is copied to every connection, the
 * sender included (bytes, not messages: the streams of two senders may
 * interleave anywhere). With --tls each connection is an OpenSSL
 * bufferevent. SIGTERM or SIGINT ends the loop; everything is freed and
 * the exit status is 0.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>

#include "bench-main.h"

struct conn {
	struct conn *next, *prev;
	struct bufferevent *bev;
};

static struct conn *conns;	/* a doubly linked list of every connection */
static struct bench_server srv = {
	.name = "echo-raw-bev", .flags = BENCH_OPTS_TLS
};

static void
conn_free(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	free(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct conn *c = arg, *to, *next;
	size_t len = evbuffer_get_length(in);
	unsigned char *data;
	int failed = 0;

	if (!srv.opts.broadcast) {
		/* Moves the chains: no copy. */
		if (evbuffer_add_buffer(bufferevent_get_output(bev), in) != 0)
			conn_free(c);
		return;
	}
	if (!(data = evbuffer_pullup(in, -1))) {
		conn_free(c);
		return;
	}
	for (to = conns; to; to = next) {
		next = to->next;
		if (evbuffer_add(bufferevent_get_output(to->bev), data,
		    len) != 0) {
			if (to == c)
				failed = 1;	/* freed last: data is c's */
			else
				conn_free(to);
		}
	}
	if (evbuffer_drain(in, len) != 0 || failed)
		conn_free(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct event_base *base = arg;
	struct conn *c;
	SSL *ssl;
	int one = 1;

	(void)lev;
	(void)sa;
	(void)salen;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    !(c = calloc(1, sizeof(*c)))) {
		evutil_closesocket(fd);
		return;
	}
	if (srv.ssl_ctx) {
		if ((ssl = SSL_new(srv.ssl_ctx)) != NULL) {
			c->bev = bufferevent_openssl_socket_new(base, fd, ssl,
			    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
			if (!c->bev)
				SSL_free(ssl);
		}
	} else {
		c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!c->bev) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
		conn_free(c);
}

int
main(int argc, char **argv)
{
	struct evconnlistener *lev;
	int status;

	if ((status = bench_server_init(&srv, argc, argv)) != 0)
		return status;
	lev = bench_server_listen(&srv, on_accept, srv.base);
	status = lev ? bench_server_run(&srv) : 1;
	while (conns)
		conn_free(conns);
	if (lev)
		evconnlistener_free(lev);
	bench_server_free(&srv);
	return status;
}
