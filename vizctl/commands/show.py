"""``vizctl show PLANFILE``: render a plan saved with ``vizctl plan --out``, in any output format."""

from __future__ import annotations

import argparse

from vizctl.environment import Environment
from vizctl.errors import ExitStatus
from vizctl.planning.manager import load_plan
from vizctl.planning.render import RENDERERS


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    saved = load_plan(args.plan_file)
    env.log(f"plan made for {saved.endpoint} project {saved.project_id}")
    env.out(RENDERERS[args.output]().render(saved.plan, verbose=env.verbosity > 0, colors=env.colors))
    return ExitStatus.OK
