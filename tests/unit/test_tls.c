/*
 * Unit tests of the TLS layer against real OpenSSL servers on loopback
 * (tls_fixture.c makes the PKI and runs the servers): verification and
 * its distinct errors, SNI and ALPN, the data path (records larger than
 * 16 KiB, iovecs, records TLS holds decrypted, close_notify both ways,
 * truncation), session resumption per origin, TLS over another layer
 * through the BIO (a pass-through layer; TLS to an origin inside TLS to an
 * HTTPS proxy after CONNECT), and the context shared by two threads.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "engines/http_connect.h"
#include "engines/stream.h"
#include "engines/tls.h"
#include "tls_fixture.h"

/* ------------------------------------------------------------------ */
/* Contexts                                                            */
/* ------------------------------------------------------------------ */

Test(tls, ctx_with_a_missing_ca_file_fails_with_a_reason)
{
	char err[256] = "";
	sl_tls_ctx_opts o = {.ca_file = "/nonexistent/ca.pem"};

	cr_assert_null(sl_tls_ctx_new(&o, err, sizeof err));
	cr_assert(strstr(err, "/nonexistent/ca.pem"), "%s", err);
}

Test(tls, ctx_with_system_store_builds)
{
	char err[256] = "";
	sl_tls_ctx *c = sl_tls_ctx_new(NULL, err, sizeof err);

	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(sl_tls_ctx_sessions(c), 0);
	sl_tls_ctx_unref(c);
}

Test(tls, layer_refuses_empty_or_overlong_names)
{
	struct pki p;
	char name[300];

	tf_pki_init(&p);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	memset(name, 'a', 299);
	name[299] = '\0';
	cr_assert_null(sl_tls_layer_new(ctx, "", 443, true, 0, true));
	cr_assert_null(sl_tls_layer_new(ctx, name, 443, true, 0, true));
	cr_assert_null(sl_tls_layer_new(ctx, "a b", 443, true, 0, true));
	sl_layer *l = sl_tls_layer_new(ctx, "[::1]", 443, true, 0, true);
	cr_assert_not_null(l);
	sl_tls_info in;
	cr_assert_eq(sl_tls_layer_info(l, &in), SL_E_AGAIN);
	l->ops->destroy(l);
	sl_tls_ctx_unref(ctx);
	tf_pki_free(&p);
}

/* ------------------------------------------------------------------ */
/* Handshakes                                                          */
/* ------------------------------------------------------------------ */

Test(tls, handshake_verifies_against_the_test_ca)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	sl_tls_info in;
	char buf[8];

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_HELLO, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0, "%s", c.trace);
	cr_assert_eq(sl_tls_layer_info(tf_top_tls(&c), &in), 0);
	cr_assert(in.verified);
	cr_assert_eq(in.verify_result, X509_V_OK);
	cr_assert_str_eq(in.peer_cn, "localhost");
	cr_assert_str_eq(in.version, "TLSv1.3");
	cr_assert_not(in.resumed);
	cr_assert(strstr(c.trace, "tls hop 0: TLSv1.3 TLS_"), "%s", c.trace);
	cr_assert(strstr(c.trace, ", ALPN http/1.1, verified CN=localhost\n"), "%s", c.trace);
	cr_assert_eq(tf_read_n(&c, buf, 5, NULL), 5);
	cr_assert(memcmp(buf, "hello", 5) == 0);
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	cr_assert(sv.recs[0].accepted);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, sni_and_alpn_are_sent)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	sl_tls_info in;

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_HELLO, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0, "%s", c.trace);
	cr_assert_eq(sl_tls_layer_info(tf_top_tls(&c), &in), 0);
	cr_assert_str_eq(in.alpn, "http/1.1");
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	cr_assert_str_eq(sv.recs[0].sni, "localhost");
	cr_assert_str_eq(sv.recs[0].alpn, "http/1.1");
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, ip_literal_sends_no_sni_and_is_verified_as_an_address)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	sl_tls_info in;

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_HELLO, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "127.0.0.1", sv.port, true), 0, "%s", c.trace);
	cr_assert_eq(sl_tls_layer_info(tf_top_tls(&c), &in), 0);
	cr_assert(in.verified);
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	cr_assert(sv.recs[0].accepted);
	cr_assert_str_eq(sv.recs[0].sni, "", "no SNI for an address");
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

