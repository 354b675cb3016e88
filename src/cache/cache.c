/*
 * The cache layer shared by the proxy and the client stack (see cache.h):
 * keys, Vary markers and variants, the store plan of a response, 304
 * updates, PURGE and invalidation. Everything here works through store.h
 * and policy.h and keeps no state of its own; the markers are ordinary
 * store entries, so they survive restarts and are evicted like the rest.
 */
#include "cache/cache.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define GEN_LEN 16          /* hex digits of a marker's generation */
#define VARY_NAMES_MAX 512  /* bytes of a marker's normalised Vary list */
#define MARKER_FIELDS (2 + SL_CACHE_VARIANTS_MAX)
#define ESC_MAX 1024        /* bytes of one escaped secondary key */

int sl_cache_key_primary(const sl_url *u, char *out, size_t cap)
{
	return sl_url_cache_key(u, out, cap);
}

int sl_cache_key_of_url(const char *url, size_t n, char *out, size_t cap)
{
	sl_url u;
	int rc = sl_url_parse(url, n, &u);

	return rc < 0 ? rc : sl_url_cache_key(&u, out, cap);
}

bool sl_cache_obj_is_marker(const sl_cache_obj *o)
{
	return (o->meta.flags & SL_CACHE_F_MARKER) != 0;
}

/* ---- markers ---- */

static sl_slice field_value(const sl_field *f, size_t n, const char *name)
{
	const sl_field *x = sl_headers_get(f, n, name);

	return x ? x->value : SL_SLICE_NULL;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int name_cmp(sl_slice a, sl_slice b)
{
	size_t n = a.n < b.n ? a.n : b.n;

	for (size_t i = 0; i < n; i++) {
		int d = lower((unsigned char)a.p[i]) - lower((unsigned char)b.p[i]);
		if (d)
			return d;
	}
	return a.n < b.n ? -1 : a.n > b.n;
}

/*
 * Writes the field names the Vary fields of f list, lower-cased, sorted and
 * without repeats, joined by ", ", into out. Returns the length (0: no Vary
 * name), or SL_E_LIMIT.
 */
static int vary_names(const sl_field *f, size_t n, char *out, size_t cap)
{
	sl_slice names[32];
	size_t k = 0, len = 0;
	sl_headers_list it;
	sl_slice e;

	sl_headers_list_fields(&it, f, n, "Vary");
	while (sl_headers_list_next(&it, &e)) {
		size_t i = 0;

		while (i < k && name_cmp(names[i], e) < 0)
			i++;
		if (i < k && name_cmp(names[i], e) == 0)
			continue;
		if (k == sizeof names / sizeof names[0])
			return SL_E_LIMIT;
		memmove(&names[i + 1], &names[i], (k - i) * sizeof names[0]);
		names[i] = e;
		k++;
	}
	for (size_t i = 0; i < k; i++) {
		if (len + names[i].n + 2 >= cap)
			return SL_E_LIMIT;
		if (i) {
			memcpy(out + len, ", ", 2);
			len += 2;
		}
		for (size_t j = 0; j < names[i].n; j++)
			out[len++] = (char)lower((unsigned char)names[i].p[j]);
	}
	out[len] = '\0';
	return (int)len;
}

/* Escapes a secondary key into a field value: bytes outside 0x21..0x7e and
 * '%' and ',' as %XX. Returns the length or SL_E_LIMIT. */
static int esc(const char *s, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (k + 4 > cap)
			return SL_E_LIMIT;
		if (c < 0x21 || c > 0x7e || c == '%' || c == ',') {
			out[k++] = '%';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		} else {
			out[k++] = (char)c;
		}
	}
	return (int)k;
}

/* The reverse of esc(). Returns the length or SL_E_INVAL. */
static int unesc(sl_slice v, char *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < v.n; i++) {
		if (k + 1 > cap)
			return SL_E_LIMIT;
		if (v.p[i] == '%') {
			int h, l;
			if (i + 2 >= v.n)
				return SL_E_INVAL;
			h = sl_hex_digit(v.p[i + 1]);
			l = sl_hex_digit(v.p[i + 2]);
			if (h < 0 || l < 0)
				return SL_E_INVAL;
			out[k++] = (char)(h << 4 | l);
			i += 2;
		} else {
			out[k++] = v.p[i];
		}
	}
	return (int)k;
}

/* Writes "\n" gen "\n" secondary after the primary key. Returns the new
 * key length or SL_E_LIMIT. */
