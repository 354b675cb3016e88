/*
 * A worker thread (see worker.h). The loop carries: one ev_io per listening
 * socket (accepting in a bounded loop until EAGAIN), the ev_async through
 * which the main thread posts commands, a back-off timer that pauses
 * accepting when the process runs out of descriptors, and while draining a
 * grace timer and a short check timer that ends the loop once no session
 * is left. Commands are bits in an atomic word: the async watcher carries
 * no data of its own. Configuration updates carry data, so they wait in a
 * queue under a mutex (libev's ev_async queues nothing), which the worker
 * empties in order when woken; after each it records the generation it
 * applied, which the main thread waits for.
 *
 * An update moves the environment to the new snapshot (sessions keep the
 * one they pinned), retunes the manager (connects and requests from now
 * on use the new TLS context, timeouts and channel limits; upstream
 * connections made so far are retired when the main thread says the rules
 * that chose them changed: idle ones close, busy ones after their exchange) and rebuilds the listener array: kept sockets keep their
 * fd and are only re-armed, removed ones are closed (shared ones
 * unwatched), new ones start accepting.
 */
#include "server/worker.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/manager.h"
#include "core/err.h"
#include "core/log.h"
#include "server/health.h"
#include "server/listen.h"
#include "server/session.h"

#define WORKER_MAGIC 0x574f524bu /* "WORK" */
#define ACCEPTS_PER_EVENT 64
#define BACKOFF_S 0.1
#define DRAIN_CHECK_S 0.05

enum {
	CMD_DRAIN = 1u << 0,
	CMD_STOP = 1u << 1,
	CMD_UPDATE = 1u << 2,
};

struct listener {
	int fd;
	bool shared;
	uint64_t id;
	ev_io io;
	sl_worker *w;
};

/* A posted configuration update (see sl_worker_update). */
struct update {
	struct update *next;
	sl_snapshot *snap;            /* one reference, the worker's once applied */
	sl_worker_listener *ls;
	size_t nls;
	bool retire_upstream;
};

struct sl_worker {
	uint32_t magic;
	int id;
	pthread_t thread;
	bool started;
	struct ev_loop *loop;
	ev_async wake;
	ev_timer backoff;
	ev_timer grace;
	ev_timer check;
	atomic_uint cmds;
	atomic_bool finished;
	struct listener *ls;
	size_t nls;
	bool listening;
	bool draining;
	const sl_server_shared *sh;
	pthread_mutex_t lock;         /* the update queue and applied */
	pthread_cond_t applied_cond;
	struct update *uhead, *utail;
	uint64_t applied;             /* generation of the last applied update */
	sl_dns *dns;
	sl_manager *manager;
	sl_session_env env;
	sl_worker_stats stats;
	ev_tstamp emfile_logged;
};

static void listeners_set(sl_worker *w, bool on)
{
	for (size_t i = 0; i < w->nls; i++) {
		if (w->ls[i].fd < 0)
			continue;
		if (on)
			ev_io_start(w->loop, &w->ls[i].io);
		else
			ev_io_stop(w->loop, &w->ls[i].io);
	}
	w->listening = on;
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	struct listener *l = io->data;
	sl_worker *w = l->w;

	(void)loop;
	(void)revents;
	for (int i = 0; i < ACCEPTS_PER_EVENT && w->listening; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = sl_listen_accept(l->fd, &ss, &len);

		if (fd == -EAGAIN)
			break;
		if (fd == -EINTR || fd == -ECONNABORTED || fd == -EPROTO)
			continue;
		if (fd < 0) {
			ev_tstamp now = ev_now(w->loop);
			if (now - w->emfile_logged >= 1.0) {
				w->emfile_logged = now;
				SL_WARN("accept failed: %s; pausing accepts for %.0f ms",
					sl_strerror(fd), BACKOFF_S * 1000);
			}
			listeners_set(w, false);
			ev_timer_set(&w->backoff, BACKOFF_S, 0.);
			ev_timer_start(w->loop, &w->backoff);
			return;
		}
		w->stats.accepted++;
		(void)sl_session_start(&w->env, fd, (struct sockaddr *)&ss, (unsigned)len);
	}
}

static void on_backoff(struct ev_loop *loop, ev_timer *t, int revents)
{
	sl_worker *w = t->data;

	(void)loop;
	(void)revents;
	if (!w->draining)
		listeners_set(w, true);
}

static void close_listeners(sl_worker *w)
{
	if (w->loop)
		listeners_set(w, false);
	for (size_t i = 0; i < w->nls; i++) {
		if (w->ls[i].fd >= 0 && !w->ls[i].shared)
			close(w->ls[i].fd);
		w->ls[i].fd = -1;
	}
}

static void finish(sl_worker *w)
{
	ev_timer_stop(w->loop, &w->grace);
	ev_timer_stop(w->loop, &w->check);
	sl_session_close_all(&w->env);
	ev_break(w->loop, EVBREAK_ALL);
}

