/*
 * Unit tests of the SOCKS5 client (RFC 1928, RFC 1929): the exact bytes of
 * every message the codec writes, the decoders against good, short and
 * broken server messages, then the handshake layer on a stream over a
 * socketpair, with the test playing the server: it reads what the layer
 * sent and writes scripted answers, whole or one byte at a time. The
 * checks cover which side and which hop each error is recorded at, that
 * nothing past the reply is consumed, and writes delayed by a full socket.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/err.h"
#include "engines/socks5.h"
#include "engines/stream.h"

static sl_addr A(const char *s)
{
	sl_addr a;
	cr_assert_eq(sl_addr_parse(s, strlen(s), &a), 0);
	return a;
}

static void assert_bytes(const uint8_t *got, int n, const char *want, size_t wn)
{
	cr_assert_eq(n, (int)wn, "length %d, expected %zu", n, wn);
	cr_assert_eq(memcmp(got, want, wn), 0, "bytes differ");
}

#define ASSERT_BYTES(got, n, lit) assert_bytes(got, n, lit, sizeof lit - 1)

/* ---- encoders ---- */

Test(socks5, greeting_without_credentials)
{
	uint8_t b[8];
	ASSERT_BYTES(b, sl_socks5_encode_greeting(b, sizeof b, false), "\x05\x01\x00");
}

Test(socks5, greeting_with_credentials_offers_both)
{
	uint8_t b[8];
	ASSERT_BYTES(b, sl_socks5_encode_greeting(b, sizeof b, true), "\x05\x02\x00\x02");
}

Test(socks5, greeting_needs_room)
{
	uint8_t b[4];
	cr_assert_eq(sl_socks5_encode_greeting(b, 3, true), SL_E_INVAL);
	cr_assert_eq(sl_socks5_encode_greeting(b, 2, false), SL_E_INVAL);
}

Test(socks5, auth_subnegotiation_bytes)
{
	uint8_t b[SL_SOCKS5_AUTH_MAX];
	ASSERT_BYTES(b, sl_socks5_encode_auth(b, sizeof b, "alice", "s3cret"),
		     "\x01\x05"
		     "alice"
		     "\x06"
		     "s3cret");
}

Test(socks5, auth_without_password_sends_empty_one)
{
	uint8_t b[SL_SOCKS5_AUTH_MAX];
	ASSERT_BYTES(b, sl_socks5_encode_auth(b, sizeof b, "bob", NULL), "\x01\x03"
									 "bob"
									 "\x00");
}

Test(socks5, auth_255_byte_limits)
{
	uint8_t b[SL_SOCKS5_AUTH_MAX];
	char u255[256], u256[257];

	memset(u255, 'u', 255);
	u255[255] = 0;
	memset(u256, 'u', 256);
	u256[256] = 0;
	int n = sl_socks5_encode_auth(b, sizeof b, u255, u255);
	cr_assert_eq(n, 3 + 255 + 255);
	cr_assert_eq(b[1], 255);
	cr_assert_eq(b[2 + 255], 255);
	cr_assert_eq(sl_socks5_encode_auth(b, sizeof b, u256, "p"), SL_E_SOCKS_NAME_TOO_LONG);
	cr_assert_eq(sl_socks5_encode_auth(b, sizeof b, "u", u256), SL_E_SOCKS_NAME_TOO_LONG);
	cr_assert_eq(sl_socks5_encode_auth(b, 10, "user", "password"), SL_E_INVAL);
}

Test(socks5, connect_request_ipv4)
{
	uint8_t b[SL_SOCKS5_REQUEST_MAX];
	sl_socks5_target t = {.addr = A("192.0.2.10"), .port = 8080};
	ASSERT_BYTES(b, sl_socks5_encode_request(b, sizeof b, &t),
		     "\x05\x01\x00\x01\xc0\x00\x02\x0a\x1f\x90");
}

Test(socks5, connect_request_domain)
{
	uint8_t b[SL_SOCKS5_REQUEST_MAX];
	sl_socks5_target t = {.host = "example.com", .port = 443};
	ASSERT_BYTES(b, sl_socks5_encode_request(b, sizeof b, &t), "\x05\x01\x00\x03\x0b"
								   "example.com"
								   "\x01\xbb");
}

Test(socks5, connect_request_ipv6)
{
	uint8_t b[SL_SOCKS5_REQUEST_MAX];
	sl_socks5_target t = {.addr = A("2001:db8::1"), .port = 80};
	ASSERT_BYTES(b, sl_socks5_encode_request(b, sizeof b, &t),
		     "\x05\x01\x00\x04"
		     "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
		     "\x00\x50");
}

