/*
 * The sluice binary: command-line options, configuration checking (-t,
 * -T), route inspection (--route, route_show.c), and the proxy server
 * itself. Start-up runs on the main thread and may
 * block (it reads the trust store, resolves listen names, binds): it loads
 * the configuration, opens the error and access logs, builds what every
 * worker shares (TLS context, DNS cache, credential cache, the disk cache
 * when cache.dir is set), opens every
 * listening socket (one per worker and TCP address, SO_REUSEPORT; one per
 * unix path), starts the workers, writes the pid file (pid_file) and logs
 * "listening on ...". The main thread then only waits for signals: SIGTERM
 * and SIGINT drain the workers (a second one closes everything at once),
 * SIGUSR1 reopens the logs, SIGHUP reloads the configuration (reload.c),
 * SIGPIPE is ignored. Every signal is blocked in all threads and taken with
 * sigtimedwait(), so no handler runs inside a worker.
 *
 * `sluice -s reload|stop -c FILE` sends SIGHUP or SIGTERM to the process
 * named by the pid file FILE sets.
 *
 * Exit codes: 0 success (also after a drain), 1 invalid configuration, a
 * start-up failure or (-s) no running instance, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/store.h"
#include "client/auth_cache.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/version.h"
#include "engines/dns.h"
#include "engines/tls.h"
#include "server/accesslog.h"
#include "server/health.h"
#include "server/listen_set.h"
#include "server/message.h"
#include "server/pidfile.h"
#include "server/reload.h"
#include "server/route_show.h"
#include "server/worker.h"

#define DEFAULT_CONF "/etc/sluice/sluice.json"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice [-c FILE] [-t | -T | -s reload|stop | --route URL [--method M]]\n"
		"\n"
		"A forward caching HTTP proxy.\n"
		"\n"
		"  -c, --config FILE   configuration file (default " DEFAULT_CONF ")\n"
		"  -t, --test          check the configuration and exit (0 valid, 1 not)\n"
		"  -T, --dump          check the configuration, print the effective\n"
		"                      configuration as JSON and exit\n"
		"  -s, --signal SIG    reload: make the running sluice reload FILE\n"
		"                      (SIGHUP); stop: make it drain and exit\n"
		"                      (SIGTERM). It is found through the pid file\n"
		"                      that FILE's pid_file names\n"
		"      --route URL     print the route rule a request for URL matches and\n"
		"                      the hops it would take, then exit (a CONNECT takes\n"
		"                      host:port with --method CONNECT)\n"
		"      --method M      the request's method for --route (default GET)\n"
		"  -h, --help          print this help\n"
		"  -V, --version       print the version\n"
		"\n"
		"Without -t, -T or -s, sluice runs the proxy until SIGTERM or SIGINT;\n"
		"SIGHUP reloads the configuration, SIGUSR1 reopens the logs.\n"
		"Errors name the file, the line and the JSON path, for example\n"
		"  conf/x.json:12: cache.max_size: expected a size like \"10GiB\", got -3\n"
		"The configuration reference is docs/config.md; running the proxy is\n"
		"described in docs/operations.md.\n");
}

static void close_points(sl_server_state *sv)
{
	if (!sv->points)
		return;
	for (size_t i = 0; i < sv->points->n; i++)
		sl_bind_point_close(&sv->points->v[i]);
}

/* Opens every socket and starts the workers. */
static int start_workers(sl_server_state *sv, char *err, size_t errlen)
{
	sl_worker_listener ls[SL_LISTEN_MAX_POINTS];
	sl_listen_set *pts = sv->points;
	unsigned n = sl_config_workers(sv->snap->cfg);

	for (size_t i = 0; i < pts->n; i++) {
		sl_bind_point *p = &pts->v[i];
		p->id = sv->next_point_id++;
		if (p->unix_sock) {
			if (sl_bind_point_open_unix(p, err, errlen) < 0)
				return -1;
		} else if (sl_bind_point_probe(p, err, errlen) < 0) {
			return -1;
		}
	}
	sv->w = calloc(n, sizeof *sv->w);
	if (!sv->w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sv->sh.nworkers = n;
	for (unsigned k = 0; k < n; k++) {
		for (size_t i = 0; i < pts->n; i++) {
			const sl_bind_point *p = &pts->v[i];
			ls[i].id = p->id;
			ls[i].shared = p->unix_sock;
			if (p->unix_sock) {
				ls[i].fd = p->shared_fd;
				continue;
			}
			ls[i].fd = sl_bind_point_open_tcp(p, err, errlen);
			if (ls[i].fd < 0) {
				for (size_t j = 0; j < i; j++)
					if (!ls[j].shared)
						close(ls[j].fd);
				return -1;
			}
		}
		sv->w[k] = sl_worker_new((int)k, &sv->sh, ls, pts->n, err, errlen);
		if (!sv->w[k])
			return -1;
		sv->nw++;
	}
	for (unsigned k = 0; k < sv->nw; k++) {
		int rc = sl_worker_start(sv->w[k]);
		if (rc < 0) {
			snprintf(err, errlen, "cannot start worker %u: %s", k, sl_strerror(rc));
			return -1;
		}
	}
	return 0;
}

static void stop_workers(sl_server_state *sv)
{
	for (unsigned k = 0; k < sv->nw; k++)
		sl_worker_stop_now(sv->w[k]);
	for (unsigned k = 0; k < sv->nw; k++) {
		sl_worker_join(sv->w[k]);
		sl_worker_free(sv->w[k]);
	}
	free(sv->w);
	sv->w = NULL;
	sv->nw = 0;
}

/* Builds what the workers share: the first snapshot, the caches, the Via
 * name. Takes over the reference on cfg. */
static int build_shared(sl_server_state *sv, sl_config *cfg, char *err, size_t errlen)
{
	char host[256] = "";
	uint16_t port = 0;

	sv->points = calloc(1, sizeof *sv->points);
	if (!sv->points) {
		sl_config_unref(cfg);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sl_listen_set_resolve(&cfg->listen, sv->points, err, errlen) < 0) {
		sl_config_unref(cfg);
		return -1;
	}
	sv->snap = sl_reload_build_snapshot(cfg, sv->points, 1, err, errlen);
	if (!sv->snap)
		return -1;
	sv->dcache = sl_dns_cache_new(4096);
	sv->auth = sl_auth_cache_new(0);
	sv->health = sl_health_new();
	if (!sv->dcache || !sv->auth || !sv->health) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sv->snap->cfg->cache.dir[0]) {
		/* One cache for the process, shared by every worker (a reload
		 * keeps it: cache.* needs a restart); its index is rebuilt in the
		 * background while the proxy serves. */
		const sl_conf_cache *cc = &sv->snap->cfg->cache;
		sl_cache_opts co = {
			.dir = cc->dir,
			.max_size = cc->max_size,
			.max_object_size = cc->max_object_size,
			.memory = cc->memory,
		};
		int rc = sl_cache_open(&co, &sv->sh.cache);

		if (rc < 0) {
			sv->sh.cache = NULL;
			snprintf(err, errlen, "cannot open the cache at %s (cache.dir): %s", cc->dir,
				 sl_strerror(rc));
			return -1;
		}
	}
	for (size_t i = 0; i < sv->points->n && !port; i++)
		if (!sv->points->v[i].unix_sock)
			port = sv->points->v[i].port;
	if (gethostname(host, sizeof host - 1) < 0)
		host[0] = '\0';
	if (!sl_msg_via_name(host, port, sv->via, sizeof sv->via))
		snprintf(sv->via, sizeof sv->via, "sluice");
	sv->sh.snap = sv->snap;
	sv->sh.dns_cache = sv->dcache;
	sv->sh.auth = sv->auth;
	sv->sh.via_name = sv->via;
	sv->sh.health = sv->health;
	return 0;
}

