/*
 * Unit tests of the proxy credential cache (client/proxy_auth.h): what a
 * hop learned from an accepted 407 is sent preemptively to the same proxy
 * with the same credentials only; Digest answers count the nonce; a shared
 * cache keeps proxy entries apart from server ones.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "client/auth_cache.h"
#include "client/proxy_auth.h"
#include "core/auth.h"
#include "core/err.h"

static sl_hop hop(const char *host, uint16_t port, const char *user, const char *pw)
{
	sl_hop h;

	memset(&h, 0, sizeof h);
	h.type = SL_HOP_HTTP;
	h.host = host;
	h.port = port;
	h.user = user;
	h.password = pw;
	h.label = host;
	return h;
}

static void challenge(const char *value, sl_auth_challenge *ch)
{
	sl_field f = {SL_SLICE_LIT("Proxy-Authenticate"), sl_slice_cstr(value)};

	cr_assert_eq(sl_auth_select(&f, 1, "Proxy-Authenticate", ch), 0);
}

Test(proxy_auth, nothing_known_sends_nothing)
{
	struct sl_proxy_auth *pa = sl_proxy_auth_new(NULL);
	sl_hop h = hop("proxy.example", 3128, "user", "pass");
	char out[512] = "x";

	cr_assert_not_null(pa);
	cr_assert_eq(pa->preempt(pa, &h, "CONNECT", "example.com:443", out, sizeof out), 0);
	cr_assert_str_eq(out, "");
	sl_proxy_auth_free(pa);
}

Test(proxy_auth, basic_learned_is_sent_preemptively)
{
	struct sl_proxy_auth *pa = sl_proxy_auth_new(NULL);
	sl_hop h = hop("proxy.example", 3128, "user", "pass");
	sl_auth_challenge ch;
	char out[512];
	int n;

	challenge("Basic realm=\"squid\"", &ch);
	pa->learned(pa, &h, &ch, NULL);
	cr_assert_eq(sl_proxy_auth_count(pa), 1);
	n = pa->preempt(pa, &h, "CONNECT", "example.com:443", out, sizeof out);
	cr_assert_eq(n, (int)strlen("Basic dXNlcjpwYXNz"));
	cr_assert_str_eq(out, "Basic dXNlcjpwYXNz");
	/* The same proxy named in another case is the same proxy. */
	h.host = "PROXY.example";
	cr_assert_gt(pa->preempt(pa, &h, "CONNECT", "other.example:80", out, sizeof out), 0);
	sl_proxy_auth_free(pa);
}

Test(proxy_auth, other_proxy_or_credentials_get_nothing)
{
	struct sl_proxy_auth *pa = sl_proxy_auth_new(NULL);
	sl_hop h = hop("proxy.example", 3128, "user", "pass");
	sl_hop other_port = hop("proxy.example", 3129, "user", "pass");
	sl_hop other_host = hop("proxy2.example", 3128, "user", "pass");
	sl_hop other_pw = hop("proxy.example", 3128, "user", "wrong");
	sl_hop other_user = hop("proxy.example", 3128, "someone", "pass");
	sl_hop anonymous = hop("proxy.example", 3128, NULL, NULL);
	sl_auth_challenge ch;
	char out[512];

	challenge("Basic realm=\"squid\"", &ch);
	pa->learned(pa, &h, &ch, NULL);
	cr_assert_eq(pa->preempt(pa, &other_port, "CONNECT", "a:1", out, sizeof out), 0);
	cr_assert_eq(pa->preempt(pa, &other_host, "CONNECT", "a:1", out, sizeof out), 0);
	cr_assert_eq(pa->preempt(pa, &other_pw, "CONNECT", "a:1", out, sizeof out), 0);
	cr_assert_eq(pa->preempt(pa, &other_user, "CONNECT", "a:1", out, sizeof out), 0);
	cr_assert_eq(pa->preempt(pa, &anonymous, "CONNECT", "a:1", out, sizeof out), 0);
	/* Nothing is learned for a hop without credentials either. */
	pa->learned(pa, &anonymous, &ch, NULL);
	cr_assert_eq(sl_proxy_auth_count(pa), 1);
	sl_proxy_auth_free(pa);
}

