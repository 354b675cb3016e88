/*
 * Lines for configuration errors. jansson reports where a syntax error is
 * but keeps no positions for values, so when the loader finds a bad value it
 * names the value's JSON path and this file scans the source text again,
 * tracking line numbers, to find the line where that value (or its key)
 * starts. The scanner decodes keys exactly as jansson does, so keys with
 * escapes or odd characters match; it never allocates more than one key at a
 * time and is bounded in depth. It runs only when there is an error to
 * report, so it favours simplicity over speed.
 */
#include "core/config_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 4096

struct scan {
	const char *p, *end;
	unsigned line;
	unsigned depth;
};

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) {
		if (*s->p == '\n')
			s->line++;
		s->p++;
	}
}

static bool at(struct scan *s, char c)
{
	return s->p < s->end && *s->p == c;
}

static int hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static size_t utf8(uint32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Reads the string at s->p (which is at '"'). When out is not NULL, stores a
 * malloc'd decoded copy and its length. Returns false on malformed text or
 * allocation failure.
 */
static bool string(struct scan *s, char **out, size_t *outlen)
{
	const char *p = s->p + 1;
	char *buf = NULL;
	size_t n = 0;
	if (out) {
		/* Decoding never lengthens: \uXXXX (6 bytes) gives at most 3,
		 * a surrogate pair (12) gives 4. */
		const char *q = p;
		while (q < s->end && *q != '"')
			q += (*q == '\\' && q + 1 < s->end) ? 2 : 1;
		buf = malloc((size_t)(q - p) + 1);
		if (!buf)
			return false;
	}
	while (p < s->end && *p != '"') {
		if (*p != '\\') {
			if (buf)
				buf[n++] = *p;
			p++;
			continue;
		}
		if (p + 1 >= s->end)
			goto bad;
		char c = p[1], e = 0;
		p += 2;
		switch (c) {
		case '"': e = '"'; break;
		case '\\': e = '\\'; break;
		case '/': e = '/'; break;
		case 'b': e = '\b'; break;
		case 'f': e = '\f'; break;
		case 'n': e = '\n'; break;
		case 'r': e = '\r'; break;
		case 't': e = '\t'; break;
		case 'u': {
			int v = s->end - p >= 4 ? hex4(p) : -1;
			if (v < 0)
				goto bad;
			p += 4;
			uint32_t cp = (uint32_t)v;
			if (cp >= 0xd800 && cp < 0xdc00 && s->end - p >= 6 && p[0] == '\\' &&
			    p[1] == 'u') {
				int lo = hex4(p + 2);
				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
					p += 6;
				}
			}
			if (buf)
				n += utf8(cp, buf + n);
			continue;
		}
		default:
			goto bad;
		}
		if (buf)
			buf[n++] = e;
	}
	if (p >= s->end)
		goto bad;
	s->p = p + 1;
	if (buf) {
		buf[n] = '\0';
		*out = buf;
		*outlen = n;
	}
	return true;
bad:
	free(buf);
	return false;
}

static bool skip_value(struct scan *s);

/* Skips the members of an object or the elements of an array, s->p being
 * just past the opening bracket. */
static bool skip_container(struct scan *s, char close, bool object)
{
	ws(s);
	if (at(s, close)) {
		s->p++;
		return true;
	}
	for (;;) {
		if (object) {
			ws(s);
			if (!at(s, '"') || !string(s, NULL, NULL))
				return false;
			ws(s);
			if (!at(s, ':'))
				return false;
			s->p++;
		}
		if (!skip_value(s))
			return false;
		ws(s);
		if (at(s, ',')) {
			s->p++;
			continue;
		}
		if (!at(s, close))
			return false;
		s->p++;
		return true;
	}
}

