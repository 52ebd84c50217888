"""``--output text``: a Terraform-like plan for people at a terminal or in CI logs."""

from __future__ import annotations

from vizctl.plan import Action, Change, Plan
from vizctl.render.common import LEGEND, PROBLEM, SYMBOLS, show, symbol_for
from vizctl.wording import plural

COLORS = {
    Action.CREATE: "32",  # green
    Action.UPDATE: "33",  # yellow
    Action.REPLACE: "35",  # magenta
    Action.RESTART: "36",  # cyan
    Action.DELETE: "31",  # red
    Action.NOOP: "2",  # dim
    Action.WAIT: "2",
    Action.FAILED: "31",
    Action.AMBIGUOUS: "31",
}
MAX_UNMANAGED_NAMES = 50


class TextRenderer:
    """One line per job with its symbol, field changes beneath, then warnings, errors and the summary."""

    def render(self, plan: Plan, verbose: bool = False, colors: bool = False) -> str:
        paint = _painter(colors)
        lines: list[str] = []
        width = max((len(c.job_name) for c in plan.changes), default=0)
        shown = list(plan.changes)
        if shown:
            lines.append("vizctl compared the manifests with the live jobs:")
            lines.append("")
        for change in shown:
            symbol = symbol_for(change)
            color = Action.FAILED if symbol == PROBLEM else change.action
            lines.append(paint(color, f"  {symbol:>3} {change.job_name:<{width}}  {_headline(change)}"))
            lines += _details(change)
        if plan.unmanaged:
            lines.append("")
            lines.append(
                f"{plural(len(plan.unmanaged), 'live job')} not declared in any manifest "
                "(left alone" + ("" if verbose else "; names with -v") + ")"
            )
            if verbose:
                names = sorted(j.job_name for j in plan.unmanaged)
                lines += [f"    {n}" for n in names[:MAX_UNMANAGED_NAMES]]
                if len(names) > MAX_UNMANAGED_NAMES:
                    lines.append(f"    ... and {len(names) - MAX_UNMANAGED_NAMES} more")
        if plan.warnings:
            lines.append("")
            lines += [paint(Action.UPDATE, f"Warning: {w}") for w in plan.warnings]
        if plan.errors:
            lines.append("")
            lines += [paint(Action.FAILED, f"Error: {e}") for e in plan.errors]
        lines.append("")
        lines += _closing(plan)
        used = {symbol_for(c) for c in shown}
        legend = dict.fromkeys(f"{SYMBOLS[a]} {LEGEND[a]}" for a in LEGEND if SYMBOLS[a] in used)
        if legend:
            lines.append("")
            lines.append("Legend: " + "; ".join(legend))
        return "\n".join(lines)


def _headline(change: Change) -> str:
    where = f"  [{change.location}]" if change.location else ""
    if change.action is Action.CREATE:
        return f"create{where}"
    if change.action is Action.DELETE:
        return f"delete (job {change.job_id}): {change.reason}"
    if change.action is Action.NOOP:
        return f"{change.status_name} (job {change.job_id}){where}"
    return f"{change.action.value}: {change.reason}{where}"


def _details(change: Change) -> list[str]:
    out = []
    if change.action is Action.CREATE:
        out += [f"        {key}: {show(value)}" for key, value in (change.after or {}).items() if key != "job_name"]
    for diff in change.diff:
        suffix = {"replace": "  (forces replacement)", "in-place": ""}.get(diff.fix, "")
        if change.action is not Action.REPLACE and diff.fix == "replace":
            suffix = "  (not changed by apply)"
        out.append(f"        {diff.path}: {show(diff.before)} -> {show(diff.after)}{suffix}")
    out += [f"        ! {note}" for note in change.notes]
    return out


def _closing(plan: Plan) -> list[str]:
    waiting = [c for c in plan.changes if c.action is Action.WAIT]
    problems = [c for c in plan.changes if c.is_problem]
    lines = []
    if plan.has_changes:
        lines.append(plan.summary_line())
    elif plan.changes:
        running = sum(1 for c in plan.changes if c.action is Action.NOOP)
        lines.append(f"No changes. {running} of {plural(len(plan.changes), 'declared job')} running as declared.")
    else:
        lines.append("No changes. No jobs are declared.")
    if waiting:
        names = ", ".join(c.job_name for c in waiting)
        lines.append(f"Not converged yet: {plural(len(waiting), 'job')} still starting ({names}); apply waits for {'it' if len(waiting) == 1 else 'them'}.")
    if problems:
        lines.append(f"{plural(len(problems), 'job')} with problems apply will not fix (marked !).")
    return lines


def _painter(colors: bool):
    def paint(action: Action, text: str) -> str:
        return f"\033[{COLORS[action]}m{text}\033[0m" if colors else text

    return paint
