"""Each auth method end to end: the real CLI and client against the simulator's IAM, gateway and metadata."""

from __future__ import annotations

import argparse
import json
import socket
import time

import pytest
import requests

from cliutil import manifest_of, run
from httputil import Recorder
from vizctl.api.client import ModelArtsClient
from vizctl.api.connection import open_connection
from vizctl.api.iam import PasswordIdentity, find_project, issue_token, metadata_keys, token_body
from vizctl.api.transport import RequestsTransport
from vizctl.environment import Environment
from vizctl.errors import AuthError, ProtocolError
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

FAST = dict(startup_seconds=0.2, delete_seconds=0.1, stop_seconds=0.1)
AK, SK = "SIMAKCI0123456789ABC", "sk-DISTINCT-0123456789abcdefghijklmnop"
PASSWORD = "pw-DISTINCT-Passw0rd!"


def sim_with(**config):
    return SimServer(SimConfig(**FAST, strict_auth=True, **config))


def calls(sim, key):
    return sim.stats_snapshot().get(key, 0)


def password_env(sim, **extra):
    return {"VIZCTL_ENDPOINT": sim.url, "VIZCTL_IAM_ENDPOINT": sim.url + "/v3", "VIZCTL_REGION": "eu-de",
            "VIZCTL_USERNAME": "ci-user", "VIZCTL_DOMAIN_NAME": "OTC00000000001000000xxx",
            "VIZCTL_PASSWORD": PASSWORD, **extra}


def aksk_env(sim, **extra):
    return {"VIZCTL_ENDPOINT": sim.url, "VIZCTL_IAM_ENDPOINT": sim.url, "VIZCTL_REGION": "eu-de",
            "HW_ACCESS_KEY": AK, "HW_SECRET_KEY": SK, **extra}


def connect(environ, **flags):
    """The connection the CLI would make, for driving the real client directly."""
    args = argparse.Namespace(request_timeout=5.0, debug=False, insecure=False, endpoint=None, project_id=None,
                              region=None, profile=None, ca_bundle=None, **flags)
    conn = open_connection(args, Environment(environ=environ, stdout=None, stderr=None, stdin=None,
                                             stdin_isatty=False, stdout_isatty=False), pool_size=4)
    return conn, ModelArtsClient(conn.endpoint, conn.project_id, conn.auth, conn.transport, timeout=5.0)


# -- IAM token given directly ----------------------------------------------------------


def test_issued_token_works_then_expired_token_is_said_plainly(tmp_path):
    with sim_with(iam_password=PASSWORD) as sim:
        issued = requests.post(sim.url + "/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": "u", "password": PASSWORD, "domain": {"name": "d"}}}},
            "scope": {"project": {"name": "eu-de"}}}})
        assert issued.status_code == 201
        token = issued.headers["X-Subject-Token"]
        m = manifest_of(tmp_path / "m.yaml", "a")
        env = {"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "project-eu-de", "OS_TOKEN": token}
        assert run("plan", "-f", str(m), env=env).code == 0
        requests.post(sim.url + "/__sim__/expire-tokens")
        result = run("plan", "-f", str(m), env=env)
        assert result.code == 1
        assert "IAM token from env OS_TOKEN has expired" in result.err
        assert token not in result.all


def test_strict_simulator_refuses_a_token_it_never_issued(tmp_path):
    with sim_with() as sim:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")),
                     env={"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "made-up-token"})
        assert result.code == 1 and "ModelArts.0108" in result.err


# -- IAM password ------------------------------------------------------------------------


def test_password_login_scopes_to_the_region_project_and_applies(tmp_path):
    with sim_with(iam_password=PASSWORD) as sim:
        m = manifest_of(tmp_path / "m.yaml", "a", "b")
        result = run("apply", "-f", str(m), "--auto-approve", env=password_env(sim))
        assert result.code == 0, result.all
        assert calls(sim, "POST v3/auth/tokens") == 1  # one login for the whole run
        assert {j["job_name"] for j in sim.state.list_jobs("project-eu-de", {})["jobs"]} == {"a", "b"}


def test_expired_password_token_is_renewed_once_and_the_call_succeeds():
    with sim_with(iam_password=PASSWORD) as sim:
        conn, client = connect(password_env(sim))
        assert client.list_page().total == 0
        requests.post(sim.url + "/__sim__/expire-tokens")
        assert client.list_page().total == 0
        assert calls(sim, "POST v3/auth/tokens") == 2
        assert calls(sim, "GET list") == 3  # the refused call was sent again once


def test_wrong_password_is_one_clear_error(tmp_path):
    with sim_with(iam_password="the-right-one") as sim:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), "--debug", env=password_env(sim))
        assert result.code == 1
        assert "IAM refused the password login (check the user name, domain, password and passcode): The username or password is wrong." in result.err
        assert PASSWORD not in result.all and "Traceback" not in result.all
        assert calls(sim, "GET list") == 0


