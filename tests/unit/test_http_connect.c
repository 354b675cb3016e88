/*
 * Unit tests of the CONNECT handshake layer against a scripted fake proxy
 * on the other end of a socketpair: the request it writes, 2xx tunnels that
 * leave the bytes after the head unread (over the socket, where it peeks,
 * and over another layer, where it reads byte by byte), 407 rounds with
 * Basic and Digest (checked against core/auth's own answer), bodies
 * drained, reconnection when the proxy closes, the credential cache hooks,
 * status mapping on the last and middle hops, and malformed answers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/err.h"
#include "engines/http_connect.h"
#include "engines/stream.h"

struct fx {
	struct ev_loop *loop;
	sl_stream *s;
	int peer;
	int done_rc;
	int done_calls;
	char trace[8192];
	size_t ntrace;
};

static void on_done(sl_stream *s, int err, void *arg)
{
	struct fx *f = arg;
	(void)s;
	f->done_rc = err;
	f->done_calls++;
	ev_break(f->loop, EVBREAK_ONE);
}

static void on_trace(sl_stream *s, const char *line, void *arg)
{
	struct fx *f = arg;
	(void)s;
	int n = snprintf(f->trace + f->ntrace, sizeof f->trace - f->ntrace, "%s\n", line);
	if (n > 0 && f->ntrace + (size_t)n < sizeof f->trace)
		f->ntrace += (size_t)n;
}

/* ---- a pass-through layer, so the layer below is not the socket ---- */

static int pt_progress(sl_layer *l)
{
	(void)l;
	return 0;
}

static ssize_t pt_read(sl_layer *l, void *buf, size_t n)
{
	return sl_layer_read_below(l, buf, n);
}

static ssize_t pt_writev(sl_layer *l, const struct iovec *iov, int iovcnt)
{
	return sl_layer_writev_below(l, iov, iovcnt);
}

static void pt_destroy(sl_layer *l)
{
	free(l);
}

static const sl_layer_ops pt_ops = {
	.name = "pass-through",
	.progress = pt_progress,
	.read = pt_read,
	.writev = pt_writev,
	.destroy = pt_destroy,
};

static void push_passthrough(struct fx *f)
{
	sl_layer *l = calloc(1, sizeof *l);
	l->ops = &pt_ops;
	l->stays = true;
	cr_assert_eq(sl_stream_push(f->s, l, NULL, NULL), 0);
	cr_assert_eq(f->s->top, l);
}

/* ---- fixture ---- */

static void setup(struct fx *f, bool passthrough)
{
	int sv[2];

	memset(f, 0, sizeof *f);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	f->s = sl_stream_new(f->loop);
	cr_assert_eq(sl_stream_attach_fd(f->s, sv[0]), 0);
	sl_stream_set_trace(f->s, on_trace, f);
	f->peer = sv[1];
	f->done_rc = 1;
	if (passthrough)
		push_passthrough(f);
}

