/*
 * chat-server: a chat room in the browser, on every core of a machine and,
 * through Redis, on many machines.
 *
 *   chat-server [--port N] [--tls CERT KEY] [--threads N]
 *               [--redis redis://HOST:PORT[/DB]] [--room NAME]
 *               [--history N]
 *
 * Serves the chat page on "/" (HTML, CSS and JavaScript compiled in) and
 * the room on the WebSocket "/ws", on 127.0.0.1 (port 8080 by default; 0
 * picks a free one). Everything said in the room is sent to everyone, in
 * one order, with join and leave notices and the number of people in the
 * room; a client that lost its connection resumes after the last message
 * it showed (chat-room.c says how).
 *
 * --threads N (default 1; 0: one per CPU) runs N threads, each with its
 * own event_base, evhttp and listening socket on the same port
 * (SO_REUSEPORT: the kernel spreads the connections over them). Without
 * --redis the room is kept in this process (chat-bus.c): its last
 * --history entries (default 1000), lost when it exits. With --redis the
 * room is the Redis Stream --room (default "chat") that every process
 * reads and appends to (chat-redis.c): run as many as you like, on as many
 * machines, behind one load balancer (samples/nginx-chat.conf).
 *
 * chat.h says how the parts meet and which thread touches what.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "chat.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>

#include <openssl/err.h>

#define MAX_THREADS 256

extern const char chat_page[];

static void
on_page(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	(void)arg;
	evbuffer_add_reference(body, chat_page, strlen(chat_page), NULL, NULL);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/html; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

/* A node's "stop" event, made active by the main thread. */
static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

/*
 * A node: its base, evhttp, guard and room, listening on 127.0.0.1:*port
 * with SO_REUSEPORT (*port 0: the system picks, and *port says which).
 */
static int
node_init(struct chat_node *n, int index, int *port, SSL_CTX *ctx,
    struct chat_bus *bus)
{
	const struct timeval request_timeout = { 10, 0 };
	struct sockaddr_in sin;
	ev_socklen_t len = sizeof(sin);

	n->index = index;
	n->bus = bus;
	if (!(n->base = event_base_new()) || !(n->http = evhttp_new(n->base)) ||
	    !(n->room = chat_room_new(n)) ||
	    !(n->stop = event_new(n->base, -1, 0, on_stop, n->base)))
		return -1;
	evhttp_set_timeout(n->http, 10);
	/* evhttp's timeout only drops silent peers; the guard also drops
	 * those that trickle their request a byte at a time, 10 s after
	 * the accept. It makes the server's connections (TLS ones with
	 * ctx). */
	if (!(n->guard = wsev_guard_new(n->http, &request_timeout, ctx)))
		return -1;
	/* evhttp takes headers of any size by default: a peer could grow
	 * the server's memory before the timeout. 16 KiB is plenty. */
	evhttp_set_max_headers_size(n->http, 16384);
	n->route = wsev_server_add_handler(n->http, "/ws", NULL, NULL,
	    chat_room_on_websocket, n);
	if (!n->route || evhttp_set_cb(n->http, "/", on_page, NULL) != 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)*port);
	n->listener = evconnlistener_new_bind(n->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE |
	    LEV_OPT_REUSEABLE_PORT, 1024, (struct sockaddr *)&sin, sizeof(sin));
	if (!n->listener) {
		fprintf(stderr, "chat-server: cannot listen on 127.0.0.1:%d: %s\n",
		    *port, strerror(errno));
		return -1;
	}
	if (!evhttp_bind_listener(n->http, n->listener))
		return -1;	/* evhttp frees the listener with itself */
	if (getsockname(evconnlistener_get_fd(n->listener),
	    (struct sockaddr *)&sin, &len) != 0)
		return -1;
	*port = ntohs(sin.sin_port);
	if (bus->ops->node_start(bus, n) != 0)
		return -1;
	return 0;
}

static void
node_free(struct chat_node *n)
{
	if (n->room)
		chat_room_close(n->room);
	if (n->route)	/* everyone here is told 1001 */
		wsev_server_remove_handler(n->route);
	if (n->http)
		evhttp_free(n->http);
	wsev_guard_free(n->guard);	/* after evhttp_free, before the base */
	if (n->bus_node)
		n->bus->ops->node_stop(n->bus, n);
	chat_room_free(n->room);
	if (n->stop)
		event_free(n->stop);
	if (n->base)
		event_base_free(n->base);
}

