"""Tests that kill the survivors of the second mutation run (tests/MUTATION.md, "Part 2").

Each pins a behaviour a mutant of ``redact.py``, ``signer.py``, ``auth.py`` or ``commands/``
changed without any other test noticing. The secret registry and the signer are pure
logic, tested directly (a fresh :class:`~vizctl.redact.Registry`, so nothing leaks into the
process's one registry); the simulator's answers are read over real loopback HTTP.
"""

from __future__ import annotations

import base64
import html
import time
from datetime import datetime, timedelta, timezone

import json

import pytest
import requests
import yaml

import test_signer as reference
from cliutil import manifest_of, run
from httputil import Recorder
from vizctl import __version__
from vizctl.api import signer
from vizctl.api.auth import Keys, PasswordAuth, RenewingTransport, sign_request
from vizctl.commands.status import age
from vizctl.redact import Registry, redact
from vizctl.manifests.resources import manifest_schema_text
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimState
from vizctl.api.transport import Request, RequestsTransport, Response

# -- redact.py: the registry ------------------------------------------------------------------


def test_a_new_registry_masks_what_is_registered_with_it():
    registry = Registry()
    registry.register("tok-1234")
    assert registry.redact("token tok-1234 refused") == "token *** refused"
    assert registry.holds_secret("a tok-1234") and not Registry().holds_secret("a tok-1234")


def test_a_secret_under_four_characters_is_registered_in_no_form():
    registry = Registry()
    registry.register("a b")  # its URL-encoded form a%20b is five characters long
    assert registry.redact("a%20b and a+b") == "a%20b and a+b"
    assert not registry.holds_secret("a%20b")


def test_the_html_form_that_leaves_quotes_alone_is_masked():
    registry = Registry()
    secret = 'pa&ss"wd'
    registry.register(secret)
    shown = html.escape(secret, quote=False)  # pa&amp;ss"wd, as an HTML page without attribute escaping shows it
    assert registry.redact(f"<p>{shown}</p>") == "<p>***</p>"


def test_basic_credentials_with_a_password_outside_latin_1_are_masked_in_utf_8():
    registry = Registry()
    registry.register_basic("user", "pass-€uro")  # cannot be encoded as latin-1: only the UTF-8 Base64 exists
    header = base64.b64encode("user:pass-€uro".encode()).decode()
    assert registry.redact(f"Authorization: Basic {header}") == "Authorization: Basic ***"


def test_basic_credentials_whose_password_holds_y_umlaut_are_masked_in_latin_1_too():
    registry = Registry()
    registry.register_basic("user", "pass-ÿ-word")  # U+00FF, the last latin-1 character
    header = base64.b64encode("user:pass-ÿ-word".encode("latin-1")).decode()  # what requests sends
    assert registry.redact(f"Basic {header}") == "Basic ***"


def test_a_registered_secret_that_holds_another_is_masked_whole_whatever_their_letters():
    registry = Registry()
    registry.register("wxyz")  # sorts after "abc-wxyz": longest first is by length, not by letters
    registry.register("abc-wxyz")
    assert registry.redact("[abc-wxyz]") == "[***]"


def test_an_extra_secret_that_holds_another_is_masked_whole():
    assert Registry().redact("[abc-wxyz]", ["wxyz", "abc-wxyz"]) == "[***]"


def test_extra_secrets_that_are_missing_or_too_short_mask_nothing():
    assert redact("a &lt; b", [None, "", "<"]) == "a &lt; b"  # "<" is too short, though its HTML form is not


# -- signer.py --------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path,query,headers,body", [
    ("GET", "/", [("a", "1")], {}, b""),
    ("GET", "/v1/p1/visualization-jobs/", [], {}, b""),
    ("POST", "/v1/p1/visualization-jobs", [], {"Content-Type": "application/bson"}, b"\x05\x00\x00\x00\x00"),
])
def test_more_requests_match_huaweicloudsdkcore(method, path, query, headers, body):
    """A path that ends in ``/`` keeps one ``/``; a BSON body is signed, not ``UNSIGNED-PAYLOAD``."""
    reference.test_matches_huaweicloudsdkcore(method, path, query, headers, body)


