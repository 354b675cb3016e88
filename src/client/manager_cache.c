/*
 * The manager's HTTP cache, as QNetworkDiskCache is Qt's: a GET request
 * sent while the manager has a cache (sl_manager_opts.cache) gets an outer
 * reply that this file drives, in state LOCAL with a scheme row of its own
 * (so pause, resume and abort come here). Depending on the request's
 * cache_load and on RFC 9111's rules for a private cache, the outer reply
 * is answered from the stored response (head, then the body read from the
 * store's file in chunks, one per loop iteration, or from the memory tier),
 * or by an inner reply, a plain network request whose callbacks pass head,
 * data and end through to the caller while the body is written to the
 * store. A stored response with validators that must be revalidated sends
 * the inner request conditionally; a 304 updates the entry in place and the
 * caller gets the stored response.
 *
 * The command-line client is the user: bodies are copied (read into the
 * manager's scratch buffer, and to the store's writer), which the proxy's
 * hot path never does. Ownership: the outer reply owns its sl__mcache, the
 * inner reply (one reference), the object being served or validated and
 * the writer; all go when the outer reply is finished or released.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/cache.h"
#include "client/manager_internal.h"
#include "client/reply_internal.h"
#include "core/err.h"

#define MCACHE_MAGIC 0x4d434348u /* "MCCH" */
#define MC_FIELDS 256

struct sl__mcache {
	uint32_t magic;
	sl_reply *outer;
	sl_reply *inner;                /* the network request, or NULL */
	sl_cache_obj *obj;              /* served, or validated by inner */
	sl_cache_writer *w;             /* storing inner's response */
	sl_cache_fields req;            /* the request's fields */
	sl_cache_req creq;
	sl_cache_policy_conf pc;
	char *key;                      /* SL_CACHE_KEY_MAX bytes */
	size_t plen;
	int64_t t_req;
	bool serve;                     /* answer from obj (after inner, if any) */
	bool revalidated;               /* obj was just validated (a 304) */
	bool from_cache;
	uint64_t off, left;             /* obj's body still to deliver */
	sl_field hf[MC_FIELDS];
	char age[24];
};

static void cache_resume(sl_reply *r);
static void cache_cancel(sl_reply *r);

/* The row the outer reply runs under once it is the cache's. */
static const sl_scheme cache_scheme = {
	.name = "cache",
	.resume = cache_resume,
	.cancel = cache_cancel,
};

static void in_head(sl_reply *in, const sl_reply_head *h, void *arg);
static void in_data(sl_reply *in, sl_slice d, void *arg);
static void in_done(sl_reply *in, int err, void *arg);
static void in_trailer(sl_reply *in, const sl_field *f, void *arg);

static const sl_reply_cbs inner_cbs = {
	.on_head = in_head,
	.on_data = in_data,
	.on_done = in_done,
	.on_trailer = in_trailer,
};

static int64_t now_of(const sl_reply *r)
{
	return (int64_t)ev_now(r->m->loop);
}

/* Lets go of everything but the struct itself. */
static void release_parts(struct sl__mcache *mc)
{
	if (mc->inner) {
		sl_reply_abort(mc->inner);
		sl_reply_unref(mc->inner);
		mc->inner = NULL;
	}
	if (mc->w) {
		sl_cache_writer_abort(mc->w);
		mc->w = NULL;
	}
	if (mc->obj) {
		sl_cache_obj_release(mc->obj);
		mc->obj = NULL;
	}
}

void sl__mcache_free(sl_reply *r)
{
	struct sl__mcache *mc = r->mc;

	if (!mc)
		return;
	assert(mc->magic == MCACHE_MAGIC);
	release_parts(mc);
	sl_cache_fields_free(&mc->req);
	free(mc->key);
	mc->magic = 0;
	free(mc);
	r->mc = NULL;
}

bool sl__mcache_from_cache(const sl_reply *r)
{
	return r->mc && r->mc->from_cache;
}

const sl_reply *sl__mcache_inner(const sl_reply *r)
{
	return r->mc ? r->mc->inner : NULL;
}

