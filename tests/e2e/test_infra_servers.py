"""Self-tests of the server fixtures (servers.py): real curl fetches the
origin's files directly, over TLS, and through each proxy, with good and
bad credentials; the log helpers see what happened; stopped servers leave
no process behind."""
import os
import time

import pytest

import servers
from conftest import curl, parse_echo, sha256_of


def fetch(url, *args):
    code, body, err = curl(*args, url)
    assert code == 0, f"curl {url} exit {code}: {err}"
    return body


def status_of(*args):
    """curl's exit code and the final HTTP status (0 when none)."""
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", *args)
    return code, int(out or b"0"), err


def headers_of(url, *args):
    """Status line and lower-cased header names to values of one GET."""
    code, out, err = curl("-o", "/dev/null", "-D", "-", *args, url)
    assert code == 0, err
    lines = out.decode().split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs


# -- the origin ------------------------------------------------------------------

def test_origin_http_files(nginx_origin):
    for name in ("1k.bin", "100k.bin", "10m.bin", "hello.txt", "empty.bin"):
        body = fetch(nginx_origin.file_url(name))
        assert len(body) == nginx_origin.size[name]
        assert sha256_of(body) == nginx_origin.sha256[name]


def test_origin_https_needs_the_test_ca(nginx_origin):
    url = nginx_origin.file_url("1k.bin", tls=True)
    assert sha256_of(fetch(url, "--cacert", nginx_origin.ca_path)) == nginx_origin.sha256["1k.bin"]
    host_url = f"https://localhost:{nginx_origin.tls_port}/files/1k.bin"
    body = fetch(host_url, "--cacert", nginx_origin.ca_path,
                 "--resolve", f"localhost:{nginx_origin.tls_port}:127.0.0.1")
    assert sha256_of(body) == nginx_origin.sha256["1k.bin"]
    code, _, _ = curl(url)
    assert code == 60  # peer certificate cannot be authenticated


def test_origin_chunked_and_validators(nginx_origin):
    line, h = headers_of(nginx_origin.file_url("100k.bin", prefix="/chunked/"))
    assert " 200" in line
    assert h.get("transfer-encoding") == "chunked" and "content-length" not in h
    body = fetch(nginx_origin.file_url("100k.bin", prefix="/chunked/"))
    assert sha256_of(body) == nginx_origin.sha256["100k.bin"]
    line, h = headers_of(nginx_origin.file_url("1k.bin"))
    assert h["content-length"] == "1024" and "etag" in h and "last-modified" in h
    code, status, _ = status_of("-H", f"If-None-Match: {h['etag']}", nginx_origin.file_url("1k.bin"))
    assert (code, status) == (0, 304)
    _, h = headers_of(nginx_origin.file_url("1k.bin", prefix="/cache/max-age/"))
    assert h["cache-control"] == "max-age=60" and "expires" in h
    _, h = headers_of(nginx_origin.file_url("1k.bin", prefix="/cache/no-store/"))
    assert h["cache-control"] == "no-store"
    _, h = headers_of(nginx_origin.file_url("1k.bin", prefix="/cache/last-modified-only/"))
    assert "etag" not in h and "last-modified" in h
    _, h = headers_of(nginx_origin.file_url("1k.bin", prefix="/close/"))
    assert h["connection"] == "close"


def test_origin_echo_post_and_upload(nginx_origin, tmp_path):
    e = parse_echo(fetch(nginx_origin.url + "/echo?a=1", "-H", "X-Test: hello"))
    assert e["method"] == "GET" and e["uri"] == "/echo?a=1" and e["x-test"] == "hello"
    body = tmp_path / "body"
    body.write_bytes(os.urandom(100_000))
    e = parse_echo(fetch(nginx_origin.url + "/post", "--data-binary", f"@{body}",
                         "-H", "Transfer-Encoding: chunked"))
    assert e["method"] == "POST" and e["body-length"] == "100000"
    assert e["client-transfer-encoding"] == "chunked" and e["client-content-length"] == ""
    e = parse_echo(fetch(nginx_origin.url + "/post", "--data-binary", f"@{body}"))
    assert e["client-content-length"] == "100000" and e["body-length"] == "100000"
    code, status, err = status_of("-T", body, nginx_origin.url + "/upload/a/b.bin")
    assert (code, status) == (0, 201), err
    stored = nginx_origin.upload_dir / "a" / "b.bin"
    assert sha256_of(stored.read_bytes()) == sha256_of(body.read_bytes())


