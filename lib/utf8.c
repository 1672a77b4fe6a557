/*
 * Incremental UTF-8 validator, RFC 3629 §4 taken literally:
 *
 *   UTF8-1 = %x00-7F
 *   UTF8-2 = %xC2-DF UTF8-tail
 *   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *            %xF4 %x80-8F 2( UTF8-tail )
 *   UTF8-tail = %x80-BF
 *
 * Only the byte after the lead byte ever has a range narrower than
 * 80..BF, so the whole state is "how many bytes are left" and "the range
 * of the next one". Every restriction (overlong forms, surrogates, values
 * above U+10FFFF) shows up in the lead byte or the one after it, which is
 * what lets us fail at the first impossible byte.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "utf8.h"

#include <string.h>

/* The high bit of each byte of a 64-bit word. */
#define HIGH_BITS UINT64_C(0x8080808080808080)

int
wsev_utf8_feed_(struct wsev_utf8 *u, const void *data, size_t n)
{
	const unsigned char *p = data;
	const unsigned char *end;
	unsigned need = u->need, lo = u->lo, hi = u->hi;
	unsigned c;
	uint64_t w;

	/* An empty fragment may come as data == NULL, and NULL + 0 is UB. */
	if (n == 0)
		return 0;
	end = p + n;
	while (p < end) {
		c = *p;
		if (need > 0) {
			if (c < lo || c > hi)
				return -1;
			need--;
			lo = 0x80;
			hi = 0xBF;
			p++;
			continue;
		}

		if (c < 0x80) {
			/*
			 * Between code points, skip ASCII a word at a time.
			 * memcpy, not a cast: p has no alignment, and the
			 * compiler turns this into one load where that is
			 * allowed. The test ignores byte order.
			 */
			while ((size_t)(end - p) >= sizeof(w)) {
				memcpy(&w, p, sizeof(w));
				if (w & HIGH_BITS)
					break;
				p += sizeof(w);
			}
			/* Under 8 bytes left, or a non-ASCII byte within 8. */
			while (p < end && *p < 0x80)
				p++;
			continue;
		}

		/*
		 * A lead byte. 80..BF cannot start a character; C0 and C1 only
		 * start overlong forms of U+0000..U+007F; F5..FF would encode
		 * values above U+10FFFF (RFC 3629 §3, §4).
		 */
		if (c < 0xC2)
			return -1;
		/* Set, not assumed: a zeroed state has lo == hi == 0. */
		lo = 0x80;
		hi = 0xBF;
		if (c < 0xE0) {
			need = 1;
		} else if (c < 0xF0) {
			need = 2;
			/* E0 80..9F would be overlong (below U+0800). */
			if (c == 0xE0)
				lo = 0xA0;
			/* ED A0..BF would be U+D800..U+DFFF: surrogates. */
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c < 0xF5) {
			need = 3;
			/* F0 80..8F would be overlong (below U+10000). */
			if (c == 0xF0)
				lo = 0x90;
			/* F4 90..BF would be above U+10FFFF. */
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			return -1;
		}
		p++;
	}

	u->need = (uint8_t)need;
	u->lo = (uint8_t)lo;
	u->hi = (uint8_t)hi;
	return 0;
}

int
wsev_utf8_valid_(const void *data, size_t n)
{
	struct wsev_utf8 u;

	wsev_utf8_init_(&u);
	if (wsev_utf8_feed_(&u, data, n) == -1)
		return 0;
	return wsev_utf8_complete_(&u);
}
