"""`vizctl reconcile` over real HTTP against the simulator: drift detected and healed, alerts once per
transition, metrics scraped, outages, manifests re-read, suspend, signals, costs."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cliutil import REPO, TOKEN, manifest_of, run, spawn, wait_for_line, wait_until, write
from httputil import Recorder
from soak import scale
from vizctl.model import Phase, phase_of
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimState

FAST = dict(startup_seconds=0.3, delete_seconds=0.1, stop_seconds=0.1, retry_after=0.05)
INTERVAL = 0.4  # seconds between checks; the jitter is 10% of it
SLACK = 2.0  # seconds a loaded machine may add to any deadline below
SECRET = "s3cr3t-hook-token"
OUTAGE = scale(4, 30)  # seconds the API is gone: about ten checks; a soak run (VIZCTL_SOAK=1) takes the 30 s


class Hook(Recorder):
    """A local webhook listener: records each alert it accepted (time, JSON body); answers 500 to the first ``fail_first`` posts."""

    def __init__(self, fail_first: int = 0):
        self.received: list[tuple[float, dict]] = []
        self.refused = 0
        self._fail_first = fail_first
        super().__init__(self._answer)
        self.url += f"/hook/{SECRET}"

    def _answer(self, handler):
        if self.refused < self._fail_first:
            self.refused += 1
            return 500, {}, b""
        self.received.append((time.monotonic(), json.loads(handler.body)))
        return 204, {}, b""

    def events(self) -> list[str]:
        return [body["event"] for _, body in self.received]


def live(sim, name=None):
    jobs = sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"]
    return [j for j in jobs if name is None or j["job_name"] == name]


def seed(sim, *names, **fields):
    return sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/bucket/{n}/logs/", "running": True, **fields} for n in names])


def as_declared(sim, name, desc="declared"):
    jobs = live(sim, name)
    return len(jobs) == 1 and jobs[0].get("job_desc") == desc and phase_of(int(jobs[0]["status"])) in (Phase.RUNNING, Phase.PENDING)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A details cache of the test's own, for every vizctl process it starts."""
    monkeypatch.setenv("VIZCTL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@contextlib.contextmanager
def controller(sim, *argv):
    """`vizctl reconcile *argv` as a process, once its first check is printed; SIGTERM at the end must exit 0
    within 10 s. ``process.output`` is then all it printed."""
    process = spawn(sim, "reconcile", *argv, "--interval", str(INTERVAL))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("] " in line for line in lines) or process.poll() is not None, timeout=30)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        process.wait(timeout=20)
        reader.join(10)
        process.output = "".join(lines) + process.stderr.read()
        process.stderr.close()
    assert process.returncode == 0, process.output
    assert time.monotonic() - stopped < 10
    assert TOKEN not in process.output and SECRET not in process.output


# -- drift detected and healed -------------------------------------------------------------

TAMPER = {
    "deleted": lambda sim, job: sim.state.delete_job("proj-1", str(job["job_id"])),
    "stopped": lambda sim, job: sim.state.stop_job("proj-1", str(job["job_id"])),
    "edited": lambda sim, job: sim.state.update_job("proj-1", str(job["job_id"]), {"job_desc": "edited in the console"}),
}


@pytest.mark.parametrize("tamper", TAMPER)
def test_a_job_changed_behind_vizctls_back_is_detected_within_one_interval_healed_within_two_and_alerted_once_each_way(tmp_path, cache_dir, tamper):
    with SimServer(SimConfig(**FAST)) as sim, Hook() as hook, Hook() as slack:
        m = manifest_of(tmp_path / "m.yaml", "rc-a", "rc-b", job_desc="declared")
        seed(sim, "rc-a", "rc-b", job_desc="declared")
        with controller(sim, str(m), "--heal", "--webhook", hook.url, "--slack-webhook", slack.url) as process:
            time.sleep(INTERVAL)
            tampered = time.monotonic()
            TAMPER[tamper](sim, live(sim, "rc-a")[0])
            wait_until(lambda: hook.events() == ["drifted"], timeout=10)
            detected = hook.received[0][0] - tampered
            wait_until(lambda: as_declared(sim, "rc-a"), timeout=10)
            healed = time.monotonic() - tampered
            wait_until(lambda: hook.events() == ["drifted", "in_sync"], timeout=10)
            time.sleep(4 * INTERVAL)  # quiet from now on: no more alerts
        assert hook.events() == ["drifted", "in_sync"], process.output
        assert detected < 1.1 * INTERVAL + SLACK, detected
        assert healed < 2 * 1.1 * INTERVAL + SLACK, healed
        drift, back = (body for _, body in hook.received)
        assert drift["previous"] == "in_sync" and "rc-a" in drift["diff"] and "rc-a" in drift["summary"]
        assert [c["action"] for c in drift["plan"]["changes"] if c["job_name"] == "rc-a"] != ["no-op"]
        assert back["previous"] == "drifted" and back["summary"].startswith("in sync again")
        texts = [body["text"] for _, body in slack.received]
        assert len(texts) == 2 and "rc-a" in texts[0] and "```" in texts[0]
        assert len(live(sim, "rc-a")) == 1 and as_declared(sim, "rc-b")
        assert "Drift found:" in process.output and "Healing 1 change: rc-a" in process.output


