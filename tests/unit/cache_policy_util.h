/*
 * Helpers shared by the cache policy tests (test_cache_policy.c and
 * test_cache_policy_cond.c): field literals, the two policy
 * configurations, HTTP-dates around a fixed time (the RFC 9110 example
 * date, never the clock), requests and metadata built in one call.
 */
#ifndef SL_TEST_CACHE_POLICY_UTIL_H
#define SL_TEST_CACHE_POLICY_UTIL_H

#include <criterion/criterion.h>

#include <string.h>

#include "cache/policy.h"
#include "core/err.h"

#define F(n, v) {sl_slice_cstr(n), sl_slice_cstr(v)}
#define NF(a) (sizeof(a) / sizeof((a)[0]))

/* 1994-11-06T08:49:37Z, the date of the RFC 9110 examples. */
#define T0 ((int64_t)784111777)

static const sl_cache_policy_conf shared_conf = {.shared = true, .heuristic_max = 86400};
static const sl_cache_policy_conf private_conf = {.shared = false, .heuristic_max = 86400};
#define SHARED (&shared_conf)
#define PRIVATE (&private_conf)

/* An IMF-fixdate for t, from a small pool of buffers. */
static inline const char *D(int64_t t)
{
	static char pool[16][SL_HTTP_DATE_BUFSZ];
	static unsigned k;
	char *b = pool[k++ % 16];
	cr_assert_eq(sl_http_date_format((time_t)t, b), 0);
	return b;
}

static inline sl_cache_req mkreq(enum sl_http_method m, const sl_field *f, size_t n)
{
	sl_cache_req r;
	sl_cache_req_init(&r, m, f, n);
	return r;
}

/* A plain GET without any field. */
static inline sl_cache_req get0(void)
{
	return mkreq(SL_METHOD_GET, NULL, 0);
}

/* Metadata of a response to a plain GET sent at rq and received at rs. */
static inline sl_cache_meta meta(const sl_cache_policy_conf *c, int status, const sl_field *f,
				 size_t n, int64_t rq, int64_t rs)
{
	sl_cache_meta m;
	sl_cache_req r = get0();
	sl_cache_meta_compute(c, &r, status, f, n, rq, rs, &m);
	return m;
}

#endif
