/*
 * Unit tests of the cache policy (src/cache/policy.c), first half: the
 * request as the cache sees it, storing (RFC 9111 section 3), freshness
 * (4.2.1, 4.2.2), age (4.2.3), the metadata flags, reuse with every request
 * and response directive (4, 4.2.4, 5.2) and stale-while-revalidate and
 * stale-if-error (RFC 5861). test_cache_policy_cond.c holds the rest. Every
 * suite is named cache_policy_*; each test names the section it checks.
 */
#include "cache_policy_util.h"

static enum sl_cache_store_verdict storable(const sl_cache_policy_conf *c, int status,
					    const sl_field *f, size_t n)
{
	sl_cache_req r = get0();
	return sl_cache_storable(c, &r, status, f, n);
}

/* ================================================================== */
/* sl_cache_req_init                                                  */
/* ================================================================== */

Test(cache_policy_req, parses_cache_control_once)
{
	/* RFC 9111 section 5.2.1: request directives */
	sl_field f[] = {F("Cache-Control", "max-age=5, max-stale"), F("Host", "a")};
	sl_cache_req r = mkreq(SL_METHOD_GET, f, NF(f));
	cr_assert_eq(r.meth, SL_METHOD_GET);
	cr_assert_eq(r.cc.max_age, 5);
	cr_assert_eq(r.cc.max_stale, SL_DELTA_MAX);
	cr_assert_eq(r.fields, f);
	cr_assert_eq(r.nfields, 2);
	cr_assert_not(r.authorization);
	cr_assert_not(r.conditional);
	cr_assert_not(r.if_match);
	cr_assert_not(r.range);
}

Test(cache_policy_req, pragma_no_cache)
{
	/* RFC 9111 section 5.4: Pragma: no-cache without Cache-Control */
	sl_field f[] = {F("Pragma", "no-cache")};
	sl_cache_req r = mkreq(SL_METHOD_GET, f, NF(f));
	cr_assert(r.cc.no_cache);
	cr_assert(r.cc.pragma_no_cache);
}

Test(cache_policy_req, flags_from_field_names)
{
	/* RFC 9111 section 3.5 (Authorization), 4.3.2 (conditionals) */
	sl_field f[] = {F("authorization", "Basic x"), F("IF-NONE-MATCH", "\"a\""),
			F("range", "bytes=0-1")};
	sl_cache_req r = mkreq(SL_METHOD_GET, f, NF(f));
	cr_assert(r.authorization);
	cr_assert(r.conditional);
	cr_assert(r.range);
	cr_assert_not(r.if_match);
}

Test(cache_policy_req, if_modified_since_is_conditional)
{
	/* RFC 9110 section 13.1.3 */
	sl_field f[] = {F("If-Modified-Since", D(T0))};
	sl_cache_req r = mkreq(SL_METHOD_GET, f, NF(f));
	cr_assert(r.conditional);
}

Test(cache_policy_req, if_match_and_unmodified_since_not_if_range)
{
	/* RFC 9111 section 4.3.2: If-Match and If-Unmodified-Since are not for caches */
	sl_field a[] = {F("If-Match", "\"x\"")};
	sl_field b[] = {F("If-Unmodified-Since", D(T0))};
	sl_field c[] = {F("If-Range", "\"x\""), F("Range", "bytes=0-0")};
	cr_assert(mkreq(SL_METHOD_GET, a, 1).if_match);
	cr_assert(mkreq(SL_METHOD_GET, b, 1).if_match);
	cr_assert_not(mkreq(SL_METHOD_GET, c, 2).if_match);
	cr_assert_not(mkreq(SL_METHOD_GET, c, 2).conditional);
}

/* ================================================================== */
/* Storing (RFC 9111 section 3)                                       */
/* ================================================================== */

Test(cache_policy_store, get_and_head_understood)
{
	/* RFC 9111 section 3: the request method is understood */
	sl_field f[] = {F("Cache-Control", "max-age=60")};
	sl_cache_req g = get0(), h = mkreq(SL_METHOD_HEAD, NULL, 0);
	cr_assert_eq(sl_cache_storable(SHARED, &g, 200, f, 1), SL_CACHE_STORE);
	cr_assert_eq(sl_cache_storable(SHARED, &h, 200, f, 1), SL_CACHE_STORE);
}

Test(cache_policy_store, other_methods_refused)
{
	/* RFC 9111 section 3: only GET and HEAD are cached here */
	sl_field f[] = {F("Cache-Control", "max-age=60")};
	enum sl_http_method ms[] = {SL_METHOD_POST, SL_METHOD_PUT, SL_METHOD_DELETE,
				    SL_METHOD_OPTIONS, SL_METHOD_OTHER, SL_METHOD_PATCH};
	for (size_t i = 0; i < NF(ms); i++) {
		sl_cache_req r = mkreq(ms[i], NULL, 0);
		cr_assert_eq(sl_cache_storable(SHARED, &r, 200, f, 1), SL_CACHE_NOSTORE_METHOD);
	}
}

Test(cache_policy_store, non_final_status_refused)
{
	/* RFC 9111 section 3: the status code is final */
	sl_field f[] = {F("Cache-Control", "max-age=60")};
	cr_assert_eq(storable(SHARED, 100, f, 1), SL_CACHE_NOSTORE_STATUS);
	cr_assert_eq(storable(SHARED, 103, f, 1), SL_CACHE_NOSTORE_STATUS);
}

Test(cache_policy_store, partial_and_not_modified_refused)
{
	/* RFC 9111 section 3: 206 and 304 are not stored by this cache */
	sl_field f[] = {F("Cache-Control", "max-age=60"), F("ETag", "\"a\"")};
	cr_assert_eq(storable(SHARED, 206, f, 2), SL_CACHE_NOSTORE_STATUS);
	cr_assert_eq(storable(SHARED, 304, f, 2), SL_CACHE_NOSTORE_STATUS);
}

Test(cache_policy_store, unknown_status_refused)
{
	/* RFC 9111 section 3: a status the cache does not understand */
	sl_field f[] = {F("Cache-Control", "max-age=60")};
	cr_assert_eq(storable(SHARED, 299, f, 1), SL_CACHE_NOSTORE_STATUS);
	cr_assert_eq(storable(SHARED, 599, f, 1), SL_CACHE_NOSTORE_STATUS);
	cr_assert_eq(storable(SHARED, 600, f, 1), SL_CACHE_NOSTORE_STATUS);
}

Test(cache_policy_store, explicit_freshness_any_understood_status)
{
	/* RFC 9111 section 3: max-age makes a 302 or 500 storable */
	sl_field f[] = {F("Cache-Control", "max-age=60")};
	int st[] = {201, 302, 303, 307, 403, 429, 500, 503};
	for (size_t i = 0; i < NF(st); i++)
		cr_assert_eq(storable(SHARED, st[i], f, 1), SL_CACHE_STORE, "status %d", st[i]);
}

