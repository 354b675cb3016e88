/*
 * Thread-safety checks of the cache layer the proxy's workers share
 * (src/cache/cache.c over the store), run under ThreadSanitizer by `make
 * tsan`: threads storing, finding and purging plain responses and Vary
 * variants of a few overlapping URLs at once, so that markers are written,
 * updated and removed under each other. Every object found must be the one
 * its key names (its body says which URL and variant it was stored for). A
 * plain program (Criterion's runner cannot start under ThreadSanitizer);
 * the last line is the usual "N passed, N failed".
 */
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "core/err.h"

#define THREADS 4
#define URLS 8
#define OPS 1500

static int passed, failed;
static sl_cache *cache;
static atomic_int wrong, found;
static const sl_cache_policy_conf pc = {.shared = true, .heuristic_max = 86400};

static void check(int ok, const char *name)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	if (ok)
		passed++;
	else
		failed++;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* URL u: even ones vary on Accept-Encoding, odd ones do not. */
static void one_op(unsigned *seed, char *key, sl_field *sf)
{
	int u = (int)(rand_r(seed) % URLS), v = (int)(rand_r(seed) % 3), op = (int)(rand_r(seed) % 10);
	char url[64], ae[8], body[64];
	sl_field q[1] = {{SL_SLICE_LIT("Accept-Encoding"), SL_SLICE_NULL}};
	sl_field plain[] = {{SL_SLICE_LIT("Cache-Control"), SL_SLICE_LIT("max-age=600")}};
	sl_field vary[] = {{SL_SLICE_LIT("Cache-Control"), SL_SLICE_LIT("max-age=600")},
			   {SL_SLICE_LIT("Vary"), SL_SLICE_LIT("Accept-Encoding")}};
	sl_cache_req r;
	sl_cache_obj *o = NULL;
	size_t plen, klen;
	int n, bl;

	snprintf(url, sizeof url, "http://tsan.test/u%d", u);
	snprintf(ae, sizeof ae, "e%d", v);
	q[0].value = sl_slice_cstr(ae);
	n = sl_cache_key_of_url(url, strlen(url), key, SL_CACHE_KEY_MAX);
	if (n <= 0)
		return;
	plen = (size_t)n;
	sl_cache_req_init(&r, SL_METHOD_GET, q, 1);
	if (op < 4) {
		sl_cache_plan p;
		sl_cache_writer *w;

		bl = u % 2 ? snprintf(body, sizeof body, "%s", url)
			   : snprintf(body, sizeof body, "%s %s", url, ae);
		if (sl_cache_plan_store(cache, &pc, &r, 200, u % 2 ? plain : vary, u % 2 ? 1 : 2,
					1700000000, 1700000000, (uint64_t)bl, key, plen,
					SL_CACHE_KEY_MAX, sf, 16, &p) < 0)
			return;
		if (sl_cache_writer_open(cache, sl_slice_make(key, p.key_len), &p.meta, sf,
					 p.nfields, &w) < 0)
			return;
		if (sl_cache_writer_append(w, body, (size_t)bl) < 0) {
			sl_cache_writer_abort(w);
			return;
		}
		(void)sl_cache_writer_commit(w, NULL);
	} else if (op < 9) {
		if (sl_cache_find(cache, &r, key, plen, SL_CACHE_KEY_MAX, &klen, &o) < 0)
			return;
		bl = u % 2 ? snprintf(body, sizeof body, "%s", url)
			   : snprintf(body, sizeof body, "%s %s", url, ae);
		if (o->meta.body_len == (uint64_t)bl && o->body && memcmp(o->body, body, (size_t)bl) == 0)
			atomic_fetch_add(&found, 1);
		else if (o->meta.body_len == (uint64_t)bl && !o->body) {
			char buf[64];
			if (pread(o->fd, buf, (size_t)bl, o->body_off) == bl &&
			    memcmp(buf, body, (size_t)bl) == 0)
				atomic_fetch_add(&found, 1);
			else
				atomic_fetch_add(&wrong, 1);
		} else {
			atomic_fetch_add(&wrong, 1);
		}
		sl_cache_obj_release(o);
	} else {
		(void)sl_cache_purge(cache, sl_slice_make(key, plen));
	}
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	char *key = malloc(SL_CACHE_KEY_MAX);
	sl_field sf[16];

	for (int i = 0; i < OPS && key; i++)
		one_op(&seed, key, sf);
	free(key);
	return NULL;
}

int main(void)
{
	char dir[] = "/tmp/sl_tsan_cache_XXXXXX";
	sl_cache_opts o = {.max_size = 8 << 20, .max_object_size = 1 << 20, .memory = 1 << 20};
	struct timespec tick = {0, 1000 * 1000};
	pthread_t t[THREADS];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	o.dir = dir;
	check(sl_cache_open(&o, &cache) == 0, "open a store");
	for (int i = 0; i < 5000 && cache && !sl_cache_ready(cache); i++)
		nanosleep(&tick, NULL);
	if (cache) {
		for (int i = 0; i < THREADS; i++)
			pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		check(atomic_load(&wrong) == 0, "every object found is the one its key names");
		check(atomic_load(&found) > 0, "objects were found");
		sl_cache_close(cache);
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
