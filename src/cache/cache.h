/*
 * The cache as its two users see it, the proxy (src/server) and the client
 * stack (src/client): a thin layer over policy.h and store.h that turns a
 * request into a key and a stored response, prepares what to store for a
 * response, applies a 304 to a stored response, and removes what a PURGE
 * or an unsafe method invalidates. Both users share it so that their keys
 * and on-disk entries are the same.
 *
 * Keys. The primary key of a request is its URL's cache key
 * (sl_url_cache_key(): scheme and host lower-cased, default port dropped,
 * dot segments removed...). A response without Vary is stored under the
 * primary key. A response with Vary is stored as a variant: under the
 * primary key sits a small "Vary marker" entry (flag SL_CACHE_F_MARKER, no
 * body) whose fields are the Vary field names (normalised), a random
 * generation and the secondary keys of the variants stored so far; each
 * variant is stored under
 *
 *     primary "\n" generation "\n" secondary
 *
 * where secondary is sl_cache_vary_key() of the request. A lookup that
 * finds a marker computes the request's secondary key and looks the variant
 * up. Removing the marker (PURGE, invalidation, a response whose Vary names
 * other fields) makes every variant of the old generation unreachable at
 * once; PURGE also removes the variants the marker lists, and eviction
 * reclaims any that were not listed.
 *
 * Every function may be called from any thread (the store is shared);
 * nothing here calls back. Times are seconds since the epoch.
 */
#ifndef SL_CACHE_CACHE_H
#define SL_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/policy.h"
#include "cache/store.h"
#include "core/headers.h"
#include "core/http_parse.h"
#include "core/slice.h"
#include "core/url.h"

/* sl_cache_meta.flags of a Vary marker entry (beside policy.h's bits). */
#define SL_CACHE_F_MARKER (1u << 31)

/* Variants a marker lists for PURGE (more are reclaimed by eviction). */
#define SL_CACHE_VARIANTS_MAX 16

/* Fields of a marker: Vary, the generation, and the listed variants. */
#define SL_CACHE_MARKER_VARY "Vary"
#define SL_CACHE_MARKER_GEN "Sluice-Vary-Generation"
#define SL_CACHE_MARKER_VARIANT "Sluice-Variant"

/*
 * Writes the primary key of the URL u into out (cap bytes, NUL-terminated).
 * Returns the length, or a negative code (SL_E_URL_TOO_LONG...).
 */
int sl_cache_key_primary(const sl_url *u, char *out, size_t cap);

/* As sl_cache_key_primary() for the n bytes of an absolute URL at url. */
int sl_cache_key_of_url(const char *url, size_t n, char *out, size_t cap);

/* Whether o is a Vary marker rather than a response. */
bool sl_cache_obj_is_marker(const sl_cache_obj *o);

/*
 * Finds the stored response for request r. key holds the primary key in
 * key[0..plen) and has room for cap bytes (SL_CACHE_KEY_MAX is enough).
 * When a Vary marker sits under the primary key, the variant key of r is
 * written after it. Either way *klen is the key under which r's response
 * is (or would be) stored, key stays NUL-terminated, and that key is the
 * one to collapse concurrent misses on. On a hit stores a reference in
 * *out and returns 0; returns SL_E_CACHE_MISS (also for a corrupt entry,
 * which the store has removed) or SL_E_LIMIT when the variant key does not
 * fit (treat as a miss that cannot be stored).
 */
int sl_cache_find(sl_cache *c, const sl_cache_req *r, char *key, size_t plen, size_t cap,
		  size_t *klen, sl_cache_obj **out);

/* What sl_cache_plan() decided about a response. */
typedef struct sl_cache_plan {
	enum sl_cache_store_verdict verdict; /* SL_CACHE_STORE, or why not */
	sl_cache_meta meta;                  /* the metadata to store */
	size_t nfields;                      /* stored fields written to the caller's array */
	size_t key_len;                      /* the key to store under: key[0..key_len) */
	bool vary;                           /* stored as a variant (a marker is in place) */
} sl_cache_plan;

/*
 * Decides whether the response (status, fields f[0..n)) to request r may be
 * stored and, when it may, prepares it: the metadata (body_len set to
 * body_len: the announced length, or UINT64_MAX when unknown), the fields to
 * store (written into sf[0..sfcap); slices point into f) and the key: the
 * primary key key[0..plen) for a response without Vary, else a variant key
 * written after it, in which case the Vary marker is written or updated in
 * the store now. t_req and t_resp are when the request went out and when
 * the response head came. Returns 0 (p->verdict SL_CACHE_STORE),
 * SL_E_CACHE_NOT_STORABLE (p->verdict says why), SL_E_LIMIT (a key or the
 * fields do not fit) or a store error.
 */
int sl_cache_plan_store(sl_cache *c, const sl_cache_policy_conf *pc, const sl_cache_req *r,
			int status, const sl_field *f, size_t n, int64_t t_req, int64_t t_resp,
			uint64_t body_len, char *key, size_t plen, size_t cap, sl_field *sf,
			size_t sfcap, sl_cache_plan *p);

/*
 * Applies a 304 (fields f304[0..n304)) received for the conditional request
 * that validated the stored response o (section 4.3.4): when the 304
 * selects o, its stored fields are merged with the 304's (in scratch,
 * scap entries, used as two halves), the metadata refreshed from them and
 * the 304's Date and Age (sl_cache_meta_refresh()) and o's header block
 * rewritten in place; *out gets a reference to the updated object (or to o
 * itself when o was replaced meanwhile or the merged response may no longer
 * be stored, in which case the entry is removed). Returns 0, or
 * SL_E_CACHE_NOT_STORABLE when the 304 does not select o (*out untouched).
 */
int sl_cache_revalidated(sl_cache *c, const sl_cache_policy_conf *pc, const sl_cache_req *r,
			 sl_cache_obj *o, const sl_field *f304, size_t n304, int64_t t_req,
			 int64_t t_resp, sl_field *scratch, size_t scap, sl_cache_obj **out);

/* Whether the stored field f of o goes out when o is served without
 * validation: not when the response's no-cache="..." names it. */
bool sl_cache_field_served(const sl_cache_obj *o, const sl_field *f);

/*
 * Removes what is stored under the primary key (a response, or a marker
 * and the variants it lists). Returns 0, or SL_E_CACHE_MISS when nothing
 * was stored.
 */
int sl_cache_purge(sl_cache *c, sl_slice primary);

/*
 * Section 4.4: after the unsafe request m for the absolute URI target was
 * answered with status and fields resp[0..n), purges the URIs it
 * invalidates. Returns how many entries were removed.
 */
size_t sl_cache_invalidate(sl_cache *c, enum sl_http_method m, int status, const char *target,
			   const sl_field *resp, size_t n);

/*
 * A copy of header fields in memory of its own, for requests that outlive
 * their read buffer (a fetch, a request waiting on another's fetch). Start
 * zeroed; sl_cache_fields_set() may be called again (buffers are reused);
 * sl_cache_fields_free() releases them.
 */
typedef struct sl_cache_fields {
	char *mem;
	size_t cap;
	sl_field *v;
	size_t n, vcap;
} sl_cache_fields;

/* Copies f[0..n) plus room for extra more fields. Returns 0 or SL_E_NOMEM. */
int sl_cache_fields_set(sl_cache_fields *b, const sl_field *f, size_t n, size_t extra);

void sl_cache_fields_free(sl_cache_fields *b);

#endif
