"""`vizctl reconcile` in this process (so mutation testing reaches it): the loop's decisions, check by check,
against the simulator over loopback HTTP, and the command's --once exit codes and flags through the real CLI.

The process-level behaviour (signals, timings, metrics over HTTP, outages of a real server) is in test_reconcile.py.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from cliutil import TOKEN, manifest_of, run, wait_until, write
from test_reconcile import SECRET, Hook, live, seed
from vizctl.api.auth import TokenAuth
from vizctl.api.client import ModelArtsClient
from vizctl.api.transport import RequestsTransport
from vizctl.environment import Environment
from vizctl.errors import ApiError, VizctlError
from vizctl.manifests.loader import load_manifests
from vizctl.planning.plan import Action
from vizctl.planning.planner import PlanOptions
from vizctl.reconcile.alerts import Notifier, webhooks
from vizctl.reconcile.loop import ManifestSource, Reconciler, Settings
from vizctl.reconcile.metrics import Metrics
from vizctl.reconcile.state import Sync
from vizctl.session import Target
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

FAST = dict(startup_seconds=0.2, delete_seconds=0.05, stop_seconds=0.05, retry_after=0.05)


@pytest.fixture
def sim():
    with SimServer(SimConfig(**FAST)) as server:
        yield server


def changed(check) -> list[tuple[str, Action, str]]:
    """What healing sent in ``check``: (job, action, outcome) of each change."""
    return [(r.job_name, r.action, r.outcome.value) for r in check.healed if r.action.is_change]


def sent(sim) -> dict[str, int]:
    """The requests that changed something, by kind."""
    return {k: v for k, v in sim.stats_snapshot().items() if not k.startswith(("GET", "faults"))}


@contextlib.contextmanager
def reconciler(sim, path, hook=None, **settings):
    """A Reconciler of the manifests at ``path`` against ``sim``; its alerts go to ``hook`` (delivered on leaving)."""
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), environ={}, stdin_isatty=False, stdout_isatty=False)
    client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN), RequestsTransport(pool_size=8), timeout=5)
    metrics = Metrics(0.1)
    notifier = Notifier(webhooks([hook.url] if hook else [], []), log=env.err, delivered=metrics.alert_delivered)
    source = ManifestSource([str(path)], {}, load_manifests([str(path)], {}))
    loop = Reconciler(Target(client, "sim", "proj-1"), source, Settings(interval=0.1, **settings), env, metrics, notifier)
    try:
        yield loop
    finally:
        notifier.close(5)
        client.transport.close()


def out(loop) -> str:
    return loop.env.stdout.getvalue()


def metric(loop, name, **labels) -> float | None:
    return loop.metrics.registry.get_sample_value(name, labels)


# -- what a check does -------------------------------------------------------------------------------


def test_detect_only_reports_drift_check_after_check_and_never_sends_a_change(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "do-a", "do-b", "do-c", job_desc="declared")
    [b, c] = seed(sim, "do-b", "do-c", job_desc="declared")
    sim.state.stop_job("proj-1", str(b["job_id"]))
    sim.state.update_job("proj-1", str(c["job_id"]), {"job_desc": "edited in the console"})
    wait_until(lambda: live(sim, "do-b")[0]["status"] in (12, "12"))  # KILLED
    with reconciler(sim, m) as loop:
        checks = [loop.run_once() for _ in range(2)]
    assert [c.state for c in checks] == [Sync.DRIFTED, Sync.DRIFTED]
    assert all(c.healed == () and not c.suspended for c in checks)
    assert sent(sim) == {}
    assert out(loop).count("Drift found:") == 1  # the same drift is printed once
    assert "+ do-a" in out(loop)


def test_heal_creates_what_is_missing_once_and_then_waits_for_it(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "he-a", "he-b")
    seed(sim, "he-b")
    with reconciler(sim, m, heal=True) as loop:
        first = loop.run_once()
        second = loop.run_once()
    assert first.state is Sync.DRIFTED
    assert changed(first) == [("he-a", Action.CREATE, "created")]
    assert [r.status for r in first.healed if r.action.is_change] == [None]  # healing does not wait for the job to run (apply --no-wait)
    assert len(live(sim, "he-a")) == 1 and sim.stats_snapshot()["POST create"] == 1
    assert changed(second) == []  # a job starting is not created again
    assert "Healing 1 change: he-a create" in out(loop)
    assert metric(loop, "vizctl_heal_actions_total", action="create", outcome="created") == 1


def test_heal_restarts_a_stopped_job_and_the_next_check_is_in_sync(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "hr-a")
    [a] = seed(sim, "hr-a")
    sim.state.stop_job("proj-1", str(a["job_id"]))
    with reconciler(sim, m, heal=True) as loop:
        wait_until(lambda: live(sim, "hr-a")[0]["status"] in (12, "12"))  # KILLED
        healed = loop.run_once()
    assert [(a, o) for _, a, o in changed(healed)] == [(Action.RESTART, "restarted")]
    assert sim.stats_snapshot().get("POST create", 0) == 0


def test_heal_while_suspended_sends_nothing_and_says_so_once(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "hs-a")
    pause = tmp_path / "pause"
    pause.touch()
    with reconciler(sim, m, heal=True, suspend_file=str(pause)) as loop:
        held = [loop.run_once() for _ in range(2)]
        assert metric(loop, "vizctl_reconcile_suspended") == 1
        pause.unlink()
        resumed = loop.run_once()
    assert [c.suspended for c in held] == [True, True] and all(c.healed == () for c in held)
    assert out(loop).count("Healing is suspended") == 1 and f"({pause} exists)" in out(loop)
    assert [a for _, a, _ in changed(resumed)] == [Action.CREATE] and len(live(sim, "hs-a")) == 1


def test_suspend_flag_holds_back_healing(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "sf-a")
    with reconciler(sim, m, heal=True, suspend=True) as loop:
        check = loop.run_once()
    assert check.state is Sync.DRIFTED and check.suspended and check.healed == ()
    assert "Healing is suspended: drift is reported" in out(loop) and sent(sim) == {}


def test_a_plan_with_errors_fails_the_check_and_heals_nothing(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pe-a", "pe-b")
    seed(sim, "pe-a", "pe-a")  # two live jobs of one name: ambiguous
    with reconciler(sim, m, heal=True) as loop:
        check = loop.run_once()
    assert check.state is Sync.FAILED and check.plan is not None and check.healed == ()
    assert "2 live jobs are named pe-a" in str(check.error) and sent(sim) == {}
    assert f"Check failed: {check.error}; nothing was changed" in out(loop)
    assert metric(loop, "vizctl_reconcile_errors_total", kind="plan") == 1


def test_a_failed_read_never_acts_and_is_counted_as_an_api_error(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "fr-a")
    sim.config.update({"rate_no_jobs_key": 1.0})  # a list answer without its jobs: not an empty project
    with reconciler(sim, m, heal=True, timeout=2) as loop:
        check = loop.run_once()
    assert check.state is Sync.FAILED and check.plan is None and isinstance(check.error, ApiError)
    assert check.healed == () and sent(sim) == {} and live(sim) == []
    assert "Check failed:" in out(loop) and "nothing was changed" in out(loop)
    assert metric(loop, "vizctl_reconcile_errors_total", kind="api") == 1
    assert metric(loop, "vizctl_reconcile_last_success_timestamp_seconds") in (None, 0.0)


def test_prune_heals_only_undeclared_jobs_in_the_scope_and_only_with_prune(tmp_path, sim):
    m = write(tmp_path / "m.yaml", 'prune: {prefix: "pr-"}\njobs:\n  - {job_name: pr-0, train_url: /bucket/pr-0/logs/}\n')
    seed(sim, "pr-0", "pr-old", "other-x")
    with reconciler(sim, m, heal=True) as loop:
        assert loop.run_once().state is Sync.IN_SYNC  # without --prune an undeclared job is not drift
    with reconciler(sim, m, heal=True, options=PlanOptions(prune=True)) as loop:
        check = loop.run_once()
    assert [(n, a) for n, a, _ in changed(check)] == [("pr-old", Action.DELETE)]
    assert "other-x" in [j["job_name"] for j in live(sim)]
    assert sim.stats_snapshot()["DELETE delete"] == 1


def test_prune_beyond_the_limit_is_a_failed_check_that_deletes_nothing(tmp_path, sim):
    m = write(tmp_path / "m.yaml", 'prune: {prefix: "pm-"}\njobs:\n' + "".join(f"  - {{job_name: pm-{i}, train_url: /bucket/pm-{i}/logs/}}\n" for i in range(6)))
    seed(sim, *(f"pm-{i}" for i in range(12)))  # 6 of 12 undeclared: beyond the 30% limit
    with reconciler(sim, m, heal=True, options=PlanOptions(prune=True)) as loop:
        check = loop.run_once()
    assert check.state is Sync.FAILED and "refused without --force" in str(check.error)
    assert check.healed == () and sent(sim) == {}


# -- the manifests, read every check ----------------------------------------------------------------


def test_an_invalid_manifest_never_acts_keeps_the_last_good_set_and_is_alerted_once_each_way(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "mf-a")
    seed(sim, "mf-a")
    with Hook() as hook:
        with reconciler(sim, m, hook, heal=True) as loop:
            assert loop.run_once().state is Sync.IN_SYNC
            write(m, "jobs:\n  - job_name: mf-a\n    train_url: /bucket/mf-a/logs/\n  - job_name: mf-new\n    flavour: x\n")
            invalid = [loop.run_once() for _ in range(2)]
            assert metric(loop, "vizctl_manifests_valid") == 0
            manifest_of(m, "mf-a", "mf-b")
            fixed = loop.run_once()
            assert metric(loop, "vizctl_manifests_valid") == 1
    assert [c.state for c in invalid] == [Sync.IN_SYNC, Sync.IN_SYNC] and all(c.healed == () for c in invalid)
    assert [c.job_name for c in invalid[0].plan.changes] == ["mf-a"]  # planned with the last good set
    assert live(sim, "mf-new") == [] and sim.stats_snapshot().get("POST create", 0) == 1  # only mf-b, after the fix
    assert [n for n, _, _ in changed(fixed)] == ["mf-b"]
    assert loop.env.stderr.getvalue().count("m.yaml:5") == 1  # the problem is printed when it appears, not every check
    assert out(loop).count("The manifests do not validate: checking with the last good set") == 1
    assert "The manifests validate again" in out(loop)
    assert hook.events() == ["manifests_invalid", "manifests_valid", "drifted"]
    assert "m.yaml:5" in hook.received[0][1]["error"]


# -- alerts: transitions only ----------------------------------------------------------------------


def test_alerts_go_out_on_transitions_only(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "al-a", job_desc="declared")
    [a] = seed(sim, "al-a", job_desc="declared")
    with Hook() as hook:
        with reconciler(sim, m, hook) as loop:
            states = [loop.run_once().state]  # in sync at start-up: not alerted
            sim.state.update_job("proj-1", str(a["job_id"]), {"job_desc": "edited"})
            states += [loop.run_once().state for _ in range(2)]  # drifted twice: one alert
            sim.state.update_job("proj-1", str(a["job_id"]), {"job_desc": "declared"})
            states += [loop.run_once().state for _ in range(2)]  # back: one alert
            sim.config.update({"token": "another-token"})  # every request refused (401): a failed check, at once
            states.append(loop.run_once().state)  # one failed check is a blip
            sim.config.update({"token": None})
            states.append(loop.run_once().state)
            sim.config.update({"token": "another-token"})
            states += [loop.run_once().state for _ in range(3)]  # an outage: one alert
            assert loop.checks == 10
    I, D, F = Sync.IN_SYNC, Sync.DRIFTED, Sync.FAILED
    assert states == [I, D, D, I, I, F, I, F, F, F]
    assert hook.events() == ["drifted", "in_sync", "failed"]
    drift, back, failed = (body for _, body in hook.received)
    assert drift["previous"] == "in_sync" and "al-a" in drift["summary"] and "al-a" in drift["diff"]
    assert drift["endpoint"] == "sim" and drift["project_id"] == "proj-1" and drift["plan"]["changes"][0]["job_name"] == "al-a"
    assert back["previous"] == "drifted" and back["summary"] == "in sync again: 1 job as declared"
    assert failed["previous"] == "in_sync" and failed["plan"] is None and failed["error"]
    assert failed["summary"] == "the check failed; nothing is changed while it fails"


def test_drift_from_start_up_is_alerted_with_no_previous_state(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "st-a", "st-b")
    with Hook() as hook:
        with reconciler(sim, m, hook, alert_after=2) as loop:
            loop.run_once()
            assert hook.received == []
            loop.run_once()
    assert hook.events() == ["drifted"] and hook.received[0][1]["previous"] is None
    assert hook.received[0][1]["summary"] == "drift: 2 jobs not as declared (st-a create, st-b create)"


# -- the loop ----------------------------------------------------------------------------------------


def test_the_wait_between_checks_is_the_interval_give_or_take_the_jitter(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "jt-a")
    with reconciler(sim, m, jitter=0.25) as loop:
        waits = []
        for value in (0.0, 0.5, 1.0):
            loop.rng = lambda value=value: value
            waits.append(loop.next_wait())
    assert waits == pytest.approx([0.075, 0.1, 0.125])


def test_the_loop_runs_max_checks_and_stops_when_asked(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "lp-a")
    seed(sim, "lp-a")
    with reconciler(sim, m) as loop:
        loop.settings = Settings(interval=0.01, jitter=0.0)
        loop.run(max_checks=3)
        assert loop.checks == 3
        loop.stop.set()
        loop.run(max_checks=10)
        assert loop.checks == 3
    assert sim.stats_snapshot()["GET list"] == 3 * 2  # one page and the newest-first cross-check, per check


def test_a_check_counts_its_requests_and_what_it_found(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "mt-a", "mt-b")
    seed(sim, "mt-a")
    with reconciler(sim, m, heal=True) as loop:
        loop.run_once()
        assert metric(loop, "vizctl_reconcile_total", result="drifted") == 1
        assert metric(loop, "vizctl_api_requests_total", operation="create") == 1
        assert metric(loop, "vizctl_drifted_jobs") == 1
        assert metric(loop, "vizctl_reconcile_suspended") == 0
        assert metric(loop, "vizctl_reconcile_duration_seconds_count") == 1


# -- the command: --once and its flags --------------------------------------------------------------


def test_once_exits_0_in_sync_2_drifted_1_on_a_failed_read_or_plan(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "oc-a")
    drifted = run("reconcile", str(m), "--once", "--no-cache", sim=sim)
    assert drifted.code == 2 and "Drift found:" in drifted.out and "+ oc-a" in drifted.out and live(sim) == []
    healed = run("reconcile", str(m), "--once", "--heal", "--no-cache", sim=sim)
    assert healed.code == 2 and len(live(sim, "oc-a")) == 1  # it found drift, and healed it
    seed(sim, "oc-a")
    ambiguous = run("reconcile", str(m), "--once", "--heal", "--no-cache", sim=sim)
    assert ambiguous.code == 1 and "2 live jobs are named oc-a" in ambiguous.err and len(live(sim)) == 2
    assert "Traceback" not in ambiguous.all
    sim.config.update({"rate_no_jobs_key": 1.0})
    unread = run("reconcile", str(m), "--once", "--heal", "--no-cache", "--timeout", "2", sim=sim)
    assert unread.code == 1 and unread.err.splitlines()[-1].startswith("Error:")
    assert "Check failed" not in unread.out  # with --once the failed read is the command's error, said once
    assert len(live(sim)) == 2


def test_once_in_sync_exits_0_and_prints_in_sync(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "is-a")
    seed(sim, "is-a")
    result = run("reconcile", str(m), "--once", "--no-cache", sim=sim)
    assert result.code == 0 and "In sync." in result.out and sent(sim) == {}


def test_max_checks_runs_the_loop_that_many_times_and_exits_0(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "mc-a")
    result = run("reconcile", str(m), "--max-checks", "3", "--interval", "0.01", "--no-cache", sim=sim)
    assert result.code == 0 and sent(sim) == {}  # detect only
    assert sim.stats_snapshot()["GET list"] == 3 * 2
    assert "vizctl: reconciling 1 declared job every 0.01s (detect only)" in result.err
    healing = run("reconcile", str(m), "--max-checks", "1", "--heal", "--no-cache", sim=sim)
    assert "(healing)" in healing.err and len(live(sim, "mc-a")) == 1


def test_webhooks_from_the_environment_get_the_alert_and_their_url_is_never_printed(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "wh-a")
    with Hook() as hook, Hook() as slack:
        result = run("reconcile", str(m), "--once", "--no-cache", "-vv", sim=sim,
                     env={"VIZCTL_WEBHOOK_URL": hook.url, "VIZCTL_SLACK_WEBHOOK_URL": slack.url})
    assert result.code == 2
    assert hook.events() == ["drifted"] and "wh-a" in slack.received[0][1]["text"]
    assert SECRET not in result.all and TOKEN not in result.all


def test_reconcile_refuses_standard_input(tmp_path, sim):
    result = run("reconcile", "-", "--once", sim=sim, stdin="jobs: []\n")
    assert result.code == 64 and "standard input (-) reads only once" in result.err and sim.stats_snapshot() == {}


def test_prune_and_target_flags_reach_the_plan(tmp_path, sim):
    m = write(tmp_path / "m.yaml", 'prune: {prefix: "pf-"}\njobs:\n  - {job_name: pf-a, train_url: /bucket/pf-a/logs/}\n')
    seed(sim, "pf-a", "pf-old")
    assert run("reconcile", str(m), "--once", "--no-cache", sim=sim).code == 0
    pruning = run("reconcile", str(m), "--once", "--no-cache", "--prune", sim=sim)
    assert pruning.code == 2 and "pf-old" in pruning.out
    t = manifest_of(tmp_path / "t.yaml", "pf-a", "pf-b")
    assert run("reconcile", str(t), "--once", "--no-cache", "--target", "pf-a", sim=sim).code == 0  # pf-b is not targeted
    assert run("reconcile", str(t), "--once", "--no-cache", sim=sim).code == 2
    assert sent(sim) == {}


def test_a_bad_flag_value_is_a_usage_error(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "bf-a")
    env = {"VIZCTL_ENDPOINT": "http://127.0.0.1:9", "VIZCTL_PROJECT_ID": "p"}
    for argv, message in [(["--max-checks", "0"], "must be 1 or more"), (["--jitter", "-0.1"], "must be from 0 to below 1"),
                          (["--jitter", "x"], "a number"), (["--alert-after", "1.5"], "a whole number")]:
        result = run("reconcile", str(m), "--once", *argv, env=env)
        assert result.code == 64 and message in result.err, (argv, result.err)
    assert run("reconcile", str(m), "--once", "--jitter", "0", sim=None, env=env).code != 64


def test_a_failed_once_read_raises_the_read_error_itself():
    from vizctl.commands.reconcile import _once_status
    from vizctl.errors import PlanError
    from vizctl.reconcile.loop import Check

    read = ApiError("no answer")
    with pytest.raises(ApiError) as raised:
        _once_status(Check(Sync.FAILED, error=read))
    assert raised.value is read
    with pytest.raises(PlanError, match="the plan has errors: x"):
        _once_status(Check(Sync.FAILED, plan=object(), error=VizctlError("the plan has errors: x")))
    assert int(_once_status(Check(Sync.DRIFTED, plan=object()))) == 2
    assert int(_once_status(Check(Sync.IN_SYNC, plan=object()))) == 0


# -- pinned by mutation part 3 (tests/MUTATION.md) -----------------------------------------------------


def test_the_generic_webhook_body_has_every_field_and_slack_text_adds_the_error():
    from vizctl import __version__
    from vizctl.reconcile.alerts import SLACK_TEXT_LIMIT, Alert, body_for

    alert = Alert("failed", "in_sync", "the check failed", error="no answer", endpoint="sim", project_id="p", time=12.34567)
    assert body_for("json", alert) == {
        "source": "vizctl", "vizctl_version": __version__, "event": "failed", "previous": "in_sync", "summary": "the check failed",
        "error": "no answer", "diff": None, "plan": None, "endpoint": "sim", "project_id": "p", "time": 12.346,
    }
    assert body_for("slack", alert) == {"text": "*vizctl reconcile*: the check failed\nno answer"}
    exact = body_for("slack", Alert("drifted", None, "s", diff="x" * SLACK_TEXT_LIMIT))["text"]
    assert exact == "*vizctl reconcile*: s\n```\n" + "x" * SLACK_TEXT_LIMIT + "\n```"  # at the limit: not cut


def test_a_webhook_password_holding_an_at_sign_is_a_secret_whole():
    from vizctl.reconcile.alerts import Webhook

    assert "u:p@ss" in Webhook("json", "https://u:p@ss@hooks.example.com/x", 1).secrets()


def test_the_manifest_alerts_say_where_and_when_and_deliveries_are_counted_by_kind(tmp_path, sim):
    import time

    m = manifest_of(tmp_path / "m.yaml", "ma-a")
    seed(sim, "ma-a")
    with Hook() as hook:
        with reconciler(sim, m, hook) as loop:
            loop.run_once()
            write(m, "jobs:\n  - job_name: not a name!\n")
            loop.run_once()
            manifest_of(m, "ma-a")
            loop.run_once()
            wait_until(lambda: metric(loop, "vizctl_alerts_total", kind="json", result="sent") == 2)
    invalid, valid = (body for _, body in hook.received)
    assert invalid["summary"] == "the manifests no longer validate; the last good set is used"
    assert valid["summary"] == "the manifests validate again" and valid["error"] is None
    for body in (invalid, valid):
        assert (body["endpoint"], body["project_id"], body["previous"]) == ("sim", "proj-1", None)
        assert time.time() - 60 < body["time"] <= time.time()


def test_jitter_must_be_below_1_and_says_so(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "jb-a")
    env = {"VIZCTL_ENDPOINT": "http://127.0.0.1:9", "VIZCTL_PROJECT_ID": "p"}
    assert run("reconcile", str(m), "--once", "--jitter", "1", env=env).err == (
        "Error: argument --jitter: must be from 0 to below 1: '1' (see `vizctl reconcile --help`)\n")
    assert "not a number: 'x'" in run("reconcile", str(m), "--once", "--jitter", "x", env=env).err


def test_a_webhook_answering_500_is_tried_again_with_doubling_waits_then_given_up(monkeypatch):
    from vizctl import __version__, reconcile
    from vizctl.reconcile.alerts import Alert

    monkeypatch.setattr(reconcile.alerts, "BACKOFF", 0.01)
    lines, outcomes = [], []
    with Hook(fail_first=4) as hook:
        notifier = Notifier(webhooks([hook.url], []), log=lines.append, delivered=lambda kind, ok: outcomes.append((kind, ok)))
        notifier.send(Alert("drifted", None, "drift: é"))  # refused 3 times: given up
        notifier.send(Alert("in_sync", "drifted", "in sync again"))  # refused once, then delivered
        notifier.close(10)
    label = "json webhook 1: delivery failed (HTTP 500)"
    assert lines == [f"{label}; trying again in 0.01 s", f"{label}; trying again in 0.02 s", f"{label}; giving up on this alert",
                     f"{label}; trying again in 0.01 s"]
    assert outcomes == [("json", False), ("json", True)] and hook.events() == ["in_sync"]
    line, headers = hook.requests[-1]
    assert line.startswith("POST /hook/") and headers["Content-Type"] == "application/json" and headers["User-Agent"] == f"vizctl/{__version__}"


def test_a_webhook_nobody_listens_on_is_logged_by_its_label_and_closing_cuts_its_retries_short():
    import socket
    import time

    from vizctl.reconcile.alerts import ATTEMPTS, Alert

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/dead/{SECRET}"
    lines = []
    notifier = Notifier(webhooks([], [url]), log=lines.append)
    notifier.send(Alert("drifted", None, "d"))
    wait_until(lambda: lines, timeout=10)
    started = time.monotonic()
    notifier.close(0.2)  # closing cuts the retries (1 s, then 2 s) short
    assert time.monotonic() - started < 2.5
    assert len(lines) == 1 < ATTEMPTS and lines[0].startswith("slack webhook 1: delivery failed (connection refused")
    assert lines[0].endswith("; trying again in 1 s")


@pytest.mark.parametrize("status, delivered", [(200, True), (299, True), (300, False), (199, False)])
def test_a_webhook_delivery_is_any_2xx_answer_and_the_body_is_utf8_json(status, delivered, monkeypatch):
    from httputil import Recorder
    from vizctl import reconcile
    from vizctl.reconcile.alerts import ATTEMPTS, Alert

    monkeypatch.setattr(reconcile.alerts, "BACKOFF", 0.001)
    bodies, outcomes = [], []

    def answer(handler):
        bodies.append(handler.body)
        return status, {}, b""

    with Recorder(answer) as hook:
        notifier = Notifier(webhooks([hook.url + "/h"], []), log=lambda line: None, delivered=lambda kind, ok: outcomes.append(ok))
        notifier.send(Alert("drifted", None, "drift: é"))
        notifier.close(10)
    assert outcomes == [delivered] and len(bodies) == (1 if delivered else ATTEMPTS)
    assert '"summary": "drift: é"'.encode() in bodies[0]  # UTF-8, not \\u escapes


def test_a_drift_alert_of_many_jobs_names_ten_and_its_diff_is_plain_text(tmp_path, sim):
    import time

    names = [f"mn-{i:02}" for i in range(11)]
    m = manifest_of(tmp_path / "m.yaml", *names)
    with Hook() as hook:
        with reconciler(sim, m, hook) as loop:
            loop.env.colors = True  # a terminal: the output is coloured, the alert is not
            loop.run_once()
            sim.config.update({"token": "another-token"})
            loop.run_once()
            loop.run_once()
    drift, failed = (body for _, body in hook.received)
    listed = ", ".join(f"{n} create" for n in names[:10])
    assert drift["summary"] == f"drift: 11 jobs not as declared ({listed}, ...)"
    assert "\x1b[" not in drift["diff"] and "mn-10" in drift["diff"] and "\x1b[" in out(loop)
    assert time.time() - 60 < drift["time"] <= time.time()
    assert failed["event"] == "failed" and failed["diff"] is None and failed["previous"] == "drifted"


def test_exactly_ten_drifted_jobs_are_all_named_without_dots(tmp_path, sim):
    names = [f"mt-{i:02}" for i in range(10)]
    m = manifest_of(tmp_path / "m.yaml", *names)
    with Hook() as hook:
        with reconciler(sim, m, hook) as loop:
            loop.run_once()
    assert hook.received[0][1]["summary"] == "drift: 10 jobs not as declared (" + ", ".join(f"{n} create" for n in names) + ")"


def test_a_check_says_where_it_read_heals_names_each_change_and_a_drift_alert_has_no_error(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "wh-1", "wh-2")
    with Hook() as hook:
        with reconciler(sim, m, hook, heal=True) as loop:
            check = loop.run_once()
    assert (check.plan.endpoint, check.plan.project_id) == ("sim", "proj-1")
    assert "vizctl compared the manifests with the live jobs of project proj-1 at sim:" in out(loop)
    assert "Healing 2 changes: wh-1 create, wh-2 create" in out(loop)
    [drift] = [body for _, body in hook.received]
    assert drift["error"] is None and drift["plan"]["connection"] == {"endpoint": "sim", "project_id": "proj-1"}


def test_the_error_of_a_plan_with_errors_joins_them(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "jn-1", "jn-2")
    seed(sim, "jn-1", "jn-1", "jn-2", "jn-2")
    with reconciler(sim, m) as loop:
        check = loop.run_once()
    assert str(check.error) == ("the plan has errors: 2 live jobs are named jn-1 (ids 1, 2): vizctl will neither pick one nor add another; "
                                "delete the extra ones; 2 live jobs are named jn-2 (ids 3, 4): vizctl will neither pick one nor add another; "
                                "delete the extra ones")
