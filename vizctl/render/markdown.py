"""``--output markdown``: a pull-request comment.

A one-line summary, a table of changes, and the field-level details in a
collapsible block. GitHub refuses comments over 65,536 characters, so the
output stays under :data:`LIMIT` by eliding rows from the middle of the table
and the details, never the summary or a problem.
"""

from __future__ import annotations

from vizctl.plan import Action, Change, Plan
from vizctl.render.common import SYMBOLS, show

LIMIT = 60_000


class MarkdownRenderer:
    """Summary line, changes table, collapsible details; elided to fit :data:`LIMIT`."""

    def __init__(self, limit: int = LIMIT):
        self.limit = limit

    def render(self, plan: Plan, verbose: bool = False, colors: bool = False) -> str:
        rows = [c for c in plan.changes if verbose or c.action is not Action.NOOP]
        keep = len(rows)
        while True:
            text = self._compose(plan, _elide(rows, keep))
            if len(text) <= self.limit or keep == 0:
                return text
            keep = max(0, min(keep - 1, int(keep * self.limit / len(text))))

    def _compose(self, plan: Plan, rows: list[Change | int]) -> str:
        lines = [f"**vizctl plan:** {_summary(plan)}", ""]
        problems = [*plan.errors, *(f"`{c.job_name}`: {n}" for c in plan.changes for n in c.notes)]
        problems += [f"`{c.job_name}`: {c.reason}" for c in plan.changes if c.action is Action.AMBIGUOUS]
        if problems:
            lines += [f"> :warning: {p}" for p in problems] + [""]
        if rows:
            lines += ["| | Job | Action | Live status | Reason |", "|---|---|---|---|---|"]
            for row in rows:
                if isinstance(row, int):
                    lines.append(f"| | … | *{row} more elided* | | |")
                    continue
                lines.append(
                    f"| `{SYMBOLS[row.action]}` | `{row.job_name}` | {row.action.value} | {row.status_name or '—'} | {_cell(row.reason)} |"
                )
            lines.append("")
        details = [_detail(row) for row in rows if isinstance(row, int) or row.diff or row.action is Action.CREATE]
        if details:
            lines += ["<details><summary>Details</summary>", ""] + [d for d in details if d] + ["</details>", ""]
        if plan.unmanaged:
            lines.append(f"{len(plan.unmanaged)} live jobs not declared in any manifest are left alone.")
        if plan.warnings:
            lines += [f"- Warning: {w}" for w in plan.warnings]
        return "\n".join(lines).rstrip() + "\n"


def _summary(plan: Plan) -> str:
    text = plan.summary_line() if plan.has_changes else "No changes."
    waiting = sum(1 for c in plan.changes if c.action is Action.WAIT)
    problems = len(plan.errors) + sum(1 for c in plan.changes if c.is_problem)
    if waiting:
        text += f" {waiting} still starting."
    if problems:
        text += f" **{problems} problem{'s' if problems != 1 else ''}.**"
    return text


def _elide(rows: list[Change], keep: int) -> list[Change | int]:
    """At most ``keep`` rows plus every problem row, the rest replaced by a count in the middle."""
    if keep >= len(rows):
        return list(rows)
    head = keep - keep // 2
    tail = keep // 2
    kept = set(range(head)) | set(range(len(rows) - tail, len(rows)))
    kept |= {i for i, row in enumerate(rows) if row.is_problem}
    out: list[Change | int] = []
    dropped = 0
    for i, row in enumerate(rows):
        if i in kept:
            if dropped:
                out.append(dropped)
                dropped = 0
            out.append(row)
        else:
            dropped += 1
    if dropped:
        out.append(dropped)
    return out


def _detail(row: Change | int) -> str:
    if isinstance(row, int):
        return f"*… {row} more elided …*\n"
    body = []
    if row.action is Action.CREATE:
        body += [f"  {k}: {show(v)}" for k, v in (row.after or {}).items() if k != "job_name"]
    body += [f"  {d.path}: {show(d.before)} -> {show(d.after)}  ({d.fix})" for d in row.diff]
    return f"`{SYMBOLS[row.action]} {row.job_name}`\n```\n" + "\n".join(body) + "\n```\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
