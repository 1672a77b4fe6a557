/*
 * wsev_connect: a ws:// or wss:// URL to an OPEN connection.
 *
 * The HTTP exchange is done here on the connection's own bufferevent rather
 * than with evhttp's client: the request is an evhttp_request prepared by
 * wsev_client_prepare_handshake() and the response is parsed into it and
 * judged by wsev_client_verify_handshake(), so client and helpers cannot
 * drift apart; and owning the bufferevent from the start means every stage
 * (DNS, TCP, TLS, HTTP) reports its own error, a cancel at any stage frees
 * one object, and the bytes behind the 101 are simply left in the input for
 * the connection.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"
#include "proxy.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define DEFAULT_TIMEOUT_SEC 30
/* A 101 with more header bytes than this is refused. */
#define MAX_RESPONSE_HEAD 16384

/* Where a URL leads: what wsev_connect() needs of it. */
struct connect_target {
	int tls;
	int port;
	int is_ip;		/* an address literal: no lookup, no SNI */
	char host[256];		/* without an IPv6 literal's brackets */
	char host_header[300];
};

/* The step an attempt is at: through a proxy, the steps before
 * HOP_SERVER talk to the proxy (and their errors name it). */
enum connect_hop {
	HOP_SERVER = 0,		/* direct, or through the tunnel */
	HOP_CONNECT_REPLY,	/* CONNECT sent, its answer awaited */
	HOP_SOCKS_METHOD,	/* SOCKS5 greeting sent */
	HOP_SOCKS_AUTH,		/* username/password sent */
	HOP_SOCKS_RESOLVE,	/* socks5://: the server's name looked up here */
	HOP_SOCKS_REPLY		/* SOCKS5 CONNECT sent */
};

struct wsev_connect_request {
	struct event_base *base;
	struct bufferevent *bev;
	struct evhttp_request *req;	/* our headers out, the server's in */
	char *url;
	char *origin;
	struct event *timer;
	wsev_connect_cb cb;
	void *arg;
	struct wsev_connection_options copts;	/* the new connection's */
	struct timeval close_timeout;	/* copts.close_timeout points here */
	int dns_error;		/* a lookup that failed: reported from the loop */
	char host[256];		/* for messages */
	/* Our own lookup: bufferevent_socket_connect_hostname() in libevent
	 * 2.1 leaks the bufferevent when it is freed during the lookup. */
	struct evdns_getaddrinfo_request *dnsreq;
	struct evutil_addrinfo *ai, *ai_cur;	/* addresses left to try */
	int connected;
	int cancelled;		/* waiting for the lookup's cancel callback */
	int in_lookup_call;	/* inside evdns_getaddrinfo() */
	int sync_answered;	/* it answered from inside: result below */
	int sync_result;
	struct timeval timeout;	/* the whole attempt's */
	char *resource;		/* the GET's path and query */
	/* Through a proxy (proxy.h); NULL when direct. */
	struct wsev_proxy_url_ *proxy;
	enum connect_hop hop;
	char proxy_name[300];	/* "host:port", for messages */
	SSL *proxy_ssl;		/* the TLS to an https:// proxy (the bev's) */
	SSL *server_ssl;	/* wss:// through a proxy: until the tunnel */
	struct connect_target target;
	struct evdns_base *dns_base;
	struct evutil_addrinfo *target_ai;	/* a synchronous SOCKS lookup */
};

void
wsev_connect_options_init(struct wsev_connect_options *o)
{
	memset(o, 0, sizeof(*o));
}

static void client_on_resolved(int result, struct evutil_addrinfo *ai,
    void *arg);
static void lookup_hints(struct evutil_addrinfo *hints, int port,
    char portstr[16]);

static void
connect_request_free(struct wsev_connect_request *r)
{
	if (r->timer)
		event_free(r->timer);
	r->timer = NULL;
	if (r->bev)
		bufferevent_free(r->bev);
	r->bev = NULL;
	if (r->req)
		evhttp_request_free(r->req);
	r->req = NULL;
	if (r->ai)
		evutil_freeaddrinfo(r->ai);
	r->ai = NULL;
	free(r->url);
	free(r->origin);
	free(r->resource);
	free(r->proxy);
	SSL_free(r->server_ssl);
	r->url = r->origin = r->resource = NULL;
	r->proxy = NULL;
	r->server_ssl = NULL;
	if (r->dnsreq) {
		/* evdns calls back (with EVUTIL_EAI_CANCEL) from the loop:
		 * the rest of r is freed then. */
		r->cancelled = 1;
		evdns_getaddrinfo_cancel(r->dnsreq);
		return;
	}
	free(r);
}

/* A lookup's answer after a cancel: r goes now (1), its lookup being the
 * last of it (see connect_request_free). */
static int
lookup_cancelled(struct wsev_connect_request *r, struct evutil_addrinfo *ai)
{
	r->dnsreq = NULL;
	if (!r->cancelled)
		return 0;
	if (ai)
		evutil_freeaddrinfo(ai);
	free(r);
	return 1;
}

/* The one way out: the callback, once, then nothing of r remains. */
static void
client_finish(struct wsev_connect_request *r, struct wsev_connection *conn,
    const struct wsev_error *err)
{
	wsev_connect_cb cb = r->cb;
	void *arg = r->arg;

	connect_request_free(r);
	cb(conn, err, arg);
}

