"""The reconcile loop: every interval, read the manifests and the live jobs, plan, report, heal.

A check is what ``vizctl plan`` does (:func:`vizctl.planning.manager.make_plan`: one
whole list read, details only where the details cache does not know them)
and, with healing on, what ``vizctl apply --no-wait`` does with that plan
(:class:`vizctl.applying.machine.Applier`, so every safety of apply holds: a create is
never sent twice, an ambiguous one is settled by the list, a prune is planned
only with ``--prune`` and within the manifests' prune scopes and limits, a plan
with errors changes nothing). A check whose read fails changes nothing.

The manifests are read again every check. While they do not validate, the
last good set is used; a set that reads differently twice in a row (a ``git
pull`` or a ConfigMap update under way) is not used until it reads the same.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from vizctl.applying.machine import Applier, ApplySettings, JobResult
from vizctl.planning.details_cache import DetailsCache
from vizctl.environment import Environment
from vizctl.errors import ApiError, ManifestError, VizctlError
from vizctl.planning.manager import make_plan
from vizctl.manifests.loader import load_manifests
from vizctl.model import DEFAULT_LIST_LAG, Manifest
from vizctl.planning.plan import Plan, plan_to_dict
from vizctl.planning.planner import PlanOptions
from vizctl.applying.progress import TextReporter
from vizctl.reconcile.alerts import Alert, Notifier
from vizctl.reconcile.metrics import Metrics, deltas
from vizctl.reconcile.state import Sync, Tracker, Transition, job_sync, problems, sync_of
from vizctl.planning.render import RENDERERS
from vizctl.wording import plural

if TYPE_CHECKING:
    from vizctl.session import Target


@dataclass(frozen=True)
class Settings:
    """How the loop runs (the command line's flags)."""

    interval: float = 60.0
    jitter: float = 0.1  # each wait is the interval, give or take this fraction
    heal: bool = False
    suspend: bool = False
    suspend_file: str | None = None
    alert_after: int = 1
    options: PlanOptions = PlanOptions()
    parallelism: int = 10
    list_lag: float = DEFAULT_LIST_LAG
    timeout: float = 300.0  # each check (healing included) ends within this long
    once: bool = False  # one check: a failed read is the command's error, not a line of its own


@dataclass(frozen=True)
class Check:
    """What one check found and did."""

    state: Sync
    plan: Plan | None = None  # None when the list could not be read
    error: VizctlError | None = None  # why the check failed: the read, or the plan's errors
    healed: tuple[JobResult, ...] = ()
    suspended: bool = False  # there was something to heal, and healing was suspended
    seconds: float = 0.0


class ManifestSource:
    """The manifests at ``paths``, read again at every check; the last good set while they do not validate."""

    def __init__(self, paths: Sequence[str], environ: Mapping[str, str], first: Manifest):
        self.paths, self.environ = list(paths), environ
        self.good = first  # the set read at start-up (which must validate)
        self.problem: ManifestError | None = None  # why the files on disk are not used

    def refresh(self) -> Manifest:
        """The set to plan with: the files as they are now, if they validate and read the same twice."""
        try:
            fresh = load_manifests(self.paths, self.environ)
            if fresh.digest != self.good.digest and load_manifests(self.paths, self.environ).digest != fresh.digest:
                return self.good  # being changed right now: next check
        except ManifestError as exc:
            self.problem = exc
            return self.good
        self.good, self.problem = fresh, None
        return fresh


class Reconciler:
    """Runs checks against one target, reports them (output, metrics, alerts) and heals when asked."""

    def __init__(
        self,
        target: Target,
        manifests: ManifestSource,
        settings: Settings,
        env: Environment,
        metrics: Metrics,
        notifier: Notifier,
        cache: DetailsCache | None = None,
        stop: threading.Event | None = None,
        rng: Callable[[], float] = random.random,
    ):
        self.target, self.manifests, self.settings, self.env = target, manifests, settings, env
        self.metrics, self.notifier, self.cache = metrics, notifier, cache
        self.stop = stop or threading.Event()
        self.rng = rng
        self.tracker = Tracker(settings.alert_after)
        self.checks = 0
        self._shown: tuple[Sync, str] | None = None  # the state and text last printed
        self._manifest_problem: str | None = None
        self._was_suspended = False

    # -- one check -----------------------------------------------------------------

    def check(self) -> Check:
        """Plan the manifests against the live jobs (no change yet: see :meth:`heal`)."""
        started = time.monotonic()
        self.target.client.start_deadline(self.settings.timeout, started)  # per check: the loop itself runs on
        self.metrics.started_check()
        manifest = self.manifests.refresh()
        try:
            plan, _ = make_plan(self.target.client, manifest, self.settings.options, self.settings.parallelism, self.cache)
        except ApiError as exc:
            return Check(Sync.FAILED, error=exc, seconds=time.monotonic() - started)
        plan = replace(plan, endpoint=self.target.endpoint_label, project_id=self.target.project_id)
        state = sync_of(plan)
        error = VizctlError("the plan has errors: " + "; ".join(problems(plan))) if state is Sync.FAILED else None
        held_back = state is Sync.DRIFTED and plan.has_changes and self.settings.heal and self.suspended()
        return Check(state, plan, error, suspended=held_back, seconds=time.monotonic() - started)

    def heal(self, check: Check) -> Check:
        """The check, after carrying out its plan when healing is on, not suspended, and the plan has
        changes and no errors (a failed read has no plan: it never acts)."""
        plan = check.plan
        wanted = plan is not None and check.state is Sync.DRIFTED and plan.has_changes and self.settings.heal
        if not wanted or check.suspended or self.stop.is_set():
            return check
        changes = [c for c in plan.changes if c.action.is_change]
        self._say(f"Healing {plural(len(changes), 'change')}: " + ", ".join(f"{c.job_name} {c.action.value}" for c in changes))
        settings = ApplySettings(parallelism=self.settings.parallelism, timeout=self.settings.timeout, wait=False, list_lag=self.settings.list_lag)
        results = Applier(self.target.client, TextReporter(self.env, "apply"), settings, stop=self.stop).run(plan)
        for result in results:
            if result.action.is_change:
                self.metrics.heals.labels(result.action.value, result.outcome.value).inc()
        return replace(check, healed=tuple(results))

    def suspended(self) -> bool:
        """Is healing paused: ``--suspend``, or the suspend file exists?"""
        path = self.settings.suspend_file
        return self.settings.suspend or (path is not None and os.path.exists(path))

    # -- reporting -----------------------------------------------------------------

    def report(self, check: Check) -> Transition | None:
        """Tell what the check found: output when something changed, an alert on a transition."""
        self.checks += 1
        self._manifests_changed()
        self._print(check)
        self.tracker, transition = self.tracker.observe(check.state)
        if transition is not None:
            self.notifier.send(self._alert(check, transition))
        return transition

    def measure(self, check: Check, calls: Mapping[str, int]) -> None:
        """The metrics of a check, healing included."""
        self.metrics.record_check(check.state, check.seconds)
        self.metrics.record_calls(dict(calls))
        self.metrics.suspended.set(1 if self.suspended() else 0)
        if check.plan is not None and check.state is not Sync.FAILED:
            self.metrics.record_plan(check.plan)
        if check.state is Sync.FAILED:
            self.metrics.errors.labels("api" if check.plan is None else "plan").inc()
        self.env.log(
            f"check {self.checks}: {check.state.value} in {check.seconds:.2f} s, "
            f"{plural(sum(calls.values()), 'API request')} ({', '.join(f'{k} {v}' for k, v in sorted(calls.items()) if v) or 'none'})"
        )

    def _print(self, check: Check) -> None:
        text = self._render(check.plan, self.env.colors) if check.plan is not None else ""
        # in sync is told once; drift and failure again when what they are changes
        shown = (check.state, "" if check.state is Sync.IN_SYNC else text if check.error is None else str(check.error))
        if check.suspended != self._was_suspended:
            self._was_suspended = check.suspended
            if check.suspended:
                self._say("Healing is suspended" + (f" ({self.settings.suspend_file} exists)" if not self.settings.suspend else "") +
                          ": drift is reported, not changed")
        if shown == self._shown:
            return
        self._shown = shown
        if check.state is Sync.FAILED and check.plan is None and self.settings.once:
            return
        if check.state is Sync.FAILED:
            self._say(f"Check failed: {check.error}; nothing was changed")
            if check.plan is None:
                return
        else:
            self._say({Sync.IN_SYNC: "In sync.", Sync.DRIFTED: "Drift found:"}[check.state])
        self.env.out(text)

    def _manifests_changed(self) -> None:
        problem = self.manifests.problem
        text = None if problem is None else problem.report()
        if text == self._manifest_problem:
            return
        was, self._manifest_problem = self._manifest_problem, text
        self.metrics.manifests_valid.set(0 if text else 1)
        if text:
            self.env.err(text)
            self._say("The manifests do not validate: checking with the last good set")
            self.notifier.send(self._manifest_alert("manifests_invalid", "the manifests no longer validate; the last good set is used", text))
        elif was:
            self._say("The manifests validate again")
            self.notifier.send(self._manifest_alert("manifests_valid", "the manifests validate again", ""))

    def _alert(self, check: Check, transition: Transition) -> Alert:
        plan = check.plan
        previous = None if transition.previous is None else transition.previous.value
        if transition.state is Sync.FAILED:
            summary = "the check failed; nothing is changed while it fails"
        elif transition.state is Sync.DRIFTED:
            drifted = [c for c in plan.changes if job_sync(c) == "drifted"] if plan else []
            summary = f"drift: {plural(len(drifted), 'job')} not as declared (" + ", ".join(f"{c.job_name} {c.action.value}" for c in drifted[:10]) + \
                (", ..." if len(drifted) > 10 else "") + ")"
        else:
            summary = f"in sync{' again' if previous else ''}: {plural(len(plan.changes) if plan else 0, 'job')} as declared"
        return Alert(
            event=transition.state.value, previous=previous, summary=summary,
            diff=self._render(plan, False) if plan is not None else "",
            error=str(check.error) if check.error else "", plan=plan_to_dict(plan) if plan is not None else None,
            endpoint=self.target.endpoint_label, project_id=self.target.project_id, time=time.time(),
        )

    def _manifest_alert(self, event: str, summary: str, error: str) -> Alert:
        return Alert(event=event, previous=None, summary=summary, error=error,
                     endpoint=self.target.endpoint_label, project_id=self.target.project_id, time=time.time())

    def _render(self, plan: Plan, colors: bool) -> str:
        return RENDERERS["text"]().render(plan, verbose=False, colors=colors)

    def _say(self, text: str) -> None:
        self.env.out(f"[{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}] {text}")

    # -- the loop ------------------------------------------------------------------

    def run_once(self) -> Check:
        """One check: planned, reported, healed, measured (its API calls counted)."""
        before = dict(self.target.client.calls)
        started = time.monotonic()
        check = self.check()
        if self.stop.is_set() and check.state is Sync.FAILED and check.plan is None:
            return check  # a read cut short by the stop tells nothing
        self.report(check)
        check = replace(self.heal(check), seconds=time.monotonic() - started)
        self.measure(check, deltas(dict(self.target.client.calls), before))
        return check

    def run(self, max_checks: int | None = None) -> None:
        """Check every interval (with jitter) until :attr:`stop` is set, or ``max_checks`` ran."""
        while not self.stop.is_set():
            check = self.run_once()
            if max_checks is not None and self.checks >= max_checks:
                return
            self.stop.wait(max(0.0, self.next_wait() - check.seconds))

    def next_wait(self) -> float:
        """The interval, give or take ``jitter`` of it (controllers started together spread out)."""
        return self.settings.interval * (1 + self.settings.jitter * (2 * self.rng() - 1))