/* ---- answering from the store ---- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 308: return "Permanent Redirect";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 410: return "Gone";
	case 414: return "URI Too Long";
	case 501: return "Not Implemented";
	}
	return "";
}

static void fail(sl_reply *r, int err)
{
	sl__reply_set_error(r, err, false, -1, SL_PHASE_LOCAL);
	sl__reply_finish(r, err);
}

/* Delivers the stored response: the head, then one chunk of body per loop
 * iteration while not paused. */
static void serve_task(sl__task *t)
{
	sl_reply *r = (sl_reply *)((char *)t - offsetof(sl_reply, task));
	struct sl__mcache *mc = r->mc;
	sl_cache_obj *o = mc->obj;

	sl_reply_ref(r);
	if (!r->head_done) {
		size_t k = 0;
		int n;

		for (size_t i = 0; i < o->nfields && k < MC_FIELDS - 1; i++) {
			if (sl_slice_case_eq_cstr(o->fields[i].name, "Age"))
				continue;
			if (!mc->revalidated && !sl_cache_field_served(o, &o->fields[i]))
				continue;
			mc->hf[k++] = o->fields[i];
		}
		n = snprintf(mc->age, sizeof mc->age, "%" PRId64,
			     sl_cache_current_age(&o->meta, now_of(r)));
		mc->hf[k].name = SL_SLICE_LIT("Age");
		mc->hf[k++].value = sl_slice_make(mc->age, (size_t)n);

		sl_reply_head h = {
			.status = o->meta.status,
			.reason = sl_slice_cstr(reason(o->meta.status)),
			.minor_version = 1,
			.fields = mc->hf,
			.nfields = k,
			.framing = SL_BODY_LENGTH,
			.content_length = o->meta.body_len,
			.keep_alive = true,
		};
		r->head_done = true;
		r->status = o->meta.status;
		r->got_byte = true;
		r->t_first = ev_now(r->m->loop);
		mc->from_cache = true;
		mc->off = 0;
		mc->left = r->meth == SL_METHOD_HEAD ? 0 : o->meta.body_len;
		sl__reply_emit_head(r, &h);
	}
	if (r->done || r->aborted || r->paused)
		goto out;
	if (mc->left > 0) {
		size_t want = mc->left < SL__SCRATCH_SIZE ? (size_t)mc->left : SL__SCRATCH_SIZE;
		sl_slice d;

		if (o->body) {
			d = sl_slice_make(o->body + mc->off, want);
		} else {
			ssize_t k = pread(o->fd, r->m->scratch, want, o->body_off + (off_t)mc->off);
			if (k < 0 && errno == EINTR) {
				sl__task_post(r->m, &r->task);
				goto out;
			}
			if (k <= 0) {
				fail(r, k < 0 ? -errno : SL_E_EOF);
				goto out;
			}
			d = sl_slice_make(r->m->scratch, (size_t)k);
		}
		mc->off += d.n;
		mc->left -= d.n;
		r->bytes_received += d.n;
		sl__reply_emit_data(r, d);
	}
	if (r->done || r->aborted)
		goto out;
	if (mc->left == 0)
		sl__reply_finish(r, 0);
	else if (!r->paused)
		sl__task_post(r->m, &r->task);
out:
	sl_reply_unref(r);
}

/* Fails a request the cache cannot answer (always-cache) from the loop. */
static void miss_task(sl__task *t)
{
	sl_reply *r = (sl_reply *)((char *)t - offsetof(sl_reply, task));

	sl_reply_ref(r);
	fail(r, SL_E_CACHE_ONLY_IF_CACHED);
	sl_reply_unref(r);
}

static void start_serving(sl_reply *r)
{
	r->mc->serve = true;
	sl__task_init(&r->task, serve_task);
	sl__task_post(r->m, &r->task);
}

static void cache_resume(sl_reply *r)
{
	struct sl__mcache *mc = r->mc;

	if (mc->inner)
		sl_reply_resume(mc->inner);
	else if (mc->serve && !r->done)
		sl__task_post(r->m, &r->task);
}

static void cache_cancel(sl_reply *r)
{
	if (r->m)
		sl__task_cancel(&r->task);
	release_parts(r->mc);
}