/* A socket error or the timeout while still talking to the proxy names
 * the proxy. */
static void
client_fail(struct wsev_connect_request *r, enum wsev_error_domain domain,
    int code, const char *fmt, const char *detail)
{
	struct wsev_error err;
	char msg[sizeof(err.message)];

	snprintf(msg, sizeof(msg), fmt, detail);
	if (r->proxy && r->hop != HOP_SERVER && domain == WSEV_DOMAIN_ERRNO)
		wsev_error_set_(&err, domain, code, "proxy %s: %s",
		    r->proxy_name, msg);
	else
		wsev_error_set_(&err, domain, code, "%s", msg);
	client_finish(r, NULL, &err);
}

static void
client_fail_dns(struct wsev_connect_request *r, int code)
{
	struct wsev_error err;

	wsev_error_set_(&err, WSEV_DOMAIN_DNS, code, "cannot resolve %s: %s",
	    r->host, evutil_gai_strerror(code));
	client_finish(r, NULL, &err);
}

static void
client_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct wsev_connect_request *r = arg;

	(void)fd;
	(void)what;
	if (r->sync_answered) {
		struct evutil_addrinfo *ai = r->ai;

		r->sync_answered = 0;
		r->ai = NULL;
		evtimer_add(r->timer, &r->timeout);
		client_on_resolved(r->sync_result, ai, r);
	} else if (r->dns_error)
		client_fail_dns(r, r->dns_error);
	else
		client_fail(r, WSEV_DOMAIN_ERRNO, ETIMEDOUT, "%s",
		    "connection and handshake timed out");
}

/* Parse the status line and headers (head: NUL-terminated, without the
 * blank line) into r->req. Returns 0, or -1 if it is not HTTP. */
static int
parse_response_head(struct wsev_connect_request *r, char *head)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
	char *line = head, *next, *colon, *v, *e;
	int major, minor, code;

	next = strstr(line, "\r\n");
	if (next)
		*next = '\0';
	if (sscanf(line, "HTTP/%d.%d %3d", &major, &minor, &code) != 3 ||
	    code < 100 || code > 999)
		return -1;
	r->req->response_code = code;
	r->req->major = (char)major;
	r->req->minor = (char)minor;
	while (next) {
		line = next + 2;
		next = strstr(line, "\r\n");
		if (next)
			*next = '\0';
		if (*line == '\0')
			continue;
		/* RFC 7230 §3.2.4: no obsolete line folding, no space
		 * before the colon. */
		if (*line == ' ' || *line == '\t' || !(colon = strchr(line, ':')) ||
		    colon == line || colon[-1] == ' ' || colon[-1] == '\t')
			return -1;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		if (evhttp_add_header(in, line, v) < 0)
			return -1;
	}
	return 0;
}

static void
client_on_read(struct bufferevent *bev, void *arg)
{
	struct wsev_connect_request *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	struct wsev_connection *conn;
	struct wsev_extensions ext;
	struct wsev_error err;
	const char *protocol;
	char *head;

	if (end.pos < 0) {
		if (evbuffer_get_length(in) > MAX_RESPONSE_HEAD)
			client_fail(r, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_BAD_HANDSHAKE,
			    "%s", "the server's response head is too long");
		return;
	}
	if ((size_t)end.pos > MAX_RESPONSE_HEAD || !(head = malloc(
	    (size_t)end.pos + 1))) {
		client_fail(r, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_BAD_HANDSHAKE, "%s",
		    "the server's response head is too long");
		return;
	}
	evbuffer_remove(in, head, (size_t)end.pos);
	head[end.pos] = '\0';
	evbuffer_drain(in, 4);	/* the blank line; the rest is frames */
	if (parse_response_head(r, head) < 0) {
		free(head);
		client_fail(r, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_NOT_WEBSOCKET, "%s",
		    "the server did not answer with HTTP");
		return;
	}
	free(head);
	if (!wsev_client_verify_handshake_with_extensions(r->req,
	    &r->copts.deflate, &ext, &err)) {
		client_finish(r, NULL, &err);
		return;
	}
	protocol = wsev_header_last_(evhttp_request_get_input_headers(r->req),
	    "Sec-WebSocket-Protocol");
	conn = wsev_connection_new_with_extensions(bev, r->url,
	    WSEV_CONNECTION_CLIENT, r->origin, protocol, &ext);
	if (!conn) {
		client_fail(r, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED, "%s",
		    "out of memory");
		return;
	}
	r->bev = NULL;	/* the connection's now */
	wsev_connection_set_options(conn, &r->copts);
	client_finish(r, conn, NULL);
}

/* Connect to the next resolved address; -1 when none is left. */
static int
connect_next_address(struct wsev_connect_request *r)
{
	evutil_socket_t fd;

	while (r->ai_cur) {
		struct evutil_addrinfo *a = r->ai_cur;

		r->ai_cur = a->ai_next;
		fd = bufferevent_getfd(r->bev);
		if (fd >= 0) {	/* the previous attempt's socket */
			bufferevent_setfd(r->bev, -1);
			evutil_closesocket(fd);
		}
		if (bufferevent_socket_connect(r->bev, a->ai_addr,
		    (int)a->ai_addrlen) == 0) {
			wsev_set_nodelay_(r->bev);
			return 0;
		}
	}
	return -1;
}

