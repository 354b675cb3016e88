/*
 * Unit tests of a manager retuned while it runs (what a configuration
 * reload does to a worker's client stack): sl_manager_expire_connections()
 * closes idle streams at once, lets a stream in use finish its exchange and
 * then closes it instead of reusing it, and throws away a connect that
 * completes after it; sl_manager_reconfigure() applies new limits and
 * timeouts to what comes next.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "client/manager.h"
#include "client_util.h"

/* "/later" is answered only when the test says so (tsrv user holds the
 * connection); anything else at once. */
static void h_maybe_later(tsrv *s, tconn *c, treq *q)
{
	if (strcmp(q->target, "/later") == 0) {
		s->user = c;
		return;
	}
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Conn: %d\r\n\r\n%s",
		    strlen(q->target), c->id, q->target);
}

static void answer_later(tsrv *s)
{
	tconn *c = s->user;

	cr_assert(c, "no request waits");
	s->user = NULL;
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nlater");
}

static bool pred_waiting(void *arg)
{
	return ((tsrv *)arg)->user != NULL;
}

static bool pred_eof(void *arg)
{
	return ((tsrv *)arg)->eofs > 0;
}

static bool pred_held(void *arg)
{
	(void)arg;
	return g_net.nheld > 0;
}

static unsigned idle_of(env *e)
{
	sl_manager_stats ms;

	sl_manager_get_stats(e->m, &ms);
	return ms.idle;
}

static bool pred_one_idle(void *arg)
{
	return idle_of(arg) == 1;
}

static void get_ok(env *e, const char *path, rec *rc)
{
	env_get(e, "GET", path, rc);
	cr_assert(run_until(e->loop, pred_done, rc, 5), "%s never ended", path);
	cr_assert_eq(rc->err, 0, "%s: %d", path, rc->err);
	cr_assert_eq(rc->status, 200);
}

static void done_with(rec *rc)
{
	sl_reply_unref(rc->r);
	rec_free(rc);
}

Test(client_expire, idle_streams_close_at_once)
{
	env e;
	rec a = {0}, b = {0};

	env_init(&e, h_maybe_later);
	env_manager(&e);
	get_ok(&e, "/a", &a);
	cr_assert(run_until(e.loop, pred_one_idle, &e, 5));
	sl_manager_expire_connections(e.m);
	cr_assert_eq(idle_of(&e), 0);
	cr_assert(run_until(e.loop, pred_eof, e.srv, 5), "the idle stream was not closed");
	get_ok(&e, "/b", &b);
	cr_assert_eq(e.srv->accepted, 2);
	/* The new stream belongs to the new epoch: it is kept and reused. */
	cr_assert(run_until(e.loop, pred_one_idle, &e, 5));
	done_with(&a);
	done_with(&b);
	env_fini(&e);
}

Test(client_expire, a_busy_stream_finishes_then_closes)
{
	env e;
	rec a = {0}, b = {0}, c = {0};

	env_init(&e, h_maybe_later);
	env_manager(&e);
	env_get(&e, "GET", "/later", &a);
	cr_assert(run_until(e.loop, pred_waiting, e.srv, 5));
	sl_manager_expire_connections(e.m);
	/* A request queued behind the busy one must not get its stream. */
	env_get(&e, "GET", "/queued", &b);
	answer_later(e.srv);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_str_eq(a.body, "later", "the exchange in flight finished whole");
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_eq(e.srv->accepted, 2, "the queued request got a new connection");
	cr_assert(run_until(e.loop, pred_eof, e.srv, 5), "the old stream was not closed");
	get_ok(&e, "/after", &c);
	cr_assert_eq(e.srv->accepted, 2, "the new connection is reused");
	done_with(&a);
	done_with(&b);
	done_with(&c);
	env_fini(&e);
}

Test(client_expire, a_connect_completing_after_is_not_used)
{
	env e;
	rec a = {0};

	env_init(&e, h_maybe_later);
	env_manager(&e);
	g_net.hold = true;
	env_get(&e, "GET", "/a", &a);
	cr_assert(run_until(e.loop, pred_held, NULL, 5));
	sl_manager_expire_connections(e.m);
	g_net.hold = false;
	cr_assert(tnet_release());
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_eq(g_net.connects, 2, "a connect of the new epoch carried the request");
	done_with(&a);
	env_fini(&e);
}

Test(client_expire, reconfigure_applies_new_limits)
{
	env e;
	rec a = {0}, b = {0};
	sl_manager_opts o;

	env_init(&e, h_maybe_later);
	e.o.max_channels = 1;
	env_manager(&e);
	env_get(&e, "GET", "/later", &a);
	cr_assert(run_until(e.loop, pred_waiting, e.srv, 5));
	/* Two channels from now: the second request does not wait. */
	o = e.o;
	o.max_channels = 2;
	o.idle_timeout_ms = 100;
	sl_manager_reconfigure(e.m, &o);
	env_get(&e, "GET", "/b", &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.err, 0);
	cr_assert_eq(e.srv->accepted, 2);
	answer_later(e.srv);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	/* The shorter idle timeout closes the parked streams. */
	cr_assert(run_until(e.loop, pred_eof, e.srv, 5));
	done_with(&a);
	done_with(&b);
	env_fini(&e);
}
