/*
 * Unit tests of the configuration: every default, each kind of value valid
 * and invalid, the exact text of error reports (file, line, JSON path),
 * unknown and repeated keys at every level, references between upstreams,
 * chains and routes, the URL shorthand and password sources, the dump and
 * its round trip, reference counting across threads, and the shipped
 * configurations under conf/. Run from the project root: fixtures live in
 * tests/unit/data/config/.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/err.h"

#define DATA "tests/unit/data/config/"

static sl_config *load(const char *text)
{
	sl_config *c = NULL;
	char err[1024] = "";
	int rc = sl_config_load_string(text, "t.json", &c, err, sizeof err);
	cr_assert_eq(rc, 0, "load failed (%s): %s", sl_errname(rc), err);
	cr_assert_not_null(c);
	return c;
}

/* The load fails with code and exactly the report want. */
static void fails(const char *text, int code, const char *want)
{
	sl_config *c = NULL;
	char err[1024] = "";
	int rc = sl_config_load_string(text, "t.json", &c, err, sizeof err);
	cr_assert_str_eq(err, want);
	cr_assert_eq(rc, code, "code %s for: %s", sl_errname(rc), err);
	cr_assert_null(c);
}

/* The load fails with code and a report containing part. */
static void fails_with(const char *text, int code, const char *part)
{
	sl_config *c = NULL;
	char err[1024] = "";
	int rc = sl_config_load_string(text, "t.json", &c, err, sizeof err);
	cr_assert_eq(rc, code, "code %s (%s), wanted %s", sl_errname(rc), err, sl_errname(code));
	cr_assert(strstr(err, part), "report \"%s\" lacks \"%s\"", err, part);
	cr_assert_null(c);
}

static const char *cidr_text(const sl_cidr *c, char *buf, size_t cap)
{
	char a[SL_ADDR_STRLEN];
	cr_assert_geq(sl_addr_format(&c->net, a, sizeof a), 0);
	snprintf(buf, cap, "%s/%u", a, c->prefix);
	return buf;
}

static char *dump(const sl_config *c)
{
	char *text = NULL;
	size_t n = 0;
	FILE *fp = open_memstream(&text, &n);
	cr_assert_not_null(fp);
	cr_assert_eq(sl_config_dump(c, fp), 0);
	fclose(fp);
	return text;
}

/* ---- Defaults ---- */

Test(config, empty_object_gives_defaults)
{
	sl_config *c = load("{}");
	cr_assert_eq(c->magic, SL_CONFIG_MAGIC);
	cr_assert_str_eq(c->source, "t.json");
	cr_assert_eq(c->listen.n, 1);
	cr_assert_eq(c->listen.v[0].kind, SL_CONF_LISTEN_INET);
	cr_assert_str_eq(c->listen.v[0].host, "127.0.0.1");
	cr_assert_eq(c->listen.v[0].port, 3128);
	cr_assert(c->listen.v[0].is_ip);
	cr_assert_eq(c->workers, 0);
	cr_assert_eq(c->upstream_from_env, false);
	cr_assert_eq(c->upstreams.n, 0);
	cr_assert_eq(c->chains.n, 0);
	sl_config_free(c);
}

Test(config, default_cache_and_timeouts)
{
	sl_config *c = load("{}");
	cr_assert_str_eq(c->cache.dir, "");
	cr_assert_eq(c->cache.max_size, 1ull << 30);
	cr_assert_eq(c->cache.max_object_size, 256ull << 20);
	cr_assert_eq(c->cache.memory, 64ull << 20);
	cr_assert_eq(c->cache.heuristic_max_ms, 86400000ull);
	cr_assert(c->cache.collapsed_forwarding);
	cr_assert_eq(c->timeouts.client_header_ms, 30000);
	cr_assert_eq(c->timeouts.client_idle_ms, 60000);
	cr_assert_eq(c->timeouts.connect_ms, 10000);
	cr_assert_eq(c->timeouts.first_byte_ms, 60000);
	cr_assert_eq(c->timeouts.tunnel_idle_ms, 600000);
	cr_assert_eq(c->timeouts.upstream_idle_ms, 60000);
	cr_assert_eq(c->timeouts.shutdown_grace_ms, 30000);
	cr_assert_eq(c->timeouts.dns_ms, 5000);
	sl_config_free(c);
}

Test(config, default_acl_and_limits)
{
	static const char *const clients[] = {"127.0.0.0/8",    "10.0.0.0/8", "172.16.0.0/12",
					      "192.168.0.0/16", "::1/128",    "fc00::/7"};
	char b[64];
	sl_config *c = load("{}");
	cr_assert_eq(c->acl.connect_ports.n, 1);
	cr_assert_eq(c->acl.connect_ports.v[0], 443);
	cr_assert_eq(c->acl.allow_loopback_destinations, false);
	cr_assert_eq(c->acl.allow_clients.n, 6);
	for (size_t i = 0; i < 6; i++)
		cr_assert_str_eq(cidr_text(&c->acl.allow_clients.v[i], b, sizeof b), clients[i]);
	cr_assert_eq(c->acl.deny_destinations.n, 0);
	cr_assert_eq(c->limits.max_request_line, 8192);
	cr_assert_eq(c->limits.max_header_size, 65536);
	cr_assert_eq(c->limits.max_header_fields, 100);
	cr_assert_eq(c->limits.max_connections, 10000);
	cr_assert_eq(c->limits.max_channels, 6);
	cr_assert_eq(c->limits.buffer_size, 65536);
	sl_config_free(c);
}

Test(config, default_routes_log_admin_tls)
{
	char b[64];
	sl_config *c = load("{}");
	cr_assert_eq(c->routes.n, 1);
	cr_assert_str_eq(c->routes.v[0].name, "route-0");
	cr_assert_eq(c->routes.v[0].via.n, 1);
	cr_assert_eq(c->routes.v[0].via.v[0].kind, SL_CONF_VIA_DIRECT);
	cr_assert_eq(c->routes.v[0].strategy, SL_CONF_STRATEGY_FAILOVER);
	cr_assert_eq(c->routes.v[0].match.hosts.n, 0);
	cr_assert_eq(c->routes.v[0].match.schemes, 0);
	cr_assert_str_eq(c->log.access, "-");
	cr_assert_eq(c->log.format, SL_CONF_LOG_SQUID);
	cr_assert_eq(c->log.level, SL_CONF_LOG_INFO);
	cr_assert_str_eq(c->log.error, "-");
	cr_assert(c->admin.enabled);
	cr_assert_eq(c->admin.allow.n, 2);
	cr_assert_str_eq(cidr_text(&c->admin.allow.v[0], b, sizeof b), "127.0.0.0/8");
	cr_assert_str_eq(cidr_text(&c->admin.allow.v[1], b, sizeof b), "::1/128");
	cr_assert_str_eq(c->admin.path_prefix, "/__sluice");
	cr_assert_str_eq(c->tls.ca_file, "");
	cr_assert_str_eq(c->tls.ca_path, "");
	cr_assert(c->tls.verify);
	sl_config_free(c);
}

/* ---- Sizes and durations ---- */

Test(config, parse_size_valid)
{
	static const struct {
		const char *s;
		uint64_t v;
	} t[] = {
		{"0", 0},
		{"100", 100},
		{"100B", 100},
		{"64KiB", 65536},
		{"512MiB", 512ull << 20},
		{"10GiB", 10ull << 30},
		{"2TiB", 2ull << 40},
		{"1KB", 1000},
		{"1kB", 1000},
		{"5MB", 5000000},
		{"1GB", 1000000000},
		{"3TB", 3000000000000ull},
		{"1.5GiB", 3ull << 29},
		{"0.5KiB", 512},
		{"18446744073709551615", UINT64_MAX},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint64_t v = 1;
		cr_assert_eq(sl_parse_size(t[i].s, &v), 0, "%s", t[i].s);
		cr_assert_eq(v, t[i].v, "%s gave %llu", t[i].s, (unsigned long long)v);
	}
}

