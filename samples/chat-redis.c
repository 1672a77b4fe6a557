/*
 * chat-redis.c: the room's log in a Redis Stream, shared by chat-server
 * processes (chat.h says how the parts meet).
 *
 * Keys, for the room ROOM:
 *   ROOM           the stream: an entry per join, leave and line (fields
 *                  type, name, text, mid, users), trimmed to about keep
 *   ROOM:epoch     the log's epoch, made (SET NX) when it is missing
 *   ROOM:mid:MID   a client's message id, used in the last hour
 *   ROOM:users     hash: node id -> joined members on that node
 *   ROOM:seen      hash: node id -> when it was last heard of (ms, Redis
 *                  TIME); "users" sums the nodes seen in the last 10 s
 *
 * Each node has two connections of its own (hiredis async, on the node's
 * base): "rd" runs XREAD BLOCK from the last ID the node delivered, "cmd"
 * carries the rest. They live and die together as the node's link: when
 * either fails (error, EOF, a bad reply, no answer in time), both are
 * dropped, the room is told it is offline, and the link is made again
 * with backoff. Coming back, the epoch tells a Redis that kept the log
 * (read on from the last ID: nothing lost) from one that lost it (another
 * epoch: the room is told, and the new log is read from its start). The
 * node is online again once its reader has caught up.
 *
 * hiredis calls every pending reply callback exactly once, with a NULL
 * reply when the connection is gone: that is where a request in flight
 * learns its fate. A publish whose script was in flight then has an
 * unknown outcome; it is answered once the reader has caught up on the
 * new link: CHAT_OK if an entry with its mid came through, else
 * CHAT_OFFLINE.
 *
 * Limits: the host name is resolved by hiredis with a blocking
 * getaddrinfo() at each connect (use an address or "localhost").
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "chat.h"

#define READ_COUNT 100		/* entries an XREAD asks for */
#define READ_BLOCK_MS 5000	/* how long an XREAD BLOCK waits */
#define BEAT_MS 2000		/* heartbeat: ROOM:seen and the epoch */
#define TICK_MS 500		/* the watchdog's period */
#define STALL_MS 5000		/* a command unanswered this long: relink */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MID_TTL "3600"		/* seconds a mid is remembered */
#define NODE_ID_LEN 128
#define RECENT_MIDS 64		/* mids a node remembers having delivered */

/*
 * The epoch, made when missing, and this node's figure in ROOM:users and
 * ROOM:seen. KEYS: epoch, users, seen; ARGV: a fresh epoch, node id,
 * joined members here. Returns the log's epoch.
 */
static const char beat_script[] =
    "local e = redis.call('GET', KEYS[1])\n"
    "if not e then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'NX')\n"
    "  e = ARGV[1]\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])\n"
    "redis.call('HSET', KEYS[3], ARGV[2],\n"
    "    t[1] .. string.format('%03d', math.floor(t[2] / 1000)))\n"
    "return e\n";

/*
 * A post, in one step: the mid check, this node's figure, the users sum
 * and the XADD. KEYS: stream, users, seen, mid key (ROOM:mid:MID),
 * epoch; ARGV: type, name, text, mid, joined members here, node id, keep,
 * a fresh epoch. Returns the entry's ID, or 0 if the mid was used.
 * A log recreated under us (FLUSHALL) gets an epoch at once, so that
 * every node's heartbeat sees another one.
 */
static const char publish_script[] =
    "if ARGV[4] ~= '' and\n"
    "    not redis.call('SET', KEYS[4], '1', 'NX', 'EX', " MID_TTL ") then\n"
    "  return 0\n"
    "end\n"
    "redis.call('SET', KEYS[5], ARGV[8], 'NX')\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('HSET', KEYS[2], ARGV[6], ARGV[5])\n"
    "redis.call('HSET', KEYS[3], ARGV[6], tostring(t[1]) ..\n"
    "    string.format('%03d', math.floor(t[2] / 1000)))\n"
    "local seen = redis.call('HGETALL', KEYS[3])\n"
    "local users = 0\n"
    "for i = 1, #seen, 2 do\n"
    "  local age = now - (tonumber(seen[i + 1]) or 0)\n"
    "  if age <= 10000 then\n"
    "    users = users + (tonumber(redis.call('HGET', KEYS[2], seen[i])) or 0)\n"
    "  elseif age > 3600000 then\n"
    "    redis.call('HDEL', KEYS[3], seen[i])\n"
    "    redis.call('HDEL', KEYS[2], seen[i])\n"
    "  end\n"
    "end\n"
    "return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*',\n"
    "    'type', ARGV[1], 'name', ARGV[2], 'text', ARGV[3], 'mid', ARGV[4],\n"
    "    'users', tostring(users))\n";

