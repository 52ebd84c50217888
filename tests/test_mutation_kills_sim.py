"""Kill-tests for the mutation run over the simulator (tests/MUTATION.md, part 3).

Each pins what a mutant of ``vizctl/sim/`` changed without another test noticing. The
simulator is driven over real loopback HTTP (requests); pure state functions are tested
directly. Where a test pins a reading of the API reference (/work/shared/api/), its
docstring names the file.
"""

from __future__ import annotations

import email.utils
import json
import os
import resource
import signal
from typing import Any, Callable

import pytest
import requests

from test_sim import AUTH, Clock, action, create, detail, jobs_url, listing, make_sim, status_of  # noqa: F401 (fixture)
from test_sim_part2 import AK, GOOD_RECORD, SK, jobs_path, raw_post, sdk_signed, state_of
from vizctl.model import Status
from vizctl.sim import SimConfig, SimState
from vizctl.sim.state import SimApiError, SimStateError, _reason

# -- state.py: the operations on one job beside others ---------------------------------------------


def test_stop_restart_and_a_forced_status_work_beside_a_job_still_being_deleted(make_sim):
    """A job still KILLING after its delete is in the project while the others are stopped or restarted."""
    clock = Clock()
    sim = make_sim(clock=clock, startup_seconds=0, delete_seconds=5)
    for name in ("gone", "stopped", "failed"):
        assert create(sim, name).status_code == 200
    assert action(sim, 1, "delete").status_code == 200
    assert action(sim, 2, "stop").status_code == 200
    fail = requests.post(f"{sim.url}/__sim__/fail", json={"project_id": "p1", "job_id": 3, "status": 11}, timeout=5)
    assert fail.status_code == 200
    clock.advance(1)
    assert action(sim, 2, "restart").status_code == 200
    assert [status_of(sim, n) for n in (1, 2, 3)] == [Status.KILLING, Status.RUNNING, 11]


def test_a_restarted_job_keeps_its_auto_stop_and_a_failing_name_fails_again(make_sim):
    """visualization-jobs.md, "Job statuses": a job with an auto-stop schedule leaves RUNNING by itself after
    ``duration`` hours; a restart runs the same job (same id, same schedule) again."""
    clock = Clock()
    sim = make_sim(clock=clock, startup_seconds=1, hour_seconds=10, fail_pattern="bad-*")
    create(sim, "timed", schedule={"type": "stop", "time_unit": "HOURS", "duration": 1})
    create(sim, "bad-one")
    clock.advance(12)
    assert [status_of(sim, 1), status_of(sim, 2)] == [Status.COMPLETED, 3]
    assert action(sim, 1, "restart").status_code == 200 and action(sim, 2, "restart").status_code == 200
    clock.advance(2)
    assert status_of(sim, 1) == Status.RUNNING and detail(sim, 1).json()["remaining_duration"] == 9000
    assert status_of(sim, 2) == 3
    clock.advance(10)
    assert status_of(sim, 1) == Status.COMPLETED


def test_a_stopped_or_deleted_jobs_duration_stops_growing(make_sim):
    """visualization-jobs.md, "List": ``duration`` (ms) is how long the job ran; it ran until it was stopped."""
    clock = Clock()
    sim = make_sim(clock=clock, startup_seconds=0, stop_seconds=1, delete_seconds=100)
    create(sim, "stopped")
    create(sim, "deleted")
    clock.advance(10)
    action(sim, 1, "stop")
    action(sim, 2, "delete")
    clock.advance(20)
    assert [j["duration"] for j in listing(sim).json()["jobs"]] == [10_000, 10_000]