Test(config, parse_size_invalid)
{
	static const char *const t[] = {"",      "-1",    "10 GiB", "10gib",  "10G",   "1.5",
					"GiB",   ".5KiB", "1.KiB",  "1e3",    "0x10",  "16EiB",
					"18446744073709551616", "17179869184GiB", "1.1234567KiB"};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint64_t v;
		cr_assert_eq(sl_parse_size(t[i], &v), SL_E_CONF_VALUE, "%s", t[i]);
	}
}

Test(config, parse_duration_valid)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} t[] = {
		{"30s", 30000},     {"5m", 300000},        {"1h", 3600000},     {"250ms", 250},
		{"1h30m", 5400000}, {"1d", 86400000},      {"30", 30000},       {"0", 0},
		{"0s", 0},          {"1.5s", 1500},        {"2m30s", 150000},   {"1s500ms", 1500},
		{"0.25h", 900000},  {"1d2h3m4s5ms", 93784005},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint64_t v = 1;
		cr_assert_eq(sl_parse_duration(t[i].s, &v), 0, "%s", t[i].s);
		cr_assert_eq(v, t[i].ms, "%s gave %llu", t[i].s, (unsigned long long)v);
	}
}

Test(config, parse_duration_invalid)
{
	static const char *const t[] = {"",   "s",    "-1s",  "10x",   "1m1h", "1s1s", "1 s",
					"1S", "30s5", "1.5", "ms",   "1.s",  "5mm",  "1h 30m"};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint64_t v;
		/* "1.5" alone is a valid number of seconds; everything else is not. */
		if (strcmp(t[i], "1.5") == 0) {
			cr_assert_eq(sl_parse_duration(t[i], &v), 0);
			cr_assert_eq(v, 1500);
			continue;
		}
		cr_assert_eq(sl_parse_duration(t[i], &v), SL_E_CONF_VALUE, "%s", t[i]);
	}
}

Test(config, format_size_and_duration_round_trip)
{
	static const uint64_t sizes[] = {0, 1, 100, 1000, 1024, 1536, 65536, 1000000000,
					 1ull << 30, 3ull << 29, (1ull << 40) + 1, UINT64_MAX};
	static const uint64_t durs[] = {0, 1, 250, 1000, 1500, 60000, 5400000, 86400000,
					93784005, 31536000000ull};
	char b[64];
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		uint64_t v;
		cr_assert_gt(sl_format_size(sizes[i], b, sizeof b), 0);
		cr_assert_eq(sl_parse_size(b, &v), 0, "%s", b);
		cr_assert_eq(v, sizes[i], "%s", b);
	}
	for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
		uint64_t v;
		cr_assert_gt(sl_format_duration(durs[i], b, sizeof b), 0);
		cr_assert_eq(sl_parse_duration(b, &v), 0, "%s", b);
		cr_assert_eq(v, durs[i], "%s", b);
	}
	sl_format_size(1ull << 30, b, sizeof b);
	cr_assert_str_eq(b, "1GiB");
	sl_format_size(1000000000, b, sizeof b);
	cr_assert_str_eq(b, "1GB");
	sl_format_duration(5400000, b, sizeof b);
	cr_assert_str_eq(b, "1h30m");
	sl_format_duration(1500, b, sizeof b);
	cr_assert_str_eq(b, "1s500ms");
	cr_assert_eq(sl_format_size(1ull << 30, b, 3), SL_E_INVAL);
}

Test(config, size_values_in_the_file)
{
	sl_config *c = load("{\"cache\": {\"max_size\": 2147483648, \"memory\": \"0\", "
			    "\"max_object_size\": \"1.5MiB\"}}");
	cr_assert_eq(c->cache.max_size, 2ull << 30);
	cr_assert_eq(c->cache.memory, 0);
	cr_assert_eq(c->cache.max_object_size, 3ull << 19);
	sl_config_free(c);
}

Test(config, size_errors)
{
	fails("{\n  \"cache\": {\n    \"max_size\": -3\n  }\n}", SL_E_CONF_VALUE,
	      "t.json:3: cache.max_size: expected a size like \"10GiB\", got -3");
	fails("{\"cache\": {\"memory\": \"lots\"}}", SL_E_CONF_VALUE,
	      "t.json:1: cache.memory: expected a size like \"10GiB\", got \"lots\"");
	fails("{\"cache\": {\"memory\": true}}", SL_E_CONF_TYPE,
	      "t.json:1: cache.memory: expected a size like \"10GiB\", got true");
	fails("{\"cache\": {\"memory\": 1.5}}", SL_E_CONF_VALUE,
	      "t.json:1: cache.memory: expected a size like \"10GiB\", got 1.5");
	fails("{\"limits\": {\"max_request_line\": \"16\"}}", SL_E_CONF_VALUE,
	      "t.json:1: limits.max_request_line: must be from 64 to 1MiB, got \"16\"");
	fails("{\"limits\": {\"buffer_size\": \"1GiB\"}}", SL_E_CONF_VALUE,
	      "t.json:1: limits.buffer_size: must be from 1KiB to 64MiB, got \"1GiB\"");
}

Test(config, duration_values_in_the_file)
{
	sl_config *c = load("{\"timeouts\": {\"connect\": 3, \"dns\": 0.25, \"first_byte\": "
			    "\"1m30s\", \"shutdown_grace\": 0}, \"cache\": {\"heuristic_max\": \"0s\"}}");
	cr_assert_eq(c->timeouts.connect_ms, 3000);
	cr_assert_eq(c->timeouts.dns_ms, 250);
	cr_assert_eq(c->timeouts.first_byte_ms, 90000);
	cr_assert_eq(c->timeouts.shutdown_grace_ms, 0);
	cr_assert_eq(c->cache.heuristic_max_ms, 0);
	sl_config_free(c);
}

Test(config, duration_errors)
{
	fails("{\n\"timeouts\": {\n\"connect\": \"10 s\"}}", SL_E_CONF_VALUE,
	      "t.json:3: timeouts.connect: expected a duration like \"30s\", got \"10 s\"");
	fails("{\"timeouts\": {\"dns\": -1}}", SL_E_CONF_VALUE,
	      "t.json:1: timeouts.dns: expected a duration like \"30s\", got -1");
	fails("{\"timeouts\": {\"dns\": [5]}}", SL_E_CONF_TYPE,
	      "t.json:1: timeouts.dns: expected a duration like \"30s\", got an array");
	fails("{\"timeouts\": {\"client_idle\": \"0s\"}}", SL_E_CONF_VALUE,
	      "t.json:1: timeouts.client_idle: must be from 1ms to 365d, got \"0s\"");
	fails("{\"cache\": {\"heuristic_max\": \"400d\"}}", SL_E_CONF_VALUE,
	      "t.json:1: cache.heuristic_max: must be at most 365d, got \"400d\"");
}

Test(config, max_object_size_against_max_size)
{
	sl_config *c = load("{\"cache\": {\"max_size\": \"100MiB\"}}");
	cr_assert_eq(c->cache.max_object_size, 100ull << 20, "the default shrinks to fit");
	sl_config_free(c);
	fails("{\"cache\": {\n\"max_size\": \"100MiB\",\n\"max_object_size\": \"200MiB\"}}",
	      SL_E_CONF_VALUE,
	      "t.json:3: cache.max_object_size: must not exceed cache.max_size (100MiB), got "
	      "\"200MiB\"");
}

/* ---- Booleans, integers, enums, workers ---- */

Test(config, booleans)
{
	sl_config *c = load("{\"cache\": {\"collapsed_forwarding\": false}, "
			    "\"acl\": {\"allow_loopback_destinations\": true}, \"tls\": {\"verify\": false}}");
	cr_assert_not(c->cache.collapsed_forwarding);
	cr_assert(c->acl.allow_loopback_destinations);
	cr_assert_not(c->tls.verify);
	sl_config_free(c);
	fails("{\"upstream_from_env\": \"yes\"}", SL_E_CONF_TYPE,
	      "t.json:1: upstream_from_env: expected true or false, got \"yes\"");
	fails("{\"admin\": {\"enabled\": 1}}", SL_E_CONF_TYPE,
	      "t.json:1: admin.enabled: expected true or false, got 1");
}