struct redis_bus {
	struct chat_bus pub;	/* first: what chat.h hands around */
	char *host;
	int port;
	int db;			/* -1: no SELECT */
	char *room;		/* the stream's key */
	char *key_epoch, *key_users, *key_seen, *key_mid;	/* ROOM:... */
	char keep[24];		/* MAXLEN, as text */
};

/* A request the room made: a publish or a history. */
struct request {
	struct request *next;	/* in a node's unknown or answer list */
	struct rnode *rn;
	int result;
	chat_publish_cb publish_cb;	/* one of the two */
	chat_history_cb history_cb;
	void *arg;
	char mid[CHAT_MAX_MID + 1];
	/* history */
	struct chat_entry *list;
	int has_epoch, has_since;
	char epoch[CHAT_EPOCH_LEN + 1];
	struct chat_id since;
};

/* One of a node's two connections. */
struct rconn {
	struct rnode *rn;
	redisAsyncContext *ac;	/* NULL: down (or being freed by hiredis) */
	unsigned inflight;	/* commands sent and not answered */
	long long since_ms;	/* of the last answer, or of the first send */
	long long limit_ms;	/* unanswered this long: relink */
};

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_CATCHUP, LINK_UP };

/* The bus's state for one node (node->bus_node). */
struct rnode {
	struct redis_bus *bus;
	struct chat_node *node;
	struct rconn rd, cmd;
	enum link_state state;
	int stopping;
	struct event *retry;	/* the next link attempt */
	struct event *tick;	/* watchdog and heartbeat */
	struct event *answer;	/* runs the answers queued in "answers" */
	unsigned backoff_ms;
	unsigned rand;		/* the jitter's state */
	long long beat_ms;	/* when the last heartbeat went out */
	int users_here;		/* as last published */
	int have_last;		/* "last" is known */
	struct chat_id last;	/* the last entry read */
	char node_id[NODE_ID_LEN];
	struct request *unknown;	/* publishes of unknown outcome */
	/* The last mids delivered: the reader may deliver a post before
	 * its publish is answered on the other connection. */
	char recent[RECENT_MIDS][CHAT_MAX_MID + 1];
	unsigned recent_next;
	struct request *answers, **answers_tail;
};

static void link_down(struct rnode *rn);
static void read_next(struct rnode *rn);

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval
ms_tv(unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

/* Answers: a request's callback, called exactly once, then freed. */

static void
request_answer(struct request *req, int result)
{
	struct chat_node *node = req->rn->node;

	req->result = result;
	if (req->publish_cb)
		req->publish_cb(node, req->result, req->arg);
	else
		req->history_cb(node, req->result, req->list, req->arg);
	free(req);
}

/* Answers given on the next turn of the loop, not inside the caller's
 * own call to publish or history. */
static void
request_later(struct request *req, int result)
{
	struct rnode *rn = req->rn;

	req->result = result;
	req->next = NULL;
	*rn->answers_tail = req;
	rn->answers_tail = &req->next;
	event_active(rn->answer, EV_TIMEOUT, 0);
}

static void
answers_run(evutil_socket_t fd, short what, void *arg)
{
	struct rnode *rn = arg;
	struct request *req;

	(void)fd;
	(void)what;
	while ((req = rn->answers) != NULL) {
		rn->answers = req->next;
		if (rn->answers == NULL)
			rn->answers_tail = &rn->answers;
		request_answer(req, req->result);
	}
}

/* Sending, with the watchdog's accounting. */

static int
send_argv(struct rconn *c, redisCallbackFn *fn, void *priv, int argc,
    const char **argv)
{
	size_t len[16];
	int i;

	if (c->ac == NULL || argc > 16)
		return -1;
	for (i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	if (redisAsyncCommandArgv(c->ac, fn, priv, argc, argv, len) !=
	    REDIS_OK)
		return -1;
	if (c->inflight++ == 0)
		c->since_ms = now_ms();
	return 0;
}

/*
 * The start of every reply callback: counts the answer, and says whether
 * it is one to act on. NULL: the connection is gone (hiredis is freeing
 * it); the link goes down if it was not already, and 0 is returned.
 */
static int
answer_in(redisAsyncContext *ac, void *reply)
{
	struct rconn *c = ac->data;

	if (c->ac != ac)
		return 0;
	if (c->inflight > 0)
		c->inflight--;
	c->since_ms = now_ms();
	if (reply == NULL) {
		c->ac = NULL;	/* hiredis frees it */
		link_down(c->rn);
		return 0;
	}
	return 1;
}

/* A connect that failed: hiredis frees the context after this callback
 * (and calls no disconnect callback: it never was connected). */
static void
conn_made(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;

	if (status != REDIS_OK && c->ac == ac) {
		c->ac = NULL;
		link_down(c->rn);
	}
}

static void
conn_gone(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;

	(void)status;
	if (c->ac == ac) {
		c->ac = NULL;
		link_down(c->rn);
	}
}

/* Replies into entries. */

static const char *
field(const redisReply *fields, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i];
		const redisReply *v = fields->element[i + 1];

		if (k->type == REDIS_REPLY_STRING &&
		    v->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0)
			return v->str;
	}
	return "";
}

