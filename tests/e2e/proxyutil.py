"""Helpers of the proxy server's end-to-end tests (test_proxy_*.py).

Sluice runs build/sluice -c CONF as a managed server (servers.ServerProcess:
started when its port listens in /proc/net/tcp, no probe connection; stopped
with SIGTERM, then SIGKILL after a bound). Its configuration is
base_config() merged with the test's overrides: 2 workers, loopback origins
allowed, CONNECT to the nginx TLS port and 443, the test CA trusted for
https origins, both logs in its directory. .access_log is a LogFile of
parse_access entries (Squid's native format, src/server/accesslog.h);
rss_kib() reads VmRSS.

via() runs curl through a proxy and returns a CurlResult (exit code, final
status, CONNECT status, last header block, body, stderr). RawClient speaks
HTTP/1.1 on a plain socket (pipelining, malformed requests, slow reads) and
parses responses itself. TinyOrigin is a thread-per-connection TCP server
whose handler misbehaves on purpose (never answers, resets, half-closes).
"""
import copy
import json
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import servers
from servers import LOOPBACK, LogFile, curl

SHUTDOWN_GRACE = "3s"


# -- the sluice process ----------------------------------------------------------

ACCESS_FIELDS = ("time", "elapsed", "client", "result_status", "bytes", "method", "url",
                 "user", "route", "type")


def parse_access(line):
    """One access log line in Squid's native format as a dict: time
    (float), elapsed (ms, int), client, result, status (int), bytes (int),
    method, url, user, hierarchy, host, type, raw. A line that does not
    have the ten fields is kept with malformed True, so that tests see it."""
    if not line.strip():
        return None
    f = line.split()
    e = {"raw": line, "malformed": len(f) != len(ACCESS_FIELDS), "url": "", "method": "",
         "status": 0, "bytes": 0, "elapsed": 0}
    if e["malformed"]:
        return e
    e.update(zip(ACCESS_FIELDS, f))
    try:
        e["time"] = float(e["time"])
        e["elapsed"] = int(e["elapsed"])
        e["bytes"] = int(e["bytes"])
        e["result"], _, status = e["result_status"].partition("/")
        e["status"] = int(status)
        e["hierarchy"], _, e["host"] = e["route"].partition("/")
    except ValueError:
        e["malformed"] = True
    return e