Test(config, integer_ranges)
{
	sl_config *c = load("{\"limits\": {\"max_header_fields\": 1, \"max_channels\": 64}}");
	cr_assert_eq(c->limits.max_header_fields, 1);
	cr_assert_eq(c->limits.max_channels, 64);
	sl_config_free(c);
	fails("{\"limits\": {\"max_channels\": 0}}", SL_E_CONF_VALUE,
	      "t.json:1: limits.max_channels: expected an integer from 1 to 64, got 0");
	fails("{\"limits\": {\"max_header_fields\": 10001}}", SL_E_CONF_VALUE,
	      "t.json:1: limits.max_header_fields: expected an integer from 1 to 10000, got 10001");
	fails("{\"limits\": {\"max_connections\": \"100\"}}", SL_E_CONF_TYPE,
	      "t.json:1: limits.max_connections: expected an integer from 1 to 1000000, got \"100\"");
	fails("{\"limits\": {\"max_connections\": 2.0}}", SL_E_CONF_VALUE,
	      "t.json:1: limits.max_connections: expected an integer from 1 to 1000000, got 2.0");
}

Test(config, workers)
{
	sl_config *c = load("{\"workers\": 8}");
	cr_assert_eq(c->workers, 8);
	cr_assert_eq(sl_config_workers(c), 8);
	sl_config_free(c);
	c = load("{\"workers\": \"auto\"}");
	cr_assert_eq(c->workers, 0);
	cr_assert_geq(sl_config_workers(c), 1);
	cr_assert_leq(sl_config_workers(c), 256);
	sl_config_free(c);
	fails("{\"workers\": 257}", SL_E_CONF_VALUE,
	      "t.json:1: workers: expected \"auto\" or an integer from 1 to 256, got 257");
	fails("{\"workers\": \"all\"}", SL_E_CONF_VALUE,
	      "t.json:1: workers: expected \"auto\" or an integer from 1 to 256, got \"all\"");
	fails("{\"workers\": null}", SL_E_CONF_TYPE,
	      "t.json:1: workers: expected \"auto\" or an integer from 1 to 256, got null");
}

Test(config, enums)
{
	sl_config *c = load("{\"log\": {\"format\": \"json\", \"level\": \"error\"}}");
	cr_assert_eq(c->log.format, SL_CONF_LOG_JSON);
	cr_assert_eq(c->log.level, SL_CONF_LOG_ERROR);
	sl_config_free(c);
	fails("{\"log\": {\"level\": \"verbose\"}}", SL_E_CONF_VALUE,
	      "t.json:1: log.level: expected \"debug\", \"info\", \"warn\" or \"error\", got "
	      "\"verbose\"");
	fails("{\"log\": {\"format\": \"JSON\"}}", SL_E_CONF_VALUE,
	      "t.json:1: log.format: expected \"squid\" or \"json\", got \"JSON\"");
	fails("{\"log\": {\"format\": 1}}", SL_E_CONF_TYPE,
	      "t.json:1: log.format: expected \"squid\" or \"json\", got 1");
}

Test(config, strings_with_a_shape)
{
	sl_config *c = load("{\"admin\": {\"path_prefix\": \"/_admin\"}, \"log\": {\"access\": \"\"}}");
	cr_assert_str_eq(c->admin.path_prefix, "/_admin");
	cr_assert_str_eq(c->log.access, "");
	sl_config_free(c);
	fails("{\"admin\": {\"path_prefix\": \"admin/\"}}", SL_E_CONF_VALUE,
	      "t.json:1: admin.path_prefix: expected a URL path like \"/__sluice\", got \"admin/\"");
	fails("{\"log\": {\"access\": 5}}", SL_E_CONF_TYPE,
	      "t.json:1: log.access: expected a string, got 5");
}

/* ---- Listen addresses, ports, CIDRs ---- */

Test(config, listen_forms)
{
	sl_config *c = load("{\"listen\": [\"0.0.0.0:8080\", \"[::1]:3129\", \"proxy.local:80\", "
			    "\"/run/sluice.sock\", \"unix:rel/s.sock\"]}");
	cr_assert_eq(c->listen.n, 5);
	cr_assert_str_eq(c->listen.v[0].host, "0.0.0.0");
	cr_assert_eq(c->listen.v[0].port, 8080);
	cr_assert_str_eq(c->listen.v[1].host, "::1");
	cr_assert(c->listen.v[1].is_ip);
	cr_assert_eq(c->listen.v[1].addr.family, AF_INET6);
	cr_assert_eq(c->listen.v[1].port, 3129);
	cr_assert_not(c->listen.v[2].is_ip);
	cr_assert_str_eq(c->listen.v[2].host, "proxy.local");
	cr_assert_eq(c->listen.v[3].kind, SL_CONF_LISTEN_UNIX);
	cr_assert_str_eq(c->listen.v[3].path, "/run/sluice.sock");
	cr_assert_eq(c->listen.v[4].kind, SL_CONF_LISTEN_UNIX);
	cr_assert_str_eq(c->listen.v[4].path, "rel/s.sock");
	sl_config_free(c);
}

Test(config, listen_errors)
{
	fails("{\"listen\": [\n  \"127.0.0.1:3128\",\n  \"127.0.0.1\"\n]}", SL_E_CONF_VALUE,
	      "t.json:3: listen[1]: expected \"host:port\", \"[v6]:port\" or a unix socket path, "
	      "got \"127.0.0.1\"");
	fails("{\"listen\": [\"localhost:99999\"]}", SL_E_CONF_VALUE,
	      "t.json:1: listen[0]: expected \"host:port\", \"[v6]:port\" or a unix socket path, "
	      "got \"localhost:99999\"");
	fails("{\"listen\": []}", SL_E_CONF_VALUE, "t.json:1: listen: must not be empty");
	fails("{\"listen\": \"127.0.0.1:3128\"}", SL_E_CONF_TYPE,
	      "t.json:1: listen: expected an array of addresses, got \"127.0.0.1:3128\"");
	fails("{\"listen\": [\"unix:\"]}", SL_E_CONF_VALUE,
	      "t.json:1: listen[0]: expected a unix socket path of 1 to 107 bytes, got \"unix:\"");
	fails("{\"listen\": [\"[::1]:80\", \"[::1]:80\"]}", SL_E_CONF_VALUE,
	      "t.json:1: listen[1]: repeats listen[0], got \"[::1]:80\"");
}

Test(config, ports_and_cidrs)
{
	char b[64];
	sl_config *c = load("{\"acl\": {\"connect_ports\": [443, 8443, 65535], \"allow_clients\": "
			    "[\"10.1.2.3/16\", \"2001:db8::1\"], \"deny_destinations\": [\"0.0.0.0/0\"]}}");
	cr_assert_eq(c->acl.connect_ports.n, 3);
	cr_assert_eq(c->acl.connect_ports.v[2], 65535);
	cr_assert_str_eq(cidr_text(&c->acl.allow_clients.v[0], b, sizeof b), "10.1.0.0/16");
	cr_assert_str_eq(cidr_text(&c->acl.allow_clients.v[1], b, sizeof b), "2001:db8::1/128");
	cr_assert_str_eq(cidr_text(&c->acl.deny_destinations.v[0], b, sizeof b), "0.0.0.0/0");
	sl_config_free(c);
	c = load("{\"acl\": {\"connect_ports\": []}}");
	cr_assert_eq(c->acl.connect_ports.n, 0);
	sl_config_free(c);
}

Test(config, port_and_cidr_errors)
{
	fails("{\"acl\": {\n\"connect_ports\": [443,\n 0]}}", SL_E_CONF_VALUE,
	      "t.json:3: acl.connect_ports[1]: expected a port from 1 to 65535, got 0");
	fails("{\"acl\": {\"connect_ports\": [\"443\"]}}", SL_E_CONF_TYPE,
	      "t.json:1: acl.connect_ports[0]: expected a port from 1 to 65535, got \"443\"");
	fails("{\"acl\": {\"allow_clients\": [\n\"10.0.0.0/8\",\n\n\"10.0.0.0/33\"]}}", SL_E_CONF_VALUE,
	      "t.json:4: acl.allow_clients[1]: expected a CIDR like \"10.0.0.0/8\" or an address, "
	      "got \"10.0.0.0/33\"");
	fails("{\"admin\": {\"allow\": [\"localhost\"]}}", SL_E_CONF_VALUE,
	      "t.json:1: admin.allow[0]: expected a CIDR like \"10.0.0.0/8\" or an address, got "
	      "\"localhost\"");
	fails("{\"acl\": {\"deny_destinations\": {}}}", SL_E_CONF_TYPE,
	      "t.json:1: acl.deny_destinations: expected an array of CIDR prefixes, got an object");
}

