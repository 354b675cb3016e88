/*
 * Unit tests of route building: proxy URLs into hops (schemes, default
 * ports, percent-encoded credentials, IPv6), configured upstreams and
 * chains, NO_PROXY matching as curl does it, and the choice of proxy from
 * the environment.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "client/route.h"
#include "core/err.h"

static sl_route_buf b;

static void reset(void)
{
	sl_route_buf_init(&b);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
}

TestSuite(route, .init = reset);

Test(route, socks5h_url_with_credentials)
{
	cr_assert_eq(sl_route_buf_add_url(&b, "socks5h://user:p%40ss@gw.example:1081"), 0);
	cr_assert_eq(b.n, 1);
	cr_assert_eq(b.hops[0].type, SL_HOP_SOCKS5H);
	cr_assert_str_eq(b.hops[0].host, "gw.example");
	cr_assert_eq(b.hops[0].port, 1081);
	cr_assert_str_eq(b.hops[0].user, "user");
	cr_assert_str_eq(b.hops[0].password, "p@ss");
}

Test(route, default_ports_per_scheme)
{
	cr_assert_eq(sl_route_buf_add_url(&b, "http://a"), 0);
	cr_assert_eq(sl_route_buf_add_url(&b, "https://b"), 0);
	cr_assert_eq(sl_route_buf_add_url(&b, "socks5://c"), 0);
	cr_assert_eq(sl_route_buf_add_url(&b, "SOCKS5H://d"), 0);
	cr_assert_eq(b.hops[0].port, SL_PROXY_PORT_HTTP);
	cr_assert_eq(b.hops[1].port, SL_PROXY_PORT_HTTPS);
	cr_assert_eq(b.hops[2].port, SL_PROXY_PORT_SOCKS);
	cr_assert_eq(b.hops[2].type, SL_HOP_SOCKS5);
	cr_assert_eq(b.hops[3].type, SL_HOP_SOCKS5H);
	cr_assert_null(b.hops[0].user);
}

Test(route, url_without_scheme_is_http)
{
	cr_assert_eq(sl_route_buf_add_url(&b, "proxy.corp:8080"), 0);
	cr_assert_eq(b.hops[0].type, SL_HOP_HTTP);
	cr_assert_eq(b.hops[0].port, 8080);
}

Test(route, ipv6_proxy)
{
	cr_assert_eq(sl_route_buf_add_url(&b, "http://[::1]:3129"), 0);
	cr_assert_str_eq(b.hops[0].host, "::1");
	cr_assert_eq(b.hops[0].port, 3129);
}

Test(route, user_without_password)
{
	cr_assert_eq(sl_route_buf_add_url(&b, "http://ci@proxy"), 0);
	cr_assert_str_eq(b.hops[0].user, "ci");
	cr_assert_str_eq(b.hops[0].password, "");
}

Test(route, unsupported_and_malformed)
{
	cr_assert_eq(sl_route_buf_add_url(&b, "socks4://a:1080"), SL_E_UNSUPPORTED);
	cr_assert_eq(sl_route_buf_add_url(&b, "http://a b"), SL_E_URL_BAD_CHAR);
	cr_assert_eq(sl_route_buf_add_url(&b, "http://a:99999"), SL_E_URL_BAD_PORT);
	cr_assert_eq(b.n, 0);
}

Test(route, chain_order_and_limit)
{
	sl_route r;
	for (int i = 0; i < SL_ROUTE_MAX_HOPS; i++)
		cr_assert_eq(sl_route_buf_add_url(&b, i % 2 ? "http://h:1" : "socks5h://s:2"), 0);
	cr_assert_eq(sl_route_buf_add_url(&b, "http://x"), SL_E_LIMIT);
	sl_route_buf_route(&b, &r);
	cr_assert_eq(r.n, SL_ROUTE_MAX_HOPS);
	cr_assert_eq(r.hops[0].type, SL_HOP_SOCKS5H);
	cr_assert_eq(r.hops[1].type, SL_HOP_HTTP);
}

Test(route, empty_route_is_direct)
{
	sl_route r;
	sl_route_buf_route(&b, &r);
	cr_assert_eq(r.n, 0);
	cr_assert_null(r.hops);
}

Test(route, configured_chain)
{
	sl_config *cfg;
	char err[512];
	const char *text = "{\"upstreams\": {\"gw\": \"socks5h://u:pw@10.0.0.5:1080\","
			   " \"corp\": {\"type\": \"http\", \"host\": \"proxy.corp\", \"port\": 8080}},"
			   " \"chains\": {\"via-gw\": [\"gw\", \"corp\"]}}";
	cr_assert_eq(sl_config_load_string(text, "t", &cfg, err, sizeof err), 0, "%s", err);
	cr_assert_eq(sl_route_buf_add_chain(&b, sl_config_chain(cfg, "via-gw")), 0);
	cr_assert_eq(b.n, 2);
	cr_assert_eq(b.hops[0].type, SL_HOP_SOCKS5H);
	cr_assert_str_eq(b.hops[0].user, "u");
	cr_assert_str_eq(b.hops[0].password, "pw");
	cr_assert_str_eq(b.hops[0].label, "gw");
	cr_assert_eq(b.hops[1].type, SL_HOP_HTTP);
	cr_assert_eq(b.hops[1].port, 8080);
	cr_assert_null(b.hops[1].user);
	sl_config_unref(cfg);
}

Test(route, no_proxy_names_and_suffixes)
{
	const char *np = "localhost, .internal.example,corp.example:8080";
	cr_assert(sl_no_proxy_match(np, "localhost", 9));
	cr_assert(sl_no_proxy_match(np, "a.internal.example", 18));
	cr_assert(sl_no_proxy_match(np, "internal.example", 16));
	cr_assert(sl_no_proxy_match(np, "CORP.example", 12));
	cr_assert(sl_no_proxy_match(np, "www.corp.example", 16));
	cr_assert_not(sl_no_proxy_match(np, "notcorp.example", 15));
	cr_assert_not(sl_no_proxy_match(np, "example.com", 11));
}

Test(route, no_proxy_star_and_empty)
{
	cr_assert(sl_no_proxy_match("*", "anything.example", 16));
	cr_assert_not(sl_no_proxy_match("", "a", 1));
	cr_assert_not(sl_no_proxy_match(NULL, "a", 1));
	cr_assert_not(sl_no_proxy_match("*.example", "a.example", 9),
		      "curl does not treat '*.' as a wildcard inside a list");
}

Test(route, no_proxy_addresses_and_cidrs)
{
	const char *np = "10.0.0.0/8,192.168.1.1,[::1],fd00::/8";
	cr_assert(sl_no_proxy_match(np, "10.2.3.4", 8));
	cr_assert(sl_no_proxy_match(np, "192.168.1.1", 11));
	cr_assert_not(sl_no_proxy_match(np, "192.168.1.2", 11));
	cr_assert(sl_no_proxy_match(np, "[::1]", 5));
	cr_assert(sl_no_proxy_match(np, "fd12::1", 7));
	cr_assert_not(sl_no_proxy_match(np, "11.0.0.1", 8));
}

Test(route, no_proxy_trailing_dot_in_host)
{
	cr_assert(sl_no_proxy_match("example.com", "www.example.com.", 16));
}

Test(route, env_http_uses_lower_case_only)
{
	setenv("HTTP_PROXY", "http://upper:1", 1);
	cr_assert_null(sl_proxy_from_env("http", "h", 1));
	setenv("http_proxy", "http://lower:1", 1);
	cr_assert_str_eq(sl_proxy_from_env("http", "h", 1), "http://lower:1");
}

Test(route, env_https_and_all_proxy)
{
	setenv("HTTPS_PROXY", "http://s:1", 1);
	cr_assert_str_eq(sl_proxy_from_env("https", "h", 1), "http://s:1");
	cr_assert_null(sl_proxy_from_env("http", "h", 1));
	setenv("ALL_PROXY", "socks5h://all:1", 1);
	cr_assert_str_eq(sl_proxy_from_env("http", "h", 1), "socks5h://all:1");
	setenv("https_proxy", "http://lower-s:1", 1);
	cr_assert_str_eq(sl_proxy_from_env("https", "h", 1), "http://lower-s:1");
}

Test(route, env_no_proxy_excludes)
{
	setenv("https_proxy", "http://s:1", 1);
	setenv("NO_PROXY", "example.com", 1);
	cr_assert_null(sl_proxy_from_env("https", "api.example.com", 15));
	cr_assert_not_null(sl_proxy_from_env("https", "example.org", 11));
	setenv("no_proxy", "example.org", 1);
	cr_assert_null(sl_proxy_from_env("https", "example.org", 11), "lower case wins");
}

Test(route, empty_env_values_are_unset)
{
	setenv("http_proxy", "", 1);
	cr_assert_null(sl_proxy_from_env("http", "h", 1));
}
