"""Loading and validating manifests: YAML files in, a :class:`Manifest` or every problem out.

The JSON Schema (``schemas/manifest.schema.json``, shipped as ``vizctl.schemas``)
is the contract; this module reads the files (and standard input for ``-``;
in a directory, only YAML files that look like manifests), substitutes
``${VAR}`` from the environment it is given, checks each document against the
schema, explains each failure in plain English with its file and line, then
merges ``defaults`` into the jobs and checks what the schema cannot see
(a job name declared twice across files).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from vizctl.errors import ManifestError, Problem
from vizctl.fileio import NotRegularFile, read_regular
from vizctl.model import BODY_FIELDS, JobSpec, Location, Manifest, PruneScope
from vizctl.manifests.resources import manifest_schema_text
from vizctl.manifests.schemacheck import UnsupportedSchema, compile_schema, ecma_pattern
from vizctl.manifests.positions import Document, JsonPath, load_documents

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

MANIFEST_SUFFIXES = (".yaml", ".yml")
JOB_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,20}")
JOB_NAME_RULE = "use 1-20 letters, digits, '_' or '-'"
NOT_IN_DEFAULTS = ("job_name", "train_url")
NOT_A_FILE = "not a regular file or a directory"


STDIN = "-"  # the path that means standard input
STDIN_LABEL = "<stdin>"  # how problems in standard input are placed
MAX_FILE_BYTES = 10 * 1024 * 1024  # a manifest of 10,000 jobs is about 1 MB
# A YAML file found in a directory is a manifest if it has one of these keys (or a near miss).
MANIFEST_KEYS = ("jobs", "defaults", "prune", "job_name", "train_url", "job_desc", "job_type")
SCHEMA_MODELINE = re.compile(rb"#\s*yaml-language-server:\s*\$schema=\S*manifest\.schema\.json")


def load_manifests(
    paths: Sequence[str], environ: Mapping[str, str] | None = None, stdin: IO | None = None
) -> Manifest:
    """Read and validate the manifests at ``paths`` (files, directories, ``-`` for ``stdin``).

    ``${VAR}`` references take their values from ``environ`` (none is set when it
    is omitted). Returns the declared jobs in declaration order; raises
    :class:`ManifestError` carrying every problem found, sorted by file then line.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    environ = {} if environ is None else environ
    problems: list[Problem] = []
    order: dict[str, int] = {}  # file -> rank, for sorting problems
    files, in_directories = _discover(paths, problems, order)
    if not paths:
        problems.append(Problem("(no path)", None, "no manifest file or directory was given"))

    digest = hashlib.sha256()
    read: list[str] = []
    skipped: list[str] = []
    variables: dict[str, str | None] = {}
    jobs: list[JobSpec] = []
    scopes: list[PruneScope] = []
    first_seen: dict[str, Location] = {}
    explicitly_empty = False
    empty_files: set[str] = set()
    for path in files:
        label = STDIN_LABEL if path == STDIN else path
        try:
            raw = _read(path, stdin)
        except _Unreadable as e:
            problems.append(Problem(label, None, str(e)))
            continue
        docs, file_problems = _parse(label, raw, environ)
        if path in in_directories and not file_problems and not _looks_like_manifest(raw, docs):
            skipped.append(path)
            continue
        problems.extend(file_problems)
        read.append(path)
        _digest_file(digest, path, raw, docs)
        for doc in docs:
            variables.update(doc.variables)
            found = _check(doc, label)
            problems.extend(found)
            for name, loc in _declared_names(doc, label):
                if name in first_seen:
                    message = f"job {name!r} is declared twice: first at {first_seen[name]}"
                    problems.append(Problem(label, loc.line, message))
                else:
                    first_seen[name] = loc
            if found:
                continue
            doc_jobs, scope = _build(doc, label)
            jobs.extend(doc_jobs)
            if scope is not None:
                scopes.append(scope)
            explicitly_empty = explicitly_empty or not doc_jobs
            if not doc_jobs:
                empty_files.add(label)
    for directory in dict.fromkeys(in_directories.values()):
        if all(f in skipped for f, d in in_directories.items() if d == directory):
            problems.append(Problem(directory, None, "no manifests here: no *.yaml or *.yml file in it is a vizctl manifest"))

    emptied = {scope.location.path for scope in scopes} & empty_files
    scopes = [dataclasses.replace(s, may_empty=True) if s.location.path in emptied else s for s in scopes]
    if problems:
        unique = list(dict.fromkeys(problems))
        unique.sort(key=lambda p: (order.get(p.path, len(order)), p.line or 0))
        raise ManifestError(unique, tuple(skipped))
    return Manifest(
        jobs=tuple(jobs),
        prune_scopes=tuple(scopes),
        files=tuple(read),
        digest=digest.hexdigest(),
        explicitly_empty=explicitly_empty,
        skipped=tuple(skipped),
        variables=tuple(sorted(variables.items())),
    )


