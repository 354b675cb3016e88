/*
 * The TLS tests' fixture (see tls_fixture.h). Servers use blocking
 * OpenSSL with 5 s socket timeouts and poll their listening socket, so a
 * test that fails half-way still stops every thread it started.
 */
#include "tls_fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/err.h"

/* ------------------------------------------------------------------ */
/* A test PKI                                                          */
/* ------------------------------------------------------------------ */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	cr_assert_not_null(e, "extension %s", value);
	cr_assert_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* Makes a certificate for pub, signed by signer as issuer (NULL: self). */
X509 *tf_make_cert(const struct cert_spec *sp, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *signer)
{
	static long serial = 1000;
	X509 *x = X509_new();
	X509 *iss;

	cr_assert_not_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), sp->from);
	X509_gmtime_adj(X509_getm_notAfter(x), sp->to);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)sp->cn, -1, -1, 0);
	iss = issuer ? issuer : x;
	X509_set_issuer_name(x, X509_get_subject_name(iss));
	X509_set_pubkey(x, pub);
	add_ext(x, iss, NID_basic_constraints, sp->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, iss, NID_key_usage,
		sp->ca ? "critical,keyCertSign,cRLSign,digitalSignature" : "critical,digitalSignature");
	add_ext(x, iss, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, iss, NID_authority_key_identifier, "keyid:always");
	if (sp->san)
		add_ext(x, iss, NID_subject_alt_name, sp->san);
	if (sp->eku)
		add_ext(x, iss, NID_ext_key_usage, sp->eku);
	cr_assert_gt(X509_sign(x, signer, EVP_sha256()), 0);
	return x;
}

EVP_PKEY *tf_keygen(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cr_assert_not_null(k);
	return k;
}

void tf_pki_init(struct pki *p)
{
	struct cert_spec ca = {.cn = "sluice test CA", .from = -DAY, .to = 30 * DAY, .ca = true};
	FILE *fp;

	memset(p, 0, sizeof *p);
	snprintf(p->dir, sizeof p->dir, "/tmp/sluice-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(p->dir));
	snprintf(p->ca_file, sizeof p->ca_file, "%s/ca.pem", p->dir);
	p->ca_key = tf_keygen();
	p->key = tf_keygen();
	p->ca = tf_make_cert(&ca, p->ca_key, NULL, p->ca_key);
	fp = fopen(p->ca_file, "w");
	cr_assert_not_null(fp);
	cr_assert_eq(PEM_write_X509(fp, p->ca), 1);
	fclose(fp);
}

void tf_pki_free(struct pki *p)
{
	unlink(p->ca_file);
	rmdir(p->dir);
	X509_free(p->ca);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->key);
}

/* A server certificate signed by the test CA. */
X509 *tf_leaf(struct pki *p, const struct cert_spec *sp)
{
	return tf_make_cert(sp, p->key, p->ca, p->ca_key);
}

X509 *tf_good_leaf(struct pki *p)
{
	struct cert_spec sp = {.cn = "localhost", .san = "DNS:localhost,IP:127.0.0.1",
			       .from = -DAY, .to = 30 * DAY};
	return tf_leaf(p, &sp);
}

sl_tls_ctx *tf_test_ctx(struct pki *p)
{
	char err[256] = "";
	sl_tls_ctx_opts o = {.ca_file = p->ca_file};
	sl_tls_ctx *c = sl_tls_ctx_new(&o, err, sizeof err);
	cr_assert_not_null(c, "%s", err);
	return c;
}

/* ------------------------------------------------------------------ */
/* Test servers: blocking OpenSSL, one thread per connection           */
/* ------------------------------------------------------------------ */

unsigned char tf_pattern(size_t i)
{
	return (unsigned char)((i * 7 + 3) ^ (i >> 9));
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, ours, sizeof ours - 1, in,
				  inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;
}

