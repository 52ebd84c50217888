"""Apply reports only what the live API showed: saved plans, output failures, read failures,
Ctrl-C wording, lagging lists, duplicates, concurrent applies and crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from cliutil import TOKEN, manifest_of, run
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

FAST = dict(startup_seconds=0.3, delete_seconds=0.1, stop_seconds=0.1, retry_after=0.05)
REPO = Path(__file__).resolve().parent.parent


def live(sim):
    return sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"]


def spawn(sim, *argv, state=None):
    env = {**os.environ, "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "vizctl", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )


# -- output failures -----------------------------------------------------------------------


def test_a_closed_output_pipe_changes_nothing_apply_does(tmp_path):
    with SimServer(SimConfig(startup_seconds=1.0)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "pipe-1", "pipe-2")
        process = spawn(sim, "apply", "-f", str(m), "--auto-approve")
        process.stdout.readline()  # `| head -1`
        process.stdout.close()
        process.wait(timeout=30)
        err = process.stderr.read()
        assert process.returncode == 0, err
        assert "Traceback" not in err and "Exception ignored" not in err
        assert sorted((j["job_name"], j["status"]) for j in live(sim)) == [("pipe-1", 8), ("pipe-2", 8)]


# -- saved plans: every job they report on is checked live -------------------------------------


def seed_running(sim, *names):
    return sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/bucket/{n}/logs/", "running": True} for n in names])


def saved_plan(tmp_path, sim, *argv):
    plan_file = tmp_path / "plan.json"
    made = run("plan", *argv, "--out", str(plan_file), sim=sim)
    assert made.code == 0, made.all
    return str(plan_file)


def test_a_saved_plan_is_stale_when_a_job_it_does_not_change_was_deleted(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        jobs = seed_running(sim, "sv-1", "sv-2", "sv-3")
        m = manifest_of(tmp_path / "m.yaml", "sv-1", "sv-2", "sv-3", "sv-4")
        plan_file = saved_plan(tmp_path, sim, "-f", str(m))
        sim.state.delete_job("proj-1", str(jobs[1]["job_id"]))
        time.sleep(0.2)  # gone from the list
        result = run("apply", plan_file, sim=sim)
        assert result.code == 1, result.all
        assert "plan is stale" in result.err and "sv-2" in result.err
        assert sim.stats["POST create"] == 0


def test_a_saved_plan_is_stale_when_a_planned_create_or_delete_no_longer_holds(tmp_path):
    with SimServer(SimConfig(**FAST)) as sim:
        m = manifest_of(tmp_path / "m.yaml", "sc-1")
        plan_file = saved_plan(tmp_path, sim, "-f", str(m))
        seed_running(sim, "sc-1")  # someone created it meanwhile
        result = run("apply", plan_file, sim=sim)
        assert result.code == 1 and "plan is stale" in result.err and "sc-1" in result.err
        assert sim.stats["POST create"] == 0

        [old] = seed_running(sim, "team-a-old")
        scoped = tmp_path / "scoped.yaml"
        scoped.write_text('prune: {prefix: "team-a-"}\njobs:\n  - {job_name: team-a-1, train_url: /b/}\n')
        seed_running(sim, "team-a-1")
        plan_file = saved_plan(tmp_path, sim, "-f", str(scoped), "--prune", "--force")
        sim.state.update_job("proj-1", str(old["job_id"]), {"job_desc": "in use again"})
        result = run("apply", plan_file, sim=sim)
        assert result.code == 1 and "plan is stale" in result.err and "team-a-old" in result.err
        assert sim.stats["DELETE delete"] == 0


def test_a_saved_plan_still_holds_when_a_starting_job_has_started(tmp_path):
    with SimServer(SimConfig(startup_seconds=0.5)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": "st-1", "train_url": "/bucket/st-1/logs/"}])
        m = manifest_of(tmp_path / "m.yaml", "st-1")
        plan_file = saved_plan(tmp_path, sim, "-f", str(m))
        time.sleep(0.6)
        result = run("apply", plan_file, sim=sim)
        assert result.code == 0, result.all
        assert "✓ st-1: unchanged, RUNNING" in result.out
