"""Writing a file whole or not at all: a temporary file in the same directory, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile


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
