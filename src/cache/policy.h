/*
 * The rules of RFC 9111 for a shared cache (and RFC 5861's stale-while-
 * revalidate and stale-if-error), as pure functions over parsed header
 * fields: whether a response may be stored, how long it stays fresh, how
 * old a stored response is, whether a stored response may answer a request
 * (fresh, stale and allowed, or only after validation), the conditional
 * request that validates it, how a 304 updates it, Vary's secondary key,
 * what an unsafe request invalidates, a client's own conditional request,
 * and single byte ranges. Nothing here touches a file, a clock or a socket:
 * times come in as arguments (seconds since the epoch), so every rule can
 * be tested with the RFC's own cases. (One exception: where no time is
 * passed in, the two-digit year of an obsolete RFC 850 date is read
 * against the current year, as sl_http_date_parse() does.) Slices returned
 * point into the caller's fields. Nothing allocates.
 *
 * A hit, in order: sl_cache_use(). FRESH, STALE, STALE_REVALIDATE: serve
 * the entry (strip the no-cache="..." fields when
 * SL_CACHE_F_NO_CACHE_FIELDS is set; STALE_REVALIDATE also starts a
 * background validation), answering a client's own conditional with
 * sl_cache_client_cond() (stored 200 only) and a Range with
 * sl_cache_range(). VALIDATE: send the request upstream with
 * sl_cache_validators(); on a 304 that sl_cache_304_selects(), update with
 * sl_cache_update_fields(), sl_cache_store_fields() and
 * sl_cache_meta_refresh() and serve; on a failure (no response, 500, 502,
 * 503, 504) serve the entry when sl_cache_stale_on_error() allows, else
 * the error. NONE: forward as a miss. With only-if-cached, VALIDATE and
 * NONE become a 504 instead.
 */
#ifndef SL_CACHE_POLICY_H
#define SL_CACHE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/headers.h"
#include "core/http_parse.h"
#include "core/slice.h"

/* What the policy needs to know of the cache that applies it. */
typedef struct sl_cache_policy_conf {
	bool shared;              /* a shared cache (the proxy): s-maxage, private and
	                             Authorization rules apply; false for a private
	                             cache (sluice-fetch) */
	int64_t heuristic_max;    /* seconds: cap of heuristic freshness (cache.heuristic_max) */
} sl_cache_policy_conf;

/* A request as the cache sees it, parsed once (sl_cache_req_init()). */
typedef struct sl_cache_req {
	enum sl_http_method meth;
	const sl_field *fields;
	size_t nfields;
	sl_cache_control cc;     /* the request's directives (Pragma: no-cache included) */
	bool authorization;      /* an Authorization field is present */
	bool conditional;        /* If-None-Match or If-Modified-Since is present */
	bool if_match;           /* If-Match or If-Unmodified-Since: not answered
	                            from the cache (RFC 9111 section 4.3.2 calls
	                            them not applicable to a cache), so
	                            sl_cache_use() says NONE. If-Range is not
	                            counted here: sl_cache_range() evaluates it */
	bool range;              /* a Range field is present */
} sl_cache_req;

/* Fills *r for a request with method m and fields f[0..n). */
void sl_cache_req_init(sl_cache_req *r, enum sl_http_method m, const sl_field *f, size_t n);

/* sl_cache_meta.flags */
enum {
	SL_CACHE_F_NO_CACHE = 1u << 0,        /* response no-cache (unqualified): always validate */
	SL_CACHE_F_MUST_REVALIDATE = 1u << 1, /* must-revalidate, or proxy-revalidate /
	                                         s-maxage in a shared cache: never served
	                                         stale */
	SL_CACHE_F_HEURISTIC = 1u << 2,       /* freshness_lifetime is heuristic */
	SL_CACHE_F_ETAG = 1u << 3,            /* the stored fields hold an ETag */
	SL_CACHE_F_LAST_MODIFIED = 1u << 4,   /* ... a Last-Modified */
	SL_CACHE_F_VARY = 1u << 5,            /* ... a Vary (not "*") */
	SL_CACHE_F_IMMUTABLE = 1u << 6,
	SL_CACHE_F_AUTHORIZED = 1u << 7,      /* stored from a request with Authorization */
	SL_CACHE_F_HEAD_ONLY = 1u << 8,       /* stored from a HEAD: no body, answers HEAD only */
	SL_CACHE_F_NO_CACHE_FIELDS = 1u << 9, /* no-cache="...": the named fields go out only
	                                         after validation (sl_cache_field_no_cache()) */
};

