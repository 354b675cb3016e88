/*
 * Running sluice-fetch's jobs on the manager. A job is one URL given on the
 * command line and the chain of requests its redirects make; at most
 * parallel_max jobs run at once (one without -Z), all on the one manager,
 * so they share per-host channels and the idle connection cache (the next
 * job reuses the connection the previous one left).
 *
 * A job's life:
 *
 *   start -> send --head--> [redirect: discard the body] --done--> send ...
 *                      \--> [final: open the output, write the head (-i,
 *                            -I) and the body as it arrives] --done--> end
 *
 * Every end goes through finish(), which records the exit code, releases
 * the reply and the output and starts the next job. Output is written as
 * the body arrives, never gathered: regular files are written directly;
 * when stdout is a pipe or a socket it is made non-blocking, and a write it
 * refuses is kept (at most one body slice per job) while the job's reply is
 * paused (sl_reply_pause) until stdout drains, so a slow reader pushes back
 * through TCP to the server instead of filling memory.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/tools/fetch_internal.h"
#include "core/err.h"
#include "core/url.h"

static void send_request(sl__fetch_job *j);
static void start_more(sl__fetch *f);

/* The job a callback's argument points to. */
static sl__fetch_job *job_of(void *arg)
{
	sl__fetch_job *j = arg;

	assert(j && j->magic == SL__FETCH_JOB_MAGIC);
	return j;
}

/* ---- output ---- */

static void sink_init_stdout(sl__fetch *f)
{
	sl__fetch_sink *s = &f->out;
	struct stat st;

	s->fd = STDOUT_FILENO;
	if (fstat(s->fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		int fl = fcntl(s->fd, F_GETFL);
		if (fl >= 0 && !(fl & O_NONBLOCK) && fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) == 0) {
			s->saved_flags = fl;
			s->nonblock = true;
		}
	}
}

void sl__fetch_sink_restore(sl__fetch_sink *s)
{
	if (s->nonblock) {
		fcntl(s->fd, F_SETFL, s->saved_flags);
		s->nonblock = false;
	}
	free(s->buf);
	s->buf = NULL;
	s->len = s->off = s->cap = 0;
}

static void unwait(sl__fetch_job *j)
{
	sl__fetch_job **pp;

	if (!j->waiting)
		return;
	for (pp = &j->out->waiters; *pp && *pp != j; pp = &(*pp)->wnext)
		;
	if (*pp)
		*pp = j->wnext;
	j->wnext = NULL;
	j->waiting = false;
}

/* Keeps n bytes the fd refused and pauses j until they are written. */
static int hold(sl__fetch *f, sl__fetch_sink *s, sl__fetch_job *j, const char *p, size_t n)
{
	if (s->off == s->len)
		s->off = s->len = 0;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 65536;
		char *nb;
		while (cap < s->len + n)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (!nb)
			return -ENOMEM;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	if (j->r && !j->waiting) {
		sl_reply_pause(j->r);
		j->waiting = true;
		j->wnext = s->waiters;
		s->waiters = j;
	}
	if (!ev_is_active(&s->io))
		ev_io_start(f->loop, &s->io);
	return 0;
}

/* Writes n bytes of j's output. Returns 0 or -errno. */
static int sink_write(sl__fetch *f, sl__fetch_job *j, const char *p, size_t n)
{
	sl__fetch_sink *s = j->out;

	if (s->off < s->len)
		return hold(f, s, j, p, n);  /* keep the order */
	while (n) {
		ssize_t w = write(s->fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && s->nonblock)
			return hold(f, s, j, p, n);
		return w < 0 ? -errno : -EIO;
	}
	return 0;
}

static void finish(sl__fetch_job *j, int code);

