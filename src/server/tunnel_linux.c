/*
 * Zero-copy tunnel directions on Linux: splice(2) moves bytes from the
 * source socket into a pipe and from the pipe to the destination socket, so
 * tunnelled data never enters user space. A direction reads only when its
 * pipe is empty (a full pipe and an empty socket would both say EAGAIN),
 * then writes out all it holds. Pipes come from a small per-worker pool and
 * a direction keeps one only while bytes wait in it (the destination is
 * slow): idle tunnels hold no pipe, so thousands of open tunnels do not run
 * into the per-user pipe limits (fs.pipe-user-pages-soft), past which the
 * kernel gives new pipes a single page. Elsewhere sl__tdir_splice_init()
 * fails and tunnel.c copies.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/session_internal.h"

#define PIPE_SIZE (256 * 1024)
#define SPLICE_ROUNDS 8

#if defined(__linux__) && defined(SPLICE_F_NONBLOCK)

static int pipe_get(struct sl__sctx *c, struct sl__tdir *d)
{
	int sz;

	if (d->pipe[0] >= 0)
		return 0;
	if (c->npipes) {
		c->npipes--;
		d->pipe[0] = c->pipes[c->npipes].fd[0];
		d->pipe[1] = c->pipes[c->npipes].fd[1];
		d->cap = c->pipes[c->npipes].size;
		return 0;
	}
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		d->pipe[0] = d->pipe[1] = -1;
		return -errno;
	}
	(void)fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	sz = fcntl(d->pipe[1], F_GETPIPE_SZ);
	d->cap = sz > 0 ? (size_t)sz : 65536;
	return 0;
}

static void pipe_close(struct sl__tdir *d)
{
	for (int i = 0; i < 2; i++) {
		if (d->pipe[i] >= 0)
			close(d->pipe[i]);
		d->pipe[i] = -1;
	}
}

/* An empty pipe goes back to the pool; one holding bytes is closed. */
static void pipe_put(struct sl__sctx *c, struct sl__tdir *d)
{
	if (d->pipe[0] < 0)
		return;
	if (d->inpipe == 0 && c->npipes < SL__PIPE_POOL) {
		c->pipes[c->npipes].fd[0] = d->pipe[0];
		c->pipes[c->npipes].fd[1] = d->pipe[1];
		c->pipes[c->npipes].size = d->cap;
		c->npipes++;
		d->pipe[0] = d->pipe[1] = -1;
		return;
	}
	pipe_close(d);
	d->inpipe = 0;
}

int sl__tdir_splice_init(struct sl__sctx *c, struct sl__tdir *d)
{
	int rc = pipe_get(c, d);

	if (rc == 0)
		pipe_put(c, d);
	return rc;
}

static ssize_t move(struct sl__tdir *d)
{
	ssize_t moved = 0, n;
	const unsigned fl = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

	d->want_read = d->want_write = false;
	for (int round = 0; round < SPLICE_ROUNDS; round++) {
		while (d->inpipe) {
			n = splice(d->pipe[0], NULL, d->dst, NULL, d->inpipe, fl);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					d->want_write = true;
					return moved;
				}
				return -errno;
			}
			if (n == 0)
				return -EPIPE;
			d->inpipe -= (size_t)n;
			d->bytes += (uint64_t)n;
			moved += n;
		}
		if (d->eof) {
			(void)shutdown(d->dst, SHUT_WR);
			d->done = true;
			return moved;
		}
		n = splice(d->src, NULL, d->pipe[1], NULL, d->cap, fl);
		if (n == 0) {
			d->eof = true;
			continue;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				d->want_read = true;
				return moved;
			}
			return -errno;
		}
		d->inpipe = (size_t)n;
	}
	d->want_read = d->inpipe == 0 && !d->eof;
	d->want_write = d->inpipe > 0;
	return moved;
}

ssize_t sl__tdir_splice(struct sl__sctx *c, struct sl__tdir *d)
{
	ssize_t n;
	int rc = pipe_get(c, d);

	if (rc < 0)
		return rc;
	n = move(d);
	if (d->inpipe == 0)
		pipe_put(c, d);
	return n;
}

void sl__tdir_splice_free(struct sl__sctx *c, struct sl__tdir *d)
{
	pipe_put(c, d);
}

#else

int sl__tdir_splice_init(struct sl__sctx *c, struct sl__tdir *d)
{
	(void)c;
	d->pipe[0] = d->pipe[1] = -1;
	return -ENOSYS;
}

ssize_t sl__tdir_splice(struct sl__sctx *c, struct sl__tdir *d)
{
	(void)c;
	(void)d;
	return -ENOSYS;
}

void sl__tdir_splice_free(struct sl__sctx *c, struct sl__tdir *d)
{
	(void)c;
	(void)d;
}

#endif

void sl__pipes_free(struct sl__sctx *c)
{
	while (c->npipes) {
		c->npipes--;
		close(c->pipes[c->npipes].fd[0]);
		close(c->pipes[c->npipes].fd[1]);
	}
}