Test(socks5, connect_request_ip_literal_host_goes_as_address)
{
	uint8_t b[SL_SOCKS5_REQUEST_MAX];
	sl_socks5_target t4 = {.host = "127.0.0.1", .port = 1};
	sl_socks5_target t6 = {.host = "::1", .port = 65535};

	ASSERT_BYTES(b, sl_socks5_encode_request(b, sizeof b, &t4),
		     "\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x01");
	ASSERT_BYTES(b, sl_socks5_encode_request(b, sizeof b, &t6),
		     "\x05\x01\x00\x04"
		     "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
		     "\xff\xff");
}

Test(socks5, connect_request_name_limits)
{
	uint8_t b[SL_SOCKS5_REQUEST_MAX];
	char h255[256], h256[257];
	sl_socks5_target t = {.host = h255, .port = 80};

	memset(h255, 'a', 255);
	h255[255] = 0;
	memset(h256, 'a', 256);
	h256[256] = 0;
	cr_assert_eq(sl_socks5_encode_request(b, sizeof b, &t), SL_SOCKS5_REQUEST_MAX);
	cr_assert_eq(b[4], 255);
	t.host = h256;
	cr_assert_eq(sl_socks5_encode_request(b, sizeof b, &t), SL_E_SOCKS_NAME_TOO_LONG);
	t.host = "";
	cr_assert_eq(sl_socks5_encode_request(b, sizeof b, &t), SL_E_INVAL);
	t.host = NULL; /* and no address family either */
	cr_assert_eq(sl_socks5_encode_request(b, sizeof b, &t), SL_E_INVAL);
	t.host = "example.com";
	cr_assert_eq(sl_socks5_encode_request(b, 10, &t), SL_E_INVAL);
}

/* ---- decoders ---- */

Test(socks5, method_selection)
{
	uint8_t m = 0x42;

	cr_assert_eq(sl_socks5_decode_method((const uint8_t *)"\x05", 1, false, &m), 2);
	cr_assert_eq(sl_socks5_decode_method((const uint8_t *)"\x05\x00", 2, false, &m), 0);
	cr_assert_eq(m, 0x00);
	cr_assert_eq(sl_socks5_decode_method((const uint8_t *)"\x05\x02", 2, true, &m), 0);
	cr_assert_eq(m, 0x02);
	cr_assert_eq(sl_socks5_decode_method((const uint8_t *)"\x05\x00", 2, true, &m), 0);
	cr_assert_eq(m, 0x00, "no-auth may be chosen though credentials were offered");
}

Test(socks5, method_selection_errors)
{
	cr_assert_eq(sl_socks5_decode_method((const uint8_t *)"\x05\xff", 2, true, NULL),
		     SL_E_SOCKS_NO_METHOD);
	cr_assert_eq(sl_socks5_decode_method((const uint8_t *)"\x05\x02", 2, false, NULL),
		     SL_E_SOCKS_BAD_METHOD);
	cr_assert_eq(sl_socks5_decode_method((const uint8_t *)"\x05\x01", 2, true, NULL),
		     SL_E_SOCKS_BAD_METHOD, "GSSAPI was never offered");
	cr_assert_eq(sl_socks5_decode_method((const uint8_t *)"\x04\x00", 2, true, NULL),
		     SL_E_SOCKS_VERSION);
}

Test(socks5, auth_status)
{
	cr_assert_eq(sl_socks5_decode_auth((const uint8_t *)"\x01", 1), 2);
	cr_assert_eq(sl_socks5_decode_auth((const uint8_t *)"\x01\x00", 2), 0);
	cr_assert_eq(sl_socks5_decode_auth((const uint8_t *)"\x01\x01", 2), SL_E_PROXY_AUTH);
	cr_assert_eq(sl_socks5_decode_auth((const uint8_t *)"\x01\xff", 2), SL_E_PROXY_AUTH);
	cr_assert_eq(sl_socks5_decode_auth((const uint8_t *)"\x05\x00", 2), SL_E_SOCKS_VERSION);
}

Test(socks5, reply_lengths_from_atyp)
{
	sl_socks5_reply r;

	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"", 0, &r), 5);
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x05\x00\x00\x01", 4, &r), 5);
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x05\x00\x00\x01\x0a", 5, &r), 10);
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x05\x00\x00\x04\x20", 5, &r), 22);
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x05\x00\x00\x03\x0b", 5, &r), 18);
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x05\x00\x00\x03\x00", 5, &r), 7);
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x05\x00\x00\x03\xff", 5, &r),
		     SL_SOCKS5_REPLY_MAX);
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x05\x00\x00\x01\x0a\x00\x00\x05\x9c",
					    9, &r),
		     10);
}

