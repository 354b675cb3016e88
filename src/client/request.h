/*
 * A request for the client stack, as QNetworkRequest is Qt's: plain data the
 * caller fills (method, absolute URL, header fields, route, priority, flags,
 * credentials, body) and hands to sl_manager_send(). The manager copies
 * everything it keeps out of it before sl_manager_send() returns, except
 * what the body description points at: a memory body, a file descriptor,
 * and a pull callback's state must stay valid until the reply is done (its
 * on_done has run, or it was aborted). Routes are copied too. Nothing here
 * allocates, and the struct may live on the caller's stack.
 *
 * A route whose last hop is an HTTP(S) proxy marked forward (sl_hop) sends
 * plain http:// requests to that proxy in absolute form, over connections
 * to the proxy that any target host may reuse, with Proxy-Authorization
 * from the hop's credentials (answering its 407, then preemptively);
 * https:// requests always tunnel through every hop with CONNECT.
 *
 * Bodies come four ways: from memory, from a file range (sent with
 * sendfile(2) when no TLS layer is in the way), pulled through a callback
 * that fills a buffer, or pushed by the caller with sl_reply_write() as the
 * bytes arrive (the proxy's case, with back-pressure through on_drain). A
 * body of known length goes out with Content-Length, any other chunked.
 * Only memory and file bodies can be sent twice, which a retry or an
 * authentication round needs.
 */
#ifndef SL_CLIENT_REQUEST_H
#define SL_CLIENT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/headers.h"
#include "core/url.h"
#include "engines/chain.h"

/* Order in which queued requests take a channel; HIGH goes first. */
enum sl_priority {
	SL_PRIO_HIGH = 0,
	SL_PRIO_NORMAL = 1,
	SL_PRIO_LOW = 2,
};
#define SL_PRIO_COUNT 3

/* Request flags. */
enum {
	SL_REQ_NO_RETRY = 1u << 0,        /* never resend, even when RFC 9110 allows it */
	SL_REQ_PIPELINE = 1u << 1,        /* may be pipelined (GET and HEAD only, and only
	                                     when the manager enables pipelining) */
	SL_REQ_EXPECT_CONTINUE = 1u << 2, /* send Expect: 100-continue and hold the body
	                                     until 100 or the continue timeout */
	SL_REQ_NO_COOKIES = 1u << 3,      /* neither send nor store cookies */
	SL_REQ_NO_AUTH_CACHE = 1u << 4,   /* no preemptive credentials from the cache */
	SL_REQ_NO_CACHE = 1u << 5,        /* neither read nor store the manager's HTTP cache */
};

/*
 * How a request uses the manager's HTTP cache (sl_manager_opts.cache), as
 * Qt's QNetworkRequest::CacheLoadControl. Only GET requests without a body
 * to http and https URLs take part; the network's responses are stored
 * whatever the mode, when RFC 9111 allows (a private cache).
 */
enum sl_cache_load {
	SL_CACHE_PREFER_NETWORK = 0, /* the default: a stored response while it is fresh
	                                (or the rules allow it stale), else the network,
	                                validating a stored response when it has
	                                validators */
	SL_CACHE_ALWAYS_NETWORK,     /* the network, never the stored response */
	SL_CACHE_PREFER_CACHE,       /* a stored response, fresh or stale, without
	                                validation; the network when there is none */
	SL_CACHE_ALWAYS_CACHE,       /* only the cache: without a stored response the
	                                reply fails with SL_E_CACHE_ONLY_IF_CACHED */
};

enum sl_body_kind {
	SL_BODY_SRC_NONE = 0,
	SL_BODY_SRC_MEM,    /* mem[0..len), the caller's */
	SL_BODY_SRC_FILE,   /* fd from offset, len bytes; the caller keeps fd open */
	SL_BODY_SRC_PULL,   /* pull() fills buffers until it returns 0 */
	SL_BODY_SRC_PUSH,   /* sl_reply_write() and sl_reply_write_end() */
};

/*
 * Fills buf (cap bytes) with the next body bytes. Returns the count (> 0),
 * 0 at the end of the body, SL_E_AGAIN when nothing is available yet (call
 * sl_reply_body_ready() when there is), or a negative error that fails the
 * request. Called from the loop.
 */
typedef ssize_t (*sl_body_pull_fn)(void *arg, char *buf, size_t cap);

typedef struct sl_request_body {
	enum sl_body_kind kind;
	const void *mem;
	int fd;
	off_t offset;
	int64_t length;         /* bytes, or -1: unknown (pull, push), sent chunked */
	sl_body_pull_fn pull;
	void *pull_arg;
} sl_request_body;

typedef struct sl_request {
	const char *method;     /* a token; NULL means GET */
	const char *url;        /* absolute URL; http, https, data or file */
	const sl_field *headers; /* extra fields, copied; Host and User-Agent are added
	                           when absent; Content-Length, Transfer-Encoding and
	                           Expect are the manager's and ignored here */
	size_t nheaders;
	const sl_route *route;  /* NULL: direct; copied (with nroutes: an array) */
	size_t nroutes;         /* alternatives in route[0..nroutes), 0 or 1 for one:
	                           when a proxy hop of one fails before anything
	                           reached the target, the request moves to the
	                           next (see sl_reply_route_index()) */
	enum sl_priority priority;
	unsigned flags;         /* SL_REQ_* */
	const char *user;       /* credentials for a 401; NULL: from the URL's userinfo */
	const char *password;
	sl_request_body body;
	uint64_t first_byte_timeout_ms; /* 0: the manager's default */
	uint64_t read_timeout_ms;       /* idle between reads; 0: the manager's default */
	const sl_url *parsed;   /* optional: url as sl_url_parse() parsed it, its
	                           slices pointing into url (spares a second parse) */
	enum sl_cache_load cache_load;  /* with a manager cache; PREFER_NETWORK */
} sl_request;

/* Prepares rq as a bodyless request with normal priority and no flags. */
void sl_request_init(sl_request *rq, const char *method, const char *url);

/* Sets a memory body of n bytes at p; p must live until the reply is done. */
void sl_request_body_mem(sl_request *rq, const void *p, size_t n);

/* Sets a file body: len bytes of fd from off. fd stays the caller's and must
 * stay open until the reply is done. */
void sl_request_body_file(sl_request *rq, int fd, off_t off, uint64_t len);

/* Sets a pulled body of length bytes (-1: unknown, sent chunked). */
void sl_request_body_pull(sl_request *rq, sl_body_pull_fn pull, void *arg, int64_t length);

/* Sets a pushed body of length bytes (-1: unknown, sent chunked): the caller
 * writes it with sl_reply_write() and ends it with sl_reply_write_end(). */
void sl_request_body_push(sl_request *rq, int64_t length);

/* Whether a method is idempotent (RFC 9110 section 9.2.2): GET, HEAD,
 * OPTIONS, TRACE, PUT, DELETE. */
bool sl_method_idempotent(const char *method, size_t n);

#endif