static void check_end(sl__fetch *f)
{
	if (f->done == f->njobs && f->out.off == f->out.len)
		ev_break(f->loop, EVBREAK_ALL);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	sl__fetch *f = w->data;
	sl__fetch_sink *s = &f->out;
	sl__fetch_job *list;
	int err = 0;

	(void)loop;
	(void)revents;
	while (s->off < s->len) {
		ssize_t n = write(s->fd, s->buf + s->off, s->len - s->off);
		if (n > 0) {
			s->off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		err = n < 0 ? errno : EIO;
		break;
	}
	s->off = s->len = 0;
	ev_io_stop(f->loop, w);
	list = s->waiters;
	s->waiters = NULL;
	while (list) {
		sl__fetch_job *j = list;
		list = j->wnext;
		j->wnext = NULL;
		j->waiting = false;
		if (j->finished || !j->r)
			continue;
		if (err) {
			sl_reply_abort(j->r);
			sl__fetch_errorf(f, "failed writing the output: %s", strerror(err));
			finish(j, SL__FX_WRITE);
		} else {
			sl_reply_resume(j->r);
		}
	}
	if (err && f->exit_code == 0) {
		sl__fetch_errorf(f, "failed writing the output: %s", strerror(err));
		f->exit_code = SL__FX_WRITE;
	}
	check_end(f);
}

/* The file name -O takes from the URL: its last path segment. */
static int remote_name(const char *url, char *out, size_t cap)
{
	sl_url u;
	const char *p, *slash;
	size_t n;

	if (sl_url_parse(url, strlen(url), &u) < 0)
		return -1;
	p = u.path.p;
	n = u.path.n;
	slash = n ? memrchr(p, '/', n) : NULL;
	if (slash) {
		n -= (size_t)(slash + 1 - p);
		p = slash + 1;
	}
	if (n == 0 || n >= cap || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* Opens j's output for the final response. Returns 0 or an exit code. */
static int open_output(sl__fetch *f, sl__fetch_job *j)
{
	char name[1024];
	const char *path = j->out_path;
	int fd;

	if (j->file_open || j->out)
		return 0;
	if (j->remote_name) {
		if (remote_name(j->arg_url, name, sizeof name) < 0) {
			sl__fetch_errorf(f, "%s: -O: the URL has no file name to save to", j->arg_url);
			return SL__FX_WRITE;
		}
		path = name;
	}
	if (!path || strcmp(path, "-") == 0) {
		j->out = &f->out;
		return 0;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		sl__fetch_errorf(f, "cannot open %s for writing: %s", path, strerror(errno));
		return SL__FX_WRITE;
	}
	j->file.fd = fd;
	j->out = &j->file;
	j->file_open = true;
	return 0;
}

/* ---- the end of a job ---- */

static void finish(sl__fetch_job *j, int code)
{
	sl__fetch *f = j->f;

	if (j->finished)
		return;
	j->finished = true;
	j->exit_code = code;
	ev_timer_stop(f->loop, &j->max_timer);
	unwait(j);
	if (j->r) {
		sl_reply_unref(j->r);
		j->r = NULL;
	}
	if (j->file_open) {
		if (close(j->file.fd) < 0 && code == 0) {
			sl__fetch_errorf(f, "failed writing %s: %s", j->out_path ? j->out_path : "-O",
					 strerror(errno));
			j->exit_code = code = SL__FX_WRITE;
		}
		j->file_open = false;
	}
	j->vhead = false;
	if (code != 0 && (f->exit_code == 0 || j->idx >= f->exit_idx)) {
		f->exit_code = code;
		f->exit_idx = j->idx;
	}
	f->running--;
	f->done++;
	start_more(f);
	check_end(f);
}

/* Ends j after a failure reported by the stack; prints the message. */
static void fail(sl__fetch_job *j, int err, const sl_reply_error *e)
{
	finish(j, sl__fetch_fail(j->f, j, err, e));
}

/* Aborts j's reply from inside one of its callbacks and ends it. */
static void abort_with(sl__fetch_job *j, int code)
{
	if (j->r)
		sl_reply_abort(j->r);
	finish(j, code);
}

/* ---- reply callbacks ---- */

static bool is_redirect(int status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static bool same_origin(const sl_url *a, const sl_url *b)
{
	return sl_slice_case_eq(a->scheme, b->scheme) && sl_slice_case_eq(a->host, b->host) &&
	       a->port == b->port;
}

/* Resolves the Location of a redirect and decides whether to follow it.
 * Returns 0 (j->next_url set) or an exit code (message printed). */
static int plan_redirect(sl__fetch *f, sl__fetch_job *j, sl_reply *r, sl_slice loc)
{
	static char buf[SL_URL_MAX_LEN + 1];
	const sl_url *base = sl_reply_url(r);
	char safe[1024];
	sl_url nu;
	int n;

	sl__fetch_safe_url(j->url, safe, sizeof safe);
	n = sl_url_parse_ref(base, loc.p, loc.n, buf, sizeof buf, &nu);
	if (n < 0) {
		sl__fetch_errorf(f, "%s: cannot follow the redirect to '%.*s': %s", safe,
				 (int)(loc.n > 200 ? 200 : loc.n), loc.p, sl_strerror(n));
		return SL__FX_URL;
	}
	if (sl_slice_case_eq_cstr(base->scheme, "https") &&
	    !sl_slice_case_eq_cstr(nu.scheme, "https")) {
		char to[1024];
		sl__fetch_safe_url(buf, to, sizeof to);
		sl__fetch_errorf(f, "%s: refusing to follow a redirect from https to %.*s (%s)",
				 safe, SL_SLICE_FMT(nu.scheme), to);
		return SL__FX_REDIRECT;
	}
	if (f->o.max_redirs >= 0 && j->redirects >= (unsigned long)f->o.max_redirs) {
		sl__fetch_errorf(f, "%s: maximum (%ld) redirects followed", safe, f->o.max_redirs);
		return SL__FX_REDIRECT;
	}
	free(j->next_url);
	j->next_url = strdup(buf);
	if (!j->next_url)
		return SL__FX_NOMEM;
	j->next_status = sl_reply_status(r);
	return 0;
}

static int write_head(sl__fetch *f, sl__fetch_job *j, const sl_reply_head *h)
{
	size_t len;
	char *text = sl__fetch_head_text(h, "", true, &len);
	int rc;

	if (!text)
		return -ENOMEM;
	rc = sink_write(f, j, text, len);
	free(text);
	return rc;
}

static void on_head(sl_reply *r, const sl_reply_head *h, void *arg)
{
	sl__fetch_job *j = job_of(arg);
	sl__fetch *f = j->f;
	const sl_field *loc;
	int code, rc;

	j->status = h->status;
	if (f->o.verbose) {
		size_t len;
		char *text = sl__fetch_head_text(h, "< ", false, &len);
		sl_reply_stats st;

		sl__fetch_print_request(f, j, r);
		sl_reply_get_stats(r, &st);
		if (st.auth_rounds && f->o.user_name)
			fprintf(stderr, "* answered the server's 401 challenge as user '%s'\n",
				f->o.user_name);
		if (sl_reply_from_cache(r))
			fprintf(stderr, "* the response comes from the cache (--cache-dir)\n");
		if (text)
			fwrite(text, 1, len, stderr);
		free(text);
	}
	loc = sl_headers_get(h->fields, h->nfields, "Location");
	if (f->o.location && is_redirect(h->status) && loc) {
		j->discard = true;
		if ((code = plan_redirect(f, j, r, loc->value))) {
			abort_with(j, code);
			return;
		}
		if (f->o.include || f->o.head) {
			/* curl writes every head it follows with -i and -I. */
			if ((code = open_output(f, j))) {
				abort_with(j, code);
				return;
			}
			if ((rc = write_head(f, j, h)) < 0) {
				sl__fetch_errorf(f, "failed writing the output: %s", strerror(-rc));
				abort_with(j, SL__FX_WRITE);
			}
		}
		return;
	}
	if (f->o.fail && h->status >= 400) {
		j->discard = true;
		j->http_fail = true;
		return;
	}
	if ((code = open_output(f, j))) {
		abort_with(j, code);
		return;
	}
	j->discard = false;
	j->expect_known = h->framing == SL_BODY_LENGTH && strcmp(j->method, "HEAD") != 0;
	j->expect = h->content_length;
	if ((f->o.include || f->o.head) && (rc = write_head(f, j, h)) < 0) {
		sl__fetch_errorf(f, "failed writing the output: %s", strerror(-rc));
		abort_with(j, SL__FX_WRITE);
	}
}

static void on_data(sl_reply *r, sl_slice data, void *arg)
{
	sl__fetch_job *j = job_of(arg);
	sl__fetch *f = j->f;
	int rc;

	(void)r;
	if (j->discard || j->finished)
		return;
	j->body_bytes += data.n;
	f->total_bytes += data.n;
	rc = sink_write(f, j, data.p, data.n);
	if (rc < 0) {
		sl__fetch_errorf(f, "failed writing the output: %s", strerror(-rc));
		abort_with(j, SL__FX_WRITE);
	}
}

/* Sends the request for the redirect planned in on_head. */
static void follow(sl__fetch *f, sl__fetch_job *j)
{
	int st = j->next_status;
	sl_url first, nu;

	if (j->url != j->arg_url)
		free(j->url);
	j->url = j->next_url;
	j->next_url = NULL;
	j->redirects++;
	if (sl_url_parse(j->arg_url, strlen(j->arg_url), &first) == 0 &&
	    sl_url_parse(j->url, strlen(j->url), &nu) == 0 && !same_origin(&first, &nu))
		j->cross_origin = true;  /* credentials and -H cookies stay home */
	if ((st == 301 || st == 302 || st == 303) && strcmp(j->method, "HEAD") != 0) {
		j->method = "GET";
		j->send_body = false;
	}
	if (f->o.verbose) {
		char safe[1024];
		sl__fetch_safe_url(j->url, safe, sizeof safe);
		fprintf(stderr, "* following the %d redirect to %s%s\n", st, safe,
			j->cross_origin ? " (another origin: no credentials)" : "");
	}
	sl_reply_unref(j->r);
	j->r = NULL;
	j->status = 0;
	j->discard = false;
	send_request(j);
}

static void on_done(sl_reply *r, int err, void *arg)
{
	sl__fetch_job *j = job_of(arg);
	sl__fetch *f = j->f;
	sl_reply_error e;

	if (j->finished)
		return;
	if (f->o.verbose) {
		sl_reply_stats st;
		sl__fetch_print_request(f, j, r);
		sl_reply_get_stats(r, &st);
		if (st.reused)
			fprintf(stderr, "* the request went out on a reused connection\n");
	}
	if (err < 0) {
		sl_reply_get_error(r, &e);
		fail(j, err, &e);
		return;
	}
	if (j->next_url) {
		follow(f, j);
		return;
	}
	if (j->http_fail) {
		char safe[1024];
		sl__fetch_safe_url(j->url, safe, sizeof safe);
		sl__fetch_errorf(f, "%s: the requested URL returned error: %d", safe, j->status);
		finish(j, SL__FX_HTTP);
		return;
	}
	finish(j, SL__FX_OK);
}

static const sl_reply_cbs cbs = {
	.on_head = on_head,
	.on_data = on_data,
	.on_done = on_done,
};

/* ---- requests ---- */

int sl__fetch_route(sl__fetch *f, const sl_url *u, sl_route *route, const char **bad)
{
	char scheme[8];
	const char *env;
	int k, rc;

	route->hops = NULL;
	route->n = 0;
	route->name = NULL;
	if (!u->has_authority || u->host.n == 0)
		return 0;
	if (f->o.noproxy && sl_no_proxy_match(f->o.noproxy, u->host.p, u->host.n))
		return 0;
	if (f->o.nproxies) {
		sl_route_buf_route(&f->o.chain, route);
		return 0;
	}
	if (sl_slice_case_eq_cstr(u->scheme, "http"))
		k = 0;
	else if (sl_slice_case_eq_cstr(u->scheme, "https"))
		k = 1;
	else
		return 0;
	snprintf(scheme, sizeof scheme, "%s", k ? "https" : "http");
	env = sl_proxy_from_env(scheme, u->host.p, u->host.n);
	if (!env)
		return 0;
	if (f->env_url[k] != env) {
		sl_route_buf_init(&f->env_route[k]);
		rc = sl_route_buf_add_url(&f->env_route[k], env);
		if (rc < 0) {
			*bad = env;
			f->env_url[k] = NULL;
			return rc;
		}
		if (f->o.insecure)
			f->env_route[k].hops[0].tls_verify = false;
		if (f->o.proxy_forward && (f->env_route[k].hops[0].type == SL_HOP_HTTP ||
					   f->env_route[k].hops[0].type == SL_HOP_HTTPS))
			f->env_route[k].hops[0].forward = true;
		f->env_url[k] = env;
	}
	sl_route_buf_route(&f->env_route[k], route);
	return 0;
}

static bool removed(const sl__fetch_opts *o, const char *name)
{
	for (size_t i = 0; i < o->nremoved; i++)
		if (strcasecmp(o->removed[i], name) == 0)
			return true;
	return false;
}

static bool given(const sl__fetch_opts *o, const char *name)
{
	return sl_headers_get(o->headers, o->nheaders, name) != NULL;
}

/* The fields of j's current request, in f->fields. Returns how many. */
static size_t build_fields(sl__fetch *f, sl__fetch_job *j)
{
	const sl__fetch_opts *o = &f->o;
	size_t n = 0;

	if (!removed(o, "Accept") && !given(o, "Accept"))
		f->fields[n++] = (sl_field){SL_SLICE_LIT("Accept"), SL_SLICE_LIT("*/*")};
	for (size_t i = 0; i < o->nheaders; i++) {
		const sl_field *h = &o->headers[i];
		if (j->cross_origin && (sl_slice_case_eq_cstr(h->name, "Authorization") ||
					sl_slice_case_eq_cstr(h->name, "Cookie")))
			continue;
		f->fields[n++] = *h;
	}
	if (o->cookie_str && !j->cross_origin && !given(o, "Cookie"))
		f->fields[n++] = (sl_field){SL_SLICE_LIT("Cookie"), sl_slice_cstr(o->cookie_str)};
	if (j->send_body && o->form && !removed(o, "Content-Type") && !given(o, "Content-Type"))
		f->fields[n++] = (sl_field){SL_SLICE_LIT("Content-Type"),
					    SL_SLICE_LIT("application/x-www-form-urlencoded")};
	return n;
}

static void send_request(sl__fetch_job *j)
{
	sl__fetch *f = j->f;
	const sl__fetch_opts *o = &f->o;
	sl_request rq;
	sl_route route;
	sl_url u;
	const char *bad = NULL;
	size_t nf;
	int rc;

	rc = sl_url_parse(j->url, strlen(j->url), &u);
	if (rc < 0) {
		fail(j, rc, NULL);
		return;
	}
	rc = sl__fetch_route(f, &u, &route, &bad);
	if (rc < 0) {
		char safe[512];
		sl__fetch_safe_url(bad, safe, sizeof safe);
		sl__fetch_errorf(f, "bad proxy in the environment: %s: %s", safe, sl_strerror(rc));
		finish(j, SL__FX_PROXY_NOT_FOUND);
		return;
	}
	sl_request_init(&rq, j->method, j->url);
	nf = build_fields(f, j);
	rq.headers = f->fields;
	rq.nheaders = nf;
	rq.route = route.n ? &route : NULL;
	rq.cache_load = o->cache_mode;
	if (o->user_name && !j->cross_origin) {
		rq.user = o->user_name;
		rq.password = o->user_pass;
	}
	if (j->send_body) {
		if (o->body_fd >= 0)
			sl_request_body_file(&rq, o->body_fd, 0, o->body_len);
		else
			sl_request_body_mem(&rq, o->data, o->data_len);
	}
	if (o->verbose) {
		if (route.n) {
			fprintf(stderr, "* route to %.*s:%u:", SL_SLICE_FMT(u.host), u.port);
			for (size_t i = 0; i < route.n; i++) {
				char hop[300];
				sl_hop_format(&route.hops[i], hop, sizeof hop);
				fprintf(stderr, " proxy hop %zu %s%s%s", i + 1, hop,
					route.hops[i].forward && sl_slice_case_eq_cstr(u.scheme, "http")
						? " (forwarding)" : "",
					i + 1 < route.n ? "," : "\n");
			}
		}
		j->vhead = true;
	}
	rc = sl_manager_send(f->m, &rq, &cbs, j, &j->r);
	if (rc < 0) {
		j->r = NULL;
		fail(j, rc, NULL);
	}
}

/* ---- jobs ---- */

static void on_max_time(struct ev_loop *loop, ev_timer *w, int revents)
{
	sl__fetch_job *j = job_of(w->data);
	sl__fetch *f = j->f;
	char safe[1024];

	(void)loop;
	(void)revents;
	if (j->finished)
		return;
	sl__fetch_safe_url(j->url, safe, sizeof safe);
	sl__fetch_errorf(f, "%s: operation timed out after %.3g s (--max-time) with %llu bytes "
			    "received", safe, f->o.max_time, (unsigned long long)j->body_bytes);
	if (j->r)
		sl_reply_abort(j->r);
	finish(j, SL__FX_TIMEOUT);
}

/* -T FILE to a URL ending in '/' puts the file under its own name. */
static int upload_url(sl__fetch *f, sl__fetch_job *j)
{
	size_t n = strlen(j->arg_url), k;
	sl_url u;

	j->url = (char *)j->arg_url;
	if (!f->o.upload || !f->o.upload_name[0] || sl_url_parse(j->url, n, &u) < 0 ||
	    u.has_query || u.has_fragment || n == 0 || j->url[n - 1] != '/')
		return 0;
	k = strlen(f->o.upload_name);
	j->url = malloc(n + k + 1);
	if (!j->url) {
		j->url = (char *)j->arg_url;
		return SL__FX_NOMEM;
	}
	memcpy(j->url, j->arg_url, n);
	memcpy(j->url + n, f->o.upload_name, k + 1);
	return 0;
}

static void start_job(sl__fetch *f, sl__fetch_job *j)
{
	int rc;

	j->started = true;
	f->running++;
	j->method = f->o.method;
	j->send_body = f->o.has_body;
	ev_timer_init(&j->max_timer, on_max_time, f->o.max_time, 0.0);
	j->max_timer.data = j;
	if ((rc = upload_url(f, j))) {
		finish(j, rc);
		return;
	}
	if (f->o.max_time > 0)
		ev_timer_start(f->loop, &j->max_timer);
	send_request(j);
}

static void start_more(sl__fetch *f)
{
	static bool busy;

	if (busy)
		return;  /* the outer call's loop picks up what is free */
	busy = true;
	while (f->running < f->o.parallel_max && f->next < f->njobs)
		start_job(f, &f->jobs[f->next++]);
	busy = false;
}

int sl__fetch_run(sl__fetch *f)
{
	sink_init_stdout(f);
	ev_io_init(&f->out.io, on_writable, f->out.fd, EV_WRITE);
	f->out.io.data = f;
	sl__fetch_progress_start(f);
	start_more(f);
	if (f->done < f->njobs || f->out.off < f->out.len)
		ev_run(f->loop, 0);
	sl__fetch_progress_stop(f);
	return f->exit_code;
}
