/*
 * Allocation failure, as nghttp2's failmalloc test does it: each scenario
 * is run once to warm up, then again and again with the i-th allocation
 * failing (i = 1, 2, ... until a run completes with no failure injected),
 * first the i-th alone, then the i-th and every one after it. No run may
 * crash, hang, fire "closed" twice, or leave an allocation behind.
 *
 * Every allocator is counted and can fail: libevent's
 * (event_set_mem_functions), OpenSSL's (CRYPTO_set_mem_functions), and
 * wsev's own malloc, calloc, realloc, free and strdup, which
 * test/fuzz/failmalloc-shim.h, force-included into the library sources
 * built into this program, sends here. Allocations the harness makes to
 * set a scenario up (event_base, pairs, requests) are counted but never
 * failed. After each run, with everything freed, the live count of every
 * allocator must be back where the warm-up left it; LeakSanitizer (in the
 * sanitizer build) and valgrind judge the rest.
 *
 * Scenarios: "pair" (two wsev ends on a bufferevent_pair: text, binary,
 * a message larger than the transport window, pings both ways, a close
 * handshake, a free inside "closed"); "raw" (fragmented messages with a
 * ping between fragments from a hand-written peer, in both roles, freed
 * inside "message" with frames still buffered); "handshake" (the four
 * helpers on evhttp requests); "tcp" (wsev_connect to an evhttp server on
 * 127.0.0.1 with wsev_server_add_handler, an echo, the close handshake);
 * "tls" (two wsev ends over OpenSSL filters on a pair).
 *
 * Each failing run is a child process (a crash or a hang fails that run
 * only, reported with its i); the warm-up and the runs with no failure
 * are in this process.
 *
 * Usage: test-failmalloc [SCENARIO...]. Environment:
 * WSEV_FAILMALLOC_ONLY=i runs only the i-th failure;
 * WSEV_FAILMALLOC_STRIDE=k tries every k-th i (for valgrind);
 * WSEV_FAILMALLOC_NOFORK=1 runs everything in this process (a debugger);
 * WSEV_FAILMALLOC_VERBOSE=1 prints every run's allocation counts.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef strdup

#include "wsev/wsev.h"
#include "tt-ev.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* ------------------------------------------------------------------ */
/* The counting allocator */

enum { A_WSEV, A_EVENT, A_SSL, A_N };
static const char *const alloc_names[A_N] = { "wsev", "libevent", "openssl" };

/*
 * Who made each live block: a table beside the blocks rather than a header
 * in front of them, so that the pointers the program holds are the blocks'
 * own and valgrind sees nothing "possibly lost".
 */
struct fm_slot {
	void *p;		/* NULL: empty; FM_GONE: freed */
	int kind;
};

#define FM_GONE ((void *)1)

static struct fm_slot *fm_tab;
static size_t fm_cap, fm_used;	/* fm_used counts FM_GONE slots too */

static size_t
fm_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 29;
	x *= UINT64_C(0x9E3779B97F4A7C15);
	return (size_t)(x >> 20) & (fm_cap - 1);
}

static void fm_table_add(void *p, int kind);

static void
fm_table_grow(void)
{
	struct fm_slot *old = fm_tab;
	size_t i, n = fm_cap;

	fm_cap = fm_cap ? fm_cap * 2 : 4096;
	fm_tab = calloc(fm_cap, sizeof(*fm_tab));
	if (!fm_tab) {
		perror("failmalloc table");
		abort();
	}
	fm_used = 0;
	for (i = 0; i < n; i++)
		if (old[i].p && old[i].p != FM_GONE)
			fm_table_add(old[i].p, old[i].kind);
	free(old);
}

static void
fm_table_add(void *p, int kind)
{
	size_t i;

	if ((fm_used + 1) * 2 > fm_cap)
		fm_table_grow();
	for (i = fm_hash(p); fm_tab[i].p && fm_tab[i].p != FM_GONE;
	    i = (i + 1) & (fm_cap - 1))
		;
	if (!fm_tab[i].p)
		fm_used++;
	fm_tab[i].p = p;
	fm_tab[i].kind = kind;
}

/* The slot of a live block, checking that kind made it. */
static struct fm_slot *
fm_table_find(void *p, int kind)
{
	size_t i;

	for (i = fm_cap ? fm_hash(p) : 0; fm_cap && fm_tab[i].p;
	    i = (i + 1) & (fm_cap - 1)) {
		if (fm_tab[i].p != p)
			continue;
		if (fm_tab[i].kind != kind)
			break;
		return &fm_tab[i];
	}
	/* Freed by another allocator than the one that made it. */
	fprintf(stderr, "failmalloc: %s freed a block it did not allocate\n",
	    alloc_names[kind]);
	abort();
}

static struct {
	long long n;		/* failable allocations in this run */
	long long fail_at;	/* the one to fail; 0: none */
	int persist;		/* and every one after it */
	int injected;		/* a failure was injected in this run */
	int skipped;		/* one was not: a libevent bug */
	char where[128], first_where[128];
	int paused;		/* harness code: count, never fail */
	long live[A_N];
	long long made[A_N];	/* failable allocations per allocator */
} fm;

