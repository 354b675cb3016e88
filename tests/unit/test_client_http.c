/*
 * Unit tests of the HTTP client: framing of responses (Content-Length,
 * chunked with trailers, until close, HEAD, 204, 304, 1xx), the request
 * head the manager writes, request bodies (memory, file, pulled, pushed
 * with back-pressure), truncated and reset responses, timeouts, aborting,
 * and the reply's reference counting, against the scripted server of
 * client_util.c on the test's loop.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/manager.h"
#include "client_util.h"
#include "core/err.h"

/* ---- handlers ---- */

static void h_hello(tsrv *s, tconn *c, treq *q)
{
	(void)s;
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		       "Content-Length: 5\r\n\r\n%s", strcmp(q->method, "HEAD") ? "hello" : "");
}

static void h_by_target(tsrv *s, tconn *c, treq *q)
{
	(void)s;
	if (strcmp(q->target, "/chunked") == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			       "Trailer: X-Sum\r\n\r\n"
			       "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Sum: 42\r\n\r\n");
	} else if (strcmp(q->target, "/close") == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
		tconn_close_after(c);
	} else if (strcmp(q->target, "/204") == 0) {
		tconn_sendf(c, "HTTP/1.1 204 No Content\r\nContent-Length: 12\r\n\r\n");
	} else if (strcmp(q->target, "/304") == 0) {
		tconn_sendf(c, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n"
			       "Content-Length: 100\r\n\r\n");
	} else if (strcmp(q->target, "/1xx") == 0) {
		tconn_sendf(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
			       "Link: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	} else if (strcmp(q->target, "/http10") == 0) {
		tconn_sendf(c, "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold");
		tconn_close_after(c);
	} else if (strcmp(q->target, "/truncated") == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..");
		tconn_close_after(c);
	} else if (strcmp(q->target, "/truncated-chunked") == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			       "a\r\n0123456789\r\n");
		tconn_close_after(c);
	} else if (strcmp(q->target, "/reset") == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
		tconn_reset(c);
	} else if (strcmp(q->target, "/garbage") == 0) {
		tconn_sendf(c, "HTTP/1.1 2OO OK\r\n\r\n");
	} else if (strcmp(q->target, "/huge-head") == 0) {
		char *v = malloc(70001);
		memset(v, 'v', 70000);
		v[70000] = '\0';
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nX-Big: ");
		tconn_send(c, v, 70000);
		tconn_sendf(c, "\r\nContent-Length: 0\r\n\r\n");
		free(v);
	} else if (strcmp(q->target, "/extra") == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSTRAY BYTES");
	} else if (strcmp(q->target, "/silent") == 0) {
		/* never answers */
	} else if (strcmp(q->target, "/slow-body") == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
	} else if (strcmp(q->target, "/big") == 0) {
		size_t n = 200000;
		char *b = malloc(n);
		for (size_t i = 0; i < n; i++)
			b[i] = (char)('a' + i % 26);
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
		tconn_send(c, b, n);
		free(b);
	} else {
		h_hello(s, c, q);
	}
}

/* Echoes method, framing and body: "POST cl=5 te= body=hello". */
static void h_echo(tsrv *s, tconn *c, treq *q)
{
	char cl[32], te[32], out[4096];
	int n;

	(void)s;
	treq_header(q, "Content-Length", cl, sizeof cl);
	treq_header(q, "Transfer-Encoding", te, sizeof te);
	n = snprintf(out, sizeof out, "%s cl=%s te=%s len=%zu", q->method, cl, te, q->body_len);
	if (q->body_len < 1000)
		n += snprintf(out + n, sizeof out - (size_t)n, " body=%s", q->body);
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", n, out);
}

/* Sends back the request head. */
static void h_head_echo(tsrv *s, tconn *c, treq *q)
{
	(void)s;
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", q->head_len);
	tconn_send(c, q->head, q->head_len);
}

/* ---- framing ---- */

