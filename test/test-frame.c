/*
 * Unit tests of the frame codec (lib/frame.c): header parsing and writing,
 * every length encoding, every header-level violation, and masking.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "frame.h"
#include "tt.h"

#include <stdlib.h>

static int
parse(const uint8_t *p, size_t n, struct wsev_frame_header *h)
{
	const char *why = NULL;
	int r = wsev_frame_parse_header_(p, n, 0, h, &why);

	if (r < 0 && !why)
		return -2;	/* a violation must say why */
	return r;
}

static void
test_lengths(void)
{
	static const uint64_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536,
	    (uint64_t)1 << 32, ((uint64_t)1 << 63) - 1 };
	uint8_t buf[WSEV_FRAME_MAX_HEADER];
	uint8_t key[4] = { 1, 2, 3, 4 };
	struct wsev_frame_header h;
	size_t i, n, k;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (k = 0; k < 2; k++) {
			n = wsev_frame_write_header_(buf, WSEV_B0(1, 0, WSEV_OP_BINARY),
			    lens[i], k ? key : NULL);
			CHECK_INT(n, ==, wsev_frame_header_size_(lens[i], (int)k));
			CHECK_INT(n, ==, (lens[i] <= 125 ? 2 : lens[i] <= 65535 ?
			    4 : 10) + 4 * k);
			/* Every proper prefix asks for more. */
			for (size_t j = 0; j < n; j++)
				CHECK_INT(parse(buf, j, &h), ==, 0);
			CHECK_INT(parse(buf, n, &h), ==, (int)n);
			CHECK_INT(h.len, ==, lens[i]);
			CHECK_INT(h.masked, ==, k);
			CHECK_INT(h.fin, ==, 1);
			CHECK_INT(h.opcode, ==, WSEV_OP_BINARY);
			CHECK_INT(h.hlen, ==, n);
			if (k)
				CHECK(memcmp(h.key, key, 4) == 0);
		}
	}
	/* Header bytes in network order. */
	n = wsev_frame_write_header_(buf, WSEV_B0(1, 0, WSEV_OP_TEXT), 0x1234,
	    NULL);
	CHECK_INT(n, ==, 4);
	CHECK(buf[0] == 0x81 && buf[1] == 126 && buf[2] == 0x12 && buf[3] == 0x34);
	n = wsev_frame_write_header_(buf, WSEV_B0(0, 4, WSEV_OP_CONTINUATION),
	    0x10000, key);
	CHECK_INT(n, ==, 14);
	CHECK(buf[0] == 0x40 && buf[1] == (0x80 | 127));
	CHECK(buf[7] == 1 && buf[8] == 0 && buf[9] == 0);
	CHECK(memcmp(buf + 10, key, 4) == 0);
}

static void
test_violations(void)
{
	static const struct {
		const char *name;
		uint8_t bytes[14];
		size_t n;
	} bad[] = {
		{ "rsv1", { 0xC1, 0x00 }, 2 },
		{ "rsv2", { 0xA1, 0x00 }, 2 },
		{ "rsv3", { 0x91, 0x00 }, 2 },
		{ "op3", { 0x83, 0x00 }, 2 },
		{ "op7", { 0x87, 0x00 }, 2 },
		{ "op11", { 0x8B, 0x00 }, 2 },
		{ "op15", { 0x8F, 0x00 }, 2 },
		{ "ping no fin", { 0x09, 0x00 }, 2 },
		{ "close no fin", { 0x08, 0x00 }, 2 },
		{ "ping 126", { 0x89, 126, 0x00, 126 }, 4 },
		{ "pong 127-len", { 0x8A, 127 }, 2 },
		{ "16-bit for 125", { 0x82, 126, 0x00, 125 }, 4 },
		{ "16-bit for 0", { 0x82, 126, 0x00, 0x00 }, 4 },
		{ "64-bit for 65535", { 0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF }, 10 },
		{ "64-bit for 1", { 0x82, 127, 0, 0, 0, 0, 0, 0, 0, 1 }, 10 },
		{ "64-bit top bit", { 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 10 },
		{ "64-bit all ones", { 0x82, 127, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		    0xFF, 0xFF, 0xFF }, 10 },
	};
	struct wsev_frame_header h;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse(bad[i].bytes, bad[i].n, &h);
		if (r != -1)
			printf("  case %s: got %d\n", bad[i].name, r);
		CHECK_INT(r, ==, -1);
	}
	/* RSV bits an extension allows pass. */
	{
		const uint8_t b[] = { 0xC1, 0x00 };
		const char *why;
		CHECK_INT(wsev_frame_parse_header_(b, 2, 4, &h, &why), ==, 2);
		CHECK_INT(h.rsv, ==, 4);
	}
	/* Control frames at the limit pass. */
	{
		const uint8_t b[] = { 0x89, 125 };
		CHECK_INT(parse(b, 2, &h), ==, 2);
		CHECK_INT(h.len, ==, 125);
	}
}

