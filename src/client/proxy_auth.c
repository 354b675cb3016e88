/*
 * The proxy credential cache (see proxy_auth.h). The vtable sits first in
 * a small struct that also holds the magic number and the cache, so the
 * callbacks find their state again from the vtable pointer. A hop's
 * protection space is (host, port, realm, "proxy:<hex>/"), where <hex> is
 * the first half of SHA-256(user NUL password): credentials never appear
 * in the key, and two hops to one proxy with different credentials do not
 * share an entry. The callbacks run on the caller's loop, take the cache's
 * lock through auth_cache.h and never block on anything else.
 */
#include "client/proxy_auth.h"

#include <assert.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define PROXY_AUTH_MAGIC 0x50415548u /* "PAUH" */
#define SPACE_CAP 48                 /* "proxy:" + 32 hex + "/" + NUL */
#define PRIVATE_ENTRIES 64

struct pauth {
	struct sl_proxy_auth vt; /* first: the callbacks get &vt */
	uint32_t magic;
	sl_auth_cache *cache;
	bool own;
};

static struct pauth *from_vt(struct sl_proxy_auth *pa)
{
	struct pauth *p = (struct pauth *)pa;

	assert(p && p->magic == PROXY_AUTH_MAGIC);
	return p;
}

/* Writes the path part of hop's protection space into out (SPACE_CAP
 * bytes). Returns its length, or a negative code when there are no
 * credentials to key by or the digest fails. */
static int space_of(const sl_hop *hop, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	const char *pw = hop->password ? hop->password : "";
	int ok;
	size_t n = 0;

	if (!hop->user)
		return SL_E_INVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return SL_E_NOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, hop->user, strlen(hop->user) + 1) &&
	     EVP_DigestUpdate(ctx, pw, strlen(pw)) && EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok || mdlen < 16)
		return SL_E_AUTH_CRYPTO;
	memcpy(out, "proxy:", 6);
	n = 6;
	for (unsigned i = 0; i < 16; i++) {
		out[n++] = hex[md[i] >> 4];
		out[n++] = hex[md[i] & 15];
	}
	out[n++] = '/';
	out[n] = '\0';
	return (int)n;
}

static int preempt(struct sl_proxy_auth *pa, const sl_hop *hop, const char *method,
		   const char *uri, char *out, size_t cap)
{
	struct pauth *p = from_vt(pa);
	char space[SPACE_CAP];
	int n = space_of(hop, space);

	if (cap)
		out[0] = '\0';
	if (n < 0 || !hop->host)
		return 0;
	return sl_auth_cache_preempt(p->cache, hop->host, hop->port,
				     sl_slice_make(space, (size_t)n), sl_slice_cstr(method),
				     sl_slice_cstr(uri), out, cap);
}

static void learned(struct sl_proxy_auth *pa, const sl_hop *hop, const sl_auth_challenge *ch,
		    sl_auth_digest_state *st)
{
	struct pauth *p = from_vt(pa);
	char space[SPACE_CAP];
	int n = space_of(hop, space);
	sl_auth_cred cred;

	if (n < 0 || !hop->host || !ch)
		return;
	if (ch->scheme != SL_AUTH_BASIC && !(ch->scheme == SL_AUTH_DIGEST && st))
		return;
	cred.user = sl_slice_cstr(hop->user);
	cred.pass = sl_slice_cstr(hop->password ? hop->password : "");
	/* A failure to remember only costs a 407 round trip next time. */
	(void)sl_auth_cache_store(p->cache, hop->host, hop->port, sl_slice_make(space, (size_t)n),
				  ch->realm, ch->scheme, &cred,
				  ch->scheme == SL_AUTH_DIGEST ? st : NULL);
}

struct sl_proxy_auth *sl_proxy_auth_new(sl_auth_cache *cache)
{
	struct pauth *p = calloc(1, sizeof *p);

	if (!p)
		return NULL;
	p->magic = PROXY_AUTH_MAGIC;
	p->vt.preempt = preempt;
	p->vt.learned = learned;
	p->cache = cache;
	if (!p->cache) {
		p->cache = sl_auth_cache_new(PRIVATE_ENTRIES);
		p->own = true;
		if (!p->cache) {
			free(p);
			return NULL;
		}
	}
	return &p->vt;
}

void sl_proxy_auth_free(struct sl_proxy_auth *pa)
{
	struct pauth *p;

	if (!pa)
		return;
	p = from_vt(pa);
	if (p->own)
		sl_auth_cache_free(p->cache);
	p->magic = 0;
	free(p);
}

size_t sl_proxy_auth_count(struct sl_proxy_auth *pa)
{
	return sl_auth_cache_count(from_vt(pa)->cache);
}

int sl_proxy_auth_refresh(struct sl_proxy_auth *pa, const sl_hop *hop, const sl_field *f,
			  size_t n)
{
	struct pauth *p = from_vt(pa);
	char space[SPACE_CAP];
	int k = space_of(hop, space);
	sl_slice path;

	if (k < 0 || !hop->host)
		return SL_E_AUTH_REJECTED;
	path = sl_slice_make(space, (size_t)k);
	if (sl_auth_cache_refresh(p->cache, hop->host, hop->port, path, f, n,
				  "Proxy-Authenticate") == 0)
		return 0;
	sl_auth_cache_forget(p->cache, hop->host, hop->port, path);
	return SL_E_AUTH_REJECTED;
}

void sl_proxy_auth_info(struct sl_proxy_auth *pa, const sl_hop *hop, const sl_field *f,
			size_t n, const char *uri)
{
	struct pauth *p = from_vt(pa);
	char space[SPACE_CAP];
	int k = space_of(hop, space);

	if (k < 0 || !hop->host)
		return;
	(void)sl_auth_cache_info(p->cache, hop->host, hop->port, sl_slice_make(space, (size_t)k), f,
				 n, "Proxy-Authentication-Info", sl_slice_cstr(uri));
}
