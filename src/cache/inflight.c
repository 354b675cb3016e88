/*
 * Collapsed forwarding (see inflight.h): a table of fills keyed by the
 * SHA-256 of the cache key, behind one mutex (joins are rare next to
 * hits, and the critical section is a bucket walk). A fill has one leader
 * (the request that fetches) and any number of readers, each on its own
 * worker loop.
 *
 *   state         set by          readers may
 *   WAITING       join            wait
 *   STREAMING     fill_head       send the head, then body bytes < avail
 *   COMPLETE      fill_finish(0)  send up to avail, which is the whole body
 *   FAILED        fill_finish(<0) cut their client (the body is incomplete)
 *   NOT_STORABLE  fill_cancel, a head that cannot be stored, or a finish
 *                 before any head: fetch on their own
 *
 * The leader writes through the store's sl_cache_writer; the fill keeps a
 * duplicate of the writer's descriptor for its readers, so they read the
 * same file after it is renamed into the store (an open descriptor follows
 * the file) and after the writer is gone. avail is stored with release
 * ordering after the bytes are written, and loaded with acquire ordering.
 *
 * Waking: each reader has an ev_async started on its loop at join; the
 * leader calls ev_async_send() for every reader after head, append,
 * finish and cancel (libev coalesces sends that arrive before the loop
 * runs), under the fill's mutex, which a closing reader also takes to
 * unlink itself: a reader is never signalled after it is freed. The
 * callback runs on the reader's loop and may close the reader; nothing
 * touches the reader after the callback returns.
 *
 * Lifetime: the fill is reference-counted: one reference for the leader
 * until it finishes or cancels, one per open reader. A fill leaves the
 * table when the leader ends it, before readers are told, so a request
 * that arrives afterwards looks the store up (or fetches) instead of
 * joining a fill that is over.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/store_internal.h"
#include "core/err.h"

#define FILL_MAGIC 0x5346696cu    /* "SFil" */
#define READER_MAGIC 0x53526472u  /* "SRdr" */

struct sl_cache_reader {
	uint32_t magic;
	sl_cache_fill *f;
	struct ev_loop *loop;
	ev_async as;
	sl_cache_reader_cb cb;
	void *arg;
	struct sl_cache_reader *prev, *next;  /* the fill's readers, under f->mu */
};

struct sl_cache_fill {
	uint32_t magic;
	sl_cache *c;
	uint8_t hash[SL__HASH_LEN];
	atomic_uint refs;
	struct sl_cache_fill *next;           /* table chain, under the table's mutex */
	bool in_table;                        /* ditto */

	/* Under mu; the head fields never change once STREAMING is set. */
	pthread_mutex_t mu;
	enum sl_cache_fill_state state;
	int err;
	sl_cache_meta meta;
	sl_field *fields;
	size_t nfields;
	int fd;                               /* the readers' descriptor, -1 before the head */
	off_t body_off;
	struct sl_cache_reader *readers;

	atomic_uint_fast64_t avail;

	/* The leader's alone. */
	char *key;
	size_t key_len;
	sl_cache_writer *w;
	bool ended;                           /* the readers were told the end */
	bool append_failed;
	int head_err;
};

static void fill_unref(sl_cache_fill *f)
{
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	assert(!f->readers && !f->w);
	if (f->fd >= 0)
		close(f->fd);
	pthread_mutex_destroy(&f->mu);
	free(f->fields);
	free(f->key);
	f->magic = SL__DEAD_MAGIC;
	free(f);
}

/* Wakes every reader (ev_async_send is safe from any thread). */
static void signal_readers(sl_cache_fill *f)
{
	pthread_mutex_lock(&f->mu);
	for (struct sl_cache_reader *r = f->readers; r; r = r->next)
		ev_async_send(r->loop, &r->as);
	pthread_mutex_unlock(&f->mu);
}

/* Takes f out of the table, sets its final state and wakes the readers. */
static void end_fill(sl_cache_fill *f, enum sl_cache_fill_state st, int err)
{
	struct sl__inflight *t = &f->c->infl;

	if (f->ended)
		return;
	f->ended = true;
	pthread_mutex_lock(&t->mu);
	if (f->in_table) {
		sl_cache_fill **pp = &t->buckets[f->hash[1] % SL__FILL_BUCKETS];
		while (*pp != f)
			pp = &(*pp)->next;
		*pp = f->next;
		f->in_table = false;
		t->count--;
	}
	pthread_mutex_unlock(&t->mu);
	pthread_mutex_lock(&f->mu);
	f->state = st;
	f->err = err;
	pthread_mutex_unlock(&f->mu);
	signal_readers(f);
}

static void on_async(struct ev_loop *loop, ev_async *w, int revents)
{
	struct sl_cache_reader *r = w->data;

	(void)loop;
	(void)revents;
	assert(r->magic == READER_MAGIC);
	r->cb(r, r->arg); /* may close r: not touched afterwards */
}

