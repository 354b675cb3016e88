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
};

/*
 * Returns a static sentence describing code (negative project code or
 * -errno). Never returns NULL; unknown codes get a generic sentence.
 */
const char *sl_strerror(int code);

/* Returns the symbolic name of code ("SL_E_HTTP_BARE_CR", "ECONNREFUSED"). */
const char *sl_errname(int code);

#endif
