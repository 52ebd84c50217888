"""Loading and validating manifests (vizctl.manifests.loader, vizctl.manifests.positions)."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from vizctl.manifests import loader as manifest_mod
from vizctl.errors import ManifestError, Problem
from vizctl.manifests.loader import load_manifests, load_schema
from vizctl.model import BODY_FIELDS, Location

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A scratch directory as the current one, and a helper writing files into it."""
    monkeypatch.chdir(tmp_path)

    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return name

    return write


def problems_of(*paths: str) -> list[Problem]:
    with pytest.raises(ManifestError) as info:
        load_manifests(list(paths))
    return info.value.problems


def only_problem(*paths: str) -> Problem:
    found = problems_of(*paths)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


GOOD_JOB = """
jobs:
  - job_name: resnet50-tb
    train_url: /bucket/resnet50/logs/
"""


# -- the schema itself -------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema_with_titles():
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for name, sub in schema["$defs"].items():
        assert sub.get("description"), f"$defs/{name} has no description"


def test_schema_has_an_id_and_every_field_a_description():
    schema = load_schema()
    assert schema["$id"] == "urn:vizctl:schema:manifest:1"

    def described(sub: dict) -> bool:
        target = schema["$defs"][sub["$ref"].rsplit("/", 1)[1]] if "$ref" in sub else {}
        return bool(sub.get("description") or target.get("description"))

    def fields(node: dict, where: str):
        for name, sub in node.get("properties", {}).items():
            yield f"{where}.{name}", sub
            yield from fields(sub, f"{where}.{name}")

    found = [*fields(schema, "")]
    for name, sub in schema["$defs"].items():
        found += [*fields(sub, f"$defs/{name}")]
    assert len(found) > 20
    assert [where for where, sub in found if not described(sub)] == []


def test_examples_name_the_schema_for_the_yaml_language_server():
    for example in sorted((REPO / "examples").glob("*.yaml")):
        assert example.read_text().startswith("# yaml-language-server: $schema=../schemas/manifest.schema.json\n"), example


def test_schema_loaded_is_the_repo_file():
    on_disk = json.loads((REPO / "schemas" / "manifest.schema.json").read_text())
    assert load_schema() == on_disk


# -- a valid manifest ------------------------------------------------------


def test_minimal_job(work):
    work("a.yaml", GOOD_JOB)
    m = load_manifests(["a.yaml"])
    (job,) = m.jobs
    assert job.name == "resnet50-tb"
    assert job.body == {"job_name": "resnet50-tb", "train_url": "/bucket/resnet50/logs/"}
    assert job.location == Location("a.yaml", 2)
    assert job.location.path == "a.yaml"
    assert (job.replace_on_drift, job.recreate_failed) == (False, False)
    assert m.files == ("a.yaml",)
    assert m.explicitly_empty is False
    assert m.prune_scopes == ()


def test_body_holds_declared_fields_in_body_fields_order(work):
    work(
        "a.yaml",
        """
        jobs:
          - schedule: {duration: 2}
            replace_on_drift: true
            recreate_failed: true
            flavor: {code: modelarts.vm.cpu.2u}
            job_type: mindinsight
            train_url: /bucket/x/
            job_desc: curves
            job_name: x-tb
        """,
    )
    (job,) = load_manifests(["a.yaml"]).jobs
    assert list(job.body) == list(BODY_FIELDS)
    assert "replace_on_drift" not in job.body and "recreate_failed" not in job.body
    assert job.replace_on_drift is True and job.recreate_failed is True
    assert job.location.line == 2  # the item's first line, wherever job_name is