Test(socks5, reply_ipv4_fields)
{
	sl_socks5_reply r;
	sl_addr want = A("10.0.0.5");

	cr_assert_eq(sl_socks5_decode_reply(
			     (const uint8_t *)"\x05\x00\x00\x01\x0a\x00\x00\x05\x9c\x40", 10, &r),
		     0);
	cr_assert_eq(r.rep, 0);
	cr_assert_eq(r.atyp, SL_SOCKS5_ATYP_IPV4);
	cr_assert(sl_addr_eq(&r.addr, &want));
	cr_assert_eq(r.port, 40000);
}

Test(socks5, reply_ipv6_fields)
{
	sl_socks5_reply r;
	sl_addr want = A("2001:db8::2");
	const char msg[] = "\x05\x00\x00\x04"
			   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
			   "\x01\xbb";

	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)msg, sizeof msg - 1, &r), 0);
	cr_assert_eq(r.atyp, SL_SOCKS5_ATYP_IPV6);
	cr_assert(sl_addr_eq(&r.addr, &want));
	cr_assert_eq(r.port, 443);
}

Test(socks5, reply_domain_fields)
{
	sl_socks5_reply r;
	const char msg[] = "\x05\x00\x00\x03\x07"
			   "gateway"
			   "\x04\x38";

	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)msg, sizeof msg - 1, &r), 0);
	cr_assert_eq(r.atyp, SL_SOCKS5_ATYP_DOMAIN);
	cr_assert_eq(r.host_len, 7);
	cr_assert_eq(memcmp(r.host, "gateway", 7), 0);
	cr_assert_eq(r.port, 1080);
}

static const struct {
	unsigned rep;
	int last, next;
} rep_table[] = {
	{0, 0, 0},
	{1, SL_E_SOCKS_GENERAL, SL_E_SOCKS_GENERAL},
	{2, SL_E_TARGET_DENIED, SL_E_PROXY_DENIED},
	{3, SL_E_TARGET_UNREACHABLE, SL_E_PROXY_UNREACHABLE},
	{4, SL_E_TARGET_UNREACHABLE, SL_E_PROXY_UNREACHABLE},
	{5, SL_E_TARGET_REFUSED, SL_E_PROXY_REFUSED},
	{6, SL_E_TARGET_TIMEOUT, SL_E_PROXY_TIMEOUT},
	{7, SL_E_SOCKS_CMD_UNSUPPORTED, SL_E_SOCKS_CMD_UNSUPPORTED},
	{8, SL_E_SOCKS_ATYP_UNSUPPORTED, SL_E_SOCKS_ATYP_UNSUPPORTED},
	{9, SL_E_SOCKS_UNKNOWN_REP, SL_E_SOCKS_UNKNOWN_REP},
	{0x80, SL_E_SOCKS_UNKNOWN_REP, SL_E_SOCKS_UNKNOWN_REP},
	{0xff, SL_E_SOCKS_UNKNOWN_REP, SL_E_SOCKS_UNKNOWN_REP},
};

Test(socks5, every_rep_code_has_its_error)
{
	for (size_t i = 0; i < sizeof rep_table / sizeof rep_table[0]; i++) {
		cr_assert_eq(sl_socks5_rep_error(rep_table[i].rep, true), rep_table[i].last,
			     "REP %u last hop", rep_table[i].rep);
		cr_assert_eq(sl_socks5_rep_error(rep_table[i].rep, false), rep_table[i].next,
			     "REP %u next hop", rep_table[i].rep);
	}
}

Test(socks5, failed_reply_is_judged_on_its_head)
{
	sl_socks5_reply r;
	uint8_t msg[5] = {5, 0, 0, 1, 0};

	for (size_t i = 1; i < sizeof rep_table / sizeof rep_table[0]; i++) {
		msg[1] = (uint8_t)rep_table[i].rep;
		r.rep = 0;
		cr_assert_eq(sl_socks5_decode_reply(msg, 5, &r), rep_table[i].last);
		cr_assert_eq(r.rep, rep_table[i].rep);
	}
}

