/*
 * Error codes shared by every layer. Functions return 0 on success or a
 * negative code: either -errno (system errors, as libuv does) or one of the
 * project codes below, all under -1000 and grouped by layer in blocks of 100.
 * sl_strerror() turns any of them into a short, static, human sentence.
 * A code's number never changes meaning; new codes go at the end of a block.
 */
#ifndef SL_CORE_ERR_H
#define SL_CORE_ERR_H

enum sl_err {
	SL_OK = 0,

	/* General (-1000 .. -1099). */
	SL_E_NOMEM = -1000,        /* allocation failed */
	SL_E_INVAL = -1001,        /* invalid argument */
	SL_E_LIMIT = -1002,        /* a configured limit was reached */
	SL_E_AGAIN = -1003,        /* incomplete: more input is needed */
	SL_E_EOF = -1004,          /* end of stream */
	SL_E_TIMEOUT = -1005,      /* an operation timed out */
	SL_E_CANCELED = -1006,     /* an operation was cancelled */
	SL_E_UNSUPPORTED = -1007,  /* not supported */

	/* HTTP/1.1 parsing, RFC 9112 (-1100 .. -1199). */
	SL_E_HTTP_BAD_METHOD = -1100,
	SL_E_HTTP_BAD_TARGET = -1101,
	SL_E_HTTP_BAD_VERSION = -1102,
	SL_E_HTTP_BAD_REQUEST_LINE = -1103,
	SL_E_HTTP_BAD_STATUS_LINE = -1104,
	SL_E_HTTP_URI_TOO_LONG = -1105,        /* request-line over the limit: 414 */
	SL_E_HTTP_HEADERS_TOO_LARGE = -1106,   /* header block over the limit: 431 */
	SL_E_HTTP_TOO_MANY_FIELDS = -1107,     /* more fields than the limit: 431 */
	SL_E_HTTP_BAD_FIELD_NAME = -1108,
	SL_E_HTTP_BAD_FIELD_VALUE = -1109,
	SL_E_HTTP_WS_BEFORE_COLON = -1110,
	SL_E_HTTP_OBS_FOLD = -1111,
	SL_E_HTTP_BARE_CR = -1112,
	SL_E_HTTP_BARE_LF = -1113,
	SL_E_HTTP_CTL_CHAR = -1114,            /* NUL or another control character */
	SL_E_HTTP_CL_AND_TE = -1115,
	SL_E_HTTP_BAD_CONTENT_LENGTH = -1116,
	SL_E_HTTP_CL_MISMATCH = -1117,         /* several differing Content-Lengths */
	SL_E_HTTP_TE_NOT_CHUNKED = -1118,      /* request whose last coding is not chunked */
	SL_E_HTTP_BAD_TRANSFER_ENCODING = -1119,
	SL_E_HTTP_BAD_CHUNK_SIZE = -1120,
	SL_E_HTTP_CHUNK_SIZE_OVERFLOW = -1121,
	SL_E_HTTP_BAD_CHUNK_EXT = -1122,
	SL_E_HTTP_BAD_CHUNK_END = -1123,       /* data not followed by CRLF */
	SL_E_HTTP_BAD_TRAILER = -1124,
	SL_E_HTTP_MISSING_HOST = -1125,
	SL_E_HTTP_MULTIPLE_HOST = -1126,
	SL_E_HTTP_BAD_HOST = -1127,
	SL_E_HTTP_BAD_STATUS = -1128,
	SL_E_HTTP_TRAILER_TOO_LARGE = -1129,
	SL_E_HTTP_CHUNK_EXT_TOO_LARGE = -1130, /* chunk extensions over the limit */

	/* URLs, RFC 3986 (-1200 .. -1299). */
	SL_E_URL_EMPTY = -1200,
	SL_E_URL_BAD_SCHEME = -1201,
	SL_E_URL_BAD_HOST = -1202,
	SL_E_URL_BAD_PORT = -1203,
	SL_E_URL_BAD_IPV6 = -1204,
	SL_E_URL_BAD_PERCENT = -1205,
	SL_E_URL_BAD_CHAR = -1206,
	SL_E_URL_TOO_LONG = -1207,
	SL_E_URL_NO_HOST = -1208,
	SL_E_URL_BAD_USERINFO = -1209,

