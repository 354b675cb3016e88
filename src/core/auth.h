/*
 * The authenticator's arithmetic, shared by the HTTP client (401,
 * WWW-Authenticate, Authorization) and the CONNECT engine (407,
 * Proxy-Authenticate, Proxy-Authorization): challenge parsing (RFC 9110
 * section 11), Basic (RFC 7617) and Digest (RFC 7616, with RFC 2069
 * compatibility when a server offers no qop). No sockets, no I/O, no global
 * state: every function works on its arguments only, writes into buffers the
 * caller owns and checks their sizes, so any thread may call in. A Digest
 * state is plain data owned by one caller at a time; several threads sharing
 * one must lock around it. Parsed challenges copy what must outlive the
 * response (realm, nonce, opaque) into fixed-size fields; the few slices
 * they hold point into the field values they were parsed from.
 */
#ifndef SL_CORE_AUTH_H
#define SL_CORE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/headers.h"
#include "core/slice.h"

/* Longest realm, nonce, opaque and cnonce kept, terminating NUL included. */
#define SL_AUTH_REALM_MAX 256
#define SL_AUTH_NONCE_MAX 256
#define SL_AUTH_OPAQUE_MAX 256
#define SL_AUTH_CNONCE_MAX 64
/* Longest hexadecimal digest (SHA-256, SHA-512/256) with its NUL. */
#define SL_AUTH_HEX_MAX 65

enum sl_auth_scheme {
	SL_AUTH_NONE = 0,
	SL_AUTH_BASIC,
	SL_AUTH_DIGEST,
	SL_AUTH_BEARER,
	SL_AUTH_OTHER,          /* any other scheme: Negotiate, NTLM, ... */
};

/* Digest algorithms (RFC 7616 section 6.1). */
enum sl_auth_algo {
	SL_AUTH_MD5 = 0,        /* also the default when none is given */
	SL_AUTH_MD5_SESS,
	SL_AUTH_SHA256,
	SL_AUTH_SHA256_SESS,
	SL_AUTH_SHA512_256,
	SL_AUTH_SHA512_256_SESS,
};

/* Bits of sl_auth_challenge.qop. */
#define SL_AUTH_QOP_AUTH 1u
#define SL_AUTH_QOP_AUTH_INT 2u

/*
 * One challenge. `unusable` is 0 when this client can answer it, else the
 * reason as an SL_E_AUTH_* code (unsupported scheme, unknown algorithm, no
 * usable qop, no nonce, a parameter too long for its field or given twice).
 * Strings are NUL-terminated copies with quoted-pairs undone; a realm that
 * is absent reads "" with has_realm false (still usable: some servers omit
 * it). scheme_name, token68 and domain point into the parsed field value.
 */
typedef struct sl_auth_challenge {
	enum sl_auth_scheme scheme;
	int unusable;
	sl_slice scheme_name;           /* as the server spelled it */
	sl_slice token68;               /* empty unless the challenge is a token68 */
	sl_slice domain;                /* Digest domain, inside the quotes, raw */
	enum sl_auth_algo algo;
	unsigned qop;                   /* SL_AUTH_QOP_* offered; 0: no qop (RFC 2069) */
	bool has_realm;
	bool has_opaque;
	bool algo_given;                /* the challenge named its algorithm */
	bool stale;
	bool userhash;
	bool utf8;                      /* charset=UTF-8 */
	char realm[SL_AUTH_REALM_MAX];
	char nonce[SL_AUTH_NONCE_MAX];
	char opaque[SL_AUTH_OPAQUE_MAX];
} sl_auth_challenge;

/* ------------------------------------------------------------------ */
/* Challenges (RFC 9110 section 11.2, 11.6.1, 11.7.1)                   */
/* ------------------------------------------------------------------ */

/*
 * An iterator over the challenges of one field value, or of every field of
 * one name in order. Plain data; it keeps pointers to the fields and the
 * name, which must stay valid while it is in use.
 */
typedef struct sl_auth_iter {
	const char *p;                  /* rest of the current value */
	const char *end;
	const sl_field *f;              /* NULL when iterating one value */
	size_t n;
	size_t idx;
	sl_slice name;
} sl_auth_iter;

