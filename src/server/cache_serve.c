/*
 * What a session does with the cache (see cache_internal.h): for each GET or
 * HEAD it looks the request up and answers a hit at once, builds the head
 * from the stored fields (Age, X-Cache, Via and framing added) into the
 * session's output and queues the body without copying it: a reference to
 * the memory tier's bytes, a file range sent with sendfile(2), or for large
 * bodies a mapping of the file sent with writev(2) (cache_map.c), each
 * holding a reference on the object until its last byte is out. A miss or a
 * stale entry joins the fill of the request already fetching the key, or
 * starts a fetch (cache_fetch.c) and reads its own fill like any other
 * reader: the head once the fill has it, then the body from the fill's
 * file up to what is written, pushed again whenever the client's output
 * drains. A fill that fails midway cuts the response; one that stored
 * nothing sends the request upstream through forward.c ("replay").
 *
 * A plain hit takes nothing from the pools: no sl__creq, no copy of the
 * request, only the output queue's own recycled segments.
 *
 * Also here: PURGE (admin.allow clients) and /__sluice/cache.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "server/admin.h"
#include "server/cache_internal.h"

static void on_reader(sl_cache_reader *rd, void *arg);

/* ---- the worker's state ---- */

int sl__cache_worker_init(sl_session_env *env)
{
	struct sl__cworker *cw;

	if (!env->cache)
		return 0;
	cw = calloc(1, sizeof *cw);
	if (!cw)
		return SL_E_NOMEM;
	cw->magic = SL__CWORKER_MAGIC;
	cw->env = env;
	cw->cache = env->cache;
	cw->pc.shared = true;
	cw->pc.heuristic_max = (int64_t)(env->cfg->cache.heuristic_max_ms / 1000);
	cw->collapse = env->cfg->cache.collapsed_forwarding;
	cw->max_object_size = env->cfg->cache.max_object_size;
	cw->key = malloc(SL_CACHE_KEY_MAX);
	cw->sf = calloc(SL__CACHE_FIELDS, sizeof *cw->sf);
	env->ctx->cw = cw;
	if (!cw->key || !cw->sf)
		return SL_E_NOMEM;
	return 0;
}

void sl__cache_worker_stop(sl_session_env *env)
{
	struct sl__cworker *cw = env->ctx ? env->ctx->cw : NULL;

	if (cw)
		sl__cfetch_stop_all(cw);
}

void sl__cache_worker_free(sl_session_env *env)
{
	struct sl__cworker *cw = env->ctx ? env->ctx->cw : NULL;

	if (!cw)
		return;
	assert(cw->magic == SL__CWORKER_MAGIC);
	sl__cfetch_stop_all(cw);
	while (cw->free_c) {
		sl__creq *cr = cw->free_c;

		cw->free_c = cr->next;
		sl_cache_fields_free(&cr->req);
		free(cr->line);
		free(cr);
	}
	sl__cache_map_free_all(cw);
	free(cw->key);
	free(cw->sf);
	cw->magic = 0;
	free(cw);
	env->ctx->cw = NULL;
}

/* ---- the request's cache state ---- */

static sl__creq *creq_get(sl__session *s)
{
	struct sl__cworker *cw = sl__ctx(s)->cw;
	sl__creq *cr = cw->free_c;
	sl_cache_fields keep;
	char *line = NULL;
	size_t line_cap = 0;

	memset(&keep, 0, sizeof keep);
	if (cr) {
		cw->free_c = cr->next;
		cw->nfree_c--;
		keep = cr->req;
		line = cr->line;
		line_cap = cr->line_cap;
	} else if (!(cr = malloc(sizeof *cr))) {
		return NULL;
	}
	memset(cr, 0, sizeof *cr);
	cr->magic = SL__CREQ_MAGIC;
	cr->req = keep;
	cr->line = line;
	cr->line_cap = line_cap;
	cr->s = s;
	cr->result = SL_CACHE_RESULT_MISS;
	s->txn->cache = cr;
	return cr;
}

static void creq_put(struct sl__cworker *cw, sl__creq *cr)
{
	cr->magic = 0;
	cr->s = NULL;
	if (cw->nfree_c < SL__POOL_CREQS && cr->line_cap <= SL__TXN_STR_KEEP) {
		cr->next = cw->free_c;
		cw->free_c = cr;
		cw->nfree_c++;
		return;
	}
	sl_cache_fields_free(&cr->req);
	free(cr->line);
	free(cr);
}

