/*
 * The chunked transfer coding decoder (RFC 9112 section 7.1). Chunk-size
 * lines and their extensions go through a byte-at-a-time state machine, so
 * every byte of them is consumed as it arrives and a size line may be split
 * anywhere; chunk data is handed out as slices into the caller's buffer as
 * it comes, never copied. Trailer lines are the one place where a line must
 * be whole, because a trailer field is reported as slices: an incomplete one
 * is left unconsumed for the caller to present again, and d->scanned saves
 * re-checking its known-clean bytes. Byte offsets in errors count from the
 * first byte of the chunked body, so they do not depend on how the input
 * was split.
 */
#include "core/http_parse.h"

#include <string.h>

#include "core/err.h"
#include "core/http_parse_internal.h"

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

/*
 * Decoder states and their transitions (LF alone may stand for CRLF when
 * the decoder is lenient):
 *
 *   SIZE0 -hex-> SIZE -hex-> SIZE
 *   SIZE -CR-> SIZE_LF -LF-> DATA (size > 0) or TRAILER (size 0)
 *   SIZE -;-> EXT_NAME0          SIZE -SP-> SIZE_WS -;-> EXT_NAME0
 *   EXT_NAME0 -tchar-> EXT_NAME -=-> EXT_VAL0 -tchar-> EXT_TOKEN
 *                                    EXT_VAL0 -"-> EXT_QUOTED -"-> EXT_AFTER
 *   EXT_QUOTED -\-> EXT_QESC -byte-> EXT_QUOTED
 *   EXT_NAME, EXT_TOKEN, EXT_AFTER -;-> EXT_NAME0, -CR-> SIZE_LF,
 *       -SP-> EXT_NAME_WS or EXT_VAL_WS, which go on only with ";"
 *       (or "=" after a name): no whitespace before the line end
 *   DATA -size bytes-> DATA_CR -CR-> DATA_LF -LF-> SIZE0
 *   TRAILER -field line-> TRAILER -empty line-> DONE
 *
 * Any error moves to ERROR; DONE and ERROR stick.
 */
enum ch_state {
	CH_SIZE0,
	CH_SIZE,
	CH_SIZE_WS,
	CH_EXT_NAME0,
	CH_EXT_NAME,
	CH_EXT_NAME_WS,
	CH_EXT_VAL0,
	CH_EXT_TOKEN,
	CH_EXT_QUOTED,
	CH_EXT_QESC,
	CH_EXT_AFTER,
	CH_EXT_VAL_WS,
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER,
	CH_DONE,
	CH_ERROR,
};

static const char *const ch_names[] = {
	[CH_SIZE0] = "size",		[CH_SIZE] = "size",
	[CH_SIZE_WS] = "size-ws",	[CH_EXT_NAME0] = "ext-name",
	[CH_EXT_NAME] = "ext-name",	[CH_EXT_NAME_WS] = "ext-name-ws",
	[CH_EXT_VAL0] = "ext-value",	[CH_EXT_TOKEN] = "ext-value",
	[CH_EXT_QUOTED] = "ext-quoted", [CH_EXT_QESC] = "ext-quoted",
	[CH_EXT_AFTER] = "ext-end",	[CH_EXT_VAL_WS] = "ext-ws",
	[CH_SIZE_LF] = "size-lf",	[CH_DATA] = "data",
	[CH_DATA_CR] = "data-cr",	[CH_DATA_LF] = "data-lf",
	[CH_TRAILER] = "trailer",	[CH_DONE] = "done",
	[CH_ERROR] = "error",
};

/* Resets d for a new body; trailers share the header field-count limit. */
void sl_chunked_init(sl_chunked *d, const sl_http_limits *limits,
		     bool response)
{
	static const sl_http_limits defaults = SL_HTTP_LIMITS_DEFAULT;
	const sl_http_limits *l = limits ? limits : &defaults;

	memset(d, 0, sizeof *d);
	d->max_ext = l->max_chunk_ext;
	d->max_trailer = l->max_trailer_bytes;
	d->max_fields = l->max_fields;
	d->lenient = response && l->response_bare_lf;
	d->state = CH_SIZE0;
}

/* Returns a static name of the state, for logs. */
const char *sl_chunked_state_name(const sl_chunked *d)
{
	return d->state <= CH_ERROR ? ch_names[d->state] : "unknown";
}

