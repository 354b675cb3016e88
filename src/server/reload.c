/*
 * Reloading the configuration (see reload.h): prepare everything, fail
 * without side effects, then commit to every worker and wait until each
 * has applied the new snapshot. The comparisons between two configurations
 * (what needs a restart, whether upstream connections made so far may
 * still be used) read the configurations' JSON dumps, so a setting added to the
 * schema is compared without code here; secrets, which dumps hide, are
 * compared apart.
 */
#include "server/reload.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "engines/tls.h"
#include "server/accesslog.h"
#include "server/pidfile.h"

/* ---- comparing two configurations ---- */

static json_t *dump_json(const sl_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	json_t *j = NULL;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (sl_config_dump(cfg, f) == 0 && fflush(f) == 0)
		j = json_loadb(text, len, 0, NULL);
	fclose(f);
	free(text);
	return j;
}

/* The value at a dotted path of top-level key and member, or NULL. */
static json_t *at(json_t *root, const char *key, const char *member)
{
	json_t *v = json_object_get(root, key);

	return member ? json_object_get(v, member) : v;
}

static bool same_at(json_t *a, json_t *b, const char *key, const char *member)
{
	json_t *x = at(a, key, member), *y = at(b, key, member);

	if (!x || !y)
		return x == y;
	return json_equal(x, y);
}

static void add_name(char *out, size_t cap, size_t *used, const char *name)
{
	int k;

	if (*used >= cap)
		return;
	k = snprintf(out + *used, cap - *used, "%s%s", *used ? ", " : "", name);
	if (k > 0)
		*used += (size_t)k;
	if (*used > cap)
		*used = cap;
}

size_t sl_reload_restart_keys(const sl_config *old, const sl_config *nw,
			      unsigned running_workers, char *out, size_t cap)
{
	static const struct {
		const char *key, *member, *name;
	} keys[] = {
		{"limits", "max_request_line", "limits.max_request_line"},
		{"limits", "max_header_size", "limits.max_header_size"},
		{"limits", "max_header_fields", "limits.max_header_fields"},
		{"limits", "buffer_size", "limits.buffer_size"},
		{"timeouts", "dns", "timeouts.dns"},
		{"cache", NULL, "cache"},
	};
	json_t *a = dump_json(old), *b = dump_json(nw);
	size_t used = 0, n = 0;
	char text[64];

	if (cap)
		out[0] = '\0';
	if (sl_config_workers(nw) != running_workers) {
		snprintf(text, sizeof text, "workers (%u running, %u configured)", running_workers,
			 sl_config_workers(nw));
		add_name(out, cap, &used, text);
		n++;
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (a && b && same_at(a, b, keys[i].key, keys[i].member))
			continue;
		add_name(out, cap, &used, keys[i].name);
		n++;
	}
	json_decref(a);
	json_decref(b);
	return n;
}

static bool same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Dumps hide passwords: compare the resolved secrets, upstream by name. */
static bool same_secrets(const sl_config *a, const sl_config *b)
{
	for (size_t i = 0; i < a->upstreams.n; i++) {
		const sl_conf_upstream *x = &a->upstreams.v[i];
		const sl_conf_upstream *y = sl_config_upstream(b, x->name);

		if (!y || x->has_auth != y->has_auth)
			return false;
		if (x->has_auth && !same_str(x->auth.password, y->auth.password))
			return false;
	}
	return a->upstreams.n == b->upstreams.n;
}

bool sl_reload_connect_rules_changed(const sl_config *a, const sl_config *b)
{
	static const char *const keys[] = {"acl",    "tls",    "upstreams",
					   "chains", "routes", "upstream_from_env"};
	json_t *x = dump_json(a), *y = dump_json(b);
	bool changed = !x || !y || !same_secrets(a, b);

	for (size_t i = 0; !changed && i < sizeof keys / sizeof keys[0]; i++)
		changed = !same_at(x, y, keys[i], NULL);
	json_decref(x);
	json_decref(y);
	return changed;
}

/* ---- building a snapshot ---- */

sl_snapshot *sl_reload_build_snapshot(sl_config *cfg, const sl_listen_set *pts, uint64_t gen,
				      char *err, size_t errlen)
{
	sl_addr own[SL_LISTEN_MAX_POINTS];
	uint16_t ports[SL_LISTEN_MAX_POINTS];
	size_t nown = 0;
	sl_tls_ctx_opts to;
	sl_tls_ctx *tls;
	sl_accesslog *alog;
	sl_snapshot *snap;
	int rc;

	memset(&to, 0, sizeof to);
	to.ca_file = cfg->tls.ca_file[0] ? cfg->tls.ca_file : NULL;
	to.ca_path = cfg->tls.ca_path[0] ? cfg->tls.ca_path : NULL;
	tls = sl_tls_ctx_new(&to, err, errlen);
	if (!tls) {
		sl_config_unref(cfg);
		return NULL;
	}
	alog = sl_accesslog_open(cfg->log.access, cfg->log.format, &rc);
	if (!alog) {
		snprintf(err, errlen, "cannot open the access log %s: %s", cfg->log.access,
			 sl_strerror(rc));
		sl_tls_ctx_unref(tls);
		sl_config_unref(cfg);
		return NULL;
	}
	for (size_t i = 0; i < pts->n; i++) {
		if (pts->v[i].unix_sock)
			continue;
		own[nown] = pts->v[i].addr;
		ports[nown++] = pts->v[i].port;
	}
	snap = sl_snapshot_new(cfg, tls, alog, own, ports, nown, gen);
	if (!snap)
		snprintf(err, errlen, "out of memory");
	return snap;
}

