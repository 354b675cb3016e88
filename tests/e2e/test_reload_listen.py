"""Listeners across reloads: a listener added to `listen` starts serving
on every worker; one removed stops accepting at once while a connection it
accepted earlier goes on with its keep-alive requests; listeners present
before and after are not closed and opened again (the same listening
sockets, by inode, before and after); a unix socket listener comes and
goes the same way and its file is removed with it."""
from proxyutil import RawClient, connect_refused, request, via
from reloadutil import reload, status
from servers import _listening, free_port


def get(c, nginx_origin, tag):
    c.send(request("GET", f"{nginx_origin.url}/echo?{tag}", f"127.0.0.1:{nginx_origin.port}"))
    return c.read_response()


def test_added_listener_serves(sluice_proxy, nginx_origin):
    p = sluice_proxy()
    port = free_port()
    assert connect_refused(port)
    with RawClient(p.port) as before:
        assert get(before, nginx_origin, "old-1").status == 200
        r = reload(p, {"listen": p.conf["listen"] + [f"127.0.0.1:{port}"]})
        assert r.ok, r
        assert via(f"http://127.0.0.1:{port}", f"{nginx_origin.url}/echo?new-port").status == 200
        # Every worker got it: both answer on the new port in time.
        seen = set()
        for _ in range(200):
            seen.add(status(p, port)["worker"])
            if seen == {0, 1}:
                break
        assert seen == {0, 1}, seen
        # The connection accepted before the reload is untouched.
        assert get(before, nginx_origin, "old-2").status == 200
    assert via(p, f"{nginx_origin.url}/echo?old-port").status == 200


def test_removed_listener_stops_accepting_but_its_connections_go_on(sluice_proxy, nginx_origin):
    p = sluice_proxy(extra_ports=1)
    keep, gone = p.ports
    with RawClient(gone) as c:
        assert get(c, nginx_origin, "on-removed-1").status == 200
        r = reload(p, {"listen": [f"127.0.0.1:{keep}"]})
        assert r.ok, r
        assert connect_refused(gone)
        # The keep-alive connection accepted on the removed listener
        # carries its next request.
        assert get(c, nginx_origin, "on-removed-2").status == 200
        assert get(c, nginx_origin, "on-removed-3").status == 200
    assert via(p, f"{nginx_origin.url}/echo?kept").status == 200
    entries = p.wait_lines(0, "on-removed-", count=3)
    assert all(e["status"] == 200 for e in entries)


def test_unchanged_listeners_keep_their_sockets(sluice_proxy, nginx_origin):
    p = sluice_proxy()
    before = _listening(p.port)
    assert len(before) == 2, before  # one SO_REUSEPORT socket per worker
    port = free_port()
    r = reload(p, {"listen": p.conf["listen"] + [f"127.0.0.1:{port}"],
                   "timeouts": {"client_idle": "50s"}})
    assert r.ok, r
    assert _listening(p.port) == before
    r = reload(p, {"listen": [f"127.0.0.1:{p.port}"]})
    assert r.ok, r
    assert _listening(p.port) == before
    assert not _listening(port)


def test_same_listeners_in_another_order_change_nothing(sluice_proxy):
    p = sluice_proxy(extra_ports=1)
    a, b = (set(_listening(x)) for x in p.ports)
    r = reload(p, {"listen": list(reversed(p.conf["listen"]))})
    assert r.ok, r
    assert _listening(p.ports[0]) == a and _listening(p.ports[1]) == b


def test_unix_listener_comes_and_goes(sluice_proxy, nginx_origin):
    p = sluice_proxy()
    path = p.dir / "added.sock"
    r = reload(p, {"listen": p.conf["listen"] + [f"unix:{path}"]})
    assert r.ok, r
    assert path.exists()
    with RawClient(None, unix=path) as c:
        assert get(c, nginx_origin, "unix-1").status == 200
        r = reload(p, {"listen": [f"127.0.0.1:{p.port}"]})
        assert r.ok, r
        assert not path.exists(), "the socket file outlived its listener"
        assert get(c, nginx_origin, "unix-2").status == 200
    assert via(p, f"{nginx_origin.url}/echo?tcp").status == 200
