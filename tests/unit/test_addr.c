/*
 * Unit tests of the address module: the text forms of RFC 4291 section 2.2
 * in, the canonical form of RFC 5952 out (with the examples of its section
 * 4), strict IPv4, CIDR prefixes at their boundaries, every classification
 * flag, sockaddr conversion and "host:port" parsing with its errors.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "core/err.h"

static sl_addr A(const char *s)
{
	sl_addr a;
	int rc = sl_addr_parse(s, strlen(s), &a);
	cr_assert_eq(rc, 0, "parse \"%s\" gave %s", s, sl_errname(rc));
	return a;
}

static int P(const char *s)
{
	sl_addr a;
	return sl_addr_parse(s, strlen(s), &a);
}

/* Parses s and checks that it formats as want. */
static void fmt_is(const char *s, const char *want)
{
	char buf[SL_ADDR_STRLEN];
	sl_addr a = A(s);
	int n = sl_addr_format(&a, buf, sizeof buf);
	cr_assert_eq(n, (int)strlen(want), "\"%s\" -> \"%s\"", s, n >= 0 ? buf : "error");
	cr_assert_str_eq(buf, want, "\"%s\"", s);
}

static sl_cidr C(const char *s)
{
	sl_cidr c;
	int rc = sl_cidr_parse(s, strlen(s), &c);
	cr_assert_eq(rc, 0, "cidr \"%s\" gave %s", s, sl_errname(rc));
	return c;
}

static bool in(const char *cidr, const char *addr)
{
	sl_cidr c = C(cidr);
	sl_addr a = A(addr);
	return sl_cidr_match(&c, &a);
}

static unsigned cl(const char *s)
{
	sl_addr a = A(s);
	return sl_addr_classify(&a);
}

static int HP(const char *s, uint16_t def, sl_hostport *hp)
{
	return sl_hostport_parse(s, strlen(s), def, hp);
}

Test(addr, ipv4_dotted_quad)
{
	sl_addr a = A("192.0.2.1");
	cr_assert_eq(a.family, AF_INET);
	cr_assert_eq(a.b[0], 192);
	cr_assert_eq(a.b[1], 0);
	cr_assert_eq(a.b[2], 2);
	cr_assert_eq(a.b[3], 1);
	for (int i = 4; i < 16; i++)
		cr_assert_eq(a.b[i], 0);
	a = A("255.255.255.255");
	cr_assert_eq(a.b[3], 255);
	a = A("0.0.0.0");
	cr_assert_eq(a.b[0], 0);
}

Test(addr, ipv4_rejects_leading_zeros)
{
	cr_assert_eq(P("010.0.0.1"), SL_E_ADDR_BAD);
	cr_assert_eq(P("1.2.3.04"), SL_E_ADDR_BAD);
	cr_assert_eq(P("1.00.3.4"), SL_E_ADDR_BAD);
	cr_assert_eq(P("1.0.3.4"), 0);
}

Test(addr, ipv4_rejects_out_of_range)
{
	cr_assert_eq(P("256.1.1.1"), SL_E_ADDR_BAD);
	cr_assert_eq(P("1.2.3.999"), SL_E_ADDR_BAD);
	cr_assert_eq(P("1.2.3.1000"), SL_E_ADDR_BAD);
	cr_assert_eq(P("1.2.3.255"), 0);
}

Test(addr, ipv4_rejects_wrong_part_counts)
{
	const char *bad[] = {"", "1", "1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3.4",
			     "1.2.3.4.", "127.1", "1.2.3."};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(P(bad[i]), SL_E_ADDR_BAD, "\"%s\"", bad[i]);
}

Test(addr, ipv4_rejects_other_notations)
{
	const char *bad[] = {"+1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "0x7f.0.0.1", "1.2.3.-4",
			     "1.2.3.4/8", "a.b.c.d", "1.2.3.4\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(P(bad[i]), SL_E_ADDR_BAD, "\"%s\"", bad[i]);
	/* Length, not NUL, ends the input. */
	sl_addr a;
	cr_assert_eq(sl_addr_parse("1.2.3.45", 7, &a), 0);
	cr_assert_eq(a.b[3], 4);
}

