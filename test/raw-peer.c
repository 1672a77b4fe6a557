/*
 * raw-peer: a wsev endpoint on a plain TCP socket, with no HTTP handshake:
 * both sides start OPEN. The peer for test/python-peer.py, which drives it
 * with an independent implementation (Python websockets) and raw bytes.
 *
 *   raw-peer --role server|client [--port N] [--max-payload BYTES]
 *            [--max-outgoing BYTES]
 *
 * Server: listens on 127.0.0.1, port 0, prints "PORT <n>", accepts one
 * connection. Client: connects to 127.0.0.1:N. Then, on the public API only:
 *
 *   - every message is echoed with its type;
 *   - a text message "cmd:close:<code>:<reason>" calls wsev_connection_close()
 *     instead; "cmd:ping:<payload>" calls wsev_connection_send_ping();
 *   - every pong is answered with the text message "pong:<payload>".
 *
 * Lines on stdout, each flushed at once:
 *
 *   PORT <n>                          server role, before accepting
 *   CLOSING                           the "closing" callback ran
 *   ERROR domain=<d> code=<c> <msg>   the "error" callback ran
 *   CLOSED code=<c> data=<data|(null)>  the "closed" callback ran; exit 0
 *   CMDFAIL <what>                    a wsev call made for the peer failed
 *   TIMEOUT                           the 20 s watchdog fired; exit 3
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#define _POSIX_C_SOURCE 200809L

#include <wsev/wsev.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#define WATCHDOG_SEC 20
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3

struct peer {
	struct event_base *base;
	struct evconnlistener *listener;
	struct wsev_connection *conn;
	enum wsev_connection_type type;
	uint64_t max_payload;
	int max_payload_set;
	uint64_t max_outgoing;
	int max_outgoing_set;
	int closed;
	int timed_out;
};

#if defined(__GNUC__)
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* Callbacks */

static void
do_command(struct wsev_connection *conn, const char *cmd)
{
	char *end;
	unsigned long code;
	const char *reason = NULL;

	if (strncmp(cmd, "close:", 6) == 0) {
		errno = 0;
		code = strtoul(cmd + 6, &end, 10);
		if (errno || end == cmd + 6 || code > 65535) {
			say("CMDFAIL close: bad code in \"%s\"", cmd);
			return;
		}
		if (*end == ':')
			reason = end + 1;
		else if (*end != '\0') {
			say("CMDFAIL close: bad command \"%s\"", cmd);
			return;
		}
		if (wsev_connection_close(conn, (unsigned short)code, reason) < 0)
			say("CMDFAIL close %lu", code);
	} else if (strncmp(cmd, "ping:", 5) == 0) {
		if (wsev_connection_send_ping(conn, cmd + 5, strlen(cmd + 5)) < 0)
			say("CMDFAIL ping");
	} else {
		say("CMDFAIL unknown command \"%s\"", cmd);
	}
}

static void
on_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	int rv;

	(void)arg;
	if (type == WSEV_DATA_TEXT && len >= 4 && memcmp(data, "cmd:", 4) == 0) {
		do_command(conn, (const char *)data + 4);
		return;
	}
	if (type == WSEV_DATA_TEXT) {
		/* data is NUL-terminated; our peer never sends a NUL in text. */
		if (strlen(data) != len) {
			say("CMDFAIL text message of %zu bytes contains a NUL",
			    len);
			return;
		}
		rv = wsev_connection_send_text(conn, data);
	} else {
		rv = wsev_connection_send_binary(conn, data, len);
	}
	if (rv < 0)
		say("CMDFAIL echo of a %s message of %zu bytes",
		    type == WSEV_DATA_TEXT ? "text" : "binary", len);
}

static void
on_pong(struct wsev_connection *conn, const void *data, size_t len, void *arg)
{
	char buf[5 + 125 + 1];

	(void)arg;
	if (len > 125) {
		say("CMDFAIL pong of %zu bytes", len);
		return;
	}
	memcpy(buf, "pong:", 5);
	memcpy(buf + 5, data, len);
	buf[5 + len] = '\0';
	if (wsev_connection_send_text(conn, buf) < 0)
		say("CMDFAIL reply to a pong of %zu bytes", len);
}

static void
on_closing(struct wsev_connection *conn, void *arg)
{
	(void)conn;
	(void)arg;
	say("CLOSING");
}

static void
on_error(struct wsev_connection *conn, const struct wsev_error *err, void *arg)
{
	(void)conn;
	(void)arg;
	say("ERROR domain=%d code=%d %s", (int)err->domain, err->code,
	    err->message);
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	struct peer *p = arg;
	const char *data = wsev_connection_get_close_data(conn);

	say("CLOSED code=%u data=%s",
	    (unsigned)wsev_connection_get_close_code(conn),
	    data ? data : "(null)");
	p->closed = 1;
	/* The header allows freeing from inside any callback. */
	wsev_connection_free(conn);
	p->conn = NULL;
	event_base_loopexit(p->base, NULL);
}

