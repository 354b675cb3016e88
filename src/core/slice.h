/*
 * The slice: a pointer and a length into memory somebody else owns. Parsed
 * request lines, header names and values are slices into the read buffer, so
 * parsing copies nothing. A slice is valid only as long as its owner's memory.
 * Header-only: every function here is a small static inline.
 */
#ifndef SL_CORE_SLICE_H
#define SL_CORE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

typedef struct sl_slice {
	const char *p;
	size_t n;
} sl_slice;

#define SL_SLICE_LIT(s) ((sl_slice){(s), sizeof(s) - 1})
#define SL_SLICE_NULL ((sl_slice){NULL, 0})
/* printf("%.*s", SL_SLICE_FMT(s)) */
#define SL_SLICE_FMT(s) (int)(s).n, (s).p

static inline sl_slice sl_slice_make(const char *p, size_t n)
{
	return (sl_slice){p, n};
}

static inline sl_slice sl_slice_cstr(const char *s)
{
	return (sl_slice){s, s ? strlen(s) : 0};
}

static inline bool sl_slice_eq(sl_slice a, sl_slice b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* ASCII case-insensitive comparison, as field names and schemes need. */
static inline bool sl_slice_case_eq(sl_slice a, sl_slice b)
{
	return a.n == b.n && (a.n == 0 || strncasecmp(a.p, b.p, a.n) == 0);
}

static inline bool sl_slice_case_eq_cstr(sl_slice a, const char *b)
{
	return sl_slice_case_eq(a, sl_slice_cstr(b));
}

static inline bool sl_slice_eq_cstr(sl_slice a, const char *b)
{
	return sl_slice_eq(a, sl_slice_cstr(b));
}

/* Removes leading and trailing SP and HTAB (HTTP's OWS). */
static inline sl_slice sl_slice_trim_ows(sl_slice s)
{
	while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.n--;
	}
	while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
		s.n--;
	return s;
}

/* The value of one hexadecimal digit of either case, or -1. */
static inline int sl_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
