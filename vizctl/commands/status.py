"""``vizctl status``: the live jobs (or the declared ones) with status, age and service URL."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Sequence

from vizctl.session import connect, declared_manifest
from vizctl.environment import Environment
from vizctl.errors import ExitStatus
from vizctl.model import LiveSnapshot
from vizctl.wording import plural, printable

MISSING = "MISSING"


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    declared = [spec.name for spec in declared_manifest(args, env).jobs] if (args.files or args.paths) else None
    with connect(args, env, args.parallelism) as target:
        live = target.client.list_all()
    rows = status_rows(live, declared, time.time())
    if args.output == "json":
        missing = [row["job_name"] for row in rows if row["status_name"] == MISSING]
        env.out(printable(json.dumps({"jobs": [r for r in rows if r["status_name"] != MISSING], "missing": missing}, indent=2, ensure_ascii=False), lines=True))
    else:
        env.out(render_table(rows, declared is not None))
    return ExitStatus.OK


def status_rows(live: LiveSnapshot, declared: Sequence[str] | None, now: float) -> list[dict[str, Any]]:
    """One row per live job, sorted by name; with ``declared``, only those (in that order) plus the missing ones."""
    by_name = live.by_name()
    names = list(declared) if declared is not None else sorted(by_name)
    rows = []
    for name in names:
        jobs = by_name.get(name)
        if not jobs:
            rows.append({"job_name": name, "job_id": None, "status": None, "status_name": MISSING, "age_seconds": None, "service_url": None})
        for job in sorted(jobs or (), key=lambda j: (len(j.job_id), j.job_id)):
            age = None if job.create_time is None else max(0, int(now - job.create_time / 1000))
            rows.append({
                "job_name": job.job_name, "job_id": job.job_id, "status": job.status, "status_name": job.status_name,
                "age_seconds": age, "service_url": job.service_url or None,
            })
    return rows


def render_table(rows: list[dict[str, Any]], declared: bool) -> str:
    """``NAME  STATUS  AGE  SERVICE URL`` columns and a count; what the API said is escaped where unprintable."""
    if not rows:
        return "No jobs."
    table = [("NAME", "STATUS", "AGE", "SERVICE URL")] + [
        (printable(r["job_name"]), r["status_name"], age(r["age_seconds"]), printable(r["service_url"] or "-")) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in table]
    missing = sum(1 for r in rows if r["status_name"] == MISSING)
    count = plural(len(rows) - missing, "live job")
    lines += ["", f"{count}, {missing} declared but missing." if declared else f"{count}."]
    return "\n".join(lines)


def age(seconds: int | None) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``: how long ago a job was created."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
