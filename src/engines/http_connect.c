/*
 * The CONNECT handshake layer (see http_connect.h). It writes one request
 * from a fixed buffer, reads the response head into a fixed buffer without
 * ever taking a byte past the head, answers 407 challenges on the same
 * connection when the proxy keeps it open (draining the 407's body first),
 * and is done at the first 2xx. Invariants: head[0..have) holds only bytes
 * of the current response head (or, while draining a chunked body, at most
 * a partial trailer line); the request in req[] is complete before it is
 * sent; an error is recorded on the stream exactly once, by fail().
 *
 *   SEND --request written--> HEAD --2xx--> DONE (the stream unlinks us)
 *    ^                         |  |--1xx--> HEAD (skipped)
 *    |                         |  |--407, answered, proxy keeps the connection--> BODY
 *    +------body drained-------+--|--------------------------------------------+
 *                                 |--407, proxy closes--> FAILED (RECONNECT)
 *                                 +--anything else--> FAILED
 *
 * Reading the head. Over the socket layer the head is found with
 * recv(MSG_PEEK): the bytes peeked are parsed, and only those the parser
 * proves to belong to the head are taken off the socket (all of them while
 * the head is incomplete, exactly its rest once it is complete), so the
 * socket never stays readable with bytes we refuse to take. Over any other
 * layer (TLS to an HTTPS proxy), which has no peek, the head is read one
 * byte at a time: a head is a few hundred bytes, each byte a copy out of
 * the TLS record buffer, and no layer needs a peek operation for it.
 */
#include "engines/http_connect.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/http_parse.h"

#define CONN_MAGIC 0x434f4e4eu /* "CONN" */
#define HEAD_CAP 8192          /* largest response head accepted */
#define MAX_FIELDS 48
#define CRED_CAP 2048          /* a Digest answer with every field at its longest */
#define REQ_CAP (CRED_CAP + 2 * SL_HOSTPORT_STRLEN + 128)
#define MAX_ROUNDS 3           /* 407s answered on one connection (stale nonces) */
#define MAX_DRAIN (256 * 1024) /* a longer 407 body is not worth reading */

enum cstate { CS_SEND, CS_HEAD, CS_BODY, CS_DONE, CS_FAILED };

/* What the Proxy-Authorization of the request in flight came from. */
enum sent_auth { SENT_NONE, SENT_PREEMPT, SENT_ANSWER };

struct conn {
	sl_layer l;
	uint32_t magic;
	enum cstate st;
	enum sent_auth sent;
	const sl_hop *cfg;
	struct sl_proxy_auth *auth;
	bool last_hop;
	bool below_again;  /* the last call to the layer below got -EAGAIN */
	bool preset;       /* ch is to be answered by the first request */
	bool have_ch;      /* ch holds the last challenge */
	bool have_digest;
	bool chunked;
	int rounds;
	int status;
	enum sl_auth_scheme asked; /* the scheme of the last 407's challenge */
	int err;
	size_t req_len, req_off;
	size_t have;
	uint64_t body_left;
	uint64_t drained;  /* chunked bytes read */
	sl_chunked dec;
	sl_http_parser parser;
	sl_auth_challenge ch;
	sl_auth_digest_state digest;
	char authority[SL_HOSTPORT_STRLEN];
	char status_line[128];
	char cred[CRED_CAP];
	size_t cred_len;
	char req[REQ_CAP];
	char head[HEAD_CAP];
	sl_field fields[MAX_FIELDS];
};

static struct conn *as_conn(const sl_layer *l)
{
	struct conn *c = (struct conn *)l;

	assert(c && c->magic == CONN_MAGIC);
	return c;
}

static const char *hop_label(const struct conn *c)
{
	return c->cfg && c->cfg->label ? c->cfg->label : "";
}

/* Records err once, at this hop as a proxy error or at the target. */
static int fail_at(struct conn *c, int err, bool target)
{
	c->st = CS_FAILED;
	c->err = err;
	if (target)
		return sl_stream_fail(c->l.s, c->l.hop + 1, false, err);
	return sl_stream_fail(c->l.s, c->l.hop, true, err);
}

static int fail(struct conn *c, int err)
{
	return fail_at(c, err, false);
}

