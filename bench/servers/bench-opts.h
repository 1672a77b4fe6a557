/*
 * bench-opts: the command line every C echo server of the benchmark takes
 * (bench/servers/ and bench/peers/), parsed once:
 *
 *   NAME --port N [--tls CERT KEY] [--broadcast]
 *
 * --tls only for the servers that serve TLS; anything else prints the usage
 * line. Plain C, libc only, so that the peers on their own loops can use it.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

/* bench_opts_parse's flags: the server takes --tls CERT KEY. */
#define BENCH_OPTS_TLS 1

struct bench_opts {
	int port;		/* listen on 127.0.0.1:port (0 to 65535) */
	/* --broadcast: every message to every connection, the sender's
	 * included. */
	int broadcast;
	const char *cert, *key;	/* --tls CERT KEY (PEM files), or NULL */
};

/**
 * Fill @p opts from @p argv. @p name is the program's, for the usage line;
 * @p flags is 0 or BENCH_OPTS_TLS.
 * @return 0; or 2, the exit status for a bad command line, after printing
 * "usage: NAME --port N [--tls CERT KEY] [--broadcast]" on stderr.
 */
int bench_opts_parse(struct bench_opts *opts, const char *name, int flags,
    int argc, char **argv);

#endif
