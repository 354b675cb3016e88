/*
 * Unit tests of the authenticator (src/core/auth*.c): challenge parsing per
 * RFC 9110 section 11 (lists of challenges, quoted-pairs, token68, case,
 * malformed input), the choice of the strongest challenge, Basic with the
 * RFC 7617 examples, Digest with the RFC 7616 section 3.9.1 and RFC 2617
 * section 3.5 examples, userhash and username*, RFC 2069 mode, -sess,
 * nonce counting, stale challenges and Authentication-Info. Vectors the
 * RFCs do not give were computed separately with the openssl command line
 * (`printf '%s' A1 | openssl dgst -md5`, and so on).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/auth.h"
#include "core/err.h"

#define F(n, v) {SL_SLICE_LIT(n), sl_slice_cstr(v)}
#define NF(a) (sizeof(a) / sizeof((a)[0]))

#define WWW "WWW-Authenticate"

/* RFC 7616 section 3.9.1. */
#define R16_REALM "http-auth@example.org"
#define R16_NONCE "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
#define R16_CNONCE "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
#define R16_OPAQUE "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
#define R16_CHALLENGE(alg)                                                      \
	"Digest realm=\"" R16_REALM "\", qop=\"auth, auth-int\", algorithm=" alg \
	", nonce=\"" R16_NONCE "\", opaque=\"" R16_OPAQUE "\""

static const sl_auth_cred mufasa = {SL_SLICE_LIT("Mufasa"), SL_SLICE_LIT("Circle of Life")};

/* Parses the first challenge of one value; fails the test if there is none. */
static sl_auth_challenge parse1(const char *value)
{
	sl_auth_iter it;
	sl_auth_challenge c;
	sl_auth_iter_value(&it, sl_slice_cstr(value));
	int r = sl_auth_next(&it, &c);
	cr_assert_eq(r, 1, "no challenge in [%s]: %s", value, sl_errname(r));
	return c;
}

/* Parses every challenge of one value into c[]; returns how many, -1 on error. */
static int parse_all(const char *value, sl_auth_challenge *c, int max)
{
	sl_auth_iter it;
	int n = 0, r;
	sl_auth_iter_value(&it, sl_slice_cstr(value));
	while ((r = sl_auth_next(&it, &c[n < max ? n : max - 1])) > 0)
		n++;
	return r < 0 ? -1 : n;
}

static void state_for(sl_auth_digest_state *st, const char *challenge)
{
	sl_auth_challenge c = parse1(challenge);
	cr_assert_eq(sl_auth_digest_init(st, &c, NULL, NULL), 0);
}

/* The value of param="..." in an Authorization value, into out. */
static void param_of(const char *auth, const char *name, char *out, size_t max)
{
	char key[64];
	snprintf(key, sizeof key, " %s=", name);
	const char *p = strstr(auth, key);
	cr_assert_not_null(p, "%s missing in %s", name, auth);
	p += strlen(key);
	bool q = *p == '"';
	p += q;
	size_t n = 0;
	while (p[n] && (q ? p[n] != '"' : p[n] != ','))
		n++;
	cr_assert_lt(n, max);
	memcpy(out, p, n);
	out[n] = '\0';
}

/* A predictable random source: 0, 1, 2, ... */
static int counting_rand(void *arg, unsigned char *buf, size_t n)
{
	int *calls = arg;
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i + 16 * *calls);
	++*calls;
	return 0;
}

static int failing_rand(void *arg, unsigned char *buf, size_t n)
{
	(void)arg;
	(void)buf;
	(void)n;
	return SL_E_AUTH_CRYPTO;
}

/* ---- Basic (RFC 7617) ---- */

