/*
 * The reply to a request, as QNetworkReply is Qt's: it streams the response
 * head, then body chunks, then one end. The caller gets callbacks:
 *
 *   on_head   once, with the final status and fields (1xx are consumed:
 *             100 Continue drives Expect, others go to on_info if set)
 *   on_data   for each body slice; the slice points into the channel's read
 *             buffer (zero copy) and is valid only during the call
 *   on_trailer for each trailer field of a chunked body (optional)
 *   on_drain  when a pushed body may be written again (optional)
 *   on_done   exactly once, with 0 or the error, unless the caller aborted
 *
 * Callbacks are only ever called from the manager's loop, never from inside
 * an sl_manager_* or sl_reply_* call. A callback may call any sl_reply_*
 * function on any reply and sl_manager_send(), but not sl_manager_free().
 *
 * Back-pressure: sl_reply_pause() stops reading from the upstream socket (at
 * the latest after the current on_data returns), so the bytes held for this
 * reply stay below the channel's read buffer cap and TCP pushes back on the
 * server; sl_reply_resume() restarts it.
 *
 * Ownership: sl_manager_send() returns a reply with one reference, the
 * caller's; the manager holds its own while the reply runs. Dropping the
 * caller's reference does not stop the reply (sl_reply_abort() does); the
 * memory goes when both references are gone. A reply is never freed inside
 * its own callback.
 */
#ifndef SL_CLIENT_REPLY_H
#define SL_CLIENT_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/headers.h"
#include "core/http_parse.h"
#include "core/url.h"

typedef struct sl_reply sl_reply;

/* The response head given to on_head; every slice is valid during the call. */
typedef struct sl_reply_head {
	int status;
	sl_slice reason;
	int minor_version;          /* 0 or 1; 1 for data: and file: */
	const sl_field *fields;
	size_t nfields;
	enum sl_http_body framing;  /* NONE, LENGTH, CHUNKED or CLOSE */
	uint64_t content_length;    /* when framing is LENGTH */
	bool keep_alive;            /* the connection persists after this response */
} sl_reply_head;

typedef struct sl_reply_cbs {
	void (*on_head)(sl_reply *r, const sl_reply_head *h, void *arg);
	void (*on_data)(sl_reply *r, sl_slice data, void *arg);
	void (*on_done)(sl_reply *r, int err, void *arg);
	void (*on_info)(sl_reply *r, const sl_reply_head *h, void *arg);   /* 1xx but 100 */
	void (*on_trailer)(sl_reply *r, const sl_field *f, void *arg);
	void (*on_drain)(sl_reply *r, void *arg);
} sl_reply_cbs;

/* Where in its life a reply failed. */
enum sl_reply_phase {
	SL_PHASE_NONE = 0,
	SL_PHASE_CONNECT,   /* reaching the target (or a proxy hop) */
	SL_PHASE_SEND,      /* writing the request */
	SL_PHASE_WAIT,      /* waiting for the response head */
	SL_PHASE_RECEIVE,   /* reading the response body */
	SL_PHASE_LOCAL,     /* data: and file: URLs */
};

/* Longest status line and scheme name an sl_reply_error keeps. */
#define SL_REPLY_STATUS_MAX 64
#define SL_REPLY_SCHEME_MAX 16

/* Why a reply failed: the code (sl_strerror()), which side, which hop, and
 * what an HTTP proxy hop answered when it refused. */
typedef struct sl_reply_error {
	int code;                   /* 0 when the reply succeeded or still runs */
	bool proxy;                 /* a hop of the route failed, not the target */
	int hop;                    /* hop index for connect and proxy errors, else -1 */
	enum sl_reply_phase phase;
	int status;                 /* a proxy hop's refusing status (CONNECT's answer,
	                               or a forwarding proxy's 407), else 0 */
	char status_line[SL_REPLY_STATUS_MAX]; /* "407 Proxy Authentication Required" */
	char scheme[SL_REPLY_SCHEME_MAX];      /* a 407's scheme: "Basic", "Digest", or "" */
} sl_reply_error;

