"""The ``vizctl`` command line: argument parsing, the commands, and the one place
(:func:`exit_status_for`) where errors become exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

# Only what the parser needs is imported here: `vizctl --help`, `--version`,
# `schema` and `completion` must start fast. Each command imports the rest.
from vizctl import __version__
from vizctl.environment import Environment
from vizctl.model import DEFAULT_LIST_LAG
from vizctl.errors import ConfigError, ConfirmationError, ExitStatus, OutputError, PlanError, UsageError, VizctlError
from vizctl.wording import plural

if TYPE_CHECKING:
    from vizctl.applying.machine import Applier, ApplySettings, JobResult
    from vizctl.api.auth import Auth
    from vizctl.planning.details_cache import DetailsCache
    from vizctl.api.transport import Transport
    from vizctl.api.client import ModelArtsClient
    from vizctl.model import LiveSnapshot, Manifest
    from vizctl.planning.plan import Plan
    from vizctl.planning.planner import PlanOptions

SIM_STATE_PATH = os.path.join(".vizctl", "sim-state.json")
SIM_PROJECT_ID = "sim-project"
SIM_TOKEN = "sim-token"
SIM_ENDPOINT_LABEL = "sim"
DEFAULT_MAX_RPS = None  # no fixed cap: the API documents none; its 429s slow the client down (retry.RateLimiter)
DEFAULT_PARALLELISM = 32  # requests at once: 32 / 20 ms = 1,600 a second at most; see README "Speed and flow control"


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


# -- argument parsing ----------------------------------------------------------

DEFAULT_REQUEST_TIMEOUT = 30.0
OUTPUT_ENV = ("NO_COLOR          no colour when set (also TERM=dumb)",)
MANIFEST_ENV = "${NAME}           every variable the manifests use"
DEFAULT_COMMAND_TIMEOUT = 900.0  # --timeout: every command that talks to the API ends within it
MAX_DURATION = 7 * 86400.0  # a longer duration is a typo (1e10), and beyond what sockets and waits take
EXIT_CODES = {
    0: "success",
    1: "error: invalid manifest, configuration, API error, stale plan, refused or cancelled (no 'yes')",
    2: "plan --detailed-exitcode: the live jobs differ (changes to make, or a drifted or failed job)",
    3: "some job failed, timed out, is missing, duplicated, drifted or could not be changed or read",
    64: "bad command line",
    130: "interrupted (Ctrl-C)",
}
FILE_ENV = ("HW_SHARED_CONFIG_FILE", "HUAWEICLOUD_SDK_CREDENTIALS_FILE", "OS_CLOUD")  # the files vizctl.api.settings reads besides VIZCTL_CONFIG
CONFIRMATION = "asks for 'yes' on a terminal (any other answer cancels: exit 1); without a terminal it needs -y"


def connection_env(cache: bool = False, manifests: bool = True) -> tuple[str, ...]:
    """The environment variables a command that talks to the API reads: the setting names come
    from :mod:`vizctl.api.settings`; proxies, the details cache (``cache``) and colour are read
    in :mod:`vizctl.api.connection` / :mod:`vizctl.planning.details_cache`."""
    from vizctl.api.settings import ECOSYSTEM_VARIABLES, NAMES

    groups = [("vizctl", [f"VIZCTL_{name.upper()}" for name in NAMES])]
    groups += [(label, list(dict.fromkeys(variable for variable, _ in pairs))) for label, pairs in ECOSYSTEM_VARIABLES]
    groups.append(("files", [*FILE_ENV, "HOME"]))
    groups.append(("proxies", ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "(or lower case)"]))
    if cache:
        groups.append(("details cache", ["VIZCTL_CACHE_DIR, else XDG_CACHE_HOME/vizctl, else HOME/.cache/vizctl"]))
    groups.append(("colour", ["NO_COLOR", "TERM=dumb"]))
    if manifests:
        groups.append(("manifests", ["every ${NAME} they use"]))
    lines = [line for label, names in groups for line in textwrap.wrap(" ".join(names), 96, initial_indent=f"{label + ':':<32}", subsequent_indent=" " * 32)]
    return (
        *lines,
        "Secrets (tokens, secret keys, passwords) are never printed. An IAM token lives 24 hours:",
        "in CI use VIZCTL_ACCESS_KEY / VIZCTL_SECRET_KEY (see `vizctl config show`).",
    )


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 64) instead of printing and exiting 2."""

    def error(self, message: str):  # noqa: D401 - argparse's name
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _epilog(example: str, env: Sequence[str] = (), exits: Sequence[int | tuple[int, str]] = (0, 1, 64)) -> str:
    """The end of a command's --help: a worked example, the variables it reads, its exit codes (a code, or a
    code and what it means for this command)."""
    lines = ["example:", *(f"  {line}" for line in example.splitlines())]
    if env:
        lines += ["", "environment:", *(f"  {line}" for line in env)]
    said = [exit if isinstance(exit, tuple) else (exit, EXIT_CODES[exit]) for exit in exits]
    lines += ["", "exit codes:", *(f"  {code:<3} {meaning}" for code, meaning in said)]
    return "\n".join(lines)


