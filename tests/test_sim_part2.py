"""The simulator, part 2 (issues 16 and 21): the signing rules, ids and names, the state file, hostile bodies.

Over real loopback HTTP with requests; signed requests come from huaweicloudsdkcore's Signer (the
reference) or, to tamper with what is signed, from vizctl's signer functions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import requests

from cliutil import REPO, manifest_of, run
from vizctl.api import signer
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

AK, SK = "SIMAKPART2000000000A", "sk-part2-0123456789abcdefghijklmnopqr"
JOB = {"job_name": "job-a", "train_url": "/bucket/logs/"}
TOKEN = {"X-Auth-Token": "any-token"}


@pytest.fixture
def sim():
    with SimServer(SimConfig(startup_seconds=0, access_key=AK, secret_key=SK, strict_auth=True)) as server:
        yield server


def jobs_path(project: str = "p1") -> str:
    return f"/v1/{project}/visualization-jobs"


def sdk_signed(sim: SimServer, method: str, path: str, headers: dict[str, str], body: bytes = b"",
               access_key: str = AK, secret_key: str = SK) -> dict[str, str]:
    """The headers huaweicloudsdkcore's Signer sends for this request (Host and X-Sdk-Date added by it)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    request = SdkRequest(method=method, schema="http", host=urlsplit(sim.url).netloc, resource_path=path,
                         query_params=[], header_params=dict(headers), body=body)
    Signer(BasicCredentials(access_key, secret_key)).sign(request)
    return dict(request.header_params)


def hand_signed(sim: SimServer, method: str, path: str, signed: dict[str, str], body: bytes = b"",
                date: str | None = None, secret_key: str = SK) -> dict[str, str]:
    """A correct signature over exactly ``signed`` (plus X-Sdk-Date only if given there), whatever is left out."""
    date = date or signed.get("X-Sdk-Date") or datetime.now(timezone.utc).strftime(signer.DATE_FORMAT)
    canonical, names = signer.canonical_request(method, path, [], signed, body)
    signature = signer.signature(secret_key, date, canonical)
    return {**signed, "X-Sdk-Date": date, "Host": urlsplit(sim.url).netloc,
            "Authorization": f"{signer.ALGORITHM} Access={AK}, SignedHeaders={';'.join(names)}, Signature={signature}"}


def send(sim: SimServer, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> requests.Response:
    return requests.request(method, sim.url + path, headers=headers, data=body or None, timeout=5)


def sdk_date(offset_seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_seconds)).strftime(signer.DATE_FORMAT)


def assert_signature_refused(answer: requests.Response, says: str) -> None:
    assert answer.status_code == 401, answer.text
    body = answer.json()
    assert body["error_code"] == "APIGW.0301"
    assert body["error_msg"].startswith("Incorrect IAM authentication information: ")
    assert says in body["error_msg"]


# -- 1. the headers the signing rules sign ------------------------------------------------


def test_the_reference_signers_requests_are_accepted(sim):
    body = json.dumps(JOB).encode()
    headers = sdk_signed(sim, "POST", jobs_path(), {"Content-Type": "application/json", "X-Project-Id": "p1"}, body)
    assert send(sim, "POST", jobs_path(), headers, body).status_code == 200
    listed = send(sim, "GET", jobs_path(), sdk_signed(sim, "GET", jobs_path(), {}))
    assert listed.status_code == 200 and [j["job_name"] for j in listed.json()["jobs"]] == ["job-a"]


@pytest.mark.parametrize("left_out", ["Host", "X-Sdk-Date"])
def test_host_and_date_must_be_signed(sim, left_out):
    date = sdk_date(0)
    everything = {"Host": urlsplit(sim.url).netloc, "X-Sdk-Date": date}
    headers = hand_signed(sim, "GET", jobs_path(), {k: v for k, v in everything.items() if k != left_out}, date=date)
    assert_signature_refused(send(sim, "GET", jobs_path(), headers), f"{left_out} must be among SignedHeaders")
    assert sim.stats_snapshot().get("GET list") == 1  # refused at the gateway, before the list


