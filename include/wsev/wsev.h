/*
 * wsev: the WebSocket protocol (RFC 6455) for libevent programs.
 *
 * The API mirrors libsoup's WebSocket API call for call, rebuilt on libevent:
 * a connection sits on a bufferevent, the handshake helpers work on
 * struct evhttp_request, and a table of callbacks replaces GObject signals.
 *
 * Threads. Everything wsev makes belongs to the thread that runs the
 * event_base it sits on: a connection (its bufferevent's base), a route
 * (wsev_server_add_handler) and a guard (their evhttp's base), a
 * wsev_connect() request (its base). Make it, use it and free it on that
 * thread; to act on it from another thread, post to its base (an event
 * made active with event_active(), under evthread_use_pthreads()), as
 * samples/chat-server does. The handshake helpers act on an
 * evhttp_request: call them on its evhttp's thread. Functions that take
 * no object (wsev_get_version(), wsev_strerror()) may be called anywhere.
 * An SSL_CTX may be shared by the connections, routes and guards of many
 * threads: wsev only makes SSL objects from it (do not change it while
 * they are made). Nothing else in wsev is shared: mask keys come from each
 * connection's own pool (OpenSSL's RAND_bytes, thread-safe), the spare
 * message and deflate buffers wsev lends while a thread has connections
 * are that thread's own (a connection freed on another thread would leave
 * its thread's buffer allocated), and the only process-wide state is
 * wsev_connect()'s default TLS context, built once under a lock. One
 * event_base per thread therefore needs no locks.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_WSEV_H
#define WSEV_WSEV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WSEV_BUILDING) && defined(__GNUC__)
#define WSEV_EXPORT __attribute__((visibility("default")))
#else
#define WSEV_EXPORT
#endif

#define WSEV_VERSION_MAJOR 0
#define WSEV_VERSION_MINOR 1
#define WSEV_VERSION_PATCH 0
#define WSEV_VERSION_STRING "0.1.0"

struct bufferevent;
struct evdns_base;
struct event_base;
struct evbuffer;
struct evhttp;
struct evhttp_request;
struct evhttp_uri;
struct ssl_ctx_st;
struct timeval;

/** The library's version, "MAJOR.MINOR.PATCH"; compare with WSEV_VERSION_STRING. */
WSEV_EXPORT const char *wsev_get_version(void);

/** Which end of the connection this side is (libsoup's SoupWebsocketConnectionType). */
enum wsev_connection_type {
	WSEV_CONNECTION_UNKNOWN = 0,
	WSEV_CONNECTION_CLIENT = 1,
	WSEV_CONNECTION_SERVER = 2
};

/** The connection's state (libsoup's SoupWebsocketState). */
enum wsev_state {
	WSEV_STATE_OPEN = 1,	/**< messages flow both ways */
	WSEV_STATE_CLOSING = 2,	/**< a close frame was sent or received */
	WSEV_STATE_CLOSED = 3	/**< the transport is closed; "closed" fired */
};

/** The type of a message (libsoup's SoupWebsocketDataType). */
enum wsev_data_type {
	WSEV_DATA_TEXT = 1,
	WSEV_DATA_BINARY = 2
};

/** Close codes (RFC 6455 §7.4.1); other codes in 3000-4999 are the application's. */
enum wsev_close_code {
	WSEV_CLOSE_NORMAL = 1000,
	WSEV_CLOSE_GOING_AWAY = 1001,
	WSEV_CLOSE_PROTOCOL_ERROR = 1002,
	WSEV_CLOSE_UNSUPPORTED_DATA = 1003,
	WSEV_CLOSE_NO_STATUS = 1005,	/**< never on the wire: "the close frame had no code" */
	WSEV_CLOSE_ABNORMAL = 1006,	/**< never on the wire: "no close frame at all" */
	WSEV_CLOSE_BAD_DATA = 1007,
	WSEV_CLOSE_POLICY_VIOLATION = 1008,
	WSEV_CLOSE_TOO_BIG = 1009,
	WSEV_CLOSE_NO_EXTENSION = 1010,
	WSEV_CLOSE_SERVER_ERROR = 1011,
	WSEV_CLOSE_TLS_HANDSHAKE = 1015	/**< never on the wire */
};

/** Error domains: GLib reports these in separate GError domains. */
enum wsev_error_domain {
	WSEV_DOMAIN_NONE = 0,		/**< no error was stored */
	WSEV_DOMAIN_WEBSOCKET = 1,	/**< code: enum wsev_error_code, or a close code */
	WSEV_DOMAIN_ERRNO = 2,		/**< code: an errno value */
	WSEV_DOMAIN_TLS = 3,		/**< code: the X509_V_ERR_* verify result
					     when the peer's certificate failed
					     verification, else OpenSSL's
					     ERR_GET_REASON of the first error */
	WSEV_DOMAIN_DNS = 4,		/**< code: an evutil EVUTIL_EAI_* value */
	WSEV_DOMAIN_PROXY = 5		/**< code: enum wsev_proxy_error, or
					     the HTTP status (100-599) of a
					     proxy's answer to CONNECT */
};

/**
 * Handshake error codes in WSEV_DOMAIN_WEBSOCKET (libsoup's SoupWebsocketError).
 * Errors on an established connection use the close code instead (1002, 1006,
 * 1007, 1009, ...), as libsoup does.
 */
enum wsev_error_code {
	WSEV_ERROR_FAILED = 0,
	WSEV_ERROR_NOT_WEBSOCKET = 1,
	WSEV_ERROR_BAD_HANDSHAKE = 2,
	WSEV_ERROR_BAD_ORIGIN = 3
};

/**
 * Proxy error codes in WSEV_DOMAIN_PROXY (wsev_connect() through a proxy).
 * A proxy that answers CONNECT with a status other than 2xx gives that
 * status as the code (WSEV_PROXY_ERROR_AUTH_REQUIRED for 407; tinyproxy
 * answers a wrong password with 401, which is reported as 401). A SOCKS5
 * reply code N (RFC 1928 §6) gives WSEV_PROXY_ERROR_SOCKS + N.
 */
