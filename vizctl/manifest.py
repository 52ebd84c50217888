"""Loading and validating manifests: YAML files in, a :class:`Manifest` or every problem out.

The JSON Schema (``schemas/manifest.schema.json``, shipped as ``vizctl.schemas``)
is the contract; this module reads the files, checks each document against the
schema, explains each failure in plain English with its file and line, then
merges ``defaults`` into the jobs and checks what the schema cannot see
(a job name declared twice across files).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import jsonschema
from jsonschema import Draft202012Validator, ValidationError

from vizctl.errors import ManifestError, Problem
from vizctl.model import BODY_FIELDS, JobSpec, Location, Manifest, PruneScope
from vizctl.resources import manifest_schema_text
from vizctl.yamlpos import Document, JsonPath, load_documents

MANIFEST_SUFFIXES = (".yaml", ".yml")
JOB_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,20}")
JOB_NAME_RULE = "use 1-20 letters, digits, '_' or '-'"
NOT_IN_DEFAULTS = ("job_name", "train_url")


def load_manifests(paths: Sequence[str]) -> Manifest:
    """Read and validate the manifests at ``paths`` (files and directories).

    Returns the declared jobs in declaration order; raises :class:`ManifestError`
    carrying every problem found, sorted by file then line.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    problems: list[Problem] = []
    order: dict[str, int] = {}  # file -> rank, for sorting problems
    files = _discover(paths, problems, order)
    if not paths:
        problems.append(Problem("(no path)", None, "no manifest file or directory was given"))

    digest = hashlib.sha256()
    read: list[str] = []
    jobs: list[JobSpec] = []
    scopes: list[PruneScope] = []
    first_seen: dict[str, Location] = {}
    explicitly_empty = False
    empty_files: set[str] = set()
    for path in files:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            problems.append(Problem(path, None, f"cannot read the file: {e.strerror or e}"))
            continue
        read.append(path)
        # digest: for each file, "<len>:<path>\0<len>:<bytes>", so no two inputs collide
        encoded = path.encode("utf-8", "surrogateescape")
        digest.update(b"%d:%s\0%d:" % (len(encoded), encoded, len(raw)))
        digest.update(raw)
        for doc in _parse(path, raw, problems):
            found = _check(doc, path)
            problems.extend(found)
            for name, loc in _declared_names(doc, path):
                if name in first_seen:
                    message = f"job {name!r} is declared twice: first at {first_seen[name]}"
                    problems.append(Problem(path, loc.line, message))
                else:
                    first_seen[name] = loc
            if found:
                continue
            doc_jobs, scope = _build(doc, path)
            jobs.extend(doc_jobs)
            if scope is not None:
                scopes.append(scope)
            explicitly_empty = explicitly_empty or not doc_jobs
            if not doc_jobs:
                empty_files.add(path)

    emptied = {scope.location.path for scope in scopes} & empty_files
    scopes = [dataclasses.replace(s, may_empty=True) if s.location.path in emptied else s for s in scopes]
    if problems:
        unique = list(dict.fromkeys(problems))
        unique.sort(key=lambda p: (order.get(p.path, len(order)), p.line or 0))
        raise ManifestError(unique)
    return Manifest(
        jobs=tuple(jobs),
        prune_scopes=tuple(scopes),
        files=tuple(read),
        digest=digest.hexdigest(),
        explicitly_empty=explicitly_empty,
    )


# -- finding and reading files ---------------------------------------------


def _discover(paths: list[str], problems: list[Problem], order: dict[str, int]) -> list[str]:
    """The manifest files named by ``paths``, each once, directories expanded."""
    files: list[str] = []
    seen: set[str] = set()

    def rank(p: str) -> None:
        order.setdefault(p, len(order))

    for p in paths:
        if os.path.isdir(p):
            found = _files_under(p, problems)
            if not found:
                rank(p)
                problems.append(Problem(p, None, "no manifests here: the directory holds no *.yaml or *.yml file"))
        elif os.path.isfile(p):
            found = [p]
        else:
            rank(p)
            if os.path.exists(p):
                reason = "not a regular file or a directory"
            elif os.path.islink(p):
                reason = "a broken symbolic link"
            else:
                reason = "no such file or directory"
            problems.append(Problem(p, None, reason))
            continue
        for f in found:
            key = os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                files.append(f)
                rank(f)
    return files


