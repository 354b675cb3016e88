/*
 * Unit tests of client sessions over a socketpair, on a loop of their own:
 * a worker's environment (manager, resolver, session state) without
 * threads or listeners. They drive the state machine from the client side:
 * keep-alive, pipelined answers in order, malformed heads, the header and
 * idle timeouts, refusals that need no upstream (CONNECT port, loops,
 * Max-Forwards), a refused upstream, draining, and the access log entries
 * each request leaves.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/manager.h"
#include "core/err.h"
#include "engines/dns.h"
#include "server/session.h"

#define MAX_LOG 16

struct fx {
	struct ev_loop *loop;
	sl_config *cfg;
	sl_dns *dns;
	sl_manager *m;
	sl_session_env env;
	sl_worker_stats st;
	int peer;                 /* the client's end */
	char in[65536];
	size_t nin;
	bool eof;
	int nlog;
	int status[MAX_LOG];
	char result[MAX_LOG][32];
	char url[MAX_LOG][128];
};

static struct fx F;

static void on_log(void *arg, const sl_access_entry *e)
{
	struct fx *f = arg;

	if (f->nlog >= MAX_LOG)
		return;
	f->status[f->nlog] = e->status;
	snprintf(f->result[f->nlog], sizeof f->result[0], "%s", e->result);
	snprintf(f->url[f->nlog], sizeof f->url[0], "%s", e->url);
	f->nlog++;
}

static void start(const char *conf)
{
	char err[512];
	sl_manager_opts mo;
	int sv[2];
	struct sockaddr_un un = {.sun_family = AF_UNIX};

	memset(&F, 0, sizeof F);
	cr_assert_eq(sl_config_load_string(conf, "t", &F.cfg, err, sizeof err), 0, "%s", err);
	F.loop = ev_loop_new(EVFLAG_AUTO);
	F.dns = sl_dns_new(F.loop, NULL, NULL);
	cr_assert(F.dns);
	F.env.loop = F.loop;
	F.env.cfg = F.cfg;
	F.env.dns = F.dns;
	F.env.via_name = "unit:3128";
	F.env.max_sessions = 4;
	F.env.access_log = on_log;
	F.env.access_arg = &F;
	F.env.stats = &F.st;
	sl_manager_opts_init(&mo);
	mo.connect = sl_forward_connect;
	mo.cancel = sl_forward_connect_cancel;
	mo.connect_opts.dns = F.dns;
	mo.connect_opts.check_arg = &F.env;
	mo.user_agent = "";
	F.m = sl_manager_new(F.loop, &mo);
	cr_assert(F.m);
	F.env.manager = F.m;
	cr_assert_eq(sl_session_env_init(&F.env), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	F.peer = sv[1];
	cr_assert_eq(sl_session_start(&F.env, sv[0], (struct sockaddr *)&un, sizeof un), 0);
}

static void stop(void)
{
	if (!F.loop)
		return;
	sl_session_close_all(&F.env);
	/* Pending connects pin the environment's snapshot hold: manager first. */
	sl_manager_free(F.m);
	sl_session_env_free(&F.env);
	sl_dns_free(F.dns);
	ev_loop_destroy(F.loop);
	sl_config_unref(F.cfg);
	if (F.peer >= 0)
		close(F.peer);
	F.loop = NULL;
}

TestSuite(server_session, .fini = stop);

static void send_str(const char *s)
{
	size_t n = strlen(s);
	cr_assert_eq(write(F.peer, s, n), (ssize_t)n);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ONE);
}

static void drain_peer(void)
{
	for (;;) {
		ssize_t r = read(F.peer, F.in + F.nin, sizeof F.in - 1 - F.nin);
		if (r > 0) {
			F.nin += (size_t)r;
			F.in[F.nin] = '\0';
			continue;
		}
		if (r == 0)
			F.eof = true;
		return;
	}
}

/* Runs the loop until the client side holds `count` copies of needle (or
 * EOF when needle is NULL), at most `secs` seconds. */
static void wait_for(const char *needle, int count, double secs)
{
	ev_tstamp end = ev_time() + secs;

	while (ev_time() < end) {
		ev_timer guard;
		int seen = 0;

		drain_peer();
		if (needle) {
			for (const char *p = F.in; (p = strstr(p, needle)); p++)
				seen++;
			if (seen >= count)
				return;
		} else if (F.eof) {
			return;
		}
		ev_timer_init(&guard, on_guard, 0.01, 0.);
		ev_timer_start(F.loop, &guard);
		ev_run(F.loop, EVRUN_ONCE);
		ev_timer_stop(F.loop, &guard);
	}
}

