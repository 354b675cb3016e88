/*
 * The proxy's message rules (see message.h): field filtering both ways,
 * Via and loop detection, Max-Forwards, response framing and the response
 * head. Field slices are never copied here, only the sl_field entries that
 * point at them; serialisation writes into the caller's buffer and reports
 * 0 rather than a partial head when it does not fit.
 */
#include "server/message.h"

#include <stdio.h>
#include <string.h>

/* Drops the fields called one of names[] from f[0..n), keeping order. */
static size_t drop_names(sl_field *f, size_t n, const char *const *names, size_t nnames)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		bool drop = false;
		for (size_t j = 0; j < nnames && !drop; j++)
			drop = sl_slice_case_eq_cstr(f[i].name, names[j]);
		if (!drop)
			f[k++] = f[i];
	}
	return k;
}

size_t sl_msg_request_fields(const sl_field *in, size_t n, sl_field *out, size_t cap)
{
	static const char *const own[] = {"Host", "Content-Length", "Expect", "Max-Forwards",
					  "Via"};

	if (n > cap)
		n = cap;
	memcpy(out, in, n * sizeof *in);
	n = sl_headers_strip_hop(out, n);
	return drop_names(out, n, own, sizeof own / sizeof own[0]);
}

size_t sl_msg_response_fields(const sl_field *in, size_t n, bool keep_length, sl_field *out,
			      size_t cap)
{
	static const char *const own[] = {"Content-Length"};

	if (n > cap)
		n = cap;
	memcpy(out, in, n * sizeof *in);
	n = sl_headers_strip_hop(out, n);
	return keep_length ? n : drop_names(out, n, own, 1);
}

int64_t sl_msg_max_forwards(const sl_field *f, size_t n)
{
	const sl_field *mf = sl_headers_get(f, n, "Max-Forwards");
	int64_t v;

	/* 1*DIGIT, the grammar of delta-seconds. */
	if (!mf || sl_delta_seconds_parse(mf->value, &v) < 0)
		return -1;
	return v > INT32_MAX ? INT32_MAX : v;
}

bool sl_msg_via_has(const sl_field *f, size_t n, sl_slice received_by)
{
	sl_headers_list it;
	sl_slice e;

	sl_headers_list_fields(&it, f, n, "Via");
	while (sl_headers_list_next(&it, &e)) {
		/* via-element: protocol RWS received-by [ RWS comment ] */
		size_t i = 0, start;

		while (i < e.n && e.p[i] != ' ' && e.p[i] != '\t')
			i++;
		while (i < e.n && (e.p[i] == ' ' || e.p[i] == '\t'))
			i++;
		start = i;
		while (i < e.n && e.p[i] != ' ' && e.p[i] != '\t')
			i++;
		if (i > start && sl_slice_case_eq(sl_slice_make(e.p + start, i - start), received_by))
			return true;
	}
	return false;
}

size_t sl_msg_via_value(const sl_field *f, size_t n, const char *ours, char *out, size_t cap)
{
	size_t k = 0, len = strlen(ours);

	for (size_t i = 0; i < n; i++) {
		sl_slice v = f[i].value;
		if (!sl_slice_case_eq_cstr(f[i].name, "Via") || v.n == 0)
			continue;
		if (k + v.n + 2 >= cap)
			return 0;
		memcpy(out + k, v.p, v.n);
		k += v.n;
		memcpy(out + k, ", ", 2);
		k += 2;
	}
	if (k + 4 + len >= cap)
		return 0;
	memcpy(out + k, "1.1 ", 4);
	memcpy(out + k + 4, ours, len);
	k += 4 + len;
	out[k] = '\0';
	return k;
}

size_t sl_msg_via_name(const char *hostname, uint16_t port, char *out, size_t cap)
{
	size_t k = 0;
	int n;

	for (const char *p = hostname ? hostname : ""; *p && k + 1 < cap && k < 64; p++) {
		char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.')
			out[k++] = c;
	}
	if (k == 0) {
		if (cap < 7)
			return 0;
		memcpy(out, "sluice", 6);
		k = 6;
	}
	if (!port) {
		out[k] = '\0';
		return k;
	}
	n = snprintf(out + k, cap - k, ":%u", (unsigned)port);
	if (n < 0 || (size_t)n >= cap - k)
		return 0;
	return k + (size_t)n;
}

