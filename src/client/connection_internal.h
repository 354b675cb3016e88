/*
 * A connection, as QHttpNetworkConnection is Qt's: everything the manager
 * knows about one (scheme, host, port, route), i.e. one connection key: its
 * channels (connecting or busy; idle streams wait in the manager's cache,
 * not here), and the queue of requests waiting for one, by priority. The
 * connection owns a copy of the route and the host, so a connect in flight
 * never depends on a request that may be gone. It lives while it has
 * channels or queued requests, then waits on the manager's short list of
 * empty connections to be reused for the next request to the same key.
 */
#ifndef SL_CLIENT_CONNECTION_INTERNAL_H
#define SL_CLIENT_CONNECTION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/manager_internal.h"
#include "client/reply_internal.h"
#include "engines/chain.h"

#define SL__CONN_MAGIC 0x434f4e4eu /* "CONN" */

typedef struct sl__conn {
	uint32_t magic;
	sl_manager *m;
	struct sl__conn *hnext;             /* manager's bucket */
	struct sl__conn *eprev, *enext;     /* manager's empty list */
	bool on_empty;
	uint32_t hash;
	char *key;                          /* "http://host:port" + route, or for a
	                                       forwarding proxy "forward:" + route */
	size_t keylen;
	char *host;                         /* NUL-terminated, for the connector */
	uint16_t port;
	bool tls;
	bool fwd;                           /* to a forwarding proxy (route's last hop),
	                                       shared by requests to every target */
	sl_route route;                     /* deep copy (hops and strings in rbuf) */
	void *rbuf;
	struct sl__channel *chans;          /* channels connecting or busy */
	unsigned nch, nconnecting;
	struct sl_reply *qhead[SL_PRIO_COUNT], *qtail[SL_PRIO_COUNT];
	unsigned nqueued;
	int hold;                           /* > 0: someone iterates, do not free */
	bool failing;                       /* a connect failed while other channels
	                                       lived: open no more until one works */
} sl__conn;

/* Finds or creates the connection of r's key. Returns NULL when out of
 * memory. */
sl__conn *sl__conn_get(sl_manager *m, const sl_reply *r);

/* Queues r (at the front of its priority when front) and dispatches. Never
 * calls back. */
void sl__conn_enqueue(sl__conn *c, sl_reply *r, bool front);

/* Takes r out of the queue. */
void sl__conn_dequeue(sl__conn *c, sl_reply *r);

/*
 * Matches queued requests with channels: free connected channels first,
 * then idle streams from the cache, then new connects while fewer than
 * max_channels exist, then (with pipelining) busy channels that accept one
 * more. Never calls back.
 */
void sl__conn_dispatch(sl__conn *c);

/* A channel finished with its stream, which is usable and persistent:
 * hand it to a queued request or park it in the idle cache. Consumes ch. */
void sl__conn_channel_idle(sl__conn *c, struct sl__channel *ch);

/* A channel is gone (closed or failed): unlinks it and frees it (its memory
 * stays while someone holds a reference). Does not dispatch. */
void sl__conn_channel_gone(sl__conn *c, struct sl__channel *ch);

/* A connect failed: the queued requests that no other channel can serve
 * move to their next route when e is a proxy error and they have one, or
 * fail. Calls back (on_done). */
void sl__conn_connect_failed(sl__conn *c, const sl_chain_err *e);

/*
 * Moves r (in state NEW: in no queue, on no channel) to the connection of
 * its next route and queues it there. Returns true when it moved; false
 * when r has no route left (nothing changed). Never calls back.
 */
bool sl__conn_failover(sl_manager *m, sl_reply *r);

/* Reports e about c's route to the manager's route_event hook (no-op for a
 * direct connection or without a hook). */
void sl__conn_route_event(sl__conn *c, const sl_chain_err *e);

/* Frees c if it has no channel and no queued request, or parks it on the
 * manager's empty list. */
void sl__conn_release_if_empty(sl__conn *c);

/* Frees every connection of m (manager teardown; no callbacks). */
void sl__conn_free_all(sl_manager *m);

#endif
