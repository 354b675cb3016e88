/*
 * The store's files and objects: opening and closing the cache, writing
 * an object (temporary file, then rename), looking a key up (from the
 * index's cached object, or from its file), updating an object's header
 * block after a 304, removing, and the counters.
 *
 * Layout: DIR/ab/cd/<64 hex> per object (the SHA-256 of its key; the two
 * directory levels are made on first use), DIR/tmp/<pid>-<n> while it is
 * written. The file format is described at the top of store_format.c: a
 * 64-byte fixed header (magic "SLC1", version 1, lengths, body offset and
 * length, 8-byte checksum), the sl_cache_meta, the key, the stored fields
 * as "name: value\r\n" lines, slack up to the body offset (a multiple of
 * 512 with at least 256 bytes free), then the body. The checksum covers
 * everything before the slack; the body is checked by its length only
 * (file size == body offset + body length), never read back.
 *
 * Durability: nothing is fsync'ed. A commit writes the temporary file and
 * renames it over the final name, which is atomic: a reader sees the old
 * object or the new one, never a part. A power loss may lose recent
 * objects (or leave an empty or short file, which fails its checks and is
 * removed), but never exposes a partial one. After kill -9 the temporary
 * files are left in DIR/tmp; the next sl_cache_open() moves that directory
 * aside and the rebuild thread deletes it.
 *
 * A 304 rewrites the header block in place with one pwrite(2) when the new
 * block fits before the body; a torn write (crash) fails the checksum.
 * When it does not fit, a new temporary file gets the new block and the
 * body copied by copy_file_range(2) inside the kernel, and is renamed in
 * place. Objects are immutable: an update makes a new sl_cache_obj and
 * swaps it into the index; readers of the old one keep it.
 *
 * Threads and locks: any function from any thread. The hit path is the
 * key's SHA-256, a stripe lock, a list move and a reference count: no
 * allocation, no system call. A lookup that must read the file does so
 * without holding a lock. Locks are held over a system call only to remove
 * a file found corrupt and to rename an update that did not fit in place
 * (both rare: they must not race with a commit of the same key).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/store_internal.h"
#include "core/err.h"
#include "core/log.h"

#define READ_AHEAD 16384 /* one pread covers most header blocks (and small bodies) */

struct sl_cache_writer {
	uint32_t magic;
	sl_cache *c;
	uint8_t hash[SL__HASH_LEN];
	int fd;
	char tmp[64];              /* name under the cache's directory */
	char *head;                /* the header block as written */
	size_t head_used;
	uint64_t body_off;
	uint64_t expected;         /* UINT64_MAX: unknown */
	uint64_t written;
	char *mem;                 /* the body so far, for the memory tier, or NULL */
	size_t mem_cap;
	int err;                   /* sticky */
};

static struct sl__obj *impl(const sl_cache_obj *p)
{
	struct sl__obj *o = (struct sl__obj *)p;

	assert(o && o->pub.magic == SL__OBJ_MAGIC);
	return o;
}

/* ---- objects ---- */

/* Allocates an object for header h (see store_internal.h). */
struct sl__obj *sl__obj_new(const sl__store_head *h, bool mem, const void *body, int fd,
			    int *err)
{
	size_t size = sizeof(struct sl__obj) + h->nfields * sizeof(sl_field) + h->key_len + 1 +
		      h->fields_len + (mem ? (size_t)h->meta.body_len : 0);
	struct sl__obj *o = malloc(size);

	if (!o) {
		*err = SL_E_NOMEM;
		return NULL;
	}
	memset(o, 0, sizeof *o);
	char *p = (char *)(o->fields + h->nfields);
	memcpy(p, h->key, h->key_len);
	p[h->key_len] = '\0';
	o->pub.key = p;
	o->pub.key_len = h->key_len;
	p += h->key_len + 1;
	memcpy(p, h->fields, h->fields_len);
	sl__store_head copy = *h;
	copy.fields = p;
	p += h->fields_len;
	if (sl__store_parse_fields(&copy, o->fields) < 0) {
		free(o);
		*err = SL_E_CACHE_CORRUPT;
		return NULL;
	}
	if (mem) {
		if (body && h->meta.body_len)
			memcpy(p, body, (size_t)h->meta.body_len);
		o->pub.body = p;
	}
	o->pub.magic = SL__OBJ_MAGIC;
	o->pub.meta = h->meta;
	o->pub.fields = o->fields;
	o->pub.nfields = h->nfields;
	o->pub.fd = fd;
	o->pub.body_off = (off_t)h->body_off;
	o->file_size = h->body_off + h->meta.body_len;
	o->alloc = size;
	atomic_init(&o->refs, 1);
	return o;
}

