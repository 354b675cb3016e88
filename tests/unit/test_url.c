/*
 * Unit tests of the URL module: the RFC 3986 grammar component by
 * component, each error cause with its own code, the reference resolution
 * examples of RFC 3986 section 5.4.1 and 5.4.2 (all of them), serialisation,
 * the origin-form target, and cache keys that are equal exactly when
 * sections 6.2.2 and 6.2.3 call two URLs equivalent.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/url.h"

static sl_url U(const char *s)
{
	sl_url u;
	int rc = sl_url_parse(s, strlen(s), &u);
	cr_assert_eq(rc, 0, "parse \"%s\" gave %s", s, sl_errname(rc));
	return u;
}

static int P(const char *s)
{
	sl_url u;
	return sl_url_parse(s, strlen(s), &u);
}

static void slice_is(sl_slice s, const char *want)
{
	cr_assert(sl_slice_eq_cstr(s, want), "got \"%.*s\", want \"%s\"", SL_SLICE_FMT(s), want);
}

static const char *key(const char *s, char *buf, size_t cap)
{
	sl_url u = U(s);
	int n = sl_url_cache_key(&u, buf, cap);
	cr_assert_geq(n, 0, "key of \"%s\" gave %s", s, sl_errname(n));
	return buf;
}

static void key_is(const char *s, const char *want)
{
	char buf[512];
	cr_assert_str_eq(key(s, buf, sizeof buf), want, "key of \"%s\"", s);
}

static void same_key(const char *a, const char *b)
{
	char x[512], y[512];
	cr_assert_str_eq(key(a, x, sizeof x), key(b, y, sizeof y), "\"%s\" vs \"%s\"", a, b);
}

static void resolve_is(const sl_url *base, const char *ref, const char *want)
{
	char buf[256];
	int n = sl_url_resolve(base, ref, strlen(ref), buf, sizeof buf);
	cr_assert_geq(n, 0, "\"%s\" gave %s", ref, sl_errname(n));
	cr_assert_str_eq(buf, want, "\"%s\"", ref);
	cr_assert_eq((size_t)n, strlen(want));
}

Test(url, parse_all_components)
{
	sl_url u = U("http://user:pass@Example.com:8080/p/a/t/h?query=1&b=2#frag");
	slice_is(u.scheme, "http");
	slice_is(u.authority, "user:pass@Example.com:8080");
	slice_is(u.userinfo, "user:pass");
	slice_is(u.host, "Example.com");
	slice_is(u.port_str, "8080");
	slice_is(u.path, "/p/a/t/h");
	slice_is(u.query, "query=1&b=2");
	slice_is(u.fragment, "frag");
	cr_assert_eq(u.port, 8080);
	cr_assert(u.has_authority && u.has_userinfo && u.has_port && u.has_query &&
		  u.has_fragment);
	cr_assert_not(u.host_is_ipv4 || u.host_is_ipv6);
}

Test(url, slices_point_into_the_input)
{
	const char *s = "https://example.org/x?y#z";
	sl_url u;
	cr_assert_eq(sl_url_parse(s, strlen(s), &u), 0);
	cr_assert_eq(u.scheme.p, s);
	cr_assert_eq(u.host.p, s + 8);
	cr_assert_eq(u.path.p, s + 19);
	cr_assert_eq(u.fragment.p, s + 24);
}

Test(url, userinfo_without_password)
{
	sl_url u = U("ftp://anonymous@ftp.example.org/pub");
	cr_assert(u.has_userinfo);
	slice_is(u.userinfo, "anonymous");
	slice_is(u.host, "ftp.example.org");
	cr_assert_eq(u.port, 21);
	u = U("http://@h/");
	cr_assert(u.has_userinfo);
	slice_is(u.userinfo, "");
	u = U("http://u:@h/");
	slice_is(u.userinfo, "u:");
	u = U("http://a%40b:p%3Ass!$&'()*+,;=@h/");
	slice_is(u.userinfo, "a%40b:p%3Ass!$&'()*+,;=");
}

Test(url, bad_userinfo)
{
	cr_assert_eq(P("http://u[@h/"), SL_E_URL_BAD_USERINFO);
	cr_assert_eq(P("http://a@b@h/"), SL_E_URL_BAD_USERINFO);
	cr_assert_eq(P("http://u%zz@h/"), SL_E_URL_BAD_PERCENT);
	cr_assert_eq(P("http://u\"@h/"), SL_E_URL_BAD_USERINFO);
}

Test(url, default_ports)
{
	cr_assert_eq(U("http://h/").port, 80);
	cr_assert_eq(U("https://h/").port, 443);
	cr_assert_eq(U("ws://h/").port, 80);
	cr_assert_eq(U("wss://h/").port, 443);
	cr_assert_eq(U("socks5h://h").port, 1080);
	cr_assert_eq(U("foo://h/").port, 0);
	cr_assert_not(U("http://h/").has_port);
}

Test(url, default_port_table)
{
	const char *names[] = {"http", "HTTP", "https", "HtTpS", "ws", "wss", "socks5",
			       "socks5h", "socks4", "socks", "SOCKS5", "ftp"};
	const uint16_t ports[] = {80, 80, 443, 443, 80, 443, 1080, 1080, 1080, 1080, 1080, 21};
	for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
		cr_assert_eq(sl_url_default_port(sl_slice_cstr(names[i])), ports[i], "%s",
			     names[i]);
	cr_assert_eq(sl_url_default_port(SL_SLICE_LIT("gopher")), 0);
	cr_assert_eq(sl_url_default_port(SL_SLICE_LIT("htt")), 0);
	cr_assert_eq(sl_url_default_port(SL_SLICE_LIT("https2")), 0);
	cr_assert_eq(sl_url_default_port(SL_SLICE_NULL), 0);
}

Test(url, ipv6_literal)
{
	sl_url u = U("http://[2001:DB8::1]:8080/x");
	cr_assert(u.host_is_ipv6);
	slice_is(u.host, "2001:DB8::1");
	cr_assert_eq(u.addr.family, AF_INET6);
	cr_assert_eq(u.addr.b[15], 1);
	cr_assert_eq(u.port, 8080);
	u = U("http://[::1]");
	slice_is(u.host, "::1");
	slice_is(u.path, "");
	cr_assert_eq(u.port, 80);
	u = U("http://[::ffff:192.0.2.1]/");
	cr_assert(u.host_is_ipv6);
	cr_assert_eq(u.addr.b[12], 192);
}

Test(url, bad_ipv6_literals)
{
	cr_assert_eq(P("http://[::1/"), SL_E_URL_BAD_IPV6);
	cr_assert_eq(P("http://[:::1]/"), SL_E_URL_BAD_IPV6);
	cr_assert_eq(P("http://[1.2.3.4]/"), SL_E_URL_BAD_IPV6);
	cr_assert_eq(P("http://[]/"), SL_E_URL_BAD_IPV6);
	cr_assert_eq(P("http://[v1.fe]/"), SL_E_URL_BAD_IPV6);
	cr_assert_eq(P("http://[fe80::1%25eth0]/"), SL_E_URL_BAD_IPV6);
	cr_assert_eq(P("http://::1/"), SL_E_URL_BAD_IPV6);
	cr_assert_eq(P("http://2001:db8::1:80/"), SL_E_URL_BAD_IPV6);
	cr_assert_eq(P("http://[::1]x/"), SL_E_URL_BAD_HOST);
	cr_assert_eq(P("http://[::1]:x/"), SL_E_URL_BAD_PORT);
}

Test(url, ipv4_host)
{
	sl_url u = U("http://192.0.2.1:81/");
	cr_assert(u.host_is_ipv4);
	cr_assert_not(u.host_is_ipv6);
	cr_assert_eq(u.addr.family, AF_INET);
	cr_assert_eq(u.addr.b[0], 192);
	cr_assert_eq(u.port, 81);
	cr_assert_not(U("http://192.0.2.1.example/").host_is_ipv4);
}

Test(url, numeric_hosts_must_be_dotted_quads)
{
	cr_assert_eq(P("http://127.1/"), SL_E_URL_BAD_HOST);
	cr_assert_eq(P("http://0x7f.0.0.1/"), SL_E_URL_BAD_HOST);
	cr_assert_eq(P("http://2130706433/"), SL_E_URL_BAD_HOST);
	cr_assert_eq(P("http://1.2.3.4.5/"), SL_E_URL_BAD_HOST);
	cr_assert_eq(P("http://010.0.0.1/"), SL_E_URL_BAD_HOST);
	cr_assert_eq(P("http://example.0x1f/"), SL_E_URL_BAD_HOST);
	cr_assert_eq(P("http://1.2.3.4/"), 0);
	cr_assert_eq(P("http://1a.example/"), 0);
}

Test(url, bad_host_characters)
{
	cr_assert_eq(P("http://a<b/"), SL_E_URL_BAD_HOST);
	cr_assert_eq(P("http://a[b/"), SL_E_URL_BAD_HOST);
	cr_assert_eq(P("http://a%zzb/"), SL_E_URL_BAD_HOST); /* no percent-encoding in hosts */
	cr_assert_eq(P("http://a^b/"), SL_E_URL_BAD_HOST);
	/* The grammar's reg-name allows sub-delims and percent-encoding. */
	cr_assert_eq(P("http://a!b$c/"), 0);
	cr_assert_eq(P("http://caf%C3%A9.example/"), SL_E_URL_BAD_HOST);
}

