/*
 * soup-server: a libsoup 3 WebSocket server for the client interop test
 * test/interop-client/test-soup-server.sh (wsev-cat against libsoup).
 *
 *   soup-server [--tls CERT KEY] [--no-deflate] [--protocol NAME]...
 *
 * Listens on 127.0.0.1 at a port the system picks (every path is a
 * WebSocket route, any Origin is accepted), prints
 * "listening on ws://127.0.0.1:PORT/" (wss:// with --tls, the PEM
 * certificate and key in CERT and KEY) and serves until SIGTERM or SIGINT,
 * when it exits 0. With --protocol the handshake must offer one of the
 * NAMEs (libsoup picks the first of this list that the client offered);
 * without, any offer is accepted and none selected.
 *
 * Each connection accepts payloads of any size (libsoup's default limit is
 * 128 KiB) and prints, in order:
 *   "open path=PATH"             when the handshake is done
 *   "extensions NAME PARAMS"     the negotiated extensions, each with the
 *                                parameters of libsoup's answer, or
 *                                "extensions (none)"; libsoup's server
 *                                accepts permessage-deflate unless
 *                                --no-deflate removes it
 *   "message text|binary LEN"    for every message received
 *   "error DOMAIN CODE: MESSAGE" for every "error" signal
 *   "closed code=CODE data=DATA" at the end (DATA "(null)" if none)
 * Every text and binary message is sent back with its type, except these
 * text commands, which are answered instead:
 *   cmd:close:CODE[:REASON]  close the connection with CODE and REASON
 *   cmd:header:NAME          "header:VALUE", the handshake request's NAME
 *                            headers (all of them, joined with ", "), or
 *                            "header:(none)" if it had none
 *   cmd:protocol             "protocol:NAME", the negotiated subprotocol,
 *                            or "protocol:(none)"
 * Standard output is flushed after every line. Exit status: 0 after a
 * signal, 1 if it could not start, 2 for bad usage.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <libsoup/soup.h>
#include <glib-unix.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROTOCOLS	16

/* One WebSocket connection: the handshake request's headers outlive the
 * SoupServerMessage, which libsoup drops once the connection is handed
 * over. */
struct peer {
	SoupWebsocketConnection *conn;
	SoupMessageHeaders *headers;
};

static void
say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* One line on stdout, flushed: the test reads it while the server runs. */
static void
say(const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	line = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	puts(line);
	fflush(stdout);
	g_free(line);
}

static void
send_text(struct peer *p, const char *prefix, const char *value)
{
	char *s = g_strconcat(prefix, value, NULL);

	soup_websocket_connection_send_text(p->conn, s);
	g_free(s);
}

/* "cmd:close:CODE[:REASON]": CODE must be a number, REASON may hold ':'. */
static void
command_close(struct peer *p, const char *arg)
{
	const char *colon = strchr(arg, ':');
	char *code_str = colon ? g_strndup(arg, (gsize)(colon - arg)) :
	    g_strdup(arg);
	char *end = NULL;
	guint64 code = g_ascii_strtoull(code_str, &end, 10);

	if (*code_str == '\0' || *end != '\0' || code > 65535) {
		send_text(p, "bad command: cmd:close:", arg);
	} else {
		soup_websocket_connection_close(p->conn, (gushort)code,
		    colon ? colon + 1 : NULL);
	}
	g_free(code_str);
}

/* A text message: a command, answered, or else echoed. Returns 1 if it was
 * a command. */
static int
command(struct peer *p, const char *text)
{
	if (g_str_has_prefix(text, "cmd:close:")) {
		command_close(p, text + strlen("cmd:close:"));
	} else if (g_str_has_prefix(text, "cmd:header:")) {
		/* soup_message_headers_get_list joins repeated headers: a
		 * header sent twice shows as "v, v". */
		const char *v = soup_message_headers_get_list(p->headers,
		    text + strlen("cmd:header:"));

		send_text(p, "header:", v ? v : "(none)");
	} else if (strcmp(text, "cmd:protocol") == 0) {
		const char *v = soup_websocket_connection_get_protocol(p->conn);

		send_text(p, "protocol:", v ? v : "(none)");
	} else {
		return 0;
	}
	return 1;
}

