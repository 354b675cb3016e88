/*
 * Unit tests of the header field operations (src/core/headers.c): lookup,
 * list iteration (RFC 9110 section 5.6.1), tokens, hop-by-hop removal
 * (section 7.6.1), delta-seconds and every Cache-Control directive of
 * RFC 9111 section 5.2, and the three HTTP-date formats of RFC 9110
 * section 5.6.7 with the specification's own example date.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "core/err.h"
#include "core/headers.h"

#define F(n, v) {SL_SLICE_LIT(n), SL_SLICE_LIT(v)}
#define NF(a) (sizeof(a) / sizeof((a)[0]))

/* 1994-11-06T08:49:37Z, the date of the RFC 9110 examples. */
#define RFC_TIME ((time_t)784111777)
/* 2025-01-01T00:00:00Z, a fixed "now" for two-digit years. */
#define NOW_2025 ((time_t)1735689600)

/* Collects the elements of an iterator into "a|b|c". */
static void join(sl_headers_list *it, char *out, size_t max)
{
	sl_slice e;
	size_t len = 0;
	out[0] = '\0';
	while (sl_headers_list_next(it, &e)) {
		cr_assert_lt(len + e.n + 2, max);
		if (len)
			out[len++] = '|';
		memcpy(out + len, e.p, e.n);
		len += e.n;
		out[len] = '\0';
	}
}

static void join_value(const char *v, char *out, size_t max)
{
	sl_headers_list it;
	sl_headers_list_value(&it, sl_slice_cstr(v));
	join(&it, out, max);
}

static sl_cache_control cc_of(const char *v)
{
	sl_field f[] = {{SL_SLICE_LIT("Cache-Control"), sl_slice_cstr(v)}};
	sl_cache_control cc;
	sl_cache_control_parse(f, 1, SL_CC_RESPONSE, &cc);
	return cc;
}

static int date_at(const char *s, time_t *t)
{
	return sl_http_date_parse_at(sl_slice_cstr(s), NOW_2025, t);
}

/* ---- lookup ---- */

Test(headers, find_is_case_insensitive)
{
	sl_field f[] = {F("Host", "a"), F("content-TYPE", "text/html"), F("X", "y")};
	cr_assert_eq(sl_headers_find(f, 3, "Content-Type"), 1);
	cr_assert_eq(sl_headers_find(f, 3, "CONTENT-type"), 1);
	cr_assert_eq(sl_headers_find(f, 3, "host"), 0);
	cr_assert_eq(sl_headers_find(f, 3, "Content-Length"), 3);
	cr_assert_eq(sl_headers_find(f, 3, "Hos"), 3, "a prefix is not a match");
}

Test(headers, find_next_walks_duplicates)
{
	sl_field f[] = {F("Via", "1"), F("Host", "h"), F("via", "2"), F("VIA", "3")};
	size_t i = sl_headers_find(f, 4, "Via");
	cr_assert_eq(i, 0);
	i = sl_headers_find_next(f, 4, "Via", i);
	cr_assert_eq(i, 2);
	i = sl_headers_find_next(f, 4, "Via", i);
	cr_assert_eq(i, 3);
	cr_assert_eq(sl_headers_find_next(f, 4, "Via", i), 4);
	cr_assert_eq(sl_headers_find_next(f, 4, "Via", 99), 4);
}

Test(headers, find_slice_from_index)
{
	sl_field f[] = {F("A", "1"), F("b", "2"), F("B", "3")};
	sl_slice name = {"bXX", 1};
	cr_assert_eq(sl_headers_find_slice(f, 3, name, 0), 1);
	cr_assert_eq(sl_headers_find_slice(f, 3, name, 2), 2);
	cr_assert_eq(sl_headers_find_slice(f, 3, name, 3), 3);
}

