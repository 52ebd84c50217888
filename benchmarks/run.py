"""vizctl against the scripts a user would write instead, side by side in one run.

    python benchmarks/run.py                        # full run (about 4 minutes); writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick                # small scale (under a minute); writes benchmarks/RESULTS-quick.md
    python benchmarks/run.py --quick --case plan --backend fixed   # one case, one server: seconds

Every contender runs as its own process, as a user would time it: ``vizctl``
with its default flags, and the scripts of ``benchmarks/contenders.py`` (plain
``requests`` loops). They run interleaved, several times, against two servers:
``fixed`` (``benchmarks/fixed_server.py``: its own process, 20 ms a request and
nothing else) and ``sim`` (vizctl's simulator, 20 ms latency, in this process).
API calls are counted by the server. The report gives medians and ratios; see
benchmarks/README.md. Exit status: 0 when every target passed, 3 when one failed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import datetime
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
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import requests
import yaml

import vizctl
from vizctl.api.auth import TokenAuth
from vizctl.cli_parser import build_parser
from vizctl.api.client import ModelArtsClient
from vizctl.manifests.loader import load_manifests
from vizctl.planning.planner import PlanOptions, build_plan
from vizctl.planning.render import RENDERERS
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.api.transport import RequestsTransport

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
STDLIB = sysconfig.get_paths()["stdlib"]
CONTENDERS = os.path.join(HERE, "contenders.py")
FIXED_SERVER = os.path.join(HERE, "fixed_server.py")
PROJECT = "bench-project"
TOKEN = "bench-token"
LATENCY = 0.02  # seconds each server adds to every API request
SLOW_LATENCY = 0.1  # the plan-slow case's: a distant region, a VPN
SEED = 1  # the simulator's RNG: fixed for reproducible runs
DEFAULT_PARALLELISM: int = build_parser().parse_args(["plan"]).parallelism

# Targets (issue 10), each a ratio measured in one run.
PLAN_VS_NAIVE = 1.25  # the naive loop's time / vizctl's, at least
PLAN_VS_LIST = 1.2  # vizctl's time / the list-only script's, at most
PLAN_VS_NAIVE_SLOW = 2.0  # the naive loop's time / vizctl's at SLOW_LATENCY, at least (issue 17)
DETAILS_VS_FLOOR = 1.5  # vizctl's plan with details (cold cache) / the details floor script's, at most
APPLY_VS_FLOOR = {300: 1.2, 1000: 1.3}  # vizctl apply / one job's startup, at most (other sizes: 1.2)
POLL_LAG = 1.0  # seconds from the last job turning RUNNING to vizctl's last poll round, at most
MEMORY_MIB = 200  # vizctl plan's peak RSS at the largest scale point, at most


@dataclass(frozen=True)
class Scale:
    """Sizes of one run (full or quick)."""

    name: str
    live: int  # live jobs in the plan cases
    declared: int  # declared jobs; all but ``new`` are live
    new: int  # declared jobs to create
    drift: int  # declared live jobs whose job_desc differs
    applies: tuple[int, ...]  # new jobs per apply case
    startup: float  # a new job's time to RUNNING: the apply floor
    points: tuple[int, ...]  # live jobs at each point of the scale curve
    repeats: int  # runs of each contender, interleaved; the median counts
    sdk_sample: int  # jobs the per-job apply really creates; extrapolated to the apply sizes


FULL = Scale("full", 5000, 1000, 50, 50, (300, 1000), 5.0, (1000, 10_000, 100_000), 3, 3)
QUICK = Scale("quick", 500, 100, 5, 5, (30,), 2.0, (1000, 5000), 3, 2)


@dataclass
class Run:
    """One process: how long it took, what it printed, its peak memory and the API calls it made."""

    wall: float
    code: int
    out: str
    err: str
    rss_mib: float
    calls: dict[str, int]
    started: float  # epoch seconds


@dataclass
class Row:
    """One contender in one case: its runs and, for the one judged, the verdict."""

    case: str
    backend: str
    contender: str
    runs: list[Run]
    note: str = ""
    extrapolated: float | None = None  # wall time scaled up from a sample

    @property
    def wall(self) -> float:
        return self.extrapolated if self.extrapolated is not None else statistics.median(r.wall for r in self.runs)

    @property
    def calls(self) -> dict[str, int]:
        return self.runs[-1].calls


@dataclass
class Verdict:
    case: str
    backend: str
    target: str
    measured: str
    passed: bool


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def judge(self, case: str, backend: str, target: str, measured: str, passed: bool) -> None:
        self.verdicts.append(Verdict(case, backend, target, measured, passed))


# -- servers ----------------------------------------------------------------------


class Backend:
    """A server answering the API: ``url``, request counters by route, and when the last created job runs."""

    name = ""
    url = ""

    def stats(self) -> dict[str, int]:
        raise NotImplementedError

    def last_running(self) -> float | None:
        raise NotImplementedError


class FixedBackend(Backend):
    """benchmarks/fixed_server.py in its own process."""

    name = "fixed"

    def __init__(self, seed: list[tuple[str, str]], startup: float, latency: float):
        self._seed = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(seed, self._seed)
        self._seed.close()
        self._proc = subprocess.Popen(
            [sys.executable, FIXED_SERVER, "--seed", self._seed.name, "--latency", str(latency), "--startup", str(startup)],
            stdout=subprocess.PIPE, text=True,
        )
        self.url = self._proc.stdout.readline().strip()

    def _admin(self, path: str, method: str = "GET") -> dict:
        with urllib.request.urlopen(urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)) as answer:
            return json.load(answer)

    def stats(self) -> dict[str, int]:
        return dict(sorted(self._admin("/__stats__")["stats"].items()))

    def last_running(self) -> float | None:
        return self._admin("/__stats__")["last_running"]

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait()
        self._proc.stdout.close()
        os.unlink(self._seed.name)


class SimBackend(Backend):
    """vizctl's simulator, in this process (the contenders are other processes)."""

    name = "sim"

    def __init__(self, seed: list[tuple[str, str]], startup: float, latency: float):
        self._server = SimServer(SimConfig(latency=latency, seed=SEED, startup_seconds=startup, quota=10 ** 6)).start()
        self._server.state.seed_jobs(PROJECT, [
            {"job_name": name, "train_url": f"/bucket/{name}/logs/", "job_desc": desc, "job_type": "tensorboard", "running": True}
            for name, desc in seed
        ])
        self._seeded = len(seed)
        self._startup = startup
        self.url = self._server.url

    def stats(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self._server.stats_snapshot().items()) if not k.startswith("faults")}

    def last_running(self) -> float | None:
        created = _all_sim_jobs(self._server.state)[self._seeded:]
        return max((int(j["create_time"]) / 1000 + self._startup for j in created), default=None)

    def close(self) -> None:
        self._server.stop()


