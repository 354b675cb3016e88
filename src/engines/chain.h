/*
 * Routes and the chain that runs them. A route is an ordered list of proxy
 * hops (none: direct). sl_chain_connect() resolves and opens one TCP
 * connection to the first hop (or the target), then on that one socket runs
 * each hop's handshake in order: TLS to an HTTPS proxy hop, then SOCKS5 or
 * HTTP CONNECT through it to the next hop, and so on to the target, then TLS
 * to the target when asked. The result is one sl_stream whose data path
 * holds only the TLS layers that must stay.
 *
 * Errors keep the split between proxy errors (a hop could not be reached,
 * refused us, timed out, spoke nonsense: SL_E_PROXY_*, SL_E_SOCKS_*, TLS
 * errors at a proxy hop) and target errors (the route worked, the target
 * did not: SL_E_TARGET_*, TLS errors at the target), with the hop index and,
 * when an HTTP proxy hop answered CONNECT with a failure, its status.
 *
 * A connect may also end at the last hop itself (opts.to_last_hop): the
 * stream then reaches a forwarding HTTP proxy (TLS to it included for an
 * https hop), which takes plain-http requests in absolute form.
 */
#ifndef SL_ENGINES_CHAIN_H
#define SL_ENGINES_CHAIN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "engines/dns.h"
#include "engines/stream.h"

struct sl_tls_ctx;
struct sl_proxy_auth;

typedef enum sl_hop_type {
	SL_HOP_HTTP,    /* HTTP proxy, CONNECT over plain TCP */
	SL_HOP_HTTPS,   /* HTTP proxy reached over TLS, CONNECT inside it */
	SL_HOP_SOCKS5,  /* SOCKS5, names resolved locally */
	SL_HOP_SOCKS5H, /* SOCKS5, names resolved by the proxy */
} sl_hop_type;

/* One proxy hop. Strings are owned by whoever built the route. */
typedef struct sl_hop {
	sl_hop_type type;
	const char *host;
	uint16_t port;
	const char *user;        /* NULL: no credentials */
	const char *password;
	const char *tls_server_name; /* HTTPS hops: SNI and name to verify (default host) */
	bool tls_verify;         /* HTTPS hops: verify the proxy's certificate */
	struct sl_tls_ctx *tls;  /* HTTPS hops: the context (trust) to verify the proxy
	                            with, or NULL for the connect options' one; whoever
	                            keeps a copy of the hop holds a reference */
	bool forward;            /* HTTP(S) hop, last of its route: plain-http requests go
	                            to it in absolute form instead of through CONNECT */
	const char *label;       /* for logs and errors, e.g. the upstream's name */
} sl_hop;

typedef struct sl_route {
	const sl_hop *hops;
	size_t n;
	const char *name;        /* for logs and health: the chain's or upstream's name,
	                            or NULL */
} sl_route;

/* Decides whether the target may be reached at address a (the proxy's
 * destination checks: loopback, link-local...). Returns 0 to allow or an
 * error (e.g. SL_E_TARGET_DENIED) to refuse. Called for every address of
 * the target that is resolved locally. */
typedef int (*sl_addr_check_fn)(void *arg, const sl_addr *a);

typedef struct sl_connect_opts {
	sl_dns *dns;                    /* the loop's resolver (required) */
	struct sl_tls_ctx *tls;         /* TLS context (required for https targets/hops) */
	struct sl_proxy_auth *auth;     /* proxy credential cache for 407s, or NULL */
	bool tls_target;                /* run TLS to the target at the end */
	bool tls_verify;                /* verify the target's certificate (default true) */
	const char *tls_server_name;    /* SNI for the target (default: the target host) */
	uint64_t connect_timeout_ms;    /* per TCP connect and per handshake; 0 = 10 s */
	sl_addr_check_fn check_addr;    /* NULL: every address allowed */
	void *check_arg;
	sl_stream_trace_cb trace;       /* -v tracing of each hop's handshake, or NULL */
	void *trace_arg;
	bool to_last_hop;               /* end at the route's last hop (a forwarding
	                                   proxy) instead of tunnelling to host:port;
	                                   ignored for a direct route */
} sl_connect_opts;

/* Longest status line and scheme name an sl_chain_err keeps, NUL included. */
#define SL_CHAIN_STATUS_MAX 64
#define SL_CHAIN_SCHEME_MAX 16

/*
 * How a connect ended. code is 0 on success, else the error; hop is the
 * hop it happened at (the route's n means the target itself; -1 when none);
 * proxy tells the side. When an HTTP proxy hop answered CONNECT with a
 * failure, status is its status code and status_line its status line
 * without the version ("503 Service Unavailable"), and for a 407 scheme
 * names the scheme the proxy asked for ("Basic", "Digest"); otherwise 0
 * and "". Never holds credentials.
 */
typedef struct sl_chain_err {
	int code;
	int hop;
	bool proxy;
	int status;
	char status_line[SL_CHAIN_STATUS_MAX];
	char scheme[SL_CHAIN_SCHEME_MAX];
} sl_chain_err;

/* The outcome: s is the connected stream (the callee owns it) and e->code
 * 0, or s NULL and e the error. e is never NULL and lives during the call. */
typedef void (*sl_chain_cb)(sl_stream *s, const sl_chain_err *e, void *arg);

/* Fills *e as a failure with code at hop on side proxy, without status. */
void sl_chain_err_set(sl_chain_err *e, int code, int hop, bool proxy);

typedef struct sl_chain_req sl_chain_req;

/*
 * Connects to host:port through route on loop. Strings in route and opts
 * must live until cb runs. cb is called once, from the loop. Returns a
 * handle for sl_chain_cancel(), or NULL when out of memory.
 */
sl_chain_req *sl_chain_connect(struct ev_loop *loop, const sl_route *route, const char *host,
			       uint16_t port, const sl_connect_opts *opts, sl_chain_cb cb,
			       void *arg);

/* Cancels a pending connect: cb is not called and every resource is freed. */
void sl_chain_cancel(sl_chain_req *r);

/* Describes a hop for messages: "socks5h://gw:1080" (no credentials). */
int sl_hop_format(const sl_hop *h, char *out, size_t cap);

#endif
