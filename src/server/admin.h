/*
 * Requests to the proxy itself: an origin-form request ("GET /path") is not
 * something a forward proxy can forward, so it goes here. Under
 * admin.path_prefix (default "/__sluice") the admin pages answer: /health
 * ("ok"), /stats (the serving worker's counters as JSON, with the
 * generation and load time of the configuration it serves new requests
 * with), /cache (the cache's summary, answered by the session) and
 * /upstreams (the state of every upstream and chain, health.h, as JSON, also
 * answered by the session), for clients in admin.allow when admin.enabled;
 * anything else gets 400 and a short text telling a person who opened the
 * proxy's address in a browser how to use it. Routing is a pure function so
 * it can be tested alone; answering
 * writes into the caller's buffer.
 */
#ifndef SL_SERVER_ADMIN_H
#define SL_SERVER_ADMIN_H

#include <stddef.h>

#include "client/manager.h"
#include "core/addr.h"
#include "core/config.h"
#include "core/slice.h"
#include "server/server.h"

typedef enum sl_admin_page {
	SL_ADMIN_NOT_PROXY = 0, /* not an admin path: 400 with how to use a proxy */
	SL_ADMIN_HEALTH,        /* PREFIX/health: 200 "ok" */
	SL_ADMIN_STATS,         /* PREFIX/stats: 200, JSON counters */
	SL_ADMIN_UNKNOWN,       /* another path under PREFIX: 404 */
	SL_ADMIN_FORBIDDEN,     /* under PREFIX, but disabled or the client is not allowed: 403 */
	SL_ADMIN_UPSTREAMS,     /* PREFIX/upstreams: 200, JSON health of upstreams and
	                           chains (health.h; the session writes it) */
	SL_ADMIN_CACHE,         /* PREFIX/cache: 200, the cache's summary as JSON (the
	                           session answers it: cache_serve.c) */
} sl_admin_page;

/*
 * Whether the client at peer (NULL: a unix socket client) may use the admin
 * pages and PURGE: admin.enabled and peer within admin.allow.
 */
bool sl_admin_allowed(const sl_config *cfg, const sl_addr *peer);

/*
 * Routes an origin-form target (path and optional query) from the client
 * at peer (NULL: a unix socket client, allowed). Only GET and HEAD reach
 * the pages; other methods get SL_ADMIN_UNKNOWN under the prefix.
 */
sl_admin_page sl_admin_route(const sl_config *cfg, const sl_addr *peer, sl_slice method,
			     sl_slice target);

/* What a page answers: status, content type and the body written to the
 * caller's buffer. */
typedef struct sl_admin_answer {
	int status;
	const char *content_type;
	size_t len;              /* body bytes written */
} sl_admin_answer;

/*
 * Writes the answer of page into body (cap bytes). host is the request's
 * Host value (used in the usage text; empty: "HOST:PORT"); stats and mstats
 * feed the stats page (may be NULL for other pages). Returns 0, or
 * SL_E_INVAL when cap is too small.
 */
int sl_admin_answer_page(sl_admin_page page, sl_slice host, int worker_id,
			 const sl_worker_stats *stats, const sl_manager_stats *mstats, char *body,
			 size_t cap, sl_admin_answer *out);

#endif
