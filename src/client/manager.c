/*
 * The manager (see manager.h): options and defaults, creation and
 * teardown, sl_manager_send() (copy the request into a pooled reply,
 * dispatch by scheme), statistics, and the deferred tasks the other files
 * use to run work from the loop rather than inside an API call. The task
 * lists are circular with sentinels; a run first moves every posted task to
 * the running list, so tasks posted meanwhile wait for the next loop
 * iteration (a task that reposts itself, as a file read does per chunk,
 * cannot starve the loop). Posted tasks run from an ev_prepare watcher, at
 * the start of the next iteration before the loop polls, so work posted by
 * a callback (a request to write, say) is done without an extra trip
 * through epoll; a zero timer stays armed only while tasks wait, so the
 * poll does not block on them.
 */
#include "client/manager.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/channel_internal.h"
#include "client/connection_internal.h"
#include "client/manager_internal.h"
#include "client/proxy_auth.h"
#include "client/reply_internal.h"
#include "core/err.h"
#include "core/version.h"

static void check(const sl_manager *m)
{
	assert(m && m->magic == SL__MANAGER_MAGIC);
	(void)m;
}

/* ---- deferred tasks ---- */

static void list_init(sl__task *head)
{
	head->prev = head->next = head;
}

void sl__task_init(sl__task *t, void (*fn)(sl__task *t))
{
	t->prev = t->next = NULL;
	t->fn = fn;
	t->queued = false;
}

void sl__task_post(sl_manager *m, sl__task *t)
{
	if (t->queued || !m || m->freeing)
		return;
	t->prev = m->pending.prev;
	t->next = &m->pending;
	m->pending.prev->next = t;
	m->pending.prev = t;
	t->queued = true;
	if (!ev_is_active(&m->defer)) {
		ev_timer_set(&m->defer, 0.0, 0.0);
		ev_timer_start(m->loop, &m->defer);
	}
	if (!ev_is_active(&m->prep))
		ev_prepare_start(m->loop, &m->prep);
}

void sl__task_cancel(sl__task *t)
{
	if (!t->queued)
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->prev = t->next = NULL;
	t->queued = false;
}

static void run_tasks(sl_manager *m)
{
	check(m);
	if (m->pending.next == &m->pending)
		return;
	m->running.next = m->pending.next;
	m->running.prev = m->pending.prev;
	m->running.next->prev = &m->running;
	m->running.prev->next = &m->running;
	list_init(&m->pending);
	while (m->running.next != &m->running) {
		sl__task *t = m->running.next;

		sl__task_cancel(t);
		t->fn(t);
	}
}

static void on_defer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	run_tasks(w->data);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	sl_manager *m = w->data;

	(void)revents;
	run_tasks(m);
	if (m->pending.next == &m->pending) {
		/* Nothing waits: let the loop block, and stop running here. */
		ev_timer_stop(loop, &m->defer);
		ev_prepare_stop(loop, &m->prep);
	}
}

/* ---- options ---- */

void sl_manager_opts_init(sl_manager_opts *o)
{
	sl_http_limits lim = SL_HTTP_LIMITS_DEFAULT;

	memset(o, 0, sizeof *o);
	o->max_channels = 6;
	o->max_idle = 256;
	o->max_idle_per_host = 8;
	o->idle_timeout_ms = 60000;
	o->connect_timeout_ms = 10000;
	o->first_byte_timeout_ms = 60000;
	o->read_timeout_ms = 60000;
	o->continue_timeout_ms = 1000;
	o->read_buffer_max = 64 * 1024;
	o->pipeline_depth = 4;
	o->connect_opts.tls_verify = true;
	o->limits = lim;
}

