/*
 * Tests for the UTF-8 validator (lib/utf8.c): the Autobahn TestSuite
 * section 6 payloads, Markus Kuhn's decoder stress test categories, an
 * exhaustive and a random comparison with a reference decoder written
 * here, and the ASCII word-at-a-time path.
 *
 * Standalone: build with lib/utf8.c only. Prints "N passed, M failed" and
 * exits 0 only if nothing failed.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The harness: a case passes when none of its CHECKs failed.         */

static const char *case_name = "";
static unsigned case_failures;	/* CHECKs failed in the current case */
static unsigned reports;	/* failures printed so far, all cases */
static unsigned cases_passed, cases_failed;

/* An exhaustive loop that goes wrong would print millions of lines. */
#define MAX_REPORTS 40

static void
check_failed(const char *file, int line, const char *expr,
    const uint8_t *s, size_t n)
{
	size_t i;

	case_failures++;
	if (reports++ >= MAX_REPORTS) {
		if (reports == MAX_REPORTS + 1)
			printf("(further failures not shown)\n");
		return;
	}
	printf("%s:%d: [%s] CHECK failed: %s", file, line, case_name, expr);
	if (s != NULL) {
		printf("  input (%zu bytes):", n);
		for (i = 0; i < n && i < 80; i++)
			printf(" %02x", s[i]);
		if (n > 80)
			printf(" ...");
	}
	printf("\n");
}

#define CHECK(expr) do {						\
	if (!(expr))							\
		check_failed(__FILE__, __LINE__, #expr, NULL, 0);	\
} while (0)

/* CHECK that also shows the input bytes it was about. */
#define CHECK_IN(expr, s, n) do {					\
	if (!(expr))							\
		check_failed(__FILE__, __LINE__, #expr, (s), (n));	\
} while (0)

static void
case_begin(const char *name)
{
	case_name = name;
	case_failures = 0;
}

static void
case_end(void)
{
	if (case_failures == 0)
		cases_passed++;
	else
		cases_failed++;
}

/* ------------------------------------------------------------------ */
/* The reference decoder. Written for obviousness, not speed.         */

/*
 * RFC 3629 §3: a code point is encoded in the fewest bytes that hold it,
 * values stop at U+10FFFF, and U+D800..U+DFFF are not encoded at all.
 * ref_least[len] and ref_most[len] are the values a len-byte sequence may
 * carry.
 */
static const uint32_t ref_least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
static const uint32_t ref_most[5] = { 0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF };

/*
 * A partial sequence of len bytes can still be completed into a valid one
 * iff some value in [vmin, vmax] (its completions, a contiguous range) is
 * allowed for len bytes and is not a surrogate.
 */
static int
ref_possible(uint32_t vmin, uint32_t vmax, unsigned len)
{
	uint32_t lo = vmin > ref_least[len] ? vmin : ref_least[len];
	uint32_t hi = vmax < ref_most[len] ? vmax : ref_most[len];

	if (lo > hi)
		return 0;
	if (lo >= 0xD800 && hi <= 0xDFFF)
		return 0;
	return 1;
}

/*
 * Decode s[0..n). Returns the index of the first byte after which the
 * input can no longer be a prefix of valid UTF-8, or n if it still can;
 * then *complete tells whether it ends on a code point boundary.
 */
static size_t
ref_check(const uint8_t *s, size_t n, int *complete)
{
	size_t i = 0, k;
	unsigned len, rest;
	uint32_t v;

	*complete = 0;
	while (i < n) {
		if (s[i] < 0x80) {
			len = 1;
			v = s[i];
		} else if ((s[i] & 0xE0) == 0xC0) {
			len = 2;
			v = s[i] & 0x1F;
		} else if ((s[i] & 0xF0) == 0xE0) {
			len = 3;
			v = s[i] & 0x0F;
		} else if ((s[i] & 0xF8) == 0xF0) {
			len = 4;
			v = s[i] & 0x07;
		} else {
			/* A continuation byte, or F8..FF: starts nothing. */
			return i;
		}
		/* v holds the bits of the k bytes seen so far. */
		for (k = 1;; k++) {
			rest = 6 * (len - (unsigned)k);
			if (!ref_possible(v << rest,
			    (v << rest) | ((UINT32_C(1) << rest) - 1), len))
				return i + k - 1;
			if (k == len)
				break;
			if (i + k == n)
				return n;	/* cut short: incomplete */
			if ((s[i + k] & 0xC0) != 0x80)
				return i + k;
			v = (v << 6) | (s[i + k] & 0x3F);
		}
		i += len;
	}
	*complete = 1;
	return n;
}

/* Encode cp in exactly len bytes (overlong if len is more than needed). */
static size_t
encode_len(uint32_t cp, unsigned len, uint8_t *out)
{
	static const uint8_t lead[5] = { 0, 0x00, 0xC0, 0xE0, 0xF0 };
	unsigned i;

	for (i = len - 1; i > 0; i--) {
		out[i] = (uint8_t)(0x80 | (cp & 0x3F));
		cp >>= 6;
	}
	out[0] = (uint8_t)(lead[len] | cp);
	return len;
}

/* Encode cp (surrogates included, as CESU-8 would) in the fewest bytes. */
static size_t
encode(uint32_t cp, uint8_t *out)
{
	unsigned len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

	return encode_len(cp, len, out);
}

/* ------------------------------------------------------------------ */
/* Checking one input against the reference, in many fragmentations.  */

/*
 * Feed from an exact-size heap copy, so that AddressSanitizer catches a
 * read of even one byte past the fragment.
 */
