/*
 * What the files of the TCP engine share: socket creation and the options
 * whose spelling depends on the system (tcp_linux.c), and the order in
 * which connect failures are judged (tcp.c), exposed for the unit tests.
 */
#ifndef SL_ENGINES_TCP_INTERNAL_H
#define SL_ENGINES_TCP_INTERNAL_H

/*
 * Opens a non-blocking, close-on-exec stream socket of family. Returns the
 * fd or -errno.
 */
int sl__tcp_socket(int family);

/*
 * Sets the keepalive timing on fd where the system lets us (idle time,
 * probe interval and count), so a dead peer of an idle cached connection
 * is noticed within minutes rather than hours. Best effort: failures are
 * ignored. SO_KEEPALIVE itself is set by the caller.
 */
void sl__tcp_keepalive_timing(int fd);

/*
 * Of two classified connect failures, returns the one that tells more
 * about the host: refused, then timed out, then unreachable, then any
 * other error; 0 counts as no error. On a tie the first is kept.
 */
int sl__tcp_pick(int kept, int next);

#endif
