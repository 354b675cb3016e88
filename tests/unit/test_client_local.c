/*
 * Unit tests of the local schemes and the scheme table: data: URLs (RFC
 * 2397: base64, percent-encoding, media types, errors, pausing) and file:
 * URLs (a file read in chunks, a missing file as an ordinary reply error, a
 * directory, a foreign host, percent-encoded names, abort).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/manager.h"
#include "client/scheme.h"
#include "client_util.h"
#include "core/err.h"

static int send_url(env *e, const char *method, const char *url, rec *rc)
{
	sl_request rq;
	sl_reply *r = NULL;
	int err;

	sl_request_init(&rq, method, url);
	err = sl_manager_send(e->m, &rq, &rec_cbs, rc, &r);
	rc->r = r;
	return err;
}

static void fetch(env *e, const char *url, rec *rc)
{
	cr_assert_eq(send_url(e, "GET", url, rc), 0);
	cr_assert_eq(rc->dones, 0, "never from inside send");
	cr_assert(run_until(e->loop, pred_done, rc, 5));
}

Test(client_data, base64)
{
	env e;
	rec rc = {0};

	env_init(&e, NULL);
	env_manager(&e);
	fetch(&e, "data:text/plain;base64,SGVsbG8sIFdvcmxkIQ==", &rc);
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.status, 200);
	cr_assert_str_eq(rc.body, "Hello, World!");
	cr_assert_str_eq(rc.ctype, "text/plain");
	cr_assert_eq(rc.framing, SL_BODY_LENGTH);
	cr_assert_eq(rc.clen, 13);
	cr_assert_eq(g_net.connects, 0);
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_data, percent_encoded_with_default_type)
{
	env e;
	rec rc = {0};

	env_init(&e, NULL);
	env_manager(&e);
	fetch(&e, "data:,A%20brief%20note%2C%00end", &rc);
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.nbody, 17);
	cr_assert_eq(memcmp(rc.body, "A brief note,\0end", 17), 0);
	cr_assert_str_eq(rc.ctype, "text/plain;charset=US-ASCII");
	sl_reply_unref(rc.r);
	rec_free(&rc);
	env_fini(&e);
}

Test(client_data, media_types_and_parameters)
{
	env e;
	rec a = {0}, b = {0}, c = {0};

	env_init(&e, NULL);
	env_manager(&e);
	fetch(&e, "data:text/html;charset=utf-8,%3Ch1%3Ehi%3C/h1%3E", &a);
	cr_assert_str_eq(a.ctype, "text/html;charset=utf-8");
	cr_assert_str_eq(a.body, "<h1>hi</h1>");
	fetch(&e, "data:;charset=utf-8,x", &b);
	cr_assert_str_eq(b.ctype, "text/plain;charset=utf-8");
	cr_assert_str_eq(b.body, "x");
	fetch(&e, "data:application/octet-stream;BASE64,AAEC#frag", &c);
	cr_assert_str_eq(c.ctype, "application/octet-stream");
	cr_assert_eq(c.nbody, 3);
	cr_assert_eq(memcmp(c.body, "\0\1\2", 3), 0);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	sl_reply_unref(c.r);
	rec_free(&a);
	rec_free(&b);
	rec_free(&c);
	env_fini(&e);
}

Test(client_data, malformed_urls_fail_at_send)
{
	env e;
	rec rc = {0};

	env_init(&e, NULL);
	env_manager(&e);
	cr_assert_eq(send_url(&e, "GET", "data:text/plain;base64,SGV*bG8=", &rc), SL_E_INVAL);
	cr_assert_null(rc.r);
	cr_assert_eq(send_url(&e, "GET", "data:text/plain;base64,SGVsbG8=QQ==", &rc), SL_E_INVAL);
	cr_assert_eq(send_url(&e, "GET", "data:no-comma", &rc), SL_E_INVAL);
	cr_assert_eq(send_url(&e, "POST", "data:,x", &rc), SL_E_UNSUPPORTED);
	run_for(e.loop, 0.02);
	cr_assert_eq(rc.dones, 0);
	env_fini(&e);
}

Test(client_data, head_and_empty)
{
	env e;
	rec a = {0}, b = {0};

	env_init(&e, NULL);
	env_manager(&e);
	cr_assert_eq(send_url(&e, "HEAD", "data:,abc", &a), 0);
	cr_assert(run_until(e.loop, pred_done, &a, 5));
	cr_assert_eq(a.heads, 1);
	cr_assert_eq(a.clen, 3);
	cr_assert_eq(a.datas, 0);
	fetch(&e, "data:,", &b);
	cr_assert_eq(b.err, 0);
	cr_assert_eq(b.datas, 0);
	cr_assert_eq(b.clen, 0);
	sl_reply_unref(a.r);
	sl_reply_unref(b.r);
	env_fini(&e);
}

Test(client_data, pause_holds_delivery)
{
	env e;
	rec rc = {0};
	size_t n = 60000, k;
	char *url = malloc(n + 16);

	k = (size_t)sprintf(url, "data:,");
	memset(url + k, 'd', n);
	url[k + n] = '\0';
	env_init(&e, NULL);
	env_manager(&e);
	rc.pause_on_first_data = true;
	cr_assert_eq(send_url(&e, "GET", url, &rc), 0);
	cr_assert(run_until(e.loop, pred_data, &rc, 5));
	run_for(e.loop, 0.05);
	cr_assert_eq(rc.datas, 1);
	cr_assert_lt(rc.nbody, n);
	cr_assert_eq(rc.dones, 0);
	rc.paused = false;
	sl_reply_resume(rc.r);
	cr_assert(run_until(e.loop, pred_done, &rc, 5));
	cr_assert_eq(rc.nbody, n);
	cr_assert_eq(rc.data_while_paused, 0);
	sl_reply_unref(rc.r);
	rec_free(&rc);
	free(url);
	env_fini(&e);
}

/* ---- file: ---- */

