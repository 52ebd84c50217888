"""Tests written to kill mutants that survived the suite (tests/MUTATION.md says how to rerun it)."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from dataclasses import replace

import pytest

from cliutil import TOKEN
from test_planner import _team, live, manifest, one, snap, spec

from vizctl.applying.machine import Applier, ApplySettings
from vizctl.api.auth import TokenAuth
from vizctl.cli import exit_status_for
from vizctl.api.client import ModelArtsClient
from vizctl.environment import Environment
from vizctl.errors import (
    ApiError, ApiResponseError, AuthError, ConfigError, ConfirmationError, ExitStatus, InconsistentList,
    LocalRequestError, ManifestError, PlanError, ProtocolError, Problem, RequestTimeout, RetryCancelled, ServerError,
    StalePlanError, ThrottledError, TransportError, UnreachableError, UnsuccessfulAnswer, UsageError, VizctlError,
)
from vizctl.planning.manager import check_fresh, load_plan, make_plan, save_plan
from vizctl.model import LiveSnapshot, Location, Manifest, PruneScope, status_name
from vizctl.planning.plan import Action, plan_from_dict, plan_to_dict
from vizctl.planning.planner import PlanOptions, build_plan
from vizctl.applying.progress import JsonReporter
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

# -- the error mapping -----------------------------------------------------------------


def test_exit_codes_are_the_documented_numbers():
    assert {s.name: int(s) for s in ExitStatus} == {
        "OK": 0, "ERROR": 1, "CHANGES": 2, "NOT_CONVERGED": 3, "USAGE": 64, "INTERRUPTED": 130,
    }


@pytest.mark.parametrize("error, status, ambiguous, retryable", [
    (VizctlError("x"), 1, False, False),
    (UsageError("x"), 64, False, False),
    (ConfigError("x"), 1, False, False),
    (ConfirmationError("x"), 1, False, False),
    (ManifestError([Problem("m.yaml", 1, "bad")]), 1, False, False),
    (PlanError("x"), 1, False, False),
    (StalePlanError("x"), 1, False, False),
    (ApiError("x"), 1, False, False),
    (TransportError("x"), 1, True, True),
    (RequestTimeout("x"), 1, True, True),
    (ProtocolError("x"), 1, True, True),  # a portal page or cut JSON: a read is sent again, a change settled by the list
    (InconsistentList("x"), 1, True, False),  # list_all already read the list again, several times
    (UnreachableError("x"), 1, False, True),  # nothing was sent
    (RetryCancelled("x"), 1, False, False),
    (LocalRequestError("x"), 1, False, False),
    (UnsuccessfulAnswer(200, "ModelArts.0010", "no"), 1, True, True),
    (ApiResponseError(400, "ModelArts.0101", "bad"), 1, False, False),
    (AuthError(401, "APIG.1002", "no"), 1, False, False),
    (ThrottledError(429, "APIG.0308", "slow down"), 1, False, True),
    (ServerError(503, None, "down"), 1, True, True),
])
def test_every_error_maps_to_its_exit_code_and_says_whether_a_mutation_may_have_happened(error, status, ambiguous, retryable):
    assert exit_status_for(error) == status and isinstance(exit_status_for(error), ExitStatus)
    if isinstance(error, ApiError):
        assert (error.ambiguous, error.retryable) == (ambiguous, retryable)


def test_error_messages_as_printed():
    assert VizctlError("no endpoint").report() == "Error: no endpoint"
    assert str(ApiResponseError(400, "ModelArts.0101", "bad body", method="POST", path="/v1/p/visualization-jobs")) == (
        "API error 400 ModelArts.0101: bad body (POST /v1/p/visualization-jobs)"
    )
    assert str(ApiResponseError(502, None, "bad gateway")) == "API error 502 bad gateway"
    throttled = ThrottledError(429, "APIG.0308", "slow", retry_after=2.5)
    assert throttled.retry_after == 2.5 and throttled.http_status == 429 and throttled.error_message == "slow"
    assert ThrottledError(429, None, "slow").retry_after is None


def test_manifest_error_lists_every_problem_then_one_error_line():
    error = ManifestError([Problem("a.yaml", 3, "unknown field"), Problem("a.yaml", None, "empty"), Problem("b.yaml", 1, "bad")])
    assert error.report() == "a.yaml:3: unknown field\na.yaml: empty\nb.yaml:1: bad\nError: 3 problems in 2 files; nothing was sent to the API"
    assert str(error).endswith("\n3 problems in 2 files; nothing was sent to the API")
    one = ManifestError([Problem("a.yaml", 2, "bad")])
    assert one.report().splitlines()[-1] == "Error: 1 problem in 1 file; nothing was sent to the API"


def test_a_throttled_error_names_the_request_it_answered():
    error = ThrottledError(429, "APIG.0308", "slow", method="GET", path="/v1/p/visualization-jobs", retry_after=1)
    assert str(error) == "API error 429 APIG.0308: slow (GET /v1/p/visualization-jobs)" and error.method == "GET"
    assert error.path == "/v1/p/visualization-jobs"


# -- the plan file: written, read back, checked against the live jobs ----------------------


def test_a_saved_plan_file_is_indented_utf8_json_that_records_where_and_how_it_was_made(tmp_path):
    plan = build_plan(manifest(spec("ä-1", job_desc="grüße")), snap(), PlanOptions(targets=frozenset({"ä-1"})))
    path = tmp_path / "plan.json"
    save_plan(str(path), plan, "https://modelarts.example", "proj-9", PlanOptions(targets=frozenset({"ä-1"}), force=True))
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n  "kind": "vizctl-plan",\n  "format_version": ') and text.endswith("}\n")
    assert '"grüße"' in text  # not \u escapes: the file is meant to be read in a review
    assert os.listdir(tmp_path) == ["plan.json"]  # no temporary file left behind
    saved = load_plan(str(path))
    assert (saved.endpoint, saved.project_id) == ("https://modelarts.example", "proj-9")
    assert saved.options == PlanOptions(targets=frozenset({"ä-1"}), force=True)
    assert saved.plan.changes == plan.changes


def test_a_plan_file_that_cannot_be_written_is_one_error_naming_it(tmp_path):
    where = tmp_path / "no-such-dir" / "plan.json"
    with pytest.raises(VizctlError) as caught:
        save_plan(str(where), build_plan(manifest(spec("a")), snap()), "sim", "p", PlanOptions())
    assert str(caught.value) == f"cannot write the plan to {where}: No such file or directory"


def test_a_saved_prune_is_fresh_while_its_doomed_job_is_unchanged_and_stale_once_it_is_gone():
    m, s = _team(9, 1)
    plan = build_plan(m, s, options=PlanOptions(prune=True))
    [doomed] = [c for c in plan.changes if c.action is Action.DELETE]
    check_fresh(plan, m, s)  # nothing changed: applies
    gone = snap(*[j for j in s.jobs if j.job_id != doomed.job_id])
    with pytest.raises(StalePlanError) as caught:
        check_fresh(plan, m, gone)
    assert str(caught.value) == "plan is stale: the live state changed since it was made for t-x0; run `vizctl plan` again"


def test_a_saved_plan_names_every_job_that_changed_and_refuses_changed_manifests():
    m = manifest(spec("a"), spec("b"), spec("c"))
    plan = build_plan(m, snap(live(1, "a"), live(2, "b"), live(3, "c")))
    with pytest.raises(StalePlanError) as caught:
        check_fresh(plan, m, snap(live(1, "a", job_desc="edited"), live(3, "c", status=4)))
    assert str(caught.value) == "plan is stale: the live state changed since it was made for a, b, c; run `vizctl plan` again"
    other = Manifest(jobs=m.jobs, files=m.files, digest="other")
    with pytest.raises(StalePlanError) as caught:
        check_fresh(plan, other, snap(live(1, "a"), live(2, "b"), live(3, "c")))
    assert str(caught.value) == "plan is stale: the manifests changed since it was made; run `vizctl plan` again"


def test_a_plan_file_reads_back_every_field_apply_uses():
    plan = build_plan(
        manifest(spec("a", job_desc="n"), spec("b")), snap(live(1, "a", job_desc="o"), limit=7),
        options=PlanOptions(targets=frozenset({"a", "b"})),
    )
    plan = replace(plan, quotas=100, endpoint="https://modelarts.example", project_id="proj-9", errors=("e1",), warnings=("w1",) + plan.warnings)
    back = plan_from_dict({"kind": "vizctl-plan", **plan_to_dict(plan)})
    fields = ("changes", "errors", "warnings", "job_count_limit", "quotas", "manifest_digest", "manifest_files", "targets", "endpoint", "project_id")
    assert {f: getattr(back, f) for f in fields} == {f: getattr(plan, f) for f in fields}
    assert (back.job_count_limit, back.quotas, back.targets) == (7, 100, ("a", "b"))


def test_a_minimal_plan_file_reads_with_empty_defaults():
    data = {
        "kind": "vizctl-plan", "format_version": "2.0", "manifests": {"files": ["m.yaml"], "digest": "d"},
        "changes": [{"job_name": "a", "action": "create", "reason": "not found"}],
    }
    plan = plan_from_dict(data)
    [change] = plan.changes
    assert (change.diff, change.live_ids, change.notes, change.fingerprint, change.location) == ((), (), (), "", None)
    assert (plan.errors, plan.warnings, plan.targets, plan.job_count_limit, plan.quotas) == ((), (), (), None, None)
    assert (plan.endpoint, plan.project_id) == ("", "")


@pytest.mark.parametrize("data, message", [
    ([], "not a vizctl plan file"),
    ({"kind": "terraform-plan", "format_version": "2.0"}, "not a vizctl plan file"),
    ({"kind": "vizctl-plan"}, "plan file format ? is not supported by vizctl"),
    ({"kind": "vizctl-plan", "format_version": "3.0"}, "plan file format 3.0 is not supported by vizctl"),
])
def test_what_is_not_a_readable_plan_file_is_refused_by_name(data, message):
    with pytest.raises(StalePlanError) as caught:
        plan_from_dict(data)
    assert str(caught.value).startswith(message)


def test_a_damaged_plan_file_says_what_is_missing():
    data = {"kind": "vizctl-plan", "format_version": "2.0", "manifests": {"files": [], "digest": "d"}, "changes": [{"action": "create"}]}
    with pytest.raises(StalePlanError) as caught:
        plan_from_dict(data)
    assert str(caught.value) == "the plan file is damaged: changes[0].job_name is missing"


def test_a_plan_file_that_cannot_be_read_or_lacks_its_options_is_one_error_naming_it(tmp_path):
    missing = tmp_path / "gone.json"
    with pytest.raises(VizctlError) as caught:
        load_plan(str(missing))
    assert str(caught.value) == f"cannot read the plan file {missing}: No such file or directory"
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps({"kind": "vizctl-plan", **plan_to_dict(build_plan(manifest(spec("a")), snap()))}))
    with pytest.raises(StalePlanError) as caught:
        load_plan(str(damaged))
    assert str(caught.value) == f"{damaged}: the plan file is damaged: options is missing"


def test_a_plan_file_keeps_replace_and_prune(tmp_path):
    path = tmp_path / "plan.json"
    options = PlanOptions(replace=frozenset({"a"}), prune=True)
    save_plan(str(path), build_plan(manifest(spec("a")), snap(), options=options), "sim", "p", options)
    assert load_plan(str(path)).options == options


def test_a_plan_file_location_may_have_a_colon_in_its_path_and_a_1x_change_may_lack_a_diff():
    data = {
        "kind": "vizctl-plan", "format_version": "1.0", "manifests": {"files": ["c:/m.yaml"], "digest": "d"},
        "changes": [{"job_name": "a", "action": "no-op", "reason": "running", "location": "c:/team:a/m.yaml:12"}],
    }
    [change] = plan_from_dict(data).changes
    assert (change.action, str(change.location), change.location.line) == (Action.NOOP, "c:/team:a/m.yaml:12", 12)


# -- the planner --------------------------------------------------------------------


def test_detail_values_the_api_left_empty_or_unclear_never_drift():
    declared = spec("a", job_type="mindinsight", schedule={"type": "stop", "time_unit": "HOURS", "duration": 4})
    two = [{"type": "stop", "time_unit": "HOURS", "duration": 2}, {"type": "stop", "time_unit": "HOURS", "duration": 4}]
    detail = live(1, "a", job_type="", schedule=two)  # "" and a two-element list: nothing known to compare
    assert one(build_plan(manifest(declared), snap(live(1, "a")), {"1": detail}), "a").action is Action.NOOP


def test_a_live_flavor_of_another_shape_is_drift_not_a_crash():
    job = live(1, "a", flavor="modelarts.vm.cpu.2u")
    change = one(build_plan(manifest(spec("a", flavor={"code": "modelarts.vm.cpu.2u"})), snap(job), {"1": job}), "a")
    assert change.action is Action.DRIFTED and [d.path for d in change.diff] == ["flavor"]


def test_ambiguous_ids_that_are_not_numbers_are_named_too():
    change = one(build_plan(manifest(spec("a")), snap(live(12, "a"), live("job-x", "a"), live(1, "a"))), "a")
    assert change.action is Action.AMBIGUOUS and change.live_ids == ("job-x", "1", "12")  # numbers by value, after the rest


def test_prune_refusals_say_how_to_go_ahead():
    m, s = _team(0, 3)
    [error] = build_plan(m, s, options=PlanOptions(prune=True)).errors
    assert error == (
        "prune would delete all 3 live jobs in scope (prefix 't-', m.yaml:1); "
        "refused unless the scope's own file says `jobs: []` and --force is given"
    )
    [error] = build_plan(manifest(spec("a")), snap(live(9, "b")), options=PlanOptions(prune=True)).errors
    assert error == "--prune given, but no manifest declares a prune scope (prune: {prefix: ...})"


# -- the applier, against the simulator over HTTP ---------------------------------------


class FaultyFirst(ModelArtsClient):
    """A real client whose first call of ``method`` meets the simulator with ``fault`` switched on."""

    def __init__(self, sim, method: str, fault: str, calls: int = 1):
        super().__init__(sim.url, "proj-1", TokenAuth(TOKEN))
        self.sim, self.method, self.fault, self.left = sim, method, fault, calls
        setattr(self, method, self._faulty)

    def _faulty(self, *args):
        real = getattr(ModelArtsClient, self.method)
        if self.left <= 0:
            return real(self, *args)
        self.left -= 1
        setattr(self.sim.config, self.fault, 1.0)
        try:
            return real(self, *args)
        finally:
            setattr(self.sim.config, self.fault, 0.0)


class Stop(threading.Event):
    """Apply's Ctrl-C flag, which also records how long apply waits on it (its every sleep), and may be set at the n-th."""

    def __init__(self, set_at_wait: int = 0):
        super().__init__()
        self.waits: list[float] = []
        self.set_at_wait = set_at_wait

    def wait(self, timeout=None):
        self.waits.append(timeout)
        if len(self.waits) == self.set_at_wait:
            self.set()
        return super().wait(timeout)


