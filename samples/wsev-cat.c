/*
 * wsev-cat: WebSocket on the command line, like websocat and wscat.
 *
 *   wsev-cat [options] URL                  a client
 *   wsev-cat [options] --listen [ADDR:]PORT a server
 *
 * Sends each line of standard input as a text message (or, with --binary,
 * the input as one binary message, or --chunk BYTES at a time), prints
 * every message it receives on standard output (text messages followed by
 * a newline), and at the end of input waits for as many messages as it
 * sent (the echoes, --linger seconds at most) before it closes with 1000.
 * --help lists every option; the man page (wsev-cat.1) explains them.
 *
 * Exit status: 0 after a normal close (1000, or 1001 from the peer);
 * 1 with a one-line reason on stderr otherwise (the close code and reason
 * when the peer sent another code); 2 for bad usage.
 *
 * This file: the options, the input split into messages, the output, the
 * exit status. cat.h says where the rest is.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "cat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help_text[] =
    "usage: wsev-cat [options] URL                    connect to a server\n"
    "       wsev-cat [options] --listen [ADDR:]PORT   serve ws:// (wss://)\n"
    "\n"
    "Input (standard input, one text message per line):\n"
    "  --binary [FILE|-]   send FILE (or stdin) as one binary message\n"
    "  --chunk BYTES       send binary messages of BYTES as input comes\n"
    "  --echo              read no input; send every message back (with\n"
    "                      --listen: to any number of clients)\n"
    "  --linger SECONDS    at the end of input wait this long at most for\n"
    "                      as many messages as were sent (default 3; 0: no)\n"
    "Output (standard output, each message; text with a newline):\n"
    "  --count N           exit after N messages\n"
    "  --show-close        print the peer's close code and reason (stderr)\n"
    "Connection:\n"
    "  --protocol NAME     offer (accept) a subprotocol; repeatable\n"
    "  --max-payload BYTES largest incoming frame (default 131072; 0: any)\n"
    "  --ping-interval S   ping every S seconds (also --keepalive)\n"
    "  --pong-timeout S    fail with 1008 if a pong takes longer\n"
    "  --no-deflate        no permessage-deflate\n"
    "  --deflate-client-no-context-takeover\n"
    "  --deflate-server-no-context-takeover\n"
    "  --deflate-server-max-window-bits N, --deflate-client-max-window-bits N\n"
    "Client:\n"
    "  --origin ORIGIN, --header 'Name: value' (repeatable)\n"
    "  --cafile FILE       trust these CAs too (wss://)\n"
    "  --insecure          no certificate check (testing only)\n"
    "  --timeout SECONDS   to connect (default 30)\n"
    "  --proxy URL         through a proxy: http://[user:pass@]host:port\n"
    "                      (CONNECT), https://..., socks5://, socks5h://;\n"
    "                      without it, wss_proxy/https_proxy, ws_proxy/\n"
    "                      http_proxy, all_proxy and no_proxy as curl reads\n"
    "                      them\n"
    "  --no-proxy          ignore those variables: connect directly\n"
    "  --reconnect         when the connection drops, connect again (backoff\n"
    "                      with jitter) and go on reading the input\n"
    "Server:\n"
    "  --listen [ADDR:]PORT  serve on ADDR (default 127.0.0.1), path /;\n"
    "                      port 0 picks one; one client at a time\n"
    "  --broadcast         serve many clients, send the input to all\n"
    "  --tls CERT KEY      serve wss:// with this PEM certificate and key\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 after a normal close (1000, or 1001 from the peer),\n"
    "1 on an error (the reason, or the close code, on stderr), 2 for bad\n"
    "usage. See wsev-cat(1).\n";

void
cat_say(const char *fmt, ...)
{
	va_list ap;

	fputs("wsev-cat: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---------------------------------------------------------------- input */

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct cat *c = arg;
	int n;

	(void)what;
	n = evbuffer_read(c->input, fd, 65536);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->input_done = 1;
		event_del(c->stdin_ev);
	}
	c->on_input(c->input_arg);
}

/* Standard input (or --binary FILE) readied: polled when it can be (a
 * pipe, a terminal, a socket), else (a regular file) read whole now. */
