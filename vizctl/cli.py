"""The ``vizctl`` command line: argument parsing, the commands, and the one place
(:func:`exit_status_for`) where errors become exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Sequence
from urllib.parse import urlsplit

from vizctl import __version__
from vizctl.apply import Applier, ApplySettings, JobResult
from vizctl.auth import TokenAuth
from vizctl.client import DEFAULT_TIMEOUT, ModelArtsClient
from vizctl.environment import Environment
from vizctl.errors import ConfigError, ExitStatus, PlanError, UsageError, VizctlError
from vizctl.manager import check_fresh, load_plan, make_plan, save_plan
from vizctl.manifest import load_manifests
from vizctl.model import Manifest
from vizctl.plan import Action, Plan, plan_to_dict
from vizctl.planner import PlanOptions
from vizctl.progress import JsonReporter, TextReporter
from vizctl.render import OUTPUTS, RENDERERS
from vizctl.retry import RateLimiter
from vizctl.transport import RequestsTransport
from vizctl.wording import plural

SIM_STATE_PATH = os.path.join(".vizctl", "sim-state.json")
SIM_PROJECT_ID = "sim-project"
SIM_TOKEN = "sim-token"
SIM_ENDPOINT_LABEL = "sim"
DEFAULT_MAX_RPS = 200.0  # a guard, not the flow control itself: a 429 is waited out and retried
NO_ENDPOINT = (
    "no API endpoint configured: pass --endpoint URL --project-id ID (or set VIZCTL_ENDPOINT and "
    "VIZCTL_PROJECT_ID) with a token in VIZCTL_TOKEN, or use --sim to try vizctl against the built-in simulator"
)


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run vizctl; returns the exit status instead of raising."""
    env = env or Environment()
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        env.verbosity = getattr(args, "verbose", 0)
        env.colors = _use_colors(args, env)
        return int(args.run(args, env))
    except VizctlError as error:
        env.err(error.report())
        return int(exit_status_for(error))
    except KeyboardInterrupt:
        env.err("Interrupted.")
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:  # `vizctl plan | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return int(ExitStatus.OK)


def exit_status_for(error: VizctlError) -> ExitStatus:
    """The exit code of an error: the one place this mapping lives."""
    return error.exit_status


