/*
 * Opening the TCP connection of a stream: every resolved address of one
 * host is tried with Happy Eyeballs (RFC 8305): the addresses come ordered
 * (IPv6 first, families interleaved, as the resolver hands them out); the
 * first attempt starts at once, the next one 250 ms later if nothing has
 * connected yet, or at once when an attempt fails; attempts run side by
 * side and the first to connect wins. Its socket (non-blocking, close-on-
 * exec, TCP_NODELAY and keepalive on) is attached to the stream; every
 * other attempt is closed. One timer bounds the whole connect.
 *
 * Invariants: the result is delivered exactly once, from the loop, never
 * from inside sl_tcp_connect() (an address that fails at once is reported
 * on a later loop iteration), unless the request is cancelled first; a
 * request never outlives its result; sockets of losing attempts never leak.
 */
#ifndef SL_ENGINES_TCP_H
#define SL_ENGINES_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "engines/stream.h"

/* RFC 8305 section 5: the recommended Connection Attempt Delay. */
#define SL_TCP_ATTEMPT_DELAY_MS 250

typedef struct sl_tcp_req sl_tcp_req;

/*
 * Connects stream s (which has no fd yet) to port on one of the n addresses
 * addrs, tried in the given order; the addresses are copied. hop is the
 * route hop the connection goes to and target says whether that is the
 * target itself (false: a proxy hop); both only classify errors:
 * ECONNREFUSED becomes SL_E_TARGET_REFUSED or SL_E_PROXY_REFUSED,
 * ENETUNREACH and EHOSTUNREACH *_UNREACHABLE, ETIMEDOUT and the expiry of
 * timeout_ms (0: 10 s) *_TIMEOUT, anything else stays -errno. When several
 * attempts failed, the most telling error is reported: refused, then
 * timeout, then unreachable, then the rest.
 *
 * done(s, 0, arg) is called once the socket is attached to s, or
 * done(s, err, arg) after sl_stream_fail(s, hop, !target, err) recorded the
 * failure; always from the loop. The request holds a reference on s until
 * then; closing s before the result comes counts as cancelling (done is
 * not called; the attempts are closed at the request's next event, at the
 * latest when timeout_ms expires), but sl_tcp_cancel() first is cleaner.
 *
 * Returns a handle for sl_tcp_cancel(), valid until done returns (the
 * request frees itself afterwards), or NULL when out of memory or when the
 * arguments are unusable (n == 0, s already attached or closed); done is
 * never called then.
 */
sl_tcp_req *sl_tcp_connect(sl_stream *s, const sl_addr *addrs, size_t n, uint16_t port,
			   uint64_t timeout_ms, int hop, bool target, sl_stream_done_cb done,
			   void *arg);

/*
 * Aborts a pending connect: every attempt is closed, the stream is left
 * untouched (no fd, no error) and done is not called. Calling it from
 * inside done is harmless and does nothing; after done has returned the
 * handle is gone and must not be used.
 */
void sl_tcp_cancel(sl_tcp_req *r);

/*
 * Classifies one connect failure: code is -errno (or SL_E_TIMEOUT for an
 * expired deadline); returns the SL_E_TARGET_* or SL_E_PROXY_* code that
 * stands for it, or code itself when no class fits. Pure.
 */
int sl_tcp_error(int code, bool target);

#endif