/*
 * libevent 2.1.12 functions that crash when one of their own allocations
 * fails (their error paths free what was never made; still so in
 * libevent's master). An allocation made inside one of them is never
 * failed: those runs count as skipped, not as wsev's failures.
 */
static const char *const libevent_oom_bugs[] = {
	/* evhttp_request_free() on the half-made request: NULL headers */
	"evhttp_request_new",
	/* evhttp_connection_free() on the half-made connection */
	"evhttp_connection_base_bufferevent_new",
	NULL
};

/* Where the allocation being failed comes from: the first frame outside
 * this file and libevent's mm_ wrappers, as "function" or "file:address". */
static void
fm_where(char *buf, size_t len, int *in_bug)
{
	void *frames[32];
	Dl_info info;
	int n, i, k, named = 0;

	*in_bug = 0;
	buf[0] = '\0';
	n = backtrace(frames, 32);
	for (i = 1; i < n; i++) {
		if (!dladdr(frames[i], &info) || !info.dli_sname)
			continue;
		for (k = 0; libevent_oom_bugs[k]; k++)
			if (strcmp(info.dli_sname, libevent_oom_bugs[k]) == 0)
				*in_bug = 1;
		if (!named && strncmp(info.dli_sname, "fm_", 3) &&
		    strncmp(info.dli_sname, "ev_", 3) &&
		    strncmp(info.dli_sname, "ssl_", 4) &&
		    strncmp(info.dli_sname, "wsev_fm_", 8) &&
		    strncmp(info.dli_sname, "event_mm_", 9) &&
		    strncmp(info.dli_sname, "CRYPTO_", 7)) {
			snprintf(buf, len, "%s", info.dli_sname);
			named = 1;
		}
	}
}

static int
fm_should_fail(void)
{
	int in_bug;

	if (fm.paused)
		return 0;
	fm.n++;
	if (fm.fail_at > 0 && (fm.n == fm.fail_at ||
	    (fm.persist && fm.n > fm.fail_at))) {
		fm_where(fm.where, sizeof(fm.where), &in_bug);
		if (in_bug) {
			fm.skipped = 1;
			return 0;
		}
		if (!fm.injected)
			snprintf(fm.first_where, sizeof(fm.first_where), "%s",
			    fm.where);
		fm.injected = 1;
		return 1;
	}
	return 0;
}

static void *
fm_alloc(size_t n, int kind)
{
	void *p;

	if (fm_should_fail())
		return NULL;
	if (!fm.paused)
		fm.made[kind]++;
	if (!(p = malloc(n ? n : 1)))
		return NULL;
	fm_table_add(p, kind);
	fm.live[kind]++;
	return p;
}

static void
fm_release(void *p, int kind)
{
	if (!p)
		return;
	fm_table_find(p, kind)->p = FM_GONE;
	fm.live[kind]--;
	free(p);
}

static void *
fm_resize(void *p, size_t n, int kind)
{
	struct fm_slot *slot;
	void *np;

	if (!p)
		return fm_alloc(n, kind);
	slot = fm_table_find(p, kind);
	if (fm_should_fail())
		return NULL;
	if (!fm.paused)
		fm.made[kind]++;
	if (!(np = realloc(p, n ? n : 1)))
		return NULL;
	if (np != p) {
		slot->p = FM_GONE;	/* the table did not change since */
		fm_table_add(np, kind);
	}
	return np;
}

/* wsev's calls, through failmalloc-shim.h */
void *
wsev_fm_malloc(size_t n)
{
	return fm_alloc(n, A_WSEV);
}

void *
wsev_fm_calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	if ((p = fm_alloc(n * size, A_WSEV)) != NULL)
		memset(p, 0, n * size);
	return p;
}

void *
wsev_fm_realloc(void *p, size_t n)
{
	return fm_resize(p, n, A_WSEV);
}

void
wsev_fm_free(void *p)
{
	fm_release(p, A_WSEV);
}

char *
wsev_fm_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = fm_alloc(n, A_WSEV);

	if (d)
		memcpy(d, s, n);
	return d;
}

/* libevent's */
static void *
ev_malloc(size_t n)
{
	return fm_alloc(n, A_EVENT);
}

static void *
ev_realloc(void *p, size_t n)
{
	return fm_resize(p, n, A_EVENT);
}

static void
ev_free(void *p)
{
	fm_release(p, A_EVENT);
}

/* OpenSSL's */
static void *
ssl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return fm_alloc(n, A_SSL);
}

static void *
ssl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return fm_resize(p, n, A_SSL);
}

static void
ssl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	fm_release(p, A_SSL);
}