Test(headers, count_and_get)
{
	sl_field f[] = {F("Set-Cookie", "a=1"), F("set-cookie", "b=2"), F("Host", "h")};
	cr_assert_eq(sl_headers_count(f, 3, "SET-COOKIE"), 2);
	cr_assert_eq(sl_headers_count(f, 3, "Cookie"), 0);
	const sl_field *h = sl_headers_get(f, 3, "host");
	cr_assert_not_null(h);
	cr_assert(sl_slice_eq_cstr(h->value, "h"));
	cr_assert_null(sl_headers_get(f, 3, "Date"));
	cr_assert_null(sl_headers_get(NULL, 0, "Date"));
}

/* ---- lists ---- */

Test(headers, list_simple)
{
	char out[128];
	join_value("gzip, deflate,br", out, sizeof out);
	cr_assert_str_eq(out, "gzip|deflate|br");
}

Test(headers, list_skips_empty_elements)
{
	char out[128];
	join_value(", ,a,,b, ,", out, sizeof out);
	cr_assert_str_eq(out, "a|b");
	join_value(" , ,, ", out, sizeof out);
	cr_assert_str_eq(out, "");
	join_value("", out, sizeof out);
	cr_assert_str_eq(out, "");
}

Test(headers, list_trims_ows)
{
	char out[128];
	join_value("\t a \t,\tb c ,  d", out, sizeof out);
	cr_assert_str_eq(out, "a|b c|d");
}

Test(headers, list_respects_quotes)
{
	char out[128];
	sl_headers_list it;
	join_value("no-cache=\"Set-Cookie, X-A\", max-age=0", out, sizeof out);
	cr_assert_str_eq(out, "no-cache=\"Set-Cookie, X-A\"|max-age=0");
	sl_headers_list_value(&it, sl_slice_cstr("a=\"x\\\", y\", b"));
	join(&it, out, sizeof out);
	cr_assert_str_eq(out, "a=\"x\\\", y\"|b", "an escaped quote does not end the string");
	cr_assert_not(it.malformed);
}

Test(headers, list_unterminated_quote)
{
	char out[128];
	sl_headers_list it;
	sl_headers_list_value(&it, sl_slice_cstr("a, b=\"open, c"));
	join(&it, out, sizeof out);
	cr_assert_str_eq(out, "a|b=\"open, c");
	cr_assert(it.malformed);
}

Test(headers, list_across_fields)
{
	sl_field f[] = {
		F("Accept-Encoding", "gzip"), F("Host", "h"),
		F("accept-encoding", ""), F("Accept-Encoding", " br , , zstd"),
	};
	sl_headers_list it;
	char out[128];
	sl_headers_list_fields(&it, f, NF(f), "Accept-Encoding");
	join(&it, out, sizeof out);
	cr_assert_str_eq(out, "gzip|br|zstd");
	sl_headers_list_fields(&it, f, NF(f), "TE");
	join(&it, out, sizeof out);
	cr_assert_str_eq(out, "");
}

Test(headers, elem_is_token_match)
{
	cr_assert(sl_headers_elem_is(SL_SLICE_LIT("Chunked"), "chunked"));
	cr_assert(sl_headers_elem_is(SL_SLICE_LIT("chunked;ext=1"), "chunked"));
	cr_assert(sl_headers_elem_is(SL_SLICE_LIT("no-cache=\"a\""), "no-cache"));
	cr_assert(sl_headers_elem_is(SL_SLICE_LIT("gzip ;q=1"), "gzip"));
	cr_assert_not(sl_headers_elem_is(SL_SLICE_LIT("chunkedx"), "chunked"));
	cr_assert_not(sl_headers_elem_is(SL_SLICE_LIT("chunk"), "chunked"));
}

Test(headers, has_token_connection)
{
	sl_field f[] = {F("connection", "keep-alive, Upgrade"), F("Connection", "CLOSE")};
	cr_assert(sl_headers_has_token(f, 2, "Connection", "close"));
	cr_assert(sl_headers_has_token(f, 2, "Connection", "upgrade"));
	cr_assert(sl_headers_has_token(f, 2, "CONNECTION", "Keep-Alive"));
	cr_assert_not(sl_headers_has_token(f, 2, "Connection", "clos"));
	cr_assert_not(sl_headers_has_token(f, 2, "Connection", "alive"));
	cr_assert_not(sl_headers_has_token(f, 2, "Upgrade", "close"));
}

