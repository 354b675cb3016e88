/*
 * The input buffer and the output chain of a connection (see buf.h for the
 * contracts). sl_buf keeps its unread bytes in [start, end) of one
 * allocation of `size` <= `max` bytes; it only moves them when a write needs
 * more tail room than there is, first by compacting (when that alone makes
 * room) and else by moving them into a larger allocation, and counts every
 * move. sl_outq is a singly linked chain of segments with a running total of
 * pending bytes; the invariant is that no segment in the chain is empty and
 * `pending` is the sum of what remains of each. Released standard chunks and
 * bare segment headers go to two short free lists so a warm queue allocates
 * nothing. The syscalls that drain a queue live in buf_linux.c.
 */
#include "core/buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

/* ------------------------------------------------------------------ */
/* sl_buf                                                              */
/* ------------------------------------------------------------------ */

int sl_buf_init(sl_buf *b, size_t initial, size_t max)
{
	memset(b, 0, sizeof *b);
	if (max == 0)
		return SL_E_INVAL;
	if (initial == 0)
		initial = SL_BUF_INITIAL_DEFAULT;
	b->initial = initial < max ? initial : max;
	b->max = max;
	b->magic = SL_BUF_MAGIC;
	return 0;
}

void sl_buf_free(sl_buf *b)
{
	assert(b->magic == SL_BUF_MAGIC);
	free(b->mem);
	memset(b, 0, sizeof *b);
}

void sl_buf_reset(sl_buf *b)
{
	assert(b->magic == SL_BUF_MAGIC);
	b->start = b->end = 0;
}

int sl_buf_release(sl_buf *b)
{
	assert(b->magic == SL_BUF_MAGIC);
	if (b->end != b->start)
		return SL_E_INVAL;
	free(b->mem);
	b->mem = NULL;
	b->size = b->start = b->end = 0;
	return 0;
}

void sl_buf_compact(sl_buf *b)
{
	assert(b->magic == SL_BUF_MAGIC);
	size_t len = b->end - b->start;
	if (b->start == 0)
		return;
	if (len) {
		memmove(b->mem, b->mem + b->start, len);
		b->moves++;
	}
	b->start = 0;
	b->end = len;
}

/* Moves the unread bytes into a fresh allocation of newsize bytes. */
static int regrow(sl_buf *b, size_t newsize)
{
	size_t len = b->end - b->start;
	char *m = malloc(newsize);
	if (!m)
		return SL_E_NOMEM;
	if (len) {
		memcpy(m, b->mem + b->start, len);
		b->moves++;
	}
	free(b->mem);
	b->mem = m;
	b->size = newsize;
	b->start = 0;
	b->end = len;
	return 0;
}

int sl_buf_reserve(sl_buf *b, size_t n)
{
	assert(b->magic == SL_BUF_MAGIC);
	size_t len = b->end - b->start;

	if (b->mem && b->size - b->end >= n)
		return 0;
	if (n > b->max - len)
		return SL_E_LIMIT;
	size_t need = len + n;
	if (b->mem && need <= b->size) {
		sl_buf_compact(b);
		return 0;
	}
	size_t sz = b->size ? b->size : b->initial;
	while (sz < need)
		sz = sz > b->max / 2 ? b->max : sz * 2;
	if (sz > b->max)
		sz = b->max;
	return regrow(b, sz);
}

int sl_buf_append(sl_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	int rc = sl_buf_reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->mem + b->end, p, n);
	b->end += n;
	return 0;
}

int sl_buf_space(sl_buf *b, size_t min, char **ptr, size_t *len)
{
	int rc = sl_buf_reserve(b, min ? min : 1);
	if (rc)
		return rc;
	*ptr = b->mem + b->end;
	*len = b->size - b->end;
	return 0;
}

void sl_buf_commit(sl_buf *b, size_t n)
{
	assert(b->magic == SL_BUF_MAGIC);
	assert(n <= b->size - b->end);
	b->end += n;
}

