"""Real servers for the end-to-end suite: an nginx origin, Squid, Dante and
microsocks proxies, each started from Debian's packages on 127.0.0.1 with a
free port and a configuration generated into a temporary directory.

The fixtures (declared in conftest.py, session scoped, each independent of
the others; a server starts only when a test asks for it):

  test_ca          TestCA: a throwaway CA made with the openssl CLI;
                   .ca_path, and issue() to sign more server certificates
                   (e.g. for a wrong host name).
  nginx_origin     NginxOrigin: nginx as the origin. Plain HTTP on .port
                   (.url), TLS on .tls_port (.tls_url) with a certificate
                   for localhost, 127.0.0.1 and ::1 signed by test_ca
                   (.ca_path). Generated files under /files/ (FILES:
                   1k.bin, 100k.bin, 10m.bin random, plus hello.txt and
                   empty.bin; and BIG_FILE, 50m.bin, for /cache/slow/) with
                   .sha256[name] and .size[name];
                   file_url(name, tls, prefix). NGINX_LOCATIONS lists
                   /echo, /post, /upload/, /chunked/, /redirect/*, /slow/,
                   /close/, /status/NNN, /cache/*, /auth/basic/,
                   /cookie/set and what each does. .access_log:
                   LogFile of JSON lines (LOG_FIELDS, including
                   $connection and $connection_requests);
                   .error_log; parse_echo() reads /echo and /post answers.
  squid_basic      Squid requiring Basic proxy auth (basic_ncsa_auth, apr1
  squid_digest     htpasswd), Digest (digest_file_auth, plain user:password
  squid_open       file), or none. .url, .proxy_url (credentials included),
                   .user, .password, .access_log (LogFile of
                   parse_squid_log: user, status, method, url, ...),
                   .cache_log. No caching; CONNECT allowed to any port.
  dante            danted, SOCKS5 with username/password (the system
  dante_noauth     account below), or none; CONNECT to 127.0.0.0/8 only.
                   .url (socks5h://user:pw@...), .user, .password, .log.
  microsocks       microsocks without auth, or with -u/-P: .url, .user,
  microsocks_auth  .password.
  tls_proxy        an HTTPS proxy: nginx's stream module terminating TLS (test CA)
                   in front of squid_open: .url (https://localhost:PORT), .backend.

Each server object has host, port, url, its directory .dir and .server,
the ServerProcess (alive(), stop(), stdout/stderr files). curl(*args)
(importable from conftest) runs the real curl with a bounded time and
returns (exit code, stdout bytes, stderr text).

The fixtures' servers live for the whole session and are shared, so tests
read logs after a mark() rather than from the start. A test that must
break, stop or reconfigure a server makes its own from the classes below
(e.g. servers.Squid(tmp_path, "basic")) and calls its stop().

Side effects outside the temporary directories, all unavoidable:
  - Dante's username method checks the system password database, so as
    root the dante fixture creates user DANTE_USER (useradd -M -s
    /usr/sbin/nologin) if missing and sets DANTE_PASSWORD as a SHA-512
    crypt hash (chpasswd -e) unless the current hash already matches. The
    account is left in place (another session may be using it). Not
    root: the dante fixture skips.
  - Squid refuses to run as root, so as root it is started as 'proxy',
    which cannot enter pytest's private (0700) temporary tree: its
    directory is made with mkdtemp under the system temporary directory
    (SQUID_DIR_PREFIX), owned by 'proxy', copied into the pytest tmp dir
    at stop for inspection, then removed. Squid also creates shared memory
    segments /dev/shm/<service>-*.shm (service name unique per instance,
    via -n), removed at stop. What a killed run left is swept at the next
    session's start.
  - Squid's DNS client is pointed at 127.0.0.1, so nothing leaves the
    host: names outside /etc/hosts fail after about a second (dns_timeout).
nginx runs with master_process off (no worker changes user), -p/-c/-e and
every path (pid, lock, logs, temp paths) inside its directory.

Process handling: every server runs in the foreground as a child in its
own session, stdout/stderr in files next to its configuration. It counts as
started when a listening socket held by its own processes shows in
/proc/net/tcp (no probe connection, so no stray log line or nginx
connection number), within START_TIMEOUT; one that exits first fails the
fixture with the tail of its logs, and a start that lost a port race is
retried with fresh ports. stop() sends SIGTERM (Squid: SIGINT, which skips
shutdown_lifetime) to the main process, waits STOP_GRACE, SIGKILLs what is
left of the server (its process group, its descendants, anything naming
its directory) and reaps it. The test process is a child subreaper, so
orphans of forking servers (Dante's children, Squid's helpers) are reaped
here rather than left as zombies. At session end the fixtures only signal
their servers, so shutdowns overlap; the session-finish hook waits for
them all, then kills and reports any process left (strays()). SIGTERM and
SIGHUP to the test run unwind like ^C so this still happens, and servers
get SIGKILL if the test process dies (PR_SET_PDEATHSIG), except danted,
whose change of user clears it.
"""
import atexit
import ctypes
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_GRACE = 5.0
CURL_TIMEOUT = 20.0

