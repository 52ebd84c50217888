"""The one seam between vizctl and the network: ``Transport.send(request) -> response``.

Everything above it (auth, retries, rate limiting, error parsing) works on the
small :class:`Request` / :class:`Response` values, so it can be read and tested
without knowing about ``requests``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from vizctl.errors import RequestTimeout, TransportError


@dataclass(frozen=True)
class Request:
    """An HTTP request about to be sent. ``url`` is absolute; ``body`` is bytes or None."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def with_headers(self, **extra: str) -> "Request":
        return replace(self, headers={**self.headers, **extra})


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status, headers (case-insensitive mapping) and raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one request and returns the answer, or raises TransportError."""

    def send(self, request: Request, timeout: float) -> Response: ...


class RequestsTransport:
    """A :class:`Transport` over a pooled ``requests.Session``; never retries by itself."""

    def __init__(self, pool_size: int = 10):
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.trust_env = False  # no proxies or .netrc from the environment; see README

    def send(self, request: Request, timeout: float) -> Response:
        try:
            answer = self._session.request(
                request.method,
                request.url,
                params=list(request.params),
                data=request.body,
                headers=dict(request.headers),
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise RequestTimeout(f"no answer within {timeout:g}s ({request.method} {_path(request.url)})") from exc
        except requests.RequestException as exc:
            raise TransportError(f"connection failed ({request.method} {_path(request.url)}): {_reason(exc)}") from exc
        return Response(answer.status_code, answer.headers, answer.content)

    def close(self) -> None:
        self._session.close()


def _path(url: str) -> str:
    return urlsplit(url).path


def _reason(exc: Exception) -> str:
    """The innermost cause's message: 'Connection refused', not a urllib3 repr."""
    inner: Any = exc
    while inner.__cause__ is not None or (inner.args and isinstance(inner.args[0], Exception)):
        inner = inner.__cause__ or inner.args[0]
    text = str(inner)
    # urllib3 wraps messages like "<urllib3.connection.HTTPConnection ...>: Failed to ... [Errno 111] Connection refused"
    if "] " in text:
        text = text.rsplit("] ", 1)[1]
    return text.strip(" ')\"") or type(inner).__name__
