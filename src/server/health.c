/*
 * The health table (see health.h). A fixed array of slots addressed by an
 * FNV-1a hash of the name with linear probing; a slot goes from EMPTY to
 * READY once, under the mutex, its name written before the release store
 * that publishes it, so lookups need no lock. An entry's state is its
 * down_until word: 0 while up, else the monotonic millisecond at which a
 * retry is due. Counters are atomics; backoff, the time it went down and
 * the last error change under the mutex, which only reports that change
 * something take.
 */
#include "server/health.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "server/server.h"

#define HEALTH_MAGIC 0x48454c54u /* "HELT" */
#define SLOTS 1024u              /* a power of two */
#define ERR_MAX 200

enum { SLOT_EMPTY = 0, SLOT_WRITING, SLOT_READY };

struct sl_health_entry {
	atomic_int state;
	char name[SL_HEALTH_NAME_MAX];
	atomic_uint_fast64_t down_until;   /* 0: up */
	atomic_uint fails;                 /* proxy failures in a row */
	atomic_uint_fast64_t total_failures;
	atomic_uint_fast64_t successes;
	atomic_uint turn;                  /* round-robin rules */
	uint64_t backoff_ms;               /* the mutex's */
	uint64_t down_since;               /* the mutex's */
	char last_error[ERR_MAX];          /* the mutex's */
};

struct sl_health {
	uint32_t magic;
	pthread_mutex_t mu;
	sl_health_entry slots[SLOTS];
};

sl_health *sl_health_new(void)
{
	sl_health *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->magic = HEALTH_MAGIC;
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

void sl_health_free(sl_health *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->mu);
	h->magic = 0;
	free(h);
}

uint64_t sl_health_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t hash(const char *s)
{
	uint32_t x = 2166136261u;

	while (*s)
		x = (x ^ (unsigned char)*s++) * 16777619u;
	return x;
}

sl_health_entry *sl_health_find(const sl_health *h, const char *name)
{
	uint32_t i = hash(name);

	if (!h)
		return NULL;
	for (uint32_t k = 0; k < SLOTS; k++) {
		const sl_health_entry *e = &h->slots[(i + k) & (SLOTS - 1)];
		int st = atomic_load_explicit(&e->state, memory_order_acquire);

		if (st == SLOT_EMPTY)
			return NULL;
		if (st == SLOT_READY && strcmp(e->name, name) == 0)
			return (sl_health_entry *)e;
	}
	return NULL;
}

sl_health_entry *sl_health_get(sl_health *h, const char *name)
{
	sl_health_entry *e;
	uint32_t i;

	if (!h || strlen(name) >= SL_HEALTH_NAME_MAX)
		return NULL;
	if ((e = sl_health_find(h, name)))
		return e;
	pthread_mutex_lock(&h->mu);
	i = hash(name);
	e = NULL;
	for (uint32_t k = 0; k < SLOTS; k++) {
		sl_health_entry *s = &h->slots[(i + k) & (SLOTS - 1)];
		int st = atomic_load_explicit(&s->state, memory_order_relaxed);

		if (st == SLOT_READY && strcmp(s->name, name) == 0) {
			e = s;
			break;
		}
		if (st == SLOT_EMPTY) {
			atomic_store_explicit(&s->state, SLOT_WRITING, memory_order_relaxed);
			snprintf(s->name, sizeof s->name, "%s", name);
			atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
			e = s;
			break;
		}
	}
	pthread_mutex_unlock(&h->mu);
	return e;
}

bool sl_health_usable(const sl_health_entry *e, uint64_t now_ms)
{
	uint64_t until = atomic_load_explicit(&((sl_health_entry *)e)->down_until,
					      memory_order_relaxed);

	return until == 0 || now_ms >= until;
}

bool sl_health_down(const sl_health_entry *e)
{
	return atomic_load_explicit(&((sl_health_entry *)e)->down_until, memory_order_relaxed) != 0;
}