@pytest.mark.parametrize("added", ["X-Project-Id", "X-Security-Token", "X-Sdk-Content-Sha256"])
def test_a_header_the_signer_signs_must_be_signed_when_sent(sim, added):
    value = signer.EMPTY_HASH if added == "X-Sdk-Content-Sha256" else "p1"
    headers = {**sdk_signed(sim, "GET", jobs_path(), {}), added: value}  # sent, but added after signing
    assert_signature_refused(send(sim, "GET", jobs_path(), headers), f"{added} must be among SignedHeaders")
    signed = sdk_signed(sim, "GET", jobs_path(), {added: value})
    assert send(sim, "GET", jobs_path(), signed).status_code == 200


def test_an_agency_security_token_left_out_of_signed_headers_is_refused(sim):
    keys = requests.get(sim.url + "/openstack/latest/securitykey", timeout=5).json()["credential"]
    token = {"X-Security-Token": keys["securitytoken"]}
    good = sdk_signed(sim, "GET", jobs_path(), token, access_key=keys["access"], secret_key=keys["secret"])
    assert send(sim, "GET", jobs_path(), good).status_code == 200
    tampered = {**sdk_signed(sim, "GET", jobs_path(), {}, access_key=keys["access"], secret_key=keys["secret"]), **token}
    assert_signature_refused(send(sim, "GET", jobs_path(), tampered), "X-Security-Token must be among SignedHeaders")


def test_unknown_keys_accepted_by_shape_still_need_the_signed_headers_and_date():
    with SimServer(SimConfig()) as loose:  # not strict: a key it does not know passes on its shape alone
        good = sdk_signed(loose, "GET", jobs_path(), {}, access_key="UNKNOWNAK", secret_key="whatever")
        assert send(loose, "GET", jobs_path(), good).status_code == 200
        unsigned_host = good["Authorization"].replace("SignedHeaders=host;x-sdk-date", "SignedHeaders=x-sdk-date")
        assert_signature_refused(send(loose, "GET", jobs_path(), {**good, "Authorization": unsigned_host}),
                                 "Host must be among SignedHeaders")
        future = sdk_signed(loose, "GET", jobs_path(), {"X-Sdk-Date": sdk_date(3600)}, access_key="UNKNOWNAK", secret_key="x")
        assert_signature_refused(send(loose, "GET", jobs_path(), future), "allowed skew")


# -- 2. the clock skew, both ways -------------------------------------------------------------


@pytest.mark.parametrize("offset, accepted", [(-16 * 60, False), (-14 * 60, True), (14 * 60, True),
                                              (16 * 60, False), (365 * 86400, False)])
def test_the_15_minute_skew_applies_both_ways(sim, offset, accepted):
    headers = sdk_signed(sim, "GET", jobs_path(), {"X-Sdk-Date": sdk_date(offset)})
    answer = send(sim, "GET", jobs_path(), headers)
    if accepted:
        assert answer.status_code == 200, answer.text
    else:
        assert_signature_refused(answer, "more than the allowed skew")


# -- 3. ids unique across restarts and deletes; a name still being deleted is taken ----------------


def token_create(sim: SimServer, name: str) -> requests.Response:
    return requests.post(sim.url + jobs_path(), json={**JOB, "job_name": name}, headers=TOKEN, timeout=5)