static void teardown(struct fx *f)
{
	if (f->s)
		sl_stream_close(f->s);
	if (f->peer >= 0)
		close(f->peer);
	ev_loop_destroy(f->loop);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until the handshake ends, 5 s at most. */
static void run(struct fx *f)
{
	ev_timer guard;

	if (f->done_calls)
		return;
	ev_timer_init(&guard, on_guard, 5.0, 0.0);
	ev_timer_start(f->loop, &guard);
	ev_run(f->loop, 0);
	ev_timer_stop(f->loop, &guard);
}

static const sl_hop no_creds = {.type = SL_HOP_HTTP, .host = "proxy", .port = 3128};
static const sl_hop creds = {
	.type = SL_HOP_HTTP, .host = "proxy", .port = 3128, .user = "user", .password = "pass",
	.label = "corp",
};

static void start(struct fx *f, const char *host, uint16_t port, const sl_hop *hop,
		  struct sl_proxy_auth *auth, int hopi, bool last)
{
	sl_layer *l = sl_connect_layer_new(host, port, hop, auth, hopi, last);
	cr_assert_not_null(l);
	cr_assert_eq(sl_stream_push(f->s, l, on_done, f), 0);
}

/* Reads one request head from the fake proxy's end (2 s at most). */
static void read_request(struct fx *f, char *buf, size_t cap)
{
	size_t n = 0;
	int spins = 0;

	buf[0] = '\0';
	while (!strstr(buf, "\r\n\r\n")) {
		struct pollfd p = {.fd = f->peer, .events = POLLIN};
		cr_assert_lt(n + 1, cap, "request too long");
		if (poll(&p, 1, 10) == 0) {
			/* The layer may still need the loop to send the rest. */
			ev_run(f->loop, EVRUN_NOWAIT);
			cr_assert_lt(++spins, 200, "no request from the layer");
			continue;
		}
		ssize_t r = read(f->peer, buf + n, 1);
		cr_assert_gt(r, 0);
		n += (size_t)r;
		buf[n] = '\0';
	}
}

static void reply(struct fx *f, const char *text)
{
	size_t n = strlen(text);
	cr_assert_eq(write(f->peer, text, n), (ssize_t)n);
}

/* Sends text one byte per loop iteration. */
static void reply_drip(struct fx *f, const char *text)
{
	for (size_t i = 0; text[i]; i++) {
		cr_assert_eq(write(f->peer, text + i, 1), 1);
		ev_run(f->loop, EVRUN_NOWAIT);
		if (text[i + 1])
			cr_assert_eq(f->done_calls, 0, "done before the head ended (byte %zu)", i);
	}
}

/* Extracts the value of a field from a request head into out. */
static bool header_value(const char *req, const char *name, char *out, size_t cap)
{
	char key[64];
	snprintf(key, sizeof key, "\r\n%s: ", name);
	const char *p = strstr(req, key);
	if (!p)
		return false;
	p += strlen(key);
	const char *e = strstr(p, "\r\n");
	size_t n = (size_t)(e - p);
	cr_assert_lt(n, cap);
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static void expect_tunnel_with(struct fx *f, const char *want)
{
	char buf[64] = {0};
	size_t n = 0, len = strlen(want);

	for (int i = 0; i < 100 && n < len; i++) {
		ssize_t r = sl_stream_read(f->s, buf + n, sizeof buf - 1 - n);
		if (r > 0)
			n += (size_t)r;
		else
			cr_assert_eq(r, -EAGAIN);
	}
	cr_assert_str_eq(buf, want);
}

/* ---- a fake credential cache ---- */

struct fake_auth {
	struct sl_proxy_auth pa;
	const char *offer;
	int preempt_calls;
	int learned_calls;
	char uri[300];
	enum sl_auth_scheme learned_scheme;
	char learned_realm[SL_AUTH_REALM_MAX];
	bool learned_digest_state;
	uint32_t learned_nc;
	const sl_hop *learned_hop;
};

static int fake_preempt(struct sl_proxy_auth *pa, const sl_hop *hop, const char *method,
			const char *uri, char *out, size_t cap)
{
	struct fake_auth *a = (struct fake_auth *)pa;
	(void)hop;
	a->preempt_calls++;
	cr_assert_str_eq(method, "CONNECT");
	snprintf(a->uri, sizeof a->uri, "%s", uri);
	if (!a->offer)
		return 0;
	return snprintf(out, cap, "%s", a->offer);
}

static void fake_learned(struct sl_proxy_auth *pa, const sl_hop *hop, const sl_auth_challenge *ch,
			 sl_auth_digest_state *st)
{
	struct fake_auth *a = (struct fake_auth *)pa;
	a->learned_calls++;
	a->learned_hop = hop;
	a->learned_scheme = ch->scheme;
	snprintf(a->learned_realm, sizeof a->learned_realm, "%s", ch->realm);
	a->learned_digest_state = st != NULL;
	a->learned_nc = st ? st->nc : 0;
}

static void fake_init(struct fake_auth *a, const char *offer)
{
	memset(a, 0, sizeof *a);
	a->pa.preempt = fake_preempt;
	a->pa.learned = fake_learned;
	a->offer = offer;
}

#define BASIC_407                                                                         \
	"HTTP/1.1 407 Proxy Authentication Required\r\n"                                  \
	"Proxy-Authenticate: Basic realm=\"corp proxy\"\r\n"                              \
	"Content-Length: 0\r\n\r\n"
#define OK_200 "HTTP/1.1 200 Connection established\r\n\r\n"

/* ---- requests ---- */

Test(http_connect, request_line_and_host)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	cr_assert_str_eq(req, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
	cr_assert(strstr(f.trace, "connect hop 0: CONNECT example.com:443\n"), "%s", f.trace);
	cr_assert_eq(f.done_calls, 0);
	teardown(&f);
}

Test(http_connect, ipv6_target_is_bracketed)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "2001:db8::1", 8443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	cr_assert_str_eq(req, "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n");
	teardown(&f);
}

Test(http_connect, bracketed_ipv6_target_is_not_bracketed_twice)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "[::1]", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	cr_assert_str_eq(req, "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n");
	teardown(&f);
}

