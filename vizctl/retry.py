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
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable

from vizctl.errors import ApiError, ThrottledError

DEFAULT_THROTTLE_WAIT = 2.0  # the gateway's own advice is 2-5 s when Retry-After is absent


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
    """At most ``rate`` requests in any one-second window (a sliding log; thread-safe).

    A token bucket would allow bursts of twice the rate inside one window,
    which is exactly what a gateway's "limit:N, time:1 second" refuses.
    """

    def __init__(self, rate: float, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._capacity = max(1, int(rate))
        self._window = self._capacity / rate  # one second, stretched for a fractional rate below 1
        self._sent: collections.deque[float] = collections.deque()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until a request may be sent."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self._window - 1e-9:  # float slack: a wait must end
                    self._sent.popleft()
                if len(self._sent) < self._capacity:
                    self._sent.append(now)
                    return
                wait = self._window - (now - self._sent[0])
            self._sleep(wait)
