"""How long loading and validating manifests takes, beyond start-up.

    .venv/bin/python benchmarks/validate.py              # 1,000 and 10,000 jobs
    .venv/bin/python benchmarks/validate.py --jobs 50000 # other sizes

Writes one generated manifest per size into a temporary directory (every job
with a description, half with defaults merged in, a tenth with ``${VAR}``
references) and times ``vizctl validate -f FILE`` run in-process through the
real CLI: the median of 5 runs after one warm-up run (which pays for the
imports and the schema compile, as any process does once). Target (issue 10):
10,000 jobs under 0.5 s.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time

from vizctl.cli import main as vizctl_main
from vizctl.environment import Environment

TARGET_10K = 0.5


def manifest_text(jobs: int) -> str:
    lines = ["# yaml-language-server: $schema=../schemas/manifest.schema.json",
             "defaults:", "  job_type: tensorboard", "  schedule: {duration: 4}", "jobs:"]
    for i in range(jobs):
        lines.append(f"  - job_name: bench-{i:06d}")
        bucket = "${BENCH_BUCKET:-ml-bucket}" if i % 10 == 0 else "ml-bucket"
        lines.append(f"    train_url: /{bucket}/run-{i}/logs/")
        lines.append(f"    job_desc: Training curves of run {i}")
        if i % 2:
            lines.append("    flavor: {code: modelarts.vm.cpu.2u}")
    return "\n".join(lines) + "\n"


def time_validate(path: str, jobs: int, runs: int = 5) -> float:
    times = []
    for i in range(runs + 1):
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, environ={}, stdin_isatty=False, stdout_isatty=False)
        started = time.perf_counter()
        code = vizctl_main(["validate", "-f", path], env=env)
        elapsed = time.perf_counter() - started
        if code != 0 or f"Valid: {jobs:,} jobs".replace(",", "") not in out.getvalue().replace(",", ""):
            sys.exit(f"validate failed (exit {code}): {out.getvalue()}{err.getvalue()[:2000]}")
        if i:  # the first run is the warm-up
            times.append(elapsed)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, action="append", help="job counts (default 1000 and 10000)")
    args = parser.parse_args()
    sizes = args.jobs or [1000, 10000]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in sizes:
            path = os.path.join(tmp, f"jobs-{jobs}.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(manifest_text(jobs))
            seconds = time_validate(path, jobs)
            verdict = ""
            if jobs == 10000:
                failed = seconds >= TARGET_10K
                verdict = f"  target < {TARGET_10K} s: {'FAIL' if failed else 'PASS'}"
            print(f"validate {jobs:>6} jobs ({os.path.getsize(path) / 1e6:.1f} MB): {seconds:.3f} s{verdict}")
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
