/*
 * Unit tests of the cache store: objects written and read back (from the
 * file and from the memory tier), the file layout, atomic commits and the
 * temporary directory, every kind of damage a file can suffer (each a
 * SL_E_CACHE_CORRUPT once, then a miss with the file gone), size limits,
 * LRU eviction, 304 updates in place and by copy, removal, restart with the
 * rebuild, and the counters. Each test works in its own temporary
 * directory, removed by the fixture.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/store.h"
#include "cache/store_internal.h"
#include "cache_util.h"
#include "core/err.h"

static char dir[64];
static sl_cache *cache;

static void setup(void)
{
	cu_mkdtemp(dir, sizeof dir);
	cache = NULL;
}

static void teardown(void)
{
	if (cache)
		sl_cache_close(cache);
	cache = NULL;
	cu_rmtree(dir);
}

static sl_cache_opts opts(uint64_t max_size, uint64_t memory)
{
	return (sl_cache_opts){
		.dir = dir,
		.max_size = max_size,
		.max_object_size = 1 << 20,
		.memory = memory,
	};
}

static void open_store(sl_cache_opts o)
{
	cr_assert_eq(sl_cache_open(&o, &cache), 0);
	cr_assert(cu_wait_ready(cache));
}

static void reopen(sl_cache_opts o)
{
	sl_cache_close(cache);
	cache = NULL;
	open_store(o);
}

static const sl_field fields2[] = {
	{SL_SLICE_LIT("Content-Type"), SL_SLICE_LIT("text/plain")},
	{SL_SLICE_LIT("ETag"), SL_SLICE_LIT("\"v1\"")},
};

static char body_big[20000];

static void fill_body(char *b, size_t n, char seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (char)(seed + (char)(i % 61));
}

static void expect_obj(const sl_cache_obj *o, const char *key, const sl_field *f, size_t n,
		       const char *body, size_t len)
{
	static char got[sizeof body_big];

	cr_assert_eq(o->key_len, strlen(key));
	cr_assert_str_eq(o->key, key);
	cr_assert_eq(o->meta.status, 200);
	cr_assert_eq(o->meta.body_len, len);
	cr_assert_eq(o->nfields, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert(sl_slice_eq(o->fields[i].name, f[i].name), "field %zu name", i);
		cr_assert(sl_slice_eq(o->fields[i].value, f[i].value), "field %zu value", i);
	}
	cr_assert_eq(cu_body(o, got, sizeof got), (long)len);
	cr_assert(memcmp(got, body, len) == 0);
}

static bool exists(const char *key)
{
	char p[4096];
	struct stat st;

	cu_path(dir, key, p, sizeof p);
	return stat(p, &st) == 0;
}

static int object_files(void)
{
	return cu_count_files(dir, "") - cu_count_files(dir, "tmp");
}

TestSuite(cache_store, .init = setup, .fini = teardown);
TestSuite(cache_store_corrupt, .init = setup, .fini = teardown);
TestSuite(cache_store_evict, .init = setup, .fini = teardown);
TestSuite(cache_store_update, .init = setup, .fini = teardown);

Test(cache_store, round_trip_from_disk)
{
	sl_cache_obj *o;

	open_store(opts(1 << 24, 0));
	fill_body(body_big, sizeof body_big, 'a');
	cr_assert_eq(cu_put(cache, "http://a.test/x", fields2, 2, body_big, sizeof body_big), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("http://a.test/x"), &o), 0);
	cr_assert_null(o->body);
	cr_assert_geq(o->fd, 0);
	cr_assert_eq(o->body_off % 512, 0);
	expect_obj(o, "http://a.test/x", fields2, 2, body_big, sizeof body_big);
	sl_cache_obj_release(o);

	/* Dropped from the index's cache: read back from the file. */
	cr_assert_eq(sl__store_uncache(cache, SL_SLICE_LIT("http://a.test/x")), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("http://a.test/x"), &o), 0);
	cr_assert_null(o->body);
	expect_obj(o, "http://a.test/x", fields2, 2, body_big, sizeof body_big);
	sl_cache_obj_release(o);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("http://a.test/y"), &o), SL_E_CACHE_MISS);
}

