/*
 * The four handshake helpers (lib/handshake.c). The client helpers are
 * checked on requests built here; the server helpers through a real evhttp
 * server, with raw requests written on a socket and the raw response
 * parsed: status, headers, body, and whether the server closed.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev/wsev.h"
#include "tt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <openssl/evp.h>

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="	/* RFC 6455 §1.3 */
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* The test's own accept computation (RFC 6455 §4.2.2). */
static void
accept_for(const char *key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[20];
	unsigned int n = 0;
	char buf[128];

	snprintf(buf, sizeof(buf), "%s%s", key, guid);
	EVP_Digest(buf, strlen(buf), md, &n, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, 20);
}

static int
count_headers(struct evkeyvalq *h, const char *name)
{
	struct evkeyval *kv;
	int n = 0;

	for (kv = h->tqh_first; kv; kv = kv->next.tqe_next)
		if (!evutil_ascii_strcasecmp(kv->key, name))
			n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* Client helpers */

static void
test_prepare(void)
{
	struct evhttp_request *req = evhttp_request_new(NULL, NULL);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *const protos[] = { "chat", "superchat", NULL };
	const char *const none[] = { NULL };
	unsigned char raw[32];
	char key1[32];
	const char *k;

	evhttp_add_header(out, "X-Custom", "kept");
	evhttp_add_header(out, "Upgrade", "h2c");	/* replaced */
	evbuffer_add(evhttp_request_get_output_buffer(req), "body", 4);
	wsev_client_prepare_handshake(req, "http://example.com", protos);
	CHECK_STR(evhttp_find_header(out, "Upgrade"), "websocket");
	CHECK_INT(count_headers(out, "Upgrade"), ==, 1);
	CHECK_STR(evhttp_find_header(out, "Connection"), "Upgrade");
	CHECK_STR(evhttp_find_header(out, "Sec-WebSocket-Version"), "13");
	CHECK_STR(evhttp_find_header(out, "Origin"), "http://example.com");
	CHECK_STR(evhttp_find_header(out, "Sec-WebSocket-Protocol"),
	    "chat, superchat");
	CHECK_STR(evhttp_find_header(out, "X-Custom"), "kept");
	CHECK_INT(evbuffer_get_length(evhttp_request_get_output_buffer(req)),
	    ==, 4);
	k = evhttp_find_header(out, "Sec-WebSocket-Key");
	REQUIRE(k != NULL);
	CHECK_INT(strlen(k), ==, 24);
	CHECK_INT(EVP_DecodeBlock(raw, (const unsigned char *)k, 24), ==, 18);
	CHECK(k[22] == '=' && k[23] == '=');	/* 16 bytes */
	snprintf(key1, sizeof(key1), "%s", k);
	/* Again: a fresh key, no duplicates, no protocol for an empty list. */
	wsev_client_prepare_handshake(req, NULL, none);
	CHECK_INT(count_headers(out, "Sec-WebSocket-Key"), ==, 1);
	CHECK(strcmp(evhttp_find_header(out, "Sec-WebSocket-Key"), key1) != 0);
	CHECK(evhttp_find_header(out, "Sec-WebSocket-Protocol") == NULL);
	CHECK(evhttp_find_header(out, "Origin") == NULL);
	wsev_client_prepare_handshake(req, NULL, NULL);
	CHECK(evhttp_find_header(out, "Sec-WebSocket-Protocol") == NULL);
	evhttp_request_free(req);
}

struct verify_case {
	const char *name;
	int status;
	const char *upgrade, *connection;
	int accept;		/* 1: right, 0: missing, -1: wrong */
	const char *protocol, *extensions;
	int ok;
	int code;
};

static void
test_verify(void)
{
	static const struct verify_case t[] = {
		{ "good", 101, "websocket", "Upgrade", 1, NULL, NULL, 1, 0 },
		{ "good, mixed case", 101, "WebSocket", "keep-alive, upgrade", 1,
		    "superchat", NULL, 1, 0 },
		{ "400", 400, NULL, NULL, 0, NULL, NULL, 0,
		    WSEV_ERROR_BAD_HANDSHAKE },
		{ "200", 200, "websocket", "Upgrade", 1, NULL, NULL, 0,
		    WSEV_ERROR_NOT_WEBSOCKET },
		{ "403", 403, NULL, NULL, 0, NULL, NULL, 0,
		    WSEV_ERROR_NOT_WEBSOCKET },
		{ "no Upgrade", 101, NULL, "Upgrade", 1, NULL, NULL, 0,
		    WSEV_ERROR_NOT_WEBSOCKET },
		{ "Upgrade h2c", 101, "h2c", "Upgrade", 1, NULL, NULL, 0,
		    WSEV_ERROR_NOT_WEBSOCKET },
		{ "no upgrade token", 101, "websocket", "keep-alive", 1, NULL,
		    NULL, 0, WSEV_ERROR_NOT_WEBSOCKET },
		{ "no Accept", 101, "websocket", "Upgrade", 0, NULL, NULL, 0,
		    WSEV_ERROR_BAD_HANDSHAKE },
		{ "wrong Accept", 101, "websocket", "Upgrade", -1, NULL, NULL, 0,
		    WSEV_ERROR_BAD_HANDSHAKE },
		{ "protocol not offered", 101, "websocket", "Upgrade", 1, "other",
		    NULL, 0, WSEV_ERROR_BAD_HANDSHAKE },
		{ "protocol case differs", 101, "websocket", "Upgrade", 1, "Chat",
		    NULL, 0, WSEV_ERROR_BAD_HANDSHAKE },
		{ "extension not offered", 101, "websocket", "Upgrade", 1, NULL,
		    "permessage-deflate", 0, WSEV_ERROR_BAD_HANDSHAKE },
	};
	const char *const protos[] = { "chat", "superchat", NULL };
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct evhttp_request *req = evhttp_request_new(NULL, NULL);
		struct evkeyvalq *in = evhttp_request_get_input_headers(req);
		struct wsev_error err;
		char acc[29];
		int r;

		wsev_client_prepare_handshake(req, NULL, protos);
		accept_for(evhttp_find_header(
		    evhttp_request_get_output_headers(req), "Sec-WebSocket-Key"),
		    acc);
		if (t[i].accept < 0)
			acc[3] ^= 1;
		req->response_code = t[i].status;
		if (t[i].upgrade)
			evhttp_add_header(in, "Upgrade", t[i].upgrade);
		if (t[i].connection)
			evhttp_add_header(in, "Connection", t[i].connection);
		if (t[i].accept)
			evhttp_add_header(in, "Sec-WebSocket-Accept", acc);
		if (t[i].protocol)
			evhttp_add_header(in, "Sec-WebSocket-Protocol", t[i].protocol);
		if (t[i].extensions)
			evhttp_add_header(in, "Sec-WebSocket-Extensions",
			    t[i].extensions);
		memset(&err, 0, sizeof(err));
		r = wsev_client_verify_handshake(req, &err);
		if (r != t[i].ok)
			printf("  case \"%s\": %d (%s)\n", t[i].name, r, err.message);
		CHECK_INT(r, ==, t[i].ok);
		if (!t[i].ok) {
			CHECK_INT(err.domain, ==, WSEV_DOMAIN_WEBSOCKET);
			CHECK_INT(err.code, ==, t[i].code);
			CHECK(err.message[0] != '\0');
		}
		/* err may be NULL. */
		CHECK_INT(wsev_client_verify_handshake(req, NULL), ==, t[i].ok);
		evhttp_request_free(req);
	}
}

