/*
 * Test helpers that need libevent and OpenSSL: a loop run bounded in time,
 * and a throw-away TLS certificate.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_TT_EV_H
#define WSEV_TT_EV_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

/* A watchdog that ends a loop run after a bounded time. */
struct tt_watch {
	struct event_base *base;
	struct event *ev;
	int timed_out;
};

int tt_watch_init(struct tt_watch *w, struct event_base *base);
void tt_watch_free(struct tt_watch *w);
void tt_watch_arm(struct tt_watch *w, int secs);
void tt_watch_disarm(struct tt_watch *w);

/* Run the loop until cond holds, for at most secs seconds. */
#define TT_RUN_UNTIL(w, cond, secs) do { \
	tt_watch_arm((w), (secs)); \
	while (!(cond) && !(w)->timed_out) \
		event_base_loop((w)->base, EVLOOP_ONCE); \
	tt_watch_disarm(w); \
} while (0)

/* A self-signed P-256 certificate for "localhost" (subjectAltName
 * DNS:localhost only, CA:TRUE so that it can be its own trust anchor), and
 * server and client contexts using it. ca_path, when not NULL, receives
 * the path of a PEM file of the certificate (mkstemp under /tmp; unlink
 * it). Returns 0, or -1. */
int tt_tls_make(SSL_CTX **server, SSL_CTX **client, char *ca_path,
    size_t ca_len);

/* The port a socket is bound to. */
int tt_bound_port(evutil_socket_t fd);

/* Two connected loopback TCP sockets, non-blocking, TCP_NODELAY: 0, or
 * -1. */
int tt_tcp_pair(evutil_socket_t fds[2]);

/*
 * The tests' own WebSocket frame codec (RFC 6455 §5.2), independent of the
 * library's: what a raw peer writes, and how it reads what wsev wrote.
 */
struct evbuffer;
struct tt_frame {
	int fin, rsv, op, masked;
	size_t hlen;		/* header bytes */
	size_t len;		/* payload bytes */
	uint8_t key[4];
	uint8_t *data;		/* malloc()ed, unmasked, NUL-terminated */
};

/* Append a frame with the shortest length encoding, masked with key
 * unless it is NULL. The bits are taken as given: tests write bad frames
 * too. */
void tt_put_frame(struct evbuffer *out, int fin, int rsv, int op,
    const uint8_t *key, const void *data, size_t len);

/* Take the first whole frame off in: 1 with *f filled (free f->data), or
 * 0 while it is incomplete (in unchanged). */
int tt_take_frame(struct evbuffer *in, struct tt_frame *f);

#endif /* WSEV_TT_EV_H */
