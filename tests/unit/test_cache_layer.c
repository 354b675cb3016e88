/*
 * Unit tests of the cache layer the proxy and the client stack share
 * (src/cache/cache.c) over a real store in a temporary directory: primary
 * keys, plans for responses with and without Vary (markers, generations,
 * variant keys, the variants a marker lists), lookups through markers,
 * PURGE of a URL and of its variants, invalidation after unsafe methods,
 * the 304 update of a stored response, and field copies.
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "core/err.h"

#define F(n, v) {SL_SLICE_LIT(n), SL_SLICE_LIT(v)}
#define NF(a) (sizeof(a) / sizeof((a)[0]))
#define NOW 1700000000

static char dir[64];
static sl_cache *cache;
static char key[SL_CACHE_KEY_MAX];
static sl_field sf[64];
static const sl_cache_policy_conf shared = {.shared = true, .heuristic_max = 86400};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	struct timespec tick = {0, 1000 * 1000};
	sl_cache_opts o = {.max_size = 64 << 20, .max_object_size = 16 << 20};

	snprintf(dir, sizeof dir, "/tmp/sl_test_cache_layer_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	o.dir = dir;
	cr_assert_eq(sl_cache_open(&o, &cache), 0);
	for (int i = 0; i < 5000 && !sl_cache_ready(cache); i++)
		nanosleep(&tick, NULL);
	cr_assert(sl_cache_ready(cache));
}

static void teardown(void)
{
	sl_cache_close(cache);
	cache = NULL;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cache_layer, .init = setup, .fini = teardown);

/* The primary key of an absolute URL into key; returns its length. */
static size_t primary(const char *url)
{
	int n = sl_cache_key_of_url(url, strlen(url), key, sizeof key);
	cr_assert_gt(n, 0, "%s: %d", url, n);
	return (size_t)n;
}

/*
 * Stores the response (200, fields f) to a GET with request fields q for
 * url, with body; returns the plan's verdict (SL_CACHE_STORE when stored).
 */
static enum sl_cache_store_verdict store(const char *url, const sl_field *q, size_t nq,
					 const sl_field *f, size_t n, const char *body)
{
	size_t plen = primary(url), blen = strlen(body);
	sl_cache_req r;
	sl_cache_plan p;
	sl_cache_writer *w;
	int rc;

	sl_cache_req_init(&r, SL_METHOD_GET, q, nq);
	rc = sl_cache_plan_store(cache, &shared, &r, 200, f, n, NOW, NOW, blen, key, plen,
				 sizeof key, sf, NF(sf), &p);
	if (rc == SL_E_CACHE_NOT_STORABLE)
		return p.verdict;
	cr_assert_eq(rc, 0, "%s", sl_strerror(rc));
	cr_assert_eq(p.meta.body_len, blen);
	cr_assert_eq(sl_cache_writer_open(cache, sl_slice_make(key, p.key_len), &p.meta, sf,
					  p.nfields, &w), 0);
	cr_assert_eq(sl_cache_writer_append(w, body, blen), 0);
	cr_assert_eq(sl_cache_writer_commit(w, NULL), 0);
	return p.verdict;
}

/* Looks url up for a GET with fields q; returns the object or NULL. */
static sl_cache_obj *find(const char *url, const sl_field *q, size_t nq, size_t *klen)
{
	size_t plen = primary(url), k;
	sl_cache_req r;
	sl_cache_obj *o = NULL;
	int rc;

	sl_cache_req_init(&r, SL_METHOD_GET, q, nq);
	rc = sl_cache_find(cache, &r, key, plen, sizeof key, klen ? klen : &k, &o);
	if (rc == 0) {
		cr_assert_not_null(o);
		cr_assert_not(sl_cache_obj_is_marker(o));
		return o;
	}
	cr_assert_eq(rc, SL_E_CACHE_MISS, "%s", sl_strerror(rc));
	cr_assert_null(o);
	return NULL;
}

static int count_fields(const sl_cache_obj *o, const char *name)
{
	int k = 0;
	for (size_t i = 0; i < o->nfields; i++)
		k += sl_slice_case_eq_cstr(o->fields[i].name, name);
	return k;
}

static const sl_field fresh[] = {F("Date", "Tue, 14 Nov 2023 22:13:20 GMT"),
				 F("Cache-Control", "max-age=600"), F("ETag", "\"a1\""),
				 F("Content-Type", "text/plain")};