unsigned sl_health_turn(sl_health *h, const char *rule)
{
	char key[SL_HEALTH_NAME_MAX];
	sl_health_entry *e;

	/* "rule:" keeps rules apart from upstreams of the same name. */
	snprintf(key, sizeof key, "rule:%s", rule);
	e = sl_health_get(h, key);
	return e ? atomic_fetch_add_explicit(&e->turn, 1, memory_order_relaxed) : 0;
}

static void fmt_ms(uint64_t ms, char *out, size_t cap)
{
	if (sl_format_duration(ms, out, cap) < 0)
		snprintf(out, cap, "%llums", (unsigned long long)ms);
}

void sl_health_report(sl_health *h, sl_health_entry *e, const sl_conf_health *conf, int err,
		      const char *what, uint64_t now_ms)
{
	char b[32];

	if (!h || !e)
		return;
	if (err >= 0) {
		uint64_t was;

		atomic_fetch_add_explicit(&e->successes, 1, memory_order_relaxed);
		if (atomic_load_explicit(&e->fails, memory_order_relaxed) == 0 &&
		    atomic_load_explicit(&e->down_until, memory_order_relaxed) == 0)
			return;
		pthread_mutex_lock(&h->mu);
		was = atomic_exchange_explicit(&e->down_until, 0, memory_order_relaxed);
		atomic_store_explicit(&e->fails, 0, memory_order_relaxed);
		if (was) {
			fmt_ms(now_ms > e->down_since ? now_ms - e->down_since : 0, b, sizeof b);
			SL_INFO("health: %s is up again (it was down for %s)", e->name, b);
		}
		e->backoff_ms = 0;
		pthread_mutex_unlock(&h->mu);
		return;
	}
	pthread_mutex_lock(&h->mu);
	atomic_fetch_add_explicit(&e->total_failures, 1, memory_order_relaxed);
	snprintf(e->last_error, sizeof e->last_error, "%s", what ? what : sl_strerror(err));
	uint64_t until = atomic_load_explicit(&e->down_until, memory_order_relaxed);
	if (until) {
		/* Down already: only a failed retry (one tried once the retry was
		 * due) lengthens the wait; failures of attempts that started
		 * before it went down do not. */
		if (now_ms >= until) {
			e->backoff_ms = e->backoff_ms * 2 > conf->max_retry_ms ? conf->max_retry_ms
									 : e->backoff_ms * 2;
			if (e->backoff_ms < conf->retry_ms)
				e->backoff_ms = conf->retry_ms;
			atomic_store_explicit(&e->down_until, now_ms + e->backoff_ms,
					      memory_order_relaxed);
			fmt_ms(e->backoff_ms, b, sizeof b);
			SL_WARN("health: %s is still down: %s; next try in %s", e->name,
				e->last_error, b);
		}
	} else {
		unsigned fails = atomic_fetch_add_explicit(&e->fails, 1, memory_order_relaxed) + 1;

		if (fails >= conf->down_after) {
			e->backoff_ms = conf->retry_ms;
			e->down_since = now_ms;
			atomic_store_explicit(&e->down_until, now_ms + e->backoff_ms,
					      memory_order_relaxed);
			fmt_ms(e->backoff_ms, b, sizeof b);
			SL_WARN("health: %s is down after %u failure%s in a row: %s; next try in %s",
				e->name, fails, fails == 1 ? "" : "s", e->last_error, b);
		}
	}
	pthread_mutex_unlock(&h->mu);
}

/* ---- the status page ---- */

struct out {
	char *p;
	size_t n, cap;
	bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (o->full)
		return;
	va_start(ap, fmt);
	k = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= o->cap - o->n) {
		o->full = true;
		return;
	}
	o->n += (size_t)k;
}

/* A JSON string of s. */
static void put_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s && !o->full; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

