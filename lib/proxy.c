/*
 * Proxies: the URL, the environment, no_proxy, and the CONNECT and SOCKS5
 * messages (see proxy.h). Nothing here does I/O or allocates.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/util.h>

#include <openssl/evp.h>

#ifndef _WIN32
#include <netinet/in.h>
#include <sys/socket.h>
#endif

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into out (cap bytes, NUL-terminated); -1 for a
 * bad escape, a NUL byte or no room. */
static int
percent_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;
	int c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n || hexval(s[i + 1]) < 0 ||
			    hexval(s[i + 2]) < 0)
				return -1;
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
			if (c == 0)
				return -1;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int
bad_url(struct wsev_error *err, const char *why, const char *url)
{
	/* The URL may hold a password: only its scheme is repeated. */
	const char *sep = strstr(url, "://");
	int n = sep ? (int)(sep - url) : 0;

	if (n > 16)
		n = 16;
	wsev_error_set_(err, WSEV_DOMAIN_PROXY, WSEV_PROXY_ERROR_BAD_URL,
	    "bad proxy URL (%.*s://...): %s", n, url, why);
	return -1;
}

int
wsev_proxy_url_parse_(const char *url, struct wsev_proxy_url_ *p,
    struct wsev_error *err)
{
	static const struct {
		const char *scheme;
		enum wsev_proxy_kind_ kind;
		int port;
	} schemes[] = {
		{ "http://", WSEV_PROXY_KIND_HTTP_, 80 },
		{ "https://", WSEV_PROXY_KIND_HTTPS_, 443 },
		{ "socks5://", WSEV_PROXY_KIND_SOCKS5_, 1080 },
		{ "socks5h://", WSEV_PROXY_KIND_SOCKS5H_, 1080 },
	};
	const char *s = NULL, *end, *at, *colon, *h, *he;
	size_t i, n;
	char *ep;
	long port;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		n = strlen(schemes[i].scheme);
		if (!evutil_ascii_strncasecmp(url, schemes[i].scheme, n)) {
			s = url + n;
			p->kind = schemes[i].kind;
			p->port = schemes[i].port;
			break;
		}
	}
	if (!s)
		return bad_url(err, "not http, https, socks5 or socks5h", url);
	/* The authority ends at the first '/'; only "/" may follow. */
	end = s + strcspn(s, "/?#");
	if (*end && strcmp(end, "/"))
		return bad_url(err, "a path, query or fragment", url);
	at = NULL;
	for (h = s; h < end; h++)
		if (*h == '@')
			at = h;	/* the last '@': a password may hold one */
	if (at) {
		colon = memchr(s, ':', (size_t)(at - s));
		if (percent_decode(s, (size_t)((colon ? colon : at) - s),
		    p->user, sizeof(p->user)) < 0 || (colon &&
		    percent_decode(colon + 1, (size_t)(at - colon - 1),
		    p->pass, sizeof(p->pass)) < 0))
			return bad_url(err, "bad user or password", url);
		p->has_auth = 1;
		s = at + 1;
	}
	if (*s == '[') {
		he = memchr(s, ']', (size_t)(end - s));
		if (!he || he == s + 1)
			return bad_url(err, "bad IPv6 address", url);
		h = s + 1;
		s = he + 1;
		p->is_ip = 1;
	} else {
		h = s;
		he = s + strcspn(s, ":/?#");
		if (he > end)
			he = end;
		s = he;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= sizeof(p->host))
		return bad_url(err, "no host", url);
	memcpy(p->host, h, n);
	p->host[n] = '\0';
	if (s < end) {
		if (*s != ':' || s + 1 == end)
			return bad_url(err, "bad port", url);
		port = strtol(s + 1, &ep, 10);
		if (ep != end || port < 1 || port > 65535 || s[1] == '+' ||
		    s[1] == '-' || s[1] == ' ')
			return bad_url(err, "bad port", url);
		p->port = (int)port;
	}
	if (p->is_ip) {
		struct in6_addr a6;
		if (evutil_inet_pton(AF_INET6, p->host, &a6) != 1)
			return bad_url(err, "bad IPv6 address", url);
	} else {
		struct in_addr a4;
		if (strpbrk(p->host, " \t\r\n%@[]"))
			return bad_url(err, "bad host", url);
		p->is_ip = evutil_inet_pton(AF_INET, p->host, &a4) == 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- no_proxy */

/* host (an address literal) within entry's address or range: 1, 0, or -1
 * when entry is not an address. */
static int
ip_match(const char *entry, const char *host)
{
	unsigned char a[16], b[16];
	char addr[64];
	const char *slash = strchr(entry, '/');
	size_t n = slash ? (size_t)(slash - entry) : strlen(entry);
	int af, bits, max, i;
	char *ep;

	if (n >= sizeof(addr))
		return -1;
	memcpy(addr, entry, n);
	addr[n] = '\0';
	if (evutil_inet_pton(AF_INET, addr, a) == 1)
		af = AF_INET, max = 32;
	else if (evutil_inet_pton(AF_INET6, addr, a) == 1)
		af = AF_INET6, max = 128;
	else
		return -1;
	bits = max;
	if (slash) {
		long v = strtol(slash + 1, &ep, 10);
		if (*ep || ep == slash + 1 || v < 0 || v > max)
			return 0;
		bits = (int)v;
	}
	if (evutil_inet_pton(af, host, b) != 1)
		return 0;
	for (i = 0; i < bits / 8; i++)
		if (a[i] != b[i])
			return 0;
	if (bits % 8) {
		unsigned char m = (unsigned char)(0xFF << (8 - bits % 8));
		if ((a[i] & m) != (b[i] & m))
			return 0;
	}
	return 1;
}

/* One no_proxy entry (e[0..n), no blanks) against host:port. */
static int
entry_match(const char *e, size_t n, const char *host, int port)
{
	char buf[300];
	unsigned char a[16];
	const char *colon, *name = buf;
	size_t hl = strlen(host), nl;
	long eport = -1;
	char *ep;
	int r;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, e, n);
	buf[n] = '\0';
	if (!strcmp(buf, "*"))
		return 1;
	/* A port: "host:port" or "[v6]:port"; a bare IPv6 has colons too. */
	if (buf[0] == '[') {
		char *rb = strchr(buf, ']');
		if (!rb)
			return 0;
		*rb = '\0';
		name = buf + 1;
		if (rb[1] == ':')
			eport = strtol(rb + 2, &ep, 10);
		else if (rb[1])
			return 0;
	} else if ((colon = strrchr(buf, ':')) && colon == strchr(buf, ':')) {
		eport = strtol(colon + 1, &ep, 10);
		if (*ep || ep == colon + 1)
			return 0;
		buf[colon - buf] = '\0';
	}
	if (eport >= 0 && eport != port)
		return 0;
	if ((r = ip_match(name, host)) >= 0)
		return r;
	/* An address is never matched as a name's suffix. */
	if (evutil_inet_pton(AF_INET, host, a) == 1 ||
	    evutil_inet_pton(AF_INET6, host, a) == 1)
		return 0;
	while (*name == '.')
		name++;
	nl = strlen(name);
	while (nl > 0 && name[nl - 1] == '.')
		nl--;
	while (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (nl == 0 || nl > hl)
		return 0;
	if (evutil_ascii_strncasecmp(host + hl - nl, name, nl))
		return 0;
	return hl == nl || host[hl - nl - 1] == '.';
}

int
wsev_proxy_no_proxy_match_(const char *list, const char *host, int port)
{
	const char *s = list;
	size_t n;

	if (!list || !host)
		return 0;
	while (*s) {
		s += strspn(s, ", \t");
		n = strcspn(s, ", \t");
		if (n && entry_match(s, n, host, port))
			return 1;
		s += n;
	}
	return 0;
}

static const char *
env_get(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

const char *
wsev_proxy_from_env_(int tls, const char *host, int port)
{
	/* Lower case first, as curl; "HTTP_PROXY" is never read (httpoxy:
	 * CGI puts a request's Proxy header there). */
	static const char *const for_wss[] = { "wss_proxy", "WSS_PROXY",
		"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", NULL };
	static const char *const for_ws[] = { "ws_proxy", "WS_PROXY",
		"http_proxy", "all_proxy", "ALL_PROXY", NULL };
	const char *const *names = tls ? for_wss : for_ws;
	const char *v = NULL, *np;
	int i;

	for (i = 0; names[i] && !v; i++)
		v = env_get(names[i]);
	if (!v)
		return NULL;
	np = env_get("no_proxy");
	if (!np)
		np = env_get("NO_PROXY");
	if (np && wsev_proxy_no_proxy_match_(np, host, port))
		return NULL;
	return v;
}

/* ---------------------------------------------------------------- HTTP CONNECT */

int
wsev_proxy_connect_request_(char *buf, size_t cap,
    const struct wsev_proxy_url_ *p, const char *host, int port)
{
	char authority[300], cred[sizeof(p->user) + sizeof(p->pass) + 1];
	char b64[sizeof(cred) / 3 * 4 + 8];
	int n, v6 = strchr(host, ':') != NULL;

	n = snprintf(authority, sizeof(authority), "%s%s%s:%d", v6 ? "[" : "",
	    host, v6 ? "]" : "", port);
	if (n < 0 || (size_t)n >= sizeof(authority))
		return -1;
	/* RFC 9110 §9.3.6: the request target is the authority, and Host
	 * names it too. */
	if (p->has_auth) {
		n = snprintf(cred, sizeof(cred), "%s:%s", p->user, p->pass);
		if (n < 0 || (size_t)n >= sizeof(cred))
			return -1;
		EVP_EncodeBlock((unsigned char *)b64,
		    (const unsigned char *)cred, n);
		n = snprintf(buf, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n"
		    "Proxy-Authorization: Basic %s\r\n\r\n", authority,
		    authority, b64);
	} else {
		n = snprintf(buf, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n",
		    authority, authority);
	}
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int
wsev_proxy_connect_reply_(const char *buf, size_t len, int *status,
    char *reason, size_t rcap)
{
	static const char proto[] = "HTTP/1.";
	size_t i, line_end = 0, head_end = 0, r0, rn;
	int code;

	/* Garbage is refused as soon as it shows, not after 16 KiB. */
	for (i = 0; i < len && i < sizeof(proto) - 1; i++)
		if (buf[i] != proto[i])
			return -1;
	for (i = 0; i < len; i++) {
		if (buf[i] == '\0')
			return -1;
		if (buf[i] != '\n')
			continue;
		if (!line_end)
			line_end = i;
		/* The blank line: LF LF or LF CR LF. */
		if (i + 1 < len && buf[i + 1] == '\n') {
			head_end = i + 2;
			break;
		}
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
			head_end = i + 3;
			break;
		}
	}
	if (!head_end)
		return WSEV_PROXY_PARTIAL_;
	if (line_end > 0 && buf[line_end - 1] == '\r')
		line_end--;
	/* "HTTP/1.x SSS reason" */
	if (line_end < 12 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
	    buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
	    buf[11] < '0' || buf[11] > '9' || (line_end > 12 && buf[12] != ' '))
		return -1;
	code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	r0 = line_end > 12 ? 13 : 12;
	rn = line_end - r0;
	if (rcap) {
		if (rn >= rcap)
			rn = rcap - 1;
		memcpy(reason, buf + r0, rn);
		reason[rn] = '\0';
	}
	*status = code;
	return (int)head_end;
}

/* ---------------------------------------------------------------- SOCKS5 */

int
wsev_socks5_greeting_(unsigned char buf[4], int with_auth)
{
	buf[0] = 5;		/* RFC 1928 §3: VER, NMETHODS, METHODS */
	buf[1] = with_auth ? 2 : 1;
	buf[2] = 0;		/* no authentication */
	buf[3] = 2;		/* username/password */
	return with_auth ? 4 : 3;
}

/* The two-byte answers: a version, then a value. */
static int
version_and_byte(const unsigned char *buf, size_t len, int version, int *v)
{
	if (len >= 1 && buf[0] != version)
		return -1;
	if (len < 2)
		return WSEV_PROXY_PARTIAL_;
	*v = buf[1];
	return 2;
}

int
wsev_socks5_method_reply_(const unsigned char *buf, size_t len, int *method)
{
	return version_and_byte(buf, len, 5, method);	/* RFC 1928 §3 */
}

int
wsev_socks5_auth_request_(unsigned char *buf, size_t cap, const char *user,
    const char *pass)
{
	size_t ul = strlen(user), pl = strlen(pass);

	if (ul > 255 || pl > 255 || 3 + ul + pl > cap)
		return -1;
	buf[0] = 1;		/* RFC 1929 §2: the sub-negotiation's version */
	buf[1] = (unsigned char)ul;
	memcpy(buf + 2, user, ul);
	buf[2 + ul] = (unsigned char)pl;
	memcpy(buf + 3 + ul, pass, pl);
	return (int)(3 + ul + pl);
}

int
wsev_socks5_auth_reply_(const unsigned char *buf, size_t len, int *status)
{
	return version_and_byte(buf, len, 1, status);	/* RFC 1929 §2 */
}

int
wsev_socks5_connect_request_(unsigned char *buf, size_t cap,
    const char *name, int af, const void *addr, int port)
{
	size_t n, alen;

	if (cap < 4 || port < 0 || port > 65535)
		return -1;
	buf[0] = 5;		/* VER, CMD CONNECT, RSV, ATYP, DST.ADDR, DST.PORT */
	buf[1] = 1;
	buf[2] = 0;
	if (name) {
		alen = strlen(name);
		if (alen == 0 || alen > 255 || 5 + alen + 2 > cap)
			return -1;
		buf[3] = 3;
		buf[4] = (unsigned char)alen;
		memcpy(buf + 5, name, alen);
		n = 5 + alen;
	} else {
		alen = af == AF_INET ? 4 : af == AF_INET6 ? 16 : 0;
		if (!alen || 4 + alen + 2 > cap)
			return -1;
		buf[3] = af == AF_INET ? 1 : 4;
		memcpy(buf + 4, addr, alen);
		n = 4 + alen;
	}
	buf[n] = (unsigned char)(port >> 8);
	buf[n + 1] = (unsigned char)(port & 0xFF);
	return (int)(n + 2);
}

int
wsev_socks5_connect_reply_(const unsigned char *buf, size_t len, int *rep)
{
	size_t need;

	/* VER REP RSV ATYP BND.ADDR BND.PORT */
	if ((len >= 1 && buf[0] != 5) || (len >= 3 && buf[2] != 0))
		return -1;
	if (len < 4)
		return WSEV_PROXY_PARTIAL_;
	switch (buf[3]) {
	case 1:
		need = 4 + 4 + 2;
		break;
	case 4:
		need = 4 + 16 + 2;
		break;
	case 3:
		if (len < 5)
			return WSEV_PROXY_PARTIAL_;
		need = 4 + 1 + (size_t)buf[4] + 2;
		break;
	case 0:
		/* A refusal may come without an address: its code counts. */
		if (buf[1] != 0) {
			*rep = buf[1];
			return 4;
		}
		return -1;
	default:
		return -1;
	}
	if (len < need)
		return WSEV_PROXY_PARTIAL_;
	*rep = buf[1];
	return (int)need;
}

const char *
wsev_socks5_reply_string_(int rep)
{
	static const char *const names[] = {
		"succeeded", "general SOCKS server failure",
		"connection not allowed by ruleset", "network unreachable",
		"host unreachable", "connection refused", "TTL expired",
		"command not supported", "address type not supported",
	};

	if (rep >= 0 && rep < (int)(sizeof(names) / sizeof(names[0])))
		return names[rep];
	return "unassigned reply code";
}
