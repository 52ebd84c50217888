"""Retry policy and client-side rate limit: the one place that decides when to try again.

The client retries reads (idempotent requests) under this policy, and any
request refused by flow control (429 / APIG.0308 means it was not carried
out). Other failed mutations are never resent blindly: after an ambiguous
failure the caller re-reads the live list (see ``apply.py``). Every wait is
capped (``max_throttle_wait``, ``max_backoff``); the client announces it and
never waits past its deadline.
"""

from __future__ import annotations

import collections
import math
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

from vizctl.errors import ApiError, ThrottledError

DEFAULT_THROTTLE_WAIT = 2.0  # the gateway's own advice is 2-5 s when Retry-After is absent
THROTTLE_MARGIN = 0.9  # of the gateway's named limit: our send times are not its arrival times


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring Retry-After on throttling."""

    attempts: int = 6  # total tries of one request, the first included
    backoff: float = 0.5  # seconds before the second try, doubling after
    max_backoff: float = 20.0
    max_throttle_wait: float = 60.0  # a longer Retry-After is cut to this (the request is throttled again if early)
    jitter: bool = True

    def should_retry(self, error: ApiError, attempt: int) -> bool:
        """May a read that failed on try number ``attempt`` (1-based) be tried again?"""
        return error.retryable and attempt < self.limit(error)

    def limit(self, error: ApiError) -> int:
        """How many tries of one request this error allows in all."""
        return min(self.attempts, error.max_attempts or self.attempts)

    def delay(self, error: ApiError, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before try ``attempt + 1``."""
        if isinstance(error, ThrottledError):
            advised = error.retry_after if error.retry_after is not None else DEFAULT_THROTTLE_WAIT
            return min(advised, self.max_throttle_wait)
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return ceiling * (0.5 + rng() / 2) if self.jitter else ceiling


class RateLimiter:
    """Client-side flow control: at most ``rate`` requests in any one-second window, adapting to throttling.

    The API documents no rate, only the gateway's answer when one is exceeded
    (429 / APIG.0308 "limit:N, time:1 second", with ``Retry-After``). So the
    limiter starts at ``rate`` (the user's ceiling; None: no limit at all,
    ``--parallelism`` alone bounds the pace) and adapts, AIMD-style, when :meth:`throttled` is
    called: it drops to 90% of the N the gateway names, or without one to
    half the rate it was sending at, then grows back by 10% per second
    without throttling (never above a named N, nor above ``ceiling``).

    It keeps a sliding log, not a token bucket: a bucket allows bursts of
    twice the rate inside one window, which is exactly what the gateway refuses.
    """

    def __init__(self, rate: float | None = None, clock=time.monotonic, sleep: Callable[[float], None] | None = None):
        if rate is not None and not 0 < rate < math.inf:
            raise ValueError("rate must be positive and finite")
        self.ceiling = rate
        self.rate: float | None = None  # the current limit, None for none
        self._limit = rate  # the highest rate the limiter will grow back to (None: unbounded)
        self._calm_since = 0.0
        self._sent: collections.deque[float] = collections.deque()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._set_rate(rate)

    def acquire(self, cancel: threading.Event | None = None, deadline: float | None = None) -> bool:
        """Block until a request may be sent: True. False (send nothing then) once ``cancel`` is set after
        a wait, or at once when the request could not be sent before ``deadline`` (a ``clock`` value)."""
        while True:
            with self._lock:
                now = self._clock()
                self._grow(now)
                horizon = max(self._window, 1.0)  # keep a second of sends: the observed rate
                while self._sent and now - self._sent[0] >= horizon - 1e-9:  # float slack: a wait must end
                    self._sent.popleft()
                # the capacity-th latest send still inside the window holds this one back
                if self.rate is None or len(self._sent) < self._capacity or now - self._sent[-self._capacity] >= self._window - 1e-9:
                    self._sent.append(now)
                    return True
                wait = self._window - (now - self._sent[-self._capacity])
            if deadline is not None and now + wait > deadline:
                return False
            self._wait(wait, cancel)  # one window at most: a second, unless --max-rps is below one
            if cancel is not None and cancel.is_set():
                return False

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        """Sleep ``seconds``; without a ``sleep`` of the caller's, ``cancel`` (Ctrl-C) ends the sleep early."""
        if self._sleep is not None:
            self._sleep(seconds)
        elif cancel is not None:
            cancel.wait(seconds)
        else:
            time.sleep(seconds)

    def throttled(self, limit: float | None = None) -> None:
        """The API refused a request for flow control; ``limit`` is the N its message named, if any."""
        with self._lock:
            now = self._clock()
            if limit is not None and limit > 0:
                self._limit = max(1.0, THROTTLE_MARGIN * limit)
                if self.ceiling is not None:
                    self._limit = min(self._limit, self.ceiling)
                target = self._limit
            else:
                sending = sum(1 for t in self._sent if now - t < 1.0)
                target = max(1.0, sending / 2)
            self._set_rate(target if self.rate is None else min(self.rate, target))
            self._calm_since = now

    def _grow(self, now: float) -> None:
        """Additive increase: 10% more for every calm second, up to the limit known."""
        if self.rate is None or now - self._calm_since < 1.0 or (self._limit is not None and self.rate >= self._limit):
            return
        grown = self.rate * 1.1 ** int(now - self._calm_since)
        self._set_rate(grown if self._limit is None else min(grown, self._limit))
        self._calm_since = now

    def _set_rate(self, rate: float | None) -> None:
        self.rate = rate
        self._capacity = 0 if rate is None else max(1, int(rate))
        self._window = 1.0 if rate is None else self._capacity / rate  # one second, stretched for a rate below 1


def gateway_limit(message: str) -> float | None:
    """The N of the gateway's "... limit:N, time:1 second" throttling message, if it names one."""
    found = _GATEWAY_LIMIT.search(message or "")
    return float(found[1]) if found else None


_GATEWAY_LIMIT = re.compile(r"limit:\s*(\d+(?:\.\d+)?)\s*,\s*time:\s*1\s*second")
