/*
 * Unit tests of the resolver against a tiny DNS responder run by the test
 * itself: a UDP socket on 127.0.0.1 (port 0) served from its own thread,
 * answering A and AAAA from a fixed zone, NXDOMAIN or SERVFAIL for some
 * names, silence for "silent.test", and counting the queries it receives
 * per name and type. The resolver's clock is a fake one the tests move, so
 * TTLs and the hosts file's re-check are tested without waiting.
 */
#include <criterion/criterion.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "core/err.h"
#include "engines/dns.h"
#include "engines/dns_internal.h"

/* ---- the responder ---- */

enum rmode { R_ANSWER, R_NXDOMAIN, R_SERVFAIL, R_SILENT };

struct rr {
	const char *name;
	enum rmode mode;
	uint32_t ttl, ttl6; /* ttl6 == 0: same as ttl */
	const char *v4[12];
	const char *v6[12];
	atomic_int qa, qaaaa;
};

static struct rr zone[] = {
	{.name = "dual.test", .ttl = 60, .v4 = {"192.0.2.1", "192.0.2.2"},
	 .v6 = {"2001:db8::1", "2001:db8::2"}},
	{.name = "v4.test", .ttl = 60, .v4 = {"192.0.2.10"}},
	{.name = "v6.test", .ttl = 60, .v6 = {"2001:db8::10"}},
	{.name = "ttl.test", .ttl = 100, .ttl6 = 20, .v4 = {"192.0.2.20"}, .v6 = {"2001:db8::20"}},
	{.name = "long.test", .ttl = 300, .v4 = {"192.0.2.30"}},
	{.name = "zero.test", .ttl = 0, .v4 = {"192.0.2.40"}},
	{.name = "other.test", .ttl = 60, .v4 = {"192.0.2.50"}},
	{.name = "many.test", .ttl = 60,
	 .v4 = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6",
		"10.0.0.7", "10.0.0.8", "10.0.0.9", "10.0.0.10"},
	 .v6 = {"fd00::1", "fd00::2", "fd00::3", "fd00::4", "fd00::5", "fd00::6", "fd00::7",
		"fd00::8", "fd00::9", "fd00::a"}},
	{.name = "myhost", .ttl = 60, .v4 = {"192.0.2.99"}},
	{.name = "nx.test", .mode = R_NXDOMAIN},
	{.name = "fail.test", .mode = R_SERVFAIL},
	{.name = "silent.test", .mode = R_SILENT},
};

static struct {
	int fd, stop[2];
	pthread_t th;
	char servers[64];
	atomic_int total;
} R;

static struct rr *zone_find(const char *name)
{
	for (size_t i = 0; i < sizeof zone / sizeof zone[0]; i++)
		if (strcmp(zone[i].name, name) == 0)
			return &zone[i];
	return NULL;
}

static size_t put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
	return 4;
}

/* Builds the answer to query q (n bytes) into out; returns its length, or
 * 0 to stay silent. */