/* Copies the request (fields, method, URL) so it can be replayed later. */
static int creq_copy(sl__creq *cr, const sl_http_request *rq)
{
	sl__txn *t = cr->s->txn;
	size_t ml = strlen(t->method), ul = strlen(t->url), need = ml + ul + 2;

	if (need > cr->line_cap) {
		char *p = realloc(cr->line, need);
		if (!p)
			return SL_E_NOMEM;
		cr->line = p;
		cr->line_cap = need;
	}
	memcpy(cr->line, t->method, ml + 1);
	memcpy(cr->line + ml + 1, t->url, ul + 1);
	cr->mlen = ml;
	cr->ulen = ul;
	return sl_cache_fields_set(&cr->req, rq->fields, rq->nfields, 0);
}

void sl__cache_req_of(const sl__creq *cr, enum sl_http_method m, sl_cache_req *out)
{
	sl_cache_req_init(out, m, cr->req.v, cr->req.n);
}

/* ---- heads of stored responses ---- */

static const char *reason(int status)
{
	switch (status) {
	case 203: return "Non-Authoritative Information";
	case 300: return "Multiple Choices";
	case 410: return "Gone";
	case 416: return "Range Not Satisfiable";
	case 451: return "Unavailable For Legal Reasons";
	}
	return sl_http_reason(status);
}

static int64_t now_s(const sl__session *s)
{
	return (int64_t)ev_now(s->env->loop);
}

/* The framing of a cached answer: Content-Length (len) unless chunked or
 * close-delimited is asked for; keeps the connection when it can. */
static void frame_of(sl__session *s, enum sl_http_body framing, uint64_t len,
		     sl_msg_frame *fr)
{
	sl__txn *t = s->txn;

	memset(fr, 0, sizeof *fr);
	fr->framing = framing;
	fr->content_length = len;
	fr->keep_alive = t->keep_alive && !s->must_close && !s->env->draining &&
			 !s->client_eof && framing != SL_BODY_CLOSE;
}

/* Writes v in decimal into out (at least 21 bytes); returns the length.
 * (snprintf costs more than the rest of a hit's head.) */
static int fmt_u64(char *out, uint64_t v)
{
	char tmp[20];
	int n = 0, k = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		out[k++] = tmp[--n];
	out[k] = '\0';
	return k;
}

/*
 * Queues the head of a stored response: status, the stored fields without
 * framing, hop-by-hop, Age and X-Cache ones (and, when strip is the object
 * being served without validation, without those its no-cache="..." names),
 * then Age, X-Cache, an extra field (Content-Range) when xname is set, the
 * framing of fr, Via and Connection. Records status, content type and result in the transaction.
 * Returns 0 or a negative code (the caller answers or closes).
 */
static int queue_head(sl__session *s, int status, const sl_field *f, size_t n,
		      const sl_cache_meta *m, enum sl_cache_result r, const sl_msg_frame *fr,
		      const char *xname, const char *xval, const sl_cache_obj *strip)
{
	struct sl__sctx *c = sl__ctx(s);
	sl__txn *t = s->txn;
	const sl_field *ct;
	char age[24];
	size_t k = 0, len;
	int an;

	/* Stored fields are free of hop-by-hop ones already (policy's
	 * sl_cache_store_fields); framing, Age and X-Cache are written here. */
	for (size_t i = 0; i < n && k < c->nfwd - 4; i++) {
		sl_slice nm = f[i].name;
		if (sl_slice_case_eq_cstr(nm, "X-Cache") || sl_slice_case_eq_cstr(nm, "Age") ||
		    sl_slice_case_eq_cstr(nm, "Content-Length") ||
		    sl_slice_case_eq_cstr(nm, "Transfer-Encoding") ||
		    sl_slice_case_eq_cstr(nm, "Connection") ||
		    sl_slice_case_eq_cstr(nm, "Keep-Alive"))
			continue;
		if (strip && !sl_cache_field_served(strip, &f[i]))
			continue;
		c->fwd[k++] = f[i];
	}
	an = fmt_u64(age, (uint64_t)sl_cache_current_age(m, now_s(s)));
	c->fwd[k].name = SL_SLICE_LIT("Age");
	c->fwd[k++].value = sl_slice_make(age, (size_t)an);
	c->fwd[k].name = SL_SLICE_LIT("X-Cache");
	c->fwd[k++].value = sl_slice_cstr(sl_cache_result_xcache(r));
	if (xname) {
		c->fwd[k].name = sl_slice_cstr(xname);
		c->fwd[k++].value = sl_slice_cstr(xval);
	}
	len = sl_msg_response_head(c->head, c->head_cap, status, sl_slice_cstr(reason(status)),
				   c->fwd, k, fr, t->minor, c->received_by);
	if (len == 0)
		return SL_E_HTTP_HEADERS_TOO_LARGE;
	if ((ct = sl_headers_get(f, n, "Content-Type")))
		sl__txn_set_ctype(t, ct->value);
	t->status = status;
	t->result = sl_cache_result_code(r);
	if (!fr->keep_alive)
		s->must_close = true;
	if (sl__session_queue(s, c->head, len) < 0)
		return SL_E_NOMEM;
	t->head_queued = true;
	return 0;
}

