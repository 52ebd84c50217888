"""Carrying out a plan: one small state machine per job, then one last look at the list.

Each change of the plan is a :class:`_Job` that moves through these states;
every transition is one method of :class:`Applier`, named in the arrow::

    PLANNED --_send--> ACCEPTED --_settle_races--> WAITING --_wait--> ENDED --_verify--> ENDED
       |   |              (the plan alone decides FAILED, AMBIGUOUS, NOOP: ENDED at once; WAIT: WAITING)
       |   +--_send--> DELETING --_wait--> ENDED: deleted once the list no longer shows the job
       +--> ENDED: failed (refused), not started (interrupted first); not waited for (--no-wait);
                   timed out / not yet deleted (a replace, restart or prune still waiting on the list: GaveUp)

* ``_send``: mutations, up to ``parallelism`` at once. None is retried blindly:
  after an ambiguous failure (timeout, reset, 5xx) or a duplicate-name answer
  the list decides whether it took effect, and the list is given ``list_lag``
  seconds to show a new job before vizctl concludes the create did not happen.
  A change that must wait on the list first (a KILLING job to finish stopping,
  a replaced job to be deleted before its name is free) gives up at --timeout or
  Ctrl-C saying what it waited for, the job's last status and what was not done.
* ``_settle_races``: a job this run created is checked once the list shows it.
  Another live job with the same name listed before it (the API's job_id
  order) means a concurrent apply created that name first: this run deletes
  its own job and adopts the first one (outcome ``adopted``). Only jobs whose
  create this run saw answered are ever deleted.
* ``_wait``: one list call per round for all jobs (:meth:`ModelArtsClient.list_newest`),
  backing off from ``poll_min`` to ``poll_max`` seconds, sooner once jobs run
  (when the last pending job should run too: :class:`PollSchedule`), until each WAITING job
  runs or fails and each DELETING job is no longer listed (the API deletes
  asynchronously: KILLING, then gone; DELETE_FAILED ends it ``failed``), or the
  timeout passes; a list that fails for good ends the wait with ``status
  unknown``; Ctrl-C with ``not yet running`` / ``not yet deleted``. Every wait gives up early enough
  to leave the final read its time (the longest list read yet) before the command's --timeout.
* ``_verify``: after any change or wait, the whole list once more: a declared
  name with several live jobs ends ``duplicate`` (a winner of a race first gives
  the losers ``list_lag`` seconds to delete theirs), a job no longer listed ends
  ``missing``, one no longer running ``stopped`` or ``failed``, a failed
  create whose job the list shows after all says so, and a delete not waited
  for (``deleting``) whose job is gone is ``deleted``.
  If this read fails, the outcomes stand as the last successful read showed them,
  and the reporter hears so (``final_read_failed``).

Progress goes to a :class:`Reporter` as events; nothing here prints. A job's
first outcome is ``job_settled``; a later read that changes it is ``job_corrected``.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

from vizctl.api.client import MIN_REQUEST_SECONDS, ModelArtsClient
from vizctl.errors import DUPLICATE_NAME_CODE, NOT_ALLOWED_CODE, NOT_FOUND_CODE, ApiError, ApiResponseError, RetryCancelled, VizctlError
from vizctl.model import DEFAULT_LIST_LAG, LiveJob, LiveSnapshot, Phase, Status, job_id_order, phase_of
from vizctl.planning.plan import Action, Change, Plan
from vizctl.api.retry import RetryPolicy
from vizctl.wording import plural

T = TypeVar("T")
# Gentle on purpose: jobs created together start together, and a steep backoff
# (x1.5: rounds at +4.75 s, +8.1 s) noticed a 5 s startup 3 s late.
POLL_BACKOFF = 1.25


class Outcome(str, enum.Enum):
    """How one job ended up; each word is true of the last list read."""

    CREATED = "created"
    UPDATED = "updated"
    RESTARTED = "restarted"
    REPLACED = "replaced"
    DELETED = "deleted"  # the list no longer shows the job
    DELETING = "deleting"  # --no-wait: the API accepted the delete; the last read still lists the job
    ADOPTED = "adopted"  # a concurrent apply's job of the same name won; ours is being deleted
    UNCHANGED = "unchanged"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    NOT_STARTED = "not started"  # interrupted before anything was sent
    NOT_RUNNING = "not yet running"  # interrupted while waiting
    NOT_DELETED = "not yet deleted"  # interrupted while waiting for the list to drop a deleted job
    UNKNOWN = "status unknown"  # the list could not be read
    MISSING = "missing"  # the last list read no longer shows the job
    STOPPED = "stopped"  # was running, the last list read shows it stopped or stopping
    DUPLICATE = "duplicate"  # the last list read shows several live jobs with the name
    DRIFTED = "drifted"  # left unlike its declaration: apply cannot change the field in place

    @property
    def ok(self) -> bool:
        return self in _OK


_OK = {
    Outcome.CREATED, Outcome.UPDATED, Outcome.RESTARTED, Outcome.REPLACED,
    Outcome.DELETED, Outcome.DELETING, Outcome.ADOPTED, Outcome.UNCHANGED,
}

_DONE = {
    Action.CREATE: Outcome.CREATED,
    Action.UPDATE: Outcome.UPDATED,
    Action.RESTART: Outcome.RESTARTED,
    Action.REPLACE: Outcome.REPLACED,
    Action.DELETE: Outcome.DELETING,
    Action.WAIT: Outcome.UNCHANGED,
    Action.NOOP: Outcome.UNCHANGED,
}


@dataclass(frozen=True)
class JobResult:
    """The end of one job's story in this apply.

    ``done`` is what apply did before the job ended as ``outcome`` when the
    outcome word alone does not say it: ``created`` for a job ``not yet running``.
    """

    job_name: str
    action: Action
    outcome: Outcome
    detail: str = ""
    job_id: str | None = None
    status: int | None = None
    elapsed: float = 0.0
    done: Outcome | None = None
    service_url: str = ""  # the TensorBoard / MindInsight link, once the API shows one

    @property
    def running(self) -> bool:
        return self.status is not None and phase_of(self.status) is Phase.RUNNING


class Reporter(Protocol):
    """Receives apply's events; ``progress`` is called every poll round (the reporter throttles)."""

    def action_started(self, change: Change) -> None: ...

    def action_done(self, change: Change, job_id: str | None, elapsed: float) -> None: ...

    def job_settled(self, result: JobResult) -> None: ...

    def job_corrected(self, result: JobResult, earlier: JobResult) -> None: ...

    def progress(self, waiting: dict[str, int], elapsed: float) -> None: ...

    def final_read_failed(self, reason: str) -> None: ...

    def interrupted(self) -> None: ...


