/*
 * The hosts file, read by the resolver itself rather than by c-ares so its
 * path is configurable and its answers deterministic. The file's text is
 * kept whole; parsing cuts it into NUL-terminated tokens in place and
 * builds one record per (name, address) pair, sorted by name and then by
 * position in the file, so a lookup is a binary search and a name listed
 * on several lines gets all its addresses in file order. Invariants: every
 * record's name points into text, is lowercase and has no trailing dot;
 * recs is sorted; the stat fields identify the file text came from.
 */
#include "engines/dns_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

/* Larger files are refused rather than read onto a loop. */
#define HOSTS_MAX_BYTES (64u << 20)

void sl__dns_hosts_clear(sl__dns_hosts *h)
{
	free(h->recs);
	free(h->text);
	h->recs = NULL;
	h->text = NULL;
	h->n = 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const sl__dns_host_rec *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* '\0' counts: a name already cut off ends at the NUL put after it. */
static bool is_blank(char c)
{
	return c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Lowercases the token in place and drops one trailing dot; returns false
 * when it is not a host name. */
static bool name_fix(char *tok, size_t n)
{
	if (!sl_addr_is_dns_name(tok, n))
		return false;
	if (tok[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++)
		if (tok[i] >= 'A' && tok[i] <= 'Z')
			tok[i] = (char)(tok[i] - 'A' + 'a');
	tok[n] = '\0';
	return true;
}

static int push(sl__dns_hosts *h, size_t *cap, const char *name, uint32_t seq,
		const sl_addr *a)
{
	if (h->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		sl__dns_host_rec *r = realloc(h->recs, ncap * sizeof *r);
		if (!r)
			return SL_E_NOMEM;
		h->recs = r;
		*cap = ncap;
	}
	h->recs[h->n++] = (sl__dns_host_rec){.name = name, .seq = seq, .addr = *a};
	return 0;
}

int sl__dns_hosts_parse(sl__dns_hosts *h, char *text)
{
	size_t cap = 0;
	uint32_t seq = 0;
	char *p = text;

	sl__dns_hosts_clear(h);
	h->text = text;
	while (*p) {
		char *eol = strchr(p, '\n');
		char *end = eol ? eol : p + strlen(p);
		char *hash = memchr(p, '#', (size_t)(end - p));
		char *next = eol ? eol + 1 : end;
		sl_addr a;
		bool first = true, ok = false;

		if (hash)
			end = hash;
		while (p < end) {
			char *tok;
			size_t n;

			while (p < end && is_blank(*p))
				p++;
			if (p == end)
				break;
			tok = p;
			while (p < end && !is_blank(*p))
				p++;
			n = (size_t)(p - tok);
			if (first) {
				/* Zoned addresses ("fe80::1%eth0") do not parse
				 * and their line is skipped. */
				ok = sl_addr_parse(tok, n, &a) == 0;
				first = false;
				if (!ok)
					break;
				continue;
			}
			/* The byte after the token is a blank, '\n', '#' or the
			 * final NUL: it becomes the name's terminator. */
			if (!name_fix(tok, n))
				continue;
			if (push(h, &cap, tok, seq++, &a) < 0) {
				sl__dns_hosts_clear(h);
				return SL_E_NOMEM;
			}
		}
		p = next;
	}
	if (h->n > 1)
		qsort(h->recs, h->n, sizeof *h->recs, rec_cmp);
	return 0;
}

static char *read_all(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *text = NULL;
	size_t len = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size > HOSTS_MAX_BYTES)
		goto out;
	text = malloc((size_t)st->st_size + 1);
	if (!text)
		goto out;
	while (len < (size_t)st->st_size) {
		ssize_t r = read(fd, text + len, (size_t)st->st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* shrank under us: keep what was read */
		len += (size_t)r;
	}
	text[len] = '\0';
out:
	close(fd);
	return text;
}

int sl__dns_hosts_refresh(sl__dns_hosts *h, const char *path)
{
	struct stat st;
	char *text;

	if (stat(path, &st) < 0) {
		if (h->present || h->text)
			sl__dns_hosts_clear(h);
		h->present = false;
		return 0;
	}
	if (h->present && st.st_mtim.tv_sec == h->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == h->mtime.tv_nsec && st.st_size == h->size &&
	    st.st_ino == h->ino && st.st_dev == h->dev)
		return 0;
	text = read_all(path, &st);
	h->present = true;
	h->mtime = st.st_mtim;
	h->size = st.st_size;
	h->ino = st.st_ino;
	h->dev = st.st_dev;
	if (!text) {
		sl__dns_hosts_clear(h);
		return 0;
	}
	return sl__dns_hosts_parse(h, text);
}

size_t sl__dns_hosts_find(const sl__dns_hosts *h, const char *name,
			  sl_addr out[SL_DNS_MAX_ADDRS])
{
	sl__dns_host_rec key = {.name = name, .seq = 0};
	size_t lo = 0, hi = h->n, n6 = 0, n4 = 0;
	sl_addr v6[SL_DNS_MAX_ADDRS], v4[SL_DNS_MAX_ADDRS];

	/* The first record whose (name, seq) is not below (name, 0). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rec_cmp(&h->recs[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < h->n && strcmp(h->recs[i].name, name) == 0; i++) {
		const sl_addr *a = &h->recs[i].addr;
		if (a->family == AF_INET6)
			sl__dns_add_unique(v6, &n6, a);
		else
			sl__dns_add_unique(v4, &n4, a);
	}
	return sl__dns_interleave(out, v6, n6, v4, n4);
}
