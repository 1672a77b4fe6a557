/*
 * client-probe: wsev_connect() against a real echo server, checking what
 * wsev-cat does not show: the negotiated subprotocol, the origin and URI of
 * the connection, the error domain and code of a failed connect, text with
 * U+0000 in it (wsev_connection_send_message), ping and pong, and the
 * close code and reason the server echoes.
 *
 *   client-probe [--protocol NAME]... [--origin O] [--header 'N: v']...
 *                [--cafile F] [--insecure] [--no-ping] [--timeout S]
 *                [--cancel-after MS] [--proxy URL] [--proxy-from-env]
 *                [--evdns] URL
 *
 * Prints one fact per line on stdout:
 *   connected protocol=NAME|- origin=O|- uri=URI
 *   echo text N ok | echo text N BAD ...
 *   echo binary N ok | ...
 *   echo nul-text N ok | ...
 *   pong ok | pong BAD
 *   closed code=N reason=TEXT
 * or, when the connection cannot be made:
 *   connect-error domain=D code=C
 *   message: TEXT
 * With --cancel-after MS the attempt is abandoned with wsev_connect_cancel()
 * MS milliseconds in (unless the callback came first), and the loop runs
 * 300 ms more to show that no callback follows:
 *   cancelled | callback-before-cancel | callback-after-cancel
 * (exit 0 for "cancelled" alone).
 * Exit status: 0 when connected, every echo matched and the close ended
 * with the server echoing 1000 "probe done"; 1 otherwise (the reason on
 * stderr); 2 for bad usage. The whole run is bounded by --timeout
 * (default 10 s) on a timer of its own. --proxy and --proxy-from-env set
 * the options of the same names; --evdns resolves with an evdns_base
 * (else wsev's blocking getaddrinfo).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <wsev/wsev.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

#define MAX_LIST 16

static struct event_base *base;
static struct wsev_connect_request *pending;
static struct wsev_connection *live;
static int status = 1, want_ping = 1, step, pong_seen;
static int cancel_ms = -1, cancelled, callbacks;
static struct event *linger;	/* after a cancel: the 300 ms of watching */
static const char *why = "did not finish";
static char why_buf[sizeof(((struct wsev_error *)0)->message)];

/* The messages sent, in order; the echoes must come back the same. */
static const char text_msg[] = "probe h\xc3\xa9llo \xe2\x82\xac";
static const unsigned char bin_msg[] = { 0, 1, 2, 0xff, 0, 0x80, 'x', 0 };
static const char nul_text[] = "a\0b\0c";	/* 5 bytes with two U+0000 */

struct expect {
	const char *name;
	enum wsev_data_type type;
	const void *data;
	size_t len;
};

static const struct expect expects[] = {
	{ "text", WSEV_DATA_TEXT, text_msg, sizeof(text_msg) - 1 },
	{ "binary", WSEV_DATA_BINARY, bin_msg, sizeof(bin_msg) },
	{ "nul-text", WSEV_DATA_TEXT, nul_text, sizeof(nul_text) - 1 },
	{ "empty-binary", WSEV_DATA_BINARY, "", 0 },
};
#define NEXPECT (sizeof(expects) / sizeof(expects[0]))

static void
maybe_close(struct wsev_connection *c)
{
	if (step == (int)NEXPECT && (!want_ping || pong_seen) &&
	    wsev_connection_get_state(c) == WSEV_STATE_OPEN &&
	    wsev_connection_close(c, WSEV_CLOSE_NORMAL, "probe done") < 0) {
		why = "wsev_connection_close refused 1000 \"probe done\"";
		event_base_loopexit(base, NULL);
	}
}

static void
on_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	const struct expect *e;

	(void)arg;
	if (step >= (int)NEXPECT) {
		printf("unexpected message type=%d len=%zu\n", (int)type, len);
		why = "a message nobody sent";
		step = (int)NEXPECT + 1;	/* fails the run */
		return;
	}
	e = &expects[step++];
	if (type == e->type && len == e->len && !memcmp(data, e->data, len) &&
	    ((const char *)data)[len] == '\0')
		printf("echo %s %zu ok\n", e->name, len);
	else {
		printf("echo %s %zu BAD type=%d len=%zu\n", e->name, e->len,
		    (int)type, len);
		why = "an echo differs from what was sent";
	}
	maybe_close(c);
}

