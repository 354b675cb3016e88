/*
 * Thread-safety checks of the upstream health table every worker shares
 * (server/health.h), run under ThreadSanitizer by `make tsan`: threads
 * creating entries for overlapping names, reporting failures and successes,
 * reading usability with its one atomic load, taking round-robin turns and
 * writing the status page at once; then the counts are checked. A plain
 * program (Criterion's runner cannot start under ThreadSanitizer); the last
 * line is the usual "N passed, N failed".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "server/health.h"

#define THREADS 4
#define NAMES 48
#define OPS 20000

static int passed, failed;
static sl_health *table;
static sl_config *cfg;

static void check(int ok, const char *name)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	if (ok)
		passed++;
	else
		failed++;
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(size_t)arg;
	char name[32], page[16384];
	uint64_t now = 1000;

	for (int i = 0; i < OPS; i++) {
		seed = seed * 1103515245u + 12345u;
		snprintf(name, sizeof name, "u%u", (seed >> 8) % NAMES);
		sl_health_entry *e = sl_health_get(table, name);
		if (!e)
			return (void *)1;
		now += seed % 3;
		switch ((seed >> 4) % 5) {
		case 0:
			sl_health_report(table, e, &cfg->health, SL_E_PROXY_REFUSED,
					 "hop 1 (u, 127.0.0.1:1): connection to the proxy refused", now);
			break;
		case 1:
			sl_health_report(table, e, &cfg->health, 0, NULL, now);
			break;
		case 2:
			(void)sl_health_usable(e, now);
			(void)sl_health_down(e);
			break;
		case 3:
			(void)sl_health_turn(table, "spread");
			break;
		default:
			if (i % 64 == 0 && sl_health_json(table, cfg, now, page, sizeof page) < 0)
				return (void *)1;
			break;
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	char err[512], text[4096];
	int n, bad = 0;

	sl_log_set_level(SL_LOG_ERROR);
	n = snprintf(text, sizeof text, "{\"health\": {\"down_after\": 2, \"retry\": \"5ms\", "
					"\"max_retry\": \"40ms\"}, \"upstreams\": {");
	for (int i = 0; i < NAMES; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "%s\"u%d\": \"http://h%d\"",
			      i ? ", " : "", i, i);
	snprintf(text + n, sizeof text - (size_t)n, "}}");
	if (sl_config_load_string(text, "tsan.json", &cfg, err, sizeof err) < 0) {
		printf("FAIL config: %s\n0 passed, 1 failed\n", err);
		return 1;
	}
	table = sl_health_new();
	for (size_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < THREADS; i++) {
		void *rv;
		pthread_join(t[i], &rv);
		bad += rv != NULL;
	}
	check(bad == 0, "threads report, read and page without failing");
	unsigned turns = sl_health_turn(table, "spread");
	check(turns > 0 && turns < (unsigned)(THREADS * OPS), "round-robin turns were all counted");
	int found = 0;
	for (int i = 0; i < NAMES; i++) {
		char name[32];
		snprintf(name, sizeof name, "u%d", i);
		found += sl_health_find(table, name) != NULL;
	}
	check(found == NAMES, "every name has one entry");
	sl_health_free(table);
	sl_config_unref(cfg);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