/* ---- hits ---- */

static void obj_release(void *ctx)
{
	sl_cache_obj_release(ctx);
}

void sl__cache_serve(sl__session *s, const sl_cache_req *req, sl_cache_obj *o,
		     enum sl_cache_result r)
{
	sl__txn *t = s->txn;
	int status = o->meta.status;
	uint64_t len = o->meta.body_len, first = 0, last = 0, blen = len;
	const char *xname = NULL;
	char crange[64];
	sl_msg_frame fr;
	int rc;

	if (r == SL_CACHE_RESULT_HIT && o->body)
		r = SL_CACHE_RESULT_MEM_HIT;
	if (req->conditional &&
	    sl_cache_client_cond(req, o->fields, o->nfields) == SL_CACHE_COND_NOT_MODIFIED) {
		status = 304;
		blen = 0;
		if (r == SL_CACHE_RESULT_HIT || r == SL_CACHE_RESULT_MEM_HIT)
			r = SL_CACHE_RESULT_IMS_HIT;
	} else if (req->range && t->meth == SL_METHOD_GET && status == 200) {
		switch (sl_cache_range(req, o->fields, o->nfields, len, &first, &last)) {
		case SL_CACHE_RANGE_SINGLE:
			status = 206;
			blen = last - first + 1;
			snprintf(crange, sizeof crange, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first,
				 last, len);
			xname = "Content-Range";
			break;
		case SL_CACHE_RANGE_UNSATISFIABLE:
			status = 416;
			blen = 0;
			snprintf(crange, sizeof crange, "bytes */%" PRIu64, len);
			xname = "Content-Range";
			break;
		default:
			break;
		}
	}
	frame_of(s, status == 304 ? SL_BODY_NONE : SL_BODY_LENGTH, blen, &fr);
	/* Served without validation: the no-cache="..." fields stay home. */
	rc = queue_head(s, status, o->fields, o->nfields, &o->meta, r, &fr, xname, crange,
			r == SL_CACHE_RESULT_REVALIDATED ? NULL : o);
	if (rc < 0) {
		sl_cache_obj_release(o);
		if (rc == SL_E_NOMEM)
			sl__session_close(s, "out of memory");
		else
			sl__session_fail(s, rc, SL_SIDE_UPSTREAM, "the stored response head is too large");
		return;
	}
	if (blen && t->meth != SL_METHOD_HEAD) {
		/* The queue holds the reference until the last byte is out. */
		if (o->body)
			rc = sl_outq_push_ref(&s->out, o->body + first, blen, obj_release, o);
		else if (blen < SL__MAP_MIN ||
			 (rc = sl__cache_map_push(sl__ctx(s)->cw, &s->out, o, first, blen)) < 0)
			rc = sl_outq_push_file_ref(&s->out, o->fd, o->body_off + (off_t)first, blen,
						   obj_release, o);
		if (rc < 0) {
			sl_cache_obj_release(o);
			sl__session_close(s, "out of memory");
			return;
		}
		t->bytes_out += blen;
	} else {
		sl_cache_obj_release(o);
	}
	s->state = SS_WRITE_RESPONSE;
	sl__session_response_done(s);
}

/* only-if-cached without a usable response (section 5.2.1.7). */
static void offline(sl__session *s)
{
	static const char body[] = "only-if-cached: the cache holds no usable response\n";

	s->txn->result = sl_cache_result_code(SL_CACHE_RESULT_OFFLINE_MISS);
	sl__session_answer(s, 504, "text/plain; charset=utf-8", body, sizeof body - 1,
			   "X-Cache: MISS\r\n", false);
}

/* ---- reading a fill ---- */

/* The request waits for its fill or fetch. */
static void wait_upstream(sl__session *s)
{
	s->state = SS_WRITE_RESPONSE;
	s->last_activity = ev_now(s->env->loop);
	sl__session_timer(s, ST_ACTIVITY, sl__cfg(s)->timeouts.client_idle_ms);
}

static void reader_close(sl__creq *cr)
{
	if (cr->rd) {
		sl_cache_reader_close(cr->rd);
		cr->rd = NULL;
	}
}