Test(auth, basic_rfc7617_example)
{
	sl_auth_cred c = {SL_SLICE_LIT("Aladdin"), SL_SLICE_LIT("open sesame")};
	char out[64];
	int n = sl_auth_basic(&c, out, sizeof out);
	cr_assert_str_eq(out, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
	cr_assert_eq(n, (int)strlen(out));
}

Test(auth, basic_utf8_rfc7617_section_2_1)
{
	/* "test" / "123£" in UTF-8, the example of RFC 7617 section 2.1. */
	sl_auth_cred c = {SL_SLICE_LIT("test"), SL_SLICE_LIT("123\xc2\xa3")};
	char out[64];
	cr_assert_gt(sl_auth_basic(&c, out, sizeof out), 0);
	cr_assert_str_eq(out, "Basic dGVzdDoxMjPCow==");

	/* A UTF-8 user name: "Jäsøn:pw" -> base64 of its octets. */
	sl_auth_cred u = {SL_SLICE_LIT("J\xc3\xa4s\xc3\xb8n"), SL_SLICE_LIT("pw")};
	cr_assert_gt(sl_auth_basic(&u, out, sizeof out), 0);
	cr_assert_str_eq(out, "Basic SsOkc8O4bjpwdw==");
}

Test(auth, basic_padding_and_empty_parts)
{
	char out[32];
	sl_auth_cred a = {SL_SLICE_LIT("user"), SL_SLICE_NULL};
	cr_assert_eq(sl_auth_basic(&a, out, sizeof out), 14);
	cr_assert_str_eq(out, "Basic dXNlcjo=");
	sl_auth_cred b = {SL_SLICE_NULL, SL_SLICE_NULL};
	cr_assert_gt(sl_auth_basic(&b, out, sizeof out), 0);
	cr_assert_str_eq(out, "Basic Og==");
	sl_auth_cred c = {SL_SLICE_LIT("ab"), SL_SLICE_LIT("c")};
	cr_assert_gt(sl_auth_basic(&c, out, sizeof out), 0);
	cr_assert_str_eq(out, "Basic YWI6Yw==");
}

Test(auth, basic_rejects_colon_and_controls)
{
	char out[64];
	sl_auth_cred colon = {SL_SLICE_LIT("a:b"), SL_SLICE_LIT("pw")};
	sl_auth_cred ctl = {SL_SLICE_LIT("ab"), SL_SLICE_LIT("p\nw")};
	sl_auth_cred del = {SL_SLICE_LIT("a\x7f"), SL_SLICE_LIT("pw")};
	cr_assert_eq(sl_auth_basic(&colon, out, sizeof out), SL_E_AUTH_BAD_CREDENTIALS);
	cr_assert_eq(sl_auth_basic(&ctl, out, sizeof out), SL_E_AUTH_BAD_CREDENTIALS);
	cr_assert_eq(sl_auth_basic(&del, out, sizeof out), SL_E_AUTH_BAD_CREDENTIALS);
	/* A colon in the password is fine: only the first one splits. */
	sl_auth_cred ok = {SL_SLICE_LIT("a"), SL_SLICE_LIT("b:c")};
	cr_assert_gt(sl_auth_basic(&ok, out, sizeof out), 0);
}

Test(auth, basic_checks_buffer_size)
{
	sl_auth_cred c = {SL_SLICE_LIT("Aladdin"), SL_SLICE_LIT("open sesame")};
	char out[35];  /* 34 characters and the NUL */
	cr_assert_eq(sl_auth_basic(&c, out, 34), SL_E_AUTH_BUFFER);
	cr_assert_eq(sl_auth_basic(&c, out, 0), SL_E_AUTH_BUFFER);
	cr_assert_eq(sl_auth_basic(&c, out, 35), 34);
}

/* ---- challenge parsing (RFC 9110 section 11) ---- */

Test(auth, parses_digest_challenge)
{
	sl_auth_challenge c = parse1(R16_CHALLENGE("SHA-256"));
	cr_assert_eq(c.scheme, SL_AUTH_DIGEST);
	cr_assert_eq(c.unusable, 0);
	cr_assert_str_eq(c.realm, R16_REALM);
	cr_assert_str_eq(c.nonce, R16_NONCE);
	cr_assert_str_eq(c.opaque, R16_OPAQUE);
	cr_assert(c.has_realm && c.has_opaque && c.algo_given);
	cr_assert_eq(c.algo, SL_AUTH_SHA256);
	cr_assert_eq(c.qop, SL_AUTH_QOP_AUTH | SL_AUTH_QOP_AUTH_INT);
	cr_assert(!c.stale && !c.userhash && !c.utf8);
	cr_assert(sl_slice_eq_cstr(c.scheme_name, "Digest"));
}

Test(auth, several_challenges_in_one_field)
{
	/* The example of RFC 9110 section 11.6.1. */
	sl_auth_challenge c[4];
	int n = parse_all("Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", "
			  "Basic realm=\"simple\"", c, 4);
	cr_assert_eq(n, 2);
	cr_assert_eq(c[0].scheme, SL_AUTH_OTHER);
	cr_assert(sl_slice_eq_cstr(c[0].scheme_name, "Newauth"));
	cr_assert_str_eq(c[0].realm, "apps");
	cr_assert_eq(c[0].unusable, SL_E_AUTH_SCHEME);
	cr_assert_eq(c[1].scheme, SL_AUTH_BASIC);
	cr_assert_str_eq(c[1].realm, "simple");
	cr_assert_eq(c[1].unusable, 0);
}

Test(auth, challenges_across_several_fields)
{
	sl_field f[] = {
		F("WWW-Authenticate", "Basic realm=\"one\""),
		F("Content-Type", "text/html"),
		F("www-authenticate", "Digest realm=\"two\", nonce=\"n\", Bearer"),
	};
	sl_auth_iter it;
	sl_auth_challenge c;
	sl_auth_iter_fields(&it, f, NF(f), WWW);
	cr_assert_eq(sl_auth_next(&it, &c), 1);
	cr_assert_str_eq(c.realm, "one");
	cr_assert_eq(sl_auth_next(&it, &c), 1);
	cr_assert_eq(c.scheme, SL_AUTH_DIGEST);
	cr_assert_str_eq(c.realm, "two");
	cr_assert_str_eq(c.nonce, "n");
	cr_assert_eq(sl_auth_next(&it, &c), 1);
	cr_assert_eq(c.scheme, SL_AUTH_BEARER);
	cr_assert_eq(sl_auth_next(&it, &c), 0);
	cr_assert_eq(sl_auth_next(&it, &c), 0);
}

Test(auth, quoted_pairs_are_undone)
{
	sl_auth_challenge c = parse1("Digest realm=\"a \\\"quoted\\\" \\\\ realm\", "
				     "nonce=\"n\\o\\n\\ce\", opaque=\"\"");
	cr_assert_str_eq(c.realm, "a \"quoted\" \\ realm");
	cr_assert_str_eq(c.nonce, "nonce");
	cr_assert(c.has_opaque);
	cr_assert_str_eq(c.opaque, "");
	cr_assert_eq(c.unusable, 0);
}

Test(auth, commas_inside_quoted_strings_do_not_split)
{
	sl_auth_challenge c[3];
	int n = parse_all("Digest realm=\"a, b=c, Basic realm=x\", nonce=\"1,2\", "
			  "domain=\"/a /b\", Basic realm=\"x, y\"", c, 3);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(c[0].realm, "a, b=c, Basic realm=x");
	cr_assert_str_eq(c[0].nonce, "1,2");
	cr_assert(sl_slice_eq_cstr(c[0].domain, "/a /b"));
	cr_assert_str_eq(c[1].realm, "x, y");
}

Test(auth, token68_challenges)
{
	sl_auth_challenge c[4];
	int n = parse_all("Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg+/_.~-==, "
			  "NTLM, Basic realm=\"r\", Foo abc=", c, 4);
	cr_assert_eq(n, 4);
	cr_assert(sl_slice_eq_cstr(c[0].token68, "YIIBhwYGKwYBBQUCoIIBezCCAXeg+/_.~-=="));
	cr_assert(sl_slice_eq_cstr(c[1].scheme_name, "NTLM"));
	cr_assert_eq(c[1].token68.n, 0u);
	cr_assert_eq(c[2].scheme, SL_AUTH_BASIC);
	cr_assert_str_eq(c[2].realm, "r");
	cr_assert(sl_slice_eq_cstr(c[3].token68, "abc="));
	/* "realm=" alone is a token68 by the grammar, not an empty parameter. */
	sl_auth_challenge t = parse1("Basic realm=");
	cr_assert(sl_slice_eq_cstr(t.token68, "realm="));
	cr_assert(!t.has_realm);
}

Test(auth, names_are_case_insensitive)
{
	sl_auth_challenge c = parse1("dIGEST REALM=\"R\", NoNcE=\"x\", ALGORITHM=sha-512-256-SESS, "
				     "QOP=\"AUTH\", Stale=TRUE, USERHASH=True, Charset=utf-8");
	cr_assert_eq(c.scheme, SL_AUTH_DIGEST);
	cr_assert_eq(c.unusable, 0);
	cr_assert_str_eq(c.realm, "R");
	cr_assert_eq(c.algo, SL_AUTH_SHA512_256_SESS);
	cr_assert_eq(c.qop, SL_AUTH_QOP_AUTH);
	cr_assert(c.stale && c.userhash && c.utf8);
	cr_assert_eq(parse1("BASIC realm=x").scheme, SL_AUTH_BASIC);
	cr_assert_eq(parse1("bearer").scheme, SL_AUTH_BEARER);
}

Test(auth, bws_and_token_values)
{
	sl_auth_challenge c = parse1("Digest realm = plain , nonce= \"n\" ,qop=auth,  stale =false");
	cr_assert_eq(c.unusable, 0);
	cr_assert_str_eq(c.realm, "plain");
	cr_assert_str_eq(c.nonce, "n");
	cr_assert_eq(c.qop, SL_AUTH_QOP_AUTH);
	cr_assert(!c.stale);
}

Test(auth, missing_realm_is_tolerated)
{
	sl_auth_challenge b = parse1("Basic");
	cr_assert_eq(b.unusable, 0);
	cr_assert(!b.has_realm);
	cr_assert_str_eq(b.realm, "");
	sl_auth_challenge d = parse1("Digest nonce=\"abc\", qop=\"auth\"");
	cr_assert_eq(d.unusable, 0);
	cr_assert(!d.has_realm);
}

Test(auth, unknown_algorithm_is_unusable)
{
	sl_auth_challenge c = parse1("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-1");
	cr_assert_eq(c.unusable, SL_E_AUTH_BAD_ALGORITHM);
	cr_assert_eq(sl_auth_rank(&c), 0);
	c = parse1("Digest realm=\"r\", nonce=\"n\", algorithm=\"MD5\"");
	cr_assert_eq(c.unusable, 0);
	cr_assert_eq(c.algo, SL_AUTH_MD5);
	c = parse1("Digest realm=\"r\", nonce=\"n\"");
	cr_assert_eq(c.algo, SL_AUTH_MD5);
	cr_assert(!c.algo_given);
}

Test(auth, qop_lists)
{
	sl_auth_challenge c = parse1("Digest realm=\"r\", nonce=\"n\", qop=\"auth,auth-int\"");
	cr_assert_eq(c.qop, SL_AUTH_QOP_AUTH | SL_AUTH_QOP_AUTH_INT);
	cr_assert_eq(c.unusable, 0);
	c = parse1("Digest realm=\"r\", nonce=\"n\", qop=\" auth-int , token , auth \"");
	cr_assert_eq(c.qop, SL_AUTH_QOP_AUTH | SL_AUTH_QOP_AUTH_INT);
	cr_assert_eq(c.unusable, 0);
}

Test(auth, qop_auth_int_only_is_unusable)
{
	sl_auth_challenge c = parse1("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"");
	cr_assert_eq(c.qop, SL_AUTH_QOP_AUTH_INT);
	cr_assert_eq(c.unusable, SL_E_AUTH_BAD_QOP);
	c = parse1("Digest realm=\"r\", nonce=\"n\", qop=\"\"");
	cr_assert_eq(c.unusable, SL_E_AUTH_BAD_QOP);
	/* -sess needs a cnonce, which only exists with a qop. */
	c = parse1("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess");
	cr_assert_eq(c.unusable, SL_E_AUTH_BAD_QOP);
}

Test(auth, digest_needs_a_nonce)
{
	sl_auth_challenge c = parse1("Digest realm=\"r\", qop=\"auth\"");
	cr_assert_eq(c.unusable, SL_E_AUTH_NO_NONCE);
}

Test(auth, stale_flag)
{
	cr_assert(parse1("Digest realm=\"r\", nonce=\"n\", stale=TRUE").stale);
	cr_assert(parse1("Digest realm=\"r\", nonce=\"n\", stale=\"true\"").stale);
	cr_assert(!parse1("Digest realm=\"r\", nonce=\"n\", stale=FALSE").stale);
	cr_assert(!parse1("Digest realm=\"r\", nonce=\"n\", stale=yes").stale);
}

Test(auth, duplicates_and_oversized_params_are_unusable)
{
	sl_auth_challenge c = parse1("Digest realm=\"r\", nonce=\"n\", nonce=\"m\"");
	cr_assert_eq(c.unusable, SL_E_AUTH_DUPLICATE);

	char v[600];
	int n = snprintf(v, sizeof v, "Digest realm=\"r\", nonce=\"");
	memset(v + n, 'x', SL_AUTH_NONCE_MAX);
	snprintf(v + n + SL_AUTH_NONCE_MAX, sizeof v - (size_t)n - SL_AUTH_NONCE_MAX, "\"");
	c = parse1(v);
	cr_assert_eq(c.unusable, SL_E_AUTH_TOO_LONG);
	/* One less fits exactly. */
	v[n + SL_AUTH_NONCE_MAX - 1] = '"';
	v[n + SL_AUTH_NONCE_MAX] = '\0';
	c = parse1(v);
	cr_assert_eq(c.unusable, 0);
	cr_assert_eq(strlen(c.nonce), (size_t)SL_AUTH_NONCE_MAX - 1);
}

Test(auth, unknown_params_are_ignored)
{
	sl_auth_challenge c = parse1("Digest foo=bar, realm=\"r\", x-y=\"a, b\", nonce=\"n\", "
				     "nc=1, basic=\"z\"");
	cr_assert_eq(c.unusable, 0);
	cr_assert_str_eq(c.realm, "r");
	cr_assert_str_eq(c.nonce, "n");
	/* Digest parameters mean nothing to Basic. */
	c = parse1("Basic realm=\"r\", algorithm=bogus, charset=\"UTF-8\"");
	cr_assert_eq(c.unusable, 0);
	cr_assert(c.utf8);
}

Test(auth, empty_list_elements_are_skipped)
{
	sl_auth_challenge c[3];
	int n = parse_all(" , ,Basic realm=\"a\",, , Digest , realm=\"b\" ,, nonce=\"n\",", c, 3);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(c[0].realm, "a");
	cr_assert_eq(c[1].scheme, SL_AUTH_DIGEST);
	cr_assert_str_eq(c[1].realm, "b");
	cr_assert_str_eq(c[1].nonce, "n");
	cr_assert_eq(parse_all("", c, 3), 0);
	cr_assert_eq(parse_all(" , ", c, 3), 0);
}

Test(auth, malformed_values_are_rejected)
{
	static const char *const bad[] = {
		"Digest realm=\"unterminated",
		"Digest realm=\"r\\",
		"Digest foo bar",
		"=realm",
		"Basic=x",
		"Basic realm=\"a\"\"b\"",
		"Basic realm=\"r\" junk",
		"Digest realm=\"r\", nonce=",
		"Digest realm=\"a\x01\"",
		"Digest realm=\"a\\\x7f\"",
		"Digest realm=\"r\";nonce=\"n\"",
		"\"Basic\"",
		"Digest realm=\"r\", =x",
	};
	for (size_t i = 0; i < NF(bad); i++) {
		sl_auth_iter it;
		sl_auth_challenge c;
		int r = 0, k = 0;
		sl_auth_iter_value(&it, sl_slice_cstr(bad[i]));
		while ((r = sl_auth_next(&it, &c)) > 0 && k < 10)
			k++;
		cr_assert_eq(r, SL_E_AUTH_SYNTAX, "[%s] gave %s", bad[i], sl_errname(r));
		cr_assert_eq(sl_auth_next(&it, &c), 0);
	}
}

Test(auth, malformed_field_does_not_hide_the_next)
{
	sl_field f[] = {
		F(WWW, "Digest realm=\"broken"),
		F(WWW, "Basic realm=\"ok\""),
	};
	sl_auth_iter it;
	sl_auth_challenge c;
	sl_auth_iter_fields(&it, f, NF(f), WWW);
	cr_assert_eq(sl_auth_next(&it, &c), SL_E_AUTH_SYNTAX);
	cr_assert_eq(sl_auth_next(&it, &c), 1);
	cr_assert_str_eq(c.realm, "ok");
	cr_assert_eq(sl_auth_next(&it, &c), 0);

	sl_auth_challenge best;
	cr_assert_eq(sl_auth_select(f, NF(f), WWW, &best), 0);
	cr_assert_eq(best.scheme, SL_AUTH_BASIC);
}

Test(auth, select_prefers_the_strongest)
{
	sl_field f[] = {
		F(WWW, "Basic realm=\"r\""),
		F(WWW, "Digest realm=\"r\", nonce=\"1\", qop=\"auth\", algorithm=MD5"),
		F(WWW, "Digest realm=\"r\", nonce=\"2\", qop=\"auth\", algorithm=SHA-512-256"),
		F(WWW, "Digest realm=\"r\", nonce=\"3\", qop=\"auth\", algorithm=SHA-256"),
		F(WWW, "Digest realm=\"r\", nonce=\"4\", qop=\"auth-int\", algorithm=SHA-512-256-sess"),
		F(WWW, "Bearer realm=\"r\""),
	};
	sl_auth_challenge best;
	cr_assert_eq(sl_auth_select(f, NF(f), WWW, &best), 0);
	cr_assert_eq(best.algo, SL_AUTH_SHA512_256);
	cr_assert_str_eq(best.nonce, "2");

	cr_assert_eq(sl_auth_select(f, 4, WWW, &best), 0);
	cr_assert_str_eq(best.nonce, "2");
	cr_assert_eq(sl_auth_select(&f[3], 1, WWW, &best), 0);
	cr_assert_eq(best.algo, SL_AUTH_SHA256);
	cr_assert_eq(sl_auth_select(f, 2, WWW, &best), 0);
	cr_assert_eq(best.algo, SL_AUTH_MD5);
	cr_assert_eq(sl_auth_select(f, 1, WWW, &best), 0);
	cr_assert_eq(best.scheme, SL_AUTH_BASIC);

	/* Equal strength: the server's first; qop beats the RFC 2069 form. */
	sl_field g[] = {
		F(WWW, "Digest realm=\"r\", nonce=\"a\""),
		F(WWW, "Digest realm=\"r\", nonce=\"b\", qop=auth"),
		F(WWW, "Digest realm=\"r\", nonce=\"c\", qop=auth"),
	};
	cr_assert_eq(sl_auth_select(g, NF(g), WWW, &best), 0);
	cr_assert_str_eq(best.nonce, "b");
	cr_assert_gt(sl_auth_rank(&best), 0);
}

Test(auth, select_explains_failure)
{
	sl_auth_challenge best;
	sl_field none[] = {F("Server", "x")};
	cr_assert_eq(sl_auth_select(none, NF(none), WWW, &best), SL_E_AUTH_NO_CHALLENGE);
	sl_field bearer[] = {F(WWW, "Bearer realm=\"api\", Negotiate")};
	cr_assert_eq(sl_auth_select(bearer, NF(bearer), WWW, &best), SL_E_AUTH_SCHEME);
	sl_field aint[] = {F(WWW, "Bearer, Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"")};
	cr_assert_eq(sl_auth_select(aint, NF(aint), WWW, &best), SL_E_AUTH_BAD_QOP);
	sl_field junk[] = {F(WWW, "\"\"")};
	cr_assert_eq(sl_auth_select(junk, NF(junk), WWW, &best), SL_E_AUTH_SYNTAX);
	sl_field proxy[] = {F("Proxy-Authenticate", "Basic realm=\"p\"")};
	cr_assert_eq(sl_auth_select(proxy, NF(proxy), WWW, &best), SL_E_AUTH_NO_CHALLENGE);
	cr_assert_eq(sl_auth_select(proxy, NF(proxy), "Proxy-Authenticate", &best), 0);
	cr_assert_str_eq(best.realm, "p");
}

/* ---- Digest (RFC 7616, RFC 2617, RFC 2069) ---- */

Test(auth, digest_rfc7616_md5)
{
	sl_auth_digest_state st;
	char out[512];
	state_for(&st, R16_CHALLENGE("MD5"));
	cr_assert_eq(sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE)), 0);
	int n = sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"),
				       SL_SLICE_LIT("/dir/index.html"), out, sizeof out);
	cr_assert_str_eq(out,
		"Digest username=\"Mufasa\", realm=\"" R16_REALM "\", uri=\"/dir/index.html\", "
		"algorithm=MD5, nonce=\"" R16_NONCE "\", nc=00000001, cnonce=\"" R16_CNONCE "\", "
		"qop=auth, response=\"8ca523f5e9506fed4657c9700eebdbec\", "
		"opaque=\"" R16_OPAQUE "\"");
	cr_assert_eq(n, (int)strlen(out));
}

Test(auth, digest_rfc7616_sha256)
{
	sl_auth_digest_state st;
	char out[512];
	state_for(&st, R16_CHALLENGE("SHA-256"));
	cr_assert_eq(sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE)), 0);
	cr_assert_gt(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/dir/index.html"), out, sizeof out), 0);
	cr_assert_str_eq(out,
		"Digest username=\"Mufasa\", realm=\"" R16_REALM "\", uri=\"/dir/index.html\", "
		"algorithm=SHA-256, nonce=\"" R16_NONCE "\", nc=00000001, cnonce=\"" R16_CNONCE
		"\", qop=auth, "
		"response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", "
		"opaque=\"" R16_OPAQUE "\"");
}

