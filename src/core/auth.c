/*
 * Challenge parsing for WWW-Authenticate and Proxy-Authenticate (RFC 9110
 * section 11.2 and 11.6.1): `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`,
 * any number of challenges in one list, over any number of fields. The
 * grammar is ambiguous at commas, which separate both parameters and
 * challenges: after a comma, `token BWS "="` continues the current
 * challenge's parameters and anything else starts the next challenge
 * (a token68 never starts with "="). A syntax error drops the rest of that
 * field value, because a list cannot be resynchronised safely after it.
 * Only what a client needs is kept; unknown parameters are skipped. The
 * tokenizer here also serves Authentication-Info (auth_digest.c).
 * Nothing allocates or keeps state outside its arguments.
 */
#include "core/auth.h"

#include <string.h>

#include "core/auth_internal.h"
#include "core/err.h"

/* ------------------------------------------------------------------ */
/* Tokens                                                              */
/* ------------------------------------------------------------------ */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool tchar(unsigned char c)
{
	if (is_alnum(c))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
	case '+': case '-': case '.': case '^': case '_': case '`': case '|':
	case '~':
		return true;
	default:
		return false;
	}
}

/* token68 characters, without the trailing "=" padding. */
static bool t68char(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' ||
	       c == '/';
}

/* qdtext and the octet after a backslash: HTAB, SP, VCHAR, obs-text. */
static bool qtext(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static void skip_ows(sl__auth_cur *c)
{
	while (c->p < c->end && is_ows(*c->p))
		c->p++;
}

/* Skips OWS and commas: the separators and empty elements of a list. */
static void skip_seps(sl__auth_cur *c)
{
	while (c->p < c->end && (*c->p == ',' || is_ows(*c->p)))
		c->p++;
}

static sl_slice token(sl__auth_cur *c)
{
	const char *s = c->p;
	while (c->p < c->end && tchar((unsigned char)*c->p))
		c->p++;
	return sl_slice_make(s, (size_t)(c->p - s));
}

/* A quoted-string at the cursor (on its opening quote); *raw is the inside. */
static int quoted(sl__auth_cur *c, sl_slice *raw)
{
	const char *p = c->p + 1;
	const char *start = p;

	while (p < c->end) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '"') {
			*raw = sl_slice_make(start, (size_t)(p - start));
			c->p = p + 1;
			return 0;
		}
		if (ch == '\\') {
			if (p + 1 >= c->end || !qtext((unsigned char)p[1]))
				return SL_E_AUTH_SYNTAX;
			p += 2;
			continue;
		}
		if (!qtext(ch))
			return SL_E_AUTH_SYNTAX;
		p++;
	}
	return SL_E_AUTH_SYNTAX;
}

int sl__auth_param(sl__auth_cur *c, sl_slice *name, sl_slice *raw)
{
	*name = token(c);
	if (!name->n)
		return SL_E_AUTH_SYNTAX;
	skip_ows(c);
	if (c->p >= c->end || *c->p != '=')
		return SL_E_AUTH_SYNTAX;
	c->p++;
	skip_ows(c);
	if (c->p < c->end && *c->p == '"')
		return quoted(c, raw);
	*raw = token(c);
	return raw->n ? 0 : SL_E_AUTH_SYNTAX;
}

int sl__auth_params_next(sl__auth_cur *c, sl_slice *name, sl_slice *raw)
{
	skip_seps(c);
	if (c->p >= c->end)
		return 0;
	int r = sl__auth_param(c, name, raw);
	if (r == 0) {
		skip_ows(c);
		if (c->p >= c->end || *c->p == ',')
			return 1;
		r = SL_E_AUTH_SYNTAX;
	}
	c->p = c->end;
	return r;
}

bool sl__auth_val_eq(sl_slice raw, const char *s)
{
	size_t j = 0;
	for (size_t i = 0; i < raw.n; i++, j++) {
		char ch = raw.p[i];
		if (ch == '\\' && i + 1 < raw.n)
			ch = raw.p[++i];
		if (!s[j] || lower(ch) != lower(s[j]))
			return false;
	}
	return s[j] == '\0';
}

