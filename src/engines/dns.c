/*
 * The resolver of one loop (see dns.h): c-ares driven by libev, with the
 * hosts file, numeric hosts, the shared cache and in-flight
 * de-duplication in front of it.
 *
 * c-ares tells us through its socket-state callback which sockets to watch:
 * one ev_io each (struct sockw), plus one ev_timer set from ares_timeout()
 * after every call into c-ares. A name being resolved is a lookup: one
 * ares_getaddrinfo() (A and AAAA), one ev_timer bounding the whole lookup,
 * and the list of queries waiting on it. Queries never run their callback
 * where they are made or where c-ares completes them: a finished query goes
 * to the ready list and a 0-second timer (kick) delivers that list on the
 * next loop iteration, outside every c-ares call, so a callback may
 * resolve, cancel or free the resolver.
 *
 * Invariants: a query is in exactly one list (its lookup's waiters, ready,
 * or draining while delivered) until its callback starts, and is freed
 * right after the callback returns or when cancelled. A lookup is in the
 * in-flight table while it can still take waiters; once timed out it is
 * an orphan that only waits for c-ares to finish (its answer still fills
 * the cache). Every lookup is on d->lookups until c-ares has called back
 * for it. d->depth counts callbacks being delivered: sl_dns_free inside one
 * releases everything but the struct, which the delivery loop frees last.
 *
 *   query:  WAIT (on a lookup) --answer/timeout--> READY --kick--> RUNNING -> freed
 *           WAIT or READY --sl_dns_cancel--> freed
 */
#include "engines/dns.h"

#include <ares.h>
#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/log.h"
#include "engines/dns_internal.h"

#define DNS_MAGIC 0x444e5352u   /* "DNSR" */
#define QUERY_MAGIC 0x444e5351u /* "DNSQ" */
#define DEAD_MAGIC 0xdeadbeefu

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_NEGATIVE_TTL_S 5
#define DEFAULT_MAX_TTL_S 3600
#define HOSTS_RECHECK_MS 1000
#define INFLIGHT_BUCKETS 64 /* a power of two */

enum qstate { Q_WAIT, Q_READY, Q_RUNNING };

struct link {
	struct link *prev, *next;
};

struct lookup;

struct sl_dns_query {
	struct link link; /* first: a link is its query */
	uint32_t magic;
	enum qstate state;
	sl_dns *d;
	struct lookup *lk; /* while Q_WAIT */
	sl_dns_cb cb;
	void *arg;
	int err;
	size_t n;
	sl_addr addrs[SL_DNS_MAX_ADDRS];
};

struct lookup {
	struct link all;        /* d->lookups */
	struct lookup *hnext;   /* in-flight bucket chain, unless orphan */
	sl_dns *d;
	struct link waiters;    /* sentinel of sl_dns_query links */
	ev_timer timer;         /* the whole lookup's deadline */
	uint32_t hash;
	bool orphan;
	char name[SL__DNS_NAME_CAP];
};

struct sockw {
	ev_io io;
	sl_dns *d;
	struct sockw *next;
	ares_socket_t fd;
};

struct sl_dns {
	uint32_t magic;
	struct ev_loop *loop;
	sl_dns_cache *cache;
	uint64_t timeout_ms;
	uint32_t negative_ttl_s, max_ttl_s;
	char *hosts_path;        /* NULL: no hosts file */
	sl__dns_hosts hosts;
	uint64_t hosts_checked_ms;
	ares_channel ch;
	struct sockw *socks;
	ev_timer ares_timer;     /* c-ares' own retransmission deadlines */
	ev_timer kick;           /* delivers ready on the next iteration */
	struct link ready, draining, lookups;
	struct lookup *inflight[INFLIGHT_BUCKETS];
	unsigned depth;
	bool dying;
};

/* ---- lists ---- */

static void list_init(struct link *l)
{
	l->prev = l->next = l;
}

