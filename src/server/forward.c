/*
 * Forwarding: an absolute-form http:// or https:// request goes through the
 * worker's client stack (its connection cache, channel limits, TLS
 * verification), never following redirects. The request's fields lose
 * their hop-by-hop members and gain Via; its body (Content-Length or
 * chunked) is decoded here and pushed upstream as it arrives, the client
 * being read only while the upstream takes more (on_drain). The response
 * comes back head, data, done; the head is rewritten (hop-by-hop fields
 * out, Via in, framing chosen by message.c) and everything is queued on
 * the session's output, the upstream reply being paused above the output's
 * high watermark and resumed below its low one, so a slow client never
 * makes the proxy hold more than about two buffers of a response.
 *
 * Expect: 100-continue is answered here: the proxy sends "100 Continue"
 * itself as soon as the request is handed to the client stack and no body
 * byte has arrived yet, and does not forward the expectation (the client
 * stack streams the body as it comes). A response that fails after its head
 * went out is cut visibly: a chunked body never gets its last chunk, a
 * Content-Length body ends short, a close-delimited body ends with a reset.
 *
 * Also here: the manager's connector, which gives every upstream connect
 * its own destination check (acl.h) with the connect's port, and notes the
 * reason of a refusal so the 403 can name it.
 */
#include <assert.h>
#include <stdio.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/log.h"
#include "server/cache_internal.h"
#include "server/session.h"
#include "server/health.h"
#include "server/session_internal.h"

static void on_head(sl_reply *r, const sl_reply_head *h, void *arg);
static void on_data(sl_reply *r, sl_slice d, void *arg);
static void on_done(sl_reply *r, int err, void *arg);
static void on_drain(sl_reply *r, void *arg);

static const sl_reply_cbs reply_cbs = {
	.on_head = on_head,
	.on_data = on_data,
	.on_done = on_done,
	.on_drain = on_drain,
};

/* ---- refusals ---- */

/* Copies a string, cut to fit. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void sl__deny_note(struct sl__sctx *c, const char *host, uint16_t port, const char *why)
{
	struct sl__deny *d = &c->deny[c->deny_next++ % SL__DENY_SLOTS];

	copy_cut(d->host, sizeof d->host, host);
	d->port = port;
	copy_cut(d->why, sizeof d->why, why);
}

const char *sl__deny_find(struct sl__sctx *c, const char *host, uint16_t port)
{
	for (unsigned i = 0; i < SL__DENY_SLOTS; i++) {
		/* Newest first. */
		struct sl__deny *d = &c->deny[(c->deny_next - 1 - i) % SL__DENY_SLOTS];
		if (d->port == port && d->host[0] && strcmp(d->host, host) == 0)
			return d->why;
	}
	return NULL;
}

/* ---- the connector ---- */

#define FWD_CONN_MAGIC 0x46434f4eu /* "FCON" */

/* One upstream connect of the manager. The manager sees it as an opaque
 * sl_chain_req handle: it only ever passes the pointer back to
 * sl_forward_connect_cancel(), which converts it back. */
struct fwd_conn {
	uint32_t magic;
	sl_chain_req *req;
	sl_chain_cb cb;
	void *arg;
	sl_session_env *env;
	sl_snap_hold *snap;      /* keeps the configuration dest points into */
	sl_acl_dest dest;
	char host[256];
};

static void on_conn(sl_stream *st, const sl_chain_err *e, void *arg)
{
	struct fwd_conn *fc = arg;
	sl_chain_cb cb = fc->cb;
	void *cb_arg = fc->arg;

	assert(fc->magic == FWD_CONN_MAGIC);
	if (e->code == SL_E_TARGET_DENIED && fc->dest.why[0]) {
		SL_DEBUG("refused %s:%u: %s", fc->host, fc->dest.port, fc->dest.why);
		sl__deny_note(fc->env->ctx, fc->host, fc->dest.port, fc->dest.why);
	}
	sl_snap_drop(fc->env, fc->snap);
	fc->magic = 0;
	free(fc);
	cb(st, e, cb_arg);
}

