/*
 * Client sessions: one accepted connection, from its first byte to its
 * close, on one worker. A session reads request heads, hands each request to
 * the forwarder (forward.c), the tunnel (tunnel.c) or a local answer (admin,
 * errors, OPTIONS and TRACE with Max-Forwards 0), writes the responses in
 * order and keeps the connection alive between them. It is an explicit
 * state machine:
 *
 *   state           event                                      next
 *   --------------  -----------------------------------------  ---------------
 *   READ_HEAD       head parsed, forwarded, a body follows     READ_BODY
 *   READ_HEAD       head parsed, forwarded without body, or    WRITE_RESPONSE
 *                   answered here (admin, error, OPTIONS...)
 *   READ_HEAD       CONNECT accepted                           CONNECTING
 *   READ_HEAD       EOF or idle timeout with nothing read      CLOSED
 *   READ_HEAD       malformed or oversized head, timeout       WRITE_RESPONSE, then close
 *   READ_BODY       the body's last byte went upstream         WRITE_RESPONSE
 *   READ_BODY       client EOF, bad chunk, stalled client      CLOSED
 *   WRITE_RESPONSE  response out, connection persists          READ_HEAD
 *   WRITE_RESPONSE  response out, connection closes            CLOSING
 *   WRITE_RESPONSE  upstream fails after the head went out     CLOSING (truncated)
 *   CONNECTING      target reached, 200 queued                 TUNNEL
 *   CONNECTING      connect failed: error answer               WRITE_RESPONSE, then close
 *   TUNNEL          both directions ended, idle, error         CLOSED
 *   CLOSING         queue out, then EOF or linger timeout      CLOSED
 *   any             write error, client reset, close_all       CLOSED
 *
 * A response that finishes while the body is still arriving (the upstream
 * answered early) closes the connection, since the rest of the body would
 * otherwise be read as the next request.
 *
 * Invariants: one request at a time (a pipelined request is parsed only
 * after the response before it is written out, so answers keep their
 * order); every request that was read is logged exactly once; a session is
 * never freed while one of its callbacks runs (each holds a reference); the
 * input buffer holds bytes only while something is left over, and both
 * buffers are freed when the connection goes idle.
 */
#include "server/session.h"

#include <assert.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "server/admin.h"
#include "server/health.h"
#include "server/cache_internal.h"
#include "server/listen.h"
#include "server/session_internal.h"

static const char *const state_names[] = {
	[SS_READ_HEAD] = "READ_HEAD",         [SS_READ_BODY] = "READ_BODY",
	[SS_WRITE_RESPONSE] = "WRITE_RESPONSE", [SS_CONNECTING] = "CONNECTING",
	[SS_TUNNEL] = "TUNNEL",               [SS_CLOSING] = "CLOSING",
	[SS_CLOSED] = "CLOSED",
};

static void check(const sl__session *s)
{
	assert(s && s->magic == SL__SESSION_MAGIC);
	(void)s;
}

static const char *state_name(const sl__session *s)
{
	return s->state <= SS_CLOSED ? state_names[s->state] : "?";
}

static void set_state(sl__session *s, enum sl__ss st)
{
	if (s->state != st)
		SL_DEBUG("session %d: %s -> %s", s->fd, state_name(s), state_names[st]);
	s->state = (uint8_t)st;
}

static const sl_config *cfg_of(const sl__session *s)
{
	return sl__cfg(s);
}

/* Between requests: the session moves to the newest configuration, so the
 * next request runs on it and an old snapshot is not kept alive by an idle
 * connection. */
static void repin(sl__session *s)
{
	if (s->snap == s->env->snap || s->txn || s->tun)
		return;
	sl_snap_drop(s->env, s->snap);
	s->snap = sl_snap_take(s->env);
}

static ev_tstamp now_of(const sl__session *s)
{
	return ev_now(s->env->loop);
}

/* ---- pools ---- */

static sl__txn *txn_get(sl__session *s)
{
	struct sl__sctx *c = sl__ctx(s);
	sl__txn *t = c->free_t;
	char *str = NULL;
	size_t cap = 0;

	if (t) {
		c->free_t = t->next;
		c->nfree_t--;
		str = t->str;
		cap = t->str_cap;
	} else if (!(t = malloc(sizeof *t))) {
		return NULL;
	}
	memset(t, 0, sizeof *t);
	t->magic = SL__TXN_MAGIC;
	t->str = str;
	t->str_cap = cap;
	t->result = "NONE";
	t->t_start = now_of(s);
	t->body_done = true;
	s->txn = t;
	if (++c->ntxn > c->ntxn_peak)
		c->ntxn_peak = c->ntxn;
	return t;
}

/*
 * After a burst of many requests at once, gives the memory they used back
 * to the system: freed memory otherwise stays in the allocator's heaps, and
 * a proxy that once had thousands of requests in flight would keep that
 * much resident for good. Runs when the worker's last request of such a
 * burst ends, so at most once per burst.
 */