static size_t answer(const uint8_t *q, size_t n, uint8_t *out)
{
	char name[256];
	size_t off = 12, nl = 0, o;
	unsigned qtype, rcode = 0, an = 0;
	struct rr *rr;

	if (n < 12 || q[4] != 0 || q[5] != 1)
		return 0;
	while (off < n && q[off]) {
		unsigned len = q[off++];
		if (len > 63 || off + len > n || nl + len + 1 >= sizeof name)
			return 0;
		if (nl)
			name[nl++] = '.';
		for (unsigned i = 0; i < len; i++) {
			char c = (char)q[off + i];
			name[nl++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
		off += len;
	}
	name[nl] = '\0';
	if (off + 5 > n)
		return 0;
	qtype = (unsigned)q[off + 1] << 8 | q[off + 2];
	off += 5; /* root label, type, class */
	atomic_fetch_add(&R.total, 1);
	rr = zone_find(name);
	if (rr && qtype == 1)
		atomic_fetch_add(&rr->qa, 1);
	if (rr && qtype == 28)
		atomic_fetch_add(&rr->qaaaa, 1);
	if (rr && rr->mode == R_SILENT)
		return 0;
	if (!rr || rr->mode == R_NXDOMAIN)
		rcode = 3;
	else if (rr->mode == R_SERVFAIL)
		rcode = 2;
	memcpy(out, q, off);
	out[2] = (uint8_t)(0x80 | (q[2] & 0x01)); /* QR, RD copied */
	out[3] = (uint8_t)(0x80 | rcode);        /* RA */
	put16(out + 8, 0);
	put16(out + 10, 0);
	o = off;
	if (rcode == 0) {
		const char *const *list = qtype == 28 ? rr->v6 : rr->v4;
		uint32_t ttl = qtype == 28 && rr->ttl6 ? rr->ttl6 : rr->ttl;

		for (size_t i = 0; (qtype == 1 || qtype == 28) && i < 12 && list[i]; i++) {
			uint8_t a[16];
			size_t alen = qtype == 28 ? 16 : 4;

			inet_pton(qtype == 28 ? AF_INET6 : AF_INET, list[i], a);
			o += put16(out + o, 0xc00c);
			o += put16(out + o, qtype);
			o += put16(out + o, 1);
			o += put32(out + o, ttl);
			o += put16(out + o, (unsigned)alen);
			memcpy(out + o, a, alen);
			o += alen;
			an++;
		}
	}
	put16(out + 6, an);
	return o;
}

static void *responder_main(void *arg)
{
	uint8_t q[512], out[1024];

	(void)arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = R.fd, .events = POLLIN}, {.fd = R.stop[0], .events = POLLIN}};
		struct sockaddr_storage from;
		socklen_t flen = sizeof from;
		ssize_t n;
		size_t an;

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			break;
		n = recvfrom(R.fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
		if (n <= 0)
			continue;
		an = answer(q, (size_t)n, out);
		if (an)
			sendto(R.fd, out, an, 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

static void responder_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;

	R.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(R.fd, 0);
	cr_assert_eq(bind(R.fd, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(getsockname(R.fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(R.servers, sizeof R.servers, "127.0.0.1:%u", ntohs(sa.sin_port));
	cr_assert_eq(pipe(R.stop), 0);
	cr_assert_eq(pthread_create(&R.th, NULL, responder_main, NULL), 0);
}

static void responder_stop(void)
{
	cr_assert_eq(write(R.stop[1], "x", 1), 1);
	pthread_join(R.th, NULL);
	close(R.fd);
	close(R.stop[0]);
	close(R.stop[1]);
}

static int queries(const char *name)
{
	struct rr *rr = zone_find(name);
	return atomic_load(&rr->qa) + atomic_load(&rr->qaaaa);
}

/* ---- fixture: a loop, the responder, a cache, a fake clock ---- */

static struct ev_loop *loop;
static sl_dns_cache *cache;
static sl_dns *dns;
static char hosts_path[64];
static uint64_t fake_ms = 1000000;

static uint64_t fake_clock(void)
{
	return fake_ms;
}

static void setup(void)
{
	sl__dns_set_clock(fake_clock);
	loop = ev_loop_new(EVFLAG_AUTO);
	responder_start();
	cache = sl_dns_cache_new(128);
	cr_assert_not_null(cache);
	snprintf(hosts_path, sizeof hosts_path, "/tmp/sl-dns-hosts-%d", (int)getpid());
}

static void teardown(void)
{
	sl_dns_free(dns);
	dns = NULL;
	sl_dns_cache_free(cache);
	responder_stop();
	ev_loop_destroy(loop);
	unlink(hosts_path);
	sl__dns_set_clock(NULL);
}

/* A resolver on the fixture's loop asking the responder; no hosts file
 * unless hosts is given. */
static sl_dns *make(const char *hosts, uint64_t timeout_ms)
{
	sl_dns_opts o = {
		.timeout_ms = timeout_ms,
		.servers = R.servers,
		.hosts_file = hosts ? hosts : "",
	};
	sl_dns *d = sl_dns_new(loop, cache, &o);
	cr_assert_not_null(d);
	return d;
}

static void write_hosts(const char *text)
{
	FILE *f = fopen(hosts_path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

struct res {
	int calls;
	int err;
	size_t n;
	sl_addr a[SL_DNS_MAX_ADDRS];
};

static int in_callback;

static void on_res(int err, const sl_addr *addrs, size_t n, void *arg)
{
	struct res *r = arg;

	cr_assert_not(in_callback, "a callback runs inside another one");
	r->calls++;
	r->err = err;
	r->n = n;
	if (n)
		memcpy(r->a, addrs, n * sizeof *addrs);
}

static void on_guard(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)revents;
	*(int *)w->data = 1;
	ev_break(l, EVBREAK_ONE);
}

/* Runs the loop until *calls reaches want, or max_s seconds pass. */
static void run_until(struct ev_loop *l, const int *calls, int want, double max_s)
{
	int expired = 0;
	ev_timer guard;

	ev_timer_init(&guard, on_guard, max_s, 0.);
	guard.data = &expired;
	ev_timer_start(l, &guard);
	while (*calls < want && !expired)
		ev_run(l, EVRUN_ONCE);
	ev_timer_stop(l, &guard);
}

/* Runs the loop for s seconds: lets anything that would wrongly happen
 * happen. */
static void spin(double s)
{
	int never = 0;
	run_until(loop, &never, 1, s);
}

static const char *fmt(const sl_addr *a)
{
	static char buf[4][SL_ADDR_STRLEN];
	static int i;
	char *b = buf[i++ & 3];
	sl_addr_format(a, b, SL_ADDR_STRLEN);
	return b;
}

static struct res resolve(const char *host)
{
	struct res r = {0};

	cr_assert_not_null(sl_dns_resolve(dns, host, on_res, &r));
	cr_assert_eq(r.calls, 0, "callback of %s ran inside sl_dns_resolve", host);
	run_until(loop, &r.calls, 1, 5.0);
	cr_assert_eq(r.calls, 1, "%s: no callback", host);
	return r;
}

TestSuite(dns, .init = setup, .fini = teardown);

/* ---- numeric hosts ---- */

Test(dns, numeric_ipv4_resolves_to_itself)
{
	dns = make(NULL, 0);
	struct res r = resolve("192.0.2.7");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.n, 1);
	cr_assert_str_eq(fmt(&r.a[0]), "192.0.2.7");
	cr_assert_eq(atomic_load(&R.total), 0, "no query for a number");
}

Test(dns, numeric_ipv6_resolves_to_itself)
{
	dns = make(NULL, 0);
	struct res r = resolve("2001:DB8:0:0::7");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.n, 1);
	cr_assert_str_eq(fmt(&r.a[0]), "2001:db8::7");
	cr_assert_eq(atomic_load(&R.total), 0);
}

Test(dns, bracketed_ipv6_loses_its_brackets)
{
	dns = make(NULL, 0);
	struct res r = resolve("[::1]");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.a[0].family, AF_INET6);
	cr_assert_str_eq(fmt(&r.a[0]), "::1");
	r = resolve("[192.0.2.1]");
	cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND, "brackets hold only IPv6");
	cr_assert_eq(atomic_load(&R.total), 0);
}

Test(dns, invalid_names_fail_without_a_query)
{
	dns = make(NULL, 0);
	const char *bad[] = {"", "bad name", "a..b", "-a.test", "127.1", "x.0x7f", "fe80::1%eth0",
			     "[]", "..", "a.test.."};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct res r = resolve(bad[i]);
		cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND, "%s", bad[i]);
		cr_assert_eq(r.n, 0);
	}
	cr_assert_eq(atomic_load(&R.total), 0);
}

/* ---- the hosts file ---- */

Test(dns, hosts_file_names_and_aliases)
{
	write_hosts("# comment line\n"
		    "192.0.2.5   myhost  alias.example   # trailing comment\n"
		    "\n"
		    "  2001:db8::5\tmyhost\n"
		    "bogus-address  skipped\n"
		    "fe80::1%eth0 zoned\n"
		    "192.0.2.6 myhost\r\n"
		    "192.0.2.9 last");
	dns = make(hosts_path, 0);
	struct res r = resolve("myhost");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.n, 3);
	cr_assert_str_eq(fmt(&r.a[0]), "2001:db8::5", "IPv6 first");
	cr_assert_str_eq(fmt(&r.a[1]), "192.0.2.5");
	cr_assert_str_eq(fmt(&r.a[2]), "192.0.2.6");
	r = resolve("alias.example");
	cr_assert_eq(r.n, 1);
	cr_assert_str_eq(fmt(&r.a[0]), "192.0.2.5");
	r = resolve("last");
	cr_assert_eq(r.n, 1, "a last line without newline counts");
	cr_assert_eq(atomic_load(&R.total), 0, "hosts names never reach DNS");
	r = resolve("skipped");
	cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND, "a line with a bad address is ignored");
	cr_assert_gt(atomic_load(&R.total), 0);
}