Test(cache_store, round_trip_memory_tier)
{
	sl_cache_obj *o;
	sl_cache_stats st;
	char small[3000];

	open_store(opts(1 << 24, 1 << 20));
	fill_body(small, sizeof small, 'k');
	cr_assert_eq(cu_put(cache, "http://m.test/", fields2, 2, small, sizeof small), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("http://m.test/"), &o), 0);
	cr_assert_not_null(o->body);
	cr_assert_eq(o->fd, -1);
	expect_obj(o, "http://m.test/", fields2, 2, small, sizeof small);
	sl_cache_obj_release(o);
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.mem_hits, 1);
	cr_assert_eq(st.mem_objects, 1);
	cr_assert_gt(st.mem_bytes, sizeof small);

	/* A small object read from disk enters the memory tier. */
	sl__store_uncache(cache, SL_SLICE_LIT("http://m.test/"));
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.mem_objects, 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("http://m.test/"), &o), 0);
	cr_assert_not_null(o->body);
	expect_obj(o, "http://m.test/", fields2, 2, small, sizeof small);
	sl_cache_obj_release(o);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("http://m.test/"), &o), 0);
	sl_cache_obj_release(o);
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.mem_objects, 1);
	cr_assert_eq(st.mem_hits, 2);
	cr_assert_eq(st.hits, 3);

	/* Larger than memory_object_max: on disk only. */
	fill_body(body_big, 70000 < sizeof body_big ? 70000 : sizeof body_big, 'q');
	sl_cache_opts o2 = opts(1 << 24, 1 << 20);
	o2.memory_object_max = 8192;
	reopen(o2);
	cr_assert_eq(cu_put(cache, "http://big.test/", NULL, 0, body_big, 10000), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("http://big.test/"), &o), 0);
	cr_assert_null(o->body);
	cr_assert_geq(o->fd, 0);
	sl_cache_obj_release(o);
}

Test(cache_store, empty_body_and_unknown_length)
{
	sl_cache_obj *o;
	sl_cache_writer *w;
	sl_cache_meta m = cu_meta(UINT64_MAX);

	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_put(cache, "http://e.test/", fields2, 1, "", 0), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("http://e.test/"), &o), 0);
	expect_obj(o, "http://e.test/", fields2, 1, "", 0);
	sl_cache_obj_release(o);

	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("http://u.test/"), &m, fields2, 2,
					  &w), 0);
	cr_assert_eq(sl_cache_writer_append(w, "chunk one,", 10), 0);
	cr_assert_eq(sl_cache_writer_append(w, "chunk two", 9), 0);
	cr_assert_eq(sl_cache_writer_commit(w, &o), 0);
	expect_obj(o, "http://u.test/", fields2, 2, "chunk one,chunk two", 19);
	sl_cache_obj_release(o);
	sl__store_uncache(cache, SL_SLICE_LIT("http://u.test/"));
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("http://u.test/"), &o), 0);
	expect_obj(o, "http://u.test/", fields2, 2, "chunk one,chunk two", 19);
	sl_cache_obj_release(o);
}

Test(cache_store, key_path_layout)
{
	char p[80];

	/* SHA-256("abc"), FIPS 180-2 appendix B.1. */
	sl_cache_key_path(SL_SLICE_LIT("abc"), p, sizeof p);
	cr_assert_str_eq(p, "ba/78/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_put(cache, "abc", NULL, 0, "x", 1), 0);
	cr_assert(exists("abc"));
	char full[4096];
	snprintf(full, sizeof full, "%s/ba/78/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", dir);
	struct stat st;
	cr_assert_eq(stat(full, &st), 0);
	cr_assert_eq(st.st_size, 512 + 1);
	cr_assert_eq(object_files(), 1);
}

Test(cache_store, commit_is_atomic)
{
	sl_cache_writer *w;
	sl_cache_obj *o;
	sl_cache_meta m = cu_meta(10);

	open_store(opts(1 << 24, 0));
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("k"), &m, NULL, 0, &w), 0);
	cr_assert_eq(sl_cache_writer_append(w, "01234", 5), 0);
	off_t boff;
	uint64_t written;
	cr_assert_geq(sl_cache_writer_fd(w, &boff, &written), 0);
	cr_assert_eq(written, 5);
	cr_assert_eq(boff, 512);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("k"), &o), SL_E_CACHE_MISS);
	cr_assert_eq(cu_count_files(dir, "tmp"), 1);
	cr_assert_eq(object_files(), 0);
	sl_cache_writer_abort(w);
	cr_assert_eq(cu_count_files(dir, "tmp"), 0);
	cr_assert_eq(object_files(), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("k"), &o), SL_E_CACHE_MISS);

	/* Committed: in place, nothing left in tmp. */
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("k"), &m, NULL, 0, &w), 0);
	cr_assert_eq(sl_cache_writer_append(w, "0123456789", 10), 0);
	cr_assert_eq(sl_cache_writer_commit(w, NULL), 0);
	cr_assert_eq(cu_count_files(dir, "tmp"), 0);
	cr_assert_eq(object_files(), 1);
}

