/*
 * Helpers the cache tests share (see cache_util.h).
 */
#include "cache_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

void cu_mkdtemp(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/sl-cache-XXXXXX");
	if (!mkdtemp(dir))
		abort();
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void cu_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

bool cu_wait_ready(sl_cache *c)
{
	struct timespec ms = {0, 1000000};

	for (int i = 0; i < 10000; i++) {
		if (sl_cache_ready(c))
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

sl_cache_meta cu_meta(uint64_t body_len)
{
	int64_t now = (int64_t)time(NULL);

	return (sl_cache_meta){
		.status = 200,
		.request_time = now,
		.response_time = now,
		.corrected_initial_age = 0,
		.freshness_lifetime = 3600,
		.stale_while_revalidate = -1,
		.stale_if_error = -1,
		.body_len = body_len,
	};
}

int cu_put(sl_cache *c, const char *key, const sl_field *f, size_t n, const void *body,
	   size_t len)
{
	sl_cache_meta m = cu_meta(len);
	sl_cache_writer *w;
	int rc = sl_cache_writer_open(c, sl_slice_cstr(key), &m, f, n, &w);

	if (rc < 0)
		return rc;
	for (size_t off = 0; off < len; off += 1000) {
		size_t k = len - off < 1000 ? len - off : 1000;
		rc = sl_cache_writer_append(w, (const char *)body + off, k);
		if (rc < 0) {
			sl_cache_writer_abort(w);
			return rc;
		}
	}
	return sl_cache_writer_commit(w, NULL);
}

long cu_body(const sl_cache_obj *o, char *out, size_t cap)
{
	size_t len = (size_t)o->meta.body_len;

	if (len > cap)
		return -1;
	if (o->body) {
		memcpy(out, o->body, len);
		return (long)len;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(o->fd, out + got, len - got, o->body_off + (off_t)got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return (long)len;
}

void cu_path(const char *dir, const char *key, char *out, size_t cap)
{
	char rel[80];

	sl_cache_key_path(sl_slice_cstr(key), rel, sizeof rel);
	snprintf(out, cap, "%s/%s", dir, rel);
}

static int count_in(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char sub[4096];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		if (lstat(sub, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			n += count_in(sub);
		else
			n++;
	}
	closedir(d);
	return n;
}

int cu_count_files(const char *dir, const char *sub)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, sub ? sub : "");
	return count_in(path);
}

int cu_copy(const char *src, const char *dst)
{
	char d[4096], buf[8192];
	size_t n = strlen(dst);

	if (n >= sizeof d)
		return -1;
	memcpy(d, dst, n + 1);
	char *slash = strrchr(d, '/');
	*slash = '\0';
	char *up = strrchr(d, '/');
	*up = '\0';
	mkdir(d, 0755);
	*up = '/';
	mkdir(d, 0755);
	int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t r = 0;
	while (in >= 0 && out >= 0 && (r = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)r) != r)
			r = -1;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return in < 0 || out < 0 || r < 0 ? -1 : 0;
}
