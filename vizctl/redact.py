"""Masking secrets in text: the one rule every output, log line and error message follows."""

from __future__ import annotations

from typing import Iterable

REDACTED = "***"
MIN_SECRET_LENGTH = 4  # shorter values are too common in ordinary text to be masked


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret of at least :data:`MIN_SECRET_LENGTH` characters replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    return text