/* ---- the network ---- */

static void in_head(sl_reply *in, const sl_reply_head *h, void *arg)
{
	struct sl__mcache *mc = arg;
	sl_reply *r = mc->outer;
	int64_t t_resp = now_of(r);
	uint64_t len;
	sl_cache_plan p;
	sl_cache_obj *upd = NULL;
	sl_field *sf;
	int rc;

	(void)in;
	if (mc->obj && h->status == 304) {
		sf = calloc(MC_FIELDS, sizeof *sf);
		rc = sf ? sl_cache_revalidated(r->m->o.cache, &mc->pc, &mc->creq, mc->obj,
					       h->fields, h->nfields, mc->t_req, t_resp, sf,
					       MC_FIELDS, &upd)
			: SL_E_NOMEM;
		free(sf);
		if (rc == 0) {
			/* The stored response answers, once the 304 is read. */
			sl_cache_obj_release(mc->obj);
			mc->obj = upd;
			mc->serve = true;
			mc->revalidated = true;
			return;
		}
	}
	if (mc->obj) {
		sl_cache_obj_release(mc->obj);
		mc->obj = NULL;
	}
	len = h->framing == SL_BODY_LENGTH ? h->content_length
	    : h->framing == SL_BODY_NONE   ? 0
					   : UINT64_MAX;
	sf = calloc(MC_FIELDS, sizeof *sf);
	if (sf && sl_cache_plan_store(r->m->o.cache, &mc->pc, &mc->creq, h->status, h->fields,
				      h->nfields, mc->t_req, t_resp, len, mc->key, mc->plen,
				      SL_CACHE_KEY_MAX, sf, MC_FIELDS, &p) == 0 &&
	    sl_cache_writer_open(r->m->o.cache, sl_slice_make(mc->key, p.key_len), &p.meta, sf,
				 p.nfields, &mc->w) < 0)
		mc->w = NULL;
	free(sf);
	r->head_done = true;
	r->status = h->status;
	r->got_byte = true;
	r->t_first = ev_now(r->m->loop);
	sl__reply_emit_head(r, h);
}

static void in_data(sl_reply *in, sl_slice d, void *arg)
{
	struct sl__mcache *mc = arg;
	sl_reply *r = mc->outer;

	if (mc->serve)
		return;
	if (mc->w && sl_cache_writer_append(mc->w, d.p, d.n) < 0) {
		sl_cache_writer_abort(mc->w);
		mc->w = NULL;
	}
	r->bytes_received += d.n;
	sl__reply_emit_data(r, d);
	if (r->paused && !r->done)
		sl_reply_pause(in);
}

static void in_trailer(sl_reply *in, const sl_field *f, void *arg)
{
	struct sl__mcache *mc = arg;

	(void)in;
	if (!mc->serve)
		sl__reply_emit_trailer(mc->outer, f);
}

static void in_done(sl_reply *in, int err, void *arg)
{
	struct sl__mcache *mc = arg;
	sl_reply *r = mc->outer;
	sl_reply_error e;

	sl_reply_ref(r);
	sl_reply_get_error(in, &e);
	r->bytes_sent = in->bytes_sent;
	mc->inner = NULL;
	if (mc->w) {
		if (err == 0)
			(void)sl_cache_writer_commit(mc->w, NULL);
		else
			sl_cache_writer_abort(mc->w);
		mc->w = NULL;
	}
	if (err == 0 && mc->serve) {
		start_serving(r);
	} else {
		if (err < 0)
			sl__reply_set_error(r, err, e.proxy, e.hop, e.phase);
		sl__reply_finish(r, err);
	}
	sl_reply_unref(in);
	sl_reply_unref(r);
}

/* ---- the way in ---- */

/* Sends rq over the network as the outer reply's inner request, with the
 * stored response's validators when there is one. */