static int
input_open(struct cat *c)
{
	if (c->binary_file && strcmp(c->binary_file, "-") != 0) {
		int fd = open(c->binary_file, O_RDONLY);

		if (fd < 0 || dup2(fd, 0) < 0) {
			snprintf(c->reason, sizeof(c->reason), "%s: %s",
			    c->binary_file, strerror(errno));
			return -1;
		}
		close(fd);
	}
	/* stdin may be shared with the shell: its flags come back at exit. */
	c->stdin_flags = fcntl(0, F_GETFL);
	evutil_make_socket_nonblocking(0);
	c->stdin_ev = event_new(c->base, 0, EV_READ | EV_PERSIST, on_stdin, c);
	if (!c->stdin_ev || event_add(c->stdin_ev, NULL) < 0) {
		int n;

		event_free(c->stdin_ev);
		c->stdin_ev = NULL;
		while ((n = evbuffer_read(c->input, 0, 65536)) > 0)
			;
		if (n < 0 && errno != EAGAIN) {
			snprintf(c->reason, sizeof(c->reason),
			    "standard input: %s", strerror(errno));
			return -1;
		}
		c->input_done = 1;
	}
	return 0;
}

void
cat_input_pause(struct cat *c, int pause)
{
	if (!c->stdin_ev || c->input_done || c->paused == pause)
		return;
	c->paused = pause;
	if (pause)
		event_del(c->stdin_ev);
	else
		event_add(c->stdin_ev, NULL);
}

enum wsev_data_type
cat_input_type(const struct cat *c)
{
	return c->binary || c->chunk ? WSEV_DATA_BINARY : WSEV_DATA_TEXT;
}

/* Everything read has been taken, and there is no more. */
int
cat_input_finished(const struct cat *c)
{
	if (!c->input_done)
		return 0;
	if (c->binary && !c->chunk)
		return c->binary_taken;
	return evbuffer_get_length(c->input) == 0;
}

/*
 * Move the next whole message of the input into @p msg (emptied first):
 * a line without its '\n', a chunk, or (--binary) all of the input once it
 * ended. 1 if there was one, 0 if not (yet), -1 if memory ran out.
 */
int
cat_input_take(struct cat *c, struct evbuffer *msg)
{
	size_t have = evbuffer_get_length(c->input), n;
	struct evbuffer_ptr from, eol;

	evbuffer_drain(msg, evbuffer_get_length(msg));
	if (c->chunk) {
		if (have == 0 || (have < c->chunk && !c->input_done))
			return 0;
		n = have < c->chunk ? have : c->chunk;
	} else if (c->binary) {
		if (!c->input_done || c->binary_taken)
			return 0;
		c->binary_taken = 1;
		return evbuffer_add_buffer(msg, c->input) == 0 ? 1 : -1;
	} else {
		/* A long line arrives in many reads: search only the new part. */
		evbuffer_ptr_set(c->input, &from, c->scanned, EVBUFFER_PTR_SET);
		eol = evbuffer_search(c->input, "\n", 1, &from);
		if (eol.pos < 0) {
			c->scanned = have;
			if (!c->input_done || have == 0)
				return 0;
			n = have;
		} else {
			n = (size_t)eol.pos;
		}
		c->scanned = 0;
	}
	if (evbuffer_remove_buffer(c->input, msg, n) != (int)n)
		return -1;
	if (!c->chunk && n < have)
		evbuffer_drain(c->input, 1);	/* the '\n' */
	return 1;
}

/*
 * Send a message taken from the input: text without a trailing '\r'
 * (CRLF input). The wsev_result; a line that is not UTF-8 is skipped with
 * a warning (the connection goes on).
 */
int
cat_send(struct cat *c, struct wsev_connection *conn, struct evbuffer *msg)
{
	enum wsev_data_type type = cat_input_type(c);
	size_t len = evbuffer_get_length(msg);
	const char *data = (const char *)evbuffer_pullup(msg, -1);
	int rc;

	if (len && !data)
		return WSEV_ERR_NOMEM;
	if (type == WSEV_DATA_TEXT && len > 0 && data[len - 1] == '\r')
		len--;
	/* With its length: a line may hold U+0000. */
	rc = wsev_connection_send_message(conn, type, data, len);
	if (rc == WSEV_ERR_BAD_UTF8)
		cat_say("line not sent: not UTF-8");
	return rc;
}

/* ---------------------------------------------------------------- output */

/* Print a message; 1 once --count messages were printed or the output
 * failed (the caller ends), else 0. */
int
cat_print(struct cat *c, enum wsev_data_type type, const void *data,
    size_t len)
{
	/* After the count, the close is under way: what still comes in is
	 * not printed. */
	if (c->count && c->received >= c->count)
		return 1;
	fwrite(data, 1, len, stdout);
	if (type == WSEV_DATA_TEXT)
		fputc('\n', stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (!c->output_failed)
			snprintf(c->reason, sizeof(c->reason),
			    "standard output: %s", strerror(errno));
		c->output_failed = 1;
		return 1;
	}
	c->received++;
	return c->count && c->received >= c->count;
}