def test_origin_redirects_statuses_auth(nginx_origin):
    _, h = headers_of(nginx_origin.url + "/redirect/301")
    assert h["location"] == nginx_origin.file_url("1k.bin")
    _, h = headers_of(nginx_origin.url + "/redirect/relative")
    assert h["location"] == "/files/1k.bin"
    code, status, _ = status_of("-L", nginx_origin.url + "/redirect/chain")
    assert (code, status) == (0, 200)
    code, _, _ = status_of("-L", "--max-redirs", "5", nginx_origin.url + "/redirect/loop")
    assert code == 47  # too many redirects
    for c in (204, 304, 404, 500, 503):
        assert status_of(f"{nginx_origin.url}/status/{c}")[:2] == (0, c)
    url = nginx_origin.file_url("1k.bin", prefix="/auth/basic/")
    assert status_of(url)[:2] == (0, 401)
    assert status_of("-u", f"{nginx_origin.auth_user}:{nginx_origin.auth_password}", url)[:2] == (0, 200)


def test_origin_slow_location_is_rate_limited(nginx_origin):
    t0 = time.monotonic()
    body = fetch(nginx_origin.file_url("100k.bin", prefix="/slow/"))
    took = time.monotonic() - t0
    assert sha256_of(body) == nginx_origin.sha256["100k.bin"]
    assert took >= 0.8, f"100 KiB at 64 KiB/s after 16 KiB took only {took:.2f}s"


def test_origin_log_shows_keepalive_reuse(nginx_origin):
    mark = nginx_origin.access_log.mark()
    url = nginx_origin.file_url("1k.bin")
    fetch(url, "-o", "/dev/null", url, "-o", "/dev/null", "-H", "X-Test: reuse")
    a, b = nginx_origin.access_log.wait(2, since=mark, match=lambda e: e["x_test"] == "reuse")
    assert a["connection"] == b["connection"]
    assert (a["connection_requests"], b["connection_requests"]) == (1, 2)
    assert a["request"] == "GET /files/1k.bin HTTP/1.1" and a["status"] == 200
    assert a["body_bytes_sent"] == 1024 and not a["proxy_auth_present"]
    mark = nginx_origin.access_log.mark()
    fetch(url, "-o", "/dev/null", "-H", "X-Test: fresh")
    (c,) = nginx_origin.access_log.wait(1, since=mark)
    assert c["connection"] != a["connection"] and c["connection_requests"] == 1


# -- Squid -----------------------------------------------------------------------

def test_squid_basic(nginx_origin, squid_basic):
    url = nginx_origin.file_url("1k.bin")
    mark, omark = squid_basic.access_log.mark(), nginx_origin.access_log.mark()
    body = fetch(url, "-x", squid_basic.proxy_url, "-H", "X-Test: squid-basic")
    assert sha256_of(body) == nginx_origin.sha256["1k.bin"]
    (e,) = squid_basic.access_log.wait(1, since=mark, match=lambda e: e["status"] == 200)
    assert e["user"] == squid_basic.user and e["method"] == "GET" and e["url"] == url
    (o,) = nginx_origin.access_log.wait(1, since=omark, match=lambda e: e["x_test"] == "squid-basic")
    assert "sluice-e2e-squid" in o["via"] and not o["proxy_auth_present"]
    code, status, _ = status_of("-x", f"http://{squid_basic.user}:wrong@{squid_basic.host}:{squid_basic.port}", url)
    assert (code, status) == (0, 407)
    assert status_of("-x", squid_basic.url, url)[:2] == (0, 407)


