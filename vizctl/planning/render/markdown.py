"""``--output markdown``: a pull-request comment.

A one-line summary, a table of changes, and the field-level details in a
collapsible block. GitHub refuses comments over 65,536 characters, so the
output stays under :data:`LIMIT` by eliding rows from the middle of the table
and the details: rows without problems first; a problem row only as a last
resort, and then the comment says how many and where to see them all.
"""

from __future__ import annotations

from vizctl.planning.plan import AS_DECLARED, Action, Change, Plan
from vizctl.planning.render.common import capped, prunable_names, read_from, show, symbol_for, verdict
from vizctl.wording import plural

LIMIT = 60_000


class MarkdownRenderer:
    """Summary line, changes table, collapsible details; elided to fit :data:`LIMIT`."""

    def __init__(self, limit: int = LIMIT):
        self.limit = limit

    def render(self, plan: Plan, verbose: bool = False, colors: bool = False) -> str:
        rows = [c for c in plan.changes if verbose or c.action not in AS_DECLARED or c.is_problem]
        for keep_problems in (True, False):
            keep = len(rows)
            while True:
                text = self._compose(plan, _elide(rows, keep, keep_problems))
                if len(text) <= self.limit:
                    return text
                if keep == 0:
                    break
                keep = max(0, min(keep - 1, int(keep * self.limit / len(text))))
        return text[: self.limit - 100] + "\n\n*… cut to fit a comment: see `vizctl plan --output json`*\n"

    def _compose(self, plan: Plan, rows: list[Change | int]) -> str:
        where = read_from(plan, quote="`")
        lines = [f"**vizctl plan{where}:** {_summary(plan)}", ""]
        if plan.errors:
            lines += [f"> :warning: {e}" for e in plan.errors] + [""]
        if rows:
            lines += ["| | Job | Action | Live status | Reason |", "|---|---|---|---|---|"]
            for row in rows:
                if isinstance(row, int):
                    lines.append(f"| | … | *{plural(row, 'more row')} elided; all are in `vizctl plan --output json`* | | |")
                    continue
                reason = "; ".join([row.reason, *row.notes])
                lines.append(f"| `{symbol_for(row)}` | `{row.job_name}` | {row.action.value} | {row.status_name or '—'} | {_cell(reason)} |")
            lines.append("")
        details = _details(rows)
        if details:
            lines += ["<details><summary>Details</summary>", "", *details, "</details>", ""]
        prunable = prunable_names(plan)
        if prunable:
            names = ", ".join(f"`{n}`" if not n.startswith("...") else n for n in capped(prunable))
            lines += [f"{plural(len(prunable), 'live job')} inside a prune scope not declared in any manifest (`--prune` deletes them): {names}", ""]
        left_alone = len(plan.unmanaged) - len(prunable)
        if left_alone:
            lines.append(f"{plural(left_alone, 'live job')} not declared in any manifest are left alone.")
        lines += [f"- Warning: {w}" for w in plan.warnings]
        return "\n".join(lines).rstrip() + "\n"


def _summary(plan: Plan) -> str:
    text = verdict(plan)
    waiting = sum(1 for c in plan.changes if c.action is Action.WAIT)
    problems = len(plan.errors) + sum(1 for c in plan.changes if c.is_problem)
    if waiting:
        text += f" {waiting} still starting."
    if problems:
        text += f" **{plural(problems, 'problem')}.**"
    return text


def _elide(rows: list[Change], keep: int, keep_problems: bool) -> list[Change | int]:
    """At most ``keep`` rows (plus every problem row when ``keep_problems``); runs of the rest become counts."""
    if keep >= len(rows):
        return list(rows)
    tail = keep // 2
    kept = set(range(keep - tail)) | set(range(len(rows) - tail, len(rows)))
    if keep_problems:
        kept |= {i for i, row in enumerate(rows) if row.is_problem}
    out: list[Change | int] = []
    for i, row in enumerate(rows):
        if i in kept:
            out.append(row)
        elif out and isinstance(out[-1], int):
            out[-1] += 1
        else:
            out.append(1)
    return out


def _details(rows: list[Change | int]) -> list[str]:
    """One fenced block per row with fields to show; neighbouring elisions merged into one line."""
    out: list[str] = []
    elided = 0
    for row in rows:
        if isinstance(row, int):
            elided += row
            continue
        body = _detail_lines(row)
        if not body:
            continue
        if elided:
            out.append(f"*… {plural(elided, 'more row')} elided …*\n")
            elided = 0
        out.append(f"`{symbol_for(row)} {row.job_name}`\n```\n" + "\n".join(body) + "\n```\n")
    if elided:
        out.append(f"*… {plural(elided, 'more row')} elided …*\n")
    return out


def _detail_lines(row: Change) -> list[str]:
    body = []
    if row.action is Action.CREATE:
        body += [f"  {k}: {show(v)}" for k, v in (row.after or {}).items() if k != "job_name"]
    for d in row.diff:
        fix = "not changed by apply" if d.fix == "replace" and row.action is not Action.REPLACE else d.fix
        body.append(f"  {d.path}: {show(d.before)} -> {show(d.after)}  ({fix})")
    return body


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