def test_schedule_is_normalised(work):
    work(
        "a.yaml",
        """
        jobs:
          - {job_name: a, train_url: /b/a/, schedule: {duration: 4}}
          - {job_name: b, train_url: /b/b/, schedule: {duration: 0, type: stop, time_unit: HOURS}}
          - {job_name: c, train_url: /b/c/, schedule: {duration: 24.0}}
        """,
    )
    a, b, c = load_manifests(["a.yaml"]).jobs
    assert a.body["schedule"] == {"type": "stop", "time_unit": "HOURS", "duration": 4}
    assert list(a.body["schedule"]) == ["type", "time_unit", "duration"]
    assert b.body["schedule"] == {"type": "stop", "time_unit": "HOURS", "duration": 0}
    assert c.body["schedule"]["duration"] == 24 and type(c.body["schedule"]["duration"]) is int


def test_defaults_merge_deeply_and_the_job_wins(work):
    work(
        "a.yaml",
        """
        defaults:
          job_type: tensorboard
          job_desc: shared description
          flavor: {code: modelarts.vm.cpu.2u}
          schedule: {duration: 4, type: stop}
          replace_on_drift: true
        jobs:
          - job_name: plain
            train_url: /bucket/plain/
          - job_name: custom
            train_url: /bucket/custom/
            job_desc: my own
            job_type: mindinsight
            schedule: {duration: 12}
            replace_on_drift: false
        """,
    )
    plain, custom = load_manifests(["a.yaml"]).jobs
    assert plain.body == {
        "job_name": "plain",
        "job_desc": "shared description",
        "train_url": "/bucket/plain/",
        "job_type": "tensorboard",
        "flavor": {"code": "modelarts.vm.cpu.2u"},
        "schedule": {"type": "stop", "time_unit": "HOURS", "duration": 4},
    }
    assert plain.replace_on_drift is True
    assert custom.body["job_desc"] == "my own"
    assert custom.body["job_type"] == "mindinsight"
    assert custom.body["schedule"] == {"type": "stop", "time_unit": "HOURS", "duration": 12}
    assert custom.body["flavor"] == {"code": "modelarts.vm.cpu.2u"}
    assert custom.replace_on_drift is False
    # each job has its own copy, not the defaults' dict
    assert plain.body["flavor"] is not custom.body["flavor"]


def test_deep_merge_keeps_default_keys_the_job_does_not_set():
    merged = manifest_mod._deep_merge({"schedule": {"duration": 4, "type": "stop"}, "x": 1}, {"schedule": {"duration": 9}})
    assert merged == {"schedule": {"duration": 9, "type": "stop"}, "x": 1}


def test_defaults_apply_only_to_their_own_document(work):
    work(
        "a.yaml",
        """
        defaults: {job_type: mindinsight}
        jobs:
          - {job_name: first, train_url: /b/1/}
        ---
        jobs:
          - {job_name: second, train_url: /b/2/}
        """,
    )
    first, second = load_manifests(["a.yaml"]).jobs
    assert first.body["job_type"] == "mindinsight"
    assert "job_type" not in second.body


def test_multi_document_file_and_empty_documents(work):
    work(
        "a.yaml",
        """
        # only a comment before the first separator
        ---
        jobs:
          - {job_name: one, train_url: /b/1/}
        ---
        ---
        jobs:
          - {job_name: two, train_url: /b/2/}
          - {job_name: three, train_url: /b/3/}
        """,
    )
    m = load_manifests(["a.yaml"])
    assert [j.name for j in m.jobs] == ["one", "two", "three"]
    assert [j.location.line for j in m.jobs] == [4, 8, 9]


def test_prune_scopes_collected_with_their_lines(work):
    work("a.yaml", "prune: {prefix: team-a-}\n" + GOOD_JOB)
    work("b.yaml", "jobs: []\nprune:\n  regex: 'team-b-.*'\n")
    m = load_manifests(["a.yaml", "b.yaml"])
    a, b = m.prune_scopes
    assert (a.prefix, a.regex, a.location) == ("team-a-", None, Location("a.yaml", 1))
    assert (b.prefix, b.regex, b.location) == (None, "team-b-.*", Location("b.yaml", 2))
    assert b.matches("team-b-x") and not b.matches("team-a-x")


def test_jobs_empty_list_is_explicitly_empty(work):
    work("a.yaml", "jobs: []\n")
    m = load_manifests(["a.yaml"])
    assert m.jobs == () and m.explicitly_empty is True


