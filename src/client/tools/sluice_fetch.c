/*
 * sluice-fetch, the command-line client of the sluice stack: curl's options
 * where curl has the same one, on the stack's own pieces. This file reads
 * the command line into the options and one job per URL, builds what lives
 * for the whole run (one libev loop, one resolver, one TLS context built
 * before anything connects, the manager with sl_chain_connect() as its
 * connector, the cookie jar, the proxy credential cache), hands the jobs to
 * fetch_run.c and tears everything down. --url-info inspects a URL without
 * fetching it.
 *
 * Order matters on the command line as it does for curl: each -o or -O
 * belongs to the first URL that has no output yet, whether the URL comes
 * before or after it. Everything else applies to every URL.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/cookie_jar.h"
#include "client/proxy_auth.h"
#include "client/tools/fetch_internal.h"
#include "core/err.h"
#include "core/url.h"
#include "core/version.h"

#define MAX_DATA_ITEMS 64

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sluice-fetch [options] URL...\n"
		"\n"
		"The command-line client of the sluice network stack: http, https, data:\n"
		"and file: URLs. Options are curl's where curl has the same one.\n"
		"\n"
		"Output\n"
		"  -o, --output FILE        write the body of the next URL without an output\n"
		"                           to FILE (\"-\": stdout); one -o per URL, in order\n"
		"  -O, --remote-name        write it to the last path segment of the URL\n"
		"  -i, --include            write the response head before the body\n"
		"  -I, --head               send HEAD and write the response head\n"
		"  -f, --fail               HTTP status >= 400: write no body, exit 22\n"
		"  -s, --silent             no progress bar and no error messages\n"
		"  -S, --show-error         error messages even with -s\n"
		"  -v, --verbose            each hop's handshake, then '> ' request and\n"
		"                           '< ' response heads, on stderr\n"
		"\n"
		"Request\n"
		"  -X, --request METHOD     the request method\n"
		"  -H, --header 'N: v'      add a header field; 'N:' removes a default one\n"
		"                           (Accept, User-Agent), 'N;' sends it empty\n"
		"  -A, --user-agent UA      the User-Agent (default sluice-fetch/%s)\n"
		"  -u, --user USER:PASS     credentials for a 401 (Basic or Digest)\n"
		"  -d, --data DATA|@FILE    POST DATA as a form (FILE without newlines);\n"
		"                           several -d are joined with '&'\n"
		"      --data-binary DATA|@FILE  POST the exact bytes (a file is streamed)\n"
		"  -T, --upload-file FILE   PUT FILE, streamed\n"
		"  -b, --cookie FILE|'N=V'  send cookies from a cookie file, or this string\n"
		"  -c, --cookie-jar FILE    load cookies from FILE if it exists, keep the\n"
		"                           session's, save the persistent ones at the end\n"
		"  -L, --location           follow redirects (301/302/303 become GET without\n"
		"                           body; 307/308 keep method and body; never from\n"
		"                           https to http)\n"
		"      --max-redirs N       at most N redirects (default 10, -1: no limit)\n"
		"\n"
		"Connections\n"
		"  -x, --proxy URL          a proxy hop: http://, https://, socks5://, socks5h://\n"
		"                           with user:password@; repeat -x to chain hops in\n"
		"                           order (the first is connected to first)\n"
		"      --noproxy LIST       hosts reached directly (overrides NO_PROXY)\n"
		"      --proxy-mode MODE    connect (default): every request tunnels with\n"
		"                           CONNECT; forward: plain http:// requests go to\n"
		"                           the last proxy (http:// or https://) in absolute\n"
		"                           form, so its cache can serve them\n"
		"  -Z, --parallel[=N]       run the URLs concurrently, at most N at once\n"
		"                           (\"--parallel N\" also works; default 50)\n"
		"      --parallel-max N     the limit for -Z\n"
		"      --cacert FILE        trust the CAs in FILE instead of the system's\n"
		"  -k, --insecure           no certificate verification (targets and HTTPS\n"
		"                           proxy hops)\n"
		"      --connect-timeout S  per TCP connect and per hop handshake (seconds)\n"
		"  -m, --max-time S         whole transfer of each URL, redirects included\n"
		"      --dns-servers LIST   resolve with these servers (ip[:port],...)\n"
		"\n"
		"Cache\n"
		"      --cache-dir DIR      keep an HTTP cache in DIR (created when missing;\n"
		"                           the rules of RFC 9111 for a private cache) for\n"
		"                           GET requests; responses that may be stored are\n"
		"                           stored whatever the mode\n"
		"      --cache-mode MODE    how a request uses it (Qt's CacheLoadControl):\n"
		"                           prefer-network (the default: a fresh stored\n"
		"                           response, else the network, revalidating what is\n"
		"                           stored), always-network, prefer-cache (anything\n"
		"                           stored, even stale), always-cache (only the\n"
		"                           cache: exit 78 when nothing is stored)\n"
		"\n"
		"Other\n"
		"      --url-info URL       print URL's parts, request target, Host header and\n"
		"                           cache key, then exit\n"
		"  -h, --help               this help\n"
		"  -V, --version            the version\n"
		"\n"
		"Without -x, the proxy comes from the environment as curl reads it:\n"
		"http_proxy (lower case only) for http, https_proxy or HTTPS_PROXY for\n"
		"https, then all_proxy or ALL_PROXY; no_proxy or NO_PROXY lists hosts to\n"
		"reach directly (it applies to -x too). Every request through an HTTP\n"
		"proxy goes through a CONNECT tunnel, http:// ones included, unless\n"
		"--proxy-mode forward says otherwise.\n"
		"\n"
		"Exit codes (curl's numbers; with several URLs, the code of the last URL\n"
		"that failed):\n"
		"   0  success\n"
		"   1  unsupported URL scheme\n"
		"   2  bad command line\n"
		"   3  malformed URL (also a malformed Location when following)\n"
		"   5  a proxy's host name does not resolve (or the proxy URL is bad)\n"
		"   6  the target's host name does not resolve\n"
		"   7  could not connect: the target or a proxy hop refused or is\n"
		"      unreachable (also when a proxy reports it for the next hop)\n"
		"   8  malformed HTTP response\n"
		"  22  HTTP status 400 or more with -f\n"
		"  23  could not write the output (also an empty -O name)\n"
		"  26  could not read a file to send (-d @, --data-binary @, -T) or\n"
		"      the file of a file: URL\n"
		"  27  out of memory\n"
		"  28  timed out (connect, --max-time, a silent server)\n"
		"  35  TLS handshake failed\n"
		"  47  too many redirects, or a redirect from https to http\n"
		"  52  the server closed the connection without answering\n"
		"  55  failed sending the request\n"
		"  56  failed receiving the response (reset, body cut short)\n"
		"  60  certificate verification failed (expired, self-signed, unknown\n"
		"      issuer, wrong host name: the message says which)\n"
		"  77  the --cacert file cannot be loaded\n"
		"  78  --cache-mode always-cache and the cache holds no response\n"
		"  97  a proxy hop's handshake failed: it refused the credentials or\n"
		"      needs some (SOCKS5 username/password, HTTP 407), refused the\n"
		"      CONNECT, or spoke nonsense; the message names the hop\n",
		SL_VERSION);
}

/* ---- --url-info ---- */

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
		return SL__FX_URL;
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
		return SL__FX_URL;
	}
	printf("%-15s %s\n", "cache-key", out);
	return SL__FX_OK;
}

