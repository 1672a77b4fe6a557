/*
 * The four handshake helpers of RFC 6455 §4 on evhttp requests, with
 * libsoup's rules: the order of the checks, the error codes, and the way
 * repeated headers are read (a list header is all its values joined; a
 * single-valued header is its last value), not evhttp_find_header's first
 * match. Their *_with_extensions forms also negotiate permessage-deflate
 * (RFC 7692); the one extension wsev knows.
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

const char *
wsev_header_last_(const struct evkeyvalq *h, const char *name)
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

/* Narrow [*s, *e) to its part without optional whitespace around. */
static void
trim_ows(const char **s, const char **e)
{
	while (*s < *e && is_ows(**s))
		(*s)++;
	while (*e > *s && is_ows((*e)[-1]))
		(*e)--;
}

/*
 * The end of the item starting at p: the first delim in [p, end), or end.
 * With quotes, a delim inside a quoted-string does not count (RFC 7230
 * §3.2.6; a backslash there escapes the next character): extension
 * parameters may be quoted (RFC 6455 §9.1, RFC 7692 §7.1).
 */
static const char *
item_end(const char *p, const char *end, char delim, int quotes)
{
	int quoted = 0;

	for (; p < end; p++) {
		if (quoted && *p == '\\' && p + 1 < end)
			p++;
		else if (quotes && *p == '"')
			quoted = !quoted;
		else if (!quoted && *p == delim)
			break;
	}
	return p;
}

/*
 * Visit the comma-separated tokens of every value of a list header, trimmed
 * of optional whitespace; empty elements are skipped (RFC 7230 §7). With
 * quotes, a comma inside a quoted-string does not split. Stops when fn
 * returns non-zero and returns that. *present tells whether the header
 * appeared at all.
 */