def test_mfa_passcode_goes_with_the_user_id(tmp_path):
    with sim_with(iam_password=PASSWORD, iam_passcode="123456") as sim:
        m = manifest_of(tmp_path / "m.yaml", "a")
        env = password_env(sim, VIZCTL_USER_ID="uid-1", VIZCTL_PASSCODE="123456")
        assert run("plan", "-f", str(m), env=env).code == 0
        refused = run("plan", "-f", str(m), env=password_env(sim, VIZCTL_USER_ID="uid-1"))
        assert refused.code == 1 and "password is wrong" in refused.err


# -- AK/SK ------------------------------------------------------------------------------


def test_aksk_signed_requests_are_verified_and_the_project_is_looked_up(tmp_path):
    with sim_with(access_key=AK, secret_key=SK, projects={"eu-de": "pid-eu-de"}) as sim:
        m = manifest_of(tmp_path / "m.yaml", "a", job_desc="'a b/c&d'")
        result = run("apply", "-f", str(m), "--auto-approve", env=aksk_env(sim))
        assert result.code == 0, result.all
        assert calls(sim, "GET v3/projects") == 1
        assert [j["job_name"] for j in sim.state.list_jobs("pid-eu-de", {})["jobs"]] == ["a"]


def test_page_1_goes_alone_until_a_signature_is_accepted():
    """A rejected signature counts towards the key's lock: the first list read sends page 1 alone
    (its cross-check after it); once the API has accepted a signature, they leave together."""
    with sim_with(access_key=AK, secret_key=SK, projects={"eu-de": "pid-eu-de"}, latency=0.1) as sim:
        conn, client = connect(aksk_env(sim))
        assert client.list_all().list_calls == 2 and sim.most_at_once == 1
        sim.reset_stats()
        assert client.list_all().list_calls == 2 and sim.most_at_once == 2


def test_rejected_signature_is_not_retried_and_says_what_to_check(tmp_path):
    with sim_with(access_key=AK, secret_key="another-secret-key-000", projects={"eu-de": "pid"}) as sim:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), "--project-id", "pid", "--debug",
                     env=aksk_env(sim))
        assert result.code == 1
        assert "APIGW.0301" in result.err and "clock" in result.err and "SIMA****" in result.err
        assert "the gateway's canonical request" in result.err and "vizctl's canonical request:   GET|/v1/pid/" in result.err
        assert calls(sim, "GET list") == 1  # page 1 alone: its cross-check would be a second failure towards the lock
        assert SK not in result.all


def test_rejected_signature_on_the_project_lookup_is_explained_too(tmp_path):
    with sim_with(access_key=AK, secret_key="another-secret-key-000") as sim:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), env=aksk_env(sim))
        assert result.code == 1 and "APIGW.0301" in result.err and "clock" in result.err
        assert calls(sim, "GET v3/projects") == 1 and calls(sim, "GET list") == 0