Test(socks5, reply_bad_version)
{
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x04\x00\x00\x01\x00", 5, NULL),
		     SL_E_SOCKS_VERSION);
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x00\x5a\x00\x01\x00", 5, NULL),
		     SL_E_SOCKS_VERSION, "a SOCKS4 answer");
}

Test(socks5, reply_bad_reserved_byte)
{
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x05\x00\x01\x01\x00", 5, NULL),
		     SL_E_SOCKS_BAD_REPLY);
	cr_assert_eq(sl_socks5_decode_reply((const uint8_t *)"\x05\x00\xff\x01\x00", 5, NULL),
		     SL_E_SOCKS_BAD_REPLY);
}

Test(socks5, reply_bad_address_type)
{
	const uint8_t bad[] = {0, 2, 5, 6, 0xff};
	uint8_t msg[5] = {5, 0, 0, 0, 4};

	for (size_t i = 0; i < sizeof bad; i++) {
		msg[3] = bad[i];
		cr_assert_eq(sl_socks5_decode_reply(msg, 5, NULL), SL_E_SOCKS_BAD_REPLY,
			     "ATYP %u", bad[i]);
	}
}

/* ---- the layer over a socketpair, the test as the server ---- */

struct ctx {
	struct ev_loop *loop;
	sl_stream *s;
	int peer;
	int done_rc;
	int done_calls;
	bool guard_fired;
	char trace[2048];
};

static void on_done(sl_stream *s, int err, void *arg)
{
	struct ctx *c = arg;
	(void)s;
	c->done_rc = err;
	c->done_calls++;
}

static void on_trace(sl_stream *s, const char *line, void *arg)
{
	struct ctx *c = arg;
	size_t n = strlen(c->trace);
	(void)s;
	snprintf(c->trace + n, sizeof c->trace - n, "%s\n", line);
}

static void setup(struct ctx *c)
{
	int sv[2];

	memset(c, 0, sizeof *c);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	c->loop = ev_loop_new(EVFLAG_AUTO);
	c->s = sl_stream_new(c->loop);
	cr_assert_eq(sl_stream_attach_fd(c->s, sv[0]), 0);
	sl_stream_set_trace(c->s, on_trace, c);
	c->peer = sv[1];
	c->done_rc = 1;
}

static void teardown(struct ctx *c)
{
	if (c->s)
		sl_stream_close(c->s);
	if (c->peer >= 0)
		close(c->peer);
	ev_loop_destroy(c->loop);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctx *c = w->data;
	(void)loop;
	(void)revents;
	c->guard_fired = true;
}

static bool peer_readable(struct ctx *c)
{
	struct pollfd p = {.fd = c->peer, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

static bool is_done(struct ctx *c)
{
	return c->done_calls > 0;
}

/* Runs the loop until cond holds or the handshake ends, 5 s at most. */
static void pump(struct ctx *c, bool (*cond)(struct ctx *))
{
	ev_timer guard;

	c->guard_fired = false;
	ev_timer_init(&guard, on_guard, 5.0, 0.0);
	guard.data = c;
	ev_timer_start(c->loop, &guard);
	while (!cond(c) && !c->done_calls && !c->guard_fired)
		ev_run(c->loop, EVRUN_ONCE);
	ev_timer_stop(c->loop, &guard);
}

/* Reads exactly what the layer must have sent, and checks nothing follows. */
static void expect_sent(struct ctx *c, const char *want, size_t n)
{
	char got[600];
	size_t have = 0;

	cr_assert_leq(n, sizeof got);
	while (have < n) {
		struct pollfd p = {.fd = c->peer, .events = POLLIN};
		cr_assert_eq(poll(&p, 1, 2000), 1, "the layer sent %zu of %zu bytes", have, n);
		ssize_t r = read(c->peer, got + have, n - have);
		cr_assert_gt(r, 0);
		have += (size_t)r;
	}
	cr_assert_eq(memcmp(got, want, n), 0, "the layer sent other bytes");
	cr_assert_eq(recv(c->peer, got, 1, MSG_DONTWAIT), -1, "the layer sent more than expected");
	cr_assert_eq(errno, EAGAIN);
}

#define EXPECT_SENT(c, lit) expect_sent(c, lit, sizeof lit - 1)

static void answer(struct ctx *c, const char *bytes, size_t n)
{
	cr_assert_eq(write(c->peer, bytes, n), (ssize_t)n);
}

#define ANSWER(c, lit) answer(c, lit, sizeof lit - 1)

static void push(struct ctx *c, const sl_socks5_target *t, int hop, bool last)
{
	sl_layer *l = sl_socks5_layer_new(t, hop, last);
	cr_assert_not_null(l);
	cr_assert_eq(sl_stream_push(c->s, l, on_done, c), 0);
}

#define REQ_EXAMPLE "\x05\x01\x00\x03\x0b" \
		    "example.com"          \
		    "\x01\xbb"
#define GRANTED_V4 "\x05\x00\x00\x01\x0a\x00\x00\x05\x9c\x40"

static const sl_socks5_target example = {.host = "example.com", .port = 443};
static const sl_socks5_target example_auth = {
	.host = "example.com", .port = 443, .user = "alice", .password = "s3cret"};

/* Runs the no-auth exchange up to the CONNECT request. */
static void to_request(struct ctx *c, const sl_socks5_target *t, int hop, bool last)
{
	push(c, t, hop, last);
	EXPECT_SENT(c, "\x05\x01\x00");
	ANSWER(c, "\x05\x00");
	pump(c, peer_readable);
	cr_assert_eq(c->done_calls, 0);
}

Test(socks5, handshake_without_auth)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 0, true);
	EXPECT_SENT(&c, REQ_EXAMPLE);
	ANSWER(&c, GRANTED_V4);
	pump(&c, is_done);
	cr_assert_eq(c.done_calls, 1);
	cr_assert_eq(c.done_rc, 0);
	cr_assert_eq(c.s->top, &c.s->sock, "the layer unlinked itself");
	cr_assert(sl_stream_usable(c.s));
	cr_assert_eq(c.s->err, 0);
	teardown(&c);
}

