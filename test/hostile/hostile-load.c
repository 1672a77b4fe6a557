/*
 * hostile-load: thousands of idle WebSocket clients against hostile-server,
 * on plain libevent (no wsev: the client handshake and the masking are
 * done here, by hand, so that the load does not lean on what it tests).
 *
 *   hostile-load --port PORT [-n N] [--concurrency C] [--idle-ms MS]
 *                [--timeout S] [--max-bytes-per-conn B] [--sources K]
 *
 * --sources K spreads the WebSockets over the source addresses 127.0.0.2
 * to 127.0.0.(K+1), round robin (Linux answers on all of 127/8 with no
 * set-up): one address has only the ports of ip_local_port_range (28,232
 * by default) towards the server's one address and port, too few for
 * 100,000. Each socket is bound with IP_BIND_ADDRESS_NO_PORT, so that the
 * port is chosen at connect() for the whole 4-tuple; and 127.0.0.1 is left
 * alone for the tests that run beside this one. 0 (the default): the
 * system's source address.
 *
 * 1. GET /stats for the server's RSS with no WebSocket open.
 * 2. Opens N WebSockets, at most C handshakes in flight, checking each
 *    101 and its Sec-WebSocket-Accept.
 * 3. Leaves them idle for MS milliseconds (past the server's request
 *    deadline and idle timeout, which must not touch WebSockets).
 * 4. GET /stats: N live; the RSS growth divided by N is printed as the
 *    server's memory per connection, and checked against B when B > 0.
 * 5. GET /broadcast?msg=final-broadcast: N sends, none refused. Every
 *    client must receive it and answer "ack", which the server echoes.
 * 6. Every client sends a close frame 1000 and must get 1000 back, then
 *    the server's EOF; GET /stats must then show no WebSocket live.
 *
 * Prints "ok NAME" or "FAIL NAME: WHY" per check, "info: ..." lines with
 * the figures, and "N passed, M failed" last; exits 0 only if nothing
 * failed. Every phase is bounded by the timeout (default 60 s).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#define _GNU_SOURCE	/* strcasestr */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

/* RFC 6455 §1.3's example: the key and the answer it must get. A fixed key
 * is fine for a load client: the server cannot tell. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define BROADCAST "final-broadcast"
#define ACK "ack"
#define MAX_HEAD 8192

enum state {
	ST_IDLE,	/* not started */
	ST_CONNECTING,	/* TCP connect and handshake in flight */
	ST_OPEN,
	ST_CLOSING,	/* our close frame sent */
	ST_DONE,	/* the server's close frame and EOF seen, freed */
	ST_FAILED
};

struct client {
	struct bufferevent *bev;
	enum state state;
	unsigned got_broadcast : 1;
	unsigned got_ack : 1;
	unsigned got_close : 1;
	unsigned close_code;
};

static struct {
	struct event_base *base;
	struct sockaddr_in sin;
	int port;
	long sources;		/* 0: the system's source address */
	struct client *c;
	long n, next, inflight, concurrency;
	long opened, failed_open, broadcasts, acks, closed, close_1000;
	long errors;
	char first_error[256];
	int passed, failed;
} g;

static void
ok(const char *name, const char *fmt, ...)
{
	va_list ap;

	g.passed++;
	printf("ok %s", name);
	if (fmt) {
		printf(" (");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf(")");
	}
	printf("\n");
	fflush(stdout);
}