/* ---- keys ---- */

Test(cache_layer, primary_keys_are_normalised)
{
	static const char u1[] = "http://Example.COM:80/a/../b?x=1#frag";
	static const char u2[] = "http://example.com/b?x=1";
	char a[256], b[256];
	int na = sl_cache_key_of_url(u1, sizeof u1 - 1, a, sizeof a);
	int nb = sl_cache_key_of_url(u2, sizeof u2 - 1, b, sizeof b);

	cr_assert_gt(na, 0);
	cr_assert_str_eq(a, b);
	cr_assert_eq(na, nb);
	cr_assert_lt(sl_cache_key_of_url("not a url", 9, a, sizeof a), 0);
}

Test(cache_layer, miss_leaves_the_primary_key)
{
	size_t klen;
	cr_assert_null(find("http://h/none", NULL, 0, &klen));
	cr_assert_eq(klen, strlen("http://h/none"));
}

/* ---- plans and lookups ---- */

Test(cache_layer, plain_response_stored_under_the_primary_key)
{
	size_t klen;
	sl_cache_obj *o;

	cr_assert_eq(store("http://h/a", NULL, 0, fresh, NF(fresh), "body-a"), SL_CACHE_STORE);
	o = find("http://H/./a", NULL, 0, &klen);
	cr_assert_not_null(o);
	cr_assert_eq(klen, strlen("http://h/a"));
	cr_assert_eq(o->meta.status, 200);
	cr_assert_eq(o->meta.body_len, 6);
	cr_assert_eq(o->meta.freshness_lifetime, 600);
	cr_assert_eq(count_fields(o, "ETag"), 1);
	sl_cache_obj_release(o);
}

Test(cache_layer, not_storable_says_why)
{
	static const sl_field ns[] = {F("Cache-Control", "no-store")};
	static const sl_field pv[] = {F("Cache-Control", "private, max-age=60")};
	static const sl_field star[] = {F("Cache-Control", "max-age=60"), F("Vary", "*")};

	cr_assert_eq(store("http://h/ns", NULL, 0, ns, NF(ns), "x"), SL_CACHE_NOSTORE_NO_STORE);
	cr_assert_eq(store("http://h/pv", NULL, 0, pv, NF(pv), "x"), SL_CACHE_NOSTORE_PRIVATE);
	cr_assert_eq(store("http://h/st", NULL, 0, star, NF(star), "x"),
		     SL_CACHE_NOSTORE_VARY_STAR);
	cr_assert_null(find("http://h/ns", NULL, 0, NULL));
	cr_assert_null(find("http://h/pv", NULL, 0, NULL));
	cr_assert_null(find("http://h/st", NULL, 0, NULL));
}

Test(cache_layer, hop_by_hop_and_age_not_stored)
{
	static const sl_field f[] = {F("Cache-Control", "max-age=60"), F("Connection", "X-Hop"),
				     F("X-Hop", "1"), F("Keep-Alive", "timeout=5"),
				     F("Age", "10"), F("X-Kept", "yes")};
	sl_cache_obj *o;

	store("http://h/hop", NULL, 0, f, NF(f), "x");
	o = find("http://h/hop", NULL, 0, NULL);
	cr_assert_not_null(o);
	cr_assert_eq(count_fields(o, "X-Hop"), 0);
	cr_assert_eq(count_fields(o, "Connection"), 0);
	cr_assert_eq(count_fields(o, "Keep-Alive"), 0);
	cr_assert_eq(count_fields(o, "Age"), 0);
	cr_assert_eq(count_fields(o, "X-Kept"), 1);
	sl_cache_obj_release(o);
}

/* ---- Vary ---- */

static const sl_field vary[] = {F("Cache-Control", "max-age=600"),
				F("Vary", "Accept-Encoding"), F("ETag", "\"v\"")};
static const sl_field gz[] = {F("Accept-Encoding", "gzip")};
static const sl_field br[] = {F("Accept-Encoding", "br")};

