/*
 * Configuration snapshots and the holds workers keep on them (see
 * snapshot.h). The snapshot's counter is the only atomic here; holds are
 * touched by their worker's thread alone, so pinning one for a request
 * costs an increment and no shared cache line.
 */
#include "server/snapshot.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "server/accesslog.h"

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void release_parts(sl_config *cfg, sl_tls_ctx *tls, struct sl_accesslog *alog)
{
	sl_config_unref(cfg);
	if (tls)
		sl_tls_ctx_unref(tls);
	if (alog)
		sl_accesslog_close(alog);
}

sl_snapshot *sl_snapshot_new(sl_config *cfg, sl_tls_ctx *tls, struct sl_accesslog *alog,
			     const sl_addr *own, const uint16_t *own_ports, size_t n_own,
			     uint64_t generation)
{
	sl_snapshot *s = calloc(1, sizeof *s);

	if (!s)
		goto fail;
	if (n_own) {
		s->own_addrs = calloc(n_own, sizeof *s->own_addrs);
		s->own_ports = calloc(n_own, sizeof *s->own_ports);
		if (!s->own_addrs || !s->own_ports) {
			free(s->own_addrs);
			free(s->own_ports);
			free(s);
			goto fail;
		}
		memcpy(s->own_addrs, own, n_own * sizeof *own);
		memcpy(s->own_ports, own_ports, n_own * sizeof *own_ports);
	}
	s->magic = SL_SNAPSHOT_MAGIC;
	atomic_init(&s->refs, 1);
	s->generation = generation;
	s->loaded_at = wall_now();
	s->cfg = cfg;
	s->tls = tls;
	s->alog = alog;
	/* With the access log off, sessions skip formatting entries at all. */
	s->access_log = alog && cfg->log.access[0] ? sl_accesslog_write : NULL;
	s->n_own = n_own;
	return s;
fail:
	release_parts(cfg, tls, alog);
	return NULL;
}

sl_snapshot *sl_snapshot_ref(sl_snapshot *s)
{
	assert(s && s->magic == SL_SNAPSHOT_MAGIC);
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void sl_snapshot_unref(sl_snapshot *s)
{
	if (!s)
		return;
	assert(s->magic == SL_SNAPSHOT_MAGIC);
	/* The release/acquire pair makes whatever a thread did with the
	 * snapshot happen before it is freed. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	release_parts(s->cfg, s->tls, s->alog);
	free(s->own_addrs);
	free(s->own_ports);
	s->magic = 0;
	free(s);
}

/* ---- holds ---- */

static sl_snap_hold *hold_new(sl_snapshot *snap)
{
	sl_snap_hold *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->magic = SL_SNAP_HOLD_MAGIC;
	h->snap = snap;
	h->cfg = snap->cfg;
	h->tls = snap->tls;
	h->own_addrs = snap->own_addrs;
	h->own_ports = snap->own_ports;
	h->n_own = snap->n_own;
	return h;
}

static void hold_free(sl_snap_hold *h)
{
	sl_snapshot_unref(h->snap);
	h->magic = 0;
	free(h);
}

static void point_env(sl_session_env *env, const sl_snapshot *snap)
{
	env->cfg = snap->cfg;
	env->tls = snap->tls;
	env->own_addrs = snap->own_addrs;
	env->own_ports = snap->own_ports;
	env->n_own_addrs = snap->n_own;
	env->access_log = snap->access_log;
	env->access_arg = snap->alog;
}

int sl_snap_env_init(sl_session_env *env, sl_snapshot *snap)
{
	sl_snap_hold *h;

	assert(!env->snap);
	if (!snap) {
		h = calloc(1, sizeof *h);
		if (!h)
			return SL_E_NOMEM;
		h->magic = SL_SNAP_HOLD_MAGIC;
		h->cfg = env->cfg;
		h->tls = env->tls;
		h->own_addrs = env->own_addrs;
		h->own_ports = env->own_ports;
		h->n_own = env->n_own_addrs;
		env->snap = h;
		return 0;
	}
	h = hold_new(snap);
	if (!h) {
		sl_snapshot_unref(snap);
		return SL_E_NOMEM;
	}
	env->snap = h;
	point_env(env, snap);
	return 0;
}

int sl_snap_env_switch(sl_session_env *env, sl_snapshot *snap)
{
	sl_snap_hold *old = env->snap, *h = hold_new(snap);

	if (!h) {
		sl_snapshot_unref(snap);
		return SL_E_NOMEM;
	}
	env->snap = h;
	point_env(env, snap);
	if (!old)
		return 0;
	assert(old->magic == SL_SNAP_HOLD_MAGIC);
	if (old->users == 0) {
		hold_free(old);
	} else {
		old->next = env->retired;
		env->retired = old;
	}
	return 0;
}

sl_snap_hold *sl_snap_take(sl_session_env *env)
{
	sl_snap_hold *h = env->snap;

	assert(h && h->magic == SL_SNAP_HOLD_MAGIC);
	h->users++;
	return h;
}

void sl_snap_drop(sl_session_env *env, sl_snap_hold *h)
{
	assert(h && h->magic == SL_SNAP_HOLD_MAGIC && h->users > 0);
	if (--h->users || h == env->snap)
		return;
	for (sl_snap_hold **pp = &env->retired; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	hold_free(h);
}

unsigned sl_snap_retired(const sl_session_env *env)
{
	unsigned n = 0;

	for (const sl_snap_hold *h = env->retired; h; h = h->next)
		n++;
	return n;
}

void sl_snap_env_free(sl_session_env *env)
{
	while (env->retired) {
		sl_snap_hold *h = env->retired;
		env->retired = h->next;
		hold_free(h);
	}
	if (env->snap) {
		hold_free(env->snap);
		env->snap = NULL;
	}
}
