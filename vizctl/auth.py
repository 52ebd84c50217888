"""Authentication: one pluggable piece that signs a :class:`~vizctl.transport.Request`.

An ``Auth`` adds its headers to a request and names the secret strings it
holds, so that the output layer can make sure they are never printed.
"""

from __future__ import annotations

from typing import Protocol

from vizctl.transport import Request


class Auth(Protocol):
    """Signs requests; ``secrets()`` lists the values that must never be shown."""

    def apply(self, request: Request) -> Request: ...

    def secrets(self) -> tuple[str, ...]: ...


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
