/*
 * Test harness runner.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "tt.h"

#include <stdlib.h>

int tt_failed_checks;

int
tt_run(const struct tt_case *cases, const char *filter)
{
	int passed = 0, failed = 0;
	const struct tt_case *tc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (tc = cases; tc->name; tc++) {
		int before = tt_failed_checks;

		if (filter && !strstr(tc->name, filter))
			continue;
		tc->fn();
		if (tt_failed_checks == before) {
			passed++;
			printf("ok %s\n", tc->name);
		} else {
			failed++;
			printf("FAIL %s\n", tc->name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
