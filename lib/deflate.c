/*
 * permessage-deflate (RFC 7692) codec.
 *
 * Each direction is one raw deflate stream (no zlib header, §7.2.1). A
 * message is compressed with Z_SYNC_FLUSH, which ends the data on a byte
 * boundary with an empty stored block, 00 00 ff ff; the sender removes
 * those 4 bytes and the receiver appends them again before inflating the
 * message's last bytes. With context takeover the streams live as long as
 * the connection (the window is the context); without it a stream is made
 * for a message and freed after it, so an idle connection holds none.
 *
 * zlib allocates through malloc() and free() here, so that allocation
 * failures are seen (and tested) like the rest of the library's.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "wsev-internal.h"
#include "deflate.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

const uint8_t wsev_deflate_tail_[4] = { 0x00, 0x00, 0xff, 0xff };

/* The thread's compression output buffer keeps at most this much. */
#define ZBUF_KEEP (1024 * 1024)
/* zlib counts in 32 bits: larger pieces go in steps. */
#define ZSTEP (1u << 30)

/*
 * Final blocks. RFC 7692 §7.2.3.3 lets a sender end a flush with a block
 * marked final (BFINAL); zlib's inflater stops there and restart() starts
 * it over with its window kept: a copy of up to a window (32 KiB) out and
 * back, about a microsecond. An empty final block costs its sender 2 bytes
 * (03 00) and inflates to nothing, so no size limit would ever stop a
 * message made of them, and a peer sending 1 MB/s of them would keep a
 * core busy. So a message may have FINALS_FLOOR final blocks, plus one per
 * window of output: the copies then cost at most about twice the writing
 * of the output, which the size limits bound, plus a few windows. Real
 * encoders stay far below: zlib-based ones (Python websockets, Node ws,
 * Chromium, wsev) flush with Z_SYNC_FLUSH and never mark a block final;
 * a §7.2.3.3 one ends each flush with one, that is one per message or per
 * fragment. Past the bound the connection fails with 1009, not 1007: the
 * data is valid deflate, refused for what it costs to process, as a
 * deflate bomb is.
 *
 * Input is not bounded against output: other than at a final block, zlib's
 * work is linear in what it reads and writes, and a legitimate streaming
 * sender has no ratio (each empty flushed fragment costs bytes, 5 for an
 * empty stored block, for no output; a 1-byte one about 7).
 */
#define FINALS_FLOOR 4

/* A growable output buffer. */
struct zbuf {
	uint8_t *p;
	size_t cap;
};

struct wsev_pmd {
	z_stream out, in;
	unsigned out_ready : 1, in_ready : 1;
	unsigned out_reset : 1;		/* no context takeover, ours */
	unsigned in_reset : 1;		/* no context takeover, the peer's */
	int out_bits, in_bits, level, mem_level;
	/* The message being inflated: its final blocks and output so far. */
	unsigned in_finals;
	uint64_t in_made;
#if !WSEV_THREAD_LOCAL
	struct zbuf zb;		/* the compression buffer, see zbuf_of() */
#endif
};

/*
 * The compression output: one buffer per thread (the connections of an
 * event_base run on its thread; connection.c frees it with the thread's
 * last connection, under the same condition as its spare slot). Without
 * thread-local storage nothing is shared between threads: each codec has
 * its own, freed with it.
 */
#if WSEV_THREAD_LOCAL
static __thread struct zbuf thread_zbuf;

static struct zbuf *
zbuf_of(struct wsev_pmd *p)
{
	(void)p;
	return &thread_zbuf;
}
#else
static struct zbuf *
zbuf_of(struct wsev_pmd *p)
{
	return &p->zb;
}
#endif

static voidpf
z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	if (size && items > SIZE_MAX / size)
		return Z_NULL;
	return malloc((size_t)items * size);
}

static void
z_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	free(p);
}

