"""RequestsTransport behaviour that mutation testing found unpinned (tests/MUTATION.md): what goes on the wire,
the pool's size, NO_PROXY, and what the errors name. Real servers over loopback, as in httputil."""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from httputil import ConnectProxy, RawServer, Recorder, unanswered_port
from vizctl.errors import LocalRequestError, RequestTimeout, TransportError, UnreachableError
from vizctl.api.transport import USER_AGENT, HttpSettings, RequestsTransport, Request, _bypass


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def echo_path(handler):
    return 200, {}, handler.path.encode()


def test_the_request_target_joins_the_urls_query_and_the_params_and_the_headers_are_ours():
    with Recorder(echo_path) as server:
        transport = RequestsTransport()
        transport.send(Request("GET", server.url + "/jobs?a=1", params=(("b", "2 3"),)), 5)
        transport.send(Request("GET", server.url), 5)  # no path at all: "/"
        transport.close()
    (first, headers), (second, _) = server.requests
    assert (first, second) == ("GET /jobs?a=1&b=2+3", "GET /")
    assert (headers["User-Agent"], headers["Accept-Encoding"], headers["Accept"]) == (USER_AGENT, "gzip, deflate", "*/*")


def test_https_without_a_port_tunnels_to_443_and_a_proxy_without_scheme_or_password_still_authenticates():
    with ConnectProxy() as proxy:
        address = proxy.url.removeprefix("http://")
        transport = RequestsTransport(http=HttpSettings(proxies={"https": f"dave@{address}"}))  # as HTTPS_PROXY=dave@host:port
        with pytest.raises(UnreachableError, match=f"through the proxy {address}"):  # nothing listens on 443 here
            transport.send(Request("GET", "https://127.0.0.1/v1/p/visualization-jobs"), 5)
    line, headers = proxy.requests[0]
    assert line == "CONNECT 127.0.0.1:443"
    assert base64.b64decode(headers["Proxy-Authorization"].removeprefix("Basic ")) == b"dave:"


def test_a_plain_http_proxy_never_sees_the_endpoints_user_information():
    with Recorder(echo_path) as proxy:
        transport = RequestsTransport(http=HttpSettings(proxies={"http": proxy.url}))
        transport.send(Request("GET", "http://user:pw-secret@modelarts.example:8080/x"), 5)
        transport.close()
    assert proxy.requests[0][0] == "GET http://modelarts.example:8080/x"


def test_no_proxy_entries_cover_every_host_a_host_or_a_domain_with_or_without_its_dot():
    assert _bypass("api.example.com", ("*",))
    assert _bypass("api.example.com", (" .Example.COM ",))
    assert _bypass("api.example.com", ("example.com",))
    assert _bypass("example.com", (".example.com",))
    assert not _bypass("api.example.com", ("ample.com", "other.org", "api.example.com.cn"))
    assert not _bypass("api.example.com", ())


def test_no_proxy_reads_ip_addresses_cidr_ranges_and_ports_as_curl_does():
    assert _bypass("127.0.0.1", ("127.0.0.0/8",)) and _bypass("10.1.2.3", ("192.168.0.0/16", "10.0.0.0/8"))
    assert not _bypass("128.0.0.1", ("127.0.0.0/8",)) and not _bypass("api.example.com", ("127.0.0.0/8",))
    assert _bypass("::1", ("::1/128",)) and _bypass("[::1]", ("[::1]",)) and _bypass("::1", ("::1",))
    assert not _bypass("0.0.1", ("127.0.0.1",)) and not _bypass("127.0.0.1", ("0.0.1",))  # an address is never a domain suffix
    assert _bypass("api.example.com", ("example.com:8443",), 8443) and not _bypass("api.example.com", ("example.com:8443",), 443)
    assert _bypass("127.0.0.1", ("127.0.0.1:9000",), 9000) and not _bypass("127.0.0.1", ("127.0.0.1:9000",), 9001)
    assert _bypass("::1", ("[::1]:9000",), 9000) and not _bypass("::1", ("[::1]:9000",), 80)
    assert not _bypass("api.example.com", ("", " ", "bad/cidr", "10.0.0.0/99"))


