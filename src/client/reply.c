/*
 * Replies (see reply.h): the pool that recycles them with their buffers,
 * reference counting, the one exit sl__reply_finish(), the guarded calls
 * into the caller's callbacks, the public controls (pause, resume, abort,
 * pushed bodies) and the authentication and cookie decisions taken on a
 * final response head. Invariants: a reply is in at most one of a
 * connection's queue and a channel's in-flight list (r->qprev/qnext serve
 * both); while not done it is on the manager's active list and holds the
 * manager's reference; on_done runs at most once and never after an abort;
 * no function here calls back except sl__reply_finish() and the emitters,
 * which only run from the loop.
 */
#include "client/reply.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/channel_internal.h"
#include "client/connection_internal.h"
#include "client/proxy_auth.h"
#include "client/reply_internal.h"
#include "core/err.h"

#define POOL_MAGIC 0x52504f4fu /* "RPOO": in the pool */

static void check(const sl_reply *r)
{
	assert(r && r->magic == SL__REPLY_MAGIC);
	(void)r;
}

/* ---- life ---- */

static void active_link(sl_manager *m, sl_reply *r)
{
	r->mprev = NULL;
	r->mnext = m->active;
	if (m->active)
		m->active->mprev = r;
	m->active = r;
	m->nactive++;
}

static void active_unlink(sl_manager *m, sl_reply *r)
{
	if (r->mprev)
		r->mprev->mnext = r->mnext;
	else
		m->active = r->mnext;
	if (r->mnext)
		r->mnext->mprev = r->mprev;
	r->mprev = r->mnext = NULL;
	m->nactive--;
}

/* Clears everything but the buffers a recycled reply keeps. */
static void reset(sl_reply *r)
{
	char *store = r->store, *head = r->head, *alt_buf = r->alt_buf;
	size_t store_cap = r->store_cap, head_cap = r->head_cap, alt_cap = r->alt_cap;
	struct sl__reply_auth *auth = r->auth;
	struct sl__reply_pauth *pauth = r->pauth;
	sl_outq bq = r->bq;

	memset(r, 0, sizeof *r);
	r->store = store;
	r->store_cap = store_cap;
	r->head = head;
	r->head_cap = head_cap;
	r->alt_buf = alt_buf;
	r->alt_cap = alt_cap;
	r->auth = auth;
	r->pauth = pauth;
	r->bq = bq;
	r->fd = -1;
	r->err_hop = -1;
	r->t_first = r->t_done = -1;
}

static void destroy(sl_reply *r)
{
	sl__reply_drop_routes(r);
	sl_outq_free(&r->bq);
	free(r->store);
	free(r->head);
	if (r->auth) {
		sl_auth_digest_clear(&r->auth->st);
		free(r->auth);
	}
	if (r->pauth) {
		sl_auth_digest_clear(&r->pauth->st);
		free(r->pauth);
	}
	free(r->alt_buf);
	r->magic = 0;
	free(r);
}

sl_reply *sl__reply_new(sl_manager *m)
{
	sl_reply *r = m->pool;

	if (r) {
		assert(r->magic == POOL_MAGIC);
		m->pool = r->mnext;
		m->npool--;
	} else {
		r = calloc(1, sizeof *r);
		if (!r)
			return NULL;
		sl_outq_init(&r->bq, 0);
	}
	reset(r);
	r->magic = SL__REPLY_MAGIC;
	r->refs = 2;    /* the caller's and the manager's */
	r->state = SL__R_NEW;
	r->m = m;
	active_link(m, r);
	return r;
}

/* Returns a reply whose references are gone to the pool, or frees it. */
static void release(sl_reply *r)
{
	sl_manager *m = r->m;

	assert(r->state == SL__R_DONE);
	sl__reply_drop_routes(r);
	sl_outq_clear(&r->bq);
	if (r->fd >= 0)
		sl__scheme_file_cancel(r);
	sl__mcache_free(r);
	if (m && !m->freeing && m->npool < SL__POOL_REPLIES) {
		r->magic = POOL_MAGIC;
		r->state = SL__R_FREE;
		r->mnext = m->pool;
		m->pool = r;
		m->npool++;
		return;
	}
	destroy(r);
}