/* Reads until the peer closes; notes a close_notify. */
static void wait_close(SSL *ssl, struct rec *r)
{
	char buf[4096];
	int n;

	while ((n = SSL_read(ssl, buf, sizeof buf)) > 0)
		;
	if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN)
		r->got_close_notify = true;
	ERR_clear_error();
}

static bool read_exact(SSL *ssl, unsigned char *buf, size_t n)
{
	size_t got = 0, k;

	while (got < n) {
		if (SSL_read_ex(ssl, buf + got, n - got, &k) != 1)
			return false;
		got += k;
	}
	return true;
}

static bool write_exact(SSL *ssl, const void *buf, size_t n)
{
	size_t w;
	return SSL_write_ex(ssl, buf, n, &w) == 1 && w == n;
}

int tf_tcp_connect(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void fd_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* The HTTPS proxy: reads the CONNECT head inside TLS, opens the tunnel. */
static void serve_proxy(struct srv *sv, SSL *ssl, int fd, struct rec *r)
{
	char head[1024];
	size_t n = 0;
	int up;

	while (n + 1 < sizeof head) {
		if (SSL_read(ssl, head + n, 1) != 1)
			return;
		n++;
		head[n] = '\0';
		if (strstr(head, "\r\n\r\n"))
			break;
	}
	snprintf(r->connect_line, sizeof r->connect_line, "%.*s", (int)strcspn(head, "\r"), head);
	up = tf_tcp_connect(sv->inner_port);
	if (up < 0) {
		write_exact(ssl, "HTTP/1.1 502 Bad Gateway\r\n\r\n", 28);
		return;
	}
	if (sv->early) {
		const char *a = "HTTP/1.1 200 Connection established\r\n\r\nEARLY";
		write_exact(ssl, a, strlen(a));
	} else {
		const char *a = "HTTP/1.1 200 Connection established\r\n\r\n";
		write_exact(ssl, a, strlen(a));
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = up, .events = POLLIN}};
		char buf[16384];
		int k;

		if (SSL_pending(ssl) == 0 && poll(p, 2, 5000) <= 0)
			break;
		if (SSL_pending(ssl) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			k = SSL_read(ssl, buf, sizeof buf);
			if (k <= 0)
				break;
			fd_write_all(up, buf, (size_t)k);
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t m = read(up, buf, sizeof buf);
			if (m <= 0 || !write_exact(ssl, buf, (size_t)m))
				break;
		}
	}
	ERR_clear_error();
	close(up);
}

