/*
 * Route selection (server/route_select.h): first match wins; hosts and
 * cidrs as one destination criterion (address literals only for cidrs);
 * ports, schemes (CONNECT as https) and methods; deny in a list; the
 * environment's rule with NO_PROXY; plans with hops from upstreams and
 * chains, round-robin turns and health order; the error text naming hops.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "server/health.h"
#include "server/route_select.h"

static sl_config *load(const char *text)
{
	sl_config *c = NULL;
	char err[1024] = "";
	int rc = sl_config_load_string(text, "t.json", &c, err, sizeof err);
	cr_assert_eq(rc, 0, "load failed: %s", err);
	return c;
}

static sl_route_req req(const char *host, uint16_t port, bool https, const char *method)
{
	sl_route_req r = {host, strlen(host), port, https, method};
	return r;
}

/* The name of the rule a request matches, or "-". */
static const char *rule_of(const sl_config *c, const char *host, uint16_t port, bool https,
			   const char *method)
{
	sl_route_req r = req(host, port, https, method);
	const sl_conf_route *rt = sl_route_select(c, &r, NULL);
	return rt ? rt->name : "-";
}

static const char *const RULES =
	"{\"upstreams\": {\"corp\": \"http://proxy.corp.example:8080\"},"
	" \"routes\": ["
	"  {\"name\": \"internal\", \"match\": {\"hosts\": [\".corp.example\", \"localhost\"],"
	"   \"cidrs\": [\"10.0.0.0/8\", \"fd00::/8\"]}, \"via\": \"direct\"},"
	"  {\"name\": \"mail\", \"match\": {\"ports\": [25, 587]}, \"via\": \"deny\"},"
	"  {\"name\": \"puts\", \"match\": {\"methods\": [\"PUT\"], \"schemes\": [\"https\"]},"
	"   \"via\": \"deny\"},"
	"  {\"name\": \"globs\", \"match\": {\"hosts\": [\"*.cdn?.example\"]}, \"via\": \"direct\"},"
	"  {\"name\": \"rest\", \"via\": \"corp\"}]}";

Test(route_select, first_match_wins)
{
	sl_config *c = load(RULES);
	int idx = 7;
	sl_route_req r = req("git.corp.example", 80, false, "GET");

	cr_assert_eq(sl_route_select(c, &r, &idx), &c->routes.v[0]);
	cr_assert_eq(idx, 0);
	/* internal comes before mail: an internal host on port 25 is direct. */
	cr_assert_str_eq(rule_of(c, "corp.example", 25, false, "GET"), "internal");
	cr_assert_str_eq(rule_of(c, "example.com", 25, false, "GET"), "mail");
	cr_assert_str_eq(rule_of(c, "example.com", 587, true, "CONNECT"), "mail");
	cr_assert_str_eq(rule_of(c, "example.com", 80, false, "GET"), "rest");
	sl_config_free(c);
}

Test(route_select, hosts_and_cidrs_are_one_criterion)
{
	sl_config *c = load(RULES);

	cr_assert_str_eq(rule_of(c, "10.1.2.3", 80, false, "GET"), "internal");
	cr_assert_str_eq(rule_of(c, "fd00::1", 443, true, "CONNECT"), "internal");
	cr_assert_str_eq(rule_of(c, "LOCALHOST", 80, false, "GET"), "internal");
	cr_assert_str_eq(rule_of(c, "localhost.", 80, false, "GET"), "internal");
	cr_assert_str_eq(rule_of(c, "corp.example.", 80, false, "GET"), "internal");
	/* A name is never resolved: cidrs do not see it. */
	cr_assert_str_eq(rule_of(c, "ten.example", 80, false, "GET"), "rest");
	cr_assert_str_eq(rule_of(c, "11.0.0.1", 80, false, "GET"), "rest");
	cr_assert_str_eq(rule_of(c, "notcorp.example", 80, false, "GET"), "rest");
	sl_config_free(c);
}

