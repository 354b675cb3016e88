/*
 * Thread-safety check of live reload, run under ThreadSanitizer by `make
 * tsan`: two real workers serve admin requests from client threads on
 * kept-alive connections while the main thread hands them one new
 * configuration snapshot after another, every other one adding a second
 * listening address and the next removing it again. Sessions pin
 * snapshots per request, retired snapshots are released on the worker
 * threads, the main thread drops its own references as it goes, and the
 * listener arrays are rebuilt under accepting clients. It is a plain
 * program (Criterion's runner cannot start under ThreadSanitizer); the last
 * line is the usual "N passed, N failed".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/auth_cache.h"
#include "core/config.h"
#include "core/log.h"
#include "engines/dns.h"
#include "server/listen.h"
#include "server/snapshot.h"
#include "server/worker.h"

#define WORKERS 2
#define CLIENTS 3
#define RELOADS 60
#define REQUESTS_PER_CONN 4

static int passed, failed;
static atomic_bool stop_clients;
static atomic_long answered, bad_answers;
static uint16_t port;

static void check(int ok, const char *name)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	if (ok)
		passed++;
	else
		failed++;
}

static sl_snapshot *snapshot(unsigned variant, uint64_t gen)
{
	char text[256], err[256];
	sl_config *cfg = NULL;
	sl_addr own;

	snprintf(text, sizeof text,
		 "{\"workers\": %d, \"acl\": {\"connect_ports\": [%u]}, "
		 "\"timeouts\": {\"client_idle\": \"%us\"}}",
		 WORKERS, 443 + variant % 7, 30 + variant % 5);
	if (sl_config_load_string(text, "tsan", &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	sl_addr_parse("127.0.0.1", 9, &own);
	return sl_snapshot_new(cfg, NULL, NULL, &own, &port, 1, gen);
}

/* Reads one admin answer (its head and the "ok\n" body). */
static int read_answer(int fd)
{
	char buf[2048];
	size_t n = 0;

	while (n < sizeof buf - 1) {
		ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
		if (k <= 0)
			return -1;
		n += (size_t)k;
		buf[n] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end && strlen(end + 4) >= 3)
			return strncmp(buf, "HTTP/1.1 200 ", 13) == 0 && strcmp(end + 4, "ok\n") == 0
				       ? 0
				       : -1;
	}
	return -1;
}

static void *client(void *arg)
{
	static const char req[] = "GET /__sluice/health HTTP/1.1\r\nHost: tsan\r\n\r\n";
	(void)arg;
	while (!atomic_load(&stop_clients)) {
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
		struct timeval tv = {5, 0};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
			atomic_fetch_add(&bad_answers, 1);
			close(fd);
			continue;
		}
		for (int i = 0; i < REQUESTS_PER_CONN; i++) {
			if (write(fd, req, sizeof req - 1) != (ssize_t)sizeof req - 1 ||
			    read_answer(fd) < 0) {
				atomic_fetch_add(&bad_answers, 1);
				break;
			}
			atomic_fetch_add(&answered, 1);
		}
		close(fd);
	}
	return NULL;
}

static int test_reload(void)
{
	sl_server_shared sh;
	sl_worker *w[WORKERS];
	sl_worker_listener ls[2];
	pthread_t c[CLIENTS];
	int main_fds[WORKERS], extra_fds[WORKERS];
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	sl_addr lo;
	char err[256];
	bool applied = true;
	int ok = 1;

	sl_addr_parse("127.0.0.1", 9, &lo);
	main_fds[0] = sl_listen_tcp(&lo, 0, true, 64);
	if (main_fds[0] < 0 || getsockname(main_fds[0], (struct sockaddr *)&sin, &len) < 0)
		return 0;
	port = ntohs(sin.sin_port);
	if ((main_fds[1] = sl_listen_tcp(&lo, port, true, 64)) < 0)
		return 0;

	memset(&sh, 0, sizeof sh);
	sh.snap = snapshot(0, 1);
	sh.dns_cache = sl_dns_cache_new(64);
	sh.auth = sl_auth_cache_new(0);
	sh.via_name = "tsan:1";
	sh.nworkers = WORKERS;
	if (!sh.snap || !sh.dns_cache || !sh.auth)
		return 0;
	for (int k = 0; k < WORKERS; k++) {
		ls[0] = (sl_worker_listener){.fd = main_fds[k], .shared = false, .id = 1};
		w[k] = sl_worker_new(k, &sh, ls, 1, err, sizeof err);
		if (!w[k] || sl_worker_start(w[k]) < 0) {
			fprintf(stderr, "worker %d: %s\n", k, err);
			return 0;
		}
	}
	for (int i = 0; i < CLIENTS; i++)
		pthread_create(&c[i], NULL, client, NULL);

	for (uint64_t gen = 2; gen <= RELOADS + 1; gen++) {
		sl_snapshot *s = snapshot((unsigned)gen, gen);
		bool add = gen % 2 == 0;
		size_t n = 1;

		if (!s)
			return 0;
		/* Even generations add a listener on a free port, odd ones drop it. */
		if (add) {
			int probe = sl_listen_tcp(&lo, 0, true, 64);
			struct sockaddr_in x;
			socklen_t xl = sizeof x;

			if (probe < 0 || getsockname(probe, (struct sockaddr *)&x, &xl) < 0)
				return 0;
			extra_fds[0] = probe;
			if ((extra_fds[1] = sl_listen_tcp(&lo, ntohs(x.sin_port), true, 64)) < 0)
				return 0;
		}
		for (int k = 0; k < WORKERS; k++) {
			ls[0] = (sl_worker_listener){.fd = -1, .shared = false, .id = 1};
			n = 1;
			if (add)
				ls[n++] = (sl_worker_listener){.fd = extra_fds[k], .id = gen};
			if (sl_worker_update(w[k], s, ls, n, gen % 3 == 0) < 0)
				return 0;
		}
		sl_snapshot_unref(s); /* the workers hold their own now */
		for (int k = 0; k < WORKERS; k++)
			applied = sl_worker_wait_applied(w[k], gen, 10000) && applied;
	}
	atomic_store(&stop_clients, true);
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(c[i], NULL);
	for (int k = 0; k < WORKERS; k++)
		sl_worker_drain(w[k]);
	for (int k = 0; k < WORKERS; k++) {
		sl_worker_join(w[k]);
		sl_worker_free(w[k]);
	}
	ok = applied && atomic_load(&bad_answers) == 0 && atomic_load(&answered) > 0 &&
	     atomic_load(&sh.snap->refs) == 1;
	printf("     %ld answers, %ld failures, %d reloads\n", atomic_load(&answered),
	       atomic_load(&bad_answers), RELOADS);
	sl_snapshot_unref(sh.snap);
	sl_dns_cache_free(sh.dns_cache);
	sl_auth_cache_free(sh.auth);
	return ok;
}

int main(void)
{
	sl_log_set_level(SL_LOG_WARN);
	check(test_reload(), "reload: snapshots and listeners handed to busy workers");
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
