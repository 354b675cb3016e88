/*
 * What the files of a session share (session.c, forward.c, tunnel.c,
 * tunnel_linux.c): the session struct and its states, the per-request
 * transaction, the tunnel, and the per-worker context that holds the
 * scratch buffers and pools. Only src/server includes this.
 *
 * Memory. A session is the one object a silent connection costs: its
 * watchers, an empty input buffer and output queue (no allocation until
 * bytes flow) and the parser's small state. Everything that only a request
 * in progress needs sits in the transaction, taken from the worker's pool
 * when a head arrives and returned when the request ends. Reads land in the
 * worker's scratch buffer first and are parsed there; only bytes left over
 * (a partial head, body bytes the upstream cannot take yet, pipelined
 * requests) are copied into the session's own buffer, which is freed again
 * as soon as it empties.
 */
#ifndef SL_SERVER_SESSION_INTERNAL_H
#define SL_SERVER_SESSION_INTERNAL_H

#include <ev.h>
#include <stdbool.h>
#include <sys/uio.h>
#include <stdint.h>

#include "client/reply.h"
#include "core/buf.h"
#include "core/http_parse.h"
#include "core/url.h"
#include "engines/chain.h"
#include "server/acl.h"
#include "server/errors.h"
#include "server/message.h"
#include "server/route_select.h"
#include "server/server.h"
#include "server/snapshot.h"

#define SL__SESSION_MAGIC 0x53455353u /* "SESS" */
#define SL__SESSION_POOLED 0x53504f4fu /* "SPOO": in the worker's pool */
#define SL__TXN_MAGIC 0x54584e53u     /* "TXNS" */
#define SL__TUNNEL_MAGIC 0x54554e4eu  /* "TUNN" */
#define SL__SCTX_MAGIC 0x53435458u    /* "SCTX" */

#define SL__POOL_SESSIONS 1024        /* free sessions a worker keeps */
#define SL__POOL_TXNS 256
#define SL__TXN_STR_KEEP 4096         /* larger string buffers are not pooled */
#define SL__LINGER_MS 2000            /* lingering close: wait this long for EOF */
#define SL__DENY_SLOTS 8
#define SL__PIPE_POOL 32              /* idle splice pipes a worker keeps */
#define SL__TRIM_PEAK 256             /* requests at once that make a trim worth it */

/* The session's states; see the table at the top of session.c. */
enum sl__ss {
	SS_READ_HEAD = 0,
	SS_READ_BODY,
	SS_WRITE_RESPONSE,
	SS_CONNECTING,
	SS_TUNNEL,
	SS_CLOSING,
	SS_CLOSED,
};

/* What the session's one timer measures. */
enum sl__st {
	ST_NONE = 0,
	ST_IDLE,      /* keep-alive wait for the next request: client_idle */
	ST_HEADER,    /* a head is arriving: client_header from its first byte */
	ST_ACTIVITY,  /* body read or response write stalls: client_idle since last progress */
	ST_TUNNEL,    /* tunnel inactivity: tunnel_idle */
	ST_LINGER,    /* lingering close */
};

/* One request and its response. */
typedef struct sl__txn {
	uint32_t magic;
	struct sl__txn *next;          /* the pool */
	sl_reply *up;                  /* the upstream reply of a forwarded request */
	struct sl__creq *cache;        /* the cache's part in the request, or NULL */
	ev_tstamp t_start;

	/* The request. */
	enum sl_http_method meth;
	int minor;
	bool keep_alive;               /* the client allows persistence */
	bool expect_continue;
	enum sl_http_body req_body;    /* NONE, LENGTH or CHUNKED */
	uint64_t body_left;            /* LENGTH: bytes still to read */
	size_t pending;                /* body bytes at the input's front not yet taken upstream */
	sl_chunked chunked;
	bool body_done;                /* the whole body was read (or there is none) */
	bool body_end;                 /* the body's last byte has been decoded */
	bool body_discard;             /* the upstream no longer wants it: drop it */
	bool wait_drain;               /* the upstream holds enough: wait for on_drain */

	/* The response. */
	int status;
	sl_msg_frame frame;
	bool head_queued;
	bool resp_done;                /* the whole response is queued */
	bool paused;                   /* the upstream reply is paused for the client */
	bool truncated;                /* the upstream failed after the head went out */
	bool logged;

	/* For the access log. */
	uint64_t bytes_out, bytes_in;
	const char *result;            /* static */
	bool direct;                   /* an upstream was involved: HIER_DIRECT */
	const char *parent_hier;       /* a proxy route carried it: the hierarchy code */
	const char *parent;            /* ... and the upstream's or chain's name */
	sl_plan_via vias[SL_PLAN_MAX]; /* the routes tried, in order (route_select.h) */
	uint8_t nvias;
	char *str;                     /* method, url, host: NUL-terminated, in one buffer */
	size_t str_cap;
	const char *method, *url, *host;
	uint16_t port;
	char peer[SL_ADDR_STRLEN];     /* the upstream address, when known */
	char ctype[64];
	char err[192];
} sl__txn;

