"""sluice-fetch's HTTP options against the nginx origin: -L with each
redirect status, the limit, https -> http refused, credentials dropped on
another origin; -I, -i, -X, -H (adding and removing), -d, --data-binary
@file, -T; -f; -u; cookies (--cookie-jar round trip, -b); -o and -O; the
proxy environment (https_proxy through Squid, NO_PROXY, --noproxy);
--max-time; the progress line on a terminal only."""
import hashlib
import os
import pty
import select
import subprocess
import time

from conftest import ROOT, parse_echo
from fetchutil import dead_port, err, fetch_run, stats
import servers


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}: {err(r)}"
    return r.stdout


# -- redirects -------------------------------------------------------------------

def test_fetch_redirect_301_302_follow_to_file(fetch, nginx_origin):
    for code in (301, 302):
        body = ok(fetch_run(fetch, "-sS", "-L", f"{nginx_origin.url}/redirect/{code}"))
        assert hashlib.sha256(body).hexdigest() == nginx_origin.sha256["1k.bin"], code


def test_fetch_redirect_303_turns_post_into_get(fetch, nginx_origin):
    body = ok(fetch_run(fetch, "-sS", "-L", "-d", "a=1", f"{nginx_origin.url}/redirect/303"))
    e = parse_echo(body)
    assert e["method"] == "GET" and e["uri"] == "/echo" and e["content-length"] == ""


def test_fetch_redirect_307_308_keep_method_and_body(fetch, nginx_origin, tmp_path):
    data = tmp_path / "body.bin"
    data.write_bytes(os.urandom(5000))
    for code in (307, 308):
        body = ok(fetch_run(fetch, "-sS", "-L", "--data-binary", f"@{data}",
                            f"{nginx_origin.url}/redirect/{code}"))
        e = parse_echo(body)
        assert e["method"] == "POST" and e["body-length"] == "5000", (code, e)


def test_fetch_redirect_not_followed_without_L(fetch, nginx_origin):
    mark = nginx_origin.access_log.mark()
    r = fetch_run(fetch, "-sS", "-i", f"{nginx_origin.url}/redirect/302")
    assert ok(r).startswith(b"HTTP/1.1 302 ")
    assert [e["uri"] for e in nginx_origin.access_log.wait(1, mark)] == ["/redirect/302"]


def test_fetch_redirect_relative_and_chain(fetch, nginx_origin):
    for path in ("/redirect/relative", "/redirect/chain"):
        body = ok(fetch_run(fetch, "-sS", "-L", nginx_origin.url + path))
        assert hashlib.sha256(body).hexdigest() == nginx_origin.sha256["1k.bin"], path


def test_fetch_redirect_limit(fetch, nginx_origin):
    mark = nginx_origin.access_log.mark()
    r = fetch_run(fetch, "-L", "--max-redirs", "3", f"{nginx_origin.url}/redirect/loop")
    assert r.returncode == 47, err(r)
    assert "maximum (3) redirects followed" in err(r)
    assert len(nginx_origin.access_log.wait(4, mark)) == 4  # the first and three more
    r = fetch_run(fetch, "-L", f"{nginx_origin.url}/redirect/loop")
    assert r.returncode == 47 and "maximum (10) redirects" in err(r)


def test_fetch_redirect_https_to_http_refused(fetch, nginx_origin):
    url = f"{nginx_origin.tls_url}/redirect/http"
    r = fetch_run(fetch, "-L", "--cacert", nginx_origin.ca_path, url)
    assert r.returncode == 47, err(r)
    assert f"{url}: refusing to follow a redirect from https to http" in err(r)
    assert r.stdout == b""
    # http -> https is fine.
    body = ok(fetch_run(fetch, "-sS", "-L", "--cacert", nginx_origin.ca_path,
                        f"{nginx_origin.url}/redirect/https"))
    assert hashlib.sha256(body).hexdigest() == nginx_origin.sha256["1k.bin"]


