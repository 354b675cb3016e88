/*
 * The routing part of the configuration: upstream proxies (objects, or the
 * URL shorthand "socks5://user:pw@host:1080" turned into the same object),
 * chains of upstreams, and the route rules that pick direct, deny, an
 * upstream or a chain for each request. Names are checked here, once, at
 * load: every name a chain or a route uses must exist, and the loaded
 * structs point straight at their targets, so nothing is looked up by name
 * on the request path. Secrets named by password_env and password_file are
 * read here too. Upstreams load before chains and chains before routes (the
 * top-level table's order), which is what makes the references resolvable.
 */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/config_internal.h"
#include "core/url.h"

#define FLD SL__CONFIG_FIELD
#define END {.key = NULL}
#define MAX_SECRET_FILE (64u << 10)

static const sl__config_table upstream_table, route_table;

/* ---- Match criteria ----------------------------------------------------- */

static json_t *dump_strs(const void *src, const sl__config_field *f)
{
	const sl_conf_strs *l = src;
	json_t *a = json_array();
	(void)f;
	for (size_t i = 0; i < l->n; i++)
		a = sl__config_append(a, json_string(l->v[i]));
	return a;
}

/* A route's host pattern: a name, an address, a glob or ".suffix";
 * stored in lower case. */
static int elem_host(sl__config_ctx *c, json_t *v, void *elem, size_t i)
{
	(void)i;
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	size_t n = json_is_string(v) ? json_string_length(v) : 0;
	bool ok = n > 0 && n <= 253 && !(s[0] == '.' && (n == 1 || strpbrk(s, "*?")));
	for (size_t k = 0; ok && k < n; k++)
		ok = (s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
		     (s[k] >= '0' && s[k] <= '9') || strchr("-_.*?:", s[k]);
	if (!ok)
		return sl__config_fail(
			c, sl__config_code(json_is_string(v)),
			"expected a host name, a glob like \"*.example.com\" or a suffix like "
			"\".example.com\", got %s",
			GOT(v));
	char *d = sl__config_dupn(c, s, n);
	if (!d)
		return sl__config_oom(c);
	for (size_t k = 0; k < n; k++)
		if (d[k] >= 'A' && d[k] <= 'Z')
			d[k] = (char)(d[k] - 'A' + 'a');
	*(const char **)elem = d;
	return 0;
}

static int set_hosts(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	sl_conf_strs *l = dst;
	void *arr;
	int rc = sl__config_array(c, v, f, "host patterns", sizeof *l->v, &arr, &l->n, elem_host);
	l->v = rc ? NULL : arr;
	return rc;
}

/* A method token (RFC 9110 section 5.6.2), kept as written: methods are
 * case-sensitive. */
static int elem_method(sl__config_ctx *c, json_t *v, void *elem, size_t i)
{
	(void)i;
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	size_t n = json_is_string(v) ? json_string_length(v) : 0;
	bool ok = n > 0 && n <= 32;
	for (size_t k = 0; ok && k < n; k++)
		ok = (s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
		     (s[k] >= '0' && s[k] <= '9') || strchr("!#$%&'*+-.^_`|~", s[k]);
	if (!ok)
		return sl__config_fail(c, sl__config_code(json_is_string(v)),
				       "expected a method like \"GET\", got %s", GOT(v));
	if (!(*(const char **)elem = sl__config_dupn(c, s, n)))
		return sl__config_oom(c);
	return 0;
}

static int set_methods(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	sl_conf_strs *l = dst;
	void *arr;
	int rc = sl__config_array(c, v, f, "methods", sizeof *l->v, &arr, &l->n, elem_method);
	l->v = rc ? NULL : arr;
	return rc;
}

static int elem_scheme(sl__config_ctx *c, json_t *v, void *elem, size_t i)
{
	(void)i;
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	unsigned bit = strcmp(s, "http") == 0    ? SL_CONF_SCHEME_HTTP
		       : strcmp(s, "https") == 0 ? SL_CONF_SCHEME_HTTPS
						 : 0;
	if (!bit)
		return sl__config_fail(c, sl__config_code(json_is_string(v)),
				       "expected \"http\" or \"https\", got %s", GOT(v));
	*(unsigned *)elem = bit;
	return 0;
}

static int set_schemes(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	void *arr;
	size_t n;
	int rc = sl__config_array(c, v, f, "schemes", sizeof(unsigned), &arr, &n, elem_scheme);
	if (rc)
		return rc;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++)
		bits |= ((unsigned *)arr)[i];
	*(unsigned *)dst = bits;
	return 0;
}

static json_t *dump_schemes(const void *src, const sl__config_field *f)
{
	unsigned bits = *(const unsigned *)src;
	json_t *a = json_array();
	(void)f;
	if (bits & SL_CONF_SCHEME_HTTP)
		a = sl__config_append(a, json_string("http"));
	if (bits & SL_CONF_SCHEME_HTTPS)
		a = sl__config_append(a, json_string("https"));
	return a;
}

static const sl__config_kind k_hosts = {set_hosts, dump_strs};
static const sl__config_kind k_methods = {set_methods, dump_strs};
static const sl__config_kind k_schemes = {set_schemes, dump_schemes};

/* ---- Names and hosts ------------------------------------------------------ */

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

#define NAME_RULE "1 to 64 letters, digits, \"_\", \".\" or \"-\""

static int check_route_name(sl__config_ctx *c, const char *s, size_t n, json_t *v)
{
	if (name_ok(s, n))
		return 0;
	return sl__config_fail(c, SL_E_CONF_VALUE, "expected a name of " NAME_RULE ", got %s",
			       GOT(v));
}

static json_t *dump_host(const void *src, const sl__config_field *f)
{
	(void)f;
	return json_string(*(const char *const *)src);
}

/* A host as upstreams take it: a name, an IPv4 address, or an IPv6
 * address with or without brackets. Stored without brackets. */
static int set_host(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	(void)f;
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	size_t n = json_is_string(v) ? json_string_length(v) : 0;
	bool ok;
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (memchr(s, ':', n)) {
		sl_addr a;
		ok = sl_addr_parse(s, n, &a) == 0 && a.family != AF_INET;
	} else {
		sl_hostport hp;
		ok = n > 0 && sl_hostport_parse(s, n, 1, &hp) == 0 && hp.host_len == n;
	}
	if (!ok)
		return sl__config_fail(c, sl__config_code(json_is_string(v)),
				       "expected a host name or an IP address, got %s", GOT(v));
	if (!(*(const char **)dst = sl__config_dupn(c, s, n)))
		return sl__config_oom(c);
	return 0;
}

static const sl__config_kind k_host = {set_host, dump_host};

/* ---- Upstreams ---------------------------------------------------------- */

/* Exactly one password source; the secret is read now. */
static int post_auth(sl__config_ctx *c, json_t *obj, void *base)
{
	static const char *const keys[] = {"password", "password_file", "password_env"};
	sl_conf_auth *a = base;
	int count = 0, which = 0;
	for (int i = 0; i < 3; i++)
		if (json_object_get(obj, keys[i])) {
			count++;
			which = i;
		}
	if (count != 1)
		return sl__config_fail(c, count ? SL_E_CONF_VALUE : SL_E_CONF_MISSING,
				       "needs exactly one of \"password\", \"password_file\" and "
				       "\"password_env\"");
	if (which == 0) {
		a->source = SL_CONF_SECRET_INLINE;
		a->source_name = NULL;
		return 0;
	}
	if (which == 2) {
		a->source = SL_CONF_SECRET_ENV;
		const char *val = getenv(a->source_name);
		if (!val)
			return sl__config_fail_in(c, keys[2], SL_E_CONF_VALUE,
						  "environment variable \"%s\" is not set",
						  a->source_name);
		if (!(a->password = sl__config_dupn(c, val, strlen(val))))
			return sl__config_oom(c);
		return 0;
	}
	a->source = SL_CONF_SECRET_FILE;
	char *text;
	size_t n;
	int rc = sl__config_slurp(a->source_name, MAX_SECRET_FILE, &text, &n);
	if (rc == SL_E_NOMEM)
		return sl__config_oom(c);
	if (rc)
		return sl__config_fail_in(c, keys[1], SL_E_CONF_IO, "cannot read \"%s\": %s",
					  a->source_name,
					  rc == SL_E_LIMIT ? "larger than 64KiB" : sl_strerror(rc));
	/* One trailing line ending is the file's, not the password's. */
	if (n && text[n - 1] == '\n')
		n--;
	if (n && text[n - 1] == '\r')
		n--;
	if (memchr(text, '\0', n)) {
		free(text);
		return sl__config_fail_in(c, keys[1], SL_E_CONF_VALUE, "\"%s\" holds a NUL byte",
					  a->source_name);
	}
	a->password = sl__config_dupn(c, text, n);
	free(text);
	return a->password ? 0 : sl__config_oom(c);
}

/* A dump shows the password source in use, never the secret itself. */
static bool auth_shown(const void *base, const sl__config_field *f)
{
	const sl_conf_auth *a = base;
	if (strcmp(f->key, "password") == 0)
		return a->source == SL_CONF_SECRET_INLINE;
	if (strcmp(f->key, "password_file") == 0)
		return a->source == SL_CONF_SECRET_FILE;
	if (strcmp(f->key, "password_env") == 0)
		return a->source == SL_CONF_SECRET_ENV;
	return true;
}

static const uint16_t default_ports[] = {3128, 443, 1080, 1080};

/* The rules that depend on the type: which keys apply, the default port and
 * name resolution, and the limits on credentials. */
static int post_upstream(sl__config_ctx *c, json_t *obj, void *base)
{
	sl_conf_upstream *u = base;
	bool http = u->type == SL_CONF_UP_HTTP || u->type == SL_CONF_UP_HTTPS;
	if (json_object_get(obj, "dns")) {
		if (http)
			return sl__config_fail_in(c, "dns", SL_E_CONF_VALUE,
						  "only socks5 upstreams take \"dns\": an HTTP "
						  "proxy resolves names itself");
		if (u->type == SL_CONF_UP_SOCKS5H && u->dns == SL_CONF_DNS_LOCAL)
			return sl__config_fail_in(c, "dns", SL_E_CONF_VALUE,
						  "socks5h always resolves names remotely; use "
						  "type \"socks5\" to resolve them here");
	} else {
		u->dns = u->type == SL_CONF_UP_SOCKS5 ? SL_CONF_DNS_LOCAL : SL_CONF_DNS_REMOTE;
	}
	if (json_object_get(obj, "mode") && !http)
		return sl__config_fail_in(c, "mode", SL_E_CONF_VALUE,
					  "only http and https upstreams take \"mode\"");
	if (json_object_get(obj, "tls") && u->type != SL_CONF_UP_HTTPS)
		return sl__config_fail_in(c, "tls", SL_E_CONF_VALUE,
					  "only https upstreams take \"tls\"");
	if (!json_object_get(obj, "port"))
		u->port = default_ports[u->type];
	u->has_auth = json_object_get(obj, "auth") != NULL;
	if (!u->has_auth)
		return 0;
	int rc = 0;
	sl__config_push_key(c, "auth");
	if (!http && (strlen(u->auth.user) > 255 || strlen(u->auth.password) > 255))
		rc = sl__config_fail(c, SL_E_CONF_VALUE,
				     "a SOCKS5 user name and password are at most 255 bytes each");
	else if (http && strchr(u->auth.user, ':'))
		rc = sl__config_fail_in(c, "user", SL_E_CONF_VALUE,
					"a user name for an HTTP proxy cannot contain \":\"");
	sl__config_pop(c);
	return rc;
}

static bool upstream_shown(const void *base, const sl__config_field *f)
{
	const sl_conf_upstream *u = base;
	bool http = u->type == SL_CONF_UP_HTTP || u->type == SL_CONF_UP_HTTPS;
	if (strcmp(f->key, "dns") == 0)
		return !http;
	if (strcmp(f->key, "mode") == 0)
		return http;
	if (strcmp(f->key, "tls") == 0)
		return u->type == SL_CONF_UP_HTTPS;
	if (strcmp(f->key, "auth") == 0)
		return u->has_auth;
	return true;
}

static const char *const upstream_types[] = {"http", "https", "socks5", "socks5h", NULL};

/* Percent-decodes n bytes of s into a new jansson string, or NULL when
 * malformed, holding a NUL, or not UTF-8. */
static json_t *pct_decode(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	int k = d ? sl_url_pct_decode(s, n, d) : -1;
	json_t *j = k >= 0 && !memchr(d, '\0', (size_t)k) ? json_stringn(d, (size_t)k) : NULL;

	free(d);
	return j;
}

/* A proxy URL as errors may show it: its user information replaced by
 * "***", so a password never reaches a message. */
static const char *safe_url(const char *s, char *buf, size_t cap)
{
	const char *sep = strstr(s, "://"), *auth = sep ? sep + 3 : s;
	const char *end = auth + strcspn(auth, "/?#"), *at = NULL;

	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at)
		snprintf(buf, cap, "\"%.*s***@%s\"", (int)(auth - s), s, at + 1);
	else
		snprintf(buf, cap, "\"%s\"", s);
	return buf;
}

