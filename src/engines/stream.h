/*
 * sl_stream: one upstream connection. One fd, one ev_io, one ev_timer, and
 * a stack of layers (a vtable in the manner of connection filters). The
 * bottom layer is the socket itself and is embedded in the stream; above it
 * sit handshake layers (SOCKS5, HTTP CONNECT), which read exact lengths, own
 * no lasting buffer and are unlinked by the stream as soon as their
 * handshake is done, and TLS, the only layer that stays in the data path.
 * Layers read and write through the layer below them (l->below), never the
 * fd directly, except the socket layer: TLS to an HTTPS proxy and TLS to the
 * origin inside it therefore stack without a second socket or buffer.
 *
 * Driving. A layer pushed on the stream starts its handshake at once: the
 * stream calls ops->progress(l) then, and again whenever the fd is ready for
 * what ops->want(l) asked, until progress returns 0 (done) or an error. The
 * stream then calls the handshake callback given to sl_stream_push(). While
 * no handshake runs, readiness goes to the user callback (sl_stream_set_cb)
 * for the events the user asked with sl_stream_want(); data the top layer
 * holds (TLS records already decrypted) counts as readable.
 *
 * Ownership and callbacks. The stream owns its layers and its fd. Callbacks
 * run from the stream's loop; a callback may close the stream (the stream
 * holds a reference around every callback, so the memory stays valid until
 * the callback returns). Everything here runs on one loop: a stream is never
 * touched by two threads.
 *
 * Errors. Every failure is a negative code (core/err.h) stored in s->err,
 * with the index of the hop it happened at (s->err_hop: 0 = the first hop
 * the TCP connection goes to) and s->err_proxy saying whether it is a proxy
 * error (a hop of the route failed) or a target error (the route worked,
 * the target did not).
 */
#ifndef SL_ENGINES_STREAM_H
#define SL_ENGINES_STREAM_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/addr.h"

typedef struct sl_stream sl_stream;
typedef struct sl_layer sl_layer;

/* What a layer or a user waits for. */
enum {
	SL_WANT_READ = 1u << 0,
	SL_WANT_WRITE = 1u << 1,
};

/* Events given to the user callback. */
enum {
	SL_EV_READABLE = 1u << 0, /* sl_stream_read() will not return -EAGAIN at once */
	SL_EV_WRITABLE = 1u << 1,
	SL_EV_TIMEOUT = 1u << 2,  /* the stream's timer fired */
};

/*
 * A layer's operations. progress/want drive its handshake; read/writev/
 * pending are the data path (NULL in handshake layers, which never stay);
 * shutdown is a non-blocking close step; destroy frees the layer (not the
 * layers below it). Return conventions: progress and shutdown return 0 when
 * done, SL_E_AGAIN to be called again when want() is ready, or a negative
 * error; read returns bytes (> 0), 0 at end of stream, -EAGAIN, or an error;
 * writev returns bytes accepted (> 0), -EAGAIN, or an error.
 */
typedef struct sl_layer_ops {
	const char *name;
	int (*progress)(sl_layer *l);
	unsigned (*want)(const sl_layer *l);
	ssize_t (*read)(sl_layer *l, void *buf, size_t n);
	ssize_t (*writev)(sl_layer *l, const struct iovec *iov, int iovcnt);
	size_t (*pending)(const sl_layer *l);
	int (*shutdown)(sl_layer *l);
	void (*destroy)(sl_layer *l);
} sl_layer_ops;

/* The common head of every layer; a layer embeds it first. */
struct sl_layer {
	const sl_layer_ops *ops;
	sl_layer *below;   /* NULL only for the socket layer */
	sl_stream *s;
	int hop;           /* the route hop this layer talks to (for errors) */
	bool target;       /* talks to the target, not to a proxy hop (TLS to the origin) */
	bool stays;        /* true: stays in the data path after its handshake (TLS) */
};

typedef void (*sl_stream_cb)(sl_stream *s, unsigned events, void *arg);
/* Called once when a pushed layer's handshake ends: err is 0 or the error. */
typedef void (*sl_stream_done_cb)(sl_stream *s, int err, void *arg);
/* Verbose tracing of handshakes (sluice-fetch -v): one line, no newline. */
typedef void (*sl_stream_trace_cb)(sl_stream *s, const char *line, void *arg);

#define SL_STREAM_MAGIC 0x53545245u /* "STRE" */

struct sl_stream {
	uint32_t magic;
	int refs;
	struct ev_loop *loop;
	int fd;                    /* -1 until attached */
	ev_io io;
	ev_timer timer;
	sl_layer sock;             /* the bottom layer, embedded */
	sl_layer *top;             /* the layer the user reads and writes through */
	sl_layer *hs;              /* the layer whose handshake runs, or NULL */
	sl_stream_done_cb hs_cb;
	void *hs_arg;
	sl_stream_cb cb;
	void *cb_arg;
	sl_stream_trace_cb trace;
	void *trace_arg;
	unsigned user_want;        /* SL_WANT_* the user asked for */
	unsigned io_events;        /* EV_READ|EV_WRITE the ev_io is armed with */
	int err;                   /* the first error, 0 if none */
	int err_hop;               /* hop index of err, -1 if not known */
	bool err_proxy;            /* err is a proxy error (vs a target error) */
	bool closed;               /* sl_stream_close() was called */
	bool eof;                  /* the peer's end of stream was read */
	bool in_cb;                /* a callback is running */
	bool shutting_down;
	bool has_peer;             /* peer is set: the address the socket reached */
	uint64_t bytes_in, bytes_out;
	sl_addr peer;              /* the first hop's (or the target's) address */
	uint16_t peer_port;
};

