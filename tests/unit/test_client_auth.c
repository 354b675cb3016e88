/*
 * Unit tests of Expect: 100-continue, authentication (401 with Basic and
 * Digest, the credential cache and preemptive credentials, a refused
 * answer, unreplayable bodies) and the cookie jar through the manager. The
 * test server checks Digest answers with core/auth.h itself: it recomputes
 * the response from the challenge it sent and the client's cnonce and nonce
 * count.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/auth_cache.h"
#include "client/cookie_jar.h"
#include "client/manager.h"
#include "client_util.h"
#include "core/auth.h"
#include "core/err.h"

/* ---- Expect: 100-continue ---- */

static void h_expect(tsrv *s, tconn *c, treq *q)
{
	char ex[64];

	(void)s;
	treq_header(q, "Expect", ex, sizeof ex);
	if (q->early) {
		tconn_sendf(c, "HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n",
			    strcmp(q->target, "/401") == 0 ? "401 Unauthorized" : "417 Nope");
		return;
	}
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", q->body_len + 7,
		    strcmp(ex, "100-continue") == 0 ? "expect:" : "noexpt:");
	tconn_send(c, q->body, q->body_len);
}

static sl_reply *send_expect(env *e, const char *path, rec *rc, const char *body)
{
	sl_request rq;
	sl_reply *r;

	sl_request_init(&rq, "POST", env_url(e, path));
	sl_request_body_mem(&rq, body, strlen(body));
	rq.flags = SL_REQ_EXPECT_CONTINUE;
	cr_assert_eq(sl_manager_send(e->m, &rq, &rec_cbs, rc, &r), 0);
	rc->r = r;
	return r;
}

Test(client_expect, body_follows_100_continue)
{
	env e;
	rec rc = {0};

	env_init(&e, h_expect);
	e.srv->expect_mode = EXPECT_SEND_100;
	/* A continue timer far past the bound below: only the 100 can
	 * release the body in time. */
	e.o.continue_timeout_ms = 60000;
	env_manager(&e);
	send_expect(&e, "/up", &rc, "payload");
	cr_assert(run_until(e.loop, pred_done, &rc, 5), "the 100 released the body");
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.status, 200);
	cr_assert_eq(rc.heads, 1);
	cr_assert_str_eq(rc.body, "expect:payload");
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

static void early_final(const char *path, int status)
{
	env e;
	rec rc = {0};
	sl_reply_stats st;
	sl_manager_stats ms;
	char *big = malloc(100001);

	memset(big, 'b', 100000);
	big[100000] = '\0';
	env_init(&e, h_expect);
	e.srv->expect_mode = EXPECT_ANSWER_EARLY;
	env_manager(&e);
	send_expect(&e, path, &rc, big);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.status, status);
	sl_reply_get_stats(rc.r, &st);
	cr_assert_lt(st.bytes_sent, 1000, "the body was not sent");
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.idle, 0, "a connection with an unsent body is closed");
	sl_reply_unref(rc.r);
	rec_free(&rc);
	free(big);
	env_fini(&e);
}

Test(client_expect, early_417_means_no_body)
{
	early_final("/417", 417);
}

Test(client_expect, early_401_means_no_body)
{
	early_final("/401", 401);
}

Test(client_expect, body_goes_after_the_continue_timeout)
{
	env e;
	rec rc = {0};
	sl_reply_stats st;

	env_init(&e, h_expect);
	e.srv->expect_mode = EXPECT_IGNORE;
	e.o.continue_timeout_ms = 100;
	env_manager(&e);
	send_expect(&e, "/slow", &rc, "late body");
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.err, 0);
	cr_assert_str_eq(rc.body, "expect:late body");
	sl_reply_get_stats(rc.r, &st);
	/* A lower bound only: the timer cannot fire early, but a busy
	 * machine may make it late. */
	cr_assert_geq(st.total, 0.09, "waited for the continue timeout");
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

/* ---- Basic ---- */

/* 401 unless Authorization is Basic for alice:secret ("YWxpY2U6c2VjcmV0"). */
static void h_basic(tsrv *s, tconn *c, treq *q)
{
	char az[256];

	(void)s;
	treq_header(q, "Authorization", az, sizeof az);
	if (strcmp(az, "Basic YWxpY2U6c2VjcmV0") == 0 ||
	    strcmp(az, "Basic dSB4OnBAc3M=") == 0) {
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nwelcome");
		return;
	}
	tconn_sendf(c, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"vault\"\r\n"
		       "Content-Length: 6\r\n\r\ndenied");
}

