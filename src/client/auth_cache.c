/*
 * The credential cache (see auth_cache.h). Entries are one allocation each:
 * the struct, then host, realm, path prefix, user and password as
 * NUL-terminated strings, and the Digest state inline. They sit on one list
 * in use order (most recent first); a lookup walks it comparing host and
 * port and picks the longest matching prefix, which at the sizes a client
 * sees (a handful of protection spaces) beats any index. Every public call
 * takes the one mutex for its whole duration, Digest arithmetic included,
 * because the nonce count of a shared state must advance under the lock.
 * Passwords and Digest states are wiped before their memory is freed.
 */
#include "client/auth_cache.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

#define AUTH_CACHE_MAGIC 0xa07c4c4eu

struct entry {
	struct entry *prev, *next;
	enum sl_auth_scheme scheme;
	uint16_t port;
	char *host, *realm, *prefix, *user, *pass;
	size_t userlen, passlen, prefixlen, size;
	sl_auth_digest_state st;
};

struct sl_auth_cache {
	uint32_t magic;
	pthread_mutex_t mu;
	struct entry *head;
	size_t n, max;
};

static void check(const sl_auth_cache *c)
{
	assert(c && c->magic == AUTH_CACHE_MAGIC);
	(void)c;
}

int sl_auth_path_dir(sl_slice path, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < path.n && path.p[i] != '?' && path.p[i] != '#'; i++)
		if (path.p[i] == '/')
			n = i + 1;
	if (n + 1 > cap)
		return SL_E_INVAL;
	if (n)
		memcpy(out, path.p, n);
	out[n] = '\0';
	return (int)n;
}

sl_auth_cache *sl_auth_cache_new(size_t max_entries)
{
	sl_auth_cache *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return NULL;
	}
	c->magic = AUTH_CACHE_MAGIC;
	c->max = max_entries ? max_entries : 256;
	return c;
}

static void unlink_entry(sl_auth_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	c->n--;
}

static void free_entry(struct entry *e)
{
	OPENSSL_cleanse(e, e->size);
	free(e);
}

void sl_auth_cache_free(sl_auth_cache *c)
{
	if (!c)
		return;
	check(c);
	while (c->head) {
		struct entry *e = c->head;
		unlink_entry(c, e);
		free_entry(e);
	}
	pthread_mutex_destroy(&c->mu);
	c->magic = 0;
	free(c);
}

static void to_front(sl_auth_cache *c, struct entry *e)
{
	if (c->head == e)
		return;
	unlink_entry(c, e);
	c->n++;
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
}

/* The entry for host:port whose prefix is the longest prefix of path. */
static struct entry *covering(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path)
{
	struct entry *best = NULL;

	for (struct entry *e = c->head; e; e = e->next) {
		if (e->port != port || strcasecmp(e->host, host) != 0)
			continue;
		if (e->prefixlen > path.n ||
		    (e->prefixlen && memcmp(e->prefix, path.p, e->prefixlen) != 0))
			continue;
		if (!best || e->prefixlen > best->prefixlen)
			best = e;
	}
	return best;
}

int sl_auth_cache_preempt(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path,
			  sl_slice method, sl_slice uri, char *out, size_t cap)
{
	struct entry *e;
	int rc = 0;

	if (cap)
		out[0] = '\0';
	check(c);
	pthread_mutex_lock(&c->mu);
	e = covering(c, host, port, path);
	if (e) {
		sl_auth_cred cred = {sl_slice_make(e->user, e->userlen),
				     sl_slice_make(e->pass, e->passlen)};

		to_front(c, e);
		if (e->scheme == SL_AUTH_BASIC)
			rc = sl_auth_basic(&cred, out, cap);
		else
			rc = sl_auth_digest_respond(&e->st, &cred, method, uri, out, cap);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static char *put_str(char **at, const char *s, size_t n)
{
	char *p = *at;

	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	*at += n + 1;
	return p;
}

int sl_auth_cache_store(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path,
			const char *realm, enum sl_auth_scheme scheme, const sl_auth_cred *cred,
			const sl_auth_digest_state *st)
{
	char dir[2048];
	int dn = sl_auth_path_dir(path, dir, sizeof dir);
	size_t hn = strlen(host), rn = realm ? strlen(realm) : 0, size;
	struct entry *e, *old;
	char *at;

	if (dn < 0)
		return dn;
	if (scheme != SL_AUTH_BASIC && scheme != SL_AUTH_DIGEST)
		return SL_E_INVAL;
	if (scheme == SL_AUTH_DIGEST && !st)
		return SL_E_INVAL;
	size = sizeof *e + hn + rn + (size_t)dn + cred->user.n + cred->pass.n + 5;
	e = calloc(1, size);
	if (!e)
		return SL_E_NOMEM;
	e->size = size;
	e->scheme = scheme;
	e->port = port;
	at = (char *)(e + 1);
	e->host = put_str(&at, host, hn);
	e->realm = put_str(&at, realm ? realm : "", rn);
	e->prefix = put_str(&at, dir, (size_t)dn);
	e->prefixlen = (size_t)dn;
	e->user = put_str(&at, cred->user.p ? cred->user.p : "", cred->user.n);
	e->userlen = cred->user.n;
	e->pass = put_str(&at, cred->pass.p ? cred->pass.p : "", cred->pass.n);
	e->passlen = cred->pass.n;
	if (st)
		e->st = *st;

	check(c);
	pthread_mutex_lock(&c->mu);
	for (old = c->head; old; old = old->next)
		if (old->port == port && strcasecmp(old->host, host) == 0 &&
		    strcmp(old->realm, e->realm) == 0 && strcmp(old->prefix, dir) == 0)
			break;
	if (old) {
		unlink_entry(c, old);
		free_entry(old);
	}
	while (c->n >= c->max) {
		struct entry *last = c->head;
		while (last->next)
			last = last->next;
		unlink_entry(c, last);
		free_entry(last);
	}
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	c->n++;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int sl_auth_cache_refresh(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path,
			  const sl_field *f, size_t n, const char *name)
{
	struct entry *e;
	int rc = SL_E_INVAL;

	check(c);
	pthread_mutex_lock(&c->mu);
	e = covering(c, host, port, path);
	if (e)
		rc = e->scheme == SL_AUTH_DIGEST ? sl_auth_digest_refresh(&e->st, f, n, name)
						 : SL_E_AUTH_REJECTED;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int sl_auth_cache_info(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path,
		       const sl_field *f, size_t n, const char *name, sl_slice uri)
{
	struct entry *e;
	int rc = 0;

	check(c);
	pthread_mutex_lock(&c->mu);
	e = covering(c, host, port, path);
	if (e && e->scheme == SL_AUTH_DIGEST && sl_headers_find(f, n, name) < n)
		rc = sl_auth_digest_info(&e->st, f, n, name, uri);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

bool sl_auth_cache_forget(sl_auth_cache *c, const char *host, uint16_t port, sl_slice path)
{
	struct entry *e;

	check(c);
	pthread_mutex_lock(&c->mu);
	e = covering(c, host, port, path);
	if (e) {
		unlink_entry(c, e);
		free_entry(e);
	}
	pthread_mutex_unlock(&c->mu);
	return e != NULL;
}

size_t sl_auth_cache_count(sl_auth_cache *c)
{
	size_t n;

	check(c);
	pthread_mutex_lock(&c->mu);
	n = c->n;
	pthread_mutex_unlock(&c->mu);
	return n;
}
