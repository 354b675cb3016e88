/*
 * data: URLs (RFC 2397), as QNetworkReplyDataImpl is Qt's:
 * "data:[<mediatype>][;base64],<data>". The data is percent-decoded, then
 * base64-decoded when ";base64" ends the media type, into the reply's head
 * buffer when the request starts, so a malformed URL fails
 * sl_manager_send() at once. The answer is a 200 with Content-Type (the
 * media type, "text/plain;charset=US-ASCII" when none is given) and
 * Content-Length, delivered from the loop in slices of at most 16 KiB so a
 * paused reply stops between them. Only GET and HEAD make sense here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/reply_internal.h"
#include "core/err.h"

#define SLICE_MAX (16u * 1024)

static const char default_type[] = "text/plain;charset=US-ASCII";

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Base64-decodes buf[0..n) in place, skipping ASCII whitespace, padding
 * optional. Returns the length or SL_E_INVAL. */
static int b64_decode(char *buf, size_t n)
{
	size_t k = 0, pad = 0;
	unsigned acc = 0, bits = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || (v = b64val(c)) < 0)
			return SL_E_INVAL;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[k++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (pad > 2 || bits >= 6)
		return SL_E_INVAL;
	return (int)k;
}

static void data_task(sl__task *t)
{
	sl_reply *r = (sl_reply *)((char *)t - offsetof(sl_reply, task));

	sl_reply_ref(r);
	if (!r->head_done) {
		sl_reply_head h = {
			.status = 200,
			.reason = SL_SLICE_LIT("OK"),
			.minor_version = 1,
			.fields = r->lfields,
			.nfields = 2,
			.framing = SL_BODY_LENGTH,
			.content_length = r->data_len,
		};
		r->head_done = true;
		r->status = 200;
		r->got_byte = true;
		r->t_first = ev_now(r->m->loop);
		sl__reply_emit_head(r, &h);
		if (r->meth == SL_METHOD_HEAD)
			r->data_off = r->data_len;
	}
	while (!r->done && !r->aborted && !r->paused && r->data_off < r->data_len) {
		size_t n = r->data_len - r->data_off;

		if (n > SLICE_MAX)
			n = SLICE_MAX;
		r->bytes_received += n;
		r->data_off += n;
		sl__reply_emit_data(r, sl_slice_make(r->head + r->data_off - n, n));
	}
	if (!r->done && !r->aborted && !r->paused)
		sl__reply_finish(r, 0);
	sl_reply_unref(r);
}

int sl__scheme_data_start(sl_reply *r)
{
	const char *p = r->url.scheme.p + r->url.scheme.n + 1;
	const char *end = r->url.has_fragment ? r->url.fragment.p - 1 : r->store + strlen(r->store);
	const char *comma = memchr(p, ',', (size_t)(end - p));
	size_t meta = comma ? (size_t)(comma - p) : 0, need, tlen;
	bool b64 = false;
	int n;

	if (!comma)
		return SL_E_INVAL;
	if (r->meth != SL_METHOD_GET && r->meth != SL_METHOD_HEAD)
		return SL_E_UNSUPPORTED;
	if (meta >= 7 && strncasecmp(comma - 7, ";base64", 7) == 0) {
		b64 = true;
		meta -= 7;
	}
	tlen = meta == 0 ? sizeof default_type - 1 : p[0] == ';' ? meta + 10 : meta;
	need = (size_t)(end - comma) + tlen + 1;
	if (need > r->head_cap) {
		char *h = realloc(r->head, need);
		if (!h)
			return SL_E_NOMEM;
		r->head = h;
		r->head_cap = need;
	}
	n = sl_url_pct_decode(comma + 1, (size_t)(end - comma - 1), r->head);
	if (n >= 0 && b64)
		n = b64_decode(r->head, (size_t)n);
	if (n < 0)
		return n;
	r->data_len = (size_t)n;
	r->data_off = 0;
	{
		char *type = r->head + n;

		if (meta == 0) {
			memcpy(type, default_type, tlen);
		} else if (p[0] == ';') {
			memcpy(type, "text/plain", 10);
			memcpy(type + 10, p, meta);
		} else {
			memcpy(type, p, meta);
		}
		r->lfields[0].name = SL_SLICE_LIT("Content-Type");
		r->lfields[0].value = sl_slice_make(type, tlen);
	}
	n = snprintf(r->lbuf, sizeof r->lbuf, "%zu", r->data_len);
	r->lfields[1].name = SL_SLICE_LIT("Content-Length");
	r->lfields[1].value = sl_slice_make(r->lbuf, (size_t)n);
	r->state = SL__R_LOCAL;
	sl__task_init(&r->task, data_task);
	sl__task_post(r->m, &r->task);
	return 0;
}

void sl__scheme_data_resume(sl_reply *r)
{
	if (!r->done)
		sl__task_post(r->m, &r->task);
}

void sl__scheme_data_cancel(sl_reply *r)
{
	sl__task_cancel(&r->task);
}
