/*
 * What the files of src/cache share about the store: the cache itself
 * (options, the 64 index stripes, global counters, the rebuild thread, the
 * in-flight table), index entries, the implementation of sl_cache_obj, and
 * the on-disk format routines. Only src/cache and its tests include this.
 *
 * Locking: an entry, its place in the hash table and in its stripe's
 * lists, and the stripe's counters belong to the stripe's mutex. Stripe
 * mutexes are never nested; the eviction mutex is taken before a stripe's
 * (never the other way round); the in-flight table's mutex is taken before
 * a fill's. No stripe lock is held across a system call, except renameat()
 * of an update whose header block did not fit (rare: see store.c).
 */
#ifndef SL_CACHE_STORE_INTERNAL_H
#define SL_CACHE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/inflight.h"
#include "cache/store.h"

#define SL__CACHE_MAGIC 0x53436368u      /* "SCch" */
#define SL__OBJ_MAGIC 0x534f626au        /* "SObj" */
#define SL__WRITER_MAGIC 0x53577274u     /* "SWrt" */
#define SL__DEAD_MAGIC 0xdeadca5eu

#define SL__STRIPES 64                   /* index stripes (a power of two) */
#define SL__MAX_OPEN_DEFAULT 4096        /* cached open files */
#define SL__MEM_OBJECT_MAX_DEFAULT (64u * 1024)
#define SL__HASH_LEN 32                  /* SHA-256 */

/* ---- on-disk format (store_format.c) ---- */

#define SL__FILE_MAGIC 0x31434c53u       /* "SLC1" read as a little-endian word */
#define SL__FILE_VERSION 1
#define SL__FIXED_LEN 64                 /* the fixed header */
#define SL__META_OFF SL__FIXED_LEN
#define SL__KEY_OFF (SL__FIXED_LEN + (uint32_t)sizeof(sl_cache_meta))
#define SL__FIELDS_MAX (256u * 1024)     /* bytes of stored fields text */
#define SL__NFIELDS_MAX 4096
#define SL__HEAD_MAX (SL__KEY_OFF + SL_CACHE_KEY_MAX + SL__FIELDS_MAX + 65536)
#define SL__HEAD_ALIGN 512               /* body_off is a multiple of this */
#define SL__HEAD_SLACK 256               /* at least this much room for a 304 */

/* What a valid header block says. Pointers point into the block. */
typedef struct sl__store_head {
	sl_cache_meta meta;
	const char *key;
	size_t key_len;
	const char *fields;       /* "name: value\r\n" lines */
	size_t fields_len;
	uint32_t nfields;
	uint64_t body_off;
	uint64_t head_used;       /* bytes the checksum covers: fixed + meta + key + fields */
} sl__store_head;

/* SHA-256 of p[0..n) into out (no allocation). */
void sl__store_hash(const void *p, size_t n, uint8_t out[SL__HASH_LEN]);

/* "ab/cd/<64 hex>" of a key hash into out (cap >= 72). */
void sl__store_hash_path(const uint8_t h[SL__HASH_LEN], char *out, size_t cap);

/*
 * Serialises the header block of an object: metadata m (body_len as
 * given), key and fields f[0..n). body_off 0 picks the offset (room for
 * SL__HEAD_SLACK, rounded up to SL__HEAD_ALIGN); otherwise the block must
 * fit before body_off (SL_E_LIMIT when it does not). On success *out is a
 * malloc'ed block of *used bytes (the caller frees it) and *body_off_out
 * the body's offset. Returns 0, SL_E_INVAL (a field with CR, LF or NUL, a
 * name with ':', a key too long), SL_E_LIMIT or SL_E_NOMEM.
 */
int sl__store_encode(const sl_cache_meta *m, sl_slice key, const sl_field *f, size_t n,
		     uint64_t body_off, char **out, size_t *used, uint64_t *body_off_out);

/* Rewrites the body length and checksum of a block sl__store_encode() made. */
void sl__store_seal(char *block, size_t used, uint64_t body_len);

