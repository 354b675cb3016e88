"""The proxy's errors: each is an HTTP answer with its status and a one-line
text body naming the cause, plus an access log line. Unresolvable names
and refused connections 502 (forwarding and CONNECT), an origin that never
answers 504, malformed requests 400 and the connection closed, request
lines too long 414, header blocks too large 431, CONNECT to a port not
allowed 403, refused destinations 403 (link-local, loopback unless
allowed, the proxy itself, acl.deny_destinations); clients too slow to
send a head, or idle too long, are closed; an origin that breaks
off a response makes the proxy close the client connection, so curl sees
the truncation (exit 18 or 56) rather than a short "complete" response."""
import subprocess
import threading
import time

import pytest

import servers
from proxyutil import RawClient, TinyOrigin, request, reset, via, wait_for


def one_line_body(r):
    """The error body: one line of text naming the cause."""
    text = r.body.decode(errors="replace").strip()
    assert text and "\n" not in text, f"error body is not one line: {r.body!r}"
    assert r.headers.get("content-type", "").startswith("text/plain"), r.head
    return text


def logged(p, mark, tag, status, method=None):
    (e,) = p.wait_lines(mark, tag)
    assert not e["malformed"], e["raw"]
    assert e["status"] == status, e["raw"]
    if method:
        assert e["method"] == method, e["raw"]
    return e


# -- upstream failures --------------------------------------------------------------

def test_error_unresolvable_host_502(proxy):
    mark = proxy.access_log.mark()
    r = via(proxy, "http://no-such-host.invalid/err-dns")
    assert r.rc == 0 and r.status == 502, r
    assert "no-such-host.invalid" in one_line_body(r)
    logged(proxy, mark, "no-such-host.invalid", 502, "GET")


def test_error_connection_refused_502(proxy):
    port = servers.free_port()
    mark = proxy.access_log.mark()
    r = via(proxy, f"http://127.0.0.1:{port}/err-refused")
    assert r.rc == 0 and r.status == 502, r
    assert "refused" in one_line_body(r).lower()
    logged(proxy, mark, "err-refused", 502, "GET")


def test_error_connect_unresolvable_502(proxy):
    mark = proxy.access_log.mark()
    r = via(proxy, "https://no-such-host.invalid/", tunnel=True)
    assert r.connect == 502 and r.rc != 0, r
    logged(proxy, mark, "no-such-host.invalid:443", 502, "CONNECT")


def test_error_connect_refused_502(sluice_proxy):
    port = servers.free_port()
    p = sluice_proxy({"acl": {"connect_ports": [port]}})
    r = via(p, f"https://127.0.0.1:{port}/", tunnel=True)
    assert r.connect == 502 and r.rc != 0, r
    logged(p, 0, f"127.0.0.1:{port}", 502, "CONNECT")


def test_error_upstream_first_byte_timeout_504(sluice_proxy):
    origin = TinyOrigin(lambda o, conn, head: o.release.wait(20))
    try:
        p = sluice_proxy({"timeouts": {"first_byte": "1s"}})
        t0 = time.monotonic()
        r = via(p, f"{origin.url}/err-timeout")
        took = time.monotonic() - t0
        assert r.rc == 0 and r.status == 504, r
        one_line_body(r)
        assert 0.9 <= took < 5, f"answered after {took:.2f}s"
        assert origin.heads and origin.heads[0].startswith(b"GET /err-timeout HTTP/1.1\r\n")
        logged(p, 0, "err-timeout", 504, "GET")
    finally:
        origin.close()


def test_error_upstream_closes_without_answer_502(sluice_proxy):
    origin = TinyOrigin(lambda o, conn, head: conn.close())
    try:
        p = sluice_proxy()
        r = via(p, f"{origin.url}/err-empty")
        assert r.rc == 0 and r.status == 502, r
        one_line_body(r)
        logged(p, 0, "err-empty", 502, "GET")
    finally:
        origin.close()


