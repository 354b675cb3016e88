/*
 * The URL schemes the manager serves, as one static table: each row names
 * a scheme, its default port, the functions that start, pause/resume and
 * cancel a reply for it, and whether its responses may be cached. Dispatch
 * in the manager and scheme validation in the configuration both read the
 * table, so adding a scheme is one file with its handlers and one row in
 * scheme.c (Qt has no plug-in point for this).
 *
 * Handler contract: start() runs inside sl_manager_send(), on a reply whose
 * request is already copied and parsed, and must not call the reply's
 * callbacks itself (it defers work to the loop); it returns 0 or an error
 * that makes sl_manager_send() fail. resume() is called when the caller
 * resumes a paused reply, cancel() when the reply is aborted or the manager
 * freed; both may be NULL.
 */
#ifndef SL_CLIENT_SCHEME_H
#define SL_CLIENT_SCHEME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/reply.h"
#include "core/slice.h"

typedef struct sl_scheme {
	const char *name;
	uint16_t default_port;   /* 0 when the scheme has no port */
	bool network;            /* served by connections and channels */
	bool tls;                /* network scheme over TLS to the target */
	bool cacheable;          /* responses may be stored by the proxy cache */
	int (*start)(sl_reply *r);
	void (*resume)(sl_reply *r);
	void (*cancel)(sl_reply *r);
} sl_scheme;

/* Returns the row of scheme name (ASCII case-insensitive), or NULL. */
const sl_scheme *sl_scheme_find(sl_slice name);

/* Returns the table and sets *n to its length (for listings). */
const sl_scheme *sl_scheme_table(size_t *n);

#endif
