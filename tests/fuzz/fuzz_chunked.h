/*
 * The chunked-body half of the request and response fuzz targets: decodes a
 * body fed in pieces and digests what came out, so that two ways of feeding
 * the same bytes can be compared. Included by fuzz_request.c and
 * fuzz_response.c only (static functions, one copy per target).
 */
#ifndef SL_FUZZ_CHUNKED_H
#define SL_FUZZ_CHUNKED_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/http_parse.h"

/* Chunked decode of d[0..n) fed in pieces ending at cuts; a digest out. */
struct dig {
	int r;
	size_t err_off, used, ndata, ntr;
	uint64_t hash;
};

static void mix(uint64_t *h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		*h = (*h ^ (uint8_t)p[i]) * 0x100000001b3ULL;
}

static void chunks(const sl_http_limits *l, bool response, const uint8_t *d,
		   size_t n, const size_t *cuts, size_t nc, struct dig *o)
{
	sl_chunked k;
	char *pend = malloc(n + 1);
	size_t plen = 0, fed = 0;

	memset(o, 0, sizeof *o);
	o->r = SL_E_AGAIN;
	o->hash = 1469598103934665603ULL;
	sl_chunked_init(&k, l, response);
	for (size_t c = 0; c < nc && o->r == SL_E_AGAIN; c++) {
		memcpy(pend + plen, d + fed, cuts[c] - fed);
		plen += cuts[c] - fed;
		fed = cuts[c];
		for (;;) {
			char *b = malloc(plen ? plen : 1);
			sl_chunk_out out;
			size_t used;
			int r;

			memcpy(b, pend, plen);
			r = sl_chunked_decode(&k, b, plen, &used, &out);
			assert(used <= plen);
			if (r == SL_CHUNK_DATA) {
				assert(out.data.n > 0 && out.data.p >= b &&
				       out.data.p + out.data.n <= b + used);
				mix(&o->hash, out.data.p, out.data.n);
				o->ndata += out.data.n;
			} else if (r == SL_CHUNK_TRAILER) {
				assert(out.trailer.name.p >= b &&
				       out.trailer.value.p + out.trailer.value.n <=
					       b + used);
				mix(&o->hash, out.trailer.name.p, out.trailer.name.n);
				mix(&o->hash, "=", 1);
				mix(&o->hash, out.trailer.value.p,
				    out.trailer.value.n);
				o->ntr++;
			}
			free(b);
			memmove(pend, pend + used, plen - used);
			plen -= used;
			o->used += used;
			if (r == SL_CHUNK_DATA || r == SL_CHUNK_TRAILER)
				continue;
			o->r = r;
			if (r < 0 && r != SL_E_AGAIN)
				o->err_off = k.err_off;
			break;
		}
	}
	free(pend);
}

static void same_dig(const struct dig *a, const struct dig *b)
{
	assert(a->r == b->r);
	assert(a->err_off == b->err_off);
	if (a->r >= 0 || a->r == SL_E_AGAIN)
		assert(a->used == b->used);
	assert(a->ndata == b->ndata && a->ntr == b->ntr && a->hash == b->hash);
}

#endif
