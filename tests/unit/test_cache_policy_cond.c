/*
 * Unit tests of the cache policy (src/cache/policy_cond.c,
 * policy_vary.c), second half: validators and 304 updates (RFC 9111
 * sections 3.2, 4.3), the fields stored (3.1), Vary (4.1), invalidation
 * (4.4), a client's conditionals (RFC 9110 section 13), ranges (RFC 9110
 * section 14) and the result names. Every suite is named cache_policy_*;
 * each test names the section it checks.
 */
#include "cache_policy_util.h"

/* ================================================================== */
/* Validators and 304 (RFC 9111 sections 3.2, 4.3.1 and 4.3.4)        */
/* ================================================================== */

Test(cache_policy_validate, both_validators)
{
	/* RFC 9111 section 4.3.1: send the entity-tag and Last-Modified */
	sl_field f[] = {F("ETag", "\"abc\""), F("Last-Modified", D(T0))};
	sl_field out[2];
	cr_assert_eq(sl_cache_validators(f, 2, out), 2);
	cr_assert(sl_slice_eq_cstr(out[0].name, "If-None-Match"));
	cr_assert(sl_slice_eq_cstr(out[0].value, "\"abc\""));
	cr_assert(sl_slice_eq_cstr(out[1].name, "If-Modified-Since"));
	cr_assert_eq(out[1].value.p, f[1].value.p, "values point into the stored fields");
}

Test(cache_policy_validate, etag_only_and_none)
{
	/* RFC 9111 section 4.3.1 */
	sl_field a[] = {F("ETag", "W/\"w\"")};
	sl_field b[] = {F("Content-Type", "text/plain"), F("Last-Modified", "bogus")};
	sl_field out[2];
	cr_assert_eq(sl_cache_validators(a, 1, out), 1);
	cr_assert(sl_slice_eq_cstr(out[0].value, "W/\"w\""));
	cr_assert_eq(sl_cache_validators(b, 2, out), 0);
}

Test(cache_policy_validate, last_modified_only)
{
	/* RFC 9111 section 4.3.1: If-Modified-Since from Last-Modified */
	sl_field f[] = {F("Last-Modified", D(T0))};
	sl_field out[2];
	cr_assert_eq(sl_cache_validators(f, 1, out), 1);
	cr_assert(sl_slice_eq_cstr(out[0].name, "If-Modified-Since"));
}

Test(cache_policy_validate, strong_etag_selects)
{
	/* RFC 9111 section 4.3.4: the same strong validator */
	sl_field f[] = {F("ETag", "\"v1\"")};
	sl_field a[] = {F("ETag", "\"v1\"")};
	sl_field b[] = {F("ETag", "\"v2\"")};
	cr_assert(sl_cache_304_selects(f, 1, a, 1));
	cr_assert_not(sl_cache_304_selects(f, 1, b, 1));
}

Test(cache_policy_validate, strong_etag_against_weak_stored)
{
	/* RFC 9111 section 4.3.4: a strong validator needs a strong match */
	sl_field f[] = {F("ETag", "W/\"v1\"")};
	sl_field a[] = {F("ETag", "\"v1\"")};
	cr_assert_not(sl_cache_304_selects(f, 1, a, 1));
}

Test(cache_policy_validate, weak_etag_selects)
{
	/* RFC 9111 section 4.3.4: weak validators that correspond */
	sl_field f[] = {F("ETag", "\"v1\"")};
	sl_field a[] = {F("ETag", "W/\"v1\"")};
	sl_field b[] = {F("ETag", "W/\"v2\"")};
	cr_assert(sl_cache_304_selects(f, 1, a, 1));
	cr_assert_not(sl_cache_304_selects(f, 1, b, 1));
}

Test(cache_policy_validate, etag_in_304_stored_without)
{
	/* RFC 9111 section 4.3.4: no stored response holds that validator */
	sl_field f[] = {F("Last-Modified", D(T0))};
	sl_field a[] = {F("ETag", "\"v1\""), F("Last-Modified", D(T0))};
	cr_assert_not(sl_cache_304_selects(f, 1, a, 2));
}

Test(cache_policy_validate, last_modified_selects)
{
	/* RFC 9111 section 4.3.4: Last-Modified as the validator */
	sl_field f[] = {F("Last-Modified", D(T0))};
	sl_field a[] = {F("Last-Modified", D(T0))};
	sl_field b[] = {F("Last-Modified", D(T0 + 1))};
	cr_assert(sl_cache_304_selects(f, 1, a, 1));
	cr_assert_not(sl_cache_304_selects(f, 1, b, 1));
}

Test(cache_policy_validate, no_validator_in_304)
{
	/* RFC 9111 section 4.3.4: the only stored response is selected */
	sl_field f[] = {F("ETag", "\"v1\"")};
	sl_field g[] = {F("Content-Type", "text/plain")};
	sl_field a[] = {F("Date", D(T0)), F("Cache-Control", "max-age=5")};
	cr_assert(sl_cache_304_selects(f, 1, a, 2));
	cr_assert(sl_cache_304_selects(g, 1, a, 2));
}

/* Finds name in out[0..n) and checks its value; -1 when absent. */
static int pos_of(const sl_field *out, int n, const char *name, const char *value)
{
	for (int i = 0; i < n; i++)
		if (sl_slice_case_eq_cstr(out[i].name, name)) {
			if (value)
				cr_assert(sl_slice_eq_cstr(out[i].value, value), "%s: %.*s", name,
					  SL_SLICE_FMT(out[i].value));
			return i;
		}
	return -1;
}