Test(http_connect, hosts_that_would_break_the_request_line_are_refused)
{
	cr_assert_null(sl_connect_layer_new("", 443, &no_creds, NULL, 0, true));
	cr_assert_null(sl_connect_layer_new("a b", 443, &no_creds, NULL, 0, true));
	cr_assert_null(sl_connect_layer_new("a\r\nX-Evil: 1", 443, &no_creds, NULL, 0, true));
	cr_assert_null(sl_connect_layer_new("a/b", 443, &no_creds, NULL, 0, true));
	cr_assert_null(sl_connect_layer_new("user@host", 443, &no_creds, NULL, 0, true));
	cr_assert_null(sl_connect_layer_new(NULL, 443, &no_creds, NULL, 0, true));
	cr_assert_null(sl_connect_layer_new("[::1", 443, &no_creds, NULL, 0, true));
	cr_assert_null(sl_connect_layer_new("a]b", 443, &no_creds, NULL, 0, true));
	sl_layer *l = sl_connect_layer_new("ok.example", 443, &no_creds, NULL, 0, true);
	cr_assert(sl_connect_layer_is(l));
	l->ops->destroy(l);
}

/* ---- tunnels ---- */

Test(http_connect, status_200_opens_the_tunnel_and_unlinks_the_layer)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 1, true);
	read_request(&f, req, sizeof req);
	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_calls, 1);
	cr_assert_eq(f.done_rc, 0);
	cr_assert_eq(f.s->top, &f.s->sock, "the layer is gone from the stack");
	cr_assert(sl_stream_usable(f.s));
	cr_assert(strstr(f.trace, "connect hop 1: 200 Connection established\n"), "%s", f.trace);
	teardown(&f);
}

Test(http_connect, any_2xx_opens_the_tunnel)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.0 203 Fine by me\r\nX-Proxy: test\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	cr_assert(strstr(f.trace, "203 Fine by me"), "%s", f.trace);
	teardown(&f);
}

Test(http_connect, bytes_after_the_head_stay_unread_over_the_socket)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 25, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 200 OK\r\nVia: 1.1 proxy\r\n\r\n220 smtp ready\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	expect_tunnel_with(&f, "220 smtp ready\r\n");
	teardown(&f);
}

