"""``vizctl wait``: wait until the declared jobs run, creating and changing nothing.

It plans as ``plan`` does, keeps the jobs to wait for and the problems plan
names, turns every change apply would make into a problem that says so
(drifted, or failed for a job that will not start by itself) and lets the
:class:`~vizctl.applying.machine.Applier` run that plan: nothing is sent but reads.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from vizctl.applying.machine import ApplySettings
from vizctl.applying.run import carry_out, reporter_for
from vizctl.commands.declared import declared_plan
from vizctl.environment import Environment
from vizctl.errors import ExitStatus, PlanError
from vizctl.model import Phase, phase_of
from vizctl.planning.plan import Action, Change, Plan


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    reporter = reporter_for(args, env)
    with declared_plan(args, env, details=True) as (target, live, declared):  # the truth plan tells
        plan = waiting_plan(declared)
        if plan.errors:
            raise PlanError("; ".join(plan.errors))
        settings = ApplySettings(parallelism=args.parallelism, timeout=args.timeout)
        return carry_out(target, plan, live, reporter, settings, env)


def waiting_plan(plan: Plan) -> Plan:
    """The plan with nothing to send: jobs starting are waited for, running ones (and stopped ones allowed to stay
    stopped) are done; a job apply would change is not as declared, so it ends drifted (running or starting) or
    failed (stopped or failed: it will not run by itself), as apply ends a job it cannot make as declared."""
    return replace(plan, changes=tuple(_wait_for(change) for change in plan.changes))


_FIXED_BY = {Action.CREATE: "creates", Action.UPDATE: "updates", Action.REPLACE: "replaces", Action.RESTART: "restarts"}


def _wait_for(change: Change) -> Change:
    if not change.action.is_change:
        return change  # as plan says it: waited for, done, or a problem apply will not fix either
    fix = f"`vizctl apply` {_FIXED_BY[change.action]} it"
    if change.action is Action.CREATE:
        return replace(change, action=Action.FAILED, reason=f"not found in the live project: nothing to wait for ({fix})")
    if phase_of(change.status if change.status is not None else 0) in (Phase.RUNNING, Phase.PENDING):
        return replace(change, action=Action.DRIFTED, notes=(f"{change.reason}: {fix}", *change.notes))
    return replace(change, action=Action.FAILED, reason=f"job is {change.status_name}: it will not run by itself ({fix})")