Test(headers, has_token_transfer_encoding)
{
	sl_field f[] = {F("Transfer-Encoding", "gzip"), F("Transfer-Encoding", "Chunked")};
	sl_field g[] = {F("Transfer-Encoding", "\"chunked, gzip\"")};
	cr_assert(sl_headers_has_token(f, 2, "Transfer-Encoding", "chunked"));
	cr_assert(sl_headers_has_token(f, 2, "transfer-encoding", "GZIP"));
	cr_assert_not(sl_headers_has_token(g, 1, "Transfer-Encoding", "chunked"),
		      "a token inside a quoted string does not count");
}

/* ---- hop-by-hop ---- */

Test(headers, strip_hop_fixed_set)
{
	sl_field f[] = {
		F("Host", "example.org"), F("Connection", "keep-alive"), F("Keep-Alive", "timeout=5"),
		F("Proxy-Connection", "keep-alive"), F("Proxy-Authorization", "Basic eA=="),
		F("Proxy-Authenticate", "Basic realm=x"), F("TE", "trailers"), F("Trailer", "X"),
		F("Transfer-Encoding", "chunked"), F("Upgrade", "websocket"), F("Accept", "*/*"),
	};
	size_t n = sl_headers_strip_hop(f, NF(f));
	cr_assert_eq(n, 2);
	cr_assert(sl_slice_eq_cstr(f[0].name, "Host"));
	cr_assert(sl_slice_eq_cstr(f[1].name, "Accept"));
}

Test(headers, strip_hop_named_in_connection)
{
	sl_field f[] = {
		F("X-Secret", "1"), F("Host", "h"), F("Connection", "x-secret, X-Other"),
		F("Via", "1.1 a"), F("x-other", "2"), F("connection", " ,X-Third"),
		F("X-Third", "3"), F("Date", "d"), F("X-Kept", "4"),
	};
	size_t n = sl_headers_strip_hop(f, NF(f));
	cr_assert_eq(n, 4);
	cr_assert(sl_slice_eq_cstr(f[0].name, "Host"));
	cr_assert(sl_slice_eq_cstr(f[1].name, "Via"));
	cr_assert(sl_slice_eq_cstr(f[2].name, "Date"));
	cr_assert(sl_slice_eq_cstr(f[3].name, "X-Kept"));
}

Test(headers, strip_hop_any_case_and_near_names)
{
	sl_field f[] = {
		F("connection", "close"), F("KEEP-ALIVE", "x"), F("proxy-connection", "x"),
		F("PROXY-AUTHORIZATION", "x"), F("proxy-authenticate", "x"), F("te", "x"),
		F("TRAILER", "x"), F("transfer-encoding", "x"), F("UPGRADE", "x"),
		F("Connectiox", "kept"), F("Trailers", "kept"), F("Upgrades", "kept"), F("T", "kept"),
		F("Proxy-Authorizatio", "kept"), F("Transfer-Encodinx", "kept"),
	};
	size_t n = sl_headers_strip_hop(f, NF(f));
	cr_assert_eq(n, 6);
	for (size_t i = 0; i < n; i++)
		cr_assert(sl_slice_eq_cstr(f[i].value, "kept"));
}

Test(headers, strip_hop_many_connection_options)
{
	/* More options than the fast path collects: every one still counts. */
	sl_field f[] = {
		F("Connection", "o1, o2, o3, o4, o5, o6, o7, o8, o9, o10"),
		F("Connection", "o11, o12, o13, o14, o15, o16, o17, o18, o19, o20"),
		F("O1", "x"), F("o20", "x"), F("O17", "x"), F("Keep", "y"), F("Host", "h"),
	};
	size_t n = sl_headers_strip_hop(f, NF(f));
	cr_assert_eq(n, 2);
	cr_assert(sl_slice_eq_cstr(f[0].name, "Keep"));
	cr_assert(sl_slice_eq_cstr(f[1].name, "Host"));
}

