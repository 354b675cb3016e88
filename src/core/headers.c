/*
 * Operations on parsed header fields (see headers.h): lookup, list
 * iteration, hop-by-hop removal, Cache-Control, delta-seconds and
 * HTTP-date. Every function works on slices into the caller's memory, keeps
 * no state outside its arguments and allocates nothing, so all of it is
 * thread-safe. Dates are converted with plain days-from-civil arithmetic
 * rather than the C library's time zone machinery, so no global state (TZ,
 * static struct tm) is involved.
 */
#include "core/headers.h"

#include <string.h>
#include <strings.h>

#include "core/err.h"

/* ------------------------------------------------------------------ */
/* Lookup                                                              */
/* ------------------------------------------------------------------ */

size_t sl_headers_find_slice(const sl_field *f, size_t n, sl_slice name, size_t from)
{
	for (size_t i = from; i < n; i++)
		if (sl_slice_case_eq(f[i].name, name))
			return i;
	return n;
}

size_t sl_headers_find(const sl_field *f, size_t n, const char *name)
{
	return sl_headers_find_slice(f, n, sl_slice_cstr(name), 0);
}

size_t sl_headers_find_next(const sl_field *f, size_t n, const char *name, size_t after)
{
	if (after >= n)
		return n;
	return sl_headers_find_slice(f, n, sl_slice_cstr(name), after + 1);
}

size_t sl_headers_count(const sl_field *f, size_t n, const char *name)
{
	sl_slice s = sl_slice_cstr(name);
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += sl_slice_case_eq(f[i].name, s);
	return c;
}

const sl_field *sl_headers_get(const sl_field *f, size_t n, const char *name)
{
	size_t i = sl_headers_find(f, n, name);
	return i < n ? &f[i] : NULL;
}

/* ------------------------------------------------------------------ */
/* Lists                                                               */
/* ------------------------------------------------------------------ */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

void sl_headers_list_value(sl_headers_list *it, sl_slice value)
{
	memset(it, 0, sizeof *it);
	it->p = value.p;
	it->end = value.p ? value.p + value.n : NULL;
}

void sl_headers_list_fields(sl_headers_list *it, const sl_field *f, size_t n,
			    const char *name)
{
	memset(it, 0, sizeof *it);
	it->f = f;
	it->n = n;
	it->name = sl_slice_cstr(name);
	it->idx = sl_headers_find_slice(f, n, it->name, 0);
	if (it->idx < n) {
		it->p = f[it->idx].value.p;
		it->end = it->p ? it->p + f[it->idx].value.n : NULL;
	}
}

/* The next element of the current value, if any. */
static bool next_in_value(sl_headers_list *it, sl_slice *elem)
{
	const char *p = it->p, *end = it->end;

	while (p < end && (*p == ',' || is_ows(*p)))
		p++;
	if (p >= end) {
		it->p = end;
		return false;
	}
	const char *start = p;
	while (p < end && *p != ',') {
		if (*p++ != '"')
			continue;
		while (p < end && *p != '"') {
			if (*p == '\\' && p + 1 < end)
				p++;
			p++;
		}
		if (p < end)
			p++;
		else
			it->malformed = true;
	}
	it->p = p;
	*elem = sl_slice_trim_ows(sl_slice_make(start, (size_t)(p - start)));
	return true;
}

bool sl_headers_list_next(sl_headers_list *it, sl_slice *elem)
{
	for (;;) {
		if (next_in_value(it, elem))
			return true;
		if (!it->f || it->idx >= it->n)
			return false;
		it->idx = sl_headers_find_slice(it->f, it->n, it->name, it->idx + 1);
		if (it->idx >= it->n)
			return false;
		it->p = it->f[it->idx].value.p;
		it->end = it->p ? it->p + it->f[it->idx].value.n : NULL;
	}
}

