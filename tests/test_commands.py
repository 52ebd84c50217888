"""status, export, wait, destroy, show, schema, version and completion: the real CLI against the
simulator over loopback HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from cliutil import manifest_of, run
from vizctl.commands.status import age
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

FAST = dict(startup_seconds=0.3, delete_seconds=0.1, stop_seconds=0.1)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def sim():
    with SimServer(SimConfig(**FAST)) as server:
        yield server


def seed(sim, name, **fields):
    job = {"job_name": name, "train_url": f"/bucket/{name}/logs/", "running": True, **fields}
    if "status" in fields:
        job.pop("running")
    return sim.state.seed_jobs("proj-1", [job])[0]


def live_names(sim):
    """The jobs not on their way out (a deleted job shows KILLING for a moment)."""
    return sorted(j["job_name"] for j in sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"] if int(j["status"]) != 9)


def mutations(sim):
    return sum(n for route, n in sim.stats.items() if route.split(" ")[0] in ("POST", "PUT", "DELETE"))


# -- status ----------------------------------------------------------------------


def test_status_lists_live_jobs_with_their_service_urls(sim):
    a = seed(sim, "st-a")
    seed(sim, "st-b", status=3)
    result = run("status", sim=sim)
    assert result.code == 0, result.all
    header, row_a, row_b = result.out.splitlines()[:3]
    assert header.split() == ["NAME", "STATUS", "AGE", "SERVICE", "URL"]
    assert row_a.split()[:2] == ["st-a", "RUNNING"] and a["service_url"] and row_a.endswith(a["service_url"])
    assert row_b.split()[:2] == ["st-b", "IMAGE_FAILED"]
    assert "2 live jobs." in result.out


def test_status_of_declared_jobs_says_which_are_missing(tmp_path, sim):
    seed(sim, "st-a")
    seed(sim, "other")
    m = manifest_of(tmp_path / "m.yaml", "st-a", "st-gone")
    text = run("status", str(m), sim=sim)
    assert text.code == 0, text.all
    assert "other" not in text.out
    assert [line.split()[:2] for line in text.out.splitlines()[1:3]] == [["st-a", "RUNNING"], ["st-gone", "MISSING"]]
    assert "1 live job, 1 declared but missing." in text.out

    data = json.loads(run("status", "-f", str(m), "--output", "json", sim=sim).out)
    assert [j["job_name"] for j in data["jobs"]] == ["st-a"] and data["missing"] == ["st-gone"]
    assert data["jobs"][0]["service_url"].startswith("http") and data["jobs"][0]["age_seconds"] >= 0
    assert mutations(sim) == 0


def test_status_of_a_job_listed_without_create_time_shows_no_age():
    with SimServer(SimConfig(sparse_list_items=True, **FAST)) as sparse:
        seed(sparse, "st-sparse")
        text = run("status", sim=sparse)
        data = run("status", "-o", "json", sim=sparse)
    assert text.code == 0, text.all
    assert text.out.splitlines()[1].split()[:3] == ["st-sparse", "RUNNING", "-"]
    assert [(j["job_name"], j["age_seconds"]) for j in json.loads(data.out)["jobs"]] == [("st-sparse", None)]


def test_age_is_short():
    assert [age(None), age(5), age(61), age(7200), age(3 * 86400)] == ["-", "5s", "1m", "2h", "3d"]


# -- export ----------------------------------------------------------------------


def test_export_then_plan_shows_no_changes(tmp_path, sim):
    seed(sim, "ex-tb", job_desc="curves: v1", job_type="tensorboard", flavor={"code": "modelarts.vm.cpu.2u"}, schedule={"type": "stop", "time_unit": "HOURS", "duration": 4})
    seed(sim, "ex-mi", job_type="mindinsight", schedule=[{"type": "stop", "time_unit": "HOURS", "duration": 2}])
    seed(sim, "ex-plain")
    seed(sim, "dup")
    seed(sim, "dup")
    seed(sim, "not-me")

    exported = run("export", "--match", "ex-*", sim=sim)
    assert exported.code == 0, exported.all
    assert sim.stats["GET detail"] == 3  # the fields the list lacks, once per exported job
    data = yaml.safe_load(exported.out)
    assert data["jobs"][0] == {"job_name": "ex-mi", "train_url": "/bucket/ex-mi/logs/", "job_type": "mindinsight", "schedule": {"duration": 2}}
    assert data["jobs"][2] == {
        "job_name": "ex-tb", "train_url": "/bucket/ex-tb/logs/", "job_desc": "curves: v1", "job_type": "tensorboard",
        "flavor": {"code": "modelarts.vm.cpu.2u"}, "schedule": {"duration": 4},
    }
    m = tmp_path / "jobs.yaml"
    m.write_text(exported.out)
    assert run("validate", str(m)).code == 0

    planned = run("plan", str(m), "--detailed-exitcode", sim=sim)
    assert planned.code == 0, planned.all
    assert "No changes. 3 of 3 declared jobs running as declared." in planned.out

    everything = run("export", sim=sim)
    assert "Skipped dup: 2 live jobs share this name" in everything.err
    assert [j["job_name"] for j in yaml.safe_load(everything.out)["jobs"]] == ["ex-mi", "ex-plain", "ex-tb", "not-me"]
    assert mutations(sim) == 0


# -- wait ------------------------------------------------------------------------


def test_wait_waits_for_declared_jobs_and_creates_nothing(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "w-a", "w-b")
    started = run("apply", str(m), "-y", "--no-wait", sim=sim)
    assert started.code == 0, started.all
    waited = run("wait", str(m), "--timeout", "30s", sim=sim)
    assert waited.code == 0, waited.all
    assert "2 of 2 running" in waited.out and "https://" in waited.out
    assert sim.stats["POST create"] == 2  # the apply's, none from wait
    assert mutations(sim) == 2


def test_wait_fails_for_a_missing_or_stopped_job(tmp_path, sim):
    seed(sim, "w-stopped", status=12)
    m = manifest_of(tmp_path / "m.yaml", "w-missing", "w-stopped")
    result = run("wait", "-f", str(m), "--timeout", "1s", sim=sim)
    assert result.code == 3, result.all
    assert "w-missing: failed" in result.out and "not found" in result.out
    assert "w-stopped: failed, KILLED" in result.out
    assert mutations(sim) == 0


def test_wait_times_out_with_the_last_status(tmp_path):
    with SimServer(SimConfig(startup_seconds=30)) as slow:
        m = manifest_of(tmp_path / "m.yaml", "w-slow")
        assert run("apply", str(m), "-y", "--no-wait", sim=slow).code == 0
        result = run("wait", str(m), "--timeout", "1s", sim=slow)
    assert result.code == 3
    assert "timed out" in result.out and "after 1s" in result.out


# -- destroy ---------------------------------------------------------------------


def test_destroy_asks_how_many_then_deletes_only_the_declared_jobs(tmp_path, sim):
    for name in ("d-a", "d-b", "keep"):
        seed(sim, name)
    m = manifest_of(tmp_path / "m.yaml", "d-a", "d-b", "d-never")

    refused = run("destroy", str(m), sim=sim)
    assert refused.code == 1 and "--auto-approve" in refused.err
    no = run("destroy", str(m), sim=sim, tty=True, stdin="no\n")
    assert no.code == 1 and f"Delete 2 jobs (d-a, d-b) of project proj-1 at {sim.url}?" in no.err and "cancelled" in no.err
    assert mutations(sim) == 0

    yes = run("destroy", str(m), sim=sim, tty=True, stdin="yes\n")
    assert yes.code == 0, yes.all
    assert "- d-a" in yes.out and "Not found, nothing to delete: d-never" in yes.out
    assert sim.stats["DELETE delete"] == 2
    assert live_names(sim) == ["keep"]


def test_destroy_with_target_and_json(tmp_path, sim):
    seed(sim, "d-a")
    seed(sim, "d-b")
    m = manifest_of(tmp_path / "m.yaml", "d-a", "d-b")
    result = run("destroy", str(m), "--target", "d-b", "-y", "--output", "json", sim=sim)
    assert result.code == 0, result.all
    summary = json.loads(result.out.splitlines()[-1])
    assert summary["type"] == "summary" and [(j["job_name"], j["outcome"]) for j in summary["jobs"]] == [("d-b", "deleted")]
    assert live_names(sim) == ["d-a"]


def test_destroy_gives_up_at_its_timeout_while_a_delete_never_finishes(tmp_path):
    """The applier gets destroy's --timeout: a job that stays KILLING ends the run at it, exit 3."""
    with SimServer(SimConfig(startup_seconds=0.1, delete_seconds=600)) as slow:
        seed(slow, "d-slow")
        m = manifest_of(tmp_path / "m.yaml", "d-slow")
        started = time.monotonic()
        result = run("destroy", str(m), "-y", "--timeout", "2s", sim=slow)
        took = time.monotonic() - started
    assert result.code == 3, result.all
    assert "d-slow  timed out, KILLING (job 1): still KILLING after 2s" in result.out
    assert took < 30  # the default --timeout is 30 minutes: a destroy not given its own would still be waiting


