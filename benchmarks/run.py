"""vizctl benchmarks: plan and apply at scale against in-process simulators, plus a naive baseline.

    python benchmarks/run.py            # full run, about a minute; writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick    # small smoke run, about 10 s; writes benchmarks/RESULTS-quick.md
    python benchmarks/run.py --out PATH # write the results elsewhere

Every scenario starts its own :class:`~vizctl.sim.server.SimServer` on loopback
(20 ms latency per request), drives the real ``vizctl`` CLI in-process with the
options a user can pass, and counts API calls from the simulator's stats
(cross-checked with the client's own count, which ``-v`` prints). Nothing in
vizctl or its simulator is patched. See benchmarks/README.md for what each
scenario measures.
Exit status: 0 when every target passed, 3 when some target failed.
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import cProfile
import datetime
import io
import json
import math
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import requests
import yaml

import vizctl
from vizctl.auth import TokenAuth
from vizctl.cli import build_parser, main as vizctl_main
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
STDLIB = sysconfig.get_paths()["stdlib"]
PROJECT = "bench-project"
TOKEN = "bench-token"
LATENCY = 0.02  # seconds the simulator adds to every API request
SEED = 1  # the simulator's RNG (faults, startup jitter): fixed for reproducible runs
PLAN_MAX_LISTS = 6
PLAN_MAX_SECONDS = 2.0
PLAN_REPEATS = 3
APPLY_MAX_RATIO = 1.5  # apply wall time / the jobs' startup time
_CLI_DEFAULTS = build_parser().parse_args(["apply"])
DEFAULT_PARALLELISM: int = _CLI_DEFAULTS.parallelism
DEFAULT_MAX_RPS: float = _CLI_DEFAULTS.max_rps
# (--parallelism, --max-rps) tried when the default apply misses its target
SWEEP = ((DEFAULT_PARALLELISM, 1000.0), (50, DEFAULT_MAX_RPS), (50, 1000.0))


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
# The quick startup is short, so its verdict hangs on which poll round first sees every job running; 2 s keeps the
# last job's start away from the rounds vizctl polls at today (see the poll rounds in the report when it changes).
QUICK = Scale("quick", plan_live=500, plan_declared=100, plan_new=5, plan_drift=5, apply_jobs=30, startup=2.0, naive_sample=2)


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
    wall: float
    calls: dict[str, int]
    client_calls: dict[str, int] | None
    creates_done: float  # the last create accepted
    polls: list[float]  # each poll round that still had jobs waiting
    rounds: int  # poll rounds, the last one included
    last_running: float  # when the simulator turned the last job RUNNING
    converged: bool
    detail: str

    @property
    def poll_lag(self) -> float:
        """From the last job turning RUNNING to vizctl's end."""
        return self.wall - self.last_running


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


def cli_options(parallelism: int, max_rps: float) -> list[str]:
    """The ``--parallelism`` / ``--max-rps`` options that differ from vizctl's defaults."""
    options = []
    if parallelism != DEFAULT_PARALLELISM:
        options += ["--parallelism", str(parallelism)]
    if max_rps != DEFAULT_MAX_RPS:
        options += ["--max-rps", f"{max_rps:g}"]
    return options


def route_calls(server: SimServer) -> dict[str, int]:
    """API calls by route ("GET list", "POST create" ...) from the simulator's counters."""
    return {k: v for k, v in sorted(server.stats_snapshot().items()) if not k.startswith("faults")}


def count(calls: dict[str, int], route: str) -> int:
    return calls.get(route, 0)


def api_session() -> requests.Session:
    """A plain ``requests`` session with the benchmark's token, for the baseline and the latency measurement."""
    session = requests.Session()
    session.trust_env = False
    session.headers.update({"X-Auth-Token": TOKEN})
    return session


