/*
 * The cookie jar of the client stack, as QNetworkCookieJar is Qt's: it keeps
 * the cookies servers set (RFC 6265 sections 5.2 and 5.3), builds the Cookie
 * header for a request (section 5.4), and saves and loads the persistent
 * cookies in the Netscape cookie-file format that curl and wget use. The
 * command-line client uses it; the proxy never puts cookies into requests it
 * forwards. A jar owns every byte it stores, copies what it is given, and
 * takes the time as an argument so callers (and tests) control the clock.
 * It is not thread-safe: it belongs to the one loop that uses it.
 *
 * Deliberate limits and choices, each explained in cookie_jar.c:
 * - A nameless cookie ("=abc") and a Set-Cookie without '=' are ignored, as
 *   RFC 6265 section 5.2 says (RFC 6265bis would keep them with an empty
 *   name).
 * - There is no Public Suffix List: single-label domains ("com") and a
 *   short built-in list of the most common multi-label suffixes ("co.uk",
 *   "com.au", "github.io"...) are refused as Domain, others are not.
 * - From RFC 6265bis: a Secure cookie is only accepted from a secure scheme,
 *   a non-Secure cookie set over http may not overwrite or shadow a Secure
 *   one ("leave secure cookies alone"), and the __Secure- and __Host- name
 *   prefixes are enforced. SameSite is recorded but not enforced (a client
 *   with no browsing context has no site to compare with) and not saved.
 * - Names, values and paths holding a control character (HTAB included,
 *   since the cookie file separates fields with it) are refused.
 */
#ifndef SL_CLIENT_COOKIE_JAR_H
#define SL_CLIENT_COOKIE_JAR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/headers.h"
#include "core/slice.h"
#include "core/url.h"

#define SL_COOKIE_JAR_MAGIC 0xc00c1e5au

/* Longest name plus value of one cookie, in bytes (RFC 6265 section 6.1). */
#define SL_COOKIE_MAX_SIZE 4096
/* Longest attribute value kept; a longer one is ignored (RFC 6265bis). */
#define SL_COOKIE_MAX_ATTR 1024
/* Cookies per domain, and in the whole jar, before eviction starts. */
#define SL_COOKIE_MAX_PER_DOMAIN 50
#define SL_COOKIE_MAX_TOTAL 3000

typedef struct sl_cookie_jar sl_cookie_jar;

/* The SameSite attribute as received (RFC 6265bis section 5.4.7). */
enum sl_cookie_samesite {
	SL_COOKIE_SAMESITE_UNSET = 0,
	SL_COOKIE_SAMESITE_NONE,
	SL_COOKIE_SAMESITE_LAX,
	SL_COOKIE_SAMESITE_STRICT,
};

/*
 * A read-only view of one stored cookie. The strings are NUL-terminated and
 * belong to the jar: they stay valid until the next call that changes it
 * (setting, building a header, expiring, loading or freeing).
 */
typedef struct sl_cookie_info {
	const char *name;
	const char *value;
	const char *domain;      /* lowercase, without a leading dot */
	const char *path;
	time_t expiry;           /* 0 for a session cookie */
	bool persistent;         /* set by Expires or Max-Age */
	bool host_only;          /* no Domain attribute: sent to this host alone */
	bool secure;
	bool http_only;
	enum sl_cookie_samesite samesite;
} sl_cookie_info;

/* Returns a new empty jar, or NULL when memory runs out. The caller owns it. */
sl_cookie_jar *sl_cookie_jar_new(void);

/* Frees the jar and every cookie in it. NULL is allowed. */
void sl_cookie_jar_free(sl_cookie_jar *jar);

/*
 * Stores one Set-Cookie field value (the set-cookie-string of RFC 6265
 * section 5.2) received in the response to request_url, at time now, as
 * section 5.3 says: a cookie with the same name, domain and path is replaced
 * and its creation time kept; a cookie that arrives already expired removes
 * that one and is not stored. The jar copies what it keeps. Returns 0 when
 * the cookie was taken (stored, or used to delete), SL_E_INVAL when the URL
 * has no host, SL_E_NOMEM, or the reason it was ignored: SL_E_COOKIE_SYNTAX,
 * _TOO_LARGE, _DOMAIN, _PUBLIC_SUFFIX, _INSECURE or _PREFIX.
 */