enum wsev_proxy_error {
	WSEV_PROXY_ERROR_BAD_URL = 1,	/**< the proxy URL is not one of
					     http, https, socks5, socks5h */
	WSEV_PROXY_ERROR_BAD_REPLY = 2,	/**< not HTTP, not SOCKS5 (a bad
					     version), or a head over 16 KiB */
	WSEV_PROXY_ERROR_CLOSED = 3,	/**< the proxy hung up before its
					     answer was whole */
	WSEV_PROXY_ERROR_NO_METHOD = 4,	/**< SOCKS5: no authentication method
					     acceptable to the proxy */
	WSEV_PROXY_ERROR_AUTH_FAILED = 5, /**< SOCKS5: username/password
					     refused (RFC 1929) */
	WSEV_PROXY_ERROR_AUTH_REQUIRED = 407, /**< HTTP: 407 Proxy
					     Authentication Required */
	WSEV_PROXY_ERROR_SOCKS = 1000,	/**< SOCKS5 reply codes follow */
	WSEV_PROXY_ERROR_SOCKS_GENERAL_FAILURE = 1001,
	WSEV_PROXY_ERROR_SOCKS_NOT_ALLOWED = 1002,
	WSEV_PROXY_ERROR_SOCKS_NETWORK_UNREACHABLE = 1003,
	WSEV_PROXY_ERROR_SOCKS_HOST_UNREACHABLE = 1004,
	WSEV_PROXY_ERROR_SOCKS_CONNECTION_REFUSED = 1005,
	WSEV_PROXY_ERROR_SOCKS_TTL_EXPIRED = 1006,
	WSEV_PROXY_ERROR_SOCKS_COMMAND_NOT_SUPPORTED = 1007,
	WSEV_PROXY_ERROR_SOCKS_ADDRESS_NOT_SUPPORTED = 1008
};

/**
 * An error, owned by whoever declared it. Nothing in it needs freeing; the
 * library never prints it.
 */
struct wsev_error {
	enum wsev_error_domain domain;
	int code;
	char message[256];	/**< NUL-terminated, one line, no trailing period */
};

struct wsev_connection;

/**
 * The callbacks of a connection (libsoup's signals). Any member may be NULL.
 * Every callback may call any wsev function on the connection, including
 * wsev_connection_free(); after a free no other callback runs.
 */
struct wsev_callbacks {
	/** A whole message arrived. @p data is NUL-terminated outside @p len,
	 *  never NULL (an empty message has len 0), and valid until the return. */
	void (*message)(struct wsev_connection *conn, enum wsev_data_type type,
	    const void *data, size_t len, void *arg);
	/** An orderly close began: wsev_connection_close() was called, or the
	 *  peer's close frame arrived. Not emitted when the connection fails. */
	void (*closing)(struct wsev_connection *conn, void *arg);
	/** The connection is closed; emitted exactly once, on every path.
	 *  The connection stays valid until wsev_connection_free(). */
	void (*closed)(struct wsev_connection *conn, void *arg);
	/** Something went wrong; a fatal error is followed by "closed". */
	void (*error)(struct wsev_connection *conn, const struct wsev_error *err,
	    void *arg);
	/** A pong arrived (solicited or not). @p data as for "message". */
	void (*pong)(struct wsev_connection *conn, const void *data, size_t len,
	    void *arg);
	/** Everything queued so far was handed to the transport: the output
	 *  buffer emptied after a send. */
	void (*drain)(struct wsev_connection *conn, void *arg);
	/** Chunked receiving (see wsev_connection_set_chunk_size()): a piece
	 *  of a message, in order. @p last is 1 on the message's final piece
	 *  (which may be empty). A text piece is always whole UTF-8 on its own:
	 *  a code point cut by a chunk edge moves to the next piece. @p data as
	 *  for "message". Used instead of "message" while chunking is on. */
	void (*message_chunk)(struct wsev_connection *conn,
	    enum wsev_data_type type, const void *data, size_t len, int last,
	    void *arg);
	/* Later additions go at the end: the table is copied with its size, so
	 * programs built against an older header keep working. */
};

/**
 * Create a WebSocket connection on an established transport, after the
 * handshake (libsoup's soup_websocket_connection_new).
 *
 * @param bev       any bufferevent: socket, OpenSSL, filter or pair. On
 *                  success the connection owns it: it replaces its callbacks,
 *                  enables reading and writing, and frees it when the
 *                  connection reaches CLOSED (or is freed). Bytes already in
 *                  its input are processed on the next loop iteration. Do not
 *                  write to it yourself. On a plain socket bufferevent (no
 *                  TLS or filter) wsev also reads and writes the socket
 *                  itself, through the bufferevent's buffers: reads past
 *                  libevent 2.1's 4096 bytes per read(), and output written
 *                  at once, EV_WRITE enabled only while some of it waits for
 *                  the socket; not while a rate limit of the bufferevent or
 *                  of its rate-limit group is in force (set before or after
 *                  this call): libevent then does all the reading and
 *                  writing, within the limit. On a filter (bufferevent_filter,
 *                  an OpenSSL filter) the output counted, waited for before
 *                  closing and written before a half-close is the whole
 *                  chain's, down to the bufferevent at the bottom. On a
 *                  TLS bufferevent the SSL gets SSL_MODE_RELEASE_BUFFERS,
 *                  so that an idle connection does not keep OpenSSL's
 *                  record buffers (about 34 KiB).
 * @param uri       the URI of the connection, checked with evhttp_uri_parse;
 *                  NULL for none.
 * @param type      WSEV_CONNECTION_CLIENT or WSEV_CONNECTION_SERVER.
 * @param origin    the Origin of the client, or NULL; copied.
 * @param protocol  the negotiated subprotocol, or NULL; copied.
 * @return the connection in state OPEN, or NULL (bad argument, an unparsable
 *         uri, out of memory); on NULL the caller still owns @p bev.
 * Runs no callback.
 */
WSEV_EXPORT struct wsev_connection *wsev_connection_new(struct bufferevent *bev,
    const char *uri, enum wsev_connection_type type, const char *origin,
    const char *protocol);

/**
 * permessage-deflate (RFC 7692): what a client offers or a server accepts,
 * and how this side compresses. Initialised by wsev_connection_options_init()
 * (or memset to 0 and set enabled). Window sizes are in bits, 8-15; 0 leaves
 * the parameter out.
 */
