/*
 * Route building (see route.h). Proxy URLs are parsed with the core URL
 * parser; user and password are percent-decoded into the route buffer's
 * string area, which is the only storage: nothing here allocates.
 */
#include "client/route.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/url.h"

void sl_route_buf_init(sl_route_buf *b)
{
	memset(b, 0, sizeof *b);
}

/* Copies n bytes into the string area (percent-decoded when decode is
 * set) and returns the NUL-terminated copy, or NULL when the area is full
 * (or, never for a parsed URL, on a bad '%'). */
static const char *keep(sl_route_buf *b, const char *s, size_t n, bool decode)
{
	char *out = b->strings + b->used;
	int k = (int)n;

	if (b->used + n + 1 > sizeof b->strings)
		return NULL;
	if (decode)
		k = sl_url_pct_decode(s, n, out);
	else if (n)
		memcpy(out, s, n);
	if (k < 0)
		return NULL;
	out[k] = '\0';
	b->used += (size_t)k + 1;
	return out;
}

int sl_route_buf_add_url(sl_route_buf *b, const char *url)
{
	char with_scheme[2048];
	sl_url u;
	sl_hop *h;
	int rc;

	if (b->n == SL_ROUTE_MAX_HOPS)
		return SL_E_LIMIT;
	if (!strstr(url, "://")) {
		/* curl's rule: a proxy without a scheme is an HTTP proxy. */
		if ((size_t)snprintf(with_scheme, sizeof with_scheme, "http://%s", url) >=
		    sizeof with_scheme)
			return SL_E_URL_TOO_LONG;
		url = with_scheme;
	}
	rc = sl_url_parse(url, strlen(url), &u);
	if (rc < 0)
		return rc;
	if (!u.has_authority || u.host.n == 0)
		return SL_E_URL_NO_HOST;
	h = &b->hops[b->n];
	memset(h, 0, sizeof *h);
	if (sl_slice_case_eq_cstr(u.scheme, "http")) {
		h->type = SL_HOP_HTTP;
		h->port = SL_PROXY_PORT_HTTP;
	} else if (sl_slice_case_eq_cstr(u.scheme, "https")) {
		h->type = SL_HOP_HTTPS;
		h->port = SL_PROXY_PORT_HTTPS;
	} else if (sl_slice_case_eq_cstr(u.scheme, "socks5")) {
		h->type = SL_HOP_SOCKS5;
		h->port = SL_PROXY_PORT_SOCKS;
	} else if (sl_slice_case_eq_cstr(u.scheme, "socks5h")) {
		h->type = SL_HOP_SOCKS5H;
		h->port = SL_PROXY_PORT_SOCKS;
	} else {
		return SL_E_UNSUPPORTED;
	}
	if (u.has_port)
		h->port = u.port;
	if (!(h->host = keep(b, u.host.p, u.host.n, false)))
		return SL_E_LIMIT;
	if (u.has_userinfo) {
		const char *colon = memchr(u.userinfo.p, ':', u.userinfo.n);
		size_t ulen = colon ? (size_t)(colon - u.userinfo.p) : u.userinfo.n;
		if (!(h->user = keep(b, u.userinfo.p, ulen, true)))
			return SL_E_LIMIT;
		h->password = colon ? keep(b, colon + 1, u.userinfo.n - ulen - 1, true)
				    : keep(b, "", 0, false);
		if (!h->password)
			return SL_E_LIMIT;
	}
	h->tls_verify = true;
	h->label = h->host;
	b->n++;
	return 0;
}

int sl_route_buf_add_upstream(sl_route_buf *b, const sl_conf_upstream *u)
{
	if (b->n == SL_ROUTE_MAX_HOPS)
		return SL_E_LIMIT;
	sl_hop_from_upstream(&b->hops[b->n++], u);
	return 0;
}

