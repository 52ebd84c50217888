"""The one seam between vizctl and the network: ``Transport.send(request, timeout) -> response``.

Everything above it (auth, retries, rate limiting, error parsing) works on the
small :class:`Request` / :class:`Response` values, so it can be read and tested
without knowing how HTTP is spoken. :class:`RequestsTransport` speaks it with
``requests`` (imported on first use, so commands that send nothing never load
it), fed only vizctl's own resolved settings: what is vizctl's here is the
deadline of a whole exchange, which errors mean "nothing was sent", the
readable messages, and checking header values before anything is sent.
"""

from __future__ import annotations

import functools
import heapq
import re
import socket
import sys
import threading
import time
from base64 import b64encode
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping, Protocol
from urllib.parse import SplitResult, unquote, urlsplit

from vizctl import __version__
from vizctl.errors import LocalRequestError, RequestTimeout, TransportError, UnreachableError
from vizctl.redact import redact, register, register_basic
from vizctl.api.settings import proxy_credentials, proxy_url

_BAD_HEADER_VALUE = re.compile(r"^\s|\s$|[\r\n\0]")
_USERINFO = re.compile(r"(//)[^/@\s]+@")
_CLOCK = "check this machine's clock, else the server's certificate is out of date"
_CERTIFICATE_HINTS = {9: _CLOCK, 10: _CLOCK, 62: "check the endpoint's host name", 64: "check the endpoint's host name"}  # OpenSSL's X509_V_ERR_*
_PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
USER_AGENT = f"vizctl/{__version__} python/{sys.version_info.major}.{sys.version_info.minor}"
_HEADERS = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
_LONGEST_WAIT = 3600.0  # the watchdog's longest sleep: Condition.wait refuses huge timeouts


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
    """Sends one request and returns the answer, or raises TransportError; ``close`` ends its kept-alive connections.

    ``timeout`` bounds the whole exchange: connecting (a proxy's tunnel and the
    TLS handshake included), sending, and reading the status, headers and body.
    A server that trickles its answer a byte at a time is cut off at the deadline
    like one that sends nothing.
    """

    def send(self, request: Request, timeout: float) -> Response: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class HttpSettings:
    """TLS and proxy settings of a transport: ``verify`` is True (the system's CAs), False, or a CA bundle file or
    a directory of hashed CA certificates."""

    verify: bool | str = True
    proxies: Mapping[str, str] = field(default_factory=dict)  # scheme -> proxy URL
    no_proxy: tuple[str, ...] = ()  # as curl reads NO_PROXY: "*", hosts, domains, host:port, IP addresses, CIDR ranges


