/*
 * The access manager, as QNetworkAccessManager is Qt's: the entry point of
 * the client stack. One manager per loop (per worker); it owns the
 * connections (one per scheme, host, port and route, each with up to
 * max_channels channels and a priority queue), the idle connection cache,
 * the credential cache (its own or a shared one) and, optionally, a cookie
 * jar. sl_manager_send() turns a request into a reply and dispatches it by
 * URL scheme: http and https go through connections and channels, data: and
 * file: are answered locally.
 *
 * Connections are opened by the connector in the options (the signature of
 * sl_chain_connect() in engines/chain.h, which the proxy passes; tests pass
 * their own). Proxy credentials (CONNECT's 407, a forwarding proxy's 407)
 * are remembered in connect_opts.auth, or in a proxy credential cache the
 * manager makes over its credential cache when that is NULL, and sent
 * preemptively afterwards. The manager never blocks its loop, and every
 * callback comes from that loop. Not thread-safe: one manager, one loop,
 * one thread.
 *
 * With a cache in the options, GET requests are answered from it as
 * sl_request.cache_load says, and storable responses are stored (their
 * bodies copied to the cache's file as they stream to the caller), as Qt's
 * QNetworkDiskCache does; sl_reply_from_cache() tells the two apart.
 *
 * When a file body is sent without TLS the manager uses sendfile(2), which
 * raises SIGPIPE on a closed socket: the process must ignore SIGPIPE.
 */
#ifndef SL_CLIENT_MANAGER_H
#define SL_CLIENT_MANAGER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/store.h"
#include "client/auth_cache.h"
#include "client/cookie_jar.h"
#include "client/reply.h"
#include "client/request.h"
#include "core/http_parse.h"
#include "engines/chain.h"

typedef struct sl_manager sl_manager;

/* Opens a stream to host:port through route (see sl_chain_connect()). */
typedef sl_chain_req *(*sl_connect_fn)(struct ev_loop *loop, const sl_route *route,
				       const char *host, uint16_t port,
				       const sl_connect_opts *opts, sl_chain_cb cb, void *arg);
/* Cancels a pending connect: its callback is not called. */
typedef void (*sl_connect_cancel_fn)(sl_chain_req *r);

/*
 * Reports how a route fared, for health bookkeeping: called from the loop
 * when a connect through route (never a direct one) succeeded (e->code 0),
 * or failed at a proxy hop (e->proxy), and when a forwarding proxy refused
 * the hop's credentials. A connect that reached every hop but failed at the
 * target counts as a success of the route. Must not call back into the
 * manager.
 */
typedef void (*sl_route_event_fn)(void *arg, const sl_route *route, const sl_chain_err *e);

/*
 * Manager options. Start from sl_manager_opts_init() and set what you need;
 * connect and cancel are required. Zero numbers mean the defaults given.
 */
typedef struct sl_manager_opts {
	sl_connect_fn connect;
	sl_connect_cancel_fn cancel;
	sl_connect_opts connect_opts;   /* copied; tls_target is set per scheme, and
	                                   connect_timeout_ms from the option below */
	unsigned max_channels;          /* per connection; 6 */
	unsigned max_idle;              /* idle sockets kept in all; 256 */
	unsigned max_idle_per_host;     /* idle sockets per connection key; 8 */
	uint64_t idle_timeout_ms;       /* idle socket lifetime; 60000 */
	uint64_t connect_timeout_ms;    /* passed to the connector; 10000 */
	uint64_t first_byte_timeout_ms; /* request sent -> first response byte; 60000 */
	uint64_t read_timeout_ms;       /* idle between reads and writes; 60000 */
	uint64_t continue_timeout_ms;   /* Expect: 100-continue wait; 1000 */
	size_t read_buffer_max;         /* cap of a channel's read buffer; 65536 */
	bool pipelining;                /* allow SL_REQ_PIPELINE requests to pipeline */
	unsigned pipeline_depth;        /* requests in flight on one channel; 4 */
	const char *user_agent;         /* NULL: "sluice/VERSION"; "": none */
	sl_cookie_jar *cookie_jar;      /* NULL: no cookies; the caller owns the jar */
	sl_auth_cache *auth_cache;      /* NULL: the manager makes its own */
	sl_cache *cache;                /* an HTTP cache (private: RFC 9111 rules for a
	                                   user agent) for GET requests, see
	                                   sl_request.cache_load; NULL: none. The caller
	                                   owns it; it must outlive the manager */
	uint64_t cache_heuristic_max_s; /* cap of heuristic freshness; 0: a day */
	sl_http_limits limits;          /* response head limits */
	sl_route_event_fn route_event;  /* NULL: none */
	void *route_event_arg;
} sl_manager_opts;

