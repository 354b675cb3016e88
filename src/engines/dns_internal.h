/*
 * What the resolver's files share, and what the tests reach into: name
 * normalisation, the clock every expiry reads, the shared cache's
 * operations on normalised names, the ordering of addresses, and the
 * parsed hosts file. Only src/engines and the tests include this.
 */
#ifndef SL_ENGINES_DNS_INTERNAL_H
#define SL_ENGINES_DNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/addr.h"
#include "engines/dns.h"

/* A normalised name with its NUL: 253 bytes at most, see sl_addr_is_dns_name. */
#define SL__DNS_NAME_CAP 256

/*
 * Copies host (n bytes) into out lowercased, without one trailing dot, when
 * it is a valid DNS name (sl_addr_is_dns_name). Returns the length written,
 * or SL_E_DNS_NOT_FOUND for a name no resolver would find.
 */
int sl__dns_normalize(const char *host, size_t n, char out[SL__DNS_NAME_CAP]);

/* FNV-1a over a normalised name: the hash both tables use. */
uint32_t sl__dns_hash(const char *name);

/* Milliseconds on a monotonic clock: cache expiry and the hosts file's
 * re-check read it. */
uint64_t sl__dns_now_ms(void);

/* Replaces the clock (NULL restores CLOCK_MONOTONIC). For tests; set it
 * before any resolver or cache is used from another thread. */
void sl__dns_set_clock(uint64_t (*now_ms)(void));

/*
 * Looks name (normalised) up. On a live entry copies its result (err 0 and
 * up to SL_DNS_MAX_ADDRS addresses, or a cached failure code and n = 0) and
 * returns true; an expired entry is dropped and counts as a miss.
 */
bool sl__dns_cache_get(sl_dns_cache *c, const char *name, int *err, sl_addr *addrs, size_t *n);

/*
 * Stores a result for name (normalised) for ttl_s seconds, replacing any
 * previous one; ttl_s == 0 stores nothing. Evicts the least recently used
 * entries of the name's stripe when full. Out of memory is silently a
 * no-op: a cache may forget.
 */
void sl__dns_cache_put(sl_dns_cache *c, const char *name, int err, const sl_addr *addrs,
		       size_t n, uint32_t ttl_s);

/* Entries held (expired ones included until they are found or evicted). */
size_t sl__dns_cache_count(sl_dns_cache *c);

/*
 * Appends a to the family list it belongs to (v6 or v4, each at most
 * SL_DNS_MAX_ADDRS long) unless already there. Returns false when that
 * list is full.
 */
bool sl__dns_add_unique(sl_addr *list, size_t *n, const sl_addr *a);

/*
 * Writes the answer order into out (SL_DNS_MAX_ADDRS slots): IPv6 and IPv4
 * interleaved, IPv6 first, as RFC 8305 section 4 suggests, then whatever is
 * left of the longer list. Returns the count.
 */
size_t sl__dns_interleave(sl_addr *out, const sl_addr *v6, size_t n6, const sl_addr *v4,
			  size_t n4);

/* One name -> address line of a hosts file. */
typedef struct sl__dns_host_rec {
	const char *name; /* into text, lowercased, no trailing dot */
	uint32_t seq;     /* position in the file: keeps file order per name */
	sl_addr addr;
} sl__dns_host_rec;

/* A parsed hosts file, sorted by name, and what identified the file read. */
typedef struct sl__dns_hosts {
	char *text;
	sl__dns_host_rec *recs;
	size_t n;
	bool present; /* the file existed at the last look */
	struct timespec mtime;
	off_t size;
	ino_t ino;
	dev_t dev;
} sl__dns_hosts;

/*
 * Reads path into h when the file changed since the last load (mtime, size,
 * inode or existence), replacing what h held. A missing or unreadable file
 * leaves h empty. Blocking file I/O: hosts files are small local files,
 * read at creation and re-read only when they change. Returns 0, or a
 * negative code when memory ran out (h then holds nothing).
 */
int sl__dns_hosts_refresh(sl__dns_hosts *h, const char *path);

/* Parses text (NUL-terminated, taken over by h, freed by it) as a hosts
 * file into h. Returns 0 or SL_E_NOMEM. */
int sl__dns_hosts_parse(sl__dns_hosts *h, char *text);

/* The addresses the hosts file gives name (normalised), in answer order.
 * Returns their count, 0 when the file does not list the name. */
size_t sl__dns_hosts_find(const sl__dns_hosts *h, const char *name,
			  sl_addr out[SL_DNS_MAX_ADDRS]);

/* Frees what h holds and empties it. */
void sl__dns_hosts_clear(sl__dns_hosts *h);

#endif
