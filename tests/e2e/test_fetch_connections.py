"""sluice-fetch's connection use, as nginx saw it ($connection in its JSON
access log): URLs fetched one after another in one run share one
keep-alive connection; with --parallel N (or -Z --parallel-max N) the
manager's per-host channels cap the connections at 6."""
from fetchutil import err, fetch_run, stats

N = 200


def urls(nginx_origin, tag):
    return [f"{nginx_origin.url}/files/1k.bin?{tag}={i}" for i in range(N)]


def served(nginx_origin, mark, tag):
    got = nginx_origin.access_log.wait(N, mark, lambda e: f"?{tag}=" in e["uri"])
    assert len(got) == N and all(e["status"] == 200 for e in got)
    return {e["connection"] for e in got}


def test_fetch_sequential_gets_share_one_connection(fetch, nginx_origin):
    mark = nginx_origin.access_log.mark()
    r = fetch_run(fetch, "-sS", "--stats", *urls(nginx_origin, "seq"))
    assert r.returncode == 0, err(r)
    assert len(r.stdout) == N * 1024
    assert len(served(nginx_origin, mark, "seq")) == 1
    s = stats(r)
    assert s["connects"] == 1 and s["reused"] == N - 1 and s["requests"] == N


def test_fetch_parallel_gets_use_at_most_6_connections(fetch, nginx_origin):
    for spelling, tag in ((["--parallel", "6"], "par6"), (["-Z", "--parallel-max", "20"], "parz"),
                          (["--parallel=50"], "par50")):
        mark = nginx_origin.access_log.mark()
        r = fetch_run(fetch, "-sS", *spelling, *urls(nginx_origin, tag))
        assert r.returncode == 0, err(r)
        assert len(r.stdout) == N * 1024
        conns = served(nginx_origin, mark, tag)
        assert 1 <= len(conns) <= 6, (spelling, conns)