static const struct wsev_callbacks callbacks = {
	.message = on_message,
	.closing = on_closing,
	.closed = on_closed,
	.error = on_error,
	.pong = on_pong,
	.drain = NULL
};

/* ------------------------------------------------------------------ */
/* Transport */

static int
start(struct peer *p, evutil_socket_t fd)
{
	struct bufferevent *bev;

	bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		fprintf(stderr, "raw-peer: bufferevent_socket_new failed\n");
		evutil_closesocket(fd);
		return -1;
	}
	p->conn = wsev_connection_new(bev, NULL, p->type, NULL, NULL);
	if (!p->conn) {
		fprintf(stderr, "raw-peer: wsev_connection_new failed\n");
		bufferevent_free(bev);
		return -1;
	}
	if (p->max_payload_set)
		wsev_connection_set_max_incoming_payload_size(p->conn,
		    p->max_payload);
	if (p->max_outgoing_set)
		wsev_connection_set_max_outgoing_buffer(p->conn,
		    (size_t)p->max_outgoing);
	wsev_connection_set_callbacks(p->conn, &callbacks, p);
	return 0;
}

static void
on_accept(struct evconnlistener *listener, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct peer *p = arg;

	(void)listener;
	(void)sa;
	(void)socklen;
	/* One connection only: stop listening before anything else. */
	evconnlistener_free(p->listener);
	p->listener = NULL;
	if (start(p, fd) < 0)
		event_base_loopbreak(p->base);
}

static int
listen_server(struct peer *p)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	p->listener = evconnlistener_new_bind(p->base, on_accept, p,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (!p->listener) {
		perror("raw-peer: listen");
		return -1;
	}
	if (getsockname(evconnlistener_get_fd(p->listener),
	    (struct sockaddr *)&sin, &len) < 0) {
		perror("raw-peer: getsockname");
		return -1;
	}
	say("PORT %u", (unsigned)ntohs(sin.sin_port));
	return 0;
}

static int
connect_client(struct peer *p, unsigned port)
{
	struct sockaddr_in sin;
	evutil_socket_t fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("raw-peer: socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("raw-peer: connect");
		evutil_closesocket(fd);
		return -1;
	}
	if (evutil_make_socket_nonblocking(fd) < 0) {
		evutil_closesocket(fd);
		return -1;
	}
	return start(p, fd);
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	(void)fd;
	(void)what;
	say("TIMEOUT");
	p->timed_out = 1;
	event_base_loopbreak(p->base);
}

/* ------------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr, "usage: raw-peer --role server|client [--port N] "
	    "[--max-payload BYTES] [--max-outgoing BYTES]\n");
	exit(EXIT_USAGE);
}

static unsigned long long
parse_number(const char *s, unsigned long long max)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		usage();
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v > max)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	struct peer p;
	struct event *watchdog;
	struct timeval tv = { WATCHDOG_SEC, 0 };
	unsigned port = 0;
	int have_port = 0, i, rv;

	memset(&p, 0, sizeof(p));
	for (i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--role") == 0 && val) {
			if (strcmp(val, "server") == 0)
				p.type = WSEV_CONNECTION_SERVER;
			else if (strcmp(val, "client") == 0)
				p.type = WSEV_CONNECTION_CLIENT;
			else
				usage();
		} else if (strcmp(argv[i], "--port") == 0) {
			port = (unsigned)parse_number(val, 65535);
			have_port = 1;
		} else if (strcmp(argv[i], "--max-payload") == 0) {
			p.max_payload = parse_number(val, UINT64_MAX);
			p.max_payload_set = 1;
		} else if (strcmp(argv[i], "--max-outgoing") == 0) {
			p.max_outgoing = parse_number(val, SIZE_MAX);
			p.max_outgoing_set = 1;
		} else {
			usage();
		}
		i++;
	}
	if (p.type == WSEV_CONNECTION_UNKNOWN ||
	    (p.type == WSEV_CONNECTION_CLIENT && (!have_port || port == 0)))
		usage();

	p.base = event_base_new();
	if (!p.base) {
		fprintf(stderr, "raw-peer: event_base_new failed\n");
		return 1;
	}
	watchdog = evtimer_new(p.base, on_watchdog, &p);
	if (!watchdog || evtimer_add(watchdog, &tv) < 0) {
		fprintf(stderr, "raw-peer: cannot arm the watchdog\n");
		return 1;
	}

	if (p.type == WSEV_CONNECTION_SERVER)
		rv = listen_server(&p);
	else
		rv = connect_client(&p, port);
	if (rv == 0)
		event_base_dispatch(p.base);

	if (p.listener)
		evconnlistener_free(p.listener);
	wsev_connection_free(p.conn);
	event_free(watchdog);
	event_base_free(p.base);
	if (p.timed_out)
		return EXIT_TIMEOUT;
	return rv == 0 && p.closed ? 0 : 1;
}
