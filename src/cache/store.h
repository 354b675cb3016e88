/*
 * The shared cache's storage: one file per object under cache.dir, named
 * by the SHA-256 of its key in two directory levels (ab/cd/abcd...), each
 * holding a fixed binary header (magic, version, checksum, metadata,
 * lengths), the stored header fields and the body; an in-memory index
 * (key hash -> size, last access, expiry) shared by every worker behind
 * striped locks, rebuilt from the files by a background thread at start-up
 * (until it is done, a key it has not seen yet is a miss); LRU eviction
 * under cache.max_size; and a memory tier that keeps small hot objects
 * whole in memory (cache.memory bytes).
 *
 * Objects are written to a temporary file in DIR/tmp and renamed into
 * place when complete, so a truncated or failed write is never visible,
 * not even after kill -9. A stored object is immutable apart from its
 * header block, which a 304 rewrites in place (the body is never copied).
 * A file whose header, checksum or length does not hold up is removed and
 * counted as a miss.
 *
 * Every function may be called from any worker thread. Objects handed out
 * are reference-counted snapshots: a reader keeps its object (and the open
 * file behind it) even when the entry is replaced, purged or evicted.
 * Disk I/O happens on the caller's thread and touches only the page cache
 * on the hot path: a hit is one index lookup and no system call besides
 * the sendfile(2) or writev(2) that sends it.
 */
#ifndef SL_CACHE_STORE_H
#define SL_CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/policy.h"
#include "core/headers.h"
#include "core/slice.h"

#define SL_CACHE_KEY_MAX 8192 /* bytes of a key (URL + Vary's secondary key) */

typedef struct sl_cache sl_cache;

typedef struct sl_cache_opts {
	const char *dir;             /* created when missing (with tmp/) */
	uint64_t max_size;           /* bytes on disk the store keeps under (files' sizes);
	                                0 = no limit */
	uint64_t max_object_size;    /* larger bodies are refused; 0 = no limit */
	uint64_t memory;             /* bytes of the memory tier, 0 = none */
	uint64_t memory_object_max;  /* objects (head + body) up to this size may enter
	                                the memory tier; 0 = 64 KiB */
	unsigned max_open;           /* objects the index keeps open (parsed, with their
	                                file descriptor) for syscall-free hits; 0 = 4096 */
} sl_cache_opts;

/*
 * Opens the store at o->dir (creating it), starts the index rebuild in a
 * background thread and returns at once. Stale temporary files of an
 * earlier run are removed by the rebuild. Returns 0, a -errno from the
 * file system, or SL_E_NOMEM.
 */
int sl_cache_open(const sl_cache_opts *o, sl_cache **out);

/* Stops the rebuild thread and frees the cache. Objects still referenced
 * stay valid until released. Writers, fills and their readers must have
 * ended. */
void sl_cache_close(sl_cache *c);

/* True once the start-up rebuild has read every file. */
bool sl_cache_ready(const sl_cache *c);

/* A stored object: an immutable, reference-counted snapshot. */
typedef struct sl_cache_obj {
	uint32_t magic;
	sl_cache_meta meta;       /* meta.body_len = body bytes */
	const sl_field *fields;   /* the stored fields, parsed */
	size_t nfields;
	const char *key;          /* the full key, NUL-terminated */
	size_t key_len;
	const char *body;         /* memory tier: the whole body; NULL: in the file */
	int fd;                   /* the object's file, valid while the object is
	                             referenced; callers only read it (pread, sendfile
	                             with an explicit offset: never move its file
	                             position, other threads share it); -1 for a
	                             memory-tier object */
	off_t body_off;           /* where the body starts in fd */
} sl_cache_obj;

/*
 * Sending a hit: when o->body is not NULL, write o->body[0..meta.body_len)
 * (writev); otherwise sendfile(2) from o->fd at offset o->body_off +
 * position for meta.body_len bytes. Either way keep the reference until
 * the last byte is out, then release it on any thread.
 */

/*
 * Finds key. On a hit stores a new reference in *out, marks the entry used
 * (LRU) and returns 0; returns SL_E_CACHE_MISS when the key is not stored
 * (or not indexed yet), SL_E_CACHE_CORRUPT when its file failed its checks
 * (the file is then removed: a miss for the caller), or a -errno when the
 * file could not be read (EMFILE...: a miss too, the file stays). Never
 * blocks on another thread's disk I/O. A hit on an object the index keeps
 * (open or in memory) makes no system call and allocates nothing; the
 * first lookup after a restart or after the object was dropped from the
 * index's cache opens and reads the header block (and a small body).
 */
