/*
 * The sluice binary: command-line options, configuration checking (-t,
 * -T), and the proxy server itself. Start-up runs on the main thread and may
 * block (it reads the trust store, resolves listen names, binds): it loads
 * the configuration, opens the error and access logs, builds what every
 * worker shares (TLS context, DNS cache, credential cache, the disk cache
 * when cache.dir is set), opens every
 * listening socket (one per worker and TCP address, SO_REUSEPORT; one per
 * unix path), starts the workers and logs "listening on ...". The main
 * thread then only waits for signals: SIGTERM and SIGINT drain the workers
 * (a second one closes everything at once), SIGUSR1 reopens the logs,
 * SIGHUP is logged and ignored (reloading comes later), SIGPIPE is ignored.
 * Every signal is blocked in all threads and taken with sigtimedwait(), so
 * no handler runs inside a worker.
 *
 * Exit codes: 0 success (also after a drain), 1 invalid configuration or a
 * start-up failure, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
#include "server/listen.h"
#include "server/message.h"
#include "server/worker.h"

#define DEFAULT_CONF "/etc/sluice/sluice.json"
#define MAX_BIND_POINTS 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice [-c FILE] [-t | -T]\n"
		"\n"
		"A forward caching HTTP proxy.\n"
		"\n"
		"  -c, --config FILE   configuration file (default " DEFAULT_CONF ")\n"
		"  -t, --test          check the configuration and exit (0 valid, 1 not)\n"
		"  -T, --dump          check the configuration, print the effective\n"
		"                      configuration as JSON and exit\n"
		"  -h, --help          print this help\n"
		"  -V, --version       print the version\n"
		"\n"
		"Without -t or -T, sluice runs the proxy until SIGTERM or SIGINT.\n"
		"Errors name the file, the line and the JSON path, for example\n"
		"  conf/x.json:12: cache.max_size: expected a size like \"10GiB\", got -3\n"
		"The configuration reference is docs/config.md; running the proxy is\n"
		"described in docs/operations.md.\n");
}

/* One address to listen on: a TCP address (a listen entry, or one address
 * of a listen name) or a unix path. */
struct point {
	bool unix_sock;
	sl_addr addr;
	uint16_t port;
	const char *path;
	int shared_fd;           /* unix: the one socket */
	char label[SL_HOSTPORT_STRLEN + 8];
};

struct server {
	sl_config *cfg;
	sl_tls_ctx *tls;
	sl_dns_cache *dcache;
	sl_auth_cache *auth;
	sl_accesslog *alog;
	sl_cache *cache;
	sl_server_shared sh;
	struct point pts[MAX_BIND_POINTS];
	size_t npts;
	sl_addr own[MAX_BIND_POINTS];
	uint16_t own_ports[MAX_BIND_POINTS];
	size_t nown;
	char via[300];
	sl_worker **w;
	unsigned nw;
};

static void label_inet(struct point *p)
{
	char a[SL_ADDR_STRLEN];

	sl_addr_format(&p->addr, a, sizeof a);
	snprintf(p->label, sizeof p->label, p->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 p->port);
}

static int add_inet(struct server *sv, const sl_addr *a, uint16_t port)
{
	for (size_t i = 0; i < sv->npts; i++)
		if (!sv->pts[i].unix_sock && sv->pts[i].port == port &&
		    sl_addr_eq(&sv->pts[i].addr, a))
			return 0;
	if (sv->npts == MAX_BIND_POINTS)
		return SL_E_LIMIT;
	struct point *p = &sv->pts[sv->npts++];
	memset(p, 0, sizeof *p);
	p->addr = *a;
	p->port = port;
	p->shared_fd = -1;
	label_inet(p);
	return 0;
}

/* Turns the listen entries into bind points (names resolved here, once,
 * before any loop runs). */
static int resolve_points(struct server *sv, char *err, size_t errlen)
{
	const sl_conf_listens *ls = &sv->cfg->listen;

	for (size_t i = 0; i < ls->n; i++) {
		const sl_conf_listen *l = &ls->v[i];

		if (l->kind == SL_CONF_LISTEN_UNIX) {
			if (sv->npts == MAX_BIND_POINTS)
				goto too_many;
			struct point *p = &sv->pts[sv->npts++];
			memset(p, 0, sizeof *p);
			p->unix_sock = true;
			p->path = l->path;
			p->shared_fd = -1;
			snprintf(p->label, sizeof p->label, "unix:%s", l->path);
			continue;
		}
		if (l->is_ip) {
			if (add_inet(sv, &l->addr, l->port) < 0)
				goto too_many;
			continue;
		}
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *res = NULL, *ai;
		int rc = getaddrinfo(l->host, NULL, &hints, &res);
		if (rc != 0) {
			snprintf(err, errlen, "cannot resolve listen address %s: %s", l->host,
				 gai_strerror(rc));
			return -1;
		}
		for (ai = res; ai; ai = ai->ai_next) {
			sl_addr a;
			if (sl_addr_from_sockaddr(ai->ai_addr, &a, NULL) == 0 &&
			    add_inet(sv, &a, l->port) < 0) {
				freeaddrinfo(res);
				goto too_many;
			}
		}
		freeaddrinfo(res);
	}
	return 0;
too_many:
	snprintf(err, errlen, "too many listen addresses (at most %d)", MAX_BIND_POINTS);
	return -1;
}

