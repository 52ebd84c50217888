"""Where manifests come from and what they refer to: ${VAR} from the environment, standard
input (-f -), which YAML files in a directory are manifests, and hostile input (issues 9, 12)."""

from __future__ import annotations

import io
import os
import textwrap

import pytest

from cliutil import run
from test_manifest import work  # noqa: F401 - the fixture: a scratch directory and a file writer
from vizctl.manifests import positions as yamlpos
from vizctl.errors import ManifestError
from vizctl.manifests.loader import MAX_FILE_BYTES, load_manifests
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer


def problems_of(*paths: str, environ=None, stdin=None) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifests(list(paths), environ, stdin)
    return [str(p) for p in info.value.problems]


BUCKET_JOB = """\
jobs:
  - job_name: a
    train_url: /${BUCKET}/a/logs/
    job_desc: ${DESC:-curves of a}
"""


# -- ${VAR} ------------------------------------------------------------------


def test_variables_come_from_the_environment_given(work):
    work("a.yaml", BUCKET_JOB)
    (job,) = load_manifests(["a.yaml"], {"BUCKET": "dev-bucket"}).jobs
    assert job.body["train_url"] == "/dev-bucket/a/logs/"
    assert job.body["job_desc"] == "curves of a"  # unset: the default
    (job,) = load_manifests(["a.yaml"], {"BUCKET": "b", "DESC": ""}).jobs
    assert job.body["job_desc"] == "curves of a"  # empty: the default too, as in the shell
    (job,) = load_manifests(["a.yaml"], {"BUCKET": "b", "DESC": "prod curves"}).jobs
    assert job.body["job_desc"] == "prod curves"


def test_an_unset_variable_without_default_is_a_problem_with_its_line(work):
    work("a.yaml", BUCKET_JOB)
    assert problems_of("a.yaml", environ={"DESC": "x"}) == [
        "a.yaml:3: jobs[0] (a).train_url: environment variable BUCKET is not set (give a default with ${BUCKET:-default})"
    ]


def test_escapes_other_dollars_and_bad_references(work):
    work(
        "a.yaml",
        """
        jobs:
          - job_name: a
            train_url: /b/a/
            job_desc: "costs $5, literal $${HOME}, $HOME stays"
          - job_name: b
            train_url: /b/${1BAD}/
          - job_name: c
            train_url: /b/${OPEN
        """,
    )
    assert problems_of("a.yaml", environ={"HOME": "/root"}) == [
        "a.yaml:6: jobs[1] (b).train_url: bad variable reference '${1BAD}/': write ${NAME} or ${NAME:-default}, or $${ for a literal ${",
        "a.yaml:8: jobs[2] (c).train_url: bad variable reference '${OPEN': write ${NAME} or ${NAME:-default}, or $${ for a literal ${",
    ]
    work("b.yaml", "jobs: [{job_name: a, train_url: /b/, job_desc: 'costs $5, literal $${HOME}, $HOME stays'}]\n")
    assert load_manifests(["b.yaml"], {"HOME": "/root"}).jobs[0].body["job_desc"] == "costs $5, literal ${HOME}, $HOME stays"


def test_an_unquoted_reference_takes_the_type_of_its_value(work):
    work(
        "a.yaml",
        """
        defaults:
          schedule:
            duration: ${HOURS:-4}
          replace_on_drift: ${REPLACE:-false}
        jobs:
          - {job_name: a, train_url: /b/}
          - job_name: b
            train_url: /b/
            schedule:
              duration: "${HOURS:-4}"
        """,
    )
    assert problems_of("a.yaml") == ["a.yaml:10: jobs[1] (b).schedule.duration: must be an integer from 0 to 24 (got '4')"]
    work("a.yaml", "jobs:\n- job_name: a\n  train_url: /b/\n  replace_on_drift: ${REPLACE:-false}\n  schedule:\n    duration: ${HOURS:-4}\n")
    (job,) = load_manifests(["a.yaml"], {"HOURS": "12", "REPLACE": "true"}).jobs
    assert job.body["schedule"]["duration"] == 12 and job.replace_on_drift is True


