"""The one seam between vizctl and the network: ``Transport.send(request) -> response``.

Everything above it (auth, retries, rate limiting, error parsing) works on the
small :class:`Request` / :class:`Response` values, so it can be read and tested
without knowing how HTTP is spoken. :class:`HttpTransport` speaks it with the
standard library's ``http.client``: kept-alive connections pooled per origin,
TLS, proxies (CONNECT for https), gzip answers. It is a fifth of ``requests``'
import time and a fraction of its work per request, which is most of what a
plan or a thousand creates cost on the client (see benchmarks/README.md).
"""

from __future__ import annotations

import http.client
import re
import select
import socket
import sys
import threading
from base64 import b64encode
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Protocol
from urllib.parse import SplitResult, unquote, urlencode, urlsplit

from vizctl import __version__
from vizctl.errors import LocalRequestError, RequestTimeout, TransportError, UnreachableError
from vizctl.redact import redact

_BAD_HEADER_VALUE = re.compile(r"^\s|\s$|[\r\n\0]")
_USERINFO = re.compile(r"(//)[^/@\s]+@")
_CLOCK = "check this machine's clock, else the server's certificate is out of date"
_CERTIFICATE_HINTS = {9: _CLOCK, 10: _CLOCK, 62: "check the endpoint's host name", 64: "check the endpoint's host name"}  # OpenSSL's X509_V_ERR_*
USER_AGENT = f"vizctl/{__version__} python/{sys.version_info.major}.{sys.version_info.minor}"


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
    """Sends one request and returns the answer, or raises TransportError; ``close`` ends its kept-alive connections."""

    def send(self, request: Request, timeout: float) -> Response: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class HttpSettings:
    """TLS and proxy settings of a transport: ``verify`` is True, False or a CA bundle path."""

    verify: bool | str = True
    proxies: Mapping[str, str] = field(default_factory=dict)  # scheme -> proxy URL
    no_proxy: tuple[str, ...] = ()  # host names, domain suffixes, or "*"


@dataclass(frozen=True)
class _Route:
    """Where a connection goes: the origin, and the proxy in between (if any)."""

    scheme: str
    host: str
    port: int
    proxy: str | None