Test(client_http, get_with_content_length)
{
	env e;
	rec rc = {0};
	sl_reply_stats st;
	sl_reply_error er;
	sl_slice head;

	env_init(&e, h_hello);
	env_manager(&e);
	env_get(&e, "GET", "/", &rc);
	cr_assert_eq(rc.dones, 0, "no callback from inside send");
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.heads, 1);
	cr_assert_eq(rc.dones, 1);
	cr_assert_eq(rc.status, 200);
	cr_assert_eq(rc.framing, SL_BODY_LENGTH);
	cr_assert_eq(rc.clen, 5);
	cr_assert_str_eq(rc.body, "hello");
	cr_assert_str_eq(rc.ctype, "text/plain");
	cr_assert_eq(sl_reply_status(rc.r), 200);
	cr_assert(sl_reply_finished(rc.r));
	sl_reply_get_stats(rc.r, &st);
	cr_assert_eq(st.body_bytes, 5);
	cr_assert_gt(st.bytes_sent, 20);
	cr_assert_gt(st.bytes_received, 40);
	cr_assert_geq(st.ttfb, 0);
	cr_assert_geq(st.total, st.ttfb);
	cr_assert_eq(st.reused, false);
	head = sl_reply_request_head(rc.r);
	cr_assert_eq(head.n, st.bytes_sent, "the head is all a GET sends");
	cr_assert(head.n > 20 && memcmp(head.p, "GET / HTTP/1.1\r\nHost: ", 22) == 0);
	cr_assert(memcmp(head.p + head.n - 4, "\r\n\r\n", 4) == 0);
	sl_reply_get_error(rc.r, &er);
	cr_assert_eq(er.code, 0);
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, chunked_body_and_trailer)
{
	env e;
	rec rc = {0};

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/chunked", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.framing, SL_BODY_CHUNKED);
	cr_assert_str_eq(rc.body, "hello world");
	cr_assert_eq(rc.trailers, 1);
	cr_assert_str_eq(rc.trailer, "X-Sum: 42");
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, close_delimited_body)
{
	env e;
	rec rc = {0};
	sl_manager_stats ms;

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/close", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.framing, SL_BODY_CLOSE);
	cr_assert_eq(rc.keep_alive, false);
	cr_assert_str_eq(rc.body, "until the end");
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.idle, 0, "a close-delimited connection is not kept");
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, head_has_no_body)
{
	env e;
	rec rc = {0}, rc2 = {0};

	env_init(&e, h_hello);
	env_manager(&e);
	env_get(&e, "HEAD", "/", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.status, 200);
	cr_assert_eq(rc.datas, 0);
	cr_assert_eq(rc.framing, SL_BODY_NONE);
	cr_assert_eq(rc.clen, 0, "nothing to read, whatever Content-Length says");
	/* Content-Length of a HEAD response announces no body to read: the
	 * connection is ready for the next request at once. */
	env_get(&e, "GET", "/", &rc2);
	cr_assert(run_until(e.loop, pred_done, &rc2, 5));
	cr_assert_eq(rc2.err, 0);
	cr_assert_str_eq(rc2.body, "hello");
	cr_assert_eq(e.srv->accepted, 1);
	sl_reply_unref(rc.r);
	sl_reply_unref(rc2.r);
	rec_free(&rc);
	rec_free(&rc2);
	env_fini(&e);
}

