/*
 * soup-client: a libsoup 3 WebSocket client that drives a wsev server, for
 * the interop test test/interop/test-soup.sh.
 *
 *   soup-client [--ca CERTFILE] [--deflate] [--protocol NAME]... URL SCENARIO
 *
 * Connects to URL (ws:// or wss://) with soup_session_websocket_connect_async,
 * runs SCENARIO, prints what it observed, and exits 0 only if everything the
 * scenario expects held (1 otherwise, 2 for a usage error):
 *
 *   echo          text and binary messages of 0, 1, 125, 126, 65535, 65536
 *                 and 1 MiB,
 *                 one at a time and then all at once, each echoed byte-exact
 *                 with its type; then a close with 1000 "done", answered
 *                 with 1000 before libsoup's own 5 s close timeout.
 *   server-close  sends "cmd:close:4002:server-bye" (test/interop/peer-server);
 *                 the server's close must arrive: "closing", then "closed",
 *                 close code 4002 and close data "server-bye".
 *   protocol      offers the --protocol list and prints
 *                 "protocol: NAME" (or "protocol: (none)"), then closes with
 *                 1000; the calling script checks NAME.
 *   extensions    sends "cmd:extensions" (test/interop/peer-server) and
 *                 prints "wsev extensions: ANSWER", then closes with 1000;
 *                 the script compares ANSWER with the "soup extension:"
 *                 lines printed at the connection.
 *   streams       the messages peer-server sends with send_fragment (in
 *                 pieces with pings between) and send_buffer
 *                 (cmd:fragments:N:UNITS, cmd:buffer:UNITS) arrive whole.
 *   pongs         peer-server runs with --keepalive 1: its pings are
 *                 answered by libsoup, "cmd:pongs" reaches 2 (asked every
 *                 0.5 s) while the connection stays open.
 *   ping          libsoup's keepalive pings every second: after 2.5 s the
 *                 connection is still open, pongs with libsoup's payload came
 *                 back, a message still echoes; then a second pong and a
 *                 clean close.
 *
 * With --ca, TLS peers are verified against CERTFILE alone (a GTlsDatabase
 * on the session): chain and host name (the URL's host, an IP SAN for
 * 127.0.0.1). Nothing else is accepted. Any "error" signal fails the run.
 * Everything is bounded by a 10 s watchdog.
 *
 * With --deflate the session gets libsoup's extension manager, so the
 * handshake offers permessage-deflate (RFC 7692); whatever the server
 * makes of the offer, the scenario must still hold. The negotiated
 * extensions are printed, one "soup extension: NAME PARAMS" line each.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <libsoup/soup.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCHDOG_MS	10000
#define PING_WAIT_MS	2500
/* libsoup gives up on the close handshake after 5 s and closes the stream
 * itself; "closed" later than this means the server never closed it. */
#define CLOSE_LIMIT_US	(4 * G_USEC_PER_SEC)
#define MAX_PROTOCOLS	16
#define NSIZES		7
#define NMESSAGES	(2 * NSIZES)

static const gsize sizes[NSIZES] = { 0, 1, 125, 126, 65535, 65536, 1048576 };

/* peer-server's cmd:fragments and cmd:buffer text: UNITS times this. */
#define UNIT		"fragment \xe2\x9c\x93 \xc3\xa9 "
/* The "streams" scenario: each command and the units of its answer. */
static const struct {
	const char *cmd;
	unsigned units;
} streams[] = {
	{ "cmd:fragments:1:0", 0 },
	{ "cmd:fragments:3:1", 1 },
	{ "cmd:fragments:7:70000", 70000 },
	{ "cmd:fragments:64:4096", 4096 },
	{ "cmd:buffer:0", 0 },
	{ "cmd:buffer:70000", 70000 },
};

