"""Carrying out a plan: concurrent mutations, then one wait loop for every job.

Mutations run up to ``parallelism`` at once. None is retried blindly: after an
ambiguous failure (timeout, reset, 5xx) or a duplicate-name answer, the live
state decides whether it took effect (:meth:`Applier._attempt`). Waiting costs
one list call per round for all jobs (:meth:`ModelArtsClient.list_newest`),
with an interval backing off from ``poll_min`` to ``poll_max`` seconds.

Progress goes to a :class:`Reporter` as events; nothing here prints.
"""

from __future__ import annotations

import enum
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

from vizctl.client import ModelArtsClient
from vizctl.errors import DUPLICATE_NAME_CODE, ApiError, ApiResponseError, RetryCancelled, VizctlError
from vizctl.model import LiveJob, Phase, phase_of
from vizctl.plan import Action, Change, Plan
from vizctl.retry import RetryPolicy

T = TypeVar("T")
# Gentle on purpose: jobs created together start together, and a steep backoff
# (x1.5: rounds at +4.75 s, +8.1 s) noticed a 5 s startup 3 s late.
POLL_BACKOFF = 1.25


class Outcome(str, enum.Enum):
    """How one job ended up."""

    CREATED = "created"
    UPDATED = "updated"
    RESTARTED = "restarted"
    REPLACED = "replaced"
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    SKIPPED = "skipped"  # never started: interrupted

    @property
    def ok(self) -> bool:
        return self not in (Outcome.FAILED, Outcome.TIMED_OUT, Outcome.SKIPPED)


_DONE = {
    Action.CREATE: Outcome.CREATED,
    Action.UPDATE: Outcome.UPDATED,
    Action.RESTART: Outcome.RESTARTED,
    Action.REPLACE: Outcome.REPLACED,
    Action.DELETE: Outcome.DELETED,
    Action.WAIT: Outcome.UNCHANGED,
    Action.NOOP: Outcome.UNCHANGED,
}


@dataclass(frozen=True)
class JobResult:
    """The end of one job's story in this apply."""

    job_name: str
    action: Action
    outcome: Outcome
    detail: str = ""
    job_id: str | None = None
    status: int | None = None
    elapsed: float = 0.0

    @property
    def running(self) -> bool:
        return self.status is not None and phase_of(self.status) is Phase.RUNNING


class Reporter(Protocol):
    """Receives apply's events; ``progress`` is called every poll round (the reporter throttles)."""

    def action_started(self, change: Change) -> None: ...

    def action_done(self, change: Change, job_id: str | None, elapsed: float) -> None: ...

    def job_settled(self, result: JobResult) -> None: ...

    def progress(self, waiting: dict[str, int], elapsed: float) -> None: ...

    def interrupted(self) -> None: ...


@dataclass(frozen=True)
class ApplySettings:
    """Knobs of one apply."""

    parallelism: int = 10
    timeout: float = 900.0
    wait: bool = True
    poll_min: float = 1.0
    poll_max: float = 10.0
    mutation_attempts: int = 5


class MutationFailed(VizctlError):
    """One job's mutation failed for good; the message says why."""


