"""Small helpers for messages people read."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 job``, ``3 jobs``; ``many`` for irregular plurals."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def printable(text: str, lines: bool = False) -> str:
    """``text`` with every character that is not printable (ESC, BEL, C1 controls, line breaks unless
    ``lines``, bidi overrides, ...) written as JSON writes an escape, ``\\u001b``: a live value cannot drive
    the terminal. JSON text stays JSON that reads back to the same values (``lines`` for indented JSON)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or (lines and ch == "\n") else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)  # JSON's surrogate pair
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"
