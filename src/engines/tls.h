/*
 * TLS client layer (OpenSSL 3). One sl_tls_ctx is built at start-up, in the
 * main thread, before any worker runs: it holds the SSL_CTX (TLS 1.2 and
 * later, ALPN "http/1.1", peer verification against the system trust store
 * or a configured CA file or directory, loaded once here and never per
 * connection) and a small per-origin session cache. Worker threads share it
 * read-only; the session cache inside it has its own lock, and the context
 * is reference counted so a reload can swap in a new one while connections
 * made with the old one finish.
 *
 * A TLS layer (sl_tls_layer_new) sits on an sl_stream and stays in the data
 * path after its handshake. Over the stream's socket layer it reads and
 * writes the fd directly; over any other layer (TLS to an HTTPS proxy) it
 * talks through a BIO that reads and writes the layer below, so TLS to an
 * HTTPS proxy and TLS to the origin inside its tunnel share one fd.
 *
 * Sessions are cached per "server-name:port". TLS 1.3 tickets arrive after
 * the handshake, while the application reads; the cache stores them then. A
 * TLS 1.3 session is taken out of the cache when a connection uses it
 * (tickets are single-use, RFC 8446 appendix C.4); a TLS 1.2 session stays
 * until replaced or evicted. A session made without verification is never
 * offered to a connection that verifies, and one whose connection failed
 * after it was stored or offered is dropped. The cache keeps sessions as
 * bytes and every connection parses its own copy, so no OpenSSL session
 * object is shared between connections or threads.
 *
 * Every function that touches OpenSSL clears the thread's error queue
 * before the call and after reading the error, so no error leaks from one
 * connection into the next on the same thread.
 */
#ifndef SL_ENGINES_TLS_H
#define SL_ENGINES_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/stream.h"

typedef struct sl_tls_ctx sl_tls_ctx;

/* Options for a context; a zeroed struct (or NULL) means the defaults. */
typedef struct sl_tls_ctx_opts {
	const char *ca_file;        /* PEM bundle of trusted CAs; NULL: system store */
	const char *ca_path;        /* hashed CA directory (c_rehash); NULL: none */
	size_t session_cache_size;  /* origins remembered for resumption; 0: 256 */
} sl_tls_ctx_opts;

/* What the handshake agreed on, for logs and tests. */
typedef struct sl_tls_info {
	const char *version;        /* "TLSv1.3" (static) */
	const char *cipher;         /* "TLS_AES_256_GCM_SHA384" (static) */
	char alpn[32];              /* "http/1.1", or "" when the server chose none */
	char peer_cn[128];          /* subject CN of the server's certificate, or "" */
	bool resumed;               /* the session was resumed */
	bool verified;              /* the certificate and name were verified */
	long verify_result;         /* X509_V_OK or the X509_V_ERR_* code */
} sl_tls_info;

/*
 * Builds a client context: loads the trust store (o->ca_file and/or
 * o->ca_path, else the system default paths), sets TLS 1.2 as the minimum,
 * ALPN http/1.1 and peer verification. Slow (it reads the trust store):
 * call it once at start-up or on reload, never on a loop's hot path.
 * Returns the context with one reference held by the caller, or NULL with
 * a one-line reason in err (errlen bytes, may be 0).
 */
sl_tls_ctx *sl_tls_ctx_new(const sl_tls_ctx_opts *o, char *err, size_t errlen);

/* Takes one more reference (any thread). */
void sl_tls_ctx_ref(sl_tls_ctx *c);

/* Drops a reference (any thread); the last one frees the context and the
 * sessions it caches. Layers hold their own reference, so a context
 * dropped by its owner lives until its last connection is gone. */
void sl_tls_ctx_unref(sl_tls_ctx *c);

/* Number of sessions cached right now (for tests and statistics). */
size_t sl_tls_ctx_sessions(sl_tls_ctx *c);

/*
 * Creates a TLS layer for sl_stream_push(): it runs the handshake with
 * server_name (SNI unless it is an IP literal; brackets around an IPv6
 * literal are allowed) on port (the session cache key), verifies the
 * certificate and the name when verify is true, and stays in the data path
 * afterwards. hop and target say where errors are recorded (see stream.h).
 * The layer keeps a reference on ctx and copies server_name. Returns the
 * layer (the stream owns it once pushed; destroy it with l->ops->destroy
 * otherwise), or NULL when out of memory, when ctx is NULL, or when
 * server_name is empty, longer than 255 bytes or holds a space or a
 * control byte.
 *
 * Errors: SL_E_TLS_EXPIRED, SL_E_TLS_SELF_SIGNED, SL_E_TLS_UNKNOWN_CA,
 * SL_E_TLS_HOSTNAME, SL_E_TLS_VERIFY (certificate verification),
 * SL_E_TLS_HANDSHAKE (any other handshake failure), SL_E_TLS_CLOSED (the
 * peer closed without close_notify during the data phase), -errno from the
 * socket, or the error of the layer below. Each is recorded with
 * sl_stream_fail(s, hop, !target, err) and OpenSSL's reason is kept for
 * sl_tls_layer_reason() and the stream's trace.
 *
 * Writing: after writev() returned -EAGAIN, call it again with the same
 * bytes at the front (more may follow): TLS has already framed them.
 */
sl_layer *sl_tls_layer_new(sl_tls_ctx *ctx, const char *server_name, uint16_t port, bool verify,
			   int hop, bool target);

/* True when l is a TLS layer. */
bool sl_tls_layer_is(const sl_layer *l);

/*
 * Fills *out with what the handshake of TLS layer l agreed on. Returns 0,
 * SL_E_AGAIN while the handshake has not finished, or SL_E_INVAL when l is
 * not a TLS layer.
 */
int sl_tls_layer_info(const sl_layer *l, sl_tls_info *out);

/* The reason of the layer's last failure as OpenSSL gave it ("certificate
 * verify failed: certificate has expired"), or "" when none. */
const char *sl_tls_layer_reason(const sl_layer *l);

#endif
