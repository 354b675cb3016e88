/*
 * The TLS client layer (see tls.h): the shared context with its trust store
 * and per-origin session cache, and the layer that runs SSL_connect on a
 * stream, then stays in its data path. Invariants: a context is immutable
 * after sl_tls_ctx_new() except its session cache, which only cache_*()
 * touch, under the context's lock; a layer holds a reference on its
 * context for as long as its SSL object lives; every SSL call is preceded
 * by ERR_clear_error() and its failure is read (and the queue cleared
 * again) before the next one.
 *
 * The cache holds sessions as DER bytes, never as SSL_SESSION objects: no
 * OpenSSL object other than the SSL_CTX is ever reachable from two
 * connections. The session OpenSSL hands to the new-session callback is
 * the connection's own, which OpenSSL goes on reading (each further ticket
 * is made by duplicating it) and writing (SSL_free marks it not resumable
 * after an unclean end) without any lock of ours; and a shallow copy
 * (SSL_SESSION_dup) would still share the peer's certificates by reference
 * count. Serialising the session in the callback and parsing it again for
 * the connection that offers it gives every connection objects of its own,
 * so the only shared state is the byte table under the lock.
 *
 * A layer's states:
 *
 *   INIT --progress--> HANDSHAKE --SSL_connect done, verified--> OPEN
 *                        |   ^ WANT_READ/WRITE: SL_E_AGAIN        |
 *                        |   +--------------------------------    | fatal error in
 *                        +--error--> FAILED <-----------------------+ read or write
 *
 * INIT binds the SSL object to the layer below, which is only known once
 * the stream has pushed the layer: the fd itself when the socket is right
 * below, else a BIO over the layer below. Both BIOs are ours: the fd one
 * sends with MSG_NOSIGNAL (OpenSSL's socket BIO writes with write(2), which
 * raises SIGPIPE on a closed peer) and keeps the stream's byte counters.
 */
#include "engines/tls.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/addr.h"
#include "core/err.h"

#define CTX_MAGIC 0x544c5343u   /* "TLSC" */
#define LAYER_MAGIC 0x544c534cu /* "TLSL" */
#define NAME_MAX_LEN 255
#define KEY_CAP (NAME_MAX_LEN + 7) /* "name:65535" and a NUL */
#define DEFAULT_CACHE 256
#define COALESCE_MAX 16384 /* one TLS record of plaintext */

/* ---- the context and its session cache ---- */

struct sess_entry {
	uint32_t hash;
	bool verified;      /* made by a connection that verified the peer */
	bool single_use;    /* a TLS 1.3 ticket: handed out once */
	uint64_t used;      /* LRU clock */
	uint64_t gen;       /* the clock when stored: names this session */
	time_t expires;
	unsigned char *der; /* the session, i2d_SSL_SESSION(); owned */
	size_t der_len;
	char key[KEY_CAP];
};

struct sl_tls_ctx {
	uint32_t magic;
	atomic_int refs;
	SSL_CTX *ssl;
	BIO_METHOD *bio_fd;
	BIO_METHOD *bio_layer;
	pthread_mutex_t lock;
	struct sess_entry *cache;
	size_t cache_cap;
	size_t cache_n;
	uint64_t clock;
};

enum tls_state { ST_INIT, ST_HANDSHAKE, ST_OPEN, ST_FAILED };

struct tls {
	sl_layer l;
	uint32_t magic;
	enum tls_state state;
	sl_tls_ctx *ctx;
	SSL *ssl;
	bool verify;
	bool is_ip;
	bool via_layer;    /* the BIO talks to the layer below, not the fd */
	bool fatal;        /* OpenSSL forbids SSL_shutdown after a fatal error */
	bool shutting;     /* SSL_shutdown waits for the fd */
	bool shut;         /* close_notify sent */
	bool notified;     /* close_notify received */
	bool offered;      /* a cached session was offered */
	bool below_again;  /* the last BIO call got -EAGAIN from the layer below */
	unsigned hs_want;  /* SL_WANT_* of the handshake or shutdown */
	unsigned cross;    /* data path: READ = a write needs to read, WRITE = a read needs to write */
	int io_err;        /* error of the last BIO call to the fd or the layer below */
	int err;           /* the error that moved the layer to FAILED */
	uint64_t sess_gen; /* the cache entry this connection last took or stored, 0: none */
	char name[NAME_MAX_LEN + 1];
	char key[KEY_CAP];
	char reason[192];
};

