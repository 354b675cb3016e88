/*
 * Unit tests of the chunked decoder (sl_chunked_decode). A simulated caller
 * feeds the body in pieces, keeps whatever the decoder leaves unconsumed in
 * front of the next piece, and presents each call on a fresh buffer of
 * exactly those bytes. Every body is decoded whole, split in two at every
 * offset and one byte at a time; the data, the trailers, the final result
 * and the error offset must not depend on the split.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/http_parse.h"

struct dec {
	int r;                  /* DONE, SL_E_AGAIN or an error */
	size_t err_off;
	size_t used;            /* bytes consumed in all */
	size_t ndata;
	char data[1 << 16];
	size_t ntr;
	char tr[4096];          /* "name=value\n" per trailer */
	size_t events;
};

/* Decodes in[0..n) fed in pieces ending at cuts[0..nc) (the last is n). */
static void run(const char *in, size_t n, const size_t *cuts, size_t nc,
		bool response, const sl_http_limits *l, struct dec *o)
{
	sl_chunked d;
	char *pend = malloc(n + 1);
	size_t plen = 0, fed = 0;

	cr_assert(pend);
	memset(o, 0, sizeof *o);
	o->r = SL_E_AGAIN;
	sl_chunked_init(&d, l, response);
	for (size_t c = 0; c < nc && o->r == SL_E_AGAIN; c++) {
		memcpy(pend + plen, in + fed, cuts[c] - fed);
		plen += cuts[c] - fed;
		fed = cuts[c];
		for (;;) {
			char *buf = malloc(plen ? plen : 1);
			sl_chunk_out out;
			size_t used = 99999;
			int r;

			memcpy(buf, pend, plen);
			r = sl_chunked_decode(&d, buf, plen, &used, &out);
			cr_assert_leq(used, plen);
			if (r == SL_CHUNK_DATA) {
				cr_assert(out.data.n > 0);
				cr_assert(out.data.p >= buf &&
					  out.data.p + out.data.n <= buf + used);
				cr_assert_lt(o->ndata + out.data.n, sizeof o->data);
				memcpy(o->data + o->ndata, out.data.p, out.data.n);
				o->ndata += out.data.n;
			} else if (r == SL_CHUNK_TRAILER) {
				sl_field f = out.trailer;

				cr_assert(f.name.p >= buf &&
					  f.value.p + f.value.n <= buf + used);
				o->ntr += (size_t)snprintf(
					o->tr + o->ntr, sizeof o->tr - o->ntr,
					"%.*s=%.*s\n", SL_SLICE_FMT(f.name),
					SL_SLICE_FMT(f.value));
			}
			free(buf);
			memmove(pend, pend + used, plen - used);
			plen -= used;
			o->used += used;
			o->events++;
			if (r == SL_CHUNK_DATA || r == SL_CHUNK_TRAILER)
				continue;
			o->r = r;
			if (r < 0 && r != SL_E_AGAIN)
				o->err_off = d.err_off;
			break;
		}
	}
	free(pend);
}

static void same(const struct dec *a, const struct dec *b, const char *how,
		 size_t k)
{
	cr_assert_eq(a->r, b->r, "%s %zu: %s vs %s", how, k, sl_errname(a->r),
		     sl_errname(b->r));
	cr_assert_eq(a->err_off, b->err_off, "%s %zu: offset", how, k);
	if (a->r >= 0 || a->r == SL_E_AGAIN)
		cr_assert_eq(a->used, b->used, "%s %zu: used", how, k);
	cr_assert_eq(a->ndata, b->ndata, "%s %zu: data length", how, k);
	cr_assert(!memcmp(a->data, b->data, a->ndata), "%s %zu: data", how, k);
	cr_assert_str_eq(a->tr, b->tr, "%s %zu: trailers", how, k);
}