bool sl_headers_elem_is(sl_slice elem, const char *tok)
{
	size_t tl = strlen(tok);
	if (elem.n < tl || (tl && strncasecmp(elem.p, tok, tl) != 0))
		return false;
	if (elem.n == tl)
		return true;
	char c = elem.p[tl];
	return is_ows(c) || c == ';' || c == '=';
}

bool sl_headers_has_token(const sl_field *f, size_t n, const char *name, const char *token)
{
	sl_headers_list it;
	sl_slice e;
	sl_headers_list_fields(&it, f, n, name);
	while (sl_headers_list_next(&it, &e))
		if (sl_headers_elem_is(e, token))
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Hop-by-hop removal                                                  */
/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	size_t len;
	unsigned bit;
} hop_fields[] = {
	{"Connection", 10, SL_HOP_CONNECTION},
	{"Keep-Alive", 10, SL_HOP_KEEP_ALIVE},
	{"Proxy-Connection", 16, SL_HOP_PROXY_CONNECTION},
	{"Proxy-Authenticate", 18, SL_HOP_PROXY_AUTHENTICATE},
	{"Proxy-Authorization", 19, SL_HOP_PROXY_AUTHORIZATION},
	{"TE", 2, SL_HOP_TE},
	{"Trailer", 7, SL_HOP_TRAILER},
	{"Transfer-Encoding", 17, SL_HOP_TRANSFER_ENCODING},
	{"Upgrade", 7, SL_HOP_UPGRADE},
};

/* Fields a Connection option may not remove. */
static const char *const unnamable[] = {"Host", "Content-Length"};

static bool name_is(sl_slice name, size_t i)
{
	return strncasecmp(name.p, hop_fields[i].name, hop_fields[i].len) == 0;
}

/* Runs for every field of every message: dispatches on the length, so
 * most fields cost one switch and no comparison. Indexes are those of
 * hop_fields. */
static unsigned hop_bit(sl_slice name)
{
	size_t i;

	switch (name.n) {
	case 2: i = 5; break;
	case 7:
		i = (name.p[0] | 0x20) == 't' ? 6 : 8;
		break;
	case 10:
		i = (name.p[0] | 0x20) == 'c' ? 0 : 1;
		break;
	case 16: i = 2; break;
	case 17: i = 7; break;
	case 18: i = 3; break;
	case 19: i = 4; break;
	default: return 0;
	}
	return name_is(name, i) ? hop_fields[i].bit : 0;
}

static bool unnamable_field(sl_slice name)
{
	for (size_t i = 0; i < sizeof unnamable / sizeof unnamable[0]; i++)
		if (sl_slice_case_eq_cstr(name, unnamable[i]))
			return true;
	return false;
}

/* Whether any Connection field in f[0..n) lists name as an option. */
static bool named_in_connection(const sl_field *f, size_t n, sl_slice name)
{
	if (unnamable_field(name))
		return false;
	sl_headers_list it;
	sl_slice e;
	sl_headers_list_fields(&it, f, n, "Connection");
	while (sl_headers_list_next(&it, &e))
		if (sl_slice_case_eq(e, name))
			return true;
	return false;
}

/* Connection options collected once per message; more than this many
 * fall back to scanning the Connection fields for each field. */
#define CONN_OPTS_MAX 16