Test(cache_layer, vary_stores_a_marker_and_variants)
{
	size_t plen = strlen("http://h/v"), k1, k2;
	sl_cache_obj *o, *m;

	store("http://h/v", gz, 1, vary, NF(vary), "gzip-body");
	/* The primary key holds the marker, never served. */
	cr_assert_eq(sl_cache_lookup(cache, sl_slice_make("http://h/v", plen), &m), 0);
	cr_assert(sl_cache_obj_is_marker(m));
	cr_assert_eq(m->meta.body_len, 0);
	cr_assert_eq(count_fields(m, SL_CACHE_MARKER_VARIANT), 1);
	sl_cache_obj_release(m);

	o = find("http://h/v", gz, 1, &k1);
	cr_assert_not_null(o);
	cr_assert_gt(k1, plen);
	cr_assert_eq(key[plen], '\n');
	cr_assert_eq(o->meta.body_len, 9);
	sl_cache_obj_release(o);
	cr_assert_null(find("http://h/v", br, 1, &k2));
	cr_assert_gt(k2, plen);

	store("http://h/v", br, 1, vary, NF(vary), "br-body");
	o = find("http://h/v", br, 1, &k2);
	cr_assert_not_null(o);
	cr_assert_eq(o->meta.body_len, 7);
	sl_cache_obj_release(o);
	cr_assert_eq(sl_cache_lookup(cache, sl_slice_make("http://h/v", plen), &m), 0);
	cr_assert_eq(count_fields(m, SL_CACHE_MARKER_VARIANT), 2);
	sl_cache_obj_release(m);
	/* No Accept-Encoding at all is a third variant. */
	cr_assert_null(find("http://h/v", NULL, 0, NULL));
}

Test(cache_layer, vary_names_normalised_keep_the_generation)
{
	static const sl_field v2[] = {F("Cache-Control", "max-age=600"),
				      F("Vary", "accept-encoding ,ACCEPT-ENCODING"),
				      F("Vary", "")};
	sl_cache_obj *o;

	store("http://h/n", gz, 1, vary, NF(vary), "one");
	store("http://h/n", br, 1, v2, NF(v2), "two");
	/* Same names: same marker, so the first variant is still reachable. */
	o = find("http://h/n", gz, 1, NULL);
	cr_assert_not_null(o);
	sl_cache_obj_release(o);
	o = find("http://h/n", br, 1, NULL);
	cr_assert_not_null(o);
	sl_cache_obj_release(o);
}

Test(cache_layer, vary_on_other_fields_makes_old_variants_unreachable)
{
	static const sl_field vl[] = {F("Cache-Control", "max-age=600"),
				      F("Vary", "Accept-Language")};
	sl_cache_obj *o;

	store("http://h/g", gz, 1, vary, NF(vary), "old");
	store("http://h/g", gz, 1, vl, NF(vl), "new");
	o = find("http://h/g", gz, 1, NULL);
	cr_assert_not_null(o);
	cr_assert_eq(o->meta.body_len, 3);   /* "new", not "old" */
	sl_cache_obj_release(o);
}

Test(cache_layer, response_without_vary_replaces_the_marker)
{
	sl_cache_obj *o;

	store("http://h/r", gz, 1, vary, NF(vary), "variant");
	store("http://h/r", NULL, 0, fresh, NF(fresh), "plain!");
	o = find("http://h/r", br, 1, NULL);
	cr_assert_not_null(o);
	cr_assert_eq(o->meta.body_len, 6);
	sl_cache_obj_release(o);
}

/* ---- PURGE and invalidation ---- */

Test(cache_layer, purge_plain_and_missing)
{
	store("http://h/p", NULL, 0, fresh, NF(fresh), "x");
	cr_assert_eq(sl_cache_purge(cache, SL_SLICE_LIT("http://h/p")), 0);
	cr_assert_null(find("http://h/p", NULL, 0, NULL));
	cr_assert_eq(sl_cache_purge(cache, SL_SLICE_LIT("http://h/p")), SL_E_CACHE_MISS);
}

Test(cache_layer, purge_removes_the_listed_variants)
{
	char k1[SL_CACHE_KEY_MAX];
	size_t l1;
	sl_cache_obj *o;

	store("http://h/pv", gz, 1, vary, NF(vary), "g");
	store("http://h/pv", br, 1, vary, NF(vary), "b");
	o = find("http://h/pv", gz, 1, &l1);
	cr_assert_not_null(o);
	sl_cache_obj_release(o);
	memcpy(k1, key, l1);
	cr_assert_eq(sl_cache_purge(cache, SL_SLICE_LIT("http://h/pv")), 0);
	/* The variant's own entry is gone too, not only unreachable. */
	cr_assert_eq(sl_cache_lookup(cache, sl_slice_make(k1, l1), &o), SL_E_CACHE_MISS);
	cr_assert_null(find("http://h/pv", gz, 1, NULL));
	cr_assert_null(find("http://h/pv", br, 1, NULL));
}