static struct dec *decode_n(const char *in, size_t n, bool response,
			    const sl_http_limits *l)
{
	static struct dec whole, x;
	size_t *cuts = malloc((n + 1) * sizeof *cuts);

	run(in, n, &n, 1, response, l, &whole);
	for (size_t k = 0; k <= n; k++) {
		size_t two[2] = {k, n};

		run(in, n, two, 2, response, l, &x);
		same(&whole, &x, "split", k);
	}
	for (size_t k = 0; k <= n; k++)
		cuts[k] = k;
	run(in, n, cuts, n + 1, response, l, &x);
	same(&whole, &x, "bytewise", 0);
	free(cuts);
	return &whole;
}

static struct dec *decode(const char *in)
{
	return decode_n(in, strlen(in), false, NULL);
}

static void expect_err(const struct dec *o, int code, size_t off)
{
	cr_assert_eq(o->r, code, "got %s, want %s", sl_errname(o->r),
		     sl_errname(code));
	cr_assert_eq(o->err_off, off, "offset %zu, want %zu", o->err_off, off);
}

static void expect_data(const struct dec *o, const char *want)
{
	cr_assert_eq(o->ndata, strlen(want), "data length %zu", o->ndata);
	cr_assert(!memcmp(o->data, want, o->ndata));
}

Test(http_chunked, simple)
{
	const char *in = "5\r\nhello\r\n0\r\n\r\n";
	struct dec *o = decode(in);

	cr_assert_eq(o->r, SL_CHUNK_DONE);
	cr_assert_eq(o->used, strlen(in));
	expect_data(o, "hello");
	cr_assert_str_eq(o->tr, "");
}

Test(http_chunked, rfc_style_body)
{
	const char *in = "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			 "10\r\n1234567890abcdef\r\n"
			 "0\r\n\r\n";
	struct dec *o = decode(in);

	cr_assert_eq(o->r, SL_CHUNK_DONE);
	expect_data(o, "abcdefghijklmnopqrstuvwxyz1234567890abcdef");
}

Test(http_chunked, uppercase_hex_and_leading_zeros)
{
	struct dec *o = decode("0000A\r\n0123456789\r\n00\r\n\r\n");

	cr_assert_eq(o->r, SL_CHUNK_DONE);
	expect_data(o, "0123456789");
}

Test(http_chunked, bytes_after_done_left_alone)
{
	const char *in = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	struct dec *o = decode(in);

	cr_assert_eq(o->r, SL_CHUNK_DONE);
	cr_assert_eq(o->used, strlen("3\r\nabc\r\n0\r\n\r\n"));
}

Test(http_chunked, done_and_error_are_sticky)
{
	sl_chunked d;
	sl_chunk_out out;
	size_t used;

	sl_chunked_init(&d, NULL, false);
	cr_assert_eq(sl_chunked_decode(&d, "0\r\n\r\n", 5, &used, &out),
		     SL_CHUNK_DONE);
	cr_assert_eq(used, 5);
	cr_assert_eq(sl_chunked_decode(&d, "5\r\n", 3, &used, &out),
		     SL_CHUNK_DONE);
	cr_assert_eq(used, 0);
	cr_assert_str_eq(sl_chunked_state_name(&d), "done");
	sl_chunked_init(&d, NULL, false);
	cr_assert_eq(sl_chunked_decode(&d, "g\r\n", 3, &used, &out),
		     SL_E_HTTP_BAD_CHUNK_SIZE);
	cr_assert_eq(sl_chunked_decode(&d, "0\r\n\r\n", 5, &used, &out),
		     SL_E_HTTP_BAD_CHUNK_SIZE);
	cr_assert_str_eq(sl_chunked_state_name(&d), "error");
}

Test(http_chunked, data_streams_as_it_arrives)
{
	sl_chunked d;
	sl_chunk_out out;
	size_t used;
	const char *in = "a\r\n0123456789\r\n0\r\n\r\n";

	sl_chunked_init(&d, NULL, false);
	cr_assert_eq(sl_chunked_decode(&d, in, 3, &used, &out), SL_E_AGAIN);
	cr_assert_eq(used, 3);
	cr_assert_eq(sl_chunked_decode(&d, in + 3, 4, &used, &out),
		     SL_CHUNK_DATA);
	cr_assert_eq(used, 4);
	cr_assert(out.data.p == in + 3 && out.data.n == 4);
	cr_assert_str_eq(sl_chunked_state_name(&d), "data");
	cr_assert_eq(sl_chunked_decode(&d, in + 7, 100, &used, &out),
		     SL_CHUNK_DATA);
	cr_assert_eq(out.data.n, 6);
	cr_assert_eq(used, 6);
}