static bool list_empty(const struct link *l)
{
	return l->next == l;
}

static void list_unlink(struct link *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = e;
}

static void list_append(struct link *head, struct link *e)
{
	e->prev = head->prev;
	e->next = head;
	head->prev->next = e;
	head->prev = e;
}

/* Moves every element of from to the end of to. */
static void list_splice(struct link *to, struct link *from)
{
	if (list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	list_init(from);
}

static sl_dns_query *query_of(struct link *l)
{
	return (sl_dns_query *)l; /* link is the first member */
}

static struct lookup *lookup_of_all(struct link *l)
{
	return (struct lookup *)((char *)l - offsetof(struct lookup, all));
}

/* ---- library, queries, delivery ---- */

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_rc;

static void ares_global_init(void)
{
	ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

static void check(const sl_dns *d)
{
	assert(d && d->magic == DNS_MAGIC);
	(void)d;
}

static void query_free(sl_dns_query *q)
{
	q->magic = DEAD_MAGIC;
	free(q);
}

static void kick(sl_dns *d)
{
	if (!ev_is_active(&d->kick) && !d->dying) {
		ev_timer_set(&d->kick, 0., 0.);
		ev_timer_start(d->loop, &d->kick);
	}
}

/* Gives q its result and queues it for delivery. */
static void make_ready(sl_dns_query *q, int err, const sl_addr *addrs, size_t n)
{
	sl_dns *d = q->d;

	q->state = Q_READY;
	q->lk = NULL;
	q->err = n ? 0 : err;
	q->n = n;
	if (n)
		memcpy(q->addrs, addrs, n * sizeof *addrs);
	list_append(&d->ready, &q->link);
	kick(d);
}

static void destroy_final(sl_dns *d)
{
	d->magic = DEAD_MAGIC;
	free(d);
}

/* The kick: runs the callbacks of every query ready when it fired. Queries
 * made ready by those callbacks wait for the next iteration. */
static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	sl_dns *d = w->data;

	(void)loop;
	(void)revents;
	check(d);
	list_splice(&d->draining, &d->ready);
	d->depth++;
	while (!d->dying && !list_empty(&d->draining)) {
		sl_dns_query *q = query_of(d->draining.next);

		list_unlink(&q->link);
		q->state = Q_RUNNING;
		q->cb(q->err, q->n ? q->addrs : NULL, q->n, q->arg);
		query_free(q);
	}
	d->depth--;
	if (d->dying && d->depth == 0)
		destroy_final(d);
}

/* ---- c-ares on libev ---- */

static void arm_ares_timer(sl_dns *d)
{
	struct timeval tv, *tvp;

	ev_timer_stop(d->loop, &d->ares_timer);
	if (!d->ch)
		return;
	tvp = ares_timeout(d->ch, NULL, &tv);
	if (!tvp)
		return;
	ev_timer_set(&d->ares_timer, (double)tvp->tv_sec + (double)tvp->tv_usec / 1e6, 0.);
	ev_timer_start(d->loop, &d->ares_timer);
}

static void on_ares_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	sl_dns *d = w->data;

	(void)loop;
	(void)revents;
	check(d);
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_ares_timer(d);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sockw *sw = (struct sockw *)w;
	sl_dns *d = sw->d;
	ares_socket_t fd = sw->fd;

	(void)loop;
	check(d);
	/* c-ares may close the socket (and we free sw) inside this call. */
	ares_process_fd(d->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
			(revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	arm_ares_timer(d);
}

/* c-ares' socket-state callback: watch fd for what it asks, or forget it. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	sl_dns *d = data;
	struct sockw **l = &d->socks, *sw;
	int ev = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	while (*l && (*l)->fd != fd)
		l = &(*l)->next;
	sw = *l;
	if (!ev) {
		if (sw) {
			ev_io_stop(d->loop, &sw->io);
			*l = sw->next;
			free(sw);
		}
		return;
	}
	if (!sw) {
		sw = calloc(1, sizeof *sw);
		if (!sw) {
			/* Unwatched, the query ends by its timeouts. */
			SL_WARN("dns: out of memory watching a resolver socket");
			return;
		}
		sw->d = d;
		sw->fd = fd;
		ev_io_init(&sw->io, on_io, fd, ev);
		sw->next = d->socks;
		d->socks = sw;
	} else {
		ev_io_stop(d->loop, &sw->io);
		ev_io_set(&sw->io, fd, ev);
	}
	ev_io_start(d->loop, &sw->io);
}

