"""The ModelArts visualization-job API client.

It speaks JSON over a :class:`~vizctl.transport.Transport`, signs each request
with an :class:`~vizctl.auth.Auth`, retries reads under a
:class:`~vizctl.retry.RetryPolicy`, keeps under a client-side rate limit, turns
error answers into the :mod:`vizctl.errors` tree and normalises both documented
readings of a job (ids, statuses and times as numbers or as strings).
"""

from __future__ import annotations

import collections
import email.utils
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import quote

from vizctl.auth import Auth
from vizctl.errors import (
    ApiError,
    ApiResponseError,
    AuthError,
    ProtocolError,
    ServerError,
    ThrottledError,
)
from vizctl.model import LiveJob, LiveSnapshot
from vizctl.retry import RateLimiter, RetryPolicy, gateway_limit
from vizctl.transport import Request, RequestsTransport, Response, Transport

MAX_PER_PAGE = 1000
DEFAULT_TIMEOUT = 30.0
THROTTLE_CODES = {"APIG.0308"}
DEFAULT_RETRY = RetryPolicy()
LISTED_KEYS = ("job_id", "job_name", "status", "job_desc", "train_url", "create_time", "service_url", "duration")


@dataclass(frozen=True)
class ListPage:
    """One page of the list API."""

    jobs: tuple[LiveJob, ...]
    total: int
    job_count_limit: int | None
    quotas: int | None


