"""How long loading and validating manifests takes, beyond start-up.

    .venv/bin/python benchmarks/validate.py              # 1,000 and 10,000 jobs
    .venv/bin/python benchmarks/validate.py --jobs 5000  # other sizes
    .venv/bin/python benchmarks/validate.py --hostile    # the README's bounds for hostile manifests

Writes one generated manifest per size into a temporary directory (every job
with a description, half with defaults merged in, a tenth with ``${VAR}``
references) and times ``vizctl validate -f FILE`` run in-process through the
real CLI: the median of 5 runs after one warm-up run (which pays for the
imports and the schema compile, as any process does once). Target (issue 10):
10,000 jobs under 0.5 s.

``--hostile`` loads each hostile input of README's "Hostile manifests" (up to
10 MiB) in a fresh process and reports its time and peak memory (the
process's peak resident size, interpreter and imports included) against the
stated bounds: 5 s and 300 MB each.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from vizctl.cli import main as vizctl_main
from vizctl.environment import Environment

TARGET_10K = 0.5
HOSTILE_SECONDS, HOSTILE_MB = 5.0, 300
MIB = 2**20


def hostile_inputs() -> dict[str, str]:
    """Inputs that must end in one clear problem (or a valid manifest) within the bounds."""
    dense = "0," * (5 * MIB - 10)
    return {
        "10 MiB list of numbers": f"jobs: [{dense}0]\n",
        "the same after an anchor": f"x: &a 1\njobs: [{dense}0]\n",
        "800,000 small documents": "jobs: []\n---\n" * (800_000),
        "10 MiB string, then a syntax error": "jobs: []\nx: '" + "a" * (10 * MIB - 60) + "\n  - : : [\n",
        "5 MiB of nesting": "jobs: " + "[" * (5 * MIB) + "]\n",
        "alias bomb": "a: &a [" + ", ".join(["x"] * 50) + "]\n"
        + "".join(f"l{i}: &l{i} [" + ", ".join([f"*{'a' if i == 1 else f'l{i - 1}'}"] * 50) + "]\n" for i in range(1, 12))
        + "jobs: []\n",
        "14,000 jobs with a merge key": "defaults: &d {job_type: tensorboard}\njobs:\n"
        + "".join(f"  - {{<<: *d, job_name: j{i}, train_url: /b/{i}/}}\n" for i in range(14000)),
        "14,000 jobs, 2 problems each": "jobs:\n"
        + "".join(f"  - {{job_name: j{i}, train_url: /b/{i}/, job_type: tensorbord, colour: x}}\n" for i in range(14000)),
        "60 MiB (sparse) file": "",
    }


def run_hostile(path: str) -> None:
    """In a fresh process: load ``path``, print seconds, peak MB and the first problem."""
    from vizctl.errors import ManifestError
    from vizctl.manifests.loader import load_manifests

    started = time.perf_counter()
    try:
        outcome = f"valid, {len(load_manifests([path]).jobs)} jobs"
    except ManifestError as e:
        outcome = f"{len(e.problems)} problem(s): {e.problems[0].message[:70]}"
    seconds = time.perf_counter() - started
    print(f"{seconds:.2f}\t{peak_mb():.0f}\t{outcome}")


def peak_mb() -> float:
    """This process's peak resident memory: Linux's VmHWM (ru_maxrss would count the parent's peak before exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hostile(tmp: str) -> bool:
    failed = False
    for name, text in hostile_inputs().items():
        path = os.path.join(tmp, "hostile.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
            if not text:
                f.truncate(60 * MIB)
        size = os.path.getsize(path) / MIB
        out = subprocess.run([sys.executable, __file__, "--load", path], capture_output=True, text=True, check=True).stdout
        seconds, mb, outcome = out.strip().split("\t")
        bad = float(seconds) > HOSTILE_SECONDS or float(mb) > HOSTILE_MB
        failed = failed or bad
        print(f"{name:36} {size:5.1f} MiB {float(seconds):6.2f} s {float(mb):5.0f} MB  {'FAIL' if bad else 'ok'}  {outcome}")
    return failed


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
    parser.add_argument("--hostile", action="store_true", help="time and memory of hostile inputs instead")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # one hostile input, in its own process
    args = parser.parse_args()
    if args.load:
        run_hostile(args.load)
        return 0
    sizes = args.jobs or [1000, 10000]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        if args.hostile:
            return 3 if hostile(tmp) else 0
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
