/*
 * Unit tests of the cookie jar (src/client/cookie_jar.c): the examples of
 * RFC 6265 section 3.1, domain matching (section 5.1.3), path matching and
 * the default path (5.1.4), the cookie-date algorithm (5.1.1), the
 * attribute rules of 5.2, the storage model of 5.3 with its limits and
 * eviction, the Cookie header of 5.4, the RFC 6265bis rules for Secure
 * cookies and name prefixes, and the Netscape cookie file both as the jar
 * writes it and as curl writes it. Every test uses a fixed clock.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/cookie_jar.h"
#include "core/err.h"

/* 2020-01-01T00:00:00Z: before the RFC's 2021 example date. */
#define NOW ((time_t)1577836800)
/* 2021-06-09T10:18:14Z, "Wed, 09 Jun 2021 10:18:14 GMT". */
#define JUN_2021 ((time_t)1623233894)

static sl_cookie_jar *jar;
static char hbuf[65536];

static void setup(void)
{
	jar = sl_cookie_jar_new();
	cr_assert_not_null(jar);
}

static void teardown(void)
{
	sl_cookie_jar_free(jar);
	jar = NULL;
}

TestSuite(cookie_jar, .init = setup, .fini = teardown);

/* Parses a URL given as a literal (its slices point into the literal). */
static sl_url url(const char *s)
{
	sl_url u;
	cr_assert_eq(sl_url_parse(s, strlen(s), &u), 0, "bad test URL %s", s);
	return u;
}

static int set_at(const char *u, const char *sc, time_t now)
{
	sl_url r = url(u);
	return sl_cookie_jar_set_cookie(jar, &r, sl_slice_cstr(sc), now);
}

static int set(const char *u, const char *sc)
{
	return set_at(u, sc, NOW);
}

/* The Cookie header for a request to u, as an HTTP request would send it. */
static const char *hdr_at(const char *u, time_t now, bool http_api)
{
	sl_url r = url(u);
	int n = sl_cookie_jar_header(jar, &r, now, http_api, hbuf, sizeof hbuf);
	cr_assert_geq(n, 0, "header: %s", sl_strerror(n));
	cr_assert_eq(strlen(hbuf), (size_t)n);
	return hbuf;
}

static const char *hdr(const char *u)
{
	return hdr_at(u, NOW, true);
}

static sl_cookie_info get(const char *domain, const char *path, const char *name)
{
	sl_cookie_info ci;
	cr_assert(sl_cookie_jar_find(jar, domain, path, name, &ci), "no cookie %s %s %s", domain,
		  path, name);
	return ci;
}

static bool has(const char *domain, const char *path, const char *name)
{
	sl_cookie_info ci;
	return sl_cookie_jar_find(jar, domain, path, name, &ci);
}

static time_t date(const char *s)
{
	time_t t = 0;
	cr_assert_eq(sl_cookie_date_parse(sl_slice_cstr(s), &t), 0, "date \"%s\"", s);
	return t;
}

static bool date_fails(const char *s)
{
	time_t t = 12345;
	return sl_cookie_date_parse(sl_slice_cstr(s), &t) == SL_E_INVAL && t == 12345;
}

/* A fresh directory under /tmp for file tests; removed by rmtree(). */
static char *tmpdir(char buf[64])
{
	strcpy(buf, "/tmp/sl-cookie-XXXXXX");
	cr_assert_not_null(mkdtemp(buf));
	return buf;
}

static void rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];
	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

/* ---- RFC 6265 section 3.1 ---- */

Test(cookie_jar, rfc_3_1_domain_cookie_sent_to_subdomain)
{
	cr_assert_eq(set("http://example.com/", "SID=31d4d96e407aad42; Path=/; Domain=example.com"), 0);
	cr_assert_str_eq(hdr("http://www.example.com/"), "SID=31d4d96e407aad42");
	cr_assert_str_eq(hdr("http://example.com/any/path"), "SID=31d4d96e407aad42");
	sl_cookie_info ci = get("example.com", "/", "SID");
	cr_assert_not(ci.host_only);
	cr_assert_not(ci.persistent);
	cr_assert_eq(ci.expiry, 0);
}

Test(cookie_jar, rfc_3_1_secure_httponly_and_lang)
{
	cr_assert_eq(set("https://example.com/", "SID=31d4d96e407aad42; Path=/; Secure; HttpOnly"), 0);
	cr_assert_eq(set("https://example.com/", "lang=en-US; Path=/; Domain=example.com"), 0);
	cr_assert_str_eq(hdr("https://example.com/"), "SID=31d4d96e407aad42; lang=en-US");
	/* Secure stays off plain http; HttpOnly stays away from scripts. */
	cr_assert_str_eq(hdr("http://example.com/"), "lang=en-US");
	cr_assert_str_eq(hdr_at("https://example.com/", NOW, false), "lang=en-US");
	/* SID is host-only: www.example.com only gets lang. */
	cr_assert_str_eq(hdr("https://www.example.com/"), "lang=en-US");
}

Test(cookie_jar, rfc_3_1_expires_then_deleted_by_past_date)
{
	cr_assert_eq(set("http://example.com/",
			 "lang=en-US; Expires=Wed, 09 Jun 2021 10:18:14 GMT"), 0);
	sl_cookie_info ci = get("example.com", "/", "lang");
	cr_assert(ci.persistent);
	cr_assert_eq(ci.expiry, JUN_2021);
	cr_assert_str_eq(hdr("http://example.com/"), "lang=en-US");
	/* The RFC's way to delete: same name, domain and path, a past date. */
	cr_assert_eq(set("http://example.com/", "lang=; Expires=Sun, 06 Nov 1994 08:49:37 GMT"), 0);
	cr_assert_not(has("example.com", "/", "lang"));
	cr_assert_eq(sl_cookie_jar_count(jar), 0);
	cr_assert_str_eq(hdr("http://example.com/"), "");
}

