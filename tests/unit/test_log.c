/*
 * Unit tests of the process log: level filtering and parsing, the line
 * format, truncation of long messages, reopening after rotation, and whole
 * lines from concurrent writers.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

static char path[64];

static void setup(void)
{
	snprintf(path, sizeof path, "/tmp/sl-test-log-%d.log", (int)getpid());
	unlink(path);
	cr_assert_eq(sl_log_open(path), 0);
	sl_log_set_level(SL_LOG_INFO);
	sl_log_set_thread_name(NULL);
}

static void teardown(void)
{
	sl_log_close();
	unlink(path);
}

static size_t slurp(const char *p, char *out, size_t cap)
{
	FILE *f = fopen(p, "r");
	size_t n = 0;
	if (f) {
		n = fread(out, 1, cap - 1, f);
		fclose(f);
	}
	out[n] = '\0';
	return n;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, level_filtering)
{
	char buf[4096];

	SL_DEBUG("hidden %d", 1);
	SL_INFO("shown %d", 2);
	SL_WARN("warned");
	sl_log_set_level(SL_LOG_ERROR);
	SL_WARN("hidden too");
	SL_ERROR("failed");
	slurp(path, buf, sizeof buf);
	cr_assert_null(strstr(buf, "hidden"));
	cr_assert_not_null(strstr(buf, "[info] shown 2\n"));
	cr_assert_not_null(strstr(buf, "[warn] warned\n"));
	cr_assert_not_null(strstr(buf, "[error] failed\n"));
	cr_assert_eq(count_lines(buf), 3);
}

Test(log, line_format_has_utc_timestamp_and_thread_name)
{
	char buf[4096];
	int y, mo, d, h, mi, s, ms;

	sl_log_set_thread_name("w3");
	SL_INFO("hello");
	slurp(path, buf, sizeof buf);
	cr_assert_eq(sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h, &mi, &s, &ms), 7);
	cr_assert_geq(y, 2024);
	cr_assert_not_null(strstr(buf, "Z [info] w3: hello\n"));
}

Test(log, long_message_is_cut_with_ellipsis)
{
	static char big[SL_LOG_LINE_MAX * 2];
	static char buf[SL_LOG_LINE_MAX * 4];

	memset(big, 'x', sizeof big - 1);
	SL_INFO("%s", big);
	size_t n = slurp(path, buf, sizeof buf);
	cr_assert_leq(n, SL_LOG_LINE_MAX);
	cr_assert_eq(count_lines(buf), 1);
	cr_assert_eq(memcmp(buf + n - 4, "...\n", 4), 0);
}

Test(log, reopen_after_rotation_writes_to_new_file)
{
	char rotated[80], buf[4096];

	snprintf(rotated, sizeof rotated, "%s.1", path);
	SL_INFO("before");
	cr_assert_eq(rename(path, rotated), 0);
	SL_INFO("still old");
	cr_assert_eq(sl_log_reopen(), 0);
	SL_INFO("after");
	slurp(rotated, buf, sizeof buf);
	cr_assert_not_null(strstr(buf, "before"));
	cr_assert_not_null(strstr(buf, "still old"));
	cr_assert_null(strstr(buf, "after"));
	slurp(path, buf, sizeof buf);
	cr_assert_not_null(strstr(buf, "after"));
	cr_assert_eq(count_lines(buf), 1);
	unlink(rotated);
}

Test(log, open_fails_on_bad_path_and_keeps_destination)
{
	char buf[4096];

	cr_assert_lt(sl_log_open("/nonexistent-dir/x/y.log"), 0);
	SL_INFO("kept");
	slurp(path, buf, sizeof buf);
	cr_assert_not_null(strstr(buf, "kept"));
}

static void *writer(void *arg)
{
	char name[16];

	snprintf(name, sizeof name, "t%d", (int)(long)arg);
	sl_log_set_thread_name(name);
	for (int i = 0; i < 500; i++)
		SL_INFO("line %d of a writer with some padding to make it longer", i);
	return NULL;
}

Test(log, concurrent_writers_never_interleave)
{
	pthread_t t[4];
	static char buf[1 << 20];

	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, writer, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	slurp(path, buf, sizeof buf);
	cr_assert_eq(count_lines(buf), 2000);
	for (char *l = buf; *l; l = strchr(l, '\n') + 1) {
		char *e = strchr(l, '\n');
		cr_assert_not_null(strstr(l, "padding to make it longer"));
		cr_assert_lt(strstr(l, "padding") - l, e - l);
	}
}

Test(log, level_parse_and_names)
{
	enum sl_log_level l;

	cr_assert_eq(sl_log_level_parse("debug", &l), 0);
	cr_assert_eq(l, SL_LOG_DEBUG);
	cr_assert_eq(sl_log_level_parse("WARNING", &l), 0);
	cr_assert_eq(l, SL_LOG_WARN);
	cr_assert_eq(sl_log_level_parse("Error", &l), 0);
	cr_assert_eq(l, SL_LOG_ERROR);
	cr_assert_eq(sl_log_level_parse("loud", &l), SL_E_INVAL);
	cr_assert_str_eq(sl_log_level_name(SL_LOG_INFO), "info");
}
