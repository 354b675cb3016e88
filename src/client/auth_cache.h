/*
 * The credential cache, as QNetworkAccessAuthenticationManager is Qt's: it
 * remembers which credentials a server (or a proxy) accepted for a
 * protection space, keyed by host, port, realm and path prefix (the
 * directory of the URI that was answered), with the Digest state that goes
 * with them (nonce, nonce count, client nonce), so that later requests send
 * them preemptively, without a 401 or 407 round trip. The HTTP client uses it
 * for 401 (Authorization); the CONNECT engine can use it for 407
 * (Proxy-Authorization) with an empty path. The arithmetic is core/auth.h's.
 *
 * Every entry owns copies of what it keeps. The cache is thread-safe (one
 * mutex; lookups are short) so that workers may share one, and its size is
 * bounded: past max_entries the least recently used entry goes.
 */
#ifndef SL_CLIENT_AUTH_CACHE_H
#define SL_CLIENT_AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/auth.h"
#include "core/headers.h"
#include "core/slice.h"

typedef struct sl_auth_cache sl_auth_cache;

/* Creates an empty cache of at most max_entries entries (0: 256). Returns
 * NULL when out of memory. */
sl_auth_cache *sl_auth_cache_new(size_t max_entries);

/* Frees the cache, wiping passwords and Digest states. NULL is allowed. */
void sl_auth_cache_free(sl_auth_cache *c);

/*
 * Answers "what Authorization (or Proxy-Authorization) value do I send
 * preemptively to host:port for this path?": finds the entry for host
 * (ASCII case-insensitive) and port whose path prefix is the longest prefix
 * of path, and writes its credentials for one request into out (cap bytes,
 * NUL-terminated): Basic as stored, Digest computed for method and uri (the
 * request-target as sent, or "host:port" for CONNECT), counting one use of
 * the nonce. Returns the length, 0 when no entry applies (out = ""), or an
 * error of sl_auth_basic()/sl_auth_digest_respond().
 */
int sl_auth_cache_preempt(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path,
			  sl_slice method, sl_slice uri, char *out, size_t cap);

/*
 * Answers "a challenge was answered and accepted: remember it": stores cred
 * for (host, port, realm, directory of path) with scheme; for Digest, st is
 * the state the accepted request was made with (copied, nonce count
 * included). An entry with the same host, port, realm and prefix is
 * replaced. Returns 0, SL_E_INVAL (scheme not Basic nor Digest, or Digest
 * without st) or SL_E_NOMEM.
 */
int sl_auth_cache_store(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path,
			const char *realm, enum sl_auth_scheme scheme, const sl_auth_cred *cred,
			const sl_auth_digest_state *st);

/*
 * For a new challenge (fields called name: "WWW-Authenticate" or
 * "Proxy-Authenticate") after credentials from the entry covering path were
 * sent preemptively: when one is a stale Digest challenge for that entry,
 * the new nonce is adopted and 0 is returned (send again); otherwise
 * SL_E_AUTH_REJECTED (the entry is left alone; forget it if the credentials
 * are wrong), or SL_E_INVAL when no entry covers path.
 */
int sl_auth_cache_refresh(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path,
			  const sl_field *f, size_t n, const char *name);

/*
 * Reads Authentication-Info (or Proxy-Authentication-Info) fields of a
 * response to a request whose credentials came from the entry covering
 * path, adopting a nextnonce (sl_auth_digest_info()). Returns 0 (also when
 * no entry or no field applies) or that function's error.
 */
int sl_auth_cache_info(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path,
		       const sl_field *f, size_t n, const char *name, sl_slice uri);

/* Removes the entry covering path for host:port (the credentials were
 * refused). Returns true when one was removed. */
bool sl_auth_cache_forget(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path);

/* How many entries the cache holds. */
size_t sl_auth_cache_count(sl_auth_cache *c);

/*
 * Writes into out (cap bytes) the directory of the path of a request-target
 * ("/a/b?q" -> "/a/", "/x" -> "/", "" -> ""), the path prefix entries are
 * keyed by. Returns its length, or SL_E_INVAL when cap is too small.
 */
int sl_auth_path_dir(sl_slice path, char *out, size_t cap);

#endif
