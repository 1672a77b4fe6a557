/*
 * wsev-cat's client: wsev_connect to the URL, the input out as messages
 * (no faster than the server reads), every message in printed, and at the
 * end of input a wait for the echoes before the close. --reconnect
 * connects again when the connection drops, after a delay that doubles
 * (0.5 s up to 8 s) with jitter, and goes on with the input.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "cat.h"

#include <stdio.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

struct client {
	struct cat *cat;
	struct evdns_base *dns;
	struct wsev_connect_request *req;	/* a connect under way */
	struct wsev_connection *conn;
	struct evbuffer *msg;
	struct event *timer;	/* the linger, or the next reconnect */
	unsigned long sent, back;	/* messages, this connection */
	unsigned attempt;	/* reconnects since the last success */
	int ending;		/* our close is under way: no reconnect */
	int lingering;
	char lost[300];		/* why the last connection ended */
};

static void client_connect(struct client *cl);

static void
client_end(struct client *cl, unsigned short code)
{
	cl->ending = 1;
	cat_input_pause(cl->cat, 1);
	if (cl->conn && wsev_connection_get_state(cl->conn) == WSEV_STATE_OPEN)
		wsev_connection_close(cl->conn, code, NULL);
	else if (!cl->conn)
		event_base_loopexit(cl->cat->base, NULL);
}

/* The pipe rule: once the input is all sent, close when as many messages
 * came back as went out, or when --linger has passed. */
static void
client_check_done(struct client *cl)
{
	struct cat *c = cl->cat;

	if (cl->ending || c->echo_mode || !cat_input_finished(c))
		return;
	if (cl->back >= cl->sent || !timerisset(&c->linger)) {
		client_end(cl, WSEV_CLOSE_NORMAL);
	} else if (!cl->lingering) {
		cl->lingering = 1;
		evtimer_add(cl->timer, &c->linger);
	}
}

/* Send what the input holds, while the server keeps up; stdin is read
 * again once the output drains. */
static void
client_pump(void *arg)
{
	struct client *cl = arg;
	struct cat *c = cl->cat;
	int rc;

	if (cl->ending)
		return;
	if (!cl->conn || wsev_connection_get_state(cl->conn) != WSEV_STATE_OPEN) {
		/* Not connected: hold at most CAT_HIGH_WATER; the rest
		 * waits in the pipe. */
		cat_input_pause(c, evbuffer_get_length(c->input) >= CAT_HIGH_WATER);
		if (cl->attempt > 0 && cat_input_finished(c)) {
			/* The input ended while the connection was down and
			 * nothing is left to send: done, with why it was down. */
			wsev_connect_cancel(cl->req);
			cl->req = NULL;
			event_base_loopexit(c->base, NULL);
		}
		return;
	}
	while (wsev_connection_get_buffered_amount(cl->conn) < CAT_HIGH_WATER &&
	    (rc = cat_input_take(c, cl->msg)) != 0) {
		if (rc < 0 || (rc = cat_send(c, cl->conn, cl->msg)) ==
		    WSEV_ERR_NOMEM) {
			snprintf(c->reason, sizeof(c->reason), "out of memory");
			client_end(cl, WSEV_CLOSE_GOING_AWAY);
			return;
		}
		if (rc == 0)
			cl->sent++;
		else if (rc != WSEV_ERR_BAD_UTF8)
			return;		/* failing: "closed" follows */
	}
	cat_input_pause(c, wsev_connection_get_buffered_amount(cl->conn) >=
	    CAT_HIGH_WATER);
	client_check_done(cl);
}

static void
on_message(struct wsev_connection *conn, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct client *cl = arg;

	if (cl->cat->echo_mode) {
		/* With its length: a text message may hold U+0000. */
		wsev_connection_send_message(conn, type, data, len);
		return;
	}
	cl->back++;
	if (cat_print(cl->cat, type, data, len))
		client_end(cl, WSEV_CLOSE_NORMAL);
	else
		client_check_done(cl);
}

static void
on_drain(struct wsev_connection *conn, void *arg)
{
	(void)conn;
	client_pump(arg);
}

static void
on_error(struct wsev_connection *conn, const struct wsev_error *err,
    void *arg)
{
	struct client *cl = arg;

	(void)conn;
	snprintf(cl->lost, sizeof(cl->lost), "%s", err->message);
}