Test(socks5, handshake_with_username_password)
{
	struct ctx c;

	setup(&c);
	push(&c, &example_auth, 0, true);
	EXPECT_SENT(&c, "\x05\x02\x00\x02");
	ANSWER(&c, "\x05\x02");
	pump(&c, peer_readable);
	EXPECT_SENT(&c, "\x01\x05"
			"alice"
			"\x06"
			"s3cret");
	ANSWER(&c, "\x01\x00");
	pump(&c, peer_readable);
	EXPECT_SENT(&c, REQ_EXAMPLE);
	ANSWER(&c, GRANTED_V4);
	pump(&c, is_done);
	cr_assert_eq(c.done_rc, 0);
	cr_assert(strstr(c.trace, "server chose username/password"));
	cr_assert(strstr(c.trace, "authenticated"));
	cr_assert_null(strstr(c.trace, "s3cret"), "the password never reaches a trace");
	teardown(&c);
}

Test(socks5, credentials_unused_when_server_picks_no_auth)
{
	struct ctx c;

	setup(&c);
	push(&c, &example_auth, 0, true);
	EXPECT_SENT(&c, "\x05\x02\x00\x02");
	ANSWER(&c, "\x05\x00");
	pump(&c, peer_readable);
	EXPECT_SENT(&c, REQ_EXAMPLE); /* straight to CONNECT, no sub-negotiation */
	ANSWER(&c, GRANTED_V4);
	pump(&c, is_done);
	cr_assert_eq(c.done_rc, 0);
	teardown(&c);
}

static void expect_failure(struct ctx *c, int err, int hop, bool proxy)
{
	if (!c->done_calls)
		pump(c, is_done);
	cr_assert_eq(c->done_calls, 1);
	cr_assert_eq(c->done_rc, err, "got %s, expected %s", sl_errname(c->done_rc),
		     sl_errname(err));
	cr_assert_eq(c->s->err, err);
	cr_assert_eq(c->s->err_hop, hop);
	cr_assert_eq(c->s->err_proxy, proxy);
	cr_assert_not(sl_stream_usable(c->s));
}

Test(socks5, auth_rejected)
{
	struct ctx c;

	setup(&c);
	push(&c, &example_auth, 2, true);
	EXPECT_SENT(&c, "\x05\x02\x00\x02");
	ANSWER(&c, "\x05\x02");
	pump(&c, peer_readable);
	EXPECT_SENT(&c, "\x01\x05"
			"alice"
			"\x06"
			"s3cret");
	ANSWER(&c, "\x01\x01");
	expect_failure(&c, SL_E_PROXY_AUTH, 2, true);
	teardown(&c);
}

Test(socks5, auth_reply_with_wrong_version)
{
	struct ctx c;

	setup(&c);
	push(&c, &example_auth, 0, true);
	EXPECT_SENT(&c, "\x05\x02\x00\x02");
	ANSWER(&c, "\x05\x02");
	pump(&c, peer_readable);
	ANSWER(&c, "\x05\x00");
	expect_failure(&c, SL_E_SOCKS_VERSION, 0, true);
	teardown(&c);
}

