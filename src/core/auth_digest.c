/*
 * The Digest scheme (RFC 7616, with RFC 2617's qop=auth and RFC 2069's
 * no-qop compatibility): H(A1), H(A2), the request digest, userhash,
 * username* (RFC 8187), nonce counting, stale challenges, and
 * Authentication-Info (rspauth, nextnonce). Hashes go through OpenSSL's EVP
 * interface, whose context is the only allocation here (OpenSSL 3 keeps it
 * opaque); one context serves all the hashes of one call. Intermediate
 * secrets are wiped before returning. A state is touched by one caller at a
 * time and carries a magic number checked on every use.
 */
#include "core/auth.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/auth_internal.h"
#include "core/err.h"

#define STATE_MAGIC 0x44696765u        /* "Dige" */
#define CNONCE_BYTES 16

static const EVP_MD *md_of(enum sl_auth_algo a)
{
	switch (a) {
	case SL_AUTH_SHA256:
	case SL_AUTH_SHA256_SESS:
		return EVP_sha256();
	case SL_AUTH_SHA512_256:
	case SL_AUTH_SHA512_256_SESS:
		return EVP_sha512_256();
	default:
		return EVP_md5();
	}
}

static void hex(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Lowercase hex of H(parts[0] ":" parts[1] ":" ...) into out. */
static int hash(EVP_MD_CTX *ctx, enum sl_auth_algo a, const sl_slice *parts, size_t n,
		char out[SL_AUTH_HEX_MAX])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	int ok = EVP_DigestInit_ex(ctx, md_of(a), NULL);

	for (size_t i = 0; ok && i < n; i++) {
		if (i)
			ok = EVP_DigestUpdate(ctx, ":", 1);
		if (ok && parts[i].n)
			ok = EVP_DigestUpdate(ctx, parts[i].p, parts[i].n);
	}
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, d, &dl);
	if (!ok || 2 * (size_t)dl >= SL_AUTH_HEX_MAX) {
		out[0] = '\0';
		return SL_E_AUTH_CRYPTO;
	}
	hex(d, dl, out);
	OPENSSL_cleanse(d, sizeof d);
	return 0;
}

/* H(A1): H(user:realm:pass), then H(that:nonce:cnonce) for -sess. */
static int make_ha1(EVP_MD_CTX *ctx, const sl_auth_digest_state *st,
		    const sl_auth_cred *cred, char ha1[SL_AUTH_HEX_MAX])
{
	char base[SL_AUTH_HEX_MAX];
	sl_slice a[3] = {cred->user, sl_slice_cstr(st->realm), cred->pass};
	int r = hash(ctx, st->algo, a, 3, base);

	if (r == 0 && sl__auth_algo_sess(st->algo)) {
		sl_slice s[3] = {sl_slice_cstr(base), sl_slice_cstr(st->nonce),
				 sl_slice_cstr(st->cnonce)};
		r = hash(ctx, st->algo, s, 3, ha1);
	} else if (r == 0) {
		memcpy(ha1, base, sizeof base);
	}
	OPENSSL_cleanse(base, sizeof base);
	return r;
}

/*
 * The request digest (method set) or rspauth (method empty: A2 = ":" uri),
 * with qop=auth and nc, or in RFC 2069 form without.
 */
static int make_digest(EVP_MD_CTX *ctx, const sl_auth_digest_state *st, const char *ha1,
		       sl_slice method, sl_slice uri, sl_slice nc, sl_slice cnonce,
		       char out[SL_AUTH_HEX_MAX])
{
	char ha2[SL_AUTH_HEX_MAX];
	sl_slice a2[2] = {method, uri};
	int r = hash(ctx, st->algo, a2, 2, ha2);
	if (r < 0)
		return r;
	if (st->qop_auth) {
		sl_slice k[6] = {sl_slice_cstr(ha1), sl_slice_cstr(st->nonce), nc, cnonce,
				 SL_SLICE_LIT("auth"), sl_slice_cstr(ha2)};
		return hash(ctx, st->algo, k, 6, out);
	}
	sl_slice k[3] = {sl_slice_cstr(ha1), sl_slice_cstr(st->nonce), sl_slice_cstr(ha2)};
	return hash(ctx, st->algo, k, 3, out);
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

/* Appends into a caller buffer, always leaving room for the NUL. */
struct out {
	char *p;
	size_t cap;
	size_t len;
	bool over;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->over || n >= o->cap - o->len) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A quoted-string: quote and backslash get a backslash before them. */
static void put_quoted(struct out *o, sl_slice s)
{
	put(o, "\"", 1);
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] == '"' || s.p[i] == '\\')
			put(o, "\\", 1);
		put(o, &s.p[i], 1);
	}
	put(o, "\"", 1);
}

