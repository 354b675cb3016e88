/*
 * Unit tests of connections and channels: keep-alive reuse, the channel
 * limit, priorities, late binding, the idle cache (server close, timeout,
 * per-host cap), retries on reused connections (RFC 9110 section 9.2.2) and
 * when they are not allowed, connect failures, routes as connection keys,
 * pipelining, and back-pressure with pause/resume.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/manager.h"
#include "client_util.h"
#include "core/err.h"

static void h_ok(tsrv *s, tconn *c, treq *q)
{
	(void)s;
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Conn: %d\r\n\r\n%s",
		    strlen(q->target), c->id, q->target);
}

static bool pred_idle(void *arg)
{
	env *e = arg;
	sl_manager_stats ms;

	sl_manager_get_stats(e->m, &ms);
	return ms.idle == (unsigned)e->srv->user_int;
}

static bool pred_held(void *arg)
{
	(void)arg;
	return g_net.nheld > 0;
}

static void wait_idle(env *e, int n)
{
	e->srv->user_int = n;
	cr_assert(run_until(e->loop, pred_idle, e, 5), "idle never reached %d", n);
}

Test(client_pool, keep_alive_reuses_one_connection)
{
	env e;
	rec a = {0}, b = {0};
	sl_reply_stats st;
	sl_manager_stats ms;

	env_init(&e, h_ok);
	env_manager(&e);
	env_get(&e, "GET", "/one", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	wait_idle(&e, 1);
	env_get(&e, "GET", "/two", &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_eq(b.err, 0);
	cr_assert_str_eq(b.body, "/two");
	cr_assert_eq(e.srv->accepted, 1);
	cr_assert_eq(g_net.connects, 1);
	sl_reply_get_stats(a.r, &st);
	cr_assert_eq(st.reused, false);
	sl_reply_get_stats(b.r, &st);
	cr_assert_eq(st.reused, true);
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.reused, 1);
	cr_assert_eq(ms.requests, 2);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

/* Sends the next request from on_done: the connection must be free by then. */
static void send_next(rec *rc, sl_reply *r, int err)
{
	env *e = rc->user;

	(void)r;
	(void)err;
	if (rc->done_seq < 3) {
		rec *next = rc + 1;
		next->user = e;
		next->done_hook = send_next;
		env_get(e, "GET", "/next", next);
	}
}

Test(client_pool, request_sent_from_on_done_reuses_the_connection)
{
	env e;
	rec rc[3] = {{0}};
	rec *all[] = {&rc[0], &rc[1], &rc[2], NULL};

	env_init(&e, h_ok);
	env_manager(&e);
	rc[0].user = &e;
	rc[0].done_hook = send_next;
	env_get(&e, "GET", "/first", &rc[0]);
	cr_assert(run_until(e.loop, pred_all_done, all, 5));
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(rc[i].err, 0);
		sl_reply_unref(rc[i].r);
		rec_free(&rc[i]);
	}
	cr_assert_eq(e.srv->accepted, 1);
	env_fini(&e);
}

Test(client_pool, twenty_requests_share_six_channels)
{
	env e;
	rec rc[20] = {{0}};
	rec *all[21];
	sl_manager_stats ms;

	env_init(&e, h_ok);
	env_manager(&e);
	for (int i = 0; i < 20; i++) {
		char path[32];
		snprintf(path, sizeof path, "/r%d", i);
		env_get(&e, "GET", path, &rc[i]);
		all[i] = &rc[i];
	}
	all[20] = NULL;
	sl_manager_get_stats(e.m, &ms);
	cr_assert_leq(ms.channels, 6);
	cr_assert_eq(ms.queued, 20);
	cr_assert(run_until(e.loop, pred_all_done, all, 10));
	for (int i = 0; i < 20; i++) {
		char path[32];
		snprintf(path, sizeof path, "/r%d", i);
		cr_assert_eq(rc[i].err, 0);
		cr_assert_str_eq(rc[i].body, path);
		sl_reply_unref(rc[i].r);
		rec_free(&rc[i]);
	}
	cr_assert_leq(e.srv->accepted, 6);
	cr_assert_leq(g_net.connects, 6);
	cr_assert_eq(e.srv->requests, 20);
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.idle, (unsigned)e.srv->accepted);
	cr_assert_eq(ms.active, 0);
	env_fini(&e);
}