Test(socks5, no_acceptable_method)
{
	struct ctx c;

	setup(&c);
	push(&c, &example, 1, true);
	ANSWER(&c, "\x05\xff");
	expect_failure(&c, SL_E_SOCKS_NO_METHOD, 1, true);
	teardown(&c);
}

Test(socks5, method_not_offered)
{
	struct ctx c;

	setup(&c);
	push(&c, &example, 0, true);
	ANSWER(&c, "\x05\x02"); /* username/password, but we have no credentials */
	expect_failure(&c, SL_E_SOCKS_BAD_METHOD, 0, true);
	teardown(&c);
}

Test(socks5, method_reply_with_wrong_version)
{
	struct ctx c;

	setup(&c);
	push(&c, &example, 0, true);
	ANSWER(&c, "\x04\x00");
	expect_failure(&c, SL_E_SOCKS_VERSION, 0, true);
	teardown(&c);
}

Test(socks5, refused_at_last_hop_is_a_target_error)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 1, true);
	ANSWER(&c, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00");
	expect_failure(&c, SL_E_TARGET_REFUSED, 2, false);
	teardown(&c);
}

Test(socks5, refused_next_proxy_is_a_proxy_error_of_that_hop)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 1, false);
	ANSWER(&c, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00");
	expect_failure(&c, SL_E_PROXY_REFUSED, 2, true);
	teardown(&c);
}

Test(socks5, every_rep_code_through_the_layer)
{
	for (size_t i = 1; i < sizeof rep_table / sizeof rep_table[0]; i++) {
		for (int last = 0; last <= 1; last++) {
			struct ctx c;
			unsigned rep = rep_table[i].rep;
			bool about_next = rep >= 2 && rep <= 6;
			uint8_t msg[10] = {5, (uint8_t)rep, 0, 1};

			setup(&c);
			to_request(&c, &example, 0, last);
			answer(&c, (const char *)msg, sizeof msg);
			expect_failure(&c, last ? rep_table[i].last : rep_table[i].next,
				       about_next ? 1 : 0, about_next ? !last : true);
			teardown(&c);
		}
	}
}

Test(socks5, general_failure_is_the_proxy_own)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 0, true);
	ANSWER(&c, "\x05\x01\x00\x01");
	ANSWER(&c, "\x00"); /* the head is complete: judged without the rest */
	expect_failure(&c, SL_E_SOCKS_GENERAL, 0, true);
	cr_assert(strstr(c.trace, "CONNECT reply failed"));
	teardown(&c);
}

Test(socks5, granted_with_ipv6_bound_address)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 0, true);
	ANSWER(&c, "\x05\x00\x00\x04"
		   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
		   "\x01\xbb");
	pump(&c, is_done);
	cr_assert_eq(c.done_rc, 0);
	cr_assert(strstr(c.trace, "granted, bound [2001:db8::2]:443"), "%s", c.trace);
	teardown(&c);
}

Test(socks5, granted_with_domain_bound_address)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 0, true);
	ANSWER(&c, "\x05\x00\x00\x03\x07"
		   "gateway"
		   "\x04\x38");
	pump(&c, is_done);
	cr_assert_eq(c.done_rc, 0);
	cr_assert(strstr(c.trace, "granted, bound gateway:1080"), "%s", c.trace);
	teardown(&c);
}

/* Bytes waiting in the stream's socket, not read by the layer yet. */
static int unread(struct ctx *c)
{
	int n = 0;
	cr_assert_eq(ioctl(c->s->fd, FIONREAD, &n), 0);
	return n;
}

static bool all_taken(struct ctx *c)
{
	return unread(c) == 0;
}

/* Writes one byte at a time, letting the layer take each before the next. */
static void answer_slowly(struct ctx *c, const char *bytes, size_t n)
{
	for (size_t i = 0; i < n && !c->done_calls; i++) {
		answer(c, bytes + i, 1);
		pump(c, all_taken);
	}
}

