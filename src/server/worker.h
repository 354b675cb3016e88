/*
 * Workers: one thread each, with its own libev loop, its own listening
 * sockets (SO_REUSEPORT copies of every TCP address, and the shared unix
 * sockets), its own client stack (a manager whose connector checks
 * destinations, a DNS channel over the shared cache) and counters. A
 * connection lives its whole life on the worker that accepted it, so
 * nothing on the request path takes a lock. The main thread talks to a
 * worker only through the calls below, which post a command and wake the
 * worker's loop (ev_async); everything else happens on the worker's thread.
 */
#ifndef SL_SERVER_WORKER_H
#define SL_SERVER_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/auth_cache.h"
#include "core/addr.h"
#include "core/config.h"
#include "engines/dns.h"
#include "engines/tls.h"
#include "server/server.h"
#include "server/snapshot.h"

/* What every worker shares, built once by the main thread. Read-only to
 * the workers (the caches inside are thread-safe). What a reload replaces
 * (configuration, TLS context, access log, own addresses) is in the
 * snapshot, which later reaches each worker through sl_worker_update(). */
typedef struct sl_server_shared {
	sl_snapshot *snap;            /* the snapshot at start (the main thread's
	                                 reference; each worker takes its own) */
	sl_dns_cache *dns_cache;
	sl_auth_cache *auth;
	sl_cache *cache;              /* the cache (cache.dir at start), or NULL */
	const char *via_name;         /* Via received-by */
	unsigned nworkers;
	struct sl_health *health;     /* upstream health (health.h), kept across reloads */
} sl_server_shared;

/* A listening socket handed to a worker. */
typedef struct sl_worker_listener {
	int fd;                       /* -1 in an update: keep the socket of id */
	bool shared;                  /* a unix socket every worker watches: the
	                                 worker never closes it */
	uint64_t id;                  /* the bind point's (listen_set.h) */
} sl_worker_listener;

typedef struct sl_worker sl_worker;

/*
 * Creates worker id (not started): its loop, DNS channel, manager and
 * session state, on sh->snap (the worker takes its own reference). The
 * worker takes over the non-shared listener fds (closed by sl_worker_free),
 * also when it fails. sh must outlive the worker. Returns the worker, or
 * NULL with a reason in err.
 */
sl_worker *sl_worker_new(int id, const sl_server_shared *sh, const sl_worker_listener *ls,
			 size_t nls, char *err, size_t errlen);

/* Starts the worker's thread. Returns 0 or -errno. */
int sl_worker_start(sl_worker *w);

/*
 * Asks the worker to drain (any thread): it closes its listeners, closes
 * idle connections, lets requests in progress finish for up to
 * timeouts.shutdown_grace, then closes the rest and its loop ends.
 */
void sl_worker_drain(sl_worker *w);

/* Asks the worker to close everything now and end (any thread). */
void sl_worker_stop_now(sl_worker *w);

/*
 * Hands the worker a new configuration (any thread): the worker takes one
 * more reference on snap, and ls (nls entries) is its complete new list of
 * listening sockets: an entry with fd -1 keeps the socket the worker has
 * for that id, an entry with an fd is a new socket the worker takes over
 * (it closes it if it is draining), and a socket whose id is not in the
 * list stops accepting and is closed (shared ones are only unwatched). When
 * retire_upstream is set the upstream connections made so far are not
 * used for another request (sl_manager_expire_connections). Updates are
 * applied in the order they were posted, on the worker's thread; sessions
 * and connections keep running, each on the snapshot it started with.
 * Returns 0, or SL_E_NOMEM (nothing was posted: the caller keeps the fds).
 */
int sl_worker_update(sl_worker *w, sl_snapshot *snap, const sl_worker_listener *ls, size_t nls,
		     bool retire_upstream);

/*
 * Waits up to timeout_ms for the worker to have applied the update of
 * generation gen (or a later one), or to have ended. Returns true when it
 * has. Main thread.
 */
bool sl_worker_wait_applied(sl_worker *w, uint64_t gen, unsigned timeout_ms);

/* Whether the worker's loop has ended (any thread). */
bool sl_worker_finished(const sl_worker *w);

/* Waits for the thread to end. */
void sl_worker_join(sl_worker *w);

/* Frees a joined (or never started) worker. */
void sl_worker_free(sl_worker *w);

/* The worker's counters (for its own thread, or after join). */
const sl_worker_stats *sl_worker_stats_of(const sl_worker *w);

#endif
