/*
 * libFuzzer target for the configuration loader: any text either loads (and
 * then dumps, and the dump loads again) or fails with a report that names a
 * line inside the text. Nothing may crash, leak or read out of bounds.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sl_config *cfg = NULL;
	sl_config_error e;
	unsigned lines = 1;

	if (size > 1 << 16)
		return 0;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	/* password_env/password_file read the environment and files: fine,
	 * they only fail with a report here. */
	if (sl_config_load_string_ex((const char *)data, size, "fuzz", &cfg, &e) < 0) {
		assert(cfg == NULL);
		assert(e.line <= lines);
		assert(strncmp(sl_config_error_str(&e), "fuzz", 4) == 0);
		return 0;
	}
	char *dump = NULL;
	size_t dlen = 0;
	FILE *f = open_memstream(&dump, &dlen);
	assert(f && sl_config_dump(cfg, f) == 0);
	fclose(f);
	sl_config *again = NULL;
	int rc = sl_config_load_string_ex(dump, dlen, "dump", &again, &e);
	assert(rc == 0);
	sl_config_unref(again);
	sl_config_unref(cfg);
	free(dump);
	return 0;
}
