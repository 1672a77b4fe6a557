/*
 * wsload: a WebSocket (RFC 6455) and raw TCP load generator for the wsev
 * benchmarks.
 *
 *   wsload --port P [--host 127.0.0.1] [--path /] [--raw] [--tls]
 *          [--conns N] [--inflight K] [--size S] [--type text|binary]
 *          [--seconds D] [--warmup W] [--server-pid PID]      echo mode
 *   wsload --idle N [--port P] [--raw] [--tls] [--server-pid PID]
 *   wsload --broadcast N --port P [--size S] [--seconds D] [--warmup W]
 *          [--server-pid PID]
 *   wsload --chat N --port P [--port2 P2] [--publishers K] [--rate R]
 *          [--window W] [--seconds D] [--warmup W] [--server-pid PID,...]
 *
 * Echo mode keeps K messages in flight on each of N connections and reports
 * messages, payload bytes, wall time, the server's CPU time (utime + stime
 * of every thread, from /proc/PID/stat) and our own over the measured
 * window, as one line of key=value pairs. Idle mode reports the server's
 * resident memory per idle connection. Broadcast mode sends one message at a
 * time on connection 0 and waits until all N connections received it.
 *
 * Chat mode is the broadcast of samples/chat-server (its protocol: the top
 * of samples/chat-room.c). N members join ("/name uI"; with --port2 the odd
 * ones on the second server); once every one is live and the joins are
 * delivered, the first K of them say lines "/say pI-RUN-SEQ STAMP I SEQ"
 * (RUN: random, as the room drops a MID it has seen; STAMP: the
 * CLOCK_MONOTONIC time of sending in ns) at R lines per second in all (0:
 * as fast as the window allows), each with at most W lines out that not
 * every member has received yet. Every member takes now - STAMP for every
 * line it receives. Reported: deliveries (lines received, summed over the
 * members) per wall second and per server CPU second, the latency's
 * median, 99th percentile and maximum over the measured window, and a
 * second line: tasks=PID.TID:CPU,..., each server thread's CPU seconds, and
 * nodes=PID.THREAD:N,..., the members each server thread has (its hello).
 * --server-pid takes several PIDs, comma separated (two servers and
 * Redis): their CPU times are summed.
 *
 * The client must not be the bottleneck: one thread on epoll, non-blocking
 * sockets with TCP_NODELAY, no allocation after the connections are set up,
 * frames generated (and masked) straight into a per-connection buffer, one
 * write per connection per loop turn. Any protocol error, unexpected close,
 * failed connect or timeout ends the run with a message and exit status 1.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define WS_GUID			"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define HANDSHAKE_TIMEOUT	10.0	/* s, per connection */
#define RX_TIMEOUT		10.0	/* s without a byte while busy */
#define MAX_CONNECTING		256	/* outstanding: spare the backlog */
#define IDLE_WARM_CONNS		200
#define FD_SLACK		100
#define MAX_EVENTS		512
#define MAX_SIZE		((uint64_t)1 << 30)
#define MAX_PATH_LEN		1024
#define BUF_MAX			(256 * 1024)
#define RBUF_MIN		(16 * 1024)
#define WBUF_MIN		(4 * 1024)
#define MAX_PIDS		8
#define CHAT_MSG_MAX		4096	/* bytes of a chat message kept */
#define CHAT_RING		4096	/* lines a publisher may have out */
#define CHAT_SETTLE		0.3	/* s of quiet: the joins are through */
#define CHAT_SETTLE_MAX		60.0	/* s */
#define LAT_STEP_NS		10000	/* latency histogram: 10 us buckets */
#define LAT_BUCKETS		(1 << 20)	/* up to 10.5 s */

enum mode { MODE_ECHO, MODE_IDLE, MODE_BROADCAST, MODE_CHAT };

enum conn_state {
	ST_CONNECTING,
	ST_TLS,
	ST_HS_RECV,		/* upgrade request queued, waiting for 101 */
	ST_RAW_PROBE,		/* --idle --raw: waiting for the 1-byte echo */
	ST_OPEN
};

struct conn {
	int fd;
	unsigned idx;
	enum conn_state state;
	uint32_t events;	/* registered with epoll */
	SSL *ssl;
	double started;
	double last_rx;

	unsigned char *rbuf;
	size_t rlen;
	unsigned char *wbuf;
	size_t wpos, wlen;

	/* Frame generator: messages not yet started, and the one being
	 * copied into wbuf (it may straddle two writes). */
	uint64_t due;
	uint64_t outstanding;	/* started and not yet echoed */
	uint64_t gen_off, gen_left;
	unsigned char gen_mask[4];

	/* Frame parser, streaming: payload is checked and dropped as it
	 * arrives, so rbuf need not hold a whole message. */
	int in_frame, frame_data, frame_fin, in_msg;
	uint64_t frame_left;
	uint64_t msg_len;
	uint64_t raw_acc;	/* --raw: bytes of the current chunk */
	int verified;		/* first message compared with the template */
	uint64_t rx_round;	/* broadcast: rounds received */

	/* Chat: the message being received, its first CHAT_MSG_MAX bytes.
	 * A publisher's lines: sent, not yet received by every member, the
	 * members that received line SEQ (pub_got[SEQ % CHAT_RING]), when
	 * the next is due. */
	char *msg;
	int live;
	uint64_t pub_seq, pub_out;
	uint32_t *pub_got;
	double pub_next;

	unsigned rd_wants_out : 1;	/* SSL_read said WANT_WRITE */
	unsigned wr_wants_out : 1;	/* send EAGAIN, SSL_write WANT_WRITE */
	unsigned dirty : 1;

	char key[25];		/* Sec-WebSocket-Key */
};

struct snapshot {
	double t;
	uint64_t msgs, bytes, deliveries;
	double server_cpu, client_cpu;
};

/* Options. */
static enum mode mode = MODE_ECHO;
static const char *opt_host = "127.0.0.1";
static const char *opt_path = "/";
static int opt_port = -1;
static int opt_raw, opt_tls;
static uint64_t opt_conns = 1, opt_inflight = 1, opt_size = 32;
static int opt_binary;
static double opt_seconds = 3, opt_warmup = 1;
static long opt_pid = -1;		/* the first of opt_pids */
static long opt_pids[MAX_PIDS];
static int n_pids;
static uint64_t opt_idle, opt_broadcast;
static int opt_port2 = -1;
static uint64_t opt_chat, opt_publishers = 2, opt_window = 8;
static double opt_rate;

/* State. */
static int epfd = -1;
static SSL_CTX *ssl_ctx;
static struct sockaddr_storage peer, peer2;
static socklen_t peer_len, peer2_len;
static char host_header[300];
static struct conn *conns;
static struct conn **dirty, **dirty_spare;
static size_t n_dirty;
static size_t n_total;		/* conns[] size */
static size_t n_target;		/* connections wanted open */
static size_t n_started, n_connecting, n_open;
static size_t rcap, wcap;
static unsigned char *tmpl;	/* payload template, opt_size bytes */
static size_t ws_hlen;		/* client frame header length */
static unsigned char ws_opcode;
static double now;
static double last_check;
static double chat_wake;		/* chat: the next line is due, or 0 */
static int traffic_on;
static uint64_t g_msgs, g_bytes, g_deliveries;
static uint64_t cur_round, round_left;
static uint64_t rng_state;
static size_t n_live;		/* chat: members past the history */
static double chat_last_rx;	/* chat: any message */
static int chat_measuring;	/* chat: latencies are recorded */
static unsigned chat_run;	/* chat: in the MIDs; the room drops a MID
				 * it has seen, in an earlier run too */