@dataclass(frozen=True)
class ApplySettings:
    """Knobs of one apply."""

    parallelism: int = 10
    timeout: float = 900.0
    wait: bool = True
    poll_min: float = 0.5  # jobs started running: the rest follow within this
    poll_max: float = 1.0  # a job that runs is seen within about a second, at one list call a page a round
    mutation_attempts: int = 5
    list_lag: float = DEFAULT_LIST_LAG


class PollSchedule:
    """When the next list round of a wait is due: pure timing, no I/O.

    While nothing happens the rounds back off from ``poll_min`` to ``poll_max``
    (x :data:`POLL_BACKOFF`); a round that ends jobs goes back to ``poll_min``.
    Jobs created together start together, so a round may come sooner: a job
    seen RUNNING took at most (that round's time - its ``create_time``) to
    start, and the next round is due when, by the quickest such job, the
    last job still pending should run too. The wait never grows beyond the
    backed-off interval (a running job is still seen within ``poll_max``),
    each round stays one list call per page, and a job without a
    ``create_time`` (or one restarted, whose create_time is old) simply
    leaves the interval as it is.
    """

    def __init__(self, poll_min: float, poll_max: float):
        self.poll_min, self.poll_max = poll_min, poll_max
        self.interval = poll_min
        # least (round time - create_time in s) of a job seen RUNNING: the round clock and the
        # server's clock differ by a constant, which cancels in next_wait
        self.lead = math.inf

    def observe(self, live: LiveJob, seen: float) -> None:
        """A waited-for job as the round that ended at ``seen`` (the applier's clock) listed it."""
        if live.phase is Phase.RUNNING and live.create_time is not None:
            self.lead = min(self.lead, seen - live.create_time / 1000)

    def next_wait(self, pending: list[LiveJob | None], now: float, progressed: bool) -> float:
        """Seconds until the next round, given the jobs still pending as last listed (None: never listed)."""
        if progressed:  # jobs started to run: the rest usually follow soon
            self.interval = self.poll_min
        wait, self.interval = self.interval, min(self.interval * POLL_BACKOFF, self.poll_max)
        expected = [live.create_time / 1000 + self.lead for live in pending if live is not None and live.create_time is not None]
        last = max(expected, default=-math.inf) - now  # when the last of them should run, from now
        return last if 0 < last < wait else wait