/* One direction of a tunnel. */
struct sl__tdir {
	int src, dst;
	sl_stream *src_st, *dst_st;    /* the target's stream when it keeps a layer
	                                  (TLS to an HTTPS proxy): read and written
	                                  through it instead of src or dst */
	int pipe[2];                   /* splice mode: the pipe between src and dst */
	char *buf;                     /* copy mode */
	size_t off, len, cap;
	size_t inpipe;                 /* splice mode: bytes in the pipe */
	uint64_t bytes;
	bool eof;                      /* src reached its end */
	bool done;                     /* ... and everything went out, dst shut */
	bool want_read, want_write;
};

typedef struct sl__tunnel {
	uint32_t magic;
	int ufd;                       /* the target's socket, -1 while connecting
	                                  or while st carries the tunnel */
	ev_io uio;
	unsigned uevents;
	sl_stream *st;                 /* the target's stream when a layer stays in
	                                  it (TLS to an HTTPS proxy hop), else NULL */
	sl_chain_req *creq;
	sl_acl_dest dest;              /* must live until the connect ends */
	sl_route_plan *plan;           /* while connecting: the routes to try */
	size_t tried;                  /* the plan's route being connected */
	struct sl__tdir up, down;      /* client -> target, target -> client */
	bool splice;
} sl__tunnel;

typedef struct sl__session {
	uint32_t magic;
	uint8_t state;                 /* enum sl__ss */
	uint8_t timer_kind;            /* enum sl__st */
	bool peer_unix;
	bool client_eof;               /* the client shut its sending side */
	bool must_close;               /* close once the current response is out */
	bool in_process;               /* process() is running: no recursion */
	bool shut_wr;                  /* our sending side is shut (lingering) */
	bool abort_rst;                /* close with a reset (truncated close-delimited body) */
	int refs;
	int fd;
	unsigned events;               /* what io is armed with */
	sl_session_env *env;
	sl_snap_hold *snap;            /* the configuration this session's request
	                                  (or tunnel) runs on: pinned at the start,
	                                  moved to the newest at each request */
	struct sl__session *prev, *next;
	ev_io io;
	ev_timer timer;
	ev_tstamp last_activity;
	ev_tstamp deadline;            /* when the current timer kind expires */
	sl_addr peer;
	sl_http_parser parser;
	sl_buf in;
	sl_outq out;
	const char *vp;                /* the input being processed (scratch or in) */
	size_t vn;
	bool vscratch;
	uint32_t nreq;
	sl__txn *txn;
	sl__tunnel *tun;
} sl__session;

/* A recent destination refusal, kept so the 403 can say why. */
struct sl__deny {
	char host[128];
	uint16_t port;
	char why[160];
};