static void
test_mask(void)
{
	uint8_t src[67], dst[67], ref[67];
	const uint8_t key[4] = { 0x37, 0xFA, 0x21, 0x3D };
	size_t n, off, cut, i, o;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 3);
	for (n = 0; n <= sizeof(src); n++) {
		for (off = 0; off < 4; off++) {
			for (i = 0; i < n; i++)
				ref[i] = src[i] ^ key[(off + i) & 3];
			memset(dst, 0, sizeof(dst));
			CHECK_INT(wsev_mask_copy_(dst, src, n, key, off), ==,
			    (off + n) & 3);
			CHECK(memcmp(dst, ref, n) == 0);
			/* In two pieces, continuing the key offset. */
			cut = n / 3;
			o = wsev_mask_copy_(dst, src, cut, key, off);
			wsev_mask_copy_(dst + cut, src + cut, n - cut, key, o);
			CHECK(memcmp(dst, ref, n) == 0);
			/* In place. */
			memcpy(dst, src, n);
			wsev_mask_copy_(dst, dst, n, key, off);
			CHECK(memcmp(dst, ref, n) == 0);
		}
	}
	/* Misaligned source and destination. */
	for (o = 1; o < 8; o++) {
		wsev_mask_copy_(dst + o, src + 8 - o, 50, key, 0);
		for (i = 0; i < 50; i++)
			CHECK(dst[o + i] == (src[8 - o + i] ^ key[i & 3]));
	}
}

static void
test_random_roundtrip(void)
{
	uint8_t buf[WSEV_FRAME_MAX_HEADER];
	struct wsev_frame_header h;
	unsigned seed = 12345;
	int i;

	for (i = 0; i < 100000; i++) {
		uint64_t len;
		uint8_t key[4];
		unsigned op, fin;
		int masked;
		size_t n;

		seed = seed * 1103515245u + 12345u;
		op = (seed >> 8) % 3;
		if ((seed >> 16) & 1)
			op = WSEV_OP_PING + ((seed >> 17) % 2);
		fin = WSEV_OP_IS_CONTROL(op) ? 1 : (seed >> 20) & 1;
		masked = (seed >> 21) & 1;
		len = WSEV_OP_IS_CONTROL(op) ? (seed >> 3) % 126 :
		    ((uint64_t)seed << 7) >> ((seed >> 24) % 40);
		memcpy(key, &seed, 4);
		n = wsev_frame_write_header_(buf, WSEV_B0(fin, 0, op), len,
		    masked ? key : NULL);
		CHECK_INT(parse(buf, n, &h), ==, (int)n);
		CHECK_INT(h.len, ==, len);
		CHECK_INT(h.opcode, ==, op);
		CHECK_INT(h.fin, ==, fin);
	}
}

/* One way to build a close frame's body: the code, then the reason. */
static void
test_close_body(void)
{
	uint8_t b[WSEV_CONTROL_MAX_PAYLOAD];
	char reason[200];

	CHECK_INT(wsev_frame_close_body_(b, 1000, "bye", 3), ==, 5);
	CHECK(memcmp(b, "\x03\xe8" "bye", 5) == 0);
	CHECK_INT(wsev_frame_close_body_(b, 4999, NULL, 0), ==, 2);
	CHECK(b[0] == 0x13 && b[1] == 0x87);
	/* 1005 and 0 mean "no status": an empty body. */
	CHECK_INT(wsev_frame_close_body_(b, 1005, "x", 1), ==, 0);
	CHECK_INT(wsev_frame_close_body_(b, 0, NULL, 0), ==, 0);
	/* A reason is cut to fit a control frame, never past it. */
	memset(reason, 'r', sizeof(reason));
	CHECK_INT(wsev_frame_close_body_(b, 1001, reason, sizeof(reason)), ==,
	    WSEV_CONTROL_MAX_PAYLOAD);
	CHECK(b[0] == 0x03 && b[1] == 0xe9 && b[124] == 'r');
}

static const struct tt_case cases[] = {
	{ "frame/close-body", test_close_body },
	{ "frame/lengths", test_lengths },
	{ "frame/violations", test_violations },
	{ "frame/mask", test_mask },
	{ "frame/random-roundtrip", test_random_roundtrip },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return tt_run(cases, argc > 1 ? argv[1] : NULL);
}
