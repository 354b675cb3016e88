/*
 * A channel, as QHttpNetworkConnectionChannel is Qt's: one sl_stream of a
 * connection carrying HTTP/1.1 exchanges, one at a time (or several GET and
 * HEAD in a row when pipelining), with an explicit state machine (see the
 * table at the top of channel.c), one read buffer with a hard cap, the
 * response parser and the chunked decoder. A channel exists while it
 * connects or works; between exchanges its stream rests in the manager's
 * idle cache and the channel object returns to the manager's pool.
 */
#ifndef SL_CLIENT_CHANNEL_INTERNAL_H
#define SL_CLIENT_CHANNEL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "client/connection_internal.h"
#include "core/buf.h"
#include "core/http_parse.h"
#include "engines/stream.h"

#define SL__CHANNEL_MAGIC 0x4348414eu /* "CHAN" */
#define SL__CHANNEL_FIELDS 100

enum sl__ch_state {
	SL__CH_UNCONNECTED = 0,
	SL__CH_CONNECTING,
	SL__CH_IDLE,
	SL__CH_SENDING,
	SL__CH_EXPECT,
	SL__CH_WAITING,
	SL__CH_RECEIVING,
	SL__CH_CLOSED,
};

/* What the stream's one timer measures now. */
enum sl__ch_timer {
	SL__T_NONE = 0,
	SL__T_CONTINUE,    /* Expect: 100-continue wait */
	SL__T_FIRST_BYTE,  /* request sent, no response byte yet */
	SL__T_IDLE,        /* idle between reads or writes */
};

typedef struct sl__channel {
	uint32_t magic;
	int refs;
	enum sl__ch_state state;
	enum sl__ch_timer timer;
	sl_manager *m;
	sl__conn *conn;                     /* NULL once the channel is gone */
	struct sl__channel *next;           /* connection's list, or the pool */
	sl_stream *s;
	sl_chain_req *creq;
	sl__task task;                      /* deferred processing or close */
	bool task_close;
	sl_buf in;
	size_t read_size;                   /* space asked for per read; grows while reads fill it */
	sl_http_parser parser;
	sl_chunked chunked;
	sl_field fields[SL__CHANNEL_FIELDS];
	struct sl_reply *rx_head, *rx_tail; /* in flight, oldest (being answered) first */
	struct sl_reply *tx;                /* being written, or NULL */
	unsigned inflight;
	unsigned nreq;                      /* requests bound to this stream so far */
	enum sl_http_body framing;
	uint64_t body_left;
	bool keep_alive;                    /* the response being read allows reuse */
	bool must_close;                    /* close after the current response */
	bool from_cache;                    /* the stream served a request before */
	ev_tstamp born;                     /* when this channel connected (0: from the cache) */
	uint64_t epoch;                     /* the manager's epoch when the stream was connected */
	bool want_write;
	bool closing;                       /* a close is posted: stop working */
	int close_err;
} sl__channel;

/* Gets a channel from the pool (or allocates one) for c, UNCONNECTED.
 * Returns NULL when out of memory. */
sl__channel *sl__channel_new(sl__conn *c);

/* Starts connecting through the manager's connector. Never calls back;
 * the outcome reaches the connection later. Returns 0 or SL_E_NOMEM. */
int sl__channel_connect(sl__channel *ch);

/* Adopts a usable stream (from the idle cache or a finished connect): the
 * channel becomes IDLE. */
void sl__channel_adopt(sl__channel *ch, sl_stream *s, bool reused);

/* Whether ch can take r now: IDLE, or (pipelining) busy with requests that
 * all allow it. */
bool sl__channel_can_take(const sl__channel *ch, const struct sl_reply *r, bool pipeline);

/* Binds r to ch and starts writing it (from the loop). Never calls back. */
void sl__channel_bind(sl__channel *ch, struct sl_reply *r);

/* Hands the stream to the caller and leaves the channel without one. */
sl_stream *sl__channel_take_stream(sl__channel *ch);

/*
 * An aborted reply on ch. When its exchange is under way (it is being
 * answered, or its head is partly written) the reply is detached and the
 * channel closes from the loop; when nothing of it was written it is just
 * detached; a pipelined reply already written stays, and its response is
 * read and dropped when its turn comes. Returns whether r was detached
 * (the caller then finishes it). Never calls back.
 */
bool sl__channel_abort(sl__channel *ch, struct sl_reply *r);

/* The caller paused or resumed r, which is on ch. Never calls back. */
void sl__channel_update(sl__channel *ch, struct sl_reply *r);

/* A pushed or pulled body of r (on ch) has new bytes. Never calls back. */
void sl__channel_body_more(sl__channel *ch, struct sl_reply *r);

/* Closes the stream, cancels a connect, and recycles the channel into the
 * manager's pool (or frees it). No callbacks; in-flight replies must be
 * gone. */
void sl__channel_free(sl__channel *ch);

/* Bytes held in the read buffer, and its cap. */
size_t sl__channel_buffered(const sl__channel *ch, size_t *cap);

/* Returns the name of a state for logs. */
const char *sl__channel_state_name(enum sl__ch_state s);

#endif
