/*
 * The proxy's side of the cache, shared by cache_serve.c (what a session
 * does with the cache: lookups, hits sent with sendfile or from the memory
 * tier, reading an object while another request writes it, PURGE, the
 * summary page) and cache_fetch.c (fetches that fill the cache: misses,
 * revalidations, background revalidations). Only src/server includes this.
 *
 * Objects and owners. A worker has one sl__cworker (the session context's
 * cw, NULL when the proxy runs without a cache). A request the cache takes
 * part in has an sl__creq (txn->cache), taken from the worker's pool when
 * the request needs more than a plain hit: a copy of the request to replay
 * it, the fill it reads, and the fetch that answers it directly. A fetch
 * (sl__cfetch) belongs to the worker, not to a session: a client that goes
 * away leaves the fetch filling the cache for the others; the worker aborts
 * the fetches left when it stops.
 *
 * Large hits are sent from mappings of the objects' files that the worker
 * keeps (cache_map.c).
 *
 * A fetch and its request point at each other (fetch->cr, creq->fetch)
 * while the fetch answers the request itself; either side clears both
 * links when it lets go. Readers of a fill (the leader's own request
 * included) stream from the fill's file with sendfile(2) at their client's
 * pace, so a slow client never slows the fetch.
 */
#ifndef SL_SERVER_CACHE_INTERNAL_H
#define SL_SERVER_CACHE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "cache/inflight.h"
#include "server/session_internal.h"

#define SL__CWORKER_MAGIC 0x43574b52u /* "CWKR" */
#define SL__CREQ_MAGIC 0x43524551u    /* "CREQ" */
#define SL__CFETCH_MAGIC 0x43464554u  /* "CFET" */
#define SL__POOL_CREQS 64
#define SL__CACHE_FIELDS 256          /* scratch fields for plans and 304 merges */
#define SL__MAP_MIN (256u * 1024)     /* bodies from this size go out from a mapping */
#define SL__CMAPS 16                  /* mappings a worker keeps */
#define SL__CMAP_BYTES (1ull << 30)   /* ... and at most this many bytes of them */

struct sl__cfetch;
struct sl__cmap;

/* The cache state of one worker (sl__sctx.cw). */
struct sl__cworker {
	uint32_t magic;
	sl_session_env *env;
	sl_cache *cache;
	sl_cache_policy_conf pc;
	bool collapse;                  /* cache.collapsed_forwarding */
	uint64_t max_object_size;       /* cache.max_object_size (at start) */
	char *key;                      /* SL_CACHE_KEY_MAX bytes: a lookup's key */
	sl_field *sf;                   /* SL__CACHE_FIELDS scratch fields */
	struct sl__creq *free_c;        /* the pool */
	unsigned nfree_c;
	struct sl__cfetch *fetches;     /* every fetch of the worker */
	unsigned nfetches;
	struct sl__cmap *maps[SL__CMAPS]; /* mapped large objects (cache_map.c) */
	uint64_t map_clock;
	uint64_t mapped;                /* bytes mapped, entries in use included */
};

/* A request the cache takes part in (txn->cache). */
typedef struct sl__creq {
	uint32_t magic;
	struct sl__creq *next;          /* the pool */
	sl__session *s;
	enum sl_cache_result result;    /* what X-Cache and the log say */
	sl_cache_reader *rd;            /* the fill it reads, or NULL */
	struct sl__cfetch *fetch;       /* the fetch that answers it directly */
	sl_cache_fields req;            /* the request's fields, copied */
	char *line;                     /* "METHOD\0URL\0": the request, copied */
	size_t line_cap;
	size_t mlen, ulen;
	bool replay;                    /* forwarded by forward.c: no second look */
	bool relooked;                  /* looked the cache up again after a fill */
	/* Streaming a fill. */
	bool head_sent;
	bool pumping;
	enum sl_http_body framing;      /* LENGTH, CHUNKED or CLOSE */
	uint64_t sent;                  /* body bytes queued */
	uint64_t length;                /* LENGTH: the body's length */
} sl__creq;

/* ---- cache_serve.c ---- */

