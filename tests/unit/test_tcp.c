/*
 * Unit tests of the TCP connect with Happy Eyeballs, on loopback only:
 * listeners on 127.0.0.1 and ::1 sharing one port, a port that is bound
 * but not listening (refused), and a listener whose accept queue is full
 * so that its SYNs are dropped (an address that never answers). They check
 * outcomes and order, which address won, the error class and side, that
 * done never runs inside sl_tcp_connect, cancellation, and that no socket
 * of a losing attempt is left open. Time is only bounded generously.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/err.h"
#include "engines/stream.h"
#include "engines/tcp.h"
#include "engines/tcp_internal.h"

/* ---- loopback fixtures ---- */

static sl_addr loop4(void)
{
	sl_addr a;
	cr_assert_eq(sl_addr_parse("127.0.0.1", 9, &a), 0);
	return a;
}

static sl_addr loop6(void)
{
	sl_addr a;
	cr_assert_eq(sl_addr_parse("::1", 3, &a), 0);
	return a;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	sl_addr a;
	uint16_t port = 0;

	cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	cr_assert_eq(sl_addr_from_sockaddr((struct sockaddr *)&ss, &a, &port), 0);
	return port;
}

enum kind { REFUSE, LISTEN, HANG };

/* A loopback socket of family at port (0: any) that refuses connections
 * (bound, not listening), accepts them, or drops their SYNs (a backlog of
 * 0 filled by connections nobody accepts). The fill sockets stay open in
 * fill[]. Returns the fd, or -1 when the port is taken. */
struct sock {
	int fd;
	int fill[8];
	int nfill;
};

static bool open_sock(struct sock *k, int family, uint16_t port, enum kind kind)
{
	sl_addr a = family == AF_INET ? loop4() : loop6();
	struct sockaddr_storage ss;
	size_t len = sl_addr_to_sockaddr(&a, port, (struct sockaddr *)&ss);
	int one = 1;

	memset(k, 0, sizeof *k);
	k->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(k->fd, 0);
	setsockopt(k->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(k->fd, (struct sockaddr *)&ss, (socklen_t)len) < 0) {
		cr_assert_eq(errno, EADDRINUSE);
		close(k->fd);
		return false;
	}
	if (kind == REFUSE)
		return true;
	cr_assert_eq(listen(k->fd, kind == HANG ? 0 : 16), 0);
	if (kind == LISTEN)
		return true;
	/* Connect until one connection hangs: the queue is full from then on. */
	port = port_of(k->fd);
	len = sl_addr_to_sockaddr(&a, port, (struct sockaddr *)&ss);
	for (;;) {
		int c = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct pollfd p = {.fd = c, .events = POLLOUT};
		int rc = connect(c, (struct sockaddr *)&ss, (socklen_t)len);

		cr_assert(rc == 0 || errno == EINPROGRESS);
		if (poll(&p, 1, 300) == 0) {
			close(c);
			return true;
		}
		cr_assert_lt(k->nfill, 8, "the accept queue never filled");
		k->fill[k->nfill++] = c;
	}
}

static void close_sock(struct sock *k)
{
	for (int i = 0; i < k->nfill; i++)
		close(k->fill[i]);
	close(k->fd);
}