def apply_with(client, plan, stop=None, **settings):
    settings = {"poll_min": 0.05, "poll_max": 0.1, "list_lag": 0.0, "timeout": 10.0, **settings}
    return Applier(client, JsonReporter(Environment(stdout=io.StringIO())), ApplySettings(**settings), stop=stop).run(plan)


def prune_plan(sim, client):
    sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": "/b/", "running": True} for n in ("t-keep", "t-old")])
    scoped = Manifest(jobs=(spec("t-keep", "/b/"),), prune_scopes=(PruneScope(Location("m.yaml", 1), prefix="t-"),), files=("m.yaml",), digest="d")
    plan, _ = make_plan(client, scoped, PlanOptions(prune=True))
    assert [c.action for c in plan.changes] == [Action.NOOP, Action.DELETE]
    return plan


def live_names(sim):
    return sorted(j["job_name"] for j in sim.state.list_jobs("proj-1", {"per_page": "1000"})["jobs"])


def test_a_delete_whose_answer_was_lost_is_checked_in_the_list_not_sent_again():
    with SimServer(SimConfig(delete_seconds=1.0)) as sim:
        client = FaultyFirst(sim, "delete_job", "rate_lost_response")
        results = apply_with(client, prune_plan(sim, client))
        assert [(r.job_name, r.outcome.value) for r in results] == [("t-keep", "unchanged"), ("t-old", "deleted")]
        assert sim.stats["DELETE delete"] == 1 and sim.stats["faults.lost_response"] == 1