static int
reply_id(const redisReply *r, struct chat_id *id)
{
	return r->type == REDIS_REPLY_STRING ? chat_id_parse(r->str, id) : -1;
}

/* The ID of a range reply's first entry: 0; 1 if there is none; -1 if
 * the reply is not a range. */
static int
first_id(const redisReply *r, struct chat_id *id)
{
	const redisReply *e;

	if (r->type != REDIS_REPLY_ARRAY)
		return -1;
	if (r->elements == 0)
		return 1;
	e = r->element[0];
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
		return -1;
	return reply_id(e->element[0], id);
}

/*
 * An entry of an XRANGE, XREVRANGE or XREAD reply, [ID, [field, value,
 * ...]]. 0 with *e set (NULL for an entry without fields); -1 for a
 * malformed one; -2 when out of memory.
 */
static int
entry_parse(const redisReply *r, struct chat_id *id, struct chat_entry **e)
{
	const redisReply *f;

	*e = NULL;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    reply_id(r->element[0], id) < 0)
		return -1;
	f = r->element[1];
	if (f->type == REDIS_REPLY_NIL)
		return 0;
	if (f->type != REDIS_REPLY_ARRAY)
		return -1;
	*e = chat_entry_new(id, field(f, "type"), field(f, "name"),
	    field(f, "text"), field(f, "mid"),
	    strtol(field(f, "users"), NULL, 10));
	return *e ? 0 : -2;
}

/*
 * A range reply into a list in log order (XREVRANGE's is reversed). With
 * skip, the first entry (XRANGE's "since") is left out. 0 or a result.
 */
static int
list_parse(const redisReply *r, int reversed, int skip,
    struct chat_entry **list)
{
	struct chat_entry **tail = list, *e;
	struct chat_id id;
	size_t i;
	int rc;

	*list = NULL;
	if (r->type != REDIS_REPLY_ARRAY)
		return CHAT_FAILED;
	for (i = skip ? 1 : 0; i < r->elements; i++) {
		rc = entry_parse(r->element[i], &id, &e);
		if (rc < 0) {
			chat_entry_list_free(*list);
			*list = NULL;
			return CHAT_FAILED;
		}
		if (e == NULL)
			continue;
		if (reversed) {
			e->next = *list;
			*list = e;
			if (tail == list)
				tail = &e->next;
		} else {
			e->next = NULL;
			*tail = e;
			tail = &e->next;
		}
	}
	return CHAT_OK;
}

/* The unknown publishes: a mid that came through the stream is in the
 * log. Answered OK at once; the rest when the reader caught up. */
static void
unknown_seen(struct rnode *rn, const char *mid)
{
	struct request **p, *req;

	if (mid[0] == '\0')
		return;
	memcpy(rn->recent[rn->recent_next++ % RECENT_MIDS], mid,
	    CHAT_MAX_MID + 1);
	for (p = &rn->unknown; (req = *p) != NULL; p = &req->next) {
		if (strcmp(req->mid, mid) == 0) {
			*p = req->next;
			request_answer(req, CHAT_OK);
			return;
		}
	}
}

static int
recently_seen(const struct rnode *rn, const char *mid)
{
	unsigned i;

	for (i = 0; mid[0] != '\0' && i < RECENT_MIDS; i++)
		if (strcmp(rn->recent[i], mid) == 0)
			return 1;
	return 0;
}

static void
unknown_fail(struct rnode *rn)
{
	struct request *req;

	while ((req = rn->unknown) != NULL) {
		rn->unknown = req->next;
		request_answer(req, CHAT_OFFLINE);
	}
}