/* ---- Unknown and repeated keys, syntax ---- */

Test(config, unknown_key_top_level)
{
	fails("{\n  \"listen\": [\"127.0.0.1:3128\"],\n  \"cahce\": {}\n}", SL_E_CONF_UNKNOWN_KEY,
	      "t.json:3: cahce: unknown key (did you mean \"cache\"?)");
	fails("{\"frobnicate\": 1}", SL_E_CONF_UNKNOWN_KEY, "t.json:1: frobnicate: unknown key");
	fails("{\"a b\": 1}", SL_E_CONF_UNKNOWN_KEY, "t.json:1: [\"a b\"]: unknown key");
}

Test(config, unknown_key_in_every_section)
{
	static const struct {
		const char *text, *want;
	} t[] = {
		{"{\"cache\": {\"max_sise\": 1}}", "cache.max_sise"},
		{"{\"timeouts\": {\"read\": 1}}", "timeouts.read"},
		{"{\"acl\": {\"allow\": []}}", "acl.allow"},
		{"{\"limits\": {\"max_body\": 1}}", "limits.max_body"},
		{"{\"log\": {\"file\": \"x\"}}", "log.file"},
		{"{\"admin\": {\"port\": 1}}", "admin.port"},
		{"{\"tls\": {\"ciphers\": \"x\"}}", "tls.ciphers"},
		{"{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"weight\": 1}}}",
		 "upstreams.u.weight"},
		{"{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"auth\": {\"user\": "
		 "\"a\", \"password\": \"b\", \"realm\": \"r\"}}}}",
		 "upstreams.u.auth.realm"},
		{"{\"upstreams\": {\"u\": {\"type\": \"https\", \"host\": \"h\", \"tls\": {\"sni\": "
		 "\"x\"}}}}",
		 "upstreams.u.tls.sni"},
		{"{\"routes\": [{\"via\": \"direct\", \"when\": {}}]}", "routes[0].when"},
		{"{\"routes\": [{\"via\": \"direct\", \"match\": {\"paths\": [\"/\"]}}]}",
		 "routes[0].match.paths"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char want[128];
		snprintf(want, sizeof want, "t.json:1: %s: unknown key", t[i].want);
		fails_with(t[i].text, SL_E_CONF_UNKNOWN_KEY, want);
	}
}

Test(config, duplicate_keys)
{
	fails("{\n  \"workers\": 2,\n  \"workers\": 3\n}", SL_E_CONF_DUPLICATE,
	      "t.json:3: workers: duplicate key (first at line 2)");
	fails("{\"cache\": {\"dir\": \"a\",\n\n \"dir\": \"b\"}}", SL_E_CONF_DUPLICATE,
	      "t.json:3: cache.dir: duplicate key (first at line 1)");
	fails("{\"upstreams\": {\"a.b\": \"http://x\",\n \"a.b\": \"http://y\"}}",
	      SL_E_CONF_DUPLICATE, "t.json:2: upstreams[\"a.b\"]: duplicate key (first at line 1)");
	/* The same key in two different objects is no repeat. */
	sl_config *c = load("{\"routes\": [{\"via\": \"direct\"}, {\"via\": \"deny\"}]}");
	sl_config_free(c);
}

Test(config, duplicate_key_in_a_fixture)
{
	sl_config *c = NULL;
	sl_config_error e;
	int rc = sl_config_load_file_ex(DATA "dup_nested.json", &c, &e);
	cr_assert_eq(rc, SL_E_CONF_DUPLICATE);
	cr_assert_eq(e.code, SL_E_CONF_DUPLICATE);
	cr_assert_eq(e.line, 7);
	cr_assert_str_eq(e.path, "routes[1].via");
	cr_assert_str_eq(sl_config_error_str(&e),
			 DATA "dup_nested.json:7: routes[1].via: duplicate key (first at line 5)");
	cr_assert_null(c);
}

Test(config, syntax_errors)
{
	fails("{\n  \"workers\": 2\n  \"cache\": {}\n}", SL_E_CONF_SYNTAX,
	      "t.json:3: invalid JSON: '}' expected near '\"cache\"'");
	fails("", SL_E_CONF_SYNTAX, "t.json:1: invalid JSON: '[' or '{' expected near end of file");
	fails("[1]", SL_E_CONF_TYPE, "t.json:1: expected an object at the top level, got an array");
	fails_with("{\"workers\": 2,}", SL_E_CONF_SYNTAX, "t.json:1: invalid JSON: ");
}

Test(config, comments_are_allowed_everywhere)
{
	sl_config *c = load("{\"//\": \"top\", \"cache\": {\"//\": [\"a\", \"b\"]}, \"upstreams\": "
			    "{\"//\": \"x\", \"u\": {\"//\": \"y\", \"type\": \"http\", \"host\": "
			    "\"h\"}}, \"chains\": {\"//\": \"z\"}, \"routes\": [{\"//\": \"r\", "
			    "\"via\": \"u\", \"match\": {\"//\": \"m\", \"ports\": [80]}}]}");
	cr_assert_eq(c->upstreams.n, 1);
	cr_assert_eq(c->chains.n, 0);
	cr_assert_eq(c->routes.v[0].via.v[0].upstream, &c->upstreams.v[0]);
	sl_config_free(c);
	fails("{\"cache\": {\"//\": 1}}", SL_E_CONF_TYPE,
	      "t.json:1: cache[\"//\"]: expected a comment (a string or an array of strings), "
	      "got 1");
	fails("{\"//\": [\"a\",\n 2]}", SL_E_CONF_TYPE,
	      "t.json:2: [\"//\"][1]: expected a comment string, got 2");
}

/* ---- Upstreams ---- */

Test(config, upstream_url_shorthand_default_ports)
{
	sl_config *c = load("{\"upstreams\": {\"a\": \"http://proxy.example\", \"b\": "
			    "\"https://secure.example\", \"c\": \"socks5://s.example\", \"d\": "
			    "\"socks5h://[2001:db8::1]\", \"e\": \"HTTP://p.example:8080/\"}}");
	const sl_conf_upstream *u = c->upstreams.v;
	cr_assert_eq(c->upstreams.n, 5);
	cr_assert_eq(u[0].type, SL_CONF_UP_HTTP);
	cr_assert_eq(u[0].port, 3128);
	cr_assert_eq(u[0].mode, SL_CONF_MODE_CONNECT);
	cr_assert_eq(u[0].dns, SL_CONF_DNS_REMOTE);
	cr_assert_eq(u[1].type, SL_CONF_UP_HTTPS);
	cr_assert_eq(u[1].port, 443);
	cr_assert(u[1].tls.verify);
	cr_assert_eq(u[2].type, SL_CONF_UP_SOCKS5);
	cr_assert_eq(u[2].port, 1080);
	cr_assert_eq(u[2].dns, SL_CONF_DNS_LOCAL);
	cr_assert_eq(u[3].type, SL_CONF_UP_SOCKS5H);
	cr_assert_str_eq(u[3].host, "2001:db8::1");
	cr_assert_eq(u[3].dns, SL_CONF_DNS_REMOTE);
	cr_assert_eq(u[4].port, 8080);
	cr_assert_str_eq(u[4].name, "e");
	for (int i = 0; i < 5; i++)
		cr_assert_not(u[i].has_auth);
	cr_assert_eq(sl_config_upstream(c, "c"), &u[2]);
	cr_assert_null(sl_config_upstream(c, "zz"));
	sl_config_free(c);
}

Test(config, upstream_url_with_credentials)
{
	sl_config *c = load("{\"upstreams\": {\"a\": \"socks5h://alice:p%40ss%3Aw0rd@gw:1081\", "
			    "\"b\": \"http://bob@proxy\"}}");
	const sl_conf_upstream *a = &c->upstreams.v[0], *b = &c->upstreams.v[1];
	cr_assert(a->has_auth);
	cr_assert_str_eq(a->auth.user, "alice");
	cr_assert_str_eq(a->auth.password, "p@ss:w0rd");
	cr_assert_eq(a->auth.source, SL_CONF_SECRET_INLINE);
	cr_assert_null(a->auth.source_name);
	cr_assert_str_eq(a->host, "gw");
	cr_assert_eq(a->port, 1081);
	cr_assert(b->has_auth);
	cr_assert_str_eq(b->auth.user, "bob");
	cr_assert_str_eq(b->auth.password, "");
	sl_config_free(c);
}

Test(config, upstream_url_errors)
{
	/* The error shows the URL with its user information masked. */
	static const char *const bad[][2] = {
		{"ftp://x", "ftp://x"},
		{"proxy:3128", "proxy:3128"},
		{"http://", "http://"},
		{"http://h/path", "http://h/path"},
		{"http://h:0", "http://h:0"},
		{"http://%zz@h", "http://***@h"},
		{"http://:pw@h", "http://***@h"},
		{"http://a%00b@h", "http://***@h"},
		{"http://u:secret@h:0", "http://***@h:0"},
		{"socks5://h:70000", "socks5://h:70000"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[128], want[256];
		snprintf(text, sizeof text, "{\"upstreams\": {\"u\": \"%s\"}}", bad[i][0]);
		snprintf(want, sizeof want,
			 "t.json:1: upstreams.u: expected a URL like \"http://proxy.example:3128\" or "
			 "an object, got \"%s\"",
			 bad[i][1]);
		fails(text, SL_E_CONF_VALUE, want);
	}
	fails("{\"upstreams\": {\"u\": 8080}}", SL_E_CONF_TYPE,
	      "t.json:1: upstreams.u: expected a URL string or an object, got 8080");
}

Test(config, upstream_object_form)
{
	sl_config *c = load("{\"upstreams\": {\"s\": {\"type\": \"https\", \"host\": \"[::1]\", "
			    "\"port\": 8443, \"mode\": \"forward\", \"tls\": {\"ca_file\": \"ca.pem\", "
			    "\"verify\": false, \"server_name\": \"gw.internal\"}}, \"k\": {\"type\": "
			    "\"socks5\", \"host\": \"10.0.0.1\", \"dns\": \"remote\"}}}");
	const sl_conf_upstream *s = &c->upstreams.v[0], *k = &c->upstreams.v[1];
	cr_assert_str_eq(s->host, "::1");
	cr_assert_eq(s->port, 8443);
	cr_assert_eq(s->mode, SL_CONF_MODE_FORWARD);
	cr_assert_str_eq(s->tls.ca_file, "ca.pem");
	cr_assert_not(s->tls.verify);
	cr_assert_str_eq(s->tls.server_name, "gw.internal");
	cr_assert_eq(k->dns, SL_CONF_DNS_REMOTE);
	cr_assert_eq(k->port, 1080);
	sl_config_free(c);
}

Test(config, upstream_object_errors)
{
	fails("{\"upstreams\": {\n\"u\": {\"host\": \"h\"}}}", SL_E_CONF_MISSING,
	      "t.json:2: upstreams.u: missing required key \"type\"");
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\"}}}", SL_E_CONF_MISSING,
	      "t.json:1: upstreams.u: missing required key \"host\"");
	fails("{\"upstreams\": {\"u\": {\"type\": \"ftp\", \"host\": \"h\"}}}", SL_E_CONF_VALUE,
	      "t.json:1: upstreams.u.type: expected \"http\", \"https\", \"socks5\" or \"socks5h\", "
	      "got \"ftp\"");
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"a b\"}}}", SL_E_CONF_VALUE,
	      "t.json:1: upstreams.u.host: expected a host name or an IP address, got \"a b\"");
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h:80\"}}}", SL_E_CONF_VALUE,
	      "t.json:1: upstreams.u.host: expected a host name or an IP address, got \"h:80\"");
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"port\": 0}}}",
	      SL_E_CONF_VALUE, "t.json:1: upstreams.u.port: expected a port from 1 to 65535, got 0");
	fails_with("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"dns\": "
		   "\"local\"}}}",
		   SL_E_CONF_VALUE, "t.json:1: upstreams.u.dns: only socks5 upstreams take \"dns\"");
	fails_with("{\"upstreams\": {\"u\": {\"type\": \"socks5h\", \"host\": \"h\", \"dns\": "
		   "\"local\"}}}",
		   SL_E_CONF_VALUE, "upstreams.u.dns: socks5h always resolves names remotely");
	fails("{\"upstreams\": {\"u\": {\"type\": \"socks5\", \"host\": \"h\", \"mode\": "
	      "\"forward\"}}}",
	      SL_E_CONF_VALUE, "t.json:1: upstreams.u.mode: only http and https upstreams take \"mode\"");
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"tls\": {}}}}",
	      SL_E_CONF_VALUE, "t.json:1: upstreams.u.tls: only https upstreams take \"tls\"");
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"auth\": {\"user\": "
	      "\"a:b\", \"password\": \"p\"}}}}",
	      SL_E_CONF_VALUE,
	      "t.json:1: upstreams.u.auth.user: a user name for an HTTP proxy cannot contain \":\"");
}

