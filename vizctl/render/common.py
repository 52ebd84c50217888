"""What every renderer shares: the action symbols, their legend and value formatting."""

from __future__ import annotations

import json
from typing import Any

from vizctl.plan import Action, Change

SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.RESTART: "↻",
    Action.DELETE: "-",
    Action.NOOP: "=",
    Action.WAIT: "…",
    Action.FAILED: "!",
    Action.AMBIGUOUS: "!",
}


PROBLEM = "!"


def symbol_for(change: Change) -> str:
    """The change's mark: its action's, or ``!`` for a job left with a problem apply will not fix."""
    if change.action in (Action.NOOP, Action.WAIT) and change.notes:
        return PROBLEM
    return SYMBOLS[change.action]


LEGEND = {
    Action.CREATE: "create",
    Action.UPDATE: "update in place",
    Action.REPLACE: "replace (delete, then create)",
    Action.RESTART: "restart a stopped job",
    Action.DELETE: "delete (prune)",
    Action.NOOP: "running, nothing to do",
    Action.WAIT: "starting, apply waits for it",
    Action.FAILED: "problem apply will not fix",
    Action.AMBIGUOUS: "problem apply will not fix",
}


def show(value: Any) -> str:
    """A field value as a plan shows it: JSON, so strings are quoted and maps stay maps."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)

