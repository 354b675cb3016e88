/*
 * Implementation of the process log (see log.h). State is a few atomics and
 * a mutex that only open/reopen/close take; sl_log() itself takes no lock.
 * The log descriptor number is fixed once a file is opened: reopening
 * dup2()s the new file onto it, so concurrent writers stay safe.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

static atomic_int log_fd = 2;
static atomic_int log_level = SL_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_path[4096]; /* empty: stderr */
static _Thread_local char thread_name[16];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

int sl_log_open(const char *path)
{
	int rc = 0;

	pthread_mutex_lock(&log_lock);
	if (!path || strcmp(path, "-") == 0) {
		/* Keep the descriptor number, as for a file: another thread may be
		 * about to write to it, and a closed number could be reused by a
		 * socket before that write. */
		int cur = atomic_load(&log_fd);
		if (cur != 2 && dup2(2, cur) < 0)
			rc = -errno;
		else
			log_path[0] = '\0';
		goto out;
	}
	if (strlen(path) >= sizeof log_path) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	int fd = open_file(path);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	int cur = atomic_load(&log_fd);
	if (cur != 2) {
		/* Keep the descriptor number: writers may hold it right now. */
		if (dup2(fd, cur) < 0)
			rc = -errno;
		close(fd);
	} else {
		atomic_store(&log_fd, fd);
	}
	if (rc == 0)
		snprintf(log_path, sizeof log_path, "%s", path);
out:
	pthread_mutex_unlock(&log_lock);
	return rc;
}

int sl_log_reopen(void)
{
	int rc = 0;

	pthread_mutex_lock(&log_lock);
	if (log_path[0]) {
		int fd = open_file(log_path);
		if (fd < 0) {
			rc = fd;
		} else {
			if (dup2(fd, atomic_load(&log_fd)) < 0)
				rc = -errno;
			close(fd);
		}
	}
	pthread_mutex_unlock(&log_lock);
	return rc;
}

void sl_log_close(void)
{
	sl_log_open(NULL);
}

void sl_log_set_level(enum sl_log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum sl_log_level sl_log_get_level(void)
{
	return (enum sl_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int sl_log_level_parse(const char *s, enum sl_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum sl_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = SL_LOG_WARN;
		return 0;
	}
	return SL_E_INVAL;
}

const char *sl_log_level_name(enum sl_log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : "?";
}

void sl_log_set_thread_name(const char *name)
{
	snprintf(thread_name, sizeof thread_name, "%s", name ? name : "");
}

void sl_logv(enum sl_log_level level, const char *fmt, va_list ap)
{
	char line[SL_LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int w;

	if (!sl_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	w = snprintf(line + n, sizeof line - n, ".%03ldZ [%s] %s%s", ts.tv_nsec / 1000000,
		     sl_log_level_name(level), thread_name, thread_name[0] ? ": " : "");
	n += (size_t)w;
	w = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (w < 0)
		w = 0;
	if ((size_t)w >= sizeof line - n - 1) {
		/* Cut: leave room for "...\n". */
		n = sizeof line - 5;
		memcpy(line + n, "...", 3);
		n += 3;
	} else {
		n += (size_t)w;
	}
	line[n++] = '\n';
	/* One write per line; a short write to a full pipe loses the rest. */
	ssize_t rc;
	do {
		rc = write(atomic_load_explicit(&log_fd, memory_order_relaxed), line, n);
	} while (rc < 0 && errno == EINTR);
}

void sl_log(enum sl_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sl_logv(level, fmt, ap);
	va_end(ap);
}