typedef struct sl_reply_stats {
	uint64_t bytes_sent;        /* request bytes written, head and body */
	uint64_t bytes_received;    /* response bytes read, head and body */
	uint64_t body_bytes;        /* body bytes given to on_data */
	bool reused;                /* the last attempt ran on a connection used before */
	bool retried;               /* sent again after a failure (RFC 9110 9.2.2) */
	unsigned auth_rounds;       /* 401 challenges answered */
	double ttfb;                /* seconds from send to first response byte; -1 */
	double total;               /* seconds from send to done; -1 while running */
	size_t buffered;            /* bytes held in the channel's read buffer now */
	size_t buffer_cap;          /* the cap on that buffer */
} sl_reply_stats;

/*
 * Stops delivering and stops reading from the upstream socket; the current
 * on_data (if any) finishes first. Harmless on a finished reply.
 */
void sl_reply_pause(sl_reply *r);

/* Restarts delivery and reading; buffered bytes come first, from the loop. */
void sl_reply_resume(sl_reply *r);

/*
 * Cancels the reply: no callback is called afterwards (on_done included),
 * the connection it ran on is closed if a response was in progress, and its
 * error becomes SL_E_CANCELED. The caller's reference remains. Harmless on
 * a finished reply.
 */
void sl_reply_abort(sl_reply *r);

/* Takes and drops a reference. The reply is freed (recycled) at zero. */
void sl_reply_ref(sl_reply *r);
void sl_reply_unref(sl_reply *r);

/*
 * Writes n bytes of a pushed body (SL_BODY_SRC_PUSH); they are copied.
 * Returns n, SL_E_AGAIN when the reply already holds its high watermark of
 * unsent body bytes (wait for on_drain), SL_E_CANCELED when the body is no
 * longer wanted (the server answered before it was sent, or the reply is
 * done), SL_E_INVAL when this is not a pushed body, it was ended, or n
 * passes the announced length, or SL_E_NOMEM. Never calls back.
 */
ssize_t sl_reply_write(sl_reply *r, const void *p, size_t n);

/* Ends a pushed body. Returns 0, SL_E_INVAL (not a push body, already
 * ended, or fewer bytes than announced) or SL_E_CANCELED. */
int sl_reply_write_end(sl_reply *r);

/* Tells the manager a pull callback that returned SL_E_AGAIN has data now. */
void sl_reply_body_ready(sl_reply *r);

/* The final status, 0 before on_head (or for a failure before it). */
int sl_reply_status(const sl_reply *r);

/* Whether on_done has run or the reply was aborted. */
bool sl_reply_finished(const sl_reply *r);

/* The request URL (slices into the reply's copy). */
const sl_url *sl_reply_url(const sl_reply *r);

/*
 * The head of the request's current attempt as built for the wire: the
 * request line and every field, each ended by CRLF, then the empty line.
 * Credentials are in it as sent. An empty slice before the reply is bound
 * to a connection (and for data: and file: URLs). Valid in the callbacks,
 * until the next attempt.
 */
sl_slice sl_reply_request_head(const sl_reply *r);

/*
 * Stores in *out the address the reply's connection reached (the origin,
 * or the first proxy hop of its route) and returns true; false when no
 * connection carries the reply (before it is bound, after it is done, for
 * data: and file: URLs). Valid in on_head and on_data.
 */
bool sl_reply_peer(const sl_reply *r, sl_addr *out);

/* Whether the response came from the manager's cache (whole, or after a
 * 304 revalidated the stored one), as Qt's SourceIsFromCacheAttribute. */
bool sl_reply_from_cache(const sl_reply *r);

/* Fills *out with the statistics so far. */
void sl_reply_get_stats(const sl_reply *r, sl_reply_stats *out);

/* Fills *out with the error detail (code 0 when none). */
void sl_reply_get_error(const sl_reply *r, sl_reply_error *out);

/* Which of the request's routes (sl_request.nroutes) the reply's current
 * or last attempt went through: 0 for the first, or for a single route. */
size_t sl_reply_route_index(const sl_reply *r);

/* Whether the reply's current or last attempt was sent to a forwarding
 * proxy in absolute form (a plain-http request over a forward hop). */
bool sl_reply_forwarded(const sl_reply *r);

/* Returns a name for a phase ("connect", "send"...). */
const char *sl_reply_phase_name(enum sl_reply_phase p);

#endif