Test(auth, digest_rfc2617_example)
{
	sl_auth_digest_state st;
	sl_auth_cred cred = {SL_SLICE_LIT("Mufasa"), SL_SLICE_LIT("Circle Of Life")};
	char out[512], v[64];
	state_for(&st, "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
		       "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
		       "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
	cr_assert_eq(sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT("0a4f113b")), 0);
	cr_assert_gt(sl_auth_digest_respond(&st, &cred, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/dir/index.html"), out, sizeof out), 0);
	param_of(out, "response", v, sizeof v);
	cr_assert_str_eq(v, "6629fae49393a05397450978507c4ef1");
	param_of(out, "nc", v, sizeof v);
	cr_assert_str_eq(v, "00000001");
	param_of(out, "cnonce", v, sizeof v);
	cr_assert_str_eq(v, "0a4f113b");
	param_of(out, "opaque", v, sizeof v);
	cr_assert_str_eq(v, "5ccc069c403ebaf9f0171e9517f40e41");
	/* The challenge named no algorithm: none is echoed. */
	cr_assert_null(strstr(out, "algorithm"));
}

Test(auth, digest_rfc2069_mode_without_qop)
{
	/*
	 * RFC 2069 section 2.4's example; its printed response is known to be
	 * wrong, this one is H(H(A1):nonce:H(A2)) computed separately.
	 */
	sl_auth_digest_state st;
	sl_auth_cred cred = {SL_SLICE_LIT("Mufasa"), SL_SLICE_LIT("CircleOfLife")};
	char out[512];
	state_for(&st, "Digest realm=\"testrealm@host.com\", "
		       "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
		       "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
	cr_assert_gt(sl_auth_digest_respond(&st, &cred, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/dir/index.html"), out, sizeof out), 0);
	cr_assert_str_eq(out,
		"Digest username=\"Mufasa\", realm=\"testrealm@host.com\", uri=\"/dir/index.html\", "
		"nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
		"response=\"1949323746fe6a43ef61f9606e7febea\", "
		"opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
}

Test(auth, digest_sess_algorithms)
{
	/* RFC 7616 section 3.9.1's inputs with -sess; values computed separately. */
	sl_auth_digest_state st;
	char out[512], v[80];
	state_for(&st, R16_CHALLENGE("MD5-sess"));
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	cr_assert_gt(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/dir/index.html"), out, sizeof out), 0);
	param_of(out, "response", v, sizeof v);
	cr_assert_str_eq(v, "e783283f46242139c486a698fec7211d");
	cr_assert_not_null(strstr(out, ", algorithm=MD5-sess, "));

	state_for(&st, R16_CHALLENGE("SHA-256-sess"));
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	cr_assert_gt(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/dir/index.html"), out, sizeof out), 0);
	param_of(out, "response", v, sizeof v);
	cr_assert_str_eq(v, "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7");
}

#define R392_CHALLENGE                                                       \
	"Digest realm=\"api@example.org\", qop=\"auth\", algorithm=SHA-512-256, " \
	"nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\", "            \
	"opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS\", charset=UTF-8"
#define R392_CNONCE "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v"

static const sl_auth_cred jason = {SL_SLICE_LIT("J\xc3\xa4s\xc3\xb8n Doe"),
				   SL_SLICE_LIT("Secret, or not?")};

Test(auth, digest_rfc7616_userhash_sha512_256)
{
	/*
	 * RFC 7616 section 3.9.2. Its printed userhash and response cannot be
	 * reproduced from its own inputs (RFC errata 4897); these are
	 * SHA-512/256("Jäsøn Doe:api@example.org") and the response with the
	 * plain user name in A1, computed separately.
	 */
	sl_auth_digest_state st;
	char out[512];
	state_for(&st, R392_CHALLENGE ", userhash=true");
	cr_assert(st.userhash);
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R392_CNONCE));
	cr_assert_gt(sl_auth_digest_respond(&st, &jason, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/doe.json"), out, sizeof out), 0);
	cr_assert_str_eq(out,
		"Digest username=\"793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b\", "
		"realm=\"api@example.org\", uri=\"/doe.json\", algorithm=SHA-512-256, "
		"nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\", nc=00000001, "
		"cnonce=\"" R392_CNONCE "\", qop=auth, "
		"response=\"3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5\", "
		"opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS\", userhash=true");
}

Test(auth, digest_username_star_rfc8187)
{
	/* Section 3.9.2 without userhash: the name travels as username*. */
	sl_auth_digest_state st;
	char out[512], v[80];
	state_for(&st, R392_CHALLENGE);
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R392_CNONCE));
	cr_assert_gt(sl_auth_digest_respond(&st, &jason, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/doe.json"), out, sizeof out), 0);
	const char *pre = "Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm=";
	cr_assert(strncmp(out, pre, strlen(pre)) == 0, "%s", out);
	cr_assert_null(strstr(out, "userhash"));
	param_of(out, "response", v, sizeof v);
	cr_assert_str_eq(v, "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5");
}

Test(auth, digest_quotes_what_it_echoes)
{
	sl_auth_digest_state st;
	sl_auth_cred cred = {SL_SLICE_LIT("a\"b\\c"), SL_SLICE_LIT("pw")};
	char out[512];
	state_for(&st, "Digest realm=\"r\\\"q\", nonce=\"n\", qop=auth");
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT("c"));
	cr_assert_gt(sl_auth_digest_respond(&st, &cred, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/x?\"y\""), out, sizeof out), 0);
	cr_assert_not_null(strstr(out, "username=\"a\\\"b\\\\c\", realm=\"r\\\"q\", "
				       "uri=\"/x?\\\"y\\\"\""), "%s", out);
	cr_assert_null(strstr(out, "opaque"));
}

Test(auth, nonce_counting)
{
	sl_auth_digest_state st;
	char out[512], v[80], first_cnonce[80];
	int calls = 0;
	sl_auth_challenge c = parse1(R16_CHALLENGE("MD5"));
	cr_assert_eq(sl_auth_digest_init(&st, &c, counting_rand, &calls), 0);
	for (unsigned i = 1; i <= 3; i++) {
		cr_assert_gt(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"),
						    SL_SLICE_LIT("/"), out, sizeof out), 0);
		char want[9];
		snprintf(want, sizeof want, "%08x", i);
		param_of(out, "nc", v, sizeof v);
		cr_assert_str_eq(v, want);
		cr_assert_eq(st.nc, i);
		param_of(out, "cnonce", v, sizeof v);
		if (i == 1)
			strcpy(first_cnonce, v);
		cr_assert_str_eq(v, first_cnonce, "one cnonce per nonce");
	}
	cr_assert_str_eq(first_cnonce, "000102030405060708090a0b0c0d0e0f");
	cr_assert_eq(calls, 1);

	/* The second use of the RFC 7616 nonce, computed separately. */
	state_for(&st, R16_CHALLENGE("MD5"));
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/dir/index.html"),
			       out, sizeof out);
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/dir/index.html"),
			       out, sizeof out);
	param_of(out, "response", v, sizeof v);
	cr_assert_str_eq(v, "4b5d595ecf2db9df612ea5b45cd97101");
}

Test(auth, nonce_count_does_not_wrap)
{
	sl_auth_digest_state st;
	char out[512];
	state_for(&st, R16_CHALLENGE("MD5"));
	st.nc = UINT32_MAX - 1;
	cr_assert_gt(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"),
					    out, sizeof out), 0);
	cr_assert_not_null(strstr(out, "nc=ffffffff"));
	cr_assert_eq(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"),
					    out, sizeof out), SL_E_AUTH_NONCE_SPENT);
}

Test(auth, small_buffer_does_not_use_up_the_count)
{
	sl_auth_digest_state st;
	char out[512];
	state_for(&st, R16_CHALLENGE("SHA-256"));
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	cr_assert_eq(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/dir/index.html"), out, 100),
		     SL_E_AUTH_BUFFER);
	cr_assert_str_eq(out, "");
	cr_assert_eq(st.nc, 0u);
	int n = sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"),
				       SL_SLICE_LIT("/dir/index.html"), out, sizeof out);
	cr_assert_gt(n, 0);
	cr_assert_not_null(
		strstr(out, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"));
	/* Exactly enough room, then one byte less. */
	char exact[512];
	state_for(&st, R16_CHALLENGE("SHA-256"));
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	cr_assert_eq(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/dir/index.html"), exact, (size_t)n),
		     SL_E_AUTH_BUFFER);
	cr_assert_eq(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"),
					    SL_SLICE_LIT("/dir/index.html"), exact, (size_t)n + 1), n);
	cr_assert_str_eq(exact, out);
}

Test(auth, stale_challenge_keeps_credentials)
{
	sl_auth_digest_state st;
	char out[512], v[80];
	int calls = 0;
	sl_auth_challenge c = parse1(R16_CHALLENGE("MD5"));
	sl_auth_digest_init(&st, &c, counting_rand, &calls);
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"), out, sizeof out);
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"), out, sizeof out);
	cr_assert_eq(st.nc, 2u);

	sl_field f[] = {
		F(WWW, "Basic realm=\"" R16_REALM "\""),
		F(WWW, "Digest realm=\"" R16_REALM "\", qop=\"auth\", algorithm=MD5, "
		       "nonce=\"newnonce42\", opaque=\"op2\", stale=TRUE"),
	};
	cr_assert_eq(sl_auth_digest_refresh(&st, f, NF(f), WWW), 0);
	cr_assert_eq(st.nc, 0u);
	cr_assert_str_eq(st.nonce, "newnonce42");
	cr_assert_str_eq(st.opaque, "op2");

	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"), out, sizeof out);
	param_of(out, "nonce", v, sizeof v);
	cr_assert_str_eq(v, "newnonce42");
	param_of(out, "nc", v, sizeof v);
	cr_assert_str_eq(v, "00000001");
	param_of(out, "cnonce", v, sizeof v);
	cr_assert_str_eq(v, "101112131415161718191a1b1c1d1e1f", "a new nonce brings a new cnonce");

	/* The response under the new nonce, computed separately. */
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	st.nc = 0;
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/dir/index.html"),
			       out, sizeof out);
	param_of(out, "response", v, sizeof v);
	cr_assert_str_eq(v, "411cee27c2683599195ae4860179141b");
}