def test_destroy_of_a_drifted_job_shows_the_delete_not_the_drift(tmp_path, sim):
    seed(sim, "d-failed", status=3)
    m = manifest_of(tmp_path / "m.yaml", "d-failed")
    planned = run("plan", str(m), "-o", "json", sim=sim)
    drift_notes = [c["notes"] for c in json.loads(planned.out)["changes"]]
    assert drift_notes and drift_notes[0], planned.out  # the plan has a note to drop
    result = run("destroy", str(m), "-y", "-o", "json", sim=sim)
    assert result.code == 0, result.all
    shown = json.loads(result.out.splitlines()[0])["plan"]
    assert [(c["action"], c["notes"]) for c in shown["changes"]] == [("delete", [])]


# -- service URL in apply ----------------------------------------------------------


def test_apply_shows_the_service_url_of_every_job(tmp_path, sim):
    running = seed(sim, "u-old")
    m = manifest_of(tmp_path / "m.yaml", "u-old", "u-new")
    text = run("apply", str(m), "-y", sim=sim)
    assert text.code == 0, text.all
    summary = text.out.split("Apply complete")[1]
    assert running["service_url"] in summary and summary.count("https://") == 2

    events = [json.loads(line) for line in run("apply", str(m), "-y", "-o", "json", sim=sim).out.splitlines()]
    final = events[-1]
    assert final["type"] == "summary" and all(j["service_url"].startswith("https://") for j in final["jobs"])