static int
header_tokens(const struct evkeyvalq *h, const char *name, int quotes,
    int *present, int (*fn)(const char *tok, size_t len, void *arg),
    void *arg)
{
	const struct evkeyval *kv;
	int r;

	if (present)
		*present = 0;
	for (kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
		const char *p = kv->value, *end = p + strlen(p);

		if (evutil_ascii_strcasecmp(kv->key, name) != 0)
			continue;
		if (present)
			*present = 1;
		while (p < end) {
			const char *s, *e;

			while (p < end && (is_ows(*p) || *p == ','))
				p++;
			s = p;
			p = e = item_end(p, end, ',', quotes);
			trim_ows(&s, &e);
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

	return header_tokens(h, name, 0, NULL, token_equals, &m);
}

/* The joined value of a list header equals want, case-insensitively. */
static int
header_list_equals(const struct evkeyvalq *h, const char *name,
    const char *want)
{
	int n = 0, present;

	header_tokens(h, name, 0, &present, count_token, &n);
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
	header_tokens(in, "Sec-WebSocket-Protocol", 0, &present, count_token,
	    &n);
	if (!present)
		return NULL;
	if (n == 0) {
		*bad = 1;	/* present but empty */
		return NULL;
	}
	if (!protocols)
		return NULL;	/* accept anything, select nothing */
	header_tokens(in, "Sec-WebSocket-Protocol", 0, NULL, choose_token,
	    &ch);
	if (ch.best == SIZE_MAX) {
		*bad = 1;
		return NULL;
	}
	return protocols[ch.best];
}

/* ------------------------------------------------------------------ */
/* permessage-deflate (RFC 7692) */

static const char pmd_name[] = "permessage-deflate";

/* Its parameters (RFC 7692 §7.1), in the order they are written in. */
enum {
	PMD_SERVER_NO_TAKEOVER,
	PMD_CLIENT_NO_TAKEOVER,
	PMD_SERVER_WINDOW,
	PMD_CLIENT_WINDOW,
	PMD_NPARAMS
};

static const char *const pmd_params[PMD_NPARAMS] = {
	"server_no_context_takeover",
	"client_no_context_takeover",
	"server_max_window_bits",
	"client_max_window_bits"
};

/*
 * The parameters of one offer or answer: 0 absent, 1 present (the two
 * no_context_takeover), 8-15 a window, -1 a client_max_window_bits without
 * a value (an offer's way to say the server may limit it, §7.1.2.2).
 */
struct pmd {
	int v[PMD_NPARAMS];
};

static int
deflate_on(const struct wsev_deflate_options *d)
{
	return d && d->enabled;
}

/* A window the caller set, or 0: outside 8-15 it is left out rather than
 * put on the wire as a value the peer must refuse. */
static int
window_opt(int bits)
{
	return bits >= 8 && bits <= 15 ? bits : 0;
}

/*
 * A window value: 1*DIGIT, or a quoted-string holding one once unescaped
 * (§7.1: either form is allowed). -1 if it is not that; numbers past 99
 * read as 100, which is out of range all the same.
 */
static int
window_value(const char *s, const char *e)
{
	int quoted = 0, v = 0, digits = 0;

	if (s < e && *s == '"') {
		quoted = 1;
		s++;
	}
	for (; s < e; s++) {
		if (quoted && *s == '"')
			break;
		if (quoted && *s == '\\' && s + 1 < e)
			s++;
		if (*s < '0' || *s > '9')
			return -1;
		v = v < 100 ? v * 10 + (*s - '0') : 100;
		digits++;
	}
	if (quoted && (s == e || s + 1 != e))
		return -1;	/* unterminated, or something after the quote */
	return digits ? v : -1;
}

/*
 * Read the parameters of a permessage-deflate element, [p, e) starting at
 * the ';' after the name (or at e), into *pm. An answer must give both
 * windows a value (§7.1.2.1, §7.1.2.2); an offer may leave
 * client_max_window_bits bare. Parameter names are case-sensitive, as
 * libsoup reads them. Returns -1 with *err set on anything else.
 */
static int
pmd_parse(const char *p, const char *e, int answer, struct pmd *pm,
    struct wsev_error *err)
{
	memset(pm, 0, sizeof(*pm));
	while (p < e) {
		const char *s = p + 1, *ne, *eq, *vs, *ve;
		const char *what;
		int i, bits;

		p = ve = item_end(s, e, ';', 1);
		trim_ows(&s, &ve);
		if (s == ve)
			continue;	/* ";;" or a trailing ';', as libsoup */
		eq = memchr(s, '=', (size_t)(ve - s));
		ne = eq ? eq : ve;
		trim_ows(&s, &ne);
		for (i = 0; i < PMD_NPARAMS; i++)
			if (strlen(pmd_params[i]) == (size_t)(ne - s) &&
			    memcmp(pmd_params[i], s, (size_t)(ne - s)) == 0)
				break;
		if (i == PMD_NPARAMS) {
			wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
			    WSEV_ERROR_BAD_HANDSHAKE,
			    "Unknown permessage-deflate parameter \"%.*s\"",
			    ne - s > 64 ? 64 : (int)(ne - s), s);
			return -1;
		}
		what = pmd_params[i];
		if (pm->v[i] != 0) {
			wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
			    WSEV_ERROR_BAD_HANDSHAKE,
			    "Repeated permessage-deflate parameter \"%s\"",
			    what);
			return -1;
		}
		if (i == PMD_SERVER_NO_TAKEOVER ||
		    i == PMD_CLIENT_NO_TAKEOVER) {
			/* §7.1.1: these never carry a value. */
			if (eq) {
				wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
				    WSEV_ERROR_BAD_HANDSHAKE,
				    "Unexpected value of permessage-deflate "
				    "parameter \"%s\"", what);
				return -1;
			}
			pm->v[i] = 1;
			continue;
		}
		if (!eq) {
			if (i == PMD_CLIENT_WINDOW && !answer) {
				pm->v[i] = -1;
				continue;
			}
			wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
			    WSEV_ERROR_BAD_HANDSHAKE,
			    "Missing value of permessage-deflate parameter "
			    "\"%s\"", what);
			return -1;
		}
		vs = eq + 1;
		trim_ows(&vs, &ve);
		if ((bits = window_value(vs, ve)) < 8 || bits > 15) {
			wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
			    WSEV_ERROR_BAD_HANDSHAKE,
			    "Invalid value of permessage-deflate parameter "
			    "\"%s\" (%s)", what, bits < 0 ? "not a number" :
			    "not 8-15");
			return -1;
		}
		pm->v[i] = bits;
	}
	return 0;
}