static bool skip_value(struct scan *s)
{
	ws(s);
	if (s->p >= s->end)
		return false;
	char c = *s->p;
	if (c == '"')
		return string(s, NULL, NULL);
	if (c == '{' || c == '[') {
		if (++s->depth > MAX_DEPTH)
			return false;
		s->p++;
		bool ok = skip_container(s, c == '{' ? '}' : ']', c == '{');
		s->depth--;
		return ok;
	}
	const char *start = s->p;
	while (s->p < s->end && strchr("+-.0123456789eEtrufalsn", *s->p))
		s->p++;
	return s->p > start;
}

static bool plain(const char *k, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Appends text to buf; returns false once it no longer fits, after
 * ending buf with "...". */
static bool put(char *buf, size_t cap, size_t *used, const char *t, size_t n)
{
	if (cap == 0)
		return false;
	if (*used + n < cap) {
		memcpy(buf + *used, t, n);
		*used += n;
		buf[*used] = '\0';
		return true;
	}
	if (cap >= 4) {
		memcpy(buf + cap - 4, "...", 4);
		*used = cap - 1;
	} else {
		buf[0] = '\0';
		*used = 0;
	}
	return false;
}

/* Appends one path segment; see config_internal.h. */
size_t sl__config_path_add(char *buf, size_t cap, size_t used, const char *key,
			   size_t klen, size_t idx)
{
	char tmp[32];
	if (cap == 0 || (used > 0 && used >= cap - 1))
		return used;
	if (!key) {
		int n = snprintf(tmp, sizeof tmp, "[%zu]", idx);
		put(buf, cap, &used, tmp, (size_t)n);
		return used;
	}
	if (plain(key, klen)) {
		if ((used > 0 && !put(buf, cap, &used, ".", 1)) || !put(buf, cap, &used, key, klen))
			return used;
		return used;
	}
	if (!put(buf, cap, &used, "[\"", 2))
		return used;
	for (size_t i = 0; i < klen; i++) {
		unsigned char c = (unsigned char)key[i];
		int n;
		if (c == '"' || c == '\\')
			n = snprintf(tmp, sizeof tmp, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			n = snprintf(tmp, sizeof tmp, "\\u%04x", c);
		else
			n = snprintf(tmp, sizeof tmp, "%c", c);
		if (!put(buf, cap, &used, tmp, (size_t)n))
			return used;
	}
	put(buf, cap, &used, "\"]", 2);
	return used;
}

/* Writes the text of a path; see config_internal.h. */
void sl__config_path_format(const sl__config_seg *segs, size_t n, char *buf, size_t cap)
{
	size_t used = 0;
	if (cap)
		buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used = sl__config_path_add(buf, cap, used, segs[i].key,
					   segs[i].key ? strlen(segs[i].key) : 0, segs[i].idx);
}

/* Walks down the path t (n segments left), skipping every other member. */
static unsigned find(struct scan *s, const sl__config_seg *t, size_t n, bool at_key)
{
	ws(s);
	if (s->p >= s->end)
		return 0;
	if (n == 0)
		return s->line;
	if (++s->depth > MAX_DEPTH)
		return 0;
	if (at(s, '{') && t->key) {
		size_t want = strlen(t->key);
		s->p++;
		for (;;) {
			ws(s);
			if (!at(s, '"'))
				return 0;
			unsigned kline = s->line;
			char *k;
			size_t kn;
			if (!string(s, &k, &kn))
				return 0;
			bool hit = kn == want && memcmp(k, t->key, kn) == 0;
			free(k);
			ws(s);
			if (!at(s, ':'))
				return 0;
			s->p++;
			if (hit)
				return n == 1 && at_key ? kline : find(s, t + 1, n - 1, at_key);
			if (!skip_value(s))
				return 0;
			ws(s);
			if (!at(s, ','))
				return 0;
			s->p++;
		}
	}
	if (at(s, '[') && !t->key) {
		s->p++;
		for (size_t i = 0;; i++) {
			if (i == t->idx)
				return find(s, t + 1, n - 1, at_key);
			if (!skip_value(s))
				return 0;
			ws(s);
			if (!at(s, ','))
				return 0;
			s->p++;
		}
	}
	return 0;
}

/* Returns the line of a path's value or key; see config_internal.h. */
unsigned sl__config_line_of(const char *text, size_t len, const sl__config_seg *segs,
			    size_t n, bool at_key)
{
	struct scan s = {text, text + len, 1, 0};
	return find(&s, segs, n, at_key);
}

/* A path as a chain of frames on the C stack, innermost last. */
struct node {
	const struct node *up;
	const char *key;
	size_t klen;
	size_t idx;
};

struct dup {
	char *buf;
	size_t cap;
	unsigned line, first;
};

static size_t node_format(const struct node *nd, char *buf, size_t cap)
{
	size_t used = nd->up ? node_format(nd->up, buf, cap) : 0;
	return sl__config_path_add(buf, cap, used, nd->key, nd->klen, nd->idx);
}

struct key {
	char *k;
	size_t n;
	unsigned line;
};

/* 0: the value was skipped; 1: a repeat was found and recorded in d;
 * -1: the text is malformed or memory ran out. */
static int dup_value(struct scan *s, const struct node *up, struct dup *d);

static int dup_object(struct scan *s, const struct node *up, struct dup *d)
{
	struct key *keys = NULL;
	size_t nkeys = 0, cap = 0;
	int rc = -1;
	s->p++;
	ws(s);
	if (at(s, '}')) {
		s->p++;
		return 0;
	}
	for (;;) {
		ws(s);
		if (!at(s, '"'))
			break;
		struct key k = {NULL, 0, s->line};
		if (!string(s, &k.k, &k.n))
			break;
		for (size_t i = 0; i < nkeys; i++)
			if (keys[i].n == k.n && memcmp(keys[i].k, k.k, k.n) == 0) {
				struct node nd = {up, k.k, k.n, 0};
				d->buf[0] = '\0';
				node_format(&nd, d->buf, d->cap);
				d->line = k.line;
				d->first = keys[i].line;
				free(k.k);
				rc = 1;
				goto out;
			}
		if (nkeys == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct key *nk = realloc(keys, ncap * sizeof *nk);
			if (!nk) {
				free(k.k);
				break;
			}
			keys = nk;
			cap = ncap;
		}
		keys[nkeys++] = k;
		ws(s);
		if (!at(s, ':'))
			break;
		s->p++;
		struct node nd = {up, k.k, k.n, 0};
		int r = dup_value(s, &nd, d);
		if (r != 0) {
			rc = r;
			break;
		}
		ws(s);
		if (at(s, ',')) {
			s->p++;
			continue;
		}
		if (at(s, '}')) {
			s->p++;
			rc = 0;
		}
		break;
	}
out:
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i].k);
	free(keys);
	return rc;
}

