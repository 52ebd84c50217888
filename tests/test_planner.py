"""Fast unit tests of the pure planner: every action kind, drift, quota, prune, targets."""

from __future__ import annotations

import pytest

from vizctl.model import JobSpec, LiveJob, LiveSnapshot, Location, Manifest, PruneScope
from vizctl.planning.plan import Action, plan_from_dict, plan_to_dict
from vizctl.planning.planner import PlanOptions, build_plan, details_needed


def spec(name, train_url="/b/logs/", line=1, **extra):
    flags = {k: extra.pop(k) for k in ("replace_on_drift", "recreate_failed", "restart_stopped") if k in extra}
    body = {"job_name": name, "train_url": train_url, **extra}
    return JobSpec(name=name, body=body, location=Location("m.yaml", line), **flags)


def live(job_id, name, status=8, train_url="/b/logs/", job_desc="", **extra):
    return LiveJob(str(job_id), name, status, job_desc=job_desc, train_url=train_url, extra=extra)


def manifest(*specs, prune=(), empty=False):
    return Manifest(jobs=tuple(specs), prune_scopes=tuple(prune), files=("m.yaml",), digest="d", explicitly_empty=empty)


def snap(*jobs, limit=None):
    return LiveSnapshot(jobs=tuple(jobs), job_count_limit=limit)


def one(plan, name):
    [change] = [c for c in plan.changes if c.job_name == name]
    return change


def test_missing_job_is_created_with_its_body():
    plan = build_plan(manifest(spec("a", job_desc="x")), snap())
    change = one(plan, "a")
    assert change.action is Action.CREATE
    assert change.after == {"job_name": "a", "train_url": "/b/logs/", "job_desc": "x"}
    assert plan.summary_line() == "Plan: 1 to create, 0 to update, 0 to replace, 0 to restart."


def test_running_job_as_declared_is_a_noop_and_converged():
    plan = build_plan(manifest(spec("a")), snap(live(1, "a")))
    assert one(plan, "a").action is Action.NOOP
    assert not plan.has_changes and plan.converged


def test_pending_job_needs_waiting_only():
    plan = build_plan(manifest(spec("a")), snap(live(1, "a", status=7)))
    change = one(plan, "a")
    assert change.action is Action.WAIT and "WAITING" in change.reason
    assert not plan.has_changes and not plan.converged


def test_job_desc_drift_is_an_in_place_update():
    plan = build_plan(manifest(spec("a", job_desc="new")), snap(live(1, "a", job_desc="old")))
    change = one(plan, "a")
    assert change.action is Action.UPDATE
    assert [(d.path, d.before, d.after, d.fix) for d in change.diff] == [("job_desc", "old", "new", "in-place")]


def test_train_url_drift_is_drifted_not_converged_unless_replace_is_asked():
    declared = spec("a", train_url="/new/")
    current = snap(live(1, "a", train_url="/old/"))
    plan = build_plan(manifest(declared), current)
    change = one(plan, "a")
    assert change.action is Action.DRIFTED and change.is_problem
    assert change.diff[0].path == "train_url" and change.diff[0].fix == "replace"
    assert "--replace a" in change.notes[0] and "replace_on_drift: true" in change.notes[0]
    assert (plan.has_changes, plan.converged, plan.differs) == (False, False, True)
    assert plan_to_dict(plan)["summary"]["drifted"] == 1 and plan_to_dict(plan)["summary"]["converged"] is False

    assert one(build_plan(manifest(declared), current, options=PlanOptions(replace=frozenset({"a"}))), "a").action is Action.REPLACE
    flagged = spec("a", train_url="/new/", replace_on_drift=True)
    replaced = one(build_plan(manifest(flagged), current), "a")
    assert replaced.action is Action.REPLACE and "replace_on_drift" in replaced.reason and not replaced.notes


def test_detail_fields_are_compared_only_when_the_api_returned_them():
    declared = spec("a", job_type="mindinsight", flavor={"code": "gpu"}, schedule={"type": "stop", "time_unit": "HOURS", "duration": 4})
    current = snap(live(1, "a"))
    assert details_needed(manifest(declared), current, PlanOptions()) == ["1"]
    # the API returned nothing for them: no drift
    assert one(build_plan(manifest(declared), current, {"1": live(1, "a")}), "a").diff == ()
    detail = live(1, "a", job_type="tensorboard", flavor={"code": "cpu", "extra": 1}, schedule=[{"type": "stop", "time_unit": "HOURS", "duration": 2}])
    diff = one(build_plan(manifest(declared), current, {"1": detail}), "a").diff
    assert [(d.path, d.before, d.after) for d in diff] == [
        ("flavor.code", "cpu", "gpu"),
        ("job_type", "tensorboard", "mindinsight"),
        ("schedule.duration", 2, 4),
    ]


