/*
 * Fuzz target: the four handshake helpers (lib/handshake.c) on
 * evhttp_request objects built from the input.
 *
 * Input: byte 0 = flags, then text: a request head (request line, header
 * lines), a blank line, a response head (status line, header lines). Lines
 * end with CR LF, CR or LF; a header line is split at its first colon (a
 * line without one is dropped), its value stripped of leading blanks.
 *   bits 0-1  the server's protocols: NULL, {chat}, {superchat, chat}, {}
 *   bit 2     the server expects Origin http://example.com
 *   bit 3     round trip: wsev_client_prepare_handshake() on a request
 *             holding the request's headers, with the request's Origin and
 *             Sec-WebSocket-Protocol tokens, then server and client
 *   bit 4     the response is checked against a request prepared by
 *             wsev_client_prepare_handshake() (its key replaced by the
 *             request's, when there is one), else against one holding the
 *             request's key and protocols only
 *
 * The verdicts are checked against an oracle written here from the
 * contract in wsev.h (the order of the checks, the error codes, libsoup's
 * reading of repeated headers): check and process agree with it and with
 * each other; an accepted request has a key of 16 base64-coded bytes; the
 * 101 headers carry base64(SHA-1(key + GUID)) (computed here) and the
 * protocol the server ranks first among those offered; and the client
 * helper accepts that answer. Prepared requests carry exactly one of each
 * handshake header, a fresh valid key, and every other header untouched.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "fuzz.h"
#include "wsev/wsev.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include <openssl/evp.h>

const char wsev_fuzz_target_name[] = "handshake";

/* keyvalq_struct.h gives the types, not sys/queue.h's macros. */
#define KV_FOREACH(kv, q) \
	for ((kv) = (q)->tqh_first; (kv); (kv) = (kv)->next.tqe_next)
#define KV_INIT(q) do { \
	(q)->tqh_first = NULL; \
	(q)->tqh_last = &(q)->tqh_first; \
} while (0)

#define MAX_HEADERS 64
#define MAX_TOKENS 8

struct hdr {
	char *name, *value;
};

struct head {
	enum evhttp_cmd_type method;
	char *uri;
	int major, minor;
	int status;
	struct hdr h[MAX_HEADERS];
	size_t n;
};

static const char *const protos_chat[] = { "chat", NULL };
static const char *const protos_two[] = { "superchat", "chat", NULL };
static const char *const protos_none[] = { NULL };
static const char *const *const server_protocols[4] = {
	NULL, protos_chat, protos_two, protos_none
};

/* ------------------------------------------------------------------ */
/* Text helpers, ASCII only (no locale) */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int
ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

static int
ieqn(const char *a, size_t n, const char *b)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!b[i] || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return b[n] == '\0';
}

