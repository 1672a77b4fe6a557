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
 *   bits 5-6  permessage-deflate options for every helper: 0 none (the
 *             plain helpers), 1 the defaults, 2 a set that asks for and
 *             limits everything, 3 the numbers of the request's
 *             X-Fuzz-Deflate header ("enabled level mem_level
 *             server_no_context_takeover client_no_context_takeover
 *             server_max_window_bits client_max_window_bits"; all 0, so
 *             enabled 0, without one)
 *
 * The verdicts are checked against an oracle written here from the
 * contract in wsev.h (the order of the checks, the error codes, libsoup's
 * reading of repeated headers, RFC 7692 §7.1 for the extension): check
 * and process agree with it and with each other; an accepted request has
 * a key of 16 base64-coded bytes; the 101 headers carry
 * base64(SHA-1(key + GUID)) (computed here), the protocol the server ranks
 * first among those offered, and the answer to the first permessage-deflate
 * offer; the accepted parameters are the oracle's on both sides (zeroed on
 * every refusal); and a client that asked for nothing accepts that answer
 * and agrees on what is in use. Prepared requests carry exactly one of each
 * handshake header, a fresh valid key, the offer of the options, and every
 * other header untouched; in the round trip both sides agree. The plain
 * helpers keep judging as if no extension existed.
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
/* permessage-deflate as RFC 7692 §7.1 and the contract in wsev.h say */

/*
 * An offer or an answer: the two flags, and the windows (0 absent, -1 a
 * client_max_window_bits given without a value, else the number).
 */
struct xpmd {
	int snct, cnct;
	int swin, cwin;
};

/* The options of this input: NULL, or what bits 5-6 pick. */
struct xopts {
	struct wsev_deflate_options o;
	int null;
};

static const struct wsev_deflate_options *
xd(const struct xopts *x)
{
	return x->null ? NULL : &x->o;
}

static int
xon(const struct xopts *x)
{
	return !x->null && x->o.enabled;
}

/* A window of the options, or 0 outside 8-15 (left out). */
static int
xwin(int bits)
{
	return bits >= 8 && bits <= 15 ? bits : 0;
}

/*
 * For each character of s[0, n): 1 when it is part of a quoted-string
 * (the quotes included; a backslash inside one takes the next character
 * with it), so it can never delimit.
 */
static unsigned char *
quote_mask(const char *s, size_t n)
{
	unsigned char *m = calloc(n + 1, 1);
	size_t i;
	int in = 0;

	FUZZ_CHECK(m != NULL);
	for (i = 0; i < n; i++) {
		if (!in) {
			if (s[i] == '"')
				m[i] = in = 1;
			continue;
		}
		m[i] = 1;
		if (s[i] == '\\' && i + 1 < n)
			m[++i] = 1;
		else if (s[i] == '"')
			in = 0;
	}
	return m;
}

static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

/* [*a, *b) without blanks around. */
static void
strip(const char *s, size_t *a, size_t *b)
{
	while (*a < *b && blank(s[*a]))
		(*a)++;
	while (*b > *a && blank(s[*b - 1]))
		(*b)--;
}

/* The next piece of s[*pos, end) up to an unquoted delim; 0 at the end. */
static int
next_piece(const char *s, const unsigned char *m, size_t *pos, size_t end,
    char delim, size_t *a, size_t *b)
{
	size_t i;

	if (*pos > end)
		return 0;
	for (i = *pos; i < end && !(s[i] == delim && !m[i]); i++)
		;
	*a = *pos;
	*b = i;
	*pos = i + 1;
	strip(s, a, b);
	return 1;
}

/* A window value: digits, bare or quoted (unescaped first); -1 if not. */
static int
xwindow_value(const char *v, size_t n)
{
	char *u = malloc(n + 1);
	size_t i = 0, k = 0;
	int r = 0;

	FUZZ_CHECK(u != NULL);
	if (n > 0 && v[0] == '"') {
		for (i = 1; i < n && v[i] != '"'; i++) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			u[k++] = v[i];
		}
		if (i != n - 1)
			r = -1;		/* no closing quote, or more after it */
	} else {
		memcpy(u, v, n);
		k = n;
	}
	if (k == 0)
		r = -1;
	for (i = 0; r >= 0 && i < k; i++) {
		if (u[i] < '0' || u[i] > '9')
			r = -1;
		else if (r < 1000)
			r = r * 10 + (u[i] - '0');
	}
	free(u);
	return r;
}

