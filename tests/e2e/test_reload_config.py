"""Live reload of the configuration: SIGHUP with a valid change applies it
to new requests (CONNECT ports, destination rules, also on a kept-alive
connection's next request) and shows in the status page; an invalid file
(syntax error, unknown reference, bad value, a listener that cannot bind)
is logged with the file, the line and the JSON path, and the proxy keeps
serving on the configuration it had; settings that need a restart are
named; a changed access log path takes effect; `sluice -s reload|stop`
finds the running proxy through its pid file and fails clearly when there
is none."""
import json
import os
import re
import signal
import socket
import subprocess

from conftest import run
from proxyutil import RawClient, request, via, wait_for
from reloadutil import error_log, reload, status, write_config
from servers import LogFile


def connect_ok(p, nginx_origin):
    """A CONNECT tunnel to the origin's TLS port: the CONNECT status."""
    r = via(p, f"https://127.0.0.1:{nginx_origin.tls_port}/files/1k.bin", "--cacert",
            nginx_origin.ca_path, tunnel=True)
    return r.connect


def test_sighup_applies_new_rules_to_new_requests(sluice_proxy, nginx_origin):
    p = sluice_proxy()
    assert status(p)["config"]["generation"] == 1
    assert connect_ok(p, nginx_origin) == 200
    assert via(p, f"{nginx_origin.url}/echo?before").status == 200

    r = reload(p, {"acl": {"connect_ports": [443],
                           "deny_destinations": ["127.0.0.1/32"]}})
    assert r.ok and r.generation == 2, r
    assert connect_ok(p, nginx_origin) == 403
    g = via(p, f"{nginx_origin.url}/echo?after")
    assert g.status == 403 and b"acl.deny_destinations" in g.body, g
    st = status(p)
    assert st["config"]["generation"] == 2
    assert st["config"]["loaded"] > 0

    r = reload(p, {"acl": {"connect_ports": [nginx_origin.tls_port], "deny_destinations": []}})
    assert r.ok and r.generation == 3, r
    assert connect_ok(p, nginx_origin) == 200
    assert via(p, f"{nginx_origin.url}/echo?again").status == 200


def test_kept_alive_connection_gets_the_new_rules_on_its_next_request(sluice_proxy,
                                                                      nginx_origin):
    p = sluice_proxy()
    host = f"127.0.0.1:{nginx_origin.port}"
    with RawClient(p.port) as c:
        c.send(request("GET", f"{nginx_origin.url}/echo?ka-1", host))
        assert c.read_response().status == 200
        r = reload(p, {"acl": {"deny_destinations": ["127.0.0.1/32"]}})
        assert r.ok, r
        # The idle upstream connection of the old rules is not reused:
        # the new rules refuse the destination.
        c.send(request("GET", f"{nginx_origin.url}/echo?ka-2", host))
        resp = c.read_response()
        assert resp.status == 403, resp
    log = error_log(p).entries(r.mark)
    assert any("upstream connections made before are not reused" in line for line in log), log


BAD_FILES = [
    ('{\n  "workers": 2,\n  "listen": [\n}\n', r":4: "),
    ('{\n  "routes": [\n    {"via": "direct"},\n    {"via": "nowhere"}\n  ]\n}\n',
     r":4: routes\[1\]\.via: "),
    ('{\n  "timeouts": {\n    "connect": "fast"\n  }\n}\n', r":3: timeouts\.connect: "),
    ('{\n  "upstreams": {\n    "corp": {"type": "http", "host": "proxy.example",\n'
     '      "auth": {"user": "ci", "password_env": "SLUICE_RELOAD_UNSET_VARIABLE"}}\n'
     '  }\n}\n', r":\d+: upstreams\.corp\.auth\.password_env: "),
]


