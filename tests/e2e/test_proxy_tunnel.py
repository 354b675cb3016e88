"""CONNECT tunnels through the proxy: curl -p -x to the nginx TLS listener
verifying the origin's certificate itself (the proxy does not terminate
TLS), several requests in one tunnel, bytes sent with the CONNECT request,
half-close in both directions, the tunnel idle timeout, and the access
log line each tunnel leaves."""
import hashlib
import socket
import threading
import time

from conftest import curl
from proxyutil import RawClient, TinyOrigin, via


def sha(data):
    return hashlib.sha256(data).hexdigest()


def connect(port, target, extra=b""):
    """A client that sent CONNECT target (plus extra bytes in the same
    write) and read the proxy's answer; returns (client, response)."""
    c = RawClient(port)
    c.send(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode() + extra)
    return c, c.read_response("CONNECT")


def test_tunnel_tls_to_origin_verified(proxy, nginx_origin):
    for host in ("localhost", "127.0.0.1"):
        target = f"{host}:{nginx_origin.tls_port}"
        mark = proxy.access_log.mark()
        r = via(proxy, f"https://{target}/files/10m.bin", "--cacert", nginx_origin.ca_path,
                tunnel=True)
        assert r.rc == 0 and r.connect == 200 and r.status == 200, r
        assert sha(r.body) == nginx_origin.sha256["10m.bin"]
        (e,) = proxy.access_log.wait(1, mark, lambda x: x["method"] == "CONNECT")
        assert not e["malformed"], e["raw"]
        assert e["url"] == target and e["status"] == 200, e["raw"]
        assert e["result"] == "TCP_TUNNEL", e["raw"]
        assert e["host"] == "127.0.0.1" and e["hierarchy"] in ("DIRECT", "HIER_DIRECT"), e["raw"]
        assert e["bytes"] > 10 * 1024 * 1024, e["raw"]


def test_tunnel_untrusted_origin_fails_at_the_client(proxy, nginx_origin):
    """The proxy relays bytes only: without the test CA curl itself refuses
    the origin's certificate (exit 60) after the tunnel was set up."""
    r = via(proxy, f"https://localhost:{nginx_origin.tls_port}/files/1k.bin", tunnel=True)
    assert r.connect == 200 and r.rc == 60, r


def test_tunnel_carries_several_requests(proxy, nginx_origin):
    mark = nginx_origin.access_log.mark()
    urls = [f"https://localhost:{nginx_origin.tls_port}/files/1k.bin?tun-{i}" for i in range(3)]
    outs = [a for _ in urls for a in ("-o", "/dev/null")]
    rc, _, err = curl("-v", "-p", "-x", proxy.url, "--cacert", nginx_origin.ca_path, *outs, *urls)
    assert rc == 0, err
    assert err.count("Re-using existing connection") == 2, err
    got = nginx_origin.access_log.wait(3, mark, lambda e: "?tun-" in e["uri"])
    assert len({e["connection"] for e in got}) == 1, got
    assert all(e["scheme"] == "https" and e["status"] == 200 for e in got)


def echo_until_eof(origin, conn, head):
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)
    conn.close()


def test_tunnel_bytes_sent_with_the_connect_request(sluice_proxy):
    origin = TinyOrigin(echo_until_eof, read_head=False)
    try:
        p = sluice_proxy({"acl": {"connect_ports": [origin.port]}})
        c, r = connect(p.port, origin.authority, extra=b"early-bytes")
        assert r.status == 200, r
        assert c.read(len(b"early-bytes")) == b"early-bytes"
        c.close()
    finally:
        origin.close()


def test_tunnel_half_close_client_to_origin(sluice_proxy):
    """The client shuts down its sending side: the origin sees EOF and can
    still answer through the tunnel."""
    def count_then_answer(origin, conn, head):
        n = 0
        while True:
            data = conn.recv(65536)
            if not data:
                break
            n += len(data)
        conn.sendall(f"got {n}".encode())
        conn.close()

    origin = TinyOrigin(count_then_answer, read_head=False)
    try:
        p = sluice_proxy({"acl": {"connect_ports": [origin.port]}})
        c, r = connect(p.port, origin.authority)
        assert r.status == 200, r
        c.send(b"x" * 100_000)
        c.sock.shutdown(socket.SHUT_WR)
        assert c.read_to_eof() == b"got 100000"
        c.close()
    finally:
        origin.close()


def test_tunnel_half_close_origin_to_client(sluice_proxy):
    """The origin shuts down its sending side: the client sees EOF and can
    still send through the tunnel."""
    received = []
    done = threading.Event()

    def speak_then_listen(origin, conn, head):
        conn.sendall(b"hello")
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            more = conn.recv(65536)
            if not more:
                break
            data += more
        received.append(data)
        done.set()
        conn.close()

    origin = TinyOrigin(speak_then_listen, read_head=False)
    try:
        p = sluice_proxy({"acl": {"connect_ports": [origin.port]}})
        c, r = connect(p.port, origin.authority)
        assert r.status == 200, r
        assert c.read_to_eof() == b"hello"
        c.send(b"after-half-close")
        c.sock.shutdown(socket.SHUT_WR)
        assert done.wait(5), "the origin never saw the client's EOF"
        assert received == [b"after-half-close"]
        c.close()
    finally:
        origin.close()


def test_tunnel_idle_timeout(sluice_proxy):
    origin = TinyOrigin(lambda o, conn, head: o.release.wait(20), read_head=False)
    try:
        p = sluice_proxy({"acl": {"connect_ports": [origin.port]},
                          "timeouts": {"tunnel_idle": "1s"}})
        c, r = connect(p.port, origin.authority)
        assert r.status == 200, r
        t0 = time.monotonic()
        c.sock.settimeout(8)
        assert c.closed_by_peer(), "the idle tunnel sent data instead of closing"
        took = time.monotonic() - t0
        assert 0.8 <= took < 5, f"closed after {took:.2f}s"
        c.close()
        (e,) = p.wait_lines(0, origin.authority)
        assert e["method"] == "CONNECT" and e["status"] == 200, e["raw"]
    finally:
        origin.close()
