"""Remembered details reads: ``job_type``, ``flavor`` and ``schedule`` of live jobs, by job identity.

The list API does not return those three fields, so a plan that declares them
costs one details call per job. They cannot change on a live job (the API
updates ``job_desc`` only; any other change is a delete and a new create, with
a new ``job_id``), so a job's details are remembered under its identity:
endpoint, project, ``job_id`` and ``create_time``. A job the cache does not
know by that whole identity is read from the API again; so is a job the list
gave no ``create_time`` for. The file holds no secrets (no token, key or
header): only that identity and those three fields.

Beside it, ``lists-v1.json`` (:class:`ListMemory`) remembers how many pages
each project's list had at the last whole read, so the next read asks them
all with page 1: one round trip. A wrong memory costs a round trip or a page
beyond the end, never a partial list (``client.list_all`` checks the read).

Where: ``$VIZCTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/vizctl``, else
``$HOME/.cache/vizctl``, file ``details-v1.json``; none when none of these is set.
``--no-cache`` neither reads nor writes them; deleting them is always safe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Any, Callable, Iterable

from vizctl.environment import Environment
from vizctl.fileio import read_regular, write_atomically
from vizctl.model import LiveJob

FILE_NAME = "details-v1.json"
LISTS_FILE_NAME = "lists-v1.json"
FIELDS = ("job_type", "flavor", "schedule")


def cache_path(env: Environment) -> str | None:
    """The cache file for this environment, or None when it names no cache directory."""
    directory = env.getenv("VIZCTL_CACHE_DIR")
    if directory is None and env.getenv("XDG_CACHE_HOME") is not None:
        directory = os.path.join(env.getenv("XDG_CACHE_HOME"), "vizctl")
    if directory is None and env.getenv("HOME") is not None:
        directory = os.path.join(env.getenv("HOME"), ".cache", "vizctl")
    return None if directory is None else os.path.join(directory, FILE_NAME)


class DetailsCache:
    """The details fields of the jobs of one endpoint and project, kept in one JSON file."""

    def __init__(self, path: str, endpoint: str, project_id: str, notice: Callable[[str], None] = lambda message: None):
        self.path = path
        self._scope = f"{endpoint.rstrip('/')} {project_id}"
        self._entries, damage = _read(path, "jobs", "details cache")
        if damage:
            notice(f"ignored the details cache {path}: {damage}; it is written anew")
        self.lists = ListMemory(os.path.join(os.path.dirname(path), LISTS_FILE_NAME), endpoint, project_id, notice)

    def lookup(self, jobs: Iterable[LiveJob]) -> dict[str, LiveJob]:
        """The listed jobs whose details are remembered, as details (listed fields plus the remembered ones), by id."""
        found = {}
        for job in jobs:
            fields = self._entries.get(self._key(job)) if job.create_time is not None else None
            if isinstance(fields, dict):
                found[job.job_id] = dataclasses.replace(job, extra={k: v for k, v in fields.items() if k in FIELDS})
        return found

    def store(self, details: Iterable[LiveJob], live: Iterable[LiveJob]) -> None:
        """Remember ``details`` read from the API, forget this project's jobs that are no longer ``live``; write the file.

        Nothing is remembered for an answer that carries none of the fields
        (it may have been partial) or for a job without ``create_time``.
        """
        live = {job.job_id: job for job in live}
        for detail in details:
            listed = live.get(detail.job_id)
            fields = {k: detail.extra[k] for k in FIELDS if detail.extra.get(k) not in (None, "")}
            if fields and listed is not None and listed.create_time is not None:
                self._entries[self._key(listed)] = fields  # under the identity the list showed
        alive = {self._key(job) for job in live.values()}
        prefix = self._scope + " "
        self._entries = {k: v for k, v in self._entries.items() if not k.startswith(prefix) or k in alive}
        _write(self.path, "jobs", self._entries, ".details-")

    def _key(self, job: LiveJob) -> str:
        return f"{self._scope} {job.job_id} {job.create_time}"


class ListMemory:
    """The shape of one endpoint and project's list at its last whole read: ``per_page`` and sort asked, pages
    it had. It holds no secrets and no jobs; a damaged file or entry is ignored (said) and written anew."""

    def __init__(self, path: str, endpoint: str, project_id: str, notice: Callable[[str], None] = lambda message: None):
        self.path = path
        self._scope = f"{endpoint.rstrip('/')} {project_id}"
        self._notice = notice
        self._entries: dict[str, Any] | None = None  # read on first use: only a command that lists pays for it

    def recall(self) -> tuple[int, str, int] | None:
        """``(per_page, sort, pages)`` of the last whole read, or None when none is remembered."""
        entry = self._read().get(self._scope)
        if entry is None:
            return None
        shape = (entry.get("per_page"), entry.get("sort"), entry.get("pages")) if isinstance(entry, dict) else ()
        if [type(value) for value in shape] != [int, str, int] or shape[0] < 1 or shape[2] < 1:
            self._notice(f"ignored the list memory {self.path}: its entry for this project is damaged; it is written anew")
            return None
        return shape

    def remember(self, per_page: int, sort: str, pages: int) -> None:
        """Remember this read's shape; the file is written only when it changed."""
        entry = {"per_page": per_page, "sort": sort, "pages": pages}
        entries = self._read()
        if entries.get(self._scope) != entry:
            entries[self._scope] = entry
            _write(self.path, "lists", entries, ".lists-")

    def _read(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries, damage = _read(self.path, "lists", "list memory")
            if damage:
                self._notice(f"ignored the list memory {self.path}: {damage}; it is written anew")
        return self._entries


def _read(path: str, key: str, what: str) -> tuple[dict[str, Any], str | None]:
    """The entries of the file, and what is wrong with it: a missing file is an empty cache; so is an
    unreadable or damaged one, said."""
    try:
        data = json.loads(read_regular(path))
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"cannot read it ({exc.strerror or exc})"
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deeply to read
        return {}, "damaged (not JSON vizctl can read)"
    entries = data.get(key) if isinstance(data, dict) and data.get("version") == 1 else None
    return (dict(entries), None) if isinstance(entries, dict) else ({}, f"not a vizctl {what} of version 1")


def _write(path: str, key: str, entries: dict[str, Any], prefix: str) -> None:
    """Replace the file atomically; a cache that cannot be written is only a slower next plan."""
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, json.dumps({"version": 1, key: entries}, separators=(",", ":")), prefix=prefix)
