"""Route rules in a running proxy: deny rules answer 403 with the rule's
name (forwarded requests and CONNECT alike), a request no rule matches is
refused, rules match on host, address, port, scheme and method and the
access log's hierarchy field shows the way each request took; the
environment's proxies serve upstream_from_env (NO_PROXY hosts direct); the
cache fills through the rule's upstream, and refuses what a rule denies."""
import signal

import servers
from proxyutil import RawClient, request, via

HELLO = "hello.txt"


def open_squid(squid):
    return f"http://{squid.host}:{squid.port}"


def test_route_deny_rule_names_itself(sluice_proxy, nginx_origin):
    o = nginx_origin
    p = sluice_proxy({"acl": {"connect_ports": [o.port, o.tls_port]},
                      "routes": [{"name": "no-plain-http", "match": {"schemes": ["http"],
                                                                      "methods": ["GET"]},
                                  "via": "deny"},
                                 {"name": "rest", "via": "direct"}]})
    r = via(p, o.file_url(HELLO))
    assert r.status == 403, r
    assert r.body == b'not allowed: denied by route rule "no-plain-http" (routes[0])\n', r
    # HEAD is not GET: the next rule lets it through.
    r = via(p, o.file_url(HELLO), "-I")
    assert r.status == 200, r
    # A CONNECT counts as https: through.
    r = via(p, o.file_url(HELLO, tls=True), "--cacert", o.ca_path)
    assert r.status == 200, r
    e = p.wait_lines(0, o.file_url(HELLO))[0]
    assert e["result"] == "TCP_DENIED" and e["route"] == "HIER_NONE/-", e


def test_route_deny_connect(sluice_proxy, nginx_origin):
    o = nginx_origin
    p = sluice_proxy({"acl": {"connect_ports": [o.port, o.tls_port]},
                      "routes": [{"name": "tls-only", "match": {"ports": [o.port]},
                                  "via": "deny"},
                                 {"via": "direct"}]})
    with RawClient(p.port) as c:
        c.send(request("CONNECT", f"{o.host}:{o.port}", f"{o.host}:{o.port}"))
        r = c.read_response("CONNECT")
        assert r.status == 403, r
        assert b'route rule "tls-only"' in r.body, r
    r = via(p, o.file_url(HELLO, tls=True), "--cacert", o.ca_path)
    assert r.status == 200, r


def test_route_no_rule_matches(sluice_proxy, nginx_origin):
    p = sluice_proxy({"routes": [{"match": {"hosts": [".example"]}, "via": "direct"}]})
    r = via(p, nginx_origin.file_url(HELLO))
    assert r.status == 403, r
    assert b"no route rule matches this request" in r.body, r


def test_route_match_host_cidr_method(sluice_proxy, nginx_origin, squid_open):
    """hosts and cidrs name the destination together: localhost by name,
    127.0.0.1 as a literal in the CIDR; POST goes elsewhere."""
    o = nginx_origin
    p = sluice_proxy({
        "acl": {"connect_ports": [o.port, o.tls_port]},
        "upstreams": {"squid": open_squid(squid_open)},
        "routes": [
            {"name": "posts", "match": {"methods": ["POST"]}, "via": "squid"},
            {"name": "local", "match": {"hosts": ["localhost"], "cidrs": ["127.0.0.0/8"]},
             "via": "direct"},
            {"name": "rest", "via": "squid"},
        ]})
    for url in (o.file_url(HELLO), f"http://localhost:{o.port}/files/{HELLO}"):
        r = via(p, url)
        assert r.status == 200, r
        assert p.wait_lines(0, url)[0]["route"].startswith("HIER_DIRECT/")
    r = via(p, f"{o.url}/post", "--data-binary", "x")
    assert r.status == 200, r
    assert p.wait_lines(0, "/post")[0]["route"] == "DEFAULT_PARENT/squid"