Test(url, empty_port)
{
	sl_url u = U("http://h:/");
	cr_assert_not(u.has_port);
	slice_is(u.port_str, "");
	slice_is(u.host, "h");
	cr_assert_eq(u.port, 80);
	u = U("https://[::1]:/");
	cr_assert_eq(u.port, 443);
}

Test(url, port_range)
{
	cr_assert_eq(P("http://h:0/"), SL_E_URL_BAD_PORT);
	cr_assert_eq(P("http://h:00/"), SL_E_URL_BAD_PORT);
	cr_assert_eq(P("http://h:65536/"), SL_E_URL_BAD_PORT);
	cr_assert_eq(P("http://h:99999/"), SL_E_URL_BAD_PORT);
	cr_assert_eq(P("http://h:4294967376/"), SL_E_URL_BAD_PORT);
	cr_assert_eq(U("http://h:65535/").port, 65535);
	cr_assert_eq(U("http://h:1/").port, 1);
	sl_url u = U("http://h:0080/");
	cr_assert_eq(u.port, 80);
	slice_is(u.port_str, "0080");
}

Test(url, port_must_be_digits)
{
	cr_assert_eq(P("http://h:8x/"), SL_E_URL_BAD_PORT);
	cr_assert_eq(P("http://h:-1/"), SL_E_URL_BAD_PORT);
	cr_assert_eq(P("http://h:+80/"), SL_E_URL_BAD_PORT);
	cr_assert_eq(P("http://h:0x50/"), SL_E_URL_BAD_PORT);
}