Test(cache_store, temp_files_swept_at_open)
{
	char p[4096];

	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_put(cache, "kept", NULL, 0, "body", 4), 0);
	sl_cache_close(cache);
	cache = NULL;
	/* What a kill -9 in the middle of writes leaves behind. */
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/tmp/999-%d", dir, i);
		int fd = open(p, O_CREAT | O_WRONLY, 0644);
		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, "partial", 7), 7);
		close(fd);
	}
	cr_assert_eq(cu_count_files(dir, "tmp"), 3);
	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_count_files(dir, "tmp"), 0);
	cr_assert_eq(cu_count_files(dir, ""), 1);
	snprintf(p, sizeof p, "%s/tmp", dir);
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	sl_cache_obj *o;
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("kept"), &o), 0);
	sl_cache_obj_release(o);
}

Test(cache_store, short_body_is_not_stored)
{
	sl_cache_writer *w;
	sl_cache_obj *o = NULL;
	sl_cache_meta m = cu_meta(10);

	open_store(opts(1 << 24, 0));
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("s"), &m, NULL, 0, &w), 0);
	cr_assert_eq(sl_cache_writer_append(w, "01234", 5), 0);
	cr_assert_eq(sl_cache_writer_commit(w, &o), SL_E_CACHE_SHORT);
	cr_assert_null(o);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("s"), &o), SL_E_CACHE_MISS);
	cr_assert_eq(cu_count_files(dir, ""), 0);

	/* Past the announced length: refused, and the error sticks. */
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("s"), &m, NULL, 0, &w), 0);
	cr_assert_eq(sl_cache_writer_append(w, "0123456789A", 11), SL_E_INVAL);
	cr_assert_eq(sl_cache_writer_commit(w, NULL), SL_E_INVAL);
	cr_assert_eq(cu_count_files(dir, ""), 0);
}

Test(cache_store, too_large_refused)
{
	sl_cache_writer *w;
	sl_cache_meta m = cu_meta(200);
	sl_cache_opts o = opts(1 << 24, 0);
	sl_cache_stats st;

	o.max_object_size = 100;
	open_store(o);
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("t"), &m, NULL, 0, &w),
		     SL_E_CACHE_TOO_LARGE);
	m.body_len = UINT64_MAX;
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("t"), &m, NULL, 0, &w), 0);
	fill_body(body_big, 150, 'z');
	cr_assert_eq(sl_cache_writer_append(w, body_big, 60), 0);
	cr_assert_eq(sl_cache_writer_append(w, body_big, 60), SL_E_CACHE_TOO_LARGE);
	sl_cache_writer_abort(w);
	m.body_len = 100; /* exactly the limit is fine */
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("t"), &m, NULL, 0, &w), 0);
	cr_assert_eq(sl_cache_writer_append(w, body_big, 100), 0);
	cr_assert_eq(sl_cache_writer_commit(w, NULL), 0);
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.too_large, 2);
	cr_assert_eq(st.stores, 1);
	cr_assert_eq(cu_count_files(dir, "tmp"), 0);
}

