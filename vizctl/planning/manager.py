"""The I/O around planning: read the live jobs, build the plan, save it, check a saved one.

The planning itself is pure (:mod:`vizctl.planning.planner`); this module is where it
meets the API and the file system. A manifest or saved plan that would send a
credential vizctl knows (see :mod:`vizctl.redact`) is refused before any
request, and a plan holding one is never saved.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from vizctl.api.client import ModelArtsClient
from vizctl.planning.details_cache import DetailsCache
from vizctl.errors import ManifestError, OutputError, PlanError, Problem, StalePlanError, UsageError, VizctlError
from vizctl.fileio import write_atomically
from vizctl.manifests.loader import MANIFEST_SUFFIXES, STDIN
from vizctl.model import LiveJob, LiveSnapshot, Manifest, Phase
from vizctl.planning.plan import PLAN_FILE_KIND, Action, Plan, fingerprint, plan_field, plan_from_dict, plan_strings, plan_to_dict
from vizctl.planning.planner import PlanOptions, build_plan, details_needed, prune_refusals
from vizctl.redact import holds_secret

SENDS_A_CREDENTIAL = ("holds a credential vizctl knows (the value is not shown): the API keeps job values and shows "
                      "them to everyone who can list jobs")


MAX_PLAN_BYTES = 256 * 2**20  # a file larger than this is not taken for a plan to overwrite (10,000 jobs: about 20 MB)


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from ``plan --out``, with what it was made against."""

    plan: Plan
    endpoint: str
    project_id: str
    options: PlanOptions
    variables: dict[str, str] = field(default_factory=dict)  # ${VAR} name -> fingerprint of its value


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
    if cache is not None:
        client.list_memory = cache.lists  # the list's page count, remembered beside the details: one round trip
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


def save_plan(path: str, plan: Plan, endpoint: str, project_id: str, options: PlanOptions, manifest: Manifest | None = None) -> None:
    """Write the plan file atomically. It holds no credentials, only where and what, and a short fingerprint
    of each ``${VAR}`` value the manifests read (never the value), to name the one that changed. A plan that
    would hold a credential is refused."""
    data: dict[str, Any] = {
        "kind": PLAN_FILE_KIND,
        **plan_to_dict(plan),
        "connection": {"endpoint": endpoint, "project_id": project_id},
        "options": {"targets": sorted(options.targets), "replace": sorted(options.replace), "prune": options.prune, "force": options.force},
    }
    if manifest is not None and manifest.variables:  # only then: a plan file of manifests without variables is as before
        data["variables"] = variable_fingerprints(manifest)
    if holds_secret(json.dumps(data, ensure_ascii=False)):
        held = [c["job_name"] for c in data["changes"] if holds_secret(json.dumps(c, ensure_ascii=False))]
        raise PlanError(f"the plan was not saved to {path}: it holds a credential vizctl knows (the value is not "
                        f"shown){' in ' + ', '.join(held) if held else ''}; a plan file never holds one")
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
        variables = plan_field(data, "variables", dict, default={})
        variables = {name: plan_field(variables, name, str, "variables.") for name in variables}
        endpoint, project_id = plan_field(connection, "endpoint", str, "connection."), plan_field(connection, "project_id", str, "connection.")
        return SavedPlan(plan, endpoint, project_id, saved, variables)
    except StalePlanError as error:
        raise StalePlanError(f"{path}: {error}") from None


def checked_prune(saved: SavedPlan, manifest: Manifest, snapshot: LiveSnapshot) -> Plan:
    """The saved plan with its deletes held to the prune rules again, against this read and the --force it was
    made with: what they refuse now (a plan file edited by hand, a scope that changed) is among its errors."""
    plan = saved.plan
    deletes = {change.job_id for change in plan.changes if change.action is Action.DELETE and change.job_id}
    if not deletes:
        return plan
    refusals = prune_refusals(manifest, snapshot, deletes, saved.options.force)
    return replace(plan, errors=tuple(dict.fromkeys([*plan.errors, *refusals])))


def variable_fingerprints(manifest: Manifest) -> dict[str, str]:
    """Each ``${VAR}`` the manifests read -> 6 hex digits of a hash of its value ("unset" when it was): enough to
    tell that it changed, too short to find a secret value by."""
    return {
        name: "unset" if value is None else hashlib.sha256(f"{name}={value}".encode("utf-8", "surrogateescape")).hexdigest()[:6]
        for name, value in manifest.variables
    }


def check_fresh(saved: Plan, manifest: Manifest, snapshot: LiveSnapshot, variables: dict[str, str] | None = None) -> None:
    """Refuse a saved plan whose manifests, or any live job it changes or reports on, changed since it was made.

    A changed ``${VAR}`` is named (``variables``: the plan file's fingerprints), never its value. Apply reports
    the jobs a saved plan does not change from this read, so each of them must still be as planned; a starting
    job may have started since.
    """
    if manifest.digest != saved.manifest_digest:
        now = variable_fingerprints(manifest)
        if variables is not None and variables.keys() == now.keys():  # other variables read: the files changed
            changed = sorted(name for name in now if variables[name] != now[name])
            if changed:
                names = ", ".join(f"${{{name}}}" for name in changed)
                raise StalePlanError(
                    f"plan is stale: {'the value of' if len(changed) == 1 else 'the values of'} {names} changed since it was made"
                    " (values are not shown); run `vizctl plan` again"
                )
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
