"""Kill-tests for the mutation run of the manifest loader (tests/MUTATION.md, part 3).

Each test pins a behaviour of ``vizctl/manifests/`` that a mutant changed without any
other test noticing: pure tests of the loader where possible, the real CLI where the
behaviour is what a user sees.
"""

from __future__ import annotations

import hashlib
import io
import os
import textwrap

import pytest

from vizctl.errors import ManifestError
from vizctl.manifests import loader
from vizctl.manifests.loader import load_manifests


def load_text(text: str, environ: dict | None = None):
    """The manifest read from ``text`` as standard input."""
    return load_manifests(["-"], environ or {}, io.StringIO(textwrap.dedent(text)))


def problems_in(text: str) -> list[str]:
    """Every problem of ``text`` (read as standard input), as validate prints it."""
    return problems_in_env(text, {})


def problems_in_env(text: str, environ: dict) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_text(text, environ)
    return [str(p) for p in info.value.problems]


def write(path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


GOOD = "jobs:\n  - {job_name: a, train_url: /b/a/}\n"


# -- what a manifest means ------------------------------------------------------------------


def test_a_default_mapping_or_list_is_copied_into_each_job_not_shared():
    """_deep_merge copies: a job's body never shares a mapping or list with the defaults, another job or its input."""
    defaults = {"flavor": {"code": "c"}, "tags": ["x", {"k": "v"}]}
    item = {"schedule": {"duration": 2}, "more": [1, [2]]}
    merged = loader._deep_merge(defaults, item)
    assert merged == {"flavor": {"code": "c"}, "tags": ["x", {"k": "v"}], "schedule": {"duration": 2}, "more": [1, [2]]}
    assert merged["flavor"] is not defaults["flavor"] and merged["tags"] is not defaults["tags"]
    assert merged["tags"][1] is not defaults["tags"][1]
    assert merged["schedule"] is not item["schedule"] and merged["more"] is not item["more"] and merged["more"][1] is not item["more"][1]


def test_a_yaml_file_in_a_directory_with_only_keys_like_name_or_type_is_not_a_manifest(tmp_path):
    """A Chart.yaml-like file's ``name``/``type`` are near job_name/job_type only at difflib's 0.6, not the loader's 0.75."""
    write(tmp_path / "d" / "jobs.yaml", GOOD)
    chart = write(tmp_path / "d" / "chart.yaml", "apiVersion: v2\nname: board\ntype: application\n")
    m = load_manifests([str(tmp_path / "d")])
    assert [j.name for j in m.jobs] == ["a"] and m.skipped == (chart,)


def test_a_subdirectory_that_cannot_be_read_is_a_problem_not_skipped(tmp_path, monkeypatch):
    """os.walk's errors are problems: jobs in an unreadable subdirectory are never silently left out (prune!)."""
    write(tmp_path / "d" / "a.yaml", GOOD)
    write(tmp_path / "d" / "team" / "b.yaml", "jobs:\n  - {job_name: b, train_url: /b/b/}\n")
    locked = str(tmp_path / "d" / "team")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # running as root, chmod 000 would not stop the walk
    with pytest.raises(ManifestError) as info:
        load_manifests([str(tmp_path / "d")])
    assert [(p.path, p.line, p.message) for p in info.value.problems] == [
        (locked, None, "cannot read the directory: Permission denied")
    ]
    bad = write(tmp_path / "bad.yaml", "jobs:\n  - {job_name: c}\n")  # a path never ranked sorts after the ranked ones
    with pytest.raises(ManifestError) as info:
        load_manifests([str(tmp_path / "d"), bad])
    assert [(p.path, p.line) for p in info.value.problems] == [(bad, 2), (locked, None)]


# -- valid documents never need jsonschema ---------------------------------------------------


def test_a_valid_document_is_settled_by_the_compiled_check_alone(monkeypatch, tmp_path):
    """jsonschema (slow to import and run) only explains a rejected document: the in-process twin of the import test."""

    def no_jsonschema():
        raise AssertionError("jsonschema consulted for a valid document")

    monkeypatch.setattr(loader, "_validator", no_jsonschema)
    assert [j.name for j in load_text(GOOD).jobs] == ["a"]
    every_feature = """\
        version: 1
        prune: {regex: 'a-[0-9]+$'}
        defaults: {job_type: mindinsight, flavor: {code: modelarts.kat1.xlarge}, schedule: {duration: 4}, replace_on_drift: true}
        jobs:
          - {job_name: a-1, train_url: /b/1/, job_desc: '', schedule: {type: stop, time_unit: HOURS, duration: 0}}
          - {job_name: a_2, train_url: /b/2/, job_type: tensorboard, recreate_failed: false, restart_stopped: true}
          - {job_name: a-3-is-twenty-chars0, train_url: /b/3/, job_desc: DESC, schedule: {duration: 24}}
        ---
        prune: {prefix: b}
        jobs: []
        """.replace("DESC", "d" * 256)  # each limit at its edge: 0 and 24 hours, 256 characters, a prefix of one
    m = load_text(every_feature)
    assert [(j.name, j.body.get("job_type"), j.body["schedule"]["duration"]) for j in m.jobs] == [
        ("a-1", "mindinsight", 0), ("a_2", "tensorboard", 4), ("a-3-is-twenty-chars0", "mindinsight", 24)
    ]
    assert loader.job_problems({"job_name": "a", "train_url": "/b/"}) == []


# -- messages that would mislead or crash ----------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    # a regex of the wrong type is a type error, not re.compile(5) crashing
    ("prune: {regex: 5}\njobs: []\n", ["<stdin>:1: prune.regex: must be a string (got 5; put it in quotes)"]),
    # a train_url of the wrong type is not "must not be empty"
    ("jobs:\n  - {job_name: a, train_url: 5}\n", ["<stdin>:2: jobs[0] (a).train_url: must be a string (got 5; put it in quotes)"]),
    # prune of the wrong shape says so before the oneOf's advice
    ("prune: [a]\njobs: []\n", ["<stdin>:1: prune: must be a mapping (got a list)", "<stdin>:1: prune: give 'prefix' or 'regex'"]),
    ("jobs:\n  - {job_name: a, train_url: /b/, job_type: 5}\n", [
        "<stdin>:2: jobs[0] (a).job_type: must be a string (got 5; put it in quotes)",
        "<stdin>:2: jobs[0] (a).job_type: must be one of tensorboard, mindinsight (got 5)",
    ]),
    ("version: 3\njobs: []\n", ["<stdin>:1: version: unknown manifest version 3: the only known version is 1"]),
    ("jobs:\n  - {job_name: a, train_url: /b/, job_desc: false}\n",
     ["<stdin>:2: jobs[0] (a).job_desc: must be a string (got false; put it in quotes)"]),
    ("jobs:\n  - {job_name: a, train_url: /b/, job_desc: " + "9" * 40 + "}\n",
     ["<stdin>:2: jobs[0] (a).job_desc: must be a string (got a very large number; put it in quotes)"]),
    ("2024-01-01\n", ["<stdin>:1: a manifest must be a mapping with a 'jobs' list (got a date)"]),
])
def test_a_wrong_value_gets_its_own_message(text, expected):
    assert problems_in(text) == expected