/* ---- lookups ---- */

static void inflight_remove(sl_dns *d, struct lookup *lk)
{
	struct lookup **l = &d->inflight[lk->hash & (INFLIGHT_BUCKETS - 1)];

	if (lk->orphan)
		return;
	while (*l != lk)
		l = &(*l)->hnext;
	*l = lk->hnext;
	lk->hnext = NULL;
	lk->orphan = true;
}

static struct lookup *inflight_find(sl_dns *d, const char *name, uint32_t h)
{
	for (struct lookup *lk = d->inflight[h & (INFLIGHT_BUCKETS - 1)]; lk; lk = lk->hnext)
		if (lk->hash == h && strcmp(lk->name, name) == 0)
			return lk;
	return NULL;
}

/* Completes every waiter of lk with one result. */
static void finish_waiters(struct lookup *lk, int err, const sl_addr *addrs, size_t n)
{
	while (!list_empty(&lk->waiters)) {
		sl_dns_query *q = query_of(lk->waiters.next);
		list_unlink(&q->link);
		make_ready(q, err, addrs, n);
	}
}

static void lookup_free(struct lookup *lk)
{
	ev_timer_stop(lk->d->loop, &lk->timer);
	inflight_remove(lk->d, lk);
	list_unlink(&lk->all);
	free(lk);
}

static void on_lookup_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lookup *lk = w->data;

	(void)loop;
	(void)revents;
	/* c-ares cannot cancel one query: the lookup is orphaned and its late
	 * answer, if any, only fills the cache. */
	inflight_remove(lk->d, lk);
	finish_waiters(lk, SL_E_DNS_TIMEOUT, NULL, 0);
}

static int map_status(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
	case ARES_EBADNAME:
		return SL_E_DNS_NOT_FOUND;
	case ARES_ETIMEOUT:
		return SL_E_DNS_TIMEOUT;
	default:
		return SL_E_DNS_FAILED;
	}
}

/* Reads c-ares' answer: addresses in answer order and the smallest TTL of
 * the records (addresses and CNAMEs) that made it. */
static size_t collect(const struct ares_addrinfo *res, sl_addr *out, uint32_t *ttl)
{
	sl_addr v6[SL_DNS_MAX_ADDRS], v4[SL_DNS_MAX_ADDRS];
	size_t n6 = 0, n4 = 0;
	int min_ttl = INT_MAX;

	for (const struct ares_addrinfo_node *ai = res->nodes; ai; ai = ai->ai_next) {
		sl_addr a;
		uint16_t port;

		if (!ai->ai_addr || sl_addr_from_sockaddr(ai->ai_addr, &a, &port) < 0)
			continue;
		if (a.family == AF_INET6)
			sl__dns_add_unique(v6, &n6, &a);
		else
			sl__dns_add_unique(v4, &n4, &a);
		if (ai->ai_ttl < min_ttl)
			min_ttl = ai->ai_ttl;
	}
	for (const struct ares_addrinfo_cname *c = res->cnames; c; c = c->next)
		if (c->ttl < min_ttl)
			min_ttl = c->ttl;
	*ttl = min_ttl < 0 ? 0 : (uint32_t)min_ttl;
	return sl__dns_interleave(out, v6, n6, v4, n4);
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *lk = arg;
	sl_dns *d = lk->d;
	sl_addr addrs[SL_DNS_MAX_ADDRS];
	size_t n = 0;
	uint32_t ttl = 0;
	int err;

	(void)timeouts;
	if (status == ARES_SUCCESS && res)
		n = collect(res, addrs, &ttl);
	if (res)
		ares_freeaddrinfo(res);
	if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) {
		lookup_free(lk); /* sl_dns_free: its waiters are gone already */
		return;
	}
	err = n ? 0 : status == ARES_SUCCESS ? SL_E_DNS_NOT_FOUND : map_status(status);
	if (d->cache) {
		if (n)
			sl__dns_cache_put(d->cache, lk->name, 0, addrs, n,
					  ttl < d->max_ttl_s ? ttl : d->max_ttl_s);
		else if (err != SL_E_DNS_TIMEOUT && status != ARES_ENOMEM)
			sl__dns_cache_put(d->cache, lk->name, err, NULL, 0, d->negative_ttl_s);
	}
	finish_waiters(lk, err, addrs, n);
	lookup_free(lk);
}