def test_detect_only_reports_drift_and_changes_nothing(tmp_path, cache_dir):
    with SimServer(SimConfig(**FAST)) as sim, Hook() as hook:
        m = manifest_of(tmp_path / "m.yaml", "do-a", "do-b")
        seed(sim, "do-a")
        with controller(sim, str(m), "--webhook", hook.url) as process:
            wait_until(lambda: hook.events() == ["drifted"], timeout=10)
            time.sleep(4 * INTERVAL)
        assert hook.events() == ["drifted"] and hook.received[0][1]["previous"] is None  # drifted from the start
        assert live(sim, "do-b") == [] and sim.stats_snapshot().get("POST create", 0) == 0
        assert "+ do-b" in process.output


def test_alert_after_n_drifted_checks(tmp_path, cache_dir):
    with SimServer(SimConfig(**FAST)) as sim, Hook() as hook:
        m = manifest_of(tmp_path / "m.yaml", "aa-a")
        [job] = seed(sim, "aa-a")
        with controller(sim, str(m), "--webhook", hook.url, "--alert-after", "4"):
            sim.state.stop_job("proj-1", str(job["job_id"]))
            stopped = time.monotonic()
            wait_until(lambda: hook.events() == ["drifted"], timeout=15)
        assert hook.received[0][0] - stopped > 3 * 0.9 * INTERVAL  # not before the fourth drifted check


# -- alerts and webhooks ----------------------------------------------------------------------


def test_a_failing_webhook_is_retried_a_bounded_number_of_times_logged_without_its_url_and_never_stops_the_loop(tmp_path, cache_dir):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}/dead/{SECRET}"
    dead.close()  # nothing listens there
    with SimServer(SimConfig(**FAST)) as sim, Hook(fail_first=2) as flaky:
        m = manifest_of(tmp_path / "m.yaml", "wh-a")
        with controller(sim, str(m), "--webhook", flaky.url, "--webhook", dead_url, "-vv") as process:  # every request logged
            wait_until(lambda: flaky.events() == ["drifted"], timeout=15)
            time.sleep(2 * INTERVAL)
            assert process.poll() is None
        assert flaky.refused == 2 and flaky.events() == ["drifted"]
        assert "json webhook 1: delivery failed (HTTP 500); trying again in 1 s" in process.output
        assert "json webhook 2: delivery failed" in process.output and "giving up on this alert" in process.output
        assert "GET /v1/proj-1/visualization-jobs" in process.output  # -vv logged the API requests
        # controller() checked: neither URL's secret path was printed, nor the token


# -- metrics ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port, path="/metrics"):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except urllib.error.URLError:  # not listening yet
        return 0, ""


def samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_health_and_readiness_are_served_over_http(tmp_path, cache_dir):
    port = free_port()
    with SimServer(SimConfig(latency=1.5, seed=3, **FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "mx-a", "mx-b")
        [a, _] = seed(sim, "mx-a", "mx-b")
        process = spawn(sim, "reconcile", str(m), "--interval", str(INTERVAL), "--metrics-addr", f"127.0.0.1:{port}")
        try:
            wait_until(lambda: scrape(port, "/healthz")[0] == 200, timeout=10)
            assert scrape(port, "/readyz") == (503, "no check has read the live jobs yet\n")  # the first list read takes 1.5 s
            sim.config.update({"latency": 0.0})
            wait_until(lambda: scrape(port, "/readyz") == (200, "ready\n"), timeout=10)
            sim.state.stop_job("proj-1", str(a["job_id"]))
            wait_until(lambda: ("vizctl_job_info", (("job_name", "mx-a"), ("status", "KILLED"), ("sync", "drifted"))) in samples(scrape(port)[1]), timeout=10)
            sim.config.update({"rate_429": 0.5})
            wait_until(lambda: samples(scrape(port)[1]).get(("vizctl_api_throttled_total", ()))
                       and samples(scrape(port)[1]).get(("vizctl_reconcile_duration_seconds_count", ()), 0) >= 3, timeout=10)
            status, text = scrape(port)
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=20)
    values = samples(text)
    assert status == 200
    assert values[("vizctl_job_info", (("job_name", "mx-b"), ("status", "RUNNING"), ("sync", "in_sync")))] == 1
    assert not any(k[0] == "vizctl_job_info" and ("job_name", "mx-a") in k[1] and ("status", "RUNNING") in k[1] for k in values)  # old series gone
    assert values[("vizctl_drifted_jobs", ())] == 1
    assert values[("vizctl_reconcile_total", (("result", "in_sync"),))] >= 1
    assert values[("vizctl_reconcile_total", (("result", "drifted"),))] >= 1
    assert values[("vizctl_api_requests_total", (("operation", "list"),))] >= 4
    assert ("vizctl_api_requests_total", (("operation", "detail"),)) not in values  # the list says all the manifests declare
    assert values[("vizctl_api_throttled_total", ())] >= 1
    assert values[("vizctl_reconcile_duration_seconds_count", ())] >= 3
    assert time.time() - 60 < values[("vizctl_reconcile_last_success_timestamp_seconds", ())] <= time.time()
    assert values[("vizctl_reconcile_suspended", ())] == 0 and values[("vizctl_manifests_valid", ())] == 1


# -- outages ----------------------------------------------------------------------------------


