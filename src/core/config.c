/*
 * Loading the configuration. jansson parses the file (rejecting repeated
 * keys); then every JSON object of the schema is walked against a static
 * table of {key, kind, offset, default, range}, so each key is checked,
 * stored and printed back by the same few functions and every error reads
 * the same way. Defaults are written in the tables as JSON text and go
 * through the same setters as the file's values, so "{}" yields exactly what
 * docs/config.md says and sl_config_dump() prints. The walk keeps the JSON
 * path it is at; the first error stops it and is reported as
 * "file:line: path: message", the line found by config_scan.c. Every string
 * and array lands in one arena owned by the config, so a failed load and
 * sl_config_free() release everything at once. After load nothing writes to
 * the config but its reference count.
 */
#include "core/config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config_internal.h"
#include "core/err.h"

#define MAX_FILE (16u << 20)
#define YEAR_MS (365ull * 86400000ull)

/* ---- Arena --------------------------------------------------------- */

struct sl__config_arena {
	struct sl__config_arena *next;
	size_t used, cap;
	max_align_t data[];
};

/* Zeroed memory that lives as long as cfg; NULL when out of memory. */
static void *arena_alloc(sl_config *cfg, size_t n)
{
	const size_t a = _Alignof(max_align_t);
	n = n ? (n + a - 1) & ~(a - 1) : a;
	struct sl__config_arena *b = cfg->arena;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > 4096 ? n : 4096;
		b = calloc(1, sizeof *b + cap);
		if (!b)
			return NULL;
		b->cap = cap;
		b->next = cfg->arena;
		cfg->arena = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

static void destroy(sl_config *cfg)
{
	struct sl__config_arena *b = cfg->arena, *next;
	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	cfg->magic = 0;
	cfg->arena = NULL;
	free(cfg);
}

/* ---- The walk's context and its errors ------------------------------ */

static void compose(sl_config_error *e, const char *name)
{
	char line[16] = "";
	if (e->line)
		snprintf(line, sizeof line, ":%u", e->line);
	int n = snprintf(e->text, sizeof e->text, "%s%s: %s%s%s", name, line, e->path,
			 e->path[0] ? ": " : "", e->message);
	(void)n; /* a report longer than the buffer is cut, as documented */
}

static int vfail(sl__config_ctx *c, int code, bool at_key, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static int vfail(sl__config_ctx *c, int code, bool at_key, const char *fmt, va_list ap)
{
	sl_config_error *e = c->err;
	size_t n = c->depth;
	if (c->pin && c->pin < n) {
		n = c->pin;
		at_key = false;
	}
	e->code = code;
	sl__config_path_format(c->segs, n, e->path, sizeof e->path);
	e->line = sl__config_line_of(c->text, c->len, c->segs, n, at_key);
	/* A value the file does not spell out (a default, a part of a URL):
	 * report the line of the nearest enclosing value it does. */
	for (size_t k = n; e->line == 0 && k > 0; k--)
		e->line = sl__config_line_of(c->text, c->len, c->segs, k - 1, false);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	compose(e, c->name);
	return code;
}

/* Reports an error about the value at the current path. */
int sl__config_fail(sl__config_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vfail(c, code, false, fmt, ap);
	va_end(ap);
	return rc;
}

/* Reports an error about the key that ends the current path. */
int sl__config_fail_key(sl__config_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vfail(c, code, true, fmt, ap);
	va_end(ap);
	return rc;
}

/* Reports an error about the value of key inside the current object. */
int sl__config_fail_in(sl__config_ctx *c, const char *key, int code, const char *fmt, ...)
{
	va_list ap;
	sl__config_push_key(c, key);
	va_start(ap, fmt);
	int rc = vfail(c, code, false, fmt, ap);
	va_end(ap);
	sl__config_pop(c);
	return rc;
}

/* Records "out of memory" at the current path. */
int sl__config_oom(sl__config_ctx *c)
{
	return sl__config_fail(c, SL_E_NOMEM, "out of memory");
}

/* The value as the report quotes it: compact JSON, cut when long. */
const char *sl__config_got(json_t *v, char *buf, size_t cap)
{
	if (json_is_object(v))
		return "an object";
	if (json_is_array(v))
		return "an array";
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (!s)
		return "a value";
	size_t n = strlen(s);
	if (n < cap)
		memcpy(buf, s, n + 1);
	else
		snprintf(buf, cap, "%.*s...%s", (int)(cap - 6), s, json_is_string(v) ? "\"" : "");
	free(s);
	return buf;
}

/* Copies n bytes into the arena, NUL-terminated. */
char *sl__config_dupn(sl__config_ctx *c, const char *s, size_t n)
{
	char *d = arena_alloc(c->cfg, n + 1);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Zeroed room for n elements in the arena, refusing sizes that overflow. */
void *sl__config_alloc_array(sl__config_ctx *c, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return arena_alloc(c->cfg, n * size);
}

/* ---- Scalars --------------------------------------------------------- */

static int set_bool(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	(void)f;
	if (!json_is_boolean(v))
		return sl__config_fail(c, SL_E_CONF_TYPE, "expected true or false, got %s", GOT(v));
	*(bool *)dst = json_is_true(v);
	return 0;
}

static json_t *dump_bool(const void *src, const sl__config_field *f)
{
	(void)f;
	return json_boolean(*(const bool *)src);
}

static int set_string(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	if (!json_is_string(v))
		return sl__config_fail(c, SL_E_CONF_TYPE, "expected a string, got %s", GOT(v));
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	int rc = f->check ? f->check(c, s, n, v) : 0;
	if (rc)
		return rc;
	char *d = sl__config_dupn(c, s, n);
	if (!d)
		return sl__config_oom(c);
	*(const char **)dst = d;
	return 0;
}

static json_t *dump_string(const void *src, const sl__config_field *f)
{
	(void)f;
	const char *s = *(const char *const *)src;
	return json_string(s ? s : "");
}

static json_t *dump_secret(const void *src, const sl__config_field *f)
{
	(void)src;
	(void)f;
	return json_string("***");
}

/* Checks x against the field's range, formatting the bounds with fmt. */
static int in_range(sl__config_ctx *c, json_t *v, uint64_t x, const sl__config_field *f,
		    int (*fmt)(uint64_t, char *, size_t))
{
	uint64_t max = f->max ? f->max : UINT64_MAX;
	char lo[32], hi[32];
	if (x >= f->min && x <= max)
		return 0;
	fmt(f->min, lo, sizeof lo);
	fmt(max, hi, sizeof hi);
	if (max == UINT64_MAX)
		return sl__config_fail(c, SL_E_CONF_VALUE, "must be at least %s, got %s", lo,
				       GOT(v));
	if (f->min == 0)
		return sl__config_fail(c, SL_E_CONF_VALUE, "must be at most %s, got %s", hi,
				       GOT(v));
	return sl__config_fail(c, SL_E_CONF_VALUE, "must be from %s to %s, got %s", lo, hi, GOT(v));
}

static int set_size(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	uint64_t x;
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		x = (uint64_t)json_integer_value(v);
	else if (!json_is_string(v) || sl_parse_size(json_string_value(v), &x) != 0)
		return sl__config_fail(c, sl__config_code(json_is_string(v) || json_is_number(v)),
				       "expected a size like \"10GiB\", got %s", GOT(v));
	int rc = in_range(c, v, x, f, sl_format_size);
	if (rc == 0)
		*(uint64_t *)dst = x;
	return rc;
}

static json_t *dump_size(const void *src, const sl__config_field *f)
{
	char b[32];
	(void)f;
	sl_format_size(*(const uint64_t *)src, b, sizeof b);
	return json_string(b);
}

static int set_duration(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	uint64_t ms = 0;
	bool ok = false;
	if (json_is_integer(v)) {
		json_int_t s = json_integer_value(v);
		ok = s >= 0 && (uint64_t)s <= UINT64_MAX / 1000;
		ms = ok ? (uint64_t)s * 1000 : 0;
	} else if (json_is_real(v)) {
		double s = json_real_value(v);
		ok = s >= 0 && s < 1e15;
		ms = ok ? (uint64_t)(s * 1000.0 + 0.5) : 0;
	} else if (json_is_string(v)) {
		ok = sl_parse_duration(json_string_value(v), &ms) == 0;
	}
	if (!ok)
		return sl__config_fail(c, sl__config_code(json_is_string(v) || json_is_number(v)),
				       "expected a duration like \"30s\", got %s", GOT(v));
	int rc = in_range(c, v, ms, f, sl_format_duration);
	if (rc == 0)
		*(uint64_t *)dst = ms;
	return rc;
}

static json_t *dump_duration(const void *src, const sl__config_field *f)
{
	char b[64];
	(void)f;
	sl_format_duration(*(const uint64_t *)src, b, sizeof b);
	return json_string(b);
}

/* An integer within [min, max]; what names it in the message. */
static int integer(sl__config_ctx *c, json_t *v, uint64_t min, uint64_t max, const char *what,
		   uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
		return sl__config_fail(c, sl__config_code(json_is_number(v)),
				       "expected %s from %llu to %llu, got %s", what,
				       (unsigned long long)min, (unsigned long long)max, GOT(v));
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int set_uint(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	uint64_t x;
	int rc = integer(c, v, f->min, f->max, "an integer", &x);
	if (rc == 0)
		*(unsigned *)dst = (unsigned)x;
	return rc;
}

static json_t *dump_uint(const void *src, const sl__config_field *f)
{
	(void)f;
	return json_integer(*(const unsigned *)src);
}

static int set_port(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	uint64_t x;
	(void)f;
	int rc = integer(c, v, 1, 65535, "a port", &x);
	if (rc == 0)
		*(uint16_t *)dst = (uint16_t)x;
	return rc;
}

static json_t *dump_port(const void *src, const sl__config_field *f)
{
	(void)f;
	return json_integer(*(const uint16_t *)src);
}

/* Enumerations are stored as int: every sl_conf_* enum is int-sized. */
_Static_assert(sizeof(sl_conf_upstream_type) == sizeof(int), "enum size");
_Static_assert(sizeof(sl_conf_log_level) == sizeof(int), "enum size");

static int set_enum(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	const char *const *names = f->aux;
	char list[160];
	size_t used = 0;
	if (json_is_string(v))
		for (int i = 0; names[i]; i++)
			if (strcmp(json_string_value(v), names[i]) == 0) {
				*(int *)dst = i;
				return 0;
			}
	list[0] = '\0';
	for (int i = 0; names[i] && used < sizeof list; i++) {
		const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
		int n = snprintf(list + used, sizeof list - used, "%s\"%s\"", sep, names[i]);
		used += n > 0 ? (size_t)n : 0;
	}
	return sl__config_fail(c, sl__config_code(json_is_string(v)), "expected %s, got %s", list,
			       GOT(v));
}

static json_t *dump_enum(const void *src, const sl__config_field *f)
{
	const char *const *names = f->aux;
	return json_string(names[*(const int *)src]);
}

static int set_workers(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	(void)f;
	if (json_is_string(v) && strcmp(json_string_value(v), "auto") == 0) {
		*(unsigned *)dst = 0;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 256) {
		*(unsigned *)dst = (unsigned)json_integer_value(v);
		return 0;
	}
	return sl__config_fail(c, sl__config_code(json_is_string(v) || json_is_number(v)),
			       "expected \"auto\" or an integer from 1 to 256, got %s", GOT(v));
}

static json_t *dump_workers(const void *src, const sl__config_field *f)
{
	unsigned n = *(const unsigned *)src;
	(void)f;
	return n ? json_integer(n) : json_string("auto");
}

static int set_object(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	return sl__config_load_object(c, v, f->aux, dst);
}

static json_t *dump_object_field(const void *src, const sl__config_field *f)
{
	return sl__config_dump_object(f->aux, src);
}

/* ---- Arrays ---------------------------------------------------------- */

/* Checks that v is an array of what, allocates n elements of size bytes
 * and fills each with one(), at path [i]. */
int sl__config_array(sl__config_ctx *c, json_t *v, const sl__config_field *f, const char *what,
		     size_t size, void **out, size_t *outn, sl__config_elem_fn one)
{
	if (!json_is_array(v))
		return sl__config_fail(c, SL_E_CONF_TYPE, "expected an array of %s, got %s", what,
				       GOT(v));
	size_t n = json_array_size(v);
	if (n == 0 && (f->flags & SL__CONFIG_NONEMPTY))
		return sl__config_fail(c, SL_E_CONF_VALUE, "must not be empty");
	char *arr = n ? sl__config_alloc_array(c, n, size) : NULL;
	if (n && !arr)
		return sl__config_oom(c);
	for (size_t i = 0; i < n; i++) {
		sl__config_push_idx(c, i);
		int rc = one(c, json_array_get(v, i), arr + i * size, i);
		sl__config_pop(c);
		if (rc)
			return rc;
	}
	*out = arr;
	*outn = n;
	return 0;
}

/* Appends item to arr, consuming both on failure. */
json_t *sl__config_append(json_t *arr, json_t *item)
{
	if (!arr || json_array_append_new(arr, item) != 0) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

#define LISTEN_EXPECT "expected \"host:port\", \"[v6]:port\" or a unix socket path, got %s"

static int elem_listen(sl__config_ctx *c, json_t *v, void *elem, size_t i)
{
	sl_conf_listen *l = elem, *all = l - i;
	if (!json_is_string(v))
		return sl__config_fail(c, SL_E_CONF_TYPE, LISTEN_EXPECT, GOT(v));
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (s[0] == '/' || strncmp(s, "unix:", 5) == 0) {
		const char *p = s[0] == '/' ? s : s + 5;
		size_t pn = n - (size_t)(p - s);
		if (pn == 0 || pn > 107)
			return sl__config_fail(
				c, SL_E_CONF_VALUE,
				"expected a unix socket path of 1 to 107 bytes, got %s", GOT(v));
		l->kind = SL_CONF_LISTEN_UNIX;
		if (!(l->path = sl__config_dupn(c, p, pn)))
			return sl__config_oom(c);
	} else {
		sl_hostport hp;
		if (sl_hostport_parse(s, n, 0, &hp) != 0)
			return sl__config_fail(c, SL_E_CONF_VALUE, LISTEN_EXPECT, GOT(v));
		l->kind = SL_CONF_LISTEN_INET;
		l->port = hp.port;
		l->is_ip = hp.is_ip;
		l->addr = hp.addr;
		if (!(l->host = sl__config_dupn(c, hp.host, hp.host_len)))
			return sl__config_oom(c);
	}
	for (size_t j = 0; j < i; j++) {
		const sl_conf_listen *o = &all[j];
		bool same = o->kind == l->kind &&
			    (l->kind == SL_CONF_LISTEN_UNIX
				     ? strcmp(o->path, l->path) == 0
				     : o->port == l->port && strcasecmp(o->host, l->host) == 0);
		if (same)
			return sl__config_fail(c, SL_E_CONF_VALUE, "repeats listen[%zu], got %s", j,
					       GOT(v));
	}
	return 0;
}

static int set_listen(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	sl_conf_listens *l = dst;
	void *arr;
	int rc = sl__config_array(c, v, f, "addresses", sizeof *l->v, &arr, &l->n, elem_listen);
	l->v = rc ? NULL : arr;
	return rc;
}

static json_t *dump_listen(const void *src, const sl__config_field *f)
{
	const sl_conf_listens *l = src;
	json_t *a = json_array();
	char b[300];
	(void)f;
	for (size_t i = 0; i < l->n; i++) {
		const sl_conf_listen *e = &l->v[i];
		if (e->kind == SL_CONF_LISTEN_UNIX)
			snprintf(b, sizeof b, "%s%s", e->path[0] == '/' ? "" : "unix:", e->path);
		else
			snprintf(b, sizeof b, strchr(e->host, ':') ? "[%s]:%u" : "%s:%u", e->host,
				 e->port);
		a = sl__config_append(a, json_string(b));
	}
	return a;
}

static int elem_port(sl__config_ctx *c, json_t *v, void *elem, size_t i)
{
	uint64_t x;
	(void)i;
	int rc = integer(c, v, 1, 65535, "a port", &x);
	if (rc == 0)
		*(uint16_t *)elem = (uint16_t)x;
	return rc;
}

static int set_ports(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	sl_conf_ports *l = dst;
	void *arr;
	int rc = sl__config_array(c, v, f, "ports", sizeof *l->v, &arr, &l->n, elem_port);
	l->v = rc ? NULL : arr;
	return rc;
}

static json_t *dump_ports(const void *src, const sl__config_field *f)
{
	const sl_conf_ports *l = src;
	json_t *a = json_array();
	(void)f;
	for (size_t i = 0; i < l->n; i++)
		a = sl__config_append(a, json_integer(l->v[i]));
	return a;
}

static int elem_cidr(sl__config_ctx *c, json_t *v, void *elem, size_t i)
{
	(void)i;
	if (!json_is_string(v) ||
	    sl_cidr_parse(json_string_value(v), json_string_length(v), elem) != 0)
		return sl__config_fail(c, sl__config_code(json_is_string(v)),
				       "expected a CIDR like \"10.0.0.0/8\" or an address, got %s",
				       GOT(v));
	return 0;
}

static int set_cidrs(sl__config_ctx *c, json_t *v, void *dst, const sl__config_field *f)
{
	sl_conf_cidrs *l = dst;
	void *arr;
	int rc = sl__config_array(c, v, f, "CIDR prefixes", sizeof *l->v, &arr, &l->n, elem_cidr);
	l->v = rc ? NULL : arr;
	return rc;
}

static json_t *dump_cidrs(const void *src, const sl__config_field *f)
{
	const sl_conf_cidrs *l = src;
	json_t *a = json_array();
	char addr[SL_ADDR_STRLEN], b[SL_ADDR_STRLEN + 8];
	(void)f;
	for (size_t i = 0; i < l->n; i++) {
		if (sl_addr_format(&l->v[i].net, addr, sizeof addr) < 0)
			addr[0] = '\0';
		snprintf(b, sizeof b, "%s/%u", addr, l->v[i].prefix);
		a = sl__config_append(a, json_string(b));
	}
	return a;
}

/* ---- Strings with a shape -------------------------------------------- */

static int check_path_prefix(sl__config_ctx *c, const char *s, size_t n, json_t *v)
{
	bool ok = n >= 2 && n <= 64 && s[0] == '/' && s[n - 1] != '/';
	for (size_t i = 0; ok && i < n; i++)
		ok = s[i] > ' ' && s[i] < 0x7f && !strchr("?#%\"", s[i]);
	if (ok)
		return 0;
	return sl__config_fail(c, SL_E_CONF_VALUE, "expected a URL path like \"/__sluice\", got %s",
			       GOT(v));
}

/* The kinds of value: how each is checked and stored, and printed back. */
const sl__config_kind sl__config_k_bool = {set_bool, dump_bool};
const sl__config_kind sl__config_k_string = {set_string, dump_string};
const sl__config_kind sl__config_k_secret = {set_string, dump_secret};
static const sl__config_kind k_size = {set_size, dump_size};
static const sl__config_kind k_duration = {set_duration, dump_duration};
static const sl__config_kind k_uint = {set_uint, dump_uint};
const sl__config_kind sl__config_k_port = {set_port, dump_port};
const sl__config_kind sl__config_k_enum = {set_enum, dump_enum};
static const sl__config_kind k_workers = {set_workers, dump_workers};
const sl__config_kind sl__config_k_object = {set_object, dump_object_field};
static const sl__config_kind k_listen = {set_listen, dump_listen};
const sl__config_kind sl__config_k_ports = {set_ports, dump_ports};
const sl__config_kind sl__config_k_cidrs = {set_cidrs, dump_cidrs};

/* ---- The schema -------------------------------------------------------- */

#define FLD SL__CONFIG_FIELD
#define END {.key = NULL}

static int post_cache(sl__config_ctx *c, json_t *obj, void *base)
{
	sl_conf_cache *k = base;
	json_t *v = json_object_get(obj, "max_object_size");
	char b[32];
	if (k->max_object_size <= k->max_size)
		return 0;
	if (!v) {
		/* The default object limit shrinks to fit a small cache. */
		k->max_object_size = k->max_size;
		return 0;
	}
	sl_format_size(k->max_size, b, sizeof b);
	return sl__config_fail_in(c, "max_object_size", SL_E_CONF_VALUE,
				  "must not exceed cache.max_size (%s), got %s", b, GOT(v));
}

static const sl__config_field cache_fields[] = {
	{FLD(sl_conf_cache, "dir", sl__config_k_string, dir, "\"\"")},
	{FLD(sl_conf_cache, "max_size", k_size, max_size, "\"1GiB\"")},
	{FLD(sl_conf_cache, "max_object_size", k_size, max_object_size, "\"256MiB\"")},
	{FLD(sl_conf_cache, "memory", k_size, memory, "\"64MiB\"")},
	{FLD(sl_conf_cache, "heuristic_max", k_duration, heuristic_max_ms, "\"1d\""),
	 .max = YEAR_MS},
	{FLD(sl_conf_cache, "collapsed_forwarding", sl__config_k_bool, collapsed_forwarding,
	     "true")},
	END,
};
static const sl__config_table cache_table = {cache_fields, post_cache, NULL};

#define TIMEOUT(m, d) \
	{FLD(sl_conf_timeouts, #m, k_duration, m##_ms, d), .min = 1, .max = YEAR_MS}

static const sl__config_field timeout_fields[] = {
	TIMEOUT(client_header, "\"30s\""),
	TIMEOUT(client_idle, "\"60s\""),
	TIMEOUT(connect, "\"10s\""),
	TIMEOUT(first_byte, "\"60s\""),
	TIMEOUT(tunnel_idle, "\"10m\""),
	TIMEOUT(upstream_idle, "\"60s\""),
	{FLD(sl_conf_timeouts, "shutdown_grace", k_duration, shutdown_grace_ms, "\"30s\""),
	 .max = YEAR_MS},
	TIMEOUT(dns, "\"5s\""),
	END,
};
static const sl__config_table timeouts_table = {timeout_fields, NULL, NULL};

static const sl__config_field acl_fields[] = {
	{FLD(sl_conf_acl, "connect_ports", sl__config_k_ports, connect_ports, "[443]")},
	{FLD(sl_conf_acl, "allow_loopback_destinations", sl__config_k_bool,
	     allow_loopback_destinations, "false")},
	{FLD(sl_conf_acl, "allow_clients", sl__config_k_cidrs, allow_clients,
	     "[\"127.0.0.0/8\", \"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\", "
	     "\"::1/128\", \"fc00::/7\"]")},
	{FLD(sl_conf_acl, "deny_destinations", sl__config_k_cidrs, deny_destinations, "[]")},
	END,
};
static const sl__config_table acl_table = {acl_fields, NULL, NULL};

static const sl__config_field limit_fields[] = {
	{FLD(sl_conf_limits, "max_request_line", k_size, max_request_line, "\"8KiB\""), .min = 64,
	 .max = 1u << 20},
	{FLD(sl_conf_limits, "max_header_size", k_size, max_header_size, "\"64KiB\""), .min = 256,
	 .max = 16u << 20},
	{FLD(sl_conf_limits, "max_header_fields", k_uint, max_header_fields, "100"), .min = 1,
	 .max = 10000},
	{FLD(sl_conf_limits, "max_connections", k_uint, max_connections, "10000"), .min = 1,
	 .max = 1000000},
	{FLD(sl_conf_limits, "max_channels", k_uint, max_channels, "6"), .min = 1, .max = 64},
	{FLD(sl_conf_limits, "buffer_size", k_size, buffer_size, "\"64KiB\""), .min = 1024,
	 .max = 64u << 20},
	END,
};
static const sl__config_table limits_table = {limit_fields, NULL, NULL};

static const char *const log_formats[] = {"squid", "json", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

static const sl__config_field log_fields[] = {
	{FLD(sl_conf_log, "access", sl__config_k_string, access, "\"-\"")},
	{FLD(sl_conf_log, "format", sl__config_k_enum, format, "\"squid\""), .aux = log_formats},
	{FLD(sl_conf_log, "level", sl__config_k_enum, level, "\"info\""), .aux = log_levels},
	{FLD(sl_conf_log, "error", sl__config_k_string, error, "\"-\"")},
	END,
};
static const sl__config_table log_table = {log_fields, NULL, NULL};

static const sl__config_field admin_fields[] = {
	{FLD(sl_conf_admin, "enabled", sl__config_k_bool, enabled, "true")},
	{FLD(sl_conf_admin, "allow", sl__config_k_cidrs, allow, "[\"127.0.0.0/8\", \"::1/128\"]")},
	{FLD(sl_conf_admin, "path_prefix", sl__config_k_string, path_prefix, "\"/__sluice\""),
	 .check = check_path_prefix},
	END,
};
static const sl__config_table admin_table = {admin_fields, NULL, NULL};

static const sl__config_field tls_fields[] = {
	{FLD(sl_conf_tls, "ca_file", sl__config_k_string, ca_file, "\"\"")},
	{FLD(sl_conf_tls, "ca_path", sl__config_k_string, ca_path, "\"\"")},
	{FLD(sl_conf_tls, "verify", sl__config_k_bool, verify, "true")},
	END,
};
static const sl__config_table tls_table = {tls_fields, NULL, NULL};

/* Upstreams come before chains, and both before routes, which refer to
 * them: the table's order is the order of loading. */
static const sl__config_field root_fields[] = {
	{FLD(sl_config, "listen", k_listen, listen, "[\"127.0.0.1:3128\"]"),
	 .flags = SL__CONFIG_NONEMPTY},
	{FLD(sl_config, "workers", k_workers, workers, "\"auto\"")},
	{FLD(sl_config, "pid_file", sl__config_k_string, pid_file, "\"\"")},
	{FLD(sl_config, "cache", sl__config_k_object, cache, "{}"), .aux = &cache_table},
	{FLD(sl_config, "timeouts", sl__config_k_object, timeouts, "{}"), .aux = &timeouts_table},
	{FLD(sl_config, "acl", sl__config_k_object, acl, "{}"), .aux = &acl_table},
	{FLD(sl_config, "limits", sl__config_k_object, limits, "{}"), .aux = &limits_table},
	{FLD(sl_config, "upstreams", sl__config_k_upstreams, upstreams, "{}")},
	{FLD(sl_config, "chains", sl__config_k_chains, chains, "{}")},
	{FLD(sl_config, "routes", sl__config_k_routes, routes, "[{\"via\": \"direct\"}]"),
	 .flags = SL__CONFIG_NONEMPTY},
	{FLD(sl_config, "upstream_from_env", sl__config_k_bool, upstream_from_env, "false")},
	{FLD(sl_config, "log", sl__config_k_object, log, "{}"), .aux = &log_table},
	{FLD(sl_config, "admin", sl__config_k_object, admin, "{}"), .aux = &admin_table},
	{FLD(sl_config, "tls", sl__config_k_object, tls, "{}"), .aux = &tls_table},
	END,
};
static const sl__config_table root_table = {root_fields, NULL, NULL};

/* True for "//", the comment key every object accepts. */
bool sl__config_is_comment_key(const char *key)
{
	return strcmp(key, "//") == 0;
}

/* A comment: a string or an array of strings, ignored. */
int sl__config_comment(sl__config_ctx *c, json_t *v)
{
	if (json_is_string(v))
		return 0;
	if (!json_is_array(v))
		return sl__config_fail(
			c, SL_E_CONF_TYPE,
			"expected a comment (a string or an array of strings), got %s", GOT(v));
	for (size_t i = 0; i < json_array_size(v); i++)
		if (!json_is_string(json_array_get(v, i))) {
			sl__config_push_idx(c, i);
			int rc = sl__config_fail(c, SL_E_CONF_TYPE,
						 "expected a comment string, got %s",
						 GOT(json_array_get(v, i)));
			sl__config_pop(c);
			return rc;
		}
	return 0;
}

/* The members of a map object (upstreams, chains) that are not a comment. */
size_t sl__config_named_entries(json_t *obj)
{
	return json_object_size(obj) - (json_object_get(obj, "//") ? 1 : 0);
}

/* ---- The walk ----------------------------------------------------------- */

static const sl__config_field *field_of(const sl__config_table *t, const char *key)
{
	for (const sl__config_field *f = t->fields; f->key; f++)
		if (strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

/* Edit distance, for "did you mean"; large for long strings. */
static size_t distance(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), row[33];
	if (na > 32 || nb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[nb];
}

/* "unknown key", with the nearest known key when it is close enough (at
 * most 2 edits, fewer than half the key's length) to be a likely typo. */
static int unknown_key(sl__config_ctx *c, const sl__config_table *t, const char *key)
{
	const sl__config_field *best = NULL;
	size_t bd = 3;
	for (const sl__config_field *f = t->fields; f->key; f++) {
		size_t d = distance(key, f->key);
		if (d < bd) {
			bd = d;
			best = f;
		}
	}
	if (best && 2 * bd < strlen(key))
		return sl__config_fail_key(c, SL_E_CONF_UNKNOWN_KEY,
					   "unknown key (did you mean \"%s\"?)", best->key);
	return sl__config_fail_key(c, SL_E_CONF_UNKNOWN_KEY, "unknown key");
}

static int set_default(sl__config_ctx *c, const sl__config_field *f, void *dst)
{
	json_t *d = json_loads(f->def, JSON_DECODE_ANY, NULL);
	assert(d || !"a default in a table is not valid JSON");
	if (!d)
		return sl__config_oom(c);
	int rc = f->kind->set(c, d, dst, f);
	json_decref(d);
	return rc;
}

/*
 * Fills base from obj with table t: first every key is checked against the
 * table (in document order, so the first unknown key is the one reported),
 * then each field is set from obj or from its default in table order, then
 * the table's cross-field checks run.
 */
int sl__config_load_object(sl__config_ctx *c, json_t *obj, const sl__config_table *t, void *base)
{
	const char *key;
	json_t *v;
	int rc;
	if (!json_is_object(obj))
		return sl__config_fail(c, SL_E_CONF_TYPE, "expected an object, got %s", GOT(obj));
	json_object_foreach (obj, key, v) {
		if (sl__config_is_comment_key(key)) {
			sl__config_push_key(c, key);
			rc = sl__config_comment(c, v);
			sl__config_pop(c);
			if (rc)
				return rc;
		} else if (!field_of(t, key)) {
			sl__config_push_key(c, key);
			rc = unknown_key(c, t, key);
			sl__config_pop(c);
			return rc;
		}
	}
	for (const sl__config_field *f = t->fields; f->key; f++) {
		v = json_object_get(obj, f->key);
		if (!v && (f->flags & SL__CONFIG_REQUIRED))
			return sl__config_fail(c, SL_E_CONF_MISSING, "missing required key \"%s\"",
					       f->key);
		if (!v && !f->def)
			continue;
		sl__config_push_key(c, f->key);
		rc = v ? f->kind->set(c, v, (char *)base + f->off, f)
		       : set_default(c, f, (char *)base + f->off);
		sl__config_pop(c);
		if (rc)
			return rc;
	}
	return t->post ? t->post(c, obj, base) : 0;
}

/* The JSON object of base, fields in table order, hidden ones left out. */
json_t *sl__config_dump_object(const sl__config_table *t, const void *base)
{
	json_t *o = json_object();
	for (const sl__config_field *f = t->fields; o && f->key; f++) {
		if (t->shown && !t->shown(base, f))
			continue;
		if (json_object_set_new(o, f->key, f->kind->dump((const char *)base + f->off, f))) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

/* Reads a whole small file; 0, -errno or SL_E_LIMIT (larger than max). */
int sl__config_slurp(const char *path, size_t max, char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
		int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
		close(fd);
		return -e;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	int rc = 0;
	while (buf) {
		if (n == cap) {
			if (cap > max) {
				rc = SL_E_LIMIT;
				break;
			}
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf)
		return SL_E_NOMEM;
	if (rc == 0 && n > max)
		rc = SL_E_LIMIT;
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

/* ---- Public API ----------------------------------------------------------- */

static int syntax_error(const char *text, size_t len, const char *name, const json_error_t *je,
			sl_config_error *e)
{
	unsigned line, first;
	if (json_error_code(je) == json_error_duplicate_key &&
	    sl__config_find_duplicate(text, len, e->path, sizeof e->path, &line, &first)) {
		e->code = SL_E_CONF_DUPLICATE;
		e->line = line;
		snprintf(e->message, sizeof e->message, "duplicate key (first at line %u)", first);
	} else {
		e->code = json_error_code(je) == json_error_out_of_memory ? SL_E_NOMEM
									  : SL_E_CONF_SYNTAX;
		e->line = je->line > 0 ? (unsigned)je->line : 0;
		e->path[0] = '\0';
		snprintf(e->message, sizeof e->message, "invalid JSON: %s", je->text);
	}
	compose(e, name);
	return e->code;
}

/* Loads len bytes of JSON text; see config.h. */
int sl_config_load_string_ex(const char *text, size_t len, const char *name, sl_config **out,
			     sl_config_error *e)
{
	sl_config_error scratch;
	json_error_t je;
	int rc;
	if (!e)
		e = &scratch;
	memset(e, 0, sizeof *e);
	*out = NULL;
	if (!name)
		name = "<config>";
	if (!text) {
		e->code = SL_E_INVAL;
		snprintf(e->message, sizeof e->message, "no configuration text");
		compose(e, name);
		return e->code;
	}
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return syntax_error(text, len, name, &je, e);
	sl_config *cfg = calloc(1, sizeof *cfg);
	sl__config_ctx c = {.cfg = cfg, .text = text, .len = len, .name = name, .err = e};
	if (!cfg) {
		json_decref(root);
		e->code = SL_E_NOMEM;
		snprintf(e->message, sizeof e->message, "out of memory");
		compose(e, name);
		return e->code;
	}
	if (!(cfg->source = sl__config_dupn(&c, name, strlen(name))))
		rc = sl__config_oom(&c);
	else if (!json_is_object(root))
		rc = sl__config_fail(&c, SL_E_CONF_TYPE,
				     "expected an object at the top level, got %s", GOT(root));
	else
		rc = sl__config_load_object(&c, root, &root_table, cfg);
	json_decref(root);
	if (rc) {
		destroy(cfg);
		return rc;
	}
	cfg->magic = SL_CONFIG_MAGIC;
	atomic_init(&cfg->refs, 1);
	*out = cfg;
	return 0;
}

/* Reads and loads a file, the error in parts; see config.h. */
int sl_config_load_file_ex(const char *path, sl_config **out, sl_config_error *e)
{
	sl_config_error scratch;
	char *text;
	size_t len;
	if (!e)
		e = &scratch;
	memset(e, 0, sizeof *e);
	*out = NULL;
	int rc = sl__config_slurp(path, MAX_FILE, &text, &len);
	if (rc) {
		e->code = rc == SL_E_NOMEM ? SL_E_NOMEM : SL_E_CONF_IO;
		snprintf(e->message, sizeof e->message, "cannot read: %s",
			 rc == SL_E_LIMIT ? "larger than 16MiB" : sl_strerror(rc));
		compose(e, path);
		return e->code;
	}
	rc = sl_config_load_string_ex(text, len, path, out, e);
	free(text);
	return rc;
}

static void copy_error(const sl_config_error *e, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", e->text);
}

/* Reads and loads a file; see config.h. */
int sl_config_load_file(const char *path, sl_config **out, char *err, size_t errlen)
{
	sl_config_error e;
	int rc = sl_config_load_file_ex(path, out, &e);
	if (rc)
		copy_error(&e, err, errlen);
	return rc;
}

/* Loads NUL-terminated text; see config.h. */
int sl_config_load_string(const char *text, const char *name, sl_config **out, char *err,
			  size_t errlen)
{
	sl_config_error e;
	int rc = sl_config_load_string_ex(text, text ? strlen(text) : 0, name, out, &e);
	if (rc)
		copy_error(&e, err, errlen);
	return rc;
}

/* The report of a failed load, or "". */
const char *sl_config_error_str(const sl_config_error *e)
{
	return e && e->code ? e->text : "";
}

/* Takes a reference. */
sl_config *sl_config_ref(sl_config *cfg)
{
	assert(cfg && cfg->magic == SL_CONFIG_MAGIC);
	atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
	return cfg;
}

/* Drops a reference; the last frees. The release/acquire pair makes every
 * thread's reads happen before the free. */
void sl_config_unref(sl_config *cfg)
{
	if (!cfg)
		return;
	assert(cfg->magic == SL_CONFIG_MAGIC);
	if (atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
		destroy(cfg);
}

/* Drops the reference a load returned. */
void sl_config_free(sl_config *cfg)
{
	sl_config_unref(cfg);
}

/* Prints the effective configuration as JSON. */
int sl_config_dump(const sl_config *cfg, FILE *fp)
{
	assert(cfg && cfg->magic == SL_CONFIG_MAGIC);
	json_t *root = sl__config_dump_object(&root_table, cfg);
	if (!root)
		return SL_E_NOMEM;
	int rc = json_dumpf(root, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (rc != 0 || fputc('\n', fp) == EOF || fflush(fp) != 0)
		return -EIO;
	return 0;
}

/* The worker count, "auto" resolved now. */
unsigned sl_config_workers(const sl_config *cfg)
{
	if (cfg->workers)
		return cfg->workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}