NGINX = "/usr/sbin/nginx"
SQUID = "/usr/sbin/squid"
DANTED = "/usr/sbin/danted"
MICROSOCKS = "/usr/bin/microsocks"
SQUID_LIBEXEC = Path("/usr/lib/squid")

DANTE_USER = "sluicetest"
DANTE_PASSWORD = "sluice-e2e-pw"

PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy",
             "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY")


def clean_env():
    """The environment for servers and curl: ours without proxy variables,
    so nothing is routed through a proxy the test did not ask for."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV}
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    return env


def curl(*args, timeout=CURL_TIMEOUT, input=None):
    """Runs the real curl (no ~/.curlrc, -sS, --max-time) with args and
    returns (exit code, stdout bytes, stderr text). The process is killed
    if it outlives timeout by 5 s (then the code is -9)."""
    argv = ["curl", "-q", "-sS", "--max-time", str(timeout), *map(str, args)]
    stdin = {} if input is not None else {"stdin": subprocess.DEVNULL}
    try:
        r = subprocess.run(argv, input=input, capture_output=True,
                           timeout=timeout + 5, env=clean_env(), **stdin)
    except subprocess.TimeoutExpired as e:
        return -9, e.stdout or b"", (e.stderr or b"").decode(errors="replace")
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def sha256_of(data):
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


# -- process bookkeeping -------------------------------------------------------

def _set_child_subreaper():
    """Orphans of our servers get re-parented to us, so we can reap them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


_set_child_subreaper()


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies, even
    by SIGKILL. The kernel clears this when a server changes its user
    (Squid, Dante): those rely on the stop paths below."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


# A SIGTERM or SIGHUP to the test run (CI timeout) unwinds like ^C, so
# fixtures and the session hook still stop the servers.
for _sig in (signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_sig) == signal.SIG_DFL:
        signal.signal(_sig, _terminate_as_interrupt)


def _proc_table():
    """pid -> (ppid, pgid, state, cmdline) for every process we can read."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            cmd = Path(f"/proc/{d}/cmdline").read_bytes()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        table[int(d)] = (int(rest[1]), int(rest[2]), rest[0],
                         cmd.replace(b"\0", b" ").decode(errors="replace"))
    return table


def _listening(port):
    """Inodes of the TCP sockets listening on 127.0.0.1:port, read from
    /proc/net/tcp (so no connection is made)."""
    want = f"0100007F:{port:04X}"
    found = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                found.add(fields[9])
    return found


def _socket_inodes(pids):
    """Inodes of the sockets the given processes hold open."""
    found = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                found.add(link[8:-1])
    return found


def _tail(path, n=20):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"  {path.name}: {l}" for l in lines[-n:])


_STARTED = []   # running
_EVER = []      # every server started in this session


class ServerProcess:
    """One running server: its main process, directory, ports and logs.

    name is for messages; dir holds the configuration and logs; ports are
    all TCP ports it must listen on before it counts as started; logs are
    extra files whose tail explains a failed start; stop_signal asks the
    main process to shut down (SIGTERM unless the server wants another);
    user, when set, is the account the process starts as; env holds
    variables added to its (proxy-free) environment."""

    def __init__(self, name, argv, dir, ports, logs=(), stop_signal=signal.SIGTERM,
                 user=None, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.dir = Path(dir)
        self.ports = list(ports)
        self.logs = [Path(p) for p in logs]
        self.stdout = self.dir / f"{name}.stdout"
        self.stderr = self.dir / f"{name}.stderr"
        self.proc = None
        self.cleanups = []
        self.stop_signal = stop_signal
        self._known = set()
        self._signalled = False
        self.user = user
        self.extra_env = dict(env or {})

    def start(self, timeout=START_TIMEOUT):
        """Starts the process and waits until every port listens. Raises
        RuntimeError (after stopping what started) if it exits or times
        out first; the message carries the tail of its logs."""
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=self.dir, env={**clean_env(), **self.extra_env}, start_new_session=True,
                user=self.user, preexec_fn=_die_with_parent)
        _STARTED.append(self)
        _EVER.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self._listening_all():
                return self
            time.sleep(0.02)
        code = self.proc.poll()
        self.stop()
        why = f"exited with {code}" if code is not None else f"not listening after {timeout}s"
        raise RuntimeError(f"{self.name} {why}: {' '.join(self.argv)}\n{self.diagnostics()}")

    def _listening_all(self):
        """True when each port has a listening socket held by one of our
        processes: a port someone else took meanwhile does not count."""
        ours = None
        for port in self.ports:
            listening = _listening(port)
            if not listening:
                return False
            if ours is None:
                ours = _socket_inodes(self.members())
            if not listening & ours:
                return False
        return True

    def diagnostics(self):
        return "\n".join(t for t in (_tail(p) for p in [self.stderr, self.stdout, *self.logs]) if t)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def members(self):
        """Pids of the server's processes still present (zombies included):
        its process group, descendants of the main process, and anything
        whose command line names a file in its directory."""
        if self.proc is None:
            return set()
        table = _proc_table()
        me = os.getpid()
        prog = os.path.basename(self.argv[0])
        # A pgid may be reused once the main process is reaped: a process
        # of the group must also look like ours (its program, or a zombie
        # re-parented to us, whose command line is empty).
        found = {pid for pid, (ppid, pgid, _, cmd) in table.items()
                 if pid != me and (f"{self.dir}/" in cmd
                                   or (pgid == self.proc.pid
                                       and (prog in cmd or (ppid == me and not cmd))))}
        # Squid's helpers start sessions of their own: they are known by
        # their command line while alive, by their pid once zombies.
        found |= {p for p in self._known
                  if p in table and table[p][2] == "Z" and table[p][0] == me}
        if self.proc.pid in table:
            found.add(self.proc.pid)
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _, _, _) in table.items():
                if ppid in found and pid not in found and pid != me:
                    found.add(pid)
                    grew = True
        self._known |= found
        return found

    def _live_members(self):
        table = _proc_table()
        return {p for p in self.members() if p in table and table[p][2] != "Z"}

    def request_stop(self):
        """Asks the server to shut down (stop_signal, once) without waiting;
        stop() then waits. Lets several servers shut down together."""
        if self.proc is None or self._signalled:
            return
        self.members()  # remember the helpers while their command lines show
        self._signalled = True
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(self.stop_signal)
            except ProcessLookupError:
                pass

    def stop(self, grace=STOP_GRACE):
        """Sends stop_signal to the main process, gives it and its children
        grace seconds to go, then SIGKILLs whatever is left and reaps our
        children; runs the cleanups. Idempotent. Returns the main process's
        exit status."""
        if self.proc is None:
            return None
        self.request_stop()
        deadline = time.monotonic() + grace
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        while self._live_members() and time.monotonic() < deadline:
            time.sleep(0.02)
        for _ in range(3):
            left = self._live_members()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        self.proc.wait(timeout=grace)
        self._reap()
        for fn in self.cleanups:
            fn()
        self.cleanups = []
        if self in _STARTED:
            _STARTED.remove(self)
        return self.proc.returncode

    def _reap(self):
        """Collects the exit status of the server's orphans that were
        re-parented to us (we are a child subreaper)."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            table = _proc_table()
            ours = [p for p in self.members() if p in table and table[p][0] == os.getpid()]
            if not ours:
                return
            for pid in ours:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            time.sleep(0.01)


