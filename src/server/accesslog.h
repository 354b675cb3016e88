/*
 * The access log: one line per request, in Squid's native format by default
 * (log.format "squid") or as JSON lines ("json"). Any worker thread may
 * write: each line is formatted on the caller's stack and written with one
 * write(2) on an O_APPEND descriptor, so lines never interleave. Reopening
 * (SIGUSR1, after rotation) swaps the file under the same descriptor with
 * dup2(), so writers racing a reopen stay safe.
 *
 * Squid's native format, one request per line:
 *   time.ms elapsed_ms client result/status bytes method url user hierarchy/host type
 *   1700000000.123    105 127.0.0.1 TCP_MISS/200 1234 GET http://example.com/ - HIER_DIRECT/93.184.216.34 text/html
 */
#ifndef SL_SERVER_ACCESSLOG_H
#define SL_SERVER_ACCESSLOG_H

#include "core/config.h"
#include "server/server.h"

typedef struct sl_accesslog sl_accesslog;

/*
 * Opens the log at path ("-" for stderr, "" for none: writes are dropped)
 * in format fmt. Returns the log, or NULL with *err set to -errno.
 */
sl_accesslog *sl_accesslog_open(const char *path, sl_conf_log_format fmt, int *err);

/* Writes one entry; arg is the sl_accesslog (sl_access_log_fn signature).
 * Thread-safe; never blocks on a lock. */
void sl_accesslog_write(void *arg, const sl_access_entry *e);

/* Formats e as the log would write it (without the newline) into out.
 * Returns the length, truncated to cap - 1. */
size_t sl_accesslog_format(sl_conf_log_format fmt, const sl_access_entry *e, char *out,
			   size_t cap);

/* Reopens the file (after rotation). Returns 0 or -errno. */
int sl_accesslog_reopen(sl_accesslog *l);

void sl_accesslog_close(sl_accesslog *l);

#endif