enum phase {
	PHASE_CONNECTING,
	PHASE_ECHO_ONE,		/* one message in flight at a time */
	PHASE_ECHO_BURST,	/* all of them queued at once */
	PHASE_WAIT_CLOSE,	/* the server's close is expected */
	PHASE_EXTENSIONS,	/* cmd:extensions sent */
	PHASE_STREAMS,		/* streams[next_send - 1] sent */
	PHASE_PONGS,		/* cmd:pongs sent */
	PHASE_PING_WAIT,	/* keepalive running, nothing else */
	PHASE_PING_ECHO,
	PHASE_PING_SECOND,	/* waiting for one more pong */
	PHASE_CLOSING,		/* our close was sent */
	PHASE_DONE
};

struct client {
	GMainLoop *loop;
	SoupSession *session;
	SoupMessage *msg;
	SoupWebsocketConnection *conn;
	const char *url;
	const char *scenario;
	enum phase phase;
	int failures;
	int errors;		/* "error" signals */
	int closing_seen;
	int closed_seen;
	int pongs;
	gint64 close_started;	/* monotonic time of our close, or 0 */
	GBytes *messages[NMESSAGES];
	SoupWebsocketDataType types[NMESSAGES];
	int next_send;
	int next_expect;
};

static void
fail(struct client *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
fail(struct client *c, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	c->failures++;
}

static void
finish(struct client *c)
{
	c->phase = PHASE_DONE;
	g_main_loop_quit(c->loop);
}

static const char *
type_name(SoupWebsocketDataType type)
{
	return type == SOUP_WEBSOCKET_DATA_TEXT ? "text" : "binary";
}

static const char *
state_name(SoupWebsocketState state)
{
	switch (state) {
	case SOUP_WEBSOCKET_STATE_OPEN:
		return "OPEN";
	case SOUP_WEBSOCKET_STATE_CLOSING:
		return "CLOSING";
	case SOUP_WEBSOCKET_STATE_CLOSED:
		return "CLOSED";
	}
	return "?";
}

/*
 * Text: valid UTF-8 with 1- to 4-byte sequences and no NUL (the sample echo
 * server sends text back as a C string), cut only between characters.
 * Binary: every byte value, NUL included, in an order that is not periodic
 * on any small power of two.
 */
static GBytes *
make_payload(SoupWebsocketDataType type, gsize len)
{
	static const char *const chars[] = { "a", "\xc3\xa9", "\xe2\x82\xac",
	    "\xf0\x9d\x84\x9e", "Z", " " };
	guint8 *buf = g_malloc(len + 1);
	gsize i = 0, k = 0;
	guint32 x = (guint32)len * 2654435761u + 1;

	if (type == SOUP_WEBSOCKET_DATA_TEXT) {
		while (i < len) {
			const char *ch = chars[k++ % G_N_ELEMENTS(chars)];
			gsize n = strlen(ch);

			if (n > len - i)
				ch = "x", n = 1;
			memcpy(buf + i, ch, n);
			i += n;
		}
	} else {
		for (i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (guint8)(x >> 16);
		}
	}
	buf[len] = '\0';
	return g_bytes_new_take(buf, len);
}

static void
send_one(struct client *c, int i)
{
	soup_websocket_connection_send_message(c->conn, c->types[i],
	    c->messages[i]);
}

static void
start_close(struct client *c)
{
	c->phase = PHASE_CLOSING;
	c->close_started = g_get_monotonic_time();
	printf("closing with 1000 \"done\"\n");
	fflush(stdout);
	soup_websocket_connection_close(c->conn, SOUP_WEBSOCKET_CLOSE_NORMAL,
	    "done");
}

/* Compare one echoed message with the one expected next. */
static void
check_echo(struct client *c, SoupWebsocketDataType type, GBytes *got)
{
	int i = c->next_expect;
	gsize got_len, want_len, at;
	const guint8 *g, *w;

	if (i >= NMESSAGES || i >= c->next_send) {
		fail(c, "unexpected %s message of %zu bytes", type_name(type),
		    g_bytes_get_size(got));
		return;
	}
	c->next_expect++;
	g = g_bytes_get_data(got, &got_len);
	w = g_bytes_get_data(c->messages[i], &want_len);
	if (type != c->types[i]) {
		fail(c, "%s %zu bytes came back as %s", type_name(c->types[i]),
		    want_len, type_name(type));
		return;
	}
	if (got_len != want_len) {
		fail(c, "%s %zu bytes came back with %zu bytes",
		    type_name(type), want_len, got_len);
		return;
	}
	for (at = 0; at < want_len && g[at] == w[at]; at++)
		;
	if (at < want_len) {
		fail(c, "%s %zu bytes: first difference at offset %zu "
		    "(0x%02x, expected 0x%02x)", type_name(type), want_len,
		    at, g[at], w[at]);
		return;
	}
	printf("echo %s %zu bytes: ok (%s)\n", type_name(type), want_len,
	    c->phase == PHASE_ECHO_ONE ? "alone" :
	    c->phase == PHASE_ECHO_BURST ? "in a burst" : "after the pings");
}

/* The answer to streams[next_send - 1]: UNITS times UNIT, as text. */
static void
check_stream(struct client *c, SoupWebsocketDataType type, GBytes *got)
{
	unsigned units = streams[c->next_send - 1].units, i;
	gsize len, ulen = strlen(UNIT);
	const char *g = g_bytes_get_data(got, &len);

	if (type != SOUP_WEBSOCKET_DATA_TEXT) {
		fail(c, "%s: a binary message", streams[c->next_send - 1].cmd);
		return;
	}
	if (len != units * ulen) {
		fail(c, "%s: %zu bytes, expected %zu",
		    streams[c->next_send - 1].cmd, len, units * ulen);
		return;
	}
	for (i = 0; i < units; i++) {
		if (memcmp(g + i * ulen, UNIT, ulen) != 0) {
			fail(c, "%s: unit %u differs",
			    streams[c->next_send - 1].cmd, i);
			return;
		}
	}
	printf("%s: %zu bytes ok\n", streams[c->next_send - 1].cmd, len);
}

static gboolean
ask_pongs(gpointer arg)
{
	struct client *c = arg;

	if (c->phase == PHASE_PONGS)
		soup_websocket_connection_send_text(c->conn, "cmd:pongs");
	return G_SOURCE_REMOVE;
}

/* "pongs:N" from peer-server: done at 2, else ask again in 0.5 s (the
 * watchdog bounds it). */
static void
check_pongs(struct client *c, GBytes *got)
{
	gsize len;
	const char *g = g_bytes_get_data(got, &len);
	char buf[32];

	if (len < 7 || len >= sizeof(buf) || memcmp(g, "pongs:", 6) != 0) {
		fail(c, "cmd:pongs answered \"%.*s\"", (int)MIN(len, 60), g);
		start_close(c);
		return;
	}
	memcpy(buf, g, len);
	buf[len] = '\0';
	printf("wsev %s\n", buf);
	if (atoi(buf + 6) >= 2)
		start_close(c);
	else
		g_timeout_add(500, ask_pongs, c);
}

static void
on_message(SoupWebsocketConnection *conn, gint type, GBytes *message,
    gpointer arg)
{
	struct client *c = arg;

	(void)conn;
	switch (c->phase) {
	case PHASE_ECHO_ONE:
		check_echo(c, (SoupWebsocketDataType)type, message);
		if (c->failures) {
			start_close(c);
		} else if (c->next_send < NMESSAGES) {
			send_one(c, c->next_send++);
		} else {
			c->phase = PHASE_ECHO_BURST;
			c->next_send = c->next_expect = 0;
			while (c->next_send < NMESSAGES)
				send_one(c, c->next_send++);
		}
		break;
	case PHASE_ECHO_BURST:
		check_echo(c, (SoupWebsocketDataType)type, message);
		if (c->failures || c->next_expect == NMESSAGES)
			start_close(c);
		break;
	case PHASE_EXTENSIONS:
		printf("wsev %.*s\n", (int)g_bytes_get_size(message),
		    (const char *)g_bytes_get_data(message, NULL));
		start_close(c);
		break;
	case PHASE_STREAMS:
		check_stream(c, (SoupWebsocketDataType)type, message);
		if (c->failures ||
		    c->next_send == (int)G_N_ELEMENTS(streams))
			start_close(c);
		else
			soup_websocket_connection_send_text(c->conn,
			    streams[c->next_send++].cmd);
		break;
	case PHASE_PONGS:
		check_pongs(c, message);
		break;
	case PHASE_PING_ECHO:
		check_echo(c, (SoupWebsocketDataType)type, message);
		if (c->failures) {
			start_close(c);
		} else if (c->pongs >= 2) {
			start_close(c);
		} else {
			c->phase = PHASE_PING_SECOND;
			printf("waiting for a second pong\n");
		}
		break;
	default:
		fail(c, "unexpected %s message of %zu bytes: \"%.60s\"",
		    type_name((SoupWebsocketDataType)type),
		    g_bytes_get_size(message),
		    (const char *)g_bytes_get_data(message, NULL));
		break;
	}
	fflush(stdout);
}

/*
 * libsoup declares "pong" with a GBytes argument, but its releases (3.2.3
 * here, still so in 3.7.1) emit a GByteArray there (receive_pong() in
 * soup-websocket-connection.c). Both structures start with the data pointer
 * and libsoup NUL-terminates the payload in both, so the payload is read as
 * a C string through that first member, whichever type arrived.
 */
static void
on_pong(SoupWebsocketConnection *conn, gpointer message, gpointer arg)
{
	struct client *c = arg;
	const char *data = message ? *(const char *const *)message : NULL;

	(void)conn;
	c->pongs++;
	printf("pong %d: \"%.40s\"\n", c->pongs, data ? data : "(null)");
	/* libsoup's keepalive ping carries "libsoup" (3.6 adds a counter
	 * after it when keepalive-pong-timeout is set). RFC 6455 §5.5.3: the
	 * pong carries the ping's application data. */
	if (!data || strncmp(data, "libsoup", 7) != 0) {
		fail(c, "pong %d does not carry the ping's payload", c->pongs);
	}
	if (c->phase == PHASE_PING_SECOND && c->pongs >= 2)
		start_close(c);
	fflush(stdout);
}

static void
on_error(SoupWebsocketConnection *conn, GError *error, gpointer arg)
{
	struct client *c = arg;

	(void)conn;
	c->errors++;
	fail(c, "error signal in state %s: %s (%s %d)",
	    state_name(soup_websocket_connection_get_state(conn)),
	    error->message, g_quark_to_string(error->domain), error->code);
}

static void
on_closing(SoupWebsocketConnection *conn, gpointer arg)
{
	struct client *c = arg;

	(void)conn;
	c->closing_seen++;
	printf("closing\n");
	fflush(stdout);
}

static void
check_close_time(struct client *c)
{
	gint64 took = g_get_monotonic_time() - c->close_started;

	printf("close handshake took %.3f s\n", (double)took / G_USEC_PER_SEC);
	if (took > CLOSE_LIMIT_US)
		fail(c, "the server did not end the connection: \"closed\" "
		    "came %.1f s after the close began (libsoup's close "
		    "timeout ended it)", (double)took / G_USEC_PER_SEC);
}

static void
on_closed(SoupWebsocketConnection *conn, gpointer arg)
{
	struct client *c = arg;
	unsigned code = soup_websocket_connection_get_close_code(conn);
	const char *data = soup_websocket_connection_get_close_data(conn);

	c->closed_seen++;
	printf("closed: code %u, data %s%s%s\n", code, data ? "\"" : "",
	    data ? data : "(none)", data ? "\"" : "");
	fflush(stdout);
	if (c->closed_seen > 1) {
		fail(c, "\"closed\" emitted %d times", c->closed_seen);
		return;
	}
	switch (c->phase) {
	case PHASE_CLOSING:
		if (code != SOUP_WEBSOCKET_CLOSE_NORMAL)
			fail(c, "close code %u, expected the server to echo "
			    "1000", code);
		if (c->closing_seen != 1)
			fail(c, "\"closing\" emitted %d times, expected once",
			    c->closing_seen);
		check_close_time(c);
		break;
	case PHASE_WAIT_CLOSE:
		if (c->closing_seen != 1)
			fail(c, "\"closing\" emitted %d times before "
			    "\"closed\", expected once", c->closing_seen);
		if (code != 4002)
			fail(c, "close code %u, expected 4002", code);
		if (!data || strcmp(data, "server-bye") != 0)
			fail(c, "close data %s, expected \"server-bye\"",
			    data ? data : "(none)");
		check_close_time(c);
		break;
	default:
		fail(c, "connection closed unexpectedly (code %u)", code);
		break;
	}
	if (c->scenario && !strcmp(c->scenario, "echo") &&
	    c->next_expect < NMESSAGES && !c->failures)
		fail(c, "closed after %d of %d echoes", c->next_expect,
		    NMESSAGES);
	finish(c);
}

static gboolean
on_ping_wait_over(gpointer arg)
{
	struct client *c = arg;
	SoupWebsocketState state;

	if (c->phase != PHASE_PING_WAIT)
		return G_SOURCE_REMOVE;
	state = soup_websocket_connection_get_state(c->conn);
	printf("after %.1f s: state %s, %d pong(s)\n",
	    PING_WAIT_MS / 1000.0, state_name(state), c->pongs);
	if (state != SOUP_WEBSOCKET_STATE_OPEN) {
		fail(c, "the connection is %s, expected OPEN",
		    state_name(state));
		return G_SOURCE_REMOVE;	/* "closed" ends the run */
	}
	if (c->pongs < 1)
		fail(c, "no pong after %.1f s of 1 s keepalive pings",
		    PING_WAIT_MS / 1000.0);
	c->phase = PHASE_PING_ECHO;
	c->next_send = c->next_expect = 0;
	/* Reuse the 126-byte text message as the proof of life. */
	c->messages[0] = make_payload(SOUP_WEBSOCKET_DATA_TEXT, 126);
	c->types[0] = SOUP_WEBSOCKET_DATA_TEXT;
	send_one(c, c->next_send++);
	fflush(stdout);
	return G_SOURCE_REMOVE;
}

static void
start_scenario(struct client *c)
{
	const char *protocol = soup_websocket_connection_get_protocol(c->conn);
	int i;

	if (!strcmp(c->scenario, "echo")) {
		for (i = 0; i < NMESSAGES; i++) {
			c->types[i] = i < NSIZES ? SOUP_WEBSOCKET_DATA_TEXT :
			    SOUP_WEBSOCKET_DATA_BINARY;
			c->messages[i] = make_payload(c->types[i],
			    sizes[i % NSIZES]);
		}
		c->phase = PHASE_ECHO_ONE;
		send_one(c, c->next_send++);
	} else if (!strcmp(c->scenario, "server-close")) {
		c->phase = PHASE_WAIT_CLOSE;
		c->close_started = g_get_monotonic_time();
		printf("sending cmd:close:4002:server-bye\n");
		soup_websocket_connection_send_text(c->conn,
		    "cmd:close:4002:server-bye");
	} else if (!strcmp(c->scenario, "extensions")) {
		c->phase = PHASE_EXTENSIONS;
		soup_websocket_connection_send_text(c->conn, "cmd:extensions");
	} else if (!strcmp(c->scenario, "streams")) {
		c->phase = PHASE_STREAMS;
		soup_websocket_connection_send_text(c->conn,
		    streams[c->next_send++].cmd);
	} else if (!strcmp(c->scenario, "pongs")) {
		c->phase = PHASE_PONGS;
		soup_websocket_connection_send_text(c->conn, "cmd:pongs");
	} else if (!strcmp(c->scenario, "protocol")) {
		printf("protocol: %s\n", protocol ? protocol : "(none)");
		start_close(c);
	} else {	/* ping */
		GObjectClass *klass = G_OBJECT_GET_CLASS(c->conn);

		/* libsoup >= 3.6 can itself fail a connection whose pongs
		 * stop coming; older ones just count on the test below. */
		if (g_object_class_find_property(klass,
		    "keepalive-pong-timeout"))
			g_object_set(c->conn, "keepalive-pong-timeout", 2u,
			    NULL);
		soup_websocket_connection_set_keepalive_interval(c->conn, 1);
		c->phase = PHASE_PING_WAIT;
		printf("keepalive every 1 s; waiting %.1f s\n",
		    PING_WAIT_MS / 1000.0);
		g_timeout_add(PING_WAIT_MS, on_ping_wait_over, c);
	}
	fflush(stdout);
}

static void
on_connected(GObject *source, GAsyncResult *result, gpointer arg)
{
	struct client *c = arg;
	GError *error = NULL;
	GList *l;

	c->conn = soup_session_websocket_connect_finish(SOUP_SESSION(source),
	    result, &error);
	if (!c->conn) {
		fail(c, "connect failed: %s (HTTP status %u)", error->message,
		    soup_message_get_status(c->msg));
		g_error_free(error);
		finish(c);
		return;
	}
	printf("connected to %s, %u extension(s)\n", c->url,
	    g_list_length(soup_websocket_connection_get_extensions(c->conn)));
	for (l = soup_websocket_connection_get_extensions(c->conn); l;
	    l = l->next) {
		char *params = soup_websocket_extension_get_response_params(
		    l->data);

		printf("soup extension: %s%s\n",
		    SOUP_WEBSOCKET_EXTENSION_GET_CLASS(l->data)->name,
		    params ? params : "");
		g_free(params);
	}
	fflush(stdout);
	/* libsoup refuses frames over 128 KiB by default; the 1 MiB echo is
	 * the server's to refuse, not ours. */
	soup_websocket_connection_set_max_incoming_payload_size(c->conn, 0);
	g_signal_connect(c->conn, "message", G_CALLBACK(on_message), c);
	g_signal_connect(c->conn, "pong", G_CALLBACK(on_pong), c);
	g_signal_connect(c->conn, "error", G_CALLBACK(on_error), c);
	g_signal_connect(c->conn, "closing", G_CALLBACK(on_closing), c);
	g_signal_connect(c->conn, "closed", G_CALLBACK(on_closed), c);
	start_scenario(c);
}

/*
 * Emitted only when verification against the --ca database failed: say
 * why, and refuse. The certificate is never accepted here.
 */
static gboolean
on_accept_certificate(SoupMessage *msg, GTlsCertificate *cert,
    GTlsCertificateFlags errors, gpointer arg)
{
	struct client *c = arg;

	(void)msg;
	(void)cert;
	fail(c, "TLS certificate refused (GTlsCertificateFlags 0x%x%s%s%s%s)",
	    (unsigned)errors,
	    errors & G_TLS_CERTIFICATE_UNKNOWN_CA ? " unknown-ca" : "",
	    errors & G_TLS_CERTIFICATE_BAD_IDENTITY ? " bad-identity" : "",
	    errors & G_TLS_CERTIFICATE_EXPIRED ? " expired" : "",
	    errors & G_TLS_CERTIFICATE_NOT_ACTIVATED ? " not-activated" : "");
	return FALSE;
}

static gboolean
on_watchdog(gpointer arg)
{
	struct client *c = arg;

	fail(c, "no result after %d s (phase %d, %d pong(s), %d echo(es))",
	    WATCHDOG_MS / 1000, (int)c->phase, c->pongs, c->next_expect);
	finish(c);
	return G_SOURCE_REMOVE;
}

static int
usage(void)
{
	fprintf(stderr, "usage: soup-client [--ca CERTFILE] [--deflate] "
	    "[--protocol NAME]... URL echo|server-close|protocol|ping|"
	    "extensions|streams|pongs\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *protocols[MAX_PROTOCOLS + 1] = { NULL };
	const char *ca = NULL;
	struct client c;
	int nproto = 0, i, rest = 0, deflate = 0;
	char *args[2];
	GError *error = NULL;

	memset(&c, 0, sizeof(c));
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ca") && i + 1 < argc)
			ca = argv[++i];
		else if (!strcmp(argv[i], "--deflate"))
			deflate = 1;
		else if (!strcmp(argv[i], "--protocol") && i + 1 < argc &&
		    nproto < MAX_PROTOCOLS)
			protocols[nproto++] = argv[++i];
		else if (argv[i][0] != '-' && rest < 2)
			args[rest++] = argv[i];
		else
			return usage();
	}
	if (rest != 2)
		return usage();
	c.url = args[0];
	c.scenario = args[1];
	if (strcmp(c.scenario, "echo") && strcmp(c.scenario, "server-close") &&
	    strcmp(c.scenario, "protocol") && strcmp(c.scenario, "ping") &&
	    strcmp(c.scenario, "extensions") &&
	    strcmp(c.scenario, "streams") && strcmp(c.scenario, "pongs"))
		return usage();

	c.loop = g_main_loop_new(NULL, FALSE);
	c.session = soup_session_new();
	if (deflate)
		soup_session_add_feature_by_type(c.session,
		    SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
	if (ca) {
		/* GTlsFileDatabase wants an absolute anchor path. */
		char *path = g_canonicalize_filename(ca, NULL);
		GTlsDatabase *db = g_tls_file_database_new(path, &error);

		g_free(path);
		if (!db) {
			fprintf(stderr, "soup-client: %s: %s\n", ca,
			    error->message);
			return 2;
		}
		soup_session_set_tls_database(c.session, db);
		g_object_unref(db);
	}
	c.msg = soup_message_new(SOUP_METHOD_GET, c.url);
	if (!c.msg) {
		fprintf(stderr, "soup-client: cannot parse URL %s\n", c.url);
		return 2;
	}
	g_signal_connect(c.msg, "accept-certificate",
	    G_CALLBACK(on_accept_certificate), &c);
	printf("scenario %s, libsoup %u.%u.%u\n", c.scenario,
	    soup_get_major_version(), soup_get_minor_version(),
	    soup_get_micro_version());
	fflush(stdout);

	g_timeout_add(WATCHDOG_MS, on_watchdog, &c);
	soup_session_websocket_connect_async(c.session, c.msg, NULL,
	    nproto ? (char **)protocols : NULL, G_PRIORITY_DEFAULT, NULL,
	    on_connected, &c);
	g_main_loop_run(c.loop);

	if (c.phase != PHASE_DONE)
		fail(&c, "the main loop ended early");
	if (c.conn && c.closed_seen == 0 && !c.failures)
		fail(&c, "never closed");
	printf("%s\n", c.failures ? "result: FAIL" : "result: ok");
	fflush(stdout);
	/* The loop never runs again, so nothing still pending inside libsoup
	 * (after the watchdog) can call back into what is released here. */
	for (i = 0; i < NMESSAGES; i++)
		if (c.messages[i])
			g_bytes_unref(c.messages[i]);
	g_clear_object(&c.conn);
	g_object_unref(c.msg);
	g_object_unref(c.session);
	g_main_loop_unref(c.loop);
	return c.failures ? 1 : 0;
}