@pytest.mark.parametrize("verb, before, says", [
    ("delete", "delete", "The job cannot be deleted in status KILLING"),
    ("stop", "complete", "The job cannot be stopped in status COMPLETED"),
    ("restart", None, "The job cannot be restarted in status RUNNING"),
])
def test_an_operation_the_jobs_status_does_not_allow_is_refused_with_0105(make_sim, verb, before, says):
    """visualization-jobs.md, "Errors": ModelArts.0105, delete of a KILLING job, stop of a COMPLETED job,
    restart of a RUNNING job."""
    clock = Clock()
    sim = make_sim(clock=clock, startup_seconds=0, hour_seconds=1)
    create(sim, schedule={"type": "stop", "time_unit": "HOURS", "duration": 1} if before == "complete" else None)
    clock.advance(2)
    if before == "delete":
        action(sim, 1, "delete")
    refused = action(sim, 1, verb)
    assert refused.status_code == 400
    assert refused.json() == {"is_success": False, "error_code": "ModelArts.0105", "error_message": says}


@pytest.mark.parametrize("body, code, says", [
    ({"desc": "x"}, "ModelArts.0101", "The request body must be an object with job_desc"),
    ({"job_desc": "x" * 257}, "ModelArts.0104", "job_desc must be a string of 0 to 256 characters"),
])
def test_an_update_without_a_good_job_desc_is_refused(make_sim, body, code, says):
    """visualization-jobs.md, "Other calls": an update's body is ``{"job_desc": "..."}``; "Create": job_desc
    has 0-256 characters; "Errors": 0104 for an illegal description."""
    sim = make_sim()
    create(sim)
    refused = requests.put(f"{jobs_url(sim)}/1", json=body, headers=AUTH, timeout=5)
    assert refused.status_code == 400 and refused.json() == {"is_success": False, "error_code": code, "error_message": says}


@pytest.mark.parametrize("job_id", ["abc", "\u0661"])
def test_a_job_id_that_is_not_a_number_is_no_such_job(make_sim, job_id):
    """visualization-jobs.md: ``job_id`` is a Long; ModelArts.0102 says the resource does not exist (400)."""
    sim = make_sim(startup_seconds=0)
    create(sim)
    answer = detail(sim, job_id)
    assert answer.status_code == 400 and answer.json() == {
        "is_success": False, "error_code": "ModelArts.0102", "error_message": f"The visualization job {job_id} does not exist"}


@pytest.mark.parametrize("settings, says", [
    ({"reject_duplicate_names": True}, ("ModelArts.0103", "The job name job-a already exists")),
    ({"quota": 1}, ("ModelArts.0106", "The number of visualization jobs exceeds the quota 1")),
])
def test_a_taken_name_or_a_full_quota_is_refused_with_its_code(make_sim, settings, says):
    """visualization-jobs.md, "Errors": 0103 duplicate name (where names are unique), 0106 quota exceeded."""
    sim = make_sim(**settings)
    assert create(sim).status_code == 200
    refused = create(sim)
    assert refused.status_code == 400
    assert (refused.json()["error_code"], refused.json()["error_message"]) == says


SCHEDULE_RULE = 'schedule must be {"type": "stop", "time_unit": "HOURS", "duration": 0..24}'
REFUSED_CREATES = [  # body -> the error message of its 400 ModelArts.0101
    ([], "The request body must be a JSON object"),
    ({"job_name": "a" * 21, "train_url": "/b/"}, "job_name must be 1 to 20 characters: letters, digits, underscores or hyphens"),
    ({"job_name": "a"}, "train_url is required and must be a non-empty string"),
    ({"job_name": "a", "train_url": "/b/", "job_type": "jupyter"}, "job_type must be tensorboard or mindinsight"),
    ({"job_name": "a", "train_url": "/b/", "flavor": {"code": ""}}, "flavor must be an object with a string code"),
    ({"job_name": "a", "train_url": "/b/", "schedule": []}, "schedule must be an object or a list of exactly one object"),
    ({"job_name": "a", "train_url": "/b/", "schedule": "stop"}, "schedule must be an object"),
    ({"job_name": "a", "train_url": "/b/", "schedule": {"type": "stop", "time_unit": "HOURS", "duration": 25}}, SCHEDULE_RULE),
]


