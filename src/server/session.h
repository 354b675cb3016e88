/*
 * Client sessions, as a worker sets them up: the per-worker state the
 * session module keeps (scratch buffers, pools of sessions and requests,
 * the Via text, recent destination refusals), and the connector the
 * worker's manager uses so that every upstream connect checks its
 * destination with acl.h, the port included. sl_session_start() and the
 * other per-session calls are declared in server.h.
 */
#ifndef SL_SERVER_SESSION_H
#define SL_SERVER_SESSION_H

#include <ev.h>
#include <stdint.h>

#include "engines/chain.h"
#include "server/server.h"

/*
 * Prepares the session module's state of a worker whose env is filled in
 * (loop, cfg, manager, dns, own addresses, via_name, access log, stats):
 * buffers sized from cfg->limits, empty pools. Returns 0 or SL_E_NOMEM.
 */
int sl_session_env_init(sl_session_env *env);

/* Frees that state; every session must be closed first. */
void sl_session_env_free(sl_session_env *env);

/*
 * The manager's connector (sl_connect_fn). opts->check_arg must be the
 * worker's sl_session_env: the connector copies opts and points the
 * destination check at an sl_acl_dest of its own holding this connect's
 * port and the worker's listening endpoints; a refusal's reason is noted so
 * the session's 403 can name it. Returns a handle for
 * sl_forward_connect_cancel(), or NULL when out of memory.
 */
sl_chain_req *sl_forward_connect(struct ev_loop *loop, const sl_route *route, const char *host,
				 uint16_t port, const sl_connect_opts *opts, sl_chain_cb cb,
				 void *arg);

/* Cancels a connect started by sl_forward_connect(): cb is not called. */
void sl_forward_connect_cancel(sl_chain_req *r);

#endif
