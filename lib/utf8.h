/*
 * Incremental UTF-8 validator (RFC 3629), for text messages (RFC 6455
 * §5.6, §8.1). No libevent, no allocation.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_UTF8_H
#define WSEV_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Validation state between fragments. A zero-initialised struct is at a
 * code point boundary, the same as after wsev_utf8_init_: lo and hi are
 * only read while need > 0, and every lead byte sets them.
 */
struct wsev_utf8 {
	uint8_t need;		/* continuation bytes still expected */
	uint8_t lo, hi;		/* allowed range of the next byte, need > 0 */
};

/* Start a new text (a message's first fragment). */
static inline void
wsev_utf8_init_(struct wsev_utf8 *u)
{
	u->need = 0;
	u->lo = 0x80;
	u->hi = 0xBF;
}

/*
 * Feed the n bytes at data, which may be cut anywhere, even inside a code
 * point; n == 0 is allowed and changes nothing. Returns 0 while the input
 * fed so far is a prefix of some valid UTF-8 text, -1 as soon as it cannot
 * be: the first byte that no continuation could make valid fails at once,
 * without waiting for more input (RFC 6455 §8.1 wants the connection
 * failed as soon as the text is known to be invalid). After -1 the state
 * is undefined; initialise it again before reuse.
 */
int wsev_utf8_feed_(struct wsev_utf8 *u, const void *data, size_t n);

/*
 * 1 if the input fed so far ends at a code point boundary (so, after
 * wsev_utf8_feed_ returned 0 every time, it is complete UTF-8), else 0.
 * A text message whose last fragment leaves this at 0 is invalid.
 */
static inline int
wsev_utf8_complete_(const struct wsev_utf8 *u)
{
	return u->need == 0;
}

/* Check a whole buffer: 1 if it is valid, complete UTF-8, else 0. */
int wsev_utf8_valid_(const void *data, size_t n);

#endif /* WSEV_UTF8_H */