def test_merge_keys_and_anchors(work):
    work(
        "a.yaml",
        """
        jobs:
          - &base
            job_name: base-tb
            train_url: /bucket/base/
            job_desc: base
            schedule: &sched {duration: 6}
          - <<: *base
            job_name: copy-tb
            train_url: /bucket/copy/
          - <<: [{job_desc: from first}, {job_desc: from second, job_type: mindinsight}]
            job_name: multi-tb
            train_url: /bucket/multi/
            schedule: *sched
        """,
    )
    base, copy_, multi = load_manifests(["a.yaml"]).jobs
    assert copy_.body["job_desc"] == "base"
    assert copy_.body["schedule"]["duration"] == 6
    assert copy_.body["train_url"] == "/bucket/copy/"  # own keys win over merged ones
    assert multi.body["job_desc"] == "from first"  # earlier merged mappings win
    assert multi.body["job_type"] == "mindinsight"
    assert multi.body["schedule"]["duration"] == 6
    assert base.body["job_name"] == "base-tb"


def test_merged_key_overridden_is_not_a_duplicate(work):
    work(
        "a.yaml",
        """
        defaults: &d {job_desc: shared}
        jobs:
          - <<: *d
            job_desc: mine
            job_name: a
            train_url: /b/
        """,
    )
    (job,) = load_manifests(["a.yaml"]).jobs
    assert job.body["job_desc"] == "mine"


def test_error_in_merged_value_is_reported(work):
    work(
        "a.yaml",
        """
        jobs:
          - &base
            job_name: a
            train_url: /b/a/
            job_type: tensorbord
          - <<: *base
            job_name: b
        """,
    )
    found = problems_of("a.yaml")
    # the bad value is reported for both jobs, at the line where it is written
    assert [(p.line, p.message.split(":")[0]) for p in found] == [(5, "jobs[0] (a).job_type"), (5, "jobs[1] (b).job_type")]


# -- files and directories -------------------------------------------------


def test_directory_expansion_is_recursive_and_sorted(work):
    for name in ["z.yml", "a.yaml", "m/b.yaml", "m/a.yml", "m.yaml", "notes.txt", ".hidden/x.yaml", "c.YAML"]:
        work(name, "jobs: []\n")
    m = load_manifests(["."])
    assert m.files == ("./a.yaml", "./c.YAML", "./m/a.yml", "./m/b.yaml", "./m.yaml", "./z.yml")


def test_directory_paths_keep_the_users_spelling(work):
    work("examples/team.yaml", GOOD_JOB)
    assert load_manifests(["examples/"]).jobs[0].location.path == "examples/team.yaml"
    assert load_manifests(["examples"]).files == ("examples/team.yaml",)


def test_named_file_read_whatever_its_extension(work):
    work("jobs.txt", GOOD_JOB)
    assert [j.name for j in load_manifests(["jobs.txt"]).jobs] == ["resnet50-tb"]


def test_each_file_read_once(work):
    work("d/a.yaml", GOOD_JOB)
    m = load_manifests(["d/a.yaml", "d", "./d/a.yaml"])
    assert m.files == ("d/a.yaml",)
    assert len(m.jobs) == 1  # not "declared twice"


def test_files_keep_the_order_given(work):
    work("a.yaml", "jobs: [{job_name: a, train_url: /b/a/}]\n")
    work("b.yaml", "jobs: [{job_name: b, train_url: /b/b/}]\n")
    m = load_manifests(["b.yaml", "a.yaml"])
    assert [j.name for j in m.jobs] == ["b", "a"]


def test_missing_path(work):
    p = only_problem("nope.yaml")
    assert (p.path, p.line, p.message) == ("nope.yaml", None, "no such file or directory")
    assert str(p) == "nope.yaml: no such file or directory"


def test_empty_directory(work, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "README.md").write_text("no manifests\n")
    p = only_problem("empty")
    assert (p.path, p.line) == ("empty", None)
    assert "no *.yaml or *.yml file" in p.message