/*
 * Creates a stream on loop with no fd yet. Returns NULL when out of memory.
 * The caller holds the one reference; sl_stream_close() drops it.
 */
sl_stream *sl_stream_new(struct ev_loop *loop);

/*
 * Gives the stream a connected (or connecting) non-blocking socket. The
 * stream owns fd from now on and closes it. Returns 0 or SL_E_INVAL when a
 * socket is already attached.
 */
int sl_stream_attach_fd(sl_stream *s, int fd);

/*
 * Takes the fd back from a stream whose only layer is the socket (no TLS):
 * the caller owns it afterwards (splice tunnels). The stream stops watching
 * it. Returns the fd, or SL_E_INVAL when another layer is still on top.
 */
int sl_stream_detach_fd(sl_stream *s);

/*
 * Pushes layer l on top of the stack (l->below becomes the current top) and
 * starts its handshake: done is called once, from the loop or before this
 * returns, with 0 or the error. A layer whose handshake is done and which
 * does not stay (l->stays false) is unlinked and destroyed by the stream
 * before done is called. Only one handshake runs at a time: returns
 * SL_E_INVAL when one is running, 0 otherwise.
 */
int sl_stream_push(sl_stream *s, sl_layer *l, sl_stream_done_cb done, void *arg);

/* Sets the user callback for readiness and timeouts. */
void sl_stream_set_cb(sl_stream *s, sl_stream_cb cb, void *arg);

/* Sets the trace callback (NULL to stop tracing). */
void sl_stream_set_trace(sl_stream *s, sl_stream_trace_cb cb, void *arg);

/* Writes one trace line through the trace callback, if any (printf style). */
void sl_stream_tracef(sl_stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Sets what the user waits for (SL_WANT_READ and/or SL_WANT_WRITE; 0 to
 * pause). When reading is asked for and the top layer holds pending data,
 * the callback is scheduled at once.
 */
void sl_stream_want(sl_stream *s, unsigned want);

/* Arms the stream's one timer for ms milliseconds (0 disarms it). On expiry
 * the user callback gets SL_EV_TIMEOUT, or a running handshake fails with
 * the timeout error of its hop. */
void sl_stream_set_timeout(sl_stream *s, uint64_t ms);

/* Reads through the top layer: bytes, 0 at end of stream, -EAGAIN, or an
 * error (which is also recorded in s->err). */
ssize_t sl_stream_read(sl_stream *s, void *buf, size_t n);

/* Writes through the top layer: bytes accepted, -EAGAIN, or an error. */
ssize_t sl_stream_writev(sl_stream *s, const struct iovec *iov, int iovcnt);

/* Bytes the top layer holds that a read returns without touching the fd. */
size_t sl_stream_pending(const sl_stream *s);

/* True when the stream is usable for a request: attached, no handshake
 * running, no error, no end of stream seen. */
bool sl_stream_usable(const sl_stream *s);

/*
 * Records err as the stream's error at hop (the first error wins) and
 * returns it, so layers can write `return sl_stream_fail(s, hop, true, e)`.
 */
int sl_stream_fail(sl_stream *s, int hop, bool proxy, int err);

/*
 * Starts or continues a graceful close, without blocking: each layer from
 * the top sends its closing message (TLS close_notify), then the socket's
 * write side is shut. Returns 0 when done, SL_E_AGAIN when the caller should
 * call again on the next readiness (the stream waits for what the layer
 * needs), or an error. The stream stays open for reading the peer's rest.
 */
int sl_stream_shutdown(sl_stream *s);

/*
 * Closes the stream now: destroys every layer, closes the fd, stops the
 * watchers, drops the caller's reference. No callback is called afterwards.
 * Safe from inside a callback.
 */
void sl_stream_close(sl_stream *s);

/* Reference counting for holders other than the creator (e.g. a callback
 * that might close the stream). sl_stream_unref() frees it at zero. */
void sl_stream_ref(sl_stream *s);
void sl_stream_unref(sl_stream *s);

/*
 * Helpers for layer implementations: read and write through the layer
 * below l, the way the layer's own read/writev would be called.
 */
ssize_t sl_layer_read_below(sl_layer *l, void *buf, size_t n);
ssize_t sl_layer_write_below(sl_layer *l, const void *buf, size_t n);
ssize_t sl_layer_writev_below(sl_layer *l, const struct iovec *iov, int iovcnt);

#endif