Test(client_pool, high_priority_goes_first)
{
	env e;
	rec rc[5] = {{0}};
	rec *all[] = {&rc[0], &rc[1], &rc[2], &rc[3], &rc[4], NULL};
	const char *paths[] = {"/n1", "/low", "/h1", "/n2", "/h2"};
	enum sl_priority prio[] = {SL_PRIO_NORMAL, SL_PRIO_LOW, SL_PRIO_HIGH, SL_PRIO_NORMAL,
				   SL_PRIO_HIGH};

	env_init(&e, h_ok);
	e.o.max_channels = 1;
	env_manager(&e);
	g_net.hold = true;
	for (int i = 0; i < 5; i++) {
		sl_request rq;
		sl_reply *r;

		sl_request_init(&rq, "GET", env_url(&e, paths[i]));
		rq.priority = prio[i];
		cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &rc[i], &r), 0);
	}
	cr_assert(run_until(e.loop, pred_held, NULL, 5));
	cr_assert_eq(g_net.connects, 1);
	cr_assert(tnet_release());
	cr_assert(run_until(e.loop, pred_all_done, all, 5));
	cr_assert_str_eq(e.srv->order, "/h1 /h2 /n1 /n2 /low");
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(rc[i].err, 0);
		sl_reply_unref(rc[i].r);
		rec_free(&rc[i]);
	}
	env_fini(&e);
}

/* Holds the response to /slow until the test answers it. */
static void h_hold_slow(tsrv *s, tconn *c, treq *q)
{
	if (strcmp(q->target, "/slow") == 0) {
		s->user = c;
		return;
	}
	h_ok(s, c, q);
}

static bool pred_user_set(void *arg)
{
	return ((tsrv *)arg)->user != NULL;
}

