/*
 * Collapsed forwarding: while one request fetches a missing key (the
 * leader), every other request for the same key, on any worker, joins its
 * fill as a reader instead of going upstream. The leader writes the
 * response into the store's temporary file (store.h) and readers stream
 * it from that file while it grows (read-while-write), each at its own
 * pace, with sendfile(2) from the file descriptor the fill hands out.
 *
 * A fill is one of: waiting for the head; streaming (head known, body
 * growing); complete (committed to the store: readers finish from the same
 * file); failed (the upstream broke midway: readers must cut their client
 * connection, never end the response cleanly; nothing is stored); or not
 * storable (the response turned out uncacheable, or the fetch failed
 * before a head: readers go upstream on their own).
 *
 * Threads: the table of fills is shared behind a lock; a reader belongs to
 * one worker's loop and is woken there through its own ev_async, so a
 * reader's callback always runs on the reader's loop. A reader must be
 * closed on its loop's thread; the fill is freed when the leader has
 * finished and the last reader has closed.
 */
#ifndef SL_CACHE_INFLIGHT_H
#define SL_CACHE_INFLIGHT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/policy.h"
#include "cache/store.h"
#include "core/headers.h"
#include "core/slice.h"

typedef struct sl_cache_fill sl_cache_fill;
typedef struct sl_cache_reader sl_cache_reader;

/* Called on the reader's loop when its fill has news (head, more body,
 * end). May close the reader. */
typedef void (*sl_cache_reader_cb)(sl_cache_reader *rd, void *arg);

/*
 * Joins the fill of key or starts one. When another request is fetching
 * key, adds a reader on loop (cb(rd, arg) runs there once soon after the
 * join, whatever the state, then on news), stores it in *rd and returns 0.
 * Otherwise creates a fill owned by the caller, stores it in *fill and
 * returns 1: the caller is the leader and must end the fill with
 * sl_cache_fill_finish() or sl_cache_fill_cancel(). A fill leaves the
 * table when its leader ends it, so a caller that looked the store up,
 * missed, and then becomes leader may look up once more: a fill that
 * ended in between has stored the object. Returns SL_E_NOMEM on failure
 * (the caller then fetches alone), SL_E_INVAL for an empty or too long
 * key. Call on loop's thread.
 */
int sl_cache_inflight_join(sl_cache *c, sl_slice key, struct ev_loop *loop,
			   sl_cache_reader_cb cb, void *arg, sl_cache_fill **fill,
			   sl_cache_reader **rd);

/* Number of fills in progress (status page). */
unsigned sl_cache_inflight_count(sl_cache *c);

/* ---- leader side ---- */

/*
 * The response is storable: opens the store's writer with metadata m
 * (body_len: expected size or UINT64_MAX) and stored fields f[0..n) (copied)
 * and wakes the readers, who can now send the head. Returns 0, or
 * SL_E_CACHE_TOO_LARGE, the writer's other errors or a -errno: the fill is
 * then over for its readers (NOT_STORABLE: they go upstream), and the
 * leader still ends it with sl_cache_fill_cancel() (or finish()).
 */
int sl_cache_fill_head(sl_cache_fill *f, const sl_cache_meta *m, const sl_field *fl,
		       size_t n);

/* Appends body bytes to the file and wakes the readers. Returns 0 or the
 * writer's error (the leader must then finish with that error). */
int sl_cache_fill_append(sl_cache_fill *f, const void *p, size_t n);

/*
 * Ends the fill. err 0: the body is complete; it is committed to the store
 * (out, when not NULL, gets a reference to the stored object) and readers
 * finish from the file (COMPLETE, also when storing failed after the whole
 * body was written; FAILED when the body came short or an append had
 * failed). err < 0: the upstream failed; nothing is stored and readers see
 * FAILED (NOT_STORABLE when no head was given yet). The fill leaves the
 * table (new requests for key no longer join it) and the leader's
 * reference is dropped. Returns the commit's result (or err, or the head's
 * error, or SL_E_CACHE_NOT_STORABLE when there was no head).
 */
int sl_cache_fill_finish(sl_cache_fill *f, int err, sl_cache_obj **out);

/* Ends the fill without a storable response (not cacheable, or no head):
 * readers are told to go upstream themselves (state NOT_STORABLE). */
void sl_cache_fill_cancel(sl_cache_fill *f);

/* ---- reader side ---- */

enum sl_cache_fill_state {
	SL_CACHE_FILL_WAITING,       /* no head yet */
	SL_CACHE_FILL_STREAMING,     /* head known; body growing */
	SL_CACHE_FILL_COMPLETE,      /* body complete (committed) */
	SL_CACHE_FILL_FAILED,        /* the upstream failed midway: cut the client */
	SL_CACHE_FILL_NOT_STORABLE,  /* go upstream */
};

/* What a reader sees of its fill. The head's pointers stay valid while the
 * reader is open. meta->body_len is as the leader announced it (UINT64_MAX
 * when unknown): when COMPLETE, the body is exactly avail bytes. */
typedef struct sl_cache_fill_view {
	enum sl_cache_fill_state state;
	const sl_cache_meta *meta;   /* once a head was given (STREAMING, COMPLETE,
	                                FAILED after the head); else NULL */
	const sl_field *fields;
	size_t nfields;
	int fd;                      /* the file; valid while the reader is open (-1
	                                before the head); read it with pread or
	                                sendfile with an offset, never move its
	                                position */
	off_t body_off;              /* body byte 0 is at this offset of fd */
	uint64_t avail;              /* body bytes written so far */
	int err;                     /* FAILED: the leader's error */
} sl_cache_fill_view;

/* Fills *v with the fill's state now. */
void sl_cache_reader_view(sl_cache_reader *rd, sl_cache_fill_view *v);

/* Leaves the fill. Call on the reader's loop thread; never inside another
 * reader's callback of a different loop. */
void sl_cache_reader_close(sl_cache_reader *rd);

#endif
