"""Kill-tests for mutants of the apply loop (applying/machine.py, progress.py) that the suite let through:
tests/MUTATION.md part 3. Real Applier and real client against the simulator over loopback."""

from __future__ import annotations

import io
import json

import pytest
from test_mutation_kills import FaultyFirst, Stop, apply_with, live_names
from test_planner import manifest, spec

from vizctl.api.auth import TokenAuth
from vizctl.api.client import ModelArtsClient
from vizctl.applying.machine import Applier, ApplySettings, JobResult, Outcome
from vizctl.applying.progress import JsonReporter, TextReporter
from vizctl.environment import Environment
from vizctl.planning.manager import make_plan
from vizctl.planning.plan import Action
from vizctl.planning.planner import PlanOptions
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimState

from cliutil import TOKEN


def client_of(sim) -> ModelArtsClient:
    return ModelArtsClient(sim.url, "proj-1", TokenAuth(TOKEN))


def seeded(sim, *names, running=True):
    sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": "/b/logs/", "running": running} for n in names])


# -- _send: every change gets its result --------------------------------------------------


def test_a_replace_cut_short_by_ctrl_c_leaves_the_changes_after_it_not_started_not_unreported():
    """One change ending GaveUp must not end the loop over the others (_send: continue, not break)."""
    with SimServer(SimConfig(delete_seconds=30)) as sim:
        seeded(sim, "a-rep")
        client = client_of(sim)
        plan, _ = make_plan(client, manifest(spec("a-rep"), spec("b-new")), PlanOptions(replace=frozenset({"a-rep"})))
        assert [(c.job_name, c.action.value) for c in plan.changes] == [("a-rep", "replace"), ("b-new", "create")]
        results = apply_with(client, plan, Stop(set_at_wait=1), parallelism=1)
        assert [(r.job_name, r.outcome.value) for r in results] == [("a-rep", "not yet deleted"), ("b-new", "not started")]
        assert live_names(sim) == ["a-rep"] and sim.stats.get("POST create", 0) == 0


def update_plan(sim, client, name="u-1"):
    """A running job whose declared description differs: an in-place update."""
    seeded(sim, name)
    plan, _ = make_plan(client, manifest(spec(name, job_desc="new")), PlanOptions())
    [change] = plan.changes
    assert change.action.value == "update" and change.status == 8
    return plan, change.job_id


def summary_of(results):
    out = io.StringIO()
    JsonReporter(Environment(stdout=out)).summary(results, 0.0)
    return json.loads(out.getvalue())


def test_an_update_refused_for_good_keeps_the_jobs_id_and_status_so_it_still_counts_as_running():
    with SimServer(SimConfig()) as sim:
        client = FaultyFirst(sim, "update_job", "rate_5xx", calls=99)
        plan, job_id = update_plan(sim, client)
        [result] = apply_with(client, plan, mutation_attempts=2)
        assert (result.outcome.value, result.job_id, result.status, result.service_url) == ("failed", job_id, 8, "")
        assert result.detail.startswith("update u-1 failed after 2 attempts: API error 500") and "yet the list" not in result.detail
        assert summary_of([result])["running"] == 1 and sim.stats["PUT update"] == 2


def test_an_update_whose_answer_the_timeout_cut_off_is_status_unknown_with_the_jobs_id_and_status():
    with SimServer(SimConfig()) as sim:
        client = client_of(sim)
        plan, job_id = update_plan(sim, client)
        sim.config.latency = 3.0
        client.start_deadline(1.0)
        [result] = apply_with(client, plan)
        assert (result.outcome.value, result.job_id, result.status) == ("status unknown", job_id, 8)
        assert "may have been carried out" in result.detail and "yet the list" not in result.detail and summary_of([result])["running"] == 1


