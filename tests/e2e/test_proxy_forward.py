"""The proxy forwarding absolute-form requests to the nginx origin, with
curl (-x) and raw sockets as clients: every method, request bodies with
Content-Length, chunked and Expect: 100-continue, chunked responses,
statuses passed through; hop-by-hop fields dropped, Via added and loops
refused, Max-Forwards: 0 answered by the proxy; keep-alive on both sides
($connection in nginx's log), also when the origin closes; several
listeners and a unix socket, one listening socket per worker; pipelined
requests answered in order, https origins verified against the
configured CA; one access log line per request with its duration,
status, bytes and route, and the JSON format."""
import hashlib
import json
import os
import time

import pytest

import servers
from conftest import curl, parse_echo
from proxyutil import RawClient, request, via, wait_for
from servers import LogFile


def sha(data):
    return hashlib.sha256(data).hexdigest()


def nginx_saw(nginx_origin, proxy, mark, tag):
    """Entries of nginx's log after mark whose URI holds tag, read once a
    later barrier request through the proxy has been logged (so a request
    forwarded before it would show)."""
    r = via(proxy, f"{nginx_origin.url}/echo?barrier-{tag}")
    assert r.rc == 0 and r.status == 200, r
    nginx_origin.access_log.wait(1, mark, lambda e: f"barrier-{tag}" in e["uri"])
    return [e for e in nginx_origin.access_log.entries(mark)
            if tag in e["uri"] and "barrier-" not in e["uri"]]


def is_direct(e):
    return e["hierarchy"] in ("DIRECT", "HIER_DIRECT")


# -- methods and bodies --------------------------------------------------------------

@pytest.mark.parametrize("name", ["1k.bin", "100k.bin", "10m.bin"])
def test_forward_get_file(proxy, nginx_origin, name):
    mark = nginx_origin.access_log.mark()
    r = via(proxy, nginx_origin.file_url(name) + "?get")
    assert r.rc == 0 and r.status == 200, r
    assert sha(r.body) == nginx_origin.sha256[name]
    assert r.headers.get("content-length") == str(nginx_origin.size[name])
    seen = nginx_origin.access_log.wait(1, mark, lambda e: e["uri"] == f"/files/{name}?get")
    assert seen[0]["status"] == 200 and seen[0]["body_bytes_sent"] == nginx_origin.size[name]


def test_forward_head(proxy, nginx_origin):
    r = via(proxy, nginx_origin.file_url("100k.bin"), "-I")
    assert r.rc == 0 and r.status == 200, r
    assert r.headers.get("content-length") == "102400"
    assert r.body.startswith(b"HTTP/1.1 200")  # -I writes the head, no body follows


def test_forward_post_content_length(proxy, nginx_origin, tmp_path):
    data = tmp_path / "body.bin"
    data.write_bytes(os.urandom(100 * 1024))
    r = via(proxy, f"{nginx_origin.url}/post", "--data-binary", f"@{data}")
    assert r.rc == 0 and r.status == 200, r
    e = parse_echo(r.body)
    assert e["method"] == "POST" and e["body-length"] == "102400", e


def test_forward_post_chunked(proxy, nginx_origin, tmp_path):
    data = tmp_path / "body.bin"
    data.write_bytes(os.urandom(300 * 1024 + 17))
    r = via(proxy, f"{nginx_origin.url}/post", "-H", "Transfer-Encoding: chunked",
            "--data-binary", f"@{data}")
    assert r.rc == 0 and r.status == 200, r
    e = parse_echo(r.body)
    assert e["method"] == "POST" and e["body-length"] == str(300 * 1024 + 17), e


