/*
 * The core of the cache policy (see policy.h): whether a response may be
 * stored (RFC 9111 section 3), its metadata (freshness lifetime, section
 * 4.2.1 and 4.2.2; corrected initial age, section 4.2.3), whether a stored
 * response may answer a request (section 4, 4.2.4 and 5.2.1; RFC 5861),
 * the fields kept when storing (section 3.1) and the names of results.
 * Everything is a pure function of its arguments: no allocation, no clock
 * (times are arguments), no I/O. The response's Cache-Control is parsed
 * when a response is stored; what a hit needs later lives in
 * sl_cache_meta.flags so that sl_cache_use() does not parse it again.
 */
#include "cache/policy.h"

#include <string.h>

#include "cache/policy_internal.h"
#include "core/err.h"

/* ------------------------------------------------------------------ */
/* Helpers shared with policy_cond.c and policy_vary.c                 */
/* ------------------------------------------------------------------ */

/* Fields never stored besides the hop-by-hop set (section 3.1). */
static const char *const unstored_names[] = {
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Proxy-Authentication-Info", "TE", "Trailer",
	"Transfer-Encoding", "Upgrade", "Age",
};

bool sl__policy_unstored(const sl_field *f, size_t n, sl_slice name)
{
	for (size_t i = 0; i < sizeof unstored_names / sizeof unstored_names[0]; i++)
		if (sl_slice_case_eq_cstr(name, unstored_names[i]))
			return true;
	/* Connection may not strip routing or framing (see headers.h). */
	if (sl_slice_case_eq_cstr(name, "Host") || sl_slice_case_eq_cstr(name, "Content-Length"))
		return false;
	for (size_t i = sl_headers_find(f, n, "Connection"); i < n;
	     i = sl_headers_find_next(f, n, "Connection", i)) {
		sl_headers_list it;
		sl_slice e;
		sl_headers_list_value(&it, f[i].value);
		while (sl_headers_list_next(&it, &e))
			if (sl_slice_case_eq(e, name))
				return true;
	}
	return false;
}