Test(url, uppercase_scheme_and_host_are_kept)
{
	sl_url u = U("HTTP://EXAMPLE.COM/A");
	slice_is(u.scheme, "HTTP");
	slice_is(u.host, "EXAMPLE.COM");
	slice_is(u.path, "/A");
	cr_assert_eq(u.port, 80);
	cr_assert_eq(P("HTTPS:"), SL_E_URL_NO_HOST);
}

Test(url, percent_encoding)
{
	sl_url u = U("http://h/%7Euser/%2f%2F?q=%41%e9#%20");
	slice_is(u.path, "/%7Euser/%2f%2F");
	slice_is(u.query, "q=%41%e9");
	slice_is(u.fragment, "%20");
	cr_assert_eq(P("http://h/%zz"), SL_E_URL_BAD_PERCENT);
	cr_assert_eq(P("http://h/%4"), SL_E_URL_BAD_PERCENT);
	cr_assert_eq(P("http://h/%4g/"), SL_E_URL_BAD_PERCENT);
	cr_assert_eq(P("http://h/%"), SL_E_URL_BAD_PERCENT);
	cr_assert_eq(P("http://h/?%"), SL_E_URL_BAD_PERCENT);
	cr_assert_eq(P("http://h/#%g0"), SL_E_URL_BAD_PERCENT);
}

Test(url, empty_path)
{
	sl_url u = U("http://example.com");
	slice_is(u.path, "");
	cr_assert_not(u.has_query || u.has_fragment);
	char buf[16];
	cr_assert_eq(sl_url_request_target(&u, buf, sizeof buf), 1);
	cr_assert_str_eq(buf, "/");
}

Test(url, query_only)
{
	sl_url u = U("http://h?x=1/2?3");
	slice_is(u.host, "h");
	slice_is(u.path, "");
	cr_assert(u.has_query);
	slice_is(u.query, "x=1/2?3");
	char buf[32];
	cr_assert_eq(sl_url_request_target(&u, buf, sizeof buf), 9);
	cr_assert_str_eq(buf, "/?x=1/2?3");
}

Test(url, fragment_and_empty_components)
{
	sl_url u = U("http://h/p#f/?:@");
	cr_assert(u.has_fragment);
	cr_assert_not(u.has_query);
	slice_is(u.fragment, "f/?:@");
	u = U("http://h/p?#");
	cr_assert(u.has_query && u.has_fragment);
	slice_is(u.query, "");
	slice_is(u.fragment, "");
	cr_assert_eq(P("http://h/p#a#b"), SL_E_URL_BAD_CHAR);
}

