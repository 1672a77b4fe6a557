/*
 * The proxy machinery's pure parts (lib/proxy.c): the proxy URL, no_proxy
 * matching, the environment, the CONNECT request and the parsing of its
 * answer, the SOCKS5 messages. The exchanges with real and hostile proxies
 * are test/proxy/test-proxy.sh's.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "tt.h"
#include "proxy.h"

#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

static void
test_url(void)
{
	struct wsev_proxy_url_ p;
	struct wsev_error err;

	REQUIRE(wsev_proxy_url_parse_("http://proxy.example:3128", &p, &err) == 0);
	CHECK_INT(p.kind, ==, WSEV_PROXY_KIND_HTTP_);
	CHECK_STR(p.host, "proxy.example");
	CHECK_INT(p.port, ==, 3128);
	CHECK_INT(p.has_auth, ==, 0);
	CHECK_INT(p.is_ip, ==, 0);
	/* Default ports; a trailing slash; the scheme in any case. */
	REQUIRE(wsev_proxy_url_parse_("HTTPS://127.0.0.1/", &p, &err) == 0);
	CHECK_INT(p.kind, ==, WSEV_PROXY_KIND_HTTPS_);
	CHECK_INT(p.port, ==, 443);
	CHECK_INT(p.is_ip, ==, 1);
	REQUIRE(wsev_proxy_url_parse_("socks5h://[::1]", &p, &err) == 0);
	CHECK_INT(p.kind, ==, WSEV_PROXY_KIND_SOCKS5H_);
	CHECK_STR(p.host, "::1");
	CHECK_INT(p.port, ==, 1080);
	CHECK_INT(p.is_ip, ==, 1);
	/* Userinfo, percent-decoded; the last '@' ends it. */
	REQUIRE(wsev_proxy_url_parse_("socks5://al%69ce:p%40ss:w@rd@h:1", &p,
	    &err) == 0);
	CHECK_INT(p.has_auth, ==, 1);
	CHECK_STR(p.user, "alice");
	CHECK_STR(p.pass, "p@ss:w@rd");
	CHECK_STR(p.host, "h");
	REQUIRE(wsev_proxy_url_parse_("http://u@h", &p, &err) == 0);
	CHECK_STR(p.user, "u");
	CHECK_STR(p.pass, "");
	/* Refused, with the password kept out of the message. */
	CHECK_INT(wsev_proxy_url_parse_("ftp://h:1", &p, &err), ==, -1);
	CHECK_INT(err.domain, ==, WSEV_DOMAIN_PROXY);
	CHECK_INT(err.code, ==, WSEV_PROXY_ERROR_BAD_URL);
	CHECK_INT(wsev_proxy_url_parse_("http://u:secret@h:0", &p, &err), ==, -1);
	CHECK(strstr(err.message, "secret") == NULL);
	CHECK_INT(wsev_proxy_url_parse_("http://h:65536", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://h:-1", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://h:", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://h/path", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://[::1", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://[zz]:1", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://u:%zz@h", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://u:%00@h", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://u:%4@h", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("http://h h:1", &p, &err), ==, -1);
	CHECK_INT(wsev_proxy_url_parse_("proxy:3128", &p, &err), ==, -1);
}

static void
test_no_proxy(void)
{
	CHECK(wsev_proxy_no_proxy_match_("*", "anything", 80));
	CHECK(wsev_proxy_no_proxy_match_("example.com", "example.com", 80));
	CHECK(wsev_proxy_no_proxy_match_("example.com", "www.EXAMPLE.com", 80));
	CHECK(wsev_proxy_no_proxy_match_(".example.com", "a.b.example.com", 80));
	CHECK(wsev_proxy_no_proxy_match_(".example.com", "example.com", 80));
	CHECK(wsev_proxy_no_proxy_match_("example.com.", "example.com", 80));
	CHECK(!wsev_proxy_no_proxy_match_("example.com", "badexample.com", 80));
	CHECK(!wsev_proxy_no_proxy_match_("example.com", "example.org", 80));
	CHECK(!wsev_proxy_no_proxy_match_("www.example.com", "example.com", 80));
	/* Lists: commas and blanks; "*" only on its own. */
	CHECK(wsev_proxy_no_proxy_match_("a.test, b.test ,c.test", "x.c.test", 1));
	CHECK(wsev_proxy_no_proxy_match_(" a.test  b.test", "b.test", 1));
	CHECK(!wsev_proxy_no_proxy_match_("a.test,,", "b.test", 1));
	CHECK(!wsev_proxy_no_proxy_match_("*.test", "b.test", 1));
	CHECK(!wsev_proxy_no_proxy_match_("", "b.test", 1));
	/* Ports. */
	CHECK(wsev_proxy_no_proxy_match_("example.com:8080", "example.com", 8080));
	CHECK(!wsev_proxy_no_proxy_match_("example.com:8080", "example.com", 443));
	CHECK(wsev_proxy_no_proxy_match_("127.0.0.1:9", "127.0.0.1", 9));
	CHECK(!wsev_proxy_no_proxy_match_("127.0.0.1:9", "127.0.0.1", 10));
	CHECK(wsev_proxy_no_proxy_match_("[::1]:9", "::1", 9));
	CHECK(!wsev_proxy_no_proxy_match_("[::1]:9", "::1", 8));
	/* Addresses and ranges, never as suffixes. */
	CHECK(wsev_proxy_no_proxy_match_("127.0.0.1", "127.0.0.1", 80));
	CHECK(!wsev_proxy_no_proxy_match_("0.0.1", "127.0.0.1", 80));
	CHECK(!wsev_proxy_no_proxy_match_("127.0.0.1", "127.0.0.2", 80));
	CHECK(wsev_proxy_no_proxy_match_("10.0.0.0/8", "10.20.30.40", 80));
	CHECK(!wsev_proxy_no_proxy_match_("10.0.0.0/8", "11.0.0.1", 80));
	CHECK(wsev_proxy_no_proxy_match_("192.168.4.0/22", "192.168.7.255", 80));
	CHECK(!wsev_proxy_no_proxy_match_("192.168.4.0/22", "192.168.8.0", 80));
	CHECK(!wsev_proxy_no_proxy_match_("10.0.0.0/33", "10.0.0.1", 80));
	CHECK(!wsev_proxy_no_proxy_match_("10.0.0.0/8", "ten.example", 80));
	CHECK(wsev_proxy_no_proxy_match_("::1", "::1", 80));
	CHECK(wsev_proxy_no_proxy_match_("fd00::/8", "fd12::34", 80));
	CHECK(!wsev_proxy_no_proxy_match_("fd00::/8", "fe80::1", 80));
	CHECK(!wsev_proxy_no_proxy_match_(NULL, "h", 80));
}

static void
test_env(void)
{
	unsetenv("wss_proxy");
	unsetenv("WSS_PROXY");
	unsetenv("ws_proxy");
	unsetenv("WS_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("http_proxy");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	setenv("HTTP_PROXY", "http://cgi:1", 1);
	CHECK(wsev_proxy_from_env_(0, "h", 80) == NULL);	/* httpoxy */
	setenv("ALL_PROXY", "socks5h://all:1", 1);
	CHECK_STR(wsev_proxy_from_env_(0, "h", 80), "socks5h://all:1");
	setenv("http_proxy", "http://plain:1", 1);
	setenv("HTTPS_PROXY", "http://secure:1", 1);
	CHECK_STR(wsev_proxy_from_env_(0, "h", 80), "http://plain:1");
	CHECK_STR(wsev_proxy_from_env_(1, "h", 443), "http://secure:1");
	setenv("wss_proxy", "http://wss:1", 1);
	setenv("ws_proxy", "", 1);	/* empty: unset */
	CHECK_STR(wsev_proxy_from_env_(1, "h", 443), "http://wss:1");
	CHECK_STR(wsev_proxy_from_env_(0, "h", 80), "http://plain:1");
	setenv("NO_PROXY", "h", 1);
	CHECK(wsev_proxy_from_env_(1, "h", 443) == NULL);
	CHECK(wsev_proxy_from_env_(1, "other", 443) != NULL);
	setenv("no_proxy", "other", 1);	/* lower case wins */
	CHECK(wsev_proxy_from_env_(1, "h", 443) != NULL);
	CHECK(wsev_proxy_from_env_(1, "other", 443) == NULL);
	unsetenv("wss_proxy");
	unsetenv("ws_proxy");
	unsetenv("http_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");
	unsetenv("NO_PROXY");
	unsetenv("no_proxy");
}

static void
test_connect_request(void)
{
	struct wsev_proxy_url_ p;
	struct wsev_error err;
	char buf[1024];
	int n;

	REQUIRE(wsev_proxy_url_parse_("http://h:1", &p, &err) == 0);
	n = wsev_proxy_connect_request_(buf, sizeof(buf), &p, "example.com", 443);
	CHECK_STR(buf, "CONNECT example.com:443 HTTP/1.1\r\n"
	    "Host: example.com:443\r\n\r\n");
	CHECK_INT(n, ==, (int)strlen(buf));
	n = wsev_proxy_connect_request_(buf, sizeof(buf), &p, "::1", 80);
	CHECK_STR(buf, "CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n");
	/* RFC 7617: base64 of user ":" password, decoded from the URL. */
	REQUIRE(wsev_proxy_url_parse_("http://Aladdin:open%20sesame@h:1", &p,
	    &err) == 0);
	wsev_proxy_connect_request_(buf, sizeof(buf), &p, "e", 1);
	CHECK(strstr(buf, "\r\nProxy-Authorization: Basic "
	    "QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n") != NULL);
	REQUIRE(wsev_proxy_url_parse_("http://ab:c@h:1", &p, &err) == 0);
	wsev_proxy_connect_request_(buf, sizeof(buf), &p, "e", 1);
	CHECK(strstr(buf, "Basic YWI6Yw==\r\n") != NULL);
	REQUIRE(wsev_proxy_url_parse_("http://a:bc@h:1", &p, &err) == 0);
	wsev_proxy_connect_request_(buf, sizeof(buf), &p, "e", 1);
	CHECK(strstr(buf, "Basic YTpiYw==\r\n") != NULL);
	CHECK_INT(wsev_proxy_connect_request_(buf, 20, &p, "e", 1), ==, -1);
}

static void
test_connect_reply(void)
{
	char reason[16];
	int status = 0;
	const char *ok = "HTTP/1.1 200 Connection established\r\n"
	    "Via: x\r\n\r\nrest";
	const char *big = "HTTP/1.0 407 Proxy Authentication Required\r\n\r\n";
	size_t i;

	CHECK_INT(wsev_proxy_connect_reply_(ok, strlen(ok), &status, reason,
	    sizeof(reason)), ==, (int)strlen(ok) - 4);
	CHECK_INT(status, ==, 200);
	CHECK_STR(reason, "Connection esta");	/* cut to fit */
	/* Every prefix is partial, never an error or a read past it. */
	for (i = 0; i < strlen(ok) - 4; i++)
		CHECK_INT(wsev_proxy_connect_reply_(ok, i, &status, reason,
		    sizeof(reason)), ==, WSEV_PROXY_PARTIAL_);
	CHECK_INT(wsev_proxy_connect_reply_(big, strlen(big), &status, reason,
	    sizeof(reason)), ==, (int)strlen(big));
	CHECK_INT(status, ==, 407);
	CHECK_INT(wsev_proxy_connect_reply_("HTTP/1.1 200\n\n", 14, &status,
	    reason, sizeof(reason)), ==, 14);
	CHECK_STR(reason, "");
	/* Garbage is refused from its first bytes. */
	CHECK_INT(wsev_proxy_connect_reply_("SSH-", 4, &status, reason,
	    sizeof(reason)), ==, -1);
	CHECK_INT(wsev_proxy_connect_reply_("HTTP/2 200\r\n\r\n", 14, &status,
	    reason, sizeof(reason)), ==, -1);
	CHECK_INT(wsev_proxy_connect_reply_("HTTP/1.1 2000 x\r\n\r\n", 19,
	    &status, reason, sizeof(reason)), ==, -1);
	CHECK_INT(wsev_proxy_connect_reply_("HTTP/1.1 099 x\r\n\r\n", 18,
	    &status, reason, sizeof(reason)), ==, -1);
	CHECK_INT(wsev_proxy_connect_reply_("HTTP/1.1 20x\r\n\r\n", 16,
	    &status, reason, sizeof(reason)), ==, -1);
	CHECK_INT(wsev_proxy_connect_reply_("HTTP/1.1 200 x\0\r\n\r\n", 19,
	    &status, reason, sizeof(reason)), ==, -1);
}

static void
test_socks5(void)
{
	unsigned char b[600];
	unsigned char v4[4] = { 127, 0, 0, 1 }, v6[16] = { 0 };
	char longname[300];
	int v = -1;

	CHECK_INT(wsev_socks5_greeting_(b, 0), ==, 3);
	CHECK(!memcmp(b, "\x05\x01\x00", 3));
	CHECK_INT(wsev_socks5_greeting_(b, 1), ==, 4);
	CHECK(!memcmp(b, "\x05\x02\x00\x02", 4));
	CHECK_INT(wsev_socks5_method_reply_((const unsigned char *)"\x05", 1,
	    &v), ==, WSEV_PROXY_PARTIAL_);
	CHECK_INT(wsev_socks5_method_reply_((const unsigned char *)"\x05\x02",
	    2, &v), ==, 2);
	CHECK_INT(v, ==, 2);
	CHECK_INT(wsev_socks5_method_reply_((const unsigned char *)"\x04", 1,
	    &v), ==, -1);
	CHECK_INT(wsev_socks5_auth_request_(b, sizeof(b), "al", "pw"), ==, 7);
	CHECK(!memcmp(b, "\x01\x02" "al" "\x02" "pw", 7));
	memset(longname, 'n', sizeof(longname));
	longname[256] = '\0';
	CHECK_INT(wsev_socks5_auth_request_(b, sizeof(b), longname, ""), ==, -1);
	CHECK_INT(wsev_socks5_auth_reply_((const unsigned char *)"\x01\x00", 2,
	    &v), ==, 2);
	CHECK_INT(v, ==, 0);
	CHECK_INT(wsev_socks5_auth_reply_((const unsigned char *)"\x05\x00", 2,
	    &v), ==, -1);
	CHECK_INT(wsev_socks5_connect_request_(b, sizeof(b), "ex.com", 0, NULL,
	    443), ==, 13);
	CHECK(!memcmp(b, "\x05\x01\x00\x03\x06" "ex.com" "\x01\xbb", 13));
	CHECK_INT(wsev_socks5_connect_request_(b, sizeof(b), NULL, AF_INET, v4,
	    80), ==, 10);
	CHECK(!memcmp(b, "\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50", 10));
	CHECK_INT(wsev_socks5_connect_request_(b, sizeof(b), NULL, AF_INET6, v6,
	    80), ==, 22);
	CHECK_INT(b[3], ==, 4);
	CHECK_INT(wsev_socks5_connect_request_(b, sizeof(b), longname, 0, NULL,
	    80), ==, -1);
	/* Replies: every address type, partial until whole. */
	CHECK_INT(wsev_socks5_connect_reply_((const unsigned char *)
	    "\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50", 10, &v), ==, 10);
	CHECK_INT(v, ==, 0);
	CHECK_INT(wsev_socks5_connect_reply_((const unsigned char *)
	    "\x05\x00\x00\x01\x7f\x00\x00\x01\x00", 9, &v), ==,
	    WSEV_PROXY_PARTIAL_);
	CHECK_INT(wsev_socks5_connect_reply_((const unsigned char *)
	    "\x05\x05\x00\x03\x01x\x00\x50", 8, &v), ==, 8);
	CHECK_INT(v, ==, 5);
	CHECK_INT(wsev_socks5_connect_reply_((const unsigned char *)
	    "\x05\x04\x00\x00", 4, &v), ==, 4);
	CHECK_INT(v, ==, 4);
	CHECK_INT(wsev_socks5_connect_reply_((const unsigned char *)"\x04", 1,
	    &v), ==, -1);
	CHECK_INT(wsev_socks5_connect_reply_((const unsigned char *)
	    "\x05\x00\x01", 3, &v), ==, -1);
	CHECK_INT(wsev_socks5_connect_reply_((const unsigned char *)
	    "\x05\x00\x00\x09\x00", 5, &v), ==, -1);
	CHECK_STR(wsev_socks5_reply_string_(5), "connection refused");
	CHECK_STR(wsev_socks5_reply_string_(8), "address type not supported");
	CHECK_STR(wsev_socks5_reply_string_(9), "unassigned reply code");
}

static const struct tt_case cases[] = {
	{ "proxy/url", test_url },
	{ "proxy/no-proxy", test_no_proxy },
	{ "proxy/env", test_env },
	{ "proxy/connect-request", test_connect_request },
	{ "proxy/connect-reply", test_connect_reply },
	{ "proxy/socks5", test_socks5 },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return tt_run(cases, argc > 1 ? argv[1] : NULL);
}
