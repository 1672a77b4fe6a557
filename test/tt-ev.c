/*
 * Test helpers that need libevent and OpenSSL.
 *
 * Copyright (c) 2026 the wsev developers. BSD-3-Clause, see COPYING.
 */
#include "tt-ev.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct tt_watch *w = arg;

	(void)fd;
	(void)what;
	w->timed_out = 1;
	event_base_loopbreak(w->base);
}

int
tt_watch_init(struct tt_watch *w, struct event_base *base)
{
	w->base = base;
	w->timed_out = 0;
	w->ev = evtimer_new(base, on_watchdog, w);
	return w->ev ? 0 : -1;
}

void
tt_watch_free(struct tt_watch *w)
{
	if (w->ev)
		event_free(w->ev);
	w->ev = NULL;
}

void
tt_watch_arm(struct tt_watch *w, int secs)
{
	struct timeval tv = { secs, 0 };

	w->timed_out = 0;
	evtimer_add(w->ev, &tv);
}

void
tt_watch_disarm(struct tt_watch *w)
{
	evtimer_del(w->ev);
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

int
tt_tls_make(SSL_CTX **server, SSL_CTX **client, char *ca_path, size_t ca_len)
{
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	EVP_PKEY *pkey = NULL;
	X509 *x = X509_new();
	FILE *f;
	int fd, rv = -1;

	*server = NULL;
	if (client)
		*client = NULL;
	if (!kctx || !x || EVP_PKEY_keygen_init(kctx) <= 0 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx,
	    NID_X9_62_prime256v1) <= 0 || EVP_PKEY_keygen(kctx, &pkey) <= 0)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pkey);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (!add_ext(x, NID_subject_alt_name, "DNS:localhost") ||
	    !add_ext(x, NID_basic_constraints, "CA:TRUE") ||
	    !X509_sign(x, pkey, EVP_sha256()))
		goto out;
	*server = SSL_CTX_new(TLS_server_method());
	if (!*server || SSL_CTX_use_certificate(*server, x) != 1 ||
	    SSL_CTX_use_PrivateKey(*server, pkey) != 1)
		goto out;
	if (client && !(*client = SSL_CTX_new(TLS_client_method())))
		goto out;
	if (ca_path) {
		snprintf(ca_path, ca_len, "/tmp/wsev-ca-XXXXXX");
		fd = mkstemp(ca_path);
		if (fd < 0 || !(f = fdopen(fd, "w")))
			goto out;
		if (PEM_write_X509(f, x) != 1) {
			fclose(f);
			goto out;
		}
		fclose(f);
	}
	rv = 0;
out:
	X509_free(x);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(kctx);
	return rv;
}

int
tt_bound_port(evutil_socket_t fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	return ntohs(sin.sin_port);
}

void
tt_put_frame(struct evbuffer *out, int fin, int rsv, int op,
    const uint8_t *key, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t h[14], *m;
	size_t n = 2, i;

	h[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv << 4) | op);
	if (len < 126) {
		h[1] = (uint8_t)len;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		n = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		n = 10;
	}
	if (key) {
		h[1] |= 0x80;
		memcpy(h + n, key, 4);
		n += 4;
	}
	evbuffer_add(out, h, n);
	m = malloc(len + 1);
	for (i = 0; i < len; i++)
		m[i] = p[i] ^ (key ? key[i & 3] : 0);
	evbuffer_add(out, m, len);
	free(m);
}

int
tt_take_frame(struct evbuffer *in, struct tt_frame *f)
{
	size_t avail = evbuffer_get_length(in), n = 2, i;
	uint8_t hb[14];
	uint64_t len;

	memset(f, 0, sizeof(*f));
	if (avail < 2)
		return 0;
	evbuffer_copyout(in, hb, avail < sizeof(hb) ? avail : sizeof(hb));
	f->fin = hb[0] >> 7;
	f->rsv = (hb[0] >> 4) & 7;
	f->op = hb[0] & 15;
	f->masked = hb[1] >> 7;
	len = hb[1] & 127;
	if (len == 126) {
		if (avail < 4)
			return 0;
		len = (uint64_t)hb[2] << 8 | hb[3];
		n = 4;
	} else if (len == 127) {
		if (avail < 10)
			return 0;
		for (len = 0, i = 0; i < 8; i++)
			len = len << 8 | hb[2 + i];
		n = 10;
	}
	if (f->masked) {
		if (avail < n + 4)
			return 0;
		memcpy(f->key, hb + n, 4);
		n += 4;
	}
	if (avail - n < len)
		return 0;
	f->hlen = n;
	f->len = (size_t)len;
	f->data = malloc(f->len + 1);
	evbuffer_drain(in, n);
	evbuffer_remove(in, f->data, f->len);
	if (f->masked)
		for (i = 0; i < f->len; i++)
			f->data[i] ^= f->key[i & 3];
	f->data[f->len] = 0;
	return 1;
}

int
tt_tcp_pair(evutil_socket_t fds[2])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	evutil_socket_t l;
	int one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	fds[1] = socket(AF_INET, SOCK_STREAM, 0);
	if (fds[1] < 0 || connect(fds[1], (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return -1;
	fds[0] = accept(l, NULL, NULL);
	close(l);
	if (fds[0] < 0)
		return -1;
	setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evutil_make_socket_nonblocking(fds[0]);
	evutil_make_socket_nonblocking(fds[1]);
	return 0;
}