static int variant_key(char *key, size_t plen, size_t cap, sl_slice gen, const char *sec,
		       size_t slen)
{
	size_t need = plen + 1 + gen.n + 1 + slen + 1;

	if (need > cap)
		return SL_E_LIMIT;
	key[plen] = '\n';
	memcpy(key + plen + 1, gen.p, gen.n);
	key[plen + 1 + gen.n] = '\n';
	memmove(key + plen + 2 + gen.n, sec, slen);
	key[need - 1] = '\0';
	return (int)(need - 1);
}

/* Appends the request's secondary key for marker m after the primary key. */
static int marker_variant_key(const sl_cache_obj *m, const sl_cache_req *r, char *key,
			      size_t plen, size_t cap)
{
	sl_slice gen = field_value(m->fields, m->nfields, SL_CACHE_MARKER_GEN);
	size_t off = plen + 2 + gen.n;
	int n;

	if (gen.n == 0 || off >= cap)
		return SL_E_LIMIT;
	/* The secondary key goes straight to its place in the key. */
	n = sl_cache_vary_key(m->fields, m->nfields, r->fields, r->nfields, key + off,
			      cap - off - 1);
	if (n < 0)
		return n;
	return variant_key(key, plen, cap, gen, key + off, (size_t)n);
}

int sl_cache_find(sl_cache *c, const sl_cache_req *r, char *key, size_t plen, size_t cap,
		  size_t *klen, sl_cache_obj **out)
{
	sl_cache_obj *o = NULL;
	int rc;

	*klen = plen;
	*out = NULL;
	rc = sl_cache_lookup(c, sl_slice_make(key, plen), &o);
	if (rc < 0)
		return SL_E_CACHE_MISS;
	if (!sl_cache_obj_is_marker(o)) {
		*out = o;
		return 0;
	}
	rc = marker_variant_key(o, r, key, plen, cap);
	sl_cache_obj_release(o);
	if (rc < 0) {
		key[plen] = '\0';
		return SL_E_LIMIT;
	}
	*klen = (size_t)rc;
	rc = sl_cache_lookup(c, sl_slice_make(key, *klen), &o);
	if (rc < 0)
		return SL_E_CACHE_MISS;
	*out = o;
	return 0;
}

/* Writes a marker under the primary key: Vary names, generation, variants. */
static int marker_write(sl_cache *c, sl_slice primary, const sl_field *mf, size_t n)
{
	sl_cache_writer *w;
	sl_cache_meta m;
	int rc;

	memset(&m, 0, sizeof m);
	m.status = 200;
	m.flags = SL_CACHE_F_MARKER | SL_CACHE_F_VARY;
	m.freshness_lifetime = INT32_MAX;
	m.stale_while_revalidate = -1;
	m.stale_if_error = -1;
	m.body_len = 0;
	rc = sl_cache_writer_open(c, primary, &m, mf, n, &w);
	if (rc < 0)
		return rc;
	return sl_cache_writer_commit(w, NULL);
}

/*
 * Makes sure a marker for the Vary names in names[0..nn) sits under the
 * primary key and lists the variant sec[0..slen); writes the generation
 * into gen (GEN_LEN + 1 bytes). Returns 0 or a store error.
 */
