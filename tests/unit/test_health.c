/*
 * Health and backoff (server/health.h): down after down_after failures in
 * a row, doubling retries capped at max_retry, failures of attempts that
 * started before a fall not counted twice, recovery on success, the
 * round-robin counters, lookups, the JSON page, and the client stack's
 * route events (proxy errors count, target errors do not).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "server/health.h"
#include "server/server.h"

static const sl_conf_health HC = {.down_after = 2, .retry_ms = 1000, .max_retry_ms = 5000};

Test(health, down_after_failures_in_a_row)
{
	sl_health *h = sl_health_new();
	sl_health_entry *e = sl_health_get(h, "corp");
	uint64_t t = 50000;

	cr_assert_not_null(e);
	cr_assert_eq(sl_health_get(h, "corp"), e);
	cr_assert_eq(sl_health_find(h, "corp"), e);
	cr_assert_null(sl_health_find(h, "other"));
	cr_assert(sl_health_usable(e, t));
	sl_health_report(h, e, &HC, SL_E_PROXY_REFUSED, "refused", t);
	cr_assert_not(sl_health_down(e));
	/* A success between failures resets the count. */
	sl_health_report(h, e, &HC, 0, NULL, t);
	sl_health_report(h, e, &HC, SL_E_PROXY_REFUSED, "refused", t);
	cr_assert_not(sl_health_down(e));
	sl_health_report(h, e, &HC, SL_E_PROXY_REFUSED, "refused", t);
	cr_assert(sl_health_down(e));
	cr_assert_not(sl_health_usable(e, t + 999));
	cr_assert(sl_health_usable(e, t + 1000));
	sl_health_free(h);
}

Test(health, backoff_doubles_up_to_the_cap)
{
	sl_health *h = sl_health_new();
	sl_health_entry *e = sl_health_get(h, "corp");
	sl_conf_health one = {.down_after = 1, .retry_ms = 1000, .max_retry_ms = 5000};
	uint64_t t = 10000;

	sl_health_report(h, e, &one, SL_E_PROXY_TIMEOUT, "timeout", t);
	cr_assert_not(sl_health_usable(e, t + 999));
	/* Failures of attempts begun before the fall do not lengthen it. */
	sl_health_report(h, e, &one, SL_E_PROXY_TIMEOUT, "timeout", t + 500);
	cr_assert(sl_health_usable(e, t + 1000));
	/* Failed retries: 2 s, 4 s, then 5 s (the cap), 5 s. */
	static const uint64_t waits[] = {2000, 4000, 5000, 5000};
	for (size_t i = 0; i < 4; i++) {
		t += 10000;
		sl_health_report(h, e, &one, SL_E_PROXY_TIMEOUT, "timeout", t);
		cr_assert_not(sl_health_usable(e, t + waits[i] - 1), "retry %zu", i);
		cr_assert(sl_health_usable(e, t + waits[i]), "retry %zu", i);
	}
	/* A success: up, and the next fall starts from retry again. */
	sl_health_report(h, e, &one, 0, NULL, t + 6000);
	cr_assert_not(sl_health_down(e));
	t += 20000;
	sl_health_report(h, e, &one, SL_E_PROXY_REFUSED, "refused", t);
	cr_assert_not(sl_health_usable(e, t + 999));
	cr_assert(sl_health_usable(e, t + 1000));
	sl_health_free(h);
}

Test(health, turns_and_names)
{
	sl_health *h = sl_health_new();
	char name[200];

	cr_assert_eq(sl_health_turn(h, "rr"), 0);
	cr_assert_eq(sl_health_turn(h, "rr"), 1);
	cr_assert_eq(sl_health_turn(h, "other"), 0);
	/* A rule and an upstream of one name are apart. */
	cr_assert_null(sl_health_find(h, "rr"));
	memset(name, 'x', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	cr_assert_null(sl_health_get(h, name));
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof name, "u%d", i);
		cr_assert_not_null(sl_health_get(h, name));
	}
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof name, "u%d", i);
		sl_health_entry *e = sl_health_find(h, name);
		cr_assert_not_null(e, "%s", name);
		cr_assert_eq(sl_health_get(h, name), e);
	}
	sl_health_free(h);
}

static void *hammer(void *arg)
{
	sl_health *h = arg;
	char name[16];

	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof name, "n%d", i % 64);
		sl_health_entry *e = sl_health_get(h, name);
		sl_health_report(h, e, &HC, i % 3 ? 0 : SL_E_PROXY_REFUSED, "x", (uint64_t)i);
		(void)sl_health_usable(e, (uint64_t)i);
		(void)sl_health_turn(h, "rule");
	}
	return NULL;
}

Test(health, threads_share_one_table)
{
	sl_health *h = sl_health_new();
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer, h);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(sl_health_turn(h, "rule"), 8000);
	for (int i = 0; i < 64; i++) {
		char name[16];
		snprintf(name, sizeof name, "n%d", i);
		cr_assert_not_null(sl_health_find(h, name));
	}
	sl_health_free(h);
}