static char *make_file(const char *name, size_t n)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "/tmp/sl_client_%d_%s", (int)getpid(), name);
	f = fopen(path, "wb");
	cr_assert(f);
	for (size_t i = 0; i < n; i++)
		fputc((int)(i % 251), f);
	fclose(f);
	return path;
}

Test(client_file, existing_file_in_chunks)
{
	env e;
	rec rc = {0};
	char url[512];
	size_t n = 300000;
	const char *path = make_file("big", n);
	sl_manager_stats ms;

	env_init(&e, NULL);
	env_manager(&e);
	snprintf(url, sizeof url, "file://%s", path);
	fetch(&e, url, &rc);
	cr_assert_eq(rc.err, 0);
	cr_assert_eq(rc.status, 200);
	cr_assert_eq(rc.clen, n);
	cr_assert_eq(rc.nbody, n);
	cr_assert_gt(rc.datas, 1, "read in chunks");
	for (size_t i = 0; i < n; i++)
		cr_assert_eq((unsigned char)rc.body[i], i % 251);
	sl_manager_get_stats(e.m, &ms);
	cr_assert_eq(ms.active, 0);
	sl_reply_unref(rc.r);
	rec_free(&rc);
	unlink(path);
	env_fini(&e);
}

Test(client_file, missing_file_is_a_reply_error)
{
	env e;
	rec rc = {0};
	sl_reply_error er;

	env_init(&e, NULL);
	env_manager(&e);
	fetch(&e, "file:///nonexistent/sluice/file", &rc);
	cr_assert_eq(rc.err, -ENOENT);
	cr_assert_eq(rc.heads, 0);
	sl_reply_get_error(rc.r, &er);
	cr_assert_eq(er.code, -ENOENT);
	cr_assert_eq(er.phase, SL_PHASE_LOCAL);
	cr_assert_eq(sl_reply_status(rc.r), 0);
	sl_reply_unref(rc.r);
	env_fini(&e);
}

Test(client_file, directory_and_foreign_host)
{
	env e;
	rec a = {0}, b = {0};

	env_init(&e, NULL);
	env_manager(&e);
	fetch(&e, "file:///tmp", &a);
	cr_assert_eq(a.err, -EISDIR);
	cr_assert_eq(send_url(&e, "GET", "file://elsewhere/etc/hosts", &b), SL_E_UNSUPPORTED);
	cr_assert_eq(send_url(&e, "PUT", "file:///tmp/x", &b), SL_E_UNSUPPORTED);
	sl_reply_unref(a.r);
	env_fini(&e);
}

Test(client_file, percent_encoded_name_and_localhost)
{
	env e;
	rec rc = {0}, h = {0};
	char path[256], url[512];
	FILE *f;

	snprintf(path, sizeof path, "/tmp/sl client %d", (int)getpid());
	f = fopen(path, "w");
	cr_assert(f);
	fputs("spaced", f);
	fclose(f);
	env_init(&e, NULL);
	env_manager(&e);
	snprintf(url, sizeof url, "file://localhost/tmp/sl%%20client%%20%d", (int)getpid());
	fetch(&e, url, &rc);
	cr_assert_eq(rc.err, 0);
	cr_assert_str_eq(rc.body, "spaced");
	cr_assert_str_eq(rc.ctype, "application/octet-stream");
	cr_assert_eq(send_url(&e, "HEAD", url, &h), 0);
	cr_assert(run_until(e.loop, pred_done, &h, 5));
	cr_assert_eq(h.clen, 6);
	cr_assert_eq(h.datas, 0);
	sl_reply_unref(rc.r);
	sl_reply_unref(h.r);
	rec_free(&rc);
	unlink(path);
	env_fini(&e);
}

Test(client_file, abort_midway)
{
	env e;
	rec rc = {0};
	char url[512];
	const char *path = make_file("abort", 500000);

	env_init(&e, NULL);
	env_manager(&e);
	rc.abort_on_first_data = true;
	snprintf(url, sizeof url, "file://%s", path);
	cr_assert_eq(send_url(&e, "GET", url, &rc), 0);
	cr_assert(run_until(e.loop, pred_data, &rc, 5));
	run_for(e.loop, 0.05);
	cr_assert_eq(rc.datas, 1);
	cr_assert_eq(rc.dones, 0);
	cr_assert(sl_reply_finished(rc.r));
	sl_reply_unref(rc.r);
	rec_free(&rc);
	unlink(path);
	env_fini(&e);
}

/* ---- the table ---- */

Test(client_scheme, table_rows)
{
	const sl_scheme *s;
	size_t n;

	s = sl_scheme_find(SL_SLICE_LIT("HTTP"));
	cr_assert(s);
	cr_assert_str_eq(s->name, "http");
	cr_assert_eq(s->default_port, 80);
	cr_assert(s->network && s->cacheable && !s->tls);
	s = sl_scheme_find(SL_SLICE_LIT("https"));
	cr_assert(s && s->tls && s->default_port == 443);
	s = sl_scheme_find(SL_SLICE_LIT("data"));
	cr_assert(s && !s->network && !s->cacheable && s->start);
	cr_assert(sl_scheme_find(SL_SLICE_LIT("file")));
	cr_assert_null(sl_scheme_find(SL_SLICE_LIT("ftp")));
	sl_scheme_table(&n);
	cr_assert_eq(n, 4);
}
