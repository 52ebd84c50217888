"""``vizctl version``: print vizctl's version."""

from __future__ import annotations

import argparse

from vizctl import __version__
from vizctl.environment import Environment
from vizctl.errors import ExitStatus


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    env.out(f"vizctl {__version__}")
    return ExitStatus.OK