sl_chain_req *sl_forward_connect(struct ev_loop *loop, const sl_route *route, const char *host,
				 uint16_t port, const sl_connect_opts *opts, sl_chain_cb cb,
				 void *arg)
{
	sl_session_env *env = opts->check_arg;
	struct fwd_conn *fc = calloc(1, sizeof *fc);
	sl_connect_opts o = *opts;

	if (!fc)
		return NULL;
	fc->magic = FWD_CONN_MAGIC;
	fc->cb = cb;
	fc->arg = arg;
	fc->env = env;
	/* The worker's newest configuration decides where connects may go. */
	fc->snap = sl_snap_take(env);
	fc->dest.cfg = fc->snap->cfg;
	fc->dest.own = fc->snap->own_addrs;
	fc->dest.own_ports = fc->snap->own_ports;
	fc->dest.n_own = fc->snap->n_own;
	fc->dest.port = port;
	copy_cut(fc->host, sizeof fc->host, host);
	o.check_addr = sl_acl_check_dest;
	o.check_arg = &fc->dest;
	fc->req = sl_chain_connect(loop, route, host, port, &o, on_conn, fc);
	if (!fc->req) {
		sl_snap_drop(env, fc->snap);
		free(fc);
		return NULL;
	}
	return (sl_chain_req *)(void *)fc;
}

void sl_forward_connect_cancel(sl_chain_req *r)
{
	struct fwd_conn *fc = (struct fwd_conn *)(void *)r;

	assert(fc->magic == FWD_CONN_MAGIC);
	sl_chain_cancel(fc->req);
	sl_snap_drop(fc->env, fc->snap);
	fc->magic = 0;
	free(fc);
}

/* ---- the request ---- */

/* The local answers to OPTIONS and TRACE with Max-Forwards: 0. */
static void answer_max_forwards(sl__session *s, const sl_http_request *rq)
{
	struct sl__sctx *c = sl__ctx(s);
	size_t n;

	s->txn->result = "NONE";
	if (rq->meth == SL_METHOD_OPTIONS) {
		sl__session_answer(s, 200, "text/plain; charset=utf-8", "", 0,
				   "Allow: " SL_MSG_ALLOW "\r\n", false);
		return;
	}
	n = sl_msg_trace_body(rq, c->head, c->head_cap);
	if (n == 0) {
		sl__session_fail(s, SL_E_HTTP_HEADERS_TOO_LARGE, SL_SIDE_CLIENT, NULL);
		return;
	}
	sl__session_answer(s, 200, "message/http", c->head, n, NULL, false);
}

void sl__deny_by_rule(sl__session *s, const sl_route_plan *p)
{
	char detail[160];

	if (p->rule)
		snprintf(detail, sizeof detail, "denied by route rule \"%s\" (routes[%d])",
			 p->rule_name, p->rule_index);
	else
		snprintf(detail, sizeof detail, "no route rule matches this request");
	sl__session_fail(s, SL_E_TARGET_DENIED, SL_SIDE_CLIENT, detail);
}

void sl__plan_request(sl__session *s, const sl_url *u, bool https)
{
	sl_session_env *env = s->env;
	sl_route_plan *p = &env->ctx->plan;
	sl__txn *t = s->txn;
	sl_route_req rr = {.host = u->host.p, .host_len = u->host.n, .port = u->port,
			   .https = https, .method = t->method};

	sl_route_plan_make(sl__cfg(s), &rr, env->health, env->health ? sl_health_now_ms() : 0, p);
	sl_route_plan_use_tls(p, s->snap->upstream_tls);
	t->nvias = (uint8_t)p->n;
	memcpy(t->vias, p->via, p->n * sizeof *p->via);
	t->parent_hier = p->hier;
}

void sl__plan_routes(sl__session *s, const sl_route **routes, size_t *n)
{
	const sl_route_plan *p = &sl__ctx(s)->plan;

	*routes = NULL;
	*n = 0;
	if (p->n > 1 || (p->n == 1 && p->routes[0].n)) {
		*routes = p->routes;
		*n = p->n;
	}
}

/* The route of a forwarded request into the worker's plan. Returns 0, or
 * a negative code when the request was answered (denied). */
static int plan_route(sl__session *s, const sl_url *u)
{
	sl__plan_request(s, u, sl_slice_case_eq_cstr(u->scheme, "https"));
	if (sl__ctx(s)->plan.deny) {
		sl__deny_by_rule(s, &sl__ctx(s)->plan);
		return SL_E_TARGET_DENIED;
	}
	return 0;
}