/* Starts a lookup of name with q as its first waiter. c-ares may call back
 * before this returns (then q is already ready). */
static int lookup_start(sl_dns *d, const char *name, uint32_t h, sl_dns_query *q)
{
	struct lookup *lk = calloc(1, sizeof *lk);
	struct ares_addrinfo_hints hints = {
		.ai_family = AF_UNSPEC,
		.ai_flags = ARES_AI_NOSORT, /* we order the answer ourselves */
	};

	if (!lk)
		return SL_E_NOMEM;
	lk->d = d;
	lk->hash = h;
	strcpy(lk->name, name);
	list_init(&lk->waiters);
	list_append(&d->lookups, &lk->all);
	lk->hnext = d->inflight[h & (INFLIGHT_BUCKETS - 1)];
	d->inflight[h & (INFLIGHT_BUCKETS - 1)] = lk;
	ev_timer_init(&lk->timer, on_lookup_timeout, (double)d->timeout_ms / 1000., 0.);
	lk->timer.data = lk;
	ev_timer_start(d->loop, &lk->timer);
	q->state = Q_WAIT;
	q->lk = lk;
	list_append(&lk->waiters, &q->link);
	ares_getaddrinfo(d->ch, name, NULL, &hints, on_addrinfo, lk);
	arm_ares_timer(d);
	return 0;
}

/* ---- the resolver ---- */

static int set_servers(ares_channel ch, const char *servers)
{
	return ares_set_servers_ports_csv(ch, servers) == ARES_SUCCESS ? 0 : SL_E_INVAL;
}

/*
 * Creates a resolver on loop (see dns.h). Its channel searches no domain
 * list (ARES_FLAG_NOSEARCH: a proxy resolves the names clients send as they
 * are) and never reads the hosts file itself; per-try timeouts are a third
 * of the lookup's bound, with two tries. Reads /etc/resolv.conf (through
 * c-ares) and the hosts file: call it when a worker starts, not per
 * request. Returns NULL when out of memory, when c-ares cannot start or
 * when opts->servers does not parse.
 */
