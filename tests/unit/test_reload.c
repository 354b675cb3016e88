/*
 * Unit tests of live reload's parts that run without threads: the listen
 * set (resolution, duplicates, the diff that decides which sockets stay,
 * go and come), snapshot holds inside a worker's environment (pinning,
 * retiring, release of the last user), the comparisons between two
 * configurations (settings that need a restart, rules that invalidate idle
 * upstream connections) and the pid file.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "server/listen_set.h"
#include "server/pidfile.h"
#include "server/reload.h"
#include "server/snapshot.h"

static sl_config *load(const char *text)
{
	sl_config *c = NULL;
	char err[512];

	cr_assert_eq(sl_config_load_string(text, "t", &c, err, sizeof err), 0, "%s: %s", text,
		     err);
	return c;
}

static void resolve(const char *text, sl_listen_set *out)
{
	sl_config *c = load(text);
	char err[256];

	cr_assert_eq(sl_listen_set_resolve(&c->listen, out, err, sizeof err), 0, "%s", err);
	sl_config_unref(c);
}

/* ---- the listen set ---- */

Test(reload_listen, resolve_merges_equal_points_and_labels_them)
{
	static sl_listen_set s;

	/* localhost resolves to addresses already listed. */
	resolve("{\"listen\": [\"127.0.0.1:3128\", \"[::1]:3128\", \"unix:/tmp/sl.sock\", "
		"\"localhost:3128\"]}",
		&s);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.v[0].label, "127.0.0.1:3128");
	cr_assert_str_eq(s.v[1].label, "[::1]:3128");
	cr_assert_str_eq(s.v[2].label, "unix:/tmp/sl.sock");
	cr_assert(s.v[2].unix_sock);
	cr_assert_str_eq(s.v[2].path, "/tmp/sl.sock");
	for (size_t i = 0; i < s.n; i++) {
		cr_assert_eq(s.v[i].id, 0);
		cr_assert_eq(s.v[i].shared_fd, -1);
	}
}

Test(reload_listen, names_resolve_to_their_addresses)
{
	static sl_listen_set s;

	resolve("{\"listen\": [\"localhost:3128\"]}", &s);
	cr_assert_geq(s.n, 1);
	for (size_t i = 0; i < s.n; i++)
		cr_assert_eq(s.v[i].port, 3128);
}

Test(reload_listen, same_point_compares_what_binds)
{
	static sl_listen_set s;

	resolve("{\"listen\": [\"127.0.0.1:1\", \"127.0.0.1:2\", \"127.0.0.2:1\", \"[::1]:1\", "
		"\"unix:/a\", \"unix:/b\"]}",
		&s);
	cr_assert_eq(s.n, 6);
	for (size_t i = 0; i < s.n; i++)
		for (size_t j = 0; j < s.n; j++)
			cr_assert_eq(sl_bind_point_same(&s.v[i], &s.v[j]), i == j, "%s vs %s",
				     s.v[i].label, s.v[j].label);
}

Test(reload_listen, diff_keeps_adds_and_removes)
{
	static sl_listen_set a, b;
	int from_old[SL_LISTEN_MAX_POINTS], in_new[SL_LISTEN_MAX_POINTS];

	resolve("{\"listen\": [\"127.0.0.1:1\", \"127.0.0.1:2\", \"unix:/a\", \"[::1]:3\"]}", &a);
	resolve("{\"listen\": [\"unix:/a\", \"127.0.0.1:2\", \"127.0.0.1:4\", \"unix:/b\"]}", &b);
	cr_assert_eq(sl_listen_set_diff(&a, &b, from_old, in_new), 4);
	/* New points: where each was in the running set. */
	cr_assert_eq(from_old[0], 2);
	cr_assert_eq(from_old[1], 1);
	cr_assert_eq(from_old[2], -1);
	cr_assert_eq(from_old[3], -1);
	/* Running points: where each is in the new set. */
	cr_assert_eq(in_new[0], -1);
	cr_assert_eq(in_new[1], 1);
	cr_assert_eq(in_new[2], 0);
	cr_assert_eq(in_new[3], -1);
}

Test(reload_listen, diff_of_equal_sets_is_empty_in_any_order)
{
	static sl_listen_set a, b;
	int from_old[SL_LISTEN_MAX_POINTS];

	resolve("{\"listen\": [\"127.0.0.1:1\", \"unix:/a\", \"[::1]:1\"]}", &a);
	resolve("{\"listen\": [\"[::1]:1\", \"127.0.0.1:1\", \"unix:/a\"]}", &b);
	cr_assert_eq(sl_listen_set_diff(&a, &b, from_old, NULL), 0);
	cr_assert_eq(from_old[0], 2);
	cr_assert_eq(from_old[1], 0);
	cr_assert_eq(from_old[2], 1);
	cr_assert_eq(sl_listen_set_diff(&a, &a, NULL, NULL), 0);
}

