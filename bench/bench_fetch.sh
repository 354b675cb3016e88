#!/bin/sh
# sluice-fetch against curl on loopback: 2,000 small objects fetched 6 at
# once (requests/s), and a 1 GiB file direct, through a SOCKS5 hop
# (microsocks) and through a CONNECT hop (Squid) (MB/s, ratio to direct,
# sluice-fetch's peak memory). bench_fetch.py does the work with the e2e
# suite's server fixtures; this wrapper bounds the whole run in time.
# Usage: bench/bench_fetch.sh  (SLUICE_BUILD=dir of sluice-fetch, default build)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${SLUICE_BUILD:=$here/../build}"
: "${PYTHON:=/usr/bin/python3}"
export SLUICE_BUILD
exec timeout -k 10 900 "$PYTHON" "$here/bench_fetch.py"