class RequestsTransport:
    """A :class:`Transport` on one ``requests.Session``; never retries by itself (vizctl's retry policy does).

    The session's adapter keeps up to ``pool_size`` kept-alive connections per
    origin (vizctl sends at most ``--parallelism`` requests at once). Requests go
    to the adapter as vizctl built them: nothing is read from the process
    environment or ~/.netrc, no cookie is kept, and proxies, NO_PROXY and the CAs
    to trust come from :class:`HttpSettings`. Redirects are not followed: a 3xx is
    the answer.
    """

    def __init__(self, pool_size: int = 10, http: HttpSettings = HttpSettings()):
        self._http = http
        self._pool_size = max(pool_size, 1)
        self._session: Any = None
        self._lock = threading.Lock()
        for proxy in http.proxies.values():
            register_proxy_secrets(proxy)

    def send(self, request: Request, timeout: float) -> Response:
        _check_headers(request)
        url, where = _target(request)
        proxy = self._proxy(url)
        if proxy:
            where += f" through the proxy {_proxy_address(proxy)}"
        adapter = self._adapter(url.scheme == "https" or (proxy or "").startswith("https"))
        import requests  # loaded by _adapter already: a name lookup

        try:
            prepared = requests.PreparedRequest()  # only what vizctl sends: no cookies, no auth from the URL or ~/.netrc
            prepared.prepare_method(request.method)
            prepared.prepare_url(url.geturl(), list(request.params))
            prepared.prepare_headers({**_HEADERS, **request.headers})
            prepared.prepare_body(request.body, None)
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise LocalRequestError(f"the request could not be built ({where}): {type(exc).__name__}; check the endpoint setting") from None
        exchange = _Exchange(time.monotonic() + timeout)
        _WATCHDOG.watch(exchange)
        try:  # the adapter never follows a redirect: a 3xx is the answer
            answer = adapter.send(prepared, stream=True, timeout=(timeout, timeout), proxies={url.scheme: proxy} if proxy else {})
            if answer.status_code < 200:  # an interim answer read as the final one: the real one is still on the wire
                answer.close()
                raise TransportError(self._scrub(f"connection failed ({where}): an interim answer ({answer.status_code} "
                                                 f"{answer.reason}) where the answer was due; the connection was dropped", request))
            body = answer.raw.read(decode_content=True)
            if exchange.expired:  # cut at the deadline: http.client may take a cut header block for a whole (empty) answer
                raise RequestTimeout(self._scrub(f"no answer within {timeout:g} s, the --request-timeout ({where})", request))
        except TransportError:
            raise
        except Exception as exc:  # noqa: BLE001  # requests' and urllib3's errors, mapped to vizctl's in one place
            raise self._failure(exc, exchange, timeout, where, request, proxy) from exc
        finally:
            _WATCHDOG.release(exchange)
        return Response(answer.status_code, answer.headers, body)

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def _adapter(self, tls: bool) -> Any:
        """The session's adapter, made on first use; with ``tls``, its SSL context too (made and checked before
        anything is sent; a plain-HTTP endpoint never loads a CA)."""
        with self._lock:
            if self._session is None:
                self._session = _new_session(self._pool_size)
            adapter = self._session.get_adapter("https://")
            if tls and adapter.context is None:
                adapter.context = _ssl_context(self._http.verify)
            return adapter

    def _proxy(self, url: SplitResult) -> str | None:
        proxy = self._http.proxies.get(url.scheme)
        if not proxy or _bypass(url.hostname or "", self._http.no_proxy, url.port or (443 if url.scheme == "https" else 80)):
            return None
        proxy = proxy_url(proxy).geturl()
        scheme = proxy.partition("://")[0].lower()
        if scheme not in _PROXY_SCHEMES:
            raise LocalRequestError(f"the proxy URL's scheme {scheme}:// is not one vizctl speaks (http://, https:// or "
                                    "socks5:// with requests[socks]); check HTTPS_PROXY / HTTP_PROXY")
        return proxy

    def _failure(self, exc: BaseException, exchange: "_Exchange", timeout: float, where: str, request: Request,
                 proxy: str | None) -> Exception:
        """vizctl's error for what ``requests`` raised: before anything was sent (unreachable) or after (ambiguous)."""
        error_class, text = _classified(exc, exchange, timeout, where, request, proxy)
        return error_class(self._scrub(text, request))

    def _scrub(self, text: str, request: Request) -> str:
        """``text`` without any registered secret (the proxies' passwords among them), any header value of ``request``,
        or user:password@ in URLs."""
        return _USERINFO.sub(r"\1***@", redact(text, request.headers.values()))


