"""Planning: pure functions from (manifests, live snapshot, details, options) to a Plan.

No I/O here. The manager reads the live jobs, asks :func:`details_needed` which
jobs need a details call, and hands everything to :func:`build_plan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Mapping

from vizctl.model import LISTED_FIELDS, JobSpec, LiveJob, LiveSnapshot, Manifest, Phase, PruneScope, job_id_order
from vizctl.planning.plan import Action, Change, FieldChange, Plan, fingerprint
from vizctl.wording import plural

DETAIL_FIELDS = ("job_type", "flavor", "schedule")  # not in the list answer
IN_PLACE_FIELDS = ("job_desc",)  # the only field the API updates
PRUNE_MAX_PERCENT = 30  # of a scope's live jobs, deleted at once without --force ...
PRUNE_MIN_SCOPE = 10  # ... in a scope of at least this many live jobs


@dataclass(frozen=True)
class PlanOptions:
    """What the user asked for on the command line."""

    targets: frozenset[str] = frozenset()
    replace: frozenset[str] = frozenset()
    prune: bool = False
    force: bool = False


def details_needed(manifest: Manifest, snapshot: LiveSnapshot, options: PlanOptions) -> list[str]:
    """Ids of the live jobs whose declared fields the list does not return (or did not, this time)."""
    live = snapshot.by_name()
    ids = []
    for spec in _in_scope(manifest, options):
        matches = live.get(spec.name, [])
        if len(matches) == 1 and (any(key in spec.body for key in DETAIL_FIELDS) or _unlisted_desc(spec, matches[0])):
            ids.append(matches[0].job_id)
    return ids


def build_plan(
    manifest: Manifest,
    snapshot: LiveSnapshot,
    details: Mapping[str, LiveJob] | None = None,
    options: PlanOptions = PlanOptions(),
) -> Plan:
    """The plan that converges the live jobs to the manifests."""
    details = details or {}
    live = snapshot.by_name()
    declared = {spec.name for spec in manifest.jobs}
    errors: list[str] = []
    warnings: list[str] = []

    unknown = sorted(options.targets - declared)
    if unknown:
        errors.append("--target names jobs no manifest declares: " + ", ".join(unknown))
    if options.targets:
        warnings.append("Plan limited to --target " + ", ".join(sorted(options.targets)) + ": other jobs are not looked at")
    unknown_replace = sorted(options.replace - declared)
    if unknown_replace:
        errors.append("--replace names jobs no manifest declares: " + ", ".join(unknown_replace))

    changes = [
        _plan_job(spec, live.get(spec.name, []), details, options)
        for spec in _in_scope(manifest, options)
    ]
    unmanaged = tuple(job for job in snapshot.jobs if job.job_name not in declared)

    creates = sum(1 for c in changes if c.action is Action.CREATE)
    if snapshot.job_count_limit is not None and creates > snapshot.job_count_limit:
        errors.append(
            f"quota: {plural(creates, 'job')} to create but the project may create only {snapshot.job_count_limit} more"
            + (f" (quota {snapshot.quotas})" if snapshot.quotas is not None else "")
        )

    scopes = manifest.prune_scopes
    in_scope = [job for job in unmanaged if any(s.matches(job.job_name) for s in scopes)] if scopes else []
    prunable = tuple(job.job_id for job in in_scope)  # named by the plan, as what --prune would delete
    if options.prune and options.targets:
        warnings.append("--prune is ignored with --target")
    elif options.prune:
        deletes, prune_errors = _plan_prune(manifest, snapshot, in_scope, options)
        changes += deletes
        errors += prune_errors
        prunable = ()
        unmanaged = tuple(job for job in unmanaged if job.job_id not in {c.job_id for c in deletes})

    return Plan(
        changes=tuple(changes),
        unmanaged=unmanaged,
        errors=tuple(errors),
        warnings=tuple(warnings),
        job_count_limit=snapshot.job_count_limit,
        quotas=snapshot.quotas,
        manifest_digest=manifest.digest,
        manifest_files=manifest.files,
        targets=tuple(sorted(options.targets)),
        prunable=prunable,
    )


def _in_scope(manifest: Manifest, options: PlanOptions) -> list[JobSpec]:
    return [spec for spec in manifest.jobs if not options.targets or spec.name in options.targets]


def _plan_job(spec: JobSpec, matches: list[LiveJob], details: Mapping[str, LiveJob], options: PlanOptions) -> Change:
    common = {"job_name": spec.name, "after": spec.body, "location": spec.location, "fingerprint": fingerprint(matches)}
    if not matches:
        return Change(action=Action.CREATE, reason="not found in the live project", **common)
    if len(matches) > 1:
        ids = tuple(sorted((j.job_id for j in matches), key=job_id_order))
        return Change(
            action=Action.AMBIGUOUS,
            reason=f"{len(matches)} live jobs are named {spec.name} (ids {', '.join(ids)}): "
            "vizctl will neither pick one nor add another; delete the extra ones",
            live_ids=ids,
            **common,
        )

    job = matches[0]
    phase = job.phase
    before = live_fields(job, details.get(job.job_id))
    diff = _diff(before, spec.body)
    common |= {"before": before, "diff": diff, "job_id": job.job_id, "status": job.status}
    needs_replace = [d.path for d in diff if d.fix == "replace"]
    desc_drift = any(d.fix == "in-place" for d in diff)
    notes: list[str] = []

    if spec.name in options.replace:
        action, reason = Action.REPLACE, "replacement requested with --replace"
    elif phase is Phase.FAILED and spec.recreate_failed:
        action, reason = Action.REPLACE, f"job is {job.status_name} and recreate_failed is set"
    elif needs_replace and spec.replace_on_drift:
        action, reason = Action.REPLACE, f"{', '.join(needs_replace)} changed and replace_on_drift is set"
    elif phase is Phase.FAILED:
        action, reason = Action.FAILED, f"job is {job.status_name}"
        notes.append(f"apply will not fix it: recreate it with --replace {spec.name} or recreate_failed: true")
    elif needs_replace:  # restarting, updating or waiting for it would still leave it unlike its declaration
        action, reason = Action.DRIFTED, f"{', '.join(needs_replace)} differs from the manifest"
    elif phase in (Phase.STOPPED, Phase.STOPPING) and not spec.restart_stopped and not desc_drift:
        action, reason = Action.KEEP_STOPPED, f"job is {job.status_name}; restart_stopped: false lets it stay stopped"
    elif phase in (Phase.STOPPED, Phase.STOPPING):
        action = Action.RESTART
        reason = f"job is {job.status_name}" + (" and job_desc changed" if desc_drift else "")
    elif desc_drift:
        action, reason = Action.UPDATE, "job_desc changed"
    elif phase is Phase.PENDING:
        action, reason = Action.WAIT, f"job is {job.status_name}: not running yet; apply waits for it"
    else:
        action, reason = Action.NOOP, "running and as declared"

    if needs_replace and action is not Action.REPLACE:
        notes.append(f"{', '.join(needs_replace)} cannot be changed in place: use --replace {spec.name} or replace_on_drift: true")
    return Change(action=action, reason=reason, notes=tuple(notes), **common)


def _unlisted_desc(spec: JobSpec, job: LiveJob) -> bool:
    """Does ``spec`` declare a job_desc that the list left out for ``job`` (only the details can tell it)?"""
    return "job_desc" in spec.body and job.job_desc is None


def live_fields(job: LiveJob, detail: LiveJob | None) -> dict[str, Any]:
    """The live values vizctl can compare: listed fields, plus detail fields the API returned.

    A job_desc the list left out comes from the details; if they leave it out too it is empty (a
    server may omit empty fields); without details it is unknown, so not shown and never drift.
    """
    fields: dict[str, Any] = {name: getattr(job, name) for name in LISTED_FIELDS}
    if fields["job_desc"] is None:
        if detail is None:
            del fields["job_desc"]
        else:
            fields["job_desc"] = detail.job_desc or ""
    if detail is not None:
        for name in DETAIL_FIELDS:
            value = detail.extra.get(name)
            if name == "schedule":
                value = _live_schedule(value)
            if value not in (None, ""):
                fields[name] = value
    return fields


def _live_schedule(value: Any) -> Any:
    """A live schedule in the manifest's terms: the documents also show a one-element list, and
    numbers as strings (the create sample), so ``[{"duration": "2", ...}]`` is ``{"duration": 2, ...}``."""
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if isinstance(value, dict) and isinstance(value.get("duration"), str) and value["duration"].strip().isdigit():
        value = {**value, "duration": int(value["duration"])}
    return value


def _diff(before: dict[str, Any], body: dict[str, Any]) -> tuple[FieldChange, ...]:
    """Declared fields that differ from the live ones; a field the API did not return never drifts.

    Equal fields (nearly all of them, in a plan) are recognised without building a
    diff, and a differing plain value explains itself; deepdiff, imported only
    then, explains the maps and lists that differ (flavor, schedule).
    """
    live: dict[str, Any] = {}  # the live value of each declared field that differs
    for k, v in body.items():
        if k != "job_name" and k in before:
            value = _subset(before[k], v)
            if not _same(value, v):
                live[k] = value
    if not live:
        return ()
    nested = [k for k in live if _nested(live[k], body[k])]
    out = [FieldChange(k, live[k], body[k], _fix(k)) for k in live if k not in nested]
    if not nested:
        return tuple(sorted(out, key=lambda d: d.path))
    from deepdiff import DeepDiff  # noqa: PLC0415 - slow to import; only a map or list that differs needs it

    tree = DeepDiff({k: live[k] for k in nested}, {k: body[k] for k in nested}, view="tree", ignore_order=True)
    for report_type, report in tree.items():
        for level in report:
            path = ".".join(str(p) for p in level.path(output_format="list"))
            field = path.split(".", 1)[0]
            # "..._added": no live value; "..._removed": nothing declared (deepdiff's documented report types)
            before_value = None if report_type.endswith("_added") else level.t1
            after_value = None if report_type.endswith("_removed") else level.t2
            out.append(FieldChange(path, before_value, after_value, _fix(field)))
    return tuple(sorted(out, key=lambda d: d.path))


def _fix(field: str) -> str:
    return "in-place" if field in IN_PLACE_FIELDS else "replace"


def _nested(live_value: Any, declared_value: Any) -> bool:
    """Do two differing values need a deep diff to explain (a map or list on either side)?"""
    return isinstance(live_value, (dict, list)) or isinstance(declared_value, (dict, list))


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types, all the way down: where this says yes, deepdiff finds nothing either.

    Stricter than ``==`` (``4 == 4.0`` and ``1 == True`` are differences to deepdiff);
    a list in another order is left to deepdiff, which ignores order.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _subset(live_value: Any, declared_value: Any) -> Any:
    """Only the declared keys of a live map (a live flavor may carry more than the code)."""
    if isinstance(live_value, dict) and isinstance(declared_value, dict):
        return {k: live_value.get(k) for k in declared_value}
    return live_value


def _plan_prune(manifest: Manifest, snapshot: LiveSnapshot, doomed: list[LiveJob], options: PlanOptions) -> tuple[list[Change], list[str]]:
    """Deletes for the undeclared live jobs inside a declared prune scope; each scope's safety limits checked on its own."""
    if not manifest.prune_scopes:
        return [], ["--prune given, but no manifest declares a prune scope (prune: {prefix: ...})"]
    errors = prune_refusals(manifest, snapshot, {job.job_id for job in doomed}, options.force)
    deletes = [
        Change(
            job_name=job.job_name,
            action=Action.DELETE,
            reason="not declared, inside the prune scope",
            before=live_fields(job, None),
            job_id=job.job_id,
            status=job.status,
            fingerprint=fingerprint([job]),
        )
        for job in doomed
    ]
    return deletes, errors