/* ------------------------------------------------------------------ */
/* permessage-deflate (RFC 7692): the options the cases below use */

enum { D_NULL, D_OFF, D_DEFAULT, D_ASK, D_LIMIT, D_NCT, D_CNCT, D_RANGE,
	D_SMALL };

static const struct wsev_deflate_options deflate_presets[] = {
	[D_NULL] = { 0, 0, 0, 0, 0, 0, 0 },	/* passed as NULL */
	[D_OFF] = { 0, -1, 8, 1, 1, 10, 10 },
	[D_DEFAULT] = { 1, -1, 8, 0, 0, 0, 0 },
	/* A client asking for everything, a server limiting everything. */
	[D_ASK] = { 1, 3, 5, 1, 1, 10, 12 },
	[D_LIMIT] = { 1, 2, 4, 0, 0, 10, 11 },
	[D_NCT] = { 1, 9, 9, 1, 1, 0, 0 },
	[D_CNCT] = { 1, -1, 8, 0, 1, 0, 0 },
	/* Windows outside 8-15 are left out, never sent. */
	[D_RANGE] = { 1, -1, 8, 0, 0, 16, 7 },
	[D_SMALL] = { 1, -1, 8, 0, 0, 9, 9 },
};

static const struct wsev_deflate_options *
preset(int i)
{
	return i == D_NULL ? NULL : &deflate_presets[i];
}

/* What a negotiation must give: deflate, server_no_context_takeover,
 * client_no_context_takeover, server and client windows. */
struct pmd_want {
	int deflate, snct, cnct, swin, cwin;
};

/* *got against *want, with level and mem_level copied from the options;
 * 0 (a zeroed struct) when want is no extension. */
static int
extensions_are(const struct wsev_extensions *got, const struct pmd_want *want,
    const struct wsev_deflate_options *d)
{
	if (!want->deflate)
		return got->deflate == 0 &&
		    got->server_no_context_takeover == 0 &&
		    got->client_no_context_takeover == 0 &&
		    got->server_max_window_bits == 0 &&
		    got->client_max_window_bits == 0 && got->level == 0 &&
		    got->mem_level == 0;
	return got->deflate == 1 && got->server_no_context_takeover ==
	    want->snct && got->client_no_context_takeover == want->cnct &&
	    got->server_max_window_bits == want->swin &&
	    got->client_max_window_bits == want->cwin &&
	    got->level == d->level && got->mem_level == d->mem_level;
}

static void
print_extensions(const char *what, const struct wsev_extensions *e)
{
	printf("  %s: deflate %d snct %d cnct %d swin %d cwin %d level %d "
	    "mem %d\n", what, e->deflate, e->server_no_context_takeover,
	    e->client_no_context_takeover, e->server_max_window_bits,
	    e->client_max_window_bits, e->level, e->mem_level);
}

/* A case's failed checks get its name, verdict, message and result. */
static void
report_case(const char *name, int before, int r, const struct wsev_error *err,
    const struct wsev_extensions *acc)
{
	if (tt_failed_checks == before)
		return;
	printf("  ... case \"%s\": %d (%s)\n", name, r, err->message);
	print_extensions("accepted", acc);
}

/* A refusal of the extension: BAD_HANDSHAKE, one line naming it. */
static void
check_refusal(const struct wsev_error *err, const char *msg)
{
	CHECK_INT(err->domain, ==, WSEV_DOMAIN_WEBSOCKET);
	CHECK_INT(err->code, ==, WSEV_ERROR_BAD_HANDSHAKE);
	CHECK(strstr(err->message, msg) != NULL);
	CHECK(strchr(err->message, '\n') == NULL);
}

/* The server's 101 to a request prepared on req, with the right accept
 * key unless bad_accept, and up to two extension lines. */
static void
answer_101(struct evhttp_request *req, int bad_accept, const char *ext1,
    const char *ext2)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	char a[29];

	accept_for(evhttp_find_header(evhttp_request_get_output_headers(req),
	    "Sec-WebSocket-Key"), a);
	if (bad_accept)
		a[3] ^= 1;
	req->response_code = 101;
	evhttp_add_header(in, "Upgrade", "websocket");
	evhttp_add_header(in, "Connection", "Upgrade");
	evhttp_add_header(in, "Sec-WebSocket-Accept", a);
	if (ext1)
		evhttp_add_header(in, "Sec-WebSocket-Extensions", ext1);
	if (ext2)
		evhttp_add_header(in, "Sec-WebSocket-Extensions", ext2);
}

