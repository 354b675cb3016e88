/*
 * The reply's insides, shared by the files of src/client: the copy of the
 * request it carries (URL, method, fields and credentials in one store
 * buffer; the head of the current attempt in another; the body queue), its
 * place (a connection's queue or a channel's in-flight list, never both),
 * the response state, the authentication state and the local schemes'
 * state. Replies are recycled through the manager's pool with their buffers,
 * so a warm manager allocates nothing per request.
 *
 * The one exit: sl__reply_finish() records the outcome once and calls
 * on_done once; every failure anywhere reaches it.
 */
#ifndef SL_CLIENT_REPLY_INTERNAL_H
#define SL_CLIENT_REPLY_INTERNAL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/manager_internal.h"
#include "client/reply.h"
#include "client/request.h"
#include "client/scheme.h"
#include "core/auth.h"
#include "core/buf.h"
#include "engines/chain.h"

#define SL__REPLY_MAGIC 0x52504c59u /* "RPLY" */

enum sl__reply_state {
	SL__R_FREE = 0,   /* in the pool */
	SL__R_NEW,        /* being set up by sl_manager_send() */
	SL__R_QUEUED,     /* in a connection's queue */
	SL__R_BOUND,      /* on a channel's in-flight list */
	SL__R_LOCAL,      /* served by a local scheme (data:, file:) */
	SL__R_DONE,       /* finished or aborted */
};

/* Challenge-response state of one request (allocated on its first 401). */
struct sl__reply_auth {
	enum sl_auth_scheme scheme;
	sl_auth_digest_state st;
	char realm[SL_AUTH_REALM_MAX];
};

/* The same for a forwarding proxy's 407 (allocated on the first one): the
 * challenge answered, kept for the credential cache once it is accepted. */
struct sl__reply_pauth {
	sl_auth_challenge ch;
	sl_auth_digest_state st;
	bool digest;
};

struct sl_reply {
	uint32_t magic;
	int refs;
	enum sl__reply_state state;
	sl_manager *m;
	struct sl_reply *mprev, *mnext;     /* manager's active list, or the pool */
	sl_reply_cbs cb;
	void *arg;
	const sl_scheme *scheme;

	/* The request, copied into store. */
	char *store;
	size_t store_cap;
	sl_url url;
	sl_slice method;
	enum sl_http_method meth;
	sl_slice target;                    /* origin-form request-target */
	sl_slice hostport;                  /* Host field value */
	const char *hostz;                  /* the URL's host, NUL-terminated */
	sl_slice fields;                    /* caller's fields, "Name: value\r\n"... */
	sl_slice user, pass;
	bool has_cred;
	bool has_host, has_ua, has_authz, has_cookie, conn_close;
	unsigned flags;
	enum sl_priority prio;
	sl_request_body body;
	uint64_t fb_timeout_ms, rd_timeout_ms;
	const sl_route *conn_route;         /* the route for sl__conn_get(): the caller's
	                                       during sl_manager_send(), else one of alts */
	sl_route *alts;                     /* copies of the caller's routes when there are
	                                       several (in alt_buf), else NULL */
	size_t nalts, alt_idx;              /* how many; the one in use */
	char *alt_buf;                      /* routes, hops and strings; kept when recycled */
	size_t alt_cap;
	bool fwd;                           /* sent in absolute form to a forwarding proxy */
	sl_slice abs_target;                /* the absolute-form request-target, in store */

	/* The current attempt's head and body. */
	char *head;
	size_t head_cap, head_len, head_off;
	sl_outq bq;
	uint64_t body_in;                   /* body bytes put in bq (push, pull) */
	bool chunked_out;
	bool body_loaded;                   /* memory or file body queued */
	bool body_ended;                    /* push ended, or pull returned 0 */
	bool body_abandoned;                /* a final status came first */
	bool pull_wait;
	bool want_drain;
	bool expect;
	bool continue_ok;

	/* Placement: a connection's queue or a channel's in-flight list. */
	struct sl__conn *conn;
	struct sl__channel *ch;
	struct sl_reply *qprev, *qnext;

	/* Response. */
	int status;
	bool got_byte;
	bool head_done;                     /* the final head arrived */
	bool swallow;                       /* read this response silently, then resend */
	bool paused, aborted, done;
	bool retried, fresh_only, reused;
	ev_tstamp failed_at;                /* fresh_only: needs a connection born after this */
	bool sent;                          /* the head went out */
	int err;
	bool err_proxy;
	int err_hop;
	enum sl_reply_phase phase;
	int err_status;                     /* a refusing proxy's status, 0 if none */
	char err_line[SL_REPLY_STATUS_MAX];
	char err_scheme[SL_REPLY_SCHEME_MAX];
	int swallow_err;                    /* with swallow: finish with this error after
	                                       the response instead of sending again */
	uint64_t bytes_sent, bytes_received, body_bytes;
	ev_tstamp t_start, t_first, t_done;

	/* Authentication. */
	struct sl__reply_auth *auth;        /* a challenge we answer */
	bool auth_answered;
	bool auth_preempt;                  /* the head carries cached credentials */
	unsigned auth_rounds, stale_rounds;
	struct sl__reply_pauth *pauth;      /* a forwarding proxy's challenge we answer */
	bool pauth_answered;
	bool pauth_preempt;                 /* the head carries cached proxy credentials */
	unsigned pstale_rounds;

	/* The manager's HTTP cache (manager_cache.c), when it drives the reply. */
	struct sl__mcache *mc;