static void run_for(double secs)
{
	ev_timer guard;

	ev_timer_init(&guard, on_guard, secs, 0.);
	ev_timer_start(F.loop, &guard);
	ev_run(F.loop, 0);
	ev_timer_stop(F.loop, &guard);
	drain_peer();
}

Test(server_session, admin_health_keeps_the_connection)
{
	start("{}");
	send_str("GET /__sluice/health HTTP/1.1\r\nHost: p\r\n\r\n");
	wait_for("ok\n", 1, 2);
	cr_assert(strncmp(F.in, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", F.in);
	cr_assert(strstr(F.in, "Content-Length: 3\r\n"));
	cr_assert_null(strstr(F.in, "Connection: close"));
	cr_assert_eq(sl_session_count(&F.env), 1);
	cr_assert_eq(F.nlog, 1);
	cr_assert_eq(F.status[0], 200);
	cr_assert_str_eq(F.url[0], "/__sluice/health");
}

Test(server_session, pipelined_requests_answered_in_order)
{
	start("{}");
	send_str("GET /__sluice/health HTTP/1.1\r\nHost: p\r\n\r\n"
		 "GET /nope HTTP/1.1\r\nHost: p\r\n\r\n"
		 "GET /__sluice/stats HTTP/1.1\r\nHost: p\r\n\r\n");
	wait_for("HTTP/1.1 ", 3, 2);
	char *a = strstr(F.in, "HTTP/1.1 200"), *b = strstr(F.in, "HTTP/1.1 400"),
	     *c = strstr(a + 1, "HTTP/1.1 200");
	cr_assert(a && b && c, "%s", F.in);
	cr_assert(a < b && b < c, "answers in request order");
	cr_assert_eq(F.nlog, 3);
	cr_assert_str_eq(F.url[1], "/nope");
}

Test(server_session, malformed_head_is_400_and_close)
{
	start("{}");
	send_str("GET http://x/ HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
	wait_for(NULL, 0, 2);
	cr_assert(F.eof, "the connection is closed");
	cr_assert(strncmp(F.in, "HTTP/1.1 400 ", 13) == 0, "%s", F.in);
	cr_assert(strstr(F.in, "Connection: close\r\n"));
	cr_assert(strstr(F.in, "malformed request: "));
	cr_assert_eq(F.nlog, 1);
	cr_assert_str_eq(F.result[0], "NONE");
}

Test(server_session, long_request_line_is_414)
{
	char req[10000];

	start("{}");
	memset(req, 'a', sizeof req);
	memcpy(req, "GET http://x/", 13);
	req[sizeof req - 1] = '\0';
	send_str(req);
	wait_for(NULL, 0, 2);
	cr_assert(strncmp(F.in, "HTTP/1.1 414 ", 13) == 0, "%s", F.in);
}

Test(server_session, partial_head_times_out_with_408)
{
	start("{\"timeouts\": {\"client_header\": \"50ms\"}}");
	send_str("GET http://x/ HTTP/1.1\r\nHo");
	wait_for(NULL, 0, 2);
	cr_assert(strncmp(F.in, "HTTP/1.1 408 ", 13) == 0, "%s", F.in);
	cr_assert(F.eof);
}

Test(server_session, idle_connection_closes_silently)
{
	start("{\"timeouts\": {\"client_header\": \"30ms\", \"client_idle\": \"30ms\"}}");
	wait_for(NULL, 0, 2);
	cr_assert(F.eof);
	cr_assert_eq(F.nin, 0, "nothing is sent to a silent client");
	cr_assert_eq(F.nlog, 0);
	cr_assert_eq(sl_session_count(&F.env), 0);
}

Test(server_session, connect_port_not_allowed)
{
	start("{}");
	send_str("CONNECT example.com:25 HTTP/1.1\r\nHost: example.com:25\r\n\r\n");
	wait_for(NULL, 0, 2);
	cr_assert(strncmp(F.in, "HTTP/1.1 403 ", 13) == 0, "%s", F.in);
	cr_assert(strstr(F.in, "acl.connect_ports"));
	cr_assert_str_eq(F.result[0], "TCP_DENIED");
	cr_assert_str_eq(F.url[0], "example.com:25");
}

Test(server_session, own_via_is_a_loop)
{
	start("{}");
	send_str("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n"
		 "Via: 1.1 unit:3128 (sluice)\r\n\r\n");
	wait_for("forwarding loop", 1, 2);
	cr_assert(strncmp(F.in, "HTTP/1.1 508 ", 13) == 0, "%s", F.in);
}

Test(server_session, max_forwards_zero_is_answered_here)
{
	start("{}");
	send_str("OPTIONS http://example.com/ HTTP/1.1\r\nHost: example.com\r\n"
		 "Max-Forwards: 0\r\n\r\n"
		 "TRACE http://example.com/ HTTP/1.1\r\nHost: example.com\r\n"
		 "Max-Forwards: 0\r\nX-Test: t\r\n\r\n");
	wait_for("X-Test: t", 1, 2);
	cr_assert(strstr(F.in, "Allow: GET"), "%s", F.in);
	cr_assert(strstr(F.in, "Content-Type: message/http"));
	cr_assert(strstr(F.in, "\r\n\r\nTRACE http://example.com/ HTTP/1.1\r\n"));
}

Test(server_session, other_schemes_are_not_forwarded)
{
	start("{}");
	send_str("GET ftp://example.com/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
	wait_for("HTTP/1.1 400", 1, 2);
	cr_assert(strstr(F.in, "only http:// and https://"), "%s", F.in);
	send_str("GET file://localhost/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
	wait_for("HTTP/1.1 400", 2, 2);
	cr_assert_null(strstr(F.in, "root:"));
}

Test(server_session, refused_upstream_is_502)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof sin;
	char req[256];
	int s = socket(AF_INET, SOCK_STREAM, 0);

	/* A port nothing listens on: bound, then closed. */
	sin.sin_addr.s_addr = htonl(0x7f000001);
	cr_assert_eq(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	start("{\"acl\": {\"allow_loopback_destinations\": true}}");
	snprintf(req, sizeof req, "GET http://127.0.0.1:%u/x HTTP/1.1\r\nHost: h\r\n\r\n",
		 ntohs(sin.sin_port));
	send_str(req);
	wait_for("connection refused", 1, 3);
	cr_assert(strncmp(F.in, "HTTP/1.1 502 ", 13) == 0, "%s", F.in);
	cr_assert_null(strstr(F.in, "Connection: close"), "a complete request keeps the connection");
	cr_assert_eq(F.nlog, 1);
	cr_assert_str_eq(F.result[0], "TCP_MISS");
}

Test(server_session, loopback_destination_refused_by_default)
{
	start("{}");
	send_str("GET http://127.0.0.1:9/x HTTP/1.1\r\nHost: h\r\n\r\n");
	wait_for("HTTP/1.1 403", 1, 3);
	cr_assert(strstr(F.in, "loopback"), "%s", F.in);
	cr_assert_str_eq(F.result[0], "TCP_DENIED");
}

Test(server_session, drain_closes_idle_sessions)
{
	start("{}");
	send_str("GET /__sluice/health HTTP/1.1\r\nHost: p\r\n\r\n");
	wait_for("ok\n", 1, 2);
	F.env.draining = true;
	sl_session_drain(&F.env);
	run_for(0.05);
	cr_assert(F.eof);
	cr_assert_eq(sl_session_count(&F.env), 0);
}

Test(server_session, draining_answers_close)
{
	start("{}");
	F.env.draining = true;
	sl_session_drain(&F.env);   /* nothing read yet: this one is idle and goes */
	cr_assert_eq(sl_session_count(&F.env), 0);
}

Test(server_session, client_limit_refuses_with_503)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	int sv[2];
	char buf[256] = "";

	start("{}");
	F.env.max_sessions = 1;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(sl_session_start(&F.env, sv[0], (struct sockaddr *)&un, sizeof un),
		     SL_E_LIMIT);
	cr_assert_gt(read(sv[1], buf, sizeof buf - 1), 0);
	cr_assert(strncmp(buf, "HTTP/1.1 503 ", 13) == 0, "%s", buf);
	close(sv[1]);
}

Test(server_session, client_outside_allow_list_gets_403_and_close)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int sv[2];

	start("{\"acl\": {\"allow_clients\": [\"192.0.2.0/24\"]}}");
	/* A second session that looks like it comes from 198.51.100.7. */
	sin.sin_addr.s_addr = htonl(0xc6336407);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	cr_assert_eq(sl_session_start(&F.env, sv[0], (struct sockaddr *)&sin, sizeof sin), 0);
	close(F.peer);
	F.peer = sv[1];
	send_str("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
	wait_for(NULL, 0, 2);
	cr_assert(strncmp(F.in, "HTTP/1.1 403 ", 13) == 0, "%s", F.in);
	cr_assert(strstr(F.in, "acl.allow_clients"));
	cr_assert(F.eof, "closed after the refusal");
	cr_assert_str_eq(F.result[0], "TCP_DENIED");
}