int sl_cookie_jar_set_cookie(sl_cookie_jar *jar, const sl_url *request_url, sl_slice set_cookie,
			     time_t now);

/*
 * Stores the cookies of every Set-Cookie field among the n fields of a
 * response to request_url, one by one as sl_cookie_jar_set_cookie() does;
 * ignored cookies do not stop the others. The fields stay the caller's.
 * Returns how many were taken, SL_E_INVAL (no host) or SL_E_NOMEM.
 */
int sl_cookie_jar_set_from_response(sl_cookie_jar *jar, const sl_url *request_url,
				    const sl_field *fields, size_t n, time_t now);

/*
 * Writes the value of the Cookie header for a request to url at time now
 * into out (cap bytes, owned by the caller, NUL-terminated): every cookie
 * whose domain and path match, Secure ones only over https or wss, HttpOnly
 * ones only when http_api is true, as "name=value" pairs joined by "; ",
 * longer paths first and, for equal paths, earlier creation first (RFC 6265
 * section 5.4). Marks the cookies sent as just used and drops expired ones
 * met on the way. Returns the length (0, with out = "", when no cookie
 * applies), SL_E_INVAL when the URL has no host, or SL_E_COOKIE_NOSPACE
 * when cap cannot hold the value and its NUL (nothing is marked then).
 */
int sl_cookie_jar_header(sl_cookie_jar *jar, const sl_url *url, time_t now, bool http_api,
			 char *out, size_t cap);

/* Removes every cookie expired at time now. Returns how many were removed. */
size_t sl_cookie_jar_expire(sl_cookie_jar *jar, time_t now);

/* Removes every session cookie (no Expires nor Max-Age), as ending a
 * browsing session does. Returns how many were removed. */
size_t sl_cookie_jar_end_session(sl_cookie_jar *jar);

/* Returns how many cookies the jar holds. */
size_t sl_cookie_jar_count(const sl_cookie_jar *jar);

/*
 * Looks up the cookie with exactly this domain (lowercase, no leading dot),
 * path and name, without marking it used. Returns true and fills *out
 * (see sl_cookie_info for how long it stays valid), or returns false.
 */
bool sl_cookie_jar_find(const sl_cookie_jar *jar, const char *domain, const char *path,
			const char *name, sl_cookie_info *out);

/*
 * Writes the persistent cookies not expired at now to the file at path in
 * the Netscape format (one line per cookie: domain, include-subdomains,
 * path, secure, expiry, name, value, separated by tabs; HttpOnly as a
 * "#HttpOnly_" prefix on the domain), oldest first. The file is written
 * under a temporary name in the same directory, synced and renamed over
 * path, with mode 0600, so a reader sees the old file or the new one.
 * Session cookies are not saved. Returns 0 or -errno.
 */
int sl_cookie_jar_save(const sl_cookie_jar *jar, const char *path, time_t now);

/*
 * Adds the cookies of a Netscape-format cookie file (as written by
 * sl_cookie_jar_save(), curl -c or wget --save-cookies) to the jar,
 * replacing cookies with the same name, domain and path. Comments and
 * blank lines are skipped, and so are cookies expired at now; an expiry of
 * 0 makes a session cookie. Malformed lines are skipped and counted. A
 * missing file is an empty jar, not an error. Returns the number of
 * malformed lines (0 for a clean file), -errno when the file cannot be
 * read, or SL_E_NOMEM.
 */
int sl_cookie_jar_load(sl_cookie_jar *jar, const char *path, time_t now);

/*
 * Parses a cookie-date with the lenient algorithm of RFC 6265 section
 * 5.1.1, which reads IMF-fixdates, RFC 850 and asctime dates and most of
 * what servers really send; two-digit years 70-99 are 19xx and 00-69 are
 * 20xx. Returns 0 and the time in *out, or SL_E_INVAL (*out untouched).
 */
int sl_cookie_date_parse(sl_slice s, time_t *out);

#endif
