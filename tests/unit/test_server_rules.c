/*
 * Unit tests of the proxy's pure rules: the error answers (code and side to
 * status), the message rules of message.c (hop-by-hop removal both ways,
 * Via and loop detection, Max-Forwards, response framing, the serialised
 * head, the TRACE echo) and the admin routing and answers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "server/admin.h"
#include "server/errors.h"
#include "server/message.h"

#define F(n, v) {SL_SLICE_LIT(n), SL_SLICE_LIT(v)}

static bool has(const sl_field *f, size_t n, const char *name)
{
	return sl_headers_find(f, n, name) < n;
}

/* ---- errors ---- */

static int status_of(int code, sl_err_side side)
{
	sl_error_answer a;
	sl_errors_map(code, side, &a);
	return a.status;
}

Test(server_errors, request_limits)
{
	sl_error_answer a;

	sl_errors_map(SL_E_HTTP_URI_TOO_LONG, SL_SIDE_CLIENT, &a);
	cr_assert_eq(a.status, 414);
	cr_assert(a.close);
	cr_assert_str_eq(a.reason, "URI Too Long");
	cr_assert_eq(status_of(SL_E_HTTP_HEADERS_TOO_LARGE, SL_SIDE_CLIENT), 431);
	cr_assert_eq(status_of(SL_E_HTTP_TOO_MANY_FIELDS, SL_SIDE_CLIENT), 431);
	cr_assert_eq(status_of(SL_E_LIMIT, SL_SIDE_CLIENT), 431);
}

Test(server_errors, malformed_requests_are_400_and_close)
{
	static const int codes[] = {SL_E_HTTP_BAD_METHOD, SL_E_HTTP_BARE_LF,
				    SL_E_HTTP_CL_AND_TE, SL_E_HTTP_BAD_VERSION,
				    SL_E_HTTP_BAD_CHUNK_SIZE, SL_E_HTTP_MISSING_HOST};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		sl_error_answer a;
		sl_errors_map(codes[i], SL_SIDE_CLIENT, &a);
		cr_assert_eq(a.status, 400, "%s", sl_errname(codes[i]));
		cr_assert(a.close, "%s", sl_errname(codes[i]));
		cr_assert_str_eq(a.result, "NONE");
	}
}

Test(server_errors, bad_url_is_400_without_close)
{
	sl_error_answer a;

	sl_errors_map(SL_E_URL_BAD_HOST, SL_SIDE_CLIENT, &a);
	cr_assert_eq(a.status, 400);
	cr_assert_not(a.close, "the request itself was framed well");
	cr_assert_eq(status_of(SL_E_UNSUPPORTED, SL_SIDE_CLIENT), 400);
}

Test(server_errors, header_timeout_is_408)
{
	sl_error_answer a;

	sl_errors_map(SL_E_TIMEOUT, SL_SIDE_CLIENT, &a);
	cr_assert_eq(a.status, 408);
	cr_assert(a.close);
}

Test(server_errors, upstream_resolution_and_refusal_are_502)
{
	cr_assert_eq(status_of(SL_E_TARGET_NOT_FOUND, SL_SIDE_UPSTREAM), 502);
	cr_assert_eq(status_of(SL_E_DNS_NOT_FOUND, SL_SIDE_UPSTREAM), 502);
	cr_assert_eq(status_of(SL_E_DNS_FAILED, SL_SIDE_UPSTREAM), 502);
	cr_assert_eq(status_of(SL_E_TARGET_REFUSED, SL_SIDE_UPSTREAM), 502);
	cr_assert_eq(status_of(-ECONNREFUSED, SL_SIDE_UPSTREAM), 502);
	cr_assert_eq(status_of(SL_E_TARGET_UNREACHABLE, SL_SIDE_UPSTREAM), 502);
	cr_assert_eq(status_of(SL_E_TARGET_RESET, SL_SIDE_UPSTREAM), 502);
	cr_assert_eq(status_of(SL_E_TARGET_CLOSED, SL_SIDE_UPSTREAM), 502);
}