static void
fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	g.failed++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void
client_error(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (g.errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(g.first_error, sizeof(g.first_error), fmt, ap);
		va_end(ap);
	}
	if (c->state == ST_CONNECTING) {
		g.inflight--;
		g.failed_open++;
	}
	c->state = ST_FAILED;
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Blocking HTTP to the server's plain routes */

/* GET path; the body in buf (NUL-terminated). Returns the status or -1. */
static int
http_get(const char *path, char *buf, size_t len)
{
	struct timeval tv = { 30, 0 };
	char req[512], *body;
	size_t got = 0;
	ssize_t r;
	int fd, status = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Connection: close\r\n\r\n", path);
	if (connect(fd, (struct sockaddr *)&g.sin, sizeof(g.sin)) != 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	while (got + 1 < len && (r = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	if ((body = strstr(buf, "\r\n\r\n")) != NULL)
		memmove(buf, body + 4, strlen(body + 4) + 1);
	return status;
}

/* A number from GET /stats, or -1. */
static long
stat_value(const char *stats, const char *name)
{
	size_t n = strlen(name);
	const char *p = stats;

	while (p && *p) {
		if (!strncmp(p, name, n) && p[n] == ' ')
			return strtol(p + n + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static int
get_stats(char *buf, size_t len)
{
	if (http_get("/stats", buf, len) != 200) {
		fail("stats", "GET /stats failed");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Frames */

/* A masked frame, FIN set, payload under 126 bytes. */
static int
send_frame(struct client *c, unsigned opcode, const void *data, size_t len)
{
	unsigned char f[2 + 4 + 125];
	uint32_t r = (uint32_t)random();
	size_t i;

	if (len > 125)
		return -1;
	f[0] = (unsigned char)(0x80 | opcode);
	f[1] = (unsigned char)(0x80 | len);
	memcpy(f + 2, &r, 4);
	for (i = 0; i < len; i++)
		f[6 + i] = ((const unsigned char *)data)[i] ^ f[2 + i % 4];
	return bufferevent_write(c->bev, f, 6 + len);
}

static void
on_frame(struct client *c, unsigned opcode, const unsigned char *p,
    size_t len)
{
	if (opcode == 0x1 && len == strlen(BROADCAST) &&
	    !memcmp(p, BROADCAST, len) && !c->got_broadcast) {
		c->got_broadcast = 1;
		g.broadcasts++;
		if (send_frame(c, 0x1, ACK, strlen(ACK)) != 0)
			client_error(c, "cannot queue the ack");
	} else if (opcode == 0x1 && len == strlen(ACK) &&
	    !memcmp(p, ACK, len) && c->got_broadcast && !c->got_ack) {
		c->got_ack = 1;
		g.acks++;
	} else if (opcode == 0x8) {
		c->got_close = 1;
		c->close_code = len >= 2 ? (unsigned)p[0] << 8 | p[1] : 1005;
	} else {
		client_error(c, "unexpected frame: opcode %u, %zu bytes",
		    opcode, len);
	}
}

/* Whole frames from the input; returns -1 once the client is gone. */
static int
read_frames(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	unsigned char h[10], *p;
	size_t avail, hlen, len;

	while ((avail = evbuffer_get_length(in)) >= 2) {
		evbuffer_copyout(in, h, avail < 10 ? avail : 10);
		if (h[1] & 0x80) {
			client_error(c, "masked frame from the server");
			return -1;
		}
		len = h[1] & 0x7F;
		hlen = 2;
		if (len == 126) {
			if (avail < 4)
				return 0;
			len = (size_t)h[2] << 8 | h[3];
			hlen = 4;
		} else if (len == 127) {
			client_error(c, "a frame of 64 KiB or more");
			return -1;
		}
		if (avail < hlen + len)
			return 0;
		p = evbuffer_pullup(in, (ev_ssize_t)(hlen + len));
		on_frame(c, h[0] & 0x0F, p + hlen, len);
		if (c->state == ST_FAILED)
			return -1;
		evbuffer_drain(in, hlen + len);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Connections */

static void start_more(void);

static int
check_handshake(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char head[MAX_HEAD + 1], *a;
	size_t n;

	if (end.pos < 0) {
		if (evbuffer_get_length(in) > MAX_HEAD)
			client_error(c, "handshake answer too long");
		return 0;
	}
	n = (size_t)end.pos + 4;
	if (n > MAX_HEAD) {
		client_error(c, "handshake answer too long");
		return -1;
	}
	evbuffer_remove(in, head, n);
	head[n] = '\0';
	if (strncmp(head, "HTTP/1.1 101 ", 13) != 0) {
		client_error(c, "handshake refused: %.40s", head);
		return -1;
	}
	a = strcasestr(head, "\r\nSec-WebSocket-Accept:");
	if (!a) {
		client_error(c, "no Sec-WebSocket-Accept");
		return -1;
	}
	a += strlen("\r\nSec-WebSocket-Accept:");
	a += strspn(a, " \t");
	if (strncmp(a, WS_ACCEPT "\r\n", strlen(WS_ACCEPT) + 2) != 0) {
		client_error(c, "wrong Sec-WebSocket-Accept");
		return -1;
	}
	c->state = ST_OPEN;
	g.inflight--;
	g.opened++;
	start_more();
	return 1;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (c->state == ST_CONNECTING && check_handshake(c) <= 0)
		return;
	read_frames(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		static const char req[] = "GET / HTTP/1.1\r\n"
		    "Host: 127.0.0.1\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
		    "Sec-WebSocket-Version: 13\r\n\r\n";

		if (bufferevent_write(c->bev, req, sizeof(req) - 1) != 0)
			client_error(c, "cannot queue the handshake");
		return;
	}
	if (c->state == ST_CLOSING && (what & BEV_EVENT_EOF) &&
	    read_frames(c) == 0 && c->got_close) {
		/* RFC 6455 §7.1.1: the server closes TCP first. */
		c->state = ST_DONE;
		g.closed++;
		if (c->close_code == 1000)
			g.close_1000++;
		bufferevent_free(c->bev);
		c->bev = NULL;
		return;
	}
	client_error(c, "%s in state %d%s%s",
	    (what & BEV_EVENT_EOF) ? "EOF" : "error", (int)c->state,
	    (what & BEV_EVENT_ERROR) ? ": " : "",
	    (what & BEV_EVENT_ERROR) ?
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) : "");
}

/* A socket bound to source address 127.0.0.(2 + i % sources), its port
 * left to connect(); -1 and errno on failure. */
static evutil_socket_t
bound_socket(long i)
{
	struct sockaddr_in src;
	evutil_socket_t fd;
	int one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (uint32_t)(i % g.sources));
#ifdef IP_BIND_ADDRESS_NO_PORT
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
#else
	(void)one;
#endif
	if (evutil_make_socket_nonblocking(fd) != 0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
		evutil_closesocket(fd);
		return -1;
	}
	return fd;
}

static void
start_one(struct client *c)
{
	evutil_socket_t fd = -1;

	c->state = ST_CONNECTING;
	g.inflight++;
	if (g.sources > 0 && (fd = bound_socket(c - g.c)) < 0) {
		client_error(c, "cannot bind a source address: %s",
		    strerror(errno));
		return;
	}
	c->bev = bufferevent_socket_new(g.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		if (fd >= 0)
			evutil_closesocket(fd);
		client_error(c, "bufferevent_socket_new failed");
		return;
	}
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&g.sin,
	    sizeof(g.sin)) != 0)
		client_error(c, "connect failed: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
start_more(void)
{
	while (g.next < g.n && g.inflight < g.concurrency)
		start_one(&g.c[g.next++]);
}

/* ------------------------------------------------------------------ */
/* Running the loop until a condition holds */

static int timed_out;

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(g.base);
}

/* Run the loop until *count >= want (or, with want < 0, for -want ms),
 * for at most secs seconds. */
static void
run_until(const long *count, long want, double secs)
{
	struct timeval tick = { 0, 20000 };
	struct event *t = event_new(g.base, -1, EV_PERSIST, on_tick, NULL);
	double end = now() + (want < 0 ? -want / 1000.0 : secs);
	long e0 = g.errors;

	timed_out = 0;
	event_add(t, &tick);
	/* A client that failed will not count: stop waiting for it. */
	while (want < 0 || *count + (g.errors - e0) < want) {
		if (now() >= end) {
			timed_out = want >= 0;
			break;
		}
		event_base_dispatch(g.base);
	}
	event_free(t);
}

static int
usage(void)
{
	fprintf(stderr, "usage: hostile-load --port PORT [-n N] "
	    "[--concurrency C] [--idle-ms MS] [--timeout S] "
	    "[--max-bytes-per-conn B] [--sources K]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	char buf[65536];
	struct rlimit rl;
	long rss0, rss1, live, msgs0, msgs1, v, i, idle_ms = 3000;
	long max_per_conn = 0, sent = -1, refused = -1;
	double timeout = 60, t0;
	int rc;

	g.n = 10000;
	g.concurrency = 200;
	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		v = strtol(argv[i + 1], NULL, 10);
		if (!strcmp(argv[i], "--port"))
			g.port = (int)v;
		else if (!strcmp(argv[i], "-n"))
			g.n = v;
		else if (!strcmp(argv[i], "--concurrency"))
			g.concurrency = v;
		else if (!strcmp(argv[i], "--idle-ms"))
			idle_ms = v;
		else if (!strcmp(argv[i], "--timeout"))
			timeout = (double)v;
		else if (!strcmp(argv[i], "--max-bytes-per-conn"))
			max_per_conn = v;
		else if (!strcmp(argv[i], "--sources"))
			g.sources = v;
		else
			return usage();
		i++;
	}
	if (g.port <= 0 || g.port > 65535 || g.n <= 0 || g.concurrency <= 0 ||
	    timeout <= 0 || idle_ms < 0 || g.sources < 0 || g.sources > 250)
		return usage();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < g.n + 64) {
		fail("fd-limit", "%ld descriptors allowed, %ld needed",
		    (long)rl.rlim_cur, g.n + 64);
		printf("%d passed, %d failed\n", g.passed, g.failed);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)getpid());
	g.sin.sin_family = AF_INET;
	g.sin.sin_port = htons((unsigned short)g.port);
	g.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!(g.base = event_base_new()) ||
	    !(g.c = calloc((size_t)g.n, sizeof(*g.c)))) {
		fprintf(stderr, "hostile-load: out of memory\n");
		return 1;
	}

	/* 1. The server at rest. */
	if (get_stats(buf, sizeof(buf)) < 0)
		goto out;
	rss0 = stat_value(buf, "rss_kb");
	msgs0 = stat_value(buf, "messages");

	/* 2. N WebSockets. */
	t0 = now();
	start_more();
	run_until(&g.opened, g.n, timeout);
	if (g.opened == g.n) {
		ok("load-opened", "%ld WebSockets in %.1f s", g.n, now() - t0);
		printf("info: time to accept all %ld WebSockets: %.2f s\n", g.n,
		    now() - t0);
	} else
		fail("load-opened", "%ld of %ld WebSockets opened (%ld failed; "
		    "first error: %s)%s", g.opened, g.n, g.failed_open,
		    g.first_error, timed_out ? ", timed out" : "");

	/* 3. Idle, past the server's deadlines. */
	run_until(NULL, -idle_ms, 0);
	if (g.errors)
		fail("load-idle", "%ld clients failed while idle; first: %s",
		    g.errors, g.first_error);
	else
		ok("load-idle", "%ld ms", idle_ms);

	/* 4. Memory per connection. */
	if (get_stats(buf, sizeof(buf)) < 0)
		goto out;
	rss1 = stat_value(buf, "rss_kb");
	live = stat_value(buf, "live");
	if (live == g.opened)
		ok("load-live", "%ld", live);
	else
		fail("load-live", "the server has %ld WebSockets, we %ld",
		    live, g.opened);
	if (rss0 > 0 && rss1 > 0 && g.opened > 0) {
		v = (rss1 - rss0) * 1024 / g.opened;
		printf("info: server RSS %ld KiB at rest, %ld KiB with %ld idle "
		    "WebSockets: %ld bytes (%.1f KiB) per connection\n", rss0,
		    rss1, g.opened, v, v / 1024.0);
		if (max_per_conn <= 0)
			ok("load-memory-per-conn", "%ld bytes, reported only", v);
		else if (v <= max_per_conn)
			ok("load-memory-per-conn", "%ld bytes <= %ld", v,
			    max_per_conn);
		else
			fail("load-memory-per-conn", "%ld bytes per connection, "
			    "bound %ld", v, max_per_conn);
	} else {
		fail("load-memory-per-conn", "no RSS figures");
	}

	/* 5. The broadcast, and every client's answer. */
	t0 = now();
	rc = http_get("/broadcast?msg=" BROADCAST, buf, sizeof(buf));
	if (rc != 200 || sscanf(buf, "sent %ld refused %ld", &sent,
	    &refused) != 2 || sent != g.opened || refused != 0)
		fail("load-broadcast-sent", "GET /broadcast: %d %.60s", rc, buf);
	else
		ok("load-broadcast-sent", "%ld sends", sent);
	run_until(&g.broadcasts, g.opened, timeout);
	if (g.broadcasts == g.opened)
		printf("info: time for the broadcast to reach all %ld: %.2f s\n",
		    g.broadcasts, now() - t0);
	run_until(&g.acks, g.opened, timeout);
	if (g.broadcasts == g.opened && g.acks == g.opened)
		ok("load-broadcast-all", "%ld received and answered in %.1f s",
		    g.acks, now() - t0);
	else
		fail("load-broadcast-all", "%ld of %ld received it, %ld acks "
		    "echoed (first error: %s)", g.broadcasts, g.opened, g.acks,
		    g.errors ? g.first_error : "none");
	if (get_stats(buf, sizeof(buf)) < 0)
		goto out;
	msgs1 = stat_value(buf, "messages");
	if (msgs1 - msgs0 == g.opened)
		ok("load-server-got-acks", "%ld", msgs1 - msgs0);
	else
		fail("load-server-got-acks", "the server got %ld messages, "
		    "not %ld", msgs1 - msgs0, g.opened);

	/* 6. Orderly closes. */
	t0 = now();
	for (i = 0; i < g.n; i++) {
		struct client *c = &g.c[i];
		unsigned char code[2] = { 1000 >> 8, 1000 & 0xFF };

		if (c->state != ST_OPEN)
			continue;
		if (send_frame(c, 0x8, code, 2) != 0)
			client_error(c, "cannot queue the close frame");
		else
			c->state = ST_CLOSING;
	}
	run_until(&g.closed, g.opened, timeout);
	if (g.closed == g.opened && g.close_1000 == g.opened)
		ok("load-closed", "%ld closes 1000 in %.1f s", g.closed,
		    now() - t0);
	else
		fail("load-closed", "%ld of %ld closed, %ld with 1000 (first "
		    "error: %s)", g.closed, g.opened, g.close_1000,
		    g.errors ? g.first_error : "none");
	t0 = now();
	do {
		if (get_stats(buf, sizeof(buf)) < 0)
			goto out;
		live = stat_value(buf, "live");
		if (live != 0)
			usleep(50000);
	} while (live != 0 && now() - t0 < 10);
	if (live == 0)
		ok("load-live-0", NULL);
	else
		fail("load-live-0", "%ld WebSockets still live", live);
	if (stat_value(buf, "close.1000") >= g.opened)
		ok("load-server-closes-1000", "%ld", stat_value(buf,
		    "close.1000"));
	else
		fail("load-server-closes-1000", "the server saw %ld",
		    stat_value(buf, "close.1000"));

out:
	for (i = 0; i < g.n; i++)
		if (g.c[i].bev)
			bufferevent_free(g.c[i].bev);
	free(g.c);
	event_base_free(g.base);
	printf("%d passed, %d failed\n", g.passed, g.failed);
	return g.failed ? 1 : 0;
}