def launch(name, build, attempts=3, **kw):
    """Starts a server whose configuration depends on its ports: build()
    writes the configuration for fresh ports and returns the arguments of
    ServerProcess (argv, dir, ports, logs). A start that fails because a
    port was taken meanwhile is retried with new ports."""
    for attempt in range(attempts):
        argv, dir, ports, logs = build()
        sp = ServerProcess(name, argv, dir, ports, logs, **kw)
        try:
            return sp.start()
        except RuntimeError as e:
            if "in use" not in str(e) or attempt == attempts - 1:
                raise


def stop_all(grace=STOP_GRACE):
    """Stops every server still running (session end, exit): all are
    signalled first so that their shutdowns overlap."""
    running = list(_STARTED)
    for sp in running:
        sp.request_stop()
    for sp in running:
        try:
            sp.stop(grace)
        except Exception:  # noqa: BLE001 - a safety net must go on
            pass


def strays():
    """Live processes left by the servers of this session, running or
    stopped, as (pid, command line); empty when everything was cleaned up
    (the `pgrep` of the session-end check). For a stopped server only
    processes naming its directory count: its pids may be reused by now."""
    table = _proc_table()
    found = set()
    for sp in _EVER:
        if sp in _STARTED:
            found |= sp.members()
        else:
            found |= {p for p, (_, _, _, cmd) in table.items() if f"{sp.dir}/" in cmd}
    return [(p, table[p][3]) for p in sorted(found) if p in table and table[p][2] != "Z"]


atexit.register(stop_all)


# -- logs ------------------------------------------------------------------------