static struct {
	char name[32];		/* hello's "node": PID.THREAD */
	unsigned members;
} chat_nodes[16];
static size_t n_chat_nodes;
static uint32_t *lat_hist;	/* chat: LAT_BUCKETS counts */
static uint64_t lat_count, lat_max_ns;

static void die(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("wsload: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
die_tls(const struct conn *c, const char *what, int sslerr)
{
	char buf[256];
	unsigned long e = ERR_get_error();
	int saved = errno;

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		die("connection %u: %s: %s", c->idx, what, buf);
	}
	if (sslerr == SSL_ERROR_SYSCALL && saved != 0)
		die("connection %u: %s: %s", c->idx, what, strerror(saved));
	if (sslerr == SSL_ERROR_SYSCALL)
		die("connection %u: %s: server closed the connection (EOF)",
		    c->idx, what);
	die("connection %u: %s: TLS error %d", c->idx, what, sslerr);
}

static double
mono(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		die("clock_gettime: %s", strerror(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * xorshift64* (Vigna), seeded from getrandom(): used for the mask keys, the
 * handshake keys and the payload template. Browsers draw mask keys from a
 * CSPRNG (RFC 6455 §5.3 wants them unpredictable to proxies); what the
 * server does with a key does not depend on how it was drawn, and this keeps
 * the client cheap.
 */
static uint64_t
rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void
rng_seed(void)
{
	ssize_t n;

	do
		n = getrandom(&rng_state, sizeof(rng_state), 0);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(rng_state))
		die("getrandom: %s", n == -1 ? strerror(errno) : "short read");
	if (rng_state == 0)
		rng_state = 0x9E3779B97F4A7C15ULL;
}

/* ---------- server statistics from /proc ---------- */

static double stat_cpu(const char *path);

static double
proc_cpu(long pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	return stat_cpu(path);
}

static double
stat_cpu(const char *path)
{
	char buf[1024];
	unsigned long long utime, stime;
	const char *p;
	ssize_t n;
	int fd, i;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		die("%s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		die("%s: cannot read", path);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields are
	 * counted from the last ')' (proc(5): state is field 3, utime 14,
	 * stime 15). */
	if ((p = strrchr(buf, ')')) == NULL)
		die("%s: unexpected format", path);
	p++;
	for (i = 3; i < 14; i++) {
		while (*p == ' ')
			p++;
		while (*p != ' ' && *p != '\0')
			p++;
	}
	if (sscanf(p, " %llu %llu", &utime, &stime) != 2)
		die("%s: unexpected format", path);
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Chat: every thread of every --server-pid, for the per-thread CPU. */
struct task_cpu {
	long pid, tid;
	double t0, t1;
};
static struct task_cpu tasks[64];
static size_t n_tasks;

static void
tasks_sample(int last)
{
	char path[64];
	struct dirent *d;
	struct task_cpu *k;
	DIR *dir;
	size_t j;
	long tid;
	int i;

	for (i = 0; i < n_pids; i++) {
		snprintf(path, sizeof(path), "/proc/%ld/task", opt_pids[i]);
		if ((dir = opendir(path)) == NULL)
			die("%s: %s", path, strerror(errno));
		while ((d = readdir(dir)) != NULL) {
			if ((tid = atol(d->d_name)) <= 0)
				continue;
			for (j = 0; j < n_tasks; j++)
				if (tasks[j].tid == tid)
					break;
			if (j == n_tasks) {
				if (last || n_tasks == sizeof(tasks) /
				    sizeof(tasks[0]))
					continue;
				tasks[n_tasks].pid = opt_pids[i];
				tasks[n_tasks++].tid = tid;
			}
			k = &tasks[j];
			snprintf(path, sizeof(path), "/proc/%ld/task/%ld/stat",
			    k->pid, tid);
			if (last)
				k->t1 = stat_cpu(path);
			else
				k->t0 = stat_cpu(path);
		}
		closedir(dir);
	}
}

/* Every --server-pid's, summed; 0 without. */
static double
server_cpu(void)
{
	double t = 0;
	int i;

	for (i = 0; i < n_pids; i++)
		t += proc_cpu(opt_pids[i]);
	return t;
}

static long
server_rss_kb(void)
{
	char path[64], line[256];
	FILE *f;
	long kb = -1;

	if (opt_pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/status", opt_pid);
	if ((f = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			if (sscanf(line + 6, "%ld", &kb) != 1)
				kb = -1;
			break;
		}
	}
	fclose(f);
	if (kb < 0)
		die("%s: no VmRSS (has the server exited?)", path);
	return kb;
}

static double
client_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		die("getrusage: %s", strerror(errno));
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
snapshot_take(struct snapshot *s)
{
	s->server_cpu = server_cpu();
	s->client_cpu = client_cpu();
	s->t = mono();
	s->msgs = g_msgs;
	s->bytes = g_bytes;
	s->deliveries = g_deliveries;
}

/* ---------- epoll bookkeeping ---------- */

static void
conn_interest(struct conn *c)
{
	struct epoll_event ev;
	uint32_t want = EPOLLIN;

	if (c->rd_wants_out || c->wr_wants_out)
		want |= EPOLLOUT;
	if (want == c->events)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	c->events = want;
}

static void
mark_dirty(struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	dirty[n_dirty++] = c;
}

/* ---------- sending ---------- */

/*
 * RFC 6455 §5.3: payload[i] ^= key[i % 4]. The 8-byte mask is the key
 * rotated to the payload offset where this chunk starts, so a frame may be
 * generated in pieces; the copy and the masking are one pass.
 */
static void
mask_copy(unsigned char *dst, const unsigned char *src, size_t n,
    const unsigned char key[4], uint64_t off)
{
	unsigned char k[8];
	uint64_t m, w;
	size_t i;

	for (i = 0; i < 8; i++)
		k[i] = key[(off + i) & 3];
	memcpy(&m, k, 8);
	while (n >= 32) {
		memcpy(&w, src, 8); w ^= m; memcpy(dst, &w, 8);
		memcpy(&w, src + 8, 8); w ^= m; memcpy(dst + 8, &w, 8);
		memcpy(&w, src + 16, 8); w ^= m; memcpy(dst + 16, &w, 8);
		memcpy(&w, src + 24, 8); w ^= m; memcpy(dst + 24, &w, 8);
		src += 32;
		dst += 32;
		n -= 32;
	}
	while (n >= 8) {
		memcpy(&w, src, 8);
		w ^= m;
		memcpy(dst, &w, 8);
		src += 8;
		dst += 8;
		n -= 8;
	}
	for (i = 0; i < n; i++)
		dst[i] = src[i] ^ k[i];
}

/* Move due messages into wbuf, as far as it has room. */
static void
gen_fill(struct conn *c)
{
	unsigned char *p, *end;
	uint64_t n, len = opt_size;
	uint32_t key;
	int i;

	if (c->due == 0 && c->gen_left == 0)
		return;
	if (c->wpos > 0) {
		/* With SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER a pending
		 * SSL_write may be retried from the moved bytes. */
		memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
		c->wlen -= c->wpos;
		c->wpos = 0;
	}
	p = c->wbuf + c->wlen;
	end = c->wbuf + wcap;
	while (p < end) {
		if (c->gen_left == 0) {
			if (c->due == 0)
				break;
			if (!opt_raw) {
				if ((size_t)(end - p) < ws_hlen)
					break;
				/* RFC 6455 §5.2: FIN, opcode, MASK, length
				 * in the shortest form, masking key. */
				*p++ = 0x80 | ws_opcode;
				if (len < 126) {
					*p++ = 0x80 | (unsigned char)len;
				} else if (len < 65536) {
					*p++ = 0x80 | 126;
					*p++ = (unsigned char)(len >> 8);
					*p++ = (unsigned char)len;
				} else {
					*p++ = 0x80 | 127;
					for (i = 7; i >= 0; i--)
						*p++ = (unsigned char)(len >>
						    (8 * i));
				}
				key = (uint32_t)(rng_next() >> 32);
				memcpy(c->gen_mask, &key, 4);
				memcpy(p, c->gen_mask, 4);
				p += 4;
			}
			c->due--;
			c->outstanding++;
			c->gen_off = 0;
			c->gen_left = len;
			if (len == 0)
				continue;
		}
		n = c->gen_left;
		if (n > (uint64_t)(end - p))
			n = (uint64_t)(end - p);
		if (opt_raw)
			memcpy(p, tmpl + c->gen_off, n);
		else
			mask_copy(p, tmpl + c->gen_off, n, c->gen_mask,
			    c->gen_off);
		p += n;
		c->gen_off += n;
		c->gen_left -= n;
	}
	c->wlen = (size_t)(p - c->wbuf);
}

/* Returns bytes written, or 0 if the transport would block. */
static size_t
conn_send(struct conn *c, const unsigned char *buf, size_t len)
{
	ssize_t n;
	int r;

	if (c->ssl != NULL) {
		ERR_clear_error();
		r = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
		if (r > 0)
			return (size_t)r;
		switch ((r = SSL_get_error(c->ssl, r))) {
		case SSL_ERROR_WANT_WRITE:
			c->wr_wants_out = 1;
			return 0;
		case SSL_ERROR_WANT_READ:
			/* EPOLLIN is always on; every readable event retries
			 * the write of a TLS connection with data pending. */
			c->wr_wants_out = 0;
			return 0;
		default:
			die_tls(c, "SSL_write", r);
		}
	}
	for (;;) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return (size_t)n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->wr_wants_out = 1;
			return 0;
		}
		die("connection %u: send: %s", c->idx, strerror(errno));
	}
}

static void
conn_flush(struct conn *c)
{
	size_t n, want;

	for (;;) {
		if (c->wpos == c->wlen)
			c->wpos = c->wlen = 0;
		gen_fill(c);
		if (c->wpos == c->wlen)
			break;
		want = c->wlen - c->wpos;
		if ((n = conn_send(c, c->wbuf + c->wpos, want)) == 0)
			return;
		c->wpos += n;
		if (n < want && c->ssl == NULL) {
			/* The socket buffer is full: the next send() would
			 * only say EAGAIN. */
			c->wr_wants_out = 1;
			return;
		}
	}
	c->wr_wants_out = 0;
}

/* ---------- receiving ---------- */

static void chat_opened(struct conn *c);

static void
conn_opened(struct conn *c)
{
	c->state = ST_OPEN;
	c->last_rx = now;
	n_connecting--;
	n_open++;
	if (mode == MODE_CHAT)
		chat_opened(c);
}

static void
start_round(void)
{
	cur_round++;
	round_left = n_total;
	conns[0].due++;
	mark_dirty(&conns[0]);
}

static void
on_messages(struct conn *c, uint64_t count, uint64_t bytes)
{
	if (mode == MODE_BROADCAST) {
		if (count != 1 || c->rx_round + 1 != cur_round)
			die("connection %u: unexpected message (not sent)",
			    c->idx);
		c->rx_round++;
		g_deliveries++;
		g_bytes += bytes;
		if (--round_left == 0) {
			g_msgs++;
			start_round();
		}
		return;
	}
	if (count > c->outstanding)
		die("connection %u: unexpected message (not sent)", c->idx);
	c->outstanding -= count;
	g_msgs += count;
	if (!opt_raw)
		g_bytes += bytes;
	c->due += count;
	/* A blocked plain socket is flushed on its EPOLLOUT. */
	if (c->ssl != NULL || !c->wr_wants_out)
		mark_dirty(c);
}

static void
raw_input(struct conn *c)
{
	uint64_t n = c->rlen, k;

	c->rlen = 0;
	g_bytes += n;
	if (!c->verified) {
		k = opt_size - c->raw_acc;
		if (k > n)
			k = n;
		if (memcmp(c->rbuf, tmpl + c->raw_acc, k) != 0)
			die("connection %u: echoed data differs from what "
			    "was sent", c->idx);
	}
	c->raw_acc += n;
	if (c->raw_acc >= opt_size) {
		k = c->raw_acc / opt_size;
		c->raw_acc -= k * opt_size;
		c->verified = 1;
		on_messages(c, k, k * opt_size);
	}
}

/* ---------- chat (samples/chat-server) ---------- */

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		die("clock_gettime: %s", strerror(errno));
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Queue a text message on c (RFC 6455 §5.2, masked). */
static void
chat_send(struct conn *c, const char *text, size_t len)
{
	size_t need = 2 + (len < 126 ? 0 : 2) + 4 + len;
	unsigned char *p;
	uint32_t key;

	if (len >= 65536)
		die("chat line too long");
	if (c->wpos > 0) {
		memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
		c->wlen -= c->wpos;
		c->wpos = 0;
	}
	if (wcap - c->wlen < need)
		die("connection %u: the server does not read what it is sent",
		    c->idx);
	p = c->wbuf + c->wlen;
	*p++ = 0x81;
	if (len < 126) {
		*p++ = 0x80 | (unsigned char)len;
	} else {
		*p++ = 0x80 | 126;
		*p++ = (unsigned char)(len >> 8);
		*p++ = (unsigned char)len;
	}
	key = (uint32_t)(rng_next() >> 32);
	memcpy(p, &key, 4);
	mask_copy(p + 4, (const unsigned char *)text, len, p, 0);
	c->wlen += need;
	mark_dirty(c);
}

static void
chat_opened(struct conn *c)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "/name u%u", c->idx);

	chat_send(c, line, (size_t)n);
}

/* A "say" line: {"type":"say",...,"text":"STAMP PUB SEQ",...}. */
static void
chat_say(struct conn *c, const char *m, size_t len)
{
	const char *t = memmem(m, len, "\"text\":\"", 8);
	unsigned long long stamp, pub, seq;
	struct conn *k;
	uint64_t lat, b;
	char *end;

	if (t == NULL)
		die("connection %u: a say line without text: %.200s", c->idx,
		    m);
	stamp = strtoull(t + 8, &end, 10);
	if (*end != ' ')
		die("connection %u: a line wsload did not say: %.200s",
		    c->idx, m);
	pub = strtoull(end + 1, &end, 10);
	if (*end != ' ' || pub >= opt_publishers)
		die("connection %u: a line wsload did not say: %.200s",
		    c->idx, m);
	seq = strtoull(end + 1, &end, 10);
	if (*end != '"')
		die("connection %u: a line wsload did not say: %.200s",
		    c->idx, m);
	lat = mono_ns() - stamp;
	g_deliveries++;
	k = &conns[pub];
	if (seq >= k->pub_seq || seq + k->pub_out < k->pub_seq)
		die("connection %u: line %llu of %llu: not out: %.200s",
		    c->idx, seq, pub, m);
	if (++k->pub_got[seq % CHAT_RING] == n_total) {
		/* Every member has it: the window moves. */
		k->pub_got[seq % CHAT_RING] = 0;
		k->pub_out--;
		g_msgs++;
	}
	if (!chat_measuring)
		return;
	b = lat / LAT_STEP_NS;
	lat_hist[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
	lat_count++;
	if (lat > lat_max_ns)
		lat_max_ns = lat;
}

#define CHAT_IS(m, len, type) \
	((len) >= sizeof("{\"type\":\"" type "\"") - 1 && \
	 memcmp((m), "{\"type\":\"" type "\"", \
	     sizeof("{\"type\":\"" type "\"") - 1) == 0)

/* Members per server thread, from hello's "node". */
static void
chat_hello(const char *m, size_t len)
{
	const char *t = memmem(m, len, "\"node\":\"", 8), *e;
	size_t i, n;

	if (t == NULL || (e = strchr(t + 8, '"')) == NULL)
		return;
	t += 8;
	n = (size_t)(e - t);
	if (n >= sizeof(chat_nodes[0].name))
		return;
	for (i = 0; i < n_chat_nodes; i++)
		if (strlen(chat_nodes[i].name) == n &&
		    memcmp(chat_nodes[i].name, t, n) == 0)
			break;
	if (i == n_chat_nodes) {
		if (i == sizeof(chat_nodes) / sizeof(chat_nodes[0]))
			return;
		memcpy(chat_nodes[i].name, t, n);
		chat_nodes[i].name[n] = '\0';
		n_chat_nodes++;
	}
	chat_nodes[i].members++;
}

/* A whole message from the room (chat-room.c lists them). */
static void
chat_message(struct conn *c)
{
	char *m = c->msg;
	size_t len = c->msg_len;

	m[len] = '\0';
	chat_last_rx = now;
	if (CHAT_IS(m, len, "say")) {
		if (!traffic_on)
			die("connection %u: a line before any was said: %.200s",
			    c->idx, m);
		chat_say(c, m, len);
	} else if (CHAT_IS(m, len, "hello")) {
		chat_hello(m, len);
	} else if (CHAT_IS(m, len, "live")) {
		if (c->live)
			die("connection %u: live twice", c->idx);
		c->live = 1;
		n_live++;
	} else if (CHAT_IS(m, len, "refused") || CHAT_IS(m, len, "lost") ||
	    CHAT_IS(m, len, "offline")) {
		die("connection %u: %.200s", c->idx, m);
	}
	/* hello, join, leave, online: nothing to measure. */
}

/* Say the lines that are due; chat_wake: when the next one is. */
static void
chat_publish(void)
{
	double gap = opt_rate > 0 ? (double)opt_publishers / opt_rate : 0;
	char line[96];
	struct conn *c;
	size_t i;
	int n;

	chat_wake = 0;
	for (i = 0; i < opt_publishers; i++) {
		c = &conns[i];
		/* What does not fit in wbuf waits for the next turn. */
		while (c->pub_out < opt_window && now >= c->pub_next &&
		    wcap - c->wlen + c->wpos >= sizeof(line) + 8) {
			n = snprintf(line, sizeof(line), "/say p%zu-%08x-%llu "
			    "%llu %zu %llu", i, chat_run,
			    (unsigned long long)c->pub_seq,
			    (unsigned long long)mono_ns(), i,
			    (unsigned long long)c->pub_seq);
			chat_send(c, line, (size_t)n);
			c->pub_seq++;
			c->pub_out++;
			/* Paced; held back by the window, it does not
			 * catch up in a burst. */
			c->pub_next += gap;
			if (c->pub_next < now - gap)
				c->pub_next = now;
		}
		if (gap > 0 && c->pub_out < opt_window &&
		    (chat_wake == 0 || c->pub_next < chat_wake))
			chat_wake = c->pub_next;
	}
}

/* The latency under which a fraction q of the lines arrived, in us (the
 * upper edge of its bucket). */
static double
lat_quantile(double q)
{
	uint64_t want = (uint64_t)(q * (double)lat_count + 0.999999), sum = 0;
	size_t i;

	if (want == 0)
		want = 1;
	for (i = 0; i < LAT_BUCKETS; i++) {
		sum += lat_hist[i];
		if (sum >= want)
			return (double)(i + 1) * LAT_STEP_NS / 1e3;
	}
	return (double)lat_max_ns / 1e3;
}

static void
frame_done(struct conn *c)
{
	c->in_frame = 0;
	if (!c->frame_data || !c->frame_fin)
		return;
	if (mode == MODE_CHAT) {
		c->in_msg = 0;
		chat_message(c);
		return;
	}
	if (c->msg_len != opt_size)
		die("connection %u: message of %llu bytes, expected %llu",
		    c->idx, (unsigned long long)c->msg_len,
		    (unsigned long long)opt_size);
	c->in_msg = 0;
	c->verified = 1;
	on_messages(c, 1, c->msg_len);
}

/* Server frames (RFC 6455 §5.2): whole messages are counted, pings and
 * pongs skipped, a close is an error. */
static void
frames_input(struct conn *c)
{
	unsigned char *p = c->rbuf, *end = c->rbuf + c->rlen;
	uint64_t len, n;
	size_t hlen, avail;
	unsigned op;
	int i;

	while (p < end) {
		if (c->in_frame) {
			n = c->frame_left;
			if (n > (uint64_t)(end - p))
				n = (uint64_t)(end - p);
			if (c->frame_data) {
				if (c->msg_len + n > opt_size)
					die("connection %u: message longer "
					    "than %llu bytes", c->idx,
					    (unsigned long long)opt_size);
				if (mode == MODE_CHAT)
					memcpy(c->msg + c->msg_len, p, n);
				else if (!c->verified &&
				    memcmp(p, tmpl + c->msg_len, n) != 0)
					die("connection %u: echoed payload "
					    "differs from what was sent",
					    c->idx);
				c->msg_len += n;
			}
			p += n;
			c->frame_left -= n;
			if (c->frame_left == 0)
				frame_done(c);
			continue;
		}
		avail = (size_t)(end - p);
		if (avail < 2)
			break;
		if (p[0] & 0x70)
			die("connection %u: RSV bits set without an "
			    "extension (0x%02x)", c->idx, p[0]);
		if (p[1] & 0x80)
			die("connection %u: masked frame from the server "
			    "(RFC 6455 §5.1)", c->idx);
		len = p[1] & 0x7f;
		hlen = len == 126 ? 4 : len == 127 ? 10 : 2;
		if (avail < hlen)
			break;
		if (len == 126) {
			len = ((uint64_t)p[2] << 8) | p[3];
		} else if (len == 127) {
			for (len = 0, i = 2; i < 10; i++)
				len = (len << 8) | p[i];
			if (len >> 63)
				die("connection %u: frame length has the top "
				    "bit set", c->idx);
		}
		op = p[0] & 0x0f;
		c->frame_fin = (p[0] & 0x80) != 0;
		c->frame_data = 0;
		switch (op) {
		case 0x1:
		case 0x2:
			if (c->in_msg)
				die("connection %u: new message inside a "
				    "fragmented one", c->idx);
			if (op != ws_opcode)
				die("connection %u: echo has opcode %u, sent "
				    "%u", c->idx, op, ws_opcode);
			c->in_msg = 1;
			c->msg_len = 0;
			c->frame_data = 1;
			break;
		case 0x0:
			if (!c->in_msg)
				die("connection %u: continuation frame "
				    "outside a message", c->idx);
			c->frame_data = 1;
			break;
		case 0x8:
			if (avail >= hlen + 2 && len >= 2)
				die("connection %u: server sent a close "
				    "frame (code %u)", c->idx,
				    (unsigned)p[hlen] << 8 | p[hlen + 1]);
			die("connection %u: server sent a close frame",
			    c->idx);
		case 0x9:
		case 0xa:
			/* RFC 6455 §5.5: control frames are short and
			 * whole; a ping is not answered (nothing here
			 * lasts long enough for a keep-alive to matter). */
			if (!c->frame_fin || len > 125)
				die("connection %u: bad control frame",
				    c->idx);
			break;
		default:
			die("connection %u: reserved opcode 0x%x", c->idx, op);
		}
		p += hlen;
		c->in_frame = 1;
		c->frame_left = len;
		if (len == 0)
			frame_done(c);
	}
	/* Less than a frame header is left over. */
	c->rlen = (size_t)(end - p);
	if (c->rlen > 0 && p != c->rbuf)
		memmove(c->rbuf, p, c->rlen);
}

static void
expected_accept(const char *key, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char buf[64];
	unsigned mdlen;

	snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
	if (!EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha1(), NULL) ||
	    mdlen != 20)
		die("SHA-1 failed");
	if (EVP_EncodeBlock((unsigned char *)out, md, 20) != 28)
		die("base64 failed");
}

/* RFC 6455 §4.1: a 101 with the right Sec-WebSocket-Accept; bytes after
 * the header block are frames. Returns 0 until the block is complete. */
static int
handshake_input(struct conn *c)
{
	char accept[29];
	const char *p, *eol, *colon, *v, *ve, *hend;
	const char *buf = (const char *)c->rbuf;
	size_t used;
	int found = 0;

	hend = memmem(buf, c->rlen, "\r\n\r\n", 4);
	if (hend == NULL) {
		if (c->rlen == rcap)
			die("connection %u: handshake response larger than "
			    "%zu bytes", c->idx, rcap);
		return 0;
	}
	eol = memmem(buf, (size_t)(hend + 2 - buf), "\r\n", 2);
	if (c->rlen < 13 || strncmp(buf, "HTTP/1.1 101", 12) != 0 ||
	    (buf[12] != ' ' && buf[12] != '\r'))
		die("connection %u: handshake refused: %.*s", c->idx,
		    (int)(eol - buf), buf);
	expected_accept(c->key, accept);
	for (p = eol + 2; p < hend + 2; p = eol + 2) {
		eol = memmem(p, (size_t)(hend + 2 - p), "\r\n", 2);
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon - p != 20 ||
		    strncasecmp(p, "Sec-WebSocket-Accept", 20) != 0)
			continue;
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t');
		    ve--)
			;
		if (ve - v != 28 || memcmp(v, accept, 28) != 0)
			die("connection %u: wrong Sec-WebSocket-Accept "
			    "\"%.*s\", expected \"%s\"", c->idx,
			    (int)(ve - v), v, accept);
		found = 1;
	}
	if (!found)
		die("connection %u: no Sec-WebSocket-Accept in the response",
		    c->idx);
	used = (size_t)(hend + 4 - buf);
	c->rlen -= used;
	memmove(c->rbuf, c->rbuf + used, c->rlen);
	conn_opened(c);
	return 1;
}

