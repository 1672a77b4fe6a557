/*
 * The one error shape: caller-owned, fixed size, never printed.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"

#include <stdarg.h>
#include <stdio.h>

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
