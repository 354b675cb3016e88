/*
 * IP addresses without sockets (see addr.h). Parsing is strict on purpose:
 * an address that a proxy's access rules judge must mean exactly one thing,
 * so IPv4 takes only the four-part dotted decimal form of RFC 3986's
 * IPv4address (no octal "010", no short "127.1", no hex), and IPv6 takes the
 * text forms of RFC 4291 section 2.2 without zones or brackets. Output follows
 * RFC 5952. An sl_addr always holds bytes in network order; an IPv4 address
 * uses b[0..3] and keeps b[4..15] zero, so two equal addresses compare equal
 * bytewise. Nothing here allocates, keeps state or calls back.
 */
#include "core/addr.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/slice.h"

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* dec-octet "." dec-octet "." dec-octet "." dec-octet, each 0..255 with no
 * leading zero (RFC 3986 section 3.2.2), and nothing else. */
static int parse_v4(const char *s, size_t n, uint8_t b[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start = i;
		unsigned v = 0;

		if (part > 0) {
			if (i >= n || s[i] != '.')
				return SL_E_ADDR_BAD;
			start = ++i;
		}
		while (i < n && is_digit(s[i]) && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
			return SL_E_ADDR_BAD;
		b[part] = (uint8_t)v;
	}
	return i == n ? 0 : SL_E_ADDR_BAD;
}

/* RFC 4291 section 2.2: eight groups of 1 to 4 hex digits, at most one "::"
 * standing for one or more zero groups, and optionally the last 32 bits
 * written as an IPv4 dotted quad. */
static int parse_v6(const char *s, size_t n, uint8_t b[16])
{
	uint16_t g[8];
	int ng = 0;
	int gap = -1; /* index in g where "::" stands, or -1 */
	size_t i = 0;

	if (n < 2)
		return SL_E_ADDR_BAD;
	if (s[0] == ':') {
		if (s[1] != ':')
			return SL_E_ADDR_BAD;
		gap = 0;
		i = 2;
	}
	while (i < n) {
		size_t start = i;
		unsigned v = 0;

		while (i < n && sl_hex_digit(s[i]) >= 0)
			v = (v << 4 | (unsigned)sl_hex_digit(s[i++])) & 0xfffff;
		if (i < n && s[i] == '.') {
			uint8_t q[4];
			if (ng > 6 || parse_v4(s + start, n - start, q) < 0)
				return SL_E_ADDR_BAD;
			g[ng++] = (uint16_t)(q[0] << 8 | q[1]);
			g[ng++] = (uint16_t)(q[2] << 8 | q[3]);
			break;
		}
		if (i == start || i - start > 4 || ng == 8)
			return SL_E_ADDR_BAD;
		g[ng++] = (uint16_t)v;
		if (i == n)
			break;
		if (s[i] != ':')
			return SL_E_ADDR_BAD;
		if (++i == n)
			return SL_E_ADDR_BAD; /* a single trailing ':' */
		if (s[i] == ':') {
			if (gap >= 0)
				return SL_E_ADDR_BAD;
			gap = ng;
			i++;
		}
	}
	if (gap < 0 ? ng != 8 : ng > 7)
		return SL_E_ADDR_BAD;

	memset(b, 0, 16);
	int tail = gap < 0 ? 0 : ng - gap;
	int head = ng - tail;
	for (int k = 0; k < head; k++) {
		b[2 * k] = (uint8_t)(g[k] >> 8);
		b[2 * k + 1] = (uint8_t)g[k];
	}
	for (int k = 0; k < tail; k++) {
		int at = 8 - tail + k;
		b[2 * at] = (uint8_t)(g[head + k] >> 8);
		b[2 * at + 1] = (uint8_t)g[head + k];
	}
	return 0;
}

/* Parses an IPv4 or IPv6 address; which one is decided by the presence of a
 * ':' so that errors name the right family. out is written only on success.
 * Returns 0 or SL_E_ADDR_BAD. */
int sl_addr_parse(const char *s, size_t n, sl_addr *out)
{
	sl_addr a;

	if (!s || !out)
		return SL_E_INVAL;
	memset(&a, 0, sizeof a);
	if (memchr(s, ':', n)) {
		if (parse_v6(s, n, a.b) < 0)
			return SL_E_ADDR_BAD;
		a.family = AF_INET6;
	} else {
		if (parse_v4(s, n, a.b) < 0)
			return SL_E_ADDR_BAD;
		a.family = AF_INET;
	}
	*out = a;
	return 0;
}

static bool is_v4mapped(const sl_addr *a)
{
	return a->family == AF_INET6 && memcmp(a->b, v4mapped_prefix, 12) == 0;
}

static size_t put_dec(char *p, unsigned v)
{
	char tmp[10];
	size_t n = 0, k = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		p[k++] = tmp[--n];
	return k;
}

static size_t put_v4(char *p, const uint8_t b[4])
{
	size_t k = 0;

	for (int i = 0; i < 4; i++) {
		if (i)
			p[k++] = '.';
		k += put_dec(p + k, b[i]);
	}
	return k;
}

/* RFC 5952 section 4: lowercase hex without leading zeros; "::" replaces the
 * longest run of two or more zero groups, the first such run on a tie;
 * section 5: v4-mapped addresses end in dotted decimal. */
static size_t put_v6(char *p, const uint8_t b[16])
{
	static const char hex[] = "0123456789abcdef";
	int best = -1, best_len = 1;
	size_t k = 0;
	uint16_t g[8];

	if (memcmp(b, v4mapped_prefix, 12) == 0) {
		memcpy(p, "::ffff:", 7);
		return 7 + put_v4(p + 7, b + 12);
	}
	for (int i = 0; i < 8; i++)
		g[i] = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && g[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			p[k++] = ':';
			p[k++] = ':';
			i += best_len - 1;
			continue;
		}
		if (i && i != best + best_len)
			p[k++] = ':';
		bool started = false;
		for (int shift = 12; shift >= 0; shift -= 4) {
			unsigned d = (g[i] >> shift) & 0xf;
			if (d || started || shift == 0) {
				p[k++] = hex[d];
				started = true;
			}
		}
	}
	return k;
}