static sl_reply *send_auth(env *e, const char *path, const char *user, const char *pass,
			   rec *rc)
{
	sl_request rq;
	sl_reply *r;

	sl_request_init(&rq, "GET", env_url(e, path));
	rq.user = user;
	rq.password = pass;
	cr_assert_eq(sl_manager_send(e->m, &rq, &rec_cbs, rc, &r), 0);
	rc->r = r;
	return r;
}

Test(client_auth, basic_challenge_then_preemptive)
{
	env e;
	rec a = {0}, b = {0}, c = {0};
	sl_reply_stats st;

	env_init(&e, h_basic);
	env_manager(&e);
	send_auth(&e, "/dir/a", "alice", "secret", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_eq(a.heads, 1, "the 401 is answered, not shown");
	cr_assert_eq(a.status, 200);
	cr_assert_str_eq(a.body, "welcome");
	sl_reply_get_stats(a.r, &st);
	cr_assert_eq(st.auth_rounds, 1);
	cr_assert_eq(e.srv->requests, 2);
	cr_assert_eq(e.srv->accepted, 1, "the 401's connection carries the answer");

	/* Same directory, no credentials of its own: sent preemptively. */
	send_auth(&e, "/dir/b?x=1", NULL, NULL, &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.status, 200);
	cr_assert_eq(e.srv->requests, 3);

	/* Another directory: nothing is sent, the 401 is the answer. */
	send_auth(&e, "/other/c", NULL, NULL, &c);
	cr_assert(run_until(e.loop, pred_done, &c, 5));
	cr_assert_eq(c.err, 0);
	cr_assert_eq(c.status, 401);
	cr_assert_str_eq(c.body, "denied");
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	sl_reply_unref(c.r);
	rec_free(&a);
	rec_free(&b);
	rec_free(&c);
	env_fini(&e);
}

Test(client_auth, refused_credentials_give_the_second_401)
{
	env e;
	rec a = {0};

	env_init(&e, h_basic);
	env_manager(&e);
	send_auth(&e, "/dir/a", "alice", "wrong", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_eq(a.heads, 1);
	cr_assert_eq(a.status, 401);
	cr_assert_str_eq(a.body, "denied");
	cr_assert_eq(e.srv->requests, 2, "one answer, no loop");
	sl_reply_unref(a.r);
	rec_free(&a);
	env_fini(&e);
}

Test(client_auth, credentials_from_the_url_userinfo)
{
	env e;
	rec a = {0};
	sl_request rq;
	sl_reply *r;
	char url[128];

	env_init(&e, h_basic);
	env_manager(&e);
	snprintf(url, sizeof url, "http://u%%20x:p%%40ss@127.0.0.1:%u/", (unsigned)e.srv->port);
	sl_request_init(&rq, "GET", url);
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &a, &r), 0);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.status, 200, "\"u x\" and \"p@ss\", decoded");
	sl_reply_unref(r);
	rec_free(&a);
	env_fini(&e);
}

Test(client_auth, streamed_body_cannot_answer_a_challenge)
{
	env e;
	rec a = {0};
	sl_request rq;
	sl_reply *r;

	env_init(&e, h_basic);
	env_manager(&e);
	sl_request_init(&rq, "PUT", env_url(&e, "/dir/up"));
	rq.user = "alice";
	rq.password = "secret";
	sl_request_body_push(&rq, 3);
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &a, &r), 0);
	cr_assert_eq(sl_reply_write(r, "abc", 3), 3);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.status, 401);
	cr_assert_eq(e.srv->requests, 1);
	sl_reply_unref(r);
	rec_free(&a);
	env_fini(&e);
}

/* ---- Digest ---- */

static const char digest_challenge[] =
	"Digest realm=\"lab@example.org\", qop=\"auth\", algorithm=SHA-256, "
	"nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