def _classified(exc: BaseException, exchange: "_Exchange", timeout: float, where: str, request: Request,
                proxy: str | None) -> tuple[type[Exception], str]:
    """The error class and message for what requests raised (unscrubbed: the transport scrubs every message)."""
    import requests

    what = "proxy (HTTPS_PROXY / HTTP_PROXY / NO_PROXY)" if proxy else "endpoint"
    causes = list(_causes(exc))
    if isinstance(exc, requests.exceptions.InvalidSchema):  # a socks:// proxy without PySocks
        return LocalRequestError, (f"the request could not be built ({where}): a SOCKS proxy needs PySocks "
                                   "(pip install 'requests[socks]'); check HTTPS_PROXY / HTTP_PROXY")
    if isinstance(exc, requests.exceptions.InvalidURL):
        return LocalRequestError, f"the request could not be built ({where}): the URL is not valid; check the endpoint setting"
    timed_out = exchange.expired or any(isinstance(c, TimeoutError) or "TimeoutError" in type(c).__name__ for c in causes)
    if not exchange.unsent:
        if timed_out:
            return RequestTimeout, f"no answer within {timeout:g} s, the --request-timeout ({where})"
        if any(type(c).__name__ == "DecodeError" for c in causes):
            return TransportError, f"the answer's {(exchange.coding or 'content').lower()} body could not be decoded ({where})"
        return TransportError, f"connection failed ({where}): {_reason(causes)}"
    if timed_out:  # nothing was sent: a firewall or a wrong address, not a slow API
        return UnreachableError, f"no connection within {timeout:g} s, the --request-timeout ({where})"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return UnreachableError, f"cannot resolve the host name ({where}): check the {what}"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return UnreachableError, f"connection refused ({where}): is the {what} right and the service up?"
    untrusted = next((c for c in causes if getattr(c, "verify_message", None)), None)  # ssl.SSLCertVerificationError
    if untrusted is not None:
        hint = _CERTIFICATE_HINTS.get(untrusted.verify_code, "trust its CA with --ca-bundle FILE")
        return UnreachableError, (f"the TLS certificate of {urlsplit(request.url).hostname} is not trusted ({where}): "
                                  f"{untrusted.verify_message.rstrip('.')}; {hint} (or turn the check off with --insecure)")
    return UnreachableError, f"no connection ({where}): {_reason(causes)}" + (f"; check the {what}" if proxy else "")


# -- the deadline of one exchange --------------------------------------------------------------------------------


class _Exchange:
    """One request in flight: its deadline, the connection it uses, and whether it failed before sending."""

    __slots__ = ("deadline", "connection", "expired", "unsent", "done", "coding")

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.connection: Any = None
        self.expired = self.unsent = self.done = False
        self.coding: str | None = None


class _Watchdog:
    """One thread that, at an exchange's deadline, shuts down the socket of the exchange still running then.

    Each socket read is also bounded by the timeout, but a server sending a byte
    a second never lets one run out: only closing the socket ends such an answer.
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _Exchange]] = []
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    def watch(self, exchange: _Exchange) -> None:
        self._local.exchange = exchange
        with self._lock:
            heapq.heappush(self._due, (exchange.deadline, id(exchange), exchange))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vizctl-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0][2] is exchange:
                self._lock.notify()

    def release(self, exchange: _Exchange) -> None:
        self._local.exchange = None
        with self._lock:
            exchange.done = True

    def attach(self, connection: Any, connecting: bool = False) -> _Exchange | None:
        """Tie ``connection`` to this thread's exchange (it may be a kept-alive one, new to this exchange)."""
        exchange = getattr(self._local, "exchange", None)
        if exchange is not None:
            with self._lock:
                exchange.connection = connection
                connection.vizctl_exchange = exchange
                if exchange.expired and not connecting:
                    _shut(connection)
        return exchange

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._due and self._due[0][2].done:
                    heapq.heappop(self._due)
                if not self._due:
                    self._lock.wait()
                    continue
                deadline, _, exchange = self._due[0]
                if deadline > time.monotonic():
                    self._lock.wait(min(deadline - time.monotonic(), _LONGEST_WAIT))
                    continue
                heapq.heappop(self._due)
                exchange.expired = True
                if exchange.connection is not None and getattr(exchange.connection, "vizctl_exchange", None) is exchange:
                    _shut(exchange.connection)


def _shut(connection: Any) -> None:
    """Shut the connection's socket down: a read blocked on it returns at once, in whichever thread it is."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_WATCHDOG = _Watchdog()


class _Watched:
    """Mixed into urllib3's connection classes: each connection tells the watchdog which exchange uses it, and
    a failure while connecting (DNS, TCP, a proxy's tunnel, the TLS handshake) marks the exchange unsent."""

    def connect(self) -> None:
        exchange = _WATCHDOG.attach(self, connecting=True)
        try:
            super().connect()  # type: ignore[misc]
        except BaseException:
            if exchange is not None:
                exchange.unsent = True
            raise

    def request(self, *args: Any, **kwargs: Any) -> None:
        _WATCHDOG.attach(self)
        super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self) -> Any:
        answer = super().getresponse()  # type: ignore[misc]
        exchange = getattr(self, "vizctl_exchange", None)
        if exchange is not None:
            exchange.coding = answer.headers.get("Content-Encoding")
        return answer