void sl__forward_start(sl__session *s, const sl_http_request *rq, const sl_url *u)
{
	sl_session_env *env = s->env;
	struct sl__sctx *c = env->ctx;
	sl__txn *t = s->txn;
	const char *url = rq->target.p;
	size_t ulen = rq->target.n, n, vlen;
	char mfv[24];
	int64_t mf = -1;
	sl_request r;
	sl_url pu;
	int rc;

	if (u->has_userinfo) {
		/* Credentials in the URL are neither forwarded nor logged. */
		sl_url v = *u;
		v.has_userinfo = false;
		v.userinfo = SL_SLICE_NULL;
		rc = sl_url_format(&v, c->head, c->head_cap);
		if (rc > 0) {
			url = c->head;
			ulen = (size_t)rc;
		}
	}
	if (sl__txn_set_strings(t, rq->method, url, ulen, u->host.p, u->host.n) < 0) {
		sl__session_close(s, "out of memory");
		return;
	}
	t->port = u->port;
	if (!sl_acl_client_allowed(sl__cfg(s), s->peer_unix ? NULL : &s->peer)) {
		sl__session_deny_client(s);
		return;
	}
	if (sl_msg_via_has(rq->fields, rq->nfields,
			   sl_slice_make(c->received_by, c->received_by_len))) {
		char body[256];
		int k = snprintf(body, sizeof body,
				 "forwarding loop detected: the request already went through %.*s\n",
				 (int)c->received_by_len, c->received_by);
		snprintf(t->err, sizeof t->err, "forwarding loop (Via)");
		if (env->stats)
			env->stats->errors++;
		sl__session_answer(s, 508, "text/plain; charset=utf-8", body, (size_t)k, NULL,
				   false);
		return;
	}
	if (rq->meth == SL_METHOD_OPTIONS || rq->meth == SL_METHOD_TRACE) {
		mf = sl_msg_max_forwards(rq->fields, rq->nfields);
		if (mf == 0) {
			answer_max_forwards(s, rq);
			return;
		}
	}
	/* The route rules first: a request they refuse gets no cached answer
	 * either, and a cache fill takes the route they give. */
	if (plan_route(s, u) < 0)
		return;
	if (c->cw && sl__cache_start(s, rq, u))
		return;
	n = sl_msg_request_fields(rq->fields, rq->nfields, c->fwd, c->nfwd - 2);
	vlen = sl_msg_via_value(rq->fields, rq->nfields, c->received_by, c->head, c->head_cap);
	c->fwd[n].name = SL_SLICE_LIT("Via");
	c->fwd[n++].value = vlen ? sl_slice_make(c->head, vlen) : sl_slice_cstr(c->via);
	if (mf > 0) {
		int k = snprintf(mfv, sizeof mfv, "%lld", (long long)(mf - 1));
		c->fwd[n].name = SL_SLICE_LIT("Max-Forwards");
		c->fwd[n++].value = sl_slice_make(mfv, (size_t)k);
	}
	sl_request_init(&r, t->method, t->url);
	if (url == rq->target.p) {
		/* t->url is a copy of the target u was parsed from. */
		pu = *u;
		sl_url_rebase(&pu, rq->target.p, t->url);
		r.parsed = &pu;
	}
	r.headers = c->fwd;
	r.nheaders = n;
	sl__plan_routes(s, &r.route, &r.nroutes);
	r.flags = SL_REQ_NO_COOKIES | SL_REQ_NO_AUTH_CACHE;
	if (!t->body_done) {
		sl_request_body_push(&r, t->req_body == SL_BODY_LENGTH ? (int64_t)t->body_left : -1);
		if (t->req_body == SL_BODY_CHUNKED)
			sl_chunked_init(&t->chunked, &c->limits, false);
	}
	rc = sl_manager_send(env->manager, &r, &reply_cbs, s, &t->up);
	if (rc < 0) {
		t->up = NULL;
		sl__session_fail(s, rc, SL_SIDE_CLIENT, NULL);
		return;
	}
	t->result = "TCP_MISS";
	if (!t->body_done) {
		s->state = SS_READ_BODY;
		if (t->expect_continue && s->vn == 0) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			if (sl__session_queue(s, cont, sizeof cont - 1) < 0 ||
			    sl__session_flush(s) < 0) {
				sl__session_close(s, "write to the client failed");
				return;
			}
		}
	} else {
		s->state = SS_WRITE_RESPONSE;
	}
	s->last_activity = ev_now(env->loop);
	sl__session_timer(s, ST_ACTIVITY, sl__cfg(s)->timeouts.client_idle_ms);
}

/* The body's bytes have all gone upstream. */
static int body_complete(sl__session *s)
{
	sl__txn *t = s->txn;

	if (t->up && !t->body_discard) {
		int rc = sl_reply_write_end(t->up);
		if (rc < 0 && rc != SL_E_CANCELED) {
			sl__session_close(s, "forwarding the request body failed");
			return rc;
		}
	}
	t->body_done = true;
	s->state = SS_WRITE_RESPONSE;
	return 0;
}