Test(route_select, schemes_methods_globs)
{
	sl_config *c = load(RULES);

	cr_assert_str_eq(rule_of(c, "example.com", 443, true, "PUT"), "puts");
	cr_assert_str_eq(rule_of(c, "example.com", 80, false, "PUT"), "rest");
	cr_assert_str_eq(rule_of(c, "example.com", 443, true, "put"), "rest");
	cr_assert_str_eq(rule_of(c, "a.cdn1.example", 80, false, "GET"), "globs");
	cr_assert_str_eq(rule_of(c, "x.y.cdn9.example", 80, false, "GET"), "globs");
	cr_assert_str_eq(rule_of(c, "cdn1.example", 80, false, "GET"), "rest");
	cr_assert_str_eq(rule_of(c, "a.cdn12.example", 80, false, "GET"), "rest");
	sl_config_free(c);
}

Test(route_select, no_rule_matches)
{
	sl_config *c = load("{\"routes\": [{\"match\": {\"ports\": [80]}, \"via\": \"direct\"}]}");
	sl_route_req r = req("example.com", 443, true, "CONNECT");
	sl_route_plan p;
	int idx = 3;

	cr_assert_null(sl_route_select(c, &r, &idx));
	cr_assert_eq(idx, -1);
	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert(p.deny);
	cr_assert_null(p.rule);
	cr_assert_str_eq(p.rule_name, "none");
	sl_config_free(c);
}

static const char *const CHAINS =
	"{\"upstreams\": {\"gw\": \"socks5h://gw:1080\","
	"  \"corp\": {\"type\": \"http\", \"host\": \"proxy\", \"port\": 3128, \"mode\": \"forward\","
	"   \"auth\": {\"user\": \"u\", \"password\": \"pw\"}},"
	"  \"alt\": {\"type\": \"https\", \"host\": \"alt\", \"tls\": {\"verify\": false,"
	"   \"server_name\": \"alt.sni\"}}},"
	" \"chains\": {\"gw-corp\": [\"gw\", \"corp\"]},"
	" \"routes\": ["
	"  {\"name\": \"rr\", \"match\": {\"ports\": [8080]}, \"via\": [\"corp\", \"alt\", \"direct\"],"
	"   \"strategy\": \"round-robin\"},"
	"  {\"name\": \"stop\", \"match\": {\"ports\": [9090]}, \"via\": [\"alt\", \"deny\", \"corp\"]},"
	"  {\"name\": \"first-deny\", \"match\": {\"ports\": [9091]}, \"via\": [\"deny\", \"corp\"]},"
	"  {\"name\": \"fo\", \"via\": [\"gw-corp\", \"alt\"]}]}";

Test(route_select, plan_builds_hops)
{
	sl_config *c = load(CHAINS);
	sl_route_req r = req("example.com", 80, false, "GET");
	sl_route_plan p;

	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert_not(p.deny);
	cr_assert_str_eq(p.rule_name, "fo");
	cr_assert_eq(p.rule_index, 3);
	cr_assert_str_eq(p.hier, "FIRSTUP_PARENT");
	cr_assert_eq(p.n, 2);
	cr_assert_str_eq(p.routes[0].name, "gw-corp");
	cr_assert_eq(p.routes[0].n, 2);
	cr_assert_eq(p.routes[0].hops[0].type, SL_HOP_SOCKS5H);
	cr_assert_str_eq(p.routes[0].hops[0].host, "gw");
	cr_assert_eq(p.routes[0].hops[0].port, 1080);
	cr_assert_str_eq(p.routes[0].hops[1].label, "corp");
	cr_assert_str_eq(p.routes[0].hops[1].user, "u");
	cr_assert_str_eq(p.routes[0].hops[1].password, "pw");
	cr_assert(p.routes[0].hops[1].forward);
	cr_assert_str_eq(p.routes[1].name, "alt");
	cr_assert_eq(p.routes[1].n, 1);
	cr_assert_eq(p.routes[1].hops[0].type, SL_HOP_HTTPS);
	cr_assert_eq(p.routes[1].hops[0].port, 443);
	cr_assert_not(p.routes[1].hops[0].tls_verify);
	cr_assert_str_eq(p.routes[1].hops[0].tls_server_name, "alt.sni");
	cr_assert_eq(sl_plan_via_hop(&p.via[0], 1), &c->upstreams.v[1]);
	cr_assert_null(sl_plan_via_hop(&p.via[0], 2));

	/* A copy's routes point at the copy's hops. */
	sl_route_plan *q = malloc(sizeof *q);
	sl_route_plan_copy(q, &p);
	cr_assert_eq(q->routes[0].hops, q->hops);
	cr_assert_eq(q->routes[1].hops, q->hops + 2);
	free(q);
	sl_config_free(c);
}