/* Fails with a reason in the trace. */
static int failf(struct conn *c, int err, const char *why)
{
	sl_stream_tracef(c->l.s, "connect hop %d: %s (%s)", c->l.hop, why, sl_errname(err));
	return fail(c, err);
}

/* Maps an error of the layer below while talking to the proxy. */
static int io_error(struct conn *c, ssize_t r, const char *when)
{
	char why[96];

	if (r == 0 || r == -ECONNRESET || r == -EPIPE) {
		snprintf(why, sizeof why, "the proxy closed the connection %s", when);
		return failf(c, SL_E_PROXY_CLOSED, why);
	}
	/* The layer below (TLS to the proxy) has recorded its own error. */
	snprintf(why, sizeof why, "%s %s", sl_strerror((int)r), when);
	return failf(c, (int)r, why);
}

/* ---- the request ---- */

static int build_request(struct conn *c)
{
	int n = snprintf(c->req, sizeof c->req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%.*s%s\r\n",
			 c->authority, c->authority, c->cred_len ? "Proxy-Authorization: " : "",
			 (int)c->cred_len, c->cred, c->cred_len ? "\r\n" : "");

	if (n < 0 || (size_t)n >= sizeof c->req)
		return SL_E_LIMIT;
	c->req_len = (size_t)n;
	c->req_off = 0;
	return 0;
}

/* Keeps a copy of ch whose slices point nowhere (they pointed into fields). */
static void keep_challenge(struct conn *c, const sl_auth_challenge *ch)
{
	c->ch = *ch;
	c->ch.scheme_name = sl_slice_cstr(sl_auth_scheme_name(ch->scheme));
	c->ch.token68 = SL_SLICE_NULL;
	c->ch.domain = SL_SLICE_NULL;
	c->have_ch = true;
}

static sl_auth_cred hop_cred(const struct conn *c)
{
	sl_auth_cred cr = {
		sl_slice_cstr(c->cfg ? c->cfg->user : NULL),
		sl_slice_cstr(c->cfg && c->cfg->password ? c->cfg->password : ""),
	};

	return cr;
}

/* Writes the answer to c->ch into c->cred with the hop's credentials. */
static int answer(struct conn *c)
{
	sl_auth_cred cr = hop_cred(c);
	sl_slice uri = sl_slice_cstr(c->authority);
	int n;

	if (c->ch.scheme == SL_AUTH_BASIC) {
		n = sl_auth_basic(&cr, c->cred, sizeof c->cred);
	} else {
		if (c->have_digest)
			sl_auth_digest_clear(&c->digest);
		c->have_digest = false;
		n = sl_auth_digest_init(&c->digest, &c->ch, NULL, NULL);
		if (n == 0) {
			c->have_digest = true;
			n = sl_auth_digest_respond(&c->digest, &cr, SL_SLICE_LIT("CONNECT"), uri,
						   c->cred, sizeof c->cred);
		}
	}
	if (n < 0) {
		c->cred_len = 0;
		return n;
	}
	c->cred_len = (size_t)n;
	c->sent = SENT_ANSWER;
	return 0;
}

/* Sets up the first request: a preset challenge, else the cache's offer. */
static int first_request(struct conn *c)
{
	if (c->preset) {
		int rc = answer(c);
		if (rc < 0)
			return failf(c, SL_E_PROXY_AUTH, sl_strerror(rc));
		c->preset = false;
	} else if (c->auth && c->auth->preempt) {
		int n = c->auth->preempt(c->auth, c->cfg, "CONNECT", c->authority, c->cred,
					 sizeof c->cred);
		if (n > 0 && (size_t)n < sizeof c->cred) {
			c->cred_len = (size_t)n;
			c->sent = SENT_PREEMPT;
		}
	}
	if (build_request(c) < 0)
		return failf(c, SL_E_PROXY_AUTH, "credentials too long for the request");
	return 0;
}

static void trace_request(struct conn *c)
{
	size_t sp = 0;

	while (sp < c->cred_len && c->cred[sp] != ' ')
		sp++;
	sl_stream_tracef(c->l.s, "connect hop %d: CONNECT %s%s%s%s%.*s%s", c->l.hop, c->authority,
			 hop_label(c)[0] ? " via " : "", hop_label(c),
			 c->cred_len ? " (Proxy-Authorization: " : "", (int)sp, c->cred,
			 c->cred_len ? ")" : "");
}