static void free_shared(sl_server_state *sv)
{
	/* After the workers: nothing writes to the cache any more. */
	if (sv->sh.cache) {
		sl_cache_close(sv->sh.cache);
		sv->sh.cache = NULL;
	}
	sl_snapshot_unref(sv->snap);
	sv->snap = NULL;
	if (sv->dcache)
		sl_dns_cache_free(sv->dcache);
	if (sv->auth)
		sl_auth_cache_free(sv->auth);
	free(sv->points);
	sv->points = NULL;
	sl_health_free(sv->health);
	sv->health = NULL;
}

static bool all_finished(const sl_server_state *sv)
{
	for (unsigned k = 0; k < sv->nw; k++)
		if (!sl_worker_finished(sv->w[k]))
			return false;
	return true;
}

/* Waits for signals until every worker has ended after a drain. */
static void signal_loop(sl_server_state *sv, const sigset_t *set)
{
	for (;;) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		siginfo_t info;
		int sig;

		if (sv->stopping && all_finished(sv))
			return;
		sig = sigtimedwait(set, &info, &ts);
		if (sig < 0)
			continue;   /* EAGAIN (timeout) or EINTR */
		switch (sig) {
		case SIGTERM:
		case SIGINT:
			if (!sv->stopping) {
				char g[32];
				sl_format_duration(sv->snap->cfg->timeouts.shutdown_grace_ms, g, sizeof g);
				SL_INFO("%s: no new connections; requests in progress have %s to finish",
					sig == SIGTERM ? "SIGTERM" : "SIGINT", g);
				for (unsigned k = 0; k < sv->nw; k++)
					sl_worker_drain(sv->w[k]);
				sv->stopping = true;
			} else {
				SL_INFO("%s again: closing every connection now",
					sig == SIGTERM ? "SIGTERM" : "SIGINT");
				for (unsigned k = 0; k < sv->nw; k++)
					sl_worker_stop_now(sv->w[k]);
			}
			break;
		case SIGUSR1: {
			int a = sl_accesslog_reopen(sv->snap->alog), e = sl_log_reopen();
			if (a < 0 || e < 0)
				SL_WARN("SIGUSR1: reopening the logs failed: access log %s, error log %s",
					sl_strerror(a), sl_strerror(e));
			else
				SL_INFO("SIGUSR1: logs reopened");
			break;
		}
		case SIGHUP:
			SL_INFO("SIGHUP: reloading %s", sv->conf_path);
			(void)sl_reload(sv);
			break;
		default:
			break;
		}
	}
}

