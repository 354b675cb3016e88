"""The cache under load and failure, with curl through sluice: 50
concurrent requests for a 50 MiB object the origin sends slowly make one
origin request and 50 identical bodies (collapsed forwarding, read while
written); an origin that resets midway stores nothing (its clients, those
reading along included, see an error; the next request goes upstream);
kill -9 while an object is being written, then a restart, serves no
corrupt object and keeps what was complete; a restart keeps hits; the
store stays under cache.max_size; a fill goes on when its client leaves,
a client that stops reading holds up nobody, and a chunked response is
stored and served with a length (or close-delimited to HTTP/1.0)."""
import hashlib
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import proxyutil
import servers
from cacheutil import cache_conf, files_size, get, origin_saw, uniq, wait_ready
from proxyutil import TinyOrigin, wait_for

BIG = servers.BIG_FILE[0]


class Download:
    """curl through a proxy in the background, hashing the body as it comes;
    .rc, .sha, .size, .head (text) once done()."""

    def __init__(self, proxy, url, out=None):
        self.hfile = tempfile.NamedTemporaryFile(prefix="sluice-head-", delete=False)
        self.out = out
        argv = ["curl", "-q", "-sS", "--max-time", "60", "-x", proxy.url, "-D",
                self.hfile.name, "-o", str(out) if out else "-", url]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=servers.clean_env())
        self.h = hashlib.sha256()
        self.size = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            b = self.proc.stdout.read(1 << 20)
            if not b:
                break
            self.h.update(b)
            self.size += len(b)

    def done(self, timeout=70):
        self.thread.join(timeout)
        self.rc = self.proc.wait(timeout)
        self.err = self.proc.stderr.read().decode(errors="replace")
        self.sha = self.h.hexdigest()
        self.head = Path(self.hfile.name).read_text(errors="replace")
        Path(self.hfile.name).unlink()
        return self

    def xcache(self):
        for line in self.head.splitlines():
            k, _, v = line.partition(":")
            if k.strip().lower() == "x-cache":
                return v.strip()
        return ""


def test_cache_collapsed_forwarding_50_clients(cache_proxy, nginx_origin):
    url = uniq(nginx_origin.file_url(BIG, prefix="/cache/slow/"))
    tag = url.split("?", 1)[1]
    mark, pmark = nginx_origin.access_log.mark(), cache_proxy.access_log.mark()
    downloads = [Download(cache_proxy, url) for _ in range(50)]
    for d in downloads:
        d.done()
    for d in downloads:
        assert d.rc == 0, d.err
        assert d.size == nginx_origin.size[BIG]
        assert d.sha == nginx_origin.sha256[BIG]
    seen = origin_saw(nginx_origin, cache_proxy, mark, tag)
    assert len(seen) == 1, seen
    xc = sorted(d.xcache() for d in downloads)
    assert xc.count("MISS") == 1 and xc.count("HIT") == 49, xc
    codes = [e["result"] for e in cache_proxy.wait_lines(pmark, tag, 50)]
    assert codes.count("TCP_MISS") == 1
    assert set(codes) <= {"TCP_MISS", "TCP_CF_HIT", "TCP_HIT", "TCP_MEM_HIT"}, codes
    assert all(e["status"] == 200 for e in cache_proxy.access_log.entries(pmark)
               if tag in e["url"])


def _resetting_origin():
    """First request: a 1 MB response cut by a reset after 300 KB, once
    release is set; then whole responses."""
    state = {"n": 0}
    body = bytes(range(256)) * 4096   # 1 MiB

    def handler(origin, conn, head):
        state["n"] += 1
        hdr = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nCache-Control: max-age=60\r\n"
               b"Content-Type: application/octet-stream\r\n\r\n" % len(body))
        if state["n"] == 1:
            conn.sendall(hdr + body[:300 * 1024])
            origin.release.wait(20)
            proxyutil.reset(conn)
            return
        conn.sendall(hdr + body)
        conn.close()
    o = TinyOrigin(handler)
    o.body = body
    return o, state


