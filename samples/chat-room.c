/*
 * chat-room.c: one thread's part of the chat room (see chat.h).
 *
 * The protocol. A client opens /ws, or /ws?since=ID&epoch=E to resume
 * after the last entry it showed. It is sent, as JSON text messages:
 *
 *   {"type":"hello","epoch":E,"online":true,"node":"PID.THREAD"}  first
 *   {"type":"lost","text":"history lost from here"}
 *       its "since" is no longer in the log (trimmed, or the log was
 *       recreated): what it missed cannot be told
 *   entries {"type":"join"|"leave"|"say","id":ID,"name":..,"text":..,
 *       "users":N[,"mid":M]}: the history (after since, or the last 50),
 *       then every new one, in the room's one order, none twice
 *   {"type":"live"}    the history has been sent; what follows is new
 *   {"type":"offline"} / {"type":"online"}   the log is out of reach / back
 *   {"type":"refused","mid":M,"text":..,"why":..}   a line of its own that
 *       is not in the room (the log could not be reached)
 *
 * It sends "/name NAME" once, then lines: "/say MID TEXT" (MID: its own id
 * for the line, up to 40 of [A-Za-z0-9_-]; a line sent again with the same
 * MID is added once) or plain TEXT.
 *
 * A slow client, one that does not read what the room says, is
 * disconnected with 1008 once more than MAX_BACKLOG bytes wait for it
 * (wsev_connection_get_buffered_amount): the others are not slowed, and
 * the server never holds ever more for it.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "chat.h"

#include <sys/queue.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define MAX_BACKLOG (1024 * 1024)

struct ticket;

struct member {
	struct member *next, *prev;
	struct chat_room *room;
	struct wsev_connection *conn;
	char name[CHAT_MAX_NAME + 1];	/* empty until "/name" */
	struct chat_id last;		/* the last entry sent */
	int has_last;
	int replaying;			/* history asked, not answered yet */
	struct chat_entry *pending;	/* entries delivered meanwhile */
	struct chat_entry **pending_tail;
	size_t pending_bytes;		/* bounded by MAX_BACKLOG */
	struct ticket *tickets;		/* its questions to the bus */
};

/* The argument of a bus callback: who asked, and what. The member is
 * NULL once it left (the bus still answers, to nobody). */
struct ticket {
	struct ticket *next, *prev;
	struct member *m;
	struct chat_room *room;
	char mid[CHAT_MAX_MID + 1];
	char text[];
};

struct chat_room {
	struct chat_node *node;
	struct member *members;
	struct ticket *orphans;		/* tickets whose member left */
	int users;			/* named members here */
	int closing;			/* being freed: no more posts */
};

/* ---------------------------------------------------------------- IDs */

int
chat_id_parse(const char *s, struct chat_id *id)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	id->ms = strtoull(s, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		return -1;
	id->seq = strtoull(end + 1, &end, 10);
	return *end ? -1 : 0;
}