typedef struct sl_manager_stats {
	uint64_t connects;              /* connects started */
	uint64_t connect_failures;
	uint64_t reused;                /* streams taken from the idle cache */
	uint64_t retries;               /* requests sent again on a new connection */
	uint64_t requests;              /* requests written */
	unsigned connections;           /* connection objects (per origin and route) */
	unsigned channels;              /* channels connecting or busy now */
	unsigned idle;                  /* idle streams in the cache */
	unsigned queued;                /* requests waiting for a channel */
	unsigned active;                /* replies not done yet */
} sl_manager_stats;

/* Fills *o with the defaults (and SL_HTTP_LIMITS_DEFAULT). */
void sl_manager_opts_init(sl_manager_opts *o);

/*
 * Creates a manager on loop. opts is copied (the strings it points to,
 * the jar and a shared auth cache must outlive the manager). Returns the
 * manager, or NULL when opts lack a connector or memory runs out.
 */
sl_manager *sl_manager_new(struct ev_loop *loop, const sl_manager_opts *opts);

/*
 * Frees the manager: every running reply is aborted (no callback), pending
 * connects are cancelled, idle streams closed. Replies the caller still
 * references stay valid for reading their status and stats until unref'd.
 * Must not be called from a reply callback.
 */
void sl_manager_free(sl_manager *m);

/*
 * Starts a request. On success *out is the reply (one reference, the
 * caller's) and its callbacks (cbs is copied; arg is passed back) will be
 * called from the loop, never from inside this call. Returns 0, or
 * SL_E_URL_* for a bad URL, SL_E_UNSUPPORTED for an unknown scheme,
 * SL_E_INVAL for a bad method, field or body, or SL_E_NOMEM; *out is then
 * NULL and nothing will be called.
 */
int sl_manager_send(sl_manager *m, const sl_request *rq, const sl_reply_cbs *cbs, void *arg,
		    sl_reply **out);

/* The loop the manager runs on. */
struct ev_loop *sl_manager_loop(const sl_manager *m);

/* The proxy credential cache the manager uses (connect_opts.auth, or its
 * own), for connects the caller makes itself with the same credentials. */
struct sl_proxy_auth *sl_manager_proxy_auth(const sl_manager *m);

/*
 * Applies new tunables to a running manager (a configuration reload): the
 * connect options (TLS context, verification, destination check), the
 * timeouts, max_channels and the idle cache's caps and lifetime. Connects
 * started from now and requests sent from now use them; what runs keeps
 * what it started with, and parked streams stay (sl_manager_clear_idle()
 * drops them). The connector, cookie jar, credential cache, user agent,
 * read buffer cap, pipelining and head limits keep the values given to
 * sl_manager_new(). Never calls back.
 */
void sl_manager_reconfigure(sl_manager *m, const sl_manager_opts *opts);

/* Closes every idle stream in the cache. */
void sl_manager_clear_idle(sl_manager *m);

/*
 * Retires every upstream stream made so far: idle ones are closed now;
 * those in use finish the exchange they carry and are then closed instead
 * of taking another request or resting in the cache; connects still in
 * progress are closed when they complete, and what waited for them gets a
 * new connect. For when the rules that chose and checked those connections
 * changed (a configuration reload). Never calls back.
 */
void sl_manager_expire_connections(sl_manager *m);

/* Fills *out. */
void sl_manager_get_stats(const sl_manager *m, sl_manager_stats *out);

#endif
