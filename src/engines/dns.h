/*
 * Asynchronous name resolution on a worker's loop, through c-ares: a
 * blocking getaddrinfo() on a loop is a bug. One sl_dns per loop (its
 * c-ares channel, its sockets watched by the loop); one sl_dns_cache shared
 * by every worker (a TTL-respecting positive cache and a short negative
 * cache, behind a lock, tolerant of many readers). /etc/hosts is honoured
 * before DNS; numeric addresses never reach the resolver; concurrent
 * lookups of one name on one loop share one query (in-flight
 * de-duplication).
 *
 * Callbacks are always called from the loop, never from inside
 * sl_dns_resolve(), exactly once per query unless it was cancelled.
 */
#ifndef SL_ENGINES_DNS_H
#define SL_ENGINES_DNS_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

typedef struct sl_dns sl_dns;
typedef struct sl_dns_cache sl_dns_cache;
typedef struct sl_dns_query sl_dns_query;

/* Most addresses handed to a callback. */
#define SL_DNS_MAX_ADDRS 16

typedef struct sl_dns_opts {
	uint64_t timeout_ms;      /* whole lookup, default 5000 */
	uint32_t negative_ttl_s;  /* how long a failure is cached, default 5 */
	uint32_t max_ttl_s;       /* cap on a record's TTL in the cache, default 3600 */
	const char *servers;      /* "ip[:port],..." to override resolv.conf (tests), or NULL */
	const char *hosts_file;   /* default "/etc/hosts"; "" to skip */
} sl_dns_opts;

/* Called with 0 and the addresses (IPv6 first when both exist, as RFC 8305
 * orders them for Happy Eyeballs), or with SL_E_DNS_NOT_FOUND,
 * SL_E_DNS_FAILED or SL_E_DNS_TIMEOUT and n == 0. addrs lives only during
 * the call. */
typedef void (*sl_dns_cb)(int err, const sl_addr *addrs, size_t n, void *arg);

/* Creates the shared cache (max_entries names). Returns NULL when out of
 * memory. Thread-safe; free it after every sl_dns using it. */
sl_dns_cache *sl_dns_cache_new(size_t max_entries);
void sl_dns_cache_free(sl_dns_cache *c);

/* Creates a resolver on loop using cache (may be NULL: no caching). opts
 * may be NULL for the defaults. Returns NULL on failure. */
sl_dns *sl_dns_new(struct ev_loop *loop, sl_dns_cache *cache, const sl_dns_opts *opts);

/* Cancels every pending query (their callbacks are not called) and frees. */
void sl_dns_free(sl_dns *d);

/*
 * Resolves host (a name, or a numeric IPv4/IPv6 address, which resolves to
 * itself). cb is called later from the loop. Returns a handle usable with
 * sl_dns_cancel() until cb runs, or NULL when out of memory (then cb is
 * never called).
 */
sl_dns_query *sl_dns_resolve(sl_dns *d, const char *host, sl_dns_cb cb, void *arg);

/* Cancels a query: its callback will not be called. */
void sl_dns_cancel(sl_dns_query *q);

#endif
