/*
 * chat-bus.c: the room's log inside one process (see chat.h), for
 * chat-server without --redis.
 *
 * The log is a ring of the last KEEP entries behind one mutex, with IDs
 * "0-N" and an epoch made when the process starts (a restart is a new
 * log). Appending an entry and posting a copy of it to every node's inbox
 * happen under the same lock, so every inbox gets the entries in log
 * order; a node's inbox is an event on its base, made active by whoever
 * posts, and drained on the node's own thread.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

struct mem_node {
	struct mem_bus *bus;
	struct chat_node *node;
	struct event *ev;		/* the inbox has entries */
	struct chat_entry *inbox;	/* under bus->lock */
	struct chat_entry **inbox_tail;
};

struct mem_bus {
	struct chat_bus bus;
	pthread_mutex_t lock;
	char epoch[CHAT_EPOCH_LEN + 1];
	uint64_t seq;			/* the last ID's */
	struct chat_entry **ring;	/* the last KEEP entries */
	unsigned keep, count, head;	/* head: the oldest */
	long *users;			/* each node's named members */
	struct mem_node **nodes;
};

static struct chat_entry *
entry_copy(const struct chat_entry *e)
{
	struct chat_entry *c = malloc(sizeof(*c) + e->len + 1);

	if (c) {
		memcpy(c, e, sizeof(*c) + e->len + 1);
		c->next = NULL;
	}
	return c;
}

/* The ring's i-th entry, 0 the oldest. */
static struct chat_entry *
ring_at(struct mem_bus *b, unsigned i)
{
	return b->ring[(b->head + i) % b->keep];
}

static void
on_inbox(evutil_socket_t fd, short what, void *arg)
{
	struct mem_node *mn = arg;
	struct chat_entry *list, *e;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&mn->bus->lock);
	list = mn->inbox;
	mn->inbox = NULL;
	mn->inbox_tail = &mn->inbox;
	pthread_mutex_unlock(&mn->bus->lock);
	for (e = list; e; e = e->next)
		chat_room_deliver(mn->node, e);
	chat_entry_list_free(list);
}

