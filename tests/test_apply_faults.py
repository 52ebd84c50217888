"""Apply under faults and at scale: no job created twice, every job running, Ctrl-C, prune."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest

from cliutil import manifest_of, run, spawn, summary_after_ctrl_c, wait_for_line
from soak import scale
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

FAST = dict(startup_seconds=0.3, delete_seconds=0.1, stop_seconds=0.1, retry_after=0.05)


def live_names(sim):
    return [j["job_name"] for j in sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"]]


FAULTS = {
    "429": dict(rate_429=0.2),
    "5xx": dict(rate_5xx=0.2),
    "drop": dict(rate_drop=0.2),
    "lost-response": dict(rate_lost_response=0.2),
    "mixed": dict(rate_429=0.05, rate_5xx=0.05, rate_drop=0.05, rate_lost_response=0.05),
}


@pytest.mark.hardening
@pytest.mark.parametrize("sim_seed", scale([7], range(7, 10)))
@pytest.mark.parametrize("kind", FAULTS)
def test_twenty_percent_faults_converge_without_duplicates(tmp_path, kind, sim_seed):
    names = [f"ft-{i}" for i in range(20)]
    with SimServer(SimConfig(seed=sim_seed, **FAST, **FAULTS[kind])) as sim:
        m = manifest_of(tmp_path / "m.yaml", *names)
        lag = ("--list-lag", "0.5")  # the simulator's list shows a job at once; the default would wait 10 s per lost create
        first = run("apply", "-f", str(m), "--auto-approve", *lag, sim=sim)
        assert "Traceback" not in first.all
        if first.code != 0:  # at most one re-run
            second = run("apply", "-f", str(m), "--auto-approve", *lag, sim=sim)
            assert second.code == 0, second.all
        assert sim.stats["faults"] > 0
        counts = Counter(live_names(sim))
        assert sorted(counts) == sorted(names)
        assert max(counts.values()) == 1, f"duplicates: {counts.most_common(3)}"
        statuses = {j["status"] for j in sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"]}
        assert statuses == {8}


@pytest.mark.hardening
def test_lost_create_responses_are_adopted_not_recreated(tmp_path):
    with SimServer(SimConfig(rate_lost_response=1.0, **FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "lost-1", "lost-2")
        result = run("apply", "-f", str(m), "--auto-approve", sim=sim)
        assert result.code == 0, result.all
        assert sim.stats["POST create"] == 2  # one each: the re-read found them
        assert sorted(live_names(sim)) == ["lost-1", "lost-2"]


@pytest.mark.hardening
def test_duplicate_name_answer_means_re_read(tmp_path):
    with SimServer(SimConfig(reject_duplicate_names=True, rate_lost_response=1.0, **FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "dn-1")
        assert run("apply", "-f", str(m), "--auto-approve", sim=sim).code == 0
        assert live_names(sim) == ["dn-1"]


def test_one_failure_does_not_stop_the_others_and_is_reported_with_its_code(tmp_path):
    with SimServer(SimConfig(quota=10, **FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "pf-1", "pf-2", "pf-3")
        plan_file = tmp_path / "plan.json"
        assert run("plan", "-f", str(m), "--out", str(plan_file), sim=sim).code == 0
        sim.config.update({"quota": 2})  # someone else used the quota meanwhile
        result = run("apply", str(plan_file), sim=sim)
        assert result.code == 3
        assert sum(1 for line in result.out.splitlines() if line.startswith("✓ pf-")) == 2
        assert "ModelArts.0106" in result.out
        assert "1 failed" in result.out
        assert sim.stats["POST create"] == 3  # the refused create was not retried


def test_client_side_rate_limit_keeps_under_flow_control(tmp_path):
    with SimServer(SimConfig(max_rps=8, **FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", *[f"rl-{i}" for i in range(10)])
        # the margin covers arrival jitter: client and simulator share one process here
        result = run("apply", "-f", str(m), "--auto-approve", "--max-rps", "4", sim=sim)
        assert result.code == 0, result.all
        assert sim.stats["faults.max_rps"] == 0


def test_wait_costs_one_list_call_per_round_whatever_the_number_of_jobs(tmp_path):
    with SimServer(SimConfig(startup_seconds=1.5, quota=5000)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": f"old-{i}", "train_url": "/b/", "running": True} for i in range(1500)])
        m = manifest_of(tmp_path / "m.yaml", *[f"w-{i}" for i in range(60)])
        result = run("apply", "-f", str(m), "--auto-approve", "--output", "json", sim=sim)
        assert result.code == 0, result.err
        rounds = sum(1 for line in result.out.splitlines() if '"waiting"' in line) + 1  # the last round settles
        plan_lists = 2 + 1  # 1560 live jobs: two pages and the newest-first cross-check, to plan, to check the new jobs' names, to verify at the end
        assert sim.stats["GET list"] == plan_lists + plan_lists + rounds + plan_lists
        assert sim.stats["GET detail"] == 0


# -- prune -----------------------------------------------------------------------------


def test_prune_deletes_only_undeclared_jobs_inside_the_scope(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        seeds = [f"team-a-{i}" for i in range(10)] + ["team-b-1", "other"]
        sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": "/b/", "running": True} for n in seeds])
        m = tmp_path / "m.yaml"
        m.write_text('prune: {prefix: "team-a-"}\njobs:\n' + "".join(f"  - {{job_name: team-a-{i}, train_url: /b/}}\n" for i in range(8)))
        result = run("apply", "-f", str(m), "--prune", "--auto-approve", sim=sim)
        assert result.code == 0, result.all
        assert "- team-a-8" in result.out and "✓ team-a-9: deleted" in result.out
        time.sleep(0.2)
        assert sorted(live_names(sim)) == sorted([f"team-a-{i}" for i in range(8)] + ["team-b-1", "other"])


def test_prune_reports_each_of_two_undeclared_jobs_sharing_a_name(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        seeds = [f"team-a-{i}" for i in range(8)] + ["team-a-old", "team-a-old"]
        sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": "/b/", "running": True} for n in seeds])
        m = tmp_path / "m.yaml"
        m.write_text('prune: {prefix: "team-a-"}\njobs:\n' + "".join(f"  - {{job_name: team-a-{i}, train_url: /b/}}\n" for i in range(8)))
        result = run("apply", "-f", str(m), "--prune", "--auto-approve", "--output", "json", sim=sim)
        assert result.code == 0, result.all
        summary = json.loads(result.out.splitlines()[-1])
        deleted = [j for j in summary["jobs"] if j["outcome"] == "deleted"]
        assert [j["job_name"] for j in deleted] == ["team-a-old", "team-a-old"]
        assert len({j["job_id"] for j in deleted}) == 2
        assert sim.stats["DELETE delete"] == 2


def test_prune_refuses_more_than_30_percent_without_force(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": f"team-a-{i}", "train_url": "/b/", "running": True} for i in range(10)])
        m = tmp_path / "m.yaml"
        m.write_text('prune: {prefix: "team-a-"}\njobs:\n' + "".join(f"  - {{job_name: team-a-{i}, train_url: /b/}}\n" for i in range(6)))
        refused = run("apply", "-f", str(m), "--prune", "--auto-approve", sim=sim)
        assert refused.code == 1 and "4 of 10" in refused.out
        assert sim.stats["DELETE delete"] == 0
        forced = run("apply", "-f", str(m), "--prune", "--force", "--auto-approve", sim=sim)
        assert forced.code == 0, forced.all
        assert sim.stats["DELETE delete"] == 4


def test_prune_refuses_to_empty_a_scope_unless_explicitly_empty_and_forced(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": f"t-{i}", "train_url": "/b/", "running": True} for i in range(2)])
        m = tmp_path / "m.yaml"
        m.write_text('prune: {prefix: "t-"}\njobs: []\n')
        assert run("apply", "-f", str(m), "--prune", "--auto-approve", sim=sim).code == 1
        assert sim.stats["DELETE delete"] == 0
        assert run("apply", "-f", str(m), "--prune", "--force", "--auto-approve", sim=sim).code == 0
        assert sim.stats["DELETE delete"] == 2


# -- Ctrl-C (a real process and a real SIGINT) -------------------------------------------


def start_apply(sim, manifest, *extra):
    return spawn(sim, "apply", "-f", str(manifest), "--auto-approve", *extra)


@pytest.mark.hardening
def test_first_ctrl_c_finishes_in_flight_work_prints_the_summary_and_exits_130(tmp_path):
    with SimServer(SimConfig(latency=0.3, startup_seconds=0.5)) as sim:
        names = [f"cc-{i}" for i in range(12)]
        m = manifest_of(tmp_path / "m.yaml", *names)
        process = start_apply(sim, m, "--parallelism", "2")
        wait_for_line(process, "create accepted")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert "Traceback" not in out + err
        assert "Interrupted" in out and "not started" in out
        assert "Apply finished with problems" in out  # the summary, after the interrupt
        created = set(live_names(sim))
        assert 0 < len(created) < len(names)

        rerun = run("apply", "-f", str(m), "--auto-approve", sim=sim)  # picks up where it stopped
        assert rerun.code == 0, rerun.all
        assert sorted(live_names(sim)) == sorted(names)


@pytest.mark.hardening
def test_second_ctrl_c_exits_at_once(tmp_path):
    with SimServer(SimConfig(latency=3.0)) as sim:  # every request takes 3 s
        m = manifest_of(tmp_path / "m.yaml", "slow-1")
        process = start_apply(sim, m, "--output", "json")
        wait_for_line(process, '"apply_start"')  # the create is in flight: the first Ctrl-C would wait for it
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        process.communicate(timeout=20)
        assert process.returncode == 130
        assert time.monotonic() - started < 2


@pytest.mark.hardening
def test_ctrl_c_while_waiting_reports_pending_jobs(tmp_path):
    with SimServer(SimConfig(startup_seconds=60)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "wait-1")
        process = start_apply(sim, m, "--output", "json")
        summary = summary_after_ctrl_c(process, '"apply_progress"')
        assert summary["type"] == "summary" and summary["ok"] is False
        job = summary["jobs"][0]
        assert (job["done"], job["outcome"]) == ("created", "not yet running") and "when interrupted" in job["detail"]