Test(cache_store, bad_fields_refused)
{
	sl_cache_writer *w;
	sl_cache_meta m = cu_meta(0);
	sl_field crlf[] = {{SL_SLICE_LIT("X"), SL_SLICE_LIT("a\r\nInjected: 1")}};
	sl_field colon[] = {{SL_SLICE_LIT("X:Y"), SL_SLICE_LIT("v")}};
	sl_field empty[] = {{SL_SLICE_LIT("X-Empty"), SL_SLICE_LIT("")}};

	open_store(opts(1 << 24, 0));
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("f"), &m, crlf, 1, &w), SL_E_INVAL);
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("f"), &m, colon, 1, &w), SL_E_INVAL);
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT(""), &m, NULL, 0, &w), SL_E_INVAL);
	/* An empty value round-trips. */
	cr_assert_eq(cu_put(cache, "f", empty, 1, "", 0), 0);
	sl__store_uncache(cache, SL_SLICE_LIT("f"));
	sl_cache_obj *o;
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("f"), &o), 0);
	expect_obj(o, "f", empty, 1, "", 0);
	sl_cache_obj_release(o);
}

Test(cache_store, replace_keeps_old_reference)
{
	sl_cache_obj *o1, *o2;
	sl_cache_stats st;

	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_put(cache, "r", fields2, 2, "first body", 10), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("r"), &o1), 0);
	cr_assert_eq(cu_put(cache, "r", fields2, 1, "second", 6), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("r"), &o2), 0);
	expect_obj(o1, "r", fields2, 2, "first body", 10);
	expect_obj(o2, "r", fields2, 1, "second", 6);
	sl_cache_obj_release(o1);
	sl_cache_obj_release(o2);
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.objects, 1);
	cr_assert_eq(st.bytes, 512 + 6);
	cr_assert_eq(object_files(), 1);
}

Test(cache_store, remove)
{
	sl_cache_obj *o;
	sl_cache_stats st;

	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_put(cache, "gone", fields2, 2, "bytes", 5), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("gone"), &o), 0);
	cr_assert_eq(sl_cache_remove(cache, SL_SLICE_LIT("gone")), 0);
	cr_assert_not(exists("gone"));
	sl_cache_obj *o2;
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("gone"), &o2), SL_E_CACHE_MISS);
	cr_assert_eq(sl_cache_remove(cache, SL_SLICE_LIT("gone")), SL_E_CACHE_MISS);
	expect_obj(o, "gone", fields2, 2, "bytes", 5); /* the holder keeps reading */
	sl_cache_obj_release(o);
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.bytes, 0);
}

Test(cache_store, restart_rebuilds_index)
{
	char key[64], b[600];
	sl_cache_obj *o;
	sl_cache_stats st;

	open_store(opts(1 << 24, 1 << 20));
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof key, "http://r.test/%d", i);
		fill_body(b, sizeof b, (char)('0' + i));
		int rc = i % 2 ? cu_put(cache, key, fields2, 2, b, sizeof b)
			       : cu_put(cache, key, fields2, 2, body_big, 15000);
		cr_assert_eq(rc, 0, "%d: %s", i, sl_strerror(rc));
	}
	sl_cache_stats_get(cache, &st);
	uint64_t bytes = st.bytes;
	reopen(opts(1 << 24, 1 << 20));
	sl_cache_stats_get(cache, &st);
	cr_assert(st.ready);
	cr_assert_eq(st.objects, 40);
	cr_assert_eq(st.bytes, bytes);
	cr_assert_eq(st.stores, 0);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof key, "http://r.test/%d", i);
		cr_assert_eq(sl_cache_lookup(cache, sl_slice_cstr(key), &o), 0, "%s", key);
		if (i % 2) {
			fill_body(b, sizeof b, (char)('0' + i));
			expect_obj(o, key, fields2, 2, b, sizeof b);
			cr_assert_not_null(o->body);
		} else {
			cr_assert_eq(o->meta.body_len, 15000);
		}
		sl_cache_obj_release(o);
	}
}

Test(cache_store, commit_during_rebuild_wins)
{
	char key[64], b[300];
	sl_cache_obj *o;

	open_store(opts(1 << 24, 0));
	fill_body(b, sizeof b, 'o');
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof key, "http://old.test/%d", i);
		cr_assert_eq(cu_put(cache, key, fields2, 2, b, sizeof b), 0);
	}
	sl_cache_close(cache);
	sl_cache_opts op = opts(1 << 24, 0);
	cr_assert_eq(sl_cache_open(&op, &cache), 0);
	/* Newer versions of some keys while the rebuild may still be running:
	 * whatever the interleaving, they win. */
	fill_body(b, sizeof b, 'N');
	for (int i = 0; i < 300; i += 7) {
		snprintf(key, sizeof key, "http://old.test/%d", i);
		cr_assert_eq(cu_put(cache, key, fields2, 1, b, 100), 0);
	}
	cr_assert(cu_wait_ready(cache));
	sl_cache_stats st;
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.objects, 300);
	cr_assert_eq(st.corrupt, 0);
	for (int i = 0; i < 300; i += 7) {
		snprintf(key, sizeof key, "http://old.test/%d", i);
		cr_assert_eq(sl_cache_lookup(cache, sl_slice_cstr(key), &o), 0);
		expect_obj(o, key, fields2, 1, b, 100);
		sl_cache_obj_release(o);
	}
	cr_assert_eq(object_files(), 300);
}

