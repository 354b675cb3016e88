/*
 * Helpers shared by the files of the cache policy (policy.c, policy_cond.c,
 * policy_vary.c): which response fields a cache never keeps, entity-tag
 * comparison (RFC 9110 section 8.8.3.2) and date fields. Pure functions
 * over the caller's fields, like the rest of the policy.
 */
#ifndef SL_CACHE_POLICY_INTERNAL_H
#define SL_CACHE_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/headers.h"
#include "core/slice.h"

/*
 * Whether a field called name, in a message whose fields are f[0..n), is
 * one a cache does not store (RFC 9111 section 3.1): hop-by-hop fields,
 * those named by f's Connection fields (never Host or Content-Length, as
 * sl_headers_strip_hop() rules), the Proxy-* fields addressed to this
 * proxy, and Age, which the cache computes itself.
 */
bool sl__policy_unstored(const sl_field *f, size_t n, sl_slice name);

/*
 * Splits an entity-tag into its weakness and its opaque-tag (quotes
 * included). Returns false for an empty value or one that is not a quoted
 * opaque-tag with an optional "W/" prefix.
 */
bool sl__policy_etag(sl_slice v, bool *weak, sl_slice *opaque);

/* RFC 9110 section 8.8.3.2: both strong and identical opaque-tags. */
bool sl__policy_etag_strong_eq(sl_slice a, sl_slice b);

/* The weak comparison: identical opaque-tags, weakness ignored. */
bool sl__policy_etag_weak_eq(sl_slice a, sl_slice b);

/*
 * The first field called name parsed as an HTTP-date into *out. ref is
 * the time two-digit RFC 850 years are read against, or -1 for the
 * current time (sl_http_date_parse()). Returns false when the field is
 * absent or not a date.
 */
bool sl__policy_date(const sl_field *f, size_t n, const char *name, int64_t ref,
		     int64_t *out);

#endif
