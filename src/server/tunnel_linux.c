/*
 * Zero-copy tunnel directions on Linux: splice(2) moves bytes from the
 * source socket into a pipe and from the pipe to the destination socket, so
 * tunnelled data never enters user space. A direction reads only when its
 * pipe is empty (a full pipe and an empty socket would both say EAGAIN),
 * then writes out all it holds; the pipe is enlarged so one round moves a
 * useful amount. Elsewhere sl__tdir_splice_init() fails and tunnel.c copies.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/session_internal.h"

#define PIPE_SIZE (256 * 1024)
#define SPLICE_ROUNDS 8

#if defined(__linux__) && defined(SPLICE_F_NONBLOCK)

int sl__tdir_splice_init(struct sl__tdir *d)
{
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		d->pipe[0] = d->pipe[1] = -1;
		return -errno;
	}
	(void)fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	int sz = fcntl(d->pipe[1], F_GETPIPE_SZ);
	d->cap = sz > 0 ? (size_t)sz : 65536;
	return 0;
}

ssize_t sl__tdir_splice(struct sl__tdir *d)
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

#else

int sl__tdir_splice_init(struct sl__tdir *d)
{
	d->pipe[0] = d->pipe[1] = -1;
	return -ENOSYS;
}

ssize_t sl__tdir_splice(struct sl__tdir *d)
{
	(void)d;
	return -ENOSYS;
}

#endif

void sl__tdir_splice_free(struct sl__tdir *d)
{
	for (int i = 0; i < 2; i++) {
		if (d->pipe[i] >= 0)
			close(d->pipe[i]);
		d->pipe[i] = -1;
	}
	d->inpipe = 0;
}