Test(cache_store, stats)
{
	sl_cache_obj *o;
	sl_cache_stats st;

	open_store(opts(123456, 0));
	cr_assert_eq(cu_put(cache, "a", NULL, 0, "1", 1), 0);
	cr_assert_eq(cu_put(cache, "b", NULL, 0, "22", 2), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("a"), &o), 0);
	sl_cache_obj_release(o);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("c"), &o), SL_E_CACHE_MISS);
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.objects, 2);
	cr_assert_eq(st.bytes, 512 + 1 + 512 + 2);
	cr_assert_eq(st.max_size, 123456);
	cr_assert_eq(st.lookups, 2);
	cr_assert_eq(st.hits, 1);
	cr_assert_eq(st.mem_hits, 0);
	cr_assert_eq(st.stores, 2);
	cr_assert_eq(st.evictions, 0);
	cr_assert_eq(st.corrupt, 0);
	cr_assert(st.ready);
}

/* ---- damage ---- */

/* Stores "victim", drops it from the index's cache, then lets damage()
 * change its file; the next lookup must say corrupt, then miss. */
static void check_damage(void (*damage)(int fd, off_t size))
{
	char p[4096];
	sl_cache_obj *o;
	sl_cache_stats st;

	open_store(opts(1 << 24, 0));
	fill_body(body_big, 5000, 'v');
	cr_assert_eq(cu_put(cache, "victim", fields2, 2, body_big, 5000), 0);
	sl__store_uncache(cache, SL_SLICE_LIT("victim"));
	cu_path(dir, "victim", p, sizeof p);
	int fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	struct stat sb;
	fstat(fd, &sb);
	damage(fd, sb.st_size);
	close(fd);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("victim"), &o), SL_E_CACHE_CORRUPT);
	cr_assert_not(exists("victim"));
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("victim"), &o), SL_E_CACHE_MISS);
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.corrupt, 1);
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.bytes, 0);
}

static void flip(int fd, off_t at)
{
	unsigned char c;

	cr_assert_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x20;
	cr_assert_eq(pwrite(fd, &c, 1, at), 1);
}

static void flip_fixed(int fd, off_t size)
{
	(void)size;
	flip(fd, 13); /* key length */
}

static void flip_meta(int fd, off_t size)
{
	(void)size;
	flip(fd, 64 + 40); /* freshness_lifetime */
}

static void flip_key(int fd, off_t size)
{
	(void)size;
	flip(fd, 128 + 2);
}

static void flip_field(int fd, off_t size)
{
	(void)size;
	flip(fd, 128 + 6 + 3); /* inside "Content-Type" */
}

static void flip_checksum(int fd, off_t size)
{
	(void)size;
	flip(fd, 40);
}

static void bad_magic(int fd, off_t size)
{
	(void)size;
	cr_assert_eq(pwrite(fd, "XLC1", 4, 0), 4);
}

static void bad_version(int fd, off_t size)
{
	uint16_t v = 2;
	(void)size;
	cr_assert_eq(pwrite(fd, &v, 2, 4), 2);
}

static void truncate_body(int fd, off_t size)
{
	cr_assert_eq(ftruncate(fd, size - 1), 0);
}

static void extend_body(int fd, off_t size)
{
	cr_assert_eq(pwrite(fd, "x", 1, size), 1);
}

static void truncate_head(int fd, off_t size)
{
	(void)size;
	cr_assert_eq(ftruncate(fd, 100), 0);
}

static void empty_file(int fd, off_t size)
{
	(void)size;
	cr_assert_eq(ftruncate(fd, 0), 0);
}