def request_latency(samples: int = 30) -> float:
    """The simulator's real time per request (median seconds): sequential details calls on one kept-alive
    connection, the way vizctl's pooled client sends them."""
    with simulator() as server:
        [seeded] = server.state.seed_jobs(PROJECT, [job("latency", running=True)])
        url = f"{server.url}/v1/{PROJECT}/visualization-jobs/{seeded['job_id']}"
        session = api_session()
        session.get(url, timeout=30).raise_for_status()  # opens the connection
        times = []
        for _ in range(samples):
            clock = time.perf_counter()
            session.get(url, timeout=30).raise_for_status()
            times.append(time.perf_counter() - clock)
    return statistics.median(times)


def lower_bounds(calls: int, parallelism: int, max_rps: float, latency: float) -> str:
    """The least time ``calls`` API requests can take under vizctl's two limits, as text."""
    capacity = max(1, int(max_rps))  # vizctl.retry.RateLimiter: ``capacity`` requests per window
    by_rate = (calls - 1) // capacity * (capacity / max_rps) + latency if calls else 0.0
    by_concurrency = math.ceil(calls / parallelism) * latency
    return (f"client rate limit (--max-rps {max_rps:g}) ≥ {by_rate:.2f} s, "
            f"concurrency (--parallelism {parallelism} × {latency * 1000:.0f} ms a request) ≥ {by_concurrency:.2f} s")


def code_owner(path: str, function: str) -> str:
    """Who a profiled function belongs to: a package, a file of this repo, a stdlib module, or C code."""
    if path == "~":  # C: "<method 'get_node' of '_yaml.CParser' objects>", "<built-in method builtins.isinstance>"
        found = re.search(r"(?:of '|method )(\w+)\.", function)
        return f"{found[1].lstrip('_') if found else 'builtins'} (C)"
    if "site-packages" + os.sep in path:
        return path.split("site-packages" + os.sep, 1)[1].split(os.sep)[0].removesuffix(".py")
    if path.startswith(REPO + os.sep):
        return os.path.relpath(path, REPO)
    if path.startswith(STDLIB + os.sep):
        return "stdlib " + os.path.relpath(path, STDLIB).split(os.sep)[0].removesuffix(".py")
    return os.path.basename(path)


def profile_owners(fn: Callable[[], Any], top: int = 3) -> list[tuple[str, float]]:
    """Run ``fn`` under cProfile; the ``top`` code owners by share of its own (exclusive) time."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    own: collections.Counter[str] = collections.Counter()
    for (path, _, function), (_, _, exclusive, _, _) in pstats.Stats(profiler).stats.items():
        own[code_owner(path, function)] += exclusive
    total = sum(own.values()) or 1.0
    return [(owner, seconds / total) for owner, seconds in own.most_common(top)]


# -- scenario 1: plan -------------------------------------------------------------


LIST_STEP = "client.list_all (HTTP)"


@dataclass
class Breakdown:
    """Where a plan's time goes: seconds by step, and the profile of the CPU steps."""

    steps: list[tuple[str, float]]
    profiles: list[tuple[str, list[tuple[str, float]]]]  # (step, [(code owner, share of the step's own time)])

    @property
    def cpu(self) -> float:
        """Seconds in the steps that send no request."""
        return sum(seconds for label, seconds in self.steps if label != LIST_STEP)

    @property
    def total(self) -> float:
        return sum(seconds for _, seconds in self.steps)

    def notes(self) -> list[str]:
        return ["time by step (the same steps run again outside the CLI, same inputs): "
                + "; ".join(f"{label} {seconds:.3f} s" for label, seconds in self.steps)] + [
            f"profile of {step} (own time by code, cProfile): " + ", ".join(f"{owner} {share:.0%}" for owner, share in owners)
            for step, owners in self.profiles]