/*
 * What the cache keeps about a stored response besides its fields and
 * body. Fixed size and plain integers: the store writes it to disk as it
 * is (the store's header carries a version and a checksum).
 */
typedef struct sl_cache_meta {
	int32_t status;
	uint32_t flags;                  /* SL_CACHE_F_* */
	int64_t request_time;            /* when the request that fetched it was sent */
	int64_t response_time;           /* when its response head arrived */
	int64_t corrected_initial_age;   /* section 4.2.3, at response_time */
	int64_t freshness_lifetime;      /* section 4.2.1 (explicit or heuristic) */
	int64_t stale_while_revalidate;  /* seconds, or -1 */
	int64_t stale_if_error;          /* seconds, or -1 */
	uint64_t body_len;               /* bytes of the stored body */
} sl_cache_meta;

/* Why a response is not stored (0: it is). */
enum sl_cache_store_verdict {
	SL_CACHE_STORE = 0,
	SL_CACHE_NOSTORE_METHOD,         /* not GET or HEAD */
	SL_CACHE_NOSTORE_STATUS,         /* status not final, not understood, or 206 */
	SL_CACHE_NOSTORE_REQUEST,        /* request no-store */
	SL_CACHE_NOSTORE_NO_STORE,       /* response no-store */
	SL_CACHE_NOSTORE_PRIVATE,        /* response private (unqualified) in a shared cache */
	SL_CACHE_NOSTORE_AUTHORIZATION,  /* request had Authorization, response does not allow */
	SL_CACHE_NOSTORE_NOT_CACHEABLE,  /* no explicit freshness, status not heuristically
	                                    cacheable, no public */
	SL_CACHE_NOSTORE_USELESS,        /* no validator, and every reuse would need one:
	                                    unqualified no-cache, or stale on arrival (its
	                                    lifetime not above its Age field) without a
	                                    stale-while-revalidate or stale-if-error window */
	SL_CACHE_NOSTORE_VARY_STAR,      /* Vary: * */
	SL_CACHE_NOSTORE_MUST_UNDERSTAND, /* must-understand with a status not understood */
};

/* A short name for logs ("no-store", "private", ...). */
const char *sl_cache_store_verdict_name(enum sl_cache_store_verdict v);

/*
 * Section 3: may the response (status, fields f[0..n)) to request r be
 * stored? Pure. Status codes understood: those of RFC 9110 section 15 and
 * 428, 429, 431, 451, 511; others are not stored. must-understand with an
 * understood status overrides no-store (section 5.2.2.3). Explicitly
 * cacheable: s-maxage (shared), max-age, an Expires field (even invalid),
 * public, private in a private cache, or a heuristically cacheable status
 * (RFC 9110 section 15.1). Stale-at-once is judged from Date, Expires and
 * Age only (the exchange's times are not known yet).
 */
enum sl_cache_store_verdict sl_cache_storable(const sl_cache_policy_conf *conf,
					      const sl_cache_req *r, int status,
					      const sl_field *f, size_t n);

/*
 * Computes the metadata of a response about to be stored: flags,
 * corrected_initial_age (section 4.2.3 from Age, Date, request_time and
 * response_time), freshness_lifetime (section 4.2.1: s-maxage in a shared
 * cache, max-age, Expires - Date, else heuristic 10 % of Date -
 * Last-Modified capped by conf->heuristic_max for the statuses that allow
 * it), stale_while_revalidate and stale_if_error. body_len is left at 0
 * (the store sets it). r may be NULL (no Authorization). A missing or
 * invalid Date counts as response_time; an invalid Expires gives lifetime
 * 0; the first valid Age counts. Heuristic freshness is used only for the
 * heuristically cacheable statuses (RFC 9110 section 15.1) without explicit
 * freshness, and sets SL_CACHE_F_HEURISTIC (lifetime 0 without a
 * Last-Modified or with heuristic_max <= 0).
 */
void sl_cache_meta_compute(const sl_cache_policy_conf *conf, const sl_cache_req *r,
			   int status, const sl_field *f, size_t n, int64_t request_time,
			   int64_t response_time, sl_cache_meta *m);

/*
 * Section 4.3.4 (and 4.3.5 for a HEAD that freshens): the metadata of a
 * stored response after validation. f[0..n) are the updated fields
 * (sl_cache_update_fields() then sl_cache_store_fields()); r304[0..nr) the
 * 304's (or HEAD response's) own fields, whose Date and Age date the new
 * exchange of request_time and response_time (the updated fields keep no
 * Age, and may keep an old Date when the 304 has none). Status, body_len
 * and the AUTHORIZED and HEAD_ONLY flags come from old; the rest is
 * computed as sl_cache_meta_compute() does. m may be old.
 */