Test(cache_policy_store, must_understand_unknown_status)
{
	/* RFC 9111 section 5.2.2.3 */
	sl_field f[] = {F("Cache-Control", "must-understand, no-store, max-age=60")};
	cr_assert_eq(storable(SHARED, 299, f, 1), SL_CACHE_NOSTORE_MUST_UNDERSTAND);
}

Test(cache_policy_store, must_understand_overrides_no_store)
{
	/* RFC 9111 section 5.2.2.3: no-store ignored with an understood status */
	sl_field f[] = {F("Cache-Control", "must-understand, no-store, max-age=60")};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_STORE);
}

Test(cache_policy_store, request_no_store)
{
	/* RFC 9111 section 5.2.1.5 */
	sl_field q[] = {F("Cache-Control", "no-store")};
	sl_field f[] = {F("Cache-Control", "max-age=60")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, 1);
	cr_assert_eq(sl_cache_storable(SHARED, &r, 200, f, 1), SL_CACHE_NOSTORE_REQUEST);
}

Test(cache_policy_store, response_no_store)
{
	/* RFC 9111 section 5.2.2.5 */
	sl_field f[] = {F("Cache-Control", "max-age=60, no-store")};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_NOSTORE_NO_STORE);
	cr_assert_eq(storable(PRIVATE, 200, f, 1), SL_CACHE_NOSTORE_NO_STORE);
}

Test(cache_policy_store, private_in_shared_cache)
{
	/* RFC 9111 section 5.2.2.7: unqualified private */
	sl_field f[] = {F("Cache-Control", "private, max-age=60")};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_NOSTORE_PRIVATE);
}

Test(cache_policy_store, private_in_private_cache)
{
	/* RFC 9111 section 3: private lets a private cache store, even without freshness */
	sl_field f[] = {F("Cache-Control", "private"), F("ETag", "\"a\"")};
	cr_assert_eq(storable(PRIVATE, 302, f, 2), SL_CACHE_STORE);
}

Test(cache_policy_store, private_with_fields_stored)
{
	/* RFC 9111 section 5.2.2.7: private="field" stores without that field */
	sl_field f[] = {F("Cache-Control", "private=\"Set-Cookie\", max-age=60")};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_STORE);
}

Test(cache_policy_store, authorization_refused_by_default)
{
	/* RFC 9111 section 3.5 */
	sl_field q[] = {F("Authorization", "Basic eDp5")};
	sl_field f[] = {F("Cache-Control", "max-age=60")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, 1);
	cr_assert_eq(sl_cache_storable(SHARED, &r, 200, f, 1), SL_CACHE_NOSTORE_AUTHORIZATION);
}

Test(cache_policy_store, authorization_allowed_by_directives)
{
	/* RFC 9111 section 3.5: public, s-maxage or must-revalidate */
	sl_field q[] = {F("Authorization", "Basic eDp5")};
	const char *cc[] = {"public, max-age=60", "s-maxage=60", "must-revalidate, max-age=60"};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, 1);
	for (size_t i = 0; i < NF(cc); i++) {
		sl_field f[] = {F("Cache-Control", cc[i])};
		cr_assert_eq(sl_cache_storable(SHARED, &r, 200, f, 1), SL_CACHE_STORE, "%s", cc[i]);
	}
}

Test(cache_policy_store, authorization_in_private_cache)
{
	/* RFC 9111 section 3.5 applies to shared caches only */
	sl_field q[] = {F("Authorization", "Basic eDp5")};
	sl_field f[] = {F("Cache-Control", "max-age=60")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, 1);
	cr_assert_eq(sl_cache_storable(PRIVATE, &r, 200, f, 1), SL_CACHE_STORE);
}

Test(cache_policy_store, vary_star)
{
	/* RFC 9111 section 4.1: Vary "*" always fails to match */
	sl_field a[] = {F("Cache-Control", "max-age=60"), F("Vary", "*")};
	sl_field b[] = {F("Cache-Control", "max-age=60"), F("Vary", "Accept"), F("Vary", "*")};
	sl_field c[] = {F("Cache-Control", "max-age=60"), F("Vary", "Accept, Cookie")};
	cr_assert_eq(storable(SHARED, 200, a, NF(a)), SL_CACHE_NOSTORE_VARY_STAR);
	cr_assert_eq(storable(SHARED, 200, b, NF(b)), SL_CACHE_NOSTORE_VARY_STAR);
	cr_assert_eq(storable(SHARED, 200, c, NF(c)), SL_CACHE_STORE);
}

Test(cache_policy_store, heuristic_statuses)
{
	/* RFC 9110 section 15.1: heuristically cacheable status codes */
	int st[] = {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501};
	sl_field f[] = {F("Date", D(T0)), F("Last-Modified", D(T0 - 86400))};
	for (size_t i = 0; i < NF(st); i++)
		cr_assert_eq(storable(SHARED, st[i], f, NF(f)), SL_CACHE_STORE, "status %d", st[i]);
}

Test(cache_policy_store, other_statuses_need_explicit_freshness)
{
	/* RFC 9111 section 3: no explicit freshness, no public, not heuristic */
	int st[] = {201, 202, 302, 303, 307, 400, 403, 500, 502, 503};
	sl_field f[] = {F("Date", D(T0)), F("Last-Modified", D(T0 - 86400))};
	for (size_t i = 0; i < NF(st); i++)
		cr_assert_eq(storable(SHARED, st[i], f, NF(f)), SL_CACHE_NOSTORE_NOT_CACHEABLE,
			     "status %d", st[i]);
}

Test(cache_policy_store, public_makes_cacheable)
{
	/* RFC 9111 section 5.2.2.9 */
	sl_field f[] = {F("Cache-Control", "public"), F("ETag", "\"v1\"")};
	cr_assert_eq(storable(SHARED, 302, f, NF(f)), SL_CACHE_STORE);
}

Test(cache_policy_store, expires_makes_cacheable)
{
	/* RFC 9111 section 3: an Expires field is explicit freshness */
	sl_field f[] = {F("Date", D(T0)), F("Expires", D(T0 + 60))};
	cr_assert_eq(storable(SHARED, 302, f, NF(f)), SL_CACHE_STORE);
}

Test(cache_policy_store, s_maxage_only_counts_in_shared_cache)
{
	/* RFC 9111 section 5.2.2.10 */
	sl_field f[] = {F("Cache-Control", "s-maxage=60")};
	cr_assert_eq(storable(SHARED, 302, f, 1), SL_CACHE_STORE);
	cr_assert_eq(storable(PRIVATE, 302, f, 1), SL_CACHE_NOSTORE_NOT_CACHEABLE);
}

Test(cache_policy_store, nothing_at_all_is_useless)
{
	/* RFC 9111 section 3: a 200 without freshness or validator is stale at once */
	sl_field f[] = {F("Content-Type", "text/plain")};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_NOSTORE_USELESS);
}

Test(cache_policy_store, max_age_zero_without_validator_useless)
{
	/* RFC 9111 sections 3 and 4.2: stale on arrival, nothing to validate */
	sl_field f[] = {F("Cache-Control", "max-age=0")};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_NOSTORE_USELESS);
}

