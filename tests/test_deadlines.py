"""--timeout bounds the whole command, every request included (issues 16 and 21).

The real CLI and client against the simulator or small servers over loopback. Timings are loose
(``timeout + SLACK``): the machine is shared; what they catch is a command running many times longer.
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import replace

import pytest

from cliutil import TOKEN, manifest_of, run
from httputil import Recorder
from test_auth_methods import PASSWORD, calls, connect, password_env, sim_with
from vizctl.applying.machine import Applier, ApplySettings
from vizctl.api.auth import TokenAuth
from vizctl.cli import main
from vizctl.api.client import ModelArtsClient
from vizctl.environment import Environment
from vizctl.errors import AuthError, DeadlineExceeded
from vizctl.manifests.loader import load_manifests
from vizctl.model import LiveSnapshot
from vizctl.planning.planner import PlanOptions, build_plan
from vizctl.applying.progress import JsonReporter
from vizctl.api.retry import RateLimiter
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.api.transport import RequestsTransport

SLACK = 3.0  # seconds a loaded machine may add to a deadline
JSON = {"Content-Type": "application/json"}
THROTTLED = (429, {**JSON, "Retry-After": "30"}, b'{"error_code": "APIG.0308", "error_msg": "The throttling threshold has been reached"}')
READ_COMMANDS = ["plan", "status", "wait", "destroy -y", "apply -y"]


def api_env(server) -> dict:
    return {"VIZCTL_ENDPOINT": server.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": TOKEN}


def timed(*argv, **kwargs):
    started = time.monotonic()
    result = run(*argv, **kwargs)
    return result, time.monotonic() - started


def one_error(result) -> str:
    """The one readable error a command ended with (no traceback)."""
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.all, result.all
    return errors[0]


@pytest.fixture
def hanging():
    """A server that never answers (until the test ends)."""
    release = threading.Event()
    with Recorder(lambda handler: (release.wait(60), THROTTLED)[1], idle_timeout=60) as server:
        yield server
        release.set()


# -- 1. throttled for longer than --timeout ----------------------------------------------------------


@pytest.mark.parametrize("command", ["destroy -y", "wait"])
@pytest.mark.parametrize("retry_after", ["30", "1"])
def test_a_command_throttled_past_its_timeout_ends_within_it_having_changed_nothing(tmp_path, command, retry_after):
    answer = (429, {**JSON, "Retry-After": retry_after}, THROTTLED[2])
    with Recorder(lambda handler: answer) as server:
        result, took = timed(*command.split(), str(manifest_of(tmp_path / "m.yaml", "a")), "--timeout", "2s", env=api_env(server))
    assert result.code == 1 and took < 2 + SLACK, (took, result.all)
    error = one_error(result)
    assert "reading the job list" in error and "--timeout (2 s)" in error and error.endswith("nothing was changed")
    assert all(line.startswith("GET ") for line, _ in server.requests)


# -- 2. and 7. a read that never answers: every reading command ends near --timeout -----------------


@pytest.mark.parametrize("command", READ_COMMANDS + ["export"])
def test_a_list_read_that_never_answers_ends_every_command_near_its_timeout(tmp_path, hanging, command):
    paths = [] if command == "export" else [str(manifest_of(tmp_path / "m.yaml", "a"))]
    result, took = timed(*command.split(), *paths, "--timeout", "2", env=api_env(hanging))
    assert result.code == 1 and 1.9 < took < 2 + SLACK, (took, result.all)
    error = one_error(result)
    assert "ran out while reading the job list" in error and "got no answer in the time left; nothing was changed" in error


def test_details_reads_that_never_answer_end_within_the_timeout(tmp_path):
    job = {"job_id": 1, "job_name": "a", "status": 8, "train_url": "/bucket/a/logs/", "create_time": 1}
    release = threading.Event()

    def answer(handler):
        if "?" in handler.path:  # the list
            return 200, JSON, json.dumps({"is_success": True, "jobs": [job], "job_total_count": 1}).encode()
        release.wait(60)
        return THROTTLED

    with Recorder(answer, idle_timeout=60) as server:
        for command in ("export", "plan"):  # the plan reads the details of a job whose manifest names a job_type
            paths = [] if command == "export" else [str(manifest_of(tmp_path / "m.yaml", "a", job_type="mindinsight"))]
            result, took = timed(command, *paths, "--timeout", "2", "--no-cache", env=api_env(server))
            assert result.code == 1 and took < 2 + SLACK, (command, took, result.all)
            assert "ran out while reading a job's details" in result.err, result.all
        release.set()


def test_a_list_that_is_never_whole_is_read_again_only_until_the_timeout(tmp_path):
    """Ten re-reads of 0.5 s each would take 5 s; --timeout 1.5 ends them."""
    def answer(handler):
        time.sleep(0.5)
        return 200, JSON, b'{"is_success": true, "jobs": [], "job_total_count": 1}'

    with Recorder(answer) as server:
        result, took = timed("plan", str(manifest_of(tmp_path / "m.yaml", "a")), "--timeout", "1.5", env=api_env(server))
    assert result.code == 1 and took < 4, (took, result.all)
    assert "reading it again" in result.err and "--timeout (1.5 s) ran out" in one_error(result)


# -- 3. the rate limiter's waits ------------------------------------------------------------------------


def test_a_request_the_rate_limit_cannot_send_before_the_deadline_is_not_sent(tmp_path):
    with SimServer(SimConfig(startup_seconds=0.2)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "a", "b")
        result, took = timed("apply", str(m), "-y", "--max-rps", "0.5", "--timeout", "3", sim=sim)
        assert result.code == 3 and took < 3 + SLACK, (took, result.all)
        assert "Apply complete" not in result.out and "Apply finished with problems" in result.out
        assert "the rate limit (--max-rps, or the API's throttling) would send it only later, beyond --timeout (3 s)" in result.out
        assert sim.state.list_jobs("proj-1", {})["jobs"] == [] and sim.stats.get("POST create", 0) == 0

        slow, took = timed("apply", str(m), "-y", "--max-rps", "0.05", "--timeout", "5", sim=sim)
        assert slow.code == 1 and took < 5 + SLACK, (took, slow.all)
        assert "beyond --timeout (5 s)" in one_error(slow) and sim.stats.get("POST create", 0) == 0


def test_the_limiter_refuses_at_once_a_wait_that_would_end_after_the_deadline():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(1, clock=lambda: now[0], sleep=sleep)
    assert limiter.acquire(deadline=0.5) is True  # free: sent at once
    assert limiter.acquire(deadline=0.5) is False and slept == []  # due at 1.0: not sent, no wait
    assert limiter.acquire(deadline=1.5) is True and slept == [1.0]  # due at 1.0, before the deadline


def test_ctrl_c_ends_a_long_rate_limit_wait_at_once():
    limiter, cancel = RateLimiter(0.1), threading.Event()  # one request every 10 s
    assert limiter.acquire(cancel) is True
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    assert limiter.acquire(cancel) is False and time.monotonic() - started < 5


# -- 4. each request gets at most the time left --------------------------------------------------------


class Recording:
    """The real transport, noting the timeout each request was handed."""

    def __init__(self):
        self.inner, self.timeouts = RequestsTransport(), []

    def send(self, request, timeout):
        self.timeouts.append(timeout)
        return self.inner.send(request, timeout)

    def close(self):
        self.inner.close()


def test_a_request_is_handed_only_the_time_left_and_none_is_sent_without_time():
    with SimServer(SimConfig(latency=2)) as sim:
        transport = Recording()
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN), transport, timeout=30)
        client.start_deadline(1.0)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"--timeout \(1 s\) ran out while reading the job list: GET .* got no answer"):
            client.list_page()
        assert time.monotonic() - started < 1 + SLACK and len(transport.timeouts) == 1 and transport.timeouts[0] <= 1.0
        with pytest.raises(DeadlineExceeded, match=r"ran out before creating a job: POST .* was not sent; nothing was changed"):
            client.create_job({"job_name": "a", "train_url": "/b/"})
        assert len(transport.timeouts) == 1 and client.calls["create"] == 0
        transport.close()


def test_with_a_slow_api_apply_ends_near_its_timeout_and_says_what_may_have_happened(tmp_path):
    with SimServer(SimConfig(latency=2)) as sim:
        result, took = timed("apply", str(manifest_of(tmp_path / "m.yaml", "a")), "-y", "--timeout", "3", sim=sim)
    assert result.code in (1, 3) and took < 3 + SLACK, (took, result.all)
    assert "Apply complete" not in result.out and "ran out" in result.all
    if result.code == 3:  # the create was sent: its answer came too late to know
        assert "ran out while creating a job" in result.out and "it may have been carried out" in result.out
        assert "✗ a  status unknown: create a: --timeout (3 s) ran out while creating a job" in result.out
        assert "a  failed" not in result.out


def test_the_wait_for_the_jobs_counts_from_the_start_of_the_command(tmp_path):
    """The plan's read takes 4 s of --timeout 5: the wait gets the 1 s left, not 5 s of its own."""
    with SimServer(SimConfig(startup_seconds=600)) as sim:
        sim.state.create_job("proj-1", {"job_name": "a", "train_url": "/bucket/a/logs/"})
        sim.config = replace(sim.config, latency=4)
        result, took = timed("wait", str(manifest_of(tmp_path / "m.yaml", "a")), "--timeout", "5", sim=sim)
    assert result.code == 3 and "timed out" in result.out and took < 5 + SLACK, (took, result.all)