static void
test_prepare_deflate(void)
{
	static const struct {
		int opts;
		const char *want;	/* the header, or NULL for none */
	} t[] = {
		{ D_NULL, NULL },
		{ D_OFF, NULL },
		/* What Chromium, Python websockets and Node ws send. */
		{ D_DEFAULT, "permessage-deflate; client_max_window_bits" },
		{ D_ASK, "permessage-deflate; server_no_context_takeover; "
		    "client_no_context_takeover; server_max_window_bits=10; "
		    "client_max_window_bits=12" },
		{ D_CNCT, "permessage-deflate; client_no_context_takeover; "
		    "client_max_window_bits" },
		{ D_RANGE, "permessage-deflate; client_max_window_bits" },
		{ D_SMALL, "permessage-deflate; server_max_window_bits=9; "
		    "client_max_window_bits=9" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct evhttp_request *req = evhttp_request_new(NULL, NULL);
		struct evkeyvalq *out = evhttp_request_get_output_headers(req);
		int before = tt_failed_checks;

		/* Stale copies are replaced, whatever the options. */
		evhttp_add_header(out, "Sec-WebSocket-Extensions", "x-old");
		evhttp_add_header(out, "Sec-WebSocket-Extensions", "x-older");
		evhttp_add_header(out, "X-Custom", "kept");
		wsev_client_prepare_handshake_with_extensions(req, NULL, NULL,
		    preset(t[i].opts));
		CHECK_INT(count_headers(out, "Sec-WebSocket-Extensions"), ==,
		    t[i].want != NULL);
		if (t[i].want)
			CHECK_STR(evhttp_find_header(out,
			    "Sec-WebSocket-Extensions"), t[i].want);
		CHECK_STR(evhttp_find_header(out, "X-Custom"), "kept");
		CHECK_STR(evhttp_find_header(out, "Upgrade"), "websocket");
		CHECK_INT(count_headers(out, "Sec-WebSocket-Key"), ==, 1);
		if (tt_failed_checks != before)
			printf("  ... case %zu\n", i);
		evhttp_request_free(req);
	}
}

/* The server's answers below, one header line or two. */
struct verify_deflate_case {
	const char *name;
	int opts;
	const char *ext1, *ext2;
	int ok;
	struct pmd_want want;
	const char *msg;	/* part of the refusal's message */
};

#define PMD "permessage-deflate"
#define NOEXT { 0, 0, 0, 0, 0 }
#define AS_IS { 1, 0, 0, 15, 15 }

static const struct verify_deflate_case verify_deflate_cases[] = {
	{ "declined", D_DEFAULT, NULL, NULL, 1, NOEXT, NULL },
	{ "accepted bare", D_DEFAULT, PMD, NULL, 1, AS_IS, NULL },
	{ "the bare client window answered with 15", D_DEFAULT,
	    PMD "; client_max_window_bits=15", NULL, 1, AS_IS, NULL },
	{ "the client window limited", D_DEFAULT,
	    PMD "; client_max_window_bits=10", NULL, 1, { 1, 0, 0, 15, 10 },
	    NULL },
	{ "the server limits its own window unasked", D_DEFAULT,
	    PMD "; server_max_window_bits=8", NULL, 1, { 1, 0, 0, 8, 15 },
	    NULL },
	{ "a quoted value", D_DEFAULT, PMD "; server_max_window_bits=\"10\"",
	    NULL, 1, { 1, 0, 0, 10, 15 }, NULL },
	{ "a quoted value with an escape", D_DEFAULT,
	    PMD "; client_max_window_bits=\"1\\1\"", NULL, 1,
	    { 1, 0, 0, 15, 11 }, NULL },
	{ "blanks everywhere", D_DEFAULT, " " PMD " ;\tserver_no_context_"
	    "takeover ; client_no_context_takeover ; server_max_window_bits "
	    "= 9 ;", NULL, 1, { 1, 1, 1, 9, 15 }, NULL },
	{ "empty parameters", D_DEFAULT, PMD ";;", NULL, 1, AS_IS, NULL },
	{ "empty list elements", D_DEFAULT, ", " PMD " ,", ",", 1, AS_IS,
	    NULL },
	{ "all that was asked", D_ASK, PMD "; server_no_context_takeover; "
	    "server_max_window_bits=10", NULL, 1, { 1, 1, 1, 10, 12 }, NULL },
	{ "less than asked", D_ASK, PMD "; server_no_context_takeover; "
	    "client_no_context_takeover; server_max_window_bits=9; "
	    "client_max_window_bits=8", NULL, 1, { 1, 1, 1, 9, 8 }, NULL },
	{ "asked, declined", D_ASK, NULL, NULL, 1, NOEXT, NULL },
	{ "our client_no_context_takeover binds us", D_CNCT, PMD, NULL, 1,
	    { 1, 0, 1, 15, 15 }, NULL },
	{ "not offered: any extension refused", D_OFF, PMD, NULL, 0, NOEXT,
	    "unsupported extension" },
	{ "not offered, NULL options", D_NULL, PMD, NULL, 0, NOEXT,
	    "unsupported extension" },
	{ "another extension", D_DEFAULT, "x-webkit-deflate-frame", NULL, 0,
	    NOEXT, "unsupported extension \"x-webkit-deflate-frame\"" },
	{ "another extension first", D_DEFAULT, "foo; bar=1", PMD, 0, NOEXT,
	    "unsupported extension \"foo\"" },
	{ "a name differing in case", D_DEFAULT, "Permessage-Deflate", NULL,
	    0, NOEXT, "unsupported extension" },
	{ "twice in one line", D_DEFAULT, PMD ", " PMD, NULL, 0, NOEXT,
	    "twice" },
	{ "twice in two lines", D_DEFAULT, PMD, PMD "; server_max_window_"
	    "bits=10", 0, NOEXT, "twice" },
	{ "unknown parameter", D_DEFAULT, PMD "; foo", NULL, 0, NOEXT,
	    "Unknown permessage-deflate parameter \"foo\"" },
	{ "unknown parameter with a value", D_DEFAULT, PMD "; foo=1", NULL, 0,
	    NOEXT, "parameter \"foo\"" },
	{ "a parameter differing in case", D_DEFAULT,
	    PMD "; Server_No_Context_Takeover", NULL, 0, NOEXT, "Unknown" },
	{ "repeated flag", D_DEFAULT, PMD "; server_no_context_takeover; "
	    "server_no_context_takeover", NULL, 0, NOEXT, "Repeated" },
	{ "repeated window", D_DEFAULT, PMD "; client_max_window_bits=10; "
	    "client_max_window_bits=10", NULL, 0, NOEXT, "Repeated" },
	{ "a value on server_no_context_takeover", D_DEFAULT,
	    PMD "; server_no_context_takeover=1", NULL, 0, NOEXT,
	    "Unexpected value" },
	{ "an empty value on client_no_context_takeover", D_DEFAULT,
	    PMD "; client_no_context_takeover=\"\"", NULL, 0, NOEXT,
	    "Unexpected value" },
	{ "server window without a value", D_DEFAULT,
	    PMD "; server_max_window_bits", NULL, 0, NOEXT, "Missing value" },
	{ "client window without a value in an answer", D_DEFAULT,
	    PMD "; client_max_window_bits", NULL, 0, NOEXT, "Missing value" },
	{ "window not a number", D_DEFAULT, PMD "; server_max_window_bits=ten",
	    NULL, 0, NOEXT, "not a number" },
	{ "window with a sign", D_DEFAULT, PMD "; server_max_window_bits=+9",
	    NULL, 0, NOEXT, "not a number" },
	{ "window with a tail", D_DEFAULT, PMD "; client_max_window_bits=9a",
	    NULL, 0, NOEXT, "not a number" },
	{ "window empty", D_DEFAULT, PMD "; client_max_window_bits=", NULL, 0,
	    NOEXT, "not a number" },
	{ "window unterminated quote", D_DEFAULT,
	    PMD "; server_max_window_bits=\"10", NULL, 0, NOEXT,
	    "not a number" },
	{ "window after a quote", D_DEFAULT,
	    PMD "; server_max_window_bits=\"10\"0", NULL, 0, NOEXT,
	    "not a number" },
	{ "window quoted comma", D_DEFAULT,
	    PMD "; server_max_window_bits=\"1,0\"", NULL, 0, NOEXT,
	    "not a number" },
	{ "window 7", D_DEFAULT, PMD "; server_max_window_bits=7", NULL, 0,
	    NOEXT, "not 8-15" },
	{ "window 16", D_DEFAULT, PMD "; client_max_window_bits=16", NULL, 0,
	    NOEXT, "not 8-15" },
	{ "window 0", D_DEFAULT, PMD "; server_max_window_bits=0", NULL, 0,
	    NOEXT, "not 8-15" },
	{ "window huge", D_DEFAULT,
	    PMD "; server_max_window_bits=4294967305", NULL, 0, NOEXT,
	    "not 8-15" },
	{ "server window above what was asked", D_ASK,
	    PMD "; server_no_context_takeover; server_max_window_bits=11",
	    NULL, 0, NOEXT, "server_max_window_bits=11, above the 10" },
	{ "client window above what was offered", D_ASK,
	    PMD "; server_no_context_takeover; server_max_window_bits=10; "
	    "client_max_window_bits=13", NULL, 0, NOEXT,
	    "client_max_window_bits=13, above the 12" },
	{ "server_no_context_takeover asked, not answered", D_ASK,
	    PMD "; server_max_window_bits=10", NULL, 0, NOEXT,
	    "did not answer server_no_context_takeover" },
	{ "server_max_window_bits asked, not answered", D_ASK,
	    PMD "; server_no_context_takeover", NULL, 0, NOEXT,
	    "did not answer server_max_window_bits" },
};

static void
test_verify_deflate(void)
{
	const size_t n = sizeof(verify_deflate_cases) /
	    sizeof(verify_deflate_cases[0]);
	size_t i;

	for (i = 0; i < n; i++) {
		const struct verify_deflate_case *c = &verify_deflate_cases[i];
		const struct wsev_deflate_options *d = preset(c->opts);
		struct evhttp_request *req = evhttp_request_new(NULL, NULL);
		struct wsev_extensions acc;
		struct wsev_error err;
		int before = tt_failed_checks, r;

		wsev_client_prepare_handshake_with_extensions(req, NULL, NULL,
		    d);
		answer_101(req, 0, c->ext1, c->ext2);
		memset(&err, 0, sizeof(err));
		memset(&acc, 0x55, sizeof(acc));	/* zeroed whatever */
		r = wsev_client_verify_handshake_with_extensions(req, d, &acc,
		    &err);
		CHECK_INT(r, ==, c->ok);
		CHECK(extensions_are(&acc, &c->want, d));
		if (!c->ok)
			check_refusal(&err, c->msg);
		/* accepted and err may be NULL. */
		CHECK_INT(wsev_client_verify_handshake_with_extensions(req, d,
		    NULL, NULL), ==, c->ok);
		/* The plain helper refuses every extension. */
		CHECK_INT(wsev_client_verify_handshake(req, NULL), ==,
		    c->ext1 == NULL && c->ext2 == NULL);
		report_case(c->name, before, r, &err, &acc);
		evhttp_request_free(req);
	}
}

/* A refusal for another reason leaves *accepted zeroed too. */
static void
test_verify_deflate_other_failure(void)
{
	const struct wsev_deflate_options *d = preset(D_DEFAULT);
	struct evhttp_request *req = evhttp_request_new(NULL, NULL);
	struct wsev_extensions acc;
	struct wsev_error err;

	wsev_client_prepare_handshake_with_extensions(req, NULL, NULL, d);
	answer_101(req, 1, PMD, NULL);
	memset(&acc, 0x55, sizeof(acc));
	CHECK_INT(wsev_client_verify_handshake_with_extensions(req, d, &acc,
	    &err), ==, 0);
	CHECK_INT(err.code, ==, WSEV_ERROR_BAD_HANDSHAKE);
	CHECK(strstr(err.message, "accept key") != NULL);
	CHECK_INT(acc.deflate, ==, 0);
	CHECK_INT(acc.client_max_window_bits, ==, 0);
	evhttp_request_free(req);
	memset(&acc, 0x55, sizeof(acc));
	CHECK_INT(wsev_client_verify_handshake_with_extensions(NULL, d, &acc,
	    &err), ==, 0);
	CHECK_INT(acc.deflate, ==, 0);
	CHECK_INT(acc.level, ==, 0);
}

/* ------------------------------------------------------------------ */
/* Server helpers with permessage-deflate, on requests built here */

/* A valid handshake request as evhttp parses one, with no connection (a
 * refusal "sent" on it frees it), and up to two extension lines. */
static struct evhttp_request *
deflate_request(const char *ext1, const char *ext2)
{
	struct evhttp_request *req = evhttp_request_new(NULL, NULL);
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);

	req->kind = EVHTTP_REQUEST;
	req->type = EVHTTP_REQ_GET;
	req->major = 1;
	req->minor = 1;
	evhttp_add_header(in, "Host", "example.com");
	evhttp_add_header(in, "Upgrade", "websocket");
	evhttp_add_header(in, "Connection", "Upgrade");
	evhttp_add_header(in, "Sec-WebSocket-Key", KEY);
	evhttp_add_header(in, "Sec-WebSocket-Version", "13");
	if (ext1)
		evhttp_add_header(in, "Sec-WebSocket-Extensions", ext1);
	if (ext2)
		evhttp_add_header(in, "Sec-WebSocket-Extensions", ext2);
	return req;
}

