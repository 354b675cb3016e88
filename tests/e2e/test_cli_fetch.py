"""End-to-end tests of sluice-fetch's URL inspection and its exit codes."""
from conftest import run


def info(fetch, url):
    r = run([fetch, "--url-info", url])
    fields = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        fields[k] = v.strip()
    return r, fields


def test_fetch_url_info_normalises_cache_key(fetch):
    r, f = info(fetch, "HTTP://user:pw@Example.COM:80/%7Euser/a/../b?q=1#frag")
    assert r.returncode == 0, r.stderr
    assert f["host"] == "Example.COM"
    assert f["port"] == "80"
    assert f["request-target"] == "/%7Euser/a/../b?q=1"
    assert f["cache-key"] == "http://example.com/~user/b?q=1"


def test_fetch_url_info_ipv6_literal(fetch):
    r, f = info(fetch, "https://[2001:DB8::1]/")
    assert r.returncode == 0, r.stderr
    assert f["host"] == "2001:DB8::1"
    assert f["port"] == "443 (default)"
    assert f["cache-key"] == "https://[2001:db8::1]/"


def test_fetch_url_info_bad_url_exit_3(fetch):
    for bad in ["http://a b/", "http://h:99999/", "http://[::1/", "http://%zz/"]:
        r = run([fetch, "--url-info", bad])
        assert r.returncode == 3, bad
        assert "sluice-fetch:" in r.stderr


def test_fetch_without_url_is_a_usage_error(fetch):
    r = run([fetch, "-s"])
    assert r.returncode == 2
    assert "no URL given" in r.stderr


def test_fetch_unknown_option_is_a_usage_error(fetch):
    r = run([fetch, "--no-such-option", "http://127.0.0.1/"])
    assert r.returncode == 2
    assert "--no-such-option" in r.stderr


def test_fetch_help(fetch):
    r = run([fetch, "--help"])
    assert r.returncode == 0 and "--url-info" in r.stdout