def test_an_update_interrupted_before_it_was_sent_keeps_the_jobs_id_and_status():
    with SimServer(SimConfig()) as sim:
        client = client_of(sim)
        plan, job_id = update_plan(sim, client)
        stop = Stop()
        stop.set()
        [result] = apply_with(client, plan, stop)
        assert (result.outcome.value, result.job_id, result.status, result.detail) == ("not started", job_id, 8, "interrupted before it was sent")
        assert summary_of([result])["running"] == 1 and sim.stats.get("PUT update", 0) == 0



def test_a_create_cut_off_in_flight_leaves_the_changes_after_it_reported_too():
    """One change ending Unsettled must not end the loop over the others (_send: continue, not break)."""
    with SimServer(SimConfig()) as sim:
        client = client_of(sim)
        plan = create_plan(client, "a-1", "b-1")
        sim.config.latency = 3.0
        client.start_deadline(1.0)
        results = apply_with(client, plan, parallelism=1)
        assert [(r.job_name, r.outcome.value) for r in results] == [("a-1", "status unknown"), ("b-1", "failed")]
        assert "was not sent" in results[1].detail and sim.stats["POST create"] == 1


def test_an_update_that_fails_leaves_the_changes_after_it_reported_too():
    """One change ending failed must not end the loop over the others (_send: continue, not break)."""
    with SimServer(SimConfig()) as sim:
        client = FaultyFirst(sim, "update_job", "rate_5xx", calls=2)
        seeded(sim, "u-1", "u-2")
        plan, _ = make_plan(client, manifest(spec("u-1", job_desc="new"), spec("u-2", job_desc="new")), PlanOptions())
        results = apply_with(client, plan, parallelism=1, mutation_attempts=2)
        assert [(r.job_name, r.outcome.value) for r in results] == [("u-1", "failed"), ("u-2", "updated")]

# -- _cut_short: a mutation the deadline cuts short -----------------------------------------


class SecondCreateAtDeadline(FaultyFirst):
    """The first create is answered 500 (nothing done); the deadline comes before the second, or while it is in flight."""

    def __init__(self, sim, in_flight: bool):
        super().__init__(sim, "create_job", "rate_5xx")
        self.in_flight = in_flight

    def _faulty(self, *args):
        if self.left <= 0:
            if self.in_flight:
                self.sim.config.latency = 3.0
            self.start_deadline(1.0 if self.in_flight else 0.0)
        return super()._faulty(*args)


def create_plan(client, *names):
    plan, _ = make_plan(client, manifest(*(spec(n) for n in names)), PlanOptions())
    return plan


def test_a_create_the_deadline_stops_before_it_is_sent_is_failed_not_status_unknown():
    with SimServer(SimConfig()) as sim:
        client = client_of(sim)
        plan = create_plan(client, "c-1")
        client.start_deadline(0.0)
        [result] = apply_with(client, plan)
        assert (result.outcome.value, result.job_id) == ("failed", None) and sim.stats.get("POST create", 0) == 0
        assert "ran out before creating a job" in result.detail and "was not sent" in result.detail


def test_a_create_failed_once_then_stopped_by_the_deadline_before_the_next_try_is_failed_with_both_reasons():
    with SimServer(SimConfig()) as sim:
        client = SecondCreateAtDeadline(sim, in_flight=False)
        [result] = apply_with(client, create_plan(client, "c-1"))
        assert result.outcome.value == "failed" and sim.stats["POST create"] == 1 and live_names(sim) == []
        assert result.detail.startswith("create c-1 failed: API error 500 ModelArts.0010")
        assert "; then --timeout (0 s) ran out before creating a job" in result.detail


def test_a_create_failed_once_then_cut_off_in_flight_by_the_deadline_is_status_unknown_with_both_reasons():
    with SimServer(SimConfig()) as sim:
        client = SecondCreateAtDeadline(sim, in_flight=True)
        [result] = apply_with(client, create_plan(client, "c-1"))
        assert result.outcome.value == "status unknown" and sim.stats["POST create"] == 2
        assert result.detail.startswith("create c-1 may have been carried out: API error 500 ModelArts.0010")
        assert "; then --timeout (1 s) ran out while creating a job" in result.detail