/*
 * The parameters of one permessage-deflate element (s[a, b), after the
 * name): 0 and *x, or -1 for a refusal. An answer needs a value on both
 * windows; an offer may leave client_max_window_bits bare.
 */
static int
xparams(const char *s, const unsigned char *m, size_t pos, size_t end,
    int answer, struct xpmd *x)
{
	static const char *const names[] = {
		"server_no_context_takeover", "client_no_context_takeover",
		"server_max_window_bits", "client_max_window_bits"
	};
	int seen[4] = { 0, 0, 0, 0 };
	size_t a, b, na, nb, k;
	const char *eq;
	int w;

	memset(x, 0, sizeof(*x));
	while (next_piece(s, m, &pos, end, ';', &a, &b)) {
		if (a == b)
			continue;
		eq = memchr(s + a, '=', b - a);
		na = a;
		nb = eq ? (size_t)(eq - s) : b;
		strip(s, &na, &nb);
		for (k = 0; k < 4; k++)
			if (strlen(names[k]) == nb - na &&
			    memcmp(names[k], s + na, nb - na) == 0)
				break;
		if (k == 4 || seen[k]++)
			return -1;
		if (k < 2) {
			if (eq)
				return -1;
			if (k == 0)
				x->snct = 1;
			else
				x->cnct = 1;
			continue;
		}
		if (!eq) {
			if (k == 2 || answer)
				return -1;
			x->cwin = -1;
			continue;
		}
		na = (size_t)(eq - s) + 1;
		nb = b;
		strip(s, &na, &nb);
		w = xwindow_value(s + na, nb - na);
		if (w < 8 || w > 15)
			return -1;
		if (k == 2)
			x->swin = w;
		else
			x->cwin = w;
	}
	return 0;
}

/*
 * Every element of every Sec-WebSocket-Extensions line (a line is a list
 * of its own: a quote left open ends with it). Offers: other extensions
 * are skipped, every permessage-deflate must be valid. Answers: nothing
 * but one valid permessage-deflate. Returns 0 (with the first in *first
 * and the count in *found) or -1.
 */
static int
xscan(const struct evkeyvalq *q, int answer, struct xpmd *first, int *found)
{
	const struct evkeyval *kv;
	struct xpmd x;
	int r = 0;

	*found = 0;
	memset(first, 0, sizeof(*first));
	KV_FOREACH(kv, q) {
		const char *s = kv->value;
		size_t n = strlen(s), pos = 0, a, b, na, nb, semi;
		unsigned char *m;

		if (!ieq(kv->key, "Sec-WebSocket-Extensions"))
			continue;
		m = quote_mask(s, n);
		while (r == 0 && next_piece(s, m, &pos, n, ',', &a, &b)) {
			if (a == b)
				continue;
			for (semi = a; semi < b && !(s[semi] == ';' &&
			    !m[semi]); semi++)
				;
			na = a;
			nb = semi;
			strip(s, &na, &nb);
			if (nb - na != 18 ||
			    memcmp(s + na, "permessage-deflate", 18) != 0) {
				if (answer)
					r = -1;
				continue;
			}
			if ((answer && *found) ||
			    xparams(s, m, semi, b, answer, &x) < 0)
				r = -1;
			else if ((*found)++ == 0)
				*first = x;
		}
		free(m);
		if (r)
			return r;
	}
	return 0;
}

/* What a client with options d offers. */
static void
xoffer(const struct wsev_deflate_options *d, struct xpmd *x)
{
	x->snct = d->server_no_context_takeover != 0;
	x->cnct = d->client_no_context_takeover != 0;
	x->swin = xwin(d->server_max_window_bits);
	x->cwin = xwin(d->client_max_window_bits) ?
	    xwin(d->client_max_window_bits) : -1;
}