static void
on_pong(struct wsev_connection *c, const void *data, size_t len, void *arg)
{
	(void)arg;
	if (len == 5 && !memcmp(data, "probe", 5) &&
	    ((const char *)data)[len] == '\0') {
		printf("pong ok\n");
		pong_seen = 1;
	} else {
		printf("pong BAD len=%zu\n", len);
	}
	maybe_close(c);
}

static void
on_error(struct wsev_connection *c, const struct wsev_error *err, void *arg)
{
	(void)c;
	(void)arg;
	printf("error domain=%d code=%d\n", (int)err->domain, err->code);
	fprintf(stderr, "client-probe: %s\n", err->message);
}

static void
on_closed(struct wsev_connection *c, void *arg)
{
	unsigned short code = wsev_connection_get_close_code(c);
	const char *data = wsev_connection_get_close_data(c);

	(void)arg;
	printf("closed code=%u reason=%s\n", code, data ? data : "(null)");
	if (step == (int)NEXPECT && (!want_ping || pong_seen) &&
	    code == WSEV_CLOSE_NORMAL && data && !strcmp(data, "probe done") &&
	    wsev_connection_get_state(c) == WSEV_STATE_CLOSED &&
	    wsev_connection_get_bufferevent(c) == NULL)
		status = 0;
	else
		why = "the connection did not end with the echoes and 1000 \"probe done\"";
	wsev_connection_free(c);
	live = NULL;
	event_base_loopexit(base, NULL);
}

static void
on_connected(struct wsev_connection *c, const struct wsev_error *err,
    void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message, .pong = on_pong, .error = on_error,
		.closed = on_closed
	};
	const struct evhttp_uri *u;
	char uri[512];
	const char *p, *o;
	size_t i;

	(void)arg;
	pending = NULL;
	callbacks++;
	if (cancel_ms >= 0) {
		printf("%s\n", cancelled ? "callback-after-cancel" :
		    "callback-before-cancel");
		why = cancelled ? "the callback ran after wsev_connect_cancel" :
		    "connected before the cancel: nothing tested";
		wsev_connection_free(c);
		event_base_loopexit(base, NULL);
		return;
	}
	if (!c) {
		printf("connect-error domain=%d code=%d\n", (int)err->domain,
		    err->code);
		printf("message: %s\n", err->message);
		snprintf(why_buf, sizeof(why_buf), "%s", err->message);
		why = why_buf;
		event_base_loopexit(base, NULL);
		return;
	}
	p = wsev_connection_get_protocol(c);
	o = wsev_connection_get_origin(c);
	u = wsev_connection_get_uri(c);
	if (!u || !evhttp_uri_join((struct evhttp_uri *)(uintptr_t)u, uri,
	    sizeof(uri)))
		snprintf(uri, sizeof(uri), "-");
	printf("connected protocol=%s origin=%s uri=%s\n", p ? p : "-",
	    o ? o : "-", uri);
	if (wsev_connection_get_connection_type(c) != WSEV_CONNECTION_CLIENT ||
	    wsev_connection_get_state(c) != WSEV_STATE_OPEN) {
		printf("bad type or state\n");
		wsev_connection_free(c);	/* not yet in "live" */
		why = "the new connection is not an OPEN client";
		event_base_loopexit(base, NULL);
		return;
	}
	live = c;
	wsev_connection_set_callbacks(c, &cbs, NULL);
	for (i = 0; i < NEXPECT; i++) {
		if (wsev_connection_send_message(c, expects[i].type,
		    expects[i].data, expects[i].len) < 0) {
			printf("send %s refused\n", expects[i].name);
			why = "a send was refused";
		}
	}
	if (want_ping && wsev_connection_send_ping(c, "probe", 5) < 0) {
		printf("ping refused\n");
		why = "the ping was refused";
	}
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	why = "timed out";
	event_base_loopexit(base, NULL);
}

static void
on_linger_end(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!callbacks)
		status = 0;
	event_base_loopexit(base, NULL);
}