static void fill_defaults(sl_manager_opts *o)
{
	sl_manager_opts d;

	sl_manager_opts_init(&d);
#define DEF(f) if (!o->f) o->f = d.f
	DEF(max_channels);
	DEF(max_idle);
	DEF(max_idle_per_host);
	DEF(idle_timeout_ms);
	DEF(connect_timeout_ms);
	DEF(first_byte_timeout_ms);
	DEF(read_timeout_ms);
	DEF(continue_timeout_ms);
	DEF(read_buffer_max);
	DEF(pipeline_depth);
#undef DEF
	if (!o->limits.max_header_bytes)
		o->limits = d.limits;
	if (o->read_buffer_max < 1024)
		o->read_buffer_max = 1024;
	if (o->limits.max_header_bytes > o->read_buffer_max)
		o->limits.max_header_bytes = o->read_buffer_max;
}

/* ---- life ---- */

sl_manager *sl_manager_new(struct ev_loop *loop, const sl_manager_opts *opts)
{
	sl_manager *m;
	sl_conn_cache_opts co;

	if (!loop || !opts || !opts->connect || !opts->cancel)
		return NULL;
	m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->magic = SL__MANAGER_MAGIC;
	m->loop = loop;
	m->o = *opts;
	fill_defaults(&m->o);
	m->copts_plain = m->o.connect_opts;
	m->copts_plain.connect_timeout_ms = m->o.connect_timeout_ms;
	m->copts_plain.tls_target = false;
	m->copts_tls = m->copts_plain;
	m->copts_tls.tls_target = true;
	if (!m->o.user_agent)
		snprintf(m->ua, sizeof m->ua, "sluice/%s", SL_VERSION);
	else
		snprintf(m->ua, sizeof m->ua, "%s", m->o.user_agent);
	co.max_total = m->o.max_idle;
	co.max_per_key = m->o.max_idle_per_host;
	co.idle_timeout_ms = m->o.idle_timeout_ms;
	m->idle = sl_conn_cache_new(loop, &co);
	m->auth = m->o.auth_cache;
	if (!m->auth) {
		m->auth = sl_auth_cache_new(0);
		m->own_auth = true;
	}
	m->pauth = m->o.connect_opts.auth;
	if (!m->pauth && m->auth) {
		m->pauth = sl_proxy_auth_new(m->auth);
		m->own_pauth = true;
	}
	m->copts_plain.auth = m->copts_tls.auth = m->pauth;
	m->copts_fwd = m->copts_plain;
	m->copts_fwd.to_last_hop = true;
	m->scratch = malloc(SL__SCRATCH_SIZE);
	list_init(&m->pending);
	list_init(&m->running);
	ev_init(&m->defer, on_defer);
	m->defer.data = m;
	ev_prepare_init(&m->prep, on_prepare);
	m->prep.data = m;
	if (!m->idle || !m->auth || !m->pauth || !m->scratch) {
		sl_manager_free(m);
		return NULL;
	}
	return m;
}

void sl_manager_free(sl_manager *m)
{
	if (!m)
		return;
	check(m);
	m->freeing = true;
	ev_timer_stop(m->loop, &m->defer);
	ev_prepare_stop(m->loop, &m->prep);
	sl__conn_free_all(m);
	while (m->active) {
		sl_reply *r = m->active;

		r->aborted = true;
		if (r->state == SL__R_LOCAL && r->scheme->cancel)
			r->scheme->cancel(r);
		sl__reply_set_error(r, SL_E_CANCELED, false, -1, r->phase);
		sl__reply_finish(r, SL_E_CANCELED);
	}
	while (m->pool) {
		sl_reply *r = m->pool;

		m->pool = r->mnext;
		r->magic = SL__REPLY_MAGIC;
		r->state = SL__R_DONE;
		r->m = NULL;
		r->refs = 1;
		sl_reply_unref(r);
	}
	while (m->chpool) {
		sl__channel *ch = m->chpool;

		m->chpool = ch->next;
		sl_buf_free(&ch->in);
		free(ch);
	}
	sl_conn_cache_free(m->idle);
	if (m->own_pauth)
		sl_proxy_auth_free(m->pauth);
	if (m->own_auth)
		sl_auth_cache_free(m->auth);
	free(m->scratch);
	m->magic = 0;
	free(m);
}

