/*
 * SOCKS5 client handshake (RFC 1928, RFC 1929): the pure codec, then the
 * handshake layer that drives it over the layer below. Every message the
 * client sends is encoded when the layer is created, into fixed buffers
 * inside the layer, so a short write only moves an offset; every message
 * the server sends is read into one fixed buffer, never past its end.
 *
 *   SEND_GREETING -> READ_METHOD -+- no-auth ------------------------------+
 *                                 +- user/pass -> SEND_AUTH -> READ_AUTH --+
 *                                                                          v
 *                                  DONE <- READ_REPLY <- SEND_REQUEST <----+
 *   any state -> FAILED (the error is recorded on the stream once)
 *
 * Invariants: out_off <= out_len and in_len <= the length the decoder
 * asked for; the credentials are wiped from memory as soon as they are
 * sent and when the layer is destroyed.
 */
#include "engines/socks5.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"

/* ---- codec ---- */

int sl_socks5_encode_greeting(uint8_t *out, size_t cap, bool userpass)
{
	size_t n = userpass ? 4 : 3;

	if (!out || cap < n)
		return SL_E_INVAL;
	out[0] = SL_SOCKS5_VERSION;
	out[1] = userpass ? 2 : 1;
	out[2] = SL_SOCKS5_METHOD_NONE;
	if (userpass)
		out[3] = SL_SOCKS5_METHOD_USERPASS;
	return (int)n;
}

int sl_socks5_encode_auth(uint8_t *out, size_t cap, const char *user, const char *password)
{
	size_t ulen, plen;

	if (!out || !user)
		return SL_E_INVAL;
	if (!password)
		password = "";
	ulen = strlen(user);
	plen = strlen(password);
	if (ulen > SL_SOCKS5_NAME_MAX || plen > SL_SOCKS5_NAME_MAX)
		return SL_E_SOCKS_NAME_TOO_LONG;
	if (cap < 3 + ulen + plen)
		return SL_E_INVAL;
	out[0] = SL_SOCKS5_AUTH_VERSION;
	out[1] = (uint8_t)ulen;
	memcpy(out + 2, user, ulen);
	out[2 + ulen] = (uint8_t)plen;
	memcpy(out + 3 + ulen, password, plen);
	return (int)(3 + ulen + plen);
}

/* Writes ATYP and the address of a (family checked by the caller). */
static size_t put_addr(uint8_t *p, const sl_addr *a)
{
	if (a->family == AF_INET) {
		p[0] = SL_SOCKS5_ATYP_IPV4;
		memcpy(p + 1, a->b, 4);
		return 5;
	}
	p[0] = SL_SOCKS5_ATYP_IPV6;
	memcpy(p + 1, a->b, 16);
	return 17;
}

int sl_socks5_encode_request(uint8_t *out, size_t cap, const sl_socks5_target *t)
{
	uint8_t tmp[SL_SOCKS5_REQUEST_MAX];
	size_t n = 3, hlen;
	sl_addr a;

	if (!out || !t)
		return SL_E_INVAL;
	tmp[0] = SL_SOCKS5_VERSION;
	tmp[1] = SL_SOCKS5_CMD_CONNECT;
	tmp[2] = 0x00;
	if (t->host) {
		hlen = strlen(t->host);
		if (hlen == 0)
			return SL_E_INVAL;
		if (hlen > SL_SOCKS5_NAME_MAX)
			return SL_E_SOCKS_NAME_TOO_LONG;
		if (sl_addr_parse(t->host, hlen, &a) == 0) {
			n += put_addr(tmp + n, &a);
		} else {
			tmp[n++] = SL_SOCKS5_ATYP_DOMAIN;
			tmp[n++] = (uint8_t)hlen;
			memcpy(tmp + n, t->host, hlen);
			n += hlen;
		}
	} else if (t->addr.family == AF_INET || t->addr.family == AF_INET6) {
		n += put_addr(tmp + n, &t->addr);
	} else {
		return SL_E_INVAL;
	}
	tmp[n++] = (uint8_t)(t->port >> 8);
	tmp[n++] = (uint8_t)(t->port & 0xff);
	if (cap < n)
		return SL_E_INVAL;
	memcpy(out, tmp, n);
	return (int)n;
}

