"""``vizctl wait``: wait until the declared jobs run, creating and changing nothing.

It plans as ``apply`` does, turns every change into a wait (or, for a job
that will not start by itself, a failure that says why) and lets the
:class:`~vizctl.apply.Applier` run that plan: nothing is sent but list calls.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from vizctl.apply import ApplySettings
from vizctl.cli import carry_out, reporter_for
from vizctl.commands.declared import declared_plan
from vizctl.environment import Environment
from vizctl.errors import ExitStatus, PlanError
from vizctl.model import Phase, phase_of
from vizctl.plan import Action, Change, Plan


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    reporter = reporter_for(args, env)
    with declared_plan(args, env) as (target, live, declared):
        plan = waiting_plan(declared)
        if plan.errors:
            raise PlanError("; ".join(plan.errors))
        settings = ApplySettings(parallelism=args.parallelism, timeout=args.timeout)
        return carry_out(target, plan, live, reporter, settings, env)


def waiting_plan(plan: Plan) -> Plan:
    """The plan with nothing to send: jobs starting are waited for, running ones (and stopped ones allowed to stay
    stopped) are done, the rest fail."""
    return replace(plan, changes=tuple(_wait_for(change) for change in plan.changes))


def _wait_for(change: Change) -> Change:
    if change.action in (Action.NOOP, Action.KEEP_STOPPED, Action.WAIT, Action.FAILED, Action.AMBIGUOUS):
        return change  # a keep-stopped job may stay stopped, as apply lets it
    if change.action is Action.CREATE:
        return replace(change, action=Action.FAILED, reason="not found in the live project: nothing to wait for (`vizctl apply` creates it)")
    phase = phase_of(change.status if change.status is not None else 0)
    if phase is Phase.RUNNING:
        return replace(change, action=Action.NOOP, reason="running")
    if phase is Phase.PENDING:
        return replace(change, action=Action.WAIT, reason=f"job is {change.status_name}")
    return replace(change, action=Action.FAILED, reason=f"job is {change.status_name}: it will not run by itself (`vizctl apply` restarts it)")
