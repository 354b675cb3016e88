/*
 * The I/O buffers of a connection. sl_buf is the input side: one growable
 * allocation holding the unread bytes in [start, end), filled by append or by
 * a read(2) straight into its tail, drained from the front as the parser
 * consumes, and never larger than a hard cap (a request head that does not
 * fit is an error, not a reason to grow without end). The parser hands out
 * slices into it, so which operations may move the bytes matters:
 *
 *   may move the unread bytes:   sl_buf_append, sl_buf_space and
 *                                sl_buf_reserve when the tail is too short
 *                                (they compact or grow), sl_buf_compact,
 *                                sl_buf_release, sl_buf_free
 *   never move them:             sl_buf_commit, sl_buf_consume, sl_buf_reset
 *                                (the last two only drop bytes), and the
 *                                three above while the tail room suffices
 *
 * sl_buf_moves() counts the moves, so a holder of slices can check in an
 * assertion that none happened, or rebase its slices by offset if one did.
 *
 * sl_outq is the output side, a chain of segments as nginx chains its
 * buffers: memory copied into chunks the queue owns (small pushes coalesce
 * into the tail chunk; spent chunks go to a small per-queue free list, so a
 * warm connection does no malloc per response), memory the caller owns and
 * releases through a callback once it is fully sent, and file ranges sent
 * with sendfile(2). A high and a low watermark tell a producer when to pause
 * and when to resume. Neither type is thread-safe: each belongs to the one
 * worker that owns its connection.
 */
#ifndef SL_CORE_BUF_H
#define SL_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/slice.h"

/* ------------------------------------------------------------------ */
/* sl_buf: the input buffer                                            */
/* ------------------------------------------------------------------ */

#define SL_BUF_MAGIC 0x5b0f1e55u
#define SL_BUF_INITIAL_DEFAULT 4096u

typedef struct sl_buf {
	uint32_t magic;
	uint32_t moves;   /* times the unread bytes changed address */
	char *mem;        /* the allocation, NULL until first needed */
	size_t size;      /* bytes allocated */
	size_t start;     /* first unread byte */
	size_t end;       /* one past the last unread byte */
	size_t initial;   /* first allocation size */
	size_t max;       /* hard cap on the allocation */
} sl_buf;

/*
 * Prepares b, allocating nothing yet: the first append or space request
 * allocates `initial` bytes (SL_BUF_INITIAL_DEFAULT when 0, and never more
 * than max), so an idle connection holds no memory. The allocation doubles
 * as needed up to `max` bytes, past which writes fail with SL_E_LIMIT.
 * Returns 0, or SL_E_INVAL when max is 0.
 */
int sl_buf_init(sl_buf *b, size_t initial, size_t max);

/* Frees the allocation and scrubs b; b may be initialized again after. */
void sl_buf_free(sl_buf *b);

/* Drops every unread byte, keeping the allocation. Moves nothing. */
void sl_buf_reset(sl_buf *b);

/*
 * Frees the allocation if the buffer holds no unread bytes, so a connection
 * going idle gives its memory back; a later write allocates again.
 * Returns 0, or SL_E_INVAL (and frees nothing) when bytes are still unread.
 */
int sl_buf_release(sl_buf *b);

/* The unread bytes: valid until the next operation that may move them. */
static inline const char *sl_buf_data(const sl_buf *b)
{
	return b->mem ? b->mem + b->start : NULL;
}

static inline size_t sl_buf_len(const sl_buf *b)
{
	return b->end - b->start;
}

static inline sl_slice sl_buf_slice(const sl_buf *b)
{
	return sl_slice_make(sl_buf_data(b), sl_buf_len(b));
}

/* Free bytes after the unread ones, usable without moving anything. */
static inline size_t sl_buf_tailroom(const sl_buf *b)
{
	return b->size - b->end;
}

/* How many times the unread bytes have moved since sl_buf_init(). */
static inline uint32_t sl_buf_moves(const sl_buf *b)
{
	return b->moves;
}

