/*
 * The strict HTTP/1.1 message parser (RFC 9112): request heads, response
 * heads and the chunked transfer coding. It is incremental, zero-copy and
 * allocation-free: every slice it hands back points into the caller's buffer,
 * the caller owns the field array, and the only state kept between calls is
 * the small sl_http_parser or sl_chunked struct below. Head parsing follows
 * picohttpparser's contract: the caller presents the whole head received so
 * far (the buffer may move between calls, its contents may not change), and
 * gets the bytes consumed, SL_E_AGAIN, or an error code from core/err.h with
 * the offset of the offending byte in err_off. Nothing here is shared, so
 * any number of threads may parse with their own structs.
 */
#ifndef SL_CORE_HTTP_PARSE_H
#define SL_CORE_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/headers.h"
#include "core/slice.h"

/* The methods the stack treats specially; anything else is OTHER. */
enum sl_http_method {
	SL_METHOD_OTHER = 0,
	SL_METHOD_GET,
	SL_METHOD_HEAD,
	SL_METHOD_POST,
	SL_METHOD_PUT,
	SL_METHOD_DELETE,
	SL_METHOD_CONNECT,
	SL_METHOD_OPTIONS,
	SL_METHOD_TRACE,
	SL_METHOD_PATCH,
};

/* The four request-target forms of RFC 9112 section 3.2. */
enum sl_http_target_form {
	SL_TARGET_ORIGIN = 0,  /* "/path?query" */
	SL_TARGET_ABSOLUTE,    /* "http://host/path", for proxies */
	SL_TARGET_AUTHORITY,   /* "host:port", CONNECT only */
	SL_TARGET_ASTERISK,    /* "*", OPTIONS only */
};

/* How the message body is delimited (RFC 9112 section 6.3). */
enum sl_http_body {
	SL_BODY_NONE = 0,  /* no body at all */
	SL_BODY_LENGTH,    /* exactly content_length bytes (may be 0) */
	SL_BODY_CHUNKED,   /* chunked coding: use sl_chunked_decode() */
	SL_BODY_CLOSE,     /* response only: everything until the server closes */
	SL_BODY_TUNNEL,    /* response only: 2xx to CONNECT, bytes flow both ways */
};

/*
 * Limits on what a peer may send. All sizes count every byte, line endings
 * included. Start from SL_HTTP_LIMITS_DEFAULT and change what you need.
 */
typedef struct sl_http_limits {
	size_t max_request_line;   /* request-line, else SL_E_HTTP_URI_TOO_LONG */
	size_t max_header_bytes;   /* whole head, else SL_E_HTTP_HEADERS_TOO_LARGE
	                              (capped at INT_MAX) */
	size_t max_fields;         /* field lines (and trailer fields) per message */
	size_t max_chunk_ext;      /* extension bytes on one chunk-size line */
	size_t max_trailer_bytes;  /* whole trailer section */
	bool response_bare_lf;     /* accept a bare LF line ending in responses
	                              (and their chunked bodies); never in requests */
} sl_http_limits;

#define SL_HTTP_LIMITS_DEFAULT                                              \
	{                                                                   \
		.max_request_line = 8192, .max_header_bytes = 65536,        \
		.max_fields = 100, .max_chunk_ext = 4096,                   \
		.max_trailer_bytes = 16384, .response_bare_lf = true,       \
	}

/*
 * Head parser state. Initialise with sl_http_parser_init(); after a call
 * that returns bytes consumed or an error it is ready for the next message.
 * err_off is public: after an error it is the offset (from the start of the
 * buffer) of the byte that made the message invalid; for a limit, the first
 * byte past it; for a missing Host, the blank line. The scan_* members are
 * private bookkeeping of how far the previous calls have looked.
 */
typedef struct sl_http_parser {
	sl_http_limits limits;
	size_t err_off;
	size_t scan_pos;
	size_t scan_line;
	size_t scan_fields;
	uint8_t scan_phase;
	uint8_t scan_method;
	uint8_t scan_linestart;
	bool scanning;
} sl_http_parser;

/* A parsed request head. Every slice points into the caller's buffer. */
typedef struct sl_http_request {
	sl_slice method;
	enum sl_http_method meth;
	sl_slice target;
	enum sl_http_target_form form;
	int minor_version;          /* 0 or 1 */
	sl_field *fields;           /* the caller's array */
	size_t nfields;
	enum sl_http_body body;     /* NONE, LENGTH or CHUNKED */
	uint64_t content_length;    /* when body is LENGTH */
	sl_slice host;              /* Host field value, {NULL, 0} if absent */
	bool keep_alive;            /* persistence per RFC 9112 section 9.3 */
	bool expect_continue;       /* HTTP/1.1 with Expect: 100-continue */
	bool upgrade;               /* an Upgrade field is present */
} sl_http_request;

/* A parsed response head. Every slice points into the caller's buffer. */
typedef struct sl_http_response {
	int minor_version;          /* 0 or 1 */
	int status;                 /* 100 .. 599 */
	sl_slice reason;            /* may be empty */
	sl_field *fields;           /* the caller's array */
	size_t nfields;
	enum sl_http_body body;
	uint64_t content_length;    /* when body is LENGTH */
	bool keep_alive;            /* false when the body runs until close */
	bool upgrade;               /* an Upgrade field is present */
} sl_http_response;

