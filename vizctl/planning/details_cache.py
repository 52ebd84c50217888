"""Remembered details reads: ``job_type``, ``flavor`` and ``schedule`` of live jobs, by job identity.

The list API does not return those three fields, so a plan that declares them
costs one details call per job. They cannot change on a live job (the API
updates ``job_desc`` only; any other change is a delete and a new create, with
a new ``job_id``), so a job's details are remembered under its identity:
endpoint, project, ``job_id`` and ``create_time``. A job the cache does not
know by that whole identity is read from the API again; so is a job the list
gave no ``create_time`` for. The file holds no secrets (no token, key or
header): only that identity and those three fields.

Where: ``$VIZCTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/vizctl``, else
``$HOME/.cache/vizctl``, file ``details-v1.json``; none when none of these is set.
``--no-cache`` neither reads nor writes it; deleting it is always safe.
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
        self._entries, damage = _read(path)
        if damage:
            notice(f"ignored the details cache {path}: {damage}; it is written anew")

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
        _write(self.path, self._entries)

    def _key(self, job: LiveJob) -> str:
        return f"{self._scope} {job.job_id} {job.create_time}"


def _read(path: str) -> tuple[dict[str, Any], str | None]:
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
    entries = data.get("jobs") if isinstance(data, dict) and data.get("version") == 1 else None
    return (dict(entries), None) if isinstance(entries, dict) else ({}, "not a vizctl details cache of version 1")


def _write(path: str, entries: dict[str, Any]) -> None:
    """Replace the file atomically; a cache that cannot be written is only a slower next plan."""
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, json.dumps({"version": 1, "jobs": entries}, separators=(",", ":")), prefix=".details-")
