/*
 * What sluice-fetch tells the user: the exit code and the one-line message
 * of a failure (curl's numbers, in one table-like function: proxy errors
 * name the hop by its number, counted from 1 in the order of -x, and its
 * URL without credentials; target errors name the URL), the -v trace
 * (each hop's handshake lines from the stream, then the request and
 * response heads), and the progress line on a terminal. Nothing here
 * prints a password: URLs lose their userinfo and credential fields are
 * redacted.
 *
 * What a refusing HTTP proxy hop answered (its status line, and the scheme
 * of a 407) comes with the reply's error (sl_reply_error), for CONNECT
 * through any hop and for a forwarding proxy alike.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/tools/fetch_internal.h"
#include "core/err.h"
#include "core/url.h"

bool sl__fetch_says(const sl__fetch *f)
{
	return !f->o.silent || f->o.show_error;
}

void sl__fetch_errorf(sl__fetch *f, const char *fmt, ...)
{
	va_list ap;

	if (!sl__fetch_says(f))
		return;
	sl__fetch_progress_clear(f);
	fputs("sluice-fetch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void sl__fetch_safe_url(const char *url, char *out, size_t cap)
{
	const char *auth = strstr(url, "://");
	const char *end, *at = NULL;

	if (!cap)
		return;
	if (auth) {
		auth += 3;
		end = auth + strcspn(auth, "/?#");
		for (const char *p = auth; p < end; p++)
			if (*p == '@')
				at = p;
	}
	if (at)
		snprintf(out, cap, "%.*s%s", (int)(auth - url), url, at + 1);
	else
		snprintf(out, cap, "%s", url);
}

/* ---- failures ---- */

/* "proxy hop 2 (http://127.0.0.1:3128)" for hop index i of route. */
static const char *hop_name(const sl_route *route, int i, char *buf, size_t cap)
{
	char url[300];

	if (i < 0 || (size_t)i >= route->n) {
		snprintf(buf, cap, "a proxy hop");
		return buf;
	}
	if (sl_hop_format(&route->hops[i], url, sizeof url) < 0)
		snprintf(url, sizeof url, "%s", route->hops[i].host);
	snprintf(buf, cap, "proxy hop %d (%s)", i + 1, url);
	return buf;
}

static bool is_socks(const sl_route *route, int i)
{
	return i >= 0 && (size_t)i < route->n &&
	       (route->hops[i].type == SL_HOP_SOCKS5 || route->hops[i].type == SL_HOP_SOCKS5H);
}

static bool in_block(int err, int first)
{
	return err <= first && err > first - 100;
}

static const char *cert_reason(int err)
{
	switch (err) {
	case SL_E_TLS_EXPIRED:
		return "certificate has expired or is not yet valid";
	case SL_E_TLS_SELF_SIGNED:
		return "certificate is self-signed";
	case SL_E_TLS_UNKNOWN_CA:
		return "certificate issuer is not trusted";
	case SL_E_TLS_HOSTNAME:
		return "certificate does not match the host name";
	default:
		return "the certificate was refused";
	}
}

static bool cert_error(int err)
{
	return err == SL_E_TLS_EXPIRED || err == SL_E_TLS_SELF_SIGNED ||
	       err == SL_E_TLS_UNKNOWN_CA || err == SL_E_TLS_HOSTNAME || err == SL_E_TLS_VERIFY;
}

/* A failure at proxy hop i (or reported about it); e tells what the hop
 * answered when it is an HTTP proxy that refused. */
