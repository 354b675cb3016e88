/*
 * Helpers the cache tests share: a temporary directory per test, a store
 * opened in it, objects written in one call, and waits bounded in time.
 */
#ifndef SL_TESTS_CACHE_UTIL_H
#define SL_TESTS_CACHE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/store.h"

/* Makes a fresh directory under /tmp into dir (cap >= 64). */
void cu_mkdtemp(char *dir, size_t cap);

/* Removes dir and everything below it. */
void cu_rmtree(const char *dir);

/* Waits (bounded: about 10 s) until the rebuild is done. */
bool cu_wait_ready(sl_cache *c);

/* Metadata of a response fresh for an hour, with body_len. */
sl_cache_meta cu_meta(uint64_t body_len);

/* Stores key with fields f[0..n) and body[0..len) in chunks of 1000 bytes;
 * returns the commit's result. */
int cu_put(sl_cache *c, const char *key, const sl_field *f, size_t n, const void *body,
	   size_t len);

/* Reads the whole body of o into out (cap bytes); returns its length or -1. */
long cu_body(const sl_cache_obj *o, char *out, size_t cap);

/* The full path of key's file under dir. */
void cu_path(const char *dir, const char *key, char *out, size_t cap);

/* Counts regular files under dir/sub (recursively). */
int cu_count_files(const char *dir, const char *sub);

/* Copies the file src to dst, making dst's two parent directories. */
int cu_copy(const char *src, const char *dst);

#endif