static void *handler(void *arg)
{
	struct hctx *h = arg;
	struct srv *sv = h->srv;
	struct rec *r = &sv->recs[h->idx];
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	const char *sni;
	SSL *ssl;
	char buf[64];

	if (sv->script == S_GARBAGE || sv->script == S_SILENT) {
		if (sv->script == S_GARBAGE)
			fd_write_all(h->fd, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
		while (read(h->fd, buf, sizeof buf) > 0)
			;
		close(h->fd);
		return NULL;
	}
	ssl = SSL_new(sv->ctx);
	SSL_set_fd(ssl, h->fd);
	if (SSL_accept(ssl) != 1) {
		ERR_clear_error();
		goto out;
	}
	r->accepted = true;
	r->reused = SSL_session_reused(ssl) == 1;
	sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	snprintf(r->sni, sizeof r->sni, "%s", sni ? sni : "");
	SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
	snprintf(r->alpn, sizeof r->alpn, "%.*s", (int)alpn_len, alpn ? (const char *)alpn : "");
	snprintf(r->version, sizeof r->version, "%s", SSL_get_version(ssl));
	switch (sv->script) {
	case S_ECHO: {
		unsigned char *data = malloc(sv->echo_len);
		if (read_exact(ssl, data, sv->echo_len))
			write_exact(ssl, data, sv->echo_len);
		free(data);
		wait_close(ssl, r);
		break;
	}
	case S_HELLO:
		write_exact(ssl, "hello", 5);
		wait_close(ssl, r);
		break;
	case S_RECORDS: {
		unsigned char rec[5000];
		for (size_t k = 0; k < 3; k++) {
			for (size_t i = 0; i < sizeof rec; i++)
				rec[i] = tf_pattern(k * sizeof rec + i);
			write_exact(ssl, rec, sizeof rec);
		}
		wait_close(ssl, r);
		break;
	}
	case S_BYE:
		write_exact(ssl, "bye", 3);
		SSL_shutdown(ssl);
		wait_close(ssl, r);
		break;
	case S_TRUNCATE:
		write_exact(ssl, "partial", 7);
		shutdown(h->fd, SHUT_RDWR);
		break;
	case S_PROXY:
		serve_proxy(sv, ssl, h->fd, r);
		break;
	default:
		break;
	}
out:
	ERR_clear_error();
	SSL_free(ssl);
	close(h->fd);
	return NULL;
}

static void *acceptor(void *arg)
{
	struct srv *sv = arg;

	for (int i = 0; i < sv->nconn && !atomic_load(&sv->stop); ) {
		struct pollfd p = {.fd = sv->lfd, .events = POLLIN};
		struct timeval tv = {.tv_sec = 5};
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(sv->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		sv->h[i] = (struct hctx){sv, fd, i};
		pthread_create(&sv->handlers[i], NULL, handler, &sv->h[i]);
		atomic_fetch_add(&sv->nhandlers, 1);
		i++;
	}
	return NULL;
}

void tf_srv_start(struct srv *sv, X509 *cert, EVP_PKEY *key, enum script script, int nconn,
		      int max_version)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;

	signal(SIGPIPE, SIG_IGN); /* the servers write with SSL_write */
	memset(sv, 0, sizeof *sv);
	sv->script = script;
	sv->nconn = nconn;
	sv->ctx = SSL_CTX_new(TLS_server_method());
	cr_assert_not_null(sv->ctx);
	if (cert) {
		cr_assert_eq(SSL_CTX_use_certificate(sv->ctx, cert), 1);
		cr_assert_eq(SSL_CTX_use_PrivateKey(sv->ctx, key), 1);
	}
	if (max_version)
		SSL_CTX_set_max_proto_version(sv->ctx, max_version);
	SSL_CTX_set_alpn_select_cb(sv->ctx, alpn_select, NULL);
	sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(sv->lfd, 0);
	cr_assert_eq(bind(sv->lfd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(sv->lfd, 16), 0);
	cr_assert_eq(getsockname(sv->lfd, (struct sockaddr *)&a, &alen), 0);
	sv->port = ntohs(a.sin_port);
}

void tf_srv_run(struct srv *sv)
{
	cr_assert_eq(pthread_create(&sv->acceptor, NULL, acceptor, sv), 0);
}

void tf_srv_stop(struct srv *sv)
{
	atomic_store(&sv->stop, true);
	pthread_join(sv->acceptor, NULL);
	for (int i = 0; i < atomic_load(&sv->nhandlers); i++)
		pthread_join(sv->handlers[i], NULL);
	close(sv->lfd);
	SSL_CTX_free(sv->ctx);
}

/* ------------------------------------------------------------------ */
/* The client side                                                     */
/* ------------------------------------------------------------------ */

static void on_done(sl_stream *s, int err, void *arg)
{
	struct cli *c = arg;
	(void)s;
	c->done_rc = err;
	c->done_calls++;
	ev_break(c->loop, EVBREAK_ONE);
}

static void on_ready(sl_stream *s, unsigned ev, void *arg)
{
	struct cli *c = arg;
	(void)s;
	c->events |= ev;
	ev_break(c->loop, EVBREAK_ONE);
}

static void on_trace(sl_stream *s, const char *line, void *arg)
{
	struct cli *c = arg;
	(void)s;
	int n = snprintf(c->trace + c->ntrace, sizeof c->trace - c->ntrace, "%s\n", line);
	if (n > 0 && c->ntrace + (size_t)n < sizeof c->trace)
		c->ntrace += (size_t)n;
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ONE);
}

void tf_run_bounded(struct ev_loop *loop)
{
	ev_timer guard;
	ev_timer_init(&guard, on_guard, 5.0, 0.0);
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
}

/* Opens a TCP connection to port and wraps it in a stream. */
void tf_cli_open(struct cli *c, uint16_t port)
{
	int fd = tf_tcp_connect(port);

	memset(c, 0, sizeof *c);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
	c->loop = ev_loop_new(EVFLAG_AUTO);
	c->s = sl_stream_new(c->loop);
	cr_assert_eq(sl_stream_attach_fd(c->s, fd), 0);
	sl_stream_set_trace(c->s, on_trace, c);
	sl_stream_set_cb(c->s, on_ready, c);
}

void tf_cli_close(struct cli *c)
{
	if (c->s)
		sl_stream_close(c->s);
	ev_loop_destroy(c->loop);
}

/* Pushes l and runs the loop until its handshake ends; returns its result. */
int tf_cli_push(struct cli *c, sl_layer *l)
{
	cr_assert_not_null(l);
	c->done_calls = 0;
	c->done_rc = 1;
	cr_assert_eq(sl_stream_push(c->s, l, on_done, c), 0);
	if (!c->done_calls)
		tf_run_bounded(c->loop);
	cr_assert_eq(c->done_calls, 1, "the handshake did not end");
	return c->done_rc;
}

int tf_cli_tls(struct cli *c, sl_tls_ctx *ctx, const char *name, uint16_t port, bool verify)
{
	return tf_cli_push(c, sl_tls_layer_new(ctx, name, port, verify, 0, true));
}

/* Waits for the user events asked for; false on the 5 s guard. */
bool tf_wait_ev(struct cli *c, unsigned want)
{
	c->events = 0;
	sl_stream_want(c->s, want);
	tf_run_bounded(c->loop);
	sl_stream_want(c->s, 0);
	return c->events != 0;
}

void tf_write_all(struct cli *c, const void *p, size_t n)
{
	const char *q = p;

	while (n) {
		struct iovec iov = {(void *)q, n};
		ssize_t r = sl_stream_writev(c->s, &iov, 1);
		if (r == -EAGAIN) {
			cr_assert(tf_wait_ev(c, SL_WANT_WRITE), "never writable");
			continue;
		}
		cr_assert_gt(r, 0, "write: %s", sl_errname((int)r));
		q += r;
		n -= (size_t)r;
	}
}

/* Reads until n bytes, the end or an error; returns the bytes and sets *last. */
size_t tf_read_n(struct cli *c, void *buf, size_t n, ssize_t *last)
{
	size_t got = 0;
	ssize_t r = 0;

	while (got < n) {
		r = sl_stream_read(c->s, (char *)buf + got, n - got);
		if (r == -EAGAIN) {
			cr_assert(tf_wait_ev(c, SL_WANT_READ), "never readable (%zu of %zu)", got, n);
			continue;
		}
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (last)
		*last = r;
	return got;
}

const sl_layer *tf_top_tls(const struct cli *c)
{
	cr_assert(sl_tls_layer_is(c->s->top));
	return c->s->top;
}

/* A layer that passes everything to the one below: TLS above it must
 * use its BIO instead of the fd. */
static int pt_progress(sl_layer *l)
{
	(void)l;
	return 0;
}

static ssize_t pt_read(sl_layer *l, void *buf, size_t n)
{
	return sl_layer_read_below(l, buf, n);
}

static ssize_t pt_writev(sl_layer *l, const struct iovec *iov, int iovcnt)
{
	return sl_layer_writev_below(l, iov, iovcnt);
}

static void pt_destroy(sl_layer *l)
{
	free(l);
}

static const sl_layer_ops pt_ops = {
	.name = "pass-through",
	.progress = pt_progress,
	.read = pt_read,
	.writev = pt_writev,
	.destroy = pt_destroy,
};

sl_layer *tf_passthrough_new(void)
{
	sl_layer *l = calloc(1, sizeof *l);

	cr_assert_not_null(l);
	l->ops = &pt_ops;
	l->stays = true;
	return l;
}
