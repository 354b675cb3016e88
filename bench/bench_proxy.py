"""The proxy benchmark of `make bench` (bench-proxy): sluice beside Squid,
tinyproxy, nginx proxy_cache and Varnish, on loopback, in one run.

Servers, each on 127.0.0.1 with a free port, configured in a temporary
directory:
  direct       nginx as the origin: /1k, /100k and /1g (1 KiB, 100 KiB and a
               sparse 1 GiB file), all with Cache-Control: no-store. wrk
               straight at it is "nginx direct", the ceiling.
  squid        Squid as a forward proxy: no cache (cache deny all), no
               access log, one process (its default).
  tinyproxy    tinyproxy as a forward proxy, log level Error.
  ngx-cache    nginx with proxy_cache in front of the origin (upstream
               keep-alive), worker_processes auto, no access log.
  varnish      varnishd -b ORIGIN -s malloc,64m.
  sluice       build/sluice (SLUICE_BUILD), workers auto, no access log;
               included only when it can proxy: it is started and one
               request is sent through it, else "sluice: not available in
               this build" and the peers still run.
ngx-cache and Varnish are caching reverse proxies: they cannot forward, so
they get origin-form requests ("GET /1k") and have the origin as their
backend; CONNECT does not apply to them. The responses are no-store, so no
cache answers anything: every request crosses the proxy to the origin.

Scenarios (bench/README.md says what each measures):
  1k, 100k           wrk -t1 -c50, the same URL over keep-alive
                     (bench/wrk/absolute.lua puts the absolute URI in the
                     request line for the forward proxies);
  1k-uniq, 100k-uniq the same with a new URL per request (bench/wrk/unique.lua);
  tunnel             curl -p -x PROXY downloads /1g through a CONNECT tunnel
                     to the origin's plain port (best of TUNNEL_RUNS); the
                     direct download is the reference;
  idle               IDLE_CONNS silent TCP connections to the server: its RSS
                     before and after, per connection; then one request on
                     each, and the RSS again.
Each wrk run is preceded by a short warm-up run; every figure comes with
the server's CPU time (utime + stime of all its processes, from
/proc/PID/stat) per request or per GiB. At the end a table (scenario x
server) with the ratios sluice/Squid, sluice/best peer and sluice/nginx
direct.

Everything is bounded: each wrk and curl run has a timeout, the idle test
a deadline. Servers are managed by tests/e2e/servers.py (own sessions,
SIGKILL if this process dies, stopped at exit); SIGTERM and ^C unwind
through the same cleanup, and the temporary directory (with the sparse
1 GiB file) is removed.

Then the upstream chain scenario (--chain runs only it; --skip chain
leaves it out): sluice forwarding 1 KiB keep-alive as above, directly and
through one hop of each kind (a CONNECT hop and a forwarding hop, both
Squid; a SOCKS5 hop, Dante), each its own sluice started in turn,
with the ratio of each to direct and the connections the origin accepted
(reuse of upstream connections shows as a count near wrk's 50).

Usage: bench/bench_proxy.py [--duration S] [--warmup S] [--idle-conns N]
                            [--skip NAME,...] [--chain | --cache-only]
"""
import argparse
import json
import os
import platform
import re
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import servers  # noqa: E402

BUILD = Path(os.environ.get("SLUICE_BUILD", ROOT / "build"))
SLUICE = BUILD / "sluice"
WRK_DIR = ROOT / "bench" / "wrk"
LOOPBACK = servers.LOOPBACK

WRK_THREADS = 1
WRK_CONNS = 50
TUNNEL_RUNS = 2
TUNNEL_TIMEOUT = 60
BIG_SIZE = 1 << 30
IDLE_STEP = 20.0   # bound of each step of the idle test: open, accept, answers
PROBE_TIMEOUT = 10.0
TICK = os.sysconf("SC_CLK_TCK")

VARNISHD = "/usr/sbin/varnishd"
TINYPROXY = "/usr/bin/tinyproxy"

# Columns of the table, in order; the peers are the proxies sluice is
# compared with ("best peer"), nginx direct is the ceiling.
ORDER = ("direct", "squid", "tinyproxy", "ngx-cache", "varnish", "sluice")
PEERS = ("squid", "tinyproxy", "ngx-cache", "varnish")
LABEL = {"direct": "direct", "squid": "squid", "tinyproxy": "tinyproxy",
         "ngx-cache": "ngx-cache*", "varnish": "varnish*", "sluice": "sluice"}

# (key, title, wrk script, path on the origin)
WRK_SCENARIOS = (
    ("1k", "1 KiB keep-alive", "absolute.lua", "/1k"),
    ("100k", "100 KiB keep-alive", "absolute.lua", "/100k"),
    ("1k-uniq", "1 KiB unique URLs", "unique.lua", "/1k"),
    ("100k-uniq", "100 KiB unique URLs", "unique.lua", "/100k"),
)

# The cache scenarios (bench-cache): hits of a warmed cache, (key, title,
# path on the origin). /c/ serves the files with Cache-Control: public,
# max-age=86400; "direct" is nginx serving the same file.
CACHE_SCENARIOS = (
    ("hit-1k", "1 KiB cache hit", "/c/1k"),
    ("hit-100k", "100 KiB cache hit", "/c/100k"),
    ("hit-10m", "10 MiB cache hit", "/c/10m"),
)
CACHE_ORDER = ("direct", "squid", "ngx-cache", "varnish", "sluice")
CACHE_PEERS = ("squid", "ngx-cache", "varnish")

# (metric, higher is better, format)
WRK_METRICS = (("req/s", True, "{:.0f}"), ("MiB/s", True, "{:.1f}"),
               ("p99 ms", False, "{:.2f}"), ("cpu us/req", False, "{:.1f}"))