Test(socks5, answers_one_byte_at_a_time)
{
	struct ctx c;
	static const char reply[] = "\x05\x00\x00\x03\x07"
				    "gateway"
				    "\x04\x38";

	setup(&c);
	push(&c, &example_auth, 0, true);
	EXPECT_SENT(&c, "\x05\x02\x00\x02");
	answer_slowly(&c, "\x05\x02", 2);
	pump(&c, peer_readable);
	EXPECT_SENT(&c, "\x01\x05"
			"alice"
			"\x06"
			"s3cret");
	answer_slowly(&c, "\x01\x00", 2);
	pump(&c, peer_readable);
	EXPECT_SENT(&c, REQ_EXAMPLE);
	answer_slowly(&c, reply, sizeof reply - 2); /* all but the last byte */
	cr_assert_eq(c.done_calls, 0, "not done before the last byte");
	answer_slowly(&c, reply + sizeof reply - 2, 1);
	if (!c.done_calls)
		pump(&c, is_done);
	cr_assert_eq(c.done_rc, 0);
	teardown(&c);
}

Test(socks5, reply_truncated_by_close)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 0, true);
	ANSWER(&c, "\x05\x00\x00\x01\x0a\x00"); /* 6 of 10 bytes */
	close(c.peer);
	c.peer = -1;
	expect_failure(&c, SL_E_PROXY_CLOSED, 0, true);
	teardown(&c);
}

Test(socks5, close_before_method_selection)
{
	struct ctx c;

	setup(&c);
	push(&c, &example, 0, true);
	EXPECT_SENT(&c, "\x05\x01\x00");
	ANSWER(&c, "\x05");
	close(c.peer);
	c.peer = -1;
	expect_failure(&c, SL_E_PROXY_CLOSED, 0, true);
	teardown(&c);
}

Test(socks5, reply_with_bad_reserved_byte)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 0, true);
	ANSWER(&c, "\x05\x00\x01\x01\x0a\x00\x00\x05\x9c\x40");
	expect_failure(&c, SL_E_SOCKS_BAD_REPLY, 0, true);
	teardown(&c);
}

Test(socks5, reply_with_bad_address_type)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 0, false);
	ANSWER(&c, "\x05\x00\x00\x02\x0a\x00\x00\x05\x9c\x40");
	expect_failure(&c, SL_E_SOCKS_BAD_REPLY, 0, true);
	teardown(&c);
}

Test(socks5, reply_with_bad_version)
{
	struct ctx c;

	setup(&c);
	to_request(&c, &example, 0, true);
	ANSWER(&c, "\x04\x00\x00\x01\x0a\x00\x00\x05\x9c\x40");
	expect_failure(&c, SL_E_SOCKS_VERSION, 0, true);
	teardown(&c);
}

Test(socks5, bytes_after_the_reply_stay_for_the_user)
{
	struct ctx c;
	char buf[64] = {0};

	setup(&c);
	to_request(&c, &example, 0, true);
	ANSWER(&c, GRANTED_V4 "HTTP/1.1 200 OK\r\n");
	pump(&c, is_done);
	cr_assert_eq(c.done_rc, 0);
	cr_assert_eq(unread(&c), 17, "the layer read past the reply");
	cr_assert_eq(sl_stream_read(c.s, buf, sizeof buf), 17);
	cr_assert_str_eq(buf, "HTTP/1.1 200 OK\r\n");
	teardown(&c);
}

Test(socks5, long_host_fails_before_sending)
{
	struct ctx c;
	char host[300];
	sl_socks5_target t = {.host = host, .port = 80};

	memset(host, 'h', 256);
	host[256] = 0;
	setup(&c);
	push(&c, &t, 0, true);
	expect_failure(&c, SL_E_SOCKS_NAME_TOO_LONG, 0, true);
	cr_assert_not(peer_readable(&c), "nothing was sent");
	teardown(&c);
}

Test(socks5, long_password_fails_before_sending)
{
	struct ctx c;
	char pw[300];
	sl_socks5_target t = {.host = "example.com", .port = 80, .user = "u", .password = pw};

	memset(pw, 'p', 256);
	pw[256] = 0;
	setup(&c);
	push(&c, &t, 0, true);
	expect_failure(&c, SL_E_SOCKS_NAME_TOO_LONG, 0, true);
	cr_assert_not(peer_readable(&c), "nothing was sent");
	teardown(&c);
}

Test(socks5, local_dns_target_goes_as_address)
{
	struct ctx c;
	sl_socks5_target t = {.addr = A("192.0.2.10"), .port = 8080};

	setup(&c);
	to_request(&c, &t, 0, true);
	EXPECT_SENT(&c, "\x05\x01\x00\x01\xc0\x00\x02\x0a\x1f\x90");
	cr_assert(strstr(c.trace, "CONNECT 192.0.2.10:8080\n"), "%s", c.trace);
	ANSWER(&c, GRANTED_V4);
	pump(&c, is_done);
	cr_assert_eq(c.done_rc, 0);
	teardown(&c);
}

