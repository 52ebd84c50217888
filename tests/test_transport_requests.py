"""What requests users rely on, through vizctl's own settings: NO_PROXY ranges, https:// proxies, CA bundles and the
system trust store; and the deadline of a whole exchange (issue 17, issue 21). Real servers over loopback."""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import trustme

from cliutil import manifest_of, run
from httputil import ConnectProxy, RawServer, Recorder, SocksProxy, tls_sim, trickled
from vizctl.errors import RequestTimeout, TransportError, UnreachableError
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.api.transport import HttpSettings, Request, RequestsTransport

FAST = dict(startup_seconds=0.2, delete_seconds=0.1, stop_seconds=0.1)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMPTY_PAGE = json.dumps({"is_success": True, "jobs": [], "job_total_count": 0, "job_count_limit": 100, "quotas": 100}).encode()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(tmp_path, ca):
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def env_of(url, **extra):
    return {"VIZCTL_ENDPOINT": url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "tok-1234", **extra}


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def empty_page(handler):
    return 200, {"Content-Type": "application/json"}, EMPTY_PAGE


# -- NO_PROXY -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("no_proxy", ["127.0.0.0/8", "10.0.0.0/8, 127.0.0.1/32", "127.0.0.1:{port}", "localhost,127.0.0.1"])
def test_no_proxy_cidr_ranges_and_host_port_entries_keep_the_token_away_from_the_proxy(tmp_path, no_proxy):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with SimServer(SimConfig(**FAST)) as sim, Recorder(empty_page) as proxy:
        no_proxy = no_proxy.format(port=sim.url.rsplit(":", 1)[1])
        result = run("plan", "-f", str(m), env=env_of(sim.url, HTTP_PROXY=proxy.url, NO_PROXY=no_proxy))
        assert result.code == 0 and "1 to create" in result.out
        assert proxy.requests == [] and sim.stats["GET list"] == 2


