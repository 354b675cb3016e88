/*
 * Unit tests of the HTTP/1.1 head parser (core/http_parse.h). Every message
 * goes through check_req()/check_res(), which parse it whole, then split in
 * two at every offset, then one byte at a time, each call on a fresh buffer
 * of exactly the bytes presented (so a sanitizer build catches any read
 * past them), and require the same result every way: same code, same error
 * offset, same slices. Chunked decoding has its own file.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/http_parse.h"

#define MAXF 128

/* One parse outcome, slices kept as offsets so buffers may differ. */
struct out {
	int r;
	size_t err_off;
	size_t nfields;
	size_t off[MAXF][4];     /* name offset, name length, value ... */
	size_t s[3][2];          /* method, target / reason, host */
	int form, meth, minor, status, body;
	unsigned long long cl;
	int ka, expect, upgrade;
};

struct opts {
	bool res;
	enum sl_http_method m;   /* request method, for responses */
	const sl_http_limits *lim;
	size_t cap;
};

static void slot(size_t dst[2], sl_slice s, const char *base)
{
	dst[0] = s.p ? (size_t)(s.p - base) : (size_t)-1;
	dst[1] = s.n;
}

/* Runs one call on a private copy of buf[0..n) and records the outcome. */
static int call(sl_http_parser *p, const struct opts *o, const char *buf,
		size_t n, struct out *res)
{
	char *copy = malloc(n ? n : 1);
	sl_field f[MAXF];
	sl_http_request rq;
	sl_http_response rs;
	size_t cap = o->cap ? o->cap : MAXF;
	int r;

	cr_assert(copy);
	memcpy(copy, buf, n);
	memset(res, 0, sizeof *res);
	if (o->res)
		r = sl_http_parse_response(p, copy, n, o->m, &rs, f, cap);
	else
		r = sl_http_parse_request(p, copy, n, &rq, f, cap);
	res->r = r;
	if (r < 0 && r != SL_E_AGAIN)
		res->err_off = p->err_off;
	if (r > 0) {
		cr_assert_leq((size_t)r, n);
		size_t nf = o->res ? rs.nfields : rq.nfields;
		cr_assert_leq(nf, cap);
		res->nfields = nf;
		for (size_t i = 0; i < nf; i++) {
			cr_assert(f[i].name.p >= copy &&
				  f[i].name.p + f[i].name.n <= copy + r);
			cr_assert(f[i].value.p >= copy &&
				  f[i].value.p + f[i].value.n <= copy + r);
			slot(&res->off[i][0], f[i].name, copy);
			slot(&res->off[i][2], f[i].value, copy);
		}
		if (o->res) {
			slot(res->s[1], rs.reason, copy);
			res->minor = rs.minor_version;
			res->status = rs.status;
			res->body = rs.body;
			res->cl = rs.content_length;
			res->ka = rs.keep_alive;
			res->upgrade = rs.upgrade;
			cr_assert_eq(rs.fields, f);
		} else {
			slot(res->s[0], rq.method, copy);
			slot(res->s[1], rq.target, copy);
			slot(res->s[2], rq.host, copy);
			res->form = rq.form;
			res->meth = rq.meth;
			res->minor = rq.minor_version;
			res->body = rq.body;
			res->cl = rq.content_length;
			res->ka = rq.keep_alive;
			res->expect = rq.expect_continue;
			res->upgrade = rq.upgrade;
			cr_assert_eq(rq.fields, f);
		}
	}
	free(copy);
	return r;
}

static void same(const struct out *a, const struct out *b, const char *how,
		 size_t k)
{
	cr_assert_eq(a->r, b->r, "%s at %zu: %s vs %s", how, k,
		     sl_errname(a->r), sl_errname(b->r));
	cr_assert_eq(a->err_off, b->err_off, "%s at %zu: offset %zu vs %zu",
		     how, k, a->err_off, b->err_off);
	cr_assert(!memcmp(a, b, sizeof *a), "%s at %zu: results differ", how,
		  k);
}

/*
 * Parses msg[0..n) whole, split at every offset and byte by byte; checks
 * all agree and returns the whole result in *o.
 */
static void check(const struct opts *op, const char *msg, size_t n,
		  struct out *o)
{
	sl_http_parser p;
	struct out x;
	const sl_http_limits *l = op->lim;

	sl_http_parser_init(&p, l);
	call(&p, op, msg, n, o);
	for (size_t k = 0; k <= n; k++) {
		sl_http_parser_init(&p, l);
		if (call(&p, op, msg, k, &x) == SL_E_AGAIN)
			call(&p, op, msg, n, &x);
		same(o, &x, "split", k);
	}
	sl_http_parser_init(&p, l);
	for (size_t k = 0; k <= n; k++)
		if (call(&p, op, msg, k, &x) != SL_E_AGAIN || k == n)
			break;
	same(o, &x, "bytewise", 0);
}

static struct out req_l(const char *msg, const sl_http_limits *l, size_t cap)
{
	struct opts op = {.lim = l, .cap = cap};
	struct out o;

	check(&op, msg, strlen(msg), &o);
	return o;
}

static struct out req(const char *msg)
{
	return req_l(msg, NULL, 0);
}

static struct out res_l(const char *msg, enum sl_http_method m,
			const sl_http_limits *l)
{
	struct opts op = {.res = true, .m = m, .lim = l};
	struct out o;

	check(&op, msg, strlen(msg), &o);
	return o;
}

static struct out res(const char *msg, enum sl_http_method m)
{
	return res_l(msg, m, NULL);
}

