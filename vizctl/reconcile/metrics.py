"""Prometheus metrics of the reconcile loop (with ``prometheus_client``), served with ``/healthz`` and ``/readyz``.

Names follow Flux's ``gotk_*`` and Argo CD's ``argocd_app_*``: a
``vizctl_`` prefix, ``_total`` counters, ``_seconds`` units, and one
``vizctl_job_info`` series per declared job whose labels say its state.
Each :class:`Metrics` has a registry of its own (no process-wide state).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from vizctl.errors import ConfigError, UsageError
from vizctl.planning.plan import Plan
from vizctl.reconcile.state import Sync, job_sync
from vizctl.api.retry import RateLimiter

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """Every metric of one reconcile loop, and the facts ``/healthz`` and ``/readyz`` answer from."""

    def __init__(self, interval: float):
        self.registry = CollectorRegistry()
        r = self.registry
        self.job_info = JobInfo()
        r.register(self.job_info)
        self.reconciles = Counter("vizctl_reconcile_total", "Reconcile checks, by what they found.", ["result"], registry=r)
        self.errors = Counter("vizctl_reconcile_errors_total", "Checks that failed, by cause: api, plan or manifests.", ["kind"], registry=r)
        self.duration = Histogram("vizctl_reconcile_duration_seconds", "Time of one check, healing included.",
                                  buckets=DURATION_BUCKETS, registry=r)
        self.last_success = Gauge("vizctl_reconcile_last_success_timestamp_seconds",
                                  "When a check last read the live jobs and planned without error (Unix time).", registry=r)
        self.drifted = Gauge("vizctl_drifted_jobs", "Declared jobs (and jobs to prune) not as declared at the last check.", registry=r)
        self.api_calls = Counter("vizctl_api_requests_total", "ModelArts API requests sent, retries included, by operation.",
                                 ["operation"], registry=r)
        self.throttled = Counter("vizctl_api_throttled_total", "API answers refusing a request for flow control (429 / APIG.0308).", registry=r)
        self.heals = Counter("vizctl_heal_actions_total", "Changes healing carried out, by action and outcome.", ["action", "outcome"], registry=r)
        self.suspended = Gauge("vizctl_reconcile_suspended", "1 while healing is suspended (--suspend, --suspend-file).", registry=r)
        self.manifests_valid = Gauge("vizctl_manifests_valid", "0 while the manifests on disk do not validate (the last good set is used).",
                                     registry=r)
        self.alerts = Counter("vizctl_alerts_total", "Alert deliveries, by webhook kind and result (sent, failed).", ["kind", "result"], registry=r)
        self.manifests_valid.set(1)
        self.interval = interval
        self.ready = False
        self._beat = time.monotonic()

    def started_check(self) -> None:
        """A check begins: the loop is alive (``/healthz``)."""
        self._beat = time.monotonic()

    def healthy(self, request_timeout: float) -> bool:
        """Has a check begun recently: within three intervals plus the time one slow request may take?"""
        return time.monotonic() - self._beat < 3 * self.interval + 6 * request_timeout

    def record_plan(self, plan: Plan) -> None:
        """One series per job of a plan read without error; the jobs of earlier checks are forgotten."""
        rows = tuple((change.job_name, change.status_name or "MISSING", job_sync(change)) for change in plan.changes)
        self.job_info.rows = rows  # swapped whole: a scrape sees one check's jobs, never half of two
        self.drifted.set(sum(1 for *_, sync in rows if sync == "drifted"))
        self.last_success.set(time.time())
        self.ready = True

    def record_check(self, state: Sync, seconds: float) -> None:
        self.reconciles.labels(state.value).inc()
        self.duration.observe(seconds)

    def record_calls(self, calls: dict[str, int]) -> None:
        """API requests sent since the last call (by operation)."""
        for operation, count in calls.items():
            if count:
                self.api_calls.labels(operation).inc(count)

    def alert_delivered(self, kind: str, ok: bool) -> None:
        self.alerts.labels(kind, "sent" if ok else "failed").inc()

    def page(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)


class JobInfo:
    """``vizctl_job_info{job_name,status,sync}``: one series per job of the last good check (value 1)."""

    def __init__(self):
        self.rows: tuple[tuple[str, str, str], ...] = ()

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]

    def collect(self) -> list[GaugeMetricFamily]:
        family = self._family()
        for row in self.rows:
            family.add_metric(row, 1)
        return [family]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily("vizctl_job_info", "A declared job: its live status and whether it is as declared (always 1).",
                                 labels=["job_name", "status", "sync"])


class CountingRateLimiter(RateLimiter):
    """The client's rate limiter, also counting the throttled answers it is told of (``vizctl_api_throttled_total``)."""

    def __init__(self, rate: float | None, counter: Counter):
        super().__init__(rate)
        self.counter = counter

    def throttled(self, limit: float | None = None) -> None:
        self.counter.inc()
        super().throttled(limit)


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:9090`` listens on every interface; port 0 picks a free one)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--metrics-addr must be HOST:PORT, e.g. 127.0.0.1:9090 or :9090, not {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class MetricsServer:
    """``/metrics``, ``/healthz`` (the loop is alive) and ``/readyz`` (a check succeeded) over HTTP, on a daemon thread."""

    def __init__(self, metrics: Metrics, address: tuple[str, int], request_timeout: float):
        routes = {
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, metrics.page()),
            "/healthz": lambda: _probe(metrics.healthy(request_timeout), "ok", "no check began recently"),
            "/readyz": lambda: _probe(metrics.ready, "ready", "no check has read the live jobs yet"),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                route = routes.get(self.path.split("?", 1)[0])
                status, kind, body = route() if route else (404, "text/plain; charset=utf-8", b"not found: /metrics, /healthz, /readyz\n")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # scrapes are not worth a log line
                pass

        server = type("Server", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6 if ":" in address[0] else socket.AF_INET})
        try:
            self._httpd = server(address, Handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {address[0]}:{address[1]}: {exc.strerror or exc}") from None
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="vizctl-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _probe(ok: bool, yes: str, no: str) -> tuple[int, str, bytes]:
    return (200 if ok else 503), "text/plain; charset=utf-8", f"{yes if ok else no}\n".encode()


def deltas(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """What each counter of ``now`` gained since ``before``."""
    return {key: value - before.get(key, 0) for key, value in now.items()}


