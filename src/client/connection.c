/*
 * Connections (see connection_internal.h): the table of connection keys,
 * the priority queue, dispatch with late binding, the hand-over of finished
 * channels to queued requests or to the idle cache, and connect failures.
 *
 * Late binding: a queued request is never tied to the channel a connect
 * was started for. Whichever channel becomes free first (a connect that
 * completes, or an exchange that ends on a persistent connection) takes the
 * head of the queue, highest priority first; a new connect starts only when
 * more requests wait than connects are under way and fewer than
 * max_channels channels exist. A connect that completes with nothing left
 * to do parks its stream in the idle cache. A request to be retried on a
 * new connection (fresh_only) only takes a channel connected after its
 * failure, never a stream from the cache.
 */
#include "client/connection_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/channel_internal.h"
#include "core/err.h"

#define KEY_STACK 1024

static void check(const sl__conn *c)
{
	assert(c && c->magic == SL__CONN_MAGIC);
	(void)c;
}

static uint32_t hash_key(const char *k, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 16777619u;
	return h;
}

static const char *str0(const char *s)
{
	return s ? s : "";
}

/*
 * Writes the key of r into buf (cap bytes): scheme, lowercase host, port,
 * then every hop with what makes its connection distinct. Returns the
 * length the key needs (which may exceed cap, as snprintf does).
 */
/* Key building without printf: it runs for every request. Bytes past cap
 * are counted, not written. */
static void key_str(char *buf, size_t cap, size_t *n, const char *s)
{
	for (; *s; s++, (*n)++)
		if (*n < cap)
			buf[*n] = *s;
}

static void key_uint(char *buf, size_t cap, size_t *n, unsigned long v)
{
	char d[24];
	size_t k = sizeof d;

	d[--k] = '\0';
	do
		d[--k] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	key_str(buf, cap, n, d + k);
}

static size_t make_key(const sl_reply *r, const sl_route *route, char *buf, size_t cap)
{
	size_t n = 0;

	key_str(buf, cap, &n, r->scheme->name);
	key_str(buf, cap, &n, "://");
	for (size_t i = 0; i < r->url.host.n; i++, n++) {
		char ch = r->url.host.p[i];
		if (n < cap)
			buf[n] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
	}
	key_str(buf, cap, &n, ":");
	key_uint(buf, cap, &n, r->url.port);
	for (size_t i = 0; route && i < route->n; i++) {
		const sl_hop *h = &route->hops[i];
		key_str(buf, cap, &n, "|");
		key_uint(buf, cap, &n, (unsigned long)h->type);
		key_str(buf, cap, &n, ",");
		key_str(buf, cap, &n, str0(h->host));
		key_str(buf, cap, &n, ",");
		key_uint(buf, cap, &n, h->port);
		key_str(buf, cap, &n, ",");
		key_str(buf, cap, &n, str0(h->user));
		key_str(buf, cap, &n, ",");
		key_str(buf, cap, &n, str0(h->tls_server_name));
		key_str(buf, cap, &n, h->tls_verify ? ",1" : ",0");
	}
	if (n < cap)
		buf[n] = '\0';
	else if (cap)
		buf[cap - 1] = '\0';
	return n;
}

/* Copies route into one allocation owned by c. */
static int copy_route(sl__conn *c, const sl_route *route)
{
	size_t size, n = route ? route->n : 0;
	sl_hop *hops;
	char *at;

	c->route.hops = NULL;
	c->route.n = 0;
	if (!n)
		return 0;
	size = n * sizeof *hops;
	for (size_t i = 0; i < n; i++) {
		const sl_hop *h = &route->hops[i];
		size += strlen(str0(h->host)) + strlen(str0(h->user)) + strlen(str0(h->password)) +
			strlen(str0(h->tls_server_name)) + strlen(str0(h->label)) + 5;
	}
	c->rbuf = malloc(size);
	if (!c->rbuf)
		return SL_E_NOMEM;
	hops = c->rbuf;
	at = (char *)(hops + n);
	for (size_t i = 0; i < n; i++) {
		const sl_hop *h = &route->hops[i];
		const char **dst[] = {&hops[i].host, &hops[i].user, &hops[i].password,
				      &hops[i].tls_server_name, &hops[i].label};
		const char *src[] = {h->host, h->user, h->password, h->tls_server_name, h->label};

		hops[i] = *h;
		for (size_t j = 0; j < 5; j++) {
			if (!src[j]) {
				*dst[j] = NULL;
				continue;
			}
			size_t l = strlen(src[j]);
			memcpy(at, src[j], l + 1);
			*dst[j] = at;
			at += l + 1;
		}
	}
	c->route.hops = hops;
	c->route.n = n;
	return 0;
}