static void
conn_input(struct conn *c)
{
	switch (c->state) {
	case ST_HS_RECV:
		if (!handshake_input(c))
			return;
		break;
	case ST_RAW_PROBE:
		if (c->rlen != 1 || c->rbuf[0] != 'x')
			die("connection %u: bad probe echo", c->idx);
		c->rlen = 0;
		conn_opened(c);
		return;
	case ST_OPEN:
		break;
	default:
		return;
	}
	if (c->rlen == 0)
		return;
	if (opt_raw)
		raw_input(c);
	else
		frames_input(c);
}

static void
conn_read(struct conn *c)
{
	size_t space;
	ssize_t n;
	int r;

	for (;;) {
		space = rcap - c->rlen;
		if (c->ssl != NULL) {
			ERR_clear_error();
			r = SSL_read(c->ssl, c->rbuf + c->rlen,
			    space > INT_MAX ? INT_MAX : (int)space);
			if (r <= 0) {
				switch ((r = SSL_get_error(c->ssl, r))) {
				case SSL_ERROR_WANT_READ:
					c->rd_wants_out = 0;
					return;
				case SSL_ERROR_WANT_WRITE:
					c->rd_wants_out = 1;
					return;
				case SSL_ERROR_ZERO_RETURN:
					die("connection %u: server closed the "
					    "TLS session", c->idx);
				default:
					die_tls(c, "SSL_read", r);
				}
			}
			n = r;
		} else {
			n = recv(c->fd, c->rbuf + c->rlen, space, 0);
			if (n == 0)
				die("connection %u: server closed the "
				    "connection (EOF)", c->idx);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return;
				die("connection %u: recv: %s", c->idx,
				    strerror(errno));
			}
		}
		c->last_rx = now;
		c->rlen += (size_t)n;
		conn_input(c);
		/* A short plain read drained the socket; TLS reads on
		 * until WANT_READ so nothing stays buffered in OpenSSL
		 * while we sleep in epoll_wait. */
		if (c->ssl == NULL && (size_t)n < space)
			return;
	}
}