struct wsev_deflate_options {
	int enabled;		/**< 1 (default): offer it (client), accept an
				     offer (server); 0: never negotiated */
	int level;		/**< zlib level 0-9, or -1 (default) for
				     zlib's default, 6 */
	int mem_level;		/**< zlib memLevel 1-9; default 8 */
	int server_no_context_takeover;	/**< client: ask the server to reset
				     its compressor for every message; server:
				     always do so (and say it) */
	int client_no_context_takeover;	/**< client: announce that it resets
				     its own for every message; server: ask the
				     client to */
	int server_max_window_bits;	/**< client: ask the server's window to
				     be at most this; server: use at most this */
	int client_max_window_bits;	/**< client: limit its own window (the
				     parameter is always offered, bare when 0,
				     so the server may limit it); server: ask
				     a client that offered the parameter to
				     use at most this */
};

/**
 * The extensions in use on a connection, as negotiated (libsoup's list of
 * SoupWebsocketExtension). Without permessage-deflate every field is 0.
 */
struct wsev_extensions {
	int deflate;			/**< 1: permessage-deflate is in use */
	int server_no_context_takeover;	/**< the server resets per message */
	int client_no_context_takeover;	/**< the client resets per message */
	int server_max_window_bits;	/**< the server's window, 8-15 */
	int client_max_window_bits;	/**< the client's window, 8-15 */
	int level;			/**< this side's zlib level */
	int mem_level;			/**< this side's zlib memLevel */
};

/**
 * wsev_connection_new() with the extensions a handshake negotiated
 * (libsoup's soup_websocket_connection_new_with_extensions); @p ext comes
 * from wsev_server_process_handshake_with_extensions() or
 * wsev_client_verify_handshake_with_extensions() and is copied. NULL is
 * the same as wsev_connection_new().
 *
 * With permessage-deflate, messages are compressed when sent (RSV1 on the
 * first frame of each; control frames never) and decompressed as they
 * arrive. The incoming limits then count decompressed bytes: a compressed
 * message may not decompress to more than max_incoming_payload_size (nor
 * max_incoming_message_size when set; received in chunks, only the latter
 * applies to it); past it the connection fails with 1009 once at most that
 * much was inflated, so a "deflate bomb" costs bounded work and memory.
 * A compressed message may also end at most 4 deflate blocks marked final
 * (BFINAL, RFC 7692 §7.2.3.3), plus one per 32 KiB it inflates to (per
 * window of the peer's, when smaller): each makes the receiver start its
 * inflater over with a copy of the window, so past that the connection
 * fails with 1009 too (the data is valid, its cost is refused). zlib-based
 * senders never mark a block final; others end a flush with one, one per
 * message or per fragment. Each direction's zlib stream is made on its
 * first compressed message (about 256 KiB to compress with the defaults,
 * 40 KiB to decompress) and kept while context takeover is in use; with
 * no context takeover it is freed after every message. A window of 8 bits
 * cannot be produced by zlib: a side limited to it sends uncompressed
 * messages (RFC 7692 lets any message go uncompressed).
 */
WSEV_EXPORT struct wsev_connection *wsev_connection_new_with_extensions(
    struct bufferevent *bev, const char *uri, enum wsev_connection_type type,
    const char *origin, const char *protocol,
    const struct wsev_extensions *ext);

/** The negotiated extensions (never NULL; deflate 0 when none). Valid until
 *  the connection is freed. */
WSEV_EXPORT const struct wsev_extensions *wsev_connection_get_extensions(
    const struct wsev_connection *conn);

/**
 * Free the connection and its bufferevent (closing the socket if the
 * bufferevent was made with BEV_OPT_CLOSE_ON_FREE). NULL is ignored.
 * No close frame is sent: call wsev_connection_close() first for an orderly
 * end. Safe from inside any callback of this connection: the callback's
 * caller stops touching the connection and the memory is released when the
 * outermost callback returns. No callback runs after this returns.
 */
WSEV_EXPORT void wsev_connection_free(struct wsev_connection *conn);

/**
 * Set the callback table and its argument. The table is copied; @p cbs may
 * be NULL to remove every callback. Use the macro below, which passes the
 * size of the table this program was compiled with.
 */
WSEV_EXPORT void wsev_connection_set_callbacks_sized(
    struct wsev_connection *conn, const struct wsev_callbacks *cbs,
    size_t cbs_size, void *arg);
#define wsev_connection_set_callbacks(conn, cbs, arg) \
	wsev_connection_set_callbacks_sized((conn), (cbs), \
	    sizeof(struct wsev_callbacks), (arg))

/** The transport (libsoup's io-stream); NULL once the connection is CLOSED. */
WSEV_EXPORT struct bufferevent *wsev_connection_get_bufferevent(
    const struct wsev_connection *conn);
/** The type given to wsev_connection_new(). */
WSEV_EXPORT enum wsev_connection_type wsev_connection_get_connection_type(
    const struct wsev_connection *conn);
/** The parsed URI, or NULL if none was given (or memory ran out parsing
 * it: the connection keeps the text and parses it at the first call).
 * Owned by the connection. */
WSEV_EXPORT const struct evhttp_uri *wsev_connection_get_uri(
    const struct wsev_connection *conn);
/** The Origin, or NULL. */
WSEV_EXPORT const char *wsev_connection_get_origin(
    const struct wsev_connection *conn);
/** The negotiated subprotocol, or NULL. */
WSEV_EXPORT const char *wsev_connection_get_protocol(
    const struct wsev_connection *conn);
/** The current state. */
WSEV_EXPORT enum wsev_state wsev_connection_get_state(
    const struct wsev_connection *conn);

/**
 * The close code: the one the peer sent (1005 if its close frame had no
 * code), or the code this side failed the connection with (1002, 1007,
 * 1009, ...), or 1006 once CLOSED without any close frame. 0 before any of
 * these happened.
 */
WSEV_EXPORT unsigned short wsev_connection_get_close_code(
    const struct wsev_connection *conn);
/**
 * The close reason that goes with the close code ("" if the frame had none),
 * or NULL when there was no close frame. Valid until the connection is freed.
 */
WSEV_EXPORT const char *wsev_connection_get_close_data(
    const struct wsev_connection *conn);

/**
 * Bytes queued for sending and not yet handed to the operating system (or
 * to TLS): the bufferevent's output (on a filter, the output of every
 * bufferevent of its chain) plus the frames waiting in wsev. A
 * server can use it to spot a client that does not keep up.
 */
WSEV_EXPORT size_t wsev_connection_get_buffered_amount(
    const struct wsev_connection *conn);