/* Starts iterating the challenges of one field value. */
void sl_auth_iter_value(sl_auth_iter *it, sl_slice value);

/*
 * Starts iterating the challenges of every field called name
 * ("WWW-Authenticate" or "Proxy-Authenticate").
 */
void sl_auth_iter_fields(sl_auth_iter *it, const sl_field *f, size_t n, const char *name);

/*
 * Parses the next challenge into *c. Scheme and parameter names compare
 * ASCII case-insensitively; parameters this client does not know are
 * skipped; challenges of schemes it does not speak come out with their
 * scheme and unusable = SL_E_AUTH_SCHEME. Returns 1 when *c holds a
 * challenge, 0 at the end, or SL_E_AUTH_SYNTAX when the rest of the current
 * field value is malformed: that rest is dropped (a list cannot be resynced
 * safely) and the next call continues with the next field.
 */
int sl_auth_next(sl_auth_iter *it, sl_auth_challenge *c);

/*
 * Returns how strong a challenge is: 0 if unusable, then Basic, Digest MD5,
 * SHA-256, SHA-512-256 in increasing order (a Digest challenge with qop
 * ranks just above the same algorithm without).
 */
int sl_auth_rank(const sl_auth_challenge *c);

/*
 * Parses every challenge of the fields called name and stores the strongest
 * usable one in *best (the first of equals, the server's order). Returns 0;
 * else SL_E_AUTH_NO_CHALLENGE when there is no challenge at all, or the
 * reason the first unusable challenge could not be used (SL_E_AUTH_SCHEME,
 * SL_E_AUTH_BAD_QOP, ...), or SL_E_AUTH_SYNTAX when nothing parsed.
 */
int sl_auth_select(const sl_field *f, size_t n, const char *name, sl_auth_challenge *best);

/* Returns the token of an algorithm as sent on the wire ("SHA-256-sess"). */
const char *sl_auth_algo_name(enum sl_auth_algo a);

/* Returns the canonical spelling of a scheme ("Digest"), "" for SL_AUTH_NONE. */
const char *sl_auth_scheme_name(enum sl_auth_scheme s);

/* ------------------------------------------------------------------ */
/* Credentials and Basic (RFC 7617)                                    */
/* ------------------------------------------------------------------ */

/*
 * A user name and password, borrowed from the caller (the configuration)
 * for the length of one call; nothing here keeps them. Both are octets,
 * expected in UTF-8 (Unicode normalisation, RFC 7613, is the caller's).
 */
typedef struct sl_auth_cred {
	sl_slice user;
	sl_slice pass;
} sl_auth_cred;

/*
 * Writes the Basic credentials "Basic " base64(user ":" pass) and a NUL into
 * out (cap bytes). Returns the length without the NUL, SL_E_AUTH_BAD_CREDENTIALS
 * when the user contains a colon or either contains a control character
 * (RFC 7617 section 2), or SL_E_AUTH_BUFFER when out is too small.
 */
int sl_auth_basic(const sl_auth_cred *cred, char *out, size_t cap);

/* ------------------------------------------------------------------ */
/* Digest (RFC 7616)                                                   */
/* ------------------------------------------------------------------ */

/*
 * A random source: fills buf with n unpredictable bytes, returns 0 or a
 * negative code. NULL stands for OpenSSL's RAND_bytes().
 */
typedef int (*sl_auth_rand_fn)(void *arg, unsigned char *buf, size_t n);

/*
 * What a client remembers about one Digest protection space between
 * requests: the server's nonce and how often it was used (nonce counting),
 * the client nonce, and H(A1) of the last request (to check rspauth). One
 * cnonce serves every request under one nonce, so that a -sess session key
 * stays the same for the life of the nonce; a new nonce brings a new cnonce.
 * Plain data set up by sl_auth_digest_init() and wiped by
 * sl_auth_digest_clear(); it holds no pointers except the random source.
 */
