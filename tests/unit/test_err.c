/*
 * Unit tests of the error table: every project code has its own name and
 * sentence, system codes fall through to glibc, unknown codes are safe.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/err.h"

Test(err, project_codes_have_names_and_sentences)
{
	cr_assert_str_eq(sl_errname(SL_E_HTTP_BARE_CR), "SL_E_HTTP_BARE_CR");
	cr_assert_str_eq(sl_strerror(SL_E_HTTP_BARE_CR), "bare CR in message");
	cr_assert_str_eq(sl_errname(SL_E_CONF_UNKNOWN_KEY), "SL_E_CONF_UNKNOWN_KEY");
	cr_assert_str_eq(sl_strerror(SL_OK), "success");
}

Test(err, system_codes_use_errno_text)
{
	cr_assert_str_eq(sl_errname(-ECONNREFUSED), "ECONNREFUSED");
	cr_assert_str_eq(sl_strerror(-ECONNREFUSED), "Connection refused");
}

Test(err, unknown_codes_are_safe)
{
	cr_assert_str_eq(sl_strerror(-999999), "unknown error");
	cr_assert_str_eq(sl_errname(-999999), "SL_E_UNKNOWN");
	cr_assert_str_eq(sl_strerror(5), "unknown error");
}

Test(err, every_code_in_the_project_range_is_distinct)
{
	/* No two codes share a sentence: each error reads differently in logs. */
	const char *seen[1000] = {0};
	int nseen = 0;
	for (int c = -1000; c > -2000; c--) {
		if (strcmp(sl_errname(c), "SL_E_UNKNOWN") == 0)
			continue;
		const char *s = sl_strerror(c);
		for (int i = 0; i < nseen; i++)
			cr_assert_str_neq(seen[i], s, "code %d repeats \"%s\"", c, s);
		seen[nseen++] = s;
	}
	cr_assert_gt(nseen, 50);
}