def test_no_paths_at_all():
    with pytest.raises(ManifestError):
        load_manifests([])


def test_digest_covers_paths_and_bytes(work):
    work("a.yaml", GOOD_JOB)
    first = load_manifests(["a.yaml"]).digest
    assert len(first) == 64 and int(first, 16) >= 0
    assert load_manifests(["a.yaml"]).digest == first
    work("a.yaml", GOOD_JOB + "# a comment changes the bytes\n")
    assert load_manifests(["a.yaml"]).digest != first
    work("b.yaml", GOOD_JOB + "# a comment changes the bytes\n")
    assert load_manifests(["b.yaml"]).digest != load_manifests(["a.yaml"]).digest


def test_digest_is_sha256_of_length_prefixed_paths_and_bytes(work):
    raw = GOOD_JOB.lstrip("\n").encode()
    work("a.yaml", GOOD_JOB)
    expected = hashlib.sha256(b"6:a.yaml\x00%d:" % len(raw) + raw).hexdigest()
    assert load_manifests(["a.yaml"]).digest == expected


# -- one test per kind of problem, with its line ----------------------------


def test_unknown_key_with_did_you_mean(work):
    work(
        "a.yaml",
        """
        jobs:
          - job_name: resnet50-tb
            train_url: /bucket/resnet50/logs/
            job_dsec: typo
            colour: blue
        """,
    )
    found = problems_of("a.yaml")
    assert [str(p) for p in found] == [
        "a.yaml:4: jobs[0] (resnet50-tb): unknown key 'job_dsec' (did you mean 'job_desc'?)",
        "a.yaml:5: jobs[0] (resnet50-tb): unknown key 'colour'",
    ]


def test_a_typoed_required_key_is_reported_once_as_unknown(work):
    work(
        "a.yaml",
        """
        version: 1
        jobs:
          - job_nmae: resnet50-tb
            train_url: /bucket/resnet50/logs/
          - job_name: other
            train_ulr: /bucket/other/
        """,
    )
    assert [str(p) for p in problems_of("a.yaml")] == [
        "a.yaml:3: jobs[0]: unknown key 'job_nmae' (did you mean 'job_name'?)",
        "a.yaml:6: jobs[1] (other): unknown key 'train_ulr' (did you mean 'train_url'?)",
    ]


def test_a_missing_key_is_still_reported_beside_an_unrelated_unknown_one(work):
    work("a.yaml", "jobs:\n  - job_name: a\n    colour: blue\n")
    assert [str(p) for p in problems_of("a.yaml")] == [
        "a.yaml:2: jobs[0] (a): missing required key 'train_url'",
        "a.yaml:3: jobs[0] (a): unknown key 'colour'",
    ]


def test_a_typoed_jobs_key_is_reported_once(work):
    work("a.yaml", "version: 1\njbos: []\n")
    assert [str(p) for p in problems_of("a.yaml")] == ["a.yaml:2: unknown key 'jbos' (did you mean 'jobs'?)"]


def test_unknown_top_level_key(work):
    work("a.yaml", "jbos: []\njob_name: x\njobs: []\n")
    assert [str(p) for p in problems_of("a.yaml")] == [
        "a.yaml:1: unknown key 'jbos' (did you mean 'jobs'?)",
        "a.yaml:2: unknown key 'job_name' (job keys go in a list item under 'jobs:')",
    ]


def test_missing_required_key_at_the_item_line(work):
    work(
        "a.yaml",
        """
        jobs:
          - job_name: a
            train_url: /b/a/
          - job_name: b
            job_desc: no url
        """,
    )
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (4, "jobs[1] (b): missing required key 'train_url'")


def test_missing_jobs(work, tmp_path):
    (tmp_path / "a.yaml").write_text("# no jobs here\n\nversion: 1\n")
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (3, "missing required key 'jobs'")


