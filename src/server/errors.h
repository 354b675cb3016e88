/*
 * How the proxy answers a failure: one function maps an error code (core/
 * err.h) and the side it came from to an HTTP status, a reason phrase, a
 * short cause for the one-line text/plain body, the access-log result code
 * and whether the client connection must close afterwards. Every error
 * answer of the server goes through it, so the mapping is one table to read
 * and to test. Pure functions over static data; safe from any thread.
 */
#ifndef SL_SERVER_ERRORS_H
#define SL_SERVER_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

/* Where an error arose. */
typedef enum sl_err_side {
	SL_SIDE_CLIENT,    /* the client's request: parsing, limits, timeouts */
	SL_SIDE_UPSTREAM,  /* reaching or reading the origin (or a tunnel's target) */
	SL_SIDE_TUNNEL,    /* a CONNECT tunnel's target */
	SL_SIDE_PROXY,     /* a proxy hop of a forwarded request's route */
	SL_SIDE_TUNNEL_PROXY, /* a proxy hop of a CONNECT tunnel's route */
} sl_err_side;

/* The answer to send for an error. Strings are static. */
typedef struct sl_error_answer {
	int status;          /* 400, 403, 408, 414, 431, 500, 502, 503, 504 */
	const char *reason;  /* the status's reason phrase */
	const char *cause;   /* "cannot resolve the host", first words of the body */
	const char *result;  /* access-log result: NONE, TCP_DENIED, TCP_MISS, TCP_TUNNEL */
	bool close;          /* the client connection closes after the answer */
} sl_error_answer;

/*
 * Fills *out for code (a negative SL_E_* or -errno) from side. Client-side
 * errors (malformed or oversized requests, a header timeout) close the
 * connection, since the request's framing cannot be trusted; upstream
 * errors do not (the request was read in full). Unknown codes map to 400
 * (client) or 502 (upstream). A proxy hop's failure is 502 whatever it is
 * (refused, unreachable, closed, TLS, credentials refused or missing, a
 * refused CONNECT), except timeouts (504): the client never gets a 407 for
 * an upstream's credentials, which are the proxy's business, not its.
 */
void sl_errors_map(int code, sl_err_side side, sl_error_answer *out);

/*
 * Writes the one-line body for an answer: "<cause>: <detail>\n" where
 * detail is the given text or, when NULL or empty, sl_strerror(code).
 * Returns the length written (truncated to cap - 1; out is NUL-terminated).
 */
size_t sl_errors_body(const sl_error_answer *a, int code, const char *detail, char *out,
		      size_t cap);

/* The reason phrase of a status ("Bad Gateway"), "Unknown" for others. */
const char *sl_http_reason(int status);

#endif