TUNNEL_METRICS = (("MiB/s", True, "{:.0f}"), ("cpu ms/GiB", False, "{:.0f}"))
IDLE_METRICS = (("B/conn idle", False, "{:.0f}"), ("B/conn +1 req", False, "{:.0f}"))


# -- the servers ---------------------------------------------------------------

class Target:
    """A server under test: key (a column of ORDER), kind ("origin",
    "forward" or "reverse"), port, and server (the ServerProcess)."""

    def __init__(self, key, kind, port, server):
        self.key, self.kind, self.port, self.server = key, kind, port, server

    def pids(self):
        return self.server.members()

    def cpu_seconds(self):
        """utime + stime of all the server's processes (threads included)."""
        total = 0
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            rest = stat[stat.rfind(")") + 2:].split()
            total += int(rest[11]) + int(rest[12])
        return total / TICK

    def rss_bytes(self):
        """VmRSS summed over the server's processes."""
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                continue
        return total

    def target_url(self, origin, path):
        """What goes in the request line for origin path: the absolute URI
        for a forward proxy, the path itself otherwise."""
        return f"{origin.url}{path}" if self.kind == "forward" else path


class Origin:
    """The nginx origin: port, url, root with the benchmark's files, and
    target, the origin as the "direct" Target."""

    CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
