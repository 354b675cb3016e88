/*
 * Listening sockets on Linux (see listen.h): SO_REUSEPORT so each worker
 * owns a socket of the same address, accept4() to get non-blocking,
 * close-on-exec sockets in one call. Where either is missing the code falls
 * back to one shared socket's semantics (bind fails for the second worker,
 * reported as such) and to accept() followed by fcntl().
 */
#include "server/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static __attribute__((unused)) int nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int new_socket(int family)
{
#ifdef SOCK_NONBLOCK
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
#else
	int fd = socket(family, SOCK_STREAM, 0), rc;
	if (fd < 0)
		return -errno;
	if ((rc = nonblock_cloexec(fd)) < 0) {
		close(fd);
		return rc;
	}
	return fd;
#endif
}

int sl_listen_tcp(const sl_addr *a, uint16_t port, bool reuseport, int backlog)
{
	struct sockaddr_storage ss;
	size_t len = sl_addr_to_sockaddr(a, port, (struct sockaddr *)&ss);
	int one = 1, fd, rc;

	fd = new_socket(a->family);
	if (fd < 0)
		return fd;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		goto fail;
#ifdef SO_REUSEPORT
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		goto fail;
#else
	(void)reuseport;
#endif
	if (a->family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 || listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

/* Whether something accepts connections on the unix socket at path. */
static bool answers(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool yes;

	if (fd < 0)
		return false;
	yes = connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0;
	close(fd);
	return yes;
}

int sl_listen_unix(const char *path, int backlog)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, rc;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (answers(&sun))
			return -EADDRINUSE;
		if (unlink(path) < 0)
			return -errno;
	}
	fd = new_socket(AF_UNIX);
	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
		goto fail;
	if (chmod(path, 0660) < 0 || listen(fd, backlog) < 0) {
		rc = -errno;
		unlink(path);
		close(fd);
		return rc;
	}
	return fd;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

int sl_listen_accept(int lfd, struct sockaddr_storage *ss, socklen_t *len)
{
	int fd;

#if defined(__linux__) && defined(SOCK_NONBLOCK)
	fd = accept4(lfd, (struct sockaddr *)ss, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
#else
	int rc;
	fd = accept(lfd, (struct sockaddr *)ss, len);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((rc = nonblock_cloexec(fd)) < 0) {
		close(fd);
		return rc;
	}
#endif
	return fd;
}

void sl_listen_tune(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