Test(cache_policy_store, max_age_zero_with_validator_stored)
{
	/* RFC 9111 section 4.3: a stale response with a validator can be validated */
	sl_field a[] = {F("Cache-Control", "max-age=0"), F("ETag", "\"a\"")};
	sl_field b[] = {F("Cache-Control", "max-age=0"), F("Last-Modified", D(T0))};
	cr_assert_eq(storable(SHARED, 200, a, 2), SL_CACHE_STORE);
	cr_assert_eq(storable(SHARED, 200, b, 2), SL_CACHE_STORE);
}

Test(cache_policy_store, no_cache_with_validator_stored)
{
	/* RFC 9111 section 5.2.2.4: no-cache responses are stored, always revalidated */
	sl_field f[] = {F("Cache-Control", "no-cache"), F("ETag", "\"a\"")};
	cr_assert_eq(storable(SHARED, 200, f, 2), SL_CACHE_STORE);
}

Test(cache_policy_store, no_cache_without_validator_useless)
{
	/* RFC 9111 section 5.2.2.4: every reuse validates, nothing to validate with */
	sl_field f[] = {F("Cache-Control", "no-cache, max-age=600")};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_NOSTORE_USELESS);
}

Test(cache_policy_store, no_cache_fields_not_useless)
{
	/* RFC 9111 section 5.2.2.4: qualified no-cache still allows reuse */
	sl_field f[] = {F("Cache-Control", "no-cache=\"Set-Cookie\", max-age=600")};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_STORE);
}

Test(cache_policy_store, age_beyond_lifetime_useless)
{
	/* RFC 9111 section 4.2.3: the Age field already exceeds max-age */
	sl_field f[] = {F("Cache-Control", "max-age=60"), F("Age", "100")};
	sl_field g[] = {F("Cache-Control", "max-age=600"), F("Age", "100")};
	cr_assert_eq(storable(SHARED, 200, f, 2), SL_CACHE_NOSTORE_USELESS);
	cr_assert_eq(storable(SHARED, 200, g, 2), SL_CACHE_STORE);
}

Test(cache_policy_store, stale_windows_keep_it)
{
	/* RFC 5861 sections 3 and 4: a stale response may still be served */
	sl_field a[] = {F("Cache-Control", "max-age=0, stale-while-revalidate=60")};
	sl_field b[] = {F("Cache-Control", "max-age=0, stale-if-error=60")};
	cr_assert_eq(storable(SHARED, 200, a, 1), SL_CACHE_STORE);
	cr_assert_eq(storable(SHARED, 200, b, 1), SL_CACHE_STORE);
}

Test(cache_policy_store, stale_windows_void_with_must_revalidate)
{
	/* RFC 9111 section 4.2.4: must-revalidate forbids serving stale */
	sl_field f[] = {F("Cache-Control", "max-age=0, stale-if-error=60, must-revalidate")};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_NOSTORE_USELESS);
}

Test(cache_policy_store, invalid_expires_useless)
{
	/* RFC 9111 section 5.3: an invalid Expires ("0") means already expired */
	sl_field f[] = {F("Date", D(T0)), F("Expires", "0")};
	cr_assert_eq(storable(SHARED, 200, f, 2), SL_CACHE_NOSTORE_USELESS);
}

Test(cache_policy_store, past_expires_useless)
{
	/* RFC 9111 section 4.2.1: Expires before Date */
	sl_field f[] = {F("Date", D(T0)), F("Expires", D(T0 - 10))};
	cr_assert_eq(storable(SHARED, 200, f, 2), SL_CACHE_NOSTORE_USELESS);
}

Test(cache_policy_store, expires_without_date_judged_later)
{
	/* RFC 9111 section 4.2.1: Date missing, receipt time unknown here */
	sl_field f[] = {F("Expires", D(T0 + 60))};
	cr_assert_eq(storable(SHARED, 200, f, 1), SL_CACHE_STORE);
}

Test(cache_policy_store, verdict_names)
{
	cr_assert_str_eq(sl_cache_store_verdict_name(SL_CACHE_STORE), "store");
	cr_assert_str_eq(sl_cache_store_verdict_name(SL_CACHE_NOSTORE_NO_STORE), "no-store");
	cr_assert_str_eq(sl_cache_store_verdict_name(SL_CACHE_NOSTORE_PRIVATE), "private");
	cr_assert_str_eq(sl_cache_store_verdict_name(SL_CACHE_NOSTORE_VARY_STAR), "vary-star");
	cr_assert_str_eq(sl_cache_store_verdict_name(SL_CACHE_NOSTORE_MUST_UNDERSTAND),
			 "must-understand");
	cr_assert_str_eq(sl_cache_store_verdict_name((enum sl_cache_store_verdict)99), "unknown");
}

/* ================================================================== */
/* Freshness lifetime (RFC 9111 sections 4.2.1 and 4.2.2)             */
/* ================================================================== */

Test(cache_policy_fresh, s_maxage_beats_max_age_in_shared_cache)
{
	/* RFC 9111 section 4.2.1: s-maxage first in a shared cache */
	sl_field f[] = {F("Cache-Control", "max-age=100, s-maxage=50"), F("Date", D(T0))};
	cr_assert_eq(meta(SHARED, 200, f, 2, T0, T0).freshness_lifetime, 50);
}

Test(cache_policy_fresh, s_maxage_ignored_in_private_cache)
{
	/* RFC 9111 section 5.2.2.10 */
	sl_field f[] = {F("Cache-Control", "max-age=100, s-maxage=50"), F("Date", D(T0))};
	cr_assert_eq(meta(PRIVATE, 200, f, 2, T0, T0).freshness_lifetime, 100);
}

Test(cache_policy_fresh, max_age_beats_expires)
{
	/* RFC 9111 section 5.3: max-age makes Expires ignored */
	sl_field f[] = {F("Date", D(T0)), F("Expires", D(T0 + 1000)),
			F("Cache-Control", "max-age=10")};
	cr_assert_eq(meta(SHARED, 200, f, NF(f), T0, T0).freshness_lifetime, 10);
}

Test(cache_policy_fresh, s_maxage_beats_expires)
{
	/* RFC 9111 section 4.2.1 */
	sl_field f[] = {F("Date", D(T0)), F("Expires", D(T0 + 1000)),
			F("Cache-Control", "s-maxage=20")};
	cr_assert_eq(meta(SHARED, 200, f, NF(f), T0, T0).freshness_lifetime, 20);
}

Test(cache_policy_fresh, expires_minus_date)
{
	/* RFC 9111 section 4.2.1: expires_value - date_value */
	sl_field f[] = {F("Date", D(T0)), F("Expires", D(T0 + 3600))};
	sl_cache_meta m = meta(SHARED, 200, f, 2, T0 + 100, T0 + 105);
	cr_assert_eq(m.freshness_lifetime, 3600);
	cr_assert_not(m.flags & SL_CACHE_F_HEURISTIC);
}