static int
feed_copy(struct wsev_utf8 *u, const uint8_t *s, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	int r;

	if (c == NULL) {
		perror("malloc");
		exit(2);
	}
	if (n > 0)
		memcpy(c, s, n);
	r = wsev_utf8_feed_(u, c, n);
	free(c);
	return r;
}

/*
 * Check s[0..n) every way: whole buffer, from a zeroed state, cut in two
 * at every offset, one byte at a time, and the fail-fast point. want_valid
 * is the expected verdict, or -1 to take the reference's word for it.
 */
static void
check_all_ways(const uint8_t *s, size_t n, int want_valid)
{
	struct wsev_utf8 u;
	int complete, pcomplete, r;
	size_t bad = ref_check(s, n, &complete), k;
	int valid = bad == n && complete;
	int want_feed = bad == n ? 0 : -1;

	if (want_valid != -1)
		CHECK_IN(valid == want_valid, s, n);	/* the reference */

	CHECK_IN(wsev_utf8_valid_(s, n) == valid, s, n);

	wsev_utf8_init_(&u);
	r = feed_copy(&u, s, n);
	CHECK_IN(r == want_feed, s, n);
	if (r == 0)
		CHECK_IN(wsev_utf8_complete_(&u) == complete, s, n);

	/* The header promises a zeroed struct works as well as init. */
	memset(&u, 0, sizeof(u));
	r = feed_copy(&u, s, n);
	CHECK_IN(r == want_feed, s, n);
	if (r == 0)
		CHECK_IN(wsev_utf8_complete_(&u) == complete, s, n);

	/* Two fragments, cut at every offset, k == 0 and k == n included. */
	for (k = 0; k <= n; k++) {
		wsev_utf8_init_(&u);
		r = feed_copy(&u, s, k);
		if (bad < k) {
			/* The first fragment holds the bad byte: fail now. */
			CHECK_IN(r == -1, s, n);
			continue;
		}
		CHECK_IN(r == 0, s, n);
		if (r != 0)
			continue;
		r = feed_copy(&u, s + k, n - k);
		CHECK_IN(r == want_feed, s, n);
		if (r == 0)
			CHECK_IN(wsev_utf8_complete_(&u) == complete, s, n);
	}

	/* One byte at a time: 0 up to the bad byte, -1 exactly on it. */
	wsev_utf8_init_(&u);
	for (k = 0; k < n; k++) {
		r = feed_copy(&u, s + k, 1);
		if (k == bad) {
			CHECK_IN(r == -1, s, n);
			break;
		}
		CHECK_IN(r == 0, s, n);
		if (r != 0)
			break;
		(void)ref_check(s, k + 1, &pcomplete);
		CHECK_IN(wsev_utf8_complete_(&u) == pcomplete, s, n);
	}

	/*
	 * Fail fast (RFC 6455 §8.1): the prefix before the first impossible
	 * byte is accepted, the prefix through it is not.
	 */
	if (bad < n) {
		wsev_utf8_init_(&u);
		CHECK_IN(feed_copy(&u, s, bad) == 0, s, n);
		wsev_utf8_init_(&u);
		CHECK_IN(feed_copy(&u, s, bad + 1) == -1, s, n);
	}
}

/*
 * The same comparison, lighter, for the millions of inputs of the
 * exhaustive and random tests: whole buffer, byte at a time (the finest
 * fragmentation, which also finds the fail point), and one cut at `cut`.
 */
static void
check_quick(const uint8_t *s, size_t n, size_t cut)
{
	struct wsev_utf8 u;
	int complete, r = 0;
	size_t bad = ref_check(s, n, &complete), k;
	int valid = bad == n && complete;

	CHECK_IN(wsev_utf8_valid_(s, n) == valid, s, n);

	wsev_utf8_init_(&u);
	for (k = 0; k < n; k++) {
		r = wsev_utf8_feed_(&u, s + k, 1);
		if (r != 0)
			break;
	}
	/* k is where it failed, n if it never did: that must be bad. */
	CHECK_IN(k == bad, s, n);
	if (r == 0)
		CHECK_IN(wsev_utf8_complete_(&u) == complete, s, n);

	if (cut > n)
		cut = n;
	wsev_utf8_init_(&u);
	r = wsev_utf8_feed_(&u, s, cut);
	if (r == 0)
		r = wsev_utf8_feed_(&u, s + cut, n - cut);
	CHECK_IN(r == (bad == n ? 0 : -1), s, n);
	if (r == 0)
		CHECK_IN(wsev_utf8_complete_(&u) == complete, s, n);
}

