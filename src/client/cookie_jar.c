/*
 * The cookie jar (see cookie_jar.h for the contract). Cookies live in a hash
 * table of domains: each domain entry holds an unordered array of the
 * cookies whose domain field is that string, so the cookies a host may
 * receive are found by looking up the host and each of its parent domains,
 * a handful of lookups whatever the size of the jar. Invariants: no domain
 * entry is empty once a public call returns; `total` is the number of
 * cookies in all entries; no two cookies share name, domain and path.
 * Creation and last access are kept as ticks of a counter private to the
 * jar rather than as seconds, because many cookies arrive within one second
 * and RFC 6265 orders and evicts by these times: a counter never ties.
 */
#include "client/cookie_jar.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/err.h"

/* Longest host name kept, and the buffers that hold one with its NUL. */
#define HOST_MAX 255
/* The range of a cookie-date (RFC 6265 section 5.1.1 refuses years before
 * 1601; four digits end at 9999): the "earliest and latest representable
 * dates" that section 5.2 clamps expiry times to. */
#define TIME_MIN ((time_t)-11644473600LL) /* 1601-01-01T00:00:00Z */
#define TIME_MAX ((time_t)253402300799LL) /* 9999-12-31T23:59:59Z */
#define TABLE_MIN 64

struct dom;

struct cookie {
	struct dom *dom;     /* the entry holding it; its name is the domain */
	time_t expiry;       /* TIME_MAX for a session cookie */
	uint64_t created;    /* tick of creation, kept across replacement */
	uint64_t used;       /* tick of the last access */
	size_t name_len, value_len, path_len;
	bool persistent, host_only, secure, http_only;
	enum sl_cookie_samesite samesite;
	char data[];         /* name NUL value NUL path NUL */
};

struct dom {
	struct dom *next;    /* hash chain */
	uint32_t hash;
	bool is_ip;          /* an IP address: never domain-matched by another host */
	struct cookie **v;
	size_t n, cap;
	size_t len;
	char name[];
};

struct sl_cookie_jar {
	uint32_t magic;
	struct dom **tab;
	size_t ntab;         /* a power of two */
	size_t ndom;
	size_t total;
	uint64_t clock;
	struct cookie **scratch;  /* reused by sl_cookie_jar_header() */
	size_t scratch_cap;
};

/* Where a request goes, as the cookie rules see it. */
struct origin {
	char host[HOST_MAX + 1]; /* canonical: lowercase, an address in standard form */
	size_t len;
	bool ip;
	bool secure;             /* https or wss */
	sl_slice path;           /* the request path, "/" when empty */
};

/* A cookie checked and ready for the store. */
struct cand {
	sl_slice name, value, path;
	const char *domain;
	size_t domain_len;
	time_t expiry;
	bool persistent, host_only, secure, http_only;
	enum sl_cookie_samesite samesite;
};

static inline const char *c_name(const struct cookie *c)
{
	return c->data;
}

static inline const char *c_value(const struct cookie *c)
{
	return c->data + c->name_len + 1;
}

static inline const char *c_path(const struct cookie *c)
{
	return c->data + c->name_len + 1 + c->value_len + 1;
}

static inline bool expired(const struct cookie *c, time_t now)
{
	return c->persistent && c->expiry <= now;
}

static inline char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* True when s holds a control character, HTAB included: RFC 6265bis refuses
 * CTLs in names and values, and the cookie file cannot hold a tab. */