def test_invalid_file_is_logged_and_the_old_configuration_stays(sluice_proxy, nginx_origin):
    p = sluice_proxy()
    for text, where in BAD_FILES:
        r = reload(p, text=text)
        assert not r.ok, r
        assert r.why.startswith(str(p.conf_path) + ":"), r
        m = re.search(where, r.why)
        assert m, (where, r.why)
        assert r.level == "error", r
        assert p.alive()
        # Still serving, still on the old rules.
        assert connect_ok(p, nginx_origin) == 200
        assert via(p, f"{nginx_origin.url}/echo?still").status == 200
        assert status(p)["config"]["generation"] == 1
    # A good file afterwards is generation 2: failures count for nothing.
    r = reload(p, {"acl": {"connect_ports": [443]}})
    assert r.ok and r.generation == 2, r
    assert connect_ok(p, nginx_origin) == 403


def test_a_listener_that_cannot_bind_fails_the_whole_reload(sluice_proxy, nginx_origin):
    p = sluice_proxy()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        r = reload(p, {"listen": p.conf["listen"] + [f"127.0.0.1:{port}"],
                       "acl": {"connect_ports": [443]}})
    finally:
        taken.close()
    assert not r.ok, r
    assert f"cannot listen on 127.0.0.1:{port}" in r.why, r
    assert r.why.startswith(str(p.conf_path)), r
    assert connect_ok(p, nginx_origin) == 200, "the acl change of the failed reload applied"
    assert status(p)["config"]["generation"] == 1


def test_settings_needing_a_restart_are_named_and_kept(sluice_proxy, nginx_origin):
    p = sluice_proxy()
    r = reload(p, {"workers": 3, "limits": {"buffer_size": "128KiB"},
                   "acl": {"connect_ports": [443]}})
    assert r.ok, r
    m = error_log(p).wait_line(r"\[warn\] main: reload: changing (.*) needs a restart", r.mark)
    assert "workers (2 running, 3 configured)" in m.group(1), m.group(0)
    assert "limits.buffer_size" in m.group(1), m.group(0)
    # The rest of the file applies.
    assert connect_ok(p, nginx_origin) == 403
    # Still two workers: their ids are 0 and 1.
    assert all(status(p)["worker"] in (0, 1) for _ in range(6))


def test_changed_access_log_path_is_used(sluice_proxy, nginx_origin):
    p = sluice_proxy()
    assert via(p, f"{nginx_origin.url}/echo?old-log").status == 200
    p.wait_lines(0, "old-log")
    new_log = p.dir / "access-2.log"
    r = reload(p, {"log": {"access": str(new_log)}})
    assert r.ok, r
    assert via(p, f"{nginx_origin.url}/echo?new-log").status == 200
    wait_for(lambda: new_log.exists() and "new-log" in new_log.read_text(), 10,
             "the request in the new access log")
    assert "new-log" not in p.access_path.read_text()


def test_log_level_change_applies(sluice_proxy, nginx_origin):
    p = sluice_proxy()
    r = reload(p, {"log": {"level": "debug"}})
    assert r.ok, r
    mark = error_log(p).mark()
    assert via(p, f"{nginx_origin.url}/echo?debug").status == 200
    error_log(p).wait_line(r"\[debug\]", mark)


# -- sluice -s ---------------------------------------------------------------------------

def test_sluice_s_reload_and_stop(sluice, sluice_proxy, nginx_origin, tmp_path):
    pid_file = tmp_path / "sluice.pid"
    p = sluice_proxy({"pid_file": str(pid_file)})
    assert int(pid_file.read_text()) == p.pid

    r = reload(p, {"acl": {"connect_ports": [443]}}, how="s", sluice=sluice)
    assert r.ok and r.generation == 2, r
    assert connect_ok(p, nginx_origin) == 403

    p.stopping = True
    res = run([sluice, "-s", "stop", "-c", str(p.conf_path)])
    assert res.returncode == 0, res.stderr
    assert p.wait_exit(20) == 0, p.diagnostics()
    assert not pid_file.exists(), "the pid file outlived the proxy"


def test_pid_file_written_at_start_and_moved_on_reload(sluice, sluice_proxy, tmp_path):
    first = tmp_path / "first.pid"
    p = sluice_proxy({"pid_file": str(first)})
    assert int(first.read_text()) == p.pid
    second = tmp_path / "second.pid"
    r = reload(p, {"pid_file": str(second)})
    assert r.ok, r
    assert int(second.read_text()) == p.pid
    assert not first.exists()
    res = run([sluice, "-s", "reload", "-c", str(p.conf_path)])
    assert res.returncode == 0, res.stderr