Test(cache_policy_update, replaces_and_keeps)
{
	/* RFC 9111 section 3.2: fields in the 304 replace the stored ones */
	sl_field f[] = {F("Date", "old"), F("Content-Type", "text/html"), F("ETag", "\"v1\""),
			F("Cache-Control", "max-age=5")};
	sl_field r[] = {F("date", "new"), F("Cache-Control", "max-age=50"), F("X-New", "1")};
	sl_field out[16];
	int n = sl_cache_update_fields(f, NF(f), r, NF(r), out, NF(out));
	cr_assert_eq(n, 5);
	cr_assert_eq(pos_of(out, n, "Date", "new"), 0, "takes the place of the stored Date");
	cr_assert_eq(pos_of(out, n, "Content-Type", "text/html"), 1);
	cr_assert_eq(pos_of(out, n, "ETag", "\"v1\""), 2);
	cr_assert_eq(pos_of(out, n, "Cache-Control", "max-age=50"), 3);
	cr_assert_eq(pos_of(out, n, "X-New", "1"), 4);
}

Test(cache_policy_update, all_occurrences_replaced)
{
	/* RFC 9111 section 3.2: every stored line of a name gives way */
	sl_field f[] = {F("Link", "a"), F("X", "x"), F("Link", "b"), F("Link", "c")};
	sl_field r[] = {F("Link", "1"), F("LINK", "2")};
	sl_field out[8];
	int n = sl_cache_update_fields(f, NF(f), r, NF(r), out, NF(out));
	cr_assert_eq(n, 3);
	cr_assert(sl_slice_eq_cstr(out[0].value, "1"));
	cr_assert(sl_slice_eq_cstr(out[1].value, "2"));
	cr_assert(sl_slice_eq_cstr(out[2].value, "x"));
}

Test(cache_policy_update, content_length_not_taken)
{
	/* RFC 9111 section 3.2: MUST NOT update Content-Length */
	sl_field f[] = {F("Content-Length", "1000")};
	sl_field r[] = {F("Content-Length", "0")};
	sl_field out[4];
	int n = sl_cache_update_fields(f, 1, r, 1, out, NF(out));
	cr_assert_eq(n, 1);
	cr_assert(sl_slice_eq_cstr(out[0].value, "1000"));
}

Test(cache_policy_update, framing_and_coding_not_taken)
{
	/* RFC 9111 section 3.2: fields the stored body depends on */
	sl_field f[] = {F("Content-Encoding", "gzip")};
	sl_field r[] = {F("Content-Encoding", "br"), F("Content-Range", "bytes 0-1/2"),
			F("Transfer-Encoding", "chunked")};
	sl_field out[4];
	int n = sl_cache_update_fields(f, 1, r, NF(r), out, NF(out));
	cr_assert_eq(n, 1);
	cr_assert(sl_slice_eq_cstr(out[0].value, "gzip"));
}

Test(cache_policy_update, hop_by_hop_not_taken)
{
	/* RFC 9111 sections 3.1 and 3.2, RFC 9110 section 7.6.1 */
	sl_field f[] = {F("ETag", "\"v1\"")};
	sl_field r[] = {F("Connection", "close, X-Hop"), F("Keep-Alive", "timeout=5"),
			F("X-Hop", "1"), F("TE", "trailers"), F("Upgrade", "h2c"),
			F("Trailer", "X"), F("Proxy-Connection", "keep-alive"),
			F("Proxy-Authenticate", "Basic"), F("Proxy-Authentication-Info", "x"),
			F("Age", "10"), F("X-Kept", "1")};
	sl_field out[16];
	int n = sl_cache_update_fields(f, 1, r, NF(r), out, NF(out));
	cr_assert_eq(n, 2);
	cr_assert_eq(pos_of(out, n, "X-Kept", "1"), 1);
}

Test(cache_policy_update, names_compare_without_case)
{
	/* RFC 9110 section 5.1: field names are case-insensitive */
	sl_field f[] = {F("cache-control", "max-age=1")};
	sl_field r[] = {F("CACHE-CONTROL", "max-age=2")};
	sl_field out[4];
	int n = sl_cache_update_fields(f, 1, r, 1, out, NF(out));
	cr_assert_eq(n, 1);
	cr_assert(sl_slice_eq_cstr(out[0].value, "max-age=2"));
}

Test(cache_policy_update, limit)
{
	/* the output array bounds the update */
	sl_field f[] = {F("A", "1"), F("B", "2")};
	sl_field r[] = {F("C", "3")};
	sl_field out[2];
	cr_assert_eq(sl_cache_update_fields(f, 2, r, 1, out, 2), SL_E_LIMIT);
	cr_assert_eq(sl_cache_update_fields(f, 2, r, 1, out, 1), SL_E_LIMIT);
	cr_assert_eq(sl_cache_update_fields(f, 2, NULL, 0, out, 2), 2);
}

Test(cache_policy_update, head_response_freshens)
{
	/* RFC 9111 section 4.3.5: a HEAD response updates like a 304 */
	sl_field f[] = {F("ETag", "\"v1\""), F("Content-Length", "500"), F("Date", "old")};
	sl_field h[] = {F("ETag", "\"v1\""), F("Content-Length", "500"), F("Date", "new")};
	sl_field out[8];
	cr_assert(sl_cache_304_selects(f, NF(f), h, NF(h)));
	int n = sl_cache_update_fields(f, NF(f), h, NF(h), out, NF(out));
	cr_assert_eq(n, 3);
	cr_assert_eq(pos_of(out, n, "Date", "new"), 2);
	cr_assert_eq(pos_of(out, n, "Content-Length", "500"), 1);
	cr_assert_eq(out[1].value.p, f[1].value.p, "Content-Length is the stored one");
}

