"""sluice-fetch --cache-dir: the client stack's cache (a private cache) and
its --cache-mode load controls, against the nginx origin, counting the
requests that reach it: prefer-network answers a fresh stored response
without the network and revalidates a stale one (304, the body from the
cache), always-network goes to the network and still stores,
prefer-cache takes a stale stored response as it is, always-cache never
goes to the network and exits 78 when nothing is stored."""
import hashlib

from cacheutil import uniq
from fetchutil import err, fetch_run


def sha(data):
    return hashlib.sha256(data).hexdigest()


def saw(nginx_origin, mark, tag):
    return [e for e in nginx_origin.access_log.entries(mark) if tag in e["uri"]]


def cfetch(fetch, cache_dir, url, *args):
    return fetch_run(fetch, "-sS", "--cache-dir", cache_dir, *args, url)


def test_fetch_cache_prefer_network(fetch, nginx_origin, tmp_path):
    url = uniq(nginx_origin.file_url("100k.bin", prefix="/cache/max-age/"))
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    a = cfetch(fetch, tmp_path / "c", url)
    assert a.returncode == 0, err(a)
    b = cfetch(fetch, tmp_path / "c", url, "-v")
    assert b.returncode == 0, err(b)
    assert sha(a.stdout) == sha(b.stdout) == nginx_origin.sha256["100k.bin"]
    assert "from the cache" in err(b)
    assert len(saw(nginx_origin, mark, tag)) == 1


def test_fetch_cache_revalidates_stale(fetch, nginx_origin, tmp_path):
    url = uniq(nginx_origin.file_url("1k.bin", prefix="/cache/no-cache/"))
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    a = cfetch(fetch, tmp_path / "c", url)
    b = cfetch(fetch, tmp_path / "c", url, "-i")
    assert a.returncode == 0 and b.returncode == 0, err(b)
    assert b.stdout.startswith(b"HTTP/1.1 200"), b.stdout[:200]
    assert b.stdout.endswith(a.stdout)
    seen = nginx_origin.access_log.wait(2, mark, lambda e: tag in e["uri"])
    assert [e["status"] for e in seen] == [200, 304]
    assert seen[1]["if_none_match"] != ""


def test_fetch_cache_always_network_still_stores(fetch, nginx_origin, tmp_path):
    url = uniq(nginx_origin.file_url("1k.bin", prefix="/cache/max-age/"))
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    for _ in range(2):
        r = cfetch(fetch, tmp_path / "c", url, "--cache-mode", "always-network")
        assert r.returncode == 0, err(r)
    assert len(nginx_origin.access_log.wait(2, mark, lambda e: tag in e["uri"])) == 2
    r = cfetch(fetch, tmp_path / "c", url, "--cache-mode", "always-cache")
    assert r.returncode == 0 and sha(r.stdout) == nginx_origin.sha256["1k.bin"], err(r)
    assert len(saw(nginx_origin, mark, tag)) == 2


def test_fetch_cache_prefer_cache_takes_stale(fetch, nginx_origin, tmp_path):
    url = uniq(nginx_origin.file_url("1k.bin", prefix="/cache/no-cache/"))
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    assert cfetch(fetch, tmp_path / "c", url).returncode == 0
    r = cfetch(fetch, tmp_path / "c", url, "--cache-mode", "prefer-cache")
    assert r.returncode == 0 and sha(r.stdout) == nginx_origin.sha256["1k.bin"], err(r)
    nginx_origin.access_log.wait(1, mark, lambda e: tag in e["uri"])
    assert len(saw(nginx_origin, mark, tag)) == 1


def test_fetch_cache_always_cache_miss_exits_78(fetch, nginx_origin, tmp_path):
    url = uniq(nginx_origin.file_url("1k.bin", prefix="/cache/max-age/"))
    tag = url.split("?", 1)[1]
    mark = nginx_origin.access_log.mark()
    r = cfetch(fetch, tmp_path / "c", url, "--cache-mode", "always-cache")
    assert r.returncode == 78, err(r)
    assert "not in the cache" in err(r)
    assert saw(nginx_origin, mark, tag) == []


def test_fetch_cache_mode_needs_dir(fetch):
    r = fetch_run(fetch, "--cache-mode", "prefer-cache", "http://127.0.0.1:1/")
    assert r.returncode == 2 and "--cache-dir" in err(r)
    r = fetch_run(fetch, "--cache-dir", "/tmp", "--cache-mode", "sometimes",
                  "http://127.0.0.1:1/")
    assert r.returncode == 2 and "--cache-mode" in err(r)