Test(dns, hosts_names_ignore_case_and_one_trailing_dot)
{
	write_hosts("192.0.2.5 MyHost.Example.\n");
	dns = make(hosts_path, 0);
	const char *forms[] = {"myhost.example", "MYHOST.EXAMPLE", "MyHost.Example.",
			       "myhost.example."};
	for (size_t i = 0; i < 4; i++) {
		struct res r = resolve(forms[i]);
		cr_assert_eq(r.err, 0, "%s", forms[i]);
		cr_assert_eq(r.n, 1);
		cr_assert_str_eq(fmt(&r.a[0]), "192.0.2.5");
	}
	cr_assert_eq(atomic_load(&R.total), 0);
}

Test(dns, hosts_file_wins_over_dns)
{
	write_hosts("192.0.2.77 myhost\n");
	dns = make(hosts_path, 0);
	struct res r = resolve("myhost");
	cr_assert_str_eq(fmt(&r.a[0]), "192.0.2.77");
	cr_assert_eq(queries("myhost"), 0);
}

Test(dns, hosts_file_disabled_with_empty_path)
{
	dns = make("", 0); /* the responder knows myhost as 192.0.2.99 */
	struct res r = resolve("myhost");
	cr_assert_eq(r.err, 0);
	cr_assert_str_eq(fmt(&r.a[0]), "192.0.2.99");
	cr_assert_gt(queries("myhost"), 0);
}

Test(dns, localhost_comes_from_the_hosts_file)
{
	write_hosts("127.0.0.2 localhost\n");
	dns = make(hosts_path, 0);
	struct res r = resolve("LocalHost");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.n, 1);
	cr_assert_str_eq(fmt(&r.a[0]), "127.0.0.2");
}

