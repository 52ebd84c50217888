"""The documents' other readings: the simulator serves each on request, and vizctl reads each.

A conforming server may differ from the simulator's defaults wherever the API
reference, its Chinese twin, the SDK page and the public client disagree or
say nothing; docs/api-readings.md lists each reading. The tests drive the
simulator over HTTP and vizctl end to end.
"""

from __future__ import annotations

import argparse
import email.utils
import io
import json
import time

import pytest
import requests

from cliutil import manifest_of, run
from vizctl.applying.machine import Applier, ApplySettings, Outcome
from vizctl.api.auth import TokenAuth
from vizctl.api.client import ModelArtsClient
from vizctl.commands.destroy import destroy_plan
from vizctl.environment import Environment
from vizctl.errors import ThrottledError
from vizctl.planning.manager import make_plan
from vizctl.manifests.loader import load_manifests
from vizctl.planning.planner import PlanOptions
from vizctl.applying.progress import JsonReporter
from vizctl.api.retry import RetryPolicy
from vizctl.sim import SimConfig, SimServer, add_arguments

AUTH = {"X-Auth-Token": "any-token"}
FAST = dict(startup_seconds=0.3, delete_seconds=0.2, stop_seconds=0.1)


@pytest.fixture
def make_sim():
    servers: list[SimServer] = []

    def make(**settings) -> SimServer:
        servers.append(SimServer(SimConfig(**{**FAST, **settings})).start())
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def url(sim, suffix=""):
    return f"{sim.url}/v1/proj-1/visualization-jobs{suffix}"


def seed(sim, *names, **fields):
    return sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/bucket/{n}/logs/", "running": True, **fields}
                                          for n in names])


def names(sim, **params):
    return [j["job_name"] for j in requests.get(url(sim), params=params, headers=AUTH, timeout=5).json()["jobs"]]


# -- the simulator serves each reading ------------------------------------------------------


@pytest.mark.parametrize("sort_param, honoured", [("both", {"sortBy", "sort_by"}), ("sortBy", {"sortBy"}),
                                                  ("sort_by", {"sort_by"}), ("none", set())])
def test_sim_honours_the_configured_sort_spelling_and_else_its_default_order(make_sim, sort_param, honoured):
    sim = make_sim(sort_param=sort_param, default_sort_by="job_name")
    seed(sim, "bravo", "alpha", "charlie")
    for spelling in ("sortBy", "sort_by"):
        got = names(sim, **{spelling: "job_id", "order": "desc"})
        assert got == (["charlie", "alpha", "bravo"] if spelling in honoured else
                       ["charlie", "bravo", "alpha"] if honoured else ["alpha", "bravo", "charlie"])
    assert names(sim) == ["alpha", "bravo", "charlie"]  # the SDK page's default order: job_name


def test_sim_readings_of_answers(make_sim):
    sim = make_sim(create_answer_minimal=True, sparse_list_items=True, extra_list_fields=True, no_quota_fields=True,
                   details_schedule_as_list=True, not_found_status=404, error_message_key="error_msg")
    created = requests.post(url(sim), json={"job_name": "a", "train_url": "/b/", "flavor": {"code": "c"},
                                            "schedule": {"type": "stop", "time_unit": "HOURS", "duration": 2}},
                            headers=AUTH, timeout=5).json()
    assert created == {"is_success": True, "job_id": "1", "job_name": "a"}
    listed = requests.get(url(sim), headers=AUTH, timeout=5).json()
    assert "quotas" not in listed and "job_count_limit" not in listed and listed["workspace_id"] == "0"
    assert set(listed["jobs"][0]) == {"job_id", "job_name", "status", "train_url", "workspace_id", "user_name", "ai_project"}
    details = requests.get(url(sim, "/1"), headers=AUTH, timeout=5).json()
    assert details["schedule"] == [{"type": "stop", "time_unit": "HOURS", "duration": 2}]
    assert details["flavor"]["code"] == "c" and len(details["flavor"]) > 1
    long_search = {"search_content": "x" * 100}
    assert requests.get(url(sim), params=long_search, headers=AUTH, timeout=5).json()["error_code"] == "ModelArts.0104"
    sim.config.update({"max_search_content": 100})
    assert requests.get(url(sim), params=long_search, headers=AUTH, timeout=5).status_code == 200
    gone = requests.get(url(sim, "/99"), headers=AUTH, timeout=5)
    assert gone.status_code == 404 and gone.json()["error_code"] == "ModelArts.0102"
    assert "error_msg" in gone.json() and "error_message" not in gone.json()


