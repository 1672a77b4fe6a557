/*
 * Shared by the fuzz targets (test/fuzz/fuzz-*.c): the libFuzzer entry
 * point, a check that aborts with the failed condition (so libFuzzer and
 * the replay driver both see a crash), and reference decoders written
 * independently of the library's, to judge it against.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_FUZZ_H
#define WSEV_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Defined by each target; called by libFuzzer or by replay.c. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each target names itself: replay.c looks for corpus/<name>/ and
 * regress/<name>/ when it is run without arguments. */
extern const char wsev_fuzz_target_name[];

#define FUZZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, \
		    __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/*
 * The reference UTF-8 judge (RFC 3629), one byte at a time and by code
 * point value rather than by byte ranges, so that it shares no table with
 * lib/utf8.c. After each byte it asks: is there any way to finish the code
 * point begun so far as a scalar value of its own length (not overlong,
 * not a surrogate, not above U+10FFFF)? The value's known high bits give
 * the interval of values still possible; the prefix is viable iff that
 * interval meets the allowed set.
 */
struct ref_utf8 {
	unsigned len;		/* bytes in the current sequence, 0: between */
	unsigned got;		/* bytes of it seen */
	uint32_t bits;		/* value bits seen */
};

static inline int
ref_utf8_viable(const struct ref_utf8 *r)
{
	static const uint32_t min_for_len[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	unsigned left = r->len - r->got;
	uint32_t lo = r->bits << (6 * left);
	uint32_t hi = lo | ((UINT32_C(1) << (6 * left)) - 1);

	if (lo < min_for_len[r->len])
		lo = min_for_len[r->len];
	if (hi > 0x10FFFF)
		hi = 0x10FFFF;
	if (lo > hi)
		return 0;
	/* All that is left is inside U+D800..U+DFFF. */
	if (lo >= 0xD800 && hi <= 0xDFFF)
		return 0;
	return 1;
}

/* Feed one byte; 0 while the text so far can still be valid, else -1
 * (and the state must be reset before reuse). */
static inline int
ref_utf8_byte(struct ref_utf8 *r, uint8_t b)
{
	if (r->len == 0) {
		if (b < 0x80)
			return 0;
		if ((b & 0xE0) == 0xC0) {
			r->len = 2;
			r->bits = b & 0x1F;
		} else if ((b & 0xF0) == 0xE0) {
			r->len = 3;
			r->bits = b & 0x0F;
		} else if ((b & 0xF8) == 0xF0) {
			r->len = 4;
			r->bits = b & 0x07;
		} else {
			return -1;	/* a continuation byte or F8..FF */
		}
		r->got = 1;
	} else {
		if ((b & 0xC0) != 0x80)
			return -1;
		r->bits = (r->bits << 6) | (b & 0x3F);
		r->got++;
	}
	if (!ref_utf8_viable(r))
		return -1;
	if (r->got == r->len)
		r->len = 0;
	return 0;
}

/* The index of the first byte after which p[0..n) cannot be the start of
 * valid UTF-8, or n if there is none; *complete (may be NULL) tells
 * whether the text then ends between code points. */
static inline size_t
ref_utf8_first_bad(const uint8_t *p, size_t n, int *complete)
{
	struct ref_utf8 r = { 0, 0, 0 };
	size_t i;

	for (i = 0; i < n; i++)
		if (ref_utf8_byte(&r, p[i]) < 0)
			break;
	if (complete)
		*complete = i == n && r.len == 0;
	return i;
}

static inline int
ref_utf8_valid(const void *data, size_t n)
{
	int complete;

	return ref_utf8_first_bad(data, n, &complete) == n && complete;
}

#endif /* WSEV_FUZZ_H */
