/*
 * Small helpers with no better home: strdup, TCP_NODELAY, the version.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"

#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>

char *
wsev_strdup_(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

void
wsev_set_nodelay_(struct bufferevent *bev)
{
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	int one = 1;

	/* Best effort: not a TCP socket (a UNIX socket, a pair) is fine. */
	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
}

const char *
wsev_get_version(void)
{
	return WSEV_VERSION_STRING;
}