def test_a_delete_that_failed_is_sent_again_not_reported_done():
    with SimServer(SimConfig(delete_seconds=0.1)) as sim:
        client = FaultyFirst(sim, "delete_job", "rate_5xx")
        results = apply_with(client, prune_plan(sim, client))
        assert [r.outcome.value for r in results] == ["unchanged", "deleted"]
        assert sim.stats["DELETE delete"] == 2 and sim.stats["faults.5xx"] == 1
        time.sleep(0.2)
        assert live_names(sim) == ["t-keep"]


def test_a_create_that_keeps_failing_is_tried_exactly_mutation_attempts_times():
    with SimServer(SimConfig(startup_seconds=0.1)) as sim:
        client = FaultyFirst(sim, "create_job", "rate_5xx", calls=99)
        plan, _ = make_plan(client, manifest(spec("c-1")), PlanOptions())
        [result] = apply_with(client, plan, mutation_attempts=2)
        assert result.outcome.value == "failed" and sim.stats["POST create"] == 2
        assert result.detail.startswith("create c-1 failed after 2 attempts: API error 500 ModelArts.0010")
        assert live_names(sim) == []


def test_a_lost_create_answer_is_settled_by_one_look_at_the_list_once_it_shows_the_job():
    with SimServer(SimConfig(startup_seconds=0.1)) as sim:
        client = FaultyFirst(sim, "create_job", "rate_lost_response")
        plan, _ = make_plan(client, manifest(spec("c-1")), PlanOptions())
        lists = sim.stats["GET list"]
        [result] = apply_with(client, plan, list_lag=5.0, wait=False)
        assert result.outcome.value == "created" and sim.stats["POST create"] == 1
        # one whole read finds the job (no polling to the end of list_lag), one is apply's last look;
        # each is a page and its newest-first cross-check
        assert sim.stats["GET list"] - lists == 2 * 2


