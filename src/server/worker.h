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

/* What every worker shares, built once by the main thread. Read-only to
 * the workers (the caches inside are thread-safe). */
typedef struct sl_server_shared {
	const sl_config *cfg;
	sl_tls_ctx *tls;
	sl_dns_cache *dns_cache;
	sl_auth_cache *auth;
	sl_cache *cache;              /* NULL when cache.dir is "" */
	sl_access_log_fn access_log;
	void *access_arg;
	const sl_addr *own_addrs;     /* the TCP listeners' addresses ... */
	const uint16_t *own_ports;    /* ... and ports */
	size_t n_own;
	const char *via_name;         /* Via received-by */
	unsigned nworkers;
} sl_server_shared;

/* A listening socket handed to a worker. */
typedef struct sl_worker_listener {
	int fd;
	bool shared;                  /* a unix socket every worker watches: the
	                                 worker never closes it */
} sl_worker_listener;

typedef struct sl_worker sl_worker;

/*
 * Creates worker id (not started): its loop, DNS channel, manager and
 * session state. The worker takes over the non-shared listener fds (closed
 * by sl_worker_free). sh must outlive the worker. Returns the worker, or
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

/* Whether the worker's loop has ended (any thread). */
bool sl_worker_finished(const sl_worker *w);

/* Waits for the thread to end. */
void sl_worker_join(sl_worker *w);

/* Frees a joined (or never started) worker. */
void sl_worker_free(sl_worker *w);

/* The worker's counters (for its own thread, or after join). */
const sl_worker_stats *sl_worker_stats_of(const sl_worker *w);

#endif