/* libevent logs every failed allocation; nobody needs to read them. */
static void
quiet_log(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

/* ------------------------------------------------------------------ */
/* Runs */

struct run {
	int clean;		/* no failure injected: check the outcome */
	int failed_checks;
	int hung;
	struct event_base *base;
	struct timeval start;
};

#define CHECK(r, cond) do { \
	if (!(cond)) { \
		printf("  %s:%d: CHECK(%s) failed (fail_at %lld%s)\n", \
		    __FILE__, __LINE__, #cond, fm.fail_at, \
		    fm.persist ? ", persist" : ""); \
		(r)->failed_checks++; \
	} \
} while (0)

/* Only in a run that had no failure: the scenario did what it says. */
#define EXPECT(r, cond) do { \
	if ((r)->clean && !fm.injected) \
		CHECK(r, cond); \
} while (0)

/* Harness allocations: counted, never failed. */
#define HARNESS(stmt) do { \
	fm.paused++; \
	stmt; \
	fm.paused--; \
} while (0)

static double
elapsed(const struct run *r)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (double)(now.tv_sec - r->start.tv_sec) +
	    (double)(now.tv_usec - r->start.tv_usec) / 1e6;
}

/*
 * Run the loop until done() or nothing is left to do; a run still busy
 * after 10 s has hung. tick, when not NULL, is a timer that bounds each
 * blocking wait (sockets keep the base busy forever). give_up, when not 0,
 * is how long to wait before tearing down anyway (not a hang).
 */
static void
run_loop(struct run *r, int (*done)(void *), void *arg, struct event *tick,
    double give_up)
{
	static const struct timeval tick_tv = { 0, 5000 };
	int i;

	for (i = 0; !done(arg); i++) {
		if (give_up > 0 && elapsed(r) > give_up)
			return;
		if (elapsed(r) > 10.0) {
			r->hung = 1;
			return;
		}
		if (event_base_get_num_events(r->base, EVENT_BASE_COUNT_ACTIVE)) {
			event_base_loop(r->base, EVLOOP_NONBLOCK);
		} else if (tick) {
			evtimer_add(tick, &tick_tv);
			event_base_loop(r->base, EVLOOP_ONCE);
		} else if (event_base_get_num_events(r->base,
		    EVENT_BASE_COUNT_ADDED)) {
			event_base_loop(r->base, EVLOOP_ONCE);
		} else {
			return;
		}
	}
}

/* Everything freed: let libevent release what it frees from the loop. */
static void
drain_loop(struct run *r)
{
	int i;

	for (i = 0; i < 100 && event_base_get_num_events(r->base,
	    EVENT_BASE_COUNT_ACTIVE); i++)
		event_base_loop(r->base, EVLOOP_NONBLOCK);
}

/* ------------------------------------------------------------------ */
/* One end of a connection, and what it saw */

struct end {
	struct run *run;
	struct wsev_connection *conn;
	const char *name;
	int messages, texts, binaries, pongs, closing, closed, errors;
	size_t bytes;
	int echo;		/* send each message back */
	int close_after;	/* close(1000) after this many messages */
	int free_in_message;	/* free inside "message" after this many */
	int free_in_closed;
	int *done;		/* set to 1 when closed or freed */
};

static void
end_gone(struct end *e)
{
	e->conn = NULL;
	if (e->done)
		*e->done = 1;
}

static void
on_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	struct end *e = arg;

	CHECK(e->run, e->closed == 0);
	CHECK(e->run, ((const char *)data)[len] == '\0');
	e->messages++;
	e->bytes += len;
	if (type == WSEV_DATA_TEXT)
		e->texts++;
	else
		e->binaries++;
	/* An application that cannot answer ends the connection, as it
	 * would on any other failure. */
	if (e->echo && wsev_connection_send_message(c, type, data, len) < 0)
		wsev_connection_close(c, wsev_connection_get_connection_type(c) ==
		    WSEV_CONNECTION_SERVER ? 1011 : 1001, NULL);
	if (e->close_after && e->messages == e->close_after)
		wsev_connection_close(c, 1000, "done");
	if (e->free_in_message && e->messages == e->free_in_message) {
		wsev_connection_free(c);
		end_gone(e);
	}
}

static void
on_closing(struct wsev_connection *c, void *arg)
{
	struct end *e = arg;

	(void)c;
	CHECK(e->run, e->closed == 0);
	e->closing++;
}

static void
on_closed(struct wsev_connection *c, void *arg)
{
	struct end *e = arg;

	CHECK(e->run, e->closed == 0);
	CHECK(e->run, wsev_connection_get_state(c) == WSEV_STATE_CLOSED);
	e->closed++;
	if (e->done)
		*e->done = 1;
	if (e->free_in_closed) {
		wsev_connection_free(c);
		end_gone(e);
	}
}

static void
on_error(struct wsev_connection *c, const struct wsev_error *err, void *arg)
{
	struct end *e = arg;

	(void)c;
	(void)err;
	CHECK(e->run, e->closed == 0);
	e->errors++;
}

static void
on_pong(struct wsev_connection *c, const void *data, size_t len, void *arg)
{
	struct end *e = arg;

	(void)c;
	(void)data;
	(void)len;
	CHECK(e->run, e->closed == 0);
	e->pongs++;
}