def _all_sim_jobs(state) -> list[dict]:
    """Every job of the simulated project in creation order, read directly (no HTTP: not counted)."""
    jobs, page = [], 1
    while True:
        answer = state.list_jobs(PROJECT, {"per_page": "1000", "page": str(page)})
        jobs += answer["jobs"]
        if not answer["jobs"] or len(jobs) >= answer["job_total_count"]:
            return jobs
        page += 1


BACKENDS = {"fixed": FixedBackend, "sim": SimBackend}


@contextlib.contextmanager
def backend(kind: str, seed: list[tuple[str, str]], startup: float = 5.0, latency: float = LATENCY) -> Iterator[Backend]:
    server = BACKENDS[kind](seed, startup, latency)
    try:
        yield server
    finally:
        server.close()


# -- processes --------------------------------------------------------------------


def run_process(server: Backend, argv: list[str], cache_dir: str | None = None) -> Run:
    """Run ``argv`` against ``server``; wall time, peak RSS (from wait4) and the API calls the server counted."""
    env = {"PATH": os.environ.get("PATH", ""), "VIZCTL_ENDPOINT": server.url, "VIZCTL_PROJECT_ID": PROJECT, "VIZCTL_TOKEN": TOKEN}
    if cache_dir is not None:
        env["VIZCTL_CACHE_DIR"] = cache_dir
    before = server.stats()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started, clock = time.time(), time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - clock
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
    after = server.stats()
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    peak = re.search(r"\npeak-rss-kib: (\d+)\n\Z", errors)
    return Run(wall, proc.returncode, text, errors, int(peak[1]) / 1024 if peak else usage.ru_maxrss / 1024, calls, started)