def merge(base, over):
    """base with over merged in, recursively for objects (a copy)."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def base_config(nginx_origin):
    """The configuration every test proxy starts from (listen and log paths
    are filled in by Sluice)."""
    return {
        "workers": 2,
        "acl": {"allow_loopback_destinations": True,
                "connect_ports": [nginx_origin.tls_port, 443]},
        "timeouts": {"shutdown_grace": SHUTDOWN_GRACE},
        "tls": {"ca_file": str(nginx_origin.ca_path)},
        "log": {"level": "info"},
    }


class Sluice:
    """A running sluice. port, url (http://127.0.0.1:PORT, for -x),
    authority (127.0.0.1:PORT), ports (port first, then extra_ports more
    listeners), unix_path (a unix socket listener too when unix is True,
    else None), env (variables added to its environment: passwords for
    password_env, proxy variables for upstream_from_env), conf (the dict
    written), conf_path,
    access_log (LogFile of parse_access), error_log (path), server (the
    ServerProcess), pid."""

    def __init__(self, binary, dir, config, extra_ports=0, unix=False, env=None):
        self.binary = binary
        self.extra_ports = extra_ports
        self.dir = Path(dir)
        self.unix_path = self.dir / "sluice.sock" if unix else None
        self.dir.mkdir(parents=True, exist_ok=True)
        self.base = config
        self.conf_path = self.dir / "sluice.json"
        self.access_path = self.dir / "access.log"
        self.error_log = self.dir / "error.log"
        self.access_log = LogFile(self.access_path, parse_access)
        self.stopping = False  # a test sent SIGTERM or SIGINT
        self.server = servers.launch("sluice", self._build, env=env)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.authority = f"{LOOPBACK}:{self.port}"

    def _build(self):
        self.ports = [servers.free_port() for _ in range(1 + self.extra_ports)]
        self.port = self.ports[0]
        listen = [f"{LOOPBACK}:{p}" for p in self.ports]
        if self.unix_path:
            listen.append(f"unix:{self.unix_path}")
        self.conf = merge(self.base, {
            "listen": listen,
            "log": {"access": str(self.access_path), "error": str(self.error_log)},
        })
        self.conf_path.write_text(json.dumps(self.conf, indent=2) + "\n")
        argv = [self.binary, "-c", self.conf_path]
        return argv, self.dir, self.ports, [self.error_log]

    @property
    def pid(self):
        return self.server.proc.pid

    def alive(self):
        return self.server.alive()

    def returncode(self):
        return self.server.proc.poll()

    def signal(self, sig):
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        self.server.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Waits for the process to exit; returns its status (None if it
        did not within timeout)."""
        try:
            return self.server.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def rss_kib(self):
        """VmRSS of the process in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    def diagnostics(self):
        return self.server.diagnostics()

    def stop(self):
        """SIGTERM, then SIGKILL after servers.STOP_GRACE; returns the exit
        status."""
        return self.server.stop()

    def lines(self, since, tag):
        """Access log entries after since whose URL contains tag."""
        return [e for e in self.access_log.entries(since) if tag in e["url"]]

    def wait_lines(self, since, tag, count=1, timeout=10.0):
        """Waits for count access log entries after since with tag in the URL."""
        return self.access_log.wait(count, since, lambda e: tag in e["url"], timeout)


def finish(proxy):
    """Stops a proxy at teardown; returns a complaint when it had died
    already or did not exit 0 on SIGTERM (a crash shows here)."""
    died = proxy.returncode()
    rc = proxy.stop()
    if died is not None and not proxy.stopping:
        return f"sluice had exited with {died} before teardown\n{proxy.diagnostics()}"
    if rc != 0:
        return f"sluice exited with {rc} on SIGTERM\n{proxy.diagnostics()}"
    return None


# -- curl through the proxy --------------------------------------------------------

class CurlResult:
    """rc: curl's exit code; status: the final HTTP status (0 if none);
    connect: the CONNECT response status (0 if none); headers: the last
    header block as a dict of lower-case names (last value wins), head:
    that block as text; body: bytes; err: stderr."""

    def __init__(self, rc, wout, head_text, body, err):
        self.rc, self.body, self.err = rc, body, err
        codes = (wout.decode(errors="replace").split() + ["0", "0"])[:2]
        self.status, self.connect = (int(c) if c.isdigit() else 0 for c in codes)
        blocks = [b for b in head_text.replace("\r\n", "\n").split("\n\n") if b.strip()]
        self.head = blocks[-1] if blocks else ""
        self.headers = {}
        for line in self.head.splitlines()[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def __repr__(self):
        return (f"CurlResult(rc={self.rc}, status={self.status}, connect={self.connect}, "
                f"body={self.body[:200]!r}, err={self.err[-500:]!r})")


def via(proxy, url, *args, tunnel=False, timeout=servers.CURL_TIMEOUT, input=None):
    """Runs curl -x proxy (-p when tunnel) with args for one URL."""
    proxy_url = proxy if isinstance(proxy, str) else proxy.url
    with tempfile.TemporaryDirectory(prefix="sluice-curl-") as d:
        body, head = Path(d) / "body", Path(d) / "head"
        rc, out, err = curl("-x", proxy_url, *(["-p"] if tunnel else []),
                            "-o", body, "-D", head, "-w", "%{http_code} %{http_connect}",
                            *args, url, timeout=timeout, input=input)
        b = body.read_bytes() if body.exists() else b""
        h = head.read_text(errors="replace") if head.exists() else ""
    return CurlResult(rc, out, h, b, err)


# -- raw HTTP/1.1 --------------------------------------------------------------------

class Response:
    """status (int), reason, headers (list of (lower-case name, value)),
    body (bytes), head (raw bytes)."""

    def __init__(self, status, reason, headers, head):
        self.status, self.reason, self.headers, self.head = status, reason, headers, head
        self.body = b""

    def header(self, name, default=None):
        vals = [v for k, v in self.headers if k == name.lower()]
        return vals[-1] if vals else default

    def __repr__(self):
        return f"Response({self.status} {self.reason}, body={self.body[:200]!r})"


class RawClient:
    """One client connection to host:port (or the unix socket at unix) with
    a receive buffer. Every read is bounded by timeout (socket.timeout
    escapes)."""

    def __init__(self, port, host=LOOPBACK, timeout=10.0, rcvbuf=None, unix=None):
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(str(unix) if unix else (host, port))
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            raise ConnectionError("connection closed by the peer")
        data = self.sock.recv(1 << 16)
        if not data:
            self.eof = True
            raise ConnectionError("connection closed by the peer")
        self.buf += data

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read(self, n):
        """Exactly n bytes (ConnectionError if the peer closes first)."""
        return self._take(n)

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_head(self):
        """The next response head (1xx included) as a Response without body."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].decode(errors="replace").split(" ", 2)
        assert len(parts) >= 2 and parts[0].startswith("HTTP/1."), f"bad status line {lines[0]!r}"
        headers = []
        for l in lines[1:]:
            k, _, v = l.decode(errors="replace").partition(":")
            headers.append((k.strip().lower(), v.strip()))
        return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers, head)

    def read_response(self, method="GET", interim=False):
        """The next final response with its body (chunked, Content-Length, or
        up to EOF). 1xx heads are skipped unless interim is True."""
        while True:
            r = self.read_head()
            if r.status >= 200 or interim:
                break
        if method == "HEAD" or r.status in (204, 304) or r.status < 200 or \
                (method == "CONNECT" and r.status < 300):
            return r
        te = (r.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                size = int(self._line().split(b";")[0].strip(), 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                chunks.append(self._take(size))
                assert self._take(2) == b"\r\n", "chunk not followed by CRLF"
            r.body = b"".join(chunks)
        elif r.header("content-length") is not None:
            r.body = self._take(int(r.header("content-length")))
        else:
            r.body = self.read_to_eof()
        return r

    def read_to_eof(self):
        """Everything until the peer closes (a reset counts as the end)."""
        out = [self.buf]
        self.buf = b""
        while not self.eof:
            try:
                data = self.sock.recv(1 << 16)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
            out.append(data)
        return b"".join(out)

    def closed_by_peer(self):
        """True when the peer closes (or resets) before the timeout with no
        more data; False when more data arrives first."""
        if self.buf:
            return False
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            return True
        if data:
            self.buf += data
            return False
        self.eof = True
        return True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ParsedBytes(RawClient):
    """Responses parsed from bytes already received (the whole stream up
    to the close): read_response() as on a RawClient."""

    def __init__(self, data):
        self.sock = None
        self.buf = data
        self.eof = True

    def _fill(self):
        raise ConnectionError("the data ends before the response does")


def request(method, url, host, headers=(), body=b""):
    """A request as bytes: request line with url as given, Host, headers,
    Content-Length when body is not empty."""
    lines = [f"{method} {url} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- misbehaving origins -----------------------------------------------------------

class TinyOrigin:
    """A TCP server on 127.0.0.1: each connection runs handler(origin, conn,
    head) in a thread, head being the request head (bytes up to the blank
    line) or None when read_head is False. requests counts the
    connections. release is an Event handlers may wait on; close() sets it
    and closes every socket."""

    def __init__(self, handler, read_head=True):
        self.handler = handler
        self.read_head = read_head
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((LOOPBACK, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.authority = f"{LOOPBACK}:{self.port}"
        self.release = threading.Event()
        self.requests = 0
        self.heads = []
        self.conns = []
        self.errors = []
        self._lock = threading.Lock()
        self._threads = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self):
        while not self.release.is_set():
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            with self._lock:
                self.conns.append(conn)
                self.requests += 1
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, conn):
        try:
            conn.settimeout(15)
            head = None
            if self.read_head:
                data = b""
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head = data
                self.heads.append(head)
            self.handler(self, conn, head)
        except OSError as e:
            self.errors.append(e)

    def close(self):
        self.release.set()
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self._lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=2)


def reset(conn):
    """Closes conn with a RST (SO_LINGER 0)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


# -- misc ------------------------------------------------------------------------------

def wait_for(pred, timeout=10.0, what="condition", step=0.02):
    """Polls pred until true (returns its value) or fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def connect_refused(port):
    """True when a TCP connect to 127.0.0.1:port is refused."""
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((LOOPBACK, port))
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()
    return False


def raise_nofile(want):
    """Raises this process's soft RLIMIT_NOFILE to want (children inherit
    it); returns the new soft limit, which may be lower (the hard limit)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return max(new, soft)