@pytest.mark.parametrize("schema, value, expected", [
    ({"const": 1}, 2, "must be 1 (got 2)"),
    ({"minLength": 3}, "ab", "must be at least 3 characters long (got 2)"),
    ({"minimum": 1}, 0, "must be at least 1 (got 0)"),
    ({"maximum": 1}, 2, "must be at most 1 (got 2)"),
    ({"type": ["string", "null"]}, 5, "must be a string or empty (got 5)"),
    ({"multipleOf": 2}, 3, "3 is not a multiple of 2"),
])
def test_keywords_the_shipped_schema_does_not_use_yet_are_still_explained(schema, value, expected):
    """_explain's general branches ("a keyword the schema may gain later"), fed jsonschema's own errors."""
    from jsonschema import Draft202012Validator

    [err] = Draft202012Validator({"properties": {"n": schema}}).iter_errors({"n": value})
    assert list(loader._explain(err, ("n",))) == [(("n",), expected)]


def test_a_path_under_a_file_says_not_a_directory():
    with pytest.raises(ManifestError) as info:
        load_manifests([f"{__file__}/m.yaml"])
    assert [p.message for p in info.value.problems] == ["cannot read it: Not a directory"]


# -- reading files -----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_manifest_with_its_byte_order_mark_is_read(tmp_path, codec):
    path = tmp_path / "m.yaml"
    path.write_bytes(("\ufeff" + GOOD).encode(codec))
    assert [(j.name, j.body["train_url"]) for j in load_manifests([str(path)]).jobs] == [("a", "/b/a/")]