def test_the_time_a_person_takes_to_confirm_does_not_count(tmp_path):
    class SlowAnswer(io.StringIO):
        def readline(self, *args):
            time.sleep(2.5)
            return "yes\n"

    with SimServer(SimConfig(startup_seconds=0.1)) as sim:
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdin=SlowAnswer(), stdout=out, stderr=err, environ={"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "proj-1",
                          "VIZCTL_TOKEN": TOKEN}, stdin_isatty=True, stdout_isatty=False, cwd=str(tmp_path))
        code = main(["apply", str(manifest_of(tmp_path / "m.yaml", "a")), "--timeout", "2"], env=env)
        assert code == 0 and "Apply complete" in out.getvalue(), out.getvalue() + err.getvalue()


# -- 5. a token refused as expired, renewed and refused again --------------------------------------------


def test_a_token_that_is_expired_at_once_ends_in_one_clear_error(tmp_path):
    with sim_with(iam_password=PASSWORD, token_ttl_seconds=0) as sim:
        result, took = timed("apply", str(manifest_of(tmp_path / "m.yaml", "a")), "-y", env=password_env(sim))
        assert result.code == 1 and took < SLACK
        assert "refused the IAM token of vizctl's password login (env VIZCTL_PASSWORD) as expired, and a fresh one too" in one_error(result)
        assert calls(sim, "POST v3/auth/tokens") <= 3 and calls(sim, "GET list") <= 4 and calls(sim, "POST create") == 0