def plan_breakdown(server: SimServer, manifest_dir: str) -> Breakdown:
    """Time the steps `vizctl plan` takes one by one, then profile the CPU-heavy ones."""
    client = ModelArtsClient(
        server.url, PROJECT, TokenAuth(TOKEN), RequestsTransport(pool_size=DEFAULT_PARALLELISM + 4),
        rate_limiter=RateLimiter(DEFAULT_MAX_RPS),
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
    return Breakdown(steps, [
        ("manifest.load_manifests", profile_owners(lambda: load_manifests([manifest_dir]))),
        ("planner.build_plan", profile_owners(lambda: build_plan(manifest, snapshot, {}, PlanOptions()))),
    ])


def plan_scenario(scale: Scale, latency: float) -> tuple[list[Result], Breakdown]:
    """`vizctl plan` of ``plan_declared`` jobs against ``plan_live`` live ones, without and with details reads."""
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
    for title, with_type in (("plan", False), ("plan, job_type declared", True)):
        extra = {"job_type": "tensorboard"} if with_type else {}
        with tempfile.TemporaryDirectory() as tmp, simulator(quota=scale.plan_live + scale.plan_declared) as server:
            server.state.seed_jobs(PROJECT, live)
            write_manifest(tmp, [job(name, job_desc="benchmark job", **extra) for name in declared])
            walls = []
            for _ in range(1 if with_type else PLAN_REPEATS):  # the plain plan is short and CPU-bound: take a median
                server.reset_stats()
                run = run_cli(server, tmp, "plan", "-f", tmp, "-v")
                walls.append(run.wall)
            results.append(plan_result(title, shape, run, walls, route_calls(server), scale, with_type, existing, latency))
            if not with_type:
                breakdown = plan_breakdown(server, tmp)
                results[-1].notes += breakdown.notes()
    return results, breakdown


def plan_result(title: str, shape: str, run: CliRun, walls: list[float], calls: dict[str, int], scale: Scale,
                with_type: bool, existing: int, latency: float) -> Result:
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
        notes.append(f"lower bounds for {details} details calls at the defaults: "
                     + lower_bounds(details, DEFAULT_PARALLELISM, DEFAULT_MAX_RPS, latency))
    else:
        target = f"≤ {PLAN_MAX_LISTS} list calls and < {PLAN_MAX_SECONDS:g} s"
        passed = plan_ok and lists <= PLAN_MAX_LISTS and wall < PLAN_MAX_SECONDS
    if len(walls) > 1:
        notes.append(f"wall time is the median of {len(walls)} runs: " + ", ".join(f"{w:.2f}" for w in walls) + " s")
    if client is not None and (client["list"], client["detail"]) != (lists, details):
        notes.append(f"client count {client} differs from the simulator's")
    return Result(title, shape, wall, calls, client, target, passed, notes)


# -- scenario 2: apply ------------------------------------------------------------


def apply_run(scale: Scale, parallelism: int = DEFAULT_PARALLELISM, max_rps: float = DEFAULT_MAX_RPS) -> ApplyRun:
    """`vizctl apply --auto-approve` of ``apply_jobs`` new jobs, with the given CLI options."""
    names = [f"app-{i:05d}" for i in range(scale.apply_jobs)]
    with tempfile.TemporaryDirectory() as tmp, simulator(startup_seconds=scale.startup) as server:
        write_manifest(tmp, [job(n) for n in names])
        run = run_cli(server, tmp, "apply", "-f", tmp, "--auto-approve", "--output", "json", "-v",
                      *cli_options(parallelism, max_rps))
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
        parallelism, max_rps, run.wall, calls,
        ast.literal_eval(found[1]) if found else None,
        creates_done=max(accepted, default=run.started) - run.started,
        polls=polls,
        rounds=len(polls) + (1 if converged else 0),
        last_running=max(running_since, default=now) - run.started,
        converged=converged,
        detail="" if converged else f"exit {run.code}, {summary.get('outcomes')}; stderr: {run.err.strip()[-300:]}",
    )


def apply_passed(scale: Scale, run: ApplyRun) -> bool:
    return run.converged and run.wall <= APPLY_MAX_RATIO * scale.startup