/**
 * The most bytes wsev holds for sending on this connection (the buffered
 * amount above); 0 means no limit. The default is 4 MiB
 * (WSEV_DEFAULT_MAX_OUTGOING_BUFFER). A send that would take the buffered
 * amount past it is refused (-1) and the connection fails with close code
 * 1008: a peer that does not read cannot make the process hold more. A
 * message sent while nothing is buffered is always taken, whatever its
 * size. Past the limit wsev also stops reading the peer, so pings arriving
 * from a peer that does not read its pongs stay in the kernel's buffers
 * (TCP flow control) instead of ours; reading resumes as the output drains.
 */
#define WSEV_DEFAULT_MAX_OUTGOING_BUFFER (4u * 1024 * 1024)
WSEV_EXPORT size_t wsev_connection_get_max_outgoing_buffer(
    const struct wsev_connection *conn);
/** Set the limit above; applies from the next send on. */
WSEV_EXPORT void wsev_connection_set_max_outgoing_buffer(
    struct wsev_connection *conn, size_t max_size);

/**
 * The largest frame payload accepted, in bytes; 0 means no limit. The
 * default is 131072, as in libsoup. A frame whose header announces more is
 * refused with close code 1009 before any of its payload is buffered.
 */
WSEV_EXPORT uint64_t wsev_connection_get_max_incoming_payload_size(
    const struct wsev_connection *conn);
/** Set the limit above; applies from the next frame header on. */
WSEV_EXPORT void wsev_connection_set_max_incoming_payload_size(
    struct wsev_connection *conn, uint64_t max_size);

/**
 * The largest reassembled message accepted, in bytes; 0 (the default) means
 * no limit beyond the per-frame one. Checked as each frame header arrives:
 * past it the connection fails with 1009. A limit lowered in the middle of
 * a message applies at its next frame header: if the message so far is
 * already over the new limit, or would be with that frame, it fails there
 * (a compressed message: if what it inflated to so far is over it).
 */
WSEV_EXPORT uint64_t wsev_connection_get_max_incoming_message_size(
    const struct wsev_connection *conn);
/** Set the limit above; applies from the next frame header on. */
WSEV_EXPORT void wsev_connection_set_max_incoming_message_size(
    struct wsev_connection *conn, uint64_t max_size);

/**
 * How long the close handshake may take, from the moment it starts until
 * the transport is closed (default 5 s), kept to the millisecond (rounded
 * up; at most 49 days). NULL restores the default. Applies to a close
 * started later.
 */
WSEV_EXPORT void wsev_connection_set_close_timeout(struct wsev_connection *conn,
    const struct timeval *tv);

/** The close timeout set by wsev_connection_set_close_timeout(). */
WSEV_EXPORT void wsev_connection_get_close_timeout(
    const struct wsev_connection *conn, struct timeval *tv);

/**
 * Keepalive (libsoup's keepalive-interval): send a ping every @p seconds
 * (0, the default, turns it off) while the connection is OPEN. The pongs
 * reach the "pong" callback like any other. Its state is allocated at the
 * first non-zero setting (of this or the pong timeout); if memory runs
 * out then, keepalive stays off and the getters read 0.
 */
WSEV_EXPORT void wsev_connection_set_keepalive_interval(
    struct wsev_connection *conn, unsigned seconds);
WSEV_EXPORT unsigned wsev_connection_get_keepalive_interval(
    const struct wsev_connection *conn);

/**
 * Keepalive pong timeout (libsoup's keepalive-pong-timeout): when the pong
 * answering a keepalive ping has not arrived @p seconds after the ping was
 * sent, the peer is taken for dead: the connection fails with close code
 * 1008 and the error "keepalive pong timed out" (WSEV_DOMAIN_WEBSOCKET,
 * 1008), then "closed" follows within the close timeout. 0 (the default)
 * waits forever. Only matters with a keepalive interval.
 */
WSEV_EXPORT void wsev_connection_set_keepalive_pong_timeout(
    struct wsev_connection *conn, unsigned seconds);
WSEV_EXPORT unsigned wsev_connection_get_keepalive_pong_timeout(
    const struct wsev_connection *conn);

/**
 * Settings for new connections: the defaults of a server route
 * (wsev_handler_set_options()), of wsev_server_upgrade_with_options() and
 * of wsev_connect(). Initialise with wsev_connection_options_init(); fields
 * are only ever added at the end.
 */
struct wsev_connection_options {
	uint64_t max_incoming_payload_size;	/**< default 131072; 0: none */
	uint64_t max_incoming_message_size;	/**< default 0: none */
	size_t max_outgoing_buffer;		/**< default 4 MiB; 0: none */
	const struct timeval *close_timeout;	/**< NULL: 5 s (the value
						     is copied) */
	unsigned keepalive_interval;		/**< seconds; default 0: off */
	unsigned keepalive_pong_timeout;	/**< seconds; default 0: off */
	struct wsev_deflate_options deflate;	/**< permessage-deflate;
						     enabled by default */
};

/** Fill @p opts with the defaults listed above. */
WSEV_EXPORT void wsev_connection_options_init(
    struct wsev_connection_options *opts);

/**
 * Apply the limits, timeouts and keepalive of @p opts to a connection (the
 * deflate part is for the handshake and is ignored here).
 */
WSEV_EXPORT void wsev_connection_set_options(struct wsev_connection *conn,
    const struct wsev_connection_options *opts);

/**
 * Why a send, a close or a setting was refused: the negative values the
 * functions below return (as nghttp2's NGHTTP2_ERR_* and wslay's codes).
 * Every one is below 0, so code written to libsoup's "0 or negative"
 * shape needs no change; WSEV_ERR_INVALID_ARGUMENT is -1, what every
 * refusal returned before these codes. Where several causes hold, the
 * first in this order is returned: NOT_OPEN, INVALID_ARGUMENT, BUSY,
 * BAD_UTF8; BUFFER_FULL and NOMEM come from queueing, after all checks.
 */
