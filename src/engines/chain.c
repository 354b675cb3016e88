/*
 * The chain: from a route and a target to one connected sl_stream (see
 * chain.h). One request walks these states, each step started by the
 * completion of the one before:
 *
 *   RESOLVE_FIRST --dns--> TCP --connected--> HOP(i) ... --> TARGET_TLS --> DONE
 *                                              |
 *            HOP(i): [TLS to hop i if https] -> [local DNS of the next name
 *                    if socks5 without remote DNS] -> SOCKS5 or CONNECT
 *                    through hop i to hop i+1 (or to the target) -> i + 1
 *
 * With opts.to_last_hop the walk ends after the last hop's TLS (if any),
 * before its handshake: the stream then talks to that proxy itself.
 *
 * Every failure goes through fail(), which closes what is open and calls
 * the user back once with the error, its hop, its side (proxy or target)
 * and, when a CONNECT hop refused, its status line. A CONNECT hop that
 * answers 407 and then closes is retried once on a new connection from the
 * start, its credentials then sent at once.
 */
#include "engines/chain.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/err.h"
#include "engines/http_connect.h"
#include "engines/socks5.h"
#include "engines/tcp.h"
#include "engines/tls.h"

#define CHAIN_MAGIC 0x4348414eu /* "CHAN" */
#define DEFAULT_TIMEOUT_MS 10000

enum chain_state {
	ST_RESOLVE_FIRST,
	ST_TCP,
	ST_HOP_TLS,
	ST_HOP_RESOLVE,
	ST_HOP_HANDSHAKE,
	ST_TARGET_TLS,
	ST_DONE,
};

struct sl_chain_req {
	uint32_t magic;
	enum chain_state state;
	struct ev_loop *loop;
	sl_route route;
	const char *host;
	uint16_t port;
	sl_connect_opts opts;
	sl_chain_cb cb;
	void *arg;
	sl_stream *s;
	sl_dns_query *q;
	sl_tcp_req *tcp;     /* the TCP connect while it runs */
	size_t hop;          /* the hop the stream currently reaches */
	bool reconnected;    /* a 407-then-close retry was made */
	size_t preset_hop;   /* after the retry: the hop whose challenge is known */
	sl_auth_challenge preset;
};

static void step(sl_chain_req *r);
static void on_layer_done(sl_stream *s, int err, void *arg);

/* Starts layer l's handshake, bounded by the connect timeout. */
static void push(sl_chain_req *r, sl_layer *l)
{
	sl_stream_set_timeout(r->s, r->opts.connect_timeout_ms);
	sl_stream_push(r->s, l, on_layer_done, r);
}

static bool direct(const sl_chain_req *r)
{
	return r->route.n == 0;
}

/* The name and port hop i connects onward to: hop i + 1, or the target. */
static void next_of(const sl_chain_req *r, size_t i, const char **host, uint16_t *port)
{
	if (i + 1 < r->route.n) {
		*host = r->route.hops[i + 1].host;
		*port = r->route.hops[i + 1].port;
	} else {
		*host = r->host;
		*port = r->port;
	}
}

void sl_chain_err_set(sl_chain_err *e, int code, int hop, bool proxy)
{
	memset(e, 0, sizeof *e);
	e->code = code;
	e->hop = hop;
	e->proxy = proxy;
}

static void finish(sl_chain_req *r, sl_stream *s, const sl_chain_err *e)
{
	sl_chain_cb cb = r->cb;
	void *arg = r->arg;

	r->state = ST_DONE;
	r->magic = 0;
	free(r);
	cb(s, e, arg);
}

/* Copies what a failed CONNECT layer on top of the stream knows. */
static void connect_status(const sl_stream *s, sl_chain_err *e)
{
	const sl_layer *l = s->top;

	if (!sl_connect_layer_is(l) || !sl_connect_layer_status_code(l))
		return;
	e->status = sl_connect_layer_status_code(l);
	snprintf(e->status_line, sizeof e->status_line, "%s", sl_connect_layer_status(l));
	snprintf(e->scheme, sizeof e->scheme, "%s", sl_connect_layer_asked_scheme(l));
}