def test_once_a_renewed_token_is_refused_nothing_more_is_sent():
    with sim_with(iam_password=PASSWORD, token_ttl_seconds=0) as sim:
        _, client = connect(password_env(sim))
        with pytest.raises(AuthError, match="The token must be updated"):
            client.list_page()
        logins, lists = calls(sim, "POST v3/auth/tokens"), calls(sim, "GET list")
        assert (logins, lists) == (2, 2)  # the first login, one renewal; the request, sent again once
        for _ in range(3):
            with pytest.raises(AuthError, match="refused IAM's new token as expired too"):
                client.list_page()
        assert (calls(sim, "POST v3/auth/tokens"), calls(sim, "GET list")) == (logins, lists)


# -- 6. absurd durations are usage errors --------------------------------------------------------------


@pytest.mark.parametrize("flag, value", [
    *((flag, value) for flag in ("--timeout", "--request-timeout", "--list-lag") for value in ("1e10", "inf", "nan", "-1", "1e400", "169h")),
    *(("--max-rps", value) for value in ("inf", "nan", "-1", "0", "1e400")),
])
def test_absurd_durations_and_rates_are_usage_errors_that_send_nothing(tmp_path, flag, value):
    with SimServer(SimConfig()) as sim:
        result = run("apply", str(manifest_of(tmp_path / "m.yaml", "a")), "-y", f"{flag}={value}", sim=sim)
        assert result.code == 64 and flag in one_error(result), result.all
        assert sim.stats_snapshot() == {}


