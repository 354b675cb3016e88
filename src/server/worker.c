/*
 * A worker thread (see worker.h). The loop carries: one ev_io per listening
 * socket (accepting in a bounded loop until EAGAIN), the ev_async through
 * which the main thread posts commands, a back-off timer that pauses
 * accepting when the process runs out of descriptors, and while draining a
 * grace timer and a short check timer that ends the loop once no session
 * is left. Commands are bits in an atomic word: the async watcher carries
 * no data of its own.
 */
#include "server/worker.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/manager.h"
#include "core/err.h"
#include "core/log.h"
#include "server/listen.h"
#include "server/session.h"

#define WORKER_MAGIC 0x574f524bu /* "WORK" */
#define ACCEPTS_PER_EVENT 64
#define BACKOFF_S 0.1
#define DRAIN_CHECK_S 0.05

enum {
	CMD_DRAIN = 1u << 0,
	CMD_STOP = 1u << 1,
};

struct listener {
	int fd;
	bool shared;
	ev_io io;
	sl_worker *w;
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
	uint64_t grace = w->sh->cfg->timeouts.shutdown_grace_ms;

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

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
	sl_worker *w = a->data;
	unsigned cmds = atomic_exchange(&w->cmds, 0);

	(void)loop;
	(void)revents;
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
	atomic_store(&w->finished, true);
	return NULL;
}

sl_worker *sl_worker_new(int id, const sl_server_shared *sh, const sl_worker_listener *ls,
			 size_t nls, char *err, size_t errlen)
{
	const sl_config *cfg = sh->cfg;
	sl_worker *w = calloc(1, sizeof *w);
	sl_dns_opts dopts;
	sl_manager_opts mo;
	unsigned per;

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->magic = WORKER_MAGIC;
	w->id = id;
	w->sh = sh;
	atomic_init(&w->cmds, 0);
	atomic_init(&w->finished, false);
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	w->ls = calloc(nls ? nls : 1, sizeof *w->ls);
	if (!w->loop || !w->ls) {
		snprintf(err, errlen, "cannot create the event loop of worker %d", id);
		goto fail;
	}
	w->nls = nls;
	for (size_t i = 0; i < nls; i++) {
		w->ls[i].fd = ls[i].fd;
		w->ls[i].shared = ls[i].shared;
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

	memset(&dopts, 0, sizeof dopts);
	dopts.timeout_ms = cfg->timeouts.dns_ms;
	w->dns = sl_dns_new(w->loop, sh->dns_cache, &dopts);
	if (!w->dns) {
		snprintf(err, errlen, "cannot start the resolver of worker %d", id);
		goto fail;
	}

	/* The environment first: the manager's connector reads it. */
	per = sh->nworkers ? cfg->limits.max_connections / sh->nworkers : cfg->limits.max_connections;
	w->env.loop = w->loop;
	w->env.worker_id = id;
	w->env.cfg = cfg;
	w->env.dns = w->dns;
	w->env.tls = sh->tls;
	w->env.cache = sh->cache;
	w->env.own_addrs = sh->own_addrs;
	w->env.own_ports = sh->own_ports;
	w->env.n_own_addrs = sh->n_own;
	w->env.via_name = sh->via_name;
	w->env.max_sessions = per ? per : 1;
	w->env.access_log = sh->access_log;
	w->env.access_arg = sh->access_arg;
	w->env.stats = &w->stats;

	sl_manager_opts_init(&mo);
	mo.connect = sl_forward_connect;
	mo.cancel = sl_forward_connect_cancel;
	mo.connect_opts.dns = w->dns;
	mo.connect_opts.tls = sh->tls;
	mo.connect_opts.tls_verify = cfg->tls.verify;
	/* sl_forward_connect() reads the env here and gives each connect its
	 * own destination check (sl_acl_check_dest takes an sl_acl_dest). */
	mo.connect_opts.check_arg = &w->env;
	mo.max_channels = cfg->limits.max_channels;
	mo.max_idle_per_host = cfg->limits.max_channels > 8 ? cfg->limits.max_channels : 8;
	mo.idle_timeout_ms = cfg->timeouts.upstream_idle_ms;
	mo.connect_timeout_ms = cfg->timeouts.connect_ms;
	mo.first_byte_timeout_ms = cfg->timeouts.first_byte_ms;
	mo.read_timeout_ms = cfg->timeouts.first_byte_ms;
	mo.read_buffer_max = (size_t)cfg->limits.buffer_size;
	mo.user_agent = "";
	mo.auth_cache = sh->auth;
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
	if (w->env.ctx) {
		sl_session_close_all(&w->env);
		sl_session_env_free(&w->env);
	}
	if (w->manager)
		sl_manager_free(w->manager);
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
	w->magic = 0;
	free(w);
}