def test_a_delete_that_fails_for_good_is_reported_failed_with_its_reason():
    with SimServer(SimConfig()) as sim:
        client = FaultyFirst(sim, "delete_job", "rate_5xx", calls=99)
        [kept, failed] = apply_with(client, prune_plan(sim, client), mutation_attempts=2)
        assert (kept.outcome.value, kept.detail, kept.status) == ("unchanged", "", 8)
        assert failed.outcome.value == "failed" and sim.stats["DELETE delete"] == 2
        assert failed.detail.startswith("delete t-old failed after 2 attempts: API error 500 ModelArts.0010")
        assert live_names(sim) == ["t-keep", "t-old"]


def test_a_create_throttled_on_every_attempt_says_it_was_throttled():
    """The client owns throttle waits (a 429 means nothing was done, so it resends): it waits the advised time."""
    with SimServer(SimConfig(retry_after=0.01)) as sim:
        client = FaultyFirst(sim, "create_job", "rate_429", calls=99)
        client.cancel = stop = Stop()
        plan, _ = make_plan(client, manifest(spec("c-1")), PlanOptions())
        [result] = apply_with(client, plan, mutation_attempts=2)
        assert result.outcome.value == "failed" and live_names(sim) == []
        assert result.detail.startswith("API error 429 APIG.0308") and "[gave up after 6 attempts]" in result.detail
        assert sim.stats["POST create"] == 6
        assert len(stop.waits) == 5 and max(stop.waits) <= 0.05  # the advised Retry-After, not the 2 s default