static int send_request(struct conn *c)
{
	if (c->req_off == 0)
		trace_request(c);
	while (c->req_off < c->req_len) {
		ssize_t r = sl_layer_write_below(&c->l, c->req + c->req_off,
						 c->req_len - c->req_off);
		if (r == -EAGAIN) {
			c->below_again = true;
			return SL_E_AGAIN;
		}
		if (r <= 0)
			return io_error(c, r < 0 ? r : -EPIPE, "while we sent CONNECT");
		c->req_off += (size_t)r;
	}
	c->st = CS_HEAD;
	c->have = 0;
	sl_http_parser_reset(&c->parser);
	return 0;
}

/* ---- the response head ---- */

static int parse(struct conn *c, size_t len, sl_http_response *res)
{
	return sl_http_parse_response(&c->parser, c->head, len, SL_METHOD_CONNECT, res, c->fields,
				      MAX_FIELDS);
}

static int head_error(struct conn *c, int rc)
{
	char why[128];

	snprintf(why, sizeof why, "malformed answer: %s", sl_strerror(rc));
	return failf(c, SL_E_PROXY_PROTOCOL, why);
}

/* Takes n peeked bytes off the socket into head[have..). */
static int consume(struct conn *c, size_t n)
{
	sl_stream *s = c->l.s;

	while (n) {
		ssize_t r = recv(s->fd, c->head + c->have, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) /* the kernel lost bytes it showed us: cannot happen */
			return io_error(c, r < 0 ? -errno : 0, "while we read the answer");
		s->bytes_in += (uint64_t)r;
		c->have += (size_t)r;
		n -= (size_t)r;
	}
	return 0;
}

