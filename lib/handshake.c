/*
 * The four handshake helpers of RFC 6455 §4 on evhttp requests, with
 * libsoup's rules: the order of the checks, the error codes, and the way
 * repeated headers are read (a list header is all its values joined; a
 * single-valued header is its last value), not evhttp_find_header's first
 * match.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"

#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* RFC 6455 §1.3 */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* evhttp_remove_header() removes the first header of that name only. */
static void
remove_all(struct evkeyvalq *h, const char *name)
{
	while (evhttp_remove_header(h, name) == 0)
		;
}

/* The last value of a single-valued header, or NULL. */
static const char *
header_last(const struct evkeyvalq *h, const char *name)
{
	const struct evkeyval *kv;
	const char *v = NULL;

	for (kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
		if (evutil_ascii_strcasecmp(kv->key, name) == 0)
			v = kv->value;
	}
	return v;
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Visit the comma-separated tokens of every value of a list header, trimmed
 * of optional whitespace; empty elements are skipped (RFC 7230 §7). Stops
 * when fn returns non-zero and returns that. *present tells whether the
 * header appeared at all.
 */
static int
header_tokens(const struct evkeyvalq *h, const char *name, int *present,
    int (*fn)(const char *tok, size_t len, void *arg), void *arg)
{
	const struct evkeyval *kv;
	int r;

	if (present)
		*present = 0;
	for (kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
		const char *p = kv->value;

		if (evutil_ascii_strcasecmp(kv->key, name) != 0)
			continue;
		if (present)
			*present = 1;
		while (*p) {
			const char *s, *e;

			while (is_ows(*p) || *p == ',')
				p++;
			s = p;
			while (*p && *p != ',')
				p++;
			e = p;
			while (e > s && is_ows(e[-1]))
				e--;
			if (e > s && (r = fn(s, (size_t)(e - s), arg)) != 0)
				return r;
		}
	}
	return 0;
}

struct token_match {
	const char *want;
	int nocase;
};

static int
token_equals(const char *tok, size_t len, void *arg)
{
	const struct token_match *m = arg;

	if (strlen(m->want) != len)
		return 0;
	return m->nocase ? evutil_ascii_strncasecmp(tok, m->want, len) == 0 :
	    memcmp(tok, m->want, len) == 0;
}

static int
count_token(const char *tok, size_t len, void *arg)
{
	(void)tok;
	(void)len;
	++*(int *)arg;
	return 0;
}

static int
header_has_token(const struct evkeyvalq *h, const char *name,
    const char *token, int nocase)
{
	struct token_match m = { token, nocase };

	return header_tokens(h, name, NULL, token_equals, &m);
}

/* The joined value of a list header equals want, case-insensitively. */
static int
header_list_equals(const struct evkeyvalq *h, const char *name,
    const char *want)
{
	int n = 0, present;

	header_tokens(h, name, &present, count_token, &n);
	return n == 1 && header_has_token(h, name, want, 1);
}

static int
is_base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* §4.1: the key is the base64 of 16 bytes: 22 characters and "==". */
static int
key_valid(const char *key)
{
	int i;

	if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return 0;
	for (i = 0; i < 22; i++)
		if (!is_base64_char(key[i]))
			return 0;
	return 1;
}

/* §4.2.2: base64(SHA-1(key + GUID)), 28 characters and a NUL. */
static int
compute_accept(const char *key, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (!ctx)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, key, strlen(key)) == 1 &&
	    EVP_DigestUpdate(ctx, ws_guid, sizeof(ws_guid) - 1) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, md, 20);
	return 0;
}

struct choose {
	const char *const *server;
	size_t best;		/* index into server; SIZE_MAX: none yet */
};

/* The server's order wins: remember the earliest server protocol offered;
 * matching is case-sensitive. */
static int
choose_token(const char *tok, size_t len, void *arg)
{
	struct choose *ch = arg;
	size_t i;

	for (i = 0; ch->server[i] && i < ch->best; i++) {
		if (strlen(ch->server[i]) == len &&
		    memcmp(ch->server[i], tok, len) == 0)
			ch->best = i;
	}
	return 0;
}

/* The protocol to answer with: NULL for none; *bad set if the offer must
 * be refused. */