void sl_reply_ref(sl_reply *r)
{
	check(r);
	r->refs++;
}

void sl_reply_unref(sl_reply *r)
{
	check(r);
	assert(r->refs > 0);
	if (--r->refs == 0)
		release(r);
}

void sl__reply_set_error(sl_reply *r, int err, bool proxy, int hop, enum sl_reply_phase ph)
{
	if (r->err || err >= 0)
		return;
	r->err = err;
	r->err_proxy = proxy;
	r->err_hop = hop;
	r->phase = ph;
}

void sl__reply_set_chain_error(sl_reply *r, const sl_chain_err *e)
{
	if (r->err || e->code >= 0)
		return;
	sl__reply_set_error(r, e->code, e->proxy, e->hop, SL_PHASE_CONNECT);
	r->err_status = e->status;
	snprintf(r->err_line, sizeof r->err_line, "%s", e->status_line);
	snprintf(r->err_scheme, sizeof r->err_scheme, "%s", e->scheme);
}

void sl__reply_finish(sl_reply *r, int err)
{
	sl_manager *m = r->m;

	check(r);
	if (r->done)
		return;
	assert(!r->ch && r->state != SL__R_QUEUED);
	r->done = true;
	r->state = SL__R_DONE;
	if (err < 0)
		sl__reply_set_error(r, err, false, -1,
				    r->phase ? r->phase
					     : r->head_done ? SL_PHASE_RECEIVE : SL_PHASE_WAIT);
	sl__task_cancel(&r->task);
	r->t_done = m ? ev_now(m->loop) : -1;
	r->conn = NULL;
	if (m)
		active_unlink(m, r);
	if (!r->aborted && r->cb.on_done)
		r->cb.on_done(r, r->err ? r->err : err, r->arg);
	if (m && m->freeing)
		r->m = NULL;
	sl_reply_unref(r);  /* the manager's */
}

/* ---- calls into the caller ---- */

void sl__reply_emit_head(sl_reply *r, const sl_reply_head *h)
{
	if (r->aborted || r->done || !r->cb.on_head)
		return;
	sl_reply_ref(r);
	r->cb.on_head(r, h, r->arg);
	sl_reply_unref(r);
}

void sl__reply_emit_info(sl_reply *r, const sl_reply_head *h)
{
	if (r->aborted || r->done || !r->cb.on_info)
		return;
	sl_reply_ref(r);
	r->cb.on_info(r, h, r->arg);
	sl_reply_unref(r);
}

void sl__reply_emit_data(sl_reply *r, sl_slice data)
{
	r->body_bytes += data.n;
	if (r->aborted || r->done || !r->cb.on_data || data.n == 0)
		return;
	sl_reply_ref(r);
	r->cb.on_data(r, data, r->arg);
	sl_reply_unref(r);
}

void sl__reply_emit_trailer(sl_reply *r, const sl_field *f)
{
	if (r->aborted || r->done || !r->cb.on_trailer)
		return;
	sl_reply_ref(r);
	r->cb.on_trailer(r, f, r->arg);
	sl_reply_unref(r);
}

void sl__reply_emit_drain(sl_reply *r)
{
	if (r->aborted || r->done || !r->cb.on_drain)
		return;
	sl_reply_ref(r);
	r->cb.on_drain(r, r->arg);
	sl_reply_unref(r);
}

/* ---- attempts ---- */

bool sl__reply_replayable(const sl_reply *r)
{
	return r->body.kind == SL_BODY_SRC_NONE || r->body.kind == SL_BODY_SRC_MEM ||
	       r->body.kind == SL_BODY_SRC_FILE;
}

bool sl__reply_can_retry(const sl_reply *r)
{
	return !r->retried && !r->aborted && !(r->flags & SL_REQ_NO_RETRY) && r->reused &&
	       !r->got_byte && sl__reply_replayable(r) &&
	       sl_method_idempotent(r->method.p, r->method.n);
}

