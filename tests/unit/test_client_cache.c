/*
 * Unit tests of the manager's HTTP cache (src/client/manager_cache.c)
 * against the scripted test server and a real store in a temporary
 * directory: a miss stored then answered without the network, the load
 * controls (prefer-network revalidating a stale entry with a 304,
 * always-network, prefer-cache, always-cache), pausing and aborting a reply
 * served from the cache, and what never takes part (POST, SL_REQ_NO_CACHE).
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/manager.h"
#include "client_util.h"
#include "core/err.h"

#define BIG (200 * 1024)

static char dir[64];
static sl_cache *cache;
static char big[BIG];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/*
 * /fresh: 200, max-age=600, ETag "e1"; /nc: no-cache with ETag "e1", 304
 * to a matching If-None-Match; /big: BIG bytes, max-age=600; anything
 * else: 200 with no-store.
 */
static void handler(tsrv *s, tconn *c, treq *q)
{
	char inm[64];

	(void)s;
	if (strncmp(q->target, "/fresh", 6) == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nETag: \"e1\"\r\n"
			       "Content-Length: 5\r\n\r\nfresh");
	} else if (strncmp(q->target, "/nc", 3) == 0) {
		if (treq_header(q, "If-None-Match", inm, sizeof inm) && strcmp(inm, "\"e1\"") == 0)
			tconn_sendf(c, "HTTP/1.1 304 Not Modified\r\nETag: \"e1\"\r\n"
				       "Cache-Control: no-cache\r\nX-Check: new\r\n\r\n");
		else
			tconn_sendf(c, "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\n"
				       "ETag: \"e1\"\r\nContent-Length: 6\r\n\r\nstored");
	} else if (strncmp(q->target, "/big", 4) == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n"
			       "Content-Length: %d\r\n\r\n", BIG);
		tconn_send(c, big, BIG);
	} else {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n"
			       "Content-Length: 2\r\n\r\nns");
	}
}

