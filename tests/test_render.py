"""Golden-file tests of the plan renderers (``--output text|json|markdown``).

The golden files live in ``tests/golden/`` and are plain text, JSON and
Markdown: open them to see exactly what a user sees. After an intended change
to a renderer (or to the planner's wording), regenerate them and review the diff:

    VIZCTL_UPDATE_GOLDEN=1 python -m pytest tests/test_render.py
    git diff tests/golden/

With ``VIZCTL_UPDATE_GOLDEN=1`` the golden tests rewrite their files instead of
failing. ``plan.json`` carries ``vizctl_version``, so a version bump needs a
regeneration too.

Every plan here comes from the pure :func:`build_plan` on hand-made manifests
and live snapshots; nothing talks to an API.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from pathlib import Path

import pytest

from vizctl.errors import StalePlanError
from vizctl.planning.manager import load_plan
from vizctl.model import JobSpec, LiveJob, LiveSnapshot, Location, Manifest, PruneScope, Status
from vizctl.planning.plan import Action, Plan, plan_from_dict
from vizctl.planning.planner import PlanOptions, build_plan
from vizctl.planning.render import RENDERERS
from vizctl.planning.render.common import LEGEND, SYMBOLS
from vizctl.planning.render.markdown import LIMIT

GOLDEN = Path(__file__).parent / "golden"
DOCS = Path(__file__).parent.parent / "docs" / "plan-json.md"
UPDATE = os.environ.get("VIZCTL_UPDATE_GOLDEN") == "1"
ANSI = re.compile(r"\033\[[0-9;]*m")
FILE = "teams/vision.yaml"


# -- building plans ------------------------------------------------------------


def spec(name, line=1, train_url=None, replace_on_drift=False, recreate_failed=False, restart_stopped=True, **fields):
    """A declared job; its train_url defaults to /bucket/<name>/logs/."""
    body = {"job_name": name, "train_url": train_url or f"/bucket/{name}/logs/", **fields}
    return JobSpec(name, body, Location(FILE, line), replace_on_drift, recreate_failed, restart_stopped)


def live(job_id, name, status=Status.RUNNING, train_url=None, job_desc=""):
    """A live job as the list API reports it; train_url defaults like :func:`spec`'s."""
    return LiveJob(str(job_id), name, int(status), job_desc=job_desc, train_url=train_url or f"/bucket/{name}/logs/")


def manifest(*specs, prune=()):
    return Manifest(jobs=tuple(specs), prune_scopes=tuple(prune), files=(FILE,), digest="0f1e2d3c")


def snap(*jobs, limit=None, quotas=None):
    return LiveSnapshot(jobs=tuple(jobs), job_count_limit=limit, quotas=quotas)


