"""Signals to the running proxy: SIGTERM during a download stops accepting
(new connections are refused), lets the download finish byte for byte and
exits 0; SIGINT does the same and closes idle keep-alive connections at
once; SIGUSR1 reopens the access log after it was renamed."""
import hashlib
import os
import signal
import subprocess
import time

import servers
from proxyutil import RawClient, connect_refused, request, via, wait_for


def test_sigterm_lets_a_download_finish(sluice_proxy, nginx_origin, tmp_path):
    # 192 KiB at nginx's /slow/ rate (16 KiB at once, then 64 KiB/s): ~2.8 s.
    name = "sigterm-192k.bin"
    data = os.urandom(192 * 1024)
    (nginx_origin.files_dir / name).write_bytes(data)
    p = sluice_proxy({"timeouts": {"shutdown_grace": "30s"}})
    out = tmp_path / "out.bin"
    cp = subprocess.Popen(["curl", "-q", "-sS", "--max-time", "20", "-x", p.url, "-o", out,
                           f"{nginx_origin.url}/slow/{name}"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=servers.clean_env())
    try:
        wait_for(lambda: out.exists() and out.stat().st_size >= 16 * 1024, 10,
                 "the download to start")
        assert cp.poll() is None, "the download ended before SIGTERM"
        assert out.stat().st_size < len(data)
        p.signal(signal.SIGTERM)
        wait_for(lambda: connect_refused(p.port), 5, "the listener to close after SIGTERM")
        _, err = cp.communicate(timeout=20)
    finally:
        if cp.poll() is None:
            cp.kill()
            cp.wait()
        (nginx_origin.files_dir / name).unlink()
    assert cp.returncode == 0, err
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    rc = p.wait_exit(10)
    assert rc == 0, f"sluice exit status {rc}\n{p.diagnostics()}"
    (e,) = p.wait_lines(0, name)
    assert e["status"] == 200 and e["bytes"] > len(data), e["raw"]


def test_sigint_closes_idle_connections_and_exits_0(sluice_proxy, nginx_origin):
    p = sluice_proxy({"timeouts": {"shutdown_grace": "30s"}})
    host = f"127.0.0.1:{nginx_origin.port}"
    with RawClient(p.port, timeout=10) as c:
        c.send(request("GET", f"{nginx_origin.url}/files/1k.bin", host))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        p.signal(signal.SIGINT)
        assert c.closed_by_peer(), "data instead of a close on the idle connection"
        rc = p.wait_exit(10)
        took = time.monotonic() - t0
    assert rc == 0, f"sluice exit status {rc}\n{p.diagnostics()}"
    assert took < 5, f"took {took:.1f}s to exit with only an idle connection"


def test_sigusr1_reopens_the_access_log(proxy, nginx_origin):
    r = via(proxy, f"{nginx_origin.url}/echo?before-rotate")
    assert r.status == 200
    proxy.wait_lines(0, "before-rotate")
    rotated = proxy.access_path.with_name("access.log.1")
    proxy.access_path.rename(rotated)
    proxy.signal(signal.SIGUSR1)
    wait_for(proxy.access_path.exists, 5, "the access log to be created again")
    r = via(proxy, f"{nginx_origin.url}/echo?after-rotate")
    assert r.status == 200
    (e,) = proxy.wait_lines(0, "after-rotate")
    assert e["status"] == 200
    old = rotated.read_text()
    assert "before-rotate" in old and "after-rotate" not in old
    assert proxy.alive()