/* The session module's per-worker state (env->ctx). */
struct sl__sctx {
	uint32_t magic;
	char *scratch;                 /* reads land here first */
	size_t in_cap;                 /* cap of a session's input (and of a read) */
	sl_field *fields;              /* the parsed head's fields */
	size_t nfields;
	sl_field *fwd;                 /* forwarded fields, either way */
	size_t nfwd;
	char *head;                    /* response heads and local bodies */
	size_t head_cap;
	size_t out_high, out_low;      /* a session's output watermarks */
	sl_http_limits limits;
	sl__session *free_s;
	unsigned nfree_s;
	sl__txn *free_t;
	unsigned nfree_t;
	char via[160];                 /* "1.1 name (sluice)" */
	const char *received_by;       /* points into via, after "1.1 " */
	size_t received_by_len;
	char date[40];                 /* "Date: ...\r\n" of date_t */
	time_t date_t;
	struct sl__deny deny[SL__DENY_SLOTS];
	unsigned deny_next;
	struct {
		int fd[2];
		size_t size;
	} pipes[SL__PIPE_POOL];            /* empty pipes for tunnels (tunnel_linux.c) */
	unsigned npipes;
	unsigned ntxn;                 /* requests in progress ... */
	unsigned ntxn_peak;            /* ... and their peak since the last trim */
	ev_tstamp trimmed;             /* when the heap was last trimmed */
	sl_route_plan plan;            /* the route of the request being started */
	ev_tstamp refuse_logged;
	struct sl__cworker *cw;        /* the worker's cache state, NULL: no cache */
};

static inline struct sl__sctx *sl__ctx(const sl__session *s)
{
	return s->env->ctx;
}

/* Arms w with ev (0: stopped); *armed holds what it is armed with. Not
 * ev_io_set: that would make libev register the fd again. */
static inline void sl__io_arm(struct ev_loop *loop, ev_io *w, unsigned *armed, unsigned ev)
{
	if (ev == *armed)
		return;
	ev_io_stop(loop, w);
	if (ev) {
		ev_io_modify(w, (int)ev);
		ev_io_start(loop, w);
	}
	*armed = ev;
}

/* The configuration the session's current request runs on. */
static inline const sl_config *sl__cfg(const sl__session *s)
{
	return s->snap->cfg;
}

/* ---- session.c: shared with forward.c and tunnel.c ---- */

/* Takes and drops a reference; the session is recycled at zero after close. */
void sl__session_ref(sl__session *s);
void sl__session_unref(sl__session *s);

/* Whether the session is still open (not closed nor closing to death). */
bool sl__session_alive(const sl__session *s);

/* Drops n bytes from the front of the input being processed. */
void sl__session_consume(sl__session *s, size_t n);

/* Makes the session's buffered input the input to process (after a wait). */
void sl__session_view_buffer(sl__session *s);

/* Processes what input there is in the current state and settles the
 * rest into the session's buffer; then updates the watchers. */
void sl__session_kick(sl__session *s);

/* Queues n bytes for the client, counted in the request's bytes. Returns 0
 * or SL_E_NOMEM (the session is then closed by the caller). */
int sl__session_queue(sl__session *s, const void *p, size_t n);

/* Sends the buffers to the client: straight to the socket while nothing is
 * queued (the common case: no copy), the rest queued. Returns 0 or a
 * negative code (the socket failed, or memory ran out). */
int sl__session_sendv(sl__session *s, const struct iovec *iov, int n);

/* Sends body bytes d to the client framed as framing says: as they are,
 * or as one chunk when CHUNKED (empty d sends nothing). Returns what
 * sl__session_sendv() returns. */
int sl__session_send_body(sl__session *s, enum sl_http_body framing, sl_slice d);

/* Writes what is queued; returns 0 or a negative error (the caller closes). */
int sl__session_flush(sl__session *s);

/* Arms the watchers for the current state and queue. */
void sl__session_update_io(sl__session *s);

/* Answers the current request locally: a complete response with a body of
 * len bytes (not sent for HEAD). extra holds more header lines ("Allow:
 * ...\r\n") or NULL. Closes after it when close is set. */
void sl__session_answer(sl__session *s, int status, const char *ctype, const char *body,
			size_t len, const char *extra, bool close);

/* Answers the current request with the error code from side; detail (may be
 * NULL) names the cause in the body and the log. */
void sl__session_fail(sl__session *s, int code, sl_err_side side, const char *detail);

/* Answers 403 to a client acl.allow_clients does not admit, and closes. */
void sl__session_deny_client(sl__session *s);

/* The response of the current request is queued in full: log it once the
 * queue is out, then go on (next request, or close). */
void sl__session_response_done(sl__session *s);

/* Closes the session now (aborting what runs), logging an unfinished
 * request with err_text. */
void sl__session_close(sl__session *s, const char *err_text);

/* Starts the lingering close: flush, shut our side, wait briefly for EOF. */
void sl__session_close_soft(sl__session *s);