lock_file {dir}/nginx.lock;
error_log {dir}/error.log warn;
events {{ worker_connections 19000; }}
http {{
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 10s;
    open_file_cache max=16;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
        add_header Cache-Control "no-store" always;
        location = /__status {{ stub_status; }}
        # The cache scenarios: the same files, fresh for a day.
        location /c/ {{
            alias {root}/;
            add_header Cache-Control "public, max-age=86400" always;
        }}
    }}
}}
"""

    def __init__(self, dir):
        self.dir = Path(dir)
        self.root = self.dir / "root"
        for d in (self.root, self.dir / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        (self.root / "1k").write_bytes(os.urandom(1024))
        (self.root / "100k").write_bytes(os.urandom(100 * 1024))
        (self.root / "10m").write_bytes(os.urandom(10 * 1024 * 1024))
        with open(self.root / "1g", "wb") as f:
            f.truncate(BIG_SIZE)  # sparse: no disk traffic
        self.server = servers.launch("nginx-origin", self._build)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.target = Target("direct", "origin", self.port, self.server)

    def _build(self):
        self.port = servers.free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(self.CONF.format(dir=self.dir, root=self.root, port=self.port))
        argv = [servers.NGINX, "-p", self.dir, "-c", conf, "-e", self.dir / "error.log"]
        return argv, self.dir, [self.port], [self.dir / "error.log"]


SQUID_CONF = """
http_port 127.0.0.1:{port}
visible_hostname sluice-bench-squid
pid_filename {dir}/squid.pid
cache_log {dir}/cache.log
access_log none
cache_store_log none
cache deny all
cache_mem 8 MB
coredump_dir {dir}
max_filedescriptors {nofile}
shutdown_lifetime 1 second
pinger_enable off
netdb_filename none
dns_nameservers 127.0.0.1
udp_outgoing_address 127.0.0.1
udp_incoming_address 127.0.0.1
acl localnet src 127.0.0.0/8
http_access allow localnet
http_access deny all
"""


class BenchSquid(servers.Squid):
    """servers.Squid (run as 'proxy' when root, shared memory and directory
    handled there) with the benchmark's configuration: no cache, no access
    log, CONNECT to any port."""

    def _build(self):
        self._remove_shm()
        self.port = servers.free_port()
        self.conf.write_text(SQUID_CONF.format(
            port=self.port, dir=self.dir,
            nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
        argv = [servers.SQUID, "-N", "-d1", "-n", self.service, "-f", self.conf]
        return argv, self.dir, [self.port], [self.cache_log]


def start_squid(tmp, origin):
    squid = BenchSquid(tmp / "squid", None)
    return Target("squid", "forward", squid.port, squid.server)


SQUID_CACHE_CONF = """
http_port 127.0.0.1:{port}
visible_hostname sluice-bench-squid-cache
pid_filename {dir}/squid.pid
cache_log {dir}/cache.log
access_log none
cache_store_log none
cache allow all
cache_mem 256 MB
maximum_object_size_in_memory 16 MB
maximum_object_size 64 MB
memory_cache_mode always
coredump_dir {dir}
max_filedescriptors {nofile}
shutdown_lifetime 1 second
pinger_enable off
netdb_filename none
dns_nameservers 127.0.0.1
udp_outgoing_address 127.0.0.1
udp_incoming_address 127.0.0.1
acl localnet src 127.0.0.0/8
http_access allow localnet
http_access deny all
"""


class BenchSquidCache(servers.Squid):
    """Squid as a caching forward proxy for the cache scenarios: a 256 MB
    memory cache holding objects up to 16 MB (no cache_dir: hits come from
    memory, its fastest path), no access log."""

    def _build(self):
        self._remove_shm()
        self.port = servers.free_port()
        self.conf.write_text(SQUID_CACHE_CONF.format(
            port=self.port, dir=self.dir,
            nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
        argv = [servers.SQUID, "-N", "-d1", "-n", self.service, "-f", self.conf]
        return argv, self.dir, [self.port], [self.cache_log]


def start_squid_cache(tmp, origin):
    squid = BenchSquidCache(tmp / "squid-cache", None)
    return Target("squid", "forward", squid.port, squid.server)


def start_tinyproxy(tmp, origin):
    d = tmp / "tinyproxy"
    d.mkdir()
    port = {}

    def build():
        port["p"] = servers.free_port()
        conf = d / "tinyproxy.conf"
        # No ConnectPort line: CONNECT to any port.
        conf.write_text(f"Port {port['p']}\nListen 127.0.0.1\nTimeout 600\n"
                        f"LogFile \"{d}/tinyproxy.log\"\nLogLevel Error\n"
                        f"PidFile \"{d}/tinyproxy.pid\"\nMaxClients 6000\n"
                        "Allow 127.0.0.1\n")
        return [TINYPROXY, "-d", "-c", conf], d, [port["p"]], [d / "tinyproxy.log"]

    sp = servers.launch("tinyproxy", build)
    return Target("tinyproxy", "forward", port["p"], sp)


NGINX_CACHE_CONF = """
daemon off;
worker_processes auto;
pid {dir}/nginx.pid;
lock_file {dir}/nginx.lock;
error_log {dir}/error.log warn;
events {{ worker_connections 19000; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    proxy_cache_path {dir}/cache levels=1:2 keys_zone=bench:8m max_size=256m
                     inactive=10m use_temp_path=off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server_tokens off;
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
        }}
        # The cache scenarios: the same, saying whether it was a hit.
        location /c/ {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            add_header X-Cache-Status $upstream_cache_status;
        }}
    }}
}}
"""


def start_nginx_cache(tmp, origin):
    d = tmp / "ngx-cache"
    (d / "tmp").mkdir(parents=True)
    port = {}

    def build():
        port["p"] = servers.free_port()
        conf = d / "nginx.conf"
        conf.write_text(NGINX_CACHE_CONF.format(dir=d, port=port["p"], origin=origin.port))
        return ([servers.NGINX, "-p", d, "-c", conf, "-e", d / "error.log"],
                d, [port["p"]], [d / "error.log"])

    sp = servers.launch("nginx-cache", build)
    return Target("ngx-cache", "reverse", port["p"], sp)


def start_varnish(tmp, origin):
    d = tmp / "varnish"
    d.mkdir()
    port = {}

    def build():
        port["p"] = servers.free_port()
        # -F: foreground; -T none: no management port; timeout_idle is
        # raised from 5 s so that the idle connections stay open.
        argv = [VARNISHD, "-F", "-a", f"{LOOPBACK}:{port['p']}",
                "-b", f"{LOOPBACK}:{origin.port}", "-n", d / "work", "-T", "none",
                "-s", "malloc,64m", "-p", "timeout_idle=60"]
        return argv, d, [port["p"]], []

    sp = servers.launch("varnishd", build)
    return Target("varnish", "reverse", port["p"], sp)


def start_sluice(tmp, origin, key="sluice", routing=None, cache=False):
    """build/sluice as key (its directory too), forwarding direct, or with
    routing (the upstreams and routes keys of its configuration), with a
    disk cache when cache is set."""
    d = tmp / ("sluice-cache" if cache else key)
    d.mkdir()
    port = {}

    def build():
        port["p"] = servers.free_port()
        conf = d / "sluice.json"
        cfg = {"listen": [f"{LOOPBACK}:{port['p']}"], "workers": "auto",
               "acl": {"allow_loopback_destinations": True, "connect_ports": [origin.port]},
               "log": {"access": "", "error": f"{d}/error.log"}}
        if cache:
            # The cache scenarios: a disk cache in the temporary directory
            # with the default memory tier (64 MiB, objects up to 64 KiB).
            cfg["cache"] = {"dir": f"{d}/cache", "max_size": "1GiB"}
        cfg.update(routing or {})
        conf.write_text(json.dumps(cfg, indent=1) + "\n")
        return [SLUICE, "-c", conf], d, [port["p"]], [d / "error.log"]

    sp = servers.launch(key, build)
    return Target(key, "forward", port["p"], sp)


# -- one request ---------------------------------------------------------------

def request_bytes(target, origin, path):
    host = f"{LOOPBACK}:{origin.port}" if target.kind == "forward" else f"{LOOPBACK}:{target.port}"
    return (f"GET {target.target_url(origin, path)} HTTP/1.1\r\nHost: {host}\r\n"
            "User-Agent: sluice-bench\r\n\r\n").encode()


class Response:
    """Collects one response from bytes as they come; done when complete
    (Content-Length, chunked end, or EOF)."""

    def __init__(self):
        self.buf = b""
        self.status = None
        self.length = None
        self.body_at = None
        self.chunked = False
        self.eof = False

    def feed(self, data):
        if not data:
            self.eof = True
            return
        self.buf += data
        if self.body_at is None and b"\r\n\r\n" in self.buf:
            head = self.buf[:self.buf.index(b"\r\n\r\n")].decode("latin-1")
            self.body_at = len(head) + 4
            lines = head.split("\r\n")
            parts = lines[0].split()
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            for line in lines[1:]:
                k, _, v = line.partition(":")
                k = k.strip().lower()
                if k == "content-length":
                    self.length = int(v.strip())
                elif k == "transfer-encoding" and "chunked" in v.lower():
                    self.chunked = True

    def body_len(self):
        return len(self.buf) - self.body_at if self.body_at is not None else 0

    def done(self):
        if self.eof:
            return True
        if self.body_at is None:
            return False
        if self.length is not None:
            return self.body_len() >= self.length
        if self.chunked:
            return self.buf.endswith(b"0\r\n\r\n")
        return False


def one_request(target, origin, path, timeout):
    """Sends one GET for path through target on a fresh connection;
    returns the Response (raises OSError on a connection failure)."""
    r = Response()
    with socket.create_connection((LOOPBACK, target.port), timeout=timeout) as s:
        s.sendall(request_bytes(target, origin, path))
        while not r.done():
            r.feed(s.recv(65536))
    return r


def probe(target, origin, timeout=PROBE_TIMEOUT):
    """Waits (bounded) until a GET /1k through target answers 200 with the
    1 KiB body. Returns None, or why not."""
    deadline = time.monotonic() + timeout
    why = "no answer"
    while time.monotonic() < deadline:
        if not target.server.alive():
            return "exited"
        try:
            r = one_request(target, origin, "/1k", timeout=2.0)
            if r.status == 200 and r.body_len() == 1024 and not r.chunked:
                return None
            why = f"status {r.status}, {r.body_len()} body bytes"
        except OSError as e:
            why = str(e)
        time.sleep(0.1)
    return why


# -- wrk -------------------------------------------------------------------------

class CaptureServer:
    """A loopback server that records request heads and answers each with an
    empty 200 (keep-alive): checks what the wrk scripts send."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.heads = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(2.0)
        buf = b""
        with c:
            try:
                while len(self.heads) < 8 and not self.stopping:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                    while b"\r\n\r\n" in buf:
                        head, buf = buf.split(b"\r\n\r\n", 1)
                        self.heads.append(head.decode("latin-1"))
                        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                return

    def close(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(timeout=2)


def check_wrk_scripts(origin):
    """Makes sure the Lua scripts put what we think in the request line and
    Host: the absolute URI and the origin's authority for a forward proxy,
    a unique query per request. Raises RuntimeError otherwise."""
    authority = f"{LOOPBACK}:{origin.port}"
    abs_url = f"{origin.url}/1k"
    for script, args in (("absolute.lua", [abs_url]), ("unique.lua", [abs_url, "check"])):
        cap = CaptureServer()
        try:
            subprocess.run(["wrk", "-t1", "-c1", "-d1s", "-s", WRK_DIR / script,
                            f"http://{LOOPBACK}:{cap.port}/", "--", *args],
                           capture_output=True, timeout=20, env=servers.clean_env())
        finally:
            cap.close()
        heads = cap.heads[:3]
        if len(heads) < 2:
            raise RuntimeError(f"wrk {script}: no requests captured")
        lines = [h.split("\r\n")[0] for h in heads]
        hosts = [re.search(r"(?im)^host:\s*(\S+)", h) for h in heads]
        if any(m is None or m.group(1) != authority for m in hosts):
            raise RuntimeError(f"wrk {script}: Host is not {authority}: {heads[0]!r}")
        if script == "absolute.lua":
            ok = all(line == f"GET {abs_url} HTTP/1.1" for line in lines)
        else:
            ok = (all(line.startswith(f"GET {abs_url}?u=check-") for line in lines)
                  and len(set(lines)) == len(lines))
        if not ok:
            raise RuntimeError(f"wrk {script}: unexpected request lines {lines}")
        print(f"  wrk {script}: {lines[0]}  (Host: {authority})")


def run_wrk(target, origin, script, path, duration, run_id):
    """One wrk run; returns the parsed wrk-result as a dict, plus cpu (the
    target's CPU seconds during the run)."""
    args = [target.target_url(origin, path)]
    if script == "unique.lua":
        args.append(run_id)
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNS}", f"-d{duration}s", "--timeout", "5s",
            "-s", WRK_DIR / script, f"http://{LOOPBACK}:{target.port}/", "--", *args]
    cpu0 = target.cpu_seconds()
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=duration + 30, env=servers.clean_env())
    cpu1 = target.cpu_seconds()
    m = re.search(r"^wrk-result (.*)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"wrk exited {r.returncode}: {(r.stderr or r.stdout)[-300:]}")
    res = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    res["cpu"] = cpu1 - cpu0
    return res


def wrk_scenario(target, origin, script, path, duration, warmup, run_id):
    """Warm-up then the measured run; returns ({metric: value}, note or
    None, flagged). Only completed requests count, so socket read and write
    errors (a server that closes after each answer: wrk reconnects) are a
    note; failed statuses, timeouts and connect errors beyond 1 % flag the
    figures."""
    if warmup > 0:
        run_wrk(target, origin, script, path, warmup, run_id + "w")
    res = run_wrk(target, origin, script, path, duration, run_id)
    n = res["requests"]
    if n == 0:
        raise RuntimeError("no request completed")
    secs = res["duration_us"] / 1e6
    errors = {k: res[k] for k in ("connect", "read", "write", "status", "timeout") if res[k]}
    note = None
    if errors:
        note = "errors " + ", ".join(f"{k} {v}" for k, v in errors.items()) + f" in {n} requests"
        if set(errors) <= {"read", "write"}:
            note += " (the server closed connections; wrk reconnects)"
    flagged = res["connect"] + res["status"] + res["timeout"] > n * 0.01
    return {"req/s": n / secs, "MiB/s": res["bytes"] / secs / (1 << 20),
            "p99 ms": res["p99_us"] / 1000.0, "cpu us/req": res["cpu"] * 1e6 / n}, note, flagged


# -- CONNECT tunnel ------------------------------------------------------------

def tunnel_scenario(target, origin):
    """Best of TUNNEL_RUNS downloads of /1g through a CONNECT tunnel (direct
    for the origin); returns ({metric: value}, None, False)."""
    url = f"{origin.url}/1g"
    via = [] if target.kind == "origin" else ["-p", "-x", f"http://{LOOPBACK}:{target.port}"]
    best, cpu, total = 0.0, 0.0, 0
    for _ in range(TUNNEL_RUNS):
        cpu0 = target.cpu_seconds()
        r = subprocess.run(["curl", "-q", "-sS", "-o", "/dev/null", "--max-time", str(TUNNEL_TIMEOUT),
                            "-w", "%{http_code} %{size_download} %{speed_download}", *via, url],
                           capture_output=True, text=True, timeout=TUNNEL_TIMEOUT + 10,
                           env=servers.clean_env(), stdin=subprocess.DEVNULL)
        cpu += target.cpu_seconds() - cpu0
        code, size, speed = (r.stdout.split() + ["0", "0", "0"])[:3]
        if r.returncode != 0 or code != "200" or int(size) != BIG_SIZE:
            raise RuntimeError(f"curl exited {r.returncode}, status {code}, {size} bytes: "
                               f"{r.stderr.strip()[-200:]}")
        total += BIG_SIZE
        best = max(best, float(speed) / (1 << 20))
    return {"MiB/s": best, "cpu ms/GiB": cpu * 1000 / (total / BIG_SIZE)}, None, False


# -- idle connections ----------------------------------------------------------

def wait_until(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def accepted(port):
    """Established connections to 127.0.0.1:port that a process accepted
    (/proc/net/tcp shows inode 0 for those still in the accept queue)."""
    local = f"0100007F:{port:04X}"
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == local and fields[3] == "01" and fields[9] != "0":
                n += 1
    return n


def idle_scenario(target, origin, count):
    """count silent connections, then one request on each; returns
    ({metric: value}, note or None, flagged): connections not accepted,
    answers missing or not 200 flag the figures, connections the server
    closed after answering are a note."""
    # The origin's keep-alive connections of the previous test go first.
    wait_until(lambda: accepted(origin.port) < 1000, 15.0)
    base = accepted(target.port)
    rss0 = target.rss_bytes()
    socks = []
    notes = []
    flagged = False
    try:
        deadline = time.monotonic() + IDLE_STEP
        for _ in range(count):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(socks)} connections opened in {IDLE_STEP:.0f} s")
            s = socket.create_connection((LOOPBACK, target.port), timeout=5.0)
            socks.append(s)
        if not wait_until(lambda: accepted(target.port) >= base + count, IDLE_STEP):
            notes.append(f"{accepted(target.port) - base} of {count} accepted")
            flagged = True
        rss1 = target.rss_bytes()
        # One request on each connection, answers read concurrently.
        req = request_bytes(target, origin, "/1k")
        sel = selectors.DefaultSelector()
        pending = {}
        for s in socks:
            s.setblocking(False)
            s.send(req)  # a few dozen bytes into an empty send buffer
            resp = Response()
            pending[s] = resp
            sel.register(s, selectors.EVENT_READ, resp)
        statuses = {}
        deadline = time.monotonic() + IDLE_STEP
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                s, resp = key.fileobj, key.data
                try:
                    resp.feed(s.recv(65536))
                except BlockingIOError:
                    continue
                except OSError:
                    resp.eof = True
                if resp.done():
                    sel.unregister(s)
                    del pending[s]
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
        sel.close()
        if pending:
            notes.append(f"{len(pending)} answers missing")
        bad = {k: v for k, v in statuses.items() if k != 200}
        flagged = flagged or bool(pending) or bool(bad)
        if bad:
            notes.append("statuses " + ", ".join(f"{k}: {v}" for k, v in sorted(bad.items(), key=str)))
        rss2 = target.rss_bytes()
        closed = sum(1 for s in socks if s not in pending and _closed(s))
        if closed:
            notes.append(f"closed {closed} connections after the answer")
    finally:
        for s in socks:
            s.close()
    return ({"B/conn idle": (rss1 - rss0) / count, "B/conn +1 req": (rss2 - rss0) / count},
            "; ".join(notes) or None, flagged)


def _closed(s):
    """True when the peer closed s (EOF pending)."""
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


# -- upstream chains ------------------------------------------------------------

# (key, what, routing of its sluice: hop stands for the hop's port)
CHAIN_ROWS = (
    ("sluice-direct", "direct (the reference)", None),
    ("sluice-connect", "1 CONNECT hop (Squid)",
     {"upstreams": {"hop": {"type": "http", "host": LOOPBACK, "port": "squid"}},
      "routes": [{"via": "hop"}]}),
    ("sluice-socks", "1 SOCKS5 hop (Dante)",
     {"upstreams": {"hop": {"type": "socks5", "host": LOOPBACK, "port": "dante"}},
      "routes": [{"via": "hop"}]}),
    ("sluice-forward", "1 forwarding hop (Squid)",
     {"upstreams": {"hop": {"type": "http", "host": LOOPBACK, "port": "squid",
                            "mode": "forward"}},
      "routes": [{"via": "hop"}]}),
)
CHAIN_TARGET = 0.10   # the bound: within 10 % of direct


def origin_accepts(origin):
    """nginx's count of connections accepted so far (stub_status), the one
    asking excluded."""
    r = one_request(origin.target, origin, "/__status", 5.0)
    m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)", r.buf[r.body_at or 0:])
    if r.status != 200 or not m:
        raise RuntimeError(f"no stub_status from the origin: {r.buf[:200]!r}")
    return int(m.group(1)) - 1