/* The link: both connections, up or down together. */

static void
set_online(struct rnode *rn, int online)
{
	if (rn->node->online == online)
		return;
	/* chat_room_set_online sets node->online and tells the members. */
	if (!rn->stopping)
		chat_room_set_online(rn->node, online);
	else
		rn->node->online = online;
}

static void
conn_drop(struct rconn *c)
{
	redisAsyncContext *ac = c->ac;

	c->ac = NULL;
	c->inflight = 0;
	if (ac != NULL)
		redisAsyncFree(ac);	/* pending callbacks get NULL */
}

static unsigned
jitter(struct rnode *rn, unsigned ms)
{
	rn->rand ^= rn->rand << 13;
	rn->rand ^= rn->rand >> 17;
	rn->rand ^= rn->rand << 5;
	return ms / 2 + rn->rand % (ms / 2 + 1);
}

/*
 * The link failed (or the node stops): drop both connections, tell the
 * room once, and try again later. Requests in flight are answered by
 * their callbacks, which hiredis calls from redisAsyncFree.
 */
static void
link_down(struct rnode *rn)
{
	struct timeval tv;

	if (rn->state == LINK_DOWN)
		return;
	rn->state = LINK_DOWN;
	conn_drop(&rn->rd);
	conn_drop(&rn->cmd);
	set_online(rn, 0);
	if (rn->stopping)
		return;
	tv = ms_tv(jitter(rn, rn->backoff_ms));
	rn->backoff_ms = rn->backoff_ms * 2 > BACKOFF_MAX_MS ?
	    BACKOFF_MAX_MS : rn->backoff_ms * 2;
	evtimer_add(rn->retry, &tv);
}

static int
conn_open(struct rnode *rn, struct rconn *c, long long limit_ms)
{
	redisAsyncContext *ac;

	ac = redisAsyncConnect(rn->bus->host, rn->bus->port);
	if (ac == NULL)
		return -1;
	if (ac->err || redisLibeventAttach(ac, rn->node->base) != REDIS_OK) {
		redisAsyncFree(ac);
		return -1;
	}
	ac->data = c;
	redisAsyncSetConnectCallback(ac, conn_made);
	redisAsyncSetDisconnectCallback(ac, conn_gone);
	c->ac = ac;
	c->inflight = 0;
	c->limit_ms = limit_ms;
	return 0;
}

/* A reply that must be +OK (SELECT). */
static void
ok_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	const redisReply *r = reply;

	(void)priv;
	if (!answer_in(ac, reply))
		return;
	if (r->type != REDIS_REPLY_STATUS)
		link_down(((struct rconn *)ac->data)->rn);
}

static int
send_beat(struct rnode *rn, redisCallbackFn *fn, void *priv)
{
	char fresh[CHAT_EPOCH_LEN + 1], users[16];
	const char *argv[] = { "EVAL", beat_script, "3", rn->bus->key_epoch,
	    rn->bus->key_users, rn->bus->key_seen, fresh, rn->node_id, users };

	chat_epoch_new(fresh);
	snprintf(users, sizeof(users), "%d", rn->users_here);
	rn->beat_ms = now_ms();
	return send_argv(&rn->cmd, fn, priv, 9, argv);
}

/* The log's epoch from a beat reply, or NULL. */
static const char *
beat_epoch(const redisReply *r)
{
	if (r->type != REDIS_REPLY_STRING || r->len != CHAT_EPOCH_LEN)
		return NULL;
	return r->str;
}

/* The epoch, when the link is made: the same log, or a new one. */
static void
link_epoch_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rnode *rn = priv;
	struct chat_node *node = rn->node;
	const char *epoch;

	if (!answer_in(ac, reply))
		return;
	if ((epoch = beat_epoch(reply)) == NULL) {
		link_down(rn);
		return;
	}
	if (node->epoch[0] == '\0') {
		memcpy(node->epoch, epoch, CHAT_EPOCH_LEN + 1);
	} else if (strcmp(node->epoch, epoch) != 0) {
		/* Redis lost the log: the members are told. Reading goes on
		 * from the last ID read: stream IDs are Redis's clock, so the
		 * new log's entries come after it (the ones already read
		 * from the new log, before this link noticed, are not
		 * delivered twice). Only a Redis whose clock went back
		 * would hide entries from us here. */
		memcpy(node->epoch, epoch, CHAT_EPOCH_LEN + 1);
		chat_room_set_epoch(node, epoch);
	}
	if (rn->have_last && rn->state == LINK_CONNECTING) {
		rn->state = LINK_CATCHUP;
		read_next(rn);
	}
}