/* Runs a handshake against cert and returns the error, keeping the reason. */
static int handshake_with(struct pki *p, X509 *cert, EVP_PKEY *key, const char *name, bool verify,
			  char *reason, size_t cap)
{
	struct srv sv;
	struct cli c;
	int rc;

	tf_srv_start(&sv, cert, key, S_HELLO, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(p);
	tf_cli_open(&c, sv.port);
	rc = tf_cli_tls(&c, ctx, name, sv.port, verify);
	if (reason)
		snprintf(reason, cap, "%s", sl_tls_layer_reason(c.s->top));
	if (rc < 0) {
		cr_assert_eq(c.s->err, rc);
		cr_assert(strstr(c.trace, "failed: "), "%s", c.trace);
	}
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	return rc;
}

Test(tls, expired_certificate)
{
	struct pki p;
	char why[256];

	tf_pki_init(&p);
	struct cert_spec sp = {.cn = "localhost", .san = "DNS:localhost", .from = -10 * DAY,
			       .to = -DAY};
	X509 *cert = tf_leaf(&p, &sp);
	cr_assert_eq(handshake_with(&p, cert, p.key, "localhost", true, why, sizeof why),
		     SL_E_TLS_EXPIRED);
	cr_assert(strstr(why, "expired"), "%s", why);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, not_yet_valid_certificate)
{
	struct pki p;

	tf_pki_init(&p);
	struct cert_spec sp = {.cn = "localhost", .san = "DNS:localhost", .from = DAY,
			       .to = 10 * DAY};
	X509 *cert = tf_leaf(&p, &sp);
	cr_assert_eq(handshake_with(&p, cert, p.key, "localhost", true, NULL, 0), SL_E_TLS_EXPIRED);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, self_signed_certificate)
{
	struct pki p;
	char why[256];

	tf_pki_init(&p);
	struct cert_spec sp = {.cn = "localhost", .san = "DNS:localhost", .from = -DAY,
			       .to = DAY, .ca = true};
	X509 *cert = tf_make_cert(&sp, p.key, NULL, p.key);
	cr_assert_eq(handshake_with(&p, cert, p.key, "localhost", true, why, sizeof why),
		     SL_E_TLS_SELF_SIGNED, "%s", why);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, certificate_from_an_unknown_ca)
{
	struct pki p;

	tf_pki_init(&p);
	struct cert_spec ca = {.cn = "another CA", .from = -DAY, .to = DAY, .ca = true};
	struct cert_spec sp = {.cn = "localhost", .san = "DNS:localhost", .from = -DAY, .to = DAY};
	EVP_PKEY *k2 = tf_keygen();
	X509 *ca2 = tf_make_cert(&ca, k2, NULL, k2);
	X509 *cert = tf_make_cert(&sp, p.key, ca2, k2);
	cr_assert_eq(handshake_with(&p, cert, p.key, "localhost", true, NULL, 0),
		     SL_E_TLS_UNKNOWN_CA);
	X509_free(cert);
	X509_free(ca2);
	EVP_PKEY_free(k2);
	tf_pki_free(&p);
}

Test(tls, certificate_for_another_name)
{
	struct pki p;

	tf_pki_init(&p);
	struct cert_spec sp = {.cn = "other.example", .san = "DNS:other.example", .from = -DAY,
			       .to = DAY};
	X509 *cert = tf_leaf(&p, &sp);
	cr_assert_eq(handshake_with(&p, cert, p.key, "localhost", true, NULL, 0),
		     SL_E_TLS_HOSTNAME);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, certificate_for_another_address)
{
	struct pki p;

	tf_pki_init(&p);
	struct cert_spec sp = {.cn = "localhost", .san = "DNS:localhost,IP:127.0.0.2",
			       .from = -DAY, .to = DAY};
	X509 *cert = tf_leaf(&p, &sp);
	cr_assert_eq(handshake_with(&p, cert, p.key, "127.0.0.1", true, NULL, 0),
		     SL_E_TLS_HOSTNAME);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, certificate_for_the_wrong_purpose_is_a_verify_error)
{
	struct pki p;

	tf_pki_init(&p);
	struct cert_spec sp = {.cn = "localhost", .san = "DNS:localhost", .from = -DAY,
			       .to = DAY, .eku = "clientAuth"};
	X509 *cert = tf_leaf(&p, &sp);
	cr_assert_eq(handshake_with(&p, cert, p.key, "localhost", true, NULL, 0), SL_E_TLS_VERIFY);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, verification_can_be_turned_off_per_connection)
{
	struct pki p;

	tf_pki_init(&p);
	struct cert_spec sp = {.cn = "whatever", .from = -DAY, .to = DAY, .ca = true};
	X509 *cert = tf_make_cert(&sp, p.key, NULL, p.key);
	cr_assert_eq(handshake_with(&p, cert, p.key, "localhost", false, NULL, 0), 0);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, not_tls_at_all_is_a_handshake_error)
{
	struct pki p;
	struct srv sv;
	struct cli c;

	tf_pki_init(&p);
	tf_srv_start(&sv, NULL, NULL, S_GARBAGE, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), SL_E_TLS_HANDSHAKE);
	cr_assert_str_neq(sl_tls_layer_reason(c.s->top), "");
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	tf_pki_free(&p);
}

