/*
 * peer-server: a scriptable wsev server for the interop tests, which drive
 * it from real peers (Python websockets, Node's ws).
 *
 *   peer-server [--tls CERT KEY] [--max-payload N] [--max-outgoing N]
 *               [--protocol NAME]... [--no-deflate]
 *               [--deflate-client-no-context-takeover]
 *               [--deflate-server-no-context-takeover]
 *               [--deflate-server-max-window-bits N]
 *               [--deflate-client-max-window-bits N]
 *               [--keepalive S] [--pong-timeout S] [--chunk-size N]
 *
 * Listens on 127.0.0.1, on a port the system picks, and prints
 * "listening on ws://127.0.0.1:PORT/" (wss:// with --tls) as its first line.
 * The WebSocket route "/" echoes every message with its type, except text
 * messages that start with "cmd:":
 *
 *   cmd:close:CODE:REASON  wsev_connection_close(CODE, REASON); if wsev
 *                          refuses, the reply is "close-refused:CODE"
 *   cmd:protocol           replies "protocol:NAME" or "protocol:(none)"
 *   cmd:header:NAME        replies "header:VALUE" or "header:(none)", the
 *                          value of that header in the handshake request
 *   cmd:extensions         replies "extensions:(none)" or "extensions:
 *                          permessage-deflate server_no_context_takeover=B
 *                          client_no_context_takeover=B
 *                          server_max_window_bits=N client_max_window_bits=N"
 *                          (wsev_connection_get_extensions())
 *   cmd:fragments:N:UNITS  sends a text message of UNITS times the 16 bytes
 *                          "fragment \u2713 \u00e9 " with
 *                          wsev_connection_send_fragment() in N pieces cut at
 *                          byte offsets (inside code points), a ping
 *                          "between" after each piece but the last
 *   cmd:buffer:UNITS       sends that text with wsev_connection_send_buffer()
 *   cmd:pongs              replies "pongs:N", the pongs received so far
 *   cmd:chunks             replies "chunks:N:MAX", the pieces the last
 *                          message came in and the largest (--chunk-size)
 *
 * The deflate flags mirror wsev-cat's (what the route accepts); --keepalive
 * and --pong-timeout set the route's keepalive. With --chunk-size N the
 * messages arrive through "message_chunk" in pieces of at most N bytes and
 * are reassembled, then echoed (or run as commands) with send_buffer.
 *
 * When a connection closes it prints "closed code=N data=REASON" (REASON is
 * "(null)" without a close frame) and frees it. Errors the library reports
 * go to stderr as "error domain=D code=N: MESSAGE". A plain HTTP
 * "GET /health" answers 200 "ok". SIGTERM or SIGINT ends the loop, and
 * everything is freed before the exit, so that valgrind and the sanitizers
 * see no leak (the server plumbing is test/tt-server.c's).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <wsev/wsev.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "tt-server.h"

#define MAX_PROTOCOLS 16

#define FRAGMENT_UNIT "fragment \xe2\x9c\x93 \xc3\xa9 "	/* 16 bytes */

static uint64_t max_payload;
static int max_payload_set;
static uint64_t max_outgoing;
static int max_outgoing_set;

/* One WebSocket. The handshake request stays valid while conn lives. */
struct peer {
	struct wsev_connection *conn;
	/* The handshake's headers, copied: the request's own are cleared
	 * when the route's callback returns. */
	struct evkeyvalq headers;
	unsigned long pongs;
	/* --chunk-size: the message being reassembled, its pieces so far, and
	 * the figures of the last complete message. */
	struct evbuffer *partial;
	unsigned long chunks, last_chunks;
	size_t max_chunk, last_max_chunk;
};

static size_t chunk_size;

static void
reply(struct wsev_connection *conn, const char *prefix, const char *value)
{
	size_t n = strlen(prefix) + strlen(value) + 1;
	char *s = malloc(n);

	if (!s) {
		fprintf(stderr, "peer-server: out of memory\n");
		return;
	}
	snprintf(s, n, "%s%s", prefix, value);
	if (wsev_connection_send_text(conn, s) < 0 &&
	    wsev_connection_get_state(conn) == WSEV_STATE_OPEN)
		fprintf(stderr, "peer-server: cannot send \"%s\"\n", s);
	free(s);
}