struct wsev_pmd *
wsev_pmd_new_(const struct wsev_extensions *ext, int server)
{
	struct wsev_pmd *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->out_bits = server ? ext->server_max_window_bits :
	    ext->client_max_window_bits;
	p->in_bits = server ? ext->client_max_window_bits :
	    ext->server_max_window_bits;
	p->out_reset = server ? ext->server_no_context_takeover != 0 :
	    ext->client_no_context_takeover != 0;
	p->in_reset = server ? ext->client_no_context_takeover != 0 :
	    ext->server_no_context_takeover != 0;
	if (p->out_bits < 8 || p->out_bits > 15)
		p->out_bits = 15;
	/* Inflating with a window at least as large as the peer's is all it
	 * takes; zlib's raw inflate wants 9 or more. */
	if (p->in_bits < 9 || p->in_bits > 15)
		p->in_bits = p->in_bits == 8 ? 9 : 15;
	p->level = ext->level;
	if (p->level < -1 || p->level > 9)
		p->level = Z_DEFAULT_COMPRESSION;
	p->mem_level = ext->mem_level;
	if (p->mem_level < 1 || p->mem_level > 9)
		p->mem_level = 8;
	return p;
}

void
wsev_pmd_free_(struct wsev_pmd *p)
{
	if (!p)
		return;
	if (p->out_ready)
		deflateEnd(&p->out);
	if (p->in_ready)
		inflateEnd(&p->in);
#if !WSEV_THREAD_LOCAL
	free(p->zb.p);
#endif
	free(p);
}

int
wsev_pmd_compresses_(const struct wsev_pmd *p)
{
	/* zlib turns a raw deflate window of 8 bits down (deflateInit2). */
	return p->out_bits >= 9;
}

static int
zbuf_reserve(struct zbuf *b, size_t need)
{
	uint8_t *nb;

	if (need <= b->cap)
		return 0;
	nb = realloc(b->p, need);
	if (!nb)
		return -1;
	b->p = nb;
	b->cap = need;
	return 0;
}