/* attr-char of RFC 8187 section 3.2.1: sent as is in an ext-value. */
static bool attr_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$&+-.^_`|~", c) != NULL;
}

/* An ext-value, UTF-8''pct-encoded (RFC 8187 section 3.2). */
static void put_ext(struct out *o, sl_slice s)
{
	static const char digits[] = "0123456789ABCDEF";
	put_str(o, "UTF-8''");
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (attr_char(c)) {
			put(o, (const char *)&s.p[i], 1);
		} else {
			char e[3] = {'%', digits[c >> 4], digits[c & 15]};
			put(o, e, 3);
		}
	}
}

/* Whether a user name cannot travel in a quoted-string of printable ASCII. */
static bool needs_ext(sl_slice s)
{
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 0x20 || c >= 0x7f)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

static void check(const sl_auth_digest_state *st)
{
	assert(st->magic == STATE_MAGIC);
	(void)st;
}

/* Takes the nonce-dependent part of a challenge; the count starts again. */
static void adopt(sl_auth_digest_state *st, const sl_auth_challenge *ch)
{
	memcpy(st->nonce, ch->nonce, sizeof st->nonce);
	memcpy(st->opaque, ch->opaque, sizeof st->opaque);
	st->has_opaque = ch->has_opaque;
	st->qop_auth = (ch->qop & SL_AUTH_QOP_AUTH) != 0;
	st->userhash = ch->userhash;
	st->nc = 0;
	OPENSSL_cleanse(st->cnonce, sizeof st->cnonce);
}

static int new_cnonce(sl_auth_digest_state *st)
{
	unsigned char b[CNONCE_BYTES];
	int r;

	if (st->rnd)
		r = st->rnd(st->rnd_arg, b, sizeof b);
	else
		r = RAND_bytes(b, sizeof b) == 1 ? 0 : SL_E_AUTH_CRYPTO;
	if (r == 0)
		hex(b, sizeof b, st->cnonce);
	OPENSSL_cleanse(b, sizeof b);
	return r < 0 ? r : 0;
}

int sl_auth_digest_init(sl_auth_digest_state *st, const sl_auth_challenge *ch,
			sl_auth_rand_fn rnd, void *arg)
{
	if (ch->scheme != SL_AUTH_DIGEST)
		return SL_E_AUTH_SCHEME;
	if (ch->unusable)
		return ch->unusable;
	memset(st, 0, sizeof *st);
	st->magic = STATE_MAGIC;
	st->algo = ch->algo;
	st->algo_given = ch->algo_given;
	st->rnd = rnd;
	st->rnd_arg = arg;
	memcpy(st->realm, ch->realm, sizeof st->realm);
	adopt(st, ch);
	return 0;
}

int sl_auth_digest_set_cnonce(sl_auth_digest_state *st, sl_slice cnonce)
{
	check(st);
	if (!cnonce.n || cnonce.n >= sizeof st->cnonce)
		return SL_E_INVAL;
	for (size_t i = 0; i < cnonce.n; i++) {
		unsigned char c = (unsigned char)cnonce.p[i];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return SL_E_INVAL;
	}
	memcpy(st->cnonce, cnonce.p, cnonce.n);
	st->cnonce[cnonce.n] = '\0';
	return 0;
}

int sl_auth_digest_respond(sl_auth_digest_state *st, const sl_auth_cred *cred,
			   sl_slice method, sl_slice uri, char *out, size_t cap)
{
	char ha1[SL_AUTH_HEX_MAX], resp[SL_AUTH_HEX_MAX], uh[SL_AUTH_HEX_MAX];
	char nc[9];
	int r;

	check(st);
	if (cap == 0)
		return SL_E_AUTH_BUFFER;
	out[0] = '\0';
	if (st->nc == UINT32_MAX)
		return SL_E_AUTH_NONCE_SPENT;
	if (!st->cnonce[0] && (r = new_cnonce(st)) < 0)
		return r;
	snprintf(nc, sizeof nc, "%08x", (unsigned)(st->nc + 1));

	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return SL_E_NOMEM;
	r = make_ha1(ctx, st, cred, ha1);
	if (r == 0)
		r = make_digest(ctx, st, ha1, method, uri, sl_slice_cstr(nc),
				sl_slice_cstr(st->cnonce), resp);
	if (r == 0 && st->userhash) {
		sl_slice u[2] = {cred->user, sl_slice_cstr(st->realm)};
		r = hash(ctx, st->algo, u, 2, uh);
	}
	EVP_MD_CTX_free(ctx);
	if (r < 0)
		goto out;

	struct out o = {out, cap, 0, false};
	put_str(&o, "Digest ");
	if (st->userhash) {
		put_str(&o, "username=");
		put_quoted(&o, sl_slice_cstr(uh));
	} else if (needs_ext(cred->user)) {
		put_str(&o, "username*=");
		put_ext(&o, cred->user);
	} else {
		put_str(&o, "username=");
		put_quoted(&o, cred->user);
	}
	put_str(&o, ", realm=");
	put_quoted(&o, sl_slice_cstr(st->realm));
	put_str(&o, ", uri=");
	put_quoted(&o, uri);
	if (st->algo_given) {
		put_str(&o, ", algorithm=");
		put_str(&o, sl_auth_algo_name(st->algo));
	}
	put_str(&o, ", nonce=");
	put_quoted(&o, sl_slice_cstr(st->nonce));
	if (st->qop_auth) {
		put_str(&o, ", nc=");
		put_str(&o, nc);
		put_str(&o, ", cnonce=");
		put_quoted(&o, sl_slice_cstr(st->cnonce));
		put_str(&o, ", qop=auth");
	}
	put_str(&o, ", response=");
	put_quoted(&o, sl_slice_cstr(resp));
	if (st->has_opaque) {
		put_str(&o, ", opaque=");
		put_quoted(&o, sl_slice_cstr(st->opaque));
	}
	if (st->userhash)
		put_str(&o, ", userhash=true");

	if (o.over || o.len > INT_MAX) {
		out[0] = '\0';
		r = SL_E_AUTH_BUFFER;
		goto out;
	}
	st->nc++;
	memcpy(st->ha1, ha1, sizeof st->ha1);
	r = (int)o.len;
out:
	OPENSSL_cleanse(ha1, sizeof ha1);
	return r;
}

int sl_auth_digest_update(sl_auth_digest_state *st, const sl_auth_challenge *ch)
{
	check(st);
	if (ch->scheme != SL_AUTH_DIGEST || ch->unusable || !ch->stale ||
	    ch->algo != st->algo || strcmp(ch->realm, st->realm) != 0)
		return SL_E_AUTH_REJECTED;
	adopt(st, ch);
	return 0;
}

int sl_auth_digest_refresh(sl_auth_digest_state *st, const sl_field *f, size_t n,
			   const char *name)
{
	sl_auth_iter it;
	sl_auth_challenge ch;
	int r;

	check(st);
	sl_auth_iter_fields(&it, f, n, name);
	while ((r = sl_auth_next(&it, &ch)) != 0)
		if (r > 0 && sl_auth_digest_update(st, &ch) == 0)
			return 0;
	return SL_E_AUTH_REJECTED;
}

/* ------------------------------------------------------------------ */
/* Authentication-Info (RFC 7616 section 3.5)                          */
/* ------------------------------------------------------------------ */

struct info {
	sl_slice rspauth, nextnonce, cnonce, nc;
	bool has_rspauth, has_nextnonce, has_cnonce, has_nc;
};

static int read_info(const sl_field *f, size_t n, const char *name, struct info *in)
{
	sl_slice pname, raw;
	int r;

	memset(in, 0, sizeof *in);
	for (size_t i = sl_headers_find(f, n, name); i < n;
	     i = sl_headers_find_next(f, n, name, i)) {
		sl__auth_cur c = {f[i].value.p, f[i].value.p ? f[i].value.p + f[i].value.n : NULL};
		while ((r = sl__auth_params_next(&c, &pname, &raw)) > 0) {
			if (sl_slice_case_eq_cstr(pname, "rspauth")) {
				in->rspauth = raw;
				in->has_rspauth = true;
			} else if (sl_slice_case_eq_cstr(pname, "nextnonce")) {
				in->nextnonce = raw;
				in->has_nextnonce = true;
			} else if (sl_slice_case_eq_cstr(pname, "cnonce")) {
				in->cnonce = raw;
				in->has_cnonce = true;
			} else if (sl_slice_case_eq_cstr(pname, "nc")) {
				in->nc = raw;
				in->has_nc = true;
			}
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static bool is_nc(sl_slice s)
{
	if (s.n != 8)
		return false;
	for (size_t i = 0; i < 8; i++) {
		char c = s.p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* Checks rspauth against what the last request's H(A1) predicts. */
static int verify(const sl_auth_digest_state *st, const struct info *in, sl_slice uri)
{
	char want[SL_AUTH_HEX_MAX], got[SL_AUTH_HEX_MAX], nc[9];
	sl_slice ncs, cn = sl_slice_cstr(st->cnonce);

	/* Our cnonce never holds a quoted-pair, so the raw echo must equal it. */
	if (in->has_cnonce && (in->cnonce.n != cn.n || memcmp(in->cnonce.p, cn.p, cn.n) != 0))
		return SL_E_AUTH_RSPAUTH;
	if (in->has_nc) {
		if (!is_nc(in->nc))
			return SL_E_AUTH_RSPAUTH;
		ncs = in->nc;
	} else {
		snprintf(nc, sizeof nc, "%08x", (unsigned)st->nc);
		ncs = sl_slice_cstr(nc);
	}
	if (sl__auth_unescape(in->rspauth, got, sizeof got) < 0)
		return SL_E_AUTH_RSPAUTH;

	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return SL_E_NOMEM;
	int r = make_digest(ctx, st, st->ha1, SL_SLICE_NULL, uri, ncs, cn, want);
	EVP_MD_CTX_free(ctx);
	if (r < 0)
		return r;
	size_t len = strlen(want);
	for (size_t i = 0; got[i]; i++)
		if (got[i] >= 'A' && got[i] <= 'F')
			got[i] = (char)(got[i] + 32);
	if (strlen(got) != len || CRYPTO_memcmp(got, want, len) != 0)
		return SL_E_AUTH_RSPAUTH;
	return 0;
}

int sl_auth_digest_info(sl_auth_digest_state *st, const sl_field *f, size_t n,
			const char *name, sl_slice uri)
{
	struct info in;
	char next[SL_AUTH_NONCE_MAX];
	int r;

	check(st);
	if (sl_headers_find(f, n, name) == n)
		return 0;
	if ((r = read_info(f, n, name, &in)) < 0)
		return r;
	if (in.has_rspauth) {
		if (!st->ha1[0])
			return SL_E_INVAL;
		if ((r = verify(st, &in, uri)) < 0)
			return r;
	}
	if (in.has_nextnonce) {
		if (sl__auth_unescape(in.nextnonce, next, sizeof next) < 0)
			return SL_E_AUTH_TOO_LONG;
		memcpy(st->nonce, next, sizeof st->nonce);
		st->nc = 0;
		OPENSSL_cleanse(st->cnonce, sizeof st->cnonce);
	}
	return 0;
}

void sl_auth_digest_clear(sl_auth_digest_state *st)
{
	OPENSSL_cleanse(st, sizeof *st);
}