Test(route_select, deny_ends_a_list)
{
	sl_config *c = load(CHAINS);
	sl_route_req r = req("example.com", 9090, false, "GET");
	sl_route_plan p;

	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert_not(p.deny);
	cr_assert_eq(p.n, 1);
	cr_assert_str_eq(p.via[0].name, "alt");
	r.port = 9091;
	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert(p.deny);
	cr_assert_str_eq(p.rule_name, "first-deny");
	cr_assert_eq(p.rule_index, 2);
	sl_config_free(c);
}

Test(route_select, round_robin_takes_turns)
{
	sl_config *c = load(CHAINS);
	sl_health *h = sl_health_new();
	sl_route_req r = req("example.com", 8080, false, "GET");
	sl_route_plan p;
	const char *first[6];

	for (int i = 0; i < 6; i++) {
		sl_route_plan_make(c, &r, h, sl_health_now_ms(), &p);
		cr_assert_eq(p.n, 3);
		cr_assert_str_eq(p.hier, "ROUNDROBIN_PARENT");
		first[i] = p.via[0].name;
	}
	cr_assert_str_eq(first[0], "corp");
	cr_assert_str_eq(first[1], "alt");
	cr_assert_str_eq(first[2], "direct");
	cr_assert_str_eq(first[3], "corp");
	/* The rest follow in order after the first (turn 5 starts at 2). */
	cr_assert_str_eq(p.via[0].name, "direct");
	cr_assert_str_eq(p.via[1].name, "corp");
	cr_assert_str_eq(p.via[2].name, "alt");
	cr_assert_eq(p.routes[0].n, 0);
	cr_assert_eq(p.routes[2].n, 1);
	/* Without a table: the configured order. */
	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert_str_eq(p.via[0].name, "corp");
	sl_health_free(h);
	sl_config_free(c);
}

Test(route_select, down_entries_go_last)
{
	sl_config *c = load(CHAINS);
	sl_health *h = sl_health_new();
	sl_conf_health hc = {.down_after = 1, .retry_ms = 1000, .max_retry_ms = 8000};
	sl_route_req r = req("example.com", 80, false, "GET");
	sl_route_plan p;
	uint64_t now = 1000000;

	sl_health_report(h, sl_health_get(h, "gw-corp"), &hc, SL_E_PROXY_REFUSED, "refused", now);
	sl_route_plan_make(c, &r, h, now + 10, &p);
	cr_assert_str_eq(p.via[0].name, "alt");
	cr_assert_str_eq(p.via[1].name, "gw-corp");
	cr_assert_eq(p.routes[1].n, 2);
	cr_assert_str_eq(p.routes[1].hops[0].host, "gw");
	/* Its retry is due: back in its place. */
	sl_route_plan_make(c, &r, h, now + 1000, &p);
	cr_assert_str_eq(p.via[0].name, "gw-corp");
	/* Both down: tried anyway, in order. */
	sl_health_report(h, sl_health_get(h, "alt"), &hc, SL_E_PROXY_TIMEOUT, "timeout", now);
	sl_route_plan_make(c, &r, h, now + 10, &p);
	cr_assert_eq(p.n, 2);
	cr_assert_str_eq(p.via[0].name, "gw-corp");
	cr_assert_str_eq(p.via[1].name, "alt");
	sl_health_free(h);
	sl_config_free(c);
}

