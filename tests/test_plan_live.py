"""Plans a reviewer can trust, against the simulator: drift, live states, duplicates, unmanaged,
quota, targets, and saved plans that refuse to apply when stale."""

from __future__ import annotations

import json

import pytest

from cliutil import manifest_of, run, write
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

FAST = dict(startup_seconds=0.3, delete_seconds=0.2, stop_seconds=0.1)
URL = "/bucket/{name}/logs/"


@pytest.fixture
def sim():
    with SimServer(SimConfig(**FAST)) as server:
        yield server


def seed(sim, name, **fields):
    job = {"job_name": name, "train_url": URL.format(name=name), "running": True, **fields}
    if "status" in fields:
        job.pop("running")
    return sim.state.seed_jobs("proj-1", [job])[0]


def plan_json(sim, *argv):
    result = run("plan", *argv, "--output", "json", sim=sim)
    return result, json.loads(result.out)


def change(data, name):
    [found] = [c for c in data["changes"] if c["job_name"] == name]
    return found


def live(sim, name):
    return [j for j in sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"] if j["job_name"] == name]


def test_job_desc_drift_is_updated_in_place(tmp_path, sim):
    seed(sim, "d-1", job_desc="old words")
    m = manifest_of(tmp_path / "m.yaml", "d-1", job_desc="new words")
    result, data = plan_json(sim, "-f", str(m))
    c = change(data, "d-1")
    assert (c["action"], c["diff"]) == ("update", [{"path": "job_desc", "before": "old words", "after": "new words", "fix": "in-place"}])
    text = run("plan", "-f", str(m), sim=sim).out
    assert '~ d-1' in text and 'job_desc: "old words" -> "new words"' in text

    applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
    assert applied.code == 0, applied.all
    assert live(sim, "d-1")[0]["job_desc"] == "new words"
    assert sim.stats["PUT update"] == 1


def test_train_url_drift_is_a_warning_until_replace_is_asked(tmp_path, sim):
    old = seed(sim, "t-1")
    m = manifest_of(tmp_path / "m.yaml", "t-1", train_url="/bucket/moved/")
    result, data = plan_json(sim, "-f", str(m), "--detailed-exitcode")
    c = change(data, "t-1")
    assert result.code == 2 and c["action"] == "drifted"
    assert c["diff"][0]["path"] == "train_url" and c["diff"][0]["fix"] == "replace"
    assert "--replace t-1" in c["notes"][0]
    assert "(not changed by apply)" in run("plan", "-f", str(m), sim=sim).out

    replaced = run("apply", "-f", str(m), "--replace", "t-1", "--auto-approve", sim=sim)
    assert replaced.code == 0, replaced.all
    [now] = live(sim, "t-1")
    assert now["train_url"] == "/bucket/moved/" and now["job_id"] != old["job_id"] and now["status"] == 8
    assert sim.stats["DELETE delete"] == 1 and sim.stats["POST create"] == 1


def test_replace_on_drift_in_the_manifest(tmp_path, sim):
    seed(sim, "r-1")
    m = manifest_of(tmp_path / "m.yaml", "r-1", train_url="/bucket/new/", replace_on_drift="true")
    _, data = plan_json(sim, "-f", str(m))
    assert change(data, "r-1")["action"] == "replace"
    assert "-/+ r-1" in run("plan", "-f", str(m), sim=sim).out


@pytest.mark.parametrize(
    "field, live_value, declared, path",
    [
        ("job_type", "tensorboard", "mindinsight", "job_type"),
        ("flavor", {"code": "modelarts.vm.cpu.2u"}, "{code: modelarts.vm.gpu.p4}", "flavor.code"),
        ("schedule", {"type": "stop", "time_unit": "HOURS", "duration": 2}, "{duration: 6}", "schedule.duration"),
    ],
)
def test_drift_on_fields_read_from_details(tmp_path, sim, field, live_value, declared, path):
    seed(sim, "x-1", **{field: live_value})
    seed(sim, "x-2", **{field: live_value})
    m = manifest_of(tmp_path / "m.yaml", "x-1", **{field: declared})
    _, data = plan_json(sim, "-f", str(m))
    [diff] = change(data, "x-1")["diff"]
    assert diff["path"] == path and diff["fix"] == "replace"
    assert sim.stats["GET detail"] == 1  # only the declared job that needs it


def test_fields_the_api_does_not_return_never_drift(tmp_path, sim):
    seed(sim, "n-1")  # no flavor, no schedule in its details
    m = manifest_of(tmp_path / "m.yaml", "n-1", flavor="{code: modelarts.vm.cpu.2u}", schedule="{duration: 3}")
    _, data = plan_json(sim, "-f", str(m))
    c = change(data, "n-1")
    assert (c["action"], c["diff"]) == ("no-op", [])


@pytest.mark.parametrize("status, name", [(12, "KILLED"), (10, "COMPLETED"), (13, "CANCELED")])
def test_stopped_job_is_restarted(tmp_path, sim, status, name):
    job = seed(sim, "s-1", status=status)
    m = manifest_of(tmp_path / "m.yaml", "s-1")
    _, data = plan_json(sim, "-f", str(m))
    c = change(data, "s-1")
    assert (c["action"], c["status_name"]) == ("restart", name)
    assert "↻ s-1" in run("plan", "-f", str(m), sim=sim).out
    applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
    assert applied.code == 0, applied.all
    assert "✓ s-1: restarted, RUNNING" in applied.out
    assert live(sim, "s-1")[0]["job_id"] == job["job_id"]


def test_failed_job_is_shown_and_recreated_only_when_asked(tmp_path, sim):
    seed(sim, "f-1", status=3)
    m = manifest_of(tmp_path / "m.yaml", "f-1")
    result, data = plan_json(sim, "-f", str(m))
    assert change(data, "f-1")["action"] == "failed"
    text = run("plan", "-f", str(m), sim=sim).out
    assert "! f-1" in text and "IMAGE_FAILED" in text
    kept = run("apply", "-f", str(m), "--auto-approve", sim=sim)
    assert kept.code == 3 and sim.stats["POST create"] == 0
    recreate = manifest_of(tmp_path / "r.yaml", "f-1", recreate_failed="true")
    applied = run("apply", "-f", str(recreate), "--auto-approve", sim=sim)
    assert applied.code == 0, applied.all
    assert [j["status"] for j in live(sim, "f-1")] == [8]


def test_pending_job_needs_only_waiting(tmp_path):
    with SimServer(SimConfig(startup_seconds=1.0)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": "p-1", "train_url": URL.format(name="p-1")}])
        m = manifest_of(tmp_path / "m.yaml", "p-1")
        _, data = plan_json(sim, "-f", str(m))
        assert change(data, "p-1")["action"] == "wait"
        applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
        assert applied.code == 0, applied.all
        assert "✓ p-1: unchanged, RUNNING" in applied.out
        assert sim.stats["POST create"] == 0


def test_duplicate_live_names_are_an_error_and_never_get_a_third(tmp_path, sim):
    a, b = seed(sim, "dup"), seed(sim, "dup")
    m = manifest_of(tmp_path / "m.yaml", "dup", "fine")
    result, data = plan_json(sim, "-f", str(m))
    assert result.code == 1
    c = change(data, "dup")
    assert c["action"] == "ambiguous" and c["live_ids"] == [str(a["job_id"]), str(b["job_id"])]
    applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
    assert applied.code == 3
    assert len(live(sim, "dup")) == 2 and len(live(sim, "fine")) == 1


def test_unmanaged_jobs_are_counted_and_named_with_v(tmp_path, sim):
    seed(sim, "mine")
    seed(sim, "theirs-1")
    seed(sim, "theirs-2")
    m = manifest_of(tmp_path / "m.yaml", "mine")
    quiet = run("plan", "-f", str(m), sim=sim).out
    assert "2 live jobs not declared in any manifest (left alone; names with -v)" in quiet
    assert "theirs-1" not in quiet
    loud = run("plan", "-f", str(m), "-v", sim=sim).out
    assert "    theirs-1" in loud and "    theirs-2" in loud


def test_quota_exceeded_plan_says_so_and_apply_creates_nothing(tmp_path):
    with SimServer(SimConfig(quota=3, **FAST)) as sim:
        seed(sim, "q-0")
        m = manifest_of(tmp_path / "m.yaml", "q-0", "q-1", "q-2", "q-3")
        result = run("plan", "-f", str(m), sim=sim)
        assert result.code == 1
        assert "Error: quota: 3 jobs to create but the project may create only 2 more (quota 3)" in result.out
        applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
        assert applied.code == 1 and "nothing was changed" in applied.err
        assert sim.stats["POST create"] == 0


def test_target_limits_plan_and_apply(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "a-1", "a-2")
    result = run("apply", "-f", str(m), "--target", "a-2", "--auto-approve", sim=sim)
    assert result.code == 0, result.all
    assert "Warning: Plan limited to --target a-2" in result.out
    assert [j["job_name"] for j in sim.state.list_jobs("proj-1", {})["jobs"]] == ["a-2"]
    assert run("plan", "-f", str(m), "--target", "nope", sim=sim).code == 1


# -- saved plans -------------------------------------------------------------------


def test_saved_plan_applies_exactly_without_asking(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "sp-1", "sp-2")
    plan_file = tmp_path / "plan.json"
    made = run("plan", "-f", str(m), "--out", str(plan_file), sim=sim)
    assert made.code == 0 and plan_file.exists()
    saved = json.loads(plan_file.read_text())
    assert saved["kind"] == "vizctl-plan" and saved["format_version"] == "2.0"
    applied = run("apply", str(plan_file), sim=sim)  # no --auto-approve, no terminal: a saved plan needs none
    assert applied.code == 0, applied.all
    assert sim.stats["POST create"] == 2


def test_saved_plan_is_stale_after_a_live_change(tmp_path, sim):
    seed(sim, "st-1", job_desc="v1")
    m = manifest_of(tmp_path / "m.yaml", "st-1", "st-2", job_desc="v2")
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(m), "--out", str(plan_file), sim=sim).code == 0
    sim.state.update_job("proj-1", str(live(sim, "st-1")[0]["job_id"]), {"job_desc": "changed behind our back"})
    result = run("apply", str(plan_file), sim=sim)
    assert result.code == 1
    assert "plan is stale" in result.err and "st-1" in result.err
    assert sim.stats["POST create"] == 0 and sim.stats["PUT update"] == 0


def test_saved_plan_is_stale_after_a_manifest_change(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "mc-1")
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(m), "--out", str(plan_file), sim=sim).code == 0
    manifest_of(m, "mc-1", "mc-2")
    result = run("apply", str(plan_file), sim=sim)
    assert result.code == 1 and "the manifests changed" in result.err
    assert sim.stats["POST create"] == 0


