"""Property tests of the loader and the validator (issue 9): whatever the YAML, vizctl answers
with a Manifest or its ManifestError, every problem names its file and a line in it, and the two
fast paths (the event-built documents, the compiled schema check) agree with the reference ones.

CI runs the small "ci" profile (a few seconds). A soak run (tests/soak.py) tries far more inputs:

    VIZCTL_SOAK=1 .venv/bin/python -m pytest -q tests/test_manifest_properties.py
"""

from __future__ import annotations

import copy
import os
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soak import scale
from vizctl.manifests import variables as envsubst
from vizctl.manifests import loader as manifest
from vizctl.manifests import schemacheck
from vizctl.manifests import positions as yamlpos
from vizctl.errors import ManifestError
from vizctl.manifests.loader import load_manifests, load_schema

# CI (CI=true) runs the same examples every time, so a red build always means a change did it.
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          derandomize=bool(os.environ.get("CI")), database=None if os.environ.get("CI") else settings.default.database)
settings.register_profile("soak", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", scale("ci", "soak")))

pytestmark = pytest.mark.hardening

ENVIRON = {"BUCKET": "b", "EMPTY": ""}

# Text without surrogates (YAML cannot hold them), some of it long, some of it odd.
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from(["", "tensorboard", "mindinsight", "stop", "HOURS", "${BUCKET}", "${NOPE}", "$${x}", "${1", "~", "yes", "0x1F", "2024-01-01"]),
    st.text("ab", min_size=300, max_size=3000),
)
KEYS = st.one_of(TEXT, st.sampled_from(["jobs", "job_name", "train_url", "job_desc", "job_type", "flavor", "code",
                                         "schedule", "duration", "defaults", "prune", "prefix", "regex", "version"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-30, 30),
                    st.floats(allow_nan=False), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(KEYS, inner, max_size=4)), max_leaves=25)

VALID = {
    "version": 1,
    "defaults": {"job_type": "tensorboard", "schedule": {"duration": 4}, "flavor": {"code": "modelarts.vm.cpu.2u"}},
    "prune": {"prefix": "t-"},
    "jobs": [
        {"job_name": "t-one", "train_url": "/b/one/", "job_desc": "one", "replace_on_drift": True},
        {"job_name": "t-two", "train_url": "/b/two/", "schedule": {"duration": 0, "type": "stop", "time_unit": "HOURS"}},
    ],
}