/* ---- parsing helpers ---- */

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sluice-fetch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nsluice-fetch: try 'sluice-fetch --help'\n", stderr);
	return SL__FX_USAGE;
}

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e7)
		return false;
	*out = v;
	return true;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(const char *p, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)p[i]))
			return false;
	return true;
}

/*
 * -H "Name: value" adds a field, "Name:" removes a default one, "Name;"
 * sends the field with an empty value, as curl reads them.
 */
static int add_header(sl__fetch_opts *o, const char *arg)
{
	const char *colon = strchr(arg, ':');
	size_t len = strlen(arg);
	sl_slice name, value;

	if (colon) {
		name = sl_slice_trim_ows(sl_slice_make(arg, (size_t)(colon - arg)));
		value = sl_slice_trim_ows(sl_slice_cstr(colon + 1));
		if (value.n == 0) {
			if (!is_token(name.p, name.n))
				return usage_error("-H '%s': not a header field name", arg);
			if (sl_slice_case_eq_cstr(name, "User-Agent"))
				o->ua_removed = true;
			if (o->nremoved == SL__FETCH_MAX_REMOVED)
				return usage_error("too many removed headers");
			o->removed[o->nremoved++] = strndup(name.p, name.n);
			return 0;
		}
	} else if (len && arg[len - 1] == ';') {
		name = sl_slice_trim_ows(sl_slice_make(arg, len - 1));
		value = sl_slice_make(arg + len - 1, 0);
	} else {
		return usage_error("-H '%s': expected 'Name: value'", arg);
	}
	if (!is_token(name.p, name.n))
		return usage_error("-H '%s': not a header field name", arg);
	for (size_t i = 0; i < value.n; i++) {
		unsigned char c = (unsigned char)value.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return usage_error("-H '%s': control character in the value", arg);
	}
	if (o->nheaders == SL__FETCH_MAX_HEADERS)
		return usage_error("too many -H options (at most %d)", SL__FETCH_MAX_HEADERS);
	o->headers[o->nheaders].name = name;
	o->headers[o->nheaders].value = value;
	o->nheaders++;
	return 0;
}

