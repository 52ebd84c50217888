"""``vizctl reconcile``: check the manifests against the live jobs every interval; alert, expose metrics, heal.

The loop is :mod:`vizctl.reconcile`; this module is its command line: the
flags, the connection, the signals (SIGTERM and Ctrl-C finish the check in
flight and exit 0), and ``--once``, which exits like ``plan --detailed-exitcode``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from typing import Iterator

from vizctl.cli_parser import checked, duration, lag
from vizctl.session import connect, declared_manifest, details_cache, plan_options
from vizctl.environment import Environment
from vizctl.errors import ExitStatus, PlanError, UsageError
from vizctl.model import DEFAULT_LIST_LAG
from vizctl.wording import plural

DEFAULT_INTERVAL = 300.0
DEFAULT_CHECK_TIMEOUT = 300.0
STOP_GRACE = 9.0  # seconds from SIGTERM to exit 0, even if a request in flight has not finished
ALERT_GRACE = 3.0  # seconds to deliver the alerts still queued at exit
ENV = (f"{'webhooks:':<32}VIZCTL_WEBHOOK_URL VIZCTL_SLACK_WEBHOOK_URL (a webhook URL is a secret: never printed)",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``reconcile`` (the manifests, connection and --target flags come from the parent parsers)."""
    loop = parser.add_argument_group("loop")
    loop.add_argument("--interval", type=duration, default=DEFAULT_INTERVAL, metavar="DURATION", help="time between checks (default 5m)")
    loop.add_argument("--jitter", type=_fraction, default=0.1, metavar="FRACTION",
                      help="each wait is the interval give or take this fraction of it (default %(default)s)")
    loop.add_argument("--once", action="store_true", help="one check, then exit like `plan --detailed-exitcode`: 0 in sync, 2 drifted, 1 error")
    loop.add_argument("--max-checks", type=_whole, metavar="N", help="stop after N checks (exit 0)")
    loop.add_argument("--timeout", type=duration, default=DEFAULT_CHECK_TIMEOUT, metavar="DURATION",
                      help="end each check within this long, its reads, retries and healing included (default 5m)")
    heal = parser.add_argument_group("healing")
    heal.add_argument("--heal", action="store_true", help="carry out what apply would (create, update, restart, replace where the manifest says so)")
    heal.add_argument("--prune", action="store_true",
                      help="also check, and with --heal delete, undeclared jobs in a manifest's prune scope (within its limits; never forced)")
    heal.add_argument("--suspend", action="store_true", help="report drift, heal nothing (the metrics say suspended)")
    heal.add_argument("--suspend-file", metavar="PATH", help="heal nothing while PATH exists (touch it to pause, remove it to resume)")
    heal.add_argument("--list-lag", type=lag, default=DEFAULT_LIST_LAG, metavar="DURATION",
                      help="how long the list may take to show a new job (as for apply; default %(default)ss)")
    alerts = parser.add_argument_group("alerts and metrics")
    alerts.add_argument("--webhook", action="append", default=[], metavar="URL", help="POST each alert as JSON to URL (repeatable; env VIZCTL_WEBHOOK_URL)")
    alerts.add_argument("--slack-webhook", action="append", default=[], metavar="URL",
                        help="post each alert to a Slack-compatible incoming webhook (repeatable; env VIZCTL_SLACK_WEBHOOK_URL)")
    alerts.add_argument("--alert-after", type=_whole, default=1, metavar="N", help="alert drift after N drifted checks in a row (default 1)")
    alerts.add_argument("--metrics-addr", metavar="HOST:PORT", help="serve /metrics, /healthz and /readyz here, e.g. :9090")


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    from vizctl.reconcile.alerts import Notifier, webhooks
    from vizctl.reconcile.loop import ManifestSource, Reconciler, Settings
    from vizctl.reconcile.metrics import CountingRateLimiter, Metrics, MetricsServer, listen_address

    paths = [*(args.files or []), *args.paths]
    if "-" in paths:
        raise UsageError("reconcile reads the manifests again at every check, and standard input (-) reads only once: pass files or directories")
    hooks = webhooks([*args.webhook, *_env_list(env, "VIZCTL_WEBHOOK_URL")], [*args.slack_webhook, *_env_list(env, "VIZCTL_SLACK_WEBHOOK_URL")])
    for hook in hooks:
        for secret in hook.secrets():
            env.add_secret(secret)
    address = listen_address(args.metrics_addr) if args.metrics_addr else None
    source = ManifestSource(paths, env.environ, declared_manifest(args, env))
    settings = Settings(
        interval=args.interval, jitter=args.jitter, heal=args.heal, suspend=args.suspend, suspend_file=args.suspend_file,
        alert_after=args.alert_after, options=plan_options(args), parallelism=args.parallelism, list_lag=args.list_lag, timeout=args.timeout, once=args.once,
    )
    metrics = Metrics(args.interval)
    stop = threading.Event()
    with connect(args, env, args.parallelism) as target:
        target.client.rate_limiter = CountingRateLimiter(args.max_rps, metrics.throttled)
        target.client.cancel = stop  # a retry's wait ends at SIGTERM
        server = MetricsServer(metrics, address, args.request_timeout) if address else None
        notifier = Notifier(hooks, log=lambda message: env.err(f"vizctl: {message}"), delivered=metrics.alert_delivered)
        reconciler = Reconciler(target, source, settings, env, metrics, notifier, details_cache(args, env, target), stop)
        try:
            if args.once:
                return _once_status(reconciler.run_once())
            mode = "healing" if args.heal else "detect only"
            where = f"; metrics on http://{address[0]}:{server.port}/metrics" if server else ""
            env.err(f"vizctl: reconciling {plural(len(source.good.jobs), 'declared job')} every {args.interval:g}s ({mode}){where}")
            with _stopped_by_signals(stop, env):
                reconciler.run(args.max_checks)
            return ExitStatus.OK
        finally:
            notifier.close(ALERT_GRACE)
            if server is not None:
                server.close()


def _once_status(check) -> ExitStatus:
    """``--once`` exits like ``plan --detailed-exitcode``; a failed read or a plan with errors is its error."""
    from vizctl.reconcile.state import Sync

    if check.state is Sync.FAILED:
        raise check.error if check.plan is None else PlanError(str(check.error))
    return ExitStatus.CHANGES if check.state is Sync.DRIFTED else ExitStatus.OK


@contextlib.contextmanager
def _stopped_by_signals(stop: threading.Event, env: Environment) -> Iterator[None]:
    """SIGTERM or Ctrl-C: finish the check in flight and exit 0 (within STOP_GRACE seconds whatever it waits for);
    a second one exits at once. Only the main thread can have signal handlers (a test runs the loop on another)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):
        if stop.is_set():
            os._exit(int(ExitStatus.INTERRUPTED))
        stop.set()
        env.err("vizctl: stopping: finishing the check in flight (again to quit at once)")
        deadline = threading.Timer(STOP_GRACE, lambda: os._exit(int(ExitStatus.OK)))
        deadline.daemon = True
        deadline.start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    env.err("vizctl: stopped")


def _env_list(env: Environment, name: str) -> list[str]:
    value = env.getenv(name)
    return [value] if value else []


def _fraction(text: str) -> float:
    return checked(float, text, "a number", lambda v: 0 <= v < 1, "must be from 0 to below 1")


def _whole(text: str) -> int:
    return checked(int, text, "a whole number", lambda v: v >= 1, "must be 1 or more")
