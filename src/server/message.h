/*
 * The message rules of a forwarding proxy, as pure functions over parsed
 * fields: which fields a forwarded request and response keep (hop-by-hop
 * removal per RFC 9110 section 7.6.1, plus the fields this proxy writes
 * itself), Via (section 7.6.3) and loop detection, Max-Forwards for OPTIONS
 * and TRACE (section 7.6.2), how a response is framed for the client
 * (Content-Length, chunked or close-delimited), the serialised response
 * head, and the TRACE echo. Nothing here allocates or keeps state; every
 * output goes into memory the caller owns. Safe from any thread.
 */
#ifndef SL_SERVER_MESSAGE_H
#define SL_SERVER_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/headers.h"
#include "core/http_parse.h"
#include "core/slice.h"

/* The methods a local OPTIONS answer lists. */
#define SL_MSG_ALLOW "GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH"

/*
 * Copies the fields of a client request that go upstream into out (room
 * for cap; n is enough): every field but the hop-by-hop ones (Connection
 * and what it names, Keep-Alive, Proxy-Connection, Proxy-Authorization,
 * Proxy-Authenticate, TE, Trailer, Transfer-Encoding, Upgrade) and those
 * the proxy or the client stack writes itself (Host, which comes from the
 * absolute URL as RFC 9112 section 3.2.2 asks; Content-Length; Expect;
 * Max-Forwards and Via, rewritten by the caller). Order is kept. Returns
 * the count.
 */
size_t sl_msg_request_fields(const sl_field *in, size_t n, sl_field *out, size_t cap);

/*
 * Copies the fields of an upstream response that go to the client into out
 * (room for cap): every field but the hop-by-hop ones and the framing
 * fields, which the proxy writes itself; Content-Length is kept when
 * keep_length (the answer to HEAD, or a 304, where it describes the
 * representation rather than this message). Returns the count.
 */
size_t sl_msg_response_fields(const sl_field *in, size_t n, bool keep_length, sl_field *out,
			      size_t cap);

/*
 * The value of Max-Forwards: 0 and up (saturating at INT32_MAX), or -1
 * when the field is absent or not a number (then it is left alone).
 */
int64_t sl_msg_max_forwards(const sl_field *f, size_t n);

/*
 * Whether any Via element of f names received_by (ASCII case-insensitive):
 * the request already passed through this proxy, a forwarding loop.
 */
bool sl_msg_via_has(const sl_field *f, size_t n, sl_slice received_by);

/*
 * Writes the Via value a message leaves with into out (cap bytes, NUL-
 * terminated): the values of its Via fields in order, joined with ", ",
 * then "1.1 " and ours (one field line: some recipients read only the
 * first). Returns the length, or 0 when cap is too small.
 */
size_t sl_msg_via_value(const sl_field *f, size_t n, const char *ours, char *out, size_t cap);

/*
 * Writes this proxy's received-by name for Via into out: the host name
 * (characters outside letters, digits, '-' and '.' dropped; "sluice" when
 * nothing is left) and ":port" when port is not 0. Returns the length, or
 * 0 when cap is too small.
 */
size_t sl_msg_via_name(const char *hostname, uint16_t port, char *out, size_t cap);

/* What decides the framing of a response to the client. */
typedef struct sl_msg_frame_in {
	enum sl_http_method method;    /* of the request */
	int client_minor;              /* the request's HTTP/1.x minor version */
	bool client_keep_alive;        /* the request allows persistence */
	bool force_close;              /* close anyway: draining, body unread... */
	int status;
	enum sl_http_body up_framing;  /* as the client stack read it */
	uint64_t content_length;       /* when up_framing is LENGTH */
} sl_msg_frame_in;

typedef struct sl_msg_frame {
	enum sl_http_body framing;     /* NONE, LENGTH, CHUNKED or CLOSE */
	uint64_t content_length;       /* when LENGTH */
	bool keep_alive;               /* the connection stays open afterwards */
	bool keep_length;              /* pass the upstream Content-Length through
	                                  (HEAD, 304): see sl_msg_response_fields() */
} sl_msg_frame;

/*
 * Decides how the proxy frames a response for its client: no body for
 * HEAD, 1xx, 204 and 304; Content-Length when the upstream gave one;
 * otherwise chunked for an HTTP/1.1 client, or close-delimited (and the
 * connection closes) for an HTTP/1.0 client.
 */
void sl_msg_frame_response(const sl_msg_frame_in *in, sl_msg_frame *out);

/*
 * Serialises a response head into out (cap bytes): "HTTP/1.1 status
 * reason", the fields, the framing fields of fr, Via (the response's own Via
 * values and "1.1 <via>" in one field line), Connection (close, or
 * keep-alive for an HTTP/1.0 client that keeps the connection) and the
 * blank line. via may be NULL (Via fields then pass as they are). Returns
 * the length, or 0 when cap is too small.
 */
size_t sl_msg_response_head(char *out, size_t cap, int status, sl_slice reason,
			    const sl_field *f, size_t n, const sl_msg_frame *fr, int client_minor,
			    const char *via);

/*
 * Writes the body of a local TRACE answer (message/http): the request line
 * and the fields as received, except those that carry credentials or
 * cookies (Authorization, Proxy-Authorization, Cookie), and the blank line.
 * Returns the length, or 0 when cap is too small.
 */
size_t sl_msg_trace_body(const sl_http_request *rq, char *out, size_t cap);

#endif