def test_ctrl_c_between_tries_of_a_create_ends_it_failed_not_created():
    with SimServer(SimConfig()) as sim:
        client = FaultyFirst(sim, "create_job", "rate_5xx", calls=99)
        plan, _ = make_plan(client, manifest(spec("c-1")), PlanOptions())
        [result] = apply_with(client, plan, Stop(set_at_wait=1))
        assert result.outcome.value == "failed" and result.job_id is None and sim.stats["POST create"] == 2
        assert result.detail.startswith("create c-1 failed after 2 attempts, then Ctrl-C: API error 500")  # as many as were made
        assert live_names(sim) == []


def test_an_ambiguous_name_stays_failed_when_apply_changes_other_jobs():
    with SimServer(SimConfig(startup_seconds=0.1)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": "twin", "train_url": "/b/", "running": True}] * 2)
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("twin", "/b/"), spec("new-1")), PlanOptions())
        twin, new = apply_with(client, plan)
        assert (twin.outcome.value, new.outcome.value) == ("failed", "created")
        assert twin.detail.startswith("2 live jobs are named twin")


def test_a_replace_of_an_undeclared_name_is_an_error():
    plan = build_plan(manifest(spec("a")), snap(live(1, "a")), options=PlanOptions(replace=frozenset({"zz", "yy"})))
    assert plan.errors == ("--replace names jobs no manifest declares: yy, zz",)