static void trim_after_burst(sl__session *s, struct sl__sctx *c)
{
	ev_tstamp now = now_of(s);

	if (c->ntxn || c->ntxn_peak < SL__TRIM_PEAK || now - c->trimmed < 1.0)
		return;
	c->ntxn_peak = 0;
	c->trimmed = now;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void txn_put(sl__session *s)
{
	struct sl__sctx *c = sl__ctx(s);
	sl__txn *t = s->txn;

	if (!t)
		return;
	assert(t->magic == SL__TXN_MAGIC && !t->up);
	s->txn = NULL;
	t->magic = 0;
	c->ntxn--;
	if (t->str_cap > SL__TXN_STR_KEEP) {
		free(t->str);
		t->str = NULL;
		t->str_cap = 0;
	}
	if (c->nfree_t < SL__POOL_TXNS) {
		t->next = c->free_t;
		c->free_t = t;
		c->nfree_t++;
	} else {
		free(t->str);
		free(t);
	}
	trim_after_burst(s, c);
}

int sl__txn_set_strings(sl__txn *t, sl_slice method, const char *url, size_t n,
			const char *host, size_t hn)
{
	size_t need = method.n + 1 + n + 1 + hn + 1;
	char *p;

	if (need > t->str_cap) {
		p = realloc(t->str, need);
		if (!p)
			return SL_E_NOMEM;
		t->str = p;
		t->str_cap = need;
	}
	p = t->str;
	memcpy(p, method.p, method.n);
	p[method.n] = '\0';
	t->method = p;
	p += method.n + 1;
	memcpy(p, url, n);
	p[n] = '\0';
	t->url = p;
	p += n + 1;
	if (hn)
		memcpy(p, host, hn);
	p[hn] = '\0';
	t->host = p;
	return 0;
}

void sl__txn_set_ctype(sl__txn *t, sl_slice v)
{
	size_t k = 0;

	/* The media type alone: one token in a log line. */
	while (k < v.n && k < sizeof t->ctype - 1 && v.p[k] != ';' && v.p[k] != ' ' &&
	       v.p[k] != '\t') {
		t->ctype[k] = v.p[k];
		k++;
	}
	t->ctype[k] = '\0';
}

static sl__session *session_get(sl_session_env *env)
{
	struct sl__sctx *c = env->ctx;
	sl__session *s = c->free_s;

	if (s) {
		assert(s->magic == SL__SESSION_POOLED);
		c->free_s = s->next;
		c->nfree_s--;
	} else if (!(s = malloc(sizeof *s))) {
		return NULL;
	}
	memset(s, 0, sizeof *s);
	return s;
}

static void session_put(sl__session *s)
{
	struct sl__sctx *c = sl__ctx(s);

	if (s->snap) {
		sl_snap_drop(s->env, s->snap);
		s->snap = NULL;
	}
	s->magic = SL__SESSION_POOLED;
	if (c->nfree_s < SL__POOL_SESSIONS) {
		s->next = c->free_s;
		c->free_s = s;
		c->nfree_s++;
		return;
	}
	s->magic = 0;
	free(s);
}

void sl__session_ref(sl__session *s)
{
	check(s);
	s->refs++;
}

void sl__session_unref(sl__session *s)
{
	check(s);
	assert(s->refs > 0);
	if (--s->refs == 0) {
		assert(s->state == SS_CLOSED);
		session_put(s);
	}
}

bool sl__session_alive(const sl__session *s)
{
	return s->state != SS_CLOSED;
}

/* ---- the input ---- */

void sl__session_consume(sl__session *s, size_t n)
{
	assert(n <= s->vn);
	if (!s->vscratch)
		sl_buf_consume(&s->in, n);
	s->vp += n;
	s->vn -= n;
}

void sl__session_view_buffer(sl__session *s)
{
	s->vp = sl_buf_data(&s->in);
	s->vn = sl_buf_len(&s->in);
	s->vscratch = false;
}

/* Ends the processing of a read: what is left of a scratch read moves into
 * the session's buffer; an empty buffer gives its memory back. Returns 0 or
 * SL_E_NOMEM. */
static int settle(sl__session *s)
{
	int rc = 0;

	if (s->vscratch && s->vn)
		rc = sl_buf_append(&s->in, s->vp, s->vn);
	s->vp = NULL;
	s->vn = 0;
	s->vscratch = false;
	if (sl_buf_len(&s->in) == 0)
		sl_buf_release(&s->in);
	return rc;
}

static bool input_full(const sl__session *s)
{
	return sl_buf_len(&s->in) >= sl__ctx(s)->in_cap;
}

/*
 * Reads once from the client: into the worker's scratch buffer when the
 * session holds no bytes, else after the bytes it holds. Sets the view.
 * Returns bytes, 0 at EOF, -EAGAIN, SL_E_LIMIT (the input is full) or -errno.
 */
static ssize_t client_read(sl__session *s)
{
	struct sl__sctx *c = sl__ctx(s);
	ssize_t n;

	if (sl_buf_len(&s->in) == 0) {
		n = read(s->fd, c->scratch, c->in_cap);
		if (n > 0) {
			s->vp = c->scratch;
			s->vn = (size_t)n;
			s->vscratch = true;
		}
	} else {
		char *p;
		size_t room;
		int rc = sl_buf_space(&s->in, 1, &p, &room);

		if (rc < 0)
			return rc;
		if (room > c->in_cap - sl_buf_len(&s->in))
			room = c->in_cap - sl_buf_len(&s->in);
		n = read(s->fd, p, room);
		if (n > 0) {
			sl_buf_commit(&s->in, (size_t)n);
			sl__session_view_buffer(s);
		}
	}
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
	return n;
}

/* ---- output ---- */

int sl__session_queue(sl__session *s, const void *p, size_t n)
{
	if (sl_outq_empty(&s->out))
		s->last_activity = now_of(s);
	if (s->txn)
		s->txn->bytes_out += n;
	return sl_outq_push(&s->out, p, n);
}

int sl__session_send_body(sl__session *s, enum sl_http_body framing, sl_slice d)
{
	static const char hex[] = "0123456789abcdef";
	char line[24];
	size_t k = sizeof line;

	if (framing != SL_BODY_CHUNKED) {
		struct iovec iov = {(void *)d.p, d.n};
		return sl__session_sendv(s, &iov, 1);
	}
	if (d.n == 0)
		return 0; /* an empty chunk would end the body */
	line[--k] = '\n';
	line[--k] = '\r';
	for (size_t v = d.n; v; v >>= 4)
		line[--k] = hex[v & 15];
	struct iovec iov[3] = {
		{line + k, sizeof line - k}, {(void *)d.p, d.n}, {(void *)"\r\n", 2}};
	return sl__session_sendv(s, iov, 3);
}

int sl__session_sendv(sl__session *s, const struct iovec *iov, int n)
{
	size_t total = 0, done = 0;
	int rc;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (s->txn)
		s->txn->bytes_out += total;
	if (sl_outq_empty(&s->out)) {
		struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
		ssize_t w;

		s->last_activity = now_of(s);
		do {
			w = sendmsg(s->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		done = w > 0 ? (size_t)w : 0;
	}
	/* Queue what the socket did not take, skipping what it did. */
	for (int i = 0; i < n; i++) {
		size_t len = iov[i].iov_len;
		if (done >= len) {
			done -= len;
			continue;
		}
		rc = sl_outq_push(&s->out, (const char *)iov[i].iov_base + done, len - done);
		if (rc < 0)
			return rc;
		done = 0;
	}
	return 0;
}

int sl__session_flush(sl__session *s)
{
	while (!sl_outq_empty(&s->out)) {
		ssize_t w = sl_outq_write(&s->out, s->fd);

		if (w == -EAGAIN || w == -EINTR)
			break;
		if (w < 0)
			return (int)w;
		s->last_activity = now_of(s);
	}
	sl__forward_wrote(s);
	return 0;
}

void sl__session_update_io(sl__session *s)
{
	unsigned ev = 0;

	switch (s->state) {
	case SS_READ_HEAD:
		ev = input_full(s) ? 0 : EV_READ;
		break;
	case SS_READ_BODY:
		if (!(s->txn && s->txn->wait_drain) && !input_full(s))
			ev = EV_READ;
		break;
	case SS_WRITE_RESPONSE:
	case SS_CONNECTING:
		if (!s->client_eof && !input_full(s))
			ev = EV_READ;
		break;
	case SS_CLOSING:
		if (!s->client_eof)
			ev = EV_READ;
		break;
	case SS_TUNNEL:
	case SS_CLOSED:
		return;
	}
	if (!sl_outq_empty(&s->out))
		ev |= EV_WRITE;
	sl__io_arm(s->env->loop, &s->io, &s->events, ev);
}

const char *sl__session_date(sl__session *s)
{
	struct sl__sctx *c = sl__ctx(s);
	time_t t = (time_t)now_of(s);
	char d[SL_HTTP_DATE_BUFSZ];

	if (t != c->date_t) {
		c->date_t = t;
		if (sl_http_date_format(t, d) == 0)
			snprintf(c->date, sizeof c->date, "Date: %s\r\n", d);
		else
			c->date[0] = '\0';
	}
	return c->date;
}

/* ---- timers ---- */

/*
 * The session's one timer is lazy: changing what it measures records the
 * kind and its deadline, and the libev timer is only moved when the new
 * deadline comes before the armed one; a timer that fires early re-arms
 * itself for the rest. A kept-alive connection thus goes from idle to
 * active and back, request after request, without touching the timer heap.
 */
void sl__session_timer(sl__session *s, enum sl__st kind, uint64_t ms)
{
	struct ev_loop *loop = s->env->loop;
	ev_tstamp after = (ev_tstamp)ms / 1000.;

	s->timer_kind = (uint8_t)kind;
	if (kind == ST_NONE || !ms) {
		s->deadline = 0;
		return;
	}
	s->deadline = now_of(s) + after;
	if (ev_is_active(&s->timer) && ev_timer_remaining(loop, &s->timer) <= after)
		return;
	ev_timer_stop(loop, &s->timer);
	ev_timer_set(&s->timer, after, 0.);
	ev_timer_start(loop, &s->timer);
}

/* Arms the activity timer (client_idle from now). */
static void activity_timer(sl__session *s)
{
	s->last_activity = now_of(s);
	if (s->timer_kind != ST_ACTIVITY)
		sl__session_timer(s, ST_ACTIVITY, cfg_of(s)->timeouts.client_idle_ms);
}

/* When the timer fired: true when deadline has come, else re-arms the
 * timer for the rest. */
static bool due(sl__session *s, ev_tstamp deadline)
{
	ev_tstamp left = deadline - now_of(s);

	if (left > 0.001) {
		ev_timer_set(&s->timer, left, 0.);
		ev_timer_start(s->env->loop, &s->timer);
		return false;
	}
	return true;
}

/* ---- logging ---- */

static void log_txn(sl__session *s)
{
	sl_session_env *env = s->env;
	sl__txn *t = s->txn;
	char client[SL_ADDR_STRLEN], route[SL_ADDR_STRLEN + 160];
	sl_access_entry e;
	ev_tstamp now = now_of(s);

	if (!t || t->logged || !t->method)
		return;
	t->logged = true;
	if (!env->access_log)
		return;
	if (s->peer_unix)
		snprintf(client, sizeof client, "unix");
	else if (sl_addr_format(&s->peer, client, sizeof client) < 0)
		snprintf(client, sizeof client, "-");
	if (t->direct && t->parent)
		snprintf(route, sizeof route, "%s/%s", t->parent_hier, t->parent);
	else if (t->direct)
		snprintf(route, sizeof route, "HIER_DIRECT/%s", t->peer[0] ? t->peer : t->host);
	else
		snprintf(route, sizeof route, "HIER_NONE/-");
	e.start = t->t_start;
	e.duration_ms = now > t->t_start ? (uint64_t)((now - t->t_start) * 1000.) : 0;
	e.client = client;
	e.result = t->result;
	e.status = t->status;
	e.bytes = t->bytes_out;
	e.bytes_in = t->bytes_in;
	e.method = t->method;
	e.url = t->url && t->url[0] ? t->url : "-";
	e.user = "-";
	e.route = route;
	e.content_type = t->ctype[0] ? t->ctype : "-";
	e.error = t->err[0] ? t->err : NULL;
	env->access_log(env->access_arg, &e);
}

/* ---- closing ---- */

static void unlink_session(sl__session *s)
{
	sl_session_env *env = s->env;

	if (s->prev)
		s->prev->next = s->next;
	else
		env->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	env->nsessions--;
	if (env->stats)
		env->stats->active_sessions = env->nsessions;
}

void sl__session_close(sl__session *s, const char *err_text)
{
	sl_session_env *env = s->env;

	check(s);
	if (s->state == SS_CLOSED)
		return;
	if (s->txn) {
		if (err_text && !s->txn->err[0])
			snprintf(s->txn->err, sizeof s->txn->err, "%s", err_text);
		log_txn(s);
	}
	sl__forward_abort(s);
	if (s->tun)
		sl__tunnel_free(s);
	txn_put(s);
	ev_io_stop(env->loop, &s->io);
	ev_timer_stop(env->loop, &s->timer);
	s->events = 0;
	if (s->abort_rst) {
		struct linger lg = {1, 0};
		(void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(s->fd);
	s->fd = -1;
	sl_buf_free(&s->in);
	sl_outq_free(&s->out);
	s->vp = NULL;
	s->vn = 0;
	unlink_session(s);
	set_state(s, SS_CLOSED);
	sl__session_unref(s);   /* the open connection's reference */
}

void sl__session_close_soft(sl__session *s)
{
	int rc;

	if (s->state == SS_CLOSED)
		return;
	sl__forward_abort(s);
	txn_put(s);
	if (s->abort_rst) {
		(void)sl__session_flush(s);
		sl__session_close(s, NULL);
		return;
	}
	set_state(s, SS_CLOSING);
	rc = sl__session_flush(s);
	if (rc < 0) {
		sl__session_close(s, NULL);
		return;
	}
	if (!sl_outq_empty(&s->out)) {
		activity_timer(s);
		sl__session_update_io(s);
		return;
	}
	if (s->client_eof) {
		sl__session_close(s, NULL);
		return;
	}
	if (!s->shut_wr) {
		(void)shutdown(s->fd, SHUT_WR);
		s->shut_wr = true;
	}
	sl__session_timer(s, ST_LINGER, SL__LINGER_MS);
	sl__session_update_io(s);
}

/* ---- request boundaries ---- */

static void process(sl__session *s);

/* The connection waits for the next request with nothing buffered. */
static void go_idle(sl__session *s)
{
	const sl_config *cfg;

	repin(s);
	cfg = cfg_of(s);

	if (!s->in_process)
		sl_buf_release(&s->in);
	sl_outq_trim(&s->out);
	sl__session_timer(s, ST_IDLE, s->nreq ? cfg->timeouts.client_idle_ms
					     : cfg->timeouts.client_header_ms);
}

/* The response of the current request is out: log it and go on. */
static void request_finished(sl__session *s)
{
	sl__txn *t = s->txn;
	bool close = s->must_close || s->client_eof || s->env->draining || !t->body_done ||
		     s->abort_rst;

	log_txn(s);
	sl__forward_abort(s);
	txn_put(s);
	s->nreq++;
	if (close) {
		sl__session_close_soft(s);
		return;
	}
	set_state(s, SS_READ_HEAD);
	if (sl_buf_len(&s->in) || (s->in_process && s->vn)) {
		sl__session_timer(s, ST_HEADER, cfg_of(s)->timeouts.client_header_ms);
		if (!s->in_process)
			sl__session_kick(s);
		return;
	}
	go_idle(s);
	sl__session_update_io(s);
}

void sl__session_response_done(sl__session *s)
{
	int rc;

	s->txn->resp_done = true;
	rc = sl__session_flush(s);
	if (rc < 0) {
		sl__session_close(s, "write to the client failed");
		return;
	}
	if (sl_outq_empty(&s->out)) {
		request_finished(s);
		return;
	}
	activity_timer(s);
	sl__session_update_io(s);
}

void sl__session_answer(sl__session *s, int status, const char *ctype, const char *body,
			size_t len, const char *extra, bool close)
{
	sl__txn *t = s->txn;
	char head[1024];
	int n;

	if (!t->body_done || s->must_close || s->env->draining || !t->keep_alive ||
	    s->client_eof)
		close = true;
	n = snprintf(head, sizeof head,
		     "HTTP/1.1 %d %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
		     status, sl_http_reason(status), sl__session_date(s), ctype, len,
		     extra ? extra : "",
		     close ? "Connection: close\r\n"
			   : t->minor == 0 ? "Connection: keep-alive\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof head) {
		sl__session_close(s, "answer too large");
		return;
	}
	t->status = status;
	t->head_queued = true;
	sl__txn_set_ctype(t, sl_slice_cstr(ctype));
	if (close)
		s->must_close = true;
	if (sl__session_queue(s, head, (size_t)n) < 0 ||
	    (t->meth != SL_METHOD_HEAD && len && sl__session_queue(s, body, len) < 0)) {
		sl__session_close(s, "out of memory");
		return;
	}
	set_state(s, SS_WRITE_RESPONSE);
	sl__session_response_done(s);
}

void sl__session_fail(sl__session *s, int code, sl_err_side side, const char *detail)
{
	sl__txn *t = s->txn;
	sl_error_answer a;
	char body[512];
	size_t n;

	sl_errors_map(code, side, &a);
	if (!t && !(t = txn_get(s))) {
		sl__session_close(s, "out of memory");
		return;
	}
	if (!t->method && sl__txn_set_strings(t, SL_SLICE_LIT("-"), "-", 1, "", 0) < 0) {
		sl__session_close(s, "out of memory");
		return;
	}
	if (!t->err[0])
		snprintf(t->err, sizeof t->err, "%s", detail && detail[0] ? detail : sl_strerror(code));
	t->result = a.result;
	if (s->env->stats)
		s->env->stats->errors++;
	if (t->head_queued) {
		/* Too late for an answer: the truncation must show. */
		sl__session_close(s, NULL);
		return;
	}
	sl__forward_abort(s);
	n = sl_errors_body(&a, code, detail, body, sizeof body);
	sl__session_answer(s, a.status, "text/plain; charset=utf-8", body, n, NULL, a.close);
}

/* ---- requests ---- */

void sl__session_deny_client(sl__session *s)
{
	/* Nothing more for this client: the connection closes after the 403. */
	s->must_close = true;
	sl__session_fail(s, SL_E_TARGET_DENIED, SL_SIDE_CLIENT,
			 "this client may not use the proxy (acl.allow_clients)");
}

static void answer_admin(sl__session *s, const sl_http_request *rq)
{
	sl_session_env *env = s->env;
	struct sl__sctx *c = env->ctx;
	sl_manager_stats ms;
	sl_admin_answer a;
	sl_admin_page page;

	page = sl_admin_route(cfg_of(s), s->peer_unix ? NULL : &s->peer, rq->method, rq->target);
	if (page == SL_ADMIN_CACHE) {
		sl__cache_answer_summary(s);
		return;
	}
	if (page == SL_ADMIN_UPSTREAMS) {
		int n = sl_health_json(env->health, cfg_of(s), sl_health_now_ms(), c->head,
				       c->head_cap);
		if (n < 0) {
			sl__session_fail(s, SL_E_NOMEM, SL_SIDE_CLIENT, NULL);
			return;
		}
		sl__session_answer(s, 200, "application/json", c->head, (size_t)n, NULL, false);
		return;
	}
	if (page == SL_ADMIN_STATS && env->manager)
		sl_manager_get_stats(env->manager, &ms);
	else
		memset(&ms, 0, sizeof ms);
	if (sl_admin_answer_page(page, rq->host, env->worker_id, env->stats, &ms, c->head,
				 c->head_cap, &a) < 0) {
		sl__session_fail(s, SL_E_NOMEM, SL_SIDE_CLIENT, NULL);
		return;
	}
	if (page == SL_ADMIN_FORBIDDEN)
		s->txn->result = "TCP_DENIED";
	sl__session_answer(s, a.status, a.content_type, c->head, a.len, NULL, false);
}

/* Copies what the transaction needs from a parsed head. */
static void txn_from_head(sl__txn *t, const sl_http_request *rq, size_t hlen)
{
	t->meth = rq->meth;
	t->minor = rq->minor_version;
	t->keep_alive = rq->keep_alive;
	t->expect_continue = rq->expect_continue;
	t->req_body = rq->body;
	t->body_left = rq->body == SL_BODY_LENGTH ? rq->content_length : 0;
	t->body_done = rq->body == SL_BODY_NONE ||
		       (rq->body == SL_BODY_LENGTH && rq->content_length == 0);
	t->bytes_in = hlen;
}

/* Parses a head from the input and dispatches it. Returns SL_E_AGAIN when
 * the head is incomplete, else 0 (the state moved on). */
static int read_head(sl__session *s)
{
	struct sl__sctx *c = sl__ctx(s);
	sl_http_request rq;
	sl_url u;
	sl__txn *t;
	int rc;
	size_t hlen;

	repin(s);
	rc = sl_http_parse_request(&s->parser, s->vp, s->vn, &rq, c->fields, c->nfields);
	if (rc == SL_E_AGAIN && s->vn < c->in_cap)
		return SL_E_AGAIN;
	if (rc == SL_E_AGAIN)
		rc = SL_E_HTTP_HEADERS_TOO_LARGE;
	if (!(t = txn_get(s))) {
		sl__session_close(s, "out of memory");
		return 0;
	}
	if (s->env->stats)
		s->env->stats->requests++;
	if (rc < 0) {
		/* Nothing after a malformed head can be trusted: drop it all. */
		t->bytes_in = s->vn;
		(void)sl__txn_set_strings(t, SL_SLICE_LIT("-"), "-", 1, "", 0);
		sl__session_consume(s, s->vn);
		sl_http_parser_reset(&s->parser);
		s->must_close = true;
		sl__session_fail(s, rc, SL_SIDE_CLIENT, NULL);
		return 0;
	}
	hlen = (size_t)rc;
	txn_from_head(t, &rq, hlen);
	sl__session_consume(s, hlen);

	switch (rq.form) {
	case SL_TARGET_ABSOLUTE:
		rc = sl_url_parse(rq.target.p, rq.target.n, &u);
		if (rc == 0 && !sl_slice_case_eq_cstr(u.scheme, "http") &&
		    !sl_slice_case_eq_cstr(u.scheme, "https"))
			rc = SL_E_UNSUPPORTED;
		if (rc < 0) {
			if (sl__txn_set_strings(t, rq.method, rq.target.p, rq.target.n, "", 0) < 0) {
				sl__session_close(s, "out of memory");
				return 0;
			}
			sl__session_fail(s, rc, SL_SIDE_CLIENT,
					 rc == SL_E_UNSUPPORTED
						 ? "only http:// and https:// URLs are forwarded"
						 : NULL);
			return 0;
		}
		sl__forward_start(s, &rq, &u);
		return 0;
	case SL_TARGET_AUTHORITY:
		rc = sl_url_parse_authority(rq.target.p, rq.target.n, &u);
		if (rc < 0) {
			if (sl__txn_set_strings(t, rq.method, rq.target.p, rq.target.n, "", 0) < 0) {
				sl__session_close(s, "out of memory");
				return 0;
			}
			sl__session_fail(s, rc, SL_SIDE_CLIENT, NULL);
			return 0;
		}
		sl__tunnel_start(s, &rq, &u);
		return 0;
	case SL_TARGET_ORIGIN:
	case SL_TARGET_ASTERISK:
		break;
	}
	if (sl__txn_set_strings(t, rq.method, rq.target.p, rq.target.n, "", 0) < 0) {
		sl__session_close(s, "out of memory");
		return 0;
	}
	if (!sl_acl_client_allowed(cfg_of(s), s->peer_unix ? NULL : &s->peer)) {
		sl__session_deny_client(s);
		return 0;
	}
	if (rq.form == SL_TARGET_ASTERISK) {
		sl__session_answer(s, 200, "text/plain; charset=utf-8", "", 0,
				   "Allow: " SL_MSG_ALLOW "\r\n", false);
		return 0;
	}
	answer_admin(s, &rq);
	return 0;
}

/* Runs the state machine over the input in view. */
static void process(sl__session *s)
{
	if (s->in_process)
		return;
	s->in_process = true;
	while (s->state != SS_CLOSED) {
		if (s->state == SS_READ_HEAD) {
			if (s->vn == 0 || read_head(s) == SL_E_AGAIN)
				break;
		} else if (s->state == SS_READ_BODY) {
			if (sl__forward_body(s) != 0)
				break;
		} else {
			break;
		}
	}
	s->in_process = false;
}

void sl__session_kick(sl__session *s)
{
	if (s->in_process || s->state == SS_CLOSED)
		return;
	sl__session_ref(s);
	sl__session_view_buffer(s);
	process(s);
	if (s->state != SS_CLOSED) {
		if (settle(s) < 0)
			sl__session_close(s, "out of memory");
		else
			sl__session_update_io(s);
	}
	sl__session_unref(s);
}

/* ---- events ---- */

static void on_client_eof(sl__session *s)
{
	s->client_eof = true;
	switch (s->state) {
	case SS_READ_HEAD:
		if (sl_buf_len(&s->in))
			SL_DEBUG("session %d: client closed in the middle of a request head", s->fd);
		sl__session_close(s, NULL);
		return;
	case SS_READ_BODY:
		sl__session_close(s, "client closed the connection during the request body");
		return;
	case SS_CONNECTING:
		sl__session_close(s, "client closed the connection before the tunnel was up");
		return;
	case SS_CLOSING:
		if (sl_outq_empty(&s->out))
			sl__session_close(s, NULL);
		return;
	default:
		/* A half-close after the request: finish the response, then close. */
		return;
	}
}

static void on_readable(sl__session *s)
{
	ssize_t n;

	if (s->state == SS_CLOSING) {
		/* Lingering: read and drop until the client's EOF. */
		n = read(s->fd, sl__ctx(s)->scratch, sl__ctx(s)->in_cap);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			sl__session_close(s, NULL);
		return;
	}
	n = client_read(s);
	if (n == -EAGAIN)
		return;
	if (n == SL_E_LIMIT)
		return; /* full: reading stops until the buffer drains */
	if (n < 0) {
		sl__session_close(s, n == -ECONNRESET ? "client reset the connection"
						      : "read from the client failed");
		return;
	}
	if (n == 0) {
		on_client_eof(s);
		return;
	}
	s->last_activity = now_of(s);
	process(s);
	if (s->state == SS_CLOSED)
		return;
	if (settle(s) < 0) {
		sl__session_close(s, "out of memory");
		return;
	}
	if (s->state == SS_READ_HEAD && s->timer_kind != ST_HEADER && sl_buf_len(&s->in))
		sl__session_timer(s, ST_HEADER, cfg_of(s)->timeouts.client_header_ms);
}

static void on_writable(sl__session *s)
{
	if (sl__session_flush(s) < 0) {
		sl__session_close(s, "write to the client failed");
		return;
	}
	if (!sl_outq_empty(&s->out))
		return;
	if (s->state == SS_CLOSING) {
		sl__session_close_soft(s);
		return;
	}
	if (s->txn && s->txn->resp_done &&
	    (s->state == SS_WRITE_RESPONSE || s->state == SS_READ_BODY))
		request_finished(s);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	sl__session *s = (sl__session *)((char *)w - offsetof(sl__session, io));

	(void)loop;
	check(s);
	sl__session_ref(s);
	if (s->state == SS_TUNNEL) {
		sl__tunnel_on_client(s, revents);
	} else {
		if (revents & EV_WRITE)
			on_writable(s);
		if ((revents & EV_READ) && s->state != SS_CLOSED && s->state != SS_TUNNEL)
			on_readable(s);
		if (s->state != SS_CLOSED && s->state != SS_TUNNEL)
			sl__session_update_io(s);
	}
	sl__session_unref(s);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	sl__session *s = (sl__session *)((char *)w - offsetof(sl__session, timer));
	const sl_config *cfg = cfg_of(s);

	(void)loop;
	(void)revents;
	check(s);
	sl__session_ref(s);
	const ev_tstamp idle = (ev_tstamp)cfg->timeouts.client_idle_ms / 1000.;

	switch (s->timer_kind) {
	case ST_IDLE:
		if (due(s, s->deadline) && s->state == SS_READ_HEAD && !s->txn &&
		    sl_buf_len(&s->in) == 0)
			sl__session_close(s, NULL);
		break;
	case ST_HEADER:
		if (due(s, s->deadline) && s->state == SS_READ_HEAD) {
			s->must_close = true;
			sl__session_fail(s, SL_E_TIMEOUT, SL_SIDE_CLIENT, NULL);
		}
		break;
	case ST_ACTIVITY:
		if ((s->state == SS_WRITE_RESPONSE && sl_outq_empty(&s->out)) ||
		    (s->state == SS_READ_BODY && s->txn && s->txn->wait_drain)) {
			/* Waiting on the upstream, whose own timers run. */
			s->last_activity = now_of(s);
			(void)due(s, s->last_activity + idle);
			break;
		}
		if (!due(s, s->last_activity + idle))
			break;
		if (s->state == SS_READ_BODY)
			sl__session_close(s, "client stopped sending the request body");
		else if (s->state != SS_TUNNEL)
			sl__session_close(s, "client stopped reading the response");
		break;
	case ST_TUNNEL:
		if (s->state == SS_TUNNEL &&
		    due(s, s->last_activity + (ev_tstamp)cfg->timeouts.tunnel_idle_ms / 1000.))
			sl__session_close(s, "tunnel idle timeout");
		break;
	case ST_LINGER:
		if (due(s, s->deadline))
			sl__session_close(s, NULL);
		break;
	default:
		break;
	}
	sl__session_unref(s);
}

/* ---- the worker's calls ---- */

static void refuse(sl_session_env *env, int fd)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Length: 36\r\n"
				  "Connection: close\r\n\r\n"
				  "too many connections to this proxy\r\n";
	struct sl__sctx *c = env->ctx;
	ev_tstamp now = ev_now(env->loop);

	(void)!write(fd, msg, sizeof msg - 1);
	close(fd);
	if (env->stats)
		env->stats->errors++;
	if (now - c->refuse_logged >= 1.0) {
		c->refuse_logged = now;
		SL_WARN("worker %d: %u connections open, the most it takes (limits.max_connections): "
			"refusing new ones", env->worker_id, env->nsessions);
	}
}

int sl_session_start(sl_session_env *env, int fd, const struct sockaddr *peer,
		     unsigned peer_len)
{
	struct sl__sctx *c = env->ctx;
	sl__session *s;

	(void)peer_len;
	if (env->nsessions >= env->max_sessions) {
		refuse(env, fd);
		return SL_E_LIMIT;
	}
	if (!(s = session_get(env))) {
		close(fd);
		return SL_E_NOMEM;
	}
	s->magic = SL__SESSION_MAGIC;
	s->refs = 1;
	s->fd = fd;
	s->env = env;
	s->snap = sl_snap_take(env);
	s->state = SS_READ_HEAD;
	if (!peer || peer->sa_family == AF_UNIX ||
	    sl_addr_from_sockaddr(peer, &s->peer, NULL) < 0) {
		s->peer_unix = true;
	} else {
		sl_listen_tune(fd);
	}
	sl_http_parser_init(&s->parser, &c->limits);
	sl_buf_init(&s->in, SL_BUF_INITIAL_DEFAULT, c->in_cap);
	sl_outq_init(&s->out, 0);
	(void)sl_outq_set_watermarks(&s->out, c->out_low, c->out_high);
	ev_io_init(&s->io, on_io, fd, 0);
	ev_init(&s->timer, on_timer);
	s->next = env->sessions;
	if (env->sessions)
		env->sessions->prev = s;
	env->sessions = s;
	env->nsessions++;
	if (env->stats)
		env->stats->active_sessions = env->nsessions;
	go_idle(s);
	sl__session_update_io(s);
	return 0;
}

void sl_session_drain(sl_session_env *env)
{
	sl__session *s, *next;

	for (s = env->sessions; s; s = next) {
		next = s->next;
		if (s->state == SS_READ_HEAD && !s->txn && sl_buf_len(&s->in) == 0)
			sl__session_close(s, NULL);
		else
			s->must_close = true;
	}
}

void sl_session_close_all(sl_session_env *env)
{
	sl__session *s, *next;

	sl__cache_worker_stop(env);

	for (s = env->sessions; s; s = next) {
		next = s->next;
		sl__session_close(s, "closed at shutdown");
	}
}

unsigned sl_session_count(const sl_session_env *env)
{
	return env->nsessions;
}

/* ---- per-worker state ---- */

int sl_session_env_init(sl_session_env *env)
{
	const sl_config *cfg = env->cfg;
	struct sl__sctx *c = calloc(1, sizeof *c);
	size_t hdr = (size_t)cfg->limits.max_header_size;
	size_t bufsz = (size_t)cfg->limits.buffer_size;
	sl_http_limits lim = SL_HTTP_LIMITS_DEFAULT;
	int n;

	if (!c)
		return SL_E_NOMEM;
	if (!env->snap && sl_snap_env_init(env, NULL) < 0) {
		free(c);
		return SL_E_NOMEM;
	}
	c->magic = SL__SCTX_MAGIC;
	c->in_cap = bufsz > hdr + 1 ? bufsz : hdr + 1;
	c->nfields = cfg->limits.max_header_fields;
	c->nfwd = (c->nfields > 128 ? c->nfields : 128) + 8;
	c->head_cap = (bufsz > hdr ? bufsz : hdr) + 8192;
	c->out_high = bufsz;
	c->out_low = bufsz / 4;
	c->scratch = malloc(c->in_cap);
	c->fields = calloc(c->nfields, sizeof *c->fields);
	c->fwd = calloc(c->nfwd, sizeof *c->fwd);
	c->head = malloc(c->head_cap);
	lim.max_request_line = (size_t)cfg->limits.max_request_line;
	lim.max_header_bytes = hdr;
	lim.max_fields = c->nfields;
	c->limits = lim;
	n = snprintf(c->via, sizeof c->via, "1.1 %s (sluice)",
		     env->via_name && env->via_name[0] ? env->via_name : "sluice");
	c->received_by = c->via + 4;
	c->received_by_len = (size_t)n > 4 + 9 ? (size_t)n - 4 - 9 : 0;
	env->ctx = c;
	if (!c->scratch || !c->fields || !c->fwd || !c->head ||
	    sl__cache_worker_init(env) < 0) {
		sl_session_env_free(env);
		return SL_E_NOMEM;
	}
	return 0;
}

void sl_session_env_free(sl_session_env *env)
{
	struct sl__sctx *c = env->ctx;

	if (!c) {
		sl_snap_env_free(env);
		return;
	}
	assert(c->magic == SL__SCTX_MAGIC);
	sl__cache_worker_free(env);
	while (c->free_s) {
		sl__session *s = c->free_s;
		c->free_s = s->next;
		s->magic = 0;
		free(s);
	}
	sl__pipes_free(c);
	while (c->free_t) {
		sl__txn *t = c->free_t;
		c->free_t = t->next;
		free(t->str);
		free(t);
	}
	free(c->scratch);
	free(c->fields);
	free(c->fwd);
	free(c->head);
	c->magic = 0;
	free(c);
	env->ctx = NULL;
	sl_snap_env_free(env);
}