Test(headers, strip_hop_keeps_removed_fields_in_tail)
{
	sl_field f[] = {F("Connection", "close"), F("A", "1"), F("Keep-Alive", "x"), F("B", "2")};
	size_t n = sl_headers_strip_hop(f, NF(f));
	cr_assert_eq(n, 2);
	cr_assert(sl_slice_eq_cstr(f[0].name, "A"));
	cr_assert(sl_slice_eq_cstr(f[1].name, "B"));
	cr_assert(sl_headers_has_token(f + n, NF(f) - n, "Connection", "close"));
	cr_assert_eq(sl_headers_count(f + n, NF(f) - n, "Keep-Alive"), 1);
}

Test(headers, strip_hop_protects_host_and_length)
{
	sl_field f[] = {
		F("Host", "h"), F("Content-Length", "5"), F("Connection", "Host, content-length, X-A"),
		F("X-A", "a"),
	};
	size_t n = sl_headers_strip_hop(f, NF(f));
	cr_assert_eq(n, 2);
	cr_assert(sl_slice_eq_cstr(f[0].name, "Host"));
	cr_assert(sl_slice_eq_cstr(f[1].name, "Content-Length"));
}

Test(headers, strip_hop_keep_upgrade)
{
	sl_field f[] = {
		F("Host", "h"), F("Connection", "Upgrade"), F("Upgrade", "websocket"),
		F("Sec-WebSocket-Key", "k"), F("TE", "trailers"),
	};
	size_t n = sl_headers_strip_hop_keep(f, NF(f), SL_HOP_UPGRADE);
	cr_assert_eq(n, 3);
	cr_assert(sl_slice_eq_cstr(f[0].name, "Host"));
	cr_assert(sl_slice_eq_cstr(f[1].name, "Upgrade"));
	cr_assert(sl_slice_eq_cstr(f[2].name, "Sec-WebSocket-Key"));
}

Test(headers, strip_hop_keep_named_and_proxy_auth)
{
	sl_field f[] = {
		F("Connection", "X-A"), F("X-A", "a"), F("Proxy-Authorization", "Basic eA=="),
	};
	size_t n = sl_headers_strip_hop_keep(f, NF(f), SL_HOP_NAMED | SL_HOP_PROXY_AUTHORIZATION);
	cr_assert_eq(n, 2);
	cr_assert(sl_slice_eq_cstr(f[0].name, "X-A"));
	cr_assert(sl_slice_eq_cstr(f[1].name, "Proxy-Authorization"));
}

Test(headers, strip_hop_nothing_to_do)
{
	sl_field f[] = {F("Host", "h"), F("Accept", "*/*"), F("Date", "d")};
	cr_assert_eq(sl_headers_strip_hop(f, NF(f)), 3);
	cr_assert(sl_slice_eq_cstr(f[2].name, "Date"));
	cr_assert_eq(sl_headers_strip_hop(f, 0), 0);
}

/* ---- delta-seconds ---- */

