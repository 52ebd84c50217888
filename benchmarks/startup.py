"""How fast vizctl starts: ``vizctl --version`` / ``--help`` / ``version`` against ``python -c pass``.

    python benchmarks/startup.py            # 15 runs each; prints a Markdown table
    python benchmarks/startup.py --runs 3   # quicker

Each command runs as its own process, the way a user or a CI job starts it
(``python -m vizctl ...`` with this interpreter, so the same installation).
The target (issue 10): the median within 4x of ``python -c pass``.
Exit status: 0 when every command meets it, 3 when one does not.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET_RATIO = 4.0
COMMANDS = {
    "python -c pass (baseline)": ["-c", "pass"],
    "vizctl --version": ["-m", "vizctl", "--version"],
    "vizctl --help": ["-m", "vizctl", "--help"],
    "vizctl version": ["-m", "vizctl", "version"],
    "vizctl completion bash": ["-m", "vizctl", "completion", "bash"],
}


def median_seconds(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, *argv], stdout=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    times = {name: median_seconds(argv, runs) for name, argv in COMMANDS.items()}
    baseline = times.pop("python -c pass (baseline)")
    print(f"| command | median of {runs} | x baseline ({baseline * 1000:.0f} ms) | target x{TARGET_RATIO:g} |")
    print("|---|---|---|---|")
    passed = True
    for name, seconds in times.items():
        ratio = seconds / baseline
        passed &= ratio <= TARGET_RATIO
        print(f"| {name} | {seconds * 1000:.0f} ms | {ratio:.1f} | {'PASS' if ratio <= TARGET_RATIO else '**FAIL**'} |")
    return 0 if passed else 3


if __name__ == "__main__":
    sys.exit(main())
