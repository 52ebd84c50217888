"""The requests transport against real servers: TLS, proxies, kept-alive connections, content codings."""

from __future__ import annotations

import base64
import datetime
import gc
import gzip
import json
import subprocess
import sys
import time
import warnings
import zlib

import pytest
import trustme

from cliutil import manifest_of, run
from httputil import ConnectProxy, Recorder, tls_sim
from vizctl.errors import LocalRequestError, TransportError, UnreachableError
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.api.transport import USER_AGENT, HttpSettings, RequestsTransport, Request

FAST = dict(startup_seconds=0.2, delete_seconds=0.1, stop_seconds=0.1)
EMPTY_PAGE = json.dumps({"is_success": True, "jobs": [], "job_total_count": 0, "job_count_limit": 100, "quotas": 100}).encode()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def env_of(sim, **extra):
    return {"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "tok-1234", **extra}


def empty_page(handler):
    return 200, {"Content-Type": "application/json"}, EMPTY_PAGE


def test_https_with_the_ca_bundle_plans_and_an_unknown_ca_is_refused_readably(tmp_path, ca):
    m = manifest_of(tmp_path / "m.yaml", "a")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with tls_sim(SimConfig(**FAST), ca) as sim:
        trusted = run("plan", "-f", str(m), "--ca-bundle", str(ca_file), env=env_of(sim))
        assert trusted.code == 0 and "1 to create" in trusted.out
        untrusted = run("plan", "-f", str(m), env=env_of(sim))
        assert untrusted.code == 1 and "Traceback" not in untrusted.err
        assert "TLS certificate" in untrusted.err and "--ca-bundle" in untrusted.err
        assert sim.stats["GET list"] == 2  # the refused run sent nothing past the handshake
        insecure = run("plan", "-f", str(m), "--insecure", env=env_of(sim))
        assert insecure.code == 0 and "verification is off" in insecure.err


@pytest.mark.parametrize("certificate, said", [
    (dict(identity="api.example.com"), "not valid for '127.0.0.1'; check the endpoint's host name"),
    (dict(not_after=datetime.datetime(2020, 1, 1)), "certificate has expired; check this machine's clock"),
])
def test_a_certificate_for_another_host_or_out_of_date_is_said_with_what_to_check(tmp_path, ca, certificate, said):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with tls_sim(SimConfig(**FAST), ca, **certificate) as sim:
        with pytest.raises(UnreachableError) as refused:
            RequestsTransport(http=HttpSettings(verify=str(ca_file))).send(Request("GET", sim.url + "/x"), 5)
    assert said in str(refused.value) and "--ca-bundle" not in str(refused.value)


def test_https_goes_through_the_proxy_tunnel_with_its_credentials(tmp_path, ca):
    m = manifest_of(tmp_path / "m.yaml", "a")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with tls_sim(SimConfig(**FAST), ca) as sim, ConnectProxy() as proxy:
        port = sim.url.rsplit(":", 1)[1]
        proxy_url = proxy.url.replace("http://", "http://carol:s%40cret-PW@")
        result = run("plan", "-f", str(m), "--ca-bundle", str(ca_file), env=env_of(sim, HTTPS_PROXY=proxy_url))
        assert result.code == 0 and "1 to create" in result.out
        assert [line for line, _ in proxy.requests] == [f"CONNECT 127.0.0.1:{port}"] * len(proxy.requests)
        assert proxy.requests and sim.stats["GET list"] == 2
        authorization = proxy.requests[0][1]["Proxy-Authorization"]
        assert base64.b64decode(authorization.split()[1]) == b"carol:s@cret-PW"
        assert "s%40cret-PW" not in result.out + result.err and "s@cret-PW" not in result.out + result.err
        tunnels = len(proxy.requests)
        bypassed = run("plan", "-f", str(m), "--ca-bundle", str(ca_file), env=env_of(sim, HTTPS_PROXY=proxy_url, NO_PROXY="127.0.0.1"))
        assert bypassed.code == 0 and len(proxy.requests) == tunnels


def test_a_plain_http_proxy_gets_the_whole_url_the_credentials_and_our_user_agent(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with Recorder(empty_page) as proxy:
        env = {"VIZCTL_ENDPOINT": "http://modelarts.example:8080", "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "tok-1234",
               "HTTP_PROXY": proxy.url.replace("http://", "http://dave:pw-77@")}
        result = run("plan", "-f", str(m), env=env)
        assert result.code == 0 and "1 to create" in result.out
        line, headers = proxy.requests[0]
        assert line.startswith("GET http://modelarts.example:8080/v1/p/visualization-jobs?per_page=")
        assert base64.b64decode(headers["Proxy-Authorization"].split()[1]) == b"dave:pw-77"
        assert headers["User-Agent"] == USER_AGENT and headers["X-Auth-Token"] == "tok-1234"


def test_connections_are_kept_alive_and_one_the_server_closed_is_not_reused():
    with Recorder(empty_page, idle_timeout=0.5) as server:
        transport = RequestsTransport()
        for _ in range(5):
            assert transport.send(Request("GET", server.url + "/x"), 5).status == 200
        assert server.connections == 1
        time.sleep(1)  # the server drops the idle connection
        created = transport.send(Request("POST", server.url + "/x", body=b"{}"), 5)  # a change is not resent: it must not meet the dead one
        assert created.status == 200 and server.connections == 2
        transport.close()


@pytest.mark.parametrize("coding, encode", [("gzip", gzip.compress), ("deflate", zlib.compress),
                                            ("deflate", lambda b: zlib.compress(b)[2:-4]), ("x-gzip", gzip.compress),
                                            ("gzip", lambda b: gzip.compress(b[:10]) + gzip.compress(b[10:]))])
def test_gzip_and_deflate_answers_are_decoded(coding, encode):
    def answer(handler):
        assert "gzip" in handler.headers["Accept-Encoding"]
        return 200, {"Content-Encoding": coding}, encode(EMPTY_PAGE)

    with Recorder(answer) as server:
        assert RequestsTransport().send(Request("GET", server.url + "/x"), 5).body == EMPTY_PAGE


def test_a_garbled_gzip_answer_is_a_transport_error():
    with Recorder(lambda handler: (200, {"Content-Encoding": "gzip"}, b"not gzip at all")) as server:
        with pytest.raises(TransportError, match="gzip body could not be decoded"):
            RequestsTransport().send(Request("GET", server.url + "/x"), 5)


def test_a_ca_bundle_without_certificates_is_one_readable_error_and_nothing_is_sent(tmp_path, ca):
    m = manifest_of(tmp_path / "m.yaml", "a")
    (tmp_path / "not-pem.crt").write_bytes(b"\x30\x82 DER or a key file, not PEM certificates\n")
    with tls_sim(SimConfig(**FAST), ca) as sim:
        result = run("plan", "-f", str(m), "--ca-bundle", str(tmp_path / "not-pem.crt"), env=env_of(sim))
        assert result.code == 1 and "Traceback" not in result.err
        assert f"the CA bundle {tmp_path / 'not-pem.crt'} holds no usable certificate" in result.err
        assert sim.stats["GET list"] == 0


def test_a_run_closes_its_connections(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with SimServer(SimConfig(**FAST)) as sim, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert run("plan", "-f", str(m), env=env_of(sim)).code == 0
        gc.collect()
    port = sim.url.rsplit(":", 1)[1]
    assert not [w for w in caught if f", {port})" in str(w.message)]  # "unclosed <socket ... raddr=('127.0.0.1', port)>"


def test_errors_before_sending_say_what_to_check():
    with pytest.raises(LocalRequestError, match="not an http"):
        RequestsTransport().send(Request("GET", "ftp://example.com/x"), 5)
    with pytest.raises(LocalRequestError, match="port is not a number"):
        RequestsTransport().send(Request("GET", "http://example.com:http/x"), 5)
    with pytest.raises(LocalRequestError, match="scheme ftp:// is not one vizctl speaks"):
        RequestsTransport(http=HttpSettings(proxies={"http": "ftp://p:21"})).send(Request("GET", "http://example.com/x"), 5)
    with pytest.raises(LocalRequestError, match="X-Auth-Token header value has characters beyond ASCII"):
        RequestsTransport().send(Request("GET", "http://127.0.0.1:9/x", headers={"X-Auth-Token": "tök"}), 5)
    with SimServer(SimConfig(**FAST)) as sim:
        port = sim.url.rsplit(":", 1)[1]
    with pytest.raises(UnreachableError, match="connection refused"):
        RequestsTransport().send(Request("GET", f"http://127.0.0.1:{port}/x"), 5)


def test_a_socks_proxy_without_pysocks_says_what_to_install():
    """PySocks is a test dependency; a user without it (the plain install) gets one error naming the extra."""
    program = ("import sys\nsys.modules['socks'] = None  # as if PySocks were not installed\n"
               "from vizctl.api.transport import HttpSettings, Request, RequestsTransport\n"
               "from vizctl.errors import LocalRequestError\n"
               "try:\n    RequestsTransport(http=HttpSettings(proxies={'http': 'socks5://p:1080'})).send(Request('GET', 'http://example.com/x'), 5)\n"
               "except LocalRequestError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert "a SOCKS proxy needs PySocks (pip install 'requests[socks]')" in done.stdout, done.stdout + done.stderr


def test_a_redirect_is_not_followed_nor_retried_and_names_where_it_points(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    moved = lambda handler: (301, {"Location": "https://modelarts.example" + handler.path}, b"<html>Moved</html>")
    with Recorder(moved) as server:
        result = run("plan", "-f", str(m), env={"VIZCTL_ENDPOINT": server.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "tok-1234"})
        assert result.code == 1 and "Traceback" not in result.err
        assert "301" in result.err and "a redirect to https://modelarts.example/v1/p/visualization-jobs" in result.err
        assert "check the endpoint" in result.err and "tok-1234" not in result.err
        assert len(server.requests) == 2  # page 1 and its cross-check, each once: not followed, not sent again