Test(cache_store_corrupt, fixed_header) { check_damage(flip_fixed); }
Test(cache_store_corrupt, metadata) { check_damage(flip_meta); }
Test(cache_store_corrupt, key) { check_damage(flip_key); }
Test(cache_store_corrupt, fields) { check_damage(flip_field); }
Test(cache_store_corrupt, checksum) { check_damage(flip_checksum); }
Test(cache_store_corrupt, wrong_magic) { check_damage(bad_magic); }
Test(cache_store_corrupt, wrong_version) { check_damage(bad_version); }
Test(cache_store_corrupt, body_truncated) { check_damage(truncate_body); }
Test(cache_store_corrupt, body_longer) { check_damage(extend_body); }
Test(cache_store_corrupt, header_truncated) { check_damage(truncate_head); }
Test(cache_store_corrupt, empty_file) { check_damage(empty_file); }

Test(cache_store_corrupt, slack_and_body_not_covered)
{
	char p[4096];
	sl_cache_obj *o;

	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_put(cache, "soft", NULL, 0, "body", 4), 0);
	sl__store_uncache(cache, SL_SLICE_LIT("soft"));
	cu_path(dir, "soft", p, sizeof p);
	int fd = open(p, O_RDWR);
	flip(fd, 500); /* slack */
	flip(fd, 512); /* body: checked by its length only */
	close(fd);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("soft"), &o), 0);
	cr_assert_eq(o->meta.body_len, 4);
	sl_cache_obj_release(o);
}

Test(cache_store_corrupt, found_by_rebuild)
{
	char p[4096];
	sl_cache_obj *o;
	sl_cache_stats st;

	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_put(cache, "bad", fields2, 2, "body", 4), 0);
	cr_assert_eq(cu_put(cache, "good", fields2, 2, "body", 4), 0);
	sl_cache_close(cache);
	cache = NULL;
	cu_path(dir, "bad", p, sizeof p);
	int fd = open(p, O_RDWR);
	flip(fd, 130);
	close(fd);
	/* A file under another key's name fails too. */
	char q[4096];
	cu_path(dir, "good", q, sizeof q);
	char alias[4096];
	cu_path(dir, "alias", alias, sizeof alias);
	cr_assert_eq(cu_copy(q, alias), 0);
	open_store(opts(1 << 24, 0));
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.corrupt, 2);
	cr_assert_eq(st.objects, 1);
	cr_assert_not(exists("bad"));
	cr_assert_not(exists("alias"));
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("bad"), &o), SL_E_CACHE_MISS);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("good"), &o), 0);
	sl_cache_obj_release(o);
}

/* ---- eviction ---- */

Test(cache_store_evict, least_recently_used_first)
{
	char key[32], b[1000];
	sl_cache_obj *o;
	sl_cache_stats st;
	const uint64_t one = 512 + sizeof b;

	open_store(opts(10 * one, 0));
	fill_body(b, sizeof b, 'e');
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof key, "k%d", i);
		cr_assert_eq(cu_put(cache, key, NULL, 0, b, sizeof b), 0);
	}
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.objects, 10);
	cr_assert_eq(st.evictions, 0);
	for (int i = 0; i < 5; i++) { /* touch k0..k4 */
		snprintf(key, sizeof key, "k%d", i);
		cr_assert_eq(sl_cache_lookup(cache, sl_slice_cstr(key), &o), 0);
		sl_cache_obj_release(o);
	}
	for (int i = 10; i < 15; i++) {
		snprintf(key, sizeof key, "k%d", i);
		cr_assert_eq(cu_put(cache, key, NULL, 0, b, sizeof b), 0);
		sl_cache_stats_get(cache, &st);
		cr_assert_leq(st.bytes, 10 * one);
	}
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.evictions, 5);
	cr_assert_eq(st.objects, 10);
	for (int i = 0; i < 15; i++) {
		snprintf(key, sizeof key, "k%d", i);
		int rc = sl_cache_lookup(cache, sl_slice_cstr(key), &o);
		if (i >= 5 && i < 10) {
			cr_assert_eq(rc, SL_E_CACHE_MISS, "%s should be evicted", key);
			cr_assert_not(exists(key));
		} else {
			cr_assert_eq(rc, 0, "%s should stay", key);
			sl_cache_obj_release(o);
		}
	}
	cr_assert_eq(object_files(), 10);
}