/* Writes the text form of a into out, NUL-terminated. The caller owns out.
 * Returns the length without the NUL, or SL_E_INVAL when a is not an
 * address or out cannot hold the text (out then holds "" if cap > 0). */
int sl_addr_format(const sl_addr *a, char *out, size_t cap)
{
	char tmp[SL_ADDR_STRLEN];
	size_t n;

	if (cap > 0 && out)
		out[0] = '\0';
	if (!a || !out)
		return SL_E_INVAL;
	if (a->family == AF_INET)
		n = put_v4(tmp, a->b);
	else if (a->family == AF_INET6)
		n = put_v6(tmp, a->b);
	else
		return SL_E_INVAL;
	if (n >= cap)
		return SL_E_INVAL;
	memcpy(out, tmp, n);
	out[n] = '\0';
	return (int)n;
}

static unsigned addr_bits(const sl_addr *a)
{
	return a->family == AF_INET ? 32 : 128;
}

static void clear_host_bits(sl_addr *a, unsigned prefix)
{
	unsigned total = addr_bits(a);

	for (unsigned bit = prefix; bit < total; bit++)
		a->b[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
}

static bool prefix_eq(const uint8_t *x, const uint8_t *y, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(x, y, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff00u >> rest);
	return (x[whole] & mask) == (y[whole] & mask);
}

/* Parses "address/length" or a bare address (a host prefix). The length is
 * decimal with no sign and no leading zero, at most 32 or 128. Host bits
 * set in the address are cleared rather than refused, as routers do.
 * Returns 0, SL_E_ADDR_BAD or SL_E_ADDR_BAD_PREFIX. */
int sl_cidr_parse(const char *s, size_t n, sl_cidr *out)
{
	const char *slash;
	sl_cidr c;
	int rc;

	if (!s || !out)
		return SL_E_INVAL;
	slash = memchr(s, '/', n);
	rc = sl_addr_parse(s, slash ? (size_t)(slash - s) : n, &c.net);
	if (rc < 0)
		return rc;
	c.prefix = addr_bits(&c.net);
	if (slash) {
		const char *p = slash + 1;
		size_t len = n - (size_t)(p - s);
		unsigned v = 0;

		if (len == 0 || len > 3 || (len > 1 && p[0] == '0'))
			return SL_E_ADDR_BAD_PREFIX;
		for (size_t i = 0; i < len; i++) {
			if (!is_digit(p[i]))
				return SL_E_ADDR_BAD_PREFIX;
			v = v * 10 + (unsigned)(p[i] - '0');
		}
		if (v > c.prefix)
			return SL_E_ADDR_BAD_PREFIX;
		c.prefix = v;
	}
	clear_host_bits(&c.net, c.prefix);
	*out = c;
	return 0;
}

/* Tests whether a lies in c. A v4-mapped IPv6 address is judged as its IPv4
 * address against IPv4 prefixes; an IPv4 address is judged as v4-mapped
 * against IPv6 prefixes that lie inside ::ffff:0:0/96 (and only those, so
 * that "::/0" keeps meaning "all of IPv6"). */
bool sl_cidr_match(const sl_cidr *c, const sl_addr *a)
{
	uint8_t x[16];

	if (!c || !a)
		return false;
	if (c->net.family == AF_INET) {
		if (a->family == AF_INET)
			memcpy(x, a->b, 4);
		else if (is_v4mapped(a))
			memcpy(x, a->b + 12, 4);
		else
			return false;
		return prefix_eq(x, c->net.b, c->prefix);
	}
	if (c->net.family != AF_INET6)
		return false;
	if (a->family == AF_INET6)
		return prefix_eq(a->b, c->net.b, c->prefix);
	if (a->family != AF_INET || c->prefix < 96 || !is_v4mapped(&c->net))
		return false;
	memcpy(x, v4mapped_prefix, 12);
	memcpy(x + 12, a->b, 4);
	return prefix_eq(x, c->net.b, c->prefix);
}

static unsigned classify_v4(const uint8_t *b)
{
	unsigned f = 0;

	if (b[0] == 127)
		f |= SL_ADDR_LOOPBACK;
	if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
	    (b[0] == 192 && b[1] == 168))
		f |= SL_ADDR_PRIVATE;
	if (b[0] == 169 && b[1] == 254)
		f |= SL_ADDR_LINK_LOCAL;
	if (b[0] == 0)
		f |= SL_ADDR_UNSPECIFIED;
	if ((b[0] & 0xf0) == 224)
		f |= SL_ADDR_MULTICAST;
	if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
		f |= SL_ADDR_BROADCAST;
	if (b[0] == 100 && (b[1] & 0xc0) == 64)
		f |= SL_ADDR_CGNAT;
	return f;
}