int sl_socks5_decode_method(const uint8_t *in, size_t n, bool userpass, uint8_t *method)
{
	if (n < 2)
		return 2;
	if (in[0] != SL_SOCKS5_VERSION)
		return SL_E_SOCKS_VERSION;
	if (in[1] == SL_SOCKS5_METHOD_UNACCEPTABLE)
		return SL_E_SOCKS_NO_METHOD;
	if (in[1] != SL_SOCKS5_METHOD_NONE && !(userpass && in[1] == SL_SOCKS5_METHOD_USERPASS))
		return SL_E_SOCKS_BAD_METHOD;
	if (method)
		*method = in[1];
	return 0;
}

int sl_socks5_decode_auth(const uint8_t *in, size_t n)
{
	if (n < 2)
		return 2;
	if (in[0] != SL_SOCKS5_AUTH_VERSION)
		return SL_E_SOCKS_VERSION;
	return in[1] == 0x00 ? 0 : SL_E_PROXY_AUTH;
}

int sl_socks5_rep_error(unsigned rep, bool last_hop)
{
	switch (rep) {
	case 0:
		return 0;
	case 1:
		return SL_E_SOCKS_GENERAL;
	case 2:
		return last_hop ? SL_E_TARGET_DENIED : SL_E_PROXY_DENIED;
	case 3:
	case 4:
		return last_hop ? SL_E_TARGET_UNREACHABLE : SL_E_PROXY_UNREACHABLE;
	case 5:
		return last_hop ? SL_E_TARGET_REFUSED : SL_E_PROXY_REFUSED;
	case 6:
		return last_hop ? SL_E_TARGET_TIMEOUT : SL_E_PROXY_TIMEOUT;
	case 7:
		return SL_E_SOCKS_CMD_UNSUPPORTED;
	case 8:
		return SL_E_SOCKS_ATYP_UNSUPPORTED;
	default:
		return SL_E_SOCKS_UNKNOWN_REP;
	}
}

int sl_socks5_decode_reply(const uint8_t *in, size_t n, sl_socks5_reply *r)
{
	size_t total;

	if (n < SL_SOCKS5_REPLY_HEAD)
		return SL_SOCKS5_REPLY_HEAD;
	if (in[0] != SL_SOCKS5_VERSION)
		return SL_E_SOCKS_VERSION;
	if (r)
		r->rep = in[1];
	if (in[1] != 0)
		return sl_socks5_rep_error(in[1], true);
	if (in[2] != 0x00)
		return SL_E_SOCKS_BAD_REPLY;
	switch (in[3]) {
	case SL_SOCKS5_ATYP_IPV4:
		total = 4 + 4 + 2;
		break;
	case SL_SOCKS5_ATYP_IPV6:
		total = 4 + 16 + 2;
		break;
	case SL_SOCKS5_ATYP_DOMAIN:
		total = 4 + 1 + (size_t)in[4] + 2;
		break;
	default:
		return SL_E_SOCKS_BAD_REPLY;
	}
	if (n < total)
		return (int)total;
	if (r) {
		memset(&r->addr, 0, sizeof r->addr);
		r->atyp = in[3];
		r->host = NULL;
		r->host_len = 0;
		if (in[3] == SL_SOCKS5_ATYP_IPV4) {
			r->addr.family = AF_INET;
			memcpy(r->addr.b, in + 4, 4);
		} else if (in[3] == SL_SOCKS5_ATYP_IPV6) {
			r->addr.family = AF_INET6;
			memcpy(r->addr.b, in + 4, 16);
		} else {
			r->host = in + 5;
			r->host_len = in[4];
		}
		r->port = (uint16_t)(in[total - 2] << 8 | in[total - 1]);
	}
	return 0;
}

