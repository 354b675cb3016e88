/*
 * libFuzzer target for the authenticator: the input is parsed as a
 * WWW-Authenticate value; every challenge must keep its slices inside the
 * input and its strings terminated; a usable Digest challenge must yield
 * credentials that fit the buffer exactly as reported; the input is then read
 * as Authentication-Info and split into Basic credentials.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/auth.h"

static char out[4096];

static int zero_rand(void *arg, unsigned char *buf, size_t n)
{
	(void)arg;
	memset(buf, 0x5a, n);
	return 0;
}

static void inside(sl_slice s, const char *p, size_t n)
{
	assert(s.n == 0 || (s.p >= p && s.p + s.n <= p + n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	sl_slice v = sl_slice_make(s, size);
	sl_field f = {SL_SLICE_LIT("X"), v};
	sl_auth_iter it;
	sl_auth_challenge c;
	sl_auth_digest_state st;
	sl_auth_cred cred = {SL_SLICE_LIT("user"), SL_SLICE_LIT("pw")};
	int r, k = 0;

	sl_auth_iter_value(&it, v);
	while ((r = sl_auth_next(&it, &c)) != 0 && k++ < 1000) {
		if (r < 0)
			continue;
		inside(c.scheme_name, s, size);
		inside(c.token68, s, size);
		inside(c.domain, s, size);
		assert(memchr(c.realm, 0, sizeof c.realm) && memchr(c.nonce, 0, sizeof c.nonce) &&
		       memchr(c.opaque, 0, sizeof c.opaque));
		if (sl_auth_digest_init(&st, &c, zero_rand, NULL) != 0)
			continue;
		int n = sl_auth_digest_respond(&st, &cred, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"),
					       out, sizeof out);
		assert(n > 0 && (size_t)n == strlen(out));
		sl_auth_digest_info(&st, &f, 1, "X", SL_SLICE_LIT("/"));
		sl_auth_digest_update(&st, &c);
		sl_auth_digest_clear(&st);
	}
	sl_auth_select(&f, 1, "X", &c);

	size_t half = size / 2;
	sl_auth_cred b = {sl_slice_make(s, half), sl_slice_make(s + half, size - half)};
	r = sl_auth_basic(&b, out, sizeof out);
	assert(r < 0 || (size_t)r == strlen(out));
	return 0;
}
