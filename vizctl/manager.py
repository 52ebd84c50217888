"""The I/O around planning: read the live jobs, build the plan, save it, check a saved one.

The planning itself is pure (:mod:`vizctl.planner`); this module is where it
meets the API and the file system. A manifest or saved plan that would send a
credential vizctl knows (see :mod:`vizctl.redact`) is refused before any
request, and a plan holding one is never saved.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, replace
from typing import Any

from vizctl.client import ModelArtsClient
from vizctl.details_cache import DetailsCache
from vizctl.errors import ManifestError, PlanError, Problem, StalePlanError, VizctlError
from vizctl.model import LiveJob, LiveSnapshot, Manifest, Phase
from vizctl.plan import PLAN_FILE_KIND, Action, Plan, fingerprint, plan_from_dict, plan_to_dict
from vizctl.planner import PlanOptions, build_plan, details_needed, prune_refusals
from vizctl.redact import holds_secret

SENDS_A_CREDENTIAL = ("holds a credential vizctl knows (the value is not shown): the API keeps job values and shows "
                      "them to everyone who can list jobs")


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
    """Read the live jobs (all pages, details only where needed and not in ``cache``) and plan against them.

    A manifest holding a credential vizctl knows is refused first: nothing is sent.
    """
    if holds_secret(json.dumps([job.body for job in manifest.jobs], ensure_ascii=False, default=str)):  # one look, then where
        problems = [Problem(job.location.path, job.location.line, f"job {job.name!r}: {field} {SENDS_A_CREDENTIAL}; remove it")
                    for job in manifest.jobs for field in credential_fields(job.body)]
        if problems:
            raise ManifestError(problems)
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


def credential_fields(body: dict[str, Any] | None) -> list[str]:
    """The fields of a job body that hold a registered secret, in any of its forms."""
    return [field for field, value in (body or {}).items() if holds_secret(json.dumps(value, ensure_ascii=False, default=str))]


def save_plan(path: str, plan: Plan, endpoint: str, project_id: str, options: PlanOptions) -> None:
    """Write the plan file atomically. It holds no credentials, only where and what: a plan that would is refused."""
    data: dict[str, Any] = {
        "kind": PLAN_FILE_KIND,
        **plan_to_dict(plan),
        "connection": {"endpoint": endpoint, "project_id": project_id},
        "options": {"targets": sorted(options.targets), "replace": sorted(options.replace), "prune": options.prune, "force": options.force},
    }
    if holds_secret(json.dumps(data, ensure_ascii=False)):
        held = [c["job_name"] for c in data["changes"] if holds_secret(json.dumps(c, ensure_ascii=False))]
        raise PlanError(f"the plan was not saved to {path}: it holds a credential vizctl knows (the value is not "
                        f"shown){' in ' + ', '.join(held) if held else ''}; a plan file never holds one")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vizctl-plan-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise VizctlError(f"cannot write the plan to {path}: {exc.strerror or exc}") from None


def load_plan(path: str) -> SavedPlan:
    """Read a plan file written by :func:`save_plan`."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise VizctlError(f"cannot read the plan file {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise StalePlanError(f"{path} is not a vizctl plan file (not JSON)") from None
    plan = plan_from_dict(data)
    try:
        opts = data["options"]
        options = PlanOptions(frozenset(opts["targets"]), frozenset(opts["replace"]), bool(opts["prune"]), bool(opts["force"]))
        return SavedPlan(plan, data["connection"]["endpoint"], data["connection"]["project_id"], options)
    except (KeyError, TypeError):
        raise StalePlanError(f"{path} is a damaged plan file") from None


def checked_prune(saved: SavedPlan, manifest: Manifest, snapshot: LiveSnapshot) -> Plan:
    """The saved plan with its deletes held to the prune rules again, against this read and the --force it was
    made with: what they refuse now (a plan file edited by hand, a scope that changed) is among its errors."""
    plan = saved.plan
    deletes = {change.job_id for change in plan.changes if change.action is Action.DELETE and change.job_id}
    if not deletes:
        return plan
    refusals = prune_refusals(manifest, snapshot, deletes, saved.options.force)
    return replace(plan, errors=tuple(dict.fromkeys([*plan.errors, *refusals])))


def check_fresh(saved: Plan, manifest: Manifest, snapshot: LiveSnapshot) -> None:
    """Refuse a saved plan whose manifests, or any live job it changes or reports on, changed since it was made.

    Apply reports the jobs a saved plan does not change from this read, so each
    of them must still be as planned; a starting job may have started since.
    """
    if manifest.digest != saved.manifest_digest:
        raise StalePlanError("plan is stale: the manifests changed since it was made; run `vizctl plan` again")
    held = [f"{c.job_name}'s {field}" for c in saved.changes for field in credential_fields(c.after)]
    if held:
        raise PlanError(f"the saved plan is refused: {', '.join(held)} {SENDS_A_CREDENTIAL}; nothing was sent")
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