Test(http_connect, bytes_after_the_head_stay_unread_over_another_layer)
{
	struct fx f;
	char req[1024];

	setup(&f, true);
	start(&f, "example.com", 25, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 200 OK\r\n\r\nBANNER");
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	cr_assert_neq(f.s->top, &f.s->sock, "the pass-through layer stays");
	expect_tunnel_with(&f, "BANNER");
	teardown(&f);
}

Test(http_connect, answer_one_byte_at_a_time_over_the_socket)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply_drip(&f, "HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_calls, 1);
	cr_assert_eq(f.done_rc, 0);
	teardown(&f);
}

Test(http_connect, answer_one_byte_at_a_time_over_another_layer)
{
	struct fx f;
	char req[1024];

	setup(&f, true);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply_drip(&f, "HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	reply(&f, "AFTER");
	expect_tunnel_with(&f, "AFTER");
	teardown(&f);
}

Test(http_connect, interim_1xx_answers_are_skipped)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nX");
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	expect_tunnel_with(&f, "X");
	teardown(&f);
}

/* ---- 407 ---- */

Test(http_connect, basic_407_then_200_on_the_same_connection)
{
	struct fx f;
	struct fake_auth a;
	char req[1024], v[256];

	fake_init(&a, NULL);
	setup(&f, false);
	start(&f, "example.com", 443, &creds, &a.pa, 0, true);
	read_request(&f, req, sizeof req);
	cr_assert_not(header_value(req, "Proxy-Authorization", v, sizeof v));
	cr_assert_eq(a.preempt_calls, 1);
	cr_assert_str_eq(a.uri, "example.com:443");
	reply(&f, BASIC_407);
	read_request(&f, req, sizeof req);
	cr_assert(header_value(req, "Proxy-Authorization", v, sizeof v), "%s", req);
	cr_assert_str_eq(v, "Basic dXNlcjpwYXNz");
	cr_assert(strncmp(req, "CONNECT example.com:443 HTTP/1.1\r\n", 34) == 0);
	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	cr_assert_eq(a.learned_calls, 1, "the cache learns what worked");
	cr_assert_eq(a.learned_scheme, SL_AUTH_BASIC);
	cr_assert_str_eq(a.learned_realm, "corp proxy");
	cr_assert_not(a.learned_digest_state);
	cr_assert_eq(a.learned_hop, &creds);
	cr_assert(strstr(f.trace, "407 Basic realm=\"corp proxy\", retrying with credentials"),
		  "%s", f.trace);
	teardown(&f);
}

#define DIGEST_CHALLENGE                                                                  \
	"Digest realm=\"proxy@corp\", qop=\"auth\", algorithm=SHA-256, "                \
	"nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925k\""

Test(http_connect, digest_407_answer_matches_core_auth)
{
	struct fx f;
	char req[2048], got[1024], want[1024], cnonce[128];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Basic realm=\"weak\"\r\n"
		  "Proxy-Authenticate: " DIGEST_CHALLENGE "\r\n"
		  "Content-Length: 0\r\n\r\n");
	read_request(&f, req, sizeof req);
	cr_assert(header_value(req, "Proxy-Authorization", got, sizeof got), "%s", req);
	cr_assert(strncmp(got, "Digest ", 7) == 0, "Digest is stronger than Basic: %s", got);

	/* core/auth's answer for the same challenge and client nonce. */
	const char *c = strstr(got, "cnonce=\"");
	cr_assert_not_null(c);
	c += 8;
	size_t n = strcspn(c, "\"");
	memcpy(cnonce, c, n);
	cnonce[n] = '\0';
	sl_field fld = {SL_SLICE_LIT("Proxy-Authenticate"), SL_SLICE_LIT(DIGEST_CHALLENGE)};
	sl_auth_challenge ch;
	sl_auth_digest_state st;
	sl_auth_cred cr = {SL_SLICE_LIT("user"), SL_SLICE_LIT("pass")};
	cr_assert_eq(sl_auth_select(&fld, 1, "Proxy-Authenticate", &ch), 0);
	cr_assert_eq(sl_auth_digest_init(&st, &ch, NULL, NULL), 0);
	cr_assert_eq(sl_auth_digest_set_cnonce(&st, sl_slice_make(cnonce, n)), 0);
	cr_assert_gt(sl_auth_digest_respond(&st, &cr, SL_SLICE_LIT("CONNECT"),
					    SL_SLICE_LIT("example.com:443"), want, sizeof want),
		     0);
	cr_assert_str_eq(got, want);
	cr_assert(strstr(got, "uri=\"example.com:443\""), "%s", got);
	sl_auth_digest_clear(&st);

	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	cr_assert(strstr(f.trace, "407 Digest realm=\"proxy@corp\", retrying with credentials"),
		  "%s", f.trace);
	teardown(&f);
}

