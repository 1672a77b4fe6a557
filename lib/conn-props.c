/*
 * The connection's properties: the libsoup-shaped getters and setters, and
 * the options beyond libsoup's.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "conn.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

const struct wsev_extensions *
wsev_connection_get_extensions(const struct wsev_connection *c)
{
	return &c->ext;
}

struct bufferevent *
wsev_connection_get_bufferevent(const struct wsev_connection *c)
{
	return c->bev;
}

enum wsev_connection_type
wsev_connection_get_connection_type(const struct wsev_connection *c)
{
	return c->type;
}

const struct evhttp_uri *
wsev_connection_get_uri(const struct wsev_connection *c)
{
	struct wsev_connection *m = (struct wsev_connection *)c;

	/* Parsed on first use (it parsed when the connection was made);
	 * NULL if memory runs out. */
	if (!c->uri && c->has_uri)
		m->uri = evhttp_uri_parse(c->strings);
	return c->uri;
}

const char *
wsev_connection_get_origin(const struct wsev_connection *c)
{
	return c->origin;
}

const char *
wsev_connection_get_protocol(const struct wsev_connection *c)
{
	return c->protocol;
}

enum wsev_state
wsev_connection_get_state(const struct wsev_connection *c)
{
	return c->state;
}

unsigned short
wsev_connection_get_close_code(const struct wsev_connection *c)
{
	return c->close_code;
}

const char *
wsev_connection_get_close_data(const struct wsev_connection *c)
{
	return c->close_data;
}

size_t
wsev_connection_get_buffered_amount(const struct wsev_connection *c)
{
	return wsev_conn_buffered_(c);
}

size_t
wsev_connection_get_max_outgoing_buffer(const struct wsev_connection *c)
{
	return c->max_out;
}

void
wsev_connection_set_max_outgoing_buffer(struct wsev_connection *c,
    size_t max_size)
{
	c->max_out = max_size;
	/* A raised limit may let a paused reader go on: look again. */
	if (c->read_paused && c->bev)
		wsev_conn_kick_(c);
}

uint64_t
wsev_connection_get_max_incoming_payload_size(const struct wsev_connection *c)
{
	return c->max_payload;
}

void
wsev_connection_set_max_incoming_payload_size(struct wsev_connection *c,
    uint64_t max_size)
{
	c->max_payload = max_size;
}

uint64_t
wsev_connection_get_max_incoming_message_size(const struct wsev_connection *c)
{
	return c->max_message;
}

void
wsev_connection_set_max_incoming_message_size(struct wsev_connection *c,
    uint64_t max_size)
{
	c->max_message = max_size;
}

void
wsev_connection_set_close_timeout(struct wsev_connection *c,
    const struct timeval *tv)
{
	uint64_t ms;

	if (!tv || tv->tv_sec < 0 || tv->tv_usec < 0) {
		c->close_timeout_ms = DEFAULT_CLOSE_TIMEOUT_SEC * 1000;
		return;
	}
	/* Kept to the millisecond, rounded up (a timeout stays > 0). */
	if ((uint64_t)tv->tv_sec > UINT32_MAX / 1000) {
		c->close_timeout_ms = UINT32_MAX;
		return;
	}
	ms = (uint64_t)tv->tv_sec * 1000 + ((uint64_t)tv->tv_usec + 999) / 1000;
	c->close_timeout_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

void
wsev_conn_close_timeout_(const struct wsev_connection *c, struct timeval *tv)
{
	tv->tv_sec = (time_t)(c->close_timeout_ms / 1000);
	tv->tv_usec = (suseconds_t)(c->close_timeout_ms % 1000) * 1000;
}

void
wsev_connection_get_close_timeout(const struct wsev_connection *c,
    struct timeval *tv)
{
	wsev_conn_close_timeout_(c, tv);
}

/* Keepalive's state, made by the first non-zero setting; NULL while there
 * is none to change (or memory ran out: keepalive stays off, reads 0). */
static struct wsev_conn_ka *
keepalive_state(struct wsev_connection *c, unsigned seconds)
{
	if (!c->ka && seconds)
		c->ka = calloc(1, sizeof(*c->ka));
	return c->ka;
}

void
wsev_connection_set_keepalive_interval(struct wsev_connection *c,
    unsigned seconds)
{
	if (!keepalive_state(c, seconds))
		return;
	c->ka->interval = seconds;
	if (!seconds && c->ka_waiting) {
		/* No keepalive, so no pong to wait for either. */
		c->ka_waiting = 0;
		evtimer_del(c->ka->pong_timer);
	}
	wsev_conn_keepalive_arm_(c);
}

unsigned
wsev_connection_get_keepalive_interval(const struct wsev_connection *c)
{
	return c->ka ? c->ka->interval : 0;
}

void
wsev_connection_set_keepalive_pong_timeout(struct wsev_connection *c,
    unsigned seconds)
{
	if (!keepalive_state(c, seconds))
		return;
	c->ka->pong_timeout = seconds;
	if (!seconds && c->ka_waiting) {
		c->ka_waiting = 0;
		evtimer_del(c->ka->pong_timer);
	}
}

unsigned
wsev_connection_get_keepalive_pong_timeout(const struct wsev_connection *c)
{
	return c->ka ? c->ka->pong_timeout : 0;
}

void
wsev_connection_options_init(struct wsev_connection_options *o)
{
	memset(o, 0, sizeof(*o));
	o->max_incoming_payload_size = DEFAULT_MAX_PAYLOAD;
	o->max_outgoing_buffer = WSEV_DEFAULT_MAX_OUTGOING_BUFFER;
	o->deflate.enabled = 1;
	o->deflate.level = -1;
	o->deflate.mem_level = 8;
}

void
wsev_connection_set_options(struct wsev_connection *c,
    const struct wsev_connection_options *o)
{
	if (!o)
		return;
	wsev_connection_set_max_incoming_payload_size(c,
	    o->max_incoming_payload_size);
	wsev_connection_set_max_incoming_message_size(c,
	    o->max_incoming_message_size);
	wsev_connection_set_max_outgoing_buffer(c, o->max_outgoing_buffer);
	wsev_connection_set_close_timeout(c, o->close_timeout);
	wsev_connection_set_keepalive_pong_timeout(c, o->keepalive_pong_timeout);
	wsev_connection_set_keepalive_interval(c, o->keepalive_interval);
}

int
wsev_connection_set_chunk_size(struct wsev_connection *c, size_t chunk_size)
{
	if (chunk_size > 0 && chunk_size < 4)
		return WSEV_ERR_INVALID_ARGUMENT;
	c->chunk_size = chunk_size;
	return 0;
}

size_t
wsev_connection_get_chunk_size(const struct wsev_connection *c)
{
	return c->chunk_size;
}