def test_a_request_that_timed_out_leaves_its_connection_so_no_later_request_reads_its_late_answer():
    def answer(line):  # "/slow" is answered after 0.5 s, everything else at once; each answer names its path
        if "/slow" in line:
            time.sleep(0.5)
        return [ok(line.split()[1].encode())]

    with RawServer(answer) as server:
        transport = RequestsTransport()
        assert transport.send(Request("GET", server.url + "/first"), 5).body == b"/first"
        with pytest.raises(RequestTimeout) as late:  # on the kept-alive connection, with this request's timeout
            transport.send(Request("GET", server.url + "/slow"), 0.2)
        assert str(late.value) == f"no answer within 0.2 s, the --request-timeout (GET /slow at {server.url.removeprefix('http://')})"
        assert transport.send(Request("GET", server.url + "/next"), 5).body == b"/next"
        transport.close()
        assert server.connections == 2


def test_errors_name_the_request_and_what_to_check():
    with pytest.raises(LocalRequestError) as built:
        RequestsTransport().send(Request("GET", "ftp://example.com/x"), 5)
    assert "could not be built (GET /x at example.com): not an http(s) URL" in str(built.value)
    with RawServer(lambda line: []) as server:
        address = server.url.removeprefix("http://")
    with pytest.raises(UnreachableError) as refused:  # user information in the endpoint is never repeated
        RequestsTransport().send(Request("GET", f"http://user:pw-s3cret@{address}/x"), 5)
    assert str(refused.value) == f"connection refused (GET /x at {address}): is the endpoint right and the service up?"
    with Recorder(echo_path) as server:  # https:// to a plain-HTTP server: the handshake fails, nothing was sent
        address = server.url.removeprefix("http://")
        with pytest.raises(UnreachableError) as handshake:
            RequestsTransport().send(Request("GET", f"https://{address}/x"), 5)
        assert str(handshake.value).startswith(f"no connection (GET /x at {address}): ") and "check the" not in str(handshake.value)
        assert "not an HTTP answer" not in str(handshake.value)  # a TLS error, not a status line
        assert server.requests == []
    with Recorder(lambda handler: (200, {"Content-Encoding": "gzip"}, b"not gzip")) as server:
        with pytest.raises(TransportError, match=rf"gzip body could not be decoded \(GET /x at {server.url.removeprefix('http://')}\)"):
            RequestsTransport().send(Request("GET", server.url + "/x"), 5)
    proxied = RequestsTransport(http=HttpSettings(proxies={"https": "http://127.0.0.1"}))  # a proxy URL without a port: 80
    with pytest.raises(UnreachableError, match="through the proxy 127.0.0.1:80"):
        proxied.send(Request("GET", "https://modelarts.example/x"), 5)


@pytest.mark.parametrize("pool_size, kept", [(1, 1), (0, 1), (2, 2)])
def test_the_pool_keeps_at_most_pool_size_idle_connections(pool_size, kept):
    at_once = threading.Barrier(3, timeout=5)

    def answer(handler):  # three requests in flight together: three connections
        at_once.wait()
        return 200, {}, b"{}"

    with Recorder(answer) as server, ThreadPoolExecutor(3) as pool:
        transport = RequestsTransport(pool_size=pool_size)
        for _ in range(2):
            assert [r.status for r in pool.map(lambda n: transport.send(Request("GET", f"{server.url}/{n}"), 5), range(3))] == [200] * 3
        transport.close()
    assert server.connections == 3 + (3 - kept)


def test_an_https_connection_never_made_ends_within_the_timeout():
    with unanswered_port() as port:
        with pytest.raises(UnreachableError, match=rf"no connection within 0.3 s, the --request-timeout \(GET /x at 127.0.0.1:{port}\)"):
            RequestsTransport().send(Request("GET", f"https://127.0.0.1:{port}/x"), 0.3)
