/*
 * The strict HTTP/1.1 head parser (RFC 9112). A head is parsed by two
 * cooperating routines. The scan is a small resumable state
 * machine that only looks at bytes: it finds the end of the head and catches
 * what a byte alone betrays (NUL and other controls, bare CR, bare LF in
 * requests, a bad method character, the field count and the size limits).
 * Its whole state fits in sl_http_parser, so a head fed one byte at a time
 * costs O(n). The parse is one left-to-right pass over a head that is all
 * there: request- or status-line, fields, framing. It is what runs first when
 * a head arrives whole (the common case: one pass, no second scan); when it
 * runs out of bytes, or meets an error, it hands over to the scan from the
 * start of the current line. Whichever way the bytes arrive, the result is
 * the same, by this rule: a byte-level error anywhere in the head wins, and
 * is reported as soon as its byte is there; otherwise, once the head is
 * complete, the first structural error in reading order is reported (they
 * cannot be told from a truncated head earlier without keeping parsed
 * fields across calls, which a buffer that may move forbids). The chunked
 * decoder lives in http_chunked.c. Nothing here allocates, copies or calls
 * a function per byte; slices always point into the caller's buffer.
 */
#include "core/http_parse.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "core/err.h"
#include "core/http_parse_internal.h"

#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_HEX(c) (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || \
		   ((c) >= 'A' && (c) <= 'F'))
#define IS_UNRES(c) (IS_ALPHA(c) || IS_DIGIT(c) || (c) == '-' || \
		     (c) == '.' || (c) == '_' || (c) == '~')
#define IS_SUBDELIM(c) ((c) == '!' || (c) == '$' || (c) == '&' ||          \
			(c) == '\'' || (c) == '(' || (c) == ')' ||          \
			(c) == '*' || (c) == '+' || (c) == ',' ||           \
			(c) == ';' || (c) == '=')