/*
 * Makes at least n bytes of tail room, compacting when that is enough and
 * growing (doubling, up to the cap) otherwise. Returns 0, SL_E_LIMIT when
 * the unread bytes plus n would exceed the cap, or SL_E_NOMEM.
 */
int sl_buf_reserve(sl_buf *b, size_t n);

/*
 * Copies n bytes from p to the end of the unread bytes, as sl_buf_reserve
 * would make room. On error nothing is appended. Returns 0, SL_E_LIMIT or
 * SL_E_NOMEM.
 */
int sl_buf_append(sl_buf *b, const void *p, size_t n);

/*
 * Gives the tail for a direct read(2): *ptr and *len describe at least
 * max(min, 1) writable bytes (all the tail room there is, which may be
 * more). Write into it, then call sl_buf_commit() with the count actually
 * written. Returns 0, SL_E_LIMIT when the cap leaves no room for min bytes
 * (for a parser this means the message head is too large), or SL_E_NOMEM.
 */
int sl_buf_space(sl_buf *b, size_t min, char **ptr, size_t *len);

/* Adds n bytes written into the space sl_buf_space() gave. Moves nothing. */
void sl_buf_commit(sl_buf *b, size_t n);

/*
 * Drops n bytes (n <= sl_buf_len) from the front. Moves nothing: slices
 * into the remaining bytes stay valid. When nothing is left unread, the
 * next write starts again at the front of the allocation.
 */
void sl_buf_consume(sl_buf *b, size_t n);

/* Moves the unread bytes to the front of the allocation (if not there). */
void sl_buf_compact(sl_buf *b);

/* ------------------------------------------------------------------ */
/* sl_outq: the output chain                                           */
/* ------------------------------------------------------------------ */

#define SL_OUTQ_MAGIC 0x0a7c4a1bu
#define SL_OUTQ_CHUNK_DEFAULT 4096u
#define SL_OUTQ_HIGH_DEFAULT (64u * 1024)
#define SL_OUTQ_LOW_DEFAULT (16u * 1024)
#define SL_OUTQ_FREE_CHUNKS 4   /* chunks kept for reuse per queue */
#define SL_OUTQ_FREE_SEGS 8     /* bare segment headers kept for reuse */
#define SL_OUTQ_WRITE_MAX (1024u * 1024)   /* bytes one sl_outq_write() sends */

/* Releases caller memory or another resource once a segment is sent. */
typedef void (*sl_outq_free_fn)(void *ctx);

struct sl_outseg;

typedef struct sl_outq {
	uint32_t magic;
	uint32_t nsegs;             /* segments in the chain */
	struct sl_outseg *head;
	struct sl_outseg *tail;
	uint64_t pending;           /* bytes not yet sent, files included */
	size_t chunk_size;          /* storage of a standard chunk */
	size_t high, low;           /* watermarks, in pending bytes */
	struct sl_outseg *free_chunks;
	struct sl_outseg *free_segs;
	uint32_t nfree_chunks;
	uint32_t nfree_segs;
} sl_outq;

/*
 * Prepares an empty queue whose copied data goes into chunks of chunk_size
 * bytes (SL_OUTQ_CHUNK_DEFAULT when 0), with the default watermarks.
 * Allocates nothing.
 */
void sl_outq_init(sl_outq *q, size_t chunk_size);

/*
 * Releases every segment as sl_outq_clear() does, frees the cached chunks
 * and scrubs q.
 */
void sl_outq_free(sl_outq *q);

/*
 * Drops every pending segment: copied chunks return to the free list,
 * reference segments have their release callback called (once, in queue
 * order), file segments with close-on-done have their fd closed. The
 * callbacks must not call back into q.
 */
void sl_outq_clear(sl_outq *q);

/* Frees the chunks and headers kept for reuse (for a connection going idle). */
void sl_outq_trim(sl_outq *q);

/*
 * Copies n bytes from p to the end of the queue, first into the room left
 * in the tail chunk, then into new chunks (one chunk sized to fit when the
 * rest exceeds a standard chunk). The caller keeps p. On SL_E_NOMEM nothing
 * was queued. Returns 0 or SL_E_NOMEM.
 */
