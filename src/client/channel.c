/*
 * A channel: HTTP/1.1 exchanges on one sl_stream (see channel_internal.h).
 * The state follows the oldest request in flight (rx_head, the one the next
 * response answers); ch->tx is the request being written, which runs ahead
 * of rx_head only when pipelining. Reading goes on while a request is being
 * written, so an early final status or a close is seen at once.
 *
 *   UNCONNECTED --connect-----------------------------------> CONNECTING
 *   CONNECTING  --stream up---------------------------------> IDLE
 *   CONNECTING  --connect failed----------------------------> CLOSED
 *   IDLE        --bind(request)-----------------------------> SENDING
 *   IDLE        --nothing queued: stream parked in the cache-> (recycled)
 *   SENDING     --head out, Expect: 100-continue------------> EXPECT
 *   EXPECT      --100 Continue, or the continue timer-------> SENDING
 *   SENDING     --request out-------------------------------> WAITING
 *   SENDING, EXPECT, WAITING --1xx (not 101)----------------> (same)
 *   SENDING, EXPECT, WAITING --final head-------------------> RECEIVING
 *                 (a request not fully out is abandoned: close afterwards)
 *   RECEIVING   --response done, next in flight-------------> SENDING | WAITING
 *   RECEIVING   --response done, persistent, none in flight-> IDLE
 *   RECEIVING   --response done, not persistent-------------> CLOSED
 *   any         --error, EOF, reset, timeout, abort---------> CLOSED
 *
 * Invariants: the stream's one timer measures what ch->timer says; the
 * read buffer never holds more than its cap, and body bytes leave it as
 * soon as on_data returns, unless the reply is paused, in which case the
 * channel stops reading; slices given to callbacks point into that buffer
 * and the bytes are consumed only after the call. Every failure goes
 * through ch_fail(), which closes the stream once and settles each request
 * in flight once: sent again on a new connection when RFC 9110 section
 * 9.2.2 allows, finished with the error otherwise. Callbacks into the caller
 * run only from the stream's callbacks and the channel's task, with a
 * reference on the channel held.
 */
#include "client/channel_internal.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

#define CHANNEL_POOL_MAGIC 0x43504f4fu /* "CPOO" */
#define READS_PER_EVENT 8
#define IOV_OUT 16
#define INITIAL_BUFFER 16384u

static const char *const state_names[] = {
	[SL__CH_UNCONNECTED] = "unconnected",
	[SL__CH_CONNECTING] = "connecting",
	[SL__CH_IDLE] = "idle",
	[SL__CH_SENDING] = "sending",
	[SL__CH_EXPECT] = "expect-100",
	[SL__CH_WAITING] = "waiting",
	[SL__CH_RECEIVING] = "receiving",
	[SL__CH_CLOSED] = "closed",
};

const char *sl__channel_state_name(enum sl__ch_state s)
{
	return (unsigned)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "?";
}

static void check(const sl__channel *ch)
{
	assert(ch && ch->magic == SL__CHANNEL_MAGIC);
	(void)ch;
}

static void on_task(sl__task *t);
static void on_stream(sl_stream *s, unsigned events, void *arg);
static void ch_fail(sl__channel *ch, int err);
static void complete(sl__channel *ch);

/* ---- life ---- */

static void ch_ref(sl__channel *ch)
{
	ch->refs++;
}

static void ch_unref(sl__channel *ch)
{
	sl_manager *m = ch->m;

	assert(ch->refs > 0);
	if (--ch->refs > 0)
		return;
	sl__task_cancel(&ch->task);
	if (m && !m->freeing && m->nchpool < SL__POOL_CHANNELS) {
		sl_buf_reset(&ch->in);
		if (ch->in.size > INITIAL_BUFFER)
			sl_buf_release(&ch->in);
		ch->magic = CHANNEL_POOL_MAGIC;
		ch->next = m->chpool;
		m->chpool = ch;
		m->nchpool++;
		return;
	}
	sl_buf_free(&ch->in);
	ch->magic = 0;
	free(ch);
}

