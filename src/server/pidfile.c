/*
 * The pid file (see pidfile.h). Plain blocking file calls: the main thread
 * uses them at start, on reload and at exit, and `sluice -s` before
 * anything runs.
 */
#include "server/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

int sl_pidfile_write(const char *path, pid_t pid)
{
	char tmp[4200], text[32];
	int n = snprintf(text, sizeof text, "%ld\n", (long)pid), fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)pid) >= sizeof tmp)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, text, (size_t)n) != n)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int sl_pidfile_read(const char *path, pid_t *pid)
{
	char text[32], *end;
	ssize_t n;
	long v;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	errno = 0;
	v = strtol(text, &end, 10);
	if (end == text || errno || v <= 0 || (pid_t)v != v || (*end && *end != '\n'))
		return SL_E_INVAL;
	*pid = (pid_t)v;
	return 0;
}

void sl_pidfile_remove(const char *path, pid_t pid)
{
	pid_t cur;

	if (path[0] && sl_pidfile_read(path, &cur) == 0 && cur == pid)
		unlink(path);
}