@pytest.mark.parametrize("body, says", REFUSED_CREATES, ids=[str(n) for n in range(len(REFUSED_CREATES))])
def test_a_create_the_documents_refuse_is_answered_0101_with_what_is_wrong(make_sim, body, says):
    """visualization-jobs.md, "Create": job_name 1-20 letters, digits, ``_``, ``-``; train_url required; schedule
    an object (or the sample's one-element list) with duration 0..24 hours."""
    sim = make_sim()
    refused = requests.post(jobs_url(sim), json=body, headers=AUTH, timeout=5)
    assert refused.status_code == 400
    assert refused.json() == {"is_success": False, "error_code": "ModelArts.0101", "error_message": says}
    assert listing(sim).json()["jobs"] == []


@pytest.mark.parametrize("params, jobs", [({"status": "0"}, ["unknown"]), ({"per_page": "1"}, ["unknown"]),
                                          ({"per_page": "1000", "page": "1"}, ["unknown", "up"])])
def test_the_lists_lowest_documented_values_are_served(make_sim, params, jobs):
    """visualization-jobs.md, "List": per_page 1-1000, page from 1, the status filter takes any status
    (0 is UNKNOWN, "Job statuses")."""
    sim = make_sim()
    sim.state.seed_jobs("p1", [{"job_name": "unknown", "train_url": "/b/", "status": 0},
                               {"job_name": "up", "train_url": "/b/", "running": True}])
    answer = listing(sim, **params)
    assert answer.status_code == 200 and [j["job_name"] for j in answer.json()["jobs"]] == jobs


@pytest.mark.parametrize("params, says", [
    ({"per_page": "101"}, "per_page must be [1,100], not 101"),
    ({"sortBy": "flavor"}, "sortBy must be one of job_id, job_name, job_desc, create_time, status, duration, log_dir"),
    ({"order": "up"}, "order must be asc or desc"),
    ({"per_page": "0"}, "per_page must be [1,1000], not 0"),
    ({"per_page": "1001"}, "per_page must be [1,1000], not 1001"),
    ({"page": "0"}, "page must be at least 1, not 0"),
    ({"status": "x"}, "status must be an integer, not 'x'"),
])
def test_a_list_query_out_of_its_documented_range_is_refused_saying_so(make_sim, params, says):
    """visualization-jobs.md, "List": sortBy's keys, order asc/desc, per_page 1-1000 (1-100 on the SDK page, the
    reading ``refuse_over_max_per_page`` serves), page from 1."""
    sim = make_sim(max_per_page=100, refuse_over_max_per_page=True) if params == {"per_page": "101"} else make_sim()
    refused = listing(sim, **params)
    assert refused.status_code == 400
    assert refused.json() == {"is_success": False, "error_code": "ModelArts.0101", "error_message": says}


@pytest.mark.parametrize("per_page, page, ids", [("2", "1", [1, 2]), ("2", "2", [4, 5]), ("1", "2", [3])])
def test_a_shifted_list_page_beyond_the_first_misses_a_job_as_if_an_earlier_one_was_deleted(per_page, page, ids):
    state = SimState(SimConfig(startup_seconds=0, seed=1))
    state.seed_jobs("p1", [{"job_name": f"j{n}", "train_url": "/b/"} for n in range(5)])
    answer = state.list_jobs("p1", {"per_page": per_page, "page": page}, lie="list_shift")
    assert [j["job_id"] for j in answer["jobs"]] == ids and answer["job_total_count"] == (5 if page == "1" else 4)


def test_a_short_total_ends_the_list_at_this_page():
    state = SimState(SimConfig(startup_seconds=0))
    state.seed_jobs("p1", [{"job_name": f"j{n}", "train_url": "/b/"} for n in range(5)])
    answer = state.list_jobs("p1", {"per_page": "2"}, lie="short_total")
    assert answer["job_total_count"] == 2 and len(answer["jobs"]) == 2