Test(tls, errors_are_recorded_at_the_layer_hop_and_side)
{
	struct pki p;
	struct srv sv;
	struct cli c;

	tf_pki_init(&p);
	struct cert_spec sp = {.cn = "other.example", .san = "DNS:other.example", .from = -DAY,
			       .to = DAY};
	X509 *cert = tf_leaf(&p, &sp);
	tf_srv_start(&sv, cert, p.key, S_HELLO, 2, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);

	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_push(&c, sl_tls_layer_new(ctx, "localhost", sv.port, true, 2, true)),
		     SL_E_TLS_HOSTNAME);
	cr_assert_eq(c.s->err_hop, 2);
	cr_assert_not(c.s->err_proxy, "TLS to the target fails as a target error");
	tf_cli_close(&c);

	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_push(&c, sl_tls_layer_new(ctx, "localhost", sv.port, true, 0, false)),
		     SL_E_TLS_HOSTNAME);
	cr_assert_eq(c.s->err_hop, 0);
	cr_assert(c.s->err_proxy, "TLS to a proxy hop fails as a proxy error");
	tf_cli_close(&c);

	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, silent_server_times_out_the_handshake)
{
	struct pki p;
	struct srv sv;
	struct cli c;

	tf_pki_init(&p);
	tf_srv_start(&sv, NULL, NULL, S_SILENT, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	sl_stream_set_timeout(c.s, 50);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), SL_E_TARGET_TIMEOUT);
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	tf_pki_free(&p);
}

/* ------------------------------------------------------------------ */
/* The data path                                                       */
/* ------------------------------------------------------------------ */

Test(tls, round_trip_larger_than_a_record_both_ways)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	size_t n = 100000;
	unsigned char *out = malloc(n), *in = malloc(n);
	ssize_t last;

	for (size_t i = 0; i < n; i++)
		out[i] = tf_pattern(i);
	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_ECHO, 1, 0);
	sv.echo_len = n;
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0, "%s", c.trace);
	tf_write_all(&c, out, n);
	cr_assert_eq(tf_read_n(&c, in, n, &last), n, "last read %zd", last);
	cr_assert(memcmp(in, out, n) == 0);
	cr_assert_gt(c.s->bytes_out, n, "the fd BIO counts the stream's bytes");
	cr_assert_gt(c.s->bytes_in, n);
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
	free(out);
	free(in);
}

Test(tls, writev_sends_small_and_large_iovecs_in_order)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	unsigned char big[40000], in[40000 + 60];
	struct iovec iov[8];
	char small[6][10];
	size_t total = 0, off = 0;

	for (size_t i = 0; i < sizeof big; i++)
		big[i] = tf_pattern(i);
	for (int k = 0; k < 6; k++) {
		memset(small[k], 'A' + k, sizeof small[k]);
		iov[k < 3 ? k : k + 1] = (struct iovec){small[k], sizeof small[k]};
	}
	iov[3] = (struct iovec){big, sizeof big};
	iov[7] = (struct iovec){NULL, 0};
	for (int k = 0; k < 8; k++)
		total += iov[k].iov_len;
	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_ECHO, 1, 0);
	sv.echo_len = total;
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0);
	while (off < total) {
		/* Rebuild the iovecs from the current offset and write them. */
		struct iovec cur[8];
		int n = 0;
		size_t skip = off;
		for (int k = 0; k < 8; k++) {
			if (skip >= iov[k].iov_len) {
				skip -= iov[k].iov_len;
				continue;
			}
			cur[n++] = (struct iovec){(char *)iov[k].iov_base + skip, iov[k].iov_len - skip};
			skip = 0;
		}
		ssize_t r = sl_stream_writev(c.s, cur, n);
		if (r == -EAGAIN) {
			cr_assert(tf_wait_ev(&c, SL_WANT_WRITE));
			continue;
		}
		cr_assert_gt(r, 0);
		off += (size_t)r;
	}
	cr_assert_eq(tf_read_n(&c, in, total, NULL), total);
	size_t q = 0;
	for (int k = 0; k < 8; k++) {
		if (iov[k].iov_len)
			cr_assert(memcmp(in + q, iov[k].iov_base, iov[k].iov_len) == 0, "iovec %d", k);
		q += iov[k].iov_len;
	}
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

