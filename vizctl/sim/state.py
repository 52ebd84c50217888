"""The simulated ModelArts: visualization jobs, their lifecycle and the API operations on them.

Nothing here speaks HTTP. Each public operation takes what the API request
carries (project id, job id from the path, parsed JSON body or query) and
returns the success body, or raises :class:`SimApiError` with the HTTP status
and ModelArts error the real service would answer.

A job's status is never stored as such: each record holds the epoch times at
which it changes (``waiting_at``, ``run_at``, ``complete_at``, ``killed_at``,
``gone_at``), and the status is computed from the clock when read. So a second
process loading the same state file sees the same statuses at the same times.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
import os
import random
import re
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Mapping

from vizctl.errors import ConfigError
from vizctl.model import Phase, Status, phase_of, status_name
from vizctl.sim.config import SimConfig

INVALID_ARGUMENT = "ModelArts.0101"
NO_SUCH_JOB = "ModelArts.0102"
DUPLICATE_NAME = "ModelArts.0103"
BAD_PARAMETER = "ModelArts.0104"
WRONG_STATUS = "ModelArts.0105"
QUOTA_EXCEEDED = "ModelArts.0106"
INTERNAL_ERROR = "ModelArts.0010"

_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")
_JOB_TYPES = ("tensorboard", "mindinsight")
_SORT_KEYS = {
    "job_id": lambda v: v["job_id"],
    "job_name": lambda v: v["job_name"],
    "job_desc": lambda v: v["job_desc"],
    "create_time": lambda v: v["create_time"],
    "status": lambda v: v["status"],
    "duration": lambda v: v["duration"],
    "log_dir": lambda v: v["train_url"],  # the SDK page's name for the event-file path
}
_SORT_KEYS_OF = {  # the sort keys each document lists, and their union
    "api": ("job_id", "job_name", "job_desc", "create_time", "status"),
    "sdk": ("job_name", "job_desc", "status", "duration", "create_time", "log_dir"),
    "all": tuple(_SORT_KEYS),
}
_LISTED = ("job_id", "job_name", "status", "create_time", "duration", "job_desc",
           "service_url", "train_url", "resource_id")
_LISTED_REQUIRED = ("job_id", "job_name", "status", "train_url")  # what a sparse list item keeps
_EXTRA_ANSWER_FIELDS = {"workspace_id": "0", "user_name": "sim-user", "ai_project": "default-ai-project"}
_FILE_VERSION = 1


class SimApiError(Exception):
    """An error answer of the API: HTTP status, ModelArts error code and message."""

    def __init__(self, http_status: int, error_code: str, message: str):
        super().__init__(f"{http_status} {error_code}: {message}")
        self.http_status = http_status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body ModelArts sends with this error."""
        return {"is_success": False, "error_code": self.error_code, "error_message": self.message}


class SimStateError(ConfigError):
    """The state file cannot be read: names the file, what is wrong with it and how to start afresh."""


def _invalid(message: str, code: str = INVALID_ARGUMENT) -> SimApiError:
    return SimApiError(400, code, message)


