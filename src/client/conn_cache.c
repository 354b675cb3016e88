/*
 * The idle connection cache (see conn_cache.h). Entries sit on two doubly
 * linked lists at once: the cache-wide LRU list in parking order (oldest at
 * the head), which the one idle timer and the total cap walk, and the list
 * of their hash bucket, also in parking order, which take() scans from the
 * tail for the newest stream of a key. Because entries are appended in
 * parking order and only ever removed, the LRU head is always the next to
 * time out, so one ev_timer armed for it serves the whole cache. Freed
 * entries (with their key buffers) go to a free list of at most max_total,
 * so a warm cache allocates nothing. While parked, a stream's callback is
 * the cache's read watcher; take() hands the stream back without one.
 */
#include "client/conn_cache.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define CACHE_MAGIC 0xcac4e1d1u
#define NBUCKETS 64

struct entry {
	struct entry *prev, *next;     /* LRU list */
	struct entry *bprev, *bnext;   /* bucket list */
	sl_conn_cache *c;
	sl_stream *s;
	char *key;
	size_t keylen, keycap;
	uint32_t hash;
	ev_tstamp since;
};

struct sl_conn_cache {
	uint32_t magic;
	struct ev_loop *loop;
	sl_conn_cache_opts o;
	struct entry *head, *tail;     /* LRU, oldest first */
	struct entry *bhead[NBUCKETS], *btail[NBUCKETS];
	struct entry *free;
	unsigned nfree;
	ev_timer timer;
	sl_conn_cache_stats st;
};

static void check(const sl_conn_cache *c)
{
	assert(c && c->magic == CACHE_MAGIC);
	(void)c;
}

static uint32_t hash_key(const char *k, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 16777619u;
	return h;
}

static bool key_eq(const struct entry *e, uint32_t h, const char *k, size_t n)
{
	return e->hash == h && e->keylen == n && memcmp(e->key, k, n) == 0;
}

static void unlink_entry(sl_conn_cache *c, struct entry *e)
{
	unsigned b = e->hash % NBUCKETS;

	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	if (e->bprev)
		e->bprev->bnext = e->bnext;
	else
		c->bhead[b] = e->bnext;
	if (e->bnext)
		e->bnext->bprev = e->bprev;
	else
		c->btail[b] = e->bprev;
	e->prev = e->next = e->bprev = e->bnext = NULL;
	c->st.idle--;
}

static void recycle(sl_conn_cache *c, struct entry *e)
{
	e->s = NULL;
	if (c->nfree < c->o.max_total) {
		e->next = c->free;
		c->free = e;
		c->nfree++;
		return;
	}
	free(e->key);
	free(e);
}

static void rearm(sl_conn_cache *c)
{
	ev_timer_stop(c->loop, &c->timer);
	if (!c->head)
		return;
	ev_tstamp due = c->head->since + (ev_tstamp)c->o.idle_timeout_ms / 1000.0 -
			ev_now(c->loop);
	ev_timer_set(&c->timer, due > 0 ? due : 0.0, 0.0);
	ev_timer_start(c->loop, &c->timer);
}

/* Removes e, closes its stream and counts why. */
static void evict(sl_conn_cache *c, struct entry *e, uint64_t *counter)
{
	sl_stream *s = e->s;
	bool was_head = e == c->head;

	unlink_entry(c, e);
	(*counter)++;
	recycle(c, e);
	sl_stream_close(s);
	if (was_head)
		rearm(c);
}

/* The read watcher of a parked stream: readable means closed or garbage.
 * A TLS layer may have consumed records that carry no data (session
 * tickets), so a read that finds nothing keeps the stream. */
static void on_idle_event(sl_stream *s, unsigned events, void *arg)
{
	struct entry *e = arg;
	sl_conn_cache *c = e->c;
	char byte;

	check(c);
	if (!(events & SL_EV_READABLE))
		return;
	if (sl_stream_read(s, &byte, 1) == -EAGAIN)
		return;
	evict(c, e, &c->st.evicted_closed);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	sl_conn_cache *c = w->data;
	ev_tstamp now = ev_now(loop), life = (ev_tstamp)c->o.idle_timeout_ms / 1000.0;

	(void)revents;
	check(c);
	while (c->head && c->head->since + life <= now + 0.0005) {
		struct entry *e = c->head;
		sl_stream *s = e->s;

		unlink_entry(c, e);
		c->st.evicted_timeout++;
		recycle(c, e);
		sl_stream_close(s);
	}
	rearm(c);
}

static void set_opts(sl_conn_cache *c, const sl_conn_cache_opts *opts)
{
	memset(&c->o, 0, sizeof c->o);
	if (opts)
		c->o = *opts;
	if (!c->o.max_total)
		c->o.max_total = 256;
	if (!c->o.max_per_key)
		c->o.max_per_key = 8;
	if (!c->o.idle_timeout_ms)
		c->o.idle_timeout_ms = 60000;
}

