"""``vizctl plan``: show what apply would change, optionally save the plan for ``vizctl apply FILE``."""

from __future__ import annotations

import argparse

from vizctl.environment import Environment
from vizctl.errors import ExitStatus
from vizctl.session import connect, declared_manifest, plan_live, plan_options
from vizctl.wording import plural


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    from vizctl.planning.manager import check_plan_destination, save_plan
    from vizctl.planning.plan import Action
    from vizctl.planning.render import RENDERERS

    manifest = declared_manifest(args, env)
    if args.out:
        check_plan_destination(args.out, manifest.files)  # before any request: a refused --out sends nothing
    options = plan_options(args)
    with connect(args, env, args.parallelism) as target:
        plan, _ = plan_live(args, env, target, manifest, options)
        env.log(f"{target.client.calls['list']} list call(s), {target.client.calls['detail']} details call(s)")
    env.out(RENDERERS[args.output]().render(plan, verbose=env.verbosity > 0, colors=env.colors))
    if args.out:
        save_plan(args.out, plan, target.endpoint_label, target.project_id, options, manifest)
        again = "vizctl apply --sim" if args.sim else "vizctl apply"
        env.err(
            f"Saved the plan to {args.out}; apply it with: {again} {args.out} "
            f"(it holds no credentials: give apply the same endpoint, project and credentials again)"
        )
    problems = [*plan.errors, *(c.reason for c in plan.changes if c.action is Action.AMBIGUOUS)]
    if problems:
        for problem in problems if args.output != "text" else ():
            env.err(f"Error: {problem}")
        env.err(f"Error: the plan has {plural(len(problems), 'error')}; see above")
        return ExitStatus.ERROR
    if args.detailed_exitcode and plan.differs:
        return ExitStatus.CHANGES
    return ExitStatus.OK