/*
 * The outcome of a closed connection: 0 for a normal close (1000, 1001;
 * 1005 in --echo, where the peer drives), else 1 with c->reason set
 * ("closed with code N: reason", or the error already there for 1006).
 * --show-close prints the peer's code and reason; an error prints them
 * once, at exit.
 */
int
cat_close_status(struct cat *c, struct wsev_connection *conn)
{
	unsigned short code = wsev_connection_get_close_code(conn);
	const char *data = wsev_connection_get_close_data(conn);
	char line[sizeof(c->reason)], *p;
	int bad;

	if (code == WSEV_CLOSE_ABNORMAL || c->output_failed)
		return 1;
	snprintf(line, sizeof(line), "closed with code %u%s%s", code,
	    data && *data ? ": " : "", data ? data : "");
	/* The peer's reason, on one line and without escapes. */
	for (p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = ' ';
	bad = !(code == WSEV_CLOSE_NORMAL || code == WSEV_CLOSE_GOING_AWAY ||
	    (c->echo_mode && code == WSEV_CLOSE_NO_STATUS));
	if (bad)
		memcpy(c->reason, line, sizeof(line));
	else if (c->show_close)
		cat_say("%s", line);
	return bad;
}

/* ---------------------------------------------------------------- options */

/* wsev-cat reports its own errors, once; libevent's warnings (a stdin
 * that cannot be polled, say) would only repeat them. */
static void
quiet_log(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

static int
usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "wsev-cat: %s%s%s\nTry 'wsev-cat --help'.\n", what,
	    arg ? ": " : "", arg ? arg : "");
	return 2;
}

/* A whole decimal number or a usage error (-1). */
static int
number(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno || *end || *out > max ? -1 : 0;
}

static int
seconds(const char *s, struct timeval *tv)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || *end || end == s || !(d >= 0 && d <= 86400))
		return -1;
	tv->tv_sec = (time_t)d;
	tv->tv_usec = (suseconds_t)((d - (double)tv->tv_sec) * 1e6);
	return 0;
}

/*
 * Parse argv into @p c: 0 to run, 2 after a usage error (said), -1 after
 * --help or --version (exit 0). One branch per option: a new one is one
 * more "else if".
 */