def _files_under(directory: str, problems: list[Problem]) -> list[str]:
    """Every ``*.yaml`` / ``*.yml`` under ``directory``, recursively, sorted by
    path components; hidden files and directories (``.git``, ``.github``) are skipped."""
    found: list[tuple[tuple[str, ...], str]] = []

    def unreadable(e: OSError) -> None:
        problems.append(Problem(e.filename or directory, None, f"cannot read the directory: {e.strerror or e}"))

    for root, dirs, names in os.walk(directory, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.startswith(".") and name.lower().endswith(MANIFEST_SUFFIXES):
                full = os.path.join(root, name)
                found.append((Path(os.path.relpath(full, directory)).parts, full))
    return [full for _, full in sorted(found)]


def _parse(path: str, raw: bytes, problems: list[Problem]) -> list[Document]:
    """The file's non-empty YAML documents; YAML-level issues go to ``problems``."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        name = "UTF-16" if encoding == "utf-16" else "UTF-8"
        problems.append(Problem(path, line, f"not {name} text (byte 0x{raw[e.start]:02x} cannot be read)"))
        return []
    docs, issues = load_documents(text)
    problems.extend(Problem(path, i.line, i.message) for i in issues)
    return docs  # each document's own issues are reported by _check


# -- schema validation -----------------------------------------------------


@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The manifest JSON Schema, as shipped with vizctl."""
    return json.loads(manifest_schema_text())


def _pattern(validator, pattern: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
    # JSON Schema patterns are ECMA-262, where a final `$` is the very end of the
    # text; in Python it also matches before a final newline ("abc\n").
    if validator.is_type(instance, "string"):
        py = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
        if not re.search(py, instance):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(Draft202012Validator, {"pattern": _pattern})


@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return _Validator(load_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _check(doc: Document, path: str) -> list[Problem]:
    """Every problem of one document: its YAML issues and its schema errors."""
    out: list[Problem] = [Problem(path, i.line, _where(doc.data, i.path, i.message)) for i in doc.issues]
    done_required: set[JsonPath] = set()
    for err in _validator().iter_errors(doc.data):
        at: JsonPath = tuple(err.absolute_path)
        if doc.is_broken(at):
            continue  # already reported as unreadable YAML
        if err.validator == "required":
            if at in done_required:
                continue  # jsonschema reports each missing key; we list them all at once
            done_required.add(at)
        for line_at, text in _explain(err, at):
            out.append(Problem(path, doc.line_of(line_at), _where(doc.data, at, text)))
    return out


def _explain(err: ValidationError, at: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    """Plain-English reasons for one schema error, each with the path of its line."""
    kind, value, expected = err.validator, err.instance, err.validator_value
    field = at[-1] if at and isinstance(at[-1], str) else None
    parent = at[-2] if len(at) >= 2 else None

    if kind == "additionalProperties":
        known = sorted(err.schema.get("properties", {}))
        for key in value:
            if key in known:
                continue
            if at == ("defaults",) and key in NOT_IN_DEFAULTS:
                text = f"{key!r} cannot have a default: set it in each job"
            elif at == () and key in load_schema()["$defs"]["job"]["properties"]:
                text = f"unknown key {key!r} (job keys go in a list item under 'jobs:')"
            else:
                text = f"unknown key {key!r}{_did_you_mean(key, known)}"
            yield (*at, key), text
        return
    if kind == "required":
        missing = [k for k in expected if k not in value]
        for key in missing:
            yield at, f"missing required key {key!r}"
        return

    # Fields with one message for every way they can be wrong.
    if field == "job_name" and kind != "type":
        yield at, f"{value!r} is not a valid job name: {JOB_NAME_RULE}"
        return
    if field == "duration" and parent == "schedule":
        yield at, f"must be an integer from 0 to 24 (got {_show(value)})"
        return
    if field == "version" and at == ("version",):
        yield at, f"unknown manifest version {_show(value)}: the only known version is 1"
        return
    if field in ("type", "time_unit") and parent == "schedule":
        yield at, f"must be {expected!r} (got {_show(value)}); it is implied and may be left out"
        return
    if at == ("prune",) and kind == "oneOf":
        both = isinstance(value, dict) and "prefix" in value and "regex" in value
        yield at, "give either 'prefix' or 'regex', not both" if both else "give 'prefix' or 'regex'"
        return
    if field == "regex" and kind == "format":
        try:
            re.compile(value)
            reason = "it cannot be compiled"
        except re.error as e:
            reason = str(e)
        yield at, f"{value!r} is not a valid regular expression: {reason}"
        return
    if field == "prefix" and kind == "minLength":
        yield at, "must not be empty (an empty prefix would own every job)"
        return

    if kind == "type":
        if at == ():
            yield at, f"a manifest must be a mapping with a 'jobs' list (got {_kind(value)})"
        else:
            yield at, f"must be {_type_name(expected)} (got {_show(value)}{_quote_hint(expected, value)})"
    elif kind == "enum":
        choices = ", ".join(str(c) for c in expected)
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value.lower(), [str(c) for c in expected], n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        yield at, f"must be one of {choices} (got {_show(value)}{hint})"
    elif kind == "const":
        yield at, f"must be {expected!r} (got {_show(value)})"
    elif kind == "maxLength":
        yield at, f"at most {expected} characters (got {len(value)})"
    elif kind in ("minLength", "pattern") and field in ("train_url", "code"):
        yield at, "must not be empty"
    elif kind == "minLength":
        yield at, f"must be at least {expected} characters long (got {len(value)})"
    elif kind == "minimum":
        yield at, f"must be at least {expected} (got {_show(value)})"
    elif kind == "maximum":
        yield at, f"must be at most {expected} (got {_show(value)})"
    else:  # a keyword the schema may gain later: jsonschema's own words beat nothing
        yield at, err.message


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_TYPE_NAMES = {
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _type_name(expected: Any) -> str:
    if isinstance(expected, list):
        return " or ".join(_TYPE_NAMES.get(t, t) for t in expected)
    return _TYPE_NAMES.get(expected, str(expected))


# bool before int: a YAML boolean is a Python int too
_KINDS = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
          (list, "a list"), (dict, "a mapping"), (bytes, "binary data"))


def _kind(value: Any) -> str:
    """What a YAML value is, in words."""
    if value is None:
        return "an empty value"
    for kind, words in _KINDS:
        if isinstance(value, kind):
            return words
    return "a date" if hasattr(value, "isoformat") else type(value).__name__


def _show(value: Any) -> str:
    """A short rendering of a value for a message: 30, 'four', true, a list."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else "a very large number"
    if isinstance(value, float):
        return str(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if hasattr(value, "isoformat") and not isinstance(value, (list, dict)):
        return f"the date {value.isoformat()}"
    return _kind(value)


def _quote_hint(expected: Any, value: Any) -> str:
    """Advice for the classic YAML surprise: 12345, yes or 2024-01-01 where text was meant."""
    if expected == "string" and value is not None and not isinstance(value, (str, list, dict, bytes)):
        return "; put it in quotes"
    return ""


def _where(data: Any, at: JsonPath, text: str) -> str:
    """``jobs[1] (resnet50-tb).schedule.duration: <text>``; just the text at the top."""
    label = _label(data, at)
    return f"{label}: {text}" if label else text


def _label(data: Any, at: JsonPath) -> str:
    out = ""
    for i, part in enumerate(at):
        if isinstance(part, int):
            out += f"[{part}]"
            if i == 1 and at[0] == "jobs":
                name = _job_name(data, part)
                if name:
                    out += f" ({name})"
        else:
            out += f".{part}" if out else str(part)
    return out


def _job_name(data: Any, index: int) -> str | None:
    """The name of ``jobs[index]`` when it is a valid one."""
    try:
        name = data["jobs"][index]["job_name"]
    except (KeyError, IndexError, TypeError):
        return None
    return name if isinstance(name, str) and JOB_NAME_RE.fullmatch(name) else None


# -- building the jobs -----------------------------------------------------


def _job_items(doc: Document) -> list[tuple[int, Any]]:
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("jobs"), list):
        return list(enumerate(data["jobs"]))
    return []


def _declared_names(doc: Document, path: str) -> Iterator[tuple[str, Location]]:
    """The job names a document declares, valid or not, with their places."""
    for i, item in _job_items(doc):
        if isinstance(item, dict) and isinstance(item.get("job_name"), str):
            yield item["job_name"], Location(path, doc.line_of(("jobs", i)))


def _build(doc: Document, path: str) -> tuple[list[JobSpec], PruneScope | None]:
    """The JobSpecs and prune scope of a valid document."""
    data = doc.data
    defaults = data.get("defaults") or {}
    jobs = []
    for i, item in _job_items(doc):
        merged = _deep_merge(defaults, item)
        if "schedule" in merged:
            merged["schedule"] = {"type": "stop", "time_unit": "HOURS", "duration": int(merged["schedule"]["duration"])}
        body = {k: merged[k] for k in BODY_FIELDS if k in merged}
        jobs.append(
            JobSpec(
                name=merged["job_name"],
                body=body,
                location=Location(path, doc.line_of(("jobs", i))),
                replace_on_drift=bool(merged.get("replace_on_drift", False)),
                recreate_failed=bool(merged.get("recreate_failed", False)),
                restart_stopped=bool(merged.get("restart_stopped", True)),
            )
        )
    scope = None
    if "prune" in data:
        prune = data["prune"]
        where = Location(path, doc.line_of(("prune",)))
        scope = PruneScope(where, prefix=prune.get("prefix"), regex=prune.get("regex"))
    return jobs, scope


def _deep_merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: ``over``'s keys win, mappings merge key by key. Copies."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