int sl__forward_body(sl__session *s)
{
	sl__txn *t = s->txn;

	for (;;) {
		if (t->pending) {
			size_t n = t->pending;

			if (!t->body_discard && t->up) {
				ssize_t w = sl_reply_write(t->up, s->vp, n);
				if (w == SL_E_AGAIN) {
					t->wait_drain = true;
					return SL_E_AGAIN;
				}
				if (w == SL_E_CANCELED) {
					t->body_discard = true;
				} else if (w < 0) {
					sl__session_close(s, "forwarding the request body failed");
					return (int)w;
				}
			}
			sl__session_consume(s, n);
			t->bytes_in += n;
			t->pending = 0;
		}
		if (t->body_end)
			return body_complete(s);
		if (s->vn == 0)
			return SL_E_AGAIN;
		if (t->req_body == SL_BODY_LENGTH) {
			t->pending = s->vn < t->body_left ? s->vn : (size_t)t->body_left;
			t->body_left -= t->pending;
			if (t->body_left == 0)
				t->body_end = true;
			continue;
		}
		/* Chunked: decode in place, the data stays at the front. */
		size_t used = 0;
		sl_chunk_out o;
		int r = sl_chunked_decode(&t->chunked, s->vp, s->vn, &used, &o);

		if (r == SL_CHUNK_DATA) {
			size_t framing = used - o.data.n;
			assert(o.data.p == s->vp + framing);
			sl__session_consume(s, framing);
			t->bytes_in += framing;
			t->pending = o.data.n;
		} else if (r == SL_CHUNK_TRAILER) {
			sl__session_consume(s, used);
			t->bytes_in += used;
		} else if (r == SL_CHUNK_DONE) {
			sl__session_consume(s, used);
			t->bytes_in += used;
			t->body_end = true;
		} else if (r == SL_E_AGAIN) {
			sl__session_consume(s, used);
			t->bytes_in += used;
			return SL_E_AGAIN;
		} else {
			snprintf(t->err, sizeof t->err, "bad chunked request body: %s",
				 sl_strerror(r));
			if (t->head_queued) {
				sl__session_close(s, NULL);
			} else {
				s->must_close = true;
				sl__session_fail(s, r, SL_SIDE_CLIENT, NULL);
			}
			return r;
		}
	}
}

void sl__forward_abort(sl__session *s)
{
	sl__txn *t = s->txn;

	if (t && t->cache)
		sl__cache_abort(s);
	if (!t || !t->up)
		return;
	sl_reply_abort(t->up);
	sl_reply_unref(t->up);
	t->up = NULL;
}

void sl__forward_wrote(sl__session *s)
{
	sl__txn *t = s->txn;

	if (t && t->cache)
		sl__cache_wrote(s);
	if (t && t->paused && t->up && sl_outq_below_low(&s->out)) {
		t->paused = false;
		sl_reply_resume(t->up);
	}
}

/* ---- the response ---- */

void sl__txn_note_parent(sl__txn *t, const sl_reply *r)
{
	size_t i = sl_reply_route_index(r);

	t->parent = i < t->nvias && sl_plan_via_hops(&t->vias[i]) ? t->vias[i].name : NULL;
}

void sl__forward_fail(sl__session *s, int err, const sl_reply_error *e, size_t idx)
{
	sl__txn *t = s->txn;
	const char *why = NULL;
	char detail[320], through[96] = "";

	t->parent = idx < t->nvias && sl_plan_via_hops(&t->vias[idx]) ? t->vias[idx].name : NULL;
	t->direct = t->parent != NULL;
	if (e && e->proxy && idx < t->nvias) {
		sl_plan_error_text(&t->vias[idx], e->hop, err, e->status, e->status_line, e->scheme,
				   detail, sizeof detail);
		sl__session_fail(s, err, SL_SIDE_PROXY, detail);
		return;
	}
	if (err == SL_E_TARGET_DENIED)
		why = sl__deny_find(sl__ctx(s), t->host, t->port);
	if (t->parent)
		snprintf(through, sizeof through, " (through %s)", t->parent);
	if (why)
		snprintf(detail, sizeof detail, "%s", why);
	else
		snprintf(detail, sizeof detail, "%s:%u: %s%s", t->host, t->port, sl_strerror(err),
			 through);
	sl__session_fail(s, err, SL_SIDE_UPSTREAM, detail);
}

