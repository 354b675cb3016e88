/*
 * libFuzzer target for the cache's object file format: any bytes are fed
 * to the store's check and field parser as a whole object file. A file
 * that passes must have its key, fields and body inside the input, fields
 * free of CR and LF, and must encode back, with the same metadata, key,
 * fields and body offset, to exactly its own header block.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/store_internal.h"
#include "core/err.h"

static sl_field fields[SL__NFIELDS_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sl__store_head h;
	const char *p = (const char *)data;

	int rc = sl__store_parse(data, size, &h, fields, SL__NFIELDS_MAX);
	if (rc < 0) {
		assert(rc == SL_E_CACHE_CORRUPT);
		return 0;
	}
	assert(h.key >= p && h.key + h.key_len <= p + size);
	assert(h.fields >= h.key + h.key_len && h.fields + h.fields_len <= p + size);
	assert(h.head_used <= h.body_off && h.body_off + h.meta.body_len == size);
	for (uint32_t i = 0; i < h.nfields; i++) {
		assert(fields[i].name.n > 0);
		assert(!memchr(fields[i].name.p, '\n', fields[i].name.n));
		assert(!memchr(fields[i].value.p, '\r', fields[i].value.n));
		assert(!memchr(fields[i].value.p, '\n', fields[i].value.n));
	}
	char *blk;
	size_t used;
	uint64_t boff;
	rc = sl__store_encode(&h.meta, sl_slice_make(h.key, h.key_len), fields, h.nfields,
			      h.body_off, &blk, &used, &boff);
	assert(rc == 0);
	assert(used == h.head_used && boff == h.body_off);
	assert(memcmp(blk, data, used) == 0);
	free(blk);
	return 0;
}
