"""Smoke test of benchmarks/run.py: the quick run works end to end, and its API call counts are right.

Times and ratios are judged by the benchmark itself (exit status 3 when a target is missed), not
here: a slow or busy machine must not fail the tests. Request counts do not depend on the machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (case, contender) -> the API calls its row must show, at the quick scale against the fixed server:
# 100 declared jobs (95 live, 5 new) against 500 live; 30 new jobs to apply. vizctl reads each
# listing's page 1 newest-first as well, as a cross-check that the list is whole: one more call.
EXPECTED_CALLS = {
    ("plan 100 vs 500 live", "vizctl plan"): r"GET list 2",
    ("plan 100 vs 500 live", "naive loop"): r"GET list 1",
    ("plan 100 vs 500 live", "sdk per job (one details read per job)"): r"GET detail 95, GET list 1",
    ("plan with job_type, 95 details", "vizctl plan, cold cache"): r"GET detail 95, GET list 2",
    ("plan with job_type, 95 details", "vizctl plan, warm cache (2nd run)"): r"GET list 2",
    ("apply 30 new jobs, 2 s startup", "vizctl apply"): r"GET list \d+, POST create 30",
    ("apply 30 new jobs, 2 s startup", "naive loop"): r"GET list \d+, POST create 30",
    ("scale: plan 100 vs 5000 live", "vizctl plan"): r"GET list 6",
}


def test_quick_benchmark_runs_every_case_with_the_right_api_calls(tmp_path):
    out = tmp_path / "r.md"
    run = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--repeats", "1", "--backend", "fixed", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode in (0, 3), f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# vizctl benchmark results (quick run)")
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]
    calls = {(row[0], row[2]): row[6] for row in cells if len(row) == 9}
    for key, pattern in EXPECTED_CALLS.items():
        assert key in calls, f"no row for {key}:\n{text}"
        assert re.fullmatch(pattern, calls[key]), f"{key}: {calls[key]!r} is not {pattern!r}"
    verdicts = [row for row in cells if len(row) == 5 and row[0] != "case"]
    assert len(verdicts) >= 9 and all(row[4] in ("PASS", "**FAIL**") for row in verdicts), verdicts
