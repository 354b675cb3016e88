/*
 * What a worker gives the sessions it runs, and what sessions report back.
 * A worker is a thread with its own libev loop, its own listening sockets,
 * its own client stack (manager, DNS channel) and counters; a session (one
 * client connection) lives its whole life on one worker and touches only
 * that worker's state, so nothing on the request path takes a lock. The
 * environment below is that state, as sessions see it.
 */
#ifndef SL_SERVER_SERVER_H
#define SL_SERVER_SERVER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/store.h"
#include "client/manager.h"
#include "core/addr.h"
#include "core/config.h"
#include "engines/dns.h"
#include "engines/tls.h"

/* One access-log record, filled by a session when a request ends. Strings
 * are the session's and live only during the call. */
typedef struct sl_access_entry {
	double start;             /* wall-clock seconds (epoch) the request began */
	uint64_t duration_ms;     /* request line read -> last byte sent */
	const char *client;       /* peer address text ("127.0.0.1", "unix") */
	const char *result;       /* Squid-style code: TCP_MISS, TCP_TUNNEL, TCP_DENIED,
	                             NONE (error before forwarding) ... */
	int status;               /* status sent to the client, 0 if none */
	uint64_t bytes;           /* bytes sent to the client (head + body) */
	uint64_t bytes_in;        /* bytes read from the client (head + body) */
	const char *method;
	const char *url;          /* absolute URI, or host:port for CONNECT */
	const char *user;         /* "-" */
	const char *route;        /* Squid's hierarchy/host: "HIER_DIRECT/93.184.216.34",
	                             "FIRSTUP_PARENT/corp" (an upstream or chain by name),
	                             "HIER_NONE/-" */
	const char *content_type; /* "-" when unknown */
	const char *error;        /* the cause of an error (sl_strerror), or NULL */
} sl_access_entry;

typedef void (*sl_access_log_fn)(void *arg, const sl_access_entry *e);

/* Counters of one worker (read by the admin page; plain integers, written
 * only by the worker's thread). */
typedef struct sl_worker_stats {
	uint64_t accepted;
	uint64_t requests;
	uint64_t tunnels;
	uint64_t errors;
	unsigned active_sessions;
	uint64_t config_generation;   /* the snapshot new requests use ... */
	double config_loaded;         /* ... and when it was loaded (epoch s) */
} sl_worker_stats;

typedef struct sl_session_env {
	struct ev_loop *loop;
	int worker_id;
	const sl_config *cfg;          /* the worker's current configuration: what
	                                  new sessions and requests get (a session
	                                  reads its own, s->snap, see snapshot.h) */
	sl_manager *manager;           /* forwarding goes through it */
	sl_dns *dns;                   /* tunnels resolve with it */
	sl_tls_ctx *tls;               /* tunnels to https are not terminated: unused
	                                  there; kept for the manager's https forwarding */
	sl_cache *cache;               /* the process's cache (shared), NULL: none */
	const sl_addr *own_addrs;      /* the proxy's listening addresses (never a
	                                  destination) */
	const uint16_t *own_ports;     /* their ports, one per address */
	size_t n_own_addrs;
	const char *via_name;          /* this proxy's Via received-by ("host:3128") */
	unsigned max_sessions;         /* connections this worker takes at once */
	unsigned nsessions;            /* live sessions */
	sl_access_log_fn access_log;
	void *access_arg;
	sl_worker_stats *stats;
	struct sl_health *health;      /* upstream and chain health, shared by the
	                                  process's workers (health.h), or NULL */
	bool draining;                 /* set by the worker on SIGTERM: finish the
	                                  request in progress, then close */
	struct sl__session *sessions;  /* the worker's live sessions (intrusive list) */
	struct sl__sctx *ctx;          /* the session module's buffers and pools
	                                  (sl_session_env_init) */
	struct sl_snap_hold *snap;     /* the current snapshot's hold (snapshot.h) */
	struct sl_snap_hold *retired;  /* older holds sessions still pin */
} sl_session_env;

/*
 * Takes over an accepted client socket (non-blocking) and starts reading a
 * request. peer/peer_len is the client's address (AF_UNIX for unix
 * sockets). Refuses clients that acl.allow_clients does not allow (the
 * socket is closed after a 403). Returns 0, or a negative code when the
 * session could not be created (the fd is closed then).
 */
int sl_session_start(sl_session_env *env, int fd, const struct sockaddr *peer,
		     unsigned peer_len);

/*
 * Called by the worker when it starts draining (env->draining is set):
 * sessions idle between requests are closed now, the others close after
 * the response in progress. Tunnels stay until they end or the grace
 * period runs out.
 */
void sl_session_drain(sl_session_env *env);

/* Closes every session at once (end of the grace period). */
void sl_session_close_all(sl_session_env *env);

/* Number of live sessions of the worker. */
unsigned sl_session_count(const sl_session_env *env);

#endif