static const char *
choose_protocol(struct evhttp_request *req, const char *const *protocols,
    int *bad)
{
	const struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct choose ch = { protocols, SIZE_MAX };
	int present, n = 0;

	*bad = 0;
	header_tokens(in, "Sec-WebSocket-Protocol", &present, count_token, &n);
	if (!present)
		return NULL;
	if (n == 0) {
		*bad = 1;	/* present but empty */
		return NULL;
	}
	if (!protocols)
		return NULL;	/* accept anything, select nothing */
	header_tokens(in, "Sec-WebSocket-Protocol", NULL, choose_token, &ch);
	if (ch.best == SIZE_MAX) {
		*bad = 1;
		return NULL;
	}
	return protocols[ch.best];
}

int
wsev_server_check_handshake(struct evhttp_request *req, const char *origin,
    const char *const *protocols, struct wsev_error *err)
{
	const struct evkeyvalq *in;
	const char *v;
	int bad;

	if (!req) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
		    "no request");
		return 0;
	}
	in = evhttp_request_get_input_headers(req);
	/* §4.1: a GET of HTTP/1.1 or later, asking to upgrade. (The
	 * version is only in struct evhttp_request on libevent 2.1.) */
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET ||
	    req->major < 1 || (req->major == 1 && req->minor < 1) ||
	    !header_list_equals(in, "Upgrade", "websocket") ||
	    !header_has_token(in, "Connection", "upgrade", 1)) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_NOT_WEBSOCKET,
		    "Requested resource is not a WebSocket resource");
		return 0;
	}
	v = header_last(in, "Sec-WebSocket-Version");
	if (!v || strcmp(v, "13") != 0) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "Unsupported WebSocket version %s", v ? v : "(none)");
		return 0;
	}
	if (!key_valid(header_last(in, "Sec-WebSocket-Key"))) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE, "Invalid WebSocket key");
		return 0;
	}
	if (!header_last(in, "Host")) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE, "Missing Host header");
		return 0;
	}
	if (origin) {
		v = header_last(in, "Origin");
		if (!v || evutil_ascii_strcasecmp(v, origin) != 0) {
			wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
			    WSEV_ERROR_BAD_ORIGIN,
			    "Incorrect WebSocket \"%s\" header", "Origin");
			return 0;
		}
	}
	choose_protocol(req, protocols, &bad);
	if (bad) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "Unsupported WebSocket subprotocol");
		return 0;
	}
	return 1;
}

/* Send the refusal: 403 for a bad origin, 400 otherwise, and close. */
static void
send_refusal(struct evhttp_request *req, const struct wsev_error *err)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();
	int code = err->code == WSEV_ERROR_BAD_ORIGIN ? 403 : 400;

	remove_all(out, "Connection");
	evhttp_add_header(out, "Connection", "close");
	remove_all(out, "Content-Type");
	evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
	/* §4.4: a version we do not speak is answered with the one we do. */
	if (!strncmp(err->message, "Unsupported WebSocket version", 29)) {
		remove_all(out, "Sec-WebSocket-Version");
		evhttp_add_header(out, "Sec-WebSocket-Version", "13");
	}
	if (body)
		evbuffer_add_printf(body, "%s\n", err->message);
	evhttp_send_reply(req, code, code == 403 ? "Forbidden" : "Bad Request",
	    body);
	if (body)
		evbuffer_free(body);
}

/* The 101 headers; the status line goes out with evhttp_send_reply. */
int
wsev_server_fill_response_(struct evhttp_request *req,
    const char *const *protocols, const char **chosen)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	char accept[29];
	int bad;

	if (compute_accept(header_last(evhttp_request_get_input_headers(req),
	    "Sec-WebSocket-Key"), accept) < 0)
		return -1;
	*chosen = choose_protocol(req, protocols, &bad);
	remove_all(out, "Upgrade");
	remove_all(out, "Connection");
	remove_all(out, "Sec-WebSocket-Accept");
	remove_all(out, "Sec-WebSocket-Protocol");
	if (evhttp_add_header(out, "Upgrade", "websocket") < 0 ||
	    evhttp_add_header(out, "Connection", "Upgrade") < 0 ||
	    evhttp_add_header(out, "Sec-WebSocket-Accept", accept) < 0 ||
	    (*chosen &&
	    evhttp_add_header(out, "Sec-WebSocket-Protocol", *chosen) < 0))
		return -1;
	return 0;
}

