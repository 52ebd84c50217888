"""What a plan is: one :class:`Change` per declared job (and per job to prune), plus
unmanaged jobs, errors and warnings; and its stable, versioned JSON form.

The JSON form (``plan_to_dict``) is both ``plan --output json`` and the saved
plan file of ``plan --out``; ``docs/plan-json.md`` documents it.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

from vizctl import __version__
from vizctl.errors import StalePlanError
from vizctl.model import LiveJob, Location, status_name

FORMAT_VERSION = "2.0"  # 2.0: actions `drifted` and `keep-stopped`, `connection`, `in_prune_scope`
READABLE_MAJORS = ("1", "2")  # a 1.x file reads as 2.0: its no-op with unfixed drift becomes `drifted`
PLAN_FILE_KIND = "vizctl-plan"


class Action(str, enum.Enum):
    """What apply will do about one job."""

    CREATE = "create"
    UPDATE = "update"  # job_desc, in place (PUT)
    REPLACE = "replace"  # delete, wait for the name to go, create
    RESTART = "restart"  # a stopped job (update first when job_desc drifted)
    DELETE = "delete"  # prune: an undeclared job inside a declared prune scope
    NOOP = "no-op"  # running and as declared
    KEEP_STOPPED = "keep-stopped"  # stopped, and its manifest lets it stay stopped (restart_stopped: false)
    WAIT = "wait"  # exists but still starting: nothing to send, not converged yet
    DRIFTED = "drifted"  # differs in a field apply cannot change in place, no replace asked: not converged
    FAILED = "failed"  # in a failed status; recreated only when asked
    AMBIGUOUS = "ambiguous"  # several live jobs share the name: vizctl touches none

    @property
    def is_change(self) -> bool:
        return self in _CHANGES


_CHANGES = {Action.CREATE, Action.UPDATE, Action.REPLACE, Action.RESTART, Action.DELETE}
_PROBLEMS = {Action.DRIFTED, Action.FAILED, Action.AMBIGUOUS}
AS_DECLARED = (Action.NOOP, Action.KEEP_STOPPED)
SUMMARY_ACTIONS = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.RESTART)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: dotted path, live value, declared value and how apply fixes it."""

    path: str
    before: Any
    after: Any
    fix: str  # "in-place", "replace" or "none"


@dataclass(frozen=True)
class Change:
    """The plan for one job."""

    job_name: str
    action: Action
    reason: str
    after: dict[str, Any] | None = None  # the create body, for jobs that are declared
    before: dict[str, Any] | None = None  # the live fields compared
    diff: tuple[FieldChange, ...] = ()
    job_id: str | None = None
    status: int | None = None
    location: Location | None = None
    live_ids: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # warnings about this job: drift apply will not fix, ...
    fingerprint: str = ""  # of the live jobs with this name, for stale-plan checks

    @property
    def status_name(self) -> str | None:
        return None if self.status is None else status_name(self.status)

    @property
    def is_problem(self) -> bool:
        """The job differs from its declaration and apply will not fix it."""
        return self.action in _PROBLEMS or bool(self.notes)


@dataclass(frozen=True)
class Plan:
    """Everything ``plan`` found; ``apply`` carries out the changes."""

    changes: tuple[Change, ...]
    unmanaged: tuple[LiveJob, ...] = ()
    errors: tuple[str, ...] = ()  # block apply altogether (quota, refused prune, ...)
    warnings: tuple[str, ...] = ()
    job_count_limit: int | None = None
    quotas: int | None = None
    manifest_digest: str = ""
    manifest_files: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    prunable: tuple[str, ...] = ()  # ids of unmanaged jobs inside a prune scope, when not pruning
    endpoint: str = ""  # where the live jobs were read: the endpoint URL, or "sim"
    project_id: str = ""

    def counts(self) -> dict[str, int]:
        out = {action.value: 0 for action in Action}
        for change in self.changes:
            out[change.action.value] += 1
        return out

    @property
    def has_changes(self) -> bool:
        return any(change.action.is_change for change in self.changes)

    @property
    def converged(self) -> bool:
        """Nothing to do and every declared job as declared: running, or stopped where allowed."""
        return all(change.action in AS_DECLARED and not change.notes for change in self.changes)

    @property
    def differs(self) -> bool:
        """Something to send, or a declared job apply leaves unlike its declaration (``--detailed-exitcode`` 2)."""
        return self.has_changes or any(change.is_problem for change in self.changes)

    def summary_line(self) -> str:
        counts = self.counts()
        parts = [f"{counts[a.value]} to {a.value}" for a in SUMMARY_ACTIONS]
        if counts[Action.DELETE.value]:
            parts.append(f"{counts[Action.DELETE.value]} to delete")
        return "Plan: " + ", ".join(parts) + "."