def test_every_reason_and_note_names_what_differs():
    moved = {"train_url": "/new/", "job_type": "mindinsight"}
    job = live(1, "d", train_url="/old/", job_type="tensorboard")
    drifted = one(build_plan(manifest(spec("d", **moved)), snap(job), {"1": job}), "d")
    assert drifted.reason == "job_type, train_url differs from the manifest"
    assert drifted.notes == ("job_type, train_url cannot be changed in place: use --replace d or replace_on_drift: true",)
    flagged = one(build_plan(manifest(spec("d", **moved, replace_on_drift=True)), snap(job), {"1": job}), "d")
    assert flagged.reason == "job_type, train_url changed and replace_on_drift is set"
    asked = one(build_plan(manifest(spec("d", **moved)), snap(job), {"1": job}, PlanOptions(replace=frozenset({"d"}))), "d")
    assert asked.reason == "replacement requested with --replace"
    restart = one(build_plan(manifest(spec("s", job_desc="new")), snap(live(2, "s", status=12, job_desc="old"))), "s")
    assert (restart.action, restart.reason) == (Action.RESTART, "job is KILLED and job_desc changed")


def test_target_and_quota_messages_are_exact():
    plan = build_plan(manifest(spec("a"), spec("b")), snap(), options=PlanOptions(targets=frozenset({"b", "a", "zz", "yy"}), prune=True))
    assert plan.errors == ("--target names jobs no manifest declares: yy, zz",)
    assert plan.warnings == ("Plan limited to --target a, b, yy, zz: other jobs are not looked at", "--prune is ignored with --target")
    over = build_plan(manifest(spec("a"), spec("b")), snap(limit=1))
    assert over.errors == ("quota: 2 jobs to create but the project may create only 1 more",)
    quoted = build_plan(manifest(spec("a"), spec("b")), LiveSnapshot(jobs=(), job_count_limit=1, quotas=50))
    assert quoted.errors == ("quota: 2 jobs to create but the project may create only 1 more (quota 50)",)


class SeedAfterSend(JsonReporter):
    """Apply's reporter, which seeds ``jobs`` in the simulator once apply has sent its changes (someone else's work)."""

    def __init__(self, sim, jobs):
        super().__init__(Environment(stdout=io.StringIO()))
        self.sim, self.jobs = sim, jobs

    def action_done(self, change, job_id, elapsed):
        super().action_done(change, job_id, elapsed)
        self.sim.state.seed_jobs("proj-1", self.jobs)