	/* Local schemes. */
	sl__task task;
	int fd;
	uint64_t left;
	off_t off;
	size_t data_off, data_len;          /* decoded data: bytes, in head */
	sl_field lfields[2];
	char lbuf[96];
};

/* Allocates (or recycles) a reply for m with one caller reference and one
 * manager reference, in state NEW. Returns NULL when out of memory. */
sl_reply *sl__reply_new(sl_manager *m);

/* Copies rq into r (store, URL, fields, credentials, body description)
 * and finds its scheme. Returns 0 or SL_E_URL_*, SL_E_UNSUPPORTED,
 * SL_E_INVAL, SL_E_NOMEM. */
int sl__request_copy(sl_reply *r, const sl_request *rq);

/*
 * The one exit: records err (0 for success) with its detail once, unlinks
 * the reply from the manager and calls on_done (not after an abort), then
 * drops the manager's reference. Safe to call twice (the second does
 * nothing). Calls back: the caller must hold what it needs.
 */
void sl__reply_finish(sl_reply *r, int err);

/* Records the detail of an error before sl__reply_finish(). */
void sl__reply_set_error(sl_reply *r, int err, bool proxy, int hop, enum sl_reply_phase ph);

/* Records a connect's failure e (with the status a proxy answered) before
 * sl__reply_finish(). */
void sl__reply_set_chain_error(sl_reply *r, const sl_chain_err *e);

/* Copies routes[0..n) into r->alts (when n > 1), each with its hops and
 * strings, in r->alt_buf. Returns 0 or SL_E_NOMEM. */
int sl__reply_copy_routes(sl_reply *r, const sl_route *routes, size_t n);

/* Drops r's copies of the caller's routes (and the TLS contexts they
 * hold). */
void sl__reply_drop_routes(sl_reply *r);

/* Points r->conn_route at route i of r (or at route, the caller's only
 * one) and sets r->fwd for it. */
void sl__reply_use_route(sl_reply *r, const sl_route *route);

/*
 * A forwarding proxy's response head to r: answers a 407 with the hop's
 * credentials, adopts a stale nonce, or records why it cannot
 * (r->swallow_err); remembers accepted credentials. Returns true when the
 * response is to be read silently (then sent again, or failed with
 * swallow_err). hop is the forwarding proxy's hop, index its place in the
 * route.
 */
bool sl__reply_proxy_auth_on_head(sl_reply *r, const sl_http_response *res, const sl_hop *hop,
				  int index);

/* Writes the Proxy-Authorization value of r's next attempt to the
 * forwarding proxy hop into out (cap bytes): the answer to its challenge,
 * or what the proxy credential cache sends preemptively. Returns the
 * length, or 0 when there is none. */
int sl__reply_put_proxy_auth(sl_reply *r, const sl_hop *hop, char *out, size_t cap);

/* Builds the head of the next attempt into r->head (request line, Host,
 * fields, User-Agent, Authorization, Cookie, framing, Expect) and queues a
 * replayable body. Returns 0 or an error. */
int sl__request_build(sl_reply *r);

/* Whether r's body can be sent a second time. */
bool sl__reply_replayable(const sl_reply *r);

/* Whether r may be sent again on a new connection after a failure on its
 * current one (RFC 9110 section 9.2.2). */
bool sl__reply_can_retry(const sl_reply *r);

/* Prepares r for another attempt (head, body queue, response state). */
void sl__reply_reset_attempt(sl_reply *r);

/* Whether the whole request body went out (or there is none). */
bool sl__reply_body_sent(const sl_reply *r);

/* Whether the head and the body are all out. */
bool sl__reply_request_sent(const sl_reply *r);

/*
 * Authentication and cookies on a final response head. Returns true when
 * the response is to be read silently and the request sent again (a 401
 * answered, a stale nonce); false when it goes to the caller.
 */
bool sl__reply_auth_on_head(sl_reply *r, const sl_http_response *res);

/* Calls a callback with a reference held; these check r->aborted. */
void sl__reply_emit_head(sl_reply *r, const sl_reply_head *h);
void sl__reply_emit_info(sl_reply *r, const sl_reply_head *h);
void sl__reply_emit_data(sl_reply *r, sl_slice data);
void sl__reply_emit_trailer(sl_reply *r, const sl_field *f);
void sl__reply_emit_drain(sl_reply *r);

/* Local schemes (scheme_data.c, scheme_file.c). */
int sl__scheme_data_start(sl_reply *r);
void sl__scheme_data_resume(sl_reply *r);
void sl__scheme_data_cancel(sl_reply *r);
int sl__scheme_file_start(sl_reply *r);
void sl__scheme_file_resume(sl_reply *r);
void sl__scheme_file_cancel(sl_reply *r);

/*
 * The manager's HTTP cache (manager_cache.c). sl__mcache_send() is
 * sl_manager_send() for a GET request when the manager has a cache: the
 * reply it returns is answered from the cache or through an inner network
 * reply. sl__mcache_free() releases the cache's part of a reply (at its
 * release); the others read it.
 */
int sl__mcache_send(sl_manager *m, const sl_request *rq, const sl_reply_cbs *cbs, void *arg,
		    sl_reply **out);
void sl__mcache_free(sl_reply *r);
bool sl__mcache_from_cache(const sl_reply *r);
const sl_reply *sl__mcache_inner(const sl_reply *r);

/* Network schemes (scheme.c): queue on the connection of the URL's key. */
int sl__scheme_http_start(sl_reply *r);

#endif