class MutationFailed(VizctlError):
    """One job's mutation failed for good; the message says why."""


class Unsettled(MutationFailed):
    """Ctrl-C or --timeout cut a mutation, or the look at the list after it, short where it may have taken
    effect: its outcome is ``status unknown``, never ``failed``."""


class GaveUp(MutationFailed):
    """A mutation's wait for the list ended by --timeout (``outcome`` timed out) or Ctrl-C; ``live`` is the job
    it waited on as last listed."""

    def __init__(self, message: str, outcome: Outcome, live: LiveJob):
        super().__init__(message)
        self.outcome, self.live = outcome, live


class State(enum.Enum):
    """Where one job is in an apply (see the module docstring)."""

    PLANNED = "planned"  # a change still to send
    ACCEPTED = "accepted"  # the API took the change
    WAITING = "waiting"  # for the list to show it running
    DELETING = "deleting"  # for the list to stop showing it
    ENDED = "ended"  # it has its JobResult


@dataclass
class _Job:
    """One change of the plan on its way through the states."""

    change: Change
    state: State = State.PLANNED
    job_id: str | None = None  # the live job this apply watches
    done: Outcome | None = None  # what apply did to it so far
    ours: bool = False  # this run saw its create answered: the one job it may delete after losing a race
    detail: str = ""
    result: JobResult | None = None

    @property
    def name(self) -> str:
        return self.change.job_name


