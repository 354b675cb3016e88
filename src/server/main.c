/*
 * The sluice binary's entry point: command-line options, configuration
 * loading and checking. In this build the proxy server itself is not
 * available: `sluice -c FILE` validates the configuration, prints the
 * effective configuration (every default filled in) and says so.
 *
 * Exit codes: 0 success, 1 invalid configuration, 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/version.h"

#define DEFAULT_CONF "/etc/sluice/sluice.json"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice [-c FILE] [-t | -T]\n"
		"\n"
		"A forward caching HTTP proxy.\n"
		"\n"
		"  -c, --config FILE   configuration file (default " DEFAULT_CONF ")\n"
		"  -t, --test          check the configuration and exit (0 valid, 1 not)\n"
		"  -T, --dump          check the configuration, print the effective\n"
		"                      configuration as JSON and exit\n"
		"  -h, --help          print this help\n"
		"  -V, --version       print the version\n"
		"\n"
		"Errors name the file, the line and the JSON path, for example\n"
		"  conf/x.json:12: cache.max_size: expected a size like \"10GiB\", got -3\n"
		"The configuration reference is docs/config.md.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"test", no_argument, NULL, 't'},
		{"dump", no_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *conf = DEFAULT_CONF;
	int test = 0, dump = 0, c;

	while ((c = getopt_long(argc, argv, "c:tThV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'T':
			dump = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sluice %s\n", SL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sluice: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	sl_config *cfg = NULL;
	char err[1024];
	if (sl_config_load_file(conf, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (test) {
		fprintf(stderr, "sluice: configuration %s is valid\n", conf);
		sl_config_unref(cfg);
		return 0;
	}
	sl_config_dump(cfg, stdout);
	fflush(stdout);
	if (!dump)
		fprintf(stderr, "sluice: configuration %s is valid; the proxy server is not "
				"part of this build yet, so sluice exits here (see README.md, "
				"Status)\n", conf);
	sl_config_unref(cfg);
	return 0;
}