static int marker_ensure(sl_cache *c, sl_slice primary, const char *names, size_t nn,
			 const char *sec, size_t slen, char *gen)
{
	sl_field mf[MARKER_FIELDS];
	char e[ESC_MAX];
	sl_cache_obj *o = NULL;
	size_t k = 0;
	int en = esc(sec, slen, e, sizeof e), rc;

	if (sl_cache_lookup(c, primary, &o) == 0 && sl_cache_obj_is_marker(o) &&
	    sl_slice_eq(field_value(o->fields, o->nfields, SL_CACHE_MARKER_VARY),
			sl_slice_make(names, nn))) {
		sl_slice g = field_value(o->fields, o->nfields, SL_CACHE_MARKER_GEN);
		bool listed = false;

		if (g.n != GEN_LEN) {
			sl_cache_obj_release(o);
			o = NULL;
			goto fresh;
		}
		memcpy(gen, g.p, GEN_LEN);
		gen[GEN_LEN] = '\0';
		for (size_t i = 0; i < o->nfields && k < MARKER_FIELDS - 1; i++) {
			if (en > 0 && sl_slice_case_eq_cstr(o->fields[i].name, SL_CACHE_MARKER_VARIANT) &&
			    sl_slice_eq(o->fields[i].value, sl_slice_make(e, (size_t)en)))
				listed = true;
			mf[k++] = o->fields[i];
		}
		rc = 0;
		if (!listed && en > 0 && k < MARKER_FIELDS) {
			mf[k].name = sl_slice_cstr(SL_CACHE_MARKER_VARIANT);
			mf[k++].value = sl_slice_make(e, (size_t)en);
			/* A lost race only leaves a variant unlisted: eviction
			 * reclaims it, and no lookup reaches it after a PURGE. */
			rc = sl_cache_update(c, o, &o->meta, mf, k, NULL);
			if (rc == SL_E_CACHE_MISS)
				rc = 0;
		}
		sl_cache_obj_release(o);
		return rc;
	}
	if (o)
		sl_cache_obj_release(o);
fresh:;
	unsigned char rnd[GEN_LEN / 2];
	static const char hex[] = "0123456789abcdef";

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return SL_E_NOMEM;
	for (size_t i = 0; i < sizeof rnd; i++) {
		gen[2 * i] = hex[rnd[i] >> 4];
		gen[2 * i + 1] = hex[rnd[i] & 15];
	}
	gen[GEN_LEN] = '\0';
	mf[k].name = sl_slice_cstr(SL_CACHE_MARKER_VARY);
	mf[k++].value = sl_slice_make(names, nn);
	mf[k].name = sl_slice_cstr(SL_CACHE_MARKER_GEN);
	mf[k++].value = sl_slice_make(gen, GEN_LEN);
	if (en > 0) {
		mf[k].name = sl_slice_cstr(SL_CACHE_MARKER_VARIANT);
		mf[k++].value = sl_slice_make(e, (size_t)en);
	}
	return marker_write(c, primary, mf, k);
}

/* ---- storing ---- */

int sl_cache_plan_store(sl_cache *c, const sl_cache_policy_conf *pc, const sl_cache_req *r,
			int status, const sl_field *f, size_t n, int64_t t_req, int64_t t_resp,
			uint64_t body_len, char *key, size_t plen, size_t cap, sl_field *sf,
			size_t sfcap, sl_cache_plan *p)
{
	char names[VARY_NAMES_MAX], gen[GEN_LEN + 1];
	int rc, nn, sn;

	memset(p, 0, sizeof *p);
	p->key_len = plen;
	p->verdict = sl_cache_storable(pc, r, status, f, n);
	if (p->verdict != SL_CACHE_STORE)
		return SL_E_CACHE_NOT_STORABLE;
	sl_cache_meta_compute(pc, r, status, f, n, t_req, t_resp, &p->meta);
	p->meta.body_len = body_len;
	p->meta.flags &= ~(uint32_t)SL_CACHE_F_MARKER;
	rc = sl_cache_store_fields(pc, f, n, sf, sfcap);
	if (rc < 0)
		return rc;
	p->nfields = (size_t)rc;
	nn = vary_names(f, n, names, sizeof names);
	if (nn < 0)
		return nn;
	if (nn == 0)
		return 0;
	/* A variant: its secondary key, then the marker that leads to it. */
	if (plen + 2 + GEN_LEN >= cap)
		return SL_E_LIMIT;
	sn = sl_cache_vary_key(f, n, r->fields, r->nfields, key + plen + 2 + GEN_LEN,
			       cap - plen - 3 - GEN_LEN);
	if (sn < 0)
		return sn;
	rc = marker_ensure(c, sl_slice_make(key, plen), names, (size_t)nn,
			   key + plen + 2 + GEN_LEN, (size_t)sn, gen);
	if (rc < 0)
		return rc;
	rc = variant_key(key, plen, cap, sl_slice_make(gen, GEN_LEN), key + plen + 2 + GEN_LEN,
			 (size_t)sn);
	if (rc < 0)
		return rc;
	p->key_len = (size_t)rc;
	p->vary = true;
	return 0;
}