Test(server_errors, upstream_timeouts_are_504)
{
	cr_assert_eq(status_of(SL_E_TARGET_TIMEOUT, SL_SIDE_UPSTREAM), 504);
	cr_assert_eq(status_of(SL_E_TIMEOUT, SL_SIDE_UPSTREAM), 504, "first byte");
	cr_assert_eq(status_of(SL_E_DNS_TIMEOUT, SL_SIDE_UPSTREAM), 504);
	cr_assert_eq(status_of(SL_E_PROXY_TIMEOUT, SL_SIDE_UPSTREAM), 504);
}

Test(server_errors, tls_failures_are_502)
{
	for (int c = SL_E_TLS_HANDSHAKE; c >= SL_E_TLS_CLOSED; c--)
		cr_assert_eq(status_of(c, SL_SIDE_UPSTREAM), 502, "%s", sl_errname(c));
}

Test(server_errors, denied_destination_is_403_tcp_denied)
{
	sl_error_answer a;

	sl_errors_map(SL_E_TARGET_DENIED, SL_SIDE_UPSTREAM, &a);
	cr_assert_eq(a.status, 403);
	cr_assert_str_eq(a.result, "TCP_DENIED");
	sl_errors_map(SL_E_TARGET_DENIED, SL_SIDE_CLIENT, &a);
	cr_assert_eq(a.status, 403);
	cr_assert_str_eq(a.result, "TCP_DENIED");
}

Test(server_errors, result_codes_by_side)
{
	sl_error_answer a;

	sl_errors_map(SL_E_TARGET_REFUSED, SL_SIDE_UPSTREAM, &a);
	cr_assert_str_eq(a.result, "TCP_MISS");
	cr_assert_not(a.close);
	sl_errors_map(SL_E_TARGET_REFUSED, SL_SIDE_TUNNEL, &a);
	cr_assert_str_eq(a.result, "TCP_TUNNEL");
	sl_errors_map(-12345, SL_SIDE_UPSTREAM, &a);
	cr_assert_eq(a.status, 502, "unknown upstream errors are 502");
	sl_errors_map(-12345, SL_SIDE_CLIENT, &a);
	cr_assert_eq(a.status, 400, "unknown client errors are 400");
}

Test(server_errors, body_is_one_line)
{
	sl_error_answer a;
	char out[128];
	size_t n;

	sl_errors_map(SL_E_TARGET_NOT_FOUND, SL_SIDE_UPSTREAM, &a);
	n = sl_errors_body(&a, SL_E_TARGET_NOT_FOUND, "nope.invalid:80", out, sizeof out);
	cr_assert_str_eq(out, "cannot resolve the host: nope.invalid:80\n");
	cr_assert_eq(n, strlen(out));
	n = sl_errors_body(&a, SL_E_TARGET_NOT_FOUND, NULL, out, sizeof out);
	cr_assert(strstr(out, sl_strerror(SL_E_TARGET_NOT_FOUND)) != NULL);
	n = sl_errors_body(&a, SL_E_TARGET_NOT_FOUND, "a very long detail that is cut", out, 20);
	cr_assert_eq(n, 19);
	cr_assert_eq(out[18], '\n', "a cut body still ends its line");
	cr_assert_eq(memchr(out, '\n', 18), NULL);
}

Test(server_errors, reasons)
{
	cr_assert_str_eq(sl_http_reason(502), "Bad Gateway");
	cr_assert_str_eq(sl_http_reason(431), "Request Header Fields Too Large");
	cr_assert_str_eq(sl_http_reason(508), "Loop Detected");
	cr_assert_str_eq(sl_http_reason(299), "Unknown");
}

/* ---- message rules ---- */