/* The stream's last ID at the node's first link ("$", made concrete so
 * that a new link reads on from it). */
static void
link_last_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rnode *rn = priv;
	struct chat_id id = { 0, 0 };	/* an empty stream */

	if (!answer_in(ac, reply))
		return;
	if (first_id(reply, &id) < 0) {
		link_down(rn);
		return;
	}
	if (!rn->have_last) {
		rn->last = id;
		rn->have_last = 1;
	}
	if (rn->state == LINK_CONNECTING) {
		rn->state = LINK_CATCHUP;
		read_next(rn);
	}
}

static void
link_retry(evutil_socket_t fd, short what, void *arg)
{
	struct rnode *rn = arg;
	struct redis_bus *bus = rn->bus;
	char db[16];
	const char *sel[] = { "SELECT", db };
	const char *last[] = { "XREVRANGE", bus->room, "+", "-", "COUNT", "1" };

	(void)fd;
	(void)what;
	if (rn->state != LINK_DOWN || rn->stopping)
		return;
	rn->state = LINK_CONNECTING;
	if (conn_open(rn, &rn->rd, READ_BLOCK_MS + STALL_MS) < 0 ||
	    conn_open(rn, &rn->cmd, STALL_MS) < 0) {
		link_down(rn);
		return;
	}
	/* Sent at once: hiredis holds them until the connection is made,
	 * and answers them with NULL if it is not. */
	snprintf(db, sizeof(db), "%d", bus->db);
	if ((bus->db >= 0 && (send_argv(&rn->rd, ok_cb, rn, 2, sel) < 0 ||
	    send_argv(&rn->cmd, ok_cb, rn, 2, sel) < 0)) ||
	    send_beat(rn, link_epoch_cb, rn) < 0 ||
	    (!rn->have_last && send_argv(&rn->cmd, link_last_cb, rn, 6,
	    last) < 0))
		link_down(rn);
}

/* Reading. */

static void
read_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rnode *rn = priv;
	const redisReply *r = reply, *entries;
	struct chat_entry *e;
	struct chat_id id;
	size_t i, n = 0;
	int rc;

	if (!answer_in(ac, reply))
		return;
	if (r->type == REDIS_REPLY_ARRAY) {
		/* [[ROOM, [entry, ...]]] */
		if (r->elements != 1 || r->element[0]->type !=
		    REDIS_REPLY_ARRAY || r->element[0]->elements != 2 ||
		    r->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
			link_down(rn);
			return;
		}
		entries = r->element[0]->element[1];
		n = entries->elements;
		for (i = 0; i < n; i++) {
			rc = entry_parse(entries->element[i], &id, &e);
			if (rc == -1 || (rc == 0 &&
			    chat_id_cmp(&id, &rn->last) <= 0)) {
				link_down(rn);	/* not the stream we read */
				return;
			}
			if (rc == -2) {
				link_down(rn);	/* read again from last */
				return;
			}
			rn->last = id;
			if (e == NULL)
				continue;
			chat_room_deliver(rn->node, e);
			unknown_seen(rn, e->mid);
			free(e);
			if (rn->rd.ac != ac)
				return;	/* the link went down meanwhile */
		}
	} else if (r->type != REDIS_REPLY_NIL) {
		link_down(rn);
		return;
	}
	if (rn->state == LINK_CATCHUP && n < READ_COUNT) {
		/* Caught up: what is in the log has been delivered. */
		rn->state = LINK_UP;
		rn->backoff_ms = BACKOFF_MIN_MS;
		unknown_fail(rn);
		set_online(rn, 1);
		if (rn->rd.ac != ac)
			return;
	}
	read_next(rn);
}

/* The next XREAD: without BLOCK while catching up. */
static void
read_next(struct rnode *rn)
{
	char last[CHAT_ID_LEN], block[16], count[16];
	const char *argv[] = { "XREAD", "COUNT", count, "BLOCK", block,
	    "STREAMS", rn->bus->room, last };

	chat_id_format(&rn->last, last);
	snprintf(count, sizeof(count), "%d", READ_COUNT);
	snprintf(block, sizeof(block), "%d", READ_BLOCK_MS);
	if (rn->state == LINK_CATCHUP) {
		argv[3] = "STREAMS";
		argv[4] = rn->bus->room;
		argv[5] = last;
	}
	if (send_argv(&rn->rd, read_cb, rn, rn->state == LINK_CATCHUP ?
	    6 : 8, argv) < 0)
		link_down(rn);
}

