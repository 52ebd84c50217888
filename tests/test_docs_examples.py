"""The output examples in README.md, CONTRIBUTING.md and docs/ come from running vizctl, so they cannot drift.

An example is a fenced block right after a marker line ``<!-- example: NAME -->``. The block
either starts with ``$ vizctl ARGS`` (the command; the rest of the block is what it prints on
standard output and standard error) or, for a file vizctl writes, holds only that file, with
the command in :data:`EXAMPLES`. Each name maps to an :class:`Example`: the setup that
prepares a working directory (and, where it needs one, a simulator with seeded jobs). A block
``$ vizctl COMMAND --help`` under ``<!-- example: help-COMMAND -->`` needs no entry: it is the
command's help at :data:`HELP_COLUMNS` columns. ``<!-- example-shape: NAME -->`` marks an
excerpt whose lines are checked for their fields (the apply event stream). Any other fenced
block without a language, or starting with ``$``, would be an output nobody checks: a test
refuses it.

To add an example: put a marker and a block in the docs, add an entry below, then run

    VIZCTL_UPDATE_DOCS=1 python -m pytest tests/test_docs_examples.py
    git diff README.md docs/

and review the diff. Only what truly varies is masked in the comparison (:data:`VARYING`):
the simulator's port, elapsed seconds, the jitter of retry waits and the statuses a heartbeat
catches starting jobs in.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from cliutil import run, write
from vizctl.cli_parser import build_parser, connection_env, subcommands
from vizctl.environment import Environment
from vizctl.manifests.loader import load_manifests
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimState

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").rglob("*.md"))]
UPDATE = os.environ.get("VIZCTL_UPDATE_DOCS") == "1"
MARKER = re.compile(r"^<!-- example: ([a-z0-9-]+) -->\n(```[a-z]*\n)(.*?)^```$", re.M | re.S)
FENCED = re.compile(r"^(<!-- example(?:-shape)?: [a-z0-9-]+ -->\n)?```([a-z]*)\n(.*?)^```$", re.M | re.S)
VARYING = [
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:PORT"),
    (re.compile(r"\b\d+\.\d+s\b"), "N.Ns"),
    (re.compile(r"retrying in \d+(?:\.\d+)? s"), "retrying in N s"),  # backoff with jitter
    (re.compile(r"^Waiting for .*$", re.M), "Waiting for …"),  # which statuses a heartbeat catches the jobs in
]
FAST = SimConfig(startup_seconds=0.1, delete_seconds=0.1, stop_seconds=0.1)
HELP_COLUMNS = "100"


@dataclass(frozen=True)
class Example:
    """How to reproduce one documented example."""

    setup: Callable[[Path, SimServer | None], None]
    code: int = 0  # the command's exit code
    sim: bool = False  # run against an in-process simulator (VIZCTL_ENDPOINT) rather than as written
    argv: tuple[str, ...] = ()  # for a block without a `$ vizctl` line
    writes: str | None = None  # the block is this file, written by the command
    env: dict = field(default_factory=dict)
    config: SimConfig = field(default_factory=lambda: FAST)  # the simulator's settings, with sim=True


# -- setups ------------------------------------------------------------------------------------


def _broken_manifests(cwd: Path, sim) -> None:
    write(cwd / "manifests/other.yaml", """\
        jobs:
          - job_name: bert-tb
            train_url: /bucket/bert/logs/
          - job_name: resnet50-tb
            train_url: /bucket/resnet50/other/
        """)
    write(cwd / "manifests/team.yaml", """\
        version: 1
        defaults:
          job_type: tensorboard
        jobs:
          - job_name: resnet50-tb
            train_url: /bucket/resnet50/logs/
          - job_nmae: vgg16-tb
            train_url: /bucket/vgg16/logs/
        """)


def _examples_after_vision_applied(cwd: Path, sim) -> None:
    """examples/ copied; vision-team.yaml's jobs live as applied; then one description edited."""
    shutil.copytree(REPO / "examples", cwd / "examples")
    vision = cwd / "examples/vision-team.yaml"
    state = SimState(SimConfig(), cwd / ".vizctl/sim-state.json")
    state.seed_jobs("sim-project", [{**spec.body, "running": True} for spec in load_manifests([str(vision)]).jobs])
    vision.write_text(vision.read_text().replace("ImageNet, training curves", "ImageNet, v2 curves"))


