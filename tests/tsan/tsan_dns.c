/*
 * Thread-safety checks of the resolver cache all workers share, run under
 * ThreadSanitizer by `make tsan`: threads hammering one small sl_dns_cache
 * (puts, gets, replacements and evictions on overlapping names, each
 * answer checked against its name), then one resolver per thread, each on
 * its own loop, answering from the same cache. A plain program (Criterion's
 * runner cannot start under ThreadSanitizer); the last line is the usual
 * "N passed, N failed".
 */
#include <ev.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "engines/dns.h"
#include "engines/dns_internal.h"

#define THREADS 4
#define NAMES 600
#define OPS 40000

static int passed, failed;
static sl_dns_cache *shared;

static void check(int ok, const char *name)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	if (ok)
		passed++;
	else
		failed++;
}

/* Name i always maps to 10.x.y.z plus, for even i, one IPv6 address;
 * names divisible by 7 are cached failures. */
static void name_of(int i, char *out, size_t cap)
{
	snprintf(out, cap, "host%d.tsan.test", i);
}

static size_t addrs_of(int i, sl_addr *a)
{
	size_t n = 0;

	a[n++] = (sl_addr){.family = AF_INET, .b = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
						     (uint8_t)i}};
	if (i % 2 == 0)
		a[n++] = (sl_addr){.family = AF_INET6, .b = {0xfd, 0, [14] = (uint8_t)(i >> 8),
							     [15] = (uint8_t)i}};
	return n;
}

static void *hammer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
	long bad = 0;
	char name[64];

	for (int k = 0; k < OPS; k++) {
		sl_addr want[SL_DNS_MAX_ADDRS], got[SL_DNS_MAX_ADDRS];
		size_t nw, ng = 0;
		int i, err = 0;

		seed = seed * 1103515245u + 12345u;
		i = (int)((seed >> 8) % NAMES);
		name_of(i, name, sizeof name);
		nw = addrs_of(i, want);
		if ((seed >> 4) % 3 == 0) {
			if (i % 7 == 0)
				sl__dns_cache_put(shared, name, SL_E_DNS_NOT_FOUND, NULL, 0, 60);
			else
				sl__dns_cache_put(shared, name, 0, want, nw, 60);
		} else if (sl__dns_cache_get(shared, name, &err, got, &ng)) {
			if (i % 7 == 0)
				bad += err != SL_E_DNS_NOT_FOUND || ng != 0;
			else
				bad += err != 0 || ng != nw || memcmp(got, want, nw * sizeof *got) != 0;
		}
	}
	return (void *)bad;
}

static int test_cache_hammer(void)
{
	pthread_t t[THREADS];
	long bad = 0;

	shared = sl_dns_cache_new(256); /* far fewer than NAMES: evictions all along */
	if (!shared)
		return 0;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	int ok = bad == 0 && sl__dns_cache_count(shared) <= 256;
	sl_dns_cache_free(shared);
	shared = NULL;
	return ok;
}

struct worker {
	int answered, wrong;
};

static void on_answer(int err, const sl_addr *addrs, size_t n, void *arg)
{
	struct worker *w = arg;

	w->answered++;
	if (err != 0 || n == 0 || addrs[0].family != AF_INET6)
		w->wrong++;
}

static void *resolver_worker(void *arg)
{
	struct worker *w = arg;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_dns_opts o = {.hosts_file = "", .servers = "127.0.0.1:9"}; /* never asked */
	sl_dns *d = sl_dns_new(loop, shared, &o);
	char name[64];
	int asked = 0;

	if (!d) {
		w->wrong = -1;
		ev_loop_destroy(loop);
		return NULL;
	}
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 40; i += 2) { /* even names: seeded, v6 first */
			name_of(i, name, sizeof name);
			if (sl_dns_resolve(d, name, on_answer, w))
				asked++;
		}
		while (w->answered < asked)
			ev_run(loop, EVRUN_ONCE);
	}
	sl_dns_free(d);
	ev_loop_destroy(loop);
	return NULL;
}

static int test_resolvers_share_the_cache(void)
{
	pthread_t t[THREADS];
	struct worker w[THREADS];
	char name[64];
	int ok = 1;

	shared = sl_dns_cache_new(1024);
	if (!shared)
		return 0;
	for (int i = 0; i < 40; i += 2) {
		sl_addr a[SL_DNS_MAX_ADDRS], o[SL_DNS_MAX_ADDRS];
		size_t n = addrs_of(i, a);
		name_of(i, name, sizeof name);
		sl__dns_interleave(o, &a[1], 1, &a[0], 1);
		sl__dns_cache_put(shared, name, 0, o, n, 3600);
	}
	memset(w, 0, sizeof w);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, resolver_worker, &w[i]);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ok &= w[i].wrong == 0 && w[i].answered == 50 * 20;
	}
	sl_dns_cache_free(shared);
	shared = NULL;
	return ok;
}

int main(void)
{
	check(test_cache_hammer(), "dns cache: concurrent put/get/evict");
	check(test_resolvers_share_the_cache(), "dns: resolvers on four loops share one cache");
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