/* The watchdog: a connection that does not answer, and the heartbeat. */

static void
beat_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rnode *rn = priv;
	const char *epoch;

	if (!answer_in(ac, reply))
		return;
	if ((epoch = beat_epoch(reply)) == NULL) {
		link_down(rn);
	} else if (strcmp(epoch, rn->node->epoch) != 0) {
		/* Another epoch: the log was recreated under us (FLUSHALL).
		 * The members are told; reading goes on (see link_epoch_cb),
		 * and nothing in flight is dropped. */
		memcpy(rn->node->epoch, epoch, CHAT_EPOCH_LEN + 1);
		chat_room_set_epoch(rn->node, epoch);
	}
}

static int
stalled(const struct rconn *c, long long now)
{
	return c->ac != NULL && c->inflight > 0 &&
	    now - c->since_ms > c->limit_ms;
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	struct rnode *rn = arg;
	long long now = now_ms();

	(void)fd;
	(void)what;
	if (rn->state == LINK_DOWN)
		return;
	if (stalled(&rn->rd, now) || stalled(&rn->cmd, now)) {
		link_down(rn);
		return;
	}
	if (rn->state == LINK_UP && now - rn->beat_ms >= BEAT_MS &&
	    send_beat(rn, beat_cb, rn) < 0)
		link_down(rn);
}

/* Publishing. */

static void
publish_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct request *req = priv;
	const redisReply *r = reply;

	if (!answer_in(ac, reply)) {
		/* Sent, not answered: it may be in the log. Ask the stream
		 * when the link is back (link_down was run: no answer now). */
		if (recently_seen(req->rn, req->mid)) {
			request_answer(req, CHAT_OK);
			return;
		}
		req->next = req->rn->unknown;
		req->rn->unknown = req;
		if (req->rn->stopping)
			unknown_fail(req->rn);
		return;
	}
	if (r->type == REDIS_REPLY_STRING)
		request_answer(req, CHAT_OK);
	else if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
		request_answer(req, CHAT_DUPLICATE);
	else
		request_answer(req, CHAT_FAILED);
}

static struct request *
request_new(struct chat_node *node, void *arg)
{
	struct request *req = calloc(1, sizeof(*req));

	if (req != NULL) {
		req->rn = node->bus_node;
		req->arg = arg;
	}
	return req;
}

static void
redis_publish(struct chat_node *node, const struct chat_post *post,
    chat_publish_cb cb, void *arg)
{
	struct rnode *rn = node->bus_node;
	struct redis_bus *bus = rn->bus;
	struct request *req = request_new(node, arg);
	char *midkey = NULL, users[16], fresh[CHAT_EPOCH_LEN + 1];
	const char *argv[] = { "EVAL", publish_script, "5", bus->room,
	    bus->key_users, bus->key_seen, NULL /* ROOM:mid:MID */,
	    bus->key_epoch, post->type, post->name, post->text, post->mid,
	    users, rn->node_id, bus->keep, fresh };
	size_t n;

	if (req == NULL) {
		cb(node, CHAT_FAILED, arg);	/* no memory: nothing queued */
		return;
	}
	req->publish_cb = cb;
	if (rn->state != LINK_UP) {
		request_later(req, CHAT_OFFLINE);
		return;
	}
	n = strlen(post->mid);
	if (n > CHAT_MAX_MID || (midkey = malloc(strlen(bus->key_mid) +
	    n + 1)) == NULL) {
		request_later(req, CHAT_FAILED);
		return;
	}
	memcpy(req->mid, post->mid, n + 1);	/* "" never matches */
	sprintf(midkey, "%s%s", bus->key_mid, post->mid);
	snprintf(users, sizeof(users), "%d", post->users_here);
	chat_epoch_new(fresh);
	rn->users_here = post->users_here;
	argv[6] = midkey;
	if (send_argv(&rn->cmd, publish_cb, req, 16, argv) < 0)
		request_later(req, CHAT_OFFLINE);
	free(midkey);
}

/* History: the epoch, then the entries after since (or the last ones). */

static void history_range_cb(redisAsyncContext *ac, void *reply,
    void *priv);