static void empty_unlink(sl_manager *m, sl__conn *c)
{
	if (!c->on_empty)
		return;
	if (c->eprev)
		c->eprev->enext = c->enext;
	else
		m->empty_head = c->enext;
	if (c->enext)
		c->enext->eprev = c->eprev;
	else
		m->empty_tail = c->eprev;
	c->eprev = c->enext = NULL;
	c->on_empty = false;
	m->nempty--;
}

static void conn_free(sl__conn *c)
{
	sl_manager *m = c->m;
	sl__conn **pp = &m->conns[c->hash % SL__CONN_BUCKETS];

	assert(c->nch == 0 && c->nqueued == 0);
	empty_unlink(m, c);
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	m->nconns--;
	free(c->key);
	free(c->host);
	free(c->rbuf);
	c->magic = 0;
	free(c);
}

sl__conn *sl__conn_get(sl_manager *m, const sl_reply *r)
{
	const sl_route *route = r->conn_route;
	char stack[KEY_STACK], *key = stack;
	size_t n = make_key(r, route, stack, sizeof stack);
	uint32_t h;
	sl__conn *c;

	if (n >= sizeof stack) {
		key = malloc(n + 1);
		if (!key)
			return NULL;
		make_key(r, route, key, n + 1);
	}
	h = hash_key(key, n);
	for (c = m->conns[h % SL__CONN_BUCKETS]; c; c = c->hnext)
		if (c->hash == h && c->keylen == n && memcmp(c->key, key, n) == 0)
			break;
	if (c) {
		if (key != stack)
			free(key);
		return c;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		goto fail;
	c->magic = SL__CONN_MAGIC;
	c->m = m;
	c->hash = h;
	c->keylen = n;
	c->key = key != stack ? key : malloc(n + 1);
	c->host = malloc(r->url.host.n + 1);
	if (!c->key || !c->host || copy_route(c, route) < 0) {
		if (c->key != key)
			free(c->key);
		free(c->host);
		free(c);
		c = NULL;
		goto fail;
	}
	if (key == stack)
		memcpy(c->key, stack, n + 1);
	memcpy(c->host, r->url.host.p, r->url.host.n);
	c->host[r->url.host.n] = '\0';
	c->port = r->url.port;
	c->tls = r->scheme->tls;
	c->hnext = m->conns[h % SL__CONN_BUCKETS];
	m->conns[h % SL__CONN_BUCKETS] = c;
	m->nconns++;
	return c;
fail:
	if (key != stack)
		free(key);
	return NULL;
}

/* ---- the queue ---- */

void sl__conn_enqueue(sl__conn *c, sl_reply *r, bool front)
{
	sl_manager *m = c->m;
	unsigned p = r->prio;

	check(c);
	empty_unlink(m, c);
	r->conn = c;
	r->state = SL__R_QUEUED;
	if (front) {
		r->qprev = NULL;
		r->qnext = c->qhead[p];
		if (c->qhead[p])
			c->qhead[p]->qprev = r;
		else
			c->qtail[p] = r;
		c->qhead[p] = r;
	} else {
		r->qnext = NULL;
		r->qprev = c->qtail[p];
		if (c->qtail[p])
			c->qtail[p]->qnext = r;
		else
			c->qhead[p] = r;
		c->qtail[p] = r;
	}
	c->nqueued++;
	m->nqueued++;
	sl__conn_dispatch(c);
}

void sl__conn_dequeue(sl__conn *c, sl_reply *r)
{
	unsigned p = r->prio;

	check(c);
	assert(r->state == SL__R_QUEUED && r->conn == c);
	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		c->qhead[p] = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		c->qtail[p] = r->qprev;
	r->qprev = r->qnext = NULL;
	r->state = SL__R_NEW;
	c->nqueued--;
	c->m->nqueued--;
}

/* ---- channels ---- */

static void link_channel(sl__conn *c, sl__channel *ch)
{
	ch->next = c->chans;
	c->chans = ch;
	c->nch++;
	c->m->nchannels++;
}

static void unlink_channel(sl__conn *c, sl__channel *ch)
{
	sl__channel **pp = &c->chans;

	while (*pp && *pp != ch)
		pp = &(*pp)->next;
	assert(*pp);
	*pp = ch->next;
	ch->next = NULL;
	c->nch--;
	c->m->nchannels--;
}

void sl__conn_channel_gone(sl__conn *c, sl__channel *ch)
{
	check(c);
	unlink_channel(c, ch);
	sl__channel_free(ch);
}

static sl__channel *find_free(sl__conn *c, const sl_reply *r)
{
	for (sl__channel *ch = c->chans; ch; ch = ch->next)
		if (ch->state == SL__CH_IDLE && sl__channel_can_take(ch, r, false))
			return ch;
	return NULL;
}

static sl__channel *from_cache(sl__conn *c)
{
	sl_manager *m = c->m;
	sl_stream *s;
	sl__channel *ch;

	if (c->nch >= m->o.max_channels)
		return NULL;
	s = sl_conn_cache_take(m->idle, c->key, c->keylen);
	if (!s)
		return NULL;
	ch = sl__channel_new(c);
	if (!ch) {
		sl_stream_close(s);
		return NULL;
	}
	link_channel(c, ch);
	sl__channel_adopt(ch, s, true);
	m->n_reused++;
	return ch;
}

static sl__channel *find_pipeline(sl__conn *c, const sl_reply *r)
{
	sl__channel *best = NULL;

	if (!c->m->o.pipelining)
		return NULL;
	for (sl__channel *ch = c->chans; ch; ch = ch->next)
		if (sl__channel_can_take(ch, r, true) && (!best || ch->inflight < best->inflight))
			best = ch;
	return best;
}

void sl__conn_dispatch(sl__conn *c)
{
	sl_manager *m = c->m;
	unsigned unserved = 0;

	check(c);
	if (m->freeing)
		return;
	for (unsigned p = 0; p < SL_PRIO_COUNT; p++) {
		sl_reply *r = c->qhead[p];

		while (r) {
			sl_reply *next = r->qnext;
			sl__channel *ch = find_free(c, r);

			if (!ch && !r->fresh_only)
				ch = from_cache(c);
			if (!ch && c->nch >= m->o.max_channels)
				ch = find_pipeline(c, r);
			if (ch) {
				sl__conn_dequeue(c, r);
				sl__channel_bind(ch, r);
			} else {
				unserved++;
			}
			r = next;
		}
	}
	while (c->nconnecting < unserved && c->nch < m->o.max_channels &&
	       (!c->failing || c->nch == 0)) {
		sl__channel *ch = sl__channel_new(c);

		if (!ch)
			break;
		link_channel(c, ch);
		if (sl__channel_connect(ch) < 0) {
			unlink_channel(c, ch);
			sl__channel_free(ch);
			break;
		}
	}
}

void sl__conn_channel_idle(sl__conn *c, sl__channel *ch)
{
	sl_manager *m = c->m;
	bool stale = ch->epoch != m->epoch;
	sl_stream *s;

	check(c);
	/* A stream of an older epoch serves nothing more: it is closed, and
	 * what waits gets a new connection below. */
	for (unsigned p = 0; p < SL_PRIO_COUNT && !stale; p++)
		for (sl_reply *r = c->qhead[p]; r; r = r->qnext)
			if (sl__channel_can_take(ch, r, false)) {
				sl__conn_dequeue(c, r);
				sl__channel_bind(ch, r);
				if (m->o.pipelining && c->nqueued)
					sl__conn_dispatch(c);   /* others may pipeline behind r */
				return;
			}
	s = sl__channel_take_stream(ch);
	unlink_channel(c, ch);
	sl__channel_free(ch);
	if (s && !m->freeing && !stale)
		sl_conn_cache_put(m->idle, c->key, c->keylen, s);
	else if (s)
		sl_stream_close(s);
	c->hold++;
	sl__conn_dispatch(c);
	c->hold--;
	sl__conn_release_if_empty(c);
}

void sl__conn_connect_failed(sl__conn *c, int err, int hop, bool proxy)
{
	sl_manager *m = c->m;
	sl_reply *fail = NULL, *r;
	bool others = false;

	check(c);
	m->n_connect_failures++;
	for (sl__channel *ch = c->chans; ch; ch = ch->next)
		if (ch->state >= SL__CH_IDLE && ch->state < SL__CH_CLOSED)
			others = true;
	/* While connected channels serve the queue, do not hammer a target
	 * that refuses new connections: wait for one of them, or for none to
	 * be left. */
	c->failing = others;
	/* With no connected channel left, nothing will serve the queue: the
	 * target is unreachable for all of it. Otherwise the others serve it,
	 * except requests that must have a new connection. */
	for (unsigned p = 0; p < SL_PRIO_COUNT; p++) {
		r = c->qhead[p];
		while (r) {
			sl_reply *next = r->qnext;

			if (!others || r->fresh_only) {
				sl__conn_dequeue(c, r);
				r->qnext = fail;
				fail = r;
			}
			r = next;
		}
	}
	c->hold++;
	while ((r = fail)) {
		fail = r->qnext;
		r->qnext = NULL;
		sl__reply_set_error(r, err, proxy, hop, SL_PHASE_CONNECT);
		sl__reply_finish(r, err);
	}
	sl__conn_dispatch(c);
	c->hold--;
	sl__conn_release_if_empty(c);
}

void sl__conn_release_if_empty(sl__conn *c)
{
	sl_manager *m = c->m;

	check(c);
	if (c->hold > 0 || c->nch > 0 || c->nqueued > 0 || c->on_empty || m->freeing)
		return;
	c->on_empty = true;
	c->enext = NULL;
	c->eprev = m->empty_tail;
	if (m->empty_tail)
		m->empty_tail->enext = c;
	else
		m->empty_head = c;
	m->empty_tail = c;
	m->nempty++;
	while (m->nempty > SL__EMPTY_CONNS && m->empty_head->hold == 0)
		conn_free(m->empty_head);
}

void sl__conn_free_all(sl_manager *m)
{
	for (unsigned b = 0; b < SL__CONN_BUCKETS; b++) {
		while (m->conns[b]) {
			sl__conn *c = m->conns[b];

			while (c->chans) {
				sl__channel *ch = c->chans;
				sl_reply *r;

				while ((r = ch->rx_head)) {
					ch->rx_head = r->qnext;
					r->qprev = r->qnext = NULL;
					r->ch = NULL;
					r->state = SL__R_NEW;
					r->aborted = true;
					sl__reply_set_error(r, SL_E_CANCELED, false, -1, r->phase);
					sl__reply_finish(r, SL_E_CANCELED);
				}
				ch->rx_tail = ch->tx = NULL;
				ch->inflight = 0;
				unlink_channel(c, ch);
				sl__channel_free(ch);
			}
			for (unsigned p = 0; p < SL_PRIO_COUNT; p++) {
				sl_reply *r;

				while ((r = c->qhead[p])) {
					sl__conn_dequeue(c, r);
					r->aborted = true;
					sl__reply_set_error(r, SL_E_CANCELED, false, -1, r->phase);
					sl__reply_finish(r, SL_E_CANCELED);
				}
			}
			c->hold = 0;
			conn_free(c);
		}
	}
}