def test_a_create_cut_off_in_flight_by_the_deadline_is_status_unknown_saying_so():
    with SimServer(SimConfig()) as sim:
        client = client_of(sim)
        plan = create_plan(client, "c-1")
        sim.config.latency = 3.0
        client.start_deadline(1.0)
        [result] = apply_with(client, plan)
        assert result.outcome.value == "status unknown" and sim.stats["POST create"] == 1
        assert result.detail.startswith("create c-1: --timeout (1 s) ran out while creating a job")
        assert "it may have been carried out" in result.detail


# -- _remaining, _timed_read: a wait ends at --timeout less the final read's time, not sooner, not later ------


class SteppedClock:
    """One clock for the simulator and the applier that only sleeping moves: no real waiting, no timing luck."""

    def __init__(self):
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds < 50 and len(self.sleeps) < 500, "the wait did not end by its timeout"
        self.sleeps.append(seconds)
        self.now += seconds


class SlowWholeList(ModelArtsClient):
    """A real client whose whole-list reads take ``slow`` seconds of the stepped clock (a large project)."""

    def __init__(self, sim, clock: SteppedClock):
        super().__init__(sim.url, "proj-1", TokenAuth(TOKEN))
        self.clock, self.slow = clock, 0.0

    def list_all(self, *args, **kwargs):
        self.clock.now += self.slow
        return super().list_all(*args, **kwargs)


def stepped_apply(startup: float, timeout: float, slow_list: float = 0.0, list_lag: float = 0.0):
    clock = SteppedClock()
    state = SimState(SimConfig(startup_seconds=startup), clock=clock)
    with SimServer(state=state) as sim:
        client = SlowWholeList(sim, clock)
        plan = create_plan(client, "w-1")
        client.slow = slow_list
        settings = ApplySettings(poll_min=0.5, poll_max=1.0, list_lag=list_lag, timeout=timeout)
        applier = Applier(client, JsonReporter(Environment(stdout=io.StringIO())), settings, clock=clock, sleep=clock.sleep)
        started = clock.now
        [result] = applier.run(plan)
        return result, clock.now - started


def test_a_job_that_runs_after_half_the_timeout_is_waited_for():
    result, took = stepped_apply(startup=5.0, timeout=8.0)
    assert (result.outcome.value, result.status) == ("created", 8) and 5.0 <= took < 6.5
    assert 5.0 <= result.elapsed <= took  # seconds since apply started, as the events say


def test_a_job_that_never_runs_is_waited_for_until_the_timeout_less_the_time_kept_for_the_final_read():
    result, took = stepped_apply(startup=600.0, timeout=8.0)
    assert result.outcome.value == "timed out" and result.detail.startswith("still ") and "after 8s" in result.detail
    # the wait leaves the final read the longest list read yet (none take time here) and two minimal requests (0.1 s)
    assert took == pytest.approx(7.8)


def test_the_wait_leaves_the_final_read_as_long_as_the_longest_list_read_took():
    """The whole-list reads take 3.5 s of --timeout 8: the wait ends by 4.3 s so the final read ends by 7.8 s."""
    result, took = stepped_apply(startup=600.0, timeout=8.0, slow_list=3.5)
    assert result.outcome.value == "timed out" and took == pytest.approx(7.8)


# -- _settle_races ------------------------------------------------------------------------


def test_each_created_job_that_lost_a_race_adopts_the_winner_not_only_the_first():
    """A rival b-1 appears after the plan (a concurrent apply): a-1 is kept, b-1 is checked too and adopts the rival."""
    with SimServer(SimConfig(startup_seconds=0.2, delete_seconds=0.2)) as sim:
        client = client_of(sim)
        plan = create_plan(client, "a-1", "b-1")
        [rival] = sim.state.seed_jobs("proj-1", [{"job_name": "b-1", "train_url": "/b/logs/", "running": True}])
        a, b = apply_with(client, plan)
        assert (a.outcome.value, b.outcome.value) == ("created", "adopted")
        assert b.job_id == str(rival["job_id"]) and "is being deleted" in b.detail
        assert sim.stats["POST create"] == 2 and sim.stats["DELETE delete"] == 1