@pytest.mark.parametrize("reading", ["seconds", "http-date", "absent"])
def test_sim_retry_after_readings(make_sim, reading):
    sim = make_sim(rate_429=1.0, retry_after=2, retry_after_format=reading)
    r = requests.get(url(sim), headers=AUTH, timeout=5)
    assert r.status_code == 429
    value = r.headers.get("Retry-After")
    if reading == "seconds":
        assert value == "2"
    elif reading == "http-date":
        assert 1 <= email.utils.parsedate_to_datetime(value).timestamp() - time.time() <= 3
    else:
        assert value is None


def test_sim_reading_flags_and_admin_config(make_sim):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(["--sort-param", "sort_by", "--default-sort-by", "job_name", "--retry-after-format", "absent",
                            "--not-found-status", "404", "--error-message-key", "error_msg", "--create-answer-minimal",
                            "--sparse-list-items", "--extra-list-fields", "--no-quota-fields", "--details-schedule-as-list"])
    config = SimConfig.from_args(ns)
    assert (config.sort_param, config.default_sort_by, config.retry_after_format, config.not_found_status) == (
        "sort_by", "job_name", "absent", 404)
    assert config.create_answer_minimal and config.sparse_list_items and config.details_schedule_as_list
    assert SimConfig.from_args(parser.parse_args([])) == SimConfig()  # unset flags keep the defaults
    sim = make_sim()
    r = requests.post(f"{sim.url}/__sim__/config", json={"sort_param": "none", "no_quota_fields": True}, timeout=5)
    assert r.status_code == 200 and sim.config.sort_param == "none" and sim.config.no_quota_fields
    assert requests.post(f"{sim.url}/__sim__/config", json={"sort_param": "sortby"}, timeout=5).status_code == 400
    with pytest.raises(ValueError, match="not_found_status"):
        SimConfig(not_found_status=500)


# -- vizctl reads each reading ---------------------------------------------------------------


def test_list_items_without_job_desc_are_not_planned_as_emptied_descriptions(tmp_path, make_sim):
    """A list without the optional job_desc: its value comes from the details, not from "" (an update every apply)."""
    sim = make_sim(sparse_list_items=True)
    seed(sim, "same", job_desc="as declared")
    seed(sim, "moved", job_desc="old words")
    m = manifest_of(tmp_path / "m.yaml", "same", "moved", job_desc='"as declared"')
    plan = run("plan", "-f", str(m), "--output", "json", "--no-cache", sim=sim)
    actions = {c["job_name"]: c["action"] for c in json.loads(plan.out)["changes"]}
    assert actions == {"same": "no-op", "moved": "update"}, plan.all
    assert run("apply", "-f", str(m), "--auto-approve", sim=sim).code == 0
    assert sim.stats["PUT update"] == 1
    assert run("plan", "-f", str(m), "--detailed-exitcode", sim=sim, env={"VIZCTL_CACHE_DIR": str(tmp_path)}).code == 0


@pytest.mark.parametrize("spelling", ["sortBy", "sort_by"])
def test_the_list_is_read_newest_first_whichever_sort_spelling_the_server_honours(tmp_path, make_sim, spelling):
    """The documents name the sort parameter sortBy (API page, AK/SK) and sort_by (SDK page, password;
    the public client): vizctl sends both. Otherwise a server honouring only sort_by lists by its own
    default, job_name, and every wait round reads every page to find a new job."""
    sim = make_sim(max_per_page=10, sort_param=spelling, default_sort_by="job_name")
    sim.state.seed_jobs("proj-1", [{"job_name": f"m{i:02}", "train_url": "/x/", "running": True} for i in range(25)])
    m = manifest_of(tmp_path / "m.yaml", "aa-new")  # first by name: last on a newest-first page of a job_name order
    sim.reset_stats()
    assert run("apply", "-f", str(m), "--auto-approve", sim=sim).code == 0
    # plan, settle and verify each read 3 pages + 1 newest-first; a wait round (1 or 2 of them) reads
    # 1 page when the new job comes first (ids descending), not the 3 pages of a job_name order
    waits = sim.stats["GET list"] - 3 * 4
    assert 1 <= waits <= 2, sim.stats


@pytest.mark.parametrize("reading, seconds, low, high", [("seconds", 30, 30, 30), ("http-date", 30, 28, 31),
                                                        ("absent", 30, 2, 2), ("http-date", 0, 2, 2)])
def test_a_throttled_request_waits_as_the_retry_after_of_either_form_says(make_sim, reading, seconds, low, high):
    """Retry-After in seconds or as an HTTP date is waited out; without one, or with a date already
    past on our clock (the clocks differ), the gateway's own 2 s rather than a burst of retries."""
    sim = make_sim(rate_429=1.0, retry_after=seconds, retry_after_format=reading)
    waits: list[float] = []
    client = ModelArtsClient(sim.url, "proj-1", TokenAuth("t0ken"), sleep=waits.append,
                             retry=RetryPolicy(attempts=2, jitter=False))
    with pytest.raises(ThrottledError):
        client.list_page(1)
    assert len(waits) == 1 and low <= waits[0] <= high