/* Decode a hex string into out (room for strlen(hex) / 2 bytes). */
static size_t
unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned b;

	while (hex[0] != '\0' && hex[1] != '\0') {
		if (sscanf(hex, "%2x", &b) != 1) {
			fprintf(stderr, "bad hex in test table: %s\n", hex);
			exit(2);
		}
		out[n++] = (uint8_t)b;
		hex += 2;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* 1. Autobahn TestSuite section 6.                                   */

/*
 * Every case 6.x with its payload (6.1-6.4 send theirs in several frames;
 * this is the concatenation) and whether it is valid UTF-8.
 * 6.12.8 is all 64 bytes 80..BF, 6.13.1 each of C0..DF followed by a
 * space (the inventory shows them cut short).
 */
static const struct {
	const char *name;
	const char *hex;
	int valid;
} autobahn[] = {
	{ "6.1.1", "", 1 },
	{ "6.1.2", "", 1 },
	{ "6.1.3", "6d6964646c65206672616d65207061796c6f6164", 1 },
	{ "6.2.1", "48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d3821"
	    "21", 1 },
	{ "6.2.2", "48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d3821"
	    "21", 1 },
	{ "6.2.3", "48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d3821"
	    "21", 1 },
	{ "6.2.4", "cebae1bdb9cf83cebcceb5", 1 },
	{ "6.3.1", "cebae1bdb9cf83cebcceb5eda080656469746564", 0 },
	{ "6.3.2", "cebae1bdb9cf83cebcceb5eda080656469746564", 0 },
	{ "6.4.1", "cebae1bdb9cf83cebcceb5f4908080656469746564", 0 },
	{ "6.4.2", "cebae1bdb9cf83cebcceb5f4908080656469746564", 0 },
	{ "6.4.3", "cebae1bdb9cf83cebcceb5f4908080656469746564", 0 },
	{ "6.4.4", "cebae1bdb9cf83cebcceb5f4908080656469746564", 0 },
	{ "6.5.1", "68656c6c6f24776f726c64", 1 },
	{ "6.5.2", "68656c6c6fc2a2776f726c64", 1 },
	{ "6.5.3", "68656c6c6fe282ac776f726c64", 1 },
	{ "6.5.4", "68656c6c6ff0a4ada2776f726c64", 1 },
	{ "6.5.5", "cebae1bdb9cf83cebcceb5", 1 },
	{ "6.6.1", "ce", 0 },
	{ "6.6.2", "ceba", 1 },
	{ "6.6.3", "cebae1", 0 },
	{ "6.6.4", "cebae1bd", 0 },
	{ "6.6.5", "cebae1bdb9", 1 },
	{ "6.6.6", "cebae1bdb9cf", 0 },
	{ "6.6.7", "cebae1bdb9cf83", 1 },
	{ "6.6.8", "cebae1bdb9cf83ce", 0 },
	{ "6.6.9", "cebae1bdb9cf83cebc", 1 },
	{ "6.6.10", "cebae1bdb9cf83cebcce", 0 },
	{ "6.6.11", "cebae1bdb9cf83cebcceb5", 1 },
	{ "6.7.1", "00", 1 },
	{ "6.7.2", "c280", 1 },
	{ "6.7.3", "e0a080", 1 },
	{ "6.7.4", "f0908080", 1 },
	{ "6.8.1", "f888808080", 0 },
	{ "6.8.2", "fc8480808080", 0 },
	{ "6.9.1", "7f", 1 },
	{ "6.9.2", "dfbf", 1 },
	{ "6.9.3", "efbfbf", 1 },
	{ "6.9.4", "f48fbfbf", 1 },
	{ "6.10.1", "f7bfbfbf", 0 },
	{ "6.10.2", "fbbfbfbfbf", 0 },
	{ "6.10.3", "fdbfbfbfbfbf", 0 },
	{ "6.11.1", "ed9fbf", 1 },
	{ "6.11.2", "ee8080", 1 },
	{ "6.11.3", "efbfbd", 1 },
	{ "6.11.4", "f48fbfbf", 1 },
	{ "6.11.5", "f4908080", 0 },
	{ "6.12.1", "80", 0 },
	{ "6.12.2", "bf", 0 },
	{ "6.12.3", "80bf", 0 },
	{ "6.12.4", "80bf80", 0 },
	{ "6.12.5", "80bf80bf", 0 },
	{ "6.12.6", "80bf80bf80", 0 },
	{ "6.12.7", "80bf80bf80bf", 0 },
	{ "6.12.8", "808182838485868788898a8b8c8d8e8f909192939495969798999a9b"
	    "9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7"
	    "b8b9babbbcbdbebf", 0 },
	{ "6.13.1", "c020c120c220c320c420c520c620c720c820c920ca20cb20cc20cd20"
	    "ce20cf20d020d120d220d320d420d520d620d720d820d920da20db20"
	    "dc20dd20de20df20", 0 },
	{ "6.13.2", "e020e120e220e320e420e520e620e720e820e920ea20eb20ec20ed20"
	    "ee20", 0 },
	{ "6.13.3", "f020f120f220f320f420f520f620", 0 },
	{ "6.13.4", "f820f920fa20", 0 },
	{ "6.13.5", "fc20", 0 },
	{ "6.14.1", "c0", 0 },
	{ "6.14.2", "e080", 0 },
	{ "6.14.3", "f08080", 0 },
	{ "6.14.4", "f8808080", 0 },
	{ "6.14.5", "fc80808080", 0 },
	{ "6.14.6", "df", 0 },
	{ "6.14.7", "efbf", 0 },
	{ "6.14.8", "f7bfbf", 0 },
	{ "6.14.9", "fbbfbfbf", 0 },
	{ "6.14.10", "fdbfbfbfbf", 0 },
	{ "6.15.1", "c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbf"
	    "bfbf", 0 },
	{ "6.16.1", "fe", 0 },
	{ "6.16.2", "ff", 0 },
	{ "6.16.3", "fefeffff", 0 },
	{ "6.17.1", "c0af", 0 },
	{ "6.17.2", "e080af", 0 },
	{ "6.17.3", "f08080af", 0 },
	{ "6.17.4", "f8808080af", 0 },
	{ "6.17.5", "fc80808080af", 0 },
	{ "6.18.1", "c1bf", 0 },
	{ "6.18.2", "e09fbf", 0 },
	{ "6.18.3", "f08fbfbf", 0 },
	{ "6.18.4", "f887bfbfbf", 0 },
	{ "6.18.5", "fc83bfbfbfbf", 0 },
	{ "6.19.1", "c080", 0 },
	{ "6.19.2", "e08080", 0 },
	{ "6.19.3", "f0808080", 0 },
	{ "6.19.4", "f880808080", 0 },
	{ "6.19.5", "fc8080808080", 0 },
	{ "6.20.1", "eda080", 0 },
	{ "6.20.2", "edadbf", 0 },
	{ "6.20.3", "edae80", 0 },
	{ "6.20.4", "edafbf", 0 },
	{ "6.20.5", "edb080", 0 },
	{ "6.20.6", "edbe80", 0 },
	{ "6.20.7", "edbfbf", 0 },
	{ "6.21.1", "eda080edb080", 0 },
	{ "6.21.2", "eda080edbfbf", 0 },
	{ "6.21.3", "edadbfedb080", 0 },
	{ "6.21.4", "edadbfedbfbf", 0 },
	{ "6.21.5", "edae80edb080", 0 },
	{ "6.21.6", "edae80edbfbf", 0 },
	{ "6.21.7", "edafbfedb080", 0 },
	{ "6.21.8", "edafbfedbfbf", 0 },
	{ "6.22.1", "efbfbe", 1 },
	{ "6.22.2", "efbfbf", 1 },
	{ "6.22.3", "f09fbfbe", 1 },
	{ "6.22.4", "f09fbfbf", 1 },
	{ "6.22.5", "f0afbfbe", 1 },
	{ "6.22.6", "f0afbfbf", 1 },
	{ "6.22.7", "f0bfbfbe", 1 },
	{ "6.22.8", "f0bfbfbf", 1 },
	{ "6.22.9", "f18fbfbe", 1 },
	{ "6.22.10", "f18fbfbf", 1 },
	{ "6.22.11", "f19fbfbe", 1 },
	{ "6.22.12", "f19fbfbf", 1 },
	{ "6.22.13", "f1afbfbe", 1 },
	{ "6.22.14", "f1afbfbf", 1 },
	{ "6.22.15", "f1bfbfbe", 1 },
	{ "6.22.16", "f1bfbfbf", 1 },
	{ "6.22.17", "f28fbfbe", 1 },
	{ "6.22.18", "f28fbfbf", 1 },
	{ "6.22.19", "f29fbfbe", 1 },
	{ "6.22.20", "f29fbfbf", 1 },
	{ "6.22.21", "f2afbfbe", 1 },
	{ "6.22.22", "f2afbfbf", 1 },
	{ "6.22.23", "f2bfbfbe", 1 },
	{ "6.22.24", "f2bfbfbf", 1 },
	{ "6.22.25", "f38fbfbe", 1 },
	{ "6.22.26", "f38fbfbf", 1 },
	{ "6.22.27", "f39fbfbe", 1 },
	{ "6.22.28", "f39fbfbf", 1 },
	{ "6.22.29", "f3afbfbe", 1 },
	{ "6.22.30", "f3afbfbf", 1 },
	{ "6.22.31", "f3bfbfbe", 1 },
	{ "6.22.32", "f3bfbfbf", 1 },
	{ "6.22.33", "f48fbfbe", 1 },
	{ "6.22.34", "f48fbfbf", 1 },
	{ "6.23.1", "efbfb9", 1 },
	{ "6.23.2", "efbfba", 1 },
	{ "6.23.3", "efbfbb", 1 },
	{ "6.23.4", "efbfbc", 1 },
	{ "6.23.5", "efbfbd", 1 },
	{ "6.23.6", "efbfbe", 1 },
	{ "6.23.7", "efbfbf", 1 },
};

static void
test_autobahn(void)
{
	uint8_t buf[256];
	size_t i, n, nvalid = 0;
	char name[32];

	for (i = 0; i < sizeof(autobahn) / sizeof(autobahn[0]); i++) {
		snprintf(name, sizeof(name), "autobahn %s", autobahn[i].name);
		case_begin(name);
		n = unhex(autobahn[i].hex, buf);
		check_all_ways(buf, n, autobahn[i].valid);
		if (autobahn[i].valid)
			nvalid++;
		case_end();
	}

	case_begin("autobahn table size");
	/* 6.1 (3), 6.2 (4), 6.3 (2), 6.4 (4), 6.5-6.23 (132) */
	CHECK(i == 145);
	CHECK(nvalid == 70);
	case_end();
}

/*
 * 6.4.x: "κόσμε", then U+110000 (f4 90 80 80), then "edited", written in
 * three pieces. Strict (OK, not NON-STRICT) behaviour needs the second
 * piece to fail, whether it starts at the f4 or at the 90.
 */
static void
test_autobahn_chops(void)
{
	static const char *hex =
	    "cebae1bdb9cf83cebcceb5" "f4908080" "656469746564";
	static const size_t cuts[2][2] = { { 11, 15 }, { 12, 13 } };
	struct wsev_utf8 u;
	uint8_t buf[32];
	size_t i;

	case_begin("autobahn 6.4 chops");
	unhex(hex, buf);
	for (i = 0; i < 2; i++) {
		wsev_utf8_init_(&u);
		CHECK(wsev_utf8_feed_(&u, buf, cuts[i][0]) == 0);
		CHECK(wsev_utf8_feed_(&u, buf + cuts[i][0],
		    cuts[i][1] - cuts[i][0]) == -1);
	}
	/* 6.3.x: the surrogate fails at its second byte, a0. */
	unhex("cebae1bdb9cf83cebcceb5eda080656469746564", buf);
	wsev_utf8_init_(&u);
	CHECK(wsev_utf8_feed_(&u, buf, 12) == 0);
	CHECK(wsev_utf8_complete_(&u) == 0);
	wsev_utf8_init_(&u);
	CHECK(wsev_utf8_feed_(&u, buf, 13) == -1);
	case_end();
}

/* ------------------------------------------------------------------ */
/* 2. Markus Kuhn's UTF-8 decoder stress test, by its sections.       */

static const struct {
	const char *name;
	const char *hex;
	int valid;
} kuhn[] = {
	/* 1: some correct UTF-8 text */
	{ "1 kosme", "cebae1bdb9cf83cebcceb5", 1 },
	/* 2.1: first possible sequence of each length */
	{ "2.1.1 U+0000", "00", 1 },
	{ "2.1.2 U+0080", "c280", 1 },
	{ "2.1.3 U+0800", "e0a080", 1 },
	{ "2.1.4 U+10000", "f0908080", 1 },
	{ "2.1.5 5 bytes", "f888808080", 0 },
	{ "2.1.6 6 bytes", "fc8480808080", 0 },
	/* 2.2: last possible sequence of each length */
	{ "2.2.1 U+007F", "7f", 1 },
	{ "2.2.2 U+07FF", "dfbf", 1 },
	{ "2.2.3 U+FFFF", "efbfbf", 1 },
	{ "2.2.4 U+1FFFFF", "f7bfbfbf", 0 },
	{ "2.2.5 5 bytes", "fbbfbfbfbf", 0 },
	{ "2.2.6 6 bytes", "fdbfbfbfbfbf", 0 },
	/* 2.3: other boundaries */
	{ "2.3.1 U+D7FF", "ed9fbf", 1 },
	{ "2.3.2 U+E000", "ee8080", 1 },
	{ "2.3.3 U+FFFD", "efbfbd", 1 },
	{ "2.3.4 U+10FFFF", "f48fbfbf", 1 },
	{ "2.3.5 U+110000", "f4908080", 0 },
	{ "2.3.6 U+13FFFF", "f4bfbfbf", 0 },
	{ "2.3.7 U+140000", "f5808080", 0 },
	/* 3.1: unexpected continuation bytes */
	{ "3.1.1", "80", 0 },
	{ "3.1.2", "bf", 0 },
	{ "3.1.3", "80bf", 0 },
	{ "3.1.4", "80bf80", 0 },
	{ "3.1.5", "80bf80bf", 0 },
	{ "3.1.6", "80bf80bf80", 0 },
	{ "3.1.7", "80bf80bf80bf", 0 },
	{ "3.1.8", "80bf80bf80bf80", 0 },
	{ "3.1 after ASCII", "41424380", 0 },
	{ "3.1 one too many", "c3a9a9", 0 },
	{ "3.1 one too many (4)", "f09f9880bf", 0 },
	/* 3.3: sequences with the last continuation byte missing */
	{ "3.3.1 C0", "c0", 0 },
	{ "3.3.2 E0 80", "e080", 0 },
	{ "3.3.3 F0 80 80", "f08080", 0 },
	{ "3.3.4 F8 80 80 80", "f8808080", 0 },
	{ "3.3.5 FC 80 80 80 80", "fc80808080", 0 },
	{ "3.3.6 DF", "df", 0 },
	{ "3.3.7 EF BF", "efbf", 0 },
	{ "3.3.8 F7 BF BF", "f7bfbf", 0 },
	{ "3.3.9 FB BF BF BF", "fbbfbfbf", 0 },
	{ "3.3.10 FD BF BF BF BF", "fdbfbfbfbf", 0 },
	/* ... and the same cut short from valid leads: complete == 0 only */
	{ "3.3 C2", "c2", 0 },
	{ "3.3 E0 A0", "e0a0", 0 },
	{ "3.3 E1", "e1", 0 },
	{ "3.3 ED 9F", "ed9f", 0 },
	{ "3.3 F0 90 80", "f09080", 0 },
	{ "3.3 F4 8F BF", "f48fbf", 0 },
	{ "3.3 then ASCII", "e0a041", 0 },
	{ "3.3 then a lead", "f09f98f09f9880", 0 },
	/* 3.4: concatenation of the sequences of 3.3 */
	{ "3.4", "c0e080f08080f8808080fc80808080"
	    "dfefbff7bfbffbbfbfbffdbfbfbfbf", 0 },
	/* 3.5: impossible bytes */
	{ "3.5.1 FE", "fe", 0 },
	{ "3.5.2 FF", "ff", 0 },
	{ "3.5.3 FE FE FF FF", "fefeffff", 0 },
	/* 4.1: overlong forms of '/' */
	{ "4.1.1", "c0af", 0 },
	{ "4.1.2", "e080af", 0 },
	{ "4.1.3", "f08080af", 0 },
	{ "4.1.4", "f8808080af", 0 },
	{ "4.1.5", "fc80808080af", 0 },
	/* 4.2: the largest overlong form of each length */
	{ "4.2.1 U+007F", "c1bf", 0 },
	{ "4.2.2 U+07FF", "e09fbf", 0 },
	{ "4.2.3 U+FFFF", "f08fbfbf", 0 },
	{ "4.2.4 U+1FFFFF", "f887bfbfbf", 0 },
	{ "4.2.5 U+3FFFFFF", "fc83bfbfbfbf", 0 },
	/* 4.3: overlong forms of NUL */
	{ "4.3.1", "c080", 0 },
	{ "4.3.2", "e08080", 0 },
	{ "4.3.3", "f0808080", 0 },
	{ "4.3.4", "f880808080", 0 },
	{ "4.3.5", "fc8080808080", 0 },
	/* 5.1: single UTF-16 surrogates */
	{ "5.1.1 U+D800", "eda080", 0 },
	{ "5.1.2 U+DB7F", "edadbf", 0 },
	{ "5.1.3 U+DB80", "edae80", 0 },
	{ "5.1.4 U+DBFF", "edafbf", 0 },
	{ "5.1.5 U+DC00", "edb080", 0 },
	{ "5.1.6 U+DF80", "edbe80", 0 },
	{ "5.1.7 U+DFFF", "edbfbf", 0 },
	/* 5.2: paired UTF-16 surrogates (CESU-8) */
	{ "5.2.1", "eda080edb080", 0 },
	{ "5.2.2", "eda080edbfbf", 0 },
	{ "5.2.3", "edadbfedb080", 0 },
	{ "5.2.4", "edadbfedbfbf", 0 },
	{ "5.2.5", "edae80edb080", 0 },
	{ "5.2.6", "edae80edbfbf", 0 },
	{ "5.2.7", "edafbfedb080", 0 },
	{ "5.2.8", "edafbfedbfbf", 0 },
	/* 5.3: non-characters are valid UTF-8 (RFC 3629 §3 encodes them) */
	{ "5.3.1 U+FFFE", "efbfbe", 1 },
	{ "5.3.2 U+FFFF", "efbfbf", 1 },
};

/* One generated Kuhn input as a case of its own. */
static void
kuhn_case(const char *name, const uint8_t *s, size_t n, int valid)
{
	case_begin(name);
	check_all_ways(s, n, valid);
	case_end();
}

static void
test_kuhn(void)
{
	uint8_t buf[256], one[4];
	char name[64];
	size_t i, n;
	unsigned b, first, last;
	uint32_t cp;
	static const struct {
		unsigned first, last;
	} leads[] = {
		{ 0xC0, 0xDF }, { 0xE0, 0xEF }, { 0xF0, 0xF7 },
		{ 0xF8, 0xFB }, { 0xFC, 0xFD }
	};

	for (i = 0; i < sizeof(kuhn) / sizeof(kuhn[0]); i++) {
		snprintf(name, sizeof(name), "kuhn %s", kuhn[i].name);
		case_begin(name);
		n = unhex(kuhn[i].hex, buf);
		check_all_ways(buf, n, kuhn[i].valid);
		case_end();
	}

	/* 3.1.9: each continuation byte alone, then all 64 in a row. */
	for (b = 0x80; b <= 0xBF; b++) {
		snprintf(name, sizeof(name), "kuhn 3.1.9 %02X alone", b);
		one[0] = (uint8_t)b;
		kuhn_case(name, one, 1, 0);
		buf[b - 0x80] = (uint8_t)b;
	}
	kuhn_case("kuhn 3.1.9 all 64 continuation bytes", buf, 64, 0);

	/*
	 * 3.2: lonely start characters, each followed by a space; the 32
	 * leads of 2-byte forms C0..DF, the 16 of E0..EF, and so on.
	 */
	for (i = 0; i < sizeof(leads) / sizeof(leads[0]); i++) {
		first = leads[i].first;
		last = leads[i].last;
		n = 0;
		for (b = first; b <= last; b++) {
			one[0] = (uint8_t)b;
			one[1] = ' ';
			snprintf(name, sizeof(name), "kuhn 3.2 %02X space", b);
			kuhn_case(name, one, 2, 0);
			buf[n++] = (uint8_t)b;
			buf[n++] = ' ';
		}
		snprintf(name, sizeof(name), "kuhn 3.2 all of %02X..%02X",
		    first, last);
		kuhn_case(name, buf, n, 0);
	}

	/* 5.3: U+FDD0..U+FDEF, and U+xFFFE, U+xFFFF in every plane. */
	case_begin("kuhn 5.3 non-characters");
	for (cp = 0xFDD0; cp <= 0xFDEF; cp++) {
		n = encode(cp, buf);
		check_all_ways(buf, n, 1);
	}
	for (cp = 0xFFFE; cp <= 0x10FFFF; cp += 0x10000) {
		n = encode(cp, buf);
		check_all_ways(buf, n, 1);
		n = encode(cp + 1, buf);
		check_all_ways(buf, n, 1);
	}
	case_end();
}

/* ------------------------------------------------------------------ */
/* 3. Against the reference decoder: exhaustive, then random.         */

static void
test_exhaustive(void)
{
	static const uint8_t some[] = {
		0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF
	};
	uint8_t s[4];
	unsigned a, b, c, d;
	uint32_t cp;
	size_t n;

	case_begin("exhaustive 1 byte");
	for (a = 0; a < 256; a++) {
		s[0] = (uint8_t)a;
		check_all_ways(s, 1, -1);
	}
	case_end();

	case_begin("exhaustive 2 bytes");
	for (a = 0; a < 256; a++)
		for (b = 0; b < 256; b++) {
			s[0] = (uint8_t)a;
			s[1] = (uint8_t)b;
			check_quick(s, 2, 1);
		}
	case_end();

	case_begin("exhaustive 3 bytes");
	for (a = 0; a < 256; a++)
		for (b = 0; b < 256; b++)
			for (c = 0; c < 256; c++) {
				s[0] = (uint8_t)a;
				s[1] = (uint8_t)b;
				s[2] = (uint8_t)c;
				check_quick(s, 3, (a + b + c) % 4);
			}
	case_end();

	case_begin("exhaustive 4 bytes F0..F4");
	for (a = 0xF0; a <= 0xF4; a++)
		for (b = 0; b < 256; b++)
			for (c = 0; c < sizeof(some); c++)
				for (d = 0; d < sizeof(some); d++) {
					s[0] = (uint8_t)a;
					s[1] = (uint8_t)b;
					s[2] = some[c];
					s[3] = some[d];
					check_quick(s, 4, (b + c + d) % 5);
				}
	case_end();

	/*
	 * Every code point in its shortest form is valid unless it is a
	 * surrogate; every longer form of it is overlong, hence invalid.
	 */
	case_begin("every code point, shortest and overlong forms");
	for (cp = 0; cp <= 0x10FFFF; cp++) {
		n = encode(cp, s);
		CHECK_IN(wsev_utf8_valid_(s, n) ==
		    !(cp >= 0xD800 && cp <= 0xDFFF), s, n);
		for (a = (unsigned)n + 1; a <= 4; a++) {
			encode_len(cp, a, s);
			CHECK_IN(wsev_utf8_valid_(s, a) == 0, s, a);
		}
	}
	case_end();
}

/* xorshift64: a fixed seed makes every run test the same inputs. */
static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* Bytes where the rules change: range ends of leads and second bytes. */
static const uint8_t edge_bytes[] = {
	0x00, 0x20, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
	0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3,
	0xF4, 0xF5, 0xF7, 0xF8, 0xFB, 0xFC, 0xFE, 0xFF
};

static uint8_t
random_high_byte(void)
{
	uint32_t r = rng();

	if (r % 2)
		return edge_bytes[(r >> 8) % sizeof(edge_bytes)];
	return (uint8_t)(0x80 | (r >> 8));
}

/* A random code point, most of them outside ASCII, some on the edges. */
static uint32_t
random_code_point(void)
{
	static const uint32_t edges[] = {
		0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFE,
		0xFFFF, 0x10000, 0x10FFFF
	};
	uint32_t r = rng();

	switch (r % 6) {
	case 0:
		return (r >> 8) % 0x80;
	case 1:
		return 0x80 + (r >> 8) % (0x800 - 0x80);
	case 2:
		return 0x800 + (r >> 8) % (0x10000 - 0x800);
	case 3:
		return 0x10000 + (r >> 8) % (0x110000 - 0x10000);
	default:
		return edges[(r >> 8) % (sizeof(edges) / sizeof(edges[0]))];
	}
}

static void
test_random(void)
{
	uint8_t buf[64 + 4];
	size_t n, len;
	unsigned round;
	uint32_t cp;

	case_begin("random buffers");
	for (round = 0; round < 200000; round++) {
		len = rng() % 65;
		n = 0;
		if (rng() % 2) {
			/* Random bytes, three quarters of them high. */
			for (n = 0; n < len; n++)
				buf[n] = rng() % 4 ? random_high_byte() :
				    (uint8_t)(rng() & 0x7F);
		} else {
			/*
			 * Valid text (surrogates aside), then perhaps one
			 * byte changed or the end cut off.
			 */
			for (;;) {
				cp = random_code_point();
				if (n + encode(cp, buf + n) > len)
					break;
				n += encode(cp, buf + n);
			}
			switch (rng() % 4) {
			case 0:
				if (n > 0)
					buf[rng() % n] = random_high_byte();
				break;
			case 1:
				if (n > 0)
					n = rng() % n;
				break;
			}
		}
		check_quick(buf, n, rng() % (n + 1));
	}
	case_end();
}

/* ------------------------------------------------------------------ */
/* 4. The ASCII path: eight bytes at a time, at any alignment.        */

#define ASCII_LEN 160

static void
fill_ascii(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	/* All of 00..7F, so that 7F and 00 sit in every lane. */
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 37 + seed) & 0x7F);
}

