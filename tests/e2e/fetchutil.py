"""Helpers of the sluice-fetch end-to-end tests (test_fetch_*.py).

fetch_run() runs build/sluice-fetch with a bounded time in an environment
without proxy variables (plus the ones a test sets) and returns the
completed process with bytes output. NxDomainServer is a tiny DNS server
on 127.0.0.1 answering NXDOMAIN to every query, for --dns-servers, so
"host not found" does not depend on the machine's resolver.
"""
import os
import re
import socket
import subprocess
import threading

import servers
from conftest import ROOT


def fetch_run(fetch, *args, env=None, timeout=60, cwd=None, **kw):
    """Runs sluice-fetch with args; returns CompletedProcess (bytes)."""
    e = servers.clean_env()
    if env:
        e.update(env)
    return subprocess.run([fetch, *map(str, args)], capture_output=True, timeout=timeout,
                          env=e, cwd=cwd or ROOT, stdin=subprocess.DEVNULL, **kw)


def err(r):
    """The stderr of a completed run, as text."""
    return r.stderr.decode(errors="replace")


def stats(r):
    """The --stats line of a run as a dict of ints."""
    m = re.search(r"stats: (.*)", err(r))
    assert m, err(r)
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def dead_port():
    """A loopback port nobody listens on (bound and closed again)."""
    return servers.free_port()


class NxDomainServer:
    """Answers every DNS query on 127.0.0.1:port (UDP) with NXDOMAIN."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((servers.LOOPBACK, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except (socket.timeout, OSError):
                continue
            if len(data) < 12:
                continue
            # The question: QNAME labels up to the root, then type and class.
            i = 12
            while i < len(data) and data[i] != 0:
                i += 1 + data[i]
            question = data[12:i + 5]
            # QR, RD, RA and RCODE 3 (NXDOMAIN); one question, no answer.
            reply = data[:2] + b"\x81\x83" + b"\x00\x01" + b"\x00" * 6 + question
            self.queries += 1
            self.sock.sendto(reply, addr)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
