/*
 * The on-disk format of a stored object and the key hash, kept apart from
 * the rest of the store so the fuzz target can link it alone. An object
 * file is
 *
 *   0    fixed header, 64 bytes, host byte order:
 *          0 u32 magic "SLC1"     4 u16 version (1)   6 u16 fixed length (64)
 *          8 u32 metadata length (64)                 12 u32 key length
 *         16 u32 fields text length                   20 u32 number of fields
 *         24 u64 body offset                          32 u64 body length
 *         40 u8[8] checksum                           48 u8[16] zero
 *   64   sl_cache_meta as it is in memory (64 bytes; its body_len equals
 *        the header's)
 *   128  the key (no terminator), then the stored fields as
 *        "name: value\r\n" lines
 *   ...  slack (zeros, or leftovers of a longer block), up to the body offset,
 *        a multiple of 512 leaving at least 256 bytes for a 304 to grow into
 *   body_off  the body, body length bytes, up to the end of the file.
 *
 * The checksum is the first 8 bytes of the SHA-256 of the fixed header
 * (with the checksum bytes taken as zeros), the metadata, the key and the
 * fields text; the slack and the body are not covered. The body is checked
 * only by its length: the file's size must be exactly body offset + body
 * length. A header written in place by a 304 that is torn by a crash fails
 * the checksum. A file written on a machine of the other byte order fails
 * the magic. Every check failure is SL_E_CACHE_CORRUPT: the store then
 * removes the file.
 *
 * Hashing uses OpenSSL's SHA256_Init/Update/Final on a stack context: in
 * OpenSSL 3.0 every EVP_DigestInit allocates a provider context, and the
 * key hash sits on the hit path, which must not allocate.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/store_internal.h"
#include "core/err.h"

/* The metadata is stored as it is in memory: a change to sl_cache_meta
 * must bump SL__FILE_VERSION (old files then fail the check and go). */
_Static_assert(sizeof(sl_cache_meta) == 64,
	       "sl_cache_meta changed: bump SL__FILE_VERSION and this size");

enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_FIXED = 6,
	OFF_METALEN = 8,
	OFF_KEYLEN = 12,
	OFF_FIELDSLEN = 16,
	OFF_NFIELDS = 20,
	OFF_BODYOFF = 24,
	OFF_BODYLEN = 32,
	OFF_SUM = 40,
	OFF_RESERVED = 48,
	SUM_LEN = 8,
};

static uint32_t get32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void put16(char *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/*
 * SHA-256 of p[0..n) into out. No allocation, so it may run on the hit
 * path of every worker.
 */
void sl__store_hash(const void *p, size_t n, uint8_t out[SL__HASH_LEN])
{
	SHA256_CTX s;

	SHA256_Init(&s);
	SHA256_Update(&s, p, n);
	SHA256_Final(out, &s);
}

/*
 * Writes "ab/cd/<64 hex>" for hash h into out (cap >= 72; shorter buffers
 * get a truncated, terminated name).
 */
void sl__store_hash_path(const uint8_t h[SL__HASH_LEN], char *out, size_t cap)
{
	static const char hx[] = "0123456789abcdef";
	char s[72];
	size_t k = 0;

	s[k++] = hx[h[0] >> 4];
	s[k++] = hx[h[0] & 15];
	s[k++] = '/';
	s[k++] = hx[h[1] >> 4];
	s[k++] = hx[h[1] & 15];
	s[k++] = '/';
	for (int i = 0; i < SL__HASH_LEN; i++) {
		s[k++] = hx[h[i] >> 4];
		s[k++] = hx[h[i] & 15];
	}
	s[k] = '\0';
	if (cap)
		snprintf(out, cap, "%s", s);
}

/* Writes the file name of key (store.h). */
void sl_cache_key_path(sl_slice key, char *out, size_t cap)
{
	uint8_t h[SL__HASH_LEN];

	sl__store_hash(key.p ? key.p : "", key.n, h);
	sl__store_hash_path(h, out, cap);
}

static void checksum(const char *block, size_t used, uint8_t out[SUM_LEN])
{
	static const char zero[SUM_LEN];
	uint8_t d[SL__HASH_LEN];
	SHA256_CTX s;

	SHA256_Init(&s);
	SHA256_Update(&s, block, OFF_SUM);
	SHA256_Update(&s, zero, SUM_LEN);
	SHA256_Update(&s, block + OFF_SUM + SUM_LEN, used - OFF_SUM - SUM_LEN);
	SHA256_Final(d, &s);
	memcpy(out, d, SUM_LEN);
}

static bool name_ok(sl_slice s)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] == ':' || s.p[i] == '\r' || s.p[i] == '\n' || s.p[i] == '\0')
			return false;
	return true;
}

