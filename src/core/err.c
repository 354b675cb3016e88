/*
 * The error table behind sl_strerror(). One row per project code; system
 * codes (-errno) are described by glibc's thread-safe strerrordesc_np().
 * The table is static and read-only, so any thread may call in.
 */
#include "core/err.h"

#include <stddef.h>
#include <string.h>

struct err_row {
	int code;
	const char *name;
	const char *text;
};

#define ROW(c, t) {c, #c, t}

static const struct err_row rows[] = {
	ROW(SL_OK, "success"),
	ROW(SL_E_NOMEM, "out of memory"),
	ROW(SL_E_INVAL, "invalid argument"),
	ROW(SL_E_LIMIT, "a configured limit was reached"),
	ROW(SL_E_AGAIN, "incomplete input, more is needed"),
	ROW(SL_E_EOF, "end of stream"),
	ROW(SL_E_TIMEOUT, "timed out"),
	ROW(SL_E_CANCELED, "cancelled"),
	ROW(SL_E_UNSUPPORTED, "not supported"),

	ROW(SL_E_HTTP_BAD_METHOD, "invalid request method"),
	ROW(SL_E_HTTP_BAD_TARGET, "invalid request target"),
	ROW(SL_E_HTTP_BAD_VERSION, "unsupported HTTP version (only 1.0 and 1.1)"),
	ROW(SL_E_HTTP_BAD_REQUEST_LINE, "malformed request line"),
	ROW(SL_E_HTTP_BAD_STATUS_LINE, "malformed status line"),
	ROW(SL_E_HTTP_URI_TOO_LONG, "request line too long"),
	ROW(SL_E_HTTP_HEADERS_TOO_LARGE, "header block too large"),
	ROW(SL_E_HTTP_TOO_MANY_FIELDS, "too many header fields"),
	ROW(SL_E_HTTP_BAD_FIELD_NAME, "invalid header field name"),
	ROW(SL_E_HTTP_BAD_FIELD_VALUE, "invalid header field value"),
	ROW(SL_E_HTTP_WS_BEFORE_COLON, "whitespace between header field name and colon"),
	ROW(SL_E_HTTP_OBS_FOLD, "obsolete line folding in header field"),
	ROW(SL_E_HTTP_BARE_CR, "bare CR in message"),
	ROW(SL_E_HTTP_BARE_LF, "bare LF line ending in message"),
	ROW(SL_E_HTTP_CTL_CHAR, "NUL or control character in message"),
	ROW(SL_E_HTTP_CL_AND_TE, "both Content-Length and Transfer-Encoding"),
	ROW(SL_E_HTTP_BAD_CONTENT_LENGTH, "malformed Content-Length"),
	ROW(SL_E_HTTP_CL_MISMATCH, "differing Content-Length values"),
	ROW(SL_E_HTTP_TE_NOT_CHUNKED, "request Transfer-Encoding does not end in chunked"),
	ROW(SL_E_HTTP_BAD_TRANSFER_ENCODING, "malformed Transfer-Encoding"),
	ROW(SL_E_HTTP_BAD_CHUNK_SIZE, "invalid chunk size"),
	ROW(SL_E_HTTP_CHUNK_SIZE_OVERFLOW, "chunk size too large"),
	ROW(SL_E_HTTP_BAD_CHUNK_EXT, "malformed chunk extension"),
	ROW(SL_E_HTTP_BAD_CHUNK_END, "chunk data not followed by CRLF"),
	ROW(SL_E_HTTP_BAD_TRAILER, "malformed trailer section"),
	ROW(SL_E_HTTP_MISSING_HOST, "HTTP/1.1 request without Host"),
	ROW(SL_E_HTTP_MULTIPLE_HOST, "several Host header fields"),
	ROW(SL_E_HTTP_BAD_HOST, "invalid Host header field"),
	ROW(SL_E_HTTP_BAD_STATUS, "invalid status code"),
	ROW(SL_E_HTTP_TRAILER_TOO_LARGE, "trailer section too large"),
	ROW(SL_E_HTTP_CHUNK_EXT_TOO_LARGE, "chunk extensions too large"),

	ROW(SL_E_URL_EMPTY, "empty URL"),
	ROW(SL_E_URL_BAD_SCHEME, "invalid URL scheme"),
	ROW(SL_E_URL_BAD_HOST, "invalid host in URL"),
	ROW(SL_E_URL_BAD_PORT, "invalid port in URL"),
	ROW(SL_E_URL_BAD_IPV6, "invalid IPv6 literal in URL"),
	ROW(SL_E_URL_BAD_PERCENT, "invalid percent-encoding in URL"),
	ROW(SL_E_URL_BAD_CHAR, "invalid character in URL"),
	ROW(SL_E_URL_TOO_LONG, "URL too long"),
	ROW(SL_E_URL_NO_HOST, "URL has no host"),
	ROW(SL_E_URL_BAD_USERINFO, "invalid user information in URL"),

	ROW(SL_E_CONF_SYNTAX, "configuration is not valid JSON"),
	ROW(SL_E_CONF_UNKNOWN_KEY, "unknown configuration key"),
	ROW(SL_E_CONF_TYPE, "configuration value has the wrong type"),
	ROW(SL_E_CONF_VALUE, "invalid configuration value"),
	ROW(SL_E_CONF_IO, "configuration file cannot be read"),
	ROW(SL_E_CONF_REF, "configuration names an undefined upstream or chain"),
	ROW(SL_E_CONF_DUPLICATE, "configuration repeats a key"),
	ROW(SL_E_CONF_MISSING, "configuration lacks a required key"),

	ROW(SL_E_ADDR_BAD, "invalid IP address"),
	ROW(SL_E_ADDR_BAD_PREFIX, "invalid CIDR prefix length"),
	ROW(SL_E_ADDR_BAD_PORT, "invalid port"),

	ROW(SL_E_AUTH_SYNTAX, "malformed authentication header field"),
	ROW(SL_E_AUTH_NO_CHALLENGE, "no authentication challenge"),
	ROW(SL_E_AUTH_SCHEME, "authentication scheme not supported"),
	ROW(SL_E_AUTH_BAD_ALGORITHM, "unknown Digest algorithm"),
	ROW(SL_E_AUTH_BAD_QOP, "no usable Digest qop (auth-int is not supported)"),
	ROW(SL_E_AUTH_NO_NONCE, "Digest challenge without nonce"),
	ROW(SL_E_AUTH_TOO_LONG, "authentication parameter too long"),
	ROW(SL_E_AUTH_DUPLICATE, "authentication parameter given twice"),
	ROW(SL_E_AUTH_BUFFER, "authentication output buffer too small"),
	ROW(SL_E_AUTH_BAD_CREDENTIALS, "user name or password not allowed by the scheme"),
	ROW(SL_E_AUTH_REJECTED, "credentials rejected"),
	ROW(SL_E_AUTH_RSPAUTH, "server's Digest rspauth does not match"),
	ROW(SL_E_AUTH_CRYPTO, "digest computation failed"),
	ROW(SL_E_AUTH_NONCE_SPENT, "Digest nonce count exhausted"),
	ROW(SL_E_COOKIE_SYNTAX, "malformed Set-Cookie"),
	ROW(SL_E_COOKIE_TOO_LARGE, "cookie too large"),
	ROW(SL_E_COOKIE_DOMAIN, "cookie domain does not match the request host"),
	ROW(SL_E_COOKIE_PUBLIC_SUFFIX, "cookie domain is a public suffix"),
	ROW(SL_E_COOKIE_INSECURE, "secure cookie rules forbid this cookie over an insecure scheme"),
	ROW(SL_E_COOKIE_PREFIX, "cookie breaks the rules of its __Secure- or __Host- prefix"),
	ROW(SL_E_COOKIE_NOSPACE, "Cookie header does not fit the buffer"),

	ROW(SL_E_PROXY_NOT_FOUND, "proxy host not found"),
	ROW(SL_E_PROXY_REFUSED, "connection to the proxy refused"),
	ROW(SL_E_PROXY_UNREACHABLE, "proxy unreachable"),
	ROW(SL_E_PROXY_TIMEOUT, "proxy timed out"),
	ROW(SL_E_PROXY_CLOSED, "proxy closed the connection during the handshake"),
	ROW(SL_E_PROXY_AUTH, "proxy rejected the credentials"),
	ROW(SL_E_PROXY_AUTH_REQUIRED, "proxy requires credentials that are not configured"),
	ROW(SL_E_PROXY_PROTOCOL, "malformed answer from the proxy"),
	ROW(SL_E_PROXY_STATUS, "proxy refused the CONNECT request"),
	ROW(SL_E_SOCKS_VERSION, "SOCKS reply with a wrong version"),
	ROW(SL_E_SOCKS_NO_METHOD, "SOCKS server accepts none of the offered authentication methods"),
	ROW(SL_E_SOCKS_BAD_METHOD, "SOCKS server chose a method that was not offered"),
	ROW(SL_E_SOCKS_BAD_REPLY, "malformed SOCKS reply"),
	ROW(SL_E_SOCKS_GENERAL, "SOCKS server failure"),
	ROW(SL_E_SOCKS_CMD_UNSUPPORTED, "SOCKS command not supported"),
	ROW(SL_E_SOCKS_ATYP_UNSUPPORTED, "SOCKS address type not supported"),
	ROW(SL_E_SOCKS_UNKNOWN_REP, "unknown SOCKS reply code"),
	ROW(SL_E_SOCKS_NAME_TOO_LONG, "host name, user or password longer than 255 bytes"),
	ROW(SL_E_TLS_HANDSHAKE, "TLS handshake failed"),
	ROW(SL_E_TLS_EXPIRED, "TLS certificate expired or not yet valid"),
	ROW(SL_E_TLS_SELF_SIGNED, "TLS certificate is self-signed"),
	ROW(SL_E_TLS_UNKNOWN_CA, "TLS certificate issuer is not trusted"),
	ROW(SL_E_TLS_HOSTNAME, "TLS certificate does not match the host name"),
	ROW(SL_E_TLS_VERIFY, "TLS certificate verification failed"),
	ROW(SL_E_TLS_CLOSED, "TLS connection closed without close_notify"),
	ROW(SL_E_PROXY_DENIED, "the proxy's rules forbid reaching the next proxy"),
	ROW(SL_E_PROXY_AUTH_RECONNECT, "proxy asked for credentials and closed: retry on a new connection"),
	ROW(SL_E_PROXY_AUTH_BODY, "proxy asked for credentials for a request whose body cannot be sent again"),

	ROW(SL_E_TARGET_NOT_FOUND, "host not found"),
	ROW(SL_E_TARGET_REFUSED, "connection refused"),
	ROW(SL_E_TARGET_UNREACHABLE, "network or host unreachable"),
	ROW(SL_E_TARGET_TIMEOUT, "connection timed out"),
	ROW(SL_E_TARGET_DENIED, "connection not allowed by the proxy's rules"),
	ROW(SL_E_TARGET_CLOSED, "server closed the connection before answering"),
	ROW(SL_E_TARGET_RESET, "server reset the connection"),
	ROW(SL_E_DNS_NOT_FOUND, "no such host name"),
	ROW(SL_E_DNS_FAILED, "name resolution failed"),
	ROW(SL_E_DNS_TIMEOUT, "name resolution timed out"),

	ROW(SL_E_CACHE_MISS, "not in the cache"),
	ROW(SL_E_CACHE_CORRUPT, "a cached object is corrupt"),
	ROW(SL_E_CACHE_TOO_LARGE, "object larger than cache.max_object_size"),
	ROW(SL_E_CACHE_SHORT, "the response body was shorter than announced"),
	ROW(SL_E_CACHE_ONLY_IF_CACHED, "only-if-cached and the cache holds no usable response"),
	ROW(SL_E_CACHE_NOT_STORABLE, "the response may not be stored"),
	ROW(SL_E_CACHE_FILL_FAILED, "the upstream response being shared failed midway"),
};

static const struct err_row *find(int code)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (rows[i].code == code)
			return &rows[i];
	return NULL;
}

const char *sl_strerror(int code)
{
	const struct err_row *r = find(code);
	if (r)
		return r->text;
	if (code < 0 && code > -4096) {
		const char *s = strerrordesc_np(-code);
		if (s)
			return s;
	}
	return "unknown error";
}

const char *sl_errname(int code)
{
	const struct err_row *r = find(code);
	if (r)
		return r->name;
	if (code < 0 && code > -4096) {
		const char *s = strerrorname_np(-code);
		if (s)
			return s;
	}
	return "SL_E_UNKNOWN";
}
