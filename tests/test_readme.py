"""The README's front-door commands stay true: run them as a user would (installed vizctl, real processes)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, re.S)


def vizctl_steps(block: str) -> list[str]:
    """The vizctl commands of a one-line set-up command, after its install steps."""
    steps = [step.strip() for step in block.strip().split("&&")]
    return [step.replace(".venv/bin/vizctl", f"{sys.executable} -m vizctl") for step in steps if ".venv/bin/vizctl" in step]


def test_try_it_command_applies_the_examples_then_plans_no_changes(tmp_path):
    try_it = shell_blocks()[0]
    assert try_it.startswith("python3 -m venv .venv && .venv/bin/pip install")
    apply_step, plan_step = vizctl_steps(try_it)
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for variable in ("VIZCTL_ENDPOINT", "VIZCTL_PROJECT_ID", "VIZCTL_TOKEN"):
        env.pop(variable, None)

    applied = subprocess.run(apply_step, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete" in applied.stdout and "4 of 4 running" in applied.stdout
    assert (tmp_path / ".vizctl" / "sim-state.json").exists()

    planned = subprocess.run(plan_step, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert planned.returncode == 0, planned.stderr
    assert "No changes." in planned.stdout


def test_test_command_is_what_ci_runs():
    test_block = shell_blocks()[1].strip()
    assert test_block.endswith(".venv/bin/python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pip install --quiet -e '.[test]'" in ci
    assert ci.strip().endswith(".venv/bin/python -m pytest")


def test_documented_exit_codes_match_the_code():
    from vizctl.errors import ExitStatus

    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", README, re.M))
    assert {int(code) for code in table} == {int(status) for status in ExitStatus}


def test_every_command_in_the_commands_table_parses():
    from vizctl.cli import build_parser

    commands = re.findall(r"^\| `vizctl ([a-z]+(?: [a-z]+)?)[ `]", README, re.M)
    assert {"validate", "plan", "apply", "show", "status", "wait", "destroy", "export", "schema", "version", "completion", "sim serve"} <= set(commands)
    for command in set(commands):
        extra = {"validate": ["x"], "plan": ["x"], "apply": ["x"], "wait": ["x"], "destroy": ["x"], "show": ["plan.json"], "completion": ["bash"]}.get(command, [])
        args = build_parser().parse_args(command.split() + extra)
        assert callable(args.run)