/* Writes the pid file the configuration names, if any. */
static int write_pid(sl_server_state *sv, char *err, size_t errlen)
{
	const char *path = sv->snap->cfg->pid_file;
	int rc;

	if (!path[0])
		return 0;
	rc = sl_pidfile_write(path, getpid());
	if (rc < 0) {
		snprintf(err, errlen, "cannot write the pid file %s: %s", path, sl_strerror(rc));
		return -1;
	}
	snprintf(sv->pid_file, sizeof sv->pid_file, "%s", path);
	return 0;
}

/* Reads pid_file from a configuration that does not load as a whole (so
 * that -s stop still finds the process after the file was broken). */
static bool lenient_pid_file(const char *conf, char *path, size_t cap)
{
	json_t *root = json_load_file(conf, 0, NULL);
	json_t *v = json_object_get(root, "pid_file");
	bool ok = json_is_string(v);

	if (ok)
		snprintf(path, cap, "%s", json_string_value(v));
	json_decref(root);
	return ok;
}

/*
 * sluice -s reload|stop: signals the instance whose pid file the
 * configuration names. Returns the exit code.
 */
static int signal_instance(const char *conf, const char *what)
{
	sl_config *cfg = NULL;
	char err[1024], path[4096];
	int sig = strcmp(what, "reload") == 0 ? SIGHUP : SIGTERM;
	pid_t pid;
	int rc;

	if (sl_config_load_file(conf, &cfg, err, sizeof err) == 0) {
		snprintf(path, sizeof path, "%s", cfg->pid_file);
		sl_config_unref(cfg);
	} else if (sig == SIGHUP || !lenient_pid_file(conf, path, sizeof path)) {
		/* A reload of an invalid file would fail anyway: say why here. */
		fprintf(stderr, "%s\n", err);
		fprintf(stderr, "sluice: not sending %s: the configuration is invalid\n",
			sig == SIGHUP ? "SIGHUP" : "SIGTERM");
		return 1;
	}
	if (!path[0]) {
		fprintf(stderr,
			"sluice: %s sets no pid_file, so the running sluice cannot be found; "
			"set pid_file, or send %s to its process\n",
			conf, sig == SIGHUP ? "SIGHUP" : "SIGTERM");
		return 1;
	}
	rc = sl_pidfile_read(path, &pid);
	if (rc == -ENOENT) {
		fprintf(stderr, "sluice: no pid file %s: is sluice running with %s?\n", path, conf);
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "sluice: cannot read the pid file %s: %s\n", path,
			rc == SL_E_INVAL ? "it holds no process id" : sl_strerror(rc));
		return 1;
	}
	if (kill(pid, sig) < 0) {
		if (errno == ESRCH)
			fprintf(stderr,
				"sluice: no process %ld (from the pid file %s): sluice is not "
				"running\n",
				(long)pid, path);
		else
			fprintf(stderr, "sluice: cannot signal process %ld (from %s): %s\n",
				(long)pid, path, strerror(errno));
		return 1;
	}
	return 0;
}

