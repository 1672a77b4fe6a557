/*
 * Keepalive: a ping every interval, and a pong due within the pong timeout
 * (RFC 6455 §5.5.2, §5.5.3), ahead of queued data.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* ------------------------------------------------------------------ */
/* Keepalive */

/* A keepalive ping's payload: "wsev-keepalive " and its number, 8 hex
 * digits; its pong comes back with the same bytes (§5.5.3). */
#define KA_PREFIX "wsev-keepalive "
#define KA_PREFIX_LEN (sizeof(KA_PREFIX) - 1)
#define KA_LEN (KA_PREFIX_LEN + 8)

static void
ka_payload(uint32_t n, char out[KA_LEN])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	memcpy(out, KA_PREFIX, KA_PREFIX_LEN);
	for (i = 0; i < 8; i++)
		out[KA_PREFIX_LEN + i] = hex[(n >> (28 - 4 * i)) & 0xF];
}

void
wsev_conn_keepalive_pong_(struct wsev_connection *c, const uint8_t *p,
    size_t len)
{
	uint32_t n = 0;
	size_t i;
	int d;

	if (!c->ka_waiting || len != KA_LEN || memcmp(p, KA_PREFIX,
	    KA_PREFIX_LEN) != 0)
		return;
	for (i = KA_PREFIX_LEN; i < KA_LEN; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else
			return;
		n = n << 4 | (uint32_t)d;
	}
	/* The awaited ping's pong, or a later one's: the peer is alive. */
	if (n - c->ka->awaited > c->ka->sent - c->ka->awaited)
		return;
	c->ka_waiting = 0;
	evtimer_del(c->ka->pong_timer);
}

static void
on_pong_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct wsev_connection *c = arg;

	(void)fd;
	(void)what;
	wsev_conn_enter_(c);
	if (c->state == WSEV_STATE_OPEN && c->ka_waiting) {
		c->ka_waiting = 0;
		wsev_conn_fail_(c, WSEV_CLOSE_POLICY_VIOLATION,
		    "keepalive pong timed out");
		if (!c->free_requested && c->bev)
			wsev_conn_move_output_(c);
	}
	wsev_conn_leave_(c);
}

static void
on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct wsev_connection *c = arg;
	char payload[KA_LEN];
	struct timeval tv = { 0, 0 };
	unsigned armed;
	int r;

	(void)fd;
	(void)what;
	if (c->state != WSEV_STATE_OPEN || !c->bev || c->sent_close)
		return;
	wsev_conn_enter_(c);
	ka_payload(++c->ka->sent, payload);
	/* Ahead of queued data: the ping asks whether the peer is there,
	 * not how long our backlog takes. The application sent nothing:
	 * no "drain" is owed for it. */
	armed = c->drain_armed;
	r = wsev_conn_queue_urgent_(c, WSEV_OP_PING, payload, KA_LEN);
	c->drain_armed = armed;
	if (r < 0) {
		wsev_conn_fail_(c, wsev_conn_internal_error_code_(c),
		    "out of memory queueing a keepalive ping");
	} else if (c->ka->pong_timeout && !c->ka_waiting) {
		if (!c->ka->pong_timer)
			c->ka->pong_timer = evtimer_new(c->base,
			    on_pong_timeout, c);
		if (c->ka->pong_timer) {
			c->ka_waiting = 1;
			c->ka->awaited = c->ka->sent;
			tv.tv_sec = c->ka->pong_timeout;
			evtimer_add(c->ka->pong_timer, &tv);
		}
	}
	if (!c->free_requested && c->bev)
		wsev_conn_move_output_(c);
	wsev_conn_leave_(c);
}

void
wsev_conn_keepalive_arm_(struct wsev_connection *c)
{
	struct timeval tv = { 0, 0 };

	if (!c->ka || c->ka->interval == 0 || c->state != WSEV_STATE_OPEN) {
		if (c->ka && c->ka->timer)
			evtimer_del(c->ka->timer);
		return;
	}
	if (!c->ka->timer) {
		c->ka->timer = event_new(c->base, -1, EV_PERSIST,
		    on_keepalive, c);
		if (!c->ka->timer)
			return;
	}
	tv.tv_sec = c->ka->interval;
	evtimer_add(c->ka->timer, &tv);
}