static void
on_cancel(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, 300000 };

	(void)fd;
	(void)what;
	(void)arg;
	if (!pending)
		return;		/* the callback came first */
	wsev_connect_cancel(pending);
	pending = NULL;
	cancelled = 1;
	printf("cancelled\n");
	linger = evtimer_new(base, on_linger_end, NULL);
	if (!linger || evtimer_add(linger, &tv) < 0) {
		why = "no timer";
		event_base_loopexit(base, NULL);
	}
}

static int
usage(void)
{
	fprintf(stderr, "usage: client-probe [--protocol NAME]... [--origin O] "
	    "[--header 'N: v']... [--cafile F] [--insecure] [--no-ping] "
	    "[--timeout S] [--cancel-after MS] [--proxy URL] "
	    "[--proxy-from-env] [--evdns] URL\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *protocols[MAX_LIST + 1] = { NULL };
	const char *headers[MAX_LIST + 1] = { NULL };
	struct wsev_connect_options o;
	struct wsev_connect_request *req;
	struct wsev_error err;
	struct timeval deadline = { 10, 0 }, connect_timeout;
	struct event *timer, *cancel_timer = NULL;
	const char *url = NULL;
	struct evdns_base *dns = NULL;
	int np = 0, nh = 0, i, use_evdns = 0;

	wsev_connect_options_init(&o);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		int more = i + 1 < argc;

		if (!strcmp(a, "--protocol") && more && np < MAX_LIST)
			protocols[np++] = argv[++i];
		else if (!strcmp(a, "--header") && more && nh < MAX_LIST)
			headers[nh++] = argv[++i];
		else if (!strcmp(a, "--origin") && more)
			o.origin = argv[++i];
		else if (!strcmp(a, "--cafile") && more)
			o.ca_file = argv[++i];
		else if (!strcmp(a, "--insecure"))
			o.insecure = 1;
		else if (!strcmp(a, "--no-ping"))
			want_ping = 0;
		else if (!strcmp(a, "--timeout") && more)
			deadline.tv_sec = atol(argv[++i]);
		else if (!strcmp(a, "--cancel-after") && more)
			cancel_ms = atoi(argv[++i]);
		else if (!strcmp(a, "--proxy") && more)
			o.proxy = argv[++i];
		else if (!strcmp(a, "--proxy-from-env"))
			o.proxy_from_env = 1;
		else if (!strcmp(a, "--evdns"))
			use_evdns = 1;
		else if (a[0] == '-' || url)
			return usage();
		else
			url = a;
	}
	if (!url)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	o.protocols = np ? protocols : NULL;
	o.headers = nh ? headers : NULL;
	/* The connect timeout is the deadline less a second, so that a
	 * stalled handshake reports wsev's own ETIMEDOUT first. */
	connect_timeout.tv_sec = deadline.tv_sec > 1 ? deadline.tv_sec - 1 : 1;
	connect_timeout.tv_usec = 0;
	o.timeout = &connect_timeout;
	o.error = &err;

	base = event_base_new();
	if (!base)
		return 1;
	timer = evtimer_new(base, on_deadline, NULL);
	evtimer_add(timer, &deadline);
	if (use_evdns && !(dns = evdns_base_new(base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE)))
		return 1;
	req = wsev_connect(base, dns, url, &o, on_connected, NULL);
	if (!req) {
		printf("connect-refused domain=%d code=%d\n", (int)err.domain,
		    err.code);
		fprintf(stderr, "client-probe: %s\n", err.message);
		if (dns)
			evdns_base_free(dns, 1);
		event_free(timer);
		event_base_free(base);
		return 1;
	}
	pending = req;
	if (cancel_ms >= 0) {
		struct timeval tv = { cancel_ms / 1000, (cancel_ms % 1000) * 1000 };
		cancel_timer = evtimer_new(base, on_cancel, NULL);
		if (!cancel_timer || evtimer_add(cancel_timer, &tv) < 0)
			return 1;
	}
	event_base_dispatch(base);
	/* After the deadline: whatever is still going on is dropped. */
	wsev_connect_cancel(pending);
	wsev_connection_free(live);
	if (dns)	/* a cancelled lookup's callback runs now */
		evdns_base_free(dns, 1);
	if (cancel_timer)
		event_free(cancel_timer);
	if (linger)
		event_free(linger);
	event_free(timer);
	event_base_free(base);
	if (status != 0)
		fprintf(stderr, "client-probe: %s\n", why);
	return status;
}