static const struct wsev_callbacks end_cbs = {
	.message = on_message, .closing = on_closing, .closed = on_closed,
	.error = on_error, .pong = on_pong
};

static void
end_attach(struct end *e, struct run *r, struct wsev_connection *c,
    const char *name)
{
	static const struct timeval close_timeout = { 0, 50000 };

	e->run = r;
	e->conn = c;
	e->name = name;
	wsev_connection_set_callbacks(c, &end_cbs, e);
	wsev_connection_set_close_timeout(c, &close_timeout);
}

static void
end_free(struct end *e)
{
	if (e->conn) {
		wsev_connection_free(e->conn);
		end_gone(e);
	}
}

/* ------------------------------------------------------------------ */
/* Scenario "pair": two wsev ends */

#define BIG (200 * 1024)

struct two {
	struct end s, c;
};

static int
two_done(void *arg)
{
	struct two *t = arg;

	return (!t->s.conn || t->s.closed) && (!t->c.conn || t->c.closed);
}

/* Make a wsev end of each role on a pair (or on the two bufferevents
 * given); NULL ends where creation failed. */
static void
two_setup(struct run *r, struct two *t, struct bufferevent *a,
    struct bufferevent *b)
{
	struct wsev_connection *sc, *cc;

	memset(t, 0, sizeof(*t));
	sc = wsev_connection_new(a, "ws://localhost/chat", WSEV_CONNECTION_SERVER,
	    "http://localhost", "chat");
	if (!sc)
		HARNESS(bufferevent_free(a));	/* still ours */
	cc = wsev_connection_new(b, "ws://localhost/chat", WSEV_CONNECTION_CLIENT,
	    NULL, "chat");
	if (!cc)
		HARNESS(bufferevent_free(b));
	if (sc)
		end_attach(&t->s, r, sc, "server");
	if (cc)
		end_attach(&t->c, r, cc, "client");
}

static void
sc_pair(struct run *r)
{
	struct bufferevent *pair[2];
	struct two t;
	unsigned char *big;
	int rv;

	HARNESS(big = calloc(1, BIG));
	if (!big)
		return;
	HARNESS(rv = bufferevent_pair_new(r->base, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS, pair));
	if (rv < 0) {
		free(big);
		return;
	}
	two_setup(r, &t, pair[0], pair[1]);
	EXPECT(r, t.s.conn && t.c.conn);
	if (t.s.conn) {
		t.s.echo = 1;
		t.s.free_in_closed = 1;
		wsev_connection_set_max_incoming_payload_size(t.s.conn, BIG);
		wsev_connection_send_text(t.s.conn, "from the server");
		wsev_connection_send_ping(t.s.conn, "s", 1);
	}
	if (t.c.conn) {
		int sent = 0;

		t.c.close_after = 5;	/* the echoes of its four and the
					   server's own text */
		wsev_connection_set_max_incoming_payload_size(t.c.conn, BIG);
		sent += wsev_connection_send_text(t.c.conn, "h\xc3\xa9llo") == 0;
		sent += wsev_connection_send_binary(t.c.conn, "\0\1\2\3", 4) == 0;
		sent += wsev_connection_send_ping(t.c.conn, "c", 1) == 0;
		/* Larger than the transport window: waits in wsev's queue. */
		sent += wsev_connection_send_binary(t.c.conn, big, BIG) == 0;
		sent += wsev_connection_send_text(t.c.conn, "last") == 0;
		EXPECT(r, sent == 5);
	}
	run_loop(r, two_done, &t, NULL, 0);
	EXPECT(r, t.s.messages == 4 && t.s.closed == 1 && t.s.conn == NULL);
	EXPECT(r, t.c.messages == 5 && t.c.closed == 1 && t.c.pongs == 1 &&
	    t.s.pongs == 1);
	EXPECT(r, t.c.bytes == 15 + 6 + 4 + BIG + 4);
	EXPECT(r, t.c.errors == 0 && t.s.errors == 0);
	end_free(&t.s);
	end_free(&t.c);
	free(big);
}

/* ------------------------------------------------------------------ */
/* Scenario "raw": fragments from a hand-written peer */

static size_t
raw_frame(unsigned char *out, int fin, int op, const char *data, size_t len,
    int mask)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t n = 0, i;

	out[n++] = (unsigned char)((fin ? 0x80 : 0) | op);
	out[n++] = (unsigned char)((mask ? 0x80 : 0) | len);	/* len < 126 */
	if (mask) {
		memcpy(out + n, key, 4);
		n += 4;
	}
	for (i = 0; i < len; i++)
		out[n + i] = (unsigned char)data[i] ^ (mask ? key[i & 3] : 0);
	return n + len;
}

struct raw {
	struct end e;
	int done;
};

/* The hand-written peer reads (and drops) what wsev sends. */
static void
raw_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static int
raw_done(void *arg)
{
	struct raw *w = arg;

	return w->done;
}