Test(cache_policy_update, meta_refresh_dates_from_304)
{
	/* RFC 9111 sections 4.2.3 and 4.3.4: a 304 restarts the response's age */
	sl_field f[] = {F("Date", D(T0)), F("Cache-Control", "max-age=60"), F("ETag", "\"v\"")};
	sl_cache_meta old = meta(SHARED, 200, f, NF(f), T0, T0);
	old.body_len = 1234;
	old.flags |= SL_CACHE_F_HEAD_ONLY;
	sl_field r[] = {F("Date", D(T0 + 1000)), F("Cache-Control", "max-age=300"),
			F("Age", "20")};
	sl_field up[8];
	int n = sl_cache_update_fields(f, NF(f), r, NF(r), up, NF(up));
	cr_assert_eq(n, 3);
	sl_cache_meta m;
	sl_cache_meta_refresh(SHARED, &old, up, (size_t)n, r, NF(r), T0 + 999, T0 + 1001, &m);
	cr_assert_eq(m.status, 200);
	cr_assert_eq(m.body_len, 1234);
	cr_assert(m.flags & SL_CACHE_F_HEAD_ONLY);
	cr_assert(m.flags & SL_CACHE_F_ETAG);
	cr_assert_eq(m.freshness_lifetime, 300);
	cr_assert_eq(m.corrected_initial_age, 22, "Age 20 + 2 s delay");
	cr_assert_eq(m.response_time, T0 + 1001);
}

Test(cache_policy_update, meta_refresh_without_date_in_304)
{
	/* RFC 9111 section 4.2.3: the old stored Date must not age the response */
	sl_field f[] = {F("Date", D(T0)), F("Cache-Control", "max-age=60")};
	sl_cache_meta old = meta(SHARED, 200, f, NF(f), T0, T0);
	sl_field r[] = {F("ETag", "\"v\"")};
	sl_cache_meta_refresh(SHARED, &old, f, NF(f), r, 1, T0 + 5000, T0 + 5000, &old);
	cr_assert_eq(old.corrected_initial_age, 0);
	cr_assert(sl_cache_is_fresh(&old, T0 + 5059));
}

/* ================================================================== */
/* Stored fields (RFC 9111 section 3.1)                               */
/* ================================================================== */

Test(cache_policy_store_fields, hop_by_hop_removed)
{
	/* RFC 9111 section 3.1 and RFC 9110 section 7.6.1 */
	sl_field f[] = {F("Content-Type", "text/html"), F("Connection", "keep-alive, X-Foo"),
			F("Keep-Alive", "timeout=5"), F("X-Foo", "1"),
			F("Transfer-Encoding", "chunked"), F("ETag", "\"a\"")};
	sl_field out[8];
	int n = sl_cache_store_fields(SHARED, f, NF(f), out, NF(out));
	cr_assert_eq(n, 2);
	cr_assert_eq(pos_of(out, n, "Content-Type", NULL), 0);
	cr_assert_eq(pos_of(out, n, "ETag", NULL), 1);
}

Test(cache_policy_store_fields, age_and_proxy_fields_removed)
{
	/* RFC 9111 section 3.1: proxy-specific fields; Age is recomputed */
	sl_field f[] = {F("Age", "5"), F("Proxy-Authenticate", "Basic realm=x"),
			F("Proxy-Authentication-Info", "a"), F("Date", D(T0))};
	sl_field out[8];
	int n = sl_cache_store_fields(SHARED, f, NF(f), out, NF(out));
	cr_assert_eq(n, 1);
	cr_assert(sl_slice_eq_cstr(out[0].name, "Date"));
}

Test(cache_policy_store_fields, connection_cannot_remove_content_length)
{
	/* RFC 9110 section 7.6.1: framing is not a connection option */
	sl_field f[] = {F("Connection", "Content-Length"), F("Content-Length", "5")};
	sl_field out[4];
	int n = sl_cache_store_fields(SHARED, f, NF(f), out, NF(out));
	cr_assert_eq(n, 1);
	cr_assert(sl_slice_eq_cstr(out[0].name, "Content-Length"));
}

Test(cache_policy_store_fields, private_fields_removed_in_shared_cache)
{
	/* RFC 9111 section 5.2.2.7: private="field" */
	sl_field f[] = {F("Cache-Control", "private=\"Set-Cookie, X-User\", max-age=60"),
			F("Set-Cookie", "a=1"), F("x-user", "bob"), F("Content-Type", "text/html")};
	sl_field out[8];
	int n = sl_cache_store_fields(SHARED, f, NF(f), out, NF(out));
	cr_assert_eq(n, 2);
	cr_assert_eq(pos_of(out, n, "Set-Cookie", NULL), -1);
	cr_assert_eq(pos_of(out, n, "X-User", NULL), -1);
	n = sl_cache_store_fields(PRIVATE, f, NF(f), out, NF(out));
	cr_assert_eq(n, 4, "a private cache keeps them");
}

Test(cache_policy_store_fields, limit)
{
	sl_field f[] = {F("A", "1"), F("B", "2"), F("Age", "1")};
	sl_field out[2];
	cr_assert_eq(sl_cache_store_fields(SHARED, f, NF(f), out, 1), SL_E_LIMIT);
	cr_assert_eq(sl_cache_store_fields(SHARED, f, NF(f), out, 2), 2);
}

Test(cache_policy_store_fields, no_cache_fields_named)
{
	/* RFC 9111 section 5.2.2.4: no-cache="field" */
	sl_field f[] = {F("Cache-Control", "max-age=60, no-cache=\"Set-Cookie, X-Token\"")};
	cr_assert(sl_cache_field_no_cache(f, 1, SL_SLICE_LIT("set-cookie")));
	cr_assert(sl_cache_field_no_cache(f, 1, SL_SLICE_LIT("X-Token")));
	cr_assert_not(sl_cache_field_no_cache(f, 1, SL_SLICE_LIT("Content-Type")));
	cr_assert_not(sl_cache_field_no_cache(f, 1, SL_SLICE_LIT("Set")));
}