def test_a_no_proxy_entry_for_another_port_or_range_still_goes_through_the_proxy(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with SimServer(SimConfig(**FAST)) as sim, Recorder(empty_page) as proxy:
        result = run("plan", "-f", str(m), env=env_of(sim.url, HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1:1,10.0.0.0/8"))
        assert result.code == 0 and len(proxy.requests) == 2 and sim.stats["GET list"] == 0


@pytest.mark.parametrize("suffix", ["/", "//"])
def test_an_endpoint_with_a_trailing_slash_sends_the_documented_paths(tmp_path, suffix):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with Recorder(empty_page) as server:
        result = run("plan", "-f", str(m), env=env_of(server.url + suffix))
    assert result.code == 0 and "1 to create" in result.out, result.all
    assert server.requests and all(line.startswith("GET /v1/p/visualization-jobs?") for line, _ in server.requests)


# -- proxies ------------------------------------------------------------------------------------------------------


def test_an_https_proxy_url_carries_the_tunnel_over_tls_with_its_credentials(tmp_path, ca, ca_file):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with tls_sim(SimConfig(**FAST), ca) as sim, ConnectProxy(ca=ca) as proxy:
        assert proxy.url.startswith("https://")
        proxy_url = proxy.url.replace("https://", "https://erin:pw-t1s-9@")
        result = run("plan", "-f", str(m), "--ca-bundle", str(ca_file), env=env_of(sim.url, HTTPS_PROXY=proxy_url))
        assert result.code == 0 and "1 to create" in result.out
        assert proxy.requests and all(line == f"CONNECT 127.0.0.1:{sim.url.rsplit(':', 1)[1]}" for line, _ in proxy.requests)
        assert base64.b64decode(proxy.requests[0][1]["Proxy-Authorization"].split()[1]) == b"erin:pw-t1s-9"
        assert sim.stats["GET list"] == 2 and "pw-t1s-9" not in result.out + result.err


def test_an_ipv6_literal_goes_through_the_tunnel_in_brackets():
    with ConnectProxy() as proxy:
        transport = RequestsTransport(http=HttpSettings(proxies={"https": proxy.url}))
        with pytest.raises(UnreachableError, match="through the proxy"):  # nothing listens on [::1]:9
            transport.send(Request("GET", "https://[::1]:9/v1/p/visualization-jobs"), 5)
    assert proxy.requests[0][0] == "CONNECT [::1]:9"


def test_a_proxy_that_closes_the_tunnel_unanswered_means_nothing_was_sent():
    with ConnectProxy(close_unanswered=True) as proxy:
        transport = RequestsTransport(http=HttpSettings(proxies={"https": proxy.url}))
        with pytest.raises(UnreachableError) as dropped:  # not ambiguous: apply may resend a create at once
            transport.send(Request("POST", "https://modelarts.example/v1/p/visualization-jobs", body=b"{}"), 5)
    assert f"through the proxy {proxy.url.removeprefix('http://')}" in str(dropped.value) and "check the proxy" in str(dropped.value)


def test_a_socks_proxy_carries_plan_to_the_endpoint(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with SimServer(SimConfig(**FAST)) as sim, SocksProxy() as proxy:
        result = run("plan", "-f", str(m), env=env_of(sim.url, HTTP_PROXY=proxy.url))
        assert result.code == 0 and "1 to create" in result.out, result.all
        assert proxy.connects and set(proxy.connects) == {f"127.0.0.1:{sim.url.rsplit(':', 1)[1]}"}
        assert sim.stats["GET list"] == 2


def test_a_socks_proxy_that_cannot_reach_the_endpoint_means_nothing_was_sent():
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # nothing listens there once closed: the proxy's connection is refused
    with SocksProxy() as proxy:
        transport = RequestsTransport(http=HttpSettings(proxies={"http": proxy.url}))
        with pytest.raises(UnreachableError, match="through the proxy"):  # not ambiguous: apply may resend a create at once
            transport.send(Request("POST", f"http://127.0.0.1:{port}/v1/p/visualization-jobs", body=b"{}"), 5)
    assert proxy.connects == [f"127.0.0.1:{port}"]


def test_an_answer_trickled_through_a_socks_proxy_ends_at_the_timeout():
    """The whole-exchange deadline holds through SOCKS too: urllib3's SOCKS connections are watched like the others."""
    answer = ok(EMPTY_PAGE)
    with RawServer(lambda line: trickled(answer), apart=0.05) as server, SocksProxy() as proxy:
        transport = RequestsTransport(http=HttpSettings(proxies={"http": proxy.url}))
        started = time.monotonic()
        with pytest.raises(RequestTimeout, match=r"no answer within 1 s"):
            transport.send(Request("GET", server.url + "/x"), 1)  # every byte within 0.05 s: no read times out
        assert 0.9 < time.monotonic() - started < 2


def test_a_proxys_refusal_echoing_its_credentials_prints_none_of_them(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    echoed = {"error_msg": "bad proxy login carol:s3cret-PW% (Y2Fyb2w6czNjcmV0LVBXJQ==) from s3cret-PW%25"}

    def refuse(handler):
        return 407, {"Proxy-Authenticate": "Basic", "Content-Type": "application/json"}, json.dumps(echoed).encode()

    with Recorder(refuse) as proxy:
        env = env_of("http://modelarts.example:8080", HTTP_PROXY=proxy.url.replace("http://", "http://carol:s3cret-PW%25@"))
        result = run("plan", "-f", str(m), "-vv", env=env)
    assert result.code == 1 and "407" in result.out + result.err
    for form in ("s3cret-PW%25", "s3cret-PW%", "carol:s3cret-PW%", "Y2Fyb2w6czNjcmV0LVBXJQ=="):
        assert form not in result.out + result.err, form


def test_an_answer_echoing_the_token_or_the_proxy_password_is_quoted_without_them():
    echo = [b"HTTP/1.1 2xx tok-echo-4321 pw-echo-8765\r\n\r\n", None]  # not a status line: quoted in the error
    with RawServer(lambda line: echo) as proxy:
        transport = RequestsTransport(http=HttpSettings(proxies={"http": proxy.url.replace("http://", "http://u:pw-echo-8765@")}))
        with pytest.raises(TransportError) as failed:
            transport.send(Request("GET", "http://modelarts.example/x", headers={"X-Auth-Token": "tok-echo-4321"}), 5)
    message = str(failed.value)
    assert "not an HTTP answer" in message and "***" in message
    assert "tok-echo-4321" not in message and "pw-echo-8765" not in message


def test_the_session_never_reads_netrc_over_the_token(tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login mallory password netrc-pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    with Recorder(empty_page) as server:
        assert run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), env=env_of(server.url)).code == 0
    headers = server.requests[0][1]
    assert headers["X-Auth-Token"] == "tok-1234" and "Authorization" not in headers


# -- TLS ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_ca_bundle_variables_of_requests_and_curl_are_trusted(tmp_path, ca, ca_file, variable):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with tls_sim(SimConfig(**FAST), ca) as sim:
        result = run("plan", "-f", str(m), env=env_of(sim.url, **{variable: str(ca_file)}))
        assert result.code == 0 and "1 to create" in result.out
        assert run("plan", "-f", str(m), env=env_of(sim.url)).code == 1  # without it the CA is unknown


def test_a_directory_of_hashed_ca_certificates_is_a_ca_bundle(tmp_path, ca, ca_file):
    folder = tmp_path / "certs"
    folder.mkdir()
    subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(ca_file)], capture_output=True,
                                  text=True, check=True).stdout.strip()
    (folder / f"{subject_hash}.0").write_bytes(ca_file.read_bytes())
    m = manifest_of(tmp_path / "m.yaml", "a")
    with tls_sim(SimConfig(**FAST), ca) as sim:
        result = run("plan", "-f", str(m), "--ca-bundle", str(folder), env=env_of(sim.url))
        assert result.code == 0 and "1 to create" in result.out
        empty = tmp_path / "empty-dir"
        empty.mkdir()
        refused = run("plan", "-f", str(m), "--ca-bundle", str(empty), env=env_of(sim.url))
        assert refused.code == 1 and "TLS certificate of 127.0.0.1 is not trusted" in refused.err


@pytest.mark.parametrize("path, said", [("/dev/null", "is not a CA bundle (not a regular file)"),
                                        ("empty.pem", "is not a CA bundle (the file is empty)"),
                                        ("missing.pem", "no such file")])
def test_a_ca_bundle_that_is_not_one_says_what_it_is_and_sends_nothing(tmp_path, path, said):
    (tmp_path / "empty.pem").write_bytes(b"")
    path = path if path.startswith("/") else str(tmp_path / path)
    with Recorder(empty_page) as server:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), "--ca-bundle", path, env=env_of(server.url))
        assert result.code == 1 and "flag --ca-bundle: " in result.err and said in result.err and "Traceback" not in result.err
        assert server.requests == []


