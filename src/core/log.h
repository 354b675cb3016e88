/*
 * The process log: levelled, timestamped lines to stderr or a file, safe to
 * call from any thread. Each line is formatted on the caller's stack and
 * written with one write(2) on an O_APPEND descriptor, so lines from several
 * workers never interleave. Reopening (after log rotation, on SIGUSR1)
 * replaces the file under the same descriptor number with dup2(), so a
 * writer racing with a reopen writes to either the old or the new file,
 * never to a closed descriptor.
 */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H

#include <stdarg.h>

enum sl_log_level {
	SL_LOG_DEBUG = 0,
	SL_LOG_INFO = 1,
	SL_LOG_WARN = 2,
	SL_LOG_ERROR = 3,
};

/* Longest line written; longer messages are cut and end in "...". */
#define SL_LOG_LINE_MAX 2048

/*
 * Sends the log to path ("-" or NULL: stderr). The file is created with
 * mode 0640 and opened for appending. Returns 0 or -errno; on error the
 * previous destination stays.
 */
int sl_log_open(const char *path);

/* Reopens the current log file (no-op for stderr). Returns 0 or -errno. */
int sl_log_reopen(void);

/* Returns the log to stderr and closes the file, if any (its descriptor
 * number stays open on stderr, so a writer racing the call never writes to
 * a reused number). */
void sl_log_close(void);

void sl_log_set_level(enum sl_log_level level);
enum sl_log_level sl_log_get_level(void);

/* Parses "debug", "info", "warn" (or "warning") and "error". Returns 0 or
 * SL_E_INVAL. */
int sl_log_level_parse(const char *s, enum sl_log_level *out);
const char *sl_log_level_name(enum sl_log_level level);

/* Names the calling thread in its log lines ("main", "w0"...); the string
 * is copied (up to 15 bytes). */
void sl_log_set_thread_name(const char *name);

/* Writes one line at level when level is enabled. A trailing newline is
 * added; fmt should not end in one. */
void sl_log(enum sl_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sl_logv(enum sl_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define sl_log_enabled(level) ((level) >= sl_log_get_level())
#define SL_DEBUG(...) \
	do { if (sl_log_enabled(SL_LOG_DEBUG)) sl_log(SL_LOG_DEBUG, __VA_ARGS__); } while (0)
#define SL_INFO(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define SL_WARN(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define SL_ERROR(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)

#endif
