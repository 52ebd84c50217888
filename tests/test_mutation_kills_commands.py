"""Kill-tests of mutation part 3 (tests/MUTATION.md): apply's confirmation and run, the session, the commands,
through the real CLI against the simulator over loopback HTTP (and a few pure functions)."""

from __future__ import annotations

import json

import pytest

from cliutil import manifest_of, run
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

FAST = dict(startup_seconds=0.2, delete_seconds=0.05, stop_seconds=0.05, retry_after=0.05)


@pytest.fixture
def sim():
    with SimServer(SimConfig(**FAST)) as server:
        yield server


def seed(sim, *names, **fields):
    return sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/bucket/{n}/logs/", "running": True, **fields} for n in names])


# -- applying/run.py ---------------------------------------------------------------------------------


def test_the_prompt_asks_the_question_and_waits_on_the_same_line_and_no_is_one_error(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pr-1")
    result = run("apply", "-f", str(m), sim=sim, tty=True, stdin="no\n")
    assert result.code == 1
    assert result.err == "Apply these changes? Only 'yes' is accepted: Error: cancelled; nothing was changed\n"
    assert sim.stats["POST create"] == 0


def test_apply_json_starts_with_the_plan_it_carries_out(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pj-1", "pj-2")
    seed(sim, "pj-2")
    result = run("apply", "-f", str(m), "-y", "-o", "json", sim=sim)
    first = json.loads(result.out.splitlines()[0])
    assert first["type"] == "plan"
    assert {c["job_name"]: c["action"] for c in first["plan"]["changes"]} == {"pj-1": "create", "pj-2": "no-op"}


def test_apply_verbose_shows_the_plan_verbose(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pv-1")
    seed(sim, "pv-other")
    quiet = run("apply", "-f", str(m), "-y", sim=sim)
    assert "(left alone; names with -v)" in quiet.out and "pv-other" not in quiet.out
    seed(sim, "pv-more")
    verbose = run("apply", "-f", str(m), "-y", "-v", sim=sim)
    assert "live jobs not declared in any manifest (left alone)\n    pv-more\n    pv-other" in verbose.out