def test_no_details_needed_without_detail_fields():
    assert details_needed(manifest(spec("a", job_desc="x")), snap(live(1, "a")), PlanOptions()) == []


@pytest.mark.parametrize("status", [10, 12, 13, 9])
def test_stopped_or_stopping_job_is_restarted(status):
    change = one(build_plan(manifest(spec("a")), snap(live(1, "a", status=status))), "a")
    assert change.action is Action.RESTART


@pytest.mark.parametrize("status", [3, 5, 6, 11, 14, 16, 17, 21])
def test_failed_job_is_shown_and_recreated_only_when_asked(status):
    change = one(build_plan(manifest(spec("a")), snap(live(1, "a", status=status))), "a")
    assert change.action is Action.FAILED and change.is_problem
    assert one(build_plan(manifest(spec("a", recreate_failed=True)), snap(live(1, "a", status=status))), "a").action is Action.REPLACE


def test_two_live_jobs_with_the_declared_name_are_ambiguous():
    change = one(build_plan(manifest(spec("a")), snap(live(12, "a"), live(3, "a"))), "a")
    assert change.action is Action.AMBIGUOUS
    assert change.live_ids == ("3", "12") and "3, 12" in change.reason


def test_unmanaged_jobs_are_listed_and_left_alone():
    plan = build_plan(manifest(spec("a")), snap(live(1, "a"), live(2, "other"), live(3, "a-old")))
    assert [j.job_name for j in plan.unmanaged] == ["other", "a-old"]
    assert all(c.job_name == "a" for c in plan.changes)


def test_quota_exceeded_is_an_error():
    plan = build_plan(manifest(spec("a"), spec("b"), spec("c")), snap(limit=2))
    assert any("quota: 3 jobs to create" in e for e in plan.errors)
    assert build_plan(manifest(spec("a"), spec("b")), snap(limit=2)).errors == ()


def test_targets_limit_the_plan_and_warn():
    plan = build_plan(manifest(spec("a"), spec("b")), snap(), options=PlanOptions(targets=frozenset({"b"})))
    assert [c.job_name for c in plan.changes] == ["b"]
    assert plan.warnings and "--target b" in plan.warnings[0]
    bad = build_plan(manifest(spec("a")), snap(), options=PlanOptions(targets=frozenset({"zz"})))
    assert bad.errors and "zz" in bad.errors[0]


def _team(n_declared, n_live_extra, empty=False):
    specs = [spec(f"t-{i}") for i in range(n_declared)]
    jobs = [live(i, f"t-{i}") for i in range(n_declared)] + [live(100 + i, f"t-x{i}") for i in range(n_live_extra)]
    jobs.append(live(999, "outside"))
    return manifest(*specs, prune=[PruneScope(Location("m.yaml", 1), prefix="t-", may_empty=empty)], empty=empty), snap(*jobs)


def test_prune_deletes_only_undeclared_jobs_in_scope():
    m, s = _team(9, 1)
    plan = build_plan(m, s, options=PlanOptions(prune=True))
    assert [(c.job_name, c.action) for c in plan.changes if c.action is Action.DELETE] == [("t-x0", Action.DELETE)]
    assert not plan.errors
    assert not any(c.action is Action.DELETE for c in build_plan(m, s).changes)  # opt-in


def test_prune_refuses_more_than_30_percent_without_force():
    m, s = _team(6, 4)
    plan = build_plan(m, s, options=PlanOptions(prune=True))
    assert plan.errors and "4 of 10" in plan.errors[0]
    assert not build_plan(m, s, options=PlanOptions(prune=True, force=True)).errors


def test_prune_refuses_to_delete_everything_unless_explicitly_empty_and_forced():
    m, s = _team(0, 3)
    assert build_plan(m, s, options=PlanOptions(prune=True, force=True)).errors
    m_empty, _ = _team(0, 3, empty=True)
    plan = build_plan(m_empty, s, options=PlanOptions(prune=True, force=True))
    assert not plan.errors
    assert sorted(c.job_name for c in plan.changes) == ["t-x0", "t-x1", "t-x2"]


def test_plan_json_round_trips():
    plan = build_plan(manifest(spec("a", job_desc="n"), spec("b")), snap(live(1, "a", job_desc="o")))
    data = {"kind": "vizctl-plan", **plan_to_dict(plan)}
    again = plan_from_dict(data)
    assert again.changes == plan.changes
    summary = plan_to_dict(again)["summary"]
    assert (summary["create"], summary["update"], summary["no-op"], summary["has_changes"]) == (1, 1, 0, True)