struct server_deflate_case {
	const char *name;
	int opts;
	const char *ext1, *ext2;
	int ok;
	const char *answer;	/* the 101's Sec-WebSocket-Extensions */
	struct pmd_want want;
	const char *msg;	/* part of the refusal's message */
};

/* Autobahn case 13.7's offers, most wanted first. */
#define A137_1 PMD "; client_no_context_takeover; client_max_window_bits; " \
	"server_no_context_takeover; server_max_window_bits=9"
#define A137_2 PMD "; client_no_context_takeover; client_max_window_bits; " \
	"server_no_context_takeover"
#define A137_3 PMD

static const struct server_deflate_case server_deflate_cases[] = {
	{ "no offer", D_DEFAULT, NULL, NULL, 1, NULL, NOEXT, NULL },
	{ "Chromium, Python websockets, Node ws", D_DEFAULT,
	    PMD "; client_max_window_bits", NULL, 1,
	    PMD "; client_max_window_bits=15", AS_IS, NULL },
	{ "Firefox", D_DEFAULT, PMD, NULL, 1, PMD, AS_IS, NULL },
	{ "options off", D_OFF, PMD "; client_max_window_bits", NULL, 1, NULL,
	    NOEXT, NULL },
	{ "options NULL", D_NULL, PMD, NULL, 1, NULL, NOEXT, NULL },
	{ "options off: offers not even checked", D_OFF, PMD "; foo", NULL, 1,
	    NULL, NOEXT, NULL },
	{ "Autobahn 13.7: the first of three", D_DEFAULT,
	    A137_1 ", " A137_2 ", " A137_3, NULL, 1,
	    PMD "; server_no_context_takeover; client_no_context_takeover; "
	    "server_max_window_bits=9; client_max_window_bits=15",
	    { 1, 1, 1, 9, 15 }, NULL },
	{ "Autobahn 13.7 over two lines", D_DEFAULT, A137_1,
	    A137_2 ", " A137_3, 1,
	    PMD "; server_no_context_takeover; client_no_context_takeover; "
	    "server_max_window_bits=9; client_max_window_bits=15",
	    { 1, 1, 1, 9, 15 }, NULL },
	{ "the second offer when the first is another extension", D_DEFAULT,
	    "x-webkit-deflate-frame, " PMD "; server_max_window_bits=12",
	    NULL, 1, PMD "; server_max_window_bits=12", { 1, 0, 0, 12, 15 },
	    NULL },
	{ "unknown extensions only", D_DEFAULT, "foo; bar=1",
	    "x-webkit-deflate-frame", 1, NULL, NOEXT, NULL },
	{ "a quoted comma does not split", D_DEFAULT,
	    "foo; bar=\"a, " PMD "; bogus\"", NULL, 1, NULL, NOEXT, NULL },
	{ "a quoted value", D_DEFAULT, PMD "; server_max_window_bits=\"10\"",
	    NULL, 1, PMD "; server_max_window_bits=10", { 1, 0, 0, 10, 15 },
	    NULL },
	{ "limits, no window offered", D_LIMIT, PMD, NULL, 1,
	    PMD "; server_max_window_bits=10", { 1, 0, 0, 10, 15 }, NULL },
	{ "limits, bare client window", D_LIMIT,
	    PMD "; client_max_window_bits", NULL, 1,
	    PMD "; server_max_window_bits=10; client_max_window_bits=11",
	    { 1, 0, 0, 10, 11 }, NULL },
	{ "limits against larger offers", D_LIMIT,
	    PMD "; server_max_window_bits=12; client_max_window_bits=13",
	    NULL, 1,
	    PMD "; server_max_window_bits=10; client_max_window_bits=11",
	    { 1, 0, 0, 10, 11 }, NULL },
	{ "limits against smaller offers", D_LIMIT,
	    PMD "; server_max_window_bits=9; client_max_window_bits=8",
	    NULL, 1,
	    PMD "; server_max_window_bits=9; client_max_window_bits=8",
	    { 1, 0, 0, 9, 8 }, NULL },
	{ "no context takeover added", D_NCT, PMD, NULL, 1,
	    PMD "; server_no_context_takeover; client_no_context_takeover",
	    { 1, 1, 1, 15, 15 }, NULL },
	{ "windows outside 8-15 in the options are ignored", D_RANGE,
	    PMD "; client_max_window_bits", NULL, 1,
	    PMD "; client_max_window_bits=15", AS_IS, NULL },
	{ "unknown parameter", D_DEFAULT, PMD "; foo", NULL, 0, NULL, NOEXT,
	    "Unknown permessage-deflate parameter \"foo\"" },
	{ "unknown parameter with a value", D_DEFAULT, PMD "; foo=1", NULL, 0,
	    NULL, NOEXT, "parameter \"foo\"" },
	{ "repeated parameter", D_DEFAULT,
	    PMD "; client_max_window_bits; client_max_window_bits=10", NULL,
	    0, NULL, NOEXT, "Repeated" },
	{ "a value on server_no_context_takeover", D_DEFAULT,
	    PMD "; server_no_context_takeover=true", NULL, 0, NULL, NOEXT,
	    "Unexpected value" },
	{ "a value on client_no_context_takeover", D_DEFAULT,
	    PMD "; client_no_context_takeover=1", NULL, 0, NULL, NOEXT,
	    "Unexpected value" },
	{ "server window without a value", D_DEFAULT,
	    PMD "; server_max_window_bits", NULL, 0, NULL, NOEXT,
	    "Missing value" },
	{ "server window not a number", D_DEFAULT,
	    PMD "; server_max_window_bits=x", NULL, 0, NULL, NOEXT,
	    "not a number" },
	{ "client window not a number", D_DEFAULT,
	    PMD "; client_max_window_bits=\"\"", NULL, 0, NULL, NOEXT,
	    "not a number" },
	{ "server window 7", D_DEFAULT, PMD "; server_max_window_bits=7",
	    NULL, 0, NULL, NOEXT, "not 8-15" },
	{ "client window 16", D_DEFAULT, PMD "; client_max_window_bits=16",
	    NULL, 0, NULL, NOEXT, "not 8-15" },
	{ "a bad second offer", D_DEFAULT, PMD, PMD "; foo", 0, NULL, NOEXT,
	    "Unknown" },
};