/* Reads one small piece per readiness callback: what TLS holds decrypted
 * must be announced by pending(), the fd will not tell. */
struct drip {
	struct cli *c;
	unsigned char buf[15000];
	size_t got;
	int calls;
	bool saw_pending;
};

static void drip_cb(sl_stream *s, unsigned ev, void *arg)
{
	struct drip *d = arg;
	(void)ev;
	d->calls++;
	ssize_t r = sl_stream_read(s, d->buf + d->got, 512 < sizeof d->buf - d->got ?
						       512 : sizeof d->buf - d->got);
	if (r > 0)
		d->got += (size_t)r;
	if (sl_stream_pending(s) > 0)
		d->saw_pending = true;
	if (d->got == sizeof d->buf || (r <= 0 && r != -EAGAIN))
		ev_break(d->c->loop, EVBREAK_ONE);
}

Test(tls, records_held_by_tls_are_delivered_through_pending)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	struct drip d = {0};

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_RECORDS, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0);
	d.c = &c;
	sl_stream_set_cb(c.s, drip_cb, &d);
	sl_stream_want(c.s, SL_WANT_READ);
	tf_run_bounded(c.loop);
	cr_assert_eq(d.got, sizeof d.buf, "got %zu bytes in %d calls", d.got, d.calls);
	cr_assert(d.saw_pending);
	for (size_t i = 0; i < sizeof d.buf; i++)
		cr_assert_eq(d.buf[i], tf_pattern(i), "byte %zu", i);
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, close_notify_from_the_server_is_a_clean_end)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	char buf[16];
	ssize_t last;

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_BYE, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0);
	cr_assert_eq(tf_read_n(&c, buf, sizeof buf, &last), 3);
	cr_assert_eq(last, 0, "end of stream after close_notify");
	cr_assert(memcmp(buf, "bye", 3) == 0);
	cr_assert_eq(c.s->err, 0);
	cr_assert(c.s->eof);
	cr_assert(strstr(c.trace, "close_notify received"), "%s", c.trace);
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, shutdown_sends_close_notify)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	char buf[8];

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_HELLO, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0);
	cr_assert_eq(tf_read_n(&c, buf, 5, NULL), 5);
	cr_assert_eq(sl_stream_shutdown(c.s), 0, "nothing to wait for");
	cr_assert(strstr(c.trace, "close_notify sent"), "%s", c.trace);
	tf_srv_stop(&sv); /* the server thread ends on our close_notify */
	cr_assert(sv.recs[0].got_close_notify);
	tf_cli_close(&c);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, end_without_close_notify_is_tls_closed)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	char buf[16];
	ssize_t last;

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_TRUNCATE, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0);
	cr_assert_eq(tf_read_n(&c, buf, sizeof buf, &last), 7);
	cr_assert(memcmp(buf, "partial", 7) == 0);
	cr_assert_eq(last, SL_E_TLS_CLOSED, "got %s", sl_errname((int)last));
	cr_assert_eq(c.s->err, SL_E_TLS_CLOSED);
	cr_assert_eq(c.s->err_hop, 0);
	cr_assert_eq(sl_stream_read(c.s, buf, sizeof buf), SL_E_TLS_CLOSED, "the error stays");
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

/* ------------------------------------------------------------------ */
/* Session resumption                                                  */
/* ------------------------------------------------------------------ */

