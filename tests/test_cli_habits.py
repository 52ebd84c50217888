"""What new users type: flags before the command, paths as arguments, -y, durations with units;
every command's --help with an example, its environment and exit codes; a fast start."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cliutil import manifest_of, run
from vizctl.cli_parser import COMMANDS, EXIT_CODES, OUTPUTS, build_parser, duration, hoist_global_flags, subcommands
from vizctl.errors import ExitStatus
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def sim():
    with SimServer(SimConfig(startup_seconds=0.2)) as server:
        yield server


def parse(*argv: str) -> argparse.Namespace:
    parser = build_parser()
    return parser.parse_args(hoist_global_flags(list(argv), parser))


def test_global_flags_before_the_command(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "g-a")
    for argv in (["-v", "plan"], ["--no-color", "plan"], ["-vv", "plan", "-v"], ["--request-timeout", "1m", "plan"]):
        result = run(*argv, str(m), sim=sim)
        assert result.code == 0, (argv, result.all)
    assert "vizctl: 2 list call(s)" in run("-v", "plan", str(m), sim=sim).err  # a page and its newest-first cross-check
    assert "GET /v1/" in run("-vv", "plan", str(m), sim=sim).err
    assert parse("-vv", "plan", "-v", "x").verbose == 3
    args = parse("--endpoint", "https://e.example", "--no-color", "apply", "x", "-y")
    assert (args.command, args.endpoint, args.no_color, args.paths, args.auto_approve) == ("apply", "https://e.example", True, ["x"], True)
    assert parse("--project-id=p", "-v", "plan", "x").project_id == "p"
    assert parse("-v", "sim", "serve", "--port", "0").verbose == 1
    assert run("--bogus", "plan", "x").code == 64


def test_paths_as_arguments_like_f(tmp_path, sim):
    a = manifest_of(tmp_path / "a" / "a.yaml", "p-a")
    b = manifest_of(tmp_path / "b.yaml", "p-b")
    result = run("plan", str(a.parent), "-f", str(b), "--output", "json", sim=sim)
    assert result.code == 0, result.all
    assert sorted(c["job_name"] for c in json.loads(result.out)["changes"]) == ["p-a", "p-b"]
    assert run("validate", str(a), str(b)).out.startswith("Valid: 2 jobs in 2 files.")
    none = run("plan", sim=sim)
    assert none.code == 64 and "no manifests given" in none.err


def test_apply_takes_manifests_or_a_saved_plan_as_argument(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "ap-a")
    plan_file = tmp_path / "reviewed.plan"
    assert run("plan", str(m), "--out", str(plan_file), sim=sim).code == 0
    applied = run("apply", str(plan_file), sim=sim)  # a saved plan: no question asked
    assert applied.code == 0, applied.all
    again = run("apply", str(m), "-y", sim=sim)
    assert again.code == 0 and "No changes." in again.out


def test_apply_without_a_terminal_exits_1_not_64(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "t-a")
    result = run("apply", str(m), sim=sim)
    assert result.code == 1 and "--auto-approve (-y)" in result.err
    assert sim.stats.get("POST create", 0) == 0
    assert run("apply", str(m), "-y", "--timeout", "30s", sim=sim).code == 0


@pytest.mark.parametrize("text, seconds", [("90", 90), ("2.5", 2.5), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("1h", 3600), ("1.5h", 5400), ("1m30s", 90), ("2H", 7200)])
def test_durations(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "5x", "m", "30m1h", "nan", "inf", "1h 30m"])
def test_bad_durations_are_usage_errors(text):
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)
    assert run("apply", "x", "--timeout", text).code == 64


def test_every_duration_flag_takes_units():
    for name, parser in subcommands(build_parser()).items():
        for action in parser._actions:
            if "--timeout" in action.option_strings or "--request-timeout" in action.option_strings:
                assert action.type is duration, (name, action.option_strings)


def test_every_command_help_has_an_example_environment_and_exit_codes():
    for name, parser in subcommands(build_parser()).items():
        nested = subcommands(parser)
        for command, sub in (nested.items() if nested else [(name, parser)]):
            text = sub.format_help()
            assert "example:\n  " in text and "vizctl " in text.split("example:")[1], command
            assert "exit codes:\n  0 " in text, command
            if any("--endpoint" in a.option_strings for a in sub._actions):
                assert "environment:" in text and "VIZCTL_TOKEN" in text, command
    assert {int(code) for code in EXIT_CODES} == {int(status) for status in ExitStatus}


def test_output_names_match_the_renderers():
    from vizctl.planning.render import RENDERERS

    assert OUTPUTS == tuple(RENDERERS)


def test_every_command_runs_its_own_module_and_no_command_imports_cli():
    """COMMANDS names each command's module, each with run(args, env); the commands stand below vizctl.cli."""
    import importlib

    parser = build_parser()
    paths = {(name, sub) if subcommands(p) else (name,) for name, p in subcommands(parser).items() for sub in subcommands(p) or [None]}
    assert {tuple(name.split()) for name in COMMANDS} == paths
    for name, module in COMMANDS.items():
        assert callable(importlib.import_module(module).run), name
    for source in (REPO / "vizctl" / "commands").glob("*.py"):
        assert "vizctl.cli import" not in source.read_text(encoding="utf-8"), source.name


HEAVY = ("requests", "urllib3", "deepdiff", "jsonschema", "yaml", "vizctl.sim.server", "vizctl.sim.state", "vizctl.api.client", "vizctl.applying.machine", "vizctl.manifests.loader", "vizctl.planning.planner")


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["plan", "--help"], ["version"], ["schema"], ["completion", "bash"]])
def test_fast_commands_import_nothing_heavy(argv):
    """--version, --help and friends start fast: they import neither the API client nor the validators."""
    program = (
        "import sys\nfrom vizctl.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", program, *argv], capture_output=True, text=True, timeout=30, cwd=REPO)
    loaded = set(done.stderr.split())
    assert "vizctl.cli" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_startup_benchmark_runs():
    done = subprocess.run([sys.executable, "benchmarks/startup.py", "--runs", "1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 3), done.stderr  # the target is judged by the benchmark, not here
    assert "| vizctl --version |" in done.stdout


def test_apply_and_plan_need_only_the_declared_dependencies(tmp_path):
    """trustme is a test dependency: a fresh `pip install vizctl` has only the declared ones (requests among them)."""
    manifest_of(tmp_path / "m.yaml", "a")
    program = (
        "import sys\nfrom vizctl.cli import main\n"
        "codes = [main(['apply', '--sim', '-f', 'm.yaml', '-y']), main(['plan', '--sim', '-f', 'm.yaml', '--detailed-exitcode'])]\n"
        "sys.stderr.write('\\n' + repr(codes) + '\\n' + ' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    *_, codes, modules = done.stderr.split("\n")
    assert codes == "[0, 0]", done.stderr[-2000:]  # created and running, then no changes
    loaded = set(modules.split())
    assert {"vizctl.api.transport", "requests"} <= loaded and "trustme" not in loaded