/*
 * The URL shorthand "scheme://[user[:password]@]host[:port][/]": becomes
 * the equivalent object, loaded with the upstream table, so both forms get
 * the same defaults and checks. Errors point at the string (which is s,
 * NUL-terminated) and never show its password.
 */
static int upstream_url_text(sl__config_ctx *c, const char *s, sl_conf_upstream *u)
{
	const char *sep = strstr(s, "://");
	const char *rest, *end, *at = NULL;
	json_t *obj = json_object(), *auth;
	int type = -1, rc;
	char shown[160];
	if (!obj)
		return sl__config_oom(c);
	for (int i = 0; sep && upstream_types[i]; i++)
		if ((size_t)(sep - s) == strlen(upstream_types[i]) &&
		    strncasecmp(s, upstream_types[i], (size_t)(sep - s)) == 0)
			type = i;
	if (type < 0)
		goto bad;
	rest = sep + 3;
	end = rest + strlen(rest);
	if (end > rest && end[-1] == '/')
		end--;
	for (const char *p = rest; p < end; p++) {
		if (*p == '/' || *p == '?' || *p == '#')
			goto bad;
		if (*p == '@')
			at = p;
	}
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		json_t *user = pct_decode(rest, (size_t)((colon ? colon : at) - rest));
		json_t *pass =
			colon ? pct_decode(colon + 1, (size_t)(at - colon - 1)) : json_string("");
		if (!user || !pass || json_string_length(user) == 0) {
			json_decref(user);
			json_decref(pass);
			goto bad;
		}
		/* The _new setters take the reference even when they fail. */
		auth = json_object();
		if (json_object_set_new(auth, "user", user) ||
		    json_object_set_new(auth, "password", pass) ||
		    json_object_set_new(obj, "auth", auth)) {
			json_decref(obj);
			return sl__config_oom(c);
		}
		rest = at + 1;
	}
	sl_hostport hp;
	if (sl_hostport_parse(rest, (size_t)(end - rest), default_ports[type], &hp) != 0)
		goto bad;
	if (json_object_set_new(obj, "type", json_string(upstream_types[type])) ||
	    json_object_set_new(obj, "host", json_stringn(hp.host, hp.host_len)) ||
	    json_object_set_new(obj, "port", json_integer(hp.port))) {
		json_decref(obj);
		return sl__config_oom(c);
	}
	c->pin = c->depth;
	rc = sl__config_load_object(c, obj, &upstream_table, u);
	c->pin = 0;
	json_decref(obj);
	return rc;