Test(dns, localhost_falls_back_to_loopback)
{
	write_hosts("192.0.2.5 other\n");
	dns = make(hosts_path, 0);
	const char *names[] = {"localhost", "localhost.", "app.localhost"};
	for (size_t i = 0; i < 3; i++) {
		struct res r = resolve(names[i]);
		cr_assert_eq(r.err, 0, "%s", names[i]);
		cr_assert_eq(r.n, 2);
		cr_assert_str_eq(fmt(&r.a[0]), "::1");
		cr_assert_str_eq(fmt(&r.a[1]), "127.0.0.1");
	}
	cr_assert_eq(atomic_load(&R.total), 0);
	struct res r = resolve("notlocalhost.test");
	cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND, "only whole labels make a localhost name");
}

Test(dns, hosts_file_is_reread_when_changed_at_most_once_a_second)
{
	struct timespec ts[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};

	write_hosts("192.0.2.5 changing\n");
	cr_assert_eq(utimensat(AT_FDCWD, hosts_path, ts, 0), 0);
	dns = make(hosts_path, 0);
	struct res r = resolve("changing");
	cr_assert_str_eq(fmt(&r.a[0]), "192.0.2.5");

	write_hosts("192.0.2.6 changing\n");
	ts[0].tv_sec = ts[1].tv_sec = 2000000;
	cr_assert_eq(utimensat(AT_FDCWD, hosts_path, ts, 0), 0);
	fake_ms += 500;
	r = resolve("changing");
	cr_assert_str_eq(fmt(&r.a[0]), "192.0.2.5", "checked again within a second");
	fake_ms += 600;
	r = resolve("changing");
	cr_assert_str_eq(fmt(&r.a[0]), "192.0.2.6", "the change is seen after a second");

	unlink(hosts_path);
	fake_ms += 1000;
	r = resolve("changing");
	cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND, "a removed file lists nothing");
	r = resolve("localhost");
	cr_assert_eq(r.n, 2);
}

/* ---- DNS through the responder ---- */

Test(dns, a_and_aaaa_answers_interleave_ipv6_first)
{
	dns = make(NULL, 0);
	struct res r = resolve("dual.test");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.n, 4);
	cr_assert_str_eq(fmt(&r.a[0]), "2001:db8::1");
	cr_assert_str_eq(fmt(&r.a[1]), "192.0.2.1");
	cr_assert_str_eq(fmt(&r.a[2]), "2001:db8::2");
	cr_assert_str_eq(fmt(&r.a[3]), "192.0.2.2");
	cr_assert_eq(atomic_load(&zone_find("dual.test")->qa), 1);
	cr_assert_eq(atomic_load(&zone_find("dual.test")->qaaaa), 1);
}

Test(dns, names_are_case_insensitive_and_share_the_cache)
{
	dns = make(NULL, 0);
	struct res r = resolve("Dual.TEST.");
	cr_assert_eq(r.n, 4);
	r = resolve("dual.test");
	cr_assert_eq(r.n, 4);
	cr_assert_eq(queries("dual.test"), 2, "one A and one AAAA in all");
}

Test(dns, one_family_only)
{
	dns = make(NULL, 0);
	struct res r = resolve("v4.test");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.n, 1);
	cr_assert_str_eq(fmt(&r.a[0]), "192.0.2.10");
	r = resolve("v6.test");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.n, 1);
	cr_assert_str_eq(fmt(&r.a[0]), "2001:db8::10");
}

Test(dns, answers_are_capped_and_keep_both_families)
{
	dns = make(NULL, 0);
	struct res r = resolve("many.test");
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.n, SL_DNS_MAX_ADDRS);
	for (size_t i = 0; i < r.n; i++)
		cr_assert_eq(r.a[i].family, i % 2 ? AF_INET : AF_INET6, "slot %zu", i);
	cr_assert_str_eq(fmt(&r.a[0]), "fd00::1");
	cr_assert_str_eq(fmt(&r.a[15]), "10.0.0.8");
}

Test(dns, nxdomain_is_not_found)
{
	dns = make(NULL, 0);
	struct res r = resolve("nx.test");
	cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND);
	cr_assert_eq(r.n, 0);
	r = resolve("unknown.test");
	cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND);
}

Test(dns, servfail_is_a_failure)
{
	dns = make(NULL, 0);
	struct res r = resolve("fail.test");
	cr_assert_eq(r.err, SL_E_DNS_FAILED);
	cr_assert_eq(r.n, 0);
}

Test(dns, silence_is_a_timeout_within_the_bound)
{
	dns = make(NULL, 300);
	ev_now_update(loop);
	double t0 = ev_now(loop);
	struct res r = resolve("silent.test");
	ev_now_update(loop);
	double dt = ev_now(loop) - t0;
	cr_assert_eq(r.err, SL_E_DNS_TIMEOUT);
	cr_assert_eq(r.n, 0);
	cr_assert_geq(dt, 0.25, "took %f s", dt);
	cr_assert_lt(dt, 1.5, "took %f s", dt);
	cr_assert_gt(queries("silent.test"), 0);
	/* A timeout is not cached: the name is asked again. */
	int before = queries("silent.test");
	r = resolve("silent.test");
	cr_assert_eq(r.err, SL_E_DNS_TIMEOUT);
	cr_assert_gt(queries("silent.test"), before);
}