class Applier:
    """Runs one plan against one client and reports to one reporter.

    ``clock`` and ``sleep`` (which otherwise waits on ``stop``) let tests step through time.
    """

    def __init__(
        self,
        client: ModelArtsClient,
        reporter: Reporter,
        settings: ApplySettings = ApplySettings(),
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ):
        self.client = client
        self.reporter = reporter
        self.settings = settings
        self.stop = stop or threading.Event()
        self.clock = clock
        self.sleep = sleep
        self.backoff = RetryPolicy(backoff=0.5, max_backoff=5.0)
        self._started = clock()
        self._read_failure = ""  # why the last whole-list read failed
        self._final_read_reserve = 0.0  # the longest list read yet: what the waits leave before --timeout for the final read

    def run(self, plan: Plan) -> list[JobResult]:
        """Carry out ``plan``; one result per change, in plan order (two jobs to prune may share a name)."""
        self._started = self.clock()
        jobs = [_Job(change) for change in plan.changes]
        for job in jobs:  # what the plan alone decides
            change = job.change
            if change.action in (Action.FAILED, Action.AMBIGUOUS):
                self._end(job, Outcome.FAILED, "; ".join([change.reason, *change.notes]), change.status, job_id=change.job_id)
            elif change.action is Action.DRIFTED:
                self._end(job, Outcome.DRIFTED, "; ".join(change.notes), change.status, job_id=change.job_id)
            elif change.action in (Action.NOOP, Action.KEEP_STOPPED):
                self._end(job, Outcome.UNCHANGED, "", change.status, job_id=change.job_id)
            elif change.action is Action.WAIT:
                job.job_id, job.done, job.state = change.job_id, Outcome.UNCHANGED, State.WAITING

        self._send([job for job in jobs if job.state is State.PLANNED and job.change.action.is_change])
        self._settle_races([job for job in jobs if job.state is State.ACCEPTED])
        waiting = [job for job in jobs if job.state in _WAITS]
        if self.settings.wait:
            self._wait(waiting)
        else:
            for job in waiting:
                status = job.change.status if job.change.action is Action.WAIT else None
                self._end(job, job.done or Outcome.UNCHANGED, "not waited for (--no-wait)", status)
        if any(job.change.action.is_change or job.change.action is Action.WAIT for job in jobs):
            self._verify(jobs)  # the plan's own read is the last one otherwise
        return [job.result for job in jobs if job.result is not None]

    # -- PLANNED -> ACCEPTED | ENDED -------------------------------------------------

    def _send(self, jobs: list[_Job]) -> None:
        """Send the mutations, up to ``parallelism`` at once."""
        if not jobs:
            return
        with ThreadPoolExecutor(max_workers=max(1, self.settings.parallelism)) as pool:
            futures = {pool.submit(self._mutate, job): job for job in jobs}
            for future in as_completed(futures):
                job = futures[future]
                change = job.change
                try:
                    started = future.result()
                except GaveUp as exc:
                    self._end(job, exc.outcome, str(exc), exc.live.status, job_id=change.job_id)
                    continue
                except Unsettled as exc:
                    self._end(job, Outcome.UNKNOWN, str(exc), change.status, job_id=change.job_id)
                    continue
                except (ApiError, MutationFailed) as exc:
                    self._end(job, Outcome.FAILED, _reason(exc), change.status, job_id=change.job_id)
                    continue
                if not started:
                    self._end(job, Outcome.NOT_STARTED, "interrupted before it was sent", change.status, job_id=change.job_id)
                else:
                    job.state = State.DELETING if change.action is Action.DELETE else State.ACCEPTED

    def _mutate(self, job: _Job) -> bool:
        """Carry out one change, recording the job to watch; False when interrupted before it started."""
        if self.stop.is_set():
            return False
        change = job.change
        self.reporter.action_started(change)
        started = self.clock()
        if change.action in (Action.CREATE, Action.REPLACE):
            job.job_id, job.ours = self._replace(change) if change.action is Action.REPLACE else self._create(change)
        elif change.action is Action.UPDATE:
            job.job_id = self._update(change)
        elif change.action is Action.RESTART:
            job.job_id, job.ours, job.done = self._restart(change)
        elif change.action is Action.DELETE:
            job.job_id = self._delete_planned(change)
        else:
            raise MutationFailed(f"vizctl cannot carry out {change.action.value}")
        job.done = job.done or _DONE[change.action]
        self.reporter.action_done(change, job.job_id, self.clock() - started)
        return True

    def _create(self, change: Change) -> tuple[str, bool]:
        """The new job's id, and whether this run saw its create answered (else the list showed it)."""
        body = change.after or {}
        answered: list[str] = []

        def send() -> str:
            answered.append(self.client.create_job(body).job_id)
            return answered[-1]

        job_id = self._attempt(send, verify=lambda: self._existing_id(change.job_name), what=f"create {change.job_name}")
        return job_id, job_id in answered

    def _update(self, change: Change) -> str:
        job_id = change.job_id or ""
        desc = (change.after or {}).get("job_desc", "")
        self._attempt(lambda: self.client.update_job(job_id, desc), verify=lambda: None, what=f"update {change.job_name}", idempotent=True)
        return job_id

    def _restart(self, change: Change) -> tuple[str, bool, Outcome]:
        """Restart the plan's stopped job, once it has finished stopping; the job to watch, whether
        this run created it, and what was done.

        The job may have changed since the plan: KILLING can end in a deletion (a destroy under
        way), so the declared job is created; another client may have restarted it, so nothing
        is sent; a restart refused as not allowed (ModelArts.0105) is settled by the list the same way.
        """
        job_id = change.job_id or ""
        now = self._settled(job_id, change.job_name)
        if now is None:
            created, ours = self._create(change)
            return created, ours, Outcome.CREATED
        if any(d.fix == "in-place" for d in change.diff):
            self._update(change)
        if now.phase in (Phase.PENDING, Phase.RUNNING):
            return job_id, False, Outcome.UNCHANGED
        try:
            self._attempt(
                lambda: self.client.restart_job(job_id),
                verify=lambda: job_id if phase_of(self.client.get_job(job_id).status) in (Phase.PENDING, Phase.RUNNING) else None,
                what=f"restart {change.job_name}",
            )
        except ApiResponseError as exc:
            later = self._listed(job_id, change.job_name) if exc.error_code == NOT_ALLOWED_CODE else None
            if later is None or later.phase not in (Phase.PENDING, Phase.RUNNING):
                raise
            return job_id, False, Outcome.UNCHANGED
        return job_id, False, Outcome.RESTARTED

    def _listed(self, job_id: str, name: str) -> LiveJob | None:
        """The job as the list shows it now, or None when it is not listed."""
        return next((job for job in self.client.find_by_name(name) if job.job_id == job_id), None)

    def _settled(self, job_id: str, name: str) -> LiveJob | None:
        """The job once it is no longer stopping (KILLING ends stopped, or deleted: None)."""
        return self._while_listed(
            job_id, lambda: self._listed(job_id, name), f"job {job_id} to finish stopping", done=lambda live: live.phase is not Phase.STOPPING
        )

    def _replace(self, change: Change) -> tuple[str, bool]:
        """Delete the old job, wait until no job holds the name (the API may refuse it meanwhile), create."""
        name = change.job_name

        def holder() -> LiveJob | None:
            jobs = self.client.find_by_name(name)
            return next((job for job in jobs if job.job_id == old), jobs[0] if jobs else None)

        try:
            old = self._delete_planned(change)
            self._while_listed(old, holder, f"the old job {old} to be deleted", interrupted=Outcome.NOT_DELETED)
        except GaveUp as exc:
            raise GaveUp(f"{exc}; the new job was not created", exc.outcome, exc.live) from None
        return self._create(change)

    def _delete_planned(self, change: Change) -> str:
        """Delete the plan's job. One the plan saw KILLING (being deleted or stopped: the API refuses a
        delete meanwhile) is let finish first, and needs no delete if the list no longer shows it then."""
        job_id, name = change.job_id or "", change.job_name
        if change.status is not None and phase_of(change.status) is Phase.STOPPING and self._settled(job_id, name) is None:
            return job_id  # it was being deleted already
        return self._delete(job_id, name)

    def _delete(self, job_id: str, name: str) -> str:
        """Delete a job; one already gone, or already being deleted, when the delete arrives is not a failure."""
        def gone() -> str | None:
            live = self._listed(job_id, name)
            return job_id if live is None or live.phase is Phase.STOPPING else None

        try:
            self._attempt(lambda: self.client.delete_job(job_id), verify=gone, what=f"delete {name}")
        except ApiResponseError as exc:
            refused_as_gone = exc.http_status == 404 or exc.error_code in (NOT_FOUND_CODE, NOT_ALLOWED_CODE)
            if not refused_as_gone or gone() is None:
                raise
        return job_id

    def _existing_id(self, name: str) -> str | None:
        """After an ambiguous create: the id once the list shows the job; None if it does not within ``list_lag``."""
        found = self._read_again(lambda: [job for job in self.client.find_by_name(name) if job.phase is not Phase.STOPPING], bool)
        if len(found) > 1:
            ids = ", ".join(job.job_id for job in found)
            raise MutationFailed(f"{len(found)} live jobs are now named {name} (ids {ids}): not creating another, not picking one")
        return found[0].job_id if found else None

    def _attempt(self, call: Callable[[], T], verify: Callable[[], str | None], what: str, idempotent: bool = False) -> T | str:
        """Run a mutation; after an ambiguous failure ask ``verify`` whether it took effect before trying again.
        Ctrl-C or --timeout ending a try or that look short ends it (:meth:`_cut_short`)."""
        error: ApiError | None = None  # the last failure, which the list did not show to have taken effect
        for attempt in range(1, self.settings.mutation_attempts + 1):
            try:
                return call()  # the client itself waits out and resends a throttled request
            except RetryCancelled as cut:
                raise self._cut_short(what, error, cut, unsure=cut.ambiguous) from cut
            except ApiError as exc:
                error = exc
                duplicate = isinstance(exc, ApiResponseError) and exc.error_code == DUPLICATE_NAME_CODE
                if not (exc.ambiguous or duplicate):
                    raise
            if not idempotent:
                try:
                    done = verify()
                except RetryCancelled as cut:  # no time left to look whether it took effect
                    raise self._cut_short(what, error, cut, unsure=True) from cut
                if done is not None:
                    return done
            if duplicate:
                raise MutationFailed(f"{what}: the API reports a duplicate name, but the list shows no such job within {self.settings.list_lag:g}s")
            if self.stop.is_set():
                raise MutationFailed(f"{what} failed after {plural(attempt, 'attempt')}, then Ctrl-C: {_reason(error)}")
            self._sleep(min(self.backoff.delay(error, attempt), self._remaining()))
        raise MutationFailed(f"{what} failed after {self.settings.mutation_attempts} attempts: {_reason(error)}")

    @staticmethod
    def _cut_short(what: str, error: ApiError | None, cut: RetryCancelled, unsure: bool) -> VizctlError:
        """What a mutation cut short by Ctrl-C or --timeout (``cut``) ends as: :class:`Unsettled` where a try may have
        taken effect (``unsure``), else failed, keeping the earlier try's reason (``error``) beside the cut's."""
        if unsure and error is None:  # the cut itself says the try may have been carried out
            return Unsettled(f"{what}: {_reason(cut)}")
        if unsure:
            return Unsettled(f"{what} may have been carried out: {_reason(error)}; then {_reason(cut)}")
        if error is None:
            return cut
        return MutationFailed(f"{what} failed: {_reason(error)}; then {_reason(cut)}")

    def _while_listed(
        self, job_id: str, read: Callable[[], LiveJob | None], what: str,
        done: Callable[[LiveJob], bool] = lambda live: False, interrupted: Outcome = Outcome.NOT_STARTED,
    ) -> LiveJob | None:
        """``read()`` job ``job_id`` again, every 0.25 s backing off to 2 s, while it is listed and not ``done``; its
        last reading (None: no longer listed). --timeout first raises :class:`GaveUp` naming ``what``, Ctrl-C
        too, with the outcome ``interrupted``."""
        interval, live = 0.25, read()
        while live is not None and not done(live):
            still = f"it is still {live.status_name}" if live.job_id == job_id else f"job {live.job_id} of that name is {live.status_name}"
            if self.stop.is_set():
                raise GaveUp(f"interrupted while waiting for {what}: {still}", interrupted, live)
            if self._remaining() <= 0:
                raise GaveUp(f"gave up waiting for {what} after --timeout {self.settings.timeout:g}s: {still}", Outcome.TIMED_OUT, live)
            self._sleep(min(interval, self._remaining()))
            interval = min(interval * 2, 2.0)
            try:
                live = read()
            except RetryCancelled:  # the deadline (or Ctrl-C) ended this read: the job stays as last read, said above
                continue
        return live

    # -- ACCEPTED -> WAITING -------------------------------------------------------------

    def _settle_races(self, jobs: list[_Job]) -> None:
        """Once the list shows each job this run created, let the first job of each name win."""
        ours = [job for job in jobs if job.ours]
        ids = {job.job_id for job in ours}
        snapshot = self._read_all(until=lambda read: ids <= {live.job_id for live in read.jobs}) if ours else None
        by_name = snapshot.by_name() if snapshot else {}
        for job in ours:
            rivals = _live(by_name.get(job.name, []))
            if job.job_id not in {r.job_id for r in rivals} or rivals[0].job_id == job.job_id:
                continue  # not listed yet, or first: keep it (deleting a lost one is cleanup, done even after Ctrl-C)
            winner, own = rivals[0].job_id, job.job_id
            try:
                self._delete(own, job.name)
            except (ApiError, MutationFailed) as exc:
                job.detail = f"a concurrent apply created job {winner} first, and deleting ours failed: {_reason(exc)}"
                continue
            job.job_id, job.done, job.ours = winner, Outcome.ADOPTED, False
            job.detail = f"a concurrent apply created job {winner} first; ours, job {own}, is being deleted"
        for job in jobs:
            job.state = State.WAITING

    # -- WAITING -> ENDED ------------------------------------------------------------------

    def _wait(self, jobs: list[_Job]) -> None:
        """Poll the list until every job is running, failed, or the timeout passes."""
        pending = list(jobs)
        last_seen: dict[int, LiveJob] = {}
        schedule = PollSchedule(self.settings.poll_min, self.settings.poll_max)
        failure = ""
        while pending:
            try:
                snapshot = self._timed_read(lambda: self.client.list_newest(job.job_id or "" for job in pending))
            except RetryCancelled:  # interrupted, or --timeout passed, while throttled: reported below
                break
            except ApiError as exc:
                failure = f"the list could not be read: {_reason(exc)}"
                break
            seen = self.clock()
            by_id = {live.job_id: live for live in snapshot.jobs}
            pending_before = len(pending)
            for job in list(pending):
                live = by_id.get(job.job_id or "")
                if live is not None:
                    last_seen[id(job)] = live
                    schedule.observe(live, seen)
                outcome = _arrived(job, live)
                if outcome is None:
                    continue  # still on its way; the timeout decides
                self._end(job, outcome, job.detail, live.status if live else None, service_url=live.service_url if live else "")
                pending.remove(job)
            if not pending:
                break
            states = [last_seen[id(job)].status_name if id(job) in last_seen else "NOT_LISTED" for job in pending]
            self.reporter.progress({s: states.count(s) for s in sorted(set(states))}, self.clock() - self._started)
            if self._remaining() <= 0 or self.stop.is_set():
                break
            due = schedule.next_wait([last_seen.get(id(job)) for job in pending], self.clock(), progressed=len(pending) < pending_before)
            self._sleep(min(due, self._remaining()))

        for job in pending:
            live = last_seen.get(id(job))
            state, status = (live.status_name, live.status) if live else ("not listed", None)
            if failure:
                self._end(job, Outcome.UNKNOWN, f"last seen {state}; {failure}", status, done=job.done)
            elif self.stop.is_set():
                self._end(job, _INTERRUPTED[job.state], f"still {state} when interrupted", status, done=job.done)
            else:
                self._end(job, Outcome.TIMED_OUT, f"still {state} after {self.settings.timeout:g}s", status)

    # -- ENDED -> ENDED: one last look -----------------------------------------------------

    def _verify(self, jobs: list[_Job]) -> None:
        """Read the whole list once more: several live jobs with a declared name, a job gone, or a job
        that a failed create left after all, change what the outcome says."""
        declared = [job for job in jobs if job.result is not None and job.change.action not in (Action.DELETE, Action.AMBIGUOUS)]
        # A race's winner, and a loser that adopted it, give the other losers list_lag seconds to delete theirs.
        snapshot = self._read_all(until=lambda read: not _contested(declared, read))
        if snapshot is None:  # the outcomes stand as the last successful read showed them; say so
            self.reporter.final_read_failed(self._read_failure)
            return
        by_name = snapshot.by_name()
        listed = {live.job_id: live for live in snapshot.jobs}
        for job in declared:
            result = job.result
            live = _live(by_name.get(job.name, []))
            if len(live) > 1:
                ids = ", ".join(j.job_id for j in live)
                self._end(job, Outcome.DUPLICATE,
                          f"{len(live)} live jobs are named {job.name} (ids {ids}): keep one, delete the others "
                          "in the ModelArts console or API, then run apply again",
                          result.status, done=result.done or (result.outcome if result.outcome.ok else None))
            elif live and not job.job_id:  # a create that failed or never started, yet the name is live now
                detail = f"{result.detail}; yet the list now shows job {live[0].job_id} with this name"
                self._end(job, result.outcome, detail, live[0].status, job_id=live[0].job_id, service_url=live[0].service_url)
            elif result.status is not None and job.job_id not in listed:  # seen before, whatever its outcome
                done = result.done or (result.outcome if result.outcome.ok else None)
                why = f"; at the timeout: {result.detail}" if result.outcome is Outcome.TIMED_OUT else ""  # still true of then
                self._end(job, Outcome.MISSING, f"job {job.job_id} is no longer listed{why}", None, done=done)
            elif result.running and listed[job.job_id].phase is not Phase.RUNNING:
                now = listed[job.job_id]
                outcome = Outcome.FAILED if now.phase is Phase.FAILED else Outcome.STOPPED
                self._end(job, outcome, f"was RUNNING, now {now.status_name}", now.status, done=result.outcome)
        for job in jobs:  # deletes not waited for, or given up on at the timeout: gone by now?
            unfinished = job.result is not None and job.result.outcome in (Outcome.DELETING, Outcome.TIMED_OUT)
            if unfinished and job.change.action is Action.DELETE and job.job_id not in listed:
                self._end(job, Outcome.DELETED, "", None)

    # -- helpers ---------------------------------------------------------------

    def _read_all(self, until: Callable[[LiveSnapshot], bool] = lambda read: True) -> LiveSnapshot | None:
        """The whole list, read again while ``until`` says no (see :meth:`_read_again`); None if the first read failed."""

        def read() -> LiveSnapshot | None:
            try:
                return self._timed_read(self.client.list_all)
            except ApiError as exc:
                self._read_failure = _reason(exc)
                return None

        return self._read_again(read, until)

    def _read_again(self, read: Callable[[], T | None], done: Callable[[T], bool]) -> T | None:
        """``read()``, then again every ``poll_min`` until ``done`` with it, Ctrl-C, or ``list_lag`` (the
        time the list may take to show a change) passes. A failed read (None) ends it with the last good one."""
        deadline = self.clock() + self.settings.list_lag
        last = read()
        while last is not None and not done(last) and not self.stop.is_set() and self.clock() < deadline:
            self._sleep(min(self.settings.poll_min, deadline - self.clock()))
            fresh = read()
            if fresh is None:
                break
            last = fresh
        return last

    def _end(
        self, job: _Job, outcome: Outcome, detail: str, status: int | None,
        job_id: str | None = None, done: Outcome | None = None, service_url: str = "",
    ) -> None:
        """Any state -> ENDED: the result, reported once (``job_settled``); a later read's change is ``job_corrected``."""
        earlier = job.result
        job.state = State.ENDED
        job.job_id = job_id or job.job_id
        elapsed = earlier.elapsed if earlier else self.clock() - self._started
        service_url = service_url or (earlier.service_url if earlier and status is not None else "")  # none for a job not listed
        job.result = JobResult(job.name, job.change.action, outcome, detail, job.job_id, status, elapsed, done, service_url)
        if earlier is None:
            self.reporter.job_settled(job.result)
        else:
            self.reporter.job_corrected(job.result, earlier)

    def _timed_read(self, read: Callable[[], LiveSnapshot]) -> LiveSnapshot:
        """``read()`` the list, keeping the longest such read as the time the final read is left before --timeout."""
        started = self.clock()
        try:
            return read()
        finally:
            self._final_read_reserve = min(max(self._final_read_reserve, self.clock() - started), self.settings.timeout / 2)

    def _remaining(self) -> float:
        """Seconds left of ``timeout``, and never more than the client's deadline (the whole command's) leaves,
        less the time a final read of the list takes: a wait that gives up leaves time to look once more."""
        left = min(self.settings.timeout - (self.clock() - self._started), self.client.time_left())
        left -= self._final_read_reserve + 2 * MIN_REQUEST_SECONDS  # the client sends nothing with less left
        return left if left >= 0.001 else 0.0  # a remainder too small to sleep is none (a clock may not pass it)

    def _sleep(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(max(0.0, seconds))
        else:
            self.stop.wait(max(0.0, seconds))


# The states _wait takes jobs out of, and what each is when Ctrl-C ends the wait.
_WAITS = (State.WAITING, State.DELETING)
_INTERRUPTED = {State.WAITING: Outcome.NOT_RUNNING, State.DELETING: Outcome.NOT_DELETED}


def _arrived(job: _Job, live: LiveJob | None) -> Outcome | None:
    """How a wait ends, as of one list read (None: not yet). WAITING ends when the list shows the job
    running or failed; DELETING when the list no longer shows it, or shows that the delete failed."""
    if job.state is State.DELETING:
        if live is None:
            return Outcome.DELETED
        return Outcome.FAILED if live.status == Status.DELETE_FAILED else None
    if live is None or live.phase is Phase.PENDING:
        return None  # not listed yet (or gone): the timeout decides
    return (job.done or Outcome.UNCHANGED) if live.phase is Phase.RUNNING else Outcome.FAILED


def _contested(jobs: list[_Job], snapshot: LiveSnapshot) -> bool:
    """Does the list show several live jobs with the name of a job this run created or adopted?"""
    by_name = snapshot.by_name()  # once: per job it made the final read quadratic (0.2 s at 1,000 jobs)
    return any((job.ours or job.done is Outcome.ADOPTED) and len(_live(by_name.get(job.name, []))) > 1 for job in jobs)


def _live(jobs: list[LiveJob]) -> list[LiveJob]:
    """The jobs that are not being deleted, oldest first by job_id.

    Sorted here rather than trusted to the list's order: a server may ignore
    ``sortBy``, and two racing runs must agree on which job is first.
    """
    return sorted((job for job in jobs if job.phase is not Phase.STOPPING), key=lambda job: job_id_order(job.job_id))


def _reason(exc: BaseException | None) -> str:
    return str(exc) if exc is not None else "unknown error"