Test(http_connect, digest_learned_by_the_cache_with_its_state)
{
	struct fx f;
	struct fake_auth a;
	char req[2048];

	fake_init(&a, NULL);
	setup(&f, false);
	start(&f, "example.com", 443, &creds, &a.pa, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: " DIGEST_CHALLENGE "\r\nContent-Length: 0\r\n\r\n");
	read_request(&f, req, sizeof req);
	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	cr_assert_eq(a.learned_calls, 1);
	cr_assert_eq(a.learned_scheme, SL_AUTH_DIGEST);
	cr_assert(a.learned_digest_state);
	cr_assert_eq(a.learned_nc, 1, "one request went out under the nonce");
	teardown(&f);
}

Test(http_connect, digest_stale_nonce_is_retried)
{
	struct fx f;
	char req[2048], v[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Digest realm=\"r\", qop=\"auth\", nonce=\"n1\"\r\n"
		  "Content-Length: 0\r\n\r\n");
	read_request(&f, req, sizeof req);
	cr_assert(header_value(req, "Proxy-Authorization", v, sizeof v));
	cr_assert(strstr(v, "nonce=\"n1\""), "%s", v);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Digest realm=\"r\", qop=\"auth\", nonce=\"n2\", stale=true\r\n"
		  "Content-Length: 0\r\n\r\n");
	read_request(&f, req, sizeof req);
	cr_assert(header_value(req, "Proxy-Authorization", v, sizeof v));
	cr_assert(strstr(v, "nonce=\"n2\""), "the new nonce is used: %s", v);
	cr_assert(strstr(v, "nc=00000001"), "the count restarts: %s", v);
	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	cr_assert(strstr(f.trace, "(stale nonce)"), "%s", f.trace);
	teardown(&f);
}

Test(http_connect, body_of_407_with_content_length_is_drained)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Basic realm=\"r\"\r\n"
		  "Content-Type: text/html\r\nContent-Length: 27\r\n\r\n"
		  "<html>denied, log in</html>");
	read_request(&f, req, sizeof req);
	cr_assert(strncmp(req, "CONNECT example.com:443 HTTP/1.1\r\n", 34) == 0,
		  "the body was not taken for a request: %s", req);
	reply(&f, "HTTP/1.1 200 OK\r\n\r\nT");
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	expect_tunnel_with(&f, "T");
	teardown(&f);
}

Test(http_connect, chunked_body_of_407_is_drained)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Basic realm=\"r\"\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n"
		  "6\r\ndenied\r\n1a;ext=1\r\n, please send credentials\r\n0\r\nX-T: 1\r\n\r\n");
	read_request(&f, req, sizeof req);
	cr_assert(strstr(req, "Proxy-Authorization: Basic "), "%s", req);
	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	teardown(&f);
}

Test(http_connect, chunked_body_of_407_in_pieces_over_another_layer)
{
	struct fx f;
	char req[1024];

	setup(&f, true);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply_drip(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		       "Proxy-Authenticate: Basic realm=\"r\"\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n"
		       "4\r\nno, \r\n3\r\nsir\r\n0\r\nX-Trailer: yes\r\n\r\n");
	read_request(&f, req, sizeof req);
	cr_assert(strstr(req, "Proxy-Authorization: Basic "), "%s", req);
	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	teardown(&f);
}