/* Takes one more reference to o. */
sl_cache_obj *sl_cache_obj_ref(sl_cache_obj *p)
{
	atomic_fetch_add_explicit(&impl(p)->refs, 1, memory_order_relaxed);
	return p;
}

/* Drops a reference; the last one closes the file and frees the object. */
void sl_cache_obj_release(sl_cache_obj *p)
{
	if (!p)
		return;
	struct sl__obj *o = impl(p);
	if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (o->pub.fd >= 0)
		close(o->pub.fd);
	o->pub.magic = SL__DEAD_MAGIC;
	o->pub.fd = -1;
	o->pub.fields = NULL;
	o->pub.body = NULL;
	o->pub.key = NULL;
	free(o);
}

/* ---- small file helpers ---- */

static int pread_full(int fd, void *p, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)p + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return SL_E_CACHE_CORRUPT;
		got += (size_t)r;
	}
	return 0;
}

static int pwrite_full(int fd, const void *p, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)p + done, n - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		done += (size_t)r;
	}
	return 0;
}

/* Makes DIR/ab/tmp and DIR/ab/cd for the final name of h. */
static void make_dirs(sl_cache *c, const uint8_t *h)
{
	char path[80];

	sl__store_hash_path(h, path, sizeof path);
	path[2] = '\0';
	mkdirat(c->dirfd, path, 0755);
	path[2] = '/';
	path[5] = '\0';
	mkdirat(c->dirfd, path, 0755);
}

/* Renames DIR/tmp to its final name for h, making the directories. */
static int rename_in(sl_cache *c, const char *tmp, const uint8_t *h)
{
	char path[80];

	sl__store_hash_path(h, path, sizeof path);
	if (renameat(c->dirfd, tmp, c->dirfd, path) == 0)
		return 0;
	if (errno != ENOENT)
		return -errno;
	make_dirs(c, h);
	return renameat(c->dirfd, tmp, c->dirfd, path) == 0 ? 0 : -errno;
}

