"""apply, wait and destroy say no more than the list showed: a delete is 'deleted' once the list no
longer shows the job, each command's summary uses its own words, a job's outcome is one event (a
later read's change is a correction), and the counts count what they say. The real CLI against
the simulator over loopback HTTP."""

from __future__ import annotations

import io
import json
from collections import Counter

from cliutil import TOKEN, manifest_of, run, run_in_thread, spawn, summary_after_ctrl_c, wait_until, write
from vizctl.applying.machine import Applier, ApplySettings, JobResult, Outcome
from vizctl.api.auth import TokenAuth
from vizctl.api.client import ModelArtsClient
from vizctl.environment import Environment
from vizctl.planning.manager import load_plan
from vizctl.planning.plan import Action
from vizctl.applying.progress import JsonReporter, TextReporter
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer



def listed(sim):
    """Every job the list shows, KILLING ones included: (name, status)."""
    return sorted((j["job_name"], int(j["status"])) for j in sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"])


def seed(sim, *names):
    return sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/bucket/{n}/logs/", "running": True} for n in names])


def events(result):
    return [json.loads(line) for line in result.out.splitlines()]


# -- deletes: 'deleted' once the list no longer shows the job --------------------------------------


def test_destroy_says_deleted_only_once_the_list_no_longer_shows_the_job(tmp_path):
    with SimServer(SimConfig(delete_seconds=1.0)) as sim:
        seed(sim, "dd-a", "dd-b")
        m = manifest_of(tmp_path / "m.yaml", "dd-a", "dd-b")
        result = run("destroy", str(m), "-y", sim=sim)
        assert result.code == 0, result.all
        assert listed(sim) == []  # not KILLING: gone
        assert "✓ dd-a: deleted" in result.out
        assert "Destroy complete in " in result.out and ": 2 deleted." in result.out
        assert "Apply" not in result.out and "running" not in result.out.split("Destroy complete")[1]


def test_prune_waits_for_the_deleted_job_to_go_in_the_same_list_rounds(tmp_path):
    with SimServer(SimConfig(delete_seconds=1.0, startup_seconds=0.3)) as sim:
        seed(sim, "pr-old", "pr-keep")
        write(tmp_path / "m.yaml", "prune: {prefix: pr-}\njobs:\n  - {job_name: pr-keep, train_url: /bucket/pr-keep/logs/}\n"
              "  - {job_name: pr-new, train_url: /bucket/pr-new/logs/}\n")
        result = run("apply", str(tmp_path / "m.yaml"), "-y", "--prune", "-o", "json", sim=sim)
        assert result.code == 0, result.all
        assert listed(sim) == [("pr-keep", 8), ("pr-new", 8)]
        stream = events(result)
        [deleted] = [e for e in stream if e.get("outcome") == "deleted" and e["type"] == "apply_complete"]
        assert deleted["elapsed"] >= 1.0  # after delete_seconds, not when the DELETE was answered
        summary = stream[-1]
        assert summary["command"] == "apply" and summary["outcomes"] == {"created": 1, "deleted": 1, "unchanged": 1}
        assert summary["running"] == 2


def test_the_running_count_counts_the_jobs_meant_to_run(tmp_path):
    with SimServer(SimConfig(delete_seconds=0.1)) as sim:
        seed(sim, "rc-old", "rc-keep")
        write(tmp_path / "m.yaml", "prune: {prefix: rc-}\njobs:\n  - {job_name: rc-keep, train_url: /bucket/rc-keep/logs/}\n")
        result = run("apply", str(tmp_path / "m.yaml"), "-y", "--prune", "--force", sim=sim)
        assert result.code == 0, result.all
        assert "Apply complete in " in result.out and ": 1 deleted, 1 unchanged; 1 of 1 running." in result.out


def test_a_job_still_listed_at_the_timeout_is_not_deleted(tmp_path):
    with SimServer(SimConfig(delete_seconds=30)) as sim:
        [job] = seed(sim, "slow-del")
        m = manifest_of(tmp_path / "m.yaml", "slow-del")
        result = run("destroy", str(m), "-y", "--timeout", "1s", sim=sim)
        assert result.code == 3, result.all
        assert f"✗ slow-del  timed out, KILLING (job {job['job_id']}): still KILLING after 1s" in result.out
        assert "Destroy finished with problems" in result.out and "deleted" not in result.out.split("Destroy finished")[1]


def test_a_delete_that_fails_ends_failed_with_the_status(tmp_path):
    with SimServer(SimConfig(delete_seconds=30)) as sim:
        [job] = seed(sim, "bad-del")
        m = manifest_of(tmp_path / "m.yaml", "bad-del")
        thread, box = run_in_thread("destroy", str(m), "-y", "--timeout", "20s", sim=sim)
        wait_until(lambda: sim.stats["DELETE delete"] == 1)
        sim.state.set_fail("proj-1", job["job_id"], 6)  # DELETE_FAILED
        thread.join(30)
        result = box["result"]
        assert result.code == 3, result.all
        assert f"✗ bad-del  failed, DELETE_FAILED (job {job['job_id']})" in result.out


def test_destroy_of_a_job_already_being_deleted_waits_for_it_instead_of_failing(tmp_path):
    # e.g. destroy run again after a Ctrl-C: the API refuses a delete of a KILLING job
    with SimServer(SimConfig(delete_seconds=1.0)) as sim:
        [job] = seed(sim, "again-del")
        sim.state.delete_job("proj-1", str(job["job_id"]))
        m = manifest_of(tmp_path / "m.yaml", "again-del")
        result = run("destroy", str(m), "-y", sim=sim)
        assert result.code == 0, result.all
        assert "✓ again-del: deleted" in result.out and listed(sim) == []
        assert sim.stats["DELETE delete"] == 0


def test_no_wait_says_deleting_until_a_read_shows_the_job_gone(tmp_path):
    with SimServer(SimConfig(delete_seconds=30)) as sim:
        [job] = seed(sim, "nw-old")
        write(tmp_path / "m.yaml", "prune: {prefix: nw-}\njobs: []\n")
        result = run("apply", str(tmp_path / "m.yaml"), "-y", "--prune", "--force", "--no-wait", sim=sim)
        assert result.code == 0, result.all
        assert f"✓ nw-old  deleting (job {job['job_id']}): not waited for (--no-wait)" in result.out
        assert listed(sim) == [("nw-old", 9)]
    with SimServer(SimConfig(delete_seconds=0)) as sim:  # gone by the final read
        seed(sim, "nw-old")
        result = run("apply", str(tmp_path / "m.yaml"), "-y", "--prune", "--force", "--no-wait", "-o", "json", sim=sim)
        assert result.code == 0, result.all
        stream = events(result)
        assert [(e["type"], e["outcome"]) for e in stream if e.get("job_name") == "nw-old" and "outcome" in e] == [
            ("apply_complete", "deleting"), ("apply_corrected", "deleted"),
        ]
        assert stream[-1]["jobs"][0]["outcome"] == "deleted"


def test_ctrl_c_while_a_delete_is_under_way_says_not_yet_deleted(tmp_path):
    with SimServer(SimConfig(delete_seconds=60)) as sim:
        seed(sim, "cc-del")
        m = manifest_of(tmp_path / "m.yaml", "cc-del")
        process = spawn(sim, "destroy", str(m), "-y", "-o", "json")
        summary = summary_after_ctrl_c(process, '"waiting"')  # a wait round: the delete was accepted
        assert summary["command"] == "destroy" and summary["ok"] is False
        job = summary["jobs"][0]
        assert (job["done"], job["outcome"], job["status_name"]) == ("deleting", "not yet deleted", "KILLING")


# -- each command's own words ------------------------------------------------------------------


def test_wait_says_wait_in_text_and_json(tmp_path):
    with SimServer(SimConfig(startup_seconds=0.3)) as sim:
        seed(sim, "ww-a")
        m = manifest_of(tmp_path / "m.yaml", "ww-a")
        text = run("wait", str(m), sim=sim)
        assert text.code == 0, text.all
        assert "Wait complete in " in text.out and "1 of 1 running." in text.out and "Apply" not in text.out
        summary = events(run("wait", str(m), "-o", "json", sim=sim))[-1]
        assert summary["type"] == "summary" and summary["command"] == "wait" and summary["ok"] is True


def summary_line(command, results):
    out = io.StringIO()
    TextReporter(Environment(stdout=out), command).summary(results, 1.0)
    return out.getvalue().strip().splitlines()[0]


def test_each_summary_says_its_command_and_counts_only_the_jobs_meant_to_run():
    running = JobResult("a", Action.CREATE, Outcome.CREATED, job_id="1", status=8)
    deleted = JobResult("b", Action.DELETE, Outcome.DELETED, job_id="2")
    late = JobResult("c", Action.DELETE, Outcome.TIMED_OUT, "still KILLING after 1s", job_id="3", status=9)
    assert summary_line("apply", [running, deleted]) == "Apply complete in 1.0s: 1 created, 1 deleted; 1 of 1 running."
    assert summary_line("wait", [running]) == "Wait complete in 1.0s: 1 created; 1 of 1 running."
    assert summary_line("destroy", [deleted, late]) == "Destroy finished with problems in 1.0s: 1 deleted, 1 timed out."
    out = io.StringIO()
    JsonReporter(Environment(stdout=out), "destroy").summary([deleted], 1.0)
    assert json.loads(out.getvalue())["command"] == "destroy"


# -- one outcome event per job -----------------------------------------------------------------


def test_a_job_the_final_read_corrects_has_one_outcome_event_and_one_correction(tmp_path):
    with SimServer(SimConfig(startup_seconds=1.0, delete_seconds=0.1)) as sim:
        [old] = seed(sim, "co-gone")
        m = manifest_of(tmp_path / "m.yaml", "co-gone", "co-new")
        thread, box = run_in_thread("apply", str(m), "-y", "-o", "json", sim=sim)
        wait_until(lambda: sim.stats["POST create"] == 1)
        sim.state.delete_job("proj-1", str(old["job_id"]))  # deleted behind the apply's back
        thread.join(30)
        result = box["result"]
        assert result.code == 3, result.all
        stream = events(result)
        outcomes = Counter(e["job_name"] for e in stream if e["type"] in ("apply_complete", "apply_errored"))
        assert outcomes == {"co-gone": 1, "co-new": 1}
        [correction] = [e for e in stream if e["type"] == "apply_corrected"]
        assert (correction["job_name"], correction["outcome"], correction["was"], correction["ok"]) == ("co-gone", "missing", "unchanged", False)


# -- counts and exit codes ---------------------------------------------------------------------


def test_wait_lets_a_job_stay_stopped_where_its_manifest_allows(tmp_path):
    with SimServer(SimConfig()) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": "ks-a", "train_url": "/bucket/ks-a/logs/", "status": 12}])
        m = manifest_of(tmp_path / "m.yaml", "ks-a", restart_stopped="false")
        assert run("apply", str(m), "-y", sim=sim).code == 0  # apply leaves it stopped and calls that converged ...
        result = run("wait", str(m), "--timeout", "1s", sim=sim)
        assert result.code == 0, result.all  # ... and so does wait
        assert "✓ ks-a: unchanged, KILLED" in result.out


def test_wait_and_destroy_exit_1_when_the_list_cannot_be_read(tmp_path):
    with SimServer(SimConfig(token="other")) as sim:  # every request: 401
        m = manifest_of(tmp_path / "m.yaml", "lr-a")
        for argv in (("wait", str(m)), ("destroy", str(m), "-y")):
            result = run(*argv, sim=sim)
            assert result.code == 1, result.all
            assert "401" in result.err and "complete" not in result.all


def test_destroy_of_a_name_shared_by_several_jobs_is_not_nothing_to_destroy(tmp_path):
    with SimServer(SimConfig()) as sim:
        seed(sim, "shared", "shared")
        m = manifest_of(tmp_path / "m.yaml", "shared", "never")
        result = run("destroy", str(m), "-y", "-o", "json", sim=sim)
        assert result.code == 3, result.all  # it exists; destroy just will not pick one
        assert "no declared job exists" not in result.err
        summary = events(result)[-1]
        assert summary["command"] == "destroy" and [(j["job_name"], j["outcome"]) for j in summary["jobs"]] == [("shared", "failed")]
        assert events(result)[0]["plan"]["connection"] == {"endpoint": sim.url, "project_id": "proj-1"}  # which project it read
        assert len(listed(sim)) == 2
        nothing = run("destroy", str(manifest_of(tmp_path / "n.yaml", "never")), "-y", "-o", "json", sim=sim)
        assert nothing.code == 0 and "Nothing to destroy" in nothing.err
        assert events(nothing)[-1]["type"] == "summary" and events(nothing)[-1]["jobs"] == []  # JSON readers get an end too


def test_a_final_read_that_fails_is_said_not_passed_over(tmp_path):
    with SimServer(SimConfig(startup_seconds=0.3)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "fr-a")
        assert run("plan", str(m), "--out", str(tmp_path / "plan.json"), sim=sim).code == 0
        out = io.StringIO()

        class RevokedOnceSettled(JsonReporter):  # the API starts refusing between the wait and the final read
            def job_settled(self, result):
                super().job_settled(result)
                sim.config.update({"token": "revoked"})

        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        settings = ApplySettings(poll_min=0.1, list_lag=0)
        [result] = Applier(client, RevokedOnceSettled(Environment(stdout=out)), settings).run(load_plan(str(tmp_path / "plan.json")).plan)
        assert result.outcome.value == "created"  # what the wait's read showed ...
        [note] = [e for e in map(json.loads, out.getvalue().splitlines()) if e["type"] == "apply_unverified"]
        assert "401" in note["detail"]  # ... and that nothing read it since


def test_a_drifted_job_deleted_during_the_apply_ends_missing(tmp_path):
    with SimServer(SimConfig(startup_seconds=1.0, delete_seconds=0.1)) as sim:
        [old] = seed(sim, "dm-old")
        write(tmp_path / "m.yaml", "jobs:\n  - {job_name: dm-old, train_url: /bucket/moved/}\n  - {job_name: dm-new, train_url: /bucket/dm-new/}\n")
        thread, box = run_in_thread("apply", str(tmp_path / "m.yaml"), "-y", sim=sim)
        wait_until(lambda: sim.stats["POST create"] == 1)
        sim.state.delete_job("proj-1", str(old["job_id"]))
        thread.join(30)
        result = box["result"]
        assert result.code == 3, result.all
        assert f"✗ dm-old  missing (job {old['job_id']}): job {old['job_id']} is no longer listed\n" in result.out  # no link to it