class LogFile:
    """A log file that grows while tests run. parse turns one line into an
    entry (None drops the line). mark() is the current end; entries(since)
    and wait(...) look only at what was written after a mark."""

    def __init__(self, path, parse=None):
        self.path = Path(path)
        self.parse = parse or (lambda line: line)

    def mark(self):
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def entries(self, since=0):
        try:
            with open(self.path, "rb") as f:
                f.seek(since)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        out = []
        for line in data[:end + 1].decode(errors="replace").splitlines():
            e = self.parse(line)
            if e is not None:
                out.append(e)
        return out

    def wait(self, count=1, since=0, match=None, timeout=10.0):
        """Waits until at least count entries after since satisfy match
        (all entries if None) and returns those entries; AssertionError
        after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            got = [e for e in self.entries(since) if match is None or match(e)]
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{self.path}: {len(got)} of {count} entries after {timeout}s:\n"
                    + "\n".join(map(str, got[-10:])))
            time.sleep(0.02)

    def wait_line(self, pattern, since=0, timeout=10.0):
        """Waits for a line after since matching the regular expression
        pattern (searched in the raw line) and returns its match object."""
        rx = re.compile(pattern)
        raw = LogFile(self.path)
        hits = raw.wait(1, since, lambda l: rx.search(l) is not None, timeout)
        return rx.search(hits[0])


# -- test CA ---------------------------------------------------------------------

def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))}: {r.stderr}")
    return r.stdout


class TestCA:
    """A CA (P-256 key, self-signed certificate ca_path) in dir, made with
    the openssl CLI; issue() signs server certificates."""
    __test__ = False

    def __init__(self, dir):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_path = self.dir / "ca.pem"
        self.key_path = self.dir / "ca.key"
        _openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec",
                 "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-keyout", self.key_path, "-out", self.ca_path, "-days", "30",
                 "-subj", "/CN=sluice e2e test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 cwd=self.dir)

    def issue(self, name, dns=("localhost",), ips=("127.0.0.1", "::1"), days=30):
        """Signs a server certificate for the given names and addresses;
        returns (certificate path, key path), both PEM, in dir."""
        cert, key, csr = (self.dir / f"{name}.{x}" for x in ("pem", "key", "csr"))
        ext = self.dir / f"{name}.ext"
        sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        ext.write_text(f"subjectAltName={','.join(sans)}\n"
                       "basicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature\n"
                       "extendedKeyUsage=serverAuth\n"
                       "subjectKeyIdentifier=hash\n"
                       "authorityKeyIdentifier=keyid,issuer\n")
        cn = dns[0] if dns else ips[0]
        _openssl("req", "-new", "-nodes", "-newkey", "ec",
                 "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={cn}", cwd=self.dir)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_path, "-CAkey", self.key_path,
                 "-set_serial", "0x" + secrets.token_hex(8), "-days", str(days),
                 "-extfile", ext, "-out", cert, cwd=self.dir)
        return cert, key


# -- nginx -----------------------------------------------------------------------

FILES = {"1k.bin": 1024, "100k.bin": 100 * 1024, "10m.bin": 10 * 1024 * 1024}
BIG_FILE = ("50m.bin", 50 * 1024 * 1024)   # under big/, for /cache/slow/

LOG_FIELDS = {
    "time": "$msec", "connection": "$connection",
    "connection_requests": "$connection_requests", "remote_port": "$remote_port",
    "scheme": "$scheme", "server_port": "$server_port", "request": "$request",
    "method": "$request_method", "uri": "$request_uri", "status": "$status",
    "body_bytes_sent": "$body_bytes_sent", "bytes_sent": "$bytes_sent",
    "request_length": "$request_length", "host": "$http_host", "via": "$http_via",
    "proxy_authorization": "$http_proxy_authorization",
    "authorization": "$http_authorization", "user_agent": "$http_user_agent",
    "x_test": "$http_x_test", "conn_header": "$http_connection",
    "if_none_match": "$http_if_none_match", "if_modified_since": "$http_if_modified_since",
    "accept_encoding": "$http_accept_encoding", "range": "$http_range",
    "ssl_protocol": "$ssl_protocol", "ssl_session_reused": "$ssl_session_reused",
    "request_time": "$request_time",
}
LOG_INTS = ("connection", "connection_requests", "remote_port", "server_port",
            "status", "body_bytes_sent", "bytes_sent", "request_length")
LOG_FORMAT = "{" + ",".join(f'"{k}":"{v}"' for k, v in LOG_FIELDS.items()) + "}"


def parse_nginx_log(line):
    """One access log line (JSON) as a dict; the LOG_INTS fields as ints and
    proxy_auth_present telling whether Proxy-Authorization reached nginx."""
    if not line.strip():
        return None
    e = json.loads(line)
    for k in LOG_INTS:
        e[k] = int(e[k]) if e[k].isdigit() else 0
    e["proxy_auth_present"] = e["proxy_authorization"] != ""
    return e


def parse_echo(body):
    """The /echo and /post answers ("key: value" lines) as a dict."""
    if isinstance(body, bytes):
        body = body.decode()
    out = {}
    for line in body.splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


ECHO = ("method: $request_method\\nuri: $request_uri\\nhost: $http_host\\n"
        "x-test: $http_x_test\\ncontent-length: $content_length\\n"
        "transfer-encoding: $http_transfer_encoding\\nvia: $http_via\\n"
        "proxy-authorization: $http_proxy_authorization\\n"
        "authorization: $http_authorization\\nconnection: $http_connection\\n"
        "user-agent: $http_user_agent\\ncookie: $http_cookie\\n"
        "scheme: $scheme\\nconn: $connection\\nconn-requests: $connection_requests\\n")

STATUSES = (200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405,
            408, 410, 429, 500, 501, 502, 503, 504)

# Locations of the origin; {files} is the directory of the generated files.
NGINX_LOCATIONS = """
        # The generated files (ETag and Last-Modified, Content-Length).
        location /files/ {{ }}
        # What the request looked like: ECHO as text/plain, Content-Length.
        location = /echo {{ default_type text/plain; return 200 "{echo}"; }}
        # Reads the whole body (also chunked) and answers with its length,
        # method and the framing the client used.
        location = /post {{
            proxy_pass http://unix:{dir}/aux.sock:/bodylen;
            proxy_set_header X-Orig-CL $http_content_length;
            proxy_set_header X-Orig-TE $http_transfer_encoding;
        }}
        # PUT stores the body under upload_dir, DELETE removes it.
        location /upload/ {{
            alias {dir}/upload/;
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
        # The files sent chunked (no Content-Length), without validators.
        location /chunked/ {{
            alias {files}/;
            sub_filter "sluice-never-matches-this" "";
            sub_filter_types *;
            sub_filter_once on;
        }}
        location = /redirect/301 {{ return 301 /files/1k.bin; }}
        location = /redirect/302 {{ return 302 /files/1k.bin; }}
        location = /redirect/303 {{ return 303 /echo; }}
        location = /redirect/307 {{ return 307 /post; }}
        location = /redirect/308 {{ return 308 /post; }}
        location = /redirect/loop {{ return 302 /redirect/loop; }}
        location = /redirect/chain {{ return 302 /redirect/302; }}
        location = /redirect/relative {{ absolute_redirect off; return 302 /files/1k.bin; }}
        location = /redirect/https {{ return 302 https://127.0.0.1:{tls_port}/files/1k.bin; }}
        location = /redirect/http {{ return 302 http://127.0.0.1:{port}/files/1k.bin; }}
        location = /redirect/other-host {{ return 302 http://localhost:{port}/echo; }}
        # Sets a persistent cookie and a session one, and answers like /echo.
        location = /cookie/set {{
            add_header Set-Cookie "sluice=jar-value; Max-Age=3600; Path=/";
            add_header Set-Cookie "session=s1; Path=/";
            default_type text/plain;
            return 200 "{echo}";
        }}
        # The files at 64 KiB/s after the first 16 KiB.
        location /slow/ {{ alias {files}/; limit_rate_after 16k; limit_rate 64k; }}
        # The files with Connection: close.
        location /close/ {{ alias {files}/; keepalive_timeout 0; }}
{statuses}
        location /cache/max-age/ {{ alias {files}/; expires 60s; }}
        location /cache/expired/ {{ alias {files}/; expires -1s; }}
        location /cache/no-store/ {{ alias {files}/; add_header Cache-Control "no-store"; }}
        location /cache/no-cache/ {{ alias {files}/; add_header Cache-Control "no-cache"; }}
        location /cache/private/ {{ alias {files}/; add_header Cache-Control "private, max-age=60"; }}
        location /cache/s-maxage/ {{ alias {files}/; add_header Cache-Control "public, max-age=0, s-maxage=60"; }}
        location /cache/must-revalidate/ {{ alias {files}/; add_header Cache-Control "max-age=0, must-revalidate"; }}
        location /cache/vary/ {{ alias {files}/; expires 60s; add_header Vary "Accept-Language"; }}
        location /cache/last-modified-only/ {{ alias {files}/; etag off; }}
        # For the cache's tests (test_cache_*.py):
        # Expires without Cache-Control (nginx's expires adds both: the aux
        # server sets them, this hides Cache-Control).
        location /cache/expires/ {{
            proxy_pass http://unix:{dir}/aux.sock:/expires/;
            proxy_hide_header Cache-Control;
        }}
        # Last-Modified ten days ago, no ETag, no Cache-Control: heuristic
        # freshness (a day with the default cache.heuristic_max).
        location /cache/heuristic/ {{ alias {root}/old/; etag off; }}
        location /cache/vary-ae/ {{ alias {files}/; expires 60s; add_header Vary "Accept-Encoding"; }}
        location /cache/swr/ {{
            alias {files}/;
            add_header Cache-Control "max-age=0, stale-while-revalidate=60";
        }}
        # GET: the files, fresh for a minute; POST: 200, which invalidates.
        location /cache/inval/ {{
            if ($request_method = POST) {{ return 200 "posted\\n"; }}
            alias {files}/;
            expires 60s;
        }}
        # BIG_FILE (50 MiB), fresh for a minute, sent at 16 MiB/s after 1 MiB.
        location /cache/slow/ {{ alias {root}/big/; expires 60s; limit_rate_after 1m; limit_rate 16m; }}
        # Server authentication (Basic) with auth_user/auth_password.
        location /auth/basic/ {{
            alias {files}/;
            auth_basic "sluice-origin";
            auth_basic_user_file {dir}/htpasswd;
        }}
"""

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
lock_file {dir}/nginx.lock;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    types {{ text/plain txt; text/html html; application/octet-stream bin; }}
    default_type application/octet-stream;
    log_format sluice escape=json '{log_format}';
    access_log {dir}/access.log sluice;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    keepalive_requests 10000;
    keepalive_timeout 60s;
    client_max_body_size 64m;
    sendfile on;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:sluice:1m;
        root {root};
{locations}
    }}
    # Internal: answers /post after nginx read the whole body; /expires/
    # serves the files with Expires (and Cache-Control) for /cache/expires/.
    server {{
        listen unix:{dir}/aux.sock;
        access_log off;
        location /expires/ {{ alias {files}/; expires 60s; }}
        location / {{
            default_type text/plain;
            return 200 "method: $request_method\\nbody-length: $content_length\\nclient-content-length: $http_x_orig_cl\\nclient-transfer-encoding: $http_x_orig_te\\n";
        }}
    }}
}}
"""


class NginxOrigin:
    """The running origin. host, port, url (plain), tls_port, tls_url,
    ca_path, root (document root), upload_dir, access_log (LogFile of
    parse_nginx_log entries), error_log (path), auth_user/auth_password for
    /auth/basic/, sha256[name] and size[name] of FILES plus hello.txt and
    empty.bin."""

    def __init__(self, dir, ca):
        self.dir = Path(dir)
        self.host = LOOPBACK
        self.ca_path = ca.ca_path
        self.root = self.dir / "root"
        self.files_dir = self.root / "files"
        self.upload_dir = self.dir / "upload"
        for d in (self.files_dir, self.upload_dir, self.dir / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        contents = {n: os.urandom(s) for n, s in FILES.items()}
        contents["hello.txt"] = b"hello from the sluice origin\n"
        contents["empty.bin"] = b""
        self.sha256, self.size = {}, {}
        for n, data in contents.items():
            (self.files_dir / n).write_bytes(data)
            self.sha256[n] = sha256_of(data)
            self.size[n] = len(data)
        # The cache's tests: copies of FILES last modified ten days ago
        # (/cache/heuristic/), and BIG_FILE in big/ (/cache/slow/).
        old, big = self.root / "old", self.root / "big"
        old.mkdir(exist_ok=True)
        big.mkdir(exist_ok=True)
        then = time.time() - 10 * 86400
        for n in FILES:
            (old / n).write_bytes(contents[n])
            os.utime(old / n, (then, then))
        data = os.urandom(BIG_FILE[1])
        (big / BIG_FILE[0]).write_bytes(data)
        self.sha256[BIG_FILE[0]] = sha256_of(data)
        self.size[BIG_FILE[0]] = len(data)
        del data
        self.auth_user, self.auth_password = "origin-user", "origin-pw"
        h = _openssl("passwd", "-apr1", self.auth_password, cwd=self.dir).strip()
        (self.dir / "htpasswd").write_text(f"{self.auth_user}:{h}\n")
        self.cert, self.key = ca.issue("origin")
        self.conf = self.dir / "nginx.conf"
        self.error_log = self.dir / "error.log"
        self.access_log = LogFile(self.dir / "access.log", parse_nginx_log)
        self.server = launch("nginx", self._build)
        self.url = f"http://{self.host}:{self.port}"
        self.tls_url = f"https://{self.host}:{self.tls_port}"

    def _build(self):
        self.port, self.tls_port = free_port(), free_port()
        statuses = "\n".join(f"        location = /status/{c} {{ return {c}; }}" for c in STATUSES)
        fmt = dict(dir=self.dir, files=self.files_dir, root=self.root,
                   port=self.port, tls_port=self.tls_port)
        locations = NGINX_LOCATIONS.format(echo=ECHO, statuses=statuses, **fmt)
        self.conf.write_text(NGINX_CONF.format(
            locations=locations, log_format=LOG_FORMAT, cert=self.cert, key=self.key, **fmt))
        argv = [NGINX, "-p", self.dir, "-c", self.conf, "-e", self.error_log]
        return argv, self.dir, [self.port, self.tls_port], [self.error_log]

    def file_url(self, name, tls=False, prefix="/files/"):
        return f"{self.tls_url if tls else self.url}{prefix}{name}"

    def stop(self):
        self.server.stop()


# -- Squid -----------------------------------------------------------------------

SQUID_LOG_FIELDS = ("time", "client", "client_port", "result", "status", "bytes",
                    "method", "url", "user", "hierarchy", "peer", "type")


def parse_squid_log(line):
    """One line of the "sluice" logformat as a dict of SQUID_LOG_FIELDS;
    status, bytes and client_port as ints, user None when unauthenticated."""
    f = line.split()
    if len(f) != len(SQUID_LOG_FIELDS):
        return None
    e = dict(zip(SQUID_LOG_FIELDS, f))
    for k in ("status", "bytes", "client_port"):
        e[k] = int(e[k]) if e[k].isdigit() else 0
    if e["user"] == "-":
        e["user"] = None
    return e


SQUID_CONF = """
http_port 127.0.0.1:{port}
visible_hostname sluice-e2e-squid
pid_filename {dir}/squid.pid
cache_log {dir}/cache.log
logformat sluice %ts.%03tu %>a %>p %Ss %03>Hs %<st %rm %ru %un %Sh %<a %mt
access_log stdio:{dir}/access.log logformat=sluice
cache_store_log none
coredump_dir {dir}
cache deny all
cache_mem 8 MB
shutdown_lifetime 1 second
pinger_enable off
netdb_filename none
dns_nameservers 127.0.0.1
dns_timeout 1 second
dns_retransmit_interval 1 second
negative_dns_ttl 1 second
udp_outgoing_address 127.0.0.1
udp_incoming_address 127.0.0.1
{auth}
acl localnet src 127.0.0.0/8 ::1
acl CONNECT method CONNECT
{access}
http_access deny all
"""


SQUID_DIR_PREFIX = "sluice-e2e-squid-"


def sweep_stale_squid_dirs(max_age=3600):
    """Removes what a killed test run left of its Squids: directories named
    SQUID_DIR_PREFIX<service>-* whose pid file names no live process (or
    that have none and are older than max_age seconds, so a Squid another
    session is starting right now is left alone), with their shared
    memory segments."""
    for d in Path(tempfile.gettempdir()).glob(SQUID_DIR_PREFIX + "*"):
        pidfile = d / "squid.pid"
        try:
            if pidfile.exists():
                pid = int(pidfile.read_text().split()[0])
                if Path(f"/proc/{pid}").exists() and _proc_table().get(pid, (0, 0, "Z"))[2] != "Z":
                    continue
            elif time.time() - d.stat().st_mtime < max_age:
                continue
        except (OSError, ValueError, IndexError):
            continue
        service = d.name[len(SQUID_DIR_PREFIX):].split("-")[0]
        if service:
            for shm in Path("/dev/shm").glob(f"{service}-*"):
                shm.unlink(missing_ok=True)
        shutil.rmtree(d, ignore_errors=True)


class Squid:
    """A running Squid. auth is "basic", "digest" or None. host, port, url,
    proxy_url (credentials included when auth is set), user, password,
    access_log (LogFile of parse_squid_log entries), cache_log (path).
    CONNECT is allowed to any port."""

    def __init__(self, keep_dir, auth=None):
        self.auth = auth
        self.keep_dir = Path(keep_dir)
        self.host = LOOPBACK
        self.user, self.password = ("sluice", "squid-pw") if auth else (None, None)
        self.service = "sluice" + secrets.token_hex(4)
        # Squid refuses to run as root: as root we start it as 'proxy'
        # (rather than let it switch, which would clear its parent-death
        # signal), and 'proxy' cannot enter pytest's 0700 tree.
        self.dir = Path(tempfile.mkdtemp(prefix=f"{SQUID_DIR_PREFIX}{self.service}-"))
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = "proxy"
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        auth_conf, access = "", "http_access allow localnet"
        if auth == "basic":
            h = _openssl("passwd", "-apr1", self.password, cwd=self.dir).strip()
            (self.dir / "passwd").write_text(f"{self.user}:{h}\n")
            auth_conf = (f"auth_param basic program {SQUID_LIBEXEC}/basic_ncsa_auth {self.dir}/passwd\n"
                         "auth_param basic children 2 startup=1\n"
                         "auth_param basic realm sluice-squid\n")
        elif auth == "digest":
            (self.dir / "passwd").write_text(f"{self.user}:{self.password}\n")
            auth_conf = (f"auth_param digest program {SQUID_LIBEXEC}/digest_file_auth {self.dir}/passwd\n"
                         "auth_param digest children 2 startup=1\n"
                         "auth_param digest realm sluice-squid\n")
        if auth:
            auth_conf += "acl authed proxy_auth REQUIRED\n"
            access = "http_access allow localnet authed"
        self.conf = self.dir / "squid.conf"
        self.cache_log = self.dir / "cache.log"
        self.access_log = LogFile(self.dir / "access.log", parse_squid_log)
        self._auth_conf, self._access = auth_conf, access
        try:
            # SIGINT: shut down now; SIGTERM would wait for shutdown_lifetime
            # and then some (about 3 s).
            self.server = launch("squid", self._build, stop_signal=signal.SIGINT,
                                 user=self.run_as)
        except BaseException:
            self._cleanup()
            raise
        self.server.cleanups.append(self._cleanup)
        self.url = f"http://{self.host}:{self.port}"
        creds = f"{self.user}:{self.password}@" if auth else ""
        self.proxy_url = f"http://{creds}{self.host}:{self.port}"

    def _build(self):
        self._remove_shm()  # a failed attempt may leave them
        self.port = free_port()
        self.conf.write_text(SQUID_CONF.format(
            port=self.port, dir=self.dir, auth=self._auth_conf,
            access=self._access))
        argv = [SQUID, "-N", "-d1", "-n", self.service, "-f", self.conf]
        return argv, self.dir, [self.port], [self.cache_log]

    def _remove_shm(self):
        for shm in Path("/dev/shm").glob(f"{self.service}-*"):
            shm.unlink(missing_ok=True)

    def _cleanup(self):
        self._remove_shm()
        try:
            shutil.copytree(self.dir, self.keep_dir, dirs_exist_ok=True)
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self):
        self.server.stop()


# -- Dante -----------------------------------------------------------------------

def ensure_dante_user():
    """Makes sure system user DANTE_USER exists with DANTE_PASSWORD (see the
    module comment). Returns None, or why it cannot (not root, tools
    missing) for the fixture to skip with."""
    if os.geteuid() != 0:
        return f"dante username auth needs system user {DANTE_USER}: run as root to create it"
    try:
        pwd.getpwnam(DANTE_USER)
    except KeyError:
        r = subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", DANTE_USER],
                           capture_output=True, text=True, timeout=30)
        if r.returncode not in (0, 9):  # 9: created meanwhile by another session
            return f"useradd {DANTE_USER} failed: {r.stderr.strip()}"
    current = ""
    for line in Path("/etc/shadow").read_text().splitlines():
        f = line.split(":")
        if f[0] == DANTE_USER:
            current = f[1]
    if current.startswith("$6$"):
        salt = current.split("$")[2]
        if _openssl("passwd", "-6", "-salt", salt, DANTE_PASSWORD, cwd="/").strip() == current:
            return None
    h = _openssl("passwd", "-6", DANTE_PASSWORD, cwd="/").strip()
    r = subprocess.run(["chpasswd", "-e"], input=f"{DANTE_USER}:{h}\n",
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return f"chpasswd for {DANTE_USER} failed: {r.stderr.strip()}"
    return None


# As root: checking passwords needs root, the rest runs as nobody.
DANTE_USERS = "user.privileged: root\nuser.unprivileged: nobody"

DANTE_CONF = """
logoutput: {dir}/danted.log
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
clientmethod: none
socksmethod: {method}
{users}
client pass {{
    from: 127.0.0.0/8 to: 0.0.0.0/0
    log: error connect disconnect
}}
socks pass {{
    from: 127.0.0.0/8 to: 127.0.0.0/8
    command: connect
    log: error connect disconnect
}}
socks block {{
    from: 0.0.0.0/0 to: 0.0.0.0/0
    log: error connect
}}
"""


class Dante:
    """A running danted accepting CONNECT to 127.0.0.0/8 only. auth True:
    username/password (user, password: the system account), else no
    authentication. host, port, url (socks5h://, with credentials),
    log (LogFile of raw lines)."""

    def __init__(self, dir, auth=True):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = LOOPBACK
        self.auth = auth
        self.user, self.password = (DANTE_USER, DANTE_PASSWORD) if auth else (None, None)
        self.conf = self.dir / "danted.conf"
        self.log = LogFile(self.dir / "danted.log")
        self.server = launch("danted", self._build)
        creds = f"{self.user}:{self.password}@" if auth else ""
        self.url = f"socks5h://{creds}{self.host}:{self.port}"

    def _build(self):
        self.port = free_port()
        self.conf.write_text(DANTE_CONF.format(
            dir=self.dir, port=self.port, method="username" if self.auth else "none",
            users=DANTE_USERS if os.geteuid() == 0 else ""))
        argv = [DANTED, "-f", self.conf, "-p", self.dir / "danted.pid"]
        return argv, self.dir, [self.port], [self.log.path]

    def stop(self):
        self.server.stop()


# -- microsocks ------------------------------------------------------------------

class TlsProxy:
    """An HTTPS proxy: nginx's stream module terminating TLS (certificate
    from the test CA, for localhost) in front of a plain HTTP proxy such as
    squid_open. Clients speak TLS to it, then CONNECT inside. host, port,
    url ("https://localhost:PORT"), backend (the proxy behind it)."""

    STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

    def __init__(self, dir, ca, backend):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = "localhost"
        self.backend = backend
        self.cert, self.key = ca.issue("tls-proxy")
        self.conf = self.dir / "nginx.conf"
        self.error_log = self.dir / "error.log"
        self.server = launch("nginx-tls-proxy", self._build)
        self.url = f"https://{self.host}:{self.port}"

    def _build(self):
        self.port = free_port()
        self.conf.write_text(f"""load_module {self.STREAM_MODULE};
daemon off;
master_process off;
pid {self.dir}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 256; }}
stream {{
    server {{
        listen {LOOPBACK}:{self.port} ssl;
        ssl_certificate {self.cert};
        ssl_certificate_key {self.key};
        proxy_pass {self.backend.host}:{self.backend.port};
    }}
}}
""")
        argv = [NGINX, "-p", self.dir, "-c", self.conf, "-e", self.error_log]
        return argv, self.dir, [self.port], [self.error_log]

    def stop(self):
        self.server.stop()


class Microsocks:
    """A running microsocks (SOCKS5, any destination). With auth: user and
    password required. host, port, url (socks5h://, with credentials)."""

    def __init__(self, dir, auth=False):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = LOOPBACK
        self.user, self.password = ("sluice", "micro-pw") if auth else (None, None)
        self.server = launch("microsocks", self._build)
        creds = f"{self.user}:{self.password}@" if auth else ""
        self.url = f"socks5h://{creds}{self.host}:{self.port}"

    def _build(self):
        self.port = free_port()
        argv = [MICROSOCKS, "-i", LOOPBACK, "-p", self.port]
        if self.user:
            argv += ["-u", self.user, "-P", self.password]
        return argv, self.dir, [self.port], []

    def stop(self):
        self.server.stop()