/* Checks that nobody listens on a TCP point yet: our own sockets share it
 * through SO_REUSEPORT, which would also let us join a stranger's. */
static int probe(struct point *p, char *err, size_t errlen)
{
	int fd = sl_listen_tcp(&p->addr, p->port, false, 1);

	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", p->label, sl_strerror(fd));
		return -1;
	}
	close(fd);
	return 0;
}

static void close_points(struct server *sv)
{
	for (size_t i = 0; i < sv->npts; i++) {
		struct point *p = &sv->pts[i];
		if (p->unix_sock && p->shared_fd >= 0) {
			close(p->shared_fd);
			unlink(p->path);
			p->shared_fd = -1;
		}
	}
}

static int start_workers(struct server *sv, char *err, size_t errlen)
{
	sl_worker_listener ls[MAX_BIND_POINTS];
	unsigned n = sl_config_workers(sv->cfg);

	for (size_t i = 0; i < sv->npts; i++) {
		struct point *p = &sv->pts[i];
		if (p->unix_sock) {
			p->shared_fd = sl_listen_unix(p->path, SL_LISTEN_BACKLOG);
			if (p->shared_fd < 0) {
				snprintf(err, errlen, "cannot listen on %s: %s", p->label,
					 sl_strerror(p->shared_fd));
				return -1;
			}
		} else if (probe(p, err, errlen) < 0) {
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
		for (size_t i = 0; i < sv->npts; i++) {
			struct point *p = &sv->pts[i];
			if (p->unix_sock) {
				ls[i].fd = p->shared_fd;
				ls[i].shared = true;
				continue;
			}
			ls[i].shared = false;
			ls[i].fd = sl_listen_tcp(&p->addr, p->port, true, SL_LISTEN_BACKLOG);
			if (ls[i].fd < 0) {
				snprintf(err, errlen, "cannot listen on %s: %s", p->label,
					 sl_strerror(ls[i].fd));
				for (size_t j = 0; j < i; j++)
					if (!ls[j].shared)
						close(ls[j].fd);
				return -1;
			}
		}
		sv->w[k] = sl_worker_new((int)k, &sv->sh, ls, sv->npts, err, errlen);
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

static void stop_workers(struct server *sv)
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

static enum sl_log_level level_of(sl_conf_log_level l)
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

/* Builds what the workers share. */
static int build_shared(struct server *sv, char *err, size_t errlen)
{
	const sl_config *cfg = sv->cfg;
	sl_tls_ctx_opts to;
	char host[256] = "";
	uint16_t port = 0;
	int rc;

	memset(&to, 0, sizeof to);
	to.ca_file = cfg->tls.ca_file[0] ? cfg->tls.ca_file : NULL;
	to.ca_path = cfg->tls.ca_path[0] ? cfg->tls.ca_path : NULL;
	sv->tls = sl_tls_ctx_new(&to, err, errlen);
	if (!sv->tls)
		return -1;
	sv->dcache = sl_dns_cache_new(4096);
	sv->auth = sl_auth_cache_new(0);
	if (!sv->dcache || !sv->auth) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sv->alog = sl_accesslog_open(cfg->log.access, cfg->log.format, &rc);
	if (!sv->alog) {
		snprintf(err, errlen, "cannot open the access log %s: %s", cfg->log.access,
			 sl_strerror(rc));
		return -1;
	}
	if (cfg->cache.dir[0]) {
		/* One cache for the process, shared by every worker; its index
		 * is rebuilt in the background while the proxy serves. */
		sl_cache_opts co = {
			.dir = cfg->cache.dir,
			.max_size = cfg->cache.max_size,
			.max_object_size = cfg->cache.max_object_size,
			.memory = cfg->cache.memory,
		};
		rc = sl_cache_open(&co, &sv->cache);
		if (rc < 0) {
			snprintf(err, errlen, "cannot open the cache at %s (cache.dir): %s",
				 cfg->cache.dir, sl_strerror(rc));
			return -1;
		}
	}
	for (size_t i = 0; i < sv->npts; i++) {
		if (sv->pts[i].unix_sock || sv->nown == MAX_BIND_POINTS)
			continue;
		sv->own[sv->nown] = sv->pts[i].addr;
		sv->own_ports[sv->nown++] = sv->pts[i].port;
		if (!port)
			port = sv->pts[i].port;
	}
	if (gethostname(host, sizeof host - 1) < 0)
		host[0] = '\0';
	if (!sl_msg_via_name(host, port, sv->via, sizeof sv->via))
		snprintf(sv->via, sizeof sv->via, "sluice");
	sv->sh.cfg = cfg;
	sv->sh.tls = sv->tls;
	sv->sh.dns_cache = sv->dcache;
	sv->sh.auth = sv->auth;
	sv->sh.cache = sv->cache;
	/* With the access log off, sessions skip formatting entries at all. */
	sv->sh.access_log = cfg->log.access[0] ? sl_accesslog_write : NULL;
	sv->sh.access_arg = sv->alog;
	sv->sh.own_addrs = sv->own;
	sv->sh.own_ports = sv->own_ports;
	sv->sh.n_own = sv->nown;
	sv->sh.via_name = sv->via;
	return 0;
}

static void free_shared(struct server *sv)
{
	/* After the workers: nothing writes to the cache any more. */
	if (sv->cache)
		sl_cache_close(sv->cache);
	if (sv->alog)
		sl_accesslog_close(sv->alog);
	if (sv->tls)
		sl_tls_ctx_unref(sv->tls);
	if (sv->dcache)
		sl_dns_cache_free(sv->dcache);
	if (sv->auth)
		sl_auth_cache_free(sv->auth);
}

static bool all_finished(const struct server *sv)
{
	for (unsigned k = 0; k < sv->nw; k++)
		if (!sl_worker_finished(sv->w[k]))
			return false;
	return true;
}

/* Waits for signals until every worker has ended after a drain. */
static void signal_loop(struct server *sv, const sigset_t *set)
{
	bool stopping = false;

	for (;;) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		siginfo_t info;
		int sig;

		if (stopping && all_finished(sv))
			return;
		sig = sigtimedwait(set, &info, &ts);
		if (sig < 0)
			continue;   /* EAGAIN (timeout) or EINTR */
		switch (sig) {
		case SIGTERM:
		case SIGINT:
			if (!stopping) {
				char g[32];
				sl_format_duration(sv->cfg->timeouts.shutdown_grace_ms, g, sizeof g);
				SL_INFO("%s: no new connections; requests in progress have %s to finish",
					sig == SIGTERM ? "SIGTERM" : "SIGINT", g);
				for (unsigned k = 0; k < sv->nw; k++)
					sl_worker_drain(sv->w[k]);
				stopping = true;
			} else {
				SL_INFO("%s again: closing every connection now",
					sig == SIGTERM ? "SIGTERM" : "SIGINT");
				for (unsigned k = 0; k < sv->nw; k++)
					sl_worker_stop_now(sv->w[k]);
			}
			break;
		case SIGUSR1: {
			int a = sl_accesslog_reopen(sv->alog), e = sl_log_reopen();
			if (a < 0 || e < 0)
				SL_WARN("SIGUSR1: reopening the logs failed: access log %s, error log %s",
					sl_strerror(a), sl_strerror(e));
			else
				SL_INFO("SIGUSR1: logs reopened");
			break;
		}
		case SIGHUP:
			SL_WARN("SIGHUP: reloading the configuration is not supported yet; ignored");
			break;
		default:
			break;
		}
	}
}

static int serve(sl_config *cfg)
{
	struct server sv;
	sigset_t set;
	char err[1024] = "", where[2048];
	size_t at = 0;
	int rc;

	memset(&sv, 0, sizeof sv);
	sv.cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	/* Blocked here, so inherited by every worker thread. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	sl_log_set_thread_name("main");
	sl_log_set_level(level_of(cfg->log.level));
	rc = sl_log_open(cfg->log.error[0] ? cfg->log.error : "/dev/null");
	if (rc < 0) {
		fprintf(stderr, "sluice: cannot open the error log %s: %s\n", cfg->log.error,
			sl_strerror(rc));
		return 1;
	}
	if (resolve_points(&sv, err, sizeof err) < 0 || build_shared(&sv, err, sizeof err) < 0 ||
	    start_workers(&sv, err, sizeof err) < 0) {
		SL_ERROR("%s", err);
		if (cfg->log.error[0] && strcmp(cfg->log.error, "-") != 0)
			fprintf(stderr, "sluice: %s\n", err);
		stop_workers(&sv);
		close_points(&sv);
		free_shared(&sv);
		sl_log_close();
		return 1;
	}
	for (size_t i = 0; i < sv.npts && at < sizeof where; i++) {
		int k = snprintf(where + at, sizeof where - at, "%s%s", i ? ", " : "",
				 sv.pts[i].label);
		if (k > 0)
			at += (size_t)k;
	}
	SL_INFO("sluice %s listening on %s (%u worker%s)", SL_VERSION, where, sv.nw,
		sv.nw == 1 ? "" : "s");

	signal_loop(&sv, &set);

	for (unsigned k = 0; k < sv.nw; k++)
		sl_worker_join(sv.w[k]);
	stop_workers(&sv);
	close_points(&sv);
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
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *conf = DEFAULT_CONF;
	int test = 0, dump = 0, c, rc;

	while ((c = getopt_long(argc, argv, "c:tThV", opts, NULL)) != -1) {
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
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sluice %s\n", SL_VERSION);
			return 0;
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
	if (dump) {
		sl_config_dump(cfg, stdout);
		fflush(stdout);
		sl_config_unref(cfg);
		return 0;
	}
	rc = serve(cfg);
	sl_config_unref(cfg);
	return rc;
}