Test(health, json_page)
{
	sl_config *c = NULL;
	char err[512], out[4096];
	cr_assert_eq(sl_config_load_string(
			     "{\"upstreams\": {\"a\": \"http://u:secret@pa:3128\", \"b\": "
			     "\"socks5h://pb:1080\"}, \"chains\": {\"ab\": [\"b\", \"a\"]}}",
			     "t.json", &c, err, sizeof err),
		     0, "%s", err);
	sl_health *h = sl_health_new();
	sl_conf_health one = {.down_after = 1, .retry_ms = 1000, .max_retry_ms = 5000};
	sl_health_report(h, sl_health_get(h, "ab"), &one, SL_E_PROXY_STATUS,
			 "hop 2 (a, pa:3128): refused \"CONNECT\"", 100);
	int n = sl_health_json(h, c, 400, out, sizeof out);
	cr_assert_gt(n, 0);
	json_error_t je;
	json_t *doc = json_loads(out, 0, &je);
	cr_assert_not_null(doc, "%s: %s", je.text, out);
	json_t *ups = json_object_get(doc, "upstreams");
	cr_assert_eq(json_array_size(ups), 3);
	json_t *a = json_array_get(ups, 0), *ab = json_array_get(ups, 2);
	cr_assert_str_eq(json_string_value(json_object_get(a, "name")), "a");
	cr_assert_str_eq(json_string_value(json_object_get(a, "state")), "up");
	cr_assert(json_is_null(json_object_get(a, "last_error")));
	cr_assert_str_eq(json_string_value(json_object_get(ab, "kind")), "chain");
	cr_assert_str_eq(json_string_value(json_object_get(ab, "state")), "down");
	cr_assert_eq(json_integer_value(json_object_get(ab, "retry_in_ms")), 700);
	cr_assert_eq(json_integer_value(json_object_get(ab, "down_for_ms")), 300);
	cr_assert_eq(json_integer_value(json_object_get(ab, "failures")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(ab, "last_error")),
			 "hop 2 (a, pa:3128): refused \"CONNECT\"");
	cr_assert_eq(json_array_size(json_object_get(ab, "hops")), 2);
	cr_assert_null(strstr(out, "secret"));
	json_decref(doc);
	/* Retry due. */
	cr_assert_gt(sl_health_json(h, c, 1100, out, sizeof out), 0);
	cr_assert(strstr(out, "\"state\": \"retrying\""), "%s", out);
	cr_assert_eq(sl_health_json(h, c, 1100, out, 20), SL_E_INVAL);
	sl_health_free(h);
	sl_config_free(c);
}

Test(health, route_events)
{
	sl_config *c = NULL;
	char err[512], what[256];
	cr_assert_eq(sl_config_load_string("{\"health\": {\"down_after\": 1}}", "t.json", &c, err,
					   sizeof err),
		     0, "%s", err);
	sl_session_env env;
	memset(&env, 0, sizeof env);
	env.cfg = c;
	env.health = sl_health_new();
	sl_hop hops[2] = {{.type = SL_HOP_SOCKS5H, .host = "gw", .port = 1080, .label = "gw"},
			  {.type = SL_HOP_HTTP, .host = "::1", .port = 3128, .label = "corp",
			   .user = "u", .password = "secret"}};
	sl_route route = {hops, 2, "gw-corp"};
	sl_chain_err e;

	/* The target failed: the route itself worked. */
	sl_chain_err_set(&e, SL_E_TARGET_REFUSED, 2, false);
	sl_health_route_event(&env, &route, &e);
	cr_assert_not(sl_health_down(sl_health_find(env.health, "gw-corp")));
	sl_chain_err_set(&e, SL_E_PROXY_AUTH, 1, true);
	e.status = 407;
	snprintf(e.status_line, sizeof e.status_line, "407 Proxy Authentication Required");
	snprintf(e.scheme, sizeof e.scheme, "Basic");
	cr_assert_str_eq(sl_health_describe(&route, &e, what, sizeof what),
			 "hop 2 (corp, [::1]:3128): proxy rejected the credentials (407 Proxy "
			 "Authentication Required, Basic)");
	sl_health_route_event(&env, &route, &e);
	cr_assert(sl_health_down(sl_health_find(env.health, "gw-corp")));
	sl_chain_err_set(&e, 0, -1, false);
	sl_health_route_event(&env, &route, &e);
	cr_assert_not(sl_health_down(sl_health_find(env.health, "gw-corp")));
	/* Routes without a name are not tracked. */
	route.name = NULL;
	sl_chain_err_set(&e, SL_E_PROXY_REFUSED, 0, true);
	sl_health_route_event(&env, &route, &e);
	sl_health_free(env.health);
	sl_config_free(c);
}