@pytest.mark.parametrize("command", ["plan", "status", "export"])
def test_read_commands_take_a_timeout_with_the_same_parsing(tmp_path, command):
    with SimServer(SimConfig()) as sim:
        paths = [] if command == "export" else [str(manifest_of(tmp_path / "m.yaml", "a"))]
        assert run(command, *paths, "--timeout", "1m30s", sim=sim).code == 0
        assert run(command, *paths, "--timeout", "1e10", sim=sim).code == 64


def test_a_login_that_never_answers_ends_within_the_timeout(tmp_path, hanging):
    env = {"VIZCTL_ENDPOINT": hanging.url, "VIZCTL_IAM_ENDPOINT": hanging.url + "/v3", "VIZCTL_REGION": "eu-de",
           "VIZCTL_USERNAME": "ci-user", "VIZCTL_DOMAIN_NAME": "domain", "VIZCTL_PASSWORD": PASSWORD}
    result, took = timed("plan", str(manifest_of(tmp_path / "m.yaml", "a")), "--timeout", "2", env=env)
    assert result.code == 1 and took < 2 + SLACK, (took, result.all)
    assert "--timeout (2 s) ran out while logging in to IAM" in one_error(result) and PASSWORD not in result.all


def test_the_appliers_own_waits_end_by_the_clients_deadline(tmp_path):
    """A create answered 500 is tried again after a backoff (up to 4 s): none of those sleeps outlasts the deadline."""
    def answer(handler):
        if handler.command == "POST":
            return 500, JSON, b'{"error_code": "ModelArts.0010", "error_msg": "internal error"}'
        return 200, JSON, b'{"is_success": true, "jobs": [], "job_total_count": 0}'

    sleeps: list[float] = []
    with Recorder(answer) as server:
        client = ModelArtsClient(server.url, "p", TokenAuth(TOKEN))
        client.start_deadline(2.0)
        manifest = load_manifests([str(manifest_of(tmp_path / "m.yaml", "a"))], {}, io.StringIO())
        plan = build_plan(manifest, LiveSnapshot(jobs=()), {}, PlanOptions())
        applier = Applier(client, JsonReporter(Environment(stdout=io.StringIO())), ApplySettings(list_lag=0, wait=False), sleep=sleeps.append)
        [result] = applier.run(plan)
    assert result.outcome.value == "failed" and len(sleeps) == 5 and max(sleeps) <= 2.0, (result, sleeps)


def test_an_apply_that_times_out_waiting_still_reads_the_list_a_last_time_within_its_timeout(tmp_path):
    with SimServer(SimConfig(startup_seconds=60)) as sim:
        result, took = timed("apply", str(manifest_of(tmp_path / "m.yaml", "slow-a")), "-y", "--timeout", "3", sim=sim)
        whole_reads = sum(n for route, n in sim.stats.items() if route.startswith("GET list"))
    assert result.code == 3 and took < 3 + SLACK, (took, result.all)
    assert "✗ slow-a  timed out, INIT (job 1): still INIT after 3s" in result.out
    assert "final read of the list failed" not in result.out, result.out  # the wait left the final read its time
    assert whole_reads >= 3, sim.stats  # the plan's, the wait's rounds and the final one