def test_cache_origin_reset_stores_nothing(cache_proxy, tmp_path):
    origin, state = _resetting_origin()
    try:
        url = uniq(f"{origin.url}/reset")
        outs = [tmp_path / f"out{i}" for i in range(3)]
        first = Download(cache_proxy, url, outs[0])
        wait_for(lambda: outs[0].exists() and outs[0].stat().st_size > 0, 10,
                 "the first client's body")
        readers = [Download(cache_proxy, url, o) for o in outs[1:]]
        wait_for(lambda: all(o.exists() and o.stat().st_size > 0 for o in outs[1:]), 10,
                 "the readers' bodies")
        origin.release.set()
        for d in [first] + readers:
            d.done()
            assert d.rc != 0, "a cut response must fail the client"
        assert state["n"] == 1
        r = get(cache_proxy, url)
        assert r.status == 200 and r.body == origin.body, r
        assert r.xcache == "MISS"
        assert state["n"] == 2
        assert get(cache_proxy, url).xcache == "HIT"
    finally:
        origin.release.set()
        origin.close()


def _start(sluice, nginx_origin, dir, cache_dir, **cache):
    conf = proxyutil.merge(proxyutil.base_config(nginx_origin), cache_conf(cache_dir, **cache))
    return proxyutil.Sluice(sluice, dir, conf)


def test_cache_restart_keeps_hits(sluice, nginx_origin, tmp_path):
    cache_dir = tmp_path / "cache"
    urls = [uniq(nginx_origin.file_url(n, prefix="/cache/max-age/")) for n in
            ("1k.bin", "100k.bin", "10m.bin")]
    p = _start(sluice, nginx_origin, tmp_path / "a", cache_dir)
    try:
        wait_ready(p)
        for u in urls:
            assert get(p, u).xcache == "MISS"
    finally:
        assert p.stop() == 0
    q = _start(sluice, nginx_origin, tmp_path / "b", cache_dir)
    try:
        wait_ready(q)
        mark = nginx_origin.access_log.mark()
        for u, n in zip(urls, ("1k.bin", "100k.bin", "10m.bin")):
            r = get(q, u)
            assert r.status == 200 and r.xcache == "HIT", r
            assert hashlib.sha256(r.body).hexdigest() == nginx_origin.sha256[n]
        assert origin_saw(nginx_origin, q, mark, "/cache/max-age/") == []
    finally:
        assert q.stop() == 0


def test_cache_kill9_while_writing_then_restart(sluice, nginx_origin, tmp_path):
    cache_dir = tmp_path / "cache"
    done_url = uniq(nginx_origin.file_url("100k.bin", prefix="/cache/max-age/"))
    big_url = uniq(nginx_origin.file_url(BIG, prefix="/cache/slow/"))
    p = _start(sluice, nginx_origin, tmp_path / "a", cache_dir)
    try:
        wait_ready(p)
        assert get(p, done_url).xcache == "MISS"
        out = tmp_path / "partial"
        d = Download(p, big_url, out)
        wait_for(lambda: out.exists() and out.stat().st_size > 4 << 20, 20,
                 "4 MiB of the big object")
        p.stopping = True
        p.server.proc.send_signal(signal.SIGKILL)
        p.server.proc.wait(10)
        d.done()
        assert d.rc != 0
    finally:
        p.server.stop()
    q = _start(sluice, nginx_origin, tmp_path / "b", cache_dir)
    try:
        wait_ready(q)
        r = get(q, done_url)
        assert r.xcache == "HIT" and hashlib.sha256(r.body).hexdigest() == \
            nginx_origin.sha256["100k.bin"]
        d = Download(q, big_url).done()
        assert d.rc == 0, d.err
        assert d.xcache() == "MISS"
        assert d.sha == nginx_origin.sha256[BIG]
        again = Download(q, big_url).done()
        assert again.xcache() == "HIT" and again.sha == nginx_origin.sha256[BIG]
    finally:
        assert q.stop() == 0


