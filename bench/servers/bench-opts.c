/*
 * bench-opts: the echo servers' command line (see bench-opts.h).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "bench-opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
usage(const char *name, int flags)
{
	fprintf(stderr, "usage: %s --port N%s [--broadcast]\n", name,
	    flags & BENCH_OPTS_TLS ? " [--tls CERT KEY]" : "");
	return 2;
}

int
bench_opts_parse(struct bench_opts *opts, const char *name, int flags,
    int argc, char **argv)
{
	long port = -1;
	char *end;
	int i;

	memset(opts, 0, sizeof(*opts));
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = strtol(argv[++i], &end, 10);
			if (*end || port < 0 || port > 65535)
				return usage(name, flags);
		} else if ((flags & BENCH_OPTS_TLS) &&
		    !strcmp(argv[i], "--tls") && i + 2 < argc) {
			opts->cert = argv[++i];
			opts->key = argv[++i];
		} else if (!strcmp(argv[i], "--broadcast")) {
			opts->broadcast = 1;
		} else {
			return usage(name, flags);
		}
	}
	if (port < 0)
		return usage(name, flags);
	opts->port = (int)port;
	return 0;
}