Test(cache_policy_store_fields, no_cache_unqualified_names_nothing)
{
	/* RFC 9111 section 5.2.2.4: unqualified no-cache is the whole response */
	sl_field f[] = {F("Cache-Control", "no-cache")};
	sl_field g[] = {F("Cache-Control", "max-age=5")};
	cr_assert_not(sl_cache_field_no_cache(f, 1, SL_SLICE_LIT("Set-Cookie")));
	cr_assert_not(sl_cache_field_no_cache(g, 1, SL_SLICE_LIT("Set-Cookie")));
}

/* ================================================================== */
/* Vary (RFC 9111 section 4.1)                                        */
/* ================================================================== */

static int vkey(const sl_field *resp, size_t rn, const sl_field *req, size_t qn, char *out)
{
	return sl_cache_vary_key(resp, rn, req, qn, out, 256);
}

Test(cache_policy_vary, no_vary_no_key)
{
	/* RFC 9111 section 4.1: without Vary, no secondary key */
	sl_field r[] = {F("Content-Type", "text/html")};
	sl_field q[] = {F("Accept", "*/*")};
	char k[256];
	cr_assert_eq(vkey(r, 1, q, 1, k), 0);
}

Test(cache_policy_vary, one_field)
{
	/* RFC 9111 section 4.1 */
	sl_field r[] = {F("Vary", "Accept-Encoding")};
	sl_field q[] = {F("accept-encoding", "gzip")};
	char k[256];
	int n = vkey(r, 1, q, 1, k);
	cr_assert_eq(n, (int)strlen("accept-encoding:gzip\n"));
	cr_assert_str_eq(k, "accept-encoding:gzip\n");
}

Test(cache_policy_vary, names_sorted_lowercased_once)
{
	/* RFC 9111 section 4.1: names compare without case */
	sl_field r[] = {F("Vary", "User-Agent, ACCEPT"), F("Vary", "accept, Cookie")};
	sl_field q[] = {F("Accept", "text/html"), F("Cookie", "a=1"), F("User-Agent", "x")};
	char k[256];
	vkey(r, NF(r), q, NF(q), k);
	cr_assert_str_eq(k, "accept:text/html\ncookie:a=1\nuser-agent:x\n");
}

Test(cache_policy_vary, absent_equals_empty)
{
	/* RFC 9111 section 4.1: a missing field and an empty one select alike */
	sl_field r[] = {F("Vary", "Accept-Language")};
	sl_field q1[] = {F("Host", "h")};
	sl_field q2[] = {F("Accept-Language", "")};
	char a[256], b[256];
	vkey(r, 1, q1, 1, a);
	vkey(r, 1, q2, 1, b);
	cr_assert_str_eq(a, "accept-language:\n");
	cr_assert_str_eq(a, b);
}

Test(cache_policy_vary, field_lines_combined)
{
	/* RFC 9111 section 4.1: combining field lines of one name */
	sl_field r[] = {F("Vary", "Accept-Encoding")};
	sl_field q1[] = {F("Accept-Encoding", "gzip"), F("Accept-Encoding", "br")};
	sl_field q2[] = {F("Accept-Encoding", "gzip, br")};
	char a[256], b[256];
	vkey(r, 1, q1, 2, a);
	vkey(r, 1, q2, 1, b);
	cr_assert_str_eq(a, b);
	cr_assert_str_eq(a, "accept-encoding:gzip, br\n");
}

Test(cache_policy_vary, whitespace_normalised)
{
	/* RFC 9111 section 4.1: adding or removing whitespace where allowed */
	sl_field r[] = {F("Vary", "Accept-Encoding, User-Agent")};
	sl_field q1[] = {F("Accept-Encoding", "gzip,deflate"), F("User-Agent", "a  b\tc")};
	sl_field q2[] = {F("Accept-Encoding", " gzip ,   deflate"), F("User-Agent", "a b c")};
	char a[256], b[256];
	vkey(r, 1, q1, 2, a);
	vkey(r, 1, q2, 2, b);
	cr_assert_str_eq(a, b);
	cr_assert_str_eq(a, "accept-encoding:gzip, deflate\nuser-agent:a b c\n");
}

Test(cache_policy_vary, different_values_differ)
{
	/* RFC 9111 section 4.1: values that do not match select another variant */
	sl_field r[] = {F("Vary", "Accept-Encoding")};
	sl_field q1[] = {F("Accept-Encoding", "gzip")};
	sl_field q2[] = {F("Accept-Encoding", "br")};
	sl_field q3[] = {F("Accept-Encoding", "GZIP")};
	char a[256], b[256], c[256];
	vkey(r, 1, q1, 1, a);
	vkey(r, 1, q2, 1, b);
	vkey(r, 1, q3, 1, c);
	cr_assert_str_neq(a, b);
	cr_assert_str_neq(a, c, "values keep their case");
}

Test(cache_policy_vary, quoted_whitespace_kept)
{
	/* RFC 9110 section 5.6.4: whitespace inside a quoted-string is data */
	sl_field r[] = {F("Vary", "X-Q")};
	sl_field q1[] = {F("X-Q", "\"a  b\"")};
	sl_field q2[] = {F("X-Q", "\"a b\"")};
	char a[256], b[256];
	vkey(r, 1, q1, 1, a);
	vkey(r, 1, q2, 1, b);
	cr_assert_str_neq(a, b);
	cr_assert_str_eq(a, "x-q:\"a  b\"\n");
}

Test(cache_policy_vary, non_token_elements_skipped)
{
	/* RFC 9111 section 4.1: Vary lists field names */
	sl_field r[] = {F("Vary", "Accept, bad name, x:y")};
	sl_field q[] = {F("Accept", "a")};
	char k[256];
	vkey(r, 1, q, 1, k);
	cr_assert_str_eq(k, "accept:a\n");
}

