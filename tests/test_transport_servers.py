"""RequestsTransport against servers that answer the way real ones sometimes do (raw bytes over loopback)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from httputil import RawServer, Recorder
from vizctl.errors import TransportError, UnreachableError
from vizctl.api.transport import HttpSettings, RequestsTransport, Request


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize("interim, apart", [(b"HTTP/1.1 102 Processing\r\n\r\n", False),
                                            (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n", True)],
                         ids=["102-with-the-answer", "103-before-it"])
def test_an_interim_answer_is_an_error_and_no_request_reads_the_answer_meant_for_another(interim, apart):
    """http.client (under requests) skips only 100 Continue: a 102 or 103 reads as the final answer and leaves the real
    one on the connection. vizctl does not parse past them (that would mean rewriting urllib3's response class):
    such an answer is a TransportError (ambiguous: a create is checked against the list before any resend) and its
    connection is dropped, so the next request never reads the answer left on it."""
    def answer(line):  # the interim answer in the same write as the final one, or 20 ms before it
        final = ok(b'{"path": "%s"}' % line.split()[1].encode())
        return [interim, final] if apart else [interim + final]

    with RawServer(answer) as server:
        transport = RequestsTransport()
        for n in range(3):
            with pytest.raises(TransportError, match=rf"an interim answer \({interim[9:12].decode()} .*the connection was dropped"):
                transport.send(Request("POST", f"{server.url}/jobs/{n}", body=b"{}"), 5)
        transport.close()
        assert server.connections == 3  # each on its own connection: none was used again


def test_a_proxy_that_refuses_the_tunnel_is_named_and_its_password_is_not():
    refusal = [b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n"]
    with RawServer(lambda line: refusal) as proxy:
        address = proxy.url.removeprefix("http://")
        transport = RequestsTransport(http=HttpSettings(proxies={"https": f"http://carol:pw-s3cret@{address}"}))
        with pytest.raises(UnreachableError) as refused:
            transport.send(Request("GET", "https://modelarts.example/v1/p/visualization-jobs"), 5)
    message = str(refused.value)
    assert f"through the proxy {address}" in message and "407" in message and "HTTPS_PROXY" in message
    assert "pw-s3cret" not in message and "carol" not in message


def test_a_proxy_that_is_down_is_named_not_the_endpoint():
    with RawServer(lambda line: []) as proxy:
        address = proxy.url.removeprefix("http://")
    transport = RequestsTransport(http=HttpSettings(proxies={"https": f"http://u:pw-s3cret@{address}"}))
    with pytest.raises(UnreachableError, match=f"connection refused .*through the proxy {address}.*HTTPS_PROXY") as refused:
        transport.send(Request("GET", "https://modelarts.example/v1/p/visualization-jobs"), 5)
    assert "pw-s3cret" not in str(refused.value)


def test_an_answer_sent_before_the_body_was_read_is_the_answer():
    refusal = [b'HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 25\r\nConnection: close\r\n\r\n{"error_msg": "too big"}\n', None]
    with RawServer(lambda line: refusal, read_bodies=False) as server:  # answers and closes without reading the body
        transport = RequestsTransport()
        response = transport.send(Request("POST", server.url + "/jobs", body=b"x" * 32_000_000), 5)
        assert (response.status, response.body) == (413, b'{"error_msg": "too big"}\n')
        assert transport.send(Request("GET", server.url + "/jobs"), 5).status == 413  # on a new connection
        assert server.connections == 2


def test_an_answer_that_is_not_http_is_said_so_in_printable_characters():
    with RawServer(lambda line: [b"\x15\x03\x03\x00\x02\x02\x50", None]) as server:  # a TLS alert: http:// to a TLS port
        with pytest.raises(TransportError) as failed:
            RequestsTransport().send(Request("GET", server.url + "/x"), 5)
    message = str(failed.value)
    assert r"not an HTTP answer: '\x15\x03\x03\x00\x02\x02P' from a TLS server: use https://" in message and message.isprintable()


def test_32_threads_share_one_transport_each_on_its_own_connection_and_stale_ones_are_never_used():
    def echo(handler):  # every 5th answer closes its connection, as nginx does after keepalive_requests
        return 200, {"Connection": "close"} if len(server.requests) % 5 == 0 else {}, handler.path.encode()

    def creates(thread):
        return [transport.send(Request("POST", f"{server.url}/{thread}/{n}", body=b"{}"), 5).body for n in range(4)]

    with Recorder(echo, idle_timeout=0.2) as server, ThreadPoolExecutor(32) as pool:
        transport = RequestsTransport(pool_size=36)
        for round in range(2):
            time.sleep(0.4 * round)  # the server closes every idle connection at once
            answers = list(pool.map(creates, range(32)))
            assert answers == [[f"/{thread}/{n}".encode() for n in range(4)] for thread in range(32)]
        transport.close()
    assert server.connections <= 2 * 32 + 2 * 32 * 4 // 5 + 2  # a connection per thread, and one again after each close