int
chat_id_cmp(const struct chat_id *a, const struct chat_id *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

void
chat_id_format(const struct chat_id *id, char buf[CHAT_ID_LEN])
{
	snprintf(buf, CHAT_ID_LEN, "%" PRIu64 "-%" PRIu64, id->ms, id->seq);
}

void
chat_epoch_new(char epoch[CHAT_EPOCH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[CHAT_EPOCH_LEN / 2];
	size_t i;
	int fd = open("/dev/urandom", O_RDONLY);

	if (fd < 0 || read(fd, r, sizeof(r)) != (ssize_t)sizeof(r)) {
		/* Not secret, only distinct: the time and pid will do. */
		uint64_t t = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();

		for (i = 0; i < sizeof(r); i++, t >>= 8)
			r[i] = (unsigned char)t;
	}
	if (fd >= 0)
		close(fd);
	for (i = 0; i < sizeof(r); i++) {
		epoch[2 * i] = hex[r[i] >> 4];
		epoch[2 * i + 1] = hex[r[i] & 15];
	}
	epoch[CHAT_EPOCH_LEN] = '\0';
}

/* ---------------------------------------------------------------- entries */

/* Append s to b as a JSON string. */
static void
json_string(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			evbuffer_add_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			evbuffer_add_printf(b, "\\u%04x", ch);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

struct chat_entry *
chat_entry_new(const struct chat_id *id, const char *type, const char *name,
    const char *text, const char *mid, long users)
{
	struct evbuffer *b = evbuffer_new();
	struct chat_entry *e = NULL;
	char ids[CHAT_ID_LEN];
	size_t len;

	if (!b)
		return NULL;
	chat_id_format(id, ids);
	evbuffer_add_printf(b, "{\"type\":");
	json_string(b, type);
	evbuffer_add_printf(b, ",\"id\":\"%s\",\"name\":", ids);
	json_string(b, name);
	evbuffer_add_printf(b, ",\"text\":");
	json_string(b, text);
	evbuffer_add_printf(b, ",\"users\":%ld", users);
	if (mid && *mid) {
		evbuffer_add_printf(b, ",\"mid\":");
		json_string(b, mid);
	}
	evbuffer_add(b, "}", 1);
	len = evbuffer_get_length(b);
	if (strlen(mid ? mid : "") <= CHAT_MAX_MID &&
	    (e = malloc(sizeof(*e) + len + 1)) != NULL) {
		e->next = NULL;
		e->id = *id;
		e->len = len;
		snprintf(e->mid, sizeof(e->mid), "%s", mid ? mid : "");
		evbuffer_remove(b, e->json, len);
		e->json[len] = '\0';
	}
	evbuffer_free(b);
	return e;
}

void
chat_entry_list_free(struct chat_entry *list)
{
	struct chat_entry *next;

	for (; list; list = next) {
		next = list->next;
		free(list);
	}
}

/* ---------------------------------------------------------------- sending */

/* Send e to m unless m had it already; 1008 for a slow reader. */
static void
send_entry(struct member *m, const struct chat_entry *e)
{
	if (m->has_last && chat_id_cmp(&e->id, &m->last) <= 0)
		return;
	m->last = e->id;
	m->has_last = 1;
	if (wsev_connection_get_buffered_amount(m->conn) > MAX_BACKLOG) {
		wsev_connection_close(m->conn, WSEV_CLOSE_POLICY_VIOLATION,
		    "too slow: messages are piling up");
		return;
	}
	wsev_connection_send_message(m->conn, WSEV_DATA_TEXT, e->json, e->len);
}

/* A notice of one type, with an optional "text". */
static void
send_notice(struct member *m, const char *type, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		return;
	evbuffer_add_printf(b, "{\"type\":\"%s\"", type);
	if (text) {
		evbuffer_add_printf(b, ",\"text\":");
		json_string(b, text);
	}
	evbuffer_add(b, "}", 1);
	wsev_connection_send_message(m->conn, WSEV_DATA_TEXT,
	    evbuffer_pullup(b, -1), evbuffer_get_length(b));
	evbuffer_free(b);
}

static void
send_hello(struct member *m)
{
	struct chat_node *node = m->room->node;
	char buf[128];
	int n;

	n = snprintf(buf, sizeof(buf), "{\"type\":\"hello\",\"epoch\":\"%s\","
	    "\"online\":%s,\"node\":\"%ld.%d\"}", node->epoch,
	    node->online ? "true" : "false", (long)getpid(), node->index);
	wsev_connection_send_message(m->conn, WSEV_DATA_TEXT, buf, (size_t)n);
}

static void
send_refused(struct member *m, const struct ticket *t, int result)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		return;
	evbuffer_add_printf(b, "{\"type\":\"refused\",\"mid\":");
	json_string(b, t->mid);
	evbuffer_add_printf(b, ",\"text\":");
	json_string(b, t->text);
	evbuffer_add_printf(b, ",\"why\":\"%s\"}", result == CHAT_OFFLINE ?
	    "the room is offline: not sent" : "the room failed: not sent");
	wsev_connection_send_message(m->conn, WSEV_DATA_TEXT,
	    evbuffer_pullup(b, -1), evbuffer_get_length(b));
	evbuffer_free(b);
}

/* ---------------------------------------------------------------- tickets */

static struct ticket *
ticket_new(struct chat_room *room, struct member *m, const char *mid,
    const char *text)
{
	size_t len = strlen(text);
	struct ticket *t = malloc(sizeof(*t) + len + 1);

	if (!t)
		return NULL;
	t->m = m;
	t->room = room;
	snprintf(t->mid, sizeof(t->mid), "%s", mid);
	memcpy(t->text, text, len + 1);
	t->prev = NULL;
	t->next = m ? m->tickets : room->orphans;
	if (t->next)
		t->next->prev = t;
	if (m)
		m->tickets = t;
	else
		room->orphans = t;
	return t;
}

/* The bus answered: the ticket leaves its list; its member, or NULL. */
static struct member *
ticket_done(struct ticket *t)
{
	struct member *m = t->m;

	if (t->prev)
		t->prev->next = t->next;
	else if (m)
		m->tickets = t->next;
	else
		t->room->orphans = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t);
	return m;
}

/* The member leaves: its tickets wait for their answers as orphans. */
static void
tickets_orphan(struct member *m)
{
	struct chat_room *room = m->room;
	struct ticket *t, *next;

	for (t = m->tickets; t; t = next) {
		next = t->next;
		t->m = NULL;
		t->prev = NULL;
		t->next = room->orphans;
		if (room->orphans)
			room->orphans->prev = t;
		room->orphans = t;
	}
	m->tickets = NULL;
}

/* ---------------------------------------------------------------- posting */

static void
on_published(struct chat_node *node, int result, void *arg)
{
	struct ticket *t = arg;
	struct member *m = t->m;

	(void)node;
	/* CHAT_OK and CHAT_DUPLICATE: the line is in the log, and comes
	 * back to everyone (its sender too) through delivery. */
	if (m && result != CHAT_OK && result != CHAT_DUPLICATE)
		send_refused(m, t, result);
	ticket_done(t);
}

/* Add to the log; m (NULL for a leave) hears of a refusal. */
static void
post(struct chat_room *room, struct member *m, const char *type,
    const char *name, const char *text, const char *mid)
{
	struct chat_node *node = room->node;
	struct chat_post p = {
		.type = type, .name = name, .text = text, .mid = mid,
		.users_here = room->users,
	};
	struct ticket *t;

	if (room->closing)
		return;
	t = ticket_new(room, m, mid, text);
	if (!t) {
		if (m)
			wsev_connection_close(m->conn, WSEV_CLOSE_SERVER_ERROR,
			    "out of memory");
		return;
	}
	node->bus->ops->publish(node, &p, on_published, t);
}

/* snprintf may have cut the last character of a long name: drop what is
 * left of it, so the name stays UTF-8 (the text as a whole was checked by
 * wsev already). */
static void
cut_utf8(char *s)
{
	size_t len = strlen(s), j, want;
	unsigned char lead;

	if (len == 0)
		return;
	j = len - 1;
	while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80)
		j--;
	lead = (unsigned char)s[j];
	want = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
	if (len - j < want)
		s[j] = '\0';
}

