"""What every renderer shares: the action symbols, their legend and value formatting."""

from __future__ import annotations

import json
from typing import Any

from vizctl.planning.plan import Action, Change, Plan
from vizctl.wording import plural, printable

SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.RESTART: "↻",
    Action.DELETE: "-",
    Action.NOOP: "=",
    Action.KEEP_STOPPED: "○",
    Action.WAIT: "…",
    Action.DRIFTED: "!",
    Action.FAILED: "!",
    Action.AMBIGUOUS: "!",
}


PROBLEM = "!"


def symbol_for(change: Change) -> str:
    """The change's mark: its action's, or ``!`` for a job left with a problem apply will not fix."""
    return PROBLEM if change.is_problem else SYMBOLS[change.action]


LEGEND = {
    Action.CREATE: "create",
    Action.UPDATE: "update in place",
    Action.REPLACE: "replace (delete, then create)",
    Action.RESTART: "restart a stopped job",
    Action.DELETE: "delete",
    Action.NOOP: "running, nothing to do",
    Action.KEEP_STOPPED: "stopped and may stay stopped",
    Action.WAIT: "starting, apply waits for it",
    Action.DRIFTED: "problem apply will not fix",
    Action.FAILED: "problem apply will not fix",
    Action.AMBIGUOUS: "problem apply will not fix",
}


def show(value: Any) -> str:
    """A field value as a plan shows it: JSON, so strings are quoted and maps stay maps; nothing unprintable."""
    return printable(json.dumps(value, ensure_ascii=False, sort_keys=True))



def verdict(plan: Plan) -> str:
    """The plan in one sentence: what apply sends, or, when nothing, how many jobs are as declared."""
    if plan.has_changes:
        return plan.summary_line()
    if not plan.changes:
        return "No changes: no declared job is selected by --target." if plan.targets else "No changes. No jobs are declared."
    running = sum(1 for c in plan.changes if c.action is Action.NOOP)
    stopped = sum(1 for c in plan.changes if c.action is Action.KEEP_STOPPED)
    text = "No changes." if not any(c.is_problem for c in plan.changes) else "No changes apply can make."
    text += f" {running} of {plural(len(plan.changes), 'declared job')} running as declared"
    if stopped:
        text += f", {stopped} stopped as allowed (restart_stopped: false)"
    return text + "."


def problems_line(plan: Plan) -> str:
    """Names the jobs apply leaves unlike their declarations; empty when there are none."""
    problems = [c.job_name for c in plan.changes if c.is_problem]
    if not problems:
        return ""
    return f"Not converged: {plural(len(problems), 'job')} that apply will not fix (marked !): {', '.join(problems)}."


def read_from(plan: Plan, quote: str = "") -> str:
    """`` of project P at ENDPOINT`` when the plan knows where its live jobs were read."""
    return f" of project {quote}{plan.project_id}{quote} at {quote}{plan.endpoint}{quote}" if plan.endpoint else ""


MAX_NAMES = 50  # of undeclared jobs a plan names; the JSON plan lists them all


def prunable_names(plan: Plan) -> list[str]:
    """The unmanaged jobs inside a prune scope (``--prune`` would delete them), sorted."""
    return sorted(j.job_name for j in plan.unmanaged if j.job_id in plan.prunable)


def capped(names: list[str]) -> list[str]:
    """At most :data:`MAX_NAMES` names, then ``... and N more``."""
    return names[:MAX_NAMES] + ([f"... and {len(names) - MAX_NAMES} more"] if len(names) > MAX_NAMES else [])