Test(config, upstream_names)
{
	fails("{\"upstreams\": {\n\"direct\": \"http://h\"}}", SL_E_CONF_VALUE,
	      "t.json:2: upstreams.direct: \"direct\" is reserved and cannot name an upstream");
	fails("{\"upstreams\": {\"a b\": \"http://h\"}}", SL_E_CONF_VALUE,
	      "t.json:1: upstreams[\"a b\"]: invalid upstream name: use 1 to 64 letters, digits, "
	      "\"_\", \".\" or \"-\"");
	sl_config *c = load("{\"upstreams\": {\"gw.corp_1-a\": \"http://h\"}}");
	cr_assert_str_eq(c->upstreams.v[0].name, "gw.corp_1-a");
	sl_config_free(c);
}

Test(config, password_env_set)
{
	setenv("SL_TEST_PROXY_PW", "from-env", 1);
	sl_config *c = load("{\"upstreams\": {\"u\": {\"type\": \"socks5\", \"host\": \"h\", "
			    "\"auth\": {\"user\": \"me\", \"password_env\": \"SL_TEST_PROXY_PW\"}}}}");
	const sl_conf_upstream *u = &c->upstreams.v[0];
	cr_assert(u->has_auth);
	cr_assert_str_eq(u->auth.password, "from-env");
	cr_assert_eq(u->auth.source, SL_CONF_SECRET_ENV);
	cr_assert_str_eq(u->auth.source_name, "SL_TEST_PROXY_PW");
	char *text = dump(c);
	cr_assert(strstr(text, "\"password_env\": \"SL_TEST_PROXY_PW\""));
	cr_assert_null(strstr(text, "from-env"));
	free(text);
	sl_config_free(c);
	unsetenv("SL_TEST_PROXY_PW");
}

Test(config, password_env_unset)
{
	unsetenv("SL_TEST_NO_SUCH_VAR");
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"auth\": {\n"
	      "\"user\": \"me\",\n\"password_env\": \"SL_TEST_NO_SUCH_VAR\"}}}}",
	      SL_E_CONF_VALUE,
	      "t.json:3: upstreams.u.auth.password_env: environment variable "
	      "\"SL_TEST_NO_SUCH_VAR\" is not set");
}

Test(config, password_file)
{
	sl_config *c = load("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"auth\": "
			    "{\"user\": \"me\", \"password_file\": \"" DATA "secret.txt\"}}}}");
	cr_assert_str_eq(c->upstreams.v[0].auth.password, "s3cret-from-file");
	cr_assert_eq(c->upstreams.v[0].auth.source, SL_CONF_SECRET_FILE);
	sl_config_free(c);
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"auth\": {\"user\": "
	      "\"me\", \"password_file\": \"" DATA "no-such-file\"}}}}",
	      SL_E_CONF_IO,
	      "t.json:1: upstreams.u.auth.password_file: cannot read \"" DATA
	      "no-such-file\": No such file or directory");
}

