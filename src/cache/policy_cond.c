/*
 * The conditional side of the cache policy (see policy.h): the validators
 * of a stored response (RFC 9111 section 4.3.1), whether a 304 selects it
 * and how its fields are updated (sections 3.2, 4.3.4 and 4.3.5), a
 * client's own If-None-Match and If-Modified-Since (RFC 9110 section
 * 13.2.2) and single byte ranges with If-Range (RFC 9110 section 14 and
 * 13.1.5). Pure functions: slices written point into the caller's fields.
 */
#include "cache/policy.h"

#include <string.h>

#include "cache/policy_internal.h"
#include "core/err.h"

/* ------------------------------------------------------------------ */
/* Validation (sections 4.3.1 and 4.3.4)                               */
/* ------------------------------------------------------------------ */

size_t sl_cache_validators(const sl_field *f, size_t n, sl_field out[2])
{
	size_t k = 0;
	int64_t t;
	size_t i = sl_headers_find(f, n, "ETag");
	if (i < n && f[i].value.n > 0)
		out[k++] = (sl_field){SL_SLICE_LIT("If-None-Match"), f[i].value};
	i = sl_headers_find(f, n, "Last-Modified");
	if (i < n && sl__policy_date(f, n, "Last-Modified", -1, &t))
		out[k++] = (sl_field){SL_SLICE_LIT("If-Modified-Since"), f[i].value};
	return k;
}

bool sl_cache_304_selects(const sl_field *f, size_t n, const sl_field *r304, size_t nr)
{
	size_t e304 = sl_headers_find(r304, nr, "ETag");
	size_t es = sl_headers_find(f, n, "ETag");
	int64_t t304, ts;

	if (e304 < nr) {
		bool weak;
		sl_slice opaque;
		if (es >= n)
			return false;
		if (sl__policy_etag(r304[e304].value, &weak, &opaque) && !weak)
			return sl__policy_etag_strong_eq(r304[e304].value, f[es].value);
		return sl__policy_etag_weak_eq(r304[e304].value, f[es].value);
	}
	if (sl_headers_find(r304, nr, "Last-Modified") < nr) {
		if (!sl__policy_date(r304, nr, "Last-Modified", -1, &t304) ||
		    !sl__policy_date(f, n, "Last-Modified", -1, &ts))
			return false;
		return t304 == ts;
	}
	/*
	 * No validator in the 304: it answers the conditional request the
	 * caller built from this response, the only one it validated.
	 */
	return true;
}

/* Fields of a 304 that never update the stored response. */
static const char *const no_update_names[] = {
	"Content-Length", "Content-Encoding", "Content-Range", "Transfer-Encoding",
};

/* Whether r304[j] replaces the stored fields of its name. */
static bool updates(const sl_field *r304, size_t nr, size_t j)
{
	for (size_t i = 0; i < sizeof no_update_names / sizeof no_update_names[0]; i++)
		if (sl_slice_case_eq_cstr(r304[j].name, no_update_names[i]))
			return false;
	return !sl__policy_unstored(r304, nr, r304[j].name);
}

/* Whether any updating field of the 304 is called name. */
static bool updated(const sl_field *r304, size_t nr, sl_slice name)
{
	for (size_t j = sl_headers_find_slice(r304, nr, name, 0); j < nr;
	     j = sl_headers_find_slice(r304, nr, name, j + 1))
		if (updates(r304, nr, j))
			return true;
	return false;
}

int sl_cache_update_fields(const sl_field *f, size_t n, const sl_field *r304, size_t nr,
			   sl_field *out, size_t cap)
{
	size_t w = 0;

	/*
	 * Stored fields in their order; the first stored field of a name the
	 * 304 updates gives way to every updating 304 field of that name, the
	 * later ones are dropped. 304 fields with new names come last.
	 */
	for (size_t i = 0; i < n; i++) {
		if (!updated(r304, nr, f[i].name)) {
			if (w >= cap)
				return SL_E_LIMIT;
			out[w++] = f[i];
			continue;
		}
		if (sl_headers_find_slice(f, n, f[i].name, 0) != i)
			continue;
		for (size_t j = sl_headers_find_slice(r304, nr, f[i].name, 0); j < nr;
		     j = sl_headers_find_slice(r304, nr, f[i].name, j + 1)) {
			if (!updates(r304, nr, j))
				continue;
			if (w >= cap)
				return SL_E_LIMIT;
			out[w++] = r304[j];
		}
	}
	for (size_t j = 0; j < nr; j++) {
		if (!updates(r304, nr, j) || sl_headers_find_slice(f, n, r304[j].name, 0) < n)
			continue;
		if (w >= cap)
			return SL_E_LIMIT;
		out[w++] = r304[j];
	}
	return (int)w;
}

/* ------------------------------------------------------------------ */
/* A client's conditional request (RFC 9110 section 13.2.2)            */
/* ------------------------------------------------------------------ */

/* If-None-Match against the stored ETag: true when a member matches. */
static bool none_match_hit(const sl_cache_req *r, const sl_field *f, size_t n)
{
	size_t es = sl_headers_find(f, n, "ETag");
	sl_headers_list it;
	sl_slice e;

	sl_headers_list_fields(&it, r->fields, r->nfields, "If-None-Match");
	while (sl_headers_list_next(&it, &e)) {
		if (e.n == 1 && e.p[0] == '*')
			return true;   /* a stored response is a current representation */
		if (es < n && sl__policy_etag_weak_eq(e, f[es].value))
			return true;
	}
	return false;
}

enum sl_cache_cond sl_cache_client_cond(const sl_cache_req *r, const sl_field *f, size_t n)
{
	int64_t ims, lm;