def chain_scenario(target, origin, duration, warmup, run_id):
    """1 KiB keep-alive through target (wrk as in the 1k scenario), plus the
    connections the origin accepted meanwhile (warm-up included): with
    upstream connections reused they stay near wrk's 50, not the
    requests."""
    before = origin_accepts(origin)
    vals, note, flagged = wrk_scenario(target, origin, "absolute.lua", "/1k", duration, warmup,
                                       run_id)
    vals["origin conns"] = origin_accepts(origin) - before - 1
    return vals, note, flagged


CHAIN_METRICS = (("req/s", True, "{:.0f}"), ("p99 ms", False, "{:.2f}"),
                 ("cpu us/req", False, "{:.1f}"), ("origin conns", False, "{:.0f}"))


def run_chain(tmp, origin, opts):
    """The upstream chain scenario: sluice forwarding 1 KiB directly, through
    one CONNECT hop, one SOCKS5 hop and one forwarding hop, one after the
    other in this run, and the ratios to direct. Returns the Results."""
    print("upstream chains, 1 KiB keep-alive (wrk -t1 -c50), sluice direct and through one hop:")
    hops = {}
    squid = BenchSquid(tmp / "hop-squid", None)
    hops["squid"] = squid
    # Dante rather than microsocks: microsocks leaves Nagle on, and its
    # relaying then waits for the client's delayed ACK (about 40 ms per
    # request on a kept-alive tunnel), which would measure nothing of ours.
    if Path(servers.DANTED).exists():
        hops["dante"] = servers.Dante(tmp / "hop-dante", auth=False)
    else:
        print(f"  dante: {servers.DANTED} is not installed: the SOCKS5 row is left out")
    res = Results()
    run_id = str(os.getpid())
    for key, what, routing in CHAIN_ROWS:
        LABEL[key] = key
        if routing:
            routing = json.loads(json.dumps(routing))
            up = routing["upstreams"]["hop"]
            if up["port"] not in hops:
                continue
            up["port"] = hops[up["port"]].port
        t = None
        try:
            t = start_sluice(tmp, origin, key, routing)
            why = probe(t, origin, timeout=5.0)
        except RuntimeError as e:
            why = str(e).splitlines()[0]
        if why:
            print(f"  {key}: does not answer ({why})")
            res.set("chain", CHAIN_METRICS, key, {m: "err" for m, _, _ in CHAIN_METRICS})
        else:
            print(f"  {what}:")
            res.measure("chain", CHAIN_METRICS, key, lambda: chain_scenario(
                t, origin, opts.duration, opts.warmup, f"{run_id}{key}"))
        if t:
            t.server.stop()
    for h in hops.values():
        h.stop()
    return res


