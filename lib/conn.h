/*
 * The WebSocket connection's private header: its struct and the functions
 * its rooms share. The rooms, each a file:
 *
 *   connection.c        life (new, free), reentrancy, bufferevent callbacks
 *   conn-transport.c    the bufferevent chain under it: output, release
 *   conn-recv.c         frame headers, payload, messages, chunks, control
 *   conn-send.c         frame writer, output queue, the send API
 *   conn-close.c        close handshake, failing, lingering, the exit path
 *   conn-sock.c         the plain-socket fast path
 *   conn-keepalive.c    keepalive pings and pong timeouts
 *   conn-props.c        getters, setters, options
 *
 * Names: wsev_conn_*_ for what the rooms share; file-local statics have
 * names no other lib/ file uses.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_CONN_H
#define WSEV_CONN_H

#include "wsev-internal.h"
#include "deflate.h"
#include "frame.h"
#include "utf8.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event;
struct event_base;
struct evhttp_uri;

#define DEFAULT_MAX_PAYLOAD 131072
#define DEFAULT_CLOSE_TIMEOUT_SEC 5
/* Mask keys are drawn from the CSPRNG this many bytes at a time. */
#define KEY_POOL 32

/* Data the transport may hold before frames wait in our pending queue. */
#define OUT_WINDOW 65536

/* libevent 2.1 reads a socket at most this much per read()
 * (EVBUFFER_MAX_READ): an input this full may have left more behind. */
#define BEV_READ_CAP 4096

struct wsev_connection;

/*
 * How bytes move between a connection and its socket: an I/O backend,
 * chosen once when the connection is made, as libevent chooses
 * bufferevent_sock.c or bufferevent_ssl.c behind one interface. The
 * bufferevent's own I/O (wsev_conn_io_bev_, conn-transport.c) serves TLS,
 * filters and pairs; a plain socket's bufferevent gets the fast path
 * (wsev_conn_io_sock_, conn-sock.c), which reads and writes the socket
 * itself while every byte still passes through the bufferevent's buffers.
 */
struct wsev_conn_io_ {
	/* Enable the new connection's bufferevent; -1 on failure. */
	int (*start)(struct wsev_connection *c);
	/* The input was parsed after a full read: read on from the socket. */
	void (*read_on)(struct wsev_connection *c);
	/* A frame that goes first into an empty queue: write it now from the
	 * caller's memory. 0 if it was taken (the rest queued), 1 if it is to
	 * be queued as usual (nothing of it written), -1 if the rest of a
	 * frame begun on the wire could not be queued (the stream is lost). */
	int (*send_now)(struct wsev_connection *c, unsigned b0,
	    const void *data, size_t len);
	/* Before output is handed over: a backlog the bufferevent was
	 * writing is gone, so writes go at once again. */
	void (*resume)(struct wsev_connection *c);
	/* Hand the output to the socket now. 1 if the socket took it all and
	 * more may follow at once, 0 if the output stays with the
	 * bufferevent. */
	int (*flush)(struct wsev_connection *c);
	/* Whether a send from outside the callbacks is written at once. */
	int (*writes_now)(const struct wsev_connection *c);
};

extern const struct wsev_conn_io_ wsev_conn_io_bev_;
extern const struct wsev_conn_io_ wsev_conn_io_sock_;
/* The connection's backend (a bit in the struct, not a pointer). */
#define WSEV_CONN_IO(c) ((c)->sock_io ? &wsev_conn_io_sock_ : &wsev_conn_io_bev_)

/* Keepalive's running state, only on connections that use it. */
struct wsev_conn_ka {
	unsigned interval, pong_timeout;	/* seconds; 0: off */
	uint32_t sent;			/* the last keepalive ping's number */
	uint32_t awaited;		/* the ping whose pong is awaited */
	struct event *timer;
	struct event *pong_timer;
};

/* The lengths of the frames in the pending buffer, oldest first. */
struct outq {
	uint64_t *v;
	size_t head, count, cap;
};

/* Fields are grouped by size (the flags in one word, the small ones
 * together): every connection pays for the padding between them. */
struct wsev_connection {
	struct bufferevent *bev;
	struct event_base *base;
	struct wsev_callbacks cbs;
	void *arg;

	/* The URI's text, the origin and the protocol in one block, each
	 * NUL-terminated (origin and protocol point into it, or are NULL);
	 * the URI is parsed when it is first asked for. */
	char *strings;
	struct evhttp_uri *uri;
	const char *origin;
	const char *protocol;
	char *close_data;
	uint64_t max_payload;
	uint64_t max_message;
	size_t max_out;		/* 0: no limit on what we buffer */