/* Reads a whole file ("-": stdin) into *out (malloc'd, NUL-terminated). */
static int read_all(const char *path, char **out, size_t *n)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, len = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	for (;;) {
		ssize_t r;
		if (!buf)
			break;
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			free(buf);
			if (fd != STDIN_FILENO)
				close(fd);
			return e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (!buf)
		return -ENOMEM;
	buf[len] = '\0';
	*out = buf;
	*n = len;
	return 0;
}

struct data_item {
	const char *arg;
	bool binary;    /* --data-binary */
};

static int append_data(sl__fetch_opts *o, const char *p, size_t n, bool sep)
{
	size_t need = o->data_len + n + (sep ? 1 : 0) + 1;
	char *d = realloc(o->data, need);

	if (!d)
		return SL__FX_NOMEM;
	o->data = d;
	if (sep)
		d[o->data_len++] = '&';
	memcpy(d + o->data_len, p, n);
	o->data_len += n;
	d[o->data_len] = '\0';
	return 0;
}

/*
 * Builds the body from the -d and --data-binary items: one --data-binary
 * @FILE of a regular file alone is streamed from the file; everything else
 * is joined in memory, '&' between items, with CR and LF removed from the
 * files of -d @FILE as curl does.
 */
static int finish_data(sl__fetch_opts *o, const struct data_item *items, size_t n)
{
	if (n == 1 && items[0].binary && items[0].arg[0] == '@' && strcmp(items[0].arg, "@-")) {
		const char *path = items[0].arg + 1;
		struct stat st;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "sluice-fetch: cannot read %s: %s\n", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return SL__FX_READ;
		}
		if (S_ISREG(st.st_mode)) {
			o->body_fd = fd;
			o->body_len = (uint64_t)st.st_size;
			return 0;
		}
		close(fd);
	}
	for (size_t i = 0; i < n; i++) {
		const char *a = items[i].arg;
		char *buf = NULL;
		size_t len = 0;
		int rc;

		if (a[0] != '@') {
			rc = append_data(o, a, strlen(a), i > 0);
			if (rc)
				return rc;
			continue;
		}
		rc = read_all(a + 1, &buf, &len);
		if (rc < 0) {
			fprintf(stderr, "sluice-fetch: cannot read %s: %s\n", a + 1, strerror(-rc));
			return SL__FX_READ;
		}
		if (!items[i].binary) {
			size_t k = 0;
			for (size_t j = 0; j < len; j++)
				if (buf[j] != '\r' && buf[j] != '\n')
					buf[k++] = buf[j];
			len = k;
		}
		rc = append_data(o, buf, len, i > 0);
		free(buf);
		if (rc)
			return rc;
	}
	if (!o->data)
		return append_data(o, "", 0, false);
	return 0;
}

static int set_upload(sl__fetch_opts *o, const char *path)
{
	struct stat st;
	const char *slash;
	int fd;

	slash = strrchr(path, '/');
	o->upload_name = slash ? slash + 1 : path;
	o->upload = true;
	if (strcmp(path, "-") == 0) {
		int rc = read_all(path, &o->data, &o->data_len);
		if (rc < 0) {
			fprintf(stderr, "sluice-fetch: cannot read stdin: %s\n", strerror(-rc));
			return SL__FX_READ;
		}
		o->upload_name = "";
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "sluice-fetch: cannot read %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return SL__FX_READ;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "sluice-fetch: cannot read %s: not a regular file\n", path);
		close(fd);
		return SL__FX_READ;
	}
	o->body_fd = fd;
	o->body_len = (uint64_t)st.st_size;
	return 0;
}