/* Offset of the first occurrence of needle in msg. */
static size_t at(const char *msg, const char *needle)
{
	const char *p = strstr(msg, needle);

	cr_assert(p, "'%s' not in message", needle);
	return (size_t)(p - msg);
}

static void expect_err(struct out o, int code, size_t off)
{
	cr_assert_eq(o.r, code, "got %s (%d), want %s", sl_errname(o.r), o.r,
		     sl_errname(code));
	cr_assert_eq(o.err_off, off, "offset %zu, want %zu", o.err_off, off);
}

static void expect_slice(const char *msg, const size_t s[2], const char *want)
{
	cr_assert_eq(s[1], strlen(want), "length %zu, want '%s'", s[1], want);
	cr_assert(!memcmp(msg + s[0], want, s[1]), "want '%s'", want);
}

static void expect_field(const char *msg, const struct out *o, size_t i,
			 const char *name, const char *value)
{
	cr_assert_lt(i, o->nfields);
	expect_slice(msg, &o->off[i][0], name);
	expect_slice(msg, &o->off[i][2], value);
}

#define H11 " HTTP/1.1\r\nHost: h\r\n"

/* ---- request lines and targets ---------------------------------------- */

Test(http_parse, rfc9112_get_example)
{
	const char *m = "GET /hello.txt HTTP/1.1\r\n"
			"User-Agent: curl/7.64.1\r\n"
			"Host: www.example.com\r\n"
			"Accept-Language: en, mi\r\n\r\n";
	struct out o = req(m);

	cr_assert_eq(o.r, (int)strlen(m));
	expect_slice(m, o.s[0], "GET");
	expect_slice(m, o.s[1], "/hello.txt");
	expect_slice(m, o.s[2], "www.example.com");
	cr_assert_eq(o.meth, SL_METHOD_GET);
	cr_assert_eq(o.form, SL_TARGET_ORIGIN);
	cr_assert_eq(o.minor, 1);
	cr_assert_eq(o.nfields, 3);
	expect_field(m, &o, 0, "User-Agent", "curl/7.64.1");
	expect_field(m, &o, 2, "Accept-Language", "en, mi");
	cr_assert_eq(o.body, SL_BODY_NONE);
	cr_assert(o.ka);
}

Test(http_parse, origin_form_with_query)
{
	const char *m = "GET /where?q=now&x=%2F:@!$'()*+,;= HTTP/1.1\r\n"
			"Host: www.example.org\r\n\r\n";
	struct out o = req(m);

	cr_assert_gt(o.r, 0);
	expect_slice(m, o.s[1], "/where?q=now&x=%2F:@!$'()*+,;=");
	cr_assert_eq(o.form, SL_TARGET_ORIGIN);
}

Test(http_parse, absolute_form)
{
	const char *m = "GET http://www.example.org/pub/WWW/TheProject.html "
			"HTTP/1.1\r\nHost: www.example.org\r\n\r\n";
	struct out o = req(m);

	cr_assert_gt(o.r, 0);
	cr_assert_eq(o.form, SL_TARGET_ABSOLUTE);
	expect_slice(m, o.s[1],
		     "http://www.example.org/pub/WWW/TheProject.html");
}

Test(http_parse, absolute_form_variants)
{
	const char *ok[] = {
		"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET http://[::1]:8080/x?y HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
		"GET https://u@example.com:443?q HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET svn+ssh://h/p%20q HTTP/1.1\r\nHost: h\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct out o = req(ok[i]);

		cr_assert_gt(o.r, 0, "%s", ok[i]);
		cr_assert_eq(o.form, SL_TARGET_ABSOLUTE);
	}
}

Test(http_parse, absolute_form_malformed)
{
	const char *m = "GET http:/x HTTP/1.1\r\nHost: h\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_TARGET, 10);
	m = "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_TARGET, 11);
	m = "GET http://h/a b HTTP/1.1\r\nHost: h\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_VERSION, at(m, "b HTTP"));
}

Test(http_parse, authority_form_connect)
{
	const char *m = "CONNECT www.example.com:80 HTTP/1.1\r\n"
			"Host: www.example.com:80\r\n\r\n";
	struct out o = req(m);

	cr_assert_gt(o.r, 0);
	cr_assert_eq(o.meth, SL_METHOD_CONNECT);
	cr_assert_eq(o.form, SL_TARGET_AUTHORITY);
	expect_slice(m, o.s[1], "www.example.com:80");
	cr_assert_eq(o.body, SL_BODY_NONE);
}

Test(http_parse, authority_form_ip_literal)
{
	const char *m = "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n"
			"Host: [2001:db8::1]:443\r\n\r\n";
	struct out o = req(m);

	cr_assert_gt(o.r, 0);
	expect_slice(m, o.s[1], "[2001:db8::1]:443");
	m = "CONNECT 192.0.2.1:65535 HTTP/1.1\r\nHost: x\r\n\r\n";
	cr_assert_gt(req(m).r, 0);
}

