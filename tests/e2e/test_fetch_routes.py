"""sluice-fetch downloads through every kind of route: direct (http and
https), one proxy hop of each kind (Squid with Basic and Digest, Dante with
username/password, microsocks without auth) and chains of two hops, each a
10 MiB file checked byte for byte; what the proxies saw is read from their
logs. Also: the proxy credential cache (one 407 per proxy, then
Proxy-Authorization goes out preemptively) and -v's per-hop trace."""
import hashlib

import pytest

from fetchutil import err, fetch_run

BIG = "10m.bin"


def download(fetch, tmp_path, url, *args):
    out = tmp_path / "out.bin"
    r = fetch_run(fetch, "-sS", "-o", out, *args, url)
    assert r.returncode == 0, err(r)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def test_fetch_route_direct_http(fetch, nginx_origin, tmp_path):
    got = download(fetch, tmp_path, nginx_origin.file_url(BIG))
    assert got == nginx_origin.sha256[BIG]


def test_fetch_route_direct_https(fetch, nginx_origin, tmp_path):
    got = download(fetch, tmp_path, nginx_origin.file_url(BIG, tls=True),
                   "--cacert", nginx_origin.ca_path)
    assert got == nginx_origin.sha256[BIG]


def _squid_saw(squid, since, target, user):
    hits = squid.access_log.wait(1, since, lambda e: e["method"] == "CONNECT"
                                 and e["url"] == target and e["status"] == 200)
    assert all(e["user"] == user for e in hits), hits


@pytest.mark.parametrize("which", ["squid_basic", "squid_digest"])
def test_fetch_route_squid_auth(fetch, nginx_origin, tmp_path, request, which):
    squid = request.getfixturevalue(which)
    mark = squid.access_log.mark()
    got = download(fetch, tmp_path, nginx_origin.file_url(BIG), "-x", squid.proxy_url)
    assert got == nginx_origin.sha256[BIG]
    _squid_saw(squid, mark, f"{nginx_origin.host}:{nginx_origin.port}", squid.user)


def test_fetch_route_dante_username(fetch, nginx_origin, dante, tmp_path):
    mark = dante.log.mark()
    got = download(fetch, tmp_path, nginx_origin.file_url(BIG, tls=True), "-x", dante.url,
                   "--cacert", nginx_origin.ca_path)
    assert got == nginx_origin.sha256[BIG]
    dante.log.wait_line(rf"username%{dante.user}@", since=mark)


def test_fetch_route_microsocks(fetch, nginx_origin, microsocks, tmp_path):
    got = download(fetch, tmp_path, nginx_origin.file_url(BIG), "-x", microsocks.url)
    assert got == nginx_origin.sha256[BIG]


def test_fetch_chain_socks5_then_squid(fetch, nginx_origin, dante, squid_basic, tmp_path):
    mark = squid_basic.access_log.mark()
    dmark = dante.log.mark()
    got = download(fetch, tmp_path, nginx_origin.file_url(BIG, tls=True),
                   "-x", dante.url, "-x", squid_basic.proxy_url,
                   "--cacert", nginx_origin.ca_path)
    assert got == nginx_origin.sha256[BIG]
    # Dante carried us to Squid, Squid to the origin.
    dante.log.wait_line(rf"127\.0\.0\.1\.{squid_basic.port}\b", since=dmark)
    _squid_saw(squid_basic, mark, f"{nginx_origin.host}:{nginx_origin.tls_port}",
               squid_basic.user)


def test_fetch_chain_squid_then_squid(fetch, nginx_origin, squid_open, squid_basic, tmp_path):
    mark_open = squid_open.access_log.mark()
    mark = squid_basic.access_log.mark()
    got = download(fetch, tmp_path, nginx_origin.file_url(BIG),
                   "-x", squid_open.url, "-x", squid_basic.proxy_url)
    assert got == nginx_origin.sha256[BIG]
    _squid_saw(squid_open, mark_open, f"{squid_basic.host}:{squid_basic.port}", None)
    _squid_saw(squid_basic, mark, f"{nginx_origin.host}:{nginx_origin.port}",
               squid_basic.user)


