/*
 * The TLS tests' fixture: a test PKI made with the OpenSSL API (an EC
 * P-256 CA written to a temporary file, server certificates signed by it
 * or by themselves), blocking OpenSSL servers on loopback that run one
 * thread per connection, follow a script and record what they saw, and
 * the client side of a test (a stream on its own libev loop, with helpers
 * that push layers, write and read with a bounded wait). Helpers assert
 * with Criterion and so belong to the test thread, except tf_tcp_connect()
 * and tf_pattern().
 */
#ifndef SL_TESTS_TLS_FIXTURE_H
#define SL_TESTS_TLS_FIXTURE_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "engines/stream.h"
#include "engines/tls.h"

#define DAY (24L * 3600)

/* A test CA and the key every server certificate is made for. */
struct pki {
	char dir[64];
	char ca_file[96];
	EVP_PKEY *ca_key;
	X509 *ca;
	EVP_PKEY *key; /* the key of every server certificate */
};

/* What a certificate says. */
struct cert_spec {
	const char *cn;
	const char *san;  /* subjectAltName, or NULL */
	long from, to;    /* validity, seconds from now */
	bool ca;
	const char *eku;  /* extendedKeyUsage, or NULL */
};

/* What a test server does with each connection. */
enum script {
	S_ECHO,        /* read echo_len bytes, write them back, wait for the close */
	S_HELLO,       /* write "hello", wait for the close */
	S_RECORDS,     /* write three 5000-byte records at once, wait for the close */
	S_BYE,         /* write "bye" and close_notify, wait for the close */
	S_TRUNCATE,    /* write "partial" and close the TCP connection without close_notify */
	S_GARBAGE,     /* no TLS: answer with an HTTP error */
	S_SILENT,      /* no TLS: read and never answer */
	S_PROXY,       /* HTTPS proxy: CONNECT, then relay to 127.0.0.1:inner_port */
};

#define MAX_CONNS 8

/* What a server saw on one connection (read after tf_srv_stop). */
struct rec {
	bool accepted;
	bool reused;
	bool got_close_notify;
	char sni[256];
	char alpn[32];
	char version[16];
	char connect_line[300];
};

struct srv;

/* One connection handed to a handler thread. */
struct hctx {
	struct srv *srv;
	int fd;
	int idx;
};

/* A test server: a listening socket, an acceptor thread, a thread per connection. */
struct srv {
	SSL_CTX *ctx;
	int lfd;
	uint16_t port;
	enum script script;
	int nconn;
	size_t echo_len;
	uint16_t inner_port;
	bool early;               /* S_PROXY: bytes after the 200 in the same record */
	pthread_t acceptor;
	pthread_t handlers[MAX_CONNS];
	struct hctx h[MAX_CONNS];
	atomic_int nhandlers;
	atomic_bool stop;
	struct rec recs[MAX_CONNS];
};

/* The client side of a test: one stream on its own loop. */
struct cli {
	struct ev_loop *loop;
	sl_stream *s;
	int done_rc;
	int done_calls;
	unsigned events;
	char trace[8192];
	size_t ntrace;
};

/* The PKI: a CA and a key for every server certificate; a temporary
 * directory holds the CA's PEM file (p->ca_file). */
void tf_pki_init(struct pki *p);
void tf_pki_free(struct pki *p);
EVP_PKEY *tf_keygen(void);
/* A certificate for pub signed by signer as issuer (issuer NULL: self-signed). */
X509 *tf_make_cert(const struct cert_spec *sp, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *signer);
/* A server certificate signed by the test CA; the good one is for
 * localhost and 127.0.0.1 and valid now. */
X509 *tf_leaf(struct pki *p, const struct cert_spec *sp);
X509 *tf_good_leaf(struct pki *p);
/* A client context trusting the test CA only. */
sl_tls_ctx *tf_test_ctx(struct pki *p);

/* A deterministic byte pattern for payloads. */
unsigned char tf_pattern(size_t i);
/* A blocking TCP connection to 127.0.0.1:port, or -1. */
int tf_tcp_connect(uint16_t port);

/* Servers: start binds and listens (the port is known at once, cert NULL
 * for the scripts without TLS), run starts accepting nconn connections,
 * stop joins every thread and frees the server; records are read after. */
void tf_srv_start(struct srv *sv, X509 *cert, EVP_PKEY *key, enum script script, int nconn,
		  int max_version);
void tf_srv_run(struct srv *sv);
void tf_srv_stop(struct srv *sv);

/* The client: a stream on a TCP connection to port, on a new loop. */
void tf_cli_open(struct cli *c, uint16_t port);
void tf_cli_close(struct cli *c);
/* Runs loop until something breaks it, 5 s at most. */
void tf_run_bounded(struct ev_loop *loop);
/* Pushes l (asserted non-NULL) and returns its handshake's result. */
int tf_cli_push(struct cli *c, sl_layer *l);
/* Pushes a TLS layer to the target (hop 0) and returns its result. */
int tf_cli_tls(struct cli *c, sl_tls_ctx *ctx, const char *name, uint16_t port, bool verify);
/* Waits for the user events asked for; false on the 5 s guard. */
bool tf_wait_ev(struct cli *c, unsigned want);
void tf_write_all(struct cli *c, const void *p, size_t n);
/* Reads until n bytes, the end or an error; returns the bytes, *last the
 * last read's result. */
size_t tf_read_n(struct cli *c, void *buf, size_t n, ssize_t *last);
/* The stream's top layer, asserted to be TLS. */
const sl_layer *tf_top_tls(const struct cli *c);
/* A layer that passes reads and writes to the one below (stays). */
sl_layer *tf_passthrough_new(void);

#endif