/* One connection that reads "hello" (so TLS 1.3 tickets are taken in). */
static bool hello_conn(sl_tls_ctx *ctx, uint16_t port, bool verify)
{
	struct cli c;
	sl_tls_info in;
	char buf[8];

	tf_cli_open(&c, port);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", port, verify), 0, "%s", c.trace);
	cr_assert_eq(tf_read_n(&c, buf, 5, NULL), 5);
	cr_assert_eq(sl_tls_layer_info(tf_top_tls(&c), &in), 0);
	if (in.resumed)
		cr_assert(strstr(c.trace, ", resumed\n"), "%s", c.trace);
	tf_cli_close(&c);
	return in.resumed;
}

Test(tls, session_is_resumed_on_the_second_connection)
{
	struct pki p;
	struct srv sv;

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_HELLO, 2, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	cr_assert_not(hello_conn(ctx, sv.port, true));
	cr_assert_eq(sl_tls_ctx_sessions(ctx), 1, "a ticket was cached");
	cr_assert(hello_conn(ctx, sv.port, true), "the second connection resumes");
	tf_srv_stop(&sv);
	cr_assert_not(sv.recs[0].reused);
	cr_assert(sv.recs[1].reused);
	cr_assert_str_eq(sv.recs[1].version, "TLSv1.3");
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, tls12_session_is_resumed_and_kept)
{
	struct pki p;
	struct srv sv;

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_HELLO, 3, TLS1_2_VERSION);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	cr_assert_not(hello_conn(ctx, sv.port, true));
	cr_assert(hello_conn(ctx, sv.port, true));
	cr_assert(hello_conn(ctx, sv.port, true), "a TLS 1.2 session serves again");
	tf_srv_stop(&sv);
	cr_assert_str_eq(sv.recs[0].version, "TLSv1.2");
	cr_assert(sv.recs[2].reused);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, session_of_a_connection_that_failed_is_dropped)
{
	static const int versions[] = {0, TLS1_2_VERSION};
	struct pki p;
	char buf[16];
	ssize_t last;

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		struct srv sv;
		struct cli c;

		tf_srv_start(&sv, cert, p.key, S_TRUNCATE, 1, versions[i]);
		tf_srv_run(&sv);
		sl_tls_ctx *ctx = tf_test_ctx(&p);
		tf_cli_open(&c, sv.port);
		cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0);
		cr_assert_eq(tf_read_n(&c, buf, sizeof buf, &last), 7);
		cr_assert_eq(last, SL_E_TLS_CLOSED);
		cr_assert_eq(sl_tls_ctx_sessions(ctx), 1, "the session was stored (%d)", versions[i]);
		tf_cli_close(&c);
		cr_assert_eq(sl_tls_ctx_sessions(ctx), 0, "and dropped with the failed connection");
		tf_srv_stop(&sv);
		sl_tls_ctx_unref(ctx);
	}
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, unverified_session_is_not_offered_to_a_verifying_connection)
{
	struct pki p;
	struct srv sv;

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_HELLO, 3, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	cr_assert_not(hello_conn(ctx, sv.port, false));
	cr_assert_not(hello_conn(ctx, sv.port, true), "no resumption of an unverified session");
	cr_assert(hello_conn(ctx, sv.port, false), "a verified one serves an unverifying one");
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, session_cache_is_bounded)
{
	struct pki p;
	struct srv a, b;
	char err[256];

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&a, cert, p.key, S_HELLO, 1, TLS1_2_VERSION);
	tf_srv_start(&b, cert, p.key, S_HELLO, 1, TLS1_2_VERSION);
	tf_srv_run(&a);
	tf_srv_run(&b);
	sl_tls_ctx_opts o = {.ca_file = p.ca_file, .session_cache_size = 1};
	sl_tls_ctx *ctx = sl_tls_ctx_new(&o, err, sizeof err);
	cr_assert_not_null(ctx, "%s", err);
	hello_conn(ctx, a.port, true);
	hello_conn(ctx, b.port, true);
	cr_assert_eq(sl_tls_ctx_sessions(ctx), 1);
	tf_srv_stop(&a);
	tf_srv_stop(&b);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

/* ------------------------------------------------------------------ */
/* TLS over another layer                                              */
/* ------------------------------------------------------------------ */

