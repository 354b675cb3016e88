/*
 * CONNECT tunnels. An authority-form CONNECT to a port acl.connect_ports
 * allows is connected through the engines (a direct route for now; the
 * destination check of acl.h runs on every resolved address), answered
 * "200 Connection established", and from then on bytes move both ways
 * without being looked at. The target's stream has no TLS layer (the
 * tunnel is not terminated), so its fd is detached and both directions
 * move with splice(2) through a pipe each (tunnel_linux.c), or with read
 * and write through a small buffer where splice is not available.
 *
 * Order: bytes the client sent after the CONNECT head go to the target
 * before anything spliced; the 200 goes to the client before anything
 * from the target. Half-close: when one side ends, the other side's
 * sending half is shut once everything before the end is out, and the
 * tunnel ends when both directions have. It also ends on an error or
 * after timeouts.tunnel_idle without traffic, and is logged then, as
 * TCP_TUNNEL with the bytes each way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "server/session_internal.h"

#define COPY_BUF 16384
#define COPY_ROUNDS 16

static void pump(sl__session *s);

static void dir_init(struct sl__tdir *d, int src, int dst)
{
	memset(d, 0, sizeof *d);
	d->src = src;
	d->dst = dst;
	d->pipe[0] = d->pipe[1] = -1;
}

static void dir_free(struct sl__sctx *c, struct sl__tdir *d)
{
	sl__tdir_splice_free(c, d);
	free(d->buf);
	d->buf = NULL;
}

/* The fallback mover: read into a buffer, write it out. */
static ssize_t copy_move(struct sl__tdir *d)
{
	ssize_t moved = 0, n;

	if (!d->buf && !(d->buf = malloc(COPY_BUF)))
		return -ENOMEM;
	d->cap = COPY_BUF;
	d->want_read = d->want_write = false;
	for (int round = 0; round < COPY_ROUNDS; round++) {
		if (d->off < d->len) {
			n = write(d->dst, d->buf + d->off, d->len - d->off);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
					d->want_write = true;
					return moved;
				}
				return -errno;
			}
			d->off += (size_t)n;
			d->bytes += (uint64_t)n;
			moved += n;
			if (d->off < d->len)
				continue;
			d->off = d->len = 0;
		}
		if (d->eof) {
			(void)shutdown(d->dst, SHUT_WR);
			d->done = true;
			return moved;
		}
		n = read(d->src, d->buf, d->cap);
		if (n == 0) {
			d->eof = true;
			continue;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				d->want_read = true;
				return moved;
			}
			return -errno;
		}
		d->len = (size_t)n;
		d->off = 0;
	}
	/* Out of rounds: let the loop come back. */
	d->want_read = d->len == 0 && !d->eof;
	d->want_write = d->len > d->off;
	return moved;
}

static ssize_t move(sl__session *s, struct sl__tdir *d)
{
	if (d->done)
		return 0;
	return s->tun->splice ? sl__tdir_splice(sl__ctx(s), d) : copy_move(d);
}

static void end(sl__session *s, const char *why)
{
	sl__tunnel *t = s->tun;
	sl__txn *x = s->txn;

	if (x && t) {
		x->bytes_out += t->down.bytes;
		x->bytes_in += t->up.bytes;
		/* Counted once: the close below frees the tunnel. */
		t->down.bytes = t->up.bytes = 0;
	}
	sl__session_close(s, why);
}

/* Moves what can move, in order, and re-arms both watchers. */
static void pump(sl__session *s)
{
	sl__tunnel *t = s->tun;
	bool pre = false, head = false;
	ssize_t n;
	unsigned cev = 0, uev = 0;
	char err[128];

	/* 1. The 200 (and anything else queued) to the client first. */
	if (!sl_outq_empty(&s->out)) {
		if (sl__session_flush(s) < 0) {
			end(s, "write to the client failed");
			return;
		}
		head = !sl_outq_empty(&s->out);
	}
	/* 2. What the client sent early goes to the target first. */
	while (sl_buf_len(&s->in)) {
		n = write(t->ufd, sl_buf_data(&s->in), sl_buf_len(&s->in));
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				pre = true;
				break;
			}
			snprintf(err, sizeof err, "tunnel write to the target failed: %s",
				 strerror(errno));
			end(s, err);
			return;
		}
		sl_buf_consume(&s->in, (size_t)n);
		if (s->txn)
			s->txn->bytes_in += (uint64_t)n;
		s->last_activity = ev_now(s->env->loop);
	}
	if (!pre)
		sl_buf_release(&s->in);
	/* 3. Both directions. */
	if (!pre) {
		n = move(s, &t->up);
		if (n < 0) {
			snprintf(err, sizeof err, "tunnel: %s", strerror((int)-n));
			end(s, err);
			return;
		}
		if (n > 0)
			s->last_activity = ev_now(s->env->loop);
	}
	if (!head) {
		n = move(s, &t->down);
		if (n < 0) {
			snprintf(err, sizeof err, "tunnel: %s", strerror((int)-n));
			end(s, err);
			return;
		}
		if (n > 0)
			s->last_activity = ev_now(s->env->loop);
	}
	if (t->up.done && t->down.done) {
		end(s, NULL);
		return;
	}
	/* 4. Watchers. */
	if (head)
		cev |= EV_WRITE;
	if (pre)
		uev |= EV_WRITE;
	if (!pre && !t->up.done) {
		if (t->up.want_read)
			cev |= EV_READ;
		if (t->up.want_write)
			uev |= EV_WRITE;
	}
	if (!head && !t->down.done) {
		if (t->down.want_read)
			uev |= EV_READ;
		if (t->down.want_write)
			cev |= EV_WRITE;
	}
	sl__io_arm(s->env->loop, &s->io, &s->events, cev);
	sl__io_arm(s->env->loop, &t->uio, &t->uevents, uev);
}