/* Returns the SL_ADDR_* flags of a; a v4-mapped address gets
 * SL_ADDR_V4MAPPED plus the flags of its IPv4 address, so a check for
 * loopback cannot be dodged by writing ::ffff:127.0.0.1. */
unsigned sl_addr_classify(const sl_addr *a)
{
	static const uint8_t zero[16];

	if (!a)
		return 0;
	if (a->family == AF_INET)
		return classify_v4(a->b);
	if (a->family != AF_INET6)
		return 0;
	if (is_v4mapped(a))
		return SL_ADDR_V4MAPPED | classify_v4(a->b + 12);
	if (memcmp(a->b, zero, 15) == 0) {
		if (a->b[15] == 1)
			return SL_ADDR_LOOPBACK;
		if (a->b[15] == 0)
			return SL_ADDR_UNSPECIFIED;
	}
	if ((a->b[0] & 0xfe) == 0xfc)
		return SL_ADDR_PRIVATE;
	if (a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80)
		return SL_ADDR_LINK_LOCAL;
	if (a->b[0] == 0xff)
		return SL_ADDR_MULTICAST;
	return 0;
}

/* Tests two addresses for equality, taking a v4-mapped IPv6 address as equal
 * to its IPv4 address. */
bool sl_addr_eq(const sl_addr *a, const sl_addr *b)
{
	if (!a || !b)
		return false;
	if (a->family == b->family)
		return memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16) == 0;
	if (a->family == AF_INET && is_v4mapped(b))
		return memcmp(a->b, b->b + 12, 4) == 0;
	if (b->family == AF_INET && is_v4mapped(a))
		return memcmp(b->b, a->b + 12, 4) == 0;
	return false;
}

/* Reads an AF_INET or AF_INET6 socket address into out and, when port is not
 * NULL, its port in host order. The IPv6 scope id is dropped. Returns 0, or
 * SL_E_INVAL for another family. */