Test(reload_listen, diff_against_nothing)
{
	static sl_listen_set empty, a;
	int in_new[SL_LISTEN_MAX_POINTS], from_old[SL_LISTEN_MAX_POINTS];

	resolve("{\"listen\": [\"127.0.0.1:1\", \"unix:/a\"]}", &a);
	cr_assert_eq(sl_listen_set_diff(&empty, &a, from_old, NULL), 2);
	cr_assert_eq(from_old[0], -1);
	cr_assert_eq(from_old[1], -1);
	cr_assert_eq(sl_listen_set_diff(&a, &empty, NULL, in_new), 2);
	cr_assert_eq(in_new[0], -1);
	cr_assert_eq(in_new[1], -1);
}

Test(reload_listen, labels_join_the_points)
{
	static sl_listen_set s;
	char text[256];

	resolve("{\"listen\": [\"127.0.0.1:1\", \"unix:/a\"]}", &s);
	sl_listen_set_labels(&s, text, sizeof text);
	cr_assert_str_eq(text, "127.0.0.1:1, unix:/a");
	sl_listen_set_labels(&s, text, 5);
	cr_assert_eq(strlen(text), 4);
}

Test(reload_listen, probe_refuses_an_address_in_use)
{
	static sl_listen_set s;
	char conf[128], err[256];
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000001);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	cr_assert_eq(listen(fd, 1), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(conf, sizeof conf, "{\"listen\": [\"127.0.0.1:%u\"]}", ntohs(sin.sin_port));
	resolve(conf, &s);
	cr_assert_eq(sl_bind_point_probe(&s.v[0], err, sizeof err), -1);
	cr_assert(strstr(err, "cannot listen on 127.0.0.1:"), "%s", err);
	close(fd);
	cr_assert_eq(sl_bind_point_probe(&s.v[0], err, sizeof err), 0, "%s", err);
}

/* ---- snapshot holds ---- */

static sl_snapshot *snap_of(const char *text, uint64_t gen)
{
	sl_addr own;
	uint16_t port = 3128;
	sl_snapshot *s;

	cr_assert_eq(sl_addr_parse("127.0.0.1", 9, &own), 0);
	s = sl_snapshot_new(load(text), NULL, NULL, &own, &port, 1, gen);
	cr_assert(s);
	return s;
}

static unsigned refs(sl_snapshot *s)
{
	return atomic_load(&s->refs);
}

Test(reload_snapshot, hold_points_the_environment_at_the_snapshot)
{
	sl_session_env env;
	sl_snapshot *a = snap_of("{\"timeouts\": {\"connect\": \"7s\"}}", 1);

	memset(&env, 0, sizeof env);
	cr_assert_eq(sl_snap_env_init(&env, sl_snapshot_ref(a)), 0);
	cr_assert_eq(env.cfg, a->cfg);
	cr_assert_eq(env.n_own_addrs, 1);
	cr_assert_eq(env.own_ports[0], 3128);
	cr_assert_null(env.access_log);
	cr_assert_eq(env.snap->cfg->timeouts.connect_ms, 7000);
	cr_assert_eq(refs(a), 2);
	sl_snap_env_free(&env);
	cr_assert_eq(refs(a), 1);
	sl_snapshot_unref(a);
}

Test(reload_snapshot, users_keep_the_old_snapshot_until_they_let_go)
{
	sl_session_env env;
	sl_snapshot *a = snap_of("{}", 1), *b = snap_of("{\"workers\": 3}", 2);
	sl_snap_hold *h1, *h2, *h3;

	memset(&env, 0, sizeof env);
	cr_assert_eq(sl_snap_env_init(&env, sl_snapshot_ref(a)), 0);
	h1 = sl_snap_take(&env);
	h2 = sl_snap_take(&env);
	cr_assert_eq(h1, h2);
	cr_assert_eq(h1->users, 2);

	cr_assert_eq(sl_snap_env_switch(&env, sl_snapshot_ref(b)), 0);
	cr_assert_eq(env.cfg, b->cfg);
	cr_assert_eq(sl_snap_retired(&env), 1);
	h3 = sl_snap_take(&env);
	cr_assert_neq(h3, h1);
	cr_assert_eq(h3->cfg, b->cfg);
	cr_assert_eq(h1->cfg, a->cfg, "the old users still read the old configuration");
	cr_assert_eq(h1->tls, a->tls);

	sl_snap_drop(&env, h1);
	cr_assert_eq(refs(a), 2, "one user left: the hold stays");
	sl_snap_drop(&env, h2);
	cr_assert_eq(sl_snap_retired(&env), 0);
	cr_assert_eq(refs(a), 1, "the last user released the old snapshot");

	sl_snap_drop(&env, h3);
	cr_assert_eq(refs(b), 2, "the current hold stays without users");
	sl_snap_env_free(&env);
	cr_assert_eq(refs(b), 1);
	sl_snapshot_unref(a);
	sl_snapshot_unref(b);
}