/* The one exit for failures: closes what is open, reports once. */
static void fail(sl_chain_req *r, int err, int hop, bool proxy)
{
	sl_chain_err e;

	if (r->q) {
		sl_dns_cancel(r->q);
		r->q = NULL;
	}
	if (r->tcp) {
		sl_tcp_cancel(r->tcp);
		r->tcp = NULL;
	}
	if (r->s) {
		/* The stream's own record is the most precise when it has one. */
		if (r->s->err) {
			err = r->s->err;
			hop = r->s->err_hop >= 0 ? r->s->err_hop : hop;
			proxy = r->s->err_proxy;
		}
	}
	sl_chain_err_set(&e, err, hop, proxy);
	if (r->s) {
		connect_status(r->s, &e);
		sl_stream_close(r->s);
		r->s = NULL;
	}
	finish(r, NULL, &e);
}

static int dns_error(int err, bool proxy)
{
	if (err == SL_E_DNS_NOT_FOUND)
		return proxy ? SL_E_PROXY_NOT_FOUND : SL_E_TARGET_NOT_FOUND;
	if (err == SL_E_DNS_TIMEOUT)
		return proxy ? SL_E_PROXY_TIMEOUT : SL_E_TARGET_TIMEOUT;
	return err;
}

/* Keeps the addresses the destination check allows; returns how many, or
 * the check's error when it refused them all. */
static int filter_addrs(sl_chain_req *r, const sl_addr *in, size_t n, sl_addr *out)
{
	size_t k = 0;
	int refused = 0;

	for (size_t i = 0; i < n; i++) {
		int rc = r->opts.check_addr ? r->opts.check_addr(r->opts.check_arg, &in[i]) : 0;
		if (rc == 0)
			out[k++] = in[i];
		else
			refused = rc;
	}
	return k ? (int)k : (refused ? refused : SL_E_TARGET_NOT_FOUND);
}

static void on_layer_done(sl_stream *s, int err, void *arg)
{
	sl_chain_req *r = arg;

	(void)s;
	assert(r->magic == CHAIN_MAGIC);
	if (err == SL_E_PROXY_AUTH_RECONNECT && !r->reconnected) {
		/* The proxy answered 407 and closed: start over once, with the
		 * challenge answered in the first request to that hop. */
		sl_stream_tracef(r->s, "chain: hop %zu closed after 407, reconnecting", r->hop);
		r->preset = *sl_connect_layer_challenge(s->top);
		r->preset_hop = r->hop;
		r->reconnected = true;
		s->err = 0; /* the retry decides */
		sl_stream_close(r->s);
		r->s = NULL;
		r->hop = 0;
		r->state = ST_RESOLVE_FIRST;
		step(r);
		return;
	}
	if (err == SL_E_PROXY_AUTH_RECONNECT) {
		s->err = SL_E_PROXY_AUTH; /* closed again after the credentials */
		err = SL_E_PROXY_AUTH;
	}
	if (err == SL_E_SOCKS_NO_METHOD && r->hop < r->route.n && !r->route.hops[r->hop].user) {
		/* It wants a method we could offer only with credentials. */
		s->err = SL_E_PROXY_AUTH_REQUIRED;
		err = SL_E_PROXY_AUTH_REQUIRED;
	}
	if (err < 0) {
		bool target = r->state == ST_TARGET_TLS;
		fail(r, err, (int)r->hop, !target);
		return;
	}
	switch (r->state) {
	case ST_HOP_TLS:
		r->state = ST_HOP_RESOLVE;
		break;
	case ST_HOP_HANDSHAKE:
		r->hop++;
		r->state = r->hop < r->route.n ? ST_HOP_TLS : ST_TARGET_TLS;
		break;
	case ST_TARGET_TLS:
		r->state = ST_DONE;
		break;
	default:
		assert(!"layer done in a state without a layer");
	}
	step(r);
}

static void on_tcp(sl_stream *s, int err, void *arg)
{
	sl_chain_req *r = arg;

	(void)s;
	assert(r->magic == CHAIN_MAGIC);
	r->tcp = NULL; /* the handle is gone once this returns */
	if (err < 0) {
		fail(r, err, 0, !direct(r));
		return;
	}
	r->hop = 0;
	r->state = direct(r) ? ST_TARGET_TLS : ST_HOP_TLS;
	step(r);
}

