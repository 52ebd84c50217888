"""The nouns vizctl works with: job statuses, declared jobs and live jobs.

Nothing here does I/O; the client builds :class:`LiveJob` from API answers and
the manifest loader builds :class:`JobSpec` from YAML.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any


class Phase(str, enum.Enum):
    """How vizctl reads a ModelArts status: the one thing a plan needs to know."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class Status(enum.IntEnum):
    """Visualization job statuses as documented by ModelArts."""

    UNKNOWN = 0
    INIT = 1
    IMAGE_CREATING = 2
    IMAGE_FAILED = 3
    SUBMIT_TRYING = 4
    SUBMIT_FAILED = 5
    DELETE_FAILED = 6
    WAITING = 7
    RUNNING = 8
    KILLING = 9
    COMPLETED = 10
    FAILED = 11
    KILLED = 12
    CANCELED = 13
    LOST = 14
    SCALING = 15
    SUBMIT_MODEL_FAILED = 16
    DEPLOY_SERVICE_FAILED = 17
    CHECK_INIT = 18
    CHECK_RUNNING = 19
    CHECK_RUNNING_COMPLETED = 20
    CHECK_FAILED = 21

    @property
    def phase(self) -> Phase:
        return _PHASES[self]


_PHASES = {
    **{s: Phase.PENDING for s in (0, 1, 2, 4, 7, 15, 18, 19)},
    **{s: Phase.FAILED for s in (3, 5, 6, 11, 14, 16, 17, 21)},
    **{s: Phase.STOPPED for s in (10, 12, 13, 20)},
    9: Phase.STOPPING,
    8: Phase.RUNNING,
}
_PHASES = {Status(k): v for k, v in _PHASES.items()}


def status_name(status: int | None) -> str:
    """``RUNNING`` for 8; ``STATUS_42`` for a value the documents do not list."""
    if status is None:
        return "ABSENT"
    try:
        return Status(status).name
    except ValueError:
        return f"STATUS_{status}"


def phase_of(status: int) -> Phase:
    """The phase of a status; an undocumented status counts as pending."""
    phase = _PHASES.get(status) if type(status) is int else None  # an IntEnum key: found by the int, no Status built
    if phase is not None:
        return phase
    try:
        return Status(status).phase
    except ValueError:
        return Phase.PENDING


def job_id_order(job_id: str) -> tuple[int, str]:
    """Sort key for job ids: by number (oldest first), as the API's Long ids are; any other id first, by text."""
    return (int(job_id), job_id) if job_id.isdigit() else (0, job_id)


@dataclass(frozen=True)
class Location:
    """Where something was declared: a file and a 1-based line."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


# Seconds the list may take to show a new job (docs/commands/apply.md, --list-lag): an ambiguous
# create and a race between two applies are judged only after it.
DEFAULT_LIST_LAG = 10.0

# Fields of a declared job that go into the create request body.
BODY_FIELDS = ("job_name", "job_desc", "train_url", "job_type", "flavor", "schedule")
# Fields the list API returns, and so the only ones a plan can diff cheaply.
LISTED_FIELDS = ("job_desc", "train_url")


@dataclass(frozen=True)
class JobSpec:
    """One declared job, defaults merged, ready to be sent as a create body."""

    name: str
    body: dict[str, Any]
    location: Location
    replace_on_drift: bool = False
    recreate_failed: bool = False
    restart_stopped: bool = True  # False: a stopped job (e.g. auto-stopped by its schedule) may stay stopped


@dataclass(frozen=True)
class PruneScope:
    """A manifest's claim over live jobs it may delete with ``--prune``."""

    location: Location
    prefix: str | None = None
    regex: str | None = None
    may_empty: bool = False  # the scope's own file says ``jobs: []``: --force may delete all of it

    def matches(self, name: str) -> bool:
        if self.prefix is not None and name.startswith(self.prefix):
            return True
        return self.regex is not None and re.fullmatch(self.regex, name) is not None

    def describe(self) -> str:
        return f"prefix {self.prefix!r}" if self.prefix is not None else f"regex {self.regex!r}"


@dataclass(frozen=True)
class Manifest:
    """Everything the manifests declare, across all files given with ``-f``."""

    jobs: tuple[JobSpec, ...]
    prune_scopes: tuple[PruneScope, ...] = ()
    files: tuple[str, ...] = ()
    digest: str = ""  # sha256 over the files' bytes and the ${VAR} values they read, for stale-plan checks
    explicitly_empty: bool = False  # some document says ``jobs: []``
    skipped: tuple[str, ...] = ()  # YAML files in a directory that are not vizctl manifests
    variables: tuple[tuple[str, str | None], ...] = ()  # each ${VAR} read and its value (None: unset), by name


@dataclass(frozen=True, slots=True)  # slots: a 100,000-job list is a third smaller
class LiveJob:
    """A job as the list (or details) API reports it, with types normalised."""

    job_id: str
    job_name: str
    status: int
    job_desc: str | None = ""  # None: the answer did not carry it (the list's fields are optional)
    train_url: str = ""
    create_time: int | None = None
    service_url: str = ""
    duration: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def phase(self) -> Phase:
        return phase_of(self.status)

    @property
    def status_name(self) -> str:
        return status_name(self.status)


@dataclass(frozen=True)
class LiveSnapshot:
    """One complete read of the project's jobs."""

    jobs: tuple[LiveJob, ...]
    job_count_limit: int | None = None  # how many more jobs may be created
    quotas: int | None = None  # the maximum number of jobs
    list_calls: int = 0

    def by_name(self) -> dict[str, list[LiveJob]]:
        out: dict[str, list[LiveJob]] = {}
        for job in self.jobs:
            out.setdefault(job.job_name, []).append(job)
        return out
