/*
 * `sluice --route URL`: what the proxy would do with a request, from the
 * configuration alone. It parses the URL as the proxy parses a request
 * target (absolute http:// or https://, or host:port with --method
 * CONNECT), runs the same selection (route_select.h) and prints the rule,
 * the action and every hop of every route in the order they would be
 * tried (the configured order: health is a running proxy's). Hops show
 * their type, address, name resolution and user; passwords never.
 */
#include "server/route_show.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/url.h"

static const char *type_name(sl_conf_upstream_type t)
{
	switch (t) {
	case SL_CONF_UP_HTTP:
		return "http";
	case SL_CONF_UP_HTTPS:
		return "https";
	case SL_CONF_UP_SOCKS5:
		return "socks5";
	case SL_CONF_UP_SOCKS5H:
		return "socks5h";
	}
	return "?";
}

static void show_auth(const sl_conf_upstream *u, FILE *out)
{
	if (!u->has_auth) {
		fputs("auth none", out);
		return;
	}
	fprintf(out, "auth user %s", u->auth.user);
	if (u->auth.source == SL_CONF_SECRET_ENV)
		fprintf(out, " (password from $%s)", u->auth.source_name);
	else if (u->auth.source == SL_CONF_SECRET_FILE)
		fprintf(out, " (password from %s)", u->auth.source_name);
	else
		fputs(" (password in the file)", out);
}

static void show_hop(const sl_conf_upstream *u, int i, bool last, bool plain_http, FILE *out)
{
	bool http = u->type == SL_CONF_UP_HTTP || u->type == SL_CONF_UP_HTTPS;
	bool v6 = strchr(u->host, ':') != NULL;

	fprintf(out, "    hop %d: %s %s%s%s:%u (upstream %s), ", i + 1, type_name(u->type),
		v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->name);
	if (http)
		fputs("dns remote, ", out);
	else
		fprintf(out, "dns %s, ", u->dns == SL_CONF_DNS_REMOTE ? "remote" : "local");
	show_auth(u, out);
	if (u->type == SL_CONF_UP_HTTPS)
		fprintf(out, ", tls %s%s%s", u->tls.verify ? "verified" : "not verified",
			u->tls.server_name[0] ? " as " : "", u->tls.server_name);
	if (http)
		fprintf(out, ", mode %s%s",
			u->mode == SL_CONF_MODE_FORWARD ? "forward" : "connect",
			u->mode == SL_CONF_MODE_FORWARD && last && plain_http ? " (absolute form)" : "");
	fputc('\n', out);
}

static void show_via(const sl_plan_via *v, size_t i, const sl_route_req *rq, bool plain_http,
		     FILE *out)
{
	size_t n = sl_plan_via_hops(v);
	const sl_conf_upstream *last = n ? sl_plan_via_hop(v, (int)n - 1) : NULL;
	bool fwd = last && plain_http && last->mode == SL_CONF_MODE_FORWARD &&
		   (last->type == SL_CONF_UP_HTTP || last->type == SL_CONF_UP_HTTPS);
	bool v6 = memchr(rq->host, ':', rq->host_len) != NULL;

	if (!n) {
		fprintf(out, "  %zu. direct: connect to %s%.*s%s:%u (names resolved here)\n", i + 1,
			v6 ? "[" : "", (int)rq->host_len, rq->host, v6 ? "]" : "", rq->port);
		return;
	}
	fprintf(out, "  %zu. %s %s\n", i + 1, v->chain ? "chain" : v->name[0] == 'e' &&
		     strncmp(v->name, "env:", 4) == 0 ? "environment proxy" : "upstream", v->name);
	for (size_t k = 0; k < n; k++)
		show_hop(sl_plan_via_hop(v, (int)k), (int)k, k + 1 == n, plain_http, out);
	if (fwd)
		fprintf(out, "    then: %s sent to hop %zu in absolute form\n", rq->method, n);
	else
		fprintf(out, "    then: tunnel to %s%.*s%s:%u through hop %zu%s\n", v6 ? "[" : "",
			(int)rq->host_len, rq->host, v6 ? "]" : "", rq->port, n,
			rq->https ? "" : " (plain http inside)");
}

