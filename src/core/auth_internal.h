/*
 * What the authenticator's files share and nobody else uses: a cursor over
 * one field value and the auth-param tokenizer of RFC 9110 section 11.2
 * (token BWS "=" BWS ( token / quoted-string )), used for challenges in
 * auth.c and for Authentication-Info in auth_digest.c. Values come out raw:
 * a quoted-string without its quotes but with its quoted-pairs still in, to
 * be compared or copied with the helpers below. Nothing allocates.
 */
#ifndef SL_CORE_AUTH_INTERNAL_H
#define SL_CORE_AUTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/auth.h"
#include "core/slice.h"

typedef struct sl__auth_cur {
	const char *p;
	const char *end;
} sl__auth_cur;

/* Whether a is one of the -sess algorithms (H(A1) keyed by the nonces). */
bool sl__auth_algo_sess(enum sl_auth_algo a);

/*
 * Reads one auth-param at the cursor into *name and *raw and leaves the
 * cursor after it. Returns 0, or SL_E_AUTH_SYNTAX (cursor unspecified).
 */
int sl__auth_param(sl__auth_cur *c, sl_slice *name, sl_slice *raw);

/*
 * Reads the next auth-param of a #auth-param list (Authentication-Info),
 * skipping empty elements. Returns 1, 0 at the end, or SL_E_AUTH_SYNTAX.
 */
int sl__auth_params_next(sl__auth_cur *c, sl_slice *name, sl_slice *raw);

/* Whether raw, quoted-pairs undone, equals s ignoring ASCII case. */
bool sl__auth_val_eq(sl_slice raw, const char *s);

/*
 * Copies raw with its quoted-pairs undone and a NUL into out (cap bytes).
 * Returns the length, or SL_E_AUTH_TOO_LONG (out holds "").
 */
int sl__auth_unescape(sl_slice raw, char *out, size_t cap);

#endif
