/*
 * Unit tests of the proxy's access rules: client allow-list, CONNECT ports,
 * and every destination rule (own endpoint, link-local, multicast,
 * loopback with and without the switch, deny list, v4-mapped addresses).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/err.h"
#include "server/acl.h"

static sl_config *cfg;

static sl_config *load(const char *text)
{
	sl_config *c = NULL;
	char err[512];
	cr_assert_eq(sl_config_load_string(text, "t", &c, err, sizeof err), 0, "%s", err);
	return c;
}

static sl_addr A(const char *s)
{
	sl_addr a;
	cr_assert_eq(sl_addr_parse(s, strlen(s), &a), 0, "%s", s);
	return a;
}

static void fini(void)
{
	sl_config_unref(cfg);
	cfg = NULL;
}

TestSuite(acl, .fini = fini);

Test(acl, default_clients_are_loopback_and_private)
{
	cfg = load("{}");
	sl_addr a;
	a = A("127.0.0.1");
	cr_assert(sl_acl_client_allowed(cfg, &a));
	a = A("10.1.2.3");
	cr_assert(sl_acl_client_allowed(cfg, &a));
	a = A("192.168.0.9");
	cr_assert(sl_acl_client_allowed(cfg, &a));
	a = A("8.8.8.8");
	cr_assert_not(sl_acl_client_allowed(cfg, &a));
	a = A("::1");
	cr_assert(sl_acl_client_allowed(cfg, &a));
	cr_assert(sl_acl_client_allowed(cfg, NULL), "unix socket clients");
}

Test(acl, configured_clients)
{
	cfg = load("{\"acl\": {\"allow_clients\": [\"203.0.113.0/24\"]}}");
	sl_addr a = A("203.0.113.7"), b = A("127.0.0.1");
	cr_assert(sl_acl_client_allowed(cfg, &a));
	cr_assert_not(sl_acl_client_allowed(cfg, &b));
}

Test(acl, connect_ports_default_443)
{
	cfg = load("{}");
	cr_assert(sl_acl_connect_port_allowed(cfg, 443));
	cr_assert_not(sl_acl_connect_port_allowed(cfg, 22));
}

static sl_acl_dest dest(uint16_t port)
{
	static sl_addr own[2];
	static uint16_t ports[2] = {3128, 8080};
	own[0] = A("127.0.0.1");
	own[1] = A("0.0.0.0");
	return (sl_acl_dest){.cfg = cfg, .own = own, .own_ports = ports, .n_own = 2, .port = port};
}

Test(acl, public_destination_allowed)
{
	cfg = load("{}");
	sl_acl_dest d = dest(443);
	sl_addr a = A("93.184.216.34");
	cr_assert_eq(sl_acl_check_dest(&d, &a), 0);
}

Test(acl, link_local_always_denied)
{
	cfg = load("{\"acl\": {\"allow_loopback_destinations\": true}}");
	sl_acl_dest d = dest(80);
	sl_addr a = A("169.254.169.254"), b = A("fe80::1");
	cr_assert_eq(sl_acl_check_dest(&d, &a), SL_E_TARGET_DENIED);
	cr_assert_not_null(strstr(d.why, "link-local"));
	cr_assert_eq(sl_acl_check_dest(&d, &b), SL_E_TARGET_DENIED);
}

Test(acl, loopback_denied_by_default_allowed_by_switch)
{
	cfg = load("{}");
	sl_acl_dest d = dest(80);
	sl_addr a = A("127.0.0.1"), b = A("::1"), c = A("0.0.0.0"), m = A("::ffff:127.0.0.1");
	cr_assert_eq(sl_acl_check_dest(&d, &a), SL_E_TARGET_DENIED);
	cr_assert_eq(sl_acl_check_dest(&d, &b), SL_E_TARGET_DENIED);
	cr_assert_eq(sl_acl_check_dest(&d, &c), SL_E_TARGET_DENIED);
	cr_assert_eq(sl_acl_check_dest(&d, &m), SL_E_TARGET_DENIED, "v4-mapped loopback");
	sl_config_unref(cfg);
	cfg = load("{\"acl\": {\"allow_loopback_destinations\": true}}");
	d = dest(80);
	cr_assert_eq(sl_acl_check_dest(&d, &a), 0);
	cr_assert_eq(sl_acl_check_dest(&d, &b), 0);
}

Test(acl, own_endpoint_always_denied)
{
	cfg = load("{\"acl\": {\"allow_loopback_destinations\": true}}");
	sl_acl_dest d = dest(3128);
	sl_addr a = A("127.0.0.1");
	cr_assert_eq(sl_acl_check_dest(&d, &a), SL_E_TARGET_DENIED);
	cr_assert_not_null(strstr(d.why, "this proxy"));
	d = dest(8080); /* the wildcard listener covers loopback */
	cr_assert_eq(sl_acl_check_dest(&d, &a), SL_E_TARGET_DENIED);
	d = dest(8081);
	cr_assert_eq(sl_acl_check_dest(&d, &a), 0);
}

Test(acl, multicast_and_broadcast_denied)
{
	cfg = load("{}");
	sl_acl_dest d = dest(80);
	sl_addr a = A("224.0.0.1"), b = A("255.255.255.255"), c = A("ff02::1");
	cr_assert_eq(sl_acl_check_dest(&d, &a), SL_E_TARGET_DENIED);
	cr_assert_eq(sl_acl_check_dest(&d, &b), SL_E_TARGET_DENIED);
	cr_assert_eq(sl_acl_check_dest(&d, &c), SL_E_TARGET_DENIED);
}

Test(acl, deny_destinations_list)
{
	cfg = load("{\"acl\": {\"deny_destinations\": [\"10.0.0.0/8\"]}}");
	sl_acl_dest d = dest(80);
	sl_addr a = A("10.9.9.9"), b = A("192.168.1.1");
	cr_assert_eq(sl_acl_check_dest(&d, &a), SL_E_TARGET_DENIED);
	cr_assert_eq(sl_acl_check_dest(&d, &b), 0, "private ranges are allowed unless listed");
}