int sl__auth_unescape(sl_slice raw, char *out, size_t cap)
{
	size_t len = 0;
	if (cap == 0)
		return SL_E_AUTH_TOO_LONG;
	for (size_t i = 0; i < raw.n; i++) {
		char ch = raw.p[i];
		if (ch == '\\' && i + 1 < raw.n)
			ch = raw.p[++i];
		if (len + 1 >= cap) {
			out[0] = '\0';
			return SL_E_AUTH_TOO_LONG;
		}
		out[len++] = ch;
	}
	out[len] = '\0';
	return (int)len;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const char *const algo_names[] = {
	[SL_AUTH_MD5] = "MD5",
	[SL_AUTH_MD5_SESS] = "MD5-sess",
	[SL_AUTH_SHA256] = "SHA-256",
	[SL_AUTH_SHA256_SESS] = "SHA-256-sess",
	[SL_AUTH_SHA512_256] = "SHA-512-256",
	[SL_AUTH_SHA512_256_SESS] = "SHA-512-256-sess",
};

#define NALGO (sizeof algo_names / sizeof algo_names[0])

const char *sl_auth_algo_name(enum sl_auth_algo a)
{
	return (unsigned)a < NALGO ? algo_names[a] : "";
}

bool sl__auth_algo_sess(enum sl_auth_algo a)
{
	return a == SL_AUTH_MD5_SESS || a == SL_AUTH_SHA256_SESS || a == SL_AUTH_SHA512_256_SESS;
}

const char *sl_auth_scheme_name(enum sl_auth_scheme s)
{
	switch (s) {
	case SL_AUTH_BASIC:
		return "Basic";
	case SL_AUTH_DIGEST:
		return "Digest";
	case SL_AUTH_BEARER:
		return "Bearer";
	case SL_AUTH_OTHER:
		return "other";
	default:
		return "";
	}
}

static enum sl_auth_scheme scheme_of(sl_slice name)
{
	if (sl_slice_case_eq_cstr(name, "Basic"))
		return SL_AUTH_BASIC;
	if (sl_slice_case_eq_cstr(name, "Digest"))
		return SL_AUTH_DIGEST;
	if (sl_slice_case_eq_cstr(name, "Bearer"))
		return SL_AUTH_BEARER;
	return SL_AUTH_OTHER;
}

/* ------------------------------------------------------------------ */
/* Parameters of one challenge                                         */
/* ------------------------------------------------------------------ */

enum param {
	P_REALM, P_NONCE, P_OPAQUE, P_ALGORITHM, P_QOP, P_STALE, P_USERHASH,
	P_CHARSET, P_DOMAIN, P_COUNT,
};

#define FOR_BASIC (1u << SL_AUTH_BASIC)
#define FOR_DIGEST (1u << SL_AUTH_DIGEST)
#define FOR_ALL (~0u)

/* The parameters kept, and the schemes they mean something for. */
static const struct {
	const char *name;
	unsigned schemes;
} params[P_COUNT] = {
	[P_REALM] = {"realm", FOR_ALL},
	[P_NONCE] = {"nonce", FOR_DIGEST},
	[P_OPAQUE] = {"opaque", FOR_DIGEST},
	[P_ALGORITHM] = {"algorithm", FOR_DIGEST},
	[P_QOP] = {"qop", FOR_DIGEST},
	[P_STALE] = {"stale", FOR_DIGEST},
	[P_USERHASH] = {"userhash", FOR_DIGEST},
	[P_CHARSET] = {"charset", FOR_BASIC | FOR_DIGEST},
	[P_DOMAIN] = {"domain", FOR_DIGEST},
};

static void set_unusable(sl_auth_challenge *c, int why)
{
	if (!c->unusable)
		c->unusable = why;
}

/* Copies raw into a fixed field; too long makes the challenge unusable. */
static void copy_field(sl_auth_challenge *c, sl_slice raw, char *dst, size_t cap)
{
	if (sl__auth_unescape(raw, dst, cap) < 0)
		set_unusable(c, SL_E_AUTH_TOO_LONG);
}

static void parse_algorithm(sl_auth_challenge *c, sl_slice raw)
{
	c->algo_given = true;
	for (size_t i = 0; i < NALGO; i++) {
		if (sl__auth_val_eq(raw, algo_names[i])) {
			c->algo = (enum sl_auth_algo)i;
			return;
		}
	}
	set_unusable(c, SL_E_AUTH_BAD_ALGORITHM);
}

/* qop="auth, auth-int": a comma list inside one value. */
static void parse_qop(sl_auth_challenge *c, sl_slice raw)
{
	const char *p = raw.p, *end = raw.p + raw.n;
	while (p < end) {
		while (p < end && (*p == ',' || is_ows(*p)))
			p++;
		const char *s = p;
		while (p < end && *p != ',' && !is_ows(*p))
			p++;
		sl_slice item = sl_slice_make(s, (size_t)(p - s));
		if (!item.n)
			continue;
		if (sl__auth_val_eq(item, "auth"))
			c->qop |= SL_AUTH_QOP_AUTH;
		else if (sl__auth_val_eq(item, "auth-int"))
			c->qop |= SL_AUTH_QOP_AUTH_INT;
	}
}

static void apply(sl_auth_challenge *c, sl_slice name, sl_slice raw, unsigned *seen)
{
	size_t i = 0;
	while (i < P_COUNT && !sl_slice_case_eq_cstr(name, params[i].name))
		i++;
	if (i == P_COUNT || !(params[i].schemes & (1u << c->scheme)))
		return;
	if (*seen & (1u << i)) {
		set_unusable(c, SL_E_AUTH_DUPLICATE);
		return;
	}
	*seen |= 1u << i;

	switch ((enum param)i) {
	case P_REALM:
		copy_field(c, raw, c->realm, sizeof c->realm);
		c->has_realm = true;
		break;
	case P_NONCE:
		copy_field(c, raw, c->nonce, sizeof c->nonce);
		break;
	case P_OPAQUE:
		copy_field(c, raw, c->opaque, sizeof c->opaque);
		c->has_opaque = true;
		break;
	case P_ALGORITHM:
		parse_algorithm(c, raw);
		break;
	case P_QOP:
		parse_qop(c, raw);
		break;
	case P_STALE:
		c->stale = sl__auth_val_eq(raw, "true");
		break;
	case P_USERHASH:
		c->userhash = sl__auth_val_eq(raw, "true");
		break;
	case P_CHARSET:
		c->utf8 = sl__auth_val_eq(raw, "UTF-8");
		break;
	case P_DOMAIN:
		c->domain = raw;
		break;
	case P_COUNT:
		break;
	}
}

/* Decides whether a complete challenge can be answered. */
static void finish(sl_auth_challenge *c, unsigned seen)
{
	switch (c->scheme) {
	case SL_AUTH_BASIC:
		break;
	case SL_AUTH_DIGEST:
		if (!(seen & (1u << P_NONCE)))
			set_unusable(c, SL_E_AUTH_NO_NONCE);
		/* qop offered without auth, or -sess (which needs a cnonce) without qop. */
		if (((seen & (1u << P_QOP)) || sl__auth_algo_sess(c->algo)) &&
		    !(c->qop & SL_AUTH_QOP_AUTH))
			set_unusable(c, SL_E_AUTH_BAD_QOP);
		break;
	default:
		c->unusable = SL_E_AUTH_SCHEME;
		break;
	}
}

/* Whether the cursor is on `token BWS "="`: a parameter, not a new challenge. */
static bool at_param(const sl__auth_cur *c)
{
	sl__auth_cur t = *c;
	if (!token(&t).n)
		return false;
	skip_ows(&t);
	return t.p < t.end && *t.p == '=';
}

/* A token68 at the cursor, if what follows it ends the challenge. */
static bool token68(sl__auth_cur *c, sl_slice *out)
{
	const char *p = c->p;
	while (p < c->end && t68char((unsigned char)*p))
		p++;
	if (p == c->p)
		return false;
	while (p < c->end && *p == '=')
		p++;
	const char *e = p;
	while (p < c->end && is_ows(*p))
		p++;
	if (p < c->end && *p != ',')
		return false;
	*out = sl_slice_make(c->p, (size_t)(e - c->p));
	c->p = p;
	return true;
}

/* Parses one challenge at the cursor, which is on its scheme. */
static int challenge(sl__auth_cur *c, sl_auth_challenge *ch)
{
	sl_slice name, raw;
	unsigned seen = 0;
	int r;

	memset(ch, 0, sizeof *ch);
	ch->scheme_name = token(c);
	if (!ch->scheme_name.n)
		return SL_E_AUTH_SYNTAX;
	ch->scheme = scheme_of(ch->scheme_name);

	if (c->p < c->end && is_ows(*c->p)) {
		skip_ows(c);
		if (c->p < c->end && *c->p != ',') {
			if (token68(c, &ch->token68))
				goto done;
			/* The first parameter must be one: "Digest foo" is no list. */
			if ((r = sl__auth_param(c, &name, &raw)) < 0)
				return r;
			apply(ch, name, raw, &seen);
			skip_ows(c);
		}
	}
	while (c->p < c->end) {
		if (*c->p != ',')
			return SL_E_AUTH_SYNTAX;
		sl__auth_cur t = *c;
		skip_seps(&t);
		if (t.p >= t.end || !at_param(&t))
			break;          /* the end, or the next challenge */
		*c = t;
		if ((r = sl__auth_param(c, &name, &raw)) < 0)
			return r;
		apply(ch, name, raw, &seen);
		skip_ows(c);
	}
done:
	finish(ch, seen);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Iteration and choice                                                */
/* ------------------------------------------------------------------ */

static void load(sl_auth_iter *it)
{
	const sl_field *fl = &it->f[it->idx];
	it->p = fl->value.p;
	it->end = fl->value.p ? fl->value.p + fl->value.n : NULL;
}

void sl_auth_iter_value(sl_auth_iter *it, sl_slice value)
{
	memset(it, 0, sizeof *it);
	it->p = value.p;
	it->end = value.p ? value.p + value.n : NULL;
}

void sl_auth_iter_fields(sl_auth_iter *it, const sl_field *f, size_t n, const char *name)
{
	memset(it, 0, sizeof *it);
	it->f = f;
	it->n = n;
	it->name = sl_slice_cstr(name);
	it->idx = sl_headers_find_slice(f, n, it->name, 0);
	if (it->idx < n)
		load(it);
}

/* Moves to the next field of the name; false when there is none. */
static bool next_field(sl_auth_iter *it)
{
	if (!it->f || it->idx >= it->n)
		return false;
	it->idx = sl_headers_find_slice(it->f, it->n, it->name, it->idx + 1);
	if (it->idx >= it->n)
		return false;
	load(it);
	return true;
}

int sl_auth_next(sl_auth_iter *it, sl_auth_challenge *c)
{
	sl__auth_cur cur;

	for (;;) {
		cur = (sl__auth_cur){it->p, it->end};
		skip_seps(&cur);
		if (cur.p < cur.end)
			break;
		if (!next_field(it)) {
			it->p = it->end;
			return 0;
		}
	}
	int r = challenge(&cur, c);
	if (r < 0) {
		it->p = it->end;
		return r;
	}
	it->p = cur.p;
	return 1;
}

int sl_auth_rank(const sl_auth_challenge *c)
{
	if (c->unusable)
		return 0;
	switch (c->scheme) {
	case SL_AUTH_BASIC:
		return 1;
	case SL_AUTH_DIGEST: {
		int base;
		switch (c->algo) {
		case SL_AUTH_SHA512_256:
		case SL_AUTH_SHA512_256_SESS:
			base = 6;
			break;
		case SL_AUTH_SHA256:
		case SL_AUTH_SHA256_SESS:
			base = 4;
			break;
		default:
			base = 2;
			break;
		}
		return base + ((c->qop & SL_AUTH_QOP_AUTH) ? 1 : 0);
	}
	default:
		return 0;
	}
}

int sl_auth_select(const sl_field *f, size_t n, const char *name, sl_auth_challenge *best)
{
	sl_auth_iter it;
	sl_auth_challenge c;
	int best_rank = 0, reason = 0, r;
	bool malformed = false;

	sl_auth_iter_fields(&it, f, n, name);
	while ((r = sl_auth_next(&it, &c)) != 0) {
		if (r < 0) {
			malformed = true;
			continue;
		}
		int k = sl_auth_rank(&c);
		if (k > best_rank) {
			*best = c;
			best_rank = k;
		} else if (!k && (!reason || reason == SL_E_AUTH_SCHEME)) {
			/* An unsupported scheme explains less than a bad Digest. */
			reason = c.unusable;
		}
	}
	if (best_rank)
		return 0;
	if (reason)
		return reason;
	return malformed ? SL_E_AUTH_SYNTAX : SL_E_AUTH_NO_CHALLENGE;
}
