"""``vizctl export``: a valid manifest for existing live jobs, to adopt jobs made by hand or elsewhere.

The list answer lacks ``job_type``, ``flavor`` and ``schedule``: each exported
job gets one details call, so that ``export`` then ``plan`` shows no changes.
Every string is written so that vizctl's loader reads it back as the live
value: ``${`` escaped as ``$${``, line breaks and control characters escaped
in double quotes. A job the manifest schema refuses is skipped with a note.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from vizctl import __version__
from vizctl.session import connect
from vizctl.environment import Environment
from vizctl.manifests.variables import escape
from vizctl.errors import ExitStatus
from vizctl.manifests.loader import JOB_NAME_RE, job_problems
from vizctl.model import LiveJob, Phase
from vizctl.planning.planner import live_fields
from vizctl.wording import plural


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    with connect(args, env, args.parallelism) as target:
        live = target.client.list_all()
        chosen = [job for job in live.jobs if args.match is None or fnmatch.fnmatchcase(job.job_name, args.match)]
        jobs, skipped = exportable(chosen)
        with ThreadPoolExecutor(max_workers=max(1, min(args.parallelism, len(jobs)))) as pool:
            details = list(pool.map(target.client.get_job, [job.job_id for job in jobs]))
    entries, refused = declarable(jobs, details)
    for note in skipped + refused:
        env.err(f"Skipped {note}")
    exported = {entry["job_name"] for entry in entries}
    stopped = [f"{job.job_name} ({job.status_name})" for job in jobs if job.phase is not Phase.RUNNING and job.job_name in exported]
    if stopped:
        env.err(f"Note: not running, so `vizctl plan` will show them: {', '.join(stopped)}")
    where = f" matching {args.match!r}" if args.match else ""
    env.out(f"# Exported by vizctl {__version__}: {plural(len(entries), 'live job')}{where} from {target.endpoint_label}.")
    env.out(manifest_text(entries), end="")
    env.check_output()
    env.err(f"Exported {plural(len(entries), 'job')}.")
    return ExitStatus.OK


def exportable(jobs: list[LiveJob]) -> tuple[list[LiveJob], list[str]]:
    """The jobs a manifest can declare (sorted by name), and why the others cannot be."""
    names: dict[str, list[LiveJob]] = {}
    for job in jobs:
        names.setdefault(job.job_name, []).append(job)
    out, skipped = [], []
    for name in sorted(names):
        if len(names[name]) > 1:
            skipped.append(f"{_label(name)}: {len(names[name])} live jobs share this name (a manifest declares a name once)")
        elif not names[name][0].train_url:
            skipped.append(f"{_label(name)}: the API shows no train_url")
        else:
            out.append(names[name][0])
    return out, skipped


def declarable(jobs: list[LiveJob], details: list[LiveJob]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each job as a manifest declares it, and why the schema refuses the others (a name or description it cannot hold)."""
    entries, refused = [], []
    for job, detail in zip(jobs, details):
        entry = _declared(job, detail)
        problems = job_problems(entry)
        if problems:
            refused.append(f"{_label(job.job_name)}: a manifest cannot declare it as it is live ({'; '.join(problems)})")
        else:
            entries.append(entry)
    return entries, refused


def _label(name: str) -> str:
    """A live job's name in a note: as it is when a manifest could declare it, else quoted (escapes shown, never sent raw)."""
    return name if JOB_NAME_RE.fullmatch(name) else repr(name)


def manifest_text(entries: list[dict[str, Any]]) -> str:
    """``{"jobs": [...]}`` as YAML that vizctl's loader, with any environment, reads back as exactly ``entries``."""
    return yaml.dump({"jobs": [_escaped(entry) for entry in entries]}, Dumper=_ExportDumper, sort_keys=False, allow_unicode=True, width=2**30)


def _escaped(value: Any) -> Any:
    """``value`` with every ``${`` in its strings escaped (keys are vizctl's own)."""
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    return escape(value) if isinstance(value, str) else value


# Characters a plain or single-quoted scalar cannot hold as they are: controls, line breaks
# (U+0085, U+2028, U+2029 fold to a space in single quotes), the BOM, and anything non-printable.
_NEEDS_ESCAPES = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\x85\u2028\u2029\ufeff]")


class _ExportDumper(yaml.SafeDumper):
    """safe_dump, writing a string with a character that needs an escape in double quotes."""


def _represent_string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _NEEDS_ESCAPES.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ExportDumper.add_representer(str, _represent_string)


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