static void
client_on_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct wsev_connect_request *r = arg;
	int e;

	if (lookup_cancelled(r, ai))
		return;
	if (result != 0 || !ai) {
		r->dns_error = result ? result : EVUTIL_EAI_NONAME;
		client_fail_dns(r, r->dns_error);
		return;
	}
	r->ai = r->ai_cur = ai;
	if (connect_next_address(r) < 0) {
		e = EVUTIL_SOCKET_ERROR();
		client_fail(r, WSEV_DOMAIN_ERRNO, e, "%s",
		    evutil_socket_error_to_string(e));
	}
}

/* evdns answers /etc/hosts names from inside evdns_getaddrinfo(); the
 * answer is kept and acted on from the loop, after wsev_connect returned. */
static void
client_on_resolved_sync(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct wsev_connect_request *r = arg;

	if (r->in_lookup_call) {
		r->sync_answered = 1;
		r->sync_result = result;
		r->ai = ai;
		return;
	}
	client_on_resolved(result, ai, arg);
}

/*
 * Whether the TLS of @p bev (if it has one) is why the attempt failed:
 * then the attempt is ended here (1). Through a proxy the message says
 * which TLS: to the proxy (https://) or to the server, whose TLS runs as
 * a filter over the proxy's connection. *sys is cleared for a TCP close
 * without close_notify, which is a hang-up, not an error.
 */
static int
client_tls_failed(struct wsev_connect_request *r, struct bufferevent *bev,
    unsigned long ssl_err, int *sys)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	char label[340], buf[256];
	struct wsev_error err;

	if (!ssl)
		return 0;
	label[0] = '\0';
	if (r->proxy && ssl == r->proxy_ssl)
		snprintf(label, sizeof(label), "TLS to the proxy %s: ",
		    r->proxy_name);
	else if (r->proxy)
		snprintf(label, sizeof(label), "TLS to the server: ");
	/* OpenSSL records a verify result even when it was told not to act
	 * on it (insecure): only a verifying SSL failed because of it. */
	if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
	    SSL_get_verify_result(ssl) != X509_V_OK) {
		wsev_error_set_(&err, WSEV_DOMAIN_TLS,
		    (int)SSL_get_verify_result(ssl),
		    "%scertificate verification failed: %s", label,
		    X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
		client_finish(r, NULL, &err);
		return 1;
	}
	/* OpenSSL 3 reports a TCP close without close_notify as an error
	 * (errno then means nothing): the server hung up all the same. */
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
	if (ssl_err && ERR_GET_LIB(ssl_err) == ERR_LIB_SSL &&
	    ERR_GET_REASON(ssl_err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		*sys = 0;
		return 0;
	}
#endif
	if (!ssl_err)
		return 0;
	ERR_error_string_n(ssl_err, buf, sizeof(buf));
	wsev_error_set_(&err, WSEV_DOMAIN_TLS, ERR_GET_REASON(ssl_err), "%s%s",
	    label, buf);
	client_finish(r, NULL, &err);
	return 1;
}

static void
client_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct wsev_connect_request *r = arg;
	struct bufferevent *under = bufferevent_get_underlying(bev);
	int dns = bufferevent_socket_get_dns_error(bev);
	int sys = EVUTIL_SOCKET_ERROR();
	unsigned long ssl_err, under_err;

	if (what & BEV_EVENT_CONNECTED) {
		r->connected = 1;
		return;
	}
	ssl_err = wsev_tls_error_(bev);
	under_err = under ? wsev_tls_error_(under) : 0;
	/* Refused or unreachable before any byte: the next address. */
	if (!r->connected && r->ai_cur && !ssl_err && connect_next_address(r) == 0)
		return;
	if (dns) {
		client_fail_dns(r, dns);
		return;
	}
	if (client_tls_failed(r, bev, ssl_err, &sys) ||
	    (under && client_tls_failed(r, under, under_err, &sys)))
		return;
	if ((what & BEV_EVENT_ERROR) && sys) {
		client_fail(r, WSEV_DOMAIN_ERRNO, sys, "%s",
		    evutil_socket_error_to_string(sys));
		return;
	}
	if (r->proxy && r->hop != HOP_SERVER) {
		client_fail(r, WSEV_DOMAIN_PROXY, WSEV_PROXY_ERROR_CLOSED,
		    "proxy %s closed the connection before its answer was whole",
		    r->proxy_name);
		return;
	}
	client_fail(r, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED, "%s",
	    "the server closed the connection during the handshake");
}

/* A header line the user gave: "Name: value", no CR or LF anywhere. */
static int
add_user_header(struct evkeyvalq *out, const char *line)
{
	const char *colon = strchr(line, ':'), *v;
	char name[128];
	size_t n;

	if (!colon || strpbrk(line, "\r\n") || colon == line ||
	    (size_t)(colon - line) >= sizeof(name))
		return -1;
	n = (size_t)(colon - line);
	memcpy(name, line, n);
	name[n] = '\0';
	if (strpbrk(name, " \t"))
		return -1;
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	return evhttp_add_header(out, name, v);
}

