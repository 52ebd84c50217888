"""Smoke test of benchmarks/run.py: the quick run works end to end and writes every scenario.

Targets are judged by the benchmark itself (exit status 3 when one is missed), not here: a
slow or busy machine must not fail the tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# scenario -> API calls its summary row must show, at the quick scale (100 declared jobs, 95 of them live; 30 new jobs)
EXPECTED_ROWS = {
    "plan": [r"GET list \d+"],
    "plan, job_type declared": [r"GET detail 95", r"GET list \d+"],
    "apply": [r"GET list \d+", r"POST create 30"],
    "apply: one list call per poll round": [r"GET list \d+", r"POST create 30"],
    "naive apply (baseline, EXTRAPOLATED)": [r"GET detail \d+", r"POST create 30"],
}


def test_quick_benchmark_writes_every_scenario(tmp_path):
    out = tmp_path / "r.md"
    run = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode in (0, 3), f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# vizctl benchmark results (quick run)")
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in text.splitlines() if line.startswith("| ")}
    for scenario, calls in EXPECTED_ROWS.items():
        assert scenario in rows, f"no summary row for {scenario!r}:\n{text}"
        for pattern in calls:
            assert re.search(pattern, rows[scenario]), f"{scenario!r} row lacks {pattern!r}: {rows[scenario]}"
        assert re.search(r"\| (PASS|\*\*FAIL\*\*|—) \|$", rows[scenario]), rows[scenario]
    assert "## Where the time goes" in text