void sl_msg_frame_response(const sl_msg_frame_in *in, sl_msg_frame *out)
{
	bool bodiless = in->method == SL_METHOD_HEAD || in->status / 100 == 1 ||
			in->status == 204 || in->status == 304 || in->up_framing == SL_BODY_NONE;

	memset(out, 0, sizeof *out);
	if (bodiless) {
		out->framing = SL_BODY_NONE;
		out->keep_length = in->method == SL_METHOD_HEAD || in->status == 304;
	} else if (in->up_framing == SL_BODY_LENGTH) {
		out->framing = SL_BODY_LENGTH;
		out->content_length = in->content_length;
	} else if (in->client_minor >= 1) {
		out->framing = SL_BODY_CHUNKED;
	} else {
		out->framing = SL_BODY_CLOSE;
	}
	out->keep_alive = in->client_keep_alive && !in->force_close &&
			  out->framing != SL_BODY_CLOSE;
}

/* A small appender that remembers overflow instead of checking each call. */
struct out {
	char *p;
	size_t n, cap;
	bool full;
};

static void put(struct out *o, const char *p, size_t n)
{
	if (o->full || o->cap - o->n < n) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_slice(struct out *o, sl_slice s)
{
	put(o, s.p, s.n);
}

static void put_fields(struct out *o, const sl_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		put_slice(o, f[i].name);
		put(o, ": ", 2);
		put_slice(o, f[i].value);
		put(o, "\r\n", 2);
	}
}

size_t sl_msg_response_head(char *out, size_t cap, int status, sl_slice reason,
			    const sl_field *f, size_t n, const sl_msg_frame *fr, int client_minor,
			    const char *via)
{
	struct out o = {out, 0, cap, false};
	char line[32];
	size_t k;

	/* Formatted by hand: this runs for every response. */
	memcpy(line, "HTTP/1.1 000 ", 13);
	line[9] = (char)('0' + status / 100 % 10);
	line[10] = (char)('0' + status / 10 % 10);
	line[11] = (char)('0' + status % 10);
	put(&o, line, 13);
	put_slice(&o, reason);
	put(&o, "\r\n", 2);
	for (size_t i = 0; i < n; i++)
		if (!via || !sl_slice_case_eq_cstr(f[i].name, "Via"))
			put_fields(&o, &f[i], 1);
	if (fr->framing == SL_BODY_LENGTH) {
		unsigned long long v = fr->content_length;

		puts_(&o, "Content-Length: ");
		k = sizeof line;
		line[--k] = '\n';
		line[--k] = '\r';
		do
			line[--k] = (char)('0' + v % 10);
		while ((v /= 10) != 0);
		put(&o, line + k, sizeof line - k);
	} else if (fr->framing == SL_BODY_CHUNKED) {
		puts_(&o, "Transfer-Encoding: chunked\r\n");
	}
	if (via) {
		size_t vn;

		puts_(&o, "Via: ");
		vn = o.full ? 0 : sl_msg_via_value(f, n, via, o.p + o.n, o.cap - o.n);
		if (vn == 0)
			o.full = true;
		o.n += vn;
		puts_(&o, "\r\n");
	}
	if (!fr->keep_alive)
		puts_(&o, "Connection: close\r\n");
	else if (client_minor == 0)
		puts_(&o, "Connection: keep-alive\r\n");
	put(&o, "\r\n", 2);
	return o.full ? 0 : o.n;
}

size_t sl_msg_trace_body(const sl_http_request *rq, char *out, size_t cap)
{
	struct out o = {out, 0, cap, false};

	put_slice(&o, rq->method);
	put(&o, " ", 1);
	put_slice(&o, rq->target);
	puts_(&o, rq->minor_version ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	for (size_t i = 0; i < rq->nfields; i++) {
		sl_slice nm = rq->fields[i].name;
		if (sl_slice_case_eq_cstr(nm, "Authorization") ||
		    sl_slice_case_eq_cstr(nm, "Proxy-Authorization") ||
		    sl_slice_case_eq_cstr(nm, "Cookie"))
			continue;
		put_fields(&o, &rq->fields[i], 1);
	}
	put(&o, "\r\n", 2);
	return o.full ? 0 : o.n;
}