Test(http_parse, authority_form_bad_port)
{
	const char *bad[] = {
		"CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT example.com: HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT example.com:0 HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT example.com:65536 HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT example.com:123456 HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT :80 HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT []:80 HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT u@h:80 HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT h:80/ HTTP/1.1\r\nHost: x\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(req(bad[i]).r, SL_E_HTTP_BAD_TARGET, "%s", bad[i]);
}

Test(http_parse, connect_needs_authority_form)
{
	const char *m = "CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_TARGET, 8);
	m = "CONNECT http://h:80/ HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(req(m).r, SL_E_HTTP_BAD_TARGET);
}

Test(http_parse, authority_form_only_for_connect)
{
	const char *m = "GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_TARGET, at(m, ":80") + 1);
}

Test(http_parse, asterisk_form)
{
	const char *m = "OPTIONS * HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n";
	struct out o = req(m);

	cr_assert_gt(o.r, 0);
	cr_assert_eq(o.form, SL_TARGET_ASTERISK);
	cr_assert_eq(o.meth, SL_METHOD_OPTIONS);
	expect_slice(m, o.s[1], "*");
}

Test(http_parse, asterisk_only_for_options)
{
	expect_err(req("GET *" H11 "\r\n"), SL_E_HTTP_BAD_TARGET, 4);
	expect_err(req("OPTIONS *x" H11 "\r\n"), SL_E_HTTP_BAD_TARGET, 9);
}

Test(http_parse, methods)
{
	static const struct {
		const char *name;
		enum sl_http_method m;
	} t[] = {
		{"GET", SL_METHOD_GET},         {"HEAD", SL_METHOD_HEAD},
		{"POST", SL_METHOD_POST},       {"PUT", SL_METHOD_PUT},
		{"DELETE", SL_METHOD_DELETE},   {"OPTIONS", SL_METHOD_OPTIONS},
		{"TRACE", SL_METHOD_TRACE},     {"PATCH", SL_METHOD_PATCH},
		{"PROPFIND", SL_METHOD_OTHER},  {"get", SL_METHOD_OTHER},
		{"M-SEARCH", SL_METHOD_OTHER},  {"X!#$%&'*+-.^_`|~9", SL_METHOD_OTHER},
	};
	char m[128];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		snprintf(m, sizeof m, "%s /" H11 "\r\n", t[i].name);
		struct out o = req(m);

		cr_assert_gt(o.r, 0, "%s", m);
		cr_assert_eq(o.meth, (int)t[i].m, "%s", t[i].name);
		expect_slice(m, o.s[0], t[i].name);
		cr_assert_eq(sl_http_method_of(sl_slice_cstr(t[i].name)), t[i].m);
	}
}

Test(http_parse, bad_method_char)
{
	expect_err(req("GE(T /" H11 "\r\n"), SL_E_HTTP_BAD_METHOD, 2);
	expect_err(req("G\tET /" H11 "\r\n"), SL_E_HTTP_BAD_METHOD, 1);
	expect_err(req("GET\xc3\xa9 /" H11 "\r\n"), SL_E_HTTP_BAD_METHOD, 3);
}

Test(http_parse, bad_method_reported_early)
{
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[8];

	sl_http_parser_init(&p, NULL);
	cr_assert_eq(sl_http_parse_request(&p, "GE", 2, &rq, f, 8), SL_E_AGAIN);
	cr_assert_eq(sl_http_parse_request(&p, "GE[", 3, &rq, f, 8),
		     SL_E_HTTP_BAD_METHOD);
	cr_assert_eq(p.err_off, 2);
}

Test(http_parse, empty_method)
{
	expect_err(req(" /" H11 "\r\n"), SL_E_HTTP_BAD_METHOD, 0);
}

