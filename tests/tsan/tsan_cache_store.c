/*
 * Thread-safety checks of the cache store and collapsed forwarding, run
 * under ThreadSanitizer by `make tsan`: threads looking up, committing,
 * updating, removing and dropping objects of a small store (so eviction,
 * the open-file cap and the memory tier churn all the time) while the
 * start-up rebuild is still running, every object checked against its
 * key; then fills whose leader runs on one thread and whose readers run
 * on their own loops in other threads. A plain program (Criterion's runner
 * cannot start under ThreadSanitizer); the last line is the usual
 * "N passed, N failed".
 */
#include <ev.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/inflight.h"
#include "cache/store.h"
#include "cache/store_internal.h"
#include "core/err.h"

#define THREADS 4
#define KEYS 40
#define OPS 3000
#define ROUNDS 30
#define READERS 3

static int passed, failed;
static sl_cache *cache;
static char dir[64];

static void check(int ok, const char *name)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	if (ok)
		passed++;
	else
		failed++;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Key i's body: its length depends on i (memory tier or not), its bytes
 * on i and the position. */
static size_t body_len(int i)
{
	return i % 3 == 0 ? 9000 : (size_t)(100 + i * 37);
}

static char body_byte(int i, size_t pos)
{
	return (char)('a' + (i + (int)pos) % 26);
}

static void key_of(int i, char *out, size_t cap)
{
	snprintf(out, cap, "http://tsan.test/object/%d", i);
}

static sl_cache_meta meta(uint64_t len)
{
	int64_t now = (int64_t)time(NULL);
	return (sl_cache_meta){.status = 200, .request_time = now, .response_time = now,
			       .freshness_lifetime = 600, .stale_while_revalidate = -1,
			       .stale_if_error = -1, .body_len = len};
}

static int put(int i)
{
	char key[64], buf[9000];
	size_t len = body_len(i);
	sl_field f[1] = {{SL_SLICE_LIT("X-Key"), SL_SLICE_NULL}};
	sl_cache_meta m = meta(len);
	sl_cache_writer *w;

	key_of(i, key, sizeof key);
	f[0].value = sl_slice_cstr(key);
	for (size_t k = 0; k < len; k++)
		buf[k] = body_byte(i, k);
	int rc = sl_cache_writer_open(cache, sl_slice_cstr(key), &m, f, 1, &w);
	if (rc < 0)
		return rc;
	for (size_t off = 0; off < len && rc == 0; off += 1500)
		rc = sl_cache_writer_append(w, buf + off, len - off < 1500 ? len - off : 1500);
	if (rc < 0) {
		sl_cache_writer_abort(w);
		return rc;
	}
	return sl_cache_writer_commit(w, NULL);
}

/* Whether o is a valid object of key i (any version). */
static bool valid(const sl_cache_obj *o, int i)
{
	char key[64], buf[9000];
	size_t len = body_len(i);

	key_of(i, key, sizeof key);
	if (o->key_len != strlen(key) || memcmp(o->key, key, o->key_len) != 0 ||
	    o->meta.body_len != len || o->nfields < 1 ||
	    !sl_slice_eq(o->fields[0].value, sl_slice_cstr(key)))
		return false;
	if (o->body) {
		memcpy(buf, o->body, len);
	} else {
		if (pread(o->fd, buf, len, o->body_off) != (ssize_t)len)
			return false;
	}
	for (size_t k = 0; k < len; k++)
		if (buf[k] != body_byte(i, k))
			return false;
	return true;
}

static void *hammer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
	long bad = 0;
	char key[64];

	for (int n = 0; n < OPS; n++) {
		int i = (int)(rand_r(&seed) % KEYS), op = (int)(rand_r(&seed) % 100);
		sl_cache_obj *o, *o2;
		key_of(i, key, sizeof key);
		if (op < 50) {
			int rc = sl_cache_lookup(cache, sl_slice_cstr(key), &o);
			if (rc == 0) {
				bad += !valid(o, i);
				sl_cache_obj_release(o);
			} else if (rc != SL_E_CACHE_MISS) {
				bad++;
			}
		} else if (op < 75) {
			bad += put(i) != 0;
		} else if (op < 85) {
			int rc = sl_cache_remove(cache, sl_slice_cstr(key));
			bad += rc != 0 && rc != SL_E_CACHE_MISS;
		} else if (op < 95) {
			if (sl_cache_lookup(cache, sl_slice_cstr(key), &o) != 0)
				continue;
			char extra[32];
			snprintf(extra, sizeof extra, "%d", n);
			sl_field f[2] = {{SL_SLICE_LIT("X-Key"), sl_slice_cstr(key)},
					 {SL_SLICE_LIT("X-Update"), sl_slice_cstr(extra)}};
			sl_cache_meta m = meta(0);
			int rc = sl_cache_update(cache, o, &m, f, op % 2 ? 2 : 1, &o2);
			if (rc == 0) {
				bad += !valid(o2, i);
				sl_cache_obj_release(o2);
			} else if (rc != SL_E_CACHE_MISS) {
				bad++;
			}
			bad += !valid(o, i);
			sl_cache_obj_release(o);
		} else {
			sl__store_uncache(cache, sl_slice_cstr(key));
		}
	}
	return (void *)bad;
}