Test(client_pool, late_binding_takes_the_first_free_channel)
{
	env e;
	rec a = {0}, b = {0};
	sl_reply_stats st;
	sl_manager_stats ms;

	env_init(&e, h_hold_slow);
	e.o.max_channels = 2;
	env_manager(&e);
	env_get(&e, "GET", "/slow", &a);
	cr_assert(run_until(e.loop, pred_user_set, e.srv, 5));
	/* A second request opens a second connection, which stays pending. */
	g_net.hold = true;
	env_get(&e, "GET", "/b", &b);
	cr_assert(run_until(e.loop, pred_held, NULL, 5));
	cr_assert_eq(g_net.connects, 2);
	/* The first channel frees up before the connect completes: b takes it. */
	tconn_sendf(e.srv->user, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow");
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_eq(b.err, 0);
	cr_assert_str_eq(b.body, "/b");
	sl_reply_get_stats(b.r, &st);
	cr_assert(st.reused, "b went out on the first connection");
	cr_assert_eq(e.srv->conns[0]->nreq, 2);
	/* The late connect completes with nothing to do: its stream is parked. */
	g_net.hold = false;
	cr_assert(tnet_release());
	wait_idle(&e, 2);
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.channels, 0);
	cr_assert_eq(ms.connects, 2);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

Test(client_pool, idle_stream_is_evicted_when_the_server_closes_it)
{
	env e;
	rec a = {0}, b = {0};
	sl_reply_stats st;

	env_init(&e, h_ok);
	env_manager(&e);
	env_get(&e, "GET", "/a", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	wait_idle(&e, 1);
	tconn_close_now(e.srv->conns[0]);
	wait_idle(&e, 0);
	env_get(&e, "GET", "/b", &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_eq(e.srv->accepted, 2);
	sl_reply_get_stats(b.r, &st);
	cr_assert_eq(st.reused, false);
	cr_assert_eq(st.retried, false);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

static bool pred_eof(void *arg)
{
	return ((tsrv *)arg)->eofs > 0;
}

Test(client_pool, idle_timeout_closes_parked_streams)
{
	env e;
	rec a = {0}, b = {0};

	env_init(&e, h_ok);
	e.o.idle_timeout_ms = 100;
	env_manager(&e);
	env_get(&e, "GET", "/a", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	wait_idle(&e, 1);
	cr_assert(run_until(e.loop, pred_eof, e.srv, 3), "the client never closed");
	wait_idle(&e, 0);
	env_get(&e, "GET", "/b", &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_eq(e.srv->accepted, 2);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

Test(client_pool, idle_streams_per_host_are_capped)
{
	env e;
	rec rc[3] = {{0}};
	rec *all[] = {&rc[0], &rc[1], &rc[2], NULL};
	sl_manager_stats ms;

	env_init(&e, h_ok);
	e.o.max_idle_per_host = 1;
	env_manager(&e);
	for (int i = 0; i < 3; i++)
		env_get(&e, "GET", "/x", &rc[i]);
	cr_assert(run_until(e.loop, pred_all_done, all, 5));
	cr_assert_eq(e.srv->accepted, 3);
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.idle, 1);
	for (int i = 0; i < 3; i++) {
		sl_reply_unref(rc[i].r);
		rec_free(&rc[i]);
	}
	env_fini(&e);
}

/* The second request on the first connection is dropped without a word;
 * mode 1 sends a status line first. */
static void h_drop_second(tsrv *s, tconn *c, treq *q)
{
	if ((c->id == 0 && q->index == 1) || (s->user_int == 2 && q->seq > 0)) {
		if (s->user_int == 1)
			tconn_sendf(c, "HTTP/1.1 200 OK\r\n");
		tconn_close_after(c);
		return;
	}
	h_ok(s, c, q);
}

static void drop_second_run(const char *method, unsigned flags, int mode, rec *b, env *e)
{
	rec a = {0};
	sl_request rq;
	sl_reply *r;

	env_init(e, h_drop_second);
	e->srv->user_int = mode;
	env_manager(e);
	env_get(e, "GET", "/a", &a);
	cr_assert(run_until(e->loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	e->srv->user_int = mode;
	sl_request_init(&rq, method, env_url(e, "/b"));
	rq.flags = flags;
	cr_assert_eq(sl_manager_send(e->m, &rq, &rec_cbs, b, &r), 0);
	b->r = r;
	cr_assert(run_until(e->loop, pred_done, b, 5));
	run_for(e->loop, 0.05);
	sl_reply_unref(a.r);
	rec_free(&a);
}

Test(client_pool, idempotent_request_is_retried_on_a_new_connection)
{
	env e;
	rec b = {0};
	sl_reply_stats st;
	sl_manager_stats ms;

	drop_second_run("GET", 0, 0, &b, &e);
	cr_assert_eq(b.err, 0);
	cr_assert_str_eq(b.body, "/b");
	cr_assert_eq(e.srv->accepted, 2);
	sl_reply_get_stats(b.r, &st);
	cr_assert(st.retried);
	cr_assert_eq(st.reused, false, "the retry ran on a fresh connection");
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.retries, 1);
	sl_reply_unref(b.r);
	rec_free(&b);
	env_fini(&e);
}

Test(client_pool, a_retry_happens_once)
{
	env e;
	rec b = {0};
	sl_reply_stats st;

	drop_second_run("GET", 0, 2, &b, &e);
	cr_assert_eq(b.err, SL_E_TARGET_CLOSED);
	cr_assert_eq(e.srv->accepted, 2);
	sl_reply_get_stats(b.r, &st);
	cr_assert(st.retried);
	sl_reply_unref(b.r);
	rec_free(&b);
	env_fini(&e);
}

Test(client_pool, post_is_not_retried)
{
	env e;
	rec b = {0};
	sl_reply_error er;

	drop_second_run("POST", 0, 0, &b, &e);
	cr_assert_eq(b.err, SL_E_TARGET_CLOSED);
	cr_assert_eq(e.srv->accepted, 1);
	sl_reply_get_error(b.r, &er);
	cr_assert_eq(er.phase, SL_PHASE_WAIT);
	sl_reply_unref(b.r);
	rec_free(&b);
	env_fini(&e);
}

Test(client_pool, no_retry_once_a_response_byte_was_seen)
{
	env e;
	rec b = {0};

	drop_second_run("GET", 0, 1, &b, &e);
	cr_assert_eq(b.err, SL_E_TARGET_CLOSED);
	cr_assert_eq(e.srv->accepted, 1);
	sl_reply_unref(b.r);
	rec_free(&b);
	env_fini(&e);
}

Test(client_pool, no_retry_flag_is_honoured)
{
	env e;
	rec b = {0};

	drop_second_run("GET", SL_REQ_NO_RETRY, 0, &b, &e);
	cr_assert_eq(b.err, SL_E_TARGET_CLOSED);
	cr_assert_eq(e.srv->accepted, 1);
	sl_reply_unref(b.r);
	rec_free(&b);
	env_fini(&e);
}

Test(client_pool, connect_failure_fails_the_queue_with_its_detail)
{
	env e;
	rec rc[3] = {{0}};
	rec *all[] = {&rc[0], &rc[1], &rc[2], NULL};
	sl_manager_stats ms;

	env_init(&e, h_ok);
	env_manager(&e);
	g_net.fail_err = SL_E_PROXY_REFUSED;
	g_net.fail_hop = 0;
	g_net.fail_proxy = true;
	for (int i = 0; i < 3; i++)
		env_get(&e, "GET", "/x", &rc[i]);
	cr_assert(run_until(e.loop, pred_all_done, all, 5));
	for (int i = 0; i < 3; i++) {
		sl_reply_error er;

		cr_assert_eq(rc[i].err, SL_E_PROXY_REFUSED);
		cr_assert_eq(rc[i].heads, 0);
		sl_reply_get_error(rc[i].r, &er);
		cr_assert_eq(er.phase, SL_PHASE_CONNECT);
		cr_assert(er.proxy);
		cr_assert_eq(er.hop, 0);
		sl_reply_unref(rc[i].r);
	}
	sl_manager_get_stats(e.m, &ms);
	cr_assert_geq(ms.connect_failures, 1);
	cr_assert_eq(ms.channels, 0);
	cr_assert_eq(ms.active, 0);
	env_fini(&e);
}

Test(client_pool, routes_and_schemes_are_separate_connections)
{
	env e;
	rec a = {0}, b = {0}, c = {0};
	sl_request rq;
	sl_reply *r;
	sl_hop hop = {.type = SL_HOP_SOCKS5H, .host = "gw.example", .port = 1080};
	sl_route route = {&hop, 1, NULL};
	char url[128];

	env_init(&e, h_ok);
	env_manager(&e);
	env_get(&e, "GET", "/direct", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	sl_request_init(&rq, "GET", env_url(&e, "/routed"));
	rq.route = &route;
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &b, &r), 0);
	b.r = r;
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(g_net.last_route_n, 1);
	snprintf(url, sizeof url, "https://127.0.0.1:%u/tls", (unsigned)e.srv->port);
	sl_request_init(&rq, "GET", url);
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &c, &r), 0);
	c.r = r;
	cr_assert(run_until(e.loop, pred_done, &c, 5));
	cr_assert(g_net.last_tls, "https asks the connector for TLS to the target");
	cr_assert_eq(a.err, 0);
	cr_assert_eq(b.err, 0);
	cr_assert_eq(c.err, 0);
	cr_assert_eq(e.srv->accepted, 3);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	sl_reply_unref(c.r);
	rec_free(&a);
	rec_free(&b);
	rec_free(&c);
	env_fini(&e);
}

Test(client_pool, connection_close_request_is_not_kept)
{
	env e;
	rec a = {0};
	sl_request rq;
	sl_reply *r;
	sl_field f[] = {{SL_SLICE_LIT("Connection"), SL_SLICE_LIT("close")}};
	sl_manager_stats ms;

	env_init(&e, h_ok);
	env_manager(&e);
	sl_request_init(&rq, "GET", env_url(&e, "/x"));
	rq.headers = f;
	rq.nheaders = 1;
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &a, &r), 0);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.idle, 0);
	sl_reply_unref(r);
	rec_free(&a);
	env_fini(&e);
}

/* ---- pipelining ---- */

/* Answers nothing until three requests arrived on one connection, then
 * all three in order; with user_int 1 it answers the first and closes. */
static void h_three(tsrv *s, tconn *c, treq *q)
{
	(void)q;
	if (c->nreq < 3)
		return;
	if (s->user_int == 1) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
		tconn_close_after(c);
		s->user_int = 0;
		s->fn = h_ok;
		return;
	}
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
		       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"
		       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3");
}

