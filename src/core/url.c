/*
 * URLs per RFC 3986 (see url.h). One grammar-driven scanner, parse_ref(),
 * splits any URI reference into slices the way Appendix B does and then
 * checks each component's characters against the Section 3 grammar, so a
 * URL that parses is one the rest of the proxy can forward, log and key
 * without further escaping. Resolution (Section 5.2), serialisation and
 * the cache key all write through a bounded writer into the caller's
 * buffer; dot segments are removed in place, since the algorithm of
 * Section 5.2.4 never writes ahead of what it reads. No allocation, no
 * global state.
 */
#include "core/url.h"

#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"

/* Character classes of RFC 3986 section 2 and 3, for 7-bit bytes. */
enum {
	C_ALPHA = 1 << 0,
	C_DIGIT = 1 << 1,
	C_UNRES = 1 << 2, /* ALPHA DIGIT "-" "." "_" "~" */
	C_SUBD = 1 << 3,  /* "!" "$" "&" "'" "(" ")" "*" "+" "," ";" "=" */
	C_COLON = 1 << 4,
	C_AT = 1 << 5,
	C_SLASH = 1 << 6,
	C_QMARK = 1 << 7,
	C_SCHEME = 1 << 8, /* ALPHA DIGIT "+" "-" "." */
	C_HEX = 1 << 9,
};

#define REG_NAME (C_UNRES | C_SUBD)
#define USERINFO (C_UNRES | C_SUBD | C_COLON)
#define PCHAR (C_UNRES | C_SUBD | C_COLON | C_AT)
#define PATH (PCHAR | C_SLASH)
#define QUERY (PCHAR | C_SLASH | C_QMARK)

/* The class of every 7-bit byte (GNU range designators keep it short);
 * bytes from 0x80 belong to no class. */
#define CL_A (C_ALPHA | C_UNRES | C_SCHEME)
#define CL_D (C_DIGIT | C_UNRES | C_SCHEME | C_HEX)
static const uint16_t cls_tab[128] = {
	['a' ... 'f'] = CL_A | C_HEX,
	['g' ... 'z'] = CL_A,
	['A' ... 'F'] = CL_A | C_HEX,
	['G' ... 'Z'] = CL_A,
	['0' ... '9'] = CL_D,
	['-'] = C_UNRES | C_SCHEME,
	['.'] = C_UNRES | C_SCHEME,
	['_'] = C_UNRES,
	['~'] = C_UNRES,
	['+'] = C_SUBD | C_SCHEME,
	['!'] = C_SUBD,
	['$'] = C_SUBD,
	['&'] = C_SUBD,
	['\''] = C_SUBD,
	['('] = C_SUBD,
	[')'] = C_SUBD,
	['*'] = C_SUBD,
	[','] = C_SUBD,
	[';'] = C_SUBD,
	['='] = C_SUBD,
	[':'] = C_COLON,
	['@'] = C_AT,
	['/'] = C_SLASH,
	['?'] = C_QMARK,
};
#undef CL_A
#undef CL_D

static inline bool is(char c, unsigned mask)
{
	unsigned char u = (unsigned char)c;

	return u < 128 && (cls_tab[u] & mask) != 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Checks that every byte of p is in mask or starts a valid "%" HEXDIG
 * HEXDIG. Returns 0, SL_E_URL_BAD_PERCENT or bad. */
static int check(const char *p, size_t n, unsigned mask, int bad)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '%') {
			if (n - i < 3 || !is(p[i + 1], C_HEX) || !is(p[i + 2], C_HEX))
				return SL_E_URL_BAD_PERCENT;
			i += 2;
		} else if (!is(p[i], mask)) {
			return bad;
		}
	}
	return 0;
}

static bool numeric_label(const char *s, size_t n)
{
	size_t i = 0;

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < n; i++)
			if (!is(s[i], C_HEX))
				return false;
		return true;
	}
	for (; i < n; i++)
		if (!is(s[i], C_DIGIT))
			return false;
	return n > 0;
}

/* True when the last label of a host is a number: resolvers would read such
 * a name as an IPv4 address in one of inet_aton()'s loose forms. */
static bool ends_in_number(const char *s, size_t n)
{
	size_t start = n;

	if (n && s[n - 1] == '.')
		n--;
	start = n;
	while (start > 0 && s[start - 1] != '.')
		start--;
	return numeric_label(s + start, n - start);
}

