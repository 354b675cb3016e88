/*
 * The store's in-memory index: key hash (the full 32 bytes of SHA-256) ->
 * entry (file size, recency, expiry, generation, cached object), split in
 * SL__STRIPES stripes chosen by the hash's first byte, each with its own
 * mutex, chained hash table and LRU lists, so workers looking up different
 * keys rarely meet on a lock. Also the start-up rebuild thread that fills
 * the index from the files.
 *
 * Recency. Each stripe keeps its entries in exact LRU order. To compare
 * entries of different stripes, each carries a stamp taken from one global
 * clock that only a store advances (by 2): a store stamps its entry with
 * the new even value, a hit stamps its entry with the current value + 1
 * (newer than every object stored so far, older than the next one). A hit
 * thus reads the clock and writes nothing shared; the price is that hits
 * between two stores tie across stripes (eviction then takes the first
 * stripe's). Eviction looks at the tail of every stripe and takes the
 * oldest, preferring entries whose response has expired; so the order is
 * global LRU up to those ties. Entries found by the rebuild get stamp 0
 * and go to the tail: they leave before anything used in this run.
 *
 * Files are unlinked outside the stripe locks. An object committed for the
 * same key at the very moment its older file is evicted or removed may
 * lose its file: its entry then fails to open, is dropped, and the next
 * lookup is a miss. Never a partial or mixed object.
 *
 * The rebuild thread walks DIR/ab/cd, reads each file's header block (not
 * the body), checks it and its name against the key inside, and indexes
 * it unless the key was committed meanwhile (the newer object wins). Files
 * that fail are removed; so are the temporary files of earlier runs,
 * which sl_cache_open() moved aside into DIR/tmp-old-* directories.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/store_internal.h"
#include "core/err.h"
#include "core/log.h"

#define BUCKETS_INIT 64

static size_t bucket_of(const struct sl__stripe *s, const uint8_t *h)
{
	uint64_t v;

	memcpy(&v, h + 8, sizeof v);
	return (size_t)(v & (s->nbuckets - 1));
}

/* Sets up the stripes. Returns 0 or SL_E_NOMEM. */
int sl__index_init(sl_cache *c)
{
	for (int i = 0; i < SL__STRIPES; i++) {
		struct sl__stripe *s = &c->stripes[i];
		s->buckets = calloc(BUCKETS_INIT, sizeof *s->buckets);
		if (!s->buckets) {
			while (i--) {
				free(c->stripes[i].buckets);
				pthread_mutex_destroy(&c->stripes[i].mu);
			}
			return SL_E_NOMEM;
		}
		s->nbuckets = BUCKETS_INIT;
		pthread_mutex_init(&s->mu, NULL);
		sl__link_init(&s->lru);
		sl__link_init(&s->olru);
		sl__link_init(&s->mlru);
	}
	pthread_mutex_init(&c->evict_mu, NULL);
	return 0;
}

/* Frees every entry and releases the cached objects. */
void sl__index_free(sl_cache *c)
{
	for (int i = 0; i < SL__STRIPES; i++) {
		struct sl__stripe *s = &c->stripes[i];
		while (!sl__link_empty(&s->lru)) {
			struct sl__ent *e = sl__container_of(s->lru.next, struct sl__ent, lru);
			struct sl__obj *o = sl__index_drop(c, s, e);
			if (o)
				sl_cache_obj_release(&o->pub);
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->mu);
	}
	pthread_mutex_destroy(&c->evict_mu);
}

/* Finds the entry of h in s (lock held), or NULL. */
struct sl__ent *sl__index_find(struct sl__stripe *s, const uint8_t *h)
{
	for (struct sl__ent *e = s->buckets[bucket_of(s, h)]; e; e = e->hnext)
		if (memcmp(e->hash, h, SL__HASH_LEN) == 0)
			return e;
	return NULL;
}

static void grow(struct sl__stripe *s)
{
	size_t nb = s->nbuckets * 2;
	struct sl__ent **b = calloc(nb, sizeof *b);

	if (!b)
		return; /* longer chains; still correct */
	struct sl__ent **old = s->buckets;
	size_t on = s->nbuckets;
	s->buckets = b;
	s->nbuckets = nb;
	for (size_t i = 0; i < on; i++) {
		struct sl__ent *e = old[i], *next;
		for (; e; e = next) {
			next = e->hnext;
			size_t k = bucket_of(s, e->hash);
			e->hnext = b[k];
			b[k] = e;
		}
	}
	free(old);
}

