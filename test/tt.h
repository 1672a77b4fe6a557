/*
 * A small test harness in the manner of libevent's tinytest: a table of
 * cases, each with its own event_base, checks that record the file and line
 * of a failure, and a closing line "N passed, M failed".
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_TT_H
#define WSEV_TT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

extern int tt_failed_checks;

#define CHECK(cond) do { \
	if (!(cond)) { \
		printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		tt_failed_checks++; \
	} \
} while (0)

#define CHECK_INT(a, op, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	if (!(a_ op b_)) { \
		printf("  %s:%d: CHECK_INT(%s %s %s) failed: %lld vs %lld\n", \
		    __FILE__, __LINE__, #a, #op, #b, a_, b_); \
		tt_failed_checks++; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
		printf("  %s:%d: CHECK_STR(%s, %s) failed: \"%s\" vs \"%s\"\n", \
		    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", \
		    b_ ? b_ : "(null)"); \
		tt_failed_checks++; \
	} \
} while (0)

/* Stop the current case when a check that later ones depend on fails. */
#define REQUIRE(cond) do { \
	if (!(cond)) { \
		printf("  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond); \
		tt_failed_checks++; \
		return; \
	} \
} while (0)

struct tt_case {
	const char *name;
	void (*fn)(void);
};

/* Run the cases whose name contains filter (all when NULL); print one line
 * per case and the summary. Returns the process exit status. */
int tt_run(const struct tt_case *cases, const char *filter);

#endif /* WSEV_TT_H */