Test(cache_policy_fresh, invalid_expires_is_stale)
{
	/* RFC 9111 section 5.3: invalid dates, "0" in particular, are in the past */
	sl_field f[] = {F("Date", D(T0)), F("Expires", "0"), F("Last-Modified", D(T0 - 86400))};
	sl_cache_meta m = meta(SHARED, 200, f, NF(f), T0, T0);
	cr_assert_eq(m.freshness_lifetime, 0);
	cr_assert_not(m.flags & SL_CACHE_F_HEURISTIC, "Expires is explicit, no heuristic");
}

Test(cache_policy_fresh, expires_before_date)
{
	/* RFC 9111 section 4.2.1: a lifetime is never negative */
	sl_field f[] = {F("Date", D(T0)), F("Expires", D(T0 - 3600))};
	cr_assert_eq(meta(SHARED, 200, f, 2, T0, T0).freshness_lifetime, 0);
}

Test(cache_policy_fresh, expires_without_date_uses_receipt)
{
	/* RFC 9110 section 6.6.1: no Date, the time of receipt stands for it */
	sl_field f[] = {F("Expires", D(T0 + 3600))};
	cr_assert_eq(meta(SHARED, 200, f, 1, T0 + 50, T0 + 100).freshness_lifetime, 3500);
}

Test(cache_policy_fresh, invalid_date_uses_receipt)
{
	/* RFC 9111 section 4.2.3: an invalid Date is treated as missing */
	sl_field f[] = {F("Date", "yesterday"), F("Expires", D(T0 + 3600))};
	cr_assert_eq(meta(SHARED, 200, f, 2, T0, T0 + 600).freshness_lifetime, 3000);
}

Test(cache_policy_fresh, first_expires_counts)
{
	/* RFC 9111 section 4.2.1: with several values, the first one */
	sl_field f[] = {F("Date", D(T0)), F("Expires", D(T0 + 100)), F("Expires", D(T0 + 900))};
	cr_assert_eq(meta(SHARED, 200, f, NF(f), T0, T0).freshness_lifetime, 100);
}

Test(cache_policy_fresh, smallest_max_age_counts)
{
	/* RFC 9111 section 4.2.1: conflicting max-age, the most restrictive */
	sl_field f[] = {F("Cache-Control", "max-age=300"), F("Cache-Control", "max-age=30")};
	cr_assert_eq(meta(SHARED, 200, f, 2, T0, T0).freshness_lifetime, 30);
}

Test(cache_policy_fresh, malformed_max_age_is_stale)
{
	/* RFC 9111 section 4.2.1: invalid freshness information may mean stale */
	sl_field f[] = {F("Cache-Control", "max-age=soon")};
	cr_assert_eq(meta(SHARED, 200, f, 1, T0, T0).freshness_lifetime, 0);
}

Test(cache_policy_fresh, heuristic_tenth_of_last_modified)
{
	/* RFC 9111 section 4.2.2: 10 % of the time since Last-Modified */
	sl_field f[] = {F("Date", D(T0)), F("Last-Modified", D(T0 - 100000))};
	sl_cache_meta m = meta(SHARED, 200, f, 2, T0, T0);
	cr_assert_eq(m.freshness_lifetime, 10000);
	cr_assert(m.flags & SL_CACHE_F_HEURISTIC);
}

Test(cache_policy_fresh, heuristic_capped)
{
	/* RFC 9111 section 4.2.2 with cache.heuristic_max */
	sl_field f[] = {F("Date", D(T0)), F("Last-Modified", D(T0 - 365 * 86400))};
	sl_cache_policy_conf c = {.shared = true, .heuristic_max = 3600};
	cr_assert_eq(meta(&c, 200, f, 2, T0, T0).freshness_lifetime, 3600);
}

Test(cache_policy_fresh, heuristic_disabled_by_zero_cap)
{
	/* RFC 9111 section 4.2.2: heuristics are a MAY */
	sl_field f[] = {F("Date", D(T0)), F("Last-Modified", D(T0 - 100000))};
	sl_cache_policy_conf c = {.shared = true, .heuristic_max = 0};
	cr_assert_eq(meta(&c, 200, f, 2, T0, T0).freshness_lifetime, 0);
}

Test(cache_policy_fresh, heuristic_without_last_modified)
{
	/* RFC 9111 section 4.2.2: nothing to base the estimate on */
	sl_field f[] = {F("Date", D(T0))};
	sl_cache_meta m = meta(SHARED, 200, f, 1, T0, T0);
	cr_assert_eq(m.freshness_lifetime, 0);
	cr_assert(m.flags & SL_CACHE_F_HEURISTIC);
}

Test(cache_policy_fresh, heuristic_only_for_heuristic_statuses)
{
	/* RFC 9111 section 4.2.2 and RFC 9110 section 15.1 */
	sl_field f[] = {F("Date", D(T0)), F("Last-Modified", D(T0 - 100000)),
			F("Cache-Control", "public")};
	sl_cache_meta m = meta(SHARED, 302, f, NF(f), T0, T0);
	cr_assert_eq(m.freshness_lifetime, 0);
	cr_assert_not(m.flags & SL_CACHE_F_HEURISTIC);
	m = meta(SHARED, 404, f, NF(f), T0, T0);
	cr_assert_eq(m.freshness_lifetime, 10000);
}

Test(cache_policy_fresh, no_heuristic_with_explicit_freshness)
{
	/* RFC 9111 section 4.2.2: MUST NOT use heuristics with an explicit time */
	sl_field f[] = {F("Date", D(T0)), F("Last-Modified", D(T0 - 100000)),
			F("Cache-Control", "max-age=0")};
	sl_cache_meta m = meta(SHARED, 200, f, NF(f), T0, T0);
	cr_assert_eq(m.freshness_lifetime, 0);
	cr_assert_not(m.flags & SL_CACHE_F_HEURISTIC);
}

Test(cache_policy_fresh, heuristic_last_modified_in_future)
{
	/* RFC 9111 section 4.2.2: a Last-Modified after Date gives nothing */
	sl_field f[] = {F("Date", D(T0)), F("Last-Modified", D(T0 + 5000))};
	cr_assert_eq(meta(SHARED, 200, f, 2, T0, T0).freshness_lifetime, 0);
}

Test(cache_policy_fresh, is_fresh_boundary)
{
	/* RFC 9111 section 4.2: fresh while freshness_lifetime > current_age */
	sl_field f[] = {F("Cache-Control", "max-age=60"), F("Date", D(T0))};
	sl_cache_meta m = meta(SHARED, 200, f, 2, T0, T0);
	cr_assert(sl_cache_is_fresh(&m, T0));
	cr_assert(sl_cache_is_fresh(&m, T0 + 59));
	cr_assert_not(sl_cache_is_fresh(&m, T0 + 60));
	cr_assert_not(sl_cache_is_fresh(&m, T0 + 1000));
}

/* ================================================================== */
/* Age (RFC 9111 section 4.2.3)                                       */
/* ================================================================== */