Test(tls, tls_over_a_pass_through_layer_uses_the_layer_bio)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	size_t n = 50000;
	unsigned char *out = malloc(n), *in = malloc(n);

	for (size_t i = 0; i < n; i++)
		out[i] = tf_pattern(i);
	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_ECHO, 1, 0);
	sv.echo_len = n;
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	sl_layer *pt = tf_passthrough_new();
	cr_assert_eq(tf_cli_push(&c, pt), 0);
	cr_assert_eq(tf_cli_tls(&c, ctx, "localhost", sv.port, true), 0, "%s", c.trace);
	cr_assert_eq(c.s->top->below, pt);
	tf_write_all(&c, out, n);
	cr_assert_eq(tf_read_n(&c, in, n, NULL), n);
	cr_assert(memcmp(in, out, n) == 0);
	tf_cli_close(&c);
	tf_srv_stop(&sv);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
	free(out);
	free(in);
}

Test(tls, tls_to_the_origin_inside_tls_to_an_https_proxy)
{
	struct pki p;
	struct srv origin, proxy;
	struct cli c;
	size_t n = 40000;
	unsigned char *out = malloc(n), *in = malloc(n);
	sl_hop hop = {.type = SL_HOP_HTTPS, .host = "localhost", .tls_verify = true};
	sl_tls_info info;

	for (size_t i = 0; i < n; i++)
		out[i] = tf_pattern(i);
	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&origin, cert, p.key, S_ECHO, 1, 0);
	origin.echo_len = n;
	tf_srv_start(&proxy, cert, p.key, S_PROXY, 1, 0);
	proxy.inner_port = origin.port;
	hop.port = proxy.port;
	tf_srv_run(&origin);
	tf_srv_run(&proxy);
	sl_tls_ctx *ctx = tf_test_ctx(&p);

	tf_cli_open(&c, proxy.port);
	cr_assert_eq(tf_cli_push(&c, sl_tls_layer_new(ctx, "localhost", proxy.port, true, 0, false)),
		     0, "%s", c.trace);
	cr_assert_eq(tf_cli_push(&c, sl_connect_layer_new("localhost", origin.port, &hop, NULL, 0, true)),
		     0, "%s", c.trace);
	cr_assert(sl_tls_layer_is(c.s->top), "CONNECT is gone, TLS to the proxy remains");
	cr_assert_eq(tf_cli_push(&c, sl_tls_layer_new(ctx, "localhost", origin.port, true, 1, true)),
		     0, "%s", c.trace);
	cr_assert(sl_tls_layer_is(c.s->top->below));
	cr_assert_eq(c.s->top->below->below, &c.s->sock);
	cr_assert_eq(sl_tls_layer_info(c.s->top, &info), 0);
	cr_assert(info.verified);
	cr_assert(strstr(c.trace, "connect hop 0: 200 Connection established"), "%s", c.trace);
	cr_assert(strstr(c.trace, "tls hop 1: TLSv1.3"), "%s", c.trace);

	tf_write_all(&c, out, n);
	cr_assert_eq(tf_read_n(&c, in, n, NULL), n);
	cr_assert(memcmp(in, out, n) == 0);
	cr_assert_eq(sl_stream_shutdown(c.s), 0);
	tf_cli_close(&c);
	tf_srv_stop(&proxy);
	tf_srv_stop(&origin);
	char want[64];
	snprintf(want, sizeof want, "CONNECT localhost:%u HTTP/1.1", origin.port);
	cr_assert_str_eq(proxy.recs[0].connect_line, want);
	cr_assert(origin.recs[0].accepted);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
	free(out);
	free(in);
}

Test(tls, tunnel_bytes_in_the_proxy_record_stay_for_the_reader)
{
	struct pki p;
	struct srv origin, proxy;
	struct cli c;
	sl_hop hop = {.type = SL_HOP_HTTPS, .host = "localhost"};
	char buf[8] = {0};

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&origin, cert, p.key, S_HELLO, 1, 0);
	tf_srv_start(&proxy, cert, p.key, S_PROXY, 1, 0);
	proxy.inner_port = origin.port;
	proxy.early = true;
	tf_srv_run(&origin);
	tf_srv_run(&proxy);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, proxy.port);
	cr_assert_eq(tf_cli_push(&c, sl_tls_layer_new(ctx, "localhost", proxy.port, true, 0, false)), 0);
	cr_assert_eq(tf_cli_push(&c, sl_connect_layer_new("localhost", origin.port, &hop, NULL, 0, true)),
		     0, "%s", c.trace);
	cr_assert_eq(sl_stream_pending(c.s), 5, "EARLY waits decrypted in the proxy's TLS layer");
	cr_assert_eq(tf_read_n(&c, buf, 5, NULL), 5);
	cr_assert_str_eq(buf, "EARLY");
	tf_cli_close(&c);
	tf_srv_stop(&proxy);
	tf_srv_stop(&origin);
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

