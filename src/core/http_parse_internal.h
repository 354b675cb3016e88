/*
 * What the head parser (http_parse.c) shares with the chunked decoder
 * (http_chunked.c) and nothing else may use: the character-class table,
 * the control-byte search and the field-line reader, so that trailer fields
 * are checked exactly like header fields.
 */
#ifndef SL_CORE_HTTP_PARSE_INTERNAL_H
#define SL_CORE_HTTP_PARSE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/headers.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Character classes of sl__http_cls, one table lookup per byte. */
enum {
	SL__C_TCHAR = 1 << 0,   /* token, RFC 9110 5.6.2 */
	SL__C_TGT = 1 << 1,     /* path and query, RFC 3986, except '%' */
	SL__C_AUTH = 1 << 2,    /* authority of an absolute-form, except '%' */
	SL__C_HOST = 1 << 3,    /* Host value: uri-host [ ":" port ] */
	SL__C_CTL = 1 << 4,     /* below 0x20 or DEL: a byte the scan looks at */
	SL__C_HEX = 1 << 5,
	SL__C_SCHEME = 1 << 6,
	SL__C_DIGIT = 1 << 7,
};

extern const uint8_t sl__http_cls[256];

/*
 * Returns the first index in [pos, end) holding a control byte (below 0x20
 * or DEL), or end. Reads may go up to len, the real end of the buffer, so
 * the vector loop can run over the end of a line.
 */
static inline size_t sl__http_skip_plain(const char *b, size_t pos,
					 size_t end, size_t len)
{
#ifdef __SSE2__
	const __m128i c1f = _mm_set1_epi8(0x1f);
	const __m128i del = _mm_set1_epi8(0x7f);

	while (pos < end && len - pos >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + pos));
		__m128i lo = _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v);
		__m128i m = _mm_or_si128(lo, _mm_cmpeq_epi8(v, del));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);

		if (bits) {
			pos += (size_t)__builtin_ctz(bits);
			return pos < end ? pos : end;
		}
		pos += 16;
	}
	if (pos >= end)
		return end;
#else
	(void)len;
#endif
	while (pos < end && !(sl__http_cls[(uint8_t)b[pos]] & SL__C_CTL))
		pos++;
	return pos;
}

/*
 * Reads one field line starting at b[pos] (which is not CR or LF) and
 * ending before end; len is the buffer's real end. On success fills *f,
 * sets *next to the start of the following line and returns 0. Otherwise
 * returns the error (SL_E_AGAIN if end came first) with *at its offset.
 * A line opening with whitespace is obs-fold, or a bad name when first.
 */
int sl__http_field_line(const char *b, size_t pos, size_t end, size_t len,
			bool lf_ok, bool first, sl_field *f, size_t *next,
			size_t *at);

#endif
