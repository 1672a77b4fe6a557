/*
 * Proxies for wsev_connect (private): the proxy URL, the environment as
 * curl reads it, no_proxy matching, and the HTTP CONNECT and SOCKS5
 * messages. No libevent I/O here: writers fill a caller's buffer, parsers
 * read bytes and return, as picohttpparser does, the length they used,
 * WSEV_PROXY_PARTIAL_ (more bytes needed) or -1 (malformed). client.c
 * drives the exchange; test/fuzz/fuzz-proxy.c feeds the parsers.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_PROXY_H
#define WSEV_PROXY_H

#include <stddef.h>

#include "wsev/wsev.h"

#define WSEV_PROXY_PARTIAL_ (-2)
/* A CONNECT answer's head (status line and headers) longer than this is
 * refused: a proxy cannot make the client hold more. */
#define WSEV_PROXY_MAX_REPLY_ 16384

enum wsev_proxy_kind_ {
	WSEV_PROXY_KIND_HTTP_ = 1,	/* http://: CONNECT */
	WSEV_PROXY_KIND_HTTPS_,		/* https://: TLS to the proxy, CONNECT */
	WSEV_PROXY_KIND_SOCKS5_,	/* socks5://: the name resolved here */
	WSEV_PROXY_KIND_SOCKS5H_	/* socks5h://: resolved by the proxy */
};

struct wsev_proxy_url_ {
	enum wsev_proxy_kind_ kind;
	int port;
	int is_ip;		/* an address literal: no lookup, no SNI */
	int has_auth;		/* user (and pass) given, percent-decoded */
	char host[256];		/* without an IPv6 literal's brackets */
	char user[256];
	char pass[256];
};

/* http://, https://, socks5:// or socks5h://[user[:pass]@]host[:port][/].
 * Default ports: 80 (http), 443 (https), 1080 (socks5). Returns 0, or -1
 * with *err set (WSEV_DOMAIN_PROXY, WSEV_PROXY_ERROR_BAD_URL). */
int wsev_proxy_url_parse_(const char *url, struct wsev_proxy_url_ *p,
    struct wsev_error *err);

/* Whether the no_proxy list @p list exempts host:port (curl's rules: "*",
 * comma- or space-separated names matched as the host or a suffix on a
 * dot boundary, a leading dot ignored; IP addresses, with /bits for a
 * range; an entry's ":port" restricts it to that port). 1 or 0. */
int wsev_proxy_no_proxy_match_(const char *list, const char *host, int port);

/* The proxy the environment gives for a ws:// (tls 0) or wss:// URL to
 * host:port, or NULL: wss_proxy, https_proxy / ws_proxy, http_proxy, then
 * all_proxy, each lower-case first, then upper-case (except HTTP_PROXY,
 * which CGI sets from a request header: curl ignores it too); NULL when
 * no_proxy / NO_PROXY exempts the host. */
const char *wsev_proxy_from_env_(int tls, const char *host, int port);

/* CONNECT host:port (an IPv6 literal in brackets) with Host and, when the
 * URL has a user, Basic Proxy-Authorization. Returns the length written
 * (NUL-terminated), or -1 if it does not fit in @p cap. */
int wsev_proxy_connect_request_(char *buf, size_t cap,
    const struct wsev_proxy_url_ *p, const char *host, int port);

/* The answer to CONNECT: a status line and headers up to the blank line
 * (CR LF; a bare LF is accepted). Returns the head's length with the blank
 * line, WSEV_PROXY_PARTIAL_, or -1 for what is not HTTP/1.x. *status and
 * reason (NUL-terminated, cut to @p rcap) are set on success. */
int wsev_proxy_connect_reply_(const char *buf, size_t len, int *status,
    char *reason, size_t rcap);

/* SOCKS5 (RFC 1928 §3): the greeting, offering no authentication and,
 * with credentials, username/password (RFC 1929). Returns its length. */
int wsev_socks5_greeting_(unsigned char buf[4], int with_auth);
/* The method chosen: 2 and *method, PARTIAL, or -1 (version not 5). */
int wsev_socks5_method_reply_(const unsigned char *buf, size_t len,
    int *method);
/* RFC 1929 §2: the username/password request; -1 if a field is over 255
 * bytes or does not fit. */
int wsev_socks5_auth_request_(unsigned char *buf, size_t cap,
    const char *user, const char *pass);
/* RFC 1929: 2 and *status (0 = success), PARTIAL, or -1 (version not 1). */
int wsev_socks5_auth_reply_(const unsigned char *buf, size_t len,
    int *status);
/* RFC 1928 §4: CONNECT to a domain name (atyp 3), or to an address of
 * family @p af (AF_INET, AF_INET6) in @p addr (network order) when
 * @p name is NULL. Returns its length, or -1. */
int wsev_socks5_connect_request_(unsigned char *buf, size_t cap,
    const char *name, int af, const void *addr, int port);
/* RFC 1928 §6: the reply's whole length and *rep, PARTIAL, or -1 (version
 * not 5, a reserved byte not 0, an unknown address type). */
int wsev_socks5_connect_reply_(const unsigned char *buf, size_t len,
    int *rep);
/* The RFC 1928 name of reply code @p rep ("connection refused"). */
const char *wsev_socks5_reply_string_(int rep);

#endif /* WSEV_PROXY_H */
