/*
 * libFuzzer target for the URL module: any input that parses must format,
 * re-parse and give the same cache key; the cache key must be a fixed point;
 * resolution of the input as a reference against a fixed base must not
 * overflow its buffer.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/url.h"

static char a[SL_URL_MAX_LEN + 1], b[SL_URL_MAX_LEN + 1], c[SL_URL_MAX_LEN + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	sl_url u, v, base;

	if (sl_url_parse(s, size, &u) == 0) {
		assert(u.scheme.p >= s && u.scheme.p + u.scheme.n <= s + size);
		int n = sl_url_format(&u, a, sizeof a);
		assert(n >= 0);
		assert(sl_url_parse(a, (size_t)n, &v) == 0);
		int k1 = sl_url_cache_key(&u, b, sizeof b);
		int k2 = sl_url_cache_key(&v, c, sizeof c);
		assert(k1 >= 0 && k1 == k2 && memcmp(b, c, (size_t)k1) == 0);
		assert(sl_url_parse(b, (size_t)k1, &v) == 0);
		int k3 = sl_url_cache_key(&v, c, sizeof c);
		assert(k3 == k1 && memcmp(b, c, (size_t)k1) == 0);
	}
	sl_url_parse_authority(s, size, &u);
	const char *bs = "http://a/b/c/d;p?q";
	if (sl_url_parse(bs, strlen(bs), &base) == 0)
		sl_url_parse_ref(&base, s, size, a, sizeof a, &u);
	return 0;
}
