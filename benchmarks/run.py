"""vizctl benchmarks: plan and apply at scale against in-process simulators, plus a naive baseline.

    python benchmarks/run.py            # full run, a few minutes; writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick    # small smoke run, under ~30 s
    python benchmarks/run.py --out PATH # write the results elsewhere

Every scenario starts its own :class:`~vizctl.sim.server.SimServer` on loopback
(20 ms latency per request), drives the real ``vizctl`` CLI in-process and counts
API calls from the simulator's stats (cross-checked with the client's own count,
which ``-v`` prints). See benchmarks/README.md for what each scenario measures.
Exit status: 0 when every target passed, 3 when some target failed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import cProfile
import datetime
import functools
import io
import itertools
import json
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from unittest import mock

import requests
import yaml

import vizctl
from vizctl.apply import ApplySettings
from vizctl.auth import TokenAuth
from vizctl.cli import DEFAULT_MAX_RPS, main as vizctl_main
from vizctl.client import ModelArtsClient
from vizctl.environment import Environment
from vizctl.manifest import load_manifests
from vizctl.model import Status
from vizctl.planner import PlanOptions, build_plan
from vizctl.render import RENDERERS
from vizctl.retry import RateLimiter
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.transport import RequestsTransport

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PROJECT = "bench-project"
TOKEN = "bench-token"
LATENCY = 0.02  # seconds the simulator adds to every API request
SEED = 1  # the simulator's RNG (faults, startup jitter): fixed for reproducible runs
PLAN_MAX_LISTS = 6
PLAN_MAX_SECONDS = 2.0
PLAN_REPEATS = 3
APPLY_MAX_RATIO = 1.5  # apply wall time / the jobs' startup time
DEFAULT_PARALLELISM = 10  # vizctl apply --parallelism default
PLAN_DETAIL_PARALLELISM = 10  # details calls `vizctl plan` sends at once (manager.make_plan's default)
# (parallelism, max-rps, fixed poll interval or None for vizctl's own) tried when the defaults miss the target
SWEEP = ((10, 1000.0, None), (50, 1000.0, None), (10, DEFAULT_MAX_RPS, 1.0), (50, 1000.0, 1.0))


@dataclass(frozen=True)
class Scale:
    """Sizes of one run (full or quick)."""

    name: str
    plan_live: int  # live jobs in the project
    plan_declared: int  # declared jobs; all but plan_new are among the live ones
    plan_new: int  # declared jobs that do not exist yet (creates)
    plan_drift: int  # declared existing jobs whose job_desc differs (in-place updates)
    apply_jobs: int  # new jobs created by apply
    startup: float  # simulated INIT -> RUNNING time of each job (the apply floor)
    naive_sample: int  # jobs the naive client really creates; the rest is extrapolated


FULL = Scale("full", plan_live=5000, plan_declared=1000, plan_new=50, plan_drift=50, apply_jobs=300, startup=5.0, naive_sample=5)
# 1.5 s, not 1 s: with 1 s the jobs turn RUNNING right at vizctl's second poll, and the verdict flips between runs.
QUICK = Scale("quick", plan_live=500, plan_declared=100, plan_new=5, plan_drift=5, apply_jobs=30, startup=1.5, naive_sample=2)


@dataclass
class Result:
    """One measured scenario: its wall time, API calls and verdict against its target."""

    scenario: str
    scale: str
    wall: float
    calls: dict[str, int]  # by route, from the simulator
    client_calls: dict[str, int] | None  # by operation, from vizctl's client (-v)
    target: str
    passed: bool | None  # None: reported, no target
    notes: list[str] = field(default_factory=list)


@dataclass
class ApplyRun:
    """One `vizctl apply` of new jobs, with when things happened (seconds since the command started)."""

    parallelism: int
    max_rps: float
    poll: float | None
    wall: float
    calls: dict[str, int]
    client_calls: dict[str, int] | None
    creates_done: float  # the last create accepted
    polls: list[float]  # each poll round that still had jobs waiting
    rounds: int  # poll rounds, the last one included
    last_running: float  # when the simulator turned the last job RUNNING
    converged: bool
    detail: str


# -- plumbing -------------------------------------------------------------------


@contextlib.contextmanager
def simulator(**config: Any) -> Iterator[SimServer]:
    """A SimServer on loopback with the benchmark's latency and seed."""
    server = SimServer(SimConfig(latency=LATENCY, seed=SEED, **config)).start()
    try:
        yield server
    finally:
        server.stop()


