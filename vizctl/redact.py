"""Masking secrets: the one registry of every secret vizctl learns, and the one rule every output follows.

Whoever learns a secret registers it at once with :func:`register`: the
settings (flags, variables, vizctl's config file, KooCLI's, the Huawei SDK's
credentials file, clouds.yaml), the IAM token vizctl is issued, the ECS
metadata session token and the agency's temporary keys, a proxy URL's
password. Every output passes through :func:`redact`: standard output and
error (logs, ``--debug``, errors, JSON, Markdown) through
:class:`~vizctl.environment.Environment`, the transport's own messages
directly. What would be kept or sent rather than shown is refused when it
holds a secret (:func:`holds_secret`): a manifest value, a plan file.

A secret is registered in every form an answer, a log or an error may echo it
in: as it is; URL-encoded (``quote`` with and without ``/`` kept, ``quote_plus``,
upper- and lower-case hex); JSON-escaped (``json.dumps`` without the quotes,
ASCII-only and not); Python-escaped (``repr`` without the quotes); HTML-escaped.
:func:`register_basic` adds the Base64 of ``user:password`` (a
``Proxy-Authorization: Basic`` header).

The length rule: a value shorter than :data:`MIN_SECRET_LENGTH` (4) characters
is never masked, because masking it would mangle every output (a 1-character
secret ``e`` would turn each ``e`` of every message into ``***``, and the
output would say nothing). vizctl therefore refuses to *use* a credential that
short, wherever it comes from (:func:`too_short`: settings, a proxy URL's
password, IAM's and the metadata service's answers): every secret vizctl
sends can be masked.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from typing import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"
MIN_SECRET_LENGTH = 4  # shorter values occur in ordinary text: masking them would mangle all output
_HEX = re.compile(r"%[0-9A-F]{2}")


def too_short(secret: str | None) -> bool:
    """Is ``secret`` too short to be masked (and so too short for vizctl to use)?"""
    return secret is not None and 0 < len(secret) < MIN_SECRET_LENGTH


def forms(secret: str) -> set[str]:
    """``secret`` as an answer, a log or an error may show it: raw, URL-encoded, JSON-, Python- and HTML-escaped."""
    encoded = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    found = {secret, *encoded, *(_HEX.sub(lambda m: m.group(0).lower(), e) for e in encoded),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
             html.escape(secret), html.escape(secret, quote=False)}
    return {f for f in found if len(f) >= MIN_SECRET_LENGTH}


class Registry:
    """The secrets of one process, each in all its :func:`forms`; thread-safe."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._ordered: tuple[str, ...] = ()  # longest first: a form that holds another is masked whole
        self._lock = threading.Lock()

    def register(self, secret: str | None) -> None:
        """Mask ``secret`` (in every form) in all output from now on; shorter than 4 characters: nothing to mask."""
        if secret and not too_short(secret):
            self._add(forms(secret))

    def register_basic(self, user: str, password: str) -> None:
        """Mask ``password`` and the Base64 of ``user:password`` that HTTP Basic credentials carry."""
        self.register(password)
        if password:
            pair = f"{user}:{password}"
            encodings = ("utf-8", "latin-1") if max(pair) <= "\xff" else ("utf-8",)  # requests encodes latin-1
            self._add({base64.b64encode(pair.encode(e)).decode() for e in encodings})

    def _add(self, new: set[str]) -> None:
        with self._lock:
            if not new <= self._forms:
                self._forms |= new
                self._ordered = tuple(sorted(self._forms, key=len, reverse=True))

    def redact(self, text: str, extra: Iterable[str | None] = ()) -> str:
        """``text`` with every registered secret (and each of ``extra``) masked as ``***``."""
        more = set().union(*(forms(s) for s in extra if s and not too_short(s)))
        for secret in sorted(more | set(self._ordered), key=len, reverse=True) if more else self._ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def holds_secret(self, text: str) -> bool:
        """Does ``text`` hold any registered secret, in any form?"""
        return any(secret in text for secret in self._ordered)


REGISTRY = Registry()  # the process's one registry
register = REGISTRY.register
register_basic = REGISTRY.register_basic
holds_secret = REGISTRY.holds_secret


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every registered secret, and each of ``secrets``, masked as ``***``."""
    return REGISTRY.redact(text, secrets)