sl__channel *sl__channel_new(sl__conn *c)
{
	sl_manager *m = c->m;
	sl__channel *ch = m->chpool;
	sl_buf in;

	if (ch) {
		assert(ch->magic == CHANNEL_POOL_MAGIC);
		m->chpool = ch->next;
		m->nchpool--;
		in = ch->in;
	} else {
		ch = malloc(sizeof *ch);
		if (!ch)
			return NULL;
		sl_buf_init(&in, INITIAL_BUFFER, m->o.read_buffer_max);
	}
	memset(ch, 0, offsetof(sl__channel, fields));
	memset(&ch->rx_head, 0, sizeof *ch - offsetof(sl__channel, rx_head));
	ch->in = in;
	ch->magic = SL__CHANNEL_MAGIC;
	ch->refs = 1;
	ch->m = m;
	ch->conn = c;
	ch->state = SL__CH_UNCONNECTED;
	sl__task_init(&ch->task, on_task);
	sl_http_parser_init(&ch->parser, &m->o.limits);
	return ch;
}

void sl__channel_free(sl__channel *ch)
{
	check(ch);
	if (ch->creq) {
		ch->m->o.cancel(ch->creq);
		ch->creq = NULL;
	}
	if (ch->s) {
		sl_stream_close(ch->s);
		ch->s = NULL;
	}
	sl__task_cancel(&ch->task);
	ch->state = SL__CH_CLOSED;
	ch->conn = NULL;
	ch->rx_head = ch->rx_tail = ch->tx = NULL;
	ch->inflight = 0;
	ch_unref(ch);
}

size_t sl__channel_buffered(const sl__channel *ch, size_t *cap)
{
	check(ch);
	if (cap)
		*cap = ch->in.max;
	return sl_buf_len(&ch->in);
}

static bool alive(const sl__channel *ch)
{
	return ch->s && ch->conn && !ch->closing && ch->state != SL__CH_CLOSED;
}

/* ---- timer and interest ---- */

static void set_timer(sl__channel *ch, enum sl__ch_timer t, uint64_t ms)
{
	ch->timer = t;
	if (ch->s)
		sl_stream_set_timeout(ch->s, t == SL__T_NONE ? 0 : (ms ? ms : 1));
}

static bool holds_reading(const sl_reply *r)
{
	return r->paused && !r->swallow && !r->aborted;
}

/* Arms the timer for what the channel waits on now. */
static void arm(sl__channel *ch)
{
	sl_reply *r = ch->rx_head;

	if (!r || !alive(ch) || holds_reading(r)) {
		set_timer(ch, SL__T_NONE, 0);
		return;
	}
	switch (ch->state) {
	case SL__CH_EXPECT:
		if (ch->timer != SL__T_CONTINUE)
			set_timer(ch, SL__T_CONTINUE, ch->m->o.continue_timeout_ms);
		break;
	case SL__CH_WAITING:
		if (r->got_byte)
			set_timer(ch, SL__T_IDLE, r->rd_timeout_ms);
		else if (ch->timer != SL__T_FIRST_BYTE)
			set_timer(ch, SL__T_FIRST_BYTE, r->fb_timeout_ms);
		break;
	case SL__CH_SENDING:
	case SL__CH_RECEIVING:
		set_timer(ch, SL__T_IDLE, r->rd_timeout_ms);
		break;
	default:
		set_timer(ch, SL__T_NONE, 0);
		break;
	}
}

static void update_io(sl__channel *ch)
{
	unsigned w = 0;

	if (!alive(ch))
		return;
	if (ch->rx_head && !holds_reading(ch->rx_head))
		w |= SL_WANT_READ;
	if (ch->want_write && ch->tx)
		w |= SL_WANT_WRITE;
	sl_stream_want(ch->s, w);
}

/* Stops the channel's work now and closes it from the loop. */
static void close_later(sl__channel *ch, int err)
{
	ch->closing = true;
	ch->task_close = true;
	ch->close_err = err;
	if (ch->s) {
		sl_stream_want(ch->s, 0);
		sl_stream_set_timeout(ch->s, 0);
	}
	sl__task_post(ch->m, &ch->task);
}

/* ---- connecting ---- */

static void on_connected(sl_stream *s, int err, int hop, bool proxy, void *arg)
{
	sl__channel *ch = arg;
	sl__conn *c = ch->conn;

	check(ch);
	ch->creq = NULL;
	c->nconnecting--;
	if (err < 0 || !s) {
		if (s)
			sl_stream_close(s);
		ch->state = SL__CH_CLOSED;
		sl__conn_channel_gone(c, ch);
		sl__conn_connect_failed(c, err < 0 ? err : SL_E_TARGET_CLOSED, hop, proxy);
		return;
	}
	c->failing = false;
	sl__channel_adopt(ch, s, false);
	sl__conn_channel_idle(c, ch);
}