enum wsev_result {
	WSEV_OK = 0,
	/** NULL where data is needed, an unknown type, a ping over 125
	 *  bytes, a close code or reason this side may not send. */
	WSEV_ERR_INVALID_ARGUMENT = -1,
	/** The connection is not OPEN (closing, closed, or being freed). */
	WSEV_ERR_NOT_OPEN = -2,
	/** Text (or a close reason) that is not valid UTF-8; nothing sent. */
	WSEV_ERR_BAD_UTF8 = -3,
	/** Past max_outgoing_buffer: the peer is not reading. The connection
	 *  has failed with 1008 ("error" ran); nothing more can be sent. */
	WSEV_ERR_BUFFER_FULL = -4,
	/** Memory ran out (or, for a client's mask key, the CSPRNG failed).
	 *  Usually nothing was queued and the connection goes on. Two cases
	 *  end it: with permessage-deflate the message was compressed
	 *  already, so the compressor is out of step and the connection has
	 *  failed ("error" ran; 1011 from a server, 1001 from a client); and
	 *  on a plain socket part of the frame may already be on the wire,
	 *  so the transport ends from the loop ("error", then "closed" with
	 *  1006). */
	WSEV_ERR_NOMEM = -5,
	/** A message sent in pieces (wsev_connection_send_fragment()) is in
	 *  progress: whole messages, or pieces of another type, must wait. */
	WSEV_ERR_BUSY = -6
};

/** A static English description of a wsev_result value. */
WSEV_EXPORT const char *wsev_strerror(int code);

/**
 * Queue a text message. @p text is NUL-terminated UTF-8, copied before the
 * return.
 * @return 0 if queued; WSEV_ERR_NOT_OPEN, WSEV_ERR_INVALID_ARGUMENT (@p text
 *         is NULL), WSEV_ERR_BAD_UTF8, WSEV_ERR_BUSY, WSEV_ERR_BUFFER_FULL
 *         or WSEV_ERR_NOMEM (nothing is queued then).
 * Safe to call from any callback. Runs no callback, except "error" when
 * the send fails the connection (the outgoing buffer is full; or, with
 * permessage-deflate, memory ran out after compressing).
 */
WSEV_EXPORT int wsev_connection_send_text(struct wsev_connection *conn,
    const char *text);

/**
 * Queue a binary message of @p length bytes (copied before the return;
 * @p data may be NULL when @p length is 0).
 * @return 0 if queued; WSEV_ERR_NOT_OPEN, WSEV_ERR_INVALID_ARGUMENT
 *         (@p data NULL with a length), WSEV_ERR_BUSY, WSEV_ERR_BUFFER_FULL
 *         or WSEV_ERR_NOMEM.
 * Safe to call from any callback. Runs no callback, except "error" when
 * the send fails the connection (the outgoing buffer is full; or, with
 * permessage-deflate, memory ran out after compressing).
 */
WSEV_EXPORT int wsev_connection_send_binary(struct wsev_connection *conn,
    const void *data, size_t length);

/**
 * Queue a message of either type with an explicit length (libsoup's
 * soup_websocket_connection_send_message): text may then hold U+0000.
 * Text must be valid UTF-8.
 * @return 0 if queued; WSEV_ERR_NOT_OPEN, WSEV_ERR_INVALID_ARGUMENT (an
 *         unknown type, @p data NULL with a length), WSEV_ERR_BAD_UTF8,
 *         WSEV_ERR_BUSY, WSEV_ERR_BUFFER_FULL or WSEV_ERR_NOMEM.
 * Safe to call from any callback. Runs no callback, except "error" when
 * the send fails the connection (the outgoing buffer is full; or, with
 * permessage-deflate, memory ran out after compressing).
 */
WSEV_EXPORT int wsev_connection_send_message(struct wsev_connection *conn,
    enum wsev_data_type type, const void *data, size_t length);

/**
 * Queue a ping with @p len bytes (at most 125) of payload; the peer's pong
 * reaches the "pong" callback.
 * @return 0 if queued; WSEV_ERR_NOT_OPEN, WSEV_ERR_INVALID_ARGUMENT
 *         (@p len > 125, or @p data NULL with a length),
 *         WSEV_ERR_BUFFER_FULL or WSEV_ERR_NOMEM.
 */
WSEV_EXPORT int wsev_connection_send_ping(struct wsev_connection *conn,
    const void *data, size_t len);

/**
 * Send a message in pieces (streaming): each call sends one frame of the
 * message; @p final ends it. The first call starts a message of @p type;
 * later calls must give the same type. Pings, pongs and a close may go
 * between the pieces (wsev_connection_close() during a message is fine: the
 * message stays unfinished). While a message is in progress, the whole-
 * message sends (send_text, send_binary, send_message, send_buffer) are
 * refused. A text message's pieces may cut a code point anywhere; the text
 * must be UTF-8 as a whole, and a piece that makes it invalid (or a final
 * piece ending inside a code point) is refused with nothing sent. With
 * permessage-deflate the pieces are compressed as one stream. Data is
 * copied before the return; @p data may be NULL when @p len is 0.
 * @return 0 if queued; WSEV_ERR_NOT_OPEN, WSEV_ERR_INVALID_ARGUMENT,
 *         WSEV_ERR_BUSY (the type does not match the message in
 *         progress), WSEV_ERR_BAD_UTF8 (nothing sent, the message goes
 *         on), WSEV_ERR_BUFFER_FULL or WSEV_ERR_NOMEM.
 */
WSEV_EXPORT int wsev_connection_send_fragment(struct wsev_connection *conn,
    enum wsev_data_type type, const void *data, size_t len, int final);

/**
 * Send the whole content of @p buf as one message and empty @p buf. A
 * server connection without compression moves the buffer's chains into its
 * output with no copy (evbuffer_add_buffer); reference chains
 * (evbuffer_add_reference) then stay referenced until written. A client
 * (which masks) or a compressing connection reads them once. Text must be
 * UTF-8.
 * @return 0 if queued (@p buf is then empty); a negative wsev_result as
 *         for wsev_connection_send_message() (@p buf is then unchanged).
 */
WSEV_EXPORT int wsev_connection_send_buffer(struct wsev_connection *conn,
    enum wsev_data_type type, struct evbuffer *buf);

/**
 * Receive messages in chunks instead of whole (opt-in; 0, the default,
 * delivers whole messages to "message"). With @p chunk_size > 0 every
 * message goes to the "message_chunk" callback as pieces of at most
 * @p chunk_size bytes, delivered as the data arrives: a piece ends when
 * @p chunk_size bytes are gathered, when a frame's payload ends, or when
 * the message ends (last = 1). So a large message never sits in memory
 * whole, and wsev holds at most @p chunk_size bytes of it. Text is checked
 * across the pieces as one text (a bad byte fails the connection with 1007
 * and no further piece). max_incoming_message_size still applies to the
 * whole message (decompressed, with permessage-deflate);
 * max_incoming_payload_size to each frame as it is on the wire. A piece's
 * callback that fails or ends the connection gets no further piece.
 * Applies from the next message on.
 * @return 0, or WSEV_ERR_INVALID_ARGUMENT if @p chunk_size is below 4 (a
 *         code point must fit).
 */