static void setup_env(env *e)
{
	struct timespec tick = {0, 1000 * 1000};
	sl_cache_opts o = {.max_size = 64 << 20, .max_object_size = 16 << 20};

	for (size_t i = 0; i < BIG; i++)
		big[i] = (char)('a' + i % 23);
	snprintf(dir, sizeof dir, "/tmp/sl_test_client_cache_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	o.dir = dir;
	cr_assert_eq(sl_cache_open(&o, &cache), 0);
	for (int i = 0; i < 5000 && !sl_cache_ready(cache); i++)
		nanosleep(&tick, NULL);
	env_init(e, handler);
	e->o.cache = cache;
	env_manager(e);
}

static void fini_env(env *e)
{
	env_fini(e);
	sl_cache_close(cache);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static sl_reply *send_mode(env *e, const char *method, const char *path,
			   enum sl_cache_load mode, unsigned flags, rec *rc)
{
	sl_request rq;
	sl_reply *r = NULL;

	sl_request_init(&rq, method, env_url(e, path));
	rq.cache_load = mode;
	rq.flags = flags;
	cr_assert_eq(sl_manager_send(e->m, &rq, &rec_cbs, rc, &r), 0);
	cr_assert_eq(rc->dones, 0, "never from inside send");
	rc->r = r;
	return r;
}

static void fetch(env *e, const char *path, enum sl_cache_load mode, rec *rc)
{
	send_mode(e, "GET", path, mode, 0, rc);
	cr_assert(run_until(e->loop, pred_done, rc, 5));
}

Test(client_cache, miss_stored_then_answered_from_the_cache)
{
	env e;
	rec a = {0}, b = {0};

	setup_env(&e);
	fetch(&e, "/fresh", SL_CACHE_PREFER_NETWORK, &a);
	cr_assert_eq(a.err, 0);
	cr_assert_str_eq(a.body, "fresh");
	cr_assert_not(sl_reply_from_cache(a.r));
	fetch(&e, "/fresh", SL_CACHE_PREFER_NETWORK, &b);
	cr_assert_eq(b.err, 0);
	cr_assert_eq(b.status, 200);
	cr_assert_str_eq(b.body, "fresh");
	cr_assert_eq(b.clen, 5);
	cr_assert(sl_reply_from_cache(b.r));
	cr_assert_eq(e.srv->requests, 1);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	fini_env(&e);
}

Test(client_cache, prefer_network_revalidates_with_304)
{
	env e;
	rec a = {0}, b = {0};

	setup_env(&e);
	fetch(&e, "/nc", SL_CACHE_PREFER_NETWORK, &a);
	cr_assert_str_eq(a.body, "stored");
	fetch(&e, "/nc", SL_CACHE_PREFER_NETWORK, &b);
	cr_assert_eq(b.err, 0);
	cr_assert_eq(b.status, 200);
	cr_assert_str_eq(b.body, "stored");
	cr_assert(sl_reply_from_cache(b.r));
	cr_assert_eq(e.srv->requests, 2);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	fini_env(&e);
}

Test(client_cache, prefer_cache_takes_a_stale_entry)
{
	env e;
	rec a = {0}, b = {0};

	setup_env(&e);
	fetch(&e, "/nc", SL_CACHE_PREFER_NETWORK, &a);
	fetch(&e, "/nc", SL_CACHE_PREFER_CACHE, &b);
	cr_assert_str_eq(b.body, "stored");
	cr_assert(sl_reply_from_cache(b.r));
	cr_assert_eq(e.srv->requests, 1);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	fini_env(&e);
}

Test(client_cache, always_network_stores_always_cache_reads)
{
	env e;
	rec a = {0}, b = {0}, c = {0}, d = {0};

	setup_env(&e);
	fetch(&e, "/nope", SL_CACHE_ALWAYS_CACHE, &a);
	cr_assert_eq(a.err, SL_E_CACHE_ONLY_IF_CACHED);
	cr_assert_eq(a.heads, 0);
	cr_assert_eq(e.srv->requests, 0);
	fetch(&e, "/fresh?x", SL_CACHE_ALWAYS_NETWORK, &b);
	fetch(&e, "/fresh?x", SL_CACHE_ALWAYS_NETWORK, &c);
	cr_assert_eq(e.srv->requests, 2);
	cr_assert_not(sl_reply_from_cache(c.r));
	fetch(&e, "/fresh?x", SL_CACHE_ALWAYS_CACHE, &d);
	cr_assert_eq(d.err, 0);
	cr_assert_str_eq(d.body, "fresh");
	cr_assert_eq(e.srv->requests, 2);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	sl_reply_unref(c.r);
	sl_reply_unref(d.r);
	rec_free(&a);
	rec_free(&b);
	rec_free(&c);
	rec_free(&d);
	fini_env(&e);
}

Test(client_cache, not_stored_and_not_taking_part)
{
	env e;
	rec a = {0}, b = {0}, c = {0}, d = {0};

	setup_env(&e);
	fetch(&e, "/other", SL_CACHE_PREFER_NETWORK, &a);
	fetch(&e, "/other", SL_CACHE_PREFER_NETWORK, &b);
	cr_assert_eq(e.srv->requests, 2);
	send_mode(&e, "POST", "/fresh", SL_CACHE_PREFER_NETWORK, 0, &c);
	cr_assert(run_until(e.loop, pred_done, &c, 5));
	send_mode(&e, "GET", "/fresh", SL_CACHE_PREFER_NETWORK, SL_REQ_NO_CACHE, &d);
	cr_assert(run_until(e.loop, pred_done, &d, 5));
	cr_assert_eq(e.srv->requests, 4);
	cr_assert_not(sl_reply_from_cache(d.r));
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	sl_reply_unref(c.r);
	sl_reply_unref(d.r);
	rec_free(&a);
	rec_free(&b);
	rec_free(&c);
	rec_free(&d);
	fini_env(&e);
}

Test(client_cache, pause_and_abort_while_served_from_the_cache)
{
	env e;
	rec a = {0}, b = {0}, c = {0};

	setup_env(&e);
	fetch(&e, "/big", SL_CACHE_PREFER_NETWORK, &a);
	cr_assert_eq(a.nbody, BIG);
	b.pause_on_first_data = true;
	send_mode(&e, "GET", "/big", SL_CACHE_PREFER_NETWORK, 0, &b);
	cr_assert(run_until(e.loop, pred_data, &b, 5));
	run_for(e.loop, 0.05);
	cr_assert_eq(b.datas, 1);
	cr_assert_lt(b.nbody, BIG);
	b.paused = false;
	sl_reply_resume(b.r);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.nbody, BIG);
	cr_assert_eq(memcmp(b.body, big, BIG), 0);
	cr_assert_eq(b.data_while_paused, 0);
	c.abort_on_first_data = true;
	send_mode(&e, "GET", "/big", SL_CACHE_PREFER_NETWORK, 0, &c);
	cr_assert(run_until(e.loop, pred_data, &c, 5));
	run_for(e.loop, 0.05);
	cr_assert_eq(c.dones, 0);
	cr_assert(sl_reply_finished(c.r));
	cr_assert_eq(e.srv->requests, 1);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	sl_reply_unref(c.r);
	rec_free(&a);
	rec_free(&b);
	rec_free(&c);
	fini_env(&e);
}