/* ---- caching ---- */

Test(dns, ttl_is_respected)
{
	dns = make(NULL, 0);
	struct res r = resolve("long.test");
	cr_assert_eq(r.err, 0);
	int q = queries("long.test");
	cr_assert_eq(q, 2);
	fake_ms += 299 * 1000;
	r = resolve("long.test");
	cr_assert_eq(r.n, 1);
	cr_assert_eq(queries("long.test"), q, "a live entry answers without a query");
	fake_ms += 2 * 1000;
	r = resolve("long.test");
	cr_assert_eq(r.n, 1);
	cr_assert_eq(queries("long.test"), 2 * q, "an expired entry is asked again");
}

Test(dns, ttl_is_the_smallest_of_the_records)
{
	dns = make(NULL, 0); /* A says 100 s, AAAA says 20 s */
	resolve("ttl.test");
	int q = queries("ttl.test");
	fake_ms += 19 * 1000;
	resolve("ttl.test");
	cr_assert_eq(queries("ttl.test"), q);
	fake_ms += 2 * 1000;
	resolve("ttl.test");
	cr_assert_eq(queries("ttl.test"), 2 * q);
}

Test(dns, ttl_is_capped_by_max_ttl)
{
	sl_dns_opts o = {.servers = R.servers, .hosts_file = "", .max_ttl_s = 10};
	dns = sl_dns_new(loop, cache, &o);
	cr_assert_not_null(dns);
	resolve("long.test");
	int q = queries("long.test");
	fake_ms += 9 * 1000;
	resolve("long.test");
	cr_assert_eq(queries("long.test"), q);
	fake_ms += 2 * 1000;
	resolve("long.test");
	cr_assert_eq(queries("long.test"), 2 * q);
}

Test(dns, zero_ttl_is_not_cached)
{
	dns = make(NULL, 0);
	resolve("zero.test");
	int q = queries("zero.test");
	struct res r = resolve("zero.test");
	cr_assert_eq(r.n, 1);
	cr_assert_eq(queries("zero.test"), 2 * q);
}

Test(dns, failures_are_cached_for_the_negative_ttl)
{
	sl_dns_opts o = {.servers = R.servers, .hosts_file = "", .negative_ttl_s = 7};
	dns = sl_dns_new(loop, cache, &o);
	cr_assert_not_null(dns);
	struct res r = resolve("nx.test");
	cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND);
	int q = queries("nx.test");
	cr_assert_gt(q, 0);
	fake_ms += 6 * 1000;
	r = resolve("nx.test");
	cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND, "the cached failure is the same failure");
	cr_assert_eq(queries("nx.test"), q);
	fake_ms += 2 * 1000;
	r = resolve("nx.test");
	cr_assert_eq(r.err, SL_E_DNS_NOT_FOUND);
	cr_assert_eq(queries("nx.test"), 2 * q);
	r = resolve("fail.test");
	q = queries("fail.test");
	r = resolve("fail.test");
	cr_assert_eq(r.err, SL_E_DNS_FAILED);
	cr_assert_eq(queries("fail.test"), q);
}

Test(dns, without_a_cache_every_lookup_asks)
{
	sl_dns_opts o = {.servers = R.servers, .hosts_file = ""};
	dns = sl_dns_new(loop, NULL, &o);
	cr_assert_not_null(dns);
	resolve("v4.test");
	resolve("v4.test");
	cr_assert_eq(queries("v4.test"), 4);
}

/* ---- in flight, cancelling, callbacks ---- */

Test(dns, concurrent_lookups_of_one_name_share_one_query)
{
	struct res a = {0}, b = {0};
	int both = 0;

	dns = make(NULL, 0);
	cr_assert_not_null(sl_dns_resolve(dns, "dual.test", on_res, &a));
	cr_assert_not_null(sl_dns_resolve(dns, "DUAL.test", on_res, &b));
	while (!(a.calls && b.calls) && both++ < 100)
		run_until(loop, &b.calls, 1, 5.0);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(b.calls, 1);
	cr_assert_eq(a.err, 0);
	cr_assert_eq(b.n, 4);
	cr_assert_eq(memcmp(a.a, b.a, 4 * sizeof a.a[0]), 0);
	cr_assert_eq(atomic_load(&zone_find("dual.test")->qa), 1);
	cr_assert_eq(atomic_load(&zone_find("dual.test")->qaaaa), 1);
}