Test(auth, fresh_challenge_means_rejected)
{
	sl_auth_digest_state st;
	char out[512];
	state_for(&st, R16_CHALLENGE("MD5"));
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"), out, sizeof out);

	static const char *const rejecting[] = {
		"Digest realm=\"" R16_REALM "\", nonce=\"new\", qop=auth, algorithm=MD5",
		"Digest realm=\"" R16_REALM "\", nonce=\"new\", qop=auth, stale=false",
		"Digest realm=\"other\", nonce=\"new\", qop=auth, stale=true",
		"Digest realm=\"" R16_REALM "\", nonce=\"new\", qop=auth, algorithm=SHA-256, stale=true",
		"Digest realm=\"" R16_REALM "\", nonce=\"new\", qop=auth-int, stale=true",
		"Basic realm=\"" R16_REALM "\"",
	};
	for (size_t i = 0; i < NF(rejecting); i++) {
		sl_auth_challenge c = parse1(rejecting[i]);
		cr_assert_eq(sl_auth_digest_update(&st, &c), SL_E_AUTH_REJECTED, "%s", rejecting[i]);
		cr_assert_str_eq(st.nonce, R16_NONCE);
		cr_assert_eq(st.nc, 1u);
	}
	sl_field none[] = {F("Server", "x")};
	cr_assert_eq(sl_auth_digest_refresh(&st, none, NF(none), WWW), SL_E_AUTH_REJECTED);
}