Test(socks5, trace_tells_each_step)
{
	struct ctx c;

	setup(&c);
	push(&c, &example_auth, 1, true);
	EXPECT_SENT(&c, "\x05\x02\x00\x02");
	ANSWER(&c, "\x05\x02");
	pump(&c, peer_readable);
	EXPECT_SENT(&c, "\x01\x05"
			"alice"
			"\x06"
			"s3cret");
	ANSWER(&c, "\x01\x00");
	pump(&c, peer_readable);
	EXPECT_SENT(&c, REQ_EXAMPLE);
	ANSWER(&c, GRANTED_V4);
	pump(&c, is_done);
	cr_assert_str_eq(c.trace, "socks5 hop 1: offering no-auth, username/password\n"
				  "socks5 hop 1: server chose username/password\n"
				  "socks5 hop 1: authenticated\n"
				  "socks5 hop 1: CONNECT example.com:443 (remote DNS)\n"
				  "socks5 hop 1: granted, bound 10.0.0.5:40000\n");
	teardown(&c);
}

/* Fills the stream's socket so that nothing more can be written to it. */
static size_t fill_socket(struct ctx *c)
{
	char junk[4096];
	size_t total = 0;
	ssize_t w;

	memset(junk, 'x', sizeof junk);
	while ((w = write(c->s->fd, junk, sizeof junk)) > 0)
		total += (size_t)w;
	while ((w = write(c->s->fd, junk, 1)) > 0)
		total += (size_t)w;
	cr_assert_eq(errno, EAGAIN);
	return total;
}

static void drain_junk(struct ctx *c, size_t n)
{
	char buf[4096];

	while (n > 0) {
		ssize_t r = read(c->peer, buf, n < sizeof buf ? n : sizeof buf);
		cr_assert_gt(r, 0);
		for (ssize_t i = 0; i < r; i++)
			cr_assert_eq(buf[i], 'x');
		n -= (size_t)r;
	}
}

Test(socks5, greeting_waits_for_a_writable_socket)
{
	struct ctx c;

	setup(&c);
	size_t junk = fill_socket(&c);
	push(&c, &example, 0, true);
	cr_assert_eq(c.done_calls, 0);
	cr_assert_eq(c.s->io_events, EV_WRITE, "the layer waits to write");
	drain_junk(&c, junk);
	pump(&c, peer_readable);
	EXPECT_SENT(&c, "\x05\x01\x00");
	ANSWER(&c, "\x05\x00");
	pump(&c, peer_readable);
	EXPECT_SENT(&c, REQ_EXAMPLE);
	ANSWER(&c, GRANTED_V4);
	pump(&c, is_done);
	cr_assert_eq(c.done_rc, 0);
	teardown(&c);
}

Test(socks5, silent_server_times_out)
{
	struct ctx c;

	setup(&c);
	sl_stream_set_timeout(c.s, 30);
	push(&c, &example, 3, false);
	expect_failure(&c, SL_E_PROXY_TIMEOUT, 3, true);
	teardown(&c);
}

Test(socks5, silent_target_behind_last_hop_times_out_as_target)
{
	struct ctx c;

	setup(&c);
	sl_stream_set_timeout(c.s, 100);
	to_request(&c, &example, 1, true);
	EXPECT_SENT(&c, REQ_EXAMPLE);
	expect_failure(&c, SL_E_TARGET_TIMEOUT, 2, false);
	teardown(&c);
}

Test(socks5, silent_next_proxy_times_out_as_that_proxy)
{
	struct ctx c;

	setup(&c);
	sl_stream_set_timeout(c.s, 100);
	to_request(&c, &example, 1, false);
	EXPECT_SENT(&c, REQ_EXAMPLE);
	expect_failure(&c, SL_E_PROXY_TIMEOUT, 2, true);
	teardown(&c);
}

Test(socks5, closing_mid_handshake_calls_nothing)
{
	struct ctx c;

	setup(&c);
	push(&c, &example_auth, 0, true);
	ANSWER(&c, "\x05\x02");
	sl_stream_close(c.s); /* frees the layer; ASan sees any leak */
	c.s = NULL;
	ev_run(c.loop, EVRUN_NOWAIT);
	cr_assert_eq(c.done_calls, 0);
	teardown(&c);
}

Test(socks5, layer_new_needs_a_target)
{
	cr_assert_null(sl_socks5_layer_new(NULL, 0, true));
}
