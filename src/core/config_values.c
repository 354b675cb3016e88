/*
 * The value syntaxes of the configuration, as pure functions: sizes
 * ("10GiB"), durations ("1h30m") and their canonical formatting, and the
 * host patterns of routes. Arithmetic is exact and integer-only: fractions
 * are kept to 6 digits and every step is checked for overflow, so a value
 * either parses to the number it spells or is refused. No allocation, no
 * state: safe from any thread.
 */
#include "core/config.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

/* A decimal number with an optional fraction of at most 6 digits. */
struct num {
	uint64_t whole;
	uint64_t frac;   /* the fraction's digits as an integer */
	uint64_t scale;  /* 10^(number of fraction digits), 1 when none */
};

static const char *number(const char *s, struct num *n)
{
	const char *p = s;
	n->whole = 0;
	n->frac = 0;
	n->scale = 1;
	if (*p < '0' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n->whole > (UINT64_MAX - d) / 10)
			return NULL;
		n->whole = n->whole * 10 + d;
	}
	if (*p != '.')
		return p;
	p++;
	if (*p < '0' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n->scale == 1000000)
			return NULL;
		n->frac = n->frac * 10 + (uint64_t)(*p - '0');
		n->scale *= 10;
	}
	return p;
}

/* n * unit, rounded down; false on overflow. unit is at most 2^40, so
 * frac * unit stays below 10^6 * 2^40 < 2^64. */
static bool scaled(const struct num *n, uint64_t unit, uint64_t *out)
{
	if (n->whole > UINT64_MAX / unit)
		return false;
	uint64_t w = n->whole * unit, f = n->frac * unit / n->scale;
	if (w > UINT64_MAX - f)
		return false;
	*out = w + f;
	return true;
}

static const struct unit {
	const char *name;
	uint64_t mult;
} size_units[] = {
	{"", 1}, {"B", 1},
	{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
	{"KB", 1000ull}, {"kB", 1000ull}, {"MB", 1000000ull}, {"GB", 1000000000ull},
	{"TB", 1000000000000ull},
};

/*
 * Parses a size such as "10GiB", "1GB", "1.5MiB" or "100" into bytes.
 * Returns 0 or SL_E_CONF_VALUE.
 */
int sl_parse_size(const char *s, uint64_t *out)
{
	struct num n;
	const char *p = s ? number(s, &n) : NULL;
	if (!p)
		return SL_E_CONF_VALUE;
	for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
		if (strcmp(p, size_units[i].name) != 0)
			continue;
		if (size_units[i].mult == 1 && n.scale != 1)
			return SL_E_CONF_VALUE; /* a fraction of a byte */
		return scaled(&n, size_units[i].mult, out) ? 0 : SL_E_CONF_VALUE;
	}
	return SL_E_CONF_VALUE;
}

/* Duration units, longest first: the order groups must appear in. */
static const struct unit time_units[] = {
	{"d", 86400000ull}, {"h", 3600000ull}, {"m", 60000ull}, {"s", 1000ull}, {"ms", 1ull},
};
#define N_TIME_UNITS (sizeof time_units / sizeof time_units[0])

/* Index of the unit at p (length in *len), or -1. "ms" is tried before
 * "m" so that "250ms" is not read as minutes followed by junk. */
static int time_unit(const char *p, size_t *len)
{
	if (p[0] == 'm' && p[1] == 's') {
		*len = 2;
		return 4;
	}
	for (int i = 0; i < 4; i++)
		if (p[0] == time_units[i].name[0]) {
			*len = 1;
			return i;
		}
	return -1;
}

/*
 * Parses a duration such as "1h30m", "250ms", "1.5s" or "30" (seconds)
 * into milliseconds. Returns 0 or SL_E_CONF_VALUE.
 */
int sl_parse_duration(const char *s, uint64_t *ms)
{
	struct num n;
	uint64_t total = 0, part;
	int last = -1;
	const char *p = s;
	if (!s || !*s)
		return SL_E_CONF_VALUE;
	while (*p) {
		p = number(p, &n);
		if (!p)
			return SL_E_CONF_VALUE;
		size_t len = 0;
		int u = *p ? time_unit(p, &len) : -1;
		if (u < 0) {
			/* A bare number is seconds, and only as the whole string. */
			if (*p || last >= 0)
				return SL_E_CONF_VALUE;
			u = 3;
		}
		if (u <= last)
			return SL_E_CONF_VALUE; /* out of order or repeated */
		if (!scaled(&n, time_units[u].mult, &part) || total > UINT64_MAX - part)
			return SL_E_CONF_VALUE;
		total += part;
		last = u;
		p += len;
	}
	*ms = total;
	return 0;
}

/* snprintf with the project's return convention. */
static int emit(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int emit(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		return SL_E_INVAL;
	return n;
}

/*
 * Formats bytes with the largest unit that divides it exactly, binary units
 * first, else as a bare number. Returns the length or SL_E_INVAL.
 */
int sl_format_size(uint64_t bytes, char *out, size_t cap)
{
	static const int order[] = {5, 4, 3, 2, 10, 9, 8, 6};
	if (bytes != 0)
		for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
			const struct unit *u = &size_units[order[i]];
			if (bytes % u->mult == 0)
				return emit(out, cap, "%llu%s",
					    (unsigned long long)(bytes / u->mult), u->name);
		}
	return emit(out, cap, "%llu", (unsigned long long)bytes);
}

/*
 * Formats ms as number-unit groups from days down to milliseconds, leaving
 * out zero groups; 0 is "0s". Returns the length or SL_E_INVAL.
 */
int sl_format_duration(uint64_t ms, char *out, size_t cap)
{
	size_t used = 0;
	if (ms == 0)
		return emit(out, cap, "0s");
	for (size_t i = 0; i < N_TIME_UNITS; i++) {
		uint64_t q = ms / time_units[i].mult;
		if (q == 0)
			continue;
		ms -= q * time_units[i].mult;
		int n = emit(out + used, cap > used ? cap - used : 0, "%llu%s",
			     (unsigned long long)q, time_units[i].name);
		if (n < 0)
			return SL_E_INVAL;
		used += (size_t)n;
	}
	return (int)used;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Glob match with "*" and "?", ASCII case folded. The classic linear
 * backtracking: on a mismatch, retry from just after the last star. */
static bool glob(const char *pat, const char *s, size_t n)
{
	const char *star = NULL;
	size_t i = 0, resume = 0;
	while (i < n) {
		if (*pat == '*') {
			star = ++pat;
			resume = i;
		} else if (*pat && (*pat == '?' || lower(*pat) == lower(s[i]))) {
			pat++;
			i++;
		} else if (star) {
			pat = star;
			i = ++resume;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

/*
 * Matches a host name against a route pattern: ".suffix" (literal, no
 * wildcards) for a domain and everything under it, else a glob. See config.h.
 */
bool sl_config_host_match(const char *pattern, const char *host, size_t n)
{
	if (pattern[0] == '.') {
		size_t m = strlen(pattern + 1);
		if (n == m)
			return strncasecmp(pattern + 1, host, n) == 0;
		return n > m && strncasecmp(pattern, host + n - m - 1, m + 1) == 0;
	}
	return glob(pattern, host, n);
}
