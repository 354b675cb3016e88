/*
 * Unit tests of the access log: Squid's native format field by field,
 * escaping of client-supplied URLs, JSON lines, writing to a file, and
 * reopening after rotation.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/accesslog.h"

static sl_access_entry entry(void)
{
	return (sl_access_entry){
		.start = 1700000000.123, .duration_ms = 105, .client = "127.0.0.1",
		.result = "TCP_MISS", .status = 200, .bytes = 1234, .bytes_in = 80,
		.method = "GET", .url = "http://example.com/", .user = "-",
		.route = "HIER_DIRECT/93.184.216.34", .content_type = "text/html",
	};
}

Test(accesslog, squid_native_format)
{
	char out[512];
	sl_access_entry e = entry();
	sl_accesslog_format(SL_CONF_LOG_SQUID, &e, out, sizeof out);
	cr_assert_str_eq(out, "1700000000.123    105 127.0.0.1 TCP_MISS/200 1234 GET "
			      "http://example.com/ - HIER_DIRECT/93.184.216.34 text/html");
}

Test(accesslog, squid_missing_fields_are_dashes)
{
	char out[512];
	sl_access_entry e = entry();
	e.content_type = NULL;
	e.user = NULL;
	e.route = NULL;
	e.status = 0;
	e.result = "NONE";
	sl_accesslog_format(SL_CONF_LOG_SQUID, &e, out, sizeof out);
	cr_assert_not_null(strstr(out, " NONE/000 1234 GET http://example.com/ - HIER_NONE/- -"),
			   "%s", out);
}

Test(accesslog, squid_escapes_spaces_and_controls)
{
	char out[512];
	sl_access_entry e = entry();
	e.url = "http://h/a b\n\x01";
	sl_accesslog_format(SL_CONF_LOG_SQUID, &e, out, sizeof out);
	cr_assert_not_null(strstr(out, " http://h/a%20b%0A%01 "), "%s", out);
	cr_assert_null(strchr(out, '\n'));
}

Test(accesslog, json_line)
{
	char out[1024];
	sl_access_entry e = entry();
	e.url = "http://h/\"q\"";
	e.error = "connection refused";
	sl_accesslog_format(SL_CONF_LOG_JSON, &e, out, sizeof out);
	cr_assert_not_null(strstr(out, "{\"time\":1700000000.123,\"duration_ms\":105,"));
	cr_assert_not_null(strstr(out, "\"status\":200,\"bytes\":1234,\"bytes_in\":80"));
	cr_assert_not_null(strstr(out, "\"url\":\"http://h/\\\"q\\\"\""), "%s", out);
	cr_assert_not_null(strstr(out, "\"error\":\"connection refused\"}"), "%s", out);
	cr_assert_not_null(strstr(out, "\"user\":\"\""), "%s", out);
}

Test(accesslog, truncates_safely)
{
	char out[40];
	sl_access_entry e = entry();
	size_t n = sl_accesslog_format(SL_CONF_LOG_SQUID, &e, out, sizeof out);
	cr_assert_lt(n, sizeof out);
	cr_assert_eq(strlen(out), n);
}

static size_t slurp(const char *p, char *buf, size_t cap)
{
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return n;
}

Test(accesslog, writes_lines_and_reopens)
{
	char path[64], rotated[72], buf[2048];
	int err;
	snprintf(path, sizeof path, "/tmp/sl-access-%d.log", (int)getpid());
	snprintf(rotated, sizeof rotated, "%s.1", path);
	unlink(path);
	sl_accesslog *l = sl_accesslog_open(path, SL_CONF_LOG_SQUID, &err);
	cr_assert_not_null(l);
	sl_access_entry e = entry();
	sl_accesslog_write(l, &e);
	cr_assert_eq(rename(path, rotated), 0);
	cr_assert_eq(sl_accesslog_reopen(l), 0);
	e.status = 404;
	sl_accesslog_write(l, &e);
	sl_accesslog_close(l);
	slurp(rotated, buf, sizeof buf);
	cr_assert_not_null(strstr(buf, "TCP_MISS/200"));
	cr_assert_null(strstr(buf, "TCP_MISS/404"));
	slurp(path, buf, sizeof buf);
	cr_assert_not_null(strstr(buf, "TCP_MISS/404"));
	cr_assert_eq(strchr(buf, '\n') - buf + 1, (long)strlen(buf), "one line");
	unlink(path);
	unlink(rotated);
}

Test(accesslog, empty_path_drops_and_bad_path_fails)
{
	int err;
	sl_accesslog *l = sl_accesslog_open("", SL_CONF_LOG_SQUID, &err);
	cr_assert_not_null(l);
	sl_access_entry e = entry();
	sl_accesslog_write(l, &e);
	sl_accesslog_close(l);
	cr_assert_null(sl_accesslog_open("/nonexistent-dir/x.log", SL_CONF_LOG_SQUID, &err));
	cr_assert_lt(err, 0);
}