void sl__tunnel_on_client(sl__session *s, int revents)
{
	(void)revents;
	if (s->tun && s->tun->ufd >= 0)
		pump(s);
}

static void on_target_io(struct ev_loop *loop, ev_io *w, int revents)
{
	sl__session *s = w->data;

	(void)loop;
	(void)revents;
	sl__session_ref(s);
	if (s->state == SS_TUNNEL && s->tun)
		pump(s);
	sl__session_unref(s);
}

static void on_connected(sl_stream *st, int err, int err_hop, bool proxy_err, void *arg)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	sl__session *s = arg;
	sl__tunnel *t = s->tun;
	sl__txn *x = s->txn;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	sl_addr a;
	char detail[320];
	int fd;

	(void)err_hop;
	(void)proxy_err;
	sl__session_ref(s);
	t->creq = NULL;
	if (err < 0) {
		if (err == SL_E_TARGET_DENIED && t->dest.why[0])
			snprintf(detail, sizeof detail, "%s", t->dest.why);
		else
			snprintf(detail, sizeof detail, "%s:%u: %s", x->host, x->port,
				 sl_strerror(err));
		sl__session_fail(s, err, SL_SIDE_TUNNEL, detail);
		goto out;
	}
	fd = sl_stream_detach_fd(st);
	sl_stream_close(st);
	if (fd < 0) {
		sl__session_fail(s, fd, SL_SIDE_TUNNEL, "the target's connection has a layer left");
		goto out;
	}
	t->ufd = fd;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    sl_addr_from_sockaddr((struct sockaddr *)&ss, &a, NULL) == 0)
		(void)sl_addr_format(&a, x->peer, sizeof x->peer);
	x->status = 200;
	x->head_queued = true;
	x->direct = true;
	if (sl__session_queue(s, ok, sizeof ok - 1) < 0) {
		sl__session_close(s, "out of memory");
		goto out;
	}
	if (s->env->stats)
		s->env->stats->tunnels++;
	dir_init(&t->up, s->fd, fd);
	dir_init(&t->down, fd, s->fd);
	t->splice = sl__tdir_splice_init(sl__ctx(s), &t->up) == 0;
	ev_io_init(&t->uio, on_target_io, fd, 0);
	t->uio.data = s;
	s->state = SS_TUNNEL;
	SL_DEBUG("session %d: tunnel to %s:%u up (%s)", s->fd, x->host, x->port,
		 t->splice ? "splice" : "copy");
	s->last_activity = ev_now(s->env->loop);
	sl__session_timer(s, ST_TUNNEL, sl__cfg(s)->timeouts.tunnel_idle_ms);
	pump(s);
out:
	sl__session_unref(s);
}

void sl__tunnel_start(sl__session *s, const sl_http_request *rq, const sl_url *u)
{
	sl_session_env *env = s->env;
	sl__txn *x = s->txn;
	sl__tunnel *t;
	sl_connect_opts o;
	sl_route direct = {NULL, 0};
	char detail[128];

	if (sl__txn_set_strings(x, rq->method, rq->target.p, rq->target.n, u->host.p,
				u->host.n) < 0) {
		sl__session_close(s, "out of memory");
		return;
	}
	x->port = u->port;
	x->result = "TCP_TUNNEL";
	/* Whatever happens, this connection ends with the tunnel. */
	s->must_close = true;
	if (!sl_acl_client_allowed(sl__cfg(s), s->peer_unix ? NULL : &s->peer)) {
		sl__session_deny_client(s);
		return;
	}
	if (!sl_acl_connect_port_allowed(sl__cfg(s), u->port)) {
		snprintf(detail, sizeof detail, "CONNECT to port %u is not allowed (acl.connect_ports)",
			 u->port);
		sl__session_fail(s, SL_E_TARGET_DENIED, SL_SIDE_CLIENT, detail);
		return;
	}
	if (!(t = calloc(1, sizeof *t))) {
		sl__session_close(s, "out of memory");
		return;
	}
	t->magic = SL__TUNNEL_MAGIC;
	t->ufd = -1;
	t->up.pipe[0] = t->up.pipe[1] = t->down.pipe[0] = t->down.pipe[1] = -1;
	t->dest.cfg = sl__cfg(s);
	t->dest.own = s->snap->own_addrs;
	t->dest.own_ports = s->snap->own_ports;
	t->dest.n_own = s->snap->n_own;
	t->dest.port = u->port;
	s->tun = t;
	memset(&o, 0, sizeof o);
	o.dns = env->dns;
	o.tls_verify = true;
	o.connect_timeout_ms = sl__cfg(s)->timeouts.connect_ms;
	o.check_addr = sl_acl_check_dest;
	o.check_arg = &t->dest;
	s->state = SS_CONNECTING;
	sl__session_timer(s, ST_NONE, 0);
	t->creq = sl_chain_connect(env->loop, &direct, x->host, u->port, &o, on_connected, s);
	if (!t->creq)
		sl__session_fail(s, SL_E_NOMEM, SL_SIDE_TUNNEL, NULL);
}

void sl__tunnel_free(sl__session *s)
{
	sl__tunnel *t = s->tun;

	if (!t)
		return;
	if (t->creq)
		sl_chain_cancel(t->creq);
	if (t->ufd >= 0) {
		ev_io_stop(s->env->loop, &t->uio);
		close(t->ufd);
	}
	dir_free(sl__ctx(s), &t->up);
	dir_free(sl__ctx(s), &t->down);
	t->magic = 0;
	free(t);
	s->tun = NULL;
}