static int test_store(void)
{
	sl_cache_opts o = {.dir = dir, .max_size = 20 * 2048, .max_object_size = 1 << 20,
			   .memory = 30000, .memory_object_max = 16384, .max_open = 6};
	pthread_t t[THREADS];
	long bad = 0;

	/* Files for the rebuild to find while the threads run. */
	if (sl_cache_open(&o, &cache) < 0)
		return 0;
	for (int i = 0; i < KEYS; i++)
		bad += put(i) != 0;
	sl_cache_close(cache);
	if (sl_cache_open(&o, &cache) < 0)
		return 0;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	sl_cache_stats st;
	sl_cache_stats_get(cache, &st);
	bad += st.bytes > o.max_size;
	bad += st.corrupt != 0;
	bad += st.mem_bytes > o.memory;
	printf("     %llu lookups, %llu hits (%llu from memory), %llu stores, %llu evictions\n",
	       (unsigned long long)st.lookups, (unsigned long long)st.hits,
	       (unsigned long long)st.mem_hits, (unsigned long long)st.stores,
	       (unsigned long long)st.evictions);
	sl_cache_close(cache);
	cache = NULL;
	if (bad)
		printf("     %ld bad results\n", bad);
	return bad == 0;
}

/* ---- collapsed forwarding across threads ---- */

struct reader {
	pthread_barrier_t *joined;
	char key[64];
	char body[4096];
	uint64_t got;
	sl_cache_fill_view v;
	pthread_t self;
	bool wrong_thread, ok;
};

static void on_news(sl_cache_reader *rd, void *arg)
{
	struct reader *r = arg;

	if (!pthread_equal(pthread_self(), r->self))
		r->wrong_thread = true;
	sl_cache_reader_view(rd, &r->v);
	while (r->v.fd >= 0 && r->got < r->v.avail) {
		ssize_t n = pread(r->v.fd, r->body + r->got, r->v.avail - r->got,
				  r->v.body_off + (off_t)r->got);
		if (n <= 0)
			break;
		r->got += (uint64_t)n;
	}
}

static void on_guard(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_cache_fill *f = NULL;
	sl_cache_reader *rd = NULL;
	ev_timer guard;

	r->self = pthread_self();
	int rc = sl_cache_inflight_join(cache, sl_slice_cstr(r->key), loop, on_news, r, &f, &rd);
	pthread_barrier_wait(r->joined);
	if (rc == 1) { /* joined too late: the leader's fill was over */
		sl_cache_fill_cancel(f);
		r->ok = true;
		ev_loop_destroy(loop);
		return NULL;
	}
	ev_timer_init(&guard, on_guard, 10.0, 0);
	ev_timer_start(loop, &guard);
	while (rc == 0 && (r->v.state < SL_CACHE_FILL_COMPLETE || r->got < r->v.avail)) {
		if (!ev_run(loop, EVRUN_ONCE) || !ev_is_active(&guard))
			break;
	}
	ev_timer_stop(loop, &guard);
	r->ok = rc == 0 && r->v.state == SL_CACHE_FILL_COMPLETE && r->got == r->v.avail;
	if (rc == 0)
		sl_cache_reader_close(rd);
	ev_loop_destroy(loop);
	return NULL;
}

static int test_inflight(void)
{
	sl_cache_opts o = {.dir = dir, .max_size = 1 << 24, .max_object_size = 1 << 20,
			   .memory = 1 << 20};
	long bad = 0;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	if (sl_cache_open(&o, &cache) < 0)
		return 0;
	for (int round = 0; round < ROUNDS; round++) {
		struct reader r[READERS];
		pthread_t t[READERS];
		pthread_barrier_t joined;
		sl_cache_fill *f = NULL;
		sl_cache_reader *none = NULL;
		char key[64], body[4096];

		snprintf(key, sizeof key, "http://tsan.test/fill/%d", round);
		if (sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					   &none) != 1) {
			bad++;
			continue;
		}
		pthread_barrier_init(&joined, NULL, READERS + 1);
		for (int i = 0; i < READERS; i++) {
			memset(&r[i], 0, sizeof r[i]);
			r[i].joined = &joined;
			snprintf(r[i].key, sizeof r[i].key, "%s", key);
			pthread_create(&t[i], NULL, reader_main, &r[i]);
		}
		pthread_barrier_wait(&joined);
		for (size_t k = 0; k < sizeof body; k++)
			body[k] = (char)('0' + (round + (int)k) % 10);
		sl_cache_meta m = meta(round % 2 ? sizeof body : UINT64_MAX);
		sl_field fl[1] = {{SL_SLICE_LIT("X-Round"), sl_slice_cstr(key)}};
		bad += sl_cache_fill_head(f, &m, fl, 1) != 0;
		for (size_t off = 0; off < sizeof body; off += 512)
			bad += sl_cache_fill_append(f, body + off, 512) != 0;
		bad += sl_cache_fill_finish(f, 0, NULL) != 0;
		for (int i = 0; i < READERS; i++) {
			pthread_join(t[i], NULL);
			bad += !r[i].ok || r[i].wrong_thread;
			bad += r[i].got != sizeof body || memcmp(r[i].body, body, sizeof body) != 0;
		}
		pthread_barrier_destroy(&joined);
	}
	bad += sl_cache_inflight_count(cache) != 0;
	sl_cache_close(cache);
	cache = NULL;
	ev_loop_destroy(loop);
	if (bad)
		printf("     %ld bad results\n", bad);
	return bad == 0;
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/sl-tsan-cache-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	check(test_store(), "store: lookup, commit, update, remove, evict from 4 threads");
	check(test_inflight(), "inflight: leader and readers on their own loops");
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
