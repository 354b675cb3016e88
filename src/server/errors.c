/*
 * The error answers of the proxy (see errors.h): a status for every error
 * code by the side it came from, and the reason phrases. Client-side errors
 * come from the request parser, its limits and the header timeout; their
 * connections close, because after a malformed head nothing says where the
 * next request would start. Upstream errors keep Qt's split: a name that
 * does not resolve, a refused or unreachable server, a TLS failure and a
 * server that closed or reset are 502; anything that timed out is 504; a
 * destination the rules refuse is 403. Proxy errors (a hop of the route
 * failed) are 502, or 504 when it timed out, credentials included.
 */
#include "server/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

const char *sl_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 508: return "Loop Detected";
	}
	return "Unknown";
}

static void set(sl_error_answer *a, int status, const char *cause, const char *result,
		bool close)
{
	a->status = status;
	a->reason = sl_http_reason(status);
	a->cause = cause;
	a->result = result;
	a->close = close;
}

static bool in_block(int code, int first)
{
	return code <= first && code > first - 100;
}

static void client_side(int code, sl_error_answer *a)
{
	switch (code) {
	case SL_E_HTTP_URI_TOO_LONG:
		set(a, 414, "request line too long", "NONE", true);
		return;
	case SL_E_HTTP_HEADERS_TOO_LARGE:
	case SL_E_HTTP_TOO_MANY_FIELDS:
	case SL_E_LIMIT:
		set(a, 431, "request header fields too large", "NONE", true);
		return;
	case SL_E_TIMEOUT:
		set(a, 408, "request head not received in time", "NONE", true);
		return;
	case SL_E_UNSUPPORTED:
		set(a, 400, "unsupported request", "NONE", false);
		return;
	case SL_E_TARGET_DENIED:
		set(a, 403, "not allowed", "TCP_DENIED", false);
		return;
	case SL_E_NOMEM:
		set(a, 503, "out of memory", "NONE", true);
		return;
	}
	if (in_block(code, SL_E_URL_EMPTY)) {
		set(a, 400, "invalid URL", "NONE", false);
		return;
	}
	set(a, 400, "malformed request", "NONE", true);
}

static void upstream_side(int code, const char *result, sl_error_answer *a)
{
	switch (code) {
	case SL_E_TARGET_NOT_FOUND:
	case SL_E_DNS_NOT_FOUND:
		set(a, 502, "cannot resolve the host", result, false);
		return;
	case SL_E_DNS_FAILED:
		set(a, 502, "name resolution failed", result, false);
		return;
	case SL_E_DNS_TIMEOUT:
		set(a, 504, "name resolution timed out", result, false);
		return;
	case SL_E_TARGET_REFUSED:
	case -ECONNREFUSED:
		set(a, 502, "connection refused by the server", result, false);
		return;
	case SL_E_TARGET_UNREACHABLE:
	case -ENETUNREACH:
	case -EHOSTUNREACH:
		set(a, 502, "server unreachable", result, false);
		return;
	case SL_E_TARGET_TIMEOUT:
	case -ETIMEDOUT:
		set(a, 504, "connection to the server timed out", result, false);
		return;
	case SL_E_TIMEOUT:
		set(a, 504, "the server did not answer in time", result, false);
		return;
	case SL_E_TARGET_DENIED:
		set(a, 403, "destination not allowed", "TCP_DENIED", false);
		return;
	case SL_E_TARGET_CLOSED:
	case -EPIPE:
		set(a, 502, "the server closed the connection", result, false);
		return;
	case SL_E_TARGET_RESET:
	case -ECONNRESET:
		set(a, 502, "the server reset the connection", result, false);
		return;
	case SL_E_NOMEM:
		set(a, 503, "out of memory", result, false);
		return;
	case SL_E_PROXY_TIMEOUT:
		set(a, 504, "the upstream proxy timed out", result, false);
		return;
	}
	if (code <= SL_E_TLS_HANDSHAKE && code >= SL_E_TLS_CLOSED) {
		set(a, 502, "TLS with the server failed", result, false);
		return;
	}
	if (in_block(code, SL_E_PROXY_NOT_FOUND)) {
		set(a, 502, "the upstream proxy failed", result, false);
		return;
	}
	if (in_block(code, SL_E_HTTP_BAD_METHOD)) {
		set(a, 502, "invalid response from the server", result, false);
		return;
	}
	set(a, 502, "upstream failure", result, false);
}

/* A proxy hop of the route failed (the side the chain reported). */
static void proxy_side(int code, const char *result, sl_error_answer *a)
{
	switch (code) {
	case SL_E_PROXY_TIMEOUT:
	case SL_E_DNS_TIMEOUT:
	case SL_E_TIMEOUT:
	case -ETIMEDOUT:
		set(a, 504, "the upstream proxy timed out", result, false);
		return;
	case SL_E_NOMEM:
		set(a, 503, "out of memory", result, false);
		return;
	case SL_E_PROXY_AUTH:
	case SL_E_PROXY_AUTH_REQUIRED:
	case SL_E_PROXY_AUTH_BODY:
		set(a, 502, "upstream proxy authentication failed", result, false);
		return;
	}
	set(a, 502, "the upstream proxy failed", result, false);
}

void sl_errors_map(int code, sl_err_side side, sl_error_answer *out)
{
	switch (side) {
	case SL_SIDE_PROXY:
		proxy_side(code, "TCP_MISS", out);
		return;
	case SL_SIDE_TUNNEL_PROXY:
		proxy_side(code, "TCP_TUNNEL", out);
		return;
	case SL_SIDE_CLIENT:
		client_side(code, out);
		return;
	case SL_SIDE_UPSTREAM:
		upstream_side(code, "TCP_MISS", out);
		return;
	case SL_SIDE_TUNNEL:
		upstream_side(code, "TCP_TUNNEL", out);
		return;
	}
	client_side(code, out);
}

size_t sl_errors_body(const sl_error_answer *a, int code, const char *detail, char *out,
		      size_t cap)
{
	int n;

	if (!cap)
		return 0;
	if (!detail || !detail[0])
		detail = sl_strerror(code);
	n = snprintf(out, cap, "%s: %s\n", a->cause, detail);
	if (n < 0) {
		out[0] = '\0';
		return 0;
	}
	if ((size_t)n >= cap) {
		/* Keep the line a line: end it with a newline even when cut. */
		if (cap >= 2)
			out[cap - 2] = '\n';
		return cap - 1;
	}
	return (size_t)n;
}