static int
mem_node_start(struct chat_bus *bus, struct chat_node *node)
{
	struct mem_bus *b = (struct mem_bus *)bus;
	struct mem_node *mn = calloc(1, sizeof(*mn));

	if (!mn)
		return -1;
	mn->bus = b;
	mn->node = node;
	mn->inbox_tail = &mn->inbox;
	mn->ev = event_new(node->base, -1, 0, on_inbox, mn);
	if (!mn->ev) {
		free(mn);
		return -1;
	}
	node->bus_node = mn;
	memcpy(node->epoch, b->epoch, sizeof(node->epoch));
	node->online = 1;
	pthread_mutex_lock(&b->lock);
	b->nodes[node->index] = mn;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void
mem_node_stop(struct chat_bus *bus, struct chat_node *node)
{
	struct mem_bus *b = (struct mem_bus *)bus;
	struct mem_node *mn = node->bus_node;

	if (!mn)
		return;
	pthread_mutex_lock(&b->lock);
	b->nodes[node->index] = NULL;
	pthread_mutex_unlock(&b->lock);
	event_free(mn->ev);
	chat_entry_list_free(mn->inbox);
	free(mn);
	node->bus_node = NULL;
}

/* Under the lock: is mid among the entries kept? */
static int
mid_kept(struct mem_bus *b, const char *mid)
{
	unsigned i;

	for (i = 0; i < b->count; i++)
		if (strcmp(ring_at(b, i)->mid, mid) == 0)
			return 1;
	return 0;
}

static void
mem_publish(struct chat_node *node, const struct chat_post *p,
    chat_publish_cb cb, void *arg)
{
	struct mem_bus *b = ((struct mem_node *)node->bus_node)->bus;
	struct chat_entry *e, *c;
	struct chat_id id;
	long users = 0;
	int i, result = CHAT_OK;

	pthread_mutex_lock(&b->lock);
	b->users[node->index] = p->users_here;
	if (p->mid[0] && mid_kept(b, p->mid)) {
		result = CHAT_DUPLICATE;
		goto out;
	}
	for (i = 0; i < b->bus.nodes; i++)
		users += b->users[i];
	id.ms = 0;
	id.seq = b->seq + 1;
	e = chat_entry_new(&id, p->type, p->name, p->text, p->mid, users);
	if (!e) {
		result = CHAT_FAILED;
		goto out;
	}
	b->seq++;
	if (b->count == b->keep) {
		free(b->ring[b->head]);
		b->head = (b->head + 1) % b->keep;
		b->count--;
	}
	b->ring[(b->head + b->count++) % b->keep] = e;
	for (i = 0; i < b->bus.nodes; i++) {
		struct mem_node *mn = b->nodes[i];

		if (!mn)
			continue;
		/* The entry is in the log: a node without memory for a
		 * copy misses it (its members resume past it later). */
		if (!(c = entry_copy(e)))
			continue;
		*mn->inbox_tail = c;
		mn->inbox_tail = &c->next;
		event_active(mn->ev, EV_READ, 0);
	}
out:
	pthread_mutex_unlock(&b->lock);
	cb(node, result, arg);
}

/* Under the lock: a list of copies of the kept entries from the i-th on. */
static int
copy_from(struct mem_bus *b, unsigned i, struct chat_entry **list)
{
	struct chat_entry **tail = list, *c;

	*list = NULL;
	for (; i < b->count; i++) {
		if (!(c = entry_copy(ring_at(b, i)))) {
			chat_entry_list_free(*list);
			*list = NULL;
			return CHAT_FAILED;
		}
		*tail = c;
		tail = &c->next;
	}
	return CHAT_OK;
}

static void
mem_history(struct chat_node *node, const char *epoch,
    const struct chat_id *since, chat_history_cb cb, void *arg)
{
	struct mem_bus *b = ((struct mem_node *)node->bus_node)->bus;
	struct chat_entry *list;
	unsigned i, last50;
	int result = CHAT_OK, r;

	pthread_mutex_lock(&b->lock);
	last50 = b->count > CHAT_JOIN_HISTORY ? b->count - CHAT_JOIN_HISTORY : 0;
	i = last50;
	if (since) {
		/* since must still be in the ring: what came after it is
		 * there whole. Else it is lost (or another log's). */
		result = CHAT_LOST;
		if (!epoch || strcmp(epoch, b->epoch) == 0) {
			for (i = 0; i < b->count; i++)
				if (chat_id_cmp(&ring_at(b, i)->id, since) == 0)
					break;
			if (i < b->count) {
				i++;
				result = CHAT_OK;
			} else {
				i = last50;
			}
		}
	} else if (epoch && strcmp(epoch, b->epoch) != 0) {
		result = CHAT_LOST;
	}
	r = copy_from(b, i, &list);
	pthread_mutex_unlock(&b->lock);
	cb(node, r == CHAT_OK ? result : r, list, arg);
}

static void
mem_free(struct chat_bus *bus)
{
	struct mem_bus *b = (struct mem_bus *)bus;
	unsigned i;

	if (!b)
		return;
	for (i = 0; i < b->count; i++)
		free(ring_at(b, i));
	free(b->ring);
	free(b->users);
	free(b->nodes);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static const struct chat_bus_ops mem_ops = {
	.name = "memory",
	.node_start = mem_node_start,
	.node_stop = mem_node_stop,
	.publish = mem_publish,
	.history = mem_history,
	.free = mem_free,
};

struct chat_bus *
chat_bus_memory_new(int nodes, unsigned keep)
{
	struct mem_bus *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->bus.ops = &mem_ops;
	b->bus.nodes = nodes;
	b->keep = keep ? keep : 1;
	pthread_mutex_init(&b->lock, NULL);
	chat_epoch_new(b->epoch);
	b->ring = calloc(b->keep, sizeof(*b->ring));
	b->users = calloc((size_t)nodes, sizeof(*b->users));
	b->nodes = calloc((size_t)nodes, sizeof(*b->nodes));
	if (!b->ring || !b->users || !b->nodes) {
		mem_free(&b->bus);
		return NULL;
	}
	return &b->bus;
}
