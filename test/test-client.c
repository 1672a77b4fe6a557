/*
 * wsev_connect (lib/client.c): success over ws:// and wss:// against an
 * in-process evhttp server, every failure with its error domain and code
 * (DNS, refused, timeout, TLS, the server's answer), bad URLs, and a
 * cancel at each stage with no callback afterwards.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev/wsev.h"
#include "tt.h"
#include "tt-ev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct env {
	struct event_base *base;
	struct evdns_base *dns;
	struct evhttp *http;
	struct wsev_handler *route;
	int port;		/* ws:// (or wss:// when tls) */
	int tls;
	SSL_CTX *sctx;
	char cafile[64];
	/* what the server saw */
	int upgrades;
	char uri[256], protocol[64], auth[64];
	struct wsev_connection *sconn;
	/* what the client got */
	int called;
	struct wsev_connection *conn;
	struct wsev_error err;
	int messages;
	char last[128];
	struct tt_watch watch;
};

#define RUN_UNTIL(e, cond, secs) TT_RUN_UNTIL(&(e)->watch, cond, secs)

/* The certificate that SSL_CERT_FILE names (set in main before any
 * connect): wss:// with wsev's default context trusts it and nothing else. */
static SSL_CTX *trusted_sctx;
static char trusted_ca[64];

/* An application's own error, queued before it calls wsev. */
#define APP_ERR_REASON 4242

/* Let everything ready run for a moment (for "nothing happens" checks). */
static void
settle(struct env *e, int ms)
{
	struct timeval tv = { 0, ms * 1000 };

	event_base_loopexit(e->base, &tv);
	event_base_dispatch(e->base);
}

/* ------------------------------------------------------------------ */
/* Server */

static void
srv_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	(void)arg;
	if (type == WSEV_DATA_TEXT)
		wsev_connection_send_text(c, data);
	else
		wsev_connection_send_binary(c, data, len);
}

static void
srv_closed(struct wsev_connection *c, void *arg)
{
	struct env *e = arg;

	if (e->sconn == c)
		e->sconn = NULL;
	wsev_connection_free(c);
}

static void
srv_ws(struct wsev_connection *c, struct evhttp_request *req, void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = srv_message, .closed = srv_closed
	};
	struct env *e = arg;
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");

	e->upgrades++;
	e->sconn = c;
	snprintf(e->uri, sizeof(e->uri), "%s", evhttp_request_get_uri(req));
	snprintf(e->protocol, sizeof(e->protocol), "%s",
	    wsev_connection_get_protocol(c) ? wsev_connection_get_protocol(c) :
	    "(null)");
	snprintf(e->auth, sizeof(e->auth), "%s", a ? a : "(null)");
	wsev_connection_set_callbacks(c, &cbs, e);
	/* Sent at once: these bytes follow the 101 in the same write. */
	wsev_connection_send_text(c, "welcome");
}