def test_every_job_has_its_own_resource_id(make_sim):
    sim = make_sim()
    create(sim, "a")
    create(sim, "b")
    ids = [j["resource_id"] for j in listing(sim).json()["jobs"]]
    assert len(set(ids)) == 2 and all(len(i) == 36 for i in ids)


def test_a_seeded_status_other_than_running_has_run_for_no_time(make_sim):
    clock = Clock()
    sim = make_sim(clock=clock)
    seeded = requests.post(f"{sim.url}/__sim__/seed?project_id=p1", timeout=5, json={"jobs": [
        {"job_name": "failed", "train_url": "/b/", "status": 3}, {"job_name": "up", "train_url": "/b/", "status": 8},
        {"job_name": "unknown", "train_url": "/b/", "status": 0}]})
    assert seeded.status_code == 200
    clock.advance(10)
    assert [(j["status"], j["duration"]) for j in listing(sim).json()["jobs"]] == [(3, 0), (8, 10_000), (0, 0)]


@pytest.mark.parametrize("status", [-1, True, "8"])
def test_a_seeded_status_that_is_not_a_non_negative_integer_is_refused(make_sim, status):
    sim = make_sim()
    seeded = requests.post(f"{sim.url}/__sim__/seed?project_id=p1", timeout=5,
                           json={"jobs": [{"job_name": "x", "train_url": "/b/", "status": status}]})
    assert seeded.status_code == 400 and listing(sim).json()["jobs"] == []


@pytest.mark.parametrize("status, answered", [(0, 200), (-1, 400), (True, 400), ("3", 400)])
def test_a_forced_status_is_any_non_negative_integer(make_sim, status, answered):
    sim = make_sim(startup_seconds=0)
    create(sim)
    fail = requests.post(f"{sim.url}/__sim__/fail", json={"project_id": "p1", "job_id": 1, "status": status}, timeout=5)
    assert fail.status_code == answered
    assert status_of(sim, 1) == (0 if answered == 200 else Status.RUNNING)


def test_a_forced_status_ends_a_stop_or_a_delete_under_way(make_sim):
    clock = Clock()
    sim = make_sim(clock=clock, startup_seconds=0, stop_seconds=5, delete_seconds=5)
    create(sim, "stopping")
    create(sim, "deleting")
    action(sim, 1, "stop")
    action(sim, 2, "delete")
    for job_id in (1, 2):
        requests.post(f"{sim.url}/__sim__/fail", json={"project_id": "p1", "job_id": job_id, "status": 11}, timeout=5)
    clock.advance(10)
    assert [j["status"] for j in listing(sim).json()["jobs"]] == [11, 11]


@pytest.mark.parametrize("extra", [False, True])
def test_job_details_carry_undocumented_fields_only_under_that_reading(make_sim, extra):
    """visualization-jobs.md, "Create", "Details": the documented fields; ``extra_list_fields`` serves answers with more."""
    sim = make_sim(extra_list_fields=extra)
    made = create(sim).json()
    got = detail(sim, 1).json()
    assert ("workspace_id" in got) is extra and ("user_name" in got) is extra
    assert ("workspace_id" in made) is extra and ("ai_project" in made) is extra


# -- state.py: the state file ------------------------------------------------------------------------

TWICE = json.dumps({"version": 1, "next_id": 3, "projects": {
    "p1": [GOOD_RECORD], "p2": [{**GOOD_RECORD, "job_name": "job-b"}]}}).encode()
