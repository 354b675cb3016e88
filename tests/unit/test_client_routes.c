/*
 * Unit tests of routes in the client stack: a forward hop gets plain-http
 * requests in absolute form over one connection for every target, with a
 * 407 answered (Basic) and the credentials sent at once afterwards; a
 * refused answer, missing credentials and a body that cannot be sent
 * twice end with proxy errors naming the hop and the proxy's status; a
 * request fails over to its next route when a proxy hop of the first
 * refuses, and the route_event hook hears of each outcome. The scripted
 * server of client_util.c plays the forwarding proxy.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "client/manager.h"
#include "client_util.h"
#include "core/err.h"

/* user "u", password "pw" */
#define GOOD_AUTH "Basic dTpwdw=="

/* A forwarding proxy wanting Basic u:pw: answers the target back. */
static void h_proxy(tsrv *s, tconn *c, treq *q)
{
	char auth[256];

	(void)s;
	if (!treq_header(q, "Proxy-Authorization", auth, sizeof auth) ||
	    strcmp(auth, GOOD_AUTH) != 0) {
		tconn_sendf(c, "HTTP/1.1 407 Proxy Authentication Required\r\n"
			       "Proxy-Authenticate: Basic realm=\"fwd\"\r\n"
			       "Content-Length: 6\r\n\r\ndenied");
		return;
	}
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(q->target),
		    q->target);
}

struct events {
	int ok, failed;
	char last_route[64];
	int last_code;
	int last_status;
};

static void on_event(void *arg, const sl_route *route, const sl_chain_err *e)
{
	struct events *ev = arg;

	snprintf(ev->last_route, sizeof ev->last_route, "%s", route->name ? route->name : "");
	ev->last_code = e->code;
	ev->last_status = e->status;
	if (e->code < 0 && e->proxy)
		ev->failed++;
	else
		ev->ok++;
}

static sl_reply *send_via(env *e, const char *url, const sl_route *routes, size_t n, rec *rc)
{
	sl_request rq;
	sl_reply *r;

	sl_request_init(&rq, "GET", url);
	rq.route = routes;
	rq.nroutes = n;
	cr_assert_eq(sl_manager_send(e->m, &rq, &rec_cbs, rc, &r), 0);
	rc->r = r;
	return r;
}

static sl_hop fwd_hop(uint16_t port, const char *user, const char *password)
{
	sl_hop h = {.type = SL_HOP_HTTP, .host = "127.0.0.1", .port = port, .user = user,
		    .password = password, .forward = true, .label = "fwd", .tls_verify = true};
	return h;
}