/* ---------- connection set-up ---------- */

static void
ws_request(struct conn *c)
{
	unsigned char raw[16];
	uint64_t r;
	int n;

	r = rng_next();
	memcpy(raw, &r, 8);
	r = rng_next();
	memcpy(raw + 8, &r, 8);
	if (EVP_EncodeBlock((unsigned char *)c->key, raw, 16) != 24)
		die("base64 failed");
	n = snprintf((char *)c->wbuf, wcap,
	    "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n", opt_path, host_header, c->key);
	if (n < 0 || (size_t)n >= wcap)
		die("handshake request too long");
	c->wpos = 0;
	c->wlen = (size_t)n;
	c->state = ST_HS_RECV;
	mark_dirty(c);
}

static void
transport_ready(struct conn *c)
{
	if (!opt_raw) {
		ws_request(c);
	} else if (mode == MODE_IDLE) {
		/* Proof that the server accepted the connection. */
		c->wbuf[0] = 'x';
		c->wpos = 0;
		c->wlen = 1;
		c->state = ST_RAW_PROBE;
		mark_dirty(c);
	} else {
		conn_opened(c);
	}
}

static void
tls_step(struct conn *c)
{
	int r;

	ERR_clear_error();
	r = SSL_connect(c->ssl);
	if (r == 1) {
		c->rd_wants_out = 0;
		transport_ready(c);
		return;
	}
	switch ((r = SSL_get_error(c->ssl, r))) {
	case SSL_ERROR_WANT_READ:
		c->rd_wants_out = 0;
		break;
	case SSL_ERROR_WANT_WRITE:
		c->rd_wants_out = 1;
		break;
	default:
		die_tls(c, "TLS handshake", r);
	}
}