/* Sets the timer. */
void sl__session_timer(sl__session *s, enum sl__st kind, uint64_t ms);

/* Copies the request's method, URL (n bytes at url) and host (hn bytes)
 * into the transaction. Returns 0 or SL_E_NOMEM. */
int sl__txn_set_strings(sl__txn *t, sl_slice method, const char *url, size_t n,
			const char *host, size_t hn);

/* Keeps the media type of a Content-Type value (parameters dropped). */
void sl__txn_set_ctype(sl__txn *t, sl_slice value);

/* Formats the "Date: ...\r\n" line for now into the context. */
const char *sl__session_date(sl__session *s);

/* ---- forward.c ---- */

/* Plans the route of the current request to u (https: an https:// URL or
 * a CONNECT) into the worker's plan (sl__ctx(s)->plan) and notes the
 * routes in the transaction. */
void sl__plan_request(sl__session *s, const sl_url *u, bool https);

/* Answers 403 for a request plan p refuses, naming its rule. */
void sl__deny_by_rule(sl__session *s, const sl_route_plan *p);

/* The routes of the worker's plan for the manager (sl_request.route and
 * nroutes): NULL and 0 for a direct plan. */
void sl__plan_routes(sl__session *s, const sl_route **routes, size_t *n);

/* Notes in t which upstream or chain carried r (the access log's
 * hierarchy). */
void sl__txn_note_parent(sl__txn *t, const sl_reply *r);

/* Answers a forwarded request whose upstream reply failed before its head
 * with err: e and idx are the reply's error detail and route index
 * (sl_reply_get_error(), sl_reply_route_index()); a proxy hop's failure
 * names the upstream, a target's the host and port. */
void sl__forward_fail(sl__session *s, int err, const sl_reply_error *e, size_t idx);

/* Forwards an absolute-form request through the worker's manager; the head
 * has been consumed, its body (if any) is at the input's front. */
void sl__forward_start(sl__session *s, const sl_http_request *rq, const sl_url *u);

/* Feeds the request body at the input's front upstream. Returns 0 when the
 * body is complete (state moved on), SL_E_AGAIN when waiting for the client
 * or for on_drain, or a negative error (the session was closed). */
int sl__forward_body(sl__session *s);

/* The client went away or the session closes: stop the upstream reply. */
void sl__forward_abort(sl__session *s);

/* After a write: resume a paused upstream reply once the queue is low. */
void sl__forward_wrote(sl__session *s);

/* Remembers why the destination host:port was refused (for the 403). */
void sl__deny_note(struct sl__sctx *c, const char *host, uint16_t port, const char *why);

/* Finds the reason noted for host:port, or NULL. */
const char *sl__deny_find(struct sl__sctx *c, const char *host, uint16_t port);

/* ---- tunnel.c ---- */

/* Starts a CONNECT tunnel to the authority u; the head has been consumed,
 * bytes the client sent after it are at the input's front. */
void sl__tunnel_start(sl__session *s, const sl_http_request *rq, const sl_url *u);

/* Client socket readiness while in TUNNEL. */
void sl__tunnel_on_client(sl__session *s, int revents);

/* Frees the tunnel (closes the target's fd and the pipes, cancels a
 * connect). */
void sl__tunnel_free(sl__session *s);

/* ---- tunnel_linux.c: moving bytes ---- */

/* Whether d can move with splice(2): a pipe can be had. Returns 0, or a
 * negative code when not (the caller copies instead). */
int sl__tdir_splice_init(struct sl__sctx *c, struct sl__tdir *d);

/* Moves what it can from d->src to d->dst through a pipe, setting
 * want_read/want_write, eof and done. A direction holds a pipe only while
 * bytes wait in it: an empty one goes back to the worker's pool, so idle
 * tunnels hold none. Returns the bytes moved to dst (>= 0) or -errno. */
ssize_t sl__tdir_splice(struct sl__sctx *c, struct sl__tdir *d);

/* Gives back (or closes) the direction's pipe. */
void sl__tdir_splice_free(struct sl__sctx *c, struct sl__tdir *d);

/* Closes the worker's pooled pipes. */
void sl__pipes_free(struct sl__sctx *c);

#endif