Test(client_http, no_body_for_204_and_304)
{
	env e;
	rec a = {0}, b = {0};
	rec *all[] = {&a, &b, NULL};

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/204", &a);
	env_get(&e, "GET", "/304", &b);
	cr_assert(run_until(e.loop, pred_all_done, all, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_eq(a.status, 204);
	cr_assert_eq(a.datas, 0);
	cr_assert_eq(b.err, 0);
	cr_assert_eq(b.status, 304);
	cr_assert_eq(b.datas, 0);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	env_fini(&e);
}

Test(client_http, interim_responses_are_consumed)
{
	env e;
	rec rc = {0};

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/1xx", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.heads, 1);
	cr_assert_eq(rc.status, 200);
	cr_assert_eq(rc.infos, 1, "103 goes to on_info, 100 is consumed");
	cr_assert_eq(rc.info_status, 103);
	cr_assert_str_eq(rc.body, "ok");
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, http10_response_closes_the_connection)
{
	env e;
	rec a = {0}, b = {0};
	sl_manager_stats ms;

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/http10", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_str_eq(a.body, "old");
	cr_assert_eq(a.keep_alive, false);
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.idle, 0);
	env_get(&e, "GET", "/", &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_eq(e.srv->accepted, 2);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

Test(client_http, truncated_length_body_is_an_error)
{
	env e;
	rec rc = {0};
	sl_reply_error er;

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/truncated", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, SL_E_TARGET_CLOSED);
	cr_assert_eq(rc.heads, 1);
	cr_assert_str_eq(rc.body, "only ten..");
	sl_reply_get_error(rc.r, &er);
	cr_assert_eq(er.code, SL_E_TARGET_CLOSED);
	cr_assert_eq(er.phase, SL_PHASE_RECEIVE);
	cr_assert_eq(er.proxy, false);
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, truncated_chunked_body_is_an_error)
{
	env e;
	rec rc = {0};

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/truncated-chunked", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, SL_E_TARGET_CLOSED);
	cr_assert_str_eq(rc.body, "0123456789");
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, reset_mid_body_is_an_error)
{
	env e;
	rec rc = {0};

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/reset", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert(rc.err == SL_E_TARGET_RESET || rc.err == SL_E_TARGET_CLOSED, "%s",
		  sl_errname(rc.err));
	cr_assert_neq(rc.err, 0);
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, malformed_status_line_is_reported)
{
	env e;
	rec rc = {0};

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/garbage", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, SL_E_HTTP_BAD_STATUS);
	cr_assert_eq(rc.heads, 0);
	sl_reply_unref(rc.r);
	env_fini(&e);
}

Test(client_http, large_body_arrives_whole)
{
	env e;
	rec rc = {0};

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/big", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.nbody, 200000);
	for (size_t i = 0; i < rc.nbody; i++)
		cr_assert_eq(rc.body[i], (char)('a' + i % 26));
	cr_assert_leq(rc.max_buffered, 64 * 1024);
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, oversized_response_head_is_refused)
{
	env e;
	rec rc = {0};

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/huge-head", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, SL_E_HTTP_HEADERS_TOO_LARGE, "%s", sl_errname(rc.err));
	cr_assert_eq(rc.heads, 0);
	sl_reply_unref(rc.r);
	env_fini(&e);
}

Test(client_http, bytes_after_a_response_spoil_the_connection)
{
	env e;
	rec a = {0}, b = {0};

	env_init(&e, h_by_target);
	env_manager(&e);
	env_get(&e, "GET", "/extra", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_str_eq(a.body, "ok");
	cr_assert(run_until(e.loop, pred_no_channels, e.m, 5), "the spoilt stream is not kept");
	env_get(&e, "GET", "/", &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_str_eq(b.body, "hello");
	cr_assert_eq(e.srv->accepted, 2);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

/* ---- the request head ---- */

Test(client_http, request_head_defaults)
{
	env e;
	rec rc = {0};
	char host[64];

	env_init(&e, h_head_echo);
	env_manager(&e);
	env_get(&e, "GET", "/p/a?q=1#frag", &rc);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	snprintf(host, sizeof host, "Host: 127.0.0.1:%u\r\n", (unsigned)e.srv->port);
	cr_assert(strncmp(rc.body, "GET /p/a?q=1 HTTP/1.1\r\n", 23) == 0, "%s", rc.body);
	cr_assert(strstr(rc.body, host), "%s", rc.body);
	cr_assert(strstr(rc.body, "User-Agent: sluice/"), "%s", rc.body);
	cr_assert_null(strstr(rc.body, "Accept-Encoding"));
	cr_assert_null(strstr(rc.body, "Content-Length"));
	cr_assert_null(strstr(rc.body, "Connection"));
	cr_assert_null(strstr(rc.body, "#frag"));
	cr_assert_str_eq(g_net.last_host, "127.0.0.1");
	cr_assert_eq(g_net.last_port, e.srv->port);
	cr_assert_eq(g_net.last_timeout, 10000);
	cr_assert_eq(g_net.last_tls, false);
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, caller_fields_are_kept_and_framing_is_ours)
{
	env e;
	rec rc = {0};
	sl_request rq;
	sl_reply *r;
	sl_field f[] = {
		{SL_SLICE_LIT("Host"), SL_SLICE_LIT("example.org")},
		{SL_SLICE_LIT("User-Agent"), SL_SLICE_LIT("mine/1")},
		{SL_SLICE_LIT("X-Thing"), SL_SLICE_LIT("a b")},
		{SL_SLICE_LIT("Content-Length"), SL_SLICE_LIT("999")},
		{SL_SLICE_LIT("Transfer-Encoding"), SL_SLICE_LIT("chunked")},
	};

	env_init(&e, h_head_echo);
	e.o.user_agent = "";
	env_manager(&e);
	sl_request_init(&rq, "POST", env_url(&e, "/x"));
	rq.headers = f;
	rq.nheaders = 5;
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), 0);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert(strstr(rc.body, "Host: example.org\r\n"), "%s", rc.body);
	cr_assert_null(strstr(strstr(rc.body, "Host:") + 1, "Host:"), "one Host field");
	cr_assert(strstr(rc.body, "User-Agent: mine/1\r\n"));
	cr_assert(strstr(rc.body, "X-Thing: a b\r\n"));
	cr_assert(strstr(rc.body, "Content-Length: 0\r\n"), "%s", rc.body);
	cr_assert_null(strstr(rc.body, "999"));
	cr_assert_null(strstr(rc.body, "chunked"));
	sl_reply_unref(r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, bad_requests_fail_at_send)
{
	env e;
	sl_request rq;
	sl_reply *r = (sl_reply *)1;
	rec rc = {0};
	sl_field bad[] = {{SL_SLICE_LIT("X-Bad"), SL_SLICE_LIT("a\r\nInjected: 1")}};
	sl_manager_stats ms;

	env_init(&e, h_hello);
	env_manager(&e);
	sl_request_init(&rq, "GET", "gopher://h/x");
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), SL_E_UNSUPPORTED);
	cr_assert_null(r);
	sl_request_init(&rq, "GET", "http://exa mple/");
	cr_assert_lt(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), 0);
	sl_request_init(&rq, "GE T", env_url(&e, "/"));
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), SL_E_INVAL);
	sl_request_init(&rq, "GET", env_url(&e, "/"));
	rq.headers = bad;
	rq.nheaders = 1;
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), SL_E_INVAL);
	sl_request_init(&rq, "CONNECT", env_url(&e, "/"));
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), SL_E_UNSUPPORTED);
	run_for(e.loop, 0.05);
	cr_assert_eq(rc.dones, 0);
	cr_assert_eq(e.srv->accepted, 0);
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.active, 0);
	env_fini(&e);
}