sl_dns *sl_dns_new(struct ev_loop *loop, sl_dns_cache *cache, const sl_dns_opts *opts)
{
	static const sl_dns_opts defaults = {0};
	struct ares_options ao;
	int mask;
	uint64_t try_ms;
	sl_dns *d;

	pthread_once(&ares_once, ares_global_init);
	if (ares_init_rc != ARES_SUCCESS)
		return NULL;
	if (!opts)
		opts = &defaults;
	d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->magic = DNS_MAGIC;
	d->loop = loop;
	d->cache = cache;
	d->timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	d->negative_ttl_s = opts->negative_ttl_s ? opts->negative_ttl_s : DEFAULT_NEGATIVE_TTL_S;
	d->max_ttl_s = opts->max_ttl_s ? opts->max_ttl_s : DEFAULT_MAX_TTL_S;
	list_init(&d->ready);
	list_init(&d->draining);
	list_init(&d->lookups);
	ev_timer_init(&d->kick, on_kick, 0., 0.);
	d->kick.data = d;
	ev_timer_init(&d->ares_timer, on_ares_timer, 0., 0.);
	d->ares_timer.data = d;

	const char *hosts = opts->hosts_file ? opts->hosts_file : "/etc/hosts";
	if (*hosts) {
		d->hosts_path = strdup(hosts);
		if (!d->hosts_path || sl__dns_hosts_refresh(&d->hosts, d->hosts_path) < 0)
			goto fail;
		d->hosts_checked_ms = sl__dns_now_ms();
	}

	try_ms = d->timeout_ms / 3;
	if (try_ms < 50)
		try_ms = 50;
	if (try_ms > INT_MAX)
		try_ms = INT_MAX;
	memset(&ao, 0, sizeof ao);
	ao.flags = ARES_FLAG_NOSEARCH;
	ao.timeout = (int)try_ms;
	ao.tries = 2;
	ao.lookups = (char *)"b";
	ao.sock_state_cb = on_sock_state;
	ao.sock_state_cb_data = d;
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
	       ARES_OPT_SOCK_STATE_CB;
	if (ares_init_options(&d->ch, &ao, mask) != ARES_SUCCESS) {
		d->ch = NULL;
		goto fail;
	}
	if (opts->servers && set_servers(d->ch, opts->servers) < 0)
		goto fail;
	return d;
fail:
	if (d->ch)
		ares_destroy(d->ch);
	sl__dns_hosts_clear(&d->hosts);
	free(d->hosts_path);
	destroy_final(d);
	return NULL;
}

/*
 * Cancels every pending query (no callback runs) and frees the resolver.
 * Safe inside one of its own callbacks: the memory is released when that
 * callback returns. Queries still in c-ares are cancelled; their answers
 * never reach the cache.
 */
void sl_dns_free(sl_dns *d)
{
	if (!d)
		return;
	check(d);
	assert(!d->dying);
	d->dying = true;
	while (!list_empty(&d->ready)) {
		sl_dns_query *q = query_of(d->ready.next);
		list_unlink(&q->link);
		query_free(q);
	}
	while (!list_empty(&d->draining)) {
		sl_dns_query *q = query_of(d->draining.next);
		list_unlink(&q->link);
		query_free(q);
	}
	for (struct link *l = d->lookups.next; l != &d->lookups; l = l->next) {
		struct lookup *lk = lookup_of_all(l);
		while (!list_empty(&lk->waiters)) {
			sl_dns_query *q = query_of(lk->waiters.next);
			list_unlink(&q->link);
			query_free(q);
		}
		inflight_remove(d, lk);
	}
	/* Cancelling first ends each getaddrinfo once all its queries are
	 * accounted for; destroying then finds nothing pending. */
	ares_cancel(d->ch);
	ares_destroy(d->ch);
	d->ch = NULL;
	while (!list_empty(&d->lookups))
		lookup_free(lookup_of_all(d->lookups.next));
	while (d->socks) {
		struct sockw *sw = d->socks;
		d->socks = sw->next;
		ev_io_stop(d->loop, &sw->io);
		free(sw);
	}
	ev_timer_stop(d->loop, &d->kick);
	ev_timer_stop(d->loop, &d->ares_timer);
	sl__dns_hosts_clear(&d->hosts);
	free(d->hosts_path);
	d->hosts_path = NULL;
	if (d->depth == 0)
		destroy_final(d);
}

/* "[v6]" without its brackets; false when host is bracketed but not IPv6. */
static bool numeric(const char *host, size_t n, sl_addr *a, bool *is_num)
{
	*is_num = false;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (sl_addr_parse(host + 1, n - 2, a) < 0 || a->family != AF_INET6)
			return false;
		*is_num = true;
		return true;
	}
	*is_num = sl_addr_parse(host, n, a) == 0;
	return true;
}