def write_manifest(directory: str, jobs: list[dict[str, Any]]) -> None:
    """Write ``jobs`` as one manifest file in ``directory``."""
    with open(os.path.join(directory, "jobs.yaml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"jobs": jobs}, handle, sort_keys=False)


def job(name: str, **fields: Any) -> dict[str, Any]:
    """A job spec (manifest entry or seed) with its own train_url."""
    return {"job_name": name, "train_url": f"/bucket/{name}/logs/", **fields}


@dataclass
class CliRun:
    """What one in-process `vizctl` run returned and printed, and how long it took."""

    code: int
    out: str
    err: str
    wall: float
    started: float  # epoch seconds, to compare with the JSON events' "time"


def run_cli(server: SimServer, cwd: str, *argv: str) -> CliRun:
    """``vizctl *argv`` in-process against ``server``, with captured streams (as tests/cliutil.py does)."""
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.StringIO(), stdout=out, stderr=err, stdin_isatty=False, stdout_isatty=False, cwd=cwd,
        environ={"VIZCTL_ENDPOINT": server.url, "VIZCTL_PROJECT_ID": PROJECT, "VIZCTL_TOKEN": TOKEN},
    )
    started, clock = time.time(), time.perf_counter()
    code = vizctl_main(list(argv), env=env)
    return CliRun(code, out.getvalue(), err.getvalue(), time.perf_counter() - clock, started)


def route_calls(server: SimServer) -> dict[str, int]:
    """API calls by route ("GET list", "POST create" ...) from the simulator's counters."""
    return {k: v for k, v in sorted(server.stats_snapshot().items()) if not k.startswith("faults")}


def count(calls: dict[str, int], route: str) -> int:
    return calls.get(route, 0)


def api_session() -> requests.Session:
    """A plain ``requests`` session with the benchmark's token, for the baseline and the calibration."""
    session = requests.Session()
    session.trust_env = False
    session.headers.update({"X-Auth-Token": TOKEN})
    return session


def profile_shares(fn: Callable[[], Any], spots: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Run ``fn`` under cProfile; the fraction of its time spent in each (file suffix, function) spot."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    stats = pstats.Stats(profiler).stats  # {(file, line, function): (cc, nc, tt, cumulative, callers)}
    total = sum(tt for (_, _, tt, _, _) in stats.values()) or 1.0
    return {
        label: sum(v[3] for (path, _, func), v in stats.items() if path.endswith(suffix) and func == name) / total
        for label, (suffix, name) in spots.items()
    }


# -- calibration ------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """The simulator's real time per request (median ms), as shipped and with TCP_NODELAY on its sockets."""

    shipped: float
    nodelay: float


def calibrate(requests_count: int = 30) -> Calibration:
    """Time sequential details calls on one keep-alive connection, the way vizctl's pooled client sends them."""

    def median_ms() -> float:
        with simulator() as server:
            [seeded] = server.state.seed_jobs(PROJECT, [job("calibration", running=True)])
            url = f"{server.url}/v1/{PROJECT}/visualization-jobs/{seeded['job_id']}"
            session = api_session()
            session.get(url, timeout=30).raise_for_status()  # opens the connection
            times = []
            for _ in range(requests_count):
                clock = time.perf_counter()
                session.get(url, timeout=30).raise_for_status()
                times.append(time.perf_counter() - clock)
        return statistics.median(times) * 1000

    shipped = median_ms()
    with mock.patch("vizctl.sim.server._Handler.disable_nagle_algorithm", True):
        return Calibration(shipped, median_ms())


# -- scenario 1: plan -------------------------------------------------------------


LIST_STEP = "client.list_all (HTTP)"


@dataclass
class Breakdown:
    """Where a plan's time goes: seconds by step, and profiled shares of the two CPU-heavy steps."""

    steps: list[tuple[str, float]]
    shares: list[tuple[str, str, float]]  # (step, hot spot, fraction of that step's profiled time)

    def notes(self) -> list[str]:
        return ["time by step (the same steps run again outside the CLI, same inputs): "
                + "; ".join(f"{label} {seconds:.3f} s" for label, seconds in self.steps)] + [
            f"profile: {share:.0%} of {step} is in {spot}" for step, spot, share in self.shares]


def plan_breakdown(server: SimServer, manifest_dir: str) -> Breakdown:
    """Time the steps `vizctl plan` takes one by one, then profile the CPU-heavy ones."""
    client = ModelArtsClient(
        server.url, PROJECT, TokenAuth(TOKEN), RequestsTransport(pool_size=14), rate_limiter=RateLimiter(DEFAULT_MAX_RPS)
    )
    steps: list[tuple[str, float]] = []

    def timed(label: str, fn: Callable[[], Any]) -> Any:
        clock = time.perf_counter()
        value = fn()
        steps.append((label, time.perf_counter() - clock))
        return value

    manifest = timed("manifest.load_manifests", lambda: load_manifests([manifest_dir]))
    snapshot = timed(LIST_STEP, client.list_all)
    plan = timed("planner.build_plan", lambda: build_plan(manifest, snapshot, {}, PlanOptions()))
    timed("TextRenderer.render", lambda: RENDERERS["text"]().render(plan))
    load = profile_shares(lambda: load_manifests([manifest_dir]), {
        "PyYAML's pure-Python loader (yaml.SafeLoader, vizctl/yamlpos.py load_documents)": ("yaml/composer.py", "compose_document"),
        "jsonschema validation (vizctl/manifest.py _check)": ("jsonschema/validators.py", "iter_errors"),
    })
    diff = profile_shares(lambda: build_plan(manifest, snapshot, {}, PlanOptions()), {
        "DeepDiff, one per declared job (vizctl/planner.py _diff)": ("deepdiff/diff.py", "__init__"),
    })
    return Breakdown(steps, [("manifest.load_manifests", spot, share) for spot, share in load.items()]
                     + [("planner.build_plan", spot, share) for spot, share in diff.items()])


def plan_scenario(scale: Scale, calibration: Calibration) -> tuple[list[Result], Breakdown]:
    """`vizctl plan` of ``plan_declared`` jobs against ``plan_live`` live ones, three ways, and the plain one's breakdown."""
    step = scale.plan_live // scale.plan_declared
    existing = scale.plan_declared - scale.plan_new
    declared_live = [f"live-{i * step:05d}" for i in range(existing)]
    drifted = set(declared_live[: scale.plan_drift])
    live = [
        job(name, job_desc="stale description" if name in drifted else "benchmark job", running=True)
        for name in (f"live-{i:05d}" for i in range(scale.plan_live))
    ]
    declared = declared_live + [f"new-{i:05d}" for i in range(scale.plan_new)]
    shape = (
        f"{scale.plan_declared} declared vs {scale.plan_live} live: {existing} declared exist "
        f"({scale.plan_drift} with job_desc drift), {scale.plan_new} new"
    )
    results = []
    breakdown = None
    for title, with_type, max_rps in (
        ("plan", False, DEFAULT_MAX_RPS),
        ("plan, job_type declared", True, DEFAULT_MAX_RPS),
        ("plan, job_type declared, --max-rps 1000", True, 1000.0),
    ):
        extra = {"job_type": "tensorboard"} if with_type else {}
        with tempfile.TemporaryDirectory() as tmp, simulator(quota=scale.plan_live + scale.plan_declared) as server:
            server.state.seed_jobs(PROJECT, live)
            write_manifest(tmp, [job(name, job_desc="benchmark job", **extra) for name in declared])
            rps = ["--max-rps", f"{max_rps:g}"] if max_rps != DEFAULT_MAX_RPS else []
            walls = []
            for _ in range(1 if with_type else PLAN_REPEATS):  # the plain plan is short and CPU-bound: take a median
                server.reset_stats()
                run = run_cli(server, tmp, "plan", "-f", tmp, "-v", *rps)
                walls.append(run.wall)
            results.append(plan_result(title, shape, run, walls, route_calls(server), scale, with_type, existing, max_rps, calibration))
            if not with_type:
                breakdown = plan_breakdown(server, tmp)
                results[-1].notes += breakdown.notes()
    return results, breakdown


def plan_result(title: str, shape: str, run: CliRun, walls: list[float], calls: dict[str, int], scale: Scale,
                with_type: bool, existing: int, max_rps: float, calibration: Calibration) -> Result:
    """The verdict of a plan (the last of ``walls`` runs): its targets, and whether the plan itself came out right."""
    wall = statistics.median(walls)
    found = re.search(r"vizctl: (\d+) list call\(s\), (\d+) details call\(s\)", run.err)
    client = {"list": int(found[1]), "detail": int(found[2])} if found else None
    lists, details = count(calls, "GET list"), count(calls, "GET detail")
    expected = f"Plan: {scale.plan_new} to create, {scale.plan_drift} to update, 0 to replace, 0 to restart."
    plan_ok = run.code == 0 and expected in run.out
    notes = [f"vizctl printed `{expected}`" if plan_ok else
             f"unexpected plan (exit {run.code}); wanted `{expected}`; stderr: {run.err.strip()[-300:]}"]
    if with_type:
        target = f"≤ {PLAN_MAX_LISTS} list calls; 1 details call per existing declared job ({existing}); time reported only"
        passed = plan_ok and lists <= PLAN_MAX_LISTS and details == existing
        notes.append(
            f"lower bounds for {details} details calls: the client rate limit (--max-rps {max_rps:g}) "
            f"{max(0.0, details - max_rps) / max_rps:.1f} s; plan's fixed 10 at a time (no --parallelism for plan) at the "
            f"simulator's measured {calibration.shipped:.0f} ms per request {details / PLAN_DETAIL_PARALLELISM * calibration.shipped / 1000:.1f} s"
        )
    else:
        target = f"≤ {PLAN_MAX_LISTS} list calls and < {PLAN_MAX_SECONDS:g} s"
        passed = plan_ok and lists <= PLAN_MAX_LISTS and wall < PLAN_MAX_SECONDS
    if len(walls) > 1:
        notes.append(f"wall time is the median of {len(walls)} runs: " + ", ".join(f"{w:.2f}" for w in walls) + " s")
    if client is not None and (client["list"], client["detail"]) != (lists, details):
        notes.append(f"client count {client} differs from the simulator's")
    return Result(title, shape, wall, calls, client, target, passed, notes)


# -- scenario 2: apply ------------------------------------------------------------


def apply_run(scale: Scale, parallelism: int = DEFAULT_PARALLELISM, max_rps: float = DEFAULT_MAX_RPS, poll: float | None = None) -> ApplyRun:
    """`vizctl apply --auto-approve` of ``apply_jobs`` new jobs; ``poll`` fixes the wait's poll interval (diagnostic only)."""
    names = [f"app-{i:05d}" for i in range(scale.apply_jobs)]
    options = []
    if parallelism != DEFAULT_PARALLELISM:
        options += ["--parallelism", str(parallelism)]
    if max_rps != DEFAULT_MAX_RPS:
        options += ["--max-rps", f"{max_rps:g}"]
    fixed_poll = (mock.patch("vizctl.cli.ApplySettings", functools.partial(ApplySettings, poll_min=poll, poll_max=poll))
                  if poll else contextlib.nullcontext())
    with tempfile.TemporaryDirectory() as tmp, simulator(startup_seconds=scale.startup) as server, fixed_poll:
        write_manifest(tmp, [job(n) for n in names])
        run = run_cli(server, tmp, "apply", "-f", tmp, "--auto-approve", "--output", "json", "-v", *options)
        calls = route_calls(server)
        now = time.time()
        listed = server.state.list_jobs(PROJECT, {"per_page": "1000"})["jobs"]  # directly, not over HTTP: not counted
    events = [json.loads(line) for line in run.out.splitlines() if line.startswith("{")]
    accepted = [e["time"] for e in events if e["type"] == "apply_progress" and e.get("message") == "accepted"]
    polls = [e["time"] - run.started for e in events if e["type"] == "apply_progress" and "waiting" in e]
    summary = next((e for e in events if e["type"] == "summary"), {})
    converged = run.code == 0 and summary.get("running") == len(names) and len(listed) == len(names)
    running_since = [now - j["duration"] / 1000 for j in listed if j["status"] == Status.RUNNING]
    found = re.search(r"vizctl: API calls: (\{.*\})", run.err)
    return ApplyRun(
        parallelism, max_rps, poll, run.wall, calls,
        ast.literal_eval(found[1]) if found else None,
        creates_done=max(accepted, default=run.started) - run.started,
        polls=polls,
        rounds=len(polls) + (1 if converged else 0),
        last_running=max(running_since, default=now) - run.started,
        converged=converged,
        detail="" if converged else f"exit {run.code}, {summary.get('outcomes')}; stderr: {run.err.strip()[-300:]}",
    )


def apply_scenario(scale: Scale) -> tuple[list[Result], ApplyRun, list[ApplyRun]]:
    """The default apply with its two targets, and, when the time target fails, the sweep."""
    run = apply_run(scale)
    floor = scale.startup
    shape = f"{scale.apply_jobs} new jobs, {floor:g} s startup each"
    lists = count(run.calls, "GET list")
    timing = [
        f"floor {floor:g} s (one job's startup); plan read and creates all done at {run.creates_done:.2f} s; "
        f"the simulator turned the last job RUNNING at {run.last_running:.2f} s; vizctl saw it and finished at {run.wall:.2f} s",
        "poll rounds with jobs still waiting at " + ", ".join(f"{t:.2f}" for t in run.polls) + " s (then the final round)",
    ]
    if not run.converged:
        timing.append(f"did not converge: {run.detail}")
    wall = Result(
        "apply", shape, run.wall, run.calls, run.client_calls,
        f"≤ {APPLY_MAX_RATIO:g} × floor = {APPLY_MAX_RATIO * floor:g} s",
        run.converged and run.wall <= APPLY_MAX_RATIO * floor,
        [f"wall / floor = {run.wall / floor:.2f}"] + timing,
    )
    per_round = Result(
        "apply: one list call per poll round", shape, run.wall, run.calls, run.client_calls,
        "list calls = poll rounds + 1 (the plan's read of the empty project)",
        run.converged and lists == run.rounds + 1,
        [f"{run.rounds} poll rounds for {scale.apply_jobs} jobs, {lists} list calls in all"],
    )
    if run.client_calls is not None and run.client_calls != {k.split()[1]: v for k, v in run.calls.items()}:
        wall.notes.append(f"client count {run.client_calls} differs from the simulator's")
    sweep = [] if wall.passed else [apply_run(scale, p, r, poll) for p, r, poll in SWEEP]
    return [wall, per_round], run, sweep


# -- scenario 3: the naive baseline -----------------------------------------------


def naive_apply(server: SimServer, names: list[str], startup: float) -> None:
    """The baseline: one job at a time, create, then GET its details once a second until RUNNING."""
    base = f"{server.url}/v1/{PROJECT}/visualization-jobs"
    session = api_session()
    for name in names:
        created = session.post(base, json=job(name), timeout=30)
        created.raise_for_status()
        job_id = created.json()["job_id"]
        deadline = time.monotonic() + 5 * startup + 10
        while int(session.get(f"{base}/{job_id}", timeout=30).json()["status"]) != Status.RUNNING:
            if time.monotonic() > deadline:
                raise RuntimeError(f"naive baseline: job {name} never ran")
            time.sleep(1.0)


def naive_scenario(scale: Scale, vizctl_run: ApplyRun) -> Result:
    """The naive client on ``naive_sample`` jobs, extrapolated linearly to ``apply_jobs``."""
    names = [f"naive-{i:05d}" for i in range(scale.naive_sample)]
    with simulator(startup_seconds=scale.startup) as server:
        clock = time.perf_counter()
        naive_apply(server, names, scale.startup)
        wall = time.perf_counter() - clock
        sample = route_calls(server)
    factor = scale.apply_jobs / scale.naive_sample
    calls = {route: round(n * factor) for route, n in sample.items()}
    vizctl_calls = sum(vizctl_run.calls.values())
    notes = [
        f"measured on {scale.naive_sample} jobs: {wall:.2f} s ({wall / scale.naive_sample:.2f} s per job), calls {sample}",
        f"EXTRAPOLATED linearly ×{factor:g} to {scale.apply_jobs} jobs: {wall * factor:.0f} s ({wall * factor / 60:.1f} min), calls {calls}",
        f"naive / vizctl (default apply above): wall {wall * factor / vizctl_run.wall:.0f}×, "
        f"API calls {sum(calls.values()) / vizctl_calls:.1f}× ({sum(calls.values())} vs {vizctl_calls})",
    ]
    return Result("naive apply (baseline, EXTRAPOLATED)", f"{scale.apply_jobs} jobs, one at a time", wall * factor, calls, None,
                  "baseline: none", None, notes)


# -- the report -------------------------------------------------------------------


def machine() -> list[str]:
    """Lines describing where and on what code the benchmark ran."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "--no-optional-locks", "-C", REPO, *args], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " + uncommitted changes under vizctl/" if git("status", "--porcelain", "--", "vizctl") else ""
    return [
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {cpu}; {platform.platform()}",
        f"- Python {platform.python_version()}; vizctl {vizctl.__version__} at commit {commit}{dirty}; "
        f"requests {requests.__version__}, PyYAML {yaml.__version__}",
        f"- Simulator: in-process SimServer over loopback HTTP, {LATENCY * 1000:g} ms latency per request, seed {SEED}; "
        "the CLI runs in the same process (client and server share the GIL and the CPUs)",
    ]


def calls_text(calls: dict[str, int]) -> str:
    return ", ".join(f"{route} {n}" for route, n in calls.items()) or "none"


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "**FAIL**", None: "—"}[passed]


def sweep_table(scale: Scale, runs: list[ApplyRun]) -> list[str]:
    limit = APPLY_MAX_RATIO * scale.startup
    lines = [
        "| --parallelism | --max-rps | poll interval | creates done | last RUNNING (sim) | wall | wall/floor | poll rounds | list calls | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        poll = "vizctl's (1 s ×1.5, max 10 s)" if r.poll is None else f"fixed {r.poll:g} s (diagnostic, not a CLI flag)"
        if r is runs[0]:
            poll += " — the defaults, above"
        ok = r.converged and r.wall <= limit
        lines.append(
            f"| {r.parallelism} | {r.max_rps:g} | {poll} | {r.creates_done:.2f} s | {r.last_running:.2f} s | {r.wall:.2f} s | "
            f"{r.wall / scale.startup:.2f} | {r.rounds} | {count(r.calls, 'GET list')} | {verdict(ok)} |"
        )
    cli_ok = [r for r in runs if r.poll is None and r.converged and r.wall <= limit]
    diag_ok = [r for r in runs if r.poll is not None and r.converged and r.wall <= limit]
    if cli_ok:
        best = min(cli_ok, key=lambda r: (r.parallelism, r.max_rps))
        lines.append(f"\nMeets the target with today's CLI: `--parallelism {best.parallelism} --max-rps {best.max_rps:g}`.")
    else:
        lines.append("\nNo `--parallelism` / `--max-rps` setting tried meets the target with today's CLI.")
    if diag_ok:
        lines.append("With a fixed poll interval it is met by: "
                     + "; ".join(f"parallelism {r.parallelism}, max-rps {r.max_rps:g}, poll {r.poll:g} s" for r in diag_ok) + ".")
    return lines


def findings(scale: Scale, default: ApplyRun, calibration: Calibration, breakdown: Breakdown) -> list[str]:
    """Performance problems in vizctl that this run's numbers show, with where to look."""
    out = []
    floor, limit = scale.startup, APPLY_MAX_RATIO * scale.startup
    lag = default.wall - default.last_running
    if default.wall > limit and lag > 0.5:
        seen_after = next(t for t in _poll_offsets() if t >= floor)
        out.append(
            "- **Apply keeps polling long after the jobs run** (vizctl/apply.py `Applier._wait`, `ApplySettings.poll_min`/`poll_max`). "
            "The poll interval starts at 1 s and grows ×1.5 a round (rounds at +"
            + ", ".join(f"{t:.3g}" for t in itertools.islice(_poll_offsets(), 6))
            + " … s, interval at most 10 s), counted from the end of the mutations, whatever the jobs' startup. "
            f"Here the simulator had the last job RUNNING at {default.last_running:.2f} s, vizctl noticed at {default.wall:.2f} s: {lag:.2f} s of the wall time is poll lag. "
            f"With a {floor:g} s startup the first round that can see the jobs running comes {seen_after:.2f} s after the creates end, "
            f"so the apply takes ≥ {seen_after / floor:.2f}× the floor even with instant creates. `poll_min`/`poll_max` are no CLI "
            "flags: no `--parallelism`/`--max-rps` setting fixes it (see the table above)."
        )
    if default.max_rps == DEFAULT_MAX_RPS and default.creates_done + floor > limit:
        out.append(
            f"- **The default client rate limit puts the apply target out of reach** (vizctl/cli.py `DEFAULT_MAX_RPS = {DEFAULT_MAX_RPS:g}`, "
            f"enforced by vizctl/retry.py `RateLimiter`): at {DEFAULT_MAX_RPS:g} requests a second the last of {scale.apply_jobs} "
            f"creates cannot be sent before {max(0.0, scale.apply_jobs - DEFAULT_MAX_RPS) / DEFAULT_MAX_RPS:.1f} s. Measured: the plan's "
            f"read and the creates ended at {default.creates_done:.2f} s; the last job then needs its full {floor:g} s startup, so the "
            f"apply cannot end before ≈ {default.creates_done + floor:.1f} s (> {limit:g} s) however it polls. The same limit bounds "
            f"a plan whose jobs declare job_type, flavor or schedule: one details call per existing job, {DEFAULT_MAX_RPS:g} a second."
        )
    if calibration.shipped > 1.5 * calibration.nodelay:
        out.append(
            f"- **The simulator answers ~{calibration.shipped - calibration.nodelay:.0f} ms late on every reused connection** "
            "(vizctl/sim/server.py `_Handler`: `_send` writes the headers (`end_headers` flushes them) and then the body in a "
            "second send, and the handler keeps Nagle's algorithm on (`disable_nagle_algorithm` is not set), so the body waits "
            f"for the client's delayed ACK). Measured: median {calibration.shipped:.0f} ms per request for {LATENCY * 1000:g} ms "
            f"configured; {calibration.nodelay:.0f} ms with TCP_NODELAY on the simulator's sockets. Every number in this file was "
            "taken with the simulator as shipped, so API-bound phases (creates, details calls) run at this effective latency, not 20 ms."
        )
    steps = dict(breakdown.steps)
    cpu = sum(seconds for label, seconds in breakdown.steps if label != LIST_STEP)
    shares = "; ".join(f"{share:.0%} of {step} in {spot}" for step, spot, share in breakdown.shares)
    out.append(
        f"- Minor, no target missed: a plan of {scale.plan_declared} declared jobs spends {cpu:.2f} s in vizctl's CPU steps "
        f"(loading, planning, rendering) against {steps[LIST_STEP]:.2f} s reading {scale.plan_live} live jobs. Profile: "
        f"{shares}. Both grow linearly with the declared jobs (PyYAML's C loader, yaml.CSafeLoader, is "
        f"{'installed' if yaml.__with_libyaml__ else 'not installed'} here)."
    )
    return out


def _poll_offsets() -> Iterator[float]:
    """Seconds after the mutations end at which vizctl's default wait polls."""
    settings = ApplySettings()
    at, interval = 0.0, settings.poll_min
    while True:
        yield at
        at += interval
        interval = min(interval * 1.5, settings.poll_max)


def report(scale: Scale, argv: list[str], results: list[Result], default: ApplyRun, sweep: list[ApplyRun],
           calibration: Calibration, breakdown: Breakdown, elapsed: float) -> str:
    lines = [f"# vizctl benchmark results ({scale.name} run)", ""]
    lines += machine()
    lines += [
        f"- Simulator calibration: median {calibration.shipped:.0f} ms per request on a reused connection "
        f"({calibration.nodelay:.0f} ms with TCP_NODELAY on its sockets; see the findings)",
        f"- Command: `python benchmarks/run.py{' ' + ' '.join(argv) if argv else ''}` (took {elapsed:.0f} s)",
        "",
    ]
    lines += ["## Summary", "", "| scenario | scale | wall time | API calls (simulator, by route) | target | result |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.scenario} | {r.scale} | {r.wall:.2f} s | {calls_text(r.calls)} | {r.target} | {verdict(r.passed)} |")
    lines += ["", "## Details", ""]
    for r in results:
        lines.append(f"### {r.scenario}")
        lines.append("")
        client = f"; vizctl's client counted {r.client_calls}" if r.client_calls is not None else ""
        lines.append(f"- API calls (simulator): {calls_text(r.calls)}{client}")
        lines += [f"- {note}" for note in r.notes]
        lines.append("")
    if sweep:
        lines += ["## Apply: what would meet the target", "",
                  f"The default apply missed its target, so it ran again with other settings ({scale.apply_jobs} jobs, {scale.startup:g} s startup):", ""]
        lines += sweep_table(scale, [default] + sweep) + [""]
    found = findings(scale, default, calibration, breakdown)
    lines += ["## Performance problems found in vizctl", ""] + (found or ["None that this run's numbers show."]) + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark vizctl plan and apply against in-process simulators.")
    parser.add_argument("--quick", action="store_true", help="small scale, under ~30 s (a smoke run)")
    parser.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"), help="results file (default benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    started = time.perf_counter()
    calibration = calibrate()
    results, breakdown = plan_scenario(scale, calibration)
    apply_results, default, sweep = apply_scenario(scale)
    results += apply_results
    results.append(naive_scenario(scale, default))
    text = report(scale, sys.argv[1:] if argv is None else argv, results, default, sweep, calibration, breakdown,
                  time.perf_counter() - started)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text)
    for r in results:
        print(f"{verdict(r.passed).strip('*'):4}  {r.scenario}: {r.wall:.2f} s, {calls_text(r.calls)}")
    print(f"Results written to {args.out}")
    return 3 if any(r.passed is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