def test_a_reference_in_a_flow_mapping_must_be_quoted_and_the_error_says_so(work):
    work("a.yaml", "jobs:\n  - {job_name: a, train_url: /${B:-b}/}\n")
    assert problems_of("a.yaml") == [
        "a.yaml:2: invalid YAML: expected ',' or '}', but got '{' (while parsing a flow mapping); "
        "quote a value holding ${...} inside { } or [ ]"
    ]


def test_keys_are_not_substituted(work):
    work("a.yaml", "jobs: []\n${KEY}: x\n")
    assert problems_of("a.yaml", environ={"KEY": "jobs"}) == ["a.yaml:2: unknown key '${KEY}'"]


def test_variables_in_anchored_values_take_the_full_path_the_same_way(work):
    # anchors and merge keys send the document through PyYAML's node tree, not the event path
    work(
        "a.yaml",
        """
        defaults: &d {job_desc: "${DESC:-shared}"}
        jobs:
          - {<<: *d, job_name: a, train_url: "/${BUCKET}/a/"}
          - job_name: b
            train_url: /${MISSING}/b/
        """,
    )
    assert problems_of("a.yaml", environ={"BUCKET": "x"}) == [
        "a.yaml:5: jobs[1] (b).train_url: environment variable MISSING is not set (give a default with ${MISSING:-default})"
    ]
    a, b = load_manifests(["a.yaml"], {"BUCKET": "x", "MISSING": "y", "DESC": "mine"}).jobs
    assert (a.body["train_url"], a.body["job_desc"], b.body["train_url"]) == ("/x/a/", "mine", "/y/b/")


def test_digest_covers_the_values_of_the_variables_read(work):
    work("a.yaml", BUCKET_JOB)
    dev = load_manifests(["a.yaml"], {"BUCKET": "dev"}).digest
    assert load_manifests(["a.yaml"], {"BUCKET": "dev", "UNRELATED": "1"}).digest == dev
    assert load_manifests(["a.yaml"], {"BUCKET": "prod"}).digest != dev
    assert load_manifests(["a.yaml"], {"BUCKET": "dev", "DESC": "curves of a"}).digest != dev  # set, though equal to the default


@pytest.fixture
def sim():
    with SimServer(SimConfig(startup_seconds=0.3)) as server:
        yield server


def test_a_plan_saved_for_dev_is_stale_for_prod_values(tmp_path, sim):
    (tmp_path / "m.yaml").write_text(textwrap.dedent(BUCKET_JOB))
    plan_file = tmp_path / "plan.json"
    made = run("plan", "-f", str(tmp_path / "m.yaml"), "--out", str(plan_file), sim=sim, env={"BUCKET": "dev-bucket"})
    assert made.code == 0, made.all
    assert "/dev-bucket/a/logs/" in made.out
    result = run("apply", str(plan_file), sim=sim, env={"BUCKET": "prod-bucket"})
    assert result.code == 1 and "plan is stale: the value of ${BUCKET} changed since it was made" in result.err, result.all
    assert sim.stats["POST create"] == 0
    applied = run("apply", str(plan_file), sim=sim, env={"BUCKET": "dev-bucket"})
    assert applied.code == 0, applied.all
    assert sim.state.list_jobs("proj-1", {})["jobs"][0]["train_url"] == "/dev-bucket/a/logs/"


def test_cli_reads_variables_from_its_environment(tmp_path):
    (tmp_path / "m.yaml").write_text(textwrap.dedent(BUCKET_JOB))
    ok = run("validate", "-f", str(tmp_path / "m.yaml"), env={"BUCKET": "b"})
    missing = run("validate", "-f", str(tmp_path / "m.yaml"), env={})
    assert (ok.code, ok.out) == (0, "Valid: 1 job in 1 file.\n"), ok.all
    assert missing.code == 1
    assert f"{tmp_path / 'm.yaml'}:3: jobs[0] (a).train_url: environment variable BUCKET is not set" in missing.err


