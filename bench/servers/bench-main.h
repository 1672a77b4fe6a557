/*
 * bench-main: what the libevent echo servers of bench/servers/ share around
 * their echo logic, so that each main() is a few lines:
 *
 *   static struct bench_server srv = {
 *           .name = "echo-x", .flags = BENCH_OPTS_TLS };
 *
 *   if ((status = bench_server_init(&srv, argc, argv)) != 0)
 *           return status;                 // usage or set-up failed
 *   lev = bench_server_listen(&srv, on_accept, arg);
 *   status = lev ? bench_server_run(&srv) : 1;
 *   ... free the connections, then lev ...
 *   bench_server_free(&srv);
 *   return status;
 *
 * That is: the command line (bench-opts.h), SIGPIPE ignored, the SSL_CTX of
 * --tls CERT KEY, the event base, a listener on 127.0.0.1:PORT with a
 * backlog of 4096, and SIGTERM or SIGINT ending the loop with exit status 0.
 * Errors are printed on stderr as "NAME: why" (bench/run looks for "listen"
 * in them to retry on another port). The servers print nothing when ready:
 * bench/run connects until it is accepted. bench/run pins them to a CPU
 * (taskset); they do not pin themselves.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef BENCH_MAIN_H
#define BENCH_MAIN_H

#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/ssl.h>

#include "bench-opts.h"

struct bench_server {
	/* Set by the server. */
	const char *name;	/* its program name, for messages */
	int flags;		/* BENCH_OPTS_TLS if it serves TLS, else 0 */
	/* Set by bench_server_init. */
	struct bench_opts opts;
	struct event_base *base;
	SSL_CTX *ssl_ctx;	/* from --tls CERT KEY, else NULL */
};

/**
 * Parse the command line, ignore SIGPIPE, load the TLS context if --tls was
 * given, make the event base.
 * @return 0; or the exit status (2: bad command line, 1: set-up failed)
 * after printing why, with nothing left to free.
 */
int bench_server_init(struct bench_server *srv, int argc, char **argv);

/**
 * Listen on 127.0.0.1:port, backlog 4096, calling @p cb with @p arg for each
 * accepted (non-blocking) socket; @p cb NULL leaves the listener disabled,
 * for evhttp_bind_listener.
 * @return the listener, which the caller frees; NULL after printing
 * "NAME: cannot listen on 127.0.0.1:PORT".
 */
struct evconnlistener *bench_server_listen(struct bench_server *srv,
    evconnlistener_cb cb, void *arg);

/**
 * Run the event loop until SIGTERM or SIGINT.
 * @return 0; 1 after printing why the signals or the loop failed.
 */
int bench_server_run(struct bench_server *srv);

/** Free the event base and the TLS context; call after freeing the rest. */
void bench_server_free(struct bench_server *srv);

#endif