Test(http_connect, closing_407_asks_for_a_new_connection)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Basic realm=\"closing\"\r\n"
		  "Connection: close\r\nContent-Length: 0\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_AUTH_RECONNECT);
	cr_assert_eq(f.s->err, SL_E_PROXY_AUTH_RECONNECT);
	cr_assert(f.s->err_proxy);
	const sl_auth_challenge *ch = sl_connect_layer_challenge(f.s->top);
	cr_assert_not_null(ch);
	cr_assert_eq(ch->scheme, SL_AUTH_BASIC);
	cr_assert_str_eq(ch->realm, "closing");
	cr_assert_str_eq(sl_connect_layer_status(f.s->top), "407 Proxy Authentication Required");
	teardown(&f);
}

Test(http_connect, http10_407_without_keep_alive_asks_for_a_new_connection)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.0 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Basic realm=\"old\"\r\nContent-Length: 0\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_AUTH_RECONNECT);
	teardown(&f);
}

Test(http_connect, 407_with_a_body_too_long_to_drain_asks_for_a_new_connection)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Basic realm=\"big\"\r\nContent-Length: 10000000\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_AUTH_RECONNECT);
	cr_assert_not_null(sl_connect_layer_challenge(f.s->top));
	teardown(&f);
}

Test(http_connect, preset_challenge_sends_credentials_on_the_first_request)
{
	struct fx f;
	struct fake_auth a;
	char req[2048], v[1024];
	sl_auth_challenge ch;

	/* First connection: a Digest 407 and a close. */
	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: " DIGEST_CHALLENGE "\r\n"
		  "Connection: close\r\nContent-Length: 0\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_AUTH_RECONNECT);
	ch = *sl_connect_layer_challenge(f.s->top);
	teardown(&f);

	/* Second connection, as the chain does it. */
	fake_init(&a, NULL);
	setup(&f, false);
	sl_layer *l = sl_connect_layer_new("example.com", 443, &creds, &a.pa, 0, true);
	cr_assert_eq(sl_connect_layer_preset(l, &ch), 0);
	cr_assert_eq(sl_stream_push(f.s, l, on_done, &f), 0);
	read_request(&f, req, sizeof req);
	cr_assert(header_value(req, "Proxy-Authorization", v, sizeof v), "%s", req);
	cr_assert(strncmp(v, "Digest username=\"user\", realm=\"proxy@corp\"", 42) == 0, "%s", v);
	cr_assert_eq(a.preempt_calls, 0, "the preset wins over the cache");
	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	cr_assert_eq(a.learned_calls, 1);
	teardown(&f);
}

Test(http_connect, preset_refuses_what_it_cannot_answer)
{
	sl_auth_challenge ch;
	memset(&ch, 0, sizeof ch);
	ch.scheme = SL_AUTH_OTHER;
	sl_layer *l = sl_connect_layer_new("example.com", 443, &creds, NULL, 0, true);
	cr_assert_eq(sl_connect_layer_preset(l, &ch), SL_E_INVAL);
	ch.scheme = SL_AUTH_BASIC;
	cr_assert_eq(sl_connect_layer_preset(l, &ch), 0);
	l->ops->destroy(l);
	l = sl_connect_layer_new("example.com", 443, &no_creds, NULL, 0, true);
	cr_assert_eq(sl_connect_layer_preset(l, &ch), SL_E_INVAL, "no credentials to send");
	l->ops->destroy(l);
}

Test(http_connect, second_407_after_our_credentials_is_an_auth_error)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, BASIC_407);
	read_request(&f, req, sizeof req);
	reply(&f, BASIC_407);
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_AUTH);
	cr_assert_eq(f.s->err_hop, 0);
	cr_assert(f.s->err_proxy);
	teardown(&f);
}

