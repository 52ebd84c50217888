"""The GitHub Action, the CI examples and the pre-commit hook: they parse, every vizctl command
line in them is valid for the current CLI, they name only variables vizctl reads, they install
the release the README says, and the action's plan step says "applied on merge" only when apply
would change something (run for real, with bash, against the simulator). Plus: --sim state is
never committed."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cliutil import TOKEN, manifest_of, run
from vizctl import __version__
from vizctl.cli_parser import build_parser, hoist_global_flags
from vizctl.api.settings import ECOSYSTEM_VARIABLES, NAMES
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "action.yml"
GITHUB = REPO / "examples" / ".github" / "workflows" / "vizctl.yml"
GITLAB = REPO / "examples" / ".gitlab-ci.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
SHELL_BREAKS = re.compile(r"&&|\|\||;|\||\$\(|\)")
REDIRECTIONS = (">", ">>", "2>", "<", "2>&1")
READ_BY_VIZCTL = {f"VIZCTL_{name.upper()}" for name in NAMES} | {v for _, pairs in ECOSYSTEM_VARIABLES for v, _ in pairs}
TAG = f"v{__version__}"


def vizctl_commands(script: str) -> list[list[str]]:
    """Every ``vizctl ...`` command in a shell script, as argv, redirections and the user's ``$ARGS`` dropped."""
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
                    if word != "$ARGS":
                        argv.append(word)
                found.append(argv)
    return found


def parses(argv: list[str]):
    parser = build_parser()
    return parser.parse_args(hoist_global_flags(argv, parser))


def action_steps() -> dict[str, dict]:
    """The action's steps by id, else name, else what they use."""
    return {step.get("id") or step.get("name") or step["uses"]: step for step in yaml.safe_load(ACTION.read_text())["runs"]["steps"]}


def gitlab_scripts(pipeline: dict) -> dict[str, str]:
    return {name: "\n".join(job["script"]) for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}


def test_the_action_is_composite_and_runs_valid_vizctl_commands():
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    assert {"command", "manifests", "version", "args"} <= set(action["inputs"])
    commands = [parses(argv) for step in action["runs"]["steps"] for argv in vizctl_commands(step.get("run", ""))]
    plans = [c for c in commands if c.command == "plan"]
    applies = [c for c in commands if c.command == "apply"]
    assert [(p.output, p.detailed_exitcode, p.out) for p in plans] == [("markdown", True, "plan.json")]
    assert [a.paths for a in applies] == [["plan.json"]]  # the reviewed plan, nothing else
    steps = action_steps()
    comment = steps["Post the plan (one comment, updated in place)"]
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    assert comment["env"]["MARKER"].startswith("<!-- ")
    assert steps["Keep the plan"]["with"]["path"] == "plan.json"
    # pinned: the vizctl of the action's own ref unless a version is given
    assert '"${VERSION:-$GITHUB_ACTION_PATH}"' in steps["Install vizctl"]["run"]


