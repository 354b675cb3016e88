/*
 * What the configuration's files share and nobody else uses: the walk's
 * context and its error reporting, the schema tables ({key, kind, offset,
 * default, range} per object) and the kinds of value they hold, JSON paths
 * as arrays of segments, and the scanner that maps a path back to a line of
 * the source text (jansson keeps no positions once parsed). config.c holds
 * the walk and the scalar kinds, config_routing.c upstreams, chains and
 * routes, config_scan.c the scanner, config_values.c the value syntaxes.
 */
#ifndef SL_CORE_CONFIG_INTERNAL_H
#define SL_CORE_CONFIG_INTERNAL_H

#include <assert.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

/* One step of a JSON path: an object key, or an array index when key is
 * NULL. */
typedef struct sl__config_seg {
	const char *key;
	size_t idx;
} sl__config_seg;

/*
 * Appends one segment to the path text in buf (used bytes so far) and
 * returns the new length: ".key" (no dot first), ["odd key"] for keys that
 * are not plain [A-Za-z0-9_-]+, or [idx]. Text that does not fit ends in
 * "..."; buf stays NUL-terminated.
 */
size_t sl__config_path_add(char *buf, size_t cap, size_t used, const char *key,
			   size_t klen, size_t idx);

/* Writes the text of a whole path of n segments into buf. */
void sl__config_path_format(const sl__config_seg *segs, size_t n, char *buf, size_t cap);

/*
 * Returns the 1-based line in text of the value at the path, or of its key
 * when at_key (the last segment must then be a key), or 0 when the text
 * holds no such path. text must be JSON jansson accepted.
 */
unsigned sl__config_line_of(const char *text, size_t len, const sl__config_seg *segs,
			    size_t n, bool at_key);

/*
 * Finds the first key repeated within one object, in document order. On
 * success writes its path to buf, its line and the line of its first
 * occurrence, and returns true. Text after the repeat may be invalid.
 */
bool sl__config_find_duplicate(const char *text, size_t len, char *buf, size_t cap,
			       unsigned *line, unsigned *first_line);

/* ---- The walk ---- */

#define SL__CONFIG_MAX_DEPTH 16

/* Where the walk is: the config being filled, the text for line lookups,
 * the path of the value at hand, and where the first error goes. */
typedef struct sl__config_ctx {
	sl_config *cfg;
	const char *text;
	size_t len;
	const char *name;
	sl_config_error *err;
	sl__config_seg segs[SL__CONFIG_MAX_DEPTH];
	size_t depth;
	size_t pin; /* when nonzero, errors are reported at the first pin segments */
} sl__config_ctx;

static inline void sl__config_push_key(sl__config_ctx *c, const char *key)
{
	assert(c->depth < SL__CONFIG_MAX_DEPTH);
	c->segs[c->depth++] = (sl__config_seg){key, 0};
}

static inline void sl__config_push_idx(sl__config_ctx *c, size_t idx)
{
	assert(c->depth < SL__CONFIG_MAX_DEPTH);
	c->segs[c->depth++] = (sl__config_seg){NULL, idx};
}

static inline void sl__config_pop(sl__config_ctx *c)
{
	assert(c->depth > 0);
	c->depth--;
}

/* The error code for a rejected value: VALUE when its JSON type was
 * right, TYPE when not. The message is the same either way. */
static inline int sl__config_code(bool right_type)
{
	return right_type ? SL_E_CONF_VALUE : SL_E_CONF_TYPE;
}

/* Record the first error, at the value of the current path (fail), at its
 * last key (fail_key) or at the value of key below it (fail_in), and
 * return code. Messages read "expected X, got Y" or say what is wrong. */
__attribute__((format(printf, 3, 4)))
int sl__config_fail(sl__config_ctx *c, int code, const char *fmt, ...);
__attribute__((format(printf, 3, 4)))
int sl__config_fail_key(sl__config_ctx *c, int code, const char *fmt, ...);
__attribute__((format(printf, 4, 5)))
int sl__config_fail_in(sl__config_ctx *c, const char *key, int code, const char *fmt, ...);

/* Records "out of memory" at the current path; returns SL_E_NOMEM. */
int sl__config_oom(sl__config_ctx *c);

/* Writes v as an error message quotes it (compact JSON, cut when long;
 * "an object", "an array") into buf, or returns a static string. */
const char *sl__config_got(json_t *v, char *buf, size_t cap);
#define GOT(v) sl__config_got((v), (char[96]){0}, 96)

/* Copies n bytes and a NUL into the config's arena; NULL when out of
 * memory. */