Test(http_connect, digest_407_not_stale_after_our_answer_is_an_auth_error)
{
	struct fx f;
	char req[2048];
	const char *r407 = "HTTP/1.1 407 Proxy Authentication Required\r\n"
			   "Proxy-Authenticate: Digest realm=\"r\", qop=\"auth\", nonce=\"n1\"\r\n"
			   "Content-Length: 0\r\n\r\n";

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, r407);
	read_request(&f, req, sizeof req);
	reply(&f, r407);
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_AUTH);
	teardown(&f);
}

Test(http_connect, no_credentials_is_auth_required)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, BASIC_407);
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_AUTH_REQUIRED);
	cr_assert_eq(sl_connect_layer_status_code(f.s->top), 407);
	teardown(&f);
}

Test(http_connect, only_unknown_schemes_is_auth_required)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: NTLM\r\nProxy-Authenticate: Negotiate\r\n"
		  "Content-Length: 0\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_AUTH_REQUIRED);
	teardown(&f);
}

Test(http_connect, 407_without_a_challenge_is_a_protocol_error)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_PROTOCOL);
	teardown(&f);
}

/* ---- the credential cache ---- */

Test(http_connect, preemptive_header_from_the_cache)
{
	struct fx f;
	struct fake_auth a;
	char req[1024], v[256];

	fake_init(&a, "Basic Y2FjaGVkOmNyZWRz");
	setup(&f, false);
	start(&f, "example.com", 443, &creds, &a.pa, 0, true);
	read_request(&f, req, sizeof req);
	cr_assert(header_value(req, "Proxy-Authorization", v, sizeof v), "%s", req);
	cr_assert_str_eq(v, "Basic Y2FjaGVkOmNyZWRz");
	cr_assert(strstr(f.trace, "CONNECT example.com:443 via corp (Proxy-Authorization: Basic)"),
		  "%s", f.trace);
	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	cr_assert_eq(a.learned_calls, 0, "nothing new to learn");
	teardown(&f);
}

Test(http_connect, rejected_preemptive_header_is_replaced_by_an_answer)
{
	struct fx f;
	struct fake_auth a;
	char req[1024], v[256];

	fake_init(&a, "Basic b2xkOm9sZA==");
	setup(&f, false);
	start(&f, "example.com", 443, &creds, &a.pa, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, BASIC_407);
	read_request(&f, req, sizeof req);
	cr_assert(header_value(req, "Proxy-Authorization", v, sizeof v));
	cr_assert_str_eq(v, "Basic dXNlcjpwYXNz", "the hop's own credentials");
	reply(&f, OK_200);
	run(&f);
	cr_assert_eq(f.done_rc, 0);
	cr_assert_eq(a.learned_calls, 1);
	teardown(&f);
}

/* ---- other statuses ---- */

static void status_case(const char *answer, bool last, int want_err, bool want_proxy,
			int want_hop)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 1, last);
	read_request(&f, req, sizeof req);
	reply(&f, answer);
	run(&f);
	cr_assert_eq(f.done_rc, want_err, "%s: got %s", answer, sl_errname(f.done_rc));
	cr_assert_eq(f.s->err, want_err);
	cr_assert_eq(f.s->err_proxy, want_proxy, "%s", answer);
	cr_assert_eq(f.s->err_hop, want_hop, "%s", answer);
	if (!want_proxy)
		cr_assert(strstr(f.trace, "the proxy reports"), "%s", f.trace);
	teardown(&f);
}

Test(http_connect, last_hop_403_is_target_denied)
{
	status_case("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", true,
		    SL_E_TARGET_DENIED, false, 2);
}

Test(http_connect, last_hop_502_is_target_unreachable)
{
	status_case("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", true,
		    SL_E_TARGET_UNREACHABLE, false, 2);
}

Test(http_connect, last_hop_503_is_target_refused)
{
	status_case("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", true,
		    SL_E_TARGET_REFUSED, false, 2);
}