def prune_refusals(manifest: Manifest, snapshot: LiveSnapshot, job_ids: Collection[str], force: bool) -> list[str]:
    """Why deleting the live jobs ``job_ids`` is not a prune ``manifest`` allows (empty: it is): a job declared
    or outside every prune scope, or a scope's safety limits passed, each scope on its own."""
    declared = {spec.name for spec in manifest.jobs}
    doomed = [job for job in snapshot.jobs if job.job_id in job_ids]
    outside = sorted(job.job_name for job in doomed if job.job_name in declared or not any(s.matches(job.job_name) for s in manifest.prune_scopes))
    errors = [f"prune would delete jobs that are declared or outside every prune scope: {', '.join(outside)}"] if outside else []
    return errors + [e for scope in manifest.prune_scopes if (e := _prune_refusal(scope, snapshot.jobs, doomed, force))]


def _prune_refusal(scope: PruneScope, live: tuple[LiveJob, ...], doomed: list[LiveJob], force: bool) -> str | None:
    """Why a prune may not delete ``doomed``'s share of one scope, or None when it may.

    All of a scope only when its own file says ``jobs: []`` and with --force; more
    than PRUNE_MAX_PERCENT of a scope of PRUNE_MIN_SCOPE or more only with --force.
    """
    in_scope = sum(1 for job in live if scope.matches(job.job_name))
    going = sum(1 for job in doomed if scope.matches(job.job_name))
    where = f"({scope.describe()}, {scope.location})"
    if going and going == in_scope and not (scope.may_empty and force):
        return (
            f"prune would delete all {going} live jobs in scope {where}; "
            "refused unless the scope's own file says `jobs: []` and --force is given"
        )
    if in_scope >= PRUNE_MIN_SCOPE and going * 100 > PRUNE_MAX_PERCENT * in_scope and not force:
        return (
            f"prune would delete {going} of {in_scope} live jobs in scope {where}, "
            f"more than {PRUNE_MAX_PERCENT}%; refused without --force"
        )
    return None
