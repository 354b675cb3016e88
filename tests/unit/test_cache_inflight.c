/*
 * Unit tests of collapsed forwarding: a leader and readers on one loop
 * seeing the head, the body grow and the end (complete, failed, not
 * storable); a request after the end starting a new fill; and readers on
 * two loops in two threads, each called back on its own thread. Loops run
 * in bounded steps with a guard timer: a test that waits in vain fails.
 */
#include <criterion/criterion.h>
#include <ev.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "cache/inflight.h"
#include "cache/store.h"
#include "cache_util.h"
#include "core/err.h"

static char dir[64];
static sl_cache *cache;

static void setup(void)
{
	sl_cache_opts o = {.max_size = 1 << 24, .max_object_size = 1 << 20};

	cu_mkdtemp(dir, sizeof dir);
	o.dir = dir;
	cr_assert_eq(sl_cache_open(&o, &cache), 0);
	cr_assert(cu_wait_ready(cache));
}

static void teardown(void)
{
	if (cache)
		sl_cache_close(cache);
	cache = NULL;
	cu_rmtree(dir);
}

TestSuite(cache_inflight, .init = setup, .fini = teardown);

struct rd {
	sl_cache_reader *r;
	int calls;
	sl_cache_fill_view v;
	char body[256];
	uint64_t got;            /* body bytes read so far */
	pthread_t thread;        /* where the last callback ran */
	bool wrong_thread;
	pthread_t owner;
	bool close_at_end;
	uint64_t announced;      /* meta->body_len as seen (meta dies with the reader) */
};

static void on_news(sl_cache_reader *r, void *arg)
{
	struct rd *d = arg;

	d->calls++;
	d->thread = pthread_self();
	if (!pthread_equal(d->thread, d->owner))
		d->wrong_thread = true;
	sl_cache_reader_view(r, &d->v);
	if (d->v.meta)
		d->announced = d->v.meta->body_len;
	/* Read what is there, as a reader streaming to its client would. */
	while (d->v.fd >= 0 && d->got < d->v.avail && d->got < sizeof d->body) {
		ssize_t n = pread(d->v.fd, d->body + d->got, d->v.avail - d->got,
				  d->v.body_off + (off_t)d->got);
		if (n <= 0)
			break;
		d->got += (uint64_t)n;
	}
	if (d->close_at_end && d->v.state >= SL_CACHE_FILL_COMPLETE) {
		sl_cache_reader_close(r); /* inside its own callback */
		d->r = NULL;
	}
}

static void guard_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	*(bool *)t->data = true;
	ev_break(loop, EVBREAK_ALL);
}

/* Runs loop until ok(arg) holds or 5 s pass; returns ok(arg). */
static bool run_until(struct ev_loop *loop, bool (*ok)(void *), void *arg)
{
	bool expired = false;
	ev_timer guard;

	ev_timer_init(&guard, guard_cb, 5.0, 0);
	guard.data = &expired;
	ev_timer_start(loop, &guard);
	while (!ok(arg) && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
	return ok(arg);
}

struct many {
	struct rd *r;
	int n;
	enum sl_cache_fill_state state;
	uint64_t avail;
	int calls;
};

static bool all_saw(void *arg)
{
	struct many *m = arg;

	for (int i = 0; i < m->n; i++)
		if (m->r[i].calls < m->calls || m->r[i].v.state != m->state ||
		    m->r[i].got < m->avail)
			return false;
	return true;
}

static void wait_all(struct ev_loop *loop, struct rd *r, int n, enum sl_cache_fill_state st,
		     uint64_t avail)
{
	struct many m = {r, n, st, avail, 1};

	cr_assert(run_until(loop, all_saw, &m), "readers did not see state %d avail %llu", st,
		  (unsigned long long)avail);
}

static sl_cache_meta meta(uint64_t len)
{
	return cu_meta(len);
}

static const sl_field head_fields[] = {
	{SL_SLICE_LIT("Content-Type"), SL_SLICE_LIT("text/plain")},
	{SL_SLICE_LIT("Cache-Control"), SL_SLICE_LIT("max-age=60")},
};

static void join_readers(struct ev_loop *loop, const char *key, struct rd *r, int n)
{
	for (int i = 0; i < n; i++) {
		sl_cache_fill *f = NULL;
		memset(&r[i], 0, sizeof r[i]);
		r[i].owner = pthread_self();
		cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, &r[i],
						    &f, &r[i].r), 0);
		cr_assert_null(f);
	}
}

