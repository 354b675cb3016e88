/*
 * Reloading the configuration while the proxy runs (SIGHUP, or `sluice -s
 * reload`). Everything here runs on the main thread and may block (reading
 * the file, the trust store, resolving listen names, binding); workers are
 * only ever told through sl_worker_update().
 *
 * A reload first builds everything the new configuration needs without
 * touching what runs: the config itself (password files and variables
 * read), the listen set and its difference from the running one (sockets
 * for new addresses opened, one per worker, after checking that nobody
 * else listens there), the TLS context (the trust store read again) and the
 * access log. Any failure there logs "reload failed: ..." with the file,
 * line and JSON path when the configuration is at fault, closes what was
 * opened and leaves the running configuration as it was. Then it commits:
 * the new error log, a snapshot of generation + 1 handed to every worker
 * with its listener list, a wait until each has applied it, and only then
 * removed unix sockets are closed, the pid file moved if it changed, and
 * "reloaded FILE" logged. Settings that cannot change without a restart
 * are named in a warning and keep their running values.
 */
#ifndef SL_SERVER_RELOAD_H
#define SL_SERVER_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/auth_cache.h"
#include "core/config.h"
#include "core/log.h"
#include "engines/dns.h"
#include "server/listen_set.h"
#include "server/snapshot.h"
#include "server/worker.h"

/* How long a reload waits for every worker to apply it. */
#define SL_RELOAD_APPLY_WAIT_MS 10000

/* The running server, as the main thread keeps it. */
typedef struct sl_server_state {
	const char *conf_path;        /* the file given with -c: reloads read it again */
	sl_snapshot *snap;            /* the current snapshot (the main thread's reference) */
	sl_listen_set *points;        /* what the workers listen on now */
	uint64_t next_point_id;
	sl_server_shared sh;
	sl_dns_cache *dcache;
	sl_auth_cache *auth;
	char via[300];
	sl_worker **w;
	unsigned nw;
	char pid_file[4096];          /* the pid file written, "" for none */
	bool stopping;                /* draining: reloads are refused */
} sl_server_state;

/*
 * Builds the snapshot of generation gen for cfg (whose reference it takes
 * over, also on failure): the TLS context from cfg->tls, the access log
 * cfg->log.access opened, and the own endpoints from the TCP points of
 * pts. Returns the snapshot, or NULL with a reason in err.
 */
sl_snapshot *sl_reload_build_snapshot(sl_config *cfg, const sl_listen_set *pts, uint64_t gen,
				      char *err, size_t errlen);

/*
 * Reloads sv->conf_path (see the top of this file). Returns 0 when the new
 * configuration runs, or a negative code when the old one stays (the
 * reason is in the error log).
 */
int sl_reload(sl_server_state *sv);

/*
 * Names the settings that differ between the running configuration and a
 * new one but only take effect at a restart: workers (compared as the
 * number of threads, against running_workers), limits.max_request_line,
 * limits.max_header_size, limits.max_header_fields, limits.buffer_size,
 * timeouts.dns and anything under cache. Writes them comma-separated into
 * out and returns how many there are.
 */
size_t sl_reload_restart_keys(const sl_config *old, const sl_config *nw,
			      unsigned running_workers, char *out, size_t cap);

/*
 * True when the rules that decide how and where upstream connections are
 * made differ: acl, tls, upstreams (credentials included), chains, routes,
 * upstream_from_env. An upstream connection made under other rules is not
 * reused after such a reload (idle ones close, busy ones after their
 * exchange).
 */
bool sl_reload_connect_rules_changed(const sl_config *a, const sl_config *b);

/* The log level a config's log.level names. */
enum sl_log_level sl_reload_log_level(sl_conf_log_level l);

#endif