static int proxy_failure(sl__fetch *f, const sl_route *route, int i, int err,
			 const sl_reply_error *e)
{
	char name[400], next[400];
	const sl_reply_error *note = e && e->status ? e : NULL;
	const char *by = "";
	char bybuf[420];

	hop_name(route, i, name, sizeof name);
	if (i > 0) {
		/* The hop before reached out to this one and reports the
		 * failure. */
		char prev[400];
		snprintf(bybuf, sizeof bybuf, " (reported by %s)",
			 hop_name(route, i - 1, prev, sizeof prev));
		by = bybuf;
	}
	switch (err) {
	case SL_E_PROXY_NOT_FOUND:
	case SL_E_DNS_NOT_FOUND:
	case SL_E_DNS_FAILED:
		sl__fetch_errorf(f, "%s: could not resolve the proxy's host name%s", name, by);
		return SL__FX_PROXY_NOT_FOUND;
	case SL_E_PROXY_REFUSED:
		sl__fetch_errorf(f, "%s refused the connection%s", name, by);
		return SL__FX_CONNECT;
	case SL_E_PROXY_UNREACHABLE:
		sl__fetch_errorf(f, "%s is unreachable%s", name, by);
		return SL__FX_CONNECT;
	case SL_E_PROXY_TIMEOUT:
	case SL_E_DNS_TIMEOUT:
	case SL_E_TIMEOUT:
		sl__fetch_errorf(f, "%s timed out%s", name, by);
		return SL__FX_TIMEOUT;
	case SL_E_PROXY_DENIED:
		sl__fetch_errorf(f, "%s may not be reached: the rules of the hop before forbid it%s",
				 name, by);
		return SL__FX_PROXY;
	case SL_E_PROXY_AUTH:
		if (is_socks(route, i))
			sl__fetch_errorf(f, "%s refused the credentials (SOCKS5 username/password)",
					 name);
		else
			sl__fetch_errorf(f, "%s refused the credentials (HTTP 407%s%s)", name,
					 note && note->scheme[0] ? ", " : "",
					 note && note->scheme[0] ? note->scheme : "");
		return SL__FX_PROXY;
	case SL_E_PROXY_AUTH_BODY:
		sl__fetch_errorf(f, "%s asked for credentials (HTTP 407%s%s) and the request body "
				    "cannot be sent again", name,
				 note && note->scheme[0] ? ", " : "",
				 note && note->scheme[0] ? note->scheme : "");
		return SL__FX_PROXY;
	case SL_E_PROXY_AUTH_REQUIRED:
		if (is_socks(route, i))
			sl__fetch_errorf(f, "%s requires credentials (SOCKS5 username/password): "
					    "give them as -x socks5h://user:password@host:port", name);
		else
			sl__fetch_errorf(f, "%s requires credentials (HTTP 407%s%s): give them as "
					    "-x http://user:password@host:port", name,
					 note && note->scheme[0] ? ", " : "",
					 note && note->scheme[0] ? note->scheme : "");
		return SL__FX_PROXY;
	case SL_E_PROXY_STATUS:
		if (note && note->status && (size_t)i + 1 < route->n &&
		    (note->status == 502 || note->status == 503 || note->status == 504)) {
			/* This hop could not reach the next one. */
			hop_name(route, i + 1, next, sizeof next);
			sl__fetch_errorf(f, "%s could not be reached through %s: it answered %s", next,
					 name, note->status_line);
			return note->status == 504 ? SL__FX_TIMEOUT : SL__FX_CONNECT;
		}
		sl__fetch_errorf(f, "%s refused the CONNECT request%s%s", name,
				 note ? ": " : "", note ? note->status_line : "");
		return SL__FX_PROXY;
	case SL_E_PROXY_CLOSED:
		sl__fetch_errorf(f, "%s closed the connection during the handshake", name);
		return SL__FX_PROXY;
	case SL_E_TLS_HANDSHAKE:
		sl__fetch_errorf(f, "%s: TLS handshake failed", name);
		return SL__FX_TLS;
	default:
		break;
	}
	if (cert_error(err)) {
		sl__fetch_errorf(f, "%s: TLS certificate verification failed: %s", name,
				 cert_reason(err));
		return SL__FX_CERT;
	}
	if (err == -ECONNREFUSED || err == -ENETUNREACH || err == -EHOSTUNREACH) {
		sl__fetch_errorf(f, "%s: %s%s", name, sl_strerror(err), by);
		return SL__FX_CONNECT;
	}
	if (in_block(err, SL_E_PROXY_NOT_FOUND)) {
		sl__fetch_errorf(f, "%s: proxy handshake failed: %s", name, sl_strerror(err));
		return SL__FX_PROXY;
	}
	sl__fetch_errorf(f, "%s: %s", name, sl_strerror(err));
	return SL__FX_CONNECT;
}

