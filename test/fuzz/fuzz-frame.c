/*
 * Fuzz target: the frame codec (lib/frame.c).
 *
 * Input: byte 0 = flags: bits 0-2 the RSV bits allowed to the parser,
 * bits 3-4 a mask key offset, bits 5-7 with byte 1 where to cut the
 * payload for the masking checks; the rest is parsed as a frame header,
 * drives the writer, and is masked.
 *
 * Contract checked (lib/frame.h):
 * - the parser returns -1, 0, or a header length no longer than its input
 *   and than WSEV_FRAME_MAX_HEADER; its verdict, once not 0, is the same
 *   for every longer input; 0 only while fewer than 14 bytes are given;
 * - a header it accepts obeys RFC 6455 §5.2 and §5.5 and is exactly what
 *   the writer produces for the same fields (so minimal, and round-trips);
 * - a header the writer produces parses back to its fields when they are
 *   legal, and is refused when they are not;
 * - wsev_mask_copy_ is a XOR with the key rotated by the offset: its own
 *   inverse, in place or not, resumable at any cut, offsets taken mod 4.
 * Every buffer is allocated at its exact size: an over-read is an ASan
 * report.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "fuzz.h"
#include "frame.h"

#include <string.h>

const char wsev_fuzz_target_name[] = "frame";

static uint8_t *
dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	FUZZ_CHECK(d != NULL);
	if (n)
		memcpy(d, p, n);
	return d;
}

static int
opcode_defined(unsigned op)
{
	return op <= 2 || (op >= 8 && op <= 10);
}

/* Parse the first n bytes of p from a buffer of exactly n bytes. */
static int
parse_exact(const uint8_t *p, size_t n, unsigned rsv_allowed,
    struct wsev_frame_header *h)
{
	uint8_t *b = dup_exact(p, n);
	const char *why = NULL;
	int r;

	memset(h, 0xA5, sizeof(*h));
	r = wsev_frame_parse_header_(b, n, rsv_allowed, h, &why);
	free(b);
	FUZZ_CHECK(r >= -1 && r <= WSEV_FRAME_MAX_HEADER);
	FUZZ_CHECK(r < 0 || (size_t)r <= n);
	if (r < 0)
		FUZZ_CHECK(why != NULL && *why != '\0');
	return r;
}

static void
check_parse(const uint8_t *p, size_t n, unsigned rsv_allowed)
{
	struct wsev_frame_header h, h2;
	uint8_t out[WSEV_FRAME_MAX_HEADER];
	size_t k, lim = n < WSEV_FRAME_MAX_HEADER ? n : WSEV_FRAME_MAX_HEADER;
	int r, first = 0, rk;

	r = parse_exact(p, n, rsv_allowed, &h);
	if (r == 0)
		FUZZ_CHECK(n < WSEV_FRAME_MAX_HEADER);

	/* Prefixes: 0 until the verdict, then the same verdict. */
	for (k = 0; k <= lim; k++) {
		rk = parse_exact(p, k, rsv_allowed, &h2);
		if (k < 2)
			FUZZ_CHECK(rk == 0);
		if (first != 0)
			FUZZ_CHECK(rk == first);
		else
			first = rk;
	}
	FUZZ_CHECK(first == r);

	if (r <= 0)
		return;
	FUZZ_CHECK((size_t)r == h.hlen);
	FUZZ_CHECK((size_t)r == wsev_frame_header_size_(h.len, (int)h.masked));
	FUZZ_CHECK(h.fin <= 1 && h.masked <= 1 && h.rsv <= 7 && h.opcode <= 15);
	FUZZ_CHECK((h.rsv & ~rsv_allowed) == 0);
	FUZZ_CHECK(opcode_defined(h.opcode));
	FUZZ_CHECK(!WSEV_OP_IS_CONTROL(h.opcode) ||
	    (h.fin && h.len <= WSEV_CONTROL_MAX_PAYLOAD));
	FUZZ_CHECK(h.len <= INT64_MAX);
	FUZZ_CHECK(h.masked ? memcmp(h.key, p + r - 4, 4) == 0 :
	    memcmp(h.key, "\0\0\0\0", 4) == 0);
	/* Minimal encodings only: the writer gives back the same bytes. */
	FUZZ_CHECK(wsev_frame_write_header_(out, WSEV_B0(h.fin, h.rsv, h.opcode),
	    h.len, h.masked ? h.key : NULL) == (size_t)r);
	FUZZ_CHECK(memcmp(out, p, (size_t)r) == 0);
}

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Writer first: fields from the input, written, parsed back. */
static void
check_write(const uint8_t *p, size_t n, unsigned rsv_allowed)
{
	struct wsev_frame_header h;
	uint8_t out[WSEV_FRAME_MAX_HEADER];
	unsigned fin, rsv, op, masked;
	uint64_t len;
	size_t hl, k;
	int legal, r;

	if (n < 14)
		return;
	fin = p[0] & 1;
	rsv = (p[0] >> 1) & 7;
	op = p[0] >> 4;
	masked = p[1] & 1;
	len = be64(p + 2);
	switch ((p[1] >> 1) & 3) {	/* the three encodings, and anything */
	case 0:
		len &= 0xFF;
		break;
	case 1:
		len &= 0xFFFF;
		break;
	case 2:
		len &= INT64_MAX;
		break;
	}
	hl = wsev_frame_write_header_(out, WSEV_B0(fin, rsv, op), len,
	    masked ? p + 10 : NULL);
	FUZZ_CHECK(hl == wsev_frame_header_size_(len, (int)masked));
	FUZZ_CHECK(hl >= 2 && hl <= WSEV_FRAME_MAX_HEADER);
	FUZZ_CHECK(hl == (len <= 125 ? 2u : len <= 0xFFFF ? 4u : 10u) +
	    (masked ? 4u : 0u));

	legal = opcode_defined(op) && (rsv & ~rsv_allowed) == 0 &&
	    len <= INT64_MAX &&
	    (!WSEV_OP_IS_CONTROL(op) || (fin && len <= 125));
	r = parse_exact(out, hl, rsv_allowed, &h);
	if (!legal) {
		FUZZ_CHECK(r == -1);
		return;
	}
	FUZZ_CHECK(r == (int)hl);
	FUZZ_CHECK(h.fin == fin && h.rsv == rsv && h.opcode == op &&
	    h.masked == masked && h.len == len && h.hlen == hl);
	if (masked)
		FUZZ_CHECK(memcmp(h.key, p + 10, 4) == 0);
	for (k = 0; k < hl; k++)
		FUZZ_CHECK(parse_exact(out, k, rsv_allowed, &h) == 0);
}

