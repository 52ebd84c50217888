"""``vizctl apply``: carry out a fresh plan (after a confirmation) or a saved one, and wait for the jobs to run."""

from __future__ import annotations

import argparse
import os

from vizctl.applying.run import carry_out, confirm, reporter_for, show_plan
from vizctl.environment import Environment
from vizctl.errors import ExitStatus, PlanError, UsageError
from vizctl.session import connect, declared_manifest, plan_live, read_at


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    from vizctl.applying.machine import ApplySettings
    from vizctl.planning.manager import check_fresh, checked_prune, load_plan

    plan_file = _saved_plan_argument(args.paths)
    saved = load_plan(plan_file) if plan_file else None
    if saved is not None:
        if args.target or args.replace or args.prune or args.force:
            raise UsageError("a saved plan is applied as it is: --target, --replace, --prune and --force belong to `vizctl plan`")
        args.paths = []
        args.files = args.files or list(saved.plan.manifest_files)
    manifest = declared_manifest(args, env)
    reporter = reporter_for(args, env)
    with connect(args, env, args.parallelism) as target:
        if saved is not None:
            if (saved.endpoint, saved.project_id) != (target.endpoint_label, target.project_id):
                raise PlanError(
                    f"the plan was made for {saved.endpoint} project {saved.project_id}, "
                    f"not {target.endpoint_label} project {target.project_id}"
                )
            live = target.client.list_all()
            check_fresh(saved.plan, manifest, live, saved.variables)
            plan = read_at(checked_prune(saved, manifest, live), target)
        else:
            plan, live = plan_live(args, env, target, manifest)
        show_plan(plan, env, reporter)
        if plan.errors:
            raise PlanError("the plan has errors (above); nothing was changed")
        if saved is None and plan.has_changes and not args.auto_approve:
            confirm(env, "Apply these changes?", target.client, "pass --auto-approve (-y), or apply a plan saved with `vizctl plan --out FILE`")
        settings = ApplySettings(parallelism=args.parallelism, timeout=args.timeout, wait=not args.no_wait, list_lag=args.list_lag)
        return carry_out(target, plan, live, reporter, settings, env)


def _saved_plan_argument(paths: list[str]) -> str | None:
    """The plan file among apply's arguments: one existing file that is not a manifest."""
    if len(paths) != 1 or not os.path.isfile(paths[0]) or paths[0].lower().endswith((".yaml", ".yml")):
        return None
    return paths[0]