@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("how", ["rst", "fin"])
def test_error_upstream_breaks_off_response(sluice_proxy, tmp_path, framing, how):
    """The origin promises 1 MiB (or sends chunks), sends 256 KiB, then
    resets (or closes) once curl has written part of it: curl must fail
    with 18 (partial file) or 56 (receive error), never exit 0."""
    cut = threading.Event()
    chunk = b"z" * 16384

    def breaks_off(origin, conn, head):
        if framing == "length":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: 1048576\r\n\r\n" + chunk * 16)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            for _ in range(16):
                conn.sendall(b"4000\r\n" + chunk + b"\r\n")
        cut.wait(15)
        if how == "rst":
            reset(conn)
        else:
            conn.close()

    origin = TinyOrigin(breaks_off)
    try:
        p = sluice_proxy()
        out = tmp_path / "out.bin"
        cp = subprocess.Popen(["curl", "-q", "-sS", "--max-time", "20", "-x", p.url,
                               "-o", out, f"{origin.url}/err-cut-{framing}-{how}"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=servers.clean_env())
        try:
            wait_for(lambda: out.exists() and out.stat().st_size >= 64 * 1024, 10,
                     "curl to receive the first 64 KiB")
            cut.set()
            _, err = cp.communicate(timeout=15)
        finally:
            if cp.poll() is None:
                cp.kill()
                cp.wait()
        assert cp.returncode in (18, 56), (cp.returncode, err)
        assert out.stat().st_size < 1048576
        e = logged(p, 0, f"err-cut-{framing}-{how}", 200, "GET")
        assert e["bytes"] < 1048576, e["raw"]
    finally:
        origin.close()


# -- client timeouts ---------------------------------------------------------------------

def test_error_client_header_timeout(sluice_proxy):
    """A request head that never ends: the connection is closed (after a
    408 at most) once timeouts.client_header has passed."""
    p = sluice_proxy({"timeouts": {"client_header": "1s"}})
    with RawClient(p.port, timeout=8) as c:
        c.send(b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
        t0 = time.monotonic()
        data = c.read_to_eof()
        took = time.monotonic() - t0
    assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data
    assert 0.8 <= took < 5, f"closed after {took:.2f}s"


def test_error_client_idle_timeout(sluice_proxy, nginx_origin):
    p = sluice_proxy({"timeouts": {"client_idle": "1s"}})
    host = f"127.0.0.1:{nginx_origin.port}"
    with RawClient(p.port, timeout=8) as c:
        c.send(request("GET", nginx_origin.file_url("1k.bin"), host))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.closed_by_peer(), "data instead of a close on the idle connection"
        took = time.monotonic() - t0
    assert 0.8 <= took < 5, f"closed after {took:.2f}s"


# -- malformed requests ----------------------------------------------------------------

MALFORMED = {
    "garbage": b"GARBAGE\r\n\r\n",
    "no-version": b"GET http://127.0.0.1:{port}/echo\r\nHost: 127.0.0.1\r\n\r\n",
    "bad-version": b"GET http://127.0.0.1:{port}/echo HTTP/9.9x\r\nHost: 127.0.0.1\r\n\r\n",
    "field-without-colon": b"GET http://127.0.0.1:{port}/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"This is not a field\r\n\r\n",
    "space-before-colon": b"GET http://127.0.0.1:{port}/echo HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",
    "two-content-lengths": b"POST http://127.0.0.1:{port}/post HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "bad-content-length": b"POST http://127.0.0.1:{port}/post HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Length: -5\r\n\r\n",
    "control-in-target": b"GET http://127.0.0.1:{port}/e\x01cho HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_error_malformed_request_400_and_close(proxy, nginx_origin, kind):
    mark = proxy.access_log.mark()
    with RawClient(proxy.port, timeout=5) as c:
        c.send(MALFORMED[kind].replace(b"{port}", str(nginx_origin.port).encode()))
        r = c.read_response()
        assert r.status == 400, r
        assert c.closed_by_peer(), "the connection stayed open after the 400"
    e = proxy.access_log.wait(1, mark, lambda x: x["status"] == 400)[0]
    assert not e["malformed"], e["raw"]


def test_error_request_line_too_long_414(proxy, nginx_origin):
    mark = proxy.access_log.mark()
    host = f"127.0.0.1:{nginx_origin.port}"
    with RawClient(proxy.port, timeout=5) as c:
        c.send(request("GET", f"http://{host}/echo?{'a' * 9000}", host))
        r = c.read_response()
    assert r.status == 414, r
    proxy.access_log.wait(1, mark, lambda x: x["status"] == 414)


@pytest.mark.parametrize("shape", ["large-fields", "many-fields"])
def test_error_headers_too_large_431(proxy, nginx_origin, shape):
    mark = proxy.access_log.mark()
    host = f"127.0.0.1:{nginx_origin.port}"
    if shape == "large-fields":   # 80 KB in 40 fields: over max_header_size (64 KiB)
        fields = [(f"X-Big-{i}", "b" * 2000) for i in range(40)]
    else:                         # 150 small fields: over max_header_fields (100)
        fields = [(f"X-Many-{i}", "m") for i in range(150)]
    with RawClient(proxy.port, timeout=5) as c:
        c.send(request("GET", f"http://{host}/echo?err-431", host, fields))
        r = c.read_response()
    assert r.status == 431, r
    proxy.access_log.wait(1, mark, lambda x: x["status"] == 431)


# -- access rules -----------------------------------------------------------------------

def test_error_connect_port_not_allowed_403(proxy, nginx_origin):
    mark = proxy.access_log.mark()
    r = via(proxy, f"http://127.0.0.1:{nginx_origin.port}/echo", tunnel=True)
    assert r.connect == 403 and r.rc != 0, r
    logged(proxy, mark, f"127.0.0.1:{nginx_origin.port}", 403, "CONNECT")


def test_error_link_local_destination_403(proxy):
    """169.254.169.254 (cloud metadata) is refused before any connection
    attempt: the answer comes at once, not after a connect timeout."""
    mark = proxy.access_log.mark()
    t0 = time.monotonic()
    r = via(proxy, "http://169.254.169.254/latest/meta-data/")
    assert r.rc == 0 and r.status == 403, r
    assert time.monotonic() - t0 < 3
    one_line_body(r)
    logged(proxy, mark, "169.254.169.254", 403, "GET")
    r = via(proxy, "https://169.254.169.254/", tunnel=True)
    assert r.connect == 403, r
    logged(proxy, mark, "169.254.169.254:443", 403, "CONNECT")


def test_error_loopback_destination_403_unless_allowed(sluice_proxy, proxy, nginx_origin):
    p = sluice_proxy({"acl": {"allow_loopback_destinations": False}})
    mark = nginx_origin.access_log.mark()
    for host in ("127.0.0.1", "localhost"):
        tag = f"loop-denied-{host}"
        r = via(p, f"http://{host}:{nginx_origin.port}/echo?{tag}")
        assert r.rc == 0 and r.status == 403, r
        one_line_body(r)
        logged(p, 0, tag, 403, "GET")
    r = via(p, f"https://localhost:{nginx_origin.tls_port}/", tunnel=True)
    assert r.connect == 403, r
    logged(p, 0, f"localhost:{nginx_origin.tls_port}", 403, "CONNECT")
    # Nothing reached nginx: a later request through another proxy is
    # logged, the refused ones are not.
    r = via(proxy, f"{nginx_origin.url}/echo?loop-denied-barrier")
    assert r.status == 200
    nginx_origin.access_log.wait(1, mark, lambda e: "loop-denied-barrier" in e["uri"])
    assert not [e for e in nginx_origin.access_log.entries(mark)
                if "loop-denied-127" in e["uri"] or "loop-denied-localhost" in e["uri"]]


def test_error_proxy_itself_as_destination_403(proxy):
    mark = proxy.access_log.mark()
    with RawClient(proxy.port, timeout=5) as c:
        c.send(request("GET", f"http://{proxy.authority}/files/1k.bin?self-dest", proxy.authority))
        r = c.read_response()
    assert r.status == 403, r
    logged(proxy, mark, "self-dest", 403, "GET")


def test_error_denied_destination_cidr_403(sluice_proxy, nginx_origin):
    p = sluice_proxy({"acl": {"deny_destinations": ["127.0.0.0/8"]}})
    r = via(p, f"{nginx_origin.url}/echo?cidr-denied")
    assert r.rc == 0 and r.status == 403, r
    logged(p, 0, "cidr-denied", 403, "GET")