/* Sends the fill's head. Returns 0 or a negative code (the session is
 * closed or answered). */
static int fill_head(sl__creq *cr, const sl_cache_fill_view *v)
{
	sl__session *s = cr->s;
	sl__txn *t = s->txn;
	enum sl_http_body framing = SL_BODY_LENGTH;
	uint64_t len = 0;
	sl_msg_frame fr;
	int rc;

	if (v->state == SL_CACHE_FILL_COMPLETE)
		len = v->avail;
	else if (v->meta->body_len != UINT64_MAX)
		len = v->meta->body_len;
	else
		framing = t->minor >= 1 ? SL_BODY_CHUNKED : SL_BODY_CLOSE;
	if (t->meth == SL_METHOD_HEAD && framing != SL_BODY_LENGTH)
		framing = SL_BODY_NONE;
	frame_of(s, framing, len, &fr);
	rc = queue_head(s, v->meta->status, v->fields, v->nfields, v->meta, cr->result, &fr, NULL,
			NULL, NULL);
	if (rc < 0) {
		reader_close(cr);
		if (rc == SL_E_NOMEM)
			sl__session_close(s, "out of memory");
		else
			sl__session_fail(s, rc, SL_SIDE_UPSTREAM, "the response head is too large");
		return rc;
	}
	cr->head_sent = true;
	cr->framing = t->meth == SL_METHOD_HEAD ? SL_BODY_NONE : framing;
	cr->length = len;
	return 0;
}

/* The fill failed midway: the client sees the response end early. */
static void fill_failed(sl__creq *cr, int err)
{
	sl__session *s = cr->s;
	sl__txn *t = s->txn;

	if (!cr->head_sent) {
		reader_close(cr);
		sl__session_fail(s, SL_E_CACHE_FILL_FAILED, SL_SIDE_UPSTREAM, sl_strerror(err));
		return;
	}
	/* The reader stays open until the queued ranges of its file are out. */
	t->truncated = true;
	snprintf(t->err, sizeof t->err, "the shared upstream response failed midway: %s",
		 sl_strerror(err));
	if (s->env->stats)
		s->env->stats->errors++;
	s->must_close = true;
	if (cr->framing == SL_BODY_CLOSE)
		s->abort_rst = true;
	sl__session_response_done(s);
}

/* The fill stored nothing: look again (a revalidation may have refreshed
 * the entry), else go upstream alone. */
static void fill_not_storable(sl__creq *cr)
{
	sl__session *s = cr->s;
	struct sl__cworker *cw = sl__ctx(s)->cw;
	sl__txn *t = s->txn;
	sl_cache_req req;
	sl_cache_obj *o = NULL;
	size_t klen;
	int pl;

	reader_close(cr);
	sl__cache_req_of(cr, t->meth, &req);
	if (!cr->relooked) {
		cr->relooked = true;
		pl = sl_cache_key_of_url(cr->line + cr->mlen + 1, cr->ulen, cw->key,
					 SL_CACHE_KEY_MAX);
		if (pl > 0 && sl_cache_find(cw->cache, &req, cw->key, (size_t)pl, SL_CACHE_KEY_MAX,
					    &klen, &o) == 0) {
			enum sl_cache_use use = sl_cache_use(&cw->pc, &req, &o->meta, o->fields,
							     o->nfields, now_s(s));
			if (use == SL_CACHE_USE_FRESH || use == SL_CACHE_USE_STALE) {
				sl__cache_serve(s, &req, o,
						use == SL_CACHE_USE_FRESH ? SL_CACHE_RESULT_HIT
									  : SL_CACHE_RESULT_STALE);
				return;
			}
			sl_cache_obj_release(o);
		}
	}
	sl__cache_replay(cr);
}

/*
 * Moves what it can: the head, then the body bytes the fill has that are
 * not queued yet, whenever the output is at or below its low watermark (a
 * file range costs the queue no memory, but one range per wake-up would
 * pile segments up behind a slow client). Ends the response once the fill
 * is complete and everything is queued. flush: write now (not when called
 * from a flush).
 */