int
wsev_pmd_compress_(struct wsev_pmd *p, const struct iovec *v, int nv, int end,
    const uint8_t **out, size_t *outlen)
{
	z_stream *z = &p->out;
	struct zbuf *b = zbuf_of(p);
	size_t total = 0, have = 0, need;
	int i, r;

	if (!p->out_ready) {
		memset(z, 0, sizeof(*z));
		z->zalloc = z_alloc;
		z->zfree = z_free;
		if (deflateInit2(z, p->level, Z_DEFLATED, -p->out_bits,
		    p->mem_level, Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		p->out_ready = 1;
	}
	for (i = 0; i < nv; i++)
		total += v[i].iov_len;
	/* deflateBound() covers one deflate() call with Z_FINISH; a sync
	 * flush adds its empty stored block (and may close a block). */
	need = deflateBound(z, total > ULONG_MAX ? ULONG_MAX : (uLong)total) +
	    16;
	if (b->cap > ZBUF_KEEP && need <= ZBUF_KEEP) {
		/* One large message does not pin its buffer for good. */
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
	if (need < total || zbuf_reserve(b, need) < 0)
		return -1;
	for (i = 0; i <= nv; i++) {
		/* Each piece in turn, then the flush (i == nv, no input). */
		const uint8_t *src = i < nv ? v[i].iov_base : NULL;
		size_t left = i < nv ? v[i].iov_len : 0;
		uInt step;

		if (i < nv && left == 0)
			continue;
		for (;;) {
			if (b->cap - have < 64 && zbuf_reserve(b, b->cap * 2) < 0)
				return -1;
			step = left > ZSTEP ? ZSTEP : (uInt)left;
			z->next_in = (Bytef *)(uintptr_t)src;
			z->avail_in = step;
			z->next_out = b->p + have;
			z->avail_out = b->cap - have > ZSTEP ? ZSTEP :
			    (uInt)(b->cap - have);
			r = deflate(z, i == nv ? Z_SYNC_FLUSH : Z_NO_FLUSH);
			if (src) {	/* NULL in the flush: no input */
				src += step - z->avail_in;
				left -= step - z->avail_in;
			}
			have = (size_t)(z->next_out - b->p);
			if (r == Z_STREAM_ERROR)
				return -1;
			/* A piece is done once consumed; the flush once it
			 * left room in the output. */
			if (i < nv ? left == 0 : z->avail_out > 0)
				break;
		}
	}
	if (end) {
		/* §7.2.1: the sync flush's 00 00 ff ff is not sent. */
		if (have >= 4 && !memcmp(b->p + have - 4, wsev_deflate_tail_, 4))
			have -= 4;
		else if (have == 0) {
			/* zlib writes nothing for a flush with no new input
			 * (an empty message after another): the empty
			 * stored block's first byte must still go, or the
			 * peer would read the appended tail as a block
			 * header (RFC 7692 §7.2.3.6). */
			b->p[0] = 0x00;
			have = 1;
		}
		if (p->out_reset) {
			deflateEnd(z);
			p->out_ready = 0;
		}
	}
	*out = b->p;
	*outlen = have;
	return 0;
}

/* Reset the inflate stream, which reached its end, keeping its window as
 * the dictionary of the next. The copy goes through the compression
 * buffer (the thread's): it is only ever held between a compression and
 * the queueing of its frame, never across an inflate, and a connection
 * keeps no window-sized buffer of its own for this. With nothing in the
 * window there is nothing to copy. */
static int
restart(struct wsev_pmd *p)
{
	z_stream *z = &p->in;
	struct zbuf *b = zbuf_of(p);
	uInt len = 0;

	if (inflateGetDictionary(z, NULL, &len) != Z_OK ||
	    len > 1u << p->in_bits)
		return WSEV_PMD_ERR_DATA;
	if (len > 0 && zbuf_reserve(b, len) < 0)
		return WSEV_PMD_ERR_NOMEM;
	if ((len > 0 && inflateGetDictionary(z, b->p, &len) != Z_OK) ||
	    inflateReset(z) != Z_OK ||
	    (len > 0 && inflateSetDictionary(z, b->p, len) != Z_OK))
		return WSEV_PMD_ERR_DATA;
	return 0;
}

int
wsev_pmd_inflate_(struct wsev_pmd *p, const uint8_t *in, size_t n,
    uint8_t *out, size_t cap, size_t *used, size_t *made)
{
	z_stream *z = &p->in;
	size_t k;
	int r;

	*used = *made = 0;
	if (!p->in_ready) {
		memset(z, 0, sizeof(*z));
		z->zalloc = z_alloc;
		z->zfree = z_free;
		r = inflateInit2(z, -p->in_bits);
		if (r != Z_OK)
			return r == Z_MEM_ERROR ? WSEV_PMD_ERR_NOMEM :
			    WSEV_PMD_ERR_DATA;
		p->in_ready = 1;
	}
	while (cap > 0) {
		z->next_in = (Bytef *)(uintptr_t)in;
		z->avail_in = n > ZSTEP ? ZSTEP : (uInt)n;
		z->next_out = out;
		z->avail_out = cap > ZSTEP ? ZSTEP : (uInt)cap;
		r = inflate(z, Z_SYNC_FLUSH);
		k = (size_t)(z->next_out - out);
		*used += (size_t)((const uint8_t *)z->next_in - in);
		*made += k;
		p->in_made += k;
		n -= (size_t)((const uint8_t *)z->next_in - in);
		cap -= k;
		in = z->next_in;
		out = z->next_out;
		if (r == Z_STREAM_END) {
			/* A final block (BFINAL, RFC 7692 §7.2.3.3): zlib's
			 * stream is over, but the message's is not: a 0x00
			 * block header follows, then the appended tail, and
			 * later messages may still refer to this window. So
			 * start over with the window kept, so many times
			 * only (FINALS_FLOOR). */
			if (++p->in_finals > FINALS_FLOOR +
			    (p->in_made >> p->in_bits))
				return WSEV_PMD_ERR_FINALS;
			if ((r = restart(p)) < 0)
				return r;
			continue;
		}
		if (r == Z_MEM_ERROR)
			return WSEV_PMD_ERR_NOMEM;
		if (r == Z_BUF_ERROR)
			break;	/* no progress: input used up */
		if (r != Z_OK)
			return WSEV_PMD_ERR_DATA;
		if (n == 0 && z->avail_out > 0)
			break;
	}
	return 0;
}

void
wsev_pmd_inflate_end_(struct wsev_pmd *p)
{
	p->in_finals = 0;
	p->in_made = 0;
	if (p->in_reset && p->in_ready) {
		inflateEnd(&p->in);
		p->in_ready = 0;
	}
}

void
wsev_pmd_thread_done_(void)
{
#if WSEV_THREAD_LOCAL
	free(thread_zbuf.p);
	thread_zbuf.p = NULL;
	thread_zbuf.cap = 0;
#endif
}
