"""The routing configuration from the command line: every file of conf/
and conf/examples/ (each of which passes `sluice -t`: test_cli_sluice.py)
validates against the JSON Schema docs/sluice.schema.json (which must also reject what sluice
rejects, and know every key sluice -T prints); docs/config.md names every
key; `sluice --route` prints the rule and the hops, never a password, and
a broken file gives its file:line report."""
import json
import re
from pathlib import Path

import jsonschema
import pytest

from conftest import ROOT, run

SCHEMA = json.loads((ROOT / "docs" / "sluice.schema.json").read_text())
FILES = sorted(str(p.relative_to(ROOT)) for p in
               list((ROOT / "conf").glob("*.json")) + list((ROOT / "conf" / "examples").glob("*.json")))
# The examples read their passwords from these.
EXAMPLE_ENV = {"CORP_PROXY_PASSWORD": "example-secret-1", "BACKUP_PROXY_PASSWORD": "example-secret-2",
               "EDGE_PROXY_PASSWORD": "example-secret-3"}


def sluice_run(sluice, *args):
    import servers
    return run([sluice, *map(str, args)], env={**servers.clean_env(), **EXAMPLE_ENV})


@pytest.mark.parametrize("path", FILES)
def test_route_config_example_matches_schema(path):
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(
        json.loads((ROOT / path).read_text())))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_route_config_examples_cover_the_issue():
    names = {Path(f).name for f in FILES}
    assert {"corporate-basic.json", "corporate-digest.json", "ssh-socks.json",
            "split-routing.json", "two-hop-chain.json", "three-hop-chain.json",
            "failover.json"} <= names


BAD = [
    {"cahce": {}},
    {"upstreams": {"direct": "http://h"}},
    {"upstreams": {"u": {"type": "ftp", "host": "h"}}},
    {"upstreams": {"u": {"type": "socks5", "host": "h", "mode": "forward"}}},
    {"upstreams": {"u": {"type": "http", "host": "h", "dns": "local"}}},
    {"upstreams": {"u": {"type": "http", "host": "h", "auth": {"user": "a"}}}},
    {"routes": [{"match": {"ports": [0]}, "via": "direct"}]},
    {"routes": [{"via": "direct", "strategy": "random"}]},
    {"health": {"down_after": 0}},
    {"timeouts": {"connect": "10 s"}},
]


@pytest.mark.parametrize("cfg", BAD, ids=[json.dumps(b)[:40] for b in BAD])
def test_route_config_schema_rejects_what_sluice_rejects(sluice, tmp_path, cfg):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(cfg))
    assert sluice_run(sluice, "-t", "-c", f).returncode == 1
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(cfg)), cfg


FULL = {
    "upstreams": {
        "a": {"type": "https", "host": "p.example", "mode": "forward",
              "auth": {"user": "u", "password_env": "CORP_PROXY_PASSWORD"},
              "tls": {"ca_file": "", "verify": True, "server_name": "p"}},
        "b": {"type": "socks5", "host": "10.0.0.1", "dns": "remote",
              "auth": {"user": "u", "password": "inline-secret"}},
    },
    "chains": {"c": ["b", "a"]},
    "routes": [{"name": "r", "match": {"hosts": [".x.example"], "cidrs": ["10.0.0.0/8"],
                                       "ports": [80], "schemes": ["http"], "methods": ["GET"]},
                "via": ["c", "a"], "strategy": "round-robin"}],
    "upstream_from_env": False,
    "health": {"down_after": 2},
}


def keys_of(v, out, depth=0):
    """Every object key in v, but the names under upstreams and chains."""
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(k)
            if k in ("upstreams", "chains"):
                for y in x.values():
                    keys_of(y, out, depth + 1)
            else:
                keys_of(x, out, depth + 1)
    elif isinstance(v, list):
        for x in v:
            keys_of(x, out, depth + 1)
    return out