WSEV_EXPORT int wsev_connection_set_chunk_size(struct wsev_connection *conn,
    size_t chunk_size);
WSEV_EXPORT size_t wsev_connection_get_chunk_size(
    const struct wsev_connection *conn);

/**
 * Start an orderly close (RFC 6455 §7.1.2): emits "closing", queues a close
 * frame behind the messages already queued, and arms the close timeout.
 * "closed" follows once the handshake ends or the timeout expires.
 *
 * @param code  1000-1003, 1007-1011 or 3000-4999 (a server never sends 1010,
 *              a client never 1011); 1005 or 0 sends a close frame with no
 *              body. 1006 and 1015 are refused.
 * @param data  the reason, UTF-8 of at most 123 bytes, or NULL. Must be NULL
 *              or empty with 1005/0.
 * @return 0 if the close started; nothing is done on WSEV_ERR_NOT_OPEN,
 *         WSEV_ERR_INVALID_ARGUMENT (the code or the reason's length is not
 *         allowed: a reason that does not fit is refused, never cut) or
 *         WSEV_ERR_BAD_UTF8 (the reason).
 */
WSEV_EXPORT int wsev_connection_close(struct wsev_connection *conn,
    unsigned short code, const char *data);

/* ------------------------------------------------------------------ */
/* The handshake (RFC 6455 §4) on evhttp requests */

/**
 * Add the client's handshake headers to an outgoing request (libsoup's
 * soup_websocket_client_prepare_handshake): Upgrade, Connection, a fresh
 * Sec-WebSocket-Key (16 random bytes, base64), Sec-WebSocket-Version 13,
 * Origin when @p origin is not NULL, and Sec-WebSocket-Protocol as the list
 * joined with ", " (left out when @p protocols is NULL or empty). Headers of
 * those names already there are replaced; other headers and the body are
 * untouched.
 */
WSEV_EXPORT void wsev_client_prepare_handshake(struct evhttp_request *req,
    const char *origin, const char *const *protocols);

/**
 * Check the server's answer to a request prepared with
 * wsev_client_prepare_handshake (libsoup's
 * soup_websocket_client_verify_handshake).
 * @return 1 if it is a valid WebSocket handshake. 0 otherwise, with @p err
 *         (may be NULL) set in WSEV_DOMAIN_WEBSOCKET: BAD_HANDSHAKE for a
 *         400, a protocol that was not offered, any extension, a missing or
 *         wrong Sec-WebSocket-Accept; NOT_WEBSOCKET for any other status
 *         than 101 or a missing Upgrade/Connection.
 */
WSEV_EXPORT int wsev_client_verify_handshake(struct evhttp_request *req,
    struct wsev_error *err);

/**
 * Check an incoming request for a valid WebSocket handshake (libsoup's
 * soup_websocket_server_check_handshake). In this order: not a GET of
 * HTTP/1.1 or later, Upgrade not "websocket", or no "upgrade" token in
 * Connection -> NOT_WEBSOCKET; Sec-WebSocket-Version not 13, a key that is
 * not 24 base64 characters of 16 bytes, no Host -> BAD_HANDSHAKE; @p origin
 * given and the Origin header missing or different (case-insensitive) ->
 * BAD_ORIGIN; a Sec-WebSocket-Protocol header present but empty, or naming
 * none of @p protocols (case-sensitive) -> BAD_HANDSHAKE. A NULL
 * @p protocols accepts any offer and selects none. Repeated headers are
 * read as libsoup reads them: list headers are all their values joined,
 * single-valued ones their last value.
 * @return 1 if valid; 0 with @p err (may be NULL) set otherwise.
 */
WSEV_EXPORT int wsev_server_check_handshake(struct evhttp_request *req,
    const char *origin, const char *const *protocols, struct wsev_error *err);

/**
 * Check the handshake and prepare the answer (libsoup's
 * soup_websocket_server_process_handshake). On success the 101 response
 * headers are added to the request's output headers (Upgrade, Connection,
 * Sec-WebSocket-Accept, and Sec-WebSocket-Protocol with the first of
 * @p protocols the client offered) and nothing is sent: hand the request to
 * wsev_server_upgrade() to answer and take the connection over. On failure
 * the refusal is sent at once: 403 for a bad origin, 400 otherwise, with
 * "Connection: close" and a short text body naming the reason (and
 * "Sec-WebSocket-Version: 13" for a version mismatch).
 * @return 1 on success, 0 if the request was refused.
 */
WSEV_EXPORT int wsev_server_process_handshake(struct evhttp_request *req,
    const char *expected_origin, const char *const *protocols);

/*
 * The same four helpers with permessage-deflate (libsoup's
 * *_with_extensions). @p deflate is what to offer or accept (NULL, or
 * enabled 0: no extension); the accepted parameters go to @p accepted (may
 * be NULL), for wsev_connection_new_with_extensions().
 *
 * A client offers "permessage-deflate" with the parameters of @p deflate and
 * always a client_max_window_bits (bare unless set). It refuses
 * (BAD_HANDSHAKE) an answer with an extension it did not offer, more than
 * one permessage-deflate, an unknown, repeated or valueless/malformed
 * parameter, a window outside 8-15 or above what it asked, or without a
 * server_no_context_takeover or server_max_window_bits it asked for. No
 * extension in the answer is fine: the server declined.
 *
 * A server accepts the first permessage-deflate offer; other extensions
 * are ignored. An offer with an unknown or repeated parameter, a value
 * where none belongs, a missing or malformed value, or a window outside
 * 8-15 is refused as BAD_HANDSHAKE (as libsoup does). The answer echoes the
 * no-context-takeover parameters offered (adding the ones @p deflate asks
 * for), answers server_max_window_bits with the smaller of the offer and
 * @p deflate's, and a client_max_window_bits offer with its value (15 when
 * bare) or @p deflate's if smaller.
 */
WSEV_EXPORT void wsev_client_prepare_handshake_with_extensions(
    struct evhttp_request *req, const char *origin,
    const char *const *protocols, const struct wsev_deflate_options *deflate);
WSEV_EXPORT int wsev_client_verify_handshake_with_extensions(
    struct evhttp_request *req, const struct wsev_deflate_options *deflate,
    struct wsev_extensions *accepted, struct wsev_error *err);