# -- show, schema, version ---------------------------------------------------------


def test_show_renders_a_saved_plan_in_every_format(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "s-a")
    plan_file = tmp_path / "plan.json"
    assert run("plan", str(m), "--out", str(plan_file), sim=sim).code == 0
    calls = dict(sim.stats)
    assert "+ s-a" in run("show", str(plan_file)).out
    assert json.loads(run("show", str(plan_file), "-o", "json").out)["changes"][0]["job_name"] == "s-a"
    assert "`s-a`" in run("show", str(plan_file), "--output", "markdown").out
    assert dict(sim.stats) == calls  # offline
    assert run("show", str(tmp_path / "nope.json")).code == 1


def test_show_names_undeclared_jobs_with_v_and_colours_only_on_a_terminal(tmp_path, sim):
    seed(sim, "s-undeclared")
    m = manifest_of(tmp_path / "m.yaml", "s-new")
    plan_file = tmp_path / "plan.json"
    assert run("plan", str(m), "--out", str(plan_file), sim=sim).code == 0
    plain = run("show", str(plan_file))
    verbose = run("show", "-v", str(plan_file))
    assert "s-undeclared" not in plain.out and "names with -v" in plain.out
    assert "    s-undeclared" in verbose.out and "names with -v" not in verbose.out
    assert "\033[" not in plain.out
    coloured = run("show", str(plan_file), tty=True)
    assert "\033[" in coloured.out and "s-new" in coloured.out
    assert "\033[" not in run("show", "--no-color", str(plan_file), tty=True).out


def test_schema_and_version():
    schema = run("schema")
    assert schema.code == 0 and json.loads(schema.out) == json.loads((REPO / "schemas" / "manifest.schema.json").read_text())
    from vizctl import __version__

    assert run("version").out.strip() == f"vizctl {__version__}"


# -- completion --------------------------------------------------------------------


def bash_complete(line: str) -> list[str]:
    script = run("completion", "bash").out
    words = line.split(" ")
    program = (
        script + f"\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; _vizctl; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    return subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=10, check=True).stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completion_knows_commands_flags_and_values():
    assert {"plan", "apply", "status", "export", "wait", "destroy", "completion"} <= set(bash_complete("vizctl "))
    assert bash_complete("vizctl pl") == ["plan"]
    assert "--detailed-exitcode" in bash_complete("vizctl plan --d")
    assert "--auto-approve" not in bash_complete("vizctl plan --")
    assert bash_complete("vizctl plan --output ") == ["text", "json", "markdown"]
    assert bash_complete("vizctl completion ") == ["bash", "zsh", "fish"]
    assert bash_complete("vizctl -v sim ") == ["serve"]


def test_zsh_and_fish_completion_scripts():
    zsh = run("completion", "zsh").out
    assert zsh.startswith("#compdef vizctl") and "bashcompinit" in zsh and "complete -o filenames" in zsh
    fish = run("completion", "fish").out
    assert "complete -c vizctl -n __fish_use_subcommand -a destroy" in fish
    assert "complete -c vizctl -n '__fish_seen_subcommand_from plan' -l output -s o" in fish or "-s o -l output" in fish
    assert "-l detailed-exitcode" in fish


def test_show_says_what_plan_said_of_the_jobs_no_manifest_declares(tmp_path, sim):
    """A CI step that posts `vizctl show plan.json --output markdown` must warn of a prune as the plan did."""
    seed(sim, "team-b")
    seed(sim, "other")
    m = tmp_path / "m.yaml"
    m.write_text("prune:\n  prefix: team-\njobs:\n  - job_name: team-a\n    train_url: /bucket/a/logs/\n")
    plan_file = tmp_path / "plan.json"
    for output in ("text", "markdown", "json"):
        planned = run("plan", str(m), "--out", str(plan_file), "-o", output, sim=sim)
        shown = run("show", str(plan_file), "-o", output)
        assert planned.code == shown.code == 0
        assert shown.out == planned.out.replace(f"Saved the plan to {plan_file}; apply it with: vizctl apply {plan_file}\n", "")
        assert "team-b" in shown.out