/* ------------------------------------------------------------------ */
/* Sharing the context                                                 */
/* ------------------------------------------------------------------ */

struct worker {
	sl_tls_ctx *ctx;
	uint16_t port;
	int ok;
	int resumed;
};

static void w_done(sl_stream *s, int err, void *arg)
{
	int *rc = arg;
	*rc = err;
	ev_break(s->loop, EVBREAK_ONE);
}

static void w_ready(sl_stream *s, unsigned ev, void *arg)
{
	(void)ev;
	(void)arg;
	ev_break(s->loop, EVBREAK_ONE);
}

/* Four connections on this thread's own loop; no Criterion asserts here. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int k = 0; k < 4; k++) {
		struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
		sl_stream *s = sl_stream_new(loop);
		int fd = tf_tcp_connect(w->port), rc = 1;
		char buf[4];
		size_t got = 0;
		sl_tls_info in;

		if (fd < 0)
			goto next;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		sl_stream_attach_fd(s, fd);
		sl_stream_set_cb(s, w_ready, NULL);
		sl_stream_push(s, sl_tls_layer_new(w->ctx, "localhost", w->port, true, 0, true), w_done,
			       &rc);
		for (int i = 0; rc == 1 && i < 100; i++)
			ev_run(loop, EVRUN_ONCE);
		if (rc != 0)
			goto next;
		struct iovec iov = {"ping", 4};
		if (sl_stream_writev(s, &iov, 1) != 4)
			goto next;
		sl_stream_want(s, SL_WANT_READ);
		for (int i = 0; got < 4 && i < 100; i++) {
			ssize_t r = sl_stream_read(s, buf + got, 4 - got);
			if (r > 0)
				got += (size_t)r;
			else if (r == -EAGAIN)
				ev_run(loop, EVRUN_ONCE);
			else
				break;
		}
		if (got == 4 && memcmp(buf, "ping", 4) == 0) {
			w->ok++;
			if (sl_tls_layer_info(s->top, &in) == 0 && in.resumed)
				w->resumed++;
		}
next:
		sl_stream_close(s);
		ev_loop_destroy(loop);
	}
	return NULL;
}

Test(tls, ctx_is_shared_by_two_threads)
{
	struct pki p;
	struct srv sv;
	struct worker w[2];
	pthread_t t[2];

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_ECHO, 8, 0);
	sv.echo_len = 4;
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct worker){.ctx = ctx, .port = sv.port};
		cr_assert_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	tf_srv_stop(&sv);
	cr_assert_eq(w[0].ok + w[1].ok, 8);
	cr_assert_geq(w[0].resumed + w[1].resumed, 1, "sessions flow between the threads");
	sl_tls_ctx_unref(ctx);
	X509_free(cert);
	tf_pki_free(&p);
}

Test(tls, ctx_lives_while_a_layer_uses_it)
{
	struct pki p;
	struct srv sv;
	struct cli c;
	char buf[8];

	tf_pki_init(&p);
	X509 *cert = tf_good_leaf(&p);
	tf_srv_start(&sv, cert, p.key, S_HELLO, 1, 0);
	tf_srv_run(&sv);
	sl_tls_ctx *ctx = tf_test_ctx(&p);
	tf_cli_open(&c, sv.port);
	sl_layer *l = sl_tls_layer_new(ctx, "localhost", sv.port, true, 0, true);
	sl_tls_ctx_unref(ctx); /* a reload dropped it: the layer keeps it alive */
	cr_assert_eq(tf_cli_push(&c, l), 0);
	cr_assert_eq(tf_read_n(&c, buf, 5, NULL), 5, "tickets go into the old context's cache");
	tf_cli_close(&c); /* frees the context */
	tf_srv_stop(&sv);
	X509_free(cert);
	tf_pki_free(&p);
}
