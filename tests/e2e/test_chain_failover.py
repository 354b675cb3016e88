"""Failover and health with real proxies: the failover example's primary
is a Squid of the test's own, stopped in the middle; from then on every
request still succeeds (the refused proxy moves each one to the backup
before anything reached the target), the primary shows down on the
status page and in the error log, and the backup carries the traffic.
Round-robin spreads requests over both upstreams; a CONNECT refused by a
middle hop names that hop and its status."""
import json

import servers
from proxyutil import via, wait_for
from routeutil import assert_no_secrets, example, point, server, status
from servers import sha256_of

HELLO = "hello.txt"


def kinds(nginx_origin):
    """The three kinds of request: forwarded http, http in the client's
    CONNECT, https."""
    o = nginx_origin
    return [(o.file_url(HELLO), False), (o.file_url(HELLO), True),
            (o.file_url(HELLO, tls=True), False)]


def all_ok(proxy, nginx_origin, rounds=1):
    for _ in range(rounds):
        for url, tunnel in kinds(nginx_origin):
            r = via(proxy, url, "--cacert", nginx_origin.ca_path, tunnel=tunnel)
            assert r.rc == 0 and r.status == 200, r
            assert sha256_of(r.body) == nginx_origin.sha256[HELLO]


def test_chain_failover_primary_stops(sluice_proxy, nginx_origin, squid_basic, tmp_path):
    primary = servers.Squid(tmp_path / "primary", "basic")
    try:
        cfg, env = point(example("failover.json"), {"primary": primary, "backup": squid_basic})
        cfg["acl"] = {"connect_ports": [nginx_origin.port, nginx_origin.tls_port]}
        # Down for longer than the test: every request after the stop
        # shows where it went.
        cfg["health"] = {"down_after": 1, "retry": "10m", "max_retry": "1h"}
        p = sluice_proxy(cfg, env=env)
        pmark = primary.access_log.mark()
        all_ok(p, nginx_origin)
        assert primary.access_log.wait(2, pmark, lambda e: e["status"] == 200)
        st = status(p)
        assert st["primary"]["state"] == "up", st

        primary.stop()
        bmark = squid_basic.access_log.mark()
        amark = p.access_log.mark()
        all_ok(p, nginx_origin, rounds=3)   # not one failure after the switch
        assert squid_basic.access_log.wait(6, bmark, lambda e: e["status"] == 200)
        st = status(p)
        assert st["primary"]["state"] == "down", st
        assert st["primary"]["failures"] >= 1 and st["primary"]["retry_in_ms"] > 0, st
        assert "primary" in st["primary"]["last_error"], st
        assert "refused" in st["primary"]["last_error"], st
        assert st["backup"]["state"] == "up", st
        logged = [e for e in p.access_log.entries(amark) if "__sluice" not in e["url"]]
        assert len(logged) >= 9 and all(e["status"] == 200 for e in logged), logged
        assert {e["route"] for e in logged} == {"FIRSTUP_PARENT/backup"}, logged
        wait_for(lambda: "health: primary is down" in p.error_log.read_text(),
                 what="the transition in the error log")
        assert_no_secrets(p, primary, squid_basic)
    finally:
        primary.stop()


def test_chain_failover_status_page_is_json(sluice_proxy, nginx_origin, squid_basic):
    cfg, env = point(example("two-hop-chain.json"),
                     {"jump": server("127.0.0.1", servers.free_port()), "corp": squid_basic})
    p = sluice_proxy(cfg, env=env)
    rc, out, err = servers.curl(f"{p.url}/__sluice/upstreams")
    assert rc == 0, err
    doc = json.loads(out)
    names = {e["name"]: e for e in doc["upstreams"]}
    assert names["jump-corp"]["kind"] == "chain"
    assert names["jump-corp"]["hops"] == ["jump", "corp"]
    assert names["corp"]["kind"] == "upstream" and names["corp"]["state"] == "up"
    assert squid_basic.password not in out.decode()


def test_chain_round_robin_spreads(sluice_proxy, nginx_origin, squid_basic, squid_digest):
    cfg, env = point(example("failover.json"),
                     {"primary": squid_basic, "backup": squid_digest})
    cfg["routes"] = [{"name": "spread", "via": ["primary", "backup"],
                      "strategy": "round-robin"}]
    p = sluice_proxy(cfg, env=env)
    amark, bmark = squid_basic.access_log.mark(), squid_digest.access_log.mark()
    tls = nginx_origin.file_url(HELLO, tls=True)
    for _ in range(8):
        r = via(p, tls, "--cacert", nginx_origin.ca_path)
        assert r.status == 200, r
    target = f"{nginx_origin.host}:{nginx_origin.tls_port}"

    def ours(e):
        return e["method"] == "CONNECT" and e["url"] == target and e["status"] == 200

    a = squid_basic.access_log.wait(3, amark, ours)
    b = squid_digest.access_log.wait(3, bmark, ours)
    assert len(a) + len(b) == 8, (a, b)
    routes = {e["route"] for e in p.access_log.entries(0)}
    assert routes == {"ROUNDROBIN_PARENT/primary", "ROUNDROBIN_PARENT/backup"}, routes


def test_chain_middle_hop_refusal_names_the_hop(sluice_proxy, nginx_origin, squid_open):
    """Squid (hop 1) cannot reach hop 2: its 503 to the CONNECT comes back
    in the body, naming both hops."""
    dead = servers.free_port()
    cfg = {"upstreams": {"site": f"http://{squid_open.host}:{squid_open.port}",
                         "gone": f"http://127.0.0.1:{dead}"},
           "chains": {"site-gone": ["site", "gone"]},
           "routes": [{"via": "site-gone"}]}
    p = sluice_proxy(cfg)
    r = via(p, nginx_origin.file_url(HELLO))
    assert r.status == 502, r
    body = r.body.decode()
    assert f"upstream site ({squid_open.host}:{squid_open.port}), hop 1 of chain site-gone" \
        in body, body
    assert f"could not reach the next hop, upstream gone (127.0.0.1:{dead})" in body, body
    assert "(503 " in body, body