# Runs a module or script and, at exit, prints the process's own peak RSS (VmHWM of its memory after exec).
# wait4's ru_maxrss cannot be used: it counts the pages the child shared with this (large) process before exec.
PEAK_WRAPPER = """
import atexit, runpy, sys
def peak():
    with open('/proc/self/status') as status:
        sys.stderr.write(''.join('\\npeak-rss-kib: ' + line.split()[1] + '\\n' for line in status if line.startswith('VmHWM:')))
atexit.register(peak)
kind, target = sys.argv[1:3]
sys.argv = [target] + sys.argv[3:]
runpy.run_module(target, run_name='__main__', alter_sys=True) if kind == 'module' else runpy.run_path(target, run_name='__main__')
"""


def vizctl_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", PEAK_WRAPPER, "module", "vizctl", *args]


def script_cmd(name: str, server: Backend, directory: str, n: int | None = None) -> list[str]:
    return [sys.executable, "-c", PEAK_WRAPPER, "path", CONTENDERS, name, server.url, PROJECT, directory] + ([str(n)] if n is not None else [])


def interleaved(repeats: int, contenders: dict[str, Callable[[], Run]]) -> dict[str, list[Run]]:
    """Each contender ``repeats`` times, round-robin, so machine noise hits them alike."""
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, go in contenders.items():
            runs[name].append(go())
    return runs


