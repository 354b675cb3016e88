/*
 * Large hits sent from mappings of the objects' files (see cache_internal.h).
 * For a body of SL__MAP_MIN bytes or more, the session queues a reference
 * to a read-only mapping of the object's body and writev(2) sends it: the
 * kernel copies from the page cache into the socket, as sendfile(2) does,
 * and no byte passes through the proxy's buffers. Over loopback and veth
 * pairs, where the receiving side copies every byte anyway, this moves
 * large bodies about twice as fast as sendfile, whose page-sized fragments
 * cost more there (measured on this kind of machine from 256 KiB up; below
 * that sendfile is as fast or faster, so smaller bodies keep it).
 *
 * Each worker keeps the mappings of the few large objects it served last
 * (SL__CMAPS, at most SL__CMAP_BYTES mapped), so a hot object is mapped
 * once, not per hit: a hit takes no system call besides the writev and
 * allocates nothing. An entry holds a reference on its object (the file
 * stays open, and the object valid, even when the store replaces or evicts
 * it) and counts the queued segments that use it; the least recently used
 * idle entry makes room for a new one, and an entry pushed out while in use
 * is unmapped when its last segment is sent. Everything here runs on the
 * worker's thread, the release callbacks included.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "server/cache_internal.h"

struct sl__cmap {
	struct sl__cworker *cw;
	sl_cache_obj *o;                /* referenced while the entry lives */
	char *base;                     /* the mapping, from a page boundary */
	size_t len;
	size_t skip;                    /* body byte 0 is at base + skip */
	unsigned users;                 /* queued segments sending from it */
	uint64_t used;                  /* LRU clock of the last hit */
	bool dead;                      /* out of the table: goes with its last user */
};

static void destroy(struct sl__cmap *e)
{
	struct sl__cworker *cw = e->cw;

	cw->mapped -= e->len;
	munmap(e->base, e->len);
	sl_cache_obj_release(e->o);
	free(e);
}

/* Takes entry i out of the table: unmapped now when idle, else when its
 * last segment is out. */
static void drop(struct sl__cworker *cw, unsigned i)
{
	struct sl__cmap *e = cw->maps[i];

	cw->maps[i] = NULL;
	if (e->users)
		e->dead = true;
	else
		destroy(e);
}

/* The outq's release callback: one segment less. */
static void release(void *ctx)
{
	struct sl__cmap *e = ctx;

	assert(e->users > 0);
	if (--e->users == 0 && e->dead)
		destroy(e);
}

/* A free slot in the table, after dropping idle entries (least recently
 * used first) until need more bytes fit; SL__CMAPS when none is free. */
static unsigned make_room(struct sl__cworker *cw, size_t need)
{
	for (;;) {
		unsigned free_slot = SL__CMAPS, lru = SL__CMAPS;

		for (unsigned i = 0; i < SL__CMAPS; i++) {
			struct sl__cmap *e = cw->maps[i];
			if (!e) {
				if (free_slot == SL__CMAPS)
					free_slot = i;
				continue;
			}
			if (lru == SL__CMAPS || e->used < cw->maps[lru]->used)
				lru = i;
		}
		if (free_slot < SL__CMAPS && cw->mapped + need <= SL__CMAP_BYTES)
			return free_slot;
		if (lru == SL__CMAPS)
			return free_slot;   /* nothing left to drop */
		drop(cw, lru);
	}
}

static struct sl__cmap *find_or_map(struct sl__cworker *cw, sl_cache_obj *o)
{
	static long page;
	struct sl__cmap *e;
	off_t base;
	unsigned slot;
	void *p;

	for (unsigned i = 0; i < SL__CMAPS; i++)
		if (cw->maps[i] && cw->maps[i]->o == o)
			return cw->maps[i];
	if (!page)
		page = sysconf(_SC_PAGESIZE);
	if (page <= 0 || o->fd < 0 || o->meta.body_len > SL__CMAP_BYTES)
		return NULL;
	base = o->body_off & ~(off_t)(page - 1);
	if (!(e = calloc(1, sizeof *e)))
		return NULL;
	e->skip = (size_t)(o->body_off - base);
	e->len = e->skip + (size_t)o->meta.body_len;
	slot = make_room(cw, e->len);
	if (slot == SL__CMAPS) {
		free(e);
		return NULL;
	}
	p = mmap(NULL, e->len, PROT_READ, MAP_SHARED | MAP_POPULATE, o->fd, base);
	if (p == MAP_FAILED) {
		free(e);
		return NULL;
	}
	e->cw = cw;
	e->base = p;
	e->o = sl_cache_obj_ref(o);
	cw->mapped += e->len;
	cw->maps[slot] = e;
	return e;
}

int sl__cache_map_push(struct sl__cworker *cw, sl_outq *q, sl_cache_obj *o, uint64_t first,
		       uint64_t blen)
{
	struct sl__cmap *e = find_or_map(cw, o);
	int rc;

	if (!e)
		return SL_E_UNSUPPORTED;
	assert(blen > 0 && first + blen <= o->meta.body_len);
	e->users++;
	rc = sl_outq_push_ref(q, e->base + e->skip + first, (size_t)blen, release, e);
	if (rc < 0) {
		e->users--;
		return rc;
	}
	e->used = ++cw->map_clock;
	sl_cache_obj_release(o);
	return 0;
}

void sl__cache_map_free_all(struct sl__cworker *cw)
{
	for (unsigned i = 0; i < SL__CMAPS; i++)
		if (cw->maps[i])
			drop(cw, i);
}
