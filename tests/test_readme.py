"""The README's front door stays true: its try-it command run as a user would (installed vizctl,
real processes), its length and table of contents; the reference tables in docs/ (exit codes,
commands, common flags) agree with the code; the test command is what CI runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from vizctl.cli_parser import build_parser, subcommands

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
CONTRIBUTING = (REPO / "CONTRIBUTING.md").read_text()
COMMANDS = (REPO / "docs" / "commands" / "README.md").read_text()


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def vizctl_steps(block: str) -> list[str]:
    """The vizctl commands of a one-line set-up command, after its install steps."""
    steps = [step.strip() for step in block.strip().split("&&")]
    return [step.replace(".venv/bin/vizctl", f"{sys.executable} -m vizctl") for step in steps if ".venv/bin/vizctl" in step]


def test_try_it_command_installs_applies_the_examples_then_plans_no_changes(tmp_path):
    [try_it] = [block for block in shell_blocks(README) if block.startswith("python3 -m venv .venv")]
    assert try_it.startswith("python3 -m venv .venv && .venv/bin/pip install -q . &&")  # a real install, not editable
    apply_step, plan_step = vizctl_steps(try_it)
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for variable in ("VIZCTL_ENDPOINT", "VIZCTL_PROJECT_ID", "VIZCTL_TOKEN", "VIZCTL_REGION", "VIZCTL_ACCESS_KEY"):
        env.pop(variable, None)

    applied = subprocess.run(apply_step, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete" in applied.stdout and "4 of 4 running" in applied.stdout
    assert (tmp_path / ".vizctl" / "sim-state.json").exists()

    planned = subprocess.run(plan_step, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert planned.returncode == 0, planned.stderr
    assert "No changes." in planned.stdout


def test_the_readme_is_a_short_front_door_with_a_table_of_contents():
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    assert len(prose.split()) <= 1500, len(prose.split())
    headings = re.findall(r"^## (.+)$", README, re.M)
    contents = re.findall(r"^- \[(.+?)\]\(#([a-z0-9-]+)\)$", README, re.M)
    assert [title for title, _ in contents] == headings


def test_test_command_is_what_ci_runs():
    [test_block] = [block.strip() for block in shell_blocks(CONTRIBUTING) if block.startswith("python3 -m venv .venv")]
    assert test_block == "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
    ci = (REPO / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pip install --quiet -e '.[test]'" in ci
    assert ci.strip().endswith(".venv/bin/python -m pytest")


def test_documented_exit_codes_match_the_code():
    from vizctl.errors import ExitStatus

    text = (REPO / "docs" / "failure-behaviour.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", text, re.M))
    assert {int(code) for code in table} == {int(status) for status in ExitStatus}


def test_every_command_in_the_commands_table_parses_and_has_its_page():
    commands = re.findall(r"^\| \[`vizctl ([a-z]+(?: [a-z]+)?)[ `].*?\]\(([a-z-]+\.md)\)", COMMANDS, re.M)
    names = {name for name, _ in commands}
    assert names == {" ".join(path) for path in _command_paths()}
    for name, page in commands:
        assert (REPO / "docs" / "commands" / page).exists()
        extra = {"validate": ["x"], "plan": ["x"], "apply": ["x"], "wait": ["x"], "destroy": ["x"], "show": ["plan.json"], "completion": ["bash"]}.get(name, [])
        args = build_parser().parse_args(name.split() + extra)
        assert callable(args.run)


def _command_paths() -> list[tuple[str, ...]]:
    paths = []
    for name, parser in subcommands(build_parser()).items():
        nested = subcommands(parser)
        paths += [(name, sub) for sub in nested] if nested else [(name,)]
    return paths


def test_the_common_flags_table_says_truly_which_commands_take_each_flag():
    """A flag said to be "common" that some command refuses is what issue 19 found: the table names them."""
    rows = re.findall(r"^\| (`-.+?`) \| .+? \| (.+?) \|$", COMMANDS.split("## Common flags")[1], re.M)
    assert len(rows) >= 15
    for flags, taken_by in rows:
        flag = re.findall(r"`(-[-a-z]+)", flags)[0]
        takers = {" ".join(path) for path in _command_paths() if flag in _options(path)}
        said = {" ".join(path) for path in _command_paths()} if taken_by == "every command" else {c.strip() for c in taken_by.split(",")}
        assert said == takers, (flag, sorted(said ^ takers))


def _options(path: tuple[str, ...]) -> set[str]:
    parser = build_parser()
    for word in path:
        parser = subcommands(parser)[word]
    return {option for action in parser._actions for option in action.option_strings}
