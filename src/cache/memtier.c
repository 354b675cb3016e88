/*
 * Objects kept ready in the index, so that a hit costs no system call: an
 * entry may hold one reference to a parsed sl_cache_obj. Two kinds, each
 * in its own LRU list per stripe and under its own global cap:
 *
 *   open objects: fields parsed, the file kept open (obj->fd); at most
 *   max_open of them (default 4096) hold a descriptor for the index;
 *
 *   the memory tier: objects whose file (head + body) is at most
 *   memory_object_max bytes, kept whole in memory with no descriptor
 *   (obj->body set, fd -1), within `memory` bytes counted as the size of
 *   their allocations. Filled at commit (the writer kept the bytes) and
 *   when a lookup reads a small object from disk.
 *
 * Going over a cap drops the least recently used cached object of that
 * kind across stripes (the tails' stamps, see index.c); the entry stays
 * indexed and its next lookup reads the file again. Objects handed out
 * are not counted: a caller's reference keeps its descriptor open.
 */
#include <stdlib.h>

#include "cache/store_internal.h"

/* Whether an object of file_size bytes should live in the memory tier. */
bool sl__mem_eligible(const sl_cache *c, uint64_t file_size)
{
	return c->memory > 0 && file_size <= c->memory_object_max && file_size <= c->memory;
}

static bool in_memory(const struct sl__obj *o)
{
	return o->pub.body != NULL;
}

/* Detaches e's cached object (lock held). */
struct sl__obj *sl__cached_take(sl_cache *c, struct sl__stripe *s, struct sl__ent *e)
{
	struct sl__obj *o = e->obj;

	(void)s;
	if (!o)
		return NULL;
	sl__link_del(&e->olink);
	if (in_memory(o)) {
		atomic_fetch_sub_explicit(&c->mem_bytes, o->alloc, memory_order_relaxed);
		atomic_fetch_sub_explicit(&c->mem_objects, 1, memory_order_relaxed);
	} else {
		atomic_fetch_sub_explicit(&c->nopen, 1, memory_order_relaxed);
	}
	e->obj = NULL;
	return o;
}

/* Makes o e's cached object (lock held); returns the previous one. */
struct sl__obj *sl__cached_set(sl_cache *c, struct sl__stripe *s, struct sl__ent *e,
			       struct sl__obj *o)
{
	struct sl__obj *old = sl__cached_take(c, s, e);

	if (!o)
		return old;
	e->obj = o;
	if (in_memory(o)) {
		sl__link_push(&s->mlru, &e->olink);
		atomic_fetch_add_explicit(&c->mem_bytes, o->alloc, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->mem_objects, 1, memory_order_relaxed);
	} else {
		sl__link_push(&s->olru, &e->olink);
		atomic_fetch_add_explicit(&c->nopen, 1, memory_order_relaxed);
	}
	return old;
}

/* Moves e's cached object to the front of its list (lock held). */
void sl__cached_touch(struct sl__stripe *s, struct sl__ent *e)
{
	if (!e->obj)
		return;
	struct sl__link *head = in_memory(e->obj) ? &s->mlru : &s->olru;
	if (head->next != &e->olink) {
		sl__link_del(&e->olink);
		sl__link_push(head, &e->olink);
	}
}

/* Drops the oldest cached object of the list at loff; false when none. */
static bool drop_oldest(sl_cache *c, size_t loff)
{
	int i = sl__index_oldest(c, loff, offsetof(struct sl__ent, olink), 0);

	if (i < 0)
		return false;
	struct sl__stripe *s = &c->stripes[i];
	struct sl__link *head = (struct sl__link *)((char *)s + loff);
	struct sl__obj *o = NULL;
	pthread_mutex_lock(&s->mu);
	if (!sl__link_empty(head))
		o = sl__cached_take(c, s, sl__container_of(head->prev, struct sl__ent, olink));
	pthread_mutex_unlock(&s->mu);
	if (o)
		sl_cache_obj_release(&o->pub); /* may close(2): outside the lock */
	return true;
}

/*
 * Brings the cached objects back under their caps. Several threads may
 * trim at once; the worst case is one object too many dropped.
 */
void sl__cached_trim(sl_cache *c)
{
	while (atomic_load_explicit(&c->nopen, memory_order_relaxed) > c->max_open)
		if (!drop_oldest(c, offsetof(struct sl__stripe, olru)))
			break;
	while (atomic_load_explicit(&c->mem_bytes, memory_order_relaxed) > c->memory)
		if (!drop_oldest(c, offsetof(struct sl__stripe, mlru)))
			break;
}