Test(client_routes, forward_mode_absolute_form_and_preemption)
{
	env e;
	rec a = {0}, b = {0};
	sl_hop hop;
	sl_route route;
	sl_slice head;

	env_init(&e, h_proxy);
	env_manager(&e);
	hop = fwd_hop(e.srv->port, "u", "pw");
	route = (sl_route){&hop, 1, "fwd"};
	send_via(&e, "http://one.example/a?x=1", &route, 1, &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_eq(a.status, 200);
	cr_assert_str_eq(a.body, "http://one.example/a?x=1");
	cr_assert(g_net.last_to_last_hop, "the connect ends at the forwarding proxy");
	cr_assert(sl_reply_forwarded(a.r));
	head = sl_reply_request_head(a.r);
	cr_assert(memmem(head.p, head.n, "GET http://one.example/a?x=1 HTTP/1.1\r\n", 39), "%.*s",
		  (int)head.n, head.p);
	cr_assert(memmem(head.p, head.n, "Host: one.example\r\n", 19));
	cr_assert(memmem(head.p, head.n, "Proxy-Authorization: " GOOD_AUTH "\r\n",
			 strlen("Proxy-Authorization: " GOOD_AUTH "\r\n")));
	cr_assert_eq(e.srv->requests, 2, "one 407, then the answer");

	/* Another target: the same connection, credentials at once. */
	send_via(&e, "http://two.example:8080/b", &route, 1, &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_str_eq(b.body, "http://two.example:8080/b");
	cr_assert_eq(e.srv->requests, 3);
	cr_assert_eq(e.srv->accepted, 1);
	cr_assert_eq(g_net.connects, 1);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

Test(client_routes, https_through_a_forward_hop_tunnels)
{
	env e;
	rec a = {0};
	sl_hop hop;
	sl_route route;

	env_init(&e, h_proxy);
	env_manager(&e);
	hop = fwd_hop(e.srv->port, "u", "pw");
	route = (sl_route){&hop, 1, "fwd"};
	/* The test connector goes straight to the target's port: what counts
	 * is that the connect asked for the whole route, not its last hop. */
	char url[128];
	snprintf(url, sizeof url, "https://127.0.0.1:%u/x", (unsigned)e.srv->port);
	send_via(&e, url, &route, 1, &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_not(g_net.last_to_last_hop);
	cr_assert(g_net.last_tls);
	cr_assert_not(sl_reply_forwarded(a.r));
	sl_reply_unref(a.r);
	rec_free(&a);
	env_fini(&e);
}

static void expect_proxy_error(env *e, const char *user, const char *pw, int code)
{
	rec a = {0};
	sl_hop hop = fwd_hop(e->srv->port, user, pw);
	sl_route route = {&hop, 1, "fwd"};
	sl_reply_error er;

	send_via(e, "http://one.example/", &route, 1, &a);
	cr_assert(run_until(e->loop, pred_done, &a, 5));
	cr_assert_eq(a.err, code, "%s", sl_errname(a.err));
	cr_assert_eq(a.heads, 0, "the 407 never reaches the caller");
	sl_reply_get_error(a.r, &er);
	cr_assert(er.proxy);
	cr_assert_eq(er.hop, 0);
	cr_assert_eq(er.status, 407);
	cr_assert_str_eq(er.status_line, "407 Proxy Authentication Required");
	cr_assert_str_eq(er.scheme, "Basic");
	cr_assert_eq(sl_reply_status(a.r), 0);
	sl_reply_unref(a.r);
	rec_free(&a);
}

Test(client_routes, refused_and_missing_credentials)
{
	env e;
	struct events ev = {0};

	env_init(&e, h_proxy);
	e.o.route_event = on_event;
	e.o.route_event_arg = &ev;
	env_manager(&e);
	expect_proxy_error(&e, "u", "wrong", SL_E_PROXY_AUTH);
	cr_assert_eq(ev.failed, 1);
	cr_assert_eq(ev.last_code, SL_E_PROXY_AUTH);
	cr_assert_eq(ev.last_status, 407);
	cr_assert_str_eq(ev.last_route, "fwd");
	expect_proxy_error(&e, NULL, NULL, SL_E_PROXY_AUTH_REQUIRED);
	env_fini(&e);
}

Test(client_routes, pushed_body_learns_for_the_next_request)
{
	env e;
	rec a = {0}, b = {0};
	sl_hop hop;
	sl_route route;
	sl_request rq;
	sl_reply *r;

	env_init(&e, h_proxy);
	env_manager(&e);
	hop = fwd_hop(e.srv->port, "u", "pw");
	route = (sl_route){&hop, 1, "fwd"};
	sl_request_init(&rq, "POST", "http://one.example/up");
	rq.route = &route;
	sl_request_body_push(&rq, 5);
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &a, &r), 0);
	a.r = r;
	cr_assert_eq(sl_reply_write(r, "hello", 5), 5);
	cr_assert_eq(sl_reply_write_end(r), 0);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, SL_E_PROXY_AUTH_BODY, "%s", sl_errname(a.err));
	/* The challenge is known now: the next request carries the answer. */
	send_via(&e, "http://one.example/next", &route, 1, &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_eq(b.status, 200);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

Test(client_routes, failover_to_the_next_route)
{
	env e;
	rec a = {0};
	struct events ev = {0};
	sl_hop dead, live;
	sl_route routes[2];
	sl_reply_error er;

	env_init(&e, h_proxy);
	e.o.route_event = on_event;
	e.o.route_event_arg = &ev;
	env_manager(&e);
	g_net.fail_port = 9;
	dead = fwd_hop(9, "u", "pw");
	live = fwd_hop(e.srv->port, "u", "pw");
	routes[0] = (sl_route){&dead, 1, "dead"};
	routes[1] = (sl_route){&live, 1, "live"};
	send_via(&e, "http://one.example/f", routes, 2, &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0, "%s", sl_errname(a.err));
	cr_assert_str_eq(a.body, "http://one.example/f");
	cr_assert_eq(sl_reply_route_index(a.r), 1);
	sl_reply_get_error(a.r, &er);
	cr_assert_eq(er.code, 0);
	cr_assert_eq(ev.failed, 1);
	cr_assert_eq(ev.ok, 1);
	cr_assert_str_eq(ev.last_route, "live");
	sl_reply_unref(a.r);
	rec_free(&a);

	/* Every route refused: the last error, at its hop. */
	rec b = {0};
	routes[1] = (sl_route){&dead, 1, "dead-too"};
	send_via(&e, "http://one.example/g", routes, 2, &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, SL_E_PROXY_REFUSED);
	cr_assert_eq(sl_reply_route_index(b.r), 1);
	sl_reply_get_error(b.r, &er);
	cr_assert(er.proxy);
	cr_assert_eq(er.hop, 0);
	cr_assert_eq(er.phase, SL_PHASE_CONNECT);
	sl_reply_unref(b.r);
	rec_free(&b);
	env_fini(&e);
}

Test(client_routes, failover_after_refused_credentials)
{
	env e;
	rec a = {0};
	sl_hop bad, good;
	sl_route routes[2];

	env_init(&e, h_proxy);
	env_manager(&e);
	bad = fwd_hop(e.srv->port, "u", "wrong");
	good = fwd_hop(e.srv->port, "u", "pw");
	routes[0] = (sl_route){&bad, 1, "bad"};
	routes[1] = (sl_route){&good, 1, "good"};
	send_via(&e, "http://one.example/h", routes, 2, &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0, "%s", sl_errname(a.err));
	cr_assert_eq(a.status, 200);
	cr_assert_eq(sl_reply_route_index(a.r), 1);
	sl_reply_unref(a.r);
	rec_free(&a);
	env_fini(&e);
}
