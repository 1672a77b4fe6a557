/*
 * chat.h: how the parts of samples/chat-server meet.
 *
 *   chat-server.c  main: the options, N threads (each its own event_base,
 *                  evhttp and listening socket on one port, SO_REUSEPORT:
 *                  the kernel spreads the connections), the page
 *   chat-room.c    a thread's part of the room: its members, what they
 *                  say, what they are sent, resuming after an ID
 *   chat-bus.c     the room's log without Redis: one process, its threads
 *   chat-redis.c   the room's log in a Redis Stream: many processes
 *
 * The room is a log. Everything said in it (joins, leaves, lines) is
 * appended to the log first, which gives it an ID ("MS-SEQ", a Redis
 * stream ID, or the bus's own of the same form) and the room its one
 * order; then every thread delivers it to its own members, in log order.
 * A client that reconnects asks for what came after the last ID it showed
 * and misses nothing; the log's epoch (a random name given to the log when
 * it is created) tells a recreated log from the old one.
 *
 * Threads: a node (one thread) and everything it holds (event_base,
 * evhttp, members, its bus connection) is touched only from that thread.
 * What the bus shares between nodes is behind its own lock. No
 * wsev_connection is ever used from a thread other than its base's.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#ifndef CHAT_H
#define CHAT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include <openssl/ssl.h>

#include <wsev/wsev.h>

#define CHAT_MAX_NAME 32	/* bytes of a name */
#define CHAT_MAX_TEXT 2000	/* bytes of a line */
#define CHAT_MAX_MID 40		/* bytes of a client's message id */
#define CHAT_EPOCH_LEN 16	/* hex digits of an epoch */
#define CHAT_JOIN_HISTORY 50	/* entries a join without "since" gets */
#define CHAT_ID_LEN 48		/* room for "MS-SEQ" and its NUL */

/* A log entry's ID: "MS-SEQ", two unsigned 64-bit numbers. */
struct chat_id {
	uint64_t ms, seq;
};

int chat_id_parse(const char *s, struct chat_id *id);	/* 0 or -1 */
int chat_id_cmp(const struct chat_id *a, const struct chat_id *b);
void chat_id_format(const struct chat_id *id, char buf[CHAT_ID_LEN]);

/* What a member adds to the log, before it has an ID. */
struct chat_post {
	const char *type;	/* "join", "leave" or "say" */
	const char *name;
	const char *text;	/* "" for join and leave */
	const char *mid;	/* the client's message id, or "" */
	int users_here;		/* joined members on this node, after it */
};

/*
 * An entry as the log gives it back: its ID and the JSON text clients are
 * sent, {"type":..,"id":..,"name":..,"text":..,"users":N[,"mid":..]}.
 * Made by chat_entry_new; each node holds its own copies.
 */
struct chat_entry {
	struct chat_entry *next;	/* in a node's inbox, or a list */
	struct chat_id id;
	size_t len;			/* of json, without the NUL */
	char mid[CHAT_MAX_MID + 1];	/* "" without */
	char json[];			/* NUL-terminated */
};

/* A new entry (NULL when out of memory); free it with free(). */
struct chat_entry *chat_entry_new(const struct chat_id *id,
    const char *type, const char *name, const char *text, const char *mid,
    long users);
void chat_entry_list_free(struct chat_entry *list);

/* Results given to the callbacks of a bus. */
enum chat_result {
	CHAT_OK = 0,
	CHAT_OFFLINE = -1,	/* the log cannot be reached: nothing done */
	CHAT_LOST = -2,		/* history: "since" is no longer in the log */
	CHAT_DUPLICATE = -3,	/* publish: that mid is in the log already */
	CHAT_FAILED = -4	/* anything else (a bad reply, no memory) */
};

struct chat_node;
struct chat_bus;
struct chat_room;

/* publish's answer, on the node's thread, exactly once. With CHAT_OK the
 * entry is in the log: the node delivers it like any other. */
typedef void (*chat_publish_cb)(struct chat_node *node, int result,
    void *arg);

/* history's answer, on the node's thread, exactly once: the entries in
 * log order (the callback owns the list), or NULL with an error. With
 * CHAT_LOST the list holds the last CHAT_JOIN_HISTORY entries. */
typedef void (*chat_history_cb)(struct chat_node *node, int result,
    struct chat_entry *list, void *arg);

/*
 * A bus: the room's log, shared by every node of a process. Each function
 * but new and free is called on the node's own thread. Pending callbacks
 * are all called (CHAT_OFFLINE) by node_stop, before it returns.
 */
struct chat_bus_ops {
	const char *name;	/* "memory" or "redis" */
	/* Before the node's loop runs; 0 or -1. */
	int (*node_start)(struct chat_bus *bus, struct chat_node *node);
	/* After its loop ended, before its base is freed. */
	void (*node_stop)(struct chat_bus *bus, struct chat_node *node);
	void (*publish)(struct chat_node *node, const struct chat_post *post,
	    chat_publish_cb cb, void *arg);
	/* The entries after since (NULL: the last CHAT_JOIN_HISTORY), if
	 * epoch (NULL: any) is the log's. */
	void (*history)(struct chat_node *node, const char *epoch,
	    const struct chat_id *since, chat_history_cb cb, void *arg);
	void (*free)(struct chat_bus *bus);
};

struct chat_bus {
	const struct chat_bus_ops *ops;
	int nodes;		/* threads of this process */
};

struct chat_bus *chat_bus_memory_new(int nodes, unsigned keep);
/* url: redis://HOST:PORT[/DB]; NULL, with a line on stderr, if bad. */
struct chat_bus *chat_bus_redis_new(int nodes, const char *url,
    const char *room, unsigned keep);

/* One thread of the server. */
struct chat_node {
	int index;
	pthread_t thread;
	struct event_base *base;
	struct evhttp *http;
	struct wsev_guard *guard;
	struct wsev_handler *route;
	struct evconnlistener *listener;
	struct event *stop;		/* made active by the main thread */
	struct chat_bus *bus;
	void *bus_node;			/* the bus's own state for this node */
	struct chat_room *room;
	char epoch[CHAT_EPOCH_LEN + 1];	/* the log's, as last known */
	int online;			/* the log can be reached */
};

/* chat-room.c: what a bus tells the node's room, on the node's thread. */
struct chat_room *chat_room_new(struct chat_node *node);
/* Before evhttp_free: members leaving now post nothing. */
void chat_room_close(struct chat_room *room);
/* After the bus's node_stop answered every question. */
void chat_room_free(struct chat_room *room);
void chat_room_on_websocket(struct wsev_connection *conn,
    struct evhttp_request *req, void *arg);	/* arg: the node */
/* The next entry of the log, in order; the room does not keep it. */
void chat_room_deliver(struct chat_node *node, const struct chat_entry *e);
/* The log went out of reach (0) or came back (1). */
void chat_room_set_online(struct chat_node *node, int online);
/* The log was recreated (another epoch): what members had is gone. */
void chat_room_set_epoch(struct chat_node *node, const char *epoch);

/* A random epoch, CHAT_EPOCH_LEN hex digits. */
void chat_epoch_new(char epoch[CHAT_EPOCH_LEN + 1]);

#endif /* CHAT_H */
