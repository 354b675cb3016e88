/*
 * libFuzzer target for the cache policy (src/cache/policy*.c). The input is
 * two header blocks, "Name: value" lines, a request's then (after an empty
 * line) a response's; the first two bytes pick the method and the status.
 * Every policy function runs over them, and the checks are the ones a
 * caller relies on: outputs stay within their bounds and point into the
 * inputs, ages are never negative, a single range lies inside the body,
 * the secondary key is a function of its inputs.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cache/policy.h"

#define MAXF 32

/* Splits "Name: value" lines of s[0..n) into f; stops at an empty line. */
static size_t fields(const char *s, size_t n, size_t *used, sl_field *f)
{
	size_t k = 0, i = 0;
	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - s) : n;
		size_t next = nl ? end + 1 : n;
		if (end == i) {
			i = next;
			break;
		}
		const char *colon = memchr(s + i, ':', end - i);
		if (colon && k < MAXF) {
			f[k].name = sl_slice_make(s + i, (size_t)(colon - (s + i)));
			f[k].value = sl_slice_trim_ows(
				sl_slice_make(colon + 1, end - (size_t)(colon + 1 - s)));
			k++;
		}
		i = next;
	}
	*used = i;
	return k;
}

static bool inside(sl_slice x, const char *p, size_t n)
{
	return x.n == 0 || (x.p >= p && x.p + x.n <= p + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum sl_http_method meths[] = {SL_METHOD_GET, SL_METHOD_HEAD, SL_METHOD_POST,
						    SL_METHOD_PUT, SL_METHOD_OTHER};
	static const int statuses[] = {200, 203, 204, 206, 301, 302, 304, 404, 410, 500, 299};
	sl_field q[MAXF], f[MAXF], out[2 * MAXF], v[2];
	static char keys[3][2048];
	char key1[512], key2[512];
	size_t used, used2;

	if (size < 2)
		return 0;
	enum sl_http_method m = meths[data[0] % 5];
	int status = statuses[data[1] % 11];
	bool shared = data[0] & 0x80;
	const char *s = (const char *)data + 2;
	size_t n = size - 2;
	size_t qn = fields(s, n, &used, q);
	size_t fn = fields(s + used, n - used, &used2, f);

	sl_cache_policy_conf conf = {.shared = shared, .heuristic_max = 86400};
	sl_cache_req r;
	sl_cache_meta meta;
	sl_cache_req_init(&r, m, q, qn);
	(void)sl_cache_store_verdict_name(sl_cache_storable(&conf, &r, status, f, fn));
	sl_cache_meta_compute(&conf, &r, status, f, fn, 1000000, 1000005, &meta);
	assert(meta.corrected_initial_age >= 0 && meta.freshness_lifetime >= 0);
	assert(sl_cache_current_age(&meta, 1000100) >= meta.corrected_initial_age);
	(void)sl_cache_use_name(sl_cache_use(&conf, &r, &meta, f, fn, 1000100));
	(void)sl_cache_stale_on_error(&r, &meta, 1000100);

	size_t nv = sl_cache_validators(f, fn, v);
	assert(nv <= 2);
	for (size_t i = 0; i < nv; i++)
		assert(inside(v[i].value, s, n));

	int k = sl_cache_store_fields(&conf, f, fn, out, sizeof out / sizeof out[0]);
	assert(k >= 0 && (size_t)k <= fn);
	k = sl_cache_update_fields(f, fn, q, qn, out, sizeof out / sizeof out[0]);
	assert(k >= 0 && (size_t)k <= fn + qn);
	for (int i = 0; i < k; i++)
		assert(inside(out[i].name, s, n) && inside(out[i].value, s, n));
	(void)sl_cache_304_selects(f, fn, q, qn);
	sl_cache_meta_refresh(&conf, &meta, f, fn, q, qn, 1000200, 1000201, &meta);
	assert(meta.corrected_initial_age >= 0);

	int a = sl_cache_vary_key(f, fn, q, qn, key1, sizeof key1);
	int b = sl_cache_vary_key(f, fn, q, qn, key2, sizeof key2);
	assert(a == b);
	if (a > 0)
		assert((size_t)a < sizeof key1 && key1[a] == '\0' && memcmp(key1, key2, (size_t)a) == 0);
	(void)sl_cache_vary_star(f, fn);
	(void)sl_cache_field_no_cache(f, fn, SL_SLICE_LIT("Set-Cookie"));

	size_t ni = sl_cache_invalidations(SL_METHOD_POST, 200, "http://a.example/b/c", f, fn,
					   keys, 3);
	assert(ni <= 3);
	for (size_t i = 0; i < ni; i++)
		assert(memchr(keys[i], '\0', sizeof keys[i]) != NULL);

	(void)sl_cache_client_cond(&r, f, fn);
	uint64_t first = 0, last = 0, len = (uint64_t)(size * 37);
	if (sl_cache_range(&r, f, fn, len, &first, &last) == SL_CACHE_RANGE_SINGLE)
		assert(first <= last && last < len);
	return 0;
}