/* ---- the handshake layer ---- */

#define SOCKS5_MAGIC 0x534f4b35u /* "SOK5" */

enum state {
	SEND_GREETING,
	READ_METHOD,
	SEND_AUTH,
	READ_AUTH,
	SEND_REQUEST,
	READ_REPLY,
	DONE,
	FAILED,
};

static const char *const state_names[] = {
	[SEND_GREETING] = "greeting",
	[READ_METHOD] = "method selection",
	[SEND_AUTH] = "authentication",
	[READ_AUTH] = "authentication reply",
	[SEND_REQUEST] = "CONNECT request",
	[READ_REPLY] = "CONNECT reply",
	[DONE] = "done",
	[FAILED] = "failed",
};

struct socks5 {
	sl_layer l; /* first: the stream sees only this */
	uint32_t magic;
	enum state st;
	int hop;         /* the SOCKS server's hop; l.hop moves on for the reply */
	int err;         /* a failure found when the messages were encoded */
	bool last_hop;
	bool userpass;   /* credentials exist: username/password is offered */
	bool remote_dns; /* the target goes as a name */
	bool started;    /* the greeting was traced and the first write tried */
	const uint8_t *out;
	size_t out_len, out_off;
	size_t in_len, in_need;
	uint8_t greeting[SL_SOCKS5_GREETING_MAX];
	size_t greeting_len;
	uint8_t auth[SL_SOCKS5_AUTH_MAX];
	size_t auth_len;
	uint8_t req[SL_SOCKS5_REQUEST_MAX];
	size_t req_len;
	uint8_t in[SL_SOCKS5_REPLY_MAX];
	char dest[SL_HOSTPORT_STRLEN]; /* "host:port" for traces */
};

static struct socks5 *of(const sl_layer *l)
{
	struct socks5 *x = (struct socks5 *)l;

	assert(x->magic == SOCKS5_MAGIC);
	return x;
}

static void wipe_auth(struct socks5 *x)
{
	explicit_bzero(x->auth, sizeof x->auth);
	x->auth_len = 0;
}

/* Records err on the stream at hop (proxy side or not) and stops. */
static int fail_at(struct socks5 *x, int hop, bool proxy, int err)
{
	sl_stream_tracef(x->l.s, "socks5 hop %d: %s failed: %s", x->hop, state_names[x->st],
			 sl_strerror(err));
	x->st = FAILED;
	x->err = err;
	wipe_auth(x);
	return sl_stream_fail(x->l.s, hop, proxy, err);
}

static int fail(struct socks5 *x, int err)
{
	return fail_at(x, x->hop, true, err);
}

/* A peer that resets or goes away mid-handshake has closed on us. */
static int io_error(ssize_t r)
{
	return r == -ECONNRESET || r == -EPIPE ? SL_E_PROXY_CLOSED : (int)r;
}

static void start_send(struct socks5 *x, enum state st, const uint8_t *msg, size_t len)
{
	x->st = st;
	x->out = msg;
	x->out_len = len;
	x->out_off = 0;
}

static void start_read(struct socks5 *x, enum state st, size_t need)
{
	x->st = st;
	x->in_len = 0;
	x->in_need = need;
}

/* Writes what is left of the current message. 0 when all is out. */
static int flush(struct socks5 *x)
{
	while (x->out_off < x->out_len) {
		ssize_t w = sl_layer_write_below(&x->l, x->out + x->out_off,
						 x->out_len - x->out_off);
		if (w == -EAGAIN)
			return SL_E_AGAIN;
		if (w < 0)
			return io_error(w);
		x->out_off += (size_t)w;
	}
	return 0;
}

/* Reads until in_len reaches in_need, never further. 0 when it has. */
static int fill(struct socks5 *x)
{
	assert(x->in_need <= sizeof x->in);
	while (x->in_len < x->in_need) {
		ssize_t r = sl_layer_read_below(&x->l, x->in + x->in_len, x->in_need - x->in_len);
		if (r == -EAGAIN)
			return SL_E_AGAIN;
		if (r == 0)
			return SL_E_PROXY_CLOSED;
		if (r < 0)
			return io_error(r);
		x->in_len += (size_t)r;
	}
	return 0;
}