def test_a_created_job_the_list_does_not_show_yet_is_waited_for_not_a_crash():
    with SimServer(SimConfig(startup_seconds=0.2, list_lag=1.0)) as sim:
        client = client_of(sim)
        [result] = apply_with(client, create_plan(client, "l-1"))
        assert (result.outcome.value, result.status) == ("created", 8) and sim.stats["POST create"] == 1


def test_list_lag_is_waited_only_while_the_list_does_not_yet_show_what_apply_looks_for():
    """--list-lag 5: the list shows the new job at once, so neither the race check nor the final read waits 5 s."""
    result, took = stepped_apply(startup=1.0, timeout=30.0, list_lag=5.0)
    assert result.outcome.value == "created" and 1.0 <= took < 2.5


def test_a_race_whose_delete_fails_does_not_stop_the_next_lost_race_being_settled():
    with SimServer(SimConfig(startup_seconds=0.2, delete_seconds=0.2)) as sim:
        client = FaultyFirst(sim, "delete_job", "rate_5xx", calls=1)
        plan = create_plan(client, "a-1", "b-1")
        sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": "/b/logs/", "running": True} for n in ("a-1", "b-1")])
        a, b = apply_with(client, plan, mutation_attempts=1)
        assert (a.outcome.value, b.outcome.value) == ("duplicate", "adopted")
        assert sim.stats["DELETE delete"] == 2 and live_names(sim).count("a-1") == 2  # the failed delete is not sent again


# -- _wait --------------------------------------------------------------------------------


def test_a_job_that_runs_is_seen_running_even_while_a_job_before_it_stays_pending():
    """a-1 stays INIT for good; b-1, created after it in plan order, runs within a second: created, not timed out."""
    clock = SteppedClock()
    state = SimState(SimConfig(startup_seconds=1.0), clock=clock)
    with SimServer(state=state) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": "a-1", "train_url": "/b/logs/", "status": 1}])
        client = client_of(sim)
        plan = create_plan(client, "a-1", "b-1")
        assert [(c.job_name, c.action.value) for c in plan.changes] == [("a-1", "wait"), ("b-1", "create")]
        settings = ApplySettings(poll_min=0.5, poll_max=1.0, list_lag=0, timeout=8.0)
        applier = Applier(client, JsonReporter(Environment(stdout=io.StringIO())), settings, clock=clock, sleep=clock.sleep)
        a, b = applier.run(plan)
    assert (a.outcome.value, a.status) == ("timed out", 1)
    assert (b.outcome.value, b.status) == ("created", 8)


class ThrottledWhileWaiting(ModelArtsClient):
    """A real client: once the wait starts, the list answers 429 with a Retry-After beyond the command's deadline."""

    def __init__(self, sim):
        super().__init__(sim.url, "proj-1", TokenAuth(TOKEN))
        self.sim = sim

    def list_newest(self, *args, **kwargs):
        self.sim.config.rate_429 = 1.0
        return super().list_newest(*args, **kwargs)


def test_a_wait_the_deadline_cuts_while_throttled_still_reports_every_job():
    with SimServer(SimConfig(startup_seconds=600, retry_after=30)) as sim:
        client = ThrottledWhileWaiting(sim)
        plan = create_plan(client, "t-1")
        client.start_deadline(5.0)
        [result] = apply_with(client, plan, timeout=5.0)
        assert result.outcome.value == "timed out" and result.job_name == "t-1" and sim.stats["POST create"] == 1


# -- progress.py: the outcome words and counts each reporter gives (not the layout) --------------------