/* ---- the reload ---- */

/* What a reload prepares before it commits. */
struct prep {
	sl_config *cfg;               /* until the snapshot takes it */
	sl_listen_set *np;            /* the new listen set */
	int from_old[SL_LISTEN_MAX_POINTS]; /* per new point: its old index, or -1 */
	int in_new[SL_LISTEN_MAX_POINTS];   /* per old point: its new index, or -1 */
	int *fds;                     /* added TCP points: [point * nw + worker], -1 */
	sl_snapshot *snap;
};

static void prep_undo(struct prep *p, unsigned nw)
{
	if (p->np) {
		for (size_t i = 0; i < p->np->n; i++) {
			if (p->from_old[i] >= 0)
				continue;
			sl_bind_point_close(&p->np->v[i]);
			for (unsigned k = 0; p->fds && k < nw; k++)
				if (p->fds[i * nw + k] >= 0)
					close(p->fds[i * nw + k]);
		}
	}
	free(p->fds);
	free(p->np);
	sl_snapshot_unref(p->snap);
	sl_config_unref(p->cfg);
}

/* Opens the sockets of the points the running set lacks. */
static int open_added(sl_server_state *sv, struct prep *p, char *err, size_t errlen)
{
	unsigned nw = sv->nw;

	for (size_t i = 0; i < p->np->n; i++) {
		sl_bind_point *pt = &p->np->v[i];

		if (p->from_old[i] >= 0) {
			const sl_bind_point *o = &sv->points->v[p->from_old[i]];
			pt->id = o->id;
			pt->shared_fd = o->shared_fd;
			continue;
		}
		pt->id = sv->next_point_id++;
		if (pt->unix_sock) {
			if (sl_bind_point_open_unix(pt, err, errlen) < 0)
				return -1;
			continue;
		}
		if (sl_bind_point_probe(pt, err, errlen) < 0)
			return -1;
		for (unsigned k = 0; k < nw; k++) {
			p->fds[i * nw + k] = sl_bind_point_open_tcp(pt, err, errlen);
			if (p->fds[i * nw + k] < 0)
				return -1;
		}
	}
	return 0;
}

static int prepare(sl_server_state *sv, struct prep *p, char *err, size_t errlen)
{
	const sl_config *old = sv->snap->cfg;
	sl_config_error ce;
	int rc;

	rc = sl_config_load_file_ex(sv->conf_path, &p->cfg, &ce);
	if (rc < 0) {
		snprintf(err, errlen, "%s", ce.text);
		return rc;
	}
	p->np = calloc(1, sizeof *p->np);
	p->fds = malloc(SL_LISTEN_MAX_POINTS * (sv->nw ? sv->nw : 1) * sizeof *p->fds);
	if (!p->np || !p->fds) {
		snprintf(err, errlen, "%s: out of memory", sv->conf_path);
		return SL_E_NOMEM;
	}
	for (size_t i = 0; i < SL_LISTEN_MAX_POINTS * (size_t)(sv->nw ? sv->nw : 1); i++)
		p->fds[i] = -1;
	if (sl_listen_set_resolve(&p->cfg->listen, p->np, err, errlen) < 0)
		goto fail_named;
	sl_listen_set_diff(sv->points, p->np, p->from_old, p->in_new);
	if (open_added(sv, p, err, errlen) < 0)
		goto fail_named;
	p->snap = sl_reload_build_snapshot(p->cfg, p->np, sv->snap->generation + 1, err, errlen);
	p->cfg = NULL; /* the snapshot's, or released */
	if (!p->snap)
		goto fail_named;
	/* Last, as it cannot be undone: the error log moves. */
	if (!same_str(p->snap->cfg->log.error, old->log.error)) {
		const char *path = p->snap->cfg->log.error[0] ? p->snap->cfg->log.error : "/dev/null";
		rc = sl_log_open(path);
		if (rc < 0) {
			snprintf(err, errlen, "cannot open the error log %s: %s", path,
				 sl_strerror(rc));
			goto fail_named;
		}
	}
	return 0;
fail_named:
	{
		/* Name the file: these reasons do not. */
		char why[1024];
		size_t n = strnlen(err, errlen);
		int k;

		memcpy(why, err, n < sizeof why ? n : sizeof why - 1);
		why[n < sizeof why ? n : sizeof why - 1] = '\0';
		k = snprintf(err, errlen, "%s: ", sv->conf_path);
		if (k > 0 && (size_t)k < errlen)
			snprintf(err + k, errlen - (size_t)k, "%s", why);
	}
	return SL_E_CONF_VALUE;
}

