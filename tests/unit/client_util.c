/*
 * The client tests' fixtures (see client_util.h): a scripted HTTP server on
 * the test's loop, a TCP connector with hold and failure modes, a reply
 * recorder and bounded loop runs. Requests are parsed with the project's
 * own parser and chunked decoder, so the server is strict about what the
 * client sends.
 */
#include "client_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/reply.h"
#include "core/err.h"

tnet g_net;
int g_done_counter;

/* ---- the server ---- */

static void conn_update(tconn *c);

static void conn_shut(tconn *c)
{
	if (c->closed)
		return;
	ev_io_stop(c->s->loop, &c->rw);
	ev_io_stop(c->s->loop, &c->ww);
	close(c->fd);
	c->fd = -1;
	c->closed = true;
}

static void flush_out(tconn *c)
{
	while (!c->closed && c->offout < c->nout) {
		ssize_t w = write(c->fd, c->out + c->offout, c->nout - c->offout);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			conn_shut(c);
			return;
		}
		c->offout += (size_t)w;
	}
	if (c->offout == c->nout) {
		c->offout = c->nout = 0;
		if (c->close_after)
			conn_shut(c);
	}
	conn_update(c);
}

void tconn_send(tconn *c, const void *p, size_t n)
{
	if (c->closed)
		return;
	if (c->nout + n > c->capout) {
		size_t cap = c->capout ? c->capout : 4096;
		while (cap < c->nout + n)
			cap *= 2;
		c->out = realloc(c->out, cap);
		c->capout = cap;
	}
	memcpy(c->out + c->nout, p, n);
	c->nout += n;
	flush_out(c);
}

void tconn_sendf(tconn *c, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	tconn_send(c, buf, (size_t)n);
}

void tconn_close_after(tconn *c)
{
	c->close_after = true;
	if (c->nout == c->offout)
		conn_shut(c);
}

void tconn_close_now(tconn *c)
{
	conn_shut(c);
}

void tconn_reset(tconn *c)
{
	struct linger l = {1, 0};

	if (c->closed)
		return;
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	conn_shut(c);
}

bool treq_header(const treq *q, const char *name, char *buf, size_t cap)
{
	const sl_field *f = sl_headers_get(q->fields, q->nfields, name);

	buf[0] = '\0';
	if (!f)
		return false;
	snprintf(buf, cap, "%.*s", SL_SLICE_FMT(f->value));
	return true;
}

static void deliver(tconn *c)
{
	tsrv *s = c->s;
	treq *q = &c->cur;
	size_t len = strlen(s->order);

	q->c = c;
	q->index = c->nreq++;
	q->seq = s->requests++;
	snprintf(s->order + len, sizeof s->order - len, "%s%s", len ? " " : "", q->target);
	if (q->body)
		q->body[q->body_len] = '\0';
	if (s->fn)
		s->fn(s, c, q);
	free(q->head);
	free(q->body);
	memset(q, 0, sizeof *q);
	c->in_body = false;
}

static void body_append(treq *q, const char *p, size_t n)
{
	q->body = realloc(q->body, q->body_len + n + 1);
	memcpy(q->body + q->body_len, p, n);
	q->body_len += n;
}

/* Parses what the buffer holds: request heads, bodies. Returns bytes used. */
static size_t parse_some(tconn *c)
{
	size_t off = 0;

	while (!c->closed && !c->ignore_input) {
		const char *p = c->in + off;
		size_t n = c->nin - off;

		if (!c->in_body) {
			sl_http_parser ps;
			sl_http_request rq;
			sl_field f[64];
			treq *q = &c->cur;
			int rc;

			sl_http_parser_init(&ps, NULL);
			rc = sl_http_parse_request(&ps, p, n, &rq, f, 64);
			if (rc == SL_E_AGAIN)
				break;
			if (rc < 0) {
				tconn_sendf(c, "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n");
				tconn_close_after(c);
				return c->nin;
			}
			memset(q, 0, sizeof *q);
			q->head = malloc((size_t)rc + 1);
			memcpy(q->head, p, (size_t)rc);
			q->head[rc] = '\0';
			q->head_len = (size_t)rc;
			snprintf(q->method, sizeof q->method, "%.*s", SL_SLICE_FMT(rq.method));
			snprintf(q->target, sizeof q->target, "%.*s", SL_SLICE_FMT(rq.target));
			q->nfields = rq.nfields;
			for (size_t i = 0; i < rq.nfields; i++) {
				q->fields[i].name = sl_slice_make(q->head + (f[i].name.p - p),
								  f[i].name.n);
				q->fields[i].value = sl_slice_make(q->head + (f[i].value.p - p),
								   f[i].value.n);
			}
			q->body = calloc(1, 1);
			q->expect = rq.expect_continue;
			off += (size_t)rc;
			c->chunked = rq.body == SL_BODY_CHUNKED;
			q->chunked = c->chunked;
			c->body_left = rq.body == SL_BODY_LENGTH ? rq.content_length : 0;
			c->in_body = c->chunked || c->body_left > 0;
			if (c->chunked)
				sl_chunked_init(&c->dec, NULL, false);
			if (q->expect && c->in_body) {
				if (c->s->expect_mode == EXPECT_SEND_100) {
					tconn_sendf(c, "HTTP/1.1 100 Continue\r\n\r\n");
				} else if (c->s->expect_mode == EXPECT_ANSWER_EARLY) {
					q->early = true;
					c->ignore_input = true;
					deliver(c);
					return c->nin;
				}
			}
			if (!c->in_body)
				deliver(c);
			continue;
		}
		if (c->chunked) {
			size_t used = 0;
			sl_chunk_out o;
			int rc = sl_chunked_decode(&c->dec, p, n, &used, &o);

			off += used;
			if (rc == SL_CHUNK_DATA)
				body_append(&c->cur, o.data.p, o.data.n);
			else if (rc == SL_CHUNK_DONE)
				deliver(c);
			else if (rc == SL_E_AGAIN)
				break;
			else if (rc < 0) {
				tconn_close_now(c);
				break;
			}
			continue;
		}
		if (n == 0)
			break;
		size_t k = n < c->body_left ? n : (size_t)c->body_left;
		body_append(&c->cur, p, k);
		off += k;
		c->body_left -= k;
		if (c->body_left == 0)
			deliver(c);
	}
	return off;
}