/* The next reconnect in 0.5 s, doubling up to 8 s; each drawn from
 * [delay/2, delay) so that many clients of a restarted server spread. */
static void
client_retry(struct client *cl, const char *why)
{
	unsigned delay_ms = 500u << (cl->attempt < 4 ? cl->attempt : 4);
	unsigned r;
	struct timeval tv;

	evutil_secure_rng_get_bytes(&r, sizeof(r));
	delay_ms = delay_ms / 2 + r % (delay_ms / 2);
	cl->attempt++;
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	cat_say("%s; reconnecting in %u.%u s", why, delay_ms / 1000,
	    delay_ms % 1000 / 100);
	evtimer_add(cl->timer, &tv);
}

static void
on_closed(struct wsev_connection *conn, void *arg)
{
	struct client *cl = arg;
	struct cat *c = cl->cat;
	int bad;

	if (!c->output_failed)
		snprintf(c->reason, sizeof(c->reason), "%s", cl->lost);
	bad = cat_close_status(c, conn) || c->output_failed;
	wsev_connection_free(conn);
	cl->conn = NULL;
	evtimer_del(cl->timer);
	cl->lingering = 0;
	if (c->reconnect && !cl->ending && !cat_input_finished(c)) {
		/* Messages sent but not echoed are lost with the connection. */
		client_retry(cl, bad ? c->reason : "connection closed");
		client_pump(cl);
		return;
	}
	c->status = bad;
	event_base_loopexit(c->base, NULL);
}

static void
on_connected(struct wsev_connection *conn, const struct wsev_error *err,
    void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message, .error = on_error, .closed = on_closed,
		.drain = on_drain
	};
	struct client *cl = arg;

	cl->req = NULL;
	if (!conn) {
		snprintf(cl->cat->reason, sizeof(cl->cat->reason), "%s",
		    err->message);
		if (cl->cat->reconnect && !cl->ending)
			client_retry(cl, err->message);
		else
			event_base_loopexit(cl->cat->base, NULL);
		return;
	}
	if (cl->attempt)
		cat_say("reconnected");
	cl->attempt = 0;
	cl->conn = conn;
	cl->sent = cl->back = 0;
	snprintf(cl->lost, sizeof(cl->lost), "connection ended");
	wsev_connection_set_callbacks(conn, &cbs, cl);
	if (cl->ending)
		client_end(cl, WSEV_CLOSE_NORMAL);
	else if (!cl->cat->echo_mode)
		client_pump(cl);
}

static void
client_connect(struct client *cl)
{
	struct wsev_error err;

	cl->cat->connect.error = &err;
	cl->req = wsev_connect(cl->cat->base, cl->dns, cl->cat->url,
	    &cl->cat->connect, on_connected, cl);
	cl->cat->connect.error = NULL;
	if (!cl->req) {
		/* A URL wsev_connect refuses at once: no retry helps. */
		snprintf(cl->cat->reason, sizeof(cl->cat->reason), "%s",
		    err.message);
		event_base_loopexit(cl->cat->base, NULL);
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;

	(void)fd;
	(void)what;
	if (cl->lingering) {
		/* Echoes still missing: the server has not sent them all. */
		client_end(cl, WSEV_CLOSE_NORMAL);
		return;
	}
	client_connect(cl);
}

int
cat_client_run(struct cat *c)
{
	struct client cl;

	memset(&cl, 0, sizeof(cl));
	cl.cat = c;
	c->on_input = client_pump;
	c->input_arg = &cl;
	c->status = 1;
	cl.dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	cl.msg = evbuffer_new();
	cl.timer = evtimer_new(c->base, on_timer, &cl);
	if (!cl.msg || !cl.timer) {
		snprintf(c->reason, sizeof(c->reason), "out of memory");
	} else {
		if (c->echo_mode)
			cat_input_pause(c, 1);
		client_connect(&cl);
		if (cl.req)
			event_base_dispatch(c->base);
	}
	if (cl.req)
		wsev_connect_cancel(cl.req);
	wsev_connection_free(cl.conn);
	if (cl.timer)
		event_free(cl.timer);
	if (cl.msg)
		evbuffer_free(cl.msg);
	if (cl.dns)
		evdns_base_free(cl.dns, 0);
	return c->status;
}
