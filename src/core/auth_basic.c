/*
 * The Basic scheme (RFC 7617): "Basic " followed by the base64 (RFC 4648
 * section 4, with padding) of user-id ":" password. The octets are the
 * caller's, sent as they are: with charset=UTF-8 that is what the server
 * asked for, and without it servers differ anyway. The encoder reads the
 * three parts in place, so nothing is joined, copied or allocated.
 */
#include "core/auth.h"

#include <limits.h>
#include <string.h>

#include "core/err.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Octet i of user ":" pass. */
static unsigned char at(const sl_auth_cred *c, size_t i)
{
	if (i < c->user.n)
		return (unsigned char)c->user.p[i];
	if (i == c->user.n)
		return ':';
	return (unsigned char)c->pass.p[i - c->user.n - 1];
}

static bool has_ctl(sl_slice s)
{
	for (size_t i = 0; i < s.n; i++)
		if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f)
			return true;
	return false;
}

int sl_auth_basic(const sl_auth_cred *cred, char *out, size_t cap)
{
	if (cap)
		out[0] = '\0';
	if ((cred->user.n && memchr(cred->user.p, ':', cred->user.n)) ||
	    has_ctl(cred->user) || has_ctl(cred->pass))
		return SL_E_AUTH_BAD_CREDENTIALS;

	size_t len = cred->user.n + 1 + cred->pass.n;
	if (len < cred->user.n || len > (size_t)INT_MAX / 2)
		return SL_E_AUTH_BUFFER;
	size_t need = 6 + (len + 2) / 3 * 4;
	if (need >= cap)
		return SL_E_AUTH_BUFFER;

	memcpy(out, "Basic ", 6);
	char *o = out + 6;
	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		unsigned v = (unsigned)at(cred, i) << 16;
		if (left > 1)
			v |= (unsigned)at(cred, i + 1) << 8;
		if (left > 2)
			v |= at(cred, i + 2);
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = left > 1 ? b64[(v >> 6) & 63] : '=';
		*o++ = left > 2 ? b64[v & 63] : '=';
	}
	*o = '\0';
	return (int)need;
}