Test(cache_inflight, leader_and_three_readers_complete)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_cache_fill *f = NULL;
	sl_cache_reader *none = NULL;
	struct rd r[3];
	const char *key = "http://cf.test/a";

	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					    &none), 1);
	cr_assert_not_null(f);
	cr_assert_null(none);
	cr_assert_eq(sl_cache_inflight_count(cache), 1);
	join_readers(loop, key, r, 3);
	wait_all(loop, r, 3, SL_CACHE_FILL_WAITING, 0);
	cr_assert_null(r[0].v.meta);
	cr_assert_eq(r[0].v.fd, -1);

	sl_cache_meta m = meta(11);
	cr_assert_eq(sl_cache_fill_head(f, &m, head_fields, 2), 0);
	wait_all(loop, r, 3, SL_CACHE_FILL_STREAMING, 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_not_null(r[i].v.meta);
		cr_assert_eq(r[i].v.meta->body_len, 11);
		cr_assert_eq(r[i].v.nfields, 2);
		cr_assert(sl_slice_eq(r[i].v.fields[1].value, SL_SLICE_LIT("max-age=60")));
		cr_assert_geq(r[i].v.fd, 0);
	}

	cr_assert_eq(sl_cache_fill_append(f, "hello", 5), 0);
	wait_all(loop, r, 3, SL_CACHE_FILL_STREAMING, 5);
	cr_assert_eq(r[1].v.avail, 5);
	cr_assert_eq(sl_cache_fill_append(f, " world", 6), 0);
	wait_all(loop, r, 3, SL_CACHE_FILL_STREAMING, 11);

	sl_cache_obj *o = NULL;
	cr_assert_eq(sl_cache_fill_finish(f, 0, &o), 0);
	cr_assert_not_null(o);
	cr_assert_eq(sl_cache_inflight_count(cache), 0);
	wait_all(loop, r, 3, SL_CACHE_FILL_COMPLETE, 11);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(r[i].v.avail, 11);
		cr_assert(memcmp(r[i].body, "hello world", 11) == 0);
		cr_assert_not(r[i].wrong_thread);
	}
	/* Stored: a lookup hits. */
	sl_cache_obj *h;
	cr_assert_eq(sl_cache_lookup(cache, sl_slice_cstr(key), &h), 0);
	cr_assert_eq(h->meta.body_len, 11);
	sl_cache_obj_release(h);
	sl_cache_obj_release(o);

	/* The readers' descriptor outlives the commit. */
	char b[11];
	cr_assert_eq(pread(r[0].v.fd, b, 11, r[0].v.body_off), 11);
	cr_assert(memcmp(b, "hello world", 11) == 0);
	for (int i = 0; i < 3; i++)
		sl_cache_reader_close(r[i].r);
	ev_loop_destroy(loop);
}

Test(cache_inflight, unknown_length_and_close_in_callback)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_cache_fill *f = NULL;
	sl_cache_reader *none = NULL;
	struct rd r[2];
	const char *key = "http://cf.test/chunked";

	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					    &none), 1);
	join_readers(loop, key, r, 2);
	r[0].close_at_end = r[1].close_at_end = true;
	sl_cache_meta m = meta(UINT64_MAX);
	cr_assert_eq(sl_cache_fill_head(f, &m, head_fields, 2), 0);
	cr_assert_eq(sl_cache_fill_append(f, "abc", 3), 0);
	cr_assert_eq(sl_cache_fill_append(f, "def", 3), 0);
	cr_assert_eq(sl_cache_fill_finish(f, 0, NULL), 0);
	wait_all(loop, r, 2, SL_CACHE_FILL_COMPLETE, 6);
	cr_assert_null(r[0].r);
	cr_assert_null(r[1].r);
	cr_assert_eq(r[0].announced, UINT64_MAX);
	cr_assert(memcmp(r[1].body, "abcdef", 6) == 0);
	ev_loop_destroy(loop);
}

