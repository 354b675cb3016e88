/*
 * What the files of src/client share about the manager: its struct, the
 * deferred-task mechanism every module uses to run work "on the next loop
 * iteration" instead of calling back from inside an API call, and the
 * object pools (replies, channels) that keep the request path free of
 * malloc once warm. Only src/client includes this.
 */
#ifndef SL_CLIENT_MANAGER_INTERNAL_H
#define SL_CLIENT_MANAGER_INTERNAL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/auth_cache.h"
#include "client/conn_cache.h"
#include "client/manager.h"

#define SL__MANAGER_MAGIC 0x4d414e47u /* "MANG" */
#define SL__CONN_BUCKETS 64
#define SL__SCRATCH_SIZE (64u * 1024)
#define SL__POOL_REPLIES 64
#define SL__POOL_CHANNELS 16
#define SL__EMPTY_CONNS 32

struct sl__conn;
struct sl__channel;

/*
 * A deferred task: fn runs once from the manager's loop after being posted,
 * unless cancelled first. Embedded in the object it works for; posting an
 * already posted task does nothing. Tasks posted while tasks run go to the
 * next iteration, so a task that reposts itself lets the loop breathe.
 */
typedef struct sl__task {
	struct sl__task *prev, *next;
	void (*fn)(struct sl__task *t);
	bool queued;
} sl__task;

struct sl_manager {
	uint32_t magic;
	struct ev_loop *loop;
	sl_manager_opts o;
	sl_connect_opts copts_plain;        /* what the connector gets for http */
	sl_connect_opts copts_tls;          /* ... and for https */
	char ua[64];
	sl_conn_cache *idle;
	sl_auth_cache *auth;
	bool own_auth;
	bool freeing;
	uint64_t epoch;                     /* streams connected in an older epoch are
	                                       closed after their exchange, not reused
	                                       (sl_manager_expire_connections) */

	struct sl__conn *conns[SL__CONN_BUCKETS];
	unsigned nconns;
	struct sl__conn *empty_head, *empty_tail; /* connections without work, LRU */
	unsigned nempty;

	struct sl_reply *active;            /* replies not done, doubly linked */
	unsigned nactive;
	struct sl_reply *pool;              /* recycled replies */
	unsigned npool;
	struct sl__channel *chpool;         /* recycled channels */
	unsigned nchpool;

	ev_timer defer;                     /* keeps the loop from blocking while tasks wait */
	ev_prepare prep;                    /* runs posted tasks before the loop polls */
	sl__task pending;                   /* sentinel of the posted tasks */
	sl__task running;                   /* sentinel of the tasks being run */

	char *scratch;                      /* SL__SCRATCH_SIZE bytes for file reads */

	uint64_t n_connects, n_connect_failures, n_reused, n_retries, n_requests;
	unsigned nchannels, nqueued;
};

/* Sets up t with its function; it is not posted. */
void sl__task_init(sl__task *t, void (*fn)(sl__task *t));

/* Posts t to run from the loop (no-op when already posted). */
void sl__task_post(sl_manager *m, sl__task *t);

/* Unposts t if it is posted. */
void sl__task_cancel(sl__task *t);

#endif
