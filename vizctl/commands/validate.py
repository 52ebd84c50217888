"""``vizctl validate``: check manifests offline; sends nothing."""

from __future__ import annotations

import argparse

from vizctl.environment import Environment
from vizctl.errors import ExitStatus
from vizctl.session import declared_manifest
from vizctl.wording import plural


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    manifest = declared_manifest(args, env)
    files = len(manifest.files)
    env.out(f"Valid: {plural(len(manifest.jobs), 'job')} in {plural(files, 'file')}.")
    return ExitStatus.OK