def test_forward_expect_100_continue(proxy, nginx_origin, tmp_path):
    """curl waits up to 5 s for a 100 Continue before sending the body: the
    proxy must send or relay one rather than sit on the request."""
    data = tmp_path / "body.bin"
    data.write_bytes(os.urandom(200 * 1024))
    t0 = time.monotonic()
    r = via(proxy, f"{nginx_origin.url}/post", "-H", "Expect: 100-continue",
            "--expect100-timeout", "5", "--data-binary", f"@{data}")
    took = time.monotonic() - t0
    assert r.rc == 0 and r.status == 200, r
    assert parse_echo(r.body)["body-length"] == str(200 * 1024)
    assert took < 4, f"took {took:.1f}s: no 100 Continue reached the client"


def test_forward_put_get_delete(proxy, nginx_origin, tmp_path):
    data = tmp_path / "up.bin"
    payload = os.urandom(64 * 1024 + 3)
    data.write_bytes(payload)
    url = f"{nginx_origin.url}/upload/proxy-put.bin"
    r = via(proxy, url, "-T", str(data))
    assert r.rc == 0 and r.status in (201, 204), r
    assert (nginx_origin.upload_dir / "proxy-put.bin").read_bytes() == payload
    r = via(proxy, url)
    assert r.status == 200 and r.body == payload, r
    r = via(proxy, url, "-X", "DELETE")
    assert r.rc == 0 and r.status == 204, r
    assert not (nginx_origin.upload_dir / "proxy-put.bin").exists()
    r = via(proxy, url)
    assert r.rc == 0 and r.status == 404, r


def test_forward_options(proxy, nginx_origin):
    r = via(proxy, f"{nginx_origin.url}/echo?options", "-X", "OPTIONS")
    assert r.rc == 0 and r.status == 200, r
    e = parse_echo(r.body)
    assert e["method"] == "OPTIONS" and e["uri"] == "/echo?options", e


def test_forward_chunked_response(proxy, nginx_origin):
    r = via(proxy, f"{nginx_origin.url}/chunked/100k.bin")
    assert r.rc == 0 and r.status == 200, r
    assert sha(r.body) == nginx_origin.sha256["100k.bin"]


@pytest.mark.parametrize("code", [204, 304, 404, 500, 503])
def test_forward_status_passed_through(proxy, nginx_origin, code):
    mark = proxy.access_log.mark()
    tag = f"status-pass-{code}"
    r = via(proxy, f"{nginx_origin.url}/status/{code}?{tag}")
    assert r.rc == 0 and r.status == code, r
    (e,) = proxy.wait_lines(mark, tag)
    assert e["status"] == code and e["method"] == "GET", e


# -- header handling ------------------------------------------------------------------

def test_forward_hop_by_hop_fields_dropped(proxy, nginx_origin):
    mark = nginx_origin.access_log.mark()
    r = via(proxy, f"{nginx_origin.url}/echo?hop", "-H", "Connection: X-Test, close",
            "-H", "X-Test: must-not-pass", "-H", "Proxy-Authorization: Basic Zm9vOmJhcg==",
            "-H", "Keep-Alive: timeout=5", "-H", "TE: trailers", "-H", "User-Agent: hop-test")
    assert r.rc == 0 and r.status == 200, r
    e = parse_echo(r.body)
    assert e["x-test"] == "", e
    assert e["proxy-authorization"] == "", e
    assert "x-test" not in e["connection"].lower(), e
    assert e["user-agent"] == "hop-test", e
    (seen,) = nginx_origin.access_log.wait(1, mark, lambda x: x["uri"] == "/echo?hop")
    assert not seen["proxy_auth_present"]


def own_via(proxy, nginx_origin):
    r = via(proxy, f"{nginx_origin.url}/echo?own-via")
    assert r.rc == 0 and r.status == 200, r
    return parse_echo(r.body)["via"]


def test_forward_via_added(proxy, nginx_origin):
    v = own_via(proxy, nginx_origin)
    assert v.startswith("1.1 ") and len(v) > 4, f"Via seen by the origin: {v!r}"


def test_forward_foreign_via_kept_and_appended(proxy, nginx_origin):
    own = own_via(proxy, nginx_origin)
    r = via(proxy, f"{nginx_origin.url}/echo?other-via", "-H", "Via: 1.0 upstream-proxy")
    assert r.rc == 0 and r.status == 200, r
    v = parse_echo(r.body)["via"]
    assert v.startswith("1.0 upstream-proxy") and v.endswith(own), (v, own)