static void on_conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
	tconn *c = w->data;
	ssize_t r;
	size_t used;

	(void)loop;
	(void)revents;
	if (c->nin + 65536 > c->capin) {
		c->capin = c->nin + 65536;
		c->in = realloc(c->in, c->capin);
	}
	r = read(c->fd, c->in + c->nin, c->capin - c->nin);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		c->eof = true;
		c->s->eofs++;
		conn_shut(c);
		return;
	}
	c->nin += (size_t)r;
	used = parse_some(c);
	if (used > c->nin)
		used = c->nin;
	memmove(c->in, c->in + used, c->nin - used);
	c->nin -= used;
}

static void on_conn_write(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	flush_out(w->data);
}

static void conn_update(tconn *c)
{
	if (c->closed)
		return;
	if (c->offout < c->nout)
		ev_io_start(c->s->loop, &c->ww);
	else
		ev_io_stop(c->s->loop, &c->ww);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	tsrv *s = w->data;
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	tconn *c;

	(void)revents;
	if (fd < 0)
		return;
	cr_assert_lt(s->nconns, 128);
	c = calloc(1, sizeof *c);
	c->s = s;
	c->fd = fd;
	c->id = s->nconns;
	s->conns[s->nconns++] = c;
	s->accepted++;
	ev_io_init(&c->rw, on_conn_read, fd, EV_READ);
	c->rw.data = c;
	ev_io_init(&c->ww, on_conn_write, fd, EV_WRITE);
	c->ww.data = c;
	ev_io_start(loop, &c->rw);
}

tsrv *tsrv_new(struct ev_loop *loop, tsrv_fn fn)
{
	tsrv *s = calloc(1, sizeof *s);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;

	s->loop = loop;
	s->fn = fn;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(s->lfd, 0);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(s->lfd, 128), 0);
	cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	ev_io_init(&s->aw, on_accept, s->lfd, EV_READ);
	s->aw.data = s;
	ev_io_start(loop, &s->aw);
	return s;
}

void tsrv_free(tsrv *s)
{
	ev_io_stop(s->loop, &s->aw);
	close(s->lfd);
	for (int i = 0; i < s->nconns; i++) {
		tconn *c = s->conns[i];
		conn_shut(c);
		free(c->cur.head);
		free(c->cur.body);
		free(c->in);
		free(c->out);
		free(c);
	}
	free(s);
}

/* ---- the connector ---- */

struct sl_chain_req {
	struct ev_loop *loop;
	ev_io w;
	ev_timer t;
	int fd;
	int err;
	bool ready;
	bool fail_at_hop0;
	sl_chain_cb cb;
	void *arg;
};

static void finish_connect(struct sl_chain_req *r)
{
	sl_chain_cb cb = r->cb;
	void *arg = r->arg;
	sl_stream *s = NULL;
	int err = r->err;
	bool at_hop0 = r->fail_at_hop0;
	sl_chain_err e;

	ev_io_stop(r->loop, &r->w);
	ev_timer_stop(r->loop, &r->t);
	if (!err) {
		s = sl_stream_new(r->loop);
		cr_assert(s);
		cr_assert_eq(sl_stream_attach_fd(s, r->fd), 0);
	} else if (r->fd >= 0) {
		close(r->fd);
	}
	free(r);
	if (at_hop0)
		sl_chain_err_set(&e, err, 0, true);
	else
		sl_chain_err_set(&e, err, err ? g_net.fail_hop : -1, err ? g_net.fail_proxy : false);
	cb(s, &e, arg);
}