static void *
node_run(void *arg)
{
	struct chat_node *n = arg;

	event_base_dispatch(n->base);
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: chat-server [--port N] [--tls CERT KEY] "
	    "[--threads N] [--redis redis://HOST:PORT[/DB]] [--room NAME] "
	    "[--history N]\n");
}

/* The number in s, from min to max; -1 if it is not one. */
static long
number(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s && !*end && v >= min && v <= max ? v : -1;
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL, *redis = NULL, *room = "chat";
	struct chat_node *nodes;
	struct event *sigint = NULL, *sigterm = NULL;
	struct chat_bus *bus;
	SSL_CTX *ctx = NULL;
	long threads = 1, keep = 1000;
	int port = 8080, i, started = 0, rc = 1;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc &&
		    (port = (int)number(argv[++i], 0, 65535)) >= 0) {
			continue;
		} else if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc &&
		    (threads = number(argv[++i], 0, MAX_THREADS)) >= 0) {
			continue;
		} else if (!strcmp(argv[i], "--redis") && i + 1 < argc) {
			redis = argv[++i];
		} else if (!strcmp(argv[i], "--room") && i + 1 < argc &&
		    argv[i + 1][0]) {
			room = argv[++i];
		} else if (!strcmp(argv[i], "--history") && i + 1 < argc &&
		    (keep = number(argv[++i], 1, 10000000)) > 0) {
			continue;
		} else {
			usage();
			return 2;
		}
	}
	if (threads == 0) {
		threads = sysconf(_SC_NPROCESSORS_ONLN);
		if (threads < 1)
			threads = 1;
		if (threads > MAX_THREADS)
			threads = MAX_THREADS;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Before any base: the main thread makes the others' events
	 * active, and the in-process bus posts across threads. */
	if (evthread_use_pthreads() != 0) {
		fprintf(stderr, "chat-server: no thread support in libevent\n");
		return 1;
	}
	if (cert) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "chat-server: cannot load %s and %s: %s\n",
			    cert, key, ERR_reason_error_string(ERR_get_error()));
			SSL_CTX_free(ctx);
			return 1;
		}
	}
	if (redis) {
#ifdef HAVE_HIREDIS
		bus = chat_bus_redis_new((int)threads, redis, room,
		    (unsigned)keep);
#else
		fprintf(stderr, "chat-server: built without hiredis: no "
		    "--redis (Debian: apt-get install libhiredis-dev, and "
		    "configure again)\n");
		(void)room;
		bus = NULL;
#endif
	} else {
		bus = chat_bus_memory_new((int)threads, (unsigned)keep);
	}
	nodes = bus ? calloc((size_t)threads, sizeof(*nodes)) : NULL;
	if (!nodes)
		goto out;
	for (i = 0; i < threads; i++)
		if (node_init(&nodes[i], i, &port, ctx, bus) != 0)
			goto out;
	sigint = evsignal_new(nodes[0].base, SIGINT, on_stop, nodes[0].base);
	sigterm = evsignal_new(nodes[0].base, SIGTERM, on_stop, nodes[0].base);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sigterm, NULL) != 0) {
		fprintf(stderr, "chat-server: cannot catch signals\n");
		goto signals;
	}
	for (started = 1; started < threads; started++)
		if (pthread_create(&nodes[started].thread, NULL, node_run,
		    &nodes[started]) != 0) {
			fprintf(stderr, "chat-server: cannot start thread %d\n",
			    started);
			goto stop;
		}
	printf("chat room ready: open %s://127.0.0.1:%d/ in your browser\n",
	    cert ? "https" : "http", port);
	fflush(stdout);
	/* The main thread is node 0; a signal ends every loop. */
	event_base_dispatch(nodes[0].base);
	rc = 0;
stop:
	for (i = 1; i < started; i++)
		event_active(nodes[i].stop, EV_READ, 0);
	for (i = 1; i < started; i++)
		pthread_join(nodes[i].thread, NULL);
signals:
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
out:
	if (rc != 0 && bus && !nodes)
		fprintf(stderr, "chat-server: out of memory\n");
	for (i = 0; nodes && i < threads; i++)
		node_free(&nodes[i]);
	free(nodes);
	if (bus)
		bus->ops->free(bus);
	SSL_CTX_free(ctx);
	return rc;
}
