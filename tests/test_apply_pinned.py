"""Applier behaviour that mutation testing found unpinned (tests/MUTATION.md), against the simulator over loopback."""

from __future__ import annotations

import io
import json
import time

from cliutil import TOKEN, manifest_of, run
from vizctl.apply import Applier, ApplySettings
from vizctl.auth import TokenAuth
from vizctl.client import ModelArtsClient
from vizctl.environment import Environment
from vizctl.manager import load_plan
from vizctl.progress import JsonReporter
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer


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
