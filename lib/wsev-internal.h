/*
 * Private declarations shared by the library's source files.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_INTERNAL_H
#define WSEV_INTERNAL_H

#include "wsev/wsev.h"

#if defined(__GNUC__)
#define WSEV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define WSEV_PRINTF(a, b)
#endif

/*
 * Thread-local storage (GCC's and Clang's __thread) for the buffers wsev
 * lends each thread: the spare message buffer (conn-recv.c) and the
 * compression buffer (deflate.c). Without it nothing is shared between
 * threads: those buffers belong to each connection instead. Defining
 * WSEV_NO_THREAD_LOCAL builds that way with any compiler (the test suite
 * does, to check that it holds no global state).
 */
#if defined(__GNUC__) && !defined(WSEV_NO_THREAD_LOCAL)
#define WSEV_THREAD_LOCAL 1
#else
#define WSEV_THREAD_LOCAL 0
#endif

/* strdup, which strict C99 does not declare. */
char *wsev_strdup_(const char *s);

/* Fill *err (which may be NULL) with a domain, a code and a formatted message. */
void wsev_error_set_(struct wsev_error *err, enum wsev_error_domain domain,
    int code, const char *fmt, ...) WSEV_PRINTF(4, 5);

struct bufferevent;
struct evhttp_request;

/*
 * TCP_NODELAY on a bufferevent's socket, if it has one. WebSocket frames
 * are whole messages written at once: Nagle's algorithm only delays them
 * (a 101 held behind TLS 1.3 session tickets waited 40 ms for an ACK).
 */
void wsev_set_nodelay_(struct bufferevent *bev);

/* The TLS error behind a bufferevent's failure (empties libevent's list),
 * or 0 if the failure was not TLS's own. */
unsigned long wsev_tls_error_(struct bufferevent *bev);

/*
 * Who frees the transport. By default the connection frees its bufferevent;
 * a transport owned by someone else (an evhttp_connection, a socket the
 * server took from evhttp) is given back through release instead, and the
 * owner reports its own end of it through wsev_connection_lose_transport_().
 */
typedef void (*wsev_release_fn_)(struct wsev_connection *conn,
    struct bufferevent *bev, void *arg);
void wsev_connection_set_owner_(struct wsev_connection *conn,
    wsev_release_fn_ release, void *arg);
/* The owner freed the transport: end the connection without touching it. */
void wsev_connection_lose_transport_(struct wsev_connection *conn,
    const char *why);

/*
 * A list of connections through two links in each (a route's open
 * WebSockets, server.c): add at the head, remove, walk with next.
 */
void wsev_connection_list_add_(struct wsev_connection **head,
    struct wsev_connection *conn);
void wsev_connection_list_remove_(struct wsev_connection **head,
    struct wsev_connection *conn);

/* Defer wsev_connection_free() (and every callback's effect on the
 * connection's life) across a call; unhold frees it if it was asked to. */
void wsev_connection_hold_(struct wsev_connection *conn);
void wsev_connection_unhold_(struct wsev_connection *conn);

/* Whether cb is the event callback wsev puts on a connection's
 * bufferevent (the guard tells a WebSocket from evhttp by it). */
int wsev_connection_owns_cb_(void (*cb)(struct bufferevent *, short, void *));

/* The handshake helpers' pieces that the server glue reuses. */
int wsev_server_fill_response_(struct evhttp_request *req,
    const char *const *protocols, const char **chosen);
/*
 * Check the handshake and add the 101 headers (or send the refusal, and
 * return 0 with *err set). With @p deflate enabled, a permessage-deflate
 * offer is accepted: its answer goes into the 101 headers and the
 * parameters into *accepted (zeroed when none; accepted may be NULL).
 */
int wsev_server_process_handshake_(struct evhttp_request *req,
    const char *expected_origin, const char *const *protocols,
    const struct wsev_deflate_options *deflate, const char **chosen,
    struct wsev_extensions *accepted, struct wsev_error *err);

/* The last value of a single-valued header, or NULL (handshake.c). */
struct evkeyvalq;
const char *wsev_header_last_(const struct evkeyvalq *h, const char *name);

/*
 * The application's OpenSSL errors, taken off the thread's queue around
 * OpenSSL calls that empty it (SSL_CTX_set_default_verify_paths() does)
 * and put back in their order afterwards (tls.c).
 */
#define WSEV_TLS_ERRORS_MAX_ 16
struct wsev_tls_errors_ {
	int n;
	struct {
		unsigned long code;
		int line;
		int has_data;
		/* Copies: OpenSSL 3 frees its own with the entry. */
		char file[96], func[64], data[128];
	} e[WSEV_TLS_ERRORS_MAX_];
};
void wsev_tls_errors_save_(struct wsev_tls_errors_ *s);
void wsev_tls_errors_restore_(const struct wsev_tls_errors_ *s);

#endif /* WSEV_INTERNAL_H */