def _plan_in_a_process(tmp_path, url, *flags, **environ):
    """vizctl plan as its own process (the system trust store and Python's warnings are the process's)."""
    manifest_of(tmp_path / "m.yaml", "a")
    env = {key: value for key, value in os.environ.items() if not key.endswith(("_PROXY", "_proxy", "CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"))}
    return subprocess.run([sys.executable, "-m", "vizctl", "plan", "-f", "m.yaml", *flags], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**env, **env_of(url), **environ})


def test_a_ca_only_in_the_system_trust_store_is_trusted(tmp_path, ca, ca_file):
    """No --ca-bundle: the system's store (here OpenSSL's SSL_CERT_FILE, as a corporate root installed there) is used."""
    with tls_sim(SimConfig(**FAST), ca) as sim:
        trusted = _plan_in_a_process(tmp_path, sim.url, SSL_CERT_FILE=str(ca_file))
        assert trusted.returncode == 0 and "1 to create" in trusted.stdout, trusted.stderr
        refused = _plan_in_a_process(tmp_path, sim.url)
        assert refused.returncode == 1 and "is not trusted" in refused.stderr


def test_certifis_cas_are_trusted_besides_the_system_store(tmp_path, ca, ca_file, monkeypatch):
    """Where the system store is empty (python.org's macOS builds), certifi's CAs still work: here certifi's file is
    the test CA, which the system store does not hold."""
    import certifi

    monkeypatch.setattr(certifi, "where", lambda: str(ca_file))
    with tls_sim(SimConfig(**FAST), ca) as sim:
        assert RequestsTransport().send(Request("GET", sim.url + "/x"), 5).status == 404