int sl__channel_connect(sl__channel *ch)
{
	sl__conn *c = ch->conn;
	sl_manager *m = ch->m;

	check(ch);
	ch->state = SL__CH_CONNECTING;
	ch->epoch = m->epoch;
	c->nconnecting++;
	m->n_connects++;
	ch->creq = m->o.connect(m->loop, c->route.n ? &c->route : NULL, c->host, c->port,
				c->tls ? &m->copts_tls : &m->copts_plain, on_connected, ch);
	if (!ch->creq) {
		c->nconnecting--;
		ch->state = SL__CH_CLOSED;
		return SL_E_NOMEM;
	}
	return 0;
}

void sl__channel_adopt(sl__channel *ch, sl_stream *s, bool reused)
{
	check(ch);
	ch->s = s;
	ch->from_cache = reused;
	if (reused)
		ch->epoch = ch->m->epoch; /* the cache holds only streams of this epoch */
	ch->born = reused ? 0 : ev_now(ch->m->loop);
	ch->state = SL__CH_IDLE;
	ch->timer = SL__T_NONE;
	sl_buf_reset(&ch->in);
	sl_http_parser_reset(&ch->parser);
	sl_stream_set_cb(s, on_stream, ch);
	sl_stream_set_timeout(s, 0);
	sl_stream_want(s, 0);
}

sl_stream *sl__channel_take_stream(sl__channel *ch)
{
	sl_stream *s = ch->s;

	check(ch);
	ch->s = NULL;
	if (s) {
		sl_stream_set_cb(s, NULL, NULL);
		sl_stream_want(s, 0);
		sl_stream_set_timeout(s, 0);
	}
	return s;
}

/* ---- binding ---- */

static bool pipelinable(const sl_reply *r)
{
	return (r->flags & SL_REQ_PIPELINE) && !r->expect && !r->conn_close &&
	       (r->meth == SL_METHOD_GET || r->meth == SL_METHOD_HEAD);
}

bool sl__channel_can_take(const sl__channel *ch, const sl_reply *r, bool pipeline)
{
	check(ch);
	if (r->fresh_only && ch->born < r->failed_at)
		return false;
	if (ch->state == SL__CH_IDLE && !ch->closing)
		return true;
	if (!pipeline || !alive(ch) || ch->must_close || !pipelinable(r))
		return false;
	if (ch->state < SL__CH_SENDING || ch->inflight >= ch->m->o.pipeline_depth)
		return false;
	for (const sl_reply *x = ch->rx_head; x; x = x->qnext)
		if (!pipelinable(x) || x->aborted)
			return false;
	return true;
}

void sl__channel_bind(sl__channel *ch, sl_reply *r)
{
	int rc;

	check(ch);
	r->state = SL__R_BOUND;
	r->ch = ch;
	r->reused = ch->from_cache || ch->nreq > 0;
	ch->nreq++;
	ch->m->n_requests++;
	r->qnext = NULL;
	r->qprev = ch->rx_tail;
	if (ch->rx_tail)
		ch->rx_tail->qnext = r;
	else
		ch->rx_head = r;
	ch->rx_tail = r;
	ch->inflight++;
	if (!ch->tx)
		ch->tx = r;
	if (r->conn_close)
		ch->must_close = true;
	rc = sl__request_build(r);
	if (rc < 0) {
		close_later(ch, rc);
		return;
	}
	if (ch->state == SL__CH_IDLE) {
		ch->state = SL__CH_SENDING;
		arm(ch);
	}
	/* Written by the task before the loop polls again: a socket is almost
	 * always writable here, so waiting for EPOLLOUT would only cost a
	 * round trip through epoll. */
	ch->want_write = true;
	sl__task_post(ch->m, &ch->task);
}

static void unlink_rx(sl__channel *ch, sl_reply *r)
{
	if (ch->tx == r)
		ch->tx = r->qnext;
	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		ch->rx_head = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		ch->rx_tail = r->qprev;
	r->qprev = r->qnext = NULL;
	r->ch = NULL;
	r->state = SL__R_NEW;
	ch->inflight--;
}

