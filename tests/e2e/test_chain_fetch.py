"""sluice-fetch's forward mode (--proxy-mode forward): plain http:// goes to
the last HTTP proxy in absolute form over one kept connection, whatever
the target, with the 407 answered once and the credentials sent at once
afterwards (Basic and Digest with nonce counting); https:// still
tunnels; a refusal names the hop and the scheme."""
import pytest

from fetchutil import err, fetch_run

HELLO = "hello.txt"


@pytest.mark.parametrize("which", ["squid_basic", "squid_digest"])
def test_chain_fetch_forward_mode(fetch, nginx_origin, request, which, tmp_path):
    squid = request.getfixturevalue(which)
    o = nginx_origin
    urls = [o.file_url(HELLO), f"{o.url}/files/1k.bin", f"http://localhost:{o.port}/files/{HELLO}"]
    mark = squid.access_log.mark()
    args = []
    for i, u in enumerate(urls):
        args += ["-o", tmp_path / f"out{i}", u]
    r = fetch_run(fetch, "-sS", "--proxy-mode", "forward", "-x", squid.proxy_url, *args)
    assert r.returncode == 0, err(r)
    assert (tmp_path / "out0").read_bytes() == b"hello from the sluice origin\n"
    got = squid.access_log.wait(3, mark, lambda e: e["method"] == "GET" and e["status"] == 200)
    assert sorted(e["url"] for e in got) == sorted(urls), got
    assert all(e["user"] == squid.user for e in got), got
    # One challenge for the three requests; one connection to the proxy.
    assert len([e for e in squid.access_log.entries(mark) if e["status"] == 407]) == 1
    assert len({e["client_port"] for e in got}) == 1, got


def test_chain_fetch_forward_https_tunnels(fetch, nginx_origin, squid_basic, tmp_path):
    o = nginx_origin
    mark = squid_basic.access_log.mark()
    r = fetch_run(fetch, "-sS", "--proxy-mode", "forward", "-x", squid_basic.proxy_url,
                  "--cacert", o.ca_path, "-o", tmp_path / "o", o.file_url(HELLO, tls=True))
    assert r.returncode == 0, err(r)
    squid_basic.access_log.wait(1, mark, lambda e: e["method"] == "CONNECT"
                                and e["url"] == f"{o.host}:{o.tls_port}")


def test_chain_fetch_forward_wrong_password(fetch, nginx_origin, squid_basic):
    bad = squid_basic.proxy_url.replace(squid_basic.password, "wrong-pw")
    r = fetch_run(fetch, "-sS", "--proxy-mode", "forward", "-x", bad, nginx_origin.file_url(HELLO))
    assert r.returncode == 97, err(r)
    assert (f"proxy hop 1 (http://{squid_basic.host}:{squid_basic.port}) refused the "
            "credentials (HTTP 407, Basic)") in err(r), err(r)
    assert "wrong-pw" not in err(r)


def test_chain_fetch_forward_mode_needs_http_hop(fetch, nginx_origin, microsocks):
    r = fetch_run(fetch, "-sS", "--proxy-mode", "forward", "-x", microsocks.url,
                  nginx_origin.file_url(HELLO))
    assert r.returncode == 2, err(r)
    assert "--proxy-mode forward" in err(r)


def test_chain_fetch_middle_hop_status(fetch, nginx_origin, squid_open):
    """The status a middle hop answered comes with the error, not from the
    trace: no -v needed."""
    r = fetch_run(fetch, "-sS", "-x", squid_open.url, "-x", "http://127.0.0.1:9",
                  nginx_origin.file_url(HELLO))
    assert r.returncode == 7, err(r)
    assert (f"proxy hop 2 (http://127.0.0.1:9) could not be reached through proxy hop 1 "
            f"(http://{squid_open.host}:{squid_open.port}): it answered 503") in err(r), err(r)