def test_a_restarted_sim_never_reuses_the_id_of_a_deleted_job(tmp_path):
    path = tmp_path / "state.json"
    config = dict(startup_seconds=0, delete_seconds=0)
    with SimServer(SimConfig(**config), state_path=path) as first:
        ids = [token_create(first, f"job-{n}").json()["job_id"] for n in range(3)]
        assert ids == ["1", "2", "3"]
        assert requests.delete(f"{first.url}{jobs_path()}/3", headers=TOKEN, timeout=5).status_code == 200
        assert [j["job_id"] for j in requests.get(first.url + jobs_path(), headers=TOKEN, timeout=5).json()["jobs"]] == [1, 2]
        requests.put(f"{first.url}{jobs_path()}/1", json={"job_desc": "saved after 3 is gone"}, headers=TOKEN, timeout=5)
    saved = json.loads(path.read_text())
    assert saved["next_id"] == 4 and [r["job_id"] for r in saved["projects"]["p1"]] == [1, 2]
    with SimServer(SimConfig(**config), state_path=path) as second:
        assert token_create(second, "job-new").json()["job_id"] == "4"


def test_the_state_files_next_id_is_the_next_id(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "next_id": 42, "projects": {}}))
    with SimServer(SimConfig(startup_seconds=0), state_path=path) as sim:
        assert token_create(sim, "job-a").json()["job_id"] == "42"
    assert json.loads(path.read_text())["next_id"] == 43


def test_a_name_still_being_deleted_is_refused_where_names_are_unique():
    config = SimConfig(startup_seconds=0, delete_seconds=30, reject_duplicate_names=True)
    with SimServer(config) as sim:
        assert token_create(sim, "job-a").status_code == 200
        assert requests.delete(f"{sim.url}{jobs_path()}/1", headers=TOKEN, timeout=5).status_code == 200
        assert requests.get(f"{sim.url}{jobs_path()}/1", headers=TOKEN, timeout=5).json()["status"] == 9  # KILLING
        again = token_create(sim, "job-a")
        assert again.status_code == 400 and again.json()["error_code"] == "ModelArts.0103"
        assert token_create(sim, "job-b").status_code == 200
    with SimServer(SimConfig(startup_seconds=0, delete_seconds=0, reject_duplicate_names=True)) as sim:
        token_create(sim, "job-a")
        requests.delete(f"{sim.url}{jobs_path()}/1", headers=TOKEN, timeout=5)
        assert token_create(sim, "job-a").status_code == 200  # once gone, the name is free



# -- 4. two processes on one state file ------------------------------------------------------------


