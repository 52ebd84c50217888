"""The client against answers that are not the API's, lists that are not whole, throttling and
unreachable endpoints: the simulator serves each fault over real HTTP."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections import Counter

import pytest

from cliutil import TOKEN, manifest_of, run, spawn, wait_for_line
from httputil import unanswered_port
from soak import scale
from test_apply_faults import start_apply
from vizctl.api.auth import TokenAuth
from vizctl.api.client import LIST_READS, ModelArtsClient
from vizctl.errors import (
    LocalRequestError,
    ProtocolError,
    RequestTimeout,
    RetryCancelled,
    ServerError,
    UnreachableError,
    UnsuccessfulAnswer,
)
from vizctl.api.retry import RetryPolicy
from vizctl.sim.config import ANSWER_FAULTS, SimConfig
from vizctl.sim.server import SimServer

FAST = dict(startup_seconds=0.2, delete_seconds=0.1, stop_seconds=0.1, retry_after=0.05)
QUICK_RETRY = RetryPolicy(attempts=3, backoff=0.01, jitter=False)

pytestmark = pytest.mark.hardening


def client_for(sim_or_url, token=TOKEN, **kwargs):
    kwargs.setdefault("retry", QUICK_RETRY)
    url = getattr(sim_or_url, "url", sim_or_url)
    return ModelArtsClient(url, "proj-1", TokenAuth(token), **kwargs)


def live_jobs(sim):
    return sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"]  # mind a test's max_per_page


def live_names(sim):
    return [j["job_name"] for j in live_jobs(sim)]


def seed(sim, names):
    sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/bucket/{n}/logs/", "running": True} for n in names])


# -- a listing that is not whole is never the truth (issue 8, item 7) --------------------


@pytest.mark.parametrize("lie", ["rate_short_total", "rate_list_shift"])
def test_a_list_that_always_lies_is_an_error_not_a_project_to_fill(tmp_path, lie):
    names = [f"have-{i}" for i in range(12)]
    with SimServer(SimConfig(max_per_page=5, **{lie: 1.0}, **FAST)) as sim:
        seed(sim, names)
        m = manifest_of(tmp_path / "m.yaml", *names)
        result = run("apply", "-f", str(m), "--auto-approve", sim=sim)
        assert result.code == 1, result.all
        assert sim.stats.get("POST create", 0) == 0 and "Traceback" not in result.all
        assert f"the job list disagreed with itself on {LIST_READS} reads in a row" in result.err
        assert "reading it again" in result.err  # each re-read is shown as it happens


def test_a_list_answer_without_jobs_is_an_error_not_an_empty_project():
    with SimServer(SimConfig(rate_no_jobs_key=1.0)) as sim:
        seed(sim, ["have-1"])
        with pytest.raises(ProtocolError) as caught:
            client_for(sim).list_all()
        assert "the list answer has no 'jobs' list (GET /v1/proj-1/visualization-jobs?per_page=1000" in str(caught.value)
        assert sim.stats["GET list"] == 2 * QUICK_RETRY.attempts  # page 1 and its cross-check, asked at once, each tried 3 times


@pytest.mark.parametrize("lie", ["rate_no_jobs_key", "rate_short_total", "rate_list_shift"])
def test_a_list_that_lies_sometimes_is_read_again_until_whole(lie):
    with SimServer(SimConfig(max_per_page=5, seed=3, **{lie: 0.3}, **FAST)) as sim:
        seed(sim, [f"have-{i}" for i in range(23)])
        for _ in range(3):  # the default six tries of a page, as vizctl reads (three in a row fail now and then at 30%)
            snapshot = client_for(sim, retry=RetryPolicy(backoff=0.01, jitter=False)).list_all()
            assert sorted(j.job_name for j in snapshot.jobs) == sorted(f"have-{i}" for i in range(23))
        assert sim.stats[f"faults.{lie[5:]}"] > 0


def test_a_job_without_a_name_is_not_a_job_named_nothing():
    with SimServer(SimConfig()) as sim:
        seed(sim, ["named"])
        sim.state._projects["proj-1"][1]["job_name"] = None  # what a broken backend might list
        with pytest.raises(ProtocolError, match=r"no job_name\).* \(GET /v1/proj-1/visualization-jobs\?"):
            client_for(sim).list_all()


# -- answers that are not the API's answer (issue 9) -------------------------------------


def test_a_portal_page_with_http_200_is_retried_and_its_message_holds_no_token():
    with SimServer(SimConfig(rate_html_200=1.0)) as sim:
        with pytest.raises(ProtocolError) as caught:
            client_for(sim).list_page()
        message = str(caught.value)
        assert sim.stats["GET list"] == QUICK_RETRY.attempts
        assert "GET /v1/proj-1/visualization-jobs" in message and "HTTP 200" in message
        assert "Access portal" in message and "X-Auth-Token: ***" in message
        assert "SECRET" not in message and f"gave up after {QUICK_RETRY.attempts} attempts" in message


def test_is_success_false_with_http_200_is_retried_for_a_read_and_ambiguous_for_a_change():
    with SimServer(SimConfig(rate_false_200=1.0)) as sim:
        client = client_for(sim)
        with pytest.raises(UnsuccessfulAnswer):
            client.list_page()
        assert sim.stats["GET list"] == QUICK_RETRY.attempts
        with pytest.raises(UnsuccessfulAnswer) as caught:
            client.create_job({"job_name": "once", "train_url": "/b/"})
        assert caught.value.ambiguous and sim.stats["POST create"] == 1  # settled by the caller's list read


def test_an_html_502_names_the_request_the_status_and_a_snippet():
    with SimServer(SimConfig(rate_html_502=1.0)) as sim:
        with pytest.raises(ServerError) as caught:
            client_for(sim).get_job("7")
        message = str(caught.value)
        assert "API error 502" in message and "502 Bad Gateway nginx" in message
        assert "(GET /v1/proj-1/visualization-jobs/7)" in message and "<" not in message


def test_a_cut_answer_to_a_create_is_ambiguous_and_not_resent():
    with SimServer(SimConfig(rate_truncated=1.0)) as sim:
        with pytest.raises(ProtocolError) as caught:
            client_for(sim).create_job({"job_name": "cut", "train_url": "/b/"})
        assert caught.value.ambiguous and sim.stats["POST create"] == 1
        assert live_names(sim) == ["cut"]  # it was carried out: the list settles it


@pytest.mark.parametrize("rate, sim_seed", scale([(0.3, 2)], [(0.4, 3), (0.4, 4)]))
@pytest.mark.parametrize("kind", sorted(ANSWER_FAULTS))
def test_apply_converges_with_each_kind_of_broken_answer(tmp_path, kind, rate, sim_seed):
    have = [f"bk-{i}" for i in range(6)]  # two pages and more to plan on: the list's lies matter
    names = have + [f"bk-{i}" for i in range(6, 12)]
    with SimServer(SimConfig(seed=sim_seed, max_per_page=4, **FAST)) as sim:
        seed(sim, have)
        sim.config.update({kind: rate})
        m = manifest_of(tmp_path / "m.yaml", *names)
        for _ in range(scale(1, 3)):  # at 40% a request may use up its tries: the user re-runs apply, as the README asks
            lag = ("--list-lag", "0.5")  # the simulator's list shows a job at once; the default would wait 10 s per create not made
            result = run("apply", "-f", str(m), "--auto-approve", *lag, sim=sim)
            assert result.code in (0, 1, 3) and "Traceback" not in result.all, result.all
            assert TOKEN not in result.all and "SECRET" not in result.all
            if result.code == 0:
                break
        sim.config.update({kind: 0.0, "max_per_page": 1000})
        assert result.code == 0, result.all
        assert sim.stats["faults"] > 0
        counts = Counter(live_names(sim))
        assert sorted(counts) == sorted(names) and max(counts.values()) == 1, counts
        assert {j["status"] for j in live_jobs(sim)} == {8}


# -- throttling: capped, within --timeout, interruptible, shown (issue 8, item 9) ---------


def test_a_throttle_wait_beyond_the_deadline_fails_at_once_for_a_change_too():
    with SimServer(SimConfig(rate_429=1.0, retry_after=75)) as sim:
        client = client_for(sim, retry=RetryPolicy(), deadline=time.monotonic() + 3)
        started = time.monotonic()
        with pytest.raises(RetryCancelled, match=r"throttled: the API asked to wait 75 s, beyond --timeout \(POST /v1/"):
            client.create_job({"job_name": "thr", "train_url": "/b/"})
        assert time.monotonic() - started < 2 and sim.stats["POST create"] == 1


def test_a_throttled_change_is_resent_after_the_advised_wait_and_each_wait_is_announced():
    notices: list[str] = []
    with SimServer(SimConfig(rate_429=0.5, retry_after=0.05, seed=1)) as sim:
        client = client_for(sim, retry=RetryPolicy(attempts=20), notice=notices.append)
        for i in range(6):
            client.create_job({"job_name": f"t-{i}", "train_url": "/b/"})
        assert sim.stats["faults.429"] > 0 and sorted(live_names(sim)) == [f"t-{i}" for i in range(6)]
        assert len(notices) == sim.stats["faults.429"]
        assert all(n.startswith("throttled by the API, retrying in 0.1 s (POST /v1/proj-1/") for n in notices), notices


def test_ctrl_c_ends_a_throttle_wait_at_once():
    cancel = threading.Event()
    with SimServer(SimConfig(rate_429=1.0, retry_after=30)) as sim:
        client = client_for(sim, retry=RetryPolicy(), cancel=cancel)
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(RetryCancelled, match="interrupted"):
            client.list_page()
        assert time.monotonic() - started < 2


def test_apply_timeout_bounds_throttle_waits_and_they_show_without_v(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "thr-1")
    with SimServer(SimConfig(rate_429=1.0, retry_after=75, **{k: v for k, v in FAST.items() if k != "retry_after"})) as sim:
        started = time.monotonic()
        result = run("apply", "-f", str(m), "--auto-approve", "--timeout", "3", sim=sim)
        assert time.monotonic() - started < 3
        assert result.code == 1 and "throttled: the API asked to wait 75 s, beyond --timeout" in result.err
    with SimServer(SimConfig(rate_429=0.5, seed=2, **FAST)) as sim:
        result = run("apply", "-f", str(m), "--auto-approve", sim=sim)
        assert result.code == 0, result.all
        assert "vizctl: throttled by the API, retrying in 0.1 s" in result.err


def test_first_ctrl_c_ends_a_throttle_wait_during_apply(tmp_path):
    with SimServer(SimConfig(latency=0.2, startup_seconds=0.3)) as sim:
        m = manifest_of(tmp_path / "m.yaml", *[f"cz-{i}" for i in range(8)])
        process = start_apply(sim, m, "--parallelism", "1")
        wait_for_line(process, "create accepted")
        sim.config.update({"rate_429": 1.0, "retry_after": 60})
        time.sleep(0.8)  # the next create is throttled and waits
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = process.communicate(timeout=20)
        assert process.returncode == 130, err
        assert time.monotonic() - started < 5
        assert "throttled by the API, retrying in 60 s" in err and "Traceback" not in out + err


@pytest.mark.parametrize("max_rps, jobs, throttled", [
    (2, 7, 3),  # page 1 and its cross-check pass, pages 2-4 are read at once and throttled
    (1, 1, 1),  # one page: page 1 or its cross-check, asked at once, is throttled
])
def test_ctrl_c_during_plan_ends_the_throttle_waits_of_parallel_page_reads(tmp_path, max_rps, jobs, throttled):
    with SimServer(SimConfig(max_rps=max_rps, retry_after=30, max_per_page=2)) as sim:
        seed(sim, [f"j-{i}" for i in range(jobs)])
        m = manifest_of(tmp_path / "m.yaml", "a")
        process = spawn(sim, "plan", "-f", str(m))
        deadline = time.monotonic() + 10
        while sim.stats.get("faults.max_rps", 0) < throttled and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = process.communicate(timeout=40)
        assert process.returncode == 130, err
        assert time.monotonic() - started < 5 and "throttled by the API, retrying in 30 s" in err


# -- unreachable endpoints and local errors (issue 8, items 10 and 11) --------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_is_retried_once_shown_and_names_the_host(tmp_path):
    port = closed_port()
    m = manifest_of(tmp_path / "m.yaml", "a")
    env = {"VIZCTL_ENDPOINT": f"http://127.0.0.1:{port}", "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": TOKEN}
    started = time.monotonic()
    result = run("plan", "-f", str(m), env=env)
    assert time.monotonic() - started < 3
    assert result.code == 1
    assert f"vizctl: connection refused (GET /v1/p/visualization-jobs at 127.0.0.1:{port})" in result.err
    assert "retrying in" in result.err and "[gave up after 2 attempts]" in result.err


def test_an_unknown_host_is_not_retried_long():
    notices: list[str] = []
    with pytest.raises(UnreachableError) as caught:
        client_for("http://no-such-host.invalid", retry=RetryPolicy(), notice=notices.append).list_page()
    assert "cannot resolve the host name" in str(caught.value) and "no-such-host.invalid" in str(caught.value)
    assert caught.value.attempts == 2 and len(notices) == 1 and not caught.value.ambiguous


def test_a_connection_never_made_is_not_retried_long():
    with unanswered_port() as port:
        with pytest.raises(UnreachableError) as caught:
            client_for(f"http://127.0.0.1:{port}", timeout=0.3, retry=RetryPolicy(backoff=0.01)).list_page()
        assert "no connection within 0.3 s, the --request-timeout" in str(caught.value)
        assert caught.value.attempts == 2 and not caught.value.ambiguous


def test_a_request_timeout_says_how_many_attempts_and_names_the_flag():
    with SimServer(SimConfig(latency=0.5)) as sim:
        with pytest.raises(RequestTimeout) as caught:
            client_for(sim, timeout=0.1, retry=RetryPolicy(attempts=2, backoff=0.01)).list_page()
        message = str(caught.value)
        assert "no answer within 0.1 s, the --request-timeout" in message and "gave up after 2 attempts" in message


def test_a_token_with_a_newline_is_a_setting_error_never_sent_never_shown():
    with SimServer(SimConfig()) as sim:
        with pytest.raises(LocalRequestError) as caught:
            client_for(sim, token=TOKEN + "\n").list_page()
        assert "X-Auth-Token header value" in str(caught.value) and "SECRET" not in str(caught.value)
        assert sim.stats.get("GET list", 0) == 0


def test_each_broken_answer_kind_is_a_serve_flag_and_an_admin_setting():
    import argparse

    import requests

    from vizctl.sim.config import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = [arg for name in ANSWER_FAULTS for arg in ("--" + name.replace("_", "-"), "0.25")]
    config = SimConfig.from_args(parser.parse_args(flags))
    assert all(getattr(config, name) == 0.25 for name in ANSWER_FAULTS)
    with SimServer(SimConfig()) as sim:
        answer = requests.post(f"{sim.url}/__sim__/config", json={"rate_truncated": 0.5}, timeout=5)
        assert answer.status_code == 200 and sim.config.rate_truncated == 0.5
        refused = requests.post(f"{sim.url}/__sim__/config", json={"rate_html_200": 2}, timeout=5)
        assert refused.status_code == 400 and "rate_html_200 must be within [0, 1]" in refused.text


def test_a_server_that_refuses_per_page_1000_is_read_100_a_page():
    with SimServer(SimConfig(max_per_page=100, refuse_over_max_per_page=True, quota=5000)) as sim:
        seed(sim, [f"j-{i}" for i in range(150)])
        notices: list[str] = []
        client = client_for(sim, notice=notices.append)
        assert len(client.list_all().jobs) == 150
        assert client.list_all().list_calls == 3  # two pages and the cross-check, at 100 a page from the start
        assert len(notices) == 1 and "refused per_page=1000" in notices[0]


def test_ctrl_c_during_a_plans_throttled_details_reads_ends_at_once_and_sends_no_more(tmp_path):
    names = [f"d-{i}" for i in range(40)]
    with SimServer(SimConfig(max_rps=3, retry_after=30)) as sim:
        seed(sim, names)
        m = manifest_of(tmp_path / "m.yaml", *names, job_type="tensorboard")  # job_type is read from each job's details
        process = spawn(sim, "plan", "-f", str(m))
        deadline = time.monotonic() + 10
        while sim.stats.get("faults.max_rps", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = process.communicate(timeout=40)
        sent = sim.stats.get("GET detail", 0)
        time.sleep(0.5)
        assert process.returncode == 130 and "Traceback" not in err, err
        assert time.monotonic() - started < 5 and "throttled by the API, retrying in 30 s" in err
        assert sim.stats.get("GET detail", 0) == sent < len(names)