Test(url, spaces_and_controls_rejected)
{
	const char *bad[] = {"http://h/a b", "http://h /", " http://h/", "http://h/\t",
			     "http://h/\r\n", "http://h/\x7f", "http://h/\x01", "http://h/?a b",
			     "http://h/#a b", "http://h/\xc3\xa9"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(P(bad[i]), SL_E_URL_BAD_CHAR, "\"%s\"", bad[i]);
	sl_url u;
	cr_assert_eq(sl_url_parse("http://h/\0x", 11, &u), SL_E_URL_BAD_CHAR);
}

Test(url, characters_outside_the_grammar_rejected)
{
	const char *bad[] = {"http://h/<", "http://h/>", "http://h/\"", "http://h/{",
			     "http://h/|", "http://h/\\", "http://h/^", "http://h/`",
			     "http://h/[", "http://h/?]", "http://h/#}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(P(bad[i]), SL_E_URL_BAD_CHAR, "\"%s\"", bad[i]);
	cr_assert_eq(P("http://h/p;a=b,c!$&'()*+:@-._~"), 0);
}

Test(url, bad_schemes)
{
	const char *bad[] = {"1http://h/", "://h/", "+a:b", "h_p://h/", "example.com",
			     "/just/a/path", "?q", "#f", "ex%41mple:x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(P(bad[i]), SL_E_URL_BAD_SCHEME, "\"%s\"", bad[i]);
	sl_url u = U("a+b-c.d://h");
	slice_is(u.scheme, "a+b-c.d");
}

Test(url, empty_input)
{
	sl_url u;
	cr_assert_eq(sl_url_parse("", 0, &u), SL_E_URL_EMPTY);
	cr_assert_eq(sl_url_parse(NULL, 0, &u), SL_E_URL_EMPTY);
	cr_assert_eq(sl_url_parse_authority("", 0, &u), SL_E_URL_EMPTY);
}

Test(url, http_needs_an_authority_and_a_host)
{
	cr_assert_eq(P("http:foo"), SL_E_URL_NO_HOST);
	cr_assert_eq(P("http:/foo"), SL_E_URL_NO_HOST);
	cr_assert_eq(P("http:"), SL_E_URL_NO_HOST);
	cr_assert_eq(P("https:///foo"), SL_E_URL_NO_HOST);
	cr_assert_eq(P("http://:80/"), SL_E_URL_NO_HOST);
	cr_assert_eq(P("http://user@/"), SL_E_URL_NO_HOST);
	cr_assert_eq(P("http://?x"), SL_E_URL_NO_HOST);
}

Test(url, other_schemes_need_no_host)
{
	sl_url u = U("mailto:someone@example.com");
	cr_assert_not(u.has_authority);
	slice_is(u.path, "someone@example.com");
	u = U("urn:isbn:0451450523");
	slice_is(u.path, "isbn:0451450523");
	u = U("file:///etc/hosts");
	cr_assert(u.has_authority);
	slice_is(u.host, "");
	slice_is(u.path, "/etc/hosts");
	cr_assert_eq(u.port, 0);
	u = U("data:,hello");
	slice_is(u.path, ",hello");
}

Test(url, failure_leaves_output_alone)
{
	sl_url u = U("http://h/"), before = u;
	cr_assert_eq(sl_url_parse("http://h:0/", 11, &u), SL_E_URL_BAD_PORT);
	cr_assert_eq(memcmp(&u, &before, sizeof u), 0);
}

Test(url, very_long_url)
{
	size_t n = SL_URL_MAX_LEN + 1;
	char *s = malloc(n + 1);
	sl_url u;
	memcpy(s, "http://h/", 9);
	memset(s + 9, 'a', n - 9);
	s[n] = '\0';
	cr_assert_eq(sl_url_parse(s, n, &u), SL_E_URL_TOO_LONG);
	cr_assert_eq(sl_url_parse(s, n - 1, &u), 0);
	cr_assert_eq(u.path.n, n - 1 - 8);
	char *out = malloc(n + 1);
	cr_assert_eq(sl_url_format(&u, out, n + 1), (int)(n - 1));
	cr_assert_eq(memcmp(out, s, n - 1), 0);
	cr_assert_eq(sl_url_format(&u, out, n - 1), SL_E_URL_TOO_LONG);
	cr_assert_eq(out[0], '\0');
	cr_assert_eq(sl_url_cache_key(&u, out, 100), SL_E_URL_TOO_LONG);
	cr_assert_eq(sl_url_request_target(&u, out, 100), SL_E_URL_TOO_LONG);
	free(out);
	free(s);
}

Test(url, connect_authority_form)
{
	sl_url u;
	const char *s = "example.com:443";
	cr_assert_eq(sl_url_parse_authority(s, strlen(s), &u), 0);
	slice_is(u.host, "example.com");
	cr_assert_eq(u.port, 443);
	cr_assert(u.has_port);
	slice_is(u.scheme, "");
	s = "[2001:db8::1]:8443";
	cr_assert_eq(sl_url_parse_authority(s, strlen(s), &u), 0);
	cr_assert(u.host_is_ipv6);
	slice_is(u.host, "2001:db8::1");
	cr_assert_eq(u.port, 8443);
	s = "192.0.2.1:22";
	cr_assert_eq(sl_url_parse_authority(s, strlen(s), &u), 0);
	cr_assert(u.host_is_ipv4);
}

Test(url, connect_authority_form_errors)
{
	const struct {
		const char *s;
		int rc;
	} cases[] = {
		{"example.com", SL_E_URL_BAD_PORT},   {"example.com:", SL_E_URL_BAD_PORT},
		{"example.com:0", SL_E_URL_BAD_PORT}, {"example.com:65536", SL_E_URL_BAD_PORT},
		{"user@h:443", SL_E_URL_BAD_HOST},    {"::1:443", SL_E_URL_BAD_IPV6},
		{":443", SL_E_URL_NO_HOST},           {"h:443/", SL_E_URL_BAD_PORT},
		{"h h:443", SL_E_URL_BAD_CHAR},       {"[::1]", SL_E_URL_BAD_PORT},
		{"127.1:443", SL_E_URL_BAD_HOST},
	};
	sl_url u;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_assert_eq(sl_url_parse_authority(cases[i].s, strlen(cases[i].s), &u),
			     cases[i].rc, "\"%s\"", cases[i].s);
}

Test(url, format_round_trips)
{
	const char *in[] = {"http://user:pw@example.com:8080/a/b?c=d#e", "https://h",
			    "http://[2001:db8::1]:81/x", "mailto:a@b.c", "file:///etc/hosts",
			    "http://h/p?", "http://h/p#", "foo://h/p;x?y"};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		char buf[128];
		sl_url u = U(in[i]);
		cr_assert_eq(sl_url_format(&u, buf, sizeof buf), (int)strlen(in[i]));
		cr_assert_str_eq(buf, in[i]);
	}
}