static void
test_ascii(void)
{
	/* uint64_t storage: base is 8-aligned, base + off is not. */
	uint64_t store[(ASCII_LEN + 16) / 8 + 1];
	uint8_t *base = (uint8_t *)store, *p;
	static const uint8_t chars[][4] = {
		{ 0xC3, 0xA9 }, { 0xE2, 0x82, 0xAC }, { 0xEF, 0xBF, 0xBF },
		{ 0xF0, 0x9F, 0x98, 0x80 }, { 0xF4, 0x8F, 0xBF, 0xBF }
	};
	static const size_t char_len[] = { 2, 3, 3, 4, 4 };
	struct wsev_utf8 u;
	size_t off, pos, n, i, bad;
	unsigned b;
	int complete;
	uint8_t *big;
	size_t big_len = (size_t)1 << 20;
	uint32_t cp;

	case_begin("ascii valid at every offset and length");
	for (off = 0; off < 8; off++)
		for (n = 0; n <= 80; n++) {
			p = base + off;
			fill_ascii(p, n, (unsigned)(off + n));
			CHECK_IN(wsev_utf8_valid_(p, n) == 1, p, n);
		}
	case_end();

	/*
	 * Every high byte 80..FF at every position 0..63 of a long ASCII
	 * buffer, at every alignment: rejected, at that byte or (for a lead
	 * byte, whose ASCII successor cannot continue it) the next.
	 */
	case_begin("ascii with one high byte at every position and offset");
	for (off = 0; off < 8; off++)
		for (pos = 0; pos < 64; pos++)
			for (b = 0x80; b <= 0xFF; b++) {
				p = base + off;
				fill_ascii(p, ASCII_LEN, (unsigned)pos);
				p[pos] = (uint8_t)b;
				bad = b >= 0xC2 && b <= 0xF4 ? pos + 1 : pos;
				CHECK_IN(ref_check(p, ASCII_LEN, &complete) ==
				    bad, p, ASCII_LEN);
				CHECK_IN(wsev_utf8_valid_(p, ASCII_LEN) == 0,
				    p, ASCII_LEN);
				wsev_utf8_init_(&u);
				CHECK_IN(wsev_utf8_feed_(&u, p, bad) == 0,
				    p, ASCII_LEN);
				wsev_utf8_init_(&u);
				CHECK_IN(wsev_utf8_feed_(&u, p, bad + 1) == -1,
				    p, ASCII_LEN);
			}
	case_end();

	/* The high byte last, after 0..80 ASCII bytes: the byte-wise tail. */
	case_begin("ascii then one high byte at the end");
	for (off = 0; off < 8; off++)
		for (n = 1; n <= 80; n++) {
			p = base + off;
			fill_ascii(p, n, 0);
			p[n - 1] = 0x80;
			CHECK_IN(wsev_utf8_valid_(p, n) == 0, p, n);
			p[n - 1] = 0xC3;	/* valid so far, incomplete */
			wsev_utf8_init_(&u);
			CHECK_IN(wsev_utf8_feed_(&u, p, n) == 0, p, n);
			CHECK_IN(wsev_utf8_complete_(&u) == 0, p, n);
		}
	case_end();

	/* A multi-byte character at every position, straddling words. */
	case_begin("ascii with a valid character at every position and offset");
	for (off = 0; off < 8; off++)
		for (pos = 0; pos < 64; pos++)
			for (i = 0; i < sizeof(char_len) / sizeof(char_len[0]);
			    i++) {
				p = base + off;
				fill_ascii(p, ASCII_LEN, (unsigned)i);
				memcpy(p + pos, chars[i], char_len[i]);
				CHECK_IN(wsev_utf8_valid_(p, ASCII_LEN) == 1,
				    p, ASCII_LEN);
				/* Cut inside the character. */
				wsev_utf8_init_(&u);
				CHECK_IN(wsev_utf8_feed_(&u, p, pos + 1) == 0,
				    p, ASCII_LEN);
				CHECK_IN(wsev_utf8_complete_(&u) == 0,
				    p, ASCII_LEN);
				CHECK_IN(wsev_utf8_feed_(&u, p + pos + 1,
				    ASCII_LEN - pos - 1) == 0, p, ASCII_LEN);
				CHECK_IN(wsev_utf8_complete_(&u) == 1,
				    p, ASCII_LEN);
			}
	case_end();

	/*
	 * A megabyte of long ASCII runs between characters of every length,
	 * valid as a whole and in odd-sized fragments; one bad byte near the
	 * end is still found.
	 */
	case_begin("1 MiB mixed text");
	big = malloc(big_len);
	if (big == NULL) {
		perror("malloc");
		exit(2);
	}
	n = 0;
	while (n + 300 < big_len) {
		i = rng() % 200;
		fill_ascii(big + n, i, (unsigned)n);
		n += i;
		do
			cp = random_code_point();
		while (cp >= 0xD800 && cp <= 0xDFFF);
		n += encode(cp, big + n);
	}
	CHECK(ref_check(big, n, &complete) == n && complete);
	CHECK(wsev_utf8_valid_(big, n) == 1);
	wsev_utf8_init_(&u);
	for (i = 0; i < n; i += 4093)
		CHECK(wsev_utf8_feed_(&u, big + i,
		    n - i < 4093 ? n - i : 4093) == 0);
	CHECK(wsev_utf8_complete_(&u) == 1);
	big[n - 5] = 0xFF;
	CHECK(wsev_utf8_valid_(big, n) == 0);
	wsev_utf8_init_(&u);
	CHECK(wsev_utf8_feed_(&u, big, n - 5) == 0);
	CHECK(wsev_utf8_feed_(&u, big + n - 5, 1) == -1);
	free(big);
	case_end();
}