static void on_first_resolved(int err, const sl_addr *addrs, size_t n, void *arg)
{
	sl_chain_req *r = arg;
	sl_addr allowed[SL_DNS_MAX_ADDRS];
	uint16_t port = direct(r) ? r->port : r->route.hops[0].port;
	int k;

	assert(r->magic == CHAIN_MAGIC);
	r->q = NULL;
	if (err < 0) {
		fail(r, dns_error(err, !direct(r)), 0, !direct(r));
		return;
	}
	if (direct(r)) {
		k = filter_addrs(r, addrs, n, allowed);
		if (k < 0) {
			fail(r, k, 0, false);
			return;
		}
		addrs = allowed;
		n = (size_t)k;
	}
	r->s = sl_stream_new(r->loop);
	if (!r->s) {
		fail(r, SL_E_NOMEM, 0, !direct(r));
		return;
	}
	if (r->opts.trace) {
		char a[SL_ADDR_STRLEN];
		sl_stream_set_trace(r->s, r->opts.trace, r->opts.trace_arg);
		sl_addr_format(&addrs[0], a, sizeof a);
		sl_stream_tracef(r->s, "tcp: connecting to %s %s port %u (%zu address%s, first %s)",
				 direct(r) ? "target" : "hop 0",
				 direct(r) ? r->host : r->route.hops[0].host, port, n,
				 n == 1 ? "" : "es", a);
	}
	r->state = ST_TCP;
	r->tcp = sl_tcp_connect(r->s, addrs, n, port, r->opts.connect_timeout_ms, 0, direct(r),
				on_tcp, r);
	if (!r->tcp)
		fail(r, SL_E_NOMEM, 0, !direct(r));
}

static void on_hop_resolved(int err, const sl_addr *addrs, size_t n, void *arg)
{
	sl_chain_req *r = arg;
	sl_addr allowed[SL_DNS_MAX_ADDRS];
	bool last = r->hop + 1 == r->route.n;
	const char *host;
	uint16_t port;
	int k;

	assert(r->magic == CHAIN_MAGIC);
	r->q = NULL;
	if (err < 0) {
		/* The next name did not resolve here: a proxy error for the next
		 * hop, a target error for the target. */
		fail(r, dns_error(err, !last), (int)r->hop + 1, !last);
		return;
	}
	if (last) {
		k = filter_addrs(r, addrs, n, allowed);
		if (k < 0) {
			fail(r, k, (int)r->hop + 1, false);
			return;
		}
		addrs = allowed;
	}
	next_of(r, r->hop, &host, &port);
	sl_socks5_target t = {.host = NULL, .addr = addrs[0], .port = port,
			      .user = r->route.hops[r->hop].user,
			      .password = r->route.hops[r->hop].password};
	(void)host;
	sl_layer *l = sl_socks5_layer_new(&t, (int)r->hop, last);
	if (!l) {
		fail(r, SL_E_NOMEM, (int)r->hop, true);
		return;
	}
	r->state = ST_HOP_HANDSHAKE;
	push(r, l);
}