def test_a_name_that_got_a_second_live_job_during_apply_ends_duplicate_keeping_what_apply_knew():
    with SimServer(SimConfig(startup_seconds=0.1)) as sim:
        [old] = sim.state.seed_jobs("proj-1", [{"job_name": "old", "train_url": "/b/", "running": True}])
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("old", "/b/"), spec("new-1")), PlanOptions())
        reporter = SeedAfterSend(sim, [{"job_name": "old", "train_url": "/b/", "running": True}])
        settings = ApplySettings(poll_min=0.05, poll_max=0.1, list_lag=0.0, timeout=10.0)
        dup, new = Applier(client, reporter, settings).run(plan)
        assert new.outcome.value == "created"
        assert (dup.outcome.value, dup.status, dup.done.value) == ("duplicate", 8, "unchanged")
        second = next(j["job_id"] for j in sim.state.list_jobs("proj-1", {"per_page": "10"})["jobs"] if j["job_name"] == "old" and j["job_id"] != old["job_id"])
        assert dup.detail == (
            f"2 live jobs are named old (ids {', '.join(sorted([str(old['job_id']), str(second)], key=int))}): "
            "keep one, delete the others in the ModelArts console or API, then run apply again"
        )


def test_a_starting_job_not_waited_for_keeps_the_status_the_plan_read():
    with SimServer(SimConfig(startup_seconds=30)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": "slow", "train_url": "/b/"}])
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("slow", "/b/")), PlanOptions())
        [change] = plan.changes
        [result] = apply_with(client, plan, wait=False)
        assert change.action is Action.WAIT and change.status is not None
        assert (result.outcome.value, result.status, result.detail) == ("unchanged", change.status, "not waited for (--no-wait)")


def stopped_job(sim):
    sim.state.seed_jobs("proj-1", [{"job_name": "s-1", "train_url": "/b/", "job_desc": "old", "status": 12}])


def test_a_restart_first_updates_a_drifted_job_desc():
    with SimServer(SimConfig(startup_seconds=0.1)) as sim:
        stopped_job(sim)
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("s-1", "/b/", job_desc="new")), PlanOptions())
        [result] = apply_with(client, plan)
        assert (result.action, result.outcome.value, result.detail) == (Action.RESTART, "restarted", "")
        [job] = sim.state.list_jobs("proj-1", {"per_page": "10"})["jobs"]
        assert (job["job_desc"], job["status"]) == ("new", 8)
        assert sim.stats["PUT update"] == 1 and sim.stats["POST restart"] == 1


@pytest.mark.parametrize("fault, restarts", [("rate_lost_response", 1), ("rate_5xx", 2)])
def test_a_restart_without_an_answer_is_checked_before_it_is_sent_again(fault, restarts):
    with SimServer(SimConfig(startup_seconds=0.1)) as sim:
        stopped_job(sim)
        client = FaultyFirst(sim, "restart_job", fault)
        plan, _ = make_plan(client, manifest(spec("s-1", "/b/", job_desc="old")), PlanOptions())
        [result] = apply_with(client, plan)
        assert (result.outcome.value, result.status) == ("restarted", 8)
        assert sim.stats["POST restart"] == restarts


def test_a_replace_waits_for_the_old_job_to_go_when_the_api_refuses_a_second_name():
    with SimServer(SimConfig(startup_seconds=0.1, delete_seconds=0.3, reject_duplicate_names=True)) as sim:
        [old] = sim.state.seed_jobs("proj-1", [{"job_name": "r-1", "train_url": "/old/", "running": True}])
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("r-1", "/new/")), PlanOptions(replace=frozenset({"r-1"})))
        [result] = apply_with(client, plan)
        assert (result.outcome.value, result.status) == ("replaced", 8) and result.job_id != str(old["job_id"])
        assert sim.stats["POST create"] == 1


def test_ctrl_c_before_anything_was_sent_ends_not_started():
    with SimServer(SimConfig()) as sim:
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("c-1")), PlanOptions())
        stop = Stop()
        stop.set()
        [result] = apply_with(client, plan, stop)
        assert (result.outcome.value, result.job_id) == ("not started", None) and sim.stats["POST create"] == 0