/* Undoes a reply that never started: no callback, both references gone. */
static void discard(sl_reply *r)
{
	r->aborted = true;
	r->conn_route = NULL;
	sl__reply_finish(r, SL_E_CANCELED);
	sl_reply_unref(r);
}

int sl_manager_send(sl_manager *m, const sl_request *rq, const sl_reply_cbs *cbs, void *arg,
		    sl_reply **out)
{
	sl_reply *r;
	int rc;

	check(m);
	*out = NULL;
	if (!rq)
		return SL_E_INVAL;
	if (m->o.cache && !(rq->flags & SL_REQ_NO_CACHE) && rq->body.kind == SL_BODY_SRC_NONE &&
	    (!rq->method || strcmp(rq->method, "GET") == 0))
		return sl__mcache_send(m, rq, cbs, arg, out);
	r = sl__reply_new(m);
	if (!r)
		return SL_E_NOMEM;
	if (cbs)
		r->cb = *cbs;
	r->arg = arg;
	r->t_start = ev_now(m->loop);
	rc = sl__request_copy(r, rq);
	if (rc == 0)
		rc = r->scheme->start(r);
	r->conn_route = NULL;
	if (rc < 0) {
		discard(r);
		return rc;
	}
	*out = r;
	return 0;
}

struct ev_loop *sl_manager_loop(const sl_manager *m)
{
	check(m);
	return m->loop;
}

struct sl_proxy_auth *sl_manager_proxy_auth(const sl_manager *m)
{
	check(m);
	return m->pauth;
}

void sl_manager_reconfigure(sl_manager *m, const sl_manager_opts *opts)
{
	sl_manager_opts o = *opts;
	sl_conn_cache_opts co;

	check(m);
	fill_defaults(&o);
	m->o.connect_opts = o.connect_opts;
	m->o.max_channels = o.max_channels;
	m->o.max_idle = o.max_idle;
	m->o.max_idle_per_host = o.max_idle_per_host;
	m->o.idle_timeout_ms = o.idle_timeout_ms;
	m->o.connect_timeout_ms = o.connect_timeout_ms;
	m->o.first_byte_timeout_ms = o.first_byte_timeout_ms;
	m->o.read_timeout_ms = o.read_timeout_ms;
	m->o.continue_timeout_ms = o.continue_timeout_ms;
	m->copts_plain = m->o.connect_opts;
	m->copts_plain.connect_timeout_ms = m->o.connect_timeout_ms;
	m->copts_plain.tls_target = false;
	m->copts_tls = m->copts_plain;
	m->copts_tls.tls_target = true;
	/* The proxy credential cache stays the manager's. */
	m->copts_plain.auth = m->copts_tls.auth = m->pauth;
	m->copts_fwd = m->copts_plain;
	m->copts_fwd.to_last_hop = true;
	co.max_total = m->o.max_idle;
	co.max_per_key = m->o.max_idle_per_host;
	co.idle_timeout_ms = m->o.idle_timeout_ms;
	sl_conn_cache_set_opts(m->idle, &co);
}

void sl_manager_clear_idle(sl_manager *m)
{
	check(m);
	sl_conn_cache_clear(m->idle);
}

void sl_manager_expire_connections(sl_manager *m)
{
	check(m);
	m->epoch++;
	sl_conn_cache_clear(m->idle);
}

void sl_manager_get_stats(const sl_manager *m, sl_manager_stats *out)
{
	sl_conn_cache_stats cs;

	check(m);
	sl_conn_cache_get_stats(m->idle, &cs);
	memset(out, 0, sizeof *out);
	out->connects = m->n_connects;
	out->connect_failures = m->n_connect_failures;
	out->reused = m->n_reused;
	out->retries = m->n_retries;
	out->requests = m->n_requests;
	out->connections = m->nconns;
	out->channels = m->nchannels;
	out->idle = cs.idle;
	out->queued = m->nqueued;
	out->active = m->nactive;
}
