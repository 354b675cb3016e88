/*
 * Listening sockets. Every worker has its own TCP listening socket per
 * address, all bound to the same address with SO_REUSEPORT so the kernel
 * spreads new connections over the workers; a unix socket is opened once
 * and shared by every worker (their accept races are harmless: the losers
 * get EAGAIN). Sockets are opened by the main thread before any worker
 * starts, so a bad address fails the start-up with a clear error. The
 * Linux specifics (SO_REUSEPORT, accept4) live in listen_linux.c with
 * fallbacks where they are missing.
 */
#ifndef SL_SERVER_LISTEN_H
#define SL_SERVER_LISTEN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"

#define SL_LISTEN_BACKLOG 4096

/*
 * Opens a non-blocking, close-on-exec TCP socket listening on a:port with
 * SO_REUSEADDR, SO_REUSEPORT when reuseport (and the system has it) and
 * IPV6_V6ONLY for IPv6. Returns the fd, or -errno.
 */
int sl_listen_tcp(const sl_addr *a, uint16_t port, bool reuseport, int backlog);

/*
 * Opens a non-blocking unix socket listening at path, mode 0660. A socket
 * file left by an earlier run is removed first when nothing answers on it;
 * one that answers is -EADDRINUSE. Returns the fd, or -errno.
 */
int sl_listen_unix(const char *path, int backlog);

/*
 * Accepts one connection from lfd as a non-blocking, close-on-exec socket
 * (accept4 where available). *len is the room in ss on entry, the peer's
 * address length on return. Returns the fd, or -errno (-EAGAIN when the
 * queue is empty).
 */
int sl_listen_accept(int lfd, struct sockaddr_storage *ss, socklen_t *len);

/* Sets TCP_NODELAY on an accepted TCP socket (errors ignored). */
void sl_listen_tune(int fd);

#endif