/*
 * Prepares p for a new message with the given limits (copied; NULL means
 * the defaults).
 */
void sl_http_parser_init(sl_http_parser *p, const sl_http_limits *limits);

/* Forgets any partial progress so the next call starts a new message. */
void sl_http_parser_reset(sl_http_parser *p);

/*
 * Parses the request head at the start of buf[0..len). fields has room for
 * cap entries (fewer than limits.max_fields makes cap the limit); pass the
 * same cap on every call for one message. Returns the bytes of the head
 * (request-line, fields and the blank line, plus any empty lines before the
 * request-line), SL_E_AGAIN when the head is not complete yet (call again
 * with the same bytes and more), or a negative SL_E_HTTP_* code with
 * p->err_off set. *req is written only on success; fields may be written
 * on any call. Errors a single byte shows (control bytes, bare CR or LF, a
 * bad method character, too many fields, a limit passed) are reported as
 * soon as that byte arrives; other errors once the head is complete. The
 * result never depends on how the bytes were split across calls.
 */
int sl_http_parse_request(sl_http_parser *p, const char *buf, size_t len,
			  sl_http_request *req, sl_field *fields, size_t cap);

/*
 * Parses a response head like sl_http_parse_request() does a request.
 * req_method is the method of the request this answers: HEAD means no body,
 * CONNECT makes a 2xx a tunnel. Obsolete line folding is rejected
 * (SL_E_HTTP_OBS_FOLD): unfolding would need a copy.
 */
int sl_http_parse_response(sl_http_parser *p, const char *buf, size_t len,
			   enum sl_http_method req_method,
			   sl_http_response *res, sl_field *fields, size_t cap);

/* Maps a method name (case-sensitive) to its enum, or SL_METHOD_OTHER. */
enum sl_http_method sl_http_method_of(sl_slice name);

/* Returns the name of a body rule for logs ("chunked", "until-close"...). */
const char *sl_http_body_name(enum sl_http_body body);

/*
 * Chunked transfer coding (RFC 9112 section 7.1).
 *
 * The decoder is a byte-at-a-time resumable state machine for chunk-size
 * lines and extensions, so it consumes every byte of them as they arrive.
 * Chunk data is handed back as slices into the input, as much as is there.
 * Trailer fields come back one per call as slices; a trailer line still
 * incomplete is left unconsumed and must be presented again, at the start of
 * the next buffer, with the bytes that follow it (the decoder remembers how
 * much of it it already checked, so this is not quadratic). Extensions are
 * validated and skipped, as RFC 9112 lets a recipient ignore them. A caller
 * loops like this:
 *
 *   for (;;) {
 *           r = sl_chunked_decode(&d, buf + off, len - off, &used, &o);
 *           off += used;
 *           if (r == SL_CHUNK_DATA)
 *                   forward(o.data);
 *           else if (r == SL_CHUNK_TRAILER)
 *                   keep(o.trailer);
 *           else
 *                   break;
 *   }
 *
 * and then: on SL_CHUNK_DONE the next message starts at off; on SL_E_AGAIN
 * it keeps buf[off..len) (at most a partial trailer line) in front of the
 * next read; anything else is an error for d->err_off.
 */
enum sl_chunk_event {
	SL_CHUNK_DATA = 1,     /* out->data holds chunk bytes */
	SL_CHUNK_TRAILER = 2,  /* out->trailer holds one trailer field */
	SL_CHUNK_DONE = 3,     /* last chunk and trailer section consumed */
};

typedef struct sl_chunk_out {
	sl_slice data;
	sl_field trailer;
} sl_chunk_out;

typedef struct sl_chunked {
	uint64_t size;         /* current chunk-size, then data bytes left */
	uint64_t total;        /* input bytes consumed before this call */
	size_t err_off;        /* after an error: offset in the chunked stream */
	size_t ext_len;
	size_t trailer_bytes;
	size_t ntrailers;
	size_t scanned;        /* checked bytes of the pending trailer line */
	size_t max_ext;
	size_t max_trailer;
	size_t max_fields;
	int err;
	uint8_t state;
	bool lenient;
} sl_chunked;

/*
 * Prepares d to decode one chunked body. limits may be NULL (defaults);
 * response selects the bare-LF leniency of limits->response_bare_lf.
 */
void sl_chunked_init(sl_chunked *d, const sl_http_limits *limits,
		     bool response);

/*
 * Decodes from buf[0..len). *used is set to the bytes consumed, which the
 * caller must drop before the next call, whatever the result. Returns
 * SL_CHUNK_DATA, SL_CHUNK_TRAILER or SL_CHUNK_DONE (bytes after DONE belong
 * to the next message), SL_E_AGAIN when it needs more input (*used may
 * still be positive), or a negative SL_E_HTTP_* code with d->err_off set;
 * after an error or DONE every call returns the same result again.
 */
int sl_chunked_decode(sl_chunked *d, const char *buf, size_t len,
		      size_t *used, sl_chunk_out *out);

/* Returns the name of the decoder's state for logs ("size", "data"...). */
const char *sl_chunked_state_name(const sl_chunked *d);

#endif