Test(cache_policy_vary, limit)
{
	/* the key and its NUL must fit */
	sl_field r[] = {F("Vary", "Accept")};
	sl_field q[] = {F("Accept", "abc")};
	char k[16];
	cr_assert_eq(sl_cache_vary_key(r, 1, q, 1, k, 11), SL_E_LIMIT);   /* "accept:abc\n" */
	cr_assert_eq(sl_cache_vary_key(r, 1, q, 1, k, 12), 11);
	cr_assert_str_eq(k, "accept:abc\n");
}

Test(cache_policy_vary, star)
{
	/* RFC 9111 section 4.1: "*" never matches */
	sl_field a[] = {F("Vary", "*")};
	sl_field b[] = {F("Vary", "Accept"), F("vary", "Cookie, *")};
	sl_field c[] = {F("Vary", "Accept")};
	cr_assert(sl_cache_vary_star(a, 1));
	cr_assert(sl_cache_vary_star(b, 2));
	cr_assert_not(sl_cache_vary_star(c, 1));
	cr_assert_not(sl_cache_vary_star(NULL, 0));
}

/* ================================================================== */
/* Invalidation (RFC 9111 section 4.4)                                */
/* ================================================================== */

static char keys[3][2048];

Test(cache_policy_invalidate, unsafe_method_target)
{
	/* RFC 9111 section 4.4: the target URI of an unsafe request */
	size_t n = sl_cache_invalidations(SL_METHOD_POST, 200, "http://Example.COM:80/a/./b",
					  NULL, 0, keys, 3);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(keys[0], "http://example.com/a/b");
}

Test(cache_policy_invalidate, safe_methods_invalidate_nothing)
{
	/* RFC 9111 section 4.4 and RFC 9110 section 9.2.1 */
	enum sl_http_method ms[] = {SL_METHOD_GET, SL_METHOD_HEAD, SL_METHOD_OPTIONS,
				    SL_METHOD_TRACE};
	for (size_t i = 0; i < NF(ms); i++)
		cr_assert_eq(sl_cache_invalidations(ms[i], 200, "http://a/x", NULL, 0, keys, 3), 0);
}

Test(cache_policy_invalidate, unsafe_and_unknown_methods)
{
	/* RFC 9111 section 4.4: unsafe, including methods of unknown safety */
	enum sl_http_method ms[] = {SL_METHOD_PUT, SL_METHOD_DELETE, SL_METHOD_PATCH,
				    SL_METHOD_OTHER};
	for (size_t i = 0; i < NF(ms); i++)
		cr_assert_eq(sl_cache_invalidations(ms[i], 204, "http://a/x", NULL, 0, keys, 3), 1);
}

Test(cache_policy_invalidate, error_status_invalidates_nothing)
{
	/* RFC 9111 section 4.4: non-error status codes only */
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 404, "http://a/x", NULL, 0, keys, 3), 0);
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 500, "http://a/x", NULL, 0, keys, 3), 0);
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 100, "http://a/x", NULL, 0, keys, 3), 0);
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 303, "http://a/x", NULL, 0, keys, 3), 1);
}

Test(cache_policy_invalidate, location_same_origin)
{
	/* RFC 9111 section 4.4: Location and Content-Location, resolved */
	sl_field r[] = {F("Location", "/new?id=1"), F("Content-Location", "c/../d")};
	size_t n = sl_cache_invalidations(SL_METHOD_POST, 201, "http://a.example/dir/x", r, 2,
					  keys, 3);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(keys[0], "http://a.example/dir/x");
	cr_assert_str_eq(keys[1], "http://a.example/new?id=1");
	cr_assert_str_eq(keys[2], "http://a.example/dir/d");
}

Test(cache_policy_invalidate, cross_origin_location_ignored)
{
	/* RFC 9111 section 4.4: only URIs with the same origin */
	sl_field r[] = {F("Location", "http://other.example/x"),
			F("Content-Location", "https://a.example/x")};
	size_t n = sl_cache_invalidations(SL_METHOD_POST, 200, "http://a.example/x", r, 2, keys, 3);
	cr_assert_eq(n, 1);
}

Test(cache_policy_invalidate, port_is_part_of_origin)
{
	/* RFC 6454 origin: scheme, host and port */
	sl_field r[] = {F("Location", "http://a.example:8080/y"),
			F("Content-Location", "http://A.EXAMPLE:80/z")};
	size_t n = sl_cache_invalidations(SL_METHOD_PUT, 200, "http://a.example/x", r, 2, keys, 3);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(keys[1], "http://a.example/z");
}

Test(cache_policy_invalidate, duplicates_once)
{
	/* RFC 9111 section 4.4: one key per URI */
	sl_field r[] = {F("Location", "/x"), F("Content-Location", "http://a/x")};
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 200, "http://a/x", r, 2, keys, 3), 1);
}

Test(cache_policy_invalidate, bounded_by_max)
{
	sl_field r[] = {F("Location", "/y"), F("Content-Location", "/z")};
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 200, "http://a/x", r, 2, keys, 1), 1);
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 200, "http://a/x", r, 2, keys, 2), 2);
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 200, "http://a/x", r, 2, keys, 0), 0);
}

Test(cache_policy_invalidate, bad_target_or_location)
{
	/* RFC 9111 section 4.4: nothing to key */
	sl_field r[] = {F("Location", "http://[bad/")};
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 200, "/relative", NULL, 0, keys, 3), 0);
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 200, NULL, NULL, 0, keys, 3), 0);
	cr_assert_eq(sl_cache_invalidations(SL_METHOD_POST, 200, "http://a/x", r, 1, keys, 3), 1);
}

/* ================================================================== */
/* A client's conditional request (RFC 9110 section 13)               */
/* ================================================================== */

static enum sl_cache_cond cond(const sl_field *q, size_t qn, const sl_field *f, size_t n)
{
	sl_cache_req r = mkreq(SL_METHOD_GET, q, qn);
	return sl_cache_client_cond(&r, f, n);
}