/* ---- request bodies ---- */

Test(client_http, post_memory_body)
{
	env e;
	rec rc = {0};
	sl_request rq;
	sl_reply *r;
	static const char body[] = "name=value&x=1";

	env_init(&e, h_echo);
	env_manager(&e);
	sl_request_init(&rq, "POST", env_url(&e, "/form"));
	sl_request_body_mem(&rq, body, sizeof body - 1);
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), 0);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_str_eq(rc.body, "POST cl=14 te= len=14 body=name=value&x=1");
	sl_reply_unref(r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, put_file_body_range)
{
	env e;
	rec rc = {0};
	sl_request rq;
	sl_reply *r;
	char path[] = "/tmp/sl_client_bodyXXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "0123456789abcdef", 16), 16);
	env_init(&e, h_echo);
	env_manager(&e);
	sl_request_init(&rq, "PUT", env_url(&e, "/file"));
	sl_request_body_file(&rq, fd, 4, 8);
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), 0);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_str_eq(rc.body, "PUT cl=8 te= len=8 body=456789ab");
	sl_reply_unref(r);
	rec_free(&rc);
	env_fini(&e);
	close(fd);
	unlink(path);
}

struct puller {
	int calls;
	int again_once;
	size_t left;
};

static ssize_t pull(void *arg, char *buf, size_t cap)
{
	struct puller *p = arg;
	size_t n = p->left < 7 ? p->left : 7;

	p->calls++;
	if (p->again_once == 1) {
		p->again_once = 2;
		return SL_E_AGAIN;
	}
	if (n > cap)
		n = cap;
	memset(buf, 'p', n);
	p->left -= n;
	return (ssize_t)n;
}