def report_chain(res):
    cells = res.cells
    direct = cells.get(("chain", "req/s"), {}).get("sluice-direct")
    direct_cpu = cells.get(("chain", "cpu us/req"), {}).get("sluice-direct")
    print()
    print("upstream chains (1 KiB keep-alive; ratios against sluice direct in the same run)")
    print(f"  {'route':16s} {'req/s':>8s} {'p99 ms':>7s} {'cpu us/req':>10s} "
          f"{'origin conns':>12s} {'req/s':>6s} {'cpu':>6s}")
    verdicts = []
    for key, what, _ in CHAIN_ROWS:
        row = {m: cells.get(("chain", m), {}).get(key) for m, _, _ in CHAIN_METRICS}
        if row["req/s"] is None:
            continue
        r = ratio(row["req/s"], direct)
        c = ratio(row["cpu us/req"], direct_cpu)
        print(f"  {key:16s} " + " ".join(fmt(row[m], f).rjust(w) for (m, _, f), w in
                                         zip(CHAIN_METRICS, (8, 7, 10, 12))) + f" {r:>6s} {c:>6s}")
        if key in ("sluice-connect", "sluice-socks") and r != "n/a":
            verdicts.append(f"{key}: req/s {r} of direct ({'within' if float(r) >= 1 - CHAIN_TARGET else 'NOT within'} "
                            f"{CHAIN_TARGET:.0%}); sluice's own CPU per request {c} of direct")
    for v in verdicts:
        print(f"  {v}")
    print("  req/s ratio: the whole path (the hop relays every byte too, on the same CPUs);\n"
          "  cpu ratio: sluice's CPU time per request, what the route adds to sluice itself.\n"
          "  origin conns: connections nginx accepted during the warm-up and the run: near "
          "wrk's 50\n  (or fewer) when upstream connections are reused, the request count "
          "if not.")
    if res.notes:
        print("notes:")
        for n in res.notes:
            print(f"  {n}")


