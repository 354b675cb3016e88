/*
 * Unit tests of the stream driver over a socketpair: a handshake layer that
 * writes a greeting and reads an exact answer is run, unlinked when done,
 * and the user then reads and writes through the socket layer; errors,
 * timeouts, closing inside a callback and detaching the fd.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "engines/stream.h"

/* A toy handshake: send "HELLO", expect "OK" (or fail on anything else). */
struct hello {
	sl_layer l;
	int state; /* 0 send, 1 read, 2 done */
	char got[2];
	size_t ngot;
	int *destroyed;
};

static int hello_progress(sl_layer *l)
{
	struct hello *h = (struct hello *)l;

	if (h->state == 0) {
		ssize_t w = sl_layer_write_below(l, "HELLO", 5);
		if (w != 5)
			return w < 0 ? (int)w : SL_E_PROXY_PROTOCOL;
		h->state = 1;
	}
	while (h->ngot < 2) {
		ssize_t r = sl_layer_read_below(l, h->got + h->ngot, 2 - h->ngot);
		if (r == -EAGAIN)
			return SL_E_AGAIN;
		if (r == 0)
			return SL_E_PROXY_CLOSED;
		if (r < 0)
			return (int)r;
		h->ngot += (size_t)r;
	}
	h->state = 2;
	return memcmp(h->got, "OK", 2) == 0 ? 0 : SL_E_PROXY_PROTOCOL;
}

static unsigned hello_want(const sl_layer *l)
{
	return ((const struct hello *)l)->state == 1 ? SL_WANT_READ : 0;
}

static void hello_destroy(sl_layer *l)
{
	struct hello *h = (struct hello *)l;
	if (h->destroyed)
		(*h->destroyed)++;
	free(h);
}

static const sl_layer_ops hello_ops = {
	.name = "hello",
	.progress = hello_progress,
	.want = hello_want,
	.destroy = hello_destroy,
};

static sl_layer *hello_new(int *destroyed)
{
	struct hello *h = calloc(1, sizeof *h);
	h->l.ops = &hello_ops;
	h->l.hop = 0;
	h->destroyed = destroyed;
	return &h->l;
}

struct ctx {
	struct ev_loop *loop;
	sl_stream *s;
	int peer;
	int done_rc;
	int done_calls;
	char buf[64];
	size_t nbuf;
	unsigned last_events;
	bool close_in_cb;
};

static void on_done(sl_stream *s, int err, void *arg)
{
	struct ctx *c = arg;
	(void)s;
	c->done_rc = err;
	c->done_calls++;
	ev_break(c->loop, EVBREAK_ONE);
}

static void on_ready(sl_stream *s, unsigned ev, void *arg)
{
	struct ctx *c = arg;
	c->last_events = ev;
	if (ev & SL_EV_READABLE) {
		ssize_t r = sl_stream_read(s, c->buf + c->nbuf, sizeof c->buf - c->nbuf);
		if (r > 0)
			c->nbuf += (size_t)r;
	}
	if (c->close_in_cb) {
		sl_stream_close(s);
		c->s = NULL;
	}
	ev_break(c->loop, EVBREAK_ONE);
}