Test(url, format_normalises_port_writing)
{
	char buf[64];
	sl_url u = U("http://h:/x");
	cr_assert_eq(sl_url_format(&u, buf, sizeof buf), 10);
	cr_assert_str_eq(buf, "http://h/x");
	u = U("http://h:0081/x");
	sl_url_format(&u, buf, sizeof buf);
	cr_assert_str_eq(buf, "http://h:81/x");
}

Test(url, format_a_url_built_by_hand)
{
	sl_url u;
	char buf[64];
	memset(&u, 0, sizeof u);
	u.scheme = SL_SLICE_LIT("https");
	u.host = SL_SLICE_LIT("::1");
	u.has_port = true;
	u.port = 8443;
	u.path = SL_SLICE_LIT("/a");
	cr_assert_eq(sl_url_format(&u, buf, sizeof buf), 20);
	cr_assert_str_eq(buf, "https://[::1]:8443/a");
	memset(&u, 0, sizeof u);
	cr_assert_eq(sl_url_format(&u, buf, sizeof buf), SL_E_INVAL);
	cr_assert_eq(sl_url_format(NULL, buf, sizeof buf), SL_E_INVAL);
	cr_assert_eq(sl_url_request_target(NULL, buf, sizeof buf), SL_E_INVAL);
	cr_assert_eq(sl_url_cache_key(&u, buf, sizeof buf), SL_E_INVAL);
}

Test(url, request_target)
{
	char buf[64];
	sl_url u = U("http://u:p@h:81/a/b;c?d=e#frag");
	cr_assert_eq(sl_url_request_target(&u, buf, sizeof buf), 10);
	cr_assert_str_eq(buf, "/a/b;c?d=e");
	u = U("http://h/p?");
	sl_url_request_target(&u, buf, sizeof buf);
	cr_assert_str_eq(buf, "/p?");
	u = U("http://h#f");
	sl_url_request_target(&u, buf, sizeof buf);
	cr_assert_str_eq(buf, "/");
	cr_assert_eq(sl_url_request_target(&u, buf, 1), SL_E_URL_TOO_LONG);
	cr_assert_eq(sl_url_request_target(&u, buf, 2), 1);
}

Test(url, host_header)
{
	char buf[64];
	sl_url u = U("http://Example.com:80/");
	cr_assert_eq(sl_url_host_header(&u, buf, sizeof buf), 11);
	cr_assert_str_eq(buf, "Example.com");
	u = U("https://example.com:80/");
	sl_url_host_header(&u, buf, sizeof buf);
	cr_assert_str_eq(buf, "example.com:80");
	u = U("http://[::1]:8080/");
	sl_url_host_header(&u, buf, sizeof buf);
	cr_assert_str_eq(buf, "[::1]:8080");
	u = U("http://[::1]/");
	sl_url_host_header(&u, buf, sizeof buf);
	cr_assert_str_eq(buf, "[::1]");
}