	/* Configuration (-1300 .. -1399). */
	SL_E_CONF_SYNTAX = -1300,
	SL_E_CONF_UNKNOWN_KEY = -1301,
	SL_E_CONF_TYPE = -1302,
	SL_E_CONF_VALUE = -1303,
	SL_E_CONF_IO = -1304,
	SL_E_CONF_REF = -1305,                 /* names an upstream or chain that does not exist */
	SL_E_CONF_DUPLICATE = -1306,           /* a key appears twice in one object */
	SL_E_CONF_MISSING = -1307,             /* a required key is absent */

	/* Addresses (-1400 .. -1499). */
	SL_E_ADDR_BAD = -1400,
	SL_E_ADDR_BAD_PREFIX = -1401,
	SL_E_ADDR_BAD_PORT = -1402,

	/* HTTP authentication, RFC 9110 section 11, 7617, 7616 (-1500 .. -1599). */
	SL_E_AUTH_SYNTAX = -1500,              /* malformed challenge or Authentication-Info */
	SL_E_AUTH_NO_CHALLENGE = -1501,        /* no challenge at all */
	SL_E_AUTH_SCHEME = -1502,              /* only schemes this client does not speak */
	SL_E_AUTH_BAD_ALGORITHM = -1503,       /* Digest algorithm unknown */
	SL_E_AUTH_BAD_QOP = -1504,             /* no qop this client can use (auth-int only) */
	SL_E_AUTH_NO_NONCE = -1505,            /* Digest challenge without nonce */
	SL_E_AUTH_TOO_LONG = -1506,            /* a parameter longer than its fixed field */
	SL_E_AUTH_DUPLICATE = -1507,           /* a parameter given twice in one challenge */
	SL_E_AUTH_BUFFER = -1508,              /* the caller's output buffer is too small */
	SL_E_AUTH_BAD_CREDENTIALS = -1509,     /* user or password cannot be sent in this scheme */
	SL_E_AUTH_REJECTED = -1510,            /* a new challenge that was not stale */
	SL_E_AUTH_RSPAUTH = -1511,             /* the server's rspauth does not match */
	SL_E_AUTH_CRYPTO = -1512,              /* the digest library failed */
	SL_E_AUTH_NONCE_SPENT = -1513,         /* nonce count exhausted: a new nonce is needed */

	/* Cookies, RFC 6265 (-1600 .. -1699). */
	SL_E_COOKIE_SYNTAX = -1600,            /* no '=', empty name or a control character */
	SL_E_COOKIE_TOO_LARGE = -1601,         /* name and value over the size limit */
	SL_E_COOKIE_DOMAIN = -1602,            /* Domain does not domain-match the host */
	SL_E_COOKIE_PUBLIC_SUFFIX = -1603,     /* Domain is a public suffix */
	SL_E_COOKIE_INSECURE = -1604,          /* Secure over http, or shadowing a Secure one */
	SL_E_COOKIE_PREFIX = -1605,            /* __Secure- or __Host- requirements not met */
	SL_E_COOKIE_NOSPACE = -1606,           /* Cookie header larger than the buffer */

