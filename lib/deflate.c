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

struct wsev_pmd {
	z_stream out, in;
	unsigned out_ready : 1, in_ready : 1;
	unsigned out_reset : 1;		/* no context takeover, ours */
	unsigned in_reset : 1;		/* no context takeover, the peer's */
	int out_bits, in_bits, level, mem_level;
};

#if defined(__GNUC__)
static __thread uint8_t *zbuf;
static __thread size_t zcap;
#else
static uint8_t *zbuf;	/* no thread-local storage: one thread only */
static size_t zcap;
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
	free(p);
}

int
wsev_pmd_compresses_(const struct wsev_pmd *p)
{
	/* zlib turns a raw deflate window of 8 bits down (deflateInit2). */
	return p->out_bits >= 9;
}

static int
zbuf_reserve(size_t need)
{
	uint8_t *nb;

	if (need <= zcap)
		return 0;
	nb = realloc(zbuf, need);
	if (!nb)
		return -1;
	zbuf = nb;
	zcap = need;
	return 0;
}

int
wsev_pmd_compress_(struct wsev_pmd *p, const struct iovec *v, int nv, int end,
    const uint8_t **out, size_t *outlen)
{
	z_stream *z = &p->out;
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
	if (zcap > ZBUF_KEEP && need <= ZBUF_KEEP) {
		/* One large message does not pin its buffer for good. */
		free(zbuf);
		zbuf = NULL;
		zcap = 0;
	}
	if (need < total || zbuf_reserve(need) < 0)
		return -1;
	for (i = 0; i <= nv; i++) {
		/* Each piece in turn, then the flush (i == nv, no input). */
		const uint8_t *src = i < nv ? v[i].iov_base : NULL;
		size_t left = i < nv ? v[i].iov_len : 0;
		uInt step;

		if (i < nv && left == 0)
			continue;
		for (;;) {
			if (zcap - have < 64 && zbuf_reserve(zcap * 2) < 0)
				return -1;
			step = left > ZSTEP ? ZSTEP : (uInt)left;
			z->next_in = (Bytef *)(uintptr_t)src;
			z->avail_in = step;
			z->next_out = zbuf + have;
			z->avail_out = zcap - have > ZSTEP ? ZSTEP :
			    (uInt)(zcap - have);
			r = deflate(z, i == nv ? Z_SYNC_FLUSH : Z_NO_FLUSH);
			src += step - z->avail_in;
			left -= step - z->avail_in;
			have = (size_t)(z->next_out - zbuf);
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
		if (have >= 4 && !memcmp(zbuf + have - 4, wsev_deflate_tail_, 4))
			have -= 4;
		else if (have == 0) {
			/* zlib writes nothing for a flush with no new input
			 * (an empty message after another): the empty
			 * stored block's first byte must still go, or the
			 * peer would read the appended tail as a block
			 * header (RFC 7692 §7.2.3.6). */
			zbuf[0] = 0x00;
			have = 1;
		}
		if (p->out_reset) {
			deflateEnd(z);
			p->out_ready = 0;
		}
	}
	*out = zbuf;
	*outlen = have;
	return 0;
}

int
wsev_pmd_inflate_(struct wsev_pmd *p, const uint8_t *in, size_t n,
    uint8_t *out, size_t cap, size_t *used, size_t *made, int *oom)
{
	z_stream *z = &p->in;
	int r;

	*used = *made = 0;
	*oom = 0;
	if (!p->in_ready) {
		memset(z, 0, sizeof(*z));
		z->zalloc = z_alloc;
		z->zfree = z_free;
		r = inflateInit2(z, -p->in_bits);
		if (r != Z_OK) {
			*oom = r == Z_MEM_ERROR;
			return -1;
		}
		p->in_ready = 1;
	}
	while (cap > 0) {
		z->next_in = (Bytef *)(uintptr_t)in;
		z->avail_in = n > ZSTEP ? ZSTEP : (uInt)n;
		z->next_out = out;
		z->avail_out = cap > ZSTEP ? ZSTEP : (uInt)cap;
		r = inflate(z, Z_SYNC_FLUSH);
		*used += (size_t)((const uint8_t *)z->next_in - in);
		*made += (size_t)(z->next_out - out);
		n -= (size_t)((const uint8_t *)z->next_in - in);
		cap -= (size_t)(z->next_out - out);
		in = z->next_in;
		out = z->next_out;
		if (r == Z_STREAM_END) {
			/* A final block (BFINAL): the stream is over, and
			 * what follows it in the message (the appended
			 * 00 00 ff ff) is not data. The next message starts
			 * a new stream (RFC 7692 §7.2.3.3 allows this). */
			*used += n;
			if (inflateReset(z) != Z_OK)
				return -1;
			break;
		}
		if (r == Z_MEM_ERROR) {
			*oom = 1;
			return -1;
		}
		if (r == Z_BUF_ERROR)
			break;	/* no progress: input used up */
		if (r != Z_OK)
			return -1;
		if (n == 0 && z->avail_out > 0)
			break;
	}
	return 0;
}

void
wsev_pmd_inflate_end_(struct wsev_pmd *p)
{
	if (p->in_reset && p->in_ready) {
		inflateEnd(&p->in);
		p->in_ready = 0;
	}
}

void
wsev_pmd_thread_done_(void)
{
	free(zbuf);
	zbuf = NULL;
	zcap = 0;
}