def test_bad_job_name(work):
    work(
        "a.yaml",
        """
        jobs:
          - job_name: ok
            train_url: /b/
          - job_name: resnet 50!
            train_url: /b/
          - job_name: a-name-that-is-far-too-long
            train_url: /b/
          - job_name: ""
            train_url: /b/
          - job_name: "trailing-newline\\n"
            train_url: /b/
        """,
    )
    rule = "is not a valid job name: use 1-20 letters, digits, '_' or '-'"
    assert [(p.line, p.message) for p in problems_of("a.yaml")] == [
        (4, f"jobs[1].job_name: 'resnet 50!' {rule}"),
        (6, f"jobs[2].job_name: 'a-name-that-is-far-too-long' {rule}"),
        (8, f"jobs[3].job_name: '' {rule}"),
        (10, f"jobs[4].job_name: 'trailing-newline\\n' {rule}"),
    ]


def test_job_name_of_twenty_characters_is_fine(work):
    work("a.yaml", "jobs: [{job_name: abcdefghij_-0123456, train_url: /b/}]\n")
    assert load_manifests(["a.yaml"]).jobs[0].name == "abcdefghij_-0123456"


def test_job_desc_too_long(work):
    work("a.yaml", f"jobs:\n  - job_name: a\n    train_url: /b/\n    job_desc: {'x' * 300}\n")
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (4, "jobs[0] (a).job_desc: at most 256 characters (got 300)")


def test_job_desc_of_256_characters_is_fine(work):
    work("a.yaml", f"jobs:\n  - job_name: a\n    train_url: /b/\n    job_desc: {'x' * 256}\n")
    assert len(load_manifests(["a.yaml"]).jobs[0].body["job_desc"]) == 256


def test_bad_job_type_with_and_without_a_close_match(work):
    work(
        "a.yaml",
        """
        jobs:
          - {job_name: a, train_url: /b/, job_type: tensorbord}
          - {job_name: b, train_url: /b/, job_type: jupyter}
        """,
    )
    assert [(p.line, p.message) for p in problems_of("a.yaml")] == [
        (2, "jobs[0] (a).job_type: must be one of tensorboard, mindinsight (got 'tensorbord'; did you mean 'tensorboard'?)"),
        (3, "jobs[1] (b).job_type: must be one of tensorboard, mindinsight (got 'jupyter')"),
    ]


@pytest.mark.parametrize("duration, shown", [("30", "30"), ("-1", "-1"), ("2.5", "2.5"), ("four", "'four'"), ("true", "true")])
def test_schedule_duration_out_of_range_or_not_an_integer(work, duration, shown):
    work("a.yaml", f"jobs:\n  - job_name: resnet50-tb\n    train_url: /b/\n    schedule:\n      duration: {duration}\n")
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (5, f"jobs[0] (resnet50-tb).schedule.duration: must be an integer from 0 to 24 (got {shown})")


def test_schedule_type_and_unit_only_with_their_implied_values(work):
    work(
        "a.yaml",
        """
        jobs:
          - job_name: a
            train_url: /b/
            schedule: {duration: 1, type: start, time_unit: MINUTES}
          - job_name: b
            train_url: /b/
            schedule: {type: stop}
        """,
    )
    assert [(p.line, p.message) for p in problems_of("a.yaml")] == [
        (4, "jobs[0] (a).schedule.type: must be 'stop' (got 'start'); it is implied and may be left out"),
        (4, "jobs[0] (a).schedule.time_unit: must be 'HOURS' (got 'MINUTES'); it is implied and may be left out"),
        (7, "jobs[1] (b).schedule: missing required key 'duration'"),
    ]


def test_wrong_types(work):
    work(
        "a.yaml",
        """
        jobs:
          - job_name: 12345
            train_url: [/b/1/, /b/2/]
            job_desc: 2024-01-01
            flavor: modelarts.vm.cpu.2u
            schedule: 4
            replace_on_drift: maybe
            recreate_failed:
        """,
    )
    assert [(p.line, p.message) for p in problems_of("a.yaml")] == [
        (2, "jobs[0].job_name: must be a string (got 12345; put it in quotes)"),
        (3, "jobs[0].train_url: must be a string (got a list)"),
        (4, "jobs[0].job_desc: must be a string (got the date 2024-01-01; put it in quotes)"),
        (5, "jobs[0].flavor: must be a mapping (got 'modelarts.vm.cpu.2u')"),
        (6, "jobs[0].schedule: must be a mapping (got 4)"),
        (7, "jobs[0].replace_on_drift: must be true or false (got 'maybe')"),
        (8, "jobs[0].recreate_failed: must be true or false (got an empty value)"),
    ]