Test(http_parse, malformed_request_lines)
{
	expect_err(req("GET\r\nHost: h\r\n\r\n"), SL_E_HTTP_BAD_REQUEST_LINE, 3);
	expect_err(req("GET /\r\nHost: h\r\n\r\n"), SL_E_HTTP_BAD_REQUEST_LINE, 5);
	expect_err(req("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BAD_TARGET, 4);
	expect_err(req("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BAD_REQUEST_LINE, 14);
	expect_err(req("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BAD_TARGET, 5);
}

Test(http_parse, bad_target_chars)
{
	const char *m = "GET /a<b" H11 "\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_TARGET, 6);
	expect_err(req("GET /a#frag" H11 "\r\n"), SL_E_HTTP_BAD_TARGET, 6);
	expect_err(req("GET /a\"" H11 "\r\n"), SL_E_HTTP_BAD_TARGET, 6);
	expect_err(req("GET /\xff" H11 "\r\n"), SL_E_HTTP_BAD_TARGET, 5);
	expect_err(req("GET a/b" H11 "\r\n"), SL_E_HTTP_BAD_TARGET, 5);
	expect_err(req("GET ?x" H11 "\r\n"), SL_E_HTTP_BAD_TARGET, 4);
}

Test(http_parse, bad_percent_encoding)
{
	expect_err(req("GET /a%zz" H11 "\r\n"), SL_E_HTTP_BAD_TARGET, 7);
	expect_err(req("GET /a%4" H11 "\r\n"), SL_E_HTTP_BAD_TARGET, 8);
	cr_assert_gt(req("GET /a%4F%e9" H11 "\r\n").r, 0);
}

Test(http_parse, bad_versions)
{
	expect_err(req("GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BAD_VERSION, 11);
	expect_err(req("GET / HTTP/1.2\r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BAD_VERSION, 13);
	expect_err(req("GET / HTTP/0.9\r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BAD_VERSION, 11);
	expect_err(req("GET / http/1.1\r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BAD_VERSION, 6);
	expect_err(req("GET / HTTP/1.10\r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BAD_VERSION, 14);
	expect_err(req("GET / HTTP/1\r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BAD_VERSION, 12);
}

Test(http_parse, http10_request)
{
	const char *m = "GET / HTTP/1.0\r\n\r\n";
	struct out o = req(m);

	cr_assert_eq(o.r, (int)strlen(m));
	cr_assert_eq(o.minor, 0);
	cr_assert_not(o.ka);
	cr_assert_eq(o.s[2][0], (size_t)-1);
	o = req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	cr_assert(o.ka);
	o = req("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	cr_assert_not(o.ka);
}

Test(http_parse, leading_empty_lines_skipped)
{
	const char *m = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
	struct out o = req(m);

	cr_assert_eq(o.r, (int)strlen(m));
	expect_slice(m, o.s[0], "GET");
	expect_err(req("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
		   SL_E_HTTP_BARE_LF, 0);
}

/* ---- Host ---------------------------------------------------------------- */

Test(http_parse, missing_host)
{
	const char *m = "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_MISSING_HOST, strlen(m) - 2);
}

Test(http_parse, multiple_host)
{
	const char *m = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nhost: a\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_MULTIPLE_HOST, at(m, "host: a"));
}

Test(http_parse, bad_host_value)
{
	const char *m = "GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_HOST, at(m, " mple"));
	m = "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_HOST, at(m, "/b"));
}

Test(http_parse, empty_host_allowed)
{
	const char *m = "GET / HTTP/1.1\r\nHost:\r\n\r\n";
	struct out o = req(m);

	cr_assert_gt(o.r, 0);
	cr_assert_eq(o.s[2][1], 0);
	cr_assert_neq(o.s[2][0], (size_t)-1);
}

/* ---- fields ----------------------------------------------------------- */

Test(http_parse, field_values_trimmed)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\n"
			"A: \t  x y \t \r\n"
			"B:\r\n"
			"C:   \r\n"
			"D:v\r\n"
			"E: a\tb\r\n\r\n";
	struct out o = req(m);

	cr_assert_eq(o.nfields, 6);
	expect_field(m, &o, 1, "A", "x y");
	expect_field(m, &o, 2, "B", "");
	expect_field(m, &o, 3, "C", "");
	expect_field(m, &o, 4, "D", "v");
	expect_field(m, &o, 5, "E", "a\tb");
}

Test(http_parse, obs_text_in_value)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9 \x80\xff\r\n\r\n";
	struct out o = req(m);

	cr_assert_gt(o.r, 0);
	expect_field(m, &o, 1, "X", "caf\xc3\xa9 \x80\xff");
}

Test(http_parse, obs_text_in_name)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nX\xe9: 1\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_FIELD_NAME, at(m, "\xe9"));
}

Test(http_parse, ws_before_colon)
{
	const char *m = "GET / HTTP/1.1\r\nHost : h\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_WS_BEFORE_COLON, at(m, " : h"));
	m = "GET / HTTP/1.1\r\nHost: h\r\nX\t: y\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_WS_BEFORE_COLON, at(m, "\t:"));
}

Test(http_parse, ws_inside_name)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_FIELD_NAME, at(m, " Y:"));
}

Test(http_parse, empty_field_name)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_FIELD_NAME, at(m, ": z"));
}

Test(http_parse, field_without_colon)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_FIELD_NAME, at(m, "\r\n\r\n"));
}

Test(http_parse, obs_fold_in_request)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_OBS_FOLD, at(m, "  b"));
}

Test(http_parse, whitespace_after_start_line)
{
	const char *m = "GET / HTTP/1.1\r\n Host: h\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_FIELD_NAME, 16);
}

Test(http_parse, bare_cr)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BARE_CR, at(m, "\rb"));
	m = "GET / HTTP/1.1\rHost: h\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BARE_CR, 14);
	m = "GET / HTTP/1.1\r\nHost: h\r\n\r\r\n";
	expect_err(req(m), SL_E_HTTP_BARE_CR, strlen(m) - 3);
}

Test(http_parse, bare_cr_reported_early)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb";
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[8];

	sl_http_parser_init(&p, NULL);
	cr_assert_eq(sl_http_parse_request(&p, m, 20, &rq, f, 8), SL_E_AGAIN);
	cr_assert_eq(sl_http_parse_request(&p, m, strlen(m), &rq, f, 8),
		     SL_E_HTTP_BARE_CR);
	cr_assert_eq(p.err_off, at(m, "\rb"));
}

Test(http_parse, bare_lf_in_request)
{
	const char *m = "GET / HTTP/1.1\nHost: h\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BARE_LF, 14);
	m = "GET / HTTP/1.1\r\nHost: h\n\r\n";
	expect_err(req(m), SL_E_HTTP_BARE_LF, at(m, "\n\r\n"));
	m = "GET / HTTP/1.1\r\nHost: h\r\n\n";
	expect_err(req(m), SL_E_HTTP_BARE_LF, strlen(m) - 1);
}

Test(http_parse, nul_byte)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
	struct opts op = {0};
	struct out o;

	check(&op, m, 34, &o);
	expect_err(o, SL_E_HTTP_CTL_CHAR, 29);
	check(&op, "GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n", 28, &o);
	expect_err(o, SL_E_HTTP_CTL_CHAR, 5);
	check(&op, "G\0T / HTTP/1.1\r\nHost: h\r\n\r\n", 28, &o);
	expect_err(o, SL_E_HTTP_CTL_CHAR, 1);
}

Test(http_parse, nul_reported_early)
{
	const char m[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0";
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[8];

	sl_http_parser_init(&p, NULL);
	cr_assert_eq(sl_http_parse_request(&p, m, 10, &rq, f, 8), SL_E_AGAIN);
	cr_assert_eq(sl_http_parse_request(&p, m, sizeof m - 1, &rq, f, 8),
		     SL_E_HTTP_CTL_CHAR);
	cr_assert_eq(p.err_off, sizeof m - 2);
}

Test(http_parse, other_control_chars)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_CTL_CHAR, at(m, "\x01"));
	m = "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_CTL_CHAR, at(m, "\x7f"));
	m = "GET / HTTP/1.1\r\nHost: h\r\nX\x1b: a\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_CTL_CHAR, at(m, "\x1b"));
	m = "GET /\x0b HTTP/1.1\r\nHost: h\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_CTL_CHAR, 5);
}

Test(http_parse, byte_error_wins_over_earlier_structure)
{
	/* A control byte anywhere beats a structural error before it. */
	const char m[] = "GET /a<b HTTP/1.1\r\nHost: h\r\nX: \x01\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_CTL_CHAR, at(m, "\x01"));
}

Test(http_parse, first_structural_error_wins)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nA : b\r\nC D: e\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_WS_BEFORE_COLON, at(m, " : b"));
}

