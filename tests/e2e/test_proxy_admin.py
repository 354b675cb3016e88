"""Origin-form requests to the proxy itself: /__sluice/health answers 200;
any other path answers 400 with a text explaining that this is a proxy
and how to use it. Each leaves an access log line."""
import pytest

from conftest import curl
from proxyutil import RawClient, request


def test_admin_health_200(proxy):
    mark = proxy.access_log.mark()
    rc, out, err = curl("-i", f"{proxy.url}/__sluice/health")
    assert rc == 0, err
    assert out.startswith(b"HTTP/1.1 200"), out
    (e,) = proxy.wait_lines(mark, "/__sluice/health")
    assert e["status"] == 200 and e["method"] == "GET", e["raw"]


def test_admin_health_keeps_the_connection(proxy):
    with RawClient(proxy.port, timeout=5) as c:
        c.send(request("GET", "/__sluice/health", proxy.authority) * 2)
        assert c.read_response().status == 200
        assert c.read_response().status == 200


@pytest.mark.parametrize("path", ["/", "/index.html", "/files/1k.bin?x=1"])
def test_admin_other_path_400_explains(proxy, path):
    mark = proxy.access_log.mark()
    with RawClient(proxy.port, timeout=5) as c:
        c.send(request("GET", path, proxy.authority))
        r = c.read_response()
    assert r.status == 400, r
    text = r.body.decode(errors="replace").lower()
    assert "proxy" in text, r.body
    assert "http://" in text or "-x" in text or "absolute" in text, \
        f"the body does not say how to use the proxy: {r.body!r}"
    proxy.access_log.wait(1, mark, lambda x: x["status"] == 400)