static void on_head(sl_reply *r, const sl_reply_head *h, void *arg)
{
	sl__session *s = arg;
	sl_session_env *env = s->env;
	struct sl__sctx *c = env->ctx;
	sl__txn *t = s->txn;
	sl_msg_frame_in fi;
	const sl_field *ct;
	sl_addr peer;
	size_t n, len;

	sl__session_ref(s);
	fi.method = t->meth;
	fi.client_minor = t->minor;
	fi.client_keep_alive = t->keep_alive;
	fi.force_close = s->must_close || env->draining || !t->body_done || s->client_eof;
	fi.status = h->status;
	fi.up_framing = h->framing;
	fi.content_length = h->content_length;
	sl_msg_frame_response(&fi, &t->frame);
	n = sl_msg_response_fields(h->fields, h->nfields, t->frame.keep_length, c->fwd, c->nfwd);
	if (c->cw)
		n = sl__cache_forward_head(s, h, c->fwd, n, c->nfwd);
	len = sl_msg_response_head(c->head, c->head_cap, h->status, h->reason, c->fwd, n,
				   &t->frame, t->minor, c->received_by);
	if (len == 0) {
		sl__forward_abort(s);
		sl__session_fail(s, SL_E_HTTP_HEADERS_TOO_LARGE, SL_SIDE_UPSTREAM,
				 "the response head is too large");
		goto out;
	}
	t->status = h->status;
	t->direct = true;
	sl__txn_note_parent(t, r);
	if (sl_reply_peer(r, &peer))
		(void)sl_addr_format(&peer, t->peer, sizeof t->peer);
	if ((ct = sl_headers_get(h->fields, h->nfields, "Content-Type")))
		sl__txn_set_ctype(t, ct->value);
	if (!t->frame.keep_alive)
		s->must_close = true;
	if (sl__session_queue(s, c->head, len) < 0) {
		sl__session_close(s, "out of memory");
		goto out;
	}
	t->head_queued = true;
	sl__session_update_io(s);
out:
	sl__session_unref(s);
}

static void on_data(sl_reply *r, sl_slice d, void *arg)
{
	sl__session *s = arg;
	sl__txn *t = s->txn;
	int rc = 0;

	sl__session_ref(s);
	if (!t || !t->head_queued || t->frame.framing == SL_BODY_NONE)
		goto out;
	rc = sl__session_send_body(s, t->frame.framing, d);
	if (rc < 0) {
		sl__session_close(s, rc == SL_E_NOMEM ? "out of memory" : "write to the client failed");
		goto out;
	}
	if (!t->paused && sl_outq_above_high(&s->out)) {
		t->paused = true;
		sl_reply_pause(r);
	}
	if (!sl_outq_below_low(&s->out)) {
		if (sl__session_flush(s) < 0) {
			sl__session_close(s, "write to the client failed");
			goto out;
		}
	}
	sl__session_update_io(s);
out:
	sl__session_unref(s);
}

static void on_done(sl_reply *r, int err, void *arg)
{
	sl__session *s = arg;
	sl__txn *t = s->txn;
	sl_reply_error ue;
	size_t uidx;

	sl__session_ref(s);
	assert(t && t->up == r);
	sl_reply_get_error(r, &ue);
	uidx = sl_reply_route_index(r);
	t->up = NULL;
	sl_reply_unref(r);
	if (err == 0) {
		if (t->frame.framing == SL_BODY_CHUNKED &&
		    sl__session_queue(s, "0\r\n\r\n", 5) < 0) {
			sl__session_close(s, "out of memory");
			goto out;
		}
		sl__session_response_done(s);
		goto out;
	}
	if (!t->head_queued) {
		sl__forward_fail(s, err, &ue, uidx);
		goto out;
	}
	/* The head is out: the client must see the body end early. */
	t->truncated = true;
	snprintf(t->err, sizeof t->err, "upstream failed during the response: %s",
		 sl_strerror(err));
	if (s->env->stats)
		s->env->stats->errors++;
	s->must_close = true;
	if (t->frame.framing == SL_BODY_CLOSE)
		s->abort_rst = true;
	sl__session_response_done(s);
out:
	sl__session_unref(s);
}

static void on_drain(sl_reply *r, void *arg)
{
	sl__session *s = arg;
	sl__txn *t = s->txn;

	(void)r;
	if (!t || !t->wait_drain)
		return;
	t->wait_drain = false;
	if (s->state == SS_READ_BODY)
		sl__session_kick(s);
}
