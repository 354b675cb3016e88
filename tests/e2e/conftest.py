"""Shared fixtures of the end-to-end suite.

The tests drive the real binaries from the build directory (SLUICE_BUILD,
set by `make e2e`), from the project root, and wait for conditions with
bounded timeouts instead of sleeping. The real servers they talk to
(nginx origin, Squid, Dante, microsocks) are managed by servers.py, whose
opening comment lists the fixtures below and what each one yields.

The proxy server's tests get sluice from two fixtures (proxyutil.py):
sluice_proxy, a factory starting build/sluice with proxyutil.base_config()
merged with a dict of overrides (stopped after the test), proxy, one
default instance shared by a test module (restarted if a test killed it),
and cache_proxy, one instance with the cache on shared by a test module.
Both fail the test at teardown when sluice crashed or did not exit 0 on
SIGTERM.
"""
import os
import subprocess
from pathlib import Path

import pytest

import proxyutil
import servers
from servers import curl, free_port, parse_echo, sha256_of  # noqa: F401 - for the tests

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SLUICE_BUILD", ROOT / "build"))


def run(args, timeout=30, **kw):
    """Runs a command to completion with a timeout, capturing text output."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          cwd=kw.pop("cwd", ROOT), **kw)


@pytest.fixture(scope="session")
def sluice():
    p = BUILD / "sluice"
    assert p.exists(), f"{p} is missing: run make first"
    return str(p)


@pytest.fixture(scope="session")
def fetch():
    p = BUILD / "sluice-fetch"
    assert p.exists(), f"{p} is missing: run make first"
    return str(p)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    return servers.TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def nginx_origin(tmp_path_factory, test_ca):
    origin = servers.NginxOrigin(tmp_path_factory.mktemp("nginx"), test_ca)
    yield from _serve(origin)


@pytest.fixture
def sluice_proxy(sluice, nginx_origin, tmp_path):
    """start(overrides=None, **kw) -> a running proxyutil.Sluice (kw:
    extra_ports, unix)."""
    started = []

    def start(overrides=None, **kw):
        p = proxyutil.Sluice(sluice, tmp_path / f"sluice-{len(started)}",
                             proxyutil.merge(proxyutil.base_config(nginx_origin), overrides), **kw)
        started.append(p)
        return p

    yield start
    problems = [m for m in map(proxyutil.finish, started) if m]
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def _module_proxy(sluice, nginx_origin, tmp_path_factory):
    box = {"n": 0, "proxy": None}

    def get():
        if box["proxy"] is None or not box["proxy"].alive():
            box["n"] += 1
            box["proxy"] = proxyutil.Sluice(
                sluice, tmp_path_factory.mktemp(f"sluice-module-{box['n']}"),
                proxyutil.base_config(nginx_origin))
        return box["proxy"]

    yield get
    if box["proxy"] is not None:
        problem = proxyutil.finish(box["proxy"])
        assert not problem, problem


@pytest.fixture(scope="module")
def cache_proxy(sluice, nginx_origin, tmp_path_factory):
    """A sluice with the cache on (cache.dir in a temporary directory),
    shared by a test module, its index rebuilt before the first test.
    Tests keep apart by URL (cacheutil.uniq())."""
    import cacheutil
    d = tmp_path_factory.mktemp("sluice-cache-module")
    p = proxyutil.Sluice(sluice, d / "sluice",
                         proxyutil.merge(proxyutil.base_config(nginx_origin),
                                         cacheutil.cache_conf(d / "cache")))
    p.cache_dir = d / "cache"
    cacheutil.wait_ready(p)
    yield p
    problem = proxyutil.finish(p)
    assert not problem, problem


@pytest.fixture
def proxy(_module_proxy):
    """The module's shared sluice (default configuration)."""
    p = _module_proxy()
    yield p
    assert p.alive(), f"sluice exited with {p.returncode()} during the test\n{p.diagnostics()}"


def _serve(server):
    """Yields a started server; at teardown only asks it to stop, so that the
    shutdowns of all session servers overlap (Squid takes about 2 s).
    pytest_sessionfinish below completes every stop: wait, SIGKILL after a
    bound, reap."""
    try:
        yield server
    finally:
        server.server.request_stop()


def _squid(tmp_path_factory, auth):
    if not Path(servers.SQUID).exists():
        pytest.skip(f"{servers.SQUID} is not installed")
    squid = servers.Squid(tmp_path_factory.mktemp(f"squid-{auth or 'open'}"), auth)
    return squid


@pytest.fixture(scope="session")
def squid_basic(tmp_path_factory):
    squid = _squid(tmp_path_factory, "basic")
    yield from _serve(squid)


@pytest.fixture(scope="session")
def squid_digest(tmp_path_factory):
    squid = _squid(tmp_path_factory, "digest")
    yield from _serve(squid)


@pytest.fixture(scope="session")
def squid_open(tmp_path_factory):
    squid = _squid(tmp_path_factory, None)
    yield from _serve(squid)


@pytest.fixture(scope="session")
def tls_proxy(tmp_path_factory, test_ca, squid_open):
    """An HTTPS proxy (TLS to the proxy, CONNECT inside) in front of squid_open."""
    p = servers.TlsProxy(tmp_path_factory.mktemp("tls-proxy"), test_ca, squid_open)
    yield from _serve(p)


@pytest.fixture(scope="session")
def dante(tmp_path_factory):
    why = servers.ensure_dante_user()
    if why:
        pytest.skip(why)
    d = servers.Dante(tmp_path_factory.mktemp("dante"), auth=True)
    yield from _serve(d)


@pytest.fixture(scope="session")
def dante_noauth(tmp_path_factory):
    d = servers.Dante(tmp_path_factory.mktemp("dante-noauth"), auth=False)
    yield from _serve(d)


@pytest.fixture(scope="session")
def microsocks(tmp_path_factory):
    m = servers.Microsocks(tmp_path_factory.mktemp("microsocks"))
    yield from _serve(m)


@pytest.fixture(scope="session")
def microsocks_auth(tmp_path_factory):
    m = servers.Microsocks(tmp_path_factory.mktemp("microsocks-auth"), auth=True)
    yield from _serve(m)


def pytest_sessionstart(session):
    """Clears what a killed earlier run left of its Squids (servers.py)."""
    servers.sweep_stale_squid_dirs()


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session, exitstatus):
    """Completes the stop of every server the fixtures signalled (or, after
    an interrupted run, of all still running), then, as a safety net,
    reports and kills any process a server left behind."""
    servers.stop_all()
    yield
    left = servers.strays()
    servers.stop_all()
    for pid, _ in left:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    if left:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line("e2e: killed leftover server processes: "
                          + "; ".join(f"{pid} {cmd}" for pid, cmd in left), red=True)
