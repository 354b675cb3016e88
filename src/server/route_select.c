/*
 * Route selection and plans (see route_select.h). Matching walks the rules
 * in order with the request's facts computed once (the host without a
 * trailing dot, whether it is an address literal); a plan is built into
 * the caller's struct: the via entries in trying order, then each one's
 * hops in the plan's own hop array. Ordering by health reads one atomic
 * per entry and only for rules with several entries.
 */
#include "server/route_select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/route.h"
#include "core/addr.h"
#include "core/err.h"
#include "engines/tls.h"
#include "server/health.h"

/* The request's facts, computed once per selection. */
struct facts {
	const sl_route_req *rq;
	size_t hn;      /* host length without a trailing dot */
	bool is_ip;
	sl_addr ip;
};

static void facts_of(const sl_route_req *rq, struct facts *f)
{
	f->rq = rq;
	f->hn = rq->host_len;
	while (f->hn && rq->host[f->hn - 1] == '.')
		f->hn--;
	f->is_ip = f->hn && sl_addr_parse(rq->host, f->hn, &f->ip) == 0;
}

static bool dest_ok(const sl_conf_match *m, const struct facts *f)
{
	if (!m->hosts.n && !m->cidrs.n)
		return true;
	for (size_t i = 0; i < m->hosts.n; i++)
		if (sl_config_host_match(m->hosts.v[i], f->rq->host, f->hn))
			return true;
	for (size_t i = 0; f->is_ip && i < m->cidrs.n; i++)
		if (sl_cidr_match(&m->cidrs.v[i], &f->ip))
			return true;
	return false;
}

static bool match_facts(const sl_conf_match *m, const struct facts *f)
{
	const sl_route_req *rq = f->rq;
	bool ok;

	if (!dest_ok(m, f))
		return false;
	if (m->ports.n) {
		ok = false;
		for (size_t i = 0; !ok && i < m->ports.n; i++)
			ok = m->ports.v[i] == rq->port;
		if (!ok)
			return false;
	}
	if (m->schemes &&
	    !(m->schemes & (rq->https ? SL_CONF_SCHEME_HTTPS : SL_CONF_SCHEME_HTTP)))
		return false;
	if (m->methods.n) {
		ok = false;
		for (size_t i = 0; !ok && i < m->methods.n; i++)
			ok = rq->method && strcmp(m->methods.v[i], rq->method) == 0;
		if (!ok)
			return false;
	}
	return true;
}

bool sl_route_match(const sl_conf_match *m, const sl_route_req *rq)
{
	struct facts f;

	facts_of(rq, &f);
	return match_facts(m, &f);
}

const sl_conf_route *sl_route_select(const sl_config *cfg, const sl_route_req *rq, int *index)
{
	struct facts f;

	facts_of(rq, &f);
	for (size_t i = 0; i < cfg->routes.n; i++)
		if (match_facts(&cfg->routes.v[i].match, &f)) {
			if (index)
				*index = (int)i;
			return &cfg->routes.v[i];
		}
	if (index)
		*index = -1;
	return NULL;
}

/* ---- plans ---- */

static void add_via(sl_route_plan *p, const char *name, const sl_conf_upstream *u,
		    const sl_conf_chain *c)
{
	if (p->n == SL_PLAN_MAX)
		return;
	p->via[p->n].name = name;
	p->via[p->n].upstream = u;
	p->via[p->n].chain = c;
	p->n++;
}

size_t sl_plan_via_hops(const sl_plan_via *v)
{
	return v->chain ? v->chain->hops.n : v->upstream ? 1 : 0;
}

const sl_conf_upstream *sl_plan_via_hop(const sl_plan_via *v, int hop)
{
	if (hop < 0 || (size_t)hop >= sl_plan_via_hops(v))
		return NULL;
	return v->chain ? v->chain->hops.v[hop] : v->upstream;
}

/* The environment's rule: its proxy for the scheme, unless NO_PROXY lists
 * the host. */
static void env_plan(const sl_config *cfg, const sl_route_req *rq, sl_route_plan *p)
{
	const sl_conf_upstream *u = rq->https ? cfg->env.https : cfg->env.http;

	p->rule_name = "env";
	if (u && !(cfg->env.no_proxy &&
		   sl_no_proxy_match(cfg->env.no_proxy, rq->host, rq->host_len)))
		add_via(p, u->name, u, NULL);
	else
		add_via(p, "direct", NULL, NULL);
}