def test_a_host_header_given_is_the_one_signed_and_sent():
    signed = signer.sign("AK", "SK", "GET", "h.example", "/", [], {"Host": "gateway.example:8443"}, None)
    assert signed.headers["Host"] == "gateway.example:8443"
    assert "host:gateway.example:8443\n" in signed.canonical_request


def test_the_signing_date_is_utc_whatever_the_local_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")  # UTC+8, no daylight saving time
    time.tzset()
    try:
        signed = signer.sign("AK", "SK", "GET", "h", "/", [], {}, None)
    finally:
        monkeypatch.undo()
        time.tzset()
    date = datetime.strptime(signed.headers["X-Sdk-Date"], signer.DATE_FORMAT).replace(tzinfo=timezone.utc)
    assert abs(date - datetime.now(timezone.utc)) < timedelta(minutes=1)


@pytest.mark.parametrize("authorization", [
    "SDK-HMAC-SHA256 Access=SIMAK, SignedHeaders=host;x-sdk-date",
    "SDK-HMAC-SHA256 Access=SIMAK, Signature=00",
    "SDK-HMAC-SHA256 SignedHeaders=host;x-sdk-date, Signature=00",
])
def test_an_authorization_header_missing_a_field_is_refused_as_unauthenticated(authorization):
    assert signer.parse_authorization(authorization) is None
    config = SimConfig(startup_seconds=0, access_key="SIMAK", secret_key="sim-secret-key", strict_auth=True)
    with SimServer(config) as sim:
        date = datetime.now(timezone.utc).strftime(signer.DATE_FORMAT)
        answer = requests.get(sim.url + "/v1/p1/visualization-jobs", timeout=5,
                              headers={"Authorization": authorization, "X-Sdk-Date": date})
    assert answer.status_code == 401


# -- auth.py: a password login's token, renewed once, within the request's timeout -------------

EXPIRED = b'{"error_code": "APIGW.0307", "error_msg": "The token must be updated."}'