static void put_entry(struct out *o, sl_health *h, const char *name, const char *kind,
		      const sl_conf_upstream *const *hops, size_t nhops, uint64_t now, bool *first)
{
	sl_health_entry *e = sl_health_find(h, name);
	uint64_t until = e ? atomic_load_explicit(&e->down_until, memory_order_relaxed) : 0;
	const char *state = !until ? "up" : now >= until ? "retrying" : "down";
	char last[ERR_MAX] = "";
	uint64_t since = 0;

	if (e) {
		pthread_mutex_lock(&h->mu);
		memcpy(last, e->last_error, sizeof last);
		since = e->down_since;
		pthread_mutex_unlock(&h->mu);
	}
	put(o, "%s\n  {\"name\": ", *first ? "" : ",");
	*first = false;
	put_str(o, name);
	put(o, ", \"kind\": \"%s\", \"hops\": [", kind);
	for (size_t i = 0; i < nhops; i++) {
		put(o, "%s", i ? ", " : "");
		put_str(o, hops[i]->name);
	}
	put(o, "], \"state\": \"%s\", \"failures\": %u, \"total_failures\": %llu, "
	       "\"successes\": %llu, \"retry_in_ms\": %llu, \"down_for_ms\": %llu, "
	       "\"last_error\": ",
	    state, e ? atomic_load(&e->fails) : 0u,
	    (unsigned long long)(e ? atomic_load(&e->total_failures) : 0),
	    (unsigned long long)(e ? atomic_load(&e->successes) : 0),
	    (unsigned long long)(until > now ? until - now : 0),
	    (unsigned long long)(until && now > since ? now - since : 0));
	if (last[0])
		put_str(o, last);
	else
		put(o, "null");
	put(o, "}");
}

int sl_health_json(sl_health *h, const sl_config *cfg, uint64_t now_ms, char *out, size_t cap)
{
	struct out o = {out, 0, cap, cap == 0};
	bool first = true;

	put(&o, "{\"upstreams\": [");
	for (size_t i = 0; i < cfg->upstreams.n; i++) {
		const sl_conf_upstream *u = &cfg->upstreams.v[i];
		put_entry(&o, h, u->name, "upstream", &u, 1, now_ms, &first);
	}
	for (size_t i = 0; i < cfg->chains.n; i++) {
		const sl_conf_chain *c = &cfg->chains.v[i];
		put_entry(&o, h, c->name, "chain", c->hops.v, c->hops.n, now_ms, &first);
	}
	if (cfg->env.http)
		put_entry(&o, h, cfg->env.http->name, "env", &cfg->env.http, 1, now_ms, &first);
	if (cfg->env.https && cfg->env.https != cfg->env.http)
		put_entry(&o, h, cfg->env.https->name, "env", &cfg->env.https, 1, now_ms, &first);
	put(&o, "%s]}\n", first ? "" : "\n");
	return o.full ? SL_E_INVAL : (int)o.n;
}

/* ---- reports from the client stack ---- */

const char *sl_health_describe(const sl_route *route, const sl_chain_err *e, char *out,
			       size_t cap)
{
	const sl_hop *hp = e->hop >= 0 && (size_t)e->hop < route->n ? &route->hops[e->hop] : NULL;
	bool v6 = hp && strchr(hp->host, ':');
	char said[96] = "";

	if (e->status && e->status_line[0])
		snprintf(said, sizeof said, " (%s%s%s)", e->status_line, e->scheme[0] ? ", " : "",
			 e->scheme);
	if (hp)
		snprintf(out, cap, "hop %d (%s, %s%s%s:%u): %s%s", e->hop + 1,
			 hp->label ? hp->label : "?", v6 ? "[" : "", hp->host, v6 ? "]" : "",
			 hp->port, sl_strerror(e->code), said);
	else
		snprintf(out, cap, "%s%s", sl_strerror(e->code), said);
	return out;
}

void sl_health_route_event(void *arg, const sl_route *route, const sl_chain_err *e)
{
	sl_session_env *env = arg;
	sl_health_entry *ent;
	char what[ERR_MAX];
	bool failed = e->code < 0 && e->proxy;

	if (!env->health || !route->name)
		return;
	ent = sl_health_get(env->health, route->name);
	if (!ent)
		return;
	sl_health_report(env->health, ent, &env->cfg->health, failed ? e->code : 0,
			 failed ? sl_health_describe(route, e, what, sizeof what) : NULL,
			 sl_health_now_ms());
}