/* ---- writing ---- */

/* Asks the pull callback for more body. Returns 0 or the error. */
static int pull_more(sl__channel *ch, sl_reply *r)
{
	char *buf = ch->m->scratch;
	size_t cap = SL__SCRATCH_SIZE;
	char line[24];
	ssize_t k;
	int rc = 0;

	if (r->body.length >= 0 && (uint64_t)r->body.length - r->body_in < cap)
		cap = (size_t)((uint64_t)r->body.length - r->body_in);
	k = cap ? r->body.pull(r->body.pull_arg, buf, cap) : 0;
	if (k == SL_E_AGAIN) {
		r->pull_wait = true;
		return 0;
	}
	if (k < 0)
		return (int)k;
	if ((size_t)k > cap)
		return SL_E_INVAL;
	if (k == 0) {
		if (r->body.length >= 0 && r->body_in != (uint64_t)r->body.length)
			return SL_E_INVAL;
		if (r->chunked_out)
			rc = sl_outq_push(&r->bq, "0\r\n\r\n", 5);
		r->body_ended = true;
		return rc;
	}
	if (r->chunked_out) {
		int n = snprintf(line, sizeof line, "%zx\r\n", (size_t)k);
		rc = sl_outq_push(&r->bq, line, (size_t)n);
	}
	if (rc == 0)
		rc = sl_outq_push(&r->bq, buf, (size_t)k);
	if (rc == 0 && r->chunked_out)
		rc = sl_outq_push(&r->bq, "\r\n", 2);
	r->body_in += (uint64_t)k;
	if (r->body.length >= 0 && r->body_in == (uint64_t)r->body.length)
		r->body_ended = true;
	return rc;
}

/* Sends from a file segment at the head of the body queue: sendfile(2)
 * straight to the socket when no layer sits above it, else through the
 * layers from a bounded read. Returns bytes, -EAGAIN or an error; the queue
 * is advanced past what was sent. */
static ssize_t write_file(sl__channel *ch, sl_reply *r)
{
	int fd;
	off_t off;
	uint64_t len;
	ssize_t k, w;
	struct iovec v;

	if (ch->s->top == &ch->s->sock)
		return sl_outq_write(&r->bq, ch->s->fd);
	if (!sl_outq_head_file(&r->bq, &fd, &off, &len))
		return 0;
	k = pread(fd, ch->m->scratch, len < SL__SCRATCH_SIZE ? (size_t)len : SL__SCRATCH_SIZE,
		  off);
	if (k < 0)
		return -errno;
	if (k == 0)
		return SL_E_EOF;
	v.iov_base = ch->m->scratch;
	v.iov_len = (size_t)k;
	w = sl_stream_writev(ch->s, &v, 1);
	if (w > 0)
		sl_outq_advance(&r->bq, (uint64_t)w);
	return w;
}

/* The request r is out (or abandoned): the next one is written. */
static void tx_done(sl__channel *ch, sl_reply *r)
{
	ch->tx = r->qnext;
	if (r == ch->rx_head && (ch->state == SL__CH_SENDING || ch->state == SL__CH_EXPECT)) {
		ch->state = SL__CH_WAITING;
		ch->timer = SL__T_NONE;
		arm(ch);
	}
}

static void sent_bytes(sl__channel *ch, sl_reply *r, size_t w)
{
	r->bytes_sent += w;
	if (ch->state == SL__CH_SENDING && r == ch->rx_head)
		arm(ch);
	if (r->want_drain && r->body.kind == SL_BODY_SRC_PUSH && sl_outq_below_low(&r->bq)) {
		r->want_drain = false;
		sl__reply_emit_drain(r);
	}
}