class Clock:
    """A monotonic clock the test moves: the login or the API 'takes' the time it is told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def renewing(api_url: str, clock: Clock, login_takes: float = 0.0):
    """A RenewingTransport over the real transport to ``api_url``; its logins issue tok-1, tok-2 ... and are
    recorded (the timeout each was given); each renewal 'takes' ``login_takes`` seconds of ``clock``."""
    logins: list[float | None] = []

    def issue(timeout: float | None) -> str:
        logins.append(timeout)
        if len(logins) > 1:
            clock.now += login_takes
        return f"tok-{len(logins)}"

    auth = PasswordAuth(issue)
    return RenewingTransport(RequestsTransport(), auth, clock=clock), auth, logins


def send(transport, auth, url: str, timeout: float = 10.0):
    return transport.send(auth.apply(Request("GET", url + "/v1/p/visualization-jobs")), timeout)


def expired_for(*tokens: str, clock: Clock | None = None, api_takes: float = 0.0):
    """An API that refuses ``tokens`` as expired (the first answer 'taking' ``api_takes`` of ``clock``)."""
    def answer(handler):
        if clock is not None:
            clock.now += api_takes
        if handler.headers.get("X-Auth-Token") in tokens:
            return 401, {"Content-Type": "application/json"}, EXPIRED
        return 200, {"Content-Type": "application/json"}, b'{"jobs": []}'
    return answer


def test_the_renewal_login_is_bounded_by_what_is_left_of_the_requests_timeout():
    clock = Clock()
    with Recorder(expired_for("tok-1", clock=clock, api_takes=3.0)) as api:
        transport, auth, logins = renewing(api.url, clock)
        assert send(transport, auth, api.url, timeout=10.0).status == 200
    assert logins[0] is None and logins[1] == pytest.approx(7.0)  # 10 s, less the 3 s the refused request took
    assert [r[1]["X-Auth-Token"] for r in api.requests] == ["tok-1", "tok-2"]


@pytest.mark.parametrize("api_takes, renewed", [(10.0, False), (9.5, True)])
def test_no_renewal_once_the_first_answer_used_up_the_timeout(api_takes, renewed):
    clock = Clock()
    with Recorder(expired_for("tok-1", clock=clock, api_takes=api_takes)) as api:
        transport, auth, logins = renewing(api.url, clock)
        answer = send(transport, auth, api.url, timeout=10.0)
    assert (answer.status, len(logins), len(api.requests)) == ((200, 2, 2) if renewed else (401, 1, 1))


@pytest.mark.parametrize("login_takes, sent_again", [(10.0, False), (9.5, True)])
def test_a_login_that_used_up_the_timeout_leaves_the_expired_answer_standing(login_takes, sent_again):
    clock = Clock()
    with Recorder(expired_for("tok-1")) as api:
        transport, auth, logins = renewing(api.url, clock, login_takes=login_takes)
        answer = send(transport, auth, api.url, timeout=10.0)
    assert (answer.status, len(api.requests), len(logins)) == ((200, 2, 2) if sent_again else (401, 1, 2))


def test_a_401_that_is_not_an_expired_token_does_not_log_in_again():
    def refused(handler):
        return 401, {"Content-Type": "application/json"}, b'{"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"}'
    with Recorder(refused) as api:
        transport, auth, logins = renewing(api.url, Clock())
        assert send(transport, auth, api.url).status == 401
    assert len(logins) == 1 and len(api.requests) == 1


def test_an_expired_answer_that_is_not_utf_8_is_still_read_as_expired():
    def answer(handler):
        if handler.headers.get("X-Auth-Token") == "tok-1":
            return 401, {"Content-Type": "text/plain"}, b"\xff\xfe token expired"
        return 200, {"Content-Type": "application/json"}, b'{"jobs": []}'
    with Recorder(answer) as api:
        transport, auth, logins = renewing(api.url, Clock())
        assert send(transport, auth, api.url).status == 200
    assert len(logins) == 2


def test_a_late_expired_answer_to_a_request_sent_before_the_renewal_does_not_end_renewals():
    logins = []
    auth = PasswordAuth(lambda timeout: (logins.append(timeout), f"tok-{len(logins)}")[1])
    old = auth.apply(Request("GET", "http://127.0.0.1:9/"))  # sent with tok-1, answered late
    expired = Response(401, {}, EXPIRED)
    assert auth.renew(old) and auth.token() == "tok-2"
    auth.answered(old, expired)  # about tok-1: says nothing of the renewed token
    assert auth.token() == "tok-2"


# -- commands/: destroy, status, export, schema against the simulator ---------------------------


FAST = {"startup_seconds": 0.2, "delete_seconds": 0.1, "stop_seconds": 0.1}


@pytest.fixture
def sim():
    with SimServer(SimConfig(**FAST)) as server:
        yield server


def seed(sim, *jobs: dict) -> None:
    sim.state.seed_jobs("proj-1", [{"train_url": f"/bucket/{j['job_name']}/", "running": True, **j} for j in jobs])


def test_destroy_deletes_a_drifted_job_as_a_plain_delete_and_names_what_is_not_found(tmp_path, sim):
    seed(sim, {"job_name": "dr", "train_url": "/b/dr/", "job_desc": "live"}, {"job_name": "ok"})
    m = tmp_path / "m.yaml"
    m.write_text("jobs:\n- job_name: dr\n  train_url: /b/dr/\n  job_desc: declared\n"
                 "- {job_name: gone-1, train_url: /b/g1/}\n- {job_name: gone-2, train_url: /b/g2/}\n")
    result = run("destroy", str(m), "-y", "-o", "json", sim=sim)
    assert result.code == 0, result.all
    plan = json.loads(result.out.splitlines()[0])["plan"]
    [change] = plan["changes"]
    assert (change["action"], change["reason"], change["after"], change["diff"], change["notes"]) == (
        "delete", "declared: destroy deletes it", None, [], [])
    assert plan["warnings"] == ["Not found, nothing to delete: gone-1, gone-2"]
    again = run("destroy", str(manifest_of(tmp_path / "none.yaml", "none-1")), "-y", "-o", "json", sim=sim)
    assert json.loads(again.out.splitlines()[0])["plan"]["warnings"] == ["Not found, nothing to delete: none-1"]
    present = run("destroy", str(manifest_of(tmp_path / "ok.yaml", "ok")), "-y", "-o", "json", sim=sim)  # nothing missing
    assert json.loads(present.out.splitlines()[0])["plan"]["warnings"] == []


def test_destroy_leaves_an_ambiguous_name_alone_and_deletes_the_rest(tmp_path, sim):
    seed(sim, {"job_name": "dup"}, {"job_name": "dup"}, {"job_name": "ok"})
    result = run("destroy", str(manifest_of(tmp_path / "m.yaml", "dup", "ok")), "-y", sim=sim)
    assert result.code == 3 and "2 live jobs are named dup (ids 1, 2)" in result.out, result.all
    assert "1 deleted, 1 failed" in result.out and "Traceback" not in result.all
    assert sorted(j["job_name"] for j in sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"]
                  if int(j["status"]) != 9) == ["dup", "dup"]


def test_status_lines_up_its_columns_and_lists_jobs_sharing_a_name_by_id(sim):
    seed(sim, {"job_name": "st-a-long-name", "train_url": "/b/a/"}, {"job_name": "b", "status": 3},
         {"job_name": "b", "status": 3})
    result = run("status", sim=sim)
    assert result.code == 0, result.all
    lines = result.out.splitlines()
    assert lines[0] == "NAME            STATUS        AGE  SERVICE URL"
    for line, (name, status) in zip(lines[1:4], [("b", "IMAGE_FAILED"), ("b", "IMAGE_FAILED"), ("st-a-long-name", "RUNNING")]):
        assert line[:16] == f"{name:<14}  " and line[16:30] == f"{status:<12}  " and line[33:35] == "  ", line
        assert line[30:33].strip().endswith("s")  # the age, right-aligned under AGE
    assert lines[1].endswith("/2/") and lines[2].endswith("/3/")
    assert lines[4:] == ["", "3 live jobs."]
    jobs = json.loads(run("status", "-o", "json", sim=sim).out)["jobs"]
    assert [(j["job_name"], j["job_id"], j["status"]) for j in jobs] == [("b", "2", 3), ("b", "3", 3), ("st-a-long-name", "1", 8)]


def test_status_of_an_empty_project_says_no_jobs(sim):
    result = run("status", sim=sim)
    assert (result.code, result.out) == (0, "No jobs.\n")


def test_age_turns_to_the_next_unit_at_exactly_one_of_it():
    assert [age(s) for s in (0, 59, 60, 3599, 3600, 86399, 86400)] == ["0s", "59s", "1m", "59m", "1h", "23h", "1d"]


def test_schema_prints_the_schema_once_with_one_final_newline():
    result = run("schema")
    assert result.code == 0 and result.out == manifest_schema_text() and result.out.endswith("}\n")


class OtherServer(SimState):
    """A server whose job details carry schedules the simulator itself refuses to create (another implementation's)."""

    schedules: dict[str, object] = {}

    def get_job(self, project_id: str, job_id: str) -> dict:
        job = super().get_job(project_id, job_id)
        if job["job_name"] in self.schedules:
            job["schedule"] = self.schedules[job["job_name"]]
        return job


EXPORTED_SCHEDULES = {  # the live schedule -> what export declares (None: no schedule key)
    "s-0": ({"type": "stop", "time_unit": "HOURS", "duration": 0}, {"duration": 0}),
    "s-24": ({"type": "stop", "time_unit": "HOURS", "duration": 24}, {"duration": 24}),
    "s-bare": ({"duration": 3}, {"duration": 3}),
    "s-25": ({"type": "stop", "time_unit": "HOURS", "duration": 25}, None),
    "s-start": ({"type": "start", "time_unit": "HOURS", "duration": 3}, None),
    "s-minutes": ({"type": "stop", "time_unit": "MINUTES", "duration": 3}, None),
    "s-true": ({"type": "stop", "time_unit": "HOURS", "duration": True}, None),
    "s-text": ({"type": "stop", "time_unit": "HOURS", "duration": "three"}, None),
}


def test_export_declares_only_an_auto_stop_after_0_to_24_hours():
    state = OtherServer(SimConfig(**FAST))
    state.schedules = {name: live for name, (live, _) in EXPORTED_SCHEDULES.items()}
    with SimServer(SimConfig(**FAST), state=state) as other:
        seed(other, *({"job_name": name, "job_type": "mindinsight"} for name in EXPORTED_SCHEDULES))
        result = run("export", sim=other)
    assert result.code == 0, result.all
    exported = {job["job_name"]: job.get("schedule") for job in yaml.safe_load(result.out)["jobs"]}
    assert exported == {name: declared for name, (_, declared) in EXPORTED_SCHEDULES.items()}


def test_wait_says_why_a_missing_or_stopped_job_will_not_run(tmp_path, sim):
    seed(sim, {"job_name": "w-stopped", "train_url": "/bucket/w-stopped/logs/", "status": 12})  # as manifest_of declares it
    result = run("wait", "-f", str(manifest_of(tmp_path / "m.yaml", "w-missing", "w-stopped")), "--timeout", "1s", sim=sim)
    assert result.code == 3, result.all
    assert "not found in the live project: nothing to wait for (`vizctl apply` creates it)" in result.out
    assert "job is KILLED: it will not run by itself (`vizctl apply` restarts it)" in result.out


def test_export_heads_its_output_with_the_count_and_notes_only_the_exported_jobs_not_running(sim):
    seed(sim, {"job_name": "ex-run"}, {"job_name": "ex-stop", "status": 12}, {"job_name": "other-stop", "status": 12})
    matched = run("export", "--match", "ex-*", sim=sim)
    assert matched.code == 0, matched.all
    assert matched.out.startswith(f"# Exported by vizctl {__version__}: 2 live jobs matching 'ex-*' from ")
    assert matched.out.endswith("job_type: tensorboard\n") and not matched.out.endswith("\n\n")
    assert "Note: not running, so `vizctl plan` will show them: ex-stop (KILLED)\n" in matched.err
    running = run("export", "--match", "ex-run", sim=sim)
    assert running.out.startswith(f"# Exported by vizctl {__version__}: 1 live job matching 'ex-run' from ")
    assert "Note: not running" not in running.err
    everything = run("export", sim=sim)
    assert everything.out.startswith(f"# Exported by vizctl {__version__}: 3 live jobs from ")


# -- auth.py: signing a request (a retry re-signs one that was signed before) ------------------


def test_re_signing_a_request_replaces_its_old_date_host_and_authorization():
    keys = Keys("SIMAK", "sim-secret-key")
    stale = {"X-Sdk-Date": "20200101T000000Z", "authorization": "SDK-HMAC-SHA256 Access=old", "Host": "old.example"}
    signed = sign_request(Request("POST", "http://127.0.0.1:8443/v1/p?a=1&b=", (("c", "2"),), b"{}", stale), keys)
    assert signed.request.method == "POST"
    assert signed.request.url == "http://127.0.0.1:8443/v1/p?a=1&b=&c=2"  # the URL's query kept, blanks too
    headers = signed.request.headers
    assert headers["Host"] == "127.0.0.1:8443" and headers["X-Sdk-Date"] != stale["X-Sdk-Date"]
    assert [k.lower() for k in headers].count("authorization") == 1 and "Access=SIMAK," in headers["Authorization"]


def test_a_url_without_a_path_is_signed_as_slash():
    signed = sign_request(Request("GET", "http://127.0.0.1:8443"), Keys("SIMAK", "sim-secret-key"))
    assert signed.canonical.split("\n")[1] == "/"


# -- sim/iam.py: what the strict simulator answers a token it never issued --------------------


def test_the_strict_simulator_answers_a_token_it_never_issued_with_401():
    with SimServer(SimConfig(startup_seconds=0, token="the-sim-token", strict_auth=True)) as sim:
        answer = requests.get(sim.url + "/v1/p1/visualization-jobs", headers={"X-Auth-Token": "never-issued"}, timeout=5)
    assert answer.status_code == 401
