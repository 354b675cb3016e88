"""sluice-fetch side by side with curl, on loopback (run by bench_fetch.sh).

1. Many small objects: nginx serves 2,000 files of 1 KiB; both clients
   fetch the whole list with at most 6 transfers at once
   (sluice-fetch --parallel 6, curl --parallel --parallel-max 6), best of
   three runs each; prints requests/s and the ratio.
2. One large file: a sparse 1 GiB file (no disk traffic: the point is the
   network path, not the disk) downloaded to /dev/null directly, through
   microsocks (a SOCKS5 hop) and through Squid (a CONNECT hop); prints
   MB/s for sluice-fetch and curl, sluice-fetch's ratio to its direct
   download, and sluice-fetch's peak memory (its hidden --stats flag
   reports VmHWM).

The servers come from the e2e suite's servers.py (nginx origin,
microsocks, Squid), on 127.0.0.1 with free ports, in a temporary directory
removed at the end. Every client run has a timeout.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import servers  # noqa: E402

BUILD = Path(os.environ.get("SLUICE_BUILD", ROOT / "build"))
FETCH = str(BUILD / "sluice-fetch")
SMALL_COUNT = 2000
SMALL_SIZE = 1024
BIG_SIZE = 1 << 30
STEP_TIMEOUT = 120
RUNS = 3
BIG_RUNS = 2


def timed(argv, timeout=STEP_TIMEOUT):
    """Runs argv (stdout to /dev/null); returns (seconds, stderr text)."""
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout, env=servers.clean_env())
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {r.returncode}: {r.stderr.decode()[-500:]}")
    return dt, r.stderr.decode(errors="replace")


def max_rss_kb(stderr):
    for word in stderr.split():
        if word.startswith("max_rss_kb="):
            return int(word.split("=")[1])
    return -1


def small_objects(origin):
    d = origin.files_dir / "small"
    d.mkdir()
    for i in range(SMALL_COUNT):
        (d / f"o{i}.bin").write_bytes(os.urandom(SMALL_SIZE))
    urls = [f"{origin.url}/files/small/o{i}.bin" for i in range(SMALL_COUNT)]
    sluice = [FETCH, "-sS", "--parallel", "6", *urls]
    curl = ["curl", "-q", "-sS", "--parallel", "--parallel-max", "6", *urls]
    best = {}
    for name, argv in (("sluice", sluice), ("curl", curl)):
        best[name] = min(timed(argv)[0] for _ in range(RUNS))
    s_rps, c_rps = SMALL_COUNT / best["sluice"], SMALL_COUNT / best["curl"]
    print(f"bench-fetch: {SMALL_COUNT} objects of {SMALL_SIZE} B, 6 at once, best of {RUNS}")
    print(f"  {'sluice-fetch --parallel 6':34s} {s_rps:10.0f} req/s")
    print(f"  {'curl --parallel --parallel-max 6':34s} {c_rps:10.0f} req/s")
    print(f"  {'ratio sluice-fetch / curl':34s} {s_rps / c_rps:10.2f}")


def big_file(origin, micro, squid):
    big = origin.files_dir / "1g.bin"
    with open(big, "wb") as f:
        f.truncate(BIG_SIZE)
    # The first read of a sparse file fills the page cache with zero pages:
    # do it here, so neither client pays for it.
    with open(big, "rb") as f:
        while f.read(1 << 20):
            pass
    url = f"{origin.url}/files/1g.bin"
    routes = [("direct", [], []),
              ("microsocks (SOCKS5 hop)", ["-x", micro.url], ["-x", micro.url]),
              ("squid (CONNECT hop)", ["-x", squid.url], ["-x", squid.url, "--proxytunnel"])]
    mb = BIG_SIZE / 1e6
    print(f"bench-fetch: 1 GiB (sparse file) to /dev/null, best of {BIG_RUNS}")
    print(f"  {'route':26s} {'sluice MB/s':>12s} {'vs direct':>10s} {'max RSS':>10s} "
          f"{'curl MB/s':>10s}")
    direct = None
    try:
        for name, sargs, cargs in routes:
            s_dt, err = min(timed([FETCH, "-sS", "--stats", "-o", "/dev/null", *sargs, url])
                            for _ in range(BIG_RUNS))
            c_dt = min(timed(["curl", "-q", "-sS", "-o", "/dev/null", *cargs, url])[0]
                       for _ in range(BIG_RUNS))
            rate = mb / s_dt
            direct = direct or rate
            print(f"  {name:26s} {rate:12.0f} {rate / direct:10.2f} "
                  f"{max_rss_kb(err) / 1024:8.1f} MB {mb / c_dt:10.0f}")
    finally:
        big.unlink(missing_ok=True)


def main():
    if not Path(FETCH).exists():
        sys.exit(f"bench-fetch: {FETCH} is missing: run make first")
    if not shutil.which("curl"):
        sys.exit("bench-fetch: curl is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="sluice-bench-fetch-"))
    try:
        ca = servers.TestCA(tmp / "ca")
        origin = servers.NginxOrigin(tmp / "nginx", ca)
        small_objects(origin)
        micro = servers.Microsocks(tmp / "microsocks")
        squid = servers.Squid(tmp / "squid", None)
        big_file(origin, micro, squid)
    finally:
        servers.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