Test(cache_store_evict, expired_before_fresh)
{
	sl_cache_writer *w;
	sl_cache_obj *o;

	open_store(opts(3 * 513, 0));
	/* "old" is stored last but is already stale: it goes first. */
	cr_assert_eq(cu_put(cache, "a", NULL, 0, "1", 1), 0);
	cr_assert_eq(cu_put(cache, "b", NULL, 0, "1", 1), 0);
	sl_cache_meta m = cu_meta(1);
	m.freshness_lifetime = 0;
	m.response_time -= 100;
	cr_assert_eq(sl_cache_writer_open(cache, SL_SLICE_LIT("old"), &m, NULL, 0, &w), 0);
	cr_assert_eq(sl_cache_writer_append(w, "1", 1), 0);
	cr_assert_eq(sl_cache_writer_commit(w, NULL), 0);
	cr_assert_eq(cu_put(cache, "c", NULL, 0, "1", 1), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("old"), &o), SL_E_CACHE_MISS);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("a"), &o), 0);
	sl_cache_obj_release(o);
}

Test(cache_store_evict, open_file_cap)
{
	char key[32];
	sl_cache_obj *o;
	sl_cache_opts op = opts(1 << 24, 0);

	op.max_open = 3;
	open_store(op);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof key, "o%d", i);
		cr_assert_eq(cu_put(cache, key, fields2, 2, "body", 4), 0);
	}
	/* Only three keep a descriptor; the others are read again on a hit. */
	int fds = 0;
	char p[64];
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		char t[4096];
		ssize_t n = readlink(p, t, sizeof t - 1);
		if (n > 0) {
			t[n] = '\0';
			fds += strncmp(t, dir, strlen(dir)) == 0 && t[strlen(dir)] == '/';
		}
	}
	cr_assert_eq(fds, 3);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof key, "o%d", i);
		cr_assert_eq(sl_cache_lookup(cache, sl_slice_cstr(key), &o), 0);
		expect_obj(o, key, fields2, 2, "body", 4);
		sl_cache_obj_release(o);
	}
}

Test(cache_store_evict, memory_tier_budget)
{
	char key[32], b[4000];
	sl_cache_obj *o;
	sl_cache_stats st;

	open_store(opts(1 << 24, 20000));
	fill_body(b, sizeof b, 'M');
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof key, "m%d", i);
		cr_assert_eq(cu_put(cache, key, NULL, 0, b, sizeof b), 0);
		sl_cache_stats_get(cache, &st);
		cr_assert_leq(st.mem_bytes, 20000);
	}
	sl_cache_stats_get(cache, &st);
	cr_assert_geq(st.mem_objects, 3);
	cr_assert_leq(st.mem_objects, 4);
	/* The newest are in memory, the oldest are read from disk (into memory). */
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("m9"), &o), 0);
	cr_assert_not_null(o->body);
	sl_cache_obj_release(o);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("m0"), &o), 0);
	expect_obj(o, "m0", NULL, 0, b, sizeof b);
	sl_cache_obj_release(o);
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.mem_hits, 1);
	cr_assert_leq(st.mem_bytes, 20000);
}

/* ---- updates ---- */

static const sl_field fields304[] = {
	{SL_SLICE_LIT("Content-Type"), SL_SLICE_LIT("text/plain")},
	{SL_SLICE_LIT("ETag"), SL_SLICE_LIT("\"v1\"")},
	{SL_SLICE_LIT("Date"), SL_SLICE_LIT("Sun, 06 Nov 1994 08:49:37 GMT")},
};