def _teams_for_the_plan_file(cwd: Path, sim) -> None:
    """One description edited, one job added, one removed inside the prune scope, one failed, one drifted."""
    write(cwd / "manifests/nlp-team.yaml", """\
        jobs:
          - job_name: nlp-bert-base-tb
            train_url: /ml-bucket/bert-base/finetune/logs/
            job_desc: BERT-base fine-tuning on CLUE, run 2
            schedule: {duration: 4}
        """)
    write(cwd / "manifests/vision-team.yaml", """\
        defaults:
          job_type: tensorboard
          flavor: {code: modelarts.vm.cpu.2u}
        prune: {prefix: cv-}
        jobs:
          - job_name: cv-unet-tb
            train_url: /ml-bucket/unet/logs/
            job_desc: U-Net segmentation
          - job_name: cv-yolov5-tb
            train_url: /ml-bucket/yolov5/logs/
          - job_name: cv-vgg16-tb
            train_url: /ml-bucket/vgg16/logs-v2/
        """)
    schedule = {"type": "stop", "time_unit": "HOURS", "duration": 4}
    sim.state.seed_jobs("proj-1", [
        {"job_name": "nlp-bert-base-tb", "train_url": "/ml-bucket/bert-base/finetune/logs/",
         "job_desc": "BERT-base fine-tuning on CLUE", "schedule": schedule, "running": True},
        {"job_name": "cv-resnet50-tb", "train_url": "/ml-bucket/resnet50/logs/", "running": True},
        {"job_name": "nlp-pangu-mi", "train_url": "/ml-bucket/pangu-alpha/summary/", "job_type": "mindinsight", "running": True},
        {"job_name": "cv-yolov5-tb", "train_url": "/ml-bucket/yolov5/logs/", "job_type": "tensorboard",
         "flavor": {"code": "modelarts.vm.cpu.2u"}, "status": 3},
        {"job_name": "cv-vgg16-tb", "train_url": "/ml-bucket/vgg16/logs/", "job_type": "tensorboard",
         "flavor": {"code": "modelarts.vm.cpu.2u"}, "running": True},
    ])


def _one_job_moved(cwd: Path, sim) -> None:
    """Three declared jobs live; one's train_url was changed in the manifest since."""
    write(cwd / "manifests/team.yaml", """\
        jobs:
          - {job_name: resnet50-tb, train_url: /bucket/resnet50/logs/}
          - {job_name: vgg16-tb, train_url: /bucket/vgg16/logs-v2/}
          - {job_name: bert-tb, train_url: /bucket/bert/logs/}
        """)
    SimState(SimConfig(), cwd / ".vizctl/sim-state.json").seed_jobs("sim-project", [
        {"job_name": name, "train_url": f"/bucket/{name.split('-')[0]}/logs/", "running": True}
        for name in ("resnet50-tb", "vgg16-tb", "bert-tb")
    ])


def _examples_applied(cwd: Path, sim) -> None:
    """examples/ copied, and every job of it live and running in the --sim state."""
    shutil.copytree(REPO / "examples", cwd / "examples")
    jobs = load_manifests([str(cwd / "examples")]).jobs
    SimState(SimConfig(), cwd / ".vizctl/sim-state.json").seed_jobs("sim-project", [{**spec.body, "running": True} for spec in jobs])


def _examples_applied_but_one(cwd: Path, sim) -> None:
    """As after `vizctl destroy --sim examples/ --target cv-yolov5-tb -y`."""
    shutil.copytree(REPO / "examples", cwd / "examples")
    jobs = [spec for spec in load_manifests([str(cwd / "examples")]).jobs if spec.name != "cv-yolov5-tb"]
    SimState(SimConfig(), cwd / ".vizctl/sim-state.json").seed_jobs("sim-project", [{**spec.body, "running": True} for spec in jobs])


def _a_variable_unset(cwd: Path, sim) -> None:
    write(cwd / "manifests/team.yaml", """\
        jobs:
          - job_name: resnet50-tb
            train_url: /${ML_BUCKET}/resnet50/logs/
        """)


def _one_manifest(cwd: Path, sim) -> None:
    write(cwd / "manifests/team.yaml", """\
        jobs:
          - {job_name: resnet50-tb, train_url: /bucket/resnet50/logs/}
        """)


