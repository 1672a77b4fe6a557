/*
 * pair-demo: two WebSocket endpoints in one process, a server and a client
 * on the two ends of a socketpair(2). The client sends a few messages, the
 * server answers each, and the client closes the connection.
 *
 * This is the smallest complete use of the connection API: create the
 * connection on a bufferevent, set callbacks, send, close, free.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <wsev/wsev.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

static const char *const lines[] = { "hello", "how are you?", "κόσμε", NULL };
static int next_line;

static void
server_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	char reply[256];

	(void)arg;
	printf("server got %s message (%zu bytes): %s\n",
	    type == WSEV_DATA_TEXT ? "a text" : "a binary", len,
	    (const char *)data);
	snprintf(reply, sizeof(reply), "you said \"%s\"", (const char *)data);
	wsev_connection_send_text(conn, reply);
}

static void
client_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	(void)type;
	(void)len;
	(void)arg;
	printf("client got: %s\n", (const char *)data);
	if (lines[next_line])
		wsev_connection_send_text(conn, lines[next_line++]);
	else
		wsev_connection_close(conn, WSEV_CLOSE_NORMAL, "done");
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	printf("%s closed: code %u, reason \"%s\"\n", (const char *)arg,
	    wsev_connection_get_close_code(conn),
	    wsev_connection_get_close_data(conn) ?
	    wsev_connection_get_close_data(conn) : "");
	wsev_connection_free(conn);
}

static void
on_error(struct wsev_connection *conn, const struct wsev_error *err, void *arg)
{
	(void)conn;
	fprintf(stderr, "%s error: %s\n", (const char *)arg, err->message);
}

int
main(void)
{
	struct event_base *base = event_base_new();
	evutil_socket_t fds[2];
	struct bufferevent *sb, *cb;
	struct wsev_connection *server, *client;
	struct wsev_callbacks scbs, ccbs;

	if (!base || evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) {
		fprintf(stderr, "pair-demo: cannot create the socket pair\n");
		return 1;
	}
	evutil_make_socket_nonblocking(fds[0]);
	evutil_make_socket_nonblocking(fds[1]);
	sb = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	cb = bufferevent_socket_new(base, fds[1], BEV_OPT_CLOSE_ON_FREE);
	server = wsev_connection_new(sb, "ws://localhost/demo",
	    WSEV_CONNECTION_SERVER, NULL, NULL);
	client = wsev_connection_new(cb, "ws://localhost/demo",
	    WSEV_CONNECTION_CLIENT, NULL, NULL);
	if (!server || !client) {
		fprintf(stderr, "pair-demo: cannot create the connections\n");
		return 1;
	}

	memset(&scbs, 0, sizeof(scbs));
	scbs.message = server_message;
	scbs.closed = on_closed;
	scbs.error = on_error;
	wsev_connection_set_callbacks(server, &scbs, "server");
	memset(&ccbs, 0, sizeof(ccbs));
	ccbs.message = client_message;
	ccbs.closed = on_closed;
	ccbs.error = on_error;
	wsev_connection_set_callbacks(client, &ccbs, "client");

	printf("wsev %s: a WebSocket server and client over a socketpair\n",
	    wsev_get_version());
	wsev_connection_send_text(client, lines[next_line++]);
	event_base_dispatch(base);	/* returns once both sides are freed */
	event_base_free(base);
	return 0;
}
