"""The CI examples and the pre-commit hook: they parse, and every vizctl command line in them is
valid for the current CLI. Plus: --sim state never ends up committed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cliutil import manifest_of, run
from vizctl.cli import build_parser, hoist_global_flags

REPO = Path(__file__).resolve().parent.parent
GITHUB = REPO / "examples" / ".github" / "workflows" / "vizctl.yml"
GITLAB = REPO / "examples" / ".gitlab-ci.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
SHELL_BREAKS = re.compile(r"&&|\|\||;|\||\$\(|\)")
REDIRECTIONS = (">", ">>", "2>", "<", "2>&1")


def vizctl_commands(script: str) -> list[list[str]]:
    """Every ``vizctl ...`` command in a shell script, as argv, redirections dropped."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        for part in SHELL_BREAKS.split(line.split(" #")[0]):
            if not part.strip().startswith("vizctl "):
                continue
            words = shlex.split(part)
            if words[:1] == ["vizctl"]:
                argv = []
                for word in words[1:]:
                    if word in REDIRECTIONS:
                        break
                    argv.append(word)
                found.append(argv)
    return found


def parses(argv: list[str]):
    parser = build_parser()
    return parser.parse_args(hoist_global_flags(argv, parser))


def github_scripts(workflow: dict) -> dict[str, str]:
    return {name: "\n".join(step.get("run", "") for step in job["steps"]) for name, job in workflow["jobs"].items()}


def gitlab_scripts(pipeline: dict) -> dict[str, str]:
    return {name: "\n".join(job["script"]) for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}


@pytest.mark.parametrize("path, scripts", [(GITHUB, github_scripts), (GITLAB, gitlab_scripts)])
def test_every_vizctl_command_in_the_ci_examples_is_valid(path, scripts):
    jobs = scripts(yaml.safe_load(path.read_text()))
    commands = {name: [parses(argv) for argv in vizctl_commands(text)] for name, text in jobs.items()}
    plans = [a for found in commands.values() for a in found if a.command == "plan"]
    applies = [a for found in commands.values() for a in found if a.command == "apply"]
    assert [(p.output, p.detailed_exitcode, p.out) for p in plans] == [("markdown", True, "plan.json")]
    assert [a.paths for a in applies] == [["plan.json"]]  # the reviewed plan, nothing else


def test_github_workflow_plans_on_pull_requests_and_applies_on_main():
    workflow = yaml.safe_load(GITHUB.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    assert workflow["jobs"]["plan"]["if"] == "github.event_name == 'pull_request'"
    assert workflow["jobs"]["apply"]["if"] == "github.event_name == 'push'"
    comment = next(s for s in workflow["jobs"]["plan"]["steps"] if "github-script" in s.get("uses", ""))["with"]["script"]
    assert "<!-- vizctl-plan -->" in comment and "updateComment" in comment and "createComment" in comment
    assert workflow["env"]["VIZCTL_TOKEN"] == "${{ secrets.VIZCTL_TOKEN }}"


def test_gitlab_pipeline_plans_on_merge_requests_and_applies_on_the_default_branch():
    pipeline = yaml.safe_load(GITLAB.read_text())
    plan, apply = pipeline["vizctl-plan"], pipeline["vizctl-apply"]
    assert 'merge_request_event' in plan["rules"][0]["if"] and plan["allow_failure"] == {"exit_codes": [2]}
    assert "$CI_DEFAULT_BRANCH" in apply["rules"][0]["if"]
    script = "\n".join(plan["script"])
    assert "<!-- vizctl-plan -->" in script and "-X PUT" in script and "-X POST" in script


def test_pre_commit_hook_runs_a_valid_validate(tmp_path):
    [hook] = yaml.safe_load(HOOKS.read_text())
    assert hook["id"] == "vizctl-validate" and hook["language"] == "python" and hook["pass_filenames"] is False
    command = shlex.split(hook["entry"])[1:]
    assert parses(command + hook["args"]).command == "validate"
    manifest_of(tmp_path / "manifests" / "team.yaml", "hook-a")
    result = run(*command, *(str(tmp_path / path) for path in hook["args"]))
    assert result.code == 0 and "Valid: 1 job in 1 file." in result.out


def test_examples_directory_still_holds_only_manifests():
    result = run("validate", str(REPO / "examples"))
    assert result.code == 0, result.all


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_sim_state_is_never_committed(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    m = manifest_of(tmp_path / "manifests" / "m.yaml", "git-a")
    assert run("apply", "--sim", str(m), "-y", "--no-wait", cwd=tmp_path).code == 0
    assert (tmp_path / ".vizctl" / "sim-state.json").exists()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert status.stdout.split() == ["??", "manifests/m.yaml"]