/* What a server with options d answers to offer o. */
static void
xanswer(const struct xpmd *o, const struct wsev_deflate_options *d,
    struct xpmd *x)
{
	int sw = xwin(d->server_max_window_bits);
	int cw = xwin(d->client_max_window_bits), c;

	x->snct = o->snct || d->server_no_context_takeover;
	x->cnct = o->cnct || d->client_no_context_takeover;
	if (o->swin == 0)
		x->swin = sw;
	else
		x->swin = sw != 0 && sw < o->swin ? sw : o->swin;
	x->cwin = 0;
	if (o->cwin != 0) {
		c = o->cwin < 0 ? 15 : o->cwin;
		x->cwin = cw != 0 && cw < c ? cw : c;
	}
}

/* The header value for x. */
static void
xstring(const struct xpmd *x, char *buf, size_t size)
{
	char w[40];

	snprintf(buf, size, "permessage-deflate");
	if (x->snct)
		strncat(buf, "; server_no_context_takeover",
		    size - strlen(buf) - 1);
	if (x->cnct)
		strncat(buf, "; client_no_context_takeover",
		    size - strlen(buf) - 1);
	if (x->swin) {
		snprintf(w, sizeof(w), "; server_max_window_bits=%d", x->swin);
		strncat(buf, w, size - strlen(buf) - 1);
	}
	if (x->cwin < 0)
		strncat(buf, "; client_max_window_bits",
		    size - strlen(buf) - 1);
	else if (x->cwin) {
		snprintf(w, sizeof(w), "; client_max_window_bits=%d", x->cwin);
		strncat(buf, w, size - strlen(buf) - 1);
	}
}

/* The extensions in use once x is agreed. */
static void
xin_use(const struct xpmd *x, const struct wsev_deflate_options *d,
    struct wsev_extensions *e)
{
	memset(e, 0, sizeof(*e));
	e->deflate = 1;
	e->server_no_context_takeover = x->snct;
	e->client_no_context_takeover = x->cnct;
	e->server_max_window_bits = x->swin > 0 ? x->swin : 15;
	e->client_max_window_bits = x->cwin > 0 ? x->cwin : 15;
	e->level = d->level;
	e->mem_level = d->mem_level;
}

/* The negotiated part: each side keeps its own zlib settings. */
static int
same_negotiation(const struct wsev_extensions *a,
    const struct wsev_extensions *b)
{
	return a->deflate == b->deflate &&
	    a->server_no_context_takeover == b->server_no_context_takeover &&
	    a->client_no_context_takeover == b->client_no_context_takeover &&
	    a->server_max_window_bits == b->server_max_window_bits &&
	    a->client_max_window_bits == b->client_max_window_bits;
}

static int
same_extensions(const struct wsev_extensions *a,
    const struct wsev_extensions *b)
{
	return same_negotiation(a, b) && a->level == b->level &&
	    a->mem_level == b->mem_level;
}

/* ------------------------------------------------------------------ */
/* The oracles */

/*
 * wsev_server_check_handshake_with_extensions' verdict: 1, or 0 with
 * *code; *chosen the protocol the answer must name, answer[] its
 * Sec-WebSocket-Extensions ("" for none; 160 bytes) and *use what is
 * then in use.
 */
static int
oracle_server(const struct evhttp_request *req, const char *origin,
    const char *const *protocols, const struct xopts *x, int *code,
    const char **chosen, char *answer, struct wsev_extensions *use)
{
	const struct evkeyvalq *in = req->input_headers;
	struct xpmd first, ans;
	const char *v;
	size_t i;
	int found;

	*chosen = NULL;
	answer[0] = '\0';
	memset(use, 0, sizeof(*use));
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
	/* Last: the offers, only when the options accept one. */
	if (xon(x)) {
		if (xscan(in, 0, &first, &found) < 0)
			return 0;
		if (found) {
			xanswer(&first, &x->o, &ans);
			xstring(&ans, answer, 160);
			xin_use(&ans, &x->o, use);
		}
	}
	return 1;
}

/* wsev_client_verify_handshake_with_extensions' verdict: 1 with *use,
 * or 0 with *code (and *use zeroed). */