static void on_grace(struct ev_loop *loop, ev_timer *t, int revents)
{
	sl_worker *w = t->data;

	(void)loop;
	(void)revents;
	if (sl_session_count(&w->env))
		SL_INFO("grace period over: closing %u connections", sl_session_count(&w->env));
	finish(w);
}

static void on_check(struct ev_loop *loop, ev_timer *t, int revents)
{
	sl_worker *w = t->data;

	(void)loop;
	(void)revents;
	if (sl_session_count(&w->env) == 0)
		finish(w);
}

static void drain(sl_worker *w)
{
	uint64_t grace = w->env.cfg->timeouts.shutdown_grace_ms;

	if (w->draining)
		return;
	w->draining = true;
	w->env.draining = true;
	ev_timer_stop(w->loop, &w->backoff);
	close_listeners(w);
	sl_session_drain(&w->env);
	if (grace == 0 || sl_session_count(&w->env) == 0) {
		finish(w);
		return;
	}
	ev_timer_set(&w->grace, (ev_tstamp)grace / 1000., 0.);
	ev_timer_start(w->loop, &w->grace);
	ev_timer_set(&w->check, DRAIN_CHECK_S, DRAIN_CHECK_S);
	ev_timer_start(w->loop, &w->check);
}

/* ---- configuration updates ---- */

static void free_update(struct update *u)
{
	for (size_t i = 0; i < u->nls; i++)
		if (u->ls[i].fd >= 0 && !u->ls[i].shared)
			close(u->ls[i].fd);
	sl_snapshot_unref(u->snap);
	free(u->ls);
	free(u);
}

/* The sessions a worker takes at once: its share of the configured limit. */
static unsigned share_of(const sl_worker *w, const sl_config *cfg)
{
	unsigned n = w->sh->nworkers, per;

	per = n ? cfg->limits.max_connections / n : cfg->limits.max_connections;
	return per ? per : 1;
}

/* The client stack's options from a configuration (what sl_manager_new()
 * and sl_manager_reconfigure() take). */
static void manager_opts(sl_worker *w, const sl_config *cfg, sl_tls_ctx *tls,
			 sl_manager_opts *mo)
{
	sl_manager_opts_init(mo);
	mo->connect = sl_forward_connect;
	mo->cancel = sl_forward_connect_cancel;
	mo->connect_opts.dns = w->dns;
	mo->connect_opts.tls = tls;
	mo->connect_opts.tls_verify = cfg->tls.verify;
	/* sl_forward_connect() reads the env here and gives each connect its
	 * own destination check (sl_acl_check_dest takes an sl_acl_dest). */
	mo->connect_opts.check_arg = &w->env;
	mo->max_channels = cfg->limits.max_channels;
	mo->max_idle_per_host = cfg->limits.max_channels > 8 ? cfg->limits.max_channels : 8;
	mo->idle_timeout_ms = cfg->timeouts.upstream_idle_ms;
	mo->connect_timeout_ms = cfg->timeouts.connect_ms;
	mo->first_byte_timeout_ms = cfg->timeouts.first_byte_ms;
	mo->read_timeout_ms = cfg->timeouts.first_byte_ms;
	mo->read_buffer_max = (size_t)cfg->limits.buffer_size;
	mo->user_agent = "";
	mo->auth_cache = w->sh->auth;
	mo->route_event = sl_health_route_event;
	mo->route_event_arg = &w->env;
}

/* Rebuilds the listener array from the update's list (see worker.h). The
 * array is new, so every watcher is stopped first and armed again after:
 * kept sockets are not closed, only re-armed. */
static void apply_listeners(sl_worker *w, struct update *u)
{
	struct listener *arr;
	bool on = w->listening;

	if (w->draining)
		return; /* nothing accepts any more; free_update closes new fds */
	arr = calloc(u->nls ? u->nls : 1, sizeof *arr);
	if (!arr) {
		SL_ERROR("worker %d: out of memory: its listening sockets stay as they were",
			 w->id);
		return;
	}
	listeners_set(w, false);
	for (size_t i = 0; i < u->nls; i++) {
		struct listener *l = &arr[i];

		l->id = u->ls[i].id;
		l->w = w;
		l->fd = -1;
		if (u->ls[i].fd >= 0) {
			l->fd = u->ls[i].fd;
			l->shared = u->ls[i].shared;
			u->ls[i].fd = -1; /* taken over */
		} else {
			for (size_t j = 0; j < w->nls; j++) {
				if (w->ls[j].id == l->id && w->ls[j].fd >= 0) {
					l->fd = w->ls[j].fd;
					l->shared = w->ls[j].shared;
					w->ls[j].fd = -1; /* moved */
					break;
				}
			}
		}
		ev_io_init(&l->io, on_accept, l->fd, EV_READ);
		l->io.data = l;
	}
	/* What is left in the old array was removed: it stops accepting now;
	 * connections it accepted are sessions and go on. */
	for (size_t j = 0; j < w->nls; j++)
		if (w->ls[j].fd >= 0 && !w->ls[j].shared)
			close(w->ls[j].fd);
	free(w->ls);
	w->ls = arr;
	w->nls = u->nls;
	if (on)
		listeners_set(w, true);
}