/* Reads *DIGIT as a port: leading zeros are allowed by the grammar, the
 * value must be 1..65535. */
static int parse_port(const char *p, size_t n, uint16_t *port)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is(p[i], C_DIGIT))
			return SL_E_URL_BAD_PORT;
		v = v * 10 + (unsigned)(p[i] - '0');
		if (v > 65535)
			return SL_E_URL_BAD_PORT;
	}
	if (v == 0)
		return SL_E_URL_BAD_PORT;
	*port = (uint16_t)v;
	return 0;
}

/* authority = [ userinfo "@" ] host [ ":" port ]; in CONNECT's form there
 * is no userinfo, so an '@' is a bad host character. */
static int parse_authority(const char *s, size_t n, sl_url *u, bool connect_form)
{
	const char *end = s + n, *hs = s, *port = NULL;
	int rc;

	u->authority = sl_slice_make(s, n);
	u->has_authority = true;
	if (!connect_form) {
		const char *at = NULL;
		for (const char *q = s; q < end; q++)
			if (*q == '@')
				at = q;
		if (at) {
			u->userinfo = sl_slice_make(s, (size_t)(at - s));
			u->has_userinfo = true;
			rc = check(s, (size_t)(at - s), USERINFO, SL_E_URL_BAD_USERINFO);
			if (rc < 0)
				return rc;
			hs = at + 1;
		}
	}
	if (hs < end && *hs == '[') {
		const char *close = memchr(hs, ']', (size_t)(end - hs));
		if (!close)
			return SL_E_URL_BAD_IPV6;
		u->host = sl_slice_make(hs + 1, (size_t)(close - hs - 1));
		/* IPvFuture ("v1.x") is grammatical but nothing can route it. */
		if (sl_addr_parse(u->host.p, u->host.n, &u->addr) < 0 ||
		    u->addr.family != AF_INET6)
			return SL_E_URL_BAD_IPV6;
		u->host_is_ipv6 = true;
		if (close + 1 < end) {
			if (close[1] != ':')
				return SL_E_URL_BAD_HOST;
			port = close + 2;
		}
	} else {
		const char *colon = memchr(hs, ':', (size_t)(end - hs));
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return SL_E_URL_BAD_IPV6; /* an IPv6 literal without brackets */
		u->host = sl_slice_make(hs, colon ? (size_t)(colon - hs) : (size_t)(end - hs));
		/* RFC 3986 allows percent-encoding in a reg-name, but no DNS
		 * name needs it and decoding it would let "127.0.0.%31" slip
		 * past the address checks: refuse it. */
		if (memchr(u->host.p, '%', u->host.n))
			return SL_E_URL_BAD_HOST;
		rc = check(u->host.p, u->host.n, REG_NAME, SL_E_URL_BAD_HOST);
		if (rc < 0)
			return rc;
		if (u->host.n && sl_addr_parse(u->host.p, u->host.n, &u->addr) == 0)
			u->host_is_ipv4 = true;
		else if (ends_in_number(u->host.p, u->host.n))
			return SL_E_URL_BAD_HOST;
		if (colon)
			port = colon + 1;
	}
	if (port) {
		u->port_str = sl_slice_make(port, (size_t)(end - port));
		if (u->port_str.n) {
			rc = parse_port(port, u->port_str.n, &u->port);
			if (rc < 0)
				return rc;
			u->has_port = true;
		}
	}
	return 0;
}

static int prescan(const char *s, size_t n)
{
	if (n > SL_URL_MAX_LEN)
		return SL_E_URL_TOO_LONG;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return SL_E_URL_BAD_CHAR;
	}
	return 0;
}

/* Splits a URI-reference (section 4.1) into u and checks its components.
 * With absolute set the scheme is required. */