/* Writes what can be written without blocking. Returns 0 or an error. */
static int flush(sl__channel *ch)
{
	while (ch->tx && alive(ch)) {
		sl_reply *r = ch->tx;
		struct iovec iov[IOV_OUT];
		size_t hrest = r->head_len - r->head_off;
		bool body_ok = !r->body_abandoned && (!r->expect || r->continue_ok);
		bool file = false;
		int n = 0;
		ssize_t w;

		if (body_ok && r->body.kind == SL_BODY_SRC_PULL && !r->body_ended &&
		    !r->pull_wait && sl_outq_below_low(&r->bq)) {
			int rc;

			sl_reply_ref(r);
			rc = pull_more(ch, r);
			sl_reply_unref(r);
			if (rc < 0)
				return rc;
			continue;   /* the callback may have changed anything */
		}
		if (hrest)
			iov[n++] = (struct iovec){r->head + r->head_off, hrest};
		if (body_ok)
			n += (int)sl_outq_iov(&r->bq, iov + n, (size_t)(IOV_OUT - n), &file);
		if (n == 0 && file) {
			w = write_file(ch, r);
			if (w == -EAGAIN) {
				ch->want_write = true;
				return 0;
			}
			if (w < 0)
				return (int)w;
			sent_bytes(ch, r, (size_t)w);
			continue;
		}
		if (n == 0) {
			if (!body_ok && !r->body_abandoned && !sl__reply_body_sent(r)) {
				if (ch->state == SL__CH_SENDING && r == ch->rx_head) {
					ch->state = SL__CH_EXPECT;
					arm(ch);
				}
				return 0;
			}
			if (r->body_abandoned || sl__reply_body_sent(r)) {
				tx_done(ch, r);
				continue;
			}
			return 0;   /* the producer has nothing yet */
		}
		w = sl_stream_writev(ch->s, iov, n);
		if (w == -EAGAIN) {
			ch->want_write = true;
			return 0;
		}
		if (w < 0)
			return (int)w;
		if ((size_t)w <= hrest) {
			r->head_off += (size_t)w;
		} else {
			r->head_off = r->head_len;
			sl_outq_advance(&r->bq, (uint64_t)w - hrest);
		}
		r->sent = true;
		sent_bytes(ch, r, (size_t)w);
	}
	return 0;
}

static int map_io_err(int err)
{
	switch (err) {
	case -ECONNRESET:
		return SL_E_TARGET_RESET;
	case -EPIPE:
	case -ECONNABORTED:
	case SL_E_EOF:
		return SL_E_TARGET_CLOSED;
	default:
		return err;
	}
}

/* ---- reading ---- */

static void make_head(sl_reply_head *h, const sl_http_response *res)
{
	h->status = res->status;
	h->reason = res->reason;
	h->minor_version = res->minor_version;
	h->fields = res->fields;
	h->nfields = res->nfields;
	h->framing = res->body == SL_BODY_TUNNEL ? SL_BODY_CLOSE : res->body;
	h->content_length = res->content_length;
	h->keep_alive = res->keep_alive;
}

/* A final status came before the whole request was out: the rest is not
 * sent, and the connection cannot carry another request. */
static void abandon(sl__channel *ch, sl_reply *r)
{
	r->body_abandoned = true;
	sl_outq_clear(&r->bq);
	ch->must_close = true;
	if (ch->tx == r)
		ch->tx = r->qnext;
}

/* Parses a response head for r. Returns 1 to go on, 0 for more input, -1
 * when the channel stopped. */
static int read_head(sl__channel *ch, sl_reply *r, sl_slice in)
{
	sl_http_response res;
	sl_reply_head h;
	int rc;

	if (!r->got_byte) {
		r->got_byte = true;
		r->t_first = ev_now(ch->m->loop);
	}
	rc = sl_http_parse_response(&ch->parser, in.p, in.n, r->meth, &res, ch->fields,
				    SL__CHANNEL_FIELDS);
	if (rc == SL_E_AGAIN)
		return 0;
	if (rc < 0) {
		ch_fail(ch, rc);
		return -1;
	}
	make_head(&h, &res);
	if (res.status < 200) {
		if (res.status == 101) {
			ch_fail(ch, SL_E_UNSUPPORTED);
			return -1;
		}
		if (res.status == 100) {
			if (ch->state == SL__CH_EXPECT && ch->tx == r) {
				r->continue_ok = true;
				ch->state = SL__CH_SENDING;
				ch->want_write = true;
			}
		} else {
			sl__reply_emit_info(r, &h);
		}
		sl_buf_consume(&ch->in, (size_t)rc);
		return alive(ch) ? 1 : -1;
	}
	r->status = res.status;
	r->head_done = true;
	ch->framing = h.framing;
	ch->body_left = res.content_length;
	ch->keep_alive = res.keep_alive;
	if (ch->framing == SL_BODY_CHUNKED)
		sl_chunked_init(&ch->chunked, &ch->m->o.limits, true);
	if (ch->tx == r && !sl__reply_request_sent(r))
		abandon(ch, r);
	ch->state = SL__CH_RECEIVING;
	if (!r->aborted)
		r->swallow = sl__reply_auth_on_head(r, &res);
	if (!r->swallow)
		sl__reply_emit_head(r, &h);
	sl_buf_consume(&ch->in, (size_t)rc);
	if (!alive(ch) || ch->rx_head != r)
		return -1;
	arm(ch);
	if (ch->framing == SL_BODY_NONE ||
	    (ch->framing == SL_BODY_LENGTH && ch->body_left == 0))
		complete(ch);
	return 1;
}

