"""The simulator's HTTP front: routing, auth, fault injection and the ``/__sim__/`` admin endpoints.

API requests (``/v1/{project_id}/visualization-jobs...``) go through, in order:
latency, authentication, the ``max_rps`` throttle, one draw among the faults
that leave nothing done (429, 5xx, dropped connection, HTML 200, ``is_success:
false`` with 200, HTML 502), for a list one draw among the list's lies (no
``jobs`` key, a short ``job_total_count``, a page shifted by a concurrent
delete), the operation itself (:class:`~vizctl.sim.state.SimState`), for
mutations a possible lost response, and one draw among the damages to a done
operation's answer (cut JSON, retyped numbers, null fields). Each draw happens
only when one of its rates is set, so seeded runs keep their fault sequence.
Admin requests skip all of that and are not counted in :attr:`SimServer.stats`.
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import json
import math
import random
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from vizctl.sim.config import SimConfig
from vizctl.sim.iam import SimIam
from vizctl.sim.state import SimApiError, SimState

MAX_BODY = 12 * 1024 * 1024  # the gateway refuses bodies over 12 MB
_DEFAULT_LIMIT_SHOWN = 100  # "limit:N" in a random 429 when no max_rps is set
# (method, number of path parts after "visualization-jobs", action) -> route name
_ROUTES = {
    ("POST", 0, None): "create",
    ("GET", 0, None): "list",
    ("GET", 1, None): "detail",
    ("PUT", 1, None): "update",
    ("DELETE", 1, None): "delete",
    ("POST", 2, "stop"): "stop",
    ("POST", 2, "restart"): "restart",
}
_MUTATIONS = {"create", "update", "delete", "stop", "restart"}


class _Drop(Exception):
    """Close the connection without answering."""


class _BadBody(Exception):
    """A request body that cannot be read: answered ``status`` and the connection closed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class SimServer:
    """The simulated ModelArts visualization-job API over HTTP, on a thread or in the foreground.

    Give a ``state`` to share one (and its clock) with the test, or a
    ``state_path`` to persist jobs across instances; the config is the state's.
    ``verbose`` logs each request and any handler traceback to stderr.
    """

    def __init__(self, config: SimConfig | None = None, *, state: SimState | None = None,
                 state_path=None, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        if state is not None and (state_path is not None or config not in (None, state.config)):
            raise ValueError("pass either a state, or a config and state_path")
        self.state = state if state is not None else SimState(config or SimConfig(), state_path)
        self.config = self.state.config
        self.iam = SimIam(self.config)
        self.verbose = verbose
        self.stats: collections.Counter = collections.Counter()
        self.most_at_once = 0  # the most API requests waiting out their latency at the same time (sent together?)
        self._at_once = 0
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._window: collections.deque[float] = collections.deque()
        self._thread: threading.Thread | None = None
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sim = self
        self.url = f"http://{host}:{self._httpd.server_address[1]}"

    def start(self) -> "SimServer":
        """Serve on a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=f"vizctl-sim {self.url}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (after :meth:`start`) and close the listening socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (``vizctl sim serve``)."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd.server_close()

    def __enter__(self) -> "SimServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- used by the request handler ---------------------------------------------

    def count(self, key: str) -> None:
        """Add one to a stats counter."""
        with self._lock:
            self.stats[key] += 1

    def stats_snapshot(self) -> dict[str, int]:
        """A copy of the counters."""
        with self._lock:
            return dict(self.stats)

    def reset_stats(self) -> None:
        """Zero all counters (the Counter object stays the same) and :attr:`most_at_once`."""
        with self._lock:
            self.stats.clear()
            self.most_at_once = 0

    @contextlib.contextmanager
    def serving(self):
        """Count a request as being served for the ``with`` block (for :attr:`most_at_once`)."""
        with self._lock:
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            yield
        finally:
            with self._lock:
                self._at_once -= 1

    def over_rate(self) -> bool:
        """True when this request exceeds max_rps over the last second; else it is counted in the window."""
        limit = self.config.max_rps
        if limit is None:
            return False
        now = time.monotonic()
        with self._lock:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= limit:
                return True
            self._window.append(now)
            return False

    def draw(self) -> float:
        """A uniform random number in [0, 1) from the seeded fault RNG."""
        with self._lock:
            return self._rng.random()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # clients open 10-50 connections at once
    sim: SimServer

    def handle_error(self, request, client_address) -> None:
        # Only connection-level errors get here (a client went away); stay quiet.
        if self.sim.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go in two writes: without this the body waits for a delayed ACK
    protocol_version = "HTTP/1.1"
    server_version = "vizctl-sim"
    sys_version = ""
    server: _HTTPServer

    def do_GET(self) -> None:
        self._answered = False
        try:
            self._dispatch()
        except _Drop:
            self.close_connection = True
        except (ConnectionError, TimeoutError):
            raise  # the client went away: nothing to answer
        except Exception:  # a simulator bug: the service's internal error, never a dropped connection
            if self.server.sim.verbose:
                traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            if not self._answered:
                self._send(500, _INTERNAL_ERROR)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sim.verbose:
            super().log_message(format, *args)

    # -- dispatch ------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            raw = self._body()
        except _BadBody as refused:
            self.close_connection = True  # what is left of the body would be read as the next request
            self._send(refused.status, {"error_code": "APIG.0201", "error_msg": str(refused)})
            return
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if parts[0] == "__sim__":
            self._admin("/".join(parts[1:]), query, raw)
            return
        if parts[0] in ("v3", "meta-data", "openstack"):
            self._identity("/".join(parts), query, raw)
            return
        route = _route(self.command, parts)
        if route is None:
            self._send(404, {"error_code": "APIG.0101",
                             "error_msg": "The API does not exist or has not been published in the environment"})
            return
        self._api(route, parts, query, raw)

    def _body(self) -> bytes:
        """The request body, by Content-Length or chunked; _BadBody when it cannot be read as either."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked_body()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise _BadBody(400, "Bad Content-Length")
        if length > MAX_BODY:
            raise _BadBody(413, "Request entity too large")
        return self.rfile.read(length) if length else b""

    def _chunked_body(self) -> bytes:
        body = bytearray()
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";")[0], 16)
            except ValueError:
                raise _BadBody(400, "Bad chunked body") from None
            if size < 0:
                raise _BadBody(400, "Bad chunked body")
            if len(body) + size > MAX_BODY:
                raise _BadBody(413, "Request entity too large")
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers, up to the empty line
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _api(self, route: str, parts: list[str], query: dict[str, str], raw: bytes) -> None:
        sim = self.server.sim
        cfg = sim.config
        sim.count(f"{self.command} {route}")
        if cfg.latency:
            with sim.serving():  # not while answering: a request sent after this one's answer never overlaps it
                time.sleep(cfg.latency)
        refused = sim.iam.check(self.command, self.path, self.headers, raw)
        if refused is not None:
            self._send(*refused)
            return
        if sim.over_rate():
            self._fault("max_rps")
            self._throttle(cfg.max_rps)
            return
        fault = _pick(sim, (("429", cfg.rate_429), ("5xx", cfg.rate_5xx), ("drop", cfg.rate_drop),
                            ("html_200", cfg.rate_html_200), ("false_200", cfg.rate_false_200),
                            ("html_502", cfg.rate_html_502)))
        if fault is not None:
            self._fault(fault)
        if fault == "429":
            self._throttle(cfg.max_rps or _DEFAULT_LIMIT_SHOWN)
            return
        if fault == "drop":
            raise _Drop
        if fault is not None:
            self._send_raw(*self._broken_answer(fault))
            return
        lie = None
        if route == "list":
            lie = _pick(sim, (("no_jobs_key", cfg.rate_no_jobs_key), ("short_total", cfg.rate_short_total),
                              ("list_shift", cfg.rate_list_shift)))
        status, body = self._operate(route, parts[1], parts[3] if len(parts) > 3 else "", query, raw, lie)
        if route in _MUTATIONS and cfg.rate_lost_response and sim.draw() < cfg.rate_lost_response:
            self._fault("lost_response")
            raise _Drop
        damage = None
        if status == 200:
            damage = _pick(sim, (("truncated", cfg.rate_truncated), ("retyped", cfg.rate_retyped),
                                 ("null_fields", cfg.rate_null_fields)))
        if damage is not None:
            self._fault(damage)
        if damage == "truncated":
            data = json.dumps(body).encode()
            self._send_raw(200, data[:len(data) // 2], _JSON)
            return
        self._send(status, _damaged(body, damage))

    def _broken_answer(self, fault: str) -> tuple[int, bytes, str]:
        """Status, body and content type of a fault that leaves nothing done."""
        if fault in ("5xx", "false_200"):
            return 500 if fault == "5xx" else 200, json.dumps(_INTERNAL_ERROR).encode(), _JSON
        if fault == "html_200":
            return 200, _PORTAL_PAGE.format(token=self.headers.get("X-Auth-Token", "")).encode(), "text/html"
        return 502, _BAD_GATEWAY_PAGE.encode(), "text/html"

    def _operate(self, route: str, project_id: str, job_id: str, query: dict[str, str],
                 raw: bytes, lie: str | None = None) -> tuple[int, dict[str, Any]]:
        state = self.server.sim.state
        try:
            if route == "list":
                if lie is not None:
                    self._fault(lie)
                answer = state.list_jobs(project_id, query, lie=lie if lie != "no_jobs_key" else None)
                if lie == "no_jobs_key":
                    del answer["jobs"]
                return 200, answer
            if route == "detail":
                return 200, state.get_job(project_id, job_id)
            if route in ("create", "update"):
                try:
                    body = _parse_json(raw)
                except ValueError:
                    raise SimApiError(400, "ModelArts.0101", "The request body is not valid JSON") from None
                if route == "create":
                    return 200, state.create_job(project_id, body)
                return 200, state.update_job(project_id, job_id, body)
            operation = {"delete": state.delete_job, "stop": state.stop_job, "restart": state.restart_job}[route]
            return 200, operation(project_id, job_id)
        except SimApiError as exc:
            self.server.sim.count(f"answer {exc.error_code}")
            body = exc.body()
            body[self.server.sim.config.error_message_key] = body.pop("error_message")
            return exc.http_status, body
        except Exception as exc:  # a simulator bug: answer like the service's internal error
            if self.server.sim.verbose:
                traceback.print_exc(file=sys.stderr)
            return 500, {"is_success": False, "error_code": "ModelArts.0010", "error_message": f"Internal error: {exc}"}

    def _identity(self, path: str, query: dict[str, str], raw: bytes) -> None:
        """IAM (``/v3/auth/tokens``, ``/v3/projects``) and ECS metadata, served beside the API."""
        sim = self.server.sim
        key = (self.command, path)
        sim.count(f"{self.command} {path}")
        if key == ("POST", "v3/auth/tokens"):
            try:
                body = _parse_json(raw)
            except ValueError:
                body = None
            self._send(*sim.iam.issue_token(body))
        elif key == ("GET", "v3/projects"):
            self._send(*(sim.iam.check(self.command, self.path, self.headers, raw) or sim.iam.list_projects(query)))
        elif key == ("PUT", "meta-data/latest/api/token"):
            self._send(*sim.iam.metadata_session())
        elif key == ("GET", "openstack/latest/securitykey"):
            self._send(*sim.iam.security_key())
        else:
            self._send(404, {"error_code": "APIG.0101", "error_msg": "The API does not exist or has not been published in the environment"})

    def _throttle(self, limit: float) -> None:
        cfg = self.server.sim.config
        headers = {
            "seconds": {"Retry-After": f"{cfg.retry_after:g}"},
            # an HTTP date has whole seconds: round up, so the wait is never shorter than asked
            "http-date": {"Retry-After": email.utils.formatdate(time.time() + math.ceil(cfg.retry_after), usegmt=True)},
        }.get(cfg.retry_after_format, {})
        self._send(429, {
            "error_code": "APIG.0308",
            "error_msg": f"The throttling threshold has been reached: policy user over ratelimit, "
                         f"limit:{limit:g}, time:1 second",
            "request_id": uuid.uuid4().hex,
        }, headers)

    def _fault(self, kind: str) -> None:
        self.server.sim.count("faults")
        self.server.sim.count(f"faults.{kind}")

    # -- admin ---------------------------------------------------------------------

    def _admin(self, path: str, query: dict[str, str], raw: bytes) -> None:
        sim = self.server.sim
        try:
            body = _parse_json(raw, empty={})
        except ValueError:
            self._send(400, {"error": "the body is not valid JSON"})
            return
        key = (self.command, path)
        try:
            if key == ("GET", "health"):
                answer = {"status": "ok", "url": sim.url}
            elif key == ("GET", "stats"):
                answer = sim.stats_snapshot()
            elif key == ("POST", "stats/reset"):
                sim.reset_stats()
                answer = {"status": "ok"}
            elif key == ("GET", "config"):
                answer = sim.config.to_dict()
            elif key == ("POST", "config"):
                if not isinstance(body, dict):
                    raise ValueError("the body must be an object of settings")
                sim.config.update(body)
                answer = sim.config.to_dict()
            elif key == ("POST", "expire-tokens"):
                answer = {"expired": sim.iam.expire_tokens()}
            elif key == ("POST", "seed"):
                if not query.get("project_id") or not isinstance(body, dict):
                    raise ValueError('needs ?project_id=P and a body {"jobs": [...]}')
                answer = {"jobs": sim.state.seed_jobs(query["project_id"], body.get("jobs"))}
            elif key == ("POST", "fail"):
                if not isinstance(body, dict) or not {"project_id", "job_id", "status"} <= body.keys():
                    raise ValueError('needs a body {"project_id", "job_id", "status"}')
                sim.state.set_fail(str(body["project_id"]), body["job_id"], body["status"])
                answer = {"status": "ok"}
            else:
                self._send(404, {"error": f"no admin endpoint {self.command} /__sim__/{path}"})
                return
        except SimApiError as exc:
            self._send(exc.http_status, {"error": exc.message, "error_code": exc.error_code})
            return
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, answer)

    # -- output --------------------------------------------------------------------

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        text = isinstance(body, str)  # the metadata session token is plain text
        self._send_raw(status, body.encode() if text else json.dumps(body).encode(), "text/plain" if text else _JSON, headers)

    def _send_raw(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self._answered = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


_JSON = "application/json;charset=UTF-8"
_INTERNAL_ERROR = {"is_success": False, "error_code": "ModelArts.0010", "error_message": "Internal error, please try again later"}
_PORTAL_PAGE = """<!DOCTYPE html><html><head><title>Access portal</title></head><body>
<h1>Your request was held for inspection</h1><p>Please sign in to continue.</p>
<pre>X-Auth-Token: {token}</pre></body></html>"""
_BAD_GATEWAY_PAGE = """<html><head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"""
_NUMBER_KEYS = ("job_id", "status", "create_time", "duration", "job_total_count", "job_count_limit", "quotas")
_OPTIONAL_KEYS = ("job_desc", "service_url", "create_time", "duration", "resource_id", "remaining_duration")


def _parse_json(raw: bytes, empty: Any = None) -> Any:
    """A request body's JSON (``empty`` when there is none); ValueError for one that is not JSON or too deep to parse."""
    if not raw:
        return empty
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("the body is nested too deeply") from None


def _pick(sim: SimServer, rates: tuple[tuple[str, float], ...]) -> str | None:
    """One draw among faults with these rates (tried in order), or None; no draw when all are 0."""
    if not any(rate for _, rate in rates):
        return None
    u = sim.draw()
    for kind, rate in rates:
        if u < rate:
            return kind
        u -= rate
    return None


def _damaged(body: Any, damage: str | None) -> Any:
    """A done operation's answer with ``damage`` ("retyped", "null_fields") applied to it and its jobs."""
    if damage is None or not isinstance(body, dict):
        return body
    jobs = body.get("jobs") if isinstance(body.get("jobs"), list) else [body] if "job_id" in body else []
    changed = {**body, "jobs": [dict(j) for j in jobs]} if "jobs" in body else dict(body)
    for record in [changed, *(changed["jobs"] if "jobs" in changed else [])]:
        if damage == "retyped":
            _retype(record, _NUMBER_KEYS)
            schedule = record.get("schedule")  # its duration too, in either shape the details take
            copies = [dict(s) for s in (schedule if isinstance(schedule, list) else [schedule]) if isinstance(s, dict)]
            for copy in copies:
                _retype(copy, ("duration",))
            if copies:
                record["schedule"] = copies if isinstance(schedule, list) else copies[0]
        elif damage == "null_fields" and "job_id" in record:
            record.update({key: None for key in _OPTIONAL_KEYS if key in record})
    return changed


def _retype(record: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Numbers of ``keys`` in ``record`` as strings, digit strings as numbers."""
    for key in keys:
        value = record.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            record[key] = str(value)
        elif isinstance(value, str) and value.isdigit():
            record[key] = int(value)


def _route(method: str, parts: list[str]) -> str | None:
    """The API route name for a request path split on "/", or None."""
    if len(parts) < 3 or parts[0] != "v1" or not parts[1] or parts[2] != "visualization-jobs":
        return None
    rest = parts[3:]
    if any(not p for p in rest):
        return None
    return _ROUTES.get((method, len(rest), rest[1] if len(rest) == 2 else None))