Test(reload_snapshot, switch_without_users_releases_at_once)
{
	sl_session_env env;
	sl_snapshot *a = snap_of("{}", 1), *b = snap_of("{}", 2), *c = snap_of("{}", 3);
	sl_snap_hold *h;

	memset(&env, 0, sizeof env);
	cr_assert_eq(sl_snap_env_init(&env, sl_snapshot_ref(a)), 0);
	cr_assert_eq(sl_snap_env_switch(&env, sl_snapshot_ref(b)), 0);
	cr_assert_eq(sl_snap_retired(&env), 0);
	cr_assert_eq(refs(a), 1);
	h = sl_snap_take(&env);
	/* Two switches past a pinned hold: only the pinned one is retired. */
	cr_assert_eq(sl_snap_env_switch(&env, sl_snapshot_ref(c)), 0);
	cr_assert_eq(sl_snap_env_switch(&env, sl_snapshot_ref(a)), 0);
	cr_assert_eq(sl_snap_retired(&env), 1);
	cr_assert_eq(refs(c), 1);
	cr_assert_eq(refs(b), 2);
	sl_snap_drop(&env, h);
	cr_assert_eq(refs(b), 1);
	sl_snap_env_free(&env);
	cr_assert_eq(refs(a), 1);
	sl_snapshot_unref(a);
	sl_snapshot_unref(b);
	sl_snapshot_unref(c);
}

Test(reload_snapshot, free_releases_retired_holds_too)
{
	sl_session_env env;
	sl_snapshot *a = snap_of("{}", 1), *b = snap_of("{}", 2);

	memset(&env, 0, sizeof env);
	cr_assert_eq(sl_snap_env_init(&env, sl_snapshot_ref(a)), 0);
	(void)sl_snap_take(&env);
	cr_assert_eq(sl_snap_env_switch(&env, sl_snapshot_ref(b)), 0);
	sl_snap_env_free(&env);
	cr_assert_eq(refs(a), 1);
	cr_assert_eq(refs(b), 1);
	sl_snapshot_unref(a);
	sl_snapshot_unref(b);
}

Test(reload_snapshot, bare_configuration_hold)
{
	sl_session_env env;
	sl_config *cfg = load("{}");
	sl_snap_hold *h;

	memset(&env, 0, sizeof env);
	env.cfg = cfg;
	cr_assert_eq(sl_snap_env_init(&env, NULL), 0);
	h = sl_snap_take(&env);
	cr_assert_eq(h->cfg, cfg);
	cr_assert_null(h->snap);
	sl_snap_drop(&env, h);
	sl_snap_env_free(&env);
	cr_assert_null(env.snap);
	sl_config_unref(cfg);
}

/* ---- comparing configurations ---- */

