"""Files vizctl reads and writes itself: read only when regular (a FIFO never blocks a read), written whole or
not at all (a temporary file in the same directory, then a rename)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


class NotRegularFile(OSError):
    """A FIFO, socket or device where a file was expected: not read."""


def read_regular(path: str, limit: int = -1) -> bytes:
    """The bytes of ``path`` (at most ``limit``), opened without blocking and refused unless it is a regular file."""
    with open(path, "rb", opener=_open_nonblocking) as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise NotRegularFile("not a regular file")
        return handle.read(limit)


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))


def write_atomically(path: str, text: str, prefix: str = ".vizctl-") -> None:
    """Replace ``path`` with ``text`` (UTF-8) in one rename; on any failure (a full disk) the file is as it was,
    no temporary file is left, and the ``OSError`` is raised."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