def write_manifest(directory: str, names: list[str], **fields: Any) -> str:
    os.makedirs(directory, exist_ok=True)
    jobs = [{"job_name": n, "train_url": f"/bucket/{n}/logs/", "job_desc": "benchmark job", **fields} for n in names]
    with open(os.path.join(directory, "jobs.yaml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"jobs": jobs}, handle, sort_keys=False)
    return directory


def calls_text(calls: dict[str, int]) -> str:
    return ", ".join(f"{route} {n}" for route, n in sorted(calls.items())) or "none"


def check(run: Run, expected: str, who: str) -> str:
    """'' when ``run`` exited 0 and printed ``expected``; else what went wrong."""
    if run.code == 0 and expected in run.out:
        return ""
    return f"{who}: exit {run.code}, wanted `{expected}`; stderr: {run.err.strip()[-300:]}"


# -- the plan cases -----------------------------------------------------------------


@dataclass(frozen=True)
class PlanShape:
    seed: list[tuple[str, str]]
    declared: list[str]
    existing: int
    expected: str  # vizctl's plan line
    naive_expected: str


def plan_shape(scale: Scale, live: int | None = None) -> PlanShape:
    live = live or scale.live
    declared_count = min(scale.declared, live)
    new = scale.new if live == scale.live else 0
    step = max(1, live // declared_count)
    declared_live = [f"live-{i * step:06d}" for i in range(declared_count - new)]
    drift = set(declared_live[: scale.drift])
    seed = [(f"live-{i:06d}", "stale description" if f"live-{i:06d}" in drift else "benchmark job") for i in range(live)]
    declared = declared_live + [f"new-{i:05d}" for i in range(new)]
    return PlanShape(seed, declared, len(declared_live), f"Plan: {new} to create, {len(drift)} to update, 0 to replace, 0 to restart.",
                     f"{new} to create, {len(drift)} to update")


def plan_case(scale: Scale, kind: str, tmp: str, report: Report, latency: float = LATENCY) -> None:
    """Plan 1,000 declared against 5,000 live: vizctl, the naive loop, the list-only floor, the per-job SDK way.

    At ``SLOW_LATENCY`` (the plan-slow case) the target is the naive loop's alone, and the per-job way is left out
    (950 reads one after the other: minutes)."""
    slow = latency != LATENCY
    shape = plan_shape(scale)
    directory = write_manifest(os.path.join(tmp, "plan"), shape.declared)
    # a cache directory as a user has one ($HOME/.cache/vizctl): the first run is cold, the later ones remember the page count
    cache = os.path.join(tmp, f"cache-plan-{kind}-{latency * 1000:g}ms")
    with backend(kind, shape.seed, latency=latency) as server:
        runs = interleaved(scale.repeats, {
            "vizctl plan": lambda: run_process(server, vizctl_cmd("plan", "-f", directory, "-v"), cache_dir=cache),
            "naive loop": lambda: run_process(server, script_cmd("naive-plan", server, directory)),
            "list only": lambda: run_process(server, script_cmd("list-only", server, directory)),
            "vizctl --version (start-up alone)": lambda: run_process(server, vizctl_cmd("--version")),
        })
        sdk = None if slow else run_process(server, script_cmd("sdk-plan", server, directory))  # ~20 ms per job: once is enough
        if kind == "fixed" and not slow:
            report.notes += plan_breakdown(server, directory)
    case = f"plan {scale.declared} vs {scale.live} live" + (f" at {latency * 1000:g} ms" if slow else "")
    problems = [check(runs["vizctl plan"][-1], shape.expected, "vizctl"), check(runs["naive loop"][-1], shape.naive_expected, "naive loop")]
    rows = {name: Row(case, kind, name, r) for name, r in runs.items()}
    if sdk is not None:
        rows["sdk per job"] = Row(case, kind, "sdk per job (one details read per job)", [sdk])
    report.rows += rows.values()
    v, naive, floor = rows["vizctl plan"].wall, rows["naive loop"].wall, rows["list only"].wall
    ok = not any(problems)
    if slow:
        report.judge(case, kind, f"naive loop / vizctl ≥ {PLAN_VS_NAIVE_SLOW}", f"{naive / v:.2f}", ok and naive / v >= PLAN_VS_NAIVE_SLOW)
    else:
        report.judge(case, kind, f"naive loop / vizctl ≥ {PLAN_VS_NAIVE}", f"{naive / v:.2f}", ok and naive / v >= PLAN_VS_NAIVE)
        report.judge(case, kind, f"vizctl / list only ≤ {PLAN_VS_LIST}", f"{v / floor:.2f}", ok and v / floor <= PLAN_VS_LIST)
    lists = rows["vizctl plan"].calls.get("GET list", 0)
    pages = math.ceil(scale.live / 1000)
    # every page once, and page 1 newest-first: the cross-check that the list is whole (client.list_all)
    report.judge(case, kind, f"vizctl list calls = pages + 1 ({pages + 1}), no details call", f"{calls_text(rows['vizctl plan'].calls)}",
                 ok and lists == pages + 1 and "GET detail" not in rows["vizctl plan"].calls)
    startup = rows["vizctl --version (start-up alone)"].wall
    report.notes.append(f"{case} ({kind}): vizctl's start-up alone (`vizctl --version`: interpreter, imports, argument parsing) "
                        f"took {startup:.2f} s of its {v:.2f} s; the list-only script's whole run took {floor:.2f} s")
    report.notes += [p for p in problems if p]


def plan_slow_case(scale: Scale, kind: str, tmp: str, report: Report) -> None:
    """The plan case at 100 ms a request: where round trips, not CPU, decide."""
    plan_case(scale, kind, tmp, report, latency=SLOW_LATENCY)


def details_case(scale: Scale, kind: str, tmp: str, report: Report) -> None:
    """The same plan with ``job_type`` declared: a details read per live declared job (cold cache), none warm."""
    shape = plan_shape(scale)
    directory = write_manifest(os.path.join(tmp, "details"), shape.declared, job_type="tensorboard")
    caches = iter(range(10 ** 6))

    def cold_then_warm() -> Run:
        cache = os.path.join(tmp, f"cache-{next(caches)}")
        cold = run_process(server, vizctl_cmd("plan", "-f", directory, "-v"), cache_dir=cache)
        warm.append(run_process(server, vizctl_cmd("plan", "-f", directory, "-v"), cache_dir=cache))
        return cold

    warm: list[Run] = []
    with backend(kind, shape.seed) as server:
        runs = interleaved(scale.repeats, {
            "vizctl plan, cold cache": cold_then_warm,
            f"details floor ({DEFAULT_PARALLELISM} at once)": lambda: run_process(
                server, script_cmd("details-floor", server, directory, DEFAULT_PARALLELISM)),
        })
    case = f"plan with job_type, {shape.existing} details"
    rows = [Row(case, kind, name, r) for name, r in runs.items()] + [Row(case, kind, "vizctl plan, warm cache (2nd run)", warm)]
    report.rows += rows
    cold, floor, warm_row = rows
    problems = [check(cold.runs[-1], shape.expected, "vizctl cold"), check(warm[-1], shape.expected, "vizctl warm")]
    ok = not any(problems)
    report.judge(case, kind, f"vizctl cold / details floor ≤ {DETAILS_VS_FLOOR}", f"{cold.wall / floor.wall:.2f}",
                 ok and cold.wall / floor.wall <= DETAILS_VS_FLOOR)
    report.judge(case, kind, f"cold: {shape.existing} details calls; warm: none", f"{calls_text(cold.calls)} / {calls_text(warm_row.calls)}",
                 ok and cold.calls.get("GET detail") == shape.existing and "GET detail" not in warm_row.calls)
    report.notes += [p for p in problems if p]


def plan_breakdown(server: Backend, directory: str) -> list[str]:
    """vizctl's plan steps timed one by one in this process, and the CPU steps' profile (cProfile, own time by code)."""
    client = ModelArtsClient(server.url, PROJECT, TokenAuth(TOKEN), RequestsTransport(pool_size=DEFAULT_PARALLELISM + 4))
    steps: list[str] = []

    def timed(label: str, fn: Callable[[], Any]) -> Any:
        clock = time.perf_counter()
        value = fn()
        steps.append(f"{label} {time.perf_counter() - clock:.3f} s")
        return value

    manifest = timed("load_manifests", lambda: load_manifests([directory]))
    snapshot = timed("client.list_all (cold)", client.list_all)
    timed("again (warm: the page count remembered)", client.list_all)
    plan = timed("build_plan", lambda: build_plan(manifest, snapshot, {}, PlanOptions()))
    timed("render text", lambda: RENDERERS["text"]().render(plan))
    profiles = [
        f"profile of {label}: " + ", ".join(f"{owner} {share:.0%}" for owner, share in profile_owners(fn))
        for label, fn in (("load_manifests", lambda: load_manifests([directory])),
                          ("client.list_all (this thread only)", client.list_all),
                          ("build_plan", lambda: build_plan(manifest, snapshot, {}, PlanOptions())))
    ]
    return ["vizctl plan step by step, in-process against the fixed server (imports excluded): " + "; ".join(steps)] + profiles


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


def profile_owners(fn: Callable[[], Any], top: int = 4) -> list[tuple[str, float]]:
    """Run ``fn`` under cProfile; the ``top`` code owners by share of its own (exclusive) time."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    own: collections.Counter[str] = collections.Counter()
    for (path, _, function), (_, _, exclusive, _, _) in pstats.Stats(profiler).stats.items():
        own[code_owner(path, function)] += exclusive
    total = sum(own.values()) or 1.0
    return [(owner, seconds / total) for owner, seconds in own.most_common(top)]


# -- the apply cases ----------------------------------------------------------------


def apply_case(scale: Scale, kind: str, tmp: str, report: Report) -> None:
    """Create N jobs and wait until they run: vizctl, the naive loop (creates in turn, polls the list), the per-job way."""
    sdk_dir = write_manifest(os.path.join(tmp, "sdk-apply"), [f"sdk-{i:05d}" for i in range(scale.sdk_sample)])
    with backend(kind, [], scale.startup) as server:
        sdk = run_process(server, script_cmd("sdk-apply", server, sdk_dir))
    for n in scale.applies:
        directory = write_manifest(os.path.join(tmp, f"apply-{n}"), [f"app-{i:05d}" for i in range(n)])
        case = f"apply {n} new jobs, {scale.startup:g} s startup"
        runs = {}
        for name, argv in (("vizctl apply", lambda s: vizctl_cmd("apply", "-f", directory, "--auto-approve", "--output", "json", "-v")),
                           ("naive loop", lambda s: script_cmd("naive-apply", s, directory))):
            with backend(kind, [], scale.startup) as server:  # a fresh, empty project for each
                run = run_process(server, argv(server))
                last = server.last_running()
            runs[name] = (run, (last or run.started) - run.started)
        run, last_running = runs["vizctl apply"]
        events = [json.loads(line) for line in run.out.splitlines() if line.startswith("{")]
        polls = [e["time"] - run.started for e in events if e["type"] == "apply_progress" and "waiting" in e]
        accepted = [e["time"] - run.started for e in events if e["type"] == "apply_progress" and e.get("message") == "accepted"]
        summary = next((e for e in events if e["type"] == "summary"), {})
        end = summary.get("time", run.started + run.wall) - run.started
        converged = run.code == 0 and summary.get("running") == n
        rounds = len(polls) + 1
        ratio = APPLY_VS_FLOOR.get(n, 1.2)
        report.rows += [
            Row(case, kind, "vizctl apply", [run], f"creates done {max(accepted, default=0):.2f} s, last job RUNNING "
                f"{last_running:.2f} s, seen {end:.2f} s; poll rounds at " + ", ".join(f"{t:.2f}" for t in polls)),
            Row(case, kind, "naive loop", [runs["naive loop"][0]], f"last job RUNNING {runs['naive loop'][1]:.2f} s"),
            Row(case, kind, "sdk per job (EXTRAPOLATED)", [sdk], f"measured on {scale.sdk_sample} jobs: {sdk.wall:.1f} s, "
                f"{calls_text(sdk.calls)}; ×{n / scale.sdk_sample:g}", extrapolated=sdk.wall * n / scale.sdk_sample),
        ]
        report.judge(case, kind, f"vizctl / floor ({scale.startup:g} s) ≤ {ratio}", f"{run.wall / scale.startup:.2f}",
                     converged and run.wall <= ratio * scale.startup)
        report.judge(case, kind, f"last job seen running ≤ {POLL_LAG:g} s after it ran", f"{end - last_running:.2f} s",
                     converged and end - last_running <= POLL_LAG)
        pages = math.ceil(n / 1000)
        lists = run.calls.get("GET list", 0)
        # whole reads (every page and the newest-first cross-check): the plan's of the empty project, the
        # name check after the creates and the final read; and one page per poll round
        allowed = 2 + 2 * (pages + 1) + pages * rounds
        report.judge(case, kind, f"list calls ≤ 2 + 2 × ({pages} page(s) + 1) + {pages} × poll rounds ({rounds})", f"{lists}",
                     converged and lists <= allowed and run.calls.get("POST create") == n)
        if not converged:
            report.notes.append(f"{case} ({kind}): vizctl did not converge: exit {run.code}; {run.err.strip()[-300:]}")


# -- the scale curve ----------------------------------------------------------------


def scale_case(scale: Scale, kind: str, tmp: str, report: Report) -> None:
    """vizctl plan of 1,000 declared jobs against a growing project: time and peak memory, next to the list-only floor."""
    times = {}
    for live in scale.points:
        shape = plan_shape(scale, live)
        directory = write_manifest(os.path.join(tmp, f"scale-{live}"), shape.declared)
        case = f"scale: plan {len(shape.declared)} vs {live} live"
        with backend(kind, shape.seed) as server:
            runs = interleaved(scale.repeats, {
                "vizctl plan": lambda: run_process(server, vizctl_cmd("plan", "-f", directory)),
                "list only": lambda: run_process(server, script_cmd("list-only", server, directory)),
            })
        rows = [Row(case, kind, name, r) for name, r in runs.items()]
        report.rows += rows
        times[live] = rows[0].wall
        peak = max(r.rss_mib for r in rows[0].runs)
        problem = check(rows[0].runs[-1], shape.expected, "vizctl")
        if live == max(scale.points):
            report.judge(case, kind, f"vizctl peak RSS < {MEMORY_MIB} MiB", f"{peak:.0f} MiB", not problem and peak < MEMORY_MIB)
        if problem:
            report.notes.append(problem)
    small, large = min(times), max(times)
    per_k = {live: (t - times[small]) / (live - small) * 1000 for live, t in times.items() if live != small}
    if per_k:
        report.notes.append(f"scale ({kind}): beyond {small} live jobs, each 1,000 more cost vizctl " + ", ".join(
            f"{v * 1000:.0f} ms (up to {live})" for live, v in per_k.items()) + f"; {large} live in {times[large]:.2f} s")


CASES = {"plan": plan_case, "plan-slow": plan_slow_case, "details": details_case, "apply": apply_case, "scale": scale_case}


# -- the report -----------------------------------------------------------------------


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
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    return [
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {cpu}; {platform.platform()}; load average {load[0]:.1f} at the start",
        f"- Python {platform.python_version()}; vizctl {vizctl.__version__} at commit {commit}{dirty}; "
        f"requests {requests.__version__}, PyYAML {yaml.__version__} (libyaml {'available' if yaml.__with_libyaml__ else 'not available'})",
        f"- Servers: `fixed` = benchmarks/fixed_server.py (own process, {LATENCY * 1000:g} ms a request, TCP_NODELAY); "
        f"`sim` = vizctl's simulator in the benchmark's process ({LATENCY * 1000:g} ms latency, seed {SEED})",
        f"- Every contender is its own process (interpreter start and imports included), run interleaved; "
        f"wall times are medians; vizctl runs with its default flags (--parallelism {DEFAULT_PARALLELISM}, no --max-rps)",
    ]


def render(scale: Scale, argv: list[str], report: Report, elapsed: float, start_lines: list[str]) -> str:
    lines = [f"# vizctl benchmark results ({scale.name} run)", ""] + start_lines + [
        f"- Command: `python benchmarks/run.py{' ' + ' '.join(argv) if argv else ''}` (took {elapsed:.0f} s)", "",
        "## Targets", "", "| case | server | target | measured | result |", "|---|---|---|---|---|",
    ]
    lines += [f"| {v.case} | {v.backend} | {v.target} | {v.measured} | {'PASS' if v.passed else '**FAIL**'} |" for v in report.verdicts]
    lines += ["", "## Contenders", "",
              "| case | server | contender | wall (median) | runs | vs vizctl | API calls (server) | peak RSS | notes |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in report.rows:
        ref = next((r for r in report.rows if r.case == row.case and r.backend == row.backend and r.contender.startswith("vizctl")), row)
        runs = ", ".join(f"{r.wall:.2f}" for r in row.runs)
        lines.append(f"| {row.case} | {row.backend} | {row.contender} | {row.wall:.2f} s | {runs} | {row.wall / ref.wall:.2f}× | "
                     f"{calls_text(row.calls)} | {max(r.rss_mib for r in row.runs):.0f} MiB | {row.note} |")
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark vizctl against the scripts a user would write instead.")
    parser.add_argument("--quick", action="store_true", help="small scale (about a minute)")
    parser.add_argument("--case", action="append", choices=CASES, help="only this case (repeatable; default all)")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="only this server (repeatable; default both; scale: fixed only)")
    parser.add_argument("--repeats", type=int, help="runs of each contender (default 3)")
    parser.add_argument("--out", help="results file (default benchmarks/RESULTS.md, or RESULTS-quick.md with --quick)")
    parser.add_argument("--note", help="a line for the report's header, e.g. that the machine was shared")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    if args.repeats:
        scale = Scale(**{**scale.__dict__, "repeats": args.repeats})
    out = args.out or os.path.join(HERE, "RESULTS-quick.md" if args.quick else "RESULTS.md")
    started, start_lines = time.perf_counter(), machine() + ([f"- Note: {args.note}"] if args.note else [])
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.case or list(CASES):
            for kind in args.backend or list(BACKENDS):
                if name == "scale" and kind == "sim":
                    continue  # the simulator renders every job for each page: O(N) a page, not what is measured here
                print(f"{name} ({kind}) ...", flush=True)
                CASES[name](scale, kind, os.path.join(tmp, f"{name}-{kind}"), report)
    text = render(scale, sys.argv[1:] if argv is None else argv, report, time.perf_counter() - started, start_lines)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    for v in report.verdicts:
        print(f"{'PASS' if v.passed else 'FAIL'}  {v.case} [{v.backend}]: {v.target}: {v.measured}")
    print(f"Results written to {out}")
    return 3 if any(not v.passed for v in report.verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