/* A scan of Sec-WebSocket-Extensions, element by element. */
struct pmd_scan {
	int answer;		/* a server's answer, read by the client */
	int found;		/* permessage-deflate elements seen */
	struct pmd first;	/* the parameters of the first */
	struct wsev_error *err;
};

static int
pmd_element(const char *tok, size_t len, void *arg)
{
	struct pmd_scan *sc = arg;
	const char *end = tok + len, *semi = item_end(tok, end, ';', 1);
	const char *ne = semi;
	struct pmd pm;

	trim_ows(&tok, &ne);
	if ((size_t)(ne - tok) != sizeof(pmd_name) - 1 ||
	    memcmp(tok, pmd_name, sizeof(pmd_name) - 1) != 0) {
		/* RFC 6455 §9.1: a server leaves out what it does not
		 * know; a client must fail what it did not offer (§4.1). */
		if (!sc->answer)
			return 0;
		wsev_error_set_(sc->err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "The server requested an unsupported extension \"%.*s\"",
		    ne - tok > 64 ? 64 : (int)(ne - tok), tok);
		return -1;
	}
	/* RFC 7692 §5: an answer accepts one offer; a request may hold
	 * several, in the client's order of preference. */
	if (sc->answer && sc->found) {
		wsev_error_set_(sc->err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "The server accepted permessage-deflate twice");
		return -1;
	}
	if (pmd_parse(semi, end, sc->answer, &pm, sc->err) < 0)
		return -1;
	if (sc->found++ == 0)
		sc->first = pm;
	return 0;
}

/* Read every element of h's Sec-WebSocket-Extensions into *sc; -1 (with
 * the error set) if one must be refused. */
static int
pmd_scan(const struct evkeyvalq *h, int answer, struct pmd_scan *sc,
    struct wsev_error *err)
{
	memset(sc, 0, sizeof(*sc));
	sc->answer = answer;
	sc->err = err;
	return header_tokens(h, "Sec-WebSocket-Extensions", 1, NULL,
	    pmd_element, sc) != 0 ? -1 : 0;
}

/* The header value for *pm, "permessage-deflate; ..." (at most 126
 * characters). */
static void
pmd_format(const struct pmd *pm, char *buf, size_t size)
{
	size_t n;
	int i;

	n = (size_t)snprintf(buf, size, "%s", pmd_name);
	for (i = 0; i < PMD_NPARAMS && n < size; i++) {
		if (pm->v[i] == 0)
			continue;
		if (pm->v[i] > 1)
			n += (size_t)snprintf(buf + n, size - n, "; %s=%d",
			    pmd_params[i], pm->v[i]);
		else
			n += (size_t)snprintf(buf + n, size - n, "; %s",
			    pmd_params[i]);
	}
}

/* The extension in use once *pm is agreed: an unlimited window is zlib's
 * largest, 15 bits. */