static int send_inner(sl_reply *r, const sl_request *rq)
{
	struct sl__mcache *mc = r->mc;
	sl_request in = *rq;
	sl_field *f = NULL;
	int rc;

	in.flags |= SL_REQ_NO_CACHE;
	if (mc->obj) {
		f = malloc((rq->nheaders + 2) * sizeof *f);
		if (!f)
			return SL_E_NOMEM;
		if (rq->nheaders)
			memcpy(f, rq->headers, rq->nheaders * sizeof *f);
		in.headers = f;
		in.nheaders = rq->nheaders +
			      sl_cache_validators(mc->obj->fields, mc->obj->nfields, f + rq->nheaders);
	}
	mc->t_req = now_of(r);
	rc = sl_manager_send(r->m, &in, &inner_cbs, mc, &mc->inner);
	free(f);
	if (rc < 0)
		mc->inner = NULL;
	return rc;
}

int sl__mcache_send(sl_manager *m, const sl_request *rq, const sl_reply_cbs *cbs, void *arg,
		    sl_reply **out)
{
	sl_cache *c = m->o.cache;
	struct sl__mcache *mc;
	enum sl_cache_load mode = rq->cache_load;
	size_t klen;
	sl_reply *r;
	int rc, pl;

	*out = NULL;
	r = sl__reply_new(m);
	if (!r)
		return SL_E_NOMEM;
	if (cbs)
		r->cb = *cbs;
	r->arg = arg;
	r->t_start = ev_now(m->loop);
	rc = sl__request_copy(r, rq);
	if (rc == 0 && (!r->scheme->cacheable || r->meth != SL_METHOD_GET)) {
		/* Not the cache's: the reply goes its usual way. */
		rc = r->scheme->start(r);
		r->conn_route = NULL;
		goto done;
	}
	r->conn_route = NULL;
	if (rc < 0)
		goto done;
	mc = calloc(1, sizeof *mc);
	if (!mc) {
		rc = SL_E_NOMEM;
		goto done;
	}
	mc->magic = MCACHE_MAGIC;
	mc->outer = r;
	r->mc = mc;
	mc->pc.shared = false;
	mc->pc.heuristic_max = m->o.cache_heuristic_max_s ? (int64_t)m->o.cache_heuristic_max_s
							   : 86400;
	mc->key = malloc(SL_CACHE_KEY_MAX);
	if (!mc->key || sl_cache_fields_set(&mc->req, rq->headers, rq->nheaders, 0) < 0) {
		rc = SL_E_NOMEM;
		goto done;
	}
	sl_cache_req_init(&mc->creq, SL_METHOD_GET, mc->req.v, mc->req.n);
	pl = sl_cache_key_primary(&r->url, mc->key, SL_CACHE_KEY_MAX);
	if (pl < 0) {
		rc = pl;
		goto done;
	}
	mc->plen = (size_t)pl;
	r->scheme = &cache_scheme;
	r->state = SL__R_LOCAL;
	if (mode != SL_CACHE_ALWAYS_NETWORK &&
	    sl_cache_find(c, &mc->creq, mc->key, mc->plen, SL_CACHE_KEY_MAX, &klen, &mc->obj) == 0) {
		enum sl_cache_use use = SL_CACHE_USE_FRESH;

		if (mode == SL_CACHE_PREFER_NETWORK)
			use = sl_cache_use(&mc->pc, &mc->creq, &mc->obj->meta, mc->obj->fields,
					   mc->obj->nfields, now_of(r));
		if (use == SL_CACHE_USE_FRESH || use == SL_CACHE_USE_STALE ||
		    use == SL_CACHE_USE_STALE_REVALIDATE) {
			start_serving(r);
			*out = r;
			return 0;
		}
		if (use != SL_CACHE_USE_VALIDATE) {
			sl_cache_obj_release(mc->obj);
			mc->obj = NULL;
		}
	} else if (mode == SL_CACHE_ALWAYS_CACHE) {
		sl__task_init(&r->task, miss_task);
		sl__task_post(m, &r->task);
		*out = r;
		return 0;
	}
	mc->key[mc->plen] = '\0';
	rc = send_inner(r, rq);
done:
	if (rc < 0) {
		r->aborted = true;
		if (r->mc)
			release_parts(r->mc);
		sl__reply_finish(r, SL_E_CANCELED);
		sl_reply_unref(r);
		return rc;
	}
	*out = r;
	return 0;
}
