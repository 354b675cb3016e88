/*
 * file: URLs, as QNetworkReplyFileImpl is Qt's: "file:///path" or
 * "file://localhost/path", percent-decoded, read from disk. The file is
 * opened from the loop, not inside sl_manager_send(), so a missing file is
 * an ordinary reply error through on_done (-ENOENT, -EACCES, -EISDIR: what
 * the proxy or the command-line client turn into 404 and 403), never a
 * failed send. The body is read in chunks of the manager's scratch size,
 * one chunk per loop iteration, so a huge file never blocks the loop in one
 * go and a paused reply simply stops being rescheduled. Only regular files
 * are served (a FIFO or a device could block or never end); only GET and
 * HEAD make sense.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/reply_internal.h"
#include "core/err.h"

static void close_fd(sl_reply *r)
{
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
}

static void fail(sl_reply *r, int err)
{
	close_fd(r);
	sl__reply_set_error(r, err, false, -1, SL_PHASE_LOCAL);
	sl__reply_finish(r, err);
}

/* Opens the file and delivers the head. Returns 0 or an error. */
static int open_file(sl_reply *r)
{
	struct stat st;
	int n, fd = open(r->head, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : SL_E_UNSUPPORTED;
	}
	r->fd = fd;
	r->left = (uint64_t)st.st_size;
	r->off = 0;
	n = snprintf(r->lbuf, sizeof r->lbuf, "%llu", (unsigned long long)r->left);
	r->lfields[0].name = SL_SLICE_LIT("Content-Type");
	r->lfields[0].value = SL_SLICE_LIT("application/octet-stream");
	r->lfields[1].name = SL_SLICE_LIT("Content-Length");
	r->lfields[1].value = sl_slice_make(r->lbuf, (size_t)n);

	sl_reply_head h = {
		.status = 200,
		.reason = SL_SLICE_LIT("OK"),
		.minor_version = 1,
		.fields = r->lfields,
		.nfields = 2,
		.framing = SL_BODY_LENGTH,
		.content_length = r->left,
	};
	r->head_done = true;
	r->status = 200;
	r->got_byte = true;
	r->t_first = ev_now(r->m->loop);
	sl__reply_emit_head(r, &h);
	if (r->meth == SL_METHOD_HEAD)
		r->left = 0;
	return 0;
}

static void file_task(sl__task *t)
{
	sl_reply *r = (sl_reply *)((char *)t - offsetof(sl_reply, task));
	int rc;

	sl_reply_ref(r);
	if (!r->head_done && (rc = open_file(r)) < 0) {
		fail(r, rc);
		goto out;
	}
	if (r->done || r->aborted || r->paused)
		goto out;
	if (r->left > 0) {
		size_t want = r->left < SL__SCRATCH_SIZE ? (size_t)r->left : SL__SCRATCH_SIZE;
		ssize_t k = pread(r->fd, r->m->scratch, want, r->off);

		if (k < 0 && errno == EINTR) {
			sl__task_post(r->m, &r->task);
			goto out;
		}
		if (k <= 0) {
			fail(r, k < 0 ? -errno : SL_E_EOF);   /* error, or the file shrank */
			goto out;
		}
		r->off += k;
		r->left -= (uint64_t)k;
		r->bytes_received += (uint64_t)k;
		sl__reply_emit_data(r, sl_slice_make(r->m->scratch, (size_t)k));
	}
	if (r->done || r->aborted)
		goto out;
	if (r->left == 0) {
		close_fd(r);
		sl__reply_finish(r, 0);
	} else if (!r->paused) {
		sl__task_post(r->m, &r->task);   /* one chunk per loop iteration */
	}
out:
	sl_reply_unref(r);
}

int sl__scheme_file_start(sl_reply *r)
{
	sl_slice path = r->url.path;
	size_t n;
	int rc;

	if (r->meth != SL_METHOD_GET && r->meth != SL_METHOD_HEAD)
		return SL_E_UNSUPPORTED;
	if (r->url.host.n && !sl_slice_case_eq_cstr(r->url.host, "localhost"))
		return SL_E_UNSUPPORTED;
	if (path.n == 0 || path.p[0] != '/')
		return SL_E_INVAL;
	if (path.n + 1 > r->head_cap) {
		char *h = realloc(r->head, path.n + 1);
		if (!h)
			return SL_E_NOMEM;
		r->head = h;
		r->head_cap = path.n + 1;
	}
	rc = sl_url_pct_decode(path.p, path.n, r->head);
	if (rc < 0)
		return rc;
	n = (size_t)rc;
	if (memchr(r->head, '\0', n))
		return SL_E_INVAL;   /* "%00" would cut the path short */
	r->head[n] = '\0';
	r->fd = -1;
	r->state = SL__R_LOCAL;
	sl__task_init(&r->task, file_task);
	sl__task_post(r->m, &r->task);
	return 0;
}

void sl__scheme_file_resume(sl_reply *r)
{
	if (!r->done)
		sl__task_post(r->m, &r->task);
}

void sl__scheme_file_cancel(sl_reply *r)
{
	if (r->m)
		sl__task_cancel(&r->task);
	close_fd(r);
}
