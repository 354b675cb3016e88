/*
 * What the files of sluice-fetch share: the options as parsed from the
 * command line, one job per URL, the output sinks, and the process-wide
 * state (loop, resolver, TLS context, manager, cookie jar, proxy
 * credential cache). sluice_fetch.c parses the command line and sets
 * everything up; fetch_run.c runs the jobs on the manager (requests,
 * redirects, output with back-pressure, time limits, parallelism);
 * fetch_report.c turns failures into curl's exit codes and one-line
 * messages, and draws the verbose trace and the progress bar.
 *
 * Invariants: everything runs on the one loop of the process; a job holds
 * at most one reply at a time (the current request of its redirect
 * chain) and one reference on it; a job waits on at most one sink.
 */
#ifndef SL_CLIENT_TOOLS_FETCH_INTERNAL_H
#define SL_CLIENT_TOOLS_FETCH_INTERNAL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/manager.h"
#include "client/route.h"
#include "core/headers.h"
#include "engines/dns.h"
#include "engines/tls.h"

/* Exit codes: curl's numbers for the same classes of failure. */
enum {
	SL__FX_OK = 0,
	SL__FX_UNSUPPORTED = 1,     /* unsupported URL scheme */
	SL__FX_USAGE = 2,           /* bad command line */
	SL__FX_URL = 3,             /* malformed URL (also a bad Location) */
	SL__FX_PROXY_NOT_FOUND = 5, /* a proxy's name does not resolve */
	SL__FX_NOT_FOUND = 6,       /* the target's name does not resolve */
	SL__FX_CONNECT = 7,         /* could not connect (target or proxy hop) */
	SL__FX_WEIRD = 8,           /* malformed response */
	SL__FX_HTTP = 22,           /* HTTP status >= 400 with -f */
	SL__FX_WRITE = 23,          /* could not write the output */
	SL__FX_READ = 26,           /* could not read a file to send */
	SL__FX_NOMEM = 27,
	SL__FX_TIMEOUT = 28,        /* --connect-timeout, --max-time, idle timeouts */
	SL__FX_TLS = 35,            /* TLS handshake failed */
	SL__FX_REDIRECT = 47,       /* too many redirects, or https -> http */
	SL__FX_EMPTY = 52,          /* the server closed without answering */
	SL__FX_SEND = 55,           /* failure sending the request */
	SL__FX_RECV = 56,           /* failure receiving (reset, truncated body) */
	SL__FX_CERT = 60,           /* certificate verification failed */
	SL__FX_CACERT = 77,         /* --cacert cannot be loaded */
	SL__FX_NOT_CACHED = 78,     /* --cache-mode always-cache and nothing stored */
	SL__FX_PROXY = 97,          /* proxy handshake or proxy authentication failed */
};

#define SL__FETCH_MAX_HEADERS 64
#define SL__FETCH_MAX_REMOVED 16

/* One output: stdout (shared by every job writing there) or a file. */
typedef struct sl__fetch_sink {
	int fd;
	bool nonblock;              /* a pipe or socket we made non-blocking */
	int saved_flags;            /* its flags before, restored at exit */
	char *buf;                  /* bytes the fd did not take yet */
	size_t len, off, cap;
	ev_io io;                   /* writability while buf holds bytes */
	struct sl__fetch_job *waiters; /* jobs paused until buf drains */
} sl__fetch_sink;

#define SL__FETCH_JOB_MAGIC 0x464a4f42u /* "FJOB" */

typedef struct sl__fetch_job {
	uint32_t magic;
	struct sl__fetch *f;
	size_t idx;
	const char *arg_url;        /* as given */
	char *url;                  /* the current URL (arg_url or a redirect's) */
	const char *out_path;       /* -o; NULL: stdout (or -O) */
	bool remote_name;           /* -O */
	const char *method;         /* current method */
	bool send_body;             /* the current request carries the body */
	bool cross_origin;          /* a redirect left the first origin */
	bool started, finished;
	bool discard;               /* the current response's body is not written */
	bool http_fail;             /* -f and a status >= 400 */
	bool vhead;                 /* -v: the request head is still to print */
	bool waiting;               /* paused on out until it drains */
	unsigned redirects;
	int status;
	char *next_url;             /* the resolved Location to follow */
	int next_status;
	sl_reply *r;
	sl__fetch_sink *out;        /* &f->out (stdout) or &file */
	sl__fetch_sink file;
	bool file_open;
	struct sl__fetch_job *wnext;
	uint64_t body_bytes;        /* of the final response, written or not */
	uint64_t expect;            /* Content-Length of the final response */
	bool expect_known;
	ev_timer max_timer;         /* --max-time */
	int exit_code;
} sl__fetch_job;