# -- the run -------------------------------------------------------------------

def fmt(v, f):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return f.format(v)


def ratio(a, b):
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b <= 0 or a <= 0:
        return "n/a"
    return f"{a / b:.2f}"


def print_table(rows, have, order=ORDER, peer_keys=PEERS):
    """rows: (scenario title, metric, higher is better, format, {key: value})."""
    cols = [k for k in order if k in have]
    heads = ["scenario", "metric"] + [LABEL[k] for k in cols] + \
            ["sl/squid", "sl/best", "sl/direct"]
    table = []
    for title, metric, higher, f, vals in rows:
        cells = [title, metric] + [fmt(vals.get(k), f) for k in cols]
        s = vals.get("sluice")
        peers = [vals[k] for k in peer_keys if isinstance(vals.get(k), (int, float))]
        best = (max(peers) if higher else min(peers)) if peers else None
        cells += [ratio(s, vals.get("squid")), ratio(s, best), ratio(s, vals.get("direct"))]
        table.append(cells)
    widths = [max(len(r[i]) for r in table + [heads]) for i in range(len(heads))]
    line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    print(line(heads))
    print("  ".join("-" * w for w in widths))
    prev = None
    for r in table:
        print(line([r[0] if r[0] != prev else ""] + r[1:]))
        prev = r[0]