bad:
	json_decref(obj);
	return sl__config_fail(
		c, SL_E_CONF_VALUE,
		"expected a URL like \"http://proxy.example:3128\" or an object, got %s",
		safe_url(s, shown, sizeof shown));
}

static int upstream_url(sl__config_ctx *c, json_t *v, sl_conf_upstream *u)
{
	return upstream_url_text(c, json_string_value(v), u);
}

/* An upstream or chain name, checked at its key. */
static int check_name(sl__config_ctx *c, const char *name, const char *what)
{
	if (!name_ok(name, strlen(name)))
		return sl__config_fail_key(c, SL_E_CONF_VALUE, "invalid %s name: use " NAME_RULE,
					   what);
	if (strcmp(name, "direct") == 0 || strcmp(name, "deny") == 0)
		return sl__config_fail_key(c, SL_E_CONF_VALUE,
					   "\"%s\" is reserved and cannot name %s %s", name,
					   what[0] == 'u' ? "an" : "a", what);
	return 0;
}

static int set_upstreams(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	sl_conf_upstreams *l = dst;
	const char *key;
	json_t *val;
	(void)f;
	if (!json_is_object(v))
		return sl__config_fail(c, SL_E_CONF_TYPE,
				       "expected an object of upstreams by name, got %s", GOT(v));
	size_t n = sl__config_named_entries(v);
	l->n = 0;
	l->v = n ? sl__config_alloc_array(c, n, sizeof *l->v) : NULL;
	if (n && !l->v)
		return sl__config_oom(c);
	json_object_foreach (v, key, val) {
		int rc;
		sl__config_push_key(c, key);
		if (sl__config_is_comment_key(key)) {
			rc = sl__config_comment(c, val);
		} else if (!(rc = check_name(c, key, "upstream"))) {
			sl_conf_upstream *u = &l->v[l->n];
			if (!(u->name = sl__config_dupn(c, key, strlen(key))))
				rc = sl__config_oom(c);
			else if (json_is_string(val))
				rc = upstream_url(c, val, u);
			else if (json_is_object(val))
				rc = sl__config_load_object(c, val, &upstream_table, u);
			else
				rc = sl__config_fail(c, SL_E_CONF_TYPE,
						     "expected a URL string or an object, got %s",
						     GOT(val));
			if (rc == 0)
				l->n++;
		}
		sl__config_pop(c);
		if (rc)
			return rc;
	}
	return 0;
}