static char *
dup_range(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	FUZZ_CHECK(d != NULL);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* ------------------------------------------------------------------ */
/* Reading headers as the contract says */

/* The last value of a single-valued header, or NULL. */
static const char *
last_value(const struct evkeyvalq *q, const char *name)
{
	const struct evkeyval *kv;
	const char *v = NULL;

	KV_FOREACH(kv, q)
		if (ieq(kv->key, name))
			v = kv->value;
	return v;
}

static int
present(const struct evkeyvalq *q, const char *name)
{
	return last_value(q, name) != NULL;
}

static int
count(const struct evkeyvalq *q, const char *name)
{
	const struct evkeyval *kv;
	int n = 0;

	KV_FOREACH(kv, q)
		n += ieq(kv->key, name);
	return n;
}

/*
 * RFC 7230 §7: the elements of a list header, over all its lines in
 * order, trimmed of blanks, empty ones skipped.
 */
struct tok_it {
	const struct evkeyval *kv;
	const char *s;		/* the rest of kv's value */
	const char *name;
};

static void
tok_begin(struct tok_it *it, const struct evkeyvalq *q, const char *name)
{
	it->kv = (q)->tqh_first;
	it->s = it->kv ? it->kv->value : NULL;
	it->name = name;
}

static int
tok_next(struct tok_it *it, const char **tok, size_t *len)
{
	const char *a, *b, *e;

	for (; it->kv; it->kv = it->kv->next.tqe_next,
	    it->s = it->kv ? it->kv->value : NULL) {
		if (!ieq(it->kv->key, it->name))
			continue;
		while (*it->s) {
			for (e = it->s; *e && *e != ','; e++)
				;
			a = it->s;
			b = e;
			it->s = *e ? e + 1 : e;
			while (a < b && (*a == ' ' || *a == '\t'))
				a++;
			while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
				b--;
			if (a < b) {
				*tok = a;
				*len = (size_t)(b - a);
				return 1;
			}
		}
	}
	return 0;
}

static size_t
count_tokens(const struct evkeyvalq *q, const char *name)
{
	struct tok_it it;
	const char *t;
	size_t len, n = 0;

	tok_begin(&it, q, name);
	while (tok_next(&it, &t, &len))
		n++;
	return n;
}

static int
has_token(const struct evkeyvalq *q, const char *name, const char *want,
    int nocase)
{
	struct tok_it it;
	const char *t;
	size_t len;

	tok_begin(&it, q, name);
	while (tok_next(&it, &t, &len))
		if (nocase ? ieqn(t, len, want) :
		    (strlen(want) == len && memcmp(t, want, len) == 0))
			return 1;
	return 0;
}

/* The list is exactly one element, want (case-insensitive). */
static int
list_is(const struct evkeyvalq *q, const char *name, const char *want)
{
	return count_tokens(q, name) == 1 && has_token(q, name, want, 1);
}

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* The number of bytes a padded base64 string decodes to, or -1. */
static int
b64_decoded_len(const char *s)
{
	size_t n = strlen(s), i, pad = 0;

	if (n == 0 || n % 4)
		return -1;
	if (s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	for (i = 0; i < n - pad; i++)
		if (b64_value((unsigned char)s[i]) < 0)
			return -1;
	return (int)(n / 4 * 3 - pad);
}

static void
b64_encode(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;
	unsigned v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = tab[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)in[i] << 16;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = '=';
	}
	*out = '\0';
}

/* RFC 6455 §4.2.2 item 5.4, computed here. */
static void
expected_accept(const char *key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t kl = strlen(key);
	char *s = malloc(kl + sizeof(guid));

	FUZZ_CHECK(s != NULL);
	memcpy(s, key, kl);
	memcpy(s + kl, guid, sizeof(guid));
	FUZZ_CHECK(EVP_Digest(s, kl + sizeof(guid) - 1, md, &mdlen, EVP_sha1(),
	    NULL) == 1 && mdlen == 20);
	free(s);
	b64_encode(md, 20, out);
}

/* ------------------------------------------------------------------ */
/* The oracles */

/* wsev_server_check_handshake's verdict: 1, or 0 with *code; *chosen
 * the protocol the answer must name. */
static int
oracle_server(const struct evhttp_request *req, const char *origin,
    const char *const *protocols, int *code, const char **chosen)
{
	const struct evkeyvalq *in = req->input_headers;
	const char *v;
	size_t i;

	*chosen = NULL;
	*code = WSEV_ERROR_NOT_WEBSOCKET;
	if (req->type != EVHTTP_REQ_GET || req->major < 1 ||
	    (req->major == 1 && req->minor < 1))
		return 0;
	if (!list_is(in, "Upgrade", "websocket") ||
	    !has_token(in, "Connection", "upgrade", 1))
		return 0;
	*code = WSEV_ERROR_BAD_HANDSHAKE;
	v = last_value(in, "Sec-WebSocket-Version");
	if (!v || strcmp(v, "13") != 0)
		return 0;
	v = last_value(in, "Sec-WebSocket-Key");
	if (!v || strlen(v) != 24 || b64_decoded_len(v) != 16)
		return 0;
	if (!present(in, "Host"))
		return 0;
	if (origin) {
		v = last_value(in, "Origin");
		if (!v || !ieq(v, origin)) {
			*code = WSEV_ERROR_BAD_ORIGIN;
			return 0;
		}
	}
	if (present(in, "Sec-WebSocket-Protocol")) {
		if (count_tokens(in, "Sec-WebSocket-Protocol") == 0)
			return 0;
		if (protocols) {
			/* The server's order wins; matching is exact. */
			for (i = 0; protocols[i] && !*chosen; i++)
				if (has_token(in, "Sec-WebSocket-Protocol",
				    protocols[i], 0))
					*chosen = protocols[i];
			if (!*chosen)
				return 0;
		}
	}
	return 1;
}

/* wsev_client_verify_handshake's verdict: 1, or 0 with *code. */
static int
oracle_client(const struct evhttp_request *req, int *code)
{
	const struct evkeyvalq *in = req->input_headers, *out = req->output_headers;
	const char *v, *key;
	char accept[29];

	*code = WSEV_ERROR_BAD_HANDSHAKE;
	if (req->response_code == 400)
		return 0;
	*code = WSEV_ERROR_NOT_WEBSOCKET;
	if (req->response_code != 101 || !list_is(in, "Upgrade", "websocket") ||
	    !has_token(in, "Connection", "upgrade", 1))
		return 0;
	*code = WSEV_ERROR_BAD_HANDSHAKE;
	/* Only a protocol that was offered (RFC 6455 §4.1, item 6). */
	v = last_value(in, "Sec-WebSocket-Protocol");
	if (v && !has_token(out, "Sec-WebSocket-Protocol", v, 0))
		return 0;
	/* No extension: none is offered. */
	if (count_tokens(in, "Sec-WebSocket-Extensions") > 0)
		return 0;
	key = last_value(out, "Sec-WebSocket-Key");
	v = last_value(in, "Sec-WebSocket-Accept");
	if (!key || !v)
		return 0;
	expected_accept(key, accept);
	return strcmp(v, accept) == 0;
}

static void
check_error(const struct wsev_error *err, int code)
{
	const char *p;

	FUZZ_CHECK(err->domain == WSEV_DOMAIN_WEBSOCKET);
	FUZZ_CHECK(err->code == code);
	FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
	FUZZ_CHECK(err->message[0] != '\0');
	for (p = err->message; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7F);
}

/* ------------------------------------------------------------------ */
/* Requests */

static void
add_all(struct evkeyvalq *q, const struct hdr *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		evhttp_add_header(q, h[i].name, h[i].value);
}

static void
copy_headers(struct evkeyvalq *dst, const struct evkeyvalq *src)
{
	const struct evkeyval *kv;

	KV_FOREACH(kv, src)
		FUZZ_CHECK(evhttp_add_header(dst, kv->key, kv->value) == 0);
}

static struct evhttp_request *
server_request(const struct head *hd, const struct evkeyvalq *extra)
{
	struct evhttp_request *req = evhttp_request_new(NULL, NULL);

	FUZZ_CHECK(req != NULL);
	req->kind = EVHTTP_REQUEST;
	req->type = hd->method;
	req->major = (char)hd->major;
	req->minor = (char)hd->minor;
	if (hd->uri) {
		req->uri = strdup(hd->uri);
		FUZZ_CHECK(req->uri != NULL);
	}
	add_all(req->input_headers, hd->h, hd->n);
	if (extra)
		copy_headers(req->input_headers, extra);
	return req;
}

/*
 * Check and process one request; on success the 101 headers are copied
 * into answer (when not NULL). Returns the verdict.
 */
static int
server_side(const struct head *hd, const struct evkeyvalq *extra,
    unsigned flags, struct evkeyvalq *answer)
{
	const char *origin = (flags & 4) ? "http://example.com" : NULL;
	const char *const *protocols = server_protocols[flags & 3];
	struct evhttp_request *req = server_request(hd, extra);
	struct wsev_error err;
	const struct evkeyvalq *out;
	const char *chosen, *key, *v;
	char accept[29];
	int ok, want, code;

	memset(&err, 0, sizeof(err));
	want = oracle_server(req, origin, protocols, &code, &chosen);
	ok = wsev_server_check_handshake(req, origin, protocols, &err);
	FUZZ_CHECK(ok == want);
	if (!ok)
		check_error(&err, code);
	/* Nothing to check on NULL, but it must not crash. */
	FUZZ_CHECK(wsev_server_check_handshake(req, origin, protocols, NULL) ==
	    ok);
	if (ok) {
		key = last_value(req->input_headers, "Sec-WebSocket-Key");
		FUZZ_CHECK(key && strlen(key) == 24 && b64_decoded_len(key) == 16);
	}
	evhttp_request_free(req);

	/* process agrees; a refusal on a request with no connection is
	 * "sent" by evhttp_send_reply(), which then frees the request. */
	req = server_request(hd, extra);
	if (!wsev_server_process_handshake(req, origin, protocols)) {
		FUZZ_CHECK(!ok);
		return 0;
	}
	FUZZ_CHECK(ok);
	out = req->output_headers;
	FUZZ_CHECK(count(out, "Upgrade") == 1 && count(out, "Connection") == 1 &&
	    count(out, "Sec-WebSocket-Accept") == 1);
	FUZZ_CHECK(ieq(last_value(out, "Upgrade"), "websocket"));
	FUZZ_CHECK(ieq(last_value(out, "Connection"), "upgrade"));
	expected_accept(last_value(req->input_headers, "Sec-WebSocket-Key"),
	    accept);
	FUZZ_CHECK(strcmp(last_value(out, "Sec-WebSocket-Accept"), accept) == 0);
	v = last_value(out, "Sec-WebSocket-Protocol");
	FUZZ_CHECK(count(out, "Sec-WebSocket-Protocol") == (v != NULL));
	if (want == 1)
		FUZZ_CHECK(chosen ? v && strcmp(v, chosen) == 0 : v == NULL);
	if (answer)
		copy_headers(answer, out);
	evhttp_request_free(req);
	return 1;
}

/* The client helper on req, against the oracle. */
static int
client_side(struct evhttp_request *req)
{
	struct wsev_error err;
	int ok, want, code;

	memset(&err, 0, sizeof(err));
	want = oracle_client(req, &code);
	ok = wsev_client_verify_handshake(req, &err);
	FUZZ_CHECK(ok == want);
	if (!ok)
		check_error(&err, code);
	FUZZ_CHECK(wsev_client_verify_handshake(req, NULL) == ok);
	return ok;
}

/* A client's request holding the server request's key and protocols, with
 * the answer as its response. */
static void
client_request_from(struct evhttp_request *creq, const struct head *hd)
{
	size_t i;

	for (i = 0; i < hd->n; i++)
		if (ieq(hd->h[i].name, "Sec-WebSocket-Key") ||
		    ieq(hd->h[i].name, "Sec-WebSocket-Protocol"))
			evhttp_add_header(creq->output_headers, hd->h[i].name,
			    hd->h[i].value);
}

static int
handshake_header(const char *name)
{
	return ieq(name, "Upgrade") || ieq(name, "Connection") ||
	    ieq(name, "Sec-WebSocket-Key") || ieq(name, "Sec-WebSocket-Version") ||
	    ieq(name, "Origin") || ieq(name, "Sec-WebSocket-Protocol") ||
	    ieq(name, "Sec-WebSocket-Extensions");
}

/* The request's Sec-WebSocket-Protocol tokens, as a NULL-terminated list
 * of strings for wsev_client_prepare_handshake. */
static size_t
offer_from(const struct head *hd, char **list)
{
	struct evhttp_request *req = server_request(hd, NULL);
	struct tok_it it;
	const char *t;
	size_t len, n = 0;

	tok_begin(&it, req->input_headers, "Sec-WebSocket-Protocol");
	while (n < MAX_TOKENS && tok_next(&it, &t, &len)) {
		/* A token for prepare: no blank inside either. */
		if (memchr(t, ' ', len) || memchr(t, '\t', len))
			continue;
		list[n++] = dup_range(t, len);
	}
	list[n] = NULL;
	evhttp_request_free(req);
	return n;
}

/* prepare, then the server, then verify on the same request. */
static void
round_trip(const struct head *hd, unsigned flags)
{
	struct evhttp_request *creq = evhttp_request_new(NULL, NULL);
	struct evhttp_request *sreq;
	struct evkeyvalq answer;
	char *offer[MAX_TOKENS + 1];
	const char *origin = NULL, *key, *v;
	struct evbuffer *joined;
	const struct evkeyval *kv;
	size_t n, i, j;
	struct head sh;
	int accepted;

	FUZZ_CHECK(creq != NULL);
	KV_INIT(&answer);
	n = offer_from(hd, offer);
	for (i = 0; i < hd->n; i++)
		if (ieq(hd->h[i].name, "Origin"))
			origin = hd->h[i].value;
	add_all(creq->output_headers, hd->h, hd->n);
	wsev_client_prepare_handshake(creq, origin, (const char *const *)offer);

	/* Exactly one of each handshake header, the others untouched. */
	FUZZ_CHECK(count(creq->output_headers, "Upgrade") == 1 &&
	    ieq(last_value(creq->output_headers, "Upgrade"), "websocket"));
	FUZZ_CHECK(count(creq->output_headers, "Connection") == 1 &&
	    ieq(last_value(creq->output_headers, "Connection"), "Upgrade"));
	FUZZ_CHECK(count(creq->output_headers, "Sec-WebSocket-Version") == 1 &&
	    strcmp(last_value(creq->output_headers, "Sec-WebSocket-Version"),
	    "13") == 0);
	key = last_value(creq->output_headers, "Sec-WebSocket-Key");
	FUZZ_CHECK(count(creq->output_headers, "Sec-WebSocket-Key") == 1 &&
	    strlen(key) == 24 && b64_decoded_len(key) == 16);
	if (origin)
		FUZZ_CHECK(count(creq->output_headers, "Origin") == 1 &&
		    strcmp(last_value(creq->output_headers, "Origin"), origin) == 0);
	v = last_value(creq->output_headers, "Sec-WebSocket-Protocol");
	if (n == 0) {
		FUZZ_CHECK(v == NULL);
	} else {
		joined = evbuffer_new();
		FUZZ_CHECK(joined != NULL);
		for (i = 0; i < n; i++)
			evbuffer_add_printf(joined, "%s%s", i ? ", " : "",
			    offer[i]);
		evbuffer_add(joined, "", 1);
		FUZZ_CHECK(count(creq->output_headers,
		    "Sec-WebSocket-Protocol") == 1 &&
		    strcmp(v, (const char *)evbuffer_pullup(joined, -1)) == 0);
		evbuffer_free(joined);
	}
	j = 0;
	KV_FOREACH(kv, creq->output_headers) {
		if (handshake_header(kv->key))
			continue;
		while (j < hd->n && handshake_header(hd->h[j].name))
			j++;
		FUZZ_CHECK(j < hd->n && strcmp(kv->key, hd->h[j].name) == 0 &&
		    strcmp(kv->value, hd->h[j].value) == 0);
		j++;
	}
	while (j < hd->n && handshake_header(hd->h[j].name))
		j++;
	FUZZ_CHECK(j == hd->n);

	/* The server reads exactly that, as a GET of HTTP/1.1. */
	memset(&sh, 0, sizeof(sh));
	sh.method = EVHTTP_REQ_GET;
	sh.major = 1;
	sh.minor = 1;
	if (!present(creq->output_headers, "Host")) {
		sh.h[0].name = (char *)"Host";
		sh.h[0].value = (char *)"example.com";
		sh.n = 1;
	}
	accepted = server_side(&sh, creq->output_headers, flags, &answer);
	/* It can only refuse the origin or the protocols. */
	sreq = server_request(&sh, creq->output_headers);
	{
		int code;
		const char *chosen;

		if (!accepted)
			FUZZ_CHECK(oracle_server(sreq, (flags & 4) ?
			    "http://example.com" : NULL,
			    server_protocols[flags & 3], &code, &chosen) != 1 &&
			    (code == WSEV_ERROR_BAD_ORIGIN ||
			    (code == WSEV_ERROR_BAD_HANDSHAKE && n > 0 &&
			    server_protocols[flags & 3])));
	}
	evhttp_request_free(sreq);
	if (accepted) {
		creq->response_code = 101;
		copy_headers(creq->input_headers, &answer);
		FUZZ_CHECK(client_side(creq) == 1);
	}
	evhttp_clear_headers(&answer);
	for (i = 0; i < n; i++)
		free(offer[i]);
	evhttp_request_free(creq);
}

/* ------------------------------------------------------------------ */
/* Parsing the input */

static enum evhttp_cmd_type
method_of(const char *s, size_t n)
{
	static const struct {
		const char *name;
		enum evhttp_cmd_type type;
	} m[] = {
		{ "GET", EVHTTP_REQ_GET }, { "POST", EVHTTP_REQ_POST },
		{ "HEAD", EVHTTP_REQ_HEAD }, { "PUT", EVHTTP_REQ_PUT },
		{ "DELETE", EVHTTP_REQ_DELETE },
		{ "OPTIONS", EVHTTP_REQ_OPTIONS },
		{ "TRACE", EVHTTP_REQ_TRACE },
		{ "CONNECT", EVHTTP_REQ_CONNECT },
	};
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (strlen(m[i].name) == n && memcmp(m[i].name, s, n) == 0)
			return m[i].type;
	return EVHTTP_REQ_PATCH;	/* anything else: not a GET */
}

/* "HTTP/1.1" -> 1, 1; anything else leaves the defaults. */
static void
version_of(const char *s, size_t n, int *major, int *minor)
{
	if (n == 8 && memcmp(s, "HTTP/", 5) == 0 && s[5] >= '0' && s[5] <= '9' &&
	    s[6] == '.' && s[7] >= '0' && s[7] <= '9') {
		*major = s[5] - '0';
		*minor = s[7] - '0';
	}
}

/* The next line of [*p, end), without its end (CR LF, CR or LF); NULL at
 * the end of the text. */
static const char *
next_line(const char **p, const char *end, size_t *len)
{
	const char *s = *p, *e;

	if (s >= end)
		return NULL;
	for (e = s; e < end && *e != '\r' && *e != '\n'; e++)
		;
	*len = (size_t)(e - s);
	if (e < end)
		e += (*e == '\r' && e + 1 < end && e[1] == '\n') ? 2 : 1;
	*p = e;
	return s;
}

/* Parse one head: the first line, then header lines up to a blank line.
 * Returns 0 at the end of the text. */
static int
parse_head(const char **p, const char *end, struct head *hd, int response)
{
	const char *line, *colon, *v, *sp1, *sp2;
	size_t len;

	line = next_line(p, end, &len);
	if (!line)
		return 0;
	if (response) {
		/* "HTTP/1.1 101 Switching Protocols" */
		hd->status = 0;
		if (len >= 12 && line[8] == ' ' && line[9] >= '0' &&
		    line[9] <= '9' && line[10] >= '0' && line[10] <= '9' &&
		    line[11] >= '0' && line[11] <= '9')
			hd->status = (line[9] - '0') * 100 +
			    (line[10] - '0') * 10 + (line[11] - '0');
	} else {
		hd->major = 1;
		hd->minor = 0;
		sp1 = memchr(line, ' ', len);
		hd->method = method_of(line, sp1 ? (size_t)(sp1 - line) : len);
		if (sp1) {
			sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
			hd->uri = dup_range(sp1 + 1, sp2 ? (size_t)(sp2 - sp1 - 1) :
			    len - (size_t)(sp1 + 1 - line));
			if (sp2)
				version_of(sp2 + 1, len - (size_t)(sp2 + 1 - line),
				    &hd->major, &hd->minor);
		}
	}
	while ((line = next_line(p, end, &len)) != NULL && len > 0) {
		colon = memchr(line, ':', len);
		if (!colon || hd->n == MAX_HEADERS)
			continue;
		for (v = colon + 1; v < line + len && (*v == ' ' || *v == '\t');
		    v++)
			;
		hd->h[hd->n].name = dup_range(line, (size_t)(colon - line));
		hd->h[hd->n].value = dup_range(v, (size_t)(line + len - v));
		hd->n++;
	}
	return 1;
}

static void
head_free(struct head *hd)
{
	size_t i;

	for (i = 0; i < hd->n; i++) {
		free(hd->h[i].name);
		free(hd->h[i].value);
	}
	free(hd->uri);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct head rq, rs;
	struct evkeyvalq answer;
	struct evhttp_request *creq;
	const char *p, *end;
	char *offer[MAX_TOKENS + 1];
	const char *key = NULL;
	unsigned flags;
	size_t i, n;

	if (size < 1)
		return 0;
	flags = data[0];
	p = (const char *)data + 1;
	end = (const char *)data + size;
	memset(&rq, 0, sizeof(rq));
	memset(&rs, 0, sizeof(rs));
	KV_INIT(&answer);
	if (!parse_head(&p, end, &rq, 0))
		goto out;
	parse_head(&p, end, &rs, 1);
	for (i = 0; i < rq.n; i++)
		if (ieq(rq.h[i].name, "Sec-WebSocket-Key"))
			key = rq.h[i].value;

	/* The server's verdict; when it accepts, the client accepts its
	 * answer. */
	if (server_side(&rq, NULL, flags, &answer)) {
		creq = evhttp_request_new(NULL, NULL);
		FUZZ_CHECK(creq != NULL);
		client_request_from(creq, &rq);
		creq->response_code = 101;
		copy_headers(creq->input_headers, &answer);
		FUZZ_CHECK(client_side(creq) == 1);
		evhttp_request_free(creq);
	}

	/* The client's verdict on the response. */
	creq = evhttp_request_new(NULL, NULL);
	FUZZ_CHECK(creq != NULL);
	if (flags & 16) {
		n = offer_from(&rq, offer);
		wsev_client_prepare_handshake(creq, NULL,
		    (const char *const *)offer);
		for (i = 0; i < n; i++)
			free(offer[i]);
		if (key) {
			evhttp_remove_header(creq->output_headers,
			    "Sec-WebSocket-Key");
			evhttp_add_header(creq->output_headers,
			    "Sec-WebSocket-Key", key);
		}
	} else {
		client_request_from(creq, &rq);
	}
	creq->response_code = rs.status;
	add_all(creq->input_headers, rs.h, rs.n);
	client_side(creq);
	evhttp_request_free(creq);

	if (flags & 8)
		round_trip(&rq, flags);

	if (flags & 128) {
		FUZZ_CHECK(wsev_server_check_handshake(NULL, NULL, NULL, NULL) == 0);
		FUZZ_CHECK(wsev_client_verify_handshake(NULL, NULL) == 0);
	}
out:
	evhttp_clear_headers(&answer);
	head_free(&rq);
	head_free(&rs);
	return 0;
}