/* Moves the entries whose upstream or chain is down after the others,
 * keeping the order within each group. */
static void order_by_health(sl_route_plan *p, struct sl_health *h, uint64_t now)
{
	sl_plan_via up[SL_PLAN_MAX], down[SL_PLAN_MAX];
	size_t nu = 0, nd = 0;

	for (size_t i = 0; i < p->n; i++) {
		const sl_plan_via *v = &p->via[i];
		sl_health_entry *e = sl_plan_via_hops(v) ? sl_health_find(h, v->name) : NULL;

		if (!e || sl_health_usable(e, now))
			up[nu++] = *v;
		else
			down[nd++] = *v;
	}
	if (!nd)
		return;
	memcpy(p->via, up, nu * sizeof *up);
	memcpy(p->via + nu, down, nd * sizeof *down);
}

/* Builds route i's hops from via i. */
static void build_routes(sl_route_plan *p)
{
	size_t used = 0, k = 0;

	for (size_t i = 0; i < p->n; i++) {
		const sl_plan_via *v = &p->via[i];
		size_t nh = sl_plan_via_hops(v);

		if (used + nh > SL_PLAN_HOPS)
			break; /* cannot happen with the configuration's limits */
		for (size_t j = 0; j < nh; j++)
			sl_hop_from_upstream(&p->hops[used + j], sl_plan_via_hop(v, (int)j));
		p->via[k] = *v;
		p->routes[k].hops = nh ? &p->hops[used] : NULL;
		p->routes[k].n = nh;
		p->routes[k].name = v->name;
		used += nh;
		k++;
	}
	p->n = k;
}

void sl_route_plan_make(const sl_config *cfg, const sl_route_req *rq, struct sl_health *h,
			uint64_t now_ms, sl_route_plan *out)
{
	int index;
	const sl_conf_route *r = sl_route_select(cfg, rq, &index);

	out->deny = false;
	out->rule = r;
	out->rule_index = index;
	out->hier = "DEFAULT_PARENT";
	out->n = 0;
	if (!r) {
		if (cfg->upstream_from_env) {
			env_plan(cfg, rq, out);
			build_routes(out);
		} else {
			out->rule_name = "none";
			out->deny = true;
		}
		return;
	}
	out->rule_name = r->name;
	for (size_t i = 0; i < r->via.n; i++) {
		const sl_conf_via *v = &r->via.v[i];

		if (v->kind == SL_CONF_VIA_DENY)
			break;
		add_via(out, v->name, v->kind == SL_CONF_VIA_UPSTREAM ? v->upstream : NULL,
			v->kind == SL_CONF_VIA_CHAIN ? v->chain : NULL);
	}
	if (out->n == 0) {
		out->deny = true;
		return;
	}
	if (out->n > 1) {
		out->hier = r->strategy == SL_CONF_STRATEGY_ROUND_ROBIN ? "ROUNDROBIN_PARENT"
									: "FIRSTUP_PARENT";
		if (r->strategy == SL_CONF_STRATEGY_ROUND_ROBIN && h) {
			sl_plan_via rot[SL_PLAN_MAX];
			size_t start = sl_health_turn(h, r->name) % out->n;

			for (size_t i = 0; i < out->n; i++)
				rot[i] = out->via[(start + i) % out->n];
			memcpy(out->via, rot, out->n * sizeof *rot);
		}
		if (h)
			order_by_health(out, h, now_ms);
	}
	build_routes(out);
}

void sl_route_plan_copy(sl_route_plan *dst, const sl_route_plan *src)
{
	*dst = *src;
	for (size_t i = 0; i < src->n; i++)
		if (src->routes[i].hops)
			dst->routes[i].hops = dst->hops + (src->routes[i].hops - src->hops);
	for (size_t i = 0; i < dst->n; i++)
		for (size_t k = 0; k < dst->routes[i].n; k++)
			if (dst->routes[i].hops[k].tls)
				sl_tls_ctx_ref(dst->routes[i].hops[k].tls);
}

void sl_route_plan_release(sl_route_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		for (size_t k = 0; k < p->routes[i].n; k++) {
			sl_hop *h = (sl_hop *)&p->routes[i].hops[k];
			if (h->tls) {
				sl_tls_ctx_unref(h->tls);
				h->tls = NULL;
			}
		}
}

/* ---- the trust of https upstreams ---- */

struct sl_route_tls {
	const sl_config *cfg;
	size_t n;
	sl_tls_ctx *ctx[];   /* one per upstream of cfg, NULL: the global trust */
};