def schema_keys(s, out):
    if isinstance(s, dict):
        for k, v in s.get("properties", {}).items():
            out.add(k)
            schema_keys(v, out)
        for k in ("$defs", "additionalProperties", "items"):
            v = s.get(k)
            if isinstance(v, dict):
                for x in (v.values() if k == "$defs" else [v]):
                    schema_keys(x, out)
        for k in ("oneOf", "anyOf", "allOf"):
            for x in s.get(k, []):
                schema_keys(x, out)
    return out


def test_route_config_every_key_documented(sluice, tmp_path):
    """sluice -T prints every key with its default: each is in the schema
    and in docs/config.md."""
    f = tmp_path / "full.json"
    f.write_text(json.dumps(FULL))
    r = sluice_run(sluice, "-T", "-c", f)
    assert r.returncode == 0, r.stderr
    dumped = json.loads(r.stdout)
    assert not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(dumped))
    keys = keys_of(dumped, set()) | {"password_file", "password_env", "//"}
    known = schema_keys(SCHEMA, set())
    assert keys <= known, keys - known
    doc = (ROOT / "docs" / "config.md").read_text()
    missing = {k for k in keys if f"`{k}`" not in doc}
    assert not missing, missing
    # -T masks the inline password and names the variable.
    assert "inline-secret" not in r.stdout and EXAMPLE_ENV["CORP_PROXY_PASSWORD"] not in r.stdout
    assert '"password_env": "CORP_PROXY_PASSWORD"' in r.stdout


def test_route_cli_prints_rule_and_hops(sluice, tmp_path):
    f = tmp_path / "full.json"
    f.write_text(json.dumps(FULL))
    r = sluice_run(sluice, "--route", "http://www.x.example/path", "-c", f)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "rule:   r (routes[0])" in out, out
    assert "action: round-robin between 2 routes" in out, out
    assert re.search(r"1\. chain c\n\s+hop 1: socks5 10\.0\.0\.1:1080 \(upstream b\), dns remote, "
                     r"auth user u \(password in the file\)\n\s+hop 2: https p\.example:443 "
                     r"\(upstream a\), dns remote, auth user u \(password from "
                     r"\$CORP_PROXY_PASSWORD\), tls verified as p, mode forward \(absolute form\)",
                     out), out
    assert "then: GET sent to hop 2 in absolute form" in out, out
    assert "2. upstream a" in out, out
    for secret in ("inline-secret", EXAMPLE_ENV["CORP_PROXY_PASSWORD"]):
        assert secret not in out
    # https, another port, another method: the rule does not match.
    r = sluice_run(sluice, "--route", "www.x.example:443", "--method", "CONNECT", "-c", f)
    assert r.returncode == 0, r.stderr
    assert "rule:   none (no rule matches)" in r.stdout and "action: deny" in r.stdout


def test_route_cli_examples(sluice):
    r = sluice_run(sluice, "--route", "http://git.corp.example/", "-c",
                   "conf/examples/split-routing.json")
    assert r.returncode == 0, r.stderr
    assert "rule:   internal (routes[0])" in r.stdout and "direct: connect to" in r.stdout
    r = sluice_run(sluice, "--route", "https://example.com/", "-c",
                   "conf/examples/three-hop-chain.json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("    hop ") == 3, r.stdout
    assert "tunnel to example.com:443 through hop 3" in r.stdout
    assert EXAMPLE_ENV["EDGE_PROXY_PASSWORD"] not in r.stdout


def test_route_cli_errors(sluice, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{\n  "routes": [\n    {"via": "nowhere"}\n  ]\n}\n')
    r = sluice_run(sluice, "--route", "http://example.com/", "-c", f)
    assert r.returncode == 1
    assert r.stderr.strip() == f'{f}:3: routes[0].via: unknown upstream or chain "nowhere"'
    r = sluice_run(sluice, "--route", "ftp://example.com/", "-c", "conf/sluice.json")
    assert r.returncode == 2 and "only http:// and https://" in r.stderr