/* RFC 3986 section 5.4: base "http://a/b/c/d;p?q". */
static sl_url rfc_base(void)
{
	return U("http://a/b/c/d;p?q");
}

Test(url, rfc3986_5_4_1_normal_examples)
{
	static const char *const ex[][2] = {
		{"g:h", "g:h"},
		{"g", "http://a/b/c/g"},
		{"./g", "http://a/b/c/g"},
		{"g/", "http://a/b/c/g/"},
		{"/g", "http://a/g"},
		{"//g", "http://g"},
		{"?y", "http://a/b/c/d;p?y"},
		{"g?y", "http://a/b/c/g?y"},
		{"#s", "http://a/b/c/d;p?q#s"},
		{"g#s", "http://a/b/c/g#s"},
		{"g?y#s", "http://a/b/c/g?y#s"},
		{";x", "http://a/b/c/;x"},
		{"g;x", "http://a/b/c/g;x"},
		{"g;x?y#s", "http://a/b/c/g;x?y#s"},
		{"", "http://a/b/c/d;p?q"},
		{".", "http://a/b/c/"},
		{"./", "http://a/b/c/"},
		{"..", "http://a/b/"},
		{"../", "http://a/b/"},
		{"../g", "http://a/b/g"},
		{"../..", "http://a/"},
		{"../../", "http://a/"},
		{"../../g", "http://a/g"},
	};
	sl_url base = rfc_base();
	for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++)
		resolve_is(&base, ex[i][0], ex[i][1]);
}

Test(url, rfc3986_5_4_2_abnormal_examples)
{
	static const char *const ex[][2] = {
		{"../../../g", "http://a/g"},
		{"../../../../g", "http://a/g"},
		{"/./g", "http://a/g"},
		{"/../g", "http://a/g"},
		{"g.", "http://a/b/c/g."},
		{".g", "http://a/b/c/.g"},
		{"g..", "http://a/b/c/g.."},
		{"..g", "http://a/b/c/..g"},
		{"./../g", "http://a/b/g"},
		{"./g/.", "http://a/b/c/g/"},
		{"g/./h", "http://a/b/c/g/h"},
		{"g/../h", "http://a/b/c/h"},
		{"g;x=1/./y", "http://a/b/c/g;x=1/y"},
		{"g;x=1/../y", "http://a/b/c/y"},
		{"g?y/./x", "http://a/b/c/g?y/./x"},
		{"g?y/../x", "http://a/b/c/g?y/../x"},
		{"g#s/./x", "http://a/b/c/g#s/./x"},
		{"g#s/../x", "http://a/b/c/g#s/../x"},
		{"http:g", "http:g"}, /* strict parsers */
	};
	sl_url base = rfc_base();
	for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++)
		resolve_is(&base, ex[i][0], ex[i][1]);
}

Test(url, resolve_edge_cases)
{
	sl_url base = U("http://h");
	resolve_is(&base, "g", "http://h/g");
	resolve_is(&base, "", "http://h");
	resolve_is(&base, "?q", "http://h?q");
	base = U("http://u@h:81/a/b?x#frag");
	resolve_is(&base, "", "http://u@h:81/a/b?x");
	resolve_is(&base, "c", "http://u@h:81/a/c");
	resolve_is(&base, "https://o/./p/../q", "https://o/q");
	base = U("mailto:x");
	resolve_is(&base, "y", "mailto:y");
	/* A path without authority must not start with "//". */
	base = U("foo:/a");
	resolve_is(&base, "/.//b", "foo:/.//b");
	resolve_is(&base, "..//b", "foo:/.//b");
}

Test(url, resolve_errors)
{
	sl_url base = rfc_base(), none;
	char buf[32];
	cr_assert_eq(sl_url_resolve(&base, "g h", 3, buf, sizeof buf), SL_E_URL_BAD_CHAR);
	cr_assert_eq(sl_url_resolve(&base, "%zz", 3, buf, sizeof buf), SL_E_URL_BAD_PERCENT);
	cr_assert_eq(sl_url_resolve(&base, "1a:b", 4, buf, sizeof buf), SL_E_URL_BAD_SCHEME);
	cr_assert_eq(sl_url_resolve(&base, "//h:x/", 6, buf, sizeof buf), SL_E_URL_BAD_PORT);
	cr_assert_eq(sl_url_resolve(&base, "g", 1, buf, 14), SL_E_URL_TOO_LONG);
	cr_assert_eq(buf[0], '\0');
	cr_assert_eq(sl_url_resolve(&base, "g", 1, buf, 15), 14);
	memset(&none, 0, sizeof none);
	cr_assert_eq(sl_url_resolve(&none, "g", 1, buf, sizeof buf), SL_E_INVAL);
}

