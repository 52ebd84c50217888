"""What a reconcile check found, and which changes of it are alerted: pure functions, no I/O.

A check ends in one of three states: ``in_sync`` (the plan has nothing to
do: ``plan --detailed-exitcode`` would exit 0), ``drifted`` (it would exit 2)
or ``failed`` (the list could not be read, or the plan has errors: it would
exit 1). :class:`Tracker` turns the checks into alerts on transitions only:

* a drift is alerted after ``alert_after`` drifted checks in a row;
* a failure after ``max(alert_after, FLAP_CHECKS)`` failed checks in a row, and
  once failed, the way back is alerted only after ``FLAP_CHECKS`` good checks in a
  row: an API that flaps (fails, answers, fails) is one alert, not one a check;
* the first state after start-up is alerted unless it is ``in_sync``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from vizctl.planning.plan import AS_DECLARED, Action, Change, Plan

FLAP_CHECKS = 2  # checks in a row that make a failure, or its end, real


class Sync(str, enum.Enum):
    """The state a check found."""

    IN_SYNC = "in_sync"
    DRIFTED = "drifted"
    FAILED = "failed"


@dataclass(frozen=True)
class Transition:
    """A change of the alerted state: ``previous`` is None at start-up."""

    state: Sync
    previous: Sync | None


@dataclass(frozen=True)
class Tracker:
    """The alerted state and the run of checks that may change it."""

    alert_after: int = 1
    alerted: Sync | None = None  # the state last alerted (or taken silently at start-up)
    seen: Sync | None = None  # the state of the latest check
    streak: int = 0  # checks in a row in ``seen``

    def observe(self, state: Sync) -> tuple[Tracker, Transition | None]:
        """The tracker after one more check in ``state``, and the transition to alert, if any."""
        streak = self.streak + 1 if state is self.seen else 1
        after = replace(self, seen=state, streak=streak)
        if state is self.alerted or streak < self._needed(state):
            return after, None
        transition = Transition(state, self.alerted)
        after = replace(after, alerted=state)
        return after, None if transition.previous is None and state is Sync.IN_SYNC else transition

    def _needed(self, state: Sync) -> int:
        needed = {Sync.DRIFTED: self.alert_after, Sync.FAILED: max(self.alert_after, FLAP_CHECKS)}.get(state, 1)
        return max(needed, FLAP_CHECKS) if self.alerted is Sync.FAILED else needed


def problems(plan: Plan) -> list[str]:
    """What makes a plan fail, as ``vizctl plan`` reports it: its errors and the ambiguous jobs."""
    return [*plan.errors, *(c.reason for c in plan.changes if c.action is Action.AMBIGUOUS)]


def sync_of(plan: Plan) -> Sync:
    """The state of a plan read without error: ``plan --detailed-exitcode`` 1, 2 or 0."""
    if problems(plan):
        return Sync.FAILED
    return Sync.DRIFTED if plan.differs else Sync.IN_SYNC


def job_sync(change: Change) -> str:
    """One job's ``sync`` label: in_sync, progressing (still starting) or drifted."""
    if change.action in AS_DECLARED and not change.notes:
        return "in_sync"
    return "progressing" if change.action is Action.WAIT and not change.notes else "drifted"