int sl_outq_push(sl_outq *q, const void *p, size_t n);

/*
 * Queues n bytes at p without copying: the caller keeps p alive and
 * unchanged until release(ctx) is called, which happens exactly once, when
 * the last byte is sent or the queue is cleared (at once, before returning,
 * when n is 0). release may be NULL. On SL_E_NOMEM release is not called and
 * the caller still owns p. Returns 0 or SL_E_NOMEM.
 */
int sl_outq_push_ref(sl_outq *q, const void *p, size_t n,
		     sl_outq_free_fn release, void *ctx);

/*
 * Queues len bytes of file fd from offset off, to be sent with sendfile(2).
 * With close_fd the queue owns fd and closes it once the range is sent or
 * the queue is cleared (at once when len is 0); otherwise the caller keeps
 * fd open until then. On error the queue takes nothing, so the caller still
 * owns fd. Returns 0, SL_E_INVAL (negative fd or offset) or SL_E_NOMEM.
 */
int sl_outq_push_file(sl_outq *q, int fd, off_t off, uint64_t len, bool close_fd);

/*
 * As sl_outq_push_file() without close_fd, for a file kept open by
 * something the caller holds (a cached object): release(ctx) is called
 * exactly once, when the range is sent or the queue is cleared (at once,
 * before returning, when len is 0), and fd must stay open until then.
 * release may be NULL. On error release is not called. Returns 0,
 * SL_E_INVAL or SL_E_NOMEM.
 */
int sl_outq_push_file_ref(sl_outq *q, int fd, off_t off, uint64_t len,
			  sl_outq_free_fn release, void *ctx);

/* Bytes queued and not yet sent, file ranges included. */
static inline uint64_t sl_outq_pending(const sl_outq *q)
{
	return q->pending;
}

static inline bool sl_outq_empty(const sl_outq *q)
{
	return q->head == NULL;
}

/*
 * Fills iov[0..max) with the memory segments at the head of the queue, up
 * to the first file segment. Sets *head_is_file (if not NULL) to whether
 * the head itself is a file segment, in which case nothing is filled.
 * Returns the number of entries filled (0 for an empty queue).
 */
size_t sl_outq_iov(const sl_outq *q, struct iovec *iov, size_t max, bool *head_is_file);

/*
 * If the head of the queue is a file segment, sets *fd, *off and *len to
 * what remains of it and returns true; otherwise returns false.
 */
bool sl_outq_head_file(const sl_outq *q, int *fd, off_t *off, uint64_t *len);

/*
 * Marks n bytes (n <= pending) as sent: finished segments are released as
 * sl_outq_clear() describes, the head may be left partly sent. The release
 * callbacks must not call back into q.
 */
void sl_outq_advance(sl_outq *q, uint64_t n);

/*
 * Sets the watermarks (low <= high): a producer pauses when
 * sl_outq_above_high() and resumes when sl_outq_below_low(). Returns 0, or
 * SL_E_INVAL when low > high.
 */
int sl_outq_set_watermarks(sl_outq *q, size_t low, size_t high);

/* Whether pending bytes reached the high watermark: stop producing. */
static inline bool sl_outq_above_high(const sl_outq *q)
{
	return q->pending >= q->high;
}

/* Whether pending bytes fell to the low watermark: produce again. */
static inline bool sl_outq_below_low(const sl_outq *q)
{
	return q->pending <= q->low;
}

/*
 * Writes as much of the queue to fd as it takes without blocking: writev(2)
 * for memory segments, sendfile(2) for file segments (pread and write where
 * sendfile is missing or refuses the fds), advancing the queue past what
 * was written. It stops at the first short write, when the queue empties,
 * or after SL_OUTQ_WRITE_MAX bytes so one connection cannot hold the loop.
 * Returns the bytes written (0 for an empty queue), or when nothing could
 * be written a negative code: -EAGAIN when fd is full, -errno, or SL_E_EOF
 * when a queued file is shorter than its range. SIGPIPE must be ignored by
 * the process, as the server does.
 */
ssize_t sl_outq_write(sl_outq *q, int fd);

#endif
