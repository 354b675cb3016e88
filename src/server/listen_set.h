/*
 * The set of addresses the proxy listens on, as the main thread keeps it:
 * the config's `listen` entries resolved into bind points (one per TCP
 * address, names resolved once here, duplicates merged; one per unix path)
 * and the comparison a reload makes between the running set and a new one.
 * A point keeps its id for as long as it stays in the set: workers know
 * their listening sockets by it, so a reload can say "keep 3, close 5, here
 * is a socket for 9" and an unchanged listener is never closed and opened
 * again. Equality is by what the socket binds: family, address and port, or
 * the unix path.
 *
 * TCP points have one socket per worker (SO_REUSEPORT), opened by the main
 * thread and handed over; a unix point has one socket, opened here and
 * shared by every worker, which the main thread closes (and unlinks) only
 * once no worker watches it. Resolving may block (getaddrinfo): main
 * thread only.
 */
#ifndef SL_SERVER_LISTEN_SET_H
#define SL_SERVER_LISTEN_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/config.h"

#define SL_LISTEN_MAX_POINTS 64
#define SL_LISTEN_PATH_MAX 108 /* sun_path */

typedef struct sl_bind_point {
	uint64_t id;                  /* 0 until the set is adopted */
	bool unix_sock;
	sl_addr addr;                 /* TCP */
	uint16_t port;
	char path[SL_LISTEN_PATH_MAX]; /* unix */
	int shared_fd;                /* unix: the one socket, -1 while closed */
	char label[SL_LISTEN_PATH_MAX + 16]; /* "127.0.0.1:3128", "[::1]:3128",
	                                        "unix:/run/sluice.sock" */
} sl_bind_point;

typedef struct sl_listen_set {
	sl_bind_point v[SL_LISTEN_MAX_POINTS];
	size_t n;
} sl_listen_set;

/*
 * Resolves the listen entries into out (emptied first): addresses as they
 * are, names through getaddrinfo (every address they have), unix paths;
 * equal points once. Ids are 0 and sockets closed. Returns 0, or -1 with a
 * reason in err (a name that does not resolve, a path too long, more than
 * SL_LISTEN_MAX_POINTS points).
 */
int sl_listen_set_resolve(const sl_conf_listens *ls, sl_listen_set *out, char *err,
			  size_t errlen);

/* True when a and b bind the same thing (the same TCP address and port,
 * or the same unix path). */
bool sl_bind_point_same(const sl_bind_point *a, const sl_bind_point *b);

/*
 * Compares the running set with a new one: for each point of nw,
 * new_from_old[i] is the index of the same point in old or -1 (added); for
 * each point of old, old_in_new[j] is its index in nw or -1 (removed).
 * Either array may be NULL. Returns the number of points that differ
 * (added plus removed): 0 when the sets bind the same things.
 */
size_t sl_listen_set_diff(const sl_listen_set *old, const sl_listen_set *nw,
			  int *new_from_old, int *old_in_new);

/*
 * Checks that nobody listens on TCP point p yet: our own sockets share the
 * address through SO_REUSEPORT, which would also let us join a stranger's.
 * Returns 0, or -1 with "cannot listen on LABEL: reason" in err.
 */
int sl_bind_point_probe(const sl_bind_point *p, char *err, size_t errlen);

/* Opens one worker's socket of TCP point p (SO_REUSEPORT). Returns the fd,
 * or -1 with the reason in err. */
int sl_bind_point_open_tcp(const sl_bind_point *p, char *err, size_t errlen);

/* Opens the shared socket of unix point p into p->shared_fd. Returns 0, or
 * -1 with the reason in err. */
int sl_bind_point_open_unix(sl_bind_point *p, char *err, size_t errlen);

/* Closes the shared socket of a unix point and removes its file; nothing
 * for TCP points or a closed socket. */
void sl_bind_point_close(sl_bind_point *p);

/* Writes the labels of the set's points, comma-separated, into out. */
void sl_listen_set_labels(const sl_listen_set *s, char *out, size_t cap);

#endif