static void ready_later(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	sl_reply_body_ready(w->data);
}

Test(client_http, pulled_body_goes_chunked)
{
	env e;
	rec rc = {0};
	sl_request rq;
	sl_reply *r;
	struct puller p = {.left = 30, .again_once = 1};
	ev_timer t;
	char want[128];

	env_init(&e, h_echo);
	env_manager(&e);
	sl_request_init(&rq, "POST", env_url(&e, "/pull"));
	sl_request_body_pull(&rq, pull, &p, -1);
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), 0);
	ev_timer_init(&t, ready_later, 0.05, 0.0);
	t.data = r;
	ev_timer_start(e.loop, &t);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	snprintf(want, sizeof want, "POST cl= te=chunked len=30 body=%.30s",
		 "pppppppppppppppppppppppppppppppppppp");
	cr_assert_str_eq(rc.body, want);
	cr_assert_eq(p.again_once, 2);
	sl_reply_unref(r);
	rec_free(&rc);
	env_fini(&e);
}

/* Pushes 256 KiB in 4 KiB writes, waiting for on_drain when refused. */
struct pusher {
	size_t sent, total;
	int agains;
	bool ended;
};

static void push_more(rec *rc, sl_reply *r)
{
	struct pusher *p = rc->user;
	char chunk[4096];

	memset(chunk, 'z', sizeof chunk);
	while (p->sent < p->total) {
		ssize_t w = sl_reply_write(r, chunk, sizeof chunk);
		if (w == SL_E_AGAIN) {
			p->agains++;
			return;
		}
		cr_assert_eq(w, (ssize_t)sizeof chunk);
		p->sent += (size_t)w;
	}
	if (!p->ended) {
		cr_assert_eq(sl_reply_write_end(r), 0);
		p->ended = true;
	}
}

Test(client_http, pushed_body_with_backpressure)
{
	env e;
	rec rc = {0};
	sl_request rq;
	sl_reply *r;
	struct pusher p = {.total = 256 * 1024};

	env_init(&e, h_echo);
	env_manager(&e);
	sl_request_init(&rq, "POST", env_url(&e, "/push"));
	sl_request_body_push(&rq, -1);
	rc.user = &p;
	rc.drain_hook = push_more;
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), 0);
	push_more(&rc, r);
	cr_assert_gt(p.agains, 0, "the reply must refuse past its high watermark");
	cr_assert(run_until(e.loop, pred_done, &rc, 10));
	cr_assert_eq(rc.err, 0);
	cr_assert_gt(rc.drains, 0);
	cr_assert(p.ended);
	cr_assert_str_eq(rc.body, "POST cl= te=chunked len=262144");
	cr_assert_eq(sl_reply_write(r, "x", 1), SL_E_INVAL, "ended");
	sl_reply_unref(r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, pushed_body_with_known_length)
{
	env e;
	rec rc = {0};
	sl_request rq;
	sl_reply *r;

	env_init(&e, h_echo);
	env_manager(&e);
	sl_request_init(&rq, "PUT", env_url(&e, "/push"));
	sl_request_body_push(&rq, 10);
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), 0);
	cr_assert_eq(sl_reply_write(r, "01234", 5), 5);
	cr_assert_eq(sl_reply_write_end(r), SL_E_INVAL, "5 bytes short");
	cr_assert_eq(sl_reply_write(r, "0123456", 7), SL_E_INVAL, "past the length");
	run_for(e.loop, 0.02);
	cr_assert_eq(sl_reply_write(r, "56789", 5), 5);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_str_eq(rc.body, "PUT cl=10 te= len=10 body=0123456789");
	sl_reply_unref(r);
	rec_free(&rc);
	env_fini(&e);
}

