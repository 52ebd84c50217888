"""``vizctl destroy``: delete the declared jobs, after a plan and a confirmation that says how many.

The API deletes asynchronously (KILLING, then gone): a job is ``deleted`` once the
list no longer shows it, waited for within ``--timeout`` as apply waits for jobs to run.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from vizctl.applying.machine import ApplySettings
from vizctl.applying.run import carry_out, confirm, reporter_for, show_plan
from vizctl.commands.declared import declared_plan
from vizctl.environment import Environment
from vizctl.errors import ExitStatus, PlanError
from vizctl.planning.plan import Action, Change, Plan
from vizctl.wording import plural


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    reporter = reporter_for(args, env)
    with declared_plan(args, env) as (target, live, declared):
        plan = destroy_plan(declared)
        show_plan(plan, env, reporter)
        if plan.errors:
            raise PlanError("the plan has errors (above); nothing was deleted")
        deletes = [c for c in plan.changes if c.action is Action.DELETE]
        if not plan.changes:
            env.err("Nothing to destroy: no declared job exists.")
        elif deletes and not args.auto_approve:
            names = ", ".join(c.job_name for c in deletes)
            confirm(env, f"Delete {plural(len(deletes), 'job')} ({names}) of project {plan.project_id} at {plan.endpoint}?", target.client)
        return carry_out(target, plan, live, reporter, ApplySettings(parallelism=args.parallelism, timeout=args.timeout), env)


def destroy_plan(plan: Plan) -> Plan:
    """Every declared job that exists becomes a delete; jobs sharing a name stay refused, as in apply."""
    changes: list[Change] = []
    missing: list[str] = []
    for change in plan.changes:
        if change.action is Action.CREATE:
            missing.append(change.job_name)
        elif change.action is Action.AMBIGUOUS:
            changes.append(change)
        else:
            changes.append(replace(change, action=Action.DELETE, reason="declared: destroy deletes it", after=None, diff=(), notes=()))
    warnings = plan.warnings + ((f"Not found, nothing to delete: {', '.join(missing)}",) if missing else ())
    return replace(plan, changes=tuple(changes), warnings=warnings)