static void deliver(sl_reply *r, sl_slice data)
{
	if (r->swallow)
		return;
	sl__reply_emit_data(r, data);
}

/* Reads body bytes of r. Returns 1 to go on, 0 for more input, -1 when the
 * channel stopped. */
static int read_body(sl__channel *ch, sl_reply *r, sl_slice in)
{
	size_t used = 0;
	sl_chunk_out o;
	int rc;

	switch (ch->framing) {
	case SL_BODY_LENGTH:
		used = in.n < ch->body_left ? in.n : (size_t)ch->body_left;
		deliver(r, sl_slice_make(in.p, used));
		sl_buf_consume(&ch->in, used);
		ch->body_left -= used;
		if (!alive(ch) || ch->rx_head != r)
			return -1;
		if (ch->body_left == 0)
			complete(ch);
		return 1;
	case SL_BODY_CHUNKED:
		rc = sl_chunked_decode(&ch->chunked, in.p, in.n, &used, &o);
		if (rc == SL_CHUNK_DATA)
			deliver(r, o.data);
		else if (rc == SL_CHUNK_TRAILER && !r->swallow)
			sl__reply_emit_trailer(r, &o.trailer);
		else if (rc < 0 && rc != SL_E_AGAIN) {
			ch_fail(ch, rc);
			return -1;
		}
		sl_buf_consume(&ch->in, used);
		if (!alive(ch) || ch->rx_head != r)
			return -1;
		if (rc == SL_CHUNK_DONE)
			complete(ch);
		return rc == SL_E_AGAIN && used == 0 ? 0 : 1;
	default:    /* until close */
		deliver(r, in);
		sl_buf_consume(&ch->in, in.n);
		return alive(ch) && ch->rx_head == r ? 1 : -1;
	}
}

/* Hands the buffered bytes to the replies in flight, in order, until they
 * run out, a reply pauses, or the channel stops. */
static void process(sl__channel *ch)
{
	while (alive(ch)) {
		sl_reply *r = ch->rx_head;
		sl_slice in = sl_buf_slice(&ch->in);
		int rc;

		if (!r) {
			if (in.n)
				ch_fail(ch, SL_E_HTTP_BAD_STATUS_LINE);   /* unasked bytes */
			return;
		}
		if (holds_reading(r) || in.n == 0)
			return;
		if (ch->state == SL__CH_RECEIVING)
			rc = read_body(ch, r, in);
		else
			rc = read_head(ch, r, in);
		if (rc <= 0)
			return;
	}
}

/* The response to rx_head is complete. */
static void complete(sl__channel *ch)
{
	sl_reply *r = ch->rx_head;
	sl__conn *c = ch->conn;
	bool reuse, swallow;

	if (ch->tx == r)
		abandon(ch, r);
	unlink_rx(ch, r);
	sl_http_parser_reset(&ch->parser);
	ch->framing = SL_BODY_NONE;
	ch->timer = SL__T_NONE;
	reuse = ch->keep_alive && !ch->must_close && !r->body_abandoned &&
		sl_stream_usable(ch->s) && (ch->rx_head || sl_buf_len(&ch->in) == 0);
	swallow = r->swallow && !r->aborted;
	r->swallow = false;
	c->hold++;
	if (!reuse) {
		ch_fail(ch, SL_E_TARGET_CLOSED);
	} else if (ch->rx_head) {
		ch->state = ch->tx == ch->rx_head ? SL__CH_SENDING : SL__CH_WAITING;
		arm(ch);
	} else {
		ch->state = SL__CH_IDLE;
		set_timer(ch, SL__T_NONE, 0);
		sl_stream_want(ch->s, 0);
	}
	if (swallow) {
		sl__reply_reset_attempt(r);
		sl__conn_enqueue(c, r, true);   /* may bind r to this very channel */
	}
	if (reuse && ch->state == SL__CH_IDLE && ch->conn)
		sl__conn_channel_idle(c, ch);
	if (!swallow)
		sl__reply_finish(r, 0);
	c->hold--;
	sl__conn_release_if_empty(c);
}