/* "/say MID TEXT": MID's length, or 0 if it is not one. */
static size_t
mid_length(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	return n > 0 && n <= CHAT_MAX_MID && s[n] == ' ' ? n : 0;
}

static void
on_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct member *m = arg;
	const char *text = data;
	char name[CHAT_MAX_NAME + 1], mid[CHAT_MAX_MID + 1];
	size_t n;

	(void)conn;
	if (type != WSEV_DATA_TEXT || len > CHAT_MAX_TEXT + 64 ||
	    strlen(text) != len)
		return;
	if (!m->name[0]) {
		if (strncmp(text, "/name ", 6) != 0 || !text[6])
			return;
		snprintf(name, sizeof(name), "%s", text + 6);
		cut_utf8(name);
		snprintf(m->name, sizeof(m->name), "%s", name[0] ? name : "?");
		m->room->users++;
		post(m->room, m, "join", m->name, "", "");
		return;
	}
	mid[0] = '\0';
	if (strncmp(text, "/say ", 5) == 0 && (n = mid_length(text + 5))) {
		memcpy(mid, text + 5, n);
		mid[n] = '\0';
		text += 5 + n + 1;
	}
	if (*text && strlen(text) <= CHAT_MAX_TEXT)
		post(m->room, m, "say", m->name, text, mid);
}

/* ---------------------------------------------------------------- members */

static void
member_free(struct member *m)
{
	struct chat_room *room = m->room;

	if (m->prev)
		m->prev->next = m->next;
	else
		room->members = m->next;
	if (m->next)
		m->next->prev = m->prev;
	tickets_orphan(m);
	chat_entry_list_free(m->pending);
	free(m);
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	struct member *m = arg;
	struct chat_room *room = m->room;
	char name[CHAT_MAX_NAME + 1];

	snprintf(name, sizeof(name), "%s", m->name);
	member_free(m);
	wsev_connection_free(conn);
	if (name[0]) {
		room->users--;
		post(room, NULL, "leave", name, "", "");
	}
}

/* The history a member asked for: sent, then what came meanwhile, then
 * "live". */
