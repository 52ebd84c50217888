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