# -- standard input ------------------------------------------------------------


def test_manifests_on_standard_input():
    result = run("validate", "-f", "-", stdin="jobs:\n  - job_name: a\n    train_url: /${B:-b}/\n")
    assert (result.code, result.out) == (0, "Valid: 1 job in 1 file.\n"), result.all


def test_problems_on_standard_input_are_placed_at_stdin_lines():
    result = run("validate", "-f", "-", stdin="jobs:\n  - job_name: a\n    train_url: /b/\n    job_type: tensorbord\n")
    assert result.code == 1
    assert result.err.startswith("<stdin>:4: jobs[0] (a).job_type: must be one of tensorboard, mindinsight")


def test_standard_input_as_bytes_with_other_files_and_once(work):
    work("a.yaml", "jobs: [{job_name: a, train_url: /b/a/}]\n")
    stdin = io.BytesIO("\ufeffjobs: [{job_name: b, train_url: /b/b/, job_desc: 'für'}]\n".encode())
    m = load_manifests(["a.yaml", "-", "-"], {}, stdin)
    assert [j.name for j in m.jobs] == ["a", "b"]
    assert m.jobs[1].location.path == "<stdin>" and m.jobs[1].body["job_desc"] == "für"
    assert m.files == ("a.yaml", "-")
    assert problems_of("-") == ["<stdin>: standard input is not available"]


def test_a_plan_made_from_standard_input_reads_it_again_when_applied(tmp_path, sim):
    text = "jobs:\n  - job_name: s-1\n    train_url: /b/s-1/\n"
    plan_file = tmp_path / "plan.json"
    assert run("plan", "-f", "-", "--out", str(plan_file), sim=sim, stdin=text).code == 0
    other = run("apply", str(plan_file), sim=sim, stdin=text.replace("/b/s-1/", "/b/other/"))
    assert other.code == 1 and "plan is stale: the manifests changed" in other.err, other.all
    same = run("apply", str(plan_file), sim=sim, stdin=text)
    assert same.code == 0, same.all
    assert [j["job_name"] for j in sim.state.list_jobs("proj-1", {})["jobs"]] == ["s-1"]


# -- which files in a directory are manifests ------------------------------------


def test_other_yaml_in_a_directory_is_skipped_and_named(work, tmp_path):
    work("manifests/team.yaml", "jobs: [{job_name: a, train_url: /b/}]\n")
    work("manifests/mkdocs.yml", "site_name: Docs\nnav:\n  - index.md\n")
    work("manifests/OWNERS.yaml", "approvers: [alice]\nreviewers: [bob]\n")
    work("manifests/empty.yaml", "# nothing yet\n")
    m = load_manifests(["manifests"])
    assert m.files == ("manifests/team.yaml",)
    assert m.skipped == ("manifests/OWNERS.yaml", "manifests/empty.yaml", "manifests/mkdocs.yml")
    result = run("validate", "-f", str(tmp_path / "manifests"))
    assert result.code == 0 and result.out == "Valid: 1 job in 1 file.\n"
    assert f"vizctl: skipped {tmp_path / 'manifests' / 'mkdocs.yml'}: not a vizctl manifest (no manifest key in it)\n" in result.err


@pytest.mark.parametrize(
    "text",
    [
        "jbos:\n  - {job_name: a, train_url: /b/}\n",  # a near miss of 'jobs'
        "job:\n  - {job_name: a, train_url: /b/}\n",
        "- job_name: a\n  train_url: /b/\n",  # jobs without the 'jobs:' around them
        "defaults: {job_type: tensorboard}\n",
        "prune: {prefix: a-}\n",
        "# yaml-language-server: $schema=../schemas/manifest.schema.json\nnothing: here\n",
        "jobs: [\n",  # not even YAML
        "jobs: []\n\x00\n",
    ],
)
def test_a_broken_manifest_in_a_directory_is_never_skipped(work, text):
    work("manifests/ok.yaml", "jobs: []\n")
    work("manifests/typo.yaml", text)
    found = problems_of("manifests")
    assert found and all(p.startswith("manifests/typo.yaml") for p in found), found


