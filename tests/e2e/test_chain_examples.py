"""Every example of conf/examples that routes through upstreams carries real
requests end to end: the example's JSON is loaded, its upstreams pointed
at real proxies on loopback (routeutil.point: same shape, the test's
hosts, ports and passwords, passwords still through password_env), and
curl goes through sluice to the nginx origin: http:// forwarded (in
absolute form where the example's upstream is in forward mode, through a
CONNECT tunnel otherwise), http:// inside the client's own CONNECT
tunnel, and https:// (TLS origin, test CA) through CONNECT. What each
upstream saw is read from its log; no password shows in anything sluice
wrote."""
import pytest

import routeutil
from proxyutil import via
from routeutil import assert_no_secrets, example, point
from servers import sha256_of

HELLO = "hello.txt"


def start(sluice_proxy, nginx_origin, name, mapping, **over):
    cfg, env = point(example(name), mapping)
    cfg.setdefault("acl", {})["connect_ports"] = [nginx_origin.port, nginx_origin.tls_port]
    for k, v in over.items():
        cfg[k] = v
    return sluice_proxy(cfg, env=env)


def get(proxy, nginx_origin, name=HELLO, tls=False, tunnel=False):
    """GETs a file through proxy and checks its body."""
    url = nginx_origin.file_url(name, tls=tls)
    r = via(proxy, url, "--cacert", nginx_origin.ca_path, tunnel=tunnel)
    assert r.rc == 0 and r.status == 200, r
    assert sha256_of(r.body) == nginx_origin.sha256[name], r
    return r


def squid_saw(squid, since, method, url, user):
    """Waits for squid's log line of one request and checks its user."""
    e = squid.access_log.wait(1, since, lambda e: e["method"] == method and e["url"] == url
                              and e["status"] == 200)
    assert all(x["user"] == user for x in e), e


def three_ways(proxy, nginx_origin):
    """http:// forwarded, http:// in the client's CONNECT, https://."""
    get(proxy, nginx_origin)
    get(proxy, nginx_origin, tunnel=True)
    get(proxy, nginx_origin, tls=True)


def test_chain_example_corporate_basic(sluice_proxy, nginx_origin, squid_basic):
    """Basic auth, mode forward: plain http goes to Squid in absolute form
    (Squid logs the URL and the user), https and CONNECT tunnel."""
    mark = squid_basic.access_log.mark()
    p = start(sluice_proxy, nginx_origin, "corporate-basic.json", {"corp": squid_basic})
    three_ways(p, nginx_origin)
    o = nginx_origin
    squid_saw(squid_basic, mark, "GET", o.file_url(HELLO), squid_basic.user)
    squid_saw(squid_basic, mark, "CONNECT", f"{o.host}:{o.port}", squid_basic.user)
    squid_saw(squid_basic, mark, "CONNECT", f"{o.host}:{o.tls_port}", squid_basic.user)
    e = p.wait_lines(0, o.file_url(HELLO))[0]
    assert e["route"] == "DEFAULT_PARENT/corp", e
    assert_no_secrets(p, squid_basic)


def test_chain_example_corporate_digest(sluice_proxy, nginx_origin, squid_digest):
    """Digest auth, mode connect: even plain http travels in a tunnel, so
    Squid sees CONNECT only (it logs a tunnel when it closes: the one the
    forwarded request took stays pooled in sluice, the others show)."""
    mark = squid_digest.access_log.mark()
    p = start(sluice_proxy, nginx_origin, "corporate-digest.json", {"corp": squid_digest})
    three_ways(p, nginx_origin)
    o = nginx_origin
    hits = squid_digest.access_log.wait(2, mark, lambda e: e["method"] == "CONNECT"
                                        and e["status"] == 200)
    assert {e["url"] for e in hits} >= {f"{o.host}:{o.port}", f"{o.host}:{o.tls_port}"}
    assert all(e["user"] == squid_digest.user for e in hits), hits
    assert not [e for e in squid_digest.access_log.entries(mark) if e["method"] == "GET"]
    assert_no_secrets(p, squid_digest)


def test_chain_example_digest_forward_counts_nonces(sluice_proxy, nginx_origin, squid_digest):
    """The Digest example switched to mode forward: one 407 for the first
    request, then every request carries a Digest answer at once (counted
    nonce uses, shared by the workers), each logged with the user."""
    cfg = example("corporate-digest.json")
    cfg["upstreams"]["corp"]["mode"] = "forward"
    cfg, env = point(cfg, {"corp": squid_digest})
    p = sluice_proxy(cfg, env=env)
    mark = squid_digest.access_log.mark()
    for _ in range(6):
        get(p, nginx_origin)
    url = nginx_origin.file_url(HELLO)
    ok = squid_digest.access_log.wait(6, mark, lambda e: e["url"] == url and e["status"] == 200)
    assert all(e["user"] == squid_digest.user for e in ok), ok
    denied = [e for e in squid_digest.access_log.entries(mark) if e["status"] == 407]
    assert len(denied) == 1, denied
    assert_no_secrets(p, squid_digest)


def test_chain_example_ssh_socks(sluice_proxy, nginx_origin, microsocks):
    """socks5h on loopback as `ssh -D` gives: the three kinds of request go
    through it (the example's local rule taken out, since the test's
    origin is local), and with the rule an address in 127.0.0.0/8 goes
    direct."""
    cfg = example("ssh-socks.json")
    local = cfg["routes"].pop(0)
    cfg, env = point(cfg, {"ssh": microsocks})
    cfg["acl"] = {"connect_ports": [nginx_origin.port, nginx_origin.tls_port]}
    p = sluice_proxy(cfg, env=env)
    three_ways(p, nginx_origin)
    for e in p.access_log.wait(3, 0, lambda e: True):
        assert e["route"] == "DEFAULT_PARENT/ssh", e
    cfg["routes"].insert(0, local)
    p2 = sluice_proxy(cfg, env=env)
    get(p2, nginx_origin)
    assert p2.wait_lines(0, nginx_origin.file_url(HELLO))[0]["route"].startswith("HIER_DIRECT/")