/* Runs the step of the current state. */
static void step(sl_chain_req *r)
{
	const sl_hop *h = r->hop < r->route.n ? &r->route.hops[r->hop] : NULL;
	bool last = r->hop + 1 == r->route.n;
	const char *host;
	uint16_t port;
	sl_layer *l;

	switch (r->state) {
	case ST_RESOLVE_FIRST: {
		const char *first = direct(r) ? r->host : r->route.hops[0].host;
		r->q = sl_dns_resolve(r->opts.dns, first, on_first_resolved, r);
		if (!r->q)
			fail(r, SL_E_NOMEM, 0, !direct(r));
		return;
	}
	case ST_HOP_TLS:
		if (h->type != SL_HOP_HTTPS) {
			r->state = ST_HOP_RESOLVE;
			step(r);
			return;
		}
		l = sl_tls_layer_new(h->tls ? h->tls : r->opts.tls,
				     h->tls_server_name ? h->tls_server_name : h->host, h->port,
				     h->tls_verify, (int)r->hop, false);
		if (!l) {
			fail(r, SL_E_NOMEM, (int)r->hop, true);
			return;
		}
		push(r, l);
		return;
	case ST_HOP_RESOLVE:
		if (r->opts.to_last_hop && last) {
			/* The last hop is the peer: no handshake through it. */
			r->state = ST_DONE;
			step(r);
			return;
		}
		next_of(r, r->hop, &host, &port);
		if (h->type == SL_HOP_SOCKS5) {
			/* SOCKS5 without remote DNS: this side resolves the name. */
			r->state = ST_HOP_HANDSHAKE;
			r->q = sl_dns_resolve(r->opts.dns, host, on_hop_resolved, r);
			if (!r->q)
				fail(r, SL_E_NOMEM, (int)r->hop, true);
			return;
		}
		r->state = ST_HOP_HANDSHAKE;
		if (h->type == SL_HOP_SOCKS5H) {
			sl_socks5_target t = {.host = host, .port = port,
					      .user = h->user, .password = h->password};
			l = sl_socks5_layer_new(&t, (int)r->hop, last);
		} else {
			l = sl_connect_layer_new(host, port, h, r->opts.auth, (int)r->hop, last);
			if (l && r->reconnected && r->preset_hop == r->hop)
				sl_connect_layer_preset(l, &r->preset);
		}
		if (!l) {
			fail(r, SL_E_NOMEM, (int)r->hop, true);
			return;
		}
		push(r, l);
		return;
	case ST_TARGET_TLS:
		if (!r->opts.tls_target) {
			r->state = ST_DONE;
			step(r);
			return;
		}
		l = sl_tls_layer_new(r->opts.tls,
				     r->opts.tls_server_name ? r->opts.tls_server_name : r->host,
				     r->port, r->opts.tls_verify, (int)r->route.n, true);
		if (!l) {
			fail(r, SL_E_NOMEM, (int)r->route.n, false);
			return;
		}
		push(r, l);
		return;
	case ST_DONE: {
		sl_stream *s = r->s;
		sl_chain_err ok;
		r->s = NULL;
		sl_stream_set_timeout(s, 0);
		sl_chain_err_set(&ok, 0, -1, false);
		finish(r, s, &ok);
		return;
	}
	case ST_TCP:
	case ST_HOP_HANDSHAKE:
		assert(!"step called while waiting");
		return;
	}
}

sl_chain_req *sl_chain_connect(struct ev_loop *loop, const sl_route *route, const char *host,
			       uint16_t port, const sl_connect_opts *opts, sl_chain_cb cb,
			       void *arg)
{
	sl_chain_req *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->magic = CHAIN_MAGIC;
	r->loop = loop;
	if (route)
		r->route = *route;
	r->host = host;
	r->port = port;
	r->opts = *opts;
	if (!r->opts.connect_timeout_ms)
		r->opts.connect_timeout_ms = DEFAULT_TIMEOUT_MS;
	r->cb = cb;
	r->arg = arg;
	r->state = ST_RESOLVE_FIRST;
	/* Resolution always completes from the loop, so cb never runs
	 * inside this call. */
	step(r);
	return r;
}

void sl_chain_cancel(sl_chain_req *r)
{
	assert(r->magic == CHAIN_MAGIC);
	if (r->q)
		sl_dns_cancel(r->q);
	if (r->tcp)
		sl_tcp_cancel(r->tcp);
	if (r->s)
		sl_stream_close(r->s);
	r->magic = 0;
	free(r);
}

int sl_hop_format(const sl_hop *h, char *out, size_t cap)
{
	static const char *const schemes[] = {"http", "https", "socks5", "socks5h"};
	bool v6 = strchr(h->host, ':') != NULL;
	int n = snprintf(out, cap, "%s://%s%s%s:%u", schemes[h->type], v6 ? "[" : "", h->host,
			 v6 ? "]" : "", h->port);

	return n < 0 || (size_t)n >= cap ? SL_E_INVAL : n;
}