Test(reload_compare, restart_keys_name_what_a_reload_cannot_change)
{
	sl_config *a = load("{\"workers\": 2}");
	sl_config *b = load("{\"workers\": 4, \"limits\": {\"buffer_size\": \"128KiB\", "
			    "\"max_channels\": 3}, \"cache\": {\"max_size\": \"2GiB\"}, "
			    "\"timeouts\": {\"connect\": \"3s\"}, \"acl\": {\"connect_ports\": []}}");
	char out[256];

	cr_assert_eq(sl_reload_restart_keys(a, a, 2, out, sizeof out), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(sl_reload_restart_keys(a, b, 2, out, sizeof out), 3, "%s", out);
	cr_assert_str_eq(out, "workers (2 running, 4 configured), limits.buffer_size, cache");
	sl_config_unref(a);
	sl_config_unref(b);
}

Test(reload_compare, restart_keys_compare_worker_counts_not_spellings)
{
	sl_config *a = load("{\"workers\": \"auto\"}");
	char out[128];

	cr_assert_eq(sl_reload_restart_keys(a, a, sl_config_workers(a), out, sizeof out), 0);
	cr_assert_eq(sl_reload_restart_keys(a, a, sl_config_workers(a) + 1, out, sizeof out), 1);
	cr_assert(strncmp(out, "workers (", 9) == 0, "%s", out);
	sl_config_unref(a);
}

Test(reload_compare, restart_keys_fit_a_small_buffer)
{
	sl_config *a = load("{}");
	sl_config *b = load("{\"limits\": {\"max_request_line\": \"4KiB\", \"max_header_size\": "
			    "\"32KiB\", \"max_header_fields\": 50, \"buffer_size\": \"32KiB\"}, "
			    "\"timeouts\": {\"dns\": \"2s\"}}");
	char out[16];

	cr_assert_eq(sl_reload_restart_keys(a, b, sl_config_workers(a), out, sizeof out), 5);
	cr_assert_lt(strlen(out), sizeof out);
	sl_config_unref(a);
	sl_config_unref(b);
}

#define UP(pw)                                                                           \
	"{\"upstreams\": {\"corp\": {\"type\": \"http\", \"host\": \"proxy.example\", "  \
	"\"port\": 8080, \"auth\": {\"user\": \"ci\", \"password\": \"" pw "\"}}}, "     \
	"\"routes\": [{\"via\": \"corp\"}]}"

Test(reload_compare, connect_rules)
{
	static const struct {
		const char *a, *b;
		bool changed;
	} cases[] = {
		{"{}", "{}", false},
		{"{}", "{\"log\": {\"level\": \"debug\"}, \"timeouts\": {\"connect\": \"1s\"}}",
		 false},
		{"{}", "{\"listen\": [\"127.0.0.1:9\"], \"limits\": {\"max_channels\": 2}}", false},
		{"{}", "{\"acl\": {\"deny_destinations\": [\"10.0.0.0/8\"]}}", true},
		{"{}", "{\"acl\": {\"allow_loopback_destinations\": true}}", true},
		{"{}", "{\"tls\": {\"verify\": false}}", true},
		{"{}", "{\"routes\": [{\"match\": {\"ports\": [25]}, \"via\": \"deny\"}, "
		       "{\"via\": \"direct\"}]}",
		 true},
		{"{}", "{\"upstream_from_env\": true}", true},
		{UP("one"), UP("one"), false},
		{UP("one"), UP("two"), true},
		{UP("one"), "{}", true},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sl_config *a = load(cases[i].a), *b = load(cases[i].b);

		cr_assert_eq(sl_reload_connect_rules_changed(a, b), cases[i].changed, "case %zu",
			     i);
		cr_assert_eq(sl_reload_connect_rules_changed(b, a), cases[i].changed,
			     "case %zu reversed", i);
		sl_config_unref(a);
		sl_config_unref(b);
	}
}

/* ---- the pid file ---- */

Test(reload_pidfile, write_read_remove)
{
	char dir[] = "/tmp/sl-pid-XXXXXX", path[64];
	pid_t pid = 0;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/p.pid", dir);
	cr_assert_eq(sl_pidfile_read(path, &pid), -ENOENT);
	cr_assert_eq(sl_pidfile_write(path, 4242), 0);
	cr_assert_eq(sl_pidfile_read(path, &pid), 0);
	cr_assert_eq(pid, 4242);
	sl_pidfile_remove(path, 4343);
	cr_assert_eq(access(path, F_OK), 0, "another process's pid file stays");
	sl_pidfile_remove(path, 4242);
	cr_assert_neq(access(path, F_OK), 0);
	cr_assert_eq(rmdir(dir), 0, "no temporary file left behind");
}

Test(reload_pidfile, garbage_is_not_a_pid)
{
	static const char *const bad[] = {"", "\n", "abc\n", "-5\n", "0\n", "12x\n",
					  "99999999999999999999\n"};
	char dir[] = "/tmp/sl-pid-XXXXXX", path[64];
	pid_t pid;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/p.pid", dir);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		FILE *f = fopen(path, "w");
		fputs(bad[i], f);
		fclose(f);
		cr_assert_eq(sl_pidfile_read(path, &pid), SL_E_INVAL, "%s", bad[i]);
	}
	unlink(path);
	rmdir(dir);
}

Test(reload_pidfile, unwritable_directory)
{
	cr_assert_lt(sl_pidfile_write("/nonexistent-dir/x.pid", 1), 0);
}
