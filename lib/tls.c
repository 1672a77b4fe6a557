/*
 * OpenSSL helpers: the TLS error behind a bufferevent's failure, and the
 * application's error queue kept aside around calls that empty it.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"

#include <stdio.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include <openssl/err.h>

/*
 * libevent 2.1 keeps SSL_get_error()'s value (SSL_ERROR_SYSCALL for a TCP
 * reset) in the same list as OpenSSL's error codes, newest first: only a
 * code with a library is a TLS error; without one the socket error is the
 * real cause. The list is emptied.
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

void
wsev_tls_errors_save_(struct wsev_tls_errors_ *s)
{
	const char *file, *data;
	const char *func = NULL;
	unsigned long code;
	int line, flags;

	s->n = 0;
	for (;;) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
		code = ERR_get_error_all(&file, &line, &func, &data, &flags);
#else
		code = ERR_get_error_line_data(&file, &line, &data, &flags);
#endif
		if (code == 0)
			break;
		/* OpenSSL's queue is no deeper than this: nothing is lost. */
		if (s->n >= WSEV_TLS_ERRORS_MAX_)
			continue;
		s->e[s->n].code = code;
		snprintf(s->e[s->n].file, sizeof(s->e[s->n].file), "%s",
		    file ? file : "");
		s->e[s->n].line = line;
		snprintf(s->e[s->n].func, sizeof(s->e[s->n].func), "%s",
		    func ? func : "");
		s->e[s->n].has_data = data && (flags & ERR_TXT_STRING);
		if (s->e[s->n].has_data)
			snprintf(s->e[s->n].data, sizeof(s->e[s->n].data),
			    "%s", data);
		s->n++;
	}
}

void
wsev_tls_errors_restore_(const struct wsev_tls_errors_ *s)
{
	int i, lib, reason;

	for (i = 0; i < s->n; i++) {
		lib = ERR_GET_LIB(s->e[i].code);
		reason = ERR_GET_REASON(s->e[i].code);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
		ERR_new();
		ERR_set_debug(s->e[i].file, s->e[i].line, s->e[i].func);
		if (s->e[i].has_data)
			ERR_set_error(lib, reason, "%s", s->e[i].data);
		else
			ERR_set_error(lib, reason, NULL);
#else
		/* 1.1.1 keeps the file name's pointer, not a copy. */
		ERR_put_error(lib, 0, reason, "(wsev: restored)", s->e[i].line);
		if (s->e[i].has_data)
			ERR_add_error_data(1, s->e[i].data);
#endif
	}
}
