"""Retry policy and client-side rate limit: the one place that decides when to try again.

Only reads (idempotent requests) are retried here. Mutations are never
retried blindly: after an ambiguous failure the caller re-reads the live list
(see ``apply.py``).
"""

from __future__ import annotations

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
    jitter: bool = True

    def should_retry(self, error: ApiError, attempt: int) -> bool:
        """May a read that failed on try number ``attempt`` (1-based) be tried again?"""
        return error.retryable and attempt < self.attempts

    def delay(self, error: ApiError, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before try ``attempt + 1``."""
        if isinstance(error, ThrottledError):
            advised = error.retry_after if error.retry_after is not None else DEFAULT_THROTTLE_WAIT
            return min(advised, self.max_backoff * 3)
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return ceiling * (0.5 + rng() / 2) if self.jitter else ceiling


NO_RETRY = RetryPolicy(attempts=1)


class RateLimiter:
    """A thread-safe token bucket: at most ``rate`` requests a second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int | None = None, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1, int(rate))
        self._tokens = float(self.burst)
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until a request may be sent."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)
