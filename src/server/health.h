/*
 * The health of upstreams and chains, shared by every worker of the
 * process and kept across configuration reloads: one entry per name (an
 * upstream's or chain's, "env:VAR" for the environment's proxies; names
 * are one namespace in a configuration), created on first use, never
 * removed. An entry is up until health.down_after proxy failures in a row
 * mark it down for health.retry; a failed retry doubles that time up to
 * health.max_retry; any success brings it up again. Every transition is
 * logged (the text of the failure names the hop, never credentials).
 *
 *   up --down_after failures--> down(retry) --time passes--> retry due
 *   retry due --failure--> down(2 x previous, at most max_retry)
 *   down or retry due --success--> up
 *
 * The request path reads an entry with one atomic load (sl_health_usable);
 * reports take the table's mutex only when they change something. Round-
 * robin counters per rule name live here too, so that all workers take
 * turns together. Entries are found by name in a fixed open-addressing
 * table: lookups take no lock (a slot's name is published with a release
 * store once written), insertions take the mutex.
 */
#ifndef SL_SERVER_HEALTH_H
#define SL_SERVER_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "engines/chain.h"

typedef struct sl_health sl_health;
typedef struct sl_health_entry sl_health_entry;

struct sl_session_env;

/* The longest name an entry keeps (names of configurations are at most 64
 * bytes; "env:" names a little more). */
#define SL_HEALTH_NAME_MAX 96

/* Creates an empty table. Returns NULL when out of memory. */
sl_health *sl_health_new(void);

/* Frees the table. NULL is allowed. No other thread may use it then. */
void sl_health_free(sl_health *h);

/* Milliseconds of a monotonic clock: the time base of every call below. */
uint64_t sl_health_now_ms(void);

/* The entry of name, created (up) when new; NULL when the table is full
 * or name is too long. Any thread. */
sl_health_entry *sl_health_get(sl_health *h, const char *name);

/* The entry of name if it exists, else NULL (an unknown name is up).
 * Lock-free; any thread. */
sl_health_entry *sl_health_find(const sl_health *h, const char *name);

/* Whether e may be tried now: up, or down with its retry time come. One
 * atomic load. */
bool sl_health_usable(const sl_health_entry *e, uint64_t now_ms);

/* Whether e is down (retry due or not). */
bool sl_health_down(const sl_health_entry *e);

/*
 * Records the outcome of using e: err 0 for a success, else a proxy error
 * described by what (one line without credentials, e.g. "hop 1, upstream
 * corp (10.0.0.5:3128): connection to the proxy refused"). conf gives the
 * thresholds (the current configuration's health). Logs transitions. Any
 * thread.
 */
void sl_health_report(sl_health *h, sl_health_entry *e, const sl_conf_health *conf, int err,
		      const char *what, uint64_t now_ms);

/* The next turn of round-robin rule: a counter that every call bumps. */
unsigned sl_health_turn(sl_health *h, const char *rule);

/*
 * Writes the state of every upstream and chain of cfg (and the
 * environment's proxies) as one JSON object into out (cap bytes):
 * {"upstreams": [{"name", "kind", "hops", "state", "failures",
 * "total_failures", "successes", "retry_in_ms", "down_for_ms",
 * "last_error"}...]}. Returns the length, or SL_E_INVAL when cap is too
 * small.
 */
int sl_health_json(sl_health *h, const sl_config *cfg, uint64_t now_ms, char *out, size_t cap);

/*
 * The manager's route_event hook (client/manager.h) for a worker: arg is
 * the worker's sl_session_env, whose health table and configuration
 * (thresholds) it uses. A connect that reached every hop counts as a
 * success, a proxy error as a failure of the route's entry.
 */
void sl_health_route_event(void *arg, const sl_route *route, const sl_chain_err *e);

/*
 * Describes e at route for the log: "hop 2 (upstream b, 10.0.0.2:3128):
 * proxy rejected the credentials (407 Proxy Authentication Required)".
 * Returns out.
 */
const char *sl_health_describe(const sl_route *route, const sl_chain_err *e, char *out,
			       size_t cap);

#endif