class SimProcess:
    """`vizctl sim serve` as a process of its own, so an outage is real: killed, its connections die with it."""

    def __init__(self, tmp_path):
        self.port, self.state = free_port(), tmp_path / "sim.json"
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        argv = ["sim", "serve", "--port", str(self.port), "--state", str(self.state), "--startup-seconds", "0.3"]
        self.process = subprocess.Popen([sys.executable, "-m", "vizctl", *argv], stderr=subprocess.PIPE, text=True, cwd=REPO)
        wait_for_line(type("Err", (), {"stdout": self.process.stderr})(), "listening")
        return self

    def kill(self):
        self.process.kill()
        self.process.wait(10)
        self.process.stderr.close()

    def admin(self, path, body=None):
        request = urllib.request.Request(f"{self.url}/__sim__/{path}", data=None if body is None else json.dumps(body).encode(), method="GET" if body is None else "POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())

    def names(self):
        return [j["job_name"] for j in SimState(SimConfig(), self.state).list_jobs("proj-1", {"per_page": "1000"})["jobs"]]


@pytest.mark.hardening
def test_an_api_outage_neither_crashes_the_loop_nor_alerts_more_than_once_and_its_end_once(tmp_path, cache_dir):
    sim = SimProcess(tmp_path).start()
    m = manifest_of(tmp_path / "m.yaml", "ou-a")
    sim.admin("seed?project_id=proj-1", {"jobs": [{"job_name": "ou-a", "train_url": "/bucket/ou-a/logs/", "running": True}]})
    with Hook() as hook:
        try:
            with controller(sim, str(m), "--heal", "--webhook", hook.url) as process:
                time.sleep(INTERVAL)
                sim.kill()
                time.sleep(OUTAGE)
                assert process.poll() is None
                sim.start()
                wait_until(lambda: hook.events() == ["failed", "in_sync"], timeout=20)
                time.sleep(4 * INTERVAL)
        finally:
            sim.kill()
    assert hook.events() == ["failed", "in_sync"], process.output
    assert process.output.count("Check failed:") == 1  # printed when it changed, not every check
    assert sim.names() == ["ou-a"]  # a failing read never acts: nothing created


def test_an_api_answering_5xx_for_a_while_does_not_storm(tmp_path, cache_dir):
    port = free_port()
    with SimServer(SimConfig(**FAST)) as sim, Hook() as hook:
        m = manifest_of(tmp_path / "m.yaml", "fx-a")
        seed(sim, "fx-a")
        with controller(sim, str(m), "--heal", "--webhook", hook.url, "--metrics-addr", f"127.0.0.1:{port}"):
            sim.config.update({"rate_5xx": 1.0})
            time.sleep(4)
            sim.config.update({"rate_5xx": 0.0})
            back = time.time()
            wait_until(lambda: samples(scrape(port)[1]).get(("vizctl_reconcile_last_success_timestamp_seconds", ()), 0) > back, timeout=30)
            time.sleep(4 * INTERVAL)
        assert hook.events() in ([], ["failed", "in_sync"])  # the client's retries may outlast it: then not even one
        assert len(live(sim, "fx-a")) == 1 and sim.stats_snapshot().get("POST create", 0) == 0


# -- manifests re-read --------------------------------------------------------------------------


def test_manifests_are_read_every_check_and_an_invalid_set_keeps_the_last_good_one_and_alerts_once(tmp_path, cache_dir):
    with SimServer(SimConfig(**FAST)) as sim, Hook() as hook:
        m = manifest_of(tmp_path / "m.yaml", "mf-a", job_desc="declared")
        seed(sim, "mf-a", job_desc="declared")
        with controller(sim, str(m), "--heal", "--webhook", hook.url) as process:
            write(m, "jobs:\n  - job_name: mf-a\n    train_url: /bucket/mf-a/logs/\n  - job_name: not a name!\n")  # a half-written edit
            wait_until(lambda: hook.events() == ["manifests_invalid"], timeout=10)
            time.sleep(4 * INTERVAL)
            assert hook.events() == ["manifests_invalid"] and as_declared(sim, "mf-a")  # the invalid set (no job_desc) never acted
            manifest_of(m, "mf-a", "mf-b", job_desc="declared")
            wait_until(lambda: as_declared(sim, "mf-b"), timeout=10)
            wait_until(lambda: hook.events()[-1:] == ["in_sync"], timeout=10)
        assert hook.events() == ["manifests_invalid", "manifests_valid", "drifted", "in_sync"], process.output
        assert "not a name!" in hook.received[0][1]["error"] and "m.yaml:4" in hook.received[0][1]["error"]
        assert "The manifests do not validate: checking with the last good set" in process.output
        assert len(live(sim, "mf-a")) == 1 and sim.stats_snapshot().get("PUT update", 0) == 0


# -- suspend ------------------------------------------------------------------------------------


def test_a_suspend_file_pauses_healing_while_detection_goes_on(tmp_path, cache_dir):
    pause = tmp_path / "suspend"
    pause.touch()
    with SimServer(SimConfig(**FAST)) as sim, Hook() as hook:
        m = manifest_of(tmp_path / "m.yaml", "sp-a")
        seed(sim, "sp-a")
        with controller(sim, str(m), "--heal", "--suspend-file", str(pause), "--webhook", hook.url) as process:
            [job] = live(sim, "sp-a")
            sim.state.delete_job("proj-1", str(job["job_id"]))
            wait_until(lambda: hook.events() == ["drifted"], timeout=10)
            time.sleep(4 * INTERVAL)
            assert live(sim, "sp-a") == [] and sim.stats_snapshot().get("POST create", 0) == 0
            pause.unlink()
            wait_until(lambda: len(live(sim, "sp-a")) == 1, timeout=10)
            wait_until(lambda: hook.events() == ["drifted", "in_sync"], timeout=10)
        assert f"Healing is suspended ({pause} exists): drift is reported, not changed" in process.output
        assert len(live(sim, "sp-a")) == 1


# -- signals ---------------------------------------------------------------------------------------


def signalled_mid_heal(sim, m, parallelism, stopping, after):
    """Start healing ``m``'s jobs, send ``stopping`` ``after`` seconds into it: (exit code, stderr, seconds to the exit)."""
    process = spawn(sim, "reconcile", str(m), "--heal", "--interval", str(INTERVAL), "--parallelism", str(parallelism))
    wait_for_line(process, "Healing", timeout=30)
    time.sleep(after)
    process.send_signal(stopping)
    signalled = time.monotonic()
    _, err = process.communicate(timeout=20)
    return process.returncode, err, time.monotonic() - signalled


def heal_the_rest(sim, m, names):
    """The next run heals what is left; every declared job then exists exactly once. Its exit code."""
    sim.config.update({"latency": 0.0})
    code = run("reconcile", str(m), "--once", "--heal", sim=sim).code
    assert Counter(j["job_name"] for j in live(sim)) == Counter(names)
    return code


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_mid_heal_finishes_in_flight_work_exits_0_within_10_s_and_leaves_no_duplicate(tmp_path, cache_dir, stop):
    names = [f"st-{i}" for i in range(8)]
    with SimServer(SimConfig(latency=1.0, **FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", *names)
        code, err, took = signalled_mid_heal(sim, m, 2, stop, after=0.5)  # two creates in flight
        assert code == 0 and took < 10, err
        assert "stopping: finishing the check in flight" in err
        made = Counter(j["job_name"] for j in live(sim))
        assert 1 <= len(made) < len(names) and set(made.values()) == {1}  # it stopped sending, and what it sent, it sent once
        assert heal_the_rest(sim, m, names) == 2  # it found drift, and healed it


@pytest.mark.parametrize("after", [0.0, 0.6, 1.3])
def test_sigkill_at_any_moment_of_a_heal_leaves_no_duplicate_behind(tmp_path, cache_dir, after):
    names = [f"sk-{i}" for i in range(6)]
    with SimServer(SimConfig(latency=0.5, **FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", *names)
        assert signalled_mid_heal(sim, m, 3, signal.SIGKILL, after)[0] == -signal.SIGKILL
        assert heal_the_rest(sim, m, names) in (0, 2)


# -- --once, for a CI cron ------------------------------------------------------------------------


def test_once_exits_like_plan_detailed_exitcode(tmp_path, cache_dir):
    with SimServer(SimConfig(**FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "on-a")
        drifted = run("reconcile", str(m), "--once", sim=sim)
        assert drifted.code == 2 and "+ on-a" in drifted.out and live(sim) == []
        seed(sim, "on-a")
        assert run("reconcile", str(m), "--once", sim=sim).code == 0
        seed(sim, "on-a")  # two live jobs with one name: the plan has an error
        failed = run("reconcile", str(m), "--once", "--heal", sim=sim)
        assert failed.code == 1 and "2 live jobs are named on-a" in failed.err and len(live(sim)) == 2


def test_suspend_reports_drift_and_heals_nothing(tmp_path, cache_dir):
    with SimServer(SimConfig(**FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "su-a")
        result = run("reconcile", str(m), "--once", "--heal", "--suspend", sim=sim)
        assert result.code == 2 and "Healing is suspended: drift is reported, not changed" in result.out
        assert live(sim) == [] and sim.stats_snapshot().get("POST create", 0) == 0


def test_once_on_an_unreachable_api_is_one_readable_error(tmp_path, cache_dir):
    port = free_port()
    m = manifest_of(tmp_path / "m.yaml", "un-a")
    result = run("reconcile", str(m), "--once", env={"VIZCTL_ENDPOINT": f"http://127.0.0.1:{port}", "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": TOKEN})
    assert result.code == 1 and "Traceback" not in result.all
    assert [line for line in result.all.splitlines() if "connection refused" in line and "retrying" not in line] == [result.err.splitlines()[-1]]
    assert result.err.splitlines()[-1].startswith("Error: connection refused")


def test_an_invalid_manifest_at_start_up_is_exit_1_and_sends_nothing(tmp_path, cache_dir):
    with SimServer(SimConfig(**FAST)) as sim:
        m = write(tmp_path / "m.yaml", "jobs:\n  - job_name: ok\n    train_url: /b/\n    flavour: x\n")
        result = run("reconcile", str(m), "--interval", "1", sim=sim)
        assert result.code == 1 and "m.yaml:4" in result.err and "nothing was sent to the API" in result.err
        assert sim.stats_snapshot() == {}


@pytest.mark.parametrize("argv, message", [
    (["-"], "standard input (-) reads only once"),
    (["m.yaml", "--webhook", "ftp://x/y"], "json webhook 1 is not an http"),
    (["m.yaml", "--metrics-addr", "9090"], "--metrics-addr must be HOST:PORT"),
    (["m.yaml", "--alert-after", "0"], "must be 1 or more"),
    (["m.yaml", "--jitter", "1.5"], "must be from 0 to below 1"),
])
def test_bad_flags_are_usage_errors(tmp_path, argv, message):
    manifest_of(tmp_path / "m.yaml", "x")
    result = run("reconcile", *argv, "--once", cwd=tmp_path, env={"VIZCTL_ENDPOINT": "http://127.0.0.1:9", "VIZCTL_PROJECT_ID": "p"})
    assert result.code == 64, result.all
    assert message in result.err


# -- prune healing ----------------------------------------------------------------------------------


def test_prune_is_healed_only_when_asked_and_only_within_the_scope_and_its_limits(tmp_path, cache_dir):
    with SimServer(SimConfig(**FAST)) as sim:
        m = write(tmp_path / "m.yaml", 'prune: {prefix: "pr-"}\njobs:\n' + "".join(f"  - {{job_name: pr-{i}, train_url: /bucket/pr-{i}/logs/}}\n" for i in range(3)))
        seed(sim, "pr-0", "pr-1", "pr-2", "pr-old", "other-x")
        assert run("reconcile", str(m), "--once", "--heal", sim=sim).code == 0  # without --prune, pr-old is not drift
        assert run("reconcile", str(m), "--once", "--prune", sim=sim).code == 2
        assert len(live(sim)) == 5
        assert run("reconcile", str(m), "--once", "--prune", "--heal", sim=sim).code == 2
        wait_until(lambda: sorted(j["job_name"] for j in live(sim)) == ["other-x", "pr-0", "pr-1", "pr-2"], timeout=10)
        many = write(tmp_path / "many.yaml", 'prune: {prefix: "pm-"}\njobs:\n' + "".join(f"  - {{job_name: pm-{i}, train_url: /bucket/pm-{i}/logs/}}\n" for i in range(6)))
        seed(sim, *(f"pm-{i}" for i in range(12)))  # 6 of 12 undeclared: beyond the 30% limit
        refused = run("reconcile", str(many), "--once", "--prune", "--heal", sim=sim)
        assert refused.code == 1 and "more than 30%; refused without --force" in refused.err
        assert sum(j["job_name"].startswith("pm-") for j in live(sim)) == 12


# -- costs -------------------------------------------------------------------------------------------


def test_steady_state_is_one_list_read_per_check_and_no_details_reads(tmp_path, cache_dir):
    names = [f"cs-{i}" for i in range(5)]
    with SimServer(SimConfig(**FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", *names, job_type="tensorboard")  # job_type: only the details show it
        seed(sim, *names, job_type="tensorboard")
        result = run("reconcile", str(m), "--interval", "0.05", "--max-checks", "20", "-v", sim=sim, env={"VIZCTL_CACHE_DIR": str(cache_dir)})
        assert result.code == 0, result.all
        stats = sim.stats_snapshot()
    assert stats["GET detail"] == len(names)  # the first check; then the details cache
    assert stats["GET list"] == 20 * 2  # one page and the newest-first cross-check, per check
    assert set(stats) == {"GET list", "GET detail"}
    assert result.err.count("2 API requests (list 2)") == 19


def test_the_reconcile_benchmark_runs_and_counts_one_list_read_per_check(tmp_path):
    out = tmp_path / "r.md"
    bench = subprocess.run([sys.executable, "benchmarks/reconcile.py", "--checks", "15", "--out", str(out)],
                           cwd=REPO, capture_output=True, text=True, timeout=180)
    assert bench.returncode in (0, 3), bench.stderr  # times are the benchmark's to judge; calls are not
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in out.read_text().splitlines() if line.startswith("| ")}
    assert rows["list calls per check = pages + 1 (3)"] == "3"
    assert rows["details calls: the first check's 200, then none"] == "200"


def test_timeout_bounds_each_check_not_the_loop(tmp_path, cache_dir):
    with SimServer(SimConfig(**FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "to-a")
        seed(sim, "to-a")
        started = time.monotonic()
        result = run("reconcile", str(m), "--interval", "0.3", "--timeout", "1", "--max-checks", "8", sim=sim)
        assert time.monotonic() - started > 2  # the loop outlived --timeout ...
        assert result.code == 0 and "Check failed" not in result.all, result.all  # ... and no check ran out of time
        sim.config.update({"latency": 3.0})
        started = time.monotonic()
        slow = run("reconcile", str(m), "--once", "--timeout", "1", sim=sim)
        assert slow.code == 1 and "--timeout" in slow.err and time.monotonic() - started < 2.5, slow.all
