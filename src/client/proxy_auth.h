/*
 * The proxy credential cache: the client's implementation of the
 * struct sl_proxy_auth vtable that the HTTP CONNECT layer
 * (engines/http_connect.h) calls, on top of the credential cache of
 * client/auth_cache.h. When a proxy hop accepted the answer to a 407
 * challenge, the cache remembers the scheme (Basic or Digest, with the
 * Digest state) for that proxy and those credentials, so that later CONNECT
 * requests through the same proxy carry Proxy-Authorization at once, without
 * another 407 round trip.
 *
 * Entries are keyed by the proxy's host and port, the realm, and a digest
 * of the hop's user and password: a hop configured with other credentials
 * never receives the ones another hop proved, and a hop without credentials
 * is sent nothing. The key's path part starts with "proxy:", which no
 * origin-form request target does, so the cache may be shared with the
 * server credentials of the HTTP client without mixing the two.
 * Thread-safe as the underlying cache is.
 */
#ifndef SL_CLIENT_PROXY_AUTH_H
#define SL_CLIENT_PROXY_AUTH_H

#include <stddef.h>

#include "client/auth_cache.h"
#include "engines/http_connect.h"

/*
 * Creates a proxy credential cache over cache (borrowed; it must outlive
 * the result), or over a private cache of 64 entries when cache is NULL.
 * Returns the vtable to put in sl_connect_opts.auth, or NULL when out of
 * memory. Free it with sl_proxy_auth_free().
 */
struct sl_proxy_auth *sl_proxy_auth_new(sl_auth_cache *cache);

/* Frees what sl_proxy_auth_new() made (the private cache included, with
 * its passwords wiped). NULL is allowed. */
void sl_proxy_auth_free(struct sl_proxy_auth *pa);

/* How many proxy entries the underlying cache holds (all its entries when
 * it is shared). */
size_t sl_proxy_auth_count(struct sl_proxy_auth *pa);

/*
 * For requests sent to a forwarding proxy in absolute form, where the
 * client (not the CONNECT layer) talks to the proxy: after credentials for
 * hop went out preemptively (the vtable's preempt) and the proxy answered
 * 407 with the Proxy-Authenticate fields f[0..n): when one is a stale
 * Digest challenge, adopts its nonce and returns 0 (send again); otherwise
 * forgets the entry and returns SL_E_AUTH_REJECTED. pa must come from
 * sl_proxy_auth_new().
 */
int sl_proxy_auth_refresh(struct sl_proxy_auth *pa, const sl_hop *hop, const sl_field *f,
			  size_t n);

/* Reads Proxy-Authentication-Info of a response to credentials sent
 * preemptively for uri (a nextnonce is adopted). */
void sl_proxy_auth_info(struct sl_proxy_auth *pa, const sl_hop *hop, const sl_field *f,
			size_t n, const char *uri);

#endif