static void
connected(struct conn *c)
{
	if (!opt_tls) {
		transport_ready(c);
		return;
	}
	if ((c->ssl = SSL_new(ssl_ctx)) == NULL)
		die_tls(c, "SSL_new", 0);
	if (SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, "localhost") != 1)
		die_tls(c, "SSL setup", 0);
	SSL_set_connect_state(c->ssl);
	c->state = ST_TLS;
	tls_step(c);
}

static void
conn_start(struct conn *c)
{
	struct epoll_event ev;
	int one = 1;
	int second = opt_port2 >= 0 && (c->idx & 1);
	const struct sockaddr_storage *to = second ? &peer2 : &peer;
	socklen_t to_len = second ? peer2_len : peer_len;

	c->fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		die("connection %u: socket: %s", c->idx, strerror(errno));
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1)
		die("connection %u: TCP_NODELAY: %s", c->idx, strerror(errno));
	if ((c->rbuf = malloc(rcap)) == NULL ||
	    (c->wbuf = malloc(wcap)) == NULL ||
	    (mode == MODE_CHAT && (c->msg = malloc(CHAT_MSG_MAX + 1)) == NULL))
		die("out of memory");
	c->state = ST_CONNECTING;
	c->started = now;
	if (connect(c->fd, (const struct sockaddr *)to, to_len) == -1 &&
	    errno != EINPROGRESS)
		die("connection %u: connect to %s: %s", c->idx, host_header,
		    strerror(errno));
	/* Completion (even an immediate one) is reported as EPOLLOUT. */
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	c->events = ev.events;
	n_connecting++;
}