Test(cache_policy_cond, not_conditional)
{
	/* RFC 9110 section 13.2.2 */
	sl_field f[] = {F("ETag", "\"a\"")};
	cr_assert_eq(cond(NULL, 0, f, 1), SL_CACHE_COND_NONE);
}

Test(cache_policy_cond, if_none_match_matches)
{
	/* RFC 9110 section 13.1.2 */
	sl_field f[] = {F("ETag", "\"a\"")};
	sl_field q[] = {F("If-None-Match", "\"a\"")};
	cr_assert_eq(cond(q, 1, f, 1), SL_CACHE_COND_NOT_MODIFIED);
}

Test(cache_policy_cond, if_none_match_weak_comparison)
{
	/* RFC 9110 section 13.1.2: weak comparison */
	sl_field f[] = {F("ETag", "W/\"a\"")};
	sl_field g[] = {F("ETag", "\"a\"")};
	sl_field q1[] = {F("If-None-Match", "\"a\"")};
	sl_field q2[] = {F("If-None-Match", "W/\"a\"")};
	cr_assert_eq(cond(q1, 1, f, 1), SL_CACHE_COND_NOT_MODIFIED);
	cr_assert_eq(cond(q2, 1, g, 1), SL_CACHE_COND_NOT_MODIFIED);
}

Test(cache_policy_cond, if_none_match_list)
{
	/* RFC 9110 section 13.1.2: any member of the list */
	sl_field f[] = {F("ETag", "\"b\"")};
	sl_field q[] = {F("If-None-Match", "\"x\", W/\"b\""), F("If-None-Match", "\"y\"")};
	cr_assert_eq(cond(q, 2, f, 1), SL_CACHE_COND_NOT_MODIFIED);
}

Test(cache_policy_cond, if_none_match_mismatch)
{
	/* RFC 9110 section 13.1.2: the condition is true, send the representation */
	sl_field f[] = {F("ETag", "\"a\"")};
	sl_field g[] = {F("Content-Type", "text/plain")};
	sl_field q[] = {F("If-None-Match", "\"b\"")};
	cr_assert_eq(cond(q, 1, f, 1), SL_CACHE_COND_FULL);
	cr_assert_eq(cond(q, 1, g, 1), SL_CACHE_COND_FULL);
}

Test(cache_policy_cond, if_none_match_star)
{
	/* RFC 9110 section 13.1.2: "*" matches any current representation */
	sl_field f[] = {F("Content-Type", "text/plain")};
	sl_field q[] = {F("If-None-Match", "*")};
	cr_assert_eq(cond(q, 1, f, 1), SL_CACHE_COND_NOT_MODIFIED);
}

Test(cache_policy_cond, if_none_match_beats_if_modified_since)
{
	/* RFC 9110 section 13.1.3: If-Modified-Since ignored with If-None-Match */
	sl_field f[] = {F("ETag", "\"a\""), F("Last-Modified", D(T0))};
	sl_field q[] = {F("If-None-Match", "\"b\""), F("If-Modified-Since", D(T0 + 100))};
	cr_assert_eq(cond(q, 2, f, 2), SL_CACHE_COND_FULL);
}

Test(cache_policy_cond, if_modified_since)
{
	/* RFC 9110 section 13.1.3: not modified since the date */
	sl_field f[] = {F("Last-Modified", D(T0))};
	sl_field q1[] = {F("If-Modified-Since", D(T0))};
	sl_field q2[] = {F("If-Modified-Since", D(T0 + 1))};
	sl_field q3[] = {F("If-Modified-Since", D(T0 - 1))};
	cr_assert_eq(cond(q1, 1, f, 1), SL_CACHE_COND_NOT_MODIFIED);
	cr_assert_eq(cond(q2, 1, f, 1), SL_CACHE_COND_NOT_MODIFIED);
	cr_assert_eq(cond(q3, 1, f, 1), SL_CACHE_COND_FULL);
}

Test(cache_policy_cond, if_modified_since_falls_back_to_date)
{
	/* RFC 9111 section 4.3.2: the stored Date without Last-Modified */
	sl_field f[] = {F("Date", D(T0))};
	sl_field q1[] = {F("If-Modified-Since", D(T0))};
	sl_field q2[] = {F("If-Modified-Since", D(T0 - 60))};
	cr_assert_eq(cond(q1, 1, f, 1), SL_CACHE_COND_NOT_MODIFIED);
	cr_assert_eq(cond(q2, 1, f, 1), SL_CACHE_COND_FULL);
	sl_field g[] = {F("Content-Type", "x")};
	cr_assert_eq(cond(q1, 1, g, 1), SL_CACHE_COND_NONE);
}

Test(cache_policy_cond, if_modified_since_invalid_ignored)
{
	/* RFC 9110 section 13.1.3: not a valid date, or more than one member */
	sl_field f[] = {F("Last-Modified", D(T0))};
	sl_field q1[] = {F("If-Modified-Since", "yesterday")};
	sl_field q2[] = {F("If-Modified-Since", D(T0)), F("If-Modified-Since", D(T0))};
	cr_assert_eq(cond(q1, 1, f, 1), SL_CACHE_COND_NONE);
	cr_assert_eq(cond(q2, 2, f, 1), SL_CACHE_COND_NONE);
}

Test(cache_policy_cond, only_get_and_head)
{
	/* RFC 9110 section 13.1.3: If-Modified-Since for GET and HEAD */
	sl_field f[] = {F("ETag", "\"a\"")};
	sl_field q[] = {F("If-None-Match", "\"a\"")};
	sl_cache_req h = mkreq(SL_METHOD_HEAD, q, 1), p = mkreq(SL_METHOD_POST, q, 1);
	cr_assert_eq(sl_cache_client_cond(&h, f, 1), SL_CACHE_COND_NOT_MODIFIED);
	cr_assert_eq(sl_cache_client_cond(&p, f, 1), SL_CACHE_COND_NONE);
}