# -- argument parsing ----------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 64) instead of printing and exiting 2."""

    def error(self, message: str):  # noqa: D401 - argparse's name
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vizctl", description="Manage ModelArts visualization jobs (TensorBoard / MindInsight) as code.")
    parser.add_argument("--version", action="version", version=f"vizctl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)

    manifests = _Parser(add_help=False)
    manifests.add_argument("-f", "--file", dest="files", action="append", metavar="PATH", help="manifest file or directory (repeatable)")
    manifests.add_argument("-v", "--verbose", action="count", default=0, help="more detail (-vv: every API request)")
    manifests.add_argument("--no-color", action="store_true", help="no colour, even on a terminal (NO_COLOR is honoured too)")

    connection = _Parser(add_help=False)
    group = connection.add_argument_group("connection")
    group.add_argument("--endpoint", metavar="URL", help="ModelArts endpoint, e.g. https://modelarts.eu-de.otc.t-systems.com (env VIZCTL_ENDPOINT)")
    group.add_argument("--project-id", metavar="ID", help="project id (env VIZCTL_PROJECT_ID); the token comes from VIZCTL_TOKEN")
    group.add_argument("--sim", action="store_true", help=f"use a built-in simulator with its state in {SIM_STATE_PATH}")
    group.add_argument("--request-timeout", type=_positive, default=DEFAULT_TIMEOUT, metavar="SECONDS", help="timeout of each API request (default %(default)s)")
    group.add_argument("--parallelism", type=_count, default=10, metavar="N", help="API requests at once: mutations, details reads (default %(default)s)")
    group.add_argument("--max-rps", type=_positive, default=DEFAULT_MAX_RPS, metavar="N", help="client-side limit of API requests per second (default %(default)s)")

    selection = _Parser(add_help=False)
    selection.add_argument("--target", action="append", default=[], metavar="NAME", help="only this job (repeatable)")
    selection.add_argument("--replace", action="append", default=[], metavar="NAME", help="replace this job: delete, then create (repeatable)")
    selection.add_argument("--prune", action="store_true", help="delete live jobs inside a manifest's prune scope that no manifest declares")
    selection.add_argument("--force", action="store_true", help="allow a prune beyond the safety limits")

    validate = commands.add_parser("validate", parents=[manifests], help="check manifests offline")
    validate.add_argument("--sim", action="store_true", help=argparse.SUPPRESS)
    validate.set_defaults(run=cmd_validate)

    plan = commands.add_parser("plan", parents=[manifests, connection, selection], help="show what apply would change")
    plan.add_argument("--output", "-o", choices=OUTPUTS, default="text", help="plan format (default text)")
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 0 when nothing to do, 2 when there are changes, 1 on error")
    plan.add_argument("--out", metavar="FILE", help="also save the plan to FILE for `vizctl apply FILE`")
    plan.set_defaults(run=cmd_plan)

    apply = commands.add_parser("apply", parents=[manifests, connection, selection], help="carry out the plan and wait for the jobs to run")
    apply.add_argument("plan_file", nargs="?", metavar="PLANFILE", help="a plan saved with `vizctl plan --out`: applied as is, without asking")
    apply.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--timeout", type=_positive, default=900.0, metavar="SECONDS", help="give up waiting for jobs after this long (default %(default)s)")
    apply.add_argument("--no-wait", action="store_true", help="do not wait for the jobs to run")
    apply.add_argument("--output", "-o", choices=("text", "json"), default="text", help="text, or json: one event per line")
    apply.set_defaults(run=cmd_apply)

    sim = commands.add_parser("sim", help="the ModelArts API simulator")
    sim_commands = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", parser_class=_Parser, required=True)
    serve = sim_commands.add_parser("serve", help="serve the simulated API over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    serve.add_argument("--port", type=int, default=8080, help="port (default %(default)s; 0 picks a free one)")
    serve.add_argument("--state", metavar="FILE", help="keep the jobs in FILE across restarts")
    serve.add_argument("-v", "--verbose", action="count", default=0, help="log every request")
    from vizctl.sim.config import add_arguments

    add_arguments(serve)
    serve.set_defaults(run=cmd_sim_serve, no_color=True)
    return parser


def _positive(text: str) -> float:
    """A number above zero (seconds, requests a second)."""
    return _checked(float, text, "a number", lambda v: v > 0, "must be positive")


def _count(text: str) -> int:
    """A whole number from 1 to 200 (requests at once)."""
    return _checked(int, text, "a whole number", lambda v: 1 <= v <= 200, "must be from 1 to 200")


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
    """A client for the configured endpoint, or for an in-process simulator with ``--sim``."""
    token = env.getenv("VIZCTL_TOKEN")
    env.add_secret(token)
    if args.sim:
        from vizctl.sim.config import SimConfig
        from vizctl.sim.server import SimServer

        os.makedirs(os.path.join(env.cwd, ".vizctl"), exist_ok=True)
        server = SimServer(SimConfig(), state_path=os.path.join(env.cwd, SIM_STATE_PATH)).start()
        try:
            project = args.project_id or SIM_PROJECT_ID
            yield Target(_client(server.url, project, token or SIM_TOKEN, args, env, parallelism), SIM_ENDPOINT_LABEL, project)
        finally:
            server.stop()
        return
    endpoint = args.endpoint or env.getenv("VIZCTL_ENDPOINT")
    project = args.project_id or env.getenv("VIZCTL_PROJECT_ID")
    if not endpoint:
        raise ConfigError(NO_ENDPOINT)
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"the endpoint must be an http(s) URL, e.g. https://modelarts.eu-de.otc.t-systems.com (got {endpoint!r})")
    if parts.username or parts.password:
        raise ConfigError("the endpoint URL must not carry credentials: put the token in VIZCTL_TOKEN")
    if not project:
        raise ConfigError("no project id configured: pass --project-id or set VIZCTL_PROJECT_ID")
    if not token:
        raise ConfigError("no token: set VIZCTL_TOKEN to an IAM token (X-Auth-Token) for the project")
    yield Target(_client(endpoint, project, token, args, env, parallelism), endpoint.rstrip("/"), project)


def _client(endpoint: str, project: str, token: str, args: argparse.Namespace, env: Environment, parallelism: int) -> ModelArtsClient:
    auth = TokenAuth(token)
    for secret in auth.secrets():
        env.add_secret(secret)
    return ModelArtsClient(
        endpoint,
        project,
        auth,
        RequestsTransport(pool_size=parallelism + 4),
        timeout=args.request_timeout,
        rate_limiter=RateLimiter(args.max_rps),
        log=lambda message: env.log(message, level=2),
        notice=lambda message: env.err(f"vizctl: {message}"),  # retries and throttle waits, at every verbosity
    )


# -- commands ------------------------------------------------------------------


def _manifest(args: argparse.Namespace) -> Manifest:
    if not args.files:
        raise UsageError("no manifests given: pass -f PATH (a file or a directory; repeatable)")
    return load_manifests(args.files)


def _options(args: argparse.Namespace) -> PlanOptions:
    return PlanOptions(frozenset(args.target), frozenset(args.replace), args.prune, args.force)


def cmd_validate(args: argparse.Namespace, env: Environment) -> ExitStatus:
    manifest = _manifest(args)
    files = len(manifest.files)
    env.out(f"Valid: {plural(len(manifest.jobs), 'job')} in {plural(files, 'file')}.")
    return ExitStatus.OK


def cmd_plan(args: argparse.Namespace, env: Environment) -> ExitStatus:
    manifest = _manifest(args)
    options = _options(args)
    with connect(args, env, args.parallelism) as target:
        plan, _ = make_plan(target.client, manifest, options, args.parallelism)
        env.log(f"{target.client.calls['list']} list call(s), {target.client.calls['detail']} details call(s)")
    env.out(RENDERERS[args.output]().render(plan, verbose=env.verbosity > 0, colors=env.colors))
    if args.out:
        save_plan(args.out, plan, target.endpoint_label, target.project_id, options)
        env.err(f"Saved the plan to {args.out}; apply it with: vizctl apply {args.out}")
    problems = [*plan.errors, *(c.reason for c in plan.changes if c.action is Action.AMBIGUOUS)]
    if problems:
        for problem in problems if args.output != "text" else ():
            env.err(f"Error: {problem}")
        env.err(f"Error: the plan has {plural(len(problems), 'error')}; see above")
        return ExitStatus.ERROR
    if args.detailed_exitcode and plan.has_changes:
        return ExitStatus.CHANGES
    return ExitStatus.OK


def cmd_apply(args: argparse.Namespace, env: Environment) -> ExitStatus:
    saved = load_plan(args.plan_file) if args.plan_file else None
    if saved is not None:
        if args.target or args.replace or args.prune:
            raise UsageError("a saved plan is applied as it is: --target, --replace and --prune belong to `vizctl plan`")
        args.files = args.files or list(saved.plan.manifest_files)
    manifest = _manifest(args)
    reporter = JsonReporter(env) if args.output == "json" else TextReporter(env)
    with connect(args, env, args.parallelism) as target:
        target.client.deadline = time.monotonic() + args.timeout  # planning waits no longer either
        if saved is not None:
            if (saved.endpoint, saved.project_id) != (target.endpoint_label, target.project_id):
                raise PlanError(
                    f"the plan was made for {saved.endpoint} project {saved.project_id}, "
                    f"not {target.endpoint_label} project {target.project_id}"
                )
            check_fresh(saved.plan, manifest, target.client.list_all())
            plan = saved.plan
        else:
            plan, _ = make_plan(target.client, manifest, _options(args), args.parallelism)
        _show_plan(plan, env, reporter)
        if plan.errors:
            raise PlanError("the plan has errors (above); nothing was changed")
        if saved is None and plan.has_changes and not args.auto_approve:
            _confirm(env)
        settings = ApplySettings(parallelism=args.parallelism, timeout=args.timeout, wait=not args.no_wait)
        applier = Applier(target.client, reporter, settings)
        target.client.cancel, target.client.deadline = applier.stop, time.monotonic() + args.timeout  # no retry wait outlives them
        results, interrupted, elapsed = _run_interruptibly(applier, plan, reporter)
        reporter.summary(results, elapsed)
        env.log(f"API calls: {dict(target.client.calls)}")
    if interrupted:
        return ExitStatus.INTERRUPTED
    return ExitStatus.OK if _converged(results, settings.wait) else ExitStatus.NOT_CONVERGED


def _show_plan(plan: Plan, env: Environment, reporter) -> None:
    if isinstance(reporter, JsonReporter):
        reporter.emit("plan", plan=plan_to_dict(plan))
    else:
        env.out(RENDERERS["text"]().render(plan, verbose=env.verbosity > 0, colors=env.colors))
        env.out("")


def _confirm(env: Environment) -> None:
    if not env.stdin_isatty:
        raise UsageError("apply needs confirmation, but standard input is not a terminal: pass --auto-approve, or apply a saved plan file")
    env.err("Apply these changes? Only 'yes' is accepted: ", end="")
    answer = env.stdin.readline().strip()
    if answer != "yes":
        raise VizctlError("apply cancelled; nothing was changed")


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
    if not all(r.outcome.ok for r in results):
        return False
    return not waited or all(r.running for r in results if r.action is not Action.DELETE)


def cmd_sim_serve(args: argparse.Namespace, env: Environment) -> ExitStatus:
    from vizctl.sim.config import SimConfig
    from vizctl.sim.server import SimServer

    config = SimConfig.from_args(args)
    try:
        server = SimServer(config, state_path=args.state, host=args.host, port=args.port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    env.err(f"vizctl simulator listening on {server.url} (any project id; any non-empty token unless --token); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        env.err("Simulator stopped.")
    finally:
        server.stop()
    return ExitStatus.OK

