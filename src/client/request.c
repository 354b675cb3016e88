/*
 * Requests: the setters of sl_request, the copy a reply keeps of it, and the
 * head of each attempt, as QHttpNetworkRequest builds Qt's. The copy lives
 * in the reply's store buffer, sized once per request (recycled replies keep
 * theirs): the URL string and its parse, the method, the origin-form target,
 * the Host value, the host as a C string, the credentials (decoded from the
 * URL's userinfo when not given) and the caller's fields serialised as
 * "Name: value\r\n" lines with the framing fields the manager owns removed.
 * The head is rebuilt for every attempt, because an authentication round
 * changes Authorization and a Digest nonce count changes each time.
 */
#include "client/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/cookie_jar.h"
#include "client/reply_internal.h"
#include "core/err.h"

void sl_request_init(sl_request *rq, const char *method, const char *url)
{
	memset(rq, 0, sizeof *rq);
	rq->method = method;
	rq->url = url;
	rq->priority = SL_PRIO_NORMAL;
	rq->body.fd = -1;
	rq->body.length = -1;
}

void sl_request_body_mem(sl_request *rq, const void *p, size_t n)
{
	rq->body.kind = SL_BODY_SRC_MEM;
	rq->body.mem = p;
	rq->body.length = (int64_t)n;
}

void sl_request_body_file(sl_request *rq, int fd, off_t off, uint64_t len)
{
	rq->body.kind = SL_BODY_SRC_FILE;
	rq->body.fd = fd;
	rq->body.offset = off;
	rq->body.length = (int64_t)len;
}

void sl_request_body_pull(sl_request *rq, sl_body_pull_fn pull, void *arg, int64_t length)
{
	rq->body.kind = SL_BODY_SRC_PULL;
	rq->body.pull = pull;
	rq->body.pull_arg = arg;
	rq->body.length = length < 0 ? -1 : length;
}

void sl_request_body_push(sl_request *rq, int64_t length)
{
	rq->body.kind = SL_BODY_SRC_PUSH;
	rq->body.length = length < 0 ? -1 : length;
}

bool sl_method_idempotent(const char *method, size_t n)
{
	static const char *const idem[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};

	for (size_t i = 0; i < sizeof idem / sizeof idem[0]; i++)
		if (strlen(idem[i]) == n && memcmp(idem[i], method, n) == 0)
			return true;
	return false;
}

/* ---- the copy ---- */

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(sl_slice s)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!is_tchar((unsigned char)s.p[i]))
			return false;
	return true;
}

