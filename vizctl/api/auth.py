"""Authentication: one pluggable piece that signs a :class:`~vizctl.api.transport.Request`.

An ``Auth`` adds its headers to a request and names the secret strings it
holds. The secrets it obtains while running (an IAM token, agency keys) are
registered with :mod:`vizctl.redact` by whoever reads them (:mod:`vizctl.api.iam`)
before the auth ever sees them.

- :class:`TokenAuth`: an IAM token given directly (``X-Auth-Token``).
- :class:`PasswordAuth`: asks IAM for a token, keeps it for the run, renews it on expiry; once a
  renewed token is refused as expired too, it sends nothing more (no loop of logins and 401s).
- :class:`SignerAuth`: AK/SK signing (``SDK-HMAC-SHA256``), with an optional security token.
- :class:`AgencyAuth`: AK/SK signing with the VM agency's temporary keys, refreshed before they expire.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from vizctl.errors import AuthError
from vizctl.api.transport import Request, Response, Transport

EXPIRED_TOKEN_MARKERS = ("APIGW.0307", "token must be updated", "token expired", "token has expired")
EXPIRED_AGAIN_CODE = "APIGW.0307"  # the gateway's code for an expired token, on the error of a renewal refused again


class Auth(Protocol):
    """Signs requests; ``secrets()`` lists the values that must never be shown.

    ``refusals_lock_the_key`` (when present and true) says that refused
    requests count towards locking the credential, so a first request is
    better sent alone than several at once.
    """

    def apply(self, request: Request) -> Request: ...

    def secrets(self) -> tuple[str, ...]: ...


def token_expired(response: Response) -> bool:
    """Does this answer say the token expired (APIGW.0307 "The token must be updated")?"""
    text = response.body.decode("utf-8", "replace").lower()
    return response.status == 401 and any(marker.lower() in text for marker in EXPIRED_TOKEN_MARKERS)


class TokenAuth:
    """IAM token auth: the token goes in ``X-Auth-Token``."""

    def __init__(self, token: str):
        self._token = token

    def apply(self, request: Request) -> Request:
        return request.with_headers(**{"X-Auth-Token": self._token})

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

    def __repr__(self) -> str:
        return "TokenAuth(token=***)"


class PasswordAuth:
    """A project-scoped IAM token from ``issue(timeout)`` (user + password), kept for the run.

    :meth:`renew` gets a new one when an answer says the token expired; a
    request is re-sent at most once (see :class:`RenewingTransport`). When the
    API refuses a renewed token as expired too (IAM's tokens are dead on
    arrival), :meth:`answered` makes every later request fail at once,
    unsent, with one :class:`AuthError`.
    """

    def __init__(self, issue: Callable[[float | None], str]):
        self._issue = issue
        self._token: str | None = None
        self._renewed: str | None = None  # the token a renewal issued, until the API accepts a request with it
        self._dead: str | None = None  # why no token helps: set once a renewed token was refused as expired
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if self._dead:
                raise AuthError(401, EXPIRED_AGAIN_CODE, self._dead)
            if self._token is None:
                self._token = self._issue(None)
            return self._token

    def apply(self, request: Request) -> Request:
        return request.with_headers(**{"X-Auth-Token": self.token()})

    def renew(self, sent: Request, timeout: float | None = None) -> bool:
        """Replace the token ``sent`` carried (unless another thread already did), asking IAM within ``timeout``
        seconds; True: send again. False when a renewed token was refused already: renewing again would loop."""
        with self._lock:
            if self._dead:
                return False
            if sent.headers.get("X-Auth-Token") == self._token:
                self._token = self._renewed = self._issue(timeout)
        return True

    def answered(self, sent: Request, response: Response) -> None:
        """The answer to a request sent with a renewed token: refused as expired ends every renewal."""
        with self._lock:
            if self._renewed is None or sent.headers.get("X-Auth-Token") != self._renewed:
                return
            self._renewed = None
            if token_expired(response):
                self._dead = ("the API refused IAM's new token as expired too: IAM issues tokens that are already "
                              "expired (or the API's clock is far ahead); vizctl does not log in again")

    def secrets(self) -> tuple[str, ...]:
        return (self._token,) if self._token else ()

    def __repr__(self) -> str:
        return "PasswordAuth(token=***)"


@dataclass(frozen=True)
class Keys:
    """An AK/SK pair, with a security token for temporary keys and when they expire (epoch seconds)."""

    access_key: str
    secret_key: str
    security_token: str | None = None
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"Keys(access_key={self.access_key[:4]}****, secret_key=***, expires_at={self.expires_at})"


class SignerAuth:
    """AK/SK request signing. The query is sent exactly as signed (the signer's encoding).

    ``last_canonical`` keeps the canonical request of the latest signature, so
    a rejected signature can be shown beside the gateway's at ``--debug``.
    """

    refusals_lock_the_key = True  # five rejected signatures in a row lock the key for five minutes

    def __init__(self, keys: Keys):
        self.keys = keys
        self.last_canonical = ""

    def apply(self, request: Request) -> Request:
        signed = sign_request(request, self.keys)
        self.last_canonical = signed.canonical
        return signed.request

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.keys.secret_key, self.keys.security_token) if s)

    def __repr__(self) -> str:
        return f"SignerAuth({self.keys!r})"


@dataclass(frozen=True)
class SignedRequest:
    request: Request
    canonical: str


def sign_request(request: Request, keys: Keys) -> SignedRequest:
    """``request`` signed with ``keys``: its query moved into the URL, encoded as signed."""
    from vizctl.api import signer  # here: hashing and dates cost start-up time that token users need not pay

    parts = urlsplit(request.url)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("authorization", "x-sdk-date", "host")}
    if keys.security_token:
        headers["X-Security-Token"] = keys.security_token
    params = [*parse_qsl(parts.query, keep_blank_values=True), *request.params]
    signed = signer.sign(keys.access_key, keys.secret_key, request.method, parts.netloc, parts.path or "/",
                         params, headers, request.body)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, signer.canonical_query(params), ""))
    return SignedRequest(Request(request.method, url, (), request.body, signed.headers), signed.canonical_request)


class AgencyAuth:
    """Signs with the VM agency's temporary keys from ``fetch()``, fetched again before they expire."""

    REFRESH_MARGIN = 600.0  # seconds before expiry, as the Terraform provider does
    refusals_lock_the_key = True

    def __init__(self, fetch: Callable[[], Keys], clock: Callable[[], float] = time.time):
        self._fetch = fetch
        self._clock = clock
        self._signer: SignerAuth | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    @property
    def keys(self) -> Keys:
        return self._current().keys

    @property
    def last_canonical(self) -> str:
        return self._signer.last_canonical if self._signer else ""

    def apply(self, request: Request) -> Request:
        return self._current().apply(request)

    def _current(self) -> SignerAuth:
        with self._lock:
            keys = self._signer.keys if self._signer else None
            if keys is None or (keys.expires_at is not None and keys.expires_at - self._clock() < self.REFRESH_MARGIN):
                keys = self._fetch()
                self.fetches += 1
                self._signer = SignerAuth(keys)
            return self._signer

    def secrets(self) -> tuple[str, ...]:
        return self._signer.secrets() if self._signer else ()

    def __repr__(self) -> str:
        return "AgencyAuth(keys=***)"


class RenewingTransport:
    """Re-sends a request once, with a new token, when the answer says the token expired.

    The login and the second send share the ``timeout`` of the first: the whole exchange ends within it.
    """

    def __init__(self, inner: Transport, auth: PasswordAuth, clock: Callable[[], float] = time.monotonic):
        self._inner = inner
        self._auth = auth
        self._clock = clock

    def send(self, request: Request, timeout: float) -> Response:
        ends = self._clock() + timeout
        response = self._inner.send(request, timeout)
        self._auth.answered(request, response)
        if not token_expired(response) or ends - self._clock() <= 0 or not self._auth.renew(request, ends - self._clock()):
            return response
        left = ends - self._clock()
        if left <= 0:
            return response  # the login took the time: the expired answer stands
        again = self._auth.apply(request)
        response = self._inner.send(again, left)
        self._auth.answered(again, response)
        return response

    def close(self) -> None:
        self._inner.close()
