"""Issues 16 and 21, "every outcome true" parts 2 and 3, for applying, planning, wait and status: the real
CLI against the simulator (or a small server in front of it) over loopback HTTP."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest

from cliutil import manifest_of, run, spawn, summary_after_ctrl_c, wait_until, write
from httputil import Recorder
from vizctl.applying.run import confirm
from vizctl.errors import VizctlError
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimState

FAST = dict(startup_seconds=0.3, delete_seconds=0.1, stop_seconds=0.1, retry_after=0.05)


def seed(sim, *names, **fields):
    return sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/bucket/{n}/logs/", "running": True, **fields} for n in names])


def listed(sim):
    return sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"]


def summary_of(result):
    return json.loads(result.out.strip().splitlines()[-1])


# -- a replace that gives up waiting for the old job to go -------------------------------------------


def test_a_replace_that_gives_up_waiting_for_the_old_job_says_so_at_the_timeout(tmp_path):
    with SimServer(SimConfig(**{**FAST, "delete_seconds": 60})) as sim:  # the old job stays KILLING
        [old] = seed(sim, "rp-1")
        m = manifest_of(tmp_path / "m.yaml", "rp-1")
        started = time.monotonic()
        result = run("apply", "-f", str(m), "--replace", "rp-1", "-y", "--timeout", "2", sim=sim)
        took = time.monotonic() - started
        assert result.code == 3, result.all
        assert took < 5, f"--timeout 2 ran {took:.1f}s"  # ends at --timeout, not when the delete ends
        why = f"gave up waiting for the old job {old['job_id']} to be deleted after --timeout 2s: it is still KILLING; the new job was not created"
        assert f"✗ rp-1: timed out, KILLING (job {old['job_id']}): {why}" in result.out
        assert "Apply finished with problems" in result.out and ": 1 timed out; 0 of 1 running." in result.out
        assert "stopped" not in result.out and "corrects" not in result.out
        assert f"{why}\n" in result.out  # no link to the job on its way out
        assert sim.stats["POST create"] == 0 and sim.stats["DELETE delete"] == 1

        again = run("apply", "-f", str(m), "--replace", "rp-1", "-y", "--timeout", "1", "-o", "json", sim=sim)  # planned KILLING
        [job] = summary_of(again)["jobs"]
        assert (job["outcome"], job["status_name"], again.code) == ("timed out", "KILLING", 3)
        assert job["detail"] == f"gave up waiting for job {old['job_id']} to finish stopping after --timeout 1s: it is still KILLING; the new job was not created"
        assert sim.stats["POST create"] == 0 and sim.stats["DELETE delete"] == 1


def test_ctrl_c_while_a_replace_waits_for_the_old_job_says_it_is_not_yet_deleted(tmp_path):
    with SimServer(SimConfig(**{**FAST, "delete_seconds": 60})) as sim:
        [old] = seed(sim, "rc-1")
        m = manifest_of(tmp_path / "m.yaml", "rc-1")
        process = spawn(sim, "apply", "-f", str(m), "--replace", "rc-1", "-y", "-o", "json")
        wait_until(lambda: sim.stats["DELETE delete"] == 1)
        summary = summary_after_ctrl_c(process, '"apply_start"')  # printed before the delete was sent
        [job] = summary["jobs"]
        assert (job["outcome"], job["status_name"]) == ("not yet deleted", "KILLING")
        assert job["detail"] == (f"interrupted while waiting for the old job {old['job_id']} to be deleted: it is still KILLING; "
                                 "the new job was not created")
        assert sim.stats["POST create"] == 0


# -- wait tells the truth plan tells -----------------------------------------------------------------


def test_wait_on_a_drifted_job_says_drifted_as_apply_does_and_exits_3(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        [job] = seed(sim, "dw-1", job_desc="old words")
        m = manifest_of(tmp_path / "m.yaml", "dw-1", train_url="/bucket/moved/", job_desc="new words")
        planned = run("plan", "-f", str(m), sim=sim)
        assert "! dw-1  drifted: train_url differs from the manifest" in planned.out

        waited = run("wait", "-f", str(m), "--timeout", "5", sim=sim)
        assert waited.code == 3, waited.all
        fix = "train_url cannot be changed in place: use --replace dw-1 or replace_on_drift: true"
        assert f"✗ dw-1: drifted, RUNNING (job {job['job_id']}): {fix}" in waited.out
        assert "unchanged" not in waited.out and "Wait finished with problems" in waited.out

        applied = run("apply", "-f", str(m), "-y", sim=sim)  # the same words, the same exit
        assert applied.code == 3 and f"✗ dw-1: drifted, RUNNING (job {job['job_id']}): {fix}" in applied.out
        assert sim.stats["POST create"] == 0 and sim.stats["PUT update"] == 0


@pytest.mark.parametrize("declared, says", [
    ({"job_desc": "new words"}, "job_desc changed: `vizctl apply` updates it"),
    ({"train_url": "/bucket/moved/", "replace_on_drift": "true"},
     "train_url changed and replace_on_drift is set: `vizctl apply` replaces it"),
    ({"job_type": "mindinsight"}, "job_type cannot be changed in place"),  # only the details show job_type
])
def test_wait_on_a_job_apply_would_change_is_not_unchanged(tmp_path, declared, says):
    with SimServer(SimConfig(**FAST)) as sim:
        seed(sim, "dw-2", job_desc="old words")
        m = manifest_of(tmp_path / "m.yaml", "dw-2", **declared)
        waited = run("wait", "-f", str(m), "--timeout", "5", sim=sim)
        assert waited.code == 3, waited.all
        assert "✗ dw-2: drifted, RUNNING" in waited.out and says in waited.out
        assert summary_of(run("wait", "-f", str(m), "-o", "json", sim=sim))["outcomes"] == {"drifted": 1}
        assert sim.stats["POST create"] == sim.stats["PUT update"] == sim.stats["DELETE delete"] == 0


def test_wait_for_an_undeclared_target_exits_1(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        seed(sim, "tw-1")
        m = manifest_of(tmp_path / "m.yaml", "tw-1")
        result = run("wait", "-f", str(m), "--target", "tw-nope", sim=sim)
        assert result.code == 1, result.all
        assert "--target names jobs no manifest declares: tw-nope" in result.err
        assert run("wait", "-f", str(m), "--target", "tw-1", sim=sim).code == 0


# -- status escapes what the live API says -----------------------------------------------------------

HOSTILE_URL = "https://evil.example/\x1b]0;owned\x07\x1b[2J\x9b31m/"


ESCAPED_URL = "https://evil.example/\\u001b]0;owned\\u0007\\u001b[2J\\u009b31m/"


def _hostile_list(handler):
    now = int(time.time() * 1000)
    jobs = [{"job_id": 7, "job_name": "st-\x1b[31mred", "status": 8, "train_url": "/b/\x1b[2J", "create_time": now, "service_url": HOSTILE_URL},
            {"job_id": 8, "job_name": "st-ok", "status": 8, "train_url": "/bucket/st-ok/logs/", "create_time": now, "service_url": HOSTILE_URL}]
    return 200, {"Content-Type": "application/json"}, json.dumps({"is_success": True, "job_total_count": 2, "jobs": jobs}).encode()


def assert_no_controls(text):
    for control in ("\x1b", "\x07", "\x9b"):
        assert control not in text


def test_status_and_wait_escape_control_characters_of_every_live_string(tmp_path):
    env = {"VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": "tok-12345678"}
    m = manifest_of(tmp_path / "m.yaml", "st-ok")
    with Recorder(_hostile_list) as server:
        env["VIZCTL_ENDPOINT"] = server.url
        result = run("status", env=env)
        as_json = run("status", "-o", "json", env=env)
        waited = run("wait", "-f", str(m), env=env)
        waited_json = run("wait", "-f", str(m), "-o", "json", env=env)
    assert result.code == 0, result.all
    assert_no_controls(result.out)
    assert "st-\\u001b[31mred" in result.out and ESCAPED_URL in result.out
    assert_no_controls(as_json.out)
    assert json.loads(as_json.out)["jobs"][0]["service_url"] == HOSTILE_URL  # JSON that reads back to the live value
    assert waited.code == 0 and f"✓ st-ok  unchanged, RUNNING (job 8)  {ESCAPED_URL}" in waited.out, waited.all
    assert_no_controls(waited.out)
    assert_no_controls(waited_json.out)
    assert summary_of(waited_json)["jobs"][0]["service_url"] == HOSTILE_URL


def test_plan_escapes_every_unprintable_character_of_a_live_value(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        seed(sim, "pe-1", job_desc="a\x9b31mb\u202ec")  # a C1 CSI and a bidi override: JSON leaves them raw
        m = manifest_of(tmp_path / "m.yaml", "pe-1", job_desc="plain")
        text = run("plan", "-f", str(m), sim=sim).out
        assert 'job_desc: "a\\u009b31mb\\u202ec" -> "plain"' in text
        assert "\x9b" not in text and "\u202e" not in text


# -- status shows a job's true age ---------------------------------------------------------------------


def test_status_shows_the_age_of_a_job_created_two_hours_ago():
    then: list[float | None] = [time.time() - 2 * 3600 - 30]  # the simulator's clock: set back, then the present (None)
    state = SimState(SimConfig(**FAST), clock=lambda: time.time() if then[0] is None else then[0])
    with SimServer(SimConfig(**FAST), state=state) as sim:
        seed(sim, "age-old")
        then[0] = time.time() - 5 * 60
        seed(sim, "age-new")
        then[0] = None
        result = run("status", sim=sim)
        rows = {line.split()[0]: line.split() for line in result.out.splitlines()[1:3]}
        assert rows["age-old"][2] == "2h" and rows["age-new"][2] == "5m", result.out
        ages = {j["job_name"]: j["age_seconds"] for j in json.loads(run("status", "-o", "json", sim=sim).out)["jobs"]}
        assert 7200 <= ages["age-old"] <= 7300 and 300 <= ages["age-new"] <= 360


# -- saved plans and the command line -----------------------------------------------------------------


def _team_of_ten(tmp_path, sim):
    seed(sim, *[f"pr-{i}" for i in range(10)])
    m = manifest_of(tmp_path / "m.yaml", *[f"pr-{i}" for i in range(6)])  # 4 of 10 undeclared: past 30%
    m.write_text("prune: {prefix: pr-}\n" + m.read_text())
    return m


def test_a_saved_plan_whose_prune_goes_past_the_limits_is_refused_at_apply(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        m = _team_of_ten(tmp_path, sim)
        plan_file = tmp_path / "plan.json"
        made = run("plan", "-f", str(m), "--prune", "--out", str(plan_file), sim=sim)
        assert made.code == 1 and "more than 30%; refused without --force" in made.out

        refused = run("apply", str(plan_file), sim=sim)
        assert refused.code == 1, refused.all
        assert "prune would delete 4 of 10 live jobs in scope (prefix 'pr-'" in refused.out
        assert "nothing was changed" in refused.err

        edited = json.loads(plan_file.read_text())  # a plan file whose errors were taken out by hand
        edited["errors"] = []
        plan_file.write_text(json.dumps(edited))
        again = run("apply", str(plan_file), sim=sim)
        assert again.code == 1 and "more than 30%; refused without --force" in again.out, again.all
        assert run("apply", str(plan_file), "--force", sim=sim).code == 64  # the plan decides, as with --prune
        assert sim.stats["DELETE delete"] == 0 and len(listed(sim)) == 10

        forced = tmp_path / "forced.json"
        assert run("plan", "-f", str(m), "--prune", "--force", "--out", str(forced), sim=sim).code == 0
        applied = run("apply", str(forced), sim=sim)
        assert applied.code == 0, applied.all
        assert sim.stats["DELETE delete"] == 4


def test_a_saved_plan_is_refused_when_its_prune_is_past_the_limits_of_the_scope_as_it_is_now(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        jobs = seed(sim, *[f"pr-{i}" for i in range(10)])
        m = manifest_of(tmp_path / "m.yaml", *[f"pr-{i}" for i in range(7)])  # 3 of 10: allowed
        m.write_text("prune: {prefix: pr-}\n" + m.read_text())
        plan_file = tmp_path / "plan.json"
        assert run("plan", "-f", str(m), "--prune", "--out", str(plan_file), sim=sim).code == 0
        sim.state.delete_job("proj-1", str(jobs[7]["job_id"]))  # another client deletes one the plan deletes too
        time.sleep(0.3)
        stale = run("apply", str(plan_file), sim=sim)
        assert stale.code == 1 and "plan is stale" in stale.err, stale.all
        assert sim.stats["DELETE delete"] == 0


def test_apply_planfile_with_target_is_a_usage_error_and_creates_nothing(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "pf-1")
        plan_file = tmp_path / "plan.json"
        assert run("plan", "-f", str(m), "--out", str(plan_file), sim=sim).code == 0
        result = run("apply", str(plan_file), "--target", "pf-1", sim=sim)
        assert result.code == 64, result.all
        assert "a saved plan is applied as it is" in result.err
        assert sim.stats["POST create"] == 0 and listed(sim) == []


@pytest.mark.parametrize("name", ["m.yml", "m.YML", "m.Yaml"])
def test_apply_of_a_yml_file_is_a_manifest_not_a_plan_file(tmp_path, name):
    with SimServer(SimConfig(**FAST)) as sim:
        m = manifest_of(tmp_path / name, "yml-1")
        result = run("apply", str(m), "-y", sim=sim)
        assert result.code == 0, result.all
        assert "plan file" not in result.all
        assert [j["job_name"] for j in listed(sim)] == ["yml-1"]


# -- planning semantics -------------------------------------------------------------------------------


def test_a_prune_regex_matches_whole_names_only(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        seed(sim, "team-a", "team-a-new", "team-a-old")
        m = write(tmp_path / "m.yaml", """\
            prune: {regex: "team-a|team-a-new"}
            jobs:
              - {job_name: team-a-new, train_url: /bucket/team-a-new/logs/}
            """)
        plan = json.loads(run("plan", "-f", str(m), "-o", "json", sim=sim).out)
        assert {j["job_name"]: j["in_prune_scope"] for j in plan["unmanaged"]} == {"team-a": True, "team-a-old": False}
        applied = run("apply", "-f", str(m), "--prune", "-y", sim=sim)
        assert applied.code == 0, applied.all
        assert sim.stats["DELETE delete"] == 1
        assert sorted(j["job_name"] for j in listed(sim) if j["status"] != 9) == ["team-a-new", "team-a-old"]


def test_a_prune_prefix_matches_the_start_of_names_only(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        seed(sim, "team-a-old", "x-team-a-old")
        m = write(tmp_path / "m.yaml", """\
            prune: {prefix: team-a}
            jobs:
              - {job_name: team-a-new, train_url: /bucket/team-a-new/logs/}
            """)
        plan = json.loads(run("plan", "-f", str(m), "-o", "json", sim=sim).out)
        assert {j["job_name"]: j["in_prune_scope"] for j in plan["unmanaged"]} == {"team-a-old": True, "x-team-a-old": False}


# The API reference's status table (visualization-jobs.md, "Job statuses"), as vizctl must read it.
DOCUMENTED_PHASES = {
    0: "pending", 1: "pending", 2: "pending", 3: "failed", 4: "pending", 5: "failed", 6: "failed", 7: "pending",
    8: "running", 9: "stopping", 10: "stopped", 11: "failed", 12: "stopped", 13: "stopped", 14: "failed",
    15: "pending", 16: "failed", 17: "failed", 18: "pending", 19: "pending", 20: "stopped", 21: "failed",
}


def test_every_documented_status_is_read_as_the_reference_says_and_an_unknown_one_as_pending():
    from vizctl.model import phase_of, status_name

    assert {status: phase_of(status).value for status in range(22)} == DOCUMENTED_PHASES
    assert phase_of(42).value == "pending" and status_name(42) == "STATUS_42" and status_name(20) == "CHECK_RUNNING_COMPLETED"
    assert status_name(None) == "ABSENT"  # an answer without a status is not UNKNOWN (0), which the API may send


@pytest.mark.parametrize("status", [15, 19, 42])  # SCALING, CHECK_RUNNING, undocumented: on the way, never "running"
def test_apply_waits_for_a_job_in_a_status_short_of_running_and_never_calls_it_running(tmp_path, status):
    with SimServer(SimConfig(**FAST)) as sim:
        seed(sim, "st-1", status=status)
        result = run("apply", str(manifest_of(tmp_path / "m.yaml", "st-1")), "-y", "--timeout", "2s", "-o", "json", sim=sim)
    assert result.code == 3, result.all
    [job] = summary_of(result)["jobs"]
    assert job["outcome"] == "timed out" and job["status"] == status


def reversing(upstream: str):
    """An ``answer`` for :class:`Recorder` that passes each request on to ``upstream`` and answers each list page
    in reverse order, as a server that ignores ``sortBy`` may."""
    target = urlsplit(upstream)

    def answer(handler):
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        connection.request(handler.command, handler.path, body=handler.body or None, headers=headers)
        reply = connection.getresponse()
        data = reply.read()
        connection.close()
        if handler.command == "GET" and urlsplit(handler.path).path.endswith("/visualization-jobs") and reply.status == 200:
            page = json.loads(data)
            data = json.dumps({**page, "jobs": page["jobs"][::-1]}).encode()
        return reply.status, {"Content-Type": reply.getheader("Content-Type") or "application/json"}, data

    return answer


def test_the_winner_of_a_create_race_is_the_lowest_job_id_whatever_order_the_list_gives(tmp_path):
    with SimServer(SimConfig(**{**FAST, "list_lag": 0.5})) as sim:
        seed(sim, *[f"filler-{i}" for i in range(8)])  # ids 1..8
        [rival] = seed(sim, "race-1")  # job 9: a concurrent apply's, not listed yet when this run plans
        m = manifest_of(tmp_path / "m.yaml", "race-1")
        with Recorder(reversing(sim.url)) as proxy:  # job 10 (ours) is listed before job 9; as text "10" < "9" too
            result = run("apply", "-f", str(m), "-y", "-o", "json", env={
                "VIZCTL_ENDPOINT": proxy.url, "VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": "tok-12345678"})
        assert result.code == 0, result.all
        [job] = summary_of(result)["jobs"]
        assert rival["job_id"] == 9 and (job["outcome"], job["job_id"]) == ("adopted", "9"), job
        assert "ours, job 10, is being deleted" in job["detail"]
        assert sim.stats["POST create"] == 1 and sim.stats["DELETE delete"] == 1
        assert [j["job_id"] for j in listed(sim) if j["job_name"] == "race-1" and j["status"] != 9] == [9]


def test_a_job_whose_description_the_list_leaves_out_is_compared_with_its_details(tmp_path):
    with SimServer(SimConfig(**{**FAST, "sparse_list_items": True})) as sim:
        seed(sim, "sp-same", job_desc="the words")
        seed(sim, "sp-other", job_desc="old words")
        m = write(tmp_path / "m.yaml", """\
            jobs:
              - {job_name: sp-same, train_url: /bucket/sp-same/logs/, job_desc: the words}
              - {job_name: sp-other, train_url: /bucket/sp-other/logs/, job_desc: new words}
            """)
        plan = json.loads(run("plan", "-f", str(m), "-o", "json", sim=sim).out)
        actions = {c["job_name"]: (c["action"], c["diff"]) for c in plan["changes"]}
        assert actions["sp-same"] == ("no-op", [])
        assert actions["sp-other"] == ("update", [{"path": "job_desc", "before": "old words", "after": "new words", "fix": "in-place"}])
        applied = run("apply", "-f", str(m), "-y", sim=sim)
        assert applied.code == 0 and sim.stats["PUT update"] == 1, applied.all
        assert {j["job_name"]: j["job_desc"] for j in (sim.state.get_job("proj-1", str(i)) for i in (1, 2))} == {
            "sp-same": "the words", "sp-other": "new words"}
        assert run("wait", "-f", str(m), sim=sim).code == 0


# -- the confirmation prompt -------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["y\n", "Yes \n", "YES\n", "yes please\n", " yes\n", "yes \n", "", "\n", "no\n"])
def test_the_confirmation_prompt_takes_only_yes(tmp_path, answer):
    with SimServer(SimConfig(**FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "cf-1")
        result = run("apply", "-f", str(m), sim=sim, stdin=answer, tty=True)
        assert result.code == 1, result.all
        assert "cancelled; nothing was changed" in result.err
        assert sim.stats["POST create"] == 0
        accepted = run("apply", "-f", str(m), sim=sim, stdin="yes\n", tty=True)
        assert accepted.code == 0 and sim.stats["POST create"] == 1, accepted.all


@pytest.mark.parametrize("answer, accepted", [("yes\n", True), ("yes\r\n", True), ("yes", True), ("y\n", False), ("Yes \n", False)])
def test_confirm_accepts_exactly_one_word(answer, accepted):
    import io

    from vizctl.environment import Environment

    from vizctl.api.auth import TokenAuth
    from vizctl.api.client import ModelArtsClient

    env = Environment(stdin=io.StringIO(answer), stdout=io.StringIO(), stderr=io.StringIO(), environ={}, stdin_isatty=True)
    client = ModelArtsClient("http://127.0.0.1:9", "proj-1", TokenAuth("tok-12345678"))  # never called
    if accepted:
        confirm(env, "Go?", client)
    else:
        with pytest.raises(VizctlError, match="cancelled"):
            confirm(env, "Go?", client)


def test_a_timed_out_replace_whose_old_job_is_gone_by_the_final_read_keeps_its_reason(tmp_path):
    from cliutil import TOKEN
    from vizctl.applying.machine import Applier, ApplySettings
    from vizctl.api.auth import TokenAuth
    from vizctl.api.client import ModelArtsClient
    from vizctl.environment import Environment
    from vizctl.planning.manager import load_plan
    from vizctl.applying.progress import JsonReporter

    now = [1_700_000_000.0]  # one stepped clock for the simulator and the applier: no real waiting

    def sleep(seconds):
        now[0] += seconds

    class DeletedOnceSettled(JsonReporter):  # the old job's deletion ends between the give-up and the final read
        def job_settled(self, result):
            super().job_settled(result)
            now[0] += 60

    state = SimState(SimConfig(**{**FAST, "delete_seconds": 30}), clock=lambda: now[0])
    with SimServer(state=state) as sim:
        [old] = seed(sim, "rg-1")
        plan_file = tmp_path / "plan.json"
        assert run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "rg-1")), "--replace", "rg-1", "--out", str(plan_file), sim=sim).code == 0
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        reporter = DeletedOnceSettled(Environment(stdout=__import__("io").StringIO()))
        started = now[0]
        applier = Applier(client, reporter, ApplySettings(timeout=3, list_lag=0), clock=lambda: now[0], sleep=sleep)
        [result] = applier.run(load_plan(str(plan_file)).plan)
    from vizctl.api.client import MIN_REQUEST_SECONDS

    # the wait ended at the timeout, less the time it leaves the final read (here no list read took any)
    assert now[0] - started - 60 == pytest.approx(3 - 2 * MIN_REQUEST_SECONDS, abs=1e-3)
    assert result.outcome.value == "missing" and result.status is None
    assert result.detail == (f"job {old['job_id']} is no longer listed; at the timeout: gave up waiting for the old job {old['job_id']} "
                             "to be deleted after --timeout 3s: it is still KILLING; the new job was not created")


@pytest.mark.parametrize("text, shown", [
    ("plain grüße / ok", "plain grüße / ok"),
    ("a\x1b[2Jb", "a\\u001b[2Jb"),
    ("osc\x1b]8;;x\x07", "osc\\u001b]8;;x\\u0007"),
    ("c1\x9b31m", "c1\\u009b31m"),
    ("bidi\u202e", "bidi\\u202e"),
    ("two\nlines", "two\\u000alines"),
    ("tag\U000e0001", "tag\\udb40\\udc01"),
])
def test_printable_escapes_what_could_drive_a_terminal_as_json_does(text, shown):
    from vizctl.wording import printable

    assert printable(text) == shown
    assert json.loads(printable(json.dumps(text, ensure_ascii=False))) == text
    assert printable("{\n  \"a\": \"\x1b\"\n}", lines=True) == "{\n  \"a\": \"\\u001b\"\n}"


def test_prune_refusals_name_jobs_outside_the_scopes_and_each_scope_past_its_limits():
    from vizctl.model import JobSpec, LiveJob, LiveSnapshot, Location, Manifest, PruneScope
    from vizctl.planning.planner import prune_refusals

    here = Location("m.yaml", 1)
    live = LiveSnapshot(jobs=tuple(LiveJob(str(i), f"pr-{i}", 8) for i in range(10)) + (LiveJob("99", "other", 8),))
    spec = JobSpec(name="pr-0", body={"job_name": "pr-0"}, location=here)
    manifest = Manifest(jobs=(spec,), prune_scopes=(PruneScope(here, prefix="pr-"),))
    assert prune_refusals(manifest, live, {"7", "8", "9"}, force=False) == []  # 3 of 10
    [limit] = prune_refusals(manifest, live, {"6", "7", "8", "9"}, force=False)
    assert "prune would delete 4 of 10 live jobs in scope (prefix 'pr-', m.yaml:1)" in limit
    assert prune_refusals(manifest, live, {"6", "7", "8", "9"}, force=True) == []
    assert prune_refusals(manifest, live, {"0", "99"}, force=True) == [
        "prune would delete jobs that are declared or outside every prune scope: other, pr-0"]