int sl_cache_lookup(sl_cache *c, sl_slice key, sl_cache_obj **out);

/* Takes one more reference. */
sl_cache_obj *sl_cache_obj_ref(sl_cache_obj *o);

/* Drops a reference; the last one closes the file and frees the object. */
void sl_cache_obj_release(sl_cache_obj *o);

/*
 * Removes key (PURGE, invalidation). Readers holding the object keep it.
 * Returns 0, or SL_E_CACHE_MISS when nothing was stored under key.
 */
int sl_cache_remove(sl_cache *c, sl_slice key);

/* An object being written (one thread at a time). */
typedef struct sl_cache_writer sl_cache_writer;

/*
 * Starts writing the object for key: metadata m (its body_len is the
 * expected body size, or UINT64_MAX when unknown) and stored fields
 * f[0..n), to a temporary file. Returns 0, SL_E_CACHE_TOO_LARGE when the
 * expected size is over max_object_size, SL_E_INVAL for an empty key or a
 * field holding CR, LF or NUL (or a name holding ':'), SL_E_LIMIT for a
 * key over SL_CACHE_KEY_MAX or fields over 256 KiB, or a -errno.
 */
int sl_cache_writer_open(sl_cache *c, sl_slice key, const sl_cache_meta *m,
			 const sl_field *f, size_t n, sl_cache_writer **out);

/* Appends body bytes. Returns 0, SL_E_CACHE_TOO_LARGE past max_object_size
 * (the writer must then be aborted), SL_E_INVAL past the announced body
 * length, or a -errno (disk full...). An error sticks: commit returns it. */
int sl_cache_writer_append(sl_cache_writer *w, const void *p, size_t n);

/* The temporary file and how far it is written, for readers that stream
 * the object while it is written: body bytes are at body_off..+written.
 * Returns the descriptor (owned by the writer; dup it to keep it). */
int sl_cache_writer_fd(const sl_cache_writer *w, off_t *body_off, uint64_t *written);

/*
 * Completes the object: checks the body length against the expected one
 * when it was known, writes the final header, renames the file into place
 * (replacing an older object of the same key), indexes it and evicts least
 * recently used objects until the store is under max_size again (an
 * object larger than max_size is evicted at once; the reference in *out
 * stays valid). Frees w, also on error. When out is not NULL, stores a
 * reference to the new object. Returns 0, SL_E_CACHE_SHORT when fewer
 * body bytes came than announced (nothing is stored), the append error
 * that stuck, or a -errno.
 */
int sl_cache_writer_commit(sl_cache_writer *w, sl_cache_obj **out);

/* Drops the temporary file and frees w. Nothing is stored. */
void sl_cache_writer_abort(sl_cache_writer *w);

/*
 * Section 4.3.4: replaces the metadata and stored fields of the object o
 * (as looked up) with m and f[0..n), rewriting its header block in place
 * (or, when the new block does not fit, a new file whose body is copied
 * inside the kernel), never through user space. m->body_len is ignored
 * (the body stays). o itself does not change: holders keep reading it.
 * Returns 0 and, when out is not NULL, a reference to the updated object;
 * SL_E_CACHE_MISS when o is no longer the stored object for its key (it
 * was replaced, removed or evicted, or another update of it is under way);
 * SL_E_INVAL or SL_E_LIMIT for fields that cannot be stored; or a -errno.
 */
int sl_cache_update(sl_cache *c, sl_cache_obj *o, const sl_cache_meta *m, const sl_field *f,
		    size_t n, sl_cache_obj **out);

/* Counters and sizes for the status page. */
typedef struct sl_cache_stats {
	uint64_t objects;         /* indexed objects */
	uint64_t bytes;           /* their files' sizes */
	uint64_t max_size;
	uint64_t mem_objects;     /* objects in the memory tier */
	uint64_t mem_bytes;
	uint64_t mem_max;
	uint64_t lookups;
	uint64_t hits;            /* lookups that found an object */
	uint64_t mem_hits;        /* ... from the memory tier */
	uint64_t stores;          /* objects committed */
	uint64_t evictions;
	uint64_t corrupt;         /* files removed because they failed their checks */
	uint64_t too_large;       /* objects refused for their size */
	bool ready;               /* the start-up rebuild is done */
} sl_cache_stats;

void sl_cache_stats_get(sl_cache *c, sl_cache_stats *s);

/*
 * The file name of key under the store's directory ("ab/cd/<64 hex>"),
 * written into out (at least 72 bytes). For tests and the status page.
 */
void sl_cache_key_path(sl_slice key, char *out, size_t cap);

#endif