static int ch_out(sl_chunked *d, size_t *used, size_t pos, int r)
{
	*used = pos;
	d->total += pos;
	return r;
}

static int ch_bad(sl_chunked *d, size_t *used, size_t pos, int code)
{
	d->state = CH_ERROR;
	d->err = code;
	d->err_off = (size_t)d->total + pos;
	*used = 0;
	return code;
}

/* Called with a complete size line behind us. */
static void ch_line_end(sl_chunked *d)
{
	d->ext_len = 0;
	d->scanned = 0;
	d->state = d->size ? CH_DATA : CH_TRAILER;
}

/*
 * One trailer line at b[ls]. A complete line is returned as a field (or
 * ends the section); an incomplete one stays unconsumed, with d->scanned
 * remembering how much of it is known clean.
 */
static int ch_trailer(sl_chunked *d, const char *b, size_t len, size_t ls,
		      size_t *used, sl_chunk_out *out)
{
	size_t room = d->max_trailer - d->trailer_bytes;
	size_t end = len - ls > room ? ls + room : len;
	size_t pos = ls + d->scanned, next, nx, at = 0;
	int r;
	char c;

	for (;;) {
		pos = sl__http_skip_plain(b, pos, end, len);
		if (pos >= end)
			goto more;
		c = b[pos];
		if (c != '\t')
			break;
		pos++;
	}
	if (c == '\r') {
		if (pos + 1 >= end)
			goto more;
		if (b[pos + 1] != '\n')
			return ch_bad(d, used, pos, SL_E_HTTP_BARE_CR);
		next = pos + 2;
	} else if (c == '\n' && d->lenient) {
		next = pos + 1;
	} else {
		return ch_bad(d, used, pos, c == '\n' ? SL_E_HTTP_BARE_LF
						      : SL_E_HTTP_CTL_CHAR);
	}
	if (pos == ls) {
		d->state = CH_DONE;
		return ch_out(d, used, next, SL_CHUNK_DONE);
	}
	if (d->ntrailers >= d->max_fields)
		return ch_bad(d, used, ls, SL_E_HTTP_TOO_MANY_FIELDS);
	r = sl__http_field_line(b, ls, next, len, d->lenient, d->ntrailers == 0,
				&out->trailer, &nx, &at);
	if (r)
		return ch_bad(d, used, at, r);
	d->trailer_bytes += next - ls;
	d->ntrailers++;
	d->scanned = 0;
	return ch_out(d, used, next, SL_CHUNK_TRAILER);
more:
	if (end < len)
		return ch_bad(d, used, end, SL_E_HTTP_TRAILER_TOO_LARGE);
	d->scanned = pos - ls;
	return ch_out(d, used, ls, SL_E_AGAIN);
}

/*
 * Runs the state machine over buf until it has data, a trailer field, the
 * end, an error, or no more bytes (see http_parse.h for the contract).
 */