Test(config, password_sources_exactly_one)
{
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"auth\": {\"user\": "
	      "\"me\"}}}}",
	      SL_E_CONF_MISSING,
	      "t.json:1: upstreams.u.auth: needs exactly one of \"password\", \"password_file\" and "
	      "\"password_env\"");
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"auth\": {\"user\": "
	      "\"me\", \"password\": \"a\", \"password_env\": \"HOME\"}}}}",
	      SL_E_CONF_VALUE,
	      "t.json:1: upstreams.u.auth: needs exactly one of \"password\", \"password_file\" and "
	      "\"password_env\"");
	fails("{\"upstreams\": {\"u\": {\"type\": \"http\", \"host\": \"h\", \"auth\": {"
	      "\"password\": \"a\"}}}}",
	      SL_E_CONF_MISSING, "t.json:1: upstreams.u.auth: missing required key \"user\"");
}

Test(config, socks5_credentials_limit)
{
	char text[1024], user[300];
	memset(user, 'u', 256);
	user[256] = '\0';
	snprintf(text, sizeof text,
		 "{\"upstreams\": {\"u\": {\"type\": \"socks5\", \"host\": \"h\", \"auth\": "
		 "{\"user\": \"%s\", \"password\": \"p\"}}}}",
		 user);
	fails(text, SL_E_CONF_VALUE,
	      "t.json:1: upstreams.u.auth: a SOCKS5 user name and password are at most 255 bytes "
	      "each");
}

/* ---- Chains ---- */

Test(config, chains_resolve)
{
	sl_config *c = load("{\"upstreams\": {\"a\": \"socks5h://a\", \"b\": \"http://b\"}, "
			    "\"chains\": {\"ab\": [\"a\", \"b\"], \"just-b\": [\"b\"]}}");
	cr_assert_eq(c->chains.n, 2);
	const sl_conf_chain *ab = sl_config_chain(c, "ab");
	cr_assert_not_null(ab);
	cr_assert_eq(ab->hops.n, 2);
	cr_assert_eq(ab->hops.v[0], &c->upstreams.v[0]);
	cr_assert_eq(ab->hops.v[1], &c->upstreams.v[1]);
	cr_assert_eq(sl_config_chain(c, "just-b")->hops.n, 1);
	cr_assert_null(sl_config_chain(c, "a"));
	sl_config_free(c);
}

Test(config, chain_to_unknown_upstream)
{
	sl_config *c = NULL;
	char err[512];
	int rc = sl_config_load_file(DATA "unknown_ref.json", &c, err, sizeof err);
	cr_assert_eq(rc, SL_E_CONF_REF);
	cr_assert_str_eq(err, DATA "unknown_ref.json:8: chains.via-gw[1]: unknown upstream \"corpx\"");
	cr_assert_null(c);
}

Test(config, chain_errors)
{
	fails("{\"upstreams\": {\"a\": \"http://a\"}, \"chains\": {\n\"a\": [\"a\"]}}",
	      SL_E_CONF_VALUE, "t.json:2: chains.a: \"a\" is already the name of an upstream");
	fails("{\"upstreams\": {\"a\": \"http://a\"}, \"chains\": {\"c\": []}}", SL_E_CONF_VALUE,
	      "t.json:1: chains.c: must list at least one upstream");
	fails("{\"upstreams\": {\"a\": \"http://a\"}, \"chains\": {\"c\": [\"a\", \"d\"], \"d\": "
	      "[\"a\"]}}",
	      SL_E_CONF_REF, "t.json:1: chains.c[1]: \"d\" is a chain, and a chain lists upstreams only");
	fails("{\"upstreams\": {\"f\": {\"type\": \"http\", \"host\": \"f\", \"mode\": \"forward\"}, "
	      "\"s\": \"socks5://s\"}, \"chains\": {\"c\": [\"f\", \"s\"]}}",
	      SL_E_CONF_VALUE,
	      "t.json:1: chains.c[0]: upstream \"f\" has mode \"forward\", so it can only be the last "
	      "hop");
	fails("{\"chains\": {\"deny\": [\"x\"]}}", SL_E_CONF_VALUE,
	      "t.json:1: chains.deny: \"deny\" is reserved and cannot name a chain");
	fails("{\"chains\": {\"c\": \"x\"}}", SL_E_CONF_TYPE,
	      "t.json:1: chains.c: expected an array of upstream names, got \"x\"");
}

/* ---- Routes ---- */

Test(config, routes_resolve)
{
	sl_config *c = load("{\"upstreams\": {\"u\": \"http://u\", \"v\": \"http://v\"}, "
			    "\"chains\": {\"c\": [\"u\", \"v\"]}, \"routes\": ["
			    "{\"name\": \"one\", \"via\": [\"c\", \"u\", \"direct\", \"deny\"], "
			    "\"strategy\": \"round-robin\"}, {\"via\": \"v\"}]}");
	const sl_conf_route *r = c->routes.v;
	cr_assert_eq(c->routes.n, 2);
	cr_assert_str_eq(r[0].name, "one");
	cr_assert_eq(r[0].strategy, SL_CONF_STRATEGY_ROUND_ROBIN);
	cr_assert_eq(r[0].via.n, 4);
	cr_assert_eq(r[0].via.v[0].kind, SL_CONF_VIA_CHAIN);
	cr_assert_eq(r[0].via.v[0].chain, &c->chains.v[0]);
	cr_assert_str_eq(r[0].via.v[0].name, "c");
	cr_assert_eq(r[0].via.v[1].kind, SL_CONF_VIA_UPSTREAM);
	cr_assert_eq(r[0].via.v[1].upstream, &c->upstreams.v[0]);
	cr_assert_eq(r[0].via.v[2].kind, SL_CONF_VIA_DIRECT);
	cr_assert_eq(r[0].via.v[3].kind, SL_CONF_VIA_DENY);
	cr_assert_str_eq(r[1].name, "route-1");
	cr_assert_eq(r[1].via.v[0].upstream, &c->upstreams.v[1]);
	cr_assert_eq(r[1].strategy, SL_CONF_STRATEGY_FAILOVER);
	sl_config_free(c);
}

Test(config, route_via_unknown_name)
{
	fails("{\"routes\": [\n  {\"via\": \"direct\"},\n  {\"via\": [\"direct\",\n    \"corp\"]}\n]}",
	      SL_E_CONF_REF, "t.json:4: routes[1].via[1]: unknown upstream or chain \"corp\"");
	fails("{\"routes\": [{\"via\": \"nowhere\"}]}", SL_E_CONF_REF,
	      "t.json:1: routes[0].via: unknown upstream or chain \"nowhere\"");
}

Test(config, route_errors)
{
	fails("{\"routes\": [{\"name\": \"r\"}]}", SL_E_CONF_MISSING,
	      "t.json:1: routes[0]: missing required key \"via\"");
	fails("{\"routes\": [{\"via\": []}]}", SL_E_CONF_VALUE,
	      "t.json:1: routes[0].via: must not be empty");
	fails("{\"routes\": [{\"via\": 1}]}", SL_E_CONF_TYPE,
	      "t.json:1: routes[0].via: expected a name or an array of names, got 1");
	fails("{\"routes\": []}", SL_E_CONF_VALUE,
	      "t.json:1: routes: must not be empty (unless upstream_from_env is true)");
	fails("{\"routes\": [\"direct\"]}", SL_E_CONF_TYPE,
	      "t.json:1: routes[0]: expected an object, got \"direct\"");
	fails("{\"routes\": [{\"via\": \"direct\", \"strategy\": \"random\"}]}", SL_E_CONF_VALUE,
	      "t.json:1: routes[0].strategy: expected \"failover\" or \"round-robin\", got \"random\"");
	fails("{\"routes\": [{\"via\": \"direct\"},\n{\"name\": \"route-0\", \"via\": \"deny\"}]}",
	      SL_E_CONF_VALUE, "t.json:2: routes[1].name: \"route-0\" is already the name of routes[0]");
	fails("{\"routes\": [{\"name\": \"has space\", \"via\": \"direct\"}]}", SL_E_CONF_VALUE,
	      "t.json:1: routes[0].name: expected a name of 1 to 64 letters, digits, \"_\", \".\" or "
	      "\"-\", got \"has space\"");
}

