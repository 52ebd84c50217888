"""Progress of apply, wait and destroy for people (:class:`TextReporter`) and machines (:class:`JsonReporter`).

Both receive the :class:`~vizctl.applying.machine.Reporter` events plus ``summary``, and
are made for one command (``apply``, ``wait`` or ``destroy``), whose name the
summary carries. Off a terminal the text reporter prints plain lines and at
most one heartbeat every :data:`HEARTBEAT_SECONDS`; on a terminal it keeps one
live status line.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from vizctl.applying.machine import JobResult, Outcome
from vizctl.environment import Environment
from vizctl.model import status_name
from vizctl.planning.plan import Action, Change
from vizctl.wording import plural, printable

HEARTBEAT_SECONDS = 10.0
TTY_REFRESH_SECONDS = 0.5
CLEAR_LINE = "\r\033[K"
# Commands whose summary ends with how many declared jobs run (destroy's jobs are meant to go).
COUNTS_RUNNING = {"apply": True, "wait": True, "destroy": False}


def verdict(command: str, results: list[JobResult]) -> str:
    """``Apply complete``, ``Destroy finished with problems``: the command's own word, then whether every outcome went well."""
    return f"{command.capitalize()} {'complete' if all(r.outcome.ok for r in results) else 'finished with problems'}"


def running_count(results: list[JobResult]) -> tuple[int, int]:
    """(running, declared): deletes are not meant to run, so they count in neither."""
    declared = [r for r in results if r.action is not Action.DELETE]
    return sum(1 for r in declared if r.running), len(declared)


class TextReporter:
    """Readable lines: each job's outcome as it happens, heartbeats, a final summary."""

    def __init__(self, env: Environment, command: str = "apply"):
        self.env = env
        self.command = command
        self._last_beat = float("-inf")
        self._live_line = False

    def action_started(self, change: Change) -> None:
        self.env.log(f"{change.job_name}: {change.action.value} started")

    def action_done(self, change: Change, job_id: str | None, elapsed: float) -> None:
        self._line(f"{change.job_name}: {change.action.value} accepted (job {job_id}) [{elapsed:.1f}s]")

    def job_settled(self, result: JobResult) -> None:
        mark = "✓" if result.outcome.ok else "✗"
        self._line(f"{mark} {result.job_name}: {describe(result)} [{result.elapsed:.1f}s]")

    def job_corrected(self, result: JobResult, earlier: JobResult) -> None:
        mark = "✓" if result.outcome.ok else "✗"
        self._line(f"{mark} {result.job_name}: {describe(result)} (the final read corrects: {earlier.outcome.value})")

    def progress(self, waiting: dict[str, int], elapsed: float) -> None:
        now = self.env.clock()
        every = TTY_REFRESH_SECONDS if self.env.stdout_isatty else HEARTBEAT_SECONDS
        if now - self._last_beat < every:
            return
        self._last_beat = now
        count = sum(waiting.values())
        states = ", ".join(f"{n} {s}" for s, n in waiting.items())
        text = f"Waiting for {plural(count, 'job')}: {states} [{elapsed:.0f}s elapsed]"
        if self.env.stdout_isatty:
            self.env.out(CLEAR_LINE + text, end="")
            self._live_line = True
        else:
            self.env.out(text)

    def final_read_failed(self, reason: str) -> None:
        self._line(f"The final read of the list failed ({reason}): each outcome stands as the last successful read showed it.")

    def interrupted(self) -> None:
        self._line("Interrupted: starting nothing new, finishing requests in flight (Ctrl-C again to quit at once)")

    def summary(self, results: list[JobResult], elapsed: float) -> None:
        counts = Counter(r.outcome for r in results)
        running, declared = running_count(results)
        self._line("")
        parts = ", ".join(f"{n} {o.value}" for o, n in sorted(counts.items(), key=lambda kv: list(Outcome).index(kv[0])))
        tail = f"; {running} of {declared} running" if COUNTS_RUNNING[self.command] else ""
        self.env.out(f"{verdict(self.command, results)} in {elapsed:.1f}s: {parts or 'nothing to do'}{tail}.")
        width = max((len(r.job_name) for r in results), default=0)
        for r in results:
            self.env.out(f"  {'✓' if r.outcome.ok else '✗'} {r.job_name:<{width}}  {describe(r)}" + (f"  {printable(r.service_url)}" if r.service_url else ""))

    def _line(self, text: str) -> None:
        prefix = CLEAR_LINE if self._live_line else ""
        self._live_line = False
        self.env.out(prefix + text)


def describe(result: JobResult) -> str:
    """``created, RUNNING (job 12)``, ``failed, IMAGE_FAILED (job 9): why``, ``created, not yet running, INIT (job 3)``;
    what the API said (an id, an error) escaped where unprintable."""
    text = result.outcome.value if result.done is None else f"{result.done.value}, {result.outcome.value}"
    if result.status is not None:
        text += f", {status_name(result.status)}"
    if result.job_id:
        text += f" (job {result.job_id})"
    return printable(text + (f": {result.detail}" if result.detail else ""))


class JsonReporter:
    """One JSON object per line: apply_start, apply_progress, apply_complete, apply_errored, apply_corrected,
    apply_unverified, apply_interrupted, summary."""

    def __init__(self, env: Environment, command: str = "apply"):
        self.env = env
        self.command = command

    def emit(self, event: str, **fields: Any) -> None:
        self.env.out(printable(json.dumps({"type": event, "time": round(time.time(), 3), **fields}, ensure_ascii=False)))

    def action_started(self, change: Change) -> None:
        self.emit("apply_start", job_name=change.job_name, action=change.action.value, job_id=change.job_id)

    def action_done(self, change: Change, job_id: str | None, elapsed: float) -> None:
        self.emit("apply_progress", job_name=change.job_name, action=change.action.value, job_id=job_id, message="accepted", elapsed=round(elapsed, 3))

    def job_settled(self, result: JobResult) -> None:
        self.emit("apply_complete" if result.outcome.ok else "apply_errored", **job_fields(result), elapsed=round(result.elapsed, 3))

    def job_corrected(self, result: JobResult, earlier: JobResult) -> None:
        self.emit("apply_corrected", **job_fields(result), elapsed=round(result.elapsed, 3), ok=result.outcome.ok, was=earlier.outcome.value)

    def progress(self, waiting: dict[str, int], elapsed: float) -> None:
        self.emit("apply_progress", waiting=waiting, elapsed=round(elapsed, 3))

    def final_read_failed(self, reason: str) -> None:
        self.emit("apply_unverified", detail=reason)

    def interrupted(self) -> None:
        self.emit("apply_interrupted")

    def summary(self, results: list[JobResult], elapsed: float) -> None:
        counts = Counter(r.outcome.value for r in results)
        self.emit(
            "summary",
            command=self.command,
            ok=all(r.outcome.ok for r in results),
            elapsed=round(elapsed, 3),
            outcomes=dict(counts),
            running=running_count(results)[0],
            jobs=[job_fields(r) for r in results],
        )


def job_fields(result: JobResult) -> dict[str, Any]:
    """One job's result as the JSON events and the summary carry it."""
    return {
        "job_name": result.job_name,
        "action": result.action.value,
        "outcome": result.outcome.value,
        "done": None if result.done is None else result.done.value,
        "job_id": result.job_id,
        "status": result.status,
        "status_name": None if result.status is None else status_name(result.status),
        "detail": result.detail,
        "service_url": result.service_url or None,
    }