Test(cache_policy_age, response_delay_only)
{
	/* RFC 9111 section 4.2.3: corrected_age_value = age_value + response_delay */
	sl_field f[] = {F("Date", D(T0 + 10))};
	sl_cache_meta m = meta(SHARED, 200, f, 1, T0, T0 + 10);
	cr_assert_eq(m.corrected_initial_age, 10);
	cr_assert_eq(m.request_time, T0);
	cr_assert_eq(m.response_time, T0 + 10);
}

Test(cache_policy_age, apparent_age)
{
	/* RFC 9111 section 4.2.3: apparent_age = max(0, response_time - date_value) */
	sl_field f[] = {F("Date", D(T0))};
	sl_cache_meta m = meta(SHARED, 200, f, 1, T0 + 99, T0 + 100);
	cr_assert_eq(m.corrected_initial_age, 100);
}

Test(cache_policy_age, date_in_future_gives_zero_apparent_age)
{
	/* RFC 9111 section 4.2.3: apparent_age never negative */
	sl_field f[] = {F("Date", D(T0 + 500))};
	sl_cache_meta m = meta(SHARED, 200, f, 1, T0, T0 + 2);
	cr_assert_eq(m.corrected_initial_age, 2);
}

Test(cache_policy_age, age_field_plus_delay)
{
	/* RFC 9111 section 4.2.3: Age from an upstream cache */
	sl_field f[] = {F("Date", D(T0)), F("Age", "300")};
	sl_cache_meta m = meta(SHARED, 200, f, 2, T0, T0 + 5);
	cr_assert_eq(m.corrected_initial_age, 305);
}

Test(cache_policy_age, max_of_apparent_and_corrected)
{
	/* RFC 9111 section 4.2.3: corrected_initial_age = max(apparent, corrected) */
	sl_field f[] = {F("Date", D(T0 - 1000)), F("Age", "30")};
	sl_cache_meta m = meta(SHARED, 200, f, 2, T0 - 2, T0);
	cr_assert_eq(m.corrected_initial_age, 1000);
}

Test(cache_policy_age, invalid_age_ignored)
{
	/* RFC 9111 section 5.1: Age is delta-seconds */
	sl_field f[] = {F("Date", D(T0)), F("Age", "-5"), F("Age", "abc")};
	sl_cache_meta m = meta(SHARED, 200, f, NF(f), T0, T0);
	cr_assert_eq(m.corrected_initial_age, 0);
}

Test(cache_policy_age, first_valid_age_counts)
{
	/* RFC 9111 section 5.1: several Age fields, the first valid one */
	sl_field f[] = {F("Age", "x"), F("Age", "40"), F("Age", "90")};
	sl_cache_meta m = meta(SHARED, 200, f, NF(f), T0, T0);
	cr_assert_eq(m.corrected_initial_age, 40);
}

Test(cache_policy_age, current_age_adds_resident_time)
{
	/* RFC 9111 section 4.2.3: current_age = corrected_initial_age + resident_time */
	sl_field f[] = {F("Date", D(T0)), F("Age", "60")};
	sl_cache_meta m = meta(SHARED, 200, f, 2, T0, T0);
	cr_assert_eq(sl_cache_current_age(&m, T0), 60);
	cr_assert_eq(sl_cache_current_age(&m, T0 + 40), 100);
}

Test(cache_policy_age, current_age_with_clock_going_back)
{
	/* RFC 9111 section 4.2.3: resident_time is never negative */
	sl_field f[] = {F("Age", "7")};
	sl_cache_meta m = meta(SHARED, 200, f, 1, T0, T0);
	cr_assert_eq(sl_cache_current_age(&m, T0 - 100), 7);
}

Test(cache_policy_age, request_after_response_time)
{
	/* RFC 9111 section 4.2.3: a negative response_delay counts as 0 */
	sl_field f[] = {F("Age", "3")};
	sl_cache_meta m = meta(SHARED, 200, f, 1, T0 + 10, T0);
	cr_assert_eq(m.corrected_initial_age, 3);
}

Test(cache_policy_age, rfc_example_freshness)
{
	/* RFC 9111 sections 4.2.1 and 4.2.3 together: max-age=600, Age 100, 10 s delay */
	sl_field f[] = {F("Date", D(T0 - 5)), F("Age", "100"), F("Cache-Control", "max-age=600")};
	sl_cache_meta m = meta(SHARED, 200, f, NF(f), T0 - 10, T0);
	cr_assert_eq(m.corrected_initial_age, 110);
	cr_assert(sl_cache_is_fresh(&m, T0 + 489));
	cr_assert_not(sl_cache_is_fresh(&m, T0 + 490));
}

/* ================================================================== */
/* Metadata flags                                                     */
/* ================================================================== */

Test(cache_policy_flags, validators)
{
	/* RFC 9110 sections 8.8.2 and 8.8.3: the validators of a stored response */
	sl_field a[] = {F("ETag", "\"x\""), F("Last-Modified", D(T0))};
	sl_field b[] = {F("Last-Modified", "not a date")};
	sl_cache_meta m = meta(SHARED, 200, a, 2, T0, T0);
	cr_assert(m.flags & SL_CACHE_F_ETAG);
	cr_assert(m.flags & SL_CACHE_F_LAST_MODIFIED);
	m = meta(SHARED, 200, b, 1, T0, T0);
	cr_assert_not(m.flags & (SL_CACHE_F_ETAG | SL_CACHE_F_LAST_MODIFIED));
}

Test(cache_policy_flags, no_cache_qualified_or_not)
{
	/* RFC 9111 section 5.2.2.4 */
	sl_field a[] = {F("Cache-Control", "no-cache")};
	sl_field b[] = {F("Cache-Control", "no-cache=\"Set-Cookie\"")};
	sl_cache_meta m = meta(SHARED, 200, a, 1, T0, T0);
	cr_assert(m.flags & SL_CACHE_F_NO_CACHE);
	cr_assert_not(m.flags & SL_CACHE_F_NO_CACHE_FIELDS);
	m = meta(SHARED, 200, b, 1, T0, T0);
	cr_assert_not(m.flags & SL_CACHE_F_NO_CACHE);
	cr_assert(m.flags & SL_CACHE_F_NO_CACHE_FIELDS);
}

Test(cache_policy_flags, must_revalidate_sources)
{
	/* RFC 9111 sections 5.2.2.2, 5.2.2.8 and 5.2.2.10 */
	const char *cc[] = {"must-revalidate", "proxy-revalidate", "s-maxage=5"};
	for (size_t i = 0; i < NF(cc); i++) {
		sl_field f[] = {F("Cache-Control", cc[i])};
		cr_assert(meta(SHARED, 200, f, 1, T0, T0).flags & SL_CACHE_F_MUST_REVALIDATE, "%s",
			  cc[i]);
	}
}

