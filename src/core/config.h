/*
 * The configuration: one JSON file, loaded with jansson into the typed structs
 * below, every key optional and defaulted, so "{}" is a whole configuration.
 * Loading is strict: an unknown key, a repeated key, a wrong type, a bad value
 * or a name that refers to nothing stops the load at the first such error,
 * which is reported as "file:line: json.path: message". A loaded sl_config is
 * immutable: worker threads share it read-only and keep it alive with
 * sl_config_ref()/sl_config_unref() (an atomic counter), so a reload can swap
 * in a new one while sessions finish on the old. All strings and arrays are
 * owned by the config and live exactly as long as it does. docs/config.md is
 * the reference of every key.
 */
#ifndef SL_CORE_CONFIG_H
#define SL_CORE_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/addr.h"

#define SL_CONFIG_MAGIC 0x5c0f16edu

/* Counted arrays. v is NULL when n is 0. */
typedef struct sl_conf_strs {
	const char **v;
	size_t n;
} sl_conf_strs;

typedef struct sl_conf_ports {
	uint16_t *v;
	size_t n;
} sl_conf_ports;

typedef struct sl_conf_cidrs {
	sl_cidr *v;
	size_t n;
} sl_conf_cidrs;

/* One `listen` entry: an IP endpoint or a unix socket. */
typedef enum sl_conf_listen_kind {
	SL_CONF_LISTEN_INET,
	SL_CONF_LISTEN_UNIX,
} sl_conf_listen_kind;

typedef struct sl_conf_listen {
	sl_conf_listen_kind kind;
	const char *host; /* INET: a name or an address, without brackets */
	uint16_t port;    /* INET */
	bool is_ip;       /* INET: host is an address literal, in addr */
	sl_addr addr;
	const char *path; /* UNIX: the socket path ("unix:" removed) */
} sl_conf_listen;

typedef struct sl_conf_listens {
	sl_conf_listen *v;
	size_t n; /* at least 1 */
} sl_conf_listens;

typedef struct sl_conf_cache {
	const char *dir;           /* "" = no disk cache */
	uint64_t max_size;         /* bytes */
	uint64_t max_object_size;  /* bytes, <= max_size */
	uint64_t memory;           /* bytes of the memory tier, 0 = none */
	uint64_t heuristic_max_ms; /* cap of heuristic freshness */
	bool collapsed_forwarding;
} sl_conf_cache;

/* Every timeout in milliseconds. */
typedef struct sl_conf_timeouts {
	uint64_t client_header_ms;
	uint64_t client_idle_ms;
	uint64_t connect_ms;
	uint64_t first_byte_ms;
	uint64_t tunnel_idle_ms;
	uint64_t upstream_idle_ms;
	uint64_t shutdown_grace_ms; /* may be 0: close at once */
	uint64_t dns_ms;
} sl_conf_timeouts;

typedef struct sl_conf_acl {
	sl_conf_ports connect_ports; /* may be empty: CONNECT refused */
	bool allow_loopback_destinations;
	sl_conf_cidrs allow_clients;
	sl_conf_cidrs deny_destinations;
} sl_conf_acl;

typedef struct sl_conf_limits {
	uint64_t max_request_line; /* bytes */
	uint64_t max_header_size;  /* bytes */
	unsigned max_header_fields;
	unsigned max_connections;
	unsigned max_channels;     /* per upstream host */
	uint64_t buffer_size;      /* bytes, per direction per connection */
} sl_conf_limits;

typedef enum sl_conf_upstream_type {
	SL_CONF_UP_HTTP,
	SL_CONF_UP_HTTPS,
	SL_CONF_UP_SOCKS5,
	SL_CONF_UP_SOCKS5H,
} sl_conf_upstream_type;

/* Who resolves target host names: this proxy or the upstream. */
typedef enum sl_conf_dns {
	SL_CONF_DNS_LOCAL,
	SL_CONF_DNS_REMOTE,
} sl_conf_dns;

/* How an HTTP(S) upstream carries plain-http requests: in a CONNECT
 * tunnel, or forwarded with an absolute URI. */
typedef enum sl_conf_mode {
	SL_CONF_MODE_CONNECT,
	SL_CONF_MODE_FORWARD,
} sl_conf_mode;

typedef enum sl_conf_secret_source {
	SL_CONF_SECRET_INLINE, /* "password" in the file or in a URL */
	SL_CONF_SECRET_FILE,   /* "password_file", read at load */
	SL_CONF_SECRET_ENV,    /* "password_env", read at load */
} sl_conf_secret_source;

typedef struct sl_conf_auth {
	const char *user;
	const char *password; /* the resolved secret, whatever its source */
	sl_conf_secret_source source;
	const char *source_name; /* FILE: the path; ENV: the variable; else NULL */
} sl_conf_auth;

typedef struct sl_conf_upstream_tls {
	const char *ca_file;     /* "" = the global trust store */
	bool verify;
	const char *server_name; /* "" = the upstream's host */
} sl_conf_upstream_tls;