def test_broken_utf16_is_named_as_utf16_with_its_line(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_bytes(b"\xff\xfe" + "jobs: []\n# x\n".encode("utf-16-le") + b"\x00\xd8" + "a\n".encode("utf-16-le"))
    with pytest.raises(ManifestError) as info:
        load_manifests([str(path)])
    assert [(p.line, p.message) for p in info.value.problems] == [(3, "not UTF-16 text (byte 0x00 cannot be read)")]


def test_a_file_name_that_is_not_utf8_is_read_and_digested(tmp_path):
    """A name with an undecodable byte (surrogate-escaped by Python) must not crash the digest."""
    path = os.fsdecode(os.fsencode(str(tmp_path)) + b"/m\xff.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(GOOD)
    m = load_manifests([path])
    assert [j.name for j in m.jobs] == ["a"] and len(m.digest) == 64


def test_the_digest_covers_the_values_of_the_variables_read_in_its_documented_form(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "jobs:\n  - {job_name: a, train_url: '/${B}/'}\n"
    (tmp_path / "a.yaml").write_text(text, encoding="utf-8")
    raw = text.encode()
    env = b'[["B", "x"]]'
    expected = hashlib.sha256(b"6:a.yaml\x00%d:" % len(raw) + raw + b"\x00env %d:%s" % (len(env), env)).hexdigest()
    assert load_manifests(["a.yaml"], {"B": "x"}).digest == expected


def test_standard_input_is_read_as_bytes_from_its_buffer():
    """A real stdin is a text wrapper: its bytes are read (a UTF-16 manifest piped in is not decoded as UTF-8)."""
    stdin = io.TextIOWrapper(io.BytesIO(("\ufeff" + GOOD).encode("utf-16-le")), encoding="utf-8")
    assert [j.name for j in load_manifests(["-"], {}, stdin).jobs] == ["a"]


def test_text_standard_input_keeps_its_undecodable_bytes():
    """Text read with surrogateescape goes back to its bytes: not UTF-8, at its line, not a crash."""
    assert problems_in("jobs: []\n# caf\udce9\n") == ["<stdin>:2: not UTF-8 text (byte 0xe9 cannot be read)"]


def test_one_path_may_be_given_as_a_string(tmp_path):
    assert [j.name for j in load_manifests(write(tmp_path / "m.yaml", GOOD)).jobs] == ["a"]


def test_no_path_at_all_is_one_problem():
    with pytest.raises(ManifestError) as info:
        load_manifests([])
    assert [(p.path, p.line, p.message) for p in info.value.problems] == [("(no path)", None, "no manifest file or directory was given")]


# -- every problem, in every file and document, at once --------------------------------------


def test_a_file_that_cannot_be_read_does_not_hide_the_problems_of_the_next(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (loader.MAX_FILE_BYTES + 1))
    bad = write(tmp_path / "bad.yaml", "jobs:\n  - {job_name: a}\n")
    with pytest.raises(ManifestError) as info:
        load_manifests([str(big), bad])
    assert [(p.path, p.line) for p in info.value.problems] == [(str(big), None), (bad, 2)]


def test_each_document_of_a_file_is_checked_though_an_earlier_one_is_invalid():
    assert problems_in("jobs:\n  - {job_name: a}\n---\njobs:\n  - {job_name: b}\n") == [
        "<stdin>:2: jobs[0] (a): missing required key 'train_url'",
        "<stdin>:5: jobs[0] (b): missing required key 'train_url'",
    ]


def test_a_value_that_could_not_be_read_does_not_hide_the_schema_errors_after_it():
    assert problems_in("jobs:\n  - {job_name: a, train_url: '${UNSET}'}\n  - {job_name: bad name, train_url: /b/}\n") == [
        "<stdin>:2: jobs[0] (a).train_url: environment variable UNSET is not set (give a default with ${UNSET:-default})",
        "<stdin>:3: jobs[1].job_name: 'bad name' is not a valid job name: use 1-20 letters, digits, '_' or '-'",
    ]


def test_a_directory_without_manifests_is_reported_in_the_order_it_was_given(tmp_path):
    other = tmp_path / "other"
    write(other / "chart.yaml", "apiVersion: v2\n")
    bad = write(tmp_path / "bad.yaml", "jobs:\n  - {job_name: a}\n")
    with pytest.raises(ManifestError) as info:
        load_manifests([str(other), bad])
    assert [(p.path, p.line) for p in info.value.problems] == [(str(other), None), (bad, 2)]
    assert info.value.problems[0].message == "no manifests here: no *.yaml or *.yml file in it is a vizctl manifest"


# -- prune scopes ---------------------------------------------------------------------------


def test_only_a_scope_whose_own_file_says_jobs_empty_may_be_emptied(tmp_path):
    """may_empty (``--force`` may delete all of a scope) comes from the scope's own file, never another one's ``jobs: []``."""
    retired = write(tmp_path / "a.yaml", "prune: {prefix: a-}\njobs: []\n")
    kept = write(tmp_path / "b.yaml", "prune: {prefix: b-}\njobs:\n  - {job_name: b-1, train_url: /b/}\n")
    empty = write(tmp_path / "c.yaml", "jobs: []\n")
    m = load_manifests([retired, kept, empty])
    assert [(s.location.path, s.prefix, s.may_empty) for s in m.prune_scopes] == [(retired, "a-", True), (kept, "b-", False)]
    assert m.explicitly_empty is True
    assert load_manifests([kept]).explicitly_empty is False


# -- the size limit -------------------------------------------------------------------------


def test_a_huge_file_is_refused_after_reading_no_more_than_the_limit(tmp_path):
    """A sparse 1 TiB file: read whole, it would not fit in memory (MemoryError, a traceback)."""
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as f:
        f.truncate(2**40)
    with pytest.raises(ManifestError) as info:
        load_manifests([str(huge)])
    assert [p.message for p in info.value.problems] == ["larger than 10 MiB: not read (a manifest of 10,000 jobs is about 1 MiB)"]


def test_endless_standard_input_is_read_only_up_to_the_limit():
    class Endless:
        """A pipe that never ends (``yes``): only a bounded read returns."""

        def read(self, size):
            assert isinstance(size, int) and size > 0, f"unbounded read({size!r})"
            return b"#" * size

    with pytest.raises(ManifestError) as info:
        load_manifests(["-"], {}, Endless())
    assert [p.message for p in info.value.problems] == ["larger than 10 MiB: not read (a manifest of 10,000 jobs is about 1 MiB)"]


def test_a_file_of_exactly_the_limit_is_read(tmp_path):
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(b"jobs: []\n" + b"#" * (loader.MAX_FILE_BYTES - 9))
    assert load_manifests([str(exact)]).explicitly_empty is True


@pytest.mark.parametrize("first", ["missing", "stdin"])
def test_problems_come_in_the_order_the_paths_were_given(tmp_path, first):
    """A missing path or standard input given first has its problems first, and does not stop the next path's check."""
    bad = write(tmp_path / "bad.yaml", "jobs:\n  - {job_name: a}\n")
    path, label, line = (str(tmp_path / "missing.yaml"),) * 2 + (None,) if first == "missing" else ("-", "<stdin>", 1)
    with pytest.raises(ManifestError) as info:
        load_manifests([path, bad], {}, io.StringIO("version: 2\njobs: []\n"))
    assert [(p.path, p.line) for p in info.value.problems] == [(label, line), (bad, 2)]


def test_validate_names_the_skipped_files_though_another_manifest_is_invalid(tmp_path):
    from cliutil import run

    chart = write(tmp_path / "d" / "chart.yaml", "apiVersion: v2\nname: board\n")
    bad = write(tmp_path / "d" / "jobs.yaml", "jobs:\n  - {job_name: a}\n")
    result = run("validate", str(tmp_path / "d"))
    assert result.code == 1 and "Traceback" not in result.all
    assert f"vizctl: skipped {chart}: not a vizctl manifest (no manifest key in it)" in result.err
    assert f"{bad}:2: jobs[0] (a): missing required key 'train_url'" in result.err


def test_job_problems_words_each_reason_as_export_shows_it():
    """export's note for a live job a manifest cannot declare: ``field.path: reason``, ``the job`` for the item itself."""
    assert loader.job_problems({"job_name": "a", "train_url": "/b/", "schedule": {"duration": 30}}) == [
        "schedule.duration: must be an integer from 0 to 24 (got 30)"
    ]
    assert loader.job_problems({"job_name": "a"}) == ["the job: missing required key 'train_url'"]


# -- positions.py: merge keys ---------------------------------------------------------------


def test_one_anchor_merged_into_several_jobs_is_not_a_cycle():
    m = load_text("jobs:\n  - &b {job_name: a, train_url: /b/}\n  - {<<: *b, job_name: b}\n  - {<<: *b, job_name: c}\n")
    assert [(j.name, j.body, j.location.line) for j in m.jobs] == [
        ("a", {"job_name": "a", "train_url": "/b/"}, 2),
        ("b", {"job_name": "b", "train_url": "/b/"}, 3),
        ("c", {"job_name": "c", "train_url": "/b/"}, 4),
    ]


def test_a_merged_mapping_that_merges_itself_is_one_problem_and_hides_what_it_breaks():
    """The cycle is caught where the merge is (not as a RecursionError), and the job it breaks is not also "missing job_name"."""
    assert problems_in("jobs:\n  - {<<: &m {job_name: a, <<: *m}, train_url: /b/, job_desc: 5}\n") == [
        "<stdin>:2: jobs[0] (a): '<<' merges a mapping into itself"
    ]


def test_merge_keys_that_double_at_each_level_are_counted_against_the_value_limit():
    """Each level merges the one before twice: 2**16 merges hold few keys, but the work is counted and refused."""
    lines = ["jobs:", "  - &a0 {job_name: a, train_url: /b/}"]
    lines += [f"  - &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, 17)]
    assert problems_in("\n".join(lines) + "\n") == [
        "<stdin>:1: more than 100000 values in this file once aliases are expanded (too many aliases?)"
    ]


# -- schemacheck.py ---------------------------------------------------------------------------


def test_json_equal_is_json_schemas_equality():
    from vizctl.manifests.schemacheck import json_equal

    assert json_equal(True, True) and json_equal(False, False) and json_equal(1, 1.0)
    assert not json_equal(True, 1) and not json_equal(1, True) and not json_equal(True, False) and not json_equal(0, False)
    assert json_equal([1, "a", [True]], [1, "a", [True]]) and json_equal({"a": [1]}, {"a": [1]})
    assert not json_equal([1, 2], [1]) and not json_equal([1], [1, 2]) and not json_equal([True], [1]) and not json_equal([1], [True])
    assert not json_equal([1, 2], [1, 3]) and not json_equal({"a": 1}, {"a": True}) and not json_equal({"a": 1}, {"b": 1})


def test_ecma_pattern_ends_at_the_very_end_but_keeps_a_literal_dollar():
    from vizctl.manifests.schemacheck import ecma_pattern

    assert ecma_pattern("^a$") == r"^a\Z" and ecma_pattern(r"cost\$") == r"cost\$" and ecma_pattern("a$b") == "a$b"


# -- positions.py: ${VAR} on the node path, odd scalars and keys, lines ----------------------


@pytest.mark.parametrize("anchor", ["", "&j"])
def test_an_unquoted_variable_is_typed_and_a_quoted_one_stays_text_with_or_without_an_anchor(anchor):
    """An anchor sends the document through PyYAML's nodes, where libyaml marks a plain scalar with style "" (not None):
    both paths must read ``duration: ${H}`` as the integer 4 and ``'${D}'`` as the text "123"."""
    text = f"jobs:\n  - {anchor}\n    job_name: a\n    train_url: /b/\n    schedule:\n      duration: ${{H}}\n    job_desc: '${{D}}'\n"
    [job] = load_text(text, {"H": "4", "D": "123"}).jobs
    assert (job.body["schedule"]["duration"], job.body["job_desc"]) == (4, "123")


def test_a_substituted_value_its_explicit_tag_refuses_is_a_problem_at_its_line():
    assert problems_in_env("jobs:\n  - {job_name: a, train_url: /b/, schedule: {duration: !!int '${H}'}}\n", {"H": "four"}) == [
        "<stdin>:2: jobs[0] (a).schedule.duration: 'four' is not a valid !!int"
    ]


def test_an_unreadable_scalar_is_one_problem_not_also_a_schema_error():
    assert problems_in("jobs:\n  - {job_name: a, train_url: /b/, schedule: {duration: !!int four}}\n") == [
        "<stdin>:2: jobs[0] (a).schedule.duration: 'four' is not a valid !!int"
    ]


@pytest.mark.parametrize("text, expected", [
    ("? {k: 1}\n: 1\njobs: []\n", ["<stdin>:1: a key must be plain text, not a mapping"]),
    ("? [a, b]\n: 1\njobs: []\n", ["<stdin>:1: a key must be plain text, not a list"]),  # and the keys after it are still read
    # an alias repeats the mapping: its bad key and its duplicate key are reported once
    ("jobs:\n  - &m\n    ? [k]\n    : 1\n    job_name: a\n    train_url: /b/\n  - *m\n",
     ["<stdin>:2: job 'a' is declared twice: first at <stdin>:2", "<stdin>:3: jobs[0] (a): a key must be plain text, not a list"]),
    ("jobs:\n  - &m {job_name: a, job_name: b, train_url: /b/}\n  - *m\n",
     ["<stdin>:2: jobs[0] (b): duplicate key 'job_name' (first at line 2)", "<stdin>:2: job 'b' is declared twice: first at <stdin>:2"]),
])
def test_keys_that_are_not_text_or_repeat_are_reported_once(text, expected):
    assert problems_in(text) == expected


def test_the_line_of_a_path_not_written_is_that_of_the_nearest_enclosing_value():
    from vizctl.manifests.positions import load_documents

    [doc], issues = load_documents("a: 1\njobs:\n  - x: 1\n    y: 2\n", {})
    assert issues == [] and doc.line_of(("jobs",)) == 2 and doc.line_of(("jobs", 0, "y")) == 4
    assert doc.line_of(("jobs", 0, "z")) == 3 and doc.line_of(("jobs", 0, "x", "w")) == 3 and doc.line_of(("nope", 1)) == 1


def test_compile_schema_reads_boolean_subschemas_escaped_refs_and_recursion():
    """What the shipped schema does not use yet, against a small schema (jsonschema agrees on each value)."""
    from jsonschema import Draft202012Validator

    from vizctl.manifests.schemacheck import compile_schema

    schema = {
        "$defs": {"a/b": {"type": "string"}, "c~d": {"type": "integer"}, "tree": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/tree"}}}}},
        "properties": {"s": {"$ref": "#/$defs/a~1b"}, "i": {"$ref": "#/$defs/c~0d"}, "any": True, "none": False, "t": {"$ref": "#/$defs/tree"},
                       "m": {"type": ["string", "null"]}, "extra": {"additionalProperties": {"type": "integer"}}, "free": {"description": "no keyword that checks"}},
    }
    check = compile_schema(schema)
    for value, valid in [
        ({"s": "x", "i": 1, "any": [1]}, True), ({"s": 1}, False), ({"i": "1"}, False), ({"none": 1}, False),
        ({"t": {"kids": [{"kids": []}, {"kids": [{}]}]}}, True), ({"t": {"kids": [{"kids": [5]}]}}, False),
        ({"m": None, "extra": {"a": 1}}, True), ({"m": "x"}, True), ({"m": 1}, False), ({"extra": {"a": "x"}}, False), ({"extra": 3}, True), ({"free": [1]}, True),
    ]:
        assert check(value) is valid and Draft202012Validator(schema).is_valid(value) is valid, value


@pytest.mark.parametrize("schema, message", [
    ({"$ref": "other.json#/x"}, "$ref 'other.json#/x'"),
    ({"multipleOf": 2}, "keyword 'multipleOf'"),
])
def test_compile_schema_refuses_what_it_does_not_compile_by_name(schema, message):
    from vizctl.manifests.schemacheck import UnsupportedSchema, compile_schema

    with pytest.raises(UnsupportedSchema) as info:
        compile_schema(schema)
    assert str(info.value) == message


@pytest.mark.parametrize("text, expected", [
    # a value that cannot be built is one problem: no schema error about the None left in its place
    ("jobs: &a [*a]\n", ["<stdin>:1: jobs[0]: an alias refers to a value that contains it"]),
    ("jobs: !!set {a, b}\n", ["<stdin>:1: jobs: unsupported YAML tag 'tag:yaml.org,2002:set'"]),
    # a merge of something that is no mapping is a problem, not a traceback
    ("jobs:\n  - &a {job_name: a, train_url: /b/}\n  - {<<: [*a, 5], job_name: b}\n",
     ["<stdin>:3: jobs[1] (b): '<<' must merge a mapping or a list of mappings", "<stdin>:3: jobs[1] (b): missing required key 'train_url'"]),
    # a duplicate key hides nothing else wrong in its mapping
    ("jobs:\n  - {job_name: a, job_name: b, train_url: /b/, job_desc: 5}\n",
     ["<stdin>:2: jobs[0] (b): duplicate key 'job_name' (first at line 2)", "<stdin>:2: jobs[0] (b).job_desc: must be a string (got 5; put it in quotes)"]),
    # nesting the text keeps under the limit, but an alias expands beyond it: lists, then mappings
    ("x: &d " + "[" * 40 + "]" * 40 + "\njobs: " + "[" * 30 + "*d" + "]" * 30 + "\n",
     ["<stdin>:1: nested more than 64 levels deep", "<stdin>:1: unknown key 'x'", "<stdin>:2: jobs[0]: must be a mapping (got a list)"]),
    ("x: &d " + "{a: " * 40 + "1" + "}" * 40 + "\njobs: " + "{a: " * 30 + "*d" + "}" * 30 + "\n",
     ["<stdin>:1: nested more than 64 levels deep", "<stdin>:1: unknown key 'x'", "<stdin>:2: jobs: must be a list (got a mapping)"]),
])
def test_yaml_the_node_path_cannot_build_is_exactly_its_problems(text, expected):
    assert problems_in(text) == expected
