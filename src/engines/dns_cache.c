/*
 * The resolver cache every worker shares (sl_dns_cache), and the small
 * helpers the resolver's files share: name normalisation, the clock, and
 * the answer order of addresses. The cache is split into stripes, each a
 * hash table with its own mutex and its own least-recently-used list, so
 * workers resolving different names rarely wait for one another and a
 * lookup can move its entry to the front without a write lock over
 * everything. Invariants: an entry sits in exactly one bucket chain and
 * one LRU list of its stripe; a stripe holds at most cap entries; every
 * field of a stripe is read and written under its mutex only. Names are
 * stored normalised (lowercase, no trailing dot), so comparisons are exact.
 */
#include "engines/dns_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"

#define CACHE_MAGIC 0x444e5343u /* "DNSC" */
#define DEFAULT_ENTRIES 4096
/* Below this many entries per stripe, one stripe keeps the LRU exact. */
#define MIN_PER_STRIPE 64
#define MAX_STRIPES 16

struct centry {
	struct centry *hnext;          /* bucket chain */
	struct centry *lprev, *lnext;  /* LRU list, most recent first */
	uint64_t expires_ms;
	uint32_t hash;
	int err;
	uint8_t n;
	sl_addr addrs[SL_DNS_MAX_ADDRS];
	char name[];
};

struct stripe {
	pthread_mutex_t mu;
	struct centry **buckets;
	size_t mask;          /* buckets - 1 (a power of two) */
	struct centry lru;    /* sentinel: lru.lnext is the most recent */
	size_t count, cap;
};

struct sl_dns_cache {
	uint32_t magic;
	size_t nstripes; /* a power of two */
	struct stripe *stripes;
};

/* ---- names, clock, order ---- */