/* "cmd:close:CODE:REASON"; REASON may be empty, and so may ":REASON". */
static void
command_close(struct wsev_connection *conn, const char *args)
{
	const char *reason = strchr(args, ':');
	char *end;
	unsigned long code = strtoul(args, &end, 10);

	if (end == args || (*end != ':' && *end != '\0') || code > 65535) {
		reply(conn, "close-refused:", args);
		return;
	}
	if (wsev_connection_close(conn, (unsigned short)code,
	    reason ? reason + 1 : NULL) < 0) {
		char buf[16];

		snprintf(buf, sizeof(buf), "%lu", code);
		reply(conn, "close-refused:", buf);
	}
}

static void
command_extensions(struct wsev_connection *conn)
{
	const struct wsev_extensions *e = wsev_connection_get_extensions(conn);
	char buf[200];

	if (!e->deflate) {
		reply(conn, "extensions:", "(none)");
		return;
	}
	snprintf(buf, sizeof(buf), "permessage-deflate "
	    "server_no_context_takeover=%d client_no_context_takeover=%d "
	    "server_max_window_bits=%d client_max_window_bits=%d",
	    e->server_no_context_takeover, e->client_no_context_takeover,
	    e->server_max_window_bits, e->client_max_window_bits);
	reply(conn, "extensions:", buf);
}

/* The text of cmd:fragments and cmd:buffer: UNITS times FRAGMENT_UNIT. */
static char *
unit_text(unsigned long units, size_t *len)
{
	size_t ulen = sizeof(FRAGMENT_UNIT) - 1, i;
	char *s;

	if (units > (64UL << 20) / ulen)
		return NULL;
	*len = units * ulen;
	s = malloc(*len + 1);
	if (!s)
		return NULL;
	for (i = 0; i < units; i++)
		memcpy(s + i * ulen, FRAGMENT_UNIT, ulen);
	return s;
}

/* "cmd:fragments:N:UNITS": N pieces of about equal size, cut at byte
 * offsets whatever the code points (wsev.h allows it), a ping after each
 * piece but the last (RFC 6455 §5.4: control frames between fragments). */
static void
command_fragments(struct wsev_connection *conn, const char *args)
{
	unsigned long n, units, i;
	size_t len, off = 0, next;
	char *end, *text;

	n = strtoul(args, &end, 10);
	if (end == args || *end != ':' || n == 0 || n > 10000) {
		reply(conn, "fragments-refused:", args);
		return;
	}
	units = strtoul(end + 1, &end, 10);
	if (*end || !(text = unit_text(units, &len))) {
		reply(conn, "fragments-refused:", args);
		return;
	}
	for (i = 0; i < n; i++) {
		next = i + 1 == n ? len : len / n * (i + 1);
		if (wsev_connection_send_fragment(conn, WSEV_DATA_TEXT,
		    text + off, next - off, i + 1 == n) < 0) {
			fprintf(stderr, "peer-server: send_fragment %lu of %lu "
			    "(%zu bytes) refused\n", i + 1, n, next - off);
			break;
		}
		if (i + 1 < n && wsev_connection_send_ping(conn, "between",
		    7) < 0)
			fprintf(stderr, "peer-server: cannot ping between "
			    "fragments\n");
		off = next;
	}
	free(text);
}

static void
command_buffer(struct wsev_connection *conn, const char *args)
{
	struct evbuffer *buf;
	unsigned long units;
	size_t len;
	char *end, *text;

	units = strtoul(args, &end, 10);
	if (end == args || *end || !(text = unit_text(units, &len))) {
		reply(conn, "buffer-refused:", args);
		return;
	}
	buf = evbuffer_new();
	if (!buf || evbuffer_add(buf, text, len) < 0)
		fprintf(stderr, "peer-server: out of memory\n");
	else if (wsev_connection_send_buffer(conn, WSEV_DATA_TEXT, buf) < 0)
		fprintf(stderr, "peer-server: send_buffer of %zu bytes "
		    "refused\n", len);
	else if (evbuffer_get_length(buf) != 0)
		fprintf(stderr, "peer-server: send_buffer left %zu bytes in "
		    "the buffer\n", evbuffer_get_length(buf));
	if (buf)
		evbuffer_free(buf);
	free(text);
}