/* Over the socket: returns the head's length, SL_E_AGAIN, or an error. */
static int read_head_peek(struct conn *c, sl_http_response *res)
{
	sl_stream *s = c->l.s;

	for (;;) {
		ssize_t r;
		int rc;

		if (c->have == sizeof c->head)
			return head_error(c, SL_E_HTTP_HEADERS_TOO_LARGE);
		r = recv(s->fd, c->head + c->have, sizeof c->head - c->have, MSG_PEEK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return SL_E_AGAIN;
		if (r <= 0)
			return io_error(c, r < 0 ? -errno : 0, "before its answer was complete");
		rc = parse(c, c->have + (size_t)r, res);
		if (rc > 0) {
			rc = consume(c, (size_t)rc - c->have);
			return rc < 0 ? rc : (int)c->have;
		}
		if (rc != SL_E_AGAIN)
			return head_error(c, rc);
		/* All of it belongs to the head, which ends further on. */
		rc = consume(c, (size_t)r);
		if (rc < 0)
			return rc;
	}
}

/* Over another layer: one byte at a time (no peek there). */
static int read_head_bytes(struct conn *c, sl_http_response *res)
{
	for (;;) {
		ssize_t r;
		int rc;

		if (c->have == sizeof c->head)
			return head_error(c, SL_E_HTTP_HEADERS_TOO_LARGE);
		r = sl_layer_read_below(&c->l, c->head + c->have, 1);
		if (r == -EAGAIN) {
			c->below_again = true;
			return SL_E_AGAIN;
		}
		if (r <= 0)
			return io_error(c, r, "before its answer was complete");
		c->have++;
		/* A head can only end at a line feed: parse there (or when full). */
		if (c->head[c->have - 1] != '\n' && c->have < sizeof c->head)
			continue;
		rc = parse(c, c->have, res);
		if (rc > 0)
			return rc;
		if (rc != SL_E_AGAIN)
			return head_error(c, rc);
	}
}

/* ---- answers ---- */

static int on_success(struct conn *c, const sl_http_response *res)
{
	if (c->have_digest && c->sent == SENT_ANSWER) {
		int rc = sl_auth_digest_info(&c->digest, res->fields, res->nfields,
					     "Proxy-Authentication-Info",
					     sl_slice_cstr(c->authority));
		if (rc == SL_E_AUTH_RSPAUTH)
			return failf(c, SL_E_PROXY_AUTH, "the proxy's rspauth does not match");
	}
	if (c->sent == SENT_ANSWER && c->auth && c->auth->learned)
		c->auth->learned(c->auth, c->cfg, &c->ch, c->have_digest ? &c->digest : NULL);
	sl_stream_tracef(c->l.s, "connect hop %d: %s", c->l.hop, c->status_line);
	c->st = CS_DONE;
	return 0;
}

static int on_other_status(struct conn *c)
{
	int err = 0;

	if (c->last_hop) {
		switch (c->status) {
		case 403:
			err = SL_E_TARGET_DENIED;
			break;
		case 502:
			err = SL_E_TARGET_UNREACHABLE;
			break;
		case 503:
			err = SL_E_TARGET_REFUSED;
			break;
		case 504:
			err = SL_E_TARGET_TIMEOUT;
			break;
		}
	}
	if (err) {
		sl_stream_tracef(c->l.s, "connect hop %d: %s (the proxy reports: %s) (%s)",
				 c->l.hop, c->status_line, sl_strerror(err), sl_errname(err));
		return fail_at(c, err, true);
	}
	sl_stream_tracef(c->l.s, "connect hop %d: %s (%s)", c->l.hop, c->status_line,
			 sl_errname(SL_E_PROXY_STATUS));
	return fail(c, SL_E_PROXY_STATUS);
}

/* Decides how the 407's body is skipped, or that the connection is lost. */
static int plan_body(struct conn *c, const sl_http_response *res)
{
	bool closes = !res->keep_alive || res->body == SL_BODY_CLOSE ||
		      (res->body == SL_BODY_LENGTH && res->content_length > MAX_DRAIN);

	if (closes) {
		sl_stream_tracef(c->l.s, "connect hop %d: the proxy closes the connection: "
					 "a new one is needed (%s)",
				 c->l.hop, sl_errname(SL_E_PROXY_AUTH_RECONNECT));
		return fail(c, SL_E_PROXY_AUTH_RECONNECT);
	}
	c->chunked = res->body == SL_BODY_CHUNKED;
	c->body_left = res->body == SL_BODY_LENGTH ? res->content_length : 0;
	c->drained = 0;
	if (c->chunked)
		sl_chunked_init(&c->dec, NULL, true);
	c->have = 0;
	c->st = CS_BODY;
	return 0;
}

static int on_407(struct conn *c, const sl_http_response *res)
{
	sl_auth_challenge ch;
	int sel = sl_auth_select(res->fields, res->nfields, "Proxy-Authenticate", &ch);
	bool stale = false;
	int rc;

	if (sel == SL_E_AUTH_NO_CHALLENGE || sel == SL_E_AUTH_SYNTAX)
		return failf(c, SL_E_PROXY_PROTOCOL, "407 without a challenge we can parse");
	c->asked = ch.scheme;
	if (c->sent == SENT_ANSWER) {
		if (!c->have_digest || ++c->rounds >= MAX_ROUNDS ||
		    sl_auth_digest_refresh(&c->digest, res->fields, res->nfields,
					   "Proxy-Authenticate") != 0)
			return failf(c, SL_E_PROXY_AUTH, "407: the proxy rejected our credentials");
		sl_auth_cred cr = hop_cred(c);
		stale = true;
		rc = sl_auth_digest_respond(&c->digest, &cr, SL_SLICE_LIT("CONNECT"),
					    sl_slice_cstr(c->authority), c->cred, sizeof c->cred);
		if (rc < 0)
			return failf(c, SL_E_PROXY_AUTH, sl_strerror(rc));
		c->cred_len = (size_t)rc;
	} else {
		if (!c->cfg || !c->cfg->user)
			return failf(c, SL_E_PROXY_AUTH_REQUIRED,
				     "407 and no credentials for this proxy");
		if (sel < 0)
			return failf(c, SL_E_PROXY_AUTH_REQUIRED, sl_strerror(sel));
		keep_challenge(c, &ch);
		rc = answer(c);
		if (rc < 0)
			return failf(c, SL_E_PROXY_AUTH, sl_strerror(rc));
	}
	if (sel == 0 && stale)
		keep_challenge(c, &ch);
	sl_stream_tracef(c->l.s, "connect hop %d: 407 %s realm=\"%s\"%s, retrying with credentials",
			 c->l.hop, sl_auth_scheme_name(c->ch.scheme), c->ch.realm,
			 stale ? " (stale nonce)" : "");
	if (build_request(c) < 0)
		return failf(c, SL_E_PROXY_AUTH, "credentials too long for the request");
	return plan_body(c, res);
}

static int on_head(struct conn *c, const sl_http_response *res)
{
	c->status = res->status;
	snprintf(c->status_line, sizeof c->status_line, "%d %.*s", res->status,
		 (int)(res->reason.n > 100 ? 100 : res->reason.n), res->reason.p ? res->reason.p : "");
	for (char *p = c->status_line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (res->status / 100 == 1) {
		if (res->status == 101)
			return failf(c, SL_E_PROXY_PROTOCOL, "101 in answer to CONNECT");
		sl_stream_tracef(c->l.s, "connect hop %d: %s (skipped)", c->l.hop, c->status_line);
		c->have = 0;
		sl_http_parser_reset(&c->parser);
		return SL_E_AGAIN; /* read the final answer */
	}
	if (res->status / 100 == 2)
		return on_success(c, res);
	if (res->status == 407)
		return on_407(c, res);
	return on_other_status(c);
}

/* ---- the 407's body ---- */

static int drain_length(struct conn *c)
{
	while (c->body_left) {
		size_t want = c->body_left < sizeof c->head ? (size_t)c->body_left : sizeof c->head;
		ssize_t r = sl_layer_read_below(&c->l, c->head, want);
		if (r == -EAGAIN) {
			c->below_again = true;
			return SL_E_AGAIN;
		}
		if (r <= 0)
			return io_error(c, r, "in the body of its 407");
		c->body_left -= (uint64_t)r;
	}
	return 0;
}

/*
 * Reads a chunked body in blocks: the proxy sends nothing after it until
 * our next request, so no byte of another message can be taken with it.
 */
static int drain_chunked(struct conn *c)
{
	for (;;) {
		size_t off = 0, len;
		ssize_t r;

		if (c->have == sizeof c->head)
			return head_error(c, SL_E_HTTP_TRAILER_TOO_LARGE);
		r = sl_layer_read_below(&c->l, c->head + c->have, sizeof c->head - c->have);
		if (r == -EAGAIN) {
			c->below_again = true;
			return SL_E_AGAIN;
		}
		if (r <= 0)
			return io_error(c, r, "in the body of its 407");
		c->drained += (uint64_t)r;
		if (c->drained > MAX_DRAIN) {
			sl_stream_tracef(c->l.s, "connect hop %d: the 407's body is too long to "
						 "drain: a new connection is needed (%s)",
					 c->l.hop, sl_errname(SL_E_PROXY_AUTH_RECONNECT));
			return fail(c, SL_E_PROXY_AUTH_RECONNECT);
		}
		len = c->have + (size_t)r;
		for (;;) {
			size_t used = 0;
			sl_chunk_out o;
			int ev = sl_chunked_decode(&c->dec, c->head + off, len - off, &used, &o);

			off += used;
			if (ev == SL_CHUNK_DATA || ev == SL_CHUNK_TRAILER)
				continue;
			if (ev == SL_CHUNK_DONE) {
				if (off != len)
					return failf(c, SL_E_PROXY_PROTOCOL,
						     "bytes after the 407's body");
				c->have = 0;
				return 0;
			}
			if (ev != SL_E_AGAIN)
				return head_error(c, ev);
			break;
		}
		memmove(c->head, c->head + off, len - off);
		c->have = len - off;
	}
}

/* ---- the layer ---- */

static int conn_progress(sl_layer *l)
{
	struct conn *c = as_conn(l);
	sl_http_response res;
	int rc;

	c->below_again = false;
	for (;;) {
		switch (c->st) {
		case CS_SEND:
			if (c->req_len == 0) {
				rc = first_request(c);
				if (rc < 0)
					return rc;
			}
			rc = send_request(c);
			if (rc < 0)
				return rc;
			break;
		case CS_HEAD:
			rc = l->below == &l->s->sock ? read_head_peek(c, &res) : read_head_bytes(c, &res);
			if (rc < 0)
				return rc;
			rc = on_head(c, &res);
			if (rc < 0 && rc != SL_E_AGAIN)
				return rc;
			break;
		case CS_BODY:
			rc = c->chunked ? drain_chunked(c) : drain_length(c);
			if (rc < 0)
				return rc;
			c->st = CS_SEND;
			sl_http_parser_reset(&c->parser);
			break;
		case CS_DONE:
			return 0;
		case CS_FAILED:
			return c->err;
		}
	}
}

static unsigned conn_want(const sl_layer *l)
{
	const struct conn *c = as_conn(l);
	unsigned w = 0;

	if (c->st == CS_SEND)
		w = SL_WANT_WRITE;
	else if (c->st == CS_HEAD || c->st == CS_BODY)
		w = SL_WANT_READ;
	if (c->below_again && l->below && l->below->ops->want)
		w |= l->below->ops->want(l->below);
	return w;
}

static void conn_destroy(sl_layer *l)
{
	struct conn *c = as_conn(l);

	if (c->have_digest)
		sl_auth_digest_clear(&c->digest);
	memset(c->cred, 0, sizeof c->cred);
	memset(c->req, 0, sizeof c->req);
	c->magic = 0xdeadbeefu;
	free(c);
}

static const sl_layer_ops conn_ops = {
	.name = "http-connect",
	.progress = conn_progress,
	.want = conn_want,
	.destroy = conn_destroy,
};

static bool host_ok(const char *h, size_t n, bool bracketed)
{
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)h[i];
		bool edge = bracketed && (i == 0 || i == n - 1);
		if (ch <= 0x20 || ch == 0x7f || strchr("/?#@\\\"", ch) ||
		    ((ch == '[' || ch == ']') && !edge))
			return false;
	}
	return true;
}