def test_clock_skew_beyond_15_minutes_is_rejected(tmp_path):
    with sim_with(access_key=AK, secret_key=SK) as sim:
        sim.iam._clock = lambda: time.time() + 16 * 60
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), "--project-id", "p", env=aksk_env(sim))
        assert result.code == 1 and "clock" in result.err


@pytest.mark.parametrize("projects,message", [({}, "IAM has no project named 'eu-de'"),
                                              ({"eu-de": ["p1", "p2"]}, "IAM has 2 projects (p1, p2) named 'eu-de'")])
def test_project_lookup_needs_exactly_one_match(tmp_path, projects, message):
    with sim_with(access_key=AK, secret_key=SK, projects=projects) as sim:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), env=aksk_env(sim))
        assert result.code == 1 and message in result.err and "--project-id" in result.err


def test_temporary_keys_send_their_security_token():
    with sim_with() as sim:
        conn, client = connect({"VIZCTL_AUTH": "agency", "VIZCTL_METADATA_URL": sim.url, "VIZCTL_ENDPOINT": sim.url,
                                "VIZCTL_PROJECT_ID": "p"})
        keys = conn.auth.keys
        env = {"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_ACCESS_KEY": keys.access_key,
               "VIZCTL_SECRET_KEY": keys.secret_key}
        assert run("plan", "-f", "examples/", env=env).code == 1  # without the security token: refused
        assert run("plan", "-f", "examples/", env={**env, "VIZCTL_SECURITY_TOKEN": keys.security_token}).code == 0


# -- ECS agency ----------------------------------------------------------------------------


def test_agency_keys_when_asked(tmp_path):
    with sim_with() as sim:
        env = {"VIZCTL_AUTH": "agency", "VIZCTL_METADATA_URL": sim.url, "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p"}
        assert run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), env=env).code == 0
        assert calls(sim, "GET openstack/latest/securitykey") == 1


def test_agency_keys_are_refreshed_before_they_expire():
    with sim_with(agency_ttl_seconds=300) as sim:  # less than the 10-minute margin: every use refreshes
        env = {"VIZCTL_AUTH": "agency", "VIZCTL_METADATA_URL": sim.url, "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p"}
        conn, client = connect(env)
        client.list_page()
        client.list_page()
        assert conn.auth.fetches == 3
    with sim_with() as sim:
        conn, client = connect({**env, "VIZCTL_METADATA_URL": sim.url, "VIZCTL_ENDPOINT": sim.url})
        client.list_page()
        client.list_page()
        assert conn.auth.fetches == 1


def test_vm_without_agency_says_so(tmp_path):
    with sim_with(agency=False) as sim:
        env = {"VIZCTL_AUTH": "agency", "VIZCTL_METADATA_URL": sim.url, "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p"}
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), env=env)
        assert result.code == 1 and "this VM has no agency" in result.err