static void
command(struct peer *p, const char *cmd)
{
	char buf[64];
	const char *v;

	if (!strncmp(cmd, "close:", 6)) {
		command_close(p->conn, cmd + 6);
	} else if (!strcmp(cmd, "protocol")) {
		v = wsev_connection_get_protocol(p->conn);
		reply(p->conn, "protocol:", v ? v : "(none)");
	} else if (!strncmp(cmd, "header:", 7)) {
		v = evhttp_find_header(&p->headers, cmd + 7);
		reply(p->conn, "header:", v ? v : "(none)");
	} else if (!strcmp(cmd, "extensions")) {
		command_extensions(p->conn);
	} else if (!strncmp(cmd, "fragments:", 10)) {
		command_fragments(p->conn, cmd + 10);
	} else if (!strncmp(cmd, "buffer:", 7)) {
		command_buffer(p->conn, cmd + 7);
	} else if (!strcmp(cmd, "pongs")) {
		snprintf(buf, sizeof(buf), "%lu", p->pongs);
		reply(p->conn, "pongs:", buf);
	} else if (!strcmp(cmd, "chunks")) {
		snprintf(buf, sizeof(buf), "%lu:%zu", p->last_chunks,
		    p->last_max_chunk);
		reply(p->conn, "chunks:", buf);
	} else {
		reply(p->conn, "unknown-command:", cmd);
	}
}

static void
on_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	int rv;

	if (type == WSEV_DATA_TEXT && len >= 4 && !memcmp(data, "cmd:", 4)) {
		command(arg, (const char *)data + 4);
		return;
	}
	/* With the length: a text message may hold U+0000. */
	rv = wsev_connection_send_message(conn, type, data, len);
	/* Messages that arrive after our close frame cannot be answered. */
	if (rv < 0 && wsev_connection_get_state(conn) == WSEV_STATE_OPEN)
		fprintf(stderr, "peer-server: cannot echo a %s message of %zu "
		    "bytes\n", type == WSEV_DATA_TEXT ? "text" : "binary", len);
}

static void
on_pong(struct wsev_connection *conn, const void *data, size_t len, void *arg)
{
	(void)conn;
	(void)data;
	(void)len;
	((struct peer *)arg)->pongs++;
}

/* --chunk-size: gather the pieces, then treat the message as on_message
 * does; the echo goes out with send_buffer, reassembled. */
static void
on_message_chunk(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, int last, void *arg)
{
	struct peer *p = arg;
	size_t n;
	char *s;

	if (len > chunk_size)
		fprintf(stderr, "peer-server: a piece of %zu bytes with "
		    "--chunk-size %zu\n", len, chunk_size);
	p->chunks++;
	if (len > p->max_chunk)
		p->max_chunk = len;
	if (evbuffer_add(p->partial, data, len) < 0) {
		fprintf(stderr, "peer-server: out of memory\n");
		return;
	}
	if (!last)
		return;
	n = evbuffer_get_length(p->partial);
	if (type == WSEV_DATA_TEXT && n >= 4 && n < 4096) {
		s = malloc(n + 1);
		if (s && evbuffer_remove(p->partial, s, n) == (int)n) {
			s[n] = '\0';
			if (!memcmp(s, "cmd:", 4)) {
				/* cmd:chunks reports the message before. */
				p->chunks = 0;
				p->max_chunk = 0;
				command(p, s + 4);
				free(s);
				return;
			}
			evbuffer_add(p->partial, s, n);
		}
		free(s);
	}
	p->last_chunks = p->chunks;
	p->last_max_chunk = p->max_chunk;
	p->chunks = 0;
	p->max_chunk = 0;
	if (wsev_connection_send_buffer(conn, type, p->partial) < 0 &&
	    wsev_connection_get_state(conn) == WSEV_STATE_OPEN)
		fprintf(stderr, "peer-server: cannot echo a reassembled "
		    "message of %zu bytes\n", n);
	evbuffer_drain(p->partial, evbuffer_get_length(p->partial));
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	const char *data = wsev_connection_get_close_data(conn);

	printf("closed code=%u data=%s\n",
	    (unsigned)wsev_connection_get_close_code(conn),
	    data ? data : "(null)");
	fflush(stdout);
	wsev_connection_free(conn);
	evhttp_clear_headers(&((struct peer *)arg)->headers);
	if (((struct peer *)arg)->partial)
		evbuffer_free(((struct peer *)arg)->partial);
	free(arg);
}