static void pump(sl__creq *cr, bool flush)
{
	sl__session *s = cr->s;
	sl__txn *t = s->txn;
	sl_cache_fill_view v;
	uint64_t end;

	if (cr->pumping || !cr->rd || t->resp_done)
		return;
	cr->pumping = true;
	sl__session_ref(s);
	/* Flushing calls back here (forward.c's wrote hook), which the flag
	 * turns away: so after a flush that took the output under its low
	 * watermark, this loop moves the next bytes itself, else nothing
	 * would wake the request again once its fill is complete. */
	for (;;) {
		sl_cache_reader_view(cr->rd, &v);
		switch (v.state) {
		case SL_CACHE_FILL_WAITING:
			goto out;
		case SL_CACHE_FILL_NOT_STORABLE:
			cr->pumping = false;
			fill_not_storable(cr);
			goto unref;
		case SL_CACHE_FILL_FAILED:
			cr->pumping = false;
			fill_failed(cr, v.err ? v.err : SL_E_CACHE_FILL_FAILED);
			goto unref;
		case SL_CACHE_FILL_STREAMING:
		case SL_CACHE_FILL_COMPLETE:
			break;
		}
		if (!cr->head_sent && fill_head(cr, &v) < 0) {
			cr->pumping = false;
			goto unref;
		}
		end = cr->framing == SL_BODY_NONE ? 0 : v.avail;
		if (cr->framing == SL_BODY_LENGTH && end > cr->length)
			end = cr->length;
		if (end > cr->sent && sl_outq_below_low(&s->out)) {
			uint64_t n = end - cr->sent;
			off_t off = v.body_off + (off_t)cr->sent;
			int rc = 0;

			if (cr->framing == SL_BODY_CHUNKED) {
				char line[24];
				int k = snprintf(line, sizeof line, "%" PRIx64 "\r\n", n);
				rc = sl__session_queue(s, line, (size_t)k);
				if (rc == 0)
					rc = sl_outq_push_file(&s->out, v.fd, off, n, false);
				if (rc == 0)
					rc = sl__session_queue(s, "\r\n", 2);
			} else {
				rc = sl_outq_push_file(&s->out, v.fd, off, n, false);
			}
			if (rc < 0) {
				cr->pumping = false;
				sl__session_close(s, "out of memory");
				goto unref;
			}
			t->bytes_out += n;
			cr->sent = end;
		}
		if (v.state == SL_CACHE_FILL_COMPLETE && cr->sent >= end) {
			if (cr->framing == SL_BODY_CHUNKED &&
			    sl__session_queue(s, "0\r\n\r\n", 5) < 0) {
				cr->pumping = false;
				sl__session_close(s, "out of memory");
				goto unref;
			}
			cr->pumping = false;
			sl__session_response_done(s);
			goto unref;
		}
		if (!flush)
			break;
		if (sl__session_flush(s) < 0) {
			cr->pumping = false;
			sl__session_close(s, "write to the client failed");
			goto unref;
		}
		if (!sl_outq_below_low(&s->out) ||
		    (cr->sent >= end && v.state != SL_CACHE_FILL_COMPLETE))
			break;   /* the output is full, or the fill has nothing more yet */
	}
	if (sl__session_alive(s))
		sl__session_update_io(s);
out:
	cr->pumping = false;
unref:
	sl__session_unref(s);
}

static void on_reader(sl_cache_reader *rd, void *arg)
{
	sl__creq *cr = arg;

	assert(cr->magic == SL__CREQ_MAGIC && cr->rd == rd);
	(void)rd;
	pump(cr, true);
}

static void on_reader_ignore(sl_cache_reader *rd, void *arg)
{
	(void)rd;
	(void)arg;
}

void sl__cache_replay(sl__creq *cr)
{
	sl__session *s = cr->s;
	sl__txn *t = s->txn;
	sl_http_request rq;
	sl_url u;
	int rc;

	reader_close(cr);
	cr->replay = true;
	cr->result = SL_CACHE_RESULT_MISS;
	memset(&rq, 0, sizeof rq);
	rq.method = sl_slice_make(cr->line, cr->mlen);
	rq.meth = t->meth;
	rq.target = sl_slice_make(cr->line + cr->mlen + 1, cr->ulen);
	rq.form = SL_TARGET_ABSOLUTE;
	rq.minor_version = t->minor;
	rq.fields = cr->req.v;
	rq.nfields = cr->req.n;
	rq.keep_alive = t->keep_alive;
	rc = sl_url_parse(rq.target.p, rq.target.n, &u);
	if (rc < 0) {
		sl__session_fail(s, rc, SL_SIDE_CLIENT, NULL);
		return;
	}
	sl__forward_start(s, &rq, &u);
}

/* ---- the way in ---- */

/* A GET the cache may fetch and share: no validators or ranges of the
 * client's own, nothing that keeps the response from being shared. */
static bool plain_get(const sl_cache_req *req)
{
	return req->meth == SL_METHOD_GET && !req->conditional && !req->if_match && !req->range &&
	       !req->authorization && !req->cc.no_store;
}

/* Forwards through forward.c with the result r (X-Cache). Returns false
 * (forward.c goes on). */