static void setup_pair(struct ctx *c)
{
	int sv[2];
	memset(c, 0, sizeof *c);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	c->loop = ev_loop_new(EVFLAG_AUTO);
	c->s = sl_stream_new(c->loop);
	cr_assert_eq(sl_stream_attach_fd(c->s, sv[0]), 0);
	c->peer = sv[1];
	c->done_rc = 1;
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until a callback breaks it, or 5 s at most. */
static void run_bounded(struct ctx *c)
{
	ev_timer guard;
	ev_timer_init(&guard, on_guard, 5.0, 0.0);
	ev_timer_start(c->loop, &guard);
	ev_run(c->loop, 0);
	ev_timer_stop(c->loop, &guard);
}

Test(stream, handshake_layer_runs_and_unlinks_itself)
{
	struct ctx c;
	int destroyed = 0;
	char got[8] = {0};

	setup_pair(&c);
	cr_assert_eq(sl_stream_push(c.s, hello_new(&destroyed), on_done, &c), 0);
	cr_assert_eq(read(c.peer, got, sizeof got), 5);
	cr_assert_str_eq(got, "HELLO");
	cr_assert_eq(c.done_calls, 0);
	cr_assert_eq(write(c.peer, "O", 1), 1);
	run_bounded(&c); /* one byte: not done yet, the guard or more data ends it */
	cr_assert_eq(write(c.peer, "K", 1), 1);
	if (c.done_calls == 0)
		run_bounded(&c);
	cr_assert_eq(c.done_calls, 1);
	cr_assert_eq(c.done_rc, 0);
	cr_assert_eq(destroyed, 1, "a finished handshake layer is destroyed");
	cr_assert(sl_stream_usable(c.s));
	sl_stream_close(c.s);
	close(c.peer);
	ev_loop_destroy(c.loop);
}

Test(stream, handshake_error_is_recorded_with_hop)
{
	struct ctx c;

	setup_pair(&c);
	cr_assert_eq(write(c.peer, "NO", 2), 2);
	sl_stream_push(c.s, hello_new(NULL), on_done, &c);
	if (!c.done_calls)
		run_bounded(&c);
	cr_assert_eq(c.done_rc, SL_E_PROXY_PROTOCOL);
	cr_assert_eq(c.s->err, SL_E_PROXY_PROTOCOL);
	cr_assert_eq(c.s->err_hop, 0);
	cr_assert(c.s->err_proxy);
	cr_assert_not(sl_stream_usable(c.s));
	sl_stream_close(c.s);
	close(c.peer);
	ev_loop_destroy(c.loop);
}

Test(stream, handshake_timeout_is_a_proxy_timeout)
{
	struct ctx c;

	setup_pair(&c);
	sl_stream_set_timeout(c.s, 20);
	sl_stream_push(c.s, hello_new(NULL), on_done, &c);
	run_bounded(&c);
	cr_assert_eq(c.done_rc, SL_E_PROXY_TIMEOUT);
	sl_stream_close(c.s);
	close(c.peer);
	ev_loop_destroy(c.loop);
}

Test(stream, peer_close_during_handshake)
{
	struct ctx c;

	setup_pair(&c);
	char got[8];

	sl_stream_push(c.s, hello_new(NULL), on_done, &c);
	cr_assert_eq(read(c.peer, got, sizeof got), 5);
	close(c.peer);
	run_bounded(&c);
	cr_assert_eq(c.done_rc, SL_E_PROXY_CLOSED);
	sl_stream_close(c.s);
	ev_loop_destroy(c.loop);
}

Test(stream, user_reads_and_writes_after_handshake)
{
	struct ctx c;
	struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
	char got[8] = {0};

	setup_pair(&c);
	sl_stream_set_cb(c.s, on_ready, &c);
	cr_assert_eq(sl_stream_writev(c.s, iov, 2), 4);
	cr_assert_eq(read(c.peer, got, sizeof got), 4);
	cr_assert_str_eq(got, "abcd");
	cr_assert_eq(sl_stream_read(c.s, got, sizeof got), -EAGAIN);
	sl_stream_want(c.s, SL_WANT_READ);
	cr_assert_eq(write(c.peer, "xyz", 3), 3);
	run_bounded(&c);
	cr_assert_eq(c.nbuf, 3);
	cr_assert_eq(memcmp(c.buf, "xyz", 3), 0);
	cr_assert_eq(c.s->bytes_in, 3);
	cr_assert_eq(c.s->bytes_out, 4);
	close(c.peer);
	c.nbuf = 0;
	run_bounded(&c);
	cr_assert(c.s->eof, "end of stream is seen");
	cr_assert_not(sl_stream_usable(c.s));
	sl_stream_close(c.s);
	ev_loop_destroy(c.loop);
}

Test(stream, user_timeout_event)
{
	struct ctx c;

	setup_pair(&c);
	sl_stream_set_cb(c.s, on_ready, &c);
	sl_stream_set_timeout(c.s, 10);
	run_bounded(&c);
	cr_assert_eq(c.last_events, SL_EV_TIMEOUT);
	sl_stream_close(c.s);
	close(c.peer);
	ev_loop_destroy(c.loop);
}

Test(stream, close_inside_callback_is_safe)
{
	struct ctx c;

	setup_pair(&c);
	c.close_in_cb = true;
	sl_stream_set_cb(c.s, on_ready, &c);
	sl_stream_want(c.s, SL_WANT_WRITE);
	run_bounded(&c);
	cr_assert_null(c.s);
	cr_assert(c.last_events & SL_EV_WRITABLE);
	close(c.peer);
	ev_loop_destroy(c.loop);
}

Test(stream, detach_gives_the_fd_back)
{
	struct ctx c;
	int destroyed = 0;

	setup_pair(&c);
	cr_assert_eq(write(c.peer, "OK", 2), 2);
	sl_stream_push(c.s, hello_new(&destroyed), on_done, &c);
	if (!c.done_calls)
		run_bounded(&c);
	int fd = sl_stream_detach_fd(c.s);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "z", 1), 1);
	sl_stream_close(c.s);
	cr_assert_neq(fcntl(fd, F_GETFD), -1, "a detached fd stays open");
	close(fd);
	close(c.peer);
	ev_loop_destroy(c.loop);
}

Test(stream, push_while_handshake_runs_is_refused)
{
	struct ctx c;

	setup_pair(&c);
	sl_stream_push(c.s, hello_new(NULL), on_done, &c);
	sl_layer *second = hello_new(NULL);
	cr_assert_eq(sl_stream_push(c.s, second, on_done, &c), SL_E_INVAL);
	second->ops->destroy(second);
	sl_stream_close(c.s);
	close(c.peer);
	ev_loop_destroy(c.loop);
}

/* A staying layer whose reads must first write (as TLS's SSL_read can
 * ask): it wants the fd writable while the user only waits to read. */
static int needy_progress(sl_layer *l)
{
	(void)l;
	return 0;
}

static unsigned needy_want(const sl_layer *l)
{
	(void)l;
	return SL_WANT_WRITE;
}

static ssize_t needy_read(sl_layer *l, void *buf, size_t n)
{
	(void)l;
	(void)buf;
	(void)n;
	return -EAGAIN;
}

static void needy_destroy(sl_layer *l)
{
	free(l);
}

static const sl_layer_ops needy_ops = {
	.name = "needy",
	.progress = needy_progress,
	.want = needy_want,
	.read = needy_read,
	.destroy = needy_destroy,
};

Test(stream, readiness_a_layer_asked_for_reaches_the_reader)
{
	struct ctx c;
	sl_layer *l = calloc(1, sizeof *l);

	setup_pair(&c);
	l->ops = &needy_ops;
	l->stays = true;
	sl_stream_push(c.s, l, on_done, &c);
	cr_assert_eq(c.done_rc, 0);
	sl_stream_set_cb(c.s, on_ready, &c);
	sl_stream_want(c.s, SL_WANT_READ);
	run_bounded(&c); /* nothing to read: only the layer's write readiness fires */
	cr_assert(c.last_events & SL_EV_READABLE, "the reader retries its read");
	sl_stream_close(c.s);
	close(c.peer);
	ev_loop_destroy(c.loop);
}