static void
on_websocket(struct wsev_connection *conn, struct evhttp_request *req,
    void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message,
		.closed = on_closed,
		.error = tt_server_error_cb,
		.pong = on_pong,
	};
	static const struct wsev_callbacks chunk_cbs = {
		.message_chunk = on_message_chunk,
		.closed = on_closed,
		.error = tt_server_error_cb,
		.pong = on_pong,
	};
	struct peer *p = calloc(1, sizeof(*p));
	struct evkeyval *kv;

	(void)arg;
	if (!p) {
		fprintf(stderr, "peer-server: out of memory\n");
		wsev_connection_free(conn);
		return;
	}
	p->conn = conn;
	TAILQ_INIT(&p->headers);
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next) {
		if (evhttp_add_header(&p->headers, kv->key, kv->value) < 0) {
			fprintf(stderr, "peer-server: out of memory\n");
			evhttp_clear_headers(&p->headers);
			free(p);
			wsev_connection_free(conn);
			return;
		}
	}
	if (max_payload_set)
		wsev_connection_set_max_incoming_payload_size(conn,
		    max_payload);
	if (max_outgoing_set)
		wsev_connection_set_max_outgoing_buffer(conn,
		    (size_t)max_outgoing);
	if (chunk_size) {
		p->partial = evbuffer_new();
		if (!p->partial ||
		    wsev_connection_set_chunk_size(conn, chunk_size) < 0) {
			fprintf(stderr, "peer-server: cannot receive in chunks "
			    "of %zu\n", chunk_size);
			if (p->partial)
				evbuffer_free(p->partial);
			evhttp_clear_headers(&p->headers);
			free(p);
			wsev_connection_free(conn);
			return;
		}
	}
	wsev_connection_set_callbacks(conn, chunk_size ? &chunk_cbs : &cbs, p);
}

static int
usage(void)
{
	fprintf(stderr, "usage: peer-server [--tls CERT KEY] "
	    "[--max-payload N] [--max-outgoing N] [--protocol NAME]...\n"
	    "                   [--no-deflate] "
	    "[--deflate-client-no-context-takeover]\n"
	    "                   [--deflate-server-no-context-takeover]\n"
	    "                   [--deflate-server-max-window-bits N]\n"
	    "                   [--deflate-client-max-window-bits N]\n"
	    "                   [--keepalive S] [--pong-timeout S] "
	    "[--chunk-size N]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *protocols[MAX_PROTOCOLS + 1] = { NULL };
	const char *cert = NULL, *key = NULL;
	struct wsev_connection_options co;
	struct wsev_handler *route;
	struct tt_server srv;
	int nproto = 0, i, rc;
	char *end;

	wsev_connection_options_init(&co);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else if (!strcmp(argv[i], "--max-payload") && i + 1 < argc) {
			max_payload = strtoull(argv[++i], &end, 10);
			if (*end || end == argv[i])
				return usage();
			max_payload_set = 1;
		} else if (!strcmp(argv[i], "--max-outgoing") && i + 1 < argc) {
			max_outgoing = strtoull(argv[++i], &end, 10);
			if (*end || end == argv[i])
				return usage();
			max_outgoing_set = 1;
		} else if (!strcmp(argv[i], "--no-deflate")) {
			co.deflate.enabled = 0;
		} else if (!strcmp(argv[i],
		    "--deflate-client-no-context-takeover")) {
			co.deflate.client_no_context_takeover = 1;
		} else if (!strcmp(argv[i],
		    "--deflate-server-no-context-takeover")) {
			co.deflate.server_no_context_takeover = 1;
		} else if (!strcmp(argv[i], "--deflate-server-max-window-bits") &&
		    i + 1 < argc) {
			co.deflate.server_max_window_bits = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--deflate-client-max-window-bits") &&
		    i + 1 < argc) {
			co.deflate.client_max_window_bits = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--keepalive") && i + 1 < argc) {
			co.keepalive_interval = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--pong-timeout") && i + 1 < argc) {
			co.keepalive_pong_timeout = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--chunk-size") && i + 1 < argc) {
			chunk_size = strtoul(argv[++i], &end, 10);
			if (*end || end == argv[i] || chunk_size < 4)
				return usage();
		} else if (!strcmp(argv[i], "--protocol") && i + 1 < argc &&
		    nproto < MAX_PROTOCOLS) {
			protocols[nproto++] = argv[++i];
		} else {
			return usage();
		}
	}
	if (tt_server_init(&srv, "peer-server", cert, key) < 0)
		return 1;
	evhttp_set_timeout(srv.http, 10);
	route = wsev_server_add_handler(srv.http, "/", NULL,
	    nproto ? protocols : NULL, on_websocket, NULL);
	if (route)
		wsev_handler_set_options(route, &co);
	if (evhttp_set_cb(srv.http, "/health", tt_server_health_cb, NULL) != 0)
		route = NULL;
	if (!route || tt_server_listen(&srv) < 0) {
		fprintf(stderr, "peer-server: cannot listen on 127.0.0.1\n");
		return 1;
	}
	rc = tt_server_run(&srv);
	wsev_server_remove_handler(route);
	tt_server_free(&srv);
	return rc;
}
