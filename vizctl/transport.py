"""The one seam between vizctl and the network: ``Transport.send(request) -> response``.

Everything above it (auth, retries, rate limiting, error parsing) works on the
small :class:`Request` / :class:`Response` values, so it can be read and tested
without knowing about ``requests``.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Protocol
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from vizctl import __version__
from vizctl.errors import LocalRequestError, RequestTimeout, TransportError, UnreachableError
from vizctl.redact import redact

_BAD_HEADER_VALUE = re.compile(r"^\s|\s$|[\r\n\0]")
_USERINFO = re.compile(r"(//)[^/@\s]+@")


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


@dataclass(frozen=True)
class HttpSettings:
    """TLS and proxy settings of a transport: ``verify`` is True, False or a CA bundle path."""

    verify: bool | str = True
    proxies: Mapping[str, str] = field(default_factory=dict)  # scheme -> proxy URL
    no_proxy: tuple[str, ...] = ()  # host names, domain suffixes, or "*"


class RequestsTransport:
    """A :class:`Transport` over a pooled ``requests.Session``; never retries by itself."""

    def __init__(self, pool_size: int = 10, http: HttpSettings = HttpSettings()):
        self._session = _Session(http)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.trust_env = False  # settings come from HttpSettings only: no .netrc, which would override a signature
        self._session.verify = http.verify
        self._session.headers["User-Agent"] = f"vizctl/{__version__} python-requests/{requests.__version__}"
        if http.verify is False:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the CLI warns once per run instead

    def send(self, request: Request, timeout: float) -> Response:
        _check_headers(request)
        where = f"{request.method} {_path(request.url)} at {_host(request.url)}"
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
        except requests.ConnectTimeout as exc:  # nothing was sent: a firewall or a wrong address, not a slow API
            raise UnreachableError(f"no connection within {timeout:g} s, the --request-timeout ({where})") from exc
        except requests.Timeout as exc:
            raise RequestTimeout(f"no answer within {timeout:g} s, the --request-timeout ({where})") from exc
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema, requests.exceptions.InvalidJSONError) as exc:
            # raised before anything is sent; their text may quote a header value, so it is not shown
            raise LocalRequestError(f"the request could not be built ({where}): {type(exc).__name__}; check the endpoint and credential settings") from None
        except requests.RequestException as exc:
            reason = _scrub(_reason(exc), request)
            if _caused_by(exc, socket.gaierror):
                raise UnreachableError(f"cannot resolve the host name ({where}): check the endpoint") from exc
            if _caused_by(exc, ConnectionRefusedError):
                raise UnreachableError(f"connection refused ({where}): is the endpoint right and the service up?") from exc
            raise TransportError(f"connection failed ({where}): {reason}") from exc
        return Response(answer.status_code, answer.headers, answer.content)

    def close(self) -> None:
        self._session.close()


class _Session(requests.Session):
    """A session that sends each request through the proxy of its scheme unless NO_PROXY covers its host."""

    def __init__(self, http: HttpSettings):
        super().__init__()
        self._http = http

    def request(self, method, url, **kwargs):
        host = urlsplit(url).hostname or ""
        if self._http.proxies and not _bypass(host, self._http.no_proxy):
            kwargs.setdefault("proxies", dict(self._http.proxies))
        return super().request(method, url, **kwargs)


def _bypass(host: str, no_proxy: tuple[str, ...]) -> bool:
    """Does a NO_PROXY entry (``*``, a host, or a domain with or without its leading dot) cover ``host``?"""
    for entry in no_proxy:
        entry = entry.strip().lower().lstrip(".")
        if entry == "*" or host == entry or host.endswith("." + entry):
            return True
    return False


def _path(url: str) -> str:
    return urlsplit(url).path


def _host(url: str) -> str:
    """host[:port] of a URL, without any user information."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _check_headers(request: Request) -> None:
    """Refuse a header value that no server would accept unchanged, naming the header, never the value."""
    for name, value in request.headers.items():
        if _BAD_HEADER_VALUE.search(value):
            raise LocalRequestError(
                f"the {name} header value has leading or trailing whitespace or a line break: "
                "check the credential or setting it comes from (a token pasted with its newline?)"
            )


def _scrub(text: str, request: Request) -> str:
    """``text`` without any header value of ``request`` and without user:password@ in URLs."""
    return _USERINFO.sub(r"\1***@", redact(text, request.headers.values()))


def _caused_by(exc: BaseException, kind: type) -> bool:
    """Is an exception of ``kind`` anywhere in ``exc``'s chain of causes (or first arguments)?"""
    seen = set()
    inner: Any = exc
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        if isinstance(inner, kind):
            return True
        nested = inner.args[0] if inner.args and isinstance(inner.args[0], BaseException) else None
        inner = inner.__cause__ or inner.__context__ or nested or getattr(inner, "reason", None)
        if not isinstance(inner, BaseException):
            inner = None
    return False


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