def _digest_file(digest, path: str, raw: bytes, docs: list[Document]) -> None:
    """Add one file to the manifests' digest: "<len>:<path>\\0<len>:<bytes>", so no two
    inputs collide, then the values of the variables its documents read, so a plan
    made with one environment is stale in another."""
    encoded = path.encode("utf-8", "surrogateescape")
    digest.update(b"%d:%s\0%d:" % (len(encoded), encoded, len(raw)))
    digest.update(raw)
    variables = {name: value for doc in docs for name, value in doc.variables.items()}
    if variables:
        encoded = json.dumps(sorted(variables.items())).encode("utf-8", "surrogateescape")
        digest.update(b"\0env %d:%s" % (len(encoded), encoded))


# -- finding and reading files ---------------------------------------------


class _Unreadable(Exception):
    """A file that cannot be read, with the reason as its message."""


def _read(path: str, stdin: IO | None) -> bytes:
    """The bytes of ``path`` (of ``stdin`` for ``-``), refusing more than MAX_FILE_BYTES."""
    try:
        if path == STDIN:
            if stdin is None:
                raise _Unreadable("standard input is not available")
            raw = getattr(stdin, "buffer", stdin).read(MAX_FILE_BYTES + 1)
            if isinstance(raw, str):
                raw = raw.encode("utf-8", "surrogateescape")
        else:
            raw = read_regular(path, MAX_FILE_BYTES + 1)  # a FIFO put where a file was found cannot hang the read
    except NotRegularFile:
        raise _Unreadable(NOT_A_FILE) from None
    except OSError as e:
        raise _Unreadable(f"cannot read the file: {e.strerror or e}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _Unreadable(f"larger than {MAX_FILE_BYTES // 2**20} MiB: not read (a manifest of 10,000 jobs is about 1 MiB)")
    return raw


def _looks_like_manifest(raw: bytes, docs: list[Document]) -> bool:
    """Whether a YAML file found in a directory is meant as a vizctl manifest: it names the
    schema in a yaml-language-server line, or a document has a manifest key, or a near miss of
    one, at its top (or in the items of a top-level list)."""
    if SCHEMA_MODELINE.search(raw):
        return True
    for doc in docs:
        tops = doc.data if isinstance(doc.data, list) else [doc.data]
        for top in tops:
            if isinstance(top, dict) and any(_near_manifest_key(key) for key in top):
                return True
    return False


def _near_manifest_key(key: str) -> bool:
    return key in MANIFEST_KEYS or _closest(key, MANIFEST_KEYS, 0.75) is not None


def _discover(paths: list[str], problems: list[Problem], order: dict[str, int]) -> tuple[list[str], dict[str, str]]:
    """The manifest files named by ``paths``, each once, directories expanded; and
    for those found by expanding a directory (rather than named), the directory."""
    files: list[str] = []
    from_directories: dict[str, str] = {}
    seen: set[str] = set()

    def rank(p: str) -> None:
        order.setdefault(p, len(order))

    for p in paths:
        if p == STDIN:
            found = [p]
        elif os.path.isdir(p):
            rank(p)  # its own problems ("no manifests here") come where it was given, before its files
            found = _files_under(p, problems)
            if not found:
                problems.append(Problem(p, None, "no manifests here: the directory holds no *.yaml or *.yml file"))
            from_directories.update((f, p) for f in found if f not in from_directories)
        elif os.path.isfile(p):
            found = [p]
        else:
            rank(p)
            problems.append(Problem(p, None, _not_a_file(p)))
            continue
        for f in found:
            key = f if f == STDIN else os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                files.append(f)
                rank(STDIN_LABEL if f == STDIN else f)
    return files, {f: d for f, d in from_directories.items() if f not in paths}


def _not_a_file(path: str) -> str:
    """Why ``path``, neither a regular file nor a directory, cannot be read."""
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link loop"
        if os.path.islink(path):
            return "a broken symbolic link"
        if e.errno == errno.ENOENT:
            return "no such file or directory"
        return f"cannot read it: {e.strerror or e}"
    return NOT_A_FILE


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
                if _is_special(full):  # a FIFO, socket or device: opening it could block for ever
                    problems.append(Problem(full, None, NOT_A_FILE))
                    continue
                found.append((Path(os.path.relpath(full, directory)).parts, full))
    return [full for _, full in sorted(found)]


def _is_special(path: str) -> bool:
    """Whether ``path`` (its target, for a link) exists and is neither a regular file nor a directory."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # gone or a broken link: reading it says why
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _parse(path: str, raw: bytes, environ: Mapping[str, str]) -> tuple[list[Document], list[Problem]]:
    """The file's non-empty YAML documents, and the problems that stopped reading it
    (each document's own issues are reported by :func:`_check`)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        name = "UTF-16" if encoding == "utf-16" else "UTF-8"
        return [], [Problem(path, line, f"not {name} text (byte 0x{raw[e.start]:02x} cannot be read)")]
    docs, issues = load_documents(text, environ)
    return docs, [Problem(path, i.line, i.message) for i in issues]


# -- schema validation -----------------------------------------------------


@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The manifest JSON Schema, as shipped with vizctl."""
    return json.loads(manifest_schema_text())


@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    """jsonschema's validator, with ECMA-262 patterns: imported only to explain a rejected document."""
    import jsonschema
    from jsonschema import Draft202012Validator, ValidationError

    def pattern(validator, pattern: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
        if validator.is_type(instance, "string"):
            if not re.search(ecma_pattern(pattern), instance):
                yield ValidationError(f"{instance!r} does not match {pattern!r}")

    validator = jsonschema.validators.extend(Draft202012Validator, {"pattern": pattern})
    return validator(load_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


@functools.lru_cache(maxsize=1)
def _is_valid() -> Callable[[Any], bool]:
    """The schema compiled into one fast check; jsonschema alone if it cannot be compiled."""
    try:
        return compile_schema(load_schema())
    except UnsupportedSchema:
        return lambda data: False


def _check(doc: Document, path: str) -> list[Problem]:
    """Every problem of one document: its YAML issues and its schema errors."""
    if not doc.issues and _is_valid()(doc.data):
        return []  # the common case, without jsonschema's cost of explaining
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


def job_problems(job: dict[str, Any]) -> list[str]:
    """Why the schema refuses ``job`` as an item of ``jobs:``, each ``field: reason`` as validate words it; empty when it is valid."""
    data = {"jobs": [job]}
    if _is_valid()(data):
        return []
    out = []
    for err in _validator().iter_errors(data):
        for at, text in _explain(err, tuple(err.absolute_path)):
            out.append(f"{'.'.join(str(part) for part in at[2:]) or 'the job'}: {text}")
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
                text = f"unknown key {_show(key)} (job keys go in a list item under 'jobs:')"
            else:
                text = f"unknown key {_show(key)}{_did_you_mean(key, known)}"
            yield (*at, key), text
        return
    if kind == "required":
        known = sorted(err.schema.get("properties", {}))
        # a typo'd key is reported once, as unknown with its "did you mean", not also as missing
        meant = {_closest(key, known) for key in value if key not in known}
        for key in expected:
            if key not in value and key not in meant:
                yield at, f"missing required key {key!r}"
        return

    # Fields with one message for every way they can be wrong.
    if field == "job_name" and kind != "type":
        yield at, f"{_show(value)} is not a valid job name: {JOB_NAME_RULE}"
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
        yield at, f"{_show(value)} is not a valid regular expression: {reason}"
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
            close = _closest(value.lower(), [str(c) for c in expected])
            hint = f"; did you mean {close!r}?" if close else ""
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


def _closest(word: str, choices: Sequence[str], cutoff: float = 0.6) -> str | None:
    import difflib  # noqa: PLC0415 - only a name that is not right needs it

    close = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return close[0] if close else None


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = _closest(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


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
            part = part if len(part) <= 40 else part[:37] + "..."
            out += f".{part}" if out else part
    return out if len(out) <= 120 else out[:57] + "..." + out[-60:]


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
    out = _copied(base) if base else {}
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = _copied(value) if isinstance(value, (dict, list)) else value  # a scalar is not copied
    return out


def _copied(value: Any) -> Any:
    """A copy of YAML data (mappings, lists, scalars); cheaper than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value