Test(auth, nextnonce_is_adopted)
{
	sl_auth_digest_state st;
	char out[512], v[80];
	state_for(&st, R16_CHALLENGE("MD5"));
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/dir/index.html"),
			       out, sizeof out);
	sl_field f[] = {F("Authentication-Info", "nextnonce=\"newnonce42\"")};
	cr_assert_eq(sl_auth_digest_info(&st, f, NF(f), "Authentication-Info",
					 SL_SLICE_LIT("/dir/index.html")), 0);
	cr_assert_str_eq(st.nonce, "newnonce42");
	cr_assert_eq(st.nc, 0u);
	cr_assert_str_eq(st.cnonce, "");
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/dir/index.html"),
			       out, sizeof out);
	param_of(out, "nonce", v, sizeof v);
	cr_assert_str_eq(v, "newnonce42");
	param_of(out, "response", v, sizeof v);
	cr_assert_str_eq(v, "411cee27c2683599195ae4860179141b");

	/* No Authentication-Info at all changes nothing. */
	sl_field none[] = {F("Server", "x")};
	cr_assert_eq(sl_auth_digest_info(&st, none, NF(none), "Authentication-Info",
					 SL_SLICE_LIT("/")), 0);
	cr_assert_eq(st.nc, 1u);
}

Test(auth, rspauth_is_verified)
{
	/* rspauth = H(H(A1):nonce:nc:cnonce:auth:H(":" uri)), computed separately. */
	sl_auth_digest_state st;
	char out[512];
	state_for(&st, R16_CHALLENGE("MD5"));
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/dir/index.html"),
			       out, sizeof out);

	sl_field good[] = {F("Authentication-Info",
			     "qop=auth, rspauth=\"9b712497bc9f91499fbcca1dfc5f09a5\", "
			     "cnonce=\"" R16_CNONCE "\", nc=00000001, nextnonce=\"nn\"")};
	sl_field upper[] = {F("Authentication-Info", "rspauth=\"9B712497BC9F91499FBCCA1DFC5F09A5\"")};
	sl_field wrong[] = {F("Authentication-Info",
			      "rspauth=\"9b712497bc9f91499fbcca1dfc5f09a6\", nextnonce=\"bad\"")};
	sl_field other_cnonce[] = {F("Authentication-Info",
				     "rspauth=\"9b712497bc9f91499fbcca1dfc5f09a5\", cnonce=\"x\"")};
	sl_field other_nc[] = {F("Authentication-Info",
				 "rspauth=\"9b712497bc9f91499fbcca1dfc5f09a5\", nc=00000002")};
	sl_field bad_nc[] = {F("Authentication-Info",
			       "rspauth=\"9b712497bc9f91499fbcca1dfc5f09a5\", nc=1")};
	const char *ai = "Authentication-Info";
	sl_slice uri = SL_SLICE_LIT("/dir/index.html");

	cr_assert_eq(sl_auth_digest_info(&st, upper, 1, ai, uri), 0);
	cr_assert_eq(sl_auth_digest_info(&st, wrong, 1, ai, uri), SL_E_AUTH_RSPAUTH);
	cr_assert_str_eq(st.nonce, R16_NONCE, "nothing adopted from a failed proof");
	cr_assert_eq(sl_auth_digest_info(&st, other_cnonce, 1, ai, uri), SL_E_AUTH_RSPAUTH);
	cr_assert_eq(sl_auth_digest_info(&st, other_nc, 1, ai, uri), SL_E_AUTH_RSPAUTH);
	cr_assert_eq(sl_auth_digest_info(&st, bad_nc, 1, ai, uri), SL_E_AUTH_RSPAUTH);
	cr_assert_eq(sl_auth_digest_info(&st, good, 1, ai, SL_SLICE_LIT("/other")),
		     SL_E_AUTH_RSPAUTH);
	cr_assert_eq(sl_auth_digest_info(&st, good, 1, ai, uri), 0);
	cr_assert_str_eq(st.nonce, "nn");

	/* SHA-256, and the proxy's field name. */
	state_for(&st, R16_CHALLENGE("SHA-256"));
	sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT(R16_CNONCE));
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), uri, out, sizeof out);
	sl_field p[] = {F("Proxy-Authentication-Info",
			  "rspauth=\"86d3b25618d41854ca5039a5d7e53ff6355d5134a9b1fb088a78ac3c462195a0\"")};
	cr_assert_eq(sl_auth_digest_info(&st, p, 1, "Proxy-Authentication-Info", uri), 0);
}