def test_sluice_s_without_a_running_instance(sluice, tmp_path):
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"listen": ["127.0.0.1:1"]}))
    r = run([sluice, "-s", "reload", "-c", str(conf)])
    assert r.returncode == 1
    assert "sets no pid_file" in r.stderr, r.stderr

    pid_file = tmp_path / "s.pid"
    conf.write_text(json.dumps({"listen": ["127.0.0.1:1"], "pid_file": str(pid_file)}))
    for what in ("reload", "stop"):
        r = run([sluice, "-s", what, "-c", str(conf)])
        assert r.returncode == 1
        assert f"no pid file {pid_file}" in r.stderr, r.stderr

    # A pid file left by a process that is gone.
    gone = subprocess.Popen(["true"])
    gone.wait()
    pid_file.write_text(f"{gone.pid}\n")
    r = run([sluice, "-s", "reload", "-c", str(conf)])
    assert r.returncode == 1
    assert f"no process {gone.pid}" in r.stderr and "not running" in r.stderr, r.stderr

    pid_file.write_text("garbage\n")
    r = run([sluice, "-s", "stop", "-c", str(conf)])
    assert r.returncode == 1
    assert "holds no process id" in r.stderr, r.stderr


def test_sluice_s_with_an_invalid_file(sluice, tmp_path):
    conf = tmp_path / "c.json"
    conf.write_text('{\n  "pid_file": "' + str(tmp_path / "x.pid") + '",\n  "workers": 0\n}\n')
    r = run([sluice, "-s", "reload", "-c", str(conf)])
    assert r.returncode == 1
    assert r.stderr.startswith(f"{conf}:3: workers:"), r.stderr
    assert "not sending SIGHUP" in r.stderr
    # stop still finds the pid file named in a broken file.
    r = run([sluice, "-s", "stop", "-c", str(conf)])
    assert r.returncode == 1
    assert f"no pid file {tmp_path / 'x.pid'}" in r.stderr, r.stderr


def test_sluice_s_usage(sluice):
    r = run([sluice, "-s", "restart"])
    assert r.returncode == 2 and "reload or stop" in r.stderr
    r = run([sluice, "-t", "-s", "reload"])
    assert r.returncode == 2


def test_sighup_during_shutdown_is_ignored(sluice_proxy, nginx_origin):
    p = sluice_proxy({"timeouts": {"shutdown_grace": "30s"}})
    with RawClient(p.port) as c:
        # A slow download keeps the drain going.
        c.send(request("GET", f"{nginx_origin.url}/slow/100k.bin",
                       f"127.0.0.1:{nginx_origin.port}"))
        head = c.read_head()
        assert head.status == 200
        mark = error_log(p).mark()
        p.signal(signal.SIGTERM)
        error_log(p).wait_line(r"SIGTERM: no new connections", mark)
        p.signal(signal.SIGHUP)
        error_log(p).wait_line(r"reload ignored: the proxy is shutting down", mark)
        body = c.read(int(head.header("content-length")))
    assert len(body) == 100 * 1024
    assert p.wait_exit(20) == 0
    assert os.path.exists(p.error_log)


def test_changed_error_log_path_is_used(sluice_proxy):
    p = sluice_proxy()
    new_log = p.dir / "error-2.log"
    mark = error_log(p).mark()
    write_config(p, {"log": {"error": str(new_log)}})
    p.signal(signal.SIGHUP)
    LogFile(new_log).wait_line(r"\[info\] main: reloaded .* \(generation 2\)")
    old = error_log(p).entries(mark)
    assert any("SIGHUP: reloading" in line for line in old), old
    assert not any("reloaded" in line for line in old), old
    # And back: the old file gets the lines again.
    mark = error_log(p).mark()
    write_config(p, {"log": {"error": str(p.error_log)}})
    p.signal(signal.SIGHUP)
    error_log(p).wait_line(r"reloaded .* \(generation 3\)", mark)
