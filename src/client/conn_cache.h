/*
 * The idle connection cache of one manager (one loop), as
 * QNetworkAccessCache is Qt's, but per socket rather than per group of
 * channels: a persistent upstream stream that finished its exchange waits
 * here under its connection key ("http://host:port" plus the route) until a
 * request to the same key takes it again. The most recently parked stream is
 * taken first; eviction is least recently parked first. An entry leaves when
 * its idle time passes the timeout, when the total or the per-key count
 * would pass its cap, or at once when its socket becomes readable: a
 * server's close (EOF), a reset or bytes nobody asked for all mean the
 * stream cannot carry another request. The cache owns the streams it holds
 * and closes those it evicts. Not thread-safe: it belongs to one loop.
 */
#ifndef SL_CLIENT_CONN_CACHE_H
#define SL_CLIENT_CONN_CACHE_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/stream.h"

typedef struct sl_conn_cache sl_conn_cache;

typedef struct sl_conn_cache_opts {
	unsigned max_total;        /* idle streams in the cache; default 256 */
	unsigned max_per_key;      /* idle streams per key (host); default 8 */
	uint64_t idle_timeout_ms;  /* default 60000 */
} sl_conn_cache_opts;

typedef struct sl_conn_cache_stats {
	unsigned idle;             /* streams held now */
	uint64_t parked;           /* streams taken in */
	uint64_t taken;            /* streams handed out again */
	uint64_t evicted_closed;   /* the server closed or sent bytes */
	uint64_t evicted_timeout;
	uint64_t evicted_limit;
} sl_conn_cache_stats;

/* Creates an empty cache on loop; opts may be NULL, zero members mean the
 * defaults. Returns NULL when out of memory. */
sl_conn_cache *sl_conn_cache_new(struct ev_loop *loop, const sl_conn_cache_opts *opts);

/* Closes every stream held and frees the cache. NULL is allowed. */
void sl_conn_cache_free(sl_conn_cache *c);

/*
 * Parks stream s under key (n bytes, copied). The cache takes s in every
 * case: a stream that is not usable, has unread bytes, or comes when the
 * per-key cap is zero is closed at once. Parking past a cap evicts the
 * oldest stream of the key, or of the cache. Returns 0, or SL_E_INVAL when
 * s was closed instead of parked.
 */
int sl_conn_cache_put(sl_conn_cache *c, const char *key, size_t n, sl_stream *s);

/*
 * Takes the most recently parked usable stream of key out of the cache; the
 * caller owns it and must set its callback. Returns NULL when there is none.
 */
sl_stream *sl_conn_cache_take(sl_conn_cache *c, const char *key, size_t n);

/* How many streams key has parked. */
unsigned sl_conn_cache_count(const sl_conn_cache *c, const char *key, size_t n);

/*
 * Replaces the options of a live cache (zero members mean the defaults).
 * The idle timeout applies at once to the streams held, counted from when
 * each was parked; streams beyond a lower total cap are evicted now, oldest
 * first; a lower per-key cap applies as streams are parked.
 */
void sl_conn_cache_set_opts(sl_conn_cache *c, const sl_conn_cache_opts *opts);

/* Closes every parked stream. */
void sl_conn_cache_clear(sl_conn_cache *c);

/* Fills *out. */
void sl_conn_cache_get_stats(const sl_conn_cache *c, sl_conn_cache_stats *out);

#endif