typedef struct sl_auth_digest_state {
	uint32_t magic;
	enum sl_auth_algo algo;
	bool algo_given;
	bool qop_auth;                  /* qop=auth; false: RFC 2069 mode */
	bool userhash;
	bool has_opaque;
	uint32_t nc;                    /* requests sent under this nonce */
	sl_auth_rand_fn rnd;
	void *rnd_arg;
	char realm[SL_AUTH_REALM_MAX];
	char nonce[SL_AUTH_NONCE_MAX];
	char opaque[SL_AUTH_OPAQUE_MAX];
	char cnonce[SL_AUTH_CNONCE_MAX];
	char ha1[SL_AUTH_HEX_MAX];      /* of the last request; "" before it */
} sl_auth_digest_state;

/*
 * Sets up *st from a usable Digest challenge (copied: the challenge may go
 * away). rnd (NULL for RAND_bytes) and arg make the client nonces. Returns
 * 0, SL_E_AUTH_SCHEME for a challenge that is not Digest, or the
 * challenge's own unusable reason.
 */
int sl_auth_digest_init(sl_auth_digest_state *st, const sl_auth_challenge *ch,
			sl_auth_rand_fn rnd, void *arg);

/*
 * Makes cnonce the client nonce for the current server nonce instead of a
 * random one (test vectors, replay of a recorded exchange). It lasts until
 * the nonce changes. Returns 0, or SL_E_INVAL when it is empty, too long or
 * contains a quote, a backslash or a control character.
 */
int sl_auth_digest_set_cnonce(sl_auth_digest_state *st, sl_slice cnonce);

/*
 * Counts one more use of the nonce and writes the credentials for one
 * request, "Digest username=..., response=...", and a NUL into out. method
 * is the request method, uri the request-target as sent (origin-form path
 * and query, or "host:port" for CONNECT). With userhash the username sent
 * is H(user ":" realm); a user name outside printable ASCII goes out as
 * username*=UTF-8''... (RFC 7616 section 3.4.4, RFC 8187). Returns the
 * length without the NUL, SL_E_AUTH_BUFFER (the nonce count is not used
 * up), SL_E_AUTH_NONCE_SPENT when the count would wrap, SL_E_AUTH_CRYPTO,
 * or the random source's error.
 */
int sl_auth_digest_respond(sl_auth_digest_state *st, const sl_auth_cred *cred,
			   sl_slice method, sl_slice uri, char *out, size_t cap);

/*
 * Decides what a new 401 or 407 means for a state whose credentials were
 * just sent. When ch is a usable Digest challenge for the same realm and
 * algorithm with stale=true, the server knew the credentials but not the
 * nonce: the new nonce and opaque are adopted, the count restarts and 0 is
 * returned, meaning "send the request again with the same credentials".
 * Anything else returns SL_E_AUTH_REJECTED ("the credentials were wrong")
 * and leaves *st alone.
 */
int sl_auth_digest_update(sl_auth_digest_state *st, const sl_auth_challenge *ch);

/*
 * As sl_auth_digest_update() over every challenge of the fields called name:
 * 0 if one of them is a stale challenge for this state (adopted), else
 * SL_E_AUTH_REJECTED.
 */
int sl_auth_digest_refresh(sl_auth_digest_state *st, const sl_field *f, size_t n,
			   const char *name);

/*
 * Reads the fields called name ("Authentication-Info" or
 * "Proxy-Authentication-Info") of the response to the last request sent
 * with *st, for the request-target uri of that request. A rspauth present is
 * checked first, with the nc the server echoes (else ours) and our cnonce
 * (an echoed cnonce must equal it); then a nextnonce is adopted, restarting
 * the count and the cnonce. Returns 0 (also when there is no such field),
 * SL_E_AUTH_RSPAUTH when the server failed to prove it knows the
 * credentials (nothing adopted), SL_E_AUTH_SYNTAX, SL_E_AUTH_TOO_LONG for
 * an oversized nextnonce, or SL_E_INVAL for a rspauth when no request was
 * sent with this state yet.
 */
int sl_auth_digest_info(sl_auth_digest_state *st, const sl_field *f, size_t n,
			const char *name, sl_slice uri);

/* Wipes *st (keys and nonces included); it must be set up again before use. */
void sl_auth_digest_clear(sl_auth_digest_state *st);

#endif