MIXED = [
    JobResult("a", Action.CREATE, Outcome.CREATED, job_id="1", status=8, elapsed=1.23456, service_url="https://tb/1/"),
    JobResult("b", Action.CREATE, Outcome.NOT_RUNNING, "still INIT when interrupted", job_id="2", status=1, done=Outcome.CREATED),
    JobResult("c", Action.UPDATE, Outcome.FAILED, "API error 400", job_id="3", status=8),
    JobResult("d", Action.DELETE, Outcome.DELETED, job_id="4"),
    JobResult("e", Action.CREATE, Outcome.CREATED, job_id="5", status=8),
]


def json_events(feed) -> list[dict]:
    out = io.StringIO()
    feed(JsonReporter(Environment(stdout=out), "apply"))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def text_lines(feed, command="apply") -> list[str]:
    out = io.StringIO()
    feed(TextReporter(Environment(stdout=out), command))
    return out.getvalue().splitlines()


def test_the_json_summary_counts_each_outcome_the_jobs_running_and_is_ok_only_when_every_outcome_is():
    [summary] = json_events(lambda r: r.summary(MIXED, 2.34567))
    assert (summary["type"], summary["command"], summary["ok"], summary["elapsed"]) == ("summary", "apply", False, 2.346)
    assert summary["outcomes"] == {"created": 2, "not yet running": 1, "failed": 1, "deleted": 1}
    assert summary["running"] == 3  # a, c (its update failed, it still runs) and e; d is a delete
    assert [(j["job_name"], j["outcome"], j["done"], j["status"], j["status_name"]) for j in summary["jobs"]] == [
        ("a", "created", None, 8, "RUNNING"), ("b", "not yet running", "created", 1, "INIT"), ("c", "failed", None, 8, "RUNNING"),
        ("d", "deleted", None, None, None), ("e", "created", None, 8, "RUNNING"),
    ]
    assert summary["jobs"][2] == {  # every field of the documented JSON
        "job_name": "c", "action": "update", "outcome": "failed", "done": None, "job_id": "3", "status": 8,
        "status_name": "RUNNING", "detail": "API error 400", "service_url": None,
    }
    assert summary["jobs"][0]["service_url"] == "https://tb/1/"
    [good] = json_events(lambda r: r.summary([MIXED[0], MIXED[3]], 2.0))
    assert good["ok"] is True and good["running"] == 1


def test_json_events_say_whether_each_outcome_went_well_and_what_a_correction_replaced():
    settled = json_events(lambda r: [r.job_settled(x) for x in MIXED[:3]])
    assert settled[0]["elapsed"] == 1.235
    assert [(e["type"], e["job_name"], e["outcome"]) for e in settled] == [
        ("apply_complete", "a", "created"), ("apply_errored", "b", "not yet running"), ("apply_errored", "c", "failed")]
    missing = JobResult("a", Action.CREATE, Outcome.MISSING, "job 1 is no longer listed", job_id="1", elapsed=1.23456, done=Outcome.CREATED)
    [corrected] = json_events(lambda r: r.job_corrected(missing, MIXED[0]))
    assert corrected["elapsed"] == 1.235
    assert (corrected["type"], corrected["outcome"], corrected["done"], corrected["ok"], corrected["was"]) == (
        "apply_corrected", "missing", "created", False, "created")


def test_the_text_summary_counts_each_outcome_and_the_jobs_running_and_marks_each_job():
    lines = text_lines(lambda r: r.summary(MIXED, 2.0))
    assert lines[1] == "Apply finished with problems in 2.0s: 2 created, 1 deleted, 1 failed, 1 not yet running; 3 of 4 running."
    assert [line.split()[:3] for line in lines[2:]] == [
        ["✓", "a", "created,"], ["✗", "b", "created,"], ["✗", "c", "failed,"], ["✓", "d", "deleted"], ["✓", "e", "created,"]]
    assert "created, not yet running, INIT (job 2): still INIT when interrupted" in lines[3]
    assert lines[2].endswith("created, RUNNING (job 1)  https://tb/1/") and lines[4].endswith("(job 3): API error 400")
    assert text_lines(lambda r: r.summary([MIXED[3]], 1.0), "destroy")[1] == "Destroy complete in 1.0s: 1 deleted."
    assert text_lines(lambda r: r.summary([], 1.0))[1] == "Apply complete in 1.0s: nothing to do; 0 of 0 running."