Test(config, route_match)
{
	char b[64];
	sl_config *c = load("{\"routes\": [{\"match\": {\"hosts\": [\"*.Internal.Example\", "
			    "\".corp\", \"exact.host\"], \"cidrs\": [\"10.0.0.0/8\"], \"ports\": [80, "
			    "443], \"schemes\": [\"https\"], \"methods\": [\"GET\", \"PROPFIND\"]}, "
			    "\"via\": \"direct\"}, {\"match\": {}, \"via\": \"deny\"}]}");
	const sl_conf_match *m = &c->routes.v[0].match;
	cr_assert_eq(m->hosts.n, 3);
	cr_assert_str_eq(m->hosts.v[0], "*.internal.example");
	cr_assert_str_eq(m->hosts.v[1], ".corp");
	cr_assert_str_eq(cidr_text(&m->cidrs.v[0], b, sizeof b), "10.0.0.0/8");
	cr_assert_eq(m->ports.n, 2);
	cr_assert_eq(m->schemes, SL_CONF_SCHEME_HTTPS);
	cr_assert_str_eq(m->methods.v[1], "PROPFIND");
	const sl_conf_match *any = &c->routes.v[1].match;
	cr_assert_eq(any->hosts.n + any->cidrs.n + any->ports.n + any->methods.n, 0);
	cr_assert_eq(any->schemes, 0);
	sl_config_free(c);
}

Test(config, route_match_errors)
{
	fails("{\"routes\": [{\"match\": {\"hosts\": []}, \"via\": \"direct\"}]}", SL_E_CONF_VALUE,
	      "t.json:1: routes[0].match.hosts: must not be empty");
	fails("{\"routes\": [{\"match\": {\"hosts\": [\"a b\"]}, \"via\": \"direct\"}]}",
	      SL_E_CONF_VALUE,
	      "t.json:1: routes[0].match.hosts[0]: expected a host name, a glob like "
	      "\"*.example.com\" or a suffix like \".example.com\", got \"a b\"");
	fails("{\"routes\": [{\"match\": {\"schemes\": [\"ftp\"]}, \"via\": \"direct\"}]}",
	      SL_E_CONF_VALUE,
	      "t.json:1: routes[0].match.schemes[0]: expected \"http\" or \"https\", got \"ftp\"");
	fails("{\"routes\": [{\"match\": {\"methods\": [\"GE T\"]}, \"via\": \"direct\"}]}",
	      SL_E_CONF_VALUE,
	      "t.json:1: routes[0].match.methods[0]: expected a method like \"GET\", got \"GE T\"");
	fails("{\"routes\": [{\"match\": [], \"via\": \"direct\"}]}", SL_E_CONF_TYPE,
	      "t.json:1: routes[0].match: expected an object, got an array");
}

Test(config, error_deep_in_a_fixture)
{
	sl_config *c = NULL;
	sl_config_error e;
	int rc = sl_config_load_file_ex(DATA "bad_nested.json", &c, &e);
	cr_assert_eq(rc, SL_E_CONF_VALUE);
	cr_assert_eq(e.line, 12);
	cr_assert_str_eq(e.path, "routes[1].match.ports[1]");
	cr_assert_str_eq(e.message, "expected a port from 1 to 65535, got 70000");
	cr_assert_str_eq(e.text, DATA "bad_nested.json:12: routes[1].match.ports[1]: expected a "
				      "port from 1 to 65535, got 70000");
	cr_assert_null(c);
}

Test(config, host_match)
{
	cr_assert(sl_config_host_match(".example.com", "example.com", 11));
	cr_assert(sl_config_host_match(".example.com", "a.b.EXAMPLE.com", 15));
	cr_assert_not(sl_config_host_match(".example.com", "badexample.com", 14));
	cr_assert(sl_config_host_match("*.example.com", "www.example.com", 15));
	cr_assert_not(sl_config_host_match("*.example.com", "example.com", 11));
	cr_assert(sl_config_host_match("exact.host", "Exact.Host", 10));
	cr_assert_not(sl_config_host_match("exact.host", "exact.hostx", 11));
	cr_assert(sl_config_host_match("*", "anything", 8));
	cr_assert(sl_config_host_match("build-??.ci", "build-07.ci", 11));
	cr_assert_not(sl_config_host_match("build-??.ci", "build-7.ci", 10));
	cr_assert(sl_config_host_match("*.internal.*", "a.internal.example", 18));
	/* The host is a length-delimited slice: bytes after n do not count. */
	cr_assert(sl_config_host_match("a.example", "a.example:443", 9));
}

/* ---- Files, dumps, references ---- */

Test(config, load_file_errors)
{
	sl_config *c = NULL;
	char err[512];
	int rc = sl_config_load_file(DATA "no-such.json", &c, err, sizeof err);
	cr_assert_eq(rc, SL_E_CONF_IO);
	cr_assert_str_eq(err, DATA "no-such.json: cannot read: No such file or directory");
	rc = sl_config_load_file(DATA, &c, err, sizeof err);
	cr_assert_eq(rc, SL_E_CONF_IO);
	cr_assert_str_eq(err, DATA ": cannot read: Is a directory");
	cr_assert_null(c);
	/* A short buffer gets a cut, terminated report. */
	char tiny[8];
	rc = sl_config_load_string("{\"x\": 1}", "t.json", &c, tiny, sizeof tiny);
	cr_assert_eq(rc, SL_E_CONF_UNKNOWN_KEY);
	cr_assert_str_eq(tiny, "t.json:");
}

Test(config, full_fixture_values)
{
	sl_config *c = NULL;
	char err[512] = "";
	cr_assert_eq(sl_config_load_file(DATA "full.json", &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c->listen.n, 4);
	cr_assert_eq(c->workers, 4);
	cr_assert_eq(c->cache.max_object_size, 1000000000);
	cr_assert_eq(c->timeouts.client_idle_ms, 120000);
	cr_assert_eq(c->timeouts.connect_ms, 2500);
	cr_assert_eq(c->timeouts.first_byte_ms, 90000);
	cr_assert_eq(c->timeouts.dns_ms, 750);
	cr_assert_eq(c->upstreams.n, 4);
	const sl_conf_upstream *corp = sl_config_upstream(c, "corp");
	cr_assert_str_eq(corp->auth.password, "s3cret-from-file");
	const sl_conf_upstream *jump = sl_config_upstream(c, "jump");
	cr_assert_str_eq(jump->auth.password, "pa:ss");
	cr_assert_eq(c->chains.n, 2);
	cr_assert_eq(c->routes.n, 4);
	cr_assert_str_eq(c->routes.v[1].name, "route-1");
	cr_assert_eq(c->routes.v[2].via.v[0].kind, SL_CONF_VIA_CHAIN);
	cr_assert(c->upstream_from_env);
	cr_assert_eq(c->log.level, SL_CONF_LOG_DEBUG);
	cr_assert_not(c->admin.enabled);
	sl_config_free(c);
}

Test(config, dump_round_trip_and_masking)
{
	sl_config *c = NULL, *again = NULL;
	char err[512] = "";
	cr_assert_eq(sl_config_load_file(DATA "full.json", &c, err, sizeof err), 0, "%s", err);
	char *first = dump(c);
	cr_assert_null(strstr(first, "s3cret"), "a file's secret never prints");
	cr_assert_null(strstr(first, "pa:ss"), "an inline secret never prints");
	cr_assert(strstr(first, "\"password\": \"***\""));
	cr_assert(strstr(first, "\"password_file\": \"" DATA "secret.txt\""));
	cr_assert_eq(sl_config_load_string(first, "dump", &again, err, sizeof err), 0, "%s", err);
	char *second = dump(again);
	cr_assert_str_eq(first, second);
	free(first);
	free(second);
	sl_config_free(again);
	sl_config_free(c);

	c = load("{}");
	first = dump(c);
	cr_assert_eq(sl_config_load_string(first, "dump", &again, err, sizeof err), 0, "%s", err);
	second = dump(again);
	cr_assert_str_eq(first, second);
	cr_assert(strstr(first, "\"workers\": \"auto\""));
	cr_assert(strstr(first, "\"max_size\": \"1GiB\""));
	cr_assert(strstr(first, "\"tunnel_idle\": \"10m\""));
	free(first);
	free(second);
	sl_config_free(again);
	sl_config_free(c);
}

static void *ref_worker(void *arg)
{
	sl_config *c = arg;
	for (int i = 0; i < 20000; i++) {
		sl_config *r = sl_config_ref(c);
		cr_assert_eq(r->limits.max_channels, 6);
		sl_config_unref(r);
	}
	return NULL;
}

Test(config, references_across_threads)
{
	sl_config *c = load("{}");
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, ref_worker, c), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&c->refs), 1);
	sl_config *extra = sl_config_ref(c);
	sl_config_free(c); /* the loader's reference */
	cr_assert_eq(extra->magic, SL_CONFIG_MAGIC, "alive while a reference remains");
	sl_config_unref(extra);
	sl_config_unref(NULL);
}

