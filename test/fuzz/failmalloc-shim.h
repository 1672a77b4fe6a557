/*
 * Force-included (-include) into every source of test/test-failmalloc:
 * wsev calls malloc, calloc, realloc, free and strdup directly, and these
 * macros send those calls to the test's counting allocator, which can fail
 * the allocation it is told to. lib/ is not changed. The test's own file
 * undoes the macros and allocates with the real functions.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_FAILMALLOC_SHIM_H
#define WSEV_FAILMALLOC_SHIM_H

/* The test itself needs dladdr(); this header comes before anything else
 * in every file, so this is where the feature macro must be. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* The real declarations first, so that the macros cannot rename them. */
#include <stdlib.h>
#include <string.h>

void *wsev_fm_malloc(size_t n);
void *wsev_fm_calloc(size_t n, size_t size);
void *wsev_fm_realloc(void *p, size_t n);
void wsev_fm_free(void *p);
char *wsev_fm_strdup(const char *s);

#define malloc(n) wsev_fm_malloc(n)
#define calloc(n, size) wsev_fm_calloc((n), (size))
#define realloc(p, n) wsev_fm_realloc((p), (n))
#define free(p) wsev_fm_free(p)
#define strdup(s) wsev_fm_strdup(s)

#endif /* WSEV_FAILMALLOC_SHIM_H */
