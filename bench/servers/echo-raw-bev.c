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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* As the peers: wsload opens connections 256 at a time. */
#define BACKLOG 4096

struct conn {
	struct conn *next, *prev;
	struct bufferevent *bev;
};

static struct conn *conns;	/* a doubly linked list of every connection */
static SSL_CTX *ssl_ctx;
static int broadcast;

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

	if (!broadcast) {
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
	if (ssl_ctx) {
		if ((ssl = SSL_new(ssl_ctx)) != NULL) {
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

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: echo-raw-bev --port N [--tls CERT KEY] [--broadcast]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	struct event_base *base = NULL;
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
		} else if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else if (!strcmp(argv[i], "--broadcast")) {
			broadcast = 1;
		} else {
			return usage();
		}
	}
	if (port < 0)
		return usage();
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("echo-raw-bev: signal");
		return 1;
	}
	if (cert) {
		ssl_ctx = SSL_CTX_new(TLS_server_method());
		if (!ssl_ctx ||
		    SSL_CTX_use_certificate_chain_file(ssl_ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ssl_ctx, key,
		    SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr,
			    "echo-raw-bev: cannot load %s and %s: %s\n", cert,
			    key, ERR_reason_error_string(ERR_get_error()));
			goto out;
		}
	}
	if (!(base = event_base_new())) {
		fprintf(stderr, "echo-raw-bev: cannot create the event base\n");
		goto out;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)port);
	lev = evconnlistener_new_bind(base, on_accept, base,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, BACKLOG,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (!lev) {
		fprintf(stderr, "echo-raw-bev: cannot listen on 127.0.0.1:%d\n",
		    port);
		goto out;
	}
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sigterm, NULL) != 0) {
		fprintf(stderr, "echo-raw-bev: cannot watch signals\n");
		goto out;
	}
	if (event_base_dispatch(base) < 0) {
		fprintf(stderr, "echo-raw-bev: event loop failed\n");
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
	if (base)
		event_base_free(base);
	SSL_CTX_free(ssl_ctx);
	return status;
}