Test(cache_inflight, upstream_fails_midway)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_cache_fill *f = NULL;
	sl_cache_reader *none = NULL;
	struct rd r[3];
	const char *key = "http://cf.test/fail";

	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					    &none), 1);
	join_readers(loop, key, r, 3);
	sl_cache_meta m = meta(100);
	cr_assert_eq(sl_cache_fill_head(f, &m, head_fields, 2), 0);
	cr_assert_eq(sl_cache_fill_append(f, "partial", 7), 0);
	cr_assert_eq(sl_cache_fill_finish(f, SL_E_TARGET_RESET, NULL), SL_E_TARGET_RESET);
	wait_all(loop, r, 3, SL_CACHE_FILL_FAILED, 7);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(r[i].v.err, SL_E_TARGET_RESET);
		sl_cache_reader_close(r[i].r);
	}
	sl_cache_obj *o;
	cr_assert_eq(sl_cache_lookup(cache, sl_slice_cstr(key), &o), SL_E_CACHE_MISS);
	cr_assert_eq(cu_count_files(dir, ""), 0);
	cr_assert_eq(sl_cache_inflight_count(cache), 0);
	ev_loop_destroy(loop);
}

Test(cache_inflight, short_body_fails_readers)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_cache_fill *f = NULL;
	sl_cache_reader *none = NULL;
	struct rd r[1];
	const char *key = "http://cf.test/short";

	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					    &none), 1);
	join_readers(loop, key, r, 1);
	sl_cache_meta m = meta(10);
	cr_assert_eq(sl_cache_fill_head(f, &m, NULL, 0), 0);
	cr_assert_eq(sl_cache_fill_append(f, "12345", 5), 0);
	cr_assert_eq(sl_cache_fill_finish(f, 0, NULL), SL_E_CACHE_SHORT);
	wait_all(loop, r, 1, SL_CACHE_FILL_FAILED, 5);
	cr_assert_eq(r[0].v.err, SL_E_CACHE_SHORT);
	sl_cache_reader_close(r[0].r);
	ev_loop_destroy(loop);
}

Test(cache_inflight, not_storable)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_cache_fill *f = NULL;
	sl_cache_reader *none = NULL;
	struct rd r[3];
	const char *key = "http://cf.test/private";

	/* Cancelled before any head. */
	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					    &none), 1);
	join_readers(loop, key, r, 3);
	sl_cache_fill_cancel(f);
	wait_all(loop, r, 3, SL_CACHE_FILL_NOT_STORABLE, 0);
	cr_assert_null(r[0].v.meta);
	for (int i = 0; i < 3; i++)
		sl_cache_reader_close(r[i].r);

	/* Cancelled while streaming: also not storable, nothing left behind. */
	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					    &none), 1);
	join_readers(loop, key, r, 1);
	sl_cache_meta m = meta(3);
	cr_assert_eq(sl_cache_fill_head(f, &m, NULL, 0), 0);
	cr_assert_eq(sl_cache_fill_append(f, "abc", 3), 0);
	sl_cache_fill_cancel(f);
	wait_all(loop, r, 1, SL_CACHE_FILL_NOT_STORABLE, 0);
	sl_cache_reader_close(r[0].r);
	cr_assert_eq(cu_count_files(dir, ""), 0);

	/* A head the store refuses (too large): readers go upstream. */
	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					    &none), 1);
	join_readers(loop, key, r, 2);
	m = meta(1u << 21);
	cr_assert_eq(sl_cache_fill_head(f, &m, NULL, 0), SL_E_CACHE_TOO_LARGE);
	wait_all(loop, r, 2, SL_CACHE_FILL_NOT_STORABLE, 0);
	cr_assert_eq(sl_cache_inflight_count(cache), 0);
	cr_assert_eq(sl_cache_fill_finish(f, 0, NULL), SL_E_CACHE_TOO_LARGE);
	for (int i = 0; i < 2; i++)
		sl_cache_reader_close(r[i].r);

	/* A leader that fails before any head: readers fetch on their own. */
	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					    &none), 1);
	join_readers(loop, key, r, 1);
	cr_assert_eq(sl_cache_fill_finish(f, SL_E_TARGET_REFUSED, NULL), SL_E_TARGET_REFUSED);
	wait_all(loop, r, 1, SL_CACHE_FILL_NOT_STORABLE, 0);
	sl_cache_reader_close(r[0].r);
	ev_loop_destroy(loop);
}