/* Sets up the table. */
void sl__inflight_init(sl_cache *c)
{
	pthread_mutex_init(&c->infl.mu, NULL);
	memset(c->infl.buckets, 0, sizeof c->infl.buckets);
	c->infl.count = 0;
}

/* Frees the table; every fill must have ended. */
void sl__inflight_free(sl_cache *c)
{
	assert(c->infl.count == 0);
	pthread_mutex_destroy(&c->infl.mu);
}

/*
 * Joins the fill of key or starts one (see inflight.h). A new reader's
 * callback runs once soon after the join (on loop), whatever the state:
 * the fill may already be streaming or over.
 */
int sl_cache_inflight_join(sl_cache *c, sl_slice key, struct ev_loop *loop,
			   sl_cache_reader_cb cb, void *arg, sl_cache_fill **fill,
			   sl_cache_reader **rd)
{
	uint8_t h[SL__HASH_LEN];
	struct sl__inflight *t = &c->infl;

	assert(c->magic == SL__CACHE_MAGIC);
	if (key.n == 0 || key.n > SL_CACHE_KEY_MAX)
		return SL_E_INVAL;
	sl__store_hash(key.p, key.n, h);
	struct sl_cache_reader *r = calloc(1, sizeof *r);
	if (!r)
		return SL_E_NOMEM;
	size_t b = h[1] % SL__FILL_BUCKETS;
	pthread_mutex_lock(&t->mu);
	sl_cache_fill *f = t->buckets[b];
	while (f && memcmp(f->hash, h, SL__HASH_LEN) != 0)
		f = f->next;
	if (f) {
		r->magic = READER_MAGIC;
		r->f = f;
		r->loop = loop;
		r->cb = cb;
		r->arg = arg;
		ev_async_init(&r->as, on_async);
		r->as.data = r;
		ev_async_start(loop, &r->as); /* before anyone can send to it */
		atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
		pthread_mutex_lock(&f->mu);
		r->next = f->readers;
		if (f->readers)
			f->readers->prev = r;
		f->readers = r;
		pthread_mutex_unlock(&f->mu);
		pthread_mutex_unlock(&t->mu);
		ev_async_send(loop, &r->as);
		*rd = r;
		return 0;
	}
	f = calloc(1, sizeof *f);
	char *k = f ? malloc(key.n) : NULL;
	if (!f || !k) {
		pthread_mutex_unlock(&t->mu);
		free(f);
		free(r);
		return SL_E_NOMEM;
	}
	memcpy(k, key.p, key.n);
	f->key = k;
	f->key_len = key.n;
	f->magic = FILL_MAGIC;
	f->c = c;
	memcpy(f->hash, h, SL__HASH_LEN);
	atomic_init(&f->refs, 1);
	atomic_init(&f->avail, 0);
	pthread_mutex_init(&f->mu, NULL);
	f->state = SL_CACHE_FILL_WAITING;
	f->fd = -1;
	f->next = t->buckets[b];
	t->buckets[b] = f;
	f->in_table = true;
	t->count++;
	pthread_mutex_unlock(&t->mu);
	free(r);
	*fill = f;
	return 1;
}

/* Number of fills in the table. */
unsigned sl_cache_inflight_count(sl_cache *c)
{
	pthread_mutex_lock(&c->infl.mu);
	unsigned n = c->infl.count;
	pthread_mutex_unlock(&c->infl.mu);
	return n;
}

/* Copies fields fl[0..n) into one allocation: the array, then the bytes. */
static sl_field *copy_fields(const sl_field *fl, size_t n)
{
	size_t bytes = n * sizeof(sl_field);

	for (size_t i = 0; i < n; i++)
		bytes += fl[i].name.n + fl[i].value.n;
	sl_field *out = malloc(bytes ? bytes : 1);
	if (!out)
		return NULL;
	char *p = (char *)(out + n);
	for (size_t i = 0; i < n; i++) {
		memcpy(p, fl[i].name.p, fl[i].name.n);
		out[i].name = sl_slice_make(p, fl[i].name.n);
		p += fl[i].name.n;
		if (fl[i].value.n)
			memcpy(p, fl[i].value.p, fl[i].value.n);
		out[i].value = sl_slice_make(p, fl[i].value.n);
		p += fl[i].value.n;
	}
	return out;
}

/*
 * The response is storable (see inflight.h). On an error the fill is over
 * for its readers (NOT_STORABLE: they fetch on their own); the leader
 * still ends it with sl_cache_fill_cancel() or sl_cache_fill_finish().
 * The view's meta is m as given: body_len stays UINT64_MAX when unknown.
 */
