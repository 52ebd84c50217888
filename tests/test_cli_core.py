"""The real CLI against the simulator over loopback HTTP: validate, plan, apply, exit codes."""

from __future__ import annotations

import json

import pytest

from cliutil import TOKEN, manifest_of, run, write
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

FAST = dict(startup_seconds=0.3, delete_seconds=0.1, stop_seconds=0.1)


@pytest.fixture
def fast_sim():
    with SimServer(SimConfig(**FAST)) as server:
        yield server


def api_calls(sim, route=None):
    stats = dict(sim.stats)
    if route:
        return stats.get(route, 0)
    return sum(n for key, n in stats.items() if key.split(" ")[0] in ("GET", "POST", "PUT", "DELETE"))


# -- validate ------------------------------------------------------------------


def test_validate_examples_is_clean():
    result = run("validate", "-f", "examples/")
    assert result.code == 0, result.all
    assert "Valid: 4 jobs in 2 files." in result.out


def test_invalid_manifest_exits_1_with_line_and_sends_nothing(tmp_path, fast_sim):
    bad = write(tmp_path / "bad.yaml", """\
        jobs:
          - job_name: ok-job
            train_url: /b/ok/
          - job_nmae: typo
            train_url: /b/typo/
        """)
    for argv in (["plan"], ["apply", "--auto-approve"], ["validate"]):
        result = run(*argv, "-f", str(bad), sim=fast_sim)
        assert result.code == 1
        assert f"{bad}:4: jobs[1]: unknown key 'job_nmae' (did you mean 'job_name'?)" in result.err
        assert "nothing was sent to the API" in result.err
        assert "Traceback" not in result.all
    assert api_calls(fast_sim) == 0


# -- connection errors -----------------------------------------------------------