static void
history_last(struct request *req, int result)
{
	const char *argv[] = { "XREVRANGE", req->rn->bus->room, "+", "-",
	    "COUNT", NULL };
	char count[16];

	snprintf(count, sizeof(count), "%d", CHAT_JOIN_HISTORY);
	argv[5] = count;
	req->result = result;
	req->has_since = 0;
	if (send_argv(&req->rn->cmd, history_range_cb, req, 6, argv) < 0)
		request_answer(req, CHAT_OFFLINE);
}

static void
history_range_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct request *req = priv;
	const redisReply *r = reply;
	struct chat_id first;
	int rc;

	if (!answer_in(ac, reply)) {
		request_answer(req, CHAT_OFFLINE);
		return;
	}
	if (req->has_since) {
		/* XRANGE since +: since itself must still be the first. */
		rc = first_id(r, &first);
		if (rc == 1 || (rc == 0 && chat_id_cmp(&first, &req->since))) {
			history_last(req, CHAT_LOST);
			return;
		}
		if (list_parse(r, 0, 1, &req->list) != CHAT_OK)
			req->result = CHAT_FAILED;
	} else if (list_parse(r, 1, 0, &req->list) != CHAT_OK) {
		req->result = CHAT_FAILED;
	}
	request_answer(req, req->result);
}

static void
history_epoch_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct request *req = priv;
	struct rnode *rn = req->rn;
	const char *epoch;
	char since[CHAT_ID_LEN];
	const char *argv[] = { "XRANGE", rn->bus->room, since, "+" };

	if (!answer_in(ac, reply)) {
		request_answer(req, CHAT_OFFLINE);
		return;
	}
	if ((epoch = beat_epoch(reply)) == NULL) {
		request_answer(req, CHAT_FAILED);
		return;
	}
	if (strcmp(epoch, rn->node->epoch) != 0) {
		/* The log was recreated: the heartbeat relinks the node. */
		rn->beat_ms = 0;
	}
	if (req->has_epoch && strcmp(req->epoch, epoch) != 0) {
		history_last(req, CHAT_LOST);
		return;
	}
	if (!req->has_since) {
		history_last(req, CHAT_OK);
		return;
	}
	chat_id_format(&req->since, since);
	if (send_argv(&rn->cmd, history_range_cb, req, 4, argv) < 0)
		request_answer(req, CHAT_OFFLINE);
}

static void
redis_history(struct chat_node *node, const char *epoch,
    const struct chat_id *since, chat_history_cb cb, void *arg)
{
	struct rnode *rn = node->bus_node;
	struct request *req = request_new(node, arg);

	if (req == NULL) {
		cb(node, CHAT_FAILED, NULL, arg);
		return;
	}
	req->history_cb = cb;
	if (epoch != NULL) {
		req->has_epoch = 1;
		snprintf(req->epoch, sizeof(req->epoch), "%s", epoch);
	}
	if (since != NULL) {
		req->has_since = 1;
		req->since = *since;
	}
	if (rn->state != LINK_UP)
		request_later(req, CHAT_OFFLINE);
	else if (send_beat(rn, history_epoch_cb, req) < 0)
		request_later(req, CHAT_OFFLINE);
}

/* Nodes. */

static void redis_node_stop(struct chat_bus *bus, struct chat_node *node);

static int
redis_node_start(struct chat_bus *cbus, struct chat_node *node)
{
	struct redis_bus *bus = (struct redis_bus *)cbus;
	struct rnode *rn = calloc(1, sizeof(*rn));
	struct timeval tv = ms_tv(TICK_MS);
	char host[64] = "";

	node->bus_node = rn;
	node->epoch[0] = '\0';	/* known once the link is made */
	node->online = 0;
	if (rn == NULL)
		return -1;
	rn->bus = bus;
	rn->node = node;
	rn->rd.rn = rn->cmd.rn = rn;
	rn->state = LINK_DOWN;
	rn->backoff_ms = BACKOFF_MIN_MS;
	rn->rand = (unsigned)getpid() * 2654435761u ^
	    (unsigned)now_ms() ^ (unsigned)node->index << 16 ^ 1u;
	rn->answers_tail = &rn->answers;
	gethostname(host, sizeof(host) - 1);
	snprintf(rn->node_id, sizeof(rn->node_id), "%s:%ld:%d", host,
	    (long)getpid(), node->index);
	rn->retry = evtimer_new(node->base, link_retry, rn);
	rn->tick = event_new(node->base, -1, EV_PERSIST, tick, rn);
	rn->answer = event_new(node->base, -1, 0, answers_run, rn);
	if (rn->retry == NULL || rn->tick == NULL || rn->answer == NULL ||
	    event_add(rn->tick, &tv) < 0) {
		redis_node_stop(cbus, node);
		return -1;
	}
	/* The first link is made as the loop runs; until it is, and
	 * whenever Redis cannot be reached, the node is offline. */
	event_active(rn->retry, EV_TIMEOUT, 0);
	return 0;
}