class HttpTransport:
    """A :class:`Transport` over ``http.client`` with a pool of kept-alive connections; never retries by itself.

    A connection goes back to the pool only after its answer was read whole
    and the server did not ask to close it; one the server closed while idle
    is dropped before reuse. Up to ``pool_size`` idle connections are kept per
    origin (vizctl sends at most ``--parallelism`` requests at once).
    """

    def __init__(self, pool_size: int = 10, http: HttpSettings = HttpSettings()):
        self._http = http
        self._pool_size = max(pool_size, 1)
        self._idle: dict[_Route, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls_context: Any = None

    def send(self, request: Request, timeout: float) -> Response:
        _check_headers(request)
        where = f"{request.method} {_path(request.url)} at {_host(request.url)}"
        route, target, headers = self._prepare(request, where)
        connection = self._take(route)
        if connection is None:
            connection = self._connect(route, timeout, where, request)
        connection.timeout = timeout
        connection.sock.settimeout(timeout)
        kept = cut = False
        try:
            try:
                connection.request(request.method, target, body=request.body, headers=headers)
            except (ValueError, http.client.InvalidURL) as exc:  # http.client refused the line or a header before sending any of it
                raise LocalRequestError(f"the request could not be built ({where}): {type(exc).__name__}; "
                                        "check the endpoint and credential settings") from None
            except (BrokenPipeError, ConnectionResetError):  # the server stopped reading: it may have answered already (401, 413)
                cut = True
            answer = connection.getresponse()
            body = answer.read()
            kept = not (cut or answer.will_close)
        except (socket.timeout, TimeoutError) as exc:
            raise RequestTimeout(f"no answer within {timeout:g} s, the --request-timeout ({where})") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"connection failed ({where}): {_scrub(_reason(exc), request)}") from exc
        finally:
            self._give_back(route, connection) if kept else connection.close()
        return Response(answer.status, answer.msg, _decoded(body, answer.msg.get("Content-Encoding"), where))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _prepare(self, request: Request, where: str) -> tuple[_Route, str, dict[str, str]]:
        """The route, the request target and the headers to send ``request`` with."""
        url = urlsplit(request.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise LocalRequestError(f"the request could not be built ({where}): not an http(s) URL; check the endpoint setting")
        try:
            port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            raise LocalRequestError(f"the request could not be built ({where}): the port is not a number; check the endpoint setting") from None
        query = "&".join(part for part in (url.query, urlencode(request.params)) if part)
        target = (url.path or "/") + (f"?{query}" if query else "")
        proxy = self._http.proxies.get(url.scheme)
        if proxy and _bypass(url.hostname, self._http.no_proxy):
            proxy = None
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate", "Accept": "*/*", **request.headers}
        if proxy and url.scheme == "http":  # a plain-HTTP proxy gets the whole URL and its own credentials
            target = f"http://{url.netloc.rpartition('@')[2]}{target}"
            headers.update(_proxy_authorization(proxy))
        return _Route(url.scheme, url.hostname, port, proxy), target, headers

    def _take(self, route: _Route) -> http.client.HTTPConnection | None:
        """An idle connection of ``route`` that the server has not closed, or None."""
        while True:
            with self._lock:
                idle = self._idle.get(route)
                connection = idle.pop() if idle else None
            if connection is None or not _dropped(connection):
                return connection
            connection.close()

    def _give_back(self, route: _Route, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(route, [])
            if len(idle) < self._pool_size:
                idle.append(connection)
                return
        connection.close()

    def _connect(self, route: _Route, timeout: float, where: str, request: Request) -> http.client.HTTPConnection:
        """A new connection of ``route``, connected (through the proxy's tunnel for https); nothing of ``request`` is sent yet."""
        host, port, what = route.host, route.port, "endpoint"
        if route.proxy:
            proxy = _proxy_parts(route.proxy)
            if proxy.scheme != "http":
                raise LocalRequestError(f"the request could not be built ({where}): only http:// proxy URLs are supported, "
                                        f"not {proxy.scheme}://; check HTTPS_PROXY / HTTP_PROXY")
            host, port = proxy.hostname or "", proxy.port or 80
            where, what = f"{where} through the proxy {host}:{port}", "proxy (HTTPS_PROXY / HTTP_PROXY / NO_PROXY)"
        if route.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls())
            if route.proxy:
                connection.set_tunnel(route.host, route.port, headers=_proxy_authorization(route.proxy))
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.response_class = _FinalAnswer
        try:
            connection.connect()
        except (socket.timeout, TimeoutError) as exc:  # nothing was sent: a firewall or a wrong address, not a slow API
            raise UnreachableError(f"no connection within {timeout:g} s, the --request-timeout ({where})") from exc
        except socket.gaierror as exc:
            raise UnreachableError(f"cannot resolve the host name ({where}): check the {what}") from exc
        except ConnectionRefusedError as exc:
            raise UnreachableError(f"connection refused ({where}): is the {what} right and the service up?") from exc
        except (OSError, http.client.HTTPException) as exc:  # a TLS handshake or a proxy's CONNECT refused: nothing sent
            if getattr(exc, "verify_message", None):  # ssl.SSLCertVerificationError
                hint = _CERTIFICATE_HINTS.get(exc.verify_code, "trust its CA with --ca-bundle FILE")
                raise UnreachableError(f"the TLS certificate of {route.host} is not trusted ({where}): "
                                       f"{exc.verify_message.rstrip('.')}; {hint} (or turn the check off with --insecure)") from exc
            raise UnreachableError(f"no connection ({where}): {_scrub(_reason(exc), request)}"
                                   + (f"; check the {what}" if route.proxy else "")) from exc
        return connection

    def _tls(self) -> Any:
        """The TLS context, made on first use: the system's CAs, the ``verify`` bundle, or no verification."""
        if self._tls_context is None:
            import ssl

            verify = self._http.verify
            try:
                context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: a DER file, a key, an empty file
                raise LocalRequestError(f"the CA bundle {verify} holds no usable certificate ({_reason(exc)}): "
                                        "--ca-bundle / REQUESTS_CA_BUNDLE wants CA certificates in PEM form") from None
            if verify is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls_context = context
        return self._tls_context


class _FinalAnswer(http.client.HTTPResponse):
    """An answer read past every 1xx interim one (102 Processing, 103 Early Hints), not only past 100 Continue as
    ``http.client`` does: else the interim one is taken for the answer and the real one for the next request's."""

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[attr-defined]  # private, in every http.client since 3.0
            if status >= 200:
                return version, status, reason
            http.client.parse_headers(self.fp)  # the interim answer's headers: dropped


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Has the server closed this idle connection (it reads as ready: end of stream, or bytes nobody asked for)?"""
    if connection.sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # no FD_SETSIZE limit
            poller = select.poll()
            poller.register(connection.sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([connection.sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _proxy_parts(proxy: str) -> SplitResult:
    """A proxy URL's parts; one without a scheme (``host:3128``) is http://, as curl and requests read it."""
    return urlsplit(proxy if "://" in proxy else f"http://{proxy}")


def _proxy_authorization(proxy: str) -> dict[str, str]:
    """The Proxy-Authorization header for a proxy URL with user:password@, or none."""
    parts = _proxy_parts(proxy)
    if parts.username is None:
        return {}
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + b64encode(pair).decode()}


def _decoded(body: bytes, encoding: str | None, where: str) -> bytes:
    """The body without its gzip (x-gzip) or deflate content coding."""
    coding = (encoding or "").strip().lower().removeprefix("x-")
    if coding not in ("gzip", "deflate") or not body:
        return body
    import gzip
    import zlib

    try:
        if coding == "gzip":
            return gzip.decompress(body)  # every member: a gzip stream may be several, one after another
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)  # "deflate" sent raw, as some servers do
    except (zlib.error, OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError, a cut one an EOFError
        raise TransportError(f"the answer's {coding} body could not be decoded ({where}): {exc}") from exc


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
    return urlsplit(url).netloc.rpartition("@")[2]


def _check_headers(request: Request) -> None:
    """Refuse a header value that no server would accept unchanged, naming the header, never the value."""
    for name, value in request.headers.items():
        if _BAD_HEADER_VALUE.search(value):
            raise LocalRequestError(
                f"the {name} header value has leading or trailing whitespace or a line break: "
                "check the credential or setting it comes from (a token pasted with its newline?)"
            )
        if not value.isascii():
            raise LocalRequestError(f"the {name} header value has characters beyond ASCII: check the credential or setting it comes from")


def _scrub(text: str, request: Request) -> str:
    """``text`` without any header value of ``request`` and without user:password@ in URLs."""
    return _USERINFO.sub(r"\1***@", redact(text, request.headers.values()))


def _reason(exc: BaseException) -> str:
    """A short, printable reason: 'Connection reset by peer', not a repr; bytes that are not HTTP are quoted."""
    text = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).strip(" '\"\r\n")
    if isinstance(exc, http.client.BadStatusLine) and not isinstance(exc, ConnectionError):  # not RemoteDisconnected
        tls = " from a TLS server: use https://" if text.startswith(("\x15\x03", "\x16\x03")) else ""  # an alert, a handshake
        return f"not an HTTP answer: {text[:60]!r}{tls}"
    return (text if text.isprintable() else repr(text)) or type(exc).__name__