Test(dns, cancelling_one_waiter_leaves_the_other)
{
	struct res a = {0}, b = {0};

	dns = make(NULL, 0);
	sl_dns_query *qa = sl_dns_resolve(dns, "dual.test", on_res, &a);
	cr_assert_not_null(sl_dns_resolve(dns, "dual.test", on_res, &b));
	sl_dns_cancel(qa);
	run_until(loop, &b.calls, 1, 5.0);
	cr_assert_eq(b.calls, 1);
	cr_assert_eq(b.n, 4);
	spin(0.05);
	cr_assert_eq(a.calls, 0, "a cancelled query is never called");
	cr_assert_eq(queries("dual.test"), 2);
}

static int cache_has(const char *name)
{
	int err;
	sl_addr a[SL_DNS_MAX_ADDRS];
	size_t n;
	return sl__dns_cache_get(cache, name, &err, a, &n);
}

static void on_poll_cache(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)revents;
	if (cache_has("v4.test"))
		(*(int *)w->data)++;
}

Test(dns, a_lookup_left_without_waiters_still_fills_the_cache)
{
	struct res a = {0};
	int seen = 0;
	ev_timer poll_w;

	dns = make(NULL, 0);
	sl_dns_cancel(sl_dns_resolve(dns, "v4.test", on_res, &a));
	ev_timer_init(&poll_w, on_poll_cache, 0.01, 0.01);
	poll_w.data = &seen;
	ev_timer_start(loop, &poll_w);
	run_until(loop, &seen, 1, 5.0);
	ev_timer_stop(loop, &poll_w);
	cr_assert_eq(seen, 1);
	cr_assert_eq(a.calls, 0);
	struct res r = resolve("v4.test");
	cr_assert_eq(r.n, 1);
	cr_assert_eq(queries("v4.test"), 2);
}

Test(dns, cancelling_a_ready_query_suppresses_its_callback)
{
	struct res a = {0}, b = {0};

	dns = make(NULL, 0);
	sl_dns_query *q = sl_dns_resolve(dns, "192.0.2.1", on_res, &a);
	cr_assert_not_null(sl_dns_resolve(dns, "192.0.2.2", on_res, &b));
	sl_dns_cancel(q);
	run_until(loop, &b.calls, 1, 5.0);
	spin(0.02);
	cr_assert_eq(a.calls, 0);
	cr_assert_eq(b.calls, 1);
}

Test(dns, callbacks_are_never_synchronous)
{
	struct res r[5] = {{0}};
	const char *names[] = {"192.0.2.1", "[2001:db8::1]", "localhost", "dual.test", "nx.test"};

	write_hosts("192.0.2.5 fromhosts\n");
	dns = make(hosts_path, 0);
	resolve("dual.test"); /* now cached */
	resolve("nx.test");   /* cached as a failure */
	for (int i = 0; i < 5; i++) {
		cr_assert_not_null(sl_dns_resolve(dns, names[i], on_res, &r[i]));
		cr_assert_eq(r[i].calls, 0, "%s answered inside sl_dns_resolve", names[i]);
	}
	struct res h = {0};
	sl_dns_resolve(dns, "fromhosts", on_res, &h);
	cr_assert_eq(h.calls, 0);
	run_until(loop, &h.calls, 1, 5.0);
	spin(0.02);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(r[i].calls, 1, "%s called %d times", names[i], r[i].calls);
	cr_assert_eq(h.calls, 1);
	cr_assert_eq(r[4].err, SL_E_DNS_NOT_FOUND);
}

struct reenter {
	struct res self, inner;
	sl_dns_query *victim;
	int inner_calls_at_return;
};

static void on_reenter(int err, const sl_addr *addrs, size_t n, void *arg)
{
	struct reenter *x = arg;

	on_res(err, addrs, n, &x->self);
	in_callback = 1;
	cr_assert_not_null(sl_dns_resolve(dns, "192.0.2.9", on_res, &x->inner));
	sl_dns_cancel(x->victim);
	x->inner_calls_at_return = x->inner.calls;
	in_callback = 0;
}

Test(dns, a_callback_may_resolve_and_cancel)
{
	struct reenter x = {0};
	struct res victim = {0};

	dns = make(NULL, 0);
	cr_assert_not_null(sl_dns_resolve(dns, "192.0.2.1", on_reenter, &x));
	x.victim = sl_dns_resolve(dns, "dual.test", on_res, &victim);
	run_until(loop, &x.inner.calls, 1, 5.0);
	cr_assert_eq(x.self.calls, 1);
	cr_assert_eq(x.inner.calls, 1);
	cr_assert_eq(x.inner_calls_at_return, 0, "the inner query waits for the next iteration");
	cr_assert_str_eq(fmt(&x.inner.a[0]), "192.0.2.9");
	spin(0.1);
	cr_assert_eq(victim.calls, 0);
}

static void on_free_dns(int err, const sl_addr *addrs, size_t n, void *arg)
{
	on_res(err, addrs, n, arg);
	sl_dns_free(dns);
	dns = NULL;
}