def apply_scenario(scale: Scale) -> tuple[list[Result], ApplyRun, list[ApplyRun]]:
    """The default apply with its two targets, and, when the time target fails, the sweep."""
    run = apply_run(scale)
    floor = scale.startup
    shape = f"{scale.apply_jobs} new jobs, {floor:g} s startup each"
    lists = count(run.calls, "GET list")
    timing = [
        f"floor {floor:g} s (one job's startup); plan read and creates all done at {run.creates_done:.2f} s; "
        f"the simulator turned the last job RUNNING at {run.last_running:.2f} s; vizctl saw it and finished at {run.wall:.2f} s",
        "poll rounds with jobs still waiting at " + (", ".join(f"{t:.2f}" for t in run.polls) or "none") + " s (then the final round)",
    ]
    if not run.converged:
        timing.append(f"did not converge: {run.detail}")
    wall = Result(
        "apply", shape, run.wall, run.calls, run.client_calls,
        f"≤ {APPLY_MAX_RATIO:g} × floor = {APPLY_MAX_RATIO * floor:g} s",
        apply_passed(scale, run),
        [f"wall / floor = {run.wall / floor:.2f}"] + timing,
    )
    per_round = Result(
        "apply: one list call per poll round", shape, run.wall, run.calls, run.client_calls,
        "list calls = poll rounds + 3 (the plan's read of the empty project, the name check after the creates, the final read)",
        run.converged and lists == run.rounds + 3,
        [f"{run.rounds} poll rounds for {scale.apply_jobs} jobs, {lists} list calls in all"],
    )
    if run.client_calls is not None and run.client_calls != {k.split()[1]: v for k, v in run.calls.items()}:
        wall.notes.append(f"client count {run.client_calls} differs from the simulator's")
    sweep = [] if wall.passed else [apply_run(scale, p, r) for p, r in SWEEP]
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
        f"requests {requests.__version__}, PyYAML {yaml.__version__} (libyaml {'available' if yaml.__with_libyaml__ else 'not available'})",
        f"- Simulator: in-process SimServer over loopback HTTP, {LATENCY * 1000:g} ms latency per request, seed {SEED}; "
        "the CLI runs in the same process (client and server share the GIL and the CPUs)",
        f"- vizctl defaults used unless a row says otherwise: --parallelism {DEFAULT_PARALLELISM}, --max-rps {DEFAULT_MAX_RPS:g}",
    ]


def calls_text(calls: dict[str, int]) -> str:
    return ", ".join(f"{route} {n}" for route, n in calls.items()) or "none"


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "**FAIL**", None: "—"}[passed]