def test_saved_plan_refuses_another_project_and_unknown_formats(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "o-1")
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", str(m), "--out", str(plan_file), sim=sim).code == 0
    other = run("apply", str(plan_file), sim=sim, env={"VIZCTL_PROJECT_ID": "proj-2"})
    assert other.code == 1 and "the plan was made for" in other.err
    data = json.loads(plan_file.read_text())
    data["format_version"] = "3.0"
    future = write(tmp_path / "future.json", json.dumps(data))
    result = run("apply", str(future), sim=sim)
    assert result.code == 1 and "format 3.0 is not supported" in result.err
    garbage = write(tmp_path / "garbage.json", "{not json")
    assert "not a vizctl plan file" in run("apply", str(garbage), sim=sim).err
    assert sim.stats["POST create"] == 0


def test_plan_outputs_markdown_for_pull_requests(tmp_path, sim):
    seed(sim, "md-1", status=12)
    m = manifest_of(tmp_path / "m.yaml", "md-1", "md-2")
    result = run("plan", "-f", str(m), "--output", "markdown", sim=sim)
    first = result.out.splitlines()[0]
    assert first == f"**vizctl plan of project `proj-1` at `{sim.url}`:** Plan: 1 to create, 0 to update, 0 to replace, 1 to restart."
    assert "| `↻` | `md-1` | restart | KILLED |" in result.out
    assert "<details>" in result.out
