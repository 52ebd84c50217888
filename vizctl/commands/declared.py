"""What ``wait`` and ``destroy`` start from: the declared jobs planned against one read of the live ones."""

from __future__ import annotations

import argparse
import contextlib
from typing import Iterator

from vizctl.cli import Target, _read_at, connect, declared_manifest, plan_options
from vizctl.environment import Environment
from vizctl.model import LiveSnapshot
from vizctl.plan import Plan
from vizctl.planner import build_plan


@contextlib.contextmanager
def declared_plan(args: argparse.Namespace, env: Environment) -> Iterator[tuple[Target, LiveSnapshot, Plan]]:
    """Connect, list the live jobs once and plan the declared jobs (no details calls: only status matters
    here); the plan says where it was read, as apply's does."""
    manifest = declared_manifest(args, env)
    with connect(args, env, args.parallelism) as target:
        live = target.client.list_all()
        yield target, live, _read_at(build_plan(manifest, live, {}, plan_options(args)), target)