def fingerprint(jobs: Iterable[LiveJob]) -> str:
    """A short digest of what matters about live jobs for a saved plan to still hold."""
    rows = sorted((j.job_id, j.status, j.job_desc, j.train_url) for j in jobs)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The documented JSON form of a plan (``format_version`` 2.0)."""
    return {
        "format_version": FORMAT_VERSION,
        "vizctl_version": __version__,
        "summary": {**plan.counts(), "has_changes": plan.has_changes, "converged": plan.converged},
        "changes": [_change_to_dict(c) for c in plan.changes],
        "unmanaged": [_unmanaged_to_dict(j, plan.prunable) for j in plan.unmanaged],
        "errors": list(plan.errors),
        "warnings": list(plan.warnings),
        "quota": {"job_count_limit": plan.job_count_limit, "quotas": plan.quotas},
        "targets": list(plan.targets),
        "manifests": {"files": list(plan.manifest_files), "digest": plan.manifest_digest},
        "connection": {"endpoint": plan.endpoint or None, "project_id": plan.project_id or None},
    }


def _unmanaged_to_dict(job: LiveJob, prunable: tuple[str, ...]) -> dict[str, Any]:
    return {
        "job_name": job.job_name,
        "job_id": job.job_id,
        "status": job.status,
        "status_name": job.status_name,
        "in_prune_scope": job.job_id in prunable,
    }


def _change_to_dict(change: Change) -> dict[str, Any]:
    return {
        "job_name": change.job_name,
        "action": change.action.value,
        "reason": change.reason,
        "job_id": change.job_id,
        "status": change.status,
        "status_name": change.status_name,
        "before": change.before,
        "after": change.after,
        "diff": [{"path": d.path, "before": d.before, "after": d.after, "fix": d.fix} for d in change.diff],
        "location": None if change.location is None else str(change.location),
        "live_ids": list(change.live_ids),
        "notes": list(change.notes),
        "fingerprint": change.fingerprint,
    }


def plan_from_dict(data: Any) -> Plan:
    """Read back a saved plan; refuses a format this vizctl does not know, and a damaged file by the field that is wrong."""
    if not isinstance(data, dict) or data.get("kind") != PLAN_FILE_KIND:
        raise StalePlanError("not a vizctl plan file")
    version = str(data.get("format_version", ""))
    major = version.split(".")[0]
    if major not in READABLE_MAJORS:
        readable = ", ".join(f"{m}.x" for m in READABLE_MAJORS)
        raise StalePlanError(f"plan file format {version or '?'} is not supported by vizctl {__version__} (it reads {readable})")
    quota = plan_field(data, "quota", dict, default={})
    manifests = plan_field(data, "manifests", dict)
    connection = plan_field(data, "connection", dict, default={})
    unmanaged = [_object(j, f"unmanaged[{i}]") for i, j in enumerate(plan_field(data, "unmanaged", list, default=[]))]
    return Plan(
        changes=tuple(_change(_object(c, f"changes[{i}]"), major, f"changes[{i}].") for i, c in enumerate(plan_field(data, "changes", list))),
        errors=plan_strings(data, "errors"),
        warnings=plan_strings(data, "warnings"),
        job_count_limit=plan_field(quota, "job_count_limit", int, "quota.", None),
        quotas=plan_field(quota, "quotas", int, "quota.", None),
        manifest_digest=plan_field(manifests, "digest", str, "manifests."),
        manifest_files=plan_strings(manifests, "files", "manifests.", required=True),
        targets=plan_strings(data, "targets"),
        unmanaged=tuple(
            LiveJob(plan_field(j, "job_id", str, w), plan_field(j, "job_name", str, w), plan_field(j, "status", int, w))
            for j, w in ((j, f"unmanaged[{i}].") for i, j in enumerate(unmanaged))
        ),
        prunable=tuple(j["job_id"] for i, j in enumerate(unmanaged) if plan_field(j, "in_prune_scope", bool, f"unmanaged[{i}].", False)),
        endpoint=plan_field(connection, "endpoint", str, "connection.", ""),
        project_id=plan_field(connection, "project_id", str, "connection.", ""),
    )


def _change(c: dict[str, Any], major: str, where: str) -> Change:
    diff = [_object(d, f"{where}diff[{i}]") for i, d in enumerate(plan_field(c, "diff", list, where, []))]
    return Change(
        job_name=plan_field(c, "job_name", str, where),
        action=_action(c, major, where),
        reason=plan_field(c, "reason", str, where),
        after=plan_field(c, "after", dict, where, None),
        before=plan_field(c, "before", dict, where, None),
        diff=tuple(
            FieldChange(plan_field(d, "path", str, w), d.get("before"), d.get("after"), plan_field(d, "fix", str, w))
            for d, w in ((d, f"{where}diff[{i}].") for i, d in enumerate(diff))
        ),
        job_id=plan_field(c, "job_id", str, where, None),
        status=plan_field(c, "status", int, where, None),
        location=_location(plan_field(c, "location", str, where, ""), where),
        live_ids=plan_strings(c, "live_ids", where),
        notes=plan_strings(c, "notes", where),
        fingerprint=plan_field(c, "fingerprint", str, where, ""),
    )


_REQUIRED: Any = object()
_KINDS = {str: "a string", int: "an integer", bool: "true or false", dict: "an object", list: "a list"}


def plan_field(data: dict[str, Any], key: str, kind: type, where: str = "", default: Any = _REQUIRED) -> Any:
    """``data[key]`` when it is a ``kind`` (an absent or null field is ``default``, unless it is required)."""
    value = data.get(key)
    if value is None:
        if default is _REQUIRED:
            raise _damaged(f"{where}{key} is {'null' if key in data else 'missing'}")
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _damaged(f"{where}{key} must be {_KINDS[kind]} (got {_json_kind(value)})")
    return value


def plan_strings(data: dict[str, Any], key: str, where: str = "", required: bool = False) -> tuple[str, ...]:
    """``data[key]`` when it is a list of strings (absent or null: none, unless ``required``)."""
    values = plan_field(data, key, list, where, _REQUIRED if required else [])
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise _damaged(f"{where}{key}[{i}] must be a string (got {_json_kind(value)})")
    return tuple(values)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _damaged(f"{where} must be an object (got {_json_kind(value)})")
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}" if abs(value) < 1e15 else "a number"
    for kind, name in _KINDS.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _damaged(what: str) -> StalePlanError:
    return StalePlanError(f"the plan file is damaged: {what}")


def _action(change: dict[str, Any], major: str, where: str) -> Action:
    """A change's action; format 1 called a running job with unfixed drift ``no-op``."""
    name = plan_field(change, "action", str, where)
    try:
        action = Action(name)
    except ValueError:
        raise _damaged(f"{where}action {name[:40]!r} is not one vizctl knows") from None
    if major == "1" and action is Action.NOOP and any(isinstance(d, dict) and d.get("fix") == "replace" for d in change.get("diff") or ()):
        return Action.DRIFTED
    return action


def _location(text: str, where: str) -> Location | None:
    if not text:
        return None
    path, _, line = text.rpartition(":")
    if not (path and line.isascii() and line.isdigit()):
        raise _damaged(f"{where}location {text[:80]!r} is not PATH:LINE")
    return Location(path, int(line))