/* Sets up and frees the worker's cache state (env->cache NULL: none). */
int sl__cache_worker_init(sl_session_env *env);
void sl__cache_worker_free(sl_session_env *env);

/* Aborts the worker's fetches (the worker stops). */
void sl__cache_worker_stop(sl_session_env *env);

/*
 * Called by forward.c for an absolute-form request once the client and
 * loops are checked: answers it from the cache, joins or starts a fetch,
 * answers PURGE, or returns false when forward.c should forward it (with
 * txn->cache saying MISS, or no creq: BYPASS).
 */
bool sl__cache_start(sl__session *s, const sl_http_request *rq, const sl_url *u);

/*
 * Called by forward.c's on_head before the response head is built: adds
 * X-Cache to the fields in out[0..n) (room for cap) and, after an unsafe
 * method, invalidates what it names. Returns the new count.
 */
size_t sl__cache_forward_head(sl__session *s, const sl_reply_head *h, sl_field *out, size_t n,
			      size_t cap);

/* The session's output drained (forward.c's sl__forward_wrote). */
void sl__cache_wrote(sl__session *s);

/* The request ends or the session closes: lets go of readers and fetches. */
void sl__cache_abort(sl__session *s);

/* Answers /__sluice/cache (the summary as JSON). */
void sl__cache_answer_summary(sl__session *s);

/*
 * Sends the stored object o as the answer to the session's request req,
 * with result r (X-Cache, log; a HIT from the memory tier logs as
 * TCP_MEM_HIT), honouring the request's conditionals and a single Range.
 * Takes over the caller's reference on o. Used for hits and by fetches
 * (304 revalidation, stale-if-error). Can end the request (and call
 * sl__cache_abort()).
 */
void sl__cache_serve(sl__session *s, const sl_cache_req *req, sl_cache_obj *o,
		     enum sl_cache_result r);

/* Makes the request, whose fill did not store anything, go upstream on
 * its own through forward.c. */
void sl__cache_replay(sl__creq *cr);

/* Builds the cache's view of the session's request (fields from cr). */
void sl__cache_req_of(const sl__creq *cr, enum sl_http_method m, sl_cache_req *out);

/* ---- cache_map.c ---- */

/*
 * Queues blen body bytes of o from byte first on q, from the worker's
 * mapping of o's file (made now when o has none). On success the caller's
 * reference on o is dropped (the mapping holds its own) and 0 is returned;
 * otherwise a negative code, and the caller still holds o.
 */
int sl__cache_map_push(struct sl__cworker *cw, sl_outq *q, sl_cache_obj *o, uint64_t first,
		       uint64_t blen);

/* Unmaps what the worker keeps (at its end; every session is closed). */
void sl__cache_map_free_all(struct sl__cworker *cw);

/* ---- cache_fetch.c ---- */

/* What a fetch starts from. */
typedef struct sl__cfetch_args {
	struct sl__cworker *cw;
	sl__creq *cr;                   /* the request it answers, or NULL (background) */
	const char *url;                /* absolute URL */
	const sl_field *fields;         /* the client's request fields */
	size_t nfields;
	const char *key;                /* the key looked up (primary or variant) */
	size_t key_len, plen;           /* ... and the primary key's length */
	sl_cache_fill *fill;            /* the fill it leads, or NULL */
	sl_cache_obj *stale;            /* validate this object (the fetch takes the
	                                   reference), or NULL */
	const sl_route *routes;         /* the request's routes (sl__plan_routes()), or NULL */
	size_t nroutes;
} sl__cfetch_args;

/*
 * Starts a fetch. On success the fetch owns a->fill and a->stale, and when
 * a->cr is set, links it. Returns 0, or a negative code; on failure the
 * fill is cancelled and the stale reference dropped.
 */
int sl__cfetch_start(const sl__cfetch_args *a);

/* The request cr lets go of its fetch (the client left, or the request
 * ends): the fetch goes on alone when it fills the cache, else stops. */
void sl__cfetch_detach(struct sl__cfetch *f);

/* The session's output drained: resume a paused relay. */
void sl__cfetch_wrote(struct sl__cfetch *f);

/* Aborts every fetch of the worker. */
void sl__cfetch_stop_all(struct sl__cworker *cw);

#endif
