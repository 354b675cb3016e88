/*
 * Unit tests of the input buffer and the output chain (src/core/buf.c,
 * buf_linux.c): growth up to the cap, which operations move the unread
 * bytes, coalescing and recycling of output chunks, partial advances,
 * release callbacks, watermarks, and real writes through socketpairs,
 * pipes and temporary files with sl_outq_write().
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"

/* ---- helpers ---- */

static int released[8];

static void count_release(void *ctx)
{
	released[(intptr_t)ctx]++;
}

/* Concatenates what the queue's memory head would send, without sending. */
static size_t iov_text(const sl_outq *q, char *out, size_t max)
{
	struct iovec iov[64];
	size_t cnt = sl_outq_iov(q, iov, 64, NULL), len = 0;
	for (size_t i = 0; i < cnt; i++) {
		cr_assert_leq(len + iov[i].iov_len, max);
		memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	return len;
}

/* A temporary file holding n bytes of a known pattern, unlinked at once. */
static int temp_file(size_t n)
{
	char path[] = "/tmp/sl_test_buf_XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	char blk[4096];
	for (size_t off = 0; off < n;) {
		size_t k = n - off < sizeof blk ? n - off : sizeof blk;
		for (size_t i = 0; i < k; i++)
			blk[i] = (char)('a' + (off + i) % 26);
		cr_assert_eq(write(fd, blk, k), (ssize_t)k);
		off += k;
	}
	return fd;
}

static char pattern_at(size_t i)
{
	return (char)('a' + i % 26);
}

static size_t read_all(int fd, char *out, size_t want)
{
	size_t got = 0;
	while (got < want) {
		ssize_t r = read(fd, out + got, want - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* ---- sl_buf ---- */

Test(buf, init_allocates_nothing)
{
	sl_buf b;
	cr_assert_eq(sl_buf_init(&b, 64, 1024), 0);
	cr_assert_null(b.mem);
	cr_assert_eq(sl_buf_len(&b), 0);
	cr_assert_null(sl_buf_data(&b));
	cr_assert_eq(b.magic, SL_BUF_MAGIC);
	sl_buf_free(&b);
}

Test(buf, init_rejects_zero_cap)
{
	sl_buf b;
	cr_assert_eq(sl_buf_init(&b, 64, 0), SL_E_INVAL);
}

Test(buf, initial_clamped_to_cap)
{
	sl_buf b;
	sl_buf_init(&b, 4096, 100);
	cr_assert_eq(sl_buf_append(&b, "x", 1), 0);
	cr_assert_eq(b.size, 100);
	sl_buf_free(&b);
}

Test(buf, append_then_read)
{
	sl_buf b;
	sl_buf_init(&b, 16, 1024);
	cr_assert_eq(sl_buf_append(&b, "hello ", 6), 0);
	cr_assert_eq(sl_buf_append(&b, "world", 5), 0);
	cr_assert_eq(sl_buf_len(&b), 11);
	cr_assert(sl_slice_eq_cstr(sl_buf_slice(&b), "hello world"));
	sl_buf_free(&b);
}

Test(buf, grows_geometrically)
{
	sl_buf b;
	char blk[40];
	memset(blk, 'z', sizeof blk);
	sl_buf_init(&b, 16, 1024);
	cr_assert_eq(sl_buf_append(&b, blk, 10), 0);
	cr_assert_eq(b.size, 16);
	cr_assert_eq(sl_buf_append(&b, blk, 10), 0);
	cr_assert_eq(b.size, 32);
	cr_assert_eq(sl_buf_append(&b, blk, 40), 0);
	cr_assert_eq(b.size, 64);
	cr_assert_eq(sl_buf_len(&b), 60);
	sl_buf_free(&b);
}

Test(buf, growth_stops_at_cap_then_limit)
{
	sl_buf b;
	char blk[100];
	memset(blk, 'q', sizeof blk);
	sl_buf_init(&b, 16, 150);
	cr_assert_eq(sl_buf_append(&b, blk, 100), 0);
	cr_assert_eq(sl_buf_append(&b, blk, 50), 0);
	cr_assert_eq(b.size, 150);
	cr_assert_eq(sl_buf_len(&b), 150);
	cr_assert_eq(sl_buf_append(&b, blk, 1), SL_E_LIMIT);
	cr_assert_eq(sl_buf_len(&b), 150, "a failed append must not change the buffer");
	sl_buf_free(&b);
}

Test(buf, limit_counts_unread_bytes_only)
{
	sl_buf b;
	char blk[64];
	memset(blk, 'k', sizeof blk);
	sl_buf_init(&b, 64, 64);
	cr_assert_eq(sl_buf_append(&b, blk, 64), 0);
	sl_buf_consume(&b, 32);
	cr_assert_eq(sl_buf_append(&b, blk, 32), 0, "consumed room is usable again");
	cr_assert_eq(sl_buf_append(&b, blk, 1), SL_E_LIMIT);
	sl_buf_free(&b);
}

Test(buf, space_limit_when_full)
{
	sl_buf b;
	char *p;
	size_t len;
	sl_buf_init(&b, 32, 32);
	cr_assert_eq(sl_buf_append(&b, "0123456789abcdef0123456789abcdef", 32), 0);
	cr_assert_eq(sl_buf_space(&b, 1, &p, &len), SL_E_LIMIT);
	cr_assert_eq(sl_buf_space(&b, 0, &p, &len), SL_E_LIMIT);
	sl_buf_free(&b);
}

Test(buf, space_and_commit_with_read)
{
	sl_buf b;
	int pfd[2];
	char *p;
	size_t len;
	cr_assert_eq(pipe(pfd), 0);
	cr_assert_eq(write(pfd[1], "GET / HTTP/1.1\r\n", 16), 16);
	sl_buf_init(&b, 64, 4096);
	cr_assert_eq(sl_buf_space(&b, 16, &p, &len), 0);
	cr_assert_geq(len, 16);
	ssize_t r = read(pfd[0], p, len);
	cr_assert_eq(r, 16);
	sl_buf_commit(&b, (size_t)r);
	cr_assert(sl_slice_eq_cstr(sl_buf_slice(&b), "GET / HTTP/1.1\r\n"));
	close(pfd[0]);
	close(pfd[1]);
	sl_buf_free(&b);
}

Test(buf, space_gives_whole_tail)
{
	sl_buf b;
	char *p;
	size_t len;
	sl_buf_init(&b, 128, 1024);
	sl_buf_append(&b, "abc", 3);
	cr_assert_eq(sl_buf_space(&b, 0, &p, &len), 0);
	cr_assert_eq(len, 125);
	cr_assert_eq(p, b.mem + 3);
	sl_buf_commit(&b, 0);
	cr_assert_eq(sl_buf_len(&b), 3);
	sl_buf_free(&b);
}

Test(buf, consume_does_not_move)
{
	sl_buf b;
	sl_buf_init(&b, 64, 1024);
	sl_buf_append(&b, "Host: example\r\n", 15);
	const char *val = sl_buf_data(&b) + 6;
	sl_buf_consume(&b, 4);
	cr_assert_eq(sl_buf_moves(&b), 0);
	cr_assert_eq(sl_buf_data(&b) + 2, val);
	cr_assert(sl_slice_eq_cstr(sl_slice_make(val, 7), "example"));
	sl_buf_free(&b);
}

Test(buf, append_within_capacity_does_not_move)
{
	sl_buf b;
	sl_buf_init(&b, 64, 1024);
	sl_buf_append(&b, "abcdef", 6);
	sl_buf_consume(&b, 2);
	const char *d = sl_buf_data(&b);
	cr_assert_eq(sl_buf_append(&b, "ghij", 4), 0);
	cr_assert_eq(sl_buf_data(&b), d);
	cr_assert_eq(sl_buf_moves(&b), 0);
	cr_assert(sl_slice_eq_cstr(sl_buf_slice(&b), "cdefghij"));
	sl_buf_free(&b);
}

Test(buf, consume_all_rewinds)
{
	sl_buf b;
	sl_buf_init(&b, 64, 1024);
	sl_buf_append(&b, "abcdef", 6);
	sl_buf_consume(&b, 6);
	cr_assert_eq(b.start, 0);
	cr_assert_eq(b.end, 0);
	cr_assert_eq(sl_buf_tailroom(&b), 64);
	cr_assert_eq(sl_buf_moves(&b), 0);
	sl_buf_free(&b);
}

Test(buf, compacts_instead_of_growing)
{
	sl_buf b;
	char blk[60];
	for (int i = 0; i < 60; i++)
		blk[i] = (char)('A' + i % 26);
	sl_buf_init(&b, 64, 1024);
	sl_buf_append(&b, blk, 60);
	sl_buf_consume(&b, 50);
	cr_assert_eq(sl_buf_append(&b, "0123456789012345678901234567890", 30), 0);
	cr_assert_eq(b.size, 64, "compaction should have made room");
	cr_assert_eq(sl_buf_moves(&b), 1);
	cr_assert_eq(sl_buf_len(&b), 40);
	cr_assert_eq(memcmp(sl_buf_data(&b), blk + 50, 10), 0);
	cr_assert_eq(memcmp(sl_buf_data(&b) + 10, "012345678901234567890123456789", 30), 0);
	sl_buf_free(&b);
}

Test(buf, grow_preserves_unread_bytes)
{
	sl_buf b;
	char big[300];
	for (int i = 0; i < 300; i++)
		big[i] = (char)i;
	sl_buf_init(&b, 32, 4096);
	sl_buf_append(&b, big, 30);
	sl_buf_consume(&b, 7);
	cr_assert_eq(sl_buf_append(&b, big + 30, 270), 0);
	cr_assert_eq(sl_buf_len(&b), 293);
	cr_assert_eq(memcmp(sl_buf_data(&b), big + 7, 293), 0);
	cr_assert_eq(b.start, 0);
	cr_assert_geq(sl_buf_moves(&b), 1);
	sl_buf_free(&b);
}

Test(buf, explicit_compact)
{
	sl_buf b;
	sl_buf_init(&b, 64, 1024);
	sl_buf_append(&b, "xxxxpayload", 11);
	sl_buf_consume(&b, 4);
	sl_buf_compact(&b);
	cr_assert_eq(b.start, 0);
	cr_assert_eq(sl_buf_data(&b), b.mem);
	cr_assert(sl_slice_eq_cstr(sl_buf_slice(&b), "payload"));
	cr_assert_eq(sl_buf_moves(&b), 1);
	sl_buf_compact(&b);
	cr_assert_eq(sl_buf_moves(&b), 1, "compacting compacted data moves nothing");
	sl_buf_free(&b);
}

Test(buf, reset_keeps_allocation)
{
	sl_buf b;
	sl_buf_init(&b, 64, 1024);
	sl_buf_append(&b, "abc", 3);
	char *mem = b.mem;
	sl_buf_reset(&b);
	cr_assert_eq(sl_buf_len(&b), 0);
	cr_assert_eq(b.mem, mem);
	cr_assert_eq(b.size, 64);
	sl_buf_free(&b);
}

Test(buf, release_only_when_empty)
{
	sl_buf b;
	sl_buf_init(&b, 64, 1024);
	sl_buf_append(&b, "abc", 3);
	cr_assert_eq(sl_buf_release(&b), SL_E_INVAL);
	cr_assert_not_null(b.mem);
	sl_buf_consume(&b, 3);
	cr_assert_eq(sl_buf_release(&b), 0);
	cr_assert_null(b.mem);
	cr_assert_eq(sl_buf_append(&b, "again", 5), 0);
	cr_assert(sl_slice_eq_cstr(sl_buf_slice(&b), "again"));
	sl_buf_free(&b);
}

Test(buf, reserve_guarantees_tailroom)
{
	sl_buf b;
	sl_buf_init(&b, 16, 1024);
	cr_assert_eq(sl_buf_reserve(&b, 100), 0);
	cr_assert_geq(sl_buf_tailroom(&b), 100);
	cr_assert_eq(b.size, 128);
	cr_assert_eq(sl_buf_reserve(&b, 1025), SL_E_LIMIT);
	sl_buf_free(&b);
}

Test(buf, free_scrubs_magic)
{
	sl_buf b;
	sl_buf_init(&b, 16, 1024);
	sl_buf_append(&b, "abc", 3);
	sl_buf_free(&b);
	cr_assert_eq(b.magic, 0);
	cr_assert_null(b.mem);
}

/* ---- sl_outq ---- */

Test(buf, outq_small_pushes_coalesce)
{
	sl_outq q;
	char out[256];
	sl_outq_init(&q, 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(sl_outq_push(&q, "0123456789", 10), 0);
	cr_assert_eq(q.nsegs, 1);
	cr_assert_eq(sl_outq_pending(&q), 100);
	size_t n = iov_text(&q, out, sizeof out);
	cr_assert_eq(n, 100);
	cr_assert_eq(memcmp(out + 90, "0123456789", 10), 0);
	sl_outq_free(&q);
}

Test(buf, outq_push_spills_into_next_chunk)
{
	sl_outq q;
	char src[100], out[128];
	for (int i = 0; i < 100; i++)
		src[i] = (char)i;
	sl_outq_init(&q, 64);
	sl_outq_push(&q, src, 50);
	sl_outq_push(&q, src + 50, 50);
	cr_assert_eq(q.nsegs, 2);
	struct iovec iov[4];
	cr_assert_eq(sl_outq_iov(&q, iov, 4, NULL), 2);
	cr_assert_eq(iov[0].iov_len, 64);
	cr_assert_eq(iov[1].iov_len, 36);
	cr_assert_eq(iov_text(&q, out, sizeof out), 100);
	cr_assert_eq(memcmp(out, src, 100), 0);
	sl_outq_free(&q);
}

Test(buf, outq_large_push_is_one_segment)
{
	sl_outq q;
	static char src[10000], out[10000];
	for (size_t i = 0; i < sizeof src; i++)
		src[i] = pattern_at(i);
	sl_outq_init(&q, 64);
	cr_assert_eq(sl_outq_push(&q, src, sizeof src), 0);
	cr_assert_eq(q.nsegs, 1);
	cr_assert_eq(iov_text(&q, out, sizeof out), sizeof src);
	cr_assert_eq(memcmp(out, src, sizeof src), 0);
	/* The oversized chunk is full: a small push opens a standard one. */
	sl_outq_push(&q, "x", 1);
	cr_assert_eq(q.nsegs, 2);
	sl_outq_free(&q);
}

Test(buf, outq_ref_is_not_copied)
{
	sl_outq q;
	static const char body[] = "referenced body";
	struct iovec iov[4];
	sl_outq_init(&q, 0);
	sl_outq_push(&q, "head:", 5);
	cr_assert_eq(sl_outq_push_ref(&q, body, sizeof body - 1, NULL, NULL), 0);
	sl_outq_push(&q, ":tail", 5);
	cr_assert_eq(sl_outq_iov(&q, iov, 4, NULL), 3);
	cr_assert_eq(iov[1].iov_base, (void *)body);
	cr_assert_eq(q.nsegs, 3, "a push after a reference must not join the chunk before it");
	sl_outq_free(&q);
}

Test(buf, outq_iov_respects_max)
{
	sl_outq q;
	struct iovec iov[2];
	static const char a[] = "aa", b[] = "bb", c[] = "cc";
	sl_outq_init(&q, 0);
	sl_outq_push_ref(&q, a, 2, NULL, NULL);
	sl_outq_push_ref(&q, b, 2, NULL, NULL);
	sl_outq_push_ref(&q, c, 2, NULL, NULL);
	cr_assert_eq(sl_outq_iov(&q, iov, 2, NULL), 2);
	cr_assert_eq(iov[0].iov_base, (void *)a);
	cr_assert_eq(iov[1].iov_base, (void *)b);
	sl_outq_free(&q);
}

Test(buf, outq_partial_advance_across_segments)
{
	sl_outq q;
	char out[64];
	static const char mid[] = "MIDDLE";
	sl_outq_init(&q, 8);
	sl_outq_push(&q, "01234567", 8);
	sl_outq_push_ref(&q, mid, 6, NULL, NULL);
	sl_outq_push(&q, "abcdefgh", 8);
	cr_assert_eq(sl_outq_pending(&q), 22);
	sl_outq_advance(&q, 5);
	cr_assert_eq(sl_outq_pending(&q), 17);
	size_t n = iov_text(&q, out, sizeof out);
	cr_assert_eq(n, 17);
	cr_assert_eq(memcmp(out, "567MIDDLEabcdefgh", 17), 0);
	sl_outq_advance(&q, 7);   /* 3 of the chunk, 4 of the reference */
	cr_assert_eq(q.nsegs, 2);
	n = iov_text(&q, out, sizeof out);
	cr_assert_eq(memcmp(out, "LEabcdefgh", n), 0);
	sl_outq_advance(&q, 10);
	cr_assert(sl_outq_empty(&q));
	cr_assert_eq(sl_outq_pending(&q), 0);
	sl_outq_free(&q);
}

Test(buf, outq_release_called_once_when_sent)
{
	sl_outq q;
	static const char body[] = "0123456789";
	memset(released, 0, sizeof released);
	sl_outq_init(&q, 0);
	sl_outq_push_ref(&q, body, 10, count_release, (void *)(intptr_t)1);
	sl_outq_advance(&q, 9);
	cr_assert_eq(released[1], 0, "released before the last byte was sent");
	sl_outq_advance(&q, 1);
	cr_assert_eq(released[1], 1);
	sl_outq_clear(&q);
	sl_outq_free(&q);
	cr_assert_eq(released[1], 1);
}

Test(buf, outq_release_called_once_on_clear)
{
	sl_outq q;
	static const char body[] = "0123456789";
	memset(released, 0, sizeof released);
	sl_outq_init(&q, 0);
	sl_outq_push_ref(&q, body, 10, count_release, (void *)(intptr_t)2);
	sl_outq_push_ref(&q, body, 10, count_release, (void *)(intptr_t)3);
	sl_outq_advance(&q, 4);
	sl_outq_clear(&q);
	cr_assert_eq(released[2], 1);
	cr_assert_eq(released[3], 1);
	cr_assert_eq(sl_outq_pending(&q), 0);
	sl_outq_free(&q);
	cr_assert_eq(released[2], 1);
	cr_assert_eq(released[3], 1);
}

Test(buf, outq_empty_ref_released_at_once)
{
	sl_outq q;
	memset(released, 0, sizeof released);
	sl_outq_init(&q, 0);
	cr_assert_eq(sl_outq_push_ref(&q, "", 0, count_release, (void *)(intptr_t)4), 0);
	cr_assert_eq(released[4], 1);
	cr_assert(sl_outq_empty(&q));
	sl_outq_free(&q);
	cr_assert_eq(released[4], 1);
}

Test(buf, outq_chunks_are_recycled)
{
	sl_outq q;
	struct iovec iov[2];
	sl_outq_init(&q, 64);
	sl_outq_push(&q, "first", 5);
	sl_outq_iov(&q, iov, 2, NULL);
	void *storage = iov[0].iov_base;
	sl_outq_advance(&q, 5);
	cr_assert_eq(q.nfree_chunks, 1);
	sl_outq_push(&q, "second", 6);
	cr_assert_eq(q.nfree_chunks, 0);
	sl_outq_iov(&q, iov, 2, NULL);
	cr_assert_eq(iov[0].iov_base, storage, "the spent chunk should be reused");
	sl_outq_advance(&q, 6);
	sl_outq_trim(&q);
	cr_assert_eq(q.nfree_chunks, 0);
	sl_outq_free(&q);
}

Test(buf, outq_free_list_is_bounded)
{
	sl_outq q;
	char blk[64];
	memset(blk, 'c', sizeof blk);
	sl_outq_init(&q, 64);
	for (int i = 0; i < 3 * SL_OUTQ_FREE_CHUNKS; i++)
		sl_outq_push(&q, blk, 64);
	cr_assert_eq(q.nsegs, 3 * SL_OUTQ_FREE_CHUNKS);
	sl_outq_clear(&q);
	cr_assert_eq(q.nfree_chunks, SL_OUTQ_FREE_CHUNKS);
	sl_outq_free(&q);
	cr_assert_eq(q.magic, 0);
}

Test(buf, outq_iov_stops_at_file)
{
	sl_outq q;
	struct iovec iov[8];
	bool is_file = true;
	int fd = temp_file(100);
	int ffd;
	off_t off;
	uint64_t len;
	sl_outq_init(&q, 0);
	sl_outq_push(&q, "header", 6);
	sl_outq_push_file(&q, fd, 10, 50, true);
	sl_outq_push(&q, "trailer", 7);
	cr_assert_eq(q.nsegs, 3, "a push after a file must not join the chunk before it");
	cr_assert_eq(sl_outq_pending(&q), 63);
	cr_assert_eq(sl_outq_iov(&q, iov, 8, &is_file), 1);
	cr_assert_not(is_file);
	cr_assert_not(sl_outq_head_file(&q, &ffd, &off, &len));
	sl_outq_advance(&q, 6);
	cr_assert_eq(sl_outq_iov(&q, iov, 8, &is_file), 0);
	cr_assert(is_file);
	cr_assert(sl_outq_head_file(&q, &ffd, &off, &len));
	cr_assert_eq(ffd, fd);
	cr_assert_eq(off, 10);
	cr_assert_eq(len, 50);
	sl_outq_advance(&q, 20);
	cr_assert(sl_outq_head_file(&q, &ffd, &off, &len));
	cr_assert_eq(off, 30);
	cr_assert_eq(len, 30);
	sl_outq_free(&q);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "close-on-done fd should be closed");
}

Test(buf, outq_file_without_close_stays_open)
{
	sl_outq q;
	int fd = temp_file(10);
	sl_outq_init(&q, 0);
	sl_outq_push_file(&q, fd, 0, 10, false);
	sl_outq_advance(&q, 10);
	cr_assert(sl_outq_empty(&q));
	cr_assert_neq(fcntl(fd, F_GETFD), -1);
	close(fd);
	sl_outq_free(&q);
}

Test(buf, outq_push_file_rejects_bad_args)
{
	sl_outq q;
	sl_outq_init(&q, 0);
	cr_assert_eq(sl_outq_push_file(&q, -1, 0, 10, false), SL_E_INVAL);
	cr_assert_eq(sl_outq_push_file(&q, 0, -5, 10, false), SL_E_INVAL);
	cr_assert(sl_outq_empty(&q));
	sl_outq_free(&q);
}

Test(buf, outq_watermarks)
{
	sl_outq q;
	static char blk[100];
	sl_outq_init(&q, 0);
	cr_assert_eq(sl_outq_set_watermarks(&q, 200, 100), SL_E_INVAL);
	cr_assert_eq(sl_outq_set_watermarks(&q, 100, 300), 0);
	cr_assert(sl_outq_below_low(&q));
	cr_assert_not(sl_outq_above_high(&q));
	sl_outq_push(&q, blk, 100);
	sl_outq_push(&q, blk, 100);
	cr_assert_not(sl_outq_below_low(&q));
	cr_assert_not(sl_outq_above_high(&q));
	sl_outq_push(&q, blk, 100);
	cr_assert(sl_outq_above_high(&q));
	sl_outq_advance(&q, 150);
	cr_assert_not(sl_outq_above_high(&q));
	cr_assert_not(sl_outq_below_low(&q));
	sl_outq_advance(&q, 50);
	cr_assert(sl_outq_below_low(&q));
	sl_outq_free(&q);
}

Test(buf, outq_push_file_ref_releases_once_when_sent)
{
	sl_outq q;
	int sv[2], fd = temp_file(100);
	char out[128];
	memset(released, 0, sizeof released);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sl_outq_init(&q, 0);
	sl_outq_push(&q, "<", 1);
	cr_assert_eq(sl_outq_push_file_ref(&q, fd, 10, 20, count_release, (void *)(intptr_t)3), 0);
	sl_outq_push(&q, ">", 1);
	cr_assert_eq(sl_outq_pending(&q), 22);
	cr_assert_eq(released[3], 0);
	cr_assert_eq(sl_outq_write(&q, sv[0]), 22);
	cr_assert(sl_outq_empty(&q));
	cr_assert_eq(released[3], 1);
	cr_assert_eq(read(sv[1], out, sizeof out), 22);
	cr_assert_eq(out[0], '<');
	cr_assert_eq(out[1], 'a' + 10 % 26);
	cr_assert_eq(out[21], '>');
	/* The queue never closes the caller's file. */
	cr_assert_geq(fcntl(fd, F_GETFD), 0);
	sl_outq_free(&q);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

Test(buf, outq_push_file_ref_released_on_clear_and_empty)
{
	sl_outq q;
	int fd = temp_file(10);
	memset(released, 0, sizeof released);
	sl_outq_init(&q, 0);
	cr_assert_eq(sl_outq_push_file_ref(&q, fd, 0, 0, count_release, (void *)(intptr_t)1), 0);
	cr_assert_eq(released[1], 1);
	cr_assert(sl_outq_empty(&q));
	cr_assert_eq(sl_outq_push_file_ref(&q, fd, 0, 10, count_release, (void *)(intptr_t)2), 0);
	cr_assert_eq(sl_outq_push_file_ref(&q, -1, 0, 10, count_release, (void *)(intptr_t)4),
		     SL_E_INVAL);
	cr_assert_eq(released[4], 0);
	sl_outq_advance(&q, 4);
	cr_assert_eq(released[2], 0);
	sl_outq_clear(&q);
	cr_assert_eq(released[2], 1);
	sl_outq_free(&q);
	cr_assert_geq(fcntl(fd, F_GETFD), 0);
	close(fd);
}

Test(buf, outq_watermarks_count_files)
{
	sl_outq q;
	int fd = temp_file(10);
	sl_outq_init(&q, 0);
	sl_outq_set_watermarks(&q, 10, 1000);
	sl_outq_push_file(&q, fd, 0, 5000, true);
	cr_assert(sl_outq_above_high(&q));
	sl_outq_free(&q);
}

/* ---- sl_outq_write ---- */

Test(buf, write_memory_through_socketpair)
{
	sl_outq q;
	int sv[2];
	char out[64];
	static const char ref[] = " world";
	memset(released, 0, sizeof released);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sl_outq_init(&q, 0);
	sl_outq_push(&q, "hello", 5);
	sl_outq_push_ref(&q, ref, 6, count_release, (void *)(intptr_t)5);
	sl_outq_push(&q, "!\n", 2);
	cr_assert_eq(sl_outq_write(&q, sv[0]), 13);
	cr_assert(sl_outq_empty(&q));
	cr_assert_eq(released[5], 1);
	cr_assert_eq(read_all(sv[1], out, 13), 13);
	cr_assert_eq(memcmp(out, "hello world!\n", 13), 0);
	cr_assert_eq(sl_outq_write(&q, sv[0]), 0, "an empty queue writes nothing");
	sl_outq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

Test(buf, write_file_and_memory_through_socketpair)
{
	sl_outq q;
	int sv[2];
	enum { FSZ = 20000 };
	static char out[FSZ + 64];
	int fd = temp_file(FSZ);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	sl_outq_init(&q, 0);
	sl_outq_push(&q, "HEAD\n", 5);
	sl_outq_push_file(&q, fd, 100, FSZ - 100, true);
	sl_outq_push(&q, "\nTAIL", 5);
	size_t total = FSZ - 100 + 10;
	size_t sent = 0;
	while (!sl_outq_empty(&q)) {
		ssize_t r = sl_outq_write(&q, sv[0]);
		cr_assert_gt(r, 0, "write failed: %s", sl_strerror((int)r));
		sent += (size_t)r;
	}
	cr_assert_eq(sent, total);
	cr_assert_eq(read_all(sv[1], out, total), total);
	cr_assert_eq(memcmp(out, "HEAD\n", 5), 0);
	for (size_t i = 0; i < FSZ - 100; i++)
		cr_assert_eq(out[5 + i], pattern_at(100 + i), "byte %zu differs", i);
	cr_assert_eq(memcmp(out + 5 + FSZ - 100, "\nTAIL", 5), 0);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "the file should be closed once sent");
	sl_outq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

Test(buf, write_file_through_pipe)
{
	sl_outq q;
	int pfd[2];
	char out[3000];
	int fd = temp_file(3000);
	cr_assert_eq(pipe(pfd), 0);
	sl_outq_init(&q, 0);
	sl_outq_push_file(&q, fd, 0, 3000, false);
	cr_assert_eq(sl_outq_write(&q, pfd[1]), 3000);
	cr_assert_eq(read_all(pfd[0], out, 3000), 3000);
	for (size_t i = 0; i < 3000; i++)
		cr_assert_eq(out[i], pattern_at(i));
	sl_outq_free(&q);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
}

Test(buf, write_returns_eagain_when_full)
{
	sl_outq q;
	int sv[2];
	static char blk[65536];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	sl_outq_init(&q, 0);
	uint64_t sent = 0;
	ssize_t r;
	/* Fill the socket until it refuses more. */
	for (int i = 0; i < 1000; i++) {
		if (sl_outq_pending(&q) < sizeof blk)
			sl_outq_push(&q, blk, sizeof blk);
		r = sl_outq_write(&q, sv[0]);
		if (r < 0)
			break;
		sent += (uint64_t)r;
	}
	cr_assert_eq(r, -EAGAIN);
	cr_assert_gt(sent, 0);
	cr_assert_gt(sl_outq_pending(&q), 0, "unsent bytes stay queued");
	sl_outq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

Test(buf, write_short_file_is_eof)
{
	sl_outq q;
	int sv[2];
	char out[16];
	int fd = temp_file(10);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sl_outq_init(&q, 0);
	sl_outq_push_file(&q, fd, 0, 20, true);
	cr_assert_eq(sl_outq_write(&q, sv[0]), 10);
	cr_assert_eq(sl_outq_write(&q, sv[0]), SL_E_EOF);
	cr_assert_eq(sl_outq_pending(&q), 10);
	cr_assert_eq(read_all(sv[1], out, 10), 10);
	sl_outq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

Test(buf, write_caps_bytes_per_call)
{
	sl_outq q;
	char path[] = "/tmp/sl_test_out_XXXXXX";
	int out = mkstemp(path);
	cr_assert_geq(out, 0);
	unlink(path);
	int fd = temp_file(3 * SL_OUTQ_WRITE_MAX);
	sl_outq_init(&q, 0);
	sl_outq_push_file(&q, fd, 0, 3 * SL_OUTQ_WRITE_MAX, true);
	cr_assert_eq(sl_outq_write(&q, out), (ssize_t)SL_OUTQ_WRITE_MAX);
	cr_assert_eq(sl_outq_pending(&q), 2 * SL_OUTQ_WRITE_MAX);
	cr_assert_eq(sl_outq_write(&q, out), (ssize_t)SL_OUTQ_WRITE_MAX);
	cr_assert_eq(sl_outq_write(&q, out), (ssize_t)SL_OUTQ_WRITE_MAX);
	cr_assert(sl_outq_empty(&q));
	char b[4];
	cr_assert_eq(pread(out, b, 4, (off_t)(2 * SL_OUTQ_WRITE_MAX)), 4);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(b[i], pattern_at(2 * SL_OUTQ_WRITE_MAX + i));
	sl_outq_free(&q);
	close(out);
}

Test(buf, write_error_is_negative_errno)
{
	sl_outq q;
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	sl_outq_init(&q, 0);
	sl_outq_push(&q, "data", 4);
	cr_assert_eq(sl_outq_write(&q, pfd[0]), -EBADF, "the read end cannot be written");
	cr_assert_eq(sl_outq_pending(&q), 4);
	sl_outq_free(&q);
	close(pfd[0]);
	close(pfd[1]);
}