Test(cache_policy_flags, proxy_revalidate_not_for_private_cache)
{
	/* RFC 9111 section 5.2.2.8: proxy-revalidate and s-maxage bind shared caches */
	sl_field a[] = {F("Cache-Control", "proxy-revalidate")};
	sl_field b[] = {F("Cache-Control", "s-maxage=5")};
	sl_field c[] = {F("Cache-Control", "must-revalidate")};
	cr_assert_not(meta(PRIVATE, 200, a, 1, T0, T0).flags & SL_CACHE_F_MUST_REVALIDATE);
	cr_assert_not(meta(PRIVATE, 200, b, 1, T0, T0).flags & SL_CACHE_F_MUST_REVALIDATE);
	cr_assert(meta(PRIVATE, 200, c, 1, T0, T0).flags & SL_CACHE_F_MUST_REVALIDATE);
}

Test(cache_policy_flags, vary_immutable)
{
	/* RFC 9111 section 4.1 (Vary), RFC 8246 (immutable) */
	sl_field f[] = {F("Vary", "Accept-Encoding"), F("Cache-Control", "immutable, max-age=9")};
	sl_cache_meta m = meta(SHARED, 200, f, 2, T0, T0);
	cr_assert(m.flags & SL_CACHE_F_VARY);
	cr_assert(m.flags & SL_CACHE_F_IMMUTABLE);
	sl_field g[] = {F("Vary", "")};
	cr_assert_not(meta(SHARED, 200, g, 1, T0, T0).flags & SL_CACHE_F_VARY);
}

Test(cache_policy_flags, authorized_and_head_only)
{
	/* RFC 9111 section 3.5 (Authorization) and 4.3.5 (HEAD) */
	sl_field q[] = {F("Authorization", "Bearer t")};
	sl_field f[] = {F("Cache-Control", "public, max-age=9")};
	sl_cache_req r = mkreq(SL_METHOD_HEAD, q, 1);
	sl_cache_meta m;
	sl_cache_meta_compute(SHARED, &r, 200, f, 1, T0, T0, &m);
	cr_assert(m.flags & SL_CACHE_F_AUTHORIZED);
	cr_assert(m.flags & SL_CACHE_F_HEAD_ONLY);
	sl_cache_meta_compute(SHARED, NULL, 200, f, 1, T0, T0, &m);
	cr_assert_not(m.flags & (SL_CACHE_F_AUTHORIZED | SL_CACHE_F_HEAD_ONLY));
}

Test(cache_policy_flags, stale_windows_and_status)
{
	/* RFC 5861 sections 3 and 4 */
	sl_field f[] = {F("Cache-Control", "max-age=1, stale-while-revalidate=30, stale-if-error=400")};
	sl_field g[] = {F("Cache-Control", "max-age=1")};
	sl_cache_meta m = meta(SHARED, 203, f, 1, T0, T0);
	cr_assert_eq(m.status, 203);
	cr_assert_eq(m.stale_while_revalidate, 30);
	cr_assert_eq(m.stale_if_error, 400);
	cr_assert_eq(m.body_len, 0);
	m = meta(SHARED, 200, g, 1, T0, T0);
	cr_assert_eq(m.stale_while_revalidate, -1);
	cr_assert_eq(m.stale_if_error, -1);
}

/* ================================================================== */
/* Reuse (RFC 9111 sections 4, 4.2.4 and 5.2.1)                       */
/* ================================================================== */

/* Fields and metadata of a stored 200 dated T0 with the given Cache-Control. */
struct stored {
	sl_field f[3];
	size_t n;
	sl_cache_meta m;
};

static struct stored store_cc(const sl_cache_policy_conf *c, const char *cc, bool validator)
{
	struct stored s;
	s.n = 0;
	s.f[s.n++] = (sl_field)F("Date", D(T0));
	s.f[s.n++] = (sl_field)F("Cache-Control", cc);
	if (validator)
		s.f[s.n++] = (sl_field)F("ETag", "\"v1\"");
	s.m = meta(c, 200, s.f, s.n, T0, T0);
	return s;
}

static enum sl_cache_use use_at(const sl_cache_policy_conf *c, struct stored *s,
				const char *req_cc, int64_t now)
{
	sl_field q[] = {F("Cache-Control", req_cc ? req_cc : "")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, req_cc ? 1 : 0);
	return sl_cache_use(c, &r, &s->m, s->f, s->n, now);
}

Test(cache_policy_use, fresh_is_hit)
{
	/* RFC 9111 section 4: a fresh response is reused */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 30), SL_CACHE_USE_FRESH);
}

Test(cache_policy_use, stale_validates)
{
	/* RFC 9111 section 4.3: a stale response is validated */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 60), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, stale_without_validator_forwards)
{
	/* RFC 9111 section 4.3.1: nothing to send a conditional request with */
	struct stored s = store_cc(SHARED, "max-age=60", false);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 61), SL_CACHE_USE_NONE);
}

Test(cache_policy_use, other_methods_not_answered)
{
	/* RFC 9111 section 4: the method must allow a stored response */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	sl_cache_req r = mkreq(SL_METHOD_POST, NULL, 0);
	cr_assert_eq(sl_cache_use(SHARED, &r, &s.m, s.f, s.n, T0), SL_CACHE_USE_NONE);
	r = mkreq(SL_METHOD_OPTIONS, NULL, 0);
	cr_assert_eq(sl_cache_use(SHARED, &r, &s.m, s.f, s.n, T0), SL_CACHE_USE_NONE);
}

Test(cache_policy_use, head_served_from_get_entry)
{
	/* RFC 9110 section 9.3.2: a GET response answers HEAD */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	sl_cache_req r = mkreq(SL_METHOD_HEAD, NULL, 0);
	cr_assert_eq(sl_cache_use(SHARED, &r, &s.m, s.f, s.n, T0), SL_CACHE_USE_FRESH);
}

Test(cache_policy_use, head_only_entry_not_for_get)
{
	/* RFC 9111 section 4.3.5: a HEAD response has no content for a GET */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	s.m.flags |= SL_CACHE_F_HEAD_ONLY;
	sl_cache_req g = get0(), h = mkreq(SL_METHOD_HEAD, NULL, 0);
	cr_assert_eq(sl_cache_use(SHARED, &g, &s.m, s.f, s.n, T0), SL_CACHE_USE_NONE);
	cr_assert_eq(sl_cache_use(SHARED, &h, &s.m, s.f, s.n, T0), SL_CACHE_USE_FRESH);
}

Test(cache_policy_use, request_no_store)
{
	/* RFC 9111 section 5.2.1.5 */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert_eq(use_at(SHARED, &s, "no-store", T0), SL_CACHE_USE_NONE);
}

Test(cache_policy_use, if_match_forwarded)
{
	/* RFC 9111 section 4.3.2: If-Match and If-Unmodified-Since go upstream */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	sl_field q[] = {F("If-Match", "\"v1\"")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, 1);
	cr_assert_eq(sl_cache_use(SHARED, &r, &s.m, s.f, s.n, T0), SL_CACHE_USE_NONE);
}