static void apply_update(sl_worker *w, struct update *u)
{
	sl_snapshot *snap = u->snap;
	sl_manager_opts mo;
	uint64_t gen = snap->generation;
	double loaded = snap->loaded_at;

	u->snap = NULL;
	apply_listeners(w, u);
	if (sl_snap_env_switch(&w->env, snap) < 0) {
		SL_ERROR("worker %d: out of memory: it keeps the previous configuration", w->id);
		return;
	}
	w->stats.config_generation = gen;
	w->stats.config_loaded = loaded;
	w->env.max_sessions = share_of(w, w->env.cfg);
	manager_opts(w, w->env.cfg, w->env.tls, &mo);
	sl_manager_reconfigure(w->manager, &mo);
	if (u->retire_upstream)
		sl_manager_expire_connections(w->manager);
}

/* Applies the queued updates in order, telling the main thread after each. */
static void run_updates(sl_worker *w)
{
	for (;;) {
		struct update *u;
		uint64_t gen;

		pthread_mutex_lock(&w->lock);
		u = w->uhead;
		if (u) {
			w->uhead = u->next;
			if (!w->uhead)
				w->utail = NULL;
		}
		pthread_mutex_unlock(&w->lock);
		if (!u)
			return;
		gen = u->snap->generation;
		apply_update(w, u);
		free_update(u);
		pthread_mutex_lock(&w->lock);
		if (gen > w->applied)
			w->applied = gen;
		pthread_cond_broadcast(&w->applied_cond);
		pthread_mutex_unlock(&w->lock);
	}
}

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
	sl_worker *w = a->data;
	unsigned cmds = atomic_exchange(&w->cmds, 0);

	(void)loop;
	(void)revents;
	if (cmds & CMD_UPDATE)
		run_updates(w);
	if (cmds & CMD_STOP) {
		w->draining = true;
		w->env.draining = true;
		close_listeners(w);
		finish(w);
		return;
	}
	if (cmds & CMD_DRAIN)
		drain(w);
}

static void *run(void *arg)
{
	sl_worker *w = arg;
	char name[16];

	snprintf(name, sizeof name, "w%d", w->id);
	sl_log_set_thread_name(name);
	listeners_set(w, true);
	ev_run(w->loop, 0);
	/* The loop ended: close what is left on this thread. */
	sl_session_close_all(&w->env);
	close_listeners(w);
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->finished, true);
	pthread_cond_broadcast(&w->applied_cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

sl_worker *sl_worker_new(int id, const sl_server_shared *sh, const sl_worker_listener *ls,
			 size_t nls, char *err, size_t errlen)
{
	sl_worker *w = calloc(1, sizeof *w);
	const sl_config *cfg;
	sl_dns_opts dopts;
	sl_manager_opts mo;

	if (!w) {
		snprintf(err, errlen, "out of memory");
		goto fail_fds;
	}
	w->magic = WORKER_MAGIC;
	w->id = id;
	w->sh = sh;
	atomic_init(&w->cmds, 0);
	atomic_init(&w->finished, false);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->applied_cond, NULL);
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	w->ls = calloc(nls ? nls : 1, sizeof *w->ls);
	if (!w->loop || !w->ls) {
		snprintf(err, errlen, "cannot create the event loop of worker %d", id);
		free(w->ls);
		w->ls = NULL;
		sl_worker_free(w);
		goto fail_fds;
	}
	w->nls = nls;
	for (size_t i = 0; i < nls; i++) {
		w->ls[i].fd = ls[i].fd;
		w->ls[i].shared = ls[i].shared;
		w->ls[i].id = ls[i].id;
		w->ls[i].w = w;
		ev_io_init(&w->ls[i].io, on_accept, ls[i].fd, EV_READ);
		w->ls[i].io.data = &w->ls[i];
	}
	ev_async_init(&w->wake, on_wake);
	w->wake.data = w;
	ev_async_start(w->loop, &w->wake);
	ev_init(&w->backoff, on_backoff);
	w->backoff.data = w;
	ev_init(&w->grace, on_grace);
	w->grace.data = w;
	ev_init(&w->check, on_check);
	w->check.data = w;

	/* The environment first: the manager's connector reads it. */
	w->env.loop = w->loop;
	w->env.worker_id = id;
	w->env.via_name = sh->via_name;
	w->env.cache = sh->cache;
	w->env.stats = &w->stats;
	w->env.health = sh->health;
	if (sl_snap_env_init(&w->env, sl_snapshot_ref(sh->snap)) < 0) {
		snprintf(err, errlen, "out of memory for worker %d", id);
		goto fail;
	}
	cfg = w->env.cfg;
	w->env.max_sessions = share_of(w, cfg);
	w->applied = sh->snap->generation;
	w->stats.config_generation = sh->snap->generation;
	w->stats.config_loaded = sh->snap->loaded_at;

	memset(&dopts, 0, sizeof dopts);
	dopts.timeout_ms = cfg->timeouts.dns_ms;
	w->dns = sl_dns_new(w->loop, sh->dns_cache, &dopts);
	if (!w->dns) {
		snprintf(err, errlen, "cannot start the resolver of worker %d", id);
		goto fail;
	}
	w->env.dns = w->dns;

	manager_opts(w, cfg, w->env.tls, &mo);
	w->manager = sl_manager_new(w->loop, &mo);
	if (!w->manager) {
		snprintf(err, errlen, "cannot create the client stack of worker %d", id);
		goto fail;
	}
	w->env.manager = w->manager;
	if (sl_session_env_init(&w->env) < 0) {
		snprintf(err, errlen, "out of memory for worker %d", id);
		goto fail;
	}
	return w;
fail:
	sl_worker_free(w);
	return NULL;
fail_fds:
	for (size_t i = 0; i < nls; i++)
		if (!ls[i].shared)
			close(ls[i].fd);
	return NULL;
}