/* Copies the value of parameter name of a Digest credentials string. */
static void param_of(const char *az, const char *name, char *out, size_t cap)
{
	char key[64];
	const char *p;
	size_t n = 0;

	out[0] = '\0';
	snprintf(key, sizeof key, " %s=", name);
	p = strstr(az, key);
	if (!p) {
		snprintf(key, sizeof key, ",%s=", name);
		p = strstr(az, key);
	}
	if (!p)
		return;
	p += strlen(key);
	if (*p == '"') {
		p++;
		while (p[n] && p[n] != '"')
			n++;
	} else {
		while (p[n] && p[n] != ',')
			n++;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* Recomputes the response a client with user:pass should have sent. */
static bool digest_ok(const char *az, const char *method, const char *user, const char *pass)
{
	sl_auth_iter it;
	sl_auth_challenge ch;
	sl_auth_digest_state st;
	sl_auth_cred cred = {sl_slice_cstr(user), sl_slice_cstr(pass)};
	char cnonce[128], nc[16], uri[256], resp[128], mine[2048], mresp[128];
	unsigned long count;

	if (strncmp(az, "Digest ", 7) != 0)
		return false;
	param_of(az, "cnonce", cnonce, sizeof cnonce);
	param_of(az, "nc", nc, sizeof nc);
	param_of(az, "uri", uri, sizeof uri);
	param_of(az, "response", resp, sizeof resp);
	sl_auth_iter_value(&it, sl_slice_cstr(digest_challenge));
	cr_assert_eq(sl_auth_next(&it, &ch), 1);
	cr_assert_eq(sl_auth_digest_init(&st, &ch, NULL, NULL), 0);
	cr_assert_eq(sl_auth_digest_set_cnonce(&st, sl_slice_cstr(cnonce)), 0);
	count = strtoul(nc, NULL, 16);
	cr_assert_geq(count, 1);
	for (unsigned long i = 0; i < count; i++)
		cr_assert_gt(sl_auth_digest_respond(&st, &cred, sl_slice_cstr(method),
						    sl_slice_cstr(uri), mine, sizeof mine), 0);
	param_of(mine, "response", mresp, sizeof mresp);
	sl_auth_digest_clear(&st);
	return resp[0] && strcmp(resp, mresp) == 0;
}

static void h_digest(tsrv *s, tconn *c, treq *q)
{
	char az[2048], nc[16];

	treq_header(q, "Authorization", az, sizeof az);
	if (az[0] && digest_ok(az, q->method, "Mufasa", "Circle of Life")) {
		param_of(az, "nc", nc, sizeof nc);
		s->user_int = (int)strtoul(nc, NULL, 16);
		tconn_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
		return;
	}
	tconn_sendf(c, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: %s\r\n"
		       "Content-Length: 0\r\n\r\n", digest_challenge);
}

Test(client_auth, digest_sha256_challenge_and_nonce_count)
{
	env e;
	rec a = {0}, b = {0};

	env_init(&e, h_digest);
	env_manager(&e);
	send_auth(&e, "/dir/index.html", "Mufasa", "Circle of Life", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.err, 0);
	cr_assert_eq(a.status, 200);
	cr_assert_eq(e.srv->requests, 2);
	cr_assert_eq(e.srv->user_int, 1, "nc=00000001");
	/* Preemptive on the next request, with the next nonce count. */
	send_auth(&e, "/dir/other.html", NULL, NULL, &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_eq(b.status, 200);
	cr_assert_eq(e.srv->requests, 3);
	cr_assert_eq(e.srv->user_int, 2, "nc=00000002");
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	rec_free(&a);
	rec_free(&b);
	env_fini(&e);
}

Test(client_auth, digest_with_a_wrong_password_is_refused_once)
{
	env e;
	rec a = {0};

	env_init(&e, h_digest);
	env_manager(&e);
	send_auth(&e, "/dir/index.html", "Mufasa", "wrong", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.status, 401);
	cr_assert_eq(e.srv->requests, 2);
	sl_reply_unref(a.r);
	rec_free(&a);
	env_fini(&e);
}

/* ---- the credential cache alone ---- */

Test(client_auth_cache, directory_of_a_path)
{
	char out[64];

	cr_assert_eq(sl_auth_path_dir(SL_SLICE_LIT("/a/b/c?x=/y"), out, sizeof out), 5);
	cr_assert_str_eq(out, "/a/b/");
	cr_assert_eq(sl_auth_path_dir(SL_SLICE_LIT("/x"), out, sizeof out), 1);
	cr_assert_str_eq(out, "/");
	cr_assert_eq(sl_auth_path_dir(SL_SLICE_LIT("/d/"), out, sizeof out), 3);
	cr_assert_eq(sl_auth_path_dir(SL_SLICE_LIT(""), out, sizeof out), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(sl_auth_path_dir(SL_SLICE_LIT("/abc/def"), out, 3), SL_E_INVAL);
}

Test(client_auth_cache, basic_by_host_port_and_longest_prefix)
{
	sl_auth_cache *c = sl_auth_cache_new(0);
	sl_auth_cred a = {SL_SLICE_LIT("alice"), SL_SLICE_LIT("secret")};
	sl_auth_cred b = {SL_SLICE_LIT("bob"), SL_SLICE_LIT("pw")};
	char out[256];

	cr_assert_eq(sl_auth_cache_store(c, "Host.example", 80, SL_SLICE_LIT("/a/x"), "r1",
					 SL_AUTH_BASIC, &a, NULL), 0);
	cr_assert_eq(sl_auth_cache_store(c, "host.example", 80, SL_SLICE_LIT("/a/b/y"), "r2",
					 SL_AUTH_BASIC, &b, NULL), 0);
	cr_assert_eq(sl_auth_cache_count(c), 2);
	cr_assert_gt(sl_auth_cache_preempt(c, "HOST.example", 80, SL_SLICE_LIT("/a/z"),
					   SL_SLICE_LIT("GET"), SL_SLICE_LIT("/a/z"), out,
					   sizeof out), 0);
	cr_assert_str_eq(out, "Basic YWxpY2U6c2VjcmV0");
	cr_assert_gt(sl_auth_cache_preempt(c, "host.example", 80, SL_SLICE_LIT("/a/b/c/d"),
					   SL_SLICE_LIT("GET"), SL_SLICE_LIT("/a/b/c/d"), out,
					   sizeof out), 0);
	cr_assert_str_eq(out, "Basic Ym9iOnB3", "the longest prefix wins");
	cr_assert_eq(sl_auth_cache_preempt(c, "host.example", 8080, SL_SLICE_LIT("/a/z"),
					   SL_SLICE_LIT("GET"), SL_SLICE_LIT("/a/z"), out,
					   sizeof out), 0);
	cr_assert_eq(sl_auth_cache_preempt(c, "host.example", 80, SL_SLICE_LIT("/b/"),
					   SL_SLICE_LIT("GET"), SL_SLICE_LIT("/b/"), out, sizeof out),
		     0);
	cr_assert_str_eq(out, "");
	cr_assert(sl_auth_cache_forget(c, "host.example", 80, SL_SLICE_LIT("/a/b/q")));
	cr_assert_eq(sl_auth_cache_count(c), 1);
	cr_assert_eq(sl_auth_cache_store(c, "host.example", 80, SL_SLICE_LIT("/a/x"), "r1",
					 SL_AUTH_BASIC, &b, NULL), 0);
	cr_assert_eq(sl_auth_cache_count(c), 1, "same space: replaced");
	cr_assert_eq(sl_auth_cache_store(c, "h", 1, SL_SLICE_LIT("/"), "r", SL_AUTH_DIGEST, &a,
					 NULL), SL_E_INVAL);
	sl_auth_cache_free(c);
}

Test(client_auth_cache, proxy_use_with_an_empty_path_and_eviction)
{
	sl_auth_cache *c = sl_auth_cache_new(2);
	sl_auth_cred a = {SL_SLICE_LIT("p"), SL_SLICE_LIT("q")};
	char out[256];

	cr_assert_eq(sl_auth_cache_store(c, "proxy1", 3128, SL_SLICE_NULL, "squid", SL_AUTH_BASIC,
					 &a, NULL), 0);
	cr_assert_gt(sl_auth_cache_preempt(c, "proxy1", 3128, SL_SLICE_NULL,
					   SL_SLICE_LIT("CONNECT"), SL_SLICE_LIT("t:443"), out,
					   sizeof out), 0);
	cr_assert_str_eq(out, "Basic cDpx");
	cr_assert_eq(sl_auth_cache_store(c, "proxy2", 3128, SL_SLICE_NULL, "x", SL_AUTH_BASIC, &a,
					 NULL), 0);
	cr_assert_gt(sl_auth_cache_preempt(c, "proxy1", 3128, SL_SLICE_NULL,
					   SL_SLICE_LIT("CONNECT"), SL_SLICE_LIT("t:443"), out,
					   sizeof out), 0);
	cr_assert_eq(sl_auth_cache_store(c, "proxy3", 3128, SL_SLICE_NULL, "x", SL_AUTH_BASIC, &a,
					 NULL), 0);
	cr_assert_eq(sl_auth_cache_count(c), 2);
	cr_assert_eq(sl_auth_cache_preempt(c, "proxy2", 3128, SL_SLICE_NULL,
					   SL_SLICE_LIT("CONNECT"), SL_SLICE_LIT("t:443"), out,
					   sizeof out), 0, "least recently used went first");
	sl_auth_cache_free(c);
}

Test(client_auth_cache, digest_state_counts_and_refreshes)
{
	sl_auth_cache *c = sl_auth_cache_new(0);
	sl_auth_cred cred = {SL_SLICE_LIT("Mufasa"), SL_SLICE_LIT("Circle of Life")};
	sl_auth_iter it;
	sl_auth_challenge ch;
	sl_auth_digest_state st;
	char out[2048];
	char stale[1024];
	sl_field f[1];

	sl_auth_iter_value(&it, sl_slice_cstr(digest_challenge));
	cr_assert_eq(sl_auth_next(&it, &ch), 1);
	cr_assert_eq(sl_auth_digest_init(&st, &ch, NULL, NULL), 0);
	cr_assert_eq(sl_auth_cache_store(c, "h", 80, SL_SLICE_LIT("/d/x"), ch.realm,
					 SL_AUTH_DIGEST, &cred, &st), 0);
	cr_assert_gt(sl_auth_cache_preempt(c, "h", 80, SL_SLICE_LIT("/d/y"), SL_SLICE_LIT("GET"),
					   SL_SLICE_LIT("/d/y"), out, sizeof out), 0);
	cr_assert(strstr(out, "nc=00000001"), "%s", out);
	cr_assert_gt(sl_auth_cache_preempt(c, "h", 80, SL_SLICE_LIT("/d/z"), SL_SLICE_LIT("GET"),
					   SL_SLICE_LIT("/d/z"), out, sizeof out), 0);
	cr_assert(strstr(out, "nc=00000002"), "%s", out);
	snprintf(stale, sizeof stale,
		 "Digest realm=\"lab@example.org\", qop=\"auth\", algorithm=SHA-256, "
		 "nonce=\"fresh-nonce\", stale=true");
	f[0].name = SL_SLICE_LIT("WWW-Authenticate");
	f[0].value = sl_slice_cstr(stale);
	cr_assert_eq(sl_auth_cache_refresh(c, "h", 80, SL_SLICE_LIT("/d/z"), f, 1,
					   "WWW-Authenticate"), 0);
	cr_assert_gt(sl_auth_cache_preempt(c, "h", 80, SL_SLICE_LIT("/d/z"), SL_SLICE_LIT("GET"),
					   SL_SLICE_LIT("/d/z"), out, sizeof out), 0);
	cr_assert(strstr(out, "nonce=\"fresh-nonce\""), "%s", out);
	cr_assert(strstr(out, "nc=00000001"), "%s", out);
	cr_assert_eq(sl_auth_cache_refresh(c, "h", 80, SL_SLICE_LIT("/elsewhere"), f, 1,
					   "WWW-Authenticate"), SL_E_INVAL);
	sl_auth_digest_clear(&st);
	sl_auth_cache_free(c);
}

/* ---- cookies ---- */

static void h_cookie(tsrv *s, tconn *c, treq *q)
{
	char ck[256];

	(void)s;
	treq_header(q, "Cookie", ck, sizeof ck);
	tconn_sendf(c, "HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc%d; Path=/\r\n"
		       "Content-Length: %zu\r\n\r\n%s", q->index, strlen(ck), ck);
}

Test(client_cookie, jar_round_trip)
{
	env e;
	rec a = {0}, b = {0}, c = {0};
	sl_cookie_jar *jar = sl_cookie_jar_new();
	sl_cookie_info ci;
	sl_request rq;
	sl_reply *r;

	env_init(&e, h_cookie);
	e.o.cookie_jar = jar;
	env_manager(&e);
	env_get(&e, "GET", "/login", &a);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.nbody, 0, "no cookie yet");
	cr_assert(sl_cookie_jar_find(jar, "127.0.0.1", "/", "sid", &ci));
	cr_assert_str_eq(ci.value, "abc0");
	env_get(&e, "GET", "/page", &b);
	cr_assert(run_until(e.loop, pred_done, &b, 5));
	cr_assert_str_eq(b.body, "sid=abc0");
	sl_request_init(&rq, "GET", env_url(&e, "/private"));
	rq.flags = SL_REQ_NO_COOKIES;
	cr_assert_eq(sl_manager_send(e.m, &rq, &rec_cbs, &c, &r), 0);
	cr_assert(run_until(e.loop, pred_done, &c, 5));
	cr_assert_eq(c.nbody, 0);
	cr_assert(sl_cookie_jar_find(jar, "127.0.0.1", "/", "sid", &ci));
	cr_assert_str_eq(ci.value, "abc1", "nor stored");
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	sl_reply_unref(r);
	rec_free(&a);
	rec_free(&b);
	rec_free(&c);
	env_fini(&e);
	sl_cookie_jar_free(jar);
}