char *sl__config_dupn(sl__config_ctx *c, const char *s, size_t n);

/* Zeroed room for n elements of size bytes in the arena, or NULL. */
void *sl__config_alloc_array(sl__config_ctx *c, size_t n, size_t size);

/* Reads a whole file of at most max bytes into a malloc'd, NUL-terminated
 * buffer. Returns 0, -errno, SL_E_LIMIT (too large) or SL_E_NOMEM. */
int sl__config_slurp(const char *path, size_t max, char **out, size_t *outlen);

/* ---- Tables and kinds ---- */

typedef struct sl__config_field sl__config_field;
typedef struct sl__config_table sl__config_table;

/* Checks v and stores it at dst; returns 0 or the reported error. */
typedef int (*sl__config_set_fn)(sl__config_ctx *c, json_t *v, void *dst,
				 const sl__config_field *f);
/* Returns the stored value at src as JSON for dumps; NULL on no memory. */
typedef json_t *(*sl__config_dump_fn)(const void *src, const sl__config_field *f);
/* An extra check of a string value. */
typedef int (*sl__config_check_fn)(sl__config_ctx *c, const char *s, size_t n, json_t *v);
/* Fills element i of an array from v. */
typedef int (*sl__config_elem_fn)(sl__config_ctx *c, json_t *v, void *elem, size_t i);

typedef struct sl__config_kind {
	sl__config_set_fn set;
	sl__config_dump_fn dump;
} sl__config_kind;

enum {
	SL__CONFIG_REQUIRED = 1u << 0, /* absent: an error */
	SL__CONFIG_NONEMPTY = 1u << 1, /* an array that must hold something */
};

struct sl__config_field {
	const char *key;
	const sl__config_kind *kind;
	size_t off;        /* of the member in the struct the table fills */
	const char *def;   /* default as JSON text; NULL: absent leaves zero */
	uint64_t min, max; /* sizes, durations, integers; max 0 = none */
	const void *aux;   /* enum names (NULL-terminated) or a sub-table */
	sl__config_check_fn check; /* extra check of a string */
	unsigned flags;    /* SL__CONFIG_* */
};

struct sl__config_table {
	const sl__config_field *fields; /* ends with a NULL key */
	int (*post)(sl__config_ctx *c, json_t *obj, void *base); /* cross-field checks */
	bool (*shown)(const void *base, const sl__config_field *f); /* in dumps */
};

#define SL__CONFIG_FIELD(T, k, kd, m, d) .key = k, .kind = &kd, .off = offsetof(T, m), .def = d

/* Fills base from the JSON object obj with table t (unknown keys, then
 * fields and defaults in table order, then t->post). */
int sl__config_load_object(sl__config_ctx *c, json_t *obj, const sl__config_table *t,
			   void *base);

/* Builds the JSON object of base for dumps; NULL when out of memory. */
json_t *sl__config_dump_object(const sl__config_table *t, const void *base);

/* Checks that v is an array (non-empty when f says so), allocates its n
 * elements of size bytes and fills each with one() at path [i]. */
int sl__config_array(sl__config_ctx *c, json_t *v, const sl__config_field *f, const char *what,
		     size_t size, void **out, size_t *outn, sl__config_elem_fn one);

/* Appends item to the JSON array arr; on failure releases both, NULL. */
json_t *sl__config_append(json_t *arr, json_t *item);

/* The comment key "//" is allowed in every object; its value must be a
 * string or an array of strings. */
bool sl__config_is_comment_key(const char *key);
int sl__config_comment(sl__config_ctx *c, json_t *v);

/* Members of obj other than a comment. */
size_t sl__config_named_entries(json_t *obj);

/* Kinds of config.c, for the routing tables. */
extern const sl__config_kind sl__config_k_bool, sl__config_k_string, sl__config_k_secret,
	sl__config_k_enum, sl__config_k_port, sl__config_k_object, sl__config_k_cidrs,
	sl__config_k_ports;

/* Kinds of config_routing.c, for the top-level table. */
extern const sl__config_kind sl__config_k_upstreams, sl__config_k_chains, sl__config_k_routes;

/* More kinds of config.c: durations in milliseconds, unsigned integers. */
extern const sl__config_kind sl__config_k_duration, sl__config_k_uint;

/* The "health" object's table (config_routing.c). */
extern const sl__config_table sl__config_health_table;

/* The top level's cross-field rules of routing (config_routing.c): routes
 * may be empty only with upstream_from_env, which reads the environment's
 * proxies now. */
int sl__config_routing_post(sl__config_ctx *c, json_t *obj, void *base);

#endif