DAMAGED_EXACTLY = {  # file content -> the whole of what the error says is wrong
    b" ": "it is empty",
    b"[" * 100_000 + b"]" * 100_000: "it is nested too deeply to be the simulator's",
    json.dumps({"version": 1, "next_id": 2, "projects": {"p": [7]}}).encode(): "a job of project 'p': it is not an object",
    TWICE: "job id 1 is there twice",
    state_of(schedule={"type": "stop", "time_unit": "HOURS", "duration": 30}):
        "a job of project 'sim-project': schedule is {'type': 'stop', 'time_unit': 'HOURS', 'duration': 30}",
    state_of(schedule={"type": "stop", "time_unit": "HOURS", "duration": 1, "x": 1}):
        "a job of project 'sim-project': schedule is {'type': 'stop', 'time_unit': 'HOURS', 'duration': 1, 'x': 1}",
}


@pytest.mark.parametrize("content, says", DAMAGED_EXACTLY.items(), ids=[str(n) for n in range(len(DAMAGED_EXACTLY))])
def test_a_damaged_state_file_says_exactly_what_is_wrong(tmp_path, content, says):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(SimStateError) as caught:
        SimState(SimConfig(), path)
    assert str(caught.value) == (f"cannot read simulator state {path}: {says}. Delete it to start the simulator "
                                 f"afresh (its jobs are forgotten), or put back a good copy")


def test_a_state_path_that_is_a_directory_is_unreadable_and_says_so(tmp_path):
    with pytest.raises(SimStateError, match=f"^cannot read simulator state {tmp_path}: Is a directory \\({tmp_path}\\)"):
        SimState(SimConfig(), tmp_path)


