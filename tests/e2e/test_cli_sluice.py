"""End-to-end tests of the sluice binary's command line: checking and
printing configurations, and the errors bad ones get (file, line, path)."""
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, free_port, run

EXAMPLES = sorted((ROOT / "conf").glob("*.json")) + sorted((ROOT / "conf/examples").glob("*.json"))


# The examples read their passwords from these (password_env).
EXAMPLE_ENV = {"CORP_PROXY_PASSWORD": "example-1", "BACKUP_PROXY_PASSWORD": "example-2",
               "EDGE_PROXY_PASSWORD": "example-3"}


@pytest.mark.parametrize("conf", EXAMPLES, ids=lambda p: p.name)
def test_config_shipped_files_load(sluice, conf):
    r = run([sluice, "-t", "-c", str(conf)], env={**os.environ, **EXAMPLE_ENV})
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stderr


def test_config_dump_is_json_with_defaults(sluice):
    r = run([sluice, "-T", "-c", "conf/sluice.json"])
    assert r.returncode == 0, r.stderr
    cfg = json.loads(r.stdout)
    assert cfg["listen"] == ["127.0.0.1:3128"]
    assert cfg["timeouts"]["client_header"] == "30s"
    assert cfg["acl"]["connect_ports"] == [443]


def test_config_dump_round_trips(sluice, tmp_path):
    first = run([sluice, "-T", "-c", "conf/sluice.json"])
    again = tmp_path / "again.json"
    again.write_text(first.stdout)
    second = run([sluice, "-T", "-c", str(again)])
    assert second.returncode == 0, second.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)


def test_config_empty_object_is_valid(sluice, tmp_path):
    f = tmp_path / "empty.json"
    f.write_text("{}\n")
    r = run([sluice, "-T", "-c", str(f)])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["workers"] == "auto"


def test_cli_run_starts_the_proxy_and_stops_on_sigterm(sluice, tmp_path):
    """sluice -c FILE serves until SIGTERM, logging "listening on" once its
    sockets are open, and exits 0 after the drain."""
    port = free_port()
    conf = tmp_path / "run.json"
    conf.write_text(json.dumps({"listen": [f"127.0.0.1:{port}"], "workers": 1,
                                "log": {"access": "", "error": "-"}}))
    p = subprocess.Popen([sluice, "-c", str(conf)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = p.stderr.readline()
        assert "listening on 127.0.0.1:%d" % port in line, line
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /__sluice/health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200 ")
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
        assert p.stdout.read() == ""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_cli_listen_conflict_is_an_error(sluice, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        conf = tmp_path / "busy.json"
        conf.write_text(json.dumps({"listen": [f"127.0.0.1:{port}"], "workers": 2,
                                    "log": {"access": "", "error": "-"}}))
        r = run([sluice, "-c", str(conf)], timeout=10)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr, r.stderr


@pytest.mark.parametrize("text,expected", [
    ('{\n  "cache": {\n    "max_size": -3\n  }\n}\n',
     ':3: cache.max_size: expected a size like "10GiB", got -3'),
    ('{\n  "listen": ["127.0.0.1:3128"],\n  "workerz": 2\n}\n',
     ':3: workerz: unknown key'),
    ('{\n  "timeouts": {"connect": "ten seconds"}\n}\n',
     ':2: timeouts.connect:'),
    ('{\n  "acl": {\n    "connect_ports": [443,\n      70000]\n  }\n}\n',
     ':4: acl.connect_ports[1]:'),
    ('{\n  "routes": [\n    {"via": "direct"},\n    {"via": "nowhere"}\n  ]\n}\n',
     ':4: routes[1].via:'),
    ('{\n  "workers": true\n}\n', ':2: workers:'),
    ('{\n  "log": {\n    "level": "loud"\n  }\n}\n', ':3: log.level:'),
])
def test_config_error_names_file_line_and_path(sluice, tmp_path, text, expected):
    f = tmp_path / "bad.json"
    f.write_text(text)
    r = run([sluice, "-t", "-c", str(f)])
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert first.startswith(str(f) + ":"), first
    assert expected in first, first


def test_config_syntax_error_names_line(sluice, tmp_path):
    f = tmp_path / "syntax.json"
    f.write_text('{\n  "workers": 2,\n  "listen": [\n}\n')
    r = run([sluice, "-t", "-c", str(f)])
    assert r.returncode == 1
    assert r.stderr.startswith(f"{f}:4:"), r.stderr


def test_config_missing_file_is_an_error(sluice, tmp_path):
    r = run([sluice, "-t", "-c", str(tmp_path / "nope.json")])
    assert r.returncode == 1
    assert "nope.json" in r.stderr


def test_cli_usage_errors_exit_2(sluice):
    r = run([sluice, "--frobnicate"])
    assert r.returncode == 2
    assert "usage:" in r.stderr
    r = run([sluice, "-c", "conf/sluice.json", "extra"])
    assert r.returncode == 2


def test_cli_help_and_version(sluice):
    r = run([sluice, "--help"])
    assert r.returncode == 0 and "--config" in r.stdout
    r = run([sluice, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("sluice ")


def test_make_install_into_destdir(tmp_path):
    r = run(["make", "-s", "install", f"DESTDIR={tmp_path}", "PREFIX=/usr"], timeout=300)
    assert r.returncode == 0, r.stderr
    for p in ["usr/bin/sluice", "usr/bin/sluice-fetch", "usr/lib/libsluice.a",
              "usr/include/sluice/core/http_parse.h", "usr/share/sluice/conf/sluice.json"]:
        assert (tmp_path / p).exists(), p
    assert os.access(tmp_path / "usr/bin/sluice", os.X_OK)
    assert not list((tmp_path / "usr/include/sluice").rglob("*_internal.h"))