static bool value_ok(sl_slice s)
{
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] == '\r' || s.p[i] == '\n' || s.p[i] == '\0')
			return false;
	return true;
}

/* Serialises a header block (see the declaration in store_internal.h). */
int sl__store_encode(const sl_cache_meta *m, sl_slice key, const sl_field *f, size_t n,
		     uint64_t body_off, char **out, size_t *used, uint64_t *body_off_out)
{
	size_t flen = 0;

	if (key.n == 0 || key.n > SL_CACHE_KEY_MAX || n > SL__NFIELDS_MAX)
		return key.n == 0 ? SL_E_INVAL : SL_E_LIMIT;
	for (size_t i = 0; i < n; i++) {
		if (!name_ok(f[i].name) || !value_ok(f[i].value))
			return SL_E_INVAL;
		flen += f[i].name.n + f[i].value.n + 4;
		if (flen > SL__FIELDS_MAX)
			return SL_E_LIMIT;
	}
	size_t u = SL__KEY_OFF + key.n + flen;
	if (body_off == 0) {
		body_off = u + SL__HEAD_SLACK;
		body_off = (body_off + SL__HEAD_ALIGN - 1) / SL__HEAD_ALIGN * SL__HEAD_ALIGN;
	} else if (u > body_off) {
		return SL_E_LIMIT;
	}
	char *b = malloc(u);
	if (!b)
		return SL_E_NOMEM;
	memset(b, 0, SL__KEY_OFF);
	put32(b + OFF_MAGIC, SL__FILE_MAGIC);
	put16(b + OFF_VERSION, SL__FILE_VERSION);
	put16(b + OFF_FIXED, SL__FIXED_LEN);
	put32(b + OFF_METALEN, (uint32_t)sizeof(sl_cache_meta));
	put32(b + OFF_KEYLEN, (uint32_t)key.n);
	put32(b + OFF_FIELDSLEN, (uint32_t)flen);
	put32(b + OFF_NFIELDS, (uint32_t)n);
	put64(b + OFF_BODYOFF, body_off);
	memcpy(b + SL__META_OFF, m, sizeof *m);
	memcpy(b + SL__KEY_OFF, key.p, key.n);
	char *p = b + SL__KEY_OFF + key.n;
	for (size_t i = 0; i < n; i++) {
		memcpy(p, f[i].name.p, f[i].name.n);
		p += f[i].name.n;
		*p++ = ':';
		*p++ = ' ';
		if (f[i].value.n)
			memcpy(p, f[i].value.p, f[i].value.n);
		p += f[i].value.n;
		*p++ = '\r';
		*p++ = '\n';
	}
	sl__store_seal(b, u, m->body_len);
	*out = b;
	*used = u;
	*body_off_out = body_off;
	return 0;
}

/* Sets the body length (header and metadata) and recomputes the checksum. */
void sl__store_seal(char *block, size_t used, uint64_t body_len)
{
	uint8_t sum[SUM_LEN];

	put64(block + OFF_BODYLEN, body_len);
	memcpy(block + SL__META_OFF + offsetof(sl_cache_meta, body_len), &body_len,
	       sizeof body_len);
	checksum(block, used, sum);
	memcpy(block + OFF_SUM, sum, SUM_LEN);
}

