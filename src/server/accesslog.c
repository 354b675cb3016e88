/*
 * The access log (see accesslog.h). A line is formatted on the caller's
 * stack and written with one write(2); the descriptor number never changes
 * after open (reopen dup2()s the new file onto it), so any worker may write
 * at any time without a lock. Fields that could carry spaces or control
 * characters (URLs come from clients) are escaped so one request is always
 * one line with a fixed number of fields.
 */
#include "server/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_MAGIC 0x41434c47u /* "ACLG" */
#define LINE_MAX_BYTES 8192

struct sl_accesslog {
	uint32_t magic;
	int fd;                    /* -1: writes are dropped */
	bool own_fd;               /* a file we opened (not stderr) */
	sl_conf_log_format fmt;
	pthread_mutex_t lock;      /* reopen and close only */
	char path[4096];
};

sl_accesslog *sl_accesslog_open(const char *path, sl_conf_log_format fmt, int *err)
{
	sl_accesslog *l = calloc(1, sizeof *l);

	*err = 0;
	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	l->magic = LOG_MAGIC;
	l->fmt = fmt;
	l->fd = -1;
	pthread_mutex_init(&l->lock, NULL);
	if (path && strcmp(path, "-") == 0) {
		l->fd = 2;
	} else if (path && *path) {
		if (strlen(path) >= sizeof l->path) {
			*err = -ENAMETOOLONG;
			goto fail;
		}
		snprintf(l->path, sizeof l->path, "%s", path);
		l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (l->fd < 0) {
			*err = -errno;
			goto fail;
		}
		l->own_fd = true;
	}
	return l;
fail:
	pthread_mutex_destroy(&l->lock);
	free(l);
	return NULL;
}

/* Appends s to out[*n..cap), replacing what would break the line: for the
 * Squid format spaces become %20 and controls %XX; for JSON the string is
 * escaped per RFC 8259. */
static void put(char *out, size_t *n, size_t cap, const char *s, bool json)
{
	static const char hex[] = "0123456789ABCDEF";

	if (!s || !*s) {
		s = json ? "" : "-";
	}
	for (; *s && *n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (json) {
			if (c == '"' || c == '\\') {
				out[(*n)++] = '\\';
				out[(*n)++] = (char)c;
			} else if (c < 0x20 || c == 0x7f) {
				*n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
			} else {
				out[(*n)++] = (char)c;
			}
		} else if (c <= 0x20 || c == 0x7f) {
			out[(*n)++] = '%';
			out[(*n)++] = hex[c >> 4];
			out[(*n)++] = hex[c & 15];
		} else {
			out[(*n)++] = (char)c;
		}
	}
}

static void putf(char *out, size_t *n, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void putf(char *out, size_t *n, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*n >= cap)
		return;
	va_start(ap, fmt);
	w = vsnprintf(out + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (w > 0)
		*n = *n + (size_t)w < cap ? *n + (size_t)w : cap - 1;
}

static void json_field(char *out, size_t *n, size_t cap, const char *key, const char *v,
		       bool comma)
{
	putf(out, n, cap, "%s\"%s\":\"", comma ? "," : "", key);
	put(out, n, cap, v, true);
	putf(out, n, cap, "\"");
}

size_t sl_accesslog_format(sl_conf_log_format fmt, const sl_access_entry *e, char *out,
			   size_t cap)
{
	size_t n = 0;
	long long total_ms = (long long)(e->start * 1000.0 + 0.5);
	long sec = (long)(total_ms / 1000);
	int ms = (int)(total_ms % 1000);

	if (cap == 0)
		return 0;
	out[0] = '\0';
	if (fmt == SL_CONF_LOG_JSON) {
		putf(out, &n, cap, "{\"time\":%ld.%03d,\"duration_ms\":%llu", sec, ms,
		     (unsigned long long)e->duration_ms);
		json_field(out, &n, cap, "client", e->client, true);
		json_field(out, &n, cap, "result", e->result, true);
		putf(out, &n, cap, ",\"status\":%d,\"bytes\":%llu,\"bytes_in\":%llu", e->status,
		     (unsigned long long)e->bytes, (unsigned long long)e->bytes_in);
		json_field(out, &n, cap, "method", e->method, true);
		json_field(out, &n, cap, "url", e->url, true);
		json_field(out, &n, cap, "user", e->user && strcmp(e->user, "-") ? e->user : "",
			   true);
		json_field(out, &n, cap, "route", e->route, true);
		json_field(out, &n, cap, "content_type",
			   e->content_type && strcmp(e->content_type, "-") ? e->content_type : "",
			   true);
		if (e->error) {
			json_field(out, &n, cap, "error", e->error, true);
		}
		putf(out, &n, cap, "}");
	} else {
		putf(out, &n, cap, "%ld.%03d %6llu ", sec, ms, (unsigned long long)e->duration_ms);
		put(out, &n, cap, e->client, false);
		putf(out, &n, cap, " ");
		put(out, &n, cap, e->result ? e->result : "NONE", false);
		putf(out, &n, cap, "/%03d %llu ", e->status, (unsigned long long)e->bytes);
		put(out, &n, cap, e->method, false);
		putf(out, &n, cap, " ");
		put(out, &n, cap, e->url, false);
		putf(out, &n, cap, " ");
		put(out, &n, cap, e->user, false);
		putf(out, &n, cap, " ");
		put(out, &n, cap, e->route ? e->route : "HIER_NONE/-", false);
		putf(out, &n, cap, " ");
		put(out, &n, cap, e->content_type, false);
	}
	out[n < cap ? n : cap - 1] = '\0';
	return n < cap ? n : cap - 1;
}

void sl_accesslog_write(void *arg, const sl_access_entry *e)
{
	sl_accesslog *l = arg;
	char line[LINE_MAX_BYTES];
	size_t n;
	ssize_t w;

	if (!l || l->fd < 0)
		return;
	n = sl_accesslog_format(l->fmt, e, line, sizeof line - 1);
	line[n++] = '\n';
	do {
		w = write(l->fd, line, n);
	} while (w < 0 && errno == EINTR);
}

int sl_accesslog_reopen(sl_accesslog *l)
{
	int rc = 0;

	if (!l || !l->own_fd)
		return 0;
	pthread_mutex_lock(&l->lock);
	int fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = -errno;
	} else {
		if (dup2(fd, l->fd) < 0)
			rc = -errno;
		close(fd);
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

void sl_accesslog_close(sl_accesslog *l)
{
	if (!l)
		return;
	if (l->own_fd)
		close(l->fd);
	pthread_mutex_destroy(&l->lock);
	l->magic = 0;
	free(l);
}
