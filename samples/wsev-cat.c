/*
 * wsev-cat: a WebSocket client on the command line, like websocat.
 *
 *   wsev-cat [options] URL
 *
 * Sends each line of standard input as a text message (or all of standard
 * input as one binary message with --binary), prints every message it
 * receives on standard output (text messages followed by a newline), and
 * closes cleanly at the end of input. With --echo it reads no input: it
 * sends every message back with its type and exits when the server closes
 * (the client side of a conformance run).
 *
 * Exit status: 0 after a normal close (1000, or 1001 from the server);
 * 1 with a one-line reason on stderr otherwise; 2 for bad usage.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include <wsev/wsev.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

#define MAX_LIST 32

static struct event_base *base;
static struct wsev_connection *conn;
static struct event *stdin_ev;
static struct evbuffer *input;
static int binary, echo_mode, input_done, status = 1, stdin_flags = -1;
static char reason[300] = "connection ended";

static void
send_lines(int at_eof)
{
	struct evbuffer_ptr eol;
	char *line;
	size_t n;

	if (binary) {
		if (at_eof) {
			n = evbuffer_get_length(input);
			wsev_connection_send_binary(conn,
			    evbuffer_pullup(input, -1), n);
			evbuffer_drain(input, n);
		}
		return;
	}
	while ((eol = evbuffer_search(input, "\n", 1, NULL)).pos >= 0 ||
	    (at_eof && evbuffer_get_length(input) > 0)) {
		n = eol.pos >= 0 ? (size_t)eol.pos : evbuffer_get_length(input);
		line = malloc(n + 1);
		evbuffer_remove(input, line, n);
		line[n] = '\0';
		if (eol.pos >= 0)
			evbuffer_drain(input, 1);
		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
		/* Once a close is under way the rest of the input is moot. */
		if (wsev_connection_get_state(conn) == WSEV_STATE_OPEN &&
		    wsev_connection_send_text(conn, line) < 0)
			fprintf(stderr, "wsev-cat: line not sent: not UTF-8\n");
		free(line);
	}
}

static void
end_of_input(void)
{
	input_done = 1;
	if (stdin_ev)
		event_del(stdin_ev);
	if (conn && wsev_connection_get_state(conn) == WSEV_STATE_OPEN) {
		send_lines(1);
		wsev_connection_close(conn, WSEV_CLOSE_NORMAL, NULL);
	}
}

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	int n;

	(void)what;
	(void)arg;
	n = evbuffer_read(input, fd, 65536);
	if (n <= 0) {
		end_of_input();
		return;
	}
	if (conn)
		send_lines(0);
}

static void
on_message(struct wsev_connection *c, enum wsev_data_type type,
    const void *data, size_t len, void *arg)
{
	(void)arg;
	if (echo_mode) {
		/* With its length: a text message may hold U+0000. */
		wsev_connection_send_message(c, type, data, len);
		return;
	}
	fwrite(data, 1, len, stdout);
	if (type == WSEV_DATA_TEXT)
		fputc('\n', stdout);
	fflush(stdout);
}

static void
on_error(struct wsev_connection *c, const struct wsev_error *err, void *arg)
{
	(void)c;
	(void)arg;
	snprintf(reason, sizeof(reason), "%s", err->message);
}

static void
on_closed(struct wsev_connection *c, void *arg)
{
	unsigned short code = wsev_connection_get_close_code(c);
	const char *data = wsev_connection_get_close_data(c);

	(void)arg;
	if (code == WSEV_CLOSE_NORMAL || code == WSEV_CLOSE_GOING_AWAY ||
	    (echo_mode && code == WSEV_CLOSE_NO_STATUS)) {
		status = 0;
	} else if (code != WSEV_CLOSE_ABNORMAL) {
		char *p;

		snprintf(reason, sizeof(reason), "closed with code %u%s%s", code,
		    data && *data ? ": " : "", data ? data : "");
		/* The peer's reason, on one line and without escapes. */
		for (p = reason; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7F)
				*p = ' ';
	}
	wsev_connection_free(c);
	conn = NULL;
	event_base_loopexit(base, NULL);
}

static void
on_connected(struct wsev_connection *c, const struct wsev_error *err,
    void *arg)
{
	static const struct wsev_callbacks cbs = {
		.message = on_message, .error = on_error, .closed = on_closed
	};

	(void)arg;
	if (!c) {
		snprintf(reason, sizeof(reason), "%s", err->message);
		event_base_loopexit(base, NULL);
		return;
	}
	conn = c;
	wsev_connection_set_callbacks(c, &cbs, NULL);
	if (echo_mode)
		return;
	if (input_done)
		end_of_input();
	else
		send_lines(0);
}

/* wsev-cat reports its own errors, once; libevent's warnings (a stdin
 * that cannot be polled, say) would only repeat them. */
