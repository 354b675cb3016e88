/*
 * Route selection: which rule of a configuration's routes a request
 * matches (sl_route_select(): a pure function of the configuration
 * snapshot and the request, which `sluice --route` and the tests call as
 * the proxy does), and the plan that follows (sl_route_plan_make()): deny,
 * or the routes to try in order, each an sl_route of hops built from the
 * configured upstreams, ordered by the rule's strategy and, when a health
 * table is given, by the health of each upstream and chain (health.h).
 *
 * Matching: every criterion a rule's match gives must hold. hosts and
 * cidrs both describe the destination and count as one criterion: it
 * holds when the host matches a pattern, or when the host is an address
 * literal inside one of the cidrs. A host name is never resolved to choose
 * a route (the route may leave resolution to a proxy, and a rule must not
 * depend on the answers of a resolver), so cidrs apply to literals only.
 * A CONNECT counts as scheme https. When no rule matches, the
 * environment's proxies decide (upstream_from_env), or the request is
 * refused.
 *
 * The plan's strings point into the configuration, which must outlive it;
 * nothing here allocates and nothing blocks.
 */
#ifndef SL_SERVER_ROUTE_SELECT_H
#define SL_SERVER_ROUTE_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "engines/chain.h"

struct sl_health;

#define SL_PLAN_MAX 8       /* routes tried for one request, at most */
#define SL_PLAN_HOPS 64     /* hops of all of them */

/* What the rules look at. */
typedef struct sl_route_req {
	const char *host;   /* the target's host without brackets (host_len bytes) */
	size_t host_len;
	uint16_t port;
	bool https;         /* an https:// URL, or a CONNECT tunnel */
	const char *method; /* the method token, NUL-terminated */
} sl_route_req;

/* One way out: an upstream (one hop), a chain, or direct (both NULL). */
typedef struct sl_plan_via {
	const char *name;                 /* the upstream's or chain's name, "direct",
	                                     or "env:VARIABLE" */
	const sl_conf_upstream *upstream;
	const sl_conf_chain *chain;
} sl_plan_via;

typedef struct sl_route_plan {
	bool deny;                  /* refuse the request (403 naming the rule) */
	const sl_conf_route *rule;  /* the matching rule; NULL: the environment's or none */
	int rule_index;             /* its index in routes, or -1 */
	const char *rule_name;      /* the rule's name, "env" or "none" */
	const char *hier;           /* the access log's hierarchy code for a parent:
	                               DEFAULT_PARENT, FIRSTUP_PARENT, ROUNDROBIN_PARENT */
	size_t n;                   /* ways to try, in order (1 or more unless deny) */
	sl_plan_via via[SL_PLAN_MAX];
	sl_route routes[SL_PLAN_MAX]; /* route i for via i (n == 0 for direct) */
	sl_hop hops[SL_PLAN_HOPS];
} sl_route_plan;

/*
 * Returns the first rule of cfg->routes that matches rq and stores its
 * index in *index (when index is not NULL), or returns NULL (and -1) when
 * none does. Pure; any thread.
 */
const sl_conf_route *sl_route_select(const sl_config *cfg, const sl_route_req *rq, int *index);

/* Whether the match criteria m hold for rq (see the top of this file). */
bool sl_route_match(const sl_conf_match *m, const sl_route_req *rq);

/*
 * Fills *out with the plan for rq: the matching rule's via entries (or the
 * environment's proxy, or direct when it sets none or NO_PROXY lists the
 * host), as routes whose hops point into cfg. A "deny" entry ends the list
 * (the request is refused when it comes first). With several entries the
 * strategy orders them: failover keeps the configured order, round-robin
 * starts at the next entry in turn (a counter per rule in h). When h is
 * given, entries whose upstream or chain is down go after the others
 * (keeping their order), so they are tried only when every other one
 * failed for this request. now_ms is sl_health_now_ms(). h may be NULL.
 */
void sl_route_plan_make(const sl_config *cfg, const sl_route_req *rq, struct sl_health *h,
			uint64_t now_ms, sl_route_plan *out);

/* Copies the plan src into dst, its routes pointing at dst's hops; dst
 * holds references to the TLS contexts of its hops: release it with
 * sl_route_plan_release(). */
void sl_route_plan_copy(sl_route_plan *dst, const sl_route_plan *src);

/* Drops the references a copy holds. */
void sl_route_plan_release(sl_route_plan *p);

/*
 * The trust of https upstreams with a tls.ca_file of their own: one TLS
 * context per such upstream of a configuration, built once (it reads the
 * file: never on a worker's loop) and shared read-only by the workers.
 */
typedef struct sl_route_tls sl_route_tls;

/* Builds the contexts of cfg's upstreams. Returns 0 and *out (NULL when no
 * upstream has a file of its own), or -1 with the reason in err. */
int sl_route_tls_new(const sl_config *cfg, sl_route_tls **out, char *err, size_t errlen);

/* Drops the table's references (connections using a context keep it
 * alive). NULL is allowed. */
void sl_route_tls_free(sl_route_tls *t);

/* Gives the https hops of p whose upstream has a context in t that
 * context (hop->tls; t NULL: nothing). The plan does not hold references:
 * t outlives it, and whoever copies the hops takes its own. */
void sl_route_plan_use_tls(sl_route_plan *p, const sl_route_tls *t);

/* The configured upstream that hop (an index in its route) of v is, or
 * NULL (direct, or an index out of range). */
const sl_conf_upstream *sl_plan_via_hop(const sl_plan_via *v, int hop);

/* How many hops v has. */
size_t sl_plan_via_hops(const sl_plan_via *v);

/*
 * Writes the one-line cause of a proxy error at hop of v into out (cap
 * bytes): the upstream by name, host and port, its place in the chain,
 * then what went wrong, e.g. "upstream corp (proxy.example:8080):
 * proxy authentication failed (407 Proxy Authentication Required, Basic)".
 * status, status_line and scheme are what a refusing HTTP proxy answered
 * (0, "" and "" when nothing). Never writes credentials. Returns the
 * length (cut to cap - 1).
 */
size_t sl_plan_error_text(const sl_plan_via *v, int hop, int code, int status,
			  const char *status_line, const char *scheme, char *out, size_t cap);

#endif
