/*
 * URLs per RFC 3986: a zero-copy parser whose components are slices into the
 * caller's string, reference resolution (section 5.2) for redirects and
 * Location-based cache invalidation, serialisation, the origin-form request
 * target used when forwarding, and the normalised cache key of sections
 * 6.2.2 and 6.2.3. Nothing here allocates: every function writes into memory
 * the caller owns and returns a length or a negative SL_E_URL_* code. Pure
 * functions, safe from any thread.
 */
#ifndef SL_CORE_URL_H
#define SL_CORE_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/slice.h"

/* Longest URL the parser accepts. Request lines are limited long before
 * this by the HTTP parser; the bound keeps lengths well inside an int. */
#define SL_URL_MAX_LEN 65535

/*
 * A parsed URL. Slices point into the parsed string (or into the caller's
 * buffer for sl_url_parse_ref) and are valid only while it lives. Absent
 * components are empty slices with their has_ flag false; a present but
 * empty component ("http://h/?") has the flag true and an empty slice.
 */
typedef struct sl_url {
	sl_slice scheme;    /* as written, without ':' */
	sl_slice authority; /* raw, between "//" and the path: userinfo@host:port */
	sl_slice userinfo;  /* without '@'; may hold "user:password" */
	sl_slice host;      /* an IPv6 literal is without its brackets */
	sl_slice port_str;  /* digits as written; empty when none or "h:" */
	sl_slice path;      /* empty, or starts with '/' when there is an authority */
	sl_slice query;     /* without '?' */
	sl_slice fragment;  /* without '#' */
	uint16_t port;      /* explicit port, else the scheme's default, else 0 */
	bool has_authority; /* "//" was present ("file:///x" has an empty host) */
	bool has_userinfo;
	bool has_port;      /* a non-empty port was written */
	bool has_query;
	bool has_fragment;
	bool host_is_ipv4;  /* host is a dotted quad; addr holds it */
	bool host_is_ipv6;  /* host was "[...]"; addr holds it */
	sl_addr addr;       /* valid when host_is_ipv4 or host_is_ipv6 */
} sl_url;

/*
 * Parses an absolute URI (scheme ":" hier-part ["?" query] ["#" fragment])
 * of n bytes at s into out, checking every component against the RFC 3986
 * grammar. Schemes with a known default port (http, https, ws, ...) must have
 * a non-empty host. A host whose last label is a number must be a strict
 * dotted quad ("127.1" is refused, as resolvers would read it as 127.0.0.1).
 * Port 0 and IPvFuture literals are refused; so are IPv6 zone identifiers
 * and percent-encoding in a host (no DNS name needs it, and decoding it
 * would let "127.0.0.%31" pass the address checks).
 * Returns 0 or SL_E_URL_EMPTY, _TOO_LONG (over SL_URL_MAX_LEN), _BAD_CHAR
 * (space, control or non-ASCII anywhere, or a character that the path,
 * query or fragment does not allow), _BAD_PERCENT ('%' not followed by two
 * hex digits), _BAD_SCHEME (missing or malformed), _BAD_USERINFO,
 * _BAD_HOST, _BAD_IPV6 (bad "[...]" literal, or an IPv6 address without
 * brackets), _BAD_PORT (not digits, 0 or over 65535) or _NO_HOST. out is
 * written only on success.
 */
int sl_url_parse(const char *s, size_t n, sl_url *out);

/*
 * Parses the authority-form of a CONNECT request target: host ":" port, the
 * port required and non-zero, no userinfo. out gets host, port_str, port,
 * has_port, has_authority and the address flags; the scheme is empty.
 * Returns 0 or the SL_E_URL_* code of the first fault.
 */
int sl_url_parse_authority(const char *s, size_t n, sl_url *out);

