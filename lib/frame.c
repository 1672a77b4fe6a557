/*
 * RFC 6455 §5 frame codec.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "frame.h"

#include <string.h>

int
wsev_frame_parse_header_(const uint8_t *p, size_t n, unsigned rsv_allowed,
    struct wsev_frame_header *h, const char **why)
{
	size_t need = 2;
	uint64_t len;
	unsigned i;

	if (n < 2)
		return 0;
	h->fin = p[0] >> 7;
	h->rsv = (p[0] >> 4) & 0x7;
	h->opcode = p[0] & 0xF;
	h->masked = p[1] >> 7;
	len = p[1] & 0x7F;

	/* RFC 6455 §5.2: RSV bits are 0 unless an extension defines them. */
	if (h->rsv & ~rsv_allowed) {
		*why = "reserved bits set with no extension to define them";
		return -1;
	}
	/* §5.2: opcodes 3-7 and 11-15 are reserved. */
	if ((h->opcode >= 3 && h->opcode <= 7) || h->opcode >= 11) {
		*why = "reserved opcode";
		return -1;
	}
	if (WSEV_OP_IS_CONTROL(h->opcode)) {
		/* §5.5: control frames are never fragmented, and fit 125 bytes. */
		if (!h->fin) {
			*why = "fragmented control frame";
			return -1;
		}
		if (len > WSEV_CONTROL_MAX_PAYLOAD) {
			*why = "control frame payload over 125 bytes";
			return -1;
		}
	}

	if (len == 126)
		need += 2;
	else if (len == 127)
		need += 8;
	if (h->masked)
		need += 4;
	if (n < need)
		return 0;

	if (len == 126) {
		len = ((uint64_t)p[2] << 8) | p[3];
		/* §5.2: "the minimal number of bytes MUST be used". */
		if (len < 126) {
			*why = "non-minimal 16-bit payload length";
			return -1;
		}
		i = 4;
	} else if (len == 127) {
		if (p[2] & 0x80) {
			*why = "64-bit payload length with the top bit set";
			return -1;
		}
		len = 0;
		for (i = 2; i < 10; i++)
			len = (len << 8) | p[i];
		if (len <= 0xFFFF) {
			*why = "non-minimal 64-bit payload length";
			return -1;
		}
	} else {
		i = 2;
	}
	h->len = len;
	if (h->masked)
		memcpy(h->key, p + i, 4);
	else
		memset(h->key, 0, 4);
	h->hlen = need;
	return (int)need;
}

size_t
wsev_frame_header_size_(uint64_t len, int masked)
{
	size_t n = 2;

	if (len > 0xFFFF)
		n += 8;
	else if (len > 125)
		n += 2;
	return masked ? n + 4 : n;
}

size_t
wsev_frame_write_header_(uint8_t *out, unsigned b0, uint64_t len,
    const uint8_t *key)
{
	size_t n;
	int i;

	out[0] = (uint8_t)b0;
	if (len <= 125) {
		out[1] = (uint8_t)len;
		n = 2;
	} else if (len <= 0xFFFF) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (key) {
		out[1] |= 0x80;
		memcpy(out + n, key, 4);
		n += 4;
	}
	return n;
}

size_t
wsev_frame_close_body_(uint8_t out[WSEV_CONTROL_MAX_PAYLOAD], unsigned code,
    const void *reason, size_t rlen)
{
	if (code == 0 || code == 1005)
		return 0;
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (rlen > WSEV_CONTROL_MAX_PAYLOAD - 2)
		rlen = WSEV_CONTROL_MAX_PAYLOAD - 2;
	if (rlen)
		memcpy(out + 2, reason, rlen);
	return 2 + rlen;
}

#if defined(__GNUC__)
/* GCC's and Clang's portable vectors: SSE2 on x86-64, NEON on arm64. */
typedef uint64_t mask_vec __attribute__((vector_size(32)));
#endif

size_t
wsev_mask_copy_(uint8_t *dst, const uint8_t *src, size_t n,
    const uint8_t key[4], size_t offset)
{
	uint8_t rot[32];
	uint64_t k64, w;
	size_t i = 0;
	int j;

	offset &= 3;
	/* The key rotated so that rot[0] applies to src[0], repeated. */
	for (j = 0; j < 32; j++)
		rot[j] = key[(offset + (size_t)j) & 3];
	/* Loads and stores through memcpy: no alignment assumptions, and the
	 * compiler turns them into plain (unaligned) vector or word moves. */
#if defined(__GNUC__)
	{
		mask_vec kv, v;

		memcpy(&kv, rot, sizeof(kv));
		for (; i + sizeof(v) <= n; i += sizeof(v)) {
			memcpy(&v, src + i, sizeof(v));
			v ^= kv;
			memcpy(dst + i, &v, sizeof(v));
		}
	}
#endif
	memcpy(&k64, rot, 8);
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, src + i, 8);
		w ^= k64;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ rot[i & 7];
	return (offset + n) & 3;
}