static bool pred_first_request(void *arg)
{
	return ((tsrv *)arg)->requests > 0;
}

static void send_three(env *e, rec *rc)
{
	for (int i = 0; i < 3; i++) {
		sl_request rq;
		sl_reply *r;
		char path[16];

		snprintf(path, sizeof path, "/%d", i + 1);
		sl_request_init(&rq, "GET", env_url(e, path));
		rq.flags = SL_REQ_PIPELINE;
		cr_assert_eq(sl_manager_send(e->m, &rq, &rec_cbs, &rc[i], &r), 0);
		rc[i].r = r;
	}
}

Test(client_pool, pipelining_writes_three_gets_at_once)
{
	env e;
	rec rc[3] = {{0}};
	rec *all[] = {&rc[0], &rc[1], &rc[2], NULL};

	env_init(&e, h_three);
	e.o.max_channels = 1;
	e.o.pipelining = true;
	env_manager(&e);
	send_three(&e, rc);
	cr_assert(run_until(e.loop, pred_all_done, all, 5));
	for (int i = 0; i < 3; i++) {
		char want[2] = {(char)('1' + i), 0};

		cr_assert_eq(rc[i].err, 0);
		cr_assert_str_eq(rc[i].body, want);
		cr_assert_eq(rc[i].done_seq, i + 1, "responses in request order");
		sl_reply_unref(rc[i].r);
		rec_free(&rc[i]);
	}
	cr_assert_eq(e.srv->accepted, 1);
	env_fini(&e);
}

