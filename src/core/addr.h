/*
 * IP addresses without sockets: parse and format IPv4 and IPv6 (RFC 4291
 * text forms in, RFC 5952 canonical form out), CIDR prefixes and matching,
 * classification of special ranges (loopback, private, link-local,
 * unspecified...) for the proxy's destination checks, and "host:port"
 * parsing for configuration and CONNECT targets. Pure functions, no
 * allocation, safe from any thread.
 */
#ifndef SL_CORE_ADDR_H
#define SL_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* An IPv4 or IPv6 address in network byte order. For AF_INET only the
 * first 4 bytes of b are used; the rest are zero. */
typedef struct sl_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t b[16];
} sl_addr;

/* A CIDR prefix: the network address (host bits cleared) and its length. */
typedef struct sl_cidr {
	sl_addr net;
	unsigned prefix; /* 0..32 or 0..128 */
} sl_cidr;

/* Classification flags returned by sl_addr_classify(). */
enum {
	SL_ADDR_LOOPBACK = 1u << 0,    /* 127.0.0.0/8, ::1 */
	SL_ADDR_PRIVATE = 1u << 1,     /* 10/8, 172.16/12, 192.168/16, fc00::/7 */
	SL_ADDR_LINK_LOCAL = 1u << 2,  /* 169.254/16, fe80::/10 */
	SL_ADDR_UNSPECIFIED = 1u << 3, /* 0.0.0.0/8, :: */
	SL_ADDR_MULTICAST = 1u << 4,   /* 224/4, ff00::/8 */
	SL_ADDR_BROADCAST = 1u << 5,   /* 255.255.255.255 */
	SL_ADDR_V4MAPPED = 1u << 6,    /* ::ffff:0:0/96 (flags of the v4 address are added) */
	SL_ADDR_CGNAT = 1u << 7,       /* 100.64/10, shared address space */
};

/* Longest text forms, with the terminating NUL. */
#define SL_ADDR_STRLEN 46          /* an IPv6 address */
#define SL_HOSTPORT_STRLEN 264     /* "[v6]:65535" or a 255-byte name with ":65535" */

/* Parses an IPv4 dotted quad (exactly four decimal parts, no leading zeros
 * that would read as octal) or an IPv6 address (with "::" and an embedded
 * IPv4 tail; no brackets, no zone). Returns 0 or SL_E_ADDR_BAD. */
int sl_addr_parse(const char *s, size_t n, sl_addr *out);

/* Formats a into out (RFC 5952 for IPv6). Returns the length written, or
 * SL_E_INVAL when cap is too small. Always NUL-terminates when cap > 0. */
int sl_addr_format(const sl_addr *a, char *out, size_t cap);

/* Parses "addr/len" or a bare address (a full-length prefix). Host bits in
 * the address are cleared. Returns 0, SL_E_ADDR_BAD or SL_E_ADDR_BAD_PREFIX. */
int sl_cidr_parse(const char *s, size_t n, sl_cidr *out);

/* True when a lies inside c. An IPv4-mapped IPv6 address matches IPv4
 * prefixes as its IPv4 address. */
bool sl_cidr_match(const sl_cidr *c, const sl_addr *a);

/* Returns the SL_ADDR_* flags that apply to a (0 for a public address). */
unsigned sl_addr_classify(const sl_addr *a);

/* True when a and b are the same address (v4-mapped equals its v4). */
bool sl_addr_eq(const sl_addr *a, const sl_addr *b);

/* Conversions to and from struct sockaddr_in / sockaddr_in6. to_sockaddr
 * returns the length written into ss (which must hold a sockaddr_storage). */
int sl_addr_from_sockaddr(const struct sockaddr *sa, sl_addr *out, uint16_t *port);
size_t sl_addr_to_sockaddr(const sl_addr *a, uint16_t port, struct sockaddr *ss);

/* "host:port" as configuration and CONNECT use it: host is a DNS name,
 * an IPv4 address or a bracketed IPv6 literal. host points into s (without
 * the brackets); is_ip says whether it parsed as an address (then addr is
 * set). When default_port is 0 the port is required; otherwise a missing
 * port takes default_port. Returns 0, SL_E_ADDR_BAD (bad host) or
 * SL_E_ADDR_BAD_PORT. */
typedef struct sl_hostport {
	const char *host;
	size_t host_len;
	uint16_t port;
	bool is_ip;
	sl_addr addr;
} sl_hostport;

int sl_hostport_parse(const char *s, size_t n, uint16_t default_port, sl_hostport *out);

/* True when s is a host name as DNS and the resolver accept it: dot-separated
 * labels of letters, digits, '-' and '_' (real names use '_'), each 1 to 63
 * bytes and not starting or ending with '-', at most 253 bytes in all (one
 * trailing dot is allowed and not counted). A name whose last label is a
 * number (all digits, or "0x" and hex digits) is refused: resolvers read
 * such names as IPv4 addresses ("127.1", "0x7f.1"), which would let a
 * numeric host slip past checks made on addresses. */
bool sl_addr_is_dns_name(const char *s, size_t n);

#endif