Test(cache_policy_use, request_no_cache_validates)
{
	/* RFC 9111 section 5.2.1.4 */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert_eq(use_at(SHARED, &s, "no-cache", T0), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, request_no_cache_without_validator)
{
	/* RFC 9111 section 5.2.1.4: validation impossible, forward it */
	struct stored s = store_cc(SHARED, "max-age=60", false);
	cr_assert_eq(use_at(SHARED, &s, "no-cache", T0), SL_CACHE_USE_NONE);
}

Test(cache_policy_use, pragma_no_cache_validates)
{
	/* RFC 9111 section 5.4 */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	sl_field q[] = {F("Pragma", "no-cache")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, 1);
	cr_assert_eq(sl_cache_use(SHARED, &r, &s.m, s.f, s.n, T0), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, response_no_cache_validates_even_fresh)
{
	/* RFC 9111 section 5.2.2.4 */
	struct stored s = store_cc(SHARED, "no-cache, max-age=600", true);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 1), SL_CACHE_USE_VALIDATE);
	cr_assert_eq(use_at(SHARED, &s, "max-stale", T0 + 10000), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, response_no_cache_fields_served_fresh)
{
	/* RFC 9111 section 5.2.2.4: qualified no-cache, the caller strips the fields */
	struct stored s = store_cc(SHARED, "no-cache=\"Set-Cookie\", max-age=600", true);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 1), SL_CACHE_USE_FRESH);
	cr_assert(s.m.flags & SL_CACHE_F_NO_CACHE_FIELDS);
}

