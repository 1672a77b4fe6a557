/*
 * echo-lws: the libwebsockets echo server of the benchmark, written the way
 * an lws user writes one: one vhost, one protocol whose callback gathers
 * each message from its RECEIVE chunks, queues it and sends it back from
 * SERVER_WRITEABLE, one message per callback.
 *
 *   echo-lws --port N [--broadcast]
 *
 * Listens on 127.0.0.1:N, single-threaded (lws's own poll loop). With
 * --broadcast every message received on any connection is queued on every
 * open connection, the sender included. SIGTERM or SIGINT ends the loop;
 * everything is freed and the exit status is 0.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "../servers/bench-opts.h"

/* The load generator sends messages of up to 16 MiB. lws has no message
 * limit of its own: this one caps what a connection gathers. */
#define MAX_PAYLOAD (64u * 1024 * 1024)

/*
 * lws reads at most min(rx_buffer_size, pt_serv_buf_size) bytes a call and
 * writes at most rx_buffer_size a call (tx_packet_size being 0), buffering
 * the rest of a large lws_write() itself. Its defaults (4 KiB reads) would
 * measure lws's small buffers more than its WebSocket code.
 */
#define IO_SIZE (64u * 1024)

/* A message to send, shared by the queues it is on. */
struct msg {
	unsigned refs;
	int binary;
	size_t len;
	unsigned char buf[];	/* LWS_PRE bytes of headroom, then the data */
};

struct qent {
	struct qent *next;
	struct msg *m;
};

/* Per connection, zeroed by lws. */
struct pss {
	struct pss *next, *prev;	/* the room, with --broadcast */
	struct lws *wsi;
	struct msg *rx;			/* the message being gathered */
	size_t rx_cap;
	struct qent *head, **tail;	/* waiting for SERVER_WRITEABLE */
};

static struct bench_opts opts;	/* --port N [--broadcast] */
static struct pss *room;
static struct lws_context *context;
static volatile sig_atomic_t interrupted;

static void
msg_unref(struct msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

static int
enqueue(struct pss *pss, struct msg *m)
{
	struct qent *q = malloc(sizeof(*q));

	if (!q)
		return -1;
	q->next = NULL;
	q->m = m;
	m->refs++;
	*pss->tail = q;
	pss->tail = &q->next;
	lws_callback_on_writable(pss->wsi);
	return 0;
}

/* Adds a chunk to the message being gathered; -1 if it grows too big. */
static int
gather(struct pss *pss, struct lws *wsi, const void *in, size_t len)
{
	size_t need, cap;
	struct msg *m;

	if (!pss->rx) {
		/* The first frame's length is known: size for it. */
		cap = len + lws_remaining_packet_payload(wsi);
		if (cap > MAX_PAYLOAD || !(m = malloc(sizeof(*m) + LWS_PRE +
		    cap)))
			return -1;
		m->refs = 1;
		m->binary = lws_frame_is_binary(wsi);
		m->len = 0;
		pss->rx = m;
		pss->rx_cap = cap;
	}
	need = pss->rx->len + len + lws_remaining_packet_payload(wsi);
	if (need > MAX_PAYLOAD)
		return -1;
	if (need > pss->rx_cap) {
		cap = pss->rx_cap * 2 > need ? pss->rx_cap * 2 : need;
		if (cap > MAX_PAYLOAD)
			cap = MAX_PAYLOAD;
		if (!(m = realloc(pss->rx, sizeof(*m) + LWS_PRE + cap)))
			return -1;
		pss->rx = m;
		pss->rx_cap = cap;
	}
	memcpy(pss->rx->buf + LWS_PRE + pss->rx->len, in, len);
	pss->rx->len += len;
	return 0;
}

static int
on_message(struct pss *pss)
{
	struct msg *m = pss->rx;
	struct pss *p;
	int ret = 0;

	pss->rx = NULL;
	if (!opts.broadcast) {
		ret = enqueue(pss, m);
	} else {
		/* A member that fails to queue only misses the message. */
		for (p = room; p; p = p->next)
			if (enqueue(p, m) != 0 && p == pss)
				ret = -1;
	}
	msg_unref(m);
	return ret;
}

static int
callback_echo(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct pss *pss = user;
	struct qent *q;
	struct msg *m;
	int n;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		pss->wsi = wsi;
		pss->tail = &pss->head;
		if (opts.broadcast) {
			pss->next = room;
			if (room)
				room->prev = pss;
			room = pss;
		}
		break;

	case LWS_CALLBACK_RECEIVE:
		if (gather(pss, wsi, in, len) != 0) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
			    NULL, 0);
			return -1;
		}
		if (lws_is_final_fragment(wsi) &&
		    !lws_remaining_packet_payload(wsi))
			return on_message(pss);
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!(q = pss->head))
			break;
		m = q->m;
		n = lws_write(wsi, m->buf + LWS_PRE, m->len,
		    m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
		/* lws buffers what the socket did not take: less is an
		 * error. */
		if (n < 0 || (size_t)n < m->len)
			return -1;
		if (!(pss->head = q->next))
			pss->tail = &pss->head;
		msg_unref(m);
		free(q);
		/* One write per callback, as lws asks: the next one when
		 * this one has left. */
		if (pss->head)
			lws_callback_on_writable(wsi);
		break;

	case LWS_CALLBACK_CLOSED:
		if (opts.broadcast) {
			if (pss->prev)
				pss->prev->next = pss->next;
			else
				room = pss->next;
			if (pss->next)
				pss->next->prev = pss->prev;
		}
		msg_unref(pss->rx);
		while ((q = pss->head)) {
			pss->head = q->next;
			msg_unref(q->m);
			free(q);
		}
		break;

	default:
		break;
	}
	/* The protocol also serves the HTTP side of the upgrade. */
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/*
 * Being protocols[0], it is the vhost's default protocol too: lws binds to
 * it the clients that send no Sec-WebSocket-Protocol.
 */
static const struct lws_protocols protocols[] = {
	{
		.name = "echo",
		.callback = callback_echo,
		.per_session_data_size = sizeof(struct pss),
		.rx_buffer_size = IO_SIZE,
	},
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
	lws_cancel_service(context);	/* wakes poll() through lws's pipe */
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct sigaction sa;
	int status;

	status = bench_opts_parse(&opts, "echo-lws", 0, argc, argv);
	if (status != 0)
		return status;

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = opts.port;
	info.iface = "127.0.0.1";
	/* With IPv6 on, lws 4.1 binds "127.0.0.1" as [::]: all addresses. */
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.protocols = protocols;
	info.pt_serv_buf_size = IO_SIZE;
	info.gid = -1;
	info.uid = -1;
	/* info.extensions stays NULL: no permessage-deflate. */
	if (!(context = lws_create_context(&info))) {
		fprintf(stderr, "echo-lws: cannot listen on 127.0.0.1:%d\n",
		    opts.port);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0) {
		perror("echo-lws: sigaction");
		lws_context_destroy(context);
		return 1;
	}
	while (!interrupted)
		if (lws_service(context, 0) < 0)
			break;
	lws_context_destroy(context);	/* closes what is still open */
	return 0;
}