Test(proxy_auth, digest_counts_the_nonce)
{
	struct sl_proxy_auth *pa = sl_proxy_auth_new(NULL);
	sl_hop h = hop("proxy.example", 3128, "user", "pass");
	sl_auth_challenge ch;
	sl_auth_digest_state st;
	sl_auth_cred cred = {SL_SLICE_LIT("user"), SL_SLICE_LIT("pass")};
	char out[1024];

	challenge("Digest realm=\"squid\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5", &ch);
	cr_assert_eq(sl_auth_digest_init(&st, &ch, NULL, NULL), 0);
	/* The request the proxy accepted used nc=00000001. */
	cr_assert_gt(sl_auth_digest_respond(&st, &cred, SL_SLICE_LIT("CONNECT"),
					    SL_SLICE_LIT("example.com:443"), out, sizeof out), 0);
	pa->learned(pa, &h, &ch, &st);
	cr_assert_gt(pa->preempt(pa, &h, "CONNECT", "example.com:443", out, sizeof out), 0);
	cr_assert(strncmp(out, "Digest ", 7) == 0, "%s", out);
	cr_assert(strstr(out, "nc=00000002"), "%s", out);
	cr_assert(strstr(out, "uri=\"example.com:443\""), "%s", out);
	cr_assert(strstr(out, "username=\"user\""), "%s", out);
	cr_assert_gt(pa->preempt(pa, &h, "CONNECT", "example.com:443", out, sizeof out), 0);
	cr_assert(strstr(out, "nc=00000003"), "%s", out);
	/* Digest without its state cannot be remembered. */
	sl_hop h2 = hop("proxy2.example", 3128, "user", "pass");
	pa->learned(pa, &h2, &ch, NULL);
	cr_assert_eq(pa->preempt(pa, &h2, "CONNECT", "example.com:443", out, sizeof out), 0);
	sl_proxy_auth_free(pa);
}

Test(proxy_auth, shared_cache_keeps_server_entries_apart)
{
	sl_auth_cache *c = sl_auth_cache_new(0);
	struct sl_proxy_auth *pa = sl_proxy_auth_new(c);
	sl_hop h = hop("host.example", 80, "user", "pass");
	sl_auth_cred cred = {SL_SLICE_LIT("server"), SL_SLICE_LIT("secret")};
	sl_auth_challenge ch;
	char out[512];

	/* A server entry for the whole site of the same host and port... */
	cr_assert_eq(sl_auth_cache_store(c, "host.example", 80, SL_SLICE_LIT("/"), "site",
					 SL_AUTH_BASIC, &cred, NULL), 0);
	/* ...is never sent to a proxy at that address. */
	cr_assert_eq(pa->preempt(pa, &h, "CONNECT", "a:1", out, sizeof out), 0);
	challenge("Basic realm=\"squid\"", &ch);
	pa->learned(pa, &h, &ch, NULL);
	cr_assert_eq(sl_auth_cache_count(c), 2);
	/* And the proxy's entry does not answer for the site's paths. */
	cr_assert_gt(sl_auth_cache_preempt(c, "host.example", 80, SL_SLICE_LIT("/x"),
					   SL_SLICE_LIT("GET"), SL_SLICE_LIT("/x"), out, sizeof out),
		     0);
	cr_assert_str_eq(out, "Basic c2VydmVyOnNlY3JldA==");
	cr_assert_gt(pa->preempt(pa, &h, "CONNECT", "a:1", out, sizeof out), 0);
	cr_assert_str_eq(out, "Basic dXNlcjpwYXNz");
	sl_proxy_auth_free(pa);
	cr_assert_eq(sl_auth_cache_count(c), 2, "a shared cache stays");
	sl_auth_cache_free(c);
}