static void
pmd_accept(const struct pmd *pm, const struct wsev_deflate_options *d,
    struct wsev_extensions *ext)
{
	if (!ext)
		return;
	ext->deflate = 1;
	ext->server_no_context_takeover = pm->v[PMD_SERVER_NO_TAKEOVER];
	ext->client_no_context_takeover = pm->v[PMD_CLIENT_NO_TAKEOVER];
	ext->server_max_window_bits = pm->v[PMD_SERVER_WINDOW] > 0 ?
	    pm->v[PMD_SERVER_WINDOW] : 15;
	ext->client_max_window_bits = pm->v[PMD_CLIENT_WINDOW] > 0 ?
	    pm->v[PMD_CLIENT_WINDOW] : 15;
	ext->level = d->level;
	ext->mem_level = d->mem_level;
}

/* The client's offer: client_max_window_bits is always there (bare unless
 * limited), so that a server may limit the window (§7.1.2.2). */
static void
pmd_offer(const struct wsev_deflate_options *d, struct pmd *pm)
{
	pm->v[PMD_SERVER_NO_TAKEOVER] = d->server_no_context_takeover != 0;
	pm->v[PMD_CLIENT_NO_TAKEOVER] = d->client_no_context_takeover != 0;
	pm->v[PMD_SERVER_WINDOW] = window_opt(d->server_max_window_bits);
	pm->v[PMD_CLIENT_WINDOW] = window_opt(d->client_max_window_bits);
	if (pm->v[PMD_CLIENT_WINDOW] == 0)
		pm->v[PMD_CLIENT_WINDOW] = -1;
}

/*
 * The server's answer to an offer. Each no_context_takeover is echoed or
 * added as the options ask (§7.1.1: a server may add either). A
 * server_max_window_bits is answered at most as offered (§7.1.2.1); the
 * server may limit its own window unasked. A client_max_window_bits may
 * only be answered when offered (§7.1.2.2), bare meaning up to 15.
 */
static void
pmd_answer(const struct pmd *offer, const struct wsev_deflate_options *d,
    struct pmd *ans)
{
	int mine, theirs;

	ans->v[PMD_SERVER_NO_TAKEOVER] = offer->v[PMD_SERVER_NO_TAKEOVER] ||
	    d->server_no_context_takeover;
	ans->v[PMD_CLIENT_NO_TAKEOVER] = offer->v[PMD_CLIENT_NO_TAKEOVER] ||
	    d->client_no_context_takeover;
	mine = window_opt(d->server_max_window_bits);
	theirs = offer->v[PMD_SERVER_WINDOW];
	ans->v[PMD_SERVER_WINDOW] = theirs && (!mine || theirs < mine) ?
	    theirs : mine;
	mine = window_opt(d->client_max_window_bits);
	theirs = offer->v[PMD_CLIENT_WINDOW] < 0 ? 15 :
	    offer->v[PMD_CLIENT_WINDOW];
	ans->v[PMD_CLIENT_WINDOW] = theirs && mine && mine < theirs ?
	    mine : theirs;
}

int
wsev_server_check_handshake_with_extensions(struct evhttp_request *req,
    const char *origin, const char *const *protocols,
    const struct wsev_deflate_options *deflate, struct wsev_error *err)
{
	const struct evkeyvalq *in;
	struct pmd_scan sc;
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
	v = wsev_header_last_(in, "Sec-WebSocket-Version");
	if (!v || strcmp(v, "13") != 0) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "Unsupported WebSocket version %s", v ? v : "(none)");
		return 0;
	}
	if (!key_valid(wsev_header_last_(in, "Sec-WebSocket-Key"))) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE, "Invalid WebSocket key");
		return 0;
	}
	if (!wsev_header_last_(in, "Host")) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE, "Missing Host header");
		return 0;
	}
	if (origin) {
		v = wsev_header_last_(in, "Origin");
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
	/* Last, as libsoup: every permessage-deflate offer must be valid,
	 * not only the one that will be accepted. */
	if (deflate_on(deflate) && pmd_scan(in, 0, &sc, err) < 0)
		return 0;
	return 1;
}