def test_fetch_redirect_drops_credentials_on_another_host(fetch, nginx_origin):
    args = ["-sS", "-L", "-H", "Authorization: Bearer tok", "-H", "Cookie: c=1",
            "-H", "X-Test: kept"]
    e = parse_echo(ok(fetch_run(fetch, *args, f"{nginx_origin.url}/redirect/other-host")))
    assert e["host"] == f"localhost:{nginx_origin.port}"
    assert e["authorization"] == "" and e["cookie"] == "" and e["x-test"] == "kept"
    e = parse_echo(ok(fetch_run(fetch, *args, f"{nginx_origin.url}/redirect/303")))
    assert e["authorization"] == "Bearer tok" and e["cookie"] == "c=1"


# -- methods, headers, bodies -----------------------------------------------------

def test_fetch_head(fetch, nginx_origin):
    mark = nginx_origin.access_log.mark()
    out = ok(fetch_run(fetch, "-sS", "-I", nginx_origin.file_url("1k.bin")))
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n\r\n")
    assert b"\r\nContent-Length: 1024\r\n" in out
    assert nginx_origin.access_log.wait(1, mark)[0]["method"] == "HEAD"


def test_fetch_include(fetch, nginx_origin):
    out = ok(fetch_run(fetch, "-sS", "-i", nginx_origin.file_url("hello.txt")))
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and body == b"hello from the sluice origin\n"


def test_fetch_method_and_headers(fetch, nginx_origin):
    e = parse_echo(ok(fetch_run(fetch, "-sS", "-X", "DELETE", "-H", "X-Test: abc",
                                "-A", "agent/1", f"{nginx_origin.url}/echo")))
    assert e["method"] == "DELETE" and e["x-test"] == "abc" and e["user-agent"] == "agent/1"
    mark = nginx_origin.access_log.mark()
    e = parse_echo(ok(fetch_run(fetch, "-sS", "-H", "User-Agent:", "-H", "Accept:",
                                f"{nginx_origin.url}/echo")))
    assert e["user-agent"] == ""
    assert nginx_origin.access_log.wait(1, mark)[0]["user_agent"] == ""


def test_fetch_data_form(fetch, nginx_origin, tmp_path):
    form = tmp_path / "form.txt"
    form.write_text("b=2\nc=3\r\n")
    e = parse_echo(ok(fetch_run(fetch, "-sS", "-d", "a=1", "-d", f"@{form}",
                                f"{nginx_origin.url}/post")))
    # "a=1&b=2c=3": the file's newlines are dropped, items joined by '&'.
    assert e["method"] == "POST" and e["body-length"] == str(len("a=1&b=2c=3"))
    assert e["client-content-length"] == e["body-length"]


def test_fetch_data_binary_file(fetch, nginx_origin, tmp_path):
    data = tmp_path / "blob.bin"
    data.write_bytes(os.urandom(3 * 1024 * 1024) + b"\n\r\n")
    e = parse_echo(ok(fetch_run(fetch, "-sS", "--data-binary", f"@{data}",
                                f"{nginx_origin.url}/post")))
    assert e["method"] == "POST" and e["body-length"] == str(data.stat().st_size)


def test_fetch_upload_file(fetch, nginx_origin, tmp_path):
    data = tmp_path / "up.bin"
    data.write_bytes(os.urandom(200 * 1024))
    ok(fetch_run(fetch, "-sS", "-T", data, f"{nginx_origin.url}/upload/fetch-test/"))
    stored = nginx_origin.upload_dir / "fetch-test" / "up.bin"
    assert stored.read_bytes() == data.read_bytes()


def test_fetch_upload_missing_file(fetch, nginx_origin, tmp_path):
    r = fetch_run(fetch, "-T", tmp_path / "missing", f"{nginx_origin.url}/upload/x")
    assert r.returncode == 26 and "cannot read" in err(r)


def test_fetch_fail_on_http_error(fetch, nginx_origin, tmp_path):
    out = tmp_path / "out"
    r = fetch_run(fetch, "-f", "-o", out, f"{nginx_origin.url}/status/404")
    assert r.returncode == 22 and "returned error: 404" in err(r)
    assert not out.exists()
    r = fetch_run(fetch, "-sf", f"{nginx_origin.url}/status/500")
    assert r.returncode == 22 and r.stderr == b"" and r.stdout == b""
    # Without -f an error status is a successful transfer.
    r = fetch_run(fetch, "-sS", f"{nginx_origin.url}/status/404")
    assert r.returncode == 0 and b"404" in r.stdout