/* ================================================================== */
/* Ranges (RFC 9110 section 14)                                       */
/* ================================================================== */

static enum sl_cache_range rng(const char *range, const char *if_range, const sl_field *f,
			       size_t n, uint64_t len, uint64_t *a, uint64_t *b)
{
	sl_field q[2];
	memset(q, 0, sizeof q);
	size_t qn = 0;
	if (range)
		q[qn++] = (sl_field)F("Range", range);
	if (if_range)
		q[qn++] = (sl_field)F("If-Range", if_range);
	sl_cache_req r = mkreq(SL_METHOD_GET, q, qn);
	*a = *b = 12345;
	return sl_cache_range(&r, f, n, len, a, b);
}

Test(cache_policy_range, no_range)
{
	/* RFC 9110 section 14.2 */
	uint64_t a, b;
	cr_assert_eq(rng(NULL, NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_NONE);
}

Test(cache_policy_range, first_last)
{
	/* RFC 9110 section 14.1.1: int-range */
	uint64_t a, b;
	cr_assert_eq(rng("bytes=0-499", NULL, NULL, 0, 10000, &a, &b), SL_CACHE_RANGE_SINGLE);
	cr_assert_eq(a, 0);
	cr_assert_eq(b, 499);
	cr_assert_eq(rng("bytes=500-999", NULL, NULL, 0, 10000, &a, &b), SL_CACHE_RANGE_SINGLE);
	cr_assert_eq(a, 500);
	cr_assert_eq(b, 999);
}

Test(cache_policy_range, open_ended)
{
	/* RFC 9110 section 14.1.1: "9500-" to the end */
	uint64_t a, b;
	cr_assert_eq(rng("bytes=9500-", NULL, NULL, 0, 10000, &a, &b), SL_CACHE_RANGE_SINGLE);
	cr_assert_eq(a, 9500);
	cr_assert_eq(b, 9999);
}

Test(cache_policy_range, suffix)
{
	/* RFC 9110 section 14.1.1: suffix-range "-500" */
	uint64_t a, b;
	cr_assert_eq(rng("bytes=-500", NULL, NULL, 0, 10000, &a, &b), SL_CACHE_RANGE_SINGLE);
	cr_assert_eq(a, 9500);
	cr_assert_eq(b, 9999);
}

Test(cache_policy_range, suffix_longer_than_body)
{
	/* RFC 9110 section 14.1.1: the entire representation */
	uint64_t a, b;
	cr_assert_eq(rng("bytes=-5000", NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_SINGLE);
	cr_assert_eq(a, 0);
	cr_assert_eq(b, 99);
}

Test(cache_policy_range, last_clipped)
{
	/* RFC 9110 section 14.1.1: last-pos beyond the end means the end */
	uint64_t a, b;
	cr_assert_eq(rng("bytes=10-99999999999999999999999", NULL, NULL, 0, 100, &a, &b),
		     SL_CACHE_RANGE_SINGLE);
	cr_assert_eq(a, 10);
	cr_assert_eq(b, 99);
}

Test(cache_policy_range, first_beyond_end)
{
	/* RFC 9110 section 14.1.1: unsatisfiable, 416 */
	uint64_t a, b;
	cr_assert_eq(rng("bytes=100-200", NULL, NULL, 0, 100, &a, &b),
		     SL_CACHE_RANGE_UNSATISFIABLE);
	cr_assert_eq(rng("bytes=100-", NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_UNSATISFIABLE);
}

Test(cache_policy_range, zero_suffix_and_empty_body)
{
	/* RFC 9110 section 14.1.1: "-0" and empty representations */
	uint64_t a, b;
	cr_assert_eq(rng("bytes=-0", NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_UNSATISFIABLE);
	cr_assert_eq(rng("bytes=0-0", NULL, NULL, 0, 0, &a, &b), SL_CACHE_RANGE_UNSATISFIABLE);
	cr_assert_eq(rng("bytes=-10", NULL, NULL, 0, 0, &a, &b), SL_CACHE_RANGE_UNSATISFIABLE);
}

Test(cache_policy_range, multiple)
{
	/* RFC 9110 section 14.6: multipart/byteranges is left to the origin */
	uint64_t a, b;
	cr_assert_eq(rng("bytes=0-1, 5-6", NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_MULTI);
	cr_assert_eq(rng("bytes=0-1,-5", NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_MULTI);
	cr_assert_eq(rng("bytes=0-1, 500-600", NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_MULTI);
}

Test(cache_policy_range, multiple_none_satisfiable)
{
	/* RFC 9110 section 15.5.17: no range overlaps the representation */
	uint64_t a, b;
	cr_assert_eq(rng("bytes=200-300, 400-", NULL, NULL, 0, 100, &a, &b),
		     SL_CACHE_RANGE_UNSATISFIABLE);
}

Test(cache_policy_range, other_units_ignored)
{
	/* RFC 9110 section 14.2: an unknown range unit is ignored */
	uint64_t a, b;
	cr_assert_eq(rng("items=0-5", NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_NONE);
	cr_assert_eq(rng("bytes 0-5", NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_NONE);
}

Test(cache_policy_range, unit_case_insensitive)
{
	/* RFC 9110 section 14.1: range unit names are case-insensitive */
	uint64_t a, b;
	cr_assert_eq(rng("Bytes=1-2", NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_SINGLE);
	cr_assert_eq(a, 1);
	cr_assert_eq(b, 2);
}

Test(cache_policy_range, malformed_ignored)
{
	/* RFC 9110 section 14.1.1: last-pos < first-pos and other bad syntax */
	const char *bad[] = {"bytes=5-1", "bytes=", "bytes=abc", "bytes=1-2-3", "bytes=-",
			     "bytes=1-2, x", "bytes= 1 -2", "bytes=0x1-2"};
	uint64_t a, b;
	for (size_t i = 0; i < NF(bad); i++)
		cr_assert_eq(rng(bad[i], NULL, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_NONE, "%s",
			     bad[i]);
}

Test(cache_policy_range, only_for_get)
{
	/* RFC 9110 section 14.2: GET is the only method with range handling */
	sl_field q[] = {F("Range", "bytes=0-1")};
	sl_cache_req r = mkreq(SL_METHOD_HEAD, q, 1);
	uint64_t a, b;
	cr_assert_eq(sl_cache_range(&r, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_NONE);
}

Test(cache_policy_range, two_range_fields_ignored)
{
	/* RFC 9110 section 14.2: Range is a singleton field */
	sl_field q[] = {F("Range", "bytes=0-1"), F("Range", "bytes=2-3")};
	sl_cache_req r = mkreq(SL_METHOD_GET, q, 2);
	uint64_t a, b;
	cr_assert_eq(sl_cache_range(&r, NULL, 0, 100, &a, &b), SL_CACHE_RANGE_NONE);
}

Test(cache_policy_range, if_range_etag)
{
	/* RFC 9110 section 13.1.5: strong comparison with the ETag */
	sl_field f[] = {F("ETag", "\"v1\"")};
	sl_field w[] = {F("ETag", "W/\"v1\"")};
	uint64_t a, b;
	cr_assert_eq(rng("bytes=0-1", "\"v1\"", f, 1, 100, &a, &b), SL_CACHE_RANGE_SINGLE);
	cr_assert_eq(rng("bytes=0-1", "\"v2\"", f, 1, 100, &a, &b), SL_CACHE_RANGE_NONE);
	cr_assert_eq(rng("bytes=0-1", "W/\"v1\"", f, 1, 100, &a, &b), SL_CACHE_RANGE_NONE);
	cr_assert_eq(rng("bytes=0-1", "\"v1\"", w, 1, 100, &a, &b), SL_CACHE_RANGE_NONE);
}

Test(cache_policy_range, if_range_date)
{
	/* RFC 9110 section 13.1.5: an exact match of a strong Last-Modified */
	sl_field f[] = {F("Last-Modified", D(T0)), F("Date", D(T0 + 60))};
	uint64_t a, b;
	cr_assert_eq(rng("bytes=0-1", D(T0), f, 2, 100, &a, &b), SL_CACHE_RANGE_SINGLE);
	cr_assert_eq(rng("bytes=0-1", D(T0 + 1), f, 2, 100, &a, &b), SL_CACHE_RANGE_NONE);
	cr_assert_eq(rng("bytes=0-1", D(T0 - 1), f, 2, 100, &a, &b), SL_CACHE_RANGE_NONE);
}

Test(cache_policy_range, if_range_weak_last_modified)
{
	/* RFC 9110 section 8.8.2.2: Last-Modified within the second of Date is weak */
	sl_field f[] = {F("Last-Modified", D(T0)), F("Date", D(T0))};
	sl_field g[] = {F("Last-Modified", D(T0))};
	uint64_t a, b;
	cr_assert_eq(rng("bytes=0-1", D(T0), f, 2, 100, &a, &b), SL_CACHE_RANGE_NONE);
	cr_assert_eq(rng("bytes=0-1", D(T0), g, 1, 100, &a, &b), SL_CACHE_RANGE_NONE);
}

Test(cache_policy_range, if_range_without_range)
{
	/* RFC 9110 section 13.1.5: If-Range without Range is ignored */
	sl_field f[] = {F("ETag", "\"v1\"")};
	uint64_t a, b;
	cr_assert_eq(rng(NULL, "\"v1\"", f, 1, 100, &a, &b), SL_CACHE_RANGE_NONE);
}

/* ================================================================== */
/* Result names                                                       */
/* ================================================================== */

Test(cache_policy_result, xcache_values)
{
	/* X-Cache values of every result */
	static const struct {
		enum sl_cache_result r;
		const char *x;
		const char *code;
	} t[] = {
		{SL_CACHE_RESULT_BYPASS, "BYPASS", "TCP_MISS"},
		{SL_CACHE_RESULT_MISS, "MISS", "TCP_MISS"},
		{SL_CACHE_RESULT_HIT, "HIT", "TCP_HIT"},
		{SL_CACHE_RESULT_MEM_HIT, "HIT", "TCP_MEM_HIT"},
		{SL_CACHE_RESULT_IMS_HIT, "HIT", "TCP_IMS_HIT"},
		{SL_CACHE_RESULT_REVALIDATED, "REVALIDATED", "TCP_REFRESH_UNMODIFIED"},
		{SL_CACHE_RESULT_REFRESHED, "MISS", "TCP_REFRESH_MODIFIED"},
		{SL_CACHE_RESULT_STALE, "STALE", "TCP_STALE_HIT"},
		{SL_CACHE_RESULT_STALE_ERROR, "STALE", "TCP_REFRESH_FAIL_OLD"},
		{SL_CACHE_RESULT_OFFLINE_MISS, "MISS", "TCP_MISS"},
		{SL_CACHE_RESULT_COLLAPSED, "HIT", "TCP_CF_HIT"},
	};
	for (size_t i = 0; i < NF(t); i++) {
		cr_assert_str_eq(sl_cache_result_xcache(t[i].r), t[i].x, "result %d", (int)t[i].r);
		cr_assert_str_eq(sl_cache_result_code(t[i].r), t[i].code, "result %d", (int)t[i].r);
	}
}

Test(cache_policy_result, out_of_range)
{
	cr_assert_str_eq(sl_cache_result_xcache((enum sl_cache_result)77), "MISS");
	cr_assert_str_eq(sl_cache_result_code((enum sl_cache_result)77), "TCP_MISS");
}