	wsev_release_fn_ release;	/* NULL: we free the bufferevent */
	void *release_arg;
	/* The owner's list of its connections (a route's), or NULL. */
	struct wsev_connection *list_prev, *list_next;
	struct event *timer;	/* close timeout, made on first use */
	struct event *kick;	/* deferred service, made on first use */

	unsigned free_requested : 1;
	unsigned sent_close : 1;	/* our close frame is queued */
	unsigned recv_close : 1;	/* the peer's close frame arrived */
	unsigned failed : 1;		/* we failed the connection */
	unsigned transport_error : 1;
	unsigned eof_seen : 1;		/* EOF while our close was queued */
	unsigned lingering : 1;		/* half-closed after a failure */
	unsigned drain_armed : 1;
	unsigned read_paused : 1;	/* output over max_out: not reading */
	unsigned write_armed : 1;	/* socket I/O: EV_WRITE on for a backlog */
	unsigned shut_due : 1;		/* lingering: SHUT_WR once drained */
	unsigned in_frame : 1;		/* receiving: a frame's payload */
	unsigned msg_opcode : 4;	/* 0: no message in progress */
	unsigned msg_deflated : 1;	/* this message is compressed */
	unsigned msg_zdata : 1;		/* ... and some of its bytes came */
	unsigned out_opcode : 4;	/* sending in pieces; 0: no message */
	unsigned out_deflated : 1;
	unsigned ka_waiting : 1;	/* a keepalive pong is due */
	unsigned has_uri : 1;		/* strings begins with the URI */
	unsigned type : 2;		/* enum wsev_connection_type */
	unsigned state : 2;		/* enum wsev_state */
	unsigned sock_io : 1;		/* I/O backend: socket, else bev */
	uint32_t close_timeout_ms;
	short depth;			/* reentrancy: calls on the stack */
	short pending_events;		/* BEV_EVENT_* not yet handled */
	unsigned short close_code;
	short pending_errno;		/* the errno behind pending_events */

	/* Receiving: the frame in progress and the message it belongs to. */
	struct wsev_frame_header fh;
	uint64_t remaining;
	struct wsev_utf8 utf8;
	/* Sending a message in pieces: its text so far. */
	struct wsev_utf8 out_utf8;
	uint8_t mask_off;		/* where in the mask key, 0..3 */
	uint8_t keypos;			/* the next mask key in keys */
	uint8_t *msg;
	size_t msg_len, msg_cap;
	uint64_t msg_total;		/* bytes of the message so far */
	size_t msg_chunk;		/* this message's chunk size; 0: whole */
	size_t chunk_size;		/* for the next messages */

	/* permessage-deflate, when negotiated. */
	struct wsev_extensions ext;
	uint8_t *keys;			/* a client's pool, made on first use */
	struct wsev_pmd *pmd;

	/* Keepalive: a ping every ka_interval s; its pong due within
	 * ka_pong_timeout s. */
	struct wsev_conn_ka *ka;	/* made when keepalive is first set */

	struct evbuffer *pending;	/* whole frames not yet handed over */
	/* A filter's bytes wait in the output of the bufferevent at the
	 * bottom of its chain, whose draining the filter does not report:
	 * we watch that buffer ourselves. low_cb is set exactly while bev
	 * is a filter (has bufferevents under it). */
	struct evbuffer *low_out;
	struct evbuffer_cb_entry *low_cb;
	struct outq oq;
};

/* ---- connection.c: life and reentrancy ---- */
/* Every entry from libevent and every public call runs between enter and
 * leave; leave returns -1 once it freed the connection (stop touching
 * it). kick services the connection from the loop instead of in place. */
void wsev_conn_enter_(struct wsev_connection *c);
int wsev_conn_leave_(struct wsev_connection *c);
void wsev_conn_kick_(struct wsev_connection *c);
/* The "error" and "closing" callbacks (never once free was asked). */
void wsev_conn_emit_error_(struct wsev_connection *c,
    enum wsev_error_domain domain, int code, const char *msg);
void wsev_conn_emit_closing_(struct wsev_connection *c);

/* ---- conn-transport.c: the bufferevent chain ---- */
/* The bottom of a chain of filters (bev itself if none). */
struct bufferevent *wsev_conn_bottom_(struct bufferevent *bev);
/* What the whole chain holds for the peer. */
size_t wsev_conn_out_len_(const struct wsev_connection *c);
/* The bottom's drain, which a filter does not report (an evbuffer
 * callback), and its removal. */