int sl_cache_revalidated(sl_cache *c, const sl_cache_policy_conf *pc, const sl_cache_req *r,
			 sl_cache_obj *o, const sl_field *f304, size_t n304, int64_t t_req,
			 int64_t t_resp, sl_field *scratch, size_t scap, sl_cache_obj **out)
{
	sl_field *merged = scratch, *kept = scratch + scap / 2;
	sl_cache_meta m;
	int n, k = -1, rc;

	if (!sl_cache_304_selects(o->fields, o->nfields, f304, n304))
		return SL_E_CACHE_NOT_STORABLE;
	/* The merge, then what may be stored of it (private="..." of a new
	 * Cache-Control), in the two halves of the scratch array. */
	n = sl_cache_update_fields(o->fields, o->nfields, f304, n304, merged, scap / 2);
	if (n >= 0)
		k = sl_cache_store_fields(pc, merged, (size_t)n, kept, scap - scap / 2);
	if (k < 0 ||
	    sl_cache_storable(pc, r, o->meta.status, kept, (size_t)k) != SL_CACHE_STORE) {
		/* The updated response is one to serve once, not to keep. */
		(void)sl_cache_remove(c, sl_slice_make(o->key, o->key_len));
		*out = sl_cache_obj_ref(o);
		return 0;
	}
	sl_cache_meta_refresh(pc, &o->meta, kept, (size_t)k, f304, n304, t_req, t_resp, &m);
	rc = sl_cache_update(c, o, &m, kept, (size_t)k, out);
	if (rc < 0)
		*out = sl_cache_obj_ref(o);
	return 0;
}

bool sl_cache_field_served(const sl_cache_obj *o, const sl_field *f)
{
	return !(o->meta.flags & SL_CACHE_F_NO_CACHE_FIELDS) ||
	       !sl_cache_field_no_cache(o->fields, o->nfields, f->name);
}

/* ---- removing ---- */

int sl_cache_purge(sl_cache *c, sl_slice primary)
{
	sl_cache_obj *o = NULL;
	char *key;
	int rc;

	if (primary.n + 2 + GEN_LEN >= SL_CACHE_KEY_MAX)
		return sl_cache_remove(c, primary);
	if (sl_cache_lookup(c, primary, &o) == 0 && sl_cache_obj_is_marker(o) &&
	    (key = malloc(SL_CACHE_KEY_MAX))) {
		sl_slice gen = field_value(o->fields, o->nfields, SL_CACHE_MARKER_GEN);
		size_t off = primary.n + 2 + gen.n;

		memcpy(key, primary.p, primary.n);
		for (size_t i = 0; i < o->nfields && off < SL_CACHE_KEY_MAX; i++) {
			int sn, kn;

			if (!sl_slice_case_eq_cstr(o->fields[i].name, SL_CACHE_MARKER_VARIANT))
				continue;
			sn = unesc(o->fields[i].value, key + off, SL_CACHE_KEY_MAX - off - 1);
			if (sn < 0)
				continue;
			kn = variant_key(key, primary.n, SL_CACHE_KEY_MAX, gen, key + off,
					 (size_t)sn);
			if (kn > 0)
				(void)sl_cache_remove(c, sl_slice_make(key, (size_t)kn));
		}
		free(key);
	}
	if (o)
		sl_cache_obj_release(o);
	rc = sl_cache_remove(c, primary);
	return rc == 0 ? 0 : SL_E_CACHE_MISS;
}

size_t sl_cache_invalidate(sl_cache *c, enum sl_http_method m, int status, const char *target,
			   const sl_field *resp, size_t n)
{
	char keys[3][2048];
	size_t k = sl_cache_invalidations(m, status, target, resp, n, keys, 3), removed = 0;

	for (size_t i = 0; i < k; i++)
		if (sl_cache_purge(c, sl_slice_cstr(keys[i])) == 0)
			removed++;
	return removed;
}

/* ---- field copies ---- */

int sl_cache_fields_set(sl_cache_fields *b, const sl_field *f, size_t n, size_t extra)
{
	size_t need = 0, at = 0;

	for (size_t i = 0; i < n; i++)
		need += f[i].name.n + f[i].value.n;
	if (need > b->cap) {
		char *p = realloc(b->mem, need);
		if (!p)
			return SL_E_NOMEM;
		b->mem = p;
		b->cap = need;
	}
	if (n + extra > b->vcap) {
		sl_field *v = realloc(b->v, (n + extra) * sizeof *v);
		if (!v)
			return SL_E_NOMEM;
		b->v = v;
		b->vcap = n + extra;
	}
	for (size_t i = 0; i < n; i++) {
		if (f[i].name.n)
			memcpy(b->mem + at, f[i].name.p, f[i].name.n);
		b->v[i].name = sl_slice_make(b->mem + at, f[i].name.n);
		at += f[i].name.n;
		if (f[i].value.n)
			memcpy(b->mem + at, f[i].value.p, f[i].value.n);
		b->v[i].value = sl_slice_make(b->mem + at, f[i].value.n);
		at += f[i].value.n;
	}
	b->n = n;
	return 0;
}

void sl_cache_fields_free(sl_cache_fields *b)
{
	free(b->mem);
	free(b->v);
	memset(b, 0, sizeof *b);
}