#define IS_TCHAR(c) (IS_ALPHA(c) || IS_DIGIT(c) || (c) == '!' ||            \
		     (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' ||  \
		     (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || \
		     (c) == '.' || (c) == '^' || (c) == '_' || (c) == '`' ||  \
		     (c) == '|' || (c) == '~')
#define IS_PCHAR(c) (IS_UNRES(c) || IS_SUBDELIM(c) || (c) == ':' || \
		     (c) == '@')
#define CLASS(c)                                                          \
	((IS_TCHAR(c) ? SL__C_TCHAR : 0) |                                \
	 ((IS_PCHAR(c) || (c) == '/' || (c) == '?') ? SL__C_TGT : 0) |    \
	 ((IS_PCHAR(c) || (c) == '[' || (c) == ']') ? SL__C_AUTH : 0) |   \
	 ((IS_UNRES(c) || IS_SUBDELIM(c) || (c) == ':' || (c) == '[' ||   \
	   (c) == ']' || (c) == '%') ? SL__C_HOST : 0) |                  \
	 (((c) < 0x20 || (c) == 0x7f) ? SL__C_CTL : 0) |                  \
	 (IS_HEX(c) ? SL__C_HEX : 0) |                                    \
	 ((IS_ALPHA(c) || IS_DIGIT(c) || (c) == '+' || (c) == '-' ||      \
	   (c) == '.') ? SL__C_SCHEME : 0) |                              \
	 (IS_DIGIT(c) ? SL__C_DIGIT : 0))
#define R4(i) CLASS(i), CLASS((i) + 1), CLASS((i) + 2), CLASS((i) + 3)
#define R16(i) R4(i), R4((i) + 4), R4((i) + 8), R4((i) + 12)
#define R64(i) R16(i), R16((i) + 16), R16((i) + 32), R16((i) + 48)

const uint8_t sl__http_cls[256] = {R64(0), R64(64), R64(128), R64(192)};

#define cls sl__http_cls
#define CL(c) (cls[(uint8_t)(c)])
#define skip_plain sl__http_skip_plain

/* Scan phases: before the start line, in it, in the field section. */
enum { PH_PRE, PH_START, PH_FIELDS };

/* What one call works with: the caller's limits reduced to numbers. */
struct cfg {
	size_t max_line;    /* request-line bytes; SIZE_MAX for responses */
	size_t max_block;   /* head bytes */
	size_t maxf;        /* fields: min(limit, caller's capacity) */
	bool req;
	bool lf_ok;         /* a bare LF ends a line */
};

/* The resumable scan's position; mirrored in sl_http_parser. */
struct scan_st {
	size_t pos;         /* next byte to look at */
	size_t line;        /* start of the current line */
	size_t nf;          /* field lines seen */
	uint8_t ph;
	uint8_t meth;       /* inside the request method */
	uint8_t lsdone;     /* the current line's first byte was classified */
};

/* One pass of the parse over buf[0..len). */
struct px {
	const char *b;
	size_t len;
	struct cfg c;
	sl_http_parser *p;
};

/* Framing facts gathered from the fields in the same pass. */
struct facts {
	uint64_t cl;
	size_t te_at;       /* offset of the last transfer coding */
	sl_slice host;
	int minor;
	bool cl_seen;
	bool te_seen;
	bool te_chunked;    /* the last coding so far is chunked */
	bool te_had_chunked;
	bool host_seen;
	bool close;
	bool keep;
	bool expect;
	bool upgrade;
};

static inline size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ASCII case-insensitive compare of p[0..n) with a lower-case literal. */
static inline bool lc_eq(const char *p, const char *lc, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((p[i] | 0x20) != lc[i])
			return false;
	return true;
}

static inline enum sl_http_method method_of(const char *p, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(p, "GET", 3))
			return SL_METHOD_GET;
		if (!memcmp(p, "PUT", 3))
			return SL_METHOD_PUT;
		break;
	case 4:
		if (!memcmp(p, "HEAD", 4))
			return SL_METHOD_HEAD;
		if (!memcmp(p, "POST", 4))
			return SL_METHOD_POST;
		break;
	case 5:
		if (!memcmp(p, "PATCH", 5))
			return SL_METHOD_PATCH;
		if (!memcmp(p, "TRACE", 5))
			return SL_METHOD_TRACE;
		break;
	case 6:
		if (!memcmp(p, "DELETE", 6))
			return SL_METHOD_DELETE;
		break;
	case 7:
		if (!memcmp(p, "CONNECT", 7))
			return SL_METHOD_CONNECT;
		if (!memcmp(p, "OPTIONS", 7))
			return SL_METHOD_OPTIONS;
		break;
	}
	return SL_METHOD_OTHER;
}

/*
 * The byte scan. Resumes at s->pos and runs until the head ends (returns
 * its length), a byte-level error (returns the code, *off its offset), or
 * the bytes run out (SL_E_AGAIN, s ready to resume). Needing a byte past a
 * limit that has already arrived is the limit's error, at the limit.
 */
static int scan(const struct cfg *c, struct scan_st *s, const char *b,
		size_t len, size_t *off)
{
	size_t pos = s->pos, lim, end, need;
	int lcode;
	uint8_t ch;

	for (;;) {
		lim = c->max_block;
		lcode = SL_E_HTTP_HEADERS_TOO_LARGE;
		if (c->req && s->ph == PH_START && c->max_line < lim - s->line) {
			lim = s->line + c->max_line;
			lcode = SL_E_HTTP_URI_TOO_LONG;
		}
		end = min_sz(len, lim);
		if (!s->lsdone) {
			if (pos >= end) {
				need = pos;
				goto more;
			}
			ch = (uint8_t)b[pos];
			if (ch == '\r' || ch == '\n') {
				if (ch == '\n' && !c->lf_ok) {
					*off = pos;
					return SL_E_HTTP_BARE_LF;
				}
				if (ch == '\r') {
					if (pos + 1 >= end) {
						need = pos + 1;
						goto more;
					}
					if (b[pos + 1] != '\n') {
						*off = pos;
						return SL_E_HTTP_BARE_CR;
					}
					pos++;
				}
				pos++;
				if (s->ph != PH_PRE) {
					s->pos = pos;
					return (int)pos;
				}
				s->line = pos;
				continue;
			}
			s->lsdone = 1;
			if (s->ph == PH_PRE) {
				s->ph = PH_START;
				s->meth = c->req;
				continue;
			}
			if (s->nf >= c->maxf) {
				*off = pos;
				return SL_E_HTTP_TOO_MANY_FIELDS;
			}
			s->nf++;
		}
		if (s->meth) {
			while (pos < end && (CL(b[pos]) & SL__C_TCHAR))
				pos++;
			if (pos >= end) {
				need = pos;
				goto more;
			}
			ch = (uint8_t)b[pos];
			if (ch == ' ' && pos > s->line) {
				s->meth = 0;
				pos++;
			} else if (ch == ' ' || ch == '\t' || !(cls[ch] & SL__C_CTL)) {
				*off = pos;
				return SL_E_HTTP_BAD_METHOD;
			} else {
				s->meth = 0;
			}
		}
		pos = skip_plain(b, pos, end, len);
		if (pos >= end) {
			need = pos;
			goto more;
		}
		ch = (uint8_t)b[pos];
		if (ch == '\t') {
			pos++;
			continue;
		}
		if (ch == '\r') {
			if (pos + 1 >= end) {
				need = pos + 1;
				goto more;
			}
			if (b[pos + 1] != '\n') {
				*off = pos;
				return SL_E_HTTP_BARE_CR;
			}
			pos += 2;
		} else if (ch == '\n') {
			if (!c->lf_ok) {
				*off = pos;
				return SL_E_HTTP_BARE_LF;
			}
			pos++;
		} else {
			*off = pos;
			return SL_E_HTTP_CTL_CHAR;
		}
		s->line = pos;
		s->lsdone = 0;
		if (s->ph == PH_START)
			s->ph = PH_FIELDS;
	}
more:
	if (need >= lim && len > lim) {
		*off = lim;
		return lcode;
	}
	s->pos = pos;
	return SL_E_AGAIN;
}

static void save(sl_http_parser *p, const struct scan_st *s)
{
	p->scan_pos = s->pos;
	p->scan_line = s->line;
	p->scan_fields = s->nf;
	p->scan_phase = s->ph;
	p->scan_method = s->meth;
	p->scan_linestart = s->lsdone;
	p->scanning = true;
}

static void load(const sl_http_parser *p, struct scan_st *s)
{
	s->pos = p->scan_pos;
	s->line = p->scan_line;
	s->nf = p->scan_fields;
	s->ph = p->scan_phase;
	s->meth = p->scan_method;
	s->lsdone = p->scan_linestart;
}

/*
 * The parse stopped at `at` in the line starting at `line` with `code`
 * (SL_E_AGAIN when it ran out of bytes). Lets the scan decide from that
 * line on: a byte-level error or missing bytes win; if the head is complete
 * and clean, the structural error stands.
 */
static int fail(struct px *x, int code, size_t at, size_t line, size_t nf,
		int ph)
{
	struct scan_st s = {.pos = line, .line = line, .nf = nf,
			    .ph = (uint8_t)ph};
	size_t off = 0;
	int r = scan(&x->c, &s, x->b, x->len, &off);

	if (r == SL_E_AGAIN) {
		save(x->p, &s);
		return r;
	}
	if (r < 0) {
		x->p->err_off = off;
		return r;
	}
	assert(code != SL_E_AGAIN);
	x->p->err_off = at;
	return code;
}

/*
 * Reads one field line (see http_parse_internal.h). The name must be a
 * token directly followed by the colon; the value is trimmed of OWS and may
 * hold HTAB and obs-text but no other control byte.
 */
int sl__http_field_line(const char *b, size_t pos, size_t end, size_t len,
			bool lf_ok, bool first, sl_field *f, size_t *next,
			size_t *at)
{
	size_t ls = pos, vs, eol;
	char c = b[pos];

	if (c == ' ' || c == '\t') {
		*at = pos;
		return first ? SL_E_HTTP_BAD_FIELD_NAME : SL_E_HTTP_OBS_FOLD;
	}
	while (pos < end && (CL(b[pos]) & SL__C_TCHAR))
		pos++;
	if (pos >= end)
		goto again;
	if (b[pos] != ':') {
		size_t ws = pos;

		if (b[pos] != ' ' && b[pos] != '\t') {
			*at = pos;
			return SL_E_HTTP_BAD_FIELD_NAME;
		}
		while (pos < end && (b[pos] == ' ' || b[pos] == '\t'))
			pos++;
		if (pos >= end)
			goto again;
		*at = ws;
		return b[pos] == ':' ? SL_E_HTTP_WS_BEFORE_COLON
				     : SL_E_HTTP_BAD_FIELD_NAME;
	}
	if (pos == ls) {
		*at = pos;
		return SL_E_HTTP_BAD_FIELD_NAME;
	}
	f->name = sl_slice_make(b + ls, pos - ls);
	pos++;
	while (pos < end && (b[pos] == ' ' || b[pos] == '\t'))
		pos++;
	vs = pos;
	for (;;) {
		pos = skip_plain(b, pos, end, len);
		if (pos >= end)
			goto again;
		c = b[pos];
		if (c != '\t')
			break;
		pos++;
	}
	if (c == '\r') {
		if (pos + 1 >= end)
			goto again;
		if (b[pos + 1] != '\n') {
			*at = pos;
			return SL_E_HTTP_BARE_CR;
		}
		*next = pos + 2;
	} else if (c == '\n' && lf_ok) {
		*next = pos + 1;
	} else {
		*at = pos;
		return c == '\n' ? SL_E_HTTP_BARE_LF : SL_E_HTTP_CTL_CHAR;
	}
	eol = pos;
	while (eol > vs && (b[eol - 1] == ' ' || b[eol - 1] == '\t'))
		eol--;
	f->value = sl_slice_make(b + vs, eol - vs);
	return 0;
again:
	*at = end;
	return SL_E_AGAIN;
}

/* Checks the pct-encoding at b[pos] == '%'. */
static int pct(const char *b, size_t pos, size_t end, size_t *at)
{
	for (size_t i = pos + 1; i <= pos + 2; i++) {
		if (i >= end) {
			*at = end;
			return SL_E_AGAIN;
		}
		if (!(CL(b[i]) & SL__C_HEX)) {
			*at = i;
			return SL_E_HTTP_BAD_TARGET;
		}
	}
	return 0;
}

/* Advances *pos over bytes of class k and pct-encodings. */
static int run(const char *b, size_t *pos, size_t end, unsigned k, size_t *at)
{
	size_t i = *pos;
	int r;

	for (;;) {
		while (i < end && (CL(b[i]) & k))
			i++;
		if (i >= end) {
			*at = end;
			return SL_E_AGAIN;
		}
		if (b[i] != '%')
			break;
		if ((r = pct(b, i, end, at)))
			return r;
		i += 3;
	}
	*pos = i;
	return 0;
}

/* absolute-form, restricted to URIs with an authority ("scheme://host..."). */
static int absolute(const char *b, size_t *pos, size_t end, size_t *at)
{
	size_t i = *pos, h;
	int r;

	while (i < end && (CL(b[i]) & SL__C_SCHEME))
		i++;
	for (const char *sep = "://"; *sep; sep++, i++) {
		if (i >= end) {
			*at = end;
			return SL_E_AGAIN;
		}
		if (b[i] != *sep) {
			*at = i;
			return SL_E_HTTP_BAD_TARGET;
		}
	}
	h = i;
	if ((r = run(b, &i, end, SL__C_AUTH, at)))
		return r;
	if (i == h) {
		*at = i;
		return SL_E_HTTP_BAD_TARGET;
	}
	if ((b[i] == '/' || b[i] == '?') && (r = run(b, &i, end, SL__C_TGT, at)))
		return r;
	*pos = i;
	return 0;
}

/* authority-form of CONNECT: uri-host ":" port, port 1..65535. */
static int authority(const char *b, size_t *pos, size_t end, size_t *at)
{
	size_t i = *pos, s = i, ps;
	unsigned port = 0;
	int r;

	if (i < end && b[i] == '[') {
		for (i++; i < end && ((CL(b[i]) & SL__C_HEX) || b[i] == ':' ||
				      b[i] == '.'); i++)
			;
		if (i >= end)
			goto again;
		if (b[i] != ']' || i == s + 1) {
			*at = i;
			return SL_E_HTTP_BAD_TARGET;
		}
		i++;
	} else {
		for (;;) {
			while (i < end && (CL(b[i]) & SL__C_HOST) && b[i] != ':' &&
			       b[i] != '[' && b[i] != ']' && b[i] != '%')
				i++;
			if (i >= end)
				goto again;
			if (b[i] != '%')
				break;
			if ((r = pct(b, i, end, at)))
				return r;
			i += 3;
		}
		if (i == s) {
			*at = i;
			return SL_E_HTTP_BAD_TARGET;
		}
	}
	if (i >= end)
		goto again;
	if (b[i] != ':') {
		*at = i;
		return SL_E_HTTP_BAD_TARGET;
	}
	ps = ++i;
	while (i < end && IS_DIGIT(b[i]) && i - ps < 5)
		port = port * 10 + (unsigned)(b[i++] - '0');
	if (i >= end)
		goto again;
	if (i == ps || IS_DIGIT(b[i])) {
		*at = i;
		return SL_E_HTTP_BAD_TARGET;
	}
	if (port == 0 || port > 65535) {
		*at = ps;
		return SL_E_HTTP_BAD_TARGET;
	}
	*pos = i;
	return 0;
again:
	*at = end;
	return SL_E_AGAIN;
}

/*
 * Parses the request-target at b[pos] for method m, up to the SP after it
 * (returned in *tend). Authority-form goes with CONNECT and asterisk-form
 * with OPTIONS, each only with the other.
 */
static int target(const char *b, size_t pos, size_t end, enum sl_http_method m,
		  enum sl_http_target_form *form, size_t *tend, size_t *at)
{
	int r;

	if (pos >= end) {
		*at = end;
		return SL_E_AGAIN;
	}
	if (m == SL_METHOD_CONNECT) {
		*form = SL_TARGET_AUTHORITY;
		r = authority(b, &pos, end, at);
	} else if (b[pos] == '/') {
		*form = SL_TARGET_ORIGIN;
		r = run(b, &pos, end, SL__C_TGT, at);
	} else if (b[pos] == '*' && m == SL_METHOD_OPTIONS) {
		*form = SL_TARGET_ASTERISK;
		pos++;
		r = 0;
	} else if (IS_ALPHA(b[pos])) {
		*form = SL_TARGET_ABSOLUTE;
		r = absolute(b, &pos, end, at);
	} else {
		*at = pos;
		return SL_E_HTTP_BAD_TARGET;
	}
	if (r)
		return r;
	if (pos >= end) {
		*at = end;
		return SL_E_AGAIN;
	}
	if (b[pos] != ' ') {
		*at = pos;
		return b[pos] == '\r' || b[pos] == '\n'
			       ? SL_E_HTTP_BAD_REQUEST_LINE
			       : SL_E_HTTP_BAD_TARGET;
	}
	*tend = pos;
	return 0;
}

/* HTTP-version: only "HTTP/1.0" and "HTTP/1.1"; *at is the first bad byte. */
static int version(const char *b, size_t pos, size_t end, int *minor,
		   size_t *at)
{
	static const char pre[] = "HTTP/1.";

	if (end - pos >= 8 && !memcmp(b + pos, "HTTP/1.1", 8)) {
		*minor = 1;
		return 0;
	}
	for (size_t i = 0; i < 8; i++) {
		if (pos + i >= end) {
			*at = end;
			return SL_E_AGAIN;
		}
		if (i < 7 ? b[pos + i] != pre[i]
			  : b[pos + i] != '0' && b[pos + i] != '1') {
			*at = pos + i;
			return SL_E_HTTP_BAD_VERSION;
		}
	}
	*minor = b[pos + 7] - '0';
	return 0;
}

static const char *ows(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static const char *token_end(const char *p, const char *e)
{
	while (p < e && (CL(*p) & SL__C_TCHAR))
		p++;
	return p;
}

/* Content-Length = 1*DIGIT, or a list of identical ones (RFC 9110 8.6). */
static int content_length(struct facts *f, const char *b, sl_slice v,
			  size_t *at)
{
	const char *p = v.p, *e = v.p + v.n, *s;
	uint64_t n;

	for (;;) {
		s = p = ows(p, e);
		for (n = 0; p < e && IS_DIGIT(*p); p++) {
			unsigned d = (unsigned)(*p - '0');

			if (n > ((uint64_t)INT64_MAX - d) / 10) {
				*at = (size_t)(p - b);
				return SL_E_HTTP_BAD_CONTENT_LENGTH;
			}
			n = n * 10 + d;
		}
		if (p == s) {
			*at = (size_t)(p - b);
			return SL_E_HTTP_BAD_CONTENT_LENGTH;
		}
		if (f->cl_seen && n != f->cl) {
			*at = (size_t)(s - b);
			return SL_E_HTTP_CL_MISMATCH;
		}
		f->cl = n;
		f->cl_seen = true;
		p = ows(p, e);
		if (p == e)
			return 0;
		if (*p != ',') {
			*at = (size_t)(p - b);
			return SL_E_HTTP_BAD_CONTENT_LENGTH;
		}
		p++;
	}
}

/* Skips a quoted-string at *p == '"'; NULL if it is not closed. */
static const char *quoted(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\' && ++p == e)
			break;
	}
	return NULL;
}

/*
 * Transfer-Encoding = #transfer-coding, each a token with parameters.
 * Remembers whether the last coding is chunked; chunked must not appear
 * twice or carry parameters.
 */
static int transfer_encoding(struct facts *f, const char *b, sl_slice v,
			     size_t *at)
{
	const char *p = v.p, *e = v.p + v.n, *s, *q;
	bool any = false, ch;

	for (;;) {
		while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == e)
			break;
		s = p;
		p = token_end(p, e);
		if (p == s)
			goto bad;
		ch = p - s == 7 && lc_eq(s, "chunked", 7);
		if (ch && f->te_had_chunked) {
			p = s;
			goto bad;
		}
		f->te_had_chunked |= ch;
		f->te_chunked = ch;
		f->te_at = (size_t)(s - b);
		any = true;
		for (;;) {
			p = ows(p, e);
			if (p == e || *p == ',')
				break;
			if (*p != ';' || ch)
				goto bad;
			p = ows(p + 1, e);
			q = p;
			if ((p = token_end(p, e)) == q)
				goto bad;
			p = ows(p, e);
			if (p == e || *p != '=')
				goto bad;
			p = ows(p + 1, e);
			if (p < e && *p == '"') {
				if (!(q = quoted(p, e)))
					goto bad;
				p = q;
			} else if ((q = token_end(p, e)) == p) {
				goto bad;
			} else {
				p = q;
			}
		}
	}
	if (!any) {
		p = v.p;
		goto bad;
	}
	f->te_seen = true;
	return 0;
bad:
	*at = (size_t)(p - b);
	return SL_E_HTTP_BAD_TRANSFER_ENCODING;
}

/* Connection options that matter here: close and keep-alive. */
static void connection(struct facts *f, sl_slice v)
{
	const char *p = v.p, *e = v.p + v.n, *s, *t;

	while (p < e) {
		while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		for (s = p; p < e && *p != ','; p++)
			;
		for (t = p; t > s && (t[-1] == ' ' || t[-1] == '\t'); t--)
			;
		if (t - s == 5 && lc_eq(s, "close", 5))
			f->close = true;
		else if (t - s == 10 && lc_eq(s, "keep-alive", 10))
			f->keep = true;
	}
}

static int host(struct facts *f, const char *b, sl_slice v, size_t ls,
		size_t *at)
{
	if (f->host_seen) {
		*at = ls;
		return SL_E_HTTP_MULTIPLE_HOST;
	}
	for (size_t i = 0; i < v.n; i++) {
		if (!(CL(v.p[i]) & SL__C_HOST)) {
			*at = (size_t)(v.p + i - b);
			return SL_E_HTTP_BAD_HOST;
		}
	}
	f->host_seen = true;
	f->host = v;
	return 0;
}

/* Looks at the fields that shape framing; dispatches on the name length. */
static int special(const struct cfg *c, struct facts *f, const char *b,
		   const sl_field *fl, size_t ls, size_t *at)
{
	sl_slice n = fl->name, v = fl->value;

	switch (n.n) {
	case 4:
		if (c->req && lc_eq(n.p, "host", 4))
			return host(f, b, v, ls, at);
		break;
	case 6:
		if (c->req && lc_eq(n.p, "expect", 6) && v.n == 12 &&
		    lc_eq(v.p, "100-continue", 12))
			f->expect = true;
		break;
	case 7:
		if (lc_eq(n.p, "upgrade", 7))
			f->upgrade = true;
		break;
	case 10:
		if (lc_eq(n.p, "connection", 10))
			connection(f, v);
		break;
	case 14:
		if (lc_eq(n.p, "content-length", 14)) {
			if (f->te_seen) {
				*at = ls;
				return SL_E_HTTP_CL_AND_TE;
			}
			return content_length(f, b, v, at);
		}
		break;
	case 17:
		if (lc_eq(n.p, "transfer-encoding", 17)) {
			*at = ls;
			if (f->cl_seen)
				return SL_E_HTTP_CL_AND_TE;
			if (f->minor == 0)
				return SL_E_HTTP_BAD_TRANSFER_ENCODING;
			return transfer_encoding(f, b, v, at);
		}
		break;
	}
	return 0;
}

/* Skips empty lines before the start line (RFC 9112 section 2.2). */
static int skip_empty(struct px *x, size_t *pos)
{
	const char *b = x->b;
	size_t i = *pos, end = min_sz(x->len, x->c.max_block);

	for (;;) {
		if (i < end && b[i] == '\r' && i + 1 < end && b[i + 1] == '\n')
			i += 2;
		else if (i < end && b[i] == '\n' && x->c.lf_ok)
			i++;
		else
			break;
	}
	if (i >= end || b[i] == '\r' || b[i] == '\n')
		return fail(x, SL_E_HTTP_BARE_CR, i, 0, 0, PH_PRE);
	*pos = i;
	return 0;
}

/*
 * Parses the field section from pos to the blank line. Returns the head
 * length, or an error through fail().
 */
static int field_section(struct px *x, size_t pos, sl_field *fields,
			 size_t *nfields, struct facts *f)
{
	const char *b = x->b;
	size_t len = x->len, end = min_sz(len, x->c.max_block), nf = 0;
	size_t at = 0, next = 0;
	int r;

	for (;;) {
		if (pos >= end)
			return fail(x, SL_E_AGAIN, pos, pos, nf, PH_FIELDS);
		if (b[pos] == '\r' || b[pos] == '\n') {
			if (b[pos] == '\r' && pos + 1 < end && b[pos + 1] == '\n')
				pos += 2;
			else if (b[pos] == '\n' && x->c.lf_ok)
				pos++;
			else
				return fail(x, SL_E_HTTP_BARE_CR, pos, pos, nf,
					    PH_FIELDS);
			*nfields = nf;
			return (int)pos;
		}
		if (nf >= x->c.maxf)
			return fail(x, SL_E_HTTP_TOO_MANY_FIELDS, pos, pos, nf,
				    PH_FIELDS);
		r = sl__http_field_line(b, pos, end, len, x->c.lf_ok, nf == 0,
					&fields[nf], &next, &at);
		if (!r)
			r = special(&x->c, f, b, &fields[nf], pos, &at);
		if (r)
			return fail(x, r, at, pos, nf, PH_FIELDS);
		nf++;
		pos = next;
	}
}

static int parse_req(struct px *x, sl_http_request *out, sl_field *fields)
{
	const char *b = x->b;
	size_t pos = 0, start, end, at = 0, tend = 0;
	struct facts f = {0};
	sl_http_request q;
	int r, n;

	if ((r = skip_empty(x, &pos)))
		return r;
	start = pos;
	end = min_sz(x->len, x->c.max_block);
	if (x->c.max_line < end - start)
		end = start + x->c.max_line;

	while (pos < end && (CL(b[pos]) & SL__C_TCHAR))
		pos++;
	if (pos >= end || b[pos] != ' ' || pos == start)
		return fail(x, pos < end && (b[pos] == '\r' || b[pos] == '\n')
				       ? SL_E_HTTP_BAD_REQUEST_LINE
				       : SL_E_HTTP_BAD_METHOD,
			    pos, 0, 0, PH_PRE);
	q.method = sl_slice_make(b + start, pos - start);
	q.meth = method_of(q.method.p, q.method.n);
	pos++;
	r = target(b, pos, end, q.meth, &q.form, &tend, &at);
	if (r)
		return fail(x, r, at, 0, 0, PH_PRE);
	q.target = sl_slice_make(b + pos, tend - pos);
	pos = tend + 1;
	if ((r = version(b, pos, end, &f.minor, &at)))
		return fail(x, r, at, 0, 0, PH_PRE);
	pos += 8;
	if (end - pos < 2 || b[pos] != '\r' || b[pos + 1] != '\n')
		return fail(x, pos < end && IS_DIGIT(b[pos])
				       ? SL_E_HTTP_BAD_VERSION
				       : SL_E_HTTP_BAD_REQUEST_LINE,
			    pos, 0, 0, PH_PRE);
	pos += 2;

	n = field_section(x, pos, fields, &q.nfields, &f);
	if (n < 0)
		return n;
	if (f.te_seen && !f.te_chunked) {
		x->p->err_off = f.te_at;
		return SL_E_HTTP_TE_NOT_CHUNKED;
	}
	if (f.minor == 1 && !f.host_seen) {
		x->p->err_off = (size_t)n - 2;
		return SL_E_HTTP_MISSING_HOST;
	}
	q.minor_version = f.minor;
	q.fields = fields;
	q.body = f.te_seen ? SL_BODY_CHUNKED
		 : f.cl_seen ? SL_BODY_LENGTH : SL_BODY_NONE;
	q.content_length = f.cl_seen && !f.te_seen ? f.cl : 0;
	q.host = f.host_seen ? f.host : SL_SLICE_NULL;
	q.keep_alive = !f.close && (f.minor == 1 || f.keep);
	q.expect_continue = f.expect && f.minor == 1;
	q.upgrade = f.upgrade;
	*out = q;
	return n;
}

static int parse_res(struct px *x, enum sl_http_method m,
		     sl_http_response *out, sl_field *fields)
{
	const char *b = x->b;
	size_t len = x->len, pos = 0, end, at = 0, rs;
	struct facts f = {0};
	sl_http_response q;
	int r, n, st = 0;
	char c;

	if ((r = skip_empty(x, &pos)))
		return r;
	end = min_sz(len, x->c.max_block);
	if ((r = version(b, pos, end, &f.minor, &at)))
		return fail(x, r, at, 0, 0, PH_PRE);
	pos += 8;
	if (pos >= end || b[pos] != ' ')
		return fail(x, SL_E_HTTP_BAD_STATUS_LINE, pos, 0, 0, PH_PRE);
	pos++;
	for (size_t i = pos; i < pos + 3; i++) {
		if (i >= end || !IS_DIGIT(b[i]))
			return fail(x, i >= end ? SL_E_AGAIN : SL_E_HTTP_BAD_STATUS,
				    i, 0, 0, PH_PRE);
		st = st * 10 + (b[i] - '0');
	}
	if (st < 100 || st > 599)
		return fail(x, SL_E_HTTP_BAD_STATUS, pos, 0, 0, PH_PRE);
	pos += 3;
	if (pos >= end)
		return fail(x, SL_E_AGAIN, pos, 0, 0, PH_PRE);
	c = b[pos];
	if (c == ' ')
		pos++;
	else if (c != '\r' && c != '\n')
		return fail(x, IS_DIGIT(c) ? SL_E_HTTP_BAD_STATUS
					   : SL_E_HTTP_BAD_STATUS_LINE,
			    pos, 0, 0, PH_PRE);
	rs = pos;
	for (;;) {
		pos = skip_plain(b, pos, end, len);
		if (pos >= end || b[pos] != '\t')
			break;
		pos++;
	}
	q.reason = sl_slice_make(b + rs, pos - rs);
	if (end - pos >= 2 && b[pos] == '\r' && b[pos + 1] == '\n')
		pos += 2;
	else if (pos < end && b[pos] == '\n' && x->c.lf_ok)
		pos++;
	else
		return fail(x, SL_E_HTTP_BAD_STATUS_LINE, pos, 0, 0, PH_PRE);

	n = field_section(x, pos, fields, &q.nfields, &f);
	if (n < 0)
		return n;
	q.minor_version = f.minor;
	q.status = st;
	q.fields = fields;
	q.content_length = 0;
	if (m == SL_METHOD_HEAD || st / 100 == 1 || st == 204 || st == 304) {
		q.body = SL_BODY_NONE;
	} else if (m == SL_METHOD_CONNECT && st / 100 == 2) {
		q.body = SL_BODY_TUNNEL;
	} else if (f.te_seen) {
		q.body = f.te_chunked ? SL_BODY_CHUNKED : SL_BODY_CLOSE;
	} else if (f.cl_seen) {
		q.body = SL_BODY_LENGTH;
		q.content_length = f.cl;
	} else {
		q.body = SL_BODY_CLOSE;
	}
	q.keep_alive = !f.close && (f.minor == 1 || f.keep) &&
		       q.body != SL_BODY_CLOSE && q.body != SL_BODY_TUNNEL;
	q.upgrade = f.upgrade;
	*out = q;
	return n;
}

static void config(struct cfg *c, const sl_http_limits *l, bool req,
		   size_t cap)
{
	c->req = req;
	c->lf_ok = !req && l->response_bare_lf;
	c->max_line = req ? l->max_request_line : SIZE_MAX;
	c->max_block = min_sz(l->max_header_bytes, INT_MAX);
	c->maxf = min_sz(l->max_fields, cap);
}

/*
 * Common driver: resumes the scan if an earlier call left one going, and
 * runs the parse once the head is known complete (or on a fresh call).
 */
static int drive(sl_http_parser *p, const char *buf, size_t len, bool req,
		 enum sl_http_method m, void *out, sl_field *fields, size_t cap)
{
	struct px x = {.b = buf, .len = len, .p = p};
	int r;

	config(&x.c, &p->limits, req, cap);
	if (p->scanning && len >= p->scan_pos) {
		struct scan_st s;
		size_t off = 0;

		load(p, &s);
		r = scan(&x.c, &s, buf, len, &off);
		if (r == SL_E_AGAIN) {
			save(p, &s);
			return r;
		}
		if (r < 0) {
			p->scanning = false;
			p->err_off = off;
			return r;
		}
	}
	p->scanning = false;
	r = req ? parse_req(&x, out, fields) : parse_res(&x, m, out, fields);
	if (r != SL_E_AGAIN)
		p->scanning = false;
	return r;
}

/* Zeroes p and copies the limits in; no resources are held. */
void sl_http_parser_init(sl_http_parser *p, const sl_http_limits *limits)
{
	static const sl_http_limits defaults = SL_HTTP_LIMITS_DEFAULT;

	memset(p, 0, sizeof *p);
	p->limits = limits ? *limits : defaults;
}

/* Drops the resumable scan; the limits stay. */
void sl_http_parser_reset(sl_http_parser *p)
{
	p->scanning = false;
	p->scan_pos = 0;
}

/* Parses a request head; contract in http_parse.h. */
int sl_http_parse_request(sl_http_parser *p, const char *buf, size_t len,
			  sl_http_request *req, sl_field *fields, size_t cap)
{
	return drive(p, buf, len, true, SL_METHOD_OTHER, req, fields, cap);
}

/* Parses a response head; contract in http_parse.h. */
int sl_http_parse_response(sl_http_parser *p, const char *buf, size_t len,
			   enum sl_http_method req_method,
			   sl_http_response *res, sl_field *fields, size_t cap)
{
	return drive(p, buf, len, false, req_method, res, fields, cap);
}

/* Methods are case-sensitive (RFC 9110 9.1): "get" is OTHER. */
enum sl_http_method sl_http_method_of(sl_slice name)
{
	return method_of(name.p, name.n);
}

/* Returns a static name of a body rule, for logs. */
const char *sl_http_body_name(enum sl_http_body body)
{
	switch (body) {
	case SL_BODY_NONE:
		return "none";
	case SL_BODY_LENGTH:
		return "content-length";
	case SL_BODY_CHUNKED:
		return "chunked";
	case SL_BODY_CLOSE:
		return "until-close";
	case SL_BODY_TUNNEL:
		return "tunnel";
	}
	return "unknown";
}
