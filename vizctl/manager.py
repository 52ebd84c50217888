"""The I/O around planning: read the live jobs, build the plan, save it, check a saved one.

The planning itself is pure (:mod:`vizctl.planner`); this module is where it
meets the API and the file system.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from typing import Any, Iterable

from vizctl.client import ModelArtsClient
from vizctl.details_cache import DetailsCache
from vizctl.errors import OutputError, StalePlanError, UsageError, VizctlError
from vizctl.fileio import write_atomically
from vizctl.manifest import MANIFEST_SUFFIXES, STDIN
from vizctl.model import LiveJob, LiveSnapshot, Manifest, Phase
from vizctl.plan import PLAN_FILE_KIND, Action, Plan, fingerprint, plan_field, plan_from_dict, plan_strings, plan_to_dict
from vizctl.planner import PlanOptions, build_plan, details_needed


MAX_PLAN_BYTES = 256 * 2**20  # a file larger than this is not taken for a plan to overwrite (10,000 jobs: about 20 MB)


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from ``plan --out``, with what it was made against."""

    plan: Plan
    endpoint: str
    project_id: str
    options: PlanOptions


def make_plan(
    client: ModelArtsClient, manifest: Manifest, options: PlanOptions, parallelism: int = 10, cache: DetailsCache | None = None
) -> tuple[Plan, LiveSnapshot]:
    """Read the live jobs (all pages, details only where needed and not in ``cache``) and plan against them."""
    snapshot = client.list_all()
    ids = details_needed(manifest, snapshot, options)
    details: dict[str, LiveJob] = {}
    if ids and cache is not None:
        wanted = set(ids)
        # the cache holds job_type, flavor and schedule: a job_desc the list left out needs the API
        details = cache.lookup(job for job in snapshot.jobs if job.job_id in wanted and job.job_desc is not None)
        ids = [job_id for job_id in ids if job_id not in details]
    if ids:
        read = client.get_jobs(ids, parallelism)
        details.update((job.job_id, job) for job in read)
        if cache is not None:
            cache.store(read, snapshot.jobs)
    return build_plan(manifest, snapshot, details, options), snapshot


def save_plan(path: str, plan: Plan, endpoint: str, project_id: str, options: PlanOptions) -> None:
    """Write the plan file atomically. It holds no credentials, only where and what."""
    data: dict[str, Any] = {
        "kind": PLAN_FILE_KIND,
        **plan_to_dict(plan),
        "connection": {"endpoint": endpoint, "project_id": project_id},
        "options": {"targets": sorted(options.targets), "replace": sorted(options.replace), "prune": options.prune, "force": options.force},
    }
    try:
        write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", prefix=".vizctl-plan-")
    except OSError as exc:
        raise OutputError(f"cannot write the plan to {path}: {exc.strerror or exc}") from None


def check_plan_destination(path: str, manifest_files: Iterable[str]) -> None:
    """Refuse ``plan --out PATH`` where a plan would overwrite what is not a plan: a manifest, any file that is not a
    vizctl plan file, or a name apply reads as a manifest."""
    if path.lower().endswith(MANIFEST_SUFFIXES):
        raise UsageError(f"--out {path}: apply reads a *.yaml or *.yml file as a manifest; save the plan as e.g. plan.json")
    if not os.path.lexists(path):
        return
    if any(f != STDIN and _same_file(path, f) for f in manifest_files):
        raise UsageError(f"--out {path} is a manifest this plan was made from: it is not overwritten; nothing was written")
    if not os.path.isfile(path):
        raise UsageError(f"--out {path} exists and is not a regular file: nothing was written")
    if not _is_plan_file(path):
        raise UsageError(f"--out {path} exists and is not a vizctl plan file: it is not overwritten; nothing was written")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _is_plan_file(path: str) -> bool:
    """Whether ``path`` holds a vizctl plan file (of any format version, damaged or not)."""
    try:
        if os.path.getsize(path) > MAX_PLAN_BYTES:
            return False
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("kind") == PLAN_FILE_KIND


def load_plan(path: str) -> SavedPlan:
    """Read a plan file written by :func:`save_plan`; anything else, or a damaged one, is one error naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise VizctlError(f"cannot read the plan file {path}: {exc.strerror or exc}") from None
    except ValueError:  # not JSON, not UTF-8
        raise StalePlanError(f"{path} is not a vizctl plan file (not JSON)") from None
    except RecursionError:
        raise StalePlanError(f"{path} is not a vizctl plan file (JSON nested too deeply to read)") from None
    try:
        plan = plan_from_dict(data)
        options, connection = plan_field(data, "options", dict), plan_field(data, "connection", dict)
        saved = PlanOptions(
            frozenset(plan_strings(options, "targets", "options.", required=True)),
            frozenset(plan_strings(options, "replace", "options.", required=True)),
            plan_field(options, "prune", bool, "options."),
            plan_field(options, "force", bool, "options."),
        )
        return SavedPlan(plan, plan_field(connection, "endpoint", str, "connection."), plan_field(connection, "project_id", str, "connection."), saved)
    except StalePlanError as error:
        raise StalePlanError(f"{path}: {error}") from None


def check_fresh(saved: Plan, manifest: Manifest, snapshot: LiveSnapshot) -> None:
    """Refuse a saved plan whose manifests, or any live job it changes or reports on, changed since it was made.

    Apply reports the jobs a saved plan does not change from this read, so each
    of them must still be as planned; a starting job may have started since.
    """
    if manifest.digest != saved.manifest_digest:
        raise StalePlanError("plan is stale: the manifests changed since it was made; run `vizctl plan` again")
    by_name = snapshot.by_name()
    by_id = {job.job_id: job for job in snapshot.jobs}
    changed = []
    for change in saved.changes:
        if change.action is Action.DELETE:
            live = [by_id[change.job_id]] if change.job_id in by_id else []
        else:
            live = by_name.get(change.job_name, [])
        if change.action is Action.WAIT:
            live = [replace(job, status=change.status or 0) for job in live if job.phase in (Phase.PENDING, Phase.RUNNING)]
        if fingerprint(live) != change.fingerprint:
            changed.append(change.job_name)
    if changed:
        raise StalePlanError(
            "plan is stale: the live state changed since it was made for " + ", ".join(changed) + "; run `vizctl plan` again"
        )