class SimState:
    """All projects' jobs; thread-safe (one lock), optionally persisted to a JSON file.

    ``clock`` returns epoch seconds; tests inject a fake one to step through
    statuses. With ``path``, the state is loaded from it if it exists, read
    again whenever another process has replaced it, and each mutation is made
    under an exclusive lock of ``{path}.lock`` on the file as it is then and
    saved by an atomic replace; a mutation that cannot be saved is undone and
    answered 500. So simulators of several processes can share one file.
    """

    def __init__(self, config: SimConfig, path: str | os.PathLike | None = None,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.path = os.fspath(path) if path is not None else None
        self._clock = clock
        self._lock = threading.RLock()
        self._rng = random.Random(config.seed)
        self._projects: dict[str, dict[int, dict[str, Any]]] = {}
        self._next_id = 1
        self._seen: tuple | None = None  # (inode, mtime, size) of the file as last read or written
        self._refresh()

    # -- API operations ------------------------------------------------------

    def create_job(self, project_id: str, body: Any) -> dict[str, Any]:
        """``POST /v1/{project_id}/visualization-jobs``: validate, check quota and names, start the job."""
        fields = _validate_create(body)
        with self._change():
            now = self._clock()
            jobs = self._jobs(project_id, now)
            if self.config.reject_duplicate_names and any(
                    r["job_name"] == fields["job_name"] for r in jobs.values()):
                raise _invalid(f"The job name {fields['job_name']} already exists", DUPLICATE_NAME)
            if len(jobs) >= self.config.quota:
                raise _invalid(f"The number of visualization jobs exceeds the quota {self.config.quota}",
                               QUOTA_EXCEEDED)
            record = self._insert(project_id, fields, now)
        as_text = str if self.config.numbers_as_strings else (lambda n: n)
        answer = {"is_success": True, "job_id": as_text(record["job_id"]), "job_name": record["job_name"]}
        if self.config.create_answer_minimal:
            return answer
        return {
            **answer,
            "status": as_text(int(Status.INIT)),
            "create_time": as_text(_ms(record["create_time"])),
            "service_url": record["service_url"],
            **(_EXTRA_ANSWER_FIELDS if self.config.extra_list_fields else {}),
        }

    def list_jobs(self, project_id: str, query: Mapping[str, str], lie: str | None = None) -> dict[str, Any]:
        """``GET /v1/{project_id}/visualization-jobs`` with its query parameters (strings).

        ``lie`` (fault injection): "short_total" makes job_total_count end at
        this page; "list_shift" serves a page beyond the first as if a job on
        an earlier page had just been deleted (nothing is deleted).
        """
        status = _int_param(query, "status", None, 0)
        per_page = _int_param(query, "per_page", 10, 1, 1000)
        page = _int_param(query, "page", 1, 1)
        honoured = {"both": ("sortBy", "sort_by"), "none": ()}.get(self.config.sort_param, (self.config.sort_param,))
        asked = [query[name] for name in honoured if query.get(name)]
        sort_by = asked[0] if asked else self.config.default_sort_by
        accepted = _SORT_KEYS_OF[self.config.sort_keys]
        if sort_by not in accepted:
            raise _invalid(f"sortBy must be one of {', '.join(accepted)}")
        order = (query.get("order") if self.config.sort_param != "none" else None) or "asc"
        if order not in ("asc", "desc"):
            raise _invalid("order must be asc or desc")
        search = query.get("search_content", "")
        if len(search) > self.config.max_search_content:
            raise _invalid(f"The length of search content should be in [0,{self.config.max_search_content}]", BAD_PARAMETER)
        if per_page > self.config.max_per_page and self.config.refuse_over_max_per_page:
            raise _invalid(f"per_page must be [1,{self.config.max_per_page}], not {per_page}")
        per_page = min(per_page, self.config.max_per_page)
        with self._reading():
            now = self._clock()
            jobs = self._jobs(project_id, now)
            lag = self.config.list_lag
            views = [self._view(r, now) for r in jobs.values() if now >= r["create_time"] + lag]
            live = len(jobs)
        if status is not None:
            views = [v for v in views if v["status"] == status]
        if search:
            views = [v for v in views if search.lower() in v["job_name"].lower()]
        key = _SORT_KEYS[sort_by]
        views.sort(key=lambda v: (key(v), v["job_id"]), reverse=order == "desc")
        start = (page - 1) * per_page
        if lie == "list_shift" and 0 < start and views:
            del views[self._rng.randrange(min(start, len(views)))]
        total = min(len(views), start + per_page) if lie == "short_total" else len(views)
        cfg = self.config
        listed = _LISTED_REQUIRED if cfg.sparse_list_items else _LISTED
        extra = _EXTRA_ANSWER_FIELDS if cfg.extra_list_fields else {}
        answer = {"is_success": True, "job_total_count": total, **extra}
        if not cfg.no_quota_fields:
            answer.update(job_count_limit=max(0, cfg.quota - live), quotas=cfg.quota)
        answer["jobs"] = [{**{k: v[k] for k in listed}, **extra} for v in views[start:start + per_page]]
        return answer

    def get_job(self, project_id: str, job_id: str) -> dict[str, Any]:
        """``GET .../{job_id}``: the list's fields plus job_type, flavor, schedule, remaining_duration."""
        with self._reading():
            now = self._clock()
            view = self._view(self._find(project_id, job_id, now), now)
        if self.config.details_schedule_as_list:
            if "schedule" in view:
                view["schedule"] = [view["schedule"]]
            if "flavor" in view:
                view["flavor"] = {**view["flavor"], "name": "sim flavor", "cpu": "2"}
        return {"is_success": True, **view, **(_EXTRA_ANSWER_FIELDS if self.config.extra_list_fields else {})}

    def update_job(self, project_id: str, job_id: str, body: Any) -> dict[str, Any]:
        """``PUT .../{job_id}`` with ``{"job_desc": ...}``."""
        if not isinstance(body, dict) or "job_desc" not in body:
            raise _invalid("The request body must be an object with job_desc")
        desc = _job_desc(body["job_desc"])
        with self._change():
            self._find(project_id, job_id, self._clock())["job_desc"] = desc
        return {"is_success": True}

    def delete_job(self, project_id: str, job_id: str) -> dict[str, Any]:
        """``DELETE .../{job_id}``: KILLING for delete_seconds, then gone. Refused while KILLING."""
        with self._change():
            now = self._clock()
            record = self._find(project_id, job_id, now)
            self._require(record, now, "deleted", lambda p: p is not Phase.STOPPING)
            _end_run(record, now)
            record["gone_at"] = now + self.config.delete_seconds
        return {"is_success": True}

    def stop_job(self, project_id: str, job_id: str) -> dict[str, Any]:
        """``POST .../{job_id}/stop``: KILLING for stop_seconds, then KILLED. Only a pending or running job."""
        with self._change():
            now = self._clock()
            record = self._find(project_id, job_id, now)
            self._require(record, now, "stopped", lambda p: p in (Phase.PENDING, Phase.RUNNING))
            _end_run(record, now)
            record["killed_at"] = now + self.config.stop_seconds
        return {"is_success": True}

    def restart_job(self, project_id: str, job_id: str) -> dict[str, Any]:
        """``POST .../{job_id}/restart``: a stopped or failed job starts again (INIT..RUNNING), same id."""
        with self._change():
            now = self._clock()
            record = self._find(project_id, job_id, now)
            self._require(record, now, "restarted", lambda p: p in (Phase.STOPPED, Phase.FAILED))
            record.update(self._run(record["job_name"], record["schedule"], now, running=False))
        return {"is_success": True}

    # -- test and fault-injection helpers -------------------------------------

    def seed_jobs(self, project_id: str, jobs: list[dict]) -> list[dict]:
        """Insert jobs without HTTP creates (no quota or name check); returns their detail views.

        Each dict needs job_name and train_url (validated as by create); optional
        job_desc, job_type, flavor, schedule, ``status`` (a fixed status that never
        changes) and ``running`` (true: RUNNING from now on, no startup).
        """
        if not isinstance(jobs, list):
            raise _invalid("jobs must be a list")
        prepared = []
        for spec in jobs:
            if not isinstance(spec, dict):
                raise _invalid("each seeded job must be an object")
            spec = dict(spec)
            fixed, running = spec.pop("status", None), spec.pop("running", False)
            if fixed is not None and (not isinstance(fixed, int) or isinstance(fixed, bool) or fixed < 0):
                raise _invalid(f"status must be a non-negative integer, not {fixed!r}")
            if not isinstance(running, bool):
                raise _invalid(f"running must be a boolean, not {running!r}")
            prepared.append((_validate_create(spec), fixed, running))
        with self._change():
            now = self._clock()
            records = [self._insert(project_id, f, now, fixed=fixed, running=running)
                       for f, fixed, running in prepared]
            return [self._view(r, now) for r in records]

    def set_fail(self, project_id: str, job_id: int | str, status: int) -> None:
        """Force a job into ``status`` for good (until restarted): fault injection for one job."""
        if not isinstance(status, int) or isinstance(status, bool) or status < 0:
            raise _invalid(f"status must be a non-negative integer, not {status!r}")
        with self._change():
            now = self._clock()
            record = self._find(project_id, str(job_id), now)
            record.update(fixed=status, killed_at=None, gone_at=None)
            if status != Status.RUNNING:
                _end_run(record, now)

    # -- records ---------------------------------------------------------------

    def _jobs(self, project_id: str, now: float) -> dict[int, dict[str, Any]]:
        """The project's jobs, with those whose deletion has finished dropped."""
        jobs = self._projects.setdefault(project_id, {})
        for job_id in [i for i, r in jobs.items() if r["gone_at"] is not None and now >= r["gone_at"]]:
            del jobs[job_id]
        return jobs

    def _find(self, project_id: str, job_id: str, now: float) -> dict[str, Any]:
        numeric = job_id.isascii() and job_id.isdigit()
        record = self._jobs(project_id, now).get(int(job_id)) if numeric else None
        if record is None:
            raise SimApiError(self.config.not_found_status, NO_SUCH_JOB, f"The visualization job {job_id} does not exist")
        return record

    def _require(self, record: dict[str, Any], now: float, verb: str, allowed: Callable[[Phase], bool]) -> None:
        status = _status(record, now)
        if not allowed(phase_of(status)):
            raise _invalid(f"The job cannot be {verb} in status {status_name(status)}", WRONG_STATUS)

    def _insert(self, project_id: str, fields: dict[str, Any], now: float, *,
                fixed: int | None = None, running: bool = False) -> dict[str, Any]:
        job_id = self._next_id
        self._next_id += 1
        record = {
            "job_id": job_id,
            **fields,
            "resource_id": str(uuid.uuid4()),
            "service_url": f"https://sim.modelarts.local/{fields['job_type']}/{project_id}/{job_id}/",
            "create_time": now,
            **self._run(fields["job_name"], fields["schedule"], now, running=running or fixed is not None),
        }
        if fixed is not None:
            record["fixed"] = fixed
            if fixed != Status.RUNNING:
                _end_run(record, now)
        self._projects.setdefault(project_id, {})[job_id] = record
        return record

    def _run(self, name: str, schedule: dict | None, now: float, *, running: bool) -> dict[str, Any]:
        """The timing fields of a run starting now (or already running)."""
        cfg = self.config
        startup = 0.0 if running else cfg.startup_seconds * self._rng.uniform(
            1 - cfg.startup_jitter, 1 + cfg.startup_jitter)
        fails = not running and cfg.fail_pattern is not None and fnmatch.fnmatchcase(name, cfg.fail_pattern)
        run_at = now + startup
        hours = schedule["duration"] if schedule else 0
        return {
            "waiting_at": now + startup / 3,
            "run_at": run_at,
            "target": cfg.fail_status if fails else int(Status.RUNNING),
            "complete_at": run_at + hours * cfg.hour_seconds if hours else None,
            "fixed": None,
            "ended_at": None,
            "killed_at": None,
            "gone_at": None,
        }

    def _view(self, record: dict[str, Any], now: float) -> dict[str, Any]:
        """The record as the details API shows it at ``now``."""
        status = _status(record, now)
        ran = record["target"] == Status.RUNNING
        end = min(t for t in (now, record["complete_at"], record["ended_at"]) if t is not None)
        duration = max(0.0, end - record["run_at"]) if ran else 0.0
        remaining = 0.0
        if record["complete_at"] is not None and status in (Status.INIT, Status.WAITING, Status.RUNNING):
            remaining = record["complete_at"] - max(now, record["run_at"])
        view = {
            "job_id": record["job_id"],
            "job_name": record["job_name"],
            "job_desc": record["job_desc"],
            "train_url": record["train_url"],
            "status": int(status),
            "create_time": _ms(record["create_time"]),
            "duration": _ms(duration),
            "service_url": record["service_url"],
            "resource_id": record["resource_id"],
            "job_type": record["job_type"],
            "remaining_duration": _ms(remaining),
        }
        for optional in ("flavor", "schedule"):
            if record[optional] is not None:
                view[optional] = dict(record[optional])
        return view

    # -- persistence -------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self):
        """The lock for a read, on the state as the file now has it."""
        with self._lock:
            self._refresh()
            yield

    @contextlib.contextmanager
    def _change(self):
        """The locks for a mutation: on the file as it is now, saved after the block; undone and 500 if not saved."""
        with self._lock, self._file_lock():
            self._refresh(always=True)  # another process may have written since: build on what it wrote
            yield
            try:
                self._save()
            except Exception as exc:  # a full disk, a write error: never answer success for what was not saved
                self._undo()
                raise SimApiError(500, INTERNAL_ERROR, f"Internal error: the change was not made, the simulator "
                                                       f"cannot save its state to {self.path}: {_reason(exc)}") from None

    @contextlib.contextmanager
    def _file_lock(self):
        """An exclusive lock of ``{path}.lock`` shared by every process using the file (none without a path)."""
        if self.path is None:
            yield
            return
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SimApiError(500, INTERNAL_ERROR, f"Internal error: nothing was changed, the simulator cannot lock "
                                                   f"its state {self.path}: {_reason(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _refresh(self, always: bool = False) -> None:
        """Read the file again if it has changed since this process last read or wrote it (or ``always``)."""
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return  # not written yet (or cannot be: a change says so): what is in memory is all there is
        except OSError as exc:
            raise self._unreadable(_reason(exc)) from None
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if always or seen != self._seen:
            self._load()

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read()
        except OSError as exc:
            raise self._unreadable(_reason(exc)) from None
        self._next_id, self._projects = _parse_state(raw, self._unreadable)
        self._seen = (st.st_ino, st.st_mtime_ns, st.st_size)

    def _undo(self) -> None:
        """Back to the file as saved (or to nothing, if never saved): the change that could not be saved is gone."""
        if os.path.exists(self.path):
            self._load()
        else:
            self._next_id, self._projects = 1, {}

    def _unreadable(self, what: str) -> SimStateError:
        return SimStateError(f"cannot read simulator state {self.path}: {what}. Delete it to start the "
                             f"simulator afresh (its jobs are forgotten), or put back a good copy")

    def _save(self) -> None:
        if self.path is None:
            return
        data = {
            "version": _FILE_VERSION,
            "next_id": self._next_id,
            "projects": {pid: list(jobs.values()) for pid, jobs in self._projects.items()},
        }
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".sim-state-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
        st = os.stat(self.path)
        self._seen = (st.st_ino, st.st_mtime_ns, st.st_size)


_NUMBER = (int, float)
_RECORD_FIELDS = {  # a saved job's fields and the types each may have (None: null)
    "job_id": (int,), "job_name": (str,), "job_desc": (str,), "train_url": (str,), "job_type": (str,),
    "flavor": (dict, None), "schedule": (dict, None), "resource_id": (str,), "service_url": (str,),
    "create_time": _NUMBER, "waiting_at": _NUMBER, "run_at": _NUMBER, "target": (int,),
    "complete_at": (*_NUMBER, None), "fixed": (int, None), "ended_at": (*_NUMBER, None),
    "killed_at": (*_NUMBER, None), "gone_at": (*_NUMBER, None),
}


def _parse_state(raw: bytes, unreadable: Callable[[str], Exception]) -> tuple[int, dict[str, dict[int, dict[str, Any]]]]:
    """``(next_id, projects)`` of a state file's bytes; ``unreadable(what is wrong)`` is raised for a damaged one."""
    if not raw.strip():
        raise unreadable("it is empty")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise unreadable("it is nested too deeply to be the simulator's") from None
    except ValueError as exc:  # cut, not JSON, not UTF-8
        raise unreadable(f"it is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("projects"), dict):
        raise unreadable('it is not an object with "version", "next_id" and "projects"')
    if data.get("version") != _FILE_VERSION:
        raise unreadable(f"its version is {data.get('version')!r}, not {_FILE_VERSION}")
    next_id = data.get("next_id")
    if not _typed(next_id, (int,)) or next_id < 1:
        raise unreadable(f"next_id is {next_id!r}, not a positive integer")
    projects: dict[str, dict[int, dict[str, Any]]] = {}
    for project_id, records in data["projects"].items():
        if not isinstance(records, list):
            raise unreadable(f"project {project_id!r} is not a list of jobs")
        jobs = projects[project_id] = {}
        for record in records:
            wrong = _wrong_field(record)
            if wrong:
                raise unreadable(f"a job of project {project_id!r}: {wrong}")
            if any(record["job_id"] in other for other in projects.values()):
                raise unreadable(f"job id {record['job_id']} is there twice")
            if record["job_id"] >= next_id:
                raise unreadable(f"next_id {next_id} is not above job id {record['job_id']} (ids would be reused)")
            jobs[record["job_id"]] = record
    return next_id, projects


def _wrong_field(record: Any) -> str | None:
    """What is wrong with one saved job, or None."""
    if not isinstance(record, dict):
        return "it is not an object"
    for name, types in _RECORD_FIELDS.items():
        if name not in record:
            return f"it has no {name}"
        if not _typed(record[name], types):
            return f"{name} is {record[name]!r}"
    try:
        if record["schedule"] is not None and _schedule(record["schedule"]) != record["schedule"]:
            return f"schedule is {record['schedule']!r}"
    except SimApiError:
        return f"schedule is {record['schedule']!r}"
    return None


def _reason(exc: Exception) -> str:
    """An error as a short phrase: an OS error's text and the file it is about."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc)


def _typed(value: Any, types: tuple) -> bool:
    """``value`` is of one of ``types`` (None for null); a boolean is not a number."""
    if value is None:
        return None in types
    return not isinstance(value, bool) and isinstance(value, tuple(t for t in types if t is not None))


def _status(record: dict[str, Any], now: float) -> int:
    """A record's status at ``now``: deletion and stop first, then a forced status, then the lifecycle."""
    if record["gone_at"] is not None:
        return Status.KILLING
    if record["killed_at"] is not None:
        return Status.KILLING if now < record["killed_at"] else Status.KILLED
    if record["fixed"] is not None:
        return record["fixed"]
    if now < record["waiting_at"]:
        return Status.INIT
    if now < record["run_at"]:
        return Status.WAITING
    if record["target"] != Status.RUNNING:
        return record["target"]
    if record["complete_at"] is not None and now >= record["complete_at"]:
        return Status.COMPLETED
    return Status.RUNNING


def _end_run(record: dict[str, Any], now: float) -> None:
    """Freeze the running duration at ``now`` (the first stop, delete or forced status counts)."""
    if record["ended_at"] is None:
        record["ended_at"] = now


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _int_param(query: Mapping[str, str], name: str, default: int | None,
               low: int, high: int | None = None) -> int | None:
    raw = query.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(f"{name} must be an integer, not {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"[{low},{high}]" if high is not None else f"at least {low}"
        raise _invalid(f"{name} must be {bounds}, not {value}")
    return value


def _job_desc(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 256:
        raise _invalid("job_desc must be a string of 0 to 256 characters", BAD_PARAMETER)
    return value


def _validate_create(body: Any) -> dict[str, Any]:
    """The create body's fields, checked as the API documents them, with defaults filled in (null = absent)."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object")
    name = body.get("job_name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _invalid("job_name must be 1 to 20 characters: letters, digits, underscores or hyphens")
    train_url = body.get("train_url")
    if not isinstance(train_url, str) or not train_url:
        raise _invalid("train_url is required and must be a non-empty string")
    job_type = body.get("job_type")
    if job_type is None:
        job_type = "tensorboard"
    if job_type not in _JOB_TYPES:
        raise _invalid("job_type must be tensorboard or mindinsight")
    flavor = body.get("flavor")
    if flavor is not None:
        if not isinstance(flavor, dict) or not isinstance(flavor.get("code"), str) or not flavor["code"]:
            raise _invalid("flavor must be an object with a string code")
        flavor = {"code": flavor["code"]}
    return {
        "job_name": name,
        "job_desc": _job_desc("" if body.get("job_desc") is None else body["job_desc"]),
        "train_url": train_url,
        "job_type": job_type,
        "flavor": flavor,
        "schedule": _schedule(body.get("schedule")),
    }


def _schedule(value: Any) -> dict[str, Any] | None:
    """The auto-stop schedule as an object; the sample request's one-element list is accepted too."""
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != 1:
            raise _invalid("schedule must be an object or a list of exactly one object")
        value = value[0]
    if not isinstance(value, dict):
        raise _invalid("schedule must be an object")
    duration = value.get("duration")
    if (value.get("type") != "stop" or value.get("time_unit") != "HOURS"
            or not isinstance(duration, int) or isinstance(duration, bool) or not 0 <= duration <= 24):
        raise _invalid('schedule must be {"type": "stop", "time_unit": "HOURS", "duration": 0..24}')
    return {"type": "stop", "time_unit": "HOURS", "duration": duration}