@functools.lru_cache(maxsize=None)
def _adapter_class() -> type:
    """requests' HTTPAdapter with vizctl's connections, SSL context and proxy credentials (requests imported here)."""
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    pools = _watched_pools(HTTPConnectionPool, HTTPSConnectionPool)

    class Adapter(HTTPAdapter):
        context: Any = None  # the SSL context, set by the transport before the first https request

        def __init__(self, pool_size: int):
            super().__init__(pool_maxsize=pool_size, max_retries=0)

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            fresh = proxy not in self.proxy_manager
            manager = super().proxy_manager_for(proxy, **kwargs, **({"proxy_ssl_context": self.context} if proxy.startswith("https") else {}))
            if fresh:
                manager.pool_classes_by_scheme = _socks_pools() if proxy.startswith("socks") else pools
            return manager

        def proxy_headers(self, proxy: str) -> dict[str, str]:
            return _proxy_authorization(proxy)  # requests drops it for a user without a password

        def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
            host, _ = super().build_connection_pool_key_attributes(request, verify, cert)
            return host, {"ssl_context": self.context, "cert_reqs": self.context.verify_mode} if self.context else {}

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            """Nothing to set per request: what to trust is in the SSL context, made once."""

    return Adapter


def _watched_pools(http_pool: type, https_pool: type) -> dict[str, type]:
    """Subclasses of two urllib3 pool classes, by scheme, whose connections are :class:`_Watched`."""
    def watched(pool: type) -> type:
        connection = type(f"_Watched{pool.ConnectionCls.__name__}", (_Watched, pool.ConnectionCls), {})
        return type(f"_Watched{pool.__name__}", (pool,), {"ConnectionCls": connection})

    return {"http": watched(http_pool), "https": watched(https_pool)}


@functools.lru_cache(maxsize=None)
def _socks_pools() -> dict[str, type]:
    """urllib3's SOCKS pools, watched, so the deadline and "nothing was sent" hold through SOCKS too
    (urllib3.contrib.socks needs PySocks; requests refuses a socks:// proxy before this without it)."""
    from urllib3.contrib import socks

    return _watched_pools(socks.SOCKSHTTPConnectionPool, socks.SOCKSHTTPSConnectionPool)


def _new_session(pool_size: int) -> Any:
    """A requests.Session that reads nothing from the environment, with vizctl's one adapter for http and https."""
    import requests

    session = requests.Session()
    session.trust_env = False  # no ~/.netrc replacing the signed Authorization header, no proxy variables behind vizctl's back
    adapter = _adapter_class()(pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _ssl_context(verify: bool | str) -> Any:
    """The one SSL context of a transport. True: the system's trust store plus certifi's CAs (as pip does), so a
    corporate CA only in the system store works and an empty system store (python.org's macOS builds) still trusts
    the public CAs; the system store is the OS verifier through ``truststore`` on macOS and Windows, and OpenSSL's
    default paths elsewhere (what truststore reads there too, without its lock that serializes every TLS handshake
    of a context). A path: only the CAs of that file or hashed directory, as requests reads it. False: no checks."""
    import ssl

    if verify is True:
        import certifi

        if sys.platform in ("darwin", "win32"):
            import truststore

            context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        else:
            context = ssl.create_default_context()
        context.load_verify_locations(certifi.where())
        return context
    try:
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # vizctl warned once already
            return context
        import os

        return ssl.create_default_context(capath=verify) if os.path.isdir(verify) else ssl.create_default_context(cafile=verify)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: a DER file, a key, a file of text
        raise LocalRequestError(f"the CA bundle {verify} holds no usable certificate ({_reason([exc])}): "
                                "--ca-bundle / REQUESTS_CA_BUNDLE wants CA certificates in PEM form") from None


# -- pure helpers -------------------------------------------------------------------------------------------------


def _target(request: Request) -> tuple[SplitResult, str]:
    """The URL to send (user information dropped: requests would turn it into Basic credentials) and its description."""
    url = urlsplit(request.url)
    where = f"{request.method} {url.path} at {url.netloc.rpartition('@')[2]}"
    if url.scheme not in ("http", "https") or not url.hostname:
        raise LocalRequestError(f"the request could not be built ({where}): not an http(s) URL; check the endpoint setting")
    try:
        url.port
    except ValueError:
        raise LocalRequestError(f"the request could not be built ({where}): the port is not a number; check the endpoint setting") from None
    return url._replace(netloc=url.netloc.rpartition("@")[2], path=url.path or "/"), where


def _proxy_address(proxy: str) -> str:
    parts = urlsplit(proxy)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 1080 if parts.scheme.startswith('socks') else 80)}"