void sl__reply_reset_attempt(sl_reply *r)
{
	r->head_len = r->head_off = 0;
	r->status = 0;
	r->got_byte = r->head_done = r->swallow = r->sent = false;
	r->body_abandoned = r->continue_ok = false;
	r->body_loaded = false;
	if (sl__reply_replayable(r))
		sl_outq_clear(&r->bq);
}

bool sl__reply_body_sent(const sl_reply *r)
{
	if (!sl_outq_empty(&r->bq))
		return false;
	switch (r->body.kind) {
	case SL_BODY_SRC_NONE:
		return true;
	case SL_BODY_SRC_MEM:
	case SL_BODY_SRC_FILE:
		return r->body_loaded;
	case SL_BODY_SRC_PUSH:
		return r->body_ended ||
		       (r->body.length >= 0 && r->body_in == (uint64_t)r->body.length);
	case SL_BODY_SRC_PULL:
		return r->body_ended;
	}
	return true;
}

bool sl__reply_request_sent(const sl_reply *r)
{
	return r->head_len > 0 && r->head_off == r->head_len &&
	       (r->body_abandoned || sl__reply_body_sent(r));
}

/* ---- authentication and cookies on a final head ---- */

static struct sl__reply_auth *auth_state(sl_reply *r)
{
	if (!r->auth)
		r->auth = calloc(1, sizeof *r->auth);
	return r->auth;
}

/* A challenge arrived and the request has credentials: answer it. */
static bool answer(sl_reply *r, const sl_http_response *res)
{
	sl_auth_challenge ch;
	struct sl__reply_auth *a;

	if (sl_auth_select(res->fields, res->nfields, "WWW-Authenticate", &ch) < 0)
		return false;
	if (ch.scheme != SL_AUTH_BASIC && ch.scheme != SL_AUTH_DIGEST)
		return false;
	if (!(a = auth_state(r)))
		return false;
	if (ch.scheme == SL_AUTH_DIGEST && sl_auth_digest_init(&a->st, &ch, NULL, NULL) < 0)
		return false;
	a->scheme = ch.scheme;
	memcpy(a->realm, ch.realm, sizeof a->realm);
	r->auth_answered = true;
	r->auth_rounds++;
	return true;
}

bool sl__reply_auth_on_head(sl_reply *r, const sl_http_response *res)
{
	sl_manager *m = r->m;
	const sl_field *f = res->fields;
	size_t n = res->nfields;

	if (m->o.cookie_jar && !(r->flags & SL_REQ_NO_COOKIES))
		sl_cookie_jar_set_from_response(m->o.cookie_jar, &r->url, f, n,
						(time_t)ev_now(m->loop));
	if (r->has_authz)
		return false;
	if (res->status != 401) {
		if (r->auth_answered) {
			sl_auth_cred cred = {r->user, r->pass};
			bool digest = r->auth->scheme == SL_AUTH_DIGEST;

			if (digest)
				sl_auth_digest_info(&r->auth->st, f, n, "Authentication-Info",
						    r->target);
			sl_auth_cache_store(m->auth, r->hostz, r->url.port, r->target,
					    r->auth->realm, r->auth->scheme, &cred,
					    digest ? &r->auth->st : NULL);
		} else if (r->auth_preempt) {
			sl_auth_cache_info(m->auth, r->hostz, r->url.port, r->target, f, n,
					   "Authentication-Info", r->target);
		}
		return false;
	}
	if (!sl__reply_replayable(r))
		return false;
	if (r->auth_answered) {
		/* Our own answer was refused: only a stale nonce earns a retry. */
		if (r->auth->scheme == SL_AUTH_DIGEST && r->stale_rounds < 2 &&
		    sl_auth_digest_refresh(&r->auth->st, f, n, "WWW-Authenticate") == 0) {
			r->stale_rounds++;
			return true;
		}
		return false;
	}
	if (r->auth_preempt) {
		if (r->stale_rounds < 2 &&
		    sl_auth_cache_refresh(m->auth, r->hostz, r->url.port, r->target, f, n,
					  "WWW-Authenticate") == 0) {
			r->stale_rounds++;
			return true;
		}
		sl_auth_cache_forget(m->auth, r->hostz, r->url.port, r->target);
	}
	return r->has_cred && answer(r, res);
}