Test(addr, ipv6_rfc4291_preferred_form)
{
	sl_addr a = A("2001:DB8:0:0:8:800:200C:417A");
	static const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					 0, 0x08, 0x08, 0x00, 0x20, 0x0c, 0x41, 0x7a};
	cr_assert_eq(a.family, AF_INET6);
	cr_assert_arr_eq(a.b, want, 16);
	sl_addr b = A("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789");
	cr_assert_eq(b.b[0], 0xab);
	cr_assert_eq(b.b[15], 0x89);
}

Test(addr, ipv6_rfc4291_compressed_forms)
{
	/* The pairs of RFC 4291 section 2.2, point 2. */
	const char *pairs[][2] = {
		{"2001:DB8:0:0:8:800:200C:417A", "2001:DB8::8:800:200C:417A"},
		{"FF01:0:0:0:0:0:0:101", "FF01::101"},
		{"0:0:0:0:0:0:0:1", "::1"},
		{"0:0:0:0:0:0:0:0", "::"},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		sl_addr x = A(pairs[i][0]), y = A(pairs[i][1]);
		cr_assert_arr_eq(x.b, y.b, 16, "%s", pairs[i][1]);
	}
	cr_assert_eq(P("1:2:3:4:5:6:7::"), 0);
	cr_assert_eq(P("::2:3:4:5:6:7:8"), 0);
	cr_assert_eq(P("1::8"), 0);
	cr_assert_eq(P("1::"), 0);
}

Test(addr, ipv6_rfc4291_embedded_ipv4)
{
	sl_addr a = A("0:0:0:0:0:0:13.1.68.3"), b = A("::13.1.68.3");
	cr_assert_arr_eq(a.b, b.b, 16);
	cr_assert_eq(a.b[12], 13);
	cr_assert_eq(a.b[15], 3);
	sl_addr c = A("0:0:0:0:0:FFFF:129.144.52.38"), d = A("::FFFF:129.144.52.38");
	cr_assert_arr_eq(c.b, d.b, 16);
	cr_assert_eq(c.b[10], 0xff);
	cr_assert_eq(c.b[12], 129);
	cr_assert_eq(P("1:2:3:4:5:6:1.2.3.4"), 0);
	cr_assert_eq(P("1::5:6:1.2.3.4"), 0);
}

Test(addr, ipv6_rejects_malformed)
{
	const char *bad[] = {":",          ":::",        "1::2::3",
			     "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::",
			     ":1::",       "1::2:",      "g::1",
			     "1:2:3:4:5:6:7:8::", "::1.2.3",  "1:2:3:4:5:6:7:1.2.3.4",
			     "::1.2.3.4:5", "::01.2.3.4", "1:2:3:4:5:6::1.2.3.4",
			     "1:2:3:4:5:6:7:8:", ":1:2:3:4:5:6:7:8", "1:::2",
			     "::ffff:256.1.1.1", "1:2:3:4:5:6:7:8 "};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(P(bad[i]), SL_E_ADDR_BAD, "\"%s\"", bad[i]);
}

Test(addr, ipv6_rejects_zones_and_brackets)
{
	cr_assert_eq(P("fe80::1%eth0"), SL_E_ADDR_BAD);
	cr_assert_eq(P("fe80::1%25eth0"), SL_E_ADDR_BAD);
	cr_assert_eq(P("[::1]"), SL_E_ADDR_BAD);
	cr_assert_eq(P("[::1"), SL_E_ADDR_BAD);
}

Test(addr, parse_failure_leaves_output_alone)
{
	sl_addr a = A("192.0.2.7"), before = a;
	cr_assert_eq(sl_addr_parse("1::2::3", 7, &a), SL_E_ADDR_BAD);
	cr_assert_eq(memcmp(&a, &before, sizeof a), 0);
}

Test(addr, rfc5952_4_1_no_leading_zeros)
{
	fmt_is("2001:0db8::0001", "2001:db8::1");
	fmt_is("2001:db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1");
	fmt_is("2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1");
	fmt_is("2001:db8:0:0:0::1", "2001:db8::1");
}

Test(addr, rfc5952_4_2_1_shorten_as_much_as_possible)
{
	fmt_is("2001:db8:0:0:0:0:2:1", "2001:db8::2:1");
	fmt_is("2001:db8::0:1", "2001:db8::1");
}