static void
on_history(struct chat_node *node, int result, struct chat_entry *list,
    void *arg)
{
	struct member *m = ticket_done(arg);
	struct chat_entry *e, *pending;

	(void)node;
	if (!m) {
		chat_entry_list_free(list);
		return;
	}
	if (result == CHAT_LOST) {
		m->has_last = 0;	/* the IDs may start over */
		send_notice(m, "lost", "history lost from here");
	}
	for (e = list; e; e = e->next)
		send_entry(m, e);
	chat_entry_list_free(list);
	pending = m->pending;
	m->pending = NULL;
	m->pending_tail = &m->pending;
	m->pending_bytes = 0;
	m->replaying = 0;
	for (e = pending; e; e = e->next)
		send_entry(m, e);
	chat_entry_list_free(pending);
	send_notice(m, "live", NULL);
}

void
chat_room_on_websocket(struct wsev_connection *conn,
    struct evhttp_request *req, void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message,
		.closed = on_closed,
	};
	struct chat_node *node = arg;
	struct chat_room *room = node->room;
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq params;
	const char *since = NULL, *epoch = NULL;
	struct chat_id since_id;
	struct member *m = calloc(1, sizeof(*m));
	struct ticket *t;

	TAILQ_INIT(&params);
	if (query && evhttp_parse_query_str(query, &params) == 0) {
		since = evhttp_find_header(&params, "since");
		epoch = evhttp_find_header(&params, "epoch");
	}
	if (since && chat_id_parse(since, &since_id) != 0)
		since = NULL;	/* not an ID we gave: a fresh join */
	t = m ? ticket_new(room, m, "", "") : NULL;
	if (!t) {
		free(m);
		evhttp_clear_headers(&params);
		wsev_connection_free(conn);
		return;
	}
	m->room = room;
	m->conn = conn;
	m->pending_tail = &m->pending;
	m->next = room->members;
	if (room->members)
		room->members->prev = m;
	room->members = m;
	wsev_connection_set_max_incoming_payload_size(conn, 8192);
	wsev_connection_set_callbacks(conn, &cbs, m);
	send_hello(m);
	/* From now on, new entries wait in m->pending until the history
	 * is sent: nothing between the two is missed, nothing sent twice. */
	m->replaying = 1;
	if (since) {
		m->last = since_id;
		m->has_last = 1;
	}
	node->bus->ops->history(node, epoch, since ? &since_id : NULL,
	    on_history, t);
	evhttp_clear_headers(&params);
}

void
chat_room_deliver(struct chat_node *node, const struct chat_entry *e)
{
	struct member *m, *next;
	struct chat_entry *copy;

	for (m = node->room->members; m; m = next) {
		next = m->next;
		if (!m->replaying) {
			send_entry(m, e);
			continue;
		}
		if (m->pending_bytes > MAX_BACKLOG)
			continue;	/* closed already, below */
		m->pending_bytes += e->len;
		/* The history is slow to come (a stalled Redis): what waits
		 * for this member is bounded like a slow reader's backlog. */
		if (m->pending_bytes > MAX_BACKLOG) {
			wsev_connection_close(m->conn,
			    WSEV_CLOSE_POLICY_VIOLATION,
			    "too slow: messages are piling up");
			continue;
		}
		copy = malloc(sizeof(*copy) + e->len + 1);
		if (!copy) {
			m->pending_bytes = MAX_BACKLOG + 1;
			wsev_connection_close(m->conn,
			    WSEV_CLOSE_SERVER_ERROR, "out of memory");
			continue;
		}
		memcpy(copy, e, sizeof(*copy) + e->len + 1);
		copy->next = NULL;
		*m->pending_tail = copy;
		m->pending_tail = &copy->next;
	}
}

void
chat_room_set_online(struct chat_node *node, int online)
{
	struct member *m;

	if (node->online == online)
		return;
	node->online = online;
	for (m = node->room->members; m; m = m->next)
		send_notice(m, online ? "online" : "offline", NULL);
}

void
chat_room_set_epoch(struct chat_node *node, const char *epoch)
{
	struct member *m;

	snprintf(node->epoch, sizeof(node->epoch), "%s", epoch);
	for (m = node->room->members; m; m = m->next) {
		m->has_last = 0;
		send_notice(m, "lost", "history lost from here");
	}
}

/* ---------------------------------------------------------------- the room */

struct chat_room *
chat_room_new(struct chat_node *node)
{
	struct chat_room *room = calloc(1, sizeof(*room));

	if (room)
		room->node = node;
	return room;
}

/* Before wsev_server_remove_handler (which tells every member 1001 and
 * frees it) and the bus's node_stop, which answers the tickets left:
 * those are orphans. */
void
chat_room_close(struct chat_room *room)
{
	room->closing = 1;
}

void
chat_room_free(struct chat_room *room)
{
	struct ticket *t, *next;

	if (!room)
		return;
	for (t = room->orphans; t; t = next) {
		next = t->next;
		free(t);
	}
	free(room);
}
