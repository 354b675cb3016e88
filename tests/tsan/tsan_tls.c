/*
 * Thread-safety check of the TLS context under ThreadSanitizer (`make
 * tsan`): one sl_tls_ctx shared by four client threads, each with its own
 * loop, making connections to a blocking OpenSSL server on loopback, so
 * their handshakes share the SSL_CTX and race on the session cache, while
 * another thread takes and drops references. Two rounds: TLS 1.3, where
 * each connection gets two tickets after its handshake and stores them
 * while other threads take them (single use), and TLS 1.2, where one
 * session serves every thread at once. TSan sees OpenSSL's own locks but
 * not its reference counts, so a session object reachable from two
 * threads shows up here as a race. A plain program, like tsan_shared.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "engines/stream.h"
#include "engines/tls.h"

#define CLIENTS 4
#define PER_CLIENT 6
#define CONNS (CLIENTS * PER_CLIENT)

static int passed, failed;

static void check(int ok, const char *name)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	if (ok)
		passed++;
	else
		failed++;
}

/* ---- the server ---- */

static SSL_CTX *server_ctx(int max_version)
{
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	SSL_CTX_use_certificate(c, x);
	SSL_CTX_use_PrivateKey(c, k);
	if (max_version)
		SSL_CTX_set_max_proto_version(c, max_version);
	X509_free(x);
	EVP_PKEY_free(k);
	return c;
}

struct server {
	SSL_CTX *ctx;
	int lfd;
	uint16_t port;
	pthread_t acceptor;
	pthread_t h[CONNS];
	int n;
};

struct conn_arg {
	SSL_CTX *ctx;
	int fd;
};

static struct conn_arg conn_args[CONNS];

/* Echoes four bytes, then waits for the client to close. */
static void *handler(void *arg)
{
	struct conn_arg *a = arg;
	SSL *ssl = SSL_new(a->ctx);
	char buf[64];

	SSL_set_fd(ssl, a->fd);
	if (SSL_accept(ssl) == 1 && SSL_read(ssl, buf, 4) == 4) {
		SSL_write(ssl, buf, 4);
		while (SSL_read(ssl, buf, sizeof buf) > 0)
			;
	}
	ERR_clear_error();
	SSL_free(ssl);
	close(a->fd);
	return NULL;
}

static void *acceptor(void *arg)
{
	struct server *sv = arg;

	while (sv->n < CONNS) {
		struct pollfd p = {.fd = sv->lfd, .events = POLLIN};
		struct timeval tv = {.tv_sec = 5};
		int fd;

		if (poll(&p, 1, 5000) <= 0)
			break;
		fd = accept(sv->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		conn_args[sv->n] = (struct conn_arg){sv->ctx, fd};
		pthread_create(&sv->h[sv->n], NULL, handler, &conn_args[sv->n]);
		sv->n++;
	}
	return NULL;
}

/* ---- the clients ---- */

struct client {
	sl_tls_ctx *ctx;
	uint16_t port;
	int ok;
	int resumed;
};

static void on_done(sl_stream *s, int err, void *arg)
{
	*(int *)arg = err;
	ev_break(s->loop, EVBREAK_ONE);
}

static void on_ready(sl_stream *s, unsigned ev, void *arg)
{
	(void)ev;
	(void)arg;
	ev_break(s->loop, EVBREAK_ONE);
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void one_connection(struct client *c)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_stream *s = sl_stream_new(loop);
	int fd = connect_to(c->port), rc = 1;
	struct iovec iov = {"ping", 4};
	char buf[4];
	size_t got = 0;
	sl_tls_info in;

	if (fd < 0)
		goto out;
	sl_stream_attach_fd(s, fd);
	sl_stream_set_cb(s, on_ready, NULL);
	sl_stream_push(s, sl_tls_layer_new(c->ctx, "localhost", c->port, false, 0, true), on_done,
		       &rc);
	for (int i = 0; rc == 1 && i < 200; i++)
		ev_run(loop, EVRUN_ONCE);
	if (rc != 0 || sl_stream_writev(s, &iov, 1) != 4)
		goto out;
	sl_stream_want(s, SL_WANT_READ);
	for (int i = 0; got < 4 && i < 200; i++) {
		ssize_t r = sl_stream_read(s, buf + got, 4 - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == -EAGAIN)
			ev_run(loop, EVRUN_ONCE);
		else
			break;
	}
	if (got == 4 && memcmp(buf, "ping", 4) == 0) {
		c->ok++;
		if (sl_tls_layer_info(s->top, &in) == 0 && in.resumed)
			c->resumed++;
	}
out:
	sl_stream_close(s);
	ev_loop_destroy(loop);
}

static void *client_main(void *arg)
{
	struct client *c = arg;

	for (int k = 0; k < PER_CLIENT; k++)
		one_connection(c);
	return NULL;
}

static void *ref_churn(void *arg)
{
	sl_tls_ctx *ctx = arg;

	for (int i = 0; i < 10000; i++) {
		sl_tls_ctx_ref(ctx);
		(void)sl_tls_ctx_sessions(ctx);
		sl_tls_ctx_unref(ctx);
	}
	return NULL;
}

/* One round against a server limited to max_version (0: TLS 1.3). */
static int run_round(int max_version, const char *name)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	struct server sv = {0};
	struct client cl[CLIENTS];
	pthread_t t[CLIENTS], churn;
	char err[256] = "", what[96];
	sl_tls_ctx *ctx;
	int ok = 0, resumed = 0;

	sv.ctx = server_ctx(max_version);
	sv.lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(sv.lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(sv.lfd, 64) < 0 ||
	    getsockname(sv.lfd, (struct sockaddr *)&a, &alen) < 0) {
		perror("listen");
		return -1;
	}
	sv.port = ntohs(a.sin_port);
	pthread_create(&sv.acceptor, NULL, acceptor, &sv);

	ctx = sl_tls_ctx_new(NULL, err, sizeof err);
	snprintf(what, sizeof what, "%s: tls context built", name);
	check(ctx != NULL, what);
	if (!ctx) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	pthread_create(&churn, NULL, ref_churn, ctx);
	for (int i = 0; i < CLIENTS; i++) {
		cl[i] = (struct client){.ctx = ctx, .port = sv.port};
		pthread_create(&t[i], NULL, client_main, &cl[i]);
	}
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(t[i], NULL);
		ok += cl[i].ok;
		resumed += cl[i].resumed;
	}
	pthread_join(churn, NULL);
	pthread_join(sv.acceptor, NULL);
	for (int i = 0; i < sv.n; i++)
		pthread_join(sv.h[i], NULL);
	close(sv.lfd);
	SSL_CTX_free(sv.ctx);
	snprintf(what, sizeof what, "%s: every connection of every thread echoed", name);
	check(ok == CONNS, what);
	snprintf(what, sizeof what, "%s: sessions were resumed across threads", name);
	check(resumed > 0, what);
	sl_tls_ctx_unref(ctx);
	return 0;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (run_round(0, "TLS 1.3") < 0 || run_round(TLS1_2_VERSION, "TLS 1.2") < 0)
		return 1;
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