Test(headers, delta_seconds)
{
	int64_t v = 7;
	cr_assert_eq(sl_delta_seconds_parse(SL_SLICE_LIT("0"), &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(sl_delta_seconds_parse(SL_SLICE_LIT("3600"), &v), 0);
	cr_assert_eq(v, 3600);
	cr_assert_eq(sl_delta_seconds_parse(SL_SLICE_LIT("2147483647"), &v), 0);
	cr_assert_eq(v, 2147483647);
	cr_assert_eq(sl_delta_seconds_parse(SL_SLICE_LIT("2147483649"), &v), 0);
	cr_assert_eq(v, SL_DELTA_MAX);
	cr_assert_eq(sl_delta_seconds_parse(SL_SLICE_LIT("99999999999999999999999999"), &v), 0);
	cr_assert_eq(v, SL_DELTA_MAX);
	v = 7;
	cr_assert_eq(sl_delta_seconds_parse(SL_SLICE_LIT(""), &v), SL_E_INVAL);
	cr_assert_eq(sl_delta_seconds_parse(SL_SLICE_LIT("-1"), &v), SL_E_INVAL);
	cr_assert_eq(sl_delta_seconds_parse(SL_SLICE_LIT("1.5"), &v), SL_E_INVAL);
	cr_assert_eq(sl_delta_seconds_parse(SL_SLICE_LIT(" 1"), &v), SL_E_INVAL);
	cr_assert_eq(v, 7);
}

/* ---- Cache-Control ---- */

Test(headers, cc_absent)
{
	sl_field f[] = {F("Host", "h")};
	sl_cache_control cc;
	sl_cache_control_parse(f, 1, SL_CC_RESPONSE, &cc);
	cr_assert_not(cc.present);
	cr_assert_eq(cc.max_age, SL_CC_UNSET);
	cr_assert_eq(cc.s_maxage, SL_CC_UNSET);
	cr_assert_eq(cc.max_stale, SL_CC_UNSET);
	cr_assert_eq(cc.min_fresh, SL_CC_UNSET);
	cr_assert_eq(cc.stale_while_revalidate, SL_CC_UNSET);
	cr_assert_eq(cc.stale_if_error, SL_CC_UNSET);
	cr_assert_not(cc.no_cache || cc.no_store || cc.is_private || cc.is_public);
}

Test(headers, cc_max_age_and_s_maxage)
{
	sl_cache_control cc = cc_of("public, max-age=3600, s-maxage=60");
	cr_assert(cc.present);
	cr_assert(cc.is_public);
	cr_assert_eq(cc.max_age, 3600);
	cr_assert_eq(cc.s_maxage, 60);
	cr_assert_not(cc.malformed);
}

Test(headers, cc_quoted_arguments)
{
	sl_cache_control cc = cc_of("max-age=\"120\", s-maxage=\"5\", stale-if-error=\"9\"");
	cr_assert_eq(cc.max_age, 120);
	cr_assert_eq(cc.s_maxage, 5);
	cr_assert_eq(cc.stale_if_error, 9);
	cr_assert_not(cc.malformed);
}

Test(headers, cc_saturates_delta_seconds)
{
	sl_cache_control cc = cc_of("max-age=99999999999");
	cr_assert_eq(cc.max_age, SL_DELTA_MAX);
}

Test(headers, cc_max_stale_with_and_without_value)
{
	sl_cache_control cc = cc_of("max-stale");
	cr_assert_eq(cc.max_stale, SL_DELTA_MAX);
	cc = cc_of("max-stale=30");
	cr_assert_eq(cc.max_stale, 30);
	cc = cc_of("max-stale, max-stale=30");
	cr_assert_eq(cc.max_stale, 30, "the bounded one is more restrictive");
	cc = cc_of("max-stale=abc");
	cr_assert_eq(cc.max_stale, SL_CC_UNSET);
	cr_assert(cc.malformed);
}

Test(headers, cc_min_fresh_and_only_if_cached)
{
	sl_cache_control cc = cc_of("min-fresh=10, only-if-cached, min-fresh=20");
	cr_assert_eq(cc.min_fresh, 20, "the largest min-fresh is the most restrictive");
	cr_assert(cc.only_if_cached);
}

Test(headers, cc_duplicates_across_fields)
{
	sl_field f[] = {
		F("Cache-Control", "max-age=600"), F("Host", "h"),
		F("cache-control", "max-age=60, s-maxage=10"), F("Cache-Control", "s-maxage=20"),
	};
	sl_cache_control cc;
	sl_cache_control_parse(f, NF(f), SL_CC_RESPONSE, &cc);
	cr_assert_eq(cc.max_age, 60);
	cr_assert_eq(cc.s_maxage, 10);
}

Test(headers, cc_no_cache_forms)
{
	sl_cache_control cc = cc_of("no-cache");
	cr_assert(cc.no_cache);
	cr_assert_null(cc.no_cache_fields.p);

	cc = cc_of("no-cache=\"Set-Cookie, X-Foo\"");
	cr_assert(cc.no_cache);
	cr_assert(sl_slice_eq_cstr(cc.no_cache_fields, "Set-Cookie, X-Foo"));
	sl_headers_list it;
	char out[64];
	sl_headers_list_value(&it, cc.no_cache_fields);
	join(&it, out, sizeof out);
	cr_assert_str_eq(out, "Set-Cookie|X-Foo");

	cc = cc_of("no-cache=Set-Cookie");
	cr_assert(sl_slice_eq_cstr(cc.no_cache_fields, "Set-Cookie"), "token form accepted");
}

Test(headers, cc_no_cache_duplicates_become_unqualified)
{
	sl_cache_control cc = cc_of("no-cache=\"a\", no-cache");
	cr_assert(cc.no_cache);
	cr_assert_null(cc.no_cache_fields.p);
	cc = cc_of("no-cache, no-cache=\"a\"");
	cr_assert_null(cc.no_cache_fields.p);
	cc = cc_of("no-cache=\"a\", no-cache=\"b\"");
	cr_assert(cc.no_cache);
	cr_assert_null(cc.no_cache_fields.p);
}

Test(headers, cc_private_forms)
{
	sl_cache_control cc = cc_of("private");
	cr_assert(cc.is_private);
	cr_assert_null(cc.private_fields.p);
	cc = cc_of("private=\"Authorization\", max-age=10");
	cr_assert(cc.is_private);
	cr_assert(sl_slice_eq_cstr(cc.private_fields, "Authorization"));
	cr_assert_eq(cc.max_age, 10);
	cc = cc_of("private=\"unterminated");
	cr_assert(cc.is_private);
	cr_assert_null(cc.private_fields.p, "a broken list reads as unqualified");
	cr_assert(cc.malformed);
}

Test(headers, cc_boolean_directives)
{
	sl_cache_control cc = cc_of("no-store, no-transform, only-if-cached, must-revalidate, "
				    "proxy-revalidate, must-understand, public, immutable");
	cr_assert(cc.no_store);
	cr_assert(cc.no_transform);
	cr_assert(cc.only_if_cached);
	cr_assert(cc.must_revalidate);
	cr_assert(cc.proxy_revalidate);
	cr_assert(cc.must_understand);
	cr_assert(cc.is_public);
	cr_assert(cc.immutable);
	cr_assert_not(cc.no_cache);
	cr_assert_not(cc.is_private);
}

Test(headers, cc_stale_extensions)
{
	sl_cache_control cc = cc_of("max-age=600, stale-while-revalidate=30, stale-if-error=86400");
	cr_assert_eq(cc.stale_while_revalidate, 30);
	cr_assert_eq(cc.stale_if_error, 86400);
	cc = cc_of("stale-while-revalidate=30, stale-while-revalidate=10");
	cr_assert_eq(cc.stale_while_revalidate, 10);
}

Test(headers, cc_names_case_insensitive_unknown_ignored)
{
	sl_cache_control cc = cc_of("MAX-AGE=5, x-custom=\"a, max-age=1\", community=\"UCI\", No-Store");
	cr_assert_eq(cc.max_age, 5, "a directive inside a quoted argument is not a directive");
	cr_assert(cc.no_store);
	cr_assert_not(cc.malformed);
}

Test(headers, cc_malformed_max_age_is_stale)
{
	sl_cache_control cc = cc_of("max-age=abc");
	cr_assert_eq(cc.max_age, 0);
	cr_assert(cc.malformed);
	cc = cc_of("max-age");
	cr_assert_eq(cc.max_age, 0);
	cc = cc_of("s-maxage=-5, max-age=100");
	cr_assert_eq(cc.s_maxage, 0);
	cr_assert_eq(cc.max_age, 100);
	cc = cc_of("min-fresh=x");
	cr_assert_eq(cc.min_fresh, SL_CC_UNSET);
	cr_assert(cc.malformed);
	cc = cc_of("max-age=\"12");
	cr_assert_eq(cc.max_age, 0);
}

Test(headers, cc_pragma_fallback_for_requests)
{
	sl_field f[] = {F("Host", "h"), F("Pragma", "no-cache")};
	sl_cache_control cc;
	sl_cache_control_parse(f, NF(f), SL_CC_REQUEST, &cc);
	cr_assert(cc.no_cache);
	cr_assert(cc.pragma_no_cache);
	cr_assert_not(cc.present);
	sl_cache_control_parse(f, NF(f), SL_CC_RESPONSE, &cc);
	cr_assert_not(cc.no_cache, "Pragma means nothing on a response");

	sl_field g[] = {F("Pragma", "no-cache"), F("Cache-Control", "max-age=10")};
	sl_cache_control_parse(g, NF(g), SL_CC_REQUEST, &cc);
	cr_assert_not(cc.no_cache, "Cache-Control present: Pragma is ignored");
	cr_assert_eq(cc.max_age, 10);
}

Test(headers, cc_merge_accumulates)
{
	sl_cache_control cc;
	sl_cache_control_clear(&cc);
	sl_cache_control_merge(&cc, SL_SLICE_LIT("max-age=100"));
	sl_cache_control_merge(&cc, SL_SLICE_LIT("max-age=50, no-store"));
	cr_assert_eq(cc.max_age, 50);
	cr_assert(cc.no_store);
	cr_assert(cc.present);
}

/* ---- HTTP-date ---- */

Test(headers, date_imf_fixdate)
{
	time_t t = 0;
	cr_assert_eq(date_at("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	cr_assert_eq(t, RFC_TIME);
	cr_assert_eq(sl_http_date_parse(SL_SLICE_LIT("Sun, 06 Nov 1994 08:49:37 GMT"), &t), 0);
	cr_assert_eq(t, RFC_TIME);
}

Test(headers, date_rfc850)
{
	time_t t = 0;
	cr_assert_eq(date_at("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
	cr_assert_eq(t, RFC_TIME);
}

Test(headers, date_asctime)
{
	time_t t = 0;
	cr_assert_eq(date_at("Sun Nov  6 08:49:37 1994", &t), 0);
	cr_assert_eq(t, RFC_TIME);
	cr_assert_eq(date_at("Thu Jan 01 00:00:00 1970", &t), 0);
	cr_assert_eq(t, 0);
}

Test(headers, date_rfc850_two_digit_year_window)
{
	time_t t, u;
	/* With now in 2025, "70" is 2070 (45 years ahead), "76" is 1976. */
	cr_assert_eq(date_at("Wednesday, 01-Jan-70 00:00:00 GMT", &t), 0);
	cr_assert_eq(sl_http_date_parse_at(SL_SLICE_LIT("Wed, 01 Jan 2070 00:00:00 GMT"), 0, &u), 0);
	cr_assert_eq(t, u);
	cr_assert_eq(date_at("Thursday, 01-Jan-76 00:00:00 GMT", &t), 0);
	cr_assert_eq(t, (time_t)189302400);
}

Test(headers, date_other_known_values)
{
	time_t t;
	cr_assert_eq(date_at("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
	cr_assert_eq(t, 0);
	cr_assert_eq(date_at("Tue, 29 Feb 2000 12:00:00 GMT", &t), 0);
	cr_assert_eq(t, (time_t)951825600);
	cr_assert_eq(date_at("Fri, 31 Dec 1999 23:59:60 GMT", &t), 0, "leap second");
	cr_assert_eq(t, (time_t)946684800);
	cr_assert_eq(date_at("Mon, 01 Jan 1900 00:00:00 GMT", &t), 0);
	cr_assert_eq(t, (time_t)-2208988800LL);
}

Test(headers, date_invalid)
{
	static const char *const bad[] = {
		"",
		"Sun",
		"Sun, 06 Nov 1994 08:49:37",          /* no GMT */
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"Sun, 06 Nov 1994 08:49:37 GMT ",     /* trailing text */
		" Sun, 06 Nov 1994 08:49:37 GMT",
		"Sun, 6 Nov 1994 08:49:37 GMT",
		"Sun, 06 nov 1994 08:49:37 GMT",      /* case-sensitive */
		"sun, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nox 1994 08:49:37 GMT",
		"Sun, 06 Nov 94 08:49:37 GMT",
		"Sun, 32 Jan 1994 08:49:37 GMT",
		"Sun, 00 Jan 1994 08:49:37 GMT",
		"Sun, 29 Feb 1900 00:00:00 GMT",      /* 1900 is not a leap year */
		"Sun, 31 Apr 1994 00:00:00 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:00 GMT",
		"Sun, 06 Nov 1994 08:49:61 GMT",
		"Sun, 06 Nov 1994 8:49:37 GMT",
		"Xyz, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-1994 08:49:37 GMT",
		"Sunday, 06 Nov 94 08:49:37 GMT",
		"Sun, 06-Nov-94 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37",
		"Sun Nov 6 08:49:37 1994",
		"Sun Nov  6 08:49:37 94",
		"Sun Nov  6 08:49:37 1994 GMT",
		"Sun Nov 06 08:49:37",
		"1994-11-06T08:49:37Z",
		"784111777",
	};
	for (size_t i = 0; i < NF(bad); i++) {
		time_t t = 42;
		cr_assert_eq(date_at(bad[i], &t), SL_E_INVAL, "accepted \"%s\"", bad[i]);
		cr_assert_eq(t, 42);
	}
	time_t t;
	cr_assert_eq(sl_http_date_parse_at(SL_SLICE_NULL, NOW_2025, &t), SL_E_INVAL);
}

Test(headers, date_format_rfc_example)
{
	char buf[SL_HTTP_DATE_BUFSZ];
	cr_assert_eq(sl_http_date_format(RFC_TIME, buf), 0);
	cr_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	cr_assert_eq(strlen(buf), SL_HTTP_DATE_LEN);
	cr_assert_eq(sl_http_date_format(0, buf), 0);
	cr_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
	cr_assert_eq(sl_http_date_format((time_t)-1, buf), 0);
	cr_assert_str_eq(buf, "Wed, 31 Dec 1969 23:59:59 GMT");
	cr_assert_eq(sl_http_date_format((time_t)951825600, buf), 0);
	cr_assert_str_eq(buf, "Tue, 29 Feb 2000 12:00:00 GMT");
}

Test(headers, date_format_out_of_range)
{
	char buf[SL_HTTP_DATE_BUFSZ];
	cr_assert_eq(sl_http_date_format((time_t)253402300799LL, buf), 0);
	cr_assert_str_eq(buf, "Fri, 31 Dec 9999 23:59:59 GMT");
	cr_assert_eq(sl_http_date_format((time_t)253402300800LL, buf), SL_E_INVAL);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(sl_http_date_format((time_t)-62167219201LL, buf), SL_E_INVAL);
}

Test(headers, date_round_trip)
{
	char buf[SL_HTTP_DATE_BUFSZ];
	struct tm tm;
	/* Compare with the C library over many days, and parse back. */
	for (int64_t t = -2208988800LL; t < 4102444800LL; t += 86400 * 37 + 3671) {
		cr_assert_eq(sl_http_date_format((time_t)t, buf), 0);
		time_t tt = (time_t)t;
		char ref[64];
		gmtime_r(&tt, &tm);
		strftime(ref, sizeof ref, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cr_assert_str_eq(buf, ref);
		time_t back;
		cr_assert_eq(sl_http_date_parse_at(sl_slice_cstr(buf), NOW_2025, &back), 0);
		cr_assert_eq(back, tt);
	}
}