static void check_update(uint64_t memory, bool grow)
{
	sl_cache_obj *o1, *o2, *o3;
	char p[4096];
	struct stat before, after;
	static char big_value[3000];
	sl_field grown[3];

	open_store(opts(1 << 24, memory));
	fill_body(body_big, 6000, 'U');
	cr_assert_eq(cu_put(cache, "u", fields2, 2, body_big, 6000), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("u"), &o1), 0);
	cu_path(dir, "u", p, sizeof p);
	cr_assert_eq(stat(p, &before), 0);

	const sl_field *nf = fields304;
	if (grow) {
		memset(big_value, 'g', sizeof big_value);
		memcpy(grown, fields304, sizeof grown);
		grown[2].value = sl_slice_make(big_value, sizeof big_value);
		nf = grown;
	}
	sl_cache_meta m = cu_meta(12345); /* body_len is ignored */
	m.status = 200;
	m.freshness_lifetime = 7200;
	cr_assert_eq(sl_cache_update(cache, o1, &m, nf, 3, &o2), 0);
	cr_assert_eq(o2->meta.freshness_lifetime, 7200);
	expect_obj(o2, "u", nf, 3, body_big, 6000);
	expect_obj(o1, "u", fields2, 2, body_big, 6000); /* the old one is unchanged */
	cr_assert_eq(stat(p, &after), 0);
	if (grow) {
		cr_assert_neq(before.st_ino, after.st_ino);
		cr_assert_gt(o2->body_off, o1->body_off);
	} else {
		cr_assert_eq(before.st_ino, after.st_ino);
		cr_assert_eq(before.st_size, after.st_size);
		cr_assert_eq(o2->body_off, o1->body_off);
	}
	/* o1 is no longer the stored object. */
	cr_assert_eq(sl_cache_update(cache, o1, &m, nf, 3, &o3), SL_E_CACHE_MISS);
	sl_cache_obj_release(o1);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("u"), &o3), 0);
	cr_assert_eq(o3, o2);
	sl_cache_obj_release(o3);
	/* From the file, and after a restart. */
	sl__store_uncache(cache, SL_SLICE_LIT("u"));
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("u"), &o3), 0);
	expect_obj(o3, "u", nf, 3, body_big, 6000);
	cr_assert_eq(o3->meta.freshness_lifetime, 7200);
	sl_cache_obj_release(o3);
	sl_cache_obj_release(o2);
	reopen(opts(1 << 24, memory));
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("u"), &o3), 0);
	expect_obj(o3, "u", nf, 3, body_big, 6000);
	sl_cache_obj_release(o3);
	cr_assert_eq(cu_count_files(dir, "tmp"), 0);
	cr_assert_eq(object_files(), 1);
	sl_cache_stats st;
	sl_cache_stats_get(cache, &st);
	cr_assert_eq(st.bytes, (uint64_t)after.st_size);
}

Test(cache_store_update, in_place) { check_update(0, false); }
Test(cache_store_update, in_place_memory_tier) { check_update(1 << 20, false); }
Test(cache_store_update, new_file_when_too_big) { check_update(0, true); }
Test(cache_store_update, new_file_memory_tier) { check_update(1 << 20, true); }

Test(cache_store_update, torn_write_detected)
{
	sl_cache_obj *o1, *o2;
	char p[4096], old[128];
	sl_cache_meta m = cu_meta(0);

	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_put(cache, "torn", fields2, 2, "payload", 7), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("torn"), &o1), 0);
	cu_path(dir, "torn", p, sizeof p);
	int fd = open(p, O_RDWR);
	cr_assert_eq(pread(fd, old, sizeof old, 0), (ssize_t)sizeof old);
	m.freshness_lifetime = 99;
	cr_assert_eq(sl_cache_update(cache, o1, &m, fields304, 3, &o2), 0);
	/* A crash after the first 64 bytes of the block reached the disk: the
	 * old fixed header with the new rest. */
	cr_assert_eq(pwrite(fd, old, 64, 0), 64);
	close(fd);
	sl_cache_obj_release(o1);
	sl_cache_obj_release(o2);
	sl__store_uncache(cache, SL_SLICE_LIT("torn"));
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("torn"), &o1), SL_E_CACHE_CORRUPT);
	cr_assert_not(exists("torn"));
}

Test(cache_store_update, after_remove_is_a_miss)
{
	sl_cache_obj *o1, *o2 = NULL;
	sl_cache_meta m = cu_meta(0);

	open_store(opts(1 << 24, 0));
	cr_assert_eq(cu_put(cache, "x", fields2, 2, "payload", 7), 0);
	cr_assert_eq(sl_cache_lookup(cache, SL_SLICE_LIT("x"), &o1), 0);
	cr_assert_eq(sl_cache_remove(cache, SL_SLICE_LIT("x")), 0);
	cr_assert_eq(sl_cache_update(cache, o1, &m, fields304, 3, &o2), SL_E_CACHE_MISS);
	cr_assert_null(o2);
	cr_assert_not(exists("x"));
	sl_cache_obj_release(o1);
}
