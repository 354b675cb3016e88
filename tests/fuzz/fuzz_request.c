/*
 * libFuzzer target for the request head parser and the chunked decoder.
 * The first input byte picks the limits (default or tiny, to reach the
 * limit paths) and a split position; the rest is the message. The head is
 * parsed whole, in two reads split there, and (for short inputs) one byte
 * at a time, each call on an exact-size copy so that ASan sees any read
 * past the bytes presented. All ways must agree on the code, the error
 * offset and every slice. If the head announces a chunked body, the rest
 * of the input is decoded whole and in two pieces, which must agree too.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/http_parse.h"
#include "fuzz_chunked.h"

#define MAXF 64

struct res {
	int r;
	size_t err_off;
	size_t nfields;
	size_t off[MAXF][4];
	size_t s[3][2];
	int meth, form, minor, body, ka, expect, upgrade;
	uint64_t cl;
};

static void slot(size_t d[2], sl_slice s, const char *base, size_t r)
{
	if (!s.p) {
		d[0] = (size_t)-1;
		d[1] = 0;
		return;
	}
	assert(s.p >= base && s.p + s.n <= base + r);
	d[0] = (size_t)(s.p - base);
	d[1] = s.n;
}

static int once(sl_http_parser *p, const uint8_t *d, size_t n, struct res *o)
{
	char *c = malloc(n ? n : 1);
	sl_field f[MAXF];
	sl_http_request q;
	int r;

	memcpy(c, d, n);
	memset(o, 0, sizeof *o);
	r = sl_http_parse_request(p, c, n, &q, f, MAXF);
	o->r = r;
	assert(r == SL_E_AGAIN || r < 0 || (size_t)r <= n);
	if (r < 0 && r != SL_E_AGAIN) {
		assert(r <= -1100 && r > -1200);
		assert(p->err_off <= n);
		o->err_off = p->err_off;
	}
	if (r > 0) {
		assert(q.nfields <= MAXF && q.fields == f);
		o->nfields = q.nfields;
		for (size_t i = 0; i < q.nfields; i++) {
			slot(&o->off[i][0], f[i].name, c, (size_t)r);
			slot(&o->off[i][2], f[i].value, c, (size_t)r);
			assert(f[i].name.n > 0);
		}
		slot(o->s[0], q.method, c, (size_t)r);
		slot(o->s[1], q.target, c, (size_t)r);
		slot(o->s[2], q.host, c, (size_t)r);
		assert(q.minor_version == 0 || q.minor_version == 1);
		assert(q.body == SL_BODY_NONE || q.body == SL_BODY_LENGTH ||
		       q.body == SL_BODY_CHUNKED);
		o->meth = q.meth;
		o->form = q.form;
		o->minor = q.minor_version;
		o->body = q.body;
		o->cl = q.content_length;
		o->ka = q.keep_alive;
		o->expect = q.expect_continue;
		o->upgrade = q.upgrade;
	}
	free(c);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sl_http_limits l = SL_HTTP_LIMITS_DEFAULT;
	sl_http_parser p;
	struct res whole, x;
	uint8_t sel;
	size_t k;

	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;
	if (sel & 0x80) {
		l.max_request_line = 40;
		l.max_header_bytes = 200;
		l.max_fields = 4;
		l.max_chunk_ext = 8;
		l.max_trailer_bytes = 32;
	}
	k = size * (sel & 0x7f) / 127;

	sl_http_parser_init(&p, &l);
	once(&p, data, size, &whole);

	sl_http_parser_init(&p, &l);
	if (once(&p, data, k, &x) == SL_E_AGAIN)
		once(&p, data, size, &x);
	assert(memcmp(&whole, &x, sizeof x) == 0);

	if (size <= 2048) {
		sl_http_parser_init(&p, &l);
		for (size_t i = 0; i <= size; i++)
			if (once(&p, data, i, &x) != SL_E_AGAIN)
				break;
		assert(memcmp(&whole, &x, sizeof x) == 0);
	}

	if (whole.r > 0 && whole.body == SL_BODY_CHUNKED) {
		const uint8_t *b = data + whole.r;
		size_t n = size - (size_t)whole.r, two[2];
		struct dig a, c;

		two[0] = n * (sel & 0x7f) / 127;
		two[1] = n;
		chunks(&l, false, b, n, &n, 1, &a);
		chunks(&l, false, b, n, two, 2, &c);
		same_dig(&a, &c);
	}
	return 0;
}
