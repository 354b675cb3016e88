"""The proxy under load: a 1 GiB response read slowly, or a 1 GiB request
body sent to an origin that reads slowly, keeps the proxy's RSS under
64 MiB (back-pressure: the reading side pauses while the other side's
buffer is full), and 1,000 client connections open at once are all
served."""
import hashlib
import selectors
import socket
import threading
import time

import pytest

from proxyutil import LOOPBACK, ParsedBytes, RawClient, TinyOrigin, raise_nofile, request

MIB = 1 << 20
GIB = 1 << 30


def test_load_slow_reader_of_1gib_keeps_rss_small(sluice_proxy, nginx_origin):
    """The origin sends a 1 GiB sparse file at loopback speed; the client
    reads 200 MiB at 80 MiB/s with a small receive buffer, sampling the
    proxy's RSS every 50 ms, then hangs up."""
    name = "sparse-1g.bin"
    path = nginx_origin.files_dir / name
    with open(path, "wb") as f:
        f.truncate(GIB)
    try:
        p = sluice_proxy()
        host = f"127.0.0.1:{nginx_origin.port}"
        samples = [p.rss_kib()]
        want, rate = 200 * MIB, 80 * MIB
        with RawClient(p.port, timeout=10, rcvbuf=256 * 1024) as c:
            c.send(request("GET", f"{nginx_origin.url}/files/{name}", host))
            r = c.read_head()
            assert r.status == 200 and r.header("content-length") == str(GIB), r
            got = len(c.buf)
            assert c.buf.count(0) == got
            t0 = next_sample = time.monotonic()
            while got < want:
                data = c.sock.recv(65536)
                assert data, f"the proxy closed after {got} bytes"
                assert data.count(0) == len(data), "not the file's zeros"
                got += len(data)
                now = time.monotonic()
                assert now - t0 < 30, f"only {got >> 20} MiB in 30 s"
                if now >= next_sample:
                    samples.append(p.rss_kib())
                    next_sample = now + 0.05
                ahead = got / rate - (now - t0)
                if ahead > 0:
                    time.sleep(ahead)  # the slow reader's pace, not a synchronisation
            samples.append(p.rss_kib())
            assert p.alive()
        peak = max(samples)
        assert peak < 64 * 1024, \
            f"proxy RSS peaked at {peak >> 10} MiB (start {samples[0] >> 10} MiB) over {len(samples)} samples"
        (e,) = p.wait_lines(0, name)
        assert e["status"] == 200 and want <= e["bytes"] < GIB, e["raw"]
    finally:
        path.unlink()


def test_load_large_upload_to_a_slow_origin_keeps_rss_small(sluice_proxy):
    """The client sends a 1 GiB request body as fast as it can; the origin
    reads 200 MiB of it at 80 MiB/s: the proxy must stop reading the
    client rather than buffer the body."""
    want, rate = 200 * MIB, 80 * MIB
    progress = {"got": 0}
    done = threading.Event()

    def slow_reader(origin, conn, head):
        got = len(head.partition(b"\r\n\r\n")[2])
        t0 = time.monotonic()
        while got < want and not origin.release.is_set():
            data = conn.recv(65536)
            if not data:
                break
            got += len(data)
            progress["got"] = got
            ahead = got / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)  # the slow reader's pace
        done.set()
        origin.release.wait(10)

    origin = TinyOrigin(slow_reader)
    sender = None
    try:
        p = sluice_proxy()
        samples = [p.rss_kib()]
        c = RawClient(p.port, timeout=30)
        c.send(request("PUT", f"{origin.url}/upload-big", origin.authority,
                       [("Content-Length", str(GIB))]))

        def send_body():
            chunk = bytes(MIB)
            try:
                for _ in range(GIB // MIB):
                    c.sock.sendall(chunk)
            except OSError:
                pass

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        deadline = time.monotonic() + 30
        while not done.wait(0.05):
            samples.append(p.rss_kib())
            assert time.monotonic() < deadline, f"the origin got {progress['got'] >> 20} MiB in 30 s"
        samples.append(p.rss_kib())
        assert progress["got"] >= want, f"the body stopped after {progress['got']} bytes"
        assert p.alive()
        peak = max(samples)
        assert peak < 64 * 1024, \
            f"proxy RSS peaked at {peak >> 10} MiB (start {samples[0] >> 10} MiB) over {len(samples)} samples"
    finally:
        origin.close()
        if sender is not None:
            c.close()
            sender.join(timeout=10)


def test_load_1000_concurrent_connections(sluice_proxy, nginx_origin):
    n = 1000
    if raise_nofile(4096) < 2 * n + 200:
        pytest.skip("RLIMIT_NOFILE cannot be raised enough for 1,000 connections")
    p = sluice_proxy()
    host = f"127.0.0.1:{nginx_origin.port}"
    socks, bufs = [], {}
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + 60
    try:
        for _ in range(n):
            socks.append(socket.create_connection((LOOPBACK, p.port), timeout=10))
        # Every connection is open before the first request is sent.
        for i, s in enumerate(socks):
            s.sendall(request("GET", f"{nginx_origin.url}/files/1k.bin?c1000-{i}", host,
                              [("Connection", "close")]))
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            bufs[i] = []
        left = n
        while left and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    data = b""
                if data:
                    bufs[key.data].append(data)
                else:
                    sel.unregister(key.fileobj)
                    left -= 1
        assert left == 0, f"{left} of {n} connections not answered and closed within 60 s"
    finally:
        sel.close()
        for s in socks:
            s.close()
    bad = []
    want = nginx_origin.sha256["1k.bin"]
    for i in range(n):
        raw = b"".join(bufs[i])
        try:
            r = ParsedBytes(raw).read_response()
            ok = r.status == 200 and hashlib.sha256(r.body).hexdigest() == want
        except (AssertionError, ConnectionError, ValueError):
            ok = False
        if not ok:
            bad.append((i, raw[:120]))
    assert not bad, f"{len(bad)} of {n} connections failed, first: {bad[:3]}"
    got = p.access_log.wait(n, 0, lambda e: "c1000-" in e["url"], timeout=20)
    assert len(got) == n and all(e["status"] == 200 for e in got)