typedef struct sl_conf_upstream {
	const char *name;
	sl_conf_upstream_type type;
	const char *host; /* a name or an address, without brackets */
	uint16_t port;
	sl_conf_dns dns;  /* REMOTE for http, https and socks5h */
	sl_conf_mode mode; /* meaningful for http and https only */
	bool has_auth;    /* auth is set */
	sl_conf_auth auth;
	sl_conf_upstream_tls tls; /* meaningful for https only */
} sl_conf_upstream;

typedef struct sl_conf_upstreams {
	sl_conf_upstream *v;
	size_t n;
} sl_conf_upstreams;

typedef struct sl_conf_hops {
	const sl_conf_upstream **v; /* point into sl_config.upstreams */
	size_t n;                   /* at least 1 */
} sl_conf_hops;

/* A chain: hops in order, the first one reached directly. Every hop but
 * the last tunnels to the next one. */
typedef struct sl_conf_chain {
	const char *name;
	sl_conf_hops hops;
} sl_conf_chain;

typedef struct sl_conf_chains {
	sl_conf_chain *v;
	size_t n;
} sl_conf_chains;

typedef enum sl_conf_via_kind {
	SL_CONF_VIA_DIRECT,
	SL_CONF_VIA_DENY,
	SL_CONF_VIA_UPSTREAM,
	SL_CONF_VIA_CHAIN,
} sl_conf_via_kind;

typedef struct sl_conf_via {
	sl_conf_via_kind kind;
	const char *name;                 /* "direct", "deny" or the name used */
	const sl_conf_upstream *upstream; /* VIA_UPSTREAM */
	const sl_conf_chain *chain;       /* VIA_CHAIN */
} sl_conf_via;

typedef struct sl_conf_vias {
	sl_conf_via *v;
	size_t n; /* at least 1 */
} sl_conf_vias;

typedef enum sl_conf_strategy {
	SL_CONF_STRATEGY_FAILOVER,
	SL_CONF_STRATEGY_ROUND_ROBIN,
} sl_conf_strategy;

/* Bits of sl_conf_match.schemes. A CONNECT tunnel counts as https. */
enum {
	SL_CONF_SCHEME_HTTP = 1u << 0,
	SL_CONF_SCHEME_HTTPS = 1u << 1,
};

/* What a rule matches. Every non-empty criterion must match (AND); within
 * one criterion any entry may (OR). All empty = everything matches. */
typedef struct sl_conf_match {
	sl_conf_strs hosts;  /* lower-case patterns, see sl_config_host_match() */
	sl_conf_cidrs cidrs; /* destination addresses */
	sl_conf_ports ports; /* destination ports */
	unsigned schemes;    /* SL_CONF_SCHEME_* bits, 0 = any */
	sl_conf_strs methods; /* exact, case-sensitive method tokens */
} sl_conf_match;

typedef struct sl_conf_route {
	const char *name; /* given, or "route-N" with N its index in routes */
	sl_conf_match match;
	sl_conf_vias via;
	sl_conf_strategy strategy; /* how via entries are tried when n > 1 */
} sl_conf_route;

typedef struct sl_conf_routes {
	sl_conf_route *v;
	size_t n; /* at least 1; the first matching rule wins */
} sl_conf_routes;

typedef enum sl_conf_log_format {
	SL_CONF_LOG_SQUID,
	SL_CONF_LOG_JSON,
} sl_conf_log_format;

typedef enum sl_conf_log_level {
	SL_CONF_LOG_DEBUG,
	SL_CONF_LOG_INFO,
	SL_CONF_LOG_WARN,
	SL_CONF_LOG_ERROR,
} sl_conf_log_level;

typedef struct sl_conf_log {
	const char *access; /* a path, "-" = stderr, "" = off */
	sl_conf_log_format format;
	sl_conf_log_level level;
	const char *error;  /* a path, "-" = stderr, "" = off */
} sl_conf_log;

typedef struct sl_conf_admin {
	bool enabled;
	sl_conf_cidrs allow;
	const char *path_prefix; /* starts with "/", no trailing "/" */
} sl_conf_admin;

typedef struct sl_conf_tls {
	const char *ca_file; /* "" = the system store */
	const char *ca_path;
	bool verify;
} sl_conf_tls;

struct sl__config_arena;

typedef struct sl_config {
	uint32_t magic;      /* SL_CONFIG_MAGIC while alive */
	atomic_uint refs;    /* use sl_config_ref()/sl_config_unref() */
	const char *source;  /* the file name errors were reported against */
	sl_conf_listens listen;
	unsigned workers;    /* 0 = "auto": see sl_config_workers() */
	const char *pid_file; /* "" = none */
	sl_conf_cache cache;
	sl_conf_timeouts timeouts;
	sl_conf_acl acl;
	sl_conf_limits limits;
	sl_conf_upstreams upstreams;
	sl_conf_chains chains;
	sl_conf_routes routes;
	bool upstream_from_env;
	sl_conf_log log;
	sl_conf_admin admin;
	sl_conf_tls tls;
	struct sl__config_arena *arena; /* private: owns every string and array */
} sl_config;