static void
raw_role(struct run *r, enum wsev_connection_type role)
{
	struct bufferevent *pair[2];
	struct wsev_connection *c;
	unsigned char buf[512];
	size_t n = 0;
	int mask = role == WSEV_CONNECTION_SERVER, rv;
	struct raw w;

	memset(&w, 0, sizeof(w));
	HARNESS(rv = bufferevent_pair_new(r->base, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS, pair));
	if (rv < 0)
		return;
	/* A fragmented text with a ping between its fragments, a fragmented
	 * binary, then one more message the free leaves unread. */
	n += raw_frame(buf + n, 0, 1, "fra", 3, mask);
	n += raw_frame(buf + n, 0, 0, "gm\xc3", 3, mask);
	n += raw_frame(buf + n, 1, 9, "ping", 4, mask);
	n += raw_frame(buf + n, 1, 0, "\xa9nt", 3, mask);
	n += raw_frame(buf + n, 0, 2, "\1\2", 2, mask);
	n += raw_frame(buf + n, 1, 0, "\3", 1, mask);
	n += raw_frame(buf + n, 1, 1, "unread", 6, mask);
	HARNESS(rv = bufferevent_write(pair[1], buf, n));
	bufferevent_setcb(pair[1], raw_read, NULL, NULL, NULL);
	HARNESS(bufferevent_enable(pair[1], EV_READ));
	c = wsev_connection_new(pair[0], NULL, role, NULL, NULL);
	if (!c) {
		HARNESS(bufferevent_free(pair[0]));
		HARNESS(bufferevent_free(pair[1]));
		return;
	}
	end_attach(&w.e, r, c, "raw");
	w.e.done = &w.done;
	w.e.free_in_message = 2;
	run_loop(r, raw_done, &w, NULL, 0);
	EXPECT(r, rv == 0 && w.e.messages == 2 && w.e.texts == 1 &&
	    w.e.binaries == 1 && w.e.bytes == 9 + 3 && w.e.conn == NULL);
	end_free(&w.e);
	HARNESS(bufferevent_free(pair[1]));
}

static void
sc_raw(struct run *r)
{
	raw_role(r, WSEV_CONNECTION_SERVER);
	raw_role(r, WSEV_CONNECTION_CLIENT);
}

/* ------------------------------------------------------------------ */
/* Scenario "handshake": the four helpers */

static void
copy_headers(struct evkeyvalq *dst, const struct evkeyvalq *src)
{
	const struct evkeyval *kv;

	for (kv = src->tqh_first; kv; kv = kv->next.tqe_next)
		evhttp_add_header(dst, kv->key, kv->value);
}

static void
sc_handshake(struct run *r)
{
	static const char *const protocols[] = { "chat", "superchat", NULL };
	static const char *const mine[] = { "superchat", NULL };
	struct evhttp_request *creq, *sreq;
	struct wsev_error err;
	int ok;

	HARNESS(creq = evhttp_request_new(NULL, NULL));
	HARNESS(sreq = evhttp_request_new(NULL, NULL));
	if (!creq || !sreq) {
		HARNESS(if (creq) evhttp_request_free(creq));
		HARNESS(if (sreq) evhttp_request_free(sreq));
		return;
	}
	wsev_client_prepare_handshake(creq, "http://example.com", protocols);
	sreq->kind = EVHTTP_REQUEST;
	sreq->type = EVHTTP_REQ_GET;
	sreq->major = 1;
	sreq->minor = 1;
	HARNESS(copy_headers(sreq->input_headers, creq->output_headers);
	    evhttp_add_header(sreq->input_headers, "Host", "example.com"));
	ok = wsev_server_check_handshake(sreq, "http://example.com", mine, &err);
	EXPECT(r, ok == 1);
	/* A refusal on a request with no connection is "sent" by libevent,
	 * which frees the request. Under lasting exhaustion libevent's
	 * evhttp_send_error() dereferences the missing connection when its
	 * own evbuffer_new() fails: that path is left to "tcp". */
	if (ok && !fm.persist && !wsev_server_process_handshake(sreq,
	    "http://example.com", mine))
		sreq = NULL;
	if (sreq && ok && !fm.persist) {
		creq->response_code = 101;
		HARNESS(copy_headers(creq->input_headers, sreq->output_headers));
		ok = wsev_client_verify_handshake(creq, &err);
		EXPECT(r, ok == 1);
	}
	/* And a refusal: no key at all. */
	HARNESS(evhttp_remove_header(creq->input_headers, "Sec-WebSocket-Accept"));
	CHECK(r, wsev_client_verify_handshake(creq, &err) == 0);
	HARNESS(evhttp_request_free(creq));
	HARNESS(if (sreq) evhttp_request_free(sreq));
}

/* ------------------------------------------------------------------ */
/* Scenario "tcp": wsev_connect to wsev_server_add_handler */