int sl__fetch_fail(sl__fetch *f, sl__fetch_job *j, int err, const sl_reply_error *e)
{
	char url[1024], by[420] = "", name[400];
	sl_route route = {NULL, 0, NULL};
	enum sl_reply_phase phase = e ? e->phase : SL_PHASE_NONE;
	const char *bad = NULL;
	sl_url u;
	bool parsed;

	sl__fetch_safe_url(j->url, url, sizeof url);
	if (in_block(err, SL_E_URL_EMPTY)) {
		sl__fetch_errorf(f, "%s: malformed URL: %s", url, sl_strerror(err));
		return SL__FX_URL;
	}
	if (err == SL_E_UNSUPPORTED && !e) {
		sl__fetch_errorf(f, "%s: unsupported URL scheme", url);
		return SL__FX_UNSUPPORTED;
	}
	if (err == SL_E_NOMEM) {
		sl__fetch_errorf(f, "%s: out of memory", url);
		return SL__FX_NOMEM;
	}
	if (err == SL_E_INVAL && !e) {
		sl__fetch_errorf(f, "%s: the request is invalid (method, header or body)", url);
		return SL__FX_USAGE;
	}
	parsed = sl_url_parse(j->url, strlen(j->url), &u) == 0;
	if (parsed)
		sl__fetch_route(f, &u, &route, &bad);
	if (e && e->proxy)
		return proxy_failure(f, &route, e->hop, err, e);
	/* The target. When a proxy hop reached out to it, that hop reports. */
	if (route.n && phase == SL_PHASE_CONNECT)
		snprintf(by, sizeof by, " (reported by %s)",
			 hop_name(&route, (int)route.n - 1, name, sizeof name));
	switch (err) {
	case SL_E_TARGET_NOT_FOUND:
	case SL_E_DNS_NOT_FOUND:
	case SL_E_DNS_FAILED:
		/* Not "reported by" a hop: with socks5:// this side resolves. */
		sl__fetch_errorf(f, "%s: could not resolve host %.*s", url,
				 parsed ? (int)u.host.n : 0, parsed ? u.host.p : "");
		return SL__FX_NOT_FOUND;
	case SL_E_TARGET_REFUSED:
	case SL_E_TARGET_UNREACHABLE:
		sl__fetch_errorf(f, "%s: could not connect to %.*s port %u: %s%s", url,
				 parsed ? (int)u.host.n : 0, parsed ? u.host.p : "",
				 parsed ? u.port : 0, sl_strerror(err), by);
		return SL__FX_CONNECT;
	case SL_E_TARGET_TIMEOUT:
	case SL_E_DNS_TIMEOUT:
	case SL_E_TIMEOUT:
		sl__fetch_errorf(f, "%s: %s%s", url,
				 phase == SL_PHASE_CONNECT ? "connection timed out"
				 : phase == SL_PHASE_WAIT ? "no answer from the server in time"
							  : "the server went silent",
				 by);
		return SL__FX_TIMEOUT;
	case SL_E_TARGET_DENIED:
		sl__fetch_errorf(f, "%s: the proxy's rules forbid this target%s", url, by);
		return SL__FX_PROXY;
	case SL_E_TLS_HANDSHAKE:
		sl__fetch_errorf(f, "%s: TLS handshake failed", url);
		return SL__FX_TLS;
	case SL_E_TLS_CLOSED:
		sl__fetch_errorf(f, "%s: the server closed the TLS connection without close_notify",
				 url);
		return SL__FX_RECV;
	case SL_E_TLS_HOSTNAME:
		sl__fetch_errorf(f, "%s: TLS certificate verification failed: certificate does not "
				    "match the host name '%.*s'", url, parsed ? (int)u.host.n : 0,
				 parsed ? u.host.p : "");
		return SL__FX_CERT;
	case SL_E_TARGET_CLOSED:
		if (phase == SL_PHASE_WAIT) {
			sl__fetch_errorf(f, "%s: empty reply from the server", url);
			return SL__FX_EMPTY;
		}
		if (phase == SL_PHASE_SEND) {
			sl__fetch_errorf(f, "%s: the server closed the connection while the request "
					    "was sent", url);
			return SL__FX_SEND;
		}
		if (phase == SL_PHASE_RECEIVE) {
			if (j->expect_known)
				sl__fetch_errorf(f, "%s: the connection closed after %llu of %llu body "
						    "bytes", url, (unsigned long long)j->body_bytes,
						 (unsigned long long)j->expect);
			else
				sl__fetch_errorf(f, "%s: the connection closed before the end of the "
						    "body", url);
			return SL__FX_RECV;
		}
		sl__fetch_errorf(f, "%s: the server closed the connection%s", url, by);
		return SL__FX_CONNECT;
	case SL_E_TARGET_RESET:
		sl__fetch_errorf(f, "%s: the server reset the connection", url);
		return phase == SL_PHASE_SEND ? SL__FX_SEND : SL__FX_RECV;
	default:
		break;
	}
	if (cert_error(err)) {
		sl__fetch_errorf(f, "%s: TLS certificate verification failed: %s", url,
				 cert_reason(err));
		return SL__FX_CERT;
	}
	if (in_block(err, SL_E_HTTP_BAD_METHOD)) {
		sl__fetch_errorf(f, "%s: malformed response: %s", url, sl_strerror(err));
		return SL__FX_WEIRD;
	}
	if (err == -EPIPE || err == -ECONNRESET) {
		sl__fetch_errorf(f, "%s: %s", url, sl_strerror(err));
		return phase == SL_PHASE_SEND ? SL__FX_SEND : SL__FX_RECV;
	}
	if (err == SL_E_CACHE_ONLY_IF_CACHED) {
		sl__fetch_errorf(f, "%s: not in the cache (--cache-mode always-cache)", url);
		return SL__FX_NOT_CACHED;
	}
	if (phase == SL_PHASE_LOCAL) {
		sl__fetch_errorf(f, "%s: %s", url, sl_strerror(err));
		return err == SL_E_UNSUPPORTED ? SL__FX_UNSUPPORTED : SL__FX_READ;
	}
	sl__fetch_errorf(f, "%s: %s (while %s)", url, sl_strerror(err),
			 sl_reply_phase_name(phase));
	switch (phase) {
	case SL_PHASE_CONNECT:
		return SL__FX_CONNECT;
	case SL_PHASE_SEND:
		return SL__FX_SEND;
	default:
		return SL__FX_RECV;
	}
}