static int parse_ref(const char *s, size_t n, sl_url *u, bool absolute)
{
	size_t i = 0, k = 0, start;
	int rc;

	memset(u, 0, sizeof *u);
	rc = prescan(s, n);
	if (rc < 0)
		return rc;
	while (k < n && s[k] != ':' && s[k] != '/' && s[k] != '?' && s[k] != '#')
		k++;
	if (k < n && s[k] == ':') {
		/* A ':' before any '/', '?' or '#' ends a scheme: a relative
		 * reference cannot have one in its first segment (path-noscheme). */
		if (k == 0 || !is(s[0], C_ALPHA))
			return SL_E_URL_BAD_SCHEME;
		for (size_t j = 1; j < k; j++)
			if (!is(s[j], C_SCHEME))
				return SL_E_URL_BAD_SCHEME;
		u->scheme = sl_slice_make(s, k);
		i = k + 1;
	} else if (absolute) {
		return SL_E_URL_BAD_SCHEME;
	}
	if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
		i += 2;
		start = i;
		while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#')
			i++;
		rc = parse_authority(s + start, i - start, u, false);
		if (rc < 0)
			return rc;
	}
	start = i;
	while (i < n && s[i] != '?' && s[i] != '#')
		i++;
	u->path = sl_slice_make(s + start, i - start);
	rc = check(u->path.p, u->path.n, PATH, SL_E_URL_BAD_CHAR);
	if (rc < 0)
		return rc;
	if (i < n && s[i] == '?') {
		start = ++i;
		while (i < n && s[i] != '#')
			i++;
		u->query = sl_slice_make(s + start, i - start);
		u->has_query = true;
		rc = check(u->query.p, u->query.n, QUERY, SL_E_URL_BAD_CHAR);
		if (rc < 0)
			return rc;
	}
	if (i < n && s[i] == '#') {
		i++;
		u->fragment = sl_slice_make(s + i, n - i);
		u->has_fragment = true;
		rc = check(u->fragment.p, u->fragment.n, QUERY, SL_E_URL_BAD_CHAR);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Checks and splits an absolute URL; see url.h for the rules and codes. The
 * slices of out point into s. */
int sl_url_parse(const char *s, size_t n, sl_url *out)
{
	sl_url u;
	uint16_t def;
	int rc;

	if (!out || (!s && n))
		return SL_E_INVAL;
	if (n == 0)
		return SL_E_URL_EMPTY;
	rc = parse_ref(s, n, &u, true);
	if (rc < 0)
		return rc;
	def = sl_url_default_port(u.scheme);
	if (def && (!u.has_authority || u.host.n == 0))
		return SL_E_URL_NO_HOST;
	if (!u.has_port)
		u.port = def;
	*out = u;
	return 0;
}

/* Checks and splits CONNECT's host:port; see url.h. */
int sl_url_parse_authority(const char *s, size_t n, sl_url *out)
{
	sl_url u;
	int rc;

	if (!out || (!s && n))
		return SL_E_INVAL;
	if (n == 0)
		return SL_E_URL_EMPTY;
	memset(&u, 0, sizeof u);
	rc = prescan(s, n);
	if (rc < 0)
		return rc;
	rc = parse_authority(s, n, &u, true);
	if (rc < 0)
		return rc;
	if (u.host.n == 0)
		return SL_E_URL_NO_HOST;
	if (!u.has_port)
		return SL_E_URL_BAD_PORT;
	*out = u;
	return 0;
}

/* Returns the default port of scheme, or 0; see url.h. */
uint16_t sl_url_default_port(sl_slice scheme)
{
	static const struct {
		const char *name;
		uint16_t port;
	} table[] = {
		{"http", 80},     {"https", 443},    {"ws", 80},         {"wss", 443},
		{"socks", 1080},  {"socks4", 1080},  {"socks5", 1080},   {"socks5h", 1080},
		{"ftp", 21},
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (sl_slice_case_eq_cstr(scheme, table[i].name))
			return table[i].port;
	return 0;
}

/* Removes dot segments in place (section 5.2.4). The input buffer is
 * p[in..n) and the output buffer p[0..out), with out <= in throughout, so
 * the copy of step E never overwrites unread input. Where the RFC replaces
 * a prefix of the input by "/", the input resumes at the prefix's last
 * byte, which is already '/' ("/./", "/../") or is overwritten with one
 * (a final "/." or "/.."); that byte has been read already. */
size_t sl_url_remove_dot_segments(char *p, size_t n)
{
	size_t in = 0, out = 0;

	if (!p)
		return 0;
	while (in < n) {
		const char *s = p + in;
		size_t left = n - in;

		if (left >= 3 && s[0] == '.' && s[1] == '.' && s[2] == '/') {
			in += 3; /* A: "../" */
		} else if (left >= 2 && s[0] == '.' && s[1] == '/') {
			in += 2; /* A: "./" */
		} else if (left >= 3 && s[0] == '/' && s[1] == '.' && s[2] == '/') {
			in += 2; /* B: "/./" becomes "/" */
		} else if (left == 2 && s[0] == '/' && s[1] == '.') {
			p[in + 1] = '/'; /* B: a final "/." becomes "/" */
			in += 1;
		} else if ((left >= 4 && s[0] == '/' && s[1] == '.' && s[2] == '.' &&
			    s[3] == '/') ||
			   (left == 3 && s[0] == '/' && s[1] == '.' && s[2] == '.')) {
			/* C: "/../" or a final "/.." becomes "/", and the last
			 * output segment goes with its preceding '/'. */
			if (left == 3) {
				p[in + 2] = '/';
				in += 2;
			} else {
				in += 3;
			}
			while (out > 0 && p[out - 1] != '/')
				out--;
			if (out > 0)
				out--;
		} else if ((left == 1 && s[0] == '.') ||
			   (left == 2 && s[0] == '.' && s[1] == '.')) {
			in = n; /* D */
		} else {
			/* E: move "/segment" or "segment" to the output. */
			if (p[in] == '/')
				p[out++] = p[in++];
			while (in < n && p[in] != '/')
				p[out++] = p[in++];
		}
	}
	return out;
}

/* A bounded writer: once something does not fit, everything after is
 * dropped and the result is SL_E_URL_TOO_LONG. One byte is kept for the
 * NUL. */
struct wr {
	char *p;
	size_t cap;
	size_t n;
	bool over;
};

static void wr_init(struct wr *w, char *p, size_t cap)
{
	w->p = p;
	w->cap = cap;
	w->n = 0;
	w->over = cap == 0;
}

static void put(struct wr *w, const char *s, size_t n)
{
	if (w->over || n == 0)
		return;
	if (n >= w->cap - w->n) {
		w->over = true;
		return;
	}
	memcpy(w->p + w->n, s, n);
	w->n += n;
}

static void put_char(struct wr *w, char c)
{
	put(w, &c, 1);
}

static void put_slice(struct wr *w, sl_slice s)
{
	put(w, s.p, s.n);
}

static void put_port(struct wr *w, uint16_t port)
{
	char tmp[5];
	size_t k = sizeof tmp;

	do {
		tmp[--k] = (char)('0' + port % 10);
		port /= 10;
	} while (port);
	put(w, tmp + k, sizeof tmp - k);
}

static int wr_end(struct wr *w)
{
	if (w->over || w->n > INT_MAX) {
		if (w->cap > 0)
			w->p[0] = '\0';
		return SL_E_URL_TOO_LONG;
	}
	w->p[w->n] = '\0';
	return (int)w->n;
}

static bool host_needs_brackets(const sl_url *u)
{
	return u->host_is_ipv6 || (u->host.n && memchr(u->host.p, ':', u->host.n));
}

static void put_host(struct wr *w, const sl_url *u)
{
	bool br = host_needs_brackets(u);

	if (br)
		put_char(w, '[');
	put_slice(w, u->host);
	if (br)
		put_char(w, ']');
}

static bool has_auth(const sl_url *u)
{
	return u->has_authority || u->host.n > 0;
}

/* Writes the authority as parsed when there is a raw one, else composes
 * it from its parts (for an sl_url the caller filled in by hand). */
static void put_authority(struct wr *w, const sl_url *u)
{
	if (u->authority.n) {
		put_slice(w, u->authority);
		return;
	}
	if (u->has_userinfo) {
		put_slice(w, u->userinfo);
		put_char(w, '@');
	}
	put_host(w, u);
	if (u->has_port) {
		put_char(w, ':');
		put_port(w, u->port);
	}
}

/* Writes a path with dot segments removed, working in place in the output. */
static void put_path_rds(struct wr *w, sl_slice path)
{
	size_t start = w->n;

	put_slice(w, path);
	if (!w->over)
		w->n = start + sl_url_remove_dot_segments(w->p + start, w->n - start);
}

/* Without an authority a path may not begin with "//" (section 3.3): it
 * would read back as one. Removing dot segments can produce such a path
 * ("/.//x"), so "/." goes in front of it, which keeps the same path. */
static void guard_path(struct wr *w, size_t path_start)
{
	if (w->over || w->n - path_start < 2 || w->p[path_start] != '/' ||
	    w->p[path_start + 1] != '/')
		return;
	put(w, "..", 2);
	if (w->over)
		return;
	memmove(w->p + path_start + 2, w->p + path_start, w->n - 2 - path_start);
	w->p[path_start] = '/';
	w->p[path_start + 1] = '.';
}

/* Resolves ref against base into buf (section 5.2.2, strict); see url.h. */
int sl_url_resolve(const sl_url *base, const char *ref, size_t n, char *buf, size_t cap)
{
	sl_url r;
	struct wr w;
	bool auth;
	size_t path_start;
	int rc;

	if (!base || !buf || (!ref && n) || base->scheme.n == 0)
		return SL_E_INVAL;
	rc = parse_ref(ref, n, &r, false);
	if (rc < 0)
		return rc;
	wr_init(&w, buf, cap);
	if (r.scheme.n) {
		put_slice(&w, r.scheme);
		put_char(&w, ':');
		auth = r.has_authority;
		if (auth) {
			put(&w, "//", 2);
			put_slice(&w, r.authority);
		}
		path_start = w.n;
		put_path_rds(&w, r.path);
	} else {
		put_slice(&w, base->scheme);
		put_char(&w, ':');
		auth = r.has_authority || has_auth(base);
		if (auth)
			put(&w, "//", 2);
		if (r.has_authority)
			put_slice(&w, r.authority);
		else if (auth)
			put_authority(&w, base);
		path_start = w.n;
		if (r.has_authority || (r.path.n && r.path.p[0] == '/')) {
			put_path_rds(&w, r.path);
		} else if (r.path.n == 0) {
			put_slice(&w, base->path);
			if (!r.has_query && base->has_query) {
				r.has_query = true;
				r.query = base->query;
			}
		} else {
			/* Section 5.2.3, merge, then remove the dot segments. */
			size_t start = w.n, keep = base->path.n;
			if (has_auth(base) && base->path.n == 0) {
				put_char(&w, '/');
			} else {
				while (keep > 0 && base->path.p[keep - 1] != '/')
					keep--;
				put(&w, base->path.p, keep);
			}
			put_slice(&w, r.path);
			if (!w.over)
				w.n = start + sl_url_remove_dot_segments(w.p + start, w.n - start);
		}
	}
	if (!auth)
		guard_path(&w, path_start);
	if (r.has_query) {
		put_char(&w, '?');
		put_slice(&w, r.query);
	}
	if (r.has_fragment) {
		put_char(&w, '#');
		put_slice(&w, r.fragment);
	}
	return wr_end(&w);
}

/* Resolves then parses the target; see url.h. */
int sl_url_parse_ref(const sl_url *base, const char *ref, size_t n, char *buf, size_t cap,
		     sl_url *out)
{
	int len, rc;

	if (!out)
		return SL_E_INVAL;
	len = sl_url_resolve(base, ref, n, buf, cap);
	if (len < 0)
		return len;
	rc = sl_url_parse(buf, (size_t)len, out);
	return rc < 0 ? rc : len;
}

/* Serialises u into out; see url.h. */
int sl_url_format(const sl_url *u, char *out, size_t cap)
{
	struct wr w;

	if (!u || !out || u->scheme.n == 0)
		return SL_E_INVAL;
	wr_init(&w, out, cap);
	put_slice(&w, u->scheme);
	put_char(&w, ':');
	if (has_auth(u)) {
		put(&w, "//", 2);
		if (u->has_userinfo) {
			put_slice(&w, u->userinfo);
			put_char(&w, '@');
		}
		put_host(&w, u);
		if (u->has_port) {
			put_char(&w, ':');
			put_port(&w, u->port);
		}
	}
	put_slice(&w, u->path);
	if (u->has_query) {
		put_char(&w, '?');
		put_slice(&w, u->query);
	}
	if (u->has_fragment) {
		put_char(&w, '#');
		put_slice(&w, u->fragment);
	}
	return wr_end(&w);
}

/* Writes the origin-form target; see url.h. */
int sl_url_request_target(const sl_url *u, char *out, size_t cap)
{
	struct wr w;

	if (!u || !out)
		return SL_E_INVAL;
	wr_init(&w, out, cap);
	if (u->path.n)
		put_slice(&w, u->path);
	else
		put_char(&w, '/');
	if (u->has_query) {
		put_char(&w, '?');
		put_slice(&w, u->query);
	}
	return wr_end(&w);
}

/* Writes the Host field value; see url.h. */
int sl_url_host_header(const sl_url *u, char *out, size_t cap)
{
	struct wr w;

	if (!u || !out)
		return SL_E_INVAL;
	wr_init(&w, out, cap);
	put_host(&w, u);
	if (u->has_port && u->port != sl_url_default_port(u->scheme)) {
		put_char(&w, ':');
		put_port(&w, u->port);
	}
	return wr_end(&w);
}

/* Section 6.2.2.1 and 6.2.2.2: percent-encoded unreserved characters are
 * decoded, other percent-encodings get uppercase hex digits (a stray '%'
 * in a hand-built sl_url is copied as it is). With fold,
 * letters are lowercased too (for the host, section 6.2.2.1). With decode
 * false only the hex case changes (for the query, kept as sent). */
static void put_pct_norm(struct wr *w, sl_slice s, bool fold, bool decode)
{
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];
		if (c == '%' && s.n - i >= 3 && is(s.p[i + 1], C_HEX) && is(s.p[i + 2], C_HEX)) {
			char d = (char)(sl_hex_digit(s.p[i + 1]) << 4 | sl_hex_digit(s.p[i + 2]));
			if (decode && is(d, C_UNRES)) {
				put_char(w, fold ? lower(d) : d);
			} else {
				char e[3] = {'%', upper(s.p[i + 1]), upper(s.p[i + 2])};
				put(w, e, 3);
			}
			i += 2;
			continue;
		}
		put_char(w, fold ? lower(c) : c);
	}
}