def test_forward_own_via_is_a_loop(proxy, nginx_origin):
    own = own_via(proxy, nginx_origin)
    mark, pmark = nginx_origin.access_log.mark(), proxy.access_log.mark()
    r = via(proxy, f"{nginx_origin.url}/echo?via-loop", "-H", f"Via: 1.1 elsewhere, {own}")
    assert r.rc == 0 and r.status >= 400, r
    assert nginx_saw(nginx_origin, proxy, mark, "via-loop") == []
    (e,) = proxy.wait_lines(pmark, "?via-loop")
    assert e["status"] == r.status


def test_forward_max_forwards_zero_options_answered_by_proxy(proxy, nginx_origin):
    mark, pmark = nginx_origin.access_log.mark(), proxy.access_log.mark()
    r = via(proxy, f"{nginx_origin.url}/echo?mf-zero", "-X", "OPTIONS", "-H", "Max-Forwards: 0")
    assert r.rc == 0 and r.status == 200, r
    assert nginx_saw(nginx_origin, proxy, mark, "mf-zero") == []
    (e,) = proxy.wait_lines(pmark, "?mf-zero")
    assert e["status"] == 200 and e["method"] == "OPTIONS"


def test_forward_max_forwards_zero_trace_reflects_request(proxy, nginx_origin):
    mark = nginx_origin.access_log.mark()
    r = via(proxy, f"{nginx_origin.url}/echo?mf-trace", "-X", "TRACE",
            "-H", "Max-Forwards: 0", "-H", "X-Test: traced")
    assert r.rc == 0 and r.status == 200, r
    assert r.headers.get("content-type", "").startswith("message/http"), r.head
    assert r.body.startswith(b"TRACE "), r.body
    assert b"X-Test: traced" in r.body
    assert nginx_saw(nginx_origin, proxy, mark, "mf-trace") == []


def test_forward_max_forwards_one_is_forwarded(proxy, nginx_origin):
    mark = nginx_origin.access_log.mark()
    r = via(proxy, f"{nginx_origin.url}/echo?mf-one", "-X", "OPTIONS", "-H", "Max-Forwards: 1")
    assert r.rc == 0 and r.status == 200, r
    assert parse_echo(r.body)["method"] == "OPTIONS"
    assert len(nginx_saw(nginx_origin, proxy, mark, "mf-one")) == 1


# -- connections ------------------------------------------------------------------------

def test_forward_keepalive_reused_on_both_sides(sluice_proxy, nginx_origin):
    """One curl run, four URLs: one client connection (curl says it re-used
    it) and one upstream connection (nginx's $connection), its request
    counter going up by one each time."""
    p = sluice_proxy()
    mark = nginx_origin.access_log.mark()
    urls = [f"{nginx_origin.url}/files/1k.bin?ka-{i}" for i in range(4)]
    outs = [a for _ in urls for a in ("-o", "/dev/null")]
    rc, _, err = curl("-v", "-x", p.url, *outs, *urls)
    assert rc == 0, err
    assert err.count("Re-using existing connection") == 3, err
    got = nginx_origin.access_log.wait(4, mark, lambda e: "?ka-" in e["uri"])
    got.sort(key=lambda e: e["uri"])
    assert len({e["connection"] for e in got}) == 1, got
    n = [e["connection_requests"] for e in got]
    assert n == list(range(n[0], n[0] + 4)), n


def test_forward_client_kept_alive_when_origin_closes(sluice_proxy, nginx_origin):
    """nginx's /close/ answers with Connection: close: the proxy opens a
    new upstream connection each time but keeps the client's."""
    p = sluice_proxy()
    mark = nginx_origin.access_log.mark()
    urls = [f"{nginx_origin.url}/close/1k.bin?oc-{i}" for i in range(3)]
    outs = [a for _ in urls for a in ("-o", "/dev/null")]
    rc, _, err = curl("-v", "-x", p.url, *outs, *urls)
    assert rc == 0, err
    assert err.count("Re-using existing connection") == 2, err
    got = nginx_origin.access_log.wait(3, mark, lambda e: "?oc-" in e["uri"])
    assert len({e["connection"] for e in got}) == 3, got