def test_a_file_named_explicitly_is_always_a_manifest(work):
    work("mkdocs.yml", "site_name: Docs\n")
    assert problems_of("mkdocs.yml") == ["mkdocs.yml:1: missing required key 'jobs'", "mkdocs.yml:1: unknown key 'site_name'"]


def test_a_directory_without_any_manifest_is_a_problem(work):
    work("ci/lint.yaml", "steps: [lint]\n")
    assert problems_of("ci") == ["ci: no manifests here: no *.yaml or *.yml file in it is a vizctl manifest"]


# -- hostile input ---------------------------------------------------------------


@pytest.mark.hardening
def test_a_50_mb_file_is_refused_unread(work, tmp_path):
    with open(tmp_path / "big.yaml", "wb") as f:
        f.write(b"jobs: []\n")
        f.truncate(50 * 2**20)
    assert MAX_FILE_BYTES == 10 * 2**20
    assert problems_of("big.yaml") == ["big.yaml: larger than 10 MiB: not read (a manifest of 10,000 jobs is about 1 MiB)"]
    stdin = io.StringIO("jobs: []\n" + "#" * MAX_FILE_BYTES)
    assert problems_of("-", stdin=stdin) == ["<stdin>: larger than 10 MiB: not read (a manifest of 10,000 jobs is about 1 MiB)"]


@pytest.mark.hardening
def test_symbolic_link_loops(work, tmp_path):
    os.symlink("loop.yaml", tmp_path / "loop.yaml")
    assert problems_of("loop.yaml") == ["loop.yaml: a symbolic link loop"]
    work("d/a.yaml", "jobs: []\n")
    os.symlink(".", tmp_path / "d" / "again")  # a directory that contains itself is not followed
    os.symlink("self.yaml", tmp_path / "d" / "self.yaml")
    assert problems_of("d") == ["d/self.yaml: cannot read the file: Too many levels of symbolic links"]