/* Writes a match's criteria ("hosts .corp.example; ports 25"). */
static void show_match(const sl_conf_match *m, FILE *out)
{
	bool any = false;

	fputs("match:  ", out);
	if (m->hosts.n || m->cidrs.n) {
		fputs("destination", out);
		for (size_t i = 0; i < m->hosts.n; i++)
			fprintf(out, " %s", m->hosts.v[i]);
		for (size_t i = 0; i < m->cidrs.n; i++) {
			char a[SL_ADDR_STRLEN];
			sl_addr_format(&m->cidrs.v[i].net, a, sizeof a);
			fprintf(out, " %s/%u", a, m->cidrs.v[i].prefix);
		}
		any = true;
	}
	if (m->ports.n) {
		fprintf(out, "%sports", any ? "; " : "");
		for (size_t i = 0; i < m->ports.n; i++)
			fprintf(out, " %u", m->ports.v[i]);
		any = true;
	}
	if (m->schemes) {
		fprintf(out, "%sschemes%s%s", any ? "; " : "",
			m->schemes & SL_CONF_SCHEME_HTTP ? " http" : "",
			m->schemes & SL_CONF_SCHEME_HTTPS ? " https" : "");
		any = true;
	}
	if (m->methods.n) {
		fprintf(out, "%smethods", any ? "; " : "");
		for (size_t i = 0; i < m->methods.n; i++)
			fprintf(out, " %s", m->methods.v[i]);
		any = true;
	}
	fprintf(out, "%s\n", any ? "" : "everything");
}

int sl_route_show(const sl_config *cfg, const char *url, const char *method, FILE *out,
		  char *err, size_t errlen)
{
	bool connect = method && strcmp(method, "CONNECT") == 0;
	sl_route_plan plan;
	sl_route_req rq;
	sl_url u;
	int rc;

	if (!method)
		method = "GET";
	rc = sl_url_parse(url, strlen(url), &u);
	if (rc == 0 && !sl_slice_case_eq_cstr(u.scheme, "http") &&
	    !sl_slice_case_eq_cstr(u.scheme, "https"))
		rc = SL_E_UNSUPPORTED;
	if (rc < 0 && connect)
		rc = sl_url_parse_authority(url, strlen(url), &u);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", url,
			 rc == SL_E_UNSUPPORTED ? "only http:// and https:// URLs are forwarded"
						: sl_strerror(rc));
		return rc;
	}
	rq.host = u.host.p;
	rq.host_len = u.host.n;
	rq.port = u.port;
	rq.https = connect || sl_slice_case_eq_cstr(u.scheme, "https");
	rq.method = method;
	sl_route_plan_make(cfg, &rq, NULL, 0, &plan);

	fprintf(out, "request: %s %s%.*s%s:%u (scheme %s)\n", method,
		memchr(u.host.p, ':', u.host.n) ? "[" : "", (int)u.host.n, u.host.p,
		memchr(u.host.p, ':', u.host.n) ? "]" : "", u.port,
		connect ? "https: a CONNECT tunnel" : rq.https ? "https" : "http");
	if (plan.rule) {
		fprintf(out, "rule:   %s (routes[%d])\n", plan.rule_name, plan.rule_index);
		show_match(&plan.rule->match, out);
	} else if (!plan.deny) {
		fprintf(out, "rule:   env (no rule matches: upstream_from_env)\n");
	} else {
		fprintf(out, "rule:   none (no rule matches)\n");
	}
	if (plan.deny) {
		fprintf(out, "action: deny (403 Forbidden)\n");
		return 0;
	}
	if (plan.n == 1)
		fprintf(out, "action: %s\n", sl_plan_via_hops(&plan.via[0]) ? "via 1 route" : "direct");
	else
		fprintf(out, "action: %s between %zu routes%s\n",
			plan.rule && plan.rule->strategy == SL_CONF_STRATEGY_ROUND_ROBIN
				? "round-robin"
				: "failover",
			plan.n,
			plan.rule && plan.rule->strategy == SL_CONF_STRATEGY_ROUND_ROBIN
				? " (each request starts at the next one; a failing one moves the "
				  "request on)"
				: " (tried in this order; a route marked down goes last)");
	for (size_t i = 0; i < plan.n; i++)
		show_via(&plan.via[i], i, &rq, !rq.https, out);
	return 0;
}