Test(cache_inflight, join_after_finish_starts_over)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_cache_fill *f = NULL, *f2 = NULL;
	sl_cache_reader *none = NULL;
	const char *key = "http://cf.test/again";

	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f,
					    &none), 1);
	sl_cache_meta m = meta(2);
	cr_assert_eq(sl_cache_fill_head(f, &m, NULL, 0), 0);
	cr_assert_eq(sl_cache_fill_append(f, "ok", 2), 0);
	cr_assert_eq(sl_cache_fill_finish(f, 0, NULL), 0);
	cr_assert_eq(sl_cache_inflight_join(cache, sl_slice_cstr(key), loop, on_news, NULL, &f2,
					    &none), 1);
	cr_assert_null(none);
	sl_cache_fill_cancel(f2);
	/* Other keys never join each other. */
	cr_assert_eq(sl_cache_inflight_join(cache, SL_SLICE_LIT("k1"), loop, on_news, NULL, &f,
					    &none), 1);
	cr_assert_eq(sl_cache_inflight_join(cache, SL_SLICE_LIT("k2"), loop, on_news, NULL, &f2,
					    &none), 1);
	cr_assert_eq(sl_cache_inflight_count(cache), 2);
	sl_cache_fill_cancel(f);
	sl_cache_fill_cancel(f2);
	cr_assert_eq(sl_cache_inflight_count(cache), 0);
	ev_loop_destroy(loop);
}

/* ---- readers on two loops in two threads ---- */

struct worker {
	struct ev_loop *loop;
	struct rd r;
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	int *joined;
	bool ok;
};

static bool done_or_failed(void *arg)
{
	struct rd *d = arg;
	return d->v.state >= SL_CACHE_FILL_COMPLETE && d->got >= d->v.avail;
}

static void *reader_thread(void *arg)
{
	struct worker *w = arg;
	sl_cache_fill *f = NULL;

	w->loop = ev_loop_new(EVFLAG_AUTO);
	w->r.owner = pthread_self();
	int rc = sl_cache_inflight_join(cache, SL_SLICE_LIT("http://cf.test/threads"), w->loop,
					on_news, &w->r, &f, &w->r.r);
	pthread_mutex_lock(w->mu);
	(*w->joined)++;
	pthread_cond_broadcast(w->cv);
	pthread_mutex_unlock(w->mu);
	if (rc == 0) {
		w->ok = run_until(w->loop, done_or_failed, &w->r);
		sl_cache_reader_close(w->r.r);
	}
	ev_loop_destroy(w->loop);
	return NULL;
}

Test(cache_inflight, readers_on_their_own_loops)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_cache_fill *f = NULL;
	sl_cache_reader *none = NULL;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	int joined = 0;
	struct worker w[2];
	pthread_t t[2];

	cr_assert_eq(sl_cache_inflight_join(cache, SL_SLICE_LIT("http://cf.test/threads"), loop,
					    on_news, NULL, &f, &none), 1);
	for (int i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].mu = &mu;
		w[i].cv = &cv;
		w[i].joined = &joined;
		pthread_create(&t[i], NULL, reader_thread, &w[i]);
	}
	pthread_mutex_lock(&mu);
	while (joined < 2)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);

	sl_cache_meta m = meta(200);
	char body[200];
	for (int i = 0; i < 200; i++)
		body[i] = (char)('A' + i % 26);
	cr_assert_eq(sl_cache_fill_head(f, &m, head_fields, 2), 0);
	for (int i = 0; i < 200; i += 20)
		cr_assert_eq(sl_cache_fill_append(f, body + i, 20), 0);
	cr_assert_eq(sl_cache_fill_finish(f, 0, NULL), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		cr_assert(w[i].ok, "reader %d did not complete", i);
		cr_assert_not(w[i].r.wrong_thread, "reader %d called back on another thread", i);
		cr_assert(pthread_equal(w[i].r.thread, w[i].r.owner));
		cr_assert_eq(w[i].r.v.state, SL_CACHE_FILL_COMPLETE);
		cr_assert_eq(w[i].r.got, 200);
		cr_assert(memcmp(w[i].r.body, body, 200) == 0);
	}
	cr_assert(!pthread_equal(w[0].r.owner, w[1].r.owner));
	ev_loop_destroy(loop);
}