def test_fetch_proxy_credentials_sent_preemptively(fetch, nginx_origin, squid_basic):
    """After one 407, later CONNECTs through the same proxy (new
    connections: three origins) carry the credentials at once."""
    mark = squid_basic.access_log.mark()
    other = f"http://localhost:{nginx_origin.port}/files/hello.txt"
    r = fetch_run(fetch, "-sS", "-x", squid_basic.proxy_url, "--cacert", nginx_origin.ca_path,
                  nginx_origin.file_url("hello.txt"),
                  nginx_origin.file_url("hello.txt", tls=True), other)
    assert r.returncode == 0, err(r)
    assert r.stdout == b"hello from the sluice origin\n" * 3
    tunnels = squid_basic.access_log.wait(
        3, mark, lambda e: e["method"] == "CONNECT" and e["status"] == 200)
    denied = [e for e in squid_basic.access_log.entries(mark) if e["status"] == 407]
    assert len(tunnels) == 3 and len(denied) == 1, (tunnels, denied)


def test_fetch_verbose_traces_each_hop(fetch, nginx_origin, dante, squid_basic):
    r = fetch_run(fetch, "-v", "-x", dante.url, "-x", squid_basic.proxy_url,
                  "--cacert", nginx_origin.ca_path, nginx_origin.file_url("hello.txt", tls=True))
    assert r.returncode == 0, err(r)
    text = err(r)
    lines = text.splitlines()
    want_in_order = [
        f"* route to 127.0.0.1:{nginx_origin.tls_port}: proxy hop 1 socks5h://127.0.0.1:"
        f"{dante.port}, proxy hop 2 http://127.0.0.1:{squid_basic.port}",
        f"* tcp hop 0: connected to 127.0.0.1:{dante.port}",
        "* socks5 hop 0: server chose username/password",
        "* socks5 hop 0: authenticated",
        f"* socks5 hop 0: CONNECT 127.0.0.1:{squid_basic.port}",
        "* connect hop 1: 200 Connection established",
        "* tls hop 2: TLSv1",
        "> GET /files/hello.txt HTTP/1.1",
        "< HTTP/1.1 200 OK",
    ]
    at = 0
    for want in want_in_order:
        while at < len(lines) and not lines[at].startswith(want):
            at += 1
        assert at < len(lines), f"missing (in order) {want!r} in:\n{text}"
    # The credentials never show.
    assert dante.password not in text and squid_basic.password not in text


def test_fetch_route_https_proxy_hop(fetch, nginx_origin, tls_proxy, tmp_path):
    """TLS to the proxy, CONNECT inside that TLS, then TLS to the origin inside
    the tunnel: two TLS layers stacked on one socket."""
    squid = tls_proxy.backend
    mark = squid.access_log.mark()
    got = download(fetch, tmp_path, nginx_origin.file_url(BIG, tls=True),
                   "-x", tls_proxy.url, "--cacert", nginx_origin.ca_path)
    assert got == nginx_origin.sha256[BIG]
    squid.access_log.wait(1, mark, lambda e: e["method"] == "CONNECT"
                          and e["url"] == f"{nginx_origin.host}:{nginx_origin.tls_port}")


def test_fetch_route_socks5_then_https_proxy(fetch, nginx_origin, microsocks, tls_proxy,
                                             tmp_path):
    got = download(fetch, tmp_path, nginx_origin.file_url(BIG, tls=True),
                   "-x", microsocks.url, "-x", tls_proxy.url,
                   "--cacert", nginx_origin.ca_path)
    assert got == nginx_origin.sha256[BIG]


def test_fetch_route_https_proxy_untrusted(fetch, nginx_origin, tls_proxy, tmp_path):
    """Without the test CA the proxy hop's certificate is refused, and the
    error names the proxy hop, not the target."""
    r = fetch_run(fetch, "-sS", "-o", tmp_path / "x", "-x", tls_proxy.url,
                  nginx_origin.file_url("1k.bin"))
    assert r.returncode == 60, err(r)
    msg = err(r)
    assert f"proxy hop 1 ({tls_proxy.url})" in msg, msg
    assert "issuer is not trusted" in msg, msg
