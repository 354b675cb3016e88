/*
 * Header fields as slices, and the operations a proxy needs on them:
 * case-insensitive lookup, iteration over comma-separated list values,
 * hop-by-hop removal (RFC 9110 section 7.6.1), Cache-Control parsing
 * (RFC 9111 section 5.2), delta-seconds and HTTP-date (RFC 9110 section
 * 5.6.7) parsing and formatting. Nothing here allocates, keeps state between
 * calls or touches a global: every function is safe from any thread. Fields
 * point into the buffer the parser read them from; the field array is owned
 * by the caller, and slices returned here point into the same memory as the
 * fields they came from.
 */
#ifndef SL_CORE_HEADERS_H
#define SL_CORE_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/slice.h"

/* One header field: name and value, the value without surrounding OWS. */
typedef struct sl_field {
	sl_slice name;
	sl_slice value;
} sl_field;

/* ------------------------------------------------------------------ */
/* Lookup: names compare ASCII case-insensitively; "not found" is n.   */
/* ------------------------------------------------------------------ */

/* Returns the index of the first field called name, or n if there is none. */
size_t sl_headers_find(const sl_field *f, size_t n, const char *name);

/* Returns the index of the first field called name after index `after`, or n. */
size_t sl_headers_find_next(const sl_field *f, size_t n, const char *name, size_t after);

/* As sl_headers_find_next() from index `from` (inclusive), with a slice name. */
size_t sl_headers_find_slice(const sl_field *f, size_t n, sl_slice name, size_t from);

/* Returns how many fields are called name. */
size_t sl_headers_count(const sl_field *f, size_t n, const char *name);

/* Returns the first field called name, or NULL. The field stays the caller's. */
const sl_field *sl_headers_get(const sl_field *f, size_t n, const char *name);

/* ------------------------------------------------------------------ */
/* Comma-separated lists (RFC 9110 section 5.6.1)                      */
/* ------------------------------------------------------------------ */

/*
 * An iterator over the elements of a list: one field value, or every field
 * of one name in order (as if their values were joined with commas).
 * Elements come out without surrounding OWS, empty ones are skipped, and a
 * comma inside a quoted-string (backslash escapes honoured) does not split.
 * Quotes are left in the element. An unterminated quoted-string runs to the
 * end of its field value and sets `malformed`. Plain data: copy it freely.
 */
typedef struct sl_headers_list {
	const char *p;            /* rest of the current value */
	const char *end;
	const sl_field *f;        /* fields to continue with, NULL for one value */
	size_t n;
	size_t idx;               /* index of the current field */
	sl_slice name;
	bool malformed;
} sl_headers_list;

/* Starts iterating the elements of one value. */
void sl_headers_list_value(sl_headers_list *it, sl_slice value);

/*
 * Starts iterating the elements of every field called name, in order. The
 * iterator keeps f and name: both must stay valid while it is in use.
 */
void sl_headers_list_fields(sl_headers_list *it, const sl_field *f, size_t n,
			    const char *name);

/* Stores the next element in *elem and returns true, or returns false at the end. */
bool sl_headers_list_next(sl_headers_list *it, sl_slice *elem);

/*
 * Whether an element is the token tok: equal ignoring ASCII case, or
 * starting with it followed by OWS, ';' or '=' (so "chunked;x=1" and
 * "no-cache=\"a\"" match "chunked" and "no-cache").
 */
bool sl_headers_elem_is(sl_slice elem, const char *tok);

/*
 * Whether any field called name (a list field such as Connection or
 * Transfer-Encoding) has an element that is token, as sl_headers_elem_is().
 */
bool sl_headers_has_token(const sl_field *f, size_t n, const char *name, const char *token);

/* ------------------------------------------------------------------ */
/* Hop-by-hop fields (RFC 9110 section 7.6.1)                          */
/* ------------------------------------------------------------------ */

/*
 * The fields removed when a message is forwarded. Proxy-Authorization and
 * Proxy-Authenticate are removed as well: they are addressed to this proxy
 * (or come from the upstream proxy the client stack answers itself), never
 * to the next hop; a caller that relays them on purpose keeps them by bit.
 */
enum sl_hop_field {
	SL_HOP_CONNECTION = 1u << 0,
	SL_HOP_KEEP_ALIVE = 1u << 1,
	SL_HOP_PROXY_CONNECTION = 1u << 2,
	SL_HOP_PROXY_AUTHENTICATE = 1u << 3,
	SL_HOP_PROXY_AUTHORIZATION = 1u << 4,
	SL_HOP_TE = 1u << 5,
	SL_HOP_TRAILER = 1u << 6,
	SL_HOP_TRANSFER_ENCODING = 1u << 7,
	SL_HOP_UPGRADE = 1u << 8,
	SL_HOP_NAMED = 1u << 9,   /* the fields named in Connection */
};

/*
 * Removes the hop-by-hop fields from f in place, keeping the order of the
 * others, and returns their new count: the fixed set above and every field
 * named in a Connection field, except Host and Content-Length, which a
 * Connection option must not strip (routing and framing are not hop options;
 * honouring "Connection: content-length" would let a client desynchronise the
 * hops). Entries from the returned count to n hold the removed fields, in no
 * particular order, so a caller can still inspect them (for "close").
 */