def sweep_table(scale: Scale, runs: list[ApplyRun]) -> list[str]:
    lines = [
        "| --parallelism | --max-rps | creates done | last RUNNING (sim) | wall | poll lag | wall/floor | poll rounds | list calls | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        label = " (defaults, above)" if r is runs[0] else ""
        lines.append(
            f"| {r.parallelism}{label} | {r.max_rps:g} | {r.creates_done:.2f} s | {r.last_running:.2f} s | {r.wall:.2f} s | "
            f"{r.poll_lag:.2f} s | {r.wall / scale.startup:.2f} | {r.rounds} | {count(r.calls, 'GET list')} | {verdict(apply_passed(scale, r))} |"
        )
    passing = [r for r in runs if apply_passed(scale, r)]
    if passing:
        best = min(passing, key=lambda r: (r.parallelism, r.max_rps))
        lines.append(f"\nThe least setting tried that meets the target: `--parallelism {best.parallelism} --max-rps {best.max_rps:g}`.")
    else:
        lines.append("\nNo `--parallelism` / `--max-rps` setting tried meets the target.")
    return lines


def where_time_goes(scale: Scale, results: dict[str, Result], default: ApplyRun, latency: float, breakdown: Breakdown) -> list[str]:
    """What this run's numbers say about where vizctl spends its time; computed, no target judged here."""
    limit = APPLY_MAX_RATIO * scale.startup
    creates = count(default.calls, "POST create")
    apply_line = (
        f"- **apply** ({scale.apply_jobs} new jobs, {scale.startup:g} s startup): finished at {default.wall:.2f} s = "
        f"{default.creates_done:.2f} s until the last create was accepted (plan read and {creates} creates; lower bounds "
        f"for the creates: {lower_bounds(creates, default.parallelism, default.max_rps, latency)}) + "
        f"{default.last_running - default.creates_done:.2f} s until the simulator turned the last job RUNNING + "
        f"{default.poll_lag:.2f} s of poll lag until a poll round saw it ({default.rounds} rounds). "
        f"Beyond the {scale.startup:g} s floor: {default.wall - scale.startup:.2f} s, of {limit - scale.startup:.2f} s the target allows."
    )
    plain, typed = results["plan"], results["plan, job_type declared"]
    steps = dict(breakdown.steps)
    plan_line = (
        f"- **plan** ({scale.plan_declared} declared vs {scale.plan_live} live): {plain.wall:.2f} s. Step by step, "
        f"{breakdown.cpu:.3f} s of {breakdown.total:.3f} s ({breakdown.cpu / breakdown.total:.0%}) is vizctl's CPU work "
        f"(loading, planning, rendering) and {steps[LIST_STEP]:.3f} s reading the live jobs "
        f"({count(plain.calls, 'GET list')} list call(s)). Largest step: {max(breakdown.steps, key=lambda s: s[1])[0]}."
    )
    details = count(typed.calls, "GET detail")
    extra = typed.wall - plain.wall
    details_line = (
        f"- **plan, job_type declared**: {typed.wall:.2f} s, {extra:.2f} s more than the plain plan for {details} details calls "
        f"({details / extra if extra > 0 else float('inf'):.0f} a second). Lower bounds at the defaults: "
        f"{lower_bounds(details, DEFAULT_PARALLELISM, DEFAULT_MAX_RPS, latency)}."
    )
    return [apply_line, plan_line, details_line]


def report(scale: Scale, argv: list[str], results: list[Result], default: ApplyRun, sweep: list[ApplyRun],
           latency: float, breakdown: Breakdown, elapsed: float) -> str:
    lines = [f"# vizctl benchmark results ({scale.name} run)", ""]
    lines += machine()
    lines += [
        f"- Simulator's measured time per request: median {latency * 1000:.1f} ms (sequential details calls on one kept-alive connection)",
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
        lines += ["## Apply: settings that meet the target", "",
                  f"The default apply missed its target, so it ran again with other CLI settings ({scale.apply_jobs} jobs, {scale.startup:g} s startup):", ""]
        lines += sweep_table(scale, [default] + sweep) + [""]
    lines += ["## Where the time goes", "", "Computed from the numbers above.", ""]
    lines += where_time_goes(scale, {r.scenario: r for r in results}, default, latency, breakdown) + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark vizctl plan and apply against in-process simulators.")
    parser.add_argument("--quick", action="store_true", help="small scale, under ~30 s (a smoke run)")
    parser.add_argument("--out", help="results file (default benchmarks/RESULTS.md, or benchmarks/RESULTS-quick.md with --quick)")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    out = args.out or os.path.join(HERE, "RESULTS-quick.md" if args.quick else "RESULTS.md")
    started = time.perf_counter()
    latency = request_latency()
    results, breakdown = plan_scenario(scale, latency)
    apply_results, default, sweep = apply_scenario(scale)
    results += apply_results
    results.append(naive_scenario(scale, default))
    text = report(scale, sys.argv[1:] if argv is None else argv, results, default, sweep, latency, breakdown,
                  time.perf_counter() - started)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    for r in results:
        print(f"{verdict(r.passed).strip('*'):4}  {r.scenario}: {r.wall:.2f} s, {calls_text(r.calls)}")
    print(f"Results written to {out}")
    return 3 if any(r.passed is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
