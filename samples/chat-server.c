/*
 * chat-server: a chat room in the browser, on one evhttp server.
 *
 *   chat-server [--port N] [--tls CERT KEY]
 *
 * Serves the chat page on "/" (HTML, CSS and JavaScript compiled in) and
 * the room on the WebSocket "/ws", on 127.0.0.1 (port 8080 by default; 0
 * picks a free one). Every message is broadcast to everyone, with join and
 * leave notices and the number of people in the room.
 *
 * The protocol: a client sends "/name NAME" once, then lines of text. The
 * server sends JSON objects: {"type":"join"|"leave"|"say","name":..,
 * "text":..,"users":N}.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <wsev/wsev.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_NAME 32
#define MAX_TEXT 2000
/*
 * A slow client: one that does not read what the room says. Its unsent
 * bytes are counted with wsev_connection_get_buffered_amount(); past this
 * bound it is disconnected with 1008 ("policy violation") instead of
 * slowing everyone or making the server hold ever more for it. Everyone
 * else gets every message at once, whatever one reader does.
 */
#define MAX_BACKLOG (1024 * 1024)

struct member {
	struct member *next, *prev;
	struct wsev_connection *conn;
	char name[MAX_NAME + 1];	/* empty until "/name" */
};

static struct member *room;	/* a doubly linked list */
static int users;

extern const char chat_page[];

/* Append s to b as a JSON string. */
static void
json_string(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			evbuffer_add_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			evbuffer_add_printf(b, "\\u%04x", ch);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
broadcast(const char *type, const char *name, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	struct member *m, *next;
	const char *msg;

	if (!b)
		return;
	evbuffer_add_printf(b, "{\"type\":\"%s\",\"name\":", type);
	json_string(b, name);
	evbuffer_add_printf(b, ",\"text\":");
	json_string(b, text ? text : "");
	evbuffer_add_printf(b, ",\"users\":%d}", users);
	evbuffer_add(b, "", 1);
	msg = (const char *)evbuffer_pullup(b, -1);
	for (m = room; m; m = next) {
		next = m->next;
		if (!m->name[0])
			continue;	/* not joined yet */
		if (wsev_connection_get_buffered_amount(m->conn) > MAX_BACKLOG) {
			wsev_connection_close(m->conn, WSEV_CLOSE_POLICY_VIOLATION,
			    "too slow: messages are piling up");
			continue;
		}
		wsev_connection_send_text(m->conn, msg);
	}
	evbuffer_free(b);
}

/* snprintf may have cut the last character of a long name: drop what is
 * left of it, so the name stays UTF-8 (the text as a whole was checked by
 * wsev already). */
static void
cut_utf8(char *s)
{
	size_t len = strlen(s), j, want;
	unsigned char lead;

	if (len == 0)
		return;
	j = len - 1;
	while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80)
		j--;
	lead = (unsigned char)s[j];
	want = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
	if (len - j < want)
		s[j] = '\0';
}

static void
on_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct member *m = arg;
	const char *text = data;
	char name[MAX_NAME + 1];

	(void)conn;
	if (type != WSEV_DATA_TEXT || len > MAX_TEXT)
		return;
	if (!m->name[0]) {
		if (strncmp(text, "/name ", 6) != 0 || !text[6])
			return;
		snprintf(name, sizeof(name), "%s", text + 6);
		cut_utf8(name);
		snprintf(m->name, sizeof(m->name), "%s", name[0] ? name : "?");
		users++;
		broadcast("join", m->name, NULL);
		return;
	}
	broadcast("say", m->name, text);
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	struct member *m = arg;

	if (m->prev)
		m->prev->next = m->next;
	else
		room = m->next;
	if (m->next)
		m->next->prev = m->prev;
	if (m->name[0]) {
		users--;
		broadcast("leave", m->name, NULL);
	}
	free(m);
	wsev_connection_free(conn);
}

static void
on_websocket(struct wsev_connection *conn, struct evhttp_request *req,
    void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message,
		.closed = on_closed,
	};
	struct member *m = calloc(1, sizeof(*m));

	(void)req;
	(void)arg;
	if (!m) {
		wsev_connection_free(conn);
		return;
	}
	m->conn = conn;
	m->next = room;
	if (room)
		room->prev = m;
	room = m;
	wsev_connection_set_max_incoming_payload_size(conn, 8192);
	wsev_connection_set_callbacks(conn, &cbs, m);
}

static void
on_page(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	(void)arg;
	evbuffer_add_reference(body, chat_page, strlen(chat_page), NULL, NULL);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/html; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	struct evhttp_bound_socket *sock;
	struct wsev_handler *route;
	struct event *sigint, *sigterm;
	struct event_base *base;
	struct evhttp *http;
	struct wsev_guard *guard;
	const struct timeval request_timeout = { 10, 0 };
	SSL_CTX *ctx = NULL;
	int port = 8080, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else {
			fprintf(stderr, "usage: chat-server [--port N] "
			    "[--tls CERT KEY]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	http = base ? evhttp_new(base) : NULL;
	if (!http)
		return 1;
	if (cert) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "chat-server: cannot load %s and %s: %s\n",
			    cert, key, ERR_reason_error_string(ERR_get_error()));
			return 1;
		}
	}
	evhttp_set_timeout(http, 10);
	/* evhttp's timeout only drops silent peers; the guard also drops
	 * those that trickle their request a byte at a time, 10 s after the
	 * accept. It makes the server's connections (TLS ones with ctx). */
	guard = wsev_guard_new(http, &request_timeout, ctx);
	if (!guard) {
		fprintf(stderr, "chat-server: out of memory\n");
		return 1;
	}
	/* evhttp takes headers of any size by default: a peer could grow
	 * the server's memory before the timeout. 16 KiB is plenty. */
	evhttp_set_max_headers_size(http, 16384);
	route = wsev_server_add_handler(http, "/ws", NULL, NULL, on_websocket,
	    NULL);
	evhttp_set_cb(http, "/", on_page, NULL);
	sock = evhttp_bind_socket_with_handle(http, "127.0.0.1",
	    (ev_uint16_t)port);
	if (!route || !sock) {
		fprintf(stderr, "chat-server: cannot listen on 127.0.0.1:%d\n",
		    port);
		return 1;
	}
	{
		struct sockaddr_storage ss;
		ev_socklen_t len = sizeof(ss);

		getsockname(evhttp_bound_socket_get_fd(sock),
		    (struct sockaddr *)&ss, &len);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	printf("chat room ready: open %s://127.0.0.1:%d/ in your browser\n",
	    cert ? "https" : "http", port);
	fflush(stdout);

	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	event_base_dispatch(base);

	event_free(sigint);
	event_free(sigterm);
	wsev_server_remove_handler(route);
	evhttp_free(http);	/* everyone still here is told 1001 */
	wsev_guard_free(guard);	/* after evhttp_free, before the base */
	event_base_free(base);
	SSL_CTX_free(ctx);
	return 0;
}
