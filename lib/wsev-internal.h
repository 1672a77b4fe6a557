/*
 * Private declarations shared by the library's source files.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_INTERNAL_H
#define WSEV_INTERNAL_H

#include "wsev/wsev.h"

#if defined(__GNUC__)
#define WSEV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define WSEV_PRINTF(a, b)
#endif

/* Fill *err (which may be NULL) with a domain, a code and a formatted message. */
void wsev_error_set_(struct wsev_error *err, enum wsev_error_domain domain,
    int code, const char *fmt, ...) WSEV_PRINTF(4, 5);

#endif /* WSEV_INTERNAL_H */