static void
test_server_deflate(void)
{
	const size_t n = sizeof(server_deflate_cases) /
	    sizeof(server_deflate_cases[0]);
	size_t i;

	for (i = 0; i < n; i++) {
		const struct server_deflate_case *c = &server_deflate_cases[i];
		const struct wsev_deflate_options *d = preset(c->opts);
		struct evhttp_request *req = deflate_request(c->ext1, c->ext2);
		struct evkeyvalq *out = evhttp_request_get_output_headers(req);
		struct wsev_extensions acc;
		struct wsev_error err;
		int before = tt_failed_checks, r;

		memset(&err, 0, sizeof(err));
		r = wsev_server_check_handshake_with_extensions(req, NULL, NULL,
		    d, &err);
		CHECK_INT(r, ==, c->ok);
		if (!c->ok)
			check_refusal(&err, c->msg);
		CHECK_INT(wsev_server_check_handshake_with_extensions(req, NULL,
		    NULL, d, NULL), ==, c->ok);
		/* Without the options, offers are none of our business. */
		CHECK_INT(wsev_server_check_handshake(req, NULL, NULL, &err),
		    ==, 1);

		/* A stale answer never survives. */
		evhttp_add_header(out, "Sec-WebSocket-Extensions", "x-stale");
		memset(&acc, 0x55, sizeof(acc));
		r = wsev_server_process_handshake_with_extensions(req, NULL,
		    NULL, d, &acc);
		CHECK_INT(r, ==, c->ok);
		CHECK(extensions_are(&acc, &c->want, d));
		if (r) {
			CHECK_INT(count_headers(out,
			    "Sec-WebSocket-Extensions"), ==, c->answer != NULL);
			if (c->answer)
				CHECK_STR(evhttp_find_header(out,
				    "Sec-WebSocket-Extensions"), c->answer);
			CHECK_STR(evhttp_find_header(out,
			    "Sec-WebSocket-Accept"), ACCEPT);
			evhttp_request_free(req);
		}	/* else the refusal freed it */
		report_case(c->name, before, r, &err, &acc);
	}
	/* accepted may be NULL; the plain helper answers no extension. */
	{
		struct evhttp_request *req = deflate_request(PMD, NULL);
		struct evkeyvalq *out = evhttp_request_get_output_headers(req);

		CHECK_INT(wsev_server_process_handshake_with_extensions(req,
		    NULL, NULL, preset(D_DEFAULT), NULL), ==, 1);
		CHECK_STR(evhttp_find_header(out, "Sec-WebSocket-Extensions"),
		    PMD);
		CHECK_INT(wsev_server_process_handshake(req, NULL, NULL), ==,
		    1);
		CHECK(evhttp_find_header(out, "Sec-WebSocket-Extensions") ==
		    NULL);
		evhttp_request_free(req);
	}
	/* A refusal for another reason zeroes *accepted too. */
	{
		struct evhttp_request *req = deflate_request(PMD, NULL);
		struct wsev_extensions acc;

		evhttp_remove_header(evhttp_request_get_input_headers(req),
		    "Host");
		memset(&acc, 0x55, sizeof(acc));
		CHECK_INT(wsev_server_process_handshake_with_extensions(req,
		    NULL, NULL, preset(D_DEFAULT), &acc), ==, 0);
		CHECK_INT(acc.deflate, ==, 0);
		CHECK_INT(acc.server_max_window_bits, ==, 0);
		memset(&acc, 0x55, sizeof(acc));
		CHECK_INT(wsev_server_process_handshake_with_extensions(NULL,
		    NULL, NULL, preset(D_DEFAULT), &acc), ==, 0);
		CHECK_INT(acc.deflate, ==, 0);
	}
}

static void
copy_headers(struct evkeyvalq *dst, const struct evkeyvalq *src)
{
	const struct evkeyval *kv;

	for (kv = src->tqh_first; kv; kv = kv->next.tqe_next)
		evhttp_add_header(dst, kv->key, kv->value);
}

