/*
 * The stream driver (see stream.h): the socket layer, the handshake loop
 * that runs the pushed layer's progress() on readiness and unlinks it when
 * done, the user's readiness callback, and the one timer. Invariants:
 * s->top is never NULL (the socket layer is the floor); at most one
 * handshake runs (s->hs); the ev_io is armed with exactly s->io_events;
 * callbacks run with a reference held, so a callback may close the stream.
 */
#include "engines/stream.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"

/* ---- the socket layer ---- */

static ssize_t sock_read(sl_layer *l, void *buf, size_t n)
{
	sl_stream *s = l->s;
	ssize_t r;

	do {
		r = read(s->fd, buf, n);
	} while (r < 0 && errno == EINTR);
	if (r > 0)
		s->bytes_in += (uint64_t)r;
	else if (r == 0)
		s->eof = true;
	else
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

static ssize_t sock_writev(sl_layer *l, const struct iovec *iov, int iovcnt)
{
	sl_stream *s = l->s;
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t r;

	do {
		r = sendmsg(s->fd, &m, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	s->bytes_out += (uint64_t)r;
	return r;
}

static int sock_shutdown(sl_layer *l)
{
	if (shutdown(l->s->fd, SHUT_WR) < 0 && errno != ENOTCONN)
		return -errno;
	return 0;
}

static void sock_destroy(sl_layer *l)
{
	(void)l; /* embedded in the stream: nothing to free */
}

static const sl_layer_ops sock_ops = {
	.name = "socket",
	.read = sock_read,
	.writev = sock_writev,
	.shutdown = sock_shutdown,
	.destroy = sock_destroy,
};

/* ---- watchers ---- */

static void check(const sl_stream *s)
{
	assert(s && s->magic == SL_STREAM_MAGIC);
	(void)s;
}

static unsigned layer_want(const sl_layer *l)
{
	return l->ops->want ? l->ops->want(l) : 0;
}

static void update_io(sl_stream *s)
{
	unsigned w = 0, ev = 0;

	if (s->fd < 0 || s->closed)
		return;
	if (s->hs)
		w = layer_want(s->hs);
	else
		w = (s->user_want & (SL_WANT_READ | SL_WANT_WRITE)) | layer_want(s->top);
	if (w & SL_WANT_READ)
		ev |= EV_READ;
	if (w & SL_WANT_WRITE)
		ev |= EV_WRITE;
	if (ev == s->io_events)
		return;
	ev_io_stop(s->loop, &s->io);
	/* Same fd: ev_io_modify, since ev_io_set would make libev redo the
	 * epoll registration (two epoll_ctl calls) even for unchanged events. */
	ev_io_modify(&s->io, (int)ev);
	if (ev)
		ev_io_start(s->loop, &s->io);
	s->io_events = ev;
}

/* Asks for a user callback on the next loop iteration when decrypted data
 * waits above the socket (the fd itself may never become readable again). */
static void feed_pending(sl_stream *s)
{
	if (!s->hs && !s->closed && (s->user_want & SL_WANT_READ) && sl_stream_pending(s) > 0)
		ev_feed_event(s->loop, &s->io, EV_READ);
}

static void finish_handshake(sl_stream *s, int rc)
{
	sl_layer *l = s->hs;
	sl_stream_done_cb done = s->hs_cb;
	void *arg = s->hs_arg;

	s->hs = NULL;
	s->hs_cb = NULL;
	if (rc == 0 && !l->stays) {
		assert(s->top == l);
		s->top = l->below;
		l->ops->destroy(l);
	} else if (rc < 0 && s->err == 0) {
		sl_stream_fail(s, l->hop, !l->target, rc);
	}
	update_io(s);
	if (done) {
		s->in_cb = true;
		done(s, rc, arg);
		s->in_cb = false;
	}
}

static void drive_handshake(sl_stream *s)
{
	int rc = s->hs->ops->progress(s->hs);

	if (rc == SL_E_AGAIN)
		update_io(s);
	else
		finish_handshake(s, rc);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	sl_stream *s = w->data;
	unsigned events = 0;

	(void)loop;
	check(s);
	sl_stream_ref(s);
	if (s->hs) {
		drive_handshake(s);
	} else {
		if ((revents & EV_READ) || sl_stream_pending(s) > 0)
			events |= SL_EV_READABLE;
		if (revents & EV_WRITE)
			events |= SL_EV_WRITABLE;
		/* A layer that asked for readiness itself (a TLS read that must
		 * first write, or a write that must first read) makes progress
		 * only through the user's next read or write: any readiness
		 * then counts for both (a spurious call just gets -EAGAIN). */
		if (layer_want(s->top) && (revents & (EV_READ | EV_WRITE)))
			events |= SL_EV_READABLE | SL_EV_WRITABLE;
		events &= (s->user_want & SL_WANT_READ ? SL_EV_READABLE : 0) |
			  (s->user_want & SL_WANT_WRITE ? SL_EV_WRITABLE : 0);
		if (events && s->cb) {
			s->in_cb = true;
			s->cb(s, events, s->cb_arg);
			s->in_cb = false;
		}
		if (!s->closed) {
			update_io(s);
			feed_pending(s);
		}
	}
	sl_stream_unref(s);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	sl_stream *s = w->data;

	(void)loop;
	(void)revents;
	check(s);
	sl_stream_ref(s);
	if (s->hs) {
		bool target = s->hs->target;
		sl_stream_fail(s, s->hs->hop, !target,
			       target ? SL_E_TARGET_TIMEOUT : SL_E_PROXY_TIMEOUT);
		finish_handshake(s, s->err);
	} else if (s->cb) {
		s->in_cb = true;
		s->cb(s, SL_EV_TIMEOUT, s->cb_arg);
		s->in_cb = false;
	}
	sl_stream_unref(s);
}

/* ---- public API ---- */

sl_stream *sl_stream_new(struct ev_loop *loop)
{
	sl_stream *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->magic = SL_STREAM_MAGIC;
	s->refs = 1;
	s->loop = loop;
	s->fd = -1;
	s->err_hop = -1;
	s->sock.ops = &sock_ops;
	s->sock.s = s;
	s->sock.stays = true;
	s->top = &s->sock;
	ev_io_init(&s->io, on_io, -1, 0);
	s->io.data = s;
	ev_init(&s->timer, on_timer);
	s->timer.data = s;
	return s;
}

int sl_stream_attach_fd(sl_stream *s, int fd)
{
	check(s);
	if (s->fd >= 0 || fd < 0)
		return SL_E_INVAL;
	s->fd = fd;
	s->io_events = 0;
	ev_io_set(&s->io, fd, 0);
	update_io(s);
	return 0;
}

int sl_stream_detach_fd(sl_stream *s)
{
	int fd;

	check(s);
	if (s->top != &s->sock || s->hs || s->fd < 0)
		return SL_E_INVAL;
	ev_io_stop(s->loop, &s->io);
	s->io_events = 0;
	fd = s->fd;
	s->fd = -1;
	return fd;
}

int sl_stream_push(sl_stream *s, sl_layer *l, sl_stream_done_cb done, void *arg)
{
	check(s);
	if (s->hs || s->closed || !l->ops->progress)
		return SL_E_INVAL;
	l->below = s->top;
	l->s = s;
	s->top = l;
	s->hs = l;
	s->hs_cb = done;
	s->hs_arg = arg;
	sl_stream_ref(s);
	drive_handshake(s);
	sl_stream_unref(s);
	return 0;
}

void sl_stream_set_cb(sl_stream *s, sl_stream_cb cb, void *arg)
{
	check(s);
	s->cb = cb;
	s->cb_arg = arg;
}

void sl_stream_set_trace(sl_stream *s, sl_stream_trace_cb cb, void *arg)
{
	check(s);
	s->trace = cb;
	s->trace_arg = arg;
}

void sl_stream_tracef(sl_stream *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!s->trace)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	s->trace(s, line, s->trace_arg);
}

void sl_stream_want(sl_stream *s, unsigned want)
{
	check(s);
	s->user_want = want;
	update_io(s);
	feed_pending(s);
}

void sl_stream_set_timeout(sl_stream *s, uint64_t ms)
{
	check(s);
	ev_timer_stop(s->loop, &s->timer);
	if (ms && !s->closed) {
		ev_timer_set(&s->timer, (double)ms / 1000.0, 0.0);
		ev_timer_start(s->loop, &s->timer);
	}
}

ssize_t sl_stream_read(sl_stream *s, void *buf, size_t n)
{
	ssize_t r;

	check(s);
	if (s->closed || s->fd < 0 || s->hs)
		return SL_E_INVAL;
	r = s->top->ops->read(s->top, buf, n);
	if (r < 0 && r != -EAGAIN && s->err == 0)
		sl_stream_fail(s, -1, false, (int)r);
	return r;
}

ssize_t sl_stream_writev(sl_stream *s, const struct iovec *iov, int iovcnt)
{
	ssize_t r;

	check(s);
	if (s->closed || s->fd < 0 || s->hs)
		return SL_E_INVAL;
	r = s->top->ops->writev(s->top, iov, iovcnt);
	if (r < 0 && r != -EAGAIN && s->err == 0)
		sl_stream_fail(s, -1, false, (int)r);
	return r;
}

size_t sl_stream_pending(const sl_stream *s)
{
	check(s);
	return s->top->ops->pending ? s->top->ops->pending(s->top) : 0;
}

bool sl_stream_usable(const sl_stream *s)
{
	check(s);
	return s->fd >= 0 && !s->hs && !s->closed && !s->eof && s->err == 0;
}

int sl_stream_fail(sl_stream *s, int hop, bool proxy, int err)
{
	check(s);
	if (s->err == 0 && err < 0) {
		s->err = err;
		s->err_hop = hop;
		s->err_proxy = proxy;
	}
	return err;
}

int sl_stream_shutdown(sl_stream *s)
{
	check(s);
	if (s->closed || s->fd < 0 || s->hs)
		return SL_E_INVAL;
	s->shutting_down = true;
	for (sl_layer *l = s->top; l; l = l->below) {
		if (!l->ops->shutdown)
			continue;
		int rc = l->ops->shutdown(l);
		if (rc == SL_E_AGAIN) {
			update_io(s);
			return rc;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

void sl_stream_close(sl_stream *s)
{
	check(s);
	if (s->closed)
		return;
	s->closed = true;
	ev_io_stop(s->loop, &s->io);
	ev_timer_stop(s->loop, &s->timer);
	ev_clear_pending(s->loop, &s->io);
	ev_clear_pending(s->loop, &s->timer);
	while (s->top != &s->sock) {
		sl_layer *l = s->top;
		s->top = l->below;
		l->ops->destroy(l);
	}
	s->hs = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->cb = NULL;
	s->hs_cb = NULL;
	sl_stream_unref(s);
}

void sl_stream_ref(sl_stream *s)
{
	check(s);
	s->refs++;
}

void sl_stream_unref(sl_stream *s)
{
	check(s);
	assert(s->refs > 0);
	if (--s->refs > 0)
		return;
	if (!s->closed) {
		/* Dropped without close: close first (which would unref again). */
		s->refs = 1;
		sl_stream_close(s);
		return;
	}
	s->magic = 0xdeadbeefu;
	free(s);
}

/* ---- helpers for layers ---- */

ssize_t sl_layer_read_below(sl_layer *l, void *buf, size_t n)
{
	return l->below->ops->read(l->below, buf, n);
}

ssize_t sl_layer_writev_below(sl_layer *l, const struct iovec *iov, int iovcnt)
{
	return l->below->ops->writev(l->below, iov, iovcnt);
}

ssize_t sl_layer_write_below(sl_layer *l, const void *buf, size_t n)
{
	struct iovec iov = {(void *)buf, n};

	return sl_layer_writev_below(l, &iov, 1);
}