Test(config, load_string_ex_with_length)
{
	static const char text[] = "{\"workers\": 3}garbage";
	sl_config *c = NULL;
	sl_config_error e;
	cr_assert_eq(sl_config_load_string_ex(text, 14, NULL, &c, &e), 0);
	cr_assert_eq(c->workers, 3);
	cr_assert_str_eq(c->source, "<config>");
	cr_assert_str_eq(sl_config_error_str(&e), "");
	sl_config_free(c);
	cr_assert_eq(sl_config_load_string_ex(text, sizeof text - 1, "x", &c, &e), SL_E_CONF_SYNTAX);
	cr_assert_eq(e.code, SL_E_CONF_SYNTAX);
	cr_assert_eq(e.line, 1);
	cr_assert_str_eq(e.path, "");
}

Test(config, shipped_default_config_loads)
{
	sl_config *c = NULL;
	char err[512] = "";
	cr_assert_eq(sl_config_load_file("conf/sluice.json", &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c->listen.n, 1);
	cr_assert_str_eq(c->listen.v[0].host, "127.0.0.1");
	cr_assert_eq(c->listen.v[0].port, 3128);
	cr_assert_str_eq(c->cache.dir, "build/cache");
	cr_assert_str_eq(c->log.access, "-");
	sl_config_free(c);
}

Test(config, shipped_examples_load)
{
	glob_t g;
	/* The examples take their passwords from the environment. */
	setenv("CORP_PROXY_PASSWORD", "example-password", 1);
	setenv("BACKUP_PROXY_PASSWORD", "example-password", 1);
	setenv("EDGE_PROXY_PASSWORD", "example-password", 1);
	cr_assert_eq(glob("conf/examples/*.json", 0, NULL, &g), 0, "no examples found");
	cr_assert_geq(g.gl_pathc, 3);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		sl_config *c = NULL;
		char err[512] = "";
		int rc = sl_config_load_file(g.gl_pathv[i], &c, err, sizeof err);
		cr_assert_eq(rc, 0, "%s: %s", g.gl_pathv[i], err);
		char *text = dump(c);
		cr_assert_gt(strlen(text), 100);
		free(text);
		sl_config_free(c);
	}
	globfree(&g);
}

/* ---- Health, the environment's proxies, limits of chains and routes ---- */

Test(config, health_defaults_and_errors)
{
	sl_config *c = load("{}");
	cr_assert_eq(c->health.down_after, 1);
	cr_assert_eq(c->health.retry_ms, 5000);
	cr_assert_eq(c->health.max_retry_ms, 300000);
	sl_config_free(c);
	c = load("{\"health\": {\"down_after\": 3, \"retry\": \"250ms\", \"max_retry\": \"1m\"}}");
	cr_assert_eq(c->health.down_after, 3);
	cr_assert_eq(c->health.retry_ms, 250);
	cr_assert_eq(c->health.max_retry_ms, 60000);
	sl_config_free(c);
	fails("{\"health\": {\"retry\": \"10s\", \"max_retry\": \"5s\"}}", SL_E_CONF_VALUE,
	      "t.json:1: health.max_retry: must not be shorter than health.retry (10s), got \"5s\"");
	fails_with("{\"health\": {\"down_after\": 0}}", SL_E_CONF_VALUE, "health.down_after");
	fails_with("{\"health\": {\"retries\": 1}}", SL_E_CONF_UNKNOWN_KEY, "health.retries");
}

static void clear_proxy_env(void)
{
	static const char *const vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy",
					   "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
					   "no_proxy", "NO_PROXY"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
}

Test(config, upstream_from_env_reads_the_environment)
{
	clear_proxy_env();
	setenv("HTTP_PROXY", "http://ci:s3cret@proxy.ci.example:3128", 1);
	setenv("https_proxy", "socks5h://gw.example:1080", 1);
	setenv("NO_PROXY", "localhost,.internal.example", 1);
	sl_config *c = load("{\"upstream_from_env\": true}");
	/* Without routes of its own, every request takes the environment's. */
	cr_assert_eq(c->routes.n, 0);
	cr_assert_not_null(c->env.http);
	cr_assert_str_eq(c->env.http->name, "env:HTTP_PROXY");
	cr_assert_eq(c->env.http->type, SL_CONF_UP_HTTP);
	cr_assert_str_eq(c->env.http->host, "proxy.ci.example");
	cr_assert_eq(c->env.http->port, 3128);
	cr_assert(c->env.http->has_auth);
	cr_assert_str_eq(c->env.http->auth.user, "ci");
	cr_assert_str_eq(c->env.http->auth.password, "s3cret");
	cr_assert_str_eq(c->env.https->name, "env:https_proxy");
	cr_assert_eq(c->env.https->type, SL_CONF_UP_SOCKS5H);
	cr_assert_str_eq(c->env.no_proxy, "localhost,.internal.example");
	/* The dump names no environment upstream and loads back. */
	char *text = dump(c);
	cr_assert_null(strstr(text, "s3cret"));
	cr_assert_null(strstr(text, "env:"));
	sl_config *again = load(text);
	cr_assert_eq(again->routes.n, 0);
	sl_config_free(again);
	free(text);
	sl_config_free(c);

	/* Rules of its own come first; the environment takes what they leave. */
	c = load("{\"upstream_from_env\": true, \"routes\": [{\"match\": {\"ports\": [25]}, "
		 "\"via\": \"deny\"}]}");
	cr_assert_eq(c->routes.n, 1);
	sl_config_free(c);
	/* A bare host:port is an HTTP proxy, as curl reads it. */
	clear_proxy_env();
	setenv("http_proxy", "10.1.2.3:8080", 1);
	c = load("{\"upstream_from_env\": true}");
	cr_assert_eq(c->env.http->type, SL_CONF_UP_HTTP);
	cr_assert_str_eq(c->env.http->host, "10.1.2.3");
	cr_assert_eq(c->env.http->port, 8080);
	cr_assert_null(c->env.https);
	sl_config_free(c);
	clear_proxy_env();
	c = load("{\"upstream_from_env\": false}");
	cr_assert_null(c->env.http);
	sl_config_free(c);
}

Test(config, upstream_from_env_errors_hide_the_password)
{
	clear_proxy_env();
	setenv("https_proxy", "ftp://user:hunter2@proxy.example:21", 1);
	fails("{\"upstream_from_env\": true}", SL_E_CONF_VALUE,
	      "t.json:1: upstream_from_env: environment variable https_proxy: expected a URL "
	      "like \"http://proxy.example:3128\" or an object, got \"ftp://***@proxy.example:21\"");
	clear_proxy_env();
}

Test(config, chain_and_via_limits)
{
	char text[1024];
	int n = snprintf(text, sizeof text, "{\"upstreams\": {\"u\": \"http://h\"}, \"chains\": "
					    "{\"long\": [");
	for (int i = 0; i < 9; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "%s\"u\"", i ? ", " : "");
	snprintf(text + n, sizeof text - (size_t)n, "]}}");
	fails(text, SL_E_CONF_VALUE, "t.json:1: chains.long: at most 8 hops, got 9");
	fails("{\"upstreams\": {\"u\": \"http://h\"}, \"routes\": [{\"via\": [\"u\", \"u\", \"u\", "
	      "\"u\", \"u\", \"u\", \"u\", \"u\", \"direct\"]}]}",
	      SL_E_CONF_VALUE, "t.json:1: routes[0].via: at most 8 entries, got 9");
}