static void trace_request(struct socks5 *x)
{
	sl_stream_tracef(x->l.s, "socks5 hop %d: CONNECT %s%s", x->hop, x->dest,
			 x->remote_dns ? " (remote DNS)" : "");
}

static void trace_granted(struct socks5 *x, const sl_socks5_reply *r)
{
	char ip[SL_ADDR_STRLEN];

	if (!x->l.s->trace)
		return;
	if (r->atyp == SL_SOCKS5_ATYP_DOMAIN) {
		sl_stream_tracef(x->l.s, "socks5 hop %d: granted, bound %.*s:%u", x->hop,
				 (int)r->host_len, (const char *)r->host, (unsigned)r->port);
		return;
	}
	if (sl_addr_format(&r->addr, ip, sizeof ip) < 0)
		snprintf(ip, sizeof ip, "?");
	sl_stream_tracef(x->l.s, r->atyp == SL_SOCKS5_ATYP_IPV6 ?
				 "socks5 hop %d: granted, bound [%s]:%u" :
				 "socks5 hop %d: granted, bound %s:%u",
			 x->hop, ip, (unsigned)r->port);
}

/* The CONNECT reply: the head, then exactly the rest it announces. A REP
 * failure is judged by whom it concerns (see socks5.h). */
static int read_reply(struct socks5 *x)
{
	sl_socks5_reply r;

	memset(&r, 0, sizeof r);
	for (;;) {
		int rc = fill(x);
		if (rc < 0)
			return rc == SL_E_AGAIN ? rc : fail(x, rc);
		rc = sl_socks5_decode_reply(x->in, x->in_len, &r);
		if (rc > 0) {
			assert((size_t)rc > x->in_len && (size_t)rc <= sizeof x->in);
			x->in_need = (size_t)rc;
			continue;
		}
		if (rc < 0 && r.rep >= 2 && r.rep <= 6)
			return fail_at(x, x->hop + 1, !x->last_hop,
				       sl_socks5_rep_error(r.rep, x->last_hop));
		if (rc < 0)
			return fail(x, rc);
		trace_granted(x, &r);
		x->st = DONE;
		return 0;
	}
}

static int socks5_progress(sl_layer *l)
{
	struct socks5 *x = of(l);
	uint8_t method = SL_SOCKS5_METHOD_UNACCEPTABLE;
	int rc;

	for (;;) {
		switch (x->st) {
		case SEND_GREETING:
			if (!x->started) {
				if (x->err)
					return fail(x, x->err);
				x->started = true;
				sl_stream_tracef(l->s, "socks5 hop %d: offering no-auth%s", x->hop,
						 x->userpass ? ", username/password" : "");
			}
			/* fall through */
		case SEND_AUTH:
		case SEND_REQUEST:
			rc = flush(x);
			if (rc < 0)
				return rc == SL_E_AGAIN ? rc : fail(x, rc);
			if (x->st == SEND_GREETING) {
				start_read(x, READ_METHOD, 2);
			} else if (x->st == SEND_AUTH) {
				wipe_auth(x);
				start_read(x, READ_AUTH, 2);
			} else {
				/* The server now reaches hop + 1: a timeout while its
				 * reply is awaited is charged there (see socks5.h). */
				x->l.hop = x->hop + 1;
				x->l.target = x->last_hop;
				start_read(x, READ_REPLY, SL_SOCKS5_REPLY_HEAD);
			}
			break;
		case READ_METHOD:
			rc = fill(x);
			if (rc < 0)
				return rc == SL_E_AGAIN ? rc : fail(x, rc);
			rc = sl_socks5_decode_method(x->in, x->in_len, x->userpass, &method);
			assert(rc <= 0); /* fill() read the whole message */
			if (rc < 0)
				return fail(x, rc);
			if (method == SL_SOCKS5_METHOD_USERPASS) {
				sl_stream_tracef(l->s, "socks5 hop %d: server chose username/password",
						 x->hop);
				start_send(x, SEND_AUTH, x->auth, x->auth_len);
			} else {
				sl_stream_tracef(l->s, "socks5 hop %d: server chose no-auth", x->hop);
				wipe_auth(x);
				trace_request(x);
				start_send(x, SEND_REQUEST, x->req, x->req_len);
			}
			break;
		case READ_AUTH:
			rc = fill(x);
			if (rc < 0)
				return rc == SL_E_AGAIN ? rc : fail(x, rc);
			rc = sl_socks5_decode_auth(x->in, x->in_len);
			assert(rc <= 0);
			if (rc < 0)
				return fail(x, rc);
			sl_stream_tracef(l->s, "socks5 hop %d: authenticated", x->hop);
			trace_request(x);
			start_send(x, SEND_REQUEST, x->req, x->req_len);
			break;
		case READ_REPLY:
			return read_reply(x);
		case DONE:
			return 0;
		case FAILED:
			return x->err;
		}
	}
}