@pytest.mark.parametrize("settings", [dict(create_answer_minimal=True), dict(numbers_as_strings=False),
                                      dict(extra_list_fields=True, no_quota_fields=True, error_message_key="error_msg")])
def test_create_answers_and_lists_of_every_reading_make_one_job_that_runs(tmp_path, make_sim, settings):
    """A create answered with a string or numeric id, or with nothing beyond it; lists with unknown
    fields and no quota fields: one create, the job seen running, then a clean plan and status."""
    sim = make_sim(reject_duplicate_names=True, **settings)
    m = manifest_of(tmp_path / "m.yaml", "r-1")
    applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
    assert applied.code == 0 and "created, RUNNING" in applied.out, applied.all
    assert sim.stats["POST create"] == 1
    assert run("plan", "-f", str(m), "--detailed-exitcode", sim=sim).code == 0
    status = run("status", "--output", "json", sim=sim)
    assert status.code == 0 and "r-1" in status.out and "Traceback" not in status.all


# -- a job that changed between the plan and its change: the list settles what happened ----------


def test_destroy_of_a_job_already_being_deleted_ends_deleted(tmp_path, make_sim):
    sim = make_sim(delete_seconds=1.0)
    [job] = seed(sim, "k-1")
    sim.state.delete_job("proj-1", str(job["job_id"]))  # someone else's delete: KILLING for 1 s, then gone
    m = manifest_of(tmp_path / "m.yaml", "k-1")
    destroyed = run("destroy", "-f", str(m), "--auto-approve", sim=sim)
    assert destroyed.code == 0, destroyed.all


def test_apply_right_after_a_destroy_creates_the_job_again(tmp_path, make_sim):
    sim = make_sim(delete_seconds=1.0)
    [job] = seed(sim, "again-1")
    sim.state.delete_job("proj-1", str(job["job_id"]))  # a destroy that is still under way
    applied = run("apply", "-f", str(manifest_of(tmp_path / "m.yaml", "again-1")), "--auto-approve", sim=sim)
    assert applied.code == 0 and "RUNNING" in applied.out, applied.all


def test_a_planned_restart_of_a_job_restarted_meanwhile_ends_running(tmp_path, make_sim):
    sim = make_sim(stop_seconds=0.0)
    [job] = seed(sim, "rs-1")
    sim.state.stop_job("proj-1", str(job["job_id"]))
    client = ModelArtsClient(sim.url, "proj-1", TokenAuth("t0ken"))
    plan, _ = make_plan(client, load_manifests([str(manifest_of(tmp_path / "m.yaml", "rs-1"))]), PlanOptions())
    assert [c.action.value for c in plan.changes] == ["restart"]
    sim.state.restart_job("proj-1", str(job["job_id"]))  # another client's restart, before ours is sent
    [result] = Applier(client, JsonReporter(Environment(stdout=io.StringIO())), ApplySettings(list_lag=0)).run(plan)
    assert result.outcome.ok and result.running, result


@pytest.mark.parametrize("not_found_status", [400, 404])
def test_a_planned_delete_of_a_job_gone_meanwhile_ends_deleted(tmp_path, make_sim, not_found_status):
    sim = make_sim(not_found_status=not_found_status, delete_seconds=0.0)
    [job] = seed(sim, "g-1")
    client = ModelArtsClient(sim.url, "proj-1", TokenAuth("t0ken"))
    plan, _ = make_plan(client, load_manifests([str(manifest_of(tmp_path / "m.yaml", "g-1"))]), PlanOptions())
    sim.state.delete_job("proj-1", str(job["job_id"]))  # gone before apply sends its delete
    [result] = Applier(client, JsonReporter(Environment(stdout=io.StringIO())), ApplySettings(list_lag=0)).run(destroy_plan(plan))
    assert result.outcome is Outcome.DELETED, result


@pytest.mark.parametrize("as_list", [False, True])
def test_a_schedule_whose_duration_is_a_string_is_not_drift(tmp_path, make_sim, as_list):
    """The create sample answers numbers as strings; details may too, inside schedule (object or list)."""
    sim = make_sim(details_schedule_as_list=as_list)
    seed(sim, "s-1", schedule={"type": "stop", "time_unit": "HOURS", "duration": 2}, flavor={"code": "cpu-2u"})
    sim.config.update({"rate_retyped": 1.0})
    details = requests.get(url(sim, "/1"), headers=AUTH, timeout=5).json()
    assert (details["schedule"][0] if as_list else details["schedule"])["duration"] == "2"
    m = manifest_of(tmp_path / "m.yaml", "s-1", schedule="{duration: 2}", flavor="{code: cpu-2u}")
    planned = run("plan", "-f", str(m), "--detailed-exitcode", "--no-cache", sim=sim)
    assert planned.code == 0, planned.all
    exported = run("export", sim=sim)
    assert exported.code == 0 and "duration: 2" in exported.out, exported.all


