"""Issue 8, "every outcome true", against the simulator over HTTP: drift and failed jobs are not
converged, prune limits hold per scope, stopped jobs may stay stopped, and every plan says where
it read the live jobs."""

from __future__ import annotations

import json
import time

import pytest

from cliutil import manifest_of, run, write
from test_plan_live import FAST, change, plan_json, seed as seed_one, sim  # noqa: F401 - sim is a fixture
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer


def seed(sim, *names, **fields):
    return [seed_one(sim, name, **fields) for name in names]


def live_names(sim):
    return sorted(j["job_name"] for j in sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"])


# -- 1. drift that apply does not fix ---------------------------------------------------------


@pytest.mark.parametrize("field, live_value, declared, path", [
    ("train_url", None, "/bucket/moved/", "train_url"),
    ("job_type", "tensorboard", "mindinsight", "job_type"),
])
def test_drifted_job_is_not_converged_and_apply_says_how_to_fix_it(tmp_path, sim, field, live_value, declared, path):
    seed(sim, "d-1", "d-2", "d-3", "d-4", **({field: live_value} if live_value else {}))
    [drifted] = seed(sim, "d-5", **({field: live_value} if live_value else {}))
    m = tmp_path / "m.yaml"
    write(m, "jobs:\n" + "".join(f"  - {{job_name: d-{i}, train_url: /bucket/d-{i}/logs/}}\n" for i in range(1, 5))
          + f"  - {{job_name: d-5, train_url: {declared if field == 'train_url' else '/bucket/d-5/logs/'}"
          + (f", {field}: {declared}" if field != "train_url" else "") + "}\n")

    result, data = plan_json(sim, "-f", str(m), "--detailed-exitcode")
    c = change(data, "d-5")
    assert result.code == 2, "a drifted job must make --detailed-exitcode exit 2"
    assert c["action"] == "drifted" and c["diff"][0]["path"] == path
    assert data["summary"]["drifted"] == 1 and data["summary"]["converged"] is False and data["summary"]["has_changes"] is False
    text = run("plan", "-f", str(m), sim=sim).out
    assert "No changes." not in text and "5 of 5" not in text
    assert "No changes apply can make. 4 of 5 declared jobs running as declared." in text
    assert f"! d-5  drifted: {path} differs from the manifest" in text

    applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
    assert applied.code == 3, applied.all
    fix = f"{path} cannot be changed in place: use --replace d-5 or replace_on_drift: true"
    assert f"✗ d-5: drifted, RUNNING (job {drifted['job_id']}): {fix}" in applied.out
    assert "Apply finished with problems" in applied.out and "unchanged" in applied.out
    assert sim.stats["POST create"] == 0 and sim.stats["DELETE delete"] == 0

    replaced = run("apply", "-f", str(m), "--replace", "d-5", "--auto-approve", sim=sim)
    assert replaced.code == 0, replaced.all
    again, data = plan_json(sim, "-f", str(m), "--detailed-exitcode")
    assert again.code == 0 and data["summary"]["converged"] is True


def test_apply_json_reports_the_drifted_job_as_errored(tmp_path, sim):
    seed(sim, "j-1")
    m = manifest_of(tmp_path / "m.yaml", "j-1", train_url="/bucket/elsewhere/")
    applied = run("apply", "-f", str(m), "--auto-approve", "--output", "json", sim=sim)
    events = [json.loads(line) for line in applied.out.splitlines()]
    [errored] = [e for e in events if e["type"] == "apply_errored"]
    assert (errored["job_name"], errored["action"], errored["outcome"]) == ("j-1", "drifted", "drifted")
    assert "--replace j-1" in errored["detail"]
    assert events[-1]["type"] == "summary" and events[-1]["ok"] is False and applied.code == 3


def test_failed_job_makes_detailed_exitcode_exit_2(tmp_path, sim):
    seed(sim, "f-1", status=11)
    seed(sim, "f-2")
    m = manifest_of(tmp_path / "m.yaml", "f-1", "f-2")
    result = run("plan", "-f", str(m), "--detailed-exitcode", sim=sim)
    assert result.code == 2, result.all
    assert "No changes apply can make. 1 of 2 declared jobs running as declared." in result.out
    applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
    assert applied.code == 3
    assert "✗ f-1: failed, FAILED (job 1): job is FAILED; apply will not fix it: recreate it with --replace f-1 or recreate_failed: true" in applied.out


# -- 6. prune safety per scope --------------------------------------------------------------------


def _two_teams(tmp_path, sim):
    seed(sim, "a-0", "a-1", "a-2", *[f"b-{i}" for i in range(10)])
    a = write(tmp_path / "a.yaml", "prune: {prefix: a-}\njobs:\n  - {job_name: a-new, train_url: /bucket/a-new/}\n")
    b = manifest_of(tmp_path / "b.yaml", *[f"b-{i}" for i in range(10)])
    b.write_text("prune: {prefix: b-}\n" + b.read_text())
    return a, b


def test_other_scopes_do_not_dilute_a_prune_that_deletes_a_whole_scope(tmp_path, sim):
    a, b = _two_teams(tmp_path, sim)
    alone = run("plan", "-f", str(a), "--prune", sim=sim)
    assert alone.code == 1 and "would delete all 3 live jobs in scope (prefix 'a-'" in alone.out
    together = run("plan", "-f", str(a), "-f", str(b), "--prune", sim=sim)
    assert together.code == 1, together.out
    assert "would delete all 3 live jobs in scope (prefix 'a-'" in together.out
    applied = run("apply", "-f", str(a), "-f", str(b), "--prune", "--auto-approve", sim=sim)
    assert applied.code == 1 and sim.stats["DELETE delete"] == 0
    assert {"a-0", "a-1", "a-2"} <= set(live_names(sim))


def test_plan_names_undeclared_jobs_in_a_prune_scope_and_a_team_retires_with_jobs_empty(tmp_path, sim):
    a, b = _two_teams(tmp_path, sim)
    text = run("plan", "-f", str(a), "-f", str(b), sim=sim).out
    assert "3 live jobs inside a prune scope not declared in any manifest (--prune deletes them):\n    a-0\n    a-1\n    a-2" in text
    md = run("plan", "-f", str(a), "-f", str(b), "--output", "markdown", sim=sim).out
    assert "(`--prune` deletes them): `a-0`, `a-1`, `a-2`" in md

    write(a, "prune: {prefix: a-}\njobs: []\n")  # team a retires: its file keeps the scope, declares nothing
    assert run("apply", "-f", str(a), "-f", str(b), "--prune", "--auto-approve", sim=sim).code == 1  # needs --force
    retired = run("apply", "-f", str(a), "-f", str(b), "--prune", "--force", "--auto-approve", sim=sim)
    assert retired.code == 0, retired.all
    assert sim.stats["DELETE delete"] == 3 and "a-new" not in live_names(sim)
    deadline = time.monotonic() + 3
    while live_names(sim) != [f"b-{i}" for i in range(10)] and time.monotonic() < deadline:
        time.sleep(0.05)  # deleted jobs linger for delete_seconds
    assert live_names(sim) == [f"b-{i}" for i in range(10)]


def test_jobs_empty_in_another_file_does_not_unlock_a_scope(tmp_path, sim):
    seed(sim, "c-0", "c-1")
    c = write(tmp_path / "c.yaml", "prune: {prefix: c-}\njobs:\n  - {job_name: x-1, train_url: /bucket/x/}\n")
    empty = write(tmp_path / "empty.yaml", "jobs: []\n")
    result = run("plan", "-f", str(c), "-f", str(empty), "--prune", "--force", sim=sim)
    assert result.code == 1 and "would delete all 2 live jobs in scope (prefix 'c-'" in result.out


# -- 12. every plan says where it read the live jobs ---------------------------------------------


def test_plan_and_apply_name_the_endpoint_and_project(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "w-1")
    where = f"of project proj-1 at {sim.url}"
    assert where in run("plan", "-f", str(m), sim=sim).out.splitlines()[0]
    assert f"of project `proj-1` at `{sim.url}`" in run("plan", "-f", str(m), "--output", "markdown", sim=sim).out.splitlines()[0]
    _, data = plan_json(sim, "-f", str(m))
    assert data["connection"] == {"endpoint": sim.url, "project_id": "proj-1"}
    applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
    assert where in applied.out.splitlines()[0]
    done = run("plan", "-f", str(m), sim=sim, env={"VIZCTL_ENDPOINT": sim.url + "/"})
    assert where + ":" in done.out and "No changes." in done.out  # also with nothing to do; no trailing slash
    assert "tok-SECRET" not in done.all


def test_sim_plan_says_sim(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "w-1")
    result = run("plan", "--sim", "-f", str(m), cwd=tmp_path)
    assert result.out.splitlines()[0] == "vizctl compared the manifests with the live jobs of project sim-project at sim:"


# -- 13. a job that stops on its schedule may stay stopped ---------------------------------------


def test_job_stopped_by_its_schedule_may_stay_stopped(tmp_path):
    with SimServer(SimConfig(hour_seconds=1.5, **FAST)) as sim:
        m = write(tmp_path / "m.yaml", "defaults: {schedule: {duration: 1}}\njobs:\n  - {job_name: s-1, train_url: /bucket/s/}\n")
        assert run("apply", "-f", str(m), "--auto-approve", sim=sim).code == 0
        deadline = time.monotonic() + 5
        while sim.state.list_jobs("proj-1", {})["jobs"][0]["status"] != 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        restart, data = plan_json(sim, "-f", str(m), "--detailed-exitcode")
        assert change(data, "s-1")["action"] == "restart" and restart.code == 2  # the default: as before

        write(m, "defaults: {schedule: {duration: 1}, restart_stopped: false}\njobs:\n  - {job_name: s-1, train_url: /bucket/s/}\n")
        kept, data = plan_json(sim, "-f", str(m), "--detailed-exitcode")
        c = change(data, "s-1")
        assert kept.code == 0, kept.all
        assert (c["action"], c["status_name"]) == ("keep-stopped", "COMPLETED")
        assert data["summary"]["converged"] is True and data["summary"]["keep-stopped"] == 1
        text = run("plan", "-f", str(m), sim=sim).out
        assert "No changes. 0 of 1 declared job running as declared, 1 stopped as allowed (restart_stopped: false)." in text

        applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
        assert applied.code == 0, applied.all
        assert "✓ s-1: unchanged, COMPLETED" in applied.out and "0 of 1 running" in applied.out
        assert "Waiting" not in applied.out and sim.stats["POST restart"] == 0

        per_job = write(tmp_path / "p.yaml", "defaults: {restart_stopped: false}\njobs:\n  - {job_name: s-1, train_url: /bucket/s/, schedule: {duration: 1}, restart_stopped: true}\n")
        _, data = plan_json(sim, "-f", str(per_job))
        assert change(data, "s-1")["action"] == "restart"  # the job's own key wins over defaults


# -- more of the same class: outcomes a saved or targeted plan claimed without checking -----------


def test_saved_plan_is_stale_when_a_job_it_called_running_has_failed_since(tmp_path, sim):
    [job] = seed(sim, "k-1")
    m = manifest_of(tmp_path / "m.yaml", "k-1", "k-2")
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(m), "--out", str(plan_file), sim=sim).code == 0
    sim.state.set_fail("proj-1", job["job_id"], 11)
    result = run("apply", str(plan_file), sim=sim)
    assert result.code == 1 and "plan is stale" in result.err and "k-1" in result.err, result.all
    assert "unchanged" not in result.out and sim.stats["POST create"] == 0


def test_target_that_selects_nothing_is_not_called_no_jobs_declared(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "t-1")
    result = run("plan", "-f", str(m), "--target", "nope", sim=sim)
    assert result.code == 1 and "No jobs are declared" not in result.out
    assert "No changes: no declared job is selected by --target." in result.out


def test_restart_stopped_is_read_from_defaults_and_jobs_and_checked(tmp_path):
    from vizctl.errors import ManifestError
    from vizctl.manifests.loader import load_manifests

    m = write(tmp_path / "m.yaml", """\
        defaults: {restart_stopped: false}
        jobs:
          - {job_name: a, train_url: /b/}
          - {job_name: b, train_url: /b/, restart_stopped: true}
        ---
        jobs:
          - {job_name: c, train_url: /b/}
        """)
    jobs = load_manifests([str(m)]).jobs
    assert [(j.name, j.restart_stopped) for j in jobs] == [("a", False), ("b", True), ("c", True)]
    assert all("restart_stopped" not in j.body for j in jobs)  # never sent to the API
    bad = write(tmp_path / "bad.yaml", "jobs:\n  - {job_name: a, train_url: /b/, restart_stopped: sometimes}\n")
    with pytest.raises(ManifestError, match="restart_stopped"):
        load_manifests([str(bad)])
