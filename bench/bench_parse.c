/*
 * Throughput of the HTTP/1.1 parser on one pinned core: a browser-like
 * request head (about 500 bytes, 12 fields) whole, in two reads and one
 * byte per call, a typical response head (about 300 bytes), and the chunked
 * decoder over a 1 MiB body in 16 KiB chunks. The decoder is zero-copy and
 * never reads data bytes, so it is measured twice: alone, and with the
 * caller copying every data slice out as a proxy's output buffer would.
 * Each measurement runs for about BENCH_SECONDS (2 s) and prints one line.
 * Every result feeds a volatile sink, so the compiler cannot drop the work.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/http_parse.h"

#define BENCH_SECONDS 2.0
#define BATCH 4096

static volatile size_t sink;

static const char request[] =
	"GET /search?q=sluice+proxy&source=hp&ie=UTF-8 HTTP/1.1\r\n"
	"Host: www.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
	"Firefox/121.0\r\n"
	"Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Connection: keep-alive\r\n"
	"Cookie: session=3f2a9c81d7e64b05; theme=dark\r\n"
	"Referer: https://www.example.com/\r\n"
	"Cache-Control: max-age=0\r\n"
	"Upgrade-Insecure-Requests: 1\r\n"
	"Sec-Fetch-Dest: document\r\n"
	"Sec-Fetch-Mode: navigate\r\n"
	"\r\n";

static const char response[] =
	"HTTP/1.1 200 OK\r\n"
	"Date: Tue, 16 Jan 2024 10:12:31 GMT\r\n"
	"Server: nginx/1.22.1\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"Content-Length: 48213\r\n"
	"Last-Modified: Mon, 15 Jan 2024 08:00:00 GMT\r\n"
	"Connection: keep-alive\r\n"
	"ETag: \"65a4e6a0-bc55\"\r\n"
	"Cache-Control: public, max-age=3600\r\n"
	"Accept-Ranges: bytes\r\n"
	"\r\n";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pin(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		perror("sched_setaffinity (running unpinned)");
}

static void die(const char *what, int r)
{
	fprintf(stderr, "%s: %s\n", what, sl_errname(r));
	exit(1);
}

static void report(const char *label, const char *unit, double ops,
		   double bytes, double secs)
{
	printf("%-38s %.2f M %s/s, %.2f GB/s\n", label, ops / secs / 1e6, unit,
	       bytes / secs / 1e9);
	fflush(stdout);
}

/* pieces: 0 = whole head per call, 2 = two reads, 1 = one byte per call. */
static void bench_request(int pieces)
{
	size_t n = sizeof request - 1, fields = 0;
	sl_http_parser p;
	sl_http_request rq;
	sl_field f[32];
	double t0 = now(), t = t0;
	unsigned long ops = 0;
	int batch = pieces == 1 ? BATCH / 64 : BATCH;
	char label[64];

	sl_http_parser_init(&p, NULL);
	while (t - t0 < BENCH_SECONDS) {
		for (int i = 0; i < batch; i++) {
			int r = SL_E_AGAIN;

			if (pieces == 2 && (r = sl_http_parse_request(
					    &p, request, n / 2, &rq, f, 32)) !=
						   SL_E_AGAIN)
				die("request half", r);
			for (size_t k = 1; pieces == 1 && k < n; k++)
				if ((r = sl_http_parse_request(&p, request, k, &rq,
							       f, 32)) != SL_E_AGAIN)
					die("request byte", r);
			r = sl_http_parse_request(&p, request, n, &rq, f, 32);
			if (r <= 0)
				die("request", r);
			fields = rq.nfields;
			sink += (size_t)r + rq.nfields + rq.host.n +
				(size_t)f[rq.nfields - 1].value.p[0];
		}
		ops += (unsigned long)batch;
		t = now();
	}
	snprintf(label, sizeof label, "request %s%zu B %zu fields:",
		 pieces == 2 ? "in 2 reads " : pieces == 1 ? "byte by byte " : "",
		 n, fields);
	report(label, "req", (double)ops, (double)ops * (double)n, t - t0);
}

static void bench_response(void)
{
	size_t n = sizeof response - 1, fields = 0;
	sl_http_parser p;
	sl_http_response rs;
	sl_field f[32];
	double t0 = now(), t = t0;
	unsigned long ops = 0;
	char label[64];

	sl_http_parser_init(&p, NULL);
	while (t - t0 < BENCH_SECONDS) {
		for (int i = 0; i < BATCH; i++) {
			int r = sl_http_parse_response(&p, response, n,
						       SL_METHOD_GET, &rs, f, 32);

			if (r <= 0)
				die("response", r);
			fields = rs.nfields;
			sink += (size_t)r + rs.nfields + (size_t)rs.content_length +
				(size_t)f[rs.nfields - 1].value.p[0];
		}
		ops += BATCH;
		t = now();
	}
	snprintf(label, sizeof label, "response %zu B %zu fields:", n, fields);
	report(label, "resp", (double)ops, (double)ops * (double)n, t - t0);
}

/* copy: the caller moves every data slice to an output buffer. */
static void bench_chunked(bool copy)
{
	const size_t body = 1 << 20, chunk = 16 << 10;
	char *in = malloc(body + body / chunk * 16 + 16), *w = in;
	char *dst = malloc(body);
	size_t n, ops = 0;
	double t0 = now(), t = t0;
	int batch = copy ? 4 : 64;

	if (!in || !dst)
		die("malloc", SL_E_NOMEM);
	for (size_t done = 0; done < body; done += chunk) {
		w += sprintf(w, "%zx\r\n", chunk);
		memset(w, 'a' + (int)(done / chunk % 26), chunk);
		w += chunk;
		*w++ = '\r';
		*w++ = '\n';
	}
	w += sprintf(w, "0\r\n\r\n");
	n = (size_t)(w - in);

	while (t - t0 < BENCH_SECONDS) {
		for (int i = 0; i < batch; i++) {
			sl_chunked d;
			sl_chunk_out out;
			size_t off = 0, used, data = 0;
			int r;

			sl_chunked_init(&d, NULL, true);
			do {
				r = sl_chunked_decode(&d, in + off, n - off, &used,
						      &out);
				off += used;
				if (r != SL_CHUNK_DATA)
					continue;
				if (copy)
					memcpy(dst + data, out.data.p, out.data.n);
				data += out.data.n;
			} while (r == SL_CHUNK_DATA || r == SL_CHUNK_TRAILER);
			if (r != SL_CHUNK_DONE || off != n || data != body)
				die("chunked", r);
			sink += data + (size_t)dst[i & 1023];
		}
		ops += (size_t)batch;
		t = now();
	}
	printf("%-38s %.2f GB/s (%.0f bodies/s)\n",
	       copy ? "chunked 1 MiB/16 KiB, data copied:"
		    : "chunked 1 MiB/16 KiB, decoder only:",
	       (double)ops * (double)n / (t - t0) / 1e9, (double)ops / (t - t0));
	free(in);
	free(dst);
}

int main(void)
{
	pin();
	bench_request(0);
	bench_request(2);
	bench_request(1);
	bench_response();
	bench_chunked(false);
	bench_chunked(true);
	return 0;
}
