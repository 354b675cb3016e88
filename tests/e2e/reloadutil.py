"""Helpers of the live reload tests (test_reload_*.py).

reload(proxy, overrides) rewrites the running proxy's configuration file
(its current configuration merged with overrides, or raw text), sends
SIGHUP (or runs `sluice -s reload`) and waits, bounded, for the outcome in
the error log: "reloaded FILE (generation N)" or "reload failed: ...". It
returns a Reload with ok, generation, the failure text and the error log
mark taken before the signal, so the caller can look for more lines.
status(proxy) reads the admin stats page as JSON. connect_tunnel() opens a
CONNECT tunnel through the proxy and TLS to the origin inside it on a plain
Python socket, so a test can pace a download itself.
"""
import json
import re
import signal
import socket
import ssl
import subprocess

import servers
from proxyutil import merge
from servers import LOOPBACK, LogFile

RELOAD_TIMEOUT = 20.0
OUTCOME = re.compile(r"\[(?P<level>\w+)\] main: (?:reloaded (?P<file>\S+) \(generation (?P<gen>\d+)\)"
                     r"|reload failed: (?P<why>.*))$")


class Reload:
    def __init__(self, m, mark):
        self.mark = mark
        self.ok = m.group("gen") is not None
        self.generation = int(m.group("gen")) if self.ok else None
        self.why = m.group("why")
        self.level = m.group("level")
        self.line = m.group(0)

    def __repr__(self):
        return f"Reload({self.line!r})"


def error_log(proxy):
    return LogFile(proxy.error_log)


def write_config(proxy, overrides=None, text=None):
    """Writes the proxy's configuration file: raw text, or the current
    configuration merged with overrides (which then becomes current)."""
    if text is not None:
        proxy.conf_path.write_text(text)
        return
    proxy.conf = merge(proxy.conf, overrides)
    proxy.conf_path.write_text(json.dumps(proxy.conf, indent=2) + "\n")


def wait_outcome(proxy, mark, timeout=RELOAD_TIMEOUT):
    m = error_log(proxy).wait_line(OUTCOME.pattern, mark, timeout)
    return Reload(m, mark)


def reload(proxy, overrides=None, text=None, how="sighup", sluice=None):
    """Rewrites the configuration, asks for a reload and returns its Reload.
    how: "sighup", or "s" to run `sluice -s reload -c FILE` (sluice: the
    binary)."""
    log = error_log(proxy)
    mark = log.mark()
    write_config(proxy, overrides, text)
    if how == "sighup":
        proxy.signal(signal.SIGHUP)
    else:
        r = subprocess.run([sluice, "-s", "reload", "-c", str(proxy.conf_path)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    return wait_outcome(proxy, mark)


def status(proxy, port=None):
    """The admin stats page of one worker as a dict."""
    rc, out, err = servers.curl(f"http://{LOOPBACK}:{port or proxy.port}/__sluice/stats")
    assert rc == 0, err
    return json.loads(out)


def connect_tunnel(port, target_port, ca_path, timeout=30.0):
    """A TLS socket to 127.0.0.1:target_port inside a CONNECT tunnel
    through the proxy at port (the origin's certificate verified)."""
    sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
    target = f"{LOOPBACK}:{target_port}"
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = sock.recv(1)  # byte by byte: nothing of the TLS stream is read here
        if not b:
            raise ConnectionError(f"the proxy closed after {head!r}")
        head += b
    status = head.split(b" ", 2)[1]
    if status != b"200":
        sock.close()
        raise ConnectionError(f"CONNECT answered {head!r}")
    ctx = ssl.create_default_context(cafile=str(ca_path))
    return ctx.wrap_socket(sock, server_hostname=LOOPBACK)


class BodyReader:
    """Reads one HTTP/1.1 response with a Content-Length from a socket (plain
    or TLS) in pieces the caller asks for, hashing as it goes."""

    def __init__(self, sock):
        import hashlib
        self.sock = sock
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        self.status = int(lines[0].split(" ", 2)[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.length = int(self.headers.get("content-length", "-1"))
        self.got = 0
        self.sha = hashlib.sha256()

    def _fill(self):
        data = self.sock.recv(1 << 18)
        if not data:
            raise ConnectionError("connection closed early")
        self.buf += data

    def read(self, n):
        """Reads up to n more body bytes (fewer at the end); returns how
        many."""
        want = min(n, self.length - self.got)
        done = 0
        while done < want:
            if not self.buf:
                self._fill()
            take = self.buf[:want - done]
            self.buf = self.buf[len(take):]
            self.sha.update(take)
            done += len(take)
        self.got += done
        return done

    @property
    def complete(self):
        return self.got == self.length

    def hexdigest(self):
        return self.sha.hexdigest()