	if (!r->conditional || (r->meth != SL_METHOD_GET && r->meth != SL_METHOD_HEAD))
		return SL_CACHE_COND_NONE;
	if (sl_headers_find(r->fields, r->nfields, "If-None-Match") < r->nfields)
		return none_match_hit(r, f, n) ? SL_CACHE_COND_NOT_MODIFIED : SL_CACHE_COND_FULL;
	/* Section 13.1.3: one valid date, else the field is ignored. */
	if (sl_headers_count(r->fields, r->nfields, "If-Modified-Since") != 1 ||
	    !sl__policy_date(r->fields, r->nfields, "If-Modified-Since", -1, &ims))
		return SL_CACHE_COND_NONE;
	/* RFC 9111 section 4.3.2: without Last-Modified, the stored Date. */
	if (!sl__policy_date(f, n, "Last-Modified", -1, &lm) &&
	    !sl__policy_date(f, n, "Date", -1, &lm))
		return SL_CACHE_COND_NONE;
	return lm <= ims ? SL_CACHE_COND_NOT_MODIFIED : SL_CACHE_COND_FULL;
}

/* ------------------------------------------------------------------ */
/* Ranges (RFC 9110 section 14)                                        */
/* ------------------------------------------------------------------ */

/* 1*DIGIT into *v, saturating; false when s holds anything else. */
static bool parse_pos(sl_slice s, uint64_t *v)
{
	uint64_t x = 0;
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		unsigned d = (unsigned)(s.p[i] - '0');
		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	*v = x;
	return true;
}

/*
 * One range-spec against len bytes: false when its syntax is bad; else
 * *ok tells whether it is satisfiable and *first / *last hold it clipped.
 */
static bool range_spec(sl_slice s, uint64_t len, bool *ok, uint64_t *first, uint64_t *last)
{
	const char *dash = memchr(s.p, '-', s.n);
	uint64_t a, b;

	if (!dash)
		return false;
	sl_slice lo = sl_slice_make(s.p, (size_t)(dash - s.p));
	sl_slice hi = sl_slice_make(dash + 1, s.n - lo.n - 1);
	if (lo.n == 0) {
		/* suffix-range: the last b bytes */
		if (!parse_pos(hi, &b))
			return false;
		*ok = b > 0 && len > 0;
		*first = b < len ? len - b : 0;
		*last = len ? len - 1 : 0;
		return true;
	}
	if (!parse_pos(lo, &a))
		return false;
	if (hi.n == 0) {
		b = UINT64_MAX;
	} else if (!parse_pos(hi, &b) || b < a) {
		return false;
	}
	*ok = a < len;
	*first = a;
	*last = b < len ? b : (len ? len - 1 : 0);
	return true;
}

/*
 * If-Range (RFC 9110 section 13.1.5): an entity-tag must match the stored
 * ETag strongly; a date must equal the stored Last-Modified, which counts
 * as strong only when the stored Date is at least a second later (section
 * 8.8.2.2).
 */
static bool if_range_holds(const sl_field *v, const sl_field *f, size_t n)
{
	sl_slice s = v->value;
	int64_t ir, lm, date;

	if ((s.n && s.p[0] == '"') || (s.n >= 2 && s.p[0] == 'W' && s.p[1] == '/')) {
		size_t es = sl_headers_find(f, n, "ETag");
		return es < n && sl__policy_etag_strong_eq(v->value, f[es].value);
	}
	if (!sl__policy_date(v, 1, "If-Range", -1, &ir) ||
	    !sl__policy_date(f, n, "Last-Modified", -1, &lm) ||
	    !sl__policy_date(f, n, "Date", -1, &date))
		return false;
	return ir == lm && date >= lm + 1;
}

enum sl_cache_range sl_cache_range(const sl_cache_req *r, const sl_field *f, size_t n,
				   uint64_t len, uint64_t *first, uint64_t *last)
{
	sl_headers_list it;
	sl_slice e;
	size_t specs = 0, satisfiable = 0;
	uint64_t f0 = 0, l0 = 0;

	/* Range handling is defined for GET only (section 14.2). */
	if (!r->range || r->meth != SL_METHOD_GET ||
	    sl_headers_count(r->fields, r->nfields, "Range") != 1)
		return SL_CACHE_RANGE_NONE;
	const sl_field *rf = sl_headers_get(r->fields, r->nfields, "Range");
	const sl_field *ir = sl_headers_get(r->fields, r->nfields, "If-Range");
	if (ir && (sl_headers_count(r->fields, r->nfields, "If-Range") != 1 ||
		   !if_range_holds(ir, f, n)))
		return SL_CACHE_RANGE_NONE;

	/* ranges-specifier = range-unit "=" range-set; the unit is case-insensitive */
	sl_slice v = rf->value;
	if (v.n < 6 || strncasecmp(v.p, "bytes=", 6) != 0)
		return SL_CACHE_RANGE_NONE;
	sl_headers_list_value(&it, sl_slice_make(v.p + 6, v.n - 6));
	while (sl_headers_list_next(&it, &e)) {
		bool ok;
		uint64_t a, b;
		if (!range_spec(e, len, &ok, &a, &b))
			return SL_CACHE_RANGE_NONE;
		specs++;
		if (ok && satisfiable++ == 0) {
			f0 = a;
			l0 = b;
		}
	}
	if (it.malformed || specs == 0)
		return SL_CACHE_RANGE_NONE;
	if (satisfiable == 0)
		return SL_CACHE_RANGE_UNSATISFIABLE;
	if (specs > 1)
		return SL_CACHE_RANGE_MULTI;
	*first = f0;
	*last = l0;
	return SL_CACHE_RANGE_SINGLE;
}