def test_an_update_is_watched_to_running_and_reported_with_its_job_id():
    with SimServer(SimConfig(startup_seconds=0.1)) as sim:
        [job] = sim.state.seed_jobs("proj-1", [{"job_name": "u-1", "train_url": "/b/", "job_desc": "old", "running": True}])
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("u-1", "/b/", job_desc="new")), PlanOptions())
        out = io.StringIO()
        settings = ApplySettings(poll_min=0.05, poll_max=0.1, list_lag=0.0, timeout=10.0)
        [result] = Applier(client, JsonReporter(Environment(stdout=out)), settings).run(plan)
        assert (result.outcome.value, result.status, result.job_id) == ("updated", 8, str(job["job_id"]))
        assert sim.state.list_jobs("proj-1", {"per_page": "10"})["jobs"][0]["job_desc"] == "new"
        [accepted] = [e for e in map(json.loads, out.getvalue().splitlines()) if e.get("message") == "accepted"]
        assert accepted["job_id"] == str(job["job_id"]) and 0 <= accepted["elapsed"] < 5


def test_a_job_waited_for_reports_its_link_and_how_many_jobs_wait_in_which_status():
    with SimServer(SimConfig(startup_seconds=0.4, fail_pattern="w-f")) as sim:
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("w-1"), spec("w-f")), PlanOptions())
        out = io.StringIO()
        settings = ApplySettings(poll_min=0.05, poll_max=0.1, list_lag=0.0, timeout=10.0)
        results = Applier(client, JsonReporter(Environment(stdout=out)), settings).run(plan)
        assert [(r.outcome.value, r.status, r.detail) for r in results] == [("created", 8, ""), ("failed", 3, "")]
        assert all(r.service_url == f"https://sim.modelarts.local/tensorboard/proj-1/{r.job_id}/" for r in results)
        rounds = [e for e in map(json.loads, out.getvalue().splitlines()) if "waiting" in e]
        assert rounds and all(sum(e["waiting"].values()) in (1, 2) and 0 <= e["elapsed"] < 10 for e in rounds)
        assert set().union(*(e["waiting"] for e in rounds)) <= {"NOT_LISTED", "INIT", "WAITING", "DEPLOYING"}
        assert any(set(e["waiting"]) - {"NOT_LISTED"} for e in rounds)  # the list's own status names


def test_ctrl_c_while_waiting_says_what_was_done_and_the_status_last_seen():
    with SimServer(SimConfig(startup_seconds=30)) as sim:
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("c-1")), PlanOptions())
        [result] = apply_with(client, plan, Stop(set_at_wait=1))
        assert (result.outcome.value, result.done.value) == ("not yet running", "created") and result.status is not None
        assert result.detail == f"still {status_name(result.status)} when interrupted"


def test_an_update_that_failed_is_sent_again():
    with SimServer(SimConfig(startup_seconds=0.1)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": "u-1", "train_url": "/b/", "job_desc": "old", "running": True}])
        client = FaultyFirst(sim, "update_job", "rate_5xx")
        plan, _ = make_plan(client, manifest(spec("u-1", "/b/", job_desc="new")), PlanOptions())
        [result] = apply_with(client, plan)
        assert result.outcome.value == "updated" and sim.stats["PUT update"] == 2
        assert sim.state.list_jobs("proj-1", {"per_page": "10"})["jobs"][0]["job_desc"] == "new"


def test_a_job_still_stopping_is_restarted_once_it_has_stopped():
    with SimServer(SimConfig(startup_seconds=0.1, stop_seconds=0.5)) as sim:
        [job] = sim.state.seed_jobs("proj-1", [{"job_name": "s-1", "train_url": "/b/", "running": True}])
        sim.state.stop_job("proj-1", str(job["job_id"]))
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))
        plan, _ = make_plan(client, manifest(spec("s-1", "/b/")), PlanOptions())
        [result] = apply_with(client, plan)
        assert (plan.changes[0].action, plan.changes[0].status_name) == (Action.RESTART, "KILLING")
        assert (result.outcome.value, result.status) == ("restarted", 8) and sim.stats["POST restart"] == 1