/* ------------------------------------------------------------------ */
/* The interface's small promises.                                    */

static void
test_interface(void)
{
	struct wsev_utf8 u;
	struct wsev_utf8 z = { 0, 0, 0 };

	case_begin("interface");
	wsev_utf8_init_(&u);
	CHECK(wsev_utf8_complete_(&u) == 1);
	CHECK(wsev_utf8_complete_(&z) == 1);
	/* An empty fragment, even with no buffer, changes nothing. */
	CHECK(wsev_utf8_feed_(&u, NULL, 0) == 0);
	CHECK(wsev_utf8_valid_(NULL, 0) == 1);
	CHECK(wsev_utf8_feed_(&u, "\xF0\x9F", 2) == 0);
	CHECK(wsev_utf8_feed_(&u, NULL, 0) == 0);
	CHECK(wsev_utf8_complete_(&u) == 0);
	CHECK(wsev_utf8_feed_(&u, "\x98", 1) == 0);
	CHECK(wsev_utf8_complete_(&u) == 0);
	CHECK(wsev_utf8_feed_(&u, "\x80", 1) == 0);
	CHECK(wsev_utf8_complete_(&u) == 1);
	/* A zeroed state takes a lead byte like an initialised one. */
	CHECK(wsev_utf8_feed_(&z, "\xC3", 1) == 0);
	CHECK(wsev_utf8_feed_(&z, "\xA9", 1) == 0);
	CHECK(wsev_utf8_complete_(&z) == 1);
	/* The state is small enough to live in every connection. */
	CHECK(sizeof(struct wsev_utf8) <= 4);
	case_end();
}

int
main(void)
{
	test_interface();
	test_autobahn();
	test_autobahn_chops();
	test_kuhn();
	test_exhaustive();
	test_random();
	test_ascii();

	printf("%u passed, %u failed\n", cases_passed, cases_failed);
	return cases_failed == 0 ? 0 : 1;
}