static void check_ctx(const sl_tls_ctx *c)
{
	assert(c && c->magic == CTX_MAGIC);
	(void)c;
}

static struct tls *as_tls(const sl_layer *l)
{
	struct tls *t = (struct tls *)l;

	assert(t && t->magic == LAYER_MAGIC);
	return t;
}

static uint32_t key_hash(const char *k)
{
	uint32_t h = 2166136261u;

	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 16777619u;
	return h;
}

static struct sess_entry *cache_find(sl_tls_ctx *c, const char *key, uint32_t h)
{
	for (size_t i = 0; i < c->cache_n; i++)
		if (c->cache[i].hash == h && strcmp(c->cache[i].key, key) == 0)
			return &c->cache[i];
	return NULL;
}

static void cache_drop(sl_tls_ctx *c, struct sess_entry *e)
{
	free(e->der);
	*e = c->cache[--c->cache_n];
}

/*
 * Returns the bytes of a session to offer for key (malloc'd, the caller
 * frees them) with their length in *len and the entry's name in *gen, or
 * NULL. A TLS 1.3 ticket leaves the cache; other sessions stay.
 */
static unsigned char *cache_take(sl_tls_ctx *c, const char *key, bool verify, size_t *len,
				 uint64_t *gen)
{
	uint32_t h = key_hash(key);
	unsigned char *der = NULL;
	struct sess_entry *e;

	pthread_mutex_lock(&c->lock);
	e = cache_find(c, key, h);
	if (e && e->expires <= time(NULL)) {
		cache_drop(c, e);
	} else if (e && (e->verified || !verify)) {
		if (e->single_use) {
			/* The bytes move to the caller. */
			der = e->der;
			e->der = NULL;
		} else if ((der = malloc(e->der_len))) {
			memcpy(der, e->der, e->der_len);
			e->used = ++c->clock;
		}
		if (der) {
			*gen = e->gen;
			*len = e->der_len;
		}
		if (e->single_use)
			cache_drop(c, e);
	}
	pthread_mutex_unlock(&c->lock);
	return der;
}

/* Stores der (taking ownership) under key; returns the entry's name. */
static uint64_t cache_put(sl_tls_ctx *c, const char *key, const struct sess_entry *in)
{
	uint32_t h = key_hash(key);
	struct sess_entry *e;
	uint64_t gen;

	pthread_mutex_lock(&c->lock);
	e = cache_find(c, key, h);
	if (e) {
		free(e->der);
	} else if (c->cache_n < c->cache_cap) {
		e = &c->cache[c->cache_n++];
	} else {
		e = &c->cache[0];
		for (size_t i = 1; i < c->cache_n; i++)
			if (c->cache[i].used < e->used)
				e = &c->cache[i];
		free(e->der);
	}
	*e = *in;
	e->hash = h;
	e->used = e->gen = gen = ++c->clock;
	memcpy(e->key, key, strlen(key) + 1);
	pthread_mutex_unlock(&c->lock);
	return gen;
}

/* Drops the entry for key; only if it is still entry gen when gen != 0. */
static void cache_forget(sl_tls_ctx *c, const char *key, uint64_t gen)
{
	struct sess_entry *e;

	pthread_mutex_lock(&c->lock);
	e = cache_find(c, key, key_hash(key));
	if (e && (gen == 0 || e->gen == gen))
		cache_drop(c, e);
	pthread_mutex_unlock(&c->lock);
}

/* OpenSSL hands over each new session (TLS 1.2 at the end of the
 * handshake, TLS 1.3 tickets as they are read). The cache keeps its
 * bytes; returning 0 leaves the object to OpenSSL and this connection. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls *t = SSL_get_app_data(ssl);
	struct sess_entry in = {0};
	unsigned char *p;
	int n;

	if (!t || t->magic != LAYER_MAGIC || !SSL_SESSION_is_resumable(sess))
		return 0;
	n = i2d_SSL_SESSION(sess, NULL);
	if (n <= 0 || !(in.der = malloc((size_t)n))) {
		ERR_clear_error();
		return 0;
	}
	p = in.der;
	if (i2d_SSL_SESSION(sess, &p) != n) {
		free(in.der);
		ERR_clear_error();
		return 0;
	}
	in.der_len = (size_t)n;
	in.verified = t->verify;
	in.single_use = SSL_SESSION_get_protocol_version(sess) >= TLS1_3_VERSION;
	in.expires = (time_t)SSL_SESSION_get_time(sess) + (time_t)SSL_SESSION_get_timeout(sess);
	t->sess_gen = cache_put(t->ctx, t->key, &in);
	return 0;
}

/* ---- BIOs ---- */