/* ---- a forwarding proxy's 407 ---- */

static struct sl__reply_pauth *pauth_state(sl_reply *r)
{
	if (!r->pauth)
		r->pauth = calloc(1, sizeof *r->pauth);
	return r->pauth;
}

/* Records why a forwarding proxy's 407 ends r (after its body is read). */
static bool fail_407(sl_reply *r, int err, int index, const sl_http_response *res,
		     enum sl_auth_scheme scheme)
{
	int n;

	r->swallow_err = err;
	sl__reply_set_error(r, err, true, index, SL_PHASE_CONNECT);
	r->err_status = res->status;
	n = snprintf(r->err_line, sizeof r->err_line, "%d %.*s", res->status,
		     (int)(res->reason.n > 40 ? 40 : res->reason.n),
		     res->reason.p ? res->reason.p : "");
	for (int i = 0; i < n && r->err_line[i]; i++)
		if ((unsigned char)r->err_line[i] < 0x20 || r->err_line[i] == 0x7f)
			r->err_line[i] = '?';
	snprintf(r->err_scheme, sizeof r->err_scheme, "%s", sl_auth_scheme_name(scheme));
	return true;
}

/* The hop's credentials, for one call. */
static sl_auth_cred hop_cred(const sl_hop *hop)
{
	sl_auth_cred cr = {sl_slice_cstr(hop->user),
			   sl_slice_cstr(hop->password ? hop->password : "")};

	return cr;
}

int sl__reply_put_proxy_auth(sl_reply *r, const sl_hop *hop, char *out, size_t cap)
{
	struct sl_proxy_auth *pa = r->m->pauth;
	int n = 0;

	r->pauth_preempt = false;
	if (!hop->user)
		return 0;
	if (r->pauth_answered && r->pauth) {
		sl_auth_cred cr = hop_cred(hop);

		if (r->pauth->digest)
			n = sl_auth_digest_respond(&r->pauth->st, &cr, r->method, r->abs_target, out,
						   cap);
		else
			n = sl_auth_basic(&cr, out, cap);
	} else if (pa && pa->preempt) {
		n = pa->preempt(pa, hop, r->method.p, r->abs_target.p, out, cap);
		r->pauth_preempt = n > 0;
	}
	return n > 0 && (size_t)n < cap ? n : 0;
}

bool sl__reply_proxy_auth_on_head(sl_reply *r, const sl_http_response *res, const sl_hop *hop,
				  int index)
{
	struct sl_proxy_auth *pa = r->m->pauth;
	const sl_field *f = res->fields;
	size_t n = res->nfields;
	struct sl__reply_pauth *a;
	sl_auth_challenge ch;
	int sel;

	if (res->status != 407) {
		if (r->pauth_answered && r->pauth && pa && pa->learned) {
			a = r->pauth;
			if (!a->digest || sl_auth_digest_info(&a->st, f, n, "Proxy-Authentication-Info",
							      r->abs_target) != SL_E_AUTH_RSPAUTH)
				pa->learned(pa, hop, &a->ch, a->digest ? &a->st : NULL);
		} else if (r->pauth_preempt && pa) {
			sl_proxy_auth_info(pa, hop, f, n, r->abs_target.p);
		}
		return false;
	}
	sel = sl_auth_select(f, n, "Proxy-Authenticate", &ch);
	if (sel == SL_E_AUTH_NO_CHALLENGE || sel == SL_E_AUTH_SYNTAX)
		return fail_407(r, SL_E_PROXY_PROTOCOL, index, res, SL_AUTH_NONE);
	if (!hop->user)
		return fail_407(r, SL_E_PROXY_AUTH_REQUIRED, index, res, ch.scheme);
	if (r->pauth_answered) {
		/* Our own answer was refused: only a stale nonce earns a retry. */
		if (r->pauth && r->pauth->digest && r->pstale_rounds < 2 &&
		    sl__reply_replayable(r) &&
		    sl_auth_digest_refresh(&r->pauth->st, f, n, "Proxy-Authenticate") == 0) {
			r->pstale_rounds++;
			return true;
		}
		return fail_407(r, SL_E_PROXY_AUTH, index, res, ch.scheme);
	}
	if (r->pauth_preempt && pa) {
		/* Stale, or the proxy forgot us (a restart): the entry goes unless
		 * its nonce is merely stale. */
		if (sl_proxy_auth_refresh(pa, hop, f, n) == 0 && r->pstale_rounds < 2 &&
		    sl__reply_replayable(r)) {
			r->pstale_rounds++;
			return true;
		}
	}
	if (sel < 0)
		return fail_407(r, SL_E_PROXY_AUTH_REQUIRED, index, res, ch.scheme);
	if (!(a = pauth_state(r)))
		return fail_407(r, SL_E_NOMEM, index, res, ch.scheme);
	a->ch = ch;
	a->ch.scheme_name = sl_slice_cstr(sl_auth_scheme_name(ch.scheme));
	a->ch.token68 = SL_SLICE_NULL;
	a->ch.domain = SL_SLICE_NULL;
	a->digest = ch.scheme == SL_AUTH_DIGEST;
	if (a->digest && sl_auth_digest_init(&a->st, &ch, NULL, NULL) < 0)
		return fail_407(r, SL_E_PROXY_AUTH, index, res, ch.scheme);
	if (!sl__reply_replayable(r)) {
		/* This body is gone; the next request carries the answer at once
		 * (a wrong password shows there). */
		if (pa && pa->learned)
			pa->learned(pa, hop, &a->ch, a->digest ? &a->st : NULL);
		return fail_407(r, SL_E_PROXY_AUTH_BODY, index, res, ch.scheme);
	}
	r->pauth_answered = true;
	return true;
}