struct tcp {
	struct run *run;
	struct end server[4];
	int nserver;
	struct end client;
	int client_done;	/* the connect callback ran, and the client
				   is closed or never was */
	int connected;
	struct wsev_connect_request *creq;
};

static void
tcp_on_server(struct wsev_connection *conn, struct evhttp_request *req,
    void *arg)
{
	struct tcp *t = arg;
	struct end *e;

	(void)req;
	if (t->nserver == 4) {
		wsev_connection_free(conn);
		return;
	}
	e = &t->server[t->nserver++];
	end_attach(e, t->run, conn, "tcp-server");
	e->echo = 1;
	e->free_in_closed = 1;
}

static void
tcp_on_connect(struct wsev_connection *conn, const struct wsev_error *err,
    void *arg)
{
	struct tcp *t = arg;

	t->creq = NULL;
	if (!conn) {
		CHECK(t->run, err != NULL);
		t->client_done = 1;
		return;
	}
	CHECK(t->run, err == NULL);
	t->connected = 1;
	end_attach(&t->client, t->run, conn, "tcp-client");
	t->client.done = &t->client_done;
	t->client.close_after = 1;
	t->client.free_in_closed = 1;
	if (wsev_connection_send_text(conn, "over tcp") < 0)
		wsev_connection_close(conn, 1000, NULL);
}