/* Adds an entry for h (lock held). See store_internal.h. */
struct sl__ent *sl__index_add(sl_cache *c, struct sl__stripe *s, const uint8_t *h,
			      uint64_t size, int64_t expiry, bool recent)
{
	struct sl__ent *e = calloc(1, sizeof *e);

	if (!e)
		return NULL;
	if (s->n >= s->nbuckets)
		grow(s);
	memcpy(e->hash, h, SL__HASH_LEN);
	size_t k = bucket_of(s, h);
	e->hnext = s->buckets[k];
	s->buckets[k] = e;
	s->n++;
	sl__link_init(&e->olink);
	if (recent) {
		e->stamp = atomic_fetch_add_explicit(&c->clock, 2, memory_order_relaxed) + 2;
		sl__link_push(&s->lru, &e->lru);
	} else {
		e->stamp = 0;
		sl__link_push_tail(&s->lru, &e->lru);
	}
	e->size = size;
	e->expiry = expiry;
	e->gen = atomic_fetch_add_explicit(&c->gen_seq, 1, memory_order_relaxed) + 1;
	atomic_fetch_add_explicit(&c->bytes, size, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->objects, 1, memory_order_relaxed);
	return e;
}

/* Unlinks and frees e (lock held); returns its cached object or NULL. */
struct sl__obj *sl__index_drop(sl_cache *c, struct sl__stripe *s, struct sl__ent *e)
{
	struct sl__ent **pp = &s->buckets[bucket_of(s, e->hash)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	s->n--;
	struct sl__obj *o = sl__cached_take(c, s, e);
	sl__link_del(&e->lru);
	atomic_fetch_sub_explicit(&c->bytes, e->size, memory_order_relaxed);
	atomic_fetch_sub_explicit(&c->objects, 1, memory_order_relaxed);
	memset(e, 0, sizeof *e);
	free(e);
	return o;
}

/* Marks e used now: front of its stripe's lists, stamped after the last
 * store (see the top of the file). Lock held; touches nothing shared but
 * a relaxed read of the clock. */
void sl__index_touch(sl_cache *c, struct sl__stripe *s, struct sl__ent *e)
{
	e->stamp = atomic_load_explicit(&c->clock, memory_order_relaxed) + 1;
	if (s->lru.next != &e->lru) {
		sl__link_del(&e->lru);
		sl__link_push(&s->lru, &e->lru);
	}
	sl__cached_touch(s, e);
}

/* Changes e's file size and expiry (lock held). */
void sl__index_resize(sl_cache *c, struct sl__ent *e, uint64_t size, int64_t expiry)
{
	if (size >= e->size)
		atomic_fetch_add_explicit(&c->bytes, size - e->size, memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(&c->bytes, e->size - size, memory_order_relaxed);
	e->size = size;
	e->expiry = expiry;
}

/*
 * The stripe whose list (at offset loff in struct sl__stripe, of entries
 * linked by their member at eoff) ends with the oldest entry, preferring
 * expired ones when now is not 0. Locks one stripe at a time. Returns -1
 * when every list is empty.
 */
int sl__index_oldest(sl_cache *c, size_t loff, size_t eoff, int64_t now)
{
	int best = -1;
	bool best_expired = false;
	uint64_t best_stamp = 0;

	for (int i = 0; i < SL__STRIPES; i++) {
		struct sl__stripe *s = &c->stripes[i];
		struct sl__link *head = (struct sl__link *)((char *)s + loff);
		pthread_mutex_lock(&s->mu);
		if (!sl__link_empty(head)) {
			struct sl__ent *e = (struct sl__ent *)((char *)head->prev - eoff);
			bool expired = now && e->expiry < now;
			if (best < 0 || (expired && !best_expired) ||
			    (expired == best_expired && e->stamp < best_stamp)) {
				best = i;
				best_expired = expired;
				best_stamp = e->stamp;
			}
		}
		pthread_mutex_unlock(&s->mu);
	}
	return best;
}

/* Removes the file of h. */
void sl__store_unlink(sl_cache *c, const uint8_t *h)
{
	char path[80];

	sl__store_hash_path(h, path, sizeof path);
	if (unlinkat(c->dirfd, path, 0) < 0 && errno != ENOENT)
		SL_WARN("cache: cannot remove %s: %s", path, strerror(errno));
}

/* Evicts until the store is under max_size (evict_mu held). */
static void evict_locked(sl_cache *c)
{
	int64_t now = (int64_t)time(NULL);

	while (atomic_load_explicit(&c->bytes, memory_order_relaxed) > c->max_size) {
		int i = sl__index_oldest(c, offsetof(struct sl__stripe, lru),
					 offsetof(struct sl__ent, lru), now);
		if (i < 0)
			break;
		struct sl__stripe *s = &c->stripes[i];
		uint8_t h[SL__HASH_LEN];
		struct sl__obj *o = NULL;
		bool got = false;
		pthread_mutex_lock(&s->mu);
		if (!sl__link_empty(&s->lru)) {
			struct sl__ent *e = sl__container_of(s->lru.prev, struct sl__ent, lru);
			memcpy(h, e->hash, SL__HASH_LEN);
			o = sl__index_drop(c, s, e);
			got = true;
		}
		pthread_mutex_unlock(&s->mu);
		if (!got)
			continue;
		if (o)
			sl_cache_obj_release(&o->pub);
		sl__store_unlink(c, h);
		atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
	}
}

/*
 * Evicts until the store is under max_size. One thread evicts at a time;
 * another that finds the mutex taken leaves the work to it: the holder
 * checks the byte count again after letting the mutex go.
 */
void sl__index_evict(sl_cache *c)
{
	while (atomic_load_explicit(&c->bytes, memory_order_relaxed) > c->max_size) {
		if (pthread_mutex_trylock(&c->evict_mu) != 0)
			return;
		evict_locked(c);
		pthread_mutex_unlock(&c->evict_mu);
	}
}

/* ---- the rebuild thread ---- */

static bool is_hex2(const char *s, uint8_t *v)
{
	int a = sl_hex_digit(s[0]), b = a < 0 ? -1 : sl_hex_digit(s[1]);

	if (a < 0 || b < 0 || s[2] != '\0' || (s[0] >= 'A' && s[0] <= 'F') ||
	    (s[1] >= 'A' && s[1] <= 'F'))
		return false;
	*v = (uint8_t)(a << 4 | b);
	return true;
}

static bool name_hash(const char *s, uint8_t *h)
{
	for (int i = 0; i < SL__HASH_LEN; i++) {
		char two[3] = {s[2 * i], s[2 * i] ? s[2 * i + 1] : '\0', '\0'};
		if (!two[0] || !two[1] || !is_hex2(two, &h[i]))
			return false;
	}
	return s[2 * SL__HASH_LEN] == '\0';
}

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
			return SL_E_CACHE_CORRUPT; /* shorter than it said */
		got += (size_t)r;
	}
	return 0;
}