def test_document_and_jobs_of_the_wrong_shape(work):
    work("a.yaml", "- job_name: a\n  train_url: /b/\n")
    work("b.yaml", "jobs:\n  - resnet50-tb\n")
    work("c.yaml", "jobs:\n")
    assert [str(p) for p in problems_of("a.yaml", "b.yaml", "c.yaml")] == [
        "a.yaml:1: a manifest must be a mapping with a 'jobs' list (got a list)",
        "b.yaml:2: jobs[0]: must be a mapping (got 'resnet50-tb')",
        "c.yaml:1: jobs: must be a list (got an empty value)",
    ]


def test_empty_train_url_and_flavor_code(work):
    work("a.yaml", "jobs:\n  - job_name: a\n    train_url: '  '\n    flavor: {code: ''}\n")
    assert [(p.line, p.message) for p in problems_of("a.yaml")] == [
        (3, "jobs[0] (a).train_url: must not be empty"),
        (4, "jobs[0] (a).flavor.code: must not be empty"),
    ]


@pytest.mark.parametrize("version", ["2", "'1'", "true"])
def test_bad_version(work, version):
    work("a.yaml", f"# comment\nversion: {version}\njobs: []\n")
    p = only_problem("a.yaml")
    assert p.line == 2
    assert p.message.startswith("version: unknown manifest version ")
    assert p.message.endswith(": the only known version is 1")


def test_bad_prune_regex(work):
    work("a.yaml", "jobs: []\nprune:\n  regex: 'team-(a'\n")
    p = only_problem("a.yaml")
    assert p.line == 3
    assert p.message.startswith("prune.regex: 'team-(a' is not a valid regular expression: missing )")


@pytest.mark.parametrize(
    "prune, message",
    [
        ("{prefix: a-, regex: 'a-.*'}", "prune: give either 'prefix' or 'regex', not both"),
        ("{}", "prune: give 'prefix' or 'regex'"),
        ("{prefix: ''}", "prune.prefix: must not be empty (an empty prefix would own every job)"),
        ("{prefix: a-, regx: 'b'}", "prune: unknown key 'regx' (did you mean 'regex'?)"),
    ],
)
def test_bad_prune_scope(work, prune, message):
    work("a.yaml", f"jobs: []\nprune: {prune}\n")
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (2, message)


def test_defaults_cannot_hold_job_name_or_train_url(work):
    work(
        "a.yaml",
        """
        defaults:
          job_type: tensorboard
          job_name: shared
          train_url: /b/
          job_typo: x
        jobs: []
        """,
    )
    assert [(p.line, p.message) for p in problems_of("a.yaml")] == [
        (3, "defaults: 'job_name' cannot have a default: set it in each job"),
        (4, "defaults: 'train_url' cannot have a default: set it in each job"),
        (5, "defaults: unknown key 'job_typo' (did you mean 'job_type'?)"),
    ]


def test_bad_value_in_defaults(work):
    work("a.yaml", "defaults:\n  schedule: {duration: 99}\njobs: []\n")
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (2, "defaults.schedule.duration: must be an integer from 0 to 24 (got 99)")


def test_yaml_syntax_error_has_its_line(work):
    work(
        "a.yaml",
        """
        jobs:
          - job_name: a
            train_url: /b/
           job_desc: misaligned
        """,
    )
    p = only_problem("a.yaml")
    assert p.line == 4
    assert p.message.startswith("invalid YAML: ")