Test(auth, authentication_info_errors)
{
	sl_auth_digest_state st;
	char out[512];
	const char *ai = "Authentication-Info";
	state_for(&st, R16_CHALLENGE("MD5"));
	sl_field early[] = {F("Authentication-Info", "rspauth=\"00\"")};
	cr_assert_eq(sl_auth_digest_info(&st, early, 1, ai, SL_SLICE_LIT("/")), SL_E_INVAL);

	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"), out, sizeof out);
	sl_field junk[] = {F("Authentication-Info", "nextnonce=\"unterminated")};
	cr_assert_eq(sl_auth_digest_info(&st, junk, 1, ai, SL_SLICE_LIT("/")), SL_E_AUTH_SYNTAX);
	sl_field junk2[] = {F("Authentication-Info", "nextnonce \"x\"")};
	cr_assert_eq(sl_auth_digest_info(&st, junk2, 1, ai, SL_SLICE_LIT("/")), SL_E_AUTH_SYNTAX);
	cr_assert_str_eq(st.nonce, R16_NONCE);

	char big[SL_AUTH_NONCE_MAX + 32];
	int n = snprintf(big, sizeof big, "nextnonce=");
	memset(big + n, 'a', SL_AUTH_NONCE_MAX);
	big[n + SL_AUTH_NONCE_MAX] = '\0';
	sl_field toolong[] = {F("Authentication-Info", big)};
	cr_assert_eq(sl_auth_digest_info(&st, toolong, 1, ai, SL_SLICE_LIT("/")),
		     SL_E_AUTH_TOO_LONG);
	cr_assert_str_eq(st.nonce, R16_NONCE);
}