Test(client_pool, pipelining_is_off_by_default)
{
	env e;
	rec rc[3] = {{0}};
	rec *all[] = {&rc[0], &rc[1], &rc[2], NULL};

	env_init(&e, h_three);
	e.o.max_channels = 1;
	env_manager(&e);
	send_three(&e, rc);
	cr_assert(run_until(e.loop, pred_first_request, e.srv, 5));
	run_for(e.loop, 0.2);
	cr_assert_eq(e.srv->requests, 1, "one request at a time");
	tconn_sendf(e.srv->conns[0], "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
	e.srv->fn = h_ok;
	cr_assert(run_until(e.loop, pred_all_done, all, 5));
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(rc[i].err, 0);
		sl_reply_unref(rc[i].r);
		rec_free(&rc[i]);
	}
	env_fini(&e);
}

Test(client_pool, pipelined_requests_left_unanswered_are_retried)
{
	env e;
	rec rc[3] = {{0}};
	rec *all[] = {&rc[0], &rc[1], &rc[2], NULL};
	sl_reply_stats st;

	env_init(&e, h_three);
	e.srv->user_int = 1;
	e.o.max_channels = 1;
	e.o.pipelining = true;
	env_manager(&e);
	send_three(&e, rc);
	cr_assert(run_until(e.loop, pred_all_done, all, 5));
	cr_assert_str_eq(rc[0].body, "1");
	cr_assert_str_eq(rc[1].body, "/2");
	cr_assert_str_eq(rc[2].body, "/3");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rc[i].err, 0);
	sl_reply_get_stats(rc[1].r, &st);
	cr_assert(st.retried);
	cr_assert_eq(e.srv->accepted, 2);
	for (int i = 0; i < 3; i++) {
		sl_reply_unref(rc[i].r);
		rec_free(&rc[i]);
	}
	env_fini(&e);
}

/* ---- back-pressure ---- */

#define MIB (1024 * 1024)

static void h_mib(tsrv *s, tconn *c, treq *q)
{
	char *b = malloc(MIB);

	(void)s;
	(void)q;
	for (size_t i = 0; i < MIB; i++)
		b[i] = (char)(i * 7);
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", MIB);
	tconn_send(c, b, MIB);
	free(b);
}

Test(client_pool, pause_stops_reading_and_resume_restarts)
{
	env e;
	rec rc = {0};
	sl_reply_stats st;

	env_init(&e, h_mib);
	env_manager(&e);
	rc.pause_on_first_data = true;
	env_get(&e, "GET", "/mib", &rc);
	cr_assert(run_until(e.loop, pred_data, &rc, 5));
	run_for(e.loop, 0.3);
	cr_assert_eq(rc.datas, 1);
	cr_assert_eq(rc.data_while_paused, 0);
	cr_assert_eq(rc.dones, 0);
	sl_reply_get_stats(rc.r, &st);
	cr_assert_leq(st.buffered, st.buffer_cap);
	cr_assert_leq(st.buffer_cap, 64 * 1024);
	cr_assert_lt(st.bytes_received, MIB / 2, "reading stopped");
	rc.paused = false;
	sl_reply_resume(rc.r);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.nbody, MIB);
	for (size_t i = 0; i < MIB; i++)
		cr_assert_eq(rc.body[i], (char)(i * 7));
	cr_assert_leq(rc.max_buffered, 64 * 1024);
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}