def start_targets(tmp, origin, skip, starters, sluice_cache):
    """Starts each (key, binary, start) of starters and then sluice (with
    its cache when sluice_cache), probing each once: a peer that does not
    answer through itself is an error; sluice that does not is left out
    with a message. Returns {key: Target} with the origin as "direct"."""
    targets = {"direct": origin.target}
    for key, binary, start in starters:
        if key in skip:
            print(f"{key}: skipped")
            continue
        if not Path(binary).exists():
            print(f"{key}: {binary} is not installed (make deps): left out")
            continue
        t = start(tmp, origin)
        why = probe(t, origin)
        if why:
            raise RuntimeError(f"{key} does not answer through itself: {why}\n"
                               f"{t.server.diagnostics()}")
        targets[key] = t
    if "sluice" in skip:
        print("sluice: skipped")
        return targets
    if not SLUICE.exists():
        print(f"sluice: not available in this build ({SLUICE} is missing)")
        return targets
    t = None
    try:
        t = start_sluice(tmp, origin, cache=sluice_cache)
        why = probe(t, origin, timeout=5.0)
    except RuntimeError as e:
        why = str(e).splitlines()[0]
    if why:
        print(f"sluice: not available in this build ({why})")
        if t:
            t.server.stop()
    else:
        targets["sluice"] = t
        print("sluice: answers through itself")
    return targets


def start_servers(tmp, origin, skip):
    """The forwarding scenarios' servers: Squid, tinyproxy, nginx
    proxy_cache, Varnish and sluice (responses are no-store)."""
    return start_targets(tmp, origin, skip,
                         [("squid", servers.SQUID, start_squid),
                          ("tinyproxy", TINYPROXY, start_tinyproxy),
                          ("ngx-cache", servers.NGINX, start_nginx_cache),
                          ("varnish", VARNISHD, start_varnish)], False)


def start_cache_servers(tmp, origin, skip):
    """The cache scenarios' servers: Squid with a memory cache, nginx
    proxy_cache, Varnish and sluice with its cache."""
    return start_targets(tmp, origin, skip,
                         [("squid", servers.SQUID, start_squid_cache),
                          ("ngx-cache", servers.NGINX, start_nginx_cache),
                          ("varnish", VARNISHD, start_varnish)], True)


def warm(target, origin, path, attempts=20):
    """Requests path through target until its answer is a hit (X-Cache HIT
    for Squid and sluice, Age > 0 or X-Cache HIT for the others, or simply
    a second answer for those that say nothing). Returns None or why not."""
    for _ in range(attempts):
        try:
            r = one_request(target, origin, path, timeout=10.0)
        except OSError as e:
            return str(e)
        if r.status != 200:
            return f"status {r.status}"
        head = r.buf[:r.body_at].decode("latin-1").lower()
        if re.search(r"^x-cache: hit", head, re.M) or re.search(r"^x-cache-status: hit", head, re.M):
            return None
        if target.kind == "origin":
            return None
        if re.search(r"^age: [1-9]", head, re.M) or (target.key == "varnish" and
                                                     re.search(r"^x-varnish: \d+ \d+", head, re.M)):
            return None
        time.sleep(0.05)
    return "no hit after warming"


def run_cache_scenarios(targets, origin, opts):
    """Every cache scenario against every target: a warm-up request until it
    hits, wrk's warm-up run, the measured run."""
    res = Results()
    order = [k for k in CACHE_ORDER if k in targets]
    run_id = str(os.getpid())
    for skey, title, path in CACHE_SCENARIOS:
        print(f"{title} ({path}, absolute.lua for the forward proxies):")
        for key in order:
            t = targets[key]

            def measure():
                why = warm(t, origin, path)
                if why:
                    raise RuntimeError(f"warming {path}: {why}")
                return wrk_scenario(t, origin, "absolute.lua", path, opts.duration,
                                    opts.warmup, f"{run_id}{key}{skey}")
            res.measure(skey, WRK_METRICS, key, measure)
    return res


def cache_report(res, targets):
    rows = []
    for skey, title, _ in CACHE_SCENARIOS:
        rows += res.row(skey, title, WRK_METRICS)
    print()
    if "sluice" not in targets:
        print("sluice: not available in this build: its column and ratios are n/a")
    print_table(rows, set(targets) | {"sluice"}, CACHE_ORDER, CACHE_PEERS)
    print("* caching reverse proxy: origin-form requests (GET /c/1k) with the origin as "
          "backend.  squid: a forward\n  proxy with a memory cache.  sl/best: against the "
          "best of squid, ngx-cache, varnish.  Every\n  server's cache is warmed first: "
          "every measured request is a hit (direct: nginx serving the file).")
    if res.notes:
        print("notes:")
        for n in res.notes:
            print(f"  {n}")


class Results:
    """The figures of the run: cells[(scenario key, metric)][target key]
    is a number, "err", "n/a" or a string marked "!", and notes."""

    def __init__(self):
        self.cells = {}
        self.notes = []

    def measure(self, skey, metrics, key, fn):
        """Runs fn (a scenario function returning (values, note, flagged))
        and prints one line. A failure becomes "err" cells and a note;
        flagged figures are marked with "!" and leave the ratios."""
        try:
            vals, note, flagged = fn()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            vals, note, flagged = ({m: "err" for m, _, _ in metrics},
                                   f"failed: {str(e).strip()[:300]}", False)
        if note:
            self.notes.append(f"{skey} / {LABEL[key]}: {note}")
        if flagged:
            vals = {m: fmt(vals[m], f) + "!" for m, _, f in metrics}
        self.set(skey, metrics, key, vals)
        print(f"  {LABEL[key]:11s} " + "  ".join(f"{fmt(vals[m], f)} {m}" for m, _, f in metrics)
              + (f"  ({note})" if note else ""))

    def set(self, skey, metrics, key, vals):
        for m, _, _ in metrics:
            self.cells.setdefault((skey, m), {})[key] = vals[m]

    def row(self, skey, title, metrics):
        return [(title, m, hi, f, self.cells.get((skey, m), {})) for m, hi, f in metrics]