void sl_cache_meta_refresh(const sl_cache_policy_conf *conf, const sl_cache_meta *old,
			   const sl_field *f, size_t n, const sl_field *r304, size_t nr,
			   int64_t request_time, int64_t response_time, sl_cache_meta *m);

/* Section 4.2.3: current_age at now, in seconds, never negative. */
int64_t sl_cache_current_age(const sl_cache_meta *m, int64_t now);

/* True when the stored response is fresh at now (current_age < lifetime). */
bool sl_cache_is_fresh(const sl_cache_meta *m, int64_t now);

/* What a stored response may do for a request. */
enum sl_cache_use {
	SL_CACHE_USE_FRESH,     /* serve it (HIT) */
	SL_CACHE_USE_STALE,     /* stale, served because the request's max-stale allows */
	SL_CACHE_USE_STALE_REVALIDATE, /* stale within stale-while-revalidate: serve it
	                                  and revalidate in the background */
	SL_CACHE_USE_VALIDATE,  /* send a conditional request first (stale, no-cache
	                           on either side, or max-age/min-fresh not met) */
	SL_CACHE_USE_NONE,      /* not usable: forward the request as it is (request
	                           no-store, a method the cache does not answer,
	                           If-Match or If-Unmodified-Since, Authorization not
	                           allowed, HEAD-only entry for a GET, must validate
	                           but has no validator) */
};

const char *sl_cache_use_name(enum sl_cache_use u);

/*
 * Section 4 (and 4.2.4, 5.2.1, RFC 5861 section 3): how a stored response
 * with metadata m and fields f[0..n) may answer request r at now. The
 * caller has already matched the key and Vary. In order: NONE for the
 * cases listed there (in a shared cache a request with Authorization uses
 * an entry only when its response has public, s-maxage or must-revalidate,
 * section 3.5); then request no-cache (Pragma too) or response no-cache
 * (unqualified) validate; request max-age (age above it) and min-fresh
 * (lifetime - age below it) validate; fresh (age < lifetime) is FRESH;
 * stale with must-revalidate (or proxy-revalidate, s-maxage) validates;
 * within stale-while-revalidate is STALE_REVALIDATE (before max-stale, so
 * the entry gets refreshed); within the request's max-stale is STALE; else
 * VALIDATE. Every "validate" is NONE when the entry has no validator.
 * only-if-cached is the caller's: anything but FRESH, STALE and
 * STALE_REVALIDATE becomes a 504 (SL_CACHE_RESULT_OFFLINE_MISS). f is read
 * only for a request with Authorization; no-cache="..." fields are the
 * caller's to strip (SL_CACHE_F_NO_CACHE_FIELDS) whenever it serves
 * without validation.
 */
enum sl_cache_use sl_cache_use(const sl_cache_policy_conf *conf, const sl_cache_req *r,
			       const sl_cache_meta *m, const sl_field *f, size_t n,
			       int64_t now);

/*
 * RFC 5861 section 4 and RFC 9111 section 4.2.4: may the stale response be
 * served because the upstream failed (no response, or a 500, 502, 503 or
 * 504)? False when must-revalidate (or proxy-revalidate, s-maxage) forbids
 * serving stale, and when neither the response's stale-if-error, the
 * request's stale-if-error nor its max-stale covers the staleness.
 * Response no-cache forbids it too (section 4.2.4), and so do the NONE
 * cases of sl_cache_use(). The response's window alone does not serve a
 * request with no-cache, min-fresh or a max-age the entry exceeds; the
 * request's own stale-if-error or max-stale does. Meant for an entry whose
 * sl_cache_use() was VALIDATE (or STALE_REVALIDATE, FRESH, STALE: those
 * serve anyway).
 */
bool sl_cache_stale_on_error(const sl_cache_req *r, const sl_cache_meta *m, int64_t now);

/*
 * Section 4.3.1: the validators of a stored response as request fields for
 * a conditional request: If-None-Match from ETag, If-Modified-Since from
 * Last-Modified (a valid date). Both are sent when both are present: the
 * section asks for the entity-tag and for Last-Modified, and the server
 * gives If-None-Match precedence. Writes up to 2 fields into out (names are
 * static strings, values point into f) and returns how many (0: no
 * validator).
 */
size_t sl_cache_validators(const sl_field *f, size_t n, sl_field out[2]);

