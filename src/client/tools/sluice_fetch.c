/*
 * sluice-fetch, the command-line client of the sluice stack. In this build
 * it parses URLs the way the stack will (--url-info prints the components,
 * the origin-form request target, the Host header and the cache key) and
 * refuses to fetch, with a message and exit code 2, because the socket
 * engines and the HTTP client are not part of this build yet.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/url.h"
#include "core/version.h"

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 2,
	EXIT_URL = 3,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-fetch [options] URL...\n"
		"\n"
		"The command-line client of the sluice network stack.\n"
		"\n"
		"  --url-info URL   parse URL and print its parts, request target,\n"
		"                   Host header and cache key, then exit\n"
		"  -h, --help       print this help\n"
		"  -V, --version    print the version\n"
		"\n"
		"Fetching URLs is not available in this build: the socket engines and\n"
		"the HTTP client are not built yet (see README.md, Status).\n"
		"\n"
		"Exit codes: 0 success, 2 usage error or fetching unavailable,\n"
		"3 malformed URL.\n");
}

static void field(const char *name, sl_slice s, bool present)
{
	if (present)
		printf("%-15s %.*s\n", name, SL_SLICE_FMT(s));
	else
		printf("%-15s (none)\n", name);
}

static int url_info(const char *arg)
{
	sl_url u;
	char out[SL_URL_MAX_LEN + 1];
	int rc = sl_url_parse(arg, strlen(arg), &u);

	if (rc < 0) {
		fprintf(stderr, "sluice-fetch: %s: %s\n", arg, sl_strerror(rc));
		return EXIT_URL;
	}
	field("scheme", u.scheme, true);
	field("userinfo", u.userinfo, u.has_userinfo);
	field("host", u.host, u.has_authority);
	printf("%-15s %u%s\n", "port", u.port, u.has_port ? "" : " (default)");
	field("path", u.path, true);
	field("query", u.query, u.has_query);
	field("fragment", u.fragment, u.has_fragment);
	if (sl_url_request_target(&u, out, sizeof out) >= 0)
		printf("%-15s %s\n", "request-target", out);
	if (u.has_authority && sl_url_host_header(&u, out, sizeof out) >= 0)
		printf("%-15s %s\n", "host-header", out);
	rc = sl_url_cache_key(&u, out, sizeof out);
	if (rc < 0) {
		fprintf(stderr, "sluice-fetch: %s: %s\n", arg, sl_strerror(rc));
		return EXIT_URL;
	}
	printf("%-15s %s\n", "cache-key", out);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"url-info", required_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			return url_info(optarg);
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("sluice-fetch %s\n", SL_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	fprintf(stderr, "sluice-fetch: fetching is not available in this build "
			"(the HTTP client is not built yet); see --help\n");
	return EXIT_USAGE;
}
