"""Shared fixtures of the end-to-end suite.

The tests drive the real binaries from the build directory (SLUICE_BUILD,
set by `make e2e`), from the project root, and wait for conditions with
bounded timeouts instead of sleeping.
"""
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SLUICE_BUILD", ROOT / "build"))


def free_port():
    """Returns a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, what="condition"):
    """Polls pred until it is true or timeout seconds passed (then fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def run(args, timeout=30, **kw):
    """Runs a command to completion with a timeout, capturing text output."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          cwd=kw.pop("cwd", ROOT), **kw)


@pytest.fixture(scope="session")
def sluice():
    p = BUILD / "sluice"
    assert p.exists(), f"{p} is missing: run make first"
    return str(p)


@pytest.fixture(scope="session")
def fetch():
    p = BUILD / "sluice-fetch"
    assert p.exists(), f"{p} is missing: run make first"
    return str(p)
