/*
 * Fetches that fill the cache (see cache_internal.h): one upstream GET
 * through the worker's manager, for a miss, a stale entry to validate, or a
 * background revalidation. A fetch belongs to its worker, never to a
 * session, and runs through these states:
 *
 *   state  event                                             next
 *   -----  ------------------------------------------------  -----
 *   WAIT   head storable under the fill's key: fill_head()   FILL
 *   WAIT   head storable elsewhere (a new Vary) or no fill:  RELAY, or SINK
 *          a writer of its own                               without a client
 *   WAIT   head not storable                                 RELAY, or stop
 *   WAIT   304 selecting the stale entry: updated in place,  DRAIN
 *          the client answered from it
 *   WAIT   5xx or failure, stale-if-error allows: the stale  DRAIN, or stop
 *          entry answers the client
 *   FILL   body bytes appended; done: committed, or failed   end
 *          (readers cut)
 *   RELAY  body to the client (paused when its output is     end
 *          full) and to the writer; client gone: SINK with
 *          a writer, else stop
 *   SINK   body to the writer only                           end
 *
 * In FILL the fetch never pauses: it writes to the page cache as fast as
 * the upstream sends, and every client (the one that started it included)
 * reads the fill's file at its own pace. A fill whose upstream fails midway
 * stores nothing and its readers see a truncated response; a writer of its
 * own is simply dropped. The first fetch of a URL whose response carries
 * Vary cannot use the fill (its readers may want another variant): it
 * cancels the fill, whose readers go upstream on their own, and stores
 * through a writer of its own.
 *
 * A fetch is freed when its reply is done or it is stopped, and never
 * inside one of its own callbacks (a reference is held around each).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/err.h"
#include "core/log.h"
#include "server/cache_internal.h"

enum fmode {
	F_WAIT = 0,
	F_FILL,
	F_RELAY,
	F_SINK,
	F_DRAIN,
};

struct sl__cfetch {
	uint32_t magic;
	int refs;
	bool finished;
	enum fmode mode;
	struct sl__cworker *cw;
	struct sl__cfetch *prev, *next; /* the worker's list */
	sl_reply *up;
	sl_cache_fill *fill;
	sl_cache_writer *w;
	sl_cache_obj *stale;
	sl__creq *cr;                   /* the request answered directly, or NULL */
	sl_cache_fields req;            /* the request's fields */
	sl_cache_req creq;              /* the cache's view of them */
	char *url;
	char *key;                      /* SL_CACHE_KEY_MAX bytes */
	size_t key_len, plen;
	int64_t t_req;
	sl_msg_frame frame;             /* RELAY: the client's framing */
	bool paused;                    /* RELAY: the reply waits for the client */
};

static void on_head(sl_reply *r, const sl_reply_head *h, void *arg);
static void on_data(sl_reply *r, sl_slice d, void *arg);
static void on_done(sl_reply *r, int err, void *arg);

static const sl_reply_cbs fetch_cbs = {
	.on_head = on_head,
	.on_data = on_data,
	.on_done = on_done,
};

static void check(const struct sl__cfetch *f)
{
	assert(f && f->magic == SL__CFETCH_MAGIC);
	(void)f;
}

static void fref(struct sl__cfetch *f)
{
	f->refs++;
}

static void funref(struct sl__cfetch *f)
{
	assert(f->refs > 0);
	if (--f->refs)
		return;
	assert(f->finished);
	sl_cache_fields_free(&f->req);
	free(f->url);
	free(f->key);
	f->magic = 0;
	free(f);
}

static int64_t now_of(const struct sl__cfetch *f)
{
	return (int64_t)ev_now(f->cw->env->loop);
}

/* Breaks the link with the request answered directly. */
static sl__creq *unlink_cr(struct sl__cfetch *f)
{
	sl__creq *cr = f->cr;

	if (cr) {
		cr->fetch = NULL;
		f->cr = NULL;
	}
	return cr;
}

/* The request's own reader of the fill goes: the fetch answers it itself. */
static void take_reader(sl__creq *cr)
{
	if (cr && cr->rd) {
		sl_cache_reader_close(cr->rd);
		cr->rd = NULL;
	}
}

/*
 * Ends the fetch with err (0: the body is complete): the reply is aborted
 * when still running, the fill finished (committed, failed) or cancelled
 * when it has no head, the writer committed or aborted, the stale entry
 * released, and the fetch leaves the worker's list. Idempotent.
 */