int sl_chunked_decode(sl_chunked *d, const char *buf, size_t len,
		      size_t *used, sl_chunk_out *out)
{
	size_t pos = 0, n;
	uint8_t c;
	unsigned v;

	*used = 0;
	if (d->state == CH_DONE)
		return SL_CHUNK_DONE;
	if (d->state == CH_ERROR)
		return d->err;
	for (; pos < len; pos++) {
		c = (uint8_t)buf[pos];
		if (d->state >= CH_SIZE_WS && d->state <= CH_EXT_VAL_WS &&
		    c != '\r' && c != '\n' && ++d->ext_len > d->max_ext)
			return ch_bad(d, used, pos, SL_E_HTTP_CHUNK_EXT_TOO_LARGE);
		switch (d->state) {
		case CH_DATA:
			n = len - pos;
			if (n > d->size)
				n = (size_t)d->size;
			out->data = sl_slice_make(buf + pos, n);
			d->size -= n;
			if (!d->size)
				d->state = CH_DATA_CR;
			return ch_out(d, used, pos + n, SL_CHUNK_DATA);
		case CH_TRAILER:
			return ch_trailer(d, buf, len, pos, used, out);
		case CH_SIZE0:
		case CH_SIZE:
			if (sl__http_cls[c] & SL__C_HEX) {
				v = IS_DIGIT(c) ? c - '0' : (c | 0x20) - 'a' + 10;
				if (d->size > ((uint64_t)INT64_MAX - v) >> 4)
					return ch_bad(d, used, pos,
						      SL_E_HTTP_CHUNK_SIZE_OVERFLOW);
				d->size = d->size << 4 | v;
				d->state = CH_SIZE;
				break;
			}
			if (d->state == CH_SIZE0)
				return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_SIZE);
			if (c == ';' || c == ' ' || c == '\t') {
				if (++d->ext_len > d->max_ext)
					return ch_bad(d, used, pos,
						      SL_E_HTTP_CHUNK_EXT_TOO_LARGE);
				d->state = c == ';' ? CH_EXT_NAME0 : CH_SIZE_WS;
				break;
			}
			goto line_end;
		case CH_SIZE_WS:
			if (c == ';')
				d->state = CH_EXT_NAME0;
			else if (c != ' ' && c != '\t')
				return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_SIZE);
			break;
		case CH_EXT_NAME0:
		case CH_EXT_VAL0:
			if (c == ' ' || c == '\t')
				break;
			if (c == '"' && d->state == CH_EXT_VAL0) {
				d->state = CH_EXT_QUOTED;
				break;
			}
			if (!(sl__http_cls[c] & SL__C_TCHAR))
				return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_EXT);
			d->state = d->state == CH_EXT_NAME0 ? CH_EXT_NAME
							    : CH_EXT_TOKEN;
			break;
		case CH_EXT_NAME:
		case CH_EXT_TOKEN:
		case CH_EXT_AFTER:
			if ((sl__http_cls[c] & SL__C_TCHAR) && d->state != CH_EXT_AFTER)
				break;
			if (c == ';') {
				d->state = CH_EXT_NAME0;
				break;
			}
			if (c == '=' && d->state == CH_EXT_NAME) {
				d->state = CH_EXT_VAL0;
				break;
			}
			if (c == ' ' || c == '\t') {
				d->state = d->state == CH_EXT_NAME ? CH_EXT_NAME_WS
								   : CH_EXT_VAL_WS;
				break;
			}
			if (c == '\r' || c == '\n')
				goto line_end;
			return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_EXT);
		case CH_EXT_NAME_WS:
		case CH_EXT_VAL_WS:
			if (c == ';')
				d->state = CH_EXT_NAME0;
			else if (c == '=' && d->state == CH_EXT_NAME_WS)
				d->state = CH_EXT_VAL0;
			else if (c != ' ' && c != '\t')
				return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_EXT);
			break;
		case CH_EXT_QUOTED:
			if (c == '"')
				d->state = CH_EXT_AFTER;
			else if (c == '\\')
				d->state = CH_EXT_QESC;
			else if ((sl__http_cls[c] & SL__C_CTL) && c != '\t')
				return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_EXT);
			break;
		case CH_EXT_QESC:
			if ((sl__http_cls[c] & SL__C_CTL) && c != '\t')
				return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_EXT);
			d->state = CH_EXT_QUOTED;
			break;
		case CH_SIZE_LF:
			if (c != '\n') {
				/* The offending byte is the CR before. */
				ch_bad(d, used, pos, SL_E_HTTP_BARE_CR);
				d->err_off--;
				return d->err;
			}
			ch_line_end(d);
			break;
		case CH_DATA_CR:
			if (c == '\r')
				d->state = CH_DATA_LF;
			else if (c == '\n' && d->lenient)
				d->state = CH_SIZE0;
			else
				return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_END);
			break;
		case CH_DATA_LF:
			if (c != '\n')
				return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_END);
			d->state = CH_SIZE0;
			break;
		default:
			return ch_bad(d, used, pos, SL_E_INVAL);
		}
		continue;
line_end:
		if (c == '\r') {
			d->state = CH_SIZE_LF;
		} else if (c == '\n') {
			if (!d->lenient)
				return ch_bad(d, used, pos, SL_E_HTTP_BARE_LF);
			ch_line_end(d);
		} else {
			return ch_bad(d, used, pos, SL_E_HTTP_BAD_CHUNK_SIZE);
		}
	}
	if (d->state == CH_TRAILER)
		return ch_trailer(d, buf, len, pos, used, out);
	return ch_out(d, used, pos, SL_E_AGAIN);
}