static void
connect_more(void)
{
	while (n_connecting < MAX_CONNECTING && n_started < n_target)
		conn_start(&conns[n_started++]);
}

static void
conn_event(struct conn *c, uint32_t events)
{
	socklen_t len;
	int err;

	if (c->state == ST_CONNECTING) {
		len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			die("getsockopt: %s", strerror(errno));
		if (err != 0)
			die("connection %u: connect to %s: %s", c->idx,
			    host_header, strerror(err));
		if (!(events & EPOLLOUT))
			return;
		connected(c);
		if (c->state == ST_CONNECTING)
			return;
	} else if (c->state == ST_TLS) {
		tls_step(c);
	}
	if (c->state != ST_TLS)
		conn_read(c);
	/* A blocked plain socket is retried on EPOLLOUT only; TLS may
	 * have been waiting for this read. */
	if ((c->wpos < c->wlen || c->due > 0 || c->gen_left > 0) &&
	    (c->ssl != NULL || !c->wr_wants_out || (events & EPOLLOUT)))
		mark_dirty(c);
	conn_interest(c);
}

static void
flush_dirty(void)
{
	struct conn **list, *c;
	size_t i, n;

	/* conn_read below may dirty connections again (one already flushed
	 * included): they go to the other list, each at most once. */
	while (n_dirty > 0) {
		list = dirty;
		n = n_dirty;
		dirty = dirty_spare;
		dirty_spare = list;
		n_dirty = 0;
		for (i = 0; i < n; i++) {
			c = list[i];
			c->dirty = 0;
			if (c->state == ST_CONNECTING || c->state == ST_TLS)
				continue;
			conn_flush(c);
			if (c->ssl != NULL && SSL_has_pending(c->ssl))
				conn_read(c);
			conn_interest(c);
		}
	}
}

static void
check_timeouts(void)
{
	struct conn *c;
	size_t i;

	last_check = now;
	for (i = 0; i < n_started; i++) {
		c = &conns[i];
		if (c->state != ST_OPEN) {
			if (now - c->started > HANDSHAKE_TIMEOUT)
				die("connection %u: no %s after %.0f s",
				    c->idx, c->state == ST_CONNECTING ?
				    "connect" : "handshake",
				    HANDSHAKE_TIMEOUT);
		} else if (traffic_on && now - c->last_rx > RX_TIMEOUT) {
			die("connection %u: nothing received for %.0f s",
			    c->idx, RX_TIMEOUT);
		}
	}
}

