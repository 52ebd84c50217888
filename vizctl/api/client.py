"""The ModelArts visualization-job API client.

It speaks JSON over a :class:`~vizctl.api.transport.Transport`, signs each request
with an :class:`~vizctl.api.auth.Auth`, retries under a
:class:`~vizctl.api.retry.RetryPolicy`, keeps under a client-side rate limit, turns
error answers into the :mod:`vizctl.errors` tree and normalises both documented
readings of a job (ids, statuses and times as numbers or as strings).

Waiting. Every wait before a retry (throttling included, for changes too: a
429 means the request was not carried out) is announced through ``notice``,
ends early when ``cancel`` is set (Ctrl-C) and never ends after ``deadline``:
a retry that would be due later fails at once with :class:`DeadlineExceeded`.

Deadline. ``deadline`` (the command's ``--timeout``, see :meth:`ModelArtsClient.start_deadline`)
bounds every request too: each is sent with the request timeout or the time
left, whichever is less; one the rate limiter could send only later, or with
less than ``MIN_REQUEST_SECONDS`` left, is not sent; one whose answer does not
come in the time left fails with :class:`DeadlineExceeded` (not retried). The
message names what was being done, and says nothing was changed when no change
was sent.

Answers. An answer is the API's only if it is a JSON object that does not say
``is_success: false``. Anything else (a portal page with HTTP 200, cut JSON, a
job without id, name or status) is an error, never an empty or partial
result: a read is sent again, a change is settled by the caller reading the
list. Error messages name the request and the HTTP status and quote a short
snippet of the body with every credential value cut out.

Listing. The list API pages by offset, so a job deleted on an earlier page
while vizctl reads a later one shifts that page and hides a job, and a
gateway may answer a page without ``jobs`` or with a wrong
``job_total_count``. :meth:`ModelArtsClient.list_all` therefore reads the
pages in ascending ``job_id`` order (new jobs land at the end, where they
shift nothing) and, as a cross-check of the newest end, the newest 100 jobs
(page 1 in *descending* order, ``per_page`` 100: valid in either reading of
the documents), and accepts the read only when it is whole: every page carries
the same ``job_total_count``, every page but the last is full, no job shows
twice, the jobs add up to the total, and the newest jobs are ones already
read. Otherwise it reads again what disagrees (the pages whose total loses
the vote, or everything when no total wins or the same pages disagree twice,
as a real change makes them), up to ``LIST_READS`` times, then fails with
:class:`InconsistentList` rather than plan on a partial list. The
cross-check is asked together with page 1, and so are the other pages when
the last whole read told how many there were (remembered by the client and
in the cache directory, :class:`~vizctl.planning.details_cache.ListMemory`), else as
soon as page 1 tells the total: it costs one request per listing and no
round trip of its own, and a list as long as last time is one round trip
(until the API has accepted an AK/SK signature, page 1 goes alone: every
rejected signature counts towards the key's lock). It is what
catches a total that claims the last page early (or a list that misses
everything) even when no second page would be read: the jobs such a read
misses are the newest. What it cannot see: a delete and a create landing
between the same two page reads, which leave every count intact (docs/failure-behaviour.md,
"What vizctl assumes about the API").
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import json
import math
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar
from urllib.parse import quote

from vizctl.api.auth import Auth
from vizctl.errors import (
    ApiError,
    ApiResponseError,
    AuthError,
    DeadlineExceeded,
    InconsistentList,
    ProtocolError,
    RedirectAnswer,
    RequestTimeout,
    RetryCancelled,
    ServerError,
    ThrottledError,
    UnreachableError,
    UnsuccessfulAnswer,
)
from vizctl.model import LiveJob, LiveSnapshot, Status
from vizctl.redact import redact
from vizctl.api.retry import RateLimiter, RetryPolicy, gateway_limit
from vizctl.api.transport import Request, RequestsTransport, Response, Transport

if TYPE_CHECKING:
    from vizctl.planning.details_cache import ListMemory

T = TypeVar("T")
MAX_PER_PAGE = 1000
SDK_MAX_PER_PAGE = 100  # the SDK page's maximum: a server may clamp per_page to it
SDK_SORT_KEY = "create_time"  # the SDK page lists no job_id sort key; this one keeps new jobs last too
CROSS_CHECK_PER_PAGE = SDK_MAX_PER_PAGE  # the newest-first page: valid in either reading, and enough to see the newest end
LIST_READERS = 4  # list pages read at once
MAX_LIST_READERS = 16  # list pages read at once when a remembered page count asks them all with page 1
MAX_LIST_PAGES = 1000  # pages of one read of the list, whatever job_total_count claims
LIST_READS = 10  # reads of a list that disagrees with itself (most read a page or two again) before giving up
DEFAULT_TIMEOUT = 30.0
THROTTLE_CODES = {"APIG.0308"}
DEFAULT_RETRY = RetryPolicy()
LISTED_KEYS = ("job_id", "job_name", "status", "job_desc", "train_url", "create_time", "service_url", "duration")
REQUIRED_KEYS = ("job_id", "job_name", "status", "train_url")  # a listed job without one of these is not a job
MAY_BE_EMPTY = ("train_url",)  # an empty train_url is the API's word on a job (shown, never exported); an empty id or name is not
SNIPPET_CHARS = 160
MIN_REQUEST_SECONDS = 0.1  # less time than this left before the deadline: the request is not sent (it could not be answered)
DOING = {  # what a request of each operation is doing, for the deadline's messages
    "list": "reading the job list", "detail": "reading a job's details", "create": "creating a job",
    "update": "updating a job", "delete": "deleting a job", "stop": "stopping a job", "restart": "restarting a job",
}
READS = frozenset({"list", "detail"})


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
    ``notice`` receives a line for every retry (the CLI shows it at every
    verbosity), ``cancel`` stops any wait for a retry, and ``deadline`` (a
    ``time.monotonic()`` value, or None) is when every request and wait must
    have ended (``time_limit``, the seconds it was set for, names it in messages).
    ``sleep``, when given, replaces waiting on ``cancel`` (tests record waits).
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
        notice: Callable[[str], None] = lambda message: None,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self.base_url = f"{endpoint.rstrip('/')}/v1/{quote(project_id, safe='')}/visualization-jobs"
        self.auth = auth
        self.transport = transport or RequestsTransport()
        self.timeout = timeout
        self.retry = retry
        self.rate_limiter = rate_limiter
        self.log = log
        self.notice = notice
        self.cancel = cancel or threading.Event()
        self.deadline = deadline
        self.time_limit: float | None = None
        self.sleep = sleep
        self.per_page = MAX_PER_PAGE  # jobs asked for per list page; SDK_MAX_PER_PAGE once a server refuses more
        self.sort_key = "job_id"  # the list's sort; SDK_SORT_KEY once a server refuses job_id
        self.calls: collections.Counter[str] = collections.Counter()
        self._calls_lock = threading.Lock()
        self._fall_back_lock = threading.Lock()
        self._accepted = False  # whether the API has answered a request with success (the credential works)
        self.list_memory: ListMemory | None = None  # the list's shape across runs (see list_all)
        self._list_shape: tuple[int, str, int] | None = None  # per_page, sort and pages of this client's last whole read

    # -- the deadline --------------------------------------------------------

    def start_deadline(self, seconds: float, started: float | None = None) -> None:
        """Every request and wait ends within ``seconds`` (a command's ``--timeout``) of ``started`` (a
        ``time.monotonic()`` value; None: now)."""
        self.time_limit = seconds
        self.deadline = (time.monotonic() if started is None else started) + seconds

    @contextlib.contextmanager
    def deadline_paused(self) -> Iterator[None]:
        """Time spent inside (a person answering a confirmation) does not count against the deadline."""
        started = time.monotonic()
        try:
            yield
        finally:
            if self.deadline is not None:
                self.deadline += time.monotonic() - started

    def time_left(self) -> float:
        """Seconds left before the deadline (infinite without one)."""
        return math.inf if self.deadline is None else self.deadline - time.monotonic()

    def _time_for(self, op: str, request: Request) -> float:
        """The timeout to send ``request`` with: the request timeout, or the time left if less."""
        left = self.time_left()
        if left < MIN_REQUEST_SECONDS:
            raise self._out_of_time(op, request)
        return min(self.timeout, left)

    def _out_of_time(self, op: str, request: Request, why: str = "", *, sent: bool = False) -> DeadlineExceeded:
        """The error of a request the deadline stopped: not sent (``why``: what else held it back), or unanswered."""
        limit = "--timeout" if self.time_limit is None else f"--timeout ({self.time_limit:g} s)"
        doing = DOING.get(op, op)
        with self._calls_lock:
            changed = any(n for name, n in self.calls.items() if name not in READS)
        unchanged = "" if changed else "; nothing was changed"
        if sent:
            maybe = "" if op in READS else "; it may have been carried out (`vizctl plan` shows whether)"
            error = DeadlineExceeded(f"{limit} ran out while {doing}: {_where(request)} got no answer in the time left"
                                     f"{maybe}{unchanged}")
            error.ambiguous = op not in READS
            return error
        if why:
            return DeadlineExceeded(f"{doing} stopped: {why}, beyond {limit} ({_where(request)}){unchanged}")
        return DeadlineExceeded(f"{limit} ran out before {doing}: {_where(request)} was not sent{unchanged}")

    # -- reads -------------------------------------------------------------

    def list_page(self, page: int = 1, per_page: int | None = None, *, order: str = "asc", search: str | None = None,
                  fall_back: bool = True) -> ListPage:
        """One page of jobs sorted by job_id (oldest first). ``search`` narrows by substring; it is not exact.

        A list refused with HTTP 400 is asked again in the SDK page's terms,
        which hold from then on: ``per_page`` 100, not the API page's 1000
        (unless ``per_page`` is given), and a sort by ``create_time``, as
        the SDK page lists no ``job_id`` key (the refusal's message decides
        which comes first; not with ``fall_back=False``). A page without a
        ``jobs`` list or a ``job_total_count`` is a :class:`ProtocolError`.
        """
        size, sort = per_page or self.per_page, self.sort_key
        # both spellings of the sort parameter: the API page says sortBy, the SDK page and the public client sort_by
        params = [("per_page", str(size)), ("page", str(page)), ("sortBy", sort), ("sort_by", sort), ("order", order)]
        if search is not None:
            params.append(("search_content", search))
        request = self._request("GET", "", params=params)
        try:
            return self._call("list", request, idempotent=True, read=lambda data: self._page(data, request))
        except ApiResponseError as error:
            if error.http_status != 400 or not fall_back:
                raise
            asked = size if per_page is None else 0
            with self._fall_back_lock:  # pages refused at once take one step (one notice); the later ones are just asked again
                if sort == self.sort_key and asked in (0, self.per_page) and not self._fall_back(error, asked):
                    raise
            return self.list_page(page, per_page, order=order, search=search)

    def _fall_back(self, error: ApiResponseError, size: int) -> bool:
        """After a list refused with 400: take one step to the SDK page's reading; False when none is left."""
        sort_first = "sort" in error.error_message.lower()
        for step in (("sort", "per_page") if sort_first else ("per_page", "sort")):
            if step == "per_page" and size > SDK_MAX_PER_PAGE:
                self.per_page = SDK_MAX_PER_PAGE
                self.notice(f"the API refused per_page={size} ({error}); reading {SDK_MAX_PER_PAGE} jobs a page")
                return True
            if step == "sort" and self.sort_key != SDK_SORT_KEY:
                self.sort_key = SDK_SORT_KEY
                self.notice(f"the API refused the list sorted by job_id ({error}); sorting by {SDK_SORT_KEY}, new jobs still last")
                return True
        return False

    def _page(self, data: dict[str, Any], request: Request) -> ListPage:
        jobs = data.get("jobs")
        total = _as_int(data.get("job_total_count"))
        if not isinstance(jobs, list) or total is None or total < 0:
            problem = "no 'jobs' list" if not isinstance(jobs, list) else "no usable 'job_total_count'"
            raise ProtocolError(f"the list answer has {problem} ({_where(request)}): {self._snippet(json.dumps(data))}")
        return ListPage(
            jobs=tuple(_named(request, _list_item, job) for job in jobs),
            total=total,
            job_count_limit=_as_int(data.get("job_count_limit")),
            quotas=_as_int(data.get("quotas")),
        )

    def list_all(self, *, search: str | None = None) -> LiveSnapshot:
        """Every job of the project, from one whole read of the list (see the module docstring).

        The page size is whatever the server really returned (the SDK page
        documents at most 100), so a server that clamps ``per_page`` still
        yields every job. The number of pages a whole read (without
        ``search``) had is remembered, in ``list_memory`` too when there is
        one, so the next read asks them all with page 1.
        """
        kept: dict[int, ListPage] = {}
        last_odd: frozenset[int] | None = None
        calls = 0
        for _ in range(LIST_READS):
            pages, beyond, newest, sent = self._read_pages(kept, search)
            calls += sent
            problem = _list_problem(pages, newest, beyond)
            if problem is None:
                if search is None:
                    self._remember_shape(len(pages))
                return LiveSnapshot(
                    jobs=tuple(job for page in pages for job in page.jobs),
                    job_count_limit=pages[0].job_count_limit,
                    quotas=pages[0].quotas,
                    list_calls=calls,
                )
            self.notice(f"the job list was not whole ({problem}); reading it again")
            # Read again only what disagrees: when one total has most votes (the newest-first page
            # votes too), the pages that say otherwise; else, or for the same pages twice, all.
            (mode, votes), *others = collections.Counter([*(p.total for p in pages), newest.total]).most_common()
            odd = frozenset(n for n, page in enumerate(pages, 1) if page.total != mode)
            partial = bool(others) and others[0][1] < votes and odd != last_odd
            kept = {n: page for n, page in enumerate(pages, 1) if n not in odd} if partial else {}
            last_odd = odd if partial else None
        raise InconsistentList(
            f"the job list disagreed with itself on {LIST_READS} reads in a row (last: {problem}); "
            "not planning on a partial list. Are jobs being changed right now? Try again"
        )

    def _read_pages(self, kept: dict[int, ListPage], search: str | None) -> tuple[list[ListPage], list[ListPage], ListPage, int]:
        """The pages in ascending job_id order (reading those not ``kept``), the pages read beyond the last,
        page 1 newest-first, and how many were asked.

        The newest-first page is asked together with page 1, and so are the
        pages 2..N the last whole read had (:meth:`_remembered_pages`); the
        pages page 1's total needs beyond those are asked as soon as it
        answers. So a list as long as last time costs one round trip of wall
        time; a longer one, two; a shorter one, a page or two beyond its end
        (checked empty, never taken as jobs). A page asked early that failed
        is asked again once page 1 tells it is needed. Until the API has
        accepted an AK/SK signature, page 1 goes first and alone: a rejected
        signature counts towards the key's lock (five in a row), and
        ``--debug`` shows the canonical request of the one refused.
        """
        pages = dict(kept)
        asked = 0
        alone = 1 not in pages and getattr(self.auth, "refusals_lock_the_key", False) and not self._accepted
        guess = self._remembered_pages() if not kept and not alone and search is None else 1
        with self._workers(max(LIST_READERS, min(guess, MAX_LIST_READERS))) as pool:
            if alone:
                pages[1], asked = self.list_page(1, search=search), 1
            newest = pool.submit(self.list_page, 1, CROSS_CHECK_PER_PAGE, order="desc", search=search)
            shape = (self.per_page, self.sort_key)
            early = {n: pool.submit(self._early_page, n, search) for n in range(2, guess + 1)}
            if 1 not in pages:
                pages[1], asked = self.list_page(1, search=search), asked + 1
            size = len(pages[1].jobs)
            # a total beyond MAX_LIST_PAGES pages is not believed, just checked
            needed = min(-(-pages[1].total // size), MAX_LIST_PAGES) if size else 1
            answers = {n: read.result() for n, read in early.items()}
            if shape != (self.per_page, self.sort_key):  # page 1 was refused and asked in the SDK page's terms
                answers = {}
            pages.update((n, page) for n, page in answers.items() if n <= needed and isinstance(page, ListPage))
            beyond = [page for n, page in answers.items() if n > needed and isinstance(page, ListPage)]
            missing = [n for n in range(2, needed + 1) if n not in pages]
            reads = [pool.submit(self.list_page, n, search=search) for n in missing]
            pages.update((n, read.result()) for n, read in zip(missing, reads))
            return [pages[n] for n in range(1, needed + 1)], beyond, newest.result(), asked + len(early) + len(missing) + 1

    def _early_page(self, page: int, search: str | None) -> ListPage | ApiError:
        """Page ``page``, asked before page 1 told the total: an error is kept, not raised (the page may lie beyond
        the end), and a refusal changes nothing (page 1's answer decides)."""
        try:
            return self.list_page(page, search=search, fall_back=False)
        except ApiError as error:
            return error

    def _remembered_pages(self) -> int:
        """The pages of the last whole read in the list's current terms (per_page, sort): this client's, else
        ``list_memory``'s; 1 when none is known."""
        shape = self._list_shape or (self.list_memory.recall() if self.list_memory is not None else None)
        if shape is None or shape[:2] != (self.per_page, self.sort_key):
            return 1
        return min(shape[2], MAX_LIST_PAGES)

    def _remember_shape(self, pages: int) -> None:
        self._list_shape = (self.per_page, self.sort_key, pages)
        if self.list_memory is not None:
            self.list_memory.remember(*self._list_shape)

    @contextlib.contextmanager
    def _workers(self, count: int) -> Iterator[_Readers]:
        """Threads for reads at once. Once a read fails for good no read not yet sent is sent (see :class:`_Readers`);
        leaving on an error or Ctrl-C drops the queued ones, and Ctrl-C (in the main thread) also ends the workers'
        retry waits: the reads in flight end first, no more."""
        pool = ThreadPoolExecutor(max_workers=max(1, count))
        try:
            yield _Readers(pool)
        except KeyboardInterrupt:
            self.cancel.set()
            raise
        finally:
            pool.shutdown(cancel_futures=True)

    def list_newest(self, job_ids: Iterable[str]) -> LiveSnapshot:
        """The newest jobs, page by page (highest ids first), until every id in ``job_ids`` is seen.

        Waiting for freshly created jobs thus costs one list call per round,
        whatever the number of jobs. Ids that are never seen (a deleted job)
        make it read every page. It is not a whole list: ids it did not see
        are unknown, not absent.
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

    def get_jobs(self, job_ids: list[str], parallelism: int) -> list[LiveJob]:
        """The details of each job, ``parallelism`` reads at once; the first that fails for good fails them all."""
        with self._workers(min(parallelism, len(job_ids))) as pool:
            return list(pool.map(self.get_job, job_ids))

    def get_job(self, job_id: str) -> LiveJob:
        """The details of one job, including job_type, flavor and schedule when the API returns them."""
        request = self._request("GET", f"/{quote(job_id, safe='')}")
        return self._call("detail", request, idempotent=True, read=lambda data: _named(request, parse_job, data))

    # -- mutations (resent here only when throttled) -------------------------

    def create_job(self, body: dict[str, Any]) -> LiveJob:
        """Create a job; answers its id, status and create time."""
        request = self._request("POST", "", body=body)
        known = {"job_name": body.get("job_name", ""), "train_url": body.get("train_url", ""), "status": int(Status.INIT)}

        def read(data: dict[str, Any]) -> LiveJob:
            if data.get("job_id") in (None, ""):
                raise ProtocolError(f"the create answer has no job_id ({_where(request)}): {self._snippet(json.dumps(data))}")
            return _named(request, parse_job, {**known, **{k: v for k, v in data.items() if v is not None}})

        return self._call("create", request, read=read)

    def update_job(self, job_id: str, job_desc: str) -> None:
        """Change a job's description (the only field the API updates in place)."""
        self._call("update", self._request("PUT", f"/{quote(job_id, safe='')}", body={"job_desc": job_desc}))

    def delete_job(self, job_id: str) -> None:
        self._call("delete", self._request("DELETE", f"/{quote(job_id, safe='')}"))

    def stop_job(self, job_id: str) -> None:
        self._call("stop", self._request("POST", f"/{quote(job_id, safe='')}/stop"))

    def restart_job(self, job_id: str) -> None:
        self._call("restart", self._request("POST", f"/{quote(job_id, safe='')}/restart"))

    # -- plumbing ------------------------------------------------------------

    def _request(self, method: str, path: str, *, params=(), body=None) -> Request:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        return Request(method, self.base_url + path, tuple(params), payload, headers)

    def _call(self, op: str, request: Request, *, idempotent: bool = False, read: Callable[[dict[str, Any]], T] = dict) -> T:
        """Send ``request`` and ``read`` the answer, retrying a read (or any throttled request) under the policy.

        ``read`` runs inside the retry loop: an answer it finds malformed is sent for again.
        """
        attempt = 1
        while True:
            try:
                return read(self._send_once(op, request))
            except ApiError as error:
                resend = idempotent or isinstance(error, ThrottledError)  # a throttled request was not carried out
                if not (resend and self.retry.should_retry(error, attempt)):
                    if not isinstance(error, RetryCancelled):  # that one says itself what was not sent
                        error.attempts = attempt
                    raise
                self._wait_to_retry(op, error, request, attempt)
                attempt += 1

    def _wait_to_retry(self, op: str, error: ApiError, request: Request, attempt: int) -> None:
        """Wait before try ``attempt + 1``: announced, within the deadline, ended by ``cancel``."""
        wait = self.retry.delay(error, attempt)
        throttled = isinstance(error, ThrottledError)
        if self.deadline is not None and time.monotonic() + wait + MIN_REQUEST_SECONDS > self.deadline:
            asked = error.retry_after if throttled and error.retry_after is not None else wait
            why = f"throttled: the API asked to wait {asked:.0f} s" if throttled else f"{error}; the next try is due in {wait:.1f} s"
            raise self._out_of_time(op, request, why) from error
        if throttled:
            self.notice(f"throttled by the API, retrying in {_seconds(wait)} ({_where(request)})")
        else:
            self.notice(f"{error}; retrying in {_seconds(wait)} (attempt {attempt + 1} of {self.retry.limit(error)})")
        if self.sleep is not None:
            self.sleep(wait)
        else:
            self.cancel.wait(wait)
        if self.cancel.is_set():
            raise RetryCancelled(f"interrupted: {_where(request)} was not retried") from error

    def _send_once(self, op: str, request: Request) -> dict[str, Any]:
        """Send ``request`` once, within the rate limit and the time left before the deadline."""
        latest = None if self.deadline is None else self.deadline - MIN_REQUEST_SECONDS
        if self.rate_limiter is not None and not self.rate_limiter.acquire(self.cancel, latest):
            if self.cancel.is_set():
                raise RetryCancelled(f"interrupted: {_where(request)} was not sent")
            raise self._out_of_time(op, request, "the rate limit (--max-rps, or the API's throttling) would send it only later")
        timeout = self._time_for(op, request)
        with self._calls_lock:
            self.calls[op] += 1
        started = time.monotonic()
        try:
            response = self.transport.send(self.auth.apply(request), timeout)
        except (RequestTimeout, UnreachableError) as error:
            if timeout >= self.timeout or time.monotonic() < self.deadline - MIN_REQUEST_SECONDS:
                raise  # the request timeout's own, or no connection for another reason: retried as before
            raise self._out_of_time(op, request, sent=isinstance(error, RequestTimeout)) from error
        self.log(f"{_where(request)} -> {response.status} ({(time.monotonic() - started) * 1000:.0f} ms)")
        try:
            data = parse_answer(response, request, self.auth.secrets())
        except ThrottledError as error:
            if self.rate_limiter is not None:  # slow down every thread, not just this request's retry
                self.rate_limiter.throttled(gateway_limit(error.error_message))
            raise
        self._accepted = True
        return data

    def _snippet(self, text: str) -> str:
        return snippet(text.encode(), self.auth.secrets())


class _Readers:
    """A pool's reads that stop at the first failure: a worker taking a queued read after one failed for good
    raises that failure instead of sending it (the main thread, still waiting on earlier reads, cancels the
    queue only later)."""

    def __init__(self, pool: ThreadPoolExecutor):
        self._pool = pool
        self._failure: Exception | None = None

    def submit(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        return self._pool.submit(self._run, read, *args, **kwargs)

    def map(self, read: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        return self._pool.map(lambda item: self._run(read, item), items)

    def _run(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        failure = self._failure
        if failure is not None:
            raise failure
        try:
            return read(*args, **kwargs)
        except Exception as error:
            self._failure = self._failure or error
            raise


def parse_answer(response: Response, request: Request, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON object of a success answer, or the right :class:`ApiError`.

    Only a JSON object that does not say ``is_success: false`` is a success:
    a portal page with HTTP 200 is a :class:`ProtocolError`, ``is_success:
    false`` with HTTP 2xx an :class:`UnsuccessfulAnswer`, any 3xx a
    :class:`RedirectAnswer`. Messages quote the
    body through :func:`snippet`, so no credential in ``secrets`` shows.
    """
    where = {"method": request.method, "path": _short(request)}
    if 300 <= response.status < 400:
        location = snippet((response.headers.get("Location") or "(none)").encode(), secrets)
        raise RedirectAnswer(response.status, None, f"a redirect to {location}: vizctl does not follow redirects (they would "
                             "carry the credentials elsewhere); check the endpoint (https://?)", **where)
    try:
        data = json.loads(response.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        quoted = snippet(response.body, secrets)
        if response.status < 400:
            raise ProtocolError(f"the answer is not the API's JSON ({_where(request)}, HTTP {response.status}): {quoted}")
        data = {"error_message": f"not the API's JSON answer: {quoted}"}
    if 200 <= response.status < 300 and data.get("is_success", True) not in (False, "false"):
        return data
    code = data.get("error_code") or None
    raw_message = data.get("error_message") or data.get("error_msg") or f"HTTP {response.status}"
    message = snippet(str(raw_message).encode(), secrets)
    args = (response.status, code if code is None else snippet(str(code).encode(), secrets), message)
    if response.status == 429 or code in THROTTLE_CODES:
        raise ThrottledError(*args, retry_after=_retry_after(response.headers.get("Retry-After")), **where)
    if response.status in (401, 403):
        raise AuthError(*args, **where)
    if response.status >= 500 or response.status == 408:  # 408: may be retried unchanged, may have happened
        raise ServerError(*args, **where)
    if response.status < 400:
        raise UnsuccessfulAnswer(*args, **where)
    raise ApiResponseError(*args, **where)


def snippet(body: bytes | None, secrets: Iterable[str] = ()) -> str:
    """A short, one-line, credential-free quote of an answer body (HTML tags dropped)."""
    text = redact((body or b"").decode("utf-8", "replace"), secrets)
    text = " ".join(_TAGS.sub(" ", text).split())
    if not text:
        return "(empty body)"
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


_TAGS = re.compile(r"<[^>]*>")


def parse_job(data: dict[str, Any], *, keep_extra: bool = True) -> LiveJob:
    """A :class:`LiveJob` from a list item, details or create answer, whatever the number types.

    ``keep_extra=False`` drops the fields beyond the listed ones (a list item's
    ``resource_id``): nothing reads them, and a 100,000-job list is smaller without.

    A job without a usable id, name, status or train_url (absent or null; an
    empty train_url is read) is a :class:`ProtocolError`: read as a job named ""
    it would be planned as a missing job and created again.
    """
    if not isinstance(data, dict):
        raise ProtocolError("a job in the answer is not an object")
    missing = [key for key in REQUIRED_KEYS if data.get(key) is None or (data[key] == "" and key not in MAY_BE_EMPTY)]
    job_id = _as_int(data.get("job_id"))
    status = _as_int(data.get("status"))
    if missing or job_id is None or status is None:
        problem = f"no {', '.join(missing)}" if missing else f"job_id {data.get('job_id')!r}, status {data.get('status')!r}"
        raise ProtocolError(f"a job in the answer is not usable ({problem}): {snippet(json.dumps(data, default=str).encode())}")
    return LiveJob(
        job_id=str(job_id),
        job_name=str(data["job_name"]),
        status=status,
        job_desc=None if data.get("job_desc") is None else str(data["job_desc"]),
        train_url=str(data["train_url"]),
        create_time=_as_int(data.get("create_time")),
        service_url=str(data.get("service_url") or ""),
        duration=_as_int(data.get("duration")),
        extra={k: v for k, v in data.items() if k not in LISTED_KEYS and k != "is_success"} if keep_extra else _NO_EXTRA,
    )


_NO_EXTRA: dict[str, Any] = {}  # shared by every job parsed without extra fields; never written to


def _list_item(data: Any) -> LiveJob:
    """A job of a list page: its extra fields are not kept."""
    return parse_job(data, keep_extra=False)

def _list_problem(pages: list[ListPage], newest: ListPage, beyond: Iterable[ListPage] = ()) -> str | None:
    """Why the pages of one read (with the newest-first page 1 and any pages read beyond the last) are not
    the whole list, or None."""
    total = pages[0].total
    size = len(pages[0].jobs)
    beyond = list(beyond)
    totals = {page.total for page in (*pages, *beyond)} | {newest.total}
    if len(totals) > 1:
        return f"job_total_count moved between pages: {', '.join(map(str, sorted(totals)))}"
    if any(page.jobs for page in beyond):
        return "a page beyond job_total_count held jobs"
    short = [n for n, page in enumerate(pages[:-1], 1) if len(page.jobs) < size and any(p.jobs for p in pages[n:])]
    if short:
        return f"page {short[0]} held fewer jobs than page 1"
    ids = [job.job_id for page in pages for job in page.jobs]
    if len(set(ids)) != len(ids):
        return "a job was listed twice"
    if len(ids) != total:
        return f"the pages held {len(ids)} jobs, job_total_count says {total}"
    unseen = {job.job_id for job in newest.jobs} - set(ids)
    if unseen:
        return f"the newest jobs include {len(unseen)} not on the pages"
    return None


def _as_int(value: Any, default: int | None = None) -> int | None:
    if type(value) is int:  # the common reading, 3x faster than through str()
        return value
    try:
        return int(str(value).strip()) if value not in (None, "") else default
    except ValueError:
        return default


def _unique(jobs: Iterable[LiveJob]) -> tuple[LiveJob, ...]:
    return tuple({job.job_id: job for job in jobs}.values())


def _named(request: Request, parse: Callable[[Any], T], data: Any) -> T:
    """``parse(data)``, with the request named in a :class:`ProtocolError` it raises."""
    try:
        return parse(data)
    except ProtocolError as error:
        raise ProtocolError(f"{error} ({_where(request)})") from None


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def _where(request: Request) -> str:
    return f"{request.method} {_short(request)}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form; one already past says only that the clocks differ: no advice
        wait = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None
    return wait if wait > 0 else None


def _short(request: Request) -> str:
    path = request.url.split("/v1/", 1)[-1]
    query = "&".join(f"{k}={v}" for k, v in request.params)
    return f"/v1/{path}" + (f"?{query}" if query else "")