static bool forward_as(sl__session *s, enum sl_cache_result r)
{
	sl__creq *cr;

	if (r == SL_CACHE_RESULT_BYPASS)
		return false;
	cr = creq_get(s);
	if (cr) {
		cr->replay = true;
		cr->result = r;
	}
	return false;
}

/* Revalidates o in the background (stale-while-revalidate): a fetch that
 * answers nobody, shared with a request that validates the same key. */
static void revalidate_background(sl__session *s, const sl_http_request *rq, sl_cache_obj *o,
				  size_t klen, size_t plen)
{
	struct sl__cworker *cw = sl__ctx(s)->cw;
	sl_cache_fill *fill = NULL;
	sl_cache_reader *rd = NULL;
	sl__cfetch_args a;

	if (cw->collapse) {
		int rc = sl_cache_inflight_join(cw->cache, sl_slice_make(cw->key, klen),
						s->env->loop, on_reader_ignore, NULL, &fill, &rd);
		if (rc == 0) {
			/* Someone fetches it already. */
			sl_cache_reader_close(rd);
			return;
		}
		if (rc < 0)
			fill = NULL;
	}
	memset(&a, 0, sizeof a);
	a.cw = cw;
	a.url = s->txn->url;
	a.fields = rq->fields;
	a.nfields = rq->nfields;
	a.key = cw->key;
	a.key_len = klen;
	a.plen = plen;
	a.fill = fill;
	a.stale = sl_cache_obj_ref(o);
	sl__plan_routes(s, &a.routes, &a.nroutes);
	if (sl__cfetch_start(&a) < 0)
		SL_DEBUG("background revalidation of %s could not start", s->txn->url);
}

/*
 * Just made leader of a fill after a miss: a fill that ended between the
 * lookup and the join has stored the object, so look once more. Serves a
 * fresh object found (the fill is cancelled: whoever joined it meanwhile
 * looks again too) and returns true; else false.
 */
static bool relook_as_leader(sl__session *s, sl__creq *cr, size_t klen, sl_cache_fill *fill)
{
	struct sl__cworker *cw = sl__ctx(s)->cw;
	sl_cache_req req;
	sl_cache_obj *o = NULL;

	if (sl_cache_lookup(cw->cache, sl_slice_make(cw->key, klen), &o) < 0)
		return false;
	sl__cache_req_of(cr, s->txn->meth, &req);
	if (sl_cache_obj_is_marker(o) ||
	    sl_cache_use(&cw->pc, &req, &o->meta, o->fields, o->nfields, now_s(s)) !=
		    SL_CACHE_USE_FRESH) {
		sl_cache_obj_release(o);
		return false;
	}
	sl_cache_fill_cancel(fill);
	cr->result = SL_CACHE_RESULT_HIT;
	sl__cache_serve(s, &req, o, SL_CACHE_RESULT_HIT);
	return true;
}

/*
 * A miss or a stale entry (stale: the reference to validate, taken over):
 * joins the key's fill, or leads it with a fetch of its own and reads that
 * fill. Returns true (the request is handled).
 */
static bool fetch(sl__session *s, const sl_http_request *rq, size_t klen, size_t plen,
		  sl_cache_obj *stale)
{
	struct sl__cworker *cw = sl__ctx(s)->cw;
	struct ev_loop *loop = s->env->loop;
	sl_slice key = sl_slice_make(cw->key, klen);
	sl_cache_fill *fill = NULL, *fill2 = NULL;
	sl_cache_reader *rd = NULL;
	sl__cfetch_args a;
	sl__creq *cr = creq_get(s);
	int rc;

	if (!cr || creq_copy(cr, rq) < 0) {
		if (stale)
			sl_cache_obj_release(stale);
		sl__session_close(s, "out of memory");
		return true;
	}
	cr->result = stale ? SL_CACHE_RESULT_REFRESHED : SL_CACHE_RESULT_MISS;
	if (cw->collapse) {
		rc = sl_cache_inflight_join(cw->cache, key, loop, on_reader, cr, &fill, &rd);
		if (rc == 0) {
			if (stale)
				sl_cache_obj_release(stale);
			cr->rd = rd;
			cr->result = SL_CACHE_RESULT_COLLAPSED;
			wait_upstream(s);
			return true;
		}
		if (rc == 1 && !stale && relook_as_leader(s, cr, klen, fill))
			return true;
		if (rc == 1) {
			/* The leader reads its own fill, as the others do. */
			rc = sl_cache_inflight_join(cw->cache, key, loop, on_reader, cr, &fill2, &rd);
			if (rc == 0) {
				cr->rd = rd;
			} else {
				if (rc == 1)
					sl_cache_fill_cancel(fill2);
				sl_cache_fill_cancel(fill);
				fill = NULL;
			}
		} else {
			fill = NULL;
		}
	}
	memset(&a, 0, sizeof a);
	a.cw = cw;
	a.cr = cr;
	a.url = s->txn->url;
	a.fields = rq->fields;
	a.nfields = rq->nfields;
	a.key = cw->key;
	a.key_len = klen;
	a.plen = plen;
	a.fill = fill;
	a.stale = stale;
	sl__plan_routes(s, &a.routes, &a.nroutes);
	rc = sl__cfetch_start(&a);
	if (rc < 0) {
		reader_close(cr);
		sl__session_fail(s, rc, SL_SIDE_UPSTREAM, NULL);
		return true;
	}
	wait_upstream(s);
	return true;
}

