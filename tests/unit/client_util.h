/*
 * Test fixtures of the client stack's unit tests: a scripted HTTP/1.1 test
 * server on the test's libev loop (127.0.0.1, port 0, counting accepted
 * connections and requests; each complete request goes to the test's
 * handler, which answers through tconn_send()), a connector with the
 * signature of sl_chain_connect() doing a plain non-blocking TCP connect
 * (with a "hold" mode so a test decides when connects complete, and a
 * failure mode), a reply recorder, and bounded loop runs that wait on a
 * predicate. Everything runs on one loop in the test's process.
 */
#ifndef TEST_CLIENT_UTIL_H
#define TEST_CLIENT_UTIL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/manager.h"
#include "core/headers.h"
#include "core/http_parse.h"

typedef struct tsrv tsrv;
typedef struct tconn tconn;

/* One request as the server read it; valid during the handler call. */
typedef struct treq {
	tconn *c;
	int index;               /* on its connection, from 0 */
	int seq;                 /* on the server, from 0 */
	char *head;              /* the raw head, NUL-terminated */
	size_t head_len;
	char method[16];
	char target[512];
	sl_field fields[64];
	size_t nfields;
	char *body;              /* the decoded body, NUL-terminated */
	size_t body_len;
	bool chunked;
	bool expect;
	bool early;              /* given before its body (EXPECT_ANSWER_EARLY) */
} treq;

typedef void (*tsrv_fn)(tsrv *s, tconn *c, treq *q);

enum {
	EXPECT_SEND_100 = 0,     /* answer Expect with 100 Continue */
	EXPECT_ANSWER_EARLY,     /* hand the request over before its body */
	EXPECT_IGNORE,           /* wait for the body silently */
};

struct tconn {
	tsrv *s;
	int id;
	int fd;
	ev_io rw, ww;
	char *in;
	size_t nin, capin;
	char *out;
	size_t nout, offout, capout;
	bool close_after;
	bool closed;
	bool eof;                /* the client closed its side */
	bool ignore_input;
	int nreq;
	bool in_body;
	bool chunked;
	uint64_t body_left;
	sl_chunked dec;
	treq cur;
	void *user;
};

struct tsrv {
	struct ev_loop *loop;
	int lfd;
	uint16_t port;
	ev_io aw;
	int accepted, requests, eofs;
	tsrv_fn fn;
	int expect_mode;
	tconn *conns[128];
	int nconns;
	void *user;
	int user_int;
	int counter;
	char order[2048];        /* request targets in arrival order, space-separated */
};

tsrv *tsrv_new(struct ev_loop *loop, tsrv_fn fn);
void tsrv_free(tsrv *s);
void tconn_send(tconn *c, const void *p, size_t n);
void tconn_sendf(tconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tconn_close_after(tconn *c);
void tconn_close_now(tconn *c);
void tconn_reset(tconn *c);
/* Copies the value of the first field called name into buf ("" if none);
 * returns whether it was there. */
bool treq_header(const treq *q, const char *name, char *buf, size_t cap);

/* ---- the connector ---- */

typedef struct tnet {
	int connects;
	int cancels;
	int fail_err;            /* non-zero: every connect fails with it */
	int fail_hop;
	bool fail_proxy;
	uint16_t fail_port;      /* non-zero: connects to this port fail with
	                            SL_E_PROXY_REFUSED at hop 0 */
	bool hold;               /* connects complete only on tnet_release() */
	struct sl_chain_req *held[64];
	int nheld;
	size_t last_route_n;
	char last_host[256];
	uint16_t last_port;
	uint64_t last_timeout;
	bool last_tls;
	bool last_to_last_hop;
} tnet;

extern tnet g_net;
sl_chain_req *test_connect(struct ev_loop *loop, const sl_route *route, const char *host,
			   uint16_t port, const sl_connect_opts *opts, sl_chain_cb cb, void *arg);
void test_cancel(sl_chain_req *r);
/* Lets the oldest held connect complete (from the loop). Returns false if none. */
bool tnet_release(void);

/* ---- the recorder ---- */

typedef struct rec {
	int heads, infos, datas, dones, trailers, drains;
	int status;
	int info_status;
	enum sl_http_body framing;
	uint64_t clen;
	bool keep_alive;
	int err;
	char *body;
	size_t nbody, cap;
	char ctype[256];
	char trailer[256];
	int done_seq;
	bool pause_on_first_data;
	bool abort_on_first_data;
	bool unref_in_done;
	int data_while_paused;
	bool paused;
	size_t max_buffered;
	sl_reply *r;
	void (*done_hook)(struct rec *rc, sl_reply *r, int err);
	void (*drain_hook)(struct rec *rc, sl_reply *r);
	void *user;
} rec;

extern const sl_reply_cbs rec_cbs;
void rec_free(rec *rc);

/* ---- the environment ---- */

typedef struct env {
	struct ev_loop *loop;
	tsrv *srv;
	sl_manager *m;
	sl_manager_opts o;
	char urlbuf[4][512];
	int urli;
} env;

/* A loop, a server with handler fn, and options with the test connector. */
void env_init(env *e, tsrv_fn fn);
/* Creates the manager from e->o. */
void env_manager(env *e);
void env_fini(env *e);
/* "http://127.0.0.1:PORT" + path, in one of four rotating buffers. */
const char *env_url(env *e, const char *path);
/* Sends a request with the recorder as callbacks (asserts success). */
sl_reply *env_get(env *e, const char *method, const char *path, rec *rc);

typedef bool (*pred_fn)(void *arg);
/* Runs the loop until pred(arg) is true, at most timeout seconds. Returns
 * whether pred became true. */
bool run_until(struct ev_loop *loop, pred_fn pred, void *arg, double timeout);
/* Runs the loop for about secs (used to check that nothing happens). */
void run_for(struct ev_loop *loop, double secs);
bool pred_done(void *rec_ptr);
bool pred_data(void *rec_ptr);   /* at least one on_data */
bool pred_no_channels(void *manager); /* nothing connecting, busy or idle */
/* arg: a NULL-terminated array of rec pointers. */
bool pred_all_done(void *recs);

/* Counters the recorder updates. */
extern int g_done_counter;

#endif