/* ---- framing ------------------------------------------------------------ */

Test(http_parse, content_length)
{
	const char *m = "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n";
	struct out o = req(m);

	cr_assert_eq(o.r, (int)strlen(m));
	cr_assert_eq(o.body, SL_BODY_LENGTH);
	cr_assert_eq(o.cl, 42);
	o = req("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 0\r\n\r\n");
	cr_assert_eq(o.body, SL_BODY_LENGTH);
	cr_assert_eq(o.cl, 0);
}

Test(http_parse, content_length_max_and_overflow)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\n"
			"Content-Length: 9223372036854775807\r\n\r\n";
	struct out o = req(m);

	cr_assert_eq(o.cl, 9223372036854775807ULL);
	m = "POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 9223372036854775808\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_CONTENT_LENGTH, at(m, "8\r\n"));
	m = "POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 000000000000000000000000000012\r\n\r\n";
	cr_assert_eq(req(m).cl, 12);
}

Test(http_parse, content_length_malformed)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_CONTENT_LENGTH, at(m, "+5"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_CONTENT_LENGTH, at(m, "-1"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5a\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_CONTENT_LENGTH, at(m, "a\r"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_CONTENT_LENGTH, at(m, "\r\n\r\n"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_CONTENT_LENGTH, at(m, "x10"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_CONTENT_LENGTH, at(m, "2\r"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_CONTENT_LENGTH, at(m, "\r\n\r\n"));
}

Test(http_parse, content_length_identical_list)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5 ,5\r\n"
			"Content-Length: 5\r\n\r\n";
	struct out o = req(m);

	cr_assert_gt(o.r, 0);
	cr_assert_eq(o.cl, 5);
}

Test(http_parse, content_length_mismatch)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_CL_MISMATCH, at(m, "6\r"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Content-Length: 7\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_CL_MISMATCH, at(m, "7\r"));
}

Test(http_parse, cl_and_te)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
			"Transfer-Encoding: chunked\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_CL_AND_TE, at(m, "Transfer"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_CL_AND_TE, at(m, "Content"));
}

Test(http_parse, chunked_request)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\n"
			"Transfer-Encoding: gzip, Chunked\r\n\r\n";
	struct out o = req(m);

	cr_assert_gt(o.r, 0);
	cr_assert_eq(o.body, SL_BODY_CHUNKED);
	m = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	cr_assert_eq(req(m).body, SL_BODY_CHUNKED);
	m = "POST / HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: ,gzip;q=\"a\\\"b\" ; x = y,, chunked ,\r\n\r\n";
	cr_assert_eq(req(m).body, SL_BODY_CHUNKED);
}

Test(http_parse, te_not_chunked_last)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\n"
			"Transfer-Encoding: chunked, gzip\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_TE_NOT_CHUNKED, at(m, "gzip"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_TE_NOT_CHUNKED, at(m, "gzip"));
}

Test(http_parse, te_chunked_twice)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\n"
			"Transfer-Encoding: chunked, chunked\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_TRANSFER_ENCODING, at(m, "chunked\r"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_TRANSFER_ENCODING, strlen(m) - 11);
}

Test(http_parse, te_malformed)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_TRANSFER_ENCODING, at(m, "\r\n\r\n"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;a=b\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_TRANSFER_ENCODING, at(m, ";a"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip chunked\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_TRANSFER_ENCODING, at(m, "chunked"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"x\"\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_TRANSFER_ENCODING, at(m, "\"x"));
	m = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: a;q=\"x, chunked\r\n\r\n";
	expect_err(req(m), SL_E_HTTP_BAD_TRANSFER_ENCODING, at(m, "\"x"));
}

Test(http_parse, te_in_http10)
{
	const char *m = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";

	expect_err(req(m), SL_E_HTTP_BAD_TRANSFER_ENCODING, at(m, "Transfer"));
}

Test(http_parse, connection_options)
{
	struct out o = req("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");

	cr_assert_not(o.ka);
	o = req("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo,  CLOSE \r\n\r\n");
	cr_assert_not(o.ka);
	o = req("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n");
	cr_assert(o.ka);
	o = req("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n");
	cr_assert(o.ka);
}