static bool has_ctl(sl_slice s)
{
	for (size_t i = 0; i < s.n; i++)
		if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Domains, paths and public suffixes (RFC 6265 sections 5.1.3, 5.1.4) */
/* ------------------------------------------------------------------ */

/*
 * Whether the string s (of n bytes) domain-matches the domain d: equal, or
 * d is a suffix of s after a dot and s is a host name, not an IP address.
 */
static bool domain_match(const char *s, size_t n, bool s_ip, const char *d, size_t dn)
{
	if (n == dn)
		return memcmp(s, d, n) == 0;
	return !s_ip && n > dn && s[n - dn - 1] == '.' && memcmp(s + n - dn, d, dn) == 0;
}

/* Whether the request path rp path-matches the cookie path cp. */
static bool path_match(sl_slice rp, const char *cp, size_t cn)
{
	if (cn > rp.n || memcmp(rp.p, cp, cn) != 0)
		return false;
	return cn == rp.n || cp[cn - 1] == '/' || rp.p[cn] == '/';
}

/* The default-path of a request path (section 5.1.4): up to, not including,
 * its last '/', or "/" when that would be empty or the path is not absolute. */
static sl_slice default_path(sl_slice up)
{
	if (up.n == 0 || up.p[0] != '/')
		return SL_SLICE_LIT("/");
	const char *last = memrchr(up.p, '/', up.n);
	if (last == up.p)
		return SL_SLICE_LIT("/");
	return sl_slice_make(up.p, (size_t)(last - up.p));
}

/*
 * Suffixes under which anyone may register a name, refused as a Domain
 * attribute. This stands in for the Public Suffix List, which the project
 * does not ship: every single-label domain ("com", "localhost") and these
 * common multi-label ones are refused; a suffix missing here ("co.ve",
 * "pvt.k12.ma.us") is not, so a host under it could set a cookie for its
 * neighbours. A linear scan: it only runs for cookies with a Domain.
 */
static const char *const public_suffixes[] = {
	"ac.jp", "ac.nz", "ac.uk", "co.id", "co.il", "co.in", "co.jp", "co.kr", "co.nz",
	"co.th", "co.uk", "co.za", "com.ar", "com.au", "com.br", "com.cn", "com.co",
	"com.hk", "com.mx", "com.my", "com.pl", "com.sg", "com.tr", "com.tw", "com.ua",
	"edu.au", "go.jp", "gov.au", "gov.br", "gov.cn", "gov.uk", "ltd.uk", "me.uk",
	"ne.jp", "net.au", "net.br", "net.cn", "net.in", "or.jp", "org.au", "org.br",
	"org.cn", "org.in", "org.nz", "org.uk", "org.za", "plc.uk",
	"appspot.com", "azurewebsites.net", "blogspot.com", "cloudfront.net",
	"firebaseapp.com", "github.io", "gitlab.io", "herokuapp.com", "netlify.app",
	"pages.dev", "s3.amazonaws.com", "vercel.app", "workers.dev",
};

static bool public_suffix(const char *d, size_t n)
{
	if (!memchr(d, '.', n))
		return true;
	for (size_t i = 0; i < sizeof public_suffixes / sizeof public_suffixes[0]; i++)
		if (strlen(public_suffixes[i]) == n && memcmp(public_suffixes[i], d, n) == 0)
			return true;
	return false;
}

static bool secure_scheme(sl_slice scheme)
{
	return sl_slice_case_eq_cstr(scheme, "https") || sl_slice_case_eq_cstr(scheme, "wss");
}

/* Fills *o from u: the canonical host (section 5.1.2; an address is written
 * in its standard form so "[::0:1]" and "[::1]" are one host), the path and
 * whether the scheme is secure. Returns 0 or SL_E_INVAL (no usable host). */
static int origin_of(const sl_url *u, struct origin *o)
{
	if (!u)
		return SL_E_INVAL;
	o->ip = u->host_is_ipv4 || u->host_is_ipv6;
	if (o->ip) {
		int n = sl_addr_format(&u->addr, o->host, sizeof o->host);
		if (n <= 0)
			return SL_E_INVAL;
		o->len = (size_t)n;
	} else {
		if (u->host.n == 0 || u->host.n > HOST_MAX)
			return SL_E_INVAL;
		for (size_t i = 0; i < u->host.n; i++)
			o->host[i] = lower(u->host.p[i]);
		o->len = u->host.n;
		o->host[o->len] = '\0';
	}
	o->secure = secure_scheme(u->scheme);
	o->path = u->path.n ? u->path : SL_SLICE_LIT("/");
	return 0;
}

/* ------------------------------------------------------------------ */
/* The cookie-date algorithm (RFC 6265 section 5.1.1)                  */
/* ------------------------------------------------------------------ */

static bool is_delim(unsigned char c)
{
	return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
	       (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* Matches min to max digits that end the token or precede a non-digit. */
static bool lead_digits(sl_slice t, size_t min, size_t max, int *out)
{
	size_t i = 0;
	int v = 0;
	while (i < t.n && i < max && is_digit(t.p[i]))
		v = v * 10 + (t.p[i++] - '0');
	if (i < min || (i < t.n && is_digit(t.p[i])))
		return false;
	*out = v;
	return true;
}

/* hms-time: three 1*2DIGIT fields joined by ':', then nothing or a non-digit. */
static bool time_token(sl_slice t, int hms[3])
{
	size_t i = 0;
	int v[3];
	for (int k = 0; k < 3; k++) {
		size_t start = i;
		v[k] = 0;
		while (i < t.n && i - start < 2 && is_digit(t.p[i]))
			v[k] = v[k] * 10 + (t.p[i++] - '0');
		if (i == start)
			return false;
		if (k < 2 && (i >= t.n || t.p[i++] != ':'))
			return false;
	}
	if (i < t.n && is_digit(t.p[i]))
		return false;
	memcpy(hms, v, sizeof v);
	return true;
}

static bool month_token(sl_slice t, int *mon)
{
	static const char names[12][4] = {"jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec"};
	if (t.n < 3)
		return false;
	for (int m = 0; m < 12; m++)
		if (lower(t.p[0]) == names[m][0] && lower(t.p[1]) == names[m][1] &&
		    lower(t.p[2]) == names[m][2]) {
			*mon = m;
			return true;
		}
	return false;
}

/*
 * Not sl_http_date_parse(): the cookie algorithm accepts far more, and
 * reads two-digit years by a fixed window (70-99 as 19xx) where HTTP reads
 * them relative to the current date.
 */
int sl_cookie_date_parse(sl_slice s, time_t *out)
{
	bool f_time = false, f_day = false, f_mon = false, f_year = false;
	int hms[3] = {0, 0, 0}, day = 0, mon = 0, year = 0;
	size_t i = 0;

	while (i < s.n) {
		while (i < s.n && is_delim((unsigned char)s.p[i]))
			i++;
		size_t start = i;
		while (i < s.n && !is_delim((unsigned char)s.p[i]))
			i++;
		if (i == start)
			break;
		sl_slice t = sl_slice_make(s.p + start, i - start);
		if (!f_time && time_token(t, hms))
			f_time = true;
		else if (!f_day && lead_digits(t, 1, 2, &day))
			f_day = true;
		else if (!f_mon && month_token(t, &mon))
			f_mon = true;
		else if (!f_year && lead_digits(t, 2, 4, &year))
			f_year = true;
	}
	if (!f_time || !f_day || !f_mon || !f_year)
		return SL_E_INVAL;
	if (year >= 70 && year <= 99)
		year += 1900;
	else if (year >= 0 && year <= 69)
		year += 2000;
	if (day < 1 || day > 31 || year < 1601 || hms[0] > 23 || hms[1] > 59 || hms[2] > 59)
		return SL_E_INVAL;
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (day > mdays[mon] || (mon == 1 && day == 29 && !leap))
		return SL_E_INVAL;
	struct tm tm = {
		.tm_year = year - 1900, .tm_mon = mon, .tm_mday = day,
		.tm_hour = hms[0], .tm_min = hms[1], .tm_sec = hms[2],
	};
	*out = timegm(&tm);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The domain table                                                    */
/* ------------------------------------------------------------------ */

static uint32_t hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static struct dom *dom_find(const sl_cookie_jar *jar, const char *name, size_t n)
{
	uint32_t h = hash(name, n);
	for (struct dom *d = jar->tab[h & (jar->ntab - 1)]; d; d = d->next)
		if (d->hash == h && d->len == n && memcmp(d->name, name, n) == 0)
			return d;
	return NULL;
}

static int grow_table(sl_cookie_jar *jar)
{
	size_t n = jar->ntab * 2;
	struct dom **t = calloc(n, sizeof *t);
	if (!t)
		return SL_E_NOMEM;
	for (size_t b = 0; b < jar->ntab; b++) {
		struct dom *d = jar->tab[b], *next;
		for (; d; d = next) {
			next = d->next;
			d->next = t[d->hash & (n - 1)];
			t[d->hash & (n - 1)] = d;
		}
	}
	free(jar->tab);
	jar->tab = t;
	jar->ntab = n;
	return 0;
}

/* Adds an empty entry for a domain not in the table. */
static struct dom *dom_add(sl_cookie_jar *jar, const char *name, size_t n)
{
	if (jar->ndom >= jar->ntab && grow_table(jar) < 0)
		return NULL;
	struct dom *d = calloc(1, sizeof *d + n + 1);
	if (!d)
		return NULL;
	memcpy(d->name, name, n);
	d->len = n;
	d->hash = hash(name, n);
	sl_addr a;
	d->is_ip = sl_addr_parse(name, n, &a) == 0;
	d->next = jar->tab[d->hash & (jar->ntab - 1)];
	jar->tab[d->hash & (jar->ntab - 1)] = d;
	jar->ndom++;
	return d;
}

/* Frees d if it holds no cookie any more. */
static void dom_reap(sl_cookie_jar *jar, struct dom *d)
{
	if (d->n)
		return;
	struct dom **pp = &jar->tab[d->hash & (jar->ntab - 1)];
	while (*pp != d)
		pp = &(*pp)->next;
	*pp = d->next;
	jar->ndom--;
	free(d->v);
	free(d);
}

/* Frees cookie i of d, moving the last one into its place. Leaves d in the
 * table even when empty: the caller reaps it when done with it. */
static void remove_at(sl_cookie_jar *jar, struct dom *d, size_t i)
{
	free(d->v[i]);
	d->v[i] = d->v[--d->n];
	jar->total--;
}

static size_t find_in(const struct dom *d, sl_slice name, sl_slice path)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct cookie *c = d->v[i];
		if (c->name_len == name.n && c->path_len == path.n &&
		    memcmp(c_name(c), name.p, name.n) == 0 && memcmp(c_path(c), path.p, path.n) == 0)
			return i;
	}
	return d->n;
}

/* Removes the cookies of d that pass drop(c, now); does not reap d. */
static size_t sweep(sl_cookie_jar *jar, struct dom *d, bool (*drop)(const struct cookie *, time_t),
		    time_t now)
{
	size_t removed = 0;
	for (size_t i = d->n; i-- > 0;)
		if (drop(d->v[i], now)) {
			remove_at(jar, d, i);
			removed++;
		}
	return removed;
}

static size_t sweep_all(sl_cookie_jar *jar, bool (*drop)(const struct cookie *, time_t),
			time_t now)
{
	size_t removed = 0;
	for (size_t b = 0; b < jar->ntab; b++) {
		struct dom *d = jar->tab[b], *next;
		for (; d; d = next) {
			next = d->next;
			removed += sweep(jar, d, drop, now);
			dom_reap(jar, d);
		}
	}
	return removed;
}

static size_t lru_in(const struct dom *d)
{
	size_t best = 0;
	for (size_t i = 1; i < d->n; i++)
		if (d->v[i]->used < d->v[best]->used)
			best = i;
	return best;
}

static void evict_oldest(sl_cookie_jar *jar)
{
	struct dom *bd = NULL;
	size_t bi = 0;
	for (size_t b = 0; b < jar->ntab; b++)
		for (struct dom *d = jar->tab[b]; d; d = d->next) {
			size_t i = lru_in(d);
			if (!bd || d->v[i]->used < bd->v[bi]->used) {
				bd = d;
				bi = i;
			}
		}
	remove_at(jar, bd, bi);
	dom_reap(jar, bd);
}

/*
 * The limits of section 6.1 and the eviction order of section 5.3 step 12:
 * expired cookies first, then the least recently used of a domain over its
 * share, then the least recently used of the jar. d holds the cookie just
 * stored, the most recently used one, so it is never the one evicted.
 */
static void enforce_limits(sl_cookie_jar *jar, struct dom *d, time_t now)
{
	if (d->n > SL_COOKIE_MAX_PER_DOMAIN) {
		sweep(jar, d, expired, now);
		while (d->n > SL_COOKIE_MAX_PER_DOMAIN)
			remove_at(jar, d, lru_in(d));
	}
	if (jar->total > SL_COOKIE_MAX_TOTAL) {
		sl_cookie_jar_expire(jar, now);
		while (jar->total > SL_COOKIE_MAX_TOTAL)
			evict_oldest(jar);
	}
}

/*
 * The storage model's last steps (section 5.3 steps 11 and 12): replace the
 * cookie with the same name, domain and path, keeping its creation time; a
 * cookie that is already expired only removes that one.
 */
static int store(sl_cookie_jar *jar, const struct cand *in, time_t now)
{
	struct dom *d = dom_find(jar, in->domain, in->domain_len);
	size_t at = d ? find_in(d, in->name, in->path) : 0;
	bool have = d && at < d->n;

	if (in->persistent && in->expiry <= now) {
		if (have) {
			remove_at(jar, d, at);
			dom_reap(jar, d);
		}
		return 0;
	}
	struct cookie *c = malloc(sizeof *c + in->name.n + in->value.n + in->path.n + 3);
	if (!c)
		return SL_E_NOMEM;
	char *p = c->data;
	memcpy(p, in->name.p, in->name.n);
	p += in->name.n;
	*p++ = '\0';
	if (in->value.n)
		memcpy(p, in->value.p, in->value.n);
	p += in->value.n;
	*p++ = '\0';
	memcpy(p, in->path.p, in->path.n);
	p[in->path.n] = '\0';
	c->name_len = in->name.n;
	c->value_len = in->value.n;
	c->path_len = in->path.n;
	c->expiry = in->persistent ? in->expiry : TIME_MAX;
	c->persistent = in->persistent;
	c->host_only = in->host_only;
	c->secure = in->secure;
	c->http_only = in->http_only;
	c->samesite = in->samesite;

	if (have) {
		c->created = d->v[at]->created;
		free(d->v[at]);
		d->v[at] = c;
	} else {
		if (!d && !(d = dom_add(jar, in->domain, in->domain_len))) {
			free(c);
			return SL_E_NOMEM;
		}
		if (d->n == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 4;
			struct cookie **v = realloc(d->v, cap * sizeof *v);
			if (!v) {
				free(c);
				dom_reap(jar, d);
				return SL_E_NOMEM;
			}
			d->v = v;
			d->cap = cap;
		}
		d->v[d->n++] = c;
		jar->total++;
		c->created = ++jar->clock;
	}
	c->dom = d;
	c->used = ++jar->clock;
	enforce_limits(jar, d, now);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Set-Cookie (RFC 6265 sections 5.2 and 5.3)                          */
/* ------------------------------------------------------------------ */

/* A set-cookie-string split into its name, value and attributes; for an
 * attribute given more than once the last one counts, as section 5.3 says. */
struct parsed {
	sl_slice name, value, domain, path;
	time_t expires, max_age;     /* max_age as an expiry time */
	bool has_expires, has_max_age, has_domain, has_path;
	bool secure, http_only;
	enum sl_cookie_samesite samesite;
};

static void attribute(struct parsed *c, sl_slice av, time_t now)
{
	const char *eq = memchr(av.p, '=', av.n);
	sl_slice name = sl_slice_trim_ows(eq ? sl_slice_make(av.p, (size_t)(eq - av.p)) : av);
	sl_slice v = eq ? sl_slice_trim_ows(sl_slice_make(eq + 1, av.n - (size_t)(eq - av.p) - 1))
			: SL_SLICE_NULL;
	if (v.n > SL_COOKIE_MAX_ATTR)
		return;

	if (sl_slice_case_eq_cstr(name, "Expires")) {
		if (sl_cookie_date_parse(v, &c->expires) == 0)
			c->has_expires = true;
	} else if (sl_slice_case_eq_cstr(name, "Max-Age")) {
		/* 1*DIGIT, or '-' and 1*DIGIT; zero or less means "expire now". */
		int64_t delta;
		bool neg = v.n && v.p[0] == '-';
		sl_slice digits = neg ? sl_slice_make(v.p + 1, v.n - 1) : v;
		if (sl_delta_seconds_parse(digits, &delta) < 0)
			return;
		if (neg || delta == 0)
			c->max_age = TIME_MIN;
		else
			c->max_age = now > TIME_MAX - delta ? TIME_MAX : now + (time_t)delta;
		c->has_max_age = true;
	} else if (sl_slice_case_eq_cstr(name, "Domain")) {
		if (v.n == 0)
			return; /* section 5.2.3: undefined, and best ignored */
		if (v.p[0] == '.') {
			v.p++;
			v.n--;
		}
		c->domain = v;
		c->has_domain = true;
	} else if (sl_slice_case_eq_cstr(name, "Path")) {
		/* A relative or empty Path stands for the default path. */
		c->has_path = v.n && v.p[0] == '/';
		c->path = v;
	} else if (sl_slice_case_eq_cstr(name, "Secure")) {
		c->secure = true;
	} else if (sl_slice_case_eq_cstr(name, "HttpOnly")) {
		c->http_only = true;
	} else if (sl_slice_case_eq_cstr(name, "SameSite")) {
		c->samesite = sl_slice_case_eq_cstr(v, "Strict") ? SL_COOKIE_SAMESITE_STRICT
			      : sl_slice_case_eq_cstr(v, "Lax")  ? SL_COOKIE_SAMESITE_LAX
			      : sl_slice_case_eq_cstr(v, "None") ? SL_COOKIE_SAMESITE_NONE
								  : SL_COOKIE_SAMESITE_UNSET;
	}
}

/*
 * Section 5.2. A string without '=' in its name-value pair, or with an
 * empty name, is ignored: RFC 6265 says so, while RFC 6265bis would store
 * "abc" and "=abc" as nameless cookies, which some servers then misread.
 */
static int parse(sl_slice s, time_t now, struct parsed *c)
{
	memset(c, 0, sizeof *c);
	if (s.n == 0)
		return SL_E_COOKIE_SYNTAX;
	const char *end = s.p + s.n;
	const char *semi = memchr(s.p, ';', s.n);
	sl_slice nv = sl_slice_make(s.p, (size_t)((semi ? semi : end) - s.p));
	const char *eq = memchr(nv.p, '=', nv.n);
	if (!eq)
		return SL_E_COOKIE_SYNTAX;
	c->name = sl_slice_trim_ows(sl_slice_make(nv.p, (size_t)(eq - nv.p)));
	c->value = sl_slice_trim_ows(sl_slice_make(eq + 1, (size_t)(nv.p + nv.n - eq - 1)));
	if (c->name.n == 0)
		return SL_E_COOKIE_SYNTAX;
	for (const char *p = semi; p; ) {
		p++;
		const char *q = memchr(p, ';', (size_t)(end - p));
		attribute(c, sl_slice_make(p, (size_t)((q ? q : end) - p)), now);
		p = q;
	}
	return 0;
}

static bool has_prefix_ci(sl_slice s, const char *prefix)
{
	size_t n = strlen(prefix);
	return s.n >= n && strncasecmp(s.p, prefix, n) == 0;
}

/*
 * RFC 6265bis "leave secure cookies alone": whether a Secure cookie with
 * this name lives on a domain that domain-matches the new one or that the
 * new one domain-matches, on a path the new path path-matches. Scans every
 * domain, but only for non-Secure cookies arriving over an insecure scheme.
 */
static bool shadows_secure(const sl_cookie_jar *jar, const struct cand *in, bool in_ip)
{
	for (size_t b = 0; b < jar->ntab; b++)
		for (const struct dom *d = jar->tab[b]; d; d = d->next) {
			if (!domain_match(d->name, d->len, d->is_ip, in->domain, in->domain_len) &&
			    !domain_match(in->domain, in->domain_len, in_ip, d->name, d->len))
				continue;
			for (size_t i = 0; i < d->n; i++) {
				const struct cookie *c = d->v[i];
				if (c->secure && c->name_len == in->name.n &&
				    memcmp(c_name(c), in->name.p, in->name.n) == 0 &&
				    path_match(in->path, c_path(c), c->path_len))
					return true;
			}
		}
	return false;
}

static int set_one(sl_cookie_jar *jar, const struct origin *o, sl_slice s, time_t now)
{
	struct parsed p;
	int rc = parse(s, now, &p);
	if (rc < 0)
		return rc;
	if (p.name.n + p.value.n > SL_COOKIE_MAX_SIZE)
		return SL_E_COOKIE_TOO_LARGE;
	if (has_ctl(p.name) || has_ctl(p.value))
		return SL_E_COOKIE_SYNTAX;

	struct cand in = {
		.name = p.name, .value = p.value,
		.persistent = p.has_max_age || p.has_expires,
		.expiry = p.has_max_age ? p.max_age : p.expires,
		.secure = p.secure, .http_only = p.http_only, .samesite = p.samesite,
		.domain = o->host, .domain_len = o->len, .host_only = true,
	};
	char dom[HOST_MAX + 1];
	if (p.has_domain && p.domain.n) {
		if (p.domain.n > HOST_MAX)
			return SL_E_COOKIE_DOMAIN;
		for (size_t i = 0; i < p.domain.n; i++)
			dom[i] = lower(p.domain.p[i]);
		bool same = p.domain.n == o->len && memcmp(dom, o->host, o->len) == 0;
		if (public_suffix(dom, p.domain.n)) {
			if (!same)
				return SL_E_COOKIE_PUBLIC_SUFFIX;
		} else if (!domain_match(o->host, o->len, o->ip, dom, p.domain.n)) {
			return SL_E_COOKIE_DOMAIN;
		} else if (!o->ip) {
			/* An address only ever gets host-only cookies. */
			in.domain = dom;
			in.domain_len = p.domain.n;
			in.host_only = false;
		}
	}
	in.path = p.has_path ? p.path : default_path(o->path);
	if (has_ctl(in.path))
		return SL_E_COOKIE_SYNTAX;

	if (in.secure && !o->secure)
		return SL_E_COOKIE_INSECURE;
	if (has_prefix_ci(in.name, "__Secure-") && !in.secure)
		return SL_E_COOKIE_PREFIX;
	if (has_prefix_ci(in.name, "__Host-") &&
	    (!in.secure || !in.host_only || !sl_slice_eq_cstr(in.path, "/")))
		return SL_E_COOKIE_PREFIX;
	if (!in.secure && !o->secure && shadows_secure(jar, &in, o->ip))
		return SL_E_COOKIE_INSECURE;
	return store(jar, &in, now);
}

int sl_cookie_jar_set_cookie(sl_cookie_jar *jar, const sl_url *request_url, sl_slice set_cookie,
			     time_t now)
{
	assert(jar && jar->magic == SL_COOKIE_JAR_MAGIC);
	struct origin o;
	int rc = origin_of(request_url, &o);
	return rc < 0 ? rc : set_one(jar, &o, set_cookie, now);
}

int sl_cookie_jar_set_from_response(sl_cookie_jar *jar, const sl_url *request_url,
				    const sl_field *fields, size_t n, time_t now)
{
	assert(jar && jar->magic == SL_COOKIE_JAR_MAGIC);
	struct origin o;
	int rc = origin_of(request_url, &o), taken = 0;
	if (rc < 0)
		return rc;
	for (size_t i = sl_headers_find(fields, n, "Set-Cookie"); i < n;
	     i = sl_headers_find_next(fields, n, "Set-Cookie", i)) {
		rc = set_one(jar, &o, fields[i].value, now);
		if (rc == SL_E_NOMEM)
			return rc;
		if (rc == 0)
			taken++;
	}
	return taken;
}

/* ------------------------------------------------------------------ */
/* The Cookie header (RFC 6265 section 5.4)                            */
/* ------------------------------------------------------------------ */

/* Longer paths first, then earlier creation. */
static int header_order(const void *a, const void *b)
{
	const struct cookie *x = *(const struct cookie *const *)a;
	const struct cookie *y = *(const struct cookie *const *)b;
	if (x->path_len != y->path_len)
		return x->path_len > y->path_len ? -1 : 1;
	return x->created < y->created ? -1 : x->created > y->created;
}

static int scratch_push(sl_cookie_jar *jar, size_t *n, struct cookie *c)
{
	if (*n == jar->scratch_cap) {
		size_t cap = jar->scratch_cap ? jar->scratch_cap * 2 : 32;
		struct cookie **v = realloc(jar->scratch, cap * sizeof *v);
		if (!v)
			return SL_E_NOMEM;
		jar->scratch = v;
		jar->scratch_cap = cap;
	}
	jar->scratch[(*n)++] = c;
	return 0;
}

/* Adds the cookies of d that o may receive to the scratch array and drops
 * the expired ones; exact says whether d is the host itself or a parent. */
static int collect(sl_cookie_jar *jar, struct dom *d, const struct origin *o, bool exact,
		   bool http_api, time_t now, size_t *n)
{
	for (size_t i = d->n; i-- > 0;) {
		struct cookie *c = d->v[i];
		if (expired(c, now)) {
			remove_at(jar, d, i);
			continue;
		}
		if ((c->host_only && !exact) || (c->secure && !o->secure) ||
		    (c->http_only && !http_api) || !path_match(o->path, c_path(c), c->path_len))
			continue;
		if (scratch_push(jar, n, c) < 0)
			return SL_E_NOMEM;
	}
	return 0;
}

int sl_cookie_jar_header(sl_cookie_jar *jar, const sl_url *url, time_t now, bool http_api,
			 char *out, size_t cap)
{
	assert(jar && jar->magic == SL_COOKIE_JAR_MAGIC);
	struct origin o;
	int rc = origin_of(url, &o);
	if (cap)
		out[0] = '\0';
	if (rc < 0)
		return rc;

	/* The host and each parent domain: "a.b.c", "b.c", "c". */
	size_t n = 0;
	const char *s = o.host;
	size_t sn = o.len;
	while (sn) {
		struct dom *d = dom_find(jar, s, sn);
		if (d) {
			rc = collect(jar, d, &o, s == o.host, http_api, now, &n);
			dom_reap(jar, d);
			if (rc < 0)
				return rc;
		}
		const char *dot = o.ip ? NULL : memchr(s, '.', sn);
		if (!dot)
			break;
		sn -= (size_t)(dot + 1 - s);
		s = dot + 1;
	}
	if (n == 0)
		return 0;

	qsort(jar->scratch, n, sizeof *jar->scratch, header_order);
	size_t len = 2 * (n - 1);
	for (size_t i = 0; i < n; i++)
		len += jar->scratch[i]->name_len + 1 + jar->scratch[i]->value_len;
	if (len >= cap || len > INT_MAX)
		return SL_E_COOKIE_NOSPACE;
	char *p = out;
	for (size_t i = 0; i < n; i++) {
		const struct cookie *c = jar->scratch[i];
		if (i) {
			*p++ = ';';
			*p++ = ' ';
		}
		memcpy(p, c_name(c), c->name_len);
		p += c->name_len;
		*p++ = '=';
		memcpy(p, c_value(c), c->value_len);
		p += c->value_len;
		jar->scratch[i]->used = ++jar->clock;
	}
	*p = '\0';
	return (int)len;
}

/* ------------------------------------------------------------------ */
/* The jar                                                             */
/* ------------------------------------------------------------------ */

sl_cookie_jar *sl_cookie_jar_new(void)
{
	sl_cookie_jar *jar = calloc(1, sizeof *jar);
	if (!jar)
		return NULL;
	jar->tab = calloc(TABLE_MIN, sizeof *jar->tab);
	if (!jar->tab) {
		free(jar);
		return NULL;
	}
	jar->ntab = TABLE_MIN;
	jar->magic = SL_COOKIE_JAR_MAGIC;
	return jar;
}

void sl_cookie_jar_free(sl_cookie_jar *jar)
{
	if (!jar)
		return;
	assert(jar->magic == SL_COOKIE_JAR_MAGIC);
	for (size_t b = 0; b < jar->ntab; b++) {
		struct dom *d = jar->tab[b], *next;
		for (; d; d = next) {
			next = d->next;
			for (size_t i = 0; i < d->n; i++)
				free(d->v[i]);
			free(d->v);
			free(d);
		}
	}
	free(jar->tab);
	free(jar->scratch);
	jar->magic = 0;
	free(jar);
}

size_t sl_cookie_jar_expire(sl_cookie_jar *jar, time_t now)
{
	assert(jar && jar->magic == SL_COOKIE_JAR_MAGIC);
	return sweep_all(jar, expired, now);
}

static bool session(const struct cookie *c, time_t now)
{
	(void)now;
	return !c->persistent;
}

size_t sl_cookie_jar_end_session(sl_cookie_jar *jar)
{
	assert(jar && jar->magic == SL_COOKIE_JAR_MAGIC);
	return sweep_all(jar, session, 0);
}

size_t sl_cookie_jar_count(const sl_cookie_jar *jar)
{
	assert(jar && jar->magic == SL_COOKIE_JAR_MAGIC);
	return jar->total;
}

bool sl_cookie_jar_find(const sl_cookie_jar *jar, const char *domain, const char *path,
			const char *name, sl_cookie_info *out)
{
	assert(jar && jar->magic == SL_COOKIE_JAR_MAGIC);
	const struct dom *d = dom_find(jar, domain, strlen(domain));
	if (!d)
		return false;
	size_t i = find_in(d, sl_slice_cstr(name), sl_slice_cstr(path));
	if (i == d->n)
		return false;
	const struct cookie *c = d->v[i];
	*out = (sl_cookie_info){
		.name = c_name(c), .value = c_value(c), .domain = d->name, .path = c_path(c),
		.expiry = c->persistent ? c->expiry : 0, .persistent = c->persistent,
		.host_only = c->host_only, .secure = c->secure, .http_only = c->http_only,
		.samesite = c->samesite,
	};
	return true;
}

/* ------------------------------------------------------------------ */
/* The Netscape cookie file                                            */
/* ------------------------------------------------------------------ */

static int by_creation(const void *a, const void *b)
{
	const struct cookie *x = *(const struct cookie *const *)a;
	const struct cookie *y = *(const struct cookie *const *)b;
	return x->created < y->created ? -1 : x->created > y->created;
}

static int write_cookies(FILE *f, struct cookie **v, size_t n)
{
	fputs("# Netscape HTTP Cookie File\n"
	      "# Written by sluice; curl and wget read this format.\n\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct cookie *c = v[i];
		fprintf(f, "%s%s%s\t%s\t%s\t%s\t%lld\t%s\t%s\n", c->http_only ? "#HttpOnly_" : "",
			c->host_only ? "" : ".", c->dom->name, c->host_only ? "FALSE" : "TRUE",
			c_path(c), c->secure ? "TRUE" : "FALSE", (long long)c->expiry, c_name(c),
			c_value(c));
	}
	if (fflush(f) != 0 || ferror(f))
		return errno ? -errno : -EIO;
	if (fsync(fileno(f)) < 0)
		return -errno;
	return 0;
}

int sl_cookie_jar_save(const sl_cookie_jar *jar, const char *path, time_t now)
{
	assert(jar && jar->magic == SL_COOKIE_JAR_MAGIC);
	struct cookie **v = malloc((jar->total ? jar->total : 1) * sizeof *v);
	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof ".XXXXXX");
	int rc = 0;
	if (!v || !tmp) {
		rc = SL_E_NOMEM;
		goto out;
	}
	size_t n = 0;
	for (size_t b = 0; b < jar->ntab; b++)
		for (const struct dom *d = jar->tab[b]; d; d = d->next)
			for (size_t i = 0; i < d->n; i++)
				if (d->v[i]->persistent && !expired(d->v[i], now))
					v[n++] = d->v[i];
	qsort(v, n, sizeof *v, by_creation);

	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".XXXXXX", sizeof ".XXXXXX");
	int fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	FILE *f = fchmod(fd, 0600) == 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		rc = -errno;
		close(fd);
	} else {
		errno = 0;
		rc = write_cookies(f, v, n);
		if (fclose(f) != 0 && rc == 0)
			rc = -errno;
	}
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
out:
	free(tmp);
	free(v);
	return rc;
}