/*
 * Validates the first n bytes p of an object file of file_size bytes:
 * magic, version, sizes, checksum, body_off + body_len == file_size. On
 * success fills *h (pointing into p) and returns 0. Returns SL_E_AGAIN
 * with *need set when the header block is longer than n, and
 * SL_E_CACHE_CORRUPT when anything does not hold.
 */
int sl__store_check(const void *p, size_t n, uint64_t file_size, sl__store_head *h,
		    size_t *need);

/* Parses the fields text of h into f[0..h->nfields) (slices into the
 * text). Returns 0 or SL_E_CACHE_CORRUPT. */
int sl__store_parse_fields(const sl__store_head *h, sl_field *f);

/*
 * The whole check of a complete object file held in memory (p[0..n)):
 * sl__store_check() with file_size n, then the fields into f[0..cap).
 * Returns 0, SL_E_CACHE_CORRUPT, or SL_E_LIMIT when cap is too small.
 * The fuzz target's entry point.
 */
int sl__store_parse(const void *p, size_t n, sl__store_head *h, sl_field *f, size_t cap);

/* ---- objects ---- */

/* sl_cache_obj as allocated: one block holding the fields array, the key,
 * the fields text and, in the memory tier, the body. */
struct sl__obj {
	sl_cache_obj pub;
	atomic_uint refs;
	uint64_t gen;              /* the index generation it was made for */
	uint8_t hash[SL__HASH_LEN];
	uint64_t file_size;
	dev_t dev;                 /* the file it was read from (update by path) */
	ino_t ino;
	size_t alloc;              /* bytes of the block (memory tier accounting) */
	sl_field fields[];
};

/* Allocates an object for h (fields parsed, key and text copied), with
 * room for body_len body bytes when mem (copied from body when not NULL).
 * fd is adopted (-1 for none). One reference. NULL on allocation failure
 * or bad fields (*err says which). */
struct sl__obj *sl__obj_new(const sl__store_head *h, bool mem, const void *body, int fd,
			    int *err);

/* ---- the index (index.c) ---- */

struct sl__link {
	struct sl__link *prev, *next;
};

struct sl__ent {
	uint8_t hash[SL__HASH_LEN];
	struct sl__ent *hnext;     /* hash chain */
	struct sl__link lru;       /* the stripe's LRU of every entry */
	struct sl__link olink;     /* the stripe's open or memory list, when obj */
	uint64_t stamp;            /* recency (see index.c) */
	uint64_t size;             /* bytes of the file */
	int64_t expiry;            /* when the response goes stale (seconds) */
	uint64_t gen;              /* changes with every commit and update */
	struct sl__obj *obj;       /* cached object (one reference), or NULL */
	bool updating;             /* an update is rewriting the file */
};

struct sl__stripe {
	pthread_mutex_t mu;
	struct sl__ent **buckets;
	size_t nbuckets;           /* a power of two */
	size_t n;
	struct sl__link lru;       /* head: most recent */
	struct sl__link olru;      /* entries whose cached object holds an open file */
	struct sl__link mlru;      /* entries whose cached object is in the memory tier */
	uint64_t lookups, hits, mem_hits;
} __attribute__((aligned(64)));

/* ---- in-flight fills (inflight.c) ---- */

#define SL__FILL_BUCKETS 256

struct sl__inflight {
	pthread_mutex_t mu;
	struct sl_cache_fill *buckets[SL__FILL_BUCKETS];
	unsigned count;
};

struct sl_cache {
	uint32_t magic;
	int dirfd;
	char *dir;
	uint64_t max_size, max_object_size, memory, memory_object_max;
	unsigned max_open;
	struct sl__stripe stripes[SL__STRIPES];
	atomic_uint_fast64_t clock;       /* recency clock (index.c) */
	atomic_uint_fast64_t gen_seq;
	atomic_uint_fast64_t bytes, objects;
	atomic_uint_fast64_t nopen, mem_bytes, mem_objects;
	atomic_uint_fast64_t stores, evictions, corrupt, too_large;
	atomic_uint_fast64_t tmp_seq;
	atomic_bool ready, stop;
	pthread_t rebuild;
	bool rebuild_started;
	pthread_mutex_t evict_mu;
	struct sl__inflight infl;
};