/*
 * Section 4.3.4: does a 304 (fields r304[0..nr)) select the stored
 * response f[0..n)? A strong ETag in the 304 must equal the stored one
 * (strong comparison), a weak one must match weakly; else a Last-Modified
 * must equal the stored one (as dates); else, with no validator at all in
 * the 304, it selects the stored response: the caller asks about the one
 * response whose validators it sent, which is "the only one" of section
 * 4.3.4.
 */
bool sl_cache_304_selects(const sl_field *f, size_t n, const sl_field *r304, size_t nr);

/*
 * Section 3.2 and 4.3.4: the fields to keep after a 304 (or a HEAD that
 * freshens): every stored field, except that fields present in the 304
 * replace all stored fields of the same name, and Content-Length,
 * Content-Encoding, Content-Range, Transfer-Encoding, hop-by-hop fields
 * (and those the 304's Connection names), Proxy-Authenticate,
 * Proxy-Authentication-Info and Age of the 304 are not taken. The replacing
 * fields take the place of the first stored field of their name; new names
 * come last. Writes into out[0..cap) and returns the count, or SL_E_LIMIT
 * when cap is too small. Slices point into f and r304. Pass the result
 * through sl_cache_store_fields() (private="..." in the new Cache-Control),
 * then sl_cache_meta_refresh(); and check sl_cache_storable() on it with
 * the stored status: a 304 that brings no-store or private makes the
 * updated response one to serve once, not to keep.
 */
int sl_cache_update_fields(const sl_field *f, size_t n, const sl_field *r304, size_t nr,
			   sl_field *out, size_t cap);

/*
 * The fields of a response to store, written into out[0..cap): hop-by-hop
 * fields and those named by Connection removed, and in a shared cache the
 * fields named by private="..." removed; Age is kept out too (the cache
 * computes its own), and so are Proxy-Authenticate and
 * Proxy-Authentication-Info (section 3.1). out must not overlap f.
 * Returns the count or SL_E_LIMIT.
 */
int sl_cache_store_fields(const sl_cache_policy_conf *conf, const sl_field *f, size_t n,
			  sl_field *out, size_t cap);

/*
 * The fields named by the response's no-cache="..." (fields that must not
 * be sent on a reuse without validation): true when name is one of them
 * (compared without case). False for an unqualified no-cache, which
 * SL_CACHE_F_NO_CACHE handles. Parses f's Cache-Control on each call: test
 * SL_CACHE_F_NO_CACHE_FIELDS first.
 */
bool sl_cache_field_no_cache(const sl_field *f, size_t n, sl_slice name);

/*
 * Section 4.1, Vary. sl_cache_vary_star() is true for "Vary: *" (never
 * matches). sl_cache_vary_key() writes the secondary key of a request:
 * for each field name listed by the response's Vary fields, lower-cased
 * and sorted, "name:value\n" where value is the request's field values for
 * that name combined with ", ", whitespace runs collapsed, list elements
 * trimmed (absent: empty). Two requests select the same variant exactly
 * when their secondary keys are equal. A request without the field and one
 * with an empty value give the same key (section 4.1 allows it). Names
 * listed twice count once; elements that are not field names are skipped
 * (no request can carry them). Values keep their case; whitespace inside
 * quoted-strings is kept. The key is NUL-terminated. Returns the length, 0
 * when the response has no Vary (or "*" only: see sl_cache_vary_star()),
 * or SL_E_LIMIT when out is too small for the key and its NUL.
 */
bool sl_cache_vary_star(const sl_field *resp, size_t n);
int sl_cache_vary_key(const sl_field *resp, size_t rn, const sl_field *req, size_t qn,
		      char *out, size_t cap);

/*
 * Section 4.4: after an unsafe request (not GET, HEAD, OPTIONS, TRACE)
 * answered with a non-error status (2xx or 3xx), the URIs to invalidate:
 * the target (always), and the Location and Content-Location values
 * resolved against the target when they have the same origin (scheme,
 * host, port). target is the request's absolute URI. Writes up to max
 * (3 is enough) cache keys (sl_url_cache_key() form, NUL-terminated) into
 * keys[i] and returns how many, the target's first, without duplicates; 0
 * when nothing is invalidated (safe method, status outside 200..399, a
 * target that does not parse). Unknown methods count as unsafe.
 */
size_t sl_cache_invalidations(enum sl_http_method m, int status, const char *target,
			      const sl_field *resp, size_t n, char (*keys)[2048], size_t max);