/* The expiry field: decimal seconds since the epoch, saturating at TIME_MAX
 * (sl_delta_seconds_parse() would stop at 2038). */
static int epoch(sl_slice s, time_t *out)
{
	int64_t v = 0;
	if (s.n == 0)
		return SL_E_INVAL;
	for (size_t i = 0; i < s.n; i++) {
		if (!is_digit(s.p[i]))
			return SL_E_INVAL;
		if (v < TIME_MAX)
			v = v * 10 + (s.p[i] - '0');
	}
	*out = v > TIME_MAX ? TIME_MAX : (time_t)v;
	return 0;
}

static int flag(sl_slice s, bool *out)
{
	if (sl_slice_case_eq_cstr(s, "TRUE"))
		*out = true;
	else if (sl_slice_case_eq_cstr(s, "FALSE"))
		*out = false;
	else
		return SL_E_INVAL;
	return 0;
}

/*
 * One line of a cookie file: seven fields separated by tabs, or six when
 * the value is empty. Returns 0 (stored, or skipped as a comment, a blank
 * line or an expired cookie), SL_E_INVAL for a malformed line, SL_E_NOMEM.
 */
static int load_line(sl_cookie_jar *jar, char *s, size_t n, time_t now)
{
	bool http_only = false;
	if (n >= 10 && memcmp(s, "#HttpOnly_", 10) == 0) {
		http_only = true;
		s += 10;
		n -= 10;
	} else if (n == 0 || s[0] == '#' || strspn(s, " \t") == n) {
		return 0;
	}
	sl_slice f[7];
	size_t nf = 0;
	for (char *p = s, *end = s + n; ; ) {
		char *tab = memchr(p, '\t', (size_t)(end - p));
		if (nf == 7)
			return SL_E_INVAL;
		f[nf++] = sl_slice_make(p, (size_t)((tab ? tab : end) - p));
		if (!tab)
			break;
		p = tab + 1;
	}
	if (nf == 6)
		f[nf++] = SL_SLICE_NULL;
	if (nf != 7)
		return SL_E_INVAL;

	struct cand in = {.name = f[5], .value = f[6], .path = f[2], .http_only = http_only};
	bool subdomains;
	time_t expiry;
	sl_slice dom = f[0];
	if (dom.n && dom.p[0] == '.') {
		dom.p++;
		dom.n--;
	}
	if (dom.n == 0 || dom.n > HOST_MAX || has_ctl(dom) || flag(f[1], &subdomains) < 0 ||
	    flag(f[3], &in.secure) < 0 || epoch(f[4], &expiry) < 0 ||
	    f[2].n == 0 || f[2].p[0] != '/' || has_ctl(f[2]) || in.name.n == 0 ||
	    in.name.n + in.value.n > SL_COOKIE_MAX_SIZE || has_ctl(in.name) || has_ctl(in.value))
		return SL_E_INVAL;
	/* Lowercase in place: the line buffer is ours. */
	char *d = (char *)dom.p;
	for (size_t i = 0; i < dom.n; i++)
		d[i] = lower(d[i]);
	in.host_only = !subdomains;
	if (!in.host_only && public_suffix(d, dom.n))
		return SL_E_INVAL;
	in.domain = d;
	in.domain_len = dom.n;
	/* An expiry of 0 is how curl writes a session cookie. */
	in.persistent = expiry != 0;
	in.expiry = expiry;
	if (in.persistent && in.expiry <= now)
		return 0;
	return store(jar, &in, now);
}

int sl_cookie_jar_load(sl_cookie_jar *jar, const char *path, time_t now)
{
	assert(jar && jar->magic == SL_COOKIE_JAR_MAGIC);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int bad = 0, rc = 0;
	for (errno = 0; (len = getline(&line, &cap, f)) >= 0; errno = 0) {
		size_t n = (size_t)len;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		rc = load_line(jar, line, n, now);
		if (rc == SL_E_NOMEM)
			break;
		if (rc < 0 && bad < INT_MAX)
			bad++;
		rc = 0;
	}
	if (rc == 0 && (ferror(f) || errno))
		rc = errno ? -errno : -EIO;
	free(line);
	fclose(f);
	return rc < 0 ? rc : bad;
}
