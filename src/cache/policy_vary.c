/*
 * Keys of the cache policy (see policy.h): Vary's secondary key (RFC 9111
 * section 4.1) and the keys an unsafe request invalidates (section 4.4).
 * The secondary key is a canonical text, so that matching a variant is a
 * byte comparison of two keys: names lower-cased and sorted without
 * duplicates, values normalised the way section 4.1 allows (field lines
 * combined, list elements trimmed, whitespace runs collapsed). Nothing is
 * allocated: names are sorted by repeated selection, which is quadratic
 * but over the handful of names a Vary lists.
 */
#include "cache/policy.h"

#include <string.h>

#include "cache/policy_internal.h"
#include "core/err.h"
#include "core/url.h"

/* ------------------------------------------------------------------ */
/* Vary (section 4.1)                                                  */
/* ------------------------------------------------------------------ */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* RFC 9110 section 5.6.2: tchar. */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field-name a request can carry: a token other than "*". */
static bool is_field_name(sl_slice s)
{
	if (s.n == 0 || (s.n == 1 && s.p[0] == '*'))
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!is_tchar(s.p[i]))
			return false;
	return true;
}

/* Compares two names ignoring ASCII case, as strcmp() does. */
static int name_cmp(sl_slice a, sl_slice b)
{
	size_t m = a.n < b.n ? a.n : b.n;
	for (size_t i = 0; i < m; i++) {
		char x = lower(a.p[i]), y = lower(b.p[i]);
		if (x != y)
			return (unsigned char)x < (unsigned char)y ? -1 : 1;
	}
	return a.n < b.n ? -1 : a.n > b.n;
}

/* The output of sl_cache_vary_key(): writes stop counting once over. */
struct out {
	char *p;
	size_t cap;
	size_t n;
};

static void put(struct out *o, char c)
{
	if (o->n < o->cap)
		o->p[o->n] = c;
	o->n++;
}

/*
 * One list element, runs of SP and HTAB outside quoted-strings collapsed
 * to one SP (the element itself is trimmed already).
 */
static void put_elem(struct out *o, sl_slice e)
{
	bool quoted = false, space = false;
	for (size_t i = 0; i < e.n; i++) {
		char c = e.p[i];
		if (!quoted && (c == ' ' || c == '\t')) {
			space = true;
			continue;
		}
		if (space)
			put(o, ' ');
		space = false;
		put(o, c);
		if (quoted && c == '\\' && i + 1 < e.n)
			put(o, e.p[++i]);
		else if (c == '"')
			quoted = !quoted;
	}
}

int sl_cache_vary_key(const sl_field *resp, size_t rn, const sl_field *req, size_t qn,
		      char *out, size_t cap)
{
	struct out o = {out, cap, 0};
	sl_slice prev = SL_SLICE_NULL;
	bool started = false;

	for (;;) {
		/* The smallest name listed by Vary that sorts after prev. */
		sl_headers_list it;
		sl_slice e, best = SL_SLICE_NULL;
		bool found = false;
		sl_headers_list_fields(&it, resp, rn, "Vary");
		while (sl_headers_list_next(&it, &e)) {
			if (!is_field_name(e) || (started && name_cmp(e, prev) <= 0))
				continue;
			if (!found || name_cmp(e, best) < 0)
				best = e;
			found = true;
		}
		if (!found)
			break;
		started = true;
		prev = best;

		for (size_t i = 0; i < best.n; i++)
			put(&o, lower(best.p[i]));
		put(&o, ':');
		/*
		 * Every field line of that name as one list. A request without
		 * the field and one with an empty value give the same key: both
		 * have no list element, and section 4.1 lets the cache treat
		 * them alike.
		 */
		bool first = true;
		for (size_t i = sl_headers_find_slice(req, qn, best, 0); i < qn;
		     i = sl_headers_find_slice(req, qn, best, i + 1)) {
			sl_headers_list vi;
			sl_slice v;
			sl_headers_list_value(&vi, req[i].value);
			while (sl_headers_list_next(&vi, &v)) {
				if (!first) {
					put(&o, ',');
					put(&o, ' ');
				}
				first = false;
				put_elem(&o, v);
			}
		}
		put(&o, '\n');
	}
	if (!started)
		return 0;
	if (o.n >= cap || o.n > INT32_MAX)
		return SL_E_LIMIT;
	out[o.n] = '\0';
	return (int)o.n;
}

/* ------------------------------------------------------------------ */
/* Invalidation (section 4.4)                                          */
/* ------------------------------------------------------------------ */

/* The length of the origin ("scheme://authority") at the start of a key. */
static size_t origin_len(const char *key)
{
	const char *s = strstr(key, "://");
	if (!s)
		return strlen(key);
	const char *slash = strchr(s + 3, '/');
	return slash ? (size_t)(slash - key) : strlen(key);
}

/* Methods RFC 9110 section 9.2.1 defines as safe. */
static bool method_safe(enum sl_http_method m)
{
	return m == SL_METHOD_GET || m == SL_METHOD_HEAD || m == SL_METHOD_OPTIONS ||
	       m == SL_METHOD_TRACE;
}

size_t sl_cache_invalidations(enum sl_http_method m, int status, const char *target,
			      const sl_field *resp, size_t n, char (*keys)[2048], size_t max)
{
	static const char *const refs[] = {"Location", "Content-Location"};
	sl_url base, u;
	char buf[2048];
	size_t count = 0;

	if (method_safe(m) || status < 200 || status > 399 || !target || max == 0)
		return 0;
	if (sl_url_parse(target, strlen(target), &base) != 0 ||
	    sl_url_cache_key(&base, keys[0], sizeof keys[0]) < 0)
		return 0;
	count = 1;
	size_t olen = origin_len(keys[0]);

	for (size_t r = 0; r < sizeof refs / sizeof refs[0] && count < max; r++) {
		size_t i = sl_headers_find(resp, n, refs[r]);
		if (i >= n || resp[i].value.n == 0)
			continue;
		if (sl_url_parse_ref(&base, resp[i].value.p, resp[i].value.n, buf, sizeof buf,
				     &u) < 0 ||
		    sl_url_cache_key(&u, keys[count], sizeof keys[count]) < 0)
			continue;
		/* Only the same origin: a response may not evict another site's entries. */
		if (origin_len(keys[count]) != olen || memcmp(keys[count], keys[0], olen) != 0)
			continue;
		bool dup = false;
		for (size_t k = 0; k < count && !dup; k++)
			dup = strcmp(keys[k], keys[count]) == 0;
		if (!dup)
			count++;
	}
	return count;
}