def test_tab_indentation_is_a_syntax_error_not_a_crash(work, tmp_path):
    (tmp_path / "a.yaml").write_text("jobs:\n\t- job_name: a\n")
    p = only_problem("a.yaml")
    assert p.line == 2
    assert "indent with spaces, not tabs" in p.message


def test_documents_before_a_syntax_error_are_still_checked(work):
    work("a.yaml", "jobs: [{job_name: 'bad name', train_url: /b/}]\n---\njobs: [\n")
    found = problems_of("a.yaml")
    assert [p.line for p in found] == [1, 3]
    assert "is not a valid job name" in found[0].message
    assert found[1].message.startswith("invalid YAML: ")


def test_duplicate_yaml_key(work):
    work(
        "a.yaml",
        """
        jobs:
          - job_name: a
            train_url: /b/1/
            job_desc: one
            train_url: /b/2/
        """,
    )
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (5, "jobs[0] (a): duplicate key 'train_url' (first at line 3)")


def test_duplicate_top_level_key(work):
    work("a.yaml", "jobs: []\njobs: []\n")
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (2, "duplicate key 'jobs' (first at line 1)")


def test_duplicate_job_name_across_files_names_both_places(work):
    work("a.yaml", "jobs:\n  - job_name: resnet50-tb\n    train_url: /b/1/\n")
    work("b.yaml", "# other team\njobs:\n  - job_name: other\n    train_url: /b/2/\n  - job_name: resnet50-tb\n    train_url: /b/3/\n")
    p = only_problem("a.yaml", "b.yaml")
    assert str(p) == "b.yaml:5: job 'resnet50-tb' is declared twice: first at a.yaml:2"


def test_duplicate_job_name_reported_at_each_later_place(work):
    work(
        "a.yaml",
        """
        jobs:
          - {job_name: x, train_url: /b/1/}
          - {job_name: x, train_url: /b/2/}
        ---
        jobs:
          - {job_name: x, train_url: /b/3/}
        """,
    )
    assert [str(p) for p in problems_of("a.yaml")] == [
        "a.yaml:3: job 'x' is declared twice: first at a.yaml:2",
        "a.yaml:6: job 'x' is declared twice: first at a.yaml:2",
    ]


def test_two_prune_scopes_are_fine(work):
    work("a.yaml", "prune: {prefix: a-}\njobs: []\n---\nprune: {regex: 'b-.*'}\njobs: []\n")
    assert len(load_manifests(["a.yaml"]).prune_scopes) == 2


def test_every_problem_reported_at_once_sorted_by_file_then_line(work):
    work(
        "b.yaml",
        """
        version: 3
        jobs:
          - job_name: resnet 50!
            train_url: /b/
          - job_name: ok
            schedule: {duration: 30}
        """,
    )
    work("a.yaml", "jobs:\n  - job_name: x\n    train_url: /b/\n    job_type: tensorbord\n")
    with pytest.raises(ManifestError) as info:
        load_manifests(["b.yaml", "a.yaml", "missing.yaml"])
    found = info.value.problems
    assert [(p.path, p.line) for p in found] == [
        ("b.yaml", 1),
        ("b.yaml", 3),
        ("b.yaml", 5),
        ("b.yaml", 6),
        ("a.yaml", 4),
        ("missing.yaml", None),
    ]
    text = str(info.value)
    assert text.endswith("6 problems in 3 files; nothing was sent to the API")
    assert "b.yaml:6: jobs[1] (ok).schedule.duration: must be an integer from 0 to 24 (got 30)" in text


def test_problems_within_a_file_are_sorted_by_line(work):
    work("a.yaml", "jobs:\n  - job_name: z\n    train_url: /b/\n    job_desc: 1\n  - job_name: z\n    train_url: /b/\n")
    # the duplicate name (found after validation) still comes in line order
    found = problems_of("a.yaml")
    assert [p.line for p in found] == [4, 5]