/* A field value may hold HTAB, SP, VCHAR and obs-text, nothing else. */
static bool is_value(sl_slice s)
{
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static bool managed_field(sl_slice name)
{
	return sl_slice_case_eq_cstr(name, "Content-Length") ||
	       sl_slice_case_eq_cstr(name, "Transfer-Encoding") ||
	       sl_slice_case_eq_cstr(name, "Expect");
}

static char *bump(char **at, const void *p, size_t n)
{
	char *dst = *at;

	if (n)
		memcpy(dst, p, n);
	dst[n] = '\0';
	*at += n + 1;
	return dst;
}

static int check_body(const sl_request_body *b)
{
	switch (b->kind) {
	case SL_BODY_SRC_NONE:
		return 0;
	case SL_BODY_SRC_MEM:
		return b->length >= 0 && (b->mem || b->length == 0) ? 0 : SL_E_INVAL;
	case SL_BODY_SRC_FILE:
		return b->fd >= 0 && b->length >= 0 && b->offset >= 0 ? 0 : SL_E_INVAL;
	case SL_BODY_SRC_PULL:
		return b->pull ? 0 : SL_E_INVAL;
	case SL_BODY_SRC_PUSH:
		return 0;
	}
	return SL_E_INVAL;
}

int sl__request_copy(sl_reply *r, const sl_request *rq)
{
	const char *method = rq->method ? rq->method : "GET";
	size_t ulen, mlen = strlen(method), need, flen = 0;
	sl_slice ui_user = SL_SLICE_NULL, ui_pass = SL_SLICE_NULL;
	char *at;
	int rc;

	if (!rq->url)
		return SL_E_URL_EMPTY;
	ulen = strlen(rq->url);
	if (ulen > SL_URL_MAX_LEN)
		return SL_E_URL_TOO_LONG;
	if (!is_token(sl_slice_make(method, mlen)) || rq->priority > SL_PRIO_LOW)
		return SL_E_INVAL;
	if ((rc = check_body(&rq->body)) < 0)
		return rc;
	for (size_t i = 0; i < rq->nheaders; i++) {
		const sl_field *f = &rq->headers[i];
		if (!is_token(f->name) || !is_value(f->value))
			return SL_E_INVAL;
		flen += f->name.n + f->value.n + 4;
	}
	/* url, method, target (<= url + 1), Host (<= url + 8), host, the
	 * credentials (<= their sources), fields: each NUL-terminated. */
	need = ulen + 1 + mlen + 1 + ulen + 3 + ulen + 10 + ulen + 1 + flen + 1 +
	       (rq->user ? strlen(rq->user) : ulen) + 1 +
	       (rq->password ? strlen(rq->password) : ulen) + 1;
	if (need > r->store_cap) {
		char *s = realloc(r->store, need);
		if (!s)
			return SL_E_NOMEM;
		r->store = s;
		r->store_cap = need;
	}
	at = r->store;
	bump(&at, rq->url, ulen);
	if (rq->parsed) {
		r->url = *rq->parsed;
		sl_url_rebase(&r->url, rq->url, r->store);
	} else if ((rc = sl_url_parse(r->store, ulen, &r->url)) < 0) {
		return rc;
	}
	r->scheme = sl_scheme_find(r->url.scheme);
	if (!r->scheme)
		return SL_E_UNSUPPORTED;
	r->method = sl_slice_make(bump(&at, method, mlen), mlen);
	r->meth = sl_http_method_of(r->method);
	if (r->meth == SL_METHOD_CONNECT)
		return SL_E_UNSUPPORTED;

	if (r->scheme->network) {
		rc = sl_url_request_target(&r->url, at, ulen + 3);
		if (rc < 0)
			return rc;
		r->target = sl_slice_make(at, (size_t)rc);
		at += rc + 1;
		rc = sl_url_host_header(&r->url, at, ulen + 10);
		if (rc < 0)
			return rc;
		r->hostport = sl_slice_make(at, (size_t)rc);
		at += rc + 1;
	} else {
		r->target = r->url.path;
		r->hostport = SL_SLICE_NULL;
	}
	r->hostz = bump(&at, r->url.host.p, r->url.host.n);

	if (r->url.has_userinfo) {
		const char *colon = memchr(r->url.userinfo.p, ':', r->url.userinfo.n);
		ui_user = r->url.userinfo;
		if (colon) {
			ui_user.n = (size_t)(colon - r->url.userinfo.p);
			ui_pass = sl_slice_make(colon + 1, r->url.userinfo.n - ui_user.n - 1);
		}
	}
	if (rq->user) {
		size_t n = strlen(rq->user);
		r->user = sl_slice_make(bump(&at, rq->user, n), n);
		n = rq->password ? strlen(rq->password) : 0;
		r->pass = sl_slice_make(bump(&at, rq->password ? rq->password : "", n), n);
		r->has_cred = true;
	} else if (r->url.has_userinfo) {
		/* sl_url_parse checked every '%': these cannot fail. */
		int n = sl_url_pct_decode(ui_user.p, ui_user.n, at);
		if (n < 0)
			return n;
		r->user = sl_slice_make(at, (size_t)n);
		at += n;
		*at++ = '\0';
		n = sl_url_pct_decode(ui_pass.p, ui_pass.n, at);
		if (n < 0)
			return n;
		r->pass = sl_slice_make(at, (size_t)n);
		at += n;
		*at++ = '\0';
		r->has_cred = true;
	} else {
		r->user = r->pass = SL_SLICE_NULL;
		r->has_cred = false;
	}

	r->has_host = r->has_ua = r->has_authz = r->has_cookie = r->conn_close = false;
	r->expect = (rq->flags & SL_REQ_EXPECT_CONTINUE) != 0;
	r->fields.p = at;
	for (size_t i = 0; i < rq->nheaders; i++) {
		const sl_field *f = &rq->headers[i];

		if (managed_field(f->name)) {
			if (sl_slice_case_eq_cstr(f->name, "Expect") &&
			    sl_headers_elem_is(f->value, "100-continue"))
				r->expect = true;
			continue;
		}
		if (sl_slice_case_eq_cstr(f->name, "Host"))
			r->has_host = true;
		else if (sl_slice_case_eq_cstr(f->name, "User-Agent"))
			r->has_ua = true;
		else if (sl_slice_case_eq_cstr(f->name, "Authorization"))
			r->has_authz = true;
		else if (sl_slice_case_eq_cstr(f->name, "Cookie"))
			r->has_cookie = true;
		else if (sl_slice_case_eq_cstr(f->name, "Connection") &&
			 sl_headers_has_token(f, 1, "Connection", "close"))
			r->conn_close = true;
		memcpy(at, f->name.p, f->name.n);
		at += f->name.n;
		*at++ = ':';
		*at++ = ' ';
		memcpy(at, f->value.p, f->value.n);
		at += f->value.n;
		*at++ = '\r';
		*at++ = '\n';
	}
	r->fields.n = (size_t)(at - r->fields.p);
	*at = '\0';

	r->flags = rq->flags;
	r->prio = rq->priority;
	r->body = rq->body;
	r->conn_route = rq->route;
	if (r->body.kind == SL_BODY_SRC_NONE)
		r->body.length = 0;
	if (r->expect && r->body.kind == SL_BODY_SRC_NONE)
		r->expect = false;
	r->fb_timeout_ms = rq->first_byte_timeout_ms ? rq->first_byte_timeout_ms
						     : r->m->o.first_byte_timeout_ms;
	r->rd_timeout_ms = rq->read_timeout_ms ? rq->read_timeout_ms : r->m->o.read_timeout_ms;
	return 0;
}

/* ---- the head ---- */

static int head_room(sl_reply *r, size_t n)
{
	size_t cap = r->head_cap ? r->head_cap : 1024;
	char *h;

	if (r->head_len + n <= r->head_cap)
		return 0;
	while (cap < r->head_len + n)
		cap *= 2;
	h = realloc(r->head, cap);
	if (!h)
		return SL_E_NOMEM;
	r->head = h;
	r->head_cap = cap;
	return 0;
}

static int hput(sl_reply *r, const char *p, size_t n)
{
	int rc = head_room(r, n);

	if (rc == 0) {
		memcpy(r->head + r->head_len, p, n);
		r->head_len += n;
	}
	return rc;
}

static int hputs(sl_reply *r, const char *s)
{
	return hput(r, s, strlen(s));
}

static int hslice(sl_reply *r, sl_slice s)
{
	return hput(r, s.p, s.n);
}

static int put_auth(sl_reply *r)
{
	sl_manager *m = r->m;
	char v[2048];
	int n = 0;

	r->auth_preempt = false;
	if (r->has_authz)
		return 0;
	if (r->auth_answered && r->auth) {
		sl_auth_cred cred = {r->user, r->pass};

		if (r->auth->scheme == SL_AUTH_BASIC)
			n = sl_auth_basic(&cred, v, sizeof v);
		else
			n = sl_auth_digest_respond(&r->auth->st, &cred, r->method, r->target, v,
						   sizeof v);
	} else if (!(r->flags & SL_REQ_NO_AUTH_CACHE)) {
		n = sl_auth_cache_preempt(m->auth, r->hostz, r->url.port, r->target, r->method,
					  r->target, v, sizeof v);
		r->auth_preempt = n > 0;
	}
	if (n <= 0)
		return 0;   /* nothing to send, or it cannot be sent: go without */
	if (hputs(r, "Authorization: ") || hput(r, v, (size_t)n) || hputs(r, "\r\n"))
		return SL_E_NOMEM;
	return 0;
}

static int put_cookie(sl_reply *r)
{
	sl_cookie_jar *jar = r->m->o.cookie_jar;
	size_t want = 4096;
	int n;

	if (!jar || r->has_cookie || (r->flags & SL_REQ_NO_COOKIES))
		return 0;
	for (;;) {
		static const char name[] = "Cookie: ";
		if (head_room(r, sizeof name + want + 2) < 0)
			return SL_E_NOMEM;
		n = sl_cookie_jar_header(jar, &r->url, (time_t)ev_now(r->m->loop), true,
					 r->head + r->head_len + sizeof name - 1, want);
		if (n != SL_E_COOKIE_NOSPACE)
			break;
		if (want >= 1024 * 1024)
			return 0;
		want *= 4;
	}
	if (n <= 0)
		return 0;
	memcpy(r->head + r->head_len, "Cookie: ", 8);
	r->head_len += 8 + (size_t)n;
	return hputs(r, "\r\n");
}

static int put_framing(sl_reply *r)
{
	char line[64];
	int n;

	r->chunked_out = false;
	if (r->body.kind == SL_BODY_SRC_NONE) {
		if (r->meth == SL_METHOD_POST || r->meth == SL_METHOD_PUT ||
		    r->meth == SL_METHOD_PATCH)
			return hputs(r, "Content-Length: 0\r\n");
		return 0;
	}
	if (r->body.length < 0) {
		r->chunked_out = true;
		return hputs(r, "Transfer-Encoding: chunked\r\n");
	}
	n = snprintf(line, sizeof line, "Content-Length: %lld\r\n", (long long)r->body.length);
	return hput(r, line, (size_t)n);
}

static int load_body(sl_reply *r)
{
	int rc = 0;

	if (r->body.kind != SL_BODY_SRC_MEM && r->body.kind != SL_BODY_SRC_FILE)
		return 0;
	sl_outq_clear(&r->bq);
	if (r->body.length == 0)
		rc = 0;
	else if (r->body.kind == SL_BODY_SRC_MEM)
		rc = sl_outq_push_ref(&r->bq, r->body.mem, (size_t)r->body.length, NULL, NULL);
	else
		rc = sl_outq_push_file(&r->bq, r->body.fd, r->body.offset,
				       (uint64_t)r->body.length, false);
	r->body_loaded = rc == 0;
	return rc;
}

int sl__request_build(sl_reply *r)
{
	int rc = 0;

	r->head_len = r->head_off = 0;
	rc |= hslice(r, r->method);
	rc |= hputs(r, " ");
	rc |= hslice(r, r->target);
	rc |= hputs(r, " HTTP/1.1\r\n");
	if (!r->has_host) {
		rc |= hputs(r, "Host: ");
		rc |= hslice(r, r->hostport);
		rc |= hputs(r, "\r\n");
	}
	rc |= hslice(r, r->fields);
	if (!r->has_ua && r->m->ua[0]) {
		rc |= hputs(r, "User-Agent: ");
		rc |= hputs(r, r->m->ua);
		rc |= hputs(r, "\r\n");
	}
	if (rc)
		return SL_E_NOMEM;
	if ((rc = put_auth(r)) < 0 || (rc = put_cookie(r)) < 0 || (rc = put_framing(r)) < 0)
		return rc;
	if (r->expect && hputs(r, "Expect: 100-continue\r\n"))
		return SL_E_NOMEM;
	if (hputs(r, "\r\n"))
		return SL_E_NOMEM;
	return load_body(r);
}