static void finish(struct sl__cfetch *f, int err)
{
	struct sl__cworker *cw = f->cw;

	if (f->finished)
		return;
	f->finished = true;
	unlink_cr(f);
	if (f->up) {
		sl_reply_abort(f->up);
		sl_reply_unref(f->up);
		f->up = NULL;
	}
	if (f->fill) {
		if (f->mode == F_FILL)
			(void)sl_cache_fill_finish(f->fill, err, NULL);
		else
			sl_cache_fill_cancel(f->fill);
		f->fill = NULL;
	}
	if (f->w) {
		if (err == 0) {
			int rc = sl_cache_writer_commit(f->w, NULL);
			if (rc < 0)
				SL_DEBUG("cache: %s not stored: %s", f->url, sl_strerror(rc));
		} else {
			sl_cache_writer_abort(f->w);
		}
		f->w = NULL;
	}
	if (f->stale) {
		sl_cache_obj_release(f->stale);
		f->stale = NULL;
	}
	if (f->prev)
		f->prev->next = f->next;
	else
		cw->fetches = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
	cw->nfetches--;
	funref(f);   /* the worker's */
}

/* ---- starting ---- */

int sl__cfetch_start(const sl__cfetch_args *a)
{
	struct sl__cworker *cw = a->cw;
	sl_session_env *env = cw->env;
	struct sl__sctx *c = env->ctx;
	struct sl__cfetch *f = calloc(1, sizeof *f);
	sl_request r;
	size_t n, vlen;
	int rc;

	if (!f) {
		if (a->fill)
			sl_cache_fill_cancel(a->fill);
		if (a->stale)
			sl_cache_obj_release(a->stale);
		return SL_E_NOMEM;
	}
	f->magic = SL__CFETCH_MAGIC;
	f->refs = 1;
	f->cw = cw;
	f->fill = a->fill;
	f->stale = a->stale;
	f->next = cw->fetches;
	if (cw->fetches)
		cw->fetches->prev = f;
	cw->fetches = f;
	cw->nfetches++;
	if (a->cr) {
		f->cr = a->cr;
		a->cr->fetch = f;
	}
	f->url = strdup(a->url);
	f->key = malloc(SL_CACHE_KEY_MAX);
	if (!f->url || !f->key || a->key_len >= SL_CACHE_KEY_MAX ||
	    sl_cache_fields_set(&f->req, a->fields, a->nfields, 0) < 0) {
		finish(f, SL_E_NOMEM);
		return SL_E_NOMEM;
	}
	memcpy(f->key, a->key, a->key_len);
	f->key[a->key_len] = '\0';
	f->key_len = a->key_len;
	f->plen = a->plen;
	sl_cache_req_init(&f->creq, SL_METHOD_GET, f->req.v, f->req.n);

	/* The request as forward.c would send it, plus the stale entry's
	 * validators. */
	n = sl_msg_request_fields(f->req.v, f->req.n, c->fwd, c->nfwd - 4);
	vlen = sl_msg_via_value(f->req.v, f->req.n, c->received_by, c->head, c->head_cap);
	c->fwd[n].name = SL_SLICE_LIT("Via");
	c->fwd[n++].value = vlen ? sl_slice_make(c->head, vlen) : sl_slice_cstr(c->via);
	if (f->stale)
		n += sl_cache_validators(f->stale->fields, f->stale->nfields, &c->fwd[n]);
	sl_request_init(&r, "GET", f->url);
	r.headers = c->fwd;
	r.nheaders = n;
	r.flags = SL_REQ_NO_COOKIES | SL_REQ_NO_AUTH_CACHE;
	r.route = a->routes;
	r.nroutes = a->nroutes;
	f->t_req = now_of(f);
	rc = sl_manager_send(env->manager, &r, &fetch_cbs, f, &f->up);
	if (rc < 0) {
		f->up = NULL;
		finish(f, rc);
		return rc;
	}
	return 0;
}

/* ---- the client's side ---- */

/* The session of the request answered directly, with a reference, or NULL. */
static sl__session *session_of(struct sl__cfetch *f)
{
	if (!f->cr || !sl__session_alive(f->cr->s))
		return NULL;
	sl__session_ref(f->cr->s);
	return f->cr->s;
}