static int bio_fd_write(BIO *b, const char *buf, int n)
{
	struct tls *t = BIO_get_data(b);
	sl_stream *s = t->l.s;
	ssize_t r;

	BIO_clear_retry_flags(b);
	do {
		r = send(s->fd, buf, (size_t)n, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r >= 0) {
		s->bytes_out += (uint64_t)r;
		return (int)r;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		BIO_set_retry_write(b);
	else
		t->io_err = -errno;
	return -1;
}

static int bio_fd_read(BIO *b, char *buf, int n)
{
	struct tls *t = BIO_get_data(b);
	sl_stream *s = t->l.s;
	ssize_t r;

	BIO_clear_retry_flags(b);
	do {
		r = recv(s->fd, buf, (size_t)n, 0);
	} while (r < 0 && errno == EINTR);
	if (r > 0) {
		s->bytes_in += (uint64_t)r;
		return (int)r;
	}
	if (r == 0) {
		s->eof = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		BIO_set_retry_read(b);
	else
		t->io_err = -errno;
	return -1;
}

static int bio_layer_write(BIO *b, const char *buf, int n)
{
	struct tls *t = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	r = sl_layer_write_below(&t->l, buf, (size_t)n);
	if (r >= 0)
		return (int)r;
	if (r == -EAGAIN) {
		t->below_again = true;
		BIO_set_retry_write(b);
	} else {
		t->io_err = (int)r;
	}
	return -1;
}

static int bio_layer_read(BIO *b, char *buf, int n)
{
	struct tls *t = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	r = sl_layer_read_below(&t->l, buf, (size_t)n);
	if (r >= 0)
		return (int)r;
	if (r == -EAGAIN) {
		t->below_again = true;
		BIO_set_retry_read(b);
	} else {
		t->io_err = (int)r;
	}
	return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	/* Nothing is buffered in the BIO itself: a flush is always done. */
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *bio_method(const char *name, int (*wr)(BIO *, const char *, int),
			      int (*rd)(BIO *, char *, int))
{
	int type = BIO_get_new_index();
	BIO_METHOD *m;

	if (type < 0)
		return NULL;
	m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, name);
	if (!m)
		return NULL;
	if (!BIO_meth_set_write(m, wr) || !BIO_meth_set_read(m, rd) ||
	    !BIO_meth_set_ctrl(m, bio_ctrl)) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

/* ---- the context ---- */

static void put_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	if (errlen)
		snprintf(err, errlen, "%s%s%s", what, why ? ": " : "", why ? why : "");
	ERR_clear_error();
}

static void ctx_free(sl_tls_ctx *c)
{
	for (size_t i = 0; i < c->cache_n; i++)
		free(c->cache[i].der);
	free(c->cache);
	SSL_CTX_free(c->ssl);
	BIO_meth_free(c->bio_fd);
	BIO_meth_free(c->bio_layer);
	pthread_mutex_destroy(&c->lock);
	c->magic = 0xdeadbeefu;
	free(c);
}

sl_tls_ctx *sl_tls_ctx_new(const sl_tls_ctx_opts *o, char *err, size_t errlen)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	sl_tls_ctx_opts none = {0};
	sl_tls_ctx *c;

	if (!o)
		o = &none;
	ERR_clear_error();
	c = calloc(1, sizeof *c);
	if (!c) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->magic = CTX_MAGIC;
	atomic_init(&c->refs, 1);
	pthread_mutex_init(&c->lock, NULL);
	c->cache_cap = o->session_cache_size ? o->session_cache_size : DEFAULT_CACHE;
	c->cache = calloc(c->cache_cap, sizeof *c->cache);
	c->ssl = SSL_CTX_new(TLS_client_method());
	c->bio_fd = bio_method("sluice fd", bio_fd_write, bio_fd_read);
	c->bio_layer = bio_method("sluice layer", bio_layer_write, bio_layer_read);
	if (!c->cache || !c->ssl || !c->bio_fd || !c->bio_layer) {
		put_err(err, errlen, "cannot create the TLS context");
		goto fail;
	}
	if (!SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION) ||
	    SSL_CTX_set_alpn_protos(c->ssl, alpn, sizeof alpn - 1) != 0) {
		put_err(err, errlen, "cannot configure the TLS context");
		goto fail;
	}
	SSL_CTX_set_options(c->ssl, SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
					 SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	if (o->ca_file || o->ca_path) {
		if (SSL_CTX_load_verify_locations(c->ssl, o->ca_file, o->ca_path) != 1) {
			char what[512];
			snprintf(what, sizeof what, "cannot load the CA %s %s",
				 o->ca_file ? "file" : "directory",
				 o->ca_file ? o->ca_file : o->ca_path);
			put_err(err, errlen, what);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
		put_err(err, errlen, "cannot load the system CA store");
		goto fail;
	}
	SSL_CTX_set_session_cache_mode(c->ssl,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c->ssl, on_new_session);
	ERR_clear_error();
	return c;
fail:
	ctx_free(c);
	return NULL;
}

void sl_tls_ctx_ref(sl_tls_ctx *c)
{
	check_ctx(c);
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void sl_tls_ctx_unref(sl_tls_ctx *c)
{
	if (!c)
		return;
	check_ctx(c);
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		ctx_free(c);
}

size_t sl_tls_ctx_sessions(sl_tls_ctx *c)
{
	size_t n;

	check_ctx(c);
	pthread_mutex_lock(&c->lock);
	n = c->cache_n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* ---- failures ---- */

static int verify_error(long v)
{
	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return SL_E_TLS_EXPIRED;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return SL_E_TLS_SELF_SIGNED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return SL_E_TLS_UNKNOWN_CA;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return SL_E_TLS_HOSTNAME;
	default:
		return SL_E_TLS_VERIFY;
	}
}

/* Keeps OpenSSL's first queued reason in t->reason and clears the queue. */
static void keep_reason(struct tls *t, const char *fallback)
{
	unsigned long e = ERR_peek_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	snprintf(t->reason, sizeof t->reason, "%s", why ? why : fallback);
	ERR_clear_error();
}

static bool unexpected_eof(void)
{
	unsigned long e = ERR_peek_error();

	return e && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	       ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* Moves t to FAILED with err, records it on the stream, traces it. */
static int fail(struct tls *t, int err, const char *when)
{
	sl_stream *s = t->l.s;

	t->state = ST_FAILED;
	t->fatal = true;
	t->err = err;
	t->shutting = false;
	ERR_clear_error();
	sl_stream_tracef(s, "tls hop %d: %s %s failed: %s (%s)", t->l.hop, when, t->key,
			 t->reason, sl_errname(err));
	return sl_stream_fail(s, t->l.hop, !t->l.target, err);
}

static int handshake_failed(struct tls *t, int ssl_err)
{
	long v = SSL_get_verify_result(t->ssl);
	int err;

	cache_forget(t->ctx, t->key, 0);
	if (t->verify && v != X509_V_OK) {
		err = verify_error(v);
		snprintf(t->reason, sizeof t->reason, "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
	} else if (t->io_err) {
		err = t->io_err;
		snprintf(t->reason, sizeof t->reason, "%s", sl_strerror(err));
	} else if (ssl_err == SSL_ERROR_SYSCALL || unexpected_eof()) {
		err = SL_E_TLS_HANDSHAKE;
		snprintf(t->reason, sizeof t->reason, "the peer closed the connection");
	} else {
		err = SL_E_TLS_HANDSHAKE;
		keep_reason(t, "handshake failure");
	}
	return fail(t, err, "handshake with");
}

/* A read or write failed for good: maps it and fails the layer. */
static int data_failed(struct tls *t, int ssl_err)
{
	int err;

	if (t->io_err) {
		err = t->io_err;
		snprintf(t->reason, sizeof t->reason, "%s", sl_strerror(err));
	} else if (ssl_err == SSL_ERROR_SYSCALL || unexpected_eof()) {
		err = SL_E_TLS_CLOSED;
		t->l.s->eof = true;
		snprintf(t->reason, sizeof t->reason, "end of stream without close_notify");
	} else {
		err = SL_E_TLS_HANDSHAKE;
		keep_reason(t, "protocol error");
	}
	return fail(t, err, "connection to");
}

/* ---- the layer ---- */

/* Copies at most cap-1 bytes of p, replacing control bytes, for traces. */
static void printable(char *out, size_t cap, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap; i++)
		out[i] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : p[i];
	if (cap)
		out[i] = '\0';
}

static void fill_info(const struct tls *t, sl_tls_info *out)
{
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	X509 *peer = SSL_get0_peer_certificate(t->ssl);
	char cn[sizeof out->peer_cn];
	int n = -1;

	memset(out, 0, sizeof *out);
	out->version = SSL_get_version(t->ssl);
	out->cipher = SSL_get_cipher_name(t->ssl);
	SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
	printable(out->alpn, sizeof out->alpn, (const char *)alpn, alpn ? alpn_len : 0);
	if (peer)
		n = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
					      sizeof cn);
	printable(out->peer_cn, sizeof out->peer_cn, cn, n > 0 ? (size_t)n : 0);
	out->resumed = SSL_session_reused(t->ssl) == 1;
	out->verify_result = SSL_get_verify_result(t->ssl);
	out->verified = t->verify && out->verify_result == X509_V_OK;
}

/* Binds the SSL object to what lies below and offers a cached session. */
static int attach(struct tls *t)
{
	sl_layer *l = &t->l;
	const unsigned char *p;
	unsigned char *der;
	size_t len = 0;
	SSL_SESSION *sess;
	BIO *b;

	t->via_layer = l->below != &l->s->sock;
	b = BIO_new(t->via_layer ? t->ctx->bio_layer : t->ctx->bio_fd);
	if (!b)
		return SL_E_NOMEM;
	BIO_set_data(b, t);
	BIO_set_init(b, 1);
	SSL_set_bio(t->ssl, b, b);
	der = cache_take(t->ctx, t->key, t->verify, &len, &t->sess_gen);
	if (der) {
		p = der;
		sess = d2i_SSL_SESSION(NULL, &p, (long)len);
		if (sess) {
			t->offered = SSL_set_session(t->ssl, sess) == 1;
			SSL_SESSION_free(sess);
		}
		free(der);
	}
	ERR_clear_error();
	return 0;
}

static int handshake_done(struct tls *t)
{
	sl_tls_info in;

	fill_info(t, &in);
	if (t->verify && in.verify_result != X509_V_OK)
		return handshake_failed(t, SSL_ERROR_SSL);
	t->state = ST_OPEN;
	t->hs_want = 0;
	sl_stream_tracef(t->l.s, "tls hop %d: %s %s, ALPN %s, %s%s%s%s", t->l.hop, in.version,
			 in.cipher, in.alpn[0] ? in.alpn : "none",
			 in.verified ? "verified" : "not verified", in.peer_cn[0] ? " CN=" : "",
			 in.peer_cn, in.resumed ? ", resumed" : "");
	return 0;
}

static int tls_progress(sl_layer *l)
{
	struct tls *t = as_tls(l);
	int r, e;

	if (t->state == ST_INIT) {
		r = attach(t);
		if (r < 0) {
			snprintf(t->reason, sizeof t->reason, "%s", sl_strerror(r));
			return fail(t, r, "handshake with");
		}
		t->state = ST_HANDSHAKE;
		sl_stream_tracef(l->s, "tls hop %d: handshake with %s%s%s", l->hop, t->key,
				 t->verify ? "" : " (not verifying)",
				 t->offered ? ", offering a cached session" : "");
	}
	if (t->state == ST_OPEN)
		return 0;
	if (t->state == ST_FAILED)
		return t->err;
	ERR_clear_error();
	t->io_err = 0;
	t->below_again = false;
	r = SSL_connect(t->ssl);
	if (r == 1)
		return handshake_done(t);
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		t->hs_want = e == SSL_ERROR_WANT_READ ? SL_WANT_READ : SL_WANT_WRITE;
		ERR_clear_error();
		return SL_E_AGAIN;
	}
	return handshake_failed(t, e);
}

static unsigned tls_want(const sl_layer *l)
{
	const struct tls *t = as_tls(l);
	unsigned w = 0;

	if (t->state == ST_HANDSHAKE || t->shutting)
		w = t->hs_want;
	else if (t->state == ST_OPEN)
		w = t->cross;
	/* What the layer below waits for to serve our BIO (a TLS read of the
	 * proxy's connection may need to write first). */
	if (t->via_layer && t->below_again && l->below->ops->want)
		w |= l->below->ops->want(l->below);
	return w;
}

static ssize_t tls_read(sl_layer *l, void *buf, size_t n)
{
	struct tls *t = as_tls(l);
	size_t got = 0;
	int e;

	if (t->state != ST_OPEN)
		return t->state == ST_FAILED ? t->err : SL_E_INVAL;
	ERR_clear_error();
	t->io_err = 0;
	t->below_again = false;
	if (SSL_read_ex(t->ssl, buf, n, &got) == 1) {
		t->cross &= ~(unsigned)SL_WANT_WRITE;
		return (ssize_t)got;
	}
	e = SSL_get_error(t->ssl, 0);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		t->cross &= ~(unsigned)SL_WANT_WRITE;
		ERR_clear_error();
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->cross |= SL_WANT_WRITE;
		ERR_clear_error();
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify: a clean end of stream. */
		l->s->eof = true;
		ERR_clear_error();
		if (!t->notified)
			sl_stream_tracef(l->s, "tls hop %d: close_notify received", l->hop);
		t->notified = true;
		return 0;
	default:
		return data_failed(t, e);
	}
}

/* Writes p[0..n): 1 when all of it went, 0 when part or none did (*done
 * says how much), or a negative error. */
static int write_one(struct tls *t, const void *p, size_t n, size_t *done)
{
	int e;

	*done = 0;
	ERR_clear_error();
	t->io_err = 0;
	t->below_again = false;
	if (SSL_write_ex(t->ssl, p, n, done) == 1) {
		t->cross &= ~(unsigned)SL_WANT_READ;
		return *done == n;
	}
	*done = 0;
	e = SSL_get_error(t->ssl, 0);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		if (e == SSL_ERROR_WANT_READ)
			t->cross |= SL_WANT_READ;
		else
			t->cross &= ~(unsigned)SL_WANT_READ;
		ERR_clear_error();
		return 0;
	}
	return data_failed(t, e);
}

/*
 * Writes the iovecs in order. Runs of small iovecs that fit one record are
 * copied into one stack buffer and sent as one record (an HTTP head and a
 * short body in one packet); larger ones go straight from the caller's
 * memory. Stops at the first partial write.
 */
static ssize_t tls_writev(sl_layer *l, const struct iovec *iov, int iovcnt)
{
	struct tls *t = as_tls(l);
	unsigned char tmp[COALESCE_MAX];
	size_t total = 0;
	int i = 0;

	if (t->state != ST_OPEN)
		return t->state == ST_FAILED ? t->err : SL_E_INVAL;
	while (i < iovcnt) {
		const void *p = iov[i].iov_base;
		size_t n = iov[i].iov_len, k = 0, done;
		int j = i, rc;

		while (j < iovcnt && k + iov[j].iov_len <= sizeof tmp)
			k += iov[j++].iov_len;
		if (j - i >= 2) {
			k = 0;
			for (int m = i; m < j; m++) {
				if (iov[m].iov_len)
					memcpy(tmp + k, iov[m].iov_base, iov[m].iov_len);
				k += iov[m].iov_len;
			}
			p = tmp;
			n = k;
		} else {
			j = i + 1;
		}
		if (n == 0) {
			i = j;
			continue;
		}
		rc = write_one(t, p, n, &done);
		total += done;
		if (rc < 0)
			return total ? (ssize_t)total : rc;
		if (rc == 0)
			break;
		i = j;
	}
	return total ? (ssize_t)total : -EAGAIN;
}

static size_t tls_pending(const sl_layer *l)
{
	const struct tls *t = as_tls(l);
	size_t n = 0;

	if (t->state != ST_OPEN)
		return 0;
	n = (size_t)SSL_pending(t->ssl);
	/* Records of ours the layer below has already decrypted: the fd may
	 * never become readable for them. */
	if (t->via_layer && l->below->ops->pending)
		n += l->below->ops->pending(l->below);
	return n;
}

static int tls_shutdown(sl_layer *l)
{
	struct tls *t = as_tls(l);
	int r, e;

	if (t->state != ST_OPEN || t->fatal || t->shut)
		return 0;
	ERR_clear_error();
	t->io_err = 0;
	t->below_again = false;
	r = SSL_shutdown(t->ssl);
	if (r >= 0) {
		/* Ours is sent; the peer's close_notify is not waited for. */
		t->shut = true;
		t->shutting = false;
		ERR_clear_error();
		sl_stream_tracef(l->s, "tls hop %d: close_notify sent", l->hop);
		return 0;
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		t->shutting = true;
		t->hs_want = e == SSL_ERROR_WANT_READ ? SL_WANT_READ : SL_WANT_WRITE;
		ERR_clear_error();
		return SL_E_AGAIN;
	}
	return data_failed(t, e);
}

static void tls_destroy(sl_layer *l)
{
	struct tls *t = as_tls(l);

	/* A healthy connection closed by its owner (an idle connection
	 * evicted) leaves its session cached; one that failed takes the
	 * session it stored or resumed with it, unless a newer one has
	 * replaced it (OpenSSL does the same to its own cache on SSL_free). */
	if (t->fatal && t->sess_gen)
		cache_forget(t->ctx, t->key, t->sess_gen);
	SSL_free(t->ssl); /* frees the BIO and this connection's session */
	ERR_clear_error();
	sl_tls_ctx_unref(t->ctx);
	t->magic = 0xdeadbeefu;
	free(t);
}

static const sl_layer_ops tls_ops = {
	.name = "tls",
	.progress = tls_progress,
	.want = tls_want,
	.read = tls_read,
	.writev = tls_writev,
	.pending = tls_pending,
	.shutdown = tls_shutdown,
	.destroy = tls_destroy,
};

sl_layer *sl_tls_layer_new(sl_tls_ctx *ctx, const char *server_name, uint16_t port, bool verify,
			   int hop, bool target)
{
	size_t n = server_name ? strlen(server_name) : 0;
	struct tls *t;
	sl_addr a;
	bool ok;

	if (!ctx)
		return NULL;
	check_ctx(ctx);
	if (n >= 2 && server_name[0] == '[' && server_name[n - 1] == ']') {
		server_name++;
		n -= 2;
	}
	if (n == 0 || n > NAME_MAX_LEN)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)server_name[i] <= 0x20 || server_name[i] == 0x7f)
			return NULL;
	t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->l.ops = &tls_ops;
	t->l.hop = hop;
	t->l.target = target;
	t->l.stays = true;
	t->magic = LAYER_MAGIC;
	t->verify = verify;
	memcpy(t->name, server_name, n);
	snprintf(t->key, sizeof t->key, "%s:%u", t->name, (unsigned)port);
	t->is_ip = sl_addr_parse(t->name, n, &a) == 0;
	ERR_clear_error();
	t->ssl = SSL_new(ctx->ssl);
	if (!t->ssl) {
		ERR_clear_error();
		free(t);
		return NULL;
	}
	sl_tls_ctx_ref(ctx);
	t->ctx = ctx;
	SSL_set_app_data(t->ssl, t);
	SSL_set_connect_state(t->ssl);
	ok = t->is_ip || SSL_set_tlsext_host_name(t->ssl, t->name) == 1;
	if (verify) {
		SSL_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
		if (t->is_ip) {
			ok = ok && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->name) == 1;
		} else {
			SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			ok = ok && SSL_set1_host(t->ssl, t->name) == 1;
		}
	} else {
		SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
	}
	ERR_clear_error();
	if (!ok) {
		tls_destroy(&t->l);
		return NULL;
	}
	return &t->l;
}

bool sl_tls_layer_is(const sl_layer *l)
{
	return l && l->ops == &tls_ops;
}

int sl_tls_layer_info(const sl_layer *l, sl_tls_info *out)
{
	const struct tls *t;

	if (!sl_tls_layer_is(l))
		return SL_E_INVAL;
	t = as_tls(l);
	if (t->state != ST_OPEN)
		return SL_E_AGAIN;
	fill_info(t, out);
	return 0;
}

const char *sl_tls_layer_reason(const sl_layer *l)
{
	if (!sl_tls_layer_is(l))
		return "";
	return as_tls(l)->reason;
}