static void
redis_node_stop(struct chat_bus *bus, struct chat_node *node)
{
	struct rnode *rn = node->bus_node;

	(void)bus;
	if (rn == NULL)
		return;
	rn->stopping = 1;
	link_down(rn);		/* answers what was in flight */
	unknown_fail(rn);
	answers_run(-1, 0, rn);
	if (rn->retry)
		event_free(rn->retry);
	if (rn->tick)
		event_free(rn->tick);
	if (rn->answer)
		event_free(rn->answer);
	free(rn);
	node->bus_node = NULL;
	node->online = 0;
}

/* The bus. */

static void
redis_free(struct chat_bus *cbus)
{
	struct redis_bus *bus = (struct redis_bus *)cbus;

	if (bus == NULL)
		return;
	free(bus->host);
	free(bus->room);
	free(bus->key_epoch);
	free(bus->key_users);
	free(bus->key_seen);
	free(bus->key_mid);
	free(bus);
}

static const struct chat_bus_ops redis_ops = {
	"redis",
	redis_node_start,
	redis_node_stop,
	redis_publish,
	redis_history,
	redis_free
};

/* A number in [min, max] spanning s to end; -1 if it is not one. */
static long
number(const char *s, const char *end, long min, long max)
{
	long v = 0;

	if (s == end || end - s > 9)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v < min || v > max ? -1 : v;
}

/* redis://HOST[:PORT][/DB]; HOST may be [IPv6]. 0 or -1. */
static int
url_parse(struct redis_bus *bus, const char *url)
{
	const char *h, *he, *p, *end;
	long port = 6379, db = -1;

	if (strncmp(url, "redis://", 8) != 0)
		return -1;
	h = url + 8;
	if (*h == '[') {
		he = strchr(++h, ']');
		if (he == NULL)
			return -1;
		p = he + 1;
	} else {
		he = h + strcspn(h, ":/");
		p = he;
	}
	if (he == h)
		return -1;
	end = p + strcspn(p, "/");
	if (*p == ':' && (port = number(p + 1, end, 1, 65535)) < 0)
		return -1;
	if (*p != ':' && p != end)
		return -1;
	if (*end == '/' && end[1] != '\0' &&
	    (db = number(end + 1, end + strlen(end), 0, INT_MAX)) < 0)
		return -1;
	bus->host = strndup(h, (size_t)(he - h));
	bus->port = (int)port;
	bus->db = (int)db;
	return bus->host ? 0 : -1;
}

static char *
key(const char *room, const char *suffix)
{
	char *k = malloc(strlen(room) + strlen(suffix) + 1);

	if (k != NULL)
		sprintf(k, "%s%s", room, suffix);
	return k;
}

struct chat_bus *
chat_bus_redis_new(int nodes, const char *url, const char *room,
    unsigned keep)
{
	struct redis_bus *bus = calloc(1, sizeof(*bus));

	if (room == NULL || room[0] == '\0')
		room = "chat";
	if (bus == NULL) {
		fprintf(stderr, "chat-redis: out of memory\n");
		return NULL;
	}
	bus->pub.ops = &redis_ops;
	bus->pub.nodes = nodes;
	if (url == NULL || url_parse(bus, url) < 0) {
		fprintf(stderr, "chat-redis: bad URL \"%s\" (redis://HOST:"
		    "PORT[/DB])\n", url ? url : "");
		redis_free(&bus->pub);
		return NULL;
	}
	if (keep == 0) {
		fprintf(stderr, "chat-redis: the log must keep entries\n");
		redis_free(&bus->pub);
		return NULL;
	}
	snprintf(bus->keep, sizeof(bus->keep), "%u", keep);
	bus->room = strdup(room);
	bus->key_epoch = key(room, ":epoch");
	bus->key_users = key(room, ":users");
	bus->key_seen = key(room, ":seen");
	bus->key_mid = key(room, ":mid:");
	if (!bus->room || !bus->key_epoch || !bus->key_users ||
	    !bus->key_seen || !bus->key_mid) {
		fprintf(stderr, "chat-redis: out of memory\n");
		redis_free(&bus->pub);
		return NULL;
	}
	return &bus->pub;
}