/* ---- -v ---- */

void sl__fetch_trace(sl_stream *s, const char *line, void *arg)
{
	sl__fetch *f = arg;

	(void)s;
	if (f->o.verbose) {
		sl__fetch_progress_clear(f);
		fprintf(stderr, "* %s\n", line);
	}
}

struct text {
	char *p;
	size_t n, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		size_t room = t->cap - t->n;
		va_start(ap, fmt);
		k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? room : 0, fmt, ap);
		va_end(ap);
		if (k < 0) {
			t->oom = true;
			return;
		}
		if (t->p && (size_t)k < room) {
			t->n += (size_t)k;
			return;
		}
		size_t cap = t->cap ? t->cap : 512;
		while (cap < t->n + (size_t)k + 1)
			cap *= 2;
		char *np = realloc(t->p, cap);
		if (!np) {
			t->oom = true;
			return;
		}
		t->p = np;
		t->cap = cap;
	}
}

static bool is_credential(sl_slice name)
{
	return sl_slice_case_eq_cstr(name, "Authorization") ||
	       sl_slice_case_eq_cstr(name, "Proxy-Authorization");
}

void sl__fetch_print_request(sl__fetch *f, sl__fetch_job *j, const sl_reply *r)
{
	sl_slice head = sl_reply_request_head(r);
	const char *p = head.p, *end = head.p + head.n;

	if (!j->vhead)
		return;
	j->vhead = false;
	if (!head.n)
		return;     /* nothing went out: the failure tells why */
	sl__fetch_progress_clear(f);
	while (p < end) {
		const char *eol = memchr(p, '\r', (size_t)(end - p));
		sl_slice line = sl_slice_make(p, eol ? (size_t)(eol - p) : (size_t)(end - p));
		const char *colon = memchr(line.p, ':', line.n);

		p = line.p + line.n + 2;
		if (colon && is_credential(sl_slice_make(line.p, (size_t)(colon - line.p)))) {
			/* "Authorization: Basic [redacted]": the scheme only. */
			const char *v = colon + 2 <= line.p + line.n ? colon + 2 : line.p + line.n;
			const char *sp = memchr(v, ' ', (size_t)(line.p + line.n - v));
			fprintf(stderr, "> %.*s: %.*s [redacted]\n", (int)(colon - line.p), line.p,
				sp ? (int)(sp - v) : 0, v);
			continue;
		}
		if (line.n)
			fprintf(stderr, "> %.*s\n", SL_SLICE_FMT(line));
		else
			fputs(">\n", stderr);
	}
}

