/*
 * RFC 6455 §5 frame codec: bytes in, frame headers out, and the reverse.
 * No libevent, no allocation.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_FRAME_H
#define WSEV_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define WSEV_OP_CONTINUATION 0x0
#define WSEV_OP_TEXT 0x1
#define WSEV_OP_BINARY 0x2
#define WSEV_OP_CLOSE 0x8
#define WSEV_OP_PING 0x9
#define WSEV_OP_PONG 0xA

#define WSEV_OP_IS_CONTROL(op) (((op) & 0x8) != 0)

/* The longest header: 2 + 8 (64-bit length) + 4 (mask key). */
#define WSEV_FRAME_MAX_HEADER 14
/* RFC 6455 §5.5: every control frame payload fits in 125 bytes. */
#define WSEV_CONTROL_MAX_PAYLOAD 125

struct wsev_frame_header {
	uint64_t len;		/* payload length */
	uint8_t key[4];		/* the mask key when masked */
	uint8_t fin;		/* 1 if the final fragment */
	uint8_t rsv;		/* the three RSV bits, as 0..7 (RSV1 = 4) */
	uint8_t opcode;		/* 0..15 */
	uint8_t masked;		/* 1 if a mask key follows the length */
	uint8_t hlen;		/* header length, 2..14 */
};

/*
 * Parse a frame header from the n bytes at p, enforcing what the header
 * alone can tell (RFC 6455 §5.2, §5.5): RSV bits outside rsv_allowed,
 * reserved opcodes, fragmented or oversized control frames, non-minimal
 * length encodings and 64-bit lengths with the top bit set.
 * Returns the header length (> 0) and fills h; 0 if more bytes are needed;
 * -1 on a violation, with *why set to a static description. Every violation
 * here is a protocol error (close code 1002).
 */
int wsev_frame_parse_header_(const uint8_t *p, size_t n, unsigned rsv_allowed,
    struct wsev_frame_header *h, const char **why);

/* A frame header's first byte (RFC 6455 §5.2): FIN, RSV1 (permessage-
 * deflate's "compressed" bit, RFC 7692 §6), the opcode. Senders hold a
 * frame's first byte whole, as it goes on the wire. */
#define WSEV_B0_FIN 0x80u
#define WSEV_B0_RSV1 0x40u
#define WSEV_B0_FINAL(op) (WSEV_B0_FIN | (op))
#define WSEV_B0(fin, rsv, op) \
	(((fin) ? WSEV_B0_FIN : 0u) | (((rsv) & 7u) << 4) | ((op) & 0xFu))

/*
 * Write a frame header for a payload of len bytes into out (room for
 * WSEV_FRAME_MAX_HEADER bytes): b0 is the first byte (WSEV_B0()), then the
 * shortest length encoding; key is NULL for an unmasked frame. Returns the
 * header length.
 */
size_t wsev_frame_write_header_(uint8_t *out, unsigned b0, uint64_t len,
    const uint8_t *key);

/*
 * A close frame's body (RFC 6455 §5.5.1) into out: empty for code 0 or 1005
 * (WSEV_CLOSE_NO_STATUS, which never goes on the wire), else the code in
 * two bytes and the reason, cut to fit WSEV_CONTROL_MAX_PAYLOAD. Returns
 * its length.
 */
size_t wsev_frame_close_body_(uint8_t out[WSEV_CONTROL_MAX_PAYLOAD],
    unsigned code, const void *reason, size_t rlen);

/* The header length wsev_frame_write_header_ would produce. */
size_t wsev_frame_header_size_(uint64_t len, int masked);

/*
 * Copy n bytes from src to dst, XORing with key starting at key offset
 * (offset & 3); src == dst is allowed. Returns the key offset after the
 * last byte, to continue a payload that arrives in pieces.
 */
size_t wsev_mask_copy_(uint8_t *dst, const uint8_t *src, size_t n,
    const uint8_t key[4], size_t offset);

#endif /* WSEV_FRAME_H */