static void
loop_turn(double until)
{
	static struct epoll_event evs[MAX_EVENTS];
	double d;
	int i, n, ms;

	connect_more();
	d = until - now;
	if (d > 1.0)
		d = 1.0;
	if (chat_wake > 0 && chat_wake - now < d)
		d = chat_wake - now;
	/* Rounded up: waking early would only spin. */
	ms = d <= 0 ? 0 : (int)(d * 1000) + 1;
	n = epoll_wait(epfd, evs, MAX_EVENTS, ms);
	if (n == -1) {
		if (errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		n = 0;
	}
	now = mono();
	for (i = 0; i < n; i++)
		conn_event(evs[i].data.ptr, evs[i].events);
	if (mode == MODE_CHAT && traffic_on)
		chat_publish();
	flush_dirty();
	if (now - last_check >= 1.0)
		check_timeouts();
}

static void
run_until(double t)
{
	while (now < t)
		loop_turn(t);
}

static void
open_all(size_t target)
{
	n_target = target;
	while (n_open < n_target)
		loop_turn(now + 1.0);
}

/* ---------- modes ---------- */

static void
start_traffic(void)
{
	size_t i;

	traffic_on = 1;
	for (i = 0; i < n_total; i++)
		conns[i].last_rx = now;
	if (mode == MODE_BROADCAST) {
		start_round();
		return;
	}
	for (i = 0; i < n_total; i++) {
		conns[i].due = opt_inflight;
		mark_dirty(&conns[i]);
	}
	flush_dirty();
}

static void
measure(struct snapshot *s0, struct snapshot *s1)
{
	start_traffic();
	run_until(now + opt_warmup);
	snapshot_take(s0);
	now = s0->t;
	run_until(s0->t + opt_seconds);
	snapshot_take(s1);
}

static double
ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static void
run_echo(void)
{
	struct snapshot s0, s1;
	double secs, scpu, ccpu;
	uint64_t msgs, bytes;

	open_all(n_total);
	measure(&s0, &s1);
	secs = s1.t - s0.t;
	scpu = s1.server_cpu - s0.server_cpu;
	ccpu = s1.client_cpu - s0.client_cpu;
	bytes = s1.bytes - s0.bytes;
	msgs = opt_raw ? bytes / opt_size : s1.msgs - s0.msgs;
	if (msgs == 0)
		die("no whole message came back in %.3f s (is the port a%s "
		    "echo server?)", secs, opt_raw ? " raw TCP" : " WebSocket");
	if (printf("msgs=%llu bytes=%llu secs=%.6f server_cpu=%.6f "
	    "client_cpu=%.6f msgs_per_s=%.1f msgs_per_cpu_s=%.1f "
	    "mb_per_cpu_s=%.3f\n", (unsigned long long)msgs,
	    (unsigned long long)bytes, secs, scpu, ccpu,
	    ratio((double)msgs, secs), ratio((double)msgs, scpu),
	    ratio((double)bytes / 1e6, scpu)) < 0)
		die("stdout: %s", strerror(errno));
}

static void
run_broadcast(void)
{
	struct snapshot s0, s1;
	double secs, scpu, ccpu;
	uint64_t dl;

	open_all(n_total);
	measure(&s0, &s1);
	secs = s1.t - s0.t;
	scpu = s1.server_cpu - s0.server_cpu;
	ccpu = s1.client_cpu - s0.client_cpu;
	dl = s1.deliveries - s0.deliveries;
	if (dl == 0)
		die("no message delivered in %.3f s (is the port a%s "
		    "broadcast server?)", secs, opt_raw ? " raw TCP" :
		    " WebSocket");
	if (printf("conns=%zu msgs=%llu deliveries=%llu secs=%.6f "
	    "server_cpu=%.6f client_cpu=%.6f deliveries_per_s=%.1f "
	    "deliveries_per_cpu_s=%.1f\n", n_total,
	    (unsigned long long)(s1.msgs - s0.msgs), (unsigned long long)dl,
	    secs, scpu, ccpu, ratio((double)dl, secs),
	    ratio((double)dl, scpu)) < 0)
		die("stdout: %s", strerror(errno));
}

static void
run_chat(void)
{
	struct snapshot s0, s1;
	double secs, scpu, ccpu, deadline;
	uint64_t dl, lines;
	size_t i;

	if ((lat_hist = calloc(LAT_BUCKETS, sizeof(*lat_hist))) == NULL)
		die("out of memory");
	chat_run = (unsigned)(rng_next() >> 32);
	open_all(n_total);
	/* Every member live, and the joins delivered. */
	deadline = now + CHAT_SETTLE_MAX;
	chat_last_rx = now;
	while (n_live < n_total || now - chat_last_rx < CHAT_SETTLE) {
		if (now > deadline)
			die("%zu of %zu members live after %.0f s", n_live,
			    n_total, CHAT_SETTLE_MAX);
		loop_turn(now + 0.05);
	}
	traffic_on = 1;
	for (i = 0; i < n_total; i++)
		conns[i].last_rx = now;
	for (i = 0; i < opt_publishers; i++) {
		conns[i].pub_next = now;
		if ((conns[i].pub_got = calloc(CHAT_RING,
		    sizeof(*conns[i].pub_got))) == NULL)
			die("out of memory");
	}
	run_until(now + opt_warmup);
	tasks_sample(0);
	snapshot_take(&s0);
	now = s0.t;
	chat_measuring = 1;
	run_until(s0.t + opt_seconds);
	chat_measuring = 0;
	snapshot_take(&s1);
	tasks_sample(1);
	secs = s1.t - s0.t;
	scpu = s1.server_cpu - s0.server_cpu;
	ccpu = s1.client_cpu - s0.client_cpu;
	dl = s1.deliveries - s0.deliveries;
	lines = s1.msgs - s0.msgs;
	if (dl == 0 || lat_count == 0)
		die("no line delivered in %.3f s", secs);
	if (printf("conns=%zu publishers=%llu lines=%llu deliveries=%llu "
	    "secs=%.6f server_cpu=%.6f client_cpu=%.6f deliveries_per_s=%.1f "
	    "deliveries_per_cpu_s=%.1f fanout=%.1f lat_p50_us=%.0f "
	    "lat_p99_us=%.0f lat_max_us=%.0f\n", n_total,
	    (unsigned long long)opt_publishers, (unsigned long long)lines,
	    (unsigned long long)dl, secs, scpu, ccpu, ratio((double)dl, secs),
	    ratio((double)dl, scpu), ratio((double)dl, (double)lines),
	    lat_quantile(0.50), lat_quantile(0.99),
	    (double)lat_max_ns / 1e3) < 0)
		die("stdout: %s", strerror(errno));
	/* A thread that ended in the window is left out. */
	for (i = 0; i < n_tasks; i++)
		if (tasks[i].t1 >= tasks[i].t0 && printf("%s%ld.%ld:%.3f",
		    i ? "," : "tasks=", tasks[i].pid, tasks[i].tid,
		    tasks[i].t1 - tasks[i].t0) < 0)
			die("stdout: %s", strerror(errno));
	for (i = 0; i < n_chat_nodes; i++)
		if (printf("%s%s:%u", i ? "," : n_tasks ? " nodes=" : "nodes=",
		    chat_nodes[i].name, chat_nodes[i].members) < 0)
			die("stdout: %s", strerror(errno));
	if ((n_tasks > 0 || n_chat_nodes > 0) && putchar('\n') == EOF)
		die("stdout: %s", strerror(errno));
}

static void
run_idle(void)
{
	long before, after, prev;
	double deadline;

	/* Libraries allocate on first use (pools, TLS contexts, hash
	 * tables): open some connections before the baseline. */
	open_all(IDLE_WARM_CONNS);
	run_until(now + 0.3);
	before = server_rss_kb();
	open_all(n_total);
	deadline = now + 3.0;
	prev = server_rss_kb();
	for (;;) {
		run_until(now + 0.2);
		after = server_rss_kb();
		if (after == prev || now >= deadline)
			break;
		prev = after;
	}
	if (printf("conns=%llu rss_before_kb=%ld rss_after_kb=%ld "
	    "bytes_per_conn=%.0f\n", (unsigned long long)opt_idle, before,
	    after, (double)(after - before) * 1024.0 / (double)opt_idle) < 0)
		die("stdout: %s", strerror(errno));
}

/* ---------- set-up ---------- */

static void
usage(void)
{
	fputs(
"usage: wsload --port P [--host 127.0.0.1] [--path /] [--raw] [--tls]\n"
"              [--conns N] [--inflight K] [--size S] [--type text|binary]\n"
"              [--seconds D] [--warmup W] [--server-pid PID]\n"
"       wsload --idle N --port P [--raw] [--tls] [--server-pid PID]\n"
"       wsload --broadcast N --port P [--size S] [--seconds D] [--warmup W]\n"
"              [--server-pid PID]\n"
"       wsload --chat N --port P [--port2 P2] [--publishers K] [--rate R]\n"
"              [--window W] [--seconds D] [--warmup W] [--server-pid PID,...]\n",
	    stderr);
	exit(1);
}

static uint64_t
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
	    v < min || v > max)
		die("%s: expected an integer in [%llu, %llu], got \"%s\"", opt,
		    (unsigned long long)min, (unsigned long long)max, s);
	return v;
}

static double
parse_secs(const char *opt, const char *s, double min)
{
	double v;
	char *end;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min) ||
	    v > 86400)
		die("%s: expected seconds >= %g, got \"%s\"", opt, min, s);
	return v;
}

/* "PID[,PID...]" */
static void
parse_pids(const char *opt, const char *v)
{
	char buf[256], *tok, *save;

	if (strlen(v) >= sizeof(buf))
		die("%s: too long", opt);
	memcpy(buf, v, strlen(v) + 1);
	n_pids = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (n_pids == MAX_PIDS)
			die("%s: at most %d PIDs", opt, MAX_PIDS);
		opt_pids[n_pids++] = (long)parse_u64(opt, tok, 1, INT_MAX);
	}
	if (n_pids == 0)
		die("%s: expected PID[,PID...]", opt);
	opt_pid = opt_pids[0];
}