Test(url, parse_ref_for_redirects)
{
	sl_url base = U("https://h.example:8443/old/page?x=1"), out;
	char buf[128];
	const char *loc = "../new/./p?y=2#top";
	int n = sl_url_parse_ref(&base, loc, strlen(loc), buf, sizeof buf, &out);
	cr_assert_eq(n, (int)strlen("https://h.example:8443/new/p?y=2#top"));
	cr_assert_str_eq(buf, "https://h.example:8443/new/p?y=2#top");
	slice_is(out.host, "h.example");
	cr_assert_eq(out.port, 8443);
	slice_is(out.path, "/new/p");
	cr_assert(out.host.p >= buf && out.host.p < buf + sizeof buf);
	loc = "http:g";
	cr_assert_eq(sl_url_parse_ref(&base, loc, strlen(loc), buf, sizeof buf, &out),
		     SL_E_URL_NO_HOST);
	loc = "//[::1]:99/z";
	cr_assert_gt(sl_url_parse_ref(&base, loc, strlen(loc), buf, sizeof buf, &out), 0);
	cr_assert_str_eq(buf, "https://[::1]:99/z");
	cr_assert(out.host_is_ipv6);
}

Test(url, remove_dot_segments_rfc_5_2_4)
{
	const char *ex[][2] = {
		{"/a/b/c/./../../g", "/a/g"}, {"mid/content=5/../6", "mid/6"},
		{"/..", "/"},                 {"/.", "/"},
		{"..", ""},                   {".", ""},
		{"/a/b/..", "/a/"},           {"/a//../b", "/a/b"},
		{"", ""},                     {"/a/./b/../../c/", "/c/"},
		{"../../x", "x"},             {"/a/..b/c./.d", "/a/..b/c./.d"},
	};
	for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
		char buf[64];
		strcpy(buf, ex[i][0]);
		size_t n = sl_url_remove_dot_segments(buf, strlen(buf));
		buf[n] = '\0';
		cr_assert_str_eq(buf, ex[i][1], "\"%s\"", ex[i][0]);
	}
}

Test(url, cache_key_brief_example)
{
	same_key("HTTP://Example.COM:80/%7Euser/a/../b", "http://example.com/~user/b");
	key_is("HTTP://Example.COM:80/%7Euser/a/../b", "http://example.com/~user/b");
}

Test(url, cache_key_ports)
{
	key_is("http://h:80/", "http://h/");
	key_is("http://h:/", "http://h/");
	key_is("http://h:0080/", "http://h/");
	key_is("http://h:8080/", "http://h:8080/");
	key_is("https://h:443/", "https://h/");
	key_is("https://h:80/", "https://h:80/");
	key_is("foo://h:80/", "foo://h:80/");
}

Test(url, cache_key_percent_encoding)
{
	key_is("http://h/%7e%2D%2e%5F%41%30", "http://h/~-._A0");
	key_is("http://h/%3a%2f%c3%a9", "http://h/%3A%2F%C3%A9");
	key_is("http://h/a%2fb", "http://h/a%2Fb");
	/* The query keeps its bytes; only the hex case is folded. */
	key_is("http://h/?a=%7e&b=%3a&C=D", "http://h/?a=%7E&b=%3A&C=D");
}

Test(url, cache_key_dot_segments)
{
	key_is("http://h/a/./b/../c", "http://h/a/c");
	key_is("http://h/../../x", "http://h/x");
	key_is("http://h/a/%2E%2E/b", "http://h/b");
	key_is("http://h/a/%2e/b", "http://h/a/b");
	key_is("http://h/a/b/..", "http://h/a/");
	key_is("http://h/?x=/../y", "http://h/?x=/../y");
}

Test(url, cache_key_empty_path_is_slash)
{
	key_is("http://h", "http://h/");
	key_is("http://h?q", "http://h/?q");
	key_is("http://h/.", "http://h/");
	same_key("http://example.com", "http://example.com/");
}

Test(url, cache_key_drops_userinfo_and_fragment)
{
	key_is("http://user:secret@h/p#frag", "http://h/p");
	same_key("http://a@h/p?q#x", "http://h/p?q#y");
}

Test(url, cache_key_hosts)
{
	key_is("http://[2001:DB8:0::0:1]:80/", "http://[2001:db8::1]/");
	key_is("http://[::FFFF:C000:201]/", "http://[::ffff:192.0.2.1]/");
	key_is("http://WWW.Example.COM/", "http://www.example.com/");
	key_is("http://192.0.2.1:8080/", "http://192.0.2.1:8080/");
}

