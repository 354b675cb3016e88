/*
 * The system-specific part of the TCP engine: creating a socket that is
 * non-blocking and close-on-exec in one call where the system allows it
 * (Linux and the BSDs take the flags in socket(2); elsewhere fcntl(2)
 * follows, leaving a short window in which a fork could inherit the fd),
 * and the keepalive timing options, which POSIX does not name. Nothing
 * here keeps state.
 */
#include "engines/tcp_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* Keepalive timing: first probe after 60 s idle, then every 10 s, 5 times. */
#define KEEP_IDLE_S 60
#define KEEP_INTVL_S 10
#define KEEP_CNT 5

int sl__tcp_socket(int family)
{
	int fd;

#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
#else
	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
#endif
	return fd;
}

void sl__tcp_keepalive_timing(int fd)
{
#if defined(TCP_KEEPIDLE) && defined(TCP_KEEPINTVL) && defined(TCP_KEEPCNT)
	int idle = KEEP_IDLE_S, intvl = KEEP_INTVL_S, cnt = KEEP_CNT;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#else
	(void)fd; /* the system's defaults apply */
#endif
}