Test(http_chunked, large_chunk_one_slice)
{
	size_t n = 40000;
	char *in = malloc(n + 64);
	int h = sprintf(in, "%zx\r\n", n);
	struct dec *o;

	memset(in + h, 'z', n);
	strcpy(in + h + n, "\r\n0\r\n\r\n");
	o = decode_n(in, strlen(in), false, NULL);
	cr_assert_eq(o->r, SL_CHUNK_DONE);
	cr_assert_eq(o->ndata, n);
	free(in);
}

Test(http_chunked, extensions_accepted)
{
	const char *in = "5;name\r\nhello\r\n"
			 "5 ; a=b;c = \"q \\\" \\\\ \xe9\" ;d\r\nworld\r\n"
			 "0;last=\"\"\r\n\r\n";
	struct dec *o = decode(in);

	cr_assert_eq(o->r, SL_CHUNK_DONE);
	expect_data(o, "helloworld");
}

Test(http_chunked, extensions_malformed)
{
	expect_err(decode("5;\r\nhello\r\n0\r\n\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 2);
	expect_err(decode("5;=x\r\nhello\r\n0\r\n\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 2);
	expect_err(decode("5;a=\r\nhello\r\n0\r\n\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 4);
	expect_err(decode("5;a=b \r\nhello\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 6);
	expect_err(decode("5;a \r\nhello\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 4);
	expect_err(decode("5;a=\"x\r\nhello\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 6);
	expect_err(decode("5;a=\"x\"y\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 7);
	expect_err(decode("5;a@b\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 3);
	expect_err(decode("5;a=b=c\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 5);
}

Test(http_chunked, extension_control_byte)
{
	static const char in[] = "5;a=\"x\0\"\r\nhello\r\n";

	expect_err(decode_n(in, sizeof in - 1, false, NULL),
		   SL_E_HTTP_BAD_CHUNK_EXT, 6);
	expect_err(decode("5;a=\"\\\x01\"\r\n"), SL_E_HTTP_BAD_CHUNK_EXT, 6);
}

Test(http_chunked, extension_too_large)
{
	sl_http_limits l = SL_HTTP_LIMITS_DEFAULT;
	const char *in = "5;abcdefgh=ijk\r\nhello\r\n0\r\n\r\n";

	l.max_chunk_ext = 13;
	cr_assert_eq(decode_n(in, strlen(in), false, &l)->r, SL_CHUNK_DONE);
	l.max_chunk_ext = 12;
	expect_err(decode_n(in, strlen(in), false, &l),
		   SL_E_HTTP_CHUNK_EXT_TOO_LARGE, 13);
}

Test(http_chunked, extension_too_large_default)
{
	size_t n = 5000;
	char *in = malloc(n + 32);

	strcpy(in, "1;x=");
	memset(in + 4, 'a', n);
	strcpy(in + 4 + n, "\r\nz\r\n0\r\n\r\n");
	expect_err(decode_n(in, strlen(in), false, NULL),
		   SL_E_HTTP_CHUNK_EXT_TOO_LARGE, 4097);
	free(in);
}

Test(http_chunked, trailers)
{
	const char *in = "3\r\nabc\r\n0\r\nExpires: never\r\n"
			 "X-Sum:  \t abc123 \r\nEmpty:\r\n\r\n";
	struct dec *o = decode(in);

	cr_assert_eq(o->r, SL_CHUNK_DONE);
	cr_assert_eq(o->used, strlen(in));
	expect_data(o, "abc");
	cr_assert_str_eq(o->tr, "Expires=never\nX-Sum=abc123\nEmpty=\n");
}

Test(http_chunked, partial_trailer_line_left_unconsumed)
{
	sl_chunked d;
	sl_chunk_out out;
	size_t used;
	const char *in = "0\r\nX-A: 1\r\n\r\n";

	sl_chunked_init(&d, NULL, false);
	cr_assert_eq(sl_chunked_decode(&d, in, 7, &used, &out), SL_E_AGAIN);
	cr_assert_eq(used, 3);
	cr_assert_eq(sl_chunked_decode(&d, in + 3, 4, &used, &out), SL_E_AGAIN);
	cr_assert_eq(used, 0);
	cr_assert_eq(sl_chunked_decode(&d, in + 3, 8, &used, &out),
		     SL_CHUNK_TRAILER);
	cr_assert_eq(used, 8);
	cr_assert(sl_slice_eq_cstr(out.trailer.name, "X-A"));
	cr_assert(sl_slice_eq_cstr(out.trailer.value, "1"));
	cr_assert_eq(sl_chunked_decode(&d, in + 11, 1, &used, &out), SL_E_AGAIN);
	cr_assert_eq(used, 0);
	cr_assert_eq(sl_chunked_decode(&d, in + 11, 2, &used, &out),
		     SL_CHUNK_DONE);
	cr_assert_eq(used, 2);
}

Test(http_chunked, trailer_malformed)
{
	const char *in = "0\r\nX : y\r\n\r\n";

	expect_err(decode(in), SL_E_HTTP_WS_BEFORE_COLON, 4);
	expect_err(decode("0\r\nNoColon\r\n\r\n"), SL_E_HTTP_BAD_FIELD_NAME, 10);
	expect_err(decode("0\r\nA: b\r\n c\r\n\r\n"), SL_E_HTTP_OBS_FOLD, 9);
	expect_err(decode("0\r\n c: d\r\n\r\n"), SL_E_HTTP_BAD_FIELD_NAME, 3);
	expect_err(decode("0\r\nA: b\rc\r\n\r\n"), SL_E_HTTP_BARE_CR, 7);
	expect_err(decode("0\r\nA: b\x01\r\n\r\n"), SL_E_HTTP_CTL_CHAR, 7);
	expect_err(decode("0\r\nA: b\n\r\n"), SL_E_HTTP_BARE_LF, 7);
	expect_err(decode("0\r\n\r\r\n"), SL_E_HTTP_BARE_CR, 3);
}

Test(http_chunked, trailer_too_large)
{
	sl_http_limits l = SL_HTTP_LIMITS_DEFAULT;
	const char *in = "0\r\nA: 12345\r\nB: 6\r\n\r\n";

	l.max_trailer_bytes = 18;
	cr_assert_eq(decode_n(in, strlen(in), false, &l)->r, SL_CHUNK_DONE);
	l.max_trailer_bytes = 17;
	expect_err(decode_n(in, strlen(in), false, &l),
		   SL_E_HTTP_TRAILER_TOO_LARGE, 20);
	l.max_trailer_bytes = 5;
	expect_err(decode_n(in, strlen(in), false, &l),
		   SL_E_HTTP_TRAILER_TOO_LARGE, 8);
}

Test(http_chunked, too_many_trailers)
{
	sl_http_limits l = SL_HTTP_LIMITS_DEFAULT;
	const char *in = "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";

	l.max_fields = 3;
	cr_assert_eq(decode_n(in, strlen(in), false, &l)->r, SL_CHUNK_DONE);
	l.max_fields = 2;
	expect_err(decode_n(in, strlen(in), false, &l),
		   SL_E_HTTP_TOO_MANY_FIELDS, 15);
}

Test(http_chunked, size_max_and_overflow)
{
	sl_chunked d;
	sl_chunk_out out;
	size_t used;

	sl_chunked_init(&d, NULL, false);
	cr_assert_eq(sl_chunked_decode(&d, "7fffffffffffffff\r\nab", 20, &used,
				       &out),
		     SL_CHUNK_DATA);
	cr_assert_eq(out.data.n, 2);
	cr_assert_eq(d.size, 0x7fffffffffffffffULL - 2);
	expect_err(decode("8000000000000000\r\n"),
		   SL_E_HTTP_CHUNK_SIZE_OVERFLOW, 15);
	expect_err(decode("00000000000000000000fffffffffffffffff\r\n"),
		   SL_E_HTTP_CHUNK_SIZE_OVERFLOW, 35);
}

Test(http_chunked, bad_sizes)
{
	expect_err(decode("x\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 0);
	expect_err(decode("\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 0);
	expect_err(decode("-1\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 0);
	expect_err(decode(" 5\r\nhello\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 0);
	expect_err(decode("+5\r\nhello\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 0);
	expect_err(decode("0x5\r\nhello\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 1);
	expect_err(decode("5g\r\nhello\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 1);
	expect_err(decode("5 \r\nhello\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 2);
	expect_err(decode("5 x\r\nhello\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 2);
	expect_err(decode("5\r\nhello\r\n\r\n"), SL_E_HTTP_BAD_CHUNK_SIZE, 10);
}

Test(http_chunked, size_with_bws_before_extension)
{
	struct dec *o = decode("5 \t ;a\r\nhello\r\n0\r\n\r\n");

	cr_assert_eq(o->r, SL_CHUNK_DONE);
	expect_data(o, "hello");
}

Test(http_chunked, missing_crlf_after_data)
{
	expect_err(decode("5\r\nhelloX\r\n0\r\n\r\n"), SL_E_HTTP_BAD_CHUNK_END, 8);
	expect_err(decode("5\r\nhello\rX0\r\n\r\n"), SL_E_HTTP_BAD_CHUNK_END, 9);
	expect_err(decode("5\r\nhello\n0\r\n\r\n"), SL_E_HTTP_BAD_CHUNK_END, 8);
	expect_err(decode("5\r\nhello0\r\n\r\n"), SL_E_HTTP_BAD_CHUNK_END, 8);
}

Test(http_chunked, bare_cr_and_lf_in_size_line)
{
	expect_err(decode("5\rhello\r\n"), SL_E_HTTP_BARE_CR, 1);
	expect_err(decode("5;a=b\rx"), SL_E_HTTP_BARE_CR, 5);
	expect_err(decode("5\nhello\r\n"), SL_E_HTTP_BARE_LF, 1);
	expect_err(decode("5;a\nhello\r\n"), SL_E_HTTP_BARE_LF, 3);
}

Test(http_chunked, bare_lf_in_response_when_lenient)
{
	const char *in = "5\nhello\n0\nX: y\n\n";
	struct dec *o = decode_n(in, strlen(in), true, NULL);
	sl_http_limits l = SL_HTTP_LIMITS_DEFAULT;

	cr_assert_eq(o->r, SL_CHUNK_DONE);
	expect_data(o, "hello");
	cr_assert_str_eq(o->tr, "X=y\n");
	l.response_bare_lf = false;
	expect_err(decode_n(in, strlen(in), true, &l), SL_E_HTTP_BARE_LF, 1);
}

Test(http_chunked, incomplete_everywhere)
{
	const char *in = "5;a=\"b\"\r\nhello\r\n0\r\nT: v\r\n\r\n";

	for (size_t k = 0; k < strlen(in); k++) {
		struct dec o;
		size_t cut = k;

		run(in, k, &cut, 1, false, NULL, &o);
		cr_assert_eq(o.r, SL_E_AGAIN, "prefix %zu: %s", k,
			     sl_errname(o.r));
	}
}

Test(http_chunked, many_small_chunks)
{
	char in[4096], want[1024];
	size_t n = 0, w = 0;
	struct dec *o;

	for (int i = 1; i <= 40; i++) {
		n += (size_t)sprintf(in + n, "%x\r\n", i % 7 + 1);
		for (int j = 0; j < i % 7 + 1; j++) {
			in[n++] = (char)('a' + (i + j) % 26);
			want[w++] = (char)('a' + (i + j) % 26);
		}
		in[n++] = '\r';
		in[n++] = '\n';
	}
	n += (size_t)sprintf(in + n, "0\r\n\r\n");
	want[w] = 0;
	o = decode_n(in, n, false, NULL);
	cr_assert_eq(o->r, SL_CHUNK_DONE);
	expect_data(o, want);
}