Test(url, cache_key_equivalences)
{
	static const char *const eq[][2] = {
		{"http://example.com/a", "HTTP://EXAMPLE.COM:80/a"},
		{"http://example.com/~a", "http://example.com/%7Ea"},
		{"http://example.com/%c3%a9", "http://example.com/%C3%A9"},
		{"https://example.com", "https://example.com:443/"},
		{"http://example.com/a/b/../c", "http://example.com/a/./c"},
		{"http://[::1]/", "http://[0:0::1]:/"},
		{"http://example.com/?%3d", "http://example.com/?%3D"},
	};
	for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++)
		same_key(eq[i][0], eq[i][1]);
}

Test(url, cache_key_distinctions)
{
	static const char *const ne[][2] = {
		{"http://example.com/a", "http://example.com/A"},
		{"http://example.com/a", "https://example.com/a"},
		{"http://example.com/a", "http://example.com:8080/a"},
		{"http://example.com/a?x", "http://example.com/a?X"},
		{"http://example.com/a?", "http://example.com/a"},
		{"http://example.com/a%2Fb", "http://example.com/a/b"},
		{"http://example.com/?a=%7E", "http://example.com/?a=~"},
	};
	for (size_t i = 0; i < sizeof ne / sizeof ne[0]; i++) {
		char x[256], y[256];
		cr_assert_str_neq(key(ne[i][0], x, sizeof x), key(ne[i][1], y, sizeof y),
				  "\"%s\" vs \"%s\"", ne[i][0], ne[i][1]);
	}
}

Test(url, cache_key_capacity)
{
	char buf[64];
	sl_url u = U("http://example.com/abc");
	cr_assert_eq(sl_url_cache_key(&u, buf, 22), SL_E_URL_TOO_LONG);
	cr_assert_eq(buf[0], '\0');
	cr_assert_eq(sl_url_cache_key(&u, buf, 23), 22);
	cr_assert_str_eq(buf, "http://example.com/abc");
	cr_assert_eq(sl_url_cache_key(&u, buf, 0), SL_E_URL_TOO_LONG);
}

Test(url, error_codes_are_distinct_and_named)
{
	const int codes[] = {SL_E_URL_EMPTY,     SL_E_URL_BAD_SCHEME,  SL_E_URL_BAD_HOST,
			     SL_E_URL_BAD_PORT,  SL_E_URL_BAD_IPV6,    SL_E_URL_BAD_PERCENT,
			     SL_E_URL_BAD_CHAR,  SL_E_URL_TOO_LONG,    SL_E_URL_NO_HOST,
			     SL_E_URL_BAD_USERINFO};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		cr_assert(strncmp(sl_errname(codes[i]), "SL_E_URL_", 9) == 0);
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(codes[i], codes[j]);
	}
}

Test(url, percent_encoding_in_host_is_refused)
{
	sl_url u;
	const char *a = "http://127.0.0.%31/";
	const char *b = "hh://5%2e#f";

	cr_assert_eq(sl_url_parse(a, strlen(a), &u), SL_E_URL_BAD_HOST);
	cr_assert_eq(sl_url_parse(b, strlen(b), &u), SL_E_URL_BAD_HOST);
}

Test(url, pct_decode)
{
	char out[32];
	const char ok[] = "a%41%2fb%2F%00";
	int n = sl_url_pct_decode(ok, strlen(ok), out);

	cr_assert_eq(n, 6);
	cr_assert_eq(memcmp(out, "aA/b/\0", 6), 0);
	const char *bad[] = {"%", "%4", "x%4g", "%%41", "%G0"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(sl_url_pct_decode(bad[i], strlen(bad[i]), out), SL_E_URL_BAD_PERCENT,
			     "%s", bad[i]);
	char inplace[] = "p%40ss";
	n = sl_url_pct_decode(inplace, strlen(inplace), inplace);
	cr_assert_eq(n, 4);
	cr_assert_eq(memcmp(inplace, "p@ss", 4), 0);
	cr_assert_eq(sl_url_pct_decode("", 0, out), 0);
}

Test(url, rebase_moves_every_slice_to_the_copy)
{
	const char *src = "http://u:p@Example.com:8080/a/b?q=1#f";
	char copy[64];
	sl_url u;

	cr_assert_eq(sl_url_parse(src, strlen(src), &u), 0);
	memcpy(copy, src, strlen(src) + 1);
	sl_url_rebase(&u, src, copy);
	cr_assert_eq(u.scheme.p, copy);
	cr_assert_eq(u.host.p, copy + 11);
	cr_assert_eq(u.userinfo.p, copy + 7);
	cr_assert_eq(u.port_str.p, copy + 23);
	cr_assert_eq(u.path.p, copy + 27);
	cr_assert_eq(u.query.p, copy + 32);
	cr_assert_eq(u.fragment.p, copy + 36);
	cr_assert_eq(u.port, 8080);
}