static struct bufferevent *
tls_bevcb(struct event_base *base, void *arg)
{
	struct env *e = arg;

	return bufferevent_openssl_socket_new(base, -1, SSL_new(e->sctx),
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static int
env_start(struct env *e, int tls)
{
	static const char *const protos[] = { "chat", "superchat", NULL };
	struct evhttp_bound_socket *b;

	memset(e, 0, sizeof(*e));
	e->tls = tls;
	e->base = event_base_new();
	tt_watch_init(&e->watch, e->base);
	/* No name servers: only /etc/hosts answers, nothing leaves. */
	e->dns = evdns_base_new(e->base, 0);
	evdns_base_load_hosts(e->dns, NULL);
	e->http = evhttp_new(e->base);
	if (tls) {
		/* The certificate names "localhost" only, no IP. */
		if (tt_tls_make(&e->sctx, NULL, e->cafile, sizeof(e->cafile)) < 0)
			return -1;
		evhttp_set_bevcb(e->http, tls_bevcb, e);
	}
	e->route = wsev_server_add_handler(e->http, "/ws", NULL, protos, srv_ws,
	    e);
	b = evhttp_bind_socket_with_handle(e->http, "127.0.0.1", 0);
	if (!e->route || !b)
		return -1;
	e->port = tt_bound_port(evhttp_bound_socket_get_fd(b));
	return 0;
}

static void
env_stop(struct env *e)
{
	wsev_connection_free(e->conn);
	wsev_server_remove_handler(e->route);
	evhttp_free(e->http);
	evdns_base_free(e->dns, 0);
	event_base_loop(e->base, EVLOOP_NONBLOCK);
	tt_watch_free(&e->watch);
	event_base_free(e->base);
	SSL_CTX_free(e->sctx);
	if (e->cafile[0])
		unlink(e->cafile);
}

/* ------------------------------------------------------------------ */
/* Client */

static void
cl_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct env *e = arg;

	(void)c;
	(void)type;
	e->messages++;
	snprintf(e->last, sizeof(e->last), "%.*s", (int)(len < 100 ? len : 100),
	    (const char *)data);
}

static void
on_connected(struct wsev_connection *c, const struct wsev_error *err,
    void *arg)
{
	static const struct wsev_callbacks cbs = { .message = cl_message };
	struct env *e = arg;

	e->called++;
	e->conn = c;
	if (err)
		e->err = *err;
	else
		memset(&e->err, 0, sizeof(e->err));
	if (c)
		wsev_connection_set_callbacks(c, &cbs, e);
}

static struct wsev_connect_request *
connect_to(struct env *e, const char *url, struct wsev_connect_options *o)
{
	struct wsev_connect_request *r;

	e->called = 0;
	e->conn = NULL;
	r = wsev_connect(e->base, e->dns, url, o, on_connected, e);
	CHECK(r != NULL);
	return r;
}

static void
expect_open(struct env *e, const char *url, struct wsev_connect_options *o)
{
	int before = e->upgrades;

	connect_to(e, url, o);
	RUN_UNTIL(e, e->called, 5);
	CHECK_INT(e->called, ==, 1);
	if (!e->conn) {
		printf("  %s: %s\n", url, e->err.message);
		tt_failed_checks++;
		return;
	}
	CHECK_INT(e->upgrades, ==, before + 1);
	CHECK_INT(wsev_connection_get_state(e->conn), ==, WSEV_STATE_OPEN);
	CHECK_INT(wsev_connection_get_connection_type(e->conn), ==,
	    WSEV_CONNECTION_CLIENT);
	/* The message the server sent right behind its 101. */
	RUN_UNTIL(e, e->messages >= 1, 3);
	CHECK_STR(e->last, "welcome");
	CHECK_INT(wsev_connection_send_text(e->conn, "echo me"), ==, 0);
	RUN_UNTIL(e, e->messages >= 2, 3);
	CHECK_STR(e->last, "echo me");
	wsev_connection_free(e->conn);
	e->conn = NULL;
	e->messages = 0;
}

static void
expect_error(struct env *e, const char *url, struct wsev_connect_options *o,
    enum wsev_error_domain domain, int code)
{
	connect_to(e, url, o);
	RUN_UNTIL(e, e->called, 5);
	CHECK_INT(e->called, ==, 1);
	CHECK(e->conn == NULL);
	CHECK_INT(e->err.domain, ==, domain);
	if (code >= 0)
		CHECK_INT(e->err.code, ==, code);
	CHECK(e->err.message[0] != '\0');
	if (e->err.domain != domain || (code >= 0 && e->err.code != code))
		printf("  %s: domain %d code %d: %s\n", url, e->err.domain,
		    e->err.code, e->err.message);
	wsev_connection_free(e->conn);
	e->conn = NULL;
	settle(e, 5);
	CHECK_INT(e->called, ==, 1);	/* exactly once */
}

static void
test_plain(void)
{
	struct env e;
	struct wsev_connect_options o;
	struct wsev_connection_options co;
	struct timeval tv = { 2, 500000 }, got;
	const char *const protos[] = { "superchat", "chat", NULL };
	const char *const headers[] = { "Authorization: Bearer t0k3n", NULL };
	char url[128];

	REQUIRE(env_start(&e, 0) == 0);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ws?room=5&x=y", e.port);
	expect_open(&e, url, NULL);
	CHECK_STR(e.uri, "/ws?room=5&x=y");
	CHECK_STR(e.protocol, "(null)");
	/* By name, through evdns and /etc/hosts. */
	snprintf(url, sizeof(url), "ws://localhost:%d/ws", e.port);
	expect_open(&e, url, NULL);
	/* By name without a dns_base (getaddrinfo): "localhost" may give ::1
	 * first, where nobody listens; the next address is tried. */
	e.called = 0;
	e.conn = NULL;
	CHECK(wsev_connect(e.base, NULL, url, NULL, on_connected, &e) != NULL);
	RUN_UNTIL(&e, e.called, 5);
	CHECK(e.conn != NULL);
	wsev_connection_free(e.conn);
	e.conn = NULL;
	/* Subprotocols: the server's order wins; extra headers arrive. */
	wsev_connect_options_init(&o);
	o.protocols = protos;
	o.headers = headers;
	o.origin = "http://me.example";
	snprintf(url, sizeof(url), "WS://127.0.0.1:%d/ws", e.port);
	connect_to(&e, url, &o);
	RUN_UNTIL(&e, e.called, 5);
	REQUIRE(e.conn != NULL);
	CHECK_STR(wsev_connection_get_protocol(e.conn), "chat");
	CHECK_STR(wsev_connection_get_origin(e.conn), "http://me.example");
	CHECK_STR(e.protocol, "chat");
	CHECK_STR(e.auth, "Bearer t0k3n");
	CHECK_INT(wsev_connection_get_max_incoming_payload_size(e.conn), ==,
	    131072);
	/* permessage-deflate is offered by default, and the route takes it:
	 * the bare client_max_window_bits offered is answered with 15. */
	CHECK_INT(wsev_connection_get_extensions(e.conn)->deflate, ==, 1);
	CHECK_INT(wsev_connection_get_extensions(e.conn)->client_max_window_bits,
	    ==, 15);
	CHECK_INT(wsev_connection_get_extensions(e.conn)->server_max_window_bits,
	    ==, 15);
	CHECK_INT(wsev_connection_get_keepalive_interval(e.conn), ==, 0);
	wsev_connection_free(e.conn);
	e.conn = NULL;
	/* The initial max-incoming-payload-size. */
	wsev_connect_options_init(&o);
	wsev_connection_options_init(&co);
	co.max_incoming_payload_size = 5;
	co.max_incoming_message_size = 77;
	co.max_outgoing_buffer = 4096;
	co.close_timeout = &tv;
	co.keepalive_interval = 7;
	co.keepalive_pong_timeout = 3;
	co.deflate.enabled = 0;
	o.connection = &co;
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ws", e.port);
	connect_to(&e, url, &o);
	RUN_UNTIL(&e, e.called, 5);
	REQUIRE(e.conn != NULL);
	CHECK_INT(wsev_connection_get_max_incoming_payload_size(e.conn), ==, 5);
	CHECK_INT(wsev_connection_get_max_incoming_message_size(e.conn), ==, 77);
	CHECK_INT(wsev_connection_get_max_outgoing_buffer(e.conn), ==, 4096);
	CHECK_INT(wsev_connection_get_keepalive_interval(e.conn), ==, 7);
	CHECK_INT(wsev_connection_get_keepalive_pong_timeout(e.conn), ==, 3);
	wsev_connection_get_close_timeout(e.conn, &got);
	CHECK_INT(got.tv_sec, ==, 2);
	CHECK_INT(got.tv_usec, ==, 500000);
	/* Not offered, so not in use. */
	CHECK_INT(wsev_connection_get_extensions(e.conn)->deflate, ==, 0);
	env_stop(&e);
}

static void
test_ipv6(void)
{
	struct env e;
	struct evhttp_bound_socket *b;
	char url[128];

	REQUIRE(env_start(&e, 0) == 0);
	b = evhttp_bind_socket_with_handle(e.http, "::1", 0);
	if (!b) {
		printf("  (no IPv6 loopback here: skipped)\n");
		env_stop(&e);
		return;
	}
	snprintf(url, sizeof(url), "ws://[::1]:%d/ws",
	    tt_bound_port(evhttp_bound_socket_get_fd(b)));
	expect_open(&e, url, NULL);
	env_stop(&e);
}

static void
test_tls(void)
{
	struct env e;
	struct wsev_connect_options o;
	char url[128];

	REQUIRE(env_start(&e, 1) == 0);
	wsev_connect_options_init(&o);
	o.ca_file = e.cafile;
	snprintf(url, sizeof(url), "wss://localhost:%d/ws", e.port);
	expect_open(&e, url, &o);
	/* Untrusted: the default store (SSL_CERT_FILE) does not know our CA. */
	expect_error(&e, url, NULL, WSEV_DOMAIN_TLS,
	    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
	/* Trusted, but the name does not match (the cert has no IP). */
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/ws", e.port);
	expect_error(&e, url, &o, WSEV_DOMAIN_TLS,
	    X509_V_ERR_IP_ADDRESS_MISMATCH);
	/* The caller's own SSL_CTX, trusting our CA: host-name checking and
	 * SNI still come from wsev. */
	{
		SSL_CTX *mine = SSL_CTX_new(TLS_client_method());

		REQUIRE(mine != NULL);
		SSL_CTX_set_verify(mine, SSL_VERIFY_PEER, NULL);
		CHECK_INT(SSL_CTX_load_verify_locations(mine, e.cafile, NULL), ==, 1);
		wsev_connect_options_init(&o);
		o.ssl_ctx = mine;
		snprintf(url, sizeof(url), "wss://localhost:%d/ws", e.port);
		expect_open(&e, url, &o);
		snprintf(url, sizeof(url), "wss://127.0.0.1:%d/ws", e.port);
		expect_error(&e, url, &o, WSEV_DOMAIN_TLS,
		    X509_V_ERR_IP_ADDRESS_MISMATCH);
		SSL_CTX_free(mine);	/* each connection holds its own ref */
	}
	/* The opt-in to skip verification. */
	wsev_connect_options_init(&o);
	o.insecure = 1;
	expect_open(&e, url, &o);
	/* A TLS client against the plain server is a TLS failure. */
	env_stop(&e);
}

/* Servers that answer wrongly: each a canned response after the request. */
struct canned {
	struct env *e;
	const char *response;	/* NULL: never answer */
	struct bufferevent *bevs[8];
	int n;
	SSL_CTX *ctx;		/* non-NULL: TLS first */
};

static void
canned_read(struct bufferevent *bev, void *arg)
{
	struct canned *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	const char *key, *k;
	char resp[1024], acc[64], buf[128];
	unsigned char md[20];
	unsigned int n;

	if (p.pos < 0 || !c->response)
		return;
	/* The accept for this request's key, for the cases that need it. */
	k = strstr((char *)evbuffer_pullup(in, -1), "Sec-WebSocket-Key: ");
	key = k ? k + 19 : "";
	snprintf(buf, sizeof(buf), "%.24s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
	    key);
	EVP_Digest(buf, strlen(buf), md, &n, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)acc, md, 20);
	snprintf(resp, sizeof(resp), c->response, acc);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_write(bev, resp, strlen(resp));
}

/* A listener on 127.0.0.1, on a port chosen by the kernel, and the URL
 * (fmt with the port) that reaches it. */
static struct evconnlistener *
listen_local(struct event_base *base, evconnlistener_cb cb, void *arg,
    const char *fmt, char *url, size_t urlsize)
{
	struct sockaddr_in sin;
	struct evconnlistener *l;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = evconnlistener_new_bind(base, cb, arg,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (l)
		snprintf(url, urlsize, fmt,
		    tt_bound_port(evconnlistener_get_fd(l)));
	return l;
}

static void
canned_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct canned *c = arg;
	struct bufferevent *bev;

	(void)l;
	(void)sa;
	(void)len;
	if (c->ctx)
		bev = bufferevent_openssl_socket_new(c->e->base, fd,
		    SSL_new(c->ctx), BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE);
	else
		bev = bufferevent_socket_new(c->e->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, canned_read, NULL, NULL, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (c->n < 8)
		c->bevs[c->n++] = bev;
	else
		bufferevent_free(bev);
}

static void
test_bad_servers(void)
{
	static const struct {
		const char *name, *response;
		int code;
	} t[] = {
		{ "200", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: %s\r\n\r\n",
		    WSEV_ERROR_NOT_WEBSOCKET },
		{ "400", "HTTP/1.1 400 Bad Request\r\nX: %s\r\n\r\n",
		    WSEV_ERROR_BAD_HANDSHAKE },
		{ "wrong accept", "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: x%s\r\n\r\n", WSEV_ERROR_BAD_HANDSHAKE },
		{ "unrequested protocol", "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
		    WSEV_ERROR_BAD_HANDSHAKE },
		{ "unrequested extension", "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n"
		    "Sec-WebSocket-Extensions: x-unrequested\r\n\r\n",
		    WSEV_ERROR_BAD_HANDSHAKE },
		{ "deflate with an unknown parameter",
		    "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n"
		    "Sec-WebSocket-Extensions: permessage-deflate; foo=1\r\n\r\n",
		    WSEV_ERROR_BAD_HANDSHAKE },
		{ "deflate window out of range",
		    "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n"
		    "Sec-WebSocket-Extensions: permessage-deflate; "
		    "client_max_window_bits=16\r\n\r\n",
		    WSEV_ERROR_BAD_HANDSHAKE },
		{ "not HTTP", "SSH-2.0-OpenSSH %s\r\n\r\n", WSEV_ERROR_NOT_WEBSOCKET },
		{ "good", "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n\r\n", -1 },
	};
	struct env e;
	size_t i;

	REQUIRE(env_start(&e, 0) == 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct canned c = { &e, t[i].response, { NULL }, 0, NULL };
		struct evconnlistener *l;
		char url[64];
		int k;

		l = listen_local(e.base, canned_accept, &c, "ws://127.0.0.1:%d/",
		    url, sizeof(url));
		REQUIRE(l != NULL);
		if (t[i].code < 0) {
			connect_to(&e, url, NULL);
			RUN_UNTIL(&e, e.called, 3);
			CHECK(e.conn != NULL);
			wsev_connection_free(e.conn);
			e.conn = NULL;
		} else {
			expect_error(&e, url, NULL, WSEV_DOMAIN_WEBSOCKET,
			    t[i].code);
		}
		for (k = 0; k < c.n; k++)
			bufferevent_free(c.bevs[k]);
		evconnlistener_free(l);
	}
	env_stop(&e);
}

/* A name server on loopback that answers every query "no such name". */
static void
nxdomain_read(evutil_socket_t fd, short what, void *arg)
{
	unsigned char pkt[512];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t n;

	(void)what;
	(void)arg;
	n = recvfrom(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &flen);
	if (n < 12)
		return;
	pkt[2] |= 0x80;		/* QR: a response */
	pkt[3] = 0x83;		/* RA, RCODE 3: NXDOMAIN */
	sendto(fd, pkt, (size_t)n, 0, (struct sockaddr *)&from, flen);
}

static void
test_failures(void)
{
	struct env e;
	struct wsev_connect_options o;
	struct timeval tv = { 0, 200000 };
	struct canned c;
	struct sockaddr_in sin;
	struct evconnlistener *l;
	char url[128];
	int k;

	REQUIRE(env_start(&e, 0) == 0);
	/* Unknown host: our loopback name server says so. */
	{
		evutil_socket_t udp = socket(AF_INET, SOCK_DGRAM, 0);
		struct event *ev;
		char ns[64];

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind(udp, (struct sockaddr *)&sin, sizeof(sin));
		ev = event_new(e.base, udp, EV_READ | EV_PERSIST, nxdomain_read,
		    NULL);
		event_add(ev, NULL);
		snprintf(ns, sizeof(ns), "127.0.0.1:%d", tt_bound_port(udp));
		evdns_base_nameserver_ip_add(e.dns, ns);
		expect_error(&e, "ws://no-such-host.invalid/", NULL,
		    WSEV_DOMAIN_DNS, EVUTIL_EAI_NONAME);
		event_free(ev);
		close(udp);
	}
	/* Refused: a port nobody listens on (bound, closed). */
	{
		evutil_socket_t s = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind(s, (struct sockaddr *)&sin, sizeof(sin));
		snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", tt_bound_port(s));
		close(s);
	}
	expect_error(&e, url, NULL, WSEV_DOMAIN_ERRNO, ECONNREFUSED);
	/* A server that accepts and never answers: the timeout. */
	memset(&c, 0, sizeof(c));
	c.e = &e;
	l = evconnlistener_new_bind(e.base, canned_accept, &c,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
	    (struct sockaddr *)&sin, sizeof(sin));
	REQUIRE(l != NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/",
	    tt_bound_port(evconnlistener_get_fd(l)));
	wsev_connect_options_init(&o);
	o.timeout = &tv;
	expect_error(&e, url, &o, WSEV_DOMAIN_ERRNO, ETIMEDOUT);
	/* A TLS client against a server that never speaks TLS: timeout too. */
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/",
	    tt_bound_port(evconnlistener_get_fd(l)));
	o.insecure = 1;
	expect_error(&e, url, &o, WSEV_DOMAIN_ERRNO, ETIMEDOUT);
	for (k = 0; k < c.n; k++)
		bufferevent_free(c.bevs[k]);
	evconnlistener_free(l);
	/* A TLS client against a plain HTTP server: a TLS error. */
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/ws", e.port);
	expect_error(&e, url, &o, WSEV_DOMAIN_TLS, -1);
	env_stop(&e);
}

static void
test_bad_urls(void)
{
	static const char *const bad[] = { "http://example.com/", "ws://",
		"ws:///path", "ws://host/#frag", "ws://user@host/", "not a url",
		"wss//host", "" };
	struct wsev_connect_options o;
	struct wsev_error err;
	struct event_base *base = event_base_new();
	const char *const hdr[] = { "Bad\r\nInjected: 1", NULL };
	size_t i;
	int called = 0;

	wsev_connect_options_init(&o);
	o.error = &err;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		CHECK(wsev_connect(base, NULL, bad[i], &o, on_connected,
		    &called) == NULL);
		CHECK_INT(err.domain, ==, WSEV_DOMAIN_WEBSOCKET);
		CHECK(err.message[0] != '\0');
	}
	o.headers = hdr;
	CHECK(wsev_connect(base, NULL, "ws://127.0.0.1:1/", &o, on_connected,
	    &called) == NULL);
	CHECK(strstr(err.message, "header") != NULL);
	CHECK(strpbrk(err.message, "\r\n") == NULL);	/* one line */
	o.headers = NULL;
	CHECK(wsev_connect(base, NULL, "http://a\nb/", &o, on_connected,
	    &called) == NULL);
	CHECK(strpbrk(err.message, "\r\n") == NULL);
	CHECK(wsev_connect(base, NULL, NULL, NULL, on_connected, NULL) == NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}

/* A name server that never answers keeps the lookup pending. */
static void
test_cancel(void)
{
	struct env e;
	struct wsev_connect_options o;
	struct wsev_connect_request *r;
	struct canned c, ct;
	struct sockaddr_in sin;
	struct evconnlistener *l, *lt;
	evutil_socket_t udp;
	char url[128], ns[64];
	int k, stage;

	REQUIRE(env_start(&e, 1) == 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	bind(udp, (struct sockaddr *)&sin, sizeof(sin));
	snprintf(ns, sizeof(ns), "127.0.0.1:%d", tt_bound_port(udp));
	evdns_base_nameserver_ip_add(e.dns, ns);
	memset(&c, 0, sizeof(c));
	c.e = &e;
	l = evconnlistener_new_bind(e.base, canned_accept, &c,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
	    (struct sockaddr *)&sin, sizeof(sin));
	REQUIRE(l != NULL);
	/* TLS that completes, then no HTTP answer. */
	memset(&ct, 0, sizeof(ct));
	ct.e = &e;
	ct.ctx = e.sctx;
	lt = evconnlistener_new_bind(e.base, canned_accept, &ct,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
	    (struct sockaddr *)&sin, sizeof(sin));
	REQUIRE(lt != NULL);
	wsev_connect_options_init(&o);
	o.ca_file = e.cafile;

	for (stage = 0; stage < 5; stage++) {
		switch (stage) {
		case 0:	/* DNS: the query waits on the silent server */
			snprintf(url, sizeof(url), "ws://pending.example:%d/",
			    e.port);
			break;
		case 1:	/* TCP: cancelled right after the call */
		case 2:	/* HTTP: request sent, no answer yet */
			snprintf(url, sizeof(url), "ws://127.0.0.1:%d/",
			    tt_bound_port(evconnlistener_get_fd(l)));
			break;
		case 3:	/* TLS: the server accepts TCP and never speaks TLS */
			snprintf(url, sizeof(url), "wss://localhost:%d/",
			    tt_bound_port(evconnlistener_get_fd(l)));
			break;
		case 4:	/* TLS done, the request sent, no answer yet */
			snprintf(url, sizeof(url), "wss://localhost:%d/ws",
			    tt_bound_port(evconnlistener_get_fd(lt)));
			break;
		}
		r = connect_to(&e, url, &o);
		if (stage != 1)
			settle(&e, 50);
		CHECK_INT(e.called, ==, 0);
		wsev_connect_cancel(r);
		settle(&e, 100);
		if (e.called)
			printf("  stage %d: called after cancel\n", stage);
		CHECK_INT(e.called, ==, 0);
	}
	/* Stage 4 did get as far as the request. */
	CHECK_INT(ct.n, ==, 1);
	REQUIRE(ct.n == 1);
	CHECK(evbuffer_get_length(bufferevent_get_input(ct.bevs[0])) > 0);
	for (k = 0; k < c.n; k++)
		bufferevent_free(c.bevs[k]);
	for (k = 0; k < ct.n; k++)
		bufferevent_free(ct.bevs[k]);
	evconnlistener_free(l);
	evconnlistener_free(lt);
	close(udp);
	wsev_connect_cancel(NULL);
	env_stop(&e);
}

static SSL *
ssl_of(struct wsev_connection *c)
{
	return bufferevent_openssl_get_ssl(wsev_connection_get_bufferevent(c));
}

/*
 * wss:// without an ssl_ctx: one default context (the CA store parsed once
 * per process) for every connect, verifying or insecure; verification is
 * set per SSL.
 */
static void
test_default_context(void)
{
	struct env e;
	struct wsev_connect_options o;
	struct wsev_connection *conns[3] = { NULL, NULL, NULL };
	SSL_CTX *mine;
	char url[128];
	int i;

	REQUIRE(env_start(&e, 1) == 0);
	SSL_CTX_free(e.sctx);
	REQUIRE(SSL_CTX_up_ref(trusted_sctx) == 1);
	e.sctx = trusted_sctx;
	snprintf(url, sizeof(url), "wss://localhost:%d/ws", e.port);
	for (i = 0; i < 3; i++) {
		wsev_connect_options_init(&o);
		o.insecure = i == 2;
		connect_to(&e, url, i ? &o : NULL);
		RUN_UNTIL(&e, e.called, 5);
		if (!e.conn) {
			printf("  connect %d: %s\n", i, e.err.message);
			tt_failed_checks++;
			goto out;
		}
		/* All open at once: a freed context's address is not reused. */
		conns[i] = e.conn;
		e.conn = NULL;
	}
	CHECK(SSL_get_SSL_CTX(ssl_of(conns[0])) ==
	    SSL_get_SSL_CTX(ssl_of(conns[1])));
	CHECK(SSL_get_SSL_CTX(ssl_of(conns[0])) ==
	    SSL_get_SSL_CTX(ssl_of(conns[2])));
	CHECK(SSL_get_verify_mode(ssl_of(conns[1])) & SSL_VERIFY_PEER);
	CHECK_INT(SSL_get_verify_mode(ssl_of(conns[2])), ==, SSL_VERIFY_NONE);
	/* The caller's own context is used as given. */
	mine = SSL_CTX_new(TLS_client_method());
	REQUIRE(mine != NULL);
	wsev_connect_options_init(&o);
	o.ssl_ctx = mine;
	o.insecure = 1;
	connect_to(&e, url, &o);
	RUN_UNTIL(&e, e.called, 5);
	CHECK(e.conn != NULL);
	if (e.conn)
		CHECK(SSL_get_SSL_CTX(ssl_of(e.conn)) == mine);
	SSL_CTX_free(mine);
out:
	for (i = 0; i < 3; i++)
		wsev_connection_free(conns[i]);
	env_stop(&e);
}

/* A TLS server that reads the request and hangs up, with a close_notify
 * or without. */
struct hangup {
	struct env *e;
	SSL_CTX *ctx;
	int notify;
	struct bufferevent *bev;
};

static void
hangup_read(struct bufferevent *bev, void *arg)
{
	struct hangup *h = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (evbuffer_search(in, "\r\n\r\n", 4, NULL).pos < 0)
		return;
	/* All read: the close is a FIN, not a reset. */
	evbuffer_drain(in, evbuffer_get_length(in));
	if (h->notify)
		SSL_shutdown(bufferevent_openssl_get_ssl(bev));
	ERR_clear_error();
	bufferevent_free(bev);
	h->bev = NULL;
}

static void
hangup_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct hangup *h = arg;

	(void)l;
	(void)sa;
	(void)len;
	if (h->bev) {
		evutil_closesocket(fd);
		return;
	}
	h->bev = bufferevent_openssl_socket_new(h->e->base, fd,
	    SSL_new(h->ctx), BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(h->bev, hangup_read, NULL, NULL, h);
	bufferevent_enable(h->bev, EV_READ | EV_WRITE);
}

/*
 * insecure: the certificate's verify result (self-signed here) is not
 * the reason of a failure; a server that hangs up after the TLS handshake
 * hung up.
 */
static void
test_insecure_hangup(void)
{
	struct env e;
	struct wsev_connect_options o;
	struct sockaddr_in sin;
	struct evconnlistener *l;
	struct hangup h;
	char url[128];
	int notify;

	REQUIRE(env_start(&e, 1) == 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (notify = 1; notify >= 0; notify--) {
		memset(&h, 0, sizeof(h));
		h.e = &e;
		h.ctx = e.sctx;
		h.notify = notify;
		l = evconnlistener_new_bind(e.base, hangup_accept, &h,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
		    (struct sockaddr *)&sin, sizeof(sin));
		REQUIRE(l != NULL);
		snprintf(url, sizeof(url), "wss://localhost:%d/ws",
		    tt_bound_port(evconnlistener_get_fd(l)));
		wsev_connect_options_init(&o);
		o.insecure = 1;
		expect_error(&e, url, &o, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_FAILED);
		CHECK(strstr(e.err.message, "closed") != NULL);
		if (h.bev)
			bufferevent_free(h.bev);
		evconnlistener_free(l);
	}
	env_stop(&e);
}

struct queue_watch {
	int errors, closed;
	unsigned long seen;	/* the queue's oldest error in "closed" */
	int own;		/* wsev left errors of its own behind */
};

static void
raise_on_error(struct wsev_connection *c, const struct wsev_error *err,
    void *arg)
{
	struct queue_watch *w = arg;

	(void)c;
	(void)err;
	w->errors++;
	ERR_raise(ERR_LIB_USER, APP_ERR_REASON);
}

static void
check_on_closed(struct wsev_connection *c, void *arg)
{
	struct queue_watch *w = arg;

	(void)c;
	w->closed++;
	w->seen = ERR_peek_error();
	w->own = ERR_peek_last_error() != w->seen;
}

static int
is_app_error(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_USER &&
	    ERR_GET_REASON(e) == APP_ERR_REASON;
}

/*
 * The application's OpenSSL error queue survives wsev: a TLS set-up that
 * fails in wsev_connect, and the TLS close of a connection.
 */
static void
test_error_queue(void)
{
	static const struct wsev_callbacks cbs = {
		.error = raise_on_error, .closed = check_on_closed
	};
	struct env e;
	struct wsev_connect_options o;
	struct wsev_connection_options co;
	struct timeval close_tv = { 0, 100000 };
	struct wsev_error err;
	struct queue_watch w;
	struct canned c;
	struct evconnlistener *l;
	char url[128];
	int k;

	REQUIRE(env_start(&e, 1) == 0);
	ERR_clear_error();
	ERR_raise_data(ERR_LIB_USER, APP_ERR_REASON, "app detail %d", 7);
	wsev_connect_options_init(&o);
	o.ca_file = "/nonexistent/ca.pem";
	o.error = &err;
	CHECK(wsev_connect(e.base, NULL, "wss://localhost:1/", &o, on_connected,
	    &e) == NULL);
	CHECK_INT(err.domain, ==, WSEV_DOMAIN_TLS);
	CHECK(is_app_error(ERR_peek_error()));
	CHECK(ERR_peek_last_error() == ERR_peek_error());	/* ours only */
	{
		const char *data = NULL;
		int flags = 0;

		ERR_peek_error_data(&data, &flags);
		CHECK_STR(data, "app detail 7");
	}
	ERR_clear_error();
	/* The same through the default context, built here or before. */
	ERR_raise(ERR_LIB_USER, APP_ERR_REASON);
	wsev_connect_cancel(wsev_connect(e.base, NULL, "wss://localhost:1/",
	    NULL, on_connected, &e));
	CHECK(is_app_error(ERR_peek_error()));
	CHECK(ERR_peek_last_error() == ERR_peek_error());
	ERR_clear_error();

	/* A server that answers 101 and then ignores the close frame: the
	 * close timer ends the connection, with close_notify. The error
	 * callback runs right before; the queue is looked at in "closed". */
	memset(&c, 0, sizeof(c));
	c.e = &e;
	c.ctx = e.sctx;
	c.response = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n";
	l = listen_local(e.base, canned_accept, &c, "wss://localhost:%d/",
	    url, sizeof(url));
	REQUIRE(l != NULL);
	wsev_connect_options_init(&o);
	wsev_connection_options_init(&co);
	co.close_timeout = &close_tv;
	co.deflate.enabled = 0;
	o.connection = &co;
	o.ca_file = e.cafile;
	connect_to(&e, url, &o);
	RUN_UNTIL(&e, e.called, 5);
	REQUIRE(e.conn != NULL);
	settle(&e, 20);
	memset(&w, 0, sizeof(w));
	wsev_connection_set_callbacks(e.conn, &cbs, &w);
	CHECK_INT(wsev_connection_close(e.conn, WSEV_CLOSE_NORMAL, NULL), ==, 0);
	RUN_UNTIL(&e, w.closed, 3);
	CHECK_INT(w.errors, ==, 1);
	CHECK_INT(w.closed, ==, 1);
	CHECK(is_app_error(w.seen));
	CHECK_INT(w.own, ==, 0);
	if (!is_app_error(w.seen))
		printf("  the queue in \"closed\": %lx\n", w.seen);
	ERR_clear_error();
	wsev_connection_free(e.conn);
	e.conn = NULL;
	for (k = 0; k < c.n; k++)
		bufferevent_free(c.bevs[k]);
	evconnlistener_free(l);
	env_stop(&e);
}

/*
 * trusted_sctx and trusted_ca: tt_tls_make's certificate re-signed under a
 * subject of its own, so that a store holding it and another test's
 * certificate (subject "localhost" too) finds each by its name.
 */
static int
make_trusted(void)
{
	X509_NAME *name = X509_NAME_new();
	X509 *x = NULL;
	FILE *f = NULL;
	int rv = -1;

	if (tt_tls_make(&trusted_sctx, NULL, trusted_ca,
	    sizeof(trusted_ca)) < 0 || !name ||
	    !(x = X509_dup(SSL_CTX_get0_certificate(trusted_sctx))) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"wsev test default CA", -1, -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    !X509_sign(x, SSL_CTX_get0_privatekey(trusted_sctx), EVP_sha256()) ||
	    SSL_CTX_use_certificate(trusted_sctx, x) != 1 ||
	    !(f = fopen(trusted_ca, "w")) || PEM_write_X509(f, x) != 1)
		goto out;
	rv = 0;
out:
	if (f && fclose(f) != 0)
		rv = -1;
	X509_free(x);
	X509_NAME_free(name);
	return rv;
}

static const struct tt_case cases[] = {
	{ "client/plain", test_plain },
	{ "client/ipv6", test_ipv6 },
	{ "client/tls", test_tls },
	{ "client/bad-servers", test_bad_servers },
	{ "client/failures", test_failures },
	{ "client/bad-urls", test_bad_urls },
	{ "client/cancel", test_cancel },
	{ "client/default-context", test_default_context },
	{ "client/insecure-hangup", test_insecure_hangup },
	{ "client/error-queue", test_error_queue },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* Before any connect: the default context reads it once. */
	if (make_trusted() < 0)
		return 1;
	setenv("SSL_CERT_FILE", trusted_ca, 1);
	rc = tt_run(cases, argc > 1 ? argv[1] : NULL);
	SSL_CTX_free(trusted_sctx);
	unlink(trusted_ca);
	return rc;
}
