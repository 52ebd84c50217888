"""``vizctl schema``: print the manifest JSON Schema (for editors and other tools)."""

from __future__ import annotations

import argparse

from vizctl.environment import Environment
from vizctl.errors import ExitStatus
from vizctl.manifests.resources import manifest_schema_text


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    env.out(manifest_schema_text(), end="")
    return ExitStatus.OK
