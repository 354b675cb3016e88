/*
 * The TCP connect of a stream with Happy Eyeballs (RFC 8305 section 5).
 * A request holds one slot per address, in the order given; `next` is the
 * first slot not yet tried, `running` the number of sockets connecting.
 *
 *   start ──> launch ──(socket connecting)──> wait ─┬─ writable, SO_ERROR 0 ──> won
 *               ^  └─(fails at once: next slot)     ├─ writable, error ──> launch (or lost)
 *               └────────── 250 ms delay ───────────┘
 *   deadline, or every slot failed ──> lost         cancel / stream closed ──> dropped
 *
 * Invariants: `delay` is armed only while a slot is left and a socket is
 * connecting, or when the result is already known and waits for the next
 * loop iteration (`deciding`); every slot with fd >= 0 has its ev_io
 * started; done runs once, from a watcher, never from sl_tcp_connect();
 * the request keeps a reference on the stream and frees itself right after
 * done returns.
 */
#include "engines/tcp.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "engines/tcp_internal.h"

#define TCP_REQ_MAGIC 0x54435052u /* "TCPR" */
#define DEFAULT_TIMEOUT_MS 10000
#define MAX_ADDRS 256

struct slot {
	sl_tcp_req *r;
	ev_io io;
	int fd; /* -1 unless connecting */
	sl_addr addr;
};

struct sl_tcp_req {
	uint32_t magic;
	struct ev_loop *loop;
	sl_stream *s;
	sl_stream_done_cb done;
	void *arg;
	ev_timer delay;    /* Connection Attempt Delay, or the deferred result */
	ev_timer deadline; /* the whole connect */
	uint16_t port;
	int hop;
	bool target;
	bool deciding; /* the result is known and waits for `delay` */
	bool in_done;
	int err;       /* the most telling failure so far, classified */
	size_t n, next, running;
	struct slot slot[];
};

static void check(const sl_tcp_req *r)
{
	assert(r && r->magic == TCP_REQ_MAGIC);
	(void)r;
}

/* "192.0.2.1:80" or "[2001:db8::1]:80", for traces. */
static void format_dest(const sl_addr *a, uint16_t port, char *out, size_t cap)
{
	char ip[SL_ADDR_STRLEN];

	if (sl_addr_format(a, ip, sizeof ip) < 0)
		snprintf(ip, sizeof ip, "?");
	if (a->family == AF_INET6)
		snprintf(out, cap, "[%s]:%u", ip, (unsigned)port);
	else
		snprintf(out, cap, "%s:%u", ip, (unsigned)port);
}

static void trace_slot(sl_tcp_req *r, const struct slot *sl, const char *what, int err)
{
	char dest[SL_HOSTPORT_STRLEN];

	if (!r->s->trace)
		return;
	format_dest(&sl->addr, r->port, dest, sizeof dest);
	if (err)
		sl_stream_tracef(r->s, "tcp hop %d: %s %s: %s", r->hop, what, dest, sl_strerror(err));
	else
		sl_stream_tracef(r->s, "tcp hop %d: %s %s", r->hop, what, dest);
}

static void stop_slot(sl_tcp_req *r, struct slot *sl)
{
	if (sl->fd < 0)
		return;
	ev_io_stop(r->loop, &sl->io);
	close(sl->fd);
	sl->fd = -1;
	r->running--;
}

/* Stops every watcher and closes every socket still connecting. */
static void stop_all(sl_tcp_req *r)
{
	ev_timer_stop(r->loop, &r->delay);
	ev_timer_stop(r->loop, &r->deadline);
	for (size_t i = 0; i < r->n; i++)
		stop_slot(r, &r->slot[i]);
}

static void release(sl_tcp_req *r)
{
	sl_stream *s = r->s;

	r->magic = 0;
	free(r);
	sl_stream_unref(s);
}

/* The one exit with a result: records a failure, calls done, frees. */
static void finish(sl_tcp_req *r, int err)
{
	sl_stream *s = r->s;

	stop_all(r);
	if (err < 0)
		sl_stream_fail(s, r->hop, !r->target, err);
	r->in_done = true;
	if (r->done)
		r->done(s, err, r->arg);
	release(r);
}

/* The exit without a result: cancelled, or the stream was closed. */
static void drop(sl_tcp_req *r)
{
	stop_all(r);
	release(r);
}

/* Delivers err on the next loop iteration (the caller may be sl_tcp_connect). */
static void defer_result(sl_tcp_req *r, int err)
{
	r->deciding = true;
	r->err = err;
	ev_timer_stop(r->loop, &r->deadline);
	ev_timer_stop(r->loop, &r->delay);
	ev_timer_set(&r->delay, 0.0, 0.0);
	ev_timer_start(r->loop, &r->delay);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents);

/* Opens a socket for sl and starts connecting it. Returns 0 while it
 * connects, or the -errno that ended it at once. */