static void
parse_args(int argc, char **argv)
{
	const char *o, *v;
	int i;

	for (i = 1; i < argc; i++) {
		o = argv[i];
		if (strcmp(o, "--raw") == 0) {
			opt_raw = 1;
			continue;
		}
		if (strcmp(o, "--tls") == 0) {
			opt_tls = 1;
			continue;
		}
		if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0)
			usage();
		if (i + 1 >= argc) {
			fprintf(stderr, "wsload: %s: missing value or unknown "
			    "option\n", o);
			usage();
		}
		v = argv[++i];
		if (strcmp(o, "--port") == 0)
			opt_port = (int)parse_u64(o, v, 1, 65535);
		else if (strcmp(o, "--host") == 0)
			opt_host = v;
		else if (strcmp(o, "--path") == 0)
			opt_path = v;
		else if (strcmp(o, "--conns") == 0)
			opt_conns = parse_u64(o, v, 1, 1000000);
		else if (strcmp(o, "--inflight") == 0)
			opt_inflight = parse_u64(o, v, 1, 1000000);
		else if (strcmp(o, "--size") == 0)
			opt_size = parse_u64(o, v, 0, MAX_SIZE);
		else if (strcmp(o, "--type") == 0) {
			if (strcmp(v, "text") == 0)
				opt_binary = 0;
			else if (strcmp(v, "binary") == 0)
				opt_binary = 1;
			else
				die("--type: expected text or binary");
		} else if (strcmp(o, "--seconds") == 0)
			opt_seconds = parse_secs(o, v, 0.001);
		else if (strcmp(o, "--warmup") == 0)
			opt_warmup = parse_secs(o, v, 0);
		else if (strcmp(o, "--server-pid") == 0)
			parse_pids(o, v);
		else if (strcmp(o, "--idle") == 0)
			opt_idle = parse_u64(o, v, 1, 10000000);
		else if (strcmp(o, "--broadcast") == 0)
			opt_broadcast = parse_u64(o, v, 1, 1000000);
		else if (strcmp(o, "--chat") == 0)
			opt_chat = parse_u64(o, v, 1, 1000000);
		else if (strcmp(o, "--port2") == 0)
			opt_port2 = (int)parse_u64(o, v, 1, 65535);
		else if (strcmp(o, "--publishers") == 0)
			opt_publishers = parse_u64(o, v, 1, 1000000);
		else if (strcmp(o, "--rate") == 0)
			opt_rate = parse_secs(o, v, 0);
		else if (strcmp(o, "--window") == 0)
			opt_window = parse_u64(o, v, 1, CHAT_RING);
		else {
			fprintf(stderr, "wsload: unknown option %s\n", o);
			usage();
		}
	}
	if (opt_port < 0)
		die("--port is required");
	if ((opt_idle != 0) + (opt_broadcast != 0) + (opt_chat != 0) > 1)
		die("--idle, --broadcast and --chat exclude each other");
	if (opt_chat && (opt_raw || opt_tls))
		die("--chat is WebSocket without TLS");
	if (opt_port2 >= 0 && !opt_chat)
		die("--port2 needs --chat");
	if (opt_chat && opt_publishers > opt_chat)
		die("--publishers: at most --chat");
	if (opt_path[0] != '/' || strlen(opt_path) > MAX_PATH_LEN ||
	    strpbrk(opt_path, " \r\n\t") != NULL)
		die("--path: expected an absolute path without spaces");
	if (opt_raw && opt_size == 0)
		die("--size must be at least 1 with --raw");
	if (opt_idle) {
		mode = MODE_IDLE;
		n_total = IDLE_WARM_CONNS + opt_idle;
	} else if (opt_broadcast) {
		mode = MODE_BROADCAST;
		n_total = opt_broadcast;
		opt_inflight = 1;
	} else if (opt_chat) {
		mode = MODE_CHAT;
		n_total = opt_chat;
		if (strcmp(opt_path, "/") == 0)
			opt_path = "/ws";
		opt_size = CHAT_MSG_MAX;	/* the longest message taken */
		opt_inflight = 1;
	} else {
		n_total = opt_conns;
	}
}

static void
raise_nofile(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)n_total + FD_SLACK;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		die("%zu connections need %llu file descriptors; the hard "
		    "RLIMIT_NOFILE is %llu (raise it with ulimit -Hn)",
		    n_total, (unsigned long long)need,
		    (unsigned long long)rl.rlim_max);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need :
		    rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			die("setrlimit: %s", strerror(errno));
	}
}

static void
resolve_one(int portno, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints, *res;
	char port[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", portno);
	if ((r = getaddrinfo(opt_host, port, &hints, &res)) != 0)
		die("%s: %s", opt_host, gai_strerror(r));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
}

static void
resolve(void)
{
	resolve_one(opt_port, &peer, &peer_len);
	if (opt_port2 >= 0)
		resolve_one(opt_port2, &peer2, &peer2_len);
	snprintf(host_header, sizeof(host_header),
	    strchr(opt_host, ':') != NULL ? "[%.256s]:%d" : "%.256s:%d",
	    opt_host, opt_port);
}

static void
setup(void)
{
	uint64_t per, i;
	size_t k;

	rng_seed();
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die("signal: %s", strerror(errno));
	resolve();
	raise_nofile();
	if (opt_pid > 0) {
		/* Fail now, not after the warm-up. */
		(void)server_cpu();
		(void)server_rss_kb();
	}
	ws_opcode = opt_binary ? 0x2 : 0x1;
	ws_hlen = 2 + (opt_size < 126 ? 0 : opt_size < 65536 ? 2 : 8) + 4;
	if (mode == MODE_IDLE) {
		rcap = 4096;
		wcap = 2048;
	} else {
		per = opt_inflight * (opt_size + ws_hlen);
		rcap = per < RBUF_MIN ? RBUF_MIN : per > BUF_MAX ? BUF_MAX :
		    (size_t)per;
		wcap = per < WBUF_MIN ? WBUF_MIN : per > BUF_MAX ? BUF_MAX :
		    (size_t)per;
	}
	if (wcap < MAX_PATH_LEN + 512)
		wcap = MAX_PATH_LEN + 512;
	if ((tmpl = malloc(opt_size > 0 ? opt_size : 1)) == NULL)
		die("out of memory");
	for (i = 0; i < opt_size; i++) {
		/* Text: printable ASCII, valid UTF-8 (RFC 6455 §5.6). */
		if (opt_binary)
			tmpl[i] = (unsigned char)(rng_next() >> 56);
		else
			tmpl[i] = (unsigned char)(' ' +
			    (rng_next() >> 32) % 95);
	}
	if ((conns = calloc(n_total, sizeof(*conns))) == NULL ||
	    (dirty = calloc(n_total, sizeof(*dirty))) == NULL ||
	    (dirty_spare = calloc(n_total, sizeof(*dirty))) == NULL)
		die("out of memory");
	for (k = 0; k < n_total; k++) {
		conns[k].fd = -1;
		conns[k].idx = (unsigned)k;
	}
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	if (opt_tls) {
		if ((ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			die("SSL_CTX_new failed");
		/* A benchmark against a self-signed test certificate. */
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
		    (mode == MODE_IDLE ? SSL_MODE_RELEASE_BUFFERS : 0));
	}
	now = last_check = mono();
}

static void
teardown(void)
{
	size_t i;

	for (i = 0; i < n_total; i++) {
		SSL_free(conns[i].ssl);
		if (conns[i].fd != -1 && close(conns[i].fd) == -1)
			die("close: %s", strerror(errno));
		free(conns[i].rbuf);
		free(conns[i].wbuf);
		free(conns[i].msg);
		free(conns[i].pub_got);
	}
	free(conns);
	free(dirty);
	free(dirty_spare);
	free(tmpl);
	free(lat_hist);
	SSL_CTX_free(ssl_ctx);
	if (epfd != -1)
		close(epfd);
}

int
main(int argc, char **argv)
{
	parse_args(argc, argv);
	setup();
	switch (mode) {
	case MODE_ECHO:
		run_echo();
		break;
	case MODE_IDLE:
		run_idle();
		break;
	case MODE_BROADCAST:
		run_broadcast();
		break;
	case MODE_CHAT:
		run_chat();
		break;
	}
	if (fflush(stdout) == EOF)
		die("stdout: %s", strerror(errno));
	teardown();
	return 0;
}