Test(cache_layer, unsafe_methods_invalidate)
{
	static const sl_field loc[] = {F("Location", "http://h/other")};
	static const sl_field none[] = {F("Server", "x")};

	store("http://h/i", NULL, 0, fresh, NF(fresh), "x");
	store("http://h/other", NULL, 0, fresh, NF(fresh), "y");
	store("http://h/keep", NULL, 0, fresh, NF(fresh), "z");
	cr_assert_eq(sl_cache_invalidate(cache, SL_METHOD_GET, 200, "http://h/keep", none, 1), 0);
	cr_assert_eq(sl_cache_invalidate(cache, SL_METHOD_POST, 500, "http://h/keep", none, 1),
		     0);
	cr_assert_eq(sl_cache_invalidate(cache, SL_METHOD_POST, 201, "http://h/i", loc, 1), 2);
	cr_assert_null(find("http://h/i", NULL, 0, NULL));
	cr_assert_null(find("http://h/other", NULL, 0, NULL));
	sl_cache_obj *o = find("http://h/keep", NULL, 0, NULL);
	cr_assert_not_null(o);
	sl_cache_obj_release(o);
}

/* ---- 304 ---- */

Test(cache_layer, revalidated_updates_fields_in_place)
{
	static const sl_field r304[] = {F("Date", "Tue, 14 Nov 2023 22:23:20 GMT"),
					F("ETag", "\"a1\""), F("Cache-Control", "max-age=1200"),
					F("X-New", "1"), F("Content-Length", "0")};
	static const sl_field other[] = {F("ETag", "\"zz\"")};
	sl_cache_req r;
	sl_cache_obj *o, *u = NULL, *again;
	sl_field scratch[64];

	store("http://h/304", NULL, 0, fresh, NF(fresh), "stored body");
	o = find("http://h/304", NULL, 0, NULL);
	cr_assert_not_null(o);
	sl_cache_req_init(&r, SL_METHOD_GET, NULL, 0);
	cr_assert_eq(sl_cache_revalidated(cache, &shared, &r, o, other, 1, NOW + 600, NOW + 600,
					  scratch, NF(scratch), &u),
		     SL_E_CACHE_NOT_STORABLE);
	cr_assert_null(u);
	cr_assert_eq(sl_cache_revalidated(cache, &shared, &r, o, r304, NF(r304), NOW + 600,
					  NOW + 600, scratch, NF(scratch), &u),
		     0);
	cr_assert_not_null(u);
	cr_assert_eq(u->meta.freshness_lifetime, 1200);
	cr_assert_eq(u->meta.body_len, 11);
	cr_assert_eq(count_fields(u, "X-New"), 1);
	cr_assert_eq(count_fields(u, "Content-Type"), 1);
	cr_assert_eq(count_fields(u, "Content-Length"), 0);
	sl_cache_obj_release(u);
	sl_cache_obj_release(o);
	again = find("http://h/304", NULL, 0, NULL);
	cr_assert_not_null(again);
	cr_assert_eq(count_fields(again, "X-New"), 1);
	cr_assert_eq(again->meta.freshness_lifetime, 1200);
	sl_cache_obj_release(again);
}

/* ---- field copies ---- */

Test(cache_layer, fields_copy_owns_its_bytes)
{
	char name[] = "X-A", value[] = "one";
	sl_field f[] = {{sl_slice_make(name, 3), sl_slice_make(value, 3)},
			{SL_SLICE_LIT("X-Empty"), SL_SLICE_NULL}};
	sl_cache_fields b;

	memset(&b, 0, sizeof b);
	cr_assert_eq(sl_cache_fields_set(&b, f, 2, 2), 0);
	memcpy(value, "two", 3);
	cr_assert_eq(b.n, 2);
	cr_assert_geq(b.vcap, 4);
	cr_assert(sl_slice_eq_cstr(b.v[0].name, "X-A"));
	cr_assert(sl_slice_eq_cstr(b.v[0].value, "one"));
	cr_assert_eq(b.v[1].value.n, 0);
	cr_assert_eq(sl_cache_fields_set(&b, f, 1, 0), 0);
	cr_assert(sl_slice_eq_cstr(b.v[0].value, "two"));
	sl_cache_fields_free(&b);
	cr_assert_null(b.mem);
}
