"""Applier behaviour that mutation testing found unpinned (tests/MUTATION.md), against the simulator over loopback."""

from __future__ import annotations

import io
import json
import time

import pytest

from cliutil import TOKEN, manifest_of, run
from test_apply_truth import saved_plan
from vizctl.applying.machine import Applier, ApplySettings
from vizctl.api.auth import TokenAuth
from vizctl.api.client import ModelArtsClient
from vizctl.environment import Environment
from vizctl.planning.manager import load_plan
from vizctl.applying.progress import JsonReporter
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimState


def test_a_final_read_again_that_fails_keeps_what_the_last_good_read_showed(tmp_path):
    with SimServer(SimConfig(startup_seconds=0.2)) as sim:
        assert run("plan", str(manifest_of(tmp_path / "m.yaml", "fa-a")), "--out", str(tmp_path / "plan.json"), sim=sim).code == 0
        out, settled = io.StringIO(), []

        class RivalOnceSettled(JsonReporter):  # another live job of the name appears once the wait has ended
            def job_settled(self, result):
                super().job_settled(result)
                settled.append(result)
                sim.state.seed_jobs("proj-1", [{"job_name": "fa-a", "train_url": "/bucket/fa-a/logs/", "running": True}])

        def revoke(seconds):  # the final read shows two jobs named fa-a; while waiting to read again, the token is revoked
            if settled:
                sim.config.update({"token": "revoked"})
            time.sleep(seconds)

        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        settings = ApplySettings(poll_min=0.05, list_lag=5)
        applier = Applier(client, RivalOnceSettled(Environment(stdout=out)), settings, sleep=revoke)
        [result] = applier.run(load_plan(str(tmp_path / "plan.json")).plan)
    assert result.outcome.value == "duplicate"  # as the good read showed it, not "unverified"
    assert "apply_unverified" not in [json.loads(line)["type"] for line in out.getvalue().splitlines()]


def test_a_round_that_sees_a_job_run_brings_the_next_round_back_to_poll_min(tmp_path):
    now = [1_700_000_000.0]  # one stepped clock for the simulator and the applier: no real waiting
    sleeps: list[float] = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    state = SimState(SimConfig(startup_seconds=5.0), clock=lambda: now[0])
    with SimServer(state=state) as sim:
        state.seed_jobs("proj-1", [{"job_name": "pm-a", "train_url": "/bucket/pm-a/logs/"}])  # runs at +5 s
        now[0] += 3
        state.seed_jobs("proj-1", [{"job_name": "pm-b", "train_url": "/bucket/pm-b/logs/"}])  # runs at +8 s
        plan_file = saved_plan(tmp_path, sim, "-f", str(manifest_of(tmp_path / "m.yaml", "pm-a", "pm-b")))
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        settings = ApplySettings(poll_min=0.5, poll_max=1.0, list_lag=0)
        applier = Applier(client, JsonReporter(Environment(stdout=io.StringIO())), settings, clock=lambda: now[0], sleep=sleep)
        assert [r.outcome.value for r in applier.run(load_plan(plan_file).plan)] == ["unchanged"] * 2
    # backing off from +3 s; the round at +5.88 s sees pm-a run: pm-b should run 3 s later, beyond the
    # interval, so the next round comes poll_min later, not the backed-off 1 s
    assert sleeps[:5] == pytest.approx([0.5, 0.625, 0.78125, 0.9765625, 0.5])