def test_fetch_server_auth(fetch, nginx_origin):
    url = f"{nginx_origin.url}/auth/basic/hello.txt"
    body = ok(fetch_run(fetch, "-sS", "-u",
                        f"{nginx_origin.auth_user}:{nginx_origin.auth_password}", url))
    assert body == b"hello from the sluice origin\n"
    r = fetch_run(fetch, "-f", "-u", f"{nginx_origin.auth_user}:wrong", url)
    assert r.returncode == 22 and "401" in err(r)


# -- cookies ---------------------------------------------------------------------

def test_fetch_cookie_jar_round_trip(fetch, nginx_origin, tmp_path):
    jar = tmp_path / "jar.txt"
    # Within one run the session cookie is sent too.
    out = ok(fetch_run(fetch, "-sS", "-c", jar, f"{nginx_origin.url}/cookie/set",
                       f"{nginx_origin.url}/echo"))
    echoes = out.split(b"method: ")[1:]
    sent = parse_echo(b"method: " + echoes[1])["cookie"]
    assert sorted(sent.split("; ")) == ["session=s1", "sluice=jar-value"], sent
    lines = [l for l in jar.read_text().splitlines() if l and not l.startswith("#")]
    assert len(lines) == 1
    f = lines[0].split("\t")
    assert f[0] == "127.0.0.1" and f[5:] == ["sluice", "jar-value"]
    # The next run loads the jar (the session cookie is gone).
    e = parse_echo(ok(fetch_run(fetch, "-sS", "-c", jar, f"{nginx_origin.url}/echo")))
    assert e["cookie"] == "sluice=jar-value"
    e = parse_echo(ok(fetch_run(fetch, "-sS", "-b", jar, f"{nginx_origin.url}/echo")))
    assert e["cookie"] == "sluice=jar-value"
    e = parse_echo(ok(fetch_run(fetch, "-sS", "-b", "k=v", f"{nginx_origin.url}/echo")))
    assert e["cookie"] == "k=v"


# -- output files -----------------------------------------------------------------