/* Answers the request directly from the stored object o (taken over). */
static void answer_from(struct sl__cfetch *f, sl_cache_obj *o, enum sl_cache_result res)
{
	sl__creq *cr = f->cr;
	sl__session *s = session_of(f);
	sl_cache_req req;

	if (!s) {
		sl_cache_obj_release(o);
		return;
	}
	unlink_cr(f);
	take_reader(cr);
	sl__cache_req_of(cr, s->txn->meth, &req);
	sl__cache_serve(s, &req, o, res);
	sl__session_unref(s);
}

/* Sends the request upstream again through forward.c. */
static void answer_replay(struct sl__cfetch *f)
{
	sl__creq *cr = f->cr;
	sl__session *s = session_of(f);

	if (!s)
		return;
	unlink_cr(f);
	sl__cache_replay(cr);
	sl__session_unref(s);
}

/* Answers the request with an error (nothing was sent yet): e and idx are
 * the failed reply's error detail and route index. */
static void answer_error(struct sl__cfetch *f, int err, const sl_reply_error *e, size_t idx)
{
	sl__creq *cr = f->cr;
	sl__session *s = session_of(f);

	if (!s)
		return;
	unlink_cr(f);
	take_reader(cr);
	sl__forward_fail(s, err, e, idx);
	sl__session_unref(s);
}

/* Starts relaying the response to the request's client. Returns false when
 * there is no client any more. */
static bool relay_head(struct sl__cfetch *f, sl_reply *r, const sl_reply_head *h)
{
	sl__creq *cr = f->cr;
	sl__session *s = session_of(f);
	struct sl__sctx *c;
	sl_msg_frame_in fi;
	const sl_field *ct;
	sl_addr peer;
	sl__txn *t;
	size_t n, len;

	if (!s)
		return false;
	take_reader(cr);
	c = sl__ctx(s);
	t = s->txn;
	fi.method = t->meth;
	fi.client_minor = t->minor;
	fi.client_keep_alive = t->keep_alive;
	fi.force_close = s->must_close || s->env->draining || s->client_eof;
	fi.status = h->status;
	fi.up_framing = h->framing;
	fi.content_length = h->content_length;
	sl_msg_frame_response(&fi, &f->frame);
	n = sl_msg_response_fields(h->fields, h->nfields, f->frame.keep_length, c->fwd,
				   c->nfwd - 1);
	c->fwd[n].name = SL_SLICE_LIT("X-Cache");
	c->fwd[n++].value = sl_slice_cstr(sl_cache_result_xcache(cr->result));
	len = sl_msg_response_head(c->head, c->head_cap, h->status, h->reason, c->fwd, n,
				   &f->frame, t->minor, c->received_by);
	if (len == 0) {
		unlink_cr(f);
		sl__session_fail(s, SL_E_HTTP_HEADERS_TOO_LARGE, SL_SIDE_UPSTREAM,
				 "the response head is too large");
		sl__session_unref(s);
		return false;
	}
	t->status = h->status;
	t->result = sl_cache_result_code(cr->result);
	t->direct = true;
	sl__txn_note_parent(t, r);
	if (sl_reply_peer(r, &peer))
		(void)sl_addr_format(&peer, t->peer, sizeof t->peer);
	if ((ct = sl_headers_get(h->fields, h->nfields, "Content-Type")))
		sl__txn_set_ctype(t, ct->value);
	if (!f->frame.keep_alive)
		s->must_close = true;
	if (sl__session_queue(s, c->head, len) < 0) {
		unlink_cr(f);
		sl__session_close(s, "out of memory");
		sl__session_unref(s);
		return false;
	}
	t->head_queued = true;
	f->mode = F_RELAY;
	sl__session_update_io(s);
	sl__session_unref(s);
	return true;
}

/* Body bytes to the client, as forward.c sends them. */
static void relay_data(struct sl__cfetch *f, sl_reply *r, sl_slice d)
{
	sl__session *s = session_of(f);
	int rc;

	if (!s)
		return;
	if (f->frame.framing == SL_BODY_NONE)
		goto out;
	rc = sl__session_send_body(s, f->frame.framing, d);
	if (rc < 0) {
		sl__session_close(s, rc == SL_E_NOMEM ? "out of memory" : "write to the client failed");
		goto out;
	}
	if (!f->paused && sl_outq_above_high(&s->out)) {
		f->paused = true;
		sl_reply_pause(r);
	}
	if (!sl_outq_below_low(&s->out) && sl__session_flush(s) < 0) {
		sl__session_close(s, "write to the client failed");
		goto out;
	}
	if (sl__session_alive(s))
		sl__session_update_io(s);
out:
	sl__session_unref(s);
}