/*
 * Client prepare -> server process -> client verify: both sides agree on
 * what is in use, and it is what the pair of options should give.
 */
static void
test_deflate_round_trip(void)
{
	static const struct {
		int client, server;
		struct pmd_want want;
	} t[] = {
		{ D_DEFAULT, D_DEFAULT, AS_IS },
		{ D_DEFAULT, D_OFF, NOEXT },
		{ D_DEFAULT, D_NULL, NOEXT },
		{ D_OFF, D_DEFAULT, NOEXT },
		{ D_NULL, D_LIMIT, NOEXT },
		{ D_ASK, D_DEFAULT, { 1, 1, 1, 10, 12 } },
		{ D_ASK, D_LIMIT, { 1, 1, 1, 10, 11 } },
		{ D_ASK, D_NCT, { 1, 1, 1, 10, 12 } },
		{ D_DEFAULT, D_LIMIT, { 1, 0, 0, 10, 11 } },
		{ D_DEFAULT, D_NCT, { 1, 1, 1, 15, 15 } },
		{ D_CNCT, D_DEFAULT, { 1, 0, 1, 15, 15 } },
		{ D_SMALL, D_LIMIT, { 1, 0, 0, 9, 9 } },
		{ D_RANGE, D_SMALL, { 1, 0, 0, 9, 9 } },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct wsev_deflate_options *cd = preset(t[i].client);
		const struct wsev_deflate_options *sd = preset(t[i].server);
		struct evhttp_request *creq = evhttp_request_new(NULL, NULL);
		struct evhttp_request *sreq = deflate_request(NULL, NULL);
		struct evkeyvalq *sin = evhttp_request_get_input_headers(sreq);
		struct wsev_extensions cacc, sacc;
		struct wsev_error err;
		int before = tt_failed_checks;

		wsev_client_prepare_handshake_with_extensions(creq, NULL, NULL,
		    cd);
		/* The server reads what the client wrote (and a Host). */
		evhttp_clear_headers(sin);
		evhttp_add_header(sin, "Host", "example.com");
		copy_headers(sin, evhttp_request_get_output_headers(creq));
		REQUIRE(wsev_server_process_handshake_with_extensions(sreq,
		    NULL, NULL, sd, &sacc) == 1);
		creq->response_code = 101;
		copy_headers(evhttp_request_get_input_headers(creq),
		    evhttp_request_get_output_headers(sreq));
		memset(&err, 0, sizeof(err));
		CHECK_INT(wsev_client_verify_handshake_with_extensions(creq, cd,
		    &cacc, &err), ==, 1);
		CHECK(extensions_are(&cacc, &t[i].want, cd));
		CHECK(extensions_are(&sacc, &t[i].want, sd));
		if (tt_failed_checks != before) {
			printf("  ... case %zu: %s\n", i, err.message);
			print_extensions("client", &cacc);
			print_extensions("server", &sacc);
		}
		evhttp_request_free(creq);
		evhttp_request_free(sreq);
	}
}

/* ------------------------------------------------------------------ */
/* Server helpers, through evhttp */

struct srv {
	struct event_base *base;
	struct evhttp *http;
	struct wsev_handler *h_strict, *h_any;
	int port;
	int upgrades;
	char uri[256], origin[128], protocol[64];
	int check_ok;		/* what wsev_server_check_handshake said */
	struct wsev_error check_err;
	struct wsev_extensions deflate_acc;	/* what /deflate accepted */
};

static void
on_server_closed(struct wsev_connection *conn, void *arg)
{
	(void)arg;
	wsev_connection_free(conn);
}

static void
on_upgrade(struct wsev_connection *conn, struct evhttp_request *req,
    void *arg)
{
	static const struct wsev_callbacks cbs = { .closed = on_server_closed };
	struct srv *s = arg;
	const struct evhttp_uri *u = wsev_connection_get_uri(conn);
	char *str = NULL, buf[256];

	(void)req;
	s->upgrades++;
	if (u)
		str = evhttp_uri_join((struct evhttp_uri *)u, buf, sizeof(buf));
	snprintf(s->uri, sizeof(s->uri), "%s", str ? str : "(null)");
	snprintf(s->origin, sizeof(s->origin), "%s",
	    wsev_connection_get_origin(conn) ? wsev_connection_get_origin(conn) :
	    "(null)");
	snprintf(s->protocol, sizeof(s->protocol), "%s",
	    wsev_connection_get_protocol(conn) ?
	    wsev_connection_get_protocol(conn) : "(null)");
	CHECK_INT(wsev_connection_get_state(conn), ==, WSEV_STATE_OPEN);
	wsev_connection_set_callbacks(conn, &cbs, NULL);
	wsev_connection_close(conn, 1000, NULL);
}

/* A route of the application's own: check_handshake, then upgrade. */
static void
on_manual(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	struct wsev_connection *conn;

	s->check_ok = wsev_server_check_handshake(req, NULL, NULL, &s->check_err);
	conn = wsev_server_upgrade(req, NULL, NULL, NULL);
	if (conn)
		on_upgrade(conn, req, s);
}

/*
 * A route of the application's own with permessage-deflate: a refusal goes
 * out as the helper sends it; an accepted handshake is answered 200 with
 * the 101's headers and a close, so that they can be read on the wire.
 */
static void
on_deflate(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	if (!wsev_server_process_handshake_with_extensions(req, NULL, NULL,
	    preset(D_DEFAULT), &s->deflate_acc))
		return;
	evhttp_remove_header(out, "Connection");
	evhttp_add_header(out, "Connection", "close");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static int
srv_start(struct srv *s)
{
	static const char *const protos[] = { "chat", "superchat", NULL };
	struct evhttp_bound_socket *b;
	struct sockaddr_in sin;
	ev_socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->base = event_base_new();
	s->http = evhttp_new(s->base);
	s->h_strict = wsev_server_add_handler(s->http, "/ws",
	    "http://good.example", protos, on_upgrade, s);
	s->h_any = wsev_server_add_handler(s->http, "/any", NULL, NULL,
	    on_upgrade, s);
	evhttp_set_cb(s->http, "/manual", on_manual, s);
	evhttp_set_cb(s->http, "/deflate", on_deflate, s);
	b = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	if (!s->h_strict || !s->h_any || !b)
		return -1;
	getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&sin, &len);
	s->port = ntohs(sin.sin_port);
	/* The same path twice is refused. */
	CHECK(wsev_server_add_handler(s->http, "/ws", NULL, NULL, on_upgrade,
	    s) == NULL);
	return 0;
}

static void
srv_stop(struct srv *s)
{
	wsev_server_remove_handler(s->h_strict);
	wsev_server_remove_handler(s->h_any);
	wsev_server_remove_handler(NULL);
	evhttp_free(s->http);
	event_base_free(s->base);
}

/* A raw client: write the request, collect everything until EOF. */
struct rawc {
	struct evbuffer *in;
	int eof;
	struct event_base *base;
};

static void
rawc_read(struct bufferevent *bev, void *arg)
{
	struct rawc *r = arg;

	evbuffer_add_buffer(r->in, bufferevent_get_input(bev));
}

