/*
 * bench-main: the libevent echo servers' shared main (see bench-main.h).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "bench-main.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

/* As the peers: wsload opens connections 256 at a time. */
#define BACKLOG 4096

int
bench_server_init(struct bench_server *srv, int argc, char **argv)
{
	const char *cert, *key;
	int status;

	srv->base = NULL;
	srv->ssl_ctx = NULL;
	status = bench_opts_parse(&srv->opts, srv->name, srv->flags, argc,
	    argv);
	if (status != 0)
		return status;
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		fprintf(stderr, "%s: signal: %s\n", srv->name, strerror(errno));
		return 1;
	}
	if ((cert = srv->opts.cert) != NULL) {
		key = srv->opts.key;
		srv->ssl_ctx = SSL_CTX_new(TLS_server_method());
		if (!srv->ssl_ctx ||
		    SSL_CTX_use_certificate_chain_file(srv->ssl_ctx,
		    cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(srv->ssl_ctx, key,
		    SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "%s: cannot load %s and %s: %s\n",
			    srv->name, cert, key,
			    ERR_reason_error_string(ERR_get_error()));
			bench_server_free(srv);
			return 1;
		}
	}
	if (!(srv->base = event_base_new())) {
		fprintf(stderr, "%s: cannot create the event base\n",
		    srv->name);
		bench_server_free(srv);
		return 1;
	}
	return 0;
}

struct evconnlistener *
bench_server_listen(struct bench_server *srv, evconnlistener_cb cb,
    void *arg)
{
	struct evconnlistener *lev;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)srv->opts.port);
	lev = evconnlistener_new_bind(srv->base, cb, arg,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, BACKLOG,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (!lev)
		fprintf(stderr, "%s: cannot listen on 127.0.0.1:%d\n",
		    srv->name, srv->opts.port);
	return lev;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

int
bench_server_run(struct bench_server *srv)
{
	struct event *sigint, *sigterm;
	int status = 1;

	sigint = evsignal_new(srv->base, SIGINT, on_signal, srv->base);
	sigterm = evsignal_new(srv->base, SIGTERM, on_signal, srv->base);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sigterm, NULL) != 0)
		fprintf(stderr, "%s: cannot watch signals\n", srv->name);
	else if (event_base_dispatch(srv->base) < 0)
		fprintf(stderr, "%s: event loop failed\n", srv->name);
	else
		status = 0;
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	return status;
}

void
bench_server_free(struct bench_server *srv)
{
	if (srv->base)
		event_base_free(srv->base);
	SSL_CTX_free(srv->ssl_ctx);
	srv->base = NULL;
	srv->ssl_ctx = NULL;
}