# -- inputs that must not crash --------------------------------------------


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("jobs: &a [*a]\n", 1, "an alias refers to a value that contains it"),
        ("jobs:\n  - &x {job_name: a, train_url: /b/, <<: *x}\n", 2, "'<<' merges a mapping into itself"),
        ("jobs: [{<<: 5, job_name: a, train_url: /b/}]\n", 1, "'<<' must merge a mapping or a list of mappings"),
        ("x: *nope\njobs: []\n", 1, "undefined alias"),
        ("jobs: !!set {a, b}\n", 1, "unsupported YAML tag"),
        ("jobs:\n  - {job_name: a, train_url: !custom /b/}\n", 2, "unsupported YAML tag '!custom'"),
        ("jobs:\n  - {job_name: a, train_url: /b/, schedule: {duration: !!int four}}\n", 2, "'four' is not a valid !!int"),
        ("? [a, b]\n: 1\njobs: []\n", 1, "a key must be plain text, not a list"),
        ("jobs: []\n\x07\n", 2, "is not allowed in YAML text"),
        ("jobs: " + "[" * 100 + "]" * 100 + "\n", 1, "nested more than"),
    ],
)
def test_odd_yaml_is_a_problem_not_a_traceback(work, tmp_path, text, line, fragment):
    (tmp_path / "a.yaml").write_text(text)
    found = problems_of("a.yaml")
    assert found[0].line == line
    assert fragment in found[0].message


def test_alias_bomb_is_refused(work, tmp_path):
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        text += f"l{i}: &l{i} [" + ", ".join([f"*{'a' if i == 1 else f'l{i - 1}'}"] * 10) + "]\n"
    (tmp_path / "a.yaml").write_text(text + "jobs: []\n")
    p = only_problem("a.yaml")
    assert "too many aliases" in p.message


def test_deep_nesting_beyond_the_parser(work, tmp_path):
    (tmp_path / "a.yaml").write_text("jobs: " + "[" * 5000 + "]" * 5000 + "\n")
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (1, "nested more than 64 levels deep")


def test_not_utf8(work, tmp_path):
    (tmp_path / "a.yaml").write_bytes(b"jobs: []\n# caf\xe9\n")
    p = only_problem("a.yaml")
    assert (p.line, p.message) == (2, "not UTF-8 text (byte 0xe9 cannot be read)")


def test_utf8_bom_and_unicode_are_fine(work, tmp_path):
    (tmp_path / "a.yaml").write_bytes("\ufeffjobs: [{job_name: a, train_url: /b/, job_desc: 'Kurven für ResNet'}]\n".encode())
    assert load_manifests(["a.yaml"]).jobs[0].body["job_desc"] == "Kurven für ResNet"


def test_unreadable_file(work, monkeypatch):
    work("a.yaml", GOOD_JOB)
    real_open = open

    def fake_open(path, *args, **kwargs):
        if str(path) == "a.yaml":
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    p = only_problem("a.yaml")
    assert (p.path, p.line, p.message) == ("a.yaml", None, "cannot read the file: Permission denied")


# -- the shipped examples ----------------------------------------------------


def test_examples_load_cleanly(monkeypatch):
    monkeypatch.chdir(REPO)
    m = load_manifests(["examples/"])
    assert len(m.jobs) >= 3
    assert len(m.files) >= 2
    assert all(f.startswith("examples/") for f in m.files)
    assert all(len(j.name) <= 20 for j in m.jobs)
    # one file uses defaults, one holds two documents
    texts = [(REPO / f).read_text() for f in m.files]
    assert any("\ndefaults:" in t for t in texts)
    assert any(t.count("\n---\n") >= 1 for t in texts)
    assert m.explicitly_empty is False


def test_valid_manifests_are_checked_without_importing_jsonschema():
    """The compiled check settles valid documents; jsonschema (slow to import) only explains rejected ones."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from vizctl.manifests.loader import load_manifests\n"
        "load_manifests(['examples/'], {}, None)\n"
        "print('jsonschema' in sys.modules)\n"
        "try:\n"
        "    load_manifests(['-'], {}, __import__('io').StringIO('jobs: [{job_name: a}]'))\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, 'jsonschema' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["False", "ManifestError True"]
