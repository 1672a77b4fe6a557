/*
 * Fuzz target: the incremental UTF-8 validator (lib/utf8.c) against the
 * reference judge of fuzz.h, fed whole and in pieces cut where the input
 * says.
 *
 * Input: byte 0 = flags: bits 0-2 the number k of cuts, bit 3 start from a
 * zeroed state instead of wsev_utf8_init_(), bit 4 feed each empty piece
 * as (NULL, 0); bytes 1..k the lengths of the first k pieces (the last
 * piece is the rest); then the text.
 *
 * Contract checked (lib/utf8.h): every piece before the first impossible
 * byte returns 0, the piece holding it returns -1; complete_() tells
 * whether valid text ends between code points; wsev_utf8_valid_() agrees
 * with the reference on the whole text.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "fuzz.h"
#include "utf8.h"

#include <string.h>

const char wsev_fuzz_target_name[] = "utf8";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wsev_utf8 u;
	const uint8_t *text;
	size_t n, k, j, off, piece, bad;
	unsigned flags;
	int complete, r;

	if (size < 1)
		return 0;
	flags = data[0];
	k = flags & 7;
	if (size < 1 + k)
		return 0;
	text = data + 1 + k;
	n = size - 1 - k;
	bad = ref_utf8_first_bad(text, n, &complete);

	/* Whole. */
	FUZZ_CHECK(wsev_utf8_valid_(text, n) == (bad == n && complete));

	/* In pieces, each in a buffer of its own exact size, so that reading
	 * a byte past a piece is an ASan report. */
	if (flags & 8)
		memset(&u, 0, sizeof(u));
	else
		wsev_utf8_init_(&u);
	FUZZ_CHECK(wsev_utf8_complete_(&u));
	off = 0;
	for (j = 0; j <= k; j++) {
		uint8_t *buf;

		piece = j < k ? data[1 + j] : n - off;
		if (piece > n - off)
			piece = n - off;
		if (piece == 0 && (flags & 16)) {
			FUZZ_CHECK(wsev_utf8_feed_(&u, NULL, 0) == 0);
			continue;
		}
		buf = malloc(piece ? piece : 1);
		FUZZ_CHECK(buf != NULL);
		memcpy(buf, text + off, piece);
		r = wsev_utf8_feed_(&u, buf, piece);
		free(buf);
		if (bad < off + piece) {
			/* The first impossible byte is in this piece. */
			FUZZ_CHECK(r == -1);
			return 0;
		}
		FUZZ_CHECK(r == 0);
		/* Between code points exactly when the reference is. */
		FUZZ_CHECK(wsev_utf8_complete_(&u) ==
		    ref_utf8_valid(text, off + piece));
		off += piece;
	}
	FUZZ_CHECK(off == n && bad == n);
	FUZZ_CHECK(wsev_utf8_complete_(&u) == complete);
	return 0;
}