static void
check_mask(const uint8_t *key, size_t offset, const uint8_t *src, size_t n,
    size_t cut)
{
	uint8_t *a = dup_exact(src, n), *ref = dup_exact(src, n);
	uint8_t *dst = dup_exact(src, n), *back = dup_exact(src, n);
	size_t i, o;

	for (i = 0; i < n; i++)
		ref[i] = src[i] ^ key[(offset + i) & 3];

	memset(dst, 0, n);
	FUZZ_CHECK(wsev_mask_copy_(dst, a, n, key, offset) == ((offset + n) & 3));
	FUZZ_CHECK(memcmp(dst, ref, n) == 0);
	FUZZ_CHECK(memcmp(a, src, n) == 0);	/* the source is untouched */

	/* Its own inverse. */
	FUZZ_CHECK(wsev_mask_copy_(back, dst, n, key, offset) ==
	    ((offset + n) & 3));
	FUZZ_CHECK(memcmp(back, src, n) == 0);

	/* In place, and with the offset given modulo 4 or not. */
	FUZZ_CHECK(wsev_mask_copy_(a, a, n, key, offset + 4 * 1021) ==
	    ((offset + n) & 3));
	FUZZ_CHECK(memcmp(a, ref, n) == 0);

	/* Cut anywhere and resumed with the returned offset. */
	if (cut > n)
		cut = n;
	memcpy(a, src, n);
	o = wsev_mask_copy_(a, a, cut, key, offset);
	FUZZ_CHECK(o == ((offset + cut) & 3));
	o = wsev_mask_copy_(a + cut, a + cut, n - cut, key, o);
	FUZZ_CHECK(o == ((offset + n) & 3));
	FUZZ_CHECK(memcmp(a, ref, n) == 0);

	free(a);
	free(ref);
	free(dst);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero_key[4];
	unsigned flags, rsv_allowed;
	const uint8_t *p;
	size_t n;

	if (size < 1)
		return 0;
	flags = data[0];
	rsv_allowed = flags & 7;
	p = data + 1;
	n = size - 1;

	check_parse(p, n, rsv_allowed);
	check_parse(p, n, 7);
	check_write(p, n, rsv_allowed);
	check_mask(n >= 4 ? p : zero_key, (flags >> 3) & 3, p, n,
	    (size_t)(flags >> 5) * 37 + (n > 0 ? p[0] : 0));
	return 0;
}