def test_squid_digest(nginx_origin, squid_digest):
    url = nginx_origin.file_url("1k.bin")
    mark = squid_digest.access_log.mark()
    body = fetch(url, "--proxy-digest", "-x", squid_digest.proxy_url)
    assert sha256_of(body) == nginx_origin.sha256["1k.bin"]
    (e,) = squid_digest.access_log.wait(1, since=mark, match=lambda e: e["status"] == 200)
    assert e["user"] == squid_digest.user
    bad = f"http://{squid_digest.user}:wrong@{squid_digest.host}:{squid_digest.port}"
    assert status_of("--proxy-digest", "-x", bad, url)[:2] == (0, 407)
    _, h = headers_of(url, "-x", squid_digest.url)
    assert h["proxy-authenticate"].startswith("Digest ")


def test_squid_connect_to_tls_origin(nginx_origin, squid_basic):
    mark = squid_basic.access_log.mark()
    url = nginx_origin.file_url("1k.bin", tls=True)
    body = fetch(url, "-p", "-x", squid_basic.proxy_url, "--cacert", nginx_origin.ca_path)
    assert sha256_of(body) == nginx_origin.sha256["1k.bin"]
    (e,) = squid_basic.access_log.wait(1, since=mark, match=lambda e: e["method"] == "CONNECT")
    assert e["url"] == f"127.0.0.1:{nginx_origin.tls_port}" and e["user"] == squid_basic.user


def test_squid_open(nginx_origin, squid_open):
    body = fetch(nginx_origin.file_url("1k.bin"), "-x", squid_open.url)
    assert sha256_of(body) == nginx_origin.sha256["1k.bin"]


# -- SOCKS -----------------------------------------------------------------------

def test_dante_username(nginx_origin, dante):
    url = nginx_origin.file_url("1k.bin")
    mark = dante.log.mark()
    assert sha256_of(fetch(url, "-x", dante.url)) == nginx_origin.sha256["1k.bin"]
    dante.log.wait_line(rf"username%{dante.user}@", since=mark)
    code, _, err = curl("-x", f"socks5h://{dante.user}:wrong@{dante.host}:{dante.port}", url)
    assert code == 97, err  # rejected by the SOCKS server
    code, _, err = curl("-x", f"socks5h://{dante.host}:{dante.port}", url)
    assert code == 97, err  # no acceptable method


def test_dante_noauth(nginx_origin, dante_noauth):
    body = fetch(nginx_origin.file_url("1k.bin"), "-x", dante_noauth.url)
    assert sha256_of(body) == nginx_origin.sha256["1k.bin"]


def test_microsocks(nginx_origin, microsocks, microsocks_auth):
    url = nginx_origin.file_url("1k.bin", tls=True)
    for m in (microsocks, microsocks_auth):
        body = fetch(url, "-x", m.url, "--cacert", nginx_origin.ca_path)
        assert sha256_of(body) == nginx_origin.sha256["1k.bin"]
    code, _, err = curl("-x", f"socks5h://{microsocks_auth.user}:wrong@127.0.0.1:{microsocks_auth.port}", url)
    assert code == 97, err


# -- process handling ------------------------------------------------------------

@pytest.mark.parametrize("kind", ["dante", "squid"])
def test_stop_leaves_no_process(kind, tmp_path):
    """Dante forks children, Squid auth helpers in sessions of their own:
    after stop() none is left, not even as a zombie."""
    if kind == "dante":
        server = servers.Dante(tmp_path, auth=False)
    else:
        server = servers.Squid(tmp_path, auth="basic")
    sp = server.server
    pids = sp.members()
    assert sp.alive() and sp.proc.pid in pids
    server.stop()
    assert not sp.alive() and sp.members() == set()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), \
            f"{pid} left behind: {servers._proc_table().get(pid)}"
    if kind == "squid":
        assert not any(e.name.startswith(server.service + "-") for e in os.scandir("/dev/shm"))
        assert not server.dir.exists() and (tmp_path / "cache.log").exists()