/* ---- timeouts, abort, references ---- */

Test(client_http, first_byte_timeout)
{
	env e;
	rec rc = {0};
	sl_request rq;
	sl_reply *r;
	sl_reply_error er;

	env_init(&e, h_by_target);
	env_manager(&e);
	sl_request_init(&rq, "GET", env_url(&e, "/silent"));
	rq.first_byte_timeout_ms = 80;
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), 0);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, SL_E_TIMEOUT);
	sl_reply_get_error(r, &er);
	cr_assert_eq(er.phase, SL_PHASE_WAIT);
	sl_reply_unref(r);
	env_fini(&e);
}

Test(client_http, idle_read_timeout_mid_body)
{
	env e;
	rec rc = {0};
	sl_request rq;
	sl_reply *r;
	sl_reply_error er;

	env_init(&e, h_by_target);
	env_manager(&e);
	sl_request_init(&rq, "GET", env_url(&e, "/slow-body"));
	rq.read_timeout_ms = 80;
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc, &r), 0);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, SL_E_TIMEOUT);
	cr_assert_str_eq(rc.body, "abc");
	sl_reply_get_error(r, &er);
	cr_assert_eq(er.phase, SL_PHASE_RECEIVE);
	sl_reply_unref(r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_http, abort_in_on_data_stops_everything)
{
	env e;
	rec a = {0}, b = {0};
	sl_reply_error er;

	env_init(&e, h_by_target);
	env_manager(&e);
	a.abort_on_first_data = true;
	env_get(&e, "GET", "/big", &a);
	cr_assert(run_until(e.loop, pred_data, &a, 5));
	cr_assert_not(run_until(e.loop, pred_done, &a, 0.1));
	cr_assert_eq(a.datas, 1);
	cr_assert_eq(a.dones, 0, "no on_done after an abort");
	cr_assert(sl_reply_finished(a.r));
	sl_reply_get_error(a.r, &er);
	cr_assert_eq(er.code, SL_E_CANCELED);
	env_get(&e, "GET", "/", &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_eq(e.srv->accepted, 2, "the aborted exchange's connection is not reused");
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

Test(client_http, abort_while_queued_and_unref_in_done)
{
	env e;
	rec a = {0}, b = {0};
	sl_manager_stats ms;

	env_init(&e, h_hello);
	env_manager(&e);
	env_get(&e, "GET", "/a", &a);
	b.unref_in_done = true;
	env_get(&e, "GET", "/b", &b);
	sl_reply_abort(a.r);
	sl_reply_abort(a.r);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_eq(a.dones, 0);
	cr_assert_str_eq(e.srv->order, "/b");
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.active, 0);
	cr_assert_eq(ms.queued, 0);
	sl_reply_unref(a.r);
	rec_free(&b);
	env_fini(&e);
}

static bool pred_server_saw_one(void *arg)
{
	return ((tsrv *)arg)->requests == 1;
}

Test(client_http, reply_outlives_its_manager)
{
	env e;
	rec rc = {0};
	sl_reply *r;
	sl_reply_error er;

	env_init(&e, h_by_target);
	env_manager(&e);
	r = env_get(&e, "GET", "/silent", &rc);
	cr_assert(run_until(e.loop, pred_server_saw_one, e.srv, 5));
	sl_manager_free(e.m);
	e.m = NULL;
	cr_assert(sl_reply_finished(r));
	cr_assert_eq(rc.dones, 0);
	sl_reply_get_error(r, &er);
	cr_assert_eq(er.code, SL_E_CANCELED);
	sl_reply_pause(r);
	sl_reply_resume(r);
	sl_reply_abort(r);
	sl_reply_unref(r);
	env_fini(&e);
}