def paths_of(data, path=()):
    """Every path into ``data``, the whole included."""
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths_of(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from paths_of(value, (*path, i))


@st.composite
def mutated_manifests(draw):
    """A valid manifest with a few random changes: a value replaced, a key removed or added,
    a value nested deeper."""
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in paths_of(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        how = draw(st.sampled_from(["replace", "remove", "add", "nest"]))
        if how == "replace":
            parent[path[-1]] = draw(VALUES)
        elif how == "remove":
            del parent[path[-1]]
        elif how == "add" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(VALUES)
        elif how == "nest":
            value = parent[path[-1]]
            for _ in range(draw(st.integers(1, 80))):
                value = draw(st.sampled_from([[value], {"x": value}]))
            parent[path[-1]] = value
    return data


def load_text(tmp_path, text: str | bytes):
    """The Manifest, or the problems, of one file holding ``text``; asserts every problem is
    placed in that file, on one of its lines, in a message of bounded length."""
    path = tmp_path / "m.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    # YAML breaks lines at \x85, \u2028 and \u2029 too: str.splitlines counts those (and a few more)
    lines = max(1, len(path.read_bytes().decode("utf-8", "replace").splitlines()))
    try:
        return load_manifests([str(path)], ENVIRON)
    except ManifestError as e:
        assert e.problems
        for p in e.problems:
            assert p.path == str(path), p
            assert p.line is not None and 1 <= p.line <= lines, (p, lines)
            assert len(p.message) < 400, p
        return e.problems


@given(st.text(max_size=300))
def test_any_text_gives_a_manifest_or_placed_problems(tmp_path_factory, text):
    load_text(tmp_path_factory.mktemp("t"), text)


# Pieces of YAML syntax, so that random text often is YAML: anchors, aliases, merges, tags,
# explicit keys, flow and block collections, several documents, variables.
YAML_TOKENS = ["jobs", "job_name", "train_url", "defaults", "schedule", "duration", "prune", "a", "1", "~", "yes",
               ": ", "- ", "? ", "&a ", "*a", "&b ", "*b", "<<: ", "!!str ", "!!int ", "!!set ", "!x ", "{", "}", "[",
               "]", ", ", "'", '"', "\n", "  ", "    ", "---\n", "# c\n", "${BUCKET}", "${NOPE}", "|\n", "\t"]


@given(st.lists(st.sampled_from(YAML_TOKENS), max_size=80).map("".join))
def test_any_yaml_shaped_text_gives_a_manifest_or_placed_problems(tmp_path_factory, text):
    load_text(tmp_path_factory.mktemp("y"), text)


@given(st.lists(st.sampled_from(YAML_TOKENS), max_size=80).map("".join))
def test_event_path_agrees_with_the_node_path_on_yaml_shaped_text(text):
    fast = yamlpos._plain_documents(text, ENVIRON)
    if fast is not None:
        slow, issues = yamlpos._load_with(yamlpos._FAST_LOADER, text, ENVIRON)
        assert not issues and not any(d.issues for d in slow)
        assert [(d.data, d.line, d.value_lines, d.key_lines, d.variables) for d in fast] == [
            (d.data, d.line, d.value_lines, d.key_lines, d.variables) for d in slow
        ]


@given(st.binary(max_size=300))
def test_any_bytes_give_a_manifest_or_placed_problems(tmp_path_factory, raw):
    load_text(tmp_path_factory.mktemp("b"), raw)


@given(VALUES)
def test_any_yaml_data_gives_a_manifest_or_placed_problems(tmp_path_factory, data):
    load_text(tmp_path_factory.mktemp("d"), yaml.safe_dump(data, allow_unicode=True))


@given(mutated_manifests(), st.sampled_from([None, True, False]))
def test_mutated_manifests_give_a_manifest_or_placed_problems(tmp_path_factory, data, flow):
    result = load_text(tmp_path_factory.mktemp("m"), yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True))
    if not isinstance(result, list):  # valid: every job has a name and a place
        assert all(j.name and j.location.line >= 1 for j in result.jobs)


@given(mutated_manifests())
def test_compiled_check_agrees_with_jsonschema(data):
    errors = list(manifest._validator().iter_errors(data))
    assert manifest._is_valid()(data) is (not errors), [e.message for e in errors]


@given(st.one_of(VALUES, mutated_manifests()), st.sampled_from([None, True, False]))
def test_event_path_builds_what_the_node_path_builds(data, flow):
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    fast = yamlpos._plain_documents(text, ENVIRON)
    slow, issues = yamlpos._load_with(yamlpos._FAST_LOADER, text, ENVIRON)
    if fast is None:  # the event path declined: only for what it leaves to the node path
        assert issues or any(d.issues for d in slow) or "&" in text or "!" in text or "<<" in text or "${" in text
        return
    assert not issues
    assert [(d.data, d.line, d.value_lines, d.key_lines, d.variables) for d in fast] == [
        (d.data, d.line, d.value_lines, d.key_lines, d.variables) for d in slow
    ]


@given(st.text(string.printable, max_size=60), st.dictionaries(st.sampled_from(["A", "B", "C_1"]), st.text(max_size=5)))
def test_substitution_never_raises_and_leaves_text_without_references_alone(text, environ):
    result = envsubst.substitute(text, environ)
    if "${" not in text:
        assert result.text == text and not result.used and not result.problems
    for name in result.used:
        assert "${" + name in text


def test_the_shipped_schema_compiles_into_the_fast_check():
    # were it refused, every valid document would be checked by jsonschema alone: correct, but 4x slower
    schemacheck.compile_schema(load_schema())


def test_the_compiled_check_refuses_a_keyword_it_does_not_know():
    schema = copy.deepcopy(load_schema())
    schema["$defs"]["job"]["properties"]["job_name"] = {"type": "string", "uniqueItems": True}
    with pytest.raises(schemacheck.UnsupportedSchema):
        schemacheck.compile_schema(schema)