/* The end of a relayed response: complete, or cut where it failed. */
static void relay_done(struct sl__cfetch *f, int err)
{
	sl__session *s = session_of(f);
	sl__txn *t;

	if (!s)
		return;
	unlink_cr(f);
	t = s->txn;
	if (err == 0) {
		if (f->frame.framing == SL_BODY_CHUNKED && sl__session_queue(s, "0\r\n\r\n", 5) < 0)
			sl__session_close(s, "out of memory");
		else
			sl__session_response_done(s);
		sl__session_unref(s);
		return;
	}
	t->truncated = true;
	snprintf(t->err, sizeof t->err, "upstream failed during the response: %s",
		 sl_strerror(err));
	if (s->env->stats)
		s->env->stats->errors++;
	s->must_close = true;
	if (f->frame.framing == SL_BODY_CLOSE)
		s->abort_rst = true;
	sl__session_response_done(s);
	sl__session_unref(s);
}

void sl__cfetch_detach(struct sl__cfetch *f)
{
	check(f);
	f->cr = NULL;
	if (f->mode != F_RELAY || f->finished)
		return;
	if (!f->w) {
		finish(f, SL_E_CANCELED);
		return;
	}
	/* The client left: the object is still worth having. */
	f->mode = F_SINK;
	if (f->paused && f->up) {
		f->paused = false;
		sl_reply_resume(f->up);
	}
}

void sl__cfetch_wrote(struct sl__cfetch *f)
{
	check(f);
	if (f->paused && f->up && f->cr && sl_outq_below_low(&f->cr->s->out)) {
		f->paused = false;
		sl_reply_resume(f->up);
	}
}

void sl__cfetch_stop_all(struct sl__cworker *cw)
{
	while (cw->fetches)
		finish(cw->fetches, SL_E_CANCELED);
}

/* ---- the response ---- */

/* A 304 for the stale entry: update it in place and answer from it. */
static void revalidated(struct sl__cfetch *f, const sl_reply_head *h, int64_t t_resp)
{
	struct sl__cworker *cw = f->cw;
	sl_cache_obj *o = NULL;
	int rc;

	f->mode = F_DRAIN;
	rc = sl_cache_revalidated(cw->cache, &cw->pc, &f->creq, f->stale, h->fields, h->nfields,
				  f->t_req, t_resp, cw->sf, SL__CACHE_FIELDS, &o);
	if (f->fill) {
		/* Readers look again and find the updated entry. */
		sl_cache_fill_cancel(f->fill);
		f->fill = NULL;
	}
	if (rc < 0) {
		/* It does not select what we hold: ask again without validators. */
		SL_DEBUG("cache: a 304 for %s does not match the stored response", f->url);
		answer_replay(f);
		return;
	}
	answer_from(f, o, SL_CACHE_RESULT_REVALIDATED);
}

/* Whether the stale entry may answer because the upstream failed. */
static bool stale_on_error(struct sl__cfetch *f, int status)
{
	if (!f->stale || (status && status != 500 && status != 502 && status != 503 &&
			  status != 504))
		return false;
	return sl_cache_stale_on_error(&f->creq, &f->stale->meta, now_of(f));
}

/* Begins storing the response: the fill when it stores under the fill's
 * key, else a writer of our own. Returns true when the fill took it. */
static bool store_begin(struct sl__cfetch *f, const sl_reply_head *h, int64_t t_resp)
{
	struct sl__cworker *cw = f->cw;
	uint64_t len = h->framing == SL_BODY_LENGTH ? h->content_length
		     : h->framing == SL_BODY_NONE  ? 0
						   : UINT64_MAX;
	sl_cache_plan p;
	int rc;

	/* The plan writes its key into the worker's scratch (no lookup runs
	 * during a callback), so the fill's key stays for the comparison. */
	memcpy(cw->key, f->key, f->plen);
	rc = sl_cache_plan_store(cw->cache, &cw->pc, &f->creq, h->status, h->fields, h->nfields,
				 f->t_req, t_resp, len, cw->key, f->plen, SL_CACHE_KEY_MAX, cw->sf,
				 SL__CACHE_FIELDS, &p);
	if (rc < 0) {
		if (rc != SL_E_CACHE_NOT_STORABLE)
			SL_DEBUG("cache: %s not stored: %s", f->url, sl_strerror(rc));
		else
			SL_DEBUG("cache: %s not stored: %s", f->url,
				 sl_cache_store_verdict_name(p.verdict));
		return false;
	}
	if (f->fill && p.key_len == f->key_len && memcmp(cw->key, f->key, p.key_len) == 0) {
		rc = sl_cache_fill_head(f->fill, &p.meta, cw->sf, p.nfields);
		if (rc == 0) {
			f->mode = F_FILL;
			return true;
		}
		/* The fill is over for its readers (they go upstream themselves);
		 * ending it is still ours. */
		take_reader(f->cr);
		sl_cache_fill_cancel(f->fill);
		f->fill = NULL;
		SL_DEBUG("cache: %s not stored: %s", f->url, sl_strerror(rc));
		return false;
	}
	if (f->fill) {
		take_reader(f->cr);
		sl_cache_fill_cancel(f->fill);
		f->fill = NULL;
	}
	rc = sl_cache_writer_open(cw->cache, sl_slice_make(cw->key, p.key_len), &p.meta, cw->sf,
				  p.nfields, &f->w);
	if (rc < 0) {
		f->w = NULL;
		SL_DEBUG("cache: %s not stored: %s", f->url, sl_strerror(rc));
	}
	return false;
}