static int start_slot(sl_tcp_req *r, struct slot *sl)
{
	struct sockaddr_storage ss;
	size_t len = sl_addr_to_sockaddr(&sl->addr, r->port, (struct sockaddr *)&ss);
	int fd, one = 1, rc;

	if (len == 0)
		return -EAFNOSUPPORT;
	fd = sl__tcp_socket(sl->addr.family);
	if (fd < 0)
		return fd;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	sl__tcp_keepalive_timing(fd);
	do {
		rc = connect(fd, (struct sockaddr *)&ss, (socklen_t)len);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* Connected at once or in progress: writability reports either way,
	 * on a later iteration, which keeps done out of sl_tcp_connect. */
	sl->fd = fd;
	ev_io_init(&sl->io, on_writable, fd, EV_WRITE);
	sl->io.data = sl;
	ev_io_start(r->loop, &sl->io);
	r->running++;
	return 0;
}

/* Starts the next address that does not fail at once, and arms the delay
 * before the one after it. When nothing is left to start and nothing
 * connects, the result is the worst failure, delivered later. */
static void launch(sl_tcp_req *r)
{
	ev_timer_stop(r->loop, &r->delay);
	while (r->next < r->n) {
		struct slot *sl = &r->slot[r->next++];
		int rc = start_slot(r, sl);

		if (rc == 0) {
			trace_slot(r, sl, "connecting to", 0);
			if (r->next < r->n) {
				ev_timer_set(&r->delay, SL_TCP_ATTEMPT_DELAY_MS / 1000.0, 0.0);
				ev_timer_start(r->loop, &r->delay);
			}
			return;
		}
		rc = sl_tcp_error(rc, r->target);
		trace_slot(r, sl, "cannot connect to", rc);
		r->err = sl__tcp_pick(r->err, rc);
	}
	if (r->running == 0)
		defer_result(r, r->err);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct slot *sl = w->data;
	sl_tcp_req *r = sl->r;
	int soerr = 0, fd, rc;
	socklen_t len = sizeof soerr;

	(void)loop;
	(void)revents;
	check(r);
	if (r->s->closed) {
		drop(r);
		return;
	}
	if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr != 0) {
		stop_slot(r, sl);
		rc = sl_tcp_error(-soerr, r->target);
		trace_slot(r, sl, "failed to connect to", rc);
		r->err = sl__tcp_pick(r->err, rc);
		if (r->next < r->n)
			launch(r); /* RFC 8305: a failure starts the next attempt at once */
		else if (r->running == 0)
			finish(r, r->err);
		return;
	}
	/* This one won: take its fd out of the slot before the rest close. */
	ev_io_stop(r->loop, &sl->io);
	fd = sl->fd;
	sl->fd = -1;
	r->running--;
	stop_all(r);
	trace_slot(r, sl, "connected to", 0);
	rc = sl_stream_attach_fd(r->s, fd);
	if (rc < 0) {
		close(fd);
	} else {
		r->s->peer = sl->addr;
		r->s->peer_port = r->port;
		r->s->has_peer = true;
	}
	finish(r, rc);
}

static void on_delay(struct ev_loop *loop, ev_timer *w, int revents)
{
	sl_tcp_req *r = w->data;

	(void)loop;
	(void)revents;
	check(r);
	if (r->s->closed)
		drop(r);
	else if (r->deciding)
		finish(r, r->err);
	else
		launch(r);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	sl_tcp_req *r = w->data;

	(void)loop;
	(void)revents;
	check(r);
	if (r->s->closed) {
		drop(r);
		return;
	}
	sl_stream_tracef(r->s, "tcp hop %d: no address answered in time", r->hop);
	finish(r, sl__tcp_pick(r->err, sl_tcp_error(SL_E_TIMEOUT, r->target)));
}

sl_tcp_req *sl_tcp_connect(sl_stream *s, const sl_addr *addrs, size_t n, uint16_t port,
			   uint64_t timeout_ms, int hop, bool target, sl_stream_done_cb done,
			   void *arg)
{
	sl_tcp_req *r;

	if (!s || !addrs || n == 0 || n > MAX_ADDRS || s->fd >= 0 || s->closed)
		return NULL;
	r = calloc(1, sizeof *r + n * sizeof r->slot[0]);
	if (!r)
		return NULL;
	r->magic = TCP_REQ_MAGIC;
	r->loop = s->loop;
	r->s = s;
	r->done = done;
	r->arg = arg;
	r->port = port;
	r->hop = hop;
	r->target = target;
	r->n = n;
	for (size_t i = 0; i < n; i++) {
		r->slot[i].r = r;
		r->slot[i].fd = -1;
		r->slot[i].addr = addrs[i];
	}
	sl_stream_ref(s);
	ev_init(&r->delay, on_delay);
	r->delay.data = r;
	ev_init(&r->deadline, on_deadline);
	r->deadline.data = r;
	if (timeout_ms == 0)
		timeout_ms = DEFAULT_TIMEOUT_MS;
	ev_timer_set(&r->deadline, (double)timeout_ms / 1000.0, 0.0);
	ev_timer_start(r->loop, &r->deadline);
	launch(r);
	return r;
}

void sl_tcp_cancel(sl_tcp_req *r)
{
	if (!r)
		return;
	check(r);
	if (r->in_done)
		return;
	drop(r);
}

int sl_tcp_error(int code, bool target)
{
	switch (code) {
	case -ECONNREFUSED:
		return target ? SL_E_TARGET_REFUSED : SL_E_PROXY_REFUSED;
	case -ENETUNREACH:
	case -EHOSTUNREACH:
	case -ENETDOWN:
	case -EHOSTDOWN:
		return target ? SL_E_TARGET_UNREACHABLE : SL_E_PROXY_UNREACHABLE;
	case -ETIMEDOUT:
	case SL_E_TIMEOUT:
		return target ? SL_E_TARGET_TIMEOUT : SL_E_PROXY_TIMEOUT;
	default:
		return code;
	}
}

static int rank(int err)
{
	switch (err) {
	case 0:
		return 0;
	case SL_E_TARGET_REFUSED:
	case SL_E_PROXY_REFUSED:
		return 4;
	case SL_E_TARGET_TIMEOUT:
	case SL_E_PROXY_TIMEOUT:
		return 3;
	case SL_E_TARGET_UNREACHABLE:
	case SL_E_PROXY_UNREACHABLE:
		return 2;
	default:
		return 1;
	}
}

int sl__tcp_pick(int kept, int next)
{
	return rank(next) > rank(kept) ? next : kept;
}