def test_two_concurrent_apply_sim_processes_keep_every_job(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("VIZCTL_", "HW_", "OS_", "HUAWEICLOUD_"))}
    environ["PYTHONPATH"] = str(REPO)
    for round_ in range(2):
        cwd = tmp_path / f"round-{round_}"
        teams = {team: manifest_of(cwd / f"{team}.yaml", *(f"{team}-{n}" for n in range(8))) for team in ("ta", "tb")}
        processes = [subprocess.Popen([sys.executable, "-m", "vizctl", "apply", "--sim", "-f", str(path), "--auto-approve"],
                                      cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                     for path in teams.values()]
        outputs = [p.communicate(timeout=120)[0] for p in processes]
        assert [p.returncode for p in processes] == [0, 0], outputs
        saved = json.loads((cwd / ".vizctl" / "sim-state.json").read_text())
        records = saved["projects"]["sim-project"]
        assert sorted(r["job_name"] for r in records) == sorted(f"{t}-{n}" for t in teams for n in range(8))
        ids = [r["job_id"] for r in records]
        assert len(set(ids)) == 16 and saved["next_id"] == max(ids) + 1
        status = run("status", "--sim", cwd=cwd)
        assert status.code == 0 and all(f"{t}-{n}" in status.out for t in teams for n in range(8)), status.all


def test_two_simulators_on_one_state_file_see_each_others_jobs_and_never_share_an_id(tmp_path):
    path = tmp_path / "state.json"
    with SimServer(SimConfig(startup_seconds=0), state_path=path) as first, \
            SimServer(SimConfig(startup_seconds=0), state_path=path) as second:
        assert token_create(first, "job-a").json()["job_id"] == "1"
        assert [j["job_name"] for j in requests.get(second.url + jobs_path(), headers=TOKEN, timeout=5).json()["jobs"]] == ["job-a"]
        assert token_create(second, "job-b").json()["job_id"] == "2"
        assert requests.get(f"{first.url}{jobs_path()}/2", headers=TOKEN, timeout=5).json()["job_name"] == "job-b"
        assert token_create(first, "job-c").json()["job_id"] == "3"
    assert [r["job_name"] for r in json.loads(path.read_text())["projects"]["p1"]] == ["job-a", "job-b", "job-c"]


# -- 5. a change that cannot be saved is not made ------------------------------------------------


def assert_internal_error(answer: requests.Response, says: str) -> None:
    assert answer.status_code == 500, answer.text
    body = answer.json()
    assert body["is_success"] is False and body["error_code"] == "ModelArts.0010"
    assert says in body["error_message"]


def test_a_state_directory_that_is_a_file_answers_500_and_keeps_nothing(tmp_path):
    (tmp_path / "not-a-dir").write_text("a regular file where the state's directory should be\n")
    with SimServer(SimConfig(startup_seconds=0), state_path=tmp_path / "not-a-dir" / "state.json") as sim:
        assert_internal_error(token_create(sim, "job-a"), "nothing was changed")
        listed = requests.get(sim.url + jobs_path(), headers=TOKEN, timeout=5)
        assert listed.status_code == 200 and listed.json()["jobs"] == []
        manifest = manifest_of(tmp_path / "m.yaml", "job-a")
        applied = run("apply", "-f", str(manifest), "--auto-approve", "--timeout", "2", "--list-lag", "0",
                      env={"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p1", "VIZCTL_TOKEN": "tok-0123456789"})
        assert applied.code != 0, applied.all
        assert "Apply complete" not in applied.all and "0 of 1 running" in applied.all
        assert "✗ job-a  failed: create job-a failed" in applied.out and "ModelArts.0010" in applied.out  # after 5 attempts, or cut by --timeout
        assert requests.get(sim.url + jobs_path(), headers=TOKEN, timeout=5).json()["jobs"] == []


def test_a_full_disk_answers_500_and_undoes_the_change(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk (it binds root too): the save of the fifth job cannot be written."""
    import resource

    path = tmp_path / "state.json"

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    serve = subprocess.Popen([sys.executable, "-m", "vizctl", "sim", "serve", "--port", "0", "--state", str(path),
                              "--startup-seconds", "0"], stderr=subprocess.PIPE, text=True, preexec_fn=small_files,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        url = serve.stderr.readline().split("listening on ")[1].split()[0]
        sim = argparse.Namespace(url=url)
        answers = [token_create(sim, f"job-{n}") for n in range(8)]
        saved = [a.json()["job_name"] for a in answers if a.status_code == 200]
        assert 1 <= len(saved) < 8
        assert_internal_error(answers[len(saved)], "the change was not made")
        assert all(a.status_code == 500 for a in answers[len(saved):])
        listed = requests.get(url + jobs_path(), headers=TOKEN, timeout=5).json()["jobs"]
        assert [j["job_name"] for j in listed] == saved
        assert [r["job_name"] for r in json.loads(path.read_text())["projects"]["p1"]] == saved
        assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        serve.stderr.close()


# -- 6. a damaged state file is one readable error --------------------------------------------------

GOOD_RECORD = {"job_id": 1, "job_name": "job-a", "job_desc": "", "train_url": "/b/", "job_type": "tensorboard",
               "flavor": None, "schedule": None, "resource_id": "r", "service_url": "https://x/", "create_time": 1.0,
               "waiting_at": 1.0, "run_at": 1.0, "target": 8, "complete_at": None, "fixed": None, "ended_at": None,
               "killed_at": None, "gone_at": None}


def state_of(next_id=2, **record) -> bytes:
    return json.dumps({"version": 1, "next_id": next_id, "projects": {"sim-project": [{**GOOD_RECORD, **record}]}}).encode()


DAMAGED = {  # file content -> what the error says is wrong
    b"": "it is empty",
    b"  \n": "it is empty",
    state_of()[:40]: "it is not JSON",
    b"[1, 2]": 'it is not an object with "version", "next_id" and "projects"',
    b'{"version": 1, "next_id": 1, "projects": []}': 'it is not an object with "version"',
    b'{"version": 2, "next_id": 1, "projects": {}}': "its version is 2, not 1",
    b'{"version": 1, "next_id": "7", "projects": {}}': "next_id is '7', not a positive integer",
    b'{"version": 1, "next_id": 1, "projects": {"p": {}}}': "project 'p' is not a list of jobs",
    state_of(job_name=5): "a job of project 'sim-project': job_name is 5",
    state_of(create_time=None): "create_time is None",
    state_of(target=True): "target is True",
    state_of(schedule={"duration": "4"}): "schedule is",
    json.dumps({"version": 1, "next_id": 2, "projects": {"sim-project": [{"job_id": 1}]}}).encode(): "it has no job_name",
    state_of(next_id=1): "next_id 1 is not above job id 1",
    b"[" * 100_000 + b"]" * 100_000: "nested too deeply",
    bytes(range(256)) * 4: "it is not JSON",
}


@pytest.mark.parametrize("content, says", DAMAGED.items(), ids=[str(n) for n in range(len(DAMAGED))])
def test_a_damaged_state_file_under_status_sim_is_one_error(tmp_path, content, says):
    (tmp_path / ".vizctl").mkdir()
    (tmp_path / ".vizctl" / "sim-state.json").write_bytes(content)
    result = run("status", "--sim", cwd=tmp_path)
    assert result.code == 1 and result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith(f"Error: cannot read simulator state {tmp_path / '.vizctl' / 'sim-state.json'}: ")
    assert says in line and line.endswith("Delete it to start the simulator afresh (its jobs are forgotten), or put back a good copy")


@pytest.mark.parametrize("command", [("plan", "--sim", "-f", "m.yaml"), ("apply", "--sim", "-f", "m.yaml", "--auto-approve"),
                                     ("wait", "--sim", "-f", "m.yaml"), ("destroy", "--sim", "-f", "m.yaml", "--auto-approve"),
                                     ("export", "--sim"), ("status", "--sim", "-o", "json")])
def test_every_sim_command_says_a_damaged_state_file_plainly(tmp_path, command):
    manifest = str(manifest_of(tmp_path / "m.yaml", "job-a"))
    (tmp_path / ".vizctl").mkdir()
    (tmp_path / ".vizctl" / "sim-state.json").write_text('{"version": 1, "next_')
    result = run(*(manifest if arg == "m.yaml" else arg for arg in command), cwd=tmp_path)
    assert result.code == 1, result.all
    assert "Traceback" not in result.all
    assert result.err.strip().splitlines()[-1].startswith("Error: cannot read simulator state ")
    assert "sim-state.json: it is not JSON" in result.err


def test_sim_serve_says_a_damaged_state_file_plainly(tmp_path):
    (tmp_path / "sim.json").write_text("null")
    result = run("sim", "serve", "--port", "0", "--state", str(tmp_path / "sim.json"))
    assert result.code == 1 and "Traceback" not in result.all
    assert result.err.strip() == (f"Error: cannot read simulator state {tmp_path / 'sim.json'}: it is not an object with "
                                  '"version", "next_id" and "projects". Delete it to start the simulator afresh (its jobs '
                                  "are forgotten), or put back a good copy")


def test_a_vizctl_path_that_is_a_file_is_one_error(tmp_path):
    (tmp_path / ".vizctl").write_text("not a directory\n")
    result = run("status", "--sim", cwd=tmp_path)
    assert result.code == 1 and "Traceback" not in result.all
    assert result.err.strip() == f"Error: cannot keep the simulator state in {tmp_path / '.vizctl'}: it is not a directory"


# -- 7. sim serve's port, and bodies that are not JSON ------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_sim_serve_with_a_port_out_of_range_is_a_usage_error(port):
    result = run("sim", "serve", "--port", port)
    assert result.code == 64 and "Traceback" not in result.all
    assert result.err.strip() == (f"Error: argument --port: a port is a number from 0 to 65535, not {port!r} "
                                  "(see `vizctl sim serve --help`)")


@pytest.mark.parametrize("value", ["inf", "nan", "1e400"])
def test_sim_serve_with_a_latency_that_is_not_finite_is_a_usage_error(value):
    result = run("sim", "serve", "--latency", value)
    assert result.code == 64 and "Traceback" not in result.all
    assert result.err.strip().startswith(f"Error: latency must be a finite number, not {float(value)}")


DEEP = b"[" * 100_000 + b"]" * 100_000


def raw_post(sim: SimServer, path: str, body: bytes, method: str = "POST", **headers: str) -> requests.Response:
    return requests.request(method, sim.url + path, data=body, timeout=5,
                            headers={**TOKEN, "Content-Type": "application/json", **headers})


@pytest.mark.parametrize("method, path", [("POST", jobs_path()), ("PUT", jobs_path() + "/1")])
def test_a_deeply_nested_api_body_is_answered_400(method, path):
    with SimServer(SimConfig(startup_seconds=0)) as sim:
        token_create(sim, "job-a")
        answer = raw_post(sim, path, DEEP, method)
        assert answer.status_code == 400
        assert answer.json() == {"is_success": False, "error_code": "ModelArts.0101",
                                 "error_message": "The request body is not valid JSON"}
        assert token_create(sim, "job-b").status_code == 200  # and it goes on serving


def test_deeply_nested_or_misshapen_iam_and_admin_bodies_are_answered_400():
    with SimServer(SimConfig()) as sim:
        invalid = {"error": {"code": 400, "message": "The request body is invalid.", "title": "Bad Request"}}
        for body in (DEEP, b'{"auth": {"identity": {"password": {"user": "u"}}, "scope": {"project": {}}}}',
                     b'{"auth": {"identity": {"password": {"user": {"password": "p"}}}, "scope": {"project": "p"}}}',
                     b'{"auth": {"identity": {"password": {"user": {"password": "p"}}, "totp": "t"}, "scope": {"project": {"name": "r"}}}}'):
            answer = raw_post(sim, "/v3/auth/tokens", body)
            assert (answer.status_code, answer.json()) == (400, invalid), body
        answer = raw_post(sim, "/__sim__/config", DEEP)
        assert (answer.status_code, answer.json()) == (400, {"error": "the body is not valid JSON"})


def test_a_chunked_body_is_read_and_a_broken_one_answered_400():
    with SimServer(SimConfig(startup_seconds=0)) as sim:
        chunks = (part for part in (b'{"job_name": "job-a", ', b'"train_url": "/b/"}'))
        answer = requests.post(sim.url + jobs_path(), data=chunks, headers={**TOKEN, "Content-Type": "application/json"}, timeout=5)
        assert answer.status_code == 200 and answer.json()["job_name"] == "job-a"
        broken = raw_post(sim, jobs_path(), b"zz\r\n{}\r\n0\r\n\r\n", **{"Transfer-Encoding": "chunked"})
        assert broken.status_code == 400 and broken.json()["error_msg"] == "Bad chunked body"
        assert [j["job_name"] for j in requests.get(sim.url + jobs_path(), headers=TOKEN, timeout=5).json()["jobs"]] == ["job-a"]


def test_a_simulator_bug_outside_the_api_is_a_500_answer_not_a_dropped_connection(monkeypatch):
    from vizctl.sim.iam import SimIam

    def broken(self, query):
        raise RuntimeError("a bug")

    monkeypatch.setattr(SimIam, "list_projects", broken)  # a stand-in for any bug in the handler
    with SimServer(SimConfig()) as sim:
        answer = requests.get(sim.url + "/v3/projects?name=eu-de", headers=TOKEN, timeout=5)
        assert answer.status_code == 500 and answer.json()["error_code"] == "ModelArts.0010"


# -- 8. secrets never on sim serve's command line -----------------------------------------------------

SIM_TOKEN = "sim-token-SECRET-0123456789"
SIM_PASSWORD = "sim-pw-SECRET-0123456789"


def serving(argv: list[str], environ: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """``vizctl sim serve --port 0 *argv`` as a real process; it and its URL."""
    process = subprocess.Popen([sys.executable, "-m", "vizctl", "sim", "serve", "--port", "0", *argv],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO), **environ})
    line = process.stderr.readline()
    assert "listening on " in line, line + process.stderr.read()
    return process, line.split("listening on ")[1].split()[0]


def test_sim_serve_takes_its_secrets_from_files_and_the_environment_never_argv(tmp_path):
    (tmp_path / "token").write_text(SIM_TOKEN + "\n")
    (tmp_path / "sk").write_text(SK + "\n")
    process, url = serving(["--token-file", str(tmp_path / "token"), "--strict-auth", "--access-key", AK,
                            "--secret-key-file", str(tmp_path / "sk")], {"VIZCTL_SIM_IAM_PASSWORD": SIM_PASSWORD})
    try:
        with open(f"/proc/{process.pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().decode()
        assert all(secret not in argv for secret in (SIM_TOKEN, SK, SIM_PASSWORD))
        sim = argparse.Namespace(url=url)
        assert requests.get(url + jobs_path(), headers={"X-Auth-Token": "another-token"}, timeout=5).status_code == 401
        assert requests.get(url + jobs_path(), headers={"X-Auth-Token": SIM_TOKEN}, timeout=5).status_code == 200
        assert send(sim, "GET", jobs_path(), sdk_signed(sim, "GET", jobs_path(), {})).status_code == 200
        assert send(sim, "GET", jobs_path(), sdk_signed(sim, "GET", jobs_path(), {}, secret_key="wrong")).status_code == 401
        identity = {"methods": ["password"], "password": {"user": {"name": "u", "password": SIM_PASSWORD, "domain": {"name": "d"}}}}
        issued = requests.post(url + "/v3/auth/tokens", timeout=5,
                               json={"auth": {"identity": identity, "scope": {"project": {"name": "eu-de"}}}})
        assert issued.status_code == 201
        settings = requests.get(url + "/__sim__/config", timeout=5)
        assert settings.json()["token"] == settings.json()["secret_key"] == settings.json()["iam_password"] == "***"
        assert all(secret not in settings.text for secret in (SIM_TOKEN, SK, SIM_PASSWORD))
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()


@pytest.mark.parametrize("flag, variable", [("--token", "VIZCTL_SIM_TOKEN"), ("--iam-password", "VIZCTL_SIM_IAM_PASSWORD"),
                                            ("--secret-key", "VIZCTL_SIM_SECRET_KEY")])
def test_a_secret_flag_is_refused_without_saying_the_secret(flag, variable):
    # a real process with a timeout: were the flag taken, it would serve on and on
    result = subprocess.run([sys.executable, "-m", "vizctl", "sim", "serve", "--port", "0", flag, SIM_TOKEN], timeout=30,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 64 and SIM_TOKEN not in result.stdout + result.stderr
    assert result.stderr.strip() == (f"Error: argument {flag}: a secret on the command line is visible to every user of the "
                                  f"machine (ps): give it in a file with {flag}-file FILE, or in {variable} "
                                  "(see `vizctl sim serve --help`)")


@pytest.mark.parametrize("content, says", [(None, "No such file or directory"), ("", "it must hold one line"),
                                           ("a\nb\n", "it must hold one line"), (b"\xff\xfe", "codec can't decode")])
def test_a_secret_file_that_cannot_be_used_is_one_error(tmp_path, content, says):
    path = tmp_path / "token"
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run("sim", "serve", "--port", "0", "--token-file", str(path))
    assert result.code == 1 and "Traceback" not in result.all
    assert result.err.startswith(f"Error: --token-file {path}: ") and says in result.err
