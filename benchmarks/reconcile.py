"""The steady-state cost of `vizctl reconcile`: API calls per check, CPU and memory over 1,000 checks.

    python benchmarks/reconcile.py                 # 1,000 checks (about a minute); writes benchmarks/RESULTS-reconcile.md
    python benchmarks/reconcile.py --checks 50 --out /tmp/r.md   # a smoke run

One `vizctl reconcile --interval 0.01 --jitter 0 --max-checks N` process, with its default flags
otherwise and a details cache of its own, runs against vizctl's simulator (in this process, 20 ms
latency): 200 declared jobs, all live and running, each declaring `job_type` (which only the
details show), among 1,200 live jobs (two list pages). The simulator counts the API calls by
route; this process samples the controller's RSS (VmRSS) and CPU time (/proc) every 0.2 s,
together with the checks it has run (vizctl_reconcile_total, scraped from its /metrics).
Exit status: 0 when every target passed, 3 when one failed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from run import machine  # noqa: E402 - the same header lines as the other benchmarks

DECLARED, LIVE, PER_PAGE = 200, 1200, 1000
LATENCY = 0.02
TICKS = os.sysconf("SC_CLK_TCK")
RSS_GROWTH_MIB = 5.0  # from the 10% mark to the end: flat means less than this
CPU_RATIO = 1.3  # CPU per check, last third / first third (after the first 10%)


@dataclass(frozen=True)
class Sample:
    checks: int
    rss_kib: int
    cpu_s: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sample(pid: int, port: int) -> Sample | None:
    """The controller's checks so far, RSS and CPU time; None before its metrics answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    checks = sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == "vizctl_reconcile_total")
    rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return Sample(int(checks), rss, (int(stat[11]) + int(stat[12])) / TICKS)


def at(samples: list[Sample], checks: int) -> Sample:
    """The first sample taken once ``checks`` checks had run."""
    return next(s for s in samples if s.checks >= checks)


def measure(checks: int, work: Path) -> tuple[dict[str, int], list[Sample], float]:
    names = [f"bench-{i}" for i in range(LIVE)]
    manifest = work / "m.yaml"
    manifest.write_text("jobs:\n" + "".join(f"  - {{job_name: {n}, train_url: /b/{n}/, job_type: tensorboard}}\n" for n in names[:DECLARED]))
    with SimServer(SimConfig(latency=LATENCY, seed=1)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/b/{n}/", "job_type": "tensorboard", "running": True} for n in names])
        port = free_port()
        env = {**os.environ, "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": "bench-token",
               "VIZCTL_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(REPO)}
        argv = [sys.executable, "-m", "vizctl", "reconcile", str(manifest), "--interval", "0.01", "--jitter", "0",
                "--max-checks", str(checks), "--metrics-addr", f"127.0.0.1:{port}"]
        started = time.monotonic()
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        samples: list[Sample] = []
        while process.poll() is None:
            found = sample(process.pid, port)
            if found is not None:
                samples.append(found)
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        if process.returncode != 0:
            raise SystemExit(f"vizctl reconcile exited {process.returncode}: {process.stderr.read()}")
        return sim.stats_snapshot(), samples, elapsed


def report(checks: int, stats: dict[str, int], samples: list[Sample], elapsed: float, argv: list[str]) -> tuple[str, bool]:
    pages = -(-LIVE // PER_PAGE)
    lists, details = stats.get("GET list", 0), stats.get("GET detail", 0)
    others = {k: v for k, v in stats.items() if k not in ("GET list", "GET detail")}
    early, late = at(samples, checks // 10), samples[-1]
    first, second = at(samples, checks // 10), at(samples, checks * 4 // 10)
    third, last = at(samples, checks * 7 // 10), samples[-1]
    cpu_early = (second.cpu_s - first.cpu_s) / max(1, second.checks - first.checks)
    cpu_late = (last.cpu_s - third.cpu_s) / max(1, last.checks - third.checks)
    growth = (late.rss_kib - early.rss_kib) / 1024
    verdicts = [
        (f"list calls per check = pages + 1 ({pages + 1})", f"{lists / checks:g}", lists == checks * (pages + 1)),
        (f"details calls: the first check's {DECLARED}, then none", f"{details}", details == DECLARED),
        ("no other API call", ", ".join(f"{k} {v}" for k, v in sorted(others.items())) or "none", not others),
        (f"RSS growth from check {early.checks} to {late.checks} < {RSS_GROWTH_MIB:g} MiB", f"{growth:+.1f} MiB", growth < RSS_GROWTH_MIB),
        (f"CPU per check, checks {third.checks}-{last.checks} / checks {first.checks}-{second.checks} ≤ {CPU_RATIO:g}",
         f"{cpu_late * 1000:.1f} / {cpu_early * 1000:.1f} ms = {cpu_late / cpu_early:.2f}", cpu_late <= CPU_RATIO * cpu_early),
    ]
    lines = ["# vizctl reconcile: steady-state cost", "", *machine()[:3],
             f"- Server: vizctl's simulator in the benchmark's process ({LATENCY * 1000:g} ms latency, seed 1); "
             f"{DECLARED} declared jobs with `job_type` among {LIVE} live ({pages} list pages of {PER_PAGE})",
             f"- Controller: `vizctl reconcile --interval 0.01 --jitter 0 --max-checks {checks}`, its own process and details cache",
             f"- Command: `python benchmarks/reconcile.py{' ' + ' '.join(argv) if argv else ''}` ({checks} checks in {elapsed:.0f} s, "
             f"{elapsed / checks * 1000:.0f} ms a check with the 10 ms interval)", "",
             "## Targets", "", "| target | measured | result |", "|---|---|---|"]
    lines += [f"| {target} | {measured} | {'PASS' if ok else '**FAIL**'} |" for target, measured, ok in verdicts]
    lines += ["", "## Samples", "", "| checks | RSS MiB | CPU s |", "|---|---|---|"]
    step = max(1, len(samples) // 10)
    shown = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    lines += [f"| {s.checks} | {s.rss_kib / 1024:.1f} | {s.cpu_s:.2f} |" for s in shown]
    return "\n".join(lines) + "\n", all(ok for _, _, ok in verdicts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000, help="checks to run (default %(default)s)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS-reconcile.md"), help="where the report goes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        stats, samples, elapsed = measure(args.checks, Path(work))
    text, passed = report(args.checks, stats, samples, elapsed, argv)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0 if passed else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