/* Writes the normalised cache key of u; see url.h. */
int sl_url_cache_key(const sl_url *u, char *out, size_t cap)
{
	struct wr w;
	size_t path_start;

	if (!u || !out || u->scheme.n == 0)
		return SL_E_INVAL;
	wr_init(&w, out, cap);
	for (size_t i = 0; i < u->scheme.n; i++)
		put_char(&w, lower(u->scheme.p[i]));
	put_char(&w, ':');
	if (has_auth(u)) {
		put(&w, "//", 2);
		if (u->host_is_ipv6) {
			char a[SL_ADDR_STRLEN];
			int an = sl_addr_format(&u->addr, a, sizeof a);
			if (an < 0)
				return SL_E_INVAL;
			put_char(&w, '[');
			put(&w, a, (size_t)an);
			put_char(&w, ']');
		} else {
			put_pct_norm(&w, u->host, true, true);
		}
		if (u->has_port && u->port != sl_url_default_port(u->scheme)) {
			put_char(&w, ':');
			put_port(&w, u->port);
		}
	}
	path_start = w.n;
	put_pct_norm(&w, u->path, false, true);
	if (!w.over)
		w.n = path_start + sl_url_remove_dot_segments(w.p + path_start, w.n - path_start);
	if (w.n == path_start && has_auth(u))
		put_char(&w, '/');
	if (!has_auth(u))
		guard_path(&w, path_start);
	if (u->has_query) {
		put_char(&w, '?');
		put_pct_norm(&w, u->query, false, false);
	}
	return wr_end(&w);
}

int sl_url_pct_decode(const char *s, size_t n, char *out)
{
	size_t k = 0;

	if (n > INT_MAX)
		return SL_E_URL_TOO_LONG;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] != '%') {
			out[k++] = s[i];
			continue;
		}
		if (n - i < 3 || (hi = sl_hex_digit(s[i + 1])) < 0 ||
		    (lo = sl_hex_digit(s[i + 2])) < 0)
			return SL_E_URL_BAD_PERCENT;
		out[k++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (int)k;
}

static void rebase(sl_slice *s, const char *from, const char *to)
{
	if (s->p)
		s->p = to + (s->p - from);
}

void sl_url_rebase(sl_url *u, const char *from, const char *to)
{
	rebase(&u->scheme, from, to);
	rebase(&u->authority, from, to);
	rebase(&u->userinfo, from, to);
	rebase(&u->host, from, to);
	rebase(&u->port_str, from, to);
	rebase(&u->path, from, to);
	rebase(&u->query, from, to);
	rebase(&u->fragment, from, to);
}