static json_t *dump_upstreams(const void *src, const sl__config_field *f)
{
	const sl_conf_upstreams *l = src;
	json_t *o = json_object();
	(void)f;
	for (size_t i = 0; o && i < l->n; i++)
		if (json_object_set_new(o, l->v[i].name,
					sl__config_dump_object(&upstream_table, &l->v[i]))) {
			json_decref(o);
			o = NULL;
		}
	return o;
}

/* ---- Chains ----------------------------------------------------------- */

/* Finds an upstream by name, linearly: configs hold a handful. */
const sl_conf_upstream *sl_config_upstream(const sl_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->upstreams.n; i++)
		if (strcmp(cfg->upstreams.v[i].name, name) == 0)
			return &cfg->upstreams.v[i];
	return NULL;
}

/* Finds a chain by name. */
const sl_conf_chain *sl_config_chain(const sl_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->chains.n; i++)
		if (strcmp(cfg->chains.v[i].name, name) == 0)
			return &cfg->chains.v[i];
	return NULL;
}

/* One chain: a non-empty array of upstream names. chains is the whole
 * "chains" object, to tell a chain name from an unknown one. */
static int chain_hops(sl__config_ctx *c, json_t *v, sl_conf_chain *ch, json_t *chains)
{
	if (!json_is_array(v))
		return sl__config_fail(c, SL_E_CONF_TYPE,
				       "expected an array of upstream names, got %s", GOT(v));
	size_t n = json_array_size(v);
	if (n == 0)
		return sl__config_fail(c, SL_E_CONF_VALUE, "must list at least one upstream");
	if (n > SL_CONF_MAX_HOPS)
		return sl__config_fail(c, SL_E_CONF_VALUE, "at most %d hops, got %zu",
				       SL_CONF_MAX_HOPS, n);
	ch->hops.v = sl__config_alloc_array(c, n, sizeof *ch->hops.v);
	if (!ch->hops.v)
		return sl__config_oom(c);
	ch->hops.n = n;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		const char *name = json_is_string(e) ? json_string_value(e) : NULL;
		const sl_conf_upstream *u = name ? sl_config_upstream(c->cfg, name) : NULL;
		int rc = 0;
		sl__config_push_idx(c, i);
		if (!name)
			rc = sl__config_fail(c, SL_E_CONF_TYPE, "expected an upstream name, got %s",
					     GOT(e));
		else if (!u && json_object_get(chains, name) && !sl__config_is_comment_key(name))
			rc = sl__config_fail(c, SL_E_CONF_REF,
					     "\"%s\" is a chain, and a chain lists upstreams only",
					     name);
		else if (!u)
			rc = sl__config_fail(c, SL_E_CONF_REF, "unknown upstream \"%s\"", name);
		else if (i + 1 < n && u->mode == SL_CONF_MODE_FORWARD &&
			 (u->type == SL_CONF_UP_HTTP || u->type == SL_CONF_UP_HTTPS))
			rc = sl__config_fail(c, SL_E_CONF_VALUE,
					     "upstream \"%s\" has mode \"forward\", so it can only "
					     "be the last hop",
					     name);
		sl__config_pop(c);
		if (rc)
			return rc;
		ch->hops.v[i] = u;
	}
	return 0;
}