def scenario() -> Plan:
    """One team's manifest against its live project: every kind of plan line once.

    ========================  ================================================
    vis-new                   create (declared, not live)
    vis-desc                  update: job_desc "old curves" -> "ResNet-50 curves"
    vis-moved                 replace: train_url drifted, replace_on_drift set
    vis-killed                restart: KILLED
    vis-init                  wait: INIT
    vis-broken                failed: IMAGE_FAILED
    vis-twin                  ambiguous: live jobs 31 and 32 share the name
    vis-ok                    no-op: RUNNING as declared
    vis-drift                 drifted: train_url drifted, no replace asked
    vis-paused                keep-stopped: COMPLETED, restart_stopped: false
    vis-stale                 delete: undeclared, inside the prune scope "vis-"
    ml-scratch, demo-mi       unmanaged: undeclared, outside the scope
    quota                     error: 1 create, the project may create 0 more
    --target                  warning (see below)
    connection                project 0a1b2c at the OTC eu-de endpoint
    ========================  ================================================

    ``build_plan`` ignores ``--prune`` under ``--target``, so no single run has
    both a prune delete and the ``--target`` warning; the warning is taken from
    a real ``--target vis-desc`` run on the same inputs and added, so that one
    golden file shows every kind of line.
    """
    m = manifest(
        spec("vis-new", 4, job_desc="New curves", job_type="tensorboard", flavor={"code": "modelarts.vm.cpu.2u"},
             schedule={"type": "stop", "time_unit": "HOURS", "duration": 4}),
        spec("vis-desc", 12, job_desc="ResNet-50 curves"),
        spec("vis-moved", 15, train_url="/bucket/moved/new/", replace_on_drift=True),
        spec("vis-killed", 19),
        spec("vis-init", 21),
        spec("vis-broken", 23),
        spec("vis-twin", 25),
        spec("vis-ok", 27),
        spec("vis-drift", 29, train_url="/bucket/drift/new/"),
        spec("vis-paused", 31, restart_stopped=False),
        prune=[PruneScope(Location(FILE, 1), prefix="vis-")],
    )
    s = snap(
        live(11, "vis-desc", job_desc="old curves"),
        live(12, "vis-moved", train_url="/bucket/moved/old/"),
        live(13, "vis-killed", status=Status.KILLED),
        live(14, "vis-init", status=Status.INIT),
        live(15, "vis-broken", status=Status.IMAGE_FAILED),
        live(32, "vis-twin"),
        live(31, "vis-twin", status=Status.KILLED),
        live(17, "vis-ok"),
        live(18, "vis-drift", train_url="/bucket/drift/old/"),
        live(22, "vis-paused", status=Status.COMPLETED),
        live(19, "vis-stale"),
        live(20, "ml-scratch"),
        live(21, "demo-mi", status=Status.COMPLETED),
        limit=0,
        quotas=20,
    )
    plan = build_plan(m, s, options=PlanOptions(prune=True))
    targeted = build_plan(m, s, options=PlanOptions(targets=frozenset({"vis-desc"})))
    return dataclasses.replace(
        plan, warnings=plan.warnings + targeted.warnings, endpoint="https://modelarts.eu-de.otc.t-systems.com", project_id="0a1b2c"
    )


def render(output: str, plan: Plan, verbose: bool = False, colors: bool = False) -> str:
    return RENDERERS[output]().render(plan, verbose=verbose, colors=colors)


def lines_of(text: str) -> list[str]:
    return text.split("\n")


# -- golden files ----------------------------------------------------------------


GOLDEN_CASES = [
    ("plan.txt", "text", False),
    ("plan-verbose.txt", "text", True),
    ("plan.json", "json", False),
    ("plan.md", "markdown", False),
    ("plan-verbose.md", "markdown", True),
]