Test(addr, rfc5952_4_2_2_single_zero_group_not_compressed)
{
	fmt_is("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1");
	fmt_is("2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1");
}

Test(addr, rfc5952_4_2_3_longest_run_then_first)
{
	fmt_is("2001:0:0:1:0:0:0:1", "2001:0:0:1::1");
	fmt_is("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1");
	fmt_is("1:0:0:2:0:0:3:4", "1::2:0:0:3:4");
}

Test(addr, rfc5952_4_3_lowercase)
{
	fmt_is("2001:DB8::AbCd", "2001:db8::abcd");
	fmt_is("FF02::1", "ff02::1");
}

Test(addr, format_edges_of_the_address)
{
	fmt_is("::", "::");
	fmt_is("0:0:0:0:0:0:0:1", "::1");
	fmt_is("1:0:0:0:0:0:0:0", "1::");
	fmt_is("0:0:1:0:0:0:0:0", "0:0:1::");
	fmt_is("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8");
	fmt_is("0:1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7");
	fmt_is("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

Test(addr, format_v4_mapped_uses_dotted_tail)
{
	fmt_is("::ffff:c000:0201", "::ffff:192.0.2.1");
	fmt_is("0:0:0:0:0:FFFF:129.144.52.38", "::ffff:129.144.52.38");
	/* Only v4-mapped gets the mixed form; v4-compatible is plain hex. */
	fmt_is("::13.1.68.3", "::d01:4403");
	fmt_is("10.0.0.1", "10.0.0.1");
	fmt_is("0.0.0.0", "0.0.0.0");
	fmt_is("255.255.255.255", "255.255.255.255");
}

Test(addr, format_respects_capacity)
{
	char buf[64];
	sl_addr a = A("2001:db8::1");
	memset(buf, 'x', sizeof buf);
	cr_assert_eq(sl_addr_format(&a, buf, 11), SL_E_INVAL);
	cr_assert_eq(buf[0], '\0');
	cr_assert_eq(sl_addr_format(&a, buf, 12), 11);
	cr_assert_str_eq(buf, "2001:db8::1");
	sl_addr bad = {0};
	cr_assert_eq(sl_addr_format(&bad, buf, sizeof buf), SL_E_INVAL);
	char big[SL_ADDR_STRLEN];
	sl_addr w = A("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	cr_assert_eq(sl_addr_format(&w, big, sizeof big), 39);
}

Test(addr, format_then_parse_round_trips)
{
	const char *in_[] = {"::", "::1", "2001:db8::1", "fe80::1:2", "::ffff:1.2.3.4",
			     "1:2:3:4:5:6:7:8", "1.2.3.4", "2001:db8:0:1:1:1:1:1"};
	for (size_t i = 0; i < sizeof in_ / sizeof in_[0]; i++) {
		char buf[SL_ADDR_STRLEN];
		sl_addr a = A(in_[i]);
		cr_assert_geq(sl_addr_format(&a, buf, sizeof buf), 0);
		cr_assert_str_eq(buf, in_[i]);
		sl_addr b = A(buf);
		cr_assert(memcmp(&a, &b, sizeof a) == 0);
	}
}

Test(addr, cidr_parse_clears_host_bits)
{
	sl_cidr c = C("10.1.2.3/8");
	char buf[SL_ADDR_STRLEN];
	cr_assert_eq(c.prefix, 8);
	sl_addr_format(&c.net, buf, sizeof buf);
	cr_assert_str_eq(buf, "10.0.0.0");
	c = C("192.168.77.200/21");
	sl_addr_format(&c.net, buf, sizeof buf);
	cr_assert_str_eq(buf, "192.168.72.0");
	c = C("2001:db8:ffff::1/33");
	sl_addr_format(&c.net, buf, sizeof buf);
	cr_assert_str_eq(buf, "2001:db8:8000::");
}

Test(addr, cidr_bare_address_is_full_length)
{
	cr_assert_eq(C("10.0.0.1").prefix, 32);
	cr_assert_eq(C("::1").prefix, 128);
	cr_assert(in("10.0.0.1", "10.0.0.1"));
	cr_assert_not(in("10.0.0.1", "10.0.0.2"));
}

Test(addr, cidr_rejects_bad_prefixes)
{
	const char *bad[] = {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1",
			     "::/129", "10.0.0.0/1a", "10.0.0.0/+8", "10.0.0.0/8/8",
			     "10.0.0.0/1000", "::/0128"};
	sl_cidr c;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(sl_cidr_parse(bad[i], strlen(bad[i]), &c), SL_E_ADDR_BAD_PREFIX,
			     "\"%s\"", bad[i]);
	cr_assert_eq(sl_cidr_parse("10.0.0/8", 8, &c), SL_E_ADDR_BAD);
	cr_assert_eq(sl_cidr_parse("/8", 2, &c), SL_E_ADDR_BAD);
	cr_assert_eq(C("10.0.0.0/32").prefix, 32);
	cr_assert_eq(C("::/128").prefix, 128);
}

Test(addr, cidr_zero_prefix)
{
	cr_assert(in("0.0.0.0/0", "1.2.3.4"));
	cr_assert(in("0.0.0.0/0", "255.255.255.255"));
	cr_assert(in("0.0.0.0/0", "::ffff:8.8.8.8"));
	cr_assert_not(in("0.0.0.0/0", "2001:db8::1"));
	cr_assert(in("::/0", "2001:db8::1"));
	cr_assert(in("::/0", "::"));
	/* "::/0" means IPv6, not every address. */
	cr_assert_not(in("::/0", "1.2.3.4"));
	cr_assert(in("1.2.3.4/0", "9.9.9.9"));
}

Test(addr, cidr_host_prefixes)
{
	cr_assert(in("192.0.2.1/32", "192.0.2.1"));
	cr_assert_not(in("192.0.2.1/32", "192.0.2.0"));
	cr_assert_not(in("192.0.2.1/32", "192.0.2.2"));
	cr_assert(in("2001:db8::1/128", "2001:db8::1"));
	cr_assert_not(in("2001:db8::1/128", "2001:db8::"));
	cr_assert_not(in("2001:db8::1/128", "2001:db8::3"));
}

Test(addr, cidr_boundaries)
{
	cr_assert(in("192.168.0.0/16", "192.168.0.0"));
	cr_assert(in("192.168.0.0/16", "192.168.255.255"));
	cr_assert_not(in("192.168.0.0/16", "192.169.0.0"));
	cr_assert_not(in("192.168.0.0/16", "192.167.255.255"));
	cr_assert(in("172.16.0.0/12", "172.31.255.255"));
	cr_assert_not(in("172.16.0.0/12", "172.32.0.0"));
	cr_assert(in("10.0.0.128/25", "10.0.0.255"));
	cr_assert_not(in("10.0.0.128/25", "10.0.0.127"));
	cr_assert(in("fe80::/10", "febf:ffff::1"));
	cr_assert_not(in("fe80::/10", "fec0::1"));
	cr_assert(in("2001:db8::/127", "2001:db8::1"));
	cr_assert_not(in("2001:db8::/127", "2001:db8::2"));
}

Test(addr, cidr_v4_mapped_matches_v4_prefixes)
{
	cr_assert(in("10.0.0.0/8", "::ffff:10.9.8.7"));
	cr_assert_not(in("10.0.0.0/8", "::ffff:11.0.0.1"));
	cr_assert_not(in("10.0.0.0/8", "::10.9.8.7")); /* v4-compatible is not mapped */
	cr_assert(in("127.0.0.1/32", "::ffff:127.0.0.1"));
	/* And the other way: an IPv4 address against a v4-mapped prefix. */
	cr_assert(in("::ffff:10.0.0.0/104", "10.1.2.3"));
	cr_assert_not(in("::ffff:10.0.0.0/104", "11.1.2.3"));
	cr_assert(in("::ffff:0:0/96", "8.8.8.8"));
	cr_assert_not(in("2001:db8::/32", "8.8.8.8"));
}

Test(addr, classify_loopback)
{
	cr_assert_eq(cl("127.0.0.1"), SL_ADDR_LOOPBACK);
	cr_assert_eq(cl("127.255.255.254"), SL_ADDR_LOOPBACK);
	cr_assert_eq(cl("::1"), SL_ADDR_LOOPBACK);
	cr_assert_eq(cl("128.0.0.1"), 0);
	cr_assert_eq(cl("::2"), 0);
}

Test(addr, classify_private)
{
	cr_assert_eq(cl("10.0.0.0"), SL_ADDR_PRIVATE);
	cr_assert_eq(cl("10.255.255.255"), SL_ADDR_PRIVATE);
	cr_assert_eq(cl("172.16.0.1"), SL_ADDR_PRIVATE);
	cr_assert_eq(cl("172.31.255.255"), SL_ADDR_PRIVATE);
	cr_assert_eq(cl("172.15.255.255"), 0);
	cr_assert_eq(cl("172.32.0.0"), 0);
	cr_assert_eq(cl("192.168.1.1"), SL_ADDR_PRIVATE);
	cr_assert_eq(cl("192.169.1.1"), 0);
	cr_assert_eq(cl("fc00::1"), SL_ADDR_PRIVATE);
	cr_assert_eq(cl("fdff:ffff::1"), SL_ADDR_PRIVATE);
	cr_assert_eq(cl("fe00::1"), 0);
}

Test(addr, classify_link_local)
{
	cr_assert_eq(cl("169.254.0.1"), SL_ADDR_LINK_LOCAL);
	cr_assert_eq(cl("169.254.255.255"), SL_ADDR_LINK_LOCAL);
	cr_assert_eq(cl("169.255.0.1"), 0);
	cr_assert_eq(cl("fe80::1"), SL_ADDR_LINK_LOCAL);
	cr_assert_eq(cl("febf::1"), SL_ADDR_LINK_LOCAL);
	cr_assert_eq(cl("fec0::1"), 0);
}

Test(addr, classify_unspecified)
{
	cr_assert_eq(cl("0.0.0.0"), SL_ADDR_UNSPECIFIED);
	cr_assert_eq(cl("0.1.2.3"), SL_ADDR_UNSPECIFIED);
	cr_assert_eq(cl("::"), SL_ADDR_UNSPECIFIED);
	cr_assert_eq(cl("1.0.0.0"), 0);
}

Test(addr, classify_multicast_and_broadcast)
{
	cr_assert_eq(cl("224.0.0.1"), SL_ADDR_MULTICAST);
	cr_assert_eq(cl("239.255.255.255"), SL_ADDR_MULTICAST);
	cr_assert_eq(cl("240.0.0.1"), 0);
	cr_assert_eq(cl("223.255.255.255"), 0);
	cr_assert_eq(cl("ff02::1"), SL_ADDR_MULTICAST);
	cr_assert_eq(cl("255.255.255.255"), SL_ADDR_BROADCAST);
	cr_assert_eq(cl("255.255.255.254"), 0);
}

Test(addr, classify_cgnat)
{
	cr_assert_eq(cl("100.64.0.0"), SL_ADDR_CGNAT);
	cr_assert_eq(cl("100.127.255.255"), SL_ADDR_CGNAT);
	cr_assert_eq(cl("100.63.255.255"), 0);
	cr_assert_eq(cl("100.128.0.0"), 0);
}

Test(addr, classify_v4_mapped_carries_v4_flags)
{
	cr_assert_eq(cl("::ffff:127.0.0.1"), SL_ADDR_V4MAPPED | SL_ADDR_LOOPBACK);
	cr_assert_eq(cl("::ffff:10.0.0.1"), SL_ADDR_V4MAPPED | SL_ADDR_PRIVATE);
	cr_assert_eq(cl("::ffff:8.8.8.8"), SL_ADDR_V4MAPPED);
	cr_assert_eq(cl("::ffff:0.0.0.0"), SL_ADDR_V4MAPPED | SL_ADDR_UNSPECIFIED);
}

Test(addr, classify_public)
{
	cr_assert_eq(cl("8.8.8.8"), 0);
	cr_assert_eq(cl("192.0.2.1"), 0);
	cr_assert_eq(cl("2001:4860:4860::8888"), 0);
	cr_assert_eq(cl("2a00::1"), 0);
	sl_addr none = {0};
	cr_assert_eq(sl_addr_classify(&none), 0);
}

Test(addr, equality_treats_mapped_as_v4)
{
	sl_addr a = A("1.2.3.4"), b = A("::ffff:1.2.3.4"), c = A("::1.2.3.4");
	sl_addr d = A("1.2.3.5"), e = A("0:0::ffff:102:304");
	cr_assert(sl_addr_eq(&a, &b));
	cr_assert(sl_addr_eq(&b, &a));
	cr_assert(sl_addr_eq(&b, &e));
	cr_assert_not(sl_addr_eq(&a, &c));
	cr_assert_not(sl_addr_eq(&a, &d));
	cr_assert(sl_addr_eq(&a, &a));
}

Test(addr, sockaddr_round_trip_v4)
{
	struct sockaddr_storage ss;
	sl_addr a = A("192.0.2.33"), b;
	uint16_t port = 0;
	size_t len = sl_addr_to_sockaddr(&a, 8080, (struct sockaddr *)&ss);
	cr_assert_eq(len, sizeof(struct sockaddr_in));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	cr_assert_eq(sin->sin_family, AF_INET);
	cr_assert_eq(ntohs(sin->sin_port), 8080);
	cr_assert_eq(ntohl(sin->sin_addr.s_addr), 0xc0000221u);
	cr_assert_eq(sl_addr_from_sockaddr((struct sockaddr *)&ss, &b, &port), 0);
	cr_assert_eq(port, 8080);
	cr_assert(memcmp(&a, &b, sizeof a) == 0);
}

Test(addr, sockaddr_round_trip_v6)
{
	struct sockaddr_storage ss;
	sl_addr a = A("2001:db8::42"), b;
	uint16_t port = 0;
	size_t len = sl_addr_to_sockaddr(&a, 443, (struct sockaddr *)&ss);
	cr_assert_eq(len, sizeof(struct sockaddr_in6));
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	cr_assert_eq(sin6->sin6_family, AF_INET6);
	cr_assert_eq(ntohs(sin6->sin6_port), 443);
	cr_assert_eq(sin6->sin6_addr.s6_addr[15], 0x42);
	cr_assert_eq(sl_addr_from_sockaddr((struct sockaddr *)&ss, &b, NULL), 0);
	cr_assert_eq(sl_addr_from_sockaddr((struct sockaddr *)&ss, &b, &port), 0);
	cr_assert_eq(port, 443);
	cr_assert(memcmp(&a, &b, sizeof a) == 0);
}

Test(addr, sockaddr_other_families_refused)
{
	struct sockaddr_storage ss;
	sl_addr a, none = {0};
	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNIX;
	cr_assert_eq(sl_addr_from_sockaddr((struct sockaddr *)&ss, &a, NULL), SL_E_INVAL);
	cr_assert_eq(sl_addr_to_sockaddr(&none, 80, (struct sockaddr *)&ss), 0);
}

Test(addr, hostport_name_and_port)
{
	sl_hostport hp;
	const char *s = "example.com:443";
	cr_assert_eq(sl_hostport_parse(s, strlen(s), 0, &hp), 0);
	cr_assert_eq(hp.host, s);
	cr_assert_eq(hp.host_len, 11);
	cr_assert_eq(hp.port, 443);
	cr_assert_not(hp.is_ip);
	cr_assert_eq(HP("my_host.internal:1", 0, &hp), 0);
	cr_assert_eq(hp.port, 1);
	cr_assert_eq(HP("example.com.:65535", 0, &hp), 0);
	cr_assert_eq(hp.port, 65535);
}

Test(addr, hostport_ipv4)
{
	sl_hostport hp;
	cr_assert_eq(HP("1.2.3.4:80", 0, &hp), 0);
	cr_assert(hp.is_ip);
	cr_assert_eq(hp.addr.family, AF_INET);
	cr_assert_eq(hp.addr.b[3], 4);
	cr_assert_eq(hp.host_len, 7);
	cr_assert_eq(hp.port, 80);
}

Test(addr, hostport_bracketed_ipv6)
{
	sl_hostport hp;
	const char *s = "[::1]:8080";
	cr_assert_eq(sl_hostport_parse(s, strlen(s), 0, &hp), 0);
	cr_assert(hp.is_ip);
	cr_assert_eq(hp.addr.family, AF_INET6);
	cr_assert_eq(hp.host, s + 1);
	cr_assert_eq(hp.host_len, 3);
	cr_assert_eq(hp.port, 8080);
	cr_assert_eq(HP("[2001:db8::1]", 443, &hp), 0);
	cr_assert_eq(hp.port, 443);
}

Test(addr, hostport_default_port)
{
	sl_hostport hp;
	cr_assert_eq(HP("example.com", 3128, &hp), 0);
	cr_assert_eq(hp.port, 3128);
	cr_assert_eq(HP("example.com", 0, &hp), SL_E_ADDR_BAD_PORT);
	cr_assert_eq(HP("[::1]", 0, &hp), SL_E_ADDR_BAD_PORT);
	cr_assert_eq(HP("10.0.0.1", 0, &hp), SL_E_ADDR_BAD_PORT);
	cr_assert_eq(HP("example.com:8080", 3128, &hp), 0);
	cr_assert_eq(hp.port, 8080);
}

Test(addr, hostport_bad_ports)
{
	const char *bad[] = {"h:0",  "h:65536", "h:99999", "h:+80", "h:-1", "h:",
			     "h:80a", "h:123456", "h: 80", "[::1]:", "[::1]:0", "h:0x50"};
	sl_hostport hp;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(HP(bad[i], 80, &hp), SL_E_ADDR_BAD_PORT, "\"%s\"", bad[i]);
}

Test(addr, hostport_bad_hosts)
{
	const char *bad[] = {"::1:80",     "::1",         "[::1",       "[1.2.3.4]:80",
			     "[::1]x",     "[::1]80",     ":80",        "",
			     "-a.com:80",  "a-.com:80",   "a..b:80",    "a b:80",
			     "127.1:80",   "0x7f.1:80",   "010.1.1.1:80", "1.2.3.4.5:80",
			     "[fe80::1%eth0]:80", "ex*ample.com:80", "a.b.c.1:80"};
	sl_hostport hp;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(HP(bad[i], 80, &hp), SL_E_ADDR_BAD, "\"%s\"", bad[i]);
}

Test(addr, dns_name_lengths)
{
	char name[300];
	memset(name, 'a', 63);
	cr_assert(sl_addr_is_dns_name(name, 63));
	memset(name, 'a', 64);
	cr_assert_not(sl_addr_is_dns_name(name, 64));
	/* 253 bytes: three labels of 63 and one of 61, with dots. */
	size_t n = 0;
	for (int l = 0; l < 3; l++) {
		memset(name + n, 'b', 63);
		n += 63;
		name[n++] = '.';
	}
	memset(name + n, 'c', 61);
	n += 61;
	cr_assert_eq(n, 253);
	cr_assert(sl_addr_is_dns_name(name, n));
	name[n++] = '.';
	cr_assert(sl_addr_is_dns_name(name, n)); /* the trailing dot is not counted */
	name[n - 1] = 'd';
	cr_assert_not(sl_addr_is_dns_name(name, n));
	sl_hostport hp;
	name[n++] = ':';
	name[n++] = '8';
	cr_assert_eq(sl_hostport_parse(name, n, 0, &hp), SL_E_ADDR_BAD);
}

Test(addr, dns_name_labels)
{
	const char *good[] = {"a", "example.com", "_dmarc.example.com", "xn--bcher-kva.ch",
			      "a-b.c_d.e", "1.example", "123abc", "0xcafe.g", "EXAMPLE.COM."};
	const char *bad[] = {"", ".", "..", "a..b", ".a", "-a", "a-", "a.-b", "a.b-",
			     "a b", "a/b", "a:b", "\xc3\xa9.com", "1", "1.2.3", "a.123",
			     "a.0x1f", "0x", "a.b.."};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(sl_addr_is_dns_name(good[i], strlen(good[i])), "\"%s\"", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_not(sl_addr_is_dns_name(bad[i], strlen(bad[i])), "\"%s\"", bad[i]);
}

Test(addr, error_codes_have_sentences)
{
	cr_assert_str_eq(sl_errname(SL_E_ADDR_BAD), "SL_E_ADDR_BAD");
	cr_assert_str_eq(sl_errname(SL_E_ADDR_BAD_PREFIX), "SL_E_ADDR_BAD_PREFIX");
	cr_assert_str_eq(sl_errname(SL_E_ADDR_BAD_PORT), "SL_E_ADDR_BAD_PORT");
}