static int set_chains(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	sl_conf_chains *l = dst;
	const char *key;
	json_t *val;
	(void)f;
	if (!json_is_object(v))
		return sl__config_fail(c, SL_E_CONF_TYPE,
				       "expected an object of chains by name, got %s", GOT(v));
	size_t n = sl__config_named_entries(v);
	l->n = 0;
	l->v = n ? sl__config_alloc_array(c, n, sizeof *l->v) : NULL;
	if (n && !l->v)
		return sl__config_oom(c);
	json_object_foreach (v, key, val) {
		int rc;
		sl__config_push_key(c, key);
		if (sl__config_is_comment_key(key)) {
			rc = sl__config_comment(c, val);
		} else if (!(rc = check_name(c, key, "chain"))) {
			sl_conf_chain *ch = &l->v[l->n];
			if (sl_config_upstream(c->cfg, key))
				rc = sl__config_fail_key(
					c, SL_E_CONF_VALUE,
					"\"%s\" is already the name of an upstream", key);
			else if (!(ch->name = sl__config_dupn(c, key, strlen(key))))
				rc = sl__config_oom(c);
			else
				rc = chain_hops(c, val, ch, v);
			if (rc == 0)
				l->n++;
		}
		sl__config_pop(c);
		if (rc)
			return rc;
	}
	return 0;
}