def test_text_events_mark_each_outcome_and_say_what_a_correction_replaced():
    missing = JobResult("a", Action.CREATE, Outcome.MISSING, "job 1 is no longer listed", job_id="1", done=Outcome.CREATED)
    deleting = JobResult("d", Action.DELETE, Outcome.DELETING, "not waited for (--no-wait)", job_id="4")
    lines = text_lines(lambda r: (r.job_settled(MIXED[0]), r.job_settled(MIXED[2]), r.job_corrected(missing, MIXED[0]),
                                  r.job_corrected(MIXED[3], deleting)))
    assert [line.split(" [")[0] for line in lines] == [
        "✓ a: created, RUNNING (job 1)", "✗ c: failed, RUNNING (job 3): API error 400",
        "✗ a: created, missing (job 1): job 1 is no longer listed (the final read corrects: created)",
        "✓ d: deleted (job 4) (the final read corrects: deleting)"]


# -- _verify ------------------------------------------------------------------------------


def test_a_job_that_turns_duplicate_at_the_final_read_keeps_its_status_and_what_apply_did():
    """A second live job of the name appears once d-1 runs: duplicate, and d-1 still counts as running."""
    with SimServer(SimConfig(startup_seconds=0.2)) as sim:
        client = client_of(sim)
        plan = create_plan(client, "d-1")

        class RivalOnceSettled(JsonReporter):
            def job_settled(self, result):
                super().job_settled(result)
                seeded(sim, "d-1")

        settings = ApplySettings(poll_min=0.05, poll_max=0.1, list_lag=0, timeout=10)
        [result] = Applier(client, RivalOnceSettled(Environment(stdout=io.StringIO())), settings).run(plan)
        assert (result.outcome.value, result.done.value, result.status) == ("duplicate", "created", 8)
        assert summary_of([result])["running"] == 1 and "2 live jobs are named d-1" in result.detail
        assert result.service_url.endswith(f"/{result.job_id}/")  # the link the wait saw is kept


def test_a_lost_race_whose_delete_is_answered_500_once_looks_at_the_list_and_deletes_again():
    with SimServer(SimConfig(startup_seconds=0.2, delete_seconds=0.2)) as sim:
        client = FaultyFirst(sim, "delete_job", "rate_5xx", calls=1)
        plan = create_plan(client, "r-1")
        seeded(sim, "r-1")
        [result] = apply_with(client, plan, mutation_attempts=2)
        assert result.outcome.value == "adopted" and sim.stats["DELETE delete"] == 2


def test_a_delete_timed_out_in_the_wait_but_gone_at_the_final_read_is_deleted():
    """The final read is the truth: a job still KILLING when the wait gave up, gone a moment later, was deleted."""
    from vizctl.commands.destroy import destroy_plan

    clock = SteppedClock()
    state = SimState(SimConfig(delete_seconds=7.9), clock=clock)  # KILLING when the wait gives up (7.8), gone at the final read (8.0)
    with SimServer(state=state) as sim:
        seeded(sim, "d-1")
        client = SlowWholeList(sim, clock)
        plan = destroy_plan(create_plan(client, "d-1"))
        client.slow = 0.2
        feed = io.StringIO()
        settings = ApplySettings(poll_min=0.5, poll_max=1.0, list_lag=0.0, timeout=8.0)
        applier = Applier(client, JsonReporter(Environment(stdout=feed)), settings, clock=clock, sleep=clock.sleep)
        [result] = applier.run(plan)
    assert (result.action, result.outcome, result.status) == (Action.DELETE, Outcome.DELETED, None), result
    events = [json.loads(line) for line in feed.getvalue().splitlines()]
    assert [(e["outcome"], e["was"]) for e in events if e["type"] == "apply_corrected"] == [("deleted", "timed out")], events