/* Validates a header block (see the declaration in store_internal.h). */
int sl__store_check(const void *p, size_t n, uint64_t file_size, sl__store_head *h,
		    size_t *need)
{
	const char *b = p;
	static const char zero[16];

	if (n < SL__KEY_OFF) {
		if (file_size < SL__KEY_OFF)
			return SL_E_CACHE_CORRUPT;
		*need = SL__KEY_OFF;
		return SL_E_AGAIN;
	}
	uint16_t version, fixed;
	memcpy(&version, b + OFF_VERSION, 2);
	memcpy(&fixed, b + OFF_FIXED, 2);
	if (get32(b + OFF_MAGIC) != SL__FILE_MAGIC || version != SL__FILE_VERSION ||
	    fixed != SL__FIXED_LEN || get32(b + OFF_METALEN) != sizeof(sl_cache_meta) ||
	    memcmp(b + OFF_RESERVED, zero, sizeof zero) != 0)
		return SL_E_CACHE_CORRUPT;
	uint64_t klen = get32(b + OFF_KEYLEN), flen = get32(b + OFF_FIELDSLEN);
	uint32_t nf = get32(b + OFF_NFIELDS);
	uint64_t boff = get64(b + OFF_BODYOFF), blen = get64(b + OFF_BODYLEN);
	if (klen == 0 || klen > SL_CACHE_KEY_MAX || flen > SL__FIELDS_MAX ||
	    nf > SL__NFIELDS_MAX || flen < 4ull * nf)
		return SL_E_CACHE_CORRUPT;
	uint64_t used = SL__KEY_OFF + klen + flen;
	if (boff < used || boff > SL__HEAD_MAX || boff > file_size ||
	    blen != file_size - boff)
		return SL_E_CACHE_CORRUPT;
	if (n < used) {
		*need = (size_t)used;
		return SL_E_AGAIN;
	}
	memcpy(&h->meta, b + SL__META_OFF, sizeof h->meta);
	if (h->meta.body_len != blen)
		return SL_E_CACHE_CORRUPT;
	uint8_t sum[SUM_LEN];
	checksum(b, (size_t)used, sum);
	if (memcmp(sum, b + OFF_SUM, SUM_LEN) != 0)
		return SL_E_CACHE_CORRUPT;
	h->key = b + SL__KEY_OFF;
	h->key_len = (size_t)klen;
	h->fields = h->key + klen;
	h->fields_len = (size_t)flen;
	h->nfields = nf;
	h->body_off = boff;
	h->head_used = used;
	return 0;
}

/* Parses the "name: value\r\n" lines of h into f[0..h->nfields). */
int sl__store_parse_fields(const sl__store_head *h, sl_field *f)
{
	const char *p = h->fields, *end = h->fields + h->fields_len;

	for (uint32_t i = 0; i < h->nfields; i++) {
		const char *name = p;
		while (p < end && *p != ':' && *p != '\r' && *p != '\n' && *p != '\0')
			p++;
		if (p == name || end - p < 4 || p[0] != ':' || p[1] != ' ')
			return SL_E_CACHE_CORRUPT;
		f[i].name = sl_slice_make(name, (size_t)(p - name));
		p += 2;
		const char *val = p;
		while (p < end && *p != '\r' && *p != '\n' && *p != '\0')
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return SL_E_CACHE_CORRUPT;
		f[i].value = sl_slice_make(val, (size_t)(p - val));
		p += 2;
	}
	return p == end ? 0 : SL_E_CACHE_CORRUPT;
}

/* Checks a whole object file held in memory (the fuzz target's entry). */
int sl__store_parse(const void *p, size_t n, sl__store_head *h, sl_field *f, size_t cap)
{
	size_t need = 0;
	int rc = sl__store_check(p, n, n, h, &need);

	if (rc == SL_E_AGAIN) /* the file itself is shorter than its header block */
		return SL_E_CACHE_CORRUPT;
	if (rc < 0)
		return rc;
	if (h->nfields > cap)
		return SL_E_LIMIT;
	return sl__store_parse_fields(h, f);
}