size_t sl_headers_strip_hop(sl_field *f, size_t n);

/*
 * As sl_headers_strip_hop(), keeping the fields whose SL_HOP_* bit is set in
 * keep (SL_HOP_UPGRADE to relay a protocol upgrade, SL_HOP_NAMED to keep
 * what Connection names; a kept field is kept even when Connection names
 * it). A caller keeping Upgrade without Connection writes its own
 * "Connection: upgrade".
 */
size_t sl_headers_strip_hop_keep(sl_field *f, size_t n, unsigned keep);

/* ------------------------------------------------------------------ */
/* delta-seconds and Cache-Control (RFC 9111)                          */
/* ------------------------------------------------------------------ */

/* Where delta-seconds saturate (RFC 9111 section 1.2.2). */
#define SL_DELTA_MAX 2147483648LL
/* A directive's value when it is absent. */
#define SL_CC_UNSET (-1LL)

/*
 * Parses delta-seconds (1*DIGIT) into *out, saturating at SL_DELTA_MAX.
 * Returns 0, or SL_E_INVAL (and leaves *out alone) for anything else.
 */
int sl_delta_seconds_parse(sl_slice s, int64_t *out);

/*
 * The Cache-Control directives of a request or a response. Seconds are
 * SL_CC_UNSET when the directive is absent, else 0..SL_DELTA_MAX.
 *
 * Several Cache-Control fields count as one list. A directive given more
 * than once keeps its most restrictive reading: the smallest max-age,
 * s-maxage, max-stale, stale-while-revalidate and stale-if-error; the
 * largest min-fresh; for no-cache and private, the unqualified form beats a
 * field list, and two field lists merge into the unqualified form (one
 * slice cannot hold both). A malformed argument makes max-age or s-maxage 0
 * (stale: RFC 9111 section 4.2.1 allows treating bad freshness information
 * that way); a malformed occurrence of another value directive is ignored;
 * either way `malformed` is set. Arguments may be quoted. Unknown
 * directives are ignored.
 */
typedef struct sl_cache_control {
	int64_t max_age;
	int64_t s_maxage;
	int64_t max_stale;          /* SL_DELTA_MAX when given without a value */
	int64_t min_fresh;
	int64_t stale_while_revalidate;
	int64_t stale_if_error;
	sl_slice no_cache_fields;   /* no-cache="a, b": the inside of the quotes */
	sl_slice private_fields;
	bool present;               /* at least one Cache-Control field */
	bool no_cache;              /* set for no-cache with or without fields */
	bool no_store;
	bool no_transform;
	bool only_if_cached;
	bool must_revalidate;
	bool proxy_revalidate;
	bool must_understand;
	bool is_private;            /* private, with or without fields */
	bool is_public;
	bool immutable;
	bool pragma_no_cache;       /* request without Cache-Control, Pragma: no-cache */
	bool malformed;
} sl_cache_control;

/* Which side a Cache-Control belongs to. */
enum sl_cc_kind {
	SL_CC_REQUEST,
	SL_CC_RESPONSE,
};

/*
 * Fills *cc from every Cache-Control field of f. For a request without any
 * Cache-Control field, "Pragma: no-cache" sets no_cache and pragma_no_cache
 * (RFC 9111 section 5.4); Pragma means nothing on a response. Slices in
 * *cc point into the field values.
 */
void sl_cache_control_parse(const sl_field *f, size_t n, enum sl_cc_kind kind,
			    sl_cache_control *cc);

/* As sl_cache_control_parse() for one value, merged into *cc as set so far. */
void sl_cache_control_merge(sl_cache_control *cc, sl_slice value);

/* Sets *cc to "no directive at all". */
void sl_cache_control_clear(sl_cache_control *cc);

/* ------------------------------------------------------------------ */
/* HTTP-date (RFC 9110 section 5.6.7)                                  */
/* ------------------------------------------------------------------ */

#define SL_HTTP_DATE_LEN 29     /* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define SL_HTTP_DATE_BUFSZ 30   /* with the terminating NUL */

/*
 * Parses an IMF-fixdate, an obsolete RFC 850 date or an asctime date into
 * seconds since the epoch. Names are case-sensitive, as the grammar says;
 * the weekday must be a weekday name but is not checked against the date;
 * second 60 (a leap second) is accepted. An RFC 850 two-digit year is read
 * as the latest year with those digits not more than 50 years after `now`.
 * Returns 0, or SL_E_INVAL and leaves *out alone.
 */
int sl_http_date_parse_at(sl_slice s, time_t now, time_t *out);

/* As sl_http_date_parse_at() with the current time. */
int sl_http_date_parse(sl_slice s, time_t *out);

/*
 * Writes t as an IMF-fixdate and a NUL into buf. Returns 0, or SL_E_INVAL
 * (buf holds "") when t falls outside years 0000 to 9999.
 */
int sl_http_date_format(time_t t, char buf[SL_HTTP_DATE_BUFSZ]);

#endif