static void purge(sl__session *s, const sl_url *u);

bool sl__cache_start(sl__session *s, const sl_http_request *rq, const sl_url *u)
{
	struct sl__cworker *cw = sl__ctx(s)->cw;
	sl__txn *t = s->txn;
	enum sl_cache_use use;
	sl_cache_req req;
	sl_cache_obj *o = NULL;
	size_t klen;
	int pl, rc;

	if (t->cache)
		return false;   /* a replay: forward it */
	if (rq->meth == SL_METHOD_OTHER && sl_slice_eq_cstr(rq->method, "PURGE")) {
		purge(s, u);
		return true;
	}
	if ((rq->meth != SL_METHOD_GET && rq->meth != SL_METHOD_HEAD) || !t->body_done)
		return false;   /* BYPASS; an unsafe method invalidates on its answer */
	sl_cache_req_init(&req, rq->meth, rq->fields, rq->nfields);
	pl = sl_cache_key_primary(u, cw->key, SL_CACHE_KEY_MAX);
	if (pl < 0)
		return false;
	rc = sl_cache_find(cw->cache, &req, cw->key, (size_t)pl, SL_CACHE_KEY_MAX, &klen, &o);
	if (rc == 0) {
		use = sl_cache_use(&cw->pc, &req, &o->meta, o->fields, o->nfields, now_s(s));
		if (use == SL_CACHE_USE_FRESH || use == SL_CACHE_USE_STALE ||
		    use == SL_CACHE_USE_STALE_REVALIDATE) {
			uint64_t first, last;

			if (req.range && rq->meth == SL_METHOD_GET &&
			    sl_cache_range(&req, o->fields, o->nfields, o->meta.body_len, &first,
					   &last) == SL_CACHE_RANGE_MULTI) {
				sl_cache_obj_release(o);
				return forward_as(s, SL_CACHE_RESULT_MISS);
			}
			if (use == SL_CACHE_USE_STALE_REVALIDATE)
				revalidate_background(s, rq, o, klen, (size_t)pl);
			sl__cache_serve(s, &req, o,
					use == SL_CACHE_USE_FRESH ? SL_CACHE_RESULT_HIT
								  : SL_CACHE_RESULT_STALE);
			return true;
		}
		if (req.cc.only_if_cached) {
			sl_cache_obj_release(o);
			offline(s);
			return true;
		}
		if (use == SL_CACHE_USE_VALIDATE && plain_get(&req))
			return fetch(s, rq, klen, (size_t)pl, o);
		sl_cache_obj_release(o);
		if (plain_get(&req))
			/* Unusable as it is and not to validate (no validator, a
			 * HEAD-only entry): a fresh fetch replaces it. */
			return fetch(s, rq, klen, (size_t)pl, NULL);
		return forward_as(s, req.authorization || req.cc.no_store ? SL_CACHE_RESULT_BYPASS
									  : SL_CACHE_RESULT_MISS);
	}
	if (req.cc.only_if_cached) {
		offline(s);
		return true;
	}
	if (rc == SL_E_LIMIT || !plain_get(&req))
		return forward_as(s, req.authorization || req.cc.no_store ? SL_CACHE_RESULT_BYPASS
									  : SL_CACHE_RESULT_MISS);
	return fetch(s, rq, klen, (size_t)pl, NULL);
}

/* ---- forward.c's hooks ---- */

static bool unsafe(enum sl_http_method m)
{
	return m != SL_METHOD_GET && m != SL_METHOD_HEAD && m != SL_METHOD_OPTIONS &&
	       m != SL_METHOD_TRACE;
}

