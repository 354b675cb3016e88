"""The cache as a client of the proxy sees it, with nginx as the origin
(its /cache/* locations) and curl through sluice: misses then hits, each
answer's X-Cache and the access log's result code, Age on answers from the
cache, HEAD answered from a stored GET, a single Range answered with 206,
the client's own If-None-Match answered 304, only-if-cached, responses
never stored (no-store, private), revalidation with a 304 (the origin sees
a conditional request, the client gets the whole response), Expires and
heuristic freshness, Vary variants, invalidation after a POST, PURGE and
/__sluice/cache, stale-while-revalidate and stale-if-error. Origin
requests are counted in nginx's access log."""
import hashlib
import json
import threading

import pytest

import proxyutil
from cacheutil import cache_conf, get, origin_saw, summary, uniq, wait_ready
from conftest import curl
from proxyutil import TinyOrigin, wait_for


def sha(data):
    return hashlib.sha256(data).hexdigest()


def url_of(nginx_origin, loc, name="1k.bin"):
    return uniq(nginx_origin.file_url(name, prefix=f"/cache/{loc}/"))


def results(proxy, mark, tag, count):
    return [e["result"] for e in proxy.wait_lines(mark, tag, count)]


# -- hits and misses ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["1k.bin", "100k.bin", "10m.bin"])
def test_cache_miss_then_hit(cache_proxy, nginx_origin, name):
    url = url_of(nginx_origin, "max-age", name)
    tag = url.split("?", 1)[1]
    mark, pmark = nginx_origin.access_log.mark(), cache_proxy.access_log.mark()
    first = get(cache_proxy, url)
    assert first.rc == 0 and first.status == 200, first
    assert first.xcache == "MISS"
    second = get(cache_proxy, url)
    assert second.rc == 0 and second.status == 200, second
    assert second.xcache == "HIT"
    assert sha(first.body) == sha(second.body) == nginx_origin.sha256[name]
    assert second.headers.get("content-length") == str(nginx_origin.size[name])
    assert "age" in second.headers and int(second.headers["age"]) >= 0
    assert "sluice" in second.headers.get("via", "")
    assert len(origin_saw(nginx_origin, cache_proxy, mark, tag)) == 1
    first_r, second_r = results(cache_proxy, pmark, tag, 2)
    assert first_r == "TCP_MISS"
    assert second_r in ("TCP_HIT", "TCP_MEM_HIT")


def test_cache_hit_keeps_the_connection(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "max-age")
    target = url.split("//", 1)[1]
    host = target.split("/", 1)[0]
    with proxyutil.RawClient(cache_proxy.port) as c:
        for _ in range(3):
            c.send(proxyutil.request("GET", url, host))
            r = c.read_response()
            assert r.status == 200 and len(r.body) == 1024, r
        assert r.header("x-cache") == "HIT"


def test_cache_head_from_stored_get(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "max-age", "100k.bin")
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    assert get(cache_proxy, url).status == 200
    r = get(cache_proxy, url, "-I")
    assert r.rc == 0 and r.status == 200, r
    assert r.xcache == "HIT"
    assert r.headers.get("content-length") == "102400"
    seen = origin_saw(nginx_origin, cache_proxy, mark, tag)
    assert [e["method"] for e in seen] == ["GET"]


def test_cache_single_range_206(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "max-age", "100k.bin")
    tag = url.split("?", 1)[1]
    mark, pmark = nginx_origin.access_log.mark(), cache_proxy.access_log.mark()
    whole = get(cache_proxy, url)
    assert whole.status == 200
    r = get(cache_proxy, url, "-H", "Range: bytes=100-1123")
    assert r.rc == 0 and r.status == 206, r
    assert r.headers.get("content-range") == "bytes 100-1123/102400"
    assert r.body == whole.body[100:1124]
    assert r.xcache == "HIT"
    tail = get(cache_proxy, url, "-H", "Range: bytes=-10")
    assert tail.status == 206 and tail.body == whole.body[-10:]
    bad = get(cache_proxy, url, "-H", "Range: bytes=200000-")
    assert bad.status == 416, bad
    assert bad.headers.get("content-range") == "bytes */102400"
    assert len(origin_saw(nginx_origin, cache_proxy, mark, tag)) == 1
    assert results(cache_proxy, pmark, tag, 4)[0] == "TCP_MISS"