static void
rawc_event(struct bufferevent *bev, short what, void *arg)
{
	struct rawc *r = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		r->eof = 1;
		event_base_loopbreak(r->base);
	}
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Send a request; return the response text (caller frees) and whether the
 * server closed the connection within the time. */
static char *
exchange(struct srv *s, const char *request, int *closed)
{
	struct sockaddr_in sin;
	struct bufferevent *bev;
	struct rawc r;
	struct event *deadline;
	struct timeval tv = { 2, 0 };
	char *text;
	size_t n;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)s->port);
	r.in = evbuffer_new();
	r.eof = 0;
	r.base = s->base;
	bev = bufferevent_socket_new(s->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, rawc_read, NULL, rawc_event, &r);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	bufferevent_socket_connect(bev, (struct sockaddr *)&sin, sizeof(sin));
	bufferevent_write(bev, request, strlen(request));
	deadline = evtimer_new(s->base, on_deadline, s->base);
	evtimer_add(deadline, &tv);
	/* Until the server closes, or (for a 101, which stays open) until
	 * the deadline or the close frame that on_upgrade sends. */
	while (!r.eof) {
		if (event_base_loop(s->base, EVLOOP_ONCE) < 0)
			break;
		if (!evtimer_pending(deadline, NULL))
			break;
		if (evbuffer_search(r.in, "\r\n\r\n", 4, NULL).pos >= 0 &&
		    !strncmp((char *)evbuffer_pullup(r.in, 12), "HTTP/1.1 101", 12) &&
		    evbuffer_get_length(r.in) > (size_t)evbuffer_search(r.in,
		    "\r\n\r\n", 4, NULL).pos + 4)
			break;	/* headers and the first frame are here */
	}
	event_free(deadline);
	*closed = r.eof;
	bufferevent_free(bev);
	n = evbuffer_get_length(r.in);
	text = malloc(n + 1);
	evbuffer_remove(r.in, text, n);
	text[n] = '\0';
	evbuffer_free(r.in);
	event_base_loop(s->base, EVLOOP_NONBLOCK);
	return text;
}

/* The value of a response header (first line match), or NULL. */
static const char *
resp_header(const char *text, const char *name, char *buf, size_t n)
{
	const char *p = strstr(text, "\r\n"), *end = strstr(text, "\r\n\r\n");
	size_t len = strlen(name);

	while (p && end && p < end) {
		p += 2;
		if (!evutil_ascii_strncasecmp(p, name, len) && p[len] == ':') {
			const char *v = p + len + 1, *e = strstr(v, "\r\n");
			while (*v == ' ')
				v++;
			snprintf(buf, n, "%.*s", (int)(e - v), v);
			return buf;
		}
		p = strstr(p, "\r\n");
	}
	return NULL;
}

#define BASE "Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
	"Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
#define GOOD_ORIGIN "Origin: http://good.example\r\n"

struct server_case {
	const char *name;
	const char *request;
	int status;
	const char *protocol;	/* expected Sec-WebSocket-Protocol, or NULL */
	int version_hint;	/* a "Sec-WebSocket-Version: 13" in a refusal */
};