int sl_worker_start(sl_worker *w)
{
	int rc = pthread_create(&w->thread, NULL, run, w);

	if (rc != 0)
		return -rc;
	w->started = true;
	return 0;
}

static void post(sl_worker *w, unsigned cmd)
{
	atomic_fetch_or(&w->cmds, cmd);
	ev_async_send(w->loop, &w->wake);
}

void sl_worker_drain(sl_worker *w)
{
	post(w, CMD_DRAIN);
}

void sl_worker_stop_now(sl_worker *w)
{
	post(w, CMD_STOP);
}

int sl_worker_update(sl_worker *w, sl_snapshot *snap, const sl_worker_listener *ls, size_t nls,
		     bool retire_upstream)
{
	struct update *u = calloc(1, sizeof *u);

	assert(w->magic == WORKER_MAGIC);
	if (!u)
		return SL_E_NOMEM;
	u->ls = calloc(nls ? nls : 1, sizeof *u->ls);
	if (!u->ls) {
		free(u);
		return SL_E_NOMEM;
	}
	if (nls)
		memcpy(u->ls, ls, nls * sizeof *ls);
	u->nls = nls;
	u->snap = sl_snapshot_ref(snap);
	u->retire_upstream = retire_upstream;
	pthread_mutex_lock(&w->lock);
	if (w->utail)
		w->utail->next = u;
	else
		w->uhead = u;
	w->utail = u;
	pthread_mutex_unlock(&w->lock);
	post(w, CMD_UPDATE);
	return 0;
}

bool sl_worker_wait_applied(sl_worker *w, uint64_t gen, unsigned timeout_ms)
{
	struct timespec dl;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (w->applied < gen && !atomic_load(&w->finished))
		if (pthread_cond_timedwait(&w->applied_cond, &w->lock, &dl) == ETIMEDOUT)
			break;
	ok = w->applied >= gen || atomic_load(&w->finished);
	pthread_mutex_unlock(&w->lock);
	return ok;
}

bool sl_worker_finished(const sl_worker *w)
{
	return atomic_load(&((sl_worker *)w)->finished);
}

void sl_worker_join(sl_worker *w)
{
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = false;
	}
}

const sl_worker_stats *sl_worker_stats_of(const sl_worker *w)
{
	return &w->stats;
}

void sl_worker_free(sl_worker *w)
{
	if (!w)
		return;
	assert(w->magic == WORKER_MAGIC && !w->started);
	if (w->env.ctx)
		sl_session_close_all(&w->env);
	/* The manager's pending connects pin snapshot holds: it goes first. */
	if (w->manager)
		sl_manager_free(w->manager);
	/* Also releases the snapshot holds when the session state never came. */
	sl_session_env_free(&w->env);
	while (w->uhead) {
		struct update *u = w->uhead;
		w->uhead = u->next;
		free_update(u);
	}
	if (w->dns)
		sl_dns_free(w->dns);
	if (w->ls) {
		close_listeners(w);
		free(w->ls);
	}
	if (w->loop) {
		ev_async_stop(w->loop, &w->wake);
		ev_loop_destroy(w->loop);
	}
	pthread_cond_destroy(&w->applied_cond);
	pthread_mutex_destroy(&w->lock);
	w->magic = 0;
	free(w);
}