Test(auth, init_refuses_what_it_cannot_answer)
{
	sl_auth_digest_state st;
	sl_auth_challenge c = parse1("Basic realm=\"r\"");
	cr_assert_eq(sl_auth_digest_init(&st, &c, NULL, NULL), SL_E_AUTH_SCHEME);
	c = parse1("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"");
	cr_assert_eq(sl_auth_digest_init(&st, &c, NULL, NULL), SL_E_AUTH_BAD_QOP);
	c = parse1("Digest realm=\"r\"");
	cr_assert_eq(sl_auth_digest_init(&st, &c, NULL, NULL), SL_E_AUTH_NO_NONCE);
}

Test(auth, cnonce_sources)
{
	sl_auth_digest_state st;
	char out[512], v[80];
	sl_auth_challenge c = parse1(R16_CHALLENGE("MD5"));

	/* RAND_bytes by default: 32 hex digits, different each time. */
	cr_assert_eq(sl_auth_digest_init(&st, &c, NULL, NULL), 0);
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"), out, sizeof out);
	param_of(out, "cnonce", v, sizeof v);
	cr_assert_eq(strlen(v), 32u);
	char first[80];
	strcpy(first, v);
	sl_auth_digest_init(&st, &c, NULL, NULL);
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"), out, sizeof out);
	param_of(out, "cnonce", v, sizeof v);
	cr_assert_str_neq(v, first);

	/* A failing source fails the request and uses up nothing. */
	sl_auth_digest_init(&st, &c, failing_rand, NULL);
	cr_assert_eq(sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"),
					    out, sizeof out), SL_E_AUTH_CRYPTO);
	cr_assert_eq(st.nc, 0u);

	/* Injected cnonces are checked. */
	cr_assert_eq(sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT("")), SL_E_INVAL);
	cr_assert_eq(sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT("a\"b")), SL_E_INVAL);
	cr_assert_eq(sl_auth_digest_set_cnonce(&st, SL_SLICE_LIT("a b")), SL_E_INVAL);
	char longc[SL_AUTH_CNONCE_MAX + 1];
	memset(longc, 'c', sizeof longc);
	cr_assert_eq(sl_auth_digest_set_cnonce(&st, sl_slice_make(longc, sizeof longc)), SL_E_INVAL);
}

