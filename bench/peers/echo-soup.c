/*
 * echo-soup: the libsoup 3 echo server of the benchmark, written the way a
 * libsoup user writes one: a SoupServer with a WebSocket handler, a
 * GMainLoop, every message sent back with its type.
 *
 *   echo-soup --port N [--broadcast]
 *
 * Listens on 127.0.0.1:N, single-threaded. With --broadcast every message
 * received on any connection is sent to every open connection, the sender
 * included. SIGTERM or SIGINT ends the loop and the exit status is 0.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <libsoup/soup.h>

#include "../servers/bench-opts.h"

/* The load generator sends messages of up to 16 MiB; libsoup's default
 * limit (128 KiB a frame) would close such a client with 1009. */
#define MAX_PAYLOAD (64u * 1024 * 1024)

static struct bench_opts opts;	/* --port N [--broadcast] */
static GList *conns;	/* every connection until its "closed" */

static void
on_message(SoupWebsocketConnection *conn, gint type, GBytes *message,
    gpointer arg)
{
	GList *l;

	(void)arg;
	/* A connection whose close has begun (the peer's close frame, an
	 * error) can still deliver a message, and stays in the list until
	 * its "closed": sending to it would only log a critical. */
	if (!opts.broadcast) {
		if (soup_websocket_connection_get_state(conn) ==
		    SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_send_message(conn, type,
			    message);
		return;
	}
	for (l = conns; l; l = l->next)
		if (soup_websocket_connection_get_state(l->data) ==
		    SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_send_message(l->data, type,
			    message);
}

static void
on_closed(SoupWebsocketConnection *conn, gpointer arg)
{
	(void)arg;
	conns = g_list_remove(conns, conn);
	g_object_unref(conn);
}

/* At exit: the last reference goes without a "closed" to come back. */
static void
drop(gpointer conn)
{
	g_signal_handlers_disconnect_by_func(conn, on_closed, NULL);
	g_object_unref(conn);
}

static void
on_websocket(SoupServer *server, SoupServerMessage *msg, const char *path,
    SoupWebsocketConnection *conn, gpointer arg)
{
	(void)server;
	(void)msg;
	(void)path;
	(void)arg;
	/* The server drops its reference when this returns. */
	g_object_ref(conn);
	soup_websocket_connection_set_max_incoming_payload_size(conn,
	    MAX_PAYLOAD);
	soup_websocket_connection_set_keepalive_interval(conn, 0);
	g_signal_connect(conn, "message", G_CALLBACK(on_message), NULL);
	g_signal_connect(conn, "closed", G_CALLBACK(on_closed), NULL);
	conns = g_list_prepend(conns, conn);
}

static gboolean
on_signal(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_CONTINUE;
}

/*
 * soup_server_listen_local() would do, but with GSocket's backlog of 10:
 * the load generator opens up to 256 connections at once. The others
 * listen with the system's maximum.
 */
static GSocket *
listen_on(long port, GError **error)
{
	GInetAddress *lo;
	GSocketAddress *addr;
	GSocket *sock;
	gboolean ok;

	sock = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_TCP, error);
	if (!sock)
		return NULL;
	g_socket_set_listen_backlog(sock, SOMAXCONN);
	lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	addr = g_inet_socket_address_new(lo, (guint16)port);
	ok = g_socket_bind(sock, addr, TRUE, error) &&
	    g_socket_listen(sock, error);
	g_object_unref(addr);
	g_object_unref(lo);
	if (!ok) {
		g_object_unref(sock);
		return NULL;
	}
	return sock;
}

int
main(int argc, char **argv)
{
	SoupServer *server;
	GSocket *sock = NULL;
	GMainLoop *loop;
	GError *error = NULL;
	int status;

	status = bench_opts_parse(&opts, "echo-soup", 0, argc, argv);
	if (status != 0)
		return status;

	server = soup_server_new(NULL, NULL);
	/* permessage-deflate is on by default: the benchmark compares
	 * servers without compression. */
	soup_server_remove_websocket_extension(server,
	    SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
	soup_server_add_websocket_handler(server, NULL, NULL, NULL,
	    on_websocket, NULL, NULL);
	if (!(sock = listen_on(opts.port, &error)) ||
	    !soup_server_listen_socket(server, sock, 0, &error)) {
		fprintf(stderr, "echo-soup: cannot listen on 127.0.0.1:%d: %s\n",
		    opts.port, error->message);
		g_error_free(error);
		if (sock)
			g_object_unref(sock);
		g_object_unref(server);
		return 1;
	}
	g_object_unref(sock);	/* the server holds it */
	loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGINT, on_signal, loop);
	g_unix_signal_add(SIGTERM, on_signal, loop);
	g_main_loop_run(loop);

	g_list_free_full(conns, drop);
	g_object_unref(server);
	g_main_loop_unref(loop);
	return 0;
}