static unsigned socks5_want(const sl_layer *l)
{
	switch (of(l)->st) {
	case SEND_GREETING:
	case SEND_AUTH:
	case SEND_REQUEST:
		return SL_WANT_WRITE;
	case READ_METHOD:
	case READ_AUTH:
	case READ_REPLY:
		return SL_WANT_READ;
	default:
		return 0;
	}
}

static void socks5_destroy(sl_layer *l)
{
	struct socks5 *x = of(l);

	wipe_auth(x);
	x->magic = 0;
	free(x);
}

static const sl_layer_ops socks5_ops = {
	.name = "socks5",
	.progress = socks5_progress,
	.want = socks5_want,
	.destroy = socks5_destroy,
};

/* "host:port", with brackets around an IPv6 address, for traces. */
static void format_dest(struct socks5 *x, const sl_socks5_target *t)
{
	char ip[SL_ADDR_STRLEN];
	const char *h = t->host;
	sl_addr a = {0};

	if (!h) {
		if (sl_addr_format(&t->addr, ip, sizeof ip) < 0)
			snprintf(ip, sizeof ip, "?");
		h = ip;
		a = t->addr;
	} else {
		x->remote_dns = sl_addr_parse(h, strlen(h), &a) != 0;
	}
	if (!x->remote_dns && a.family == AF_INET6)
		snprintf(x->dest, sizeof x->dest, "[%.*s]:%u", SL_SOCKS5_NAME_MAX, h,
			 (unsigned)t->port);
	else
		snprintf(x->dest, sizeof x->dest, "%.*s:%u", SL_SOCKS5_NAME_MAX, h,
			 (unsigned)t->port);
}

sl_layer *sl_socks5_layer_new(const sl_socks5_target *t, int hop, bool last_hop)
{
	struct socks5 *x;
	int n;

	if (!t)
		return NULL;
	x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->l.ops = &socks5_ops;
	x->l.hop = hop;
	x->hop = hop;
	x->l.target = false;
	x->l.stays = false;
	x->magic = SOCKS5_MAGIC;
	x->last_hop = last_hop;
	x->userpass = t->user != NULL;
	format_dest(x, t);
	n = sl_socks5_encode_greeting(x->greeting, sizeof x->greeting, x->userpass);
	assert(n > 0);
	x->greeting_len = (size_t)n;
	if (x->userpass) {
		n = sl_socks5_encode_auth(x->auth, sizeof x->auth, t->user, t->password);
		if (n < 0)
			x->err = n;
		else
			x->auth_len = (size_t)n;
	}
	n = sl_socks5_encode_request(x->req, sizeof x->req, t);
	if (n < 0 && !x->err)
		x->err = n;
	else if (n > 0)
		x->req_len = (size_t)n;
	start_send(x, SEND_GREETING, x->greeting, x->greeting_len);
	return &x->l;
}