/*
 * The default context for wss:// without an ssl_ctx: the system CA store
 * with peer verification, built at the first connect that needs it and
 * kept for the life of the process. Parsing the CA bundle takes tens of
 * milliseconds, which the event loop must not spend on every connect. Once
 * built it is only read (SSL_new takes a reference of its own), which
 * OpenSSL allows from any thread; a build that fails is tried again at the
 * next connect.
 */
static pthread_mutex_t default_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *default_ctx;

static SSL_CTX *
get_default_ctx(void)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&default_ctx_lock);
	if (!default_ctx && (ctx = SSL_CTX_new(TLS_client_method())) != NULL) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_set_default_verify_paths(ctx) == 1)
			default_ctx = ctx;
		else
			SSL_CTX_free(ctx);
	}
	ctx = default_ctx;
	pthread_mutex_unlock(&default_ctx_lock);
	return ctx;
}

/* A context of its own for a ca_file: the system store and the file. */
static SSL_CTX *
new_ca_file_ctx(const char *ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * The SSL of a wss:// connect. Verification is set on the SSL, not the
 * context: an insecure connect shares the default context with verifying
 * ones. OpenSSL's error queue is the application's too, and
 * SSL_CTX_set_default_verify_paths() empties it: what was queued is kept
 * aside and put back, what our calls add is taken off.
 */
static SSL *
new_client_ssl(const struct wsev_connect_options *o, const char *host,
    int host_is_ip, struct wsev_error *err)
{
	struct wsev_tls_errors_ app;
	SSL_CTX *ctx = o->ssl_ctx, *own = NULL;
	SSL *ssl = NULL;

	wsev_tls_errors_save_(&app);
	if (!ctx && o->ca_file && !o->insecure)
		ctx = own = new_ca_file_ctx(o->ca_file);
	else if (!ctx)
		ctx = get_default_ctx();
	if (!ctx)
		goto fail;
	ssl = SSL_new(ctx);
	SSL_CTX_free(own);	/* the SSL holds its own reference */
	if (!ssl)
		goto fail;
	/* The handshake's record buffers go when it is done. */
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	if (o->insecure) {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	} else {
		/* RFC 6125 host-name checking on top of chain verification. */
		X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
		if ((host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) :
		    SSL_set1_host(ssl, host)) != 1)
			goto fail;
	}
	if (!host_is_ip && SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	ERR_clear_error();
	wsev_tls_errors_restore_(&app);
	return ssl;
fail:
	wsev_error_set_(err, WSEV_DOMAIN_TLS,
	    (int)ERR_GET_REASON(ERR_peek_last_error()),
	    "cannot set up TLS: %s", o->ca_file ? o->ca_file : "no CA file");
	SSL_free(ssl);
	ERR_clear_error();
	wsev_tls_errors_restore_(&app);
	return NULL;
}

/* RFC 6455 §3: ws or wss, a host, and no fragment. Returns the parsed URI
 * (the caller frees it) or NULL with *err set. */
static struct evhttp_uri *
parse_target(const char *url, struct connect_target *t,
    struct wsev_error *err)
{
	struct evhttp_uri *u = evhttp_uri_parse_with_flags(url, 0);
	const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
	const char *host = u ? evhttp_uri_get_host(u) : NULL;
	size_t hl;

	if (!u || !scheme || (evutil_ascii_strcasecmp(scheme, "ws") &&
	    evutil_ascii_strcasecmp(scheme, "wss")) || !host || !*host ||
	    evhttp_uri_get_fragment(u) || evhttp_uri_get_userinfo(u)) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
		    "not a ws:// or wss:// URL with a host and no fragment: %s",
		    url);
		goto fail;
	}
	t->tls = !evutil_ascii_strcasecmp(scheme, "wss");
	t->port = evhttp_uri_get_port(u);
	if (t->port < 0)
		t->port = t->tls ? 443 : 80;
	hl = strlen(host);
	t->is_ip = host[0] == '[';
	if (t->is_ip) {	/* an IPv6 literal keeps its brackets in the URI */
		if (hl < 3 || hl - 2 >= sizeof(t->host))
			goto bad_host;
		memcpy(t->host, host + 1, hl - 2);
		t->host[hl - 2] = '\0';
	} else {
		struct in_addr a4;
		if (hl >= sizeof(t->host))
			goto bad_host;
		memcpy(t->host, host, hl + 1);
		t->is_ip = evutil_inet_pton(AF_INET, t->host, &a4) == 1;
	}
	/* The Host header keeps the brackets and names a non-default port. */
	if ((t->tls && t->port == 443) || (!t->tls && t->port == 80))
		snprintf(t->host_header, sizeof(t->host_header), "%s", host);
	else
		snprintf(t->host_header, sizeof(t->host_header), "%s:%d", host,
		    t->port);
	return u;
bad_host:
	wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
	    "bad host in %s", url);
fail:
	if (u)
		evhttp_uri_free(u);
	return NULL;
}

static void
set_oom(struct wsev_error *err)
{
	wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
	    "out of memory");
}