Test(http_connect, last_hop_504_is_target_timeout)
{
	status_case("HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n", true,
		    SL_E_TARGET_TIMEOUT, false, 2);
}

Test(http_connect, middle_hop_statuses_are_proxy_status)
{
	status_case("HTTP/1.1 403 Forbidden\r\n\r\n", false, SL_E_PROXY_STATUS, true, 1);
	status_case("HTTP/1.1 502 Bad Gateway\r\n\r\n", false, SL_E_PROXY_STATUS, true, 1);
	status_case("HTTP/1.1 503 Service Unavailable\r\n\r\n", false, SL_E_PROXY_STATUS, true, 1);
	status_case("HTTP/1.1 504 Gateway Timeout\r\n\r\n", false, SL_E_PROXY_STATUS, true, 1);
}

Test(http_connect, other_status_keeps_its_status_line)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_STATUS);
	cr_assert_str_eq(sl_connect_layer_status(f.s->top), "405 Method Not Allowed");
	cr_assert_eq(sl_connect_layer_status_code(f.s->top), 405);
	cr_assert(strstr(f.trace, "connect hop 0: 405 Method Not Allowed"), "%s", f.trace);
	teardown(&f);
}

/* ---- malformed answers and closes ---- */

static void protocol_case(const char *answer, bool passthrough)
{
	struct fx f;
	char req[1024];

	setup(&f, passthrough);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, answer);
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_PROTOCOL, "%s: got %s", answer,
		     sl_errname(f.done_rc));
	cr_assert(f.s->err_proxy);
	teardown(&f);
}

Test(http_connect, bad_status_line_is_a_protocol_error)
{
	protocol_case("HTTP/1.1 2000 OK\r\n\r\n", false);
	protocol_case("HTPP/1.1 200 OK\r\n\r\n", false);
	protocol_case("SSH-2.0-OpenSSH_9.2\r\n\r\n", true);
	protocol_case("HTTP/1.1 200 OK\r\nBad Field: x\r\n\r\n", false);
}

Test(http_connect, http2_version_is_a_protocol_error)
{
	protocol_case("HTTP/2.0 200 OK\r\n\r\n", false);
	protocol_case("HTTP/2 200\r\n\r\n", true);
}

Test(http_connect, switching_protocols_is_a_protocol_error)
{
	protocol_case("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false);
}

Test(http_connect, oversized_head_is_a_protocol_error)
{
	struct fx f;
	char req[1024];
	static char big[12000];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	strcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ");
	memset(big + strlen(big), 'a', 10000);
	reply(&f, big);
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_PROTOCOL);
	teardown(&f);
}

Test(http_connect, peer_close_mid_head_is_proxy_closed)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 200 Connection est");
	shutdown(f.peer, SHUT_WR);
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_CLOSED);
	cr_assert(f.s->err_proxy);
	teardown(&f);
}

Test(http_connect, peer_close_mid_head_over_another_layer_is_proxy_closed)
{
	struct fx f;
	char req[1024];

	setup(&f, true);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 200 OK\r\nVia: x\r\n");
	close(f.peer);
	f.peer = -1;
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_CLOSED);
	teardown(&f);
}

Test(http_connect, peer_close_in_the_407_body_is_proxy_closed)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	start(&f, "example.com", 443, &creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	reply(&f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Basic realm=\"r\"\r\nContent-Length: 100\r\n\r\nshort");
	shutdown(f.peer, SHUT_WR);
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_CLOSED);
	teardown(&f);
}

Test(http_connect, silent_proxy_times_out)
{
	struct fx f;
	char req[1024];

	setup(&f, false);
	sl_stream_set_timeout(f.s, 30);
	start(&f, "example.com", 443, &no_creds, NULL, 0, true);
	read_request(&f, req, sizeof req);
	run(&f);
	cr_assert_eq(f.done_rc, SL_E_PROXY_TIMEOUT);
	teardown(&f);
}