def test_listen_several_addresses_and_a_unix_socket(sluice_proxy, nginx_origin):
    p = sluice_proxy(extra_ports=1, unix=True)
    wait_for(p.unix_path.exists, 5, "the unix socket listener")
    for port in p.ports:
        r = via(f"http://127.0.0.1:{port}", nginx_origin.file_url("1k.bin") + f"?port-{port}")
        assert r.rc == 0 and r.status == 200, r
        assert sha(r.body) == nginx_origin.sha256["1k.bin"]
    host = f"127.0.0.1:{nginx_origin.port}"
    with RawClient(0, unix=p.unix_path) as c:
        c.send(request("GET", nginx_origin.file_url("1k.bin") + "?unix-client", host))
        r = c.read_response()
    assert r.status == 200 and sha(r.body) == nginx_origin.sha256["1k.bin"], r
    p.wait_lines(0, "?unix-client")


def test_listen_one_socket_per_worker(sluice_proxy):
    """Each worker has its own SO_REUSEPORT listening socket."""
    p = sluice_proxy({"workers": 3})
    wait_for(lambda: len(servers._listening(p.port)) == 3, 5, "3 listening sockets")
    assert servers._listening(p.port) <= servers._socket_inodes({p.pid})
    assert len(os.listdir(f"/proc/{p.pid}/task")) >= 3


def test_forward_pipelined_requests_answered_in_order(proxy, nginx_origin):
    """Four requests in one write; the first is slow (rate-limited by
    nginx), so answers that come back early must wait their turn."""
    host = f"127.0.0.1:{nginx_origin.port}"
    u = nginx_origin.url
    reqs = [request("GET", f"{u}/slow/100k.bin?pipe-1", host),
            request("GET", f"{u}/echo?pipe-2", host, [("X-Test", "second")]),
            request("HEAD", f"{u}/files/1k.bin?pipe-3", host),
            request("GET", f"{u}/files/1k.bin?pipe-4", host)]
    with RawClient(proxy.port, timeout=15) as c:
        c.send(b"".join(reqs))
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response("HEAD")
        r4 = c.read_response()
    assert r1.status == 200 and sha(r1.body) == nginx_origin.sha256["100k.bin"], r1
    e = parse_echo(r2.body)
    assert r2.status == 200 and e["uri"] == "/echo?pipe-2" and e["x-test"] == "second", e
    assert r3.status == 200 and r3.header("content-length") == "1024" and r3.body == b""
    assert r4.status == 200 and sha(r4.body) == nginx_origin.sha256["1k.bin"], r4


def test_forward_https_origin_verified(proxy, nginx_origin):
    """An absolute https:// URI: the proxy speaks TLS to the origin and
    verifies it against tls.ca_file."""
    host = f"localhost:{nginx_origin.tls_port}"
    mark = nginx_origin.access_log.mark()
    with RawClient(proxy.port) as c:
        c.send(request("GET", f"https://{host}/files/100k.bin?https-fwd", host))
        r = c.read_response()
    assert r.status == 200 and sha(r.body) == nginx_origin.sha256["100k.bin"], r
    (e,) = nginx_origin.access_log.wait(1, mark, lambda x: "https-fwd" in x["uri"])
    assert e["scheme"] == "https"
    (e,) = proxy.wait_lines(0, "https-fwd")
    assert e["url"] == f"https://{host}/files/100k.bin?https-fwd", e["raw"]
    assert is_direct(e) and e["host"] == "127.0.0.1", e["raw"]


