"""The command line's grammar: every command's flags, the shared flag groups, their value types and the
``--help`` texts; and :data:`COMMANDS`, each command's module. Imports nothing heavy: it runs for ``--help``
and ``--version`` too. A command's module is imported when the command runs; only reconcile's, light at
its top, is imported here too: it adds its own flags.
"""

from __future__ import annotations

import argparse
import math
import re
import textwrap
from typing import Callable, Sequence

from vizctl import __version__
from vizctl.environment import Environment
from vizctl.errors import ExitStatus, UsageError
from vizctl.model import DEFAULT_LIST_LAG
from vizctl.session import DEFAULT_COMMAND_TIMEOUT, DEFAULT_MAX_RPS, DEFAULT_PARALLELISM, DEFAULT_REQUEST_TIMEOUT, SIM_STATE_PATH

OUTPUT_ENV = ("NO_COLOR          no colour when set (also TERM=dumb)",)
MANIFEST_ENV = "${NAME}           every variable the manifests use"
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


COMMANDS = {  # each command's module, with its run(args, env); imported only when that command runs
    "validate": "vizctl.commands.validate",
    "plan": "vizctl.commands.plan",
    "apply": "vizctl.commands.apply",
    "status": "vizctl.commands.status",
    "export": "vizctl.commands.export",
    "wait": "vizctl.commands.wait",
    "destroy": "vizctl.commands.destroy",
    "reconcile": "vizctl.commands.reconcile",
    "show": "vizctl.commands.show",
    "schema": "vizctl.commands.schema",
    "version": "vizctl.commands.version",
    "completion": "vizctl.commands.completion",
    "config show": "vizctl.commands.config",
    "sim serve": "vizctl.commands.sim",
}


def _command(name: str) -> Callable[[argparse.Namespace, Environment], ExitStatus]:
    """The ``run(args, env)`` of command ``name`` (see :data:`COMMANDS`), imported only when the command runs."""

    def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
        import importlib

        return importlib.import_module(COMMANDS[name]).run(args, env)

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
    group.add_argument("--no-cache", action="store_true", help="read every job's details from the API; do not use or update the cache (job details, the list's page count)")
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
    validate.set_defaults(run=_command("validate"))

    plan = command(
        "plan", "show what apply would change",
        "vizctl plan manifests/ --output markdown --detailed-exitcode --out plan.json > plan.md",
        reads_cache, (0, 1, 2, 64, 130), [manifests, connection, selection, deadline],
    )
    plan.add_argument("--output", "-o", choices=OUTPUTS, default="text", help="plan format (default text)")
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when the live jobs differ (changes, or a drifted or failed job), 0 when not, 1 on error")
    plan.add_argument("--out", metavar="FILE", help="also save the plan to FILE for `vizctl apply FILE`")
    plan.set_defaults(run=_command("plan"))

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
    apply.set_defaults(run=_command("apply"))

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
    version.set_defaults(run=_command("version"))

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
    config_show.set_defaults(run=_command("config show"))

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
    serve.set_defaults(run=_command("sim serve"))
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
    return checked(float, text, "a number", lambda v: 0 < v < math.inf, "must be a positive number")


def _count(text: str) -> int:
    """A whole number from 1 to 200 (requests at once)."""
    return checked(int, text, "a whole number", lambda v: 1 <= v <= 200, "must be from 1 to 200")


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


def checked(convert, text: str, kind: str, valid, rule: str):
    """``convert(text)``, or an argparse error that says ``kind`` or ``rule`` when it fails or ``valid`` rejects it."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"{rule}: {text!r}")
    return value
