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
};

void
wsev_connect_options_init(struct wsev_connect_options *o)
{
	memset(o, 0, sizeof(*o));
}

static void client_on_resolved(int result, struct evutil_addrinfo *ai,
    void *arg);

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
	r->url = NULL;
	free(r->origin);
	r->origin = NULL;
	if (r->dnsreq) {
		/* evdns calls back (with EVUTIL_EAI_CANCEL) from the loop:
		 * the rest of r is freed then. */
		r->cancelled = 1;
		evdns_getaddrinfo_cancel(r->dnsreq);
		return;
	}
	free(r);
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

static void
client_fail(struct wsev_connect_request *r, enum wsev_error_domain domain,
    int code, const char *fmt, const char *detail)
{
	struct wsev_error err;

	wsev_error_set_(&err, domain, code, fmt, detail);
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

	r->dnsreq = NULL;
	if (r->cancelled) {
		if (ai)
			evutil_freeaddrinfo(ai);
		free(r);
		return;
	}
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

static void
client_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct wsev_connect_request *r = arg;
	int dns = bufferevent_socket_get_dns_error(bev);
	int sys = EVUTIL_SOCKET_ERROR();
	unsigned long ssl_err;
	SSL *ssl;
	char buf[256];

	if (what & BEV_EVENT_CONNECTED) {
		r->connected = 1;
		return;
	}
	ssl_err = wsev_tls_error_(bev);
	/* Refused or unreachable before any byte: the next address. */
	if (!r->connected && r->ai_cur && !ssl_err && connect_next_address(r) == 0)
		return;
	if (dns) {
		client_fail_dns(r, dns);
		return;
	}
	ssl = bufferevent_openssl_get_ssl(bev);
	/* OpenSSL records a verify result even when it was told not to act
	 * on it (insecure): only a verifying SSL failed because of it. */
	if (ssl && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
	    SSL_get_verify_result(ssl) != X509_V_OK) {
		snprintf(buf, sizeof(buf), "certificate verification failed: %s",
		    X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
		client_fail(r, WSEV_DOMAIN_TLS, (int)SSL_get_verify_result(ssl), "%s", buf);
		return;
	}
	/* OpenSSL 3 reports a TCP close without close_notify as an error
	 * (errno then means nothing): the server hung up all the same. */
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
	if (ssl_err && ERR_GET_LIB(ssl_err) == ERR_LIB_SSL &&
	    ERR_GET_REASON(ssl_err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ssl_err = 0;
		sys = 0;
	}
#endif
	if (ssl_err) {
		ERR_error_string_n(ssl_err, buf, sizeof(buf));
		client_fail(r, WSEV_DOMAIN_TLS, ERR_GET_REASON(ssl_err), "%s", buf);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && sys) {
		client_fail(r, WSEV_DOMAIN_ERRNO, sys, "%s",
		    evutil_socket_error_to_string(sys));
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

/* Where a URL leads: what wsev_connect() needs of it. */
struct connect_target {
	int tls;
	int port;
	int is_ip;		/* an address literal: no lookup, no SNI */
	char host[256];		/* without an IPv6 literal's brackets */
	char host_header[300];
};

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

/* The request waits in the output until the transport is up. */
static void
queue_request(struct wsev_connect_request *r, const struct evhttp_uri *u)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
	const char *path = evhttp_uri_get_path(u);
	const char *query = evhttp_uri_get_query(u);
	struct evbuffer *wire = bufferevent_get_output(r->bev);
	struct evkeyval *kv;

	evbuffer_add_printf(wire, "GET %s%s%s HTTP/1.1\r\n",
	    path && *path ? path : "/", query ? "?" : "", query ? query : "");
	for (kv = out->tqh_first; kv; kv = kv->next.tqe_next)
		evbuffer_add_printf(wire, "%s: %s\r\n", kv->key, kv->value);
	evbuffer_add(wire, "\r\n", 2);
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
	struct connect_target t;
	struct timeval tv = { DEFAULT_TIMEOUT_SEC, 0 };
	const struct timeval *timeout;

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
	if (!(r = connect_request_new(base, url, o, &t, cb, arg, err)) ||
	    prepare_request_headers(r, o, &t, err) < 0 ||
	    open_transport(r, o, &t, err) < 0)
		goto fail;
	queue_request(r, u);
	bufferevent_setcb(r->bev, client_on_read, NULL, client_on_event, r);
	bufferevent_enable(r->bev, EV_READ | EV_WRITE);
	if (dns_base && !t.is_ip)
		resolve_with_evdns(r, dns_base, &t, &timeout, &tv);
	else if (resolve_with_getaddrinfo(r, &t, &timeout, &tv, err) < 0)
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