/* A socket on ::1 and one on 127.0.0.1 with the same port number. */
static uint16_t open_pair(struct sock *k6, enum kind kind6, struct sock *k4, enum kind kind4)
{
	for (int tries = 0; tries < 20; tries++) {
		cr_assert(open_sock(k6, AF_INET6, 0, kind6));
		uint16_t port = port_of(k6->fd);
		if (open_sock(k4, AF_INET, port, kind4))
			return port;
		close_sock(k6);
	}
	cr_assert_fail("no port free on both families");
	return 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the loop ---- */

struct ctx {
	struct ev_loop *loop;
	sl_stream *s;
	sl_tcp_req *req;
	int done_rc;
	int done_calls;
	bool cancel_in_done;
	bool guard_fired;
	double t0, t_done;
	char trace[2048];
};

static void on_done(sl_stream *s, int err, void *arg)
{
	struct ctx *c = arg;

	cr_assert_eq(s, c->s);
	c->done_rc = err;
	c->done_calls++;
	c->t_done = now_s();
	if (c->cancel_in_done)
		sl_tcp_cancel(c->req);
	c->req = NULL;
}

static void on_trace(sl_stream *s, const char *line, void *arg)
{
	struct ctx *c = arg;
	size_t n = strlen(c->trace);
	(void)s;
	snprintf(c->trace + n, sizeof c->trace - n, "%s\n", line);
}

static void setup(struct ctx *c)
{
	memset(c, 0, sizeof *c);
	c->loop = ev_loop_new(EVFLAG_AUTO);
	c->s = sl_stream_new(c->loop);
	cr_assert_not_null(c->s);
	sl_stream_set_trace(c->s, on_trace, c);
	c->done_rc = 1;
}

static void teardown(struct ctx *c)
{
	if (c->s)
		sl_stream_close(c->s);
	ev_loop_destroy(c->loop);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctx *c = w->data;
	(void)loop;
	(void)revents;
	c->guard_fired = true;
}

/* Runs the loop until done is called or `limit` seconds pass. */
static void run_for(struct ctx *c, double limit)
{
	ev_timer guard;

	c->guard_fired = false;
	ev_timer_init(&guard, on_guard, limit, 0.0);
	guard.data = c;
	ev_timer_start(c->loop, &guard);
	while (!c->done_calls && !c->guard_fired)
		ev_run(c->loop, EVRUN_ONCE);
	ev_timer_stop(c->loop, &guard);
}

static void start(struct ctx *c, const sl_addr *addrs, size_t n, uint16_t port,
		  uint64_t timeout_ms, int hop, bool target)
{
	c->t0 = now_s();
	c->req = sl_tcp_connect(c->s, addrs, n, port, timeout_ms, hop, target, on_done, c);
	cr_assert_not_null(c->req);
	cr_assert_eq(c->done_calls, 0, "done ran inside sl_tcp_connect");
}

static void connect_and_wait(struct ctx *c, const sl_addr *addrs, size_t n, uint16_t port,
			     uint64_t timeout_ms, int hop, bool target)
{
	start(c, addrs, n, port, timeout_ms, hop, target);
	run_for(c, 5.0);
	cr_assert_eq(c->done_calls, 1);
}

/* The family of the address the stream's socket is connected to. */
static int peer_family(const struct ctx *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	cr_assert_eq(getpeername(c->s->fd, (struct sockaddr *)&ss, &len), 0);
	return ss.ss_family;
}

static void accept_one(int lfd)
{
	int fd = accept(lfd, NULL, NULL);
	cr_assert_geq(fd, 0, "the listener has the connection");
	close(fd);
}

/* ---- tests ---- */

Test(tcp, connects_to_a_listener)
{
	struct ctx c;
	struct sock l;
	sl_addr a = loop4();

	cr_assert(open_sock(&l, AF_INET, 0, LISTEN));
	setup(&c);
	connect_and_wait(&c, &a, 1, port_of(l.fd), 0, 0, true);
	cr_assert_eq(c.done_rc, 0);
	cr_assert_geq(c.s->fd, 0);
	cr_assert(sl_stream_usable(c.s));
	cr_assert_eq(c.s->err, 0);
	accept_one(l.fd);
	teardown(&c);
	close_sock(&l);
}

Test(tcp, socket_options)
{
	struct ctx c;
	struct sock l;
	sl_addr a = loop4();
	int v = 0;
	socklen_t len = sizeof v;

	cr_assert(open_sock(&l, AF_INET, 0, LISTEN));
	setup(&c);
	connect_and_wait(&c, &a, 1, port_of(l.fd), 0, 0, true);
	cr_assert_eq(c.done_rc, 0);
	cr_assert(fcntl(c.s->fd, F_GETFL) & O_NONBLOCK);
	cr_assert(fcntl(c.s->fd, F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(getsockopt(c.s->fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	cr_assert_neq(v, 0, "TCP_NODELAY");
	cr_assert_eq(getsockopt(c.s->fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
	cr_assert_neq(v, 0, "SO_KEEPALIVE");
	teardown(&c);
	close_sock(&l);
}

Test(tcp, done_is_never_synchronous)
{
	struct ctx c;
	sl_addr bogus = {.family = 0};

	setup(&c);
	start(&c, &bogus, 1, 80, 0, 0, true); /* fails inside, reported later */
	ev_run(c.loop, EVRUN_NOWAIT);
	if (!c.done_calls)
		run_for(&c, 5.0);
	cr_assert_eq(c.done_calls, 1);
	cr_assert_eq(c.done_rc, -EAFNOSUPPORT);
	cr_assert_eq(c.s->err, -EAFNOSUPPORT);
	cr_assert_lt(c.s->fd, 0);
	teardown(&c);
}

Test(tcp, refused_target)
{
	struct ctx c;
	struct sock k;
	sl_addr a = loop4();

	cr_assert(open_sock(&k, AF_INET, 0, REFUSE));
	setup(&c);
	connect_and_wait(&c, &a, 1, port_of(k.fd), 0, 3, true);
	cr_assert_eq(c.done_rc, SL_E_TARGET_REFUSED, "%s", sl_errname(c.done_rc));
	cr_assert_eq(c.s->err, SL_E_TARGET_REFUSED);
	cr_assert_eq(c.s->err_hop, 3);
	cr_assert_not(c.s->err_proxy);
	cr_assert_lt(c.s->fd, 0);
	teardown(&c);
	close_sock(&k);
}

Test(tcp, refused_proxy)
{
	struct ctx c;
	struct sock k;
	sl_addr a = loop4();

	cr_assert(open_sock(&k, AF_INET, 0, REFUSE));
	setup(&c);
	connect_and_wait(&c, &a, 1, port_of(k.fd), 0, 0, false);
	cr_assert_eq(c.done_rc, SL_E_PROXY_REFUSED);
	cr_assert_eq(c.s->err_hop, 0);
	cr_assert(c.s->err_proxy);
	teardown(&c);
	close_sock(&k);
}

Test(tcp, every_address_refused)
{
	struct ctx c;
	struct sock k6, k4;
	uint16_t port = open_pair(&k6, REFUSE, &k4, REFUSE);
	sl_addr a[3] = {loop6(), loop4(), loop6()};

	setup(&c);
	connect_and_wait(&c, a, 3, port, 0, 0, true);
	cr_assert_eq(c.done_rc, SL_E_TARGET_REFUSED);
	run_for(&c, 0.05); /* nothing more comes */
	cr_assert_eq(c.done_calls, 1);
	cr_assert(strstr(c.trace, "[::1]"));
	cr_assert(strstr(c.trace, "127.0.0.1"));
	teardown(&c);
	close_sock(&k6);
	close_sock(&k4);
}

Test(tcp, first_refused_second_accepts)
{
	struct ctx c;
	struct sock k6, k4;
	uint16_t port = open_pair(&k6, REFUSE, &k4, LISTEN);
	sl_addr a[2] = {loop6(), loop4()};

	setup(&c);
	connect_and_wait(&c, a, 2, port, 0, 0, true);
	cr_assert_eq(c.done_rc, 0);
	cr_assert_eq(peer_family(&c), AF_INET);
	cr_assert_eq(c.s->err, 0, "a refused attempt that was followed by success is no error");
	accept_one(k4.fd);
	teardown(&c);
	close_sock(&k6);
	close_sock(&k4);
}

Test(tcp, a_failure_starts_the_next_attempt_at_once)
{
	struct ctx c;
	struct sock k6, k4;
	uint16_t port = open_pair(&k6, REFUSE, &k4, LISTEN);
	sl_addr a[2] = {loop6(), loop4()};

	/* The whole connect may take 200 ms, less than the 250 ms attempt
	 * delay: only starting the second attempt on the failure can win. */
	setup(&c);
	connect_and_wait(&c, a, 2, port, 200, 0, true);
	cr_assert_eq(c.done_rc, 0, "%s", sl_errname(c.done_rc));
	teardown(&c);
	close_sock(&k6);
	close_sock(&k4);
}

Test(tcp, both_families_listening)
{
	struct ctx c;
	struct sock k6, k4;
	uint16_t port = open_pair(&k6, LISTEN, &k4, LISTEN);
	sl_addr a[2] = {loop6(), loop4()};

	setup(&c);
	connect_and_wait(&c, a, 2, port, 0, 0, true);
	cr_assert_eq(c.done_rc, 0);
	int fam = peer_family(&c);
	cr_assert(fam == AF_INET6 || fam == AF_INET);
	accept_one(fam == AF_INET6 ? k6.fd : k4.fd);
	teardown(&c);
	close_sock(&k6);
	close_sock(&k4);
}

Test(tcp, silent_first_address_loses_to_the_second_after_the_delay)
{
	struct ctx c;
	struct sock k6, k4;
	uint16_t port = open_pair(&k6, HANG, &k4, LISTEN);
	sl_addr a[2] = {loop6(), loop4()};

	setup(&c);
	connect_and_wait(&c, a, 2, port, 0, 0, true);
	cr_assert_eq(c.done_rc, 0, "%s", sl_errname(c.done_rc));
	cr_assert_eq(peer_family(&c), AF_INET, "the second address won");
	cr_assert_geq(c.t_done - c.t0, 0.2, "the second attempt waited for the delay");
	cr_assert_lt(c.t_done - c.t0, 4.0);
	const char *first = strstr(c.trace, "connecting to [::1]");
	const char *second = strstr(c.trace, "connecting to 127.0.0.1");
	cr_assert(first && second && first < second, "%s", c.trace);
	accept_one(k4.fd);
	teardown(&c);
	close_sock(&k6);
	close_sock(&k4);
}

Test(tcp, losing_attempts_are_closed)
{
	struct ctx c;
	struct sock k6, k4;
	uint16_t port = open_pair(&k6, HANG, &k4, LISTEN);
	sl_addr a[2] = {loop6(), loop4()};

	setup(&c);
	int before = count_fds();
	connect_and_wait(&c, a, 2, port, 0, 0, true);
	cr_assert_eq(c.done_rc, 0);
	cr_assert_eq(count_fds(), before + 1, "only the winner's socket is open");
	sl_stream_close(c.s);
	c.s = NULL;
	cr_assert_eq(count_fds(), before, "and it closes with the stream");
	teardown(&c);
	close_sock(&k6);
	close_sock(&k4);
}

Test(tcp, silent_target_times_out)
{
	struct ctx c;
	struct sock k;
	sl_addr a = loop4();

	cr_assert(open_sock(&k, AF_INET, 0, HANG));
	setup(&c);
	connect_and_wait(&c, &a, 1, port_of(k.fd), 150, 1, true);
	cr_assert_eq(c.done_rc, SL_E_TARGET_TIMEOUT, "%s", sl_errname(c.done_rc));
	cr_assert_eq(c.s->err_hop, 1);
	cr_assert_not(c.s->err_proxy);
	cr_assert_geq(c.t_done - c.t0, 0.1);
	teardown(&c);
	close_sock(&k);
}

Test(tcp, silent_proxy_times_out)
{
	struct ctx c;
	struct sock k6, k4;
	uint16_t port = open_pair(&k6, HANG, &k4, HANG);
	sl_addr a[2] = {loop6(), loop4()};

	setup(&c);
	int before = count_fds();
	connect_and_wait(&c, a, 2, port, 400, 0, false);
	cr_assert_eq(c.done_rc, SL_E_PROXY_TIMEOUT, "%s", sl_errname(c.done_rc));
	cr_assert(c.s->err_proxy);
	cr_assert(strstr(c.trace, "connecting to 127.0.0.1"), "both were tried: %s", c.trace);
	cr_assert_eq(count_fds(), before, "no attempt is left open");
	teardown(&c);
	close_sock(&k6);
	close_sock(&k4);
}

Test(tcp, refused_tells_more_than_a_timeout)
{
	struct ctx c;
	struct sock k6, k4;
	uint16_t port = open_pair(&k6, REFUSE, &k4, HANG);
	sl_addr a[2] = {loop6(), loop4()};

	setup(&c);
	connect_and_wait(&c, a, 2, port, 300, 0, true);
	cr_assert_eq(c.done_rc, SL_E_TARGET_REFUSED, "%s", sl_errname(c.done_rc));
	teardown(&c);
	close_sock(&k6);
	close_sock(&k4);
}

Test(tcp, cancel_a_pending_connect)
{
	struct ctx c;
	struct sock k;
	sl_addr a[2] = {loop4(), loop4()};

	cr_assert(open_sock(&k, AF_INET, 0, HANG));
	setup(&c);
	int before = count_fds();
	start(&c, a, 2, port_of(k.fd), 300, 0, true);
	ev_run(c.loop, EVRUN_NOWAIT);
	sl_tcp_cancel(c.req);
	c.req = NULL;
	cr_assert_eq(count_fds(), before, "every attempt is closed");
	run_for(&c, 0.5); /* past the delay and the deadline */
	cr_assert_eq(c.done_calls, 0);
	cr_assert_lt(c.s->fd, 0);
	cr_assert_eq(c.s->err, 0);
	teardown(&c);
	close_sock(&k);
}

Test(tcp, cancel_before_an_immediate_failure_is_reported)
{
	struct ctx c;
	sl_addr bogus = {.family = 0};

	setup(&c);
	start(&c, &bogus, 1, 80, 0, 0, true);
	sl_tcp_cancel(c.req);
	run_for(&c, 0.05);
	cr_assert_eq(c.done_calls, 0);
	cr_assert_eq(c.s->err, 0);
	teardown(&c);
}

Test(tcp, cancel_inside_done_is_harmless)
{
	struct ctx c;
	struct sock k;
	sl_addr a = loop4();

	cr_assert(open_sock(&k, AF_INET, 0, REFUSE));
	setup(&c);
	c.cancel_in_done = true;
	connect_and_wait(&c, &a, 1, port_of(k.fd), 0, 0, true);
	cr_assert_eq(c.done_rc, SL_E_TARGET_REFUSED);
	teardown(&c);
	close_sock(&k);
}

Test(tcp, closing_the_stream_abandons_the_connect)
{
	struct ctx c;
	struct sock k;
	sl_addr a = loop4();

	cr_assert(open_sock(&k, AF_INET, 0, HANG));
	setup(&c);
	start(&c, &a, 1, port_of(k.fd), 100, 0, true);
	sl_stream_close(c.s);
	c.s = NULL;
	run_for(&c, 0.4); /* the deadline finds the stream closed */
	cr_assert_eq(c.done_calls, 0);
	teardown(&c);
	close_sock(&k);
}

Test(tcp, unusable_arguments)
{
	struct ctx c;
	struct sock l;
	sl_addr a = loop4();

	setup(&c);
	cr_assert_null(sl_tcp_connect(c.s, &a, 0, 80, 0, 0, true, on_done, &c));
	cr_assert_null(sl_tcp_connect(c.s, NULL, 1, 80, 0, 0, true, on_done, &c));
	cr_assert(open_sock(&l, AF_INET, 0, LISTEN));
	connect_and_wait(&c, &a, 1, port_of(l.fd), 0, 0, true);
	cr_assert_null(sl_tcp_connect(c.s, &a, 1, 80, 0, 0, true, on_done, &c),
		       "the stream has a socket already");
	cr_assert_eq(c.done_calls, 1);
	sl_tcp_cancel(NULL);
	teardown(&c);
	close_sock(&l);
}

Test(tcp, error_classes)
{
	cr_assert_eq(sl_tcp_error(-ECONNREFUSED, true), SL_E_TARGET_REFUSED);
	cr_assert_eq(sl_tcp_error(-ECONNREFUSED, false), SL_E_PROXY_REFUSED);
	cr_assert_eq(sl_tcp_error(-ENETUNREACH, true), SL_E_TARGET_UNREACHABLE);
	cr_assert_eq(sl_tcp_error(-EHOSTUNREACH, false), SL_E_PROXY_UNREACHABLE);
	cr_assert_eq(sl_tcp_error(-ETIMEDOUT, true), SL_E_TARGET_TIMEOUT);
	cr_assert_eq(sl_tcp_error(SL_E_TIMEOUT, false), SL_E_PROXY_TIMEOUT);
	cr_assert_eq(sl_tcp_error(-EACCES, true), -EACCES);
	cr_assert_eq(sl_tcp_error(-EAFNOSUPPORT, false), -EAFNOSUPPORT);
}

Test(tcp, most_telling_error)
{
	cr_assert_eq(sl__tcp_pick(0, -EACCES), -EACCES);
	cr_assert_eq(sl__tcp_pick(-EACCES, SL_E_TARGET_UNREACHABLE), SL_E_TARGET_UNREACHABLE);
	cr_assert_eq(sl__tcp_pick(SL_E_TARGET_UNREACHABLE, -EACCES), SL_E_TARGET_UNREACHABLE);
	cr_assert_eq(sl__tcp_pick(SL_E_TARGET_UNREACHABLE, SL_E_TARGET_TIMEOUT),
		     SL_E_TARGET_TIMEOUT);
	cr_assert_eq(sl__tcp_pick(SL_E_PROXY_TIMEOUT, SL_E_PROXY_REFUSED), SL_E_PROXY_REFUSED);
	cr_assert_eq(sl__tcp_pick(SL_E_PROXY_REFUSED, SL_E_PROXY_UNREACHABLE), SL_E_PROXY_REFUSED);
	cr_assert_eq(sl__tcp_pick(-EACCES, -EPERM), -EACCES, "a tie keeps the first");
	cr_assert_eq(sl__tcp_pick(-EACCES, 0), -EACCES);
}