WSEV_EXPORT int wsev_server_check_handshake_with_extensions(
    struct evhttp_request *req, const char *origin,
    const char *const *protocols, const struct wsev_deflate_options *deflate,
    struct wsev_error *err);
WSEV_EXPORT int wsev_server_process_handshake_with_extensions(
    struct evhttp_request *req, const char *expected_origin,
    const char *const *protocols, const struct wsev_deflate_options *deflate,
    struct wsev_extensions *accepted);

/* ------------------------------------------------------------------ */
/* WebSocket routes in an evhttp server */

/**
 * Answer a WebSocket handshake and take the connection over from evhttp,
 * for an application that routes requests itself. Call it from inside the
 * evhttp request callback (libevent 2.1 aborts the process if bytes arrive
 * on a connection whose request is neither answered nor taken over).
 *
 * On success the 101 response is queued, the connection is OPEN, and its
 * uri (ws:// or wss:// + Host + request URI), origin (the request's Origin)
 * and protocol are set. evhttp never reads, writes or times out the socket
 * again; bytes the client sent right behind the handshake are processed.
 * The request stays valid until the evhttp callback returns. Then, from
 * the loop, wsev lets go of evhttp: the evhttp_connection and the request
 * are freed and the socket stays with the WebSocket alone (an idle
 * WebSocket holds about 1.1 KiB less; lib/server.c tells how), so
 * evhttp_free() no longer touches it: the application ends its
 * connections itself, as with wsev_connection_new(). Until then (and for
 * good on an epoll base made with EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST,
 * or when no descriptor can be had) the connection is evhttp's:
 * evhttp_free() ends it, with a close frame 1001 "going away" (then
 * "closed", close code 1001, no error) when nothing else was queued for
 * it, otherwise by dropping the transport (an error, close code 1006).
 *
 * On failure the refusal has been sent (see wsev_server_process_handshake)
 * and NULL is returned with @p err (may be NULL) set.
 */
WSEV_EXPORT struct wsev_connection *wsev_server_upgrade(
    struct evhttp_request *req, const char *origin,
    const char *const *protocols, struct wsev_error *err);

/**
 * wsev_server_upgrade() with settings: permessage-deflate is negotiated as
 * @p opts->deflate says, and the new connection gets @p opts' limits,
 * timeouts and keepalive. NULL @p opts: the defaults of
 * wsev_connection_options_init() (permessage-deflate accepted).
 * wsev_server_upgrade() itself negotiates no extension.
 */
WSEV_EXPORT struct wsev_connection *wsev_server_upgrade_with_options(
    struct evhttp_request *req, const char *origin,
    const char *const *protocols, const struct wsev_connection_options *opts,
    struct wsev_error *err);

/**
 * Called with each new OPEN connection of a route. @p req is the handshake
 * request, valid during the call only: when the callback returns, the
 * request and its evhttp_connection are freed and the socket stays with
 * the WebSocket alone (see wsev_server_upgrade()). The callback owns
 * @p conn: set its callbacks, free it when done (freeing it inside the
 * callback is fine).
 */
typedef void (*wsev_server_cb)(struct wsev_connection *conn,
    struct evhttp_request *req, void *arg);

struct wsev_handler;

/**
 * Register a WebSocket route on an evhttp server (libsoup's
 * soup_server_add_websocket_handler), beside its ordinary routes. A
 * handshake that fails gets the refusal of wsev_server_process_handshake;
 * a good one hands @p cb an OPEN connection. Works the same for a server
 * whose connections are TLS bufferevents (evhttp_set_bevcb).
 * @p origin and @p protocols are copied.
 * @return the route, to pass to wsev_server_remove_handler(), or NULL if
 *         @p path is already registered or memory ran out.
 */
WSEV_EXPORT struct wsev_handler *wsev_server_add_handler(struct evhttp *http,
    const char *path, const char *origin, const char *const *protocols,
    wsev_server_cb cb, void *arg);

/**
 * Unregister a route, end its open WebSockets and free it. Call it before
 * evhttp_free(), as with any evhttp_set_cb() argument. Each open WebSocket
 * of the route is sent a close frame 1001 "going away" when nothing else
 * was queued for it (then "closed", close code 1001, no error), otherwise
 * its transport just drops (an error, close code 1006); "closed" runs
 * before this returns. A route's connections are not evhttp's once its
 * callback has returned (see wsev_server_upgrade()): this is what ends
 * them when a server shuts down, in place of evhttp_free(). NULL is
 * ignored.
 */
WSEV_EXPORT void wsev_server_remove_handler(struct wsev_handler *handler);

/**
 * Set the settings of a route's new connections (copied): the extension
 * accepted, limits, timeouts, keepalive. A route starts with the defaults
 * of wsev_connection_options_init(), which accept permessage-deflate.
 * Connections already made are not affected.
 */
WSEV_EXPORT void wsev_handler_set_options(struct wsev_handler *handler,
    const struct wsev_connection_options *opts);

struct wsev_guard;

/**
 * Bound how long a client may take to deliver its HTTP request (the
 * WebSocket handshake, or any other request) on an evhttp server: a
 * connection still sending its request @p timeout after it was accepted is
 * closed, however steadily it trickles bytes. evhttp_set_timeout() alone
 * only drops connections that go silent; a peer sending a byte a second
 * ("slowloris") keeps its socket forever without this.
 *
 * The guard creates the server's connections (it installs its own
 * evhttp_set_bevcb()): plain sockets, or TLS with @p ssl_ctx (an SSL_CTX,
 * not freed by wsev) when it is not NULL. A connection idle between two
 * keep-alive requests counts as sending its next request and is closed at
 * the same deadline, measured from the accept. Connections taken over as
 * WebSockets, and requests being answered (read and handed to the
 * application, until the last byte of the response is written: a chunked
 * stream or a long poll outlives the deadline), are never touched; a
 * keep-alive connection whose answer ends after the deadline is closed
 * when that answer has been written. The guard leaves the connections'
 * evhttp_connection_set_closecb() to the application.
 *
 * Free the guard with wsev_guard_free() after evhttp_free().
 * @return the guard, or NULL if memory ran out or @p timeout is not > 0.
 */
WSEV_EXPORT struct wsev_guard *wsev_guard_new(struct evhttp *http,
    const struct timeval *timeout, struct ssl_ctx_st *ssl_ctx);
