/*
 * Unit tests of the idle connection cache alone, over socketpairs: the most
 * recent stream of a key comes out first, keys stay apart, a peer's close
 * or stray bytes evict at once, caps evict the oldest, the idle timeout
 * closes, and an unusable stream is refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/conn_cache.h"
#include "client_util.h"
#include "core/err.h"

static sl_stream *pair(struct ev_loop *loop, int *peer)
{
	int sv[2];
	sl_stream *s = sl_stream_new(loop);

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	cr_assert_eq(sl_stream_attach_fd(s, sv[0]), 0);
	*peer = sv[1];
	return s;
}

static bool pred_count0(void *arg)
{
	sl_conn_cache_stats st;

	sl_conn_cache_get_stats(arg, &st);
	return st.idle == 0;
}

Test(client_conn_cache, most_recent_first_and_keys_apart)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_conn_cache *c = sl_conn_cache_new(loop, NULL);
	int p1, p2, p3;
	sl_stream *a = pair(loop, &p1), *b = pair(loop, &p2), *x = pair(loop, &p3);
	sl_conn_cache_stats st;

	cr_assert_eq(sl_conn_cache_put(c, "k1", 2, a), 0);
	cr_assert_eq(sl_conn_cache_put(c, "k1", 2, b), 0);
	cr_assert_eq(sl_conn_cache_put(c, "k2", 2, x), 0);
	cr_assert_eq(sl_conn_cache_count(c, "k1", 2), 2);
	cr_assert_eq(sl_conn_cache_count(c, "k2", 2), 1);
	cr_assert_eq(sl_conn_cache_take(c, "k1", 2), b);
	cr_assert_eq(sl_conn_cache_take(c, "k1", 2), a);
	cr_assert_null(sl_conn_cache_take(c, "k1", 2));
	cr_assert_null(sl_conn_cache_take(c, "k3", 2));
	sl_conn_cache_get_stats(c, &st);
	cr_assert_eq(st.idle, 1);
	cr_assert_eq(st.parked, 3);
	cr_assert_eq(st.taken, 2);
	sl_stream_close(a);
	sl_stream_close(b);
	sl_conn_cache_free(c);
	close(p1);
	close(p2);
	close(p3);
	ev_loop_destroy(loop);
}

Test(client_conn_cache, peer_close_and_stray_bytes_evict)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_conn_cache *c = sl_conn_cache_new(loop, NULL);
	int p1, p2;
	sl_stream *a = pair(loop, &p1), *b = pair(loop, &p2);
	sl_conn_cache_stats st;

	cr_assert_eq(sl_conn_cache_put(c, "k", 1, a), 0);
	cr_assert_eq(sl_conn_cache_put(c, "k", 1, b), 0);
	close(p1);
	cr_assert_eq(write(p2, "HTTP/1.1 408 Timeout\r\n\r\n", 24), 24);
	cr_assert(run_until(loop, pred_count0, c, 5));
	sl_conn_cache_get_stats(c, &st);
	cr_assert_eq(st.evicted_closed, 2);
	cr_assert_null(sl_conn_cache_take(c, "k", 1));
	sl_conn_cache_free(c);
	close(p2);
	ev_loop_destroy(loop);
}

Test(client_conn_cache, caps_evict_the_oldest)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_conn_cache_opts o = {.max_total = 3, .max_per_key = 2};
	sl_conn_cache *c = sl_conn_cache_new(loop, &o);
	int p[5];
	sl_stream *s[5];
	sl_conn_cache_stats st;

	for (int i = 0; i < 5; i++)
		s[i] = pair(loop, &p[i]);
	cr_assert_eq(sl_conn_cache_put(c, "a", 1, s[0]), 0);
	cr_assert_eq(sl_conn_cache_put(c, "a", 1, s[1]), 0);
	cr_assert_eq(sl_conn_cache_put(c, "a", 1, s[2]), 0);   /* evicts s[0] */
	cr_assert_eq(sl_conn_cache_count(c, "a", 1), 2);
	cr_assert_eq(sl_conn_cache_put(c, "b", 1, s[3]), 0);
	cr_assert_eq(sl_conn_cache_put(c, "c", 1, s[4]), 0);   /* evicts s[1], the oldest */
	sl_conn_cache_get_stats(c, &st);
	cr_assert_eq(st.idle, 3);
	cr_assert_eq(st.evicted_limit, 2);
	cr_assert_eq(sl_conn_cache_take(c, "a", 1), s[2]);
	cr_assert_null(sl_conn_cache_take(c, "a", 1));
	sl_stream_close(s[2]);
	sl_conn_cache_free(c);
	for (int i = 0; i < 5; i++)
		close(p[i]);
	ev_loop_destroy(loop);
}

Test(client_conn_cache, idle_timeout_and_unusable_streams)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	sl_conn_cache_opts o = {.idle_timeout_ms = 30};
	sl_conn_cache *c = sl_conn_cache_new(loop, &o);
	int p1;
	sl_stream *a = pair(loop, &p1), *b = sl_stream_new(loop);
	sl_conn_cache_stats st;

	cr_assert_eq(sl_conn_cache_put(c, "k", 1, b), SL_E_INVAL, "no fd: closed, not parked");
	cr_assert_eq(sl_conn_cache_put(c, "k", 1, a), 0);
	cr_assert(run_until(loop, pred_count0, c, 5));
	sl_conn_cache_get_stats(c, &st);
	cr_assert_eq(st.evicted_timeout, 1);
	char byte;
	cr_assert_eq(read(p1, &byte, 1), 0, "the cache closed the stream");
	sl_conn_cache_free(c);
	close(p1);
	ev_loop_destroy(loop);
}