/* Removes the file name in dfd when no entry for h appeared meanwhile
 * (such an entry belongs to a commit that replaced the file). */
static void remove_bad(sl_cache *c, int dfd, const char *name, const uint8_t *h)
{
	struct sl__stripe *s = sl__stripe_of(c, h);

	pthread_mutex_lock(&s->mu);
	if (!sl__index_find(s, h)) {
		/* Under the lock so that a commit of h cannot slip in between the
		 * check and the unlink; rare (corrupt files only). */
		unlinkat(dfd, name, 0);
		atomic_fetch_add_explicit(&c->corrupt, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->mu);
}

static void rebuild_file(sl_cache *c, int dfd, const char *name, const uint8_t *h,
			 char *buf, size_t cap)
{
	struct sl__stripe *s = sl__stripe_of(c, h);

	pthread_mutex_lock(&s->mu);
	bool known = sl__index_find(s, h) != NULL;
	pthread_mutex_unlock(&s->mu);
	if (known)
		return;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	struct stat st;
	sl__store_head hd;
	size_t need = 0;
	char *big = NULL;
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = SL_E_CACHE_CORRUPT;
	if (rc == 0) {
		size_t n = (uint64_t)st.st_size < cap ? (size_t)st.st_size : cap;
		rc = pread_full(fd, buf, n, 0);
		if (rc == 0)
			rc = sl__store_check(buf, n, (uint64_t)st.st_size, &hd, &need);
		if (rc == SL_E_AGAIN) {
			big = malloc(need);
			rc = big ? pread_full(fd, big, need, 0) : SL_E_NOMEM;
			if (rc == 0)
				rc = sl__store_check(big, need, (uint64_t)st.st_size, &hd, &need);
		}
	}
	if (rc == 0) {
		uint8_t kh[SL__HASH_LEN];
		sl__store_hash(hd.key, hd.key_len, kh);
		if (memcmp(kh, h, SL__HASH_LEN) != 0)
			rc = SL_E_CACHE_CORRUPT;
	}
	close(fd);
	if (rc == SL_E_CACHE_CORRUPT || rc == SL_E_AGAIN) {
		SL_WARN("cache: removing damaged object %s", name);
		remove_bad(c, dfd, name, h);
	} else if (rc == 0) {
		pthread_mutex_lock(&s->mu);
		if (!sl__index_find(s, h))
			sl__index_add(c, s, h, (uint64_t)st.st_size, sl__meta_expiry(&hd.meta),
				      false);
		pthread_mutex_unlock(&s->mu);
		sl__index_evict(c);
	}
	free(big);
}

/* Opens the directory name under dfd as a DIR stream, or NULL. */
static DIR *open_dir(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

/* Removes a tmp-old-* directory (flat: temporary files only). */
static void sweep_old_tmp(sl_cache *c, const char *name)
{
	DIR *d = open_dir(c->dirfd, name);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	if (unlinkat(c->dirfd, name, AT_REMOVEDIR) < 0)
		SL_WARN("cache: cannot remove %s/%s: %s", c->dir, name, strerror(errno));
}

static void rebuild_sub(sl_cache *c, DIR *top, const char *a, uint8_t va, char *buf, size_t cap)
{
	DIR *da = open_dir(dirfd(top), a);
	struct dirent *de;

	if (!da)
		return;
	while (!atomic_load(&c->stop) && (de = readdir(da)) != NULL) {
		uint8_t vb;
		if (!is_hex2(de->d_name, &vb))
			continue;
		DIR *db = open_dir(dirfd(da), de->d_name);
		if (!db)
			continue;
		struct dirent *fe;
		while (!atomic_load(&c->stop) && (fe = readdir(db)) != NULL) {
			uint8_t h[SL__HASH_LEN];
			if (!name_hash(fe->d_name, h) || h[0] != va || h[1] != vb)
				continue;
			rebuild_file(c, dirfd(db), fe->d_name, h, buf, cap);
		}
		closedir(db);
	}
	closedir(da);
}

static void *rebuild_main(void *arg)
{
	sl_cache *c = arg;
	size_t cap = 16384;
	char *buf = malloc(cap);
	int fd = dup(c->dirfd);
	DIR *top = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	sl_log_set_thread_name("cache-rebuild");
	if (!top && fd >= 0)
		close(fd);
	if (top && buf) {
		/* Temporary files first: they are garbage whatever happens next. */
		while (!atomic_load(&c->stop) && (de = readdir(top)) != NULL)
			if (strncmp(de->d_name, "tmp-old-", 8) == 0)
				sweep_old_tmp(c, de->d_name);
		rewinddir(top);
		while (!atomic_load(&c->stop) && (de = readdir(top)) != NULL) {
			uint8_t va;
			char name[3];
			if (!is_hex2(de->d_name, &va))
				continue;
			memcpy(name, de->d_name, 3);
			rebuild_sub(c, top, name, va, buf, cap);
		}
	}
	if (top)
		closedir(top);
	free(buf);
	if (!atomic_load(&c->stop))
		SL_DEBUG("cache: index rebuilt: %llu objects, %llu bytes",
			 (unsigned long long)atomic_load(&c->objects),
			 (unsigned long long)atomic_load(&c->bytes));
	atomic_store(&c->ready, true);
	return NULL;
}

/* Starts the rebuild thread. Returns 0 or -errno. */
int sl__rebuild_start(sl_cache *c)
{
	int rc = pthread_create(&c->rebuild, NULL, rebuild_main, c);

	if (rc)
		return -rc;
	c->rebuild_started = true;
	return 0;
}

/* Stops the rebuild thread (it checks the flag between files). */
void sl__rebuild_stop(sl_cache *c)
{
	if (!c->rebuild_started)
		return;
	atomic_store(&c->stop, true);
	pthread_join(c->rebuild, NULL);
	c->rebuild_started = false;
}