int
wsev_server_check_handshake(struct evhttp_request *req, const char *origin,
    const char *const *protocols, struct wsev_error *err)
{
	return wsev_server_check_handshake_with_extensions(req, origin,
	    protocols, NULL, err);
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

	if (compute_accept(wsev_header_last_(evhttp_request_get_input_headers(req),
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

/*
 * The Sec-WebSocket-Extensions of the 101: the answer to the first
 * permessage-deflate offer of a request already checked, or none. A stale
 * header the application left goes either way: only what was negotiated
 * may be answered (RFC 6455 §9.1).
 */
static int
fill_extensions(struct evhttp_request *req,
    const struct wsev_deflate_options *deflate,
    struct wsev_extensions *accepted)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct pmd_scan sc;
	struct pmd ans;
	char value[160];

	remove_all(out, "Sec-WebSocket-Extensions");
	if (!deflate_on(deflate) ||
	    pmd_scan(evhttp_request_get_input_headers(req), 0, &sc, NULL) < 0 ||
	    sc.found == 0)
		return 0;
	pmd_answer(&sc.first, deflate, &ans);
	pmd_format(&ans, value, sizeof(value));
	if (evhttp_add_header(out, "Sec-WebSocket-Extensions", value) < 0)
		return -1;
	pmd_accept(&ans, deflate, accepted);
	return 0;
}

int
wsev_server_process_handshake_(struct evhttp_request *req,
    const char *expected_origin, const char *const *protocols,
    const struct wsev_deflate_options *deflate, const char **chosen,
    struct wsev_extensions *accepted, struct wsev_error *err)
{
	struct wsev_error local;

	if (!err)
		err = &local;
	if (accepted)
		memset(accepted, 0, sizeof(*accepted));
	if (!wsev_server_check_handshake_with_extensions(req, expected_origin,
	    protocols, deflate, err)) {
		if (req)
			send_refusal(req, err);
		return 0;
	}
	if (wsev_server_fill_response_(req, protocols, chosen) < 0 ||
	    fill_extensions(req, deflate, accepted) < 0) {
		if (accepted)
			memset(accepted, 0, sizeof(*accepted));
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET, WSEV_ERROR_FAILED,
		    "out of memory");
		evhttp_send_error(req, 500, NULL);
		return 0;
	}
	return 1;
}

int
wsev_server_process_handshake_with_extensions(struct evhttp_request *req,
    const char *expected_origin, const char *const *protocols,
    const struct wsev_deflate_options *deflate,
    struct wsev_extensions *accepted)
{
	const char *chosen;

	return wsev_server_process_handshake_(req, expected_origin, protocols,
	    deflate, &chosen, accepted, NULL);
}

int
wsev_server_process_handshake(struct evhttp_request *req,
    const char *expected_origin, const char *const *protocols)
{
	return wsev_server_process_handshake_with_extensions(req,
	    expected_origin, protocols, NULL, NULL);
}

void
wsev_client_prepare_handshake_with_extensions(struct evhttp_request *req,
    const char *origin, const char *const *protocols,
    const struct wsev_deflate_options *deflate)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	unsigned char raw[16];
	char key[25], value[160];
	struct evbuffer *list;
	struct pmd offer;
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
	remove_all(out, "Sec-WebSocket-Extensions");
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
	if (deflate_on(deflate)) {
		pmd_offer(deflate, &offer);
		pmd_format(&offer, value, sizeof(value));
		evhttp_add_header(out, "Sec-WebSocket-Extensions", value);
	}
}

void
wsev_client_prepare_handshake(struct evhttp_request *req, const char *origin,
    const char *const *protocols)
{
	wsev_client_prepare_handshake_with_extensions(req, origin, protocols,
	    NULL);
}

static int
first_token(const char *tok, size_t len, void *arg)
{
	(void)tok;
	(void)len;
	(void)arg;
	return 1;
}

/*
 * Judge the server's permessage-deflate answer *ans against our offer
 * (RFC 7692 §7.1) and, when it is fine, fill *use with what is agreed: a
 * client_no_context_takeover we offered binds us whether or not the
 * server echoed it (§7.1.1.2), and a client window the server left out is
 * the one we offered.
 */
static int
pmd_check_answer(const struct pmd *ans, const struct wsev_deflate_options *d,
    struct pmd *use, struct wsev_error *err)
{
	/* §7.1.1.1, §7.1.2.1: what we asked of the server's own side must
	 * be in the answer. */
	static const int asked[] = {
		PMD_SERVER_NO_TAKEOVER, PMD_SERVER_WINDOW
	};
	struct pmd offer;
	size_t j;
	int i;

	pmd_offer(d, &offer);
	for (i = PMD_SERVER_WINDOW; i <= PMD_CLIENT_WINDOW; i++) {
		if (offer.v[i] > 0 && ans->v[i] > offer.v[i]) {
			wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
			    WSEV_ERROR_BAD_HANDSHAKE, "The server answered "
			    "%s=%d, above the %d offered", pmd_params[i],
			    ans->v[i], offer.v[i]);
			return -1;
		}
	}
	for (j = 0; j < sizeof(asked) / sizeof(asked[0]); j++) {
		i = asked[j];
		if (offer.v[i] && !ans->v[i]) {
			wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
			    WSEV_ERROR_BAD_HANDSHAKE,
			    "The server did not answer %s", pmd_params[i]);
			return -1;
		}
	}
	*use = *ans;
	use->v[PMD_CLIENT_NO_TAKEOVER] |= offer.v[PMD_CLIENT_NO_TAKEOVER];
	if (use->v[PMD_CLIENT_WINDOW] == 0)
		use->v[PMD_CLIENT_WINDOW] = offer.v[PMD_CLIENT_WINDOW];
	return 0;
}