/* Creates a new temporary file; its name goes to name[cap]. */
static int tmp_open(sl_cache *c, char *name, size_t cap)
{
	for (int tries = 0; tries < 8; tries++) {
		unsigned long long n = atomic_fetch_add(&c->tmp_seq, 1);
		snprintf(name, cap, "tmp/%d-%llu", (int)getpid(), n);
		int fd = openat(c->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

/* ---- open and close ---- */

static int mkdir_p(const char *dir)
{
	char p[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof p)
		return SL_E_INVAL;
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char keep = p[i];
		p[i] = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		p[i] = keep;
	}
	return 0;
}

/* Moves DIR/tmp of an earlier run aside (the rebuild deletes it) and makes
 * a fresh one, so temporary files of this run are never swept. */
static int fresh_tmp(sl_cache *c)
{
	struct timespec ts;
	char old[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(old, sizeof old, "tmp-old-%d-%lld.%09ld", (int)getpid(),
		 (long long)ts.tv_sec, ts.tv_nsec);
	if (renameat(c->dirfd, "tmp", c->dirfd, old) < 0 && errno != ENOENT)
		return -errno;
	if (mkdirat(c->dirfd, "tmp", 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Opens the store at o->dir (see store.h): the directory is made, DIR/tmp
 * renewed, and the rebuild thread started. Only one sl_cache may use a
 * directory at a time.
 */
int sl_cache_open(const sl_cache_opts *o, sl_cache **out)
{
	if (!o || !o->dir || !out)
		return SL_E_INVAL;
	int rc = mkdir_p(o->dir);
	if (rc < 0)
		return rc;
	size_t sz = (sizeof(sl_cache) + 63) / 64 * 64;
	sl_cache *c = aligned_alloc(64, sz);
	if (!c)
		return SL_E_NOMEM;
	memset(c, 0, sizeof *c);
	c->dirfd = -1;
	c->dir = strdup(o->dir);
	c->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!c->dir || c->dirfd < 0) {
		rc = c->dir ? -errno : SL_E_NOMEM;
		goto fail;
	}
	c->max_size = o->max_size ? o->max_size : UINT64_MAX;
	c->max_object_size = o->max_object_size ? o->max_object_size : UINT64_MAX;
	c->memory = o->memory;
	c->memory_object_max = o->memory_object_max ? o->memory_object_max
						    : SL__MEM_OBJECT_MAX_DEFAULT;
	c->max_open = o->max_open ? o->max_open : SL__MAX_OPEN_DEFAULT;
	if ((rc = fresh_tmp(c)) < 0)
		goto fail;
	if ((rc = sl__index_init(c)) < 0)
		goto fail;
	sl__inflight_init(c);
	c->magic = SL__CACHE_MAGIC;
	if ((rc = sl__rebuild_start(c)) < 0) {
		sl__inflight_free(c);
		sl__index_free(c);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (c->dirfd >= 0)
		close(c->dirfd);
	free(c->dir);
	free(c);
	return rc;
}

/* Stops the rebuild and frees the cache; objects handed out stay valid. */
void sl_cache_close(sl_cache *c)
{
	if (!c)
		return;
	assert(c->magic == SL__CACHE_MAGIC);
	sl__rebuild_stop(c);
	sl__inflight_free(c);
	sl__index_free(c);
	close(c->dirfd);
	free(c->dir);
	c->magic = SL__DEAD_MAGIC;
	free(c);
}

/* True once the rebuild has read every file. */
bool sl_cache_ready(const sl_cache *c)
{
	return atomic_load(&((sl_cache *)c)->ready);
}

/* ---- lookup ---- */

/*
 * Reads the file of h into a new object. Returns 0, SL_E_CACHE_MISS when
 * there is no file, SL_E_CACHE_CORRUPT, or a -errno (the file was not
 * judged).
 */
static int load(sl_cache *c, const uint8_t *h, struct sl__obj **out)
{
	char path[80], buf[READ_AHEAD], *big = NULL;
	const char *blk = buf;
	struct stat st;
	sl__store_head hd;
	size_t need = 0, n;
	int rc, err = 0;

	sl__store_hash_path(h, path, sizeof path);
	int fd = openat(c->dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? SL_E_CACHE_MISS : -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	n = (uint64_t)st.st_size < sizeof buf ? (size_t)st.st_size : sizeof buf;
	rc = pread_full(fd, buf, n, 0);
	if (rc == 0)
		rc = sl__store_check(buf, n, (uint64_t)st.st_size, &hd, &need);
	if (rc == SL_E_AGAIN) {
		big = malloc(need);
		rc = big ? pread_full(fd, big, need, 0) : SL_E_NOMEM;
		if (rc == 0)
			rc = sl__store_check(big, need, (uint64_t)st.st_size, &hd, &need);
		blk = big;
		n = need;
	}
	if (rc < 0)
		goto out;
	uint8_t kh[SL__HASH_LEN];
	sl__store_hash(hd.key, hd.key_len, kh);
	if (memcmp(kh, h, SL__HASH_LEN) != 0) {
		rc = SL_E_CACHE_CORRUPT;
		goto out;
	}
	bool mem = sl__mem_eligible(c, (uint64_t)st.st_size);
	struct sl__obj *o = sl__obj_new(&hd, mem, NULL, mem ? -1 : fd, &err);
	if (!o) {
		rc = err;
		goto out;
	}
	if (mem) {
		/* The read-ahead may already hold the body, or part of it. */
		char *body = (char *)o->pub.body;
		size_t len = (size_t)hd.meta.body_len, have = 0;
		if (n > hd.body_off)
			have = n - (size_t)hd.body_off < len ? n - (size_t)hd.body_off : len;
		memcpy(body, blk + hd.body_off, have);
		rc = pread_full(fd, body + have, len - have, (off_t)(hd.body_off + have));
		if (rc < 0) {
			sl_cache_obj_release(&o->pub);
			goto out;
		}
	} else {
		fd = -1; /* the object has it */
	}
	memcpy(o->hash, h, SL__HASH_LEN);
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	*out = o;
out:
	if (fd >= 0)
		close(fd);
	free(big);
	return rc;
}

/*
 * Finds key (see store.h). A hit on a cached object is one stripe lock
 * and a reference; otherwise the file is read outside the lock and the
 * object cached in the entry when the entry did not change meanwhile.
 */
int sl_cache_lookup(sl_cache *c, sl_slice key, sl_cache_obj **out)
{
	uint8_t h[SL__HASH_LEN];
	struct sl__obj *o = NULL, *drop = NULL;

	assert(c->magic == SL__CACHE_MAGIC);
	if (key.n == 0 || key.n > SL_CACHE_KEY_MAX)
		return SL_E_CACHE_MISS;
	sl__store_hash(key.p, key.n, h);
	struct sl__stripe *s = sl__stripe_of(c, h);
	pthread_mutex_lock(&s->mu);
	s->lookups++;
	struct sl__ent *e = sl__index_find(s, h);
	if (!e) {
		pthread_mutex_unlock(&s->mu);
		return SL_E_CACHE_MISS;
	}
	sl__index_touch(c, s, e);
	if (e->obj) {
		o = e->obj;
		atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
		s->hits++;
		if (o->pub.body)
			s->mem_hits++;
		pthread_mutex_unlock(&s->mu);
		*out = &o->pub;
		return 0;
	}
	uint64_t gen = e->gen;
	pthread_mutex_unlock(&s->mu);

	int rc = load(c, h, &o);
	bool cached = false;
	pthread_mutex_lock(&s->mu);
	e = sl__index_find(s, h);
	bool same = e && e->gen == gen && !e->updating;
	if (rc == 0) {
		s->hits++;
		if (same) {
			o->gen = gen;
			if (!e->obj) {
				atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
				sl__cached_set(c, s, e, o);
				cached = true;
			}
		}
	} else if (rc == SL_E_CACHE_MISS && same) {
		drop = sl__index_drop(c, s, e); /* the file went away */
	} else if (rc == SL_E_CACHE_CORRUPT) {
		if (same) {
			SL_WARN("cache: removing damaged object for %.*s", SL_SLICE_FMT(key));
			drop = sl__index_drop(c, s, e);
			/* Under the lock: a commit of this key must not be unlinked. */
			sl__store_unlink(c, h);
			atomic_fetch_add_explicit(&c->corrupt, 1, memory_order_relaxed);
		} else {
			rc = SL_E_CACHE_MISS; /* read while it was being rewritten */
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (drop)
		sl_cache_obj_release(&drop->pub);
	if (cached)
		sl__cached_trim(c);
	if (rc == 0)
		*out = &o->pub;
	return rc;
}

/* Drops the cached object of key (tests). */
int sl__store_uncache(sl_cache *c, sl_slice key)
{
	uint8_t h[SL__HASH_LEN];
	struct sl__obj *o = NULL;

	sl__store_hash(key.p, key.n, h);
	struct sl__stripe *s = sl__stripe_of(c, h);
	pthread_mutex_lock(&s->mu);
	struct sl__ent *e = sl__index_find(s, h);
	if (e)
		o = sl__cached_take(c, s, e);
	pthread_mutex_unlock(&s->mu);
	if (o)
		sl_cache_obj_release(&o->pub);
	return e ? 0 : SL_E_CACHE_MISS;
}

/* ---- remove ---- */

/* Removes key: the entry under its lock, then the file outside it. */
int sl_cache_remove(sl_cache *c, sl_slice key)
{
	uint8_t h[SL__HASH_LEN];
	char path[80];
	struct sl__obj *o = NULL;

	assert(c->magic == SL__CACHE_MAGIC);
	if (key.n == 0 || key.n > SL_CACHE_KEY_MAX)
		return SL_E_CACHE_MISS;
	sl__store_hash(key.p, key.n, h);
	struct sl__stripe *s = sl__stripe_of(c, h);
	pthread_mutex_lock(&s->mu);
	struct sl__ent *e = sl__index_find(s, h);
	bool had = e != NULL;
	if (e)
		o = sl__index_drop(c, s, e);
	pthread_mutex_unlock(&s->mu);
	if (o)
		sl_cache_obj_release(&o->pub);
	/* Also when not indexed: the rebuild may not have reached it yet. */
	sl__store_hash_path(h, path, sizeof path);
	if (unlinkat(c->dirfd, path, 0) == 0)
		had = true;
	return had ? 0 : SL_E_CACHE_MISS;
}

/* ---- writing ---- */

/* Starts an object (see store.h). */
int sl_cache_writer_open(sl_cache *c, sl_slice key, const sl_cache_meta *m,
			 const sl_field *f, size_t n, sl_cache_writer **out)
{
	assert(c->magic == SL__CACHE_MAGIC);
	if (m->body_len != UINT64_MAX && m->body_len > c->max_object_size) {
		atomic_fetch_add_explicit(&c->too_large, 1, memory_order_relaxed);
		return SL_E_CACHE_TOO_LARGE;
	}
	sl_cache_writer *w = calloc(1, sizeof *w);
	if (!w)
		return SL_E_NOMEM;
	sl_cache_meta mm = *m;
	w->expected = m->body_len;
	if (mm.body_len == UINT64_MAX)
		mm.body_len = 0; /* sealed at commit */
	int rc = sl__store_encode(&mm, key, f, n, 0, &w->head, &w->head_used, &w->body_off);
	if (rc < 0) {
		free(w);
		return rc;
	}
	w->fd = tmp_open(c, w->tmp, sizeof w->tmp);
	if (w->fd < 0) {
		rc = w->fd;
		free(w->head);
		free(w);
		return rc;
	}
	rc = pwrite_full(w->fd, w->head, w->head_used, 0);
	if (rc < 0) {
		close(w->fd);
		unlinkat(c->dirfd, w->tmp, 0);
		free(w->head);
		free(w);
		return rc;
	}
	sl__store_hash(key.p, key.n, w->hash);
	w->c = c;
	w->magic = SL__WRITER_MAGIC;
	uint64_t whole = w->body_off + (w->expected == UINT64_MAX ? 0 : w->expected);
	if (sl__mem_eligible(c, whole)) {
		w->mem_cap = w->expected == UINT64_MAX ? 4096 : (size_t)w->expected;
		w->mem = malloc(w->mem_cap ? w->mem_cap : 1);
	}
	*out = w;
	return 0;
}

/* Appends body bytes (see store.h). Past the announced length: SL_E_INVAL. */
int sl_cache_writer_append(sl_cache_writer *w, const void *p, size_t n)
{
	assert(w && w->magic == SL__WRITER_MAGIC);
	if (w->err)
		return w->err;
	if (n == 0)
		return 0;
	if (w->written + n > w->c->max_object_size) {
		atomic_fetch_add_explicit(&w->c->too_large, 1, memory_order_relaxed);
		return w->err = SL_E_CACHE_TOO_LARGE;
	}
	if (w->expected != UINT64_MAX && w->written + n > w->expected)
		return w->err = SL_E_INVAL;
	int rc = pwrite_full(w->fd, p, n, (off_t)(w->body_off + w->written));
	if (rc < 0)
		return w->err = rc;
	if (w->mem) {
		size_t need = (size_t)w->written + n;
		if (!sl__mem_eligible(w->c, w->body_off + need)) {
			free(w->mem);
			w->mem = NULL;
		} else {
			if (need > w->mem_cap) {
				size_t cap = w->mem_cap * 2 > need ? w->mem_cap * 2 : need;
				char *q = realloc(w->mem, cap);
				if (!q) {
					free(w->mem);
					w->mem = NULL;
				} else {
					w->mem = q;
					w->mem_cap = cap;
				}
			}
			if (w->mem)
				memcpy(w->mem + w->written, p, n);
		}
	}
	w->written += n;
	return 0;
}

/* The temporary file and how far it is written (see store.h). */
int sl_cache_writer_fd(const sl_cache_writer *w, off_t *body_off, uint64_t *written)
{
	assert(w && w->magic == SL__WRITER_MAGIC);
	if (body_off)
		*body_off = (off_t)w->body_off;
	if (written)
		*written = w->written;
	return w->fd;
}

static void writer_free(sl_cache_writer *w, bool unlink_tmp)
{
	if (w->fd >= 0)
		close(w->fd);
	if (unlink_tmp)
		unlinkat(w->c->dirfd, w->tmp, 0);
	free(w->head);
	free(w->mem);
	w->magic = SL__DEAD_MAGIC;
	free(w);
}

/* Drops the temporary file; nothing is stored. */
void sl_cache_writer_abort(sl_cache_writer *w)
{
	if (!w)
		return;
	assert(w->magic == SL__WRITER_MAGIC);
	writer_free(w, true);
}

/*
 * Indexes object o (may be NULL: the file alone) of size bytes for h:
 * replaces an older entry or adds one, as the most recent. Returns
 * SL_E_NOMEM when no entry could be made. Consumes the caller's
 * reference to o only when it is cached (*cached set).
 */
static int index_put(sl_cache *c, const uint8_t *h, struct sl__obj *o, uint64_t size,
		     int64_t expiry, bool *cached)
{
	struct sl__stripe *s = sl__stripe_of(c, h);
	struct sl__obj *old = NULL;

	*cached = false;
	pthread_mutex_lock(&s->mu);
	struct sl__ent *e = sl__index_find(s, h);
	if (e) {
		sl__index_resize(c, e, size, expiry);
		e->gen = atomic_fetch_add_explicit(&c->gen_seq, 1, memory_order_relaxed) + 1;
		e->updating = false;
		e->stamp = atomic_fetch_add_explicit(&c->clock, 2, memory_order_relaxed) + 2;
		sl__link_del(&e->lru);
		sl__link_push(&s->lru, &e->lru);
		old = sl__cached_take(c, s, e);
	} else {
		e = sl__index_add(c, s, h, size, expiry, true);
	}
	if (e && o) {
		o->gen = e->gen;
		sl__cached_set(c, s, e, o);
		*cached = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (old)
		sl_cache_obj_release(&old->pub);
	return e ? 0 : SL_E_NOMEM;
}

/* Completes the object (see store.h). */
int sl_cache_writer_commit(sl_cache_writer *w, sl_cache_obj **out)
{
	assert(w && w->magic == SL__WRITER_MAGIC);
	sl_cache *c = w->c;
	int rc = w->err, err = 0;

	if (rc == 0 && w->expected != UINT64_MAX && w->written != w->expected)
		rc = SL_E_CACHE_SHORT;
	if (rc < 0) {
		writer_free(w, true);
		return rc;
	}
	if (w->expected == UINT64_MAX) {
		sl__store_seal(w->head, w->head_used, w->written);
		if ((rc = pwrite_full(w->fd, w->head, w->head_used, 0)) < 0) {
			writer_free(w, true);
			return rc;
		}
	}
	uint64_t size = w->body_off + w->written;
	struct stat st;
	sl__store_head hd;
	size_t need;
	if (fstat(w->fd, &st) < 0 || (uint64_t)st.st_size != size) {
		/* An empty body: the file ends with the header block; extend it
		 * to the body offset (a hole) so that its size checks out. */
		if (ftruncate(w->fd, (off_t)size) < 0) {
			rc = -errno;
			writer_free(w, true);
			return rc;
		}
		fstat(w->fd, &st);
	}
	rc = sl__store_check(w->head, w->head_used, size, &hd, &need);
	assert(rc == 0);
	bool mem = w->mem && sl__mem_eligible(c, size);
	struct sl__obj *o = sl__obj_new(&hd, mem, w->mem, mem ? -1 : w->fd, &err);
	if (o) {
		memcpy(o->hash, w->hash, SL__HASH_LEN);
		o->dev = st.st_dev;
		o->ino = st.st_ino;
		if (!mem)
			w->fd = -1; /* the object has it */
	}
	rc = rename_in(c, w->tmp, w->hash);
	if (rc < 0) {
		SL_WARN("cache: cannot store %s: %s", w->tmp, sl_strerror(rc));
		if (o) {
			if (o->pub.fd >= 0) { /* give the fd back to the writer for cleanup */
				w->fd = o->pub.fd;
				o->pub.fd = -1;
			}
			sl_cache_obj_release(&o->pub);
		}
		writer_free(w, true);
		return rc;
	}
	bool cached;
	if (o)
		atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed); /* the index's */
	rc = index_put(c, w->hash, o, size, sl__meta_expiry(&hd.meta), &cached);
	if (o && !cached)
		sl_cache_obj_release(&o->pub);
	if (rc < 0) {
		sl__store_unlink(c, w->hash); /* an unindexed file would never be evicted */
		if (o)
			sl_cache_obj_release(&o->pub);
		writer_free(w, false);
		return rc;
	}
	atomic_fetch_add_explicit(&c->stores, 1, memory_order_relaxed);
	sl__index_evict(c);
	sl__cached_trim(c);
	if (out && o)
		*out = &o->pub;
	else if (o)
		sl_cache_obj_release(&o->pub);
	else if (out) /* no memory for the object: read it back */
		rc = sl_cache_lookup(c, sl_slice_make(hd.key, hd.key_len), out);
	writer_free(w, false); /* after: hd points into w->head */
	return rc;
}

/* ---- 304 update ---- */

/* Copies len bytes from in@off_in to out@off_out inside the kernel. */
static int copy_body(int in, off_t off_in, int out, off_t off_out, uint64_t len)
{
	while (len > 0) {
		ssize_t r = copy_file_range(in, &off_in, out, &off_out, (size_t)len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			      errno == EOPNOTSUPP)) {
			/* Older kernels or odd file systems: sendfile(2) to a file
			 * also stays in the kernel. */
			if (lseek(out, off_out, SEEK_SET) < 0)
				return -errno;
			while (len > 0) {
				ssize_t s = sendfile(out, in, &off_in, (size_t)len);
				if (s < 0 && errno == EINTR)
					continue;
				if (s <= 0)
					return s < 0 ? -errno : SL_E_CACHE_CORRUPT;
				len -= (uint64_t)s;
			}
			return 0;
		}
		if (r <= 0)
			return r < 0 ? -errno : SL_E_CACHE_CORRUPT;
		len -= (uint64_t)r;
	}
	return 0;
}

/* Clears e's updating flag when the update failed (e unchanged). */
static void update_fail(sl_cache *c, const uint8_t *h, uint64_t gen)
{
	struct sl__stripe *s = sl__stripe_of(c, h);

	pthread_mutex_lock(&s->mu);
	struct sl__ent *e = sl__index_find(s, h);
	if (e && e->gen == gen)
		e->updating = false;
	pthread_mutex_unlock(&s->mu);
}

/*
 * Section 4.3.4 (see store.h). The entry is marked while its file is
 * rewritten, so a concurrent lookup that reads a half-written block does
 * not take it for corruption, and a second update of the same object gets
 * SL_E_CACHE_MISS. m->body_len is ignored: the body does not change.
 */
int sl_cache_update(sl_cache *c, sl_cache_obj *po, const sl_cache_meta *m, const sl_field *f,
		    size_t n, sl_cache_obj **out)
{
	struct sl__obj *o = impl(po), *no = NULL, *old = NULL;
	struct sl__stripe *s = sl__stripe_of(c, o->hash);
	char path[80], tmp[64] = "";
	char *blk = NULL;
	size_t used;
	uint64_t boff;
	int rc, err = 0, fd = -1;

	assert(c->magic == SL__CACHE_MAGIC);
	pthread_mutex_lock(&s->mu);
	struct sl__ent *e = sl__index_find(s, o->hash);
	bool mine = e && o->gen && e->gen == o->gen && !e->updating;
	if (mine)
		e->updating = true;
	pthread_mutex_unlock(&s->mu);
	if (!mine)
		return SL_E_CACHE_MISS;

	sl_cache_meta mm = *m;
	mm.body_len = o->pub.meta.body_len;
	sl_slice key = sl_slice_make(o->pub.key, o->pub.key_len);
	sl__store_hash_path(o->hash, path, sizeof path);
	struct stat st;
	fd = openat(c->dirfd, path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = errno == ENOENT ? SL_E_CACHE_MISS : -errno;
		goto fail;
	}
	if (st.st_dev != o->dev || st.st_ino != o->ino) {
		rc = SL_E_CACHE_MISS; /* another file took its name */
		goto fail;
	}
	rc = sl__store_encode(&mm, key, f, n, (uint64_t)o->pub.body_off, &blk, &used, &boff);
	if (rc == 0) {
		if ((rc = pwrite_full(fd, blk, used, 0)) < 0)
			goto fail; /* possibly torn: the checksum will tell */
	} else if (rc == SL_E_LIMIT) {
		rc = sl__store_encode(&mm, key, f, n, 0, &blk, &used, &boff);
		if (rc < 0)
			goto fail;
		int tfd = tmp_open(c, tmp, sizeof tmp);
		if (tfd < 0) {
			rc = tfd;
			tmp[0] = '\0';
			goto fail;
		}
		rc = pwrite_full(tfd, blk, used, 0);
		if (rc == 0)
			rc = copy_body(fd, o->pub.body_off, tfd, (off_t)boff, mm.body_len);
		if (rc == 0 && mm.body_len == 0 && ftruncate(tfd, (off_t)boff) < 0)
			rc = -errno;
		close(fd);
		fd = tfd;
		if (rc == 0 && fstat(fd, &st) < 0)
			rc = -errno;
		if (rc < 0)
			goto fail;
	} else {
		goto fail;
	}
	sl__store_head hd;
	size_t need;
	rc = sl__store_check(blk, used, boff + mm.body_len, &hd, &need);
	assert(rc == 0);
	bool mem = o->pub.body != NULL;
	no = sl__obj_new(&hd, mem, o->pub.body, mem ? -1 : fd, &err);
	if (!no) {
		rc = err;
		goto fail;
	}
	if (!mem)
		fd = -1;
	memcpy(no->hash, o->hash, SL__HASH_LEN);
	no->dev = st.st_dev;
	no->ino = st.st_ino;

	pthread_mutex_lock(&s->mu);
	e = sl__index_find(s, o->hash);
	if (!e || e->gen != o->gen || !e->updating) {
		rc = SL_E_CACHE_MISS; /* removed, evicted or replaced meanwhile */
	} else if (tmp[0] && (rc = rename_in(c, tmp, o->hash)) < 0) {
		e->updating = false;
	} else {
		tmp[0] = '\0';
		sl__index_resize(c, e, no->file_size, sl__meta_expiry(&hd.meta));
		e->gen = atomic_fetch_add_explicit(&c->gen_seq, 1, memory_order_relaxed) + 1;
		e->updating = false;
		no->gen = e->gen;
		atomic_fetch_add_explicit(&no->refs, 1, memory_order_relaxed);
		old = sl__cached_set(c, s, e, no);
	}
	pthread_mutex_unlock(&s->mu);
	if (old)
		sl_cache_obj_release(&old->pub);
	if (tmp[0])
		unlinkat(c->dirfd, tmp, 0);
	free(blk);
	if (rc == 0) {
		sl__cached_trim(c);
		sl__index_evict(c);
		if (out)
			*out = &no->pub;
		else
			sl_cache_obj_release(&no->pub);
	} else {
		sl_cache_obj_release(&no->pub);
	}
	return rc;
fail:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlinkat(c->dirfd, tmp, 0);
	free(blk);
	update_fail(c, o->hash, o->gen);
	return rc;
}

/* ---- counters ---- */

/* Fills *st with the counters (see store.h). */
void sl_cache_stats_get(sl_cache *c, sl_cache_stats *st)
{
	memset(st, 0, sizeof *st);
	for (int i = 0; i < SL__STRIPES; i++) {
		struct sl__stripe *s = &c->stripes[i];
		pthread_mutex_lock(&s->mu);
		st->lookups += s->lookups;
		st->hits += s->hits;
		st->mem_hits += s->mem_hits;
		pthread_mutex_unlock(&s->mu);
	}
	st->objects = atomic_load(&c->objects);
	st->bytes = atomic_load(&c->bytes);
	st->max_size = c->max_size == UINT64_MAX ? 0 : c->max_size;
	st->mem_objects = atomic_load(&c->mem_objects);
	st->mem_bytes = atomic_load(&c->mem_bytes);
	st->mem_max = c->memory;
	st->stores = atomic_load(&c->stores);
	st->evictions = atomic_load(&c->evictions);
	st->corrupt = atomic_load(&c->corrupt);
	st->too_large = atomic_load(&c->too_large);
	st->ready = atomic_load(&c->ready);
}