static void
on_message(SoupWebsocketConnection *conn, gint type, GBytes *message,
    gpointer data)
{
	struct peer *p = data;
	gsize len;
	const char *bytes = g_bytes_get_data(message, &len);

	(void)conn;
	say("message %s %" G_GSIZE_FORMAT,
	    type == SOUP_WEBSOCKET_DATA_TEXT ? "text" : "binary", len);
	if (type == SOUP_WEBSOCKET_DATA_TEXT && len >= 4 &&
	    memcmp(bytes, "cmd:", 4) == 0 && memchr(bytes, '\0', len) == NULL) {
		char *text = g_strndup(bytes, len);
		int done = command(p, text);

		g_free(text);
		if (done)
			return;
	}
	if (soup_websocket_connection_get_state(p->conn) ==
	    SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_send_message(p->conn,
		    (SoupWebsocketDataType)type, message);
}

static void
on_error(SoupWebsocketConnection *conn, GError *error, gpointer data)
{
	(void)conn;
	(void)data;
	say("error %s %d: %s", g_quark_to_string(error->domain), error->code,
	    error->message);
}

static void
on_closed(SoupWebsocketConnection *conn, gpointer data)
{
	struct peer *p = data;
	const char *close_data = soup_websocket_connection_get_close_data(conn);

	say("closed code=%u data=%s",
	    (unsigned)soup_websocket_connection_get_close_code(conn),
	    close_data ? close_data : "(null)");
	g_signal_handlers_disconnect_by_data(conn, p);
	soup_message_headers_unref(p->headers);
	g_object_unref(p->conn);
	g_free(p);
}

static void
say_extensions(SoupWebsocketConnection *conn)
{
	GString *s = g_string_new("extensions");
	GList *l = soup_websocket_connection_get_extensions(conn);

	if (!l)
		g_string_append(s, " (none)");
	for (; l; l = l->next) {
		SoupWebsocketExtension *e = l->data;
		char *params = soup_websocket_extension_get_response_params(e);

		g_string_append_printf(s, " %s%s",
		    SOUP_WEBSOCKET_EXTENSION_GET_CLASS(e)->name,
		    params ? params : "");
		g_free(params);
	}
	say("%s", s->str);
	g_string_free(s, TRUE);
}

static void
on_websocket(SoupServer *server, SoupServerMessage *msg, const char *path,
    SoupWebsocketConnection *conn, gpointer data)
{
	struct peer *p = g_new0(struct peer, 1);

	(void)server;
	(void)data;
	p->conn = g_object_ref(conn);
	p->headers = soup_message_headers_ref(
	    soup_server_message_get_request_headers(msg));
	/* The client's own limit is under test, not libsoup's 128 KiB. */
	soup_websocket_connection_set_max_incoming_payload_size(conn, 0);
	g_signal_connect(conn, "message", G_CALLBACK(on_message), p);
	g_signal_connect(conn, "error", G_CALLBACK(on_error), p);
	g_signal_connect(conn, "closed", G_CALLBACK(on_closed), p);
	say("open path=%s", path);
	say_extensions(conn);
}

/* The handler stays: timeout(1) forwards a SIGTERM to its child and then
 * to its process group, and with the source removed GLib would restore
 * the default action for the second one. */
static gboolean
on_signal(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_CONTINUE;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: soup-server [--tls CERT KEY] [--no-deflate] "
	    "[--protocol NAME]...\n");
	return 2;
}

int
main(int argc, char **argv)
{
	char *protocols[MAX_PROTOCOLS + 1] = { NULL };
	const char *cert_file = NULL, *key_file = NULL;
	GTlsCertificate *cert = NULL;
	SoupServer *server;
	GMainLoop *loop;
	GError *error = NULL;
	GSList *uris;
	guint port;
	int no_deflate = 0;
	int np = 0, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
			cert_file = argv[++i];
			key_file = argv[++i];
		} else if (strcmp(argv[i], "--no-deflate") == 0) {
			no_deflate = 1;
		} else if (strcmp(argv[i], "--protocol") == 0 && i + 1 < argc &&
		    np < MAX_PROTOCOLS) {
			protocols[np++] = argv[++i];
		} else {
			return usage();
		}
	}
	/* A client that drops the connection must not kill the server. */
	signal(SIGPIPE, SIG_IGN);

	if (cert_file) {
		if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
			fprintf(stderr, "soup-server: no TLS backend "
			    "(glib-networking is not installed?)\n");
			return 1;
		}
		cert = g_tls_certificate_new_from_files(cert_file, key_file,
		    &error);
		if (!cert) {
			fprintf(stderr, "soup-server: %s\n", error->message);
			g_error_free(error);
			return 1;
		}
	}
	server = soup_server_new("tls-certificate", cert, NULL);
	if (cert)
		g_object_unref(cert);
	/* libsoup 3's server accepts permessage-deflate by default (the
	 * "extensions" line shows what it negotiated). */
	if (no_deflate)
		soup_server_remove_websocket_extension(server,
		    SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
	soup_server_add_websocket_handler(server, NULL, NULL,
	    np ? protocols : NULL, on_websocket, NULL, NULL);
	if (!soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY |
	    (cert_file ? SOUP_SERVER_LISTEN_HTTPS : 0), &error)) {
		fprintf(stderr, "soup-server: cannot listen: %s\n",
		    error->message);
		g_error_free(error);
		g_object_unref(server);
		return 1;
	}
	uris = soup_server_get_uris(server);
	if (!uris) {
		fprintf(stderr, "soup-server: no listening address\n");
		g_object_unref(server);
		return 1;
	}
	port = (guint)g_uri_get_port(uris->data);
	g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);

	loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, on_signal, loop);
	g_unix_signal_add(SIGINT, on_signal, loop);
	say("listening on %s://127.0.0.1:%u/", cert_file ? "wss" : "ws", port);
	g_main_loop_run(loop);

	soup_server_disconnect(server);
	g_object_unref(server);
	g_main_loop_unref(loop);
	return 0;
}