typedef struct sl__fetch_opts {
	bool silent, show_error, fail, include, head, verbose, location, insecure, stats;
	bool parallel;
	unsigned parallel_max;
	long max_redirs;            /* -1: no limit */
	double connect_timeout;     /* seconds; 0: default */
	double max_time;            /* seconds; 0: none */
	const char *method;         /* -X */
	const char *user_agent;     /* -A; NULL: default */
	bool ua_removed;            /* -H "User-Agent:" */
	char *user_name, *user_pass; /* -u, split */
	sl_field headers[SL__FETCH_MAX_HEADERS];
	size_t nheaders;
	const char *removed[SL__FETCH_MAX_REMOVED];
	size_t nremoved;
	bool has_body;
	char *data;                 /* -d/--data-binary in memory */
	size_t data_len;
	int body_fd;                /* --data-binary @file alone, or -T FILE: streamed */
	uint64_t body_len;
	bool form;                  /* -d/--data-binary: default Content-Type */
	const char *upload_name;    /* -T FILE's base name, for URLs ending in '/' */
	bool upload;                /* -T */
	size_t nproxies;
	sl_route_buf chain;         /* -x hops in order */
	bool proxy_forward;         /* --proxy-mode forward: plain http:// goes to the
	                               last HTTP proxy hop in absolute form */
	const char *noproxy;        /* --noproxy, or the environment's NO_PROXY */
	const char *cacert;
	const char *cookie_jar;     /* -c */
	const char *cookie_file;    /* -b FILE */
	const char *cookie_str;     /* -b "n=v; ..." */
	const char *dns_servers;
	const char *cache_dir;      /* --cache-dir: an HTTP cache for GET requests */
	enum sl_cache_load cache_mode; /* --cache-mode */
} sl__fetch_opts;

typedef struct sl__fetch {
	sl__fetch_opts o;
	struct ev_loop *loop;
	sl_dns_cache *dcache;
	sl_dns *dns;
	sl_tls_ctx *tls;
	sl_manager *m;
	sl_cookie_jar *jar;
	sl_cache *cache;            /* --cache-dir, or NULL */
	struct sl_proxy_auth *pauth;
	char **args;                /* argv with "--parallel N" joined; owned */
	char **joined;              /* the "--parallel=N" strings made for it */
	size_t njoined;
	sl__fetch_job *jobs;
	size_t njobs, next, running, done;
	int exit_code;
	size_t exit_idx;            /* index of the job exit_code came from */
	sl__fetch_sink out;         /* stdout */
	sl_field fields[SL__FETCH_MAX_HEADERS + 4]; /* scratch for one request */
	char ua[128];
	/* Environment proxies, built once per distinct URL. */
	const char *env_url[2];
	sl_route_buf env_route[2];
	/* Progress bar. */
	bool progress;
	bool progress_drawn;
	ev_timer prog;
	ev_tstamp t0, last_t;
	uint64_t last_bytes, total_bytes;
	double speed;
	ev_signal sigint, sigterm;
} sl__fetch;

/* ---- fetch_run.c ---- */

/* Runs every job to its end on f->loop. Returns the exit code. */
int sl__fetch_run(sl__fetch *f);

/* Makes *route the route of a request to u (the -x chain, an environment
 * proxy, or direct with route->n == 0). Returns 0, or an SL_E_* code for a
 * malformed environment proxy (its variable's value in *bad). */
int sl__fetch_route(sl__fetch *f, const sl_url *u, sl_route *route, const char **bad);

/* Restores stdout's flags (at exit and on a fatal signal). */
void sl__fetch_sink_restore(sl__fetch_sink *s);

/* ---- fetch_report.c ---- */

/* Whether error messages are printed (-s hides them unless -S). */
bool sl__fetch_says(const sl__fetch *f);

/* Prints "sluice-fetch: " and the message (format) to stderr, clearing the
 * progress line first, when error messages are shown. */
void sl__fetch_errorf(sl__fetch *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Turns a failed request of job j (err, with the reply's detail e, which
 * may be NULL before the request was sent) into its exit code, and prints
 * the message naming the URL or the proxy hop. Returns the exit code.
 */
int sl__fetch_fail(sl__fetch *f, sl__fetch_job *j, int err, const sl_reply_error *e);

/* Writes url without its userinfo into out (cap bytes); never fails
 * (an unparsable URL is copied as given up to the first '@'). */
void sl__fetch_safe_url(const char *url, char *out, size_t cap);

/* The trace callback of the connect options: -v prints the line. */
void sl__fetch_trace(sl_stream *s, const char *line, void *arg);

/* -v: prints the head r sent for j's current request ("> " lines,
 * credentials redacted), once per request. */
void sl__fetch_print_request(sl__fetch *f, sl__fetch_job *j, const sl_reply *r);

/*
 * Returns a response head as text, malloc'd, its length in *len: the
 * status line and each field, each line prefixed by prefix and ended by
 * CRLF (crlf true, for -i) or LF (for -v), then an empty line. NULL when
 * out of memory.
 */
char *sl__fetch_head_text(const sl_reply_head *h, const char *prefix, bool crlf, size_t *len);

/* Starts, redraws and clears the progress line. */
void sl__fetch_progress_start(sl__fetch *f);
void sl__fetch_progress_stop(sl__fetch *f);
void sl__fetch_progress_clear(sl__fetch *f);

#endif