/* RFC 6761 section 6.3: "localhost" and names under it are loopback. */
static bool is_localhost(const char *name, size_t n)
{
	static const char lh[] = "localhost";
	size_t k = sizeof lh - 1;

	if (n < k || memcmp(name + n - k, lh, k) != 0)
		return false;
	return n == k || name[n - k - 1] == '.';
}

static size_t hosts_lookup(sl_dns *d, const char *name, sl_addr *out)
{
	uint64_t now;

	if (!d->hosts_path)
		return 0;
	now = sl__dns_now_ms();
	if (now - d->hosts_checked_ms >= HOSTS_RECHECK_MS) {
		d->hosts_checked_ms = now;
		if (sl__dns_hosts_refresh(&d->hosts, d->hosts_path) < 0)
			SL_WARN("dns: out of memory reading %s", d->hosts_path);
	}
	return sl__dns_hosts_find(&d->hosts, name, out);
}

/*
 * Resolves host (see dns.h): numeric addresses (also "[v6]"), then the
 * hosts file, then "localhost" names, then the shared cache answer without
 * a query; otherwise the query joins the lookup of the same name in
 * flight, or starts one. A host that is not a valid DNS name fails with
 * SL_E_DNS_NOT_FOUND. cb always runs later from the loop, exactly once,
 * unless cancelled or the resolver is freed first. Returns NULL only when
 * out of memory.
 */
sl_dns_query *sl_dns_resolve(sl_dns *d, const char *host, sl_dns_cb cb, void *arg)
{
	char name[SL__DNS_NAME_CAP];
	sl_addr addrs[SL_DNS_MAX_ADDRS];
	size_t hn = strlen(host), n;
	sl_dns_query *q;
	struct lookup *lk;
	bool is_num;
	int len, err;
	uint32_t h;

	check(d);
	assert(!d->dying && cb);
	q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->magic = QUERY_MAGIC;
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	list_init(&q->link);

	if (!numeric(host, hn, &addrs[0], &is_num)) {
		make_ready(q, SL_E_DNS_NOT_FOUND, NULL, 0);
		return q;
	}
	if (is_num) {
		make_ready(q, 0, addrs, 1);
		return q;
	}
	len = sl__dns_normalize(host, hn, name);
	if (len < 0) {
		make_ready(q, len, NULL, 0);
		return q;
	}
	n = hosts_lookup(d, name, addrs);
	if (n) {
		make_ready(q, 0, addrs, n);
		return q;
	}
	if (is_localhost(name, (size_t)len)) {
		static const sl_addr loop6 = {.family = AF_INET6, .b = {[15] = 1}};
		static const sl_addr loop4 = {.family = AF_INET, .b = {127, 0, 0, 1}};
		addrs[0] = loop6;
		addrs[1] = loop4;
		make_ready(q, 0, addrs, 2);
		return q;
	}
	if (d->cache && sl__dns_cache_get(d->cache, name, &err, addrs, &n)) {
		make_ready(q, err, addrs, n);
		return q;
	}
	h = sl__dns_hash(name);
	lk = inflight_find(d, name, h);
	if (lk) {
		q->state = Q_WAIT;
		q->lk = lk;
		list_append(&lk->waiters, &q->link);
		return q;
	}
	if (lookup_start(d, name, h, q) < 0) {
		query_free(q);
		return NULL;
	}
	return q;
}

/*
 * Cancels q: its callback will not run, and q is freed. A lookup left
 * without waiters goes on (c-ares cannot cancel one query) and still fills
 * the cache. Cancelling a query whose callback is running is a no-op.
 */
void sl_dns_cancel(sl_dns_query *q)
{
	if (!q)
		return;
	assert(q->magic == QUERY_MAGIC);
	if (q->state == Q_RUNNING)
		return;
	list_unlink(&q->link);
	query_free(q);
}
