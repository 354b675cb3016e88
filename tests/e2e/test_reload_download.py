"""Reloads while bytes flow: ten reloads during a 1 GiB download leave it
intact (SHA-256 equal to the file's), through a CONNECT tunnel to the
origin's TLS port and forwarded as plain HTTP, even when a reload denies
the destination or the CONNECT port halfway (the request or tunnel in
flight finishes on the configuration it started with; new ones get the
new rules). A tunnel survives a reload that removes the listener it came
in on. Through a chain (sluice -> Squid as a configured upstream, forward
and CONNECT mode) ten reloads, one of which changes the routes, leave a
1 GiB download intact too. The client paces each download itself: it
reads a tenth, asks for a reload, waits for "reloaded" in the log, and
reads on, so every reload lands in the middle of the transfer whatever the
machine's speed."""
import hashlib
import json
import random

import pytest

from conftest import run
from proxyutil import RawClient, connect_refused, request, via
from reloadutil import BodyReader, connect_tunnel, reload

BIG = "reload-1g.bin"
BIG_SIZE = 1 << 30
RELOADS = 10


@pytest.fixture(scope="module")
def big_file(nginx_origin):
    """A 1 GiB file of pseudo-random bytes in the origin's /files/; its
    SHA-256."""
    path = nginx_origin.files_dir / BIG
    rnd = random.Random(20261121)
    sha = hashlib.sha256()
    piece = 16 << 20
    with open(path, "wb") as f:
        for _ in range(BIG_SIZE // piece):
            data = rnd.randbytes(piece)
            sha.update(data)
            f.write(data)
    yield sha.hexdigest()
    path.unlink()


def reload_changes(p, i, nginx_origin):
    """The i-th reload's change: timeouts flip, the access rules change
    (which also drops idle upstream connections), and at the 5th the
    origin becomes a denied destination and its TLS port a refused CONNECT
    port for new requests."""
    over = {"timeouts": {"client_idle": f"{60 + i}s"},
            "acl": {"deny_destinations": [f"10.{i}.0.0/16"]}}
    if i >= 5:
        over["acl"]["deny_destinations"].append("127.0.0.1/32")
        over["acl"]["connect_ports"] = [443]
    return over


def paced_download(reader, p, nginx_origin):
    step = BIG_SIZE // (RELOADS + 1)
    gens = []
    for i in range(RELOADS):
        assert reader.read(step) == step
        r = reload(p, reload_changes(p, i, nginx_origin))
        assert r.ok, r
        gens.append(r.generation)
    while not reader.complete:
        reader.read(1 << 24)
    return gens


def test_ten_reloads_during_a_tunnelled_1gib_download(sluice_proxy, nginx_origin, big_file):
    p = sluice_proxy()
    tls = connect_tunnel(p.port, nginx_origin.tls_port, nginx_origin.ca_path)
    try:
        tls.sendall(f"GET /files/{BIG} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Connection: close\r\n\r\n".encode())
        reader = BodyReader(tls)
        assert reader.status == 200 and reader.length == BIG_SIZE
        gens = paced_download(reader, p, nginx_origin)
    finally:
        tls.close()
    assert gens == list(range(2, 2 + RELOADS))
    assert reader.hexdigest() == big_file
    # New tunnels get the last rules: the port is no longer allowed.
    r = via(p, f"https://127.0.0.1:{nginx_origin.tls_port}/files/1k.bin", "--cacert",
            nginx_origin.ca_path, tunnel=True)
    assert r.connect == 403, r
    first, denied = p.wait_lines(0, f"127.0.0.1:{nginx_origin.tls_port}", count=2)
    assert first["result"] == "TCP_TUNNEL" and first["status"] == 200, first["raw"]
    assert first["bytes"] > BIG_SIZE, first["raw"]
    assert denied["status"] == 403, denied["raw"]


def test_ten_reloads_during_a_forwarded_1gib_download(sluice_proxy, nginx_origin, big_file):
    p = sluice_proxy()
    with RawClient(p.port, timeout=60) as c:
        c.send(request("GET", f"{nginx_origin.url}/files/{BIG}", f"127.0.0.1:{nginx_origin.port}"))
        reader = BodyReader(c.sock)
        assert reader.status == 200 and reader.length == BIG_SIZE
        gens = paced_download(reader, p, nginx_origin)
    assert gens == list(range(2, 2 + RELOADS))
    assert reader.hexdigest() == big_file
    (e,) = p.wait_lines(0, BIG)
    assert e["status"] == 200 and e["bytes"] > BIG_SIZE, e["raw"]
    # A new request gets the last rules: the origin is denied now.
    r = via(p, f"{nginx_origin.url}/echo?after-reloads")
    assert r.status == 403, r


def test_tunnel_survives_removal_of_its_listener(sluice_proxy, nginx_origin):
    p = sluice_proxy(extra_ports=1)
    keep, gone = p.ports
    tls = connect_tunnel(gone, nginx_origin.tls_port, nginx_origin.ca_path)
    try:
        for i in range(2):
            tls.sendall(f"GET /files/100k.bin?t{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            reader = BodyReader(tls)
            reader.read(reader.length)
            assert reader.hexdigest() == nginx_origin.sha256["100k.bin"]
            if i == 0:
                r = reload(p, {"listen": [f"127.0.0.1:{keep}"],
                               "acl": {"connect_ports": [443]}})
                assert r.ok, r
                assert connect_refused(gone)
            # BodyReader keeps what it read past the body: nothing here, as
            # each response is read whole before the next request.
            assert reader.buf == b""
    finally:
        tls.close()


# -- through a chain ---------------------------------------------------------------------

def require_routes(sluice, tmp_path):
    """Skips unless this sluice routes requests through upstreams (the
    --route option comes with routing)."""
    conf = tmp_path / "route-probe.json"
    conf.write_text(json.dumps({"upstreams": {"u": "http://127.0.0.1:1"},
                                "routes": [{"via": "u"}]}))
    r = run([sluice, "--route", "http://example.com/", "-c", str(conf)])
    if r.returncode != 0:
        pytest.skip("this sluice does not route through upstreams yet")


def chain_config(squid, mode):
    return {"upstreams": {"sq": {"type": "http", "host": squid.host, "port": squid.port,
                                 "mode": mode}},
            "routes": [{"via": "sq"}]}


def chain_changes(i):
    """The i-th reload: timeouts flip; from the 5th the routes change (a
    deny rule for another host comes first), which retires the upstream
    connections made before, the one carrying the download included once
    it is done."""
    over = {"timeouts": {"client_idle": f"{60 + i}s"}}
    if i >= 5:
        over["routes"] = [{"match": {"hosts": [f"blocked-{i}.example"]}, "via": "deny"},
                          {"via": "sq"}]
    return over


def paced_chain_download(reader, p):
    step = BIG_SIZE // (RELOADS + 1)
    for i in range(RELOADS):
        assert reader.read(step) == step
        r = reload(p, chain_changes(i))
        assert r.ok, r
    while not reader.complete:
        reader.read(1 << 24)


def test_ten_reloads_during_a_1gib_download_through_a_chain(sluice, sluice_proxy, nginx_origin,
                                                            squid_open, big_file, tmp_path):
    require_routes(sluice, tmp_path)
    p = sluice_proxy(chain_config(squid_open, "forward"))
    mark = squid_open.access_log.mark()
    url = f"{nginx_origin.url}/files/{BIG}"
    with RawClient(p.port, timeout=60) as c:
        c.send(request("GET", url, f"127.0.0.1:{nginx_origin.port}"))
        reader = BodyReader(c.sock)
        assert reader.status == 200 and reader.length == BIG_SIZE
        paced_chain_download(reader, p)
    assert reader.hexdigest() == big_file
    (e,) = p.wait_lines(0, BIG)
    assert e["status"] == 200 and e["host"] == "sq", e["raw"]
    squid_open.access_log.wait(1, mark, lambda x: x["url"] == url)
    # New requests take the last routes: still through Squid, or denied.
    after = f"{nginx_origin.url}/files/hello.txt"
    r = via(p, after)
    assert r.status == 200, r
    squid_open.access_log.wait(1, mark, lambda x: x["url"] == after)
    r = via(p, "http://blocked-9.example/")
    assert r.status == 403, r


def test_ten_reloads_during_a_1gib_tunnel_through_a_chain(sluice, sluice_proxy, nginx_origin,
                                                          squid_open, big_file, tmp_path):
    require_routes(sluice, tmp_path)
    p = sluice_proxy(chain_config(squid_open, "connect"))
    mark = squid_open.access_log.mark()
    tls = connect_tunnel(p.port, nginx_origin.tls_port, nginx_origin.ca_path)
    try:
        tls.sendall(f"GET /files/{BIG} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Connection: close\r\n\r\n".encode())
        reader = BodyReader(tls)
        assert reader.status == 200 and reader.length == BIG_SIZE
        paced_chain_download(reader, p)
    finally:
        tls.close()
    assert reader.hexdigest() == big_file
    target = f"127.0.0.1:{nginx_origin.tls_port}"
    squid_open.access_log.wait(1, mark, lambda x: x["method"] == "CONNECT"
                               and x["url"] == target)