void wsev_conn_bottom_drained_(struct evbuffer *buf,
    const struct evbuffer_cb_info *info, void *arg);
void wsev_conn_unwatch_bottom_(struct wsev_connection *c);
/* The SSL anywhere in the chain, or NULL. */
SSL *wsev_conn_find_ssl_(struct bufferevent *bev);
/* close_notify, the one place wsev shuts TLS down. */
void wsev_conn_tls_shutdown_with_(SSL *ssl);
void wsev_conn_tls_shutdown_(struct bufferevent *bev);
/* Close the transport (close_notify, EOF to a pair) and let it go. */
void wsev_conn_transport_close_(struct wsev_connection *c);
/* Let the bufferevent go: freed, or given back to its owner. */
void wsev_conn_transport_release_(struct wsev_connection *c,
    struct bufferevent *bev);

/* ---- conn-recv.c: the receive path ---- */
/* The thread's spare message buffer lives while the thread has
 * connections: made ones count up, freed ones down. */
void wsev_conn_thread_ref_(void);
void wsev_conn_thread_unref_(void);
/* Room for extra more bytes of the message (+1 for a NUL); its release to
 * the thread's spare slot. */
int wsev_conn_reserve_msg_(struct wsev_connection *c, size_t extra);
void wsev_conn_release_msg_(struct wsev_connection *c);
/* Payload bytes into the message: unmasked, text validated. */
int wsev_conn_payload_in_(struct wsev_connection *c, uint8_t *dst,
    const uint8_t *src, size_t n);
/* The current frame's payload is complete: deliver or go on. */
int wsev_conn_frame_done_(struct wsev_connection *c);
/* Parse what the input holds, frame by frame. */
void wsev_conn_process_input_(struct wsev_connection *c);

/* ---- conn-send.c: the send path ---- */
/* A control frame ahead of every pending data frame (a pong, a ping). */
int wsev_conn_queue_urgent_(struct wsev_connection *c, unsigned opcode,
    const void *data, size_t len);
/* Our close frame, behind what is queued. */
int wsev_conn_queue_close_(struct wsev_connection *c, unsigned short code,
    const char *reason, size_t rlen);
/* What we hold for the peer: our queue and the transport's output. */
size_t wsev_conn_buffered_(const struct wsev_connection *c);
/* Hand pending frames to the transport while there is room. */
void wsev_conn_move_output_(struct wsev_connection *c);
/* After output moved: "drain", and the close once both frames passed. */
void wsev_conn_check_output_(struct wsev_connection *c);

/* ---- conn-close.c: closing ---- */
/* Fail the connection (RFC 6455 §7.1.7): our close frame with the code,
 * "error", no more parsing. Returns -1 for the callers' convenience. */
int wsev_conn_fail_(struct wsev_connection *c, unsigned short code,
    const char *why);
/* The one exit path: CLOSED, transport gone, "closed" once. */
void wsev_conn_end_(struct wsev_connection *c);
/* The peer's close frame (RFC 6455 §5.5.1): checked, echoed. */
int wsev_conn_handle_close_(struct wsev_connection *c, const uint8_t *p,
    size_t len);
void wsev_conn_arm_close_timer_(struct wsev_connection *c);
/* 1011 from a server, 1001 from a client: our own trouble. */
unsigned short wsev_conn_internal_error_code_(const struct wsev_connection *c);
/* After a failure: half-close and drop what still arrives. */
int wsev_conn_linger_(struct wsev_connection *c);
/* A server shutting down: 1001, written now, best effort. */
int wsev_conn_write_going_away_(struct wsev_connection *c, const char *reason);

/* ---- conn-sock.c: the plain-socket I/O backend ---- */
/* Whether bev is a bare socket's bufferevent (the fast path may serve
 * it). */
int wsev_conn_sock_usable_(struct bufferevent *bev);

/* ---- conn-props.c ---- */
/* The close timeout as a timeval. */
void wsev_conn_close_timeout_(const struct wsev_connection *c,
    struct timeval *tv);

/* ---- conn-keepalive.c ---- */
/* A pong that may answer our keepalive ping; (re)arm the ping timer. */
void wsev_conn_keepalive_pong_(struct wsev_connection *c, const uint8_t *p,
    size_t len);
void wsev_conn_keepalive_arm_(struct wsev_connection *c);

/* A valid pointer for payloads of no bytes. */
extern const uint8_t wsev_conn_empty_payload_[1];

#endif /* WSEV_CONN_H */