def test_chain_example_split_routing(sluice_proxy, nginx_origin, squid_basic):
    """localhost is internal (direct), 127.0.0.1 is not (through corp);
    mail ports are refused by name."""
    mark = squid_basic.access_log.mark()
    p = start(sluice_proxy, nginx_origin, "split-routing.json", {"corp": squid_basic})
    o = nginx_origin
    inside = f"http://localhost:{o.port}/files/{HELLO}"
    r = via(p, inside)
    assert r.status == 200 and r.body == b"hello from the sluice origin\n", r
    three_ways(p, o)
    squid_saw(squid_basic, mark, "CONNECT", f"{o.host}:{o.port}", squid_basic.user)
    assert not [e for e in squid_basic.access_log.entries(mark) if "localhost" in e["url"]]
    assert p.wait_lines(0, inside)[0]["route"].startswith("HIER_DIRECT/")
    r = via(p, f"http://{o.host}:25/")
    assert r.status == 403 and b'route rule "no-mail"' in r.body, r
    assert_no_secrets(p, squid_basic)


def test_chain_example_two_hops(sluice_proxy, nginx_origin, dante, squid_basic):
    """SOCKS5 with username/password, then Squid with Basic, over one
    connection: Dante logs the connection to Squid, Squid the target."""
    dmark, smark = dante.log.mark(), squid_basic.access_log.mark()
    p = start(sluice_proxy, nginx_origin, "two-hop-chain.json",
              {"jump": dante, "corp": squid_basic})
    three_ways(p, nginx_origin)
    o = nginx_origin
    dante.log.wait_line(rf"username%{dante.user}@", since=dmark)
    dante.log.wait_line(rf"127\.0\.0\.1\.{squid_basic.port}\b", since=dmark)
    squid_saw(squid_basic, smark, "CONNECT", f"{o.host}:{o.tls_port}", squid_basic.user)
    assert p.wait_lines(0, o.file_url(HELLO))[0]["route"] == "FIRSTUP_PARENT/jump-corp"
    assert_no_secrets(p, dante, squid_basic)


def test_chain_example_three_hops(sluice_proxy, nginx_origin, dante_noauth, squid_open,
                                  squid_basic):
    """socks5 -> squid -> squid: the gateway logs the connection to the
    site proxy, the site proxy the CONNECT to the edge, the edge (forward
    mode, Basic) the absolute URL with the user."""
    dmark = dante_noauth.log.mark()
    omark, bmark = squid_open.access_log.mark(), squid_basic.access_log.mark()
    p = start(sluice_proxy, nginx_origin, "three-hop-chain.json",
              {"gw": dante_noauth, "site": squid_open, "edge": squid_basic})
    three_ways(p, nginx_origin)
    o = nginx_origin
    dante_noauth.log.wait_line(rf"127\.0\.0\.1\.{squid_open.port}\b", since=dmark)
    edge = f"{squid_basic.host}:{squid_basic.port}"
    hits = squid_open.access_log.wait(1, omark, lambda e: e["method"] == "CONNECT"
                                      and e["url"] == edge)
    assert hits
    squid_saw(squid_basic, bmark, "GET", o.file_url(HELLO), squid_basic.user)
    squid_saw(squid_basic, bmark, "CONNECT", f"{o.host}:{o.tls_port}", squid_basic.user)
    assert p.wait_lines(0, o.file_url(HELLO))[0]["route"] == "DEFAULT_PARENT/gw-site-edge"
    assert_no_secrets(p, squid_basic)


def test_chain_example_failover_healthy(sluice_proxy, nginx_origin, squid_basic, squid_digest):
    """Both proxies up: the primary carries everything (two tunnels logged
    as they closed; the forwarded request's stays pooled)."""
    pmark, bmark = squid_basic.access_log.mark(), squid_digest.access_log.mark()
    p = start(sluice_proxy, nginx_origin, "failover.json",
              {"primary": squid_basic, "backup": squid_digest})
    three_ways(p, nginx_origin)
    assert squid_basic.access_log.wait(2, pmark, lambda e: e["status"] == 200)
    assert not squid_digest.access_log.entries(bmark)
    st = routeutil.status(p)
    assert st["primary"]["state"] == "up" and st["backup"]["state"] == "up", st
    assert_no_secrets(p, squid_basic, squid_digest)


@pytest.mark.parametrize("name", ["corporate-basic.json", "split-routing.json"])
def test_chain_example_wrong_password(sluice_proxy, nginx_origin, squid_basic, name):
    """A password the proxy refuses: the client gets 502 naming the
    upstream and the cause, never a 407 of its own to answer."""
    p = start(sluice_proxy, nginx_origin, name, {"corp": routeutil.wrong_password(squid_basic)})
    o = nginx_origin
    want = f"upstream corp ({squid_basic.host}:{squid_basic.port}): proxy authentication failed"
    for tls, tunnel in ((False, False), (False, True), (True, False)):
        r = via(p, o.file_url(HELLO, tls=tls), "--cacert", o.ca_path, tunnel=tunnel)
        status = r.connect if tunnel or tls else r.status
        assert status == 502, r
        if not (tunnel or tls):
            assert want.encode() in r.body, r
            assert b"407" in r.body, r
    assert_no_secrets(p, routeutil.wrong_password(squid_basic), squid_basic)