def test_cache_ranges_of_a_large_object(cache_proxy, nginx_origin):
    """Large bodies go out from a mapping of the file: ranges at odd
    offsets, across pages, and the whole body all come back exact."""
    url = url_of(nginx_origin, "max-age", "10m.bin")
    whole = get(cache_proxy, url)
    assert whole.status == 200 and sha(whole.body) == nginx_origin.sha256["10m.bin"]
    again = get(cache_proxy, url)
    assert again.xcache == "HIT" and sha(again.body) == nginx_origin.sha256["10m.bin"]
    for first, last in ((4097, 600000), (1, 262144 + 4095), (10485760 - 300000, 10485759)):
        r = get(cache_proxy, url, "-H", f"Range: bytes={first}-{last}")
        assert r.status == 206, r
        assert r.body == whole.body[first:last + 1], (first, last)


def test_cache_client_if_none_match_304(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "max-age")
    tag = url.split("?", 1)[1]
    pmark = cache_proxy.access_log.mark()
    first = get(cache_proxy, url)
    etag = first.headers["etag"]
    r = get(cache_proxy, url, "-H", f"If-None-Match: {etag}")
    assert r.rc == 0 and r.status == 304, r
    assert r.body == b"" and r.xcache == "HIT"
    other = get(cache_proxy, url, "-H", 'If-None-Match: "something-else"')
    assert other.status == 200 and len(other.body) == 1024
    assert results(cache_proxy, pmark, tag, 3)[1] == "TCP_IMS_HIT"


def test_cache_only_if_cached(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "max-age")
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    r = get(cache_proxy, url, "-H", "Cache-Control: only-if-cached")
    assert r.status == 504, r
    assert r.xcache == "MISS"
    assert origin_saw(nginx_origin, cache_proxy, mark, tag) == []
    assert get(cache_proxy, url).status == 200
    r = get(cache_proxy, url, "-H", "Cache-Control: only-if-cached")
    assert r.status == 200 and r.xcache == "HIT", r


# -- what is stored, and for how long ------------------------------------------------

@pytest.mark.parametrize("loc", ["no-store", "private"])
def test_cache_never_stores(cache_proxy, nginx_origin, loc):
    url = url_of(nginx_origin, loc)
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    for _ in range(3):
        r = get(cache_proxy, url)
        assert r.status == 200 and len(r.body) == 1024, r
        assert r.xcache == "MISS"
    assert len(origin_saw(nginx_origin, cache_proxy, mark, tag)) == 3


def test_cache_revalidation_304(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "no-cache", "100k.bin")
    tag = url.split("?", 1)[1]
    mark, pmark = nginx_origin.access_log.mark(), cache_proxy.access_log.mark()
    first = get(cache_proxy, url)
    assert first.status == 200 and first.xcache == "MISS"
    second = get(cache_proxy, url)
    assert second.rc == 0 and second.status == 200, second
    assert second.xcache == "REVALIDATED"
    assert sha(second.body) == nginx_origin.sha256["100k.bin"]
    seen = origin_saw(nginx_origin, cache_proxy, mark, tag)
    assert [e["status"] for e in seen] == [200, 304]
    assert seen[0]["if_none_match"] == ""
    assert seen[1]["if_none_match"] == first.headers["etag"]
    assert results(cache_proxy, pmark, tag, 2) == ["TCP_MISS", "TCP_REFRESH_UNMODIFIED"]


@pytest.mark.parametrize("loc", ["expires", "heuristic"])
def test_cache_freshness_without_max_age(cache_proxy, nginx_origin, loc):
    url = url_of(nginx_origin, loc)
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    first = get(cache_proxy, url)
    assert first.status == 200 and "cache-control" not in first.headers, first.head
    assert get(cache_proxy, url).xcache == "HIT"
    assert len(origin_saw(nginx_origin, cache_proxy, mark, tag)) == 1


def test_cache_vary_variants(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "vary-ae")
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    order = ["gzip", "br", "gzip", "br", "identity"]
    got = [get(cache_proxy, url, "-H", f"Accept-Encoding: {ae}").xcache for ae in order]
    assert got == ["MISS", "MISS", "HIT", "HIT", "MISS"]
    seen = origin_saw(nginx_origin, cache_proxy, mark, tag)
    assert [e["accept_encoding"] for e in seen] == ["gzip", "br", "identity"]


def test_cache_post_invalidates(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "inval")
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    assert get(cache_proxy, url).xcache == "MISS"
    assert get(cache_proxy, url).xcache == "HIT"
    post = get(cache_proxy, url, "-d", "x=1")
    assert post.status == 200 and post.body == b"posted\n", post
    assert post.xcache == "BYPASS"
    assert get(cache_proxy, url).xcache == "MISS"
    seen = origin_saw(nginx_origin, cache_proxy, mark, tag)
    assert [e["method"] for e in seen] == ["GET", "POST", "GET"]


# -- PURGE and the summary -----------------------------------------------------------