Test(cookie_jar, expires_passes_with_time)
{
	cr_assert_eq(set("http://example.com/", "lang=en-US; Expires=Wed, 09 Jun 2021 10:18:14 GMT"), 0);
	cr_assert_str_eq(hdr_at("http://example.com/", JUN_2021 - 1, true), "lang=en-US");
	cr_assert_str_eq(hdr_at("http://example.com/", JUN_2021, true), "");
	/* The expired cookie met by the lookup is gone for good. */
	cr_assert_eq(sl_cookie_jar_count(jar), 0);
}

/* ---- Domains (section 5.1.3 and 5.3 steps 4 to 6) ---- */

Test(cookie_jar, host_only_cookie_stays_on_its_host)
{
	cr_assert_eq(set("http://example.com/", "a=1"), 0);
	cr_assert(get("example.com", "/", "a").host_only);
	cr_assert_str_eq(hdr("http://example.com/"), "a=1");
	cr_assert_str_eq(hdr("http://EXAMPLE.com/"), "a=1");
	cr_assert_str_eq(hdr("http://www.example.com/"), "");
	cr_assert_str_eq(hdr("http://com/"), "");
}

Test(cookie_jar, domain_cookie_matches_subdomains_not_lookalikes)
{
	cr_assert_eq(set("http://www.example.com/", "a=1; Domain=example.com"), 0);
	cr_assert_str_eq(hdr("http://example.com/"), "a=1");
	cr_assert_str_eq(hdr("http://www.example.com/"), "a=1");
	cr_assert_str_eq(hdr("http://a.b.example.com/"), "a=1");
	cr_assert_str_eq(hdr("http://notexample.com/"), "");
	cr_assert_str_eq(hdr("http://example.com.evil.net/"), "");
	cr_assert_str_eq(hdr("http://example.org/"), "");
}

Test(cookie_jar, domain_must_domain_match_the_request_host)
{
	cr_assert_eq(set("http://www.example.com/", "a=1; Domain=notexample.com"), SL_E_COOKIE_DOMAIN);
	cr_assert_eq(set("http://www.example.com/", "a=1; Domain=ample.com"), SL_E_COOKIE_DOMAIN);
	cr_assert_eq(set("http://www.example.com/", "a=1; Domain=sub.www.example.com"),
		     SL_E_COOKIE_DOMAIN);
	cr_assert_eq(set("http://example.com/", "a=1; Domain=www.example.com"), SL_E_COOKIE_DOMAIN);
	cr_assert_eq(sl_cookie_jar_count(jar), 0);
}

Test(cookie_jar, domain_attribute_dot_case_and_empty)
{
	cr_assert_eq(set("http://www.Example.com/", "a=1; Domain=.EXAMPLE.Com"), 0);
	sl_cookie_info ci = get("example.com", "/", "a");
	cr_assert_str_eq(ci.domain, "example.com");
	cr_assert_not(ci.host_only);
	/* An empty Domain is ignored: a host-only cookie. */
	cr_assert_eq(set("http://www.example.com/", "b=2; Domain="), 0);
	cr_assert(get("www.example.com", "/", "b").host_only);
	/* The last Domain attribute counts. */
	cr_assert_eq(set("http://www.example.com/", "c=3; Domain=other.org; Domain=example.com"), 0);
	cr_assert(has("example.com", "/", "c"));
}

Test(cookie_jar, ip_address_hosts_get_host_only_cookies)
{
	cr_assert_eq(set("http://192.168.1.10/", "a=1; Domain=168.1.10"), SL_E_COOKIE_DOMAIN);
	cr_assert_eq(set("http://192.168.1.10/", "b=2; Domain=192.168.1.10"), 0);
	cr_assert(get("192.168.1.10", "/", "b").host_only);
	cr_assert_eq(set("http://192.168.1.10/", "c=3"), 0);
	cr_assert_str_eq(hdr("http://192.168.1.10/"), "b=2; c=3");
	cr_assert_str_eq(hdr("http://10.192.168.1.10.example/"), "");
	/* IPv6 hosts are compared in their canonical form. */
	cr_assert_eq(set("http://[0:0::1]/", "v6=1"), 0);
	cr_assert_str_eq(hdr("http://[::1]:8080/"), "v6=1");
	cr_assert(has("::1", "/", "v6"));
}

Test(cookie_jar, public_suffix_domain_refused)
{
	cr_assert_eq(set("http://www.example.com/", "a=1; Domain=com"), SL_E_COOKIE_PUBLIC_SUFFIX);
	cr_assert_eq(set("http://www.example.co.uk/", "a=1; Domain=co.uk"), SL_E_COOKIE_PUBLIC_SUFFIX);
	cr_assert_eq(set("http://www.example.co.uk/", "a=1; Domain=.uk"), SL_E_COOKIE_PUBLIC_SUFFIX);
	cr_assert_eq(set("http://shop.example.com.au/", "a=1; Domain=com.au"),
		     SL_E_COOKIE_PUBLIC_SUFFIX);
	cr_assert_eq(set("http://me.github.io/", "a=1; Domain=github.io"), SL_E_COOKIE_PUBLIC_SUFFIX);
	cr_assert_eq(sl_cookie_jar_count(jar), 0);
	/* One level below the suffix is a registrable domain. */
	cr_assert_eq(set("http://www.example.co.uk/", "a=1; Domain=example.co.uk"), 0);
	cr_assert_str_eq(hdr("http://example.co.uk/"), "a=1");
	cr_assert_str_eq(hdr("http://other.co.uk/"), "");
}

Test(cookie_jar, public_suffix_equal_to_host_is_host_only)
{
	cr_assert_eq(set("http://localhost:8080/", "a=1; Domain=localhost"), 0);
	cr_assert(get("localhost", "/", "a").host_only);
	cr_assert_str_eq(hdr("http://localhost/"), "a=1");
	cr_assert_str_eq(hdr("http://sub.localhost/"), "");
}

/* ---- Paths (section 5.1.4) ---- */