def test_cache_eviction_keeps_under_max_size(sluice_proxy, nginx_origin, tmp_path):
    cache_dir = tmp_path / "cache"
    max_size = 1 << 20
    p = sluice_proxy(cache_conf(cache_dir, max_size="1MiB", max_object_size="200KiB",
                                memory="0"))
    wait_ready(p)
    urls = [uniq(nginx_origin.file_url("100k.bin", prefix="/cache/max-age/"))
            for _ in range(30)]
    for u in urls:
        r = get(p, u)
        assert r.status == 200 and r.xcache == "MISS", r
        assert files_size(cache_dir) <= max_size
    assert get(p, urls[-1]).xcache == "HIT"
    assert get(p, urls[0]).xcache == "MISS"
    assert files_size(cache_dir) <= max_size


def test_cache_fill_survives_its_client_leaving(cache_proxy, nginx_origin):
    """The client that started the fetch goes away after a second; the fetch
    still fills the cache, and the next request is a hit."""
    url = uniq(nginx_origin.file_url(BIG, prefix="/cache/slow/"))
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    d = Download(cache_proxy, url)
    wait_for(lambda: d.size > 2 << 20, 20, "2 MiB of the object")
    d.proc.kill()
    d.done()
    assert d.size < nginx_origin.size[BIG]
    wait_for(lambda: nginx_origin.access_log.entries(mark) and any(
        tag in e["uri"] for e in nginx_origin.access_log.entries(mark)), 30,
        "the origin finishing the object")
    r = Download(cache_proxy, url).done()
    assert r.rc == 0 and r.xcache() == "HIT", (r.err, r.head)
    assert r.sha == nginx_origin.sha256[BIG]
    assert len(origin_saw(nginx_origin, cache_proxy, mark, tag)) == 1


def test_cache_slow_reader_does_not_hold_up_the_others(cache_proxy, nginx_origin):
    """A client that stops reading after the head does not slow the fill:
    the object is committed and served to others while it still waits."""
    url = uniq(nginx_origin.file_url(BIG, prefix="/cache/slow/"))
    host = url.split("//", 1)[1].split("/", 1)[0]
    leader = Download(cache_proxy, url)
    wait_for(lambda: leader.size > 0, 20, "the first bytes")
    with proxyutil.RawClient(cache_proxy.port, rcvbuf=4096, timeout=30) as slow:
        slow.send(proxyutil.request("GET", url, host))
        head = slow.read_head()
        assert head.status == 200 and head.header("x-cache") == "HIT"
        leader.done()
        assert leader.rc == 0 and leader.sha == servers_sha(nginx_origin)
        again = Download(cache_proxy, url).done()
        assert again.rc == 0 and again.xcache() == "HIT"
        assert again.sha == servers_sha(nginx_origin)


def servers_sha(nginx_origin):
    return nginx_origin.sha256[BIG]


def _chunked_origin():
    state = {"n": 0}
    parts = [b"first part;", b"second part;", b"x" * 70000]

    def handler(origin, conn, head):
        state["n"] += 1
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                     b"Cache-Control: max-age=60\r\nConnection: close\r\n\r\n")
        for p in parts:
            conn.sendall(b"%x\r\n%s\r\n" % (len(p), p))
        conn.sendall(b"0\r\n\r\n")
        conn.close()
    o = TinyOrigin(handler)
    o.body = b"".join(parts)
    return o, state


def test_cache_chunked_response_stored(cache_proxy):
    origin, state = _chunked_origin()
    try:
        url = uniq(f"{origin.url}/chunked")
        first = get(cache_proxy, url)
        assert first.rc == 0 and first.body == origin.body and first.xcache == "MISS", first
        second = get(cache_proxy, url)
        assert second.body == origin.body and second.xcache == "HIT"
        assert second.headers.get("content-length") == str(len(origin.body))
        old = get(cache_proxy, uniq(url), "--http1.0")
        assert old.rc == 0 and old.body == origin.body, old
        assert state["n"] == 2
    finally:
        origin.close()