def run_scenarios(targets, origin, opts):
    """Every scenario against every target, scenario by scenario (so the
    figures compared with each other are close in time); returns Results."""
    res = Results()
    order = [k for k in ORDER if k in targets]
    run_id = str(os.getpid())
    for skey, title, script, path in WRK_SCENARIOS:
        print(f"{title} ({path}, {script}):")
        for key in order:
            res.measure(skey, WRK_METRICS, key, lambda: wrk_scenario(
                targets[key], origin, script, path, opts.duration, opts.warmup,
                f"{run_id}{key}{skey}"))
    print("CONNECT tunnel, 1 GiB (curl -p -x; direct: no proxy):")
    for key in order:
        if targets[key].kind == "reverse":
            res.set("tunnel", TUNNEL_METRICS, key, {m: "n/a" for m, _, _ in TUNNEL_METRICS})
            print(f"  {LABEL[key]:11s} n/a (a reverse proxy)")
            continue
        res.measure("tunnel", TUNNEL_METRICS, key, lambda: tunnel_scenario(targets[key], origin))
    print(f"idle connections: {opts.idle_conns} silent, then one request /1k on each:")
    for key in order:
        res.measure("idle", IDLE_METRICS, key,
                    lambda: idle_scenario(targets[key], origin, opts.idle_conns))
    return res


def report(res, targets, opts):
    """The closing table and the notes."""
    rows = []
    for skey, title, _, _ in WRK_SCENARIOS:
        rows += res.row(skey, title, WRK_METRICS)
    rows += res.row("tunnel", "tunnel 1 GiB", TUNNEL_METRICS)
    rows += res.row("idle", f"{opts.idle_conns} idle conns", IDLE_METRICS)
    print()
    if "sluice" not in targets:
        print("sluice: not available in this build: its column and ratios are n/a")
    print_table(rows, set(targets) | {"sluice"})
    print("* caching reverse proxy: origin-form requests, no CONNECT.  sl/best: against the "
          "best of squid,\n  tinyproxy, ngx-cache, varnish for that row.  Ratios > 1 are "
          "better for req/s and MiB/s,\n  < 1 for p99, cpu and B/conn.  \"!\": the run had "
          "errors (notes).  Only ratios of one run count.")
    if res.notes:
        print("notes:")
        for n in res.notes:
            print(f"  {n}")


def main():
    ap = argparse.ArgumentParser(description="sluice beside Squid, tinyproxy, nginx and Varnish")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of warm-up before each (1)")
    ap.add_argument("--idle-conns", type=int, default=5000, help="silent connections (5000)")
    ap.add_argument("--skip", default="",
                    help="comma-separated servers to leave out (\"chain\": the chain scenario)")
    ap.add_argument("--chain", action="store_true",
                    help="only the upstream chain scenario (make bench-chain)")
    ap.add_argument("--cache-only", action="store_true",
                    help="only the cache-hit scenarios (make bench-cache)")
    opts = ap.parse_args()
    skip = {s for s in opts.skip.split(",") if s}

    for tool in ("wrk", "curl", servers.NGINX):
        if not shutil.which(tool):
            sys.exit(f"bench-proxy: {tool} is not installed (make deps)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = opts.idle_conns * 2 + 2000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile < opts.idle_conns + 200:
        sys.exit(f"bench-proxy: RLIMIT_NOFILE {nofile} is too low for {opts.idle_conns} connections")

    name = "bench-cache" if opts.cache_only else "bench-proxy"
    print(f"{name}: {os.cpu_count()} CPUs, Linux {platform.release()}; "
          f"wrk -t{WRK_THREADS} -c{WRK_CONNS}, {opts.duration} s per run after {opts.warmup} s "
          f"of warm-up; all on 127.0.0.1, one run")
    if opts.cache_only:
        print("  Cache hits: every server has the object cached before the runs. ngx-cache* "
              "(nginx proxy_cache)\n  and varnish* are caching reverse proxies: they get "
              "origin-form requests (GET /c/1k) with the\n  origin as backend. squid and "
              "sluice are forward proxies (absolute URIs).")
    else:
        print("  ngx-cache* (nginx proxy_cache) and varnish* are caching reverse proxies: they "
              "cannot forward,\n  so they get origin-form requests (GET /1k) with the origin as "
              "backend; no CONNECT.\n  All responses are Cache-Control: no-store: every request "
              "reaches the origin.")

    tmp = Path(tempfile.mkdtemp(prefix="sluice-bench-proxy-"))
    tmp.chmod(0o755)  # Varnish's worker and nginx's workers drop root
    try:
        origin = Origin(tmp / "origin")
        # The first read of the sparse file fills the page cache with zero
        # pages: done here so no tunnel run pays for it.
        with open(origin.root / "1g", "rb") as f:
            while f.read(1 << 20):
                pass
        print("checking the wrk scripts:")
        check_wrk_scripts(origin)
        if opts.chain:
            report_chain(run_chain(tmp, origin, opts))
            return
        if opts.cache_only:
            targets = start_cache_servers(tmp, origin, skip)
            cache_report(run_cache_scenarios(targets, origin, opts), targets)
        else:
            targets = start_servers(tmp, origin, skip)
            report(run_scenarios(targets, origin, opts), targets, opts)
            if "chain" not in skip and "sluice" in targets:
                report_chain(run_chain(tmp, origin, opts))
    except KeyboardInterrupt:
        print("bench-proxy: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        servers.stop_all()
        left = servers.strays()
        if left:
            print(f"bench-proxy: processes left after stop: {left}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