@pytest.mark.parametrize("field, declared, live_extra", [
    ("job_type", {"job_type": "mindinsight"}, {"job_type": "tensorboard"}),
    ("flavor.code", {"flavor": {"code": "gpu"}}, {"flavor": {"code": "cpu"}}),
    ("schedule.duration", {"schedule": {"type": "stop", "time_unit": "HOURS", "duration": 8}},
     {"schedule": {"type": "stop", "time_unit": "HOURS", "duration": 4}}),
])
def test_detail_field_drift_is_drifted(field, declared, live_extra):
    job = live(1, "a", **live_extra)
    plan = build_plan(manifest(spec("a", **declared)), snap(job), details={"1": job})
    change = one(plan, "a")
    assert change.action is Action.DRIFTED and [d.path for d in change.diff] == [field]
    assert not plan.converged and plan.differs


@pytest.mark.parametrize("status", [12, 1, 10])  # KILLED, INIT, COMPLETED
def test_drift_wins_over_restart_and_wait_so_apply_sends_nothing_it_would_leave_different(status):
    plan = build_plan(manifest(spec("a", train_url="/new/", job_desc="n")), snap(live(1, "a", status=status, train_url="/old/", job_desc="o")))
    assert one(plan, "a").action is Action.DRIFTED and not plan.has_changes and plan.differs


def test_failed_job_differs_from_its_declaration():
    plan = build_plan(manifest(spec("a")), snap(live(1, "a", status=3)))
    assert one(plan, "a").action is Action.FAILED
    assert (plan.has_changes, plan.converged, plan.differs) == (False, False, True)


def test_waiting_job_is_not_converged_but_does_not_differ():
    plan = build_plan(manifest(spec("a")), snap(live(1, "a", status=1)))
    assert (plan.converged, plan.differs) == (False, False)


@pytest.mark.parametrize("status", [10, 12, 13, 9])  # COMPLETED, KILLED, CANCELED, KILLING
def test_stopped_job_stays_stopped_when_restart_stopped_is_false(status):
    plan = build_plan(manifest(spec("a", restart_stopped=False)), snap(live(1, "a", status=status)))
    change = one(plan, "a")
    assert change.action is Action.KEEP_STOPPED and not change.notes and not change.is_problem
    assert "restart_stopped: false" in change.reason
    assert (plan.has_changes, plan.converged, plan.differs) == (False, True, False)
    assert one(build_plan(manifest(spec("a")), snap(live(1, "a", status=status))), "a").action is Action.RESTART  # default


def test_restart_stopped_false_does_not_hide_drift_or_keep_a_running_job_from_being_running():
    drifted = build_plan(manifest(spec("a", "/new/", restart_stopped=False)), snap(live(1, "a", status=10, train_url="/old/")))
    assert one(drifted, "a").action is Action.DRIFTED
    running = build_plan(manifest(spec("a", restart_stopped=False)), snap(live(1, "a")))
    assert one(running, "a").action is Action.NOOP
    desc = build_plan(manifest(spec("a", job_desc="n", restart_stopped=False)), snap(live(1, "a", status=10, job_desc="o")))
    assert one(desc, "a").action is Action.RESTART  # job_desc is updated with a restart, as without the key


def _scope(prefix, path="m.yaml", empty=False):
    return PruneScope(Location(path, 1), prefix=prefix, may_empty=empty)


def test_prune_limits_hold_per_scope_not_over_all_scopes_together():
    """Team a declares only a new job; team b's ten running jobs must not dilute a's share."""
    m = manifest(spec("a-new"), *[spec(f"b-{i}") for i in range(10)], prune=[_scope("a-", "a.yaml"), _scope("b-", "b.yaml")])
    s = snap(*[live(i, f"a-{i}") for i in range(3)], *[live(10 + i, f"b-{i}") for i in range(10)])
    plan = build_plan(m, s, options=PlanOptions(prune=True))
    assert len(plan.errors) == 1 and "all 3 live jobs in scope (prefix 'a-', a.yaml:1)" in plan.errors[0]


def test_jobs_empty_unlocks_only_the_scope_of_its_own_file():
    m = manifest(spec("b-keep"), prune=[_scope("a-", "a.yaml", empty=True), _scope("b-", "b.yaml")])
    s = snap(live(1, "a-1"), live(2, "b-old"), live(3, "b-keep"))
    forced = build_plan(m, s, options=PlanOptions(prune=True, force=True))
    assert not forced.errors and sorted(c.job_name for c in forced.changes if c.action is Action.DELETE) == ["a-1", "b-old"]
    m2 = manifest(prune=[_scope("a-", "a.yaml", empty=True), _scope("b-", "b.yaml")])
    refused = build_plan(m2, snap(live(1, "a-1"), live(2, "b-old")), options=PlanOptions(prune=True, force=True))
    assert [e for e in refused.errors if "prefix 'b-'" in e] and not [e for e in refused.errors if "prefix 'a-'" in e]