def test_cache_purge(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "max-age")
    assert get(cache_proxy, url).xcache == "MISS"
    assert get(cache_proxy, url).xcache == "HIT"
    r = get(cache_proxy, url, "-X", "PURGE")
    assert r.status == 200, r
    assert get(cache_proxy, url).xcache == "MISS"
    assert get(cache_proxy, uniq(url), "-X", "PURGE").status == 404


def test_cache_purge_removes_variants(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "vary-ae")
    for ae in ("gzip", "br"):
        assert get(cache_proxy, url, "-H", f"Accept-Encoding: {ae}").xcache == "MISS"
    assert get(cache_proxy, url, "-X", "PURGE").status == 200
    for ae in ("gzip", "br"):
        assert get(cache_proxy, url, "-H", f"Accept-Encoding: {ae}").xcache == "MISS"


def test_cache_summary(cache_proxy, nginx_origin):
    get(cache_proxy, url_of(nginx_origin, "max-age"))
    s = summary(cache_proxy)
    assert s["enabled"] is True and s["ready"] is True
    for k in ("objects", "bytes", "max_size", "hits", "lookups", "stores", "inflight"):
        assert isinstance(s[k], int), s
    assert s["objects"] >= 1 and s["stores"] >= 1


def test_cache_purge_and_summary_need_admin_allow(sluice_proxy, nginx_origin, tmp_path):
    p = sluice_proxy({**cache_conf(tmp_path / "cache"), "admin": {"allow": ["10.0.0.0/8"]}})
    url = url_of(nginx_origin, "max-age")
    assert get(p, url).status == 200
    r = get(p, url, "-X", "PURGE")
    assert r.status == 403, r
    assert get(p, url).xcache == "HIT"
    rc, out, _ = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", f"{p.url}/__sluice/cache")
    assert out == b"403"


def test_cache_off_no_xcache_and_summary(proxy, nginx_origin):
    r = get(proxy, url_of(nginx_origin, "max-age"))
    assert r.status == 200 and r.xcache == ""
    assert summary(proxy) == {"enabled": False}


# -- stale responses -----------------------------------------------------------------

def test_cache_stale_while_revalidate(cache_proxy, nginx_origin):
    url = url_of(nginx_origin, "swr")
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    first = get(cache_proxy, url)
    assert first.xcache == "MISS"
    r = get(cache_proxy, url)
    assert r.status == 200 and r.xcache == "STALE", r
    assert sha(r.body) == nginx_origin.sha256["1k.bin"]
    # The background revalidation reaches the origin as a conditional GET.
    seen = nginx_origin.access_log.wait(2, mark, lambda e: tag in e["uri"])
    assert seen[1]["if_none_match"] == first.headers["etag"]


def _stale_if_error_origin():
    state = {"n": 0}

    def handler(origin, conn, head):
        state["n"] += 1
        if state["n"] == 1:
            body = b"stale-if-error body\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                         b"Cache-Control: max-age=0, stale-if-error=60\r\n"
                         b'ETag: "v1"\r\nConnection: close\r\n\r\n' % len(body) + body)
        else:
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n"
                         b"Connection: close\r\n\r\ndown\n")
        conn.close()
    return TinyOrigin(handler), state


def test_cache_stale_if_error(cache_proxy):
    origin, state = _stale_if_error_origin()
    try:
        url = uniq(f"{origin.url}/sie")
        first = get(cache_proxy, url)
        assert first.status == 200 and first.xcache == "MISS", first
        r = get(cache_proxy, url)
        assert r.status == 200 and r.body == b"stale-if-error body\n", r
        assert r.xcache == "STALE"
        assert state["n"] == 2
        assert b'"v1"' in origin.heads[1] or b"If-None-Match" in origin.heads[1]
    finally:
        origin.close()


def test_cache_client_no_cache_without_validators_refetches(cache_proxy):
    """A client's no-cache on an entry without validators: a whole new
    response from the origin, stored in place of the old one."""
    state = {"n": 0}

    def handler(origin, conn, head):
        state["n"] += 1
        body = b"version %d\n" % state["n"]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nCache-Control: max-age=60\r\n"
                     b"Connection: close\r\n\r\n" % len(body) + body)
        conn.close()
    origin = TinyOrigin(handler)
    try:
        url = uniq(f"{origin.url}/nv")
        assert get(cache_proxy, url).body == b"version 1\n"
        assert get(cache_proxy, url).xcache == "HIT"
        r = get(cache_proxy, url, "-H", "Cache-Control: no-cache")
        assert r.body == b"version 2\n" and r.xcache == "MISS", r
        r = get(cache_proxy, url)
        assert r.body == b"version 2\n" and r.xcache == "HIT", r
        assert state["n"] == 2
    finally:
        origin.close()