def test_the_github_workflow_uses_the_action_at_a_release_tag_with_ak_sk():
    workflow = yaml.safe_load(GITHUB.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    [job] = workflow["jobs"].values()
    [action] = [step for step in job["steps"] if step["uses"].split("@")[0].endswith("/vizctl")]
    assert action["uses"].endswith(f"@{TAG}")
    assert action["with"]["command"] == "${{ github.event_name == 'pull_request' && 'plan' || 'apply' }}"
    assert workflow["env"] == {
        "VIZCTL_ACCESS_KEY": "${{ secrets.VIZCTL_ACCESS_KEY }}",
        "VIZCTL_SECRET_KEY": "${{ secrets.VIZCTL_SECRET_KEY }}",
        "VIZCTL_REGION": "${{ vars.VIZCTL_REGION }}",
    }
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert len(GITHUB.read_text().split("\nname:", 1)[1].strip().splitlines()) <= 20  # a team's workflow is short


def test_gitlab_pipeline_plans_on_merge_requests_and_applies_on_the_default_branch():
    pipeline = yaml.safe_load(GITLAB.read_text())
    plan, apply = pipeline["vizctl-plan"], pipeline["vizctl-apply"]
    assert "merge_request_event" in plan["rules"][0]["if"] and plan["allow_failure"] == {"exit_codes": [2]}
    assert "$CI_DEFAULT_BRANCH" in apply["rules"][0]["if"]
    script = "\n".join(plan["script"])
    assert "<!-- vizctl-plan -->" in script and "-X PUT" in script and "-X POST" in script
    commands = {name: [parses(argv) for argv in vizctl_commands(text)] for name, text in gitlab_scripts(pipeline).items()}
    assert [(p.output, p.detailed_exitcode, p.out) for found in commands.values() for p in found if p.command == "plan"] == [("markdown", True, "plan.json")]
    assert [a.paths for found in commands.values() for a in found if a.command == "apply"] == [["plan.json"]]
    assert pipeline["variables"]["INSTALL_VIZCTL"].endswith(f"/vizctl@{TAG}")
    assert 'pip install --quiet "$INSTALL_VIZCTL"' in pipeline["default"]["before_script"]
    # the same "applied on merge" rule as the action
    for expression in (".summary.has_changes", ".summary.drifted + .summary.failed + .summary.ambiguous"):
        assert expression in script and expression in action_steps()["plan"]["run"]


@pytest.mark.parametrize("path", [ACTION, GITHUB, GITLAB, HOOKS, REPO / "examples/env/dev.env", REPO / "examples/env/prod.env"], ids=lambda p: p.name)
def test_ci_files_name_only_variables_vizctl_reads_and_no_token(path):
    named = set(re.findall(r"\b(VIZCTL_[A-Z_]+)\b", path.read_text()))
    assert named <= READ_BY_VIZCTL, sorted(named - READ_BY_VIZCTL)
    assert "VIZCTL_TOKEN" not in named  # a token lives 24 hours: CI that keeps one fails the next day


def test_the_pre_commit_hook_runs_a_valid_validate_of_the_release(tmp_path):
    [hook] = yaml.safe_load(HOOKS.read_text())
    assert hook["id"] == "vizctl-validate" and hook["language"] == "python" and hook["pass_filenames"] is False
    assert f"rev: {TAG}" in HOOKS.read_text()
    command = shlex.split(hook["entry"])[1:]
    assert parses(command + hook["args"]).command == "validate"
    manifest_of(tmp_path / "manifests" / "team.yaml", "hook-a")
    result = run(*command, *(str(tmp_path / path) for path in hook["args"]))
    assert result.code == 0 and "Valid: 1 job in 1 file." in result.out


def test_the_readme_install_lines_are_what_ci_installs():
    readme = (REPO / "README.md").read_text()
    assert f"pipx install git+https://github.com/OWNER/vizctl@{TAG}" in readme
    assert "pip install vizctl" not in readme.replace("pip install vizctl-", "")  # not published: no PyPI claim


def test_examples_directory_still_holds_only_manifests():
    result = run("validate", str(REPO / "examples"))
    assert result.code == 0, result.all


# -- the action's plan step, run as GitHub runs it --------------------------------------------------


def _run_plan_step(tmp_path: Path, sim: SimServer, manifest: str) -> tuple[subprocess.CompletedProcess, dict, str]:
    """The action's Plan step with bash in ``tmp_path``: (the process, its outputs, notice.md)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "vizctl").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m vizctl "$@"\n')
    (bin_dir / "vizctl").chmod(0o755)
    (tmp_path / "manifests").mkdir(exist_ok=True)
    (tmp_path / "manifests" / "team.yaml").write_text(manifest)
    outputs = tmp_path / "github_output"
    outputs.write_text("")
    step = action_steps()["plan"]
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO), "HOME": str(tmp_path),
        "GITHUB_OUTPUT": str(outputs), "MANIFESTS": "manifests/", "ARGS": "--no-cache",
        "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": TOKEN,
    }
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    notice = (tmp_path / "notice.md").read_text() if (tmp_path / "notice.md").exists() else ""
    return done, values, notice


TWO_JOBS = "jobs:\n  - {job_name: a-tb, train_url: /b/a/}\n  - {job_name: b-tb, train_url: /b/b/}\n"


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("jq") is None, reason="needs bash and jq, as GitHub's runners have")
def test_the_plan_step_says_applied_on_merge_only_when_apply_changes_something(tmp_path):
    with SimServer(SimConfig()) as sim:
        done, outputs, notice = _run_plan_step(tmp_path, sim, TWO_JOBS)
        assert done.returncode == 0, done.stderr
        assert outputs == {"exitcode": "2", "has-changes": "true", "unfixable": "0"}
        assert "Merging applies the changes above" in notice and "::notice title=vizctl::" in done.stderr
        assert "plan.json" in os.listdir(tmp_path)

        sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/b/{n[0]}/", "running": True} for n in ("a-tb", "b-tb")])
        done, outputs, notice = _run_plan_step(tmp_path, sim, TWO_JOBS)
        assert done.returncode == 0, done.stderr
        assert outputs == {"exitcode": "0", "has-changes": "false", "unfixable": "0"}
        assert "Nothing to apply" in notice and "::notice" not in done.stderr and "::warning" not in done.stderr


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("jq") is None, reason="needs bash and jq, as GitHub's runners have")
def test_the_plan_step_says_a_drifted_job_is_not_fixed_by_merging(tmp_path):
    with SimServer(SimConfig()) as sim:
        sim.state.seed_jobs("proj-1", [
            {"job_name": "a-tb", "train_url": "/b/a/", "running": True},
            {"job_name": "b-tb", "train_url": "/b/moved/", "running": True},
        ])
        done, outputs, notice = _run_plan_step(tmp_path, sim, TWO_JOBS)
    assert done.returncode == 0, done.stderr
    assert outputs == {"exitcode": "2", "has-changes": "false", "unfixable": "1"}
    assert "Merging applies" not in notice and "::notice" not in done.stderr
    assert "1 job(s) drifted or failed (marked !): apply will not fix them" in notice and "::warning title=vizctl::" in done.stderr


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("jq") is None, reason="needs bash and jq")
def test_the_plan_step_fails_on_a_plan_error(tmp_path):
    with SimServer(SimConfig()) as sim:
        done, outputs, _ = _run_plan_step(tmp_path, sim, "jobs:\n  - {job_nmae: a-tb, train_url: /b/a/}\n")
    assert done.returncode == 1 and outputs == {"exitcode": "1"}
    assert "::error title=vizctl::vizctl plan failed (exit 1)" in done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_sim_state_is_never_committed(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    m = manifest_of(tmp_path / "manifests" / "m.yaml", "git-a")
    assert run("apply", "--sim", str(m), "-y", "--no-wait", cwd=tmp_path).code == 0
    assert (tmp_path / ".vizctl" / "sim-state.json").exists()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert status.stdout.split() == ["??", "manifests/m.yaml"]
