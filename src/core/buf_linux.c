/*
 * Draining an output queue into a file descriptor: writev(2) for the memory
 * segments at the head, sendfile(2) for file segments on Linux, and a
 * pread(2) plus write(2) loop through a stack buffer wherever sendfile is
 * missing or refuses the pair of descriptors. Only the public sl_outq API is
 * used, so the queue's bookkeeping stays in buf.c. Nothing here blocks on
 * its own: with a non-blocking fd, a full socket ends the call.
 */
#include "core/buf.h"

#include <errno.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/sendfile.h>
#endif

#include "core/err.h"

#define IOV_BATCH 64
#define COPY_BUF 16384

/* Sends up to n file bytes from off with pread and write; -errno on error. */
static ssize_t copy_file(int out, int in, off_t off, size_t n)
{
	char tmp[COPY_BUF];
	ssize_t r, w;

	if (n > sizeof tmp)
		n = sizeof tmp;
	do
		r = pread(in, tmp, n, off);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	do
		w = write(out, tmp, (size_t)r);
	while (w < 0 && errno == EINTR);
	return w < 0 ? -errno : w;
}

/* Sends up to n bytes of file `in` from off; returns the count or -errno. */
static ssize_t send_file(int out, int in, off_t off, size_t n)
{
#ifdef __linux__
	ssize_t r;
	do
		r = sendfile(out, in, &off, n);
	while (r < 0 && errno == EINTR);
	if (r >= 0)
		return r;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -errno;
	/* The pair is one sendfile does not handle: copy through memory. */
#endif
	return copy_file(out, in, off, n);
}

/* Writes the memory segments at the head; *want gets what was asked. */
static ssize_t write_mem(sl_outq *q, int fd, size_t budget, size_t *want)
{
	struct iovec iov[IOV_BATCH];
	size_t cnt = sl_outq_iov(q, iov, IOV_BATCH, NULL);
	size_t total = 0, i;
	ssize_t r;

	for (i = 0; i < cnt && total < budget; i++) {
		if (iov[i].iov_len > budget - total)
			iov[i].iov_len = budget - total;
		total += iov[i].iov_len;
	}
	*want = total;
	do
		r = writev(fd, iov, (int)i);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

ssize_t sl_outq_write(sl_outq *q, int fd)
{
	size_t total = 0;

	while (!sl_outq_empty(q) && total < SL_OUTQ_WRITE_MAX) {
		size_t budget = SL_OUTQ_WRITE_MAX - total, want;
		int ffd;
		off_t off;
		uint64_t flen;
		ssize_t r;

		if (sl_outq_head_file(q, &ffd, &off, &flen)) {
			want = flen < budget ? (size_t)flen : budget;
			r = send_file(fd, ffd, off, want);
			if (r == 0)
				r = SL_E_EOF;   /* the file is shorter than its range */
		} else {
			r = write_mem(q, fd, budget, &want);
		}
		if (r <= 0) {
			if (total)
				break;
			return r;
		}
		sl_outq_advance(q, (uint64_t)r);
		total += (size_t)r;
		if ((size_t)r < want)
			break;
	}
	return (ssize_t)total;
}