/* The request's state, the new connection's options copied in. */
static struct wsev_connect_request *
connect_request_new(struct event_base *base, const char *url,
    const struct wsev_connect_options *o, const struct connect_target *t,
    wsev_connect_cb cb, void *arg, struct wsev_error *err)
{
	struct wsev_connect_request *r = calloc(1, sizeof(*r));

	if (!r) {
		set_oom(err);
		return NULL;
	}
	r->base = base;
	snprintf(r->host, sizeof(r->host), "%s", t->host);
	r->cb = cb;
	r->arg = arg;
	if (o->connection) {
		r->copts = *o->connection;
		if (o->connection->close_timeout) {
			r->close_timeout = *o->connection->close_timeout;
			r->copts.close_timeout = &r->close_timeout;
		}
	} else {
		wsev_connection_options_init(&r->copts);
	}
	if (!(r->url = wsev_strdup_(url)) || (o->origin &&
	    !(r->origin = wsev_strdup_(o->origin))) ||
	    !(r->req = evhttp_request_new(NULL, NULL)) ||
	    !(r->timer = evtimer_new(base, client_on_timeout, r))) {
		set_oom(err);
		connect_request_free(r);
		return NULL;
	}
	return r;
}

/* The handshake's headers: the user's, Host, then wsev's own. */
static int
prepare_request_headers(struct wsev_connect_request *r,
    const struct wsev_connect_options *o, const struct connect_target *t,
    struct wsev_error *err)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
	int i;

	for (i = 0; o->headers && o->headers[i]; i++) {
		if (add_user_header(out, o->headers[i]) < 0) {
			wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
			    WSEV_ERROR_FAILED, "bad header line: %s",
			    o->headers[i]);
			return -1;
		}
	}
	/* A Host of the user's wins over ours. */
	if (!evhttp_find_header(out, "Host") &&
	    evhttp_add_header(out, "Host", t->host_header) < 0)
		goto oom;
	wsev_client_prepare_handshake_with_extensions(r->req, o->origin,
	    o->protocols, &r->copts.deflate);
	if (!evhttp_find_header(out, "Sec-WebSocket-Key"))
		goto oom;
	return 0;
oom:
	set_oom(err);
	return -1;
}

/* The bufferevent, TLS or plain, not yet connected. */
static int
open_transport(struct wsev_connect_request *r,
    const struct wsev_connect_options *o, const struct connect_target *t,
    struct wsev_error *err)
{
	SSL *ssl;