sl_layer *sl_connect_layer_new(const char *host, uint16_t port, const sl_hop *hop_cfg,
			       struct sl_proxy_auth *auth, int hop, bool last_hop)
{
	size_t n = host ? strlen(host) : 0;
	bool bracketed = n >= 2 && host[0] == '[' && host[n - 1] == ']';
	sl_http_limits lim = SL_HTTP_LIMITS_DEFAULT;
	struct conn *c;

	if (!host_ok(host, n, bracketed))
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->l.ops = &conn_ops;
	c->l.hop = hop;
	c->magic = CONN_MAGIC;
	c->cfg = hop_cfg;
	c->auth = auth;
	c->last_hop = last_hop;
	snprintf(c->authority, sizeof c->authority, !bracketed && memchr(host, ':', n) ?
			       "[%s]:%u" : "%s:%u", host, (unsigned)port);
	lim.max_header_bytes = HEAD_CAP;
	lim.max_fields = MAX_FIELDS;
	sl_http_parser_init(&c->parser, &lim);
	return &c->l;
}

bool sl_connect_layer_is(const sl_layer *l)
{
	return l && l->ops == &conn_ops;
}

int sl_connect_layer_preset(sl_layer *l, const sl_auth_challenge *ch)
{
	struct conn *c;

	if (!sl_connect_layer_is(l) || !ch || ch->unusable ||
	    (ch->scheme != SL_AUTH_BASIC && ch->scheme != SL_AUTH_DIGEST))
		return SL_E_INVAL;
	c = as_conn(l);
	if (c->st != CS_SEND || c->req_len || !c->cfg || !c->cfg->user)
		return SL_E_INVAL;
	keep_challenge(c, ch);
	c->preset = true;
	return 0;
}

const sl_auth_challenge *sl_connect_layer_challenge(const sl_layer *l)
{
	const struct conn *c;

	if (!sl_connect_layer_is(l))
		return NULL;
	c = as_conn(l);
	return c->err == SL_E_PROXY_AUTH_RECONNECT && c->have_ch ? &c->ch : NULL;
}

const char *sl_connect_layer_status(const sl_layer *l)
{
	return sl_connect_layer_is(l) ? as_conn(l)->status_line : "";
}

int sl_connect_layer_status_code(const sl_layer *l)
{
	return sl_connect_layer_is(l) ? as_conn(l)->status : 0;
}

const char *sl_connect_layer_asked_scheme(const sl_layer *l)
{
	if (!sl_connect_layer_is(l) || as_conn(l)->status != 407)
		return "";
	return sl_auth_scheme_name(as_conn(l)->asked);
}
