"""The process around vizctl: streams, terminal, colour, environment variables, clock.

Commands take an :class:`Environment` instead of reaching for ``sys`` and
``os`` themselves, so tests can run the real CLI end to end with their own
streams and variables. Every write goes through :mod:`vizctl.redact`'s registry,
so a secret registered there (:meth:`Environment.add_secret` is a shorthand)
cannot reach any output.

A stream that fails (``vizctl apply | head -1`` closes the pipe, a full disk)
is written to no more, and the command goes on doing what it does. At its end,
:meth:`Environment.check_output` says so: an error for a command whose result is
its output (a result not written in full is no success). For apply, wait and
destroy, whose exit code is the jobs' outcome, the CLI makes it a notice where
the reader closed the pipe on purpose (:meth:`Environment.reader_left`) or the
outcome already fails.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, TextIO

from vizctl import redact as redaction
from vizctl.errors import OutputError

MASKED_NOTE = "Note: the output held a credential vizctl knows; it is shown as ***"


@dataclass
class Environment:
    """Streams, TTY facts and variables for one run of the CLI."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    cwd: str = field(default_factory=os.getcwd)
    clock: Callable[[], float] = time.monotonic
    colors: bool = False  # decided by the CLI from the TTY, NO_COLOR and --no-color
    verbosity: int = 0
    _failed: dict[int, str] = field(default_factory=dict)  # ids of streams whose writes failed -> why
    _closed: set[int] = field(default_factory=set)  # ids of streams whose reader closed the pipe
    _lock: threading.RLock = field(default_factory=threading.RLock)  # re-entrant: a signal handler may write
    _said_masked: bool = False  # MASKED_NOTE was written

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)

    def add_secret(self, value: str | None) -> None:
        """Never print ``value``, whatever the verbosity or the message it is in (see :func:`vizctl.redact.register`)."""
        redaction.register(value)

    def redact(self, text: str) -> str:
        """``text`` as it may be shown: every registered secret masked."""
        return redaction.redact(text)

    def out(self, text: str = "", end: str = "\n") -> None:
        """Write to standard output (results: plans, summaries, JSON); a credential masked in it is said so, once."""
        shown = self.redact(text)
        self._write(self.stdout, shown + end)
        if shown != text and not self._said_masked:
            self._said_masked = True
            self.err(MASKED_NOTE)

    def err(self, text: str = "", end: str = "\n") -> None:
        """Write to standard error (diagnostics, logs, errors)."""
        self._write(self.stderr, text + end)

    def log(self, text: str, level: int = 1) -> None:
        """A diagnostic line shown from ``-v`` (level 1) or ``-vv`` (level 2) on."""
        if self.verbosity >= level:
            self.err(f"vizctl: {text}")

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            if id(stream) in self._failed:
                return
            try:
                _write_all(stream, self.redact(text))
            except (OSError, ValueError) as exc:  # a closed pipe or file, a full disk: write nothing more there
                self._failed[id(stream)] = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                if isinstance(exc, BrokenPipeError):
                    self._closed.add(id(stream))
                _silence(stream)

    def check_output(self, notice_only: bool = False) -> None:
        """Raise :class:`OutputError` when a write to standard output failed (``notice_only``: say so on standard error)."""
        why = self._failed.get(id(self.stdout))
        if why is None:
            return
        error = OutputError(f"the output could not be written in full (standard output: {why})")
        if not notice_only:
            raise error
        self.err(f"vizctl: {error}")

    def reader_left(self) -> bool:
        """Whether standard output's reader closed the pipe (``| head``): it stopped reading on purpose."""
        return id(self.stdout) in self._closed

    def getenv(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(name)
        return value if value not in (None, "") else default


def _write_all(stream: TextIO, text: str) -> None:
    """Write and flush ``text``; a short write (a file that reached its size limit) is an error, never data lost quietly.

    A text stream over a binary one ignores how much its buffer took, so the bytes go to the buffer, which says.
    """
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(text)
        stream.flush()
        return
    stream.flush()  # whatever the text layer holds goes first
    data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    while data:
        written = buffer.write(data)
        if not written:
            raise OSError("the stream took none of the output")
        data = data[written:]
    buffer.flush()


def _silence(stream: TextIO) -> None:
    """Point a failed stream's descriptor at /dev/null, so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # not a real file (a test's StringIO): nothing flushes it at exit


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
