/*
 * Thread-safety checks of the code that several workers share, run under
 * ThreadSanitizer by `make tsan`: concurrent logging with a reopen racing
 * it, one configuration referenced and released from many threads, and the
 * stateless parsers used from many threads at once. It is a plain program
 * (Criterion's test runner cannot start under ThreadSanitizer); each check
 * prints its result and the last line is the usual "N passed, N failed".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/config.h"
#include "core/http_parse.h"
#include "core/log.h"
#include "core/url.h"

#define THREADS 4

static int passed, failed;

static void check(int ok, const char *name)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	if (ok)
		passed++;
	else
		failed++;
}

static void *log_writer(void *arg)
{
	(void)arg;
	sl_log_set_thread_name("w");
	for (int i = 0; i < 2000; i++)
		SL_INFO("line %d", i);
	return NULL;
}

static void *log_reopener(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++)
		sl_log_reopen();
	return NULL;
}

static int test_log(void)
{
	char path[64];
	pthread_t t[THREADS + 1];
	int lines = 0, c;

	snprintf(path, sizeof path, "/tmp/sl-tsan-%d.log", (int)getpid());
	if (sl_log_open(path) < 0)
		return 0;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, log_writer, NULL);
	pthread_create(&t[THREADS], NULL, log_reopener, NULL);
	for (int i = 0; i <= THREADS; i++)
		pthread_join(t[i], NULL);
	sl_log_close();
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		lines += c == '\n';
	fclose(f);
	unlink(path);
	return lines == THREADS * 2000;
}

static void *config_user(void *arg)
{
	sl_config *cfg = arg;
	unsigned long sum = 0;

	for (int i = 0; i < 10000; i++) {
		sl_config *c = sl_config_ref(cfg);
		sum += c->timeouts.connect_ms + c->listen.n;
		sl_config_unref(c);
	}
	return (void *)sum;
}

static int test_config(void)
{
	sl_config *cfg;
	char err[512];
	pthread_t t[THREADS];

	if (sl_config_load_string("{\"workers\": 2}", "tsan", &cfg, err, sizeof err) < 0)
		return 0;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, config_user, sl_config_ref(cfg));
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		sl_config_unref(cfg);
	}
	int ok = cfg->workers == 2;
	sl_config_unref(cfg); /* the last reference: frees it */
	return ok;
}

static void *parser_user(void *arg)
{
	static const char req[] = "GET http://example.com/a?b HTTP/1.1\r\n"
				  "Host: example.com\r\nAccept: */*\r\n\r\n";
	long bad = 0;
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		sl_http_parser p;
		sl_http_request r;
		sl_field f[16];
		sl_url u;
		sl_addr a;
		char key[256];

		sl_http_parser_init(&p, NULL);
		bad += sl_http_parse_request(&p, req, sizeof req - 1, &r, f, 16) != (int)sizeof req - 1;
		bad += sl_url_parse(r.target.p, r.target.n, &u) != 0;
		bad += sl_url_cache_key(&u, key, sizeof key) <= 0;
		bad += sl_addr_parse("2001:db8::1", 11, &a) != 0;
	}
	return (void *)bad;
}

static int test_parsers(void)
{
	pthread_t t[THREADS];
	long bad = 0;

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, parser_user, NULL);
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	return bad == 0;
}

int main(void)
{
	check(test_log(), "log: concurrent writers with a racing reopen");
	check(test_config(), "config: references taken and dropped across threads");
	check(test_parsers(), "parsers: request, URL and address parsing in parallel");
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