def test_a_state_path_that_cannot_be_looked_at_is_unreadable_and_says_why(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(SimStateError, match=f"^cannot read simulator state {loop}: Too many levels of symbolic links \\({loop}\\)"):
        SimState(SimConfig(), loop)


def test_the_seed_makes_startup_jitter_repeatable():
    """Two simulators with one seed start their jobs after the same jittered times (``seed``: faults and jitter)."""

    def statuses() -> list[int]:
        clock = Clock()
        state = SimState(SimConfig(seed=7, startup_seconds=10, startup_jitter=0.9), clock=clock)
        for n in range(20):
            state.create_job("p1", {"job_name": f"j{n}", "train_url": "/b/"})
        seen = []
        for _ in range(8):
            clock.advance(2)
            seen += [j["status"] for j in state.list_jobs("p1", {"per_page": "100"})["jobs"]]
        return seen

    first = statuses()
    assert first == statuses() and len(set(first)) == 3


def test_an_error_is_named_by_its_os_text_and_file():
    assert _reason(FileNotFoundError(2, "No such file or directory", "/x/state.json")) == \
        "No such file or directory (/x/state.json)"
    assert _reason(OSError(28, "No space left on device")) == "No space left on device"
    assert _reason(ValueError("not a number")) == "not a number"


def in_a_child_with_small_files(scenario: Callable[[Callable[[int], None]], Any]) -> Any:
    """``scenario(limit)`` run in a forked child, where ``limit(n)`` keeps files from growing past n bytes (a full
    disk, RLIMIT_FSIZE: it binds root too); its JSON result. A fork, not a subprocess: mutants reach it, and no
    other thread of this process (a test runner's output) meets the limit."""
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into the test runner
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            result = scenario(lambda n: resource.setrlimit(resource.RLIMIT_FSIZE, (n, hard)))
            os.write(writing, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(answer)


def test_a_change_that_cannot_be_saved_is_undone_whether_or_not_the_file_was_ever_written(tmp_path):
    """A 500 leaves nothing done: the first save failing leaves no job and no id used; a later one, the saved jobs."""
    path = tmp_path / "state.json"

    def scenario(limit):
        state, seen = SimState(SimConfig(), path), []

        def attempt(name, desc=""):
            try:
                seen.append(state.create_job("p1", {"job_name": name, "train_url": "/b/", "job_desc": desc})["job_id"])
            except SimApiError as refused:
                seen.append([refused.http_status, "the change was not made" in refused.message])
            seen.append([j["job_name"] for j in state.list_jobs("p1", {})["jobs"]])

        limit(10)
        attempt("first")
        seen.append(path.exists())
        limit(resource.RLIM_INFINITY)
        attempt("first")
        limit(path.stat().st_size + 100)
        attempt("second", "d" * 256)
        return seen

    assert in_a_child_with_small_files(scenario) == [[500, True], [], False, "1", ["first"], [500, True], ["first"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]  # no temporary file left


# -- server.py: request bodies, identity routes, throttling -------------------------------------------


def chunked(*parts: bytes, extension: bytes = b"") -> bytes:
    return b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in parts) + b"0\r\n\r\n"


def test_a_chunked_body_of_one_byte_and_long_chunks_with_extensions_is_read_whole(make_sim):
    sim = make_sim()
    body = json.dumps({"job_name": "job-a", "train_url": "/bucket/a-long-path-for-a-long-chunk/"}).encode()
    answer = raw_post(sim, jobs_path(), chunked(body[:1], body[1:40], body[40:], extension=b";name=value"),
                      **{"Transfer-Encoding": "chunked"})
    assert answer.status_code == 200 and answer.json()["job_name"] == "job-a"
    assert listing(sim).json()["jobs"][0]["train_url"] == "/bucket/a-long-path-for-a-long-chunk/"


@pytest.mark.parametrize("raw, status, says", [(b"-1\r\n{}\r\n0\r\n\r\n", 400, "Bad chunked body"),
                                               (b"c80000\r\n", 413, "Request entity too large")])
def test_a_chunk_of_negative_or_over_12_mb_size_is_refused_unread(make_sim, raw, status, says):
    """visualization-jobs.md, "Errors": bodies over 12 MB are refused (413)."""
    sim = make_sim()
    answer = raw_post(sim, jobs_path(), raw, **{"Transfer-Encoding": "chunked"})
    assert (answer.status_code, answer.json()) == (status, {"error_code": "APIG.0201", "error_msg": says})
    assert answer.headers["Connection"] == "close" and listing(sim).json()["jobs"] == []


def test_the_metadata_session_token_is_served_as_text_and_an_unknown_identity_path_is_404(make_sim):
    """credentials.md, "ECS metadata": ``PUT /meta-data/latest/api/token`` first, then the security key."""
    sim = make_sim()
    session = requests.put(f"{sim.url}/meta-data/latest/api/token", headers={"X-Metadata-Token-Ttl-Seconds": "21600"},
                           timeout=5)
    assert session.status_code == 200 and session.text.startswith("sim-metadata-")
    unknown = requests.get(f"{sim.url}/v3/domains", headers=AUTH, timeout=5)
    assert unknown.status_code == 404 and unknown.json() == {
        "error_code": "APIG.0101", "error_msg": "The API does not exist or has not been published in the environment"}


def test_an_aksk_signed_project_lookup_is_answered(make_sim):
    """visualization-jobs.md, "Base URL and auth": AK/SK signing serves every call, IAM's project list too."""
    sim = make_sim(access_key=AK, secret_key=SK, strict_auth=True, projects={"": ["p-any"]})
    answer = requests.get(f"{sim.url}/v3/projects", headers=sdk_signed(sim, "GET", "/v3/projects", {}), timeout=5)
    assert answer.status_code == 200 and [p["id"] for p in answer.json()["projects"]] == ["p-any"]


def test_a_retry_after_date_is_an_http_date_in_gmt(make_sim):
    """visualization-jobs.md, "Errors": HTTP 429 may carry ``Retry-After`` (an HTTP date is one of its forms)."""
    sim = make_sim(rate_429=1.0, retry_after=3, retry_after_format="http-date")
    answer = listing(sim)
    assert answer.status_code == 429 and answer.headers["Retry-After"].endswith(" GMT")
    assert email.utils.parsedate_to_datetime(answer.headers["Retry-After"]).tzname() == "UTC"


@pytest.mark.parametrize("lie", ["short_total", "no_jobs_key", "list_shift"])
def test_a_list_lie_drawn_over_http_is_served_and_counted(make_sim, lie):
    sim = make_sim(startup_seconds=0, **{f"rate_{lie}": 1.0})
    for name in ("a", "b", "c"):
        create(sim, name)
    answer = listing(sim, per_page="2", page="2" if lie == "list_shift" else "1").json()
    if lie == "short_total":
        assert answer["job_total_count"] == 2 and len(answer["jobs"]) == 2
    elif lie == "list_shift":
        assert answer["job_total_count"] == 2 and answer["jobs"] == []
    else:
        assert "jobs" not in answer and answer["job_total_count"] == 3
    assert sim.stats_snapshot()[f"faults.{lie}"] == 1


def test_an_update_is_answered_200_is_success(make_sim):
    """visualization-jobs.md, "Other calls": update, delete, stop and restart answer ``{"is_success": true}``."""
    sim = make_sim()
    create(sim)
    answer = requests.put(f"{jobs_url(sim)}/1", json={"job_desc": "new"}, headers=AUTH, timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"is_success": True})


def test_a_simulator_bug_inside_an_operation_is_the_services_internal_error(make_sim, monkeypatch):
    """visualization-jobs.md, "Errors": ModelArts.0010 internal error (500)."""

    def broken(self, project_id, job_id):
        raise RuntimeError("a bug")

    sim = make_sim()
    monkeypatch.setattr(SimState, "get_job", broken)
    answer = detail(sim, 1)
    assert (answer.status_code, answer.json()) == (500, {"is_success": False, "error_code": "ModelArts.0010",
                                                         "error_message": "Internal error: a bug"})


def test_a_burst_over_max_rps_is_throttled_as_the_gateway_says_and_counted(make_sim):
    """visualization-jobs.md, "Errors": APIG.0308 "The throttling threshold has been reached: policy user over
    ratelimit, limit:N, time:1 second" with HTTP 429."""
    sim = make_sim(max_rps=1)
    answers = [listing(sim) for _ in range(5)]  # within a second, unless the machine stalls for seconds
    throttled = [a for a in answers if a.status_code == 429]
    assert throttled and sim.stats_snapshot()["faults.max_rps"] == len(throttled)
    assert throttled[0].json()["error_msg"] == ("The throttling threshold has been reached: policy user over ratelimit, "
                                                "limit:1, time:1 second")


@pytest.mark.parametrize("fault, status, content_type", [("html_200", 200, "text/html"),
                                                         ("false_200", 200, "application/json;charset=UTF-8"),
                                                         ("html_502", 502, "text/html")])
def test_each_broken_answer_is_served_as_its_kind_and_counted_with_nothing_done(make_sim, fault, status, content_type):
    sim = make_sim(**{f"rate_{fault}": 1.0})
    answer = create(sim)
    assert (answer.status_code, answer.headers["Content-Type"]) == (status, content_type)
    assert sim.stats_snapshot()[f"faults.{fault}"] == 1 and sim.state.list_jobs("p1", {})["jobs"] == []


def test_each_damage_to_a_done_answer_is_served_and_the_operation_done(make_sim):
    sim = make_sim(rate_truncated=1.0)
    cut = create(sim, "cut")
    with pytest.raises(ValueError):
        cut.json()
    assert (cut.status_code, cut.headers["Content-Type"]) == (200, "application/json;charset=UTF-8")
    assert cut.text.startswith('{"is_success": true, "job_id": "1"')
    sim.config.update({"rate_truncated": 0.0, "rate_retyped": 1.0})
    assert create(sim, "retyped").json()["job_id"] == 2  # the sample's string, retyped to a number
    sim.config.update({"rate_retyped": 0.0, "rate_null_fields": 1.0})
    assert [j["job_desc"] for j in listing(sim).json()["jobs"]] == [None, None]
    assert {k: sim.stats_snapshot()[f"faults.{k}"] for k in ("truncated", "retyped", "null_fields")} == \
        {"truncated": 1, "retyped": 1, "null_fields": 1}


# -- sim/iam.py beyond part 2's sample: the IAM token, project and agency-key answers (pure SimIam) ---------------

from vizctl.sim.iam import SimIam  # noqa: E402  (this section's own import)

IAM_NOW = 1_800_000_000.0


def login(password="pw-00001", scope=None, methods=("password",), passcode=None):
    identity = {"methods": list(methods), "password": {"user": {"id": "uid", "password": password}}}
    if passcode is not None:
        identity["totp"] = {"user": {"id": "uid", "passcode": passcode}}
    return {"auth": {"identity": identity, "scope": {"project": scope if scope is not None else {"name": "eu-de"}}}}


def iam(**config):
    return SimIam(SimConfig(**config), clock=lambda: IAM_NOW)


def test_a_password_token_answer_is_keystone_shaped_and_scoped_to_the_project_asked():
    status, body, headers = iam(token_ttl_seconds=60).issue_token(login(scope={"id": "p-given"}))
    assert status == 201 and headers["X-Subject-Token"].startswith("sim-iam-")
    assert body == {"token": {"expires_at": "2027-01-15T08:01:00.000000Z", "methods": ["password"],
                              "project": {"id": "p-given", "name": "p-given"}}}
    _, by_name, _ = iam().issue_token(login(scope={"name": "eu-de"}))
    assert by_name["token"]["project"] == {"id": "project-eu-de", "name": "eu-de"}


def test_a_wrong_passcode_is_refused_though_totp_is_named():
    sim_iam = iam(iam_passcode="123456")
    refused = sim_iam.issue_token(login(methods=("password", "totp"), passcode="000000"))
    assert refused == (401, {"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}}, {})
    assert sim_iam.issue_token(login(methods=("password",), passcode="123456"))[0] == 401  # totp not named
    assert sim_iam.issue_token(login(methods=("password", "totp"), passcode="123456"))[0] == 201


def test_a_login_to_a_project_that_does_not_exist_is_400_not_401():
    assert iam(projects={}).issue_token(login(scope={"name": "eu-xx"})) == (
        400, {"error": {"code": 400, "message": "The project does not exist.", "title": "Bad Request"}}, {})


def test_a_login_body_whose_methods_are_not_a_list_is_400():
    body = login()
    body["auth"]["identity"]["methods"] = "password"  # a string, not a list
    assert iam().issue_token(body)[0] == 400


def test_the_project_list_has_every_id_of_the_name_asked_and_none_for_no_name():
    sim_iam = iam(projects={"eu-de": ["p1", "p2"]})
    assert sim_iam.list_projects({"name": "eu-de"}) == (200, {"projects": [
        {"id": "p1", "name": "eu-de", "enabled": True}, {"id": "p2", "name": "eu-de", "enabled": True}]}, {})
    assert iam().list_projects({}) == (200, {"projects": []}, {})


def test_expired_tokens_are_refused_after_expire_tokens():
    sim_iam = iam()
    _, _, headers = sim_iam.issue_token(login())
    assert sim_iam._check_token(headers["X-Subject-Token"]) is None and sim_iam.expire_tokens() == 1
    assert sim_iam._check_token(headers["X-Subject-Token"])[0] == 401


def test_agency_keys_are_the_metadata_services_shape_with_their_expiry():
    status, body, _ = iam(agency_ttl_seconds=120).security_key()
    credential = body["credential"]
    assert status == 200 and set(credential) == {"access", "secret", "securitytoken", "expires_at"}
    assert credential["access"].startswith("SIMAGENCY") and len(credential["access"]) == 20
    assert len(credential["secret"]) == 40 and credential["securitytoken"].startswith("sim-st-")
    assert credential["expires_at"] == "2027-01-15T08:02:00.000000Z"
    assert iam(agency=False).security_key()[0] == 401