Test(http_parse, expect_continue)
{
	struct out o = req("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
			   "Content-Length: 3\r\n\r\n");

	cr_assert(o.expect);
	o = req("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
	cr_assert_not(o.expect);
	o = req("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n");
	cr_assert_not(o.expect);
	o = req("PUT / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_not(o.expect);
}

Test(http_parse, upgrade_present)
{
	struct out o = req("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
			   "Upgrade: websocket\r\n\r\n");

	cr_assert(o.upgrade);
	cr_assert_not(req("GET / HTTP/1.1\r\nHost: h\r\n\r\n").upgrade);
}

/* ---- limits ---------------------------------------------------------------- */

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	char *s = malloc(h + n + t + 1);

	memcpy(s, head, h);
	memset(s + h, c, n);
	memcpy(s + h + n, tail, t + 1);
	return s;
}

Test(http_parse, uri_too_long)
{
	char *m = repeat("GET /", 'a', 9000, H11 "\r\n");
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[8];

	sl_http_parser_init(&p, NULL);
	cr_assert_eq(sl_http_parse_request(&p, m, strlen(m), &rq, f, 8),
		     SL_E_HTTP_URI_TOO_LONG);
	cr_assert_eq(p.err_off, 8192);
	free(m);
}

Test(http_parse, uri_too_long_detected_early)
{
	char *m = repeat("GET /", 'a', 8200, "");
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[8];
	int r = SL_E_AGAIN;
	size_t k;

	sl_http_parser_init(&p, NULL);
	for (k = 1; k <= strlen(m) && r == SL_E_AGAIN; k++)
		r = sl_http_parse_request(&p, m, k, &rq, f, 8);
	cr_assert_eq(r, SL_E_HTTP_URI_TOO_LONG);
	cr_assert_eq(k - 1, 8193, "reported after %zu bytes", k - 1);
	free(m);
}

Test(http_parse, request_line_at_limit)
{
	sl_http_limits l = SL_HTTP_LIMITS_DEFAULT;
	const char *m = "GET /abc HTTP/1.1\r\nHost: h\r\n\r\n";

	l.max_request_line = 19;
	cr_assert_gt(req_l(m, &l, 0).r, 0);
	l.max_request_line = 18;
	expect_err(req_l(m, &l, 0), SL_E_HTTP_URI_TOO_LONG, 18);
	l.max_request_line = 5;
	expect_err(req_l(m, &l, 0), SL_E_HTTP_URI_TOO_LONG, 5);
}

Test(http_parse, headers_too_large)
{
	char *m = repeat("GET / HTTP/1.1\r\nHost: h\r\nX: ", 'v', 70000, "\r\n\r\n");
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[8];

	sl_http_parser_init(&p, NULL);
	cr_assert_eq(sl_http_parse_request(&p, m, strlen(m), &rq, f, 8),
		     SL_E_HTTP_HEADERS_TOO_LARGE);
	cr_assert_eq(p.err_off, 65536);
	sl_http_parser_init(&p, NULL);
	cr_assert_eq(sl_http_parse_request(&p, m, 40000, &rq, f, 8), SL_E_AGAIN);
	cr_assert_eq(sl_http_parse_request(&p, m, 65537, &rq, f, 8),
		     SL_E_HTTP_HEADERS_TOO_LARGE);
	free(m);
}

Test(http_parse, header_block_limit_exact)
{
	sl_http_limits l = SL_HTTP_LIMITS_DEFAULT;
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n";
	size_t n = strlen(m);

	l.max_header_bytes = n;
	cr_assert_eq(req_l(m, &l, 0).r, (int)n);
	l.max_header_bytes = n - 1;
	expect_err(req_l(m, &l, 0), SL_E_HTTP_HEADERS_TOO_LARGE, n - 1);
	l.max_header_bytes = 20;
	expect_err(req_l(m, &l, 0), SL_E_HTTP_HEADERS_TOO_LARGE, 20);
}

static char *many_fields(size_t n)
{
	char *s = malloc(64 + n * 16), *p = s;

	p += sprintf(p, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (size_t i = 1; i < n; i++)
		p += sprintf(p, "X%zu: %zu\r\n", i, i);
	sprintf(p, "\r\n");
	return s;
}

Test(http_parse, too_many_fields)
{
	char *m = many_fields(101);
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[200];

	sl_http_parser_init(&p, NULL);
	cr_assert_eq(sl_http_parse_request(&p, m, strlen(m), &rq, f, 200),
		     SL_E_HTTP_TOO_MANY_FIELDS);
	cr_assert_eq(p.err_off, (size_t)(strstr(m, "X100:") - m));
	free(m);
	m = many_fields(100);
	sl_http_parser_init(&p, NULL);
	cr_assert_gt(sl_http_parse_request(&p, m, strlen(m), &rq, f, 200), 0);
	cr_assert_eq(rq.nfields, 100);
	free(m);
}

Test(http_parse, too_many_fields_for_capacity)
{
	const char *m = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";

	cr_assert_gt(req_l(m, NULL, 4).r, 0);
	expect_err(req_l(m, NULL, 3), SL_E_HTTP_TOO_MANY_FIELDS, at(m, "C: 3"));
}

Test(http_parse, too_many_fields_reported_early)
{
	char *m = many_fields(150);
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[200];
	size_t x = (size_t)(strstr(m, "X100:") - m);

	sl_http_parser_init(&p, NULL);
	cr_assert_eq(sl_http_parse_request(&p, m, x, &rq, f, 200), SL_E_AGAIN);
	cr_assert_eq(sl_http_parse_request(&p, m, x + 1, &rq, f, 200),
		     SL_E_HTTP_TOO_MANY_FIELDS);
	free(m);
}

/* ---- incremental contract ---------------------------------------------------- */

Test(http_parse, incomplete_is_again)
{
	const char *m = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[8];

	for (size_t k = 0; k < strlen(m); k++) {
		sl_http_parser_init(&p, NULL);
		cr_assert_eq(sl_http_parse_request(&p, m, k, &rq, f, 8),
			     SL_E_AGAIN, "prefix %zu", k);
	}
}

Test(http_parse, body_bytes_not_consumed)
{
	const char *m = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
	struct out o = req(m);

	cr_assert_eq(o.r, (int)(strlen(m) - 5));
}

Test(http_parse, pipelined_requests)
{
	const char *m = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
			"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[8];
	int a, b;

	sl_http_parser_init(&p, NULL);
	a = sl_http_parse_request(&p, m, strlen(m), &rq, f, 8);
	cr_assert_gt(a, 0);
	cr_assert(sl_slice_eq_cstr(rq.target, "/1"));
	b = sl_http_parse_request(&p, m + a, strlen(m) - (size_t)a, &rq, f, 8);
	cr_assert_eq(a + b, (int)strlen(m));
	cr_assert(sl_slice_eq_cstr(rq.target, "/2"));
}

Test(http_parse, parser_reusable_after_error)
{
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[8];
	const char *bad = "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n";
	const char *good = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";

	sl_http_parser_init(&p, NULL);
	cr_assert_eq(sl_http_parse_request(&p, bad, 20, &rq, f, 8), SL_E_AGAIN);
	cr_assert_eq(sl_http_parse_request(&p, bad, strlen(bad), &rq, f, 8),
		     SL_E_HTTP_BARE_CR);
	cr_assert_eq(sl_http_parse_request(&p, good, strlen(good), &rq, f, 8),
		     (int)strlen(good));
	cr_assert_eq(sl_http_parse_request(&p, good, 10, &rq, f, 8), SL_E_AGAIN);
	sl_http_parser_reset(&p);
	cr_assert_eq(sl_http_parse_request(&p, good, strlen(good), &rq, f, 8),
		     (int)strlen(good));
}

Test(http_parse, browser_request)
{
	const char *m =
		"GET /search?q=sluice&ie=utf-8 HTTP/1.1\r\n"
		"Host: www.example.com\r\n"
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
		"Accept-Language: en-US,en;q=0.5\r\n"
		"Accept-Encoding: gzip, deflate, br\r\n"
		"Connection: keep-alive\r\n"
		"Cookie: session=0123456789abcdef; theme=dark\r\n"
		"Upgrade-Insecure-Requests: 1\r\n"
		"Sec-Fetch-Dest: document\r\n"
		"Sec-Fetch-Mode: navigate\r\n"
		"Sec-Fetch-Site: none\r\n"
		"Sec-Fetch-User: ?1\r\n\r\n";
	struct out o = req(m);

	cr_assert_eq(o.r, (int)strlen(m));
	cr_assert_eq(o.nfields, 12);
	expect_field(m, &o, 11, "Sec-Fetch-User", "?1");
	cr_assert(o.ka);
}

/* ---- responses ---------------------------------------------------------------- */

Test(http_parse, response_content_length)
{
	const char *m = "HTTP/1.1 200 OK\r\nDate: Mon, 27 Jul 2009 12:28:53 GMT\r\n"
			"Content-Length: 51\r\nContent-Type: text/plain\r\n\r\n";
	struct out o = res(m, SL_METHOD_GET);

	cr_assert_eq(o.r, (int)strlen(m));
	cr_assert_eq(o.status, 200);
	cr_assert_eq(o.minor, 1);
	expect_slice(m, o.s[1], "OK");
	cr_assert_eq(o.body, SL_BODY_LENGTH);
	cr_assert_eq(o.cl, 51);
	cr_assert(o.ka);
	cr_assert_eq(o.nfields, 3);
	expect_field(m, &o, 0, "Date", "Mon, 27 Jul 2009 12:28:53 GMT");
}

Test(http_parse, response_reason_forms)
{
	const char *m = "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n";
	struct out o = res(m, SL_METHOD_GET);

	cr_assert_gt(o.r, 0);
	cr_assert_eq(o.s[1][1], 0);
	m = "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n";
	o = res(m, SL_METHOD_GET);
	cr_assert_gt(o.r, 0);
	cr_assert_eq(o.status, 404);
	cr_assert_eq(o.s[1][1], 0);
	m = "HTTP/1.1 200 Fine\tand d\xe4ndy \r\n\r\n";
	o = res(m, SL_METHOD_GET);
	expect_slice(m, o.s[1], "Fine\tand d\xe4ndy ");
}

Test(http_parse, response_to_head)
{
	struct out o = res("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
			   SL_METHOD_HEAD);

	cr_assert_eq(o.body, SL_BODY_NONE);
	cr_assert(o.ka);
	o = res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		SL_METHOD_HEAD);
	cr_assert_eq(o.body, SL_BODY_NONE);
}

Test(http_parse, response_1xx)
{
	struct out o = res("HTTP/1.1 100 Continue\r\n\r\n", SL_METHOD_POST);

	cr_assert_eq(o.status, 100);
	cr_assert_eq(o.body, SL_BODY_NONE);
	o = res("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n\r\n", SL_METHOD_GET);
	cr_assert_eq(o.body, SL_BODY_NONE);
	cr_assert(o.upgrade);
	o = res("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
		SL_METHOD_GET);
	cr_assert_eq(o.body, SL_BODY_NONE);
}

Test(http_parse, response_204_304)
{
	struct out o = res("HTTP/1.1 204 No Content\r\n\r\n", SL_METHOD_DELETE);

	cr_assert_eq(o.body, SL_BODY_NONE);
	cr_assert(o.ka);
	o = res("HTTP/1.1 304 Not Modified\r\nContent-Length: 77\r\n\r\n",
		SL_METHOD_GET);
	cr_assert_eq(o.body, SL_BODY_NONE);
	cr_assert(o.ka);
}

Test(http_parse, response_connect_tunnel)
{
	struct out o = res("HTTP/1.1 200 Connection established\r\n\r\n",
			   SL_METHOD_CONNECT);

	cr_assert_eq(o.body, SL_BODY_TUNNEL);
	cr_assert_not(o.ka);
	o = res("HTTP/1.1 407 Proxy Authentication Required\r\n"
		"Content-Length: 0\r\n\r\n", SL_METHOD_CONNECT);
	cr_assert_eq(o.body, SL_BODY_LENGTH);
	o = res("HTTP/1.1 200 OK\r\n\r\n", SL_METHOD_GET);
	cr_assert_eq(o.body, SL_BODY_CLOSE);
}

Test(http_parse, response_chunked)
{
	struct out o = res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			   SL_METHOD_GET);

	cr_assert_eq(o.body, SL_BODY_CHUNKED);
	cr_assert(o.ka);
}