def test_nothing_configured_falls_back_to_metadata_and_fails_fast_without_it(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with sim_with() as sim:
        env = {"VIZCTL_METADATA_URL": sim.url, "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p"}
        assert run("plan", "-f", str(m), env=env).code == 0
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    result = run("plan", "-f", str(m), env={"VIZCTL_METADATA_URL": f"http://127.0.0.1:{port}",
                                            "VIZCTL_ENDPOINT": "http://127.0.0.1:9", "VIZCTL_PROJECT_ID": "p"})
    assert result.code == 1 and "no credentials found" in result.err
    assert time.monotonic() - started < 5


# -- transport ---------------------------------------------------------------------------------


def test_https_proxy_is_used_unless_no_proxy_covers_the_host(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with SimServer(SimConfig(**FAST)) as sim, SimServer(SimConfig(**FAST)) as proxy:
        env = {"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "tok-1234", "HTTP_PROXY": proxy.url}
        assert run("plan", "-f", str(m), env=env).code == 0
        assert calls(proxy, "GET list") == 2 and calls(sim, "GET list") == 0  # the "proxy" answered (a page and its cross-check)
        assert run("plan", "-f", str(m), env={**env, "NO_PROXY": "localhost,127.0.0.1"}).code == 0
        assert calls(sim, "GET list") == 2


def test_tls_flags(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    with SimServer(SimConfig(**FAST)) as sim:
        env = {"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "tok-1234"}
        insecure = run("plan", "-f", str(m), "--insecure", env=env)
        assert insecure.code == 0 and "Warning: TLS certificate verification is off" in insecure.err
        missing = run("plan", "-f", str(m), env={**env, "REQUESTS_CA_BUNDLE": str(tmp_path / "nope.pem")})
        assert missing.code == 1 and "env REQUESTS_CA_BUNDLE: no such file" in missing.err
        folder = run("plan", "-f", str(m), env={**env, "REQUESTS_CA_BUNDLE": str(tmp_path)})  # hashed certificates, as requests takes it
        assert folder.code == 0 and "directory" not in folder.err


def test_user_agent_names_vizctl_and_its_version():
    from vizctl import __version__
    from vizctl.api.transport import USER_AGENT

    assert USER_AGENT.startswith(f"vizctl/{__version__} python/")


def test_no_proxy_matches_hosts_and_domain_suffixes():
    from vizctl.api.transport import _bypass

    rules = ("localhost", ".corp.example", "10.0.0.1")
    assert _bypass("iam.corp.example", rules) and _bypass("corp.example", rules) and _bypass("10.0.0.1", rules)
    assert not _bypass("modelarts.eu-de.otc.t-systems.com", rules) and not _bypass("notcorp.example", rules)
    assert _bypass("anything", ("*",))


def test_signed_requests_through_a_proxy_are_verified(tmp_path):
    with sim_with(access_key=AK, secret_key=SK) as sim:
        env = {**aksk_env(sim), "VIZCTL_PROJECT_ID": "p", "HTTP_PROXY": sim.url}  # the simulator is its own proxy
        assert run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), env=env).code == 0


# -- IAM and metadata answers of other readings (hand breaks of api/iam.py that passed the suite) ---------------


def _json_answer(status, body, **headers):
    return lambda handler: (status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode())


def test_the_project_lookup_picks_the_name_itself_when_iam_ignores_the_name_filter():
    """An IAM that lists every project (the filter unread) still gives eu-de's id, not a sub-project's."""
    projects = {"projects": [{"id": "p-sub", "name": "eu-de_sub"}, {"id": "p-main", "name": "eu-de"}]}
    with Recorder(_json_answer(200, projects)) as iam:
        assert find_project(RequestsTransport(), iam.url, "eu-de", lambda request: request, 5) == "p-main"
    assert iam.requests[0][0] == "GET /v3/projects?name=eu-de"


def test_a_password_login_answered_without_a_token_header_is_an_error_not_a_token():
    with Recorder(_json_answer(201, {"token": {"project": {"id": "p1"}}})) as iam:
        with pytest.raises(ProtocolError, match="without an X-Subject-Token header"):
            issue_token(RequestsTransport(), iam.url, {"auth": {}}, 5)


def test_a_login_with_a_project_id_is_scoped_by_the_id_not_the_name():
    body = token_body(PasswordIdentity("pw-00001", user_id="uid"), "p-id", "eu-de")
    assert body["auth"]["scope"] == {"project": {"id": "p-id"}}
    assert token_body(PasswordIdentity("pw-00001", user_id="uid"), None, "eu-de")["auth"]["scope"] == {"project": {"name": "eu-de"}}


def test_a_metadata_service_refusing_the_session_token_is_an_auth_error_not_a_tokenless_read():
    with Recorder(_json_answer(403, {"error": "forbidden"})) as metadata:
        with pytest.raises(AuthError, match="refused a session token"):
            metadata_keys(RequestsTransport(), metadata.url, 5)
    assert [line for line, _ in metadata.requests] == ["PUT /meta-data/latest/api/token"]