static int dup_value(struct scan *s, const struct node *up, struct dup *d)
{
	ws(s);
	if (s->depth >= MAX_DEPTH)
		return -1;
	if (at(s, '{')) {
		s->depth++;
		int rc = dup_object(s, up, d);
		s->depth--;
		return rc;
	}
	if (!at(s, '['))
		return skip_value(s) ? 0 : -1;
	s->depth++;
	s->p++;
	ws(s);
	int rc = 0;
	if (at(s, ']')) {
		s->p++;
	} else {
		for (size_t i = 0;; i++) {
			struct node nd = {up, NULL, 0, i};
			rc = dup_value(s, &nd, d);
			if (rc != 0)
				break;
			ws(s);
			if (at(s, ',')) {
				s->p++;
				continue;
			}
			if (at(s, ']'))
				s->p++;
			else
				rc = -1;
			break;
		}
	}
	s->depth--;
	return rc;
}

/* Finds the first repeated key; see config_internal.h. */
bool sl__config_find_duplicate(const char *text, size_t len, char *buf, size_t cap,
			       unsigned *line, unsigned *first_line)
{
	struct scan s = {text, text + len, 1, 0};
	struct dup d = {buf, cap, 0, 0};
	if (cap == 0 || dup_value(&s, NULL, &d) != 1)
		return false;
	*line = d.line;
	*first_line = d.first;
	return true;
}