Test(dns, a_callback_may_free_the_resolver)
{
	struct res a = {0}, b = {0}, c = {0};

	dns = make(NULL, 0);
	sl_dns_resolve(dns, "192.0.2.1", on_free_dns, &a);
	sl_dns_resolve(dns, "192.0.2.2", on_res, &b);  /* ready in the same batch */
	sl_dns_resolve(dns, "silent.test", on_res, &c); /* in c-ares */
	run_until(loop, &a.calls, 1, 5.0);
	cr_assert_eq(a.calls, 1);
	cr_assert_null(dns);
	spin(0.05);
	cr_assert_eq(b.calls, 0);
	cr_assert_eq(c.calls, 0);
}

Test(dns, free_cancels_everything_pending)
{
	struct res a = {0}, b = {0}, c = {0};

	dns = make(NULL, 0);
	sl_dns_resolve(dns, "silent.test", on_res, &a);
	sl_dns_resolve(dns, "silent.test", on_res, &b);
	sl_dns_resolve(dns, "192.0.2.1", on_res, &c);
	run_until(loop, &c.calls, 1, 5.0); /* the numeric one is delivered */
	cr_assert_eq(c.calls, 1);
	sl_dns_free(dns);
	dns = NULL;
	spin(0.05);
	cr_assert_eq(a.calls + b.calls, 0);
	cr_assert_eq(sl__dns_cache_count(cache), 0, "a cancelled lookup caches nothing");
}

Test(dns, an_idle_resolver_lets_the_loop_end)
{
	int expired = 0;
	ev_timer guard;

	dns = make(NULL, 0);
	resolve("dual.test");
	ev_timer_init(&guard, on_guard, 2.0, 0.);
	guard.data = &expired;
	ev_timer_start(loop, &guard);
	ev_unref(loop); /* the guard alone must not keep ev_run going */
	ev_run(loop, 0);
	ev_ref(loop);
	ev_timer_stop(loop, &guard);
	cr_assert_eq(expired, 0, "a resolver with nothing pending kept the loop running");
}

Test(dns, bad_servers_fail_creation)
{
	sl_dns_opts o = {.servers = "not-an-address", .hosts_file = ""};
	cr_assert_null(sl_dns_new(loop, cache, &o));
}

/* ---- the cache shared by threads ---- */

struct worker {
	sl_dns_cache *cache;
	const char *name;
	struct res r;
	int made;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ev_loop *l = ev_loop_new(EVFLAG_AUTO);
	sl_dns_opts o = {.servers = R.servers, .hosts_file = ""};
	sl_dns *d = sl_dns_new(l, w->cache, &o);

	if (d && sl_dns_resolve(d, w->name, on_res, &w->r)) {
		w->made = 1;
		run_until(l, &w->r.calls, 1, 5.0);
	}
	sl_dns_free(d);
	ev_loop_destroy(l);
	return NULL;
}

Test(dns, the_cache_is_shared_across_loops_and_threads)
{
	struct worker w1 = {.cache = cache, .name = "dual.test"};
	struct worker w2 = {.cache = cache, .name = "dual.test"};
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, worker_main, &w1), 0);
	pthread_join(t, NULL);
	cr_assert(w1.made);
	cr_assert_eq(w1.r.calls, 1);
	cr_assert_eq(w1.r.n, 4);
	int q = queries("dual.test");
	cr_assert_eq(q, 2);
	cr_assert_eq(pthread_create(&t, NULL, worker_main, &w2), 0);
	pthread_join(t, NULL);
	cr_assert_eq(w2.r.calls, 1);
	cr_assert_eq(w2.r.n, 4);
	cr_assert_eq(memcmp(w1.r.a, w2.r.a, 4 * sizeof w1.r.a[0]), 0);
	cr_assert_eq(queries("dual.test"), q, "the second loop hit the cache");
}

/* ---- internals ---- */

static sl_addr v4(uint8_t last)
{
	return (sl_addr){.family = AF_INET, .b = {192, 0, 2, last}};
}

Test(dns, cache_evicts_the_least_recently_used)
{
	sl_dns_cache *c = sl_dns_cache_new(4);
	char name[32];
	sl_addr a, out[SL_DNS_MAX_ADDRS];
	size_t n;
	int err;

	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "n%d.test", i);
		a = v4((uint8_t)i);
		sl__dns_cache_put(c, name, 0, &a, 1, 60);
	}
	cr_assert_eq(sl__dns_cache_count(c), 4);
	cr_assert(sl__dns_cache_get(c, "n0.test", &err, out, &n)); /* n1 is now the oldest */
	a = v4(4);
	sl__dns_cache_put(c, "n4.test", 0, &a, 1, 60);
	cr_assert_eq(sl__dns_cache_count(c), 4);
	cr_assert_not(sl__dns_cache_get(c, "n1.test", &err, out, &n));
	cr_assert(sl__dns_cache_get(c, "n0.test", &err, out, &n));
	cr_assert_eq(out[0].b[3], 0);
	cr_assert(sl__dns_cache_get(c, "n4.test", &err, out, &n));
	cr_assert_eq(out[0].b[3], 4);
	/* Replacing keeps one entry per name. */
	a = v4(40);
	sl__dns_cache_put(c, "n4.test", 0, &a, 1, 60);
	cr_assert_eq(sl__dns_cache_count(c), 4);
	cr_assert(sl__dns_cache_get(c, "n4.test", &err, out, &n));
	cr_assert_eq(out[0].b[3], 40);
	sl_dns_cache_free(c);
}