Test(cache_policy_use, request_max_age)
{
	/* RFC 9111 section 5.2.1.1: age above max-age validates */
	struct stored s = store_cc(SHARED, "max-age=600", true);
	cr_assert_eq(use_at(SHARED, &s, "max-age=0", T0), SL_CACHE_USE_FRESH, "age 0 is <= 0");
	cr_assert_eq(use_at(SHARED, &s, "max-age=0", T0 + 1), SL_CACHE_USE_VALIDATE);
	cr_assert_eq(use_at(SHARED, &s, "max-age=100", T0 + 100), SL_CACHE_USE_FRESH);
	cr_assert_eq(use_at(SHARED, &s, "max-age=100", T0 + 101), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, request_min_fresh)
{
	/* RFC 9111 section 5.2.1.3: fresh for at least min-fresh more seconds */
	struct stored s = store_cc(SHARED, "max-age=600", true);
	cr_assert_eq(use_at(SHARED, &s, "min-fresh=100", T0 + 500), SL_CACHE_USE_FRESH);
	cr_assert_eq(use_at(SHARED, &s, "min-fresh=100", T0 + 501), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, max_stale_without_value)
{
	/* RFC 9111 section 5.2.1.2: any staleness is accepted */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert_eq(use_at(SHARED, &s, "max-stale", T0 + 100000), SL_CACHE_USE_STALE);
}

Test(cache_policy_use, max_stale_with_value)
{
	/* RFC 9111 section 5.2.1.2: staleness up to the value */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert_eq(use_at(SHARED, &s, "max-stale=30", T0 + 90), SL_CACHE_USE_STALE);
	cr_assert_eq(use_at(SHARED, &s, "max-stale=30", T0 + 91), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, max_stale_and_request_max_age)
{
	/* RFC 9111 section 5.2.1.1: max-age still bounds the age */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert_eq(use_at(SHARED, &s, "max-stale, max-age=70", T0 + 80), SL_CACHE_USE_VALIDATE);
	cr_assert_eq(use_at(SHARED, &s, "max-stale, max-age=90", T0 + 80), SL_CACHE_USE_STALE);
}

Test(cache_policy_use, must_revalidate_forbids_max_stale)
{
	/* RFC 9111 section 5.2.2.2 */
	struct stored s = store_cc(SHARED, "max-age=60, must-revalidate", true);
	cr_assert_eq(use_at(SHARED, &s, "max-stale", T0 + 61), SL_CACHE_USE_VALIDATE);
	cr_assert_eq(use_at(SHARED, &s, "max-stale", T0 + 59), SL_CACHE_USE_FRESH);
}

Test(cache_policy_use, proxy_revalidate_shared_only)
{
	/* RFC 9111 section 5.2.2.8 */
	struct stored s = store_cc(SHARED, "max-age=60, proxy-revalidate", true);
	cr_assert_eq(use_at(SHARED, &s, "max-stale", T0 + 61), SL_CACHE_USE_VALIDATE);
	struct stored p = store_cc(PRIVATE, "max-age=60, proxy-revalidate", true);
	cr_assert_eq(use_at(PRIVATE, &p, "max-stale", T0 + 61), SL_CACHE_USE_STALE);
}

Test(cache_policy_use, s_maxage_forbids_stale)
{
	/* RFC 9111 section 5.2.2.10: s-maxage implies proxy-revalidate */
	struct stored s = store_cc(SHARED, "s-maxage=60, stale-while-revalidate=100", true);
	cr_assert_eq(use_at(SHARED, &s, "max-stale", T0 + 61), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, must_revalidate_without_validator)
{
	/* RFC 9111 section 5.2.2.2: must validate but cannot: forward */
	struct stored s = store_cc(SHARED, "max-age=60, must-revalidate", false);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 61), SL_CACHE_USE_NONE);
}

Test(cache_policy_use, stale_while_revalidate_window)
{
	/* RFC 5861 section 3 */
	struct stored s = store_cc(SHARED, "max-age=60, stale-while-revalidate=30", true);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 59), SL_CACHE_USE_FRESH);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 60), SL_CACHE_USE_STALE_REVALIDATE);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 90), SL_CACHE_USE_STALE_REVALIDATE);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 91), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, stale_while_revalidate_with_must_revalidate)
{
	/* RFC 9111 section 4.2.4: must-revalidate wins over RFC 5861 */
	struct stored s =
		store_cc(SHARED, "max-age=60, stale-while-revalidate=30, must-revalidate", true);
	cr_assert_eq(use_at(SHARED, &s, NULL, T0 + 70), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, stale_while_revalidate_before_max_stale)
{
	/* RFC 5861 section 3 with RFC 9111 section 5.2.1.2: the entry gets refreshed */
	struct stored s = store_cc(SHARED, "max-age=60, stale-while-revalidate=30", true);
	cr_assert_eq(use_at(SHARED, &s, "max-stale", T0 + 70), SL_CACHE_USE_STALE_REVALIDATE);
	cr_assert_eq(use_at(SHARED, &s, "max-stale", T0 + 700), SL_CACHE_USE_STALE);
}

Test(cache_policy_use, request_max_age_beats_swr)
{
	/* RFC 9111 section 5.2.1.1 with RFC 5861 section 3 */
	struct stored s = store_cc(SHARED, "max-age=60, stale-while-revalidate=30", true);
	cr_assert_eq(use_at(SHARED, &s, "max-age=10", T0 + 70), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, authorization_needs_shared_permission)
{
	/* RFC 9111 section 3.5: reuse for a request with Authorization */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	struct stored p = store_cc(SHARED, "public, max-age=60", true);
	sl_field q[] = {F("Authorization", "Basic eDp5")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, 1);
	cr_assert_eq(sl_cache_use(SHARED, &r, &s.m, s.f, s.n, T0), SL_CACHE_USE_NONE);
	cr_assert_eq(sl_cache_use(SHARED, &r, &p.m, p.f, p.n, T0), SL_CACHE_USE_FRESH);
	cr_assert_eq(sl_cache_use(PRIVATE, &r, &s.m, s.f, s.n, T0), SL_CACHE_USE_FRESH);
}

Test(cache_policy_use, authorized_entry_reused)
{
	/* RFC 9111 section 3.5: stored because a directive allowed it */
	struct stored s = store_cc(SHARED, "must-revalidate, max-age=60", true);
	s.m.flags |= SL_CACHE_F_AUTHORIZED;
	sl_field q[] = {F("Authorization", "Basic eDp5")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, 1), g = get0();
	cr_assert_eq(sl_cache_use(SHARED, &r, &s.m, s.f, s.n, T0), SL_CACHE_USE_FRESH);
	cr_assert_eq(sl_cache_use(SHARED, &g, &s.m, s.f, s.n, T0), SL_CACHE_USE_FRESH);
}

Test(cache_policy_use, only_if_cached_just_reports)
{
	/* RFC 9111 section 5.2.1.7: the caller answers 504 when not usable */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert_eq(use_at(SHARED, &s, "only-if-cached", T0), SL_CACHE_USE_FRESH);
	cr_assert_eq(use_at(SHARED, &s, "only-if-cached", T0 + 100), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, heuristic_entry)
{
	/* RFC 9111 section 4.2.2: heuristic freshness is freshness */
	sl_field f[] = {F("Date", D(T0)), F("Last-Modified", D(T0 - 1000))};
	sl_cache_meta m = meta(SHARED, 200, f, 2, T0, T0);
	sl_cache_req r = get0();
	cr_assert_eq(sl_cache_use(SHARED, &r, &m, f, 2, T0 + 99), SL_CACHE_USE_FRESH);
	cr_assert_eq(sl_cache_use(SHARED, &r, &m, f, 2, T0 + 100), SL_CACHE_USE_VALIDATE);
}

Test(cache_policy_use, use_names)
{
	cr_assert_str_eq(sl_cache_use_name(SL_CACHE_USE_FRESH), "fresh");
	cr_assert_str_eq(sl_cache_use_name(SL_CACHE_USE_STALE), "stale");
	cr_assert_str_eq(sl_cache_use_name(SL_CACHE_USE_STALE_REVALIDATE), "stale-while-revalidate");
	cr_assert_str_eq(sl_cache_use_name(SL_CACHE_USE_VALIDATE), "validate");
	cr_assert_str_eq(sl_cache_use_name(SL_CACHE_USE_NONE), "none");
	cr_assert_str_eq(sl_cache_use_name((enum sl_cache_use)42), "unknown");
}

/* ================================================================== */
/* stale-if-error (RFC 5861 section 4, RFC 9111 section 4.2.4)        */
/* ================================================================== */

static bool on_error(struct stored *s, const char *req_cc, int64_t now)
{
	sl_field q[] = {F("Cache-Control", req_cc ? req_cc : "")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, req_cc ? 1 : 0);
	return sl_cache_stale_on_error(&r, &s->m, now);
}

Test(cache_policy_stale_error, response_window)
{
	/* RFC 5861 section 4: stale-if-error in the response */
	struct stored s = store_cc(SHARED, "max-age=60, stale-if-error=100", true);
	cr_assert(on_error(&s, NULL, T0 + 160));
	cr_assert_not(on_error(&s, NULL, T0 + 161));
}

Test(cache_policy_stale_error, no_window)
{
	/* RFC 9111 section 4.2.4: no directive allows a stale answer */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert_not(on_error(&s, NULL, T0 + 61));
}

Test(cache_policy_stale_error, request_window)
{
	/* RFC 5861 section 4: stale-if-error in the request */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert(on_error(&s, "stale-if-error=40", T0 + 100));
	cr_assert_not(on_error(&s, "stale-if-error=40", T0 + 101));
}

Test(cache_policy_stale_error, request_max_stale)
{
	/* RFC 9111 section 5.2.1.2 */
	struct stored s = store_cc(SHARED, "max-age=60", true);
	cr_assert(on_error(&s, "max-stale", T0 + 10000));
	cr_assert(on_error(&s, "max-stale=50", T0 + 110));
	cr_assert_not(on_error(&s, "max-stale=50", T0 + 111));
}

Test(cache_policy_stale_error, must_revalidate_forbids)
{
	/* RFC 9111 section 5.2.2.2: 504 rather than stale */
	struct stored s = store_cc(SHARED, "max-age=60, stale-if-error=100, must-revalidate", true);
	cr_assert_not(on_error(&s, NULL, T0 + 70));
	cr_assert_not(on_error(&s, "max-stale", T0 + 70));
}

Test(cache_policy_stale_error, s_maxage_forbids)
{
	/* RFC 9111 section 5.2.2.10 */
	struct stored s = store_cc(SHARED, "s-maxage=60, stale-if-error=100", true);
	cr_assert_not(on_error(&s, NULL, T0 + 70));
}

Test(cache_policy_stale_error, no_cache_forbids)
{
	/* RFC 9111 section 4.2.4: no-cache is an in-protocol prohibition */
	struct stored s = store_cc(SHARED, "no-cache, max-age=60, stale-if-error=100", true);
	cr_assert_not(on_error(&s, NULL, T0 + 70));
}

Test(cache_policy_stale_error, request_no_cache_needs_own_window)
{
	/* RFC 9111 section 5.2.1.4 with RFC 5861 section 4 */
	struct stored s = store_cc(SHARED, "max-age=60, stale-if-error=100", true);
	cr_assert_not(on_error(&s, "no-cache", T0 + 70));
	cr_assert(on_error(&s, "no-cache, stale-if-error=100", T0 + 70));
}

Test(cache_policy_stale_error, request_max_age_exceeded)
{
	/* RFC 9111 section 5.2.1.1: the client asked for a younger response */
	struct stored s = store_cc(SHARED, "max-age=60, stale-if-error=100", true);
	cr_assert_not(on_error(&s, "max-age=30", T0 + 70));
	cr_assert(on_error(&s, "max-age=300", T0 + 70));
}

Test(cache_policy_stale_error, not_for_unanswerable_requests)
{
	/* RFC 9111 section 4: the entry must apply to the request at all */
	struct stored s = store_cc(SHARED, "max-age=60, stale-if-error=100", true);
	sl_cache_req r = mkreq(SL_METHOD_POST, NULL, 0);
	cr_assert_not(sl_cache_stale_on_error(&r, &s.m, T0 + 70));
	cr_assert_not(on_error(&s, "no-store", T0 + 70));
}