def test_route_upstream_from_env(sluice_proxy, nginx_origin, squid_open):
    o = nginx_origin
    env = {"HTTPS_PROXY": open_squid(squid_open), "http_proxy": open_squid(squid_open),
           "NO_PROXY": "localhost"}
    p = sluice_proxy({"upstream_from_env": True,
                      "acl": {"connect_ports": [o.port, o.tls_port]}}, env=env)
    mark = squid_open.access_log.mark()
    r = via(p, o.file_url(HELLO, tls=True), "--cacert", o.ca_path)
    assert r.status == 200, r
    squid_open.access_log.wait(1, mark, lambda e: e["method"] == "CONNECT"
                               and e["url"] == f"{o.host}:{o.tls_port}")
    e = p.wait_lines(0, f"{o.host}:{o.tls_port}")[0]
    assert e["route"] == "DEFAULT_PARENT/env:HTTPS_PROXY", e
    r = via(p, o.file_url(HELLO))
    assert r.status == 200, r
    assert p.wait_lines(0, o.file_url(HELLO))[0]["route"] == "DEFAULT_PARENT/env:http_proxy"
    local = f"http://localhost:{o.port}/files/{HELLO}"
    r = via(p, local)
    assert r.status == 200, r
    assert p.wait_lines(0, local)[0]["route"].startswith("HIER_DIRECT/")


def test_route_dead_upstream_error(sluice_proxy, nginx_origin):
    dead = servers.free_port()
    p = sluice_proxy({"upstreams": {"corp": {"type": "http", "host": "127.0.0.1",
                                             "port": dead}},
                      "routes": [{"via": "corp"}]})
    r = via(p, nginx_origin.file_url(HELLO))
    assert r.status == 502, r
    assert r.body.decode() == (f"the upstream proxy failed: upstream corp (127.0.0.1:{dead}): "
                               "connection to the proxy refused\n"), r
    e = p.wait_lines(0, nginx_origin.file_url(HELLO))[0]
    assert e["route"] == "DEFAULT_PARENT/corp" and e["status"] == 502, e


def test_route_cache_fills_through_the_route(sluice_proxy, nginx_origin, squid_basic, tmp_path):
    """With the cache on, a miss is fetched through the rule's upstream
    (forward mode: Squid logs the URL with the user) and the next request
    is a hit Squid never sees; a deny rule refuses even what is cached."""
    from cacheutil import cache_conf, get, uniq, wait_ready
    o = nginx_origin
    url = uniq(o.file_url("1k.bin", prefix="/cache/max-age/"))
    cfg = cache_conf(tmp_path / "cache")
    cfg.update({"upstreams": {"corp": {"type": "http", "host": squid_basic.host,
                                       "port": squid_basic.port, "mode": "forward",
                                       "auth": {"user": squid_basic.user,
                                                "password_env": "CORP_PW"}}},
                "routes": [{"name": "corp", "via": "corp"}]})
    p = sluice_proxy(cfg, env={"CORP_PW": squid_basic.password})
    wait_ready(p)
    mark = squid_basic.access_log.mark()
    first, second = get(p, url), get(p, url)
    assert first.status == 200 and first.xcache == "MISS", first
    assert second.status == 200 and second.xcache == "HIT", second
    # Squid logs URLs without their query.
    path = url.split("?", 1)[0]
    seen = squid_basic.access_log.wait(1, mark, lambda e: e["url"].split("?", 1)[0] == path
                                       and e["status"] == 200)
    assert len(seen) == 1 and seen[0]["user"] == squid_basic.user, seen
    assert p.wait_lines(0, url)[0]["route"] == "DEFAULT_PARENT/corp"
    # The same cache, now behind a rule that refuses the host.
    cfg["routes"] = [{"name": "closed", "match": {"ports": [o.port]}, "via": "deny"},
                     {"via": "corp"}]
    p.signal(signal.SIGTERM)
    assert p.wait_exit(10) == 0
    p2 = sluice_proxy(cfg, env={"CORP_PW": squid_basic.password})
    wait_ready(p2)
    r = get(p2, url)
    assert r.status == 403 and b'route rule "closed"' in r.body, r