/* ---- public ---- */

void sl_reply_pause(sl_reply *r)
{
	check(r);
	if (r->done || r->paused)
		return;
	r->paused = true;
	if (r->ch)
		sl__channel_update(r->ch, r);
}

void sl_reply_resume(sl_reply *r)
{
	check(r);
	if (r->done || !r->paused)
		return;
	r->paused = false;
	if (r->ch)
		sl__channel_update(r->ch, r);
	else if (r->state == SL__R_LOCAL && r->scheme->resume)
		r->scheme->resume(r);
}

void sl_reply_abort(sl_reply *r)
{
	bool detached = true;

	check(r);
	if (r->done || r->aborted)
		return;
	r->aborted = true;
	sl__reply_set_error(r, SL_E_CANCELED, false, -1, r->phase);
	switch (r->state) {
	case SL__R_QUEUED: {
		sl__conn *c = r->conn;
		sl__conn_dequeue(c, r);
		sl__conn_release_if_empty(c);
		break;
	}
	case SL__R_BOUND:
		detached = sl__channel_abort(r->ch, r);
		break;
	case SL__R_LOCAL:
		if (r->scheme->cancel)
			r->scheme->cancel(r);
		break;
	default:
		break;
	}
	if (detached)
		sl__reply_finish(r, SL_E_CANCELED);
}

ssize_t sl_reply_write(sl_reply *r, const void *p, size_t n)
{
	char line[24];
	int rc = 0, k;

	check(r);
	if (r->body.kind != SL_BODY_SRC_PUSH || r->body_ended)
		return SL_E_INVAL;
	if (r->done || r->body_abandoned)
		return SL_E_CANCELED;
	if (r->body.length >= 0 && r->body_in + n > (uint64_t)r->body.length)
		return SL_E_INVAL;
	if (n == 0)
		return 0;
	if (sl_outq_above_high(&r->bq)) {
		r->want_drain = true;
		return SL_E_AGAIN;
	}
	if (r->body.length < 0) {
		k = snprintf(line, sizeof line, "%zx\r\n", n);
		rc = sl_outq_push(&r->bq, line, (size_t)k);
	}
	if (rc == 0)
		rc = sl_outq_push(&r->bq, p, n);
	if (rc == 0 && r->body.length < 0)
		rc = sl_outq_push(&r->bq, "\r\n", 2);
	if (rc < 0)
		return rc;
	r->body_in += n;
	if (sl_outq_above_high(&r->bq))
		r->want_drain = true;
	if (r->ch)
		sl__channel_body_more(r->ch, r);
	return (ssize_t)n;
}

