"""Small helpers for messages people read."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 job``, ``3 jobs``; ``many`` for irregular plurals."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