int
wsev_client_verify_handshake_with_extensions(struct evhttp_request *req,
    const struct wsev_deflate_options *deflate,
    struct wsev_extensions *accepted, struct wsev_error *err)
{
	const struct evkeyvalq *in, *out;
	const char *v, *key;
	struct pmd_scan sc;
	struct pmd use;
	char accept[29];
	int status;

	if (accepted)
		memset(accepted, 0, sizeof(*accepted));
	memset(&sc, 0, sizeof(sc));
	memset(&use, 0, sizeof(use));
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
	v = wsev_header_last_(in, "Sec-WebSocket-Protocol");
	if (v && !header_has_token(out, "Sec-WebSocket-Protocol", v, 0)) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "The server requested an incorrect subprotocol");
		return 0;
	}
	/* RFC 6455 §4.1: no extension we did not offer. */
	if (!deflate_on(deflate)) {
		if (header_tokens(in, "Sec-WebSocket-Extensions", 1, NULL,
		    first_token, NULL)) {
			wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
			    WSEV_ERROR_BAD_HANDSHAKE,
			    "The server requested an unsupported extension");
			return 0;
		}
	} else if (pmd_scan(in, 1, &sc, err) < 0 || (sc.found &&
	    pmd_check_answer(&sc.first, deflate, &use, err) < 0)) {
		return 0;
	}
	key = wsev_header_last_(out, "Sec-WebSocket-Key");
	v = wsev_header_last_(in, "Sec-WebSocket-Accept");
	if (!key || !v || compute_accept(key, accept) < 0 ||
	    strcmp(v, accept) != 0) {
		wsev_error_set_(err, WSEV_DOMAIN_WEBSOCKET,
		    WSEV_ERROR_BAD_HANDSHAKE,
		    "The server did not send a valid accept key");
		return 0;
	}
	if (sc.found)
		pmd_accept(&use, deflate, accepted);
	return 1;
}

int
wsev_client_verify_handshake(struct evhttp_request *req,
    struct wsev_error *err)
{
	return wsev_client_verify_handshake_with_extensions(req, NULL, NULL,
	    err);
}
