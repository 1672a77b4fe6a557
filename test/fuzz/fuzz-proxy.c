/*
 * Fuzz target: the proxy answers' parsers and the proxy URL and no_proxy
 * readers (lib/proxy.c), which read what a proxy or an environment says.
 *
 * Input: byte 0 selects, the rest is the subject, copied to a buffer of
 * its exact size (an over-read is an ASan report):
 *   0  the answer to CONNECT (wsev_proxy_connect_reply_)
 *   1  a SOCKS5 method reply, 2 a RFC 1929 auth reply, 3 a SOCKS5 CONNECT
 *      reply
 *   4  a proxy URL, up to the first NUL; after it a no_proxy list, up to
 *      the next NUL, then a host name matched against it
 * Properties: a parser never claims more bytes than it was given; it is
 * consistent over prefixes (a proper prefix of an answer it accepted is
 * partial, and once it refused a prefix it refuses every longer input);
 * a status is 100-599 and a reason a NUL-terminated string within its
 * buffer; a parsed URL has a host, a port in 1-65535 and NUL-terminated
 * fields, and the CONNECT request written for it fits and is one head.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "fuzz.h"
#include "proxy.h"

#include <string.h>

const char wsev_fuzz_target_name[] = "proxy";

static int
parse(int which, const unsigned char *p, size_t n, int *v)
{
	char reason[32];
	int r;

	switch (which) {
	case 0:
		memset(reason, 'x', sizeof(reason));
		r = wsev_proxy_connect_reply_((const char *)p, n, v, reason,
		    sizeof(reason));
		if (r > 0) {
			FUZZ_CHECK(*v >= 100 && *v <= 599);
			FUZZ_CHECK(memchr(reason, '\0', sizeof(reason)) != NULL);
		}
		return r;
	case 1:
		return wsev_socks5_method_reply_(p, n, v);
	case 2:
		return wsev_socks5_auth_reply_(p, n, v);
	default:
		r = wsev_socks5_connect_reply_(p, n, v);
		if (r > 0)
			FUZZ_CHECK(*v >= 0 && *v <= 255 && r >= 4);
		return r;
	}
}

static void
answers(int which, const unsigned char *p, size_t n)
{
	int v, r = parse(which, p, n, &v), rp;
	size_t i;

	FUZZ_CHECK(r == WSEV_PROXY_PARTIAL_ || r == -1 || (r > 0 &&
	    (size_t)r <= n));
	/* Prefixes: partial before an accepted answer, refused after a
	 * refused prefix (checked on a few lengths: the work stays linear). */
	for (i = 0; i < n && i < 64; i++) {
		rp = parse(which, p, i, &v);
		if (r > 0 && i < (size_t)r)
			FUZZ_CHECK(rp == WSEV_PROXY_PARTIAL_);
		if (rp == -1)
			FUZZ_CHECK(r == -1);
	}
	if (r > 0)
		FUZZ_CHECK(parse(which, p, (size_t)r, &v) == r);
}

static void
url_and_no_proxy(const char *s, size_t n)
{
	struct wsev_proxy_url_ u;
	struct wsev_error err;
	const char *list, *host;
	char req[2048];
	int r;

	if (wsev_proxy_url_parse_(s, &u, &err) == 0) {
		FUZZ_CHECK(u.host[0] != '\0');
		FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
		FUZZ_CHECK(memchr(u.user, '\0', sizeof(u.user)) &&
		    memchr(u.pass, '\0', sizeof(u.pass)));
		r = wsev_proxy_connect_request_(req, sizeof(req), &u,
		    "example.com", 443);
		FUZZ_CHECK(r > 0 && (size_t)r == strlen(req));
		FUZZ_CHECK(strstr(req, "\r\n\r\n") == req + r - 4);
	} else {
		FUZZ_CHECK(err.domain == WSEV_DOMAIN_PROXY);
	}
	list = s + strlen(s) + 1;
	if ((size_t)(list - s) >= n)
		return;
	host = list + strlen(list) + 1;
	if ((size_t)(host - s) >= n)
		return;
	r = wsev_proxy_no_proxy_match_(list, host, 443);
	FUZZ_CHECK(r == 0 || r == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy;
	int which;

	if (size < 1)
		return 0;
	which = data[0] % 5;
	size--;
	/* The text subjects end in a NUL of their own. */
	if (!(copy = malloc(size + (which == 4))))
		return 0;
	memcpy(copy, data + 1, size);
	if (which == 4) {
		copy[size] = '\0';
		url_and_no_proxy((const char *)copy, size + 1);
	} else {
		answers(which, copy, size);
	}
	free(copy);
	return 0;
}