	/* Reaching an upstream proxy hop (-1700 .. -1799): proxy errors. */
	SL_E_PROXY_NOT_FOUND = -1700,          /* the proxy's name does not resolve */
	SL_E_PROXY_REFUSED = -1701,            /* TCP connection to the proxy refused */
	SL_E_PROXY_UNREACHABLE = -1702,        /* no route to the proxy */
	SL_E_PROXY_TIMEOUT = -1703,            /* connect or handshake with the proxy timed out */
	SL_E_PROXY_CLOSED = -1704,             /* the proxy closed during the handshake */
	SL_E_PROXY_AUTH = -1705,               /* the proxy refused our credentials (407, RFC 1929) */
	SL_E_PROXY_AUTH_REQUIRED = -1706,      /* the proxy wants credentials we do not have */
	SL_E_PROXY_PROTOCOL = -1707,           /* the proxy's answer is malformed */
	SL_E_PROXY_STATUS = -1708,             /* CONNECT answered with a non-2xx status */
	SL_E_SOCKS_VERSION = -1709,            /* reply version is not 5 (or 1 for RFC 1929) */
	SL_E_SOCKS_NO_METHOD = -1710,          /* no acceptable authentication method (0xFF) */
	SL_E_SOCKS_BAD_METHOD = -1711,         /* the server chose a method we did not offer */
	SL_E_SOCKS_BAD_REPLY = -1712,          /* reserved byte, address type or length wrong */
	SL_E_SOCKS_GENERAL = -1713,            /* REP 1: general SOCKS server failure */
	SL_E_SOCKS_CMD_UNSUPPORTED = -1714,    /* REP 7: command not supported */
	SL_E_SOCKS_ATYP_UNSUPPORTED = -1715,   /* REP 8: address type not supported */
	SL_E_SOCKS_UNKNOWN_REP = -1716,        /* a REP code RFC 1928 does not define */
	SL_E_SOCKS_NAME_TOO_LONG = -1717,      /* host name, user or password over 255 bytes */
	SL_E_TLS_HANDSHAKE = -1718,            /* TLS handshake failed (protocol, alert) */
	SL_E_TLS_EXPIRED = -1719,              /* certificate expired or not yet valid */
	SL_E_TLS_SELF_SIGNED = -1720,          /* self-signed certificate */
	SL_E_TLS_UNKNOWN_CA = -1721,           /* certificate issuer not trusted */
	SL_E_TLS_HOSTNAME = -1722,             /* certificate does not match the host name */
	SL_E_TLS_VERIFY = -1723,               /* another certificate verification failure */
	SL_E_TLS_CLOSED = -1724,               /* TLS connection closed without close_notify */
	SL_E_PROXY_DENIED = -1725,             /* a proxy's rules forbid the next proxy hop (REP 2) */
	SL_E_PROXY_AUTH_RECONNECT = -1726,     /* 407 on a closing connection: reconnect, send credentials */
	SL_E_PROXY_AUTH_BODY = -1727,          /* a forwarding proxy's 407 to a request whose body
	                                          cannot be sent twice */

	/* Reaching the target through the last hop (-1800 .. -1899): target errors. */
	SL_E_TARGET_NOT_FOUND = -1800,         /* the target's name does not resolve */
	SL_E_TARGET_REFUSED = -1801,           /* connection to the target refused (REP 5) */
	SL_E_TARGET_UNREACHABLE = -1802,       /* network or host unreachable (REP 3, 4) */
	SL_E_TARGET_TIMEOUT = -1803,           /* connect to the target timed out (REP 6: TTL) */
	SL_E_TARGET_DENIED = -1804,            /* the proxy's rules forbid the target (REP 2, 403) */
	SL_E_TARGET_CLOSED = -1805,            /* the target closed before answering */
	SL_E_TARGET_RESET = -1806,             /* the target reset the connection */
	SL_E_DNS_NOT_FOUND = -1807,            /* no such name (NXDOMAIN or no address) */
	SL_E_DNS_FAILED = -1808,               /* the resolver failed (SERVFAIL, refused, no server) */
	SL_E_DNS_TIMEOUT = -1809,              /* the resolver did not answer in time */

	/* The cache (-1900 .. -1999). */
	SL_E_CACHE_MISS = -1900,               /* the key is not stored */
	SL_E_CACHE_CORRUPT = -1901,            /* a stored object failed its checks */
	SL_E_CACHE_TOO_LARGE = -1902,          /* the object is over cache.max_object_size */
	SL_E_CACHE_SHORT = -1903,              /* fewer body bytes than announced */
	SL_E_CACHE_ONLY_IF_CACHED = -1904,     /* only-if-cached and nothing usable stored: 504 */
	SL_E_CACHE_NOT_STORABLE = -1905,       /* the response may not be stored */
	SL_E_CACHE_FILL_FAILED = -1906,        /* the fetch being shared failed midway */
};

/*
 * Returns a static sentence describing code (negative project code or
 * -errno). Never returns NULL; unknown codes get a generic sentence.
 */
const char *sl_strerror(int code);

/* Returns the symbolic name of code ("SL_E_HTTP_BARE_CR", "ECONNREFUSED"). */
const char *sl_errname(int code);

#endif