def test_parallel_tls_handshakes_are_not_serialized(ca, ca_file, monkeypatch):
    """Two connections at once: both send their ClientHello before the server answers either. A client holding one
    lock across every handshake of its context (truststore 0.10 does) sends one, and waits for its answer first."""
    import certifi

    monkeypatch.setattr(certifi, "where", lambda: str(ca_file))  # the default (system store + certifi) path
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_side)
    listener = socket.create_server(("127.0.0.1", 0), backlog=8)
    hellos = []

    def serve():
        raws = [listener.accept()[0], listener.accept()[0]]
        deadline = time.monotonic() + 1
        while len(hellos) < 2 and time.monotonic() < deadline:  # which connections have sent their ClientHello
            hellos[:] = select.select(raws, [], [], 0.05)[0]
        for raw in raws:
            with server_side.wrap_socket(raw, server_side=True) as tls:
                while b"\r\n\r\n" not in tls.recv(65536):
                    pass
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

    threading.Thread(target=serve, daemon=True).start()
    transport = RequestsTransport()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/x"
    with listener, ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda n: transport.send(Request("GET", url), 5).status, range(2)))
    assert answers == [200, 200] and len(hellos) == 2


def test_insecure_prints_vizctls_one_warning_and_nothing_of_urllib3(tmp_path, ca):
    with tls_sim(SimConfig(**FAST), ca) as sim:
        done = _plan_in_a_process(tmp_path, sim.url, "--insecure")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Warning") == 1 and "verification is off" in done.stderr and "InsecureRequestWarning" not in done.stderr


# -- the deadline of a whole exchange -----------------------------------------------------------------------------


@pytest.mark.parametrize("cut", ["headers", "body"])
def test_an_answer_trickled_a_byte_at_a_time_ends_at_the_timeout(cut):
    answer = ok(EMPTY_PAGE)
    split = answer.index(b"\r\n\r\n") + 4 if cut == "body" else 0
    with RawServer(lambda line: [answer[:split], *trickled(answer[split:])], apart=0.05) as server:
        started = time.monotonic()
        with pytest.raises(RequestTimeout, match=r"no answer within 1 s"):
            RequestsTransport().send(Request("GET", server.url + "/x"), 1)  # every byte within 0.05 s: no read times out
        assert 0.9 < time.monotonic() - started < 2


def test_a_body_that_stalls_after_the_headers_is_a_timeout():
    stalled = [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", b"", b"", b"", b""]  # then nothing for 80 ms, and more
    with RawServer(lambda line: [stalled[0], *[b""] * 100], apart=0.05) as server:
        with pytest.raises(RequestTimeout, match=r"no answer within 0.5 s"):
            RequestsTransport().send(Request("GET", server.url + "/x"), 0.5)


def test_a_timely_answer_on_a_connection_is_not_cut_later_by_an_old_deadline():
    with RawServer(lambda line: [ok(line.split()[1].encode())], apart=0) as server:
        transport = RequestsTransport()
        assert transport.send(Request("GET", server.url + "/a"), 0.3).body == b"/a"
        time.sleep(0.5)  # the first exchange's deadline passes while its connection is idle in the pool
        assert transport.send(Request("GET", server.url + "/b"), 5).body == b"/b"
        transport.close()
    assert server.connections == 1


def test_apply_against_a_trickling_server_ends_near_its_timeout(tmp_path):
    """Issue 21: `apply --timeout 3 --request-timeout 1` ran 190 s against a server sending a byte every 50 ms."""
    answer = ok(EMPTY_PAGE)
    with RawServer(lambda line: trickled(answer), apart=0.05) as server:
        started = time.monotonic()
        result = run("apply", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), "-y", "--timeout", "3", "--request-timeout", "1",
                     env=env_of(server.url))
        elapsed = time.monotonic() - started
    assert result.code != 0 and "no answer within 1 s" in result.err and "Traceback" not in result.err
    assert elapsed < 12, elapsed  # a few 1 s attempts within the retry policy, never the trickle's 10 s per answer


# -- lazy import --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--version"], ["validate", "-f", "m.yaml"], ["show", "plan.json"], ["schema"], ["completion", "bash"]])
def test_commands_that_send_nothing_never_import_requests(tmp_path, argv):
    manifest_of(tmp_path / "m.yaml", "a")
    (tmp_path / "plan.json").write_text("{}")
    program = ("import sys\nfrom vizctl.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
               "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", program, *argv], capture_output=True, text=True, timeout=30, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": REPO})
    loaded = set(done.stderr.rpartition("MODULES ")[2].split())
    assert "vizctl.cli" in loaded and not loaded & {"requests", "urllib3", "truststore", "certifi"}, done.stderr[:500]