static inline struct sl__stripe *sl__stripe_of(sl_cache *c, const uint8_t *h)
{
	return &c->stripes[h[0] & (SL__STRIPES - 1)];
}

int sl__index_init(sl_cache *c);
/* Frees every entry, releasing cached objects. No other thread may run. */
void sl__index_free(sl_cache *c);

/* Stripe lock held for all four. */
struct sl__ent *sl__index_find(struct sl__stripe *s, const uint8_t *h);
/* Adds an empty entry for h (not present) with the given size, expiry and
 * recency (false: the oldest, as the rebuild inserts). NULL on ENOMEM. */
struct sl__ent *sl__index_add(sl_cache *c, struct sl__stripe *s, const uint8_t *h,
			      uint64_t size, int64_t expiry, bool recent);
/* Unlinks e from the stripe and frees it; returns its cached object (a
 * reference the caller releases outside the lock) or NULL. */
struct sl__obj *sl__index_drop(sl_cache *c, struct sl__stripe *s, struct sl__ent *e);
/* Marks e used now (LRU). */
void sl__index_touch(sl_cache *c, struct sl__stripe *s, struct sl__ent *e);
/* Sets e's file size (keeping the byte count) and expiry. */
void sl__index_resize(sl_cache *c, struct sl__ent *e, uint64_t size, int64_t expiry);

/* The stripe whose list (offset loff in struct sl__stripe, linking entries
 * by their member at eoff) ends with the oldest entry, expired ones first
 * when now is not 0; -1 when all are empty. Takes each stripe lock in turn. */
int sl__index_oldest(sl_cache *c, size_t loff, size_t eoff, int64_t now);

/* Evicts least recently used objects until the store is under max_size;
 * unlinks their files outside the stripe locks. No lock held. */
void sl__index_evict(sl_cache *c);

/* Removes the file of h (outside any lock). */
void sl__store_unlink(sl_cache *c, const uint8_t *h);

/* The expiry of m, for the index. */
static inline int64_t sl__meta_expiry(const sl_cache_meta *m)
{
	return m->response_time - m->corrected_initial_age + m->freshness_lifetime;
}

/* Starts and stops the rebuild thread. */
int sl__rebuild_start(sl_cache *c);
void sl__rebuild_stop(sl_cache *c);

/* ---- cached objects: open files and the memory tier (memtier.c) ---- */

/* Whether an object of file_size bytes should live in the memory tier. */
bool sl__mem_eligible(const sl_cache *c, uint64_t file_size);

/* Stripe lock held: makes o (the caller's reference, given away) e's cached
 * object and returns the previous one (release it outside the lock). */
struct sl__obj *sl__cached_set(sl_cache *c, struct sl__stripe *s, struct sl__ent *e,
			       struct sl__obj *o);
/* Stripe lock held: detaches e's cached object and returns it (or NULL). */
struct sl__obj *sl__cached_take(sl_cache *c, struct sl__stripe *s, struct sl__ent *e);
/* Stripe lock held: moves e's cached object to the front of its list. */
void sl__cached_touch(struct sl__stripe *s, struct sl__ent *e);
/* Drops least recently used cached objects until at most max_open open
 * files and memory bytes are cached. No lock held. */
void sl__cached_trim(sl_cache *c);

/* Drops the cached object of key, so that the next lookup reads the file
 * (tests). Returns 0 or SL_E_CACHE_MISS. */
int sl__store_uncache(sl_cache *c, sl_slice key);

/* The link helpers the index and the memory tier share. */
static inline void sl__link_init(struct sl__link *l)
{
	l->prev = l->next = l;
}

static inline bool sl__link_empty(const struct sl__link *l)
{
	return l->next == l;
}

static inline void sl__link_del(struct sl__link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
}

static inline void sl__link_push(struct sl__link *head, struct sl__link *l)
{
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
}

static inline void sl__link_push_tail(struct sl__link *head, struct sl__link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

#define sl__container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* ---- in-flight (inflight.c) ---- */

void sl__inflight_init(sl_cache *c);
void sl__inflight_free(sl_cache *c);

#endif
