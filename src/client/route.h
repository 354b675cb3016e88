/*
 * Building routes (engines/chain.h: an ordered list of proxy hops) from what
 * users write: proxy URLs ("socks5h://user:pw@gw:1080", as sluice-fetch's
 * -x takes them), the proxy environment variables as curl reads them
 * (http_proxy, HTTPS_PROXY, ALL_PROXY, NO_PROXY), and the upstreams and
 * chains of the configuration. A route buffer owns the hops and every
 * string they point to, so a route stays valid as long as its buffer.
 */
#ifndef SL_CLIENT_ROUTE_H
#define SL_CLIENT_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "engines/chain.h"

#define SL_ROUTE_MAX_HOPS 8

/* Default ports of proxy URLs without one. */
#define SL_PROXY_PORT_HTTP 3128
#define SL_PROXY_PORT_HTTPS 443
#define SL_PROXY_PORT_SOCKS 1080

typedef struct sl_route_buf {
	sl_hop hops[SL_ROUTE_MAX_HOPS];
	size_t n;
	char strings[4096]; /* host names, credentials, labels */
	size_t used;
} sl_route_buf;

/* Empties b. */
void sl_route_buf_init(sl_route_buf *b);

/*
 * Appends the proxy given as a URL to b: scheme http (the default when
 * there is none, as curl does), https, socks5 or socks5h; optional
 * percent-encoded user and password; host; port (defaults above). Returns
 * 0, an SL_E_URL_* code for a malformed URL, SL_E_UNSUPPORTED for another
 * scheme (socks4...), or SL_E_LIMIT when b is full.
 */
int sl_route_buf_add_url(sl_route_buf *b, const char *url);

/*
 * Appends the hops of a configured upstream (via: one hop) or chain (its
 * hops in order); an http or https upstream of mode "forward" gives a
 * forward hop. Strings point into the configuration, which must outlive
 * b. Returns 0 or SL_E_LIMIT.
 */
int sl_route_buf_add_upstream(sl_route_buf *b, const sl_conf_upstream *u);
int sl_route_buf_add_chain(sl_route_buf *b, const sl_conf_chain *c);

/* Fills *h with the hop of configured upstream u, as the functions above
 * do (strings point into the configuration). */
void sl_hop_from_upstream(sl_hop *h, const sl_conf_upstream *u);

/* Makes r describe the hops in b (no copy: r points into b), without a
 * name. */
void sl_route_buf_route(const sl_route_buf *b, sl_route *r);

/*
 * True when host (n bytes) is excluded from proxying by a NO_PROXY value,
 * as curl reads it: comma- or space-separated entries; "*" alone excludes
 * everything; a name matches itself and every name under it (a leading dot
 * is optional); an IP address or CIDR block matches addresses; ports and
 * case are ignored.
 */
bool sl_no_proxy_match(const char *no_proxy, const char *host, size_t n);

/*
 * The proxy URL the environment sets for a request of scheme to host, as
 * curl chooses it: "http_proxy" (lower case only: the upper-case name can
 * be set by a CGI request's Proxy header) for http, "https_proxy" or
 * "HTTPS_PROXY" for https, then "all_proxy"/"ALL_PROXY"; NULL when unset,
 * empty, or when no_proxy/NO_PROXY excludes host. The string belongs to
 * the environment.
 */
const char *sl_proxy_from_env(const char *scheme, const char *host, size_t n);

#endif