/* -o and -O go to the first job without an output; before any such job
 * exists they wait for the next URL. */
struct outq {
	const char *paths[4096];
	bool remote[4096];
	size_t head, tail;
};

static void give_output(sl__fetch *f, struct outq *q, const char *path, bool remote)
{
	for (size_t i = 0; i < f->njobs; i++) {
		sl__fetch_job *j = &f->jobs[i];
		if (!j->out_path && !j->remote_name) {
			j->out_path = path;
			j->remote_name = remote;
			return;
		}
	}
	if (q->tail < sizeof q->paths / sizeof q->paths[0]) {
		q->paths[q->tail] = path;
		q->remote[q->tail++] = remote;
	}
}

static void add_job(sl__fetch *f, struct outq *q, const char *url)
{
	sl__fetch_job *j = &f->jobs[f->njobs];

	memset(j, 0, sizeof *j);
	j->magic = SL__FETCH_JOB_MAGIC;
	j->f = f;
	j->idx = f->njobs++;
	j->arg_url = url;
	if (q->head < q->tail) {
		j->out_path = q->paths[q->head];
		j->remote_name = q->remote[q->head++];
	}
}

enum {
	OPT_NOPROXY = 256,
	OPT_DATA_BINARY,
	OPT_MAX_REDIRS,
	OPT_PARALLEL_MAX,
	OPT_CACERT,
	OPT_CONNECT_TIMEOUT,
	OPT_DNS_SERVERS,
	OPT_URL_INFO,
	OPT_STATS,
	OPT_URL,
	OPT_PROXY_MODE,
	OPT_CACHE_DIR,
	OPT_CACHE_MODE,
};