def _proxy_authorization(proxy: str) -> dict[str, str]:
    """The Proxy-Authorization header for a proxy URL with user[:password]@, or none."""
    parts = proxy_url(proxy)
    if parts.username is None:
        return {}
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return {"Proxy-Authorization": "Basic " + b64encode(pair.encode()).decode()}


def register_proxy_secrets(proxy: str) -> None:
    """A proxy URL's password, as written, decoded and in its Basic header, masked in all output (vizctl.redact)."""
    credentials = proxy_credentials(proxy)
    if credentials:
        register_basic(*credentials)
        register(proxy_url(proxy).password)


def _bypass(host: str, no_proxy: tuple[str, ...], port: int | None = None) -> bool:
    """Does NO_PROXY cover ``host`` (on ``port``), as curl and requests read it? An entry is ``*``, a host or a domain
    (with or without its leading dot: the domain and every host in it), an IP address or a CIDR range
    (``10.0.0.0/8``, ``::1/128``), each optionally with ``:port``; IPv6 addresses may be in brackets."""
    host = host.lower().strip("[]")
    address = _address(host)
    for entry in no_proxy:
        name, entry_port = _split_port(entry.strip().lower())
        if name == "*":
            return True
        if entry_port is not None and entry_port != port:
            continue
        name = name.strip("[]")
        if address is None:
            name = name.lstrip(".")
            if name and (host == name or host.endswith("." + name)):
                return True
        elif "/" in name:
            import ipaddress

            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
        elif _address(name) == address:
            return True
    return False


def _address(text: str) -> Any:
    import ipaddress

    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` / ``[v6]:port`` -> (host, port); a bare IPv6 address (several colons) has no port."""
    if entry.startswith("["):
        name, _, rest = entry.partition("]")
        return name + "]", int(rest[1:]) if rest[1:].isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None


def _check_headers(request: Request) -> None:
    """Refuse a header value that no server would accept unchanged, naming the header, never the value
    (requests' own InvalidHeader message repeats the value: a token)."""
    for name, value in request.headers.items():
        if _BAD_HEADER_VALUE.search(value):
            raise LocalRequestError(
                f"the {name} header value has leading or trailing whitespace or a line break: "
                "check the credential or setting it comes from (a token pasted with its newline?)"
            )
        if not value.isascii():
            raise LocalRequestError(f"the {name} header value has characters beyond ASCII: check the credential or setting it comes from")


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: requests' and urllib3's errors carry the socket's one in args, reason, cause."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [a for a in current.args if isinstance(a, BaseException)]
        todo += [c for c in (getattr(current, "reason", None), current.__cause__, current.__context__) if isinstance(c, BaseException)]


def _reason(causes: list[BaseException]) -> str:
    """A short, printable reason from the innermost error: 'Connection reset by peer', not a repr; bytes that are
    not HTTP are quoted."""
    import http.client  # loaded with requests already

    exc = causes[-1]
    for cause in causes:
        if isinstance(cause, (OSError, http.client.HTTPException)) and not type(cause).__module__.startswith(("urllib3", "requests")):
            exc = cause
            break
    text = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).strip(" '\"\r\n")
    if isinstance(exc, http.client.BadStatusLine) and not isinstance(exc, ConnectionError):  # not RemoteDisconnected
        tls = " from a TLS server: use https://" if text.startswith(("\x15\x03", "\x16\x03")) else ""  # an alert, a handshake
        return f"not an HTTP answer: {text[:60]!r}{tls}"
    return (text if text.isprintable() else repr(text)) or type(exc).__name__
