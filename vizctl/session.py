"""What every command that reads manifests or talks to the API starts from: the declared manifest, the
planning flags, and a :class:`Target` (a client for the configured cloud, or for an in-process simulator).

Imports nothing heavy at the top: ``validate`` and ``show`` import this module and must not load the HTTP stack.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterator, Sequence

from vizctl.environment import Environment
from vizctl.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from vizctl.api.auth import Auth
    from vizctl.api.client import ModelArtsClient
    from vizctl.api.transport import Transport
    from vizctl.model import LiveSnapshot, Manifest
    from vizctl.planning.details_cache import DetailsCache
    from vizctl.planning.plan import Plan
    from vizctl.planning.planner import PlanOptions

SIM_STATE_PATH = os.path.join(".vizctl", "sim-state.json")
SIM_PROJECT_ID = "sim-project"
SIM_TOKEN = "sim-token"
SIM_ENDPOINT_LABEL = "sim"
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_COMMAND_TIMEOUT = 900.0  # --timeout: every command that talks to the API ends within it
DEFAULT_MAX_RPS = None  # no fixed cap: the API documents none; its 429s slow the client down (retry.RateLimiter)
DEFAULT_PARALLELISM = 32  # requests at once: 32 / 20 ms = 1,600 a second at most; see docs/failure-behaviour.md "Speed and flow control"


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


def details_cache(args: argparse.Namespace, env: Environment, target: Target) -> DetailsCache | None:
    """The details cache of this endpoint and project, unless ``--no-cache`` or no cache directory is known."""
    from vizctl.planning.details_cache import DetailsCache, cache_path

    path = None if args.no_cache else cache_path(env)
    return None if path is None else DetailsCache(path, target.endpoint_label, target.project_id, lambda message: env.err(f"vizctl: {message}"))


def plan_live(args: argparse.Namespace, env: Environment, target: Target, manifest: Manifest,
              options: PlanOptions | None = None) -> tuple[Plan, LiveSnapshot]:
    """``manifest`` planned against one read of the live jobs (details through the cache), saying where it was read."""
    from vizctl.planning.manager import make_plan

    options = plan_options(args) if options is None else options
    plan, live = make_plan(target.client, manifest, options, args.parallelism, details_cache(args, env, target))
    return read_at(plan, target), live


def read_at(plan: Plan, target: Target) -> Plan:
    """The plan, saying where its live jobs were read (shown in every output; never a credential)."""
    return replace(plan, endpoint=target.endpoint_label, project_id=target.project_id)