size_t sl_headers_strip_hop_keep(sl_field *f, size_t n, unsigned keep)
{
	sl_slice opts[CONN_OPTS_MAX];
	size_t nopts = 0;
	bool many = false;
	size_t w = 0;

	if (!(keep & SL_HOP_NAMED) && sl_headers_find(f, n, "Connection") < n) {
		sl_headers_list it;
		sl_slice e;
		sl_headers_list_fields(&it, f, n, "Connection");
		while (sl_headers_list_next(&it, &e)) {
			/* Options naming hop-by-hop fields change nothing. */
			if (hop_bit(e))
				continue;
			if (nopts == CONN_OPTS_MAX) {
				many = true;
				break;
			}
			opts[nopts++] = e;
		}
	}

	/*
	 * Removed fields are swapped behind the kept ones rather than
	 * overwritten, so every Connection field stays somewhere in f[0..n)
	 * for the checks of the fields still to come (the slow path reads
	 * them again).
	 */
	for (size_t i = 0; i < n; i++) {
		unsigned bit = hop_bit(f[i].name);
		bool drop = false;
		if (bit) {
			drop = !(keep & bit);
		} else if (many) {
			drop = named_in_connection(f, n, f[i].name);
		} else if (nopts) {
			for (size_t k = 0; k < nopts && !drop; k++)
				drop = sl_slice_case_eq(opts[k], f[i].name);
			drop = drop && !unnamable_field(f[i].name);
		}
		if (drop)
			continue;
		if (w != i) {
			sl_field t = f[w];
			f[w] = f[i];
			f[i] = t;
		}
		w++;
	}
	return w;
}

size_t sl_headers_strip_hop(sl_field *f, size_t n)
{
	return sl_headers_strip_hop_keep(f, n, 0);
}

/* ------------------------------------------------------------------ */
/* delta-seconds and Cache-Control                                     */
/* ------------------------------------------------------------------ */

int sl_delta_seconds_parse(sl_slice s, int64_t *out)
{
	int64_t v = 0;
	if (s.n == 0)
		return SL_E_INVAL;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return SL_E_INVAL;
		v = v * 10 + (s.p[i] - '0');
		if (v > SL_DELTA_MAX)
			v = SL_DELTA_MAX;
	}
	*out = v;
	return 0;
}

void sl_cache_control_clear(sl_cache_control *cc)
{
	memset(cc, 0, sizeof *cc);
	cc->max_age = cc->s_maxage = cc->max_stale = cc->min_fresh = SL_CC_UNSET;
	cc->stale_while_revalidate = cc->stale_if_error = SL_CC_UNSET;
}

static void keep_min(int64_t *x, int64_t v)
{
	if (*x == SL_CC_UNSET || v < *x)
		*x = v;
}

static void keep_max(int64_t *x, int64_t v)
{
	if (*x == SL_CC_UNSET || v > *x)
		*x = v;
}

/*
 * Removes the quotes of a quoted-string argument. Returns false when the
 * quotes do not pair up.
 */
static bool unquote(sl_slice *a)
{
	size_t i = 1;
	if (a->n == 0 || a->p[0] != '"')
		return true;
	while (i < a->n && a->p[i] != '"')
		i += a->p[i] == '\\' ? 2 : 1;
	if (i != a->n - 1)
		return false;   /* unterminated, or text after the closing quote */
	a->p++;
	a->n -= 2;
	return true;
}

/* A value directive: seconds into *x, or the malformed reading. */
static void delta_arg(sl_cache_control *cc, int64_t *x, bool has, sl_slice arg,
		      bool smallest, bool bad_means_zero)
{
	int64_t v;
	if (has && unquote(&arg) && sl_delta_seconds_parse(arg, &v) == 0) {
		if (smallest)
			keep_min(x, v);
		else
			keep_max(x, v);
		return;
	}
	cc->malformed = true;
	if (bad_means_zero)
		keep_min(x, 0);
}

/* no-cache and private: a flag plus an optional list of field names. */
static void list_arg(sl_cache_control *cc, bool *flag, sl_slice *fields, bool has,
		     sl_slice arg)
{
	bool ok = !has || unquote(&arg);
	if (!ok)
		cc->malformed = true;
	if (*flag || !has || !ok || arg.n == 0) {
		*fields = SL_SLICE_NULL;   /* unqualified, or a merge */
	} else {
		*fields = arg;
	}
	*flag = true;
}