void sl_hop_from_upstream(sl_hop *h, const sl_conf_upstream *u)
{
	memset(h, 0, sizeof *h);
	switch (u->type) {
	case SL_CONF_UP_HTTP:
		h->type = SL_HOP_HTTP;
		break;
	case SL_CONF_UP_HTTPS:
		h->type = SL_HOP_HTTPS;
		break;
	case SL_CONF_UP_SOCKS5:
		h->type = u->dns == SL_CONF_DNS_REMOTE ? SL_HOP_SOCKS5H : SL_HOP_SOCKS5;
		break;
	case SL_CONF_UP_SOCKS5H:
		h->type = SL_HOP_SOCKS5H;
		break;
	}
	h->host = u->host;
	h->port = u->port;
	if (u->has_auth) {
		h->user = u->auth.user;
		h->password = u->auth.password;
	}
	h->tls_verify = u->tls.verify;
	h->tls_server_name = u->tls.server_name && u->tls.server_name[0] ? u->tls.server_name : NULL;
	h->forward = u->mode == SL_CONF_MODE_FORWARD &&
		     (u->type == SL_CONF_UP_HTTP || u->type == SL_CONF_UP_HTTPS);
	h->label = u->name;
}

int sl_route_buf_add_chain(sl_route_buf *b, const sl_conf_chain *c)
{
	if (b->n + c->hops.n > SL_ROUTE_MAX_HOPS)
		return SL_E_LIMIT;
	for (size_t i = 0; i < c->hops.n; i++)
		sl_route_buf_add_upstream(b, c->hops.v[i]);
	return 0;
}

void sl_route_buf_route(const sl_route_buf *b, sl_route *r)
{
	r->hops = b->n ? b->hops : NULL;
	r->n = b->n;
	r->name = NULL;
}

/* Does one NO_PROXY entry (n bytes, trimmed) exclude host? */
static bool entry_match(const char *e, size_t n, const char *host, size_t hn, bool host_ip,
			const sl_addr *addr)
{
	char tmp[128];
	sl_cidr c;

	if (n == 1 && e[0] == '*')
		return true;
	/* Brackets around an IPv6 entry, and a port, are ignored. */
	if (n && e[0] == '[') {
		const char *close = memchr(e, ']', n);
		if (!close)
			return false;
		e++;
		n = (size_t)(close - e);
	}
	if (host_ip) {
		if (n < sizeof tmp && sl_cidr_parse(e, n, &c) == 0)
			return sl_cidr_match(&c, addr);
		return false;
	}
	if (n && e[0] == '.') {
		e++;
		n--;
	}
	if (n == 0 || n > hn)
		return false;
	if (strncasecmp(host + hn - n, e, n) != 0)
		return false;
	return hn == n || host[hn - n - 1] == '.';
}

bool sl_no_proxy_match(const char *no_proxy, const char *host, size_t hn)
{
	sl_addr addr;
	bool host_ip;

	if (!no_proxy || !*no_proxy)
		return false;
	if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
		host++;
		hn -= 2;
	}
	while (hn && host[hn - 1] == '.')
		hn--;
	host_ip = sl_addr_parse(host, hn, &addr) == 0;
	for (const char *p = no_proxy; *p;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		const char *e = p;
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - e);
		/* "host:port": the port is ignored (not for bare IPv6). */
		const char *colon = memchr(e, ':', n);
		if (colon && !memchr(colon + 1, ':', (size_t)(p - colon - 1)) && e[0] != '[')
			n = (size_t)(colon - e);
		if (n && entry_match(e, n, host, hn, host_ip, &addr))
			return true;
	}
	return false;
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

const char *sl_proxy_from_env(const char *scheme, const char *host, size_t n)
{
	const char *no = env_nonempty("no_proxy");
	const char *p = NULL;

	if (!no)
		no = env_nonempty("NO_PROXY");
	if (no && sl_no_proxy_match(no, host, n))
		return NULL;
	if (strcasecmp(scheme, "http") == 0) {
		p = env_nonempty("http_proxy");
	} else if (strcasecmp(scheme, "https") == 0) {
		p = env_nonempty("https_proxy");
		if (!p)
			p = env_nonempty("HTTPS_PROXY");
	}
	if (!p)
		p = env_nonempty("all_proxy");
	if (!p)
		p = env_nonempty("ALL_PROXY");
	return p;
}
