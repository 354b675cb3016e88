/*
 * The HTTP CONNECT handshake (RFC 9110 section 9.3.6) as a stream layer:
 * it asks a proxy hop to open a tunnel to host:port, answers the proxy's
 * 407 challenges (Basic, Digest; core/auth.h does the arithmetic) with the
 * hop's credentials, and unlinks itself once a 2xx opened the tunnel. It
 * never consumes a byte past the proxy's response head, so the tunnel's
 * first bytes, even when they share a packet or a TLS record with the
 * head, stay for whoever reads next. It owns no buffer beyond its own
 * lifetime: everything it needs lives in the layer, which the stream frees
 * when the handshake is over.
 *
 * Errors (each recorded with sl_stream_fail()): SL_E_PROXY_CLOSED (the
 * proxy closed before its answer was complete), SL_E_PROXY_PROTOCOL (a
 * malformed answer), SL_E_PROXY_AUTH_REQUIRED (a 407 and no credentials
 * for this hop, or no challenge we can answer), SL_E_PROXY_AUTH (a 407
 * after our credentials, not a stale nonce), SL_E_PROXY_AUTH_RECONNECT (see
 * below), SL_E_PROXY_STATUS (any other non-2xx; the status line is kept,
 * sl_connect_layer_status()), and on the last hop the target errors the
 * proxy reports: 403 -> SL_E_TARGET_DENIED, 502 -> SL_E_TARGET_UNREACHABLE,
 * 503 -> SL_E_TARGET_REFUSED (Squid's answer to a refused connection), 504
 * -> SL_E_TARGET_TIMEOUT, recorded at hop + 1 (the target) as target
 * errors. Errors of the layer below pass through unchanged.
 *
 * Reconnecting after a 407. When the proxy answers 407 and closes the
 * connection (Connection: close, HTTP/1.0 without keep-alive, or a body
 * that runs until close or is too large to drain), the layer fails with
 * SL_E_PROXY_AUTH_RECONNECT. The failed layer stays on top of the stream
 * until it is closed; the chain must then:
 *   1. copy the challenge: sl_connect_layer_challenge(s->top);
 *   2. close the stream, open a new connection and run the hops again up
 *      to this one;
 *   3. create the new CONNECT layer and call sl_connect_layer_preset()
 *      with the copy before pushing it, so its first request carries the
 *      credentials;
 *   4. retry once only: a second SL_E_PROXY_AUTH_RECONNECT from the
 *      preset layer is reported as SL_E_PROXY_AUTH.
 */
#ifndef SL_ENGINES_HTTP_CONNECT_H
#define SL_ENGINES_HTTP_CONNECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/auth.h"
#include "engines/chain.h"
#include "engines/stream.h"

/*
 * The proxy credential cache, implemented by the client (which embeds this
 * vtable in its cache and finds itself again with container_of). The
 * layer calls it from the loop, during its handshake; the functions must
 * not block and must lock what they share with other threads. NULL in
 * place of the cache means no cache: credentials go out only in answer to
 * a challenge.
 *
 * preempt: asked before each connection's first CONNECT. Writes a
 *   Proxy-Authorization value for hop (e.g. "Basic ..." or a Digest answer
 *   for method and uri, counting the nonce) and a NUL into out (cap bytes)
 *   and returns its length, or 0 when it knows nothing for this proxy (a
 *   negative return counts as 0). May be NULL.
 * learned: called once when a challenge was answered with the hop's
 *   credentials and the proxy accepted them (2xx). ch is the challenge
 *   answered (its slices are cleared; its strings are copies); st is the
 *   Digest state after that request (NULL for Basic). The cache copies what
 *   it needs to send preemptively later; it must not keep either pointer.
 *   May be NULL.
 */
struct sl_proxy_auth {
	int (*preempt)(struct sl_proxy_auth *pa, const sl_hop *hop, const char *method,
		       const char *uri, char *out, size_t cap);
	void (*learned)(struct sl_proxy_auth *pa, const sl_hop *hop, const sl_auth_challenge *ch,
			sl_auth_digest_state *st);
};

/*
 * Creates a CONNECT layer for sl_stream_push(): it asks the proxy described
 * by hop_cfg (credentials, label; borrowed, it must outlive the handshake)
 * for a tunnel to host:port. host is a DNS name, an IPv4 literal or an IPv6
 * literal with or without brackets; it is copied. auth may be NULL. hop is
 * the proxy's index in the route; last_hop says whether host:port is the
 * target (so 403/502/503/504 are target errors). Returns the layer, or NULL
 * when out of memory or when host is empty, longer than 255 bytes or holds
 * a byte that cannot appear in a request line (space, control, "/?#@").
 */
sl_layer *sl_connect_layer_new(const char *host, uint16_t port, const sl_hop *hop_cfg,
			       struct sl_proxy_auth *auth, int hop, bool last_hop);

/* True when l is a CONNECT layer. */
bool sl_connect_layer_is(const sl_layer *l);

/*
 * Makes the layer's first CONNECT answer ch with the hop's credentials
 * (reconnecting after SL_E_PROXY_AUTH_RECONNECT; ch is copied). Call it
 * before pushing. Returns 0, or SL_E_INVAL when l is not a fresh CONNECT
 * layer or ch is neither a usable Basic nor Digest challenge.
 */
int sl_connect_layer_preset(sl_layer *l, const sl_auth_challenge *ch);

/*
 * After SL_E_PROXY_AUTH_RECONNECT: the challenge of the proxy's last 407,
 * to preset on the new connection's layer. NULL otherwise.
 */
const sl_auth_challenge *sl_connect_layer_challenge(const sl_layer *l);

/* The proxy's last status line without the version ("403 Forbidden"), or
 * "" before one was read. Stays valid until the layer is destroyed. */
const char *sl_connect_layer_status(const sl_layer *l);

/* The proxy's last status code, or 0 before one was read. */
int sl_connect_layer_status_code(const sl_layer *l);

/* When the proxy's last answer was a 407: the scheme its strongest
 * challenge asked for ("Basic", "Digest", "Bearer", or "other" for a
 * scheme this client does not speak). "" otherwise. */
const char *sl_connect_layer_asked_scheme(const sl_layer *l);

#endif