/* Hands the snapshot and each worker's listener list to the workers. */
static void commit(sl_server_state *sv, struct prep *p, bool retire_upstream)
{
	sl_worker_listener ls[SL_LISTEN_MAX_POINTS];
	unsigned nw = sv->nw;

	for (unsigned k = 0; k < nw; k++) {
		for (size_t i = 0; i < p->np->n; i++) {
			const sl_bind_point *pt = &p->np->v[i];

			ls[i].id = pt->id;
			ls[i].shared = pt->unix_sock;
			if (p->from_old[i] >= 0)
				ls[i].fd = -1;
			else
				ls[i].fd = pt->unix_sock ? pt->shared_fd : p->fds[i * nw + k];
		}
		bool posted = sl_worker_update(sv->w[k], p->snap, ls, p->np->n, retire_upstream) == 0;

		if (!posted)
			SL_ERROR("reload: worker %u keeps the previous configuration: out of memory",
				 k);
		for (size_t i = 0; i < p->np->n; i++) {
			int *fd = &p->fds[i * nw + k];
			/* The worker's now, or of no use. */
			if (*fd >= 0 && !posted)
				close(*fd);
			*fd = -1;
		}
	}
}

/* Rewrites the pid file when its path changed. */
static void move_pid_file(sl_server_state *sv, const char *path)
{
	int rc;

	if (same_str(path, sv->pid_file))
		return;
	if (path[0]) {
		rc = sl_pidfile_write(path, getpid());
		if (rc < 0) {
			SL_WARN("reload: cannot write the pid file %s: %s", path, sl_strerror(rc));
			return;
		}
	}
	if (sv->pid_file[0])
		sl_pidfile_remove(sv->pid_file, getpid());
	snprintf(sv->pid_file, sizeof sv->pid_file, "%s", path);
}

enum sl_log_level sl_reload_log_level(sl_conf_log_level l)
{
	switch (l) {
	case SL_CONF_LOG_DEBUG:
		return SL_LOG_DEBUG;
	case SL_CONF_LOG_INFO:
		return SL_LOG_INFO;
	case SL_CONF_LOG_WARN:
		return SL_LOG_WARN;
	case SL_CONF_LOG_ERROR:
		return SL_LOG_ERROR;
	}
	return SL_LOG_INFO;
}

int sl_reload(sl_server_state *sv)
{
	struct prep p;
	sl_snapshot *old;
	sl_listen_set *oldset;
	char err[1536], restart[512];
	bool applied = true, retire_upstream;
	size_t nrestart;
	uint64_t gen;
	int rc;

	if (sv->stopping) {
		SL_WARN("reload ignored: the proxy is shutting down");
		return SL_E_INVAL;
	}
	memset(&p, 0, sizeof p);
	rc = prepare(sv, &p, err, sizeof err);
	if (rc < 0) {
		SL_ERROR("reload failed: %s; the running configuration stays", err);
		prep_undo(&p, sv->nw);
		return rc;
	}
	old = sv->snap;
	oldset = sv->points;
	gen = p.snap->generation;
	nrestart = sl_reload_restart_keys(old->cfg, p.snap->cfg, sv->nw, restart, sizeof restart);
	retire_upstream = sl_reload_connect_rules_changed(old->cfg, p.snap->cfg);

	commit(sv, &p, retire_upstream);
	sv->snap = p.snap;
	sv->sh.snap = p.snap;
	sv->points = p.np;
	p.snap = NULL;
	p.np = NULL;
	for (unsigned k = 0; k < sv->nw; k++) {
		if (!sl_worker_wait_applied(sv->w[k], gen, SL_RELOAD_APPLY_WAIT_MS)) {
			SL_WARN("reload: worker %u has not applied generation %llu after %u ms", k,
				(unsigned long long)gen, SL_RELOAD_APPLY_WAIT_MS);
			applied = false;
		}
	}
	for (size_t j = 0; j < oldset->n; j++) {
		sl_bind_point *pt = &oldset->v[j];

		if (p.in_new[j] >= 0)
			continue;
		SL_INFO("reload: no longer listening on %s", pt->label);
		if (!pt->unix_sock)
			continue;
		if (applied) {
			sl_bind_point_close(pt);
		} else {
			/* A worker may still watch it: stop new clients, keep the fd. */
			unlink(pt->path);
		}
	}
	for (size_t i = 0; i < sv->points->n; i++)
		if (p.from_old[i] < 0)
			SL_INFO("reload: now listening on %s", sv->points->v[i].label);
	free(oldset);
	prep_undo(&p, sv->nw); /* frees what the commit left: nothing but memory */

	move_pid_file(sv, sv->snap->cfg->pid_file);
	if (nrestart)
		SL_WARN("reload: changing %s needs a restart; the running value%s kept", restart,
			nrestart == 1 ? " is" : "s are");
	if (retire_upstream)
		SL_INFO("reload: routing, TLS or access rules changed: upstream connections "
			"made before are not reused");
	SL_INFO("reloaded %s (generation %llu)", sv->conf_path, (unsigned long long)gen);
	sl_log_set_level(sl_reload_log_level(sv->snap->cfg->log.level));
	sl_snapshot_unref(old);
	return 0;
}