Test(route_select, environment_rule)
{
	setenv("https_proxy", "http://u:pw@proxy.env.example:3128", 1);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("no_proxy");
	setenv("NO_PROXY", ".internal.example,10.0.0.0/8", 1);
	sl_config *c = load("{\"upstream_from_env\": true, \"routes\": [{\"name\": \"mail\","
			    " \"match\": {\"ports\": [25]}, \"via\": \"deny\"}]}");
	sl_route_req r = req("example.com", 443, true, "CONNECT");
	sl_route_plan p;

	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert_not(p.deny);
	cr_assert_null(p.rule);
	cr_assert_str_eq(p.rule_name, "env");
	cr_assert_eq(p.n, 1);
	cr_assert_str_eq(p.via[0].name, "env:https_proxy");
	cr_assert_eq(p.routes[0].n, 1);
	cr_assert_str_eq(p.routes[0].hops[0].host, "proxy.env.example");
	cr_assert_str_eq(p.routes[0].hops[0].user, "u");
	/* No http proxy set: direct. NO_PROXY hosts: direct. Rules first. */
	r = req("example.com", 80, false, "GET");
	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert_eq(p.routes[0].n, 0);
	r = req("a.internal.example", 443, true, "GET");
	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert_eq(p.routes[0].n, 0);
	r = req("10.2.3.4", 443, true, "GET");
	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert_eq(p.routes[0].n, 0);
	r = req("example.com", 25, true, "GET");
	sl_route_plan_make(c, &r, NULL, 0, &p);
	cr_assert(p.deny);
	sl_config_free(c);
}

Test(route_select, error_text_names_the_hop)
{
	sl_config *c = load(CHAINS);
	sl_route_req r = req("example.com", 80, false, "GET");
	sl_route_plan p;
	char out[512];

	sl_route_plan_make(c, &r, NULL, 0, &p);
	sl_plan_error_text(&p.via[1], 0, SL_E_PROXY_AUTH, 407, "407 Proxy Authentication Required",
			   "Digest", out, sizeof out);
	cr_assert_str_eq(out, "upstream alt (alt:443): proxy authentication failed (407 Proxy "
			      "Authentication Required, Digest)");
	sl_plan_error_text(&p.via[0], 1, SL_E_PROXY_REFUSED, 0, "", "", out, sizeof out);
	cr_assert_str_eq(out, "upstream corp (proxy:3128), hop 2 of chain gw-corp: connection to "
			      "the proxy refused");
	sl_plan_error_text(&p.via[0], 0, SL_E_PROXY_STATUS, 503, "503 Service Unavailable", "",
			   out, sizeof out);
	cr_assert_str_eq(out, "upstream gw (gw:1080), hop 1 of chain gw-corp could not reach the "
			      "next hop, upstream corp (proxy:3128), hop 2 of chain gw-corp (503 "
			      "Service Unavailable)");
	sl_plan_error_text(&p.via[0], 1, SL_E_PROXY_STATUS, 403, "403 Forbidden", "", out,
			   sizeof out);
	cr_assert(strstr(out, "the proxy refused the CONNECT request (403 Forbidden)"), "%s", out);
	cr_assert_null(strstr(out, "pw"));
	/* Cut to fit, still a string. */
	cr_assert_eq(sl_plan_error_text(&p.via[1], 0, SL_E_PROXY_AUTH, 0, "", "", out, 10), 9);
	cr_assert_eq(strlen(out), 9);
	sl_config_free(c);
}