static void on_head(sl_reply *r, const sl_reply_head *h, void *arg)
{
	struct sl__cfetch *f = arg;
	int64_t t_resp = now_of(f);

	check(f);
	fref(f);
	if (f->stale && h->status == 304) {
		revalidated(f, h, t_resp);
		goto out;
	}
	if (stale_on_error(f, h->status)) {
		sl_cache_obj *o = sl_cache_obj_ref(f->stale);

		f->mode = F_DRAIN;
		answer_from(f, o, SL_CACHE_RESULT_STALE_ERROR);
		finish(f, SL_E_CANCELED);
		goto out;
	}
	if (store_begin(f, h, t_resp)) {
		/* The request that started us reads the fill like the others. */
		sl__session *s = session_of(f);
		sl_addr peer;

		if (s) {
			s->txn->direct = true;
			sl__txn_note_parent(s->txn, r);
			if (sl_reply_peer(r, &peer))
				(void)sl_addr_format(&peer, s->txn->peer, sizeof s->txn->peer);
			sl__session_unref(s);
		}
		unlink_cr(f);
		goto out;
	}
	if (f->fill) {
		take_reader(f->cr);
		sl_cache_fill_cancel(f->fill);
		f->fill = NULL;
	}
	if (relay_head(f, r, h))
		goto out;
	if (f->w)
		f->mode = F_SINK;
	else
		finish(f, SL_E_CANCELED);
out:
	funref(f);
}

static void on_data(sl_reply *r, sl_slice d, void *arg)
{
	struct sl__cfetch *f = arg;
	int rc;

	check(f);
	if (f->finished)
		return;
	fref(f);
	switch (f->mode) {
	case F_FILL:
		rc = sl_cache_fill_append(f->fill, d.p, d.n);
		if (rc < 0) {
			SL_DEBUG("cache: filling %s failed: %s", f->url, sl_strerror(rc));
			finish(f, rc);
		}
		break;
	case F_RELAY:
	case F_SINK:
		if (f->w && (rc = sl_cache_writer_append(f->w, d.p, d.n)) < 0) {
			SL_DEBUG("cache: %s not stored: %s", f->url, sl_strerror(rc));
			sl_cache_writer_abort(f->w);
			f->w = NULL;
		}
		if (f->mode == F_RELAY)
			relay_data(f, r, d);
		else if (!f->w)
			finish(f, SL_E_CANCELED);
		break;
	default:
		break;
	}
	funref(f);
}

static void on_done(sl_reply *r, int err, void *arg)
{
	struct sl__cfetch *f = arg;
	sl_reply_error ue;
	size_t uidx;

	check(f);
	fref(f);
	assert(f->up == r);
	sl_reply_get_error(r, &ue);
	uidx = sl_reply_route_index(r);
	f->up = NULL;
	sl_reply_unref(r);
	switch (f->mode) {
	case F_WAIT:
		/* No head: the upstream failed. */
		if (f->fill) {
			sl_cache_fill_cancel(f->fill);
			f->fill = NULL;
		}
		if (stale_on_error(f, 0))
			answer_from(f, sl_cache_obj_ref(f->stale), SL_CACHE_RESULT_STALE_ERROR);
		else
			answer_error(f, err ? err : SL_E_EOF, &ue, uidx);
		break;
	case F_RELAY:
		relay_done(f, err);
		break;
	default:
		break;
	}
	finish(f, err);
	funref(f);
}
