"""The ``vizctl`` command line: parse the arguments (:mod:`vizctl.cli_parser`), run the command's module
(:data:`vizctl.cli_parser.COMMANDS`), and turn errors into exit codes in one place (:func:`exit_status_for`).

How to read the tree: cli -> commands/ (one module per command) -> session (manifests and the API target every
command starts from) -> planning/ and applying/ -> api/; manifests/ loads and checks the YAML; sim/ is the simulator.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Sequence

# Only what the parser needs is imported here: `vizctl --help`, `--version`,
# `schema` and `completion` must start fast. Each command imports the rest.
from vizctl.cli_parser import build_parser, hoist_global_flags
from vizctl.environment import Environment
from vizctl.errors import ExitStatus, OutputError, VizctlError


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run vizctl; returns the exit status instead of raising."""
    env = env or Environment()
    try:
        parser = build_parser()
        args = parser.parse_args(hoist_global_flags(list(sys.argv[1:] if argv is None else argv), parser))
        env.verbosity = getattr(args, "verbose", 0)
        env.colors = _use_colors(args, env)
        status = args.run(args, env)
        # apply, wait and destroy: the exit code is the jobs' outcome. A reader that closed the pipe (| head) or an
        # outcome that fails already keeps it, the lost output said; output lost otherwise (a full disk) is an error.
        env.check_output(notice_only=args.command in OUTCOME_COMMANDS and (env.reader_left() or status != ExitStatus.OK))
        return int(status)
    except VizctlError as error:
        env.err(error.report())
        return int(exit_status_for(error))
    except KeyboardInterrupt:
        env.err("Interrupted.")
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:  # a write outside the Environment (argparse's help) to a closed pipe
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        error = OutputError("the output could not be written in full (standard output: Broken pipe)")
        env.err(error.report())
        return int(exit_status_for(error))


OUTCOME_COMMANDS = ("apply", "wait", "destroy")  # their exit code tells how the jobs ended, output or not


def exit_status_for(error: VizctlError) -> ExitStatus:
    """The exit code of an error: the one place this mapping lives."""
    return error.exit_status


def _use_colors(args: argparse.Namespace, env: Environment) -> bool:
    if getattr(args, "no_color", False) or env.getenv("NO_COLOR") is not None or env.getenv("TERM") == "dumb":
        return False
    return bool(env.stdout_isatty) and getattr(args, "output", "text") == "text"