static void on_eof(sl__channel *ch)
{
	if (ch->rx_head && ch->state == SL__CH_RECEIVING && ch->framing == SL_BODY_CLOSE) {
		ch->keep_alive = false;
		complete(ch);
		return;
	}
	ch_fail(ch, SL_E_TARGET_CLOSED);
}

static void on_readable(sl__channel *ch)
{
	for (int i = 0; i < READS_PER_EVENT && alive(ch); i++) {
		sl_reply *r = ch->rx_head;
		char *p;
		size_t len;
		ssize_t n;
		int rc;

		if (!r || holds_reading(r))
			return;
		/* Ask for read_size bytes of room (a bulk body then moves in
		 * large reads); with unread bytes pinning the buffer, take what
		 * room there is. */
		if (ch->read_size < INITIAL_BUFFER)
			ch->read_size = INITIAL_BUFFER;
		rc = sl_buf_space(&ch->in, ch->read_size, &p, &len);
		if (rc == SL_E_LIMIT)
			rc = sl_buf_space(&ch->in, 1, &p, &len);
		if (rc < 0) {
			ch_fail(ch, rc == SL_E_LIMIT ? SL_E_HTTP_HEADERS_TOO_LARGE : rc);
			return;
		}
		n = sl_stream_read(ch->s, p, len);
		if (n == -EAGAIN)
			return;
		if (n == 0) {
			on_eof(ch);
			return;
		}
		if (n < 0) {
			ch_fail(ch, map_io_err((int)n));
			return;
		}
		sl_buf_commit(&ch->in, (size_t)n);
		r->bytes_received += (uint64_t)n;
		if (ch->state != SL__CH_WAITING || r->got_byte)
			arm(ch);
		process(ch);
		if (alive(ch) && ch->state == SL__CH_WAITING && ch->rx_head && ch->rx_head->got_byte)
			arm(ch);
		if ((size_t)n < len)
			return;
		if (ch->read_size < ch->m->o.read_buffer_max)
			ch->read_size = ch->read_size * 2 < ch->m->o.read_buffer_max
						? ch->read_size * 2
						: ch->m->o.read_buffer_max;
	}
}

/* ---- failure ---- */

static bool lost(int err)
{
	return err == SL_E_TARGET_CLOSED || err == SL_E_TARGET_RESET;
}

/*
 * Closes the channel and settles every request in flight on it: retried
 * (at the front of the queue, in their order) when RFC 9110 allows, else
 * finished with err. Calls back.
 */
static void ch_fail(sl__channel *ch, int err)
{
	sl__conn *c = ch->conn;
	sl_manager *m = ch->m;
	sl_reply *list, *retry = NULL, *r;

	if (!c || ch->state == SL__CH_CLOSED)
		return;
	SL_DEBUG("client: channel to %s:%u closes in state %s: %s", c->host, (unsigned)c->port,
		 sl__channel_state_name(ch->state), err ? sl_strerror(err) : "done");
	ch->state = SL__CH_CLOSED;
	if (ch->s) {
		sl_stream_close(ch->s);
		ch->s = NULL;
	}
	list = ch->rx_head;
	ch->rx_head = ch->rx_tail = ch->tx = NULL;
	ch->inflight = 0;
	c->hold++;
	sl__conn_channel_gone(c, ch);
	while ((r = list)) {
		enum sl_reply_phase ph;

		list = r->qnext;
		r->qprev = r->qnext = NULL;
		r->ch = NULL;
		r->state = SL__R_NEW;
		if (r->aborted) {
			sl__reply_finish(r, SL_E_CANCELED);
			continue;
		}
		if (lost(err) && sl__reply_can_retry(r)) {
			r->retried = true;
			r->fresh_only = true;
			r->failed_at = ev_now(m->loop);
			m->n_retries++;
			sl__reply_reset_attempt(r);
			r->qnext = retry;   /* reversed here, reversed again below */
			retry = r;
			continue;
		}
		ph = r->head_done ? SL_PHASE_RECEIVE
				  : sl__reply_request_sent(r) ? SL_PHASE_WAIT : SL_PHASE_SEND;
		sl__reply_set_error(r, err, false, -1, ph);
		sl__reply_finish(r, err);
	}
	while ((r = retry)) {
		retry = r->qnext;
		r->qnext = NULL;
		sl__conn_enqueue(c, r, true);
	}
	sl__conn_dispatch(c);
	c->hold--;
	sl__conn_release_if_empty(c);
}