void sl_cache_control_merge(sl_cache_control *cc, sl_slice value)
{
	sl_headers_list it;
	sl_slice e;

	cc->present = true;
	sl_headers_list_value(&it, value);
	while (sl_headers_list_next(&it, &e)) {
		const char *eq = memchr(e.p, '=', e.n);
		sl_slice name = e, arg = SL_SLICE_NULL;
		bool has = eq != NULL;
		if (has) {
			name = sl_slice_trim_ows(sl_slice_make(e.p, (size_t)(eq - e.p)));
			arg = sl_slice_trim_ows(sl_slice_make(eq + 1, e.n - (size_t)(eq + 1 - e.p)));
		}
#define IS(s) sl_slice_case_eq_cstr(name, s)
		if (IS("max-age"))
			delta_arg(cc, &cc->max_age, has, arg, true, true);
		else if (IS("s-maxage"))
			delta_arg(cc, &cc->s_maxage, has, arg, true, true);
		else if (IS("max-stale")) {
			if (has)
				delta_arg(cc, &cc->max_stale, has, arg, true, false);
			else
				keep_min(&cc->max_stale, SL_DELTA_MAX);
		} else if (IS("min-fresh"))
			delta_arg(cc, &cc->min_fresh, has, arg, false, false);
		else if (IS("stale-while-revalidate"))
			delta_arg(cc, &cc->stale_while_revalidate, has, arg, true, false);
		else if (IS("stale-if-error"))
			delta_arg(cc, &cc->stale_if_error, has, arg, true, false);
		else if (IS("no-cache"))
			list_arg(cc, &cc->no_cache, &cc->no_cache_fields, has, arg);
		else if (IS("private"))
			list_arg(cc, &cc->is_private, &cc->private_fields, has, arg);
		else if (IS("no-store"))
			cc->no_store = true;
		else if (IS("no-transform"))
			cc->no_transform = true;
		else if (IS("only-if-cached"))
			cc->only_if_cached = true;
		else if (IS("must-revalidate"))
			cc->must_revalidate = true;
		else if (IS("proxy-revalidate"))
			cc->proxy_revalidate = true;
		else if (IS("must-understand"))
			cc->must_understand = true;
		else if (IS("public"))
			cc->is_public = true;
		else if (IS("immutable"))
			cc->immutable = true;
#undef IS
	}
	if (it.malformed)
		cc->malformed = true;
}

void sl_cache_control_parse(const sl_field *f, size_t n, enum sl_cc_kind kind,
			    sl_cache_control *cc)
{
	sl_cache_control_clear(cc);
	for (size_t i = sl_headers_find(f, n, "Cache-Control"); i < n;
	     i = sl_headers_find_next(f, n, "Cache-Control", i))
		sl_cache_control_merge(cc, f[i].value);
	if (kind == SL_CC_REQUEST && !cc->present &&
	    sl_headers_has_token(f, n, "Pragma", "no-cache")) {
		cc->no_cache = true;
		cc->pragma_no_cache = true;
	}
}

/* ------------------------------------------------------------------ */
/* HTTP-date                                                           */
/* ------------------------------------------------------------------ */

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wdays_long[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
};
static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil(). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* A cursor over the date text. Every reader fails once past the end. */
struct cur {
	const char *p;
	const char *end;
};

