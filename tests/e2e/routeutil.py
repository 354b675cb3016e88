"""Helpers of the upstream routing tests (test_chain_*.py, test_route_*.py).

example(name) loads conf/examples/NAME. point(cfg, mapping) returns a copy
whose upstreams point at the test's servers, and the environment sluice
needs for it: mapping takes an upstream's name to a server fixture (any
object with host, port, user and password; user None means the server
wants no credentials). A URL shorthand keeps its scheme, an object its
type, mode and dns; credentials become the server's, and a password the
example reads with password_env stays read that way (the variable goes in
the returned environment, so the examples' shape is what is tested).
listen, cache and log are dropped: the Sluice fixture sets its own.

status(proxy) reads GET /__sluice/upstreams as a dict by name;
assert_no_secrets() greps everything sluice wrote for passwords.
"""
import base64
import copy
import json
import types
import urllib.parse
from pathlib import Path

import servers
from conftest import ROOT

EXAMPLES = ROOT / "conf" / "examples"


def example(name):
    """The example configuration conf/examples/NAME as a dict."""
    return json.loads((EXAMPLES / name).read_text())


def server(host, port, user=None, password=None):
    """A stand-in for a fixture: a server at host:port with credentials."""
    return types.SimpleNamespace(host=host, port=port, user=user, password=password)


def wrong_password(srv):
    """srv with a password it will refuse."""
    return server(srv.host, srv.port, srv.user, "not-" + (srv.password or "it"))


def point(cfg, mapping):
    """(config, env): cfg with the upstreams of mapping pointed at servers."""
    cfg = copy.deepcopy(cfg)
    env = {}
    for k in ("listen", "cache", "log"):
        cfg.pop(k, None)
    ups = cfg.get("upstreams", {})
    for name, srv in mapping.items():
        u = ups[name]
        user, password = getattr(srv, "user", None), getattr(srv, "password", None)
        if isinstance(u, str):
            scheme = u.split("://", 1)[0]
            creds = ""
            if user:
                creds = (f"{urllib.parse.quote(user, safe='')}:"
                         f"{urllib.parse.quote(password, safe='')}@")
            ups[name] = f"{scheme}://{creds}{srv.host}:{srv.port}"
            continue
        u["host"], u["port"] = srv.host, srv.port
        if not user:
            u.pop("auth", None)
            continue
        var = (u.get("auth") or {}).get("password_env")
        if var:
            env[var] = password
            u["auth"] = {"user": user, "password_env": var}
        else:
            u["auth"] = {"user": user, "password": password}
    return cfg, env


def status(proxy):
    """The upstreams page of a running sluice: {name: entry}."""
    rc, out, err = servers.curl(f"{proxy.url}/__sluice/upstreams")
    assert rc == 0, err
    return {e["name"]: e for e in json.loads(out)["upstreams"]}


def logged_text(proxy):
    """Everything sluice wrote: access and error logs, stdout, stderr."""
    paths = [proxy.access_path, proxy.error_log, proxy.server.stdout, proxy.server.stderr]
    return "\n".join(Path(p).read_text(errors="replace") for p in paths if Path(p).exists())


def secret_forms(srv):
    """The ways srv's password could leak: as is, percent-encoded, and in a
    Basic credential."""
    user, password = getattr(srv, "user", None), getattr(srv, "password", None)
    if not password:
        return set()
    return {password, urllib.parse.quote(password, safe=""),
            base64.b64encode(f"{user}:{password}".encode()).decode()}


def assert_no_secrets(proxy, *srvs, extra=""):
    """No password of srvs appears in anything sluice wrote (nor in extra
    text, e.g. a command's output), in any of its forms."""
    text = logged_text(proxy) if proxy else ""
    text += extra
    for srv in srvs:
        for form in secret_forms(srv):
            assert form not in text, f"a password shows in sluice's output: {form!r}"
