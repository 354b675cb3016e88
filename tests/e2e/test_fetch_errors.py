"""sluice-fetch's failures: the exit code (curl's numbers) and a message
that names the cause and, for proxy errors, the hop by number and URL,
never with its password. Wrong proxy credentials (Squid Basic and Digest,
Dante), a dead hop first or second in a chain, names that do not resolve
(a local NXDOMAIN server), refused connections, TLS verification."""
import socket
import threading

import pytest

from fetchutil import NxDomainServer, dead_port, err, fetch_run


@pytest.fixture
def nxdomain():
    s = NxDomainServer()
    yield s
    s.close()


def wrong(url, password, bad="wrong-password"):
    return url.replace(f":{password}@", f":{bad}@")


def check(r, code, *parts, secret=None):
    text = err(r)
    assert r.returncode == code, f"exit {r.returncode}, want {code}: {text}"
    for p in parts:
        assert p in text, f"{p!r} not in {text!r}"
    assert text.startswith("sluice-fetch: "), text
    assert len(text.strip().splitlines()) == 1, text
    if secret:
        assert secret not in text


@pytest.mark.parametrize("which,scheme", [("squid_basic", "Basic"), ("squid_digest", "Digest")])
def test_fetch_squid_wrong_credentials(fetch, nginx_origin, request, which, scheme):
    squid = request.getfixturevalue(which)
    r = fetch_run(fetch, "-x", wrong(squid.proxy_url, squid.password),
                  nginx_origin.file_url("1k.bin"))
    check(r, 97, f"proxy hop 1 (http://127.0.0.1:{squid.port}) refused the credentials",
          f"HTTP 407, {scheme}", secret="wrong-password")
    assert r.stdout == b""


def test_fetch_squid_without_credentials(fetch, nginx_origin, squid_basic):
    r = fetch_run(fetch, "-x", squid_basic.url, nginx_origin.file_url("1k.bin"))
    check(r, 97, f"proxy hop 1 (http://127.0.0.1:{squid_basic.port}) requires credentials")


def test_fetch_dante_wrong_credentials(fetch, nginx_origin, dante):
    r = fetch_run(fetch, "-x", wrong(dante.url, dante.password), nginx_origin.file_url("1k.bin"))
    check(r, 97, f"proxy hop 1 (socks5h://127.0.0.1:{dante.port}) refused the credentials "
                 "(SOCKS5 username/password)", secret="wrong-password")


def test_fetch_wrong_credentials_on_second_hop(fetch, nginx_origin, microsocks, squid_basic):
    r = fetch_run(fetch, "-x", microsocks.url,
                  "-x", wrong(squid_basic.proxy_url, squid_basic.password),
                  nginx_origin.file_url("1k.bin"))
    check(r, 97, f"proxy hop 2 (http://127.0.0.1:{squid_basic.port}) refused the credentials")


def test_fetch_dead_first_hop(fetch, nginx_origin):
    port = dead_port()
    r = fetch_run(fetch, "-x", f"http://user:secret-pw@127.0.0.1:{port}",
                  nginx_origin.file_url("1k.bin"))
    check(r, 7, f"proxy hop 1 (http://127.0.0.1:{port}) refused the connection",
          secret="secret-pw")


def test_fetch_dead_second_hop_behind_squid(fetch, nginx_origin, squid_open):
    port = dead_port()
    r = fetch_run(fetch, "-x", squid_open.url, "-x", f"http://127.0.0.1:{port}",
                  nginx_origin.file_url("1k.bin"))
    check(r, 7, f"proxy hop 2 (http://127.0.0.1:{port}) could not be reached through "
                f"proxy hop 1 (http://127.0.0.1:{squid_open.port})", "503")


def test_fetch_dead_second_hop_behind_socks(fetch, nginx_origin, microsocks):
    port = dead_port()
    r = fetch_run(fetch, "-x", microsocks.url, "-x", f"socks5h://127.0.0.1:{port}",
                  nginx_origin.file_url("1k.bin"))
    check(r, 7, f"proxy hop 2 (socks5h://127.0.0.1:{port}) refused the connection "
                f"(reported by proxy hop 1 (socks5h://127.0.0.1:{microsocks.port}))")


