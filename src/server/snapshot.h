/*
 * Configuration snapshots. A snapshot is everything a reload replaces at
 * once: the loaded configuration, the TLS context built from it, the access
 * log it names and the proxy's own listening endpoints (which the
 * destination check refuses), with a generation number and the time it was
 * loaded. The main thread builds one at start-up and one per successful
 * reload; a snapshot never changes afterwards and is reference counted
 * (atomically), so workers and their sessions keep an old one while the
 * main thread hands out the next. The last reference frees it, on whatever
 * thread drops it.
 *
 * Inside a worker, sessions do not touch that shared counter: they pin a
 * hold, the worker's own record of one snapshot, whose count of users is a
 * plain integer that only the worker's thread changes. env->snap is the
 * hold of the worker's current snapshot. When a newer snapshot arrives the
 * old hold is retired: it lives until its last user (a session, or an
 * upstream connect in flight) lets go, and only then drops its reference
 * on the snapshot. A session pins the current hold when it starts and again
 * at each new request, so a request or a tunnel runs start to end on the
 * configuration it began with, and the next request on a kept-alive
 * connection sees the newest one.
 */
#ifndef SL_SERVER_SNAPSHOT_H
#define SL_SERVER_SNAPSHOT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/config.h"
#include "engines/tls.h"
#include "server/server.h"

#define SL_SNAPSHOT_MAGIC 0x534e4150u /* "SNAP" */
#define SL_SNAP_HOLD_MAGIC 0x484f4c44u /* "HOLD" */

struct sl_accesslog;

typedef struct sl_snapshot {
	uint32_t magic;
	atomic_uint refs;
	uint64_t generation;          /* 1 for the configuration loaded at start */
	double loaded_at;             /* wall-clock seconds (epoch) */
	sl_config *cfg;               /* owned: one reference */
	sl_tls_ctx *tls;              /* owned: one reference, or NULL */
	struct sl_accesslog *alog;    /* owned, or NULL */
	sl_access_log_fn access_log;  /* NULL when log.access is "" */
	sl_addr *own_addrs;           /* the TCP listeners' addresses ... */
	uint16_t *own_ports;          /* ... and ports */
	size_t n_own;
} sl_snapshot;

/*
 * Builds a snapshot with one reference. It takes over the references of
 * cfg, tls and alog (also when it fails: they are released then) and copies
 * the n own endpoints. loaded_at is now. Returns the snapshot, or NULL when
 * out of memory.
 */
sl_snapshot *sl_snapshot_new(sl_config *cfg, sl_tls_ctx *tls, struct sl_accesslog *alog,
			     const sl_addr *own, const uint16_t *own_ports, size_t n_own,
			     uint64_t generation);

/* Takes one more reference and returns s. Any thread. */
sl_snapshot *sl_snapshot_ref(sl_snapshot *s);

/* Drops one reference; the last frees the snapshot and what it owns. NULL
 * is ignored. Any thread. */
void sl_snapshot_unref(sl_snapshot *s);

/* A worker's hold on one snapshot (see the top of this file). */
typedef struct sl_snap_hold {
	uint32_t magic;
	const sl_config *cfg;         /* what sessions read */
	sl_tls_ctx *tls;              /* the TLS context built from it, for
	                                 connects a session makes itself */
	sl_snapshot *snap;            /* NULL: a bare configuration kept alive by
	                                 the environment's owner (unit tests) */
	const sl_addr *own_addrs;
	const uint16_t *own_ports;
	size_t n_own;
	unsigned users;               /* sessions and connects pinning it */
	struct sl_snap_hold *next;    /* the retired list */
} sl_snap_hold;

/*
 * Gives env its first hold: on snap (the hold takes over the caller's
 * reference), or when snap is NULL on env->cfg, env->tls and
 * env->own_addrs as they are (their owner keeps them alive). Sets env->cfg, own addresses, TLS
 * context and access log from snap when there is one. Returns 0 or
 * SL_E_NOMEM (the reference on snap is then dropped).
 */
int sl_snap_env_init(sl_session_env *env, sl_snapshot *snap);

/*
 * Makes snap the environment's current snapshot (the hold takes over the
 * caller's reference) and points env->cfg, own addresses, TLS context and
 * access log at it. The previous hold is retired, or released at once when
 * nothing pins it. Worker thread only. Returns 0, or SL_E_NOMEM (nothing
 * changed; the reference on snap is dropped).
 */
int sl_snap_env_switch(sl_session_env *env, sl_snapshot *snap);

/* Pins the current hold for one more user and returns it. Never fails. */
sl_snap_hold *sl_snap_take(sl_session_env *env);

/* Unpins h; a retired hold whose last user this was is released (its
 * snapshot reference dropped). */
void sl_snap_drop(sl_session_env *env, sl_snap_hold *h);

/* Retired holds still pinned (for tests and the status page). */
unsigned sl_snap_retired(const sl_session_env *env);

/* Releases the current hold and any retired one (at the end of the
 * environment, when no session is left). */
void sl_snap_env_free(sl_session_env *env);

#endif