void sl_buf_consume(sl_buf *b, size_t n)
{
	assert(b->magic == SL_BUF_MAGIC);
	assert(n <= b->end - b->start);
	b->start += n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

/* ------------------------------------------------------------------ */
/* sl_outq                                                             */
/* ------------------------------------------------------------------ */

enum seg_kind { SEG_CHUNK, SEG_REF, SEG_FILE };

struct sl_outseg {
	struct sl_outseg *next;
	enum seg_kind kind;
	bool standard;          /* a chunk of the queue's chunk_size */
	bool close_fd;          /* file: close fd when done */
	char *p;                /* chunk storage, or the caller's bytes */
	size_t pos;             /* memory: first unsent byte */
	size_t len;             /* memory: bytes filled */
	size_t cap;             /* chunk: bytes of storage */
	sl_outq_free_fn release;
	void *ctx;
	int fd;
	off_t off;              /* file: next byte to send */
	uint64_t flen;          /* file: bytes left */
};

void sl_outq_init(sl_outq *q, size_t chunk_size)
{
	memset(q, 0, sizeof *q);
	q->chunk_size = chunk_size ? chunk_size : SL_OUTQ_CHUNK_DEFAULT;
	q->high = SL_OUTQ_HIGH_DEFAULT;
	q->low = SL_OUTQ_LOW_DEFAULT;
	q->magic = SL_OUTQ_MAGIC;
}

static uint64_t seg_left(const struct sl_outseg *s)
{
	return s->kind == SEG_FILE ? s->flen : s->len - s->pos;
}

/* A chunk with room for cap bytes, recycled when cap is the standard size. */
static struct sl_outseg *chunk_new(sl_outq *q, size_t cap)
{
	struct sl_outseg *s;
	bool standard = cap <= q->chunk_size;

	if (standard && q->free_chunks) {
		s = q->free_chunks;
		q->free_chunks = s->next;
		q->nfree_chunks--;
	} else {
		if (standard)
			cap = q->chunk_size;
		if (cap > SIZE_MAX - sizeof *s)
			return NULL;
		s = malloc(sizeof *s + cap);
		if (!s)
			return NULL;
	}
	memset(s, 0, sizeof *s);
	s->kind = SEG_CHUNK;
	s->standard = standard;
	s->p = (char *)(s + 1);
	s->cap = standard ? q->chunk_size : cap;
	s->fd = -1;
	return s;
}

/* A header for a reference or file segment. */
static struct sl_outseg *seg_new(sl_outq *q, enum seg_kind kind)
{
	struct sl_outseg *s = q->free_segs;
	if (s) {
		q->free_segs = s->next;
		q->nfree_segs--;
	} else if (!(s = malloc(sizeof *s))) {
		return NULL;
	}
	memset(s, 0, sizeof *s);
	s->kind = kind;
	s->fd = -1;
	return s;
}

static void link_tail(sl_outq *q, struct sl_outseg *s)
{
	s->next = NULL;
	if (q->tail)
		q->tail->next = s;
	else
		q->head = s;
	q->tail = s;
	q->nsegs++;
	q->pending += seg_left(s);
}

/*
 * Gives up an unlinked segment: runs its release duty, then keeps the
 * memory for reuse when the free lists have room.
 */
static void seg_release(sl_outq *q, struct sl_outseg *s)
{
	switch (s->kind) {
	case SEG_CHUNK:
		if (s->standard && q->nfree_chunks < SL_OUTQ_FREE_CHUNKS) {
			s->next = q->free_chunks;
			q->free_chunks = s;
			q->nfree_chunks++;
		} else {
			free(s);
		}
		return;
	case SEG_REF:
		if (s->release)
			s->release(s->ctx);
		break;
	case SEG_FILE:
		if (s->close_fd && s->fd >= 0)
			close(s->fd);
		if (s->release)
			s->release(s->ctx);
		break;
	}
	if (q->nfree_segs < SL_OUTQ_FREE_SEGS) {
		s->next = q->free_segs;
		q->free_segs = s;
		q->nfree_segs++;
	} else {
		free(s);
	}
}

/* Unlinks the head segment and releases it. */
static void pop_head(sl_outq *q)
{
	struct sl_outseg *s = q->head;
	q->pending -= seg_left(s);
	q->head = s->next;
	if (!q->head)
		q->tail = NULL;
	q->nsegs--;
	seg_release(q, s);
}

void sl_outq_clear(sl_outq *q)
{
	assert(q->magic == SL_OUTQ_MAGIC);
	while (q->head)
		pop_head(q);
	assert(q->pending == 0 && q->nsegs == 0);
}

void sl_outq_trim(sl_outq *q)
{
	assert(q->magic == SL_OUTQ_MAGIC);
	while (q->free_chunks) {
		struct sl_outseg *s = q->free_chunks;
		q->free_chunks = s->next;
		free(s);
	}
	while (q->free_segs) {
		struct sl_outseg *s = q->free_segs;
		q->free_segs = s->next;
		free(s);
	}
	q->nfree_chunks = q->nfree_segs = 0;
}

void sl_outq_free(sl_outq *q)
{
	sl_outq_clear(q);
	sl_outq_trim(q);
	memset(q, 0, sizeof *q);
}

int sl_outq_push(sl_outq *q, const void *p, size_t n)
{
	assert(q->magic == SL_OUTQ_MAGIC);
	struct sl_outseg *t = q->tail;
	size_t room = 0, rest;
	struct sl_outseg *s = NULL;

	if (n == 0)
		return 0;
	if (t && t->kind == SEG_CHUNK)
		room = t->cap - t->len;
	if (room > n)
		room = n;
	rest = n - room;
	/* Allocate first, so a failure leaves the queue as it was. */
	if (rest && !(s = chunk_new(q, rest)))
		return SL_E_NOMEM;
	if (room) {
		memcpy(t->p + t->len, p, room);
		t->len += room;
		q->pending += room;
	}
	if (s) {
		memcpy(s->p, (const char *)p + room, rest);
		s->len = rest;
		link_tail(q, s);
	}
	return 0;
}

int sl_outq_push_ref(sl_outq *q, const void *p, size_t n,
		     sl_outq_free_fn release, void *ctx)
{
	assert(q->magic == SL_OUTQ_MAGIC);
	if (n == 0) {
		if (release)
			release(ctx);
		return 0;
	}
	struct sl_outseg *s = seg_new(q, SEG_REF);
	if (!s)
		return SL_E_NOMEM;
	s->p = (char *)(uintptr_t)p;   /* never written through */
	s->len = n;
	s->release = release;
	s->ctx = ctx;
	link_tail(q, s);
	return 0;
}

/* A file segment; on a refusal or an empty range, what the segment would
 * have owned is let go at once (the fd closed, or release called). */
static int push_file(sl_outq *q, int fd, off_t off, uint64_t len, bool close_fd,
		     sl_outq_free_fn release, void *ctx)
{
	assert(q->magic == SL_OUTQ_MAGIC);
	if (fd < 0 || off < 0)
		return SL_E_INVAL;
	if (len == 0) {
		if (close_fd)
			close(fd);
		if (release)
			release(ctx);
		return 0;
	}
	struct sl_outseg *s = seg_new(q, SEG_FILE);
	if (!s)
		return SL_E_NOMEM;
	s->fd = fd;
	s->off = off;
	s->flen = len;
	s->close_fd = close_fd;
	s->release = release;
	s->ctx = ctx;
	link_tail(q, s);
	return 0;
}

int sl_outq_push_file(sl_outq *q, int fd, off_t off, uint64_t len, bool close_fd)
{
	return push_file(q, fd, off, len, close_fd, NULL, NULL);
}

int sl_outq_push_file_ref(sl_outq *q, int fd, off_t off, uint64_t len,
			  sl_outq_free_fn release, void *ctx)
{
	return push_file(q, fd, off, len, false, release, ctx);
}

size_t sl_outq_iov(const sl_outq *q, struct iovec *iov, size_t max, bool *head_is_file)
{
	assert(q->magic == SL_OUTQ_MAGIC);
	const struct sl_outseg *s = q->head;
	size_t i = 0;

	if (head_is_file)
		*head_is_file = s && s->kind == SEG_FILE;
	for (; s && s->kind != SEG_FILE && i < max; s = s->next, i++) {
		iov[i].iov_base = s->p + s->pos;
		iov[i].iov_len = s->len - s->pos;
	}
	return i;
}

bool sl_outq_head_file(const sl_outq *q, int *fd, off_t *off, uint64_t *len)
{
	assert(q->magic == SL_OUTQ_MAGIC);
	const struct sl_outseg *s = q->head;
	if (!s || s->kind != SEG_FILE)
		return false;
	*fd = s->fd;
	*off = s->off;
	*len = s->flen;
	return true;
}

void sl_outq_advance(sl_outq *q, uint64_t n)
{
	assert(q->magic == SL_OUTQ_MAGIC);
	assert(n <= q->pending);
	while (n) {
		struct sl_outseg *s = q->head;
		uint64_t left = seg_left(s);
		if (n >= left) {
			n -= left;
			pop_head(q);
			continue;
		}
		if (s->kind == SEG_FILE) {
			s->off += (off_t)n;
			s->flen -= n;
		} else {
			s->pos += (size_t)n;
		}
		q->pending -= n;
		n = 0;
	}
}

int sl_outq_set_watermarks(sl_outq *q, size_t low, size_t high)
{
	assert(q->magic == SL_OUTQ_MAGIC);
	if (low > high)
		return SL_E_INVAL;
	q->low = low;
	q->high = high;
	return 0;
}