def test_fetch_output_options(fetch, nginx_origin, tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.txt"
    # Each -o goes to the first URL without an output, before or after it.
    ok(fetch_run(fetch, "-sS", "-o", a, nginx_origin.file_url("1k.bin"),
                 nginx_origin.file_url("hello.txt"), "-o", b))
    assert hashlib.sha256(a.read_bytes()).hexdigest() == nginx_origin.sha256["1k.bin"]
    assert b.read_bytes() == b"hello from the sluice origin\n"
    ok(fetch_run(fetch, "-sS", "-O", nginx_origin.file_url("100k.bin"), cwd=tmp_path))
    assert hashlib.sha256((tmp_path / "100k.bin").read_bytes()).hexdigest() == \
        nginx_origin.sha256["100k.bin"]
    r = fetch_run(fetch, "-O", f"{nginx_origin.url}/", cwd=tmp_path)
    assert r.returncode == 23 and "no file name" in err(r)
    r = fetch_run(fetch, "-o", tmp_path / "no-such-dir" / "x", nginx_origin.file_url("1k.bin"))
    assert r.returncode == 23 and "cannot open" in err(r)


def test_fetch_slow_reader_pushes_back(fetch, nginx_origin):
    """stdout is a pipe read slowly: the body is not gathered in memory."""
    base = stats(fetch_run(fetch, "-s", "--stats", "-o", "/dev/null",
                           nginx_origin.file_url("1k.bin")))["max_rss_kb"]
    e = servers.clean_env()
    p = subprocess.Popen([fetch, "-s", "--stats", nginx_origin.file_url("10m.bin")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=ROOT)
    h = hashlib.sha256()
    while True:
        chunk = p.stdout.read(256 * 1024)
        if not chunk:
            break
        h.update(chunk)
        time.sleep(0.01)  # a slow consumer, not a synchronisation
    _, errb = p.communicate(timeout=30)
    assert p.returncode == 0, errb
    assert h.hexdigest() == nginx_origin.sha256["10m.bin"]
    rss = int(errb.decode().split("max_rss_kb=")[1].split()[0])
    assert rss < base + 6 * 1024, (base, rss)


def test_fetch_write_error_on_closed_pipe(fetch, nginx_origin):
    p = subprocess.Popen([fetch, "-S", "-s", nginx_origin.file_url("10m.bin")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=servers.clean_env(), cwd=ROOT)
    p.stdout.read(1000)
    p.stdout.close()
    _, errb = p.communicate(timeout=30)
    assert p.returncode == 23 and b"failed writing the output" in errb


# -- proxies from the environment --------------------------------------------------

def test_fetch_env_https_proxy(fetch, nginx_origin, squid_open):
    mark = squid_open.access_log.mark()
    url = nginx_origin.file_url("hello.txt", tls=True)
    out = ok(fetch_run(fetch, "-sS", "--cacert", nginx_origin.ca_path, url,
                       env={"https_proxy": squid_open.url}))
    assert out == b"hello from the sluice origin\n"
    squid_open.access_log.wait(1, mark, lambda e: e["method"] == "CONNECT" and
                               e["url"] == f"127.0.0.1:{nginx_origin.tls_port}")


def test_fetch_env_http_proxy_lower_case_only(fetch, nginx_origin, squid_open):
    dead = f"http://127.0.0.1:{dead_port()}"
    url = nginx_origin.file_url("hello.txt")
    # HTTP_PROXY is ignored for http (curl's rule); http_proxy is used.
    ok(fetch_run(fetch, "-sS", url, env={"HTTP_PROXY": dead}))
    mark = squid_open.access_log.mark()
    ok(fetch_run(fetch, "-sS", url, env={"http_proxy": squid_open.url}))
    squid_open.access_log.wait(1, mark, lambda e: e["method"] == "CONNECT")
    # ALL_PROXY with SOCKS.
    r = fetch_run(fetch, url, env={"ALL_PROXY": f"socks5h://127.0.0.1:{dead_port()}"})
    assert r.returncode == 7 and "proxy hop 1 (socks5h://" in err(r)


def test_fetch_no_proxy_bypass(fetch, nginx_origin):
    dead = f"http://127.0.0.1:{dead_port()}"
    url = nginx_origin.file_url("hello.txt", tls=True)
    base = ["-sS", "--cacert", nginx_origin.ca_path]
    r = fetch_run(fetch, *base, url, env={"https_proxy": dead})
    assert r.returncode == 7, "the dead proxy is used without NO_PROXY"
    ok(fetch_run(fetch, *base, url, env={"https_proxy": dead, "NO_PROXY": "example.com,127.0.0.1"}))
    ok(fetch_run(fetch, *base, url, env={"https_proxy": dead, "no_proxy": "*"}))
    # --noproxy replaces NO_PROXY, and applies to -x as well.
    ok(fetch_run(fetch, *base, "--noproxy", "127.0.0.1", url,
                 env={"https_proxy": dead, "NO_PROXY": "example.com"}))
    r = fetch_run(fetch, *base, "--noproxy", "example.com", url,
                  env={"https_proxy": dead, "NO_PROXY": "127.0.0.1"})
    assert r.returncode == 7
    ok(fetch_run(fetch, *base, "-x", dead, "--noproxy", "127.0.0.0/8", url))


# -- time limits and progress ------------------------------------------------------

def test_fetch_max_time(fetch, nginx_origin, tmp_path):
    out = tmp_path / "partial"
    r = fetch_run(fetch, "-m", "0.5", "-o", out, f"{nginx_origin.url}/slow/10m.bin")
    assert r.returncode == 28, err(r)
    assert "timed out after 0.5 s" in err(r)
    assert 16 * 1024 <= out.stat().st_size < 10 * 1024 * 1024  # a partial file stays


def test_fetch_progress_only_on_a_terminal(fetch, nginx_origin, tmp_path):
    url = f"{nginx_origin.url}/slow/100k.bin"
    r = fetch_run(fetch, "-o", tmp_path / "x", url)
    assert r.returncode == 0 and r.stderr == b"", "no progress when stderr is not a tty"
    master, slave = pty.openpty()
    p = subprocess.Popen([fetch, "-o", tmp_path / "y", url], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=slave, env=servers.clean_env())
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 20)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert p.wait(timeout=20) == 0
    assert b"\r" in seen and b"%" in seen and b"/s" in seen, seen
    assert seen.endswith(b"\r\x1b[K"), seen[-80:]
    assert (tmp_path / "y").stat().st_size == 100 * 1024