def _plan_saved_then_manifest_edited(cwd: Path, sim) -> None:
    _one_manifest(cwd, sim)
    assert run("plan", "manifests/", "--out", "plan.json", sim=sim, cwd=cwd).code == 0
    write(cwd / "manifests/team.yaml", """\
        jobs:
          - {job_name: resnet50-tb, train_url: /bucket/resnet50/logs/, job_desc: edited}
        """)


def _plan_saved_with_sim(cwd: Path, sim) -> None:
    _one_manifest(cwd, sim)
    assert run("plan", "--sim", "manifests/", "--out", "plan.json", cwd=cwd).code == 0


def _two_jobs_one_name(cwd: Path, sim) -> None:
    _one_manifest(cwd, sim)
    sim.state.seed_jobs("proj-1", [{"job_name": "resnet50-tb", "train_url": "/bucket/resnet50/logs/", "running": True}] * 2)


def _a_scope_mostly_undeclared(cwd: Path, sim) -> None:
    write(cwd / "manifests/team.yaml", """\
        prune: {prefix: team-a-}
        jobs:
          - {job_name: team-a-0, train_url: /bucket/0/}
        """)
    sim.state.seed_jobs("proj-1", [{"job_name": f"team-a-{n}", "train_url": f"/bucket/{n}/", "running": True} for n in range(10)])


def _a_directory_with_other_yaml(cwd: Path, sim) -> None:
    _one_manifest(cwd, sim)
    write(cwd / "manifests/mkdocs.yml", "site_name: Team A\nnav: [index.md]\n")