static void on_connect_ready(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sl_chain_req *r = w->data;
	int e = 0;
	socklen_t l = sizeof e;

	(void)revents;
	ev_io_stop(loop, &r->w);
	getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &e, &l);
	if (e)
		r->err = e == ECONNREFUSED ? SL_E_TARGET_REFUSED : -e;
	r->ready = true;
	if (g_net.hold) {
		g_net.held[g_net.nheld++] = r;
		return;
	}
	finish_connect(r);
}

static void on_connect_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	finish_connect(w->data);
}

sl_chain_req *test_connect(struct ev_loop *loop, const sl_route *route, const char *host,
			   uint16_t port, const sl_connect_opts *opts, sl_chain_cb cb, void *arg)
{
	struct sl_chain_req *r = calloc(1, sizeof *r);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	g_net.connects++;
	g_net.last_route_n = route ? route->n : 0;
	snprintf(g_net.last_host, sizeof g_net.last_host, "%s", host);
	g_net.last_port = port;
	g_net.last_timeout = opts->connect_timeout_ms;
	g_net.last_tls = opts->tls_target;
	r->loop = loop;
	r->cb = cb;
	r->arg = arg;
	r->fd = -1;
	ev_init(&r->w, on_connect_ready);
	r->w.data = r;
	ev_init(&r->t, on_connect_timer);
	r->t.data = r;
	g_net.last_to_last_hop = opts->to_last_hop;
	if (g_net.fail_port && port == g_net.fail_port) {
		r->err = SL_E_PROXY_REFUSED;
		r->fail_at_hop0 = true;
		ev_timer_set(&r->t, 0.0, 0.0);
		ev_timer_start(loop, &r->t);
		return r;
	}
	if (g_net.fail_err) {
		r->err = g_net.fail_err;
		ev_timer_set(&r->t, 0.0, 0.0);
		ev_timer_start(loop, &r->t);
		return r;
	}
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (connect(r->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
		r->err = errno == ECONNREFUSED ? SL_E_TARGET_REFUSED : -errno;
	ev_io_set(&r->w, r->fd, EV_WRITE);
	ev_io_start(loop, &r->w);
	return r;
}

void test_cancel(sl_chain_req *r)
{
	g_net.cancels++;
	for (int i = 0; i < g_net.nheld; i++)
		if (g_net.held[i] == r) {
			memmove(g_net.held + i, g_net.held + i + 1,
				(size_t)(g_net.nheld - i - 1) * sizeof r);
			g_net.nheld--;
			break;
		}
	ev_io_stop(r->loop, &r->w);
	ev_timer_stop(r->loop, &r->t);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

bool tnet_release(void)
{
	struct sl_chain_req *r;

	if (g_net.nheld == 0)
		return false;
	r = g_net.held[0];
	memmove(g_net.held, g_net.held + 1, (size_t)(g_net.nheld - 1) * sizeof r);
	g_net.nheld--;
	ev_timer_set(&r->t, 0.0, 0.0);
	ev_timer_start(r->loop, &r->t);
	return true;
}

/* ---- the recorder ---- */

static void rec_head(sl_reply *r, const sl_reply_head *h, void *arg)
{
	rec *rc = arg;
	const sl_field *ct = sl_headers_get(h->fields, h->nfields, "Content-Type");

	rc->r = r;
	rc->heads++;
	rc->status = h->status;
	rc->framing = h->framing;
	rc->clen = h->content_length;
	rc->keep_alive = h->keep_alive;
	if (ct)
		snprintf(rc->ctype, sizeof rc->ctype, "%.*s", SL_SLICE_FMT(ct->value));
}

static void rec_info(sl_reply *r, const sl_reply_head *h, void *arg)
{
	rec *rc = arg;

	(void)r;
	rc->infos++;
	rc->info_status = h->status;
}

static void rec_data(sl_reply *r, sl_slice d, void *arg)
{
	rec *rc = arg;
	sl_reply_stats st;

	rc->r = r;
	rc->datas++;
	if (rc->paused)
		rc->data_while_paused++;
	if (rc->nbody + d.n + 1 > rc->cap) {
		size_t cap = rc->cap ? rc->cap : 1024;
		while (cap < rc->nbody + d.n + 1)
			cap *= 2;
		rc->body = realloc(rc->body, cap);
		rc->cap = cap;
	}
	memcpy(rc->body + rc->nbody, d.p, d.n);
	rc->nbody += d.n;
	rc->body[rc->nbody] = '\0';
	sl_reply_get_stats(r, &st);
	if (st.buffered > rc->max_buffered)
		rc->max_buffered = st.buffered;
	if (rc->pause_on_first_data && rc->datas == 1) {
		sl_reply_pause(r);
		rc->paused = true;
	}
	if (rc->abort_on_first_data && rc->datas == 1)
		sl_reply_abort(r);
}

static void rec_trailer(sl_reply *r, const sl_field *f, void *arg)
{
	rec *rc = arg;

	(void)r;
	rc->trailers++;
	snprintf(rc->trailer, sizeof rc->trailer, "%.*s: %.*s", SL_SLICE_FMT(f->name),
		 SL_SLICE_FMT(f->value));
}

static void rec_drain(sl_reply *r, void *arg)
{
	rec *rc = arg;

	rc->drains++;
	if (rc->drain_hook)
		rc->drain_hook(rc, r);
}

static void rec_done(sl_reply *r, int err, void *arg)
{
	rec *rc = arg;

	rc->r = r;
	rc->dones++;
	rc->err = err;
	rc->done_seq = ++g_done_counter;
	if (rc->done_hook)
		rc->done_hook(rc, r, err);
	if (rc->unref_in_done)
		sl_reply_unref(r);
}

const sl_reply_cbs rec_cbs = {
	.on_head = rec_head,
	.on_data = rec_data,
	.on_done = rec_done,
	.on_info = rec_info,
	.on_trailer = rec_trailer,
	.on_drain = rec_drain,
};

void rec_free(rec *rc)
{
	free(rc->body);
	rc->body = NULL;
}

/* ---- the environment ---- */

void env_init(env *e, tsrv_fn fn)
{
	memset(e, 0, sizeof *e);
	memset(&g_net, 0, sizeof g_net);
	g_done_counter = 0;
	signal(SIGPIPE, SIG_IGN);
	e->loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert(e->loop);
	e->srv = tsrv_new(e->loop, fn);
	sl_manager_opts_init(&e->o);
	e->o.connect = test_connect;
	e->o.cancel = test_cancel;
}

void env_manager(env *e)
{
	e->m = sl_manager_new(e->loop, &e->o);
	cr_assert(e->m);
}

void env_fini(env *e)
{
	if (e->m)
		sl_manager_free(e->m);
	tsrv_free(e->srv);
	while (g_net.nheld)
		test_cancel(g_net.held[0]);
	ev_loop_destroy(e->loop);
}

const char *env_url(env *e, const char *path)
{
	char *b = e->urlbuf[e->urli++ % 4];

	snprintf(b, sizeof e->urlbuf[0], "http://127.0.0.1:%u%s", (unsigned)e->srv->port, path);
	return b;
}

sl_reply *env_get(env *e, const char *method, const char *path, rec *rc)
{
	sl_request rq;
	sl_reply *r = NULL;
	int err;

	sl_request_init(&rq, method, env_url(e, path));
	err = sl_manager_send(e->m, &rq, &rec_cbs, rc, &r);
	cr_assert_eq(err, 0, "send: %s", sl_strerror(err));
	rc->r = r;
	return r;
}

struct until {
	pred_fn pred;
	void *arg;
	bool met;
	bool timed_out;
};

static void on_check(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct until *u = w->data;

	(void)revents;
	if (u->pred && u->pred(u->arg)) {
		u->met = true;
		ev_break(loop, EVBREAK_ONE);
	}
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct until *u = w->data;

	(void)revents;
	u->timed_out = true;
	ev_break(loop, EVBREAK_ONE);
}

bool run_until(struct ev_loop *loop, pred_fn pred, void *arg, double timeout)
{
	struct until u = {pred, arg, false, false};
	ev_prepare chk;
	ev_timer guard;

	if (pred && pred(arg))
		return true;
	ev_prepare_init(&chk, on_check);
	chk.data = &u;
	ev_prepare_start(loop, &chk);
	ev_timer_init(&guard, on_guard, timeout, 0.0);
	guard.data = &u;
	ev_timer_start(loop, &guard);
	while (!u.met && !u.timed_out)
		ev_run(loop, 0);
	ev_prepare_stop(loop, &chk);
	ev_timer_stop(loop, &guard);
	return u.met || (pred && pred(arg));
}

void run_for(struct ev_loop *loop, double secs)
{
	run_until(loop, NULL, NULL, secs);
}

bool pred_done(void *p)
{
	return ((rec *)p)->dones > 0;
}

bool pred_data(void *p)
{
	return ((rec *)p)->datas > 0;
}

bool pred_no_channels(void *p)
{
	sl_manager_stats ms;

	sl_manager_get_stats(p, &ms);
	return ms.channels == 0 && ms.idle == 0;
}

bool pred_all_done(void *p)
{
	rec **v = p;

	for (; *v; v++)
		if ((*v)->dones == 0)
			return false;
	return true;
}