static int
tcp_done(void *arg)
{
	struct tcp *t = arg;
	int i;

	if (!t->client_done)
		return 0;
	for (i = 0; i < t->nserver; i++)
		if (t->server[i].conn && !t->server[i].closed)
			return 0;
	return 1;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void
sc_tcp(struct run *r)
{
	static const char *const protocols[] = { "chat", NULL };
	struct wsev_connect_options opts;
	struct timeval timeout = { 0, 300000 };	/* evhttp stalls on some failures */
	struct evhttp_bound_socket *bound;
	struct wsev_handler *h = NULL;
	struct evhttp *http;
	struct event *tick;
	struct tcp t;
	char url[64];
	int i, port = -1;

	memset(&t, 0, sizeof(t));
	t.run = r;
	HARNESS(http = evhttp_new(r->base));
	HARNESS(tick = evtimer_new(r->base, tick_cb, NULL));
	HARNESS(bound = http ? evhttp_bind_socket_with_handle(http, "127.0.0.1",
	    0) : NULL);
	if (bound)
		port = tt_bound_port(evhttp_bound_socket_get_fd(bound));
	if (!http || !tick || !bound || port < 0)
		goto out;
	h = wsev_server_add_handler(http, "/ws", NULL, protocols,
	    tcp_on_server, &t);
	EXPECT(r, h != NULL);
	wsev_connect_options_init(&opts);
	opts.protocols = protocols;
	opts.origin = "http://127.0.0.1";
	opts.timeout = &timeout;
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ws", port);
	t.creq = wsev_connect(r->base, NULL, url, &opts, tcp_on_connect, &t);
	if (!t.creq)
		t.client_done = 1;
	/*
	 * Under lasting exhaustion nothing can be read any more (libevent
	 * retries a read it has no memory for, forever), so an open
	 * connection never learns that its peer left: wait a little, then
	 * tear everything down, which must still free it all. With one
	 * failure, every path ends (wsev_connect's timeout, close frames).
	 */
	run_loop(r, tcp_done, &t, tick, fm.persist ? 0.03 : 0);
	EXPECT(r, t.connected && t.client.messages == 1 && t.client.closed == 1);
	EXPECT(r, t.nserver == 1 && t.server[0].messages == 1 &&
	    t.server[0].closed == 1);
out:
	if (t.creq)
		wsev_connect_cancel(t.creq);
	end_free(&t.client);
	for (i = 0; i < t.nserver; i++)
		end_free(&t.server[i]);
	if (h)
		wsev_server_remove_handler(h);
	HARNESS(if (http) evhttp_free(http));
	HARNESS(if (tick) event_free(tick));
}

/* ------------------------------------------------------------------ */
/* Scenario "tls": two wsev ends over OpenSSL */

static SSL_CTX *tls_server_ctx, *tls_client_ctx;

static void
sc_tls(struct run *r)
{
	struct bufferevent *pair[2], *a = NULL, *b = NULL;
	SSL *sa = NULL, *sb = NULL;
	struct two t;
	int rv;

	HARNESS(rv = bufferevent_pair_new(r->base, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS, pair));
	if (rv < 0)
		return;
	/* The SSL objects and filters are the harness's, their handshake
	 * (from the loop) is not. */
	HARNESS(sa = SSL_new(tls_server_ctx); sb = SSL_new(tls_client_ctx));
	if (sa && sb) {
		HARNESS(a = bufferevent_openssl_filter_new(r->base, pair[0], sa,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS));
		if (a)
			sa = NULL;
		HARNESS(b = bufferevent_openssl_filter_new(r->base, pair[1], sb,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS));
		if (b)
			sb = NULL;
	}
	if (!a || !b) {
		HARNESS(SSL_free(sa); SSL_free(sb));
		HARNESS(if (a) bufferevent_free(a); else bufferevent_free(pair[0]);
		    if (b) bufferevent_free(b); else bufferevent_free(pair[1]));
		return;
	}
	two_setup(r, &t, a, b);
	if (t.s.conn)
		t.s.echo = 1;
	if (t.c.conn) {
		t.c.close_after = 2;
		t.c.free_in_closed = 1;
		wsev_connection_send_text(t.c.conn, "secret");
		wsev_connection_send_binary(t.c.conn, "\0\1", 2);
	}
	run_loop(r, two_done, &t, NULL, 0);
	EXPECT(r, t.c.messages == 2 && t.c.closed == 1 && t.s.closed == 1);
	end_free(&t.s);
	end_free(&t.c);
}

/* ------------------------------------------------------------------ */

/*
 * stride: try every stride-th allocation only. A TLS handshake makes some
 * 3000 allocations inside OpenSSL, which all end the same way for wsev (a
 * TLS error, then "closed"): a sample of them keeps the test short.
 */
static const struct scenario {
	const char *name;
	void (*fn)(struct run *);
	long long stride;
} scenarios[] = {
	{ "pair", sc_pair, 1 },
	{ "raw", sc_raw, 1 },
	{ "handshake", sc_handshake, 1 },
	{ "tcp", sc_tcp, 1 },
	{ "tls", sc_tls, 41 },
	{ NULL, NULL, 0 }
};

/* What the warm-up left; -1 until then. */
static long live_base[A_N] = { -1, -1, -1 };
static int verbose;

/* One run; returns 0 if it passed. */
static int
run_once(const struct scenario *sc, long long fail_at, int persist,
    int *injected, int *skipped)
{
	struct run r;
	int k, bad = 0;

	memset(&r, 0, sizeof(r));
	fm.n = 0;
	memset(fm.made, 0, sizeof(fm.made));
	fm.fail_at = fail_at;
	fm.persist = persist;
	fm.injected = 0;
	fm.skipped = 0;
	fm.first_where[0] = '\0';
	r.clean = fail_at == 0;
	gettimeofday(&r.start, NULL);
	HARNESS(r.base = event_base_new());
	if (!r.base) {
		printf("  cannot make an event_base\n");
		return -1;
	}
	sc->fn(&r);
	drain_loop(&r);
	HARNESS(event_base_free(r.base));
	*injected = fm.injected;
	*skipped = fm.skipped;
	fm.fail_at = 0;
	/* OpenSSL keeps an error queue per thread, with buffers it reuses,
	 * and random generators per thread: release them, so that only real
	 * leftovers count (the warm-up released them too). */
	HARNESS(ERR_clear_error(); OPENSSL_thread_stop());
	if (r.hung) {
		printf("  %s: hung (fail_at %lld%s, in %s)\n", sc->name,
		    fail_at, persist ? ", persist" : "", fm.first_where);
		bad = 1;
	}
	if (verbose)
		printf("  %s fail_at %lld%s: %lld allocations (wsev %lld, "
		    "libevent %lld, openssl %lld)%s, %.3f s\n", sc->name,
		    fail_at, persist ? " persist" : "", fm.n, fm.made[A_WSEV],
		    fm.made[A_EVENT], fm.made[A_SSL],
		    fm.injected ? "" : ", none failed", elapsed(&r));
	if (verbose && fm.injected)
		printf("    first failed in %s\n", fm.first_where);
	for (k = 0; k < A_N && live_base[A_WSEV] >= 0; k++) {
		if (fm.live[k] != live_base[k]) {
			printf("  %s: %ld %s allocation(s) left (fail_at %lld%s, "
			    "in %s)\n", sc->name, fm.live[k] - live_base[k],
			    alloc_names[k], fail_at, persist ? ", persist" : "",
			    fm.first_where);
			bad = 1;
		}
	}
	return bad || r.failed_checks ? -1 : 0;
}

/*
 * The same in a child process, so that a crash or a hang is one failed
 * run and the others still run. The child reports whether a failure was
 * injected through a pipe; it leaves with _exit() (LeakSanitizer at every
 * child's exit would cost more than the run: the live counts stand in for
 * it, and the runs with no failure, in this process, get it at the end).
 */
static int
run_forked(const struct scenario *sc, long long fail_at, int persist,
    int *injected, int *skipped)
{
	struct {
		int injected, skipped;
		long long n;
		char where[128];
	} rep;
	int fds[2], status, rv;
	pid_t pid;

	fflush(stdout);
	if (pipe(fds) < 0 || (pid = fork()) < 0) {
		perror("pipe/fork");
		exit(2);
	}
	if (pid == 0) {
		close(fds[0]);
		alarm(30);
		rv = run_once(sc, fail_at, persist, injected, skipped);
		memset(&rep, 0, sizeof(rep));
		rep.injected = *injected;
		rep.skipped = *skipped;
		rep.n = fm.n;
		memcpy(rep.where, fm.first_where, sizeof(rep.where));
		if (write(fds[1], &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
			_exit(2);
		fflush(stdout);
		_exit(rv == 0 ? 0 : 3);	/* 3: it said why */
	}
	close(fds[1]);
	if (read(fds[0], &rep, sizeof(rep)) != (ssize_t)sizeof(rep)) {
		memset(&rep, 0, sizeof(rep));
		rep.injected = 1;	/* it died during the run */
		rep.n = -1;
		snprintf(rep.where, sizeof(rep.where), "?");
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*injected = rep.injected;
	*skipped = rep.skipped;
	fm.n = rep.n;
	if (WIFSIGNALED(status)) {
		printf("  %s: %s (fail_at %lld%s)\n", sc->name,
		    strsignal(WTERMSIG(status)), fail_at,
		    persist ? ", persist" : "");
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
	    WEXITSTATUS(status) != 3)
		printf("  %s: exit status %d (fail_at %lld%s): a sanitizer?\n",
		    sc->name, WEXITSTATUS(status), fail_at,
		    persist ? ", persist" : "");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const struct scenario *sc;
	long long only = 0, stride = 1, step, i, total;
	const char *e;
	int passed = 0, failed = 0, nskipped = 0, injected, skipped, k, a;
	int persist, runs, nofork;
	struct timespec t0, t1;

	/* Before anything allocates. */
	event_set_mem_functions(ev_malloc, ev_realloc, ev_free);
	if (!CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free)) {
		printf("OpenSSL allocated before main: cannot count it\n");
		return 1;
	}
	event_set_log_callback(quiet_log);
	{
		/* backtrace() loads its unwinder on first use. */
		void *f[2];

		backtrace(f, 2);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((e = getenv("WSEV_FAILMALLOC_ONLY")) != NULL)
		only = atoll(e);
	if ((e = getenv("WSEV_FAILMALLOC_STRIDE")) != NULL && atoll(e) > 0)
		stride = atoll(e);
	verbose = (e = getenv("WSEV_FAILMALLOC_VERBOSE")) != NULL && *e == '1';
	nofork = (e = getenv("WSEV_FAILMALLOC_NOFORK")) != NULL && *e == '1';

	if (tt_tls_make(&tls_server_ctx, &tls_client_ctx, NULL, 0) < 0) {
		printf("cannot make a TLS context\n");
		return 1;
	}
	SSL_CTX_set_verify(tls_client_ctx, SSL_VERIFY_NONE, NULL);

	for (sc = scenarios; sc->name; sc++) {
		for (a = 1; a < argc; a++)
			if (strcmp(argv[a], sc->name) == 0)
				break;
		if (argc > 1 && a == argc)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		/* Warm-up, twice: lazily made globals (OpenSSL's DRBG and
		 * method caches, libevent's) exist before the count starts. */
		live_base[A_WSEV] = -1;
		run_once(sc, 0, 0, &injected, &skipped);
		for (k = 0; k < A_N; k++)
			live_base[k] = fm.live[k];
		if (run_once(sc, 0, 0, &injected, &skipped) < 0) {
			printf("FAIL %s: the scenario fails with no failure "
			    "injected\n", sc->name);
			failed++;
			continue;
		}

		runs = 0;
		for (persist = 0; persist <= 1; persist++) {
			int before = failed;

			/* The allocations of a run with no failure, counted
			 * in a child as the failing runs are (OpenSSL
			 * reseeds its random generator after a fork). */
			if (!nofork)
				run_forked(sc, 0, 0, &injected, &skipped);
			else
				run_once(sc, 0, 0, &injected, &skipped);
			total = fm.n;

			step = stride * sc->stride;
			for (i = only ? only : 1;; i += step) {
				int rv = nofork ?
				    run_once(sc, i, persist, &injected, &skipped) :
				    run_forked(sc, i, persist, &injected, &skipped);

				/* Past the last allocation of a run with no
				 * failure: done. (OpenSSL's random generator does
				 * not allocate the same way in every child, so a
				 * run may also end before its i-th allocation:
				 * it counts as a run, and the loop goes on.) */
				if (!injected && !skipped && i > total)
					break;
				runs++;
				if (skipped && !injected)
					nskipped++;
				else if (rv == 0)
					passed++;
				else
					failed++;
				if (only)
					break;
			}
			if (!injected) {
				/* The run with no failure: the full outcome. */
				if (run_once(sc, 0, 0, &injected, &skipped) == 0)
					passed++;
				else
					failed++;
			}
			if (failed == before)
				printf("ok %s%s: %lld allocations\n", sc->name,
				    persist ? " (lasting)" : "", total);
			else
				printf("FAIL %s%s\n", sc->name,
				    persist ? " (lasting)" : "");
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("   %s: %d runs in %.1f s\n", sc->name, runs,
		    (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	SSL_CTX_free(tls_server_ctx);
	SSL_CTX_free(tls_client_ctx);
	printf("%d passed, %d failed, %d skipped\n", passed, failed, nskipped);
	return failed ? 1 : 0;
}