static const struct server_case server_cases[] = {
	{ "good", "GET /ws HTTP/1.1\r\n" BASE GOOD_ORIGIN "\r\n", 101, NULL, 0 },
	{ "mixed-case names and values", "GET /ws HTTP/1.1\r\nhost: x\r\n"
	    "upgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n"
	    "sec-websocket-key: " KEY "\r\nsec-websocket-version: 13\r\n"
	    "origin: HTTP://GOOD.EXAMPLE\r\n\r\n", 101, NULL, 0 },
	{ "Connection repeated", "GET /ws HTTP/1.1\r\nHost: x\r\n"
	    "Upgrade: websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
	    GOOD_ORIGIN "\r\n", 101, NULL, 0 },
	{ "POST", "POST /ws HTTP/1.1\r\n" BASE GOOD_ORIGIN
	    "Content-Length: 0\r\n\r\n", 400, NULL, 0 },
	{ "HTTP/1.0", "GET /ws HTTP/1.0\r\n" BASE GOOD_ORIGIN "\r\n", 400, NULL, 0 },
	{ "no Upgrade", "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
	    GOOD_ORIGIN "\r\n", 400, NULL, 0 },
	{ "Upgrade h2c", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n" GOOD_ORIGIN "\r\n", 400, NULL, 0 },
	{ "no upgrade token", "GET /ws HTTP/1.1\r\nHost: x\r\n"
	    "Upgrade: websocket\r\nConnection: keep-alive\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
	    GOOD_ORIGIN "\r\n", 400, NULL, 0 },
	{ "version 8", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 8\r\n" GOOD_ORIGIN "\r\n", 400, NULL, 1 },
	{ "no version", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
	    GOOD_ORIGIN "\r\n", 400, NULL, 1 },
	{ "version 8 then 13: the last counts", "GET /ws HTTP/1.1\r\n" BASE
	    "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Version: 13\r\n"
	    GOOD_ORIGIN "\r\n", 101, NULL, 0 },
	{ "version 13 then 8: the last counts", "GET /ws HTTP/1.1\r\n" BASE
	    "Sec-WebSocket-Version: 8\r\n" GOOD_ORIGIN "\r\n", 400, NULL, 1 },
	{ "no key", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    GOOD_ORIGIN "\r\n", 400, NULL, 0 },
	{ "short key", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n" GOOD_ORIGIN "\r\n", 400, NULL, 0 },
	{ "key not base64", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q==\r\n"
	    "Sec-WebSocket-Version: 13\r\n" GOOD_ORIGIN "\r\n", 400, NULL, 0 },
	{ "key of 18 bytes", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA\r\n"
	    "Sec-WebSocket-Version: 13\r\n" GOOD_ORIGIN "\r\n", 400, NULL, 0 },
	{ "missing Host", "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n" GOOD_ORIGIN "\r\n", 400, NULL, 0 },
	{ "bad origin", "GET /ws HTTP/1.1\r\n" BASE
	    "Origin: http://evil.example\r\n\r\n", 403, NULL, 0 },
	{ "no origin", "GET /ws HTTP/1.1\r\n" BASE "\r\n", 403, NULL, 0 },
	{ "protocols: the server's order wins", "GET /ws HTTP/1.1\r\n" BASE
	    GOOD_ORIGIN "Sec-WebSocket-Protocol: superchat, chat\r\n\r\n", 101,
	    "chat", 0 },
	{ "protocols repeated are one list", "GET /ws HTTP/1.1\r\n" BASE
	    GOOD_ORIGIN "Sec-WebSocket-Protocol: foo\r\n"
	    "Sec-WebSocket-Protocol: superchat\r\n\r\n", 101, "superchat", 0 },
	{ "protocol case-sensitive", "GET /ws HTTP/1.1\r\n" BASE GOOD_ORIGIN
	    "Sec-WebSocket-Protocol: Chat\r\n\r\n", 400, NULL, 0 },
	{ "protocol not supported", "GET /ws HTTP/1.1\r\n" BASE GOOD_ORIGIN
	    "Sec-WebSocket-Protocol: other\r\n\r\n", 400, NULL, 0 },
	{ "protocol header empty", "GET /ws HTTP/1.1\r\n" BASE GOOD_ORIGIN
	    "Sec-WebSocket-Protocol: \r\n\r\n", 400, NULL, 0 },
	{ "no origin rule, any protocol: none chosen", "GET /any HTTP/1.1\r\n"
	    BASE "Sec-WebSocket-Protocol: foo\r\n\r\n", 101, NULL, 0 },
	{ "application route", "GET /manual HTTP/1.1\r\n" BASE "\r\n", 101,
	    NULL, 0 },
	{ "application route, refused", "GET /manual HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", 400, NULL, 0 },
};

static void
test_server_table(void)
{
	struct srv s;
	size_t i;

	REQUIRE(srv_start(&s) == 0);
	for (i = 0; i < sizeof(server_cases) / sizeof(server_cases[0]); i++) {
		const struct server_case *c = &server_cases[i];
		char buf[256];
		const char *v;
		int code = 0;
		int closed, before = tt_failed_checks, upgrades = s.upgrades;
		char *resp = exchange(&s, c->request, &closed);

		/* An HTTP/1.0 request is answered in HTTP/1.0. */
		CHECK(sscanf(resp, "HTTP/1.%*d %d ", &code) == 1);
		CHECK_INT(code, ==, c->status);
		v = resp_header(resp, "Sec-WebSocket-Protocol", buf, sizeof(buf));
		if (c->protocol)
			CHECK(v && !strcmp(v, c->protocol));
		else
			CHECK(v == NULL);
		if (c->status == 101) {
			CHECK_INT(s.upgrades, ==, upgrades + 1);
			v = resp_header(resp, "Sec-WebSocket-Accept", buf, sizeof(buf));
			CHECK(v && !strcmp(v, ACCEPT));
			v = resp_header(resp, "Upgrade", buf, sizeof(buf));
			CHECK(v && !evutil_ascii_strcasecmp(v, "websocket"));
			v = resp_header(resp, "Connection", buf, sizeof(buf));
			CHECK(v && !evutil_ascii_strcasecmp(v, "Upgrade"));
			CHECK_STR(s.protocol, c->protocol ? c->protocol : "(null)");
		} else {
			CHECK_INT(s.upgrades, ==, upgrades);
			v = resp_header(resp, "Connection", buf, sizeof(buf));
			CHECK(v && !strcmp(v, "close"));
			CHECK(closed);	/* the server closed after the refusal */
			CHECK(strstr(resp, "\r\n\r\n")[4] != '\0');	/* a body */
			v = resp_header(resp, "Sec-WebSocket-Version", buf,
			    sizeof(buf));
			if (c->version_hint)
				CHECK(v && !strcmp(v, "13"));
			else
				CHECK(v == NULL);
		}
		if (tt_failed_checks != before)
			printf("  ... case \"%s\":\n%s\n", c->name, resp);
		free(resp);
	}
	srv_stop(&s);
}

/* The connection a route hands over carries the request's facts. */
static void
test_server_connection_facts(void)
{
	struct srv s;
	int closed;
	char *resp;

	REQUIRE(srv_start(&s) == 0);
	resp = exchange(&s, "GET /ws?room=1 HTTP/1.1\r\nHost: example.org:8080\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
	    "Origin: http://good.example\r\nSec-WebSocket-Protocol: superchat\r\n"
	    "\r\n", &closed);
	CHECK(!strncmp(resp, "HTTP/1.1 101 ", 13));
	CHECK_STR(s.uri, "ws://example.org:8080/ws?room=1");
	CHECK_STR(s.origin, "http://good.example");
	CHECK_STR(s.protocol, "superchat");
	free(resp);
	/* check_handshake's verdict for an application route. */
	resp = exchange(&s, "GET /manual HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 8\r\n\r\n", &closed);
	CHECK_INT(s.check_ok, ==, 0);
	CHECK_INT(s.check_err.domain, ==, WSEV_DOMAIN_WEBSOCKET);
	CHECK_INT(s.check_err.code, ==, WSEV_ERROR_BAD_HANDSHAKE);
	free(resp);
	resp = exchange(&s, "GET /manual HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
	CHECK_INT(s.check_ok, ==, 0);
	CHECK_INT(s.check_err.code, ==, WSEV_ERROR_NOT_WEBSOCKET);
	free(resp);
	CHECK_INT(wsev_server_check_handshake(NULL, NULL, NULL, NULL), ==, 0);
	srv_stop(&s);
}

/* The answer and the refusal as evhttp puts them on the wire. */
static void
test_server_deflate_wire(void)
{
	struct srv s;
	char buf[256];
	const char *v;
	int closed, code = 0;
	char *resp;

	REQUIRE(srv_start(&s) == 0);
	resp = exchange(&s, "GET /deflate HTTP/1.1\r\n" BASE
	    "Sec-WebSocket-Extensions: permessage-deflate; "
	    "client_max_window_bits\r\n\r\n", &closed);
	CHECK(sscanf(resp, "HTTP/1.1 %d ", &code) == 1 && code == 200);
	v = resp_header(resp, "Sec-WebSocket-Extensions", buf, sizeof(buf));
	CHECK(v && !strcmp(v, "permessage-deflate; client_max_window_bits=15"));
	CHECK_INT(s.deflate_acc.deflate, ==, 1);
	CHECK_INT(s.deflate_acc.client_max_window_bits, ==, 15);
	free(resp);
	resp = exchange(&s, "GET /deflate HTTP/1.1\r\n" BASE
	    "Sec-WebSocket-Extensions: permessage-deflate; "
	    "server_max_window_bits=16\r\n\r\n", &closed);
	CHECK(sscanf(resp, "HTTP/1.1 %d ", &code) == 1 && code == 400);
	CHECK(closed);
	v = resp_header(resp, "Connection", buf, sizeof(buf));
	CHECK(v && !strcmp(v, "close"));
	CHECK(resp_header(resp, "Sec-WebSocket-Extensions", buf,
	    sizeof(buf)) == NULL);
	v = strstr(resp, "\r\n\r\n");
	CHECK(v && strstr(v, "server_max_window_bits") &&
	    strstr(v, "not 8-15"));
	CHECK_INT(s.deflate_acc.deflate, ==, 0);
	free(resp);
	srv_stop(&s);
}

static const struct tt_case cases[] = {
	{ "handshake/client-prepare", test_prepare },
	{ "handshake/client-verify", test_verify },
	{ "handshake/client-prepare-deflate", test_prepare_deflate },
	{ "handshake/client-verify-deflate", test_verify_deflate },
	{ "handshake/client-verify-deflate-other-failure",
	    test_verify_deflate_other_failure },
	{ "handshake/server-deflate", test_server_deflate },
	{ "handshake/deflate-round-trip", test_deflate_round_trip },
	{ "handshake/server-table", test_server_table },
	{ "handshake/server-connection-facts", test_server_connection_facts },
	{ "handshake/server-deflate-wire", test_server_deflate_wire },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return tt_run(cases, argc > 1 ? argv[1] : NULL);
}
