"""Upstream kinds beyond the examples: an HTTPS proxy (TLS to the proxy,
then CONNECT inside, or absolute-form requests inside in forward mode),
SOCKS5 with username/password (microsocks) and refused SOCKS5
credentials, which name the upstream in the 502 and never show the
password."""
from proxyutil import via
from routeutil import assert_no_secrets, wrong_password
from servers import sha256_of

HELLO = "hello.txt"


def ok(proxy, nginx_origin, tls=False, tunnel=False):
    r = via(proxy, nginx_origin.file_url(HELLO, tls=tls), "--cacert", nginx_origin.ca_path,
            tunnel=tunnel)
    assert r.rc == 0 and r.status == 200, r
    assert sha256_of(r.body) == nginx_origin.sha256[HELLO]


def test_chain_https_upstream(sluice_proxy, nginx_origin, tls_proxy, squid_open):
    o = nginx_origin
    for mode in ("connect", "forward"):
        mark = squid_open.access_log.mark()
        p = sluice_proxy({
            "acl": {"connect_ports": [o.port, o.tls_port]},
            "upstreams": {"tls": {"type": "https", "host": tls_proxy.host, "port": tls_proxy.port,
                                  "mode": mode, "tls": {"ca_file": str(o.ca_path)}}},
            "routes": [{"via": "tls"}]})
        ok(p, o)
        ok(p, o, tls=True)
        ok(p, o, tunnel=True)
        if mode == "forward":
            squid_open.access_log.wait(1, mark, lambda e: e["method"] == "GET"
                                       and e["url"] == o.file_url(HELLO))
        squid_open.access_log.wait(1, mark, lambda e: e["method"] == "CONNECT"
                                   and e["url"] == f"{o.host}:{o.tls_port}")


def test_chain_https_upstream_untrusted(sluice_proxy, nginx_origin, tls_proxy):
    """The proxy's certificate is checked: without the test CA, 502 naming
    the upstream and the TLS failure."""
    p = sluice_proxy({"upstreams": {"tls": {"type": "https", "host": tls_proxy.host,
                                            "port": tls_proxy.port,
                                            "tls": {"ca_file": "/etc/ssl/certs/ca-certificates.crt"}}},
                      "routes": [{"via": "tls"}]})
    r = via(p, nginx_origin.file_url(HELLO))
    assert r.status == 502, r
    assert f"upstream tls (localhost:{tls_proxy.port})".encode() in r.body, r
    assert b"TLS" in r.body, r


def test_chain_socks5_username_password(sluice_proxy, nginx_origin, microsocks_auth):
    m = microsocks_auth
    p = sluice_proxy({"acl": {"connect_ports": [nginx_origin.port, nginx_origin.tls_port]},
                      "upstreams": {"m": {"type": "socks5h", "host": m.host, "port": m.port,
                                          "auth": {"user": m.user, "password_env": "M_PW"}}},
                      "routes": [{"via": "m"}]}, env={"M_PW": m.password})
    ok(p, nginx_origin)
    ok(p, nginx_origin, tls=True)
    ok(p, nginx_origin, tunnel=True)
    assert_no_secrets(p, m)


def test_chain_socks5_wrong_password(sluice_proxy, nginx_origin, dante):
    bad = wrong_password(dante)
    p = sluice_proxy({"upstreams": {"gw": f"socks5h://{bad.user}:{bad.password}@{dante.host}:"
                                          f"{dante.port}"},
                      "routes": [{"via": "gw"}]})
    r = via(p, nginx_origin.file_url(HELLO))
    assert r.status == 502, r
    assert r.body.decode() == (
        f"upstream proxy authentication failed: upstream gw ({dante.host}:{dante.port}): "
        "proxy authentication failed\n"), r
    r = via(p, nginx_origin.file_url(HELLO, tls=True), "--cacert", nginx_origin.ca_path)
    assert r.connect == 502, r
    assert_no_secrets(p, bad, dante)