sl_conn_cache *sl_conn_cache_new(struct ev_loop *loop, const sl_conn_cache_opts *opts)
{
	sl_conn_cache *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->magic = CACHE_MAGIC;
	c->loop = loop;
	set_opts(c, opts);
	ev_init(&c->timer, on_timer);
	c->timer.data = c;
	return c;
}

void sl_conn_cache_set_opts(sl_conn_cache *c, const sl_conn_cache_opts *opts)
{
	check(c);
	set_opts(c, opts);
	/* Over a lower cap, the oldest streams go now. */
	while (c->head && c->st.idle > c->o.max_total)
		evict(c, c->head, &c->st.evicted_limit);
	rearm(c);
}

void sl_conn_cache_clear(sl_conn_cache *c)
{
	check(c);
	while (c->head) {
		struct entry *e = c->head;
		sl_stream *s = e->s;

		unlink_entry(c, e);
		recycle(c, e);
		sl_stream_close(s);
	}
	ev_timer_stop(c->loop, &c->timer);
}

void sl_conn_cache_free(sl_conn_cache *c)
{
	if (!c)
		return;
	check(c);
	sl_conn_cache_clear(c);
	while (c->free) {
		struct entry *e = c->free;
		c->free = e->next;
		free(e->key);
		free(e);
	}
	c->magic = 0;
	free(c);
}

static struct entry *new_entry(sl_conn_cache *c, size_t keylen)
{
	struct entry *e = c->free;

	if (e) {
		c->free = e->next;
		c->nfree--;
	} else {
		e = calloc(1, sizeof *e);
		if (!e)
			return NULL;
	}
	if (e->keycap < keylen) {
		char *k = realloc(e->key, keylen);
		if (!k) {
			free(e->key);
			free(e);
			return NULL;
		}
		e->key = k;
		e->keycap = keylen;
	}
	e->prev = e->next = e->bprev = e->bnext = NULL;
	return e;
}

int sl_conn_cache_put(sl_conn_cache *c, const char *key, size_t n, sl_stream *s)
{
	uint32_t h = hash_key(key, n);
	unsigned b = h % NBUCKETS;
	struct entry *e;

	check(c);
	if (!sl_stream_usable(s) || sl_stream_pending(s) > 0) {
		sl_stream_close(s);
		return SL_E_INVAL;
	}
	/* Make room: the oldest of this key, then the oldest of all. */
	if (sl_conn_cache_count(c, key, n) >= c->o.max_per_key) {
		for (e = c->bhead[b]; e && !key_eq(e, h, key, n); e = e->bnext)
			;
		if (e)
			evict(c, e, &c->st.evicted_limit);
	}
	if (c->st.idle >= c->o.max_total && c->head)
		evict(c, c->head, &c->st.evicted_limit);
	e = new_entry(c, n ? n : 1);
	if (!e) {
		sl_stream_close(s);
		return SL_E_INVAL;
	}
	e->c = c;
	e->s = s;
	memcpy(e->key, key, n);
	e->keylen = n;
	e->hash = h;
	e->since = ev_now(c->loop);
	e->prev = c->tail;
	if (c->tail)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	e->bprev = c->btail[b];
	if (c->btail[b])
		c->btail[b]->bnext = e;
	else
		c->bhead[b] = e;
	c->btail[b] = e;
	c->st.idle++;
	c->st.parked++;
	sl_stream_set_timeout(s, 0);
	sl_stream_set_cb(s, on_idle_event, e);
	sl_stream_want(s, SL_WANT_READ);
	if (c->head == e)
		rearm(c);
	return 0;
}

sl_stream *sl_conn_cache_take(sl_conn_cache *c, const char *key, size_t n)
{
	uint32_t h = hash_key(key, n);
	unsigned b = h % NBUCKETS;

	check(c);
	for (struct entry *e = c->btail[b]; e;) {
		struct entry *prev = e->bprev;

		if (key_eq(e, h, key, n)) {
			sl_stream *s = e->s;
			bool was_head = e == c->head;

			unlink_entry(c, e);
			recycle(c, e);
			if (was_head)
				rearm(c);
			if (!sl_stream_usable(s) || sl_stream_pending(s) > 0) {
				c->st.evicted_closed++;
				sl_stream_close(s);
			} else {
				sl_stream_want(s, 0);
				sl_stream_set_cb(s, NULL, NULL);
				c->st.taken++;
				return s;
			}
		}
		e = prev;
	}
	return NULL;
}

unsigned sl_conn_cache_count(const sl_conn_cache *c, const char *key, size_t n)
{
	uint32_t h = hash_key(key, n);
	unsigned k = 0;

	check(c);
	for (const struct entry *e = c->bhead[h % NBUCKETS]; e; e = e->bnext)
		if (key_eq(e, h, key, n))
			k++;
	return k;
}

void sl_conn_cache_get_stats(const sl_conn_cache *c, sl_conn_cache_stats *out)
{
	check(c);
	*out = c->st;
}
