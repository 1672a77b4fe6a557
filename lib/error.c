/*
 * The one error shape: caller-owned, fixed size, never printed.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include <openssl/err.h>

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

void
wsev_error_set_(struct wsev_error *err, enum wsev_error_domain domain,
    int code, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (!err)
		return;
	err->domain = domain;
	err->code = code;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	/* One line, whatever a peer or a caller put in it (a URL, a header,
	 * a reason): control characters become spaces. */
	for (p = err->message; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = ' ';
}

const char *
wsev_get_version(void)
{
	return WSEV_VERSION_STRING;
}

/*
 * The TLS error behind a bufferevent's failure, or 0. libevent 2.1 keeps
 * SSL_get_error()'s value (SSL_ERROR_SYSCALL for a TCP reset) in the same
 * list as OpenSSL's error codes, newest first: only a code with a library
 * is a TLS error; without one the socket error is the real cause. The list
 * is emptied.
 */
unsigned long
wsev_tls_error_(struct bufferevent *bev)
{
	unsigned long e, first = 0;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (!first && ERR_GET_LIB(e) != 0)
			first = e;
	return first;
}
