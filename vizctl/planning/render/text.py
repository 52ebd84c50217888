"""``--output text``: a Terraform-like plan for people at a terminal or in CI logs."""

from __future__ import annotations

from vizctl.planning.plan import Action, Change, Plan
from vizctl.planning.render.common import LEGEND, PROBLEM, SYMBOLS, capped, problems_line, prunable_names, read_from, show, symbol_for, verdict
from vizctl.wording import plural

COLORS = {
    Action.CREATE: "32",  # green
    Action.UPDATE: "33",  # yellow
    Action.REPLACE: "35",  # magenta
    Action.RESTART: "36",  # cyan
    Action.DELETE: "31",  # red
    Action.NOOP: "2",  # dim
    Action.KEEP_STOPPED: "2",
    Action.WAIT: "2",
    Action.DRIFTED: "31",
    Action.FAILED: "31",
    Action.AMBIGUOUS: "31",
}


class TextRenderer:
    """One line per job with its symbol, field changes beneath, then warnings, errors and the summary."""

    def render(self, plan: Plan, verbose: bool = False, colors: bool = False) -> str:
        paint = _painter(colors)
        lines: list[str] = []
        width = max((len(c.job_name) for c in plan.changes), default=0)
        shown = list(plan.changes)
        if shown or plan.endpoint:
            lines.append(f"vizctl compared the manifests with the live jobs{read_from(plan)}:")
            lines.append("")
        for change in shown:
            symbol = symbol_for(change)
            color = Action.FAILED if symbol == PROBLEM else change.action
            lines.append(paint(color, f"  {symbol:>3} {change.job_name:<{width}}  {_headline(change)}"))
            lines += _details(change)
        prunable = prunable_names(plan)
        if prunable:
            lines.append("")
            lines.append(f"{plural(len(prunable), 'live job')} inside a prune scope not declared in any manifest (--prune deletes them):")
            lines += [f"    {n}" for n in capped(prunable)]
        left_alone = [j for j in plan.unmanaged if j.job_id not in plan.prunable]
        if left_alone:
            lines.append("")
            lines.append(
                f"{plural(len(left_alone), 'live job')} not declared in any manifest "
                "(left alone" + ("" if verbose else "; names with -v") + ")"
            )
            if verbose:
                lines += [f"    {n}" for n in capped(sorted(j.job_name for j in left_alone))]
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
    lines = [verdict(plan)]
    if waiting:
        names = ", ".join(c.job_name for c in waiting)
        lines.append(f"Not converged yet: {plural(len(waiting), 'job')} still starting ({names}); apply waits for {'it' if len(waiting) == 1 else 'them'}.")
    return lines + [line for line in [problems_line(plan)] if line]


def _painter(colors: bool):
    def paint(action: Action, text: str) -> str:
        return f"\033[{COLORS[action]}m{text}\033[0m" if colors else text

    return paint