Test(auth, clear_wipes_the_state)
{
	sl_auth_digest_state st;
	char out[512];
	state_for(&st, R16_CHALLENGE("MD5"));
	sl_auth_digest_respond(&st, &mufasa, SL_SLICE_LIT("GET"), SL_SLICE_LIT("/"), out, sizeof out);
	cr_assert_neq(st.ha1[0], '\0');
	sl_auth_digest_clear(&st);
	static const sl_auth_digest_state zero;
	cr_assert_eq(memcmp(&st, &zero, sizeof st), 0);
}

Test(auth, names_and_error_texts)
{
	cr_assert_str_eq(sl_auth_algo_name(SL_AUTH_SHA512_256_SESS), "SHA-512-256-sess");
	cr_assert_str_eq(sl_auth_algo_name(SL_AUTH_MD5), "MD5");
	cr_assert_str_eq(sl_auth_scheme_name(SL_AUTH_DIGEST), "Digest");
	cr_assert_str_eq(sl_auth_scheme_name(SL_AUTH_NONE), "");
	cr_assert_str_eq(sl_errname(SL_E_AUTH_RSPAUTH), "SL_E_AUTH_RSPAUTH");
	cr_assert_str_eq(sl_errname(SL_E_AUTH_NONCE_SPENT), "SL_E_AUTH_NONCE_SPENT");
	for (int code = SL_E_AUTH_SYNTAX; code >= SL_E_AUTH_NONCE_SPENT; code--)
		cr_assert_str_neq(sl_errname(code), "SL_E_UNKNOWN", "code %d", code);
}
