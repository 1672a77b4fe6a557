/*
 * The plumbing the wsev test servers share (test/hostile/hostile-server,
 * test/interop/peer-server): an evhttp server on 127.0.0.1 at a port the
 * system picks, TLS from a PEM certificate and key, the first line
 * "listening on ws://127.0.0.1:PORT/" (wss:// with TLS) that the shell
 * tests wait for, SIGINT and SIGTERM ending the loop, and an orderly free,
 * so that valgrind and the sanitizers see no leak. A server runs
 *
 *	tt_server_init(&srv, "NAME", cert, key)   base, evhttp, SSL_CTX
 *	... its routes and options on srv.http ...
 *	tt_server_listen(&srv)                    bind, learn the port
 *	rc = tt_server_run(&srv)                  signals, first line, loop
 *	wsev_server_remove_handler(route);
 *	tt_server_free(&srv)                      evhttp, guard, base, SSL_CTX
 *
 * Diagnostics go to stderr as "NAME: ...". samples/ do not use this: a
 * sample stays a program a user can copy on its own.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_TT_SERVER_H
#define WSEV_TT_SERVER_H

#include <wsev/wsev.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

struct tt_server {
	const char *name;		/* the program, for diagnostics */
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ctx;			/* NULL without TLS */
	/* Set by the caller if it wants one; freed after evhttp_free(). */
	struct wsev_guard *guard;
	struct evhttp_bound_socket *sock;
	int port;
	struct event *sigint, *sigterm;
};

/**
 * Ignore SIGPIPE, make the event_base and the evhttp, and with @p cert
 * (then @p key too) a TLS server context from those PEM files, which the
 * evhttp's connections use (a wsev_guard made later takes this over).
 * @return 0; or -1, with a line on stderr and @p s freed.
 */
int tt_server_init(struct tt_server *s, const char *name, const char *cert,
    const char *key);

/**
 * Bind 127.0.0.1 at a port the system picks and note it in s->port.
 * @return 0, or -1 (the caller reports it).
 */
int tt_server_listen(struct tt_server *s);

/**
 * Let SIGINT and SIGTERM end the loop, then print the "listening on" line
 * (signals first: a test may send SIGTERM as soon as it reads that line),
 * and run the loop.
 * @return 0 once a signal ended the loop, 1 on failure (said on stderr).
 */
int tt_server_run(struct tt_server *s);

/** Free what tt_server_init made, the evhttp first (it ends the
 * WebSockets still open), then the guard. NULL members are skipped. */
void tt_server_free(struct tt_server *s);

/** Answer 200 with the text/plain @p body, and free @p body. */
void tt_server_reply_text(struct evhttp_request *req, struct evbuffer *body);

/** An evhttp callback for "GET /health": 200 "ok". */
void tt_server_health_cb(struct evhttp_request *req, void *arg);

/** A wsev "error" callback: "error domain=D code=N: MESSAGE" on stderr
 * (the interop tests grep it). */
void tt_server_error_cb(struct wsev_connection *conn,
    const struct wsev_error *err, void *arg);

#endif /* WSEV_TT_SERVER_H */