size_t sl__cache_forward_head(sl__session *s, const sl_reply_head *h, sl_field *out, size_t n,
			      size_t cap)
{
	struct sl__cworker *cw = sl__ctx(s)->cw;
	sl__txn *t = s->txn;
	enum sl_cache_result r = t->cache ? t->cache->result : SL_CACHE_RESULT_BYPASS;

	if (unsafe(t->meth) && h->status >= 200 && h->status < 400 && t->url)
		(void)sl_cache_invalidate(cw->cache, t->meth, h->status, t->url, h->fields,
					  h->nfields);
	t->result = sl_cache_result_code(r);
	if (n < cap) {
		out[n].name = SL_SLICE_LIT("X-Cache");
		out[n++].value = sl_slice_cstr(sl_cache_result_xcache(r));
	}
	return n;
}

void sl__cache_wrote(sl__session *s)
{
	sl__creq *cr = s->txn->cache;

	if (cr->rd)
		pump(cr, false);
	else if (cr->fetch)
		sl__cfetch_wrote(cr->fetch);
}

void sl__cache_abort(sl__session *s)
{
	sl__txn *t = s->txn;
	sl__creq *cr = t->cache;

	assert(cr->magic == SL__CREQ_MAGIC);
	t->cache = NULL;
	reader_close(cr);
	if (cr->fetch) {
		struct sl__cfetch *f = cr->fetch;

		cr->fetch = NULL;
		sl__cfetch_detach(f);
	}
	creq_put(sl__ctx(s)->cw, cr);
}

/* ---- PURGE and the summary ---- */

static void purge(sl__session *s, const sl_url *u)
{
	struct sl__cworker *cw = sl__ctx(s)->cw;
	sl__txn *t = s->txn;
	static const char denied[] =
		"PURGE is not allowed from this client (admin.enabled, admin.allow)\n";
	static const char done[] = "purged\n";
	static const char none[] = "not in the cache\n";
	int pl;

	if (!sl_admin_allowed(sl__cfg(s), s->peer_unix ? NULL : &s->peer)) {
		t->result = "TCP_DENIED";
		snprintf(t->err, sizeof t->err, "PURGE refused (admin.allow)");
		sl__session_answer(s, 403, "text/plain; charset=utf-8", denied, sizeof denied - 1,
				   NULL, false);
		return;
	}
	t->result = "TCP_MISS";
	pl = sl_cache_key_primary(u, cw->key, SL_CACHE_KEY_MAX);
	if (pl > 0 && sl_cache_purge(cw->cache, sl_slice_make(cw->key, (size_t)pl)) == 0)
		sl__session_answer(s, 200, "text/plain; charset=utf-8", done, sizeof done - 1, NULL,
				   false);
	else
		sl__session_answer(s, 404, "text/plain; charset=utf-8", none, sizeof none - 1, NULL,
				   false);
}

void sl__cache_answer_summary(sl__session *s)
{
	struct sl__sctx *c = sl__ctx(s);
	struct sl__cworker *cw = c->cw;
	sl_cache_stats st;
	int n;

	if (!cw) {
		n = snprintf(c->head, c->head_cap, "{\"enabled\": false}\n");
	} else {
		sl_cache_stats_get(cw->cache, &st);
		n = snprintf(c->head, c->head_cap,
			     "{\"enabled\": true, \"ready\": %s, \"objects\": %" PRIu64
			     ", \"bytes\": %" PRIu64 ", \"max_size\": %" PRIu64
			     ", \"max_object_size\": %" PRIu64 ", \"memory\": {\"objects\": %" PRIu64
			     ", \"bytes\": %" PRIu64 ", \"max\": %" PRIu64 "}, \"lookups\": %" PRIu64
			     ", \"hits\": %" PRIu64 ", \"mem_hits\": %" PRIu64
			     ", \"stores\": %" PRIu64 ", \"evictions\": %" PRIu64
			     ", \"corrupt\": %" PRIu64 ", \"too_large\": %" PRIu64
			     ", \"inflight\": %u, \"collapsed_forwarding\": %s, \"fetches\": %u}\n",
			     st.ready ? "true" : "false", st.objects, st.bytes, st.max_size,
			     cw->max_object_size, st.mem_objects, st.mem_bytes, st.mem_max,
			     st.lookups, st.hits, st.mem_hits, st.stores, st.evictions, st.corrupt,
			     st.too_large, sl_cache_inflight_count(cw->cache),
			     cw->collapse ? "true" : "false", cw->nfetches);
	}
	if (n < 0 || (size_t)n >= c->head_cap) {
		sl__session_fail(s, SL_E_NOMEM, SL_SIDE_CLIENT, NULL);
		return;
	}
	sl__session_answer(s, 200, "application/json", c->head, (size_t)n, NULL, false);
}