static int
oracle_client(const struct evhttp_request *req, const struct xopts *x,
    int *code, struct wsev_extensions *use)
{
	const struct evkeyvalq *in = req->input_headers, *out = req->output_headers;
	struct xpmd ans, offer;
	const char *v, *key;
	char accept[29];
	int found = 0;

	memset(use, 0, sizeof(*use));
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
	if (!xon(x)) {
		/* No extension: none is offered. */
		if (count_tokens(in, "Sec-WebSocket-Extensions") > 0)
			return 0;
	} else {
		/* One valid permessage-deflate within what was offered,
		 * confirming what was asked of the server (RFC 7692 §7.1). */
		if (xscan(in, 1, &ans, &found) < 0)
			return 0;
		xoffer(&x->o, &offer);
		if (found && ((offer.swin && ans.swin > offer.swin) ||
		    (offer.cwin > 0 && ans.cwin > offer.cwin) ||
		    (offer.snct && !ans.snct) || (offer.swin && !ans.swin)))
			return 0;
		/* Our own promise holds; our window is what we offered
		 * unless the server lowered it. */
		ans.cnct |= offer.cnct;
		if (ans.cwin == 0)
			ans.cwin = offer.cwin;
	}
	key = last_value(out, "Sec-WebSocket-Key");
	v = last_value(in, "Sec-WebSocket-Accept");
	if (!key || !v)
		return 0;
	expected_accept(key, accept);
	if (strcmp(v, accept) != 0)
		return 0;
	if (found)
		xin_use(&ans, &x->o, use);
	return 1;
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
 * Check and process one request with the options x; on success the 101
 * headers are copied into answer (when not NULL) and what is in use into
 * *use. Returns the verdict.
 */
static int
server_side(const struct head *hd, const struct evkeyvalq *extra,
    unsigned flags, const struct xopts *x, struct evkeyvalq *answer,
    struct wsev_extensions *use)
{
	static const struct xopts none = { { 0, 0, 0, 0, 0, 0, 0 }, 1 };
	const char *origin = (flags & 4) ? "http://example.com" : NULL;
	const char *const *protocols = server_protocols[flags & 3];
	struct evhttp_request *req = server_request(hd, extra);
	struct wsev_extensions want_use, got_use, ignored;
	struct wsev_error err;
	const struct evkeyvalq *out;
	const char *chosen, *key, *v;
	char accept[29], want_answer[160], scratch[160];
	int ok, want, code;

	memset(&err, 0, sizeof(err));
	want = oracle_server(req, origin, protocols, x, &code, &chosen,
	    want_answer, &want_use);
	ok = wsev_server_check_handshake_with_extensions(req, origin,
	    protocols, xd(x), &err);
	FUZZ_CHECK(ok == want);
	if (!ok)
		check_error(&err, code);
	/* Nothing to check on NULL, but it must not crash. */
	FUZZ_CHECK(wsev_server_check_handshake_with_extensions(req, origin,
	    protocols, xd(x), NULL) == ok);
	/* The plain helper never looks at the offers. */
	FUZZ_CHECK(wsev_server_check_handshake(req, origin, protocols, NULL) ==
	    oracle_server(req, origin, protocols, &none, &code, &v,
	    scratch, &ignored));
	if (ok) {
		key = last_value(req->input_headers, "Sec-WebSocket-Key");
		FUZZ_CHECK(key && strlen(key) == 24 && b64_decoded_len(key) == 16);
	}
	evhttp_request_free(req);

	/* process agrees; a refusal on a request with no connection is
	 * "sent" by evhttp_send_reply(), which then frees the request. */
	req = server_request(hd, extra);
	if (x->null) {
		ok = wsev_server_process_handshake(req, origin, protocols);
		memset(&got_use, 0, sizeof(got_use));
	} else {
		memset(&got_use, 0x5a, sizeof(got_use));
		ok = wsev_server_process_handshake_with_extensions(req, origin,
		    protocols, xd(x), &got_use);
	}
	FUZZ_CHECK(ok == want);
	FUZZ_CHECK(same_extensions(&got_use, &want_use));	/* 0 if !ok */
	if (!ok)
		return 0;
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
	/* The answer to the first offer, or nothing (not even a header the
	 * input put there). */
	v = last_value(out, "Sec-WebSocket-Extensions");
	FUZZ_CHECK(count(out, "Sec-WebSocket-Extensions") == (v != NULL));
	FUZZ_CHECK(want_answer[0] ? v && strcmp(v, want_answer) == 0 :
	    v == NULL);
	if (answer)
		copy_headers(answer, out);
	if (use)
		*use = got_use;
	evhttp_request_free(req);
	return 1;
}

/* The client helper on req with the options x, against the oracle; what
 * is in use goes to *use (may be NULL). */
static int
client_side(struct evhttp_request *req, const struct xopts *x,
    struct wsev_extensions *use)
{
	static const struct xopts none = { { 0, 0, 0, 0, 0, 0, 0 }, 1 };
	struct wsev_extensions want_use, got_use;
	struct wsev_error err;
	int ok, want, code;

	memset(&err, 0, sizeof(err));
	want = oracle_client(req, x, &code, &want_use);
	memset(&got_use, 0x5a, sizeof(got_use));
	ok = wsev_client_verify_handshake_with_extensions(req, xd(x), &got_use,
	    &err);
	FUZZ_CHECK(ok == want);
	FUZZ_CHECK(same_extensions(&got_use, &want_use));
	if (!ok)
		check_error(&err, code);
	FUZZ_CHECK(wsev_client_verify_handshake_with_extensions(req, xd(x),
	    NULL, NULL) == ok);
	/* The plain helper refuses any extension. */
	FUZZ_CHECK(wsev_client_verify_handshake(req, NULL) ==
	    oracle_client(req, &none, &code, &want_use));
	if (use)
		*use = got_use;
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
round_trip(const struct head *hd, unsigned flags, const struct xopts *x)
{
	struct evhttp_request *creq = evhttp_request_new(NULL, NULL);
	struct evhttp_request *sreq;
	struct evkeyvalq answer;
	struct wsev_extensions server_use, client_use;
	char *offer[MAX_TOKENS + 1];
	const char *origin = NULL, *key, *v;
	struct evbuffer *joined;
	const struct evkeyval *kv;
	size_t n, i, j;
	struct head sh;
	struct xpmd mine;
	char want[160];
	int accepted;

	FUZZ_CHECK(creq != NULL);
	KV_INIT(&answer);
	n = offer_from(hd, offer);
	for (i = 0; i < hd->n; i++)
		if (ieq(hd->h[i].name, "Origin"))
			origin = hd->h[i].value;
	add_all(creq->output_headers, hd->h, hd->n);
	if (x->null)
		wsev_client_prepare_handshake(creq, origin,
		    (const char *const *)offer);
	else
		wsev_client_prepare_handshake_with_extensions(creq, origin,
		    (const char *const *)offer, xd(x));

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
	/* The offer, exactly once, or none. */
	v = last_value(creq->output_headers, "Sec-WebSocket-Extensions");
	FUZZ_CHECK(count(creq->output_headers, "Sec-WebSocket-Extensions") ==
	    (v != NULL));
	if (xon(x)) {
		xoffer(&x->o, &mine);
		xstring(&mine, want, sizeof(want));
		FUZZ_CHECK(v && strcmp(v, want) == 0);
	} else {
		FUZZ_CHECK(v == NULL);
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
	/* The same options on both sides: every offer they make is one
	 * they accept. */
	accepted = server_side(&sh, creq->output_headers, flags, x, &answer,
	    &server_use);
	/* It can only refuse the origin or the protocols. */
	sreq = server_request(&sh, creq->output_headers);
	{
		int code;
		const char *chosen;
		struct wsev_extensions ignored;

		if (!accepted)
			FUZZ_CHECK(oracle_server(sreq, (flags & 4) ?
			    "http://example.com" : NULL,
			    server_protocols[flags & 3], x, &code, &chosen,
			    want, &ignored) != 1 &&
			    (code == WSEV_ERROR_BAD_ORIGIN ||
			    (code == WSEV_ERROR_BAD_HANDSHAKE && n > 0 &&
			    server_protocols[flags & 3])));
	}
	evhttp_request_free(sreq);
	if (accepted) {
		creq->response_code = 101;
		copy_headers(creq->input_headers, &answer);
		FUZZ_CHECK(client_side(creq, x, &client_use) == 1);
		/* Both sides agree, and on deflate exactly when offered. */
		FUZZ_CHECK(same_negotiation(&client_use, &server_use));
		FUZZ_CHECK(client_use.deflate == xon(x));
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

/*
 * The permessage-deflate options of bits 5-6: none (NULL), the defaults,
 * a set asking and limiting everything, or the numbers of the request's
 * X-Fuzz-Deflate header ("enabled level mem_level snct cnct swin cwin";
 * all 0 without one, so enabled 0 but not NULL).
 */
static void
options_of(const struct head *hd, unsigned flags, struct xopts *x)
{
	static const struct wsev_deflate_options defaults = {
		1, -1, 8, 0, 0, 0, 0
	}, strict = {
		1, 6, 9, 1, 1, 11, 10
	};
	struct wsev_deflate_options *o = &x->o;
	size_t i;

	memset(x, 0, sizeof(*x));
	switch ((flags >> 5) & 3) {
	case 0:
		x->null = 1;
		break;
	case 1:
		*o = defaults;
		break;
	case 2:
		*o = strict;
		break;
	default:
		for (i = 0; i < hd->n; i++)
			if (ieq(hd->h[i].name, "X-Fuzz-Deflate"))
				sscanf(hd->h[i].value, "%d %d %d %d %d %d %d",
				    &o->enabled, &o->level, &o->mem_level,
				    &o->server_no_context_takeover,
				    &o->client_no_context_takeover,
				    &o->server_max_window_bits,
				    &o->client_max_window_bits);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct head rq, rs;
	struct evkeyvalq answer;
	struct evhttp_request *creq;
	struct wsev_extensions server_use, client_use;
	struct xopts x, permissive;
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
	options_of(&rq, flags, &x);

	/* The server's verdict; when it accepts, the client accepts its
	 * answer: a client that asked for nothing takes any valid answer,
	 * and then agrees with the server on what is in use. */
	if (server_side(&rq, NULL, flags, &x, &answer, &server_use)) {
		memset(&permissive, 0, sizeof(permissive));
		permissive.null = x.null;
		permissive.o.enabled = 1;
		permissive.o.level = x.o.level;
		permissive.o.mem_level = x.o.mem_level;
		creq = evhttp_request_new(NULL, NULL);
		FUZZ_CHECK(creq != NULL);
		client_request_from(creq, &rq);
		creq->response_code = 101;
		copy_headers(creq->input_headers, &answer);
		FUZZ_CHECK(client_side(creq, &permissive, &client_use) == 1);
		FUZZ_CHECK(same_negotiation(&client_use, &server_use));
		evhttp_request_free(creq);
	}

	/* The client's verdict on the response. */
	creq = evhttp_request_new(NULL, NULL);
	FUZZ_CHECK(creq != NULL);
	if (flags & 16) {
		n = offer_from(&rq, offer);
		wsev_client_prepare_handshake_with_extensions(creq, NULL,
		    (const char *const *)offer, xd(&x));
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
	client_side(creq, &x, NULL);
	evhttp_request_free(creq);

	if (flags & 8)
		round_trip(&rq, flags, &x);

	if (flags & 128) {
		FUZZ_CHECK(wsev_server_check_handshake(NULL, NULL, NULL, NULL) == 0);
		FUZZ_CHECK(wsev_client_verify_handshake(NULL, NULL) == 0);
		FUZZ_CHECK(wsev_server_check_handshake_with_extensions(NULL,
		    NULL, NULL, xd(&x), NULL) == 0);
		memset(&client_use, 0x5a, sizeof(client_use));
		FUZZ_CHECK(wsev_client_verify_handshake_with_extensions(NULL,
		    xd(&x), &client_use, NULL) == 0 && client_use.deflate == 0);
		memset(&server_use, 0x5a, sizeof(server_use));
		FUZZ_CHECK(wsev_server_process_handshake_with_extensions(NULL,
		    NULL, NULL, xd(&x), &server_use) == 0 &&
		    server_use.deflate == 0);
	}
out:
	evhttp_clear_headers(&answer);
	head_free(&rq);
	head_free(&rs);
	return 0;
}