/*
 * Resolves the URI reference at ref (absolute or relative) against base
 * (an absolute URL, normally from sl_url_parse) per RFC 3986 section 5.2,
 * strict mode, with dot segments removed. The target is written into buf
 * (cap bytes, owned by the caller, not overlapping base's string or ref) and
 * NUL-terminated. The base's fragment is ignored. Returns the target's
 * length, or SL_E_INVAL (base not absolute), SL_E_URL_TOO_LONG (buf too
 * small) or the SL_E_URL_* code of a malformed reference.
 */
int sl_url_resolve(const sl_url *base, const char *ref, size_t n, char *buf, size_t cap);

/*
 * sl_url_resolve followed by sl_url_parse of the target into out, whose
 * slices then point into buf. This is what a redirect or a Location header
 * needs: the result is a full, checked URL ("http:g" resolves but fails here
 * with SL_E_URL_NO_HOST). Returns the target's length or an error code.
 */
int sl_url_parse_ref(const sl_url *base, const char *ref, size_t n, char *buf, size_t cap,
		     sl_url *out);

/*
 * Returns the default port of a scheme, compared without case: http and ws
 * 80, https and wss 443, socks, socks4, socks5 and socks5h 1080, ftp 21;
 * 0 for any other scheme.
 */
uint16_t sl_url_default_port(sl_slice scheme);

/*
 * Writes u back as a URL string into out (cap bytes, NUL-terminated):
 * scheme ":" ["//" [userinfo "@"] host [":" port]] path ["?" query]
 * ["#" fragment], with brackets around an IPv6 host. An empty port ("h:")
 * is dropped and an explicit port is written in plain decimal; all else is
 * copied as it is. Returns the length, SL_E_INVAL (no u, no out or no
 * scheme) or SL_E_URL_TOO_LONG.
 */
int sl_url_format(const sl_url *u, char *out, size_t cap);

/*
 * Writes the origin-form request target for forwarding to an origin
 * server: the path ("/" when empty) then "?" and the query when there is
 * one. The fragment is never sent. Returns the length, SL_E_INVAL or
 * SL_E_URL_TOO_LONG; out is NUL-terminated.
 */
int sl_url_request_target(const sl_url *u, char *out, size_t cap);

/*
 * Writes the value of a Host header field for u: host (bracketed when
 * IPv6) and ":" port only when an explicit port differs from the scheme's
 * default. Returns the length, SL_E_INVAL or SL_E_URL_TOO_LONG.
 */
int sl_url_host_header(const sl_url *u, char *out, size_t cap);

/*
 * Moves every slice of u that points into the string at from to the same
 * offset of the string at to: for a URL parsed from one buffer and then
 * copied byte for byte into another, without parsing it again.
 */
void sl_url_rebase(sl_url *u, const char *from, const char *to);

/*
 * Writes the cache key of u: the URL normalised per RFC 3986 sections 6.2.2
 * and 6.2.3 so that equivalent URLs give identical keys. Scheme and host are
 * lowercased (an IPv6 host in RFC 5952 form), a default or empty port is
 * dropped, percent-encoded unreserved characters are decoded and the hex
 * digits of the remaining ones uppercased, dot segments are removed from
 * the path, an empty path becomes "/" when there is an authority, userinfo
 * and fragment are dropped, and the query is kept as it is apart from the
 * case of its percent-encodings. Returns the length, SL_E_INVAL or
 * SL_E_URL_TOO_LONG; out is NUL-terminated.
 */
int sl_url_cache_key(const sl_url *u, char *out, size_t cap);

/*
 * Removes "." and ".." segments from the path of n bytes at p, in place, as
 * RFC 3986 section 5.2.4 does. Returns the new length (never larger).
 */
size_t sl_url_remove_dot_segments(char *p, size_t n);

/*
 * Percent-decodes the n bytes at s into out (room for n bytes; out may be
 * s itself, decoding in place). Every '%' must start "%" HEXDIG HEXDIG.
 * Returns the decoded length, SL_E_URL_BAD_PERCENT or SL_E_URL_TOO_LONG
 * (n over INT_MAX). No NUL is added and
 * a decoded "%00" is kept: callers that need a C string must check.
 */
int sl_url_pct_decode(const char *s, size_t n, char *out);

#endif