int
wsev_server_process_handshake_(struct evhttp_request *req,
    const char *expected_origin, const char *const *protocols,
    const char **chosen, struct wsev_error *err)
{
	struct wsev_error local;

	if (!err)
		err = &local;
	if (!wsev_server_check_handshake(req, expected_origin, protocols, err)) {
		if (req)
			send_refusal(req, err);
		return 0;
	}
	if (wsev_server_fill_response_(req, protocols, chosen) < 0) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
		    "out of memory");
		evhttp_send_error(req, 500, NULL);
		return 0;
	}
	return 1;
}

int
wsev_server_process_handshake(struct evhttp_request *req,
    const char *expected_origin, const char *const *protocols)
{
	const char *chosen;

	return wsev_server_process_handshake_(req, expected_origin, protocols,
	    &chosen, NULL);
}

void
wsev_client_prepare_handshake(struct evhttp_request *req, const char *origin,
    const char *const *protocols)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	unsigned char raw[16];
	char key[25];
	struct evbuffer *list;
	size_t i;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return;	/* no key: the server will refuse the handshake */
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	remove_all(out, "Upgrade");
	remove_all(out, "Connection");
	remove_all(out, "Sec-WebSocket-Key");
	remove_all(out, "Sec-WebSocket-Version");
	remove_all(out, "Origin");
	remove_all(out, "Sec-WebSocket-Protocol");
	evhttp_add_header(out, "Upgrade", "websocket");
	evhttp_add_header(out, "Connection", "Upgrade");
	evhttp_add_header(out, "Sec-WebSocket-Key", key);
	evhttp_add_header(out, "Sec-WebSocket-Version", "13");
	if (origin)
		evhttp_add_header(out, "Origin", origin);
	if (protocols && protocols[0] && (list = evbuffer_new()) != NULL) {
		const char *joined;
		int ok = 1;

		/* Every piece or no header: a list with a protocol missing
		 * would be a different offer. */
		for (i = 0; ok && protocols[i]; i++)
			ok = evbuffer_add_printf(list, "%s%s", i ? ", " : "",
			    protocols[i]) >= 0;
		if (ok && evbuffer_add(list, "", 1) == 0 &&
		    (joined = (const char *)evbuffer_pullup(list, -1)) != NULL)
			evhttp_add_header(out, "Sec-WebSocket-Protocol", joined);
		evbuffer_free(list);
	}
}

static int
first_token(const char *tok, size_t len, void *arg)
{
	(void)tok;
	(void)len;
	(void)arg;
	return 1;
}

int
wsev_client_verify_handshake(struct evhttp_request *req,
    struct wsev_error *err)
{
	const struct evkeyvalq *in, *out;
	const char *v, *key;
	char accept[29];
	int status;

	if (!req) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
		    "no request");
		return 0;
	}
	in = evhttp_request_get_input_headers(req);
	out = evhttp_request_get_output_headers(req);
	status = evhttp_request_get_response_code(req);
	if (status == 400) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "The server rejected the WebSocket handshake");
		return 0;
	}
	if (status != 101 || !header_list_equals(in, "Upgrade", "websocket") ||
	    !header_has_token(in, "Connection", "upgrade", 1)) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_NOT_WEBSOCKET,
		    "The server did not accept the WebSocket handshake (status %d)",
		    status);
		return 0;
	}
	v = header_last(in, "Sec-WebSocket-Protocol");
	if (v && !header_has_token(out, "Sec-WebSocket-Protocol", v, 0)) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "The server requested an incorrect subprotocol");
		return 0;
	}
	/* RFC 6455 §4.1: no extension we did not offer; we offer none. */
	if (header_tokens(in, "Sec-WebSocket-Extensions", NULL, first_token,
	    NULL)) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "The server requested an unsupported extension");
		return 0;
	}
	key = header_last(out, "Sec-WebSocket-Key");
	v = header_last(in, "Sec-WebSocket-Accept");
	if (!key || !v || compute_accept(key, accept) < 0 ||
	    strcmp(v, accept) != 0) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "The server did not send a valid accept key");
		return 0;
	}
	return 1;
}
