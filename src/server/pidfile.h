/*
 * The pid file: the running proxy writes its process id to the file that
 * pid_file names, so that `sluice -s reload|stop -c FILE` can find it. The
 * file holds the decimal pid and a newline; it is replaced whole (written
 * to a temporary file beside it, then renamed), so a reader never sees it
 * half written, and removed at exit only while it still names this
 * process.
 */
#ifndef SL_SERVER_PIDFILE_H
#define SL_SERVER_PIDFILE_H

#include <sys/types.h>

/* Writes pid to path. Returns 0 or -errno. */
int sl_pidfile_write(const char *path, pid_t pid);

/*
 * Reads the pid in path into *pid. Returns 0, -errno (-ENOENT: no such
 * file), or SL_E_INVAL when the file does not hold a positive decimal pid.
 */
int sl_pidfile_read(const char *path, pid_t *pid);

/* Removes path when it names pid (else leaves it: another instance wrote
 * it since). */
void sl_pidfile_remove(const char *path, pid_t pid);

#endif
