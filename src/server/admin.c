/*
 * The admin pages and the answer to origin-form requests (see admin.h).
 * Pure functions: routing looks only at the config, the peer and the
 * target; answers are formatted into the caller's buffer.
 */
#include "server/admin.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

bool sl_admin_allowed(const sl_config *cfg, const sl_addr *peer)
{
	if (!cfg->admin.enabled)
		return false;
	if (!peer)
		return true;
	for (size_t i = 0; i < cfg->admin.allow.n; i++)
		if (sl_cidr_match(&cfg->admin.allow.v[i], peer))
			return true;
	return false;
}

sl_admin_page sl_admin_route(const sl_config *cfg, const sl_addr *peer, sl_slice method,
			     sl_slice target)
{
	const char *prefix = cfg->admin.path_prefix;
	size_t plen = strlen(prefix);
	sl_slice path = target, rest;
	const char *q;

	if (target.n == 0)
		return SL_ADMIN_NOT_PROXY;
	q = memchr(target.p, '?', target.n);
	if (q)
		path.n = (size_t)(q - target.p);
	if (path.n < plen || memcmp(path.p, prefix, plen) != 0)
		return SL_ADMIN_NOT_PROXY;
	rest = sl_slice_make(path.p + plen, path.n - plen);
	if (rest.n && rest.p[0] != '/')
		return SL_ADMIN_NOT_PROXY;   /* "/__sluicex" is not under the prefix */
	if (!sl_admin_allowed(cfg, peer))
		return SL_ADMIN_FORBIDDEN;
	if (!sl_slice_eq_cstr(method, "GET") && !sl_slice_eq_cstr(method, "HEAD"))
		return SL_ADMIN_UNKNOWN;
	if (sl_slice_eq_cstr(rest, "/health"))
		return SL_ADMIN_HEALTH;
	if (sl_slice_eq_cstr(rest, "/stats"))
		return SL_ADMIN_STATS;
	if (sl_slice_eq_cstr(rest, "/upstreams"))
		return SL_ADMIN_UPSTREAMS;
	if (sl_slice_eq_cstr(rest, "/cache"))
		return SL_ADMIN_CACHE;
	return SL_ADMIN_UNKNOWN;
}

/* A Host value safe to echo in text: printable ASCII without spaces. */
static bool plain(sl_slice s)
{
	if (s.n == 0 || s.n > 255)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] <= ' ' || s.p[i] > '~')
			return false;
	return true;
}

int sl_admin_answer_page(sl_admin_page page, sl_slice host, int worker_id,
			 const sl_worker_stats *stats, const sl_manager_stats *mstats, char *body,
			 size_t cap, sl_admin_answer *out)
{
	int n;

	out->content_type = "text/plain; charset=utf-8";
	switch (page) {
	case SL_ADMIN_HEALTH:
		out->status = 200;
		n = snprintf(body, cap, "ok\n");
		break;
	case SL_ADMIN_STATS: {
		static const sl_worker_stats none_w;
		static const sl_manager_stats none_m;
		const sl_worker_stats *w = stats ? stats : &none_w;
		const sl_manager_stats *m = mstats ? mstats : &none_m;

		out->status = 200;
		out->content_type = "application/json";
		n = snprintf(body, cap,
			     "{\"worker\": %d, \"accepted\": %llu, \"requests\": %llu, "
			     "\"tunnels\": %llu, \"errors\": %llu, \"active_sessions\": %u, "
			     "\"upstream\": {\"connects\": %llu, \"connect_failures\": %llu, "
			     "\"reused\": %llu, \"retries\": %llu, \"requests\": %llu, "
			     "\"idle\": %u, \"active\": %u}, "
			     "\"config\": {\"generation\": %llu, \"loaded\": %.3f}}\n",
			     worker_id, (unsigned long long)w->accepted,
			     (unsigned long long)w->requests, (unsigned long long)w->tunnels,
			     (unsigned long long)w->errors, w->active_sessions,
			     (unsigned long long)m->connects, (unsigned long long)m->connect_failures,
			     (unsigned long long)m->reused, (unsigned long long)m->retries,
			     (unsigned long long)m->requests, m->idle, m->active,
			     (unsigned long long)w->config_generation, w->config_loaded);
		break;
	}
	case SL_ADMIN_CACHE:
		/* The session answers with the cache's figures; this is the
		 * page of a proxy without a cache. */
		out->status = 200;
		out->content_type = "application/json";
		n = snprintf(body, cap, "{\"enabled\": false}\n");
		break;
	case SL_ADMIN_UNKNOWN:
		out->status = 404;
		n = snprintf(body, cap, "no such admin page: try /health, /stats, /cache or "
			     "/upstreams\n");
		break;
	case SL_ADMIN_FORBIDDEN:
		out->status = 403;
		n = snprintf(body, cap,
			     "admin pages are not open to this client (admin.enabled, admin.allow)\n");
		break;
	case SL_ADMIN_NOT_PROXY:
	default: {
		const char *h = "HOST:PORT";
		int hn = 9;

		if (plain(host)) {
			h = host.p;
			hn = (int)host.n;
		}
		out->status = 400;
		n = snprintf(body, cap,
			     "This is sluice, a forward HTTP proxy, not a web server: ask it for "
			     "absolute URLs.\n"
			     "  HTTP:  curl -x http://%.*s http://example.com/\n"
			     "  HTTPS: curl -p -x http://%.*s https://example.com/\n",
			     hn, h, hn, h);
		break;
	}
	}
	if (n < 0 || (size_t)n >= cap)
		return SL_E_INVAL;
	out->len = (size_t)n;
	return 0;
}