int sl_cache_fill_head(sl_cache_fill *f, const sl_cache_meta *m, const sl_field *fl,
		       size_t n)
{
	assert(f && f->magic == FILL_MAGIC && !f->w && !f->ended);
	sl_cache_writer *w = NULL;
	sl_field *copy = NULL;
	int fd = -1;
	off_t body_off;
	int rc = sl_cache_writer_open(f->c, sl_slice_make(f->key, f->key_len), m, fl, n, &w);

	if (rc == 0) {
		fd = fcntl(sl_cache_writer_fd(w, &body_off, NULL), F_DUPFD_CLOEXEC, 0);
		copy = fd >= 0 ? copy_fields(fl, n) : NULL;
		if (fd < 0 || !copy)
			rc = fd < 0 ? -errno : SL_E_NOMEM;
	}
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		if (w)
			sl_cache_writer_abort(w);
		f->head_err = rc;
		end_fill(f, SL_CACHE_FILL_NOT_STORABLE, rc);
		return rc;
	}
	f->w = w;
	pthread_mutex_lock(&f->mu);
	f->meta = *m;
	f->fields = copy;
	f->nfields = n;
	f->fd = fd;
	f->body_off = body_off;
	f->state = SL_CACHE_FILL_STREAMING;
	pthread_mutex_unlock(&f->mu);
	signal_readers(f);
	return 0;
}

/* Appends body bytes and wakes the readers (see inflight.h). */
int sl_cache_fill_append(sl_cache_fill *f, const void *p, size_t n)
{
	assert(f && f->magic == FILL_MAGIC);
	if (!f->w)
		return f->head_err ? f->head_err : SL_E_INVAL;
	int rc = sl_cache_writer_append(f->w, p, n);
	if (rc < 0) {
		f->append_failed = true;
		return rc;
	}
	uint64_t written;
	sl_cache_writer_fd(f->w, NULL, &written);
	atomic_store_explicit(&f->avail, written, memory_order_release);
	signal_readers(f);
	return 0;
}

/*
 * Ends the fill (see inflight.h). err 0 commits: readers see COMPLETE
 * when the whole body is in the file even if storing it failed (they
 * finish from their descriptor), FAILED when it is not (short body, an
 * append that failed). Before any head, the fill ends NOT_STORABLE and
 * the result is err, the head's error or SL_E_CACHE_NOT_STORABLE.
 */
int sl_cache_fill_finish(sl_cache_fill *f, int err, sl_cache_obj **out)
{
	assert(f && f->magic == FILL_MAGIC);
	int rc;

	if (!f->w) {
		rc = err < 0 ? err : f->head_err ? f->head_err : SL_E_CACHE_NOT_STORABLE;
		end_fill(f, SL_CACHE_FILL_NOT_STORABLE, rc);
	} else if (err < 0) {
		sl_cache_writer_abort(f->w);
		f->w = NULL;
		end_fill(f, SL_CACHE_FILL_FAILED, err);
		rc = err;
	} else {
		rc = sl_cache_writer_commit(f->w, out);
		f->w = NULL;
		bool whole = rc == 0 || (rc != SL_E_CACHE_SHORT && !f->append_failed);
		end_fill(f, whole ? SL_CACHE_FILL_COMPLETE : SL_CACHE_FILL_FAILED, rc);
	}
	fill_unref(f);
	return rc;
}

/* Ends the fill without storing anything: readers go upstream. */
void sl_cache_fill_cancel(sl_cache_fill *f)
{
	assert(f && f->magic == FILL_MAGIC);
	if (f->w) {
		sl_cache_writer_abort(f->w);
		f->w = NULL;
	}
	end_fill(f, SL_CACHE_FILL_NOT_STORABLE, SL_E_CACHE_NOT_STORABLE);
	fill_unref(f);
}

/* Fills *v with the fill's state now. */
void sl_cache_reader_view(sl_cache_reader *rd, sl_cache_fill_view *v)
{
	assert(rd && rd->magic == READER_MAGIC);
	sl_cache_fill *f = rd->f;

	pthread_mutex_lock(&f->mu);
	v->state = f->state;
	v->err = f->err;
	bool head = f->fd >= 0;
	v->meta = head ? &f->meta : NULL;
	v->fields = head ? f->fields : NULL;
	v->nfields = head ? f->nfields : 0;
	v->fd = f->fd;
	v->body_off = head ? f->body_off : 0;
	pthread_mutex_unlock(&f->mu);
	v->avail = atomic_load_explicit(&f->avail, memory_order_acquire);
}

/* Leaves the fill; on the reader's loop thread. */
void sl_cache_reader_close(sl_cache_reader *rd)
{
	if (!rd)
		return;
	assert(rd->magic == READER_MAGIC);
	sl_cache_fill *f = rd->f;

	pthread_mutex_lock(&f->mu);
	if (rd->prev)
		rd->prev->next = rd->next;
	else
		f->readers = rd->next;
	if (rd->next)
		rd->next->prev = rd->prev;
	pthread_mutex_unlock(&f->mu);
	ev_async_stop(rd->loop, &rd->as);
	rd->magic = SL__DEAD_MAGIC;
	free(rd);
	fill_unref(f);
}