int sl_route_tls_new(const sl_config *cfg, sl_route_tls **out, char *err, size_t errlen)
{
	sl_route_tls *t = NULL;
	bool any = false;

	*out = NULL;
	for (size_t i = 0; i < cfg->upstreams.n; i++)
		any |= cfg->upstreams.v[i].type == SL_CONF_UP_HTTPS &&
		       cfg->upstreams.v[i].tls.ca_file[0];
	if (!any)
		return 0;
	t = calloc(1, sizeof *t + cfg->upstreams.n * sizeof t->ctx[0]);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->cfg = cfg;
	t->n = cfg->upstreams.n;
	for (size_t i = 0; i < cfg->upstreams.n; i++) {
		const sl_conf_upstream *u = &cfg->upstreams.v[i];
		sl_tls_ctx_opts o = {.ca_file = u->tls.ca_file};
		char why[256];

		if (u->type != SL_CONF_UP_HTTPS || !u->tls.ca_file[0])
			continue;
		t->ctx[i] = sl_tls_ctx_new(&o, why, sizeof why);
		if (!t->ctx[i]) {
			snprintf(err, errlen, "upstream %s: tls.ca_file %s: %s", u->name,
				 u->tls.ca_file, why);
			sl_route_tls_free(t);
			return -1;
		}
	}
	*out = t;
	return 0;
}

void sl_route_tls_free(sl_route_tls *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		if (t->ctx[i])
			sl_tls_ctx_unref(t->ctx[i]);
	free(t);
}

void sl_route_plan_use_tls(sl_route_plan *p, const sl_route_tls *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < p->n; i++) {
		const sl_plan_via *v = &p->via[i];
		sl_hop *hops = (sl_hop *)p->routes[i].hops;

		for (size_t k = 0; k < p->routes[i].n; k++) {
			const sl_conf_upstream *u = sl_plan_via_hop(v, (int)k);
			size_t idx = (size_t)(u - t->cfg->upstreams.v);

			if (u && idx < t->n)
				hops[k].tls = t->ctx[idx];
		}
	}
}

/* ---- error text ---- */

/* "upstream corp (proxy.example:8080)" and, in a chain of several hops,
 * ", hop 2 of chain via-gw". */
static size_t name_hop(const sl_plan_via *v, int hop, char *out, size_t cap)
{
	const sl_conf_upstream *u = sl_plan_via_hop(v, hop);
	bool v6;
	int n;

	if (!u)
		return (size_t)snprintf(out, cap, "%s", v->name);
	v6 = strchr(u->host, ':') != NULL;
	n = snprintf(out, cap, "upstream %s (%s%s%s:%u)", u->name, v6 ? "[" : "", u->host,
		     v6 ? "]" : "", u->port);
	if (n >= 0 && (size_t)n < cap && v->chain && v->chain->hops.n > 1)
		n += snprintf(out + n, cap - (size_t)n, ", hop %d of chain %s", hop + 1,
			      v->chain->name);
	return n < 0 ? 0 : (size_t)n;
}

size_t sl_plan_error_text(const sl_plan_via *v, int hop, int code, int status,
			  const char *status_line, const char *scheme, char *out, size_t cap)
{
	char who[256], next[256], said[128] = "";
	const char *cause = sl_strerror(code);
	int n;

	if (!cap)
		return 0;
	name_hop(v, hop, who, sizeof who);
	if (status && status_line && status_line[0])
		snprintf(said, sizeof said, " (%s%s%s)", status_line,
			 scheme && scheme[0] ? ", " : "", scheme && scheme[0] ? scheme : "");
	switch (code) {
	case SL_E_PROXY_AUTH:
		cause = "proxy authentication failed";
		break;
	case SL_E_PROXY_AUTH_REQUIRED:
		cause = "the proxy asks for credentials and none are configured";
		break;
	case SL_E_PROXY_STATUS:
		if (hop >= 0 && (size_t)hop + 1 < sl_plan_via_hops(v) &&
		    (status == 502 || status == 503 || status == 504)) {
			name_hop(v, hop + 1, next, sizeof next);
			n = snprintf(out, cap, "%s could not reach the next hop, %s%s", who, next,
				     said);
			return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
		}
		cause = "the proxy refused the CONNECT request";
		break;
	default:
		break;
	}
	n = snprintf(out, cap, "%s: %s%s", who, cause, said);
	return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}