int sl_reply_write_end(sl_reply *r)
{
	check(r);
	if (r->body.kind != SL_BODY_SRC_PUSH || r->body_ended)
		return SL_E_INVAL;
	if (r->done || r->body_abandoned)
		return SL_E_CANCELED;
	if (r->body.length >= 0 && r->body_in != (uint64_t)r->body.length)
		return SL_E_INVAL;
	if (r->body.length < 0 && sl_outq_push(&r->bq, "0\r\n\r\n", 5) < 0)
		return SL_E_NOMEM;
	r->body_ended = true;
	if (r->ch)
		sl__channel_body_more(r->ch, r);
	return 0;
}

void sl_reply_body_ready(sl_reply *r)
{
	check(r);
	if (r->done || r->body.kind != SL_BODY_SRC_PULL)
		return;
	r->pull_wait = false;
	if (r->ch)
		sl__channel_body_more(r->ch, r);
}

int sl_reply_status(const sl_reply *r)
{
	check(r);
	return r->head_done ? r->status : 0;
}

bool sl_reply_finished(const sl_reply *r)
{
	check(r);
	return r->done || r->aborted;
}

const sl_url *sl_reply_url(const sl_reply *r)
{
	check(r);
	return &r->url;
}

sl_slice sl_reply_request_head(const sl_reply *r)
{
	const sl_reply *in = sl__mcache_inner(r);

	check(r);
	if (in)
		return sl_reply_request_head(in);
	return sl_slice_make(r->head_len ? r->head : NULL, r->head_len);
}

bool sl_reply_peer(const sl_reply *r, sl_addr *out)
{
	const sl_reply *in = sl__mcache_inner(r);

	check(r);
	if (in)
		return sl_reply_peer(in, out);
	if (!r->ch || !r->ch->s || !r->ch->s->has_peer)
		return false;
	*out = r->ch->s->peer;
	return true;
}

bool sl_reply_from_cache(const sl_reply *r)
{
	check(r);
	return sl__mcache_from_cache(r);
}

void sl_reply_get_stats(const sl_reply *r, sl_reply_stats *out)
{
	check(r);
	memset(out, 0, sizeof *out);
	out->bytes_sent = r->bytes_sent;
	out->bytes_received = r->bytes_received;
	out->body_bytes = r->body_bytes;
	out->reused = r->reused;
	out->retried = r->retried;
	out->auth_rounds = r->auth_rounds;
	out->ttfb = r->t_first >= 0 ? r->t_first - r->t_start : -1;
	out->total = r->t_done >= 0 ? r->t_done - r->t_start : -1;
	out->buffer_cap = r->m ? r->m->o.read_buffer_max : 0;
	if (r->ch)
		out->buffered = sl__channel_buffered(r->ch, &out->buffer_cap);
}

void sl_reply_get_error(const sl_reply *r, sl_reply_error *out)
{
	check(r);
	memset(out, 0, sizeof *out);
	out->code = r->err;
	out->proxy = r->err_proxy;
	out->hop = r->err_hop;
	out->phase = r->err ? r->phase : SL_PHASE_NONE;
	if (r->err && r->err_status) {
		out->status = r->err_status;
		snprintf(out->status_line, sizeof out->status_line, "%s", r->err_line);
		snprintf(out->scheme, sizeof out->scheme, "%s", r->err_scheme);
	}
}

size_t sl_reply_route_index(const sl_reply *r)
{
	check(r);
	return r->alt_idx;
}

bool sl_reply_forwarded(const sl_reply *r)
{
	check(r);
	return r->fwd;
}

const char *sl_reply_phase_name(enum sl_reply_phase p)
{
	switch (p) {
	case SL_PHASE_NONE:
		return "none";
	case SL_PHASE_CONNECT:
		return "connect";
	case SL_PHASE_SEND:
		return "send";
	case SL_PHASE_WAIT:
		return "wait";
	case SL_PHASE_RECEIVE:
		return "receive";
	case SL_PHASE_LOCAL:
		return "local";
	}
	return "?";
}