@pytest.mark.parametrize("argv, words", [(["--not-found-status", "500"], "not_found_status must be 400 or 404"),
                                         (["--rate-429", "2"], "rate_429 must be within [0, 1]")])
def test_sim_serve_refuses_an_out_of_range_setting_in_one_line(argv, words):
    result = run("sim", "serve", "--port", "0", *argv)
    assert result.code == 64 and words in result.err and "Traceback" not in result.all, result.all


def test_sim_serve_refuses_a_damaged_state_file_in_one_line(tmp_path):
    (tmp_path / "sim.json").write_text("{")
    result = run("sim", "serve", "--port", "0", "--state", str(tmp_path / "sim.json"))
    assert result.code != 0 and "cannot read simulator state" in result.err and "Traceback" not in result.all, result.all


def test_a_job_desc_no_answer_carried_is_unknown_not_empty():
    from vizctl.model import LiveJob
    from vizctl.planning.planner import live_fields

    listed = LiveJob(job_id="1", job_name="a", status=8, job_desc=None, train_url="/b/")
    assert live_fields(listed, None) == {"train_url": "/b/"}  # shown as nothing, never drift
    assert live_fields(listed, listed)["job_desc"] == ""  # the details left it out too: empty
    assert live_fields(listed, LiveJob(job_id="1", job_name="a", status=8, job_desc="d", train_url="/b/"))["job_desc"] == "d"


OTHER_READINGS = dict(
    numbers_as_strings=False, create_answer_minimal=True, sort_param="sort_by", default_sort_by="job_name",
    max_per_page=2, not_found_status=404, error_message_key="error_msg",
    reject_duplicate_names=True, extra_list_fields=True, no_quota_fields=True, details_schedule_as_list=True,
    retry_after_format="http-date", sparse_list_items=True, rate_retyped=1.0,
)


def test_every_command_against_a_server_of_all_the_other_readings_at_once(tmp_path, make_sim):
    """plan (saved), apply, plan again, wait, status, export, destroy: each answer read, each outcome true."""
    sim = make_sim(**OTHER_READINGS)
    seed(sim, "other-1", "other-2", "other-3")
    m = manifest_of(tmp_path / "m.yaml", "all-a", "all-b", job_desc='"words"', schedule="{duration: 2}",
                    flavor="{code: cpu-2u}")
    steps = [("plan", "-f", str(m), "--out", str(tmp_path / "p.json")), ("apply", str(tmp_path / "p.json"), "--auto-approve"),
             ("plan", "-f", str(m), "--detailed-exitcode"), ("wait", "-f", str(m)), ("status", "-f", str(m)),
             ("export",), ("destroy", "-f", str(m), "--auto-approve")]
    for argv in steps:
        result = run(*argv, sim=sim, env={"VIZCTL_CACHE_DIR": str(tmp_path / "cache")})
        assert result.code == 0 and "Traceback" not in result.all, (argv, result.all)
        if argv[0] == "export":
            assert result.out.count("duration: 2") == 2 and "code: cpu-2u" in result.out, result.out
    assert sim.stats["POST create"] == 2 and sim.stats["DELETE delete"] == 2 and "PUT update" not in sim.stats


def test_a_server_of_the_sdk_pages_sort_keys_refuses_job_id_and_vizctl_sorts_by_create_time(tmp_path, make_sim):
    """The SDK page lists job_name, job_desc, status, duration, create_time and log_dir, not job_id:
    such a server refuses sortBy=job_id with 400. vizctl then sorts by create_time (new jobs still
    last) for the rest of the run, instead of failing every list read."""
    sim = make_sim(sort_keys="sdk", max_per_page=100, refuse_over_max_per_page=True)
    assert requests.get(url(sim), params={"sortBy": "job_id"}, headers=AUTH, timeout=5).status_code == 400
    seed(sim, "old-1", "old-2")
    sim.reset_stats()
    m = manifest_of(tmp_path / "m.yaml", "sk-1", "old-1")
    applied = run("apply", "-f", str(m), "--auto-approve", sim=sim)
    assert applied.code == 0 and "created, RUNNING" in applied.out, applied.all
    assert "sorting by create_time" in applied.err and applied.err.count("refused") == 2, applied.err
    # page 1 refused twice (sort, then per_page); its newest-first cross-check, asked at once, refused
    # too unless it left after the sort fell back: one notice for each step all the same
    assert sim.stats["POST create"] == 1 and sim.stats["answer ModelArts.0101"] in (2, 3)