@pytest.mark.parametrize("name, output, verbose", GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden(name, output, verbose):
    rendered = render(output, scenario(), verbose=verbose)
    # Files end with one newline; the text and JSON renderers leave it to the caller.
    actual = rendered if rendered.endswith("\n") else rendered + "\n"
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run VIZCTL_UPDATE_GOLDEN=1 python -m pytest tests/test_render.py"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), f"golden/{name}", "rendered"))
        pytest.fail(f"{output} output differs from {path.name} (VIZCTL_UPDATE_GOLDEN=1 to accept):\n{diff}")


def test_scenario_really_covers_every_kind_of_line():
    """Guards the goldens: a planner change must not silently drop a case from them."""
    plan = scenario()
    assert {c.action for c in plan.changes} == set(Action)
    noted = [c.job_name for c in plan.changes if c.notes]
    assert noted == ["vis-broken", "vis-drift"]
    assert [j.job_name for j in plan.unmanaged if j.job_name in ("ml-scratch", "demo-mi")] == ["ml-scratch", "demo-mi"]
    assert len(plan.errors) == 1 and plan.errors[0].startswith("quota: 1 job to create")
    assert len(plan.warnings) == 1 and "--target vis-desc" in plan.warnings[0]


# -- text ------------------------------------------------------------------------


def test_text_colours_only_when_asked():
    plan = scenario()
    plain = render("text", plan)
    coloured = render("text", plan, colors=True)
    assert "\033[" not in plain
    assert ANSI.sub("", coloured) == plain  # colour adds codes, nothing else
    by_line = {ANSI.sub("", line).split()[1]: line for line in lines_of(coloured) if line.startswith("\033[") and "vis-" in line}
    assert by_line["vis-new"].startswith("\033[32m") and by_line["vis-new"].endswith("\033[0m")  # green create
    assert by_line["vis-stale"].startswith("\033[31m")  # red delete
    assert by_line["vis-broken"].startswith("\033[31m")  # red problem
    assert any(line.startswith("\033[31mError: quota") for line in lines_of(coloured))
    for output in ("json", "markdown"):
        assert "\033[" not in render(output, plan, colors=True), output


def _legend(text: str) -> str:
    found = [line for line in lines_of(text) if line.startswith("Legend: ")]
    assert len(found) <= 1
    return found[0] if found else ""


def test_text_legend_lists_only_the_symbols_used():
    small = build_plan(manifest(spec("a", job_desc="n"), spec("b")), snap(live(1, "a", job_desc="o")))
    assert _legend(render("text", small)) == "Legend: + create; ~ update in place"

    legend = _legend(render("text", scenario()))
    for action in Action:  # every action is in the scenario, each symbol listed exactly once
        assert legend.count(f"{SYMBOLS[action]} {LEGEND[action]}") == 1, action
    assert legend.count(" ! ") == 1

    converged = build_plan(manifest(spec("a")), snap(live(1, "a")))
    assert _legend(render("text", converged)) == "Legend: = running, nothing to do"
    assert _legend(render("text", build_plan(manifest(), snap()))) == ""


SUMMARY = re.compile(r"^Plan: (\d+) to create, (\d+) to update, (\d+) to replace, (\d+) to restart\.$")


def test_text_summary_line_is_exact():
    m = manifest(spec("c1"), spec("c2"), spec("u", job_desc="n"), spec("r", train_url="/new/", replace_on_drift=True), spec("k"), spec("ok"))
    s = snap(live(1, "u", job_desc="o"), live(2, "r", train_url="/old/"), live(3, "k", status=Status.KILLED), live(4, "ok"))
    text = render("text", build_plan(m, s))
    matches = [SUMMARY.match(line) for line in lines_of(text)]
    [found] = [mt for mt in matches if mt]
    assert found.group(0) == "Plan: 2 to create, 1 to update, 1 to replace, 1 to restart."
    assert sum(1 for line in lines_of(text) if line.startswith("Plan:")) == 1


def test_text_summary_line_adds_deletes_only_when_pruning():
    text = render("text", scenario())
    [line] = [line for line in lines_of(text) if line.startswith("Plan:")]
    assert line == "Plan: 1 to create, 1 to update, 1 to replace, 1 to restart, 1 to delete."


def test_text_without_changes_says_so_instead_of_a_summary():
    text = render("text", build_plan(manifest(spec("a"), spec("b")), snap(live(1, "a"), live(2, "b"))))
    assert not any(line.startswith("Plan:") for line in lines_of(text))
    assert "No changes. 2 of 2 declared jobs running as declared." in lines_of(text)


def test_text_names_unmanaged_jobs_only_when_verbose():
    plain, verbose = render("text", scenario()), render("text", scenario(), verbose=True)
    assert "ml-scratch" not in plain and "names with -v" in plain
    assert "    ml-scratch" in lines_of(verbose) and "    demo-mi" in lines_of(verbose)


def test_text_does_not_call_a_pruned_job_left_alone():
    verbose = render("text", scenario(), verbose=True)
    assert "2 live jobs not declared in any manifest (left alone)" in verbose
    assert sum(1 for line in lines_of(verbose) if "vis-stale" in line) == 1  # the delete line only


# -- markdown ----------------------------------------------------------------------


def test_markdown_first_line_is_a_one_line_summary():
    text = render("markdown", scenario())
    first, second = lines_of(text)[:2]
    assert first == (
        "**vizctl plan of project `0a1b2c` at `https://modelarts.eu-de.otc.t-systems.com`:** "
        "Plan: 1 to create, 1 to update, 1 to replace, 1 to restart, 1 to delete. 1 still starting. **4 problems.**"
    )
    assert second == ""
    converged = render("markdown", build_plan(manifest(spec("a")), snap(live(1, "a"))))
    assert lines_of(converged)[0] == "**vizctl plan:** No changes. 1 of 1 declared job running as declared."


def test_every_output_says_where_the_live_jobs_were_read():
    plan = scenario()
    assert "of project 0a1b2c at https://modelarts.eu-de.otc.t-systems.com:" in lines_of(render("text", plan))[0]
    assert "of project `0a1b2c` at `https://modelarts.eu-de.otc.t-systems.com`" in lines_of(render("markdown", plan))[0]
    data = json.loads(render("json", plan))
    assert data["connection"] == {"endpoint": "https://modelarts.eu-de.otc.t-systems.com", "project_id": "0a1b2c"}
    empty = dataclasses.replace(build_plan(manifest(), snap()), endpoint="sim", project_id="p")
    assert lines_of(render("text", empty))[0] == "vizctl compared the manifests with the live jobs of project p at sim:"


def test_drifted_and_failed_jobs_are_never_called_no_changes():
    drifted = build_plan(manifest(spec("a", train_url="/new/"), spec("b")), snap(live(1, "a", train_url="/old/"), live(2, "b")))
    failed = build_plan(manifest(spec("a"), spec("b")), snap(live(1, "a", status=Status.LOST), live(2, "b")))
    for plan, name in ((drifted, "drifted"), (failed, "failed")):
        text = render("text", plan)
        assert "No changes apply can make. 1 of 2 declared jobs running as declared." in lines_of(text), text
        assert "Not converged: 1 job that apply will not fix (marked !): a." in lines_of(text)
        assert "No changes. " not in text
        md = render("markdown", plan)
        assert lines_of(md)[0] == "**vizctl plan:** No changes apply can make. 1 of 2 declared jobs running as declared. **1 problem.**"
        assert f"| `!` | `a` | {name} |" in md
        assert json.loads(render("json", plan))["summary"][name] == 1 and json.loads(render("json", plan))["summary"]["converged"] is False


def test_kept_stopped_job_is_not_called_running():
    plan = build_plan(manifest(spec("a", restart_stopped=False), spec("b")), snap(live(1, "a", status=Status.COMPLETED), live(2, "b")))
    text = render("text", plan)
    assert "No changes. 1 of 2 declared jobs running as declared, 1 stopped as allowed (restart_stopped: false)." in lines_of(text)
    assert "○ a  keep-stopped: job is COMPLETED" in text and "Legend: = running, nothing to do; ○ stopped and may stay stopped" in text
    md = render("markdown", plan)
    assert lines_of(md)[0] == "**vizctl plan:** No changes. 1 of 2 declared jobs running as declared, 1 stopped as allowed (restart_stopped: false)."
    assert json.loads(render("json", plan))["summary"]["keep-stopped"] == 1 and json.loads(render("json", plan))["summary"]["converged"] is True


def test_undeclared_jobs_inside_a_prune_scope_are_named_in_text_and_markdown():
    m = manifest(spec("vis-a"), prune=[PruneScope(Location(FILE, 1), prefix="vis-")])
    plan = build_plan(m, snap(live(1, "vis-a"), live(2, "vis-old"), live(3, "vis-older"), live(4, "other")))
    text = render("text", plan)
    assert "2 live jobs inside a prune scope not declared in any manifest (--prune deletes them):\n    vis-old\n    vis-older" in text
    assert "1 live job not declared in any manifest (left alone; names with -v)" in text
    md = render("markdown", plan)
    assert "2 live jobs inside a prune scope not declared in any manifest (`--prune` deletes them): `vis-old`, `vis-older`" in md
    assert "1 live job not declared in any manifest are left alone." in md


def test_markdown_shows_plan_errors_above_the_table_and_job_problems_in_their_rows():
    plan = scenario()
    text = render("markdown", plan)
    table_at = text.index("| | Job |")
    for error in plan.errors:
        assert 0 < text.index(error) < table_at, error
    problem_jobs = [c for c in plan.changes if c.is_problem]
    assert len(problem_jobs) == 3
    for change in problem_jobs:
        [row] = [line for line in lines_of(text) if line.startswith(f"| `!` | `{change.job_name}` |")]
        assert change.reason in row and all(note in row for note in change.notes)


def _big_plan() -> tuple[Plan, list[str]]:
    """5,000 declared jobs: 4,990 updates, 6 creates over a quota of 2, and four problem jobs deep in the middle."""
    specs, jobs = [], []
    problem_jobs = {1234: "failed", 2345: "ambiguous", 3456: "failed", 4321: "drift"}
    for i in range(5000):
        name = f"job-{i:04d}"
        kind = problem_jobs.get(i)
        specs.append(spec(name, i + 1, job_desc="new"))
        if kind == "failed":
            jobs.append(live(i, name, status=Status.SUBMIT_FAILED, job_desc="new"))
        elif kind == "ambiguous":
            jobs += [live(i, name, job_desc="new"), live(10_000 + i, name, job_desc="new")]
        elif kind == "drift":
            jobs.append(live(i, name, job_desc="new", train_url="/elsewhere/"))
        elif i < 4994:
            jobs.append(live(i, name, job_desc="old"))
        # the last 6 are not live: creates
    plan = build_plan(manifest(*specs), snap(*jobs, limit=2, quotas=5000))
    return plan, [f"job-{i:04d}" for i in sorted(problem_jobs)]


@pytest.fixture(scope="module")
def big():
    return _big_plan()


def test_markdown_of_5000_changes_fits_a_comment_and_keeps_every_problem(big):
    plan, problem_names = big
    assert len(plan.changes) == 5000
    text = render("markdown", plan)
    assert len(text) < LIMIT <= 60_000

    lines = lines_of(text)
    assert lines[0] == f"**vizctl plan:** {plan.summary_line()} **5 problems.**"
    assert plan.summary_line() == "Plan: 6 to create, 4990 to update, 0 to replace, 0 to restart."

    for error in plan.errors:
        assert f"> :warning: {error}" in lines
    for change in plan.changes:
        if change.is_problem:
            [row] = [line for line in lines if line.startswith(f"| `!` | `{change.job_name}` | {change.action.value} |")]
            assert change.reason in row and all(note in row for note in change.notes)
    assert set(problem_names) <= {c.job_name for c in plan.changes if c.is_problem}

    # rows shown + rows elided account for every row (a no-op without problems is not listed without -v)
    shown = [line for line in lines if line.startswith("| `")]
    elided = [int(m.group(1)) for line in lines if (m := re.match(r"\| \| … \| \*(\d+) more rows? elided", line))]
    assert elided, "no elision marker in the table"
    assert len(shown) + sum(elided) == sum(1 for c in plan.changes if c.action is not Action.NOOP or c.is_problem)
    assert any(re.fullmatch(r"\*… \d+ more rows? elided …\*", line) for line in lines), "no elision marker in the details"
    assert text.count("<details>") == text.count("</details>") == 1  # one details block, closed


def test_markdown_does_not_elide_what_fits():
    text = render("markdown", scenario())
    assert "elided" not in text
    for change in scenario().changes:
        if change.action not in (Action.NOOP, Action.KEEP_STOPPED):
            assert f"`{change.job_name}`" in text


def test_markdown_stays_under_the_limit_with_hundreds_of_failed_jobs():
    specs = [spec(f"job-{i:04d}", i + 1) for i in range(5000)]
    jobs = [live(i, f"job-{i:04d}", status=Status.IMAGE_FAILED if i % 10 == 0 else Status.KILLED) for i in range(5000)]
    text = render("markdown", build_plan(manifest(*specs), snap(*jobs)))
    assert len(text) <= LIMIT


# -- json --------------------------------------------------------------------------


CHANGE_KEYS = {"job_name", "action", "reason", "job_id", "status", "status_name", "before", "after", "diff", "location", "live_ids", "notes", "fingerprint"}


def test_json_parses_and_every_change_carries_the_documented_fields():
    plan = scenario()
    data = json.loads(render("json", plan))
    assert data["format_version"] == "2.0"
    assert set(data) >= {"format_version", "vizctl_version", "summary", "changes", "unmanaged", "errors", "warnings", "quota", "targets", "manifests"}
    assert len(data["changes"]) == len(plan.changes)
    for change in data["changes"]:
        assert set(change) == CHANGE_KEYS, change["job_name"]
        assert change["action"] in {a.value for a in Action}
        assert isinstance(change["reason"], str) and change["reason"]
        assert isinstance(change["diff"], list)
        for d in change["diff"]:
            assert set(d) == {"path", "before", "after", "fix"}
            assert d["fix"] in ("in-place", "replace")
        assert change["job_id"] is None or isinstance(change["job_id"], str)
        assert change["status"] is None or isinstance(change["status"], int)

    by_name = {c["job_name"]: c for c in data["changes"]}
    assert by_name["vis-desc"]["diff"] == [{"path": "job_desc", "before": "old curves", "after": "ResNet-50 curves", "fix": "in-place"}]
    assert by_name["vis-desc"]["job_id"] == "11" and by_name["vis-desc"]["status"] == 8
    assert by_name["vis-moved"]["diff"][0]["fix"] == "replace" and by_name["vis-moved"]["action"] == "replace"
    assert by_name["vis-new"]["before"] is None and by_name["vis-new"]["after"]["schedule"]["duration"] == 4
    assert by_name["vis-stale"]["after"] is None and by_name["vis-stale"]["action"] == "delete"
    assert by_name["vis-twin"]["live_ids"] == ["31", "32"] and by_name["vis-twin"]["job_id"] is None
    assert by_name["vis-broken"]["status_name"] == "IMAGE_FAILED"
    assert data["summary"] == {**{a.value: 1 for a in Action}, "has_changes": True, "converged": False}
    assert data["errors"] == list(plan.errors) and data["warnings"] == list(plan.warnings)
    assert data["quota"] == {"job_count_limit": 0, "quotas": 20}


def test_json_reads_back_as_the_same_plan():
    plan = scenario()
    again = plan_from_dict({"kind": "vizctl-plan", **json.loads(render("json", plan))})
    assert again.changes == plan.changes
    assert (again.errors, again.warnings, again.manifest_digest) == (plan.errors, plan.warnings, plan.manifest_digest)


def test_json_reader_refuses_an_unknown_major_version_but_takes_a_minor_bump():
    data = {"kind": "vizctl-plan", **json.loads(render("json", scenario()))}
    assert plan_from_dict({**data, "format_version": "2.7", "added_in_2_7": {"x": 1}}).changes == scenario().changes
    with pytest.raises(StalePlanError, match=r"format 3.0 is not supported by vizctl .* \(it reads 1.x, 2.x\)"):
        plan_from_dict({**data, "format_version": "3.0"})


# -- docs/plan-json.md stays in step with the format ----------------------------------------


def _format_keys(data: dict) -> set[str]:
    """The format's own keys: everything but the job fields inside before/after."""
    keys = set(data)
    for name in ("summary", "quota", "manifests", "connection", "options"):
        keys |= set(data.get(name) or {})
    for change in data["changes"]:
        keys |= set(change)
        for d in change["diff"]:
            keys |= set(d)
    for job in data["unmanaged"]:
        keys |= set(job)
    return keys


def _json_blocks(text: str) -> list[str]:
    return re.findall(r"```json\n(.*?)\n```", text, flags=re.S)


def test_docs_name_every_field_of_the_format():
    docs = DOCS.read_text(encoding="utf-8")
    [example] = [json.loads(b) for b in _json_blocks(docs) if '"kind": "vizctl-plan"' in b]
    keys = _format_keys(json.loads(render("json", scenario()))) | _format_keys(example)
    assert {"kind", "connection", "endpoint", "project_id", "options", "force"} <= keys
    missing = sorted(k for k in keys if f"`{k}`" not in docs)
    assert not missing, f"docs/plan-json.md does not document {missing}"
    for action in Action:
        assert f"`{action.value}`" in docs


def test_docs_example_is_a_plan_file_vizctl_accepts(tmp_path):
    docs = DOCS.read_text(encoding="utf-8")
    [example] = [b for b in _json_blocks(docs) if '"kind": "vizctl-plan"' in b]
    path = tmp_path / "plan.json"
    path.write_text(example, encoding="utf-8")
    saved = load_plan(str(path))
    assert saved.options.prune and saved.plan.changes
    assert {c.action for c in saved.plan.changes} >= {Action.CREATE, Action.UPDATE, Action.DELETE}


def test_a_long_list_of_prunable_jobs_is_capped_in_text_and_markdown():
    m = manifest(prune=[PruneScope(Location(FILE, 1), prefix="vis-")])
    plan = build_plan(m, snap(*[live(i, f"vis-{i:03d}") for i in range(120)]))
    text, md = render("text", plan), render("markdown", plan)
    assert "    vis-049\n    ... and 70 more" in text and "vis-050" not in text
    assert "`vis-049`, ... and 70 more" in md and "vis-050" not in md