char *sl__fetch_head_text(const sl_reply_head *h, const char *prefix, bool crlf, size_t *len)
{
	struct text t = {0};
	const char *eol = crlf ? "\r\n" : "\n";

	put(&t, "%sHTTP/1.%d %d %.*s%s", prefix, h->minor_version, h->status,
	    SL_SLICE_FMT(h->reason), eol);
	for (size_t i = 0; i < h->nfields; i++)
		put(&t, "%s%.*s: %.*s%s", prefix, SL_SLICE_FMT(h->fields[i].name),
		    SL_SLICE_FMT(h->fields[i].value), eol);
	put(&t, "%s%s", crlf ? "" : prefix, eol);
	if (t.oom) {
		free(t.p);
		return NULL;
	}
	*len = t.n;
	return t.p;
}

/* ---- progress ---- */

static void human(double v, char *out, size_t cap)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%.0f %s", v, units[u]);
	else
		snprintf(out, cap, "%.1f %s", v, units[u]);
}

static void draw(sl__fetch *f)
{
	ev_tstamp now = ev_now(f->loop);
	double dt = now - f->last_t;
	uint64_t expect = 0, got = 0;
	bool known = f->next == f->njobs;
	char bytes[32], total[32], speed[32], eta[32] = "--:--", pct[8] = "  -";

	if (dt > 0) {
		double inst = (double)(f->total_bytes - f->last_bytes) / dt;
		f->speed = f->speed > 0 ? 0.6 * f->speed + 0.4 * inst : inst;
		f->last_t = now;
		f->last_bytes = f->total_bytes;
	}
	for (size_t i = 0; i < f->next; i++) {
		const sl__fetch_job *j = &f->jobs[i];
		if (j->finished) {
			expect += j->body_bytes;
			got += j->body_bytes;
		} else if (j->expect_known) {
			expect += j->expect;
			got += j->body_bytes;
		} else {
			known = false;
		}
	}
	human((double)f->total_bytes, bytes, sizeof bytes);
	human(f->speed, speed, sizeof speed);
	if (known && expect) {
		snprintf(pct, sizeof pct, "%3d", (int)(got * 100 / expect));
		human((double)expect, total, sizeof total);
		if (f->speed > 1) {
			unsigned s = (unsigned)((double)(expect - got) / f->speed);
			snprintf(eta, sizeof eta, "%u:%02u", s / 60, s % 60);
		}
	} else {
		snprintf(total, sizeof total, "?");
	}
	fprintf(stderr, "\r%10s / %-10s %s%%  %10s/s  ETA %6s  [%zu/%zu done]\033[K", bytes, total,
		pct, speed, eta, f->done, f->njobs);
	fflush(stderr);
	f->progress_drawn = true;
}

static void on_progress(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	draw(w->data);
}

void sl__fetch_progress_start(sl__fetch *f)
{
	bool to_stdout = false;

	for (size_t i = 0; i < f->njobs; i++)
		if ((!f->jobs[i].out_path && !f->jobs[i].remote_name) ||
		    (f->jobs[i].out_path && strcmp(f->jobs[i].out_path, "-") == 0))
			to_stdout = true;
	/* A terminal on stderr, not silenced, not mixed with -v's lines nor
	 * with a body going to the same terminal. */
	f->progress = isatty(STDERR_FILENO) && !f->o.silent && !f->o.verbose &&
		      !(to_stdout && isatty(STDOUT_FILENO));
	if (!f->progress)
		return;
	f->t0 = f->last_t = ev_now(f->loop);
	ev_timer_init(&f->prog, on_progress, 0.25, 0.25);
	f->prog.data = f;
	ev_timer_start(f->loop, &f->prog);
}

void sl__fetch_progress_clear(sl__fetch *f)
{
	if (!f->progress_drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	f->progress_drawn = false;
}

void sl__fetch_progress_stop(sl__fetch *f)
{
	if (!f->progress)
		return;
	ev_timer_stop(f->loop, &f->prog);
	sl__fetch_progress_clear(f);
	f->progress = false;
}