Test(http_parse, response_te_not_chunked_reads_until_close)
{
	struct out o = res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
			   SL_METHOD_GET);

	cr_assert_eq(o.body, SL_BODY_CLOSE);
	cr_assert_not(o.ka);
}

Test(http_parse, response_close_delimited)
{
	const char *m = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
	struct out o = res(m, SL_METHOD_GET);

	cr_assert_eq(o.r, (int)strlen(m) - 6);
	cr_assert_eq(o.body, SL_BODY_CLOSE);
	cr_assert_not(o.ka);
}

Test(http_parse, response_http10_persistence)
{
	struct out o = res("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
			   SL_METHOD_GET);

	cr_assert_eq(o.minor, 0);
	cr_assert_not(o.ka);
	o = res("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
		"Content-Length: 2\r\n\r\n", SL_METHOD_GET);
	cr_assert(o.ka);
	o = res("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
		SL_METHOD_GET);
	cr_assert_not(o.ka);
}

Test(http_parse, response_bad_status)
{
	expect_err(res("HTTP/1.1 2000 OK\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_BAD_STATUS, 12);
	expect_err(res("HTTP/1.1 20x OK\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_BAD_STATUS, 11);
	expect_err(res("HTTP/1.1 099 OK\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_BAD_STATUS, 9);
	expect_err(res("HTTP/1.1 600 OK\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_BAD_STATUS, 9);
	expect_err(res("HTTP/1.1  200 OK\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_BAD_STATUS, 9);
}

Test(http_parse, response_bad_status_line)
{
	expect_err(res("HTTP/1.1200 OK\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_BAD_STATUS_LINE, 8);
	expect_err(res("HTTP/1.1 200-OK\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_BAD_STATUS_LINE, 12);
	expect_err(res("HTTP/1.1 200 O\x01K\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_CTL_CHAR, 14);
}

Test(http_parse, response_bad_version)
{
	expect_err(res("HTTP/2 200 OK\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_BAD_VERSION, 5);
	expect_err(res("ICY 200 OK\r\n\r\n", SL_METHOD_GET),
		   SL_E_HTTP_BAD_VERSION, 0);
}

Test(http_parse, response_bare_lf_accepted)
{
	const char *m = "HTTP/1.0 200 OK\nServer: old\nContent-Length: 3\n\nabc";
	struct out o = res(m, SL_METHOD_GET);

	cr_assert_eq(o.r, (int)strlen(m) - 3);
	expect_field(m, &o, 0, "Server", "old");
	cr_assert_eq(o.cl, 3);
	m = "\nHTTP/1.1 200 OK\r\nA: b\n\r\n";
	cr_assert_eq(res(m, SL_METHOD_GET).r, (int)strlen(m));
}

Test(http_parse, response_bare_lf_rejected_when_strict)
{
	sl_http_limits l = SL_HTTP_LIMITS_DEFAULT;

	l.response_bare_lf = false;
	expect_err(res_l("HTTP/1.1 200 OK\nA: b\r\n\r\n", SL_METHOD_GET, &l),
		   SL_E_HTTP_BARE_LF, 15);
}

Test(http_parse, response_obs_fold_rejected)
{
	const char *m = "HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n";

	expect_err(res(m, SL_METHOD_GET), SL_E_HTTP_OBS_FOLD, at(m, "\tb"));
}

Test(http_parse, response_cl_checks)
{
	const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
			"Content-Length: 4\r\n\r\n";

	expect_err(res(m, SL_METHOD_GET), SL_E_HTTP_CL_MISMATCH, at(m, "4\r"));
	m = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	expect_err(res(m, SL_METHOD_GET), SL_E_HTTP_CL_AND_TE, at(m, "Transfer"));
	m = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n";
	cr_assert_eq(res(m, SL_METHOD_GET).r, SL_E_HTTP_BAD_TRANSFER_ENCODING);
}

Test(http_parse, response_host_not_checked)
{
	const char *m = "HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\n"
			"Content-Length: 0\r\n\r\n";

	cr_assert_gt(res(m, SL_METHOD_GET).r, 0);
}

Test(http_parse, body_names)
{
	cr_assert_str_eq(sl_http_body_name(SL_BODY_CHUNKED), "chunked");
	cr_assert_str_eq(sl_http_body_name(SL_BODY_CLOSE), "until-close");
	cr_assert_str_eq(sl_http_body_name(SL_BODY_TUNNEL), "tunnel");
	cr_assert_str_eq(sl_errname(SL_E_HTTP_CHUNK_EXT_TOO_LARGE),
			 "SL_E_HTTP_CHUNK_EXT_TOO_LARGE");
}

Test(http_parse, default_limits)
{
	sl_http_parser p;

	sl_http_parser_init(&p, NULL);
	cr_assert_eq(p.limits.max_request_line, 8192);
	cr_assert_eq(p.limits.max_header_bytes, 65536);
	cr_assert_eq(p.limits.max_fields, 100);
	cr_assert(p.limits.response_bare_lf);
}