/* Where a load failed. text is the whole report for a person to read. */
typedef struct sl_config_error {
	int code;          /* SL_E_CONF_*, SL_E_NOMEM, or 0 when there was none */
	unsigned line;     /* 1-based line in the file, 0 when not known */
	char path[256];    /* JSON path such as routes[2].match.ports[0], or "" */
	char message[512]; /* the message alone */
	char text[1024];   /* "file:line: path: message" */
} sl_config_error;

/*
 * Reads and loads the JSON file at path. On success stores a new config
 * holding one reference in *out and returns 0. On failure stores NULL,
 * returns a negative code (SL_E_CONF_*, SL_E_NOMEM) and, when err is not
 * NULL, writes the report "file:line: path: message" into err (truncated to
 * errlen). Environment variables and password files named by upstreams are
 * read now. Does not call back; safe from any thread.
 */
int sl_config_load_file(const char *path, sl_config **out, char *err, size_t errlen);

/*
 * Loads a configuration from the NUL-terminated text; name stands for the
 * file in error reports (NULL reads as "<config>"). Otherwise as
 * sl_config_load_file().
 */
int sl_config_load_string(const char *text, const char *name, sl_config **out,
			  char *err, size_t errlen);

/*
 * As sl_config_load_file(), with the error in parts. e may be NULL; it is
 * cleared on success.
 */
int sl_config_load_file_ex(const char *path, sl_config **out, sl_config_error *e);

/*
 * As sl_config_load_string(), for len bytes of text that need not end in
 * NUL, with the error in parts. e may be NULL.
 */
int sl_config_load_string_ex(const char *text, size_t len, const char *name,
			     sl_config **out, sl_config_error *e);

/* Returns the report "file:line: path: message" of e, or "" when e holds no
 * error. The string lives in e. */
const char *sl_config_error_str(const sl_config_error *e);

/* Takes one more reference to cfg and returns it. Any thread. */
sl_config *sl_config_ref(sl_config *cfg);

/* Drops one reference; the last one frees the config and everything it
 * owns. NULL is ignored. Any thread. */
void sl_config_unref(sl_config *cfg);

/* Drops the reference a load returned: the same as sl_config_unref(). */
void sl_config_free(sl_config *cfg);

/*
 * Prints the effective configuration, every default filled in, as indented
 * JSON that loads back to the same values. Passwords given inline print as
 * "***"; password_file and password_env print their source, never the
 * secret. Returns 0, SL_E_NOMEM, or -EIO when writing failed.
 */
int sl_config_dump(const sl_config *cfg, FILE *fp);

/* The number of worker threads to start: cfg->workers, or for "auto" the
 * online CPUs at the time of the call, from 1 to 256. */
unsigned sl_config_workers(const sl_config *cfg);

/* The upstream or chain of that name, or NULL. */
const sl_conf_upstream *sl_config_upstream(const sl_config *cfg, const char *name);
const sl_conf_chain *sl_config_chain(const sl_config *cfg, const char *name);

/*
 * Parses a size: a non-negative decimal number with an optional fraction of
 * up to 6 digits and an optional unit, no spaces: B, KB or kB, MB, GB, TB
 * (powers of 1000), KiB, MiB, GiB, TiB (powers of 1024); no unit = bytes,
 * which must then be whole. "1.5GiB", "10GiB", "100". Fractions of a byte
 * are dropped. Returns 0 or SL_E_CONF_VALUE (bad syntax or above 2^64-1).
 */
int sl_parse_size(const char *s, uint64_t *out);

/*
 * Parses a duration into milliseconds: one or more number-unit groups with
 * units d, h, m, s, ms in that order, each at most once ("1h30m", "250ms",
 * "1.5s"), or a bare number of seconds ("30"). Fractions of a millisecond
 * are dropped. Returns 0 or SL_E_CONF_VALUE.
 */
int sl_parse_duration(const char *s, uint64_t *ms);

/* Writes bytes in the shortest exact form sl_parse_size() reads back
 * ("1GiB", "1GB", "1500"). Returns the length, or SL_E_INVAL when cap is too
 * small (out is then truncated and still NUL-terminated when cap > 0). */
int sl_format_size(uint64_t bytes, char *out, size_t cap);

/* Writes ms as sl_parse_duration() reads it back ("1h30m", "250ms", "0s").
 * Returns the length or SL_E_INVAL, as sl_format_size(). */
int sl_format_duration(uint64_t ms, char *out, size_t cap);

/*
 * True when the host name (n bytes, no trailing dot) matches a route's host
 * pattern, ignoring ASCII case: ".example.com" matches example.com and every
 * name under it; otherwise "*" matches any run of characters (dots too) and
 * "?" exactly one, so "*.example.com" matches names under example.com only
 * and a pattern without wildcards matches that exact name.
 */
bool sl_config_host_match(const char *pattern, const char *host, size_t n);

#endif
