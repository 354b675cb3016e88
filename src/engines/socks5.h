/*
 * The SOCKS5 handshake (RFC 1928, with RFC 1929 username/password) as a
 * handshake layer of a stream, and the codec beneath it as pure functions.
 * The layer sends the greeting, answers the method the server picks, runs
 * the sub-negotiation when asked, sends CONNECT and reads the reply in
 * exact lengths: the 5-byte head first (VER REP RSV ATYP and the first
 * address byte), then exactly the rest its ATYP announces. It never reads a
 * byte past the reply, so whatever follows belongs to the tunnel and stays
 * in the socket for the next layer or the user. It owns no buffer beyond
 * its own lifetime and unlinks itself when the server grants the CONNECT.
 *
 * Error sides. Everything the server says about itself (bad version,
 * method, authentication, malformed reply, REP 1, 7, 8 and unknown codes,
 * closing early) is a proxy error at this layer's hop. REP 2 to 6 speak
 * about the host the server was asked to reach, which is hop + 1: when this
 * hop is the last one that host is the target, and the error is a target
 * error (SL_E_TARGET_DENIED, _UNREACHABLE, _REFUSED, _TIMEOUT); otherwise
 * it is the next proxy, and the error is a proxy error of hop + 1
 * (SL_E_PROXY_DENIED, _UNREACHABLE, _REFUSED, _TIMEOUT), so route failover
 * sees a broken chain rather than an unreachable origin. The same holds
 * for the stream's timer: a timeout during the greeting, authentication or
 * request is a proxy timeout of this hop, but once the request is out the
 * server is busy reaching hop + 1, so the layer's hop and side move there
 * (l->hop = hop + 1, l->target = last_hop) and a timeout while the reply
 * is awaited is charged to that host.
 */
#ifndef SL_ENGINES_SOCKS5_H
#define SL_ENGINES_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "engines/stream.h"

#define SL_SOCKS5_VERSION 0x05
#define SL_SOCKS5_AUTH_VERSION 0x01 /* RFC 1929 sub-negotiation */
#define SL_SOCKS5_CMD_CONNECT 0x01

enum {
	SL_SOCKS5_METHOD_NONE = 0x00,
	SL_SOCKS5_METHOD_USERPASS = 0x02,
	SL_SOCKS5_METHOD_UNACCEPTABLE = 0xff,
};

enum {
	SL_SOCKS5_ATYP_IPV4 = 0x01,
	SL_SOCKS5_ATYP_DOMAIN = 0x03,
	SL_SOCKS5_ATYP_IPV6 = 0x04,
};

/* Longest messages: a greeting offering two methods; a sub-negotiation
 * with a 255-byte user and password; a request or reply with a 255-byte
 * name; the fixed head of a reply that tells its length. */
#define SL_SOCKS5_GREETING_MAX 4
#define SL_SOCKS5_AUTH_MAX (3 + 255 + 255)
#define SL_SOCKS5_REQUEST_MAX (5 + 255 + 2)
#define SL_SOCKS5_REPLY_MAX (5 + 255 + 2)
#define SL_SOCKS5_REPLY_HEAD 5
#define SL_SOCKS5_NAME_MAX 255

/* Where to CONNECT, and with which credentials. Strings are only read
 * while the layer is created (or while a message is encoded). */
typedef struct sl_socks5_target {
	const char *host;     /* a name, sent as ATYP 3 (the proxy resolves it);
				 an IP literal is sent as ATYP 1 or 4; NULL: addr */
	sl_addr addr;         /* the address resolved locally, when host is NULL */
	uint16_t port;
	const char *user;     /* NULL: no credentials, only no-auth is offered */
	const char *password; /* NULL with a user: an empty password */
} sl_socks5_target;

/* A decoded CONNECT reply. host points into the decoded buffer. */
typedef struct sl_socks5_reply {
	uint8_t rep;
	uint8_t atyp;
	sl_addr addr;         /* BND.ADDR for ATYP 1 and 4 */
	const uint8_t *host;  /* BND.ADDR for ATYP 3 (not NUL-terminated) */
	size_t host_len;
	uint16_t port;        /* BND.PORT */
} sl_socks5_reply;

/*
 * Encoders: write one client message into out (cap bytes) and return its
 * length, SL_E_SOCKS_NAME_TOO_LONG when a name, user or password is over
 * 255 bytes, or SL_E_INVAL when cap is too small or the target is empty.
 * The greeting offers no-auth, and username/password too when userpass.
 */
int sl_socks5_encode_greeting(uint8_t *out, size_t cap, bool userpass);
int sl_socks5_encode_auth(uint8_t *out, size_t cap, const char *user, const char *password);
int sl_socks5_encode_request(uint8_t *out, size_t cap, const sl_socks5_target *t);

/*
 * Decoders: read one server message from the n bytes at in. Each returns 0
 * when the message is complete and valid, a positive number when more is
 * needed (the total length of the message, so a reader asks for that many
 * bytes minus those it has), or a negative error.
 *
 * decode_method: the method selection (2 bytes); *method gets the method
 * chosen. SL_E_SOCKS_VERSION, SL_E_SOCKS_NO_METHOD (0xFF), or
 * SL_E_SOCKS_BAD_METHOD (one that was not offered; userpass says whether
 * username/password was).
 *
 * decode_auth: the RFC 1929 status (2 bytes). SL_E_SOCKS_VERSION when the
 * version is not 1, SL_E_PROXY_AUTH when the status is not 0.
 *
 * decode_reply: the CONNECT reply. Needs the 5-byte head, then the length
 * ATYP gives. Checks in this order: VER (SL_E_SOCKS_VERSION), REP (a
 * failure is returned once the head is in, as sl_socks5_rep_error(rep,
 * true): the rest does not matter and servers often close without it),
 * RSV and ATYP (SL_E_SOCKS_BAD_REPLY). r->rep is set whenever the head is
 * in, the address only on success.
 */
int sl_socks5_decode_method(const uint8_t *in, size_t n, bool userpass, uint8_t *method);
int sl_socks5_decode_auth(const uint8_t *in, size_t n);
int sl_socks5_decode_reply(const uint8_t *in, size_t n, sl_socks5_reply *r);

/*
 * The error for REP code rep (0 for success): 1 SL_E_SOCKS_GENERAL,
 * 2 denied, 3 and 4 unreachable, 5 refused, 6 timeout, 7
 * SL_E_SOCKS_CMD_UNSUPPORTED, 8 SL_E_SOCKS_ATYP_UNSUPPORTED, others
 * SL_E_SOCKS_UNKNOWN_REP. For 2 to 6, SL_E_TARGET_* when last_hop, else
 * the SL_E_PROXY_* code of the next hop (see the file comment).
 */
int sl_socks5_rep_error(unsigned rep, bool last_hop);

/*
 * Creates the handshake layer for hop (the index of the SOCKS server in
 * the route); last_hop says whether the CONNECT goes to the target rather
 * than to the next proxy. Everything needed from t is copied. A name, user
 * or password that is too long is not an error here: the handshake fails
 * with SL_E_SOCKS_NAME_TOO_LONG before a byte is sent. Push the result
 * with sl_stream_push(), which owns it from then on. Returns NULL when out
 * of memory or when t is NULL.
 */
sl_layer *sl_socks5_layer_new(const sl_socks5_target *t, int hop, bool last_hop);

#endif
