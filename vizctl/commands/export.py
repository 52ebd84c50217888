"""``vizctl export``: a valid manifest for existing live jobs, to adopt jobs made by hand or elsewhere.

The list answer lacks ``job_type``, ``flavor`` and ``schedule``: each exported
job gets one details call, so that ``export`` then ``plan`` shows no changes.
"""

from __future__ import annotations

import argparse
import fnmatch
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from vizctl import __version__
from vizctl.cli import connect
from vizctl.environment import Environment
from vizctl.errors import ExitStatus
from vizctl.model import LiveJob, Phase
from vizctl.planner import live_fields
from vizctl.wording import plural


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    with connect(args, env, args.parallelism) as target:
        live = target.client.list_all()
        chosen = [job for job in live.jobs if args.match is None or fnmatch.fnmatchcase(job.job_name, args.match)]
        jobs, skipped = exportable(chosen)
        with ThreadPoolExecutor(max_workers=max(1, min(args.parallelism, len(jobs)))) as pool:
            details = list(pool.map(target.client.get_job, [job.job_id for job in jobs]))
    for note in skipped:
        env.err(f"Skipped {note}")
    stopped = [f"{job.job_name} ({job.status_name})" for job in jobs if job.phase is not Phase.RUNNING]
    if stopped:
        env.err(f"Note: not running, so `vizctl plan` will show them: {', '.join(stopped)}")
    where = f" matching {args.match!r}" if args.match else ""
    env.out(f"# Exported by vizctl {__version__}: {plural(len(jobs), 'live job')}{where} from {target.endpoint_label}.")
    env.out(yaml.safe_dump(manifest_of(jobs, details), sort_keys=False, allow_unicode=True, width=1000), end="")
    env.err(f"Exported {plural(len(jobs), 'job')}.")
    return ExitStatus.OK


def exportable(jobs: list[LiveJob]) -> tuple[list[LiveJob], list[str]]:
    """The jobs a manifest can declare (sorted by name), and why the others cannot be."""
    names: dict[str, list[LiveJob]] = {}
    for job in jobs:
        names.setdefault(job.job_name, []).append(job)
    out, skipped = [], []
    for name in sorted(names):
        if len(names[name]) > 1:
            skipped.append(f"{name}: {len(names[name])} live jobs share this name (a manifest declares a name once)")
        elif not names[name][0].train_url:
            skipped.append(f"{name}: the API shows no train_url")
        else:
            out.append(names[name][0])
    return out, skipped


def manifest_of(jobs: list[LiveJob], details: list[LiveJob]) -> dict[str, Any]:
    """``{"jobs": [...]}`` declaring each job as it is live, in the manifest schema's terms."""
    return {"jobs": [_declared(job, detail) for job, detail in zip(jobs, details)]}


def _declared(job: LiveJob, detail: LiveJob) -> dict[str, Any]:
    fields = live_fields(job, detail)
    entry: dict[str, Any] = {"job_name": job.job_name, "train_url": fields["train_url"]}
    if fields.get("job_desc"):
        entry["job_desc"] = fields["job_desc"]
    if fields.get("job_type") in ("tensorboard", "mindinsight"):
        entry["job_type"] = fields["job_type"]
    flavor = fields.get("flavor")
    if isinstance(flavor, dict) and isinstance(flavor.get("code"), str) and flavor["code"]:
        entry["flavor"] = {"code": flavor["code"]}
    schedule = fields.get("schedule")
    if isinstance(schedule, dict) and _auto_stop_hours(schedule) is not None:
        entry["schedule"] = {"duration": _auto_stop_hours(schedule)}
    return entry


def _auto_stop_hours(schedule: dict[str, Any]) -> int | None:
    """The hours of an auto-stop schedule the manifest can declare; None for anything else."""
    duration = schedule.get("duration")
    if schedule.get("type", "stop") != "stop" or schedule.get("time_unit", "HOURS") != "HOURS":
        return None
    return duration if isinstance(duration, int) and not isinstance(duration, bool) and 0 <= duration <= 24 else None