class Applier:
    """Runs one plan against one client and reports to one reporter."""

    def __init__(
        self,
        client: ModelArtsClient,
        reporter: Reporter,
        settings: ApplySettings = ApplySettings(),
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.reporter = reporter
        self.settings = settings
        self.stop = stop or threading.Event()
        self.clock = clock
        self.backoff = RetryPolicy(backoff=0.5, max_backoff=5.0)
        self._started = clock()

    def run(self, plan: Plan) -> list[JobResult]:
        """Carry out ``plan``; one result per change, in plan order.

        Results are keyed by the change's position: two undeclared jobs to
        prune may share a name.
        """
        self._started = self.clock()
        results: dict[int, JobResult] = {}
        to_wait: dict[int, tuple[Change, str]] = {}
        for key, change in enumerate(plan.changes):
            if change.action in (Action.FAILED, Action.AMBIGUOUS):
                results[key] = self._settle(change, Outcome.FAILED, change.reason, change.job_id, change.status)
            elif change.action is Action.NOOP:
                results[key] = self._settle(change, Outcome.UNCHANGED, "", change.job_id, change.status)
            elif change.action is Action.WAIT:
                to_wait[key] = (change, change.job_id or "")

        mutations = {key: c for key, c in enumerate(plan.changes) if c.action.is_change}
        with ThreadPoolExecutor(max_workers=max(1, self.settings.parallelism)) as pool:
            futures = {pool.submit(self._mutate, change): key for key, change in mutations.items()}
            for future in as_completed(futures):
                key = futures[future]
                change = mutations[key]
                try:
                    job_id = future.result()
                except (ApiError, MutationFailed) as exc:
                    results[key] = self._settle(change, Outcome.FAILED, _reason(exc), change.job_id, change.status)
                    continue
                if job_id is None:  # interrupted before it started
                    results[key] = self._settle(change, Outcome.SKIPPED, "not started: interrupted", change.job_id, change.status)
                elif change.action is Action.DELETE or not self.settings.wait:
                    results[key] = self._settle(change, _DONE[change.action], "not waited for" if change.action is not Action.DELETE else "", job_id, None)
                else:
                    to_wait[key] = (change, job_id)

        if to_wait and self.settings.wait:
            results.update(self._wait(to_wait))
        elif to_wait:
            for key, (change, job_id) in to_wait.items():
                results[key] = self._settle(change, Outcome.UNCHANGED, "not waited for (--no-wait)", job_id, change.status)
        return [results[key] for key in sorted(results)]

    # -- mutations -------------------------------------------------------------

    def _mutate(self, change: Change) -> str | None:
        """Carry out one change; the id of the job to wait for, or None when interrupted first."""
        if self.stop.is_set():
            return None
        self.reporter.action_started(change)
        started = self.clock()
        if change.action is Action.CREATE:
            job_id = self._create(change)
        elif change.action is Action.UPDATE:
            job_id = self._update(change)
        elif change.action is Action.RESTART:
            job_id = self._restart(change)
        elif change.action is Action.REPLACE:
            job_id = self._replace(change)
        else:  # Action.DELETE
            job_id = self._delete(change.job_id or "", change.job_name)
        self.reporter.action_done(change, job_id, self.clock() - started)
        return job_id

    def _create(self, change: Change) -> str:
        body = change.after or {}
        return self._attempt(
            lambda: self.client.create_job(body).job_id,
            verify=lambda: self._existing_id(change.job_name),
            what=f"create {change.job_name}",
        )

    def _update(self, change: Change) -> str:
        job_id = change.job_id or ""
        desc = (change.after or {}).get("job_desc", "")
        self._attempt(lambda: self.client.update_job(job_id, desc), verify=lambda: None, what=f"update {change.job_name}", idempotent=True)
        return job_id

    def _restart(self, change: Change) -> str:
        job_id = change.job_id or ""
        if any(d.fix == "in-place" for d in change.diff):
            self._update(change)
        self._until(lambda: phase_of(self.client.get_job(job_id).status) is not Phase.STOPPING, f"{change.job_name} to finish stopping")
        self._attempt(
            lambda: self.client.restart_job(job_id),
            verify=lambda: job_id if phase_of(self.client.get_job(job_id).status) in (Phase.PENDING, Phase.RUNNING) else None,
            what=f"restart {change.job_name}",
        )
        return job_id

    def _replace(self, change: Change) -> str:
        self._delete(change.job_id or "", change.job_name)
        self._until(lambda: not self.client.find_by_name(change.job_name), f"{change.job_name} to disappear after delete")
        return self._create(change)

    def _delete(self, job_id: str, name: str) -> str:
        def gone() -> str | None:
            return job_id if all(j.job_id != job_id or j.phase is Phase.STOPPING for j in self.client.find_by_name(name)) else None

        self._attempt(lambda: self.client.delete_job(job_id), verify=gone, what=f"delete {name}")
        return job_id

    def _existing_id(self, name: str) -> str | None:
        """After an ambiguous create: the id if the job exists now, None if it does not."""
        found = self.client.find_by_name(name)
        if len(found) > 1:
            raise MutationFailed(f"{len(found)} live jobs are now named {name}: not creating another")
        return found[0].job_id if found else None

    def _attempt(self, call: Callable[[], T], verify: Callable[[], str | None], what: str, idempotent: bool = False) -> T | str:
        """Run a mutation; after an ambiguous failure ask ``verify`` whether it took effect before trying again."""
        error: ApiError | None = None
        for attempt in range(1, self.settings.mutation_attempts + 1):
            try:
                return call()  # the client itself waits out and resends a throttled request
            except ApiError as exc:
                error = exc
                duplicate = isinstance(exc, ApiResponseError) and exc.error_code == DUPLICATE_NAME_CODE
                if not (exc.ambiguous or duplicate):
                    raise
            if not idempotent:
                done = verify()
                if done is not None:
                    return done
            if duplicate:
                raise MutationFailed(f"{what}: the API reports a duplicate name, but no such job is listed")
            if self.stop.is_set():
                break
            self._sleep(self.backoff.delay(error, attempt))
        raise MutationFailed(f"{what} failed after {self.settings.mutation_attempts} attempts: {_reason(error)}")

    def _until(self, condition: Callable[[], bool], what: str) -> None:
        interval = 0.25
        while not condition():
            if self.stop.is_set() or self._remaining() <= 0:
                raise MutationFailed(f"gave up waiting for {what}")
            self._sleep(min(interval, self._remaining()))
            interval = min(interval * 2, 2.0)

    # -- waiting -------------------------------------------------------------

    def _wait(self, to_wait: dict[int, tuple[Change, str]]) -> dict[int, JobResult]:
        """Poll the list until every job is running, failed, or the timeout passes."""
        results: dict[int, JobResult] = {}
        pending = dict(to_wait)
        last_seen: dict[int, LiveJob] = {}
        interval = self.settings.poll_min
        while pending:
            try:
                snapshot = self.client.list_newest(job_id for _, job_id in pending.values())
            except RetryCancelled:  # interrupted, or --timeout passed, while throttled: reported below
                break
            by_id = {job.job_id: job for job in snapshot.jobs}
            pending_before = len(pending)
            for key, (change, job_id) in list(pending.items()):
                job = by_id.get(job_id)
                if job is None:
                    continue  # not listed yet (or gone); the timeout decides
                last_seen[key] = job
                if job.phase is Phase.RUNNING:
                    results[key] = self._settle(change, _DONE[change.action], "", job_id, job.status)
                elif job.phase is not Phase.PENDING:
                    results[key] = self._settle(change, Outcome.FAILED, "", job_id, job.status)
                else:
                    continue
                del pending[key]
            if not pending:
                break
            states = [last_seen[k].status_name if k in last_seen else "NOT_LISTED" for k in pending]
            self.reporter.progress({s: states.count(s) for s in sorted(set(states))}, self.clock() - self._started)
            if self._remaining() <= 0 or self.stop.is_set():
                break
            if len(pending) < pending_before:  # jobs started to run: the rest usually follow soon
                interval = self.settings.poll_min
            self._sleep(min(interval, self._remaining()))
            interval = min(interval * POLL_BACKOFF, self.settings.poll_max)  # back off while nothing happens

        for key, (change, job_id) in pending.items():
            job = last_seen.get(key)
            state = job.status_name if job else "not listed"
            if self.stop.is_set():
                results[key] = self._settle(change, Outcome.SKIPPED, f"still {state} when interrupted", job_id, job and job.status)
            else:
                results[key] = self._settle(
                    change, Outcome.TIMED_OUT, f"still {state} after {self.settings.timeout:g}s", job_id, job and job.status
                )
        return results

    # -- helpers ---------------------------------------------------------------

    def _settle(self, change: Change, outcome: Outcome, detail: str, job_id: str | None, status: int | None) -> JobResult:
        result = JobResult(change.job_name, change.action, outcome, detail, job_id, status, self.clock() - self._started)
        self.reporter.job_settled(result)
        return result

    def _remaining(self) -> float:
        return self.settings.timeout - (self.clock() - self._started)

    def _sleep(self, seconds: float) -> None:
        self.stop.wait(max(0.0, seconds))


def _reason(exc: BaseException | None) -> str:
    return str(exc) if exc is not None else "unknown error"

