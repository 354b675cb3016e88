"""Helpers of the cache's end-to-end tests (test_cache_*.py).

cache_conf(dir, **cache) is the configuration override that turns the
cache on in dir (more cache keys as keyword arguments). get() runs curl
through a proxy and returns the proxyutil.CurlResult with .xcache (the
X-Cache value, "" when absent). origin_saw() counts what reached nginx,
read after a barrier request so nothing logged late is missed; summary()
reads /__sluice/cache; wait_ready() waits until the index rebuild is done.
uniq() makes a URL no other test uses (a query string), so tests sharing
the module's proxy and its cache do not see each other's entries.
files_size() sums the sizes of the files under a cache directory.
"""
import itertools
import json
import os
from pathlib import Path

from conftest import curl
from proxyutil import via, wait_for

_seq = itertools.count()


def cache_conf(dir, **cache):
    return {"cache": {"dir": str(dir), **cache}}


def uniq(url, tag="u"):
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}{tag}={os.getpid()}-{next(_seq)}"


def get(proxy, url, *args, **kw):
    r = via(proxy, url, *args, **kw)
    r.xcache = r.headers.get("x-cache", "")
    return r


def origin_saw(nginx_origin, proxy, mark, tag):
    """nginx's log entries after mark whose URI holds tag, read once a
    later barrier request through the proxy has been logged."""
    b = uniq(f"{nginx_origin.url}/echo", "barrier")
    r = via(proxy, b)
    assert r.rc == 0 and r.status == 200, r
    bt = b.split("?", 1)[1]
    nginx_origin.access_log.wait(1, mark, lambda e: bt in e["uri"])
    return [e for e in nginx_origin.access_log.entries(mark)
            if tag in e["uri"] and "barrier=" not in e["uri"]]


def summary(proxy):
    rc, out, err = curl(f"{proxy.url}/__sluice/cache")
    assert rc == 0, err
    return json.loads(out)


def wait_ready(proxy, timeout=20.0):
    return wait_for(lambda: summary(proxy).get("ready"), timeout, "the cache index rebuild")


def files_size(dir):
    return sum(p.stat().st_size for p in Path(dir).rglob("*") if p.is_file())


def log_entry(proxy, mark, tag, count=1):
    """The proxy's access log entries after mark for URLs holding tag."""
    return proxy.wait_lines(mark, tag, count)
