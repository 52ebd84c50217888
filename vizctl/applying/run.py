"""Carrying a plan out for apply, wait and destroy: the confirmation, the progress output, the run
(Ctrl-C aware) and the exit status that says how the jobs ended."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from vizctl.environment import Environment
from vizctl.errors import ConfirmationError, ExitStatus, VizctlError

if TYPE_CHECKING:
    from vizctl.api.client import ModelArtsClient
    from vizctl.applying.machine import Applier, ApplySettings, JobResult
    from vizctl.model import LiveSnapshot
    from vizctl.planning.plan import Plan
    from vizctl.session import Target


def reporter_for(args: argparse.Namespace, env: Environment):
    """The progress output of apply, wait or destroy: text for people, ``--output json`` one event per line."""
    from vizctl.applying.progress import JsonReporter, TextReporter

    return (JsonReporter if args.output == "json" else TextReporter)(env, args.command)


def show_plan(plan: Plan, env: Environment, reporter) -> None:
    """The plan before it is carried out: as text, or as the ``plan`` event of ``--output json``."""
    from vizctl.planning.plan import plan_to_dict
    from vizctl.applying.progress import JsonReporter
    from vizctl.planning.render import RENDERERS

    if isinstance(reporter, JsonReporter):
        reporter.emit("plan", plan=plan_to_dict(plan))
    else:
        env.out(RENDERERS["text"]().render(plan, verbose=env.verbosity > 0, colors=env.colors))
        env.out("")


def confirm(env: Environment, question: str, client: ModelArtsClient, instead: str = "pass --auto-approve (-y)") -> None:
    """Ask for ``yes``, exactly (only the line ending is taken off); without a terminal, refuse (exit 1) and say how
    to go on (``instead``). The time a person takes to answer does not count against ``client``'s deadline."""
    if not env.stdin_isatty:
        raise ConfirmationError(f"confirmation needed, but standard input is not a terminal: {instead}")
    env.err(f"{question} Only 'yes' is accepted: ", end="")
    with client.deadline_paused():
        answer = env.stdin.readline().removesuffix("\n").removesuffix("\r")
    if answer != "yes":
        raise VizctlError("cancelled; nothing was changed")


def carry_out(target: Target, plan: Plan, live: LiveSnapshot, reporter, settings: ApplySettings, env: Environment) -> ExitStatus:
    """Run ``plan`` (Ctrl-C aware), print the summary with service URLs, and say how it ended."""
    from vizctl.applying.machine import Applier

    applier = Applier(target.client, reporter, settings)
    target.client.cancel = applier.stop  # Ctrl-C ends every retry wait; the command's deadline (connect) ends the rest
    results, interrupted, elapsed = _run_interruptibly(applier, plan, reporter)
    reporter.summary(_with_service_urls(results, live), elapsed)
    env.log(f"API calls: {dict(target.client.calls)}")
    if interrupted:
        return ExitStatus.INTERRUPTED
    return ExitStatus.OK if _converged(results, settings.wait) else ExitStatus.NOT_CONVERGED


def _with_service_urls(results: list[JobResult], live: LiveSnapshot) -> list[JobResult]:
    """Fill the service URL of jobs apply did not wait for (already running) from the plan's read; a job
    the last read did not list (no status: deleted, missing), or showed KILLING (on its way out), gets none."""
    from vizctl.model import Phase, phase_of
    from vizctl.planning.plan import Action

    urls = {job.job_id: job.service_url for job in live.jobs}
    return [
        replace(r, service_url=urls.get(r.job_id or "", ""))
        if not r.service_url and r.action is not Action.DELETE and r.status is not None and phase_of(r.status) is not Phase.STOPPING else r
        for r in results
    ]


def _run_interruptibly(applier: Applier, plan: Plan, reporter) -> tuple[list[JobResult], bool, float]:
    """Run the apply; the first Ctrl-C stops new work, the second exits at once."""
    stop = applier.stop
    started = time.monotonic()

    def on_interrupt(signum, frame):
        if stop.is_set():
            os._exit(int(ExitStatus.INTERRUPTED))
        stop.set()
        reporter.interrupted()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if in_main_thread else None
    try:
        results = applier.run(plan)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
    return results, stop.is_set(), time.monotonic() - started


def _converged(results: list[JobResult], waited: bool) -> bool:
    from vizctl.planning.plan import Action

    if not all(r.outcome.ok for r in results):
        return False
    return not waited or all(r.running for r in results if r.action not in (Action.DELETE, Action.KEEP_STOPPED))