bool sl__policy_etag(sl_slice v, bool *weak, sl_slice *opaque)
{
	v = sl_slice_trim_ows(v);
	*weak = false;
	if (v.n >= 2 && v.p[0] == 'W' && v.p[1] == '/') {
		*weak = true;
		v.p += 2;
		v.n -= 2;
	}
	if (v.n < 2 || v.p[0] != '"' || v.p[v.n - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < v.n; i++)
		if (v.p[i] == '"')
			return false;
	*opaque = v;
	return true;
}

bool sl__policy_etag_strong_eq(sl_slice a, sl_slice b)
{
	bool wa, wb;
	sl_slice oa, ob;
	return sl__policy_etag(a, &wa, &oa) && sl__policy_etag(b, &wb, &ob) && !wa && !wb &&
	       sl_slice_eq(oa, ob);
}

bool sl__policy_etag_weak_eq(sl_slice a, sl_slice b)
{
	bool wa, wb;
	sl_slice oa, ob;
	return sl__policy_etag(a, &wa, &oa) && sl__policy_etag(b, &wb, &ob) &&
	       sl_slice_eq(oa, ob);
}

bool sl__policy_date(const sl_field *f, size_t n, const char *name, int64_t ref,
		     int64_t *out)
{
	size_t i = sl_headers_find(f, n, name);
	time_t t;
	if (i >= n)
		return false;
	int rc = ref < 0 ? sl_http_date_parse(f[i].value, &t)
			 : sl_http_date_parse_at(f[i].value, (time_t)ref, &t);
	if (rc != 0)
		return false;
	*out = (int64_t)t;
	return true;
}

/* ------------------------------------------------------------------ */
/* The request                                                         */
/* ------------------------------------------------------------------ */

void sl_cache_req_init(sl_cache_req *r, enum sl_http_method m, const sl_field *f, size_t n)
{
	memset(r, 0, sizeof *r);
	r->meth = m;
	r->fields = f;
	r->nfields = n;
	sl_cache_control_parse(f, n, SL_CC_REQUEST, &r->cc);
	for (size_t i = 0; i < n; i++) {
		sl_slice nm = f[i].name;
		if (nm.n == 0)
			continue;
		switch (nm.p[0] | 0x20) {
		case 'a':
			r->authorization |= sl_slice_case_eq_cstr(nm, "Authorization");
			break;
		case 'i':
			if (sl_slice_case_eq_cstr(nm, "If-None-Match") ||
			    sl_slice_case_eq_cstr(nm, "If-Modified-Since"))
				r->conditional = true;
			else if (sl_slice_case_eq_cstr(nm, "If-Match") ||
				 sl_slice_case_eq_cstr(nm, "If-Unmodified-Since"))
				r->if_match = true;
			break;
		case 'r':
			r->range |= sl_slice_case_eq_cstr(nm, "Range");
			break;
		default:
			break;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Status codes                                                        */
/* ------------------------------------------------------------------ */

/*
 * The final status codes this cache understands: those of RFC 9110
 * section 15 plus 428, 429, 431 and 511 (RFC 6585) and 451 (RFC 7725).
 * Their rules hold nothing a cache has to do beyond the generic ones.
 */
static bool status_understood(int s)
{
	switch (s) {
	case 200: case 201: case 202: case 203: case 204: case 205: case 206:
	case 300: case 301: case 302: case 303: case 304: case 305: case 307: case 308:
	case 421: case 422: case 426: case 428: case 429: case 431: case 451:
	case 500: case 501: case 502: case 503: case 504: case 505: case 511:
		return true;
	default:
		return s >= 400 && s <= 417;
	}
}

/* RFC 9110 section 15.1: statuses cacheable by default (heuristically). */
static bool status_heuristic(int s)
{
	switch (s) {
	case 200: case 203: case 204: case 206: case 300: case 301: case 308:
	case 404: case 405: case 410: case 414: case 501:
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------------------ */
/* Freshness and age (sections 4.2.1 to 4.2.3)                         */
/* ------------------------------------------------------------------ */

/* Where a freshness lifetime came from. */
enum fresh_src {
	SRC_NONE,       /* nothing explicit, status not heuristically cacheable */
	SRC_S_MAXAGE,
	SRC_MAX_AGE,
	SRC_EXPIRES,
	SRC_HEURISTIC,
};

/*
 * Section 4.2.1: the freshness lifetime of a response with directives cc,
 * status and fields f, whose Date (or receipt time) is date_value; ref
 * reads two-digit years (-1: the clock). An Expires that is not a date
 * means "already expired". Several Expires fields: the first counts.
 */
static int64_t lifetime_of(const sl_cache_policy_conf *conf, const sl_cache_control *cc,
			   int status, const sl_field *f, size_t n, int64_t date_value,
			   int64_t ref, enum fresh_src *src)
{
	int64_t t;

	if (conf->shared && cc->s_maxage != SL_CC_UNSET) {
		*src = SRC_S_MAXAGE;
		return cc->s_maxage;
	}
	if (cc->max_age != SL_CC_UNSET) {
		*src = SRC_MAX_AGE;
		return cc->max_age;
	}
	if (sl_headers_find(f, n, "Expires") < n) {
		*src = SRC_EXPIRES;
		if (!sl__policy_date(f, n, "Expires", ref, &t))
			return 0;
		return t > date_value ? t - date_value : 0;
	}
	if (!status_heuristic(status)) {
		*src = SRC_NONE;
		return 0;
	}
	/* Section 4.2.2: a tenth of the time since the last modification. */
	*src = SRC_HEURISTIC;
	if (conf->heuristic_max <= 0 || !sl__policy_date(f, n, "Last-Modified", ref, &t) ||
	    t >= date_value)
		return 0;
	int64_t h = (date_value - t) / 10;
	return h < conf->heuristic_max ? h : conf->heuristic_max;
}

/* The first valid Age field (section 5.1), or 0. */
static int64_t age_value_of(const sl_field *f, size_t n)
{
	int64_t v;
	for (size_t i = sl_headers_find(f, n, "Age"); i < n;
	     i = sl_headers_find_next(f, n, "Age", i))
		if (sl_delta_seconds_parse(f[i].value, &v) == 0)
			return v;
	return 0;
}

/* Whether f holds a validator: an entity-tag or a Last-Modified date. */
static bool has_validator(const sl_field *f, size_t n, int64_t ref)
{
	int64_t t;
	size_t i = sl_headers_find(f, n, "ETag");
	if (i < n && f[i].value.n > 0)
		return true;
	return sl__policy_date(f, n, "Last-Modified", ref, &t);
}

/* Vary lists "*" (never matches) or at least one field name. */
static void vary_kind(const sl_field *f, size_t n, bool *star, bool *names)
{
	sl_headers_list it;
	sl_slice e;
	*star = *names = false;
	sl_headers_list_fields(&it, f, n, "Vary");
	while (sl_headers_list_next(&it, &e)) {
		if (e.n == 1 && e.p[0] == '*')
			*star = true;
		else
			*names = true;
	}
}

bool sl_cache_vary_star(const sl_field *resp, size_t n)
{
	bool star, names;
	vary_kind(resp, n, &star, &names);
	return star;
}

/* must-revalidate, or in a shared cache proxy-revalidate or s-maxage. */
static bool must_revalidate(const sl_cache_policy_conf *conf, const sl_cache_control *cc)
{
	return cc->must_revalidate ||
	       (conf->shared && (cc->proxy_revalidate || cc->s_maxage != SL_CC_UNSET));
}

/*
 * Section 3.5: directives that let a shared cache store (and reuse) a
 * response to a request with Authorization.
 */
static bool auth_allowed(const sl_cache_control *cc)
{
	return cc->is_public || cc->s_maxage != SL_CC_UNSET || cc->must_revalidate;
}

/*
 * sl_cache_meta_compute() and sl_cache_meta_refresh(): the directives,
 * validators and lifetime come from f; the Date and Age that date the
 * exchange come from af (the same fields, or the 304's).
 */
static void compute(const sl_cache_policy_conf *conf, const sl_cache_req *r, int status,
		    const sl_field *f, size_t n, const sl_field *af, size_t an,
		    int64_t request_time, int64_t response_time, sl_cache_meta *m)
{
	sl_cache_control cc;
	enum fresh_src src;
	int64_t date_value, t;
	bool star, names;

	memset(m, 0, sizeof *m);
	m->status = status;
	m->request_time = request_time;
	m->response_time = response_time;
	sl_cache_control_parse(f, n, SL_CC_RESPONSE, &cc);

	/* Section 4.2.3. A missing or invalid Date: the time of receipt. */
	if (!sl__policy_date(af, an, "Date", response_time, &date_value))
		date_value = response_time;
	int64_t apparent_age = response_time > date_value ? response_time - date_value : 0;
	int64_t response_delay = response_time > request_time ? response_time - request_time : 0;
	int64_t corrected_age_value = age_value_of(af, an) + response_delay;
	m->corrected_initial_age =
		apparent_age > corrected_age_value ? apparent_age : corrected_age_value;

	m->freshness_lifetime =
		lifetime_of(conf, &cc, status, f, n, date_value, response_time, &src);
	m->stale_while_revalidate = cc.stale_while_revalidate;
	m->stale_if_error = cc.stale_if_error;

	if (cc.no_cache)
		m->flags |= cc.no_cache_fields.n ? SL_CACHE_F_NO_CACHE_FIELDS : SL_CACHE_F_NO_CACHE;
	if (must_revalidate(conf, &cc))
		m->flags |= SL_CACHE_F_MUST_REVALIDATE;
	if (src == SRC_HEURISTIC)
		m->flags |= SL_CACHE_F_HEURISTIC;
	size_t i = sl_headers_find(f, n, "ETag");
	if (i < n && f[i].value.n > 0)
		m->flags |= SL_CACHE_F_ETAG;
	if (sl__policy_date(f, n, "Last-Modified", response_time, &t))
		m->flags |= SL_CACHE_F_LAST_MODIFIED;
	vary_kind(f, n, &star, &names);
	if (names && !star)
		m->flags |= SL_CACHE_F_VARY;
	if (cc.immutable)
		m->flags |= SL_CACHE_F_IMMUTABLE;
	if (r && r->authorization)
		m->flags |= SL_CACHE_F_AUTHORIZED;
	if (r && r->meth == SL_METHOD_HEAD)
		m->flags |= SL_CACHE_F_HEAD_ONLY;
}

void sl_cache_meta_compute(const sl_cache_policy_conf *conf, const sl_cache_req *r,
			   int status, const sl_field *f, size_t n, int64_t request_time,
			   int64_t response_time, sl_cache_meta *m)
{
	compute(conf, r, status, f, n, f, n, request_time, response_time, m);
}

void sl_cache_meta_refresh(const sl_cache_policy_conf *conf, const sl_cache_meta *old,
			   const sl_field *f, size_t n, const sl_field *r304, size_t nr,
			   int64_t request_time, int64_t response_time, sl_cache_meta *m)
{
	sl_cache_meta prev = *old;   /* old may be m */
	compute(conf, NULL, prev.status, f, n, r304, nr, request_time, response_time, m);
	m->flags |= prev.flags & (SL_CACHE_F_AUTHORIZED | SL_CACHE_F_HEAD_ONLY);
	m->body_len = prev.body_len;
}

int64_t sl_cache_current_age(const sl_cache_meta *m, int64_t now)
{
	int64_t resident_time = now > m->response_time ? now - m->response_time : 0;
	int64_t age = m->corrected_initial_age + resident_time;
	return age > 0 ? age : 0;
}

bool sl_cache_is_fresh(const sl_cache_meta *m, int64_t now)
{
	return sl_cache_current_age(m, now) < m->freshness_lifetime;
}

/* ------------------------------------------------------------------ */
/* Storing (section 3)                                                 */
/* ------------------------------------------------------------------ */

static const char *const verdict_names[] = {
	[SL_CACHE_STORE] = "store",
	[SL_CACHE_NOSTORE_METHOD] = "method",
	[SL_CACHE_NOSTORE_STATUS] = "status",
	[SL_CACHE_NOSTORE_REQUEST] = "request-no-store",
	[SL_CACHE_NOSTORE_NO_STORE] = "no-store",
	[SL_CACHE_NOSTORE_PRIVATE] = "private",
	[SL_CACHE_NOSTORE_AUTHORIZATION] = "authorization",
	[SL_CACHE_NOSTORE_NOT_CACHEABLE] = "not-cacheable",
	[SL_CACHE_NOSTORE_USELESS] = "useless",
	[SL_CACHE_NOSTORE_VARY_STAR] = "vary-star",
	[SL_CACHE_NOSTORE_MUST_UNDERSTAND] = "must-understand",
};

const char *sl_cache_store_verdict_name(enum sl_cache_store_verdict v)
{
	if ((unsigned)v < sizeof verdict_names / sizeof verdict_names[0] && verdict_names[v])
		return verdict_names[v];
	return "unknown";
}

enum sl_cache_store_verdict sl_cache_storable(const sl_cache_policy_conf *conf,
					      const sl_cache_req *r, int status,
					      const sl_field *f, size_t n)
{
	sl_cache_control cc;
	enum fresh_src src;
	int64_t date_value;

	if (r->meth != SL_METHOD_GET && r->meth != SL_METHOD_HEAD)
		return SL_CACHE_NOSTORE_METHOD;
	if (status < 200 || status > 599 || status == 206 || status == 304)
		return SL_CACHE_NOSTORE_STATUS;
	sl_cache_control_parse(f, n, SL_CC_RESPONSE, &cc);
	bool understood = status_understood(status);
	if (cc.must_understand && !understood)
		return SL_CACHE_NOSTORE_MUST_UNDERSTAND;
	if (!understood)
		return SL_CACHE_NOSTORE_STATUS;
	if (r->cc.no_store)
		return SL_CACHE_NOSTORE_REQUEST;
	/* Section 5.2.2.3: must-understand with a known status overrides no-store. */
	if (cc.no_store && !cc.must_understand)
		return SL_CACHE_NOSTORE_NO_STORE;
	if (conf->shared && cc.is_private && cc.private_fields.n == 0)
		return SL_CACHE_NOSTORE_PRIVATE;
	if (conf->shared && r->authorization && !auth_allowed(&cc))
		return SL_CACHE_NOSTORE_AUTHORIZATION;
	if (sl_cache_vary_star(f, n))
		return SL_CACHE_NOSTORE_VARY_STAR;

	/* Without the exchange's times, Date alone dates the response. */
	bool dated = sl__policy_date(f, n, "Date", -1, &date_value);
	int64_t lifetime = lifetime_of(conf, &cc, status, f, n, dated ? date_value : 0, -1, &src);
	if (src == SRC_NONE && !cc.is_public && !(cc.is_private && !conf->shared))
		return SL_CACHE_NOSTORE_NOT_CACHEABLE;
	if (has_validator(f, n, -1))
		return SL_CACHE_STORE;
	/*
	 * No validator: useless when every reuse needs validation at once
	 * (no-cache, or stale on arrival as far as Age tells), unless a
	 * stale-while-revalidate or stale-if-error window can still serve it.
	 * Expires without Date is judged later, with the exchange's times.
	 */
	if (cc.no_cache && cc.no_cache_fields.n == 0)
		return SL_CACHE_NOSTORE_USELESS;
	if (src == SRC_EXPIRES && !dated)
		return SL_CACHE_STORE;
	if (lifetime > age_value_of(f, n))
		return SL_CACHE_STORE;
	if (!must_revalidate(conf, &cc) && (cc.stale_while_revalidate > 0 || cc.stale_if_error > 0))
		return SL_CACHE_STORE;
	return SL_CACHE_NOSTORE_USELESS;
}

int sl_cache_store_fields(const sl_cache_policy_conf *conf, const sl_field *f, size_t n,
			  sl_field *out, size_t cap)
{
	sl_cache_control cc;
	size_t w = 0;

	sl_cache_control_parse(f, n, SL_CC_RESPONSE, &cc);
	bool priv = conf->shared && cc.is_private && cc.private_fields.n > 0;
	for (size_t i = 0; i < n; i++) {
		if (sl__policy_unstored(f, n, f[i].name))
			continue;
		if (priv) {
			sl_headers_list it;
			sl_slice e;
			bool named = false;
			sl_headers_list_value(&it, cc.private_fields);
			while (!named && sl_headers_list_next(&it, &e))
				named = sl_slice_case_eq(e, f[i].name);
			if (named)
				continue;
		}
		if (w >= cap)
			return SL_E_LIMIT;
		out[w++] = f[i];
	}
	return (int)w;
}

bool sl_cache_field_no_cache(const sl_field *f, size_t n, sl_slice name)
{
	sl_cache_control cc;
	sl_headers_list it;
	sl_slice e;

	sl_cache_control_parse(f, n, SL_CC_RESPONSE, &cc);
	if (!cc.no_cache || cc.no_cache_fields.n == 0)
		return false;
	sl_headers_list_value(&it, cc.no_cache_fields);
	while (sl_headers_list_next(&it, &e))
		if (sl_slice_case_eq(e, name))
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Reuse (sections 4, 4.2.4, 5.2.1; RFC 5861)                          */
/* ------------------------------------------------------------------ */

static const char *const use_names[] = {
	[SL_CACHE_USE_FRESH] = "fresh",
	[SL_CACHE_USE_STALE] = "stale",
	[SL_CACHE_USE_STALE_REVALIDATE] = "stale-while-revalidate",
	[SL_CACHE_USE_VALIDATE] = "validate",
	[SL_CACHE_USE_NONE] = "none",
};

const char *sl_cache_use_name(enum sl_cache_use u)
{
	if ((unsigned)u < sizeof use_names / sizeof use_names[0] && use_names[u])
		return use_names[u];
	return "unknown";
}

/* Whether an entry may answer request r at all, whatever its age. */
static bool entry_applies(const sl_cache_req *r, const sl_cache_meta *m)
{
	if (r->meth != SL_METHOD_GET && r->meth != SL_METHOD_HEAD)
		return false;
	if (r->meth == SL_METHOD_GET && (m->flags & SL_CACHE_F_HEAD_ONLY))
		return false;
	return !r->cc.no_store && !r->if_match;
}

enum sl_cache_use sl_cache_use(const sl_cache_policy_conf *conf, const sl_cache_req *r,
			       const sl_cache_meta *m, const sl_field *f, size_t n,
			       int64_t now)
{
	if (!entry_applies(r, m))
		return SL_CACHE_USE_NONE;
	if (conf->shared && r->authorization && !(m->flags & SL_CACHE_F_AUTHORIZED)) {
		/* Rare: only requests with credentials parse the stored directives. */
		sl_cache_control cc;
		sl_cache_control_parse(f, n, SL_CC_RESPONSE, &cc);
		if (!auth_allowed(&cc))
			return SL_CACHE_USE_NONE;
	}
	enum sl_cache_use validate = (m->flags & (SL_CACHE_F_ETAG | SL_CACHE_F_LAST_MODIFIED))
					     ? SL_CACHE_USE_VALIDATE
					     : SL_CACHE_USE_NONE;
	if (r->cc.no_cache || (m->flags & SL_CACHE_F_NO_CACHE))
		return validate;

	int64_t age = sl_cache_current_age(m, now);
	int64_t lifetime = m->freshness_lifetime;
	if (r->cc.max_age != SL_CC_UNSET && age > r->cc.max_age)
		return validate;
	if (r->cc.min_fresh != SL_CC_UNSET && lifetime - age < r->cc.min_fresh)
		return validate;
	if (age < lifetime)
		return SL_CACHE_USE_FRESH;
	if (m->flags & SL_CACHE_F_MUST_REVALIDATE)
		return validate;
	int64_t staleness = age - lifetime;
	if (m->stale_while_revalidate >= 0 && staleness <= m->stale_while_revalidate)
		return SL_CACHE_USE_STALE_REVALIDATE;
	if (r->cc.max_stale != SL_CC_UNSET && staleness <= r->cc.max_stale)
		return SL_CACHE_USE_STALE;
	return validate;
}

bool sl_cache_stale_on_error(const sl_cache_req *r, const sl_cache_meta *m, int64_t now)
{
	if (!entry_applies(r, m))
		return false;
	if (m->flags & (SL_CACHE_F_MUST_REVALIDATE | SL_CACHE_F_NO_CACHE))
		return false;
	int64_t age = sl_cache_current_age(m, now);
	int64_t staleness = age > m->freshness_lifetime ? age - m->freshness_lifetime : 0;

	/* The request's own acceptance of a stale answer comes first. */
	if (r->cc.stale_if_error != SL_CC_UNSET && staleness <= r->cc.stale_if_error)
		return true;
	if (r->cc.max_stale != SL_CC_UNSET && staleness <= r->cc.max_stale)
		return true;
	/* Else the response's window, unless the request asked for fresher. */
	if (r->cc.no_cache || r->cc.min_fresh != SL_CC_UNSET ||
	    (r->cc.max_age != SL_CC_UNSET && age > r->cc.max_age))
		return false;
	return m->stale_if_error >= 0 && staleness <= m->stale_if_error;
}

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

static const struct {
	const char *xcache;
	const char *code;
} results[] = {
	[SL_CACHE_RESULT_BYPASS] = {"BYPASS", "TCP_MISS"},
	[SL_CACHE_RESULT_MISS] = {"MISS", "TCP_MISS"},
	[SL_CACHE_RESULT_HIT] = {"HIT", "TCP_HIT"},
	[SL_CACHE_RESULT_MEM_HIT] = {"HIT", "TCP_MEM_HIT"},
	[SL_CACHE_RESULT_IMS_HIT] = {"HIT", "TCP_IMS_HIT"},
	[SL_CACHE_RESULT_REVALIDATED] = {"REVALIDATED", "TCP_REFRESH_UNMODIFIED"},
	[SL_CACHE_RESULT_REFRESHED] = {"MISS", "TCP_REFRESH_MODIFIED"},
	[SL_CACHE_RESULT_STALE] = {"STALE", "TCP_STALE_HIT"},
	[SL_CACHE_RESULT_STALE_ERROR] = {"STALE", "TCP_REFRESH_FAIL_OLD"},
	[SL_CACHE_RESULT_OFFLINE_MISS] = {"MISS", "TCP_MISS"},
	[SL_CACHE_RESULT_COLLAPSED] = {"HIT", "TCP_CF_HIT"},
};

const char *sl_cache_result_xcache(enum sl_cache_result r)
{
	if ((unsigned)r < sizeof results / sizeof results[0] && results[r].xcache)
		return results[r].xcache;
	return "MISS";
}

const char *sl_cache_result_code(enum sl_cache_result r)
{
	if ((unsigned)r < sizeof results / sizeof results[0] && results[r].code)
		return results[r].code;
	return "TCP_MISS";
}