def test_forward_route_names_the_address_reached(proxy, nginx_origin):
    """With a host name in the URL, the log's route names the address the
    proxy connected to (Squid's hierarchy/host)."""
    mark = proxy.access_log.mark()
    r = via(proxy, f"http://localhost:{nginx_origin.port}/echo?route-name")
    assert r.rc == 0 and r.status == 200, r
    (e,) = proxy.wait_lines(mark, "route-name")
    assert is_direct(e) and e["host"] == "127.0.0.1", e["raw"]


def test_forward_https_origin_unverified_is_refused(sluice_proxy, nginx_origin):
    p = sluice_proxy({"tls": {"ca_file": ""}})  # the system store does not know the test CA
    host = f"localhost:{nginx_origin.tls_port}"
    with RawClient(p.port) as c:
        c.send(request("GET", f"https://{host}/files/1k.bin?https-untrusted", host))
        r = c.read_response()
    assert r.status == 502, r
    (e,) = p.wait_lines(0, "https-untrusted")
    assert e["status"] == 502


# -- the access log -----------------------------------------------------------------------

def test_access_log_one_line_per_request(proxy, nginx_origin):
    u = nginx_origin.url
    urls = {"alog-1": f"{u}/files/1k.bin?alog-1", "alog-2": f"{u}/files/100k.bin?alog-2",
            "alog-3": f"{u}/slow/100k.bin?alog-3", "alog-4": f"{u}/status/404?alog-4"}
    mark, nmark = proxy.access_log.mark(), nginx_origin.access_log.mark()
    t0 = time.time()
    outs = [a for _ in urls for a in ("-o", "/dev/null")]
    rc, _, err = curl("-x", proxy.url, *outs, *urls.values())
    assert rc == 0, err
    proxy.wait_lines(mark, "alog-", 4)
    r = via(proxy, f"{u}/echo?alog-end")
    assert r.status == 200
    proxy.wait_lines(mark, "alog-end")
    lines = proxy.lines(mark, "alog-")
    assert len(lines) == 5, "\n".join(e["raw"] for e in lines)
    by = {}
    for e in lines:
        assert not e["malformed"], e["raw"]
        by[e["url"].rsplit("?", 1)[1]] = e
    assert set(by) == set(urls) | {"alog-end"}, by.keys()
    for tag, url in urls.items():
        e = by[tag]
        assert e["url"] == url, e["raw"]
        assert e["method"] == "GET" and e["client"] == "127.0.0.1" and e["user"] == "-", e["raw"]
        assert e["result"] == "TCP_MISS", e["raw"]
        assert is_direct(e) and e["host"] == "127.0.0.1", e["raw"]
        assert t0 - 1 <= e["time"] <= time.time() + 1, e["raw"]
    for tag, size in (("alog-1", 1024), ("alog-2", 102400), ("alog-3", 102400)):
        e = by[tag]
        assert e["status"] == 200, e["raw"]
        assert size < e["bytes"] < size + 2048, e["raw"]
        assert e["type"] == "application/octet-stream", e["raw"]
    assert by["alog-4"]["status"] == 404
    # /slow/ takes about a second; the proxy's duration covers nginx's.
    (slow,) = nginx_origin.access_log.wait(1, nmark, lambda x: "alog-3" in x["uri"])
    origin_ms = float(slow["request_time"]) * 1000
    assert origin_ms >= 500, slow
    assert by["alog-3"]["elapsed"] >= origin_ms - 5, (by["alog-3"]["raw"], origin_ms)
    assert by["alog-1"]["elapsed"] < by["alog-3"]["elapsed"]


def test_access_log_json_lines(sluice_proxy, nginx_origin):
    p = sluice_proxy({"log": {"format": "json"}})
    url = nginx_origin.file_url("1k.bin") + "?json-log"
    r = via(p, url)
    assert r.rc == 0 and r.status == 200, r
    lines = LogFile(p.access_path).wait(1, 0, lambda line: "json-log" in line)
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    values = list(entry.values())
    assert url in values and "GET" in values and (200 in values or "200" in values), entry