Test(dns, cache_entries_expire_and_failures_keep_their_code)
{
	sl_addr a = v4(1), out[SL_DNS_MAX_ADDRS];
	size_t n = 99;
	int err = 1;

	sl__dns_cache_put(cache, "x.test", 0, &a, 1, 10);
	sl__dns_cache_put(cache, "y.test", SL_E_DNS_FAILED, NULL, 0, 5);
	sl__dns_cache_put(cache, "z.test", 0, &a, 1, 0);
	cr_assert(sl__dns_cache_get(cache, "y.test", &err, out, &n));
	cr_assert_eq(err, SL_E_DNS_FAILED);
	cr_assert_eq(n, 0);
	cr_assert_not(sl__dns_cache_get(cache, "z.test", &err, out, &n), "TTL 0 stores nothing");
	fake_ms += 5000;
	cr_assert_not(sl__dns_cache_get(cache, "y.test", &err, out, &n));
	cr_assert(sl__dns_cache_get(cache, "x.test", &err, out, &n));
	cr_assert_eq(err, 0);
	cr_assert_eq(n, 1);
	fake_ms += 5000;
	cr_assert_not(sl__dns_cache_get(cache, "x.test", &err, out, &n));
	cr_assert_eq(sl__dns_cache_count(cache), 0, "expired entries are dropped when found");
}

Test(dns, names_normalise)
{
	char out[SL__DNS_NAME_CAP];

	cr_assert_eq(sl__dns_normalize("WWW.Example.COM.", 16, out), 15);
	cr_assert_str_eq(out, "www.example.com");
	cr_assert_eq(sl__dns_normalize("a_b.test", 8, out), 8);
	cr_assert_eq(sl__dns_normalize("a.test..", 8, out), SL_E_DNS_NOT_FOUND);
	cr_assert_eq(sl__dns_normalize("", 0, out), SL_E_DNS_NOT_FOUND);
	cr_assert_eq(sl__dns_hash("abc"), sl__dns_hash("abc"));
	cr_assert_neq(sl__dns_hash("abc"), sl__dns_hash("abd"));
}

Test(dns, interleaving_starts_with_ipv6_and_drops_duplicates)
{
	sl_addr v6s[SL_DNS_MAX_ADDRS], v4s[SL_DNS_MAX_ADDRS], out[SL_DNS_MAX_ADDRS];
	size_t n6 = 0, n4 = 0;
	sl_addr a;

	for (int i = 0; i < 3; i++) {
		a = v4((uint8_t)i);
		cr_assert(sl__dns_add_unique(v4s, &n4, &a));
		cr_assert(sl__dns_add_unique(v4s, &n4, &a));
	}
	cr_assert_eq(n4, 3);
	sl_addr_parse("2001:db8::1", 11, &a);
	sl__dns_add_unique(v6s, &n6, &a);
	size_t n = sl__dns_interleave(out, v6s, n6, v4s, n4);
	cr_assert_eq(n, 4);
	cr_assert_eq(out[0].family, AF_INET6);
	cr_assert_str_eq(fmt(&out[1]), "192.0.2.0");
	cr_assert_str_eq(fmt(&out[2]), "192.0.2.1");
	cr_assert_str_eq(fmt(&out[3]), "192.0.2.2");
	cr_assert_eq(sl__dns_interleave(out, v6s, 0, v4s, 0), 0);
}

Test(dns, hosts_parser_keeps_file_order_per_name)
{
	sl__dns_hosts h = {0};
	sl_addr out[SL_DNS_MAX_ADDRS];
	char *text = strdup("192.0.2.3 b a\n192.0.2.1 a\n::2 a\n::1 a\n192.0.2.3 a\n");

	cr_assert_eq(sl__dns_hosts_parse(&h, text), 0);
	size_t n = sl__dns_hosts_find(&h, "a", out);
	cr_assert_eq(n, 4, "duplicates dropped");
	cr_assert_str_eq(fmt(&out[0]), "::2");
	cr_assert_str_eq(fmt(&out[1]), "192.0.2.3");
	cr_assert_str_eq(fmt(&out[2]), "::1");
	cr_assert_str_eq(fmt(&out[3]), "192.0.2.1");
	cr_assert_eq(sl__dns_hosts_find(&h, "b", out), 1);
	cr_assert_eq(sl__dns_hosts_find(&h, "c", out), 0);
	cr_assert_eq(sl__dns_hosts_find(&h, "", out), 0);
	sl__dns_hosts_clear(&h);
}