def _command(module: str) -> Callable[[argparse.Namespace, Environment], ExitStatus]:
    """The ``run(args, env)`` of ``vizctl.commands.<module>``, imported only when the command runs."""
    return _lazy(f"vizctl.commands.{module}", "run")


def _lazy(module: str, function: str) -> Callable[[argparse.Namespace, Environment], ExitStatus]:
    """``module.function(args, env)``, imported only when the command runs."""

    def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
        import importlib

        return getattr(importlib.import_module(module), function)(args, env)

    return run


def build_parser() -> argparse.ArgumentParser:
    """The whole command line. Imports nothing heavy: it runs for `--help` and `--version` too."""
    parser = _Parser(
        prog="vizctl",
        description="Manage ModelArts visualization jobs (TensorBoard / MindInsight) as code.",
        epilog="Flags such as -v, --no-color and the connection flags may come before or after the command.\n"
        "`vizctl COMMAND --help` shows each command's flags, an example, its environment variables and exit codes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vizctl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)

    reads_api, reads_cache = connection_env(), connection_env(cache=True)

    def command(name: str, help: str, example: str, env: Sequence[str] = OUTPUT_ENV, exits: Sequence[int | tuple[int, str]] = (0, 1, 64), parents=(), asks: str = ""):
        sub = commands.add_parser(
            name, help=help, description=help[0].upper() + help[1:] + "." + (f"\n{asks}" if asks else ""), parents=[common, *parents],
            epilog=_epilog(example, env, exits), formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if manifests in parents:  # paths as arguments, as `kubectl apply -f` and `terraform plan DIR` users type
            sub.add_argument("paths", nargs="*", metavar="PATH", help=PATHS_HELP.get(name, "manifest file or directory, like -f"))
        return sub

    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more detail (-vv: every API request)")
    common.add_argument("--no-color", action="store_true", help="no colour, even on a terminal (NO_COLOR is honoured too)")

    manifests = _Parser(add_help=False)
    manifests.add_argument("-f", "--file", dest="files", action="append", metavar="PATH", help="manifest file or directory, or - for standard input (repeatable)")

    connection = _Parser(add_help=False)
    group = connection.add_argument_group("connection")
    group.add_argument("--endpoint", metavar="URL", help="ModelArts endpoint, e.g. https://modelarts.eu-de.otc.t-systems.com (env VIZCTL_ENDPOINT)")
    group.add_argument("--project-id", metavar="ID", help="project id (env VIZCTL_PROJECT_ID); without it, looked up by the region's name")
    group.add_argument("--sim", action="store_true", help=f"use a built-in simulator with its state in {SIM_STATE_PATH}")
    group.add_argument("--request-timeout", type=duration, default=DEFAULT_REQUEST_TIMEOUT, metavar="DURATION", help="timeout of each API request (default %(default)ss)")
    group.add_argument("--parallelism", type=_count, default=DEFAULT_PARALLELISM, metavar="N", help="API requests at once: mutations, details reads (default %(default)s)")
    group.add_argument("--no-cache", action="store_true", help="read every job's details from the API; do not use or update the details cache")
    group.add_argument("--max-rps", type=_positive, default=DEFAULT_MAX_RPS, metavar="N", help="most API requests in any second (default: no cap; the API's 429s slow vizctl down)")
    from vizctl.api.settings import add_connection_arguments

    add_connection_arguments(group)

    targets = _Parser(add_help=False)
    targets.add_argument("--target", action="append", default=[], metavar="NAME", help="only this job (repeatable)")

    selection = _Parser(add_help=False, parents=[targets])
    selection.add_argument("--replace", action="append", default=[], metavar="NAME", help="replace this job: delete, then create (repeatable)")
    selection.add_argument("--prune", action="store_true", help="delete live jobs inside a manifest's prune scope that no manifest declares")
    selection.add_argument("--force", action="store_true", help="allow a prune beyond the safety limits")

    progress = _Parser(add_help=False)
    progress.add_argument("--output", "-o", choices=("text", "json"), default="text", help="text, or json: one event per line")
    progress.add_argument("--timeout", type=duration, default=DEFAULT_COMMAND_TIMEOUT, metavar="DURATION",
                          help="end within this long, the plan's reads, the changes and the wait for the jobs included: 900, 90s, 15m, 1h30m (default 15m)")

    deadline = _Parser(add_help=False)
    deadline.add_argument("--timeout", type=duration, default=DEFAULT_COMMAND_TIMEOUT, metavar="DURATION",
                          help="end within this long, every request and retry included: 90s, 5m (default 15m)")

    approval = _Parser(add_help=False)
    approval.add_argument("-y", "--auto-approve", action="store_true", help="do not ask for 'yes' (needed without a terminal)")

    validate = command("validate", "check manifests offline", "vizctl validate manifests/", (*OUTPUT_ENV, MANIFEST_ENV), parents=[manifests])
    validate.add_argument("--sim", action="store_true", help=argparse.SUPPRESS)
    validate.add_argument("--debug", action="store_true", help="accepted like every command's; validate sends no request")
    validate.set_defaults(run=cmd_validate)

    plan = command(
        "plan", "show what apply would change",
        "vizctl plan manifests/ --output markdown --detailed-exitcode --out plan.json > plan.md",
        reads_cache, (0, 1, 2, 64, 130), [manifests, connection, selection, deadline],
    )
    plan.add_argument("--output", "-o", choices=OUTPUTS, default="text", help="plan format (default text)")
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when the live jobs differ (changes, or a drifted or failed job), 0 when not, 1 on error")
    plan.add_argument("--out", metavar="FILE", help="also save the plan to FILE for `vizctl apply FILE`")
    plan.set_defaults(run=cmd_plan)

    apply = command(
        "apply", "carry out the plan and wait for the jobs to run",
        "vizctl apply manifests/ --auto-approve --timeout 15m\nvizctl apply plan.json          # a plan saved with `vizctl plan --out`, as is",
        reads_cache, (0, 1, 3, 64, 130), [manifests, connection, selection, progress, approval],
        asks=f"It {CONFIRMATION}; a plan file saved with `vizctl plan --out` is applied without asking.",
    )
    apply.add_argument("--no-wait", action="store_true", help="do not wait for the jobs to run")
    apply.add_argument(
        "--list-lag", type=lag, default=DEFAULT_LIST_LAG, metavar="DURATION",
        help="how long the list may take to show a new job: an ambiguous create and a race are judged after it (default %(default)ss)",
    )
    apply.set_defaults(run=cmd_apply)

    status = command(
        "status", "list the live jobs: status, age and service URL",
        "vizctl status                  # every live job\nvizctl status manifests/        # the declared jobs, and which are missing",
        reads_api, (0, 1, 64, 130), [manifests, connection, deadline],
    )
    status.add_argument("--output", "-o", choices=("text", "json"), default="text", help="a table, or one JSON document")
    status.set_defaults(run=_command("status"))

    export = command(
        "export", "write a manifest for live jobs (adopt jobs made elsewhere)",
        "vizctl export --match 'cv-*' > manifests/cv.yaml && vizctl plan manifests/   # No changes.",
        connection_env(manifests=False), (0, 1, 64, 130), [connection, deadline],
    )
    export.add_argument("--match", metavar="PATTERN", help="only jobs whose name matches this glob, e.g. 'team-a-*'")
    export.set_defaults(run=_command("export"))

    wait = command(
        "wait", "wait until the declared jobs run; creates nothing",
        "vizctl apply manifests/ -y --no-wait && vizctl wait manifests/ --timeout 10m",
        reads_cache, (0, 1, 3, 64, 130), [manifests, connection, targets, progress],  # it plans as plan does, details too
    )
    wait.set_defaults(run=_command("wait"))

    destroy = command(
        "destroy", "delete the declared jobs, after a plan and a confirmation",
        "vizctl destroy manifests/ --target cv-resnet50-tb",
        reads_api, (0, 1, 3, 64, 130), [manifests, connection, targets, progress, approval], asks=f"It {CONFIRMATION}.",
    )
    destroy.set_defaults(run=_command("destroy"))

    from vizctl.commands import reconcile as reconcile_flags

    reconcile = command(
        "reconcile", "keep the live jobs as declared: check every interval, alert on drift, heal with --heal",
        "vizctl reconcile manifests/ --interval 5m --heal --metrics-addr :9090 --slack-webhook \"$SLACK_URL\"\n"
        "vizctl reconcile manifests/ --once     # a CI cron's drift check: exit 0 in sync, 2 drifted",
        (*reads_cache, *reconcile_flags.ENV),
        (0, 1, (2, "--once: the live jobs differ from the manifests (drifted)"), 64,
         (130, "a second SIGTERM or Ctrl-C (the first finishes the check in flight and exits 0)")),
        [manifests, connection, targets],
    )
    reconcile_flags.add_arguments(reconcile)
    reconcile.set_defaults(run=_command("reconcile"))

    show = command("show", "render a plan saved with `vizctl plan --out`", "vizctl show plan.json --output markdown")
    show.add_argument("plan_file", metavar="PLANFILE", help="the saved plan")
    show.add_argument("--output", "-o", choices=OUTPUTS, default="text", help="plan format (default text)")
    show.set_defaults(run=_command("show"))

    schema = command("schema", "print the manifest JSON Schema", "vizctl schema > manifest.schema.json", env=(), exits=(0, 64))
    schema.set_defaults(run=_command("schema"))

    version = command("version", "print vizctl's version", "vizctl version", env=(), exits=(0, 64))
    version.set_defaults(run=cmd_version)

    completion = command(
        "completion", "print a shell completion script",
        "source <(vizctl completion bash)                       # bash, in ~/.bashrc\n"
        "source <(vizctl completion zsh)                        # zsh, in ~/.zshrc\n"
        "vizctl completion fish > ~/.config/fish/completions/vizctl.fish",
        env=(), exits=(0, 64),
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell")
    completion.set_defaults(run=_command("completion"))

    config = commands.add_parser("config", help="the connection settings vizctl would use")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND", parser_class=_Parser, required=True)
    config_show = config_commands.add_parser(
        "show", parents=[common, connection], help="every setting with its source, secrets masked",
        epilog=_epilog("vizctl config show --region eu-de", connection_env(manifests=False), (0, 1, 64)), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config_show.set_defaults(run=_lazy("vizctl.api.connection", "cmd_config_show"))

    sim = commands.add_parser("sim", help="the ModelArts API simulator")
    sim_commands = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", parser_class=_Parser, required=True)
    from vizctl.sim.config import SECRETS, add_arguments

    secret_env = [f"{variable:<24}{what.split(' (')[0]}, never printed (or {flag})" for flag, variable, what in SECRETS.values()]
    serve = sim_commands.add_parser(
        "serve", help="serve the simulated API over HTTP", parents=[common],
        epilog=_epilog("vizctl sim serve --port 8080 --state sim.json --startup-seconds 5", secret_env, exits=(0, 1, 64)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    serve.add_argument("--port", type=_port, default=8080, help="port (default %(default)s; 0 picks a free one)")
    serve.add_argument("--state", metavar="FILE", help="keep the jobs in FILE across restarts")
    add_arguments(serve)
    serve.set_defaults(run=cmd_sim_serve, no_color=True)
    return parser


def _port(text: str) -> int:
    """A TCP port number for ``--port`` (0 picks a free one)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {text!r}")
    return port


PATHS_HELP = {"apply": "manifest files or directories, like -f; or one plan file saved with `vizctl plan --out`, applied as is"}
OUTPUTS = ("text", "json", "markdown")  # vizctl.planning.render.RENDERERS; tests check they agree
GLOBAL_FLAG_STOPS = ("-h", "--help", "--version", "-", "--")


def hoist_global_flags(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``vizctl -v plan x`` -> ``vizctl plan x -v``: flags given before the command go after it.

    Any flag a command takes may come first, so flags added to the parent
    parsers later work on both sides without more code here.
    """
    takes_value = _flags_taking_a_value(parser)
    before: list[str] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in GLOBAL_FLAG_STOPS:
        flag = argv[i]
        before.append(flag)
        i += 1
        if "=" not in flag and takes_value.get(flag) and i < len(argv):
            before.append(argv[i])
            i += 1
    if not before or i == len(argv) or argv[i] not in subcommands(parser):
        return argv
    rest = argv[i:]
    cut = rest.index("--") if "--" in rest else len(rest)
    return rest[:cut] + before + rest[cut:]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags_taking_a_value(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Every flag of every (sub)command, and whether it is followed by a value."""
    out: dict[str, bool] = {}
    for sub in subcommands(parser).values():
        out.update(_flags_taking_a_value(sub))
        for action in sub._actions:
            for flag in action.option_strings:
                out[flag] = action.nargs != 0
    return out


def _positive(text: str) -> float:
    """A finite number above zero (requests a second)."""
    return _checked(float, text, "a number", lambda v: 0 < v < math.inf, "must be a positive number")


def _count(text: str) -> int:
    """A whole number from 1 to 200 (requests at once)."""
    return _checked(int, text, "a whole number", lambda v: 1 <= v <= 200, "must be from 1 to 200")


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``5m``, ``1h30m`` or ``1.5h``: every duration flag's type."""
    seconds = _duration_seconds(text)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return seconds


def lag(text: str) -> float:
    """A duration that may be zero (``--list-lag 0``: the list shows new jobs at once)."""
    seconds = _duration_seconds(text)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return seconds


def _duration_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.fullmatch(text.strip().lower())
        if not parts or not any(parts.groups()):
            raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90, 90s, 5m, 1h30m)") from None
        seconds = sum(float(n) * unit for n, unit in zip(parts.groups(), (3600, 60, 1)) if n)
    if not math.isfinite(seconds):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90, 90s, 5m, 1h30m)")
    if seconds > MAX_DURATION:
        raise argparse.ArgumentTypeError(f"too long: {text!r} (at most 7 days, 168h)")
    return seconds


def _checked(convert, text: str, kind: str, valid, rule: str):
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"{rule}: {text!r}")
    return value


def _use_colors(args: argparse.Namespace, env: Environment) -> bool:
    if getattr(args, "no_color", False) or env.getenv("NO_COLOR") is not None or env.getenv("TERM") == "dumb":
        return False
    return bool(env.stdout_isatty) and getattr(args, "output", "text") == "text"


# -- connection ----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the API is: ``endpoint_label`` is what a saved plan records."""

    client: ModelArtsClient
    endpoint_label: str
    project_id: str


@contextlib.contextmanager
def connect(args: argparse.Namespace, env: Environment, parallelism: int = 10) -> Iterator[Target]:
    """A client for the configured cloud (see :mod:`vizctl.api.connection`), or for an in-process simulator with ``--sim``."""
    from vizctl.api.auth import TokenAuth
    from vizctl.api.client import MIN_REQUEST_SECONDS
    from vizctl.api.connection import explain_auth_error, open_connection
    from vizctl.errors import AuthError, DeadlineExceeded, RequestTimeout, UnreachableError
    from vizctl.api.settings import Value, check_clean
    from vizctl.api.transport import RequestsTransport

    started = time.monotonic()  # the deadline counts from here: logging in and looking up the project are part of the command
    if args.sim:
        from vizctl.sim.config import SimConfig
        from vizctl.sim.server import SimServer

        try:
            _make_sim_state_dir(env.cwd)
        except OSError as exc:  # .vizctl is a file, or cannot be written
            where = os.path.join(env.cwd, os.path.dirname(SIM_STATE_PATH))
            why = "it is not a directory" if os.path.exists(where) and not os.path.isdir(where) else exc.strerror or exc
            raise ConfigError(f"cannot keep the simulator state in {where}: {why}") from None
        token = env.getenv("VIZCTL_TOKEN")
        env.add_secret(token)
        if token:
            check_clean("token", Value(token, "env VIZCTL_TOKEN"))
        server = SimServer(SimConfig(), state_path=os.path.join(env.cwd, SIM_STATE_PATH)).start()
        try:
            project = args.project_id or SIM_PROJECT_ID
            transport = RequestsTransport(pool_size=parallelism + 4)
            yield Target(_client(server.url, project, TokenAuth(token or SIM_TOKEN), transport, args, env, started), SIM_ENDPOINT_LABEL, project)
        finally:
            transport.close()
            server.stop()
        return
    try:
        connection = open_connection(args, env, pool_size=parallelism + 4)
    except (RequestTimeout, UnreachableError) as error:
        limit = getattr(args, "timeout", DEFAULT_COMMAND_TIMEOUT)
        if limit >= args.request_timeout or time.monotonic() - started < limit - MIN_REQUEST_SECONDS:
            raise  # the request timeout's own
        raise DeadlineExceeded(f"--timeout ({limit:g} s) ran out while logging in to IAM or looking up the project: "
                               f"no answer in the time left; nothing was changed") from error
    try:
        yield Target(_client(connection.endpoint, connection.project_id, connection.auth, connection.transport, args, env, started),
                     connection.endpoint, connection.project_id)
    except AuthError as error:
        raise explain_auth_error(error, connection.settings, connection.auth, env) from None
    finally:
        connection.transport.close()  # the kept-alive connections: closed, not left to the garbage collector


def _make_sim_state_dir(cwd: str) -> None:
    """``.vizctl/`` with a ``.gitignore`` of its own, so a team repository never commits simulator state."""
    directory = os.path.join(cwd, os.path.dirname(SIM_STATE_PATH))
    os.makedirs(directory, exist_ok=True)
    ignore = os.path.join(directory, ".gitignore")
    if not os.path.exists(ignore):
        from vizctl.fileio import write_atomically

        write_atomically(ignore, "# vizctl --sim state: local, never committed\n*\n")


def _client(endpoint: str, project: str, auth: Auth, transport: Transport, args: argparse.Namespace, env: Environment,
            started: float) -> ModelArtsClient:
    """The command's client; its deadline (``--timeout``) counts from ``started``."""
    from vizctl.api.client import ModelArtsClient
    from vizctl.api.retry import RateLimiter

    for secret in auth.secrets():
        env.add_secret(secret)
    client = ModelArtsClient(
        endpoint,
        project,
        auth,
        transport,
        timeout=args.request_timeout,
        rate_limiter=RateLimiter(args.max_rps),
        log=lambda message: env.log(message, level=2),
        notice=lambda message: env.err(f"vizctl: {message}"),  # retries and throttle waits, at every verbosity
    )
    client.start_deadline(getattr(args, "timeout", DEFAULT_COMMAND_TIMEOUT), started)
    return client


def _details_cache(args: argparse.Namespace, env: Environment, target: Target) -> DetailsCache | None:
    """The details cache of this endpoint and project, unless ``--no-cache`` or no cache directory is known."""
    from vizctl.planning.details_cache import DetailsCache, cache_path

    path = None if args.no_cache else cache_path(env)
    return None if path is None else DetailsCache(path, target.endpoint_label, target.project_id, lambda message: env.err(f"vizctl: {message}"))


# -- commands ------------------------------------------------------------------


def declared_manifest(args: argparse.Namespace, env: Environment) -> Manifest:
    """The manifests named by ``-f`` and by path arguments (``-`` is standard input), loaded and validated."""
    from vizctl.errors import ManifestError
    from vizctl.manifests.loader import load_manifests

    paths = [*(args.files or []), *getattr(args, "paths", [])]
    if not paths:
        raise UsageError("no manifests given: pass PATH or -f PATH (a file or a directory, or - for standard input; repeatable)")
    try:
        manifest = load_manifests(paths, env.environ, env.stdin)
    except ManifestError as error:
        _say_skipped(env, error.skipped)  # the notice holds when another manifest is invalid
        raise
    _say_skipped(env, manifest.skipped)
    return manifest


def _say_skipped(env: Environment, paths: Sequence[str]) -> None:
    for path in paths:
        env.err(f"vizctl: skipped {path}: not a vizctl manifest (no manifest key in it)")


def plan_options(args: argparse.Namespace) -> PlanOptions:
    """The planning flags; commands without ``--replace`` / ``--prune`` get their defaults."""
    from vizctl.planning.planner import PlanOptions

    return PlanOptions(
        frozenset(args.target), frozenset(getattr(args, "replace", ())), getattr(args, "prune", False), getattr(args, "force", False)
    )


def cmd_validate(args: argparse.Namespace, env: Environment) -> ExitStatus:
    manifest = declared_manifest(args, env)
    files = len(manifest.files)
    env.out(f"Valid: {plural(len(manifest.jobs), 'job')} in {plural(files, 'file')}.")
    return ExitStatus.OK


def cmd_version(args: argparse.Namespace, env: Environment) -> ExitStatus:
    env.out(f"vizctl {__version__}")
    return ExitStatus.OK


def cmd_plan(args: argparse.Namespace, env: Environment) -> ExitStatus:
    from vizctl.planning.manager import check_plan_destination, make_plan, save_plan
    from vizctl.planning.plan import Action
    from vizctl.planning.render import RENDERERS

    manifest = declared_manifest(args, env)
    if args.out:
        check_plan_destination(args.out, manifest.files)  # before any request: a refused --out sends nothing
    options = plan_options(args)
    with connect(args, env, args.parallelism) as target:
        plan, _ = make_plan(target.client, manifest, options, args.parallelism, _details_cache(args, env, target))
        plan = _read_at(plan, target)
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


def cmd_apply(args: argparse.Namespace, env: Environment) -> ExitStatus:
    from vizctl.applying.machine import ApplySettings
    from vizctl.planning.manager import check_fresh, checked_prune, load_plan, make_plan

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
            plan = checked_prune(saved, manifest, live)
        else:
            plan, live = make_plan(target.client, manifest, plan_options(args), args.parallelism, _details_cache(args, env, target))
        plan = _read_at(plan, target)
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


def _read_at(plan: Plan, target: Target) -> Plan:
    """The plan, saying where its live jobs were read (shown in every output; never a credential)."""
    return replace(plan, endpoint=target.endpoint_label, project_id=target.project_id)


def reporter_for(args: argparse.Namespace, env: Environment):
    """The progress output of apply, wait or destroy: text for people, ``--output json`` one event per line."""
    from vizctl.applying.progress import JsonReporter, TextReporter

    return (JsonReporter if args.output == "json" else TextReporter)(env, args.command)


def show_plan(plan: Plan, env: Environment, reporter) -> None:
    """The plan before it is carried out: as text, or as the ``plan`` event of ``--output json``."""
    from vizctl.planning.plan import plan_to_dict
    from vizctl.applying.progress import JsonReporter
    from vizctl.planning.render import RENDERERS

    if isinstance(reporter, JsonReporter):
        reporter.emit("plan", plan=plan_to_dict(plan))
    else:
        env.out(RENDERERS["text"]().render(plan, verbose=env.verbosity > 0, colors=env.colors))
        env.out("")


def confirm(env: Environment, question: str, client: ModelArtsClient, instead: str = "pass --auto-approve (-y)") -> None:
    """Ask for ``yes``, exactly (only the line ending is taken off); without a terminal, refuse (exit 1) and say how
    to go on (``instead``). The time a person takes to answer does not count against ``client``'s deadline."""
    if not env.stdin_isatty:
        raise ConfirmationError(f"confirmation needed, but standard input is not a terminal: {instead}")
    env.err(f"{question} Only 'yes' is accepted: ", end="")
    with client.deadline_paused():
        answer = env.stdin.readline().removesuffix("\n").removesuffix("\r")
    if answer != "yes":
        raise VizctlError("cancelled; nothing was changed")


def carry_out(target: Target, plan: Plan, live: LiveSnapshot, reporter, settings: ApplySettings, env: Environment) -> ExitStatus:
    """Run ``plan`` (Ctrl-C aware), print the summary with service URLs, and say how it ended."""
    from vizctl.applying.machine import Applier

    applier = Applier(target.client, reporter, settings)
    target.client.cancel = applier.stop  # Ctrl-C ends every retry wait; the command's deadline (connect) ends the rest
    results, interrupted, elapsed = _run_interruptibly(applier, plan, reporter)
    reporter.summary(_with_service_urls(results, live), elapsed)
    env.log(f"API calls: {dict(target.client.calls)}")
    if interrupted:
        return ExitStatus.INTERRUPTED
    return ExitStatus.OK if _converged(results, settings.wait) else ExitStatus.NOT_CONVERGED


def _with_service_urls(results: list[JobResult], live: LiveSnapshot) -> list[JobResult]:
    """Fill the service URL of jobs apply did not wait for (already running) from the plan's read; a job
    the last read did not list (no status: deleted, missing), or showed KILLING (on its way out), gets none."""
    from vizctl.model import Phase, phase_of
    from vizctl.planning.plan import Action

    urls = {job.job_id: job.service_url for job in live.jobs}
    return [
        replace(r, service_url=urls.get(r.job_id or "", ""))
        if not r.service_url and r.action is not Action.DELETE and r.status is not None and phase_of(r.status) is not Phase.STOPPING else r
        for r in results
    ]


def _run_interruptibly(applier: Applier, plan: Plan, reporter) -> tuple[list[JobResult], bool, float]:
    """Run the apply; the first Ctrl-C stops new work, the second exits at once."""
    stop = applier.stop
    started = time.monotonic()

    def on_interrupt(signum, frame):
        if stop.is_set():
            os._exit(int(ExitStatus.INTERRUPTED))
        stop.set()
        reporter.interrupted()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if in_main_thread else None
    try:
        results = applier.run(plan)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
    return results, stop.is_set(), time.monotonic() - started


def _converged(results: list[JobResult], waited: bool) -> bool:
    from vizctl.planning.plan import Action

    if not all(r.outcome.ok for r in results):
        return False
    return not waited or all(r.running for r in results if r.action not in (Action.DELETE, Action.KEEP_STOPPED))


def cmd_sim_serve(args: argparse.Namespace, env: Environment) -> ExitStatus:
    from vizctl.sim.config import SimConfig, read_secrets
    from vizctl.sim.server import SimServer

    try:
        secrets = read_secrets(args, env.getenv)
    except ValueError as exc:  # a secret file that cannot be read, an empty or multi-line secret
        raise ConfigError(str(exc)) from None
    for secret in secrets.values():
        env.add_secret(secret)
    try:
        config = SimConfig.from_args(args, secrets)
    except ValueError as exc:  # a setting out of its range
        raise UsageError(str(exc)) from None
    try:
        server = SimServer(config, state_path=args.state, host=args.host, port=args.port)
    except OSError as exc:  # (a damaged --state file is a SimStateError, said as it is)
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    env.err(f"vizctl simulator listening on {server.url} (any project id; any non-empty token unless --token-file, VIZCTL_SIM_TOKEN or --strict-auth); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        env.err("Simulator stopped.")
    finally:
        server.stop()
    return ExitStatus.OK