static const struct option long_opts[] = {
	{"output", required_argument, NULL, 'o'},
	{"remote-name", no_argument, NULL, 'O'},
	{"silent", no_argument, NULL, 's'},
	{"show-error", no_argument, NULL, 'S'},
	{"fail", no_argument, NULL, 'f'},
	{"include", no_argument, NULL, 'i'},
	{"head", no_argument, NULL, 'I'},
	{"proxy", required_argument, NULL, 'x'},
	{"noproxy", required_argument, NULL, OPT_NOPROXY},
	{"proxy-mode", required_argument, NULL, OPT_PROXY_MODE},
	{"request", required_argument, NULL, 'X'},
	{"header", required_argument, NULL, 'H'},
	{"user-agent", required_argument, NULL, 'A'},
	{"user", required_argument, NULL, 'u'},
	{"data", required_argument, NULL, 'd'},
	{"data-binary", required_argument, NULL, OPT_DATA_BINARY},
	{"upload-file", required_argument, NULL, 'T'},
	{"cookie-jar", required_argument, NULL, 'c'},
	{"cookie", required_argument, NULL, 'b'},
	{"location", no_argument, NULL, 'L'},
	{"max-redirs", required_argument, NULL, OPT_MAX_REDIRS},
	{"parallel", optional_argument, NULL, 'Z'},
	{"parallel-max", required_argument, NULL, OPT_PARALLEL_MAX},
	{"cacert", required_argument, NULL, OPT_CACERT},
	{"insecure", no_argument, NULL, 'k'},
	{"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
	{"max-time", required_argument, NULL, 'm'},
	{"verbose", no_argument, NULL, 'v'},
	{"dns-servers", required_argument, NULL, OPT_DNS_SERVERS},
	{"url", required_argument, NULL, OPT_URL},
	{"url-info", required_argument, NULL, OPT_URL_INFO},
	{"stats", no_argument, NULL, OPT_STATS},
	{"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
	{"cache-mode", required_argument, NULL, OPT_CACHE_MODE},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/*
 * "--parallel N" (a separate all-digit argument) reads as "--parallel=N":
 * getopt only takes an optional argument after '='.
 */
static char **rewrite_parallel(sl__fetch *f, int argc, char **argv, int *out_argc)
{
	char **v = calloc((size_t)argc + 1, sizeof *v);
	int n = 0;

	f->joined = calloc((size_t)argc + 1, sizeof *f->joined);
	if (!v || !f->joined) {
		free(v);
		return NULL;
	}
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				v[n++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--parallel") == 0 && i + 1 < argc && all_digits(argv[i + 1])) {
			size_t len = strlen(argv[i + 1]) + sizeof "--parallel=";
			char *s = malloc(len);
			if (!s)
				return NULL;
			snprintf(s, len, "--parallel=%s", argv[i + 1]);
			f->joined[f->njoined++] = s;
			v[n++] = s;
			i++;
			continue;
		}
		v[n++] = argv[i];
	}
	*out_argc = n;
	return v;
}

/*
 * Reads the command line into f. Returns -1 to go on fetching, or the exit
 * code to end with (help, version, --url-info, a usage error).
 */
static int parse(sl__fetch *f, int argc, char **argv)
{
	static struct outq q;
	static struct data_item items[MAX_DATA_ITEMS];
	sl__fetch_opts *o = &f->o;
	size_t nitems = 0;
	long parallel_max = 0, v;
	bool get_head = false, cache_mode_set = false;
	int c, rc;
	char **args = rewrite_parallel(f, argc, argv, &argc);

	if (!args)
		return SL__FX_NOMEM;
	f->args = args;
	o->body_fd = -1;
	o->max_redirs = 10;
	sl_route_buf_init(&o->chain);
	f->jobs = calloc((size_t)argc + 1, sizeof *f->jobs);
	if (!f->jobs)
		return SL__FX_NOMEM;
	opterr = 0;
	while ((c = getopt_long(argc, args, "-o:OsSfiIx:X:H:A:u:d:T:c:b:LZkm:vhV", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 1:
		case OPT_URL:
			add_job(f, &q, optarg);
			break;
		case 'o':
			give_output(f, &q, optarg, false);
			break;
		case 'O':
			give_output(f, &q, NULL, true);
			break;
		case 's':
			o->silent = true;
			break;
		case 'S':
			o->show_error = true;
			break;
		case 'f':
			o->fail = true;
			break;
		case 'i':
			o->include = true;
			break;
		case 'I':
			o->head = true;
			get_head = true;
			break;
		case 'x':
			rc = sl_route_buf_add_url(&o->chain, optarg);
			if (rc == SL_E_LIMIT)
				return usage_error("at most %d proxy hops", SL_ROUTE_MAX_HOPS);
			if (rc < 0) {
				char safe[512];
				sl__fetch_safe_url(optarg, safe, sizeof safe);
				fprintf(stderr, "sluice-fetch: -x %s: %s\n", safe,
					rc == SL_E_UNSUPPORTED ? "unsupported proxy scheme (use http, "
								 "https, socks5 or socks5h)"
							       : sl_strerror(rc));
				return SL__FX_PROXY_NOT_FOUND;
			}
			o->nproxies++;
			break;
		case OPT_PROXY_MODE:
			if (strcmp(optarg, "forward") == 0)
				o->proxy_forward = true;
			else if (strcmp(optarg, "connect") == 0)
				o->proxy_forward = false;
			else
				return usage_error("--proxy-mode '%s': use connect or forward", optarg);
			break;
		case OPT_NOPROXY:
			o->noproxy = optarg;
			/* --noproxy replaces NO_PROXY, also for the environment's
			 * proxies. */
			unsetenv("no_proxy");
			unsetenv("NO_PROXY");
			break;
		case 'X':
			if (!is_token(optarg, strlen(optarg)))
				return usage_error("-X '%s': not a method", optarg);
			o->method = optarg;
			break;
		case 'H':
			if ((rc = add_header(o, optarg)))
				return rc;
			break;
		case 'A':
			o->user_agent = optarg;
			break;
		case 'u': {
			const char *colon = strchr(optarg, ':');
			o->user_name = colon ? strndup(optarg, (size_t)(colon - optarg))
					     : strdup(optarg);
			o->user_pass = strdup(colon ? colon + 1 : "");
			if (!o->user_name || !o->user_pass)
				return SL__FX_NOMEM;
			break;
		}
		case 'd':
		case OPT_DATA_BINARY:
			if (nitems == MAX_DATA_ITEMS)
				return usage_error("too many -d options");
			items[nitems].arg = optarg;
			items[nitems++].binary = c == OPT_DATA_BINARY;
			break;
		case 'T':
			if (o->upload)
				return usage_error("-T given twice");
			if ((rc = set_upload(o, optarg)))
				return rc;
			break;
		case 'c':
			o->cookie_jar = optarg;
			break;
		case 'b':
			if (strchr(optarg, '='))
				o->cookie_str = optarg;
			else
				o->cookie_file = optarg;
			break;
		case 'L':
			o->location = true;
			break;
		case OPT_MAX_REDIRS:
			if (!parse_long(optarg, -1, 1000000, &o->max_redirs))
				return usage_error("--max-redirs '%s': expected a number", optarg);
			break;
		case 'Z':
			o->parallel = true;
			if (optarg) {
				if (!parse_long(optarg, 1, 100000, &v))
					return usage_error("--parallel '%s': expected a count", optarg);
				parallel_max = v;
			}
			break;
		case OPT_PARALLEL_MAX:
			if (!parse_long(optarg, 1, 100000, &v))
				return usage_error("--parallel-max '%s': expected a count", optarg);
			parallel_max = v;
			break;
		case OPT_CACERT:
			o->cacert = optarg;
			break;
		case 'k':
			o->insecure = true;
			break;
		case OPT_CONNECT_TIMEOUT:
			if (!parse_seconds(optarg, &o->connect_timeout))
				return usage_error("--connect-timeout '%s': expected seconds", optarg);
			break;
		case 'm':
			if (!parse_seconds(optarg, &o->max_time))
				return usage_error("--max-time '%s': expected seconds", optarg);
			break;
		case 'v':
			o->verbose = true;
			break;
		case OPT_DNS_SERVERS:
			o->dns_servers = optarg;
			break;
		case OPT_URL_INFO:
			return url_info(optarg);
		case OPT_STATS:
			o->stats = true;
			break;
		case OPT_CACHE_DIR:
			o->cache_dir = optarg;
			break;
		case OPT_CACHE_MODE:
			if (strcmp(optarg, "prefer-network") == 0)
				o->cache_mode = SL_CACHE_PREFER_NETWORK;
			else if (strcmp(optarg, "always-network") == 0)
				o->cache_mode = SL_CACHE_ALWAYS_NETWORK;
			else if (strcmp(optarg, "prefer-cache") == 0)
				o->cache_mode = SL_CACHE_PREFER_CACHE;
			else if (strcmp(optarg, "always-cache") == 0)
				o->cache_mode = SL_CACHE_ALWAYS_CACHE;
			else
				return usage_error("--cache-mode '%s': expected prefer-network, "
						   "always-network, prefer-cache or always-cache",
						   optarg);
			cache_mode_set = true;
			break;
		case 'h':
			usage(stdout);
			return SL__FX_OK;
		case 'V':
			printf("sluice-fetch %s\n", SL_VERSION);
			return SL__FX_OK;
		case '?':
		default:
			if (optopt && optopt < 256)
				return usage_error("option -%c: unknown, or its argument is missing",
						   optopt);
			return usage_error("option %s: unknown, or its argument is missing",
					   args[optind - 1]);
		}
	}
	for (; optind < argc; optind++)
		add_job(f, &q, args[optind]);
	if (f->njobs == 0)
		return usage_error("no URL given");
	if (cache_mode_set && !o->cache_dir)
		return usage_error("--cache-mode needs --cache-dir");
	if (nitems && o->upload)
		return usage_error("-T cannot be combined with -d or --data-binary");
	if (nitems) {
		if ((rc = finish_data(o, items, nitems)))
			return rc;
		o->form = true;
	}
	o->has_body = nitems > 0 || o->upload;
	if (get_head && o->has_body)
		return usage_error("-I cannot send a body");
	if (!o->method)
		o->method = get_head ? "HEAD" : o->upload ? "PUT" : o->has_body ? "POST" : "GET";
	if (o->parallel)
		o->parallel_max = parallel_max ? (unsigned)parallel_max : 50;
	else
		o->parallel_max = 1;
	if (!o->noproxy) {
		o->noproxy = getenv("no_proxy");
		if (!o->noproxy || !*o->noproxy)
			o->noproxy = getenv("NO_PROXY");
	}
	if (o->insecure)
		for (size_t i = 0; i < o->chain.n; i++)
			o->chain.hops[i].tls_verify = false;
	if (o->proxy_forward && o->chain.n) {
		sl_hop *last = &o->chain.hops[o->chain.n - 1];
		if (last->type != SL_HOP_HTTP && last->type != SL_HOP_HTTPS)
			return usage_error("--proxy-mode forward: the last -x must be an http:// or "
					   "https:// proxy");
		last->forward = true;
	}
	return -1;
}

/* ---- set-up and tear-down ---- */

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	sl__fetch *f = w->data;

	(void)loop;
	(void)revents;
	/* Leave the terminal and stdout as they were, then die of the signal
	 * as curl does (partial files stay). */
	sl__fetch_progress_clear(f);
	sl__fetch_sink_restore(&f->out);
	signal(w->signum, SIG_DFL);
	raise(w->signum);
}

static int setup(sl__fetch *f)
{
	sl__fetch_opts *o = &f->o;
	sl_tls_ctx_opts to = {0};
	sl_dns_opts dopts = {0};
	sl_manager_opts mo;
	char err[256] = "";

	f->loop = ev_default_loop(EVFLAG_AUTO);
	if (!f->loop) {
		fprintf(stderr, "sluice-fetch: cannot create the event loop\n");
		return SL__FX_NOMEM;
	}
	/* The trust store is read once, here, before anything connects. */
	to.ca_file = o->cacert;
	f->tls = sl_tls_ctx_new(&to, err, sizeof err);
	if (!f->tls) {
		fprintf(stderr, "sluice-fetch: %s%s%s\n", o->cacert ? o->cacert : "TLS",
			err[0] ? ": " : "", err);
		return o->cacert ? SL__FX_CACERT : SL__FX_TLS;
	}
	dopts.servers = o->dns_servers;
	f->dcache = sl_dns_cache_new(1024);
	f->dns = f->dcache ? sl_dns_new(f->loop, f->dcache, &dopts) : NULL;
	if (!f->dns) {
		fprintf(stderr, "sluice-fetch: cannot start the resolver%s%s\n",
			o->dns_servers ? " with --dns-servers " : "",
			o->dns_servers ? o->dns_servers : "");
		return o->dns_servers ? SL__FX_USAGE : SL__FX_NOMEM;
	}
	f->pauth = sl_proxy_auth_new(NULL);
	if (!f->pauth)
		return SL__FX_NOMEM;
	if (o->cookie_jar || o->cookie_file) {
		time_t now = time(NULL);
		f->jar = sl_cookie_jar_new();
		if (!f->jar)
			return SL__FX_NOMEM;
		if (o->cookie_file && sl_cookie_jar_load(f->jar, o->cookie_file, now) < 0)
			fprintf(stderr, "sluice-fetch: warning: cannot read cookies from %s\n",
				o->cookie_file);
		if (o->cookie_jar && sl_cookie_jar_load(f->jar, o->cookie_jar, now) < 0)
			fprintf(stderr, "sluice-fetch: warning: cannot read cookies from %s\n",
				o->cookie_jar);
	}
	if (o->ua_removed)
		f->ua[0] = '\0';
	else
		snprintf(f->ua, sizeof f->ua, "%s",
			 o->user_agent ? o->user_agent : "sluice-fetch/" SL_VERSION);

	if (o->cache_dir) {
		sl_cache_opts co = {
			.dir = o->cache_dir,
			.max_size = 1ull << 30,
			.max_object_size = 256ull << 20,
		};
		struct timespec tick = {0, 1000 * 1000};
		int rc = sl_cache_open(&co, &f->cache);

		if (rc < 0) {
			fprintf(stderr, "sluice-fetch: --cache-dir %s: %s\n", o->cache_dir,
				sl_strerror(rc));
			return SL__FX_WRITE;
		}
		/* Before the loop runs, so every lookup sees the whole index. */
		for (int i = 0; i < 30000 && !sl_cache_ready(f->cache); i++)
			nanosleep(&tick, NULL);
	}

	sl_manager_opts_init(&mo);
	mo.connect = sl_chain_connect;
	mo.cancel = sl_chain_cancel;
	mo.connect_opts.dns = f->dns;
	mo.connect_opts.tls = f->tls;
	mo.connect_opts.auth = f->pauth;
	mo.connect_opts.tls_verify = !o->insecure;
	mo.connect_opts.trace = sl__fetch_trace;
	mo.connect_opts.trace_arg = f;
	if (o->connect_timeout > 0)
		mo.connect_timeout_ms = (uint64_t)(o->connect_timeout * 1000.0) ?: 1;
	mo.user_agent = f->ua;
	mo.cookie_jar = f->jar;
	mo.cache = f->cache;
	f->m = sl_manager_new(f->loop, &mo);
	if (!f->m)
		return SL__FX_NOMEM;

	ev_signal_init(&f->sigint, on_signal, SIGINT);
	ev_signal_init(&f->sigterm, on_signal, SIGTERM);
	f->sigint.data = f->sigterm.data = f;
	ev_signal_start(f->loop, &f->sigint);
	ev_signal_start(f->loop, &f->sigterm);
	ev_unref(f->loop);
	ev_unref(f->loop);
	return 0;
}

/* Peak resident memory in KiB: VmHWM, which starts over at exec, unlike
 * getrusage()'s ru_maxrss, which keeps the forking parent's peak. */
static long peak_rss_kb(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	struct rusage ru;

	while (fp && fgets(line, sizeof line, fp))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	if (fp)
		fclose(fp);
	if (kb < 0 && getrusage(RUSAGE_SELF, &ru) == 0)
		kb = ru.ru_maxrss;
	return kb;
}

static void print_stats(sl__fetch *f)
{
	sl_manager_stats ms;

	if (f->m)
		sl_manager_get_stats(f->m, &ms);
	else
		memset(&ms, 0, sizeof ms);
	fprintf(stderr,
		"sluice-fetch: stats: max_rss_kb=%ld connects=%llu reused=%llu requests=%llu "
		"retries=%llu body_bytes=%llu\n",
		peak_rss_kb(), (unsigned long long)ms.connects, (unsigned long long)ms.reused,
		(unsigned long long)ms.requests, (unsigned long long)ms.retries,
		(unsigned long long)f->total_bytes);
}

static void teardown(sl__fetch *f)
{
	if (f->jar && f->o.cookie_jar &&
	    sl_cookie_jar_save(f->jar, f->o.cookie_jar, time(NULL)) < 0)
		fprintf(stderr, "sluice-fetch: warning: cannot save cookies to %s\n",
			f->o.cookie_jar);
	if (f->loop) {
		ev_ref(f->loop);
		ev_ref(f->loop);
		ev_signal_stop(f->loop, &f->sigint);
		ev_signal_stop(f->loop, &f->sigterm);
	}
	sl_manager_free(f->m);
	if (f->cache)
		sl_cache_close(f->cache);
	sl_dns_free(f->dns);
	sl_dns_cache_free(f->dcache);
	if (f->tls)
		sl_tls_ctx_unref(f->tls);
	sl_proxy_auth_free(f->pauth);
	sl_cookie_jar_free(f->jar);
	sl__fetch_sink_restore(&f->out);
	for (size_t i = 0; i < f->njobs; i++) {
		if (f->jobs[i].url != f->jobs[i].arg_url)
			free(f->jobs[i].url);
		free(f->jobs[i].next_url);
		f->jobs[i].magic = 0;
	}
	free(f->jobs);
	for (size_t i = 0; i < f->njoined; i++)
		free(f->joined[i]);
	free(f->joined);
	free(f->args);
	for (size_t i = 0; i < f->o.nremoved; i++)
		free((char *)f->o.removed[i]);
	if (f->o.body_fd >= 0)
		close(f->o.body_fd);
	free(f->o.data);
	if (f->o.user_pass)
		memset(f->o.user_pass, 0, strlen(f->o.user_pass));
	free(f->o.user_name);
	free(f->o.user_pass);
}

int main(int argc, char **argv)
{
	static sl__fetch f;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	f.out.fd = -1;
	rc = parse(&f, argc, argv);
	if (rc < 0) {
		rc = setup(&f);
		if (rc == 0)
			rc = sl__fetch_run(&f);
		if (f.o.stats)
			print_stats(&f);
	}
	teardown(&f);
	return rc;
}