int sl__dns_normalize(const char *host, size_t n, char out[SL__DNS_NAME_CAP])
{
	if (!sl_addr_is_dns_name(host, n))
		return SL_E_DNS_NOT_FOUND;
	if (host[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++) {
		char ch = host[i];
		out[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	out[n] = '\0';
	return (int)n;
}

uint32_t sl__dns_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Atomic so that a test swapping it is not a data race by the letter. */
static _Atomic(uint64_t (*)(void)) clock_fn = monotonic_ms;

uint64_t sl__dns_now_ms(void)
{
	return atomic_load_explicit(&clock_fn, memory_order_relaxed)();
}

void sl__dns_set_clock(uint64_t (*now_ms)(void))
{
	atomic_store(&clock_fn, now_ms ? now_ms : monotonic_ms);
}

static bool same_addr(const sl_addr *a, const sl_addr *b)
{
	return a->family == b->family &&
	       memcmp(a->b, b->b, a->family == AF_INET6 ? 16 : 4) == 0;
}

bool sl__dns_add_unique(sl_addr *list, size_t *n, const sl_addr *a)
{
	for (size_t i = 0; i < *n; i++)
		if (same_addr(&list[i], a))
			return true;
	if (*n >= SL_DNS_MAX_ADDRS)
		return false;
	list[(*n)++] = *a;
	return true;
}

size_t sl__dns_interleave(sl_addr *out, const sl_addr *v6, size_t n6, const sl_addr *v4,
			  size_t n4)
{
	size_t n = 0, i6 = 0, i4 = 0;

	while (n < SL_DNS_MAX_ADDRS && (i6 < n6 || i4 < n4)) {
		if (i6 < n6)
			out[n++] = v6[i6++];
		if (n < SL_DNS_MAX_ADDRS && i4 < n4)
			out[n++] = v4[i4++];
	}
	return n;
}

/* ---- the cache ---- */

static void check(const sl_dns_cache *c)
{
	assert(c && c->magic == CACHE_MAGIC);
	(void)c;
}

static size_t pow2_at_least(size_t v)
{
	size_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/*
 * Creates the cache: max_entries names in all (0 takes 4096), spread over
 * up to 16 stripes of at least 64 entries each, so a small cache keeps one
 * exact LRU. Returns NULL when out of memory. The cache is thread-safe;
 * free it after every sl_dns using it.
 */
sl_dns_cache *sl_dns_cache_new(size_t max_entries)
{
	sl_dns_cache *c = calloc(1, sizeof *c);
	size_t ns = 1, per;

	if (!c)
		return NULL;
	if (max_entries == 0)
		max_entries = DEFAULT_ENTRIES;
	while (ns < MAX_STRIPES && max_entries / (ns * 2) >= MIN_PER_STRIPE)
		ns *= 2;
	per = (max_entries + ns - 1) / ns;
	c->stripes = calloc(ns, sizeof *c->stripes);
	if (!c->stripes) {
		free(c);
		return NULL;
	}
	c->nstripes = ns;
	for (size_t i = 0; i < ns; i++) {
		struct stripe *s = &c->stripes[i];
		size_t nb = pow2_at_least(per);

		s->buckets = calloc(nb, sizeof *s->buckets);
		if (!s->buckets) {
			c->nstripes = i;
			c->magic = CACHE_MAGIC;
			sl_dns_cache_free(c);
			return NULL;
		}
		s->mask = nb - 1;
		s->cap = per;
		s->lru.lnext = s->lru.lprev = &s->lru;
		pthread_mutex_init(&s->mu, NULL);
	}
	c->magic = CACHE_MAGIC;
	return c;
}

/* Frees the cache and every entry. No sl_dns may use it any more. */
void sl_dns_cache_free(sl_dns_cache *c)
{
	if (!c)
		return;
	check(c);
	for (size_t i = 0; i < c->nstripes; i++) {
		struct stripe *s = &c->stripes[i];
		struct centry *e = s->lru.lnext;

		while (e != &s->lru) {
			struct centry *next = e->lnext;
			free(e);
			e = next;
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->mu);
	}
	free(c->stripes);
	c->magic = 0xdeadbeefu;
	free(c);
}

static struct stripe *stripe_of(sl_dns_cache *c, uint32_t h)
{
	/* High bits pick the stripe, low bits the bucket. */
	return &c->stripes[(h >> 24) & (c->nstripes - 1)];
}

static void lru_unlink(struct centry *e)
{
	e->lprev->lnext = e->lnext;
	e->lnext->lprev = e->lprev;
}

static void lru_push_front(struct stripe *s, struct centry *e)
{
	e->lnext = s->lru.lnext;
	e->lprev = &s->lru;
	s->lru.lnext->lprev = e;
	s->lru.lnext = e;
}

/* Finds name in s; *link is left pointing at the chain slot holding it. */
static struct centry *find(struct stripe *s, const char *name, uint32_t h,
			   struct centry ***link)
{
	struct centry **l = &s->buckets[h & s->mask];

	for (; *l; l = &(*l)->hnext) {
		if ((*l)->hash == h && strcmp((*l)->name, name) == 0)
			break;
	}
	*link = l;
	return *l;
}

static void drop(struct stripe *s, struct centry *e)
{
	struct centry **l = &s->buckets[e->hash & s->mask];

	while (*l != e)
		l = &(*l)->hnext;
	*l = e->hnext;
	lru_unlink(e);
	s->count--;
	free(e);
}

bool sl__dns_cache_get(sl_dns_cache *c, const char *name, int *err, sl_addr *addrs, size_t *n)
{
	uint32_t h = sl__dns_hash(name);
	struct stripe *s;
	struct centry *e, **link;
	uint64_t now = sl__dns_now_ms();
	bool hit = false;

	check(c);
	s = stripe_of(c, h);
	pthread_mutex_lock(&s->mu);
	e = find(s, name, h, &link);
	if (e && e->expires_ms <= now) {
		drop(s, e);
	} else if (e) {
		lru_unlink(e);
		lru_push_front(s, e);
		*err = e->err;
		*n = e->n;
		if (e->n)
			memcpy(addrs, e->addrs, e->n * sizeof *addrs);
		hit = true;
	}
	pthread_mutex_unlock(&s->mu);
	return hit;
}

void sl__dns_cache_put(sl_dns_cache *c, const char *name, int err, const sl_addr *addrs,
		       size_t n, uint32_t ttl_s)
{
	uint32_t h = sl__dns_hash(name);
	size_t len = strlen(name);
	struct stripe *s;
	struct centry *e, **link;

	check(c);
	if (ttl_s == 0)
		return;
	if (n > SL_DNS_MAX_ADDRS)
		n = SL_DNS_MAX_ADDRS;
	s = stripe_of(c, h);
	pthread_mutex_lock(&s->mu);
	e = find(s, name, h, &link);
	if (e) {
		lru_unlink(e);
	} else {
		/* Expired entries drift to the tail as they stop being used:
		 * evicting from the tail removes them before live ones. */
		while (s->count >= s->cap && s->lru.lprev != &s->lru)
			drop(s, s->lru.lprev);
		e = malloc(sizeof *e + len + 1);
		if (!e) {
			pthread_mutex_unlock(&s->mu);
			return;
		}
		memcpy(e->name, name, len + 1);
		e->hash = h;
		/* The chain slot may have moved if drop() unlinked before it. */
		find(s, name, h, &link);
		e->hnext = NULL;
		*link = e;
		s->count++;
	}
	e->expires_ms = sl__dns_now_ms() + (uint64_t)ttl_s * 1000u;
	e->err = n ? 0 : (err ? err : SL_E_DNS_NOT_FOUND);
	e->n = (uint8_t)n;
	if (n)
		memcpy(e->addrs, addrs, n * sizeof *addrs);
	lru_push_front(s, e);
	pthread_mutex_unlock(&s->mu);
}

size_t sl__dns_cache_count(sl_dns_cache *c)
{
	size_t total = 0;

	check(c);
	for (size_t i = 0; i < c->nstripes; i++) {
		pthread_mutex_lock(&c->stripes[i].mu);
		total += c->stripes[i].count;
		pthread_mutex_unlock(&c->stripes[i].mu);
	}
	return total;
}