/* What a client's own conditional request gets from a stored response. */
enum sl_cache_cond {
	SL_CACHE_COND_NONE,          /* not conditional: send the stored response */
	SL_CACHE_COND_NOT_MODIFIED,  /* answer 304 from the cache */
	SL_CACHE_COND_FULL,          /* validators do not match: send it whole (200) */
};

/*
 * RFC 9110 section 13.2.2 for a GET or HEAD answered from the cache:
 * If-None-Match (weak comparison, "*" matches) decides when present, else
 * If-Modified-Since against the stored Last-Modified (or Date); an
 * If-Modified-Since that is not one valid date is ignored (NONE). The
 * caller applies the result only to a stored 200: a 304 stands for a 200
 * (RFC 9110 section 15.4.5), and preconditions do not apply to a response
 * that would not be 2xx (section 13.2.1), so any other stored status is
 * sent as it is, whatever this returns. With Range, NOT_MODIFIED wins
 * (section 13.2.2 evaluates If-None-Match before Range).
 */
enum sl_cache_cond sl_cache_client_cond(const sl_cache_req *r, const sl_field *f, size_t n);

/* What a Range request gets from a complete stored body. */
enum sl_cache_range {
	SL_CACHE_RANGE_NONE,         /* no Range, or one to ignore (bad syntax, not
	                                bytes, If-Range that does not match): 200 */
	SL_CACHE_RANGE_SINGLE,       /* one satisfiable range: 206 with *first..*last */
	SL_CACHE_RANGE_MULTI,        /* several ranges: forward upstream */
	SL_CACHE_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * / len */
};

/*
 * RFC 9110 section 14: the request's Range against a stored body of len
 * bytes with fields f (If-Range compared with its ETag, strongly, or its
 * Last-Modified, equal as dates and strong: the stored Date at least a
 * second later, section 8.8.2.2). Only for GET, one Range field, unit
 * "bytes" (any case). A syntax error anywhere (last < first included)
 * makes the whole field ignored (NONE). Several ranges are MULTI when any
 * is satisfiable; no satisfiable range is UNSATISFIABLE ("-0", a first
 * position at or beyond len, anything on an empty body). On SINGLE stores
 * the inclusive byte positions, last clipped to len - 1.
 */
enum sl_cache_range sl_cache_range(const sl_cache_req *r, const sl_field *f, size_t n,
				   uint64_t len, uint64_t *first, uint64_t *last);

/* How a request was answered, for X-Cache and the access log. */
enum sl_cache_result {
	SL_CACHE_RESULT_BYPASS,        /* not cacheable at all: X-Cache BYPASS, TCP_MISS */
	SL_CACHE_RESULT_MISS,          /* X-Cache MISS, TCP_MISS */
	SL_CACHE_RESULT_HIT,           /* X-Cache HIT, TCP_HIT (TCP_MEM_HIT from memory) */
	SL_CACHE_RESULT_MEM_HIT,       /* X-Cache HIT, TCP_MEM_HIT */
	SL_CACHE_RESULT_IMS_HIT,       /* client conditional answered 304: X-Cache HIT, TCP_IMS_HIT */
	SL_CACHE_RESULT_REVALIDATED,   /* 304 from upstream: X-Cache REVALIDATED,
	                                  TCP_REFRESH_UNMODIFIED */
	SL_CACHE_RESULT_REFRESHED,     /* validation brought a new response: X-Cache MISS,
	                                  TCP_REFRESH_MODIFIED */
	SL_CACHE_RESULT_STALE,         /* served stale (max-stale, stale-while-revalidate,
	                                  stale-if-error): X-Cache STALE, TCP_STALE_HIT or
	                                  TCP_REFRESH_FAIL_OLD */
	SL_CACHE_RESULT_STALE_ERROR,   /* stale served because upstream failed:
	                                  X-Cache STALE, TCP_REFRESH_FAIL_OLD */
	SL_CACHE_RESULT_OFFLINE_MISS,  /* only-if-cached without a usable entry: 504,
	                                  X-Cache MISS, TCP_MISS */
	SL_CACHE_RESULT_COLLAPSED,     /* joined another request's fetch: X-Cache HIT,
	                                  TCP_CF_HIT (read while written) */
};

/* "HIT", "MISS", "REVALIDATED", "STALE", "BYPASS": the X-Cache value. */
const char *sl_cache_result_xcache(enum sl_cache_result r);

/* The Squid-style result code for the access log ("TCP_HIT", ...). */
const char *sl_cache_result_code(enum sl_cache_result r);

#endif