EXAMPLES = {
    "readme-plan": Example(_examples_after_vision_applied),
    "plan-after-an-edit": Example(_examples_after_vision_applied),
    "apply-drifted": Example(_one_job_moved, code=3),
    "validate-two-problems": Example(_broken_manifests, code=1),
    "plan-json-file": Example(
        _teams_for_the_plan_file, sim=True, argv=("plan", "-f", "manifests/", "--prune", "--out", "plan.json"), writes="plan.json",
    ),
    "plan-out": Example(_one_manifest),
    "apply-one-create": Example(_one_manifest),
    "status-one-missing": Example(_examples_applied_but_one),
    "destroy-without-a-terminal": Example(_examples_applied, code=1),
    "answer-not-the-apis": Example(  # AK/SK: page 1 alone until a signature is accepted, so the retries come in one order
        _one_manifest, code=1, sim=True, config=SimConfig(rate_html_200=1.0, access_key="AK-EXAMPLE", secret_key="SK-EXAMPLE-1234"),
        env={"VIZCTL_TOKEN": "", "VIZCTL_ACCESS_KEY": "AK-EXAMPLE", "VIZCTL_SECRET_KEY": "SK-EXAMPLE-1234"},
    ),
    "ts-variable-not-set": Example(_a_variable_unset, code=1),
    "ts-no-terminal": Example(_one_manifest, code=1),
    "ts-stale-plan": Example(_plan_saved_then_manifest_edited, code=1, sim=True),
    "ts-other-endpoint": Example(_plan_saved_with_sim, code=1, sim=True),
    "ts-duplicate-names": Example(_two_jobs_one_name, code=1, sim=True),
    "ts-prune-refused": Example(_a_scope_mostly_undeclared, code=1, sim=True),
    "ts-skipped-file": Example(_a_directory_with_other_yaml),
    "ts-no-endpoint": Example(_one_manifest, code=1, env={"HOME": "/nonexistent"}),
    "ts-no-credentials": Example(_one_manifest, code=1, env={
        "HOME": "/nonexistent", "VIZCTL_ENDPOINT": "https://modelarts.eu-de.otc.t-systems.com", "VIZCTL_PROJECT_ID": "p",
        "VIZCTL_METADATA_URL": "http://127.0.0.1:9",  # no ECS metadata service here: refused at once
    }),
    "ts-connection-refused": Example(_one_manifest, code=1, env={"VIZCTL_ENDPOINT": "http://127.0.0.1:9", "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "a-token"}),
}
HELP = re.compile(r"help-([a-z-]+)")


# -- the harness ---------------------------------------------------------------------------------


def documented() -> list[tuple[Path, str, str, str]]:
    """(doc, name, fence, body) for every marked example."""
    return [(doc, m.group(1), m.group(2), m.group(3)) for doc in DOCS for m in MARKER.finditer(doc.read_text(encoding="utf-8"))]


def normalise(text: str) -> str:
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return text.rstrip("\n")


def produce(example: Example, body: str, cwd: Path, monkeypatch) -> tuple[str, str]:
    """(the command line as documented, what vizctl produced for the block)."""
    monkeypatch.chdir(cwd)  # manifest paths in the examples are relative
    command = body.split("\n", 1)[0]
    argv = example.argv or tuple(shlex.split(command.removeprefix("$ vizctl ")))
    with SimServer(example.config) if example.sim else _nothing() as sim:
        example.setup(cwd, sim)
        result = run(*argv, sim=sim, cwd=cwd, env=example.env)
    assert result.code == example.code, result.all
    if example.writes:
        return "", (cwd / example.writes).read_text(encoding="utf-8")
    return command + "\n", result.all


def command_help(words: list[str], monkeypatch) -> str:
    """``vizctl WORDS --help`` as a terminal of :data:`HELP_COLUMNS` columns shows it."""
    monkeypatch.setenv("COLUMNS", HELP_COLUMNS)
    parser = build_parser()
    for word in words:
        parser = subcommands(parser)[word]
    return parser.format_help()


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_every_marked_example_has_a_setup_and_every_setup_is_used():
    names = [name for _, name, _, _ in documented()]
    assert len(names) == len(set(names)), "example names must be unique"
    assert sorted(name for name in names if not HELP.fullmatch(name)) == sorted(EXAMPLES)


def test_every_command_has_a_page_with_its_help():
    helped = {HELP.fullmatch(name).group(1) for _, name, _, _ in documented() if HELP.fullmatch(name)}
    commands = {f"{name} {sub}" if subcommands(parser) else name
                for name, parser in subcommands(build_parser()).items() for sub in (subcommands(parser) or [""])}
    assert {c.strip().replace(" ", "-") for c in commands} == helped


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_every_output_block_is_generated_or_checked(doc):
    """A fenced block with no language (or one that starts with `$`) is an output: it needs a marker."""
    unchecked = [
        body.splitlines()[0] if body.strip() else "(empty)"
        for marker, language, body in FENCED.findall(doc.read_text(encoding="utf-8"))
        if not marker and (not language or body.startswith("$ "))
    ]
    assert not unchecked, f"{doc.relative_to(REPO)}: output blocks without an example marker: {unchecked}"


@pytest.mark.parametrize("doc, name, fence, body", documented(), ids=[e[1] for e in documented()])
def test_documented_example_is_what_vizctl_prints(doc, name, fence, body, tmp_path, monkeypatch):
    assert body.startswith("$ vizctl ") or name in EXAMPLES and EXAMPLES[name].writes, f"{name}: the block must start with the command"
    if HELP.fullmatch(name):
        command = body.split("\n", 1)[0]
        words = shlex.split(command.removeprefix("$ vizctl "))
        assert words[-1] == "--help" and "-".join(words[:-1]) == HELP.fullmatch(name).group(1), name
        command, produced = command + "\n", command_help(words[:-1], monkeypatch)
    else:
        command, produced = produce(EXAMPLES[name], body, tmp_path, monkeypatch)
    actual = command + produced.rstrip("\n") + "\n"
    if UPDATE and normalise(actual) != normalise(body):
        text = doc.read_text(encoding="utf-8")
        doc.write_text(text.replace(f"<!-- example: {name} -->\n{fence}{body}", f"<!-- example: {name} -->\n{fence}{actual}"), encoding="utf-8")
        return
    assert normalise(actual) == normalise(body), f"{doc.name} example {name!r} is not what vizctl prints (VIZCTL_UPDATE_DOCS=1 to rewrite it)"


def test_every_troubleshooting_message_is_one_vizctl_prints():
    """The page is organised by message: each heading's text (… where a value goes) is in vizctl's code."""
    source = "\n".join(path.read_text(encoding="utf-8") for path in (REPO / "vizctl").rglob("*.py"))
    headings = re.findall(r"^### (.+)$", (REPO / "docs/troubleshooting.md").read_text(encoding="utf-8"), re.M)
    missing = [
        fragment for heading in headings for message in re.findall(r"`([^`]+)`", heading)
        for fragment in (part.strip() for part in message.split("…")) if len(fragment) >= 6 and fragment not in source
    ]
    assert len(headings) >= 15 and not missing, missing


def _shape(event: dict) -> tuple:
    """An event's type, keys and, for a summary, the keys of its jobs: what the docs must match."""
    jobs = tuple(sorted({key for job in event.get("jobs", ()) for key in job}))
    progress_kind = "waiting" in event
    return event["type"], progress_kind, tuple(sorted(event)), jobs


def test_documented_apply_event_stream_has_the_fields_vizctl_writes(tmp_path, monkeypatch):
    """The stream in docs/plan-json.md is an excerpt (times vary), so its lines are checked for shape."""
    text = (REPO / "docs/plan-json.md").read_text(encoding="utf-8")
    [block] = re.findall(r"^<!-- example-shape: apply-events -->\n```\n(.*?)^```$", text, re.M | re.S)
    documented = {_shape(json.loads(line)) for line in block.splitlines() if "…" not in line}
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "m.yaml", "jobs:\n  - {job_name: ok-tb, train_url: /b/ok/}\n  - {job_name: bad-tb, train_url: /b/bad/}\n")
    with SimServer(SimConfig(startup_seconds=0.1, fail_pattern="bad-*")) as sim:
        result = run("apply", "-f", "m.yaml", "--auto-approve", "--output", "json", sim=sim)
    produced = {_shape(json.loads(line)) for line in result.out.splitlines()}
    assert result.code == 3 and len(documented) == 6
    assert documented <= produced, sorted(documented - produced)


# -- every --help names the variables its command really reads --------------------------------------


class _Recording(dict):
    """An environment that remembers every variable looked up in it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


READS = {  # a run of each command that talks to the API, as far as it reads settings
    "plan": ["plan", "M"], "apply": ["apply", "M", "-y"], "status": ["status", "M"],
    "export": ["export"], "wait": ["wait", "M"], "destroy": ["destroy", "M", "-y"], "config show": ["config", "show"],
    "reconcile": ["reconcile", "M", "--once"],
}


@pytest.mark.parametrize("command", sorted(READS))
def test_help_names_every_environment_variable_the_command_reads(command, tmp_path, monkeypatch):
    import io

    from vizctl.cli import main

    write(tmp_path / "m.yaml", "jobs:\n  - {job_name: a-tb, train_url: /b/a/, job_type: tensorboard}\n")
    with SimServer(FAST) as sim:
        environ = _Recording({"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "a-token", "HOME": str(tmp_path)})
        env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), environ=environ, cwd=str(tmp_path))
        argv = [str(tmp_path / "m.yaml") if word == "M" else word for word in READS[command]]
        assert main(argv, env=env) in (0, 2, 3), env.stderr.getvalue()  # wait: the job is missing; reconcile --once: drifted
    text = command_help(command.split(), monkeypatch)
    listed = set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", text.split("environment:")[1].split("exit codes:")[0]))
    lower = {name.upper() for name in environ.read if name.islower()}  # http_proxy: "(or lower case)"
    assert environ.read - {n for n in environ.read if n.islower()} <= listed, sorted(environ.read - listed)
    assert lower <= listed
    assert "24 hours" in text  # the token's limit, where a token is read


def test_the_variable_list_comes_from_the_settings():
    from vizctl.api.settings import ECOSYSTEM_VARIABLES, NAMES

    listed = " ".join(connection_env())
    assert all(f"VIZCTL_{name.upper()}" in listed for name in NAMES)
    assert all(variable in listed for _, pairs in ECOSYSTEM_VARIABLES for variable, _ in pairs)
    assert "VIZCTL_CACHE_DIR" not in listed and "VIZCTL_CACHE_DIR" in " ".join(connection_env(cache=True))


@pytest.mark.parametrize("command", ["apply", "destroy"])
def test_help_says_how_the_confirmation_works(command, monkeypatch):
    text = command_help([command], monkeypatch)
    assert "asks for 'yes' on a terminal" in text and "without a terminal it needs -y" in text


def test_help_exit_codes_are_the_ones_each_command_can_return(monkeypatch):
    for words, codes in {("plan",): {0, 1, 2, 64, 130}, ("apply",): {0, 1, 3, 64, 130}, ("validate",): {0, 1, 64}, ("schema",): {0, 64}}.items():
        text = command_help(list(words), monkeypatch).split("exit codes:")[1]
        assert {int(code) for code in re.findall(r"^  (\d+) ", text, re.M)} == codes, words