Test(cookie_jar, default_path_examples)
{
	static const struct {
		const char *url, *path;
	} t[] = {
		{"http://h.example/", "/"},
		{"http://h.example", "/"},
		{"http://h.example/docs", "/"},
		{"http://h.example/docs/", "/docs"},
		{"http://h.example/docs/Web/", "/docs/Web"},
		{"http://h.example/docs/Web/HTTP", "/docs/Web"},
		{"http://h.example/docs/Web/HTTP?q=/a/b", "/docs/Web"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char name[8];
		snprintf(name, sizeof name, "c%zu", i);
		char sc[16];
		snprintf(sc, sizeof sc, "%s=1", name);
		cr_assert_eq(set(t[i].url, sc), 0);
		cr_assert(has("h.example", t[i].path, name), "%s: want path %s", t[i].url, t[i].path);
	}
}

Test(cookie_jar, path_attribute_relative_or_empty_uses_default)
{
	cr_assert_eq(set("http://h.example/docs/Web/x", "a=1; Path=docs"), 0);
	cr_assert(has("h.example", "/docs/Web", "a"));
	cr_assert_eq(set("http://h.example/docs/Web/x", "b=1; Path="), 0);
	cr_assert(has("h.example", "/docs/Web", "b"));
	/* The last Path counts, even when it is the relative one. */
	cr_assert_eq(set("http://h.example/docs/Web/x", "c=1; Path=/; Path=x"), 0);
	cr_assert(has("h.example", "/docs/Web", "c"));
	cr_assert_eq(set("http://h.example/docs/Web/x", "d=1; Path=/other"), 0);
	cr_assert(has("h.example", "/other", "d"));
}

Test(cookie_jar, path_matching)
{
	cr_assert_eq(set("http://h.example/", "a=1; Path=/docs"), 0);
	cr_assert_eq(set("http://h.example/", "b=2; Path=/docs/"), 0);
	cr_assert_str_eq(hdr("http://h.example/docs"), "a=1");
	cr_assert_str_eq(hdr("http://h.example/docs/"), "b=2; a=1");
	cr_assert_str_eq(hdr("http://h.example/docs/Web/HTTP"), "b=2; a=1");
	cr_assert_str_eq(hdr("http://h.example/docs?x=1"), "a=1");
	cr_assert_str_eq(hdr("http://h.example/docsets"), "");
	cr_assert_str_eq(hdr("http://h.example/fr/docs"), "");
	cr_assert_str_eq(hdr("http://h.example/"), "");
	cr_assert_str_eq(hdr("http://h.example/DOCS"), "");
}

/* ---- Expiry: Max-Age, Expires and the cookie-date ---- */

Test(cookie_jar, max_age_takes_precedence_over_expires)
{
	cr_assert_eq(set("http://h.example/",
			 "a=1; Max-Age=3600; Expires=Sun, 06 Nov 1994 08:49:37 GMT"), 0);
	cr_assert_eq(get("h.example", "/", "a").expiry, NOW + 3600);
	cr_assert_eq(set("http://h.example/",
			 "b=1; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Max-Age=60"), 0);
	cr_assert_eq(get("h.example", "/", "b").expiry, NOW + 60);
	cr_assert_str_eq(hdr_at("http://h.example/", NOW + 59, true), "a=1; b=1");
	cr_assert_str_eq(hdr_at("http://h.example/", NOW + 60, true), "a=1");
}

Test(cookie_jar, max_age_zero_or_negative_deletes)
{
	cr_assert_eq(set("http://h.example/", "a=1"), 0);
	cr_assert_eq(set("http://h.example/", "b=1; Max-Age=100"), 0);
	cr_assert_eq(set("http://h.example/", "a=x; Max-Age=0"), 0);
	cr_assert_eq(set("http://h.example/", "b=x; Max-Age=-1"), 0);
	cr_assert_eq(set("http://h.example/", "c=x; Max-Age=-0"), 0);
	cr_assert_eq(sl_cookie_jar_count(jar), 0);
	cr_assert_str_eq(hdr("http://h.example/"), "");
}

Test(cookie_jar, max_age_malformed_is_ignored)
{
	static const char *const bad[] = {
		"a=1; Max-Age=abc", "a=1; Max-Age=+5", "a=1; Max-Age=1e3",
		"a=1; Max-Age=-",   "a=1; Max-Age=",   "a=1; Max-Age=5 s",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(set("http://h.example/", bad[i]), 0);
		cr_assert_not(get("h.example", "/", "a").persistent, "%s", bad[i]);
	}
	/* An earlier valid Max-Age is kept when a later one is malformed. */
	cr_assert_eq(set("http://h.example/", "a=1; Max-Age=10; Max-Age=x"), 0);
	cr_assert_eq(get("h.example", "/", "a").expiry, NOW + 10);
	/* A huge Max-Age saturates instead of overflowing. */
	cr_assert_eq(set("http://h.example/", "b=1; Max-Age=99999999999999999999"), 0);
	cr_assert_gt(get("h.example", "/", "b").expiry, NOW);
}

Test(cookie_jar, cookie_date_http_formats)
{
	cr_assert_eq(date("Wed, 09 Jun 2021 10:18:14 GMT"), JUN_2021);
	cr_assert_eq(date("Wednesday, 09-Jun-21 10:18:14 GMT"), JUN_2021);
	cr_assert_eq(date("Wed Jun  9 10:18:14 2021"), JUN_2021);
	cr_assert_eq(date("Sun, 06 Nov 1994 08:49:37 GMT"), (time_t)784111777);
}

Test(cookie_jar, cookie_date_lenient_forms)
{
	cr_assert_eq(date("9 jun 2021 10:18:14"), JUN_2021);
	cr_assert_eq(date("JUNE 9, 2021 10:18:14 UTC"), JUN_2021);
	cr_assert_eq(date("2021-Jun-09 10:18:14"), JUN_2021);
	cr_assert_eq(date("Wed, 09 Jun 2021 10:18:14GMT+02"), JUN_2021); /* zones are ignored */
	cr_assert(date_fails("Wed,09Jun2021 10:18:14")); /* "09Jun2021" is one token: a day */
	cr_assert_eq(date("Thu, 01-Jan-1970 00:00:01 GMT"), 1);
	cr_assert_eq(date("1 Jan 1970 0:0:0"), 0);
	cr_assert_eq(date("29 Feb 2020 00:00:00"), (time_t)1582934400);
	cr_assert_eq(date("31 Dec 9999 23:59:59"), (time_t)253402300799LL);
	cr_assert_eq(date("01 Jan 1601 00:00:00"), (time_t)-11644473600LL);
}

Test(cookie_jar, cookie_date_two_digit_years)
{
	cr_assert_eq(date("09 Jun 70 00:00:00"), (time_t)13737600);
	cr_assert_eq(date("09 Jun 99 00:00:00"), (time_t)928886400);
	cr_assert_eq(date("09 Jun 00 00:00:00"), (time_t)960508800);
	cr_assert_eq(date("09 Jun 69 00:00:00"), (time_t)3137961600LL);
}

Test(cookie_jar, cookie_date_rejects)
{
	cr_assert(date_fails(""));
	cr_assert(date_fails("never"));
	cr_assert(date_fails("Wed, 09 Jun 2021"));            /* no time */
	cr_assert(date_fails("09 2021 10:18:14"));            /* no month */
	cr_assert(date_fails("Jun 2021 10:18:14"));           /* no day: 2021 is a year */
	cr_assert(date_fails("31 Feb 2021 00:00:00"));        /* no such date */
	cr_assert(date_fails("29 Feb 2021 00:00:00"));
	cr_assert(date_fails("31 Apr 2021 00:00:00"));
	cr_assert(date_fails("00 Jan 2021 00:00:00"));
	cr_assert(date_fails("09 Jun 1600 00:00:00"));        /* before 1601 */
	cr_assert(date_fails("09 Jun 2021 24:00:00"));
	cr_assert(date_fails("09 Jun 2021 10:60:00"));
	cr_assert(date_fails("09 Jun 2021 10:18:60"));
	cr_assert(date_fails("09 Jun 20211 10:18:14"));       /* five digits is no year */
	cr_assert(date_fails("09 Jun 2021 100:18:14"));
}

Test(cookie_jar, expires_unparsable_means_session)
{
	cr_assert_eq(set("http://h.example/", "a=1; Expires=tomorrow"), 0);
	cr_assert_not(get("h.example", "/", "a").persistent);
	cr_assert_eq(set("http://h.example/", "b=1; Expires=Wednesday, 09-Jun-21 10:18:14 GMT"), 0);
	cr_assert_eq(get("h.example", "/", "b").expiry, JUN_2021);
}

/* ---- Secure, HttpOnly, SameSite, prefixes ---- */

Test(cookie_jar, secure_cookie_only_over_secure_schemes)
{
	cr_assert_eq(set("https://h.example/", "s=1; Secure"), 0);
	cr_assert_eq(set("https://h.example/", "p=2"), 0);
	cr_assert(get("h.example", "/", "s").secure);
	cr_assert_str_eq(hdr("https://h.example/"), "s=1; p=2");
	cr_assert_str_eq(hdr("wss://h.example/"), "s=1; p=2");
	cr_assert_str_eq(hdr("http://h.example/"), "p=2");
	cr_assert_str_eq(hdr("ws://h.example/"), "p=2");
}

Test(cookie_jar, secure_cookie_refused_from_http)
{
	cr_assert_eq(set("http://h.example/", "s=1; Secure"), SL_E_COOKIE_INSECURE);
	cr_assert_eq(sl_cookie_jar_count(jar), 0);
}

Test(cookie_jar, http_leaves_secure_cookies_alone)
{
	cr_assert_eq(set("https://www.example.com/", "s=1; Secure; Path=/"), 0);
	/* Same name from http: no overwrite, no shadowing on a parent domain
	 * or on a deeper path. */
	cr_assert_eq(set("http://www.example.com/", "s=evil"), SL_E_COOKIE_INSECURE);
	cr_assert_eq(set("http://www.example.com/", "s=evil; Domain=example.com"),
		     SL_E_COOKIE_INSECURE);
	cr_assert_eq(set("http://www.example.com/", "s=evil; Path=/deep"), SL_E_COOKIE_INSECURE);
	cr_assert_eq(set("http://a.www.example.com/", "s=evil"), SL_E_COOKIE_INSECURE);
	/* Unrelated hosts, other names, and https itself are not affected. */
	cr_assert_eq(set("http://other.example.com/", "s=ok"), 0);
	cr_assert_eq(set("http://www.example.com/", "t=ok"), 0);
	cr_assert_eq(set("https://www.example.com/", "s=2"), 0);
	sl_cookie_info ci = get("www.example.com", "/", "s");
	cr_assert_str_eq(ci.value, "2");
	cr_assert_not(ci.secure);
}

Test(cookie_jar, httponly_excluded_from_non_http_apis)
{
	cr_assert_eq(set("http://h.example/", "h=1; HttpOnly"), 0);
	cr_assert_eq(set("http://h.example/", "p=2"), 0);
	cr_assert(get("h.example", "/", "h").http_only);
	cr_assert_str_eq(hdr_at("http://h.example/", NOW, true), "h=1; p=2");
	cr_assert_str_eq(hdr_at("http://h.example/", NOW, false), "p=2");
}

Test(cookie_jar, samesite_recorded)
{
	cr_assert_eq(set("https://h.example/", "a=1; SameSite=Strict"), 0);
	cr_assert_eq(set("https://h.example/", "b=1; samesite=lax"), 0);
	cr_assert_eq(set("https://h.example/", "c=1; SameSite=NONE; Secure"), 0);
	cr_assert_eq(set("https://h.example/", "d=1; SameSite=sometimes"), 0);
	cr_assert_eq(set("https://h.example/", "e=1"), 0);
	cr_assert_eq(get("h.example", "/", "a").samesite, SL_COOKIE_SAMESITE_STRICT);
	cr_assert_eq(get("h.example", "/", "b").samesite, SL_COOKIE_SAMESITE_LAX);
	cr_assert_eq(get("h.example", "/", "c").samesite, SL_COOKIE_SAMESITE_NONE);
	cr_assert_eq(get("h.example", "/", "d").samesite, SL_COOKIE_SAMESITE_UNSET);
	cr_assert_eq(get("h.example", "/", "e").samesite, SL_COOKIE_SAMESITE_UNSET);
}

Test(cookie_jar, secure_and_host_prefixes)
{
	cr_assert_eq(set("https://www.example.com/", "__Secure-a=1"), SL_E_COOKIE_PREFIX);
	cr_assert_eq(set("https://www.example.com/", "__Secure-a=1; Secure; Domain=example.com"), 0);
	cr_assert_eq(set("http://www.example.com/", "__Secure-b=1; Secure"), SL_E_COOKIE_INSECURE);
	cr_assert_eq(set("https://www.example.com/", "__Host-c=1; Secure; Path=/; Domain=example.com"),
		     SL_E_COOKIE_PREFIX);
	cr_assert_eq(set("https://www.example.com/", "__Host-c=1; Secure; Path=/x"),
		     SL_E_COOKIE_PREFIX);
	cr_assert_eq(set("https://www.example.com/x/y", "__Host-c=1; Secure"), SL_E_COOKIE_PREFIX);
	cr_assert_eq(set("https://www.example.com/", "__HOST-c=1; Path=/"), SL_E_COOKIE_PREFIX);
	cr_assert_eq(set("https://www.example.com/", "__Host-c=1; Secure; Path=/"), 0);
	cr_assert_str_eq(hdr("https://www.example.com/"), "__Secure-a=1; __Host-c=1");
}

/* ---- The storage model and the Cookie header ---- */

Test(cookie_jar, replacement_keeps_creation_time)
{
	cr_assert_eq(set("http://h.example/", "a=1"), 0);
	cr_assert_eq(set("http://h.example/", "b=2"), 0);
	cr_assert_str_eq(hdr("http://h.example/"), "a=1; b=2");
	cr_assert_eq(set("http://h.example/", "a=3; HttpOnly; Max-Age=60"), 0);
	cr_assert_eq(sl_cookie_jar_count(jar), 2);
	cr_assert_str_eq(hdr("http://h.example/"), "a=3; b=2");
	sl_cookie_info ci = get("h.example", "/", "a");
	cr_assert(ci.http_only);
	cr_assert(ci.persistent);
}

Test(cookie_jar, name_domain_and_path_identify_a_cookie)
{
	cr_assert_eq(set("http://www.example.com/", "a=host"), 0);
	cr_assert_eq(set("http://www.example.com/", "a=dom; Domain=example.com"), 0);
	cr_assert_eq(set("http://www.example.com/", "a=deep; Path=/x"), 0);
	cr_assert_eq(set("http://www.example.com/", "A=upper"), 0);
	cr_assert_eq(sl_cookie_jar_count(jar), 4);
	cr_assert_str_eq(hdr("http://www.example.com/x"), "a=deep; a=host; a=dom; A=upper");
}

Test(cookie_jar, header_orders_longer_paths_first_then_creation)
{
	cr_assert_eq(set("http://h.example/", "a=1; Path=/"), 0);
	cr_assert_eq(set("http://h.example/", "b=2; Path=/docs/Web"), 0);
	cr_assert_eq(set("http://h.example/", "c=3; Path=/docs"), 0);
	cr_assert_eq(set("http://h.example/", "d=4; Path=/"), 0);
	cr_assert_eq(set("http://h.example/", "e=5; Path=/docs/Web"), 0);
	cr_assert_str_eq(hdr("http://h.example/docs/Web/HTTP"), "b=2; e=5; c=3; a=1; d=4");
	cr_assert_str_eq(hdr("http://h.example/docs/x"), "c=3; a=1; d=4");
}

Test(cookie_jar, header_buffer_too_small)
{
	sl_url u = url("http://h.example/");
	char small[8];
	cr_assert_eq(set("http://h.example/", "a=1"), 0);
	cr_assert_eq(set("http://h.example/", "b=2"), 0);
	/* "a=1; b=2" is 8 bytes and needs 9 with its NUL. */
	cr_assert_eq(sl_cookie_jar_header(jar, &u, NOW, true, small, sizeof small),
		     SL_E_COOKIE_NOSPACE);
	cr_assert_str_eq(small, "");
	char fit[9];
	cr_assert_eq(sl_cookie_jar_header(jar, &u, NOW, true, fit, sizeof fit), 8);
	cr_assert_str_eq(fit, "a=1; b=2");
	cr_assert_eq(sl_cookie_jar_header(jar, &u, NOW, true, NULL, 0), SL_E_COOKIE_NOSPACE);
}

Test(cookie_jar, header_without_cookies_is_empty)
{
	sl_url u = url("http://h.example/");
	char buf[4] = "xyz";
	cr_assert_eq(sl_cookie_jar_header(jar, &u, NOW, true, buf, sizeof buf), 0);
	cr_assert_str_eq(buf, "");
}

Test(cookie_jar, url_without_host_is_refused)
{
	sl_url u = url("file:///etc/passwd");
	char buf[16];
	cr_assert_eq(sl_cookie_jar_set_cookie(jar, &u, SL_SLICE_LIT("a=1"), NOW), SL_E_INVAL);
	cr_assert_eq(sl_cookie_jar_header(jar, &u, NOW, true, buf, sizeof buf), SL_E_INVAL);
	cr_assert_eq(sl_cookie_jar_set_from_response(jar, &u, NULL, 0, NOW), SL_E_INVAL);
}

Test(cookie_jar, malformed_set_cookie_ignored)
{
	/* RFC 6265 section 5.2: no '=' or an empty name ignores the string
	 * (RFC 6265bis would keep "=abc" as a nameless cookie). */
	static const char *const bad[] = {
		"", "noequals", "noequals; Path=/", "=abc", "  =abc", " = ", ";", "; a=1",
		"a\x01=1", "a=1\x7f", "a\tb=1", "a=1\t2",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(set("http://h.example/", bad[i]), SL_E_COOKIE_SYNTAX, "[%zu]", i);
	cr_assert_eq(set("http://h.example/", "a=1; Path=/\x01"), SL_E_COOKIE_SYNTAX);
	cr_assert_eq(sl_cookie_jar_count(jar), 0);
}

Test(cookie_jar, odd_but_valid_set_cookie)
{
	cr_assert_eq(set("http://h.example/", " a = 1 ; Path = /x ;; ; Unknown=1; Secure=no"),
		     SL_E_COOKIE_INSECURE);
	cr_assert_eq(set("http://h.example/", " a = 1 ; Path = /x ;; ; Unknown=1;"), 0);
	cr_assert_str_eq(get("h.example", "/x", "a").value, "1");
	cr_assert_eq(set("http://h.example/", "b=c=d"), 0);
	cr_assert_str_eq(get("h.example", "/", "b").value, "c=d");
	cr_assert_eq(set("http://h.example/", "e="), 0);
	cr_assert_str_eq(get("h.example", "/", "e").value, "");
	cr_assert_eq(set("http://h.example/", "f=\"quoted value\""), 0);
	cr_assert_str_eq(get("h.example", "/", "f").value, "\"quoted value\"");
	cr_assert_str_eq(hdr("http://h.example/x"), "a=1; b=c=d; e=; f=\"quoted value\"");
}

Test(cookie_jar, size_limit)
{
	char *sc = malloc(SL_COOKIE_MAX_SIZE + 16);
	memset(sc, 'v', SL_COOKIE_MAX_SIZE + 8);
	memcpy(sc, "n=", 2);
	/* "n" and 4095 bytes of value: exactly the limit. */
	sc[1 + 1 + SL_COOKIE_MAX_SIZE - 1] = '\0';
	cr_assert_eq(set("http://h.example/", sc), 0);
	cr_assert_eq(strlen(get("h.example", "/", "n").value), SL_COOKIE_MAX_SIZE - 1);
	sc[1 + 1 + SL_COOKIE_MAX_SIZE - 1] = 'v';
	sc[1 + 1 + SL_COOKIE_MAX_SIZE] = '\0';
	cr_assert_eq(set("http://h.example/", sc), SL_E_COOKIE_TOO_LARGE);
	/* An over-long attribute value is ignored, the cookie kept. */
	char attr[SL_COOKIE_MAX_ATTR + 32];
	memset(attr, 'x', sizeof attr);
	memcpy(attr, "p=1; Path=/", 11);
	attr[sizeof attr - 1] = '\0';
	cr_assert_eq(set("http://h.example/dir/f", attr), 0);
	cr_assert(has("h.example", "/dir", "p"));
	free(sc);
}

Test(cookie_jar, per_domain_limit_evicts_least_recently_used)
{
	char sc[64], u[64];
	for (int i = 0; i < SL_COOKIE_MAX_PER_DOMAIN; i++) {
		snprintf(sc, sizeof sc, "c%d=%d; Path=/p%d", i, i, i);
		cr_assert_eq(set("http://h.example/", sc), 0);
	}
	cr_assert_eq(sl_cookie_jar_count(jar), SL_COOKIE_MAX_PER_DOMAIN);
	/* Use c0: c1 becomes the least recently used. */
	cr_assert_str_eq(hdr("http://h.example/p0"), "c0=0");
	cr_assert_eq(set("http://h.example/", "new=1"), 0);
	cr_assert_eq(sl_cookie_jar_count(jar), SL_COOKIE_MAX_PER_DOMAIN);
	cr_assert(has("h.example", "/p0", "c0"));
	cr_assert_not(has("h.example", "/p1", "c1"));
	cr_assert(has("h.example", "/p2", "c2"));
	cr_assert(has("h.example", "/", "new"));
	/* Other domains have their own share. */
	for (int i = 0; i < 10; i++) {
		snprintf(u, sizeof u, "http://o%d.example/", i);
		cr_assert_eq(set(u, "x=1"), 0);
	}
	cr_assert_eq(sl_cookie_jar_count(jar), SL_COOKIE_MAX_PER_DOMAIN + 10);
}

Test(cookie_jar, per_domain_limit_evicts_expired_first)
{
	char sc[64];
	cr_assert_eq(set("http://h.example/", "short=1; Max-Age=10"), 0);
	for (int i = 1; i < SL_COOKIE_MAX_PER_DOMAIN; i++) {
		snprintf(sc, sizeof sc, "c%d=%d", i, i);
		cr_assert_eq(set("http://h.example/", sc), 0);
	}
	cr_assert_eq(set_at("http://h.example/", "late=1", NOW + 20), 0);
	cr_assert_eq(sl_cookie_jar_count(jar), SL_COOKIE_MAX_PER_DOMAIN);
	cr_assert_not(has("h.example", "/", "short"));
	cr_assert(has("h.example", "/", "c1"));
	cr_assert(has("h.example", "/", "late"));
}

Test(cookie_jar, total_limit_evicts_oldest_in_the_jar)
{
	char sc[64], u[64];
	int per = SL_COOKIE_MAX_PER_DOMAIN, doms = SL_COOKIE_MAX_TOTAL / SL_COOKIE_MAX_PER_DOMAIN;
	for (int d = 0; d < doms; d++) {
		snprintf(u, sizeof u, "http://d%d.example/", d);
		for (int i = 0; i < per; i++) {
			snprintf(sc, sizeof sc, "c%d=%d", i, i);
			cr_assert_eq(set(u, sc), 0);
		}
	}
	cr_assert_eq(sl_cookie_jar_count(jar), SL_COOKIE_MAX_TOTAL);
	/* Touch all of d0: the oldest untouched cookie is then c0 of d1. */
	(void)hdr("http://d0.example/");
	cr_assert_eq(set("http://fresh.example/", "n=1"), 0);
	cr_assert_eq(sl_cookie_jar_count(jar), SL_COOKIE_MAX_TOTAL);
	cr_assert(has("d0.example", "/", "c0"));
	cr_assert_not(has("d1.example", "/", "c0"));
	cr_assert(has("d1.example", "/", "c1"));
	cr_assert(has("fresh.example", "/", "n"));
	/* Every domain is still found through the table after all that. */
	for (int d = 2; d < doms; d += 7) {
		snprintf(u, sizeof u, "http://d%d.example/", d);
		cr_assert_eq(strncmp(hdr(u), "c0=0; c1=1; ", 12), 0, "%s", u);
	}
}

Test(cookie_jar, expire_and_end_session)
{
	cr_assert_eq(set("http://h.example/", "sess=1"), 0);
	cr_assert_eq(set("http://h.example/", "short=1; Max-Age=10"), 0);
	cr_assert_eq(set("http://h.example/", "long=1; Max-Age=1000"), 0);
	cr_assert_eq(set("http://o.example/", "other=1; Max-Age=5"), 0);
	cr_assert_eq(sl_cookie_jar_expire(jar, NOW + 9), 1);
	cr_assert_eq(sl_cookie_jar_count(jar), 3);
	cr_assert_not(has("o.example", "/", "other"));
	cr_assert_eq(sl_cookie_jar_expire(jar, NOW + 10), 1);
	cr_assert_eq(sl_cookie_jar_expire(jar, NOW + 10), 0);
	cr_assert_eq(sl_cookie_jar_end_session(jar), 1);
	cr_assert_eq(sl_cookie_jar_count(jar), 1);
	cr_assert(has("h.example", "/", "long"));
}

Test(cookie_jar, set_from_response_takes_every_set_cookie)
{
	sl_url u = url("https://www.example.com/app/page");
	sl_field f[] = {
		{SL_SLICE_LIT("Content-Type"), SL_SLICE_LIT("text/html")},
		{SL_SLICE_LIT("Set-Cookie"), SL_SLICE_LIT("a=1; Expires=Wed, 09 Jun 2021 10:18:14 GMT")},
		{SL_SLICE_LIT("set-cookie"), SL_SLICE_LIT("b=2; Path=/; Domain=example.com; Secure")},
		{SL_SLICE_LIT("Set-Cookie"), SL_SLICE_LIT("broken")},
		{SL_SLICE_LIT("Set-Cookie2"), SL_SLICE_LIT("c=3")},
		{SL_SLICE_LIT("SET-COOKIE"), SL_SLICE_LIT("d=4; Domain=com")},
	};
	cr_assert_eq(sl_cookie_jar_set_from_response(jar, &u, f, 6, NOW), 2);
	cr_assert_eq(sl_cookie_jar_count(jar), 2);
	cr_assert_str_eq(hdr("https://www.example.com/app/x"), "a=1; b=2");
	cr_assert_str_eq(hdr("https://shop.example.com/app/x"), "b=2");
}

Test(cookie_jar, save_and_load_round_trip)
{
	char dir[64], path[128];
	tmpdir(dir);
	snprintf(path, sizeof path, "%s/cookies.txt", dir);
	cr_assert_eq(set("https://www.example.com/", "sid=abc; Max-Age=3600; HttpOnly; Secure"), 0);
	cr_assert_eq(set("https://www.example.com/", "dom=1; Domain=example.com; Max-Age=3600; Path=/a"), 0);
	cr_assert_eq(set("https://www.example.com/", "empty=; Expires=Wed, 09 Jun 2021 10:18:14 GMT"), 0);
	cr_assert_eq(set("https://www.example.com/", "sess=1"), 0);
	cr_assert_eq(set("https://www.example.com/", "gone=1; Max-Age=5"), 0);
	cr_assert_eq(sl_cookie_jar_save(jar, path, NOW + 10), 0);

	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	FILE *f = fopen(path, "r");
	char text[2048];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	cr_assert_not_null(strstr(text, "# Netscape HTTP Cookie File\n"));
	cr_assert_not_null(strstr(text, "\n#HttpOnly_www.example.com\tFALSE\t/\tTRUE\t1577840400\tsid\tabc\n"));
	cr_assert_not_null(strstr(text, "\n.example.com\tTRUE\t/a\tFALSE\t1577840400\tdom\t1\n"));
	cr_assert_not_null(strstr(text, "\nwww.example.com\tFALSE\t/\tFALSE\t1623233894\tempty\t\n"));
	cr_assert_null(strstr(text, "sess"));
	cr_assert_null(strstr(text, "gone"));

	sl_cookie_jar *j2 = sl_cookie_jar_new();
	cr_assert_eq(sl_cookie_jar_load(j2, path, NOW + 10), 0);
	cr_assert_eq(sl_cookie_jar_count(j2), 3);
	sl_cookie_info ci;
	cr_assert(sl_cookie_jar_find(j2, "www.example.com", "/", "sid", &ci));
	cr_assert(ci.http_only && ci.secure && ci.host_only && ci.persistent);
	cr_assert_eq(ci.expiry, NOW + 3600);
	cr_assert(sl_cookie_jar_find(j2, "example.com", "/a", "dom", &ci));
	cr_assert_not(ci.host_only);
	cr_assert(sl_cookie_jar_find(j2, "www.example.com", "/", "empty", &ci));
	cr_assert_str_eq(ci.value, "");
	sl_url u = url("https://www.example.com/a/b");
	char buf[128];
	cr_assert_gt(sl_cookie_jar_header(j2, &u, NOW + 10, true, buf, sizeof buf), 0);
	cr_assert_str_eq(buf, "dom=1; sid=abc; empty=");
	sl_cookie_jar_free(j2);
	rmtree(dir);
}

Test(cookie_jar, load_file_written_by_curl)
{
	char dir[64], path[128];
	tmpdir(dir);
	snprintf(path, sizeof path, "%s/curl.txt", dir);
	write_file(path,
		   "# Netscape HTTP Cookie File\n"
		   "# https://curl.se/docs/http-cookies.html\n"
		   "# This file was generated by libcurl! Edit at your own risk.\n"
		   "\n"
		   "#HttpOnly_.example.com\tTRUE\t/\tFALSE\t1893456000\tsid\tabc123\n"
		   ".Example.ORG\tTRUE\t/\tTRUE\t0\tsess\tx\n"
		   "www.example.net\tFALSE\t/app\tFALSE\t1893456000\tempty\t\n"
		   "www.example.net\tFALSE\t/\tFALSE\t1893456000\tnovalue\n"
		   "old.example\tFALSE\t/\tFALSE\t1000\texpired\t1\n"
		   "crlf.example\tFALSE\t/\tFALSE\t1893456000\tc\tv\r\n"
		   "   \t  \n"
		   "too\tfew\n"
		   "x.example\tMAYBE\t/\tFALSE\t1\ta\tb\n"
		   "x.example\tFALSE\tnoslash\tFALSE\t1893456000\ta\tb\n"
		   "x.example\tFALSE\t/\tFALSE\tsoon\ta\tb\n"
		   "x.example\tFALSE\t/\tFALSE\t1893456000\ta\tb\textra\n"
		   ".com\tTRUE\t/\tFALSE\t1893456000\ta\tb\n"
		   "big.example\tFALSE\t/\tFALSE\t99999999999999999999\tfar\t1\n");
	cr_assert_eq(sl_cookie_jar_load(jar, path, NOW), 6);
	cr_assert_eq(sl_cookie_jar_count(jar), 6);
	sl_cookie_info ci = get("example.com", "/", "sid");
	cr_assert(ci.http_only);
	cr_assert_not(ci.host_only);
	cr_assert_eq(ci.expiry, (time_t)1893456000);
	ci = get("example.org", "/", "sess");
	cr_assert_not(ci.persistent);
	cr_assert(ci.secure);
	cr_assert_str_eq(get("www.example.net", "/", "novalue").value, "");
	cr_assert_str_eq(get("crlf.example", "/", "c").value, "v");
	cr_assert_eq(get("big.example", "/", "far").expiry, (time_t)253402300799LL);
	cr_assert_str_eq(hdr("https://www.example.com/"), "sid=abc123");
	cr_assert_str_eq(hdr_at("https://www.example.com/", NOW, false), "");
	cr_assert_str_eq(hdr("http://www.example.net/app/x"), "empty=; novalue=");
	/* The session cookie from the file goes with the session. */
	cr_assert_eq(sl_cookie_jar_end_session(jar), 1);
	rmtree(dir);
}

Test(cookie_jar, load_missing_file_is_an_empty_jar)
{
	cr_assert_eq(sl_cookie_jar_load(jar, "/nonexistent/sl-cookies.txt", NOW), 0);
	cr_assert_eq(sl_cookie_jar_count(jar), 0);
	cr_assert_lt(sl_cookie_jar_load(jar, "/", NOW), 0);
}

Test(cookie_jar, load_garbage_does_not_crash)
{
	char dir[64], path[128];
	tmpdir(dir);
	snprintf(path, sizeof path, "%s/junk", dir);
	FILE *f = fopen(path, "w");
	unsigned seed = 12345;
	for (int i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		int c = (seed >> 16) & 0xff;
		fputc(c == 0 ? '\t' : c, f);
	}
	fputs("\nok.example\tFALSE\t/\tFALSE\t0\tgood\t1\n", f);
	fclose(f);
	int rc = sl_cookie_jar_load(jar, path, NOW);
	cr_assert_gt(rc, 0);
	cr_assert(has("ok.example", "/", "good"));
	rmtree(dir);
}

Test(cookie_jar, save_replaces_atomically_and_reports_errors)
{
	char dir[64], path[128];
	tmpdir(dir);
	snprintf(path, sizeof path, "%s/jar", dir);
	write_file(path, "old contents\n");
	cr_assert_eq(set("http://h.example/", "a=1; Max-Age=60"), 0);
	cr_assert_eq(sl_cookie_jar_save(jar, path, NOW), 0);
	cr_assert_eq(sl_cookie_jar_save(jar, path, NOW), 0);
	/* Only the file itself is left: no temporary beside it. */
	DIR *d = opendir(dir);
	int entries = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			entries++;
	closedir(d);
	cr_assert_eq(entries, 1);
	sl_cookie_jar *j2 = sl_cookie_jar_new();
	cr_assert_eq(sl_cookie_jar_load(j2, path, NOW), 0);
	cr_assert_eq(sl_cookie_jar_count(j2), 1);
	sl_cookie_jar_free(j2);
	/* A directory that does not exist is an error, not a crash. */
	cr_assert_lt(sl_cookie_jar_save(jar, "/nonexistent/dir/jar", NOW), 0);
	rmtree(dir);
}

Test(cookie_jar, load_replaces_and_respects_limits)
{
	char dir[64], path[128];
	tmpdir(dir);
	snprintf(path, sizeof path, "%s/many", dir);
	FILE *f = fopen(path, "w");
	fputs("r.example\tFALSE\t/\tFALSE\t1893456000\ta\tnew\n", f);
	for (int i = 0; i < 80; i++)
		fprintf(f, "h.example\tFALSE\t/\tFALSE\t1893456000\tc%d\t%d\n", i, i);
	fclose(f);
	cr_assert_eq(set("http://r.example/", "a=old"), 0);
	cr_assert_eq(sl_cookie_jar_load(jar, path, NOW), 0);
	cr_assert_eq(sl_cookie_jar_count(jar), SL_COOKIE_MAX_PER_DOMAIN + 1);
	sl_cookie_info ci = get("r.example", "/", "a");
	cr_assert_str_eq(ci.value, "new");
	cr_assert(ci.persistent);
	/* The first 30 of h.example were the least recently used. */
	cr_assert_not(has("h.example", "/", "c29"));
	cr_assert(has("h.example", "/", "c30"));
	cr_assert(has("h.example", "/", "c79"));
	rmtree(dir);
}

Test(cookie_jar, error_sentences)
{
	cr_assert_str_eq(sl_errname(SL_E_COOKIE_PUBLIC_SUFFIX), "SL_E_COOKIE_PUBLIC_SUFFIX");
	cr_assert_str_eq(sl_strerror(SL_E_COOKIE_NOSPACE), "Cookie header does not fit the buffer");
}