static void
quiet_log(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: wsev-cat [--binary] [--echo] [--protocol NAME]... "
	    "[--origin ORIGIN]\n"
	    "                [--header 'Name: value']... [--cafile FILE] "
	    "[--insecure]\n"
	    "                [--max-payload BYTES] [--timeout SECONDS]\n"
	    "                [--keepalive SECONDS] [--pong-timeout SECONDS]\n"
	    "                [--no-deflate] [--deflate-client-no-context-takeover]\n"
	    "                [--deflate-server-no-context-takeover]\n"
	    "                [--deflate-server-max-window-bits N]\n"
	    "                [--deflate-client-max-window-bits N] URL\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *protocols[MAX_LIST + 1] = { NULL }, *headers[MAX_LIST + 1] =
	    { NULL };
	struct wsev_connect_options o;
	struct wsev_connection_options co;
	struct wsev_connect_request *req;
	struct wsev_error err;
	struct evdns_base *dns;
	struct timeval timeout = { 30, 0 };
	const char *url = NULL;
	int np = 0, nh = 0, i;

	wsev_connect_options_init(&o);
	wsev_connection_options_init(&co);
	o.connection = &co;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		int more = i + 1 < argc;

		if (!strcmp(a, "--binary"))
			binary = 1;
		else if (!strcmp(a, "--echo"))
			echo_mode = 1;
		else if (!strcmp(a, "--insecure"))
			o.insecure = 1;
		else if (!strcmp(a, "--protocol") && more && np < MAX_LIST)
			protocols[np++] = argv[++i];
		else if (!strcmp(a, "--header") && more && nh < MAX_LIST)
			headers[nh++] = argv[++i];
		else if (!strcmp(a, "--origin") && more)
			o.origin = argv[++i];
		else if (!strcmp(a, "--cafile") && more)
			o.ca_file = argv[++i];
		else if (!strcmp(a, "--max-payload") && more)
			co.max_incoming_payload_size = strtoull(argv[++i], NULL,
			    10);
		else if (!strcmp(a, "--keepalive") && more)
			co.keepalive_interval = (unsigned)atoi(argv[++i]);
		else if (!strcmp(a, "--pong-timeout") && more)
			co.keepalive_pong_timeout = (unsigned)atoi(argv[++i]);
		else if (!strcmp(a, "--no-deflate"))
			co.deflate.enabled = 0;
		else if (!strcmp(a, "--deflate-client-no-context-takeover"))
			co.deflate.client_no_context_takeover = 1;
		else if (!strcmp(a, "--deflate-server-no-context-takeover"))
			co.deflate.server_no_context_takeover = 1;
		else if (!strcmp(a, "--deflate-server-max-window-bits") && more)
			co.deflate.server_max_window_bits = atoi(argv[++i]);
		else if (!strcmp(a, "--deflate-client-max-window-bits") && more)
			co.deflate.client_max_window_bits = atoi(argv[++i]);
		else if (!strcmp(a, "--timeout") && more)
			timeout.tv_sec = atol(argv[++i]);
		else if (a[0] == '-' || url)
			return usage();
		else
			url = a;
	}
	if (!url)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(quiet_log);
	o.protocols = np ? protocols : NULL;
	o.headers = nh ? headers : NULL;
	o.timeout = &timeout;
	o.error = &err;

	base = event_base_new();
	dns = base ? evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS) : NULL;
	input = evbuffer_new();
	if (!base || !input) {
		fprintf(stderr, "wsev-cat: out of memory\n");
		return 1;
	}
	if (!echo_mode) {
		/* stdin may be shared with the shell: its flags come back at
		 * exit. */
		stdin_flags = fcntl(0, F_GETFL);
		evutil_make_socket_nonblocking(0);
		stdin_ev = event_new(base, 0, EV_READ | EV_PERSIST, on_stdin, NULL);
		if (!stdin_ev || event_add(stdin_ev, NULL) < 0) {
			/* A regular file cannot be polled: read it now. */
			while (evbuffer_read(input, 0, 65536) > 0)
				;
			input_done = 1;
		}
	}
	req = wsev_connect(base, dns, url, &o, on_connected, NULL);
	if (!req) {
		if (stdin_flags != -1)
			fcntl(0, F_SETFL, stdin_flags);
		fprintf(stderr, "wsev-cat: %s\n", err.message);
		return 1;
	}
	event_base_dispatch(base);
	if (stdin_flags != -1)
		fcntl(0, F_SETFL, stdin_flags);
	if (status != 0)
		fprintf(stderr, "wsev-cat: %s\n", reason);
	wsev_connection_free(conn);
	if (stdin_ev)
		event_free(stdin_ev);
	evbuffer_free(input);
	if (dns)
		evdns_base_free(dns, 0);
	event_base_free(base);
	return status;
}