static json_t *dump_chains(const void *src, const sl__config_field *f)
{
	const sl_conf_chains *l = src;
	json_t *o = json_object();
	(void)f;
	for (size_t i = 0; o && i < l->n; i++) {
		json_t *a = json_array();
		for (size_t k = 0; k < l->v[i].hops.n; k++)
			a = sl__config_append(a, json_string(l->v[i].hops.v[k]->name));
		if (json_object_set_new(o, l->v[i].name, a)) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

/* ---- Routes ----------------------------------------------------------- */

static int elem_via(sl__config_ctx *c, json_t *v, void *elem, size_t i)
{
	sl_conf_via *via = elem;
	(void)i;
	if (!json_is_string(v))
		return sl__config_fail(
			c, SL_E_CONF_TYPE,
			"expected an upstream or chain name, \"direct\" or \"deny\", got %s",
			GOT(v));
	const char *name = json_string_value(v);
	if (strcmp(name, "direct") == 0) {
		via->kind = SL_CONF_VIA_DIRECT;
		via->name = "direct";
	} else if (strcmp(name, "deny") == 0) {
		via->kind = SL_CONF_VIA_DENY;
		via->name = "deny";
	} else if ((via->upstream = sl_config_upstream(c->cfg, name))) {
		via->kind = SL_CONF_VIA_UPSTREAM;
		via->name = via->upstream->name;
	} else if ((via->chain = sl_config_chain(c->cfg, name))) {
		via->kind = SL_CONF_VIA_CHAIN;
		via->name = via->chain->name;
	} else {
		return sl__config_fail(c, SL_E_CONF_REF, "unknown upstream or chain \"%s\"", name);
	}
	return 0;
}

static int set_via(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	sl_conf_vias *l = dst;
	void *arr;
	if (json_is_string(v)) {
		if (!(l->v = sl__config_alloc_array(c, 1, sizeof *l->v)))
			return sl__config_oom(c);
		l->n = 1;
		return elem_via(c, v, l->v, 0);
	}
	if (!json_is_array(v))
		return sl__config_fail(c, SL_E_CONF_TYPE,
				       "expected a name or an array of names, got %s", GOT(v));
	if (json_array_size(v) > SL_CONF_MAX_VIA)
		return sl__config_fail(c, SL_E_CONF_VALUE, "at most %d entries, got %zu",
				       SL_CONF_MAX_VIA, json_array_size(v));
	int rc = sl__config_array(c, v, f, "names", sizeof *l->v, &arr, &l->n, elem_via);
	l->v = rc ? NULL : arr;
	return rc;
}

static json_t *dump_via(const void *src, const sl__config_field *f)
{
	const sl_conf_vias *l = src;
	(void)f;
	if (l->n == 1)
		return json_string(l->v[0].name);
	json_t *a = json_array();
	for (size_t i = 0; i < l->n; i++)
		a = sl__config_append(a, json_string(l->v[i].name));
	return a;
}

static int elem_route(sl__config_ctx *c, json_t *v, void *elem, size_t i)
{
	sl_conf_route *r = elem, *all = r - i;
	int rc = sl__config_load_object(c, v, &route_table, r);
	if (rc)
		return rc;
	if (!r->name) {
		char b[32];
		snprintf(b, sizeof b, "route-%zu", i);
		if (!(r->name = sl__config_dupn(c, b, strlen(b))))
			return sl__config_oom(c);
	}
	for (size_t j = 0; j < i; j++)
		if (strcmp(all[j].name, r->name) == 0)
			return sl__config_fail_in(c, "name", SL_E_CONF_VALUE,
						  "\"%s\" is already the name of routes[%zu]",
						  r->name, j);
	return 0;
}

static int set_routes(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	sl_conf_routes *l = dst;
	void *arr;
	int rc = sl__config_array(c, v, f, "rules", sizeof *l->v, &arr, &l->n, elem_route);
	l->v = rc ? NULL : arr;
	return rc;
}

static json_t *dump_routes(const void *src, const sl__config_field *f)
{
	const sl_conf_routes *l = src;
	json_t *a = json_array();
	(void)f;
	for (size_t i = 0; i < l->n; i++)
		a = sl__config_append(a, sl__config_dump_object(&route_table, &l->v[i]));
	return a;
}

static bool match_empty(const sl_conf_match *m)
{
	return !m->hosts.n && !m->cidrs.n && !m->ports.n && !m->schemes && !m->methods.n;
}

static bool match_shown(const void *base, const sl__config_field *f)
{
	const sl_conf_match *m = base;
	const char *k = f->key;
	return strcmp(k, "hosts") == 0     ? m->hosts.n > 0
	       : strcmp(k, "cidrs") == 0   ? m->cidrs.n > 0
	       : strcmp(k, "ports") == 0   ? m->ports.n > 0
	       : strcmp(k, "schemes") == 0 ? m->schemes != 0
					   : m->methods.n > 0;
}

static bool route_shown(const void *base, const sl__config_field *f)
{
	const sl_conf_route *r = base;
	return strcmp(f->key, "match") != 0 || !match_empty(&r->match);
}

const sl__config_kind sl__config_k_upstreams = {set_upstreams, dump_upstreams};
const sl__config_kind sl__config_k_chains = {set_chains, dump_chains};
const sl__config_kind sl__config_k_routes = {set_routes, dump_routes};
static const sl__config_kind k_via = {set_via, dump_via};

/* ---- Tables --------------------------------------------------------------- */

static const sl__config_field auth_fields[] = {
	{FLD(sl_conf_auth, "user", sl__config_k_string, user, NULL), .flags = SL__CONFIG_REQUIRED},
	{FLD(sl_conf_auth, "password", sl__config_k_secret, password, NULL)},
	{FLD(sl_conf_auth, "password_file", sl__config_k_string, source_name, NULL)},
	{FLD(sl_conf_auth, "password_env", sl__config_k_string, source_name, NULL)},
	END,
};
static const sl__config_table auth_table = {auth_fields, post_auth, auth_shown};

static const sl__config_field up_tls_fields[] = {
	{FLD(sl_conf_upstream_tls, "ca_file", sl__config_k_string, ca_file, "\"\"")},
	{FLD(sl_conf_upstream_tls, "verify", sl__config_k_bool, verify, "true")},
	{FLD(sl_conf_upstream_tls, "server_name", sl__config_k_string, server_name, "\"\"")},
	END,
};
static const sl__config_table up_tls_table = {up_tls_fields, NULL, NULL};

static const char *const dns_names[] = {"local", "remote", NULL};
static const char *const mode_names[] = {"connect", "forward", NULL};

static const sl__config_field upstream_fields[] = {
	{FLD(sl_conf_upstream, "type", sl__config_k_enum, type, NULL), .aux = upstream_types,
	 .flags = SL__CONFIG_REQUIRED},
	{FLD(sl_conf_upstream, "host", k_host, host, NULL), .flags = SL__CONFIG_REQUIRED},
	{FLD(sl_conf_upstream, "port", sl__config_k_port, port, NULL)},
	{FLD(sl_conf_upstream, "dns", sl__config_k_enum, dns, NULL), .aux = dns_names},
	{FLD(sl_conf_upstream, "mode", sl__config_k_enum, mode, NULL), .aux = mode_names},
	{FLD(sl_conf_upstream, "auth", sl__config_k_object, auth, NULL), .aux = &auth_table},
	{FLD(sl_conf_upstream, "tls", sl__config_k_object, tls, "{}"), .aux = &up_tls_table},
	END,
};
static const sl__config_table upstream_table = {upstream_fields, post_upstream, upstream_shown};

static const sl__config_field match_fields[] = {
	{FLD(sl_conf_match, "hosts", k_hosts, hosts, NULL), .flags = SL__CONFIG_NONEMPTY},
	{FLD(sl_conf_match, "cidrs", sl__config_k_cidrs, cidrs, NULL),
	 .flags = SL__CONFIG_NONEMPTY},
	{FLD(sl_conf_match, "ports", sl__config_k_ports, ports, NULL),
	 .flags = SL__CONFIG_NONEMPTY},
	{FLD(sl_conf_match, "schemes", k_schemes, schemes, NULL), .flags = SL__CONFIG_NONEMPTY},
	{FLD(sl_conf_match, "methods", k_methods, methods, NULL), .flags = SL__CONFIG_NONEMPTY},
	END,
};
static const sl__config_table match_table = {match_fields, NULL, match_shown};

static const char *const strategy_names[] = {"failover", "round-robin", NULL};

static const sl__config_field route_fields[] = {
	{FLD(sl_conf_route, "name", sl__config_k_string, name, NULL), .check = check_route_name},
	{FLD(sl_conf_route, "match", sl__config_k_object, match, NULL), .aux = &match_table},
	{FLD(sl_conf_route, "via", k_via, via, NULL),
	 .flags = SL__CONFIG_REQUIRED | SL__CONFIG_NONEMPTY},
	{FLD(sl_conf_route, "strategy", sl__config_k_enum, strategy, "\"failover\""),
	 .aux = strategy_names},
	END,
};
static const sl__config_table route_table = {route_fields, NULL, route_shown};

/* ---- Health ------------------------------------------------------------ */

static int post_health(sl__config_ctx *c, json_t *obj, void *base)
{
	const sl_conf_health *h = base;
	char a[32], b[32];

	(void)obj;
	if (h->max_retry_ms >= h->retry_ms)
		return 0;
	sl_format_duration(h->retry_ms, a, sizeof a);
	sl_format_duration(h->max_retry_ms, b, sizeof b);
	return sl__config_fail_in(c, "max_retry", SL_E_CONF_VALUE,
				  "must not be shorter than health.retry (%s), got \"%s\"", a, b);
}

#define DAY_MS 86400000ull

static const sl__config_field health_fields[] = {
	{FLD(sl_conf_health, "down_after", sl__config_k_uint, down_after, "1"), .min = 1,
	 .max = 100},
	{FLD(sl_conf_health, "retry", sl__config_k_duration, retry_ms, "\"5s\""), .min = 1,
	 .max = DAY_MS},
	{FLD(sl_conf_health, "max_retry", sl__config_k_duration, max_retry_ms, "\"5m\""),
	 .min = 1, .max = DAY_MS},
	END,
};
const sl__config_table sl__config_health_table = {health_fields, post_health, NULL};

/* ---- The environment's proxies ---------------------------------------- */

static const char *env_value(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* The first of the variables that is set and not empty; its name in *var. */
static const char *env_first(const char *const *names, const char **var)
{
	for (size_t i = 0; names[i]; i++) {
		const char *v = env_value(names[i]);
		if (v) {
			*var = names[i];
			return v;
		}
	}
	return NULL;
}

/*
 * Turns the proxy URL of variable var into an upstream named "env:VAR"
 * (a name no file can give: ':' is not allowed there). A URL without a
 * scheme is an HTTP proxy, as curl reads it. Errors are reported at
 * upstream_from_env and name the variable, never its password.
 */
static int env_upstream(sl__config_ctx *c, const char *var, const char *value,
			const sl_conf_upstream **out)
{
	sl_conf_upstream *u = sl__config_alloc_array(c, 1, sizeof *u);
	char name[64], *url;
	size_t n = strlen(value);
	int rc;

	if (!u)
		return sl__config_oom(c);
	snprintf(name, sizeof name, "env:%s", var);
	if (!(u->name = sl__config_dupn(c, name, strlen(name))))
		return sl__config_oom(c);
	url = malloc(n + sizeof "http://");
	if (!url)
		return sl__config_oom(c);
	snprintf(url, n + sizeof "http://", "%s%s", strstr(value, "://") ? "" : "http://", value);
	sl__config_push_key(c, "upstream_from_env");
	rc = upstream_url_text(c, url, u);
	sl__config_pop(c);
	free(url);
	if (rc) {
		/* Say where the URL came from. */
		char msg[sizeof c->err->message];
		snprintf(msg, sizeof msg, "environment variable %.32s: %.400s", var,
			 c->err->message);
		snprintf(c->err->message, sizeof c->err->message, "%s", msg);
		snprintf(c->err->text, sizeof c->err->text, "%.300s:%u: upstream_from_env: %.500s",
			 c->name, c->err->line, msg);
		return rc;
	}
	*out = u;
	return 0;
}

int sl__config_routing_post(sl__config_ctx *c, json_t *obj, void *base)
{
	static const char *const http_vars[] = {"http_proxy", "HTTP_PROXY", "all_proxy",
						"ALL_PROXY", NULL};
	static const char *const https_vars[] = {"https_proxy", "HTTPS_PROXY", "all_proxy",
						 "ALL_PROXY", NULL};
	static const char *const no_vars[] = {"no_proxy", "NO_PROXY", NULL};
	sl_config *cfg = base;
	const char *var, *v;
	int rc;

	if (!cfg->upstream_from_env) {
		if (cfg->routes.n == 0)
			return sl__config_fail_in(c, "routes", SL_E_CONF_VALUE,
						  "must not be empty (unless upstream_from_env is "
						  "true)");
		return 0;
	}
	/* Without rules of its own, every request takes the environment's
	 * route: the default rule would send everything direct. */
	if (!json_object_get(obj, "routes")) {
		cfg->routes.v = NULL;
		cfg->routes.n = 0;
	}
	if ((v = env_first(http_vars, &var)) && (rc = env_upstream(c, var, v, &cfg->env.http)))
		return rc;
	if ((v = env_first(https_vars, &var)) && (rc = env_upstream(c, var, v, &cfg->env.https)))
		return rc;
	if ((v = env_first(no_vars, &var)) &&
	    !(cfg->env.no_proxy = sl__config_dupn(c, v, strlen(v))))
		return sl__config_oom(c);
	return 0;
}