Test(server_message, request_loses_hop_by_hop_fields)
{
	sl_field in[] = {
		F("Host", "origin.example"),
		F("Accept", "*/*"),
		F("Connection", "keep-alive, X-Secret"),
		F("X-Secret", "s"),
		F("Keep-Alive", "timeout=5"),
		F("Proxy-Connection", "Keep-Alive"),
		F("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
		F("TE", "trailers"),
		F("Trailer", "X-T"),
		F("Transfer-Encoding", "chunked"),
		F("Upgrade", "websocket"),
		F("Content-Length", "5"),
		F("Expect", "100-continue"),
		F("Max-Forwards", "3"),
		F("Via", "1.0 other"),
		F("X-Kept", "yes"),
	};
	sl_field out[32];
	size_t n = sl_msg_request_fields(in, sizeof in / sizeof in[0], out, 32);

	cr_assert_eq(n, 2);
	cr_assert(sl_slice_eq_cstr(out[0].name, "Accept"), "order is kept");
	cr_assert(sl_slice_eq_cstr(out[1].name, "X-Kept"));
	cr_assert_not(has(out, n, "X-Secret"), "named in Connection");
	cr_assert_not(has(out, n, "Host"), "the URL gives the Host");
}

Test(server_message, response_loses_hop_by_hop_and_framing)
{
	sl_field in[] = {
		F("Content-Type", "text/plain"),
		F("Content-Length", "10"),
		F("Connection", "close"),
		F("Transfer-Encoding", "chunked"),
		F("Proxy-Authenticate", "Basic realm=x"),
		F("ETag", "\"x\""),
	};
	sl_field out[16];
	size_t n = sl_msg_response_fields(in, 6, false, out, 16);

	cr_assert_eq(n, 2);
	cr_assert(has(out, n, "Content-Type") && has(out, n, "ETag"));
	n = sl_msg_response_fields(in, 6, true, out, 16);
	cr_assert_eq(n, 3, "HEAD and 304 keep Content-Length");
	cr_assert(has(out, n, "Content-Length"));
}

Test(server_message, max_forwards)
{
	sl_field a[] = {F("Max-Forwards", "0")};
	sl_field b[] = {F("Max-Forwards", "12")};
	sl_field c[] = {F("Max-Forwards", "x1")};
	sl_field d[] = {F("Max-Forwards", "99999999999999999999")};
	sl_field e[] = {F("Accept", "*/*")};

	cr_assert_eq(sl_msg_max_forwards(a, 1), 0);
	cr_assert_eq(sl_msg_max_forwards(b, 1), 12);
	cr_assert_eq(sl_msg_max_forwards(c, 1), -1);
	cr_assert_eq(sl_msg_max_forwards(d, 1), INT32_MAX);
	cr_assert_eq(sl_msg_max_forwards(e, 1), -1);
}

Test(server_message, via_loop_detection)
{
	sl_field f[] = {F("Via", "1.0 fred, 1.1 p.example:3128 (sluice)"),
			F("Via", "HTTP/1.1 other")};
	sl_slice me = SL_SLICE_LIT("p.example:3128");

	cr_assert(sl_msg_via_has(f, 2, me));
	cr_assert(sl_msg_via_has(f, 2, SL_SLICE_LIT("P.EXAMPLE:3128")), "case-insensitive");
	cr_assert(sl_msg_via_has(f, 2, SL_SLICE_LIT("other")), "second field line");
	cr_assert_not(sl_msg_via_has(f, 2, SL_SLICE_LIT("p.example")));
	cr_assert_not(sl_msg_via_has(f, 2, SL_SLICE_LIT("sluice")), "comments do not count");
	cr_assert_not(sl_msg_via_has(f, 0, me));
}

Test(server_message, via_value_joins_the_old_ones)
{
	sl_field f[] = {F("Via", "1.0 fred"), F("Accept", "*/*"), F("Via", "1.1 nowhere")};
	char out[128];

	cr_assert_eq(sl_msg_via_value(f, 3, "me:3128 (sluice)", out, sizeof out),
		     strlen("1.0 fred, 1.1 nowhere, 1.1 me:3128 (sluice)"));
	cr_assert_str_eq(out, "1.0 fred, 1.1 nowhere, 1.1 me:3128 (sluice)");
	sl_msg_via_value(f, 0, "me", out, sizeof out);
	cr_assert_str_eq(out, "1.1 me");
	cr_assert_eq(sl_msg_via_value(f, 3, "me", out, 10), 0, "too small");
}

Test(server_message, via_name)
{
	char out[64];

	cr_assert_eq(sl_msg_via_name("proxy-1.corp", 3128, out, sizeof out), 17);
	cr_assert_str_eq(out, "proxy-1.corp:3128");
	sl_msg_via_name("bad host/\x01", 0, out, sizeof out);
	cr_assert_str_eq(out, "badhost");
	sl_msg_via_name("", 8080, out, sizeof out);
	cr_assert_str_eq(out, "sluice:8080");
	cr_assert_eq(sl_msg_via_name("averylonghostname", 3128, out, 8), 0);
}

static sl_msg_frame frame(enum sl_http_method m, int minor, bool ka, int status,
			  enum sl_http_body up, uint64_t cl)
{
	sl_msg_frame_in in = {.method = m, .client_minor = minor, .client_keep_alive = ka,
			      .status = status, .up_framing = up, .content_length = cl};
	sl_msg_frame out;
	sl_msg_frame_response(&in, &out);
	return out;
}

Test(server_message, framing_keeps_content_length)
{
	sl_msg_frame f = frame(SL_METHOD_GET, 1, true, 200, SL_BODY_LENGTH, 1024);

	cr_assert_eq(f.framing, SL_BODY_LENGTH);
	cr_assert_eq(f.content_length, 1024);
	cr_assert(f.keep_alive);
	cr_assert_not(f.keep_length);
}

Test(server_message, framing_rechunks_for_http11)
{
	sl_msg_frame f = frame(SL_METHOD_GET, 1, true, 200, SL_BODY_CHUNKED, 0);
	cr_assert_eq(f.framing, SL_BODY_CHUNKED);
	cr_assert(f.keep_alive);
	f = frame(SL_METHOD_GET, 1, true, 200, SL_BODY_CLOSE, 0);
	cr_assert_eq(f.framing, SL_BODY_CHUNKED, "a close-delimited upstream body is chunked");
	cr_assert(f.keep_alive);
}

Test(server_message, framing_closes_for_http10)
{
	sl_msg_frame f = frame(SL_METHOD_GET, 0, true, 200, SL_BODY_CHUNKED, 0);
	cr_assert_eq(f.framing, SL_BODY_CLOSE);
	cr_assert_not(f.keep_alive);
	f = frame(SL_METHOD_GET, 0, true, 200, SL_BODY_LENGTH, 5);
	cr_assert_eq(f.framing, SL_BODY_LENGTH);
	cr_assert(f.keep_alive, "HTTP/1.0 keep-alive with a length");
}

Test(server_message, framing_without_body)
{
	sl_msg_frame f = frame(SL_METHOD_HEAD, 1, true, 200, SL_BODY_NONE, 0);
	cr_assert_eq(f.framing, SL_BODY_NONE);
	cr_assert(f.keep_length);
	f = frame(SL_METHOD_GET, 1, true, 304, SL_BODY_NONE, 0);
	cr_assert_eq(f.framing, SL_BODY_NONE);
	cr_assert(f.keep_length);
	f = frame(SL_METHOD_GET, 1, true, 204, SL_BODY_NONE, 0);
	cr_assert_eq(f.framing, SL_BODY_NONE);
	cr_assert_not(f.keep_length);
}

Test(server_message, framing_close_wins)
{
	sl_msg_frame_in in = {.method = SL_METHOD_GET, .client_minor = 1,
			      .client_keep_alive = true, .force_close = true, .status = 200,
			      .up_framing = SL_BODY_LENGTH, .content_length = 3};
	sl_msg_frame f;

	sl_msg_frame_response(&in, &f);
	cr_assert_not(f.keep_alive);
	f = frame(SL_METHOD_GET, 1, false, 200, SL_BODY_LENGTH, 3);
	cr_assert_not(f.keep_alive, "the client asked to close");
}

Test(server_message, response_head)
{
	sl_field f[] = {F("Content-Type", "text/plain"), F("Via", "1.0 up")};
	sl_msg_frame fr = {.framing = SL_BODY_LENGTH, .content_length = 5, .keep_alive = true};
	char out[512];
	size_t n;

	n = sl_msg_response_head(out, sizeof out, 200, SL_SLICE_LIT("OK"), f, 2, &fr, 1,
				 "me:3128 (sluice)");
	out[n] = '\0';
	cr_assert_str_eq(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			      "Content-Length: 5\r\nVia: 1.0 up, 1.1 me:3128 (sluice)\r\n\r\n");
	fr.framing = SL_BODY_CHUNKED;
	fr.keep_alive = false;
	n = sl_msg_response_head(out, sizeof out, 404, SL_SLICE_LIT(""), f, 1, &fr, 1, NULL);
	out[n] = '\0';
	cr_assert_str_eq(out, "HTTP/1.1 404 \r\nContent-Type: text/plain\r\n"
			      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
	fr.framing = SL_BODY_LENGTH;
	fr.keep_alive = true;
	n = sl_msg_response_head(out, sizeof out, 200, SL_SLICE_LIT("OK"), f, 1, &fr, 0, NULL);
	out[n] = '\0';
	cr_assert(strstr(out, "Connection: keep-alive\r\n") != NULL, "HTTP/1.0 keep-alive");
	cr_assert_eq(sl_msg_response_head(out, 20, 200, SL_SLICE_LIT("OK"), f, 2, &fr, 1, NULL), 0);
}

Test(server_message, trace_body_hides_credentials)
{
	sl_field f[] = {F("Host", "h"), F("Authorization", "Basic x"), F("Cookie", "a=1"),
			F("Proxy-Authorization", "Basic y"), F("X-Test", "t")};
	sl_http_request rq = {.method = SL_SLICE_LIT("TRACE"), .target = SL_SLICE_LIT("http://h/"),
			      .minor_version = 1, .fields = f, .nfields = 5};
	char out[256];
	size_t n = sl_msg_trace_body(&rq, out, sizeof out);

	out[n] = '\0';
	cr_assert_str_eq(out, "TRACE http://h/ HTTP/1.1\r\nHost: h\r\nX-Test: t\r\n\r\n");
	cr_assert_eq(sl_msg_trace_body(&rq, out, 10), 0);
}

/* ---- admin ---- */

static sl_config *load(const char *text)
{
	sl_config *c = NULL;
	char err[512];
	cr_assert_eq(sl_config_load_string(text, "t", &c, err, sizeof err), 0, "%s", err);
	return c;
}

static sl_addr A(const char *s)
{
	sl_addr a;
	cr_assert_eq(sl_addr_parse(s, strlen(s), &a), 0);
	return a;
}

#define GET SL_SLICE_LIT("GET")

Test(server_admin, routes)
{
	sl_config *cfg = load("{}");
	sl_addr lo = A("127.0.0.1"), far = A("10.0.0.5");

	cr_assert_eq(sl_admin_route(cfg, &lo, GET, SL_SLICE_LIT("/__sluice/health")),
		     SL_ADMIN_HEALTH);
	cr_assert_eq(sl_admin_route(cfg, &lo, GET, SL_SLICE_LIT("/__sluice/health?x=1")),
		     SL_ADMIN_HEALTH);
	cr_assert_eq(sl_admin_route(cfg, &lo, GET, SL_SLICE_LIT("/__sluice/stats")),
		     SL_ADMIN_STATS);
	cr_assert_eq(sl_admin_route(cfg, &lo, GET, SL_SLICE_LIT("/__sluice/nope")),
		     SL_ADMIN_UNKNOWN);
	cr_assert_eq(sl_admin_route(cfg, &lo, SL_SLICE_LIT("POST"),
				    SL_SLICE_LIT("/__sluice/health")), SL_ADMIN_UNKNOWN);
	cr_assert_eq(sl_admin_route(cfg, &lo, GET, SL_SLICE_LIT("/")), SL_ADMIN_NOT_PROXY);
	cr_assert_eq(sl_admin_route(cfg, &lo, GET, SL_SLICE_LIT("/__sluicex/health")),
		     SL_ADMIN_NOT_PROXY);
	cr_assert_eq(sl_admin_route(cfg, &far, GET, SL_SLICE_LIT("/__sluice/health")),
		     SL_ADMIN_FORBIDDEN, "10/8 is not in admin.allow");
	cr_assert_eq(sl_admin_route(cfg, NULL, GET, SL_SLICE_LIT("/__sluice/health")),
		     SL_ADMIN_HEALTH, "unix socket clients");
	sl_config_unref(cfg);
}

Test(server_admin, disabled_or_moved)
{
	sl_config *cfg = load("{\"admin\": {\"enabled\": false}}");
	sl_addr lo = A("127.0.0.1");

	cr_assert_eq(sl_admin_route(cfg, &lo, GET, SL_SLICE_LIT("/__sluice/health")),
		     SL_ADMIN_FORBIDDEN);
	sl_config_unref(cfg);
	cfg = load("{\"admin\": {\"path_prefix\": \"/_p\"}}");
	cr_assert_eq(sl_admin_route(cfg, &lo, GET, SL_SLICE_LIT("/_p/health")), SL_ADMIN_HEALTH);
	cr_assert_eq(sl_admin_route(cfg, &lo, GET, SL_SLICE_LIT("/__sluice/health")),
		     SL_ADMIN_NOT_PROXY);
	sl_config_unref(cfg);
}

Test(server_admin, answers)
{
	sl_worker_stats ws = {.accepted = 3, .requests = 7};
	sl_admin_answer a;
	char body[512];

	cr_assert_eq(sl_admin_answer_page(SL_ADMIN_HEALTH, SL_SLICE_NULL, 0, NULL, NULL, body,
					  sizeof body, &a), 0);
	cr_assert_eq(a.status, 200);
	cr_assert_eq(a.len, 3);
	cr_assert_eq(memcmp(body, "ok\n", 3), 0);
	sl_admin_answer_page(SL_ADMIN_NOT_PROXY, SL_SLICE_LIT("127.0.0.1:3128"), 0, NULL, NULL,
			     body, sizeof body, &a);
	cr_assert_eq(a.status, 400);
	cr_assert(strstr(body, "curl -x http://127.0.0.1:3128 http://example.com/") != NULL);
	sl_admin_answer_page(SL_ADMIN_NOT_PROXY, SL_SLICE_LIT("evil host\r\nX: y"), 0, NULL,
			     NULL, body, sizeof body, &a);
	cr_assert(strstr(body, "HOST:PORT") != NULL, "an odd Host is not echoed");
	sl_admin_answer_page(SL_ADMIN_STATS, SL_SLICE_NULL, 1, &ws, NULL, body, sizeof body, &a);
	cr_assert_str_eq(a.content_type, "application/json");
	cr_assert(strstr(body, "\"requests\": 7") != NULL);
	sl_admin_answer_page(SL_ADMIN_FORBIDDEN, SL_SLICE_NULL, 0, NULL, NULL, body, sizeof body,
			     &a);
	cr_assert_eq(a.status, 403);
	cr_assert_eq(sl_admin_answer_page(SL_ADMIN_HEALTH, SL_SLICE_NULL, 0, NULL, NULL, body, 2,
					  &a), SL_E_INVAL);
}
