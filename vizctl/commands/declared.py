"""What ``wait`` and ``destroy`` start from: the declared jobs planned against one read of the live ones."""

from __future__ import annotations

import argparse
import contextlib
from typing import Iterator

from vizctl.session import Target, connect, declared_manifest, plan_live, plan_options, read_at
from vizctl.environment import Environment
from vizctl.model import LiveSnapshot
from vizctl.planning.plan import Plan
from vizctl.planning.planner import build_plan


@contextlib.contextmanager
def declared_plan(args: argparse.Namespace, env: Environment, details: bool = False) -> Iterator[tuple[Target, LiveSnapshot, Plan]]:
    """Connect, list the live jobs once and plan the declared jobs; the plan says where it was read, as apply's does.

    With ``details`` the plan is plan's own (the details of a job whose declared fields the list does not
    show are read, through the details cache); without, only the list is read: status is all that matters.
    """
    manifest = declared_manifest(args, env)
    with connect(args, env, args.parallelism) as target:
        if details:
            plan, live = plan_live(args, env, target, manifest)
        else:
            live = target.client.list_all()
            plan = read_at(build_plan(manifest, live, {}, plan_options(args)), target)
        yield target, live, plan