/** Free a guard (NULL is ignored); call it after evhttp_free(). */
WSEV_EXPORT void wsev_guard_free(struct wsev_guard *guard);

/* ------------------------------------------------------------------ */
/* The client: a URL in, an OPEN connection out */

/**
 * Options of wsev_connect(). Initialise with wsev_connect_options_init();
 * fields are only ever added at the end.
 */
struct wsev_connect_options {
	const char *origin;		/**< Origin header, or NULL */
	const char *const *protocols;	/**< subprotocols offered, or NULL */
	const char *const *headers;	/**< extra "Name: value" request
					     headers (Cookie, Authorization),
					     NULL-terminated, or NULL */
	struct ssl_ctx_st *ssl_ctx;	/**< the caller's SSL_CTX for wss://, or
					     NULL for the default: the system
					     CA store, peer verification on.
					     The default context is built once
					     per process (thread-safely), at
					     the first wss:// connect that
					     needs it, and kept until exit:
					     later connects parse no CAs */
	const char *ca_file;		/**< PEM file of CAs to trust on top
					     of the system's (only with the
					     default SSL_CTX). Costly: each
					     connect then builds a context of
					     its own and parses the CA store;
					     to connect often, pass an ssl_ctx
					     instead */
	int insecure;			/**< 1: skip certificate and host-name
					     verification (testing only); set
					     on the connect's own SSL (the
					     default context is shared), and
					     a failure is never put down to
					     the certificate */
	const struct timeval *timeout;	/**< for DNS, TCP, TLS and the
					     handshake together; NULL: 30 s */
	const struct wsev_connection_options *connection; /**< the new
					     connection's settings and the
					     permessage-deflate offer; NULL:
					     the defaults (deflate offered) */
	struct wsev_error *error;	/**< where wsev_connect() explains a
					     NULL return, or NULL */
	const char *proxy;		/**< NULL: direct (unless
					     proxy_from_env), or the proxy's
					     URL, copied: http://host:port
					     (HTTP CONNECT, RFC 9110 §9.3.6),
					     https:// (TLS to the proxy, then
					     CONNECT inside it), socks5://
					     (RFC 1928, the server's name
					     resolved here) or socks5h://
					     (resolved by the proxy). A
					     user:pass@ (percent-decoded) is
					     sent as Basic Proxy-Authorization
					     or as SOCKS5 username/password
					     (RFC 1929). ws:// is tunnelled
					     too, never sent as GET ws://. The
					     proxy's certificate (https://) is
					     checked with ssl_ctx, ca_file and
					     insecure, as the server's is */
	int proxy_from_env;		/**< 1 and no proxy: take it from the
					     environment as curl does (for
					     wss:// wss_proxy, https_proxy;
					     for ws:// ws_proxy, http_proxy;
					     then all_proxy; lower case, then
					     upper case, but never HTTP_PROXY),
					     unless no_proxy / NO_PROXY
					     exempts the host ("*", names and
					     domain suffixes, IP addresses and
					     a.b.c.d/bits ranges, host:port) */
};

/** Fill @p opts with the defaults. */
WSEV_EXPORT void wsev_connect_options_init(struct wsev_connect_options *opts);

/**
 * Called exactly once per wsev_connect() that returned a handle, from the
 * event loop: with an OPEN connection (@p err NULL), which the callback
 * owns, or with @p conn NULL and the error: WSEV_DOMAIN_DNS (name not
 * found), WSEV_DOMAIN_ERRNO (refused, unreachable, ETIMEDOUT when the
 * timeout expired), WSEV_DOMAIN_TLS (with OpenSSL's reason, a certificate
 * that does not verify included), or WSEV_DOMAIN_WEBSOCKET
 * (NOT_WEBSOCKET, BAD_HANDSHAKE from the server's answer, FAILED when the
 * server hung up, over TLS with or without a close_notify). The handle is
 * gone when the callback runs.
 *
 * Through a proxy, the proxy hop keeps those domains with a message that
 * names it: "proxy HOST:PORT: connection refused" (ERRNO), "cannot resolve
 * proxy HOST: ..." (DNS), "TLS to the proxy HOST:PORT: ..." (TLS; "TLS to
 * the server" after the tunnel is up). What the proxy answers is in
 * WSEV_DOMAIN_PROXY: the HTTP status of a refused CONNECT (407: proxy
 * authentication required) with its reason in the message, a SOCKS5 reply
 * code (WSEV_PROXY_ERROR_SOCKS + N, named as in RFC 1928), a refused
 * method or password, a malformed answer (BAD_REPLY) or a hang-up
 * (CLOSED). The timeout covers the whole chain.
 */
typedef void (*wsev_connect_cb)(struct wsev_connection *conn,
    const struct wsev_error *err, void *arg);

struct wsev_connect_request;

/**
 * Open a WebSocket connection to a ws:// or wss:// URL (libsoup's
 * soup_session_websocket_connect_async): host names through @p dns_base
 * (NULL resolves with a blocking getaddrinfo), IPv4 and IPv6 literals
 * (ws://[::1]:8080/), default ports 80 and 443, paths with query strings.
 * The handshake is made with wsev_client_prepare_handshake() and checked
 * with wsev_client_verify_handshake(); bytes the server sends right after
 * its 101 reach the connection. For wss://, SNI and host-name verification
 * are on unless @p opts->insecure. Errors the application had queued on
 * the thread's OpenSSL error queue are left there: wsev takes off only
 * what its own calls added.
 * @param opts  NULL for the defaults.
 * @return a handle for wsev_connect_cancel(), or NULL at once (and no
 *         callback) for a URL that is not ws:// or wss://, has no host, has
 *         a fragment, a bad header, or when memory runs out; the reason is
 *         put in opts->error when given.
 */
WSEV_EXPORT struct wsev_connect_request *wsev_connect(struct event_base *base,
    struct evdns_base *dns_base, const char *url,
    const struct wsev_connect_options *opts, wsev_connect_cb cb, void *arg);

/**
 * Abandon a connection attempt at whatever stage it is (DNS, TCP, TLS,
 * HTTP): everything is freed and the callback is never called. Only valid
 * before the callback ran; NULL is ignored.
 */
WSEV_EXPORT void wsev_connect_cancel(struct wsev_connect_request *req);

#ifdef __cplusplus
}
#endif

#endif /* WSEV_WSEV_H */