static int serve(const char *conf, sl_config *cfg)
{
	sl_server_state sv;
	sigset_t set;
	char err[1024] = "", where[2048];
	bool to_stderr;
	int rc;

	memset(&sv, 0, sizeof sv);
	sv.conf_path = conf;
	sv.next_point_id = 1;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	/* Blocked here, so inherited by every worker thread. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	sl_log_set_thread_name("main");
	sl_log_set_level(sl_reload_log_level(cfg->log.level));
	rc = sl_log_open(cfg->log.error[0] ? cfg->log.error : "/dev/null");
	if (rc < 0) {
		fprintf(stderr, "sluice: cannot open the error log %s: %s\n", cfg->log.error,
			sl_strerror(rc));
		sl_config_unref(cfg);
		return 1;
	}
	to_stderr = cfg->log.error[0] && strcmp(cfg->log.error, "-") != 0;
	if (build_shared(&sv, cfg, err, sizeof err) < 0 ||
	    start_workers(&sv, err, sizeof err) < 0 || write_pid(&sv, err, sizeof err) < 0) {
		SL_ERROR("%s", err);
		if (to_stderr)
			fprintf(stderr, "sluice: %s\n", err);
		stop_workers(&sv);
		close_points(&sv);
		free_shared(&sv);
		sl_log_close();
		return 1;
	}
	sl_listen_set_labels(sv.points, where, sizeof where);
	SL_INFO("sluice %s listening on %s (%u worker%s)", SL_VERSION, where, sv.nw,
		sv.nw == 1 ? "" : "s");

	signal_loop(&sv, &set);

	for (unsigned k = 0; k < sv.nw; k++)
		sl_worker_join(sv.w[k]);
	stop_workers(&sv);
	close_points(&sv);
	if (sv.pid_file[0])
		sl_pidfile_remove(sv.pid_file, getpid());
	free_shared(&sv);
	SL_INFO("stopped");
	sl_log_close();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"test", no_argument, NULL, 't'},
		{"dump", no_argument, NULL, 'T'},
		{"signal", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"route", required_argument, NULL, 'R'},
		{"method", required_argument, NULL, 'M'},
		{NULL, 0, NULL, 0},
	};
	const char *conf = DEFAULT_CONF, *sig = NULL, *route = NULL, *method = NULL;
	int test = 0, dump = 0, c, rc;

	while ((c = getopt_long(argc, argv, "c:tTs:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'T':
			dump = 1;
			break;
		case 's':
			sig = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sluice %s\n", SL_VERSION);
			return 0;
		case 'R':
			route = optarg;
			break;
		case 'M':
			method = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sluice: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (sig) {
		if (strcmp(sig, "reload") != 0 && strcmp(sig, "stop") != 0) {
			fprintf(stderr, "sluice: -s takes reload or stop, not \"%s\"\n", sig);
			usage(stderr);
			return 2;
		}
		if (test || dump) {
			fprintf(stderr, "sluice: -s does not go with -t or -T\n");
			usage(stderr);
			return 2;
		}
		return signal_instance(conf, sig);
	}

	sl_config *cfg = NULL;
	char err[1024];
	if (sl_config_load_file(conf, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (test) {
		fprintf(stderr, "sluice: configuration %s is valid\n", conf);
		sl_config_unref(cfg);
		return 0;
	}
	if (route) {
		rc = sl_route_show(cfg, route, method, stdout, err, sizeof err);
		if (rc < 0)
			fprintf(stderr, "sluice: --route %s\n", err);
		sl_config_unref(cfg);
		return rc < 0 ? 2 : 0;
	}
	if (dump) {
		sl_config_dump(cfg, stdout);
		fflush(stdout);
		sl_config_unref(cfg);
		return 0;
	}
	return serve(conf, cfg);
}