class ModelArtsClient:
    """Calls the visualization-job API of one project.

    ``calls`` counts the requests sent, by operation (``list``, ``create`` ...),
    retries included, so that benchmarks and tests can assert on API cost.
    """

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        auth: Auth,
        transport: Transport | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        rate_limiter: RateLimiter | None = None,
        log: Callable[[str], None] = lambda message: None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = f"{endpoint.rstrip('/')}/v1/{quote(project_id, safe='')}/visualization-jobs"
        self.auth = auth
        self.transport = transport or RequestsTransport()
        self.timeout = timeout
        self.retry = retry
        self.rate_limiter = rate_limiter
        self.log = log
        self.sleep = sleep
        self.calls: collections.Counter[str] = collections.Counter()
        self._calls_lock = threading.Lock()

    # -- reads -------------------------------------------------------------

    def list_page(self, page: int = 1, per_page: int = MAX_PER_PAGE, *, order: str = "asc", search: str | None = None) -> ListPage:
        """One page of jobs sorted by job_id. ``search`` narrows by substring; it is not exact."""
        params = [("per_page", str(per_page)), ("page", str(page)), ("sortBy", "job_id"), ("order", order)]
        if search is not None:
            params.append(("search_content", search))
        data = self._call("list", "GET", "", params=params, idempotent=True)
        jobs = data.get("jobs") or []
        if not isinstance(jobs, list):
            raise ProtocolError("the list answer's 'jobs' is not a list")
        return ListPage(
            jobs=tuple(parse_job(job, keep_extra=False) for job in jobs),
            total=_as_int(data.get("job_total_count"), default=len(jobs)),
            job_count_limit=_as_int(data.get("job_count_limit")),
            quotas=_as_int(data.get("quotas")),
        )

    def list_all(self, *, search: str | None = None) -> LiveSnapshot:
        """Every job of the project: the first page, then the other pages at once.

        The page size is whatever the server really returned (the SDK page
        documents at most 100), so a server that clamps ``per_page`` still
        yields every job. Jobs are de-duplicated by id in case the list moved
        between pages.
        """
        first = self.list_page(1, search=search)
        calls = 1
        pages = [first]
        size = len(first.jobs)
        if size and first.total > size:
            remaining = range(2, -(-first.total // size) + 1)
            with ThreadPoolExecutor(max_workers=min(4, len(remaining))) as pool:
                pages += pool.map(lambda p: self.list_page(p, search=search), remaining)
            calls += len(remaining)
            while len(pages[-1].jobs) == size and sum(len(p.jobs) for p in pages) < first.total:
                pages.append(self.list_page(len(pages) + 1, search=search))  # the list grew meanwhile
                calls += 1
        return LiveSnapshot(
            jobs=_unique(job for page in pages for job in page.jobs),
            job_count_limit=first.job_count_limit,
            quotas=first.quotas,
            list_calls=calls,
        )

    def list_newest(self, job_ids: Iterable[str]) -> LiveSnapshot:
        """The newest jobs, page by page (highest ids first), until every id in ``job_ids`` is seen.

        Waiting for freshly created jobs thus costs one list call per round,
        whatever the number of jobs. Ids that are never seen (a deleted job)
        make it read every page.
        """
        wanted = set(job_ids)
        seen: list[LiveJob] = []
        page_no = 1
        while True:
            page = self.list_page(page_no, order="desc")
            seen.extend(page.jobs)
            wanted -= {job.job_id for job in page.jobs}
            if not wanted or not page.jobs or len(seen) >= page.total:
                break
            page_no += 1
        return LiveSnapshot(jobs=_unique(seen), job_count_limit=page.job_count_limit, quotas=page.quotas, list_calls=page_no)

    def find_by_name(self, name: str) -> list[LiveJob]:
        """Live jobs named exactly ``name`` (``search_content`` narrows; the exact match is ours)."""
        return [job for job in self.list_all(search=name).jobs if job.job_name == name]

    def get_job(self, job_id: str) -> LiveJob:
        """The details of one job, including job_type, flavor and schedule when the API returns them."""
        return parse_job(self._call("detail", "GET", f"/{quote(job_id, safe='')}", idempotent=True))

    # -- mutations (never retried here) -------------------------------------

    def create_job(self, body: dict[str, Any]) -> LiveJob:
        """Create a job; answers its id, status and create time."""
        data = self._call("create", "POST", "", body=body)
        if data.get("job_id") in (None, ""):
            raise ProtocolError("the create answer has no job_id")
        return parse_job({"job_name": body.get("job_name", ""), "train_url": body.get("train_url", ""), **data})

    def update_job(self, job_id: str, job_desc: str) -> None:
        """Change a job's description (the only field the API updates in place)."""
        self._call("update", "PUT", f"/{quote(job_id, safe='')}", body={"job_desc": job_desc})

    def delete_job(self, job_id: str) -> None:
        self._call("delete", "DELETE", f"/{quote(job_id, safe='')}")

    def stop_job(self, job_id: str) -> None:
        self._call("stop", "POST", f"/{quote(job_id, safe='')}/stop")

    def restart_job(self, job_id: str) -> None:
        self._call("restart", "POST", f"/{quote(job_id, safe='')}/restart")

    # -- plumbing ------------------------------------------------------------

    def _call(self, op: str, method: str, path: str, *, params=(), body=None, idempotent: bool = False) -> dict[str, Any]:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        request = Request(method, self.base_url + path, tuple(params), payload, headers)
        attempt = 1
        while True:
            try:
                return self._send_once(op, request)
            except ApiError as error:
                if not (idempotent and self.retry.should_retry(error, attempt)):
                    raise
                wait = self.retry.delay(error, attempt)
                self.log(f"{method} {_short(request)}: {error}; retry {attempt} in {wait:.1f}s")
                self.sleep(wait)
                attempt += 1

    def _send_once(self, op: str, request: Request) -> dict[str, Any]:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()
        with self._calls_lock:
            self.calls[op] += 1
        started = time.monotonic()
        response = self.transport.send(self.auth.apply(request), self.timeout)
        self.log(f"{request.method} {_short(request)} -> {response.status} ({(time.monotonic() - started) * 1000:.0f} ms)")
        try:
            return parse_answer(response, request)
        except ThrottledError as error:
            if self.rate_limiter is not None:  # slow down every thread, not just this request's retry
                self.rate_limiter.throttled(gateway_limit(error.error_message))
            raise


def parse_answer(response: Response, request: Request) -> dict[str, Any]:
    """The JSON object of a success answer, or the right :class:`ApiError`."""
    try:
        data = json.loads(response.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if response.status >= 400:
            data = {}
        else:
            raise ProtocolError(f"the answer to {request.method} {_short(request)} is not a JSON object (HTTP {response.status})")
    if response.status < 400 and data.get("is_success", True) not in (False, "false"):
        return data
    code = data.get("error_code") or None
    message = str(data.get("error_message") or data.get("error_msg") or f"HTTP {response.status}")
    args = (response.status, code, message)
    where = {"method": request.method, "path": _short(request)}
    if response.status == 429 or code in THROTTLE_CODES:
        raise ThrottledError(*args, retry_after=_retry_after(response.headers.get("Retry-After")), **where)
    if response.status in (401, 403):
        raise AuthError(*args, **where)
    if response.status >= 500:
        raise ServerError(*args, **where)
    if response.status == 408:
        raise ServerError(*args, **where)  # may be retried unchanged, may have happened
    raise ApiResponseError(*args, **where)


def parse_job(data: dict[str, Any], *, keep_extra: bool = True) -> LiveJob:
    """A :class:`LiveJob` from a list item, details or create answer, whatever the number types.

    ``keep_extra=False`` drops the fields beyond the listed ones (a list item's
    ``resource_id``): nothing reads them, and a 100,000-job list is smaller without.
    """
    if not isinstance(data, dict):
        raise ProtocolError("a job in the answer is not an object")
    try:
        raw_id = data["job_id"]
        job_id = str(raw_id) if type(raw_id) is int else str(int(str(raw_id).strip()))
    except (KeyError, ValueError):
        raise ProtocolError(f"a job in the answer has no usable job_id: {data.get('job_id')!r}") from None
    return LiveJob(
        job_id=job_id,
        job_name=str(data.get("job_name") or ""),
        status=_as_int(data.get("status"), default=0),
        job_desc=str(data.get("job_desc") or ""),
        train_url=str(data.get("train_url") or ""),
        create_time=_as_int(data.get("create_time")),
        service_url=str(data.get("service_url") or ""),
        duration=_as_int(data.get("duration")),
        extra={k: v for k, v in data.items() if k not in LISTED_KEYS and k != "is_success"} if keep_extra else _NO_EXTRA,
    )


_NO_EXTRA: dict[str, Any] = {}  # shared by every job parsed without extra fields; never written to


def _as_int(value: Any, default: int | None = None) -> int | None:
    if type(value) is int:  # the common reading, 3x faster than through str()
        return value
    try:
        return int(str(value).strip()) if value not in (None, "") else default
    except ValueError:
        return default


def _unique(jobs: Iterable[LiveJob]) -> tuple[LiveJob, ...]:
    return tuple({job.job_id: job for job in jobs}.values())


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _short(request: Request) -> str:
    path = request.url.split("/v1/", 1)[-1]
    query = "&".join(f"{k}={v}" for k, v in request.params)
    return f"/v1/{path}" + (f"?{query}" if query else "")