def test_fetch_host_not_found(fetch, nxdomain):
    r = fetch_run(fetch, "--dns-servers", f"127.0.0.1:{nxdomain.port}",
                  "http://no-such-host.sluice.test/")
    check(r, 6, "http://no-such-host.sluice.test/: could not resolve host no-such-host.sluice.test")
    assert nxdomain.queries >= 1


def test_fetch_proxy_not_found(fetch, nxdomain):
    r = fetch_run(fetch, "--dns-servers", f"127.0.0.1:{nxdomain.port}",
                  "-x", "http://no-such-proxy.sluice.test:3128", "http://127.0.0.1/")
    check(r, 5, "proxy hop 1 (http://no-such-proxy.sluice.test:3128): could not resolve")


def test_fetch_connection_refused(fetch):
    port = dead_port()
    r = fetch_run(fetch, f"http://127.0.0.1:{port}/")
    check(r, 7, f"could not connect to 127.0.0.1 port {port}: connection refused")


def test_fetch_connection_refused_reported_by_proxy(fetch, squid_open):
    port = dead_port()
    r = fetch_run(fetch, "-x", squid_open.url, f"http://127.0.0.1:{port}/")
    check(r, 7, f"could not connect to 127.0.0.1 port {port}",
          f"reported by proxy hop 1 (http://127.0.0.1:{squid_open.port})")


def test_fetch_tls_with_test_ca(fetch, nginx_origin):
    r = fetch_run(fetch, "-sS", "--cacert", nginx_origin.ca_path,
                  nginx_origin.file_url("hello.txt", tls=True))
    assert r.returncode == 0, err(r)
    assert r.stdout == b"hello from the sluice origin\n"


def test_fetch_tls_untrusted_issuer(fetch, nginx_origin):
    url = nginx_origin.file_url("hello.txt", tls=True)
    r = fetch_run(fetch, url)
    check(r, 60, f"{url}: TLS certificate verification failed: certificate issuer is not trusted")
    assert r.stdout == b""


def test_fetch_tls_wrong_host_name(fetch, nginx_origin):
    url = f"https://wrong.localhost:{nginx_origin.tls_port}/files/hello.txt"
    r = fetch_run(fetch, "--cacert", nginx_origin.ca_path, url)
    check(r, 60, "certificate does not match the host name 'wrong.localhost'")


def test_fetch_tls_insecure(fetch, nginx_origin):
    url = f"https://wrong.localhost:{nginx_origin.tls_port}/files/hello.txt"
    r = fetch_run(fetch, "-sS", "-k", url)
    assert r.returncode == 0, err(r)
    assert r.stdout == b"hello from the sluice origin\n"


def test_fetch_tls_handshake_failure(fetch):
    """A server that answers the ClientHello with garbage: exit 35."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        try:
            c, _ = srv.accept()
            c.recv(4096)
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)
            c.close()
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        r = fetch_run(fetch, f"https://127.0.0.1:{port}/", timeout=30)
    finally:
        srv.close()
        t.join(timeout=5)
    check(r, 35, f"https://127.0.0.1:{port}/: TLS handshake failed")


def test_fetch_unsupported_scheme_and_bad_url(fetch):
    r = fetch_run(fetch, "gopher://127.0.0.1/")
    check(r, 1, "unsupported URL scheme")
    r = fetch_run(fetch, "http://a b/")
    check(r, 3, "malformed URL")
    r = fetch_run(fetch, "-x", "socks4://127.0.0.1:1080", "http://127.0.0.1/")
    check(r, 5, "unsupported proxy scheme")


def test_fetch_empty_reply(fetch):
    """A server that closes without answering: exit 52."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.1)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(5)
            try:
                c.recv(4096)
            except OSError:
                pass
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        r = fetch_run(fetch, f"http://127.0.0.1:{port}/", timeout=30)
    finally:
        stop.set()
        srv.close()
        t.join(timeout=5)
    check(r, 52, "empty reply from the server")


def test_fetch_truncated_body(fetch):
    """Content-Length promises more than comes: exit 56, partial output."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]

    def serve():
        try:
            c, _ = srv.accept()
            c.recv(4096)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
            c.close()
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        r = fetch_run(fetch, f"http://127.0.0.1:{port}/", timeout=30)
    finally:
        srv.close()
        t.join(timeout=5)
    check(r, 56, "after 100 of 1000 body bytes")
    assert r.stdout == b"x" * 100