def test_no_endpoint_says_how_to_configure_one(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    result = run("plan", "-f", str(m), env={})
    assert result.code == 1
    assert "VIZCTL_ENDPOINT" in result.err and "--sim" in result.err


def test_credentials_in_the_endpoint_url_are_refused_unprinted(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    env = {"VIZCTL_ENDPOINT": "https://alice:hunter2-secret@modelarts.example", "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": TOKEN}
    result = run("plan", "-f", str(m), env=env)
    assert result.code == 1 and "must not carry credentials" in result.err
    assert "hunter2" not in result.all


def test_connection_refused_is_one_readable_error(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a")
    env = {"VIZCTL_ENDPOINT": "http://127.0.0.1:9", "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": TOKEN}
    result = run("plan", "-f", str(m), "--request-timeout", "2", env=env)
    assert result.code == 1
    assert "Error: connection refused (GET /v1/p/visualization-jobs at 127.0.0.1:9)" in result.err
    assert "Traceback" not in result.all and TOKEN not in result.all


def test_bad_flag_is_a_usage_error(tmp_path):
    result = run("plan", "--auto-approve")
    assert result.code == 64
    assert "unrecognized arguments: --auto-approve" in result.err
    assert run("apply", "-f", "examples/", "--parallelism", "0").code == 64
    assert run("plan").code == 64  # no -f


def test_wrong_token_is_reported_not_retried(tmp_path):
    with SimServer(SimConfig(token="the-right-one", **FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "a")
        result = run("plan", "-f", str(m), sim=sim)
        assert result.code == 1
        assert "API error 401" in result.err and len(result.err.splitlines()) == 1  # one error, page 1's
        assert api_calls(sim) == 2  # page 1 and its cross-check, sent at once; neither retried


# -- plan ------------------------------------------------------------------------


def test_plan_pages_through_more_than_1000_live_jobs(tmp_path):
    fast_sim = SimServer(SimConfig(quota=5000, **FAST)).start()
    unrelated = [{"job_name": f"other-{i}", "train_url": f"/b/{i}/", "running": True} for i in range(1100)]
    fast_sim.state.seed_jobs("proj-1", unrelated + [{"job_name": "have-1", "train_url": "/bucket/have-1/logs/", "running": True}])
    m = manifest_of(tmp_path / "m.yaml", "have-1", "new-1", "other-1099x")
    result = run("plan", "-f", str(m), "--output", "json", sim=fast_sim)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    actions = {c["job_name"]: (c["action"], c["status"]) for c in data["changes"]}
    assert actions == {"have-1": ("no-op", 8), "new-1": ("create", None), "other-1099x": ("create", None)}
    assert data["summary"]["create"] == 2 and data["format_version"] == "2.0"
    assert len(data["unmanaged"]) == 1100
    assert api_calls(fast_sim, "GET list") == 2 + 1  # 1101 jobs: two pages of 1000, and the newest-first cross-check
    assert api_calls(fast_sim, "GET detail") == 0
    after = next(c for c in data["changes"] if c["job_name"] == "new-1")["after"]
    assert after == {"job_name": "new-1", "train_url": "/bucket/new-1/logs/"}
    fast_sim.stop()


def test_plan_text_and_detailed_exitcode(tmp_path, fast_sim):
    fast_sim.state.seed_jobs("proj-1", [{"job_name": "have-1", "train_url": "/bucket/have-1/logs/", "running": True}])
    m = manifest_of(tmp_path / "m.yaml", "have-1", "new-1")
    result = run("plan", "-f", str(m), "--detailed-exitcode", sim=fast_sim)
    assert result.code == 2
    assert "+ new-1" in result.out
    assert "Plan: 1 to create, 0 to update, 0 to replace, 0 to restart." in result.out
    assert "\033[" not in result.out  # no colour off a terminal
    only = manifest_of(tmp_path / "only.yaml", "have-1")
    result = run("plan", "-f", str(only), "--detailed-exitcode", sim=fast_sim)
    assert result.code == 0
    assert "No changes." in result.out


@pytest.mark.parametrize("command", ["plan", "apply --auto-approve --no-wait"])
def test_the_plan_is_coloured_on_a_terminal_unless_told_not_to(tmp_path, fast_sim, command):
    """Colour is the terminal's default; --no-color, NO_COLOR and TERM=dumb turn it off, each alone."""
    argv = command.split()
    for n, (extra, environ, colour) in enumerate((
        ([], {}, True), (["--no-color"], {}, False), ([], {"NO_COLOR": "1"}, False), ([], {"TERM": "dumb"}, False),
    )):
        m = str(manifest_of(tmp_path / f"m{n}.yaml", f"c-new-{n}"))
        result = run(*argv, *extra, m, sim=fast_sim, tty=True, env=environ)
        assert result.code == 0 and f"+ c-new-{n}" in result.out, result.all
        assert ("\033[32m" in result.out) is colour, (extra, environ, result.all)


def test_plan_says_a_pending_job_is_not_converged(tmp_path):
    with SimServer(SimConfig(startup_seconds=60)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": "slow", "train_url": "/bucket/slow/logs/"}])
        m = manifest_of(tmp_path / "m.yaml", "slow")
        result = run("plan", "-f", str(m), "--detailed-exitcode", sim=sim)
        assert result.code == 0
        assert "No changes." in result.out
        assert "Not converged yet: 1 job still starting (slow)" in result.out


# -- apply -----------------------------------------------------------------------


def test_apply_creates_missing_jobs_waits_and_second_apply_does_nothing(tmp_path, fast_sim):
    fast_sim.state.seed_jobs("proj-1", [{"job_name": "have-1", "train_url": "/bucket/have-1/logs/", "running": True}])
    m = manifest_of(tmp_path / "m.yaml", "have-1", "new-1", "new-2")
    result = run("apply", "-f", str(m), "--auto-approve", sim=fast_sim)
    assert result.code == 0, result.all
    assert "✓ new-1: created, RUNNING (job " in result.out and "✓ new-2: created, RUNNING" in result.out
    assert "Apply complete" in result.out and "3 of 3 running" in result.out
    assert api_calls(fast_sim, "POST create") == 2
    waits = api_calls(fast_sim, "GET list")

    again = run("apply", "-f", str(m), "--auto-approve", sim=fast_sim)
    assert again.code == 0
    assert api_calls(fast_sim, "POST create") == 2
    assert "No changes." in again.out
    assert api_calls(fast_sim, "GET list") == waits + 2  # one read (one page and its cross-check), nothing to wait for


def test_apply_refuses_without_terminal_or_auto_approve(tmp_path, fast_sim):
    m = manifest_of(tmp_path / "m.yaml", "a")
    result = run("apply", "-f", str(m), sim=fast_sim)
    assert result.code == 1  # not 64: the command line was fine
    assert "--auto-approve" in result.err
    assert api_calls(fast_sim, "POST create") == 0


def test_apply_asks_on_a_terminal(tmp_path, fast_sim):
    m = manifest_of(tmp_path / "m.yaml", "a")
    no = run("apply", "-f", str(m), sim=fast_sim, tty=True, stdin="no\n")
    assert no.code == 1 and "cancelled" in no.err
    assert api_calls(fast_sim, "POST create") == 0
    yes = run("apply", "-f", str(m), sim=fast_sim, tty=True, stdin="yes\n")
    assert yes.code == 0, yes.all
    assert api_calls(fast_sim, "POST create") == 1


def test_a_failing_job_ends_its_wait_with_its_status(tmp_path):
    with SimServer(SimConfig(fail_pattern="bad-*", **FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "good-1", "bad-1")
        result = run("apply", "-f", str(m), "--auto-approve", "--timeout", "30", sim=sim)
        assert result.code == 3
        assert "✗ bad-1: failed, IMAGE_FAILED" in result.out
        assert "✓ good-1: created, RUNNING" in result.out
        assert "Apply finished with problems" in result.out


def test_a_job_still_pending_at_the_timeout_is_reported(tmp_path):
    with SimServer(SimConfig(startup_seconds=30)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "slow-1")
        result = run("apply", "-f", str(m), "--auto-approve", "--timeout", "1.5", sim=sim)
        assert result.code == 3
        assert "slow-1: timed out" in result.out
        assert "after 1.5s" in result.out


def test_apply_json_streams_events(tmp_path, fast_sim):
    m = manifest_of(tmp_path / "m.yaml", "j-1")
    result = run("apply", "-f", str(m), "--auto-approve", "--output", "json", sim=fast_sim)
    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "plan" and types[-1] == "summary"
    assert "apply_start" in types and "apply_complete" in types
    assert events[-1]["ok"] is True and events[-1]["running"] == 1


def test_token_never_printed_at_any_verbosity(tmp_path, fast_sim):
    m = manifest_of(tmp_path / "m.yaml", "sec-1")
    plan_file = tmp_path / "plan.json"
    results = [
        run("plan", "-f", str(m), "-vv", "--out", str(plan_file), sim=fast_sim),
        run("apply", "-f", str(m), "-vv", "--auto-approve", "--output", "json", sim=fast_sim),
        run("plan", "-f", str(m), "-vv", env={"VIZCTL_ENDPOINT": "http://127.0.0.1:9", "VIZCTL_PROJECT_ID": TOKEN, "VIZCTL_TOKEN": TOKEN}),
    ]
    assert "GET /v1/proj-1/visualization-jobs" in results[0].err  # -vv logs requests
    for result in results:
        assert TOKEN not in result.all
    assert TOKEN not in plan_file.read_text()
