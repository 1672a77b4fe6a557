/*
 * wsev-cat's parts and how they meet:
 *
 *   wsev-cat.c    main: the options, standard input split into messages,
 *                 standard output, the exit status
 *   cat-client.c  the client (a URL): connect, send, wait for the echoes,
 *                 --reconnect
 *   cat-server.c  the server (--listen): evhttp and a WebSocket route,
 *                 one client at a time or --broadcast, SIGINT/SIGTERM
 *
 * One struct cat holds the options and the input; the mode in use owns
 * the connections and tells the input where to go (on_input).
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef WSEV_CAT_H
#define WSEV_CAT_H

#include <wsev/wsev.h>

#include <stddef.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define CAT_MAX_LIST 32
/* Standard input is not read while this much waits to be sent (in wsev
 * and in the input): a fast pipe to a slow peer holds memory bounded. */
#define CAT_HIGH_WATER (1024 * 1024)

struct cat {
	struct event_base *base;

	/* Options (wsev-cat.c parses them; --help lists them). */
	const char *url;		/* client mode */
	const char *listen;		/* server mode: [ADDR:]PORT */
	const char *cert, *key;		/* --tls CERT KEY (server) */
	const char *binary_file;	/* --binary FILE, or NULL: stdin */
	int binary, echo_mode, show_close, reconnect, broadcast;
	size_t chunk;			/* --chunk BYTES, 0: none */
	unsigned long count;		/* --count N, 0: no limit */
	struct timeval linger;		/* --linger SECONDS after the input */
	struct timeval timeout;		/* --timeout (connect) */
	const char *protocols[CAT_MAX_LIST + 1];
	const char *headers[CAT_MAX_LIST + 1];
	struct wsev_connect_options connect;
	struct wsev_connection_options conn;

	/* The input (wsev-cat.c). */
	struct evbuffer *input;		/* read, not yet taken as a message */
	struct event *stdin_ev;		/* NULL: a regular file, read at once */
	size_t scanned;			/* input bytes known to hold no '\n' */
	int stdin_flags, paused, input_done, binary_taken;
	void (*on_input)(void *arg);	/* more input, or its end */
	void *input_arg;

	/* The outcome. */
	unsigned long received;		/* messages printed, for --count */
	int status;			/* the exit status */
	int output_failed;		/* stdout closed or full: status 1 */
	char reason[300];		/* why, when status is not 0 */
};

/* wsev-cat.c */
int cat_input_take(struct cat *c, struct evbuffer *msg);
int cat_input_finished(const struct cat *c);
void cat_input_pause(struct cat *c, int pause);
enum wsev_data_type cat_input_type(const struct cat *c);
int cat_send(struct cat *c, struct wsev_connection *conn,
    struct evbuffer *msg);
int cat_print(struct cat *c, enum wsev_data_type type, const void *data,
    size_t len);
int cat_close_status(struct cat *c, struct wsev_connection *conn);
void cat_say(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* cat-client.c, cat-server.c: run until done; the exit status. */
int cat_client_run(struct cat *c);
int cat_server_run(struct cat *c);

#endif