@pytest.mark.hardening
def test_a_fifo_or_a_directory_given_as_a_file_does_not_hang(work, tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    assert problems_of("pipe.yaml") == ["pipe.yaml: not a regular file or a directory"]
    (tmp_path / "d" / "dir.yaml").mkdir(parents=True)  # a directory named like a manifest
    assert problems_of("d") == ["d: no manifests here: the directory holds no *.yaml or *.yml file"]


@pytest.mark.hardening
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_a_file_without_read_permission(work, tmp_path):
    work("a.yaml", "jobs: []\n")
    os.chmod(tmp_path / "a.yaml", 0)
    assert problems_of("a.yaml") == ["a.yaml: cannot read the file: Permission denied"]


@pytest.mark.hardening
def test_binary_data(work, tmp_path):
    (tmp_path / "a.yaml").write_bytes(b"jobs: []\n" + bytes(range(256)) * 4)
    assert problems_of("a.yaml") == ["a.yaml:3: not UTF-8 text (byte 0x80 cannot be read)"]  # 0x0a is a line break
    (tmp_path / "b.yaml").write_bytes(b"jobs: []\n\x00\x01\x02\n")
    [problem] = problems_of("b.yaml")
    assert problem.startswith("b.yaml:2: invalid YAML: character #x0000 is not allowed")


@pytest.mark.hardening
def test_very_long_values_are_shortened_in_messages(work, tmp_path):
    name, key = "n" * 100_000, "k" * 1000  # YAML allows keys of at most 1024 characters
    (tmp_path / "a.yaml").write_text(f"jobs:\n  - job_name: {name}\n    train_url: /b/\n    {key}: 1\n")
    found = problems_of("a.yaml")
    assert len(found) == 2
    assert all(len(p) < 200 for p in found), [p[:300] for p in found]
    assert found[0].startswith("a.yaml:2: jobs[0].job_name: 'nnnn")


@pytest.mark.hardening
@pytest.mark.parametrize(
    "text, line",
    [
        ("jobs: []\nx: [" + "0," * yamlpos.MAX_VALUES + "0]\n", 2),  # one document
        ("jobs: []\n---\n" * (yamlpos.MAX_VALUES // 2), 66667),  # the limit is per file, not per document
        ("x: &a 1\njobs: []\ny: [" + "0," * yamlpos.MAX_VALUES + "0]\n", 3),  # an anchor: counted before PyYAML's nodes
    ],
)
def test_more_values_than_the_limit_in_one_file(work, tmp_path, text, line):
    (tmp_path / "a.yaml").write_text(text)
    assert problems_of("a.yaml") == [f"a.yaml:{line}: more than {yamlpos.MAX_VALUES} values in this file: split it into several files"]


@pytest.mark.hardening
def test_a_broken_symbolic_link(work, tmp_path):
    os.symlink("nowhere.yaml", tmp_path / "a.yaml")
    assert problems_of("a.yaml") == ["a.yaml: a broken symbolic link"]


@pytest.mark.hardening
def test_alias_bomb_of_many_levels_stops_at_the_value_limit(work, tmp_path):
    text = "a: &a [" + ", ".join(["x"] * 50) + "]\n"
    for i in range(1, 12):
        text += f"l{i}: &l{i} [" + ", ".join([f"*{'a' if i == 1 else f'l{i - 1}'}"] * 50) + "]\n"
    (tmp_path / "a.yaml").write_text(text + "jobs: []\n")
    assert problems_of("a.yaml") == [
        f"a.yaml:1: more than {yamlpos.MAX_VALUES} values in this file once aliases are expanded (too many aliases?)"
    ]


# -- the dev/prod layout of examples/ ---------------------------------------------

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_file(name: str) -> dict[str, str]:
    path = os.path.join(REPO, "examples", "env", name)
    with open(path, encoding="utf-8") as f:
        return dict(line.strip().split("=", 1) for line in f if line.strip() and not line.startswith("#"))


def test_one_set_of_examples_serves_dev_and_prod(monkeypatch):
    monkeypatch.chdir(REPO)
    dev, prod = env_file("dev.env"), env_file("prod.env")
    assert dev["ML_BUCKET"] != prod["ML_BUCKET"] and dev["VIZCTL_PROJECT_ID"] != prod["VIZCTL_PROJECT_ID"]
    assert "VIZCTL_TOKEN" not in dev and "VIZCTL_TOKEN" not in prod
    plain, on_dev, on_prod = (load_manifests(["examples/"], environ) for environ in ({}, dev, prod))
    assert [j.name for j in on_dev.jobs] == [j.name for j in on_prod.jobs] == [j.name for j in plain.jobs]
    assert all(j.body["train_url"].startswith("/ml-bucket/") for j in plain.jobs)
    assert all(j.body["train_url"].startswith(f"/{dev['ML_BUCKET']}/") for j in on_dev.jobs)
    assert all(j.body["train_url"].startswith(f"/{prod['ML_BUCKET']}/") for j in on_prod.jobs)
    assert len({plain.digest, on_dev.digest, on_prod.digest}) == 3


def test_the_documented_dev_prod_command_plans_with_the_env_files_values(tmp_path):
    import re
    import shutil
    import subprocess
    import sys

    with open(os.path.join(REPO, "docs", "manifests.md"), encoding="utf-8") as f:
        [command] = [c.strip() for c in re.findall(r"```sh\n(.*?)```", f.read(), re.S) if "env/prod.env" in c]
    shutil.copytree(os.path.join(REPO, "examples"), tmp_path / "examples")
    command = command.replace("vizctl plan", f"{sys.executable} -m vizctl plan --sim")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIZCTL_", "ML_"))}
    env["PYTHONPATH"] = REPO
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"/ml-bucket-prod/resnet50/logs/"' in done.stdout and "/ml-bucket/" not in done.stdout