@pytest.mark.parametrize("declared, extra, refused", [
    (7, 3, False),  # 3 of 10 = 30%: allowed
    (6, 4, True),  # 4 of 10 = 40%: refused
    (14, 6, False),  # 6 of 20 = 30%: allowed
    (13, 7, True),  # 7 of 20 = 35%: refused
    (6, 3, False),  # 3 of 9 (33%): a scope under 10 has no percentage limit
    (1, 8, False),  # 8 of 9: still allowed, only "all of it" is refused below 10
])
def test_prune_percentage_boundary_and_minimum_scope(declared, extra, refused):
    m, s = _team(declared, extra)
    plan = build_plan(m, s, options=PlanOptions(prune=True))
    assert bool(plan.errors) is refused, plan.errors
    if refused:
        assert f"{extra} of {declared + extra} live jobs" in plan.errors[0] and "more than 30%" in plan.errors[0]
        assert not build_plan(m, s, options=PlanOptions(prune=True, force=True)).errors


def test_undeclared_jobs_in_a_prune_scope_are_named_as_prunable_without_prune():
    m, s = _team(2, 2)
    plan = build_plan(m, s)
    by_id = {j.job_id: j.job_name for j in plan.unmanaged}
    assert sorted(by_id[i] for i in plan.prunable) == ["t-x0", "t-x1"]  # "outside" is not in the scope
    assert [u["in_prune_scope"] for u in plan_to_dict(plan)["unmanaged"]] == [True, True, False]
    assert build_plan(m, s, options=PlanOptions(prune=True)).prunable == ()


def test_format_1_plan_file_reads_its_no_op_with_unfixed_drift_as_drifted():
    plan = build_plan(manifest(spec("a", "/new/"), spec("b")), snap(live(1, "a", train_url="/old/"), live(2, "b")))
    data = {"kind": "vizctl-plan", **plan_to_dict(plan), "format_version": "1.0"}
    data["changes"][0]["action"] = "no-op"  # what vizctl 1.0 wrote
    assert [c.action for c in plan_from_dict(data).changes] == [Action.DRIFTED, Action.NOOP]


def test_diff_of_list_items_added_and_removed_has_no_placeholder_values():
    from vizctl.planning.planner import _diff

    added = _diff({"flavor": {"codes": ["a"]}}, {"flavor": {"codes": ["a", "b"]}})
    removed = _diff({"flavor": {"codes": ["a", "b"]}}, {"flavor": {"codes": ["a"]}})
    assert [(d.path, d.before, d.after, d.fix) for d in added] == [("flavor.codes.1", None, "b", "replace")]
    assert [(d.path, d.before, d.after, d.fix) for d in removed] == [("flavor.codes.1", "b", None, "replace")]


def test_diff_sees_type_changes_and_ignores_list_order():
    from vizctl.planning.planner import _diff

    assert [(d.path, d.before, d.after) for d in _diff({"schedule": {"duration": 4.0}}, {"schedule": {"duration": 4}})] == [
        ("schedule.duration", 4.0, 4)
    ]
    assert _diff({"flavor": {"codes": ["a", "b"]}}, {"flavor": {"codes": ["b", "a"]}}) == ()


def test_equal_jobs_and_plain_drift_are_planned_without_loading_deepdiff():
    """Equal jobs build no diff, a changed job_desc explains itself: deepdiff (slow to import and run) is not imported."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from vizctl.model import JobSpec, LiveJob, LiveSnapshot, Location, Manifest\n"
        "from vizctl.planning.planner import build_plan\n"
        "body = {'job_name': 'a', 'train_url': '/b/', 'job_desc': 'd', 'schedule': {'type': 'stop', 'duration': 4}}\n"
        "spec = JobSpec('a', body, Location('m.yaml', 1))\n"
        "live = LiveJob('1', 'a', 8, job_desc='d', train_url='/b/')\n"
        "detail = LiveJob('1', 'a', 8, extra={'schedule': {'type': 'stop', 'time_unit': 'HOURS', 'duration': 4}})\n"
        "plan = build_plan(Manifest(jobs=(spec,)), LiveSnapshot(jobs=(live,)), {'1': detail})\n"
        "assert plan.changes[0].action.value == 'no-op', plan.changes[0]\n"
        "drifted = LiveJob('1', 'a', 8, job_desc='old', train_url='/b/')\n"
        "[change] = build_plan(Manifest(jobs=(spec,)), LiveSnapshot(jobs=(drifted,)), {'1': detail}).changes\n"
        "assert [(d.path, d.before, d.after, d.fix) for d in change.diff] == [('job_desc', 'old', 'd', 'in-place')], change\n"
        "print('deepdiff' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