/* ---- callbacks from the stream and the task ---- */

static void on_timeout(sl__channel *ch)
{
	enum sl__ch_timer t = ch->timer;

	ch->timer = SL__T_NONE;
	if (t == SL__T_CONTINUE) {
		if (ch->state == SL__CH_EXPECT && ch->tx) {
			ch->tx->continue_ok = true;
			ch->state = SL__CH_SENDING;
			ch->want_write = true;
			arm(ch);
		}
		return;
	}
	if (t != SL__T_NONE)
		ch_fail(ch, SL_E_TIMEOUT);
}

static void on_stream(sl_stream *s, unsigned events, void *arg)
{
	sl__channel *ch = arg;
	int rc;

	(void)s;
	check(ch);
	ch_ref(ch);
	if ((events & SL_EV_TIMEOUT) && alive(ch))
		on_timeout(ch);
	if ((events & SL_EV_WRITABLE) && alive(ch)) {
		ch->want_write = false;
		rc = flush(ch);
		if (rc < 0)
			ch_fail(ch, map_io_err(rc));
	}
	if ((events & SL_EV_READABLE) && alive(ch))
		on_readable(ch);
	if (alive(ch))
		update_io(ch);
	ch_unref(ch);
}

static void on_task(sl__task *t)
{
	sl__channel *ch = (sl__channel *)((char *)t - offsetof(sl__channel, task));

	check(ch);
	ch_ref(ch);
	if (ch->task_close) {
		ch->task_close = false;
		ch->closing = false;
		ch_fail(ch, ch->close_err);
	} else if (alive(ch)) {
		if (ch->want_write && ch->tx) {
			int rc;

			ch->want_write = false;
			rc = flush(ch);
			if (rc < 0)
				ch_fail(ch, map_io_err(rc));
		}
		if (alive(ch))
			process(ch);
		if (alive(ch))
			update_io(ch);
	}
	ch_unref(ch);
}

/* ---- the reply's controls ---- */

void sl__channel_update(sl__channel *ch, sl_reply *r)
{
	check(ch);
	if (r != ch->rx_head || !alive(ch))
		return;
	if (holds_reading(r)) {
		set_timer(ch, SL__T_NONE, 0);
		update_io(ch);
		return;
	}
	arm(ch);
	update_io(ch);
	if (sl_buf_len(&ch->in) > 0)
		sl__task_post(ch->m, &ch->task);
}

void sl__channel_body_more(sl__channel *ch, sl_reply *r)
{
	check(ch);
	if (ch->tx != r || !alive(ch))
		return;
	ch->want_write = true;
	update_io(ch);
}

bool sl__channel_abort(sl__channel *ch, sl_reply *r)
{
	bool head = r == ch->rx_head;

	check(ch);
	if (head && r->head_off == 0 && ch->inflight == 1 && alive(ch)) {
		/* Nothing of it went out: the stream is as good as new. */
		sl__conn *c = ch->conn;

		unlink_rx(ch, r);
		ch->state = SL__CH_IDLE;
		ch->want_write = false;
		set_timer(ch, SL__T_NONE, 0);
		sl_stream_want(ch->s, 0);
		sl__conn_channel_idle(c, ch);
		return true;
	}
	if (head || (r == ch->tx && r->head_off > 0)) {
		unlink_rx(ch, r);
		close_later(ch, SL_E_TARGET_CLOSED);
		return true;
	}
	if (r->head_off == 0) {
		unlink_rx(ch, r);
		return true;
	}
	return false;   /* written and pipelined: its response is dropped in turn */
}