int sl_addr_from_sockaddr(const struct sockaddr *sa, sl_addr *out, uint16_t *port)
{
	if (!sa || !out)
		return SL_E_INVAL;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, sa, sizeof sin);
		memset(out, 0, sizeof *out);
		out->family = AF_INET;
		memcpy(out->b, &sin.sin_addr, 4);
		if (port)
			*port = ntohs(sin.sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, sa, sizeof sin6);
		memset(out, 0, sizeof *out);
		out->family = AF_INET6;
		memcpy(out->b, &sin6.sin6_addr, 16);
		if (port)
			*port = ntohs(sin6.sin6_port);
		return 0;
	}
	return SL_E_INVAL;
}

/* Fills ss (room for a struct sockaddr_storage, owned by the caller) with a
 * and port (host order). Returns the socket address length to pass to
 * connect() or bind(), or 0 when a is not an IPv4 or IPv6 address. */
size_t sl_addr_to_sockaddr(const sl_addr *a, uint16_t port, struct sockaddr *ss)
{
	if (!a || !ss)
		return 0;
	if (a->family == AF_INET) {
		struct sockaddr_in sin;
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		memcpy(&sin.sin_addr, a->b, 4);
		memcpy(ss, &sin, sizeof sin);
		return sizeof sin;
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 sin6;
		memset(&sin6, 0, sizeof sin6);
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		memcpy(&sin6.sin6_addr, a->b, 16);
		memcpy(ss, &sin6, sizeof sin6);
		return sizeof sin6;
	}
	return 0;
}

static bool numeric_label(const char *s, size_t n)
{
	size_t i = 0;

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < n; i++)
			if (sl_hex_digit(s[i]) < 0)
				return false;
		return true;
	}
	for (; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return n > 0;
}

static bool ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       c == '-' || c == '_';
}

/* Checks s against the host name rules given in addr.h. */
bool sl_addr_is_dns_name(const char *s, size_t n)
{
	size_t start = 0;

	if (!s)
		return false;
	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!ldh(s[i]))
				return false;
			continue;
		}
		size_t len = i - start;
		if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
			return false;
		if (i == n)
			return !numeric_label(s + start, len);
		start = i + 1;
	}
	return false;
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return SL_E_ADDR_BAD_PORT;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return SL_E_ADDR_BAD_PORT;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return SL_E_ADDR_BAD_PORT;
	*port = (uint16_t)v;
	return 0;
}

/* Splits and checks "host:port", "host" (when default_port is not 0) or
 * "[v6]:port". out->host points into s, which the caller keeps alive while
 * it uses out. An unbracketed IPv6 address is refused: its last group would
 * read as a port. Returns 0, SL_E_ADDR_BAD or SL_E_ADDR_BAD_PORT; out is
 * written only on success. */
int sl_hostport_parse(const char *s, size_t n, uint16_t default_port, sl_hostport *out)
{
	sl_hostport hp;
	const char *rest; /* after the host: "" or ":port" */
	size_t rest_n;
	int rc;

	if (!s || !out)
		return SL_E_INVAL;
	memset(&hp, 0, sizeof hp);
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return SL_E_ADDR_BAD;
		hp.host = s + 1;
		hp.host_len = (size_t)(close - hp.host);
		if (sl_addr_parse(hp.host, hp.host_len, &hp.addr) < 0 ||
		    hp.addr.family != AF_INET6)
			return SL_E_ADDR_BAD;
		hp.is_ip = true;
		rest = close + 1;
		rest_n = n - (size_t)(rest - s);
		if (rest_n > 0 && rest[0] != ':')
			return SL_E_ADDR_BAD;
	} else {
		const char *colon = memchr(s, ':', n);
		size_t host_n = colon ? (size_t)(colon - s) : n;
		if (colon && memchr(colon + 1, ':', n - host_n - 1))
			return SL_E_ADDR_BAD; /* an IPv6 address without brackets */
		hp.host = s;
		hp.host_len = host_n;
		if (sl_addr_parse(s, host_n, &hp.addr) == 0)
			hp.is_ip = true;
		else if (!sl_addr_is_dns_name(s, host_n))
			return SL_E_ADDR_BAD;
		rest = s + host_n;
		rest_n = n - host_n;
	}
	if (rest_n == 0) {
		if (default_port == 0)
			return SL_E_ADDR_BAD_PORT;
		hp.port = default_port;
	} else {
		rc = parse_port(rest + 1, rest_n - 1, &hp.port);
		if (rc < 0)
			return rc;
	}
	*out = hp;
	return 0;
}