static int
parse_options(struct cat *c, int argc, char **argv)
{
	struct wsev_connect_options *o = &c->connect;
	struct wsev_connection_options *co = &c->conn;
	unsigned long long v;
	int np = 0, nh = 0, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

#define VALUE(what)							\
		do {							\
			if (!val)					\
				return usage_error("missing " what " after", a); \
			i++;						\
		} while (0)
#define NUMBER(what, max)						\
		do {							\
			VALUE(what);					\
			if (number(val, (max), &v) < 0)			\
				return usage_error("not a " what, val);	\
		} while (0)
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(help_text, stdout);
			return -1;
		} else if (!strcmp(a, "--version")) {
			printf("wsev-cat (wsev) %s, libevent %s\n",
			    wsev_get_version(), event_get_version());
			return -1;
		} else if (!strcmp(a, "--binary")) {
			c->binary = 1;
			/* An optional FILE or "-": never the URL. */
			if (val && (!strcmp(val, "-") ||
			    (val[0] != '-' && !strstr(val, "://"))))
				c->binary_file = argv[++i];
		} else if (!strcmp(a, "--chunk")) {
			NUMBER("number of bytes", (size_t)-1 / 2);
			if (v == 0)
				return usage_error("--chunk must be > 0", NULL);
			c->chunk = (size_t)v;
		} else if (!strcmp(a, "--echo")) {
			c->echo_mode = 1;
		} else if (!strcmp(a, "--linger") || !strcmp(a, "--wait")) {
			VALUE("number of seconds");
			if (seconds(val, &c->linger) < 0)
				return usage_error("not a number of seconds", val);
		} else if (!strcmp(a, "--count")) {
			NUMBER("number", (unsigned long)-1);
			c->count = (unsigned long)v;
		} else if (!strcmp(a, "--show-close")) {
			c->show_close = 1;
		} else if (!strcmp(a, "--reconnect")) {
			c->reconnect = 1;
		} else if (!strcmp(a, "--listen")) {
			VALUE("[ADDR:]PORT");
			c->listen = val;
		} else if (!strcmp(a, "--broadcast")) {
			c->broadcast = 1;
		} else if (!strcmp(a, "--tls")) {
			if (i + 2 >= argc)
				return usage_error("--tls needs CERT and KEY", NULL);
			c->cert = argv[++i];
			c->key = argv[++i];
		} else if (!strcmp(a, "--insecure")) {
			o->insecure = 1;
		} else if (!strcmp(a, "--proxy")) {
			VALUE("URL");
			o->proxy = val;
		} else if (!strcmp(a, "--no-proxy")) {
			o->proxy_from_env = 0;
		} else if (!strcmp(a, "--protocol")) {
			VALUE("name");
			if (np == CAT_MAX_LIST)
				return usage_error("too many", a);
			c->protocols[np++] = val;
		} else if (!strcmp(a, "--header")) {
			VALUE("header");
			if (nh == CAT_MAX_LIST)
				return usage_error("too many", a);
			c->headers[nh++] = val;
		} else if (!strcmp(a, "--origin")) {
			VALUE("origin");
			o->origin = val;
		} else if (!strcmp(a, "--cafile")) {
			VALUE("file");
			o->ca_file = val;
		} else if (!strcmp(a, "--max-payload")) {
			NUMBER("number of bytes", (unsigned long long)-1);
			co->max_incoming_payload_size = v;
		} else if (!strcmp(a, "--keepalive") ||
		    !strcmp(a, "--ping-interval")) {
			NUMBER("number of seconds", 86400);
			co->keepalive_interval = (unsigned)v;
		} else if (!strcmp(a, "--pong-timeout")) {
			NUMBER("number of seconds", 86400);
			co->keepalive_pong_timeout = (unsigned)v;
		} else if (!strcmp(a, "--no-deflate")) {
			co->deflate.enabled = 0;
		} else if (!strcmp(a, "--deflate-client-no-context-takeover")) {
			co->deflate.client_no_context_takeover = 1;
		} else if (!strcmp(a, "--deflate-server-no-context-takeover")) {
			co->deflate.server_no_context_takeover = 1;
		} else if (!strcmp(a, "--deflate-server-max-window-bits")) {
			NUMBER("number", 15);
			co->deflate.server_max_window_bits = (int)v;
		} else if (!strcmp(a, "--deflate-client-max-window-bits")) {
			NUMBER("number", 15);
			co->deflate.client_max_window_bits = (int)v;
		} else if (!strcmp(a, "--timeout")) {
			NUMBER("number of seconds", 86400);
			c->timeout.tv_sec = (time_t)v;
		} else if (a[0] == '-' && a[1] != '\0') {
			return usage_error("unknown option", a);
		} else if (c->url) {
			return usage_error("one URL only; extra argument", a);
		} else {
			c->url = a;
		}
#undef NUMBER
#undef VALUE
	}
	if (c->listen && c->url)
		return usage_error("a URL or --listen, not both", NULL);
	if (!c->listen && !c->url)
		return usage_error("no URL (or --listen [ADDR:]PORT)", NULL);
	if (c->cert && !c->listen)
		return usage_error("--tls is for --listen; a client takes wss://",
		    NULL);
	if (c->broadcast && !c->listen)
		return usage_error("--broadcast is for --listen", NULL);
	if (c->reconnect && c->listen)
		return usage_error("--reconnect is for a client", NULL);
	o->protocols = np ? c->protocols : NULL;
	o->headers = nh ? c->headers : NULL;
	o->timeout = &c->timeout;
	o->connection = co;
	return 0;
}

int
main(int argc, char **argv)
{
	struct cat c;
	int rc;

	memset(&c, 0, sizeof(c));
	wsev_connect_options_init(&c.connect);
	c.connect.proxy_from_env = 1;	/* as curl: --no-proxy to ignore */
	wsev_connection_options_init(&c.conn);
	c.timeout.tv_sec = 30;
	c.linger.tv_sec = 3;
	c.stdin_flags = -1;
	c.status = 1;
	snprintf(c.reason, sizeof(c.reason), "connection ended");
	rc = parse_options(&c, argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;

	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(quiet_log);
	c.base = event_base_new();
	c.input = evbuffer_new();
	if (!c.base || !c.input) {
		cat_say("out of memory");
		return 1;
	}
	if (c.echo_mode || input_open(&c) == 0)
		c.status = c.listen ? cat_server_run(&c) : cat_client_run(&c);
	if (c.stdin_flags != -1)
		fcntl(0, F_SETFL, c.stdin_flags);
	if (c.status != 0)
		cat_say("%s", c.reason);
	if (c.stdin_ev)
		event_free(c.stdin_ev);
	evbuffer_free(c.input);
	event_base_free(c.base);
	return c.status;
}
