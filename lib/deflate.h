/*
 * permessage-deflate (RFC 7692) codec: zlib raw deflate streams for one
 * connection, one per direction. No libevent. The connection decides what
 * is compressed and enforces the limits; this file only drives zlib.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_DEFLATE_H
#define WSEV_DEFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct wsev_extensions;
struct wsev_pmd;

/* The 4 bytes every compressed message loses at its end (§7.2.1). */
extern const uint8_t wsev_deflate_tail_[4];

/*
 * The codec of a connection of type @p server (1) or client (0) with the
 * negotiated @p ext: streams are made on first use. NULL if memory ran out.
 */
struct wsev_pmd *wsev_pmd_new_(const struct wsev_extensions *ext, int server);
void wsev_pmd_free_(struct wsev_pmd *p);

/* Whether this side compresses what it sends (not with an 8-bit window,
 * which zlib cannot produce). */
int wsev_pmd_compresses_(const struct wsev_pmd *p);

/*
 * Compress the @p nv pieces at @p v as the next part of a message, flushed
 * to a byte boundary (Z_SYNC_FLUSH); @p end ends the message: the trailing
 * 00 00 ff ff is removed and, without context takeover, the stream is
 * reset. The output is in *out (*outlen bytes), in a buffer of the
 * thread's (of @p p's without thread-local storage), valid until the next
 * call on this thread. Returns 0, or -1 if
 * memory ran out (the message must not be sent then).
 */
int wsev_pmd_compress_(struct wsev_pmd *p, const struct iovec *v, int nv,
    int end, const uint8_t **out, size_t *outlen);

/* What wsev_pmd_inflate_() refuses. */
#define WSEV_PMD_ERR_DATA (-1)		/* not a deflate stream */
#define WSEV_PMD_ERR_NOMEM (-2)		/* memory ran out for the stream */
#define WSEV_PMD_ERR_FINALS (-3)	/* too many final blocks for the
					   message's size (1009) */

/*
 * Inflate what can be of the @p n bytes at @p in into @p out (room for
 * @p cap bytes): *used input bytes consumed, *made output bytes written.
 * Stops when the input is used up and zlib has nothing more to give, or
 * the output is full. Returns 0 or a WSEV_PMD_ERR_* code; the stream is
 * not to be used again after an error.
 */
int wsev_pmd_inflate_(struct wsev_pmd *p, const uint8_t *in, size_t n,
    uint8_t *out, size_t cap, size_t *used, size_t *made);

/* A compressed message was fully received: the next message's count of
 * final blocks starts at 0; without the peer's context takeover, its
 * stream starts afresh (and is freed till the next one). */
void wsev_pmd_inflate_end_(struct wsev_pmd *p);

/* Free the thread's compression buffer (its last connection is gone).
 * Without thread-local storage each codec has its own, freed with it, and
 * this does nothing. */
void wsev_pmd_thread_done_(void);

#endif /* WSEV_DEFLATE_H */