	if (!t->tls) {
		r->bev = bufferevent_socket_new(r->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	} else {
		if (!(ssl = new_client_ssl(o, t->host, t->is_ip, err)))
			return -1;
		r->bev = bufferevent_openssl_socket_new(r->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (!r->bev)
			SSL_free(ssl);
	}
	if (!r->bev) {
		set_oom(err);
		return -1;
	}
	return 0;
}

/* The GET's request target: the URL's path and query. */
static int
set_resource(struct wsev_connect_request *r, const struct evhttp_uri *u,
    struct wsev_error *err)
{
	const char *path = evhttp_uri_get_path(u);
	const char *query = evhttp_uri_get_query(u);
	size_t n;

	if (!path || !*path)
		path = "/";
	n = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
	if (!(r->resource = malloc(n))) {
		set_oom(err);
		return -1;
	}
	snprintf(r->resource, n, "%s%s%s", path, query ? "?" : "",
	    query ? query : "");
	return 0;
}

/* The request waits in the output until the transport is up. */
static void
queue_request(struct wsev_connect_request *r)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
	struct evbuffer *wire = bufferevent_get_output(r->bev);
	struct evkeyval *kv;

	evbuffer_add_printf(wire, "GET %s HTTP/1.1\r\n", r->resource);
	for (kv = out->tqh_first; kv; kv = kv->next.tqe_next)
		evbuffer_add_printf(wire, "%s: %s\r\n", kv->key, kv->value);
	evbuffer_add(wire, "\r\n", 2);
}

/* ---------------------------------------------------------------- proxies
 * The socket (or the TLS to an https:// proxy) carries the CONNECT or
 * SOCKS5 exchange first; once the proxy reports the tunnel open, the
 * WebSocket handshake goes through it, for wss:// inside a TLS filter
 * over the proxy's connection. */

static void
proxy_fail(struct wsev_connect_request *r, int code, const char *why)
{
	struct wsev_error err;

	wsev_error_set_(&err, WSEV_DOMAIN_PROXY, code, "proxy %s: %s",
	    r->proxy_name, why);
	client_finish(r, NULL, &err);
}

/* The proxy reports the tunnel open: the handshake goes through it. */
static void
tunnel_up(struct wsev_connect_request *r)
{
	struct bufferevent *f;

	r->hop = HOP_SERVER;
	if (r->server_ssl) {
		f = bufferevent_openssl_filter_new(r->base, r->bev, r->server_ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (!f) {
			client_fail(r, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
			    "%s", "out of memory");
			return;
		}
		r->server_ssl = NULL;	/* the filter's now */
		r->bev = f;
	}
	queue_request(r);
	bufferevent_setcb(r->bev, client_on_read, NULL, client_on_event, r);
	bufferevent_enable(r->bev, EV_READ | EV_WRITE);
}

static void
socks_send_connect(struct wsev_connect_request *r, int af, const void *addr)
{
	unsigned char msg[5 + 255 + 2];
	int n;

	n = wsev_socks5_connect_request_(msg, sizeof(msg),
	    af ? NULL : r->target.host, af, addr, r->target.port);
	if (n < 0) {
		proxy_fail(r, WSEV_PROXY_ERROR_BAD_URL,
		    "host name too long for SOCKS5");
		return;
	}
	r->hop = HOP_SOCKS_REPLY;
	evbuffer_add(bufferevent_get_output(r->bev), msg, (size_t)n);
}

static void
socks_resolved(struct wsev_connect_request *r, int result,
    struct evutil_addrinfo *ai)
{
	struct evutil_addrinfo *a;

	for (a = ai; a; a = a->ai_next)
		if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
			break;
	if (result != 0 || !a) {
		if (ai)
			evutil_freeaddrinfo(ai);
		snprintf(r->host, sizeof(r->host), "%s", r->target.host);
		client_fail_dns(r, result ? result : EVUTIL_EAI_NONAME);
		return;
	}
	if (a->ai_family == AF_INET)
		socks_send_connect(r, AF_INET,
		    &((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr);
	else
		socks_send_connect(r, AF_INET6,
		    &((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr);
	evutil_freeaddrinfo(ai);
}

static void
socks_on_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct wsev_connect_request *r = arg;

	if (r->in_lookup_call) {	/* acted on when evdns returns */
		r->sync_answered = 1;
		r->sync_result = result;
		r->target_ai = ai;
		return;
	}
	if (lookup_cancelled(r, ai))
		return;
	socks_resolved(r, result, ai);
}

/* RFC 1928 §4: the server's address, or for socks5h:// (and names
 * that are addresses already) what the URL says. */
static void
socks_request(struct wsev_connect_request *r)
{
	struct evutil_addrinfo hints, *ai = NULL;
	struct evdns_getaddrinfo_request *q;
	unsigned char a[16];
	char portstr[16];
	int rc;

	if (r->target.is_ip) {
		int af = evutil_inet_pton(AF_INET, r->target.host, a) == 1 ?
		    AF_INET : AF_INET6;
		if (af == AF_INET6 && evutil_inet_pton(af, r->target.host, a) != 1)
			af = 0;
		socks_send_connect(r, af, a);
		return;
	}
	if (r->proxy->kind == WSEV_PROXY_KIND_SOCKS5H_) {
		socks_send_connect(r, 0, NULL);
		return;
	}
	r->hop = HOP_SOCKS_RESOLVE;
	lookup_hints(&hints, r->target.port, portstr);
	if (!r->dns_base) {
		rc = evutil_getaddrinfo(r->target.host, portstr, &hints, &ai);
		socks_resolved(r, rc, ai);
		return;
	}
	r->in_lookup_call = 1;
	q = evdns_getaddrinfo(r->dns_base, r->target.host, portstr, &hints,
	    socks_on_resolved, r);
	r->in_lookup_call = 0;
	if (r->sync_answered) {
		r->sync_answered = 0;
		ai = r->target_ai;
		r->target_ai = NULL;
		socks_resolved(r, r->sync_result, ai);
		return;
	}
	r->dnsreq = q;
}

/* RFC 1928 §3 and RFC 1929: the method the proxy chose; our username
 * and password are queued if it asked for them. */
static int
socks_on_method(struct wsev_connect_request *r, const unsigned char *p,
    size_t len)
{
	unsigned char msg[3 + 255 + 255];
	int method, n = wsev_socks5_method_reply_(p, len, &method);

	if (n <= 0 || method == 0)
		return n;
	if (method != 2 || !r->proxy->has_auth) {
		proxy_fail(r, WSEV_PROXY_ERROR_NO_METHOD, method == 2 ?
		    "SOCKS5 proxy wants a username and password" :
		    "SOCKS5 proxy accepts none of the authentication methods offered");
		return -3;
	}
	n = wsev_socks5_auth_request_(msg, sizeof(msg), r->proxy->user,
	    r->proxy->pass);
	if (n < 0) {
		proxy_fail(r, WSEV_PROXY_ERROR_BAD_URL,
		    "SOCKS5 username or password over 255 bytes");
		return -3;
	}
	r->hop = HOP_SOCKS_AUTH;
	evbuffer_add(bufferevent_get_output(r->bev), msg, (size_t)n);
	return 2;
}

/*
 * What the proxy answered so far, in the step we are at. Each parser
 * returns what it used (drained here), WSEV_PROXY_PARTIAL_ (wait), or -1
 * (malformed); -3 means the step ended the attempt. A proxy answers only
 * what it was sent: bytes beyond an answer are left for the next step.
 */
static void
proxy_on_read(struct bufferevent *bev, void *arg)
{
	struct wsev_connect_request *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	size_t view = len > WSEV_PROXY_MAX_REPLY_ ? WSEV_PROXY_MAX_REPLY_ : len;
	const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)view);
	char reason[128], msg[512];
	int n = -1, status, rep;
	enum connect_hop hop = r->hop;

	if (!p && view)
		return;
	switch (hop) {
	case HOP_CONNECT_REPLY:
		n = wsev_proxy_connect_reply_((const char *)p, view, &status,
		    reason, sizeof(reason));
		if (n == WSEV_PROXY_PARTIAL_ && len >= WSEV_PROXY_MAX_REPLY_) {
			proxy_fail(r, WSEV_PROXY_ERROR_BAD_REPLY,
			    "answer to CONNECT over 16 KiB");
			return;
		}
		if (n > 0 && status / 100 != 2) {
			snprintf(msg, sizeof(msg), "CONNECT refused: %d %s%s",
			    status, reason, status == 407 ?
			    " (proxy authentication required)" : "");
			proxy_fail(r, status, msg);
			return;
		}
		break;
	case HOP_SOCKS_METHOD:
		n = socks_on_method(r, p, view);
		break;
	case HOP_SOCKS_AUTH:
		n = wsev_socks5_auth_reply_(p, view, &status);
		if (n > 0 && status != 0) {
			proxy_fail(r, WSEV_PROXY_ERROR_AUTH_FAILED,
			    "SOCKS5 username/password refused");
			return;
		}
		break;
	case HOP_SOCKS_REPLY:
		n = wsev_socks5_connect_reply_(p, view, &rep);
		if (n > 0 && rep != 0) {
			snprintf(msg, sizeof(msg), "SOCKS5 connect to %s:%d "
			    "failed: %s (reply %d)", r->target.host,
			    r->target.port, wsev_socks5_reply_string_(rep), rep);
			proxy_fail(r, WSEV_PROXY_ERROR_SOCKS + rep, msg);
			return;
		}
		break;
	case HOP_SOCKS_RESOLVE:
	case HOP_SERVER:
		break;	/* bytes nobody asked for: malformed */
	}
	if (n == -3 || n == WSEV_PROXY_PARTIAL_)
		return;
	if (n < 0) {
		proxy_fail(r, WSEV_PROXY_ERROR_BAD_REPLY, hop == HOP_CONNECT_REPLY ?
		    "answer to CONNECT is not HTTP/1.x" :
		    "malformed SOCKS5 answer");
		return;
	}
	evbuffer_drain(in, (size_t)n);
	if (hop == HOP_SOCKS_AUTH || (hop == HOP_SOCKS_METHOD &&
	    r->hop == HOP_SOCKS_METHOD))
		socks_request(r);
	else if (hop == HOP_CONNECT_REPLY || hop == HOP_SOCKS_REPLY)
		tunnel_up(r);
}

static void
lookup_hints(struct evutil_addrinfo *hints, int port, char portstr[16])
{
	memset(hints, 0, sizeof(*hints));
	hints->ai_family = AF_UNSPEC;
	hints->ai_socktype = SOCK_STREAM;
	hints->ai_protocol = IPPROTO_TCP;
	hints->ai_flags = EVUTIL_AI_ADDRCONFIG;
	snprintf(portstr, 16, "%d", port);
}

/*
 * Look the host up through evdns; the answer arrives in
 * client_on_resolved(). evdns answers /etc/hosts names from inside
 * evdns_getaddrinfo(): then *timeout becomes zero, and the timer acts on
 * the answer from the loop.
 */
static void
resolve_with_evdns(struct wsev_connect_request *r,
    struct evdns_base *dns_base, const struct connect_target *t,
    const struct timeval **timeout, struct timeval *now)
{
	struct evutil_addrinfo hints;
	char portstr[16];

	lookup_hints(&hints, t->port, portstr);
	r->timeout = **timeout;
	r->in_lookup_call = 1;
	r->dnsreq = evdns_getaddrinfo(dns_base, t->host, portstr, &hints,
	    client_on_resolved_sync, r);
	r->in_lookup_call = 0;
	if (r->sync_answered) {
		r->dnsreq = NULL;
		now->tv_sec = 0;
		now->tv_usec = 0;
		*timeout = now;
	}
}

/*
 * Without a dns_base (or for an address literal) the lookup is
 * getaddrinfo, here and now; every address is tried in turn as with
 * evdns. A failed lookup is still reported from the loop (*timeout becomes
 * zero); -1 with *err set when no address can even be tried.
 */
static int
resolve_with_getaddrinfo(struct wsev_connect_request *r,
    const struct connect_target *t, const struct timeval **timeout,
    struct timeval *now, struct wsev_error *err)
{
	struct evutil_addrinfo hints, *ai = NULL;
	char portstr[16];
	int rc, e;

	lookup_hints(&hints, t->port, portstr);
	rc = evutil_getaddrinfo(t->host, portstr, &hints, &ai);
	if (rc == 0 && ai) {
		r->ai = r->ai_cur = ai;
		if (connect_next_address(r) < 0) {
			e = EVUTIL_SOCKET_ERROR();
			wsev_error_set_(err, WSEV_DOMAIN_ERRNO, e,
			    "cannot connect: %s",
			    evutil_socket_error_to_string(e));
			return -1;
		}
	} else {
		r->dns_error = rc ? rc : EVUTIL_EAI_NONAME;
		bufferevent_setcb(r->bev, NULL, NULL, NULL, NULL);
		now->tv_sec = 0;
		now->tv_usec = 0;
		*timeout = now;
	}
	return 0;
}

/*
 * Through a proxy: the socket (or TLS to an https:// proxy) to the proxy
 * with its first message queued (CONNECT, or the SOCKS5 greeting), and
 * for wss:// the server's SSL, used once the tunnel is up. *hop becomes
 * where the socket connects: the proxy.
 */
static int
open_proxy_hop(struct wsev_connect_request *r,
    const struct wsev_connect_options *o, const struct connect_target *t,
    const char *proxy_url, struct connect_target *hop,
    struct wsev_error *err)
{
	struct wsev_proxy_url_ *p;
	char msg[sizeof(p->host) + 600];
	unsigned char greeting[4];
	SSL *ssl = NULL;
	int n, v6;

	if (!(p = r->proxy = malloc(sizeof(*p)))) {
		set_oom(err);
		return -1;
	}
	if (wsev_proxy_url_parse_(proxy_url, p, err) < 0)
		return -1;
	r->target = *t;
	v6 = strchr(p->host, ':') != NULL;
	snprintf(r->proxy_name, sizeof(r->proxy_name), "%s%s%s:%d",
	    v6 ? "[" : "", p->host, v6 ? "]" : "", p->port);
	snprintf(r->host, sizeof(r->host), "proxy %.240s", p->host);
	memset(hop, 0, sizeof(*hop));
	snprintf(hop->host, sizeof(hop->host), "%s", p->host);
	hop->port = p->port;
	hop->is_ip = p->is_ip;
	if (t->tls && !(r->server_ssl = new_client_ssl(o, t->host, t->is_ip,
	    err)))
		return -1;
	if (p->kind == WSEV_PROXY_KIND_HTTPS_) {
		if (!(ssl = new_client_ssl(o, p->host, p->is_ip, err)))
			return -1;
		r->bev = bufferevent_openssl_socket_new(r->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (!r->bev)
			SSL_free(ssl);
		r->proxy_ssl = ssl;
	} else {
		r->bev = bufferevent_socket_new(r->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	}
	if (!r->bev) {
		set_oom(err);
		return -1;
	}
	if (p->kind == WSEV_PROXY_KIND_HTTP_ || p->kind == WSEV_PROXY_KIND_HTTPS_) {
		n = wsev_proxy_connect_request_(msg, sizeof(msg), p, t->host,
		    t->port);
		r->hop = HOP_CONNECT_REPLY;
	} else {
		n = wsev_socks5_greeting_(greeting, p->has_auth);
		memcpy(msg, greeting, (size_t)n);
		r->hop = HOP_SOCKS_METHOD;
	}
	if (n < 0 || evbuffer_add(bufferevent_get_output(r->bev), msg,
	    (size_t)n) < 0) {
		set_oom(err);
		return -1;
	}
	bufferevent_setcb(r->bev, proxy_on_read, NULL, client_on_event, r);
	return 0;
}

struct wsev_connect_request *
wsev_connect(struct event_base *base, struct evdns_base *dns_base,
    const char *url, const struct wsev_connect_options *opts,
    wsev_connect_cb cb, void *arg)
{
	struct wsev_connect_options defaults;
	const struct wsev_connect_options *o = opts;
	struct wsev_error local, *err;
	struct wsev_connect_request *r = NULL;
	struct evhttp_uri *u;
	struct connect_target t, proxy_hop, *hop = &t;
	struct timeval tv = { DEFAULT_TIMEOUT_SEC, 0 };
	const struct timeval *timeout;
	const char *proxy;

	if (!o) {
		wsev_connect_options_init(&defaults);
		o = &defaults;
	}
	timeout = o->timeout ? o->timeout : &tv;
	err = o->error ? o->error : &local;
	if (!base || !url || !cb) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
		    "wsev_connect needs a base, a URL and a callback");
		return NULL;
	}
	if (!(u = parse_target(url, &t, err)))
		return NULL;
	proxy = o->proxy;
	if (!proxy && o->proxy_from_env)
		proxy = wsev_proxy_from_env_(t.tls, t.host, t.port);
	if (!(r = connect_request_new(base, url, o, &t, cb, arg, err)) ||
	    prepare_request_headers(r, o, &t, err) < 0 ||
	    set_resource(r, u, err) < 0)
		goto fail;
	r->dns_base = dns_base;
	if (proxy) {
		if (open_proxy_hop(r, o, &t, proxy, &proxy_hop, err) < 0)
			goto fail;
		hop = &proxy_hop;
	} else {
		if (open_transport(r, o, &t, err) < 0)
			goto fail;
		queue_request(r);
		bufferevent_setcb(r->bev, client_on_read, NULL,
		    client_on_event, r);
	}
	bufferevent_enable(r->bev, EV_READ | EV_WRITE);
	if (dns_base && !hop->is_ip)
		resolve_with_evdns(r, dns_base, hop, &timeout, &tv);
	else if (resolve_with_getaddrinfo(r, hop, &timeout, &tv, err) < 0)
		goto fail;
	evtimer_add(r->timer, timeout);
	evhttp_uri_free(u);
	return r;
fail:
	if (r)
		connect_request_free(r);
	evhttp_uri_free(u);
	return NULL;
}

void
wsev_connect_cancel(struct wsev_connect_request *r)
{
	if (r)
		connect_request_free(r);
}
