"""The output examples in README.md and docs/ come from running vizctl, so they cannot drift.

An example is a fenced block right after a marker line ``<!-- example: NAME -->``. The block
either starts with ``$ vizctl ARGS`` (the command; the rest of the block is what it prints on
standard output and standard error) or, for a file vizctl writes, holds only that file, with
the command in :data:`EXAMPLES`. Each name maps to an :class:`Example`: the setup that
prepares a working directory (and, where it needs one, a simulator with seeded jobs).

To add an example: put a marker and a block in the docs, add an entry below, then run

    VIZCTL_UPDATE_DOCS=1 python -m pytest tests/test_docs_examples.py
    git diff README.md docs/

and review the diff. Only what truly varies is masked in the comparison (:data:`VARYING`):
the simulator's port and elapsed seconds.
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
from vizctl.manifest import load_manifests
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimState

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
UPDATE = os.environ.get("VIZCTL_UPDATE_DOCS") == "1"
MARKER = re.compile(r"^<!-- example: ([a-z0-9-]+) -->\n(```[a-z]*\n)(.*?)^```$", re.M | re.S)
VARYING = [
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:PORT"),
    (re.compile(r"\b\d+\.\d+s\b"), "N.Ns"),
]
FAST = SimConfig(startup_seconds=0.1, delete_seconds=0.1, stop_seconds=0.1)


@dataclass(frozen=True)
class Example:
    """How to reproduce one documented example."""

    setup: Callable[[Path, SimServer | None], None]
    code: int = 0  # the command's exit code
    sim: bool = False  # run against an in-process simulator (VIZCTL_ENDPOINT) rather than as written
    argv: tuple[str, ...] = ()  # for a block without a `$ vizctl` line
    writes: str | None = None  # the block is this file, written by the command
    env: dict = field(default_factory=dict)


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


EXAMPLES = {
    "readme-apply-drifted": Example(_one_job_moved, code=3),
    "readme-validate": Example(_broken_manifests, code=1),
    "readme-plan": Example(_examples_after_vision_applied),
    "plan-json-file": Example(
        _teams_for_the_plan_file, sim=True, argv=("plan", "-f", "manifests/", "--prune", "--out", "plan.json"), writes="plan.json",
    ),
}


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
    with SimServer(FAST) if example.sim else _nothing() as sim:
        example.setup(cwd, sim)
        result = run(*argv, sim=sim, cwd=cwd, env=example.env)
    assert result.code == example.code, result.all
    if example.writes:
        return "", (cwd / example.writes).read_text(encoding="utf-8")
    return command + "\n", result.all


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_every_marked_example_has_a_setup_and_every_setup_is_used():
    names = [name for _, name, _, _ in documented()]
    assert len(names) == len(set(names)), "example names must be unique"
    assert sorted(names) == sorted(EXAMPLES)


@pytest.mark.parametrize("doc, name, fence, body", documented(), ids=[e[1] for e in documented()])
def test_documented_example_is_what_vizctl_prints(doc, name, fence, body, tmp_path, monkeypatch):
    example = EXAMPLES[name]
    if not example.writes:
        assert body.startswith("$ vizctl "), f"{name}: the block must start with the command"
    command, produced = produce(example, body, tmp_path, monkeypatch)
    actual = command + produced.rstrip("\n") + "\n"
    if UPDATE and normalise(actual) != normalise(body):
        text = doc.read_text(encoding="utf-8")
        doc.write_text(text.replace(f"<!-- example: {name} -->\n{fence}{body}", f"<!-- example: {name} -->\n{fence}{actual}"), encoding="utf-8")
        return
    assert normalise(actual) == normalise(body), f"{doc.name} example {name!r} is not what vizctl prints (VIZCTL_UPDATE_DOCS=1 to rewrite it)"


def _shape(event: dict) -> tuple:
    """An event's type, keys and, for a summary, the keys of its jobs: what the docs must match."""
    jobs = tuple(sorted({key for job in event.get("jobs", ()) for key in job}))
    progress_kind = "waiting" in event
    return event["type"], progress_kind, tuple(sorted(event)), jobs


def test_documented_apply_event_stream_has_the_fields_vizctl_writes(tmp_path, monkeypatch):
    """The stream in docs/plan-json.md is an excerpt (times vary), so its lines are checked for shape."""
    text = (REPO / "docs/plan-json.md").read_text(encoding="utf-8")
    documented = {_shape(json.loads(line)) for line in re.findall(r'^(\{"type": .*\})$', text, re.M) if "…" not in line}
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "m.yaml", "jobs:\n  - {job_name: ok-tb, train_url: /b/ok/}\n  - {job_name: bad-tb, train_url: /b/bad/}\n")
    with SimServer(SimConfig(startup_seconds=0.1, fail_pattern="bad-*")) as sim:
        result = run("apply", "-f", "m.yaml", "--auto-approve", "--output", "json", sim=sim)
    produced = {_shape(json.loads(line)) for line in result.out.splitlines()}
    assert result.code == 3 and len(documented) == 6
    assert documented <= produced, sorted(documented - produced)