static bool lit(struct cur *c, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool digits(struct cur *c, int n, int *out)
{
	int v = 0;
	if (c->end - c->p < n)
		return false;
	for (int i = 0; i < n; i++) {
		if (c->p[i] < '0' || c->p[i] > '9')
			return false;
		v = v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	*out = v;
	return true;
}

static bool month(struct cur *c, int *m)
{
	for (int i = 0; i < 12; i++)
		if (lit(c, months[i])) {
			*m = i + 1;
			return true;
		}
	return false;
}

static bool wday(struct cur *c, bool lng)
{
	for (int i = 0; i < 7; i++)
		if (lit(c, lng ? wdays_long[i] : wdays[i]))
			return true;
	return false;
}

/* hour ":" minute ":" second, 00:00:00 to 23:59:60. */
static bool clock_time(struct cur *c, int *secs)
{
	int h, mi, s;
	if (!digits(c, 2, &h) || !lit(c, ":") || !digits(c, 2, &mi) || !lit(c, ":") ||
	    !digits(c, 2, &s))
		return false;
	if (h > 23 || mi > 59 || s > 60)
		return false;
	*secs = h * 3600 + mi * 60 + s;
	return true;
}

int sl_http_date_parse_at(sl_slice s, time_t now, time_t *out)
{
	struct cur c = {s.p, s.p + s.n};
	int d, m, secs;
	int64_t y;

	if (!s.p || s.n < 4)
		return SL_E_INVAL;
	if (s.p[3] == ',') {
		/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		int yy;
		if (!wday(&c, false) || !lit(&c, ", ") || !digits(&c, 2, &d) || !lit(&c, " ") ||
		    !month(&c, &m) || !lit(&c, " ") || !digits(&c, 4, &yy) || !lit(&c, " ") ||
		    !clock_time(&c, &secs) || !lit(&c, " GMT"))
			return SL_E_INVAL;
		y = yy;
	} else if (s.p[3] == ' ') {
		/* asctime: Sun Nov  6 08:49:37 1994 */
		int yy;
		if (!wday(&c, false) || !lit(&c, " ") || !month(&c, &m) || !lit(&c, " "))
			return SL_E_INVAL;
		if (!(lit(&c, " ") ? digits(&c, 1, &d) : digits(&c, 2, &d)))
			return SL_E_INVAL;
		if (!lit(&c, " ") || !clock_time(&c, &secs) || !lit(&c, " ") ||
		    !digits(&c, 4, &yy))
			return SL_E_INVAL;
		y = yy;
	} else {
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
		int yy, nm, nd;
		int64_t ny;
		if (!wday(&c, true) || !lit(&c, ", ") || !digits(&c, 2, &d) || !lit(&c, "-") ||
		    !month(&c, &m) || !lit(&c, "-") || !digits(&c, 2, &yy) || !lit(&c, " ") ||
		    !clock_time(&c, &secs) || !lit(&c, " GMT"))
			return SL_E_INVAL;
		int64_t nowd = (int64_t)now / 86400 - ((int64_t)now % 86400 < 0);
		civil_from_days(nowd, &ny, &nm, &nd);
		y = ny - ((ny % 100) + 100) % 100 + yy;
		if (y > ny + 50)
			y -= 100;
	}
	if (c.p != c.end || d < 1 || d > days_in_month(y, m))
		return SL_E_INVAL;
	int64_t t = days_from_civil(y, m, d) * 86400 + secs;
	if ((int64_t)(time_t)t != t)
		return SL_E_INVAL;
	*out = (time_t)t;
	return 0;
}

int sl_http_date_parse(sl_slice s, time_t *out)
{
	return sl_http_date_parse_at(s, time(NULL), out);
}

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

int sl_http_date_format(time_t t, char buf[SL_HTTP_DATE_BUFSZ])
{
	int64_t tt = (int64_t)t;
	int64_t days = tt / 86400, secs = tt % 86400;
	int64_t y;
	int m, d;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		buf[0] = '\0';
		return SL_E_INVAL;
	}
	int w = (int)(((days + 4) % 7 + 7) % 7);
	memcpy(buf, wdays[w], 3);
	memcpy(buf + 3, ", ", 2);
	put2(buf + 5, d);
	buf[7] = ' ';
	memcpy(buf + 8, months[m - 1], 3);
	buf[11] = ' ';
	put2(buf + 12, (int)(y / 100));
	put2(buf + 14, (int)(y % 100));
	buf[16] = ' ';
	put2(buf + 17, (int)(secs / 3600));
	buf[19] = ':';
	put2(buf + 20, (int)(secs / 60 % 60));
	buf[22] = ':';
	put2(buf + 23, (int)(secs % 60));
	memcpy(buf + 25, " GMT", 5);   /* with the NUL */
	return 0;
}
